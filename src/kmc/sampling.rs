//! Random-barrier networks for amorphous structures: every pair of mobile atoms closer than a hop cutoff is a
//! hop whose barrier is drawn from the distribution of computed (NEB) barriers.
//!
//! In a glass no two hops are equivalent, so the barriers computed around one vacancy cannot be replicated by
//! symmetry (environment matching finds only the computed hops themselves, which form a star around the vacancy
//! and no connected path). Li, Ando, Minamitani & Watanabe (JCP 147, 214106 (2017)) ran kMC on the network of
//! their computed paths; for the table of one vacancy's hops this module builds the usual stand-ins on the real
//! sites (every mobile atom of the structure, every pair within `hop_cutoff_a` a hop), in one of two models:
//!
//! - [`SampledBarriers::Symmetric`], the random barrier model (Dyre, J. Appl. Phys. 64, 2456 (1988)): each pair
//!   gets one of the table's forward barriers, drawn uniformly (seeded), in both directions. All site energies are
//!   equal, so there is no trapping.
//! - [`SampledBarriers::Kra`], random barriers on real site energies: the energy of the vacancy at each site is
//!   its computed formation energy E_v (a `vacancy` stage over every site), and each pair gets a kinetically
//!   resolved activation barrier E_KRA = E_saddle − (E_initial + E_final)/2 drawn from the table (Van der Ven,
//!   Ceder, Asta & Tepesch, Phys. Rev. B 64, 184307 (2001)). The vacancy hop a → b then has the barrier
//!   E_b = E_KRA + (E_v(b) − E_v(a))/2, with E_KRA raised to |E_v(b) − E_v(a)|/2 where it is smaller so that no
//!   barrier is negative. Forward and reverse barriers differ by exactly E_v(b) − E_v(a): detailed balance holds,
//!   the vacancy spends its time in the low-E_v sites with Boltzmann weights, and the diffusion barrier includes
//!   the escape from those traps.
//!
//! What both keep: the real site geometry and the measured barrier distribution. What both lose: the correlation
//! between a hop's barrier and its local structure or length (and, in the symmetric model, trapping).

use super::network::{species_hops, species_sites, SiteNetwork};
use crate::io::barrier_table::BarrierRow;
use crate::system::{elements, System};
use anyhow::{bail, Context};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::Path;

/// How sampled barriers become the barriers of the two directions of a hop.
#[derive(Clone, Copy, Debug)]
pub enum SampledBarriers<'a> {
    /// The table's forward barriers, the same in both directions.
    Symmetric,
    /// The table's E_KRA on top of the vacancy energy at every atom of the structure (eV; only the mobile
    /// species' entries are read).
    Kra { vacancy_energies_ev: &'a [f64] },
}

/// What the sampling built.
/// How sampled values become the barriers of a pair's two directions (summary.json: `"symmetric"`, `"kra"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SamplingModel {
    /// The same barrier both ways.
    Symmetric,
    /// A kinetically resolved barrier on top of the site energies.
    Kra,
}

#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct SamplingSummary {
    pub model: SamplingModel,
    /// Barriers the draws come from: the converged forward barriers of the table (symmetric) or their E_KRA.
    pub samples: usize,
    pub sample_mean_ev: f64,
    /// Unordered site pairs within the cutoff (each a hop in both directions).
    pub pairs: usize,
    /// Mean of the values drawn for the pairs.
    pub assigned_mean_ev: f64,
    /// Mean barrier of all hops, both directions (equals `assigned_mean_ev` for the symmetric model).
    pub mean_hop_barrier_ev: f64,
    /// With `kra`: spread of the vacancy energies E_v over the sites (eV), else null.
    pub site_energy_range_ev: Option<f64>,
    pub site_energy_std_ev: Option<f64>,
    pub hop_cutoff_a: f64,
}

/// Where and how a sampled network is built.
#[derive(Clone, Copy, Debug)]
pub struct SamplingOptions {
    /// Longest hop (Å); below half the narrowest cell width.
    pub hop_cutoff_a: f64,
    /// Repetitions of the structure's cell.
    pub supercell: [usize; 3],
    /// Seed of the xoshiro256++ stream of the draws.
    pub seed: u64,
}

/// Builds the random-barrier network of the `species` atoms of `structure` (repeated `options.supercell` times):
/// every pair within `options.hop_cutoff_a` gets a value drawn from `rows`, turned into the barriers of its two
/// directions by `model`. The network is in the ions' picture (the hop i → j moves the ion on i into a vacancy
/// on j); with [`SampledBarriers::Kra`] its site energies are the vacancy energies relative to the lowest one, as
/// the vacancies see them (see [`SiteNetwork::vacancy_network`]). Returns the network, the atom index of each
/// basis site and a summary.
pub fn network_by_sampling(
    structure: &System,
    species: u8,
    rows: &[&BarrierRow],
    model: SampledBarriers,
    options: &SamplingOptions,
    name: &str,
) -> anyhow::Result<(SiteNetwork, Vec<usize>, SamplingSummary)> {
    check_hop_cutoff(structure, options.hop_cutoff_a, name)?;
    let samples = barrier_pool(rows, model);
    if samples.is_empty() {
        bail!("{name}: no barriers to sample from");
    }
    let mut system = structure.clone();
    system.wrap();
    let vacancy_energy = relative_vacancy_energies(&system, species, model, name)?;
    let (mut builder, mobile, basis_of) =
        species_sites(&system, species, options.supercell, &|atom: usize| vacancy_energy[atom]);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(options.seed);
    let mut tally = PairTally::default();
    // Each unordered pair once, from its lower index (the width check makes every pair appear once).
    for hop in
        species_hops(&system, species, &mobile, options.hop_cutoff_a)?.into_iter().filter(|hop| hop.to > hop.from)
    {
        let (i, j) = (hop.from, hop.to);
        let drawn = samples[rng.gen_range(0..samples.len())];
        // The ion hop i → j moves the vacancy from j to i.
        let (forward, backward) = pair_barriers(model, drawn, vacancy_energy[i] - vacancy_energy[j]);
        let origin = format!("{name}: sampled barrier of the pair {i} ↔ {j}");
        builder.add_hop(basis_of[i], basis_of[j], hop.image, forward, &origin);
        builder.add_hop(basis_of[j], basis_of[i], hop.image.map(|x| -x), backward, &origin);
        tally.add(drawn, forward + backward);
    }
    if tally.pairs == 0 {
        bail!(
            "{name}: no two {} atoms are within hop_cutoff_a = {} Å",
            elements::symbol(species),
            options.hop_cutoff_a
        );
    }
    let network = builder.build().with_context(|| format!("barrier sampling of {name}"))?;
    let site_energies: Vec<f64> = mobile.iter().map(|&i| vacancy_energy[i]).collect();
    let summary = SamplingSummary::new(model, &samples, &tally, &site_energies, options.hop_cutoff_a);
    Ok((network, mobile, summary))
}

/// Refuses a structure that is not periodic or whose narrowest width is not above 2 × `hop_cutoff_a` (so that
/// every pair within the cutoff is one pair, not several images).
fn check_hop_cutoff(structure: &System, hop_cutoff_a: f64, name: &str) -> anyhow::Result<()> {
    if !structure.cell.is_fully_periodic() {
        bail!("{name}: barrier sampling needs a periodic structure");
    }
    let narrowest = system_width(structure);
    if 2.0 * hop_cutoff_a >= narrowest {
        bail!("{name}: hop_cutoff_a = {hop_cutoff_a} Å must be below half the narrowest cell width ({narrowest:.3} Å)");
    }
    Ok(())
}

/// The barriers drawn from: the forward barriers (`symmetric`), or the kinetically resolved barriers
/// E_KRA = E_saddle − (E_initial + E_final)/2 of the rows (`kra`).
fn barrier_pool(rows: &[&BarrierRow], model: SampledBarriers) -> Vec<f64> {
    match model {
        SampledBarriers::Symmetric => rows.iter().map(|r| r.forward_barrier_ev).collect(),
        // A row whose band lies below one end point (kept for this model) can give a slightly negative value.
        SampledBarriers::Kra { .. } => rows
            .iter()
            .map(|r| (r.saddle_energy_ev - 0.5 * (r.initial_energy_ev + r.final_energy_ev)).max(0.0))
            .collect(),
    }
}

/// The vacancy energy of every atom relative to the lowest of `species` (eV): zeros for `symmetric`.
fn relative_vacancy_energies(
    system: &System,
    species: u8,
    model: SampledBarriers,
    name: &str,
) -> anyhow::Result<Vec<f64>> {
    let SampledBarriers::Kra { vacancy_energies_ev } = model else {
        return Ok(vec![0.0; system.len()]);
    };
    if vacancy_energies_ev.len() != system.len() {
        bail!("{name}: {} vacancy energies for a structure of {} atoms", vacancy_energies_ev.len(), system.len());
    }
    let lowest = (0..system.len())
        .filter(|&i| system.atomic_numbers[i] == species)
        .map(|i| vacancy_energies_ev[i])
        .fold(f64::INFINITY, f64::min);
    Ok(vacancy_energies_ev.iter().map(|e| e - lowest).collect())
}

/// Forward and backward barriers of a pair from the drawn value and the rise ΔE = E_vac(i) − E_vac(j) of the
/// vacancy's energy when the ion hops i → j: the drawn value both ways (`symmetric`), or
/// E = E_KRA ± ΔE/2 with E_KRA raised to |ΔE|/2 so neither is negative (`kra`).
fn pair_barriers(model: SampledBarriers, drawn: f64, rise: f64) -> (f64, f64) {
    match model {
        SampledBarriers::Symmetric => (drawn, drawn),
        SampledBarriers::Kra { .. } => {
            let kra = drawn.max(0.5 * rise.abs());
            (kra + 0.5 * rise, kra - 0.5 * rise)
        }
    }
}

/// Running sums over the sampled pairs.
#[derive(Default)]
struct PairTally {
    pairs: usize,
    assigned_sum: f64,
    barrier_sum: f64,
}

impl PairTally {
    fn add(&mut self, drawn: f64, forward_plus_backward: f64) {
        self.pairs += 1;
        self.assigned_sum += drawn;
        self.barrier_sum += forward_plus_backward;
    }
}

impl SamplingSummary {
    fn new(
        model: SampledBarriers,
        samples: &[f64],
        tally: &PairTally,
        site_energies: &[f64],
        hop_cutoff_a: f64,
    ) -> SamplingSummary {
        let (model, site_energy_range_ev, site_energy_std_ev) = match model {
            SampledBarriers::Symmetric => (SamplingModel::Symmetric, None, None),
            SampledBarriers::Kra { .. } => {
                let mean = site_energies.iter().sum::<f64>() / site_energies.len() as f64;
                let variance =
                    site_energies.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / site_energies.len() as f64;
                (SamplingModel::Kra, Some(site_energies.iter().copied().fold(0.0, f64::max)), Some(variance.sqrt()))
            }
        };
        SamplingSummary {
            model,
            samples: samples.len(),
            sample_mean_ev: samples.iter().sum::<f64>() / samples.len() as f64,
            pairs: tally.pairs,
            assigned_mean_ev: tally.assigned_sum / tally.pairs as f64,
            mean_hop_barrier_ev: tally.barrier_sum / (2 * tally.pairs) as f64,
            site_energy_range_ev,
            site_energy_std_ev,
            hop_cutoff_a,
        }
    }
}

/// The vacancy energy at every atom of `structure` from a `vacancy` stage's `vacancies.csv` (columns `removed`
/// and `formation_energy_ev`, one removed atom per row; with an `equivalent_sites` column, as a `distinct`
/// selection writes it, the energy of a row holds for every site of its class, so a crystal's one row per class
/// covers all its sites): every `species` atom needs exactly one energy; other atoms get NaN.
pub fn read_vacancy_energies(path: &Path, structure: &System, species: u8) -> anyhow::Result<Vec<f64>> {
    let name = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read site_energies file {name}"))?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let (_, header) = lines.next().with_context(|| format!("{name}: empty file; expected a vacancies.csv header"))?;
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let column = |wanted: &str| {
        columns.iter().position(|c| *c == wanted).with_context(|| {
            format!("{name}: no '{wanted}' column in the header '{header}' (a vacancy stage's vacancies.csv)")
        })
    };
    let (removed_column, energy_column) = (column("removed")?, column("formation_energy_ev")?);
    let equivalent_column = columns.iter().position(|c| *c == "equivalent_sites");
    let symbol = elements::symbol(species);
    let mut energies = vec![f64::NAN; structure.len()];
    for (index, line) in lines {
        let line_no = index + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            bail!("{name} line {line_no}: {} fields, expected {} as in the header", fields.len(), columns.len());
        }
        let removed = fields[removed_column];
        let atom: usize = removed.parse().map_err(|_| {
            anyhow::anyhow!(
                "{name} line {line_no}: removed = '{removed}': expected one atom index per row (a vacancy stage with \
                 selection = \"distinct\")"
            )
        })?;
        let energy: f64 = fields[energy_column].parse().ok().filter(|e: &f64| e.is_finite()).with_context(|| {
            format!("{name} line {line_no}: formation_energy_ev = '{}': expected a number (eV)", fields[energy_column])
        })?;
        let mut sites = vec![atom];
        if let Some(column) = equivalent_column {
            sites = fields[column]
                .split_whitespace()
                .map(|t| {
                    t.parse::<usize>().map_err(|_| {
                        anyhow::anyhow!(
                            "{name} line {line_no}: equivalent_sites = '{}': expected atom indices",
                            fields[column]
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            if !sites.contains(&atom) {
                bail!("{name} line {line_no}: equivalent_sites does not hold the removed atom {atom}");
            }
        }
        for site in sites {
            if site >= structure.len() || structure.atomic_numbers[site] != species {
                bail!("{name} line {line_no}: site {site} is not a {symbol} atom of the kMC structure");
            }
            if !energies[site].is_nan() {
                bail!("{name} line {line_no}: atom {site} has a second row");
            }
            energies[site] = energy;
        }
    }
    if let Some(missing) =
        (0..structure.len()).find(|&i| structure.atomic_numbers[i] == species && energies[i].is_nan())
    {
        bail!(
            "{name}: no row for {symbol} atom {missing} of the kMC structure; site energies need every {symbol} site \
             (a vacancy stage with selection = \"distinct\" on that structure)"
        );
    }
    Ok(energies)
}

fn system_width(system: &System) -> f64 {
    system.cell.perpendicular_widths().into_iter().fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmc::KmcSettings;
    use crate::system::{Cell, BOLTZMANN_EV_PER_K};
    use nalgebra::Vector3;

    /// Simple cubic Li, a = 2.5 Å, 6×6×6: 216 sites, 648 nearest-neighbour pairs within 2.6 Å.
    fn simple_cubic() -> System {
        let mut system = System::new(Cell::orthorhombic(15.0, 15.0, 15.0).unwrap());
        for i in 0..6 {
            for j in 0..6 {
                for k in 0..6 {
                    system.push(3, Vector3::new(i as f64, j as f64, k as f64) * 2.5);
                }
            }
        }
        system
    }

    fn options(hop_cutoff_a: f64, seed: u64) -> SamplingOptions {
        SamplingOptions { hop_cutoff_a, supercell: [1, 1, 1], seed }
    }

    /// A row with E_initial = 0, E_final = 0.1 and the given forward barrier: E_KRA = barrier − 0.05.
    fn row(barrier: f64) -> BarrierRow {
        BarrierRow {
            line: 1,
            path_id: 0,
            species: "Li".into(),
            from_site: 0,
            to_site: 1,
            from: Vector3::zeros(),
            to: Vector3::new(2.5, 0.0, 0.0),
            hop_distance_a: 2.5,
            initial_energy_ev: 0.0,
            final_energy_ev: 0.1,
            saddle_energy_ev: barrier,
            forward_barrier_ev: barrier,
            reverse_barrier_ev: barrier - 0.1,
            converged: true,
        }
    }

    #[test]
    fn every_pair_gets_one_drawn_barrier_in_both_directions_reproducibly() {
        let rows = [row(0.3), row(0.5), row(0.7)];
        let refs: Vec<&BarrierRow> = rows.iter().collect();
        let build = |seed| {
            network_by_sampling(&simple_cubic(), 3, &refs, SampledBarriers::Symmetric, &options(2.6, seed), "t")
                .unwrap()
        };
        let (network, mobile, summary) = build(5);
        assert_eq!((network.len(), mobile.len(), summary.pairs, summary.samples), (216, 216, 648, 3));
        assert_eq!(network.hop_count(), 2 * 648);
        assert!((summary.sample_mean_ev - 0.5).abs() < 1e-12);
        // 648 draws from {0.3, 0.5, 0.7}: the mean is 0.5 ± 0.0064 (1σ).
        assert!((summary.assigned_mean_ev - 0.5).abs() < 0.03, "{summary:?}");
        let barriers = |n: &SiteNetwork| -> Vec<Vec<(usize, u64)>> {
            (0..n.len())
                .map(|i| {
                    let mut hops: Vec<(usize, u64)> =
                        n.hops(i).iter().map(|&(j, k)| (j, n.hop_kinds()[k].barrier_ev.to_bits())).collect();
                    hops.sort_unstable();
                    hops
                })
                .collect()
        };
        let table = barriers(&network);
        for (i, hops) in table.iter().enumerate() {
            assert_eq!(hops.len(), 6);
            for &(j, b) in hops {
                assert!([0.3f64, 0.5, 0.7].iter().any(|x| x.to_bits() == b));
                assert!(table[j].contains(&(i, b)), "hop {i} → {j} and its reverse differ");
            }
        }
        assert_eq!(barriers(&build(5).0), table);
        assert_ne!(barriers(&build(6).0), table);
    }

    #[test]
    fn a_single_barrier_gives_the_lattice_result_for_a_vacancy() {
        // With one barrier the network is the simple cubic lattice: a vacancy walks with D_v = z Γ a² / 6,
        // Γ = ν exp(−E_b / k_B T).
        let rows = [row(0.4)];
        let refs: Vec<&BarrierRow> = rows.iter().collect();
        let (ions, _, _) =
            network_by_sampling(&simple_cubic(), 3, &refs, SampledBarriers::Symmetric, &options(2.6, 1), "t").unwrap();
        let settings: KmcSettings = toml::from_str(
            "temperatures_k = [800]\nevents = 400000\nblocks = 4000\ncarriers = { count = 1 }\n\
             track_ions = false\nnetwork = { kind = \"catalogue\", path = \"unused\" }",
        )
        .unwrap();
        let network = ions.vacancy_network();
        let sites = settings.initial_carrier_sites(network.len(), 3).unwrap();
        let result = &settings.simulate(&network, &sites, 3, None).unwrap()[0];
        let rate_per_ps = 1e13 * 1e-12 * (-0.4 / (BOLTZMANN_EV_PER_K * 800.0)).exp();
        let expected = 6.0 * rate_per_ps * 2.5 * 2.5 / 6.0;
        let d = result.tracer;
        assert!((d.d_a2_per_ps - expected).abs() < 3.0 * d.d_err_a2_per_ps, "{d:?} vs {expected}");
        assert!(d.d_err_a2_per_ps < 0.05 * expected);
    }

    #[test]
    fn a_cutoff_over_half_the_cell_is_an_error() {
        let rows = [row(0.4)];
        let refs: Vec<&BarrierRow> = rows.iter().collect();
        let err = network_by_sampling(&simple_cubic(), 3, &refs, SampledBarriers::Symmetric, &options(7.6, 1), "t.csv")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv: hop_cutoff_a = 7.6 Å must be below half the narrowest cell width (15.000 Å)"
        );
    }

    /// The KRA network of the simple cubic sites with every other site (checkerboard) 0.1 eV higher for the
    /// vacancy, E_KRA drawn from rows of the given forward barriers; also returns the vacancy energies.
    fn checkerboard_kra(barriers: &[f64], seed: u64) -> (SiteNetwork, SamplingSummary, Vec<f64>) {
        let rows: Vec<BarrierRow> = barriers.iter().map(|&b| row(b)).collect();
        let refs: Vec<&BarrierRow> = rows.iter().collect();
        let system = simple_cubic();
        let energies: Vec<f64> = system
            .positions
            .iter()
            .map(|p| if ((p.x + p.y + p.z) / 2.5).round() as i64 % 2 == 0 { 0.0 } else { 0.1 })
            .collect();
        let model = SampledBarriers::Kra { vacancy_energies_ev: &energies };
        let (network, _, summary) = network_by_sampling(&system, 3, &refs, model, &options(2.6, seed), "t").unwrap();
        (network, summary, energies)
    }

    #[test]
    fn kra_barriers_differ_by_the_vacancy_energy_difference_and_are_never_negative() {
        // E_KRA 0.25 or 0.0: the second one is raised to |ΔE|/2 = 0.05, giving barriers 0.1 and 0.
        let (network, summary, energies) = checkerboard_kra(&[0.3, 0.05], 9);
        assert_eq!((summary.model, summary.pairs, summary.samples), (SamplingModel::Kra, 648, 2));
        assert!((summary.sample_mean_ev - 0.125).abs() < 1e-12);
        assert_eq!(summary.site_energy_range_ev, Some(0.1));
        assert!((summary.site_energy_std_ev.unwrap() - 0.05).abs() < 1e-12);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..network.len() {
            assert!((network.site_energy(i) - energies[i]).abs() < 1e-12);
            for (j, kind) in network.hops(i) {
                let forward = network.hop_kinds()[kind].barrier_ev;
                let (_, back) = network.hops(j).into_iter().find(|&(t, _)| t == i).unwrap();
                let backward = network.hop_kinds()[back].barrier_ev;
                // Ion i → j moves the vacancy j → i: E_b(i → j) − E_b(j → i) = E_v(i) − E_v(j).
                assert!((forward - backward - (energies[i] - energies[j])).abs() < 1e-12);
                assert!(forward >= 0.0);
                seen.insert((forward * 1e6).round() as i64);
            }
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [0, 100_000, 200_000, 300_000]);
        // Each direction of a pair: the KRA value ± 0.05, so the directed mean is the mean drawn value with
        // the raised draws counted as 0.05.
        assert!(summary.mean_hop_barrier_ev > summary.assigned_mean_ev);
    }

    #[test]
    fn a_vacancy_on_kra_sites_spends_its_time_with_boltzmann_weights() {
        // Detailed balance, tested through the dynamics: on the checkerboard, the high sites (ΔE = 0.1 eV) hold
        // the vacancy exp(−0.1 / k_B T) as often as the low ones, whatever the barriers.
        let (ions, _, _) = checkerboard_kra(&[0.3, 0.5], 2);
        let settings: KmcSettings = toml::from_str(
            "temperatures_k = [1000]\nevents = 400000\nblocks = 100\ncarriers = { count = 1 }\n\
             track_ions = false\nsite_occupancy = true\nnetwork = { kind = \"catalogue\", path = \"unused\" }",
        )
        .unwrap();
        let network = ions.vacancy_network();
        let sites = settings.initial_carrier_sites(network.len(), 4).unwrap();
        let result = &settings.simulate(&network, &sites, 4, None).unwrap()[0];
        let occupancy = result.site_occupancy.as_ref().unwrap();
        let (mut high, mut low) = (0.0, 0.0);
        for (s, f) in occupancy.iter().enumerate() {
            if network.site_energy(s) > 0.05 {
                high += f;
            } else {
                low += f;
            }
        }
        let expected = (-0.1 / (BOLTZMANN_EV_PER_K * 1000.0)).exp();
        assert!((high + low - 1.0).abs() < 1e-9);
        // 4·10⁵ events, each visit of a high site lasting one of two residence times: a few per mille.
        assert!((high / low - expected).abs() < 0.02 * expected, "{} vs {expected}", high / low);
    }

    #[test]
    fn vacancy_energies_are_read_from_a_vacancy_stage_table() {
        let dir = std::env::temp_dir().join(format!("mdrun-kra-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut system = System::new(Cell::orthorhombic(10.0, 10.0, 10.0).unwrap());
        for (z, x) in [(3, 1.0), (8, 3.0), (3, 5.0)] {
            system.push(z, Vector3::new(x, 1.0, 1.0));
        }
        let header = "removed,species,multiplicity,unrelaxed_energy_ev,relaxed_energy_ev,\
                      unrelaxed_formation_energy_ev,formation_energy_ev,converged,steps,force_evaluations\n";
        let read = |body: &str| {
            let path = dir.join("vacancies.csv");
            std::fs::write(&path, format!("{header}{body}")).unwrap();
            read_vacancy_energies(&path, &system, 3).map_err(|e| e.to_string().replace(&*dir.to_string_lossy(), "D"))
        };
        let energies = read("2,Li,1,-9,-9.5,3.9,3.4,true,10,11\n0,Li,1,-9,-9.2,3.9,3.7,true,10,11\n").unwrap();
        assert_eq!((energies[0], energies[2]), (3.7, 3.4));
        assert!(energies[1].is_nan());
        assert_eq!(
            read("0,Li,1,-9,-9.2,3.9,3.7,true,10,11\n").unwrap_err(),
            "D/vacancies.csv: no row for Li atom 2 of the kMC structure; site energies need every Li site (a vacancy \
             stage with selection = \"distinct\" on that structure)"
        );
        assert_eq!(
            read("0 2,Li,1,-9,-9.2,3.9,3.7,true,10,11\n").unwrap_err(),
            "D/vacancies.csv line 2: removed = '0 2': expected one atom index per row (a vacancy stage with \
             selection = \"distinct\")"
        );
        assert_eq!(
            read("1,O,1,-9,-9.2,3.9,3.7,true,10,11\n").unwrap_err(),
            "D/vacancies.csv line 2: site 1 is not a Li atom of the kMC structure"
        );
        // A distinct selection's class rows: one energy for every site of the class.
        let classes = |body: &str| {
            let path = dir.join("vacancies.csv");
            std::fs::write(&path, format!("{}equivalent_sites\n{body}", header.replace('\n', ","))).unwrap();
            read_vacancy_energies(&path, &system, 3).map_err(|e| e.to_string().replace(&*dir.to_string_lossy(), "D"))
        };
        let energies = classes("0,Li,2,-9,-9.2,3.9,3.7,true,10,11,0 2\n").unwrap();
        assert_eq!((energies[0], energies[2]), (3.7, 3.7));
        assert_eq!(
            classes("0,Li,2,-9,-9.2,3.9,3.7,true,10,11,1 2\n").unwrap_err(),
            "D/vacancies.csv line 2: equivalent_sites does not hold the removed atom 0"
        );
        assert_eq!(
            classes("0,Li,1,-9,-9.2,3.9,3.7,true,10,11,0\n2,Li,1,-9,-9.2,3.9,3.7,true,10,11,2 0\n").unwrap_err(),
            "D/vacancies.csv line 3: atom 0 has a second row"
        );
        assert_eq!(
            read("0,Li,1,-9,-9.2,3.9,x,true,10,11\n").unwrap_err(),
            "D/vacancies.csv line 2: formation_energy_ev = 'x': expected a number (eV)"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

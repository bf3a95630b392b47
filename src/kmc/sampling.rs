//! A random-barrier network for amorphous structures: every pair of mobile atoms closer than a hop cutoff is a
//! hop whose barrier is drawn from the distribution of computed (NEB) barriers.
//!
//! In a glass no two hops are equivalent, so the barriers computed around one vacancy cannot be replicated by
//! symmetry (environment matching finds only the computed hops themselves, which form a star around the vacancy
//! and no connected path). Li, Ando, Minamitani & Watanabe (JCP 147, 214106 (2017)) ran kMC on the network of
//! their computed paths; for the table of one vacancy's hops this module builds the usual stand-in, the random
//! barrier model (Dyre, J. Appl. Phys. 64, 2456 (1988)): the sites are every mobile atom of the structure, the
//! hops every pair within `hop_cutoff_a`, and each pair gets one barrier drawn uniformly (seeded) from the
//! table's converged forward barriers, used in both directions (all site energies equal). What it keeps: the
//! real site geometry and the measured barrier distribution. What it loses: correlations between a hop's
//! barrier and its local structure or length, and site-energy differences (detailed balance is trivial).

use super::barrier_table::BarrierRow;
use super::network::{species_hops, species_sites, SiteNetwork};
use crate::system::System;
use anyhow::{bail, Context};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// What the sampling built.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SamplingSummary {
    /// Barriers the draws come from (the converged forward barriers of the table).
    pub samples: usize,
    pub sample_mean_ev: f64,
    /// Unordered site pairs within the cutoff (each a hop in both directions).
    pub pairs: usize,
    /// Mean of the barriers assigned to the pairs.
    pub assigned_mean_ev: f64,
    pub hop_cutoff_a: f64,
}

/// Builds the random-barrier network of the `species` atoms of `structure` (repeated `supercell` times): every
/// pair within `hop_cutoff_a` gets a barrier drawn from the forward barriers of `rows` with a xoshiro256++ stream
/// seeded by `seed`. Returns the network, the atom index of each basis site and a summary.
pub fn network_by_sampling(
    structure: &System,
    species: u8,
    rows: &[&BarrierRow],
    hop_cutoff_a: f64,
    supercell: [usize; 3],
    seed: u64,
    name: &str,
) -> anyhow::Result<(SiteNetwork, Vec<usize>, SamplingSummary)> {
    if !structure.cell.is_fully_periodic() {
        bail!("{name}: barrier sampling needs a periodic structure");
    }
    let narrowest = system_width(structure);
    if 2.0 * hop_cutoff_a >= narrowest {
        bail!("{name}: hop_cutoff_a = {hop_cutoff_a} Å must be below half the narrowest cell width ({narrowest:.3} Å)");
    }
    let samples: Vec<f64> = rows.iter().map(|r| r.forward_barrier_ev).collect();
    if samples.is_empty() {
        bail!("{name}: no barriers to sample from");
    }
    let mut system = structure.clone();
    system.wrap();
    let (mut builder, mobile, basis_of) = species_sites(&system, species, supercell);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (mut pairs, mut assigned_sum) = (0usize, 0.0);
    // Each unordered pair once, from its lower index (the width check makes every pair appear once).
    for hop in species_hops(&system, species, &mobile, hop_cutoff_a).into_iter().filter(|hop| hop.to > hop.from) {
        let (i, j) = (hop.from, hop.to);
        let barrier = samples[rng.gen_range(0..samples.len())];
        let origin = format!("{name}: sampled barrier of the pair {i} ↔ {j}");
        builder.add_hop(basis_of[i], basis_of[j], hop.image, barrier, &origin);
        builder.add_hop(basis_of[j], basis_of[i], hop.image.map(|x| -x), barrier, &origin);
        pairs += 1;
        assigned_sum += barrier;
    }
    if pairs == 0 {
        bail!(
            "{name}: no two {} atoms are within hop_cutoff_a = {hop_cutoff_a} Å",
            crate::system::elements::symbol(species)
        );
    }
    let network = builder.build().with_context(|| format!("barrier sampling of {name}"))?;
    let summary = SamplingSummary {
        samples: samples.len(),
        sample_mean_ev: samples.iter().sum::<f64>() / samples.len() as f64,
        pairs,
        assigned_mean_ev: assigned_sum / pairs as f64,
        hop_cutoff_a,
    };
    Ok((network, mobile, summary))
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
        let build = |seed| network_by_sampling(&simple_cubic(), 3, &refs, 2.6, [1, 1, 1], seed, "t").unwrap();
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
        let (ions, _, _) = network_by_sampling(&simple_cubic(), 3, &refs, 2.6, [1, 1, 1], 1, "t").unwrap();
        let settings: KmcSettings = toml::from_str(
            "temperatures_k = [800]\nevents = 400000\nblocks = 4000\ncarriers = 1\ntrack_ions = false\n\
             catalogue = \"unused\"",
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
        let err = network_by_sampling(&simple_cubic(), 3, &refs, 7.6, [1, 1, 1], 1, "t.csv").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv: hop_cutoff_a = 7.6 Å must be below half the narrowest cell width (15.000 Å)"
        );
    }
}

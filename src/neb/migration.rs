//! Vacancy-migration paths (`kind = "migration"`): enumerate the hops of a species into vacancies,
//! deduplicate symmetry-equivalent ones, run every distinct NEB in parallel and write the barrier table.
//!
//! The current system is the perfect (vacancy-free) structure; sites are its atom indices. A hop
//! `from_site → to_site` moves the atom at `from_site` into the vacancy at `to_site`: the initial state is
//! the relaxed structure without atom `to_site`, the final state the relaxed structure without atom
//! `from_site`, relabelled so that the atom now sitting at `to_site` is atom `from_site`. Each vacancy
//! configuration is relaxed once (positions, fixed cell) and shared by every hop that needs it.
//!
//! Hop equivalence (`deduplicate = true`, for crystals): two hops are equivalent when their start sites,
//! their end sites and the environments of their midpoints have the same sorted (element, distance)
//! fingerprints within `fingerprint_tolerance_a` (see [`crate::structure`]), and the same length; a
//! hop equivalent to another one run backwards reuses it with initial and final energies exchanged. For
//! amorphous cells set `deduplicate = false` and every hop gets its own NEB.

use super::{run_neb, validate_options, write_outputs, Interpolation, NebOptions, NebReport, NebResult};
use crate::input::{join, positive, InvalidValue};
use crate::io::barrier_table::{format_table, BarrierRow};
use crate::io::extxyz::{self, FrameExtras};
use crate::optimize::{minimizer_defaults, Algorithm};
use crate::plot::{Plot, Series, Style};
use crate::potentials::Evaluator;
use crate::progress::Progress;
use crate::relax::{relax, RelaxReport, RelaxSettings};
use crate::structure::{site_fingerprints, Fingerprint};
use crate::system::{elements, System};
use anyhow::{bail, Context};
use nalgebra::Vector3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One hop of an atom into a vacant site of the perfect structure.
#[derive(Clone, Debug, PartialEq)]
pub struct Hop {
    pub from_site: usize,
    pub to_site: usize,
    /// Position of `from_site` (Å).
    pub from: Vector3<f64>,
    /// Position of `to_site` seen from `from` (minimum image, Å).
    pub to: Vector3<f64>,
}

impl Hop {
    fn new(system: &System, from_site: usize, to_site: usize) -> Hop {
        let from = system.positions[from_site];
        Hop { from_site, to_site, from, to: from + system.displacement(from_site, to_site) }
    }

    /// |to − from| (Å).
    pub fn length(&self) -> f64 {
        (self.to - self.from).norm()
    }
}

/// Every hop of atoms of element `z` over at most `cutoff` (minimum image). With `vacancy_sites`, the hops
/// of every `z` atom into each listed site (ordered by site, then by start); without, every unordered pair of
/// `z` sites once, as `from < to`.
pub fn enumerate_hops(system: &System, z: u8, vacancy_sites: Option<&[usize]>, cutoff: f64) -> Vec<Hop> {
    let sites: Vec<usize> = (0..system.len()).filter(|&i| system.atomic_numbers[i] == z).collect();
    let mut hops = Vec::new();
    match vacancy_sites {
        Some(vacancies) => {
            for &to in vacancies {
                for &from in &sites {
                    if from != to && system.displacement(from, to).norm() <= cutoff {
                        hops.push(Hop::new(system, from, to));
                    }
                }
            }
        }
        None => {
            for (k, &from) in sites.iter().enumerate() {
                for &to in &sites[k + 1..] {
                    if system.displacement(from, to).norm() <= cutoff {
                        hops.push(Hop::new(system, from, to));
                    }
                }
            }
        }
    }
    hops
}

/// Sorted (element, distance) of every atom but the two hopping sites within `cutoff` of the hop midpoint.
fn midpoint_environment(system: &System, hop: &Hop, cutoff: f64) -> Fingerprint {
    let midpoint = (hop.from + hop.to) / 2.0;
    Fingerprint::new(
        (0..system.len())
            .filter(|&k| k != hop.from_site && k != hop.to_site)
            .filter_map(|k| {
                let d = system.cell.minimum_image(&(system.positions[k] - midpoint)).norm();
                (d <= cutoff).then_some((system.atomic_numbers[k], d))
            })
            .collect(),
    )
}

/// For every hop, the index of the first equivalent hop and whether it runs backwards relative to it.
pub fn equivalent_hops(
    system: &System,
    hops: &[Hop],
    cutoff: f64,
    tolerance: f64,
) -> Result<Vec<(usize, bool)>, crate::neighbors::NeighborListTooLarge> {
    let sites = site_fingerprints(system, cutoff)?;
    let midpoints: Vec<Fingerprint> = hops.par_iter().map(|h| midpoint_environment(system, h, cutoff)).collect();
    let same_site = |a: usize, b: usize| {
        system.atomic_numbers[a] == system.atomic_numbers[b] && sites[a].matches(&sites[b], tolerance)
    };
    let mut representatives: Vec<usize> = Vec::new();
    let mut assignment = Vec::with_capacity(hops.len());
    for (h, hop) in hops.iter().enumerate() {
        let found = representatives.iter().find_map(|&r| {
            let rep = &hops[r];
            if (rep.length() - hop.length()).abs() > tolerance || !midpoints[r].matches(&midpoints[h], tolerance) {
                return None;
            }
            if same_site(rep.from_site, hop.from_site) && same_site(rep.to_site, hop.to_site) {
                Some((r, false))
            } else if same_site(rep.from_site, hop.to_site) && same_site(rep.to_site, hop.from_site) {
                Some((r, true))
            } else {
                None
            }
        });
        match found {
            Some(a) => assignment.push(a),
            None => {
                representatives.push(h);
                assignment.push((h, false));
            }
        }
    }
    Ok(assignment)
}

fn default_true() -> bool {
    true
}
fn default_images() -> usize {
    5
}
fn default_spring() -> f64 {
    0.1
}
fn default_fingerprint_cutoff() -> f64 {
    6.0
}
fn default_fingerprint_tolerance() -> f64 {
    0.01
}
fn default_bin() -> f64 {
    0.05
}

/// `[[stage]] kind = "migration"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationSettings {
    /// The mobile element, e.g. `"Li"`.
    pub species: String,
    /// Longest hop considered (Å).
    pub hop_cutoff_a: f64,
    /// Vacant sites (0-based atom indices of `species` in the current, perfect structure); default: every
    /// site of `species` (each unordered pair of sites once). Excludes `hops`.
    #[serde(default)]
    pub vacancy_sites: Option<Vec<usize>>,
    /// Explicit hops `[[from_site, to_site], ...]`; each must be at most `hop_cutoff_a` long.
    #[serde(default)]
    pub hops: Option<Vec<[usize; 2]>>,
    /// Cartesian position (Å) of a vacant `species` site in the current structure, which then already holds
    /// the vacancy: the perfect structure is the current one with a `species` atom added there (as the last
    /// atom, so the vacancy is site N). `"previous"`: the site emptied by the latest earlier `vacancy` stage
    /// (the study runner resolves it with [`MigrationSettings::with_vacancy_position`]). Excludes `vacancy_sites`
    /// and `hops`.
    #[serde(default)]
    pub vacancy_position_a: Option<VacancyPosition>,
    /// Compute one NEB per class of symmetry-equivalent hops (crystals); default true.
    #[serde(default = "default_true")]
    pub deduplicate: bool,
    /// Neighbour shell radius for site and hop equivalence (Å); default 6.
    #[serde(default = "default_fingerprint_cutoff")]
    pub fingerprint_cutoff_a: f64,
    /// Distance tolerance for equivalence (Å); default 0.01.
    #[serde(default = "default_fingerprint_tolerance")]
    pub fingerprint_tolerance_a: f64,
    /// Intermediate images per band; default 5.
    #[serde(default = "default_images")]
    pub images: usize,
    /// `"idpp"` (default) or `"linear"`.
    #[serde(default)]
    pub interpolation: Interpolation,
    /// Spring constant (eV/Å²); default 0.1.
    #[serde(default = "default_spring")]
    pub spring_ev_per_a2: f64,
    /// Climbing image; default true.
    #[serde(default = "default_true")]
    pub climb: bool,
    /// `"fire"` (default) or `"lbfgs"`, for bands and vacancy relaxations.
    #[serde(default)]
    pub optimizer: Algorithm,
    /// Force tolerance of bands and relaxations (eV/Å); default 0.05.
    #[serde(default = "minimizer_defaults::band_fmax")]
    pub fmax_ev_per_a: f64,
    /// Step limit of each band and relaxation; default 1000.
    #[serde(default = "minimizer_defaults::band_max_steps")]
    pub max_steps: usize,
    /// Largest move of one atom per step (Å); default 0.2.
    #[serde(default = "minimizer_defaults::band_max_step")]
    pub max_step_a: f64,
    /// Width of the barrier histogram bins (eV); default 0.05.
    #[serde(default = "default_bin")]
    pub histogram_bin_ev: f64,
}

/// `vacancy_position_a`: coordinates, or where the runner takes them from.
#[derive(Clone, Debug, PartialEq)]
pub enum VacancyPosition {
    /// `[x, y, z]` in Å.
    Cartesian([f64; 3]),
    /// `"previous"`: the site emptied by the latest earlier `vacancy` stage.
    Previous,
}

impl<'de> Deserialize<'de> for VacancyPosition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        const EXPECTED: &str = "vacancy_position_a as [x, y, z] in Å or the word \"previous\"";
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = VacancyPosition;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, word: &str) -> Result<VacancyPosition, E> {
                match word {
                    PREVIOUS_VACANCY => Ok(VacancyPosition::Previous),
                    _ => Err(E::custom(format!(
                        "vacancy_position_a = \"{word}\": expected [x, y, z] in Å, or \"{PREVIOUS_VACANCY}\" (the site emptied by the latest earlier vacancy stage)"
                    ))),
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<VacancyPosition, A::Error> {
                let mut p = Vec::new();
                while let Some(x) = seq.next_element::<f64>()? {
                    p.push(x);
                }
                match p.as_slice() {
                    &[x, y, z] => Ok(VacancyPosition::Cartesian([x, y, z])),
                    _ => Err(serde::de::Error::invalid_length(p.len(), &EXPECTED)),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The word of `vacancy_position_a` that refers to the latest earlier `vacancy` stage.
pub const PREVIOUS_VACANCY: &str = "previous";

/// One line of the barrier histogram.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct HistogramBin {
    pub low_ev: f64,
    pub high_ev: f64,
    pub count: usize,
}

/// One computed (representative) path.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ComputedPath {
    pub path_id: usize,
    pub from_site: usize,
    pub to_site: usize,
    /// Number of hops in the table that use this NEB.
    pub equivalent_hops: usize,
    pub neb: NebReport,
}

/// Key numbers of a migration stage.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct MigrationReport {
    pub species: String,
    /// Rows of the barrier table.
    pub hops: usize,
    /// NEBs run.
    pub computed_paths: usize,
    /// Rows whose NEB or endpoint relaxations did not converge.
    pub unconverged_hops: usize,
    /// Statistics of the forward barriers of the converged rows (eV); None when no row converged.
    pub mean_barrier_ev: Option<f64>,
    pub min_barrier_ev: Option<f64>,
    pub max_barrier_ev: Option<f64>,
    /// Mean reverse barrier (to_site → from_site) of the converged rows (eV). For hops into a vacancy, the barrier
    /// of leaving it: in a glass, where the two ends of a hop differ in energy, the forward mean alone is one side.
    pub mean_reverse_barrier_ev: Option<f64>,
    pub histogram: Vec<HistogramBin>,
    /// Vacancy configurations relaxed (endpoints), and their force evaluations.
    pub vacancy_relaxations: usize,
    pub endpoint_force_evaluations: usize,
    /// Force evaluations of all bands.
    pub band_force_evaluations: usize,
    pub converged: bool,
    pub paths: Vec<ComputedPath>,
}

/// Counts of `values` in bins of width `bin` aligned on multiples of `bin`.
pub fn histogram(values: &[f64], bin: f64) -> Vec<HistogramBin> {
    if values.is_empty() {
        return Vec::new();
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let first = (lo / bin).floor() as i64;
    let last = ((hi / bin).floor() as i64).max(first);
    let mut counts = vec![0usize; (last - first + 1) as usize];
    for v in values {
        let k = (((v / bin).floor() as i64) - first).clamp(0, last - first) as usize;
        counts[k] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(k, count)| {
            // Rounded to 1e-9 eV so that bin edges print as the multiples of `bin` they are.
            let edge = |m: i64| (m as f64 * bin * 1e9).round() / 1e9;
            let m = first + k as i64;
            HistogramBin { low_ev: edge(m), high_ev: edge(m + 1), count }
        })
        .collect()
}

/// Index of original atom `atom` in the structure without atom `removed`.
fn index_without(atom: usize, removed: usize) -> usize {
    if atom < removed {
        atom
    } else {
        atom - 1
    }
}

/// A relaxed vacancy configuration.
struct RelaxedVacancy {
    system: System,
    report: RelaxReport,
}

/// Everything a migration stage computed: the hops, each one's representative (and whether it is run backwards),
/// the relaxed vacancy configurations by removed site and the NEB of every representative by hop index.
struct Migration {
    hops: Vec<Hop>,
    assignment: Vec<(usize, bool)>,
    vacancies: BTreeMap<usize, RelaxedVacancy>,
    nebs: BTreeMap<usize, NebResult>,
}

/// The endpoints of `hop`: the relaxed structure without atom `to_site`, and the relaxed structure without atom
/// `from_site` relabelled so that the atom sitting at `to_site` is atom `from_site` (same atom order as the first).
fn hop_endpoints<'a>(
    perfect: &System,
    hop: &Hop,
    vacancies: &'a BTreeMap<usize, RelaxedVacancy>,
) -> (&'a System, System) {
    let initial = &vacancies[&hop.to_site].system;
    let source = &vacancies[&hop.from_site].system;
    let mut final_state = initial.clone();
    for atom in 0..perfect.len() {
        if atom == hop.to_site {
            continue;
        }
        let taken_from = if atom == hop.from_site { hop.to_site } else { atom };
        final_state.positions[index_without(atom, hop.to_site)] =
            source.positions[index_without(taken_from, hop.from_site)];
    }
    (initial, final_state)
}

/// `migration_paths.csv`: every hop with the NEB it was computed as and its barriers.
fn format_paths_csv(rows: &[BarrierRow], assignment: &[(usize, bool)]) -> String {
    let mut csv = String::from(
        "path_id,from_site,to_site,hop_distance_a,computed_as,reversed,forward_barrier_ev,reverse_barrier_ev,converged\n",
    );
    for (h, row) in rows.iter().enumerate() {
        let (r, reversed) = assignment[h];
        writeln!(
            csv,
            "{h},{},{},{:.6},{r},{reversed},{:.8},{:.8},{}",
            row.from_site,
            row.to_site,
            row.hop_distance_a,
            row.forward_barrier_ev,
            row.reverse_barrier_ev,
            row.converged
        )
        .unwrap();
    }
    csv
}

crate::optimize::minimizer_keys!(MigrationSettings);

impl MigrationSettings {
    /// The NEB options of every band (endpoints are relaxed separately, once per vacancy site).
    pub fn neb_options(&self) -> NebOptions {
        NebOptions {
            images: self.images,
            interpolation: self.interpolation,
            spring: self.spring_ev_per_a2,
            climb: self.climb,
            relax_endpoints: false,
            optimizer: self.optimizer,
            convergence: self.minimizer().convergence(),
        }
    }

    /// Checks every value; `key` is the stage prefix, e.g. `stage[2]`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        if elements::atomic_number(&self.species).is_none() {
            return Err(InvalidValue::new(
                join(key, "species"),
                format!("\"{}\"", self.species),
                "a chemical symbol such as \"Li\"",
            ));
        }
        positive(key, "hop_cutoff_a", self.hop_cutoff_a)?;
        positive(key, "fingerprint_cutoff_a", self.fingerprint_cutoff_a)?;
        positive(key, "fingerprint_tolerance_a", self.fingerprint_tolerance_a)?;
        positive(key, "histogram_bin_ev", self.histogram_bin_ev)?;
        if self.vacancy_sites.is_some() && self.hops.is_some() {
            return Err(InvalidValue::new(join(key, "hops"), "(given)", "either hops or vacancy_sites, not both"));
        }
        if let Some(hops) = &self.hops {
            if hops.is_empty() {
                return Err(InvalidValue::new(join(key, "hops"), "[]", "at least one [from_site, to_site] pair"));
            }
            if let Some((k, h)) = hops.iter().enumerate().find(|(_, h)| h[0] == h[1]) {
                return Err(InvalidValue::new(
                    format!("{}[{k}]", join(key, "hops")),
                    format!("[{}, {}]", h[0], h[1]),
                    "two different sites",
                ));
            }
        }
        if let Some(position) = &self.vacancy_position_a {
            let value = match position {
                VacancyPosition::Cartesian(p) => format!("[{}, {}, {}]", p[0], p[1], p[2]),
                VacancyPosition::Previous => format!("\"{PREVIOUS_VACANCY}\""),
            };
            if self.vacancy_sites.is_some() || self.hops.is_some() {
                return Err(InvalidValue::new(
                    join(key, "vacancy_position_a"),
                    value,
                    "either vacancy_position_a (a structure with a vacancy) or vacancy_sites/hops (a perfect structure), not both",
                ));
            }
            if let VacancyPosition::Cartesian(p) = position {
                if p.iter().any(|c| !c.is_finite()) {
                    return Err(InvalidValue::new(
                        join(key, "vacancy_position_a"),
                        value,
                        "three finite coordinates (Å)",
                    ));
                }
            }
        }
        if self.vacancy_sites.as_ref().is_some_and(|v| v.is_empty()) {
            return Err(InvalidValue::new(
                join(key, "vacancy_sites"),
                "[]",
                "at least one site, or leave it out for all sites",
            ));
        }
        validate_options(&self.neb_options(), key)
    }

    /// These settings with `vacancy_position_a = "previous"` replaced by `position` (Å); other settings unchanged.
    pub fn with_vacancy_position(&self, position: [f64; 3]) -> MigrationSettings {
        let mut settings = self.clone();
        if settings.vacancy_position_a == Some(VacancyPosition::Previous) {
            settings.vacancy_position_a = Some(VacancyPosition::Cartesian(position));
        }
        settings
    }

    /// The perfect structure and the settings to enumerate its hops: the current structure as it is, or,
    /// with `vacancy_position_a`, with a `species` atom added at the vacant site (and `vacancy_sites` = that
    /// atom).
    pub fn perfect_structure(&self, system: &System) -> anyhow::Result<(System, MigrationSettings)> {
        let mut settings = self.clone();
        let p = match &self.vacancy_position_a {
            None => return Ok((system.clone(), settings)),
            Some(VacancyPosition::Cartesian(p)) => *p,
            Some(VacancyPosition::Previous) => bail!(
                "vacancy_position_a = \"{PREVIOUS_VACANCY}\": no vacancy stage has run before this migration stage to say where the vacancy is"
            ),
        };
        let z = elements::atomic_number(&self.species).expect("validated");
        let site = Vector3::new(p[0], p[1], p[2]);
        if let Some((k, d)) = (0..system.len())
            .map(|k| (k, system.cell.minimum_image(&(system.positions[k] - site)).norm()))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .filter(|&(_, d)| d < crate::relax::vacancy::VACANT_RADIUS_A)
        {
            bail!(
                "vacancy_position_a = [{}, {}, {}]: atom {k} ({}) is only {d:.3} Å away, so the site is not vacant",
                p[0],
                p[1],
                p[2],
                system.symbol(k)
            );
        }
        let mut perfect = system.clone();
        let mass = (0..system.len())
            .find(|&k| system.atomic_numbers[k] == z)
            .map_or(elements::standard_mass(z).unwrap_or(0.0), |k| system.masses[k]);
        perfect.push_with_mass(z, site, mass);
        settings.vacancy_position_a = None;
        settings.vacancy_sites = Some(vec![perfect.len() - 1]);
        Ok((perfect, settings))
    }

    /// The hops to compute, checked against the structure.
    pub fn hops_for(&self, system: &System) -> anyhow::Result<Vec<Hop>> {
        let z = elements::atomic_number(&self.species).expect("validated");
        let check_site = |site: usize, what: &str| -> anyhow::Result<()> {
            if site >= system.len() {
                bail!(
                    "{what}: site {site} does not exist (the structure has {} atoms, sites start at 0)",
                    system.len()
                );
            }
            if system.atomic_numbers[site] != z {
                bail!("{what}: site {site} is {}, not {}", system.symbol(site), self.species);
            }
            Ok(())
        };
        let widths = system.cell.perpendicular_widths();
        let periodic = system.cell.periodic();
        if let Some(k) = (0..3).find(|&k| periodic[k] && widths[k] < 2.0 * self.hop_cutoff_a) {
            bail!(
                "hop_cutoff_a = {}: the cell is {:.3} Å wide along lattice vector {}, less than twice the cutoff, so hops would \
                 be ambiguous between periodic images; use a larger supercell",
                self.hop_cutoff_a,
                widths[k],
                k + 1
            );
        }
        let hops = if let Some(explicit) = &self.hops {
            let mut hops = Vec::new();
            for (k, &[from, to]) in explicit.iter().enumerate() {
                check_site(from, &format!("hops[{k}]"))?;
                check_site(to, &format!("hops[{k}]"))?;
                let hop = Hop::new(system, from, to);
                if hop.length() > self.hop_cutoff_a {
                    bail!(
                        "hops[{k}] = [{from}, {to}]: the hop is {:.4} Å long, longer than hop_cutoff_a = {} Å",
                        hop.length(),
                        self.hop_cutoff_a
                    );
                }
                hops.push(hop);
            }
            hops
        } else {
            if let Some(sites) = &self.vacancy_sites {
                for &site in sites {
                    check_site(site, "vacancy_sites")?;
                }
            }
            enumerate_hops(system, z, self.vacancy_sites.as_deref(), self.hop_cutoff_a)
        };
        if hops.is_empty() {
            bail!("no {} hop of at most hop_cutoff_a = {} Å found", self.species, self.hop_cutoff_a);
        }
        Ok(hops)
    }

    /// Runs every distinct NEB (in parallel) and writes `barriers.csv`, `migration_paths.csv`,
    /// `barrier_histogram.csv`, `migration_structure.extxyz` and `paths/path_<id>_*` into `output_dir`.
    /// The system is left unchanged.
    pub fn run(
        &self,
        system: &mut System,
        evaluator: &mut Evaluator,
        output_dir: &Path,
        _seed: u64,
        quiet: bool,
    ) -> anyhow::Result<MigrationReport> {
        let (perfect, settings) = self.perfect_structure(system)?;
        settings.run_on_perfect(&perfect, evaluator, output_dir, quiet)
    }

    fn run_on_perfect(
        &self,
        perfect: &System,
        evaluator: &Evaluator,
        output_dir: &Path,
        quiet: bool,
    ) -> anyhow::Result<MigrationReport> {
        let hops = self.hops_for(perfect)?;
        let assignment = if self.deduplicate {
            equivalent_hops(perfect, &hops, self.fingerprint_cutoff_a, self.fingerprint_tolerance_a)
                .context("fingerprint_cutoff_a")?
        } else {
            (0..hops.len()).map(|h| (h, false)).collect()
        };
        let representatives: Vec<usize> = (0..hops.len()).filter(|&h| assignment[h].0 == h).collect();
        let mut vacancy_sites: Vec<usize> =
            representatives.iter().flat_map(|&h| [hops[h].from_site, hops[h].to_site]).collect();
        vacancy_sites.sort_unstable();
        vacancy_sites.dedup();
        let progress = Progress::new(quiet, vacancy_sites.len() as u64, "{bar:40} {pos}/{len} endpoints  eta {eta}");
        progress.println(format!(
            "migration: {} hops ({} distinct), relaxing {} vacancy endpoints",
            hops.len(),
            representatives.len(),
            vacancy_sites.len()
        ));
        let vacancies = self.relax_vacancies(perfect, evaluator, &vacancy_sites, &progress)?;
        progress.finish();
        let progress = Progress::new(quiet, representatives.len() as u64, "{bar:40} {pos}/{len} bands  eta {eta}");
        let nebs = self.run_nebs(perfect, evaluator, &hops, &representatives, &vacancies, &progress)?;
        progress.finish();
        let migration = Migration { hops, assignment, vacancies, nebs };
        let rows = self.barrier_rows(&migration);
        self.write_migration(output_dir, perfect, &migration, &rows)?;
        let report = self.report(&migration, &rows);
        if report.unconverged_hops > 0 {
            eprintln!(
                "warning: migration: {} of {} hops are not converged (flagged in barriers.csv)",
                report.unconverged_hops,
                rows.len()
            );
        }
        Ok(report)
    }

    /// Each vacancy configuration of `perfect` (one site removed) relaxed at fixed cell, in parallel.
    fn relax_vacancies(
        &self,
        perfect: &System,
        evaluator: &Evaluator,
        sites: &[usize],
        progress: &Progress,
    ) -> anyhow::Result<BTreeMap<usize, RelaxedVacancy>> {
        let relax_settings = RelaxSettings::with_minimizer(self.minimizer());
        let relaxed: Vec<RelaxedVacancy> = sites
            .par_iter()
            .map(|&site| {
                let mut defect = perfect.clone();
                defect.remove(site);
                let mut local = evaluator.clone();
                let report = relax(&mut defect, &mut local, &relax_settings, None)?.report;
                progress.inc(1);
                Ok(RelaxedVacancy { system: defect, report })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(sites.iter().copied().zip(relaxed).collect())
    }

    /// The NEB of every representative hop, in parallel, keyed by hop index.
    fn run_nebs(
        &self,
        perfect: &System,
        evaluator: &Evaluator,
        hops: &[Hop],
        representatives: &[usize],
        vacancies: &BTreeMap<usize, RelaxedVacancy>,
        progress: &Progress,
    ) -> anyhow::Result<BTreeMap<usize, NebResult>> {
        let options = self.neb_options();
        let results: Vec<anyhow::Result<NebResult>> = representatives
            .par_iter()
            .map(|&h| {
                let hop = &hops[h];
                let (initial, final_state) = hop_endpoints(perfect, hop, vacancies);
                let result = run_neb(initial, &final_state, evaluator, &options)
                    .with_context(|| format!("hop {} → {}", hop.from_site, hop.to_site))?;
                progress.inc(1);
                progress.println(band_row(hop, &result.report, representatives.len()));
                Ok(result)
            })
            .collect();
        representatives.iter().copied().zip(results).map(|(h, result)| Ok((h, result?))).collect()
    }

    /// One barrier-table row per hop, from its representative's NEB (initial and final exchanged when the hop is
    /// its representative run backwards); a row is converged when its NEB and both endpoint relaxations are.
    fn barrier_rows(&self, migration: &Migration) -> Vec<BarrierRow> {
        let Migration { hops, assignment, vacancies, nebs } = migration;
        hops.iter()
            .enumerate()
            .map(|(h, hop)| {
                let (r, reversed) = assignment[h];
                let neb = &nebs[&r].report;
                let representative = &hops[r];
                let endpoints_converged = vacancies[&representative.from_site].report.converged
                    && vacancies[&representative.to_site].report.converged;
                let (initial, final_energy) = if reversed {
                    (neb.final_energy_ev, neb.initial_energy_ev)
                } else {
                    (neb.initial_energy_ev, neb.final_energy_ev)
                };
                BarrierRow::new(
                    h,
                    self.species.clone(),
                    (hop.from_site, hop.to_site),
                    (hop.from, hop.to),
                    initial,
                    final_energy,
                    neb.saddle_energy_ev,
                    neb.converged && endpoints_converged,
                )
            })
            .collect()
    }

    /// Writes `migration_structure.extxyz`, `barriers.csv`, `migration_paths.csv`, `paths/path_<id>_*` and the
    /// barrier histogram (CSV and SVG) into `output_dir`.
    fn write_migration(
        &self,
        output_dir: &Path,
        perfect: &System,
        migration: &Migration,
        rows: &[BarrierRow],
    ) -> anyhow::Result<()> {
        crate::io::create_output_dir(output_dir)?;
        let structure_name = "migration_structure.extxyz";
        crate::io::write_atomically(
            &output_dir.join(structure_name),
            extxyz::format_frame(perfect, &FrameExtras::default()).as_bytes(),
        )?;
        let comments = vec![
            format!(
                "species {}, hop_cutoff_a {}, {} hops, {} NEBs (deduplicate = {})",
                self.species,
                self.hop_cutoff_a,
                migration.hops.len(),
                migration.nebs.len(),
                self.deduplicate
            ),
            "each row also describes the reverse hop to_site -> from_site, with barrier reverse_barrier_ev".to_string(),
        ];
        let table = format_table(structure_name, &perfect.cell, &comments, rows);
        crate::io::write_atomically(&output_dir.join("barriers.csv"), table.as_bytes())?;
        let paths_csv = format_paths_csv(rows, &migration.assignment);
        crate::io::write_atomically(&output_dir.join("migration_paths.csv"), paths_csv.as_bytes())?;
        let paths_dir = output_dir.join("paths");
        for (&h, result) in &migration.nebs {
            write_outputs(result, &paths_dir, &format!("path_{h}_"))?;
        }
        self.write_histogram(output_dir, rows)
    }

    /// `barrier_histogram.csv` and `.svg`: the forward barriers of the converged rows in `histogram_bin_ev` bins.
    fn write_histogram(&self, output_dir: &Path, rows: &[BarrierRow]) -> anyhow::Result<()> {
        let converged_barriers: Vec<f64> = rows.iter().filter(|r| r.converged).map(|r| r.forward_barrier_ev).collect();
        let bins = histogram(&converged_barriers, self.histogram_bin_ev);
        let mut histogram_csv = String::from("low_ev,high_ev,count\n");
        for bin in &bins {
            writeln!(histogram_csv, "{:.6},{:.6},{}", bin.low_ev, bin.high_ev, bin.count).unwrap();
        }
        crate::io::write_atomically(&output_dir.join("barrier_histogram.csv"), histogram_csv.as_bytes())?;
        let svg = Plot {
            title: format!("{} forward barriers of {} converged hops", self.species, converged_barriers.len()),
            x_label: "forward barrier (eV)".into(),
            y_label: "hops".into(),
            series: vec![Series::new(
                "hops per bin",
                bins.iter().map(|b| 0.5 * (b.low_ev + b.high_ev)).collect(),
                bins.iter().map(|b| b.count as f64).collect(),
                Style::Bars(self.histogram_bin_ev),
            )],
            ..Default::default()
        }
        .to_svg();
        crate::io::write_atomically(&output_dir.join("barrier_histogram.svg"), svg.as_bytes())?;
        Ok(())
    }

    /// The stage's key numbers: barrier statistics over the converged rows and the cost in force evaluations.
    fn report(&self, migration: &Migration, rows: &[BarrierRow]) -> MigrationReport {
        let converged: Vec<&BarrierRow> = rows.iter().filter(|r| r.converged).collect();
        let forward: Vec<f64> = converged.iter().map(|r| r.forward_barrier_ev).collect();
        let count = forward.len();
        let mean = |values: &[f64]| (count > 0).then(|| values.iter().sum::<f64>() / count as f64);
        let reverse: Vec<f64> = converged.iter().map(|r| r.reverse_barrier_ev).collect();
        let unconverged = rows.len() - count;
        let nebs = &migration.nebs;
        let paths = nebs
            .iter()
            .map(|(&h, result)| ComputedPath {
                path_id: h,
                from_site: migration.hops[h].from_site,
                to_site: migration.hops[h].to_site,
                equivalent_hops: migration.assignment.iter().filter(|a| a.0 == h).count(),
                neb: result.report.clone(),
            })
            .collect();
        MigrationReport {
            species: self.species.clone(),
            hops: rows.len(),
            computed_paths: nebs.len(),
            unconverged_hops: unconverged,
            mean_barrier_ev: mean(&forward),
            min_barrier_ev: (count > 0).then(|| forward.iter().copied().fold(f64::INFINITY, f64::min)),
            max_barrier_ev: (count > 0).then(|| forward.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
            mean_reverse_barrier_ev: mean(&reverse),
            histogram: histogram(&forward, self.histogram_bin_ev),
            vacancy_relaxations: migration.vacancies.len(),
            endpoint_force_evaluations: migration.vacancies.values().map(|r| r.report.force_evaluations).sum::<usize>()
                + nebs.values().map(|r| r.report.endpoint_force_evaluations).sum::<usize>(),
            band_force_evaluations: nebs.values().map(|r| r.report.band_force_evaluations).sum(),
            converged: unconverged == 0,
            paths,
        }
    }
}

/// The screen row of one finished band (rows arrive in completion order; files are in hop order).
fn band_row(hop: &Hop, report: &NebReport, total: usize) -> String {
    format!(
        "band {} → {} (of {total}, {:.2} Å): barrier {:.4} eV forward, {:.4} eV back, {} steps{}",
        hop.from_site,
        hop.to_site,
        (hop.to - hop.from).norm(),
        report.forward_barrier_ev,
        report.reverse_barrier_ev,
        report.band_steps,
        if report.converged { "" } else { ", NOT converged" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fcc_nearest_neighbour_hops_are_twelve_per_site_and_all_equivalent() {
        let system = crate::system::fcc(18, 4.0, 3);
        let hops = enumerate_hops(&system, 18, Some(&[0]), 3.0);
        assert_eq!(hops.len(), 12);
        assert!(hops.iter().all(|h| (h.length() - 4.0 / 2f64.sqrt()).abs() < 1e-9 && h.to_site == 0));
        let classes = equivalent_hops(&system, &hops, 6.0, 0.01).unwrap();
        assert!(classes.iter().all(|&(r, _)| r == 0));
        // All pairs: 108 sites × 12 / 2.
        let all = enumerate_hops(&system, 18, None, 3.0);
        assert_eq!(all.len(), 108 * 6);
        assert!(all.iter().all(|h| h.from_site < h.to_site));
        let classes = equivalent_hops(&system, &all, 6.0, 0.01).unwrap();
        assert!(classes.iter().all(|&(r, _)| r == 0));
    }

    #[test]
    fn hops_in_a_distorted_cell_are_kept_apart() {
        let mut system = crate::system::fcc(18, 4.0, 3);
        system.positions[13] += Vector3::new(0.15, 0.05, 0.0);
        let hops = enumerate_hops(&system, 18, Some(&[0]), 3.2);
        let classes = equivalent_hops(&system, &hops, 6.0, 0.01).unwrap();
        let distinct = classes
            .iter()
            .filter(|(r, _)| classes.iter().any(|(s, _)| s == r))
            .map(|c| c.0)
            .collect::<std::collections::BTreeSet<_>>();
        assert!(distinct.len() > 1);
    }

    #[test]
    fn histogram_counts_every_value() {
        let bins = histogram(&[0.51, 0.52, 0.58, 0.61, 0.74], 0.05);
        assert_eq!(bins.iter().map(|b| b.count).sum::<usize>(), 5);
        assert!((bins[0].low_ev - 0.5).abs() < 1e-12);
        assert_eq!(bins[0].count, 2);
        assert_eq!(bins.last().unwrap().count, 1);
        assert!(histogram(&[], 0.05).is_empty());
    }

    #[test]
    fn bad_migration_input_is_reported() {
        let parse = |text: &str| toml::from_str::<MigrationSettings>(text).unwrap();
        let settings = parse("species = \"Ar\"\nhop_cutoff_a = 3.0\nhops = [[0, 13]]");
        settings.validate("stage[4]").unwrap();
        let system = crate::system::fcc(18, 4.0, 3);
        let far = (0..system.len()).find(|&j| system.displacement(0, j).norm() > 3.5).unwrap();
        let settings = parse(&format!("species = \"Ar\"\nhop_cutoff_a = 3.0\nhops = [[0, 1], [0, {far}]]"));
        let err = settings.hops_for(&system).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("hops[1] = [0, {far}]: the hop is"))
                && err.contains("longer than hop_cutoff_a = 3 Å"),
            "{err}"
        );
        let err = parse("species = \"Li\"\nhop_cutoff_a = 3.0").hops_for(&system).unwrap_err().to_string();
        assert!(err.contains("no Li hop"), "{err}");
        let err = parse("species = \"Ar\"\nhop_cutoff_a = 7.0").hops_for(&system).unwrap_err().to_string();
        assert!(err.contains("less than twice the cutoff"), "{err}");
        assert_eq!(parse("species = \"Ar\"\nhop_cutoff_a = -1.0").validate("s").unwrap_err().key, "s.hop_cutoff_a");
        assert_eq!(
            parse("species = \"Ar\"\nhop_cutoff_a = 3.0\nhops = [[2, 2]]").validate("s").unwrap_err().key,
            "s.hops[0]"
        );
        assert!(toml::from_str::<MigrationSettings>("species = \"Ar\"").is_err());
    }
}

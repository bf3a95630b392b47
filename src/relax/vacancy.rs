//! Vacancy formation energies (`kind = "vacancy"`) and symmetry-distinct sites.
//!
//! E_f = E[V] − E[bulk] + n·μ for n removed atoms of one species with chemical potential μ (eV per atom),
//! E[V] the relaxed energy of the defective cell at the bulk's (fixed) cell. μ is given as a number, or is
//! the energy per atom of a reference structure relaxed with the same potential (positions and, by
//! default, cell), or — for an elemental crystal only — the bulk energy per atom, which gives the familiar
//! E_f = E[V] − (N − n)/N · E[bulk].
//!
//! Symmetry-distinct sites ([`crate::structure::distinct_sites`]): two atoms are taken as equivalent when they
//! have the same element and the same sorted list of (neighbour element, distance) within `fingerprint_cutoff_a`,
//! distances agreeing within `fingerprint_tolerance_a`. This detects all crystallographically equivalent sites
//! (they have identical environments); distinct sites with identical radial environments up to the cutoff would
//! be merged, so the cutoff should reach a few neighbour shells.

use super::{relax, RelaxReport, RelaxSettings};
use crate::input::{join, positive, InvalidValue};
use crate::io::extxyz::{self, FrameExtras};
use crate::optimize::{minimizer_defaults, Algorithm};
use crate::potentials::Evaluator;
use crate::progress::Progress;
use crate::structure::distinct_sites;
use crate::system::{elements, System};
use anyhow::{bail, Context};
use nalgebra::Vector3;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How atoms of `species` are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// `count` atoms drawn at random (seeded) and removed together.
    #[default]
    Random,
    /// One vacancy at each symmetry-distinct site of the species, each computed separately.
    Distinct,
}

fn default_count() -> usize {
    1
}
fn default_true() -> bool {
    true
}
fn default_fingerprint_cutoff() -> f64 {
    6.0
}
fn default_fingerprint_tolerance() -> f64 {
    0.01
}

/// `[[stage]] kind = "vacancy"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VacancySettings {
    /// Atoms to remove together (0-based indices, one species); excludes `species`.
    #[serde(default)]
    pub indices: Option<Vec<usize>>,
    /// Element whose atoms are removed, chosen by `selection`; excludes `indices`.
    #[serde(default)]
    pub species: Option<String>,
    /// `"random"` (default) or `"distinct"`.
    #[serde(default)]
    pub selection: Selection,
    /// Atoms removed together with `selection = "random"`; default 1.
    #[serde(default = "default_count")]
    pub count: usize,
    /// μ of the removed species (eV/atom); excludes `reference_structure`.
    #[serde(default)]
    pub chemical_potential_ev: Option<f64>,
    /// Structure whose relaxed energy per atom is μ (only the removed species).
    #[serde(default)]
    pub reference_structure: Option<PathBuf>,
    /// Relax the reference structure's cell too; default true.
    #[serde(default = "default_true")]
    pub reference_relax_cell: bool,
    /// Relax the bulk (positions) before removing atoms; default true.
    #[serde(default = "default_true")]
    pub relax_bulk: bool,
    /// `"fire"` (default) or `"lbfgs"`.
    #[serde(default)]
    pub optimizer: Algorithm,
    /// Force tolerance of every relaxation (eV/Å); default 0.01.
    #[serde(default = "minimizer_defaults::relax_fmax")]
    pub fmax_ev_per_a: f64,
    /// Step limit of every relaxation; default 2000.
    #[serde(default = "minimizer_defaults::relax_max_steps")]
    pub max_steps: usize,
    /// Largest move of one atom per step (Å); default 0.2.
    #[serde(default = "minimizer_defaults::relax_max_step")]
    pub max_step_a: f64,
    /// Neighbour shell radius for site equivalence (Å); default 6.
    #[serde(default = "default_fingerprint_cutoff")]
    pub fingerprint_cutoff_a: f64,
    /// Distance tolerance for site equivalence (Å); default 0.01.
    #[serde(default = "default_fingerprint_tolerance")]
    pub fingerprint_tolerance_a: f64,
}

/// A site with an atom closer than this (Å) is not vacant (the `migration` stage refuses it).
pub const VACANT_RADIUS_A: f64 = 1.0;

/// Where the vacancy made at `site` (Å) is in `relaxed` (the bulk without the atoms `removed`, ascending,
/// relaxed): if an atom of `relaxed` lies within [`VACANT_RADIUS_A`] of it, that atom filled the site and left
/// its own bulk site empty; followed (each atom once) until no atom not yet followed is within the radius. The
/// result can still be occupied when the bulk itself has atoms closer than the radius (a broken structure); the
/// `migration` stage then refuses it.
pub fn relaxed_vacancy_position(
    bulk: &System,
    removed: &[usize],
    relaxed: &System,
    site: Vector3<f64>,
) -> Vector3<f64> {
    let bulk_index = |d: usize| {
        let mut b = d;
        for &r in removed {
            if r <= b {
                b += 1;
            }
        }
        b
    };
    let mut position = site;
    let mut visited = Vec::new();
    loop {
        let filler = (0..relaxed.len())
            .filter(|d| !visited.contains(d))
            .map(|d| (d, relaxed.cell.minimum_image(&(relaxed.positions[d] - position)).norm()))
            .filter(|&(_, distance)| distance < VACANT_RADIUS_A)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match filler {
            Some((d, _)) => {
                visited.push(d);
                position = bulk.positions[bulk_index(d)];
            }
            None => return position,
        }
    }
}

/// One vacancy configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct VacancyEntry {
    /// Removed atoms (indices in the bulk).
    pub removed: Vec<usize>,
    /// Their positions in the bulk (Å): the vacant sites.
    pub removed_positions_a: Vec<[f64; 3]>,
    /// Where each vacancy is after the relaxation (Å): its bulk site, unless an atom relaxed to within
    /// [`VACANT_RADIUS_A`] of it, in which case the vacancy moved to that atom's bulk site (followed until a site
    /// is left empty). A glass may have such unstable sites; a `migration` stage needs the empty one.
    pub relaxed_vacancy_positions_a: Vec<[f64; 3]>,
    pub species: String,
    /// Number of equivalent sites (`distinct`), else 1.
    pub multiplicity: usize,
    /// The sites equivalent to the removed one (`distinct`: its whole class, the removed atom included), else
    /// the removed atoms themselves.
    pub equivalent_sites: Vec<usize>,
    pub unrelaxed_energy_ev: f64,
    pub relaxed_energy_ev: f64,
    pub unrelaxed_formation_energy_ev: f64,
    pub formation_energy_ev: f64,
    pub relaxation: RelaxReport,
}

/// One vacancy configuration to relax: the atoms removed, and the sites it stands for.
struct Configuration {
    removed: Vec<usize>,
    multiplicity: usize,
    equivalent_sites: Vec<usize>,
}

impl Configuration {
    /// Removed atoms that stand only for themselves.
    fn single(removed: Vec<usize>) -> Configuration {
        Configuration { equivalent_sites: removed.clone(), removed, multiplicity: 1 }
    }
}

/// Key numbers of a vacancy stage.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct VacancyReport {
    pub bulk_energy_ev: f64,
    pub bulk_atoms: usize,
    pub chemical_potential_ev: f64,
    /// `"given"`, `"reference structure <path>"` or `"bulk energy per atom"`.
    pub chemical_potential_source: String,
    /// Formation energy of the configuration the system is left in (the lowest, for `distinct`).
    pub formation_energy_ev: f64,
    pub unrelaxed_formation_energy_ev: f64,
    /// Mean and highest formation energy over the configurations (equal to the lowest for a single one);
    /// the mean weights each distinct site by its multiplicity.
    pub mean_formation_energy_ev: f64,
    pub max_formation_energy_ev: f64,
    /// Configurations whose vacancy moved during the relaxation (an atom relaxed into the emptied site, see
    /// `relaxed_vacancy_positions_a`): unstable sites, common in a glass.
    pub moved_vacancies: usize,
    /// Every relaxation (bulk, reference, vacancies) converged.
    pub converged: bool,
    pub vacancies: Vec<VacancyEntry>,
}

crate::optimize::minimizer_keys!(VacancySettings);

impl VacancySettings {
    fn relax_settings(&self, relax_cell: bool) -> RelaxSettings {
        RelaxSettings { relax_cell, ..RelaxSettings::with_minimizer(self.minimizer()) }
    }

    /// Makes a relative `reference_structure` relative to `base` (the directory of the input file).
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(p) = &mut self.reference_structure {
            *p = base.join(&*p);
        }
    }

    /// Checks every value; `key` is the stage prefix, e.g. `stage[2]`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        self.minimizer().validate(key)?;
        positive(key, "fingerprint_cutoff_a", self.fingerprint_cutoff_a)?;
        positive(key, "fingerprint_tolerance_a", self.fingerprint_tolerance_a)?;
        match (&self.indices, &self.species) {
            (Some(_), Some(s)) => {
                return Err(InvalidValue::new(
                    join(key, "species"),
                    format!("\"{s}\""),
                    "either indices or species, not both",
                ))
            }
            (None, None) => {
                return Err(InvalidValue::new(join(key, "indices"), "(missing)", "indices = [..] or species = \"X\""))
            }
            (Some(indices), None) => {
                if indices.is_empty() {
                    return Err(InvalidValue::new(join(key, "indices"), "[]", "at least one atom index"));
                }
                let mut sorted = indices.clone();
                sorted.sort_unstable();
                if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                    return Err(InvalidValue::new(join(key, "indices"), w[0], "each index once"));
                }
            }
            (None, Some(symbol)) => {
                if elements::atomic_number(symbol).is_none() {
                    return Err(InvalidValue::new(
                        join(key, "species"),
                        format!("\"{symbol}\""),
                        "a chemical symbol such as \"Li\"",
                    ));
                }
                if self.count == 0 {
                    return Err(InvalidValue::new(join(key, "count"), 0, "a positive integer"));
                }
                if self.selection == Selection::Distinct && self.count != 1 {
                    return Err(InvalidValue::new(
                        join(key, "count"),
                        self.count,
                        "1 with selection = \"distinct\" (one vacancy per distinct site)",
                    ));
                }
            }
        }
        if self.chemical_potential_ev.is_some() && self.reference_structure.is_some() {
            return Err(InvalidValue::new(
                join(key, "reference_structure"),
                "(given)",
                "either chemical_potential_ev or reference_structure, not both",
            ));
        }
        if let Some(mu) = self.chemical_potential_ev {
            if !mu.is_finite() {
                return Err(InvalidValue::new(join(key, "chemical_potential_ev"), mu, "a finite number (eV per atom)"));
            }
        }
        Ok(())
    }

    /// The vacancy configurations to compute.
    fn configurations(&self, system: &System, seed: u64) -> anyhow::Result<Vec<Configuration>> {
        if let Some(indices) = &self.indices {
            if let Some(&bad) = indices.iter().find(|&&i| i >= system.len()) {
                bail!("indices: atom {bad} does not exist (the system has {} atoms, indices start at 0)", system.len());
            }
            let z = system.atomic_numbers[indices[0]];
            if let Some(&other) = indices.iter().find(|&&i| system.atomic_numbers[i] != z) {
                bail!(
                    "indices: atoms {} ({}) and {other} ({}) differ in species; one chemical potential needs one species",
                    indices[0],
                    elements::symbol(z),
                    system.symbol(other)
                );
            }
            return Ok(vec![Configuration::single(indices.clone())]);
        }
        let symbol = self.species.as_deref().expect("validated");
        let z = elements::atomic_number(symbol).expect("validated");
        let candidates: Vec<usize> = (0..system.len()).filter(|&i| system.atomic_numbers[i] == z).collect();
        if candidates.len() < self.count {
            bail!(
                "species = \"{symbol}\": the system has {} {symbol} atoms, fewer than count = {}",
                candidates.len(),
                self.count
            );
        }
        Ok(match self.selection {
            Selection::Random => {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                let mut chosen: Vec<usize> = candidates.choose_multiple(&mut rng, self.count).copied().collect();
                chosen.sort_unstable();
                vec![Configuration::single(chosen)]
            }
            Selection::Distinct => {
                distinct_sites(system, &candidates, self.fingerprint_cutoff_a, self.fingerprint_tolerance_a)
                    .context("fingerprint_cutoff_a")?
                    .into_iter()
                    .map(|(site, members)| Configuration {
                        removed: vec![site],
                        multiplicity: members.len(),
                        equivalent_sites: members,
                    })
                    .collect()
            }
        })
    }

    /// Computes the formation energies, leaves `system` as the relaxed vacancy configuration (the lowest
    /// formation energy for `distinct`) and writes `vacancies.csv` and `vacancy_<sites>.extxyz`.
    pub fn run(
        &self,
        system: &mut System,
        evaluator: &mut Evaluator,
        output_dir: &Path,
        seed: u64,
        quiet: bool,
    ) -> anyhow::Result<VacancyReport> {
        let configurations = self.configurations(system, seed)?;
        let removed_z = system.atomic_numbers[configurations[0].removed[0]];
        let mut bulk = system.clone();
        let (bulk_energy, bulk_converged) = self.bulk_energy(&mut bulk, evaluator)?;
        let (mu, source, reference_converged) = self.chemical_potential(&bulk, bulk_energy, removed_z, evaluator)?;
        let formation = Formation { bulk: &bulk, bulk_energy, mu, species: elements::symbol(removed_z) };
        let progress = Progress::new(quiet, configurations.len() as u64, "{bar:40} {pos}/{len} vacancies  eta {eta}");
        let results: Vec<anyhow::Result<(VacancyEntry, System)>> = configurations
            .par_iter()
            .map(|configuration| {
                let result = self.relax_configuration(&formation, configuration, &mut evaluator.clone());
                if let Ok((entry, _)) = &result {
                    progress.inc(1);
                    progress.println(progress_row(entry, configurations.len()));
                }
                result
            })
            .collect();
        progress.finish();
        let (entries, mut structures): (Vec<VacancyEntry>, Vec<System>) =
            results.into_iter().collect::<anyhow::Result<Vec<_>>>()?.into_iter().unzip();
        write_vacancies(output_dir, &entries, &structures)?;
        let all_converged =
            bulk_converged && reference_converged && entries.iter().all(|entry| entry.relaxation.converged);
        if !all_converged {
            eprintln!(
                "warning: vacancy stage: at least one relaxation did not reach fmax = {} eV/Å",
                self.fmax_ev_per_a
            );
        }
        let report = VacancyReport::new(&formation, source, entries, all_converged);
        let lowest = report.lowest();
        *system = structures.swap_remove(lowest);
        Ok(report)
    }

    /// The bulk's energy (eV), relaxed in place with `relax_bulk`, and whether that relaxation converged.
    fn bulk_energy(&self, bulk: &mut System, evaluator: &mut Evaluator) -> anyhow::Result<(f64, bool)> {
        if !self.relax_bulk {
            return Ok((evaluator.evaluate(bulk)?.energy, true));
        }
        let relaxed = relax(bulk, evaluator, &self.relax_settings(false), None)?;
        Ok((relaxed.evaluation.energy, relaxed.report.converged))
    }

    /// μ of the removed element (eV per atom): `chemical_potential_ev`, or the relaxed `reference_structure`'s
    /// energy per atom, or the bulk's when it is elemental; with where it came from and whether a reference
    /// relaxation converged.
    fn chemical_potential(
        &self,
        bulk: &System,
        bulk_energy: f64,
        removed_z: u8,
        evaluator: &Evaluator,
    ) -> anyhow::Result<(f64, String, bool)> {
        let symbol = elements::symbol(removed_z);
        match (&self.chemical_potential_ev, &self.reference_structure) {
            (Some(mu), _) => Ok((*mu, "given".to_string(), true)),
            (None, Some(path)) => {
                let mut reference = crate::io::read_structure(path)?;
                if let Some(i) = (0..reference.len()).find(|&i| reference.atomic_numbers[i] != removed_z) {
                    bail!("reference_structure {}: atom {i} is {}, but μ is wanted for {symbol}: the reference must contain only {symbol}", path.display(), reference.symbol(i));
                }
                let mut reference_evaluator = Evaluator::new(evaluator.potential().clone(), Evaluator::DEFAULT_SKIN);
                let settings = self.relax_settings(self.reference_relax_cell && reference.cell.is_fully_periodic());
                let relaxed = relax(&mut reference, &mut reference_evaluator, &settings, None)
                    .with_context(|| format!("relaxing reference_structure {}", path.display()))?;
                let mu = relaxed.evaluation.energy / reference.len() as f64;
                Ok((mu, format!("reference structure {}", path.display()), relaxed.report.converged))
            }
            (None, None) => {
                if let Some(i) = (0..bulk.len()).find(|&i| bulk.atomic_numbers[i] != removed_z) {
                    bail!("no chemical_potential_ev or reference_structure given, and the bulk is not elemental (atom {i} is {}): μ({symbol}) must be given", bulk.symbol(i));
                }
                Ok((bulk_energy / bulk.len() as f64, "bulk energy per atom".to_string(), true))
            }
        }
    }

    /// One vacancy configuration removed from the bulk and relaxed (positions only), with its formation energy
    /// E_f = E_defect − E_bulk + n·μ before and after relaxation.
    fn relax_configuration(
        &self,
        formation: &Formation,
        configuration: &Configuration,
        evaluator: &mut Evaluator,
    ) -> anyhow::Result<(VacancyEntry, System)> {
        let Configuration { removed, multiplicity, equivalent_sites } = configuration;
        let Formation { bulk, bulk_energy, mu, species } = *formation;
        let mut defect = bulk.clone();
        let mut sorted = removed.clone();
        sorted.sort_unstable();
        for &i in sorted.iter().rev() {
            defect.remove(i);
        }
        let unrelaxed = evaluator.evaluate(&defect)?.energy;
        let relaxed = relax(&mut defect, evaluator, &self.relax_settings(false), None)?;
        let n = removed.len() as f64;
        let entry = VacancyEntry {
            removed: removed.clone(),
            removed_positions_a: removed.iter().map(|&i| bulk.positions[i].into()).collect(),
            relaxed_vacancy_positions_a: removed
                .iter()
                .map(|&i| relaxed_vacancy_position(bulk, &sorted, &defect, bulk.positions[i]).into())
                .collect(),
            species: species.to_string(),
            multiplicity: *multiplicity,
            equivalent_sites: equivalent_sites.clone(),
            unrelaxed_energy_ev: unrelaxed,
            relaxed_energy_ev: relaxed.evaluation.energy,
            unrelaxed_formation_energy_ev: unrelaxed - bulk_energy + n * mu,
            formation_energy_ev: relaxed.evaluation.energy - bulk_energy + n * mu,
            relaxation: relaxed.report,
        };
        Ok((entry, defect))
    }
}

/// What every formation energy of one stage refers to: the bulk, its energy (eV) and μ of the removed species.
#[derive(Clone, Copy)]
struct Formation<'a> {
    bulk: &'a System,
    bulk_energy: f64,
    mu: f64,
    species: &'a str,
}

impl VacancyReport {
    fn new(formation: &Formation, source: String, entries: Vec<VacancyEntry>, converged: bool) -> VacancyReport {
        let weight: usize = entries.iter().map(|e| e.multiplicity).sum();
        let mean_formation_energy_ev =
            entries.iter().map(|e| e.multiplicity as f64 * e.formation_energy_ev).sum::<f64>() / weight as f64;
        let max_formation_energy_ev = entries.iter().map(|e| e.formation_energy_ev).fold(f64::NEG_INFINITY, f64::max);
        let moved_vacancies = entries
            .iter()
            .filter(|e| e.removed_positions_a.iter().zip(&e.relaxed_vacancy_positions_a).any(|(a, b)| a != b))
            .count();
        let lowest = lowest_formation_energy(&entries);
        VacancyReport {
            bulk_energy_ev: formation.bulk_energy,
            bulk_atoms: formation.bulk.len(),
            chemical_potential_ev: formation.mu,
            chemical_potential_source: source,
            formation_energy_ev: entries[lowest].formation_energy_ev,
            unrelaxed_formation_energy_ev: entries[lowest].unrelaxed_formation_energy_ev,
            mean_formation_energy_ev,
            max_formation_energy_ev,
            moved_vacancies,
            converged,
            vacancies: entries,
        }
    }

    /// Index of the configuration with the lowest formation energy.
    fn lowest(&self) -> usize {
        lowest_formation_energy(&self.vacancies)
    }
}

fn lowest_formation_energy(entries: &[VacancyEntry]) -> usize {
    (0..entries.len())
        .min_by(|&a, &b| entries[a].formation_energy_ev.total_cmp(&entries[b].formation_energy_ev))
        .expect("at least one configuration")
}

/// Writes `vacancies.csv` and every relaxed configuration as `vacancy_<removed sites>.extxyz`.
fn write_vacancies(output_dir: &Path, entries: &[VacancyEntry], structures: &[System]) -> anyhow::Result<()> {
    crate::io::create_output_dir(output_dir)?;
    let mut csv = String::from("removed,species,multiplicity,unrelaxed_energy_ev,relaxed_energy_ev,unrelaxed_formation_energy_ev,formation_energy_ev,converged,steps,force_evaluations,equivalent_sites\n");
    for (entry, defect) in entries.iter().zip(structures) {
        let removed: Vec<String> = entry.removed.iter().map(|i| i.to_string()).collect();
        writeln!(
            csv,
            "{},{},{},{:.8},{:.8},{:.8},{:.8},{},{},{},{}",
            removed.join(" "),
            entry.species,
            entry.multiplicity,
            entry.unrelaxed_energy_ev,
            entry.relaxed_energy_ev,
            entry.unrelaxed_formation_energy_ev,
            entry.formation_energy_ev,
            entry.relaxation.converged,
            entry.relaxation.steps,
            entry.relaxation.force_evaluations,
            entry.equivalent_sites.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" ")
        )
        .unwrap();
        let extras = FrameExtras {
            energy: Some(entry.relaxed_energy_ev),
            info: vec![("formation_energy_ev".into(), format!("{:.8}", entry.formation_energy_ev))],
            ..Default::default()
        };
        let name = format!("vacancy_{}.extxyz", removed.join("_"));
        crate::io::write_atomically(&output_dir.join(name), extxyz::format_frame(defect, &extras).as_bytes())?;
    }
    crate::io::write_atomically(&output_dir.join("vacancies.csv"), csv.as_bytes())?;
    Ok(())
}

/// The screen row of one finished vacancy relaxation (rows arrive in completion order; files are in site order).
fn progress_row(entry: &VacancyEntry, total: usize) -> String {
    let sites: Vec<String> = entry.removed.iter().map(|i| i.to_string()).collect();
    let relaxation = &entry.relaxation;
    format!(
        "vacancy at {} {} (of {total}): E_f = {:.4} eV (unrelaxed {:.4}), {} steps{}",
        entry.species,
        sites.join("+"),
        entry.formation_energy_ev,
        entry.unrelaxed_formation_energy_ev,
        relaxation.steps,
        if relaxation.converged { "" } else { ", NOT converged" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vacancy_filled_by_a_relaxing_neighbour_moves_to_that_neighbours_site() {
        let mut bulk = System::new(crate::system::Cell::orthorhombic(20.0, 20.0, 20.0).unwrap());
        for x in [2.0, 4.0, 6.0, 8.0] {
            bulk.push(3, Vector3::new(x, 1.0, 1.0));
        }
        // Remove atom 1 (at x = 4); in the relaxed cell atom 2 (defect index 1) sits at x = 4.3.
        let mut relaxed = bulk.clone();
        relaxed.remove(1);
        let site = bulk.positions[1];
        assert_eq!(relaxed_vacancy_position(&bulk, &[1], &relaxed, site), site);
        relaxed.positions[1].x = 4.3;
        assert_eq!(relaxed_vacancy_position(&bulk, &[1], &relaxed, site), bulk.positions[2]);
        // A chain: atom 3 then relaxes into atom 2's old site, leaving x = 8 empty.
        relaxed.positions[2].x = 6.2;
        assert_eq!(relaxed_vacancy_position(&bulk, &[1], &relaxed, site), bulk.positions[3]);
    }
    use crate::relax::tests::argon;
    use nalgebra::Vector3;

    #[test]
    fn lennard_jones_vacancy_formation_energy_matches_the_unrelaxed_pair_sum() {
        // Unrelaxed E_f for a pair potential with μ = bulk energy per atom is −E_bulk/N = −(per-atom energy),
        // an independent check; relaxation must lower it.
        let settings: VacancySettings =
            toml::from_str("species = \"Ar\"\nselection = \"distinct\"\nfmax_ev_per_a = 1e-4").unwrap();
        settings.validate("stage[1]").unwrap();
        let mut system = crate::system::fcc(18, 5.26, 3);
        let mut evaluator = Evaluator::new(argon(), 0.5);
        let per_atom = evaluator.evaluate(&system).unwrap().energy / system.len() as f64;
        let dir = tempfile::tempdir().unwrap();
        let report = settings.run(&mut system, &mut evaluator, dir.path(), 7, true).unwrap();
        assert_eq!(report.vacancies.len(), 1);
        assert_eq!(report.vacancies[0].multiplicity, 108);
        assert!(report.converged);
        assert!((report.unrelaxed_formation_energy_ev - -per_atom).abs() < 1e-6, "{report:?} vs {}", -per_atom);
        assert!(report.formation_energy_ev < report.unrelaxed_formation_energy_ev);
        assert!(report.formation_energy_ev > 0.5 * report.unrelaxed_formation_energy_ev);
        assert_eq!(system.len(), 107);
        assert!(dir.path().join("vacancy_0.extxyz").exists());
        let csv = std::fs::read_to_string(dir.path().join("vacancies.csv")).unwrap();
        assert_eq!(csv.lines().count(), 2);
    }

    #[test]
    fn distinct_sites_report_the_spread_of_formation_energies() {
        // One atom of fcc Ar pushed off its site splits the sites into classes (it relaxes back, so their E_f
        // differ only slightly); the report's mean weights each class by its multiplicity, and the system keeps
        // the lowest.
        let settings: VacancySettings =
            toml::from_str("species = \"Ar\"\nselection = \"distinct\"\nfmax_ev_per_a = 1e-3\nrelax_bulk = false")
                .unwrap();
        let mut system = crate::system::fcc(18, 5.26, 2);
        system.positions[0].x += 0.3;
        let bulk = system.clone();
        let dir = tempfile::tempdir().unwrap();
        let report = settings.run(&mut system, &mut Evaluator::new(argon(), 0.5), dir.path(), 0, true).unwrap();
        let entries = &report.vacancies;
        assert!(entries.len() > 2, "{} classes", entries.len());
        assert_eq!(entries.iter().map(|e| e.multiplicity).sum::<usize>(), 32);
        let weighted: f64 = entries.iter().map(|e| e.multiplicity as f64 * e.formation_energy_ev).sum::<f64>() / 32.0;
        let energies: Vec<f64> = entries.iter().map(|e| e.formation_energy_ev).collect();
        let lowest = energies.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = energies.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!((report.mean_formation_energy_ev - weighted).abs() < 1e-12);
        assert_eq!((report.formation_energy_ev, report.max_formation_energy_ev), (lowest, highest));
        assert!(highest > lowest, "{energies:?}");
        assert_eq!(report.moved_vacancies, 0);
        // vacancies.csv lists each class's sites, so a kMC reads an energy for every site of the crystal from
        // one row per class.
        let site_energies =
            crate::kmc::sampling::read_vacancy_energies(&dir.path().join("vacancies.csv"), &bulk, 18).unwrap();
        for entry in entries {
            assert_eq!(entry.equivalent_sites.len(), entry.multiplicity);
            for &site in &entry.equivalent_sites {
                assert!((site_energies[site] - entry.formation_energy_ev).abs() < 1e-8);
            }
        }
    }

    #[test]
    fn random_selection_is_seeded_and_mu_can_be_given() {
        let settings: VacancySettings =
            toml::from_str("species = \"Ar\"\ncount = 2\nchemical_potential_ev = -0.05\nrelax_bulk = false").unwrap();
        settings.validate("stage[1]").unwrap();
        let bulk = crate::system::fcc(18, 5.26, 2);
        let run = |seed| {
            let mut system = bulk.clone();
            let dir = tempfile::tempdir().unwrap();
            settings.run(&mut system, &mut Evaluator::new(argon(), 0.5), dir.path(), seed, true).unwrap()
        };
        let (a, b, c) = (run(1), run(1), run(2));
        assert_eq!(a.vacancies[0].removed, b.vacancies[0].removed);
        assert_eq!(a.vacancies[0].removed.len(), 2);
        let first = a.vacancies[0].removed[0];
        assert_eq!(a.vacancies[0].removed_positions_a[0], <[f64; 3]>::from(bulk.positions[first]));
        assert_ne!(a.vacancies[0].removed, c.vacancies[0].removed);
        let e = &a.vacancies[0];
        assert!((e.formation_energy_ev - (e.relaxed_energy_ev - a.bulk_energy_ev + 2.0 * -0.05)).abs() < 1e-12);
        assert_eq!(a.chemical_potential_source, "given");
    }

    #[test]
    fn chemical_potential_from_a_reference_structure_is_its_relaxed_energy_per_atom() {
        let dir = tempfile::tempdir().unwrap();
        // A strained fcc cell: relaxing positions and cell must bring it to the equilibrium energy per atom.
        let reference = crate::system::fcc(18, 5.5, 2);
        let path = dir.path().join("reference.extxyz");
        std::fs::write(&path, extxyz::format_frame(&reference, &FrameExtras::default())).unwrap();
        let mut settings: VacancySettings =
            toml::from_str("indices = [0]\nreference_structure = \"reference.extxyz\"\nfmax_ev_per_a = 1e-5").unwrap();
        settings.validate("stage[1]").unwrap();
        settings.resolve_paths(dir.path());
        let mut system = crate::system::fcc(18, 5.26, 2);
        let report = settings.run(&mut system, &mut Evaluator::new(argon(), 0.5), dir.path(), 0, true).unwrap();
        let mut expected = crate::system::fcc(18, 5.5, 2);
        let cell_settings = RelaxSettings { relax_cell: true, fmax_ev_per_a: 1e-5, ..Default::default() };
        let relaxed = relax(&mut expected, &mut Evaluator::new(argon(), 0.5), &cell_settings, None).unwrap();
        let mu = relaxed.evaluation.energy / 32.0;
        assert!((report.chemical_potential_ev - mu).abs() < 1e-7, "{} vs {mu}", report.chemical_potential_ev);
        assert!(
            report.chemical_potential_ev < Evaluator::new(argon(), 0.5).evaluate(&reference).unwrap().energy / 32.0
        );
        assert!(report.chemical_potential_source.starts_with("reference structure"));
        // A reference holding another element is refused.
        let mut mixed = reference.clone();
        mixed.atomic_numbers[3] = 36;
        std::fs::write(&path, extxyz::format_frame(&mixed, &FrameExtras::default())).unwrap();
        let err = settings
            .run(&mut crate::system::fcc(18, 5.26, 2), &mut Evaluator::new(argon(), 0.5), dir.path(), 0, true)
            .unwrap_err();
        assert!(err.to_string().contains("atom 3 is Kr, but μ is wanted for Ar"), "{err}");
    }

    #[test]
    fn bad_vacancy_input_is_reported() {
        let parse = |text: &str| toml::from_str::<VacancySettings>(text).unwrap();
        let err = parse("indices = [1]\nspecies = \"Li\"").validate("stage[2]").unwrap_err();
        assert_eq!(err.key, "stage[2].species");
        assert_eq!(
            parse("species = \"Xx\"").validate("s").unwrap_err().to_string(),
            "s.species = \"Xx\": expected a chemical symbol such as \"Li\""
        );
        assert_eq!(parse("indices = [3, 3]").validate("s").unwrap_err().key, "s.indices");
        assert!(parse("").validate("s").is_err());
        assert!(toml::from_str::<VacancySettings>("specie = \"Li\"").is_err());
        let mut system = crate::system::fcc(18, 5.26, 2);
        let err = parse("indices = [99]")
            .run(&mut system, &mut Evaluator::new(argon(), 0.5), Path::new("/nonexistent"), 0, true)
            .unwrap_err();
        assert!(err.to_string().contains("atom 99 does not exist (the system has 32 atoms"), "{err}");
    }
}

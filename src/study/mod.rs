//! The study runner: `mdrun STUDY.toml` loads `[system]`, builds `[potential]`, runs each `[[stage]]` in order
//! on one [`System`], and records every stage's key numbers in `summary.json` (rewritten atomically after each
//! stage, so a failure leaves everything done before it on disk, and says which stage failed).
//!
//! Output layout: `OUTPUT/summary.json` and one folder per stage, `OUTPUT/NN-kind/` (e.g. `00-md/`) holding
//! that stage's files (thermo CSV, trajectories, profiles, plots).

pub mod fingerprint;
pub mod report;
pub mod settings;
pub mod stages;
pub mod structure_stages;

use crate::io::{self, extxyz};
use crate::neighbors::NeighborList;
use crate::potentials::{check_species, Evaluator, Potential, PotentialSettings};
use crate::system::{elements, System};
use anyhow::{bail, Context, Result};
use fingerprint::StudyFingerprint;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use settings::SystemSettings;
use stages::{StageContext, StageEnd, StageKind, StageResult};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Atoms closer than this (Å) are reported as overlapping: no potential is meant to start from there.
pub const OVERLAP_DISTANCE_A: f64 = 0.5;

/// Options of one run that do not belong in the study file.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Output folder.
    pub output: PathBuf,
    /// Hide progress bars and the thermo table.
    pub quiet: bool,
    /// Continue an interrupted run in `output`: completed stages are kept (the system is reloaded from the last
    /// one's `final.xyz`), an MD stage with a checkpoint resumes from it, later stages run.
    pub restart: bool,
    /// Interrupt an MD stage once it has done this many steps, as a job killed by a wall-clock limit would be
    /// (its checkpoints stay; `restart` continues it). The run stops there.
    pub stop_after_step: Option<u64>,
}

/// File each completed stage leaves in its folder: the system as the stage left it (extended XYZ with
/// velocities, image flags and masses), from which a restart continues.
pub const FINAL_STRUCTURE: &str = "final.xyz";

/// Builds the potential described by `[potential]`.
pub fn build_potential(settings: &PotentialSettings) -> Result<Arc<dyn Potential>> {
    settings.build()
}

/// The most atoms a study's system may have after `supercell`: 10⁸ atoms take ~10 GB before any neighbour list.
pub const MAX_ATOMS: usize = 100_000_000;

/// Reads the structure of `[system]` (an n2p2 `input.data` in the units of `potential`), replicates it and
/// applies mass overrides, then rejects structures no simulation should start from (overlapping atoms).
/// Errors in the keys of `[system]` name `study_file`.
pub fn load_system(study_file: &Path, settings: &SystemSettings, potential: &PotentialSettings) -> Result<System> {
    let mut system = io::read_structure_in(&settings.structure, potential.data_length_unit_a())?;
    if settings.supercell != [1, 1, 1] {
        if system.cell.is_infinite() {
            bail!(
                "{}: system.supercell = {:?}: the structure {} has no cell to repeat",
                study_file.display(),
                settings.supercell,
                settings.structure.display()
            );
        }
        let atoms = crate::system::replicated_count(system.len(), settings.supercell);
        if atoms > MAX_ATOMS as u128 {
            bail!(
                "{}: system.supercell = {:?}: {} atoms of {} repeated give {atoms} atoms, more than the {MAX_ATOMS:e} \
                 a study may hold",
                study_file.display(),
                settings.supercell,
                system.len(),
                settings.structure.display()
            );
        }
        system = system.supercell(settings.supercell);
    }
    for (symbol, &mass) in &settings.masses {
        let z = elements::atomic_number(symbol).expect("validated element symbol");
        if !system.atomic_numbers.contains(&z) {
            eprintln!(
                "warning: {}: system.masses.{symbol} = {mass} amu: {} has no {symbol} atom, so the mass is not used",
                study_file.display(),
                settings.structure.display()
            );
        }
        for (m, _) in system.masses.iter_mut().zip(&system.atomic_numbers).filter(|(_, &zi)| zi == z) {
            *m = mass;
        }
    }
    check_overlaps(&system).with_context(|| format!("{}", settings.structure.display()))?;
    Ok(system)
}

/// Fails if two atoms (or an atom and its own periodic image) are closer than [`OVERLAP_DISTANCE_A`], or if a
/// periodic cell is narrower than that along a lattice direction (a nearly flat or singular cell).
pub fn check_overlaps(system: &System) -> Result<()> {
    if !system.cell.is_infinite() {
        let widths = system.cell.perpendicular_widths();
        let periodic = system.cell.periodic();
        if let Some(k) = (0..3).find(|&k| periodic[k] && (widths[k].is_nan() || widths[k] < OVERLAP_DISTANCE_A)) {
            bail!(
                "the cell is {:.3e} Å wide along {} (its height over the plane of the other two lattice vectors), \
                 less than the {OVERLAP_DISTANCE_A} Å allowed between atoms: a nearly flat or singular cell",
                widths[k],
                ["a", "b", "c"][k]
            );
        }
    }
    let mut list = NeighborList::new(OVERLAP_DISTANCE_A, 0.0);
    list.build(system)?;
    for i in 0..system.len() {
        for (&j, shift) in list.indices(i).iter().zip(list.shifts(i)) {
            let d = (system.positions[j as usize] - system.positions[i] + shift).norm();
            if d < OVERLAP_DISTANCE_A {
                bail!(
                    "atoms {} ({}) and {} ({}) are {:.4} Å apart, closer than {} Å: overlapping atoms",
                    i + 1,
                    system.symbol(i),
                    j + 1,
                    system.symbol(j as usize),
                    d,
                    OVERLAP_DISTANCE_A
                );
            }
        }
    }
    Ok(())
}

/// Seed of stage `index` derived from the study seed (SplitMix64 of seed and index), so that adding a
/// stage does not change the random numbers of the stages before it.
pub fn stage_seed(seed: u64, index: usize) -> u64 {
    let mut z = seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How a stage ended, as summary.json says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    Completed,
    /// Stopped with a checkpoint (`--stop-after-step`); `--restart` continues it.
    Interrupted,
    Failed,
}

/// One stage's entry in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct StageRecord {
    pub index: usize,
    pub kind: StageKind,
    /// The stage's folder in the run directory, `NN-kind`.
    pub directory: String,
    pub status: StageStatus,
    pub wall_time_s: f64,
    /// The stage's report (none for a failed stage), written with its keys in alphabetical order.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "keys_sorted")]
    pub result: Option<StageResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Serialises `value` through a JSON tree, whose maps keep their keys in alphabetical order.
fn keys_sorted<T: Serialize, S: serde::Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(value).map_err(serde::ser::Error::custom)?.serialize(serializer)
}

/// Everything a run produced, as written to summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub mdrun_version: String,
    pub input: String,
    pub output: String,
    pub seed: u64,
    pub threads: usize,
    pub system: SystemDescription,
    pub potential: PotentialDescription,
    /// Hashes of what the run depends on; `--restart` refuses a run folder whose fingerprint differs.
    pub fingerprint: StudyFingerprint,
    pub stages: Vec<StageRecord>,
}

/// A short description of a system for summary.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemDescription {
    pub atoms: usize,
    /// Cell vectors as rows (Å).
    pub cell_a: [[f64; 3]; 3],
    /// Atom count per element symbol.
    pub composition: BTreeMap<String, usize>,
    pub density_g_per_cm3: Option<f64>,
    pub volume_a3: f64,
}

/// The study's potential, for summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct PotentialDescription {
    pub cutoff_a: f64,
    pub kind: String,
    pub species: Vec<String>,
}

impl Summary {
    fn write(&self, output: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        io::write_atomically(&output.join("summary.json"), text.as_bytes())?;
        Ok(())
    }
}

/// A short description of a system for summary.json.
pub fn describe_system(system: &System) -> SystemDescription {
    let composition =
        system.species().into_iter().map(|z| (elements::symbol(z).to_string(), system.count(z))).collect();
    let m = system.cell.matrix();
    SystemDescription {
        atoms: system.len(),
        cell_a: [0, 1, 2].map(|r| [0, 1, 2].map(|c| m[(r, c)])),
        composition,
        density_g_per_cm3: structure_stages::density_g_per_cm3(system),
        volume_a3: system.cell.volume(),
    }
}

/// Runs a study file. A potential that serves more evaluations at once than there are threads (k socket
/// clients) gets a thread pool of that size, so that k clients work on k NEB images or relaxations at once.
pub fn run(path: &Path, options: &RunOptions) -> Result<Summary> {
    let output =
        std::path::absolute(&options.output).with_context(|| format!("output folder {}", options.output.display()))?;
    let study = settings::load(path, &output)?;
    match study.potential.concurrency().filter(|&k| k > rayon::current_num_threads()) {
        Some(threads) => rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .context("cannot start a thread per socket client")?
            .install(|| run_study(path, options, &output, study)),
        None => run_study(path, options, &output, study),
    }
}

fn run_study(path: &Path, options: &RunOptions, output: &Path, study: settings::StudyFile) -> Result<Summary> {
    let mut system = load_system(path, &study.system, &study.potential)?;
    let potential = build_potential(&study.potential).with_context(|| format!("{}", path.display()))?;
    check_species(potential.as_ref(), &system).with_context(|| format!("{}", study.system.structure.display()))?;
    std::fs::create_dir_all(&options.output)
        .with_context(|| format!("cannot create the output folder {}", options.output.display()))?;
    let fingerprint = StudyFingerprint::of(path, &study, output)?;
    let previous = if options.restart { previous_stages(&options.output, &study, &fingerprint)? } else { Vec::new() };
    let mut evaluator = Evaluator::new(potential.clone(), study.system.neighbor_skin_a);
    let mut summary = Summary {
        mdrun_version: env!("CARGO_PKG_VERSION").into(),
        input: path.display().to_string(),
        output: options.output.display().to_string(),
        seed: study.system.seed,
        threads: rayon::current_num_threads(),
        system: describe_system(&system),
        potential: PotentialDescription {
            cutoff_a: potential.cutoff(),
            kind: potential.name().to_string(),
            species: potential.species().iter().map(|&z| elements::symbol(z).to_string()).collect(),
        },
        fingerprint,
        stages: Vec::new(),
    };
    summary.write(&options.output)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut last_trajectory: Option<PathBuf> = None;
    for (index, stage) in study.stages.iter().enumerate() {
        let kind = stage.kind();
        let stage_dir = options.output.join(stage_directory(index, kind));
        let done = previous.get(index).filter(|r| r.status == StageStatus::Completed && r.kind == kind);
        let restored = done.map(|record| restore(record, &stage_dir, options)).transpose()?.flatten();
        if let Some((restored_system, record)) = restored {
            system = restored_system;
            summary.stages.push(record);
            summary.write(&options.output)?;
        } else {
            crate::io::create_output_dir(&stage_dir)?;
            if !options.quiet {
                println!("== stage {index} ({kind}) -> {}", stage_dir.display());
            }
            let mut context = StageContext {
                system: &mut system,
                evaluator: &mut evaluator,
                stage_dir: &stage_dir,
                base,
                output: &options.output,
                seed: stage_seed(study.system.seed, index),
                options,
                last_trajectory: last_trajectory.as_deref(),
                records: &summary.stages,
            };
            let started = Instant::now();
            let outcome = stage.run(&mut context);
            let record = StageRecord {
                index,
                kind,
                directory: stage_directory(index, kind),
                status: StageStatus::Completed,
                wall_time_s: started.elapsed().as_secs_f64(),
                result: None,
                error: None,
            };
            if !record_outcome(outcome, record, &system, &stage_dir, &mut summary, options)? {
                return Ok(summary);
            }
        }
        last_trajectory = trajectory_of(&stage_dir).or(last_trajectory);
    }
    Ok(summary)
}
/// A stage's folder in the run folder: `NN-kind`, e.g. `02-md`.
fn stage_directory(index: usize, kind: StageKind) -> String {
    format!("{index:02}-{kind}")
}

/// The system a stage completed in an earlier run left (its [`FINAL_STRUCTURE`]) with that stage's record, or
/// none when the file is gone (the stage then runs again).
fn restore(record: &StageRecord, stage_dir: &Path, options: &RunOptions) -> Result<Option<(System, StageRecord)>> {
    let final_structure = stage_dir.join(FINAL_STRUCTURE);
    if !final_structure.exists() {
        return Ok(None);
    }
    let system = extxyz::read_frames(&final_structure)?.swap_remove(0).system;
    if !options.quiet {
        println!(
            "== stage {} ({}) completed earlier: continuing from {}",
            record.index,
            record.kind,
            final_structure.display()
        );
    }
    Ok(Some((system, record.clone())))
}

/// Records how a stage ended in the summary (written at once) and says whether the run goes on: a completed
/// stage leaves its [`FINAL_STRUCTURE`]; an interrupted one stops the run; a failed one is the run's error.
fn record_outcome(
    outcome: Result<StageEnd<StageResult>>,
    mut record: StageRecord,
    system: &System,
    stage_dir: &Path,
    summary: &mut Summary,
    options: &RunOptions,
) -> Result<bool> {
    let (index, kind) = (record.index, record.kind);
    let continues = match outcome {
        Ok(StageEnd::Completed(result)) => {
            write_final_structure(system, stage_dir)?;
            record.result = Some(result);
            true
        }
        Ok(StageEnd::Interrupted(result)) => {
            record.status = StageStatus::Interrupted;
            record.result = Some(result);
            if !options.quiet {
                println!("stage {index} ({kind}) interrupted: continue with --restart");
            }
            false
        }
        Err(error) => {
            record.status = StageStatus::Failed;
            record.error = Some(format!("{error:#}"));
            summary.stages.push(record);
            summary.write(&options.output)?;
            return Err(error.context(format!("stage {index} ({kind}) failed")));
        }
    };
    summary.stages.push(record);
    summary.write(&options.output)?;
    Ok(continues)
}

/// Writes [`FINAL_STRUCTURE`] (with velocities, image flags and masses) into a completed stage's folder.
fn write_final_structure(system: &System, stage_dir: &Path) -> Result<()> {
    let extras = extxyz::FrameExtras { velocities: true, images: true, masses: true, ..Default::default() };
    let text = extxyz::format_frame(system, &extras);
    io::write_atomically(&stage_dir.join(FINAL_STRUCTURE), text.as_bytes())?;
    Ok(())
}

/// A stage's entry of an earlier run's summary.json, as read back for a restart.
#[derive(Deserialize)]
struct RecordedStage {
    index: usize,
    kind: StageKind,
    directory: String,
    status: StageStatus,
    wall_time_s: f64,
    #[serde(default)]
    result: Option<Value>,
}

/// The stage records of an earlier run's summary.json in `output` (none if there is no such file), with the
/// results of completed stages read back as their kinds' reports. Refuses a run folder that another study
/// made (its recorded fingerprint differs from `fingerprint` in a part a begun stage depends on).
fn previous_stages(
    output: &Path,
    study: &settings::StudyFile,
    fingerprint: &StudyFingerprint,
) -> Result<Vec<StageRecord>> {
    #[derive(Deserialize)]
    struct Recorded {
        fingerprint: Option<StudyFingerprint>,
        stages: Vec<RecordedStage>,
    }
    let path = output.join("summary.json");
    let begun = study
        .stages
        .iter()
        .enumerate()
        .filter(|(index, stage)| output.join(stage_directory(*index, stage.kind())).exists())
        .map(|(index, _)| index + 1)
        .max()
        .unwrap_or(0);
    if !path.exists() {
        if begun > 0 {
            bail!("{}: missing, so the stage folders in {} cannot be checked against the study: run again without --restart", path.display(), output.display());
        }
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let recorded: Recorded = serde_json::from_str(&text)
        .with_context(|| format!("{}: not the summary.json of a study run", path.display()))?;
    let recorded_fingerprint = recorded.fingerprint.with_context(|| {
        format!("{}: no fingerprint (written by an older mdrun), so the run cannot be checked against the study: run again without --restart", path.display())
    })?;
    recorded_fingerprint.check_continued_by(fingerprint, begun.max(recorded.stages.len())).map_err(|change| {
        anyhow::anyhow!(
            "{}: the run in {} belongs to a different study: {change} since it ran; run again without --restart, or into another folder (--output)",
            path.display(),
            output.display()
        )
    })?;
    recorded
        .stages
        .into_iter()
        .map(|stage| {
            let expected = stage_directory(stage.index, stage.kind);
            if stage.directory != expected {
                bail!(
                    "{}: stage {} ({}) has directory \"{}\": expected its own folder \"{expected}\" in the run folder",
                    path.display(),
                    stage.index,
                    stage.kind,
                    stage.directory
                );
            }
            let result = match (stage.status, stage.result) {
                (StageStatus::Completed, Some(value)) => {
                    Some(StageResult::from_json(stage.kind, value).with_context(|| {
                        format!("{}: stage {} ({}): result", path.display(), stage.index, stage.kind)
                    })?)
                }
                _ => None,
            };
            Ok(StageRecord {
                index: stage.index,
                kind: stage.kind,
                directory: stage.directory,
                status: stage.status,
                wall_time_s: stage.wall_time_s,
                result,
                error: None,
            })
        })
        .collect()
}

/// The trajectory a stage wrote, if any (H5MD preferred over extended XYZ).
fn trajectory_of(stage_dir: &Path) -> Option<PathBuf> {
    ["trajectory.h5", "trajectory.xyz"].iter().map(|name| stage_dir.join(name)).find(|p| p.exists())
}

/// A structure as extended XYZ with `energy=` (eV), `stress=` (eV/Å³, 9 components, ASE sign; omitted for
/// non-periodic systems), per-atom `forces` (eV/Å) and per-atom `energies` (eV, summing to `energy`): the output of
/// `mdrun eval`.
pub fn format_evaluated(system: &System, evaluation: &crate::potentials::Evaluation) -> String {
    let volume = system.cell.volume();
    extxyz::format_frame(
        system,
        &extxyz::FrameExtras {
            energy: Some(evaluation.energy),
            stress: evaluation.stress(volume).filter(|_| volume > 0.0 && system.cell.is_fully_periodic()),
            forces: Some(&evaluation.forces),
            atom_energies: (!evaluation.atom_energies.is_empty()).then_some(evaluation.atom_energies.as_slice()),
            ..Default::default()
        },
    )
}

/// `mdrun eval`: the potential of a study (or potential-only) file applied to one structure.
pub fn evaluate_structure(input: &Path, structure: &Path) -> Result<String> {
    let settings = settings::load_potential(input)?;
    let potential = build_potential(&settings).with_context(|| format!("{}", input.display()))?;
    let system = io::read_structure_in(structure, settings.data_length_unit_a())?;
    check_species(potential.as_ref(), &system).with_context(|| format!("{}", structure.display()))?;
    let mut evaluator = Evaluator::new(potential, 0.0);
    let evaluation = evaluator.evaluate(&system)?;
    Ok(format_evaluated(&system, &evaluation))
}

/// `mdrun analyze FILE.toml`: the keys of an `analyze` stage at the top level of FILE.toml (no `kind`), applied to
/// the trajectories it lists (paths relative to FILE.toml's folder); results into `output`.
pub fn analyze_file(path: &Path, output: &Path) -> Result<Value> {
    let settings: crate::analysis::AnalyzeSettings = crate::input::read_toml(path)?;
    settings.validate("").with_context(|| format!("{}", path.display()))?;
    std::fs::create_dir_all(output).with_context(|| format!("cannot create the output folder {}", output.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let report = settings.run(base, None, output)?;
    Ok(serde_json::to_value(report)?)
}

/// `mdrun train FILE.toml`: trains a Behler–Parrinello potential (docs/train.md); data paths relative to
/// FILE.toml's folder; the n2p2-format potential(s), learning curves and parity plots go into `output`, with the
/// report in `output/summary.json`.
pub fn train_file(path: &Path, output: &Path) -> Result<Value> {
    let mut settings: crate::train::TrainSettings = crate::input::read_toml(path)?;
    settings.validate("").with_context(|| format!("{}", path.display()))?;
    settings.verbose = true;
    std::fs::create_dir_all(output).with_context(|| format!("cannot create the output folder {}", output.display()))?;
    let report = serde_json::to_value(settings.run(path.parent().unwrap_or(Path::new(".")), output)?)?;
    io::write_atomically(&output.join("summary.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    Ok(report)
}

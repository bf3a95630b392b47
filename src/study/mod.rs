//! The study runner: `mdrun STUDY.toml` loads `[system]`, builds `[potential]`, runs each `[[stage]]` in order
//! on one [`System`], and records every stage's key numbers in `summary.json` (rewritten atomically after each
//! stage, so a failure leaves everything done before it on disk, and says which stage failed).
//!
//! Output layout: `OUTPUT/summary.json` and one folder per stage, `OUTPUT/NN-kind/` (e.g. `00-md/`) holding
//! that stage's files (thermo CSV, trajectories, profiles, plots).

pub mod report;
pub mod settings;
pub mod structure_stages;

use crate::io::{self, extxyz};
use crate::md::RunControl;
use crate::neighbors::NeighborList;
use crate::potentials::{
    check_species, eam::Eam, lj::LennardJones, nnp::NnpPotential, overlay::Overlay, zbl::Zbl, Evaluator, Potential,
};
use crate::system::{elements, System};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use settings::{PotentialSettings, SinglePointSettings, StageSettings, SystemSettings};
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

/// How a stage ended.
enum StageEnd {
    Completed(Value),
    Interrupted(Value),
}

/// File each completed stage leaves in its folder: the system as the stage left it (extended XYZ with
/// velocities, image flags and masses), from which a restart continues.
pub const FINAL_STRUCTURE: &str = "final.xyz";

/// Builds the potential described by `[potential]`.
pub fn build_potential(settings: &PotentialSettings) -> Result<Arc<dyn Potential>> {
    build_potential_at(settings, "potential")
}

/// [`build_potential`] for the table at `key` (`potential.terms[0]` inside an overlay).
fn build_potential_at(settings: &PotentialSettings, key: &str) -> Result<Arc<dyn Potential>> {
    Ok(match settings {
        PotentialSettings::Lj(config) => Arc::new(LennardJones::from_config(config)?),
        PotentialSettings::Eam(config) => Arc::new(Eam::from_config(config, key)?),
        PotentialSettings::Nnp(config) => Arc::new(NnpPotential::load(config)?),
        PotentialSettings::Zbl(config) => Arc::new(Zbl::from_config(config, key)?),
        PotentialSettings::Overlay(config) => Arc::new(Overlay::new(
            config
                .terms
                .iter()
                .enumerate()
                .map(|(index, term)| build_potential_at(term, &format!("{key}.terms[{index}]")))
                .collect::<Result<_>>()?,
        )),
    })
}

/// Reads the structure of `[system]`, replicates it and applies mass overrides, then rejects structures no
/// simulation should start from (overlapping atoms).
pub fn load_system(settings: &SystemSettings) -> Result<System> {
    let mut system = io::read_structure(&settings.structure)?;
    if settings.supercell != [1, 1, 1] {
        if system.cell.is_infinite() {
            bail!(
                "system.supercell = {:?}: the structure {} has no cell to repeat",
                settings.supercell,
                settings.structure.display()
            );
        }
        system = system.supercell(settings.supercell);
    }
    for (symbol, &mass) in &settings.masses {
        let z = elements::atomic_number(symbol).expect("validated element symbol");
        for (m, _) in system.masses.iter_mut().zip(&system.atomic_numbers).filter(|(_, &zi)| zi == z) {
            *m = mass;
        }
    }
    check_overlaps(&system).with_context(|| format!("{}", settings.structure.display()))?;
    Ok(system)
}

/// Fails if two atoms (or an atom and its own periodic image) are closer than [`OVERLAP_DISTANCE_A`].
pub fn check_overlaps(system: &System) -> Result<()> {
    let mut list = NeighborList::new(OVERLAP_DISTANCE_A, 0.0);
    list.build(system);
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

/// One stage's entry in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct StageRecord {
    pub index: usize,
    pub kind: String,
    pub directory: String,
    pub status: String,
    pub wall_time_s: f64,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub result: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything a run produced, as written to summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub mdrun_version: String,
    pub input: String,
    pub output: String,
    pub seed: u64,
    pub threads: usize,
    pub system: Value,
    pub potential: Value,
    pub stages: Vec<StageRecord>,
}

impl Summary {
    fn write(&self, output: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        io::write_atomically(&output.join("summary.json"), text.as_bytes())?;
        Ok(())
    }
}

/// A short description of a system for summary.json.
pub fn describe_system(system: &System) -> Value {
    let mut composition = BTreeMap::new();
    for z in system.species() {
        composition.insert(elements::symbol(z), system.count(z));
    }
    let m = system.cell.matrix();
    json!({
        "atoms": system.len(),
        "composition": composition,
        "cell_a": (0..3).map(|r| (0..3).map(|c| m[(r, c)]).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "volume_a3": system.cell.volume(),
        "density_g_per_cm3": structure_stages::density_g_per_cm3(system),
    })
}

/// Runs a study file.
pub fn run(path: &Path, options: &RunOptions) -> Result<Summary> {
    let output =
        std::path::absolute(&options.output).with_context(|| format!("output folder {}", options.output.display()))?;
    let study = settings::load(path, &output)?;
    let mut system = load_system(&study.system)?;
    let potential = build_potential(&study.potential).with_context(|| format!("{}", path.display()))?;
    check_species(potential.as_ref(), &system).with_context(|| format!("{}", study.system.structure.display()))?;
    std::fs::create_dir_all(&options.output)
        .with_context(|| format!("cannot create the output folder {}", options.output.display()))?;
    let previous = if options.restart { previous_stages(&options.output)? } else { Vec::new() };
    let mut evaluator = Evaluator::new(potential.clone(), study.system.neighbor_skin_a);
    let mut summary = Summary {
        mdrun_version: env!("CARGO_PKG_VERSION").into(),
        input: path.display().to_string(),
        output: options.output.display().to_string(),
        seed: study.system.seed,
        threads: rayon::current_num_threads(),
        system: describe_system(&system),
        potential: json!({ "kind": potential.name(), "cutoff_a": potential.cutoff(),
            "species": potential.species().iter().map(|&z| elements::symbol(z)).collect::<Vec<_>>() }),
        stages: Vec::new(),
    };
    summary.write(&options.output)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut last_trajectory: Option<PathBuf> = None;
    for (index, stage) in study.stages.iter().enumerate() {
        let directory = format!("{index:02}-{}", stage.kind());
        let stage_dir = options.output.join(&directory);
        if let Some(done) = previous.get(index).filter(|r| r.status == "completed" && r.kind == stage.kind()) {
            let final_structure = stage_dir.join(FINAL_STRUCTURE);
            if final_structure.exists() {
                system = extxyz::read_frames(&final_structure)?.swap_remove(0).system;
                if !options.quiet {
                    println!(
                        "== stage {index} ({}) completed earlier: continuing from {}",
                        stage.kind(),
                        final_structure.display()
                    );
                }
                last_trajectory = trajectory_of(&stage_dir).or(last_trajectory);
                summary.stages.push(done.clone());
                continue;
            }
        }
        std::fs::create_dir_all(&stage_dir).with_context(|| format!("cannot create {}", stage_dir.display()))?;
        if !options.quiet {
            println!("== stage {index} ({}) -> {}", stage.kind(), stage_dir.display());
        }
        let started = Instant::now();
        let context = StageContext {
            stage_dir: &stage_dir,
            base,
            seed: stage_seed(study.system.seed, index),
            options,
            last_trajectory: last_trajectory.as_deref(),
            records: &summary.stages,
            output: &options.output,
            potential: potential.as_ref(),
        };
        let outcome = run_stage(stage, &mut system, &mut evaluator, &context);
        let mut record = StageRecord {
            index,
            kind: stage.kind().into(),
            directory,
            status: "completed".into(),
            wall_time_s: started.elapsed().as_secs_f64(),
            result: Value::Null,
            error: None,
        };
        match outcome {
            Ok(StageEnd::Interrupted(result)) => {
                record.status = "interrupted".into();
                record.result = result;
                summary.stages.push(record);
                summary.write(&options.output)?;
                if !options.quiet {
                    println!("stage {index} ({}) interrupted: continue with --restart", stage.kind());
                }
                return Ok(summary);
            }
            Ok(StageEnd::Completed(result)) => {
                let text = extxyz::format_frame(
                    &system,
                    &extxyz::FrameExtras { velocities: true, images: true, masses: true, ..Default::default() },
                );
                io::write_atomically(&stage_dir.join(FINAL_STRUCTURE), text.as_bytes())?;
                last_trajectory = trajectory_of(&stage_dir).or(last_trajectory);
                record.result = result;
                summary.stages.push(record);
                summary.write(&options.output)?;
            }
            Err(error) => {
                record.status = "failed".into();
                record.error = Some(format!("{error:#}"));
                summary.stages.push(record);
                summary.write(&options.output)?;
                return Err(error.context(format!("stage {index} ({}) failed", stage.kind())));
            }
        }
    }
    Ok(summary)
}

/// The stage records of an earlier run's summary.json in `output` (none if there is no such file).
fn previous_stages(output: &Path) -> Result<Vec<StageRecord>> {
    let path = output.join("summary.json");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))?;
    let stages = value.get("stages").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(stages
        .into_iter()
        .filter_map(|s| {
            Some(StageRecord {
                index: s.get("index")?.as_u64()? as usize,
                kind: s.get("kind")?.as_str()?.to_string(),
                directory: s.get("directory")?.as_str()?.to_string(),
                status: s.get("status")?.as_str()?.to_string(),
                wall_time_s: s.get("wall_time_s")?.as_f64()?,
                result: s.get("result").cloned().unwrap_or(Value::Null),
                error: None,
            })
        })
        .collect())
}

/// The trajectory a stage wrote, if any (H5MD preferred over extended XYZ).
fn trajectory_of(stage_dir: &Path) -> Option<PathBuf> {
    ["trajectory.h5", "trajectory.xyz"].iter().map(|name| stage_dir.join(name)).find(|p| p.exists())
}

/// What every stage gets besides the system and the evaluator.
struct StageContext<'a> {
    /// The stage's own output folder.
    stage_dir: &'a Path,
    /// The study file's folder, against which relative paths in stage settings are resolved.
    base: &'a Path,
    seed: u64,
    options: &'a RunOptions,
    /// The trajectory written by the latest stage that wrote one.
    last_trajectory: Option<&'a Path>,
    /// The stages completed before this one, as in summary.json.
    records: &'a [StageRecord],
    /// The run's output folder.
    output: &'a Path,
    potential: &'a dyn Potential,
}

fn run_stage(
    stage: &StageSettings,
    system: &mut System,
    evaluator: &mut Evaluator,
    context: &StageContext,
) -> Result<StageEnd> {
    let dir = context.stage_dir;
    let control = RunControl { quiet: context.options.quiet, stop_after_step: context.options.stop_after_step };
    Ok(StageEnd::Completed(match stage {
        StageSettings::SinglePoint(settings) => single_point(settings, system, evaluator, dir)?,
        StageSettings::Md(settings) => {
            let checkpoint = dir.join(crate::md::run::CHECKPOINT_FILE);
            let report = if context.options.restart && checkpoint.exists() {
                if !context.options.quiet {
                    println!("resuming from {}", checkpoint.display());
                }
                settings.resume(&checkpoint, system, evaluator, dir, control)?
            } else {
                settings.run(system, evaluator, dir, context.seed, control)?
            };
            if report.interrupted {
                return Ok(StageEnd::Interrupted(serde_json::to_value(report)?));
            }
            serde_json::to_value(report)?
        }
        StageSettings::Relax(settings) => serde_json::to_value(settings.run(system, evaluator, dir, context.seed)?)?,
        StageSettings::Vacancy(settings) => {
            serde_json::to_value(settings.run(system, evaluator, dir, context.seed)?)?
        }
        StageSettings::Neb(settings) => serde_json::to_value(settings.run(system, evaluator, dir, context.seed)?)?,
        StageSettings::Migration(settings) => {
            let settings = match settings.vacancy_from_previous_stage() {
                true => settings.with_vacancy_position(previous_vacancy_position(context.records)?),
                false => settings.clone(),
            };
            serde_json::to_value(settings.run(system, evaluator, dir, context.seed)?)?
        }
        StageSettings::Kmc(settings) => serde_json::to_value(settings.run(context.base, dir, context.seed)?)?,
        StageSettings::Analyze(settings) => {
            serde_json::to_value(settings.run(context.base, context.last_trajectory, dir)?)?
        }
        StageSettings::Load(settings) => load_stage(settings, system, context)?,
        StageSettings::Remove(settings) => serde_json::to_value(settings.run(system, context.seed)?)?,
        StageSettings::Report(settings) => {
            serde_json::to_value(settings.run(context.records, dir, context.options.quiet)?)?
        }
    }))
}

/// `kind = "load"`: the system becomes the structure of an earlier stage (its final.xyz) or of a file.
fn load_stage(settings: &structure_stages::LoadSettings, system: &mut System, context: &StageContext) -> Result<Value> {
    let path = match (settings.from_stage, &settings.structure) {
        (Some(from), _) => {
            let record = context
                .records
                .iter()
                .find(|r| r.index == from)
                .with_context(|| format!("from_stage = {from}: that stage has not completed"))?;
            context.output.join(&record.directory).join(FINAL_STRUCTURE)
        }
        (None, Some(path)) => path.clone(),
        (None, None) => bail!("neither from_stage nor structure"),
    };
    let loaded = io::read_structure(&path)?;
    check_species(context.potential, &loaded).with_context(|| format!("{}", path.display()))?;
    // A file is checked as a starting structure; an earlier stage's structure is restored as the run had it.
    if settings.structure.is_some() {
        check_overlaps(&loaded).with_context(|| format!("{}", path.display()))?;
    }
    *system = loaded;
    let mut result = describe_system(system);
    result["structure"] = json!(path.display().to_string());
    result["from_stage"] = json!(settings.from_stage);
    Ok(result)
}

/// Where the latest completed `vacancy` stage left an empty site: the vacancy position after relaxation (Å;
/// the removed atom's site unless a neighbour relaxed into it) of the configuration its system kept (the lowest
/// formation energy). Exactly one atom must have been removed.
fn previous_vacancy_position(records: &[StageRecord]) -> Result<[f64; 3]> {
    let record = records
        .iter()
        .rev()
        .find(|r| r.kind == "vacancy")
        .context("vacancy_position_a = \"previous\": no vacancy stage has completed before this one")?;
    let vacancies = record.result.get("vacancies").and_then(Value::as_array).cloned().unwrap_or_default();
    let energy = |v: &Value| v.get("formation_energy_ev").and_then(Value::as_f64).unwrap_or(f64::INFINITY);
    let kept = vacancies
        .iter()
        .min_by(|a, b| energy(a).total_cmp(&energy(b)))
        .with_context(|| format!("stage {} (vacancy) reports no vacancy", record.index))?;
    let key = match kept.get("relaxed_vacancy_positions_a") {
        Some(_) => "relaxed_vacancy_positions_a",
        None => "removed_positions_a",
    };
    let positions: Vec<[f64; 3]> = serde_json::from_value(kept[key].clone())
        .with_context(|| format!("stage {} (vacancy): {key}", record.index))?;
    match positions.as_slice() {
        [p] => Ok(*p),
        _ => bail!(
            "vacancy_position_a = \"previous\": stage {} (vacancy) removed {} atoms together; a migration stage takes a single vacancy",
            record.index,
            positions.len()
        ),
    }
}

fn single_point(
    settings: &SinglePointSettings,
    system: &System,
    evaluator: &mut Evaluator,
    dir: &Path,
) -> Result<Value> {
    let evaluation = evaluator.evaluate(system);
    let text = format_evaluated(system, &evaluation);
    io::write_atomically(&dir.join(&settings.file), text.as_bytes())?;
    let volume = system.cell.volume();
    Ok(json!({
        "energy_ev": evaluation.energy,
        "energy_per_atom_ev": evaluation.energy / system.len() as f64,
        "max_force_ev_per_a": evaluation.max_force(),
        "pressure_bar": if volume > 0.0 { Some(evaluation.virial_pressure(volume) * crate::potentials::EV_PER_A3_IN_BAR) } else { None },
        "atoms": system.len(),
        "volume_a3": if volume > 0.0 { Some(volume) } else { None },
        "density_g_per_cm3": structure_stages::density_g_per_cm3(system),
        "file": settings.file,
    }))
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
            stress: (volume > 0.0 && system.cell.is_fully_periodic()).then(|| evaluation.stress(volume)),
            forces: Some(&evaluation.forces),
            atom_energies: Some(&evaluation.atom_energies),
            ..Default::default()
        },
    )
}

/// `mdrun eval`: the potential of a study (or potential-only) file applied to one structure.
pub fn evaluate_structure(input: &Path, structure: &Path) -> Result<String> {
    let settings = settings::load_potential(input)?;
    let potential = build_potential(&settings).with_context(|| format!("{}", input.display()))?;
    let system = io::read_structure(structure)?;
    check_species(potential.as_ref(), &system).with_context(|| format!("{}", structure.display()))?;
    let mut evaluator = Evaluator::new(potential, 0.0);
    let evaluation = evaluator.evaluate(&system);
    Ok(format_evaluated(&system, &evaluation))
}

/// `mdrun analyze FILE.toml`: the keys of an `analyze` stage at the top level of FILE.toml (no `kind`), applied to
/// the trajectories it lists (paths relative to FILE.toml's folder); results into `output`.
pub fn analyze_file(path: &Path, output: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let settings: crate::analysis::AnalyzeSettings = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end().replace('\n', "\n  ")))?;
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
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let mut settings: crate::train::TrainSettings = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end().replace('\n', "\n  ")))?;
    settings.validate("").with_context(|| format!("{}", path.display()))?;
    settings.verbose = true;
    std::fs::create_dir_all(output).with_context(|| format!("cannot create the output folder {}", output.display()))?;
    let report = serde_json::to_value(settings.run(path.parent().unwrap_or(Path::new(".")), output)?)?;
    io::write_atomically(&output.join("summary.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    Ok(report)
}

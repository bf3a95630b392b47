//! The stage registry: every `[[stage]]` kind implements [`Stage`] and is listed once in [`stage_kinds!`]
//! (as LAMMPS lists a style beside its class, and featomic's `add_calculator!`). The runner in
//! [`super::run`] knows stages only through this trait; a stage reads what earlier stages computed from their
//! typed [`StageResult`]s, never from JSON (summary.json is only the results' serialisation).

use super::report::{CompletedStage, ReportSettings};
use super::structure_stages::{self, LoadSettings, RemoveSettings};
use super::{check_overlaps, describe_system, format_evaluated, RunOptions, StageRecord, SystemDescription};
use crate::analysis::AnalyzeSettings;
use crate::input::{self, InvalidValue};
use crate::io;
use crate::kmc::KmcSettings;
use crate::md::{MdSettings, RunControl};
use crate::neb::migration::{MigrationSettings, VacancyPosition};
use crate::neb::NebSettings;
use crate::potentials::{check_species, Evaluator, EV_PER_A3_IN_BAR};
use crate::relax::vacancy::VacancySettings;
use crate::relax::RelaxSettings;
use crate::system::System;
use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One kind of `[[stage]]`: its settings are parsed by serde (`deny_unknown_fields`), validated with the
/// stages before it known, their relative paths resolved, then run on the study's system.
pub trait Stage {
    /// What the stage computed, as later stages read it and summary.json records it.
    type Report: Clone + std::fmt::Debug + Serialize + DeserializeOwned;

    /// Checks every value; `key` is the stage prefix (`stage[2]`), `earlier` the stages before it.
    fn validate(&self, key: &str, earlier: &[StageSettings]) -> Result<(), InvalidValue>;

    /// Makes relative file paths relative to `base` (the study file's folder).
    fn resolve_paths(&mut self, _base: &Path) {}

    /// The input files the stage reads (paths resolved, or against `base`, the study file's folder, for stages
    /// that resolve them when they run), whose contents a restart's fingerprint covers.
    fn files(&self, _base: &Path) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Runs the stage, changing `context.system` if it is a stage that moves or removes atoms.
    fn run(&self, context: &mut StageContext) -> Result<StageEnd<Self::Report>>;
}

/// How a stage ended.
#[derive(Clone, Debug)]
pub enum StageEnd<R> {
    Completed(R),
    /// Stopped on request (`--stop-after-step`) with its checkpoint written; `--restart` continues it.
    Interrupted(R),
}

impl<R> StageEnd<R> {
    fn map<S>(self, f: impl FnOnce(R) -> S) -> StageEnd<S> {
        match self {
            StageEnd::Completed(r) => StageEnd::Completed(f(r)),
            StageEnd::Interrupted(r) => StageEnd::Interrupted(f(r)),
        }
    }
}

/// Everything a stage works on and with.
pub struct StageContext<'a> {
    /// The study's system, as the previous stage left it.
    pub system: &'a mut System,
    /// The potential with its neighbour list.
    pub evaluator: &'a mut Evaluator,
    /// The stage's own output folder (created before the stage runs).
    pub stage_dir: &'a Path,
    /// The study file's folder, against which relative paths in stage settings are resolved.
    pub base: &'a Path,
    /// The run's output folder.
    pub output: &'a Path,
    /// The stage's random seed ([`super::stage_seed`]).
    pub seed: u64,
    pub options: &'a RunOptions,
    /// The trajectory written by the latest stage that wrote one.
    pub last_trajectory: Option<&'a Path>,
    /// The stages completed before this one.
    pub records: &'a [StageRecord],
}

impl StageContext<'_> {
    fn control(&self) -> RunControl {
        RunControl { quiet: self.options.quiet, stop_after_step: self.options.stop_after_step }
    }
}

/// Declares the kinds of `[[stage]]`, one line each: `"kind" => Variant(Settings)`, where `Settings`
/// implements [`Stage`]. Generates [`StageSettings`] (the table tagged by `kind`), [`StageKind`] and
/// [`StageResult`].
macro_rules! stage_kinds {
    ($($(#[doc = $doc:literal])* $kind:literal => $variant:ident($settings:ty),)+) => {
        /// One `[[stage]]`, tagged by `kind`.
        #[derive(Clone, Debug, Deserialize)]
        #[serde(tag = "kind")]
        pub enum StageSettings {
            $($(#[doc = $doc])* #[serde(rename = $kind)] $variant($settings),)+
        }

        /// The `kind` of a stage.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum StageKind {
            $(#[serde(rename = $kind)] $variant,)+
        }

        /// What a stage computed: its kind's report. Serialised as the report alone (summary.json's `result`).
        #[derive(Clone, Debug, Serialize)]
        #[serde(untagged)]
        pub enum StageResult {
            $($variant(<$settings as Stage>::Report),)+
        }

        impl StageKind {
            /// The kind as written in the study file (`"md"`, `"single_point"`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(StageKind::$variant => $kind,)+
                }
            }
        }

        impl StageSettings {
            /// The stage's kind.
            pub fn kind(&self) -> StageKind {
                match self {
                    $(StageSettings::$variant(_) => StageKind::$variant,)+
                }
            }

            /// Makes relative file paths in the stage's settings relative to `base` (the study file's folder).
            pub fn resolve_paths(&mut self, base: &Path) {
                match self {
                    $(StageSettings::$variant(settings) => Stage::resolve_paths(settings, base),)+
                }
            }

            /// The input files the stage reads (see [`Stage::files`]).
            pub fn files(&self, base: &Path) -> Vec<PathBuf> {
                match self {
                    $(StageSettings::$variant(settings) => Stage::files(settings, base),)+
                }
            }

            /// Checks every value of the stage; `key` is the stage prefix, e.g. `stage[2]`, and `earlier` the
            /// stages before it (for the keys that refer to them).
            pub fn validate(&self, key: &str, earlier: &[StageSettings]) -> Result<(), InvalidValue> {
                match self {
                    $(StageSettings::$variant(settings) => Stage::validate(settings, key, earlier),)+
                }
            }

            /// Runs the stage.
            pub fn run(&self, context: &mut StageContext) -> Result<StageEnd<StageResult>> {
                Ok(match self {
                    $(StageSettings::$variant(settings) => Stage::run(settings, context)?.map(StageResult::$variant),)+
                })
            }
        }

        impl StageResult {
            /// A result as summary.json recorded it, read back as the report of a stage of kind `kind`
            /// (restarts).
            pub fn from_json(kind: StageKind, value: serde_json::Value) -> serde_json::Result<StageResult> {
                Ok(match kind {
                    $(StageKind::$variant => StageResult::$variant(serde_json::from_value(value)?),)+
                })
            }
        }
    };
}

stage_kinds! {
    /// Energy, forces and stress of the current structure (LAMMPS `run 0`).
    "single_point" => SinglePoint(SinglePointSettings),
    /// Molecular dynamics: NVE or NVT, constant temperature or a schedule (docs/md.md).
    "md" => Md(MdSettings),
    /// Minimise the energy: positions, optionally the cell (docs/neb.md).
    "relax" => Relax(RelaxSettings),
    /// Remove atoms, relax, report formation energies (docs/neb.md).
    "vacancy" => Vacancy(VacancySettings),
    /// One nudged elastic band between the current (or a given) structure and a final structure (docs/neb.md).
    "neb" => Neb(NebSettings),
    /// Every hop of a species into a vacancy, one NEB each, and the barrier table (docs/neb.md).
    "migration" => Migration(MigrationSettings),
    /// Kinetic Monte Carlo of hopping over a temperature sweep (docs/kmc.md).
    "kmc" => Kmc(KmcSettings),
    /// Trajectory analysis: MSD, diffusion, Arrhenius, RDF and coordination, VDOS (docs/analysis.md).
    "analyze" => Analyze(AnalyzeSettings),
    /// Replace the system by an earlier stage's structure or a file (branching; docs/input.md).
    "load" => Load(LoadSettings),
    /// Remove formula units, e.g. Li2O (docs/input.md).
    "remove" => Remove(RemoveSettings),
    /// Table of numbers from earlier stages beside reference values, Arrhenius plot of several series.
    "report" => Report(ReportSettings),
}

impl std::fmt::Display for StageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `kind = "single_point"`: evaluates the current structure and writes it with energy, stress and forces.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinglePointSettings {
    /// Extended XYZ file written in the stage's folder.
    #[serde(default = "default_single_point_file")]
    pub file: String,
}

fn default_single_point_file() -> String {
    "structure.xyz".into()
}

/// What a `single_point` stage computed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SinglePointReport {
    pub energy_ev: f64,
    pub energy_per_atom_ev: f64,
    pub max_force_ev_per_a: f64,
    /// Virial pressure (no kinetic part); none without a cell.
    pub pressure_bar: Option<f64>,
    pub atoms: usize,
    pub volume_a3: Option<f64>,
    pub density_g_per_cm3: Option<f64>,
    pub file: String,
}

impl Stage for SinglePointSettings {
    type Report = SinglePointReport;

    fn validate(&self, key: &str, _earlier: &[StageSettings]) -> Result<(), InvalidValue> {
        if self.file.is_empty() || self.file.contains('/') {
            return Err(InvalidValue::new(
                input::join(key, "file"),
                &self.file,
                "a plain file name such as \"structure.xyz\"",
            ));
        }
        Ok(())
    }

    fn run(&self, context: &mut StageContext) -> Result<StageEnd<SinglePointReport>> {
        let system = &*context.system;
        let evaluation = context.evaluator.evaluate(system)?;
        let text = format_evaluated(system, &evaluation);
        io::write_atomically(&context.stage_dir.join(&self.file), text.as_bytes())?;
        let volume = system.cell.volume();
        let periodic = volume > 0.0;
        Ok(StageEnd::Completed(SinglePointReport {
            energy_ev: evaluation.energy,
            energy_per_atom_ev: evaluation.energy / system.len() as f64,
            max_force_ev_per_a: evaluation.max_force(),
            pressure_bar: evaluation.virial_pressure(volume).filter(|_| periodic).map(|p| p * EV_PER_A3_IN_BAR),
            atoms: system.len(),
            volume_a3: periodic.then_some(volume),
            density_g_per_cm3: structure_stages::density_g_per_cm3(system),
            file: self.file.clone(),
        }))
    }
}

impl Stage for MdSettings {
    type Report = crate::md::MdReport;

    fn validate(&self, key: &str, _earlier: &[StageSettings]) -> Result<(), InvalidValue> {
        MdSettings::validate(self, key)
    }

    /// Continues from the stage's checkpoint on `--restart`, else starts from the current system.
    fn run(&self, context: &mut StageContext) -> Result<StageEnd<Self::Report>> {
        let control = context.control();
        let checkpoint = context.stage_dir.join(crate::md::run::CHECKPOINT_FILE);
        let report = if context.options.restart && checkpoint.exists() {
            if !context.options.quiet {
                println!("resuming from {}", checkpoint.display());
            }
            self.resume(&checkpoint, context.system, context.evaluator, context.stage_dir, control)?
        } else {
            MdSettings::run(self, context.system, context.evaluator, context.stage_dir, context.seed, control)?
        };
        Ok(match report.interrupted {
            true => StageEnd::Interrupted(report),
            false => StageEnd::Completed(report),
        })
    }
}

impl Stage for RelaxSettings {
    type Report = crate::relax::RelaxReport;

    fn validate(&self, key: &str, _earlier: &[StageSettings]) -> Result<(), InvalidValue> {
        RelaxSettings::validate(self, key)
    }

    fn run(&self, context: &mut StageContext) -> Result<StageEnd<Self::Report>> {
        let quiet = context.options.quiet;
        let report =
            RelaxSettings::run(self, context.system, context.evaluator, context.stage_dir, context.seed, quiet)?;
        Ok(StageEnd::Completed(report))
    }
}

impl Stage for VacancySettings {
    type Report = crate::relax::vacancy::VacancyReport;

    fn validate(&self, key: &str, _earlier: &[StageSettings]) -> Result<(), InvalidValue> {
        VacancySettings::validate(self, key)
    }

    fn resolve_paths(&mut self, base: &Path) {
        VacancySettings::resolve_paths(self, base);
    }

    fn files(&self, _base: &Path) -> Vec<PathBuf> {
        self.reference_structure.iter().cloned().collect()
    }

    fn run(&self, context: &mut StageContext) -> Result<StageEnd<Self::Report>> {
        let quiet = context.options.quiet;
        let report =
            VacancySettings::run(self, context.system, context.evaluator, context.stage_dir, context.seed, quiet)?;
        Ok(StageEnd::Completed(report))
    }
}

impl Stage for NebSettings {
    type Report = crate::neb::NebReport;

    fn validate(&self, key: &str, _earlier: &[StageSettings]) -> Result<(), InvalidValue> {
        NebSettings::validate(self, key)
    }

    fn resolve_paths(&mut self, base: &Path) {
        NebSettings::resolve_paths(self, base);
    }

    fn files(&self, _base: &Path) -> Vec<PathBuf> {
        std::iter::once(self.final_structure.clone()).chain(self.initial_structure.clone()).collect()
    }

    fn run(&self, context: &mut StageContext) -> Result<StageEnd<Self::Report>> {
        let report = NebSettings::run(self, context.system, context.evaluator, context.stage_dir, context.seed)?;
        Ok(StageEnd::Completed(report))
    }
}

impl Stage for MigrationSettings {
    type Report = crate::neb::migration::MigrationReport;

    /// `vacancy_position_a = "previous"` needs a `vacancy` stage before this one.
    fn validate(&self, key: &str, earlier: &[StageSettings]) -> Result<(), InvalidValue> {
        if self.vacancy_position_a == Some(VacancyPosition::Previous)
            && !earlier.iter().any(|s| s.kind() == StageKind::Vacancy)
        {
            return Err(InvalidValue::new(
                input::join(key, "vacancy_position_a"),
                "\"previous\"",
                "a vacancy stage before this migration stage (it says where the vacancy is)",
            ));
        }
        MigrationSettings::validate(self, key)
    }

    fn run(&self, context: &mut StageContext) -> Result<StageEnd<Self::Report>> {
        let settings = match self.vacancy_position_a {
            Some(VacancyPosition::Previous) => self.with_vacancy_position(previous_vacancy_position(context.records)?),
            _ => self.clone(),
        };
        let quiet = context.options.quiet;
        let report = MigrationSettings::run(
            &settings,
            context.system,
            context.evaluator,
            context.stage_dir,
            context.seed,
            quiet,
        )?;
        Ok(StageEnd::Completed(report))
    }
}

/// Where the latest completed `vacancy` stage left an empty site: the vacancy position after relaxation (Å;
/// the removed atom's site unless a neighbour relaxed into it) of the configuration its system kept (the lowest
/// formation energy). Exactly one atom must have been removed.
fn previous_vacancy_position(records: &[StageRecord]) -> Result<[f64; 3]> {
    let (index, report) = records
        .iter()
        .rev()
        .find_map(|r| match &r.result {
            Some(StageResult::Vacancy(report)) => Some((r.index, report)),
            _ => None,
        })
        .context("vacancy_position_a = \"previous\": no vacancy stage has completed before this one")?;
    let kept = report
        .vacancies
        .iter()
        .min_by(|a, b| a.formation_energy_ev.total_cmp(&b.formation_energy_ev))
        .with_context(|| format!("stage {index} (vacancy) reports no vacancy"))?;
    match kept.relaxed_vacancy_positions_a.as_slice() {
        [p] => Ok(*p),
        positions => bail!(
            "vacancy_position_a = \"previous\": stage {index} (vacancy) removed {} atoms together; a migration stage takes a single vacancy",
            positions.len()
        ),
    }
}

impl Stage for KmcSettings {
    type Report = crate::kmc::KmcReport;

    fn validate(&self, key: &str, _earlier: &[StageSettings]) -> Result<(), InvalidValue> {
        KmcSettings::validate(self, key)
    }

    fn files(&self, base: &Path) -> Vec<PathBuf> {
        self.network.files().into_iter().map(|path| base.join(path)).collect()
    }

    /// Paths in the kMC settings are resolved against the study folder when the stage runs.
    fn run(&self, context: &mut StageContext) -> Result<StageEnd<Self::Report>> {
        Ok(StageEnd::Completed(KmcSettings::run(self, context.base, context.stage_dir, context.seed)?))
    }
}

impl Stage for AnalyzeSettings {
    type Report = crate::analysis::AnalysisReport;

    fn validate(&self, key: &str, _earlier: &[StageSettings]) -> Result<(), InvalidValue> {
        AnalyzeSettings::validate(self, key)
    }

    fn files(&self, base: &Path) -> Vec<PathBuf> {
        self.trajectories.iter().map(|t| base.join(&t.path)).collect()
    }

    /// Analyses the listed trajectories (paths against the study folder), or the latest stage's trajectory.
    fn run(&self, context: &mut StageContext) -> Result<StageEnd<Self::Report>> {
        let report = AnalyzeSettings::run(self, context.base, context.last_trajectory, context.stage_dir)?;
        Ok(StageEnd::Completed(report))
    }
}

/// What a `load` stage did: the structure it loaded, described.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadReport {
    #[serde(flatten)]
    pub system: SystemDescription,
    /// The file read.
    pub structure: PathBuf,
    pub from_stage: Option<usize>,
}

impl Stage for LoadSettings {
    type Report = LoadReport;

    fn validate(&self, key: &str, earlier: &[StageSettings]) -> Result<(), InvalidValue> {
        LoadSettings::validate(self, key, earlier.len())
    }

    fn resolve_paths(&mut self, base: &Path) {
        LoadSettings::resolve_paths(self, base);
    }

    fn files(&self, _base: &Path) -> Vec<PathBuf> {
        self.structure.iter().cloned().collect()
    }

    /// The system becomes the structure of an earlier stage (its final.xyz) or of a file.
    fn run(&self, context: &mut StageContext) -> Result<StageEnd<LoadReport>> {
        let path = match (self.from_stage, &self.structure) {
            (Some(from), _) => {
                let record = context
                    .records
                    .iter()
                    .find(|r| r.index == from)
                    .with_context(|| format!("from_stage = {from}: that stage has not completed"))?;
                context.output.join(&record.directory).join(super::FINAL_STRUCTURE)
            }
            (None, Some(path)) => path.clone(),
            (None, None) => bail!("neither from_stage nor structure"),
        };
        let loaded = io::read_structure(&path)?;
        check_species(context.evaluator.potential().as_ref(), &loaded)
            .with_context(|| format!("{}", path.display()))?;
        // A file is checked as a starting structure; an earlier stage's structure is restored as the run had it.
        if self.structure.is_some() {
            check_overlaps(&loaded).with_context(|| format!("{}", path.display()))?;
        }
        *context.system = loaded;
        let system = describe_system(context.system);
        Ok(StageEnd::Completed(LoadReport { system, structure: path, from_stage: self.from_stage }))
    }
}

impl Stage for RemoveSettings {
    type Report = structure_stages::RemoveReport;

    fn validate(&self, key: &str, _earlier: &[StageSettings]) -> Result<(), InvalidValue> {
        RemoveSettings::validate(self, key)
    }

    fn run(&self, context: &mut StageContext) -> Result<StageEnd<Self::Report>> {
        Ok(StageEnd::Completed(RemoveSettings::run(self, context.system, context.seed)?))
    }
}

impl Stage for ReportSettings {
    type Report = super::report::ReportResult;

    fn validate(&self, key: &str, earlier: &[StageSettings]) -> Result<(), InvalidValue> {
        let kinds: Vec<&str> = earlier.iter().map(|s| s.kind().as_str()).collect();
        ReportSettings::validate(self, key, &kinds)
    }

    /// The report reads earlier results by their paths in summary.json, so it is given them serialised.
    fn run(&self, context: &mut StageContext) -> Result<StageEnd<Self::Report>> {
        let completed = context
            .records
            .iter()
            .map(|r| {
                Ok(CompletedStage {
                    index: r.index,
                    kind: r.kind.as_str().to_string(),
                    wall_time_s: r.wall_time_s,
                    result: serde_json::to_value(&r.result)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(StageEnd::Completed(ReportSettings::run(self, &completed, context.stage_dir, context.options.quiet)?))
    }
}

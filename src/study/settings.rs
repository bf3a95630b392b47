//! The study file: `[system]`, `[potential]` and an ordered list of `[[stage]]` tables, parsed with serde
//! (`deny_unknown_fields` everywhere) and then validated, so that every error is reported before any work.

use super::report::ReportSettings;
use super::structure_stages::{LoadSettings, RemoveSettings};
use crate::analysis::AnalyzeSettings;
use crate::input::{self, InvalidValue};
use crate::kmc::KmcSettings;
use crate::md::MdSettings;
use crate::neb::{migration::MigrationSettings, NebSettings};
use crate::potentials::eam::EamConfig;
use crate::potentials::lj::LennardJonesConfig;
use crate::potentials::nnp::NnpConfig;
use crate::potentials::zbl::ZblConfig;
use crate::relax::{vacancy::VacancySettings, RelaxSettings};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole study file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    pub system: SystemSettings,
    pub potential: PotentialSettings,
    /// Stages run in order, each on the system the previous one left.
    #[serde(default, rename = "stage")]
    pub stages: Vec<StageSettings>,
}

/// A file holding only `[potential]`, as `mdrun eval` accepts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PotentialFile {
    pub potential: PotentialSettings,
}

/// `[system]`: the starting structure.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// Structure file (POSCAR, extended XYZ, n2p2 input.data, or anything chemfiles reads), relative to the
    /// study file's folder.
    pub structure: PathBuf,
    /// Repetitions along a, b, c.
    #[serde(default = "unit_supercell")]
    pub supercell: [usize; 3],
    /// Seed of every random stream of the study (velocities, thermostats, vacancy choice, kMC).
    pub seed: u64,
    /// Per-element masses in amu overriding the standard ones, e.g. `{ Li = 6.015 }`.
    #[serde(default)]
    pub masses: BTreeMap<String, f64>,
    /// Verlet-list skin in Å.
    #[serde(default = "default_skin")]
    pub neighbor_skin_a: f64,
}

fn unit_supercell() -> [usize; 3] {
    [1, 1, 1]
}

fn default_skin() -> f64 {
    crate::potentials::Evaluator::DEFAULT_SKIN
}

/// `[potential]`, tagged by `kind`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PotentialSettings {
    /// Lennard-Jones 12-6 (LAMMPS `lj/cut`).
    Lj(LennardJonesConfig),
    /// Embedded-atom method from a LAMMPS funcfl or setfl file.
    Eam(EamConfig),
    /// Behler–Parrinello neural-network potential in the n2p2/RuNNer format.
    Nnp(NnpConfig),
    /// Ziegler–Biersack–Littmark core repulsion (LAMMPS `zbl`).
    Zbl(ZblConfig),
    /// Sum of potentials (LAMMPS `hybrid/overlay`), e.g. an NNP with a ZBL core repulsion.
    Overlay(OverlayConfig),
}

/// `[potential]` settings for `kind = "overlay"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverlayConfig {
    /// The potentials that add, each a table like `[potential]` itself.
    pub terms: Vec<PotentialSettings>,
}

impl PotentialSettings {
    /// Makes relative file paths relative to `base` (the study file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        match self {
            PotentialSettings::Lj(_) | PotentialSettings::Zbl(_) => {}
            PotentialSettings::Eam(config) => config.file = base.join(&config.file),
            PotentialSettings::Nnp(config) => config.directory = base.join(&config.directory),
            PotentialSettings::Overlay(config) => config.terms.iter_mut().for_each(|term| term.resolve_paths(base)),
        }
    }

    /// Checks every value of `[potential]` that can be checked without reading files.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        self.validate_at("potential")
    }

    /// As [`validate`](Self::validate), for the table at `key` (`potential`, `potential.terms[1]`).
    pub fn validate_at(&self, key: &str) -> Result<(), InvalidValue> {
        match self {
            PotentialSettings::Lj(config) => config.validate(key),
            PotentialSettings::Eam(config) => config.validate(key),
            PotentialSettings::Nnp(config) => config.validate(key),
            PotentialSettings::Zbl(config) => config.validate(key),
            PotentialSettings::Overlay(config) => {
                if config.terms.is_empty() {
                    return Err(InvalidValue::new(format!("{key}.terms"), "[]", "at least one potential table"));
                }
                for (index, term) in config.terms.iter().enumerate() {
                    if let PotentialSettings::Overlay(_) = term {
                        return Err(InvalidValue::new(
                            format!("{key}.terms[{index}].kind"),
                            "\"overlay\"",
                            "a single potential (an overlay's terms are not overlays)",
                        ));
                    }
                    term.validate_at(&format!("{key}.terms[{index}]"))?;
                }
                Ok(())
            }
        }
    }
}

/// One `[[stage]]`, tagged by `kind`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind")]
pub enum StageSettings {
    /// Energy, forces and stress of the current structure (LAMMPS `run 0`).
    #[serde(rename = "single_point")]
    SinglePoint(SinglePointSettings),
    /// Molecular dynamics: NVE or NVT, constant temperature or a schedule (docs/md.md).
    #[serde(rename = "md")]
    Md(MdSettings),
    /// Minimise the energy: positions, optionally the cell (docs/neb.md).
    #[serde(rename = "relax")]
    Relax(RelaxSettings),
    /// Remove atoms, relax, report formation energies (docs/neb.md).
    #[serde(rename = "vacancy")]
    Vacancy(VacancySettings),
    /// One nudged elastic band between the current (or a given) structure and a final structure (docs/neb.md).
    #[serde(rename = "neb")]
    Neb(NebSettings),
    /// Every hop of a species into a vacancy, one NEB each, and the barrier table (docs/neb.md).
    #[serde(rename = "migration")]
    Migration(MigrationSettings),
    /// Kinetic Monte Carlo of hopping over a temperature sweep (docs/kmc.md).
    #[serde(rename = "kmc")]
    Kmc(KmcSettings),
    /// Trajectory analysis: MSD, diffusion, Arrhenius, RDF and coordination, VDOS (docs/analysis.md).
    #[serde(rename = "analyze")]
    Analyze(AnalyzeSettings),
    /// Replace the system by an earlier stage's structure or a file (branching; docs/input.md).
    #[serde(rename = "load")]
    Load(LoadSettings),
    /// Remove formula units, e.g. Li2O (docs/input.md).
    #[serde(rename = "remove")]
    Remove(RemoveSettings),
    /// Table of numbers from earlier stages beside reference values, Arrhenius plot of several series.
    #[serde(rename = "report")]
    Report(ReportSettings),
}

impl StageSettings {
    /// The `kind` of the stage as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            StageSettings::SinglePoint(_) => "single_point",
            StageSettings::Md(_) => "md",
            StageSettings::Relax(_) => "relax",
            StageSettings::Vacancy(_) => "vacancy",
            StageSettings::Neb(_) => "neb",
            StageSettings::Migration(_) => "migration",
            StageSettings::Kmc(_) => "kmc",
            StageSettings::Analyze(_) => "analyze",
            StageSettings::Load(_) => "load",
            StageSettings::Remove(_) => "remove",
            StageSettings::Report(_) => "report",
        }
    }

    /// Makes relative file paths in the stage's settings relative to `base` (the study file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        match self {
            StageSettings::Vacancy(settings) => settings.resolve_paths(base),
            StageSettings::Load(settings) => settings.resolve_paths(base),
            StageSettings::Remove(_) | StageSettings::Report(_) => {}
            StageSettings::Neb(settings) => settings.resolve_paths(base),
            StageSettings::SinglePoint(_) | StageSettings::Md(_) | StageSettings::Relax(_) => {}
            StageSettings::Migration(_) => {}
            // kMC and analysis resolve their own paths against the study folder when they run.
            StageSettings::Kmc(_) | StageSettings::Analyze(_) => {}
        }
    }

    /// Checks every value of the stage; `key` is the stage prefix, e.g. `stage[2]`, and `earlier` the stages
    /// before it (for the keys that refer to them).
    pub fn validate(&self, key: &str, earlier: &[StageSettings]) -> Result<(), InvalidValue> {
        match self {
            StageSettings::Load(settings) => settings.validate(key, earlier.len()),
            StageSettings::Remove(settings) => settings.validate(key),
            StageSettings::Report(settings) => {
                settings.validate(key, &earlier.iter().map(StageSettings::kind).collect::<Vec<_>>())
            }
            StageSettings::Migration(settings) if settings.vacancy_from_previous_stage() => {
                if !earlier.iter().any(|s| matches!(s, StageSettings::Vacancy(_))) {
                    return Err(InvalidValue::new(
                        input::join(key, "vacancy_position_a"),
                        "\"previous\"",
                        "a vacancy stage before this migration stage (it says where the vacancy is)",
                    ));
                }
                settings.validate(key)
            }
            StageSettings::SinglePoint(settings) => settings.validate(key),
            StageSettings::Md(settings) => settings.validate(key),
            StageSettings::Relax(settings) => settings.validate(key),
            StageSettings::Vacancy(settings) => settings.validate(key),
            StageSettings::Neb(settings) => settings.validate(key),
            StageSettings::Migration(settings) => settings.validate(key),
            StageSettings::Kmc(settings) => settings.validate(key),
            StageSettings::Analyze(settings) => settings.validate(key),
        }
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

impl SinglePointSettings {
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        if self.file.is_empty() || self.file.contains('/') {
            return Err(InvalidValue::new(
                input::join(key, "file"),
                &self.file,
                "a plain file name such as \"structure.xyz\"",
            ));
        }
        Ok(())
    }
}

impl SystemSettings {
    /// Checks every value of `[system]`.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        if self.supercell.contains(&0) {
            return Err(InvalidValue::new(
                "system.supercell",
                format!("{:?}", self.supercell),
                "three repetitions ≥ 1, e.g. [2, 2, 2]",
            ));
        }
        input::non_negative("system", "neighbor_skin_a", self.neighbor_skin_a)?;
        for (symbol, &mass) in &self.masses {
            if crate::system::elements::atomic_number(symbol).is_none() {
                return Err(InvalidValue::new(format!("system.masses.{symbol}"), mass, "an element symbol as key"));
            }
            input::positive("system.masses", symbol, mass)?;
        }
        Ok(())
    }
}

/// A problem with the study file as a whole.
#[derive(Debug, thiserror::Error)]
pub enum StudyFileError {
    #[error("{path}: cannot read: {reason}")]
    Read { path: PathBuf, reason: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {invalid}")]
    Invalid { path: PathBuf, invalid: InvalidValue },
}

/// The placeholder for the run's output folder in study-file strings, so that a stage can name a file an
/// earlier stage wrote, e.g. `barrier_table = "{output}/02-migration/barriers.csv"`.
pub const OUTPUT_PLACEHOLDER: &str = "{output}";

/// Reads, parses and validates a study file, resolving relative paths against its folder and replacing
/// [`OUTPUT_PLACEHOLDER`] by `output`.
pub fn load(path: &Path, output: &Path) -> Result<StudyFile, StudyFileError> {
    let text = std::fs::read_to_string(path).map_err(|reason| StudyFileError::Read { path: path.into(), reason })?;
    let text = text.replace(OUTPUT_PLACEHOLDER, &output.display().to_string());
    let mut study: StudyFile = parse(path, &text)?;
    let base = path.parent().unwrap_or(Path::new("."));
    study.system.structure = base.join(&study.system.structure);
    study.potential.resolve_paths(base);
    for stage in &mut study.stages {
        stage.resolve_paths(base);
    }
    let invalid = |invalid| StudyFileError::Invalid { path: path.into(), invalid };
    study.system.validate().map_err(invalid)?;
    study.potential.validate().map_err(invalid)?;
    for (index, stage) in study.stages.iter().enumerate() {
        stage.validate(&format!("stage[{index}]"), &study.stages[..index]).map_err(invalid)?;
    }
    Ok(study)
}

/// Reads `[potential]` from a file that is either a whole study (validated whole) or holds only `[potential]`.
pub fn load_potential(path: &Path) -> Result<PotentialSettings, StudyFileError> {
    let text = std::fs::read_to_string(path).map_err(|reason| StudyFileError::Read { path: path.into(), reason })?;
    let table: toml::Table = parse(path, &text)?;
    if table.contains_key("system") || table.contains_key("stage") {
        return Ok(load(path, Path::new("runs"))?.potential);
    }
    let mut potential = parse::<PotentialFile>(path, &text)?.potential;
    potential.resolve_paths(path.parent().unwrap_or(Path::new(".")));
    potential.validate().map_err(|invalid| StudyFileError::Invalid { path: path.into(), invalid })?;
    Ok(potential)
}

/// Parses TOML text, turning serde's message (which names the key, line and column) into an error naming the file.
fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, StudyFileError> {
    toml::from_str(text).map_err(|e: toml::de::Error| StudyFileError::Parse {
        path: path.into(),
        message: e.to_string().trim_end().replace('\n', "\n  "),
    })
}

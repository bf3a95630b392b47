//! The study file: `[system]`, `[potential]` and an ordered list of `[[stage]]` tables, parsed with serde
//! (`deny_unknown_fields` everywhere) and then validated, so that every error is reported before any work.

pub use super::stages::{SinglePointSettings, StageSettings};
pub use crate::potentials::PotentialSettings;

use crate::input::{self, InvalidValue, TomlFileError};
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
    /// The file as parsed, before `{output}` is substituted: what a restart's fingerprint hashes.
    #[serde(skip)]
    pub table: toml::Table,
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
    /// Unreadable, or not TOML of the study's shape.
    #[error(transparent)]
    File(#[from] TomlFileError),
    #[error("{path}: {invalid}")]
    Invalid { path: PathBuf, invalid: InvalidValue },
}

/// The placeholder for the run's output folder in study-file strings, so that a stage can name a file an
/// earlier stage wrote, e.g. a kMC stage's `network = { kind = "barrier_table", path =
/// "{output}/02-migration/barriers.csv" }`.
pub const OUTPUT_PLACEHOLDER: &str = "{output}";

/// Reads, parses and validates a study file, resolving relative paths against its folder and replacing
/// [`OUTPUT_PLACEHOLDER`] by `output` in its string values.
pub fn load(path: &Path, output: &Path) -> Result<StudyFile, StudyFileError> {
    let text = input::read_text(path)?;
    let mut study = parse_with_output(path, &text, output)?;
    let invalid = |invalid| StudyFileError::Invalid { path: path.into(), invalid };
    if study.system.structure.as_os_str().is_empty() {
        return Err(invalid(InvalidValue::new("system.structure", "\"\"", "the path of a structure file")));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    study.system.structure = base.join(&study.system.structure);
    study.potential.resolve_paths(base);
    for stage in &mut study.stages {
        stage.resolve_paths(base);
    }
    study.system.validate().map_err(invalid)?;
    study.potential.validate().map_err(invalid)?;
    for warning in study.potential.warnings() {
        eprintln!("warning: {}: {warning}", path.display());
    }
    for (index, stage) in study.stages.iter().enumerate() {
        stage.validate(&format!("stage[{index}]"), &study.stages[..index]).map_err(invalid)?;
    }
    Ok(study)
}

/// Parses a study file's text, then replaces [`OUTPUT_PLACEHOLDER`] by `output` in every string value. The
/// substitution is made on the parsed values, never in the text, so an output path holding a quote or a
/// backslash cannot change what the file says. The text is parsed straight into [`StudyFile`] first, so that
/// an error names its line.
fn parse_with_output(path: &Path, text: &str, output: &Path) -> Result<StudyFile, StudyFileError> {
    let mut study: StudyFile = input::parse_toml(path, text)?;
    let table: toml::Table = input::parse_toml(path, text)?;
    if text.contains(OUTPUT_PLACEHOLDER) {
        let mut substituted = toml::Value::Table(table.clone());
        replace_in_strings(&mut substituted, &output.display().to_string());
        study = StudyFile::deserialize(substituted)
            .map_err(|e| TomlFileError::Parse { path: path.into(), message: e.to_string() })?;
    }
    study.table = table;
    Ok(study)
}

fn replace_in_strings(value: &mut toml::Value, output: &str) {
    match value {
        toml::Value::String(s) => *s = s.replace(OUTPUT_PLACEHOLDER, output),
        toml::Value::Array(items) => items.iter_mut().for_each(|v| replace_in_strings(v, output)),
        toml::Value::Table(table) => table.iter_mut().for_each(|(_, v)| replace_in_strings(v, output)),
        _ => {}
    }
}

/// Reads `[potential]` from a file that is either a whole study (validated whole) or holds only `[potential]`.
pub fn load_potential(path: &Path) -> Result<PotentialSettings, StudyFileError> {
    let text = input::read_text(path)?;
    let table: toml::Table = input::parse_toml(path, &text)?;
    if table.contains_key("system") || table.contains_key("stage") {
        return Ok(load(path, Path::new("runs"))?.potential);
    }
    let mut potential = input::parse_toml::<PotentialFile>(path, &text)?.potential;
    potential.resolve_paths(path.parent().unwrap_or(Path::new(".")));
    potential.validate().map_err(|invalid| StudyFileError::Invalid { path: path.into(), invalid })?;
    for warning in potential.warnings() {
        eprintln!("warning: {}: {warning}", path.display());
    }
    Ok(potential)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{output}` is replaced in the parsed string, so quotes and backslashes in the output path are kept as
    /// they are instead of ending the TOML string they are pasted into.
    #[test]
    fn output_placeholder_is_replaced_after_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let study = dir.path().join("study.toml");
        std::fs::write(
            &study,
            "[system]\nstructure = \"s.xyz\"\nseed = 1\n\n[potential]\nkind = \"lj\"\ncutoff = 5.0\n\
             pairs = [{ species = [\"Ar\", \"Ar\"], epsilon = 0.01, sigma = 3.4 }]\n\n\
             [[stage]]\nkind = \"load\"\nstructure = \"{output}/00-md/final.xyz\"\n",
        )
        .unwrap();
        let output = Path::new("/runs/a\"b\\c', structure = \"x");
        let loaded = load(&study, output).unwrap();
        let StageSettings::Load(stage) = &loaded.stages[0] else { panic!("not a load stage") };
        assert_eq!(stage.structure.as_deref(), Some(output.join("00-md/final.xyz").as_path()));
    }
}

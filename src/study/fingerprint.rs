//! What a study run depends on, hashed, so that `--restart` refuses a run folder made by a different study.
//!
//! Three parts are hashed apart, so that a refused restart can say what changed: `[system]` with the bytes
//! of its structure file; `[potential]` with the bytes of every file it reads ([`PotentialSettings::files`]);
//! and each `[[stage]]` table with the bytes of the input files it reads ([`crate::study::stages::StageSettings::files`]: a NEB end
//! point, a barrier table). A table is hashed as a canonical text (keys sorted, comments and layout dropped), so
//! reformatting the study file is not a change. A stage's file inside the run folder (an earlier stage's
//! `barriers.csv`) is covered by its path only: it is the product of stages already covered; so is a file that
//! does not exist (the stage itself reports it). Of `[potential]`, each kind hashes what
//! [`crate::potentials::PotentialConfig::restart_table`] keeps: a socket potential leaves out its connection keys
//! (address, clients, timeouts): what answers on the socket cannot be checked, and how it is reached is not physics. The hash is 64-bit
//! FNV-1a: it detects changes; it is not a cryptographic digest.

use super::settings::StudyFile;
use crate::potentials::PotentialSettings;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The hashes (16 hex digits each) of a study's parts, recorded in summary.json.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyFingerprint {
    /// `[system]` and the structure file.
    pub system: String,
    /// `[potential]` and its files.
    pub potential: String,
    /// Each `[[stage]]` table, in order.
    pub stages: Vec<String>,
}

impl StudyFingerprint {
    /// The fingerprint of the study file at `path`, already loaded as `study` (paths resolved), run into the
    /// folder `output`.
    pub fn of(path: &Path, study: &StudyFile, output: &Path) -> Result<StudyFingerprint> {
        let table = &study.table;
        let part = |name: &str| table.get(name).map(canonical).unwrap_or_default();
        let mut system = Fnv1a::new(part("system").as_bytes());
        system.file(&study.system.structure)?;
        let potential_table = match table.get("potential") {
            Some(toml::Value::Table(potential)) => {
                canonical(&toml::Value::Table(study.potential.config().restart_table(potential)))
            }
            other => other.map(canonical).unwrap_or_default(),
        };
        let mut potential = Fnv1a::new(potential_table.as_bytes());
        for file in PotentialSettings::files(&study.potential) {
            potential.update(file.display().to_string().as_bytes());
            potential.file(&file)?;
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let tables = match table.get("stage") {
            Some(toml::Value::Array(stages)) => stages.as_slice(),
            _ => &[],
        };
        let mut stages = Vec::new();
        for (table, stage) in tables.iter().zip(&study.stages) {
            let mut hash = Fnv1a::new(canonical(table).as_bytes());
            for file in stage.files(base) {
                hash.update(file.display().to_string().as_bytes());
                let inside_run = std::path::absolute(&file).is_ok_and(|f| f.starts_with(output));
                if !inside_run && file.is_file() {
                    hash.file(&file)?;
                }
            }
            stages.push(hash.hex());
        }
        Ok(StudyFingerprint { system: system.hex(), potential: potential.hex(), stages })
    }

    /// Checks that a run folder recorded with `self` can be continued by a study with fingerprint `now` whose
    /// first `started` stages were begun; otherwise says which part changed.
    pub fn check_continued_by(&self, now: &StudyFingerprint, started: usize) -> Result<(), String> {
        if self.system != now.system {
            return Err("[system] or its structure file changed".into());
        }
        if self.potential != now.potential {
            return Err("[potential] or one of its files changed".into());
        }
        for index in 0..started {
            if self.stages.get(index) != now.stages.get(index) {
                return Err(format!("stage[{index}] changed (or was removed)"));
            }
        }
        Ok(())
    }
}

/// A TOML value as text with table keys sorted, whatever order the file (or the `toml` crate's map) keeps.
fn canonical(value: &toml::Value) -> String {
    match value {
        toml::Value::Table(table) => {
            let mut keys: Vec<&String> = table.keys().collect();
            keys.sort();
            let body: Vec<String> = keys.iter().map(|k| format!("{k:?}={}", canonical(&table[k.as_str()]))).collect();
            format!("{{{}}}", body.join(","))
        }
        toml::Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Float(x) => format!("{x:e}"),
        other => other.to_string(),
    }
}

/// 64-bit FNV-1a (Fowler–Noll–Vo): h ← (h ⊕ byte)·1099511628211, from 14695981039346656037.
struct Fnv1a(u64);

impl Fnv1a {
    fn new(bytes: &[u8]) -> Fnv1a {
        let mut hash = Fnv1a(0xcbf2_9ce4_8422_2325);
        hash.update(bytes);
        hash
    }

    fn update(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn file(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        self.update(&bytes);
        Ok(())
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published FNV-1a 64 test vectors (draft-eastlake-fnv): "" and "a".
    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(Fnv1a::new(b"").hex(), "cbf29ce484222325");
        assert_eq!(Fnv1a::new(b"a").hex(), "af63dc4c8601ec8c");
        assert_eq!(Fnv1a::new(b"foobar").hex(), "85944171f73967e8");
    }

    #[test]
    fn canonical_text_ignores_key_order_and_layout() {
        let a: toml::Table = toml::from_str("x = 1.0 # comment\ny = { b = 2, a = \"s\" }\n").unwrap();
        let b: toml::Table = toml::from_str("y = {a = 's', b = 2}\n\n x = 1e0").unwrap();
        let c: toml::Table = toml::from_str("y = {a = 's', b = 3}\n\n x = 1e0").unwrap();
        let text = |t: toml::Table| canonical(&toml::Value::Table(t));
        assert_eq!(text(a.clone()), text(b));
        assert_ne!(text(a), text(c));
    }

    #[test]
    fn a_changed_part_is_named() {
        let recorded =
            StudyFingerprint { system: "1".into(), potential: "2".into(), stages: vec!["3".into(), "4".into()] };
        let mut now = recorded.clone();
        now.stages[1] = "5".into();
        assert_eq!(recorded.check_continued_by(&now, 1), Ok(()));
        assert_eq!(recorded.check_continued_by(&now, 2), Err("stage[1] changed (or was removed)".into()));
        now.potential = "6".into();
        assert_eq!(recorded.check_continued_by(&now, 0), Err("[potential] or one of its files changed".into()));
    }
}

//! Validation helpers shared by every settings type.
//!
//! Settings are parsed with serde (`deny_unknown_fields`, so a misspelt key is an error), then validated:
//! each settings type has a `validate(&self, key: &str)` that checks values and reports the first bad one as
//! an [`InvalidValue`] naming the full key (e.g. `stage[2].timestep_fs`), the value and what was expected.

use serde::de::DeserializeOwned;
use std::fmt::Display;
use std::path::{Path, PathBuf};

/// A TOML file that cannot be read or does not parse into the settings type. Both messages start with the file
/// name; a parse error keeps serde's text (key, line, column and the offending line), indented under it.
#[derive(Debug, thiserror::Error)]
pub enum TomlFileError {
    #[error("{path}: cannot read: {reason}")]
    Read { path: PathBuf, reason: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

/// Reads the TOML file `path` into `T` (errors: [`TomlFileError`]).
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, TomlFileError> {
    parse_toml(path, &read_text(path)?)
}

/// The text of `path`, or [`TomlFileError::Read`].
pub fn read_text(path: &Path) -> Result<String, TomlFileError> {
    std::fs::read_to_string(path).map_err(|reason| TomlFileError::Read { path: path.into(), reason })
}

/// Parses `text`, read from `path`, into `T`; serde's message (which names the key, line and column) becomes a
/// [`TomlFileError::Parse`] naming the file, its lines after the first indented by two spaces.
pub fn parse_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, TomlFileError> {
    toml::from_str(text).map_err(|e: toml::de::Error| TomlFileError::Parse {
        path: path.into(),
        message: e.to_string().trim_end().replace('\n', "\n  "),
    })
}

/// A settings value that parsed but is not acceptable.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{key} = {value}: expected {expected}")]
pub struct InvalidValue {
    /// Full dotted key, e.g. `stage[2].timestep_fs`.
    pub key: String,
    /// The offending value as written.
    pub value: String,
    /// What would have been accepted.
    pub expected: String,
}

impl InvalidValue {
    pub fn new(key: impl Into<String>, value: impl Display, expected: impl Into<String>) -> InvalidValue {
        InvalidValue { key: key.into(), value: value.to_string(), expected: expected.into() }
    }
}

/// Joins a prefix and a key: `join("stage[1]", "timestep_fs")` → `stage[1].timestep_fs`.
pub fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Requires a finite number > 0.
pub fn positive(prefix: &str, key: &str, value: f64) -> Result<(), InvalidValue> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(InvalidValue::new(join(prefix, key), number(value), "a positive finite number"))
    }
}

/// A number as a person would write it in a study file: plainly (`0.5`, `2000`), or in scientific notation when
/// that would take more than a few zeros (`1e-300`, `1e20`).
pub fn number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() || (1e-4..1e16).contains(&x.abs()) {
        x.to_string()
    } else {
        format!("{x:e}")
    }
}

/// Requires a finite number ≥ 0.
pub fn non_negative(prefix: &str, key: &str, value: f64) -> Result<(), InvalidValue> {
    if value >= 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(InvalidValue::new(join(prefix, key), number(value), "a finite number ≥ 0"))
    }
}

/// Requires a finite number in [lo, hi].
pub fn in_range(prefix: &str, key: &str, value: f64, lo: f64, hi: f64) -> Result<(), InvalidValue> {
    if value >= lo && value <= hi {
        Ok(())
    } else {
        Err(InvalidValue::new(join(prefix, key), value, format!("a number between {lo} and {hi}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_key_value_and_expectation() {
        let err = positive("stage[2]", "timestep_fs", -1.0).unwrap_err();
        assert_eq!(err.to_string(), "stage[2].timestep_fs = -1: expected a positive finite number");
        assert!(non_negative("", "skin", f64::NAN).is_err());
        assert!(in_range("a", "b", 0.5, 0.0, 1.0).is_ok());
    }
}

//! The n2p2/RuNNer settings file `input.nn`, read as n2p2's `Settings` does: one keyword per line, its
//! arguments after it; `#` and `!` start comments; keywords may repeat only where n2p2 allows it
//! (`symfunction_short`, `atom_energy`, `element_nodes_short`).
//!
//! Keywords that change the physics but are not implemented here (4G-HDNNP electrostatics, charge
//! networks, `nnp_type` other than 2) are rejected with an error naming the keyword and line. Training-only
//! and unknown keywords are accepted and ignored, as n2p2's predictor does.

use super::NnpError;
use std::path::{Path, PathBuf};

/// One keyword line of `input.nn`.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub keyword: String,
    /// Arguments, split on whitespace.
    pub arguments: Vec<String>,
    /// 1-based line number.
    pub line: usize,
}

/// The keyword lines of an `input.nn` file, in file order.
#[derive(Clone, Debug)]
pub struct Settings {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

/// Keywords that may appear more than once.
const REPEATABLE: [&str; 3] = ["symfunction_short", "atom_energy", "element_nodes_short"];

/// Keywords of n2p2's 4G-HDNNP / charge-equilibration and electrostatics machinery: their presence
/// changes the energy, and this engine implements only short-range (2G) networks.
const UNSUPPORTED: [&str; 14] = [
    "use_electrostatics",
    "electrostatic_type",
    "symfunction_electrostatic",
    "global_hidden_layers_electrostatic",
    "global_nodes_electrostatic",
    "global_activation_electrostatic",
    "element_hardness",
    "fixed_gausswidth",
    "ewald_prec",
    "ewald_truncation_error_method",
    "screen_electrostatics",
    "four_pi_epsilon",
    "kspace_solver",
    "use_short_nn",
];

impl Settings {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Settings, NnpError> {
        let text = std::fs::read_to_string(path).map_err(|e| NnpError::open(path, e))?;
        Settings::parse(path, &text)
    }

    /// Parses settings text; `path` is used in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Settings, NnpError> {
        let mut entries: Vec<Entry> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split(['#', '!']).next().unwrap_or("");
            let mut tokens = content.split_whitespace().map(str::to_string);
            let Some(keyword) = tokens.next() else { continue };
            let arguments: Vec<String> = tokens.collect();
            if !REPEATABLE.contains(&keyword.as_str()) {
                if let Some(first) = entries.iter().find(|e| e.keyword == keyword) {
                    return Err(NnpError::syntax(
                        path,
                        line,
                        format!(
                            "keyword '{keyword}' given again (first on line {}); it may appear only once",
                            first.line
                        ),
                    ));
                }
            }
            if UNSUPPORTED.contains(&keyword.as_str()) {
                return Err(NnpError::syntax(
                    path,
                    line,
                    format!(
                        "keyword '{keyword}' belongs to n2p2's 4G-HDNNP/electrostatics features, which are not \
                         supported: only short-range (2G) neural network potentials can be evaluated"
                    ),
                ));
            }
            if keyword == "nnp_type" || keyword == "nn_type" {
                let value = arguments.first().map(String::as_str).unwrap_or("");
                if value != "2" && value != "0" {
                    return Err(NnpError::syntax(
                        path,
                        line,
                        format!(
                            "{keyword} = '{value}': only 2 (short-range 2G-HDNNP; 0 in older n2p2 versions) is supported; 4G-HDNNP and charge \
                             networks are not"
                        ),
                    ));
                }
            }
            entries.push(Entry { keyword, arguments, line });
        }
        Ok(Settings { path: path.to_path_buf(), entries })
    }

    /// The entry of a unique keyword, if present.
    pub fn get(&self, keyword: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.keyword == keyword)
    }

    /// True if the keyword is present.
    pub fn has(&self, keyword: &str) -> bool {
        self.get(keyword).is_some()
    }

    /// Every entry of a (repeatable) keyword, in file order.
    pub fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.keyword == keyword)
    }

    /// The entry of a required keyword.
    pub fn require(&self, keyword: &str) -> Result<&Entry, NnpError> {
        self.get(keyword)
            .ok_or_else(|| NnpError::format(&self.path, format!("required keyword '{keyword}' is missing")))
    }

    /// Argument `k` of an entry, parsed as a number.
    pub fn number(&self, entry: &Entry, k: usize) -> Result<f64, NnpError> {
        let token = self.argument(entry, k)?;
        let value: f64 = parse_fortran_float(token).ok_or_else(|| {
            NnpError::syntax(&self.path, entry.line, format!("{}: '{token}' is not a number", entry.keyword))
        })?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(NnpError::syntax(&self.path, entry.line, format!("{}: '{token}' is not finite", entry.keyword)))
        }
    }

    /// Argument `k` of an entry, parsed as a non-negative integer.
    pub fn integer(&self, entry: &Entry, k: usize) -> Result<usize, NnpError> {
        let token = self.argument(entry, k)?;
        token.parse().map_err(|_| {
            NnpError::syntax(
                &self.path,
                entry.line,
                format!("{}: '{token}' is not a non-negative integer", entry.keyword),
            )
        })
    }

    /// Argument `k` of an entry as an integer of at most `max`: a size from the file, checked before anything is
    /// allocated for it.
    pub fn bounded_integer(&self, entry: &Entry, k: usize, max: usize) -> Result<usize, NnpError> {
        let value = self.integer(entry, k)?;
        if value > max {
            return Err(NnpError::syntax(
                &self.path,
                entry.line,
                format!("{}: {value} is more than the {max} this reader accepts", entry.keyword),
            ));
        }
        Ok(value)
    }

    /// Argument `k` of an entry as text.
    pub fn argument<'a>(&self, entry: &'a Entry, k: usize) -> Result<&'a str, NnpError> {
        entry.arguments.get(k).map(String::as_str).ok_or_else(|| {
            NnpError::syntax(
                &self.path,
                entry.line,
                format!("{} needs at least {} argument(s), found {}", entry.keyword, k + 1, entry.arguments.len()),
            )
        })
    }
}

/// Parses a number as C's `atof` would for well-formed input, also accepting Fortran exponents (`1.0D-3`).
pub fn parse_fortran_float(token: &str) -> Option<f64> {
    token.parse().ok().or_else(|| token.replace(['d', 'D'], "e").parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_repeats_and_unsupported_keywords() {
        let path = Path::new("input.nn");
        let s = Settings::parse(path, "# header\nelements H O ! trailing\n\nsymfunction_short H 2 H 0.1 0.0 6.0\nsymfunction_short O 2 H 0.1 0.0 6.0 # c\nfoo_unknown 3\n").unwrap();
        assert_eq!(s.require("elements").unwrap().arguments, vec!["H", "O"]);
        assert_eq!(s.all("symfunction_short").count(), 2);
        assert_eq!(s.all("symfunction_short").nth(1).unwrap().line, 5);
        let twice = Settings::parse(path, "elements H\nelements O\n").unwrap_err().to_string();
        assert!(twice.contains("input.nn") && twice.contains("line 2") && twice.contains("elements"), "{twice}");
        let fourg = Settings::parse(path, "elements H\nnnp_type 4\n").unwrap_err().to_string();
        assert!(fourg.contains("line 2") && fourg.contains("nnp_type"), "{fourg}");
        let ewald = Settings::parse(path, "ewald_prec 1e-6\n").unwrap_err().to_string();
        assert!(ewald.contains("ewald_prec"), "{ewald}");
        assert!(Settings::parse(path, "nnp_type 2\n").is_ok());
        assert_eq!(parse_fortran_float("1.5D-2"), Some(0.015));
    }
}

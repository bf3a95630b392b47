//! `kind = "report"`: a comparison table of numbers taken from earlier stages' results (as recorded in
//! summary.json) beside reference values written in the study file, and an Arrhenius plot of D(T) series from
//! several stages (e.g. MD and kMC together). The engine knows no study: every quantity, its source and its
//! reference value are keys of the stage.
//!
//! A *result path* names a number (or an array) in an earlier stage's `result`:
//! `SOURCE.SEGMENT.SEGMENT...` where SOURCE is a stage kind (the latest earlier stage of that kind) or
//! `stages[i]` (stage i), and each SEGMENT is a key optionally followed by selectors: `[n]` (array element n) or
//! `[key=value,key=value]` (the first array element whose fields equal those values; numbers compare as
//! numbers). Example: `analyze.trajectories[0].rdf.pairs[center=Li,neighbor=O].coordination_number`.

use crate::analysis::arrhenius::{self, fit_arrhenius, ArrheniusPoint};
use crate::input::{join, InvalidValue};
use crate::io;
use crate::plot::{Plot, Series, Style, PALETTE};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// `kind = "report"`.
/// A completed stage as a report reads it: its entry in summary.json, whose `result` the report's paths
/// (`"migration.mean_barrier_ev"`) name.
#[derive(Clone, Debug)]
pub struct CompletedStage {
    pub index: usize,
    /// The stage's `kind`, as written in the study file.
    pub kind: String,
    pub wall_time_s: f64,
    /// The stage's result as summary.json has it.
    pub result: Value,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Title of the table and the plot.
    #[serde(default = "default_title")]
    pub title: String,
    /// Rows of the comparison table, in order.
    #[serde(default)]
    pub compare: Vec<CompareRow>,
    /// D(T) series drawn together on one Arrhenius plot (`arrhenius.svg`), each with its own fit.
    #[serde(default)]
    pub arrhenius: Vec<ArrheniusSeries>,
}

fn default_title() -> String {
    "Comparison".into()
}

/// One row: our number (from a result path, optionally scaled) beside the reference value as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareRow {
    /// What the row is, e.g. "mean NEB barrier".
    pub quantity: String,
    /// Result path of our number; absent for rows with a reference value only (e.g. experiment).
    pub from: Option<String>,
    /// Factor applied to our number (e.g. 1e-4 for Å²/ps → cm²/s); default 1.
    #[serde(default = "one")]
    pub scale: f64,
    /// Unit of our (scaled) number, shown in the table.
    #[serde(default)]
    pub unit: String,
    /// The reference value(s) as text, e.g. "0.57 (NN), 0.58 (DFT)".
    #[serde(default)]
    pub paper: String,
}

fn one() -> f64 {
    1.0
}

/// One Arrhenius series: `from` is a result path to an array of points; each point's temperature, value and
/// (optional) standard error are read with the relative paths `temperature`, `value`, `sigma`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrheniusSeries {
    pub label: String,
    pub from: String,
    #[serde(default = "default_temperature_path")]
    pub temperature: String,
    pub value: String,
    pub sigma: Option<String>,
}

fn default_temperature_path() -> String {
    "temperature_k".into()
}

/// One source of a result path and the path inside that stage's result.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    Kind(String),
    Index(usize),
}

/// A selector after a key.
#[derive(Clone, Debug, PartialEq)]
enum Selector {
    Index(usize),
    Fields(Vec<(String, String)>),
}

/// A parsed segment: key (may be empty before a selector) and selectors.
#[derive(Clone, Debug, PartialEq)]
struct Segment {
    key: String,
    selectors: Vec<Selector>,
}

/// A parsed result path.
#[derive(Clone, Debug, PartialEq)]
struct ResultPath {
    source: Source,
    segments: Vec<Segment>,
}

fn split_outside_brackets(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (k, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unmatched ']' at character {}", k + 1));
                }
            }
            '.' if depth == 0 => {
                parts.push(&text[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unclosed '['".into());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_segment(text: &str) -> Result<Segment, String> {
    let (key, mut rest) = match text.find('[') {
        Some(k) => (&text[..k], &text[k..]),
        None => (text, ""),
    };
    if key.contains(']') {
        return Err(format!("'{text}': ']' without '['"));
    }
    let mut selectors = Vec::new();
    while !rest.is_empty() {
        let close = rest.find(']').ok_or_else(|| format!("'{text}': unclosed '['"))?;
        if !rest.starts_with('[') {
            return Err(format!("'{text}': text between selectors"));
        }
        let inner = &rest[1..close];
        if let Ok(n) = inner.trim().parse::<usize>() {
            selectors.push(Selector::Index(n));
        } else {
            let mut fields = Vec::new();
            for condition in inner.split(',') {
                let (k, v) = condition
                    .split_once('=')
                    .ok_or_else(|| format!("'{text}': selector '[{inner}]' is neither an index nor key=value"))?;
                if k.trim().is_empty() {
                    return Err(format!("'{text}': empty key in '[{inner}]'"));
                }
                fields.push((k.trim().to_string(), v.trim().to_string()));
            }
            selectors.push(Selector::Fields(fields));
        }
        rest = &rest[close + 1..];
    }
    if key.is_empty() && selectors.is_empty() {
        return Err("empty segment (two dots in a row, or a dot at an end)".into());
    }
    Ok(Segment { key: key.to_string(), selectors })
}

fn parse_path(text: &str) -> Result<ResultPath, String> {
    let parts = split_outside_brackets(text)?;
    let first = parse_segment(parts[0])?;
    let source = match (first.key.as_str(), first.selectors.as_slice()) {
        ("stages", [Selector::Index(i)]) => Source::Index(*i),
        (kind, []) if !kind.is_empty() => Source::Kind(kind.to_string()),
        _ => return Err(format!("'{}' is neither a stage kind nor stages[i]", parts[0])),
    };
    let segments = parts[1..].iter().map(|p| parse_segment(p)).collect::<Result<Vec<_>, _>>()?;
    if segments.is_empty() {
        return Err("names a stage but no value in its result".into());
    }
    Ok(ResultPath { source, segments })
}

fn field_matches(value: &Value, wanted: &str) -> bool {
    match value {
        Value::String(s) => s == wanted,
        Value::Number(n) => wanted.parse::<f64>().is_ok_and(|w| n.as_f64() == Some(w)),
        Value::Bool(b) => wanted.parse::<bool>().is_ok_and(|w| w == *b),
        _ => false,
    }
}

fn keys_of(value: &Value) -> String {
    match value {
        Value::Object(map) => format!("keys: {}", map.keys().cloned().collect::<Vec<_>>().join(", ")),
        Value::Array(items) => format!("an array of {} elements", items.len()),
        other => format!("the value {other}"),
    }
}

fn descend<'a>(value: &'a Value, segments: &[Segment]) -> Result<&'a Value, String> {
    let mut current = value;
    for segment in segments {
        if !segment.key.is_empty() {
            current = current
                .get(&segment.key)
                .ok_or_else(|| format!("no '{}' (found {})", segment.key, keys_of(current)))?;
        }
        for selector in &segment.selectors {
            let items = current.as_array().ok_or_else(|| format!("'{}' is not an array", segment.key))?;
            current = match selector {
                Selector::Index(n) => items
                    .get(*n)
                    .ok_or_else(|| format!("'{}[{n}]': the array has {} elements", segment.key, items.len()))?,
                Selector::Fields(fields) => items
                    .iter()
                    .find(|item| fields.iter().all(|(k, v)| item.get(k).is_some_and(|x| field_matches(x, v))))
                    .ok_or_else(|| {
                        let wanted: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        format!("no element of '{}' has {}", segment.key, wanted.join(", "))
                    })?,
            };
        }
    }
    Ok(current)
}

/// Checks a result path's syntax and that its source is an earlier stage of the file (`kinds` = the kinds of
/// the stages before the report, in order).
fn validate_path(key: &str, text: &str, kinds: &[&str]) -> Result<(), InvalidValue> {
    let path = parse_path(text).map_err(|reason| {
        InvalidValue::new(key, text, format!("a result path such as \"migration.mean_barrier_ev\" ({reason})"))
    })?;
    match path.source {
        Source::Index(i) if i >= kinds.len() => Err(InvalidValue::new(
            key,
            text,
            format!("stages[i] with i an earlier stage (0 to {})", kinds.len() as i64 - 1),
        )),
        Source::Kind(kind) if !kinds.contains(&kind.as_str()) => Err(InvalidValue::new(
            key,
            text,
            format!("a path starting with the kind of an earlier stage ({})", kinds.join(", ")),
        )),
        _ => Ok(()),
    }
}

/// Finds the value a result path names among the completed stage records.
fn lookup<'a>(text: &str, records: &'a [CompletedStage]) -> Result<&'a Value> {
    let path = parse_path(text).map_err(|e| anyhow!("{text}: {e}"))?;
    let record = match &path.source {
        Source::Index(i) => records.iter().find(|r| r.index == *i),
        Source::Kind(kind) => records.iter().rev().find(|r| &r.kind == kind),
    }
    .ok_or_else(|| anyhow!("{text}: no completed stage matches"))?;
    descend(&record.result, &path.segments)
        .map_err(|e| anyhow!("{text}: in stage {} ({}): {e}", record.index, record.kind))
}

fn number(value: &Value, what: &str) -> Result<f64> {
    value.as_f64().ok_or_else(|| anyhow!("{what} is {value}, not a number"))
}

/// One finished row of the table.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ReportRow {
    pub quantity: String,
    pub ours: Option<f64>,
    pub unit: String,
    pub paper: String,
    pub from: Option<String>,
    /// Why `ours` is empty although `from` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

/// One fitted series of the Arrhenius plot.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct SeriesFit {
    pub label: String,
    pub points: Vec<ArrheniusPoint>,
    pub activation_energy_ev: Option<f64>,
    pub activation_energy_sigma_ev: Option<f64>,
    /// Why there is no fit (fewer than two temperatures, a non-positive D, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a report stage produced (summary.json).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ReportResult {
    pub title: String,
    pub rows: Vec<ReportRow>,
    pub arrhenius: Vec<SeriesFit>,
    pub files: Vec<String>,
}

/// Formats a number for the table: 4 significant digits, scientific notation outside [10⁻³, 10⁵).
pub fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.abs() >= 1e-3 && x.abs() < 1e5 {
        let digits = (3 - x.abs().log10().floor().max(-3.0) as i32).max(0) as usize;
        format!("{x:.digits$}")
    } else {
        format!("{x:.3e}")
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

impl ReportSettings {
    /// Checks the keys; `kinds` are the kinds of the stages before this one.
    pub fn validate(&self, key: &str, kinds: &[&str]) -> Result<(), InvalidValue> {
        if self.compare.is_empty() && self.arrhenius.is_empty() {
            return Err(InvalidValue::new(
                join(key, "compare"),
                "[]",
                "at least one [[stage.compare]] or [[stage.arrhenius]] entry",
            ));
        }
        for (k, row) in self.compare.iter().enumerate() {
            let prefix = format!("{}[{k}]", join(key, "compare"));
            if row.quantity.trim().is_empty() {
                return Err(InvalidValue::new(join(&prefix, "quantity"), "\"\"", "a name for the row"));
            }
            if let Some(from) = &row.from {
                validate_path(&join(&prefix, "from"), from, kinds)?;
            }
            if !(row.scale.is_finite() && row.scale != 0.0) {
                return Err(InvalidValue::new(join(&prefix, "scale"), row.scale, "a finite non-zero factor"));
            }
        }
        for (k, series) in self.arrhenius.iter().enumerate() {
            let prefix = format!("{}[{k}]", join(key, "arrhenius"));
            validate_path(&join(&prefix, "from"), &series.from, kinds)?;
            for (name, relative) in [
                ("temperature", Some(&series.temperature)),
                ("value", Some(&series.value)),
                ("sigma", series.sigma.as_ref()),
            ] {
                if let Some(relative) = relative {
                    split_outside_brackets(relative)
                        .and_then(|parts| parts.iter().map(|p| parse_segment(p)).collect::<Result<Vec<_>, _>>())
                        .map_err(|reason| {
                            InvalidValue::new(
                                join(&prefix, name),
                                relative,
                                format!("a path inside each point, e.g. \"temperature_k\" ({reason})"),
                            )
                        })?;
                }
            }
        }
        Ok(())
    }

    /// Builds the table from `records` (the stages completed so far), writes `comparison.csv`, `comparison.md`
    /// and (with series) `arrhenius.svg` into `dir`, and prints the table unless `quiet`.
    pub fn run(&self, records: &[CompletedStage], dir: &Path, quiet: bool) -> Result<ReportResult> {
        let mut rows = Vec::new();
        for (k, row) in self.compare.iter().enumerate() {
            // A value that cannot be found (e.g. no Arrhenius fit because D was zero at the lowest temperature)
            // leaves its cell empty with the reason, so one missing number does not lose the whole table.
            let (ours, missing) = match &row.from {
                Some(from) => match lookup(from, records).and_then(|v| number(v, from)) {
                    Ok(x) => (Some(x * row.scale), None),
                    Err(e) => (None, Some(format!("compare[{k}].from: {e:#}"))),
                },
                None => (None, None),
            };
            if let (Some(reason), false) = (&missing, quiet) {
                eprintln!("warning: {reason}");
            }
            rows.push(ReportRow {
                quantity: row.quantity.clone(),
                ours,
                unit: row.unit.clone(),
                paper: row.paper.clone(),
                from: row.from.clone(),
                missing,
            });
        }
        let mut fits = Vec::new();
        for (k, series) in self.arrhenius.iter().enumerate() {
            match self.series_fit(k, series, records) {
                Ok(fit) => fits.push(fit),
                Err(e) => fits.push(SeriesFit {
                    label: series.label.clone(),
                    points: Vec::new(),
                    activation_energy_ev: None,
                    activation_energy_sigma_ev: None,
                    note: Some(format!("{e:#}")),
                }),
            }
        }
        let mut files = Vec::new();
        let mut csv = String::from("quantity,ours,unit,paper,from\n");
        for row in &rows {
            let _ = writeln!(
                csv,
                "{},{},{},{},{}",
                csv_field(&row.quantity),
                row.ours.map(|x| x.to_string()).unwrap_or_default(),
                csv_field(&row.unit),
                csv_field(&row.paper),
                csv_field(row.from.as_deref().unwrap_or(""))
            );
        }
        io::write_atomically(&dir.join("comparison.csv"), csv.as_bytes())?;
        files.push("comparison.csv".to_string());
        let markdown = self.markdown(&rows, &fits, records);
        io::write_atomically(&dir.join("comparison.md"), markdown.as_bytes())?;
        files.push("comparison.md".to_string());
        if fits.iter().any(|f| !f.points.is_empty()) {
            io::write_atomically(&dir.join("arrhenius.svg"), self.plot(&fits).to_svg().as_bytes())?;
            files.push("arrhenius.svg".to_string());
        }
        if !quiet {
            println!("{markdown}");
        }
        Ok(ReportResult { title: self.title.clone(), rows, arrhenius: fits, files })
    }

    fn series_fit(&self, k: usize, series: &ArrheniusSeries, records: &[CompletedStage]) -> Result<SeriesFit> {
        let what = format!("arrhenius[{k}]");
        let array = lookup(&series.from, records).with_context(|| format!("{what}.from"))?;
        let items = array.as_array().ok_or_else(|| anyhow!("{what}.from = {}: not an array of points", series.from))?;
        let relative = |text: &str| -> Result<Vec<Segment>> {
            split_outside_brackets(text)
                .and_then(|parts| parts.iter().map(|p| parse_segment(p)).collect())
                .map_err(|e| anyhow!("{what}: {text}: {e}"))
        };
        let (t_path, v_path) = (relative(&series.temperature)?, relative(&series.value)?);
        let s_path = series.sigma.as_deref().map(relative).transpose()?;
        let mut points = Vec::new();
        for (n, item) in items.iter().enumerate() {
            let get = |path: &[Segment], name: &str| -> Result<f64> {
                let value = descend(item, path).map_err(|e| anyhow!("{what}: point {n}: {name}: {e}"))?;
                number(value, &format!("{what}: point {n}: {name}"))
            };
            points.push(ArrheniusPoint {
                temperature_k: get(&t_path, "temperature")?,
                value: get(&v_path, "value")?,
                sigma: match &s_path {
                    Some(path) => get(path, "sigma")?,
                    None => 0.0,
                },
            });
        }
        if points.is_empty() {
            bail!("{what}.from = {}: the array is empty", series.from);
        }
        let (activation_energy_ev, activation_energy_sigma_ev, note) = match fit_arrhenius(&points) {
            Ok(fit) => (Some(fit.activation_energy_ev), Some(fit.activation_energy_sigma_ev), None),
            Err(reason) => (None, None, Some(reason)),
        };
        Ok(SeriesFit { label: series.label.clone(), points, activation_energy_ev, activation_energy_sigma_ev, note })
    }

    fn markdown(&self, rows: &[ReportRow], fits: &[SeriesFit], records: &[CompletedStage]) -> String {
        let mut text = format!("# {}\n\n| quantity | this run | unit | reference |\n|---|---|---|---|\n", self.title);
        for row in rows {
            let ours = match (row.ours, &row.missing) {
                (Some(x), _) => format_number(x),
                (None, Some(reason)) => format!("— ({reason})"),
                (None, None) => "—".into(),
            };
            let _ = writeln!(text, "| {} | {} | {} | {} |", row.quantity, ours, row.unit, row.paper);
        }
        if !fits.is_empty() {
            text.push_str("\n| Arrhenius series | E_a (eV) | points |\n|---|---|---|\n");
            for fit in fits {
                let ea = match (fit.activation_energy_ev, fit.activation_energy_sigma_ev) {
                    (Some(e), Some(s)) => format!("{} ± {}", format_number(e), format_number(s)),
                    _ => format!("no fit: {}", fit.note.as_deref().unwrap_or("")),
                };
                let _ = writeln!(text, "| {} | {} | {} |", fit.label, ea, fit.points.len());
            }
        }
        text.push_str("\n| stage | kind | wall time (s) |\n|---|---|---|\n");
        for record in records {
            let _ = writeln!(text, "| {} | {} | {:.1} |", record.index, record.kind, record.wall_time_s);
        }
        text
    }

    fn plot(&self, fits: &[SeriesFit]) -> Plot {
        let mut plot = Plot {
            title: self.title.clone(),
            x_label: "1000 / T (1/K)".into(),
            y_label: "D".into(),
            y_log: true,
            ..Default::default()
        };
        for (k, fit) in fits.iter().enumerate() {
            let label = match fit.activation_energy_ev {
                Some(e) => format!("{} (E_a = {} eV)", fit.label, format_number(e)),
                None => fit.label.clone(),
            };
            let color = PALETTE[k % PALETTE.len()];
            match fit_arrhenius(&fit.points) {
                Ok(line) => {
                    plot.series.extend(arrhenius::plot_series(&line, label, format!("{} fit", fit.label), color))
                }
                Err(_) => {
                    let x = fit.points.iter().map(|p| 1000.0 / p.temperature_k).collect();
                    let y = fit.points.iter().map(|p| p.value).collect();
                    let sigma = fit.points.iter().map(|p| p.sigma).collect();
                    plot.series.push(Series::new(label, x, y, Style::Markers).with_errors(sigma).with_color(color));
                }
            }
        }
        plot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(index: usize, kind: &str, result: Value) -> CompletedStage {
        CompletedStage { index, kind: kind.into(), wall_time_s: 1.0, result }
    }

    fn records() -> Vec<CompletedStage> {
        vec![
            record(0, "migration", json!({ "mean_barrier_ev": 0.5 })),
            record(
                1,
                "analyze",
                json!({ "trajectories": [{ "rdf": { "pairs": [
                    { "center": "O", "neighbor": "Li", "coordination_number": 1.3 },
                    { "center": "Li", "neighbor": "O", "coordination_number": 4.1 }] } }] }),
            ),
            record(2, "migration", json!({ "mean_barrier_ev": 0.6 })),
            // D = 100 exp(-0.5 eV / k_B T) at 500, 700, 1000 K: the fit must give E_a = 0.5 eV.
            record(
                3,
                "kmc",
                json!({ "temperatures": [
                    { "temperature_k": 500.0, "ion_tracer": { "d": 100.0 * (-0.5f64 / (crate::units::BOLTZMANN_EV_PER_K * 500.0)).exp() } },
                    { "temperature_k": 700.0, "ion_tracer": { "d": 100.0 * (-0.5f64 / (crate::units::BOLTZMANN_EV_PER_K * 700.0)).exp() } },
                    { "temperature_k": 1000.0, "ion_tracer": { "d": 100.0 * (-0.5f64 / (crate::units::BOLTZMANN_EV_PER_K * 1000.0)).exp() } }] }),
            ),
        ]
    }

    #[test]
    fn paths_find_the_latest_stage_of_a_kind_a_stage_by_index_and_array_elements_by_field() {
        let records = records();
        assert_eq!(lookup("migration.mean_barrier_ev", &records).unwrap(), &json!(0.6));
        assert_eq!(lookup("stages[0].mean_barrier_ev", &records).unwrap(), &json!(0.5));
        let cn = "analyze.trajectories[0].rdf.pairs[center=Li,neighbor=O].coordination_number";
        assert_eq!(lookup(cn, &records).unwrap(), &json!(4.1));
        assert_eq!(lookup("kmc.temperatures[temperature_k=1000].temperature_k", &records).unwrap(), &json!(1000.0));
        let err = lookup("migration.mean_barrier", &records).unwrap_err().to_string();
        assert_eq!(
            err,
            "migration.mean_barrier: in stage 2 (migration): no 'mean_barrier' (found keys: mean_barrier_ev)"
        );
        let err = lookup("analyze.trajectories[3]", &records).unwrap_err().to_string();
        assert!(err.ends_with("'trajectories[3]': the array has 1 elements"), "{err}");
    }

    #[test]
    fn validation_checks_syntax_and_that_the_source_stage_comes_earlier() {
        let kinds = ["md", "migration"];
        assert!(validate_path("k", "migration.mean_barrier_ev", &kinds).is_ok());
        assert!(validate_path("k", "stages[1].x[kind=a].y", &kinds).is_ok());
        let err = validate_path("stage[2].compare[0].from", "kmc.arrhenius", &kinds).unwrap_err();
        assert_eq!(
            err.to_string(),
            "stage[2].compare[0].from = kmc.arrhenius: expected a path starting with the kind of an earlier stage (md, migration)"
        );
        assert!(validate_path("k", "stages[2].x", &kinds).unwrap_err().expected.contains("(0 to 1)"));
        assert!(validate_path("k", "md..x", &kinds).unwrap_err().expected.contains("empty segment"));
        assert!(validate_path("k", "md.x[a", &kinds).unwrap_err().expected.contains("unclosed"));
        assert!(validate_path("k", "md", &kinds).unwrap_err().expected.contains("no value"));
    }

    #[test]
    fn the_report_writes_the_table_and_fits_the_series() {
        let settings: ReportSettings = toml::from_str(
            r#"
            title = "test"
            [[compare]]
            quantity = "mean barrier"
            from = "migration.mean_barrier_ev"
            unit = "eV"
            paper = "0.57 (NN)"
            [[compare]]
            quantity = "experiment, E_a"
            paper = "0.55-0.58"
            [[compare]]
            quantity = "barrier, meV"
            from = "stages[0].mean_barrier_ev"
            scale = 1000
            [[compare]]
            quantity = "absent"
            from = "kmc.arrhenius_ions.activation_energy_ev"
            [[arrhenius]]
            label = "kMC"
            from = "kmc.temperatures"
            value = "ion_tracer.d"
            "#,
        )
        .unwrap();
        settings.validate("stage[4]", &["migration", "analyze", "migration", "kmc"]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let result = settings.run(&records(), dir.path(), true).unwrap();
        assert_eq!(result.rows[0].ours, Some(0.6));
        assert_eq!(result.rows[1].ours, None);
        assert_eq!(result.rows[2].ours, Some(500.0));
        assert_eq!(result.rows[3].ours, None);
        assert_eq!(
            result.rows[3].missing.as_deref(),
            Some("compare[3].from: kmc.arrhenius_ions.activation_energy_ev: in stage 3 (kmc): no 'arrhenius_ions' (found keys: temperatures)")
        );
        assert!((result.arrhenius[0].activation_energy_ev.unwrap() - 0.5).abs() < 1e-9);
        let csv = std::fs::read_to_string(dir.path().join("comparison.csv")).unwrap();
        assert!(csv.contains("mean barrier,0.6,eV,0.57 (NN),migration.mean_barrier_ev\n"), "{csv}");
        let markdown = std::fs::read_to_string(dir.path().join("comparison.md")).unwrap();
        assert!(markdown.contains("| mean barrier | 0.6000 | eV | 0.57 (NN) |"), "{markdown}");
        assert!(markdown.contains("| barrier, meV | 500 |  |  |"), "{markdown}");
        assert!(markdown.contains("| kMC | 0.5000 ± "), "{markdown}");
        assert!(dir.path().join("arrhenius.svg").exists());
    }

    #[test]
    fn numbers_are_formatted_to_four_significant_digits() {
        assert_eq!(format_number(0.5734), "0.5734");
        assert_eq!(format_number(2.1234), "2.123");
        assert_eq!(format_number(1234.4), "1234");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(46.0), "46");
        assert_eq!(format_number(1.5e-6), "1.500e-6");
    }
}

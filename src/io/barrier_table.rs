//! The barrier table `barriers.csv` ("mdrun barrier table v1", specified in docs/barrier-table.md): the
//! interchange format between the `migration` stage (which writes it, [`format_table`]) and the kinetic Monte
//! Carlo module (which reads it, [`read_table`] / [`parse_table`]). One row type, [`BarrierRow`], serves both.
//!
//! Layout: `# mdrun barrier table v1`, `# structure: <path|inline>`, `# cell: ax ay az bx by bz cx cy cz` (rows of
//! the cell matrix, Å; zeros for a non-periodic structure), further `# ` comment lines, the column line
//! [`COLUMNS`], then one line per hop: positions with 6 decimals, energies with 8, `converged` as `true`/`false`.
//! Each row describes the hop from_site → to_site with forward barrier E_saddle − E_initial and the reverse hop with
//! E_saddle − E_final; `hop_distance_a` = |to − from|.

use crate::system::Cell;
use anyhow::{bail, Context};
use nalgebra::Vector3;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

/// First line of every barrier table.
pub const HEADER: &str = "# mdrun barrier table v1";

/// Column names, in the order the writer uses (a reader accepts any order and ignores extra columns).
pub const COLUMN_NAMES: [&str; 17] = [
    "path_id",
    "species",
    "from_site",
    "to_site",
    "from_x",
    "from_y",
    "from_z",
    "to_x",
    "to_y",
    "to_z",
    "hop_distance_a",
    "initial_energy_ev",
    "final_energy_ev",
    "saddle_energy_ev",
    "forward_barrier_ev",
    "reverse_barrier_ev",
    "converged",
];

/// The column line: [`COLUMN_NAMES`] joined by commas.
pub const COLUMNS: &str = "path_id,species,from_site,to_site,from_x,from_y,from_z,to_x,to_y,to_z,hop_distance_a,\
initial_energy_ev,final_energy_ev,saddle_energy_ev,forward_barrier_ev,reverse_barrier_ev,converged";

/// Tolerance of the consistency checks of a row's energies (eV): forward = saddle − initial and reverse =
/// saddle − final must hold within it.
pub const ENERGY_TOLERANCE_EV: f64 = 0.01;
/// Tolerance of the consistency checks of a row's positions (Å): hop_distance_a = |to − from| within it, and a row
/// with from_site = to_site needs |to − from| above it.
pub const POSITION_TOLERANCE_A: f64 = 0.05;

/// One hop of the mobile species from `from_site` into the vacant `to_site` (and the reverse hop).
///
/// `hop_distance_a`, `forward_barrier_ev` and `reverse_barrier_ev` are stored, not recomputed: a row built by the
/// writer ([`BarrierRow::new`]) computes them from positions and energies, a row read from a file holds the
/// (rounded) values of the file, checked against positions and energies by the reader.
#[derive(Clone, Debug, PartialEq)]
pub struct BarrierRow {
    /// 1-based line of the file the row was read from (for messages); 0 for a row built in memory.
    pub line: usize,
    /// Row number, unique within the file (≥ 0: the format has no "not from a path" value).
    pub path_id: usize,
    /// Element symbol of the moving atom.
    pub species: String,
    /// 0-based index in the perfect structure of the site the atom leaves.
    pub from_site: usize,
    /// 0-based index in the perfect structure of the vacant site the atom moves into.
    pub to_site: usize,
    /// Cartesian position of `from_site` (Å).
    pub from: Vector3<f64>,
    /// Cartesian position of `to_site` as seen from `from` (from + minimum-image hop vector, Å).
    pub to: Vector3<f64>,
    /// |to − from| (Å).
    pub hop_distance_a: f64,
    /// Relaxed energy with the vacancy at `to_site` (eV).
    pub initial_energy_ev: f64,
    /// Relaxed energy with the vacancy at `from_site` (eV).
    pub final_energy_ev: f64,
    /// Energy of the highest NEB image (eV).
    pub saddle_energy_ev: f64,
    /// saddle − initial (eV).
    pub forward_barrier_ev: f64,
    /// saddle − final (eV).
    pub reverse_barrier_ev: f64,
    /// NEB band and both endpoint relaxations reached `fmax`.
    pub converged: bool,
}

impl BarrierRow {
    /// A row built in memory (`line` = 0), with hop_distance_a = |to − from|, forward = saddle − initial and
    /// reverse = saddle − final.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        path_id: usize,
        species: String,
        (from_site, to_site): (usize, usize),
        (from, to): (Vector3<f64>, Vector3<f64>),
        initial_energy_ev: f64,
        final_energy_ev: f64,
        saddle_energy_ev: f64,
        converged: bool,
    ) -> BarrierRow {
        BarrierRow {
            line: 0,
            path_id,
            species,
            from_site,
            to_site,
            from,
            to,
            hop_distance_a: (to - from).norm(),
            initial_energy_ev,
            final_energy_ev,
            saddle_energy_ev,
            forward_barrier_ev: saddle_energy_ev - initial_energy_ev,
            reverse_barrier_ev: saddle_energy_ev - final_energy_ev,
            converged,
        }
    }
}

/// A parsed table: header fields and rows.
#[derive(Clone, Debug)]
pub struct BarrierTable {
    /// The `# structure:` header (path or "inline"), if present.
    pub structure: Option<String>,
    pub cell: Cell,
    pub rows: Vec<BarrierRow>,
}

/// The table text: header, `# structure:`, `# cell:` (rows of the cell matrix with 10 decimals, zeros for a
/// non-periodic system), any `comments` (each prefixed with `# `), the column line and one line per row.
pub fn format_table(structure: &str, cell: &Cell, comments: &[String], rows: &[BarrierRow]) -> String {
    let mut out = String::new();
    writeln!(out, "{HEADER}").unwrap();
    writeln!(out, "# structure: {structure}").unwrap();
    let m = if cell.is_infinite() { nalgebra::Matrix3::zeros() } else { *cell.matrix() };
    let values: Vec<String> = (0..3).flat_map(|r| (0..3).map(move |c| format!("{:.10}", m[(r, c)]))).collect();
    writeln!(out, "# cell: {}", values.join(" ")).unwrap();
    for comment in comments {
        writeln!(out, "# {comment}").unwrap();
    }
    writeln!(out, "{COLUMNS}").unwrap();
    for row in rows {
        let position = |v: &Vector3<f64>| [v.x, v.y, v.z].map(|c| fixed(c, 6)).join(",");
        let energies = [
            row.initial_energy_ev,
            row.final_energy_ev,
            row.saddle_energy_ev,
            row.forward_barrier_ev,
            row.reverse_barrier_ev,
        ]
        .map(|e| fixed(e, 8))
        .join(",");
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            row.path_id,
            row.species,
            row.from_site,
            row.to_site,
            position(&row.from),
            position(&row.to),
            fixed(row.hop_distance_a, 6),
            energies,
            row.converged
        )
        .unwrap();
    }
    out
}

/// `v` with `decimals` decimals, without a minus sign on a value that rounds to zero.
fn fixed(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => text,
    }
}

/// Reads and parses a barrier table file.
pub fn read_table(path: &Path) -> anyhow::Result<BarrierTable> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read barrier table {}", path.display()))?;
    parse_table(&text, &path.display().to_string())
}

/// Parses barrier-table text; `name` is used in error messages. Checks the version line, the `# cell:` line (9
/// finite numbers, not coplanar), the columns, and every row: field count, numbers finite, site indices and
/// `path_id` non-negative integers, `converged` true/false, and the consistency of [`check_row`].
pub fn parse_table(text: &str, name: &str) -> anyhow::Result<BarrierTable> {
    let mut structure = None;
    let mut cell = None;
    let mut columns: Option<HashMap<String, usize>> = None;
    let mut rows = Vec::new();
    let mut saw_version = false;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim();
            if comment.starts_with("mdrun barrier table") {
                if comment != "mdrun barrier table v1" {
                    bail!("{name} line {line_no}: '{comment}': this reader understands 'mdrun barrier table v1'");
                }
                saw_version = true;
            } else if let Some(value) = comment.strip_prefix("structure:") {
                structure = Some(value.trim().to_string());
            } else if let Some(value) = comment.strip_prefix("cell:") {
                let v: Vec<f64> = value
                    .split_whitespace()
                    .map(|x| x.parse::<f64>().ok().filter(|x| x.is_finite()))
                    .collect::<Option<_>>()
                    .filter(|v: &Vec<f64>| v.len() == 9)
                    .with_context(|| {
                        format!("{name} line {line_no}: '# cell:' needs 9 finite numbers, found '{}'", value.trim())
                    })?;
                cell = Some(
                    Cell::from_vectors(
                        Vector3::new(v[0], v[1], v[2]),
                        Vector3::new(v[3], v[4], v[5]),
                        Vector3::new(v[6], v[7], v[8]),
                    )
                    .with_context(|| format!("{name} line {line_no}: the cell vectors are (nearly) coplanar"))?,
                );
            }
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let Some(map) = columns.as_ref() else {
            let map: HashMap<String, usize> = fields.iter().enumerate().map(|(i, f)| (f.to_string(), i)).collect();
            for column in COLUMN_NAMES {
                if !map.contains_key(column) {
                    bail!("{name} line {line_no}: the header has no column '{column}' (expected {COLUMNS})");
                }
            }
            columns = Some(map);
            continue;
        };
        if fields.len() != map.len() {
            bail!("{name} line {line_no}: {} fields, the header has {}", fields.len(), map.len());
        }
        let field = |column: &str| fields[map[column]];
        let number = |column: &str| -> anyhow::Result<f64> {
            field(column).parse::<f64>().ok().filter(|x| x.is_finite()).with_context(|| {
                format!("{name} line {line_no}: {column} = '{}': expected a finite number", field(column))
            })
        };
        let integer = |column: &str| -> anyhow::Result<i64> {
            field(column)
                .parse::<i64>()
                .with_context(|| format!("{name} line {line_no}: {column} = '{}': expected an integer", field(column)))
        };
        let site = |column: &str| -> anyhow::Result<usize> {
            let v = integer(column)?;
            usize::try_from(v)
                .ok()
                .filter(|&s| s < u32::MAX as usize)
                .with_context(|| format!("{name} line {line_no}: {column} = {v}: expected a site index ≥ 0"))
        };
        let path_id = {
            let v = integer("path_id")?;
            usize::try_from(v)
                .with_context(|| format!("{name} line {line_no}: path_id = {v}: expected a row number ≥ 0"))?
        };
        let converged = match field("converged").to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            other => bail!("{name} line {line_no}: converged = '{other}': expected true or false"),
        };
        let row = BarrierRow {
            line: line_no,
            path_id,
            species: field("species").to_string(),
            from_site: site("from_site")?,
            to_site: site("to_site")?,
            from: Vector3::new(number("from_x")?, number("from_y")?, number("from_z")?),
            to: Vector3::new(number("to_x")?, number("to_y")?, number("to_z")?),
            hop_distance_a: number("hop_distance_a")?,
            initial_energy_ev: number("initial_energy_ev")?,
            final_energy_ev: number("final_energy_ev")?,
            saddle_energy_ev: number("saddle_energy_ev")?,
            forward_barrier_ev: number("forward_barrier_ev")?,
            reverse_barrier_ev: number("reverse_barrier_ev")?,
            converged,
        };
        check_row(&row, name)?;
        rows.push(row);
    }
    if !saw_version {
        bail!("{name}: missing the '# mdrun barrier table v1' line");
    }
    let cell = cell.with_context(|| format!("{name}: missing the '# cell: ax ay az bx by bz cx cy cz' line"))?;
    if rows.is_empty() {
        bail!("{name}: the table has no rows");
    }
    Ok(BarrierTable { structure, cell, rows })
}

/// The consistency of one row: two different sites (or, for from_site = to_site, a hop to another image),
/// forward = saddle − initial and reverse = saddle − final within [`ENERGY_TOLERANCE_EV`], and
/// hop_distance_a = |to − from| within [`POSITION_TOLERANCE_A`].
pub fn check_row(row: &BarrierRow, name: &str) -> anyhow::Result<()> {
    let at = format!("{name} line {} (path {})", row.line, row.path_id);
    if row.from_site == row.to_site && (row.to - row.from).norm() < POSITION_TOLERANCE_A {
        bail!("{at}: from_site = to_site = {} and to = from: a hop needs two different sites", row.from_site);
    }
    let forward = row.saddle_energy_ev - row.initial_energy_ev;
    let reverse = row.saddle_energy_ev - row.final_energy_ev;
    if (forward - row.forward_barrier_ev).abs() > ENERGY_TOLERANCE_EV
        || (reverse - row.reverse_barrier_ev).abs() > ENERGY_TOLERANCE_EV
    {
        bail!(
            "{at}: forward/reverse barriers {} / {} eV disagree with saddle − initial = {forward:.4} and saddle − final \
             = {reverse:.4} eV",
            row.forward_barrier_ev,
            row.reverse_barrier_ev
        );
    }
    let distance = (row.to - row.from).norm();
    if (distance - row.hop_distance_a).abs() > POSITION_TOLERANCE_A {
        bail!("{at}: hop_distance_a = {} but |to − from| = {distance:.4} Å", row.hop_distance_a);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> BarrierRow {
        BarrierRow::new(
            0,
            "Li".into(),
            (12, 37),
            (Vector3::new(1.0, 2.0, 3.0), Vector3::new(3.1, 2.2, 3.5)),
            -1234.5,
            -1234.4,
            -1233.9,
            true,
        )
    }

    #[test]
    fn table_matches_the_specified_layout() {
        let cell = Cell::orthorhombic(10.0, 11.0, 12.0).unwrap();
        let text = format_table("inline", &cell, &[], &[example()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# mdrun barrier table v1");
        assert_eq!(lines[1], "# structure: inline");
        assert!(lines[2].starts_with("# cell: 10.0000000000 0.0000000000 0.0000000000 0.0000000000 11.0000000000"));
        assert_eq!(lines[3], COLUMNS);
        assert_eq!(COLUMNS, COLUMN_NAMES.join(","));
        let fields: Vec<&str> = lines[4].split(',').collect();
        assert_eq!(fields.len(), COLUMNS.split(',').count());
        assert_eq!(&fields[..4], &["0", "Li", "12", "37"]);
        let number = |k: usize| fields[k].parse::<f64>().unwrap();
        assert!((number(10) - (2.1f64 * 2.1 + 0.04 + 0.25).sqrt()).abs() < 1e-6);
        assert!((number(14) - 0.6).abs() < 1e-6 && (number(15) - 0.5).abs() < 1e-6);
        assert_eq!(fields[16], "true");
        assert_eq!(fixed(-1e-12, 6), "0.000000");
        assert_eq!(fixed(-0.5, 2), "-0.50");
    }

    #[test]
    fn what_the_writer_writes_the_reader_reads_back() {
        let cell = Cell::orthorhombic(10.0, 11.0, 12.0).unwrap();
        let mut second = example();
        second.path_id = 1;
        second.converged = false;
        let text = format_table("s.extxyz", &cell, &["a comment".into()], &[example(), second]);
        let table = parse_table(&text, "t.csv").unwrap();
        assert_eq!(table.structure.as_deref(), Some("s.extxyz"));
        assert_eq!(table.rows.len(), 2);
        let (read, written) = (&table.rows[1], example());
        assert_eq!((read.line, read.path_id, read.converged), (7, 1, false));
        assert_eq!((read.from_site, read.to_site, read.species.as_str()), (12, 37, "Li"));
        assert!((read.forward_barrier_ev - written.forward_barrier_ev).abs() < 1e-8);
        assert!((read.hop_distance_a - written.hop_distance_a).abs() < 1e-6);
    }

    #[test]
    fn a_negative_path_id_is_an_error() {
        let text = format!(
            "{HEADER}\n# cell: 4 0 0 0 4 0 0 0 4\n{COLUMNS}\n-1,Li,0,1,0,0,0,2,0,0,2.0,-10,-10,-9.5,0.5,0.5,true\n"
        );
        let err = parse_table(&text, "b.csv").unwrap_err().to_string();
        assert_eq!(err, "b.csv line 4: path_id = -1: expected a row number ≥ 0");
    }
}

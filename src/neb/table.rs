//! The shared barrier table `barriers.csv` (format v1, specified in docs/barrier-table.md), written here
//! and read by the kinetic Monte Carlo module.

use crate::system::Cell;
use nalgebra::Vector3;
use std::fmt::Write as _;

/// First line of every barrier table.
pub const HEADER: &str = "# mdrun barrier table v1";
/// Column names, in order.
pub const COLUMNS: &str = "path_id,species,from_site,to_site,from_x,from_y,from_z,to_x,to_y,to_z,hop_distance_a,\
initial_energy_ev,final_energy_ev,saddle_energy_ev,forward_barrier_ev,reverse_barrier_ev,converged";

/// One hop of the mobile species from `from_site` into the vacant `to_site`.
#[derive(Clone, Debug, PartialEq)]
pub struct BarrierRow {
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
    pub initial_energy_ev: f64,
    pub final_energy_ev: f64,
    pub saddle_energy_ev: f64,
    pub converged: bool,
}

impl BarrierRow {
    /// |to − from| (Å).
    pub fn hop_distance(&self) -> f64 {
        (self.to - self.from).norm()
    }
    /// saddle − initial (eV).
    pub fn forward_barrier(&self) -> f64 {
        self.saddle_energy_ev - self.initial_energy_ev
    }
    /// saddle − final (eV).
    pub fn reverse_barrier(&self) -> f64 {
        self.saddle_energy_ev - self.final_energy_ev
    }
}

/// The table text: header, `# structure:`, `# cell:` (rows of the cell matrix, zeros for a non-periodic
/// system), any `comments` (each prefixed with `# `), the column line and one line per row.
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
            row.forward_barrier(),
            row.reverse_barrier(),
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
            fixed(row.hop_distance(), 6),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_specified_layout() {
        let row = BarrierRow {
            path_id: 0,
            species: "Li".into(),
            from_site: 12,
            to_site: 37,
            from: Vector3::new(1.0, 2.0, 3.0),
            to: Vector3::new(3.1, 2.2, 3.5),
            initial_energy_ev: -1234.5,
            final_energy_ev: -1234.4,
            saddle_energy_ev: -1233.9,
            converged: true,
        };
        let cell = Cell::orthorhombic(10.0, 11.0, 12.0).unwrap();
        let text = format_table("inline", &cell, &[], &[row]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# mdrun barrier table v1");
        assert_eq!(lines[1], "# structure: inline");
        assert!(lines[2].starts_with("# cell: 10.0000000000 0.0000000000 0.0000000000 0.0000000000 11.0000000000"));
        assert_eq!(lines[3], COLUMNS);
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
}

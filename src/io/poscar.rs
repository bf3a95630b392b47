//! VASP POSCAR/CONTCAR (VASP 5 format, with the element line), read and written by hand.
//!
//! Layout: comment; scale (negative = target volume in Å³); three lattice vectors (Å); element symbols;
//! counts; optional `Selective dynamics`; `Direct` or `Cartesian`; one position per atom (the selective
//! dynamics flags are ignored); an optional velocity block (Å/fs in VASP's convention) is ignored.

use super::IoError;
use crate::system::{elements, Cell, System};
use nalgebra::{Matrix3, Vector3};
use std::fmt::Write as _;
use std::path::Path;

/// Reads a POSCAR/CONTCAR file.
pub fn read(path: &Path) -> Result<System, IoError> {
    let text = std::fs::read_to_string(path).map_err(|e| IoError::open(path, e))?;
    parse(path, &text)
}

/// Parses POSCAR text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<System, IoError> {
    let lines: Vec<&str> = text.lines().collect();
    let line = |n: usize| -> Result<&str, IoError> {
        lines.get(n).copied().ok_or_else(|| IoError::syntax(path, n + 1, "unexpected end of file".into()))
    };
    let numbers = |n: usize, count: usize, what: &str| -> Result<Vec<f64>, IoError> {
        let l = line(n)?;
        let v: Result<Vec<f64>, _> = l.split_whitespace().take(count).map(|x| x.parse::<f64>()).collect();
        match v {
            Ok(v) if v.len() == count && v.iter().all(|x| x.is_finite()) => Ok(v),
            _ => Err(IoError::syntax(path, n + 1, format!("expected {count} numbers ({what}), found '{}'", l.trim()))),
        }
    };
    let scale = numbers(1, 1, "scale factor")?[0];
    let mut matrix = Matrix3::zeros();
    for k in 0..3 {
        let v = numbers(2 + k, 3, "lattice vector in Å")?;
        matrix.set_row(k, &nalgebra::RowVector3::new(v[0], v[1], v[2]));
    }
    // VASP: a negative scale is the cell volume in Å³; the lattice vectors and Cartesian positions are then
    // scaled by (|scale| / det L)^(1/3).
    let factor = if scale < 0.0 { (-scale / matrix.determinant().abs()).cbrt() } else { scale };
    if factor == 0.0 || !factor.is_finite() {
        return Err(IoError::syntax(
            path,
            2,
            format!("scale factor {scale} gives a lattice factor of {factor}: expected a non-zero scale and a cell of non-zero volume"),
        ));
    }
    matrix *= factor;
    let cell = Cell::from_matrix(matrix, [true; 3])
        .ok_or_else(|| IoError::syntax(path, 3, "lattice vectors are coplanar (zero volume)".into()))?;
    let symbols: Vec<&str> = line(5)?.split_whitespace().collect();
    if symbols.first().is_some_and(|s| s.parse::<usize>().is_ok()) {
        return Err(IoError::syntax(
            path,
            6,
            "VASP 4 file without element symbols: add a line with the symbols (e.g. 'Li P O') before the counts".into(),
        ));
    }
    let mut species = Vec::new();
    for s in &symbols {
        // VASP 6 may write "Li_sv" or "Li/hash": keep the element part.
        let name = s.split(['_', '/']).next().unwrap_or(s);
        species.push(
            elements::atomic_number(name).ok_or_else(|| IoError::syntax(path, 6, format!("unknown element '{s}'")))?,
        );
    }
    let counts: Vec<usize> = line(6)?
        .split_whitespace()
        .map(|x| x.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| IoError::syntax(path, 7, format!("expected atom counts, found '{}'", lines[6].trim())))?;
    if counts.len() != species.len() {
        return Err(IoError::syntax(path, 7, format!("{} counts for {} element symbols", counts.len(), species.len())));
    }
    let mut n = 7;
    if line(n)?.trim_start().starts_with(['s', 'S']) {
        n += 1;
    }
    let mode = line(n)?.trim_start().chars().next().unwrap_or(' ');
    let cartesian = matches!(mode, 'c' | 'C' | 'k' | 'K');
    if !cartesian && !matches!(mode, 'd' | 'D') {
        return Err(IoError::syntax(
            path,
            n + 1,
            format!("expected 'Direct' or 'Cartesian', found '{}'", lines[n].trim()),
        ));
    }
    n += 1;
    let mut system = System::new(cell.clone());
    for (&z, &count) in species.iter().zip(&counts) {
        for _ in 0..count {
            let v = numbers(n, 3, "atomic position")?;
            let v = Vector3::new(v[0], v[1], v[2]);
            let r = if cartesian { v * factor } else { cell.cartesian(&v) };
            system.push(z, r);
            n += 1;
        }
    }
    Ok(system)
}

/// Formats a system as POSCAR (VASP 5, Cartesian coordinates, scale 1), species grouped in order of
/// first appearance. Atoms are reordered by species if they are not already grouped.
pub fn format(system: &System, comment: &str) -> String {
    let mut order: Vec<u8> = Vec::new();
    for &z in &system.atomic_numbers {
        if !order.contains(&z) {
            order.push(z);
        }
    }
    let mut out = String::new();
    writeln!(out, "{}", comment.lines().next().unwrap_or("")).unwrap();
    writeln!(out, "1.0").unwrap();
    let m = system.cell.matrix();
    for k in 0..3 {
        writeln!(out, "  {:.16} {:.16} {:.16}", m[(k, 0)], m[(k, 1)], m[(k, 2)]).unwrap();
    }
    writeln!(out, "  {}", order.iter().map(|&z| elements::symbol(z)).collect::<Vec<_>>().join(" ")).unwrap();
    writeln!(out, "  {}", order.iter().map(|&z| system.count(z).to_string()).collect::<Vec<_>>().join(" ")).unwrap();
    writeln!(out, "Cartesian").unwrap();
    for &z in &order {
        for i in (0..system.len()).filter(|&i| system.atomic_numbers[i] == z) {
            let r = system.positions[i];
            writeln!(out, "  {:.16} {:.16} {:.16}", r.x, r.y, r.z).unwrap();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_shared_gamma_li3po4() {
        let path = Path::new("../shared/reference/structures/gamma_Li3PO4_mp-2878.vasp");
        if !path.exists() {
            eprintln!("skipped: {} not found (../shared is absent)", path.display());
            return;
        }
        let s = read(path).unwrap();
        assert_eq!(s.len(), 32);
        assert_eq!(s.count(3), 12);
        assert_eq!(s.count(15), 4);
        assert_eq!(s.count(8), 16);
    }

    #[test]
    fn round_trip() {
        let text = "test\n1.0\n3 0 0\n0 4 0\n0.5 0 5\nLi O\n1 2\nDirect\n0 0 0\n0.5 0.5 0.5\n0.25 0.75 0.1\n";
        let s = parse(Path::new("x"), text).unwrap();
        assert!((s.positions[1] - Vector3::new(1.75, 2.0, 2.5)).norm() < 1e-12);
        let again = parse(Path::new("y"), &format(&s, "again")).unwrap();
        for (a, b) in s.positions.iter().zip(&again.positions) {
            assert!((a - b).norm() < 1e-12);
        }
        assert_eq!(s.atomic_numbers, again.atomic_numbers);
    }

    #[test]
    fn errors_name_line() {
        let text = "test\n1.0\n3 0 0\n0 4 0\n0 0 5\nLi Xx\n1 2\nDirect\n";
        let err = parse(Path::new("POSCAR"), text).unwrap_err().to_string();
        assert_eq!(err, "POSCAR:6: unknown element 'Xx'");
        let text = "test\n1.0\n3 0 0\n0 4 0\n0 0 5\nLi\n2\nDirect\n0 0 0\n";
        let err = parse(Path::new("POSCAR"), text).unwrap_err().to_string();
        assert_eq!(err, "POSCAR:10: unexpected end of file");
    }

    /// VASP reads a negative scale as the cell volume: −216 Å³ on a 3 Å cube is a factor of 2 on the lattice
    /// vectors and on Cartesian positions, the same structure as scale 2.
    #[test]
    fn negative_scale_is_the_volume() {
        let poscar = |scale: &str, mode: &str, position: &str| {
            format!("t\n{scale}\n3 0 0\n0 3 0\n0 0 3\nLi\n1\n{mode}\n{position}\n")
        };
        let by_factor = parse(Path::new("x"), &poscar("2", "Cartesian", "0.9 0 0")).unwrap();
        for (mode, position) in [("Cartesian", "0.9 0 0"), ("Direct", "0.3 0 0")] {
            let by_volume = parse(Path::new("x"), &poscar("-216", mode, position)).unwrap();
            assert!((by_volume.cell.volume() - 216.0).abs() < 1e-9);
            assert!((by_volume.positions[0] - Vector3::new(1.8, 0.0, 0.0)).norm() < 1e-12, "{mode}");
            assert!((by_volume.positions[0] - by_factor.positions[0]).norm() < 1e-12);
        }
    }
}

//! n2p2/RuNNer `input.data` structures, read and written by hand.
//!
//! Each structure is a block:
//! ```text
//! begin
//! comment free text
//! lattice ax ay az          (three lines for a periodic structure, none for a molecule)
//! atom x y z element charge n fx fy fz
//! energy E
//! charge Q
//! end
//! ```
//! Units are those of the potential the file belongs to (n2p2 is unit-agnostic); conversion happens in the
//! potential, not here.

use super::IoError;
use crate::system::{elements, Cell, System};
use nalgebra::{Matrix3, Vector3};
use std::fmt::Write as _;
use std::path::Path;

/// One structure of an `input.data` file.
#[derive(Clone, Debug)]
pub struct Structure {
    pub system: System,
    pub comment: String,
    /// Reference energy (the `energy` line).
    pub energy: f64,
    /// Reference total charge (the `charge` line).
    pub charge: f64,
    /// Reference forces from the `atom` lines.
    pub forces: Vec<Vector3<f64>>,
    /// Atomic charges from the `atom` lines.
    pub charges: Vec<f64>,
}

/// Reads every structure of an `input.data` file.
pub fn read(path: &Path) -> Result<Vec<Structure>, IoError> {
    let text = std::fs::read_to_string(path).map_err(|e| IoError::open(path, e))?;
    parse(path, &text)
}

/// Parses `input.data` text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Structure>, IoError> {
    let mut out = Vec::new();
    let mut current: Option<(Vec<Vector3<f64>>, Structure, usize)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let tokens: Vec<&str> = raw.split_whitespace().collect();
        let Some(&keyword) = tokens.first() else { continue };
        let number = |k: usize| -> Result<f64, IoError> {
            let token = tokens
                .get(k)
                .ok_or_else(|| IoError::syntax(path, line_no, format!("'{keyword}' line has too few columns")))?;
            let v: f64 =
                token.parse().map_err(|_| IoError::syntax(path, line_no, format!("'{token}' is not a number")))?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(IoError::syntax(path, line_no, format!("'{token}' is not a finite number")))
            }
        };
        match keyword {
            "begin" => {
                if current.is_some() {
                    return Err(IoError::syntax(path, line_no, "'begin' inside a structure (missing 'end')".into()));
                }
                let structure = Structure {
                    system: System::new(Cell::infinite()),
                    comment: String::new(),
                    energy: 0.0,
                    charge: 0.0,
                    forces: Vec::new(),
                    charges: Vec::new(),
                };
                current = Some((Vec::new(), structure, line_no));
            }
            "end" => {
                let (lattice, mut structure, begin) =
                    current.take().ok_or_else(|| IoError::syntax(path, line_no, "'end' without 'begin'".into()))?;
                match lattice.len() {
                    0 => {}
                    3 => {
                        let m = Matrix3::from_rows(&[
                            lattice[0].transpose(),
                            lattice[1].transpose(),
                            lattice[2].transpose(),
                        ]);
                        structure.system.cell = Cell::from_matrix(m, [true; 3]).ok_or_else(|| {
                            IoError::syntax(path, begin, "lattice vectors are coplanar (zero volume)".into())
                        })?;
                    }
                    n => {
                        return Err(IoError::syntax(
                            path,
                            begin,
                            format!("structure has {n} lattice lines; expected 0 or 3"),
                        ))
                    }
                }
                if structure.system.is_empty() {
                    return Err(IoError::syntax(path, begin, "structure has no atom".into()));
                }
                out.push(structure);
            }
            _ => {
                let Some((lattice, structure, _)) = current.as_mut() else {
                    return Err(IoError::syntax(path, line_no, format!("'{keyword}' outside a begin/end block")));
                };
                match keyword {
                    "comment" => structure.comment = raw.trim_start()[7..].trim().to_string(),
                    "lattice" => lattice.push(Vector3::new(number(1)?, number(2)?, number(3)?)),
                    "atom" => {
                        let symbol = tokens
                            .get(4)
                            .ok_or_else(|| IoError::syntax(path, line_no, "'atom' line has too few columns".into()))?;
                        let z = elements::atomic_number(symbol)
                            .ok_or_else(|| IoError::syntax(path, line_no, format!("unknown element '{symbol}'")))?;
                        structure.system.push(z, Vector3::new(number(1)?, number(2)?, number(3)?));
                        structure.charges.push(number(5)?);
                        structure.forces.push(Vector3::new(number(7)?, number(8)?, number(9)?));
                    }
                    "energy" => structure.energy = number(1)?,
                    "charge" => structure.charge = number(1)?,
                    other => {
                        return Err(IoError::syntax(
                            path,
                            line_no,
                            format!(
                            "unknown keyword '{other}' (expected begin, comment, lattice, atom, energy, charge or end)"
                        ),
                        ))
                    }
                }
            }
        }
    }
    if let Some((_, _, begin)) = current {
        return Err(IoError::syntax(path, begin, "structure is not closed by 'end'".into()));
    }
    if out.is_empty() {
        return Err(IoError::format(path, "no structure found (expected begin ... end blocks)".into()));
    }
    Ok(out)
}

/// Formats one structure in `input.data` format, with given energy and forces.
pub fn format(system: &System, comment: &str, energy: f64, forces: &[Vector3<f64>]) -> String {
    let mut out = String::from("begin\n");
    writeln!(out, "comment {comment}").unwrap();
    if !system.cell.is_infinite() {
        for k in 0..3 {
            let v = system.cell.vector(k);
            writeln!(out, "lattice {:.16e} {:.16e} {:.16e}", v.x, v.y, v.z).unwrap();
        }
    }
    for i in 0..system.len() {
        let r = system.positions[i];
        let f = forces.get(i).copied().unwrap_or_else(Vector3::zeros);
        writeln!(
            out,
            "atom {:.16e} {:.16e} {:.16e} {:<2} 0.0 0.0 {:.16e} {:.16e} {:.16e}",
            r.x,
            r.y,
            r.z,
            system.symbol(i),
            f.x,
            f.y,
            f.z
        )
        .unwrap();
    }
    writeln!(out, "energy {energy:.16e}\ncharge 0.0\nend").unwrap();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let text = "begin\ncomment two atoms\nlattice 5 0 0\nlattice 0 5 0\nlattice 0 0 5\natom 0 0 0 Cu 0 0 1 2 3\natom 1 1 1 S 0 0 -1 -2 -3\nenergy -3.5\ncharge 0\nend\n";
        let s = parse(Path::new("input.data"), text).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].system.atomic_numbers, vec![29, 16]);
        assert_eq!(s[0].energy, -3.5);
        assert_eq!(s[0].comment, "two atoms");
        let again = parse(Path::new("x"), &format(&s[0].system, "c", -3.5, &s[0].forces)).unwrap();
        assert_eq!(again[0].system, s[0].system);
        assert_eq!(again[0].forces, s[0].forces);
    }

    #[test]
    fn errors_name_line() {
        let text = "begin\nlattice 5 0 0\natom 0 0 0 Cu 0 0 1 2 3\nend\n";
        let err = parse(Path::new("input.data"), text).unwrap_err().to_string();
        assert_eq!(err, "input.data:1: structure has 1 lattice lines; expected 0 or 3");
        let err = parse(Path::new("input.data"), "begin\natom 0 0 zero Cu 0 0 0 0 0\nend\n").unwrap_err().to_string();
        assert_eq!(err, "input.data:2: 'zero' is not a number");
    }
}

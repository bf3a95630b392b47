//! LAMMPS data files (`read_data` / `write_data`), read by hand so that every error names the file and line.
//!
//! Layout (LAMMPS manual, `read_data`): a first comment line; a header of counts and box bounds
//! ```text
//! 128 atoms
//! 3 atom types
//! 0.0 10.2 xlo xhi
//! 0.0 10.2 ylo yhi
//! 0.0 10.2 zlo zhi
//! 0.5 0.0 0.0 xy xz yz        (triclinic boxes only)
//! ```
//! then sections, each a keyword line, a blank line and one line per entry: `Masses` (`type mass # Li`),
//! `Atom Type Labels` (`type label`), `Atoms # style` and `Velocities` (`id vx vy vz`). Other sections (bonds,
//! coefficients, ...) are skipped. Units are LAMMPS `units metal`: Å, amu and velocities in Å/ps (converted to
//! the engine's Å/fs).
//!
//! Lattice vectors are a = (xhi−xlo, 0, 0), b = (xy, yhi−ylo, 0), c = (xz, yz, zhi−zlo); positions are shifted
//! by −(xlo, ylo, zlo) so that the cell starts at the origin. Atoms are ordered by their ID; image flags are
//! accepted and ignored. An atom type is an element when its `Atom Type Labels` label or the comment after its
//! mass is an element symbol, otherwise when its mass is within [`super::MASS_TOLERANCE_AMU`] of exactly one
//! element's standard mass.
//!
//! Atom styles read: `atomic`, `charge`, `full`, `molecular`, `bond`, `angle`, `sphere`, `dipole`,
//! `ellipsoid`. A file whose `Atoms` line names no style is read as `atomic` when its lines have 5 or 8 columns.

use super::{IoError, MASS_TOLERANCE_AMU};
use crate::system::{elements, Cell, System};
use crate::units::PS_IN_FS;
use nalgebra::{Matrix3, Vector3};
use std::collections::BTreeMap;
use std::path::Path;

/// Reads a LAMMPS data file.
pub fn read(path: &Path) -> Result<System, IoError> {
    let text = std::fs::read_to_string(path).map_err(|e| IoError::open(path, e))?;
    parse(path, &text)
}

/// Parses LAMMPS data text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<System, IoError> {
    let lines: Vec<&str> = text.lines().collect();
    let (header, first_section) = parse_header(path, &lines)?;
    let sections = split_sections(path, &lines, first_section)?;
    let types = atom_types(path, &header, &sections)?;
    let section = |name: &str| sections.iter().find(|s| s.name == name);
    let atoms = section("Atoms")
        .ok_or_else(|| IoError::format(path, "no 'Atoms' section: expected one line per atom".into()))?;
    let mut system = System::new(header.cell(path)?);
    let ids = read_atoms(path, &header, atoms, &types, &mut system)?;
    if let Some(velocities) = section("Velocities") {
        read_velocities(path, &header, velocities, &ids, &mut system)?;
    }
    Ok(system)
}

/// The counts and box of the header.
#[derive(Default)]
struct Header {
    atoms: usize,
    atom_types: usize,
    bounds: [Option<[f64; 2]>; 3],
    tilt: [f64; 3],
}

impl Header {
    fn cell(&self, path: &Path) -> Result<Cell, IoError> {
        let mut lengths = [0.0; 3];
        for (k, bounds) in self.bounds.iter().enumerate() {
            let name = ["xlo xhi", "ylo yhi", "zlo zhi"][k];
            let [lo, hi] = bounds
                .ok_or_else(|| IoError::format(path, format!("the header has no '{name}' line: expected the box")))?;
            if hi <= lo {
                return Err(IoError::format(path, format!("'{name}' is {lo} {hi}: expected lo < hi")));
            }
            lengths[k] = hi - lo;
        }
        let [xy, xz, yz] = self.tilt;
        let matrix = Matrix3::new(lengths[0], 0.0, 0.0, xy, lengths[1], 0.0, xz, yz, lengths[2]);
        Cell::from_matrix(matrix, [true; 3]).ok_or_else(|| {
            IoError::format(path, format!("the box {lengths:?} with tilts {:?} is degenerate", self.tilt))
        })
    }

    fn origin(&self) -> Vector3<f64> {
        Vector3::from_fn(|k, _| self.bounds[k].map_or(0.0, |b| b[0]))
    }
}

/// The part of a line before its `#` comment.
fn content(line: &str) -> &str {
    line.split('#').next().unwrap_or("").trim()
}

/// Reads the header (after the first, comment line) up to the first section keyword, whose index it returns.
fn parse_header(path: &Path, lines: &[&str]) -> Result<(Header, usize), IoError> {
    let mut header = Header::default();
    for (index, line) in lines.iter().enumerate().skip(1) {
        let text = content(line);
        if text.is_empty() {
            continue;
        }
        if is_section(text) {
            return Ok((header, index));
        }
        parse_header_line(path, index + 1, text, lines.len(), &mut header)?;
    }
    Err(IoError::format(path, "no 'Atoms' section: the file ends in its header".into()))
}

fn parse_header_line(
    path: &Path,
    line: usize,
    text: &str,
    line_count: usize,
    header: &mut Header,
) -> Result<(), IoError> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let numbers: Vec<f64> = tokens.iter().map_while(|t| t.parse::<f64>().ok()).collect();
    let keyword = tokens[numbers.len()..].join(" ");
    let finite = || -> Result<(), IoError> {
        match numbers.iter().find(|x| !x.is_finite()) {
            Some(x) => Err(IoError::syntax(path, line, format!("'{keyword}' value {x} is not finite"))),
            None => Ok(()),
        }
    };
    match (keyword.as_str(), numbers.len()) {
        ("xlo xhi" | "ylo yhi" | "zlo zhi", 2) => {
            finite()?;
            let k = ["xlo xhi", "ylo yhi", "zlo zhi"].iter().position(|&n| n == keyword).unwrap_or(0);
            header.bounds[k] = Some([numbers[0], numbers[1]]);
        }
        ("xy xz yz", 3) => {
            finite()?;
            header.tilt = [numbers[0], numbers[1], numbers[2]];
        }
        ("atoms" | "atom types", 1) => {
            let count = parse_count(path, line, tokens[0], &keyword, line_count)?;
            if keyword == "atoms" {
                header.atoms = count;
            } else {
                header.atom_types = count;
            }
        }
        (_, 1) if keyword.split(' ').all(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '/')) => {
            // Bonds, angles, their types, "extra bond per atom", ellipsoids, ...: not needed here.
        }
        ("avec" | "bvec" | "cvec" | "abc origin", _) => {
            return Err(IoError::syntax(
                path,
                line,
                format!("'{keyword}': general triclinic boxes are not read: expected an xlo xhi/ylo yhi/zlo zhi box with 'xy xz yz' tilts"),
            ))
        }
        _ => {
            return Err(IoError::syntax(
                path,
                line,
                format!("'{text}' is not a header line: expected 'N atoms', 'N atom types', 'lo hi xlo xhi' (and y, z), 'xy xz yz' or a section name such as 'Atoms'"),
            ))
        }
    }
    Ok(())
}

/// A count from the header, bounded by the file itself: every atom and every type needs a line.
fn parse_count(path: &Path, line: usize, token: &str, keyword: &str, line_count: usize) -> Result<usize, IoError> {
    let count = token
        .parse::<u64>()
        .map_err(|_| IoError::syntax(path, line, format!("'{token} {keyword}': expected a whole number")))?;
    if count > line_count as u64 {
        return Err(IoError::syntax(
            path,
            line,
            format!("'{token} {keyword}' but the file has only {line_count} lines: expected one line per entry"),
        ));
    }
    Ok(count as usize)
}

/// The section keywords of LAMMPS data files.
const SECTIONS: &[&str] = &[
    "Atoms",
    "Velocities",
    "Masses",
    "Ellipsoids",
    "Lines",
    "Triangles",
    "Bodies",
    "Bonds",
    "Angles",
    "Dihedrals",
    "Impropers",
    "Pair Coeffs",
    "PairIJ Coeffs",
    "Bond Coeffs",
    "Angle Coeffs",
    "Dihedral Coeffs",
    "Improper Coeffs",
    "BondBond Coeffs",
    "BondAngle Coeffs",
    "MiddleBondTorsion Coeffs",
    "EndBondTorsion Coeffs",
    "AngleTorsion Coeffs",
    "AngleAngleTorsion Coeffs",
    "BondBond13 Coeffs",
    "AngleAngle Coeffs",
    "Atom Type Labels",
    "Bond Type Labels",
    "Angle Type Labels",
    "Dihedral Type Labels",
    "Improper Type Labels",
];

fn is_section(text: &str) -> bool {
    SECTIONS.contains(&text)
}

/// One section: its keyword, the comment after it (the atom style of `Atoms`), and its non-blank lines.
struct Section<'a> {
    name: &'a str,
    line: usize,
    hint: &'a str,
    entries: Vec<(usize, &'a str)>,
}

impl Section<'_> {
    fn expect_entries(&self, path: &Path, count: usize, what: &str) -> Result<(), IoError> {
        if self.entries.len() == count {
            return Ok(());
        }
        Err(IoError::syntax(
            path,
            self.line,
            format!("'{}' has {} lines: expected {count}, one per {what} in the header", self.name, self.entries.len()),
        ))
    }
}

fn split_sections<'a>(path: &Path, lines: &[&'a str], first: usize) -> Result<Vec<Section<'a>>, IoError> {
    let mut sections: Vec<Section<'a>> = Vec::new();
    for (index, &line) in lines.iter().enumerate().skip(first) {
        let text = content(line);
        if is_section(text) {
            if sections.iter().any(|s| s.name == text) {
                return Err(IoError::syntax(path, index + 1, format!("a second '{text}' section")));
            }
            let hint = line.split_once('#').map_or("", |(_, c)| c.trim());
            sections.push(Section { name: text, line: index + 1, hint, entries: Vec::new() });
        } else if !text.is_empty() {
            if let Some(section) = sections.last_mut() {
                section.entries.push((index + 1, line));
            }
        }
    }
    Ok(sections)
}

/// What each atom type is: its element and mass in amu.
struct AtomTypes {
    by_number: Vec<Option<(u8, f64)>>,
    labels: BTreeMap<String, usize>,
}

impl AtomTypes {
    /// The 1-based type of an `Atoms` or `Masses` token: a number or a type label.
    fn index(&self, token: &str) -> Option<usize> {
        match token.parse::<usize>() {
            Ok(t) => (1..=self.by_number.len()).contains(&t).then_some(t),
            Err(_) => self.labels.get(token).copied(),
        }
    }
}

fn atom_types(path: &Path, header: &Header, sections: &[Section]) -> Result<AtomTypes, IoError> {
    let count = header.atom_types;
    if count == 0 {
        return Err(IoError::format(path, "the header gives no 'N atom types': expected at least 1".into()));
    }
    let mut types = AtomTypes { by_number: vec![None; count], labels: BTreeMap::new() };
    let mut label_elements = vec![None; count];
    if let Some(labels) = sections.iter().find(|s| s.name == "Atom Type Labels") {
        labels.expect_entries(path, count, "atom type")?;
        for &(line, text) in &labels.entries {
            let tokens: Vec<&str> = content(text).split_whitespace().collect();
            let t = match tokens.as_slice() {
                [t, _] => t.parse::<usize>().ok().filter(|t| (1..=count).contains(t)),
                _ => None,
            }
            .ok_or_else(|| {
                IoError::syntax(
                    path,
                    line,
                    format!("'{}': expected 'type label' with a type from 1 to {count}", text.trim()),
                )
            })?;
            types.labels.insert(tokens[1].to_string(), t);
            label_elements[t - 1] = elements::atomic_number(tokens[1]);
        }
    }
    if let Some(masses) = sections.iter().find(|s| s.name == "Masses") {
        masses.expect_entries(path, count, "atom type")?;
        for &(line, text) in &masses.entries {
            let (t, z, mass) = parse_mass(path, line, text, &types, &label_elements)?;
            types.by_number[t - 1] = Some((z, mass));
        }
    }
    for (t, slot) in types.by_number.iter_mut().enumerate() {
        if slot.is_none() {
            *slot = label_elements[t].and_then(|z| Some((z, elements::standard_mass(z)?)));
        }
    }
    Ok(types)
}

/// A `Masses` line `type mass # comment`: the type, its element and its mass.
fn parse_mass(
    path: &Path,
    line: usize,
    text: &str,
    types: &AtomTypes,
    label_elements: &[Option<u8>],
) -> Result<(usize, u8, f64), IoError> {
    let tokens: Vec<&str> = content(text).split_whitespace().collect();
    let bad =
        || IoError::syntax(path, line, format!("'{}': expected 'type mass' with a positive mass in amu", text.trim()));
    let [t, mass] = tokens.as_slice() else { return Err(bad()) };
    let t = types.index(t).ok_or_else(bad)?;
    let mass = mass.parse::<f64>().ok().filter(|m| m.is_finite() && *m > 0.0).ok_or_else(bad)?;
    let comment = text.split_once('#').map_or("", |(_, c)| c.trim());
    let z = label_elements[t - 1]
        .or_else(|| comment.split_whitespace().next().and_then(elements::atomic_number))
        .or_else(|| elements::from_mass(mass, MASS_TOLERANCE_AMU))
        .ok_or_else(|| {
            IoError::syntax(
                path,
                line,
                format!(
                    "atom type {t} of mass {mass} amu: no element label ('Atom Type Labels' or a '# Li' comment) \
                     and its mass matches no single element within {MASS_TOLERANCE_AMU} amu"
                ),
            )
        })?;
    Ok((t, z, mass))
}

/// The columns of an `Atoms` line: where the type and x are, and how many there are without image flags.
struct AtomStyle {
    type_column: usize,
    x_column: usize,
    columns: usize,
}

fn atom_style(path: &Path, section: &Section) -> Result<AtomStyle, IoError> {
    let style = |type_column, x_column, columns| Ok(AtomStyle { type_column, x_column, columns });
    let name = section.hint.split_whitespace().next().unwrap_or("");
    match name {
        "atomic" => style(1, 2, 5),
        "charge" => style(1, 3, 6),
        "full" => style(2, 4, 7),
        "molecular" | "bond" | "angle" => style(2, 3, 6),
        "sphere" | "ellipsoid" => style(1, 4, 7),
        "dipole" => style(1, 3, 9),
        "" => match section.entries.first().map(|(_, l)| content(l).split_whitespace().count()) {
            Some(5 | 8) => style(1, 2, 5),
            _ => Err(IoError::syntax(
                path,
                section.line,
                "'Atoms' names no atom style and its lines are not 'id type x y z': expected 'Atoms # full' (or atomic, charge, ...)".into(),
            )),
        },
        other => Err(IoError::syntax(
            path,
            section.line,
            format!("atom style '{other}' is not read: expected atomic, charge, full, molecular, bond, angle, sphere, dipole or ellipsoid"),
        )),
    }
}

/// Fills `system` from the `Atoms` section, ordered by atom ID; returns the IDs in that order.
fn read_atoms(
    path: &Path,
    header: &Header,
    section: &Section,
    types: &AtomTypes,
    system: &mut System,
) -> Result<Vec<u64>, IoError> {
    section.expect_entries(path, header.atoms, "atom")?;
    let style = atom_style(path, section)?;
    let origin = header.origin();
    let mut atoms = Vec::with_capacity(header.atoms);
    for &(line, text) in &section.entries {
        let tokens: Vec<&str> = content(text).split_whitespace().collect();
        if tokens.len() != style.columns && tokens.len() != style.columns + 3 {
            return Err(IoError::syntax(
                path,
                line,
                format!(
                    "{} columns: expected {} for this atom style (or 3 more image flags)",
                    tokens.len(),
                    style.columns
                ),
            ));
        }
        let id = tokens[0]
            .parse::<u64>()
            .map_err(|_| IoError::syntax(path, line, format!("atom ID '{}' is not a whole number", tokens[0])))?;
        let token = tokens[style.type_column];
        let (z, mass) = types.index(token).and_then(|t| types.by_number[t - 1]).ok_or_else(|| {
            IoError::syntax(
                path,
                line,
                format!("atom type '{token}' is not one of the {} types with a mass or element", header.atom_types),
            )
        })?;
        let position = vector(path, line, &tokens[style.x_column..style.x_column + 3], "position")?;
        atoms.push((id, line, z, mass, position - origin));
    }
    atoms.sort_by_key(|a| a.0);
    if let Some(pair) = atoms.windows(2).find(|p| p[0].0 == p[1].0) {
        return Err(IoError::syntax(path, pair[1].1, format!("atom ID {} appears twice", pair[0].0)));
    }
    for &(_, _, z, mass, position) in &atoms {
        system.push_with_mass(z, position, mass);
    }
    Ok(atoms.iter().map(|a| a.0).collect())
}

/// Sets velocities from the `Velocities` section (`id vx vy vz`, Å/ps).
fn read_velocities(
    path: &Path,
    header: &Header,
    section: &Section,
    ids: &[u64],
    system: &mut System,
) -> Result<(), IoError> {
    section.expect_entries(path, header.atoms, "atom")?;
    for &(line, text) in &section.entries {
        let tokens: Vec<&str> = content(text).split_whitespace().collect();
        if tokens.len() < 4 {
            return Err(IoError::syntax(path, line, format!("'{}': expected 'id vx vy vz'", text.trim())));
        }
        let index = tokens[0]
            .parse::<u64>()
            .ok()
            .and_then(|id| ids.binary_search(&id).ok())
            .ok_or_else(|| IoError::syntax(path, line, format!("atom ID '{}' is not in 'Atoms'", tokens[0])))?;
        system.velocities[index] = vector(path, line, &tokens[1..4], "velocity")? / PS_IN_FS;
    }
    Ok(())
}

fn vector(path: &Path, line: usize, tokens: &[&str], what: &str) -> Result<Vector3<f64>, IoError> {
    let mut v = Vector3::zeros();
    for (k, token) in tokens.iter().enumerate() {
        v[k] =
            token.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| {
                IoError::syntax(path, line, format!("{what} component '{token}' is not a finite number"))
            })?;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRICLINIC: &str = "LAMMPS data file via write_data, units metal\n\n\
        3 atoms\n2 atom types\n\n\
        -1.0 4.0 xlo xhi\n0.0 5.0 ylo yhi\n0.5 6.5 zlo zhi\n1.0 -0.5 0.25 xy xz yz\n\n\
        Atom Type Labels\n\n1 Li\n2 O\n\n\
        Masses\n\n1 6.94\nO 15.999\n\n\
        Atoms # charge\n\n\
        3 O -1.2 1.0 2.0 3.0 0 0 1\n1 1 0.6 0.0 0.0 0.5\n2 Li 0.6 1.5 1.5 1.5\n\n\
        Velocities\n\n2 1.0 2.0 3.0\n3 0 0 0\n1 -1.0 0.0 10.0\n\n\
        Bonds\n\n1 1 1 2\n";

    #[test]
    fn reads_a_triclinic_charge_file_with_labels_and_velocities() {
        let s = parse(Path::new("t.data"), TRICLINIC).unwrap();
        let m = s.cell.matrix();
        assert_eq!(
            (m[(0, 0)], m[(1, 0)], m[(1, 1)], m[(2, 0)], m[(2, 1)], m[(2, 2)]),
            (5.0, 1.0, 5.0, -0.5, 0.25, 6.0)
        );
        assert_eq!(s.atomic_numbers, vec![3, 3, 8]);
        assert_eq!(s.masses, vec![6.94, 6.94, 15.999]);
        assert_eq!(s.positions[0], Vector3::new(1.0, 0.0, 0.0));
        assert_eq!(s.positions[2], Vector3::new(2.0, 2.0, 2.5));
        assert_eq!(s.velocities[0], Vector3::new(-1e-3, 0.0, 1e-2));
        assert_eq!(s.velocities[1], Vector3::new(1e-3, 2e-3, 3e-3));
    }

    fn error(text: &str) -> String {
        parse(Path::new("bad.data"), text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_line_and_what_is_expected() {
        let base = "c\n2 atoms\n1 atom types\n0 3 xlo xhi\n0 3 ylo yhi\n0 3 zlo zhi\n\nMasses\n\n1 63.546\n\nAtoms # atomic\n\n";
        let e = error(&format!("{base}1 1 0 0 0\n2 1 1.5 1.5\n"));
        assert!(e.contains("bad.data:15: 4 columns: expected 5"), "{e}");
        let e = error(&format!("{base}1 1 0 0 0\n1 1 1.5 1.5 0\n"));
        assert!(e.contains("bad.data:15: atom ID 1 appears twice"), "{e}");
        let e = error(&format!("{base}1 1 0 0 0\n"));
        assert!(e.contains("bad.data:12: 'Atoms' has 1 lines: expected 2"), "{e}");
        let e = error(&base.replace("2 atoms", "99999999999 atoms"));
        assert!(e.contains("bad.data:2: '99999999999 atoms' but the file has only 13 lines"), "{e}");
        let e = error(&base.replace("63.546", "1000.0"));
        assert!(e.contains("bad.data:10: atom type 1 of mass 1000 amu: no element label"), "{e}");
        let e = error(&base.replace("0 3 ylo yhi", "0 3 ylo"));
        assert!(e.contains("bad.data:5: '0 3 ylo' is not a header line"), "{e}");
        let e = error(&format!("{base}1 1 0 0 0\n2 1 1 1 1\n").replace("# atomic", "# hybrid"));
        assert!(e.contains("atom style 'hybrid' is not read"), "{e}");
    }
}

//! Extended XYZ (the ASE/QUIP convention), read and written by hand so that every error names the file and
//! line, and so that `energy=`, `stress=`, `forces` round-trip exactly.
//!
//! Comment line: `key=value` pairs; values with spaces are double-quoted. Recognised keys:
//! `Lattice="ax ay az bx by bz cx cy cz"` (Å; absent = non-periodic), `pbc="T T T"`,
//! `Properties=name:type:columns:...` (types S, R, I, L), and anything else kept as text in `info`.
//! Per-atom properties understood: `species`/`symbols` (S:1), `pos` (R:3, Å), `velo`/`velocities` (R:3, Å/fs),
//! `forces` (R:3, eV/Å), `masses` (R:1, amu), `image`/`images` (I:3, image counters). Others are ignored.

use super::IoError;
use crate::system::{elements, Cell, System};
use nalgebra::{Matrix3, Vector3};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::Path;

/// One frame of an extended XYZ file.
#[derive(Clone, Debug)]
pub struct Frame {
    pub system: System,
    /// Per-atom forces if the file has a `forces` property (eV/Å).
    pub forces: Option<Vec<Vector3<f64>>>,
    /// Comment-line keys other than Lattice, pbc and Properties, as written (quotes removed).
    pub info: BTreeMap<String, String>,
}

impl Frame {
    /// A numeric comment-line value, e.g. `energy`.
    pub fn info_f64(&self, key: &str) -> Option<f64> {
        self.info.get(key).and_then(|v| v.parse().ok())
    }

    /// A comment-line value holding several numbers, e.g. `stress` (9 values).
    pub fn info_vec(&self, key: &str) -> Option<Vec<f64>> {
        self.info.get(key).and_then(|v| v.split_whitespace().map(|x| x.parse().ok()).collect())
    }
}

/// Reads every frame of an extended XYZ file.
pub fn read_frames(path: &Path) -> Result<Vec<Frame>, IoError> {
    let file = std::fs::File::open(path).map_err(|e| IoError::open(path, e))?;
    let mut lines = std::io::BufReader::new(file).lines().enumerate();
    let mut frames = Vec::new();
    while let Some((index, header)) = lines.next() {
        let header = header.map_err(|e| IoError::read(path, e))?;
        if header.trim().is_empty() {
            continue;
        }
        let line_no = index + 1;
        let count: usize = header.trim().parse().map_err(|_| {
            IoError::syntax(path, line_no, format!("expected the number of atoms, found '{}'", header.trim()))
        })?;
        let (comment_no, comment) = match lines.next() {
            Some((i, line)) => (i + 1, line.map_err(|e| IoError::read(path, e))?),
            None => return Err(IoError::syntax(path, line_no + 1, "missing comment line".into())),
        };
        // The count is untrusted until its lines are read: reserve for at most a million, grow beyond.
        let mut atom_lines = Vec::with_capacity(count.min(1 << 20));
        for k in 0..count {
            match lines.next() {
                Some((i, line)) => atom_lines.push((i + 1, line.map_err(|e| IoError::read(path, e))?)),
                None => {
                    return Err(IoError::syntax(
                        path,
                        comment_no + k + 1,
                        format!("file ends after {k} of the {count} atoms announced on line {line_no}"),
                    ))
                }
            }
        }
        frames.push(parse_frame(path, comment_no, &comment, &atom_lines)?);
    }
    if frames.is_empty() {
        return Err(IoError::syntax(path, 1, "no frame found".into()));
    }
    Ok(frames)
}

/// Splits `key=value key2="a b c"` into pairs. Bare words become keys with value "T".
fn parse_comment(comment: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let chars: Vec<char> = comment.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let start = i;
        while i < chars.len() && chars[i] != '=' && !chars[i].is_whitespace() {
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        if i < chars.len() && chars[i] == '=' {
            i += 1;
            let value: String = if i < chars.len() && (chars[i] == '"' || chars[i] == '\'') {
                let quote = chars[i];
                i += 1;
                let s = i;
                while i < chars.len() && chars[i] != quote {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(format!("unterminated quote in the value of '{key}'"));
                }
                let v = chars[s..i].iter().collect();
                i += 1;
                v
            } else {
                let s = i;
                while i < chars.len() && !chars[i].is_whitespace() {
                    i += 1;
                }
                chars[s..i].iter().collect()
            };
            out.insert(key, value);
        } else {
            out.insert(key, "T".into());
        }
    }
    Ok(out)
}

struct Column {
    name: String,
    width: usize,
}

fn parse_frame(path: &Path, comment_no: usize, comment: &str, atoms: &[(usize, String)]) -> Result<Frame, IoError> {
    let mut info = parse_comment(comment).map_err(|m| IoError::syntax(path, comment_no, m))?;
    let properties = info.remove("Properties").unwrap_or_else(|| "species:S:1:pos:R:3".into());
    let fields: Vec<&str> = properties.split(':').collect();
    if fields.len() % 3 != 0 {
        return Err(IoError::syntax(
            path,
            comment_no,
            format!("Properties='{properties}' is not a list of name:type:columns"),
        ));
    }
    let mut columns = Vec::new();
    for chunk in fields.chunks(3) {
        let kind = chunk[1].chars().next().unwrap_or('?');
        let width: usize = chunk[2].parse().map_err(|_| {
            IoError::syntax(
                path,
                comment_no,
                format!("Properties: column count '{}' of '{}' is not an integer", chunk[2], chunk[0]),
            )
        })?;
        if !"SRIL".contains(kind) || chunk[1].len() != 1 {
            return Err(IoError::syntax(
                path,
                comment_no,
                format!("Properties: type '{}' of '{}' is not S, R, I or L", chunk[1], chunk[0]),
            ));
        }
        columns.push(Column { name: chunk[0].to_string(), width });
    }
    let pbc: [bool; 3] = match info.remove("pbc") {
        None => [true; 3],
        Some(v) => {
            let flags: Vec<bool> = v.split_whitespace().map(|f| matches!(f, "T" | "True" | "true" | "1")).collect();
            if flags.len() != 3 {
                return Err(IoError::syntax(
                    path,
                    comment_no,
                    format!("pbc=\"{v}\": expected three flags such as \"T T T\""),
                ));
            }
            [flags[0], flags[1], flags[2]]
        }
    };
    let cell = match info.remove("Lattice") {
        None => Cell::infinite(),
        Some(v) => {
            let numbers: Vec<f64> =
                v.split_whitespace().map(|x| x.parse::<f64>()).collect::<Result<_, _>>().map_err(|_| {
                    IoError::syntax(path, comment_no, format!("Lattice=\"{v}\": expected nine numbers (Å)"))
                })?;
            if numbers.len() != 9 {
                return Err(IoError::syntax(
                    path,
                    comment_no,
                    format!("Lattice=\"{v}\": expected nine numbers (Å), found {}", numbers.len()),
                ));
            }
            if let Some(x) = numbers.iter().find(|x| !x.is_finite()) {
                return Err(IoError::syntax(
                    path,
                    comment_no,
                    format!("Lattice=\"{v}\": {x} is not a finite number: expected nine finite numbers (Å)"),
                ));
            }
            let matrix = Matrix3::from_row_slice(&numbers);
            if pbc == [false; 3] {
                Cell::infinite()
            } else {
                Cell::from_matrix(matrix, pbc).ok_or_else(|| {
                    IoError::syntax(
                        path,
                        comment_no,
                        format!("Lattice=\"{v}\": lattice vectors are coplanar (zero volume)"),
                    )
                })?
            }
        }
    };
    let mut system = System::new(cell);
    let mut forces: Option<Vec<Vector3<f64>>> = columns.iter().any(|c| c.name == "forces").then(Vec::new);
    let total_width: usize = columns.iter().map(|c| c.width).sum();
    for (line_no, line) in atoms {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.len() != total_width {
            return Err(IoError::syntax(
                path,
                *line_no,
                format!("expected {total_width} columns ({properties}), found {}", tokens.len()),
            ));
        }
        let mut offset = 0;
        let mut z = None;
        let mut position = None;
        let mut velocity = Vector3::zeros();
        let mut mass = None;
        let mut image = [0i32; 3];
        for column in &columns {
            let values = &tokens[offset..offset + column.width];
            offset += column.width;
            let vector = || -> Result<Vector3<f64>, IoError> {
                let v: Vec<f64> =
                    values.iter().map(|x| parse_real(path, *line_no, &column.name, x)).collect::<Result<_, _>>()?;
                if v.len() != 3 {
                    return Err(IoError::syntax(
                        path,
                        *line_no,
                        format!("property '{}' must have 3 columns", column.name),
                    ));
                }
                Ok(Vector3::new(v[0], v[1], v[2]))
            };
            match column.name.as_str() {
                "species" | "symbols" => {
                    z =
                        Some(elements::atomic_number(values[0]).ok_or_else(|| {
                            IoError::syntax(path, *line_no, format!("unknown element '{}'", values[0]))
                        })?)
                }
                "pos" | "positions" => position = Some(vector()?),
                "velo" | "velocities" | "vel" => velocity = vector()?,
                "forces" | "force" => {
                    if let Some(f) = forces.as_mut() {
                        f.push(vector()?)
                    }
                }
                "masses" | "mass" => mass = Some(parse_real(path, *line_no, &column.name, values[0])?),
                "image" | "images" if column.width == 3 => {
                    for k in 0..3 {
                        image[k] = values[k].parse().map_err(|_| {
                            IoError::syntax(path, *line_no, format!("image flag '{}' is not an integer", values[k]))
                        })?;
                    }
                }
                _ => {}
            }
        }
        let z = z.ok_or_else(|| IoError::syntax(path, comment_no, "Properties has no 'species' column".into()))?;
        let position =
            position.ok_or_else(|| IoError::syntax(path, comment_no, "Properties has no 'pos' column".into()))?;
        let mass = mass.or_else(|| elements::standard_mass(z)).unwrap_or(0.0);
        system.push_with_mass(z, position, mass);
        let last = system.len() - 1;
        system.velocities[last] = velocity;
        system.images[last] = image;
    }
    Ok(Frame { system, forces, info })
}

fn parse_real(path: &Path, line: usize, name: &str, token: &str) -> Result<f64, IoError> {
    let value: f64 = token
        .parse()
        .map_err(|_| IoError::syntax(path, line, format!("'{token}' in column '{name}' is not a number")))?;
    if !value.is_finite() {
        return Err(IoError::syntax(path, line, format!("'{token}' in column '{name}' is not a finite number")));
    }
    Ok(value)
}

/// What to write besides species and positions.
#[derive(Clone, Debug, Default)]
pub struct FrameExtras<'a> {
    pub energy: Option<f64>,
    /// 3×3 stress (eV/Å³), written row-major as `stress="xx xy xz yx ..."`.
    pub stress: Option<Matrix3<f64>>,
    pub forces: Option<&'a [Vector3<f64>]>,
    /// Potential energy of each atom (eV), written as an `energies` column (ASE's name for per-atom energies).
    pub atom_energies: Option<&'a [f64]>,
    pub velocities: bool,
    pub images: bool,
    /// Write each atom's mass (amu) as a `masses` column.
    pub masses: bool,
    /// Extra comment-line entries, written as given (`key=value`).
    pub info: Vec<(String, String)>,
}

/// A real number in the shortest form that reads back to the same `f64` (plain notation for ordinary
/// magnitudes, exponent notation for very small or large ones).
pub fn real(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if (1e-5..1e16).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Formats one frame; every number is written so that it reads back exactly.
pub fn format_frame(system: &System, extras: &FrameExtras) -> String {
    let mut out = String::new();
    writeln!(out, "{}", system.len()).unwrap();
    let mut properties = String::from("species:S:1:pos:R:3");
    if extras.velocities {
        properties.push_str(":velo:R:3");
    }
    if extras.forces.is_some() {
        properties.push_str(":forces:R:3");
    }
    if extras.atom_energies.is_some() {
        properties.push_str(":energies:R:1");
    }
    if extras.images {
        properties.push_str(":image:I:3");
    }
    if extras.masses {
        properties.push_str(":masses:R:1");
    }
    if !system.cell.is_infinite() {
        let m = system.cell.matrix();
        let values: Vec<String> = (0..3).flat_map(|r| (0..3).map(move |c| real(m[(r, c)]))).collect();
        write!(out, "Lattice=\"{}\" ", values.join(" ")).unwrap();
    }
    write!(out, "Properties={properties}").unwrap();
    if let Some(e) = extras.energy {
        write!(out, " energy={}", real(e)).unwrap();
    }
    if let Some(s) = extras.stress {
        let values: Vec<String> = (0..3).flat_map(|r| (0..3).map(move |c| real(s[(r, c)]))).collect();
        write!(out, " stress=\"{}\"", values.join(" ")).unwrap();
    }
    for (key, value) in &extras.info {
        write!(out, " {key}={value}").unwrap();
    }
    let p = system.cell.periodic();
    let flag = |b: bool| if b { "T" } else { "F" };
    writeln!(out, " pbc=\"{} {} {}\"", flag(p[0]), flag(p[1]), flag(p[2])).unwrap();
    for i in 0..system.len() {
        let r = system.positions[i];
        write!(out, "{:<2} {} {} {}", system.symbol(i), real(r.x), real(r.y), real(r.z)).unwrap();
        if extras.velocities {
            let v = system.velocities[i];
            write!(out, " {} {} {}", real(v.x), real(v.y), real(v.z)).unwrap();
        }
        if let Some(forces) = extras.forces {
            let f = forces[i];
            write!(out, " {} {} {}", real(f.x), real(f.y), real(f.z)).unwrap();
        }
        if let Some(energies) = extras.atom_energies {
            write!(out, " {}", real(energies[i])).unwrap();
        }
        if extras.images {
            let n = system.images[i];
            write!(out, " {} {} {}", n[0], n[1], n[2]).unwrap();
        }
        if extras.masses {
            write!(out, " {}", real(system.masses[i])).unwrap();
        }
        out.push('\n');
    }
    out
}

/// Writes one frame to `writer`.
pub fn write_frame(writer: &mut impl Write, system: &System, extras: &FrameExtras) -> std::io::Result<()> {
    writer.write_all(format_frame(system, extras).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_preserves_everything() {
        let cell =
            Cell::from_vectors(Vector3::new(5.0, 0.0, 0.0), Vector3::new(1.0, 4.0, 0.0), Vector3::new(0.1, 0.2, 6.0))
                .unwrap();
        let mut s = System::new(cell);
        s.push(3, Vector3::new(0.1, 0.2, 0.3));
        s.push(8, Vector3::new(1.0 / 3.0, 2.5, 5.9));
        s.velocities[1] = Vector3::new(0.01, -0.02, 0.003);
        s.images[0] = [1, -2, 0];
        s.masses[0] = 6.015;
        let forces = vec![Vector3::new(1.0, 2.0, 3.0), Vector3::new(-0.1, 1e-9, 7.0)];
        let text = format_frame(
            &s,
            &FrameExtras {
                energy: Some(-1.25),
                forces: Some(&forces),
                velocities: true,
                images: true,
                masses: true,
                ..Default::default()
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.xyz");
        std::fs::write(&path, &text).unwrap();
        let frames = read_frames(&path).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].system, s);
        assert_eq!(frames[0].forces.as_ref().unwrap(), &forces);
        assert_eq!(frames[0].info_f64("energy"), Some(-1.25));
    }

    #[test]
    fn errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.xyz");
        std::fs::write(&path, "2\nLattice=\"3 0 0 0 3 0 0 0 3\" Properties=species:S:1:pos:R:3\nCu 0 0 0\nCu 1 1 x\n")
            .unwrap();
        let err = read_frames(&path).unwrap_err().to_string();
        assert_eq!(err, format!("{}:4: 'x' in column 'pos' is not a number", path.display()));
        std::fs::write(&path, "3\ncomment\nCu 0 0 0\n").unwrap();
        let err = read_frames(&path).unwrap_err().to_string();
        assert!(err.contains(":4: file ends after 1 of the 3 atoms announced on line 1"), "{err}");
    }
}

//! Structure and trajectory files.
//!
//! Own readers and writers for POSCAR/CONTCAR, extended XYZ and n2p2 `input.data`, and an own LAMMPS data
//! reader (so that errors name the file and line); chemfiles for everything else it reads (CIF, PDB, ...).

pub mod barrier_table;
pub mod extxyz;
pub mod h5md;
pub mod kmc_trajectory;
pub mod lammps_data;
pub mod n2p2;
pub mod poscar;

use crate::system::{elements, Cell, System};
use nalgebra::{Matrix3, Vector3};
use std::path::{Path, PathBuf};

/// A problem reading or writing a file; every message names the file, and the line when there is one.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("{path}: cannot open: {reason}")]
    Open { path: PathBuf, reason: std::io::Error },
    #[error("{path}: cannot read: {reason}")]
    Read { path: PathBuf, reason: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Syntax { path: PathBuf, line: usize, message: String },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

impl IoError {
    pub(crate) fn open(path: &Path, source: std::io::Error) -> IoError {
        IoError::Open { path: path.to_path_buf(), reason: source }
    }
    pub(crate) fn read(path: &Path, source: std::io::Error) -> IoError {
        IoError::Read { path: path.to_path_buf(), reason: source }
    }
    pub(crate) fn syntax(path: &Path, line: usize, message: String) -> IoError {
        IoError::Syntax { path: path.to_path_buf(), line, message }
    }
    pub(crate) fn format(path: &Path, message: String) -> IoError {
        IoError::Format { path: path.to_path_buf(), message }
    }
}

/// The structure file formats the engine reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StructureFormat {
    Poscar,
    ExtendedXyz,
    N2p2,
    LammpsData,
    /// Anything chemfiles reads, chosen by chemfiles from the extension (CIF, PDB, ...).
    Chemfiles,
}

impl StructureFormat {
    /// Guesses the format from the file name: `POSCAR*`, `CONTCAR*`, `*.vasp`, `*.poscar` → POSCAR;
    /// `*.xyz`, `*.extxyz` → extended XYZ; `input.data`, `*.data.n2p2`, `*.n2p2` → n2p2; `*.data`, `*.lmp`,
    /// `*.lammps` → LAMMPS data; otherwise chemfiles.
    pub fn guess(path: &Path) -> StructureFormat {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
        let ext = lowercase_extension(path);
        if name.starts_with("poscar") || name.starts_with("contcar") || ext == "vasp" || ext == "poscar" {
            StructureFormat::Poscar
        } else if ext == "xyz" || ext == "extxyz" {
            StructureFormat::ExtendedXyz
        } else if name == "input.data" || name == "output.data" || ext == "n2p2" {
            StructureFormat::N2p2
        } else if matches!(ext.as_str(), "data" | "lmp" | "lammps") {
            StructureFormat::LammpsData
        } else {
            StructureFormat::Chemfiles
        }
    }
}

/// Reads the first (or only) structure of a file, guessing the format from its name; lengths in Å.
pub fn read_structure(path: &Path) -> Result<System, IoError> {
    read_structure_in(path, 1.0)
}

/// As [`read_structure`], with the lengths of an n2p2 `input.data` file in units of `n2p2_length_a` Å: n2p2 files
/// are in the units of the potential they belong to (a network trained in bohr reads its structures in bohr).
pub fn read_structure_in(path: &Path, n2p2_length_a: f64) -> Result<System, IoError> {
    if path.as_os_str().is_empty() {
        return Err(IoError::format(path, "no structure file named: expected the path of a structure file".into()));
    }
    if path.is_dir() {
        return Err(IoError::format(path, "is a directory: expected a structure file".into()));
    }
    let system = match StructureFormat::guess(path) {
        StructureFormat::Poscar => poscar::read(path)?,
        StructureFormat::ExtendedXyz => extxyz::read_frames(path)?.swap_remove(0).system,
        StructureFormat::N2p2 => {
            let mut system = n2p2::read(path)?.swap_remove(0).system;
            system.scale_lengths(n2p2_length_a).ok_or_else(|| {
                IoError::format(path, format!("lengths scaled by {n2p2_length_a} Å per unit give a degenerate cell"))
            })?;
            system
        }
        StructureFormat::LammpsData => lammps_data::read(path)?,
        StructureFormat::Chemfiles => read_with_chemfiles(path)?,
    };
    validate(path, &system)?;
    Ok(system)
}

/// The largest fractional coordinate a structure file may hold, in cell lengths. Beyond it, wrapping the atom
/// into the cell keeps fewer than 10 of f64's 16 digits (and the image count overflows an `i32` past 2³¹).
pub const MAX_FRACTIONAL_COORDINATE: f64 = 1e6;

/// Rejects structures no simulation can start from: no atoms, non-finite coordinates or ones more than
/// [`MAX_FRACTIONAL_COORDINATE`] cell lengths away, unknown elements.
pub fn validate(path: &Path, system: &System) -> Result<(), IoError> {
    if system.is_empty() {
        return Err(IoError::format(path, "the structure has no atoms".into()));
    }
    for (i, r) in system.positions.iter().enumerate() {
        if !(r.x.is_finite() && r.y.is_finite() && r.z.is_finite()) {
            return Err(IoError::format(
                path,
                format!("atom {} ({}) has a non-finite position {:?}", i + 1, system.symbol(i), [r.x, r.y, r.z]),
            ));
        }
        let s = system.cell.fractional(r);
        if !system.cell.is_infinite() && s.iter().any(|x| x.abs() > MAX_FRACTIONAL_COORDINATE) {
            return Err(IoError::format(
                path,
                format!(
                    "atom {} ({}) is at fractional coordinates {:?}, more than {MAX_FRACTIONAL_COORDINATE:e} cell \
                     lengths from the cell: expected a position near the cell (check the units and the \
                     Direct/Cartesian mode)",
                    i + 1,
                    system.symbol(i),
                    [s.x, s.y, s.z]
                ),
            ));
        }
        if system.atomic_numbers[i] == 0 {
            return Err(IoError::format(path, format!("atom {} has an unknown element", i + 1)));
        }
    }
    Ok(())
}

/// Reads the first frame of any format chemfiles knows.
pub fn read_with_chemfiles(path: &Path) -> Result<System, IoError> {
    let mut frames = read_frames_with_chemfiles(path, Some(1))?;
    Ok(frames.swap_remove(0))
}

/// Reads frames (all, or at most `limit`) with chemfiles, keeping velocities when the file has them.
pub fn read_frames_with_chemfiles(path: &Path, limit: Option<usize>) -> Result<Vec<System>, IoError> {
    let name = path.to_str().ok_or_else(|| IoError::format(path, "file name is not valid UTF-8".into()))?;
    if !path.exists() {
        return Err(IoError::open(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
    }
    silence_chemfiles_warnings();
    let mut trajectory =
        chemfiles::Trajectory::open(name, 'r').map_err(|e| IoError::format(path, format!("chemfiles: {e}")))?;
    let steps = trajectory.nsteps();
    let count = limit.map_or(steps, |l| l.min(steps));
    if count == 0 {
        return Err(IoError::format(path, "no frame found".into()));
    }
    let mut out = Vec::with_capacity(count);
    let mut frame = chemfiles::Frame::new();
    for step in 0..count {
        trajectory
            .read_step(step, &mut frame)
            .map_err(|e| IoError::format(path, format!("chemfiles, frame {step}: {e}")))?;
        out.push(system_from_chemfiles(path, &frame)?);
    }
    Ok(out)
}

/// How close a numeric atom type's mass must be to an element's standard mass to be taken as that element.
pub const MASS_TOLERANCE_AMU: f64 = 0.05;

/// chemfiles prints its warnings to standard error by itself; our errors already carry its messages.
fn silence_chemfiles_warnings() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| chemfiles::set_warning_callback(|_| {}));
}

/// CIF and mmCIF files describe crystals: one without a cell is not a structure to simulate.
fn is_crystallographic(path: &Path) -> bool {
    matches!(lowercase_extension(path).as_str(), "cif" | "mmcif")
}

/// The extension of a file name in lower case, `""` when it has none.
pub fn lowercase_extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase()
}

fn system_from_chemfiles(path: &Path, frame: &chemfiles::Frame) -> Result<System, IoError> {
    let cell = frame.cell();
    let matrix = cell.matrix();
    let cell = match cell.shape() {
        chemfiles::CellShape::Infinite if is_crystallographic(path) => {
            return Err(IoError::format(
                path,
                "the file gives no unit cell (_cell_length_a, _cell_length_b, ...): expected a crystal structure"
                    .into(),
            ))
        }
        chemfiles::CellShape::Infinite => Cell::infinite(),
        _ => {
            // chemfiles stores lattice vectors as columns.
            let m = Matrix3::from_fn(|r, c| matrix[c][r]);
            Cell::from_matrix(m, [true; 3]).ok_or_else(|| IoError::format(path, "the cell has zero volume".into()))?
        }
    };
    let mut system = System::new(cell);
    let positions = frame.positions();
    for i in 0..frame.size() {
        let atom = frame.atom(i);
        let symbol = atom.atomic_type();
        let mass = atom.mass();
        let z = elements::atomic_number(&symbol)
            .or_else(|| elements::atomic_number(&atom.name()))
            .or_else(|| elements::from_mass(mass, MASS_TOLERANCE_AMU))
            .ok_or_else(|| {
                IoError::format(
                    path,
                    format!(
                        "atom {}: type '{symbol}' is not an element symbol, and its mass {mass} amu matches no single \
                         element within {MASS_TOLERANCE_AMU} amu",
                        i + 1
                    ),
                )
            })?;
        let mass = if mass > 0.0 { mass } else { elements::standard_mass(z).unwrap_or(0.0) };
        let p = positions[i];
        system.push_with_mass(z, Vector3::new(p[0], p[1], p[2]), mass);
    }
    if let Some(velocities) = frame.velocities() {
        for (v, w) in system.velocities.iter_mut().zip(velocities) {
            *v = Vector3::new(w[0], w[1], w[2]);
        }
    }
    Ok(system)
}

/// Writes a structure, choosing the format from the file name (POSCAR or extended XYZ).
pub fn write_structure(path: &Path, system: &System) -> Result<(), IoError> {
    let text = match StructureFormat::guess(path) {
        StructureFormat::Poscar => poscar::format(system, "written by mdrun"),
        _ => extxyz::format_frame(system, &extxyz::FrameExtras { velocities: true, ..Default::default() }),
    };
    write_atomically(path, text.as_bytes())
}

/// Writes a file atomically: to `path.tmp` first, then renamed over `path`, so a crash never leaves a
/// half-written file. Neither name is followed if it is a symbolic link: a stale `path.tmp` is removed and
/// created afresh, and the rename replaces a link at `path` rather than writing where it points.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    use std::io::Write as _;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let cannot_write = |e: std::io::Error| IoError::format(&tmp, format!("cannot write: {e}"));
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(cannot_write(e)),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(cannot_write)?;
    file.write_all(bytes).and_then(|()| file.sync_data()).map_err(cannot_write)?;
    std::fs::rename(&tmp, path)
        .map_err(|e| IoError::format(path, format!("cannot rename {} into place: {e}", tmp.display())))
}

/// Refuses to write through a symbolic link planted where an output goes (also before a library such as HDF5
/// creates a file).
pub fn refuse_symlink(path: &Path) -> Result<(), IoError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(IoError::format(
            path,
            "is a symbolic link: outputs are never written through links; remove it or choose another output folder"
                .into(),
        )),
        _ => Ok(()),
    }
}

/// Creates (or truncates) an output file that is written as it goes (thermo.csv, a trajectory), refusing a
/// symbolic link in its place.
pub fn create_output_file(path: &Path) -> Result<std::fs::File, IoError> {
    refuse_symlink(path)?;
    std::fs::File::create(path).map_err(|e| IoError::format(path, format!("cannot create: {e}")))
}

/// Opens an existing output file for writing (to continue it after a restart), refusing a symbolic link.
pub fn open_output_file(path: &Path) -> Result<std::fs::File, IoError> {
    refuse_symlink(path)?;
    std::fs::OpenOptions::new().write(true).open(path).map_err(|e| IoError::open(path, e))
}

/// Creates an output folder (and its parents), refusing a folder that is a symbolic link, so that a run's
/// outputs stay inside the run folder.
pub fn create_output_dir(path: &Path) -> Result<(), IoError> {
    refuse_symlink(path)?;
    std::fs::create_dir_all(path).map_err(|e| IoError::format(path, format!("cannot create the folder: {e}")))
}

/// Reads a number that JSON may hold as `null`: serde_json writes a non-finite `f64` (NaN, ±∞) as `null`, so a
/// report read back from summary.json gets NaN there (`#[serde(deserialize_with = "io::nan_from_null")]`).
pub fn nan_from_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

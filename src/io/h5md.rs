//! H5MD 1.1 trajectories (de Buyl, Colberg & Höfling, Comput. Phys. Commun. 185, 1546 (2014);
//! <https://www.nongnu.org/h5md/h5md.html>), written and read with the `hdf5` crate.
//!
//! Layout of `trajectory.h5`:
//! - `/h5md` (attr `version = [1, 1]`), `/h5md/author` (attr `name`), `/h5md/creator` (attrs `name = "mdrun"`,
//!   `version`);
//! - `/particles/all/{position, image, velocity}` and `/particles/all/box/edges`: time-dependent elements, each a
//!   group with `step` (int64 \[F\]), `time` (float64 \[F\], fs) and `value` (position float64 \[F, N, 3\] Å wrapped
//!   into the cell; image int32 \[F, N, 3\]; velocity float64 \[F, N, 3\] Å/fs; edges float64 \[F, 3, 3\] with rows =
//!   lattice vectors, Å); the `box` group has attrs `dimension = 3`, `boundary = ["periodic"|"none"; 3]`;
//! - `/particles/all/species` (int32 \[N\], atomic numbers) and `/particles/all/mass` (float64 \[N\], amu);
//! - `/observables/{potential_energy, kinetic_energy, total_energy, temperature, pressure}`: `step`, `time`,
//!   `value` (\[F\]; eV, eV, eV, K, bar).
//!
//! Every dataset with a frame axis is chunked and resizable along it; the file is flushed after each frame.
//! `value` datasets carry a `unit` attribute, `time` datasets `fs`. Unwrapped positions are position + image·box.
//! [`H5mdReader`] is the one reader (frame by frame or hyperslab by hyperslab, for files larger than memory; the
//! analysis streams through it); [`read`] loads a whole file through it.

use super::IoError;
use crate::system::{Cell, System};
use hdf5::types::VarLenUnicode;
use nalgebra::{Matrix3, Vector3};
use ndarray::{ArrayView1, ArrayView2};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Names of the scalar observables (groups under `/observables`), in the order of the [`Observables`] fields.
pub const OBSERVABLES: [&str; 5] = ["potential_energy", "kinetic_energy", "total_energy", "temperature", "pressure"];

/// Units of [`OBSERVABLES`] (H5MD `unit` attributes).
pub const OBSERVABLE_UNITS: [&str; 5] = ["eV", "eV", "eV", "K", "bar"];

/// Scalar observables written with each frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Observables {
    /// eV
    pub potential_energy: f64,
    /// eV
    pub kinetic_energy: f64,
    /// eV
    pub total_energy: f64,
    /// K
    pub temperature: f64,
    /// bar
    pub pressure: f64,
}

impl Observables {
    fn values(&self) -> [f64; 5] {
        [self.potential_energy, self.kinetic_energy, self.total_energy, self.temperature, self.pressure]
    }
}

/// One time-dependent element: its `step`, `time` and `value` datasets.
struct Element {
    step: hdf5::Dataset,
    time: hdf5::Dataset,
    value: hdf5::Dataset,
}

impl Element {
    /// A new element in `group`: scalar per frame (`per_frame = []`) or an [a, b] array per frame; `unit` is
    /// stored as the H5MD `unit` attribute of `value` (none for dimensionless data).
    fn create<T: hdf5::H5Type>(group: &hdf5::Group, per_frame: &[usize], unit: Option<&str>) -> hdf5::Result<Element> {
        let step = group.new_dataset::<i64>().shape((0..,)).chunk((256,)).create("step")?;
        let time = group.new_dataset::<f64>().shape((0..,)).chunk((256,)).create("time")?;
        time.new_attr::<VarLenUnicode>().create("unit")?.write_scalar(&unicode("fs")?)?;
        let value = match per_frame {
            [] => group.new_dataset::<T>().shape((0..,)).chunk((256,)).create("value")?,
            [a, b] => group.new_dataset::<T>().shape((0.., *a, *b)).chunk((1, (*a).max(1), *b)).create("value")?,
            _ => unreachable!("elements are scalars or [N, 3] / [3, 3] arrays"),
        };
        if let Some(unit) = unit {
            value.new_attr::<VarLenUnicode>().create("unit")?.write_scalar(&unicode(unit)?)?;
        }
        Ok(Element { step, time, value })
    }

    fn open(group: &hdf5::Group) -> hdf5::Result<Element> {
        Ok(Element { step: group.dataset("step")?, time: group.dataset("time")?, value: group.dataset("value")? })
    }

    /// Sets the number of frames to `frames` (growing or truncating).
    fn resize(&self, frames: usize) -> hdf5::Result<()> {
        self.step.resize((frames,))?;
        self.time.resize((frames,))?;
        let mut shape = self.value.shape();
        shape[0] = frames;
        self.value.resize(shape)
    }

    fn write_time(&self, frame: usize, step: u64, time_fs: f64) -> hdf5::Result<()> {
        self.step.write_slice(ArrayView1::from(&[step as i64][..]), frame..frame + 1)?;
        self.time.write_slice(ArrayView1::from(&[time_fs][..]), frame..frame + 1)
    }

    fn write_rows<T: hdf5::H5Type>(
        &self,
        frame: usize,
        step: u64,
        time_fs: f64,
        rows: usize,
        flat: &[T],
    ) -> hdf5::Result<()> {
        self.resize(frame + 1)?;
        self.write_time(frame, step, time_fs)?;
        let view = ArrayView2::from_shape((rows, 3), flat).map_err(|e| hdf5::Error::from(e.to_string().as_str()))?;
        self.value.write_slice(view, (frame, .., ..))
    }

    fn write_scalar(&self, frame: usize, step: u64, time_fs: f64, value: f64) -> hdf5::Result<()> {
        self.resize(frame + 1)?;
        self.write_time(frame, step, time_fs)?;
        self.value.write_slice(ArrayView1::from(&[value][..]), frame..frame + 1)
    }
}

/// Appends frames to an H5MD file.
pub struct H5mdWriter {
    path: PathBuf,
    file: hdf5::File,
    atoms: usize,
    frames: usize,
    position: Element,
    image: Element,
    velocity: Element,
    edges: Element,
    observables: Vec<Element>,
}

fn h5_error(path: &Path) -> impl Fn(hdf5::Error) -> IoError + '_ {
    move |e| IoError::format(path, format!("HDF5: {e}"))
}

fn unicode(text: &str) -> hdf5::Result<VarLenUnicode> {
    VarLenUnicode::from_str(text).map_err(|e| hdf5::Error::from(e.to_string().as_str()))
}

impl H5mdWriter {
    /// Creates (or overwrites) `path` for the atoms of `system` (species and masses are fixed from here on).
    pub fn create(path: &Path, system: &System) -> Result<H5mdWriter, IoError> {
        super::refuse_symlink(path)?;
        Self::create_inner(path, system).map_err(h5_error(path))
    }

    fn create_inner(path: &Path, system: &System) -> hdf5::Result<H5mdWriter> {
        let file = hdf5::File::create(path)?;
        let h5md = file.create_group("h5md")?;
        h5md.new_attr::<i32>().shape(2).create("version")?.write(ArrayView1::from(&[1, 1][..]))?;
        let author = h5md.create_group("author")?;
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_string());
        author.new_attr::<VarLenUnicode>().create("name")?.write_scalar(&unicode(&user)?)?;
        let creator = h5md.create_group("creator")?;
        creator.new_attr::<VarLenUnicode>().create("name")?.write_scalar(&unicode("mdrun")?)?;
        creator.new_attr::<VarLenUnicode>().create("version")?.write_scalar(&unicode(env!("CARGO_PKG_VERSION"))?)?;

        let all = file.create_group("particles")?.create_group("all")?;
        let n = system.len();
        let species: Vec<i32> = system.atomic_numbers.iter().map(|&z| z as i32).collect();
        all.new_dataset::<i32>().shape(n).create("species")?.write(ArrayView1::from(&species[..]))?;
        all.new_dataset::<f64>().shape(n).create("mass")?.write(ArrayView1::from(&system.masses[..]))?;
        all.dataset("mass")?.new_attr::<VarLenUnicode>().create("unit")?.write_scalar(&unicode("amu")?)?;
        let position = Element::create::<f64>(&all.create_group("position")?, &[n, 3], Some("angstrom"))?;
        let image = Element::create::<i32>(&all.create_group("image")?, &[n, 3], None)?;
        let velocity = Element::create::<f64>(&all.create_group("velocity")?, &[n, 3], Some("angstrom fs-1"))?;
        let box_group = all.create_group("box")?;
        box_group.new_attr::<i32>().create("dimension")?.write_scalar(&3)?;
        let boundary: Vec<VarLenUnicode> = system
            .cell
            .periodic()
            .iter()
            .map(|&p| unicode(if p { "periodic" } else { "none" }))
            .collect::<hdf5::Result<_>>()?;
        box_group.new_attr::<VarLenUnicode>().shape(3).create("boundary")?.write(ArrayView1::from(&boundary[..]))?;
        let edges = Element::create::<f64>(&box_group.create_group("edges")?, &[3, 3], Some("angstrom"))?;
        let observables_group = file.create_group("observables")?;
        let observables = OBSERVABLES
            .iter()
            .zip(OBSERVABLE_UNITS)
            .map(|(name, unit)| Element::create::<f64>(&observables_group.create_group(name)?, &[], Some(unit)))
            .collect::<hdf5::Result<Vec<_>>>()?;
        file.flush()?;
        Ok(H5mdWriter {
            path: path.to_path_buf(),
            file,
            atoms: n,
            frames: 0,
            position,
            image,
            velocity,
            edges,
            observables,
        })
    }

    /// Opens an existing file written by [`create`](Self::create) and truncates it to its first `frames` frames
    /// (used when resuming from a checkpoint).
    pub fn open_truncated(path: &Path, frames: usize) -> Result<H5mdWriter, IoError> {
        let open = || -> hdf5::Result<H5mdWriter> {
            let file = hdf5::File::open_rw(path)?;
            let all = file.group("particles/all")?;
            let atoms = all.dataset("species")?.shape()[0];
            let position = Element::open(&all.group("position")?)?;
            let available = position.step.shape()[0];
            if available < frames {
                return Err(hdf5::Error::from(
                    format!("holds {available} frames, fewer than the {frames} the checkpoint expects").as_str(),
                ));
            }
            let image = Element::open(&all.group("image")?)?;
            let velocity = Element::open(&all.group("velocity")?)?;
            let edges = Element::open(&all.group("box/edges")?)?;
            let observables = OBSERVABLES
                .iter()
                .map(|name| Element::open(&file.group(&format!("observables/{name}"))?))
                .collect::<hdf5::Result<Vec<_>>>()?;
            for element in [&position, &image, &velocity, &edges].into_iter().chain(&observables) {
                element.resize(frames)?;
            }
            file.flush()?;
            Ok(H5mdWriter {
                path: path.to_path_buf(),
                file,
                atoms,
                frames,
                position,
                image,
                velocity,
                edges,
                observables,
            })
        };
        open().map_err(h5_error(path))
    }

    /// Number of frames written.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Appends one frame (positions as they are, i.e. wrapped by the caller; images; velocities; box;
    /// observables) and flushes the file.
    pub fn write_frame(
        &mut self,
        step: u64,
        time_fs: f64,
        system: &System,
        observables: &Observables,
    ) -> Result<(), IoError> {
        if system.len() != self.atoms {
            return Err(IoError::format(
                &self.path,
                format!("frame with {} atoms in a trajectory of {} atoms", system.len(), self.atoms),
            ));
        }
        let frame = self.frames;
        let write = || -> hdf5::Result<()> {
            let n = self.atoms;
            let positions: Vec<f64> = system.positions.iter().flat_map(|r| [r.x, r.y, r.z]).collect();
            self.position.write_rows(frame, step, time_fs, n, &positions)?;
            let images: Vec<i32> = system.images.iter().flatten().copied().collect();
            self.image.write_rows(frame, step, time_fs, n, &images)?;
            let velocities: Vec<f64> = system.velocities.iter().flat_map(|v| [v.x, v.y, v.z]).collect();
            self.velocity.write_rows(frame, step, time_fs, n, &velocities)?;
            let m = system.cell.matrix();
            let edges: Vec<f64> = (0..3).flat_map(|r| (0..3).map(move |c| m[(r, c)])).collect();
            self.edges.write_rows(frame, step, time_fs, 3, &edges)?;
            for (element, value) in self.observables.iter().zip(observables.values()) {
                element.write_scalar(frame, step, time_fs, value)?;
            }
            self.file.flush()
        };
        write().map_err(h5_error(&self.path))?;
        self.frames += 1;
        Ok(())
    }
}

/// A whole H5MD trajectory in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct H5mdTrajectory {
    /// Atomic numbers \[N\].
    pub atomic_numbers: Vec<u8>,
    /// Masses \[N\] (amu).
    pub masses: Vec<f64>,
    /// Periodicity along a, b, c (from the `boundary` attribute).
    pub periodic: [bool; 3],
    /// Step of each frame.
    pub steps: Vec<i64>,
    /// Time of each frame (fs).
    pub times_fs: Vec<f64>,
    /// Wrapped positions per frame (Å).
    pub positions: Vec<Vec<Vector3<f64>>>,
    /// Image flags per frame.
    pub images: Vec<Vec<[i32; 3]>>,
    /// Velocities per frame (Å/fs).
    pub velocities: Vec<Vec<Vector3<f64>>>,
    /// Lattice vectors (rows) per frame (Å).
    pub cells: Vec<Matrix3<f64>>,
    /// Observables by name ([`OBSERVABLES`]), one value per frame (missing ones are left out).
    pub observables: Vec<(String, Vec<f64>)>,
}

impl H5mdTrajectory {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// True when there is no frame.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Frame `index` as a [`System`] (positions wrapped, with images and velocities).
    pub fn frame(&self, index: usize) -> System {
        let cell = if self.periodic == [false; 3] && self.cells[index] == Matrix3::zeros() {
            Cell::infinite()
        } else {
            Cell::from_matrix(self.cells[index], self.periodic).unwrap_or_else(Cell::infinite)
        };
        let mut system = System::new(cell);
        for i in 0..self.atomic_numbers.len() {
            system.push_with_mass(self.atomic_numbers[i], self.positions[index][i], self.masses[i]);
        }
        system.images.clone_from(&self.images[index]);
        system.velocities.clone_from(&self.velocities[index]);
        system
    }

    /// Unwrapped positions (position + image·box) of frame `index` (Å).
    pub fn unwrapped_positions(&self, index: usize) -> Vec<Vector3<f64>> {
        self.frame(index).unwrapped_positions()
    }

    /// The values of observable `name` per frame.
    pub fn observable(&self, name: &str) -> Option<&[f64]> {
        self.observables.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// The one H5MD reader: opens a file, reads and checks its per-atom constants, frame times and boxes, and reads
/// positions, images and velocities on demand — one frame ([`read_frame`](Self::read_frame)) or a hyperslab of
/// frames × atoms ([`positions`](Self::positions), [`images`](Self::images), [`velocities`](Self::velocities)),
/// so that files larger than memory can be streamed (the analysis reads them block by block of atoms).
///
/// Accepted layout (mdrun's, and H5MD 1.1 files with the same elements): `/particles/all/position/{value, time,
/// step}` (value \[F, N, 3\]; `step` absent: the frame index), `species` (int32 atomic numbers in 1..=118), `mass`
/// (absent: standard masses), `image/value` and `velocity/value` (optional), `box/edges/value` \[F, 3, 3\] or a
/// fixed `box/edges` \[3, 3\] (rows = lattice vectors), `box` attribute `boundary` (`"periodic"`/`"none"` × 3,
/// variable- or fixed-length strings; absent = periodic), `/observables/<name>/value`. A box of zeros with no
/// periodic direction is a cell without box ([`Cell::infinite`]). Errors name the file and the dataset.
#[derive(Clone, Debug)]
pub struct H5mdReader {
    path: PathBuf,
    atomic_numbers: Vec<u8>,
    masses: Vec<f64>,
    periodic: [bool; 3],
    steps: Vec<i64>,
    times_fs: Vec<f64>,
    /// Lattice vectors (rows) of every frame (Å).
    boxes: Vec<Matrix3<f64>>,
    position: hdf5::Dataset,
    image: Option<hdf5::Dataset>,
    velocity: Option<hdf5::Dataset>,
    file: hdf5::File,
}

/// An error of `what` (a dataset, attribute or action) in the H5MD file `path`.
fn read_error(path: &Path, what: &str, e: impl std::fmt::Display) -> IoError {
    IoError::format(path, format!("H5MD {what}: {e}"))
}

/// Reads the `boundary` attribute of the `box` group: `["periodic"|"none"; 3]`. Absent → periodic.
fn read_boundary(path: &Path, group: &hdf5::Group) -> Result<[bool; 3], IoError> {
    let Ok(attr) = group.attr("boundary") else {
        return Ok([true; 3]);
    };
    let words: Vec<String> = if let Ok(v) = attr.read_raw::<hdf5::types::VarLenUnicode>() {
        v.iter().map(|s| s.as_str().to_string()).collect()
    } else if let Ok(v) = attr.read_raw::<hdf5::types::VarLenAscii>() {
        v.iter().map(|s| s.as_str().to_string()).collect()
    } else if let Ok(v) = attr.read_raw::<hdf5::types::FixedAscii<64>>() {
        v.iter().map(|s| s.as_str().to_string()).collect()
    } else {
        return Err(read_error(path, "box attribute boundary", "not readable as strings"));
    };
    if words.len() != 3 {
        return Err(read_error(path, "box attribute boundary", format!("expected 3 entries, found {words:?}")));
    }
    let mut periodic = [true; 3];
    for k in 0..3 {
        periodic[k] = match words[k].trim() {
            "periodic" => true,
            "none" => false,
            other => {
                return Err(read_error(path, "box attribute boundary", format!("'{other}' is not periodic or none")))
            }
        };
    }
    Ok(periodic)
}

impl H5mdReader {
    /// Opens `path` and reads its constants, frame times and boxes, checking shapes and species.
    pub fn open(path: &Path) -> Result<H5mdReader, IoError> {
        if !path.exists() {
            return Err(IoError::open(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
        }
        let file = hdf5::File::open(path).map_err(|e| read_error(path, "cannot open", e))?;
        let particles = file.group("particles/all").map_err(|e| read_error(path, "group /particles/all", e))?;
        let dataset = |name: &str| particles.dataset(name).map_err(|e| read_error(path, name, e));
        let position = dataset("position/value")?;
        let shape = position.shape();
        if shape.len() != 3 || shape[2] != 3 {
            return Err(read_error(path, "position/value", format!("shape {shape:?}, expected [frames, atoms, 3]")));
        }
        let (frames, n_atoms) = (shape[0], shape[1]);
        let species: Vec<i32> = dataset("species")?.read_raw().map_err(|e| read_error(path, "species", e))?;
        if species.len() != n_atoms {
            return Err(read_error(path, "species", format!("{} entries for {n_atoms} atoms", species.len())));
        }
        let atomic_numbers: Vec<u8> = species
            .iter()
            .map(|&z| u8::try_from(z).ok().filter(|&z| z > 0 && z <= 118))
            .collect::<Option<_>>()
            .ok_or_else(|| read_error(path, "species", "atomic numbers must lie in 1..=118"))?;
        let masses: Vec<f64> = if particles.link_exists("mass") {
            dataset("mass")?.read_raw().map_err(|e| read_error(path, "mass", e))?
        } else {
            atomic_numbers.iter().map(|&z| crate::system::elements::standard_mass(z).unwrap_or(0.0)).collect()
        };
        if masses.len() != n_atoms {
            return Err(read_error(path, "mass", format!("{} entries for {n_atoms} atoms", masses.len())));
        }
        let times_fs: Vec<f64> =
            dataset("position/time")?.read_raw().map_err(|e| read_error(path, "position/time", e))?;
        if times_fs.len() != frames {
            return Err(read_error(path, "position/time", format!("{} times for {frames} frames", times_fs.len())));
        }
        let steps: Vec<i64> = if particles.link_exists("position/step") {
            dataset("position/step")?.read_raw().map_err(|e| read_error(path, "position/step", e))?
        } else {
            (0..frames as i64).collect()
        };
        if steps.len() != frames {
            return Err(read_error(path, "position/step", format!("{} steps for {frames} frames", steps.len())));
        }
        let box_group = particles.group("box").map_err(|e| read_error(path, "group box", e))?;
        let periodic = read_boundary(path, &box_group)?;
        let edges_over_time = box_group.link_exists("edges/value");
        let edges = if edges_over_time { box_group.dataset("edges/value") } else { box_group.dataset("edges") }
            .map_err(|e| read_error(path, "box/edges", e))?;
        let edges: Vec<f64> = edges.read_raw().map_err(|e| read_error(path, "box/edges", e))?;
        let expected_edges = if edges_over_time { 9 * frames } else { 9 };
        if edges.len() != expected_edges {
            return Err(read_error(path, "box/edges", format!("{} values, expected {expected_edges}", edges.len())));
        }
        let boxes = (0..frames)
            .map(|f| {
                let o = if edges_over_time { 9 * f } else { 0 };
                Matrix3::from_row_slice(&edges[o..o + 9])
            })
            .collect();
        let optional = |name: &str| -> Result<Option<hdf5::Dataset>, IoError> {
            if !particles.link_exists(name) {
                return Ok(None);
            }
            let d = dataset(name)?;
            if d.shape() != shape {
                return Err(read_error(path, name, format!("shape {:?}, position/value has {shape:?}", d.shape())));
            }
            Ok(Some(d))
        };
        let image = optional("image/value")?;
        let velocity = optional("velocity/value")?;
        Ok(H5mdReader {
            path: path.to_path_buf(),
            atomic_numbers,
            masses,
            periodic,
            steps,
            times_fs,
            boxes,
            position,
            image,
            velocity,
            file,
        })
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// True when there is no frame.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Number of atoms.
    pub fn n_atoms(&self) -> usize {
        self.atomic_numbers.len()
    }

    /// Step of each frame.
    pub fn steps(&self) -> &[i64] {
        &self.steps
    }

    /// Time of each frame (fs).
    pub fn times_fs(&self) -> &[f64] {
        &self.times_fs
    }

    /// Atomic numbers \[N\].
    pub fn atomic_numbers(&self) -> &[u8] {
        &self.atomic_numbers
    }

    /// Masses \[N\] (amu).
    pub fn masses(&self) -> &[f64] {
        &self.masses
    }

    /// Periodicity along a, b, c (from the `boundary` attribute).
    pub fn periodic(&self) -> [bool; 3] {
        self.periodic
    }

    /// True when the file has image counters.
    pub fn has_images(&self) -> bool {
        self.image.is_some()
    }

    /// True when the file has velocities.
    pub fn has_velocities(&self) -> bool {
        self.velocity.is_some()
    }

    /// Lattice vectors (rows, Å) of frame `f`, as stored.
    pub fn box_matrix(&self, f: usize) -> Matrix3<f64> {
        self.boxes[f]
    }

    /// The cell of frame `f`: [`Cell::infinite`] for a box of zeros without periodic direction, an error for any
    /// other box of (nearly) zero volume.
    pub fn cell(&self, f: usize) -> Result<Cell, IoError> {
        let matrix = self.boxes[f];
        if self.periodic == [false; 3] && matrix == Matrix3::zeros() {
            return Ok(Cell::infinite());
        }
        Cell::from_matrix(matrix, self.periodic)
            .ok_or_else(|| read_error(&self.path, "box/edges", format!("frame {f}: zero volume")))
    }

    /// Wrapped positions (Å) of `frames` × `atoms`, shape \[frames, atoms, 3\].
    pub fn positions(&self, frames: Range<usize>, atoms: Range<usize>) -> Result<ndarray::Array3<f64>, IoError> {
        self.slab(&self.position, "position/value", frames, atoms)
    }

    /// Image counters of `frames` × `atoms`, shape \[frames, atoms, 3\] (an error when the file has none).
    pub fn images(&self, frames: Range<usize>, atoms: Range<usize>) -> Result<ndarray::Array3<i32>, IoError> {
        let image = self.image.as_ref().ok_or_else(|| read_error(&self.path, "image/value", "not in the file"))?;
        self.slab(image, "image/value", frames, atoms)
    }

    /// Velocities (Å/fs) of `frames` × `atoms`, shape \[frames, atoms, 3\] (an error when the file has none).
    pub fn velocities(&self, frames: Range<usize>, atoms: Range<usize>) -> Result<ndarray::Array3<f64>, IoError> {
        let velocity =
            self.velocity.as_ref().ok_or_else(|| read_error(&self.path, "velocity/value", "not in the file"))?;
        self.slab(velocity, "velocity/value", frames, atoms)
    }

    fn slab<T: hdf5::H5Type>(
        &self,
        dataset: &hdf5::Dataset,
        name: &str,
        frames: Range<usize>,
        atoms: Range<usize>,
    ) -> Result<ndarray::Array3<T>, IoError> {
        dataset.read_slice::<T, _, ndarray::Ix3>((frames, atoms, ..)).map_err(|e| read_error(&self.path, name, e))
    }

    /// Frame `index` as a [`System`] (positions wrapped, with images and velocities when the file has them).
    pub fn read_frame(&self, index: usize) -> Result<System, IoError> {
        if index >= self.len() {
            return Err(IoError::format(&self.path, format!("frame {index} requested, the file has {}", self.len())));
        }
        let n = self.n_atoms();
        let positions = self.positions(index..index + 1, 0..n)?;
        let mut system = System::new(self.cell(index)?);
        for i in 0..n {
            let r = Vector3::new(positions[[0, i, 0]], positions[[0, i, 1]], positions[[0, i, 2]]);
            system.push_with_mass(self.atomic_numbers[i], r, self.masses[i]);
        }
        if self.has_images() {
            let images = self.images(index..index + 1, 0..n)?;
            for (i, image) in system.images.iter_mut().enumerate() {
                *image = [images[[0, i, 0]], images[[0, i, 1]], images[[0, i, 2]]];
            }
        }
        if self.has_velocities() {
            let velocities = self.velocities(index..index + 1, 0..n)?;
            for (i, v) in system.velocities.iter_mut().enumerate() {
                *v = Vector3::new(velocities[[0, i, 0]], velocities[[0, i, 1]], velocities[[0, i, 2]]);
            }
        }
        Ok(system)
    }

    /// The values of observable `name` per frame, if the file has it.
    pub fn observable(&self, name: &str) -> Result<Option<Vec<f64>>, IoError> {
        let what = format!("observables/{name}/value");
        if !self.file.link_exists(&what) {
            return Ok(None);
        }
        let dataset = self.file.dataset(&what).map_err(|e| read_error(&self.path, &what, e))?;
        dataset.read_raw::<f64>().map(Some).map_err(|e| read_error(&self.path, &what, e))
    }
}

/// Reads a whole H5MD trajectory into memory through [`H5mdReader`] (`image` and `velocity` default to zero when
/// the file has none).
pub fn read(path: &Path) -> Result<H5mdTrajectory, IoError> {
    let reader = H5mdReader::open(path)?;
    let (frames, n) = (reader.len(), reader.n_atoms());
    let vectors = |a: &ndarray::Array3<f64>| -> Vec<Vec<Vector3<f64>>> {
        a.outer_iter().map(|f| f.outer_iter().map(|r| Vector3::new(r[0], r[1], r[2])).collect()).collect()
    };
    let positions = vectors(&reader.positions(0..frames, 0..n)?);
    let images = match reader.has_images() {
        true => reader
            .images(0..frames, 0..n)?
            .outer_iter()
            .map(|f| f.outer_iter().map(|r| [r[0], r[1], r[2]]).collect())
            .collect(),
        false => vec![vec![[0; 3]; n]; frames],
    };
    let velocities = match reader.has_velocities() {
        true => vectors(&reader.velocities(0..frames, 0..n)?),
        false => vec![vec![Vector3::zeros(); n]; frames],
    };
    let mut observables = Vec::new();
    for name in OBSERVABLES {
        if let Some(values) = reader.observable(name)? {
            observables.push((name.to_string(), values));
        }
    }
    Ok(H5mdTrajectory {
        atomic_numbers: reader.atomic_numbers.clone(),
        masses: reader.masses.clone(),
        periodic: reader.periodic,
        steps: reader.steps.clone(),
        times_fs: reader.times_fs.clone(),
        positions,
        images,
        velocities,
        cells: reader.boxes.clone(),
        observables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(frame: usize) -> System {
        let cell = Cell::from_vectors(
            Vector3::new(5.0, 0.0, 0.0),
            Vector3::new(1.0, 6.0, 0.0),
            Vector3::new(0.5, 0.3, 7.0 + frame as f64 * 0.01),
        )
        .unwrap();
        let mut s = System::new(cell);
        s.push(3, Vector3::new(0.1, 0.2, 0.3 + frame as f64));
        s.push(8, Vector3::new(1.1, 2.2, 3.3));
        s.push_with_mass(15, Vector3::new(4.0, 1.0, 0.5), 31.5);
        s.velocities[0] = Vector3::new(1e-3, -2e-3, 3e-3 * frame as f64);
        s.images[2] = [frame as i32, -1, 2];
        s
    }

    #[test]
    fn round_trip_is_exact_and_truncation_works() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trajectory.h5");
        let mut writer = H5mdWriter::create(&path, &sample(0)).unwrap();
        for frame in 0..4 {
            let obs = Observables {
                potential_energy: -(frame as f64),
                temperature: 300.0 + frame as f64,
                ..Default::default()
            };
            writer.write_frame(10 * frame as u64, 5.0 * frame as f64, &sample(frame), &obs).unwrap();
        }
        drop(writer);
        let trajectory = read(&path).unwrap();
        assert_eq!(trajectory.len(), 4);
        assert_eq!(trajectory.steps, vec![0, 10, 20, 30]);
        assert_eq!(trajectory.times_fs, vec![0.0, 5.0, 10.0, 15.0]);
        assert_eq!(trajectory.periodic, [true; 3]);
        for frame in 0..4 {
            assert_eq!(trajectory.frame(frame), sample(frame));
        }
        assert_eq!(trajectory.observable("temperature").unwrap(), &[300.0, 301.0, 302.0, 303.0]);
        assert_eq!(trajectory.observable("potential_energy").unwrap()[3], -3.0);

        // Resuming at 2 frames drops the rest; new frames follow.
        let mut writer = H5mdWriter::open_truncated(&path, 2).unwrap();
        writer.write_frame(99, 1.5, &sample(3), &Observables::default()).unwrap();
        drop(writer);
        let trajectory = read(&path).unwrap();
        assert_eq!(trajectory.steps, vec![0, 10, 99]);
        assert_eq!(trajectory.frame(2), sample(3));
        let err = H5mdWriter::open_truncated(&path, 10).err().expect("too few frames must be an error");
        assert!(err.to_string().contains("fewer than"), "{err}");

        // Frame-by-frame reading agrees with the bulk reader.
        let reader = H5mdReader::open(&path).unwrap();
        assert_eq!(reader.len(), 3);
        assert_eq!(reader.steps(), &[0, 10, 99]);
        for k in 0..3 {
            assert_eq!(reader.read_frame(k).unwrap(), trajectory.frame(k));
        }
        assert_eq!(reader.observable("temperature").unwrap().unwrap(), trajectory.observable("temperature").unwrap());
        assert!(reader.observable("density").unwrap().is_none());
        assert!(reader.read_frame(3).unwrap_err().to_string().contains("frame 3 requested, the file has 3"));
        let file = hdf5::File::open(&path).unwrap();
        let unit: VarLenUnicode =
            file.dataset("particles/all/velocity/value").unwrap().attr("unit").unwrap().read_scalar().unwrap();
        assert_eq!(unit.as_str(), "angstrom fs-1");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read(Path::new("/nonexistent/trajectory.h5")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/trajectory.h5"));
    }
}

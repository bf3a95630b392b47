//! Trajectories for analysis: read from H5MD (the engine's own layout), extended XYZ (MD and kMC carrier
//! trajectories) or anything chemfiles reads (LAMMPS dumps, DCD, ...), and unwrapped into continuous paths.
//!
//! Storage is frame-major: `positions[frame * n_atoms + atom]` holds the *unwrapped* position (Å).
//!
//! Unwrapping (per atom, frame t − 1 → t):
//! - with image counters n(t) (H5MD `image`, extended XYZ `image:I:3`): u(t) = r(t) + n(t)·H(t), exact even when
//!   an atom moves more than half a cell between frames;
//! - without: u(t) = u(t−1) + mic_t(r(t) − r(t−1)), the minimum-image step in the cell of frame t (triclinic
//!   cells included), valid when no atom moves more than half a perpendicular cell width between frames.

use crate::io::{extxyz, read_frames_with_chemfiles, IoError};
use crate::system::{Cell, System};
use nalgebra::{Matrix3, Vector3};
use std::path::{Path, PathBuf};

/// How wrapped positions become continuous paths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnwrapMethod {
    /// Image counters when the file has them (H5MD `image` dataset; extended XYZ with any non-zero image
    /// counter), minimum-image steps otherwise.
    #[default]
    Auto,
    /// Image counters only (an error when the file has none).
    Images,
    /// Minimum-image steps between consecutive frames, ignoring image counters.
    MinimumImage,
}

/// Options for reading a trajectory.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    pub unwrap: UnwrapMethod,
    /// Time between frames (fs), used only when the file stores no times (LAMMPS dumps, plain XYZ).
    pub frame_interval_fs: Option<f64>,
    /// Keep every `stride`-th frame (1 = all; 0 is treated as 1).
    pub stride: usize,
    /// Drop frames with time < first time + `skip_fs` (equilibration).
    pub skip_fs: f64,
}

/// A trajectory held in memory, with unwrapped positions.
#[derive(Clone, Debug)]
pub struct Trajectory {
    /// Where it was read from (for messages).
    pub source: PathBuf,
    /// Time of every frame (fs), uniformly spaced.
    pub times_fs: Vec<f64>,
    pub atomic_numbers: Vec<u8>,
    /// Masses (amu).
    pub masses: Vec<f64>,
    /// Cell of every frame.
    pub cells: Vec<Cell>,
    /// Unwrapped positions, frame-major (Å).
    positions: Vec<Vector3<f64>>,
    /// Velocities, frame-major (Å/fs), when the file has them.
    velocities: Option<Vec<Vector3<f64>>>,
    /// Mean of the recorded temperature (K), when the file records one (H5MD `observables/temperature`).
    pub recorded_temperature_k: Option<f64>,
    /// True when positions were unwrapped with image counters, false for minimum-image steps.
    pub unwrapped_with_images: bool,
}

/// One frame as read, before unwrapping.
pub struct RawFrame {
    pub time_fs: Option<f64>,
    pub cell: Cell,
    pub positions: Vec<Vector3<f64>>,
    pub images: Option<Vec<[i32; 3]>>,
    pub velocities: Option<Vec<Vector3<f64>>>,
}

impl Trajectory {
    /// Builds a trajectory from frames, unwrapping positions and checking that every frame has the same atoms
    /// and that times are uniformly spaced (MSD and VACF by FFT need a uniform time grid).
    pub fn from_frames(
        source: &Path,
        atomic_numbers: Vec<u8>,
        masses: Vec<f64>,
        frames: Vec<RawFrame>,
        options: &ReadOptions,
    ) -> Result<Trajectory, IoError> {
        let err = |message: String| IoError::Format { path: source.to_path_buf(), message };
        let n_atoms = atomic_numbers.len();
        if n_atoms == 0 {
            return Err(err("the trajectory has no atoms".into()));
        }
        if frames.is_empty() {
            return Err(err("the trajectory has no frame".into()));
        }
        let has_images = frames.iter().any(|f| f.images.is_some());
        let use_images = match options.unwrap {
            UnwrapMethod::Auto => has_images,
            UnwrapMethod::Images if !has_images => {
                return Err(err("unwrap = \"images\" but the file has no image counters".into()))
            }
            UnwrapMethod::Images => true,
            UnwrapMethod::MinimumImage => false,
        };
        let has_velocities = frames.iter().all(|f| f.velocities.is_some());
        let stride = options.stride.max(1);

        let mut times = Vec::with_capacity(frames.len());
        for (k, frame) in frames.iter().enumerate() {
            times.push(match (frame.time_fs, options.frame_interval_fs) {
                (Some(t), None) => t,
                (Some(t), Some(dt)) => {
                    let expected = frames[0].time_fs.unwrap_or(0.0) + k as f64 * dt;
                    if (t - expected).abs() > 1e-6 * dt.max(t.abs()) {
                        return Err(err(format!(
                            "frame {k} has time {t} fs but frame_interval_fs = {dt} gives {expected} fs; \
                             remove frame_interval_fs (the file has times) or fix it"
                        )));
                    }
                    t
                }
                (None, Some(dt)) => k as f64 * dt,
                (None, None) => {
                    return Err(err(format!(
                        "frame {k} has no time (H5MD `time`, extended XYZ `time_fs=`): set frame_interval_fs"
                    )))
                }
            });
        }

        let mut out_times = Vec::new();
        let mut cells = Vec::new();
        let mut positions = Vec::new();
        let mut velocities = if has_velocities { Some(Vec::new()) } else { None };
        let mut previous_raw: Vec<Vector3<f64>> = Vec::new();
        let mut current: Vec<Vector3<f64>> = Vec::new();
        let start_time = times[0] + options.skip_fs;
        let mut kept = 0usize;
        for (k, frame) in frames.into_iter().enumerate() {
            if frame.positions.len() != n_atoms {
                return Err(err(format!("frame {k} has {} atoms, the first has {n_atoms}", frame.positions.len())));
            }
            // Unwrap every frame (also skipped ones) so that minimum-image steps stay short.
            if use_images {
                let images = frame.images.as_ref().ok_or_else(|| err(format!("frame {k} has no image counters")))?;
                current = frame.positions.iter().zip(images).map(|(r, n)| r + frame.cell.shift(*n)).collect();
            } else if k == 0 {
                current = frame.positions.clone();
            } else {
                for i in 0..n_atoms {
                    current[i] += frame.cell.minimum_image(&(frame.positions[i] - previous_raw[i]));
                }
            }
            previous_raw = frame.positions;
            if times[k] < start_time - 1e-9 * start_time.abs().max(1.0) {
                continue;
            }
            if kept % stride == 0 {
                out_times.push(times[k]);
                cells.push(frame.cell.clone());
                positions.extend_from_slice(&current);
                if let (Some(v), Some(fv)) = (velocities.as_mut(), frame.velocities) {
                    if fv.len() != n_atoms {
                        return Err(err(format!("frame {k} has {} velocities for {n_atoms} atoms", fv.len())));
                    }
                    v.extend_from_slice(&fv);
                }
            }
            kept += 1;
        }
        if out_times.len() < 2 {
            return Err(err(format!(
                "only {} frame(s) left after skip_fs = {} and stride = {stride}; at least 2 are needed",
                out_times.len(),
                options.skip_fs
            )));
        }
        let dt = out_times[1] - out_times[0];
        if dt <= 0.0 || !dt.is_finite() {
            return Err(err(format!("frame times must increase: {} fs then {} fs", out_times[0], out_times[1])));
        }
        for k in 1..out_times.len() {
            let step = out_times[k] - out_times[k - 1];
            if (step - dt).abs() > 1e-6 * dt {
                return Err(err(format!(
                    "frames are not evenly spaced in time: {} fs between frames {} and {k} but {dt} fs between \
                     the first two (MSD and VACF need a uniform time grid)",
                    step,
                    k - 1
                )));
            }
        }
        Ok(Trajectory {
            source: source.to_path_buf(),
            times_fs: out_times,
            atomic_numbers,
            masses,
            cells,
            positions,
            velocities,
            recorded_temperature_k: None,
            unwrapped_with_images: use_images,
        })
    }

    /// Number of frames.
    pub fn n_frames(&self) -> usize {
        self.times_fs.len()
    }

    /// Number of atoms.
    pub fn n_atoms(&self) -> usize {
        self.atomic_numbers.len()
    }

    /// Time between frames (fs).
    pub fn frame_interval_fs(&self) -> f64 {
        self.times_fs[1] - self.times_fs[0]
    }

    /// Unwrapped positions of frame `f`.
    pub fn frame_positions(&self, f: usize) -> &[Vector3<f64>] {
        let n = self.n_atoms();
        &self.positions[f * n..(f + 1) * n]
    }

    /// Velocities of frame `f` (Å/fs), when the file has them.
    pub fn frame_velocities(&self, f: usize) -> Option<&[Vector3<f64>]> {
        let n = self.n_atoms();
        self.velocities.as_ref().map(|v| &v[f * n..(f + 1) * n])
    }

    /// True when velocities were read.
    pub fn has_velocities(&self) -> bool {
        self.velocities.is_some()
    }

    /// Frame `f` as a `System` (positions wrapped into the cell, velocities when present).
    pub fn frame_system(&self, f: usize) -> System {
        let mut system = System::new(self.cells[f].clone());
        for (i, r) in self.frame_positions(f).iter().enumerate() {
            system.push_with_mass(self.atomic_numbers[i], *r, self.masses[i]);
        }
        if let Some(v) = self.frame_velocities(f) {
            system.velocities.copy_from_slice(v);
        }
        system.wrap();
        system
    }

    /// Indices of the atoms of atomic number `z`.
    pub fn atoms_of(&self, z: u8) -> Vec<usize> {
        (0..self.n_atoms()).filter(|&i| self.atomic_numbers[i] == z).collect()
    }

    /// The distinct atomic numbers, sorted.
    pub fn species(&self) -> Vec<u8> {
        let mut s = self.atomic_numbers.clone();
        s.sort_unstable();
        s.dedup();
        s
    }

    /// Mean cell volume (Å³); `None` for non-periodic trajectories.
    pub fn mean_volume(&self) -> Option<f64> {
        if self.cells.iter().any(|c| c.is_infinite()) {
            return None;
        }
        Some(self.cells.iter().map(|c| c.volume()).sum::<f64>() / self.cells.len() as f64)
    }
}

/// Trajectory formats read for analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrajectoryFormat {
    /// `*.h5`, `*.h5md`, `*.hdf5`: H5MD 1.1 as written by mdrun.
    H5md,
    /// `*.xyz`, `*.extxyz`: extended XYZ (MD `trajectory.xyz`, kMC carrier trajectories).
    ExtendedXyz,
    /// Anything else chemfiles reads (LAMMPS `*.lammpstrj`/`*.dump`, DCD, XTC, ...).
    Chemfiles,
}

impl TrajectoryFormat {
    pub fn guess(path: &Path) -> TrajectoryFormat {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "h5" | "h5md" | "hdf5" => TrajectoryFormat::H5md,
            "xyz" | "extxyz" => TrajectoryFormat::ExtendedXyz,
            _ => TrajectoryFormat::Chemfiles,
        }
    }
}

/// Reads and unwraps a trajectory, choosing the reader from the file name.
pub fn read_trajectory(path: &Path, options: &ReadOptions) -> Result<Trajectory, IoError> {
    match TrajectoryFormat::guess(path) {
        TrajectoryFormat::H5md => read_h5md(path, options),
        TrajectoryFormat::ExtendedXyz => read_extxyz(path, options),
        TrajectoryFormat::Chemfiles => read_chemfiles(path, options),
    }
}

fn identity_of(path: &Path, systems: &[&System]) -> Result<(Vec<u8>, Vec<f64>), IoError> {
    let first = systems[0];
    for (k, s) in systems.iter().enumerate() {
        if s.atomic_numbers != first.atomic_numbers {
            return Err(IoError::Format {
                path: path.to_path_buf(),
                message: format!("frame {k} does not have the same atoms in the same order as frame 0"),
            });
        }
    }
    Ok((first.atomic_numbers.clone(), first.masses.clone()))
}

/// Extended XYZ: times from the `time_fs=` comment key, image counters from an `image:I:3` column (taken as
/// present when any counter is non-zero), velocities from `velo:R:3` (taken as present when any is non-zero).
pub fn read_extxyz(path: &Path, options: &ReadOptions) -> Result<Trajectory, IoError> {
    let frames = extxyz::read_frames(path)?;
    let systems: Vec<&System> = frames.iter().map(|f| &f.system).collect();
    let (atomic_numbers, masses) = identity_of(path, &systems)?;
    let has_images = systems.iter().any(|s| s.images.iter().any(|n| *n != [0; 3]));
    let has_velocities = systems.iter().any(|s| s.velocities.iter().any(|v| v.norm_squared() > 0.0));
    let mut raw = Vec::with_capacity(frames.len());
    for (k, frame) in frames.into_iter().enumerate() {
        let time_fs = match frame.info.get("time_fs") {
            Some(text) => Some(text.parse::<f64>().map_err(|_| IoError::Format {
                path: path.to_path_buf(),
                message: format!("frame {k}: time_fs = '{text}' is not a number"),
            })?),
            None => None,
        };
        let s = frame.system;
        raw.push(RawFrame {
            time_fs,
            cell: s.cell,
            images: has_images.then_some(s.images),
            velocities: has_velocities.then_some(s.velocities),
            positions: s.positions,
        });
    }
    Trajectory::from_frames(path, atomic_numbers, masses, raw, options)
}

/// Any chemfiles format; chemfiles gives no times, so `frame_interval_fs` is required.
pub fn read_chemfiles(path: &Path, options: &ReadOptions) -> Result<Trajectory, IoError> {
    let systems = read_frames_with_chemfiles(path, None)?;
    let refs: Vec<&System> = systems.iter().collect();
    let (atomic_numbers, masses) = identity_of(path, &refs)?;
    let has_velocities = systems.iter().any(|s| s.velocities.iter().any(|v| v.norm_squared() > 0.0));
    let raw = systems
        .into_iter()
        .map(|s| RawFrame {
            time_fs: None,
            cell: s.cell,
            images: None,
            velocities: has_velocities.then_some(s.velocities),
            positions: s.positions,
        })
        .collect();
    Trajectory::from_frames(path, atomic_numbers, masses, raw, options)
}

fn h5_error(path: &Path, what: &str, e: impl std::fmt::Display) -> IoError {
    IoError::Format { path: path.to_path_buf(), message: format!("H5MD {what}: {e}") }
}

/// Reads the boundary attribute of the `box` group: `["periodic"|"none"; 3]`. Absent → periodic.
fn h5md_boundary(path: &Path, group: &hdf5::Group) -> Result<[bool; 3], IoError> {
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
        return Err(h5_error(path, "box attribute boundary", "not readable as strings"));
    };
    if words.len() != 3 {
        return Err(h5_error(path, "box attribute boundary", format!("expected 3 entries, found {words:?}")));
    }
    let mut periodic = [true; 3];
    for k in 0..3 {
        periodic[k] = match words[k].trim() {
            "periodic" => true,
            "none" => false,
            other => {
                return Err(h5_error(path, "box attribute boundary", format!("'{other}' is not periodic or none")))
            }
        };
    }
    Ok(periodic)
}

/// H5MD 1.1 as written by mdrun (`/particles/all/{position, image, velocity, box/edges}` with `step`, `time`,
/// `value`; `species`, `mass` time-independent; `/observables/temperature`). Frames are read in chunks so the
/// peak memory stays close to one copy of the positions.
pub fn read_h5md(path: &Path, options: &ReadOptions) -> Result<Trajectory, IoError> {
    let file = hdf5::File::open(path).map_err(|e| h5_error(path, "cannot open", e))?;
    let particles = file.group("particles/all").map_err(|e| h5_error(path, "group /particles/all", e))?;
    let dataset = |name: &str| particles.dataset(name).map_err(|e| h5_error(path, name, e));
    let position = dataset("position/value")?;
    let shape = position.shape();
    if shape.len() != 3 || shape[2] != 3 {
        return Err(h5_error(path, "position/value", format!("shape {shape:?}, expected [frames, atoms, 3]")));
    }
    let (n_frames, n_atoms) = (shape[0], shape[1]);
    let species: Vec<i32> = dataset("species")?.read_raw().map_err(|e| h5_error(path, "species", e))?;
    if species.len() != n_atoms {
        return Err(h5_error(path, "species", format!("{} entries for {n_atoms} atoms", species.len())));
    }
    let atomic_numbers: Vec<u8> = species
        .iter()
        .map(|&z| u8::try_from(z).ok().filter(|&z| z > 0 && z <= 118))
        .collect::<Option<_>>()
        .ok_or_else(|| h5_error(path, "species", "atomic numbers must lie in 1..=118"))?;
    let masses: Vec<f64> = if particles.link_exists("mass") {
        dataset("mass")?.read_raw().map_err(|e| h5_error(path, "mass", e))?
    } else {
        atomic_numbers.iter().map(|&z| crate::system::elements::standard_mass(z).unwrap_or(0.0)).collect()
    };
    let times: Vec<f64> = dataset("position/time")?.read_raw().map_err(|e| h5_error(path, "position/time", e))?;
    if times.len() != n_frames {
        return Err(h5_error(path, "position/time", format!("{} times for {n_frames} frames", times.len())));
    }
    let box_group = particles.group("box").map_err(|e| h5_error(path, "group box", e))?;
    let periodic = h5md_boundary(path, &box_group)?;
    let edges_over_time = box_group.link_exists("edges/value");
    let edges = if edges_over_time { box_group.dataset("edges/value") } else { box_group.dataset("edges") }
        .map_err(|e| h5_error(path, "box/edges", e))?;
    let edges: Vec<f64> = edges.read_raw().map_err(|e| h5_error(path, "box/edges", e))?;
    let expected_edges = if edges_over_time { 9 * n_frames } else { 9 };
    if edges.len() != expected_edges {
        return Err(h5_error(path, "box/edges", format!("{} values, expected {expected_edges}", edges.len())));
    }
    let cell_of = |f: usize| -> Result<Cell, IoError> {
        let o = if edges_over_time { 9 * f } else { 0 };
        let m = Matrix3::from_row_slice(&edges[o..o + 9]);
        Cell::from_matrix(m, periodic).ok_or_else(|| h5_error(path, "box/edges", format!("frame {f}: zero volume")))
    };
    let image = particles.link_exists("image/value").then(|| dataset("image/value")).transpose()?;
    let velocity = particles.link_exists("velocity/value").then(|| dataset("velocity/value")).transpose()?;

    let chunk = (1 << 22) / (3 * n_atoms).max(1) + 1;
    let mut raw = Vec::with_capacity(n_frames);
    let mut start = 0;
    while start < n_frames {
        let end = (start + chunk).min(n_frames);
        let read_f64 = |d: &hdf5::Dataset, what: &str| -> Result<ndarray::Array3<f64>, IoError> {
            d.read_slice::<f64, _, ndarray::Ix3>((start..end, .., ..)).map_err(|e| h5_error(path, what, e))
        };
        let positions = read_f64(&position, "position/value")?;
        let images = match &image {
            Some(d) => Some(
                d.read_slice::<i32, _, ndarray::Ix3>((start..end, .., ..))
                    .map_err(|e| h5_error(path, "image/value", e))?,
            ),
            None => None,
        };
        let velocities = match &velocity {
            Some(d) => Some(read_f64(d, "velocity/value")?),
            None => None,
        };
        for f in start..end {
            let k = f - start;
            let vectors = |a: &ndarray::Array3<f64>| -> Vec<Vector3<f64>> {
                (0..n_atoms).map(|i| Vector3::new(a[[k, i, 0]], a[[k, i, 1]], a[[k, i, 2]])).collect()
            };
            raw.push(RawFrame {
                time_fs: Some(times[f]),
                cell: cell_of(f)?,
                positions: vectors(&positions),
                images: images
                    .as_ref()
                    .map(|a| (0..n_atoms).map(|i| [a[[k, i, 0]], a[[k, i, 1]], a[[k, i, 2]]]).collect()),
                velocities: velocities.as_ref().map(vectors),
            });
        }
        start = end;
    }
    let mut trajectory = Trajectory::from_frames(path, atomic_numbers, masses, raw, options)?;
    if file.link_exists("observables/temperature/value") {
        let t: Vec<f64> = file
            .dataset("observables/temperature/value")
            .and_then(|d| d.read_raw())
            .map_err(|e| h5_error(path, "observables/temperature/value", e))?;
        if !t.is_empty() {
            trajectory.recorded_temperature_k = Some(t.iter().sum::<f64>() / t.len() as f64);
        }
    }
    Ok(trajectory)
}

/// Writes a trajectory in the mdrun H5MD layout (used by tests and by tools that convert trajectories).
/// `frames` are systems with wrapped positions and image counters; `dt_fs` is the time between frames.
pub fn write_h5md(path: &Path, frames: &[System], dt_fs: f64) -> Result<(), IoError> {
    let e = |what: &str, err: hdf5::Error| h5_error(path, what, err);
    let n_frames = frames.len();
    let n_atoms = frames.first().map_or(0, |f| f.len());
    let file = hdf5::File::create(path).map_err(|err| e("create", err))?;
    let h5md = file.create_group("h5md").map_err(|err| e("h5md", err))?;
    h5md.new_attr_builder().with_data(&[1i32, 1]).create("version").map_err(|err| e("version", err))?;
    let creator = h5md.create_group("creator").map_err(|err| e("creator", err))?;
    let name: hdf5::types::VarLenUnicode = "mdrun".parse().expect("ascii");
    creator
        .new_attr::<hdf5::types::VarLenUnicode>()
        .create("name")
        .and_then(|a| a.write_scalar(&name))
        .map_err(|err| e("creator name", err))?;
    let all = file.create_group("particles/all").map_err(|err| e("particles/all", err))?;
    let steps: Vec<i64> = (0..n_frames as i64).collect();
    let times: Vec<f64> = (0..n_frames).map(|k| k as f64 * dt_fs).collect();
    let element = |name: &str| -> Result<hdf5::Group, IoError> {
        let g = all.create_group(name).map_err(|err| e(name, err))?;
        g.new_dataset_builder().with_data(&steps).create("step").map_err(|err| e("step", err))?;
        g.new_dataset_builder().with_data(&times).create("time").map_err(|err| e("time", err))?;
        Ok(g)
    };
    let flat = |f: &dyn Fn(&System) -> Vec<f64>| -> Vec<f64> { frames.iter().flat_map(f).collect() };
    let position = flat(&|s| s.positions.iter().flat_map(|r| [r.x, r.y, r.z]).collect());
    let velocity = flat(&|s| s.velocities.iter().flat_map(|v| [v.x, v.y, v.z]).collect());
    let image: Vec<i32> = frames.iter().flat_map(|s| s.images.iter().flat_map(|n| *n)).collect();
    let edges = flat(&|s| {
        let m = s.cell.matrix();
        (0..3).flat_map(|r| (0..3).map(move |c| m[(r, c)])).collect()
    });
    let write3 = |group: &hdf5::Group, data: &[f64], shape: [usize; 3]| {
        group.new_dataset::<f64>().shape(shape).create("value").and_then(|d| d.write_raw(data))
    };
    write3(&element("position")?, &position, [n_frames, n_atoms, 3]).map_err(|err| e("position", err))?;
    write3(&element("velocity")?, &velocity, [n_frames, n_atoms, 3]).map_err(|err| e("velocity", err))?;
    element("image")?
        .new_dataset::<i32>()
        .shape([n_frames, n_atoms, 3])
        .create("value")
        .and_then(|d| d.write_raw(&image))
        .map_err(|err| e("image", err))?;
    let box_group = all.create_group("box").map_err(|err| e("box", err))?;
    box_group.new_attr_builder().with_data(&[3i32]).create("dimension").map_err(|err| e("dimension", err))?;
    let boundary: Vec<hdf5::types::VarLenUnicode> = frames[0]
        .cell
        .periodic()
        .iter()
        .map(|&p| if p { "periodic" } else { "none" }.parse().expect("ascii"))
        .collect();
    box_group.new_attr_builder().with_data(&boundary).create("boundary").map_err(|err| e("boundary", err))?;
    let edges_group = box_group.create_group("edges").map_err(|err| e("edges", err))?;
    edges_group.new_dataset_builder().with_data(&steps).create("step").map_err(|err| e("step", err))?;
    edges_group.new_dataset_builder().with_data(&times).create("time").map_err(|err| e("time", err))?;
    write3(&edges_group, &edges, [n_frames, 3, 3]).map_err(|err| e("box/edges", err))?;
    let species: Vec<i32> = frames[0].atomic_numbers.iter().map(|&z| z as i32).collect();
    all.new_dataset_builder().with_data(&species).create("species").map_err(|err| e("species", err))?;
    all.new_dataset_builder().with_data(&frames[0].masses).create("mass").map_err(|err| e("mass", err))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uneven_times_and_missing_times_are_errors() {
        let cell = Cell::orthorhombic(5.0, 5.0, 5.0).unwrap();
        let frame = |t: Option<f64>| RawFrame {
            time_fs: t,
            cell: cell.clone(),
            positions: vec![Vector3::zeros()],
            images: None,
            velocities: None,
        };
        let path = Path::new("t.xyz");
        let options = ReadOptions::default();
        let err = Trajectory::from_frames(
            path,
            vec![3],
            vec![6.94],
            vec![frame(Some(0.0)), frame(Some(1.0)), frame(Some(3.0))],
            &options,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("t.xyz") && err.contains("not evenly spaced"), "{err}");
        let err = Trajectory::from_frames(path, vec![3], vec![6.94], vec![frame(None), frame(None)], &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains("set frame_interval_fs"), "{err}");
        let options = ReadOptions { frame_interval_fs: Some(2.0), ..Default::default() };
        let t = Trajectory::from_frames(path, vec![3], vec![6.94], vec![frame(None), frame(None)], &options).unwrap();
        assert_eq!(t.times_fs, vec![0.0, 2.0]);
    }

    #[test]
    fn minimum_image_unwrapping_follows_boundary_crossings_in_a_triclinic_cell() {
        let cell =
            Cell::from_vectors(Vector3::new(4.0, 0.0, 0.0), Vector3::new(1.5, 4.0, 0.0), Vector3::new(0.5, -1.0, 5.0))
                .unwrap();
        // A straight path crossing several boundaries, 0.7 Å per frame.
        let velocity = Vector3::new(0.5, 0.4, -0.3);
        let truth: Vec<Vector3<f64>> = (0..40).map(|k| Vector3::new(0.2, 0.1, 0.3) + velocity * k as f64).collect();
        let frames: Vec<RawFrame> = truth
            .iter()
            .enumerate()
            .map(|(k, r)| RawFrame {
                time_fs: Some(k as f64),
                cell: cell.clone(),
                positions: vec![cell.wrap(r).0],
                images: None,
                velocities: None,
            })
            .collect();
        let t = Trajectory::from_frames(Path::new("x"), vec![3], vec![6.94], frames, &ReadOptions::default()).unwrap();
        for (k, r) in truth.iter().enumerate() {
            assert!((t.frame_positions(k)[0] - (r - truth[0] + t.frame_positions(0)[0])).norm() < 1e-9);
        }
        assert!((t.frame_positions(39)[0] - t.frame_positions(0)[0] - velocity * 39.0).norm() < 1e-9);
    }
}

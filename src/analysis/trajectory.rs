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

use crate::io::h5md::H5mdReader;
use crate::io::{extxyz, kmc_trajectory, read_frames_with_chemfiles, IoError};
use crate::system::{Cell, System};
use nalgebra::Vector3;
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
    /// Element of the carriers in a kMC trajectory (which stores no species); `None` = Li.
    pub carrier_species: Option<u8>,
}

/// What every trajectory knows besides its positions and velocities: where it came from, the times and cells of
/// its kept frames, its atoms and how its positions were unwrapped.
#[derive(Clone, Debug)]
pub struct TrajectoryHeader {
    /// Where it was read from (for messages).
    pub source: PathBuf,
    /// Time of every frame (fs), uniformly spaced.
    pub times_fs: Vec<f64>,
    pub atomic_numbers: Vec<u8>,
    /// Masses (amu).
    pub masses: Vec<f64>,
    /// Cell of every frame.
    pub cells: Vec<Cell>,
    /// Mean of the recorded temperature (K), when the file records one (H5MD `observables/temperature`).
    pub recorded_temperature_k: Option<f64>,
    /// True when positions were unwrapped with image counters, false for minimum-image steps.
    pub unwrapped_with_images: bool,
}

/// A trajectory held in memory, with unwrapped positions.
#[derive(Clone, Debug)]
pub struct Trajectory {
    pub header: TrajectoryHeader,
    /// Unwrapped positions, frame-major (Å).
    positions: Vec<Vector3<f64>>,
    /// Velocities, frame-major (Å/fs), when the file has them.
    velocities: Option<Vec<Vector3<f64>>>,
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
        let use_images = choose_unwrapping(source, has_images, options)?;
        let has_velocities = frames.iter().all(|f| f.velocities.is_some());
        let file_times: Vec<Option<f64>> = frames.iter().map(|f| f.time_fs).collect();
        let times = frame_times(source, &file_times, options)?;
        let selected = select_frames(source, &times, options)?;

        let mut out_times = Vec::new();
        let mut cells = Vec::new();
        let mut positions = Vec::new();
        let mut velocities = if has_velocities { Some(Vec::new()) } else { None };
        check_cells_change_smoothly(source, &frames)?;
        let mut previous_raw: Vec<Vector3<f64>> = Vec::new();
        let mut previous_cell = frames[0].cell.clone();
        let mut current: Vec<Vector3<f64>> = Vec::new();
        let mut next = 0;
        for (k, frame) in frames.into_iter().enumerate() {
            if next == selected.len() {
                break;
            }
            if frame.positions.len() != n_atoms {
                return Err(err(format!("frame {k} has {} atoms, the first has {n_atoms}", frame.positions.len())));
            }
            if let Some(i) = frame.positions.iter().position(|r| !r.iter().all(|x| x.is_finite())) {
                return Err(err(format!("frame {k}, atom {}: non-finite position {:?}", i + 1, frame.positions[i])));
            }
            // Unwrap every frame (also skipped ones) so that minimum-image steps stay short.
            if use_images {
                let images = frame.images.as_ref().ok_or_else(|| err(format!("frame {k} has no image counters")))?;
                current = frame.positions.iter().zip(images).map(|(r, n)| r + frame.cell.shift(*n)).collect();
            } else if k == 0 {
                current = frame.positions.clone();
            } else {
                for i in 0..n_atoms {
                    current[i] =
                        unwrap_step(&current[i], &previous_raw[i], &frame.positions[i], &previous_cell, &frame.cell);
                }
            }
            previous_raw = frame.positions;
            previous_cell = frame.cell.clone();
            if selected[next] != k {
                continue;
            }
            next += 1;
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
        Ok(Trajectory {
            header: TrajectoryHeader {
                source: source.to_path_buf(),
                times_fs: out_times,
                atomic_numbers,
                masses,
                cells,
                recorded_temperature_k: None,
                unwrapped_with_images: use_images,
            },
            positions,
            velocities,
        })
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
}

/// Per-atom access to a trajectory, in blocks of atoms, whether it is held in memory ([`Trajectory`]) or read
/// from an H5MD file block by block ([`H5mdTrajectory`], for trajectories larger than the memory budget).
pub trait TrajectoryData: Sync {
    /// Source, times, cells and atoms.
    fn header(&self) -> &TrajectoryHeader;
    /// True when velocities were recorded.
    fn has_velocities(&self) -> bool;
    /// True when positions are held in memory, false when they are read from the file block by block.
    fn is_in_memory(&self) -> bool;
    /// Bytes of positions and velocities held in memory.
    fn resident_bytes(&self) -> usize;
    /// Unwrapped positions of `atoms` (increasing indices): one series over all frames per atom.
    fn position_block(&self, atoms: &[usize]) -> Result<Vec<Vec<Vector3<f64>>>, IoError>;
    /// Recorded velocities (Å/fs) of `atoms` (increasing indices), one series per atom; `None` without velocities.
    fn velocity_block(&self, atoms: &[usize]) -> Result<Option<Vec<Vec<Vector3<f64>>>>, IoError>;
    /// Frame `f` as a `System` (positions wrapped into the cell, image counters set).
    fn frame_system(&self, f: usize) -> Result<System, IoError>;

    /// Where it was read from (for messages).
    fn source(&self) -> &Path {
        &self.header().source
    }

    /// Time of every frame (fs), uniformly spaced.
    fn times_fs(&self) -> &[f64] {
        &self.header().times_fs
    }

    fn atomic_numbers(&self) -> &[u8] {
        &self.header().atomic_numbers
    }

    /// Masses (amu).
    fn masses(&self) -> &[f64] {
        &self.header().masses
    }

    /// Cell of every frame.
    fn cells(&self) -> &[Cell] {
        &self.header().cells
    }

    /// Mean of the recorded temperature (K), when the file records one.
    fn recorded_temperature_k(&self) -> Option<f64> {
        self.header().recorded_temperature_k
    }

    /// True when positions were unwrapped with image counters, false for minimum-image steps.
    fn unwrapped_with_images(&self) -> bool {
        self.header().unwrapped_with_images
    }

    /// Number of frames.
    fn n_frames(&self) -> usize {
        self.times_fs().len()
    }

    /// Number of atoms.
    fn n_atoms(&self) -> usize {
        self.atomic_numbers().len()
    }

    /// Time between frames (fs).
    fn frame_interval_fs(&self) -> f64 {
        self.times_fs()[1] - self.times_fs()[0]
    }

    /// Indices of the atoms of atomic number `z`.
    fn atoms_of(&self, z: u8) -> Vec<usize> {
        (0..self.n_atoms()).filter(|&i| self.atomic_numbers()[i] == z).collect()
    }

    /// The distinct atomic numbers, sorted.
    fn species(&self) -> Vec<u8> {
        let mut s = self.atomic_numbers().to_vec();
        s.sort_unstable();
        s.dedup();
        s
    }

    /// Mean cell volume (Å³); `None` unless every frame is fully periodic.
    fn mean_volume(&self) -> Option<f64> {
        if self.cells().iter().any(|c| !c.is_fully_periodic()) {
            return None;
        }
        Some(self.cells().iter().map(|c| c.volume()).sum::<f64>() / self.cells().len() as f64)
    }
}

impl TrajectoryData for Trajectory {
    fn header(&self) -> &TrajectoryHeader {
        &self.header
    }
    fn has_velocities(&self) -> bool {
        self.velocities.is_some()
    }
    fn is_in_memory(&self) -> bool {
        true
    }
    fn resident_bytes(&self) -> usize {
        24 * (self.positions.len() + self.velocities.as_ref().map_or(0, |v| v.len()))
    }
    fn position_block(&self, atoms: &[usize]) -> Result<Vec<Vec<Vector3<f64>>>, IoError> {
        Ok(atoms.iter().map(|&i| (0..self.n_frames()).map(|f| self.frame_positions(f)[i]).collect()).collect())
    }
    fn velocity_block(&self, atoms: &[usize]) -> Result<Option<Vec<Vec<Vector3<f64>>>>, IoError> {
        Ok(self.velocities.as_ref().map(|_| {
            atoms
                .iter()
                .map(|&i| (0..self.n_frames()).map(|f| self.frame_velocities(f).expect("velocities")[i]).collect())
                .collect()
        }))
    }
    fn frame_system(&self, f: usize) -> Result<System, IoError> {
        let mut system = System::new(self.cells()[f].clone());
        for (i, r) in self.frame_positions(f).iter().enumerate() {
            system.push_with_mass(self.atomic_numbers()[i], *r, self.masses()[i]);
        }
        if let Some(v) = self.frame_velocities(f) {
            system.velocities.copy_from_slice(v);
        }
        system.wrap();
        Ok(system)
    }
}

/// Whether image counters are used for unwrapping.
/// One minimum-image unwrapping step: from `unwrapped` and `previous` (an atom's unwrapped and raw positions in
/// the previous frame, whose cell was `previous_cell`) to its unwrapped position in a frame where it is at `r` in
/// `cell`. When the cell changed (a barostat), both are first carried affinely into the new cell,
/// x → h_t h_{t−1}⁻¹ x, as the barostat scales positions; the result is then r + h_t·n_t with n_t the atom's image
/// counters, what unwrapping with image counters gives (LAMMPS's unwrapped coordinates x + i_x·L_x(t)). A cell
/// that did not change leaves the plain minimum-image step, bit for bit.
fn unwrap_step(
    unwrapped: &Vector3<f64>,
    previous: &Vector3<f64>,
    r: &Vector3<f64>,
    previous_cell: &Cell,
    cell: &Cell,
) -> Vector3<f64> {
    if previous_cell.matrix() == cell.matrix() {
        return unwrapped + cell.minimum_image(&(r - previous));
    }
    let carried = |x: &Vector3<f64>| cell.cartesian(&previous_cell.fractional(x));
    let previous = carried(previous);
    carried(unwrapped) + cell.minimum_image(&(r - previous))
}

fn choose_unwrapping(source: &Path, has_images: bool, options: &ReadOptions) -> Result<bool, IoError> {
    match options.unwrap {
        UnwrapMethod::Auto => Ok(has_images),
        UnwrapMethod::Images if !has_images => Err(IoError::Format {
            path: source.to_path_buf(),
            message: "unwrap = \"images\" but the file has no image counters".into(),
        }),
        UnwrapMethod::Images => Ok(true),
        UnwrapMethod::MinimumImage => Ok(false),
    }
}

/// Frame times (fs): from the file, or k · frame_interval_fs when the file has none (both given: must agree).
fn frame_times(source: &Path, file_times: &[Option<f64>], options: &ReadOptions) -> Result<Vec<f64>, IoError> {
    let err = |message: String| IoError::Format { path: source.to_path_buf(), message };
    let mut times = Vec::with_capacity(file_times.len());
    for (k, time) in file_times.iter().enumerate() {
        times.push(match (*time, options.frame_interval_fs) {
            (Some(t), None) => t,
            (Some(t), Some(dt)) => {
                let expected = file_times[0].unwrap_or(0.0) + k as f64 * dt;
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
    Ok(times)
}

/// Indices of the frames kept after `skip_fs` and `stride`; checks that at least two remain and that they are
/// evenly spaced in time (MSD and VACF by FFT need a uniform grid).
fn select_frames(source: &Path, times: &[f64], options: &ReadOptions) -> Result<Vec<usize>, IoError> {
    let err = |message: String| IoError::Format { path: source.to_path_buf(), message };
    let stride = options.stride.max(1);
    let start_time = times[0] + options.skip_fs;
    let selected: Vec<usize> = (0..times.len())
        .filter(|&k| times[k] >= start_time - 1e-9 * start_time.abs().max(1.0))
        .step_by(stride)
        .collect();
    if selected.len() < 2 {
        return Err(err(format!(
            "only {} frame(s) left after skipping the first {} ps (skip_ps) of the {} ps the frames span, with \
             stride = {stride}: at least 2 are needed",
            selected.len(),
            crate::input::number(options.skip_fs / 1e3),
            crate::input::number((times[times.len() - 1] - times[0]) / 1e3)
        )));
    }
    let dt = times[selected[1]] - times[selected[0]];
    if dt <= 0.0 || !dt.is_finite() {
        return Err(err(format!(
            "frame times must increase: {} fs then {} fs",
            times[selected[0]], times[selected[1]]
        )));
    }
    for w in selected.windows(2) {
        let step = times[w[1]] - times[w[0]];
        if (step - dt).abs() > 1e-6 * dt {
            return Err(err(format!(
                "frames are not evenly spaced in time: {step} fs between frames {} and {} but {dt} fs between \
                 the first two (MSD and VACF need a uniform time grid)",
                w[0], w[1]
            )));
        }
    }
    Ok(selected)
}

/// Trajectory formats read for analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrajectoryFormat {
    /// `*.h5`, `*.h5md`, `*.hdf5`: H5MD 1.1 as written by mdrun.
    H5md,
    /// `*.xyz`, `*.extxyz`: extended XYZ (MD `trajectory.xyz`, kMC carrier trajectories).
    ExtendedXyz,
    /// `*.csv`: kMC carrier trajectory (`# mdrun kmc trajectory v1`, rows `time_ps,carrier,x_a,y_a,z_a`).
    KmcCsv,
    /// Anything else chemfiles reads (LAMMPS `*.lammpstrj`/`*.dump`, DCD, XTC, ...).
    Chemfiles,
}

impl TrajectoryFormat {
    pub fn guess(path: &Path) -> TrajectoryFormat {
        match crate::io::lowercase_extension(path).as_str() {
            "h5" | "h5md" | "hdf5" => TrajectoryFormat::H5md,
            "xyz" | "extxyz" => TrajectoryFormat::ExtendedXyz,
            "csv" => TrajectoryFormat::KmcCsv,
            _ => TrajectoryFormat::Chemfiles,
        }
    }
}

/// The largest relative change of the cell matrix between consecutive frames, ‖H_k − H_{k−1}‖_F / ‖H_{k−1}‖_F.
/// A barostat moves the cell by ~1e-4 per frame; a jump beyond this means frames of different runs or cells were
/// joined, and unwrapping (and so the MSD) across it is meaningless.
pub const MAX_CELL_CHANGE_PER_FRAME: f64 = 0.05;

fn check_cells_change_smoothly(source: &Path, frames: &[RawFrame]) -> Result<(), IoError> {
    for (k, pair) in frames.windows(2).enumerate() {
        let (before, after) = (pair[0].cell.matrix(), pair[1].cell.matrix());
        if pair[0].cell.is_infinite() != pair[1].cell.is_infinite() {
            return Err(IoError::format(source, format!("frame {} is periodic and frame {} is not", k, k + 1)));
        }
        let change = (after - before).norm() / before.norm();
        if change > MAX_CELL_CHANGE_PER_FRAME {
            return Err(IoError::format(
                source,
                format!(
                    "the cell changes by {:.1} % from frame {k} (lengths {:.4?} Å) to frame {} ({:.4?} Å): expected \
                     frames of one run, whose cell changes by less than {} % per frame",
                    100.0 * change,
                    pair[0].cell.lengths(),
                    k + 1,
                    pair[1].cell.lengths(),
                    100.0 * MAX_CELL_CHANGE_PER_FRAME
                ),
            ));
        }
    }
    Ok(())
}

/// Reads and unwraps a trajectory, choosing the reader from the file name.
pub fn read_trajectory(path: &Path, options: &ReadOptions) -> Result<Trajectory, IoError> {
    match TrajectoryFormat::guess(path) {
        TrajectoryFormat::H5md => read_h5md(path, options),
        TrajectoryFormat::ExtendedXyz => read_extxyz(path, options),
        TrajectoryFormat::KmcCsv => read_kmc_csv(path, options),
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

/// kMC carrier trajectory written by the kMC stage (`kmc_trajectory_<i>.csv`, read by
/// [`crate::io::kmc_trajectory`]): comment lines `# mdrun kmc trajectory v1` and `# temperature_k: T`, a header
/// `time_ps,carrier,x_a,y_a,z_a`, then one row per carrier per frame with unwrapped positions (Å). There is no
/// cell (positions are continuous), so the trajectory is non-periodic; the carriers are `options.carrier_species`
/// (default Li).
pub fn read_kmc_csv(path: &Path, options: &ReadOptions) -> Result<Trajectory, IoError> {
    let file = kmc_trajectory::read(path)?;
    let n = file.frames[0].positions.len();
    let z = options.carrier_species.unwrap_or(3);
    let mass = crate::system::elements::standard_mass(z).unwrap_or(0.0);
    let raw = file
        .frames
        .into_iter()
        .map(|frame| RawFrame {
            time_fs: Some(frame.time_ps * 1e3),
            cell: Cell::infinite(),
            positions: frame.positions,
            images: None,
            velocities: None,
        })
        .collect();
    let mut trajectory = Trajectory::from_frames(path, vec![z; n], vec![mass; n], raw, options)?;
    trajectory.header.recorded_temperature_k = file.header.temperature_k;
    Ok(trajectory)
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

/// An H5MD trajectory for analysis, read block by block of atoms through the one H5MD reader
/// ([`crate::io::h5md::H5mdReader`], which documents the layout): only times, cells and species are held in
/// memory, positions are read (in hyperslabs of frames) for the atoms asked for and unwrapped on the fly.
#[derive(Clone, Debug)]
pub struct H5mdTrajectory {
    reader: H5mdReader,
    /// Cells of every frame in the file (needed for minimum-image unwrapping through skipped frames).
    file_cells: Vec<Cell>,
    /// Indices of the kept frames.
    selected: Vec<usize>,
    header: TrajectoryHeader,
    has_velocities: bool,
}

/// Frames per hyperslab read: about 32 MB of positions.
fn frames_per_read(width: usize) -> usize {
    ((32usize << 20) / (24 * width.max(1))).max(1)
}

impl H5mdTrajectory {
    /// Opens the file and reads its metadata, checking shapes, species, times and cells.
    pub fn open(path: &Path, options: &ReadOptions) -> Result<H5mdTrajectory, IoError> {
        let reader = H5mdReader::open(path)?;
        let (file_frames, n_atoms) = (reader.len(), reader.n_atoms());
        if file_frames == 0 || n_atoms == 0 {
            return Err(IoError::format(
                path,
                format!("H5MD position/value: shape [{file_frames}, {n_atoms}, 3] holds no data"),
            ));
        }
        let file_cells = (0..file_frames).map(|f| reader.cell(f)).collect::<Result<Vec<Cell>, IoError>>()?;
        let use_images = choose_unwrapping(path, reader.has_images(), options)?;
        let has_velocities = reader.has_velocities();
        let options_times: Vec<Option<f64>> = reader.times_fs().iter().map(|&t| Some(t)).collect();
        let times = frame_times(path, &options_times, options)?;
        let selected = select_frames(path, &times, options)?;
        let recorded_temperature_k = reader
            .observable("temperature")?
            .and_then(|t| (!t.is_empty()).then(|| t.iter().sum::<f64>() / t.len() as f64));
        let header = TrajectoryHeader {
            source: path.to_path_buf(),
            times_fs: selected.iter().map(|&k| times[k]).collect(),
            atomic_numbers: reader.atomic_numbers().to_vec(),
            masses: reader.masses().to_vec(),
            cells: selected.iter().map(|&k| file_cells[k].clone()).collect(),
            recorded_temperature_k,
            unwrapped_with_images: use_images,
        };
        Ok(H5mdTrajectory { reader, file_cells, selected, header, has_velocities })
    }

    /// Bytes the positions (and velocities) of the kept frames take in memory.
    pub fn in_memory_bytes(&self) -> usize {
        let per_frame = 24 * self.n_atoms();
        self.n_frames() * per_frame * if self.has_velocities { 2 } else { 1 }
    }

    /// Reads everything into memory in one pass over the file.
    pub fn load(&self) -> Result<Trajectory, IoError> {
        let n = self.n_atoms();
        let mut positions = Vec::with_capacity(self.selected.len() * n);
        self.scan_positions(0, n, |_, frame| positions.extend_from_slice(frame))?;
        let mut velocities = self.has_velocities.then(|| Vec::with_capacity(self.selected.len() * n));
        if let Some(v) = velocities.as_mut() {
            self.scan_velocities(0, n, |_, frame| v.extend_from_slice(frame))?;
        }
        Ok(Trajectory { header: self.header.clone(), positions, velocities })
    }

    /// Visits the unwrapped positions of atoms lo..hi at every kept frame, in order (k = kept-frame index),
    /// reading hyperslabs of about 32 MB and unwrapping through every frame of the file.
    fn scan_positions(
        &self,
        lo: usize,
        hi: usize,
        mut visit: impl FnMut(usize, &[Vector3<f64>]),
    ) -> Result<(), IoError> {
        let width = hi - lo;
        let mut current = vec![Vector3::zeros(); width];
        let mut previous = vec![Vector3::zeros(); width];
        let end = self.selected.last().map_or(0, |&k| k + 1).min(self.reader.len());
        let step = frames_per_read(width);
        let mut next = 0;
        for f0 in (0..end).step_by(step) {
            let f1 = (f0 + step).min(end);
            let positions = self.reader.positions(f0..f1, lo..hi)?;
            let images =
                if self.header.unwrapped_with_images { Some(self.reader.images(f0..f1, lo..hi)?) } else { None };
            for f in f0..f1 {
                let cell = &self.file_cells[f];
                let t = f - f0;
                for a in 0..width {
                    let r = Vector3::new(positions[[t, a, 0]], positions[[t, a, 1]], positions[[t, a, 2]]);
                    current[a] = match &images {
                        Some(n) => r + cell.shift([n[[t, a, 0]], n[[t, a, 1]], n[[t, a, 2]]]),
                        None if f == 0 => r,
                        None => unwrap_step(&current[a], &previous[a], &r, &self.file_cells[f - 1], cell),
                    };
                    previous[a] = r;
                }
                if next < self.selected.len() && self.selected[next] == f {
                    visit(next, &current);
                    next += 1;
                }
            }
        }
        Ok(())
    }

    /// Visits the velocities of atoms lo..hi at every kept frame, in order.
    fn scan_velocities(
        &self,
        lo: usize,
        hi: usize,
        mut visit: impl FnMut(usize, &[Vector3<f64>]),
    ) -> Result<(), IoError> {
        let width = hi - lo;
        let step = frames_per_read(width);
        let mut row = vec![Vector3::zeros(); width];
        let mut start = 0;
        while start < self.selected.len() {
            let f0 = self.selected[start];
            let f1 = (f0 + step).min(self.reader.len());
            let velocities = self.reader.velocities(f0..f1, lo..hi)?;
            while start < self.selected.len() && self.selected[start] < f1 {
                let t = self.selected[start] - f0;
                for (a, v) in row.iter_mut().enumerate() {
                    *v = Vector3::new(velocities[[t, a, 0]], velocities[[t, a, 1]], velocities[[t, a, 2]]);
                }
                visit(start, &row);
                start += 1;
            }
        }
        Ok(())
    }
}

impl TrajectoryData for H5mdTrajectory {
    fn header(&self) -> &TrajectoryHeader {
        &self.header
    }
    fn has_velocities(&self) -> bool {
        self.has_velocities
    }
    fn is_in_memory(&self) -> bool {
        false
    }
    fn resident_bytes(&self) -> usize {
        0
    }

    fn position_block(&self, atoms: &[usize]) -> Result<Vec<Vec<Vector3<f64>>>, IoError> {
        let Some((&lo, &last)) = atoms.first().zip(atoms.last()) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Vec<Vector3<f64>>> = vec![Vec::with_capacity(self.selected.len()); atoms.len()];
        self.scan_positions(lo, last + 1, |_, frame| {
            for (series, &i) in out.iter_mut().zip(atoms) {
                series.push(frame[i - lo]);
            }
        })?;
        Ok(out)
    }

    fn velocity_block(&self, atoms: &[usize]) -> Result<Option<Vec<Vec<Vector3<f64>>>>, IoError> {
        if !self.has_velocities {
            return Ok(None);
        }
        let Some((&lo, &last)) = atoms.first().zip(atoms.last()) else {
            return Ok(Some(Vec::new()));
        };
        let mut out: Vec<Vec<Vector3<f64>>> = vec![Vec::with_capacity(self.selected.len()); atoms.len()];
        self.scan_velocities(lo, last + 1, |_, frame| {
            for (series, &i) in out.iter_mut().zip(atoms) {
                series.push(frame[i - lo]);
            }
        })?;
        Ok(Some(out))
    }

    fn frame_system(&self, f: usize) -> Result<System, IoError> {
        let k = self.selected[f];
        let n = self.n_atoms();
        let positions = self.reader.positions(k..k + 1, 0..n)?;
        let mut system = System::new(self.cells()[f].clone());
        for i in 0..n {
            let r = Vector3::new(positions[[0, i, 0]], positions[[0, i, 1]], positions[[0, i, 2]]);
            system.push_with_mass(self.atomic_numbers()[i], r, self.masses()[i]);
        }
        system.wrap();
        Ok(system)
    }
}

/// Reads a whole H5MD trajectory into memory.
pub fn read_h5md(path: &Path, options: &ReadOptions) -> Result<Trajectory, IoError> {
    H5mdTrajectory::open(path, options)?.load()
}

/// Opens a trajectory for analysis: in memory when its positions and velocities take at most half of
/// `budget_bytes` (or it is not H5MD), otherwise as an [`H5mdTrajectory`] read block by block of atoms.
pub fn open_trajectory(
    path: &Path,
    options: &ReadOptions,
    budget_bytes: usize,
) -> Result<Box<dyn TrajectoryData>, IoError> {
    if TrajectoryFormat::guess(path) == TrajectoryFormat::H5md {
        let streamed = H5mdTrajectory::open(path, options)?;
        if streamed.in_memory_bytes() > budget_bytes / 2 {
            return Ok(Box::new(streamed));
        }
        return Ok(Box::new(streamed.load()?));
    }
    Ok(Box::new(read_trajectory(path, options)?))
}

/// Writes a trajectory in the mdrun H5MD layout (used by tests and by tools that convert trajectories).
/// `frames` are systems with wrapped positions and image counters; `dt_fs` is the time between frames.
pub fn write_h5md(path: &Path, frames: &[System], dt_fs: f64) -> Result<(), IoError> {
    let e = |what: &str, err: hdf5::Error| h5_error(path, what, err);
    let n_frames = frames.len();
    let n_atoms = frames.first().map_or(0, |f| f.len());
    crate::io::refuse_symlink(path)?;
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
        assert_eq!(t.times_fs(), vec![0.0, 2.0]);
        let options = ReadOptions { frame_interval_fs: Some(2.0), skip_fs: 3.0, ..Default::default() };
        let frames = vec![frame(None), frame(None), frame(None)];
        let err = Trajectory::from_frames(path, vec![3], vec![6.94], frames, &options).unwrap_err().to_string();
        assert!(err.ends_with("only 1 frame(s) left after skipping the first 0.003 ps (skip_ps) of the 0.004 ps the frames span, with stride = 1: at least 2 are needed"), "{err}");
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

    /// Under a barostat the cell changes every frame: a path crossing boundaries of a triclinic cell that grows
    /// by 0.3 % per frame and shears, unwrapped with image counters and with minimum-image steps, gives in both
    /// cases u_t = h_t·S_t, the positions the equations of motion carry (S_t: unwrapped fractional coordinates).
    #[test]
    fn unwrapping_follows_a_changing_cell_with_and_without_image_counters() {
        let cell_at = |k: usize| {
            let (g, shear) = (1.0 + 0.003 * k as f64, 0.01 * k as f64);
            Cell::from_vectors(
                Vector3::new(4.0 * g, 0.0, 0.0),
                Vector3::new(1.5 + shear, 4.0 * g, 0.0),
                Vector3::new(0.5, -1.0, 5.0 * g),
            )
            .unwrap()
        };
        let fractional_velocity = Vector3::new(0.11, -0.07, 0.05);
        let truth: Vec<Vector3<f64>> = (0..60)
            .map(|k| cell_at(k).cartesian(&(Vector3::new(0.3, 0.6, 0.2) + fractional_velocity * k as f64)))
            .collect();
        let frames = |with_images: bool| -> Vec<RawFrame> {
            truth
                .iter()
                .enumerate()
                .map(|(k, u)| {
                    let (wrapped, image) = cell_at(k).wrap(u);
                    RawFrame {
                        time_fs: Some(k as f64),
                        cell: cell_at(k),
                        positions: vec![wrapped],
                        images: with_images.then(|| vec![image]),
                        velocities: None,
                    }
                })
                .collect()
        };
        assert!(truth.last().map(|u| cell_at(59).wrap(u).1) != Some([0; 3]), "the path crosses boundaries");
        for with_images in [true, false] {
            let t = Trajectory::from_frames(
                Path::new("x"),
                vec![3],
                vec![6.94],
                frames(with_images),
                &ReadOptions::default(),
            )
            .unwrap();
            assert_eq!(t.unwrapped_with_images(), with_images);
            for (k, u) in truth.iter().enumerate() {
                let error = (t.frame_positions(k)[0] - u).norm();
                assert!(error < 1e-9, "frame {k}, images {with_images}: {:?} vs {u:?}", t.frame_positions(k)[0]);
            }
        }
    }

    #[test]
    fn a_cell_that_jumps_between_frames_is_refused() {
        let frame = |length: f64| RawFrame {
            time_fs: None,
            cell: Cell::orthorhombic(length, 10.0, 10.0).unwrap(),
            positions: vec![Vector3::new(1.0, 1.0, 1.0)],
            images: None,
            velocities: None,
        };
        let options = ReadOptions { frame_interval_fs: Some(1.0), ..Default::default() };
        let read = |frames| Trajectory::from_frames(Path::new("t.xyz"), vec![3], vec![6.94], frames, &options);
        assert!(read(vec![frame(10.0), frame(10.01), frame(10.02)]).is_ok());
        let err = read(vec![frame(10.0), frame(10.0), frame(12.0), frame(12.0)]).unwrap_err().to_string();
        assert!(err.starts_with("t.xyz: the cell changes by 11.5 % from frame 1 (lengths [10.0000, 10.0000"), "{err}");
    }
}

//! MD checkpoints: everything needed to continue a stage so that the continued run is bit-identical to an
//! uninterrupted one. Written as JSON (floats printed in shortest round-trip form and parsed exactly, serde_json
//! `float_roundtrip`) with write-then-rename (`io::write_atomically`), so a crash never leaves a torn file.
//!
//! Bit-identical continuation needs, besides positions, velocities and images: the step; the thermostat state;
//! the barostat state; the random-number generator state; the accumulated averages; the positions at which the neighbour list was
//! last built and the cell then (force sums run over the list in its order, so the resumed list must be built
//! from the same positions and cell); and how much of each output file belongs to the run so far (files are truncated back to it).

use super::barostats::Barostat;
use super::run::Accumulators;
use super::thermostats::Thermostat;
use crate::io::{write_atomically, IoError};
use crate::system::{Cell, System};
use nalgebra::{Matrix3, Vector3};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format tag of the checkpoint files this version writes and reads.
pub const CHECKPOINT_FORMAT: &str = "mdrun-md-checkpoint-1";

/// The atoms and cell, exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemState {
    /// Lattice vectors as rows (Å).
    pub cell: [[f64; 3]; 3],
    pub periodic: [bool; 3],
    pub atomic_numbers: Vec<u8>,
    pub masses: Vec<f64>,
    pub positions: Vec<[f64; 3]>,
    pub velocities: Vec<[f64; 3]>,
    pub images: Vec<[i32; 3]>,
}

fn to_arrays(v: &[Vector3<f64>]) -> Vec<[f64; 3]> {
    v.iter().map(|r| [r.x, r.y, r.z]).collect()
}

pub(crate) fn to_vectors(v: &[[f64; 3]]) -> Vec<Vector3<f64>> {
    v.iter().map(|r| Vector3::new(r[0], r[1], r[2])).collect()
}

impl SystemState {
    pub fn from_system(system: &System) -> SystemState {
        let m = system.cell.matrix();
        SystemState {
            cell: [0, 1, 2].map(|r| [m[(r, 0)], m[(r, 1)], m[(r, 2)]]),
            periodic: system.cell.periodic(),
            atomic_numbers: system.atomic_numbers.clone(),
            masses: system.masses.clone(),
            positions: to_arrays(&system.positions),
            velocities: to_arrays(&system.velocities),
            images: system.images.clone(),
        }
    }

    /// The system, or a message when the stored data is inconsistent.
    pub fn to_system(&self) -> Result<System, String> {
        let n = self.atomic_numbers.len();
        if [self.masses.len(), self.positions.len(), self.velocities.len(), self.images.len()].iter().any(|&l| l != n) {
            return Err("per-atom arrays have different lengths".into());
        }
        let matrix = Matrix3::from_fn(|r, c| self.cell[r][c]);
        let cell = if self.periodic == [false; 3] && matrix == Matrix3::zeros() {
            Cell::infinite()
        } else {
            Cell::from_matrix(matrix, self.periodic).ok_or("the cell has zero volume")?
        };
        Ok(System {
            cell,
            positions: to_vectors(&self.positions),
            velocities: to_vectors(&self.velocities),
            atomic_numbers: self.atomic_numbers.clone(),
            masses: self.masses.clone(),
            images: self.images.clone(),
        })
    }
}

/// How much of each output file belongs to the run up to the checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputPositions {
    /// Bytes of `thermo.csv`.
    pub thermo_csv_bytes: u64,
    /// Bytes of `trajectory.xyz` (0 when not written).
    pub extxyz_bytes: u64,
    /// Frames of `trajectory.h5` (0 when not written).
    pub h5md_frames: usize,
}

/// A complete MD checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// Steps completed.
    pub step: u64,
    /// Steps of the whole stage.
    pub total_steps: u64,
    /// Timestep (fs), checked on resume.
    pub timestep_fs: f64,
    pub system: SystemState,
    /// Positions at the last neighbour-list build (Å).
    pub neighbor_reference_positions: Vec<[f64; 3]>,
    /// The cell at the last neighbour-list build (rows, Å), when a barostat has changed it since; absent: the
    /// system's cell.
    #[serde(default)]
    pub neighbor_reference_cell: Option<[[f64; 3]; 3]>,
    pub thermostat: Thermostat,
    /// The barostat's state (cell velocity, its chain, work done), absent at constant volume.
    #[serde(default)]
    pub barostat: Option<Barostat>,
    /// State of the random stream used by the thermostat.
    pub rng: Xoshiro256PlusPlus,
    pub accumulators: Accumulators,
    pub outputs: OutputPositions,
}

impl Checkpoint {
    /// Writes the checkpoint atomically to `path`.
    pub fn write(&self, path: &Path) -> Result<(), IoError> {
        let text = serde_json::to_string(self).map_err(|e| IoError::Format {
            path: path.to_path_buf(),
            message: format!("cannot serialise checkpoint: {e}"),
        })?;
        write_atomically(path, text.as_bytes())
    }

    /// Reads a checkpoint, checking its format tag.
    pub fn read(path: &Path) -> Result<Checkpoint, IoError> {
        let text = std::fs::read_to_string(path).map_err(|e| IoError::open(path, e))?;
        let checkpoint: Checkpoint = serde_json::from_str(&text).map_err(|e| IoError::Syntax {
            path: path.to_path_buf(),
            line: e.line(),
            message: format!("not a valid MD checkpoint: {e}"),
        })?;
        if checkpoint.format != CHECKPOINT_FORMAT {
            return Err(IoError::Format {
                path: path.to_path_buf(),
                message: format!("checkpoint format '{}', expected '{CHECKPOINT_FORMAT}'", checkpoint.format),
            });
        }
        Ok(checkpoint)
    }
}

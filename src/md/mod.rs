//! Molecular dynamics: velocity Verlet with Nosé–Hoover chain, Langevin (BAOAB) or CSVR thermostats, MTK or
//! stochastic cell rescaling barostats,
//! temperature schedules, thermo output, H5MD/extxyz trajectories and bit-identical checkpoint/restart.
//! See `docs/md.md` for the input keys and files.

pub mod barostats;
pub mod bench;
pub mod checkpoint;
pub mod integrator;
pub mod run;
pub mod schedule;
pub mod thermo;
pub mod thermostats;
pub mod velocities;

pub use barostats::{Barostat, BarostatSettings, Coupling};
pub use checkpoint::Checkpoint;
pub use run::{MdError, MdReport, MdSettings, RunControl, TrajectoryFormat};
pub use schedule::{Schedule, Segment, SegmentSettings};
pub use thermo::ThermoRow;
pub use thermostats::{Thermostat, ThermostatSettings};

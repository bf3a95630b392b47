//! mdrun: molecular dynamics, relaxation, nudged elastic band and kinetic Monte Carlo for battery materials
//! driven by machine-learning interatomic potentials.
//!
//! Units everywhere: Å, eV, fs, amu, K (see `docs/units.md`).

pub mod input;
pub mod io;
pub mod neighbors;
pub mod potentials;
pub mod system;

//! mdrun: molecular dynamics, relaxation, nudged elastic band and kinetic Monte Carlo for battery materials
//! driven by machine-learning interatomic potentials.
//!
//! Units everywhere: Å, eV, fs, amu, K (see [`units`]).

pub mod analysis;
pub mod bench;
pub mod input;
pub mod io;
pub mod kmc;
pub mod md;
pub mod neb;
pub mod neighbors;
pub mod optimize;
pub mod plot;
pub mod potentials;
pub mod progress;
pub mod relax;
pub mod structure;
pub mod study;
pub mod system;
pub mod train;
pub mod units;

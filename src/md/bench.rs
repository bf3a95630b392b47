//! Throughput of the MD loop on a reference system, for `mdrun bench` and `benches/md.rs`:
//! fcc Lennard-Jones argon (ε = 0.0103 eV, σ = 3.405 Å, lj/cut 8.5 Å, a = 5.26 Å, 4 atoms per cell) at 100 K
//! with a Nosé–Hoover chain, 2 fs steps, neighbour skin 1 Å.

use super::run::{MdSettings, RunControl};
use super::thermostats::{NoseHooverSettings, ThermostatSettings};
use crate::potentials::lj::LennardJones;
use crate::potentials::Evaluator;
use serde::Serialize;
use std::sync::Arc;

/// Measured MD throughput.
#[derive(Clone, Debug, Serialize)]
pub struct MdBench {
    pub atoms: usize,
    pub steps: u64,
    /// Rayon threads used.
    pub threads: usize,
    /// Wall time of the steps (s), excluding set-up.
    pub seconds: f64,
    pub atom_steps_per_second: f64,
    /// Wall time per atom and step (ns).
    pub ns_per_atom_step: f64,
    pub neighbor_rebuilds: u64,
}

/// Runs `steps` MD steps on `cells`³ argon cells (4·cells³ atoms) with `threads` rayon threads (None: the
/// global pool) and reports the wall time.
pub fn bench_md(cells: usize, steps: u64, threads: Option<usize>) -> anyhow::Result<MdBench> {
    let run = || -> anyhow::Result<MdBench> {
        let mut system = crate::system::fcc(18, 5.26, cells);
        let mut evaluator =
            Evaluator::new(Arc::new(LennardJones::single_species("Ar", 0.0103, 3.405, 8.5, true)?), 1.0);
        let settings = MdSettings {
            timestep_fs: 2.0,
            thermostat: Some(ThermostatSettings::NoseHoover(NoseHooverSettings { damping_fs: 200.0, chain: 3 })),
            barostat: None,
            pressure_bar: None,
            pressure_gpa: None,
            temperature_k: Some(100.0),
            duration_ps: None,
            steps: Some(steps),
            schedule: None,
            initial_temperature_k: Some(100.0),
            thermo_every: steps.max(1),
            trajectory_every: 0,
            trajectory_formats: Vec::new(),
            checkpoint_every: 0,
            max_temperature_k: 10_000.0,
            max_extrapolations: None,
        };
        let dir = std::env::temp_dir().join(format!("mdrun-bench-md-{}", std::process::id()));
        let report =
            settings.run(&mut system, &mut evaluator, &dir, 1, RunControl { quiet: true, stop_after_step: None });
        std::fs::remove_dir_all(&dir).ok();
        let report = report?;
        Ok(MdBench {
            atoms: system.len(),
            steps,
            threads: rayon::current_num_threads(),
            seconds: report.wall_time_s,
            atom_steps_per_second: report.atom_steps_per_second,
            ns_per_atom_step: 1e9 / report.atom_steps_per_second,
            neighbor_rebuilds: report.neighbor_rebuilds,
        })
    };
    match threads {
        None => run(),
        Some(n) => rayon::ThreadPoolBuilder::new().num_threads(n).build()?.install(run),
    }
}

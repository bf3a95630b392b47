//! NVE molecular dynamics with a neural-network potential conserves energy: Cu2S_PBE (n2p2 reference potential,
//! 144 atoms), velocity Verlet at 2 fs for 2 ps from 300 K.

mod common;

use mdrun::md::{MdSettings, RunControl};
use mdrun::potentials::nnp::{NnpConfig, NnpPotential};
use mdrun::potentials::Evaluator;
use std::sync::Arc;

#[test]
fn nve_with_cu2s_nnp_conserves_energy_over_two_picoseconds() {
    let Some(folder) = common::reference("../shared/reference/n2p2/Cu2S_PBE") else { return };
    let potential = NnpPotential::load(&NnpConfig::new(&folder, 1.0, 1.0)).unwrap();
    let mut system = mdrun::io::read_structure(&folder.join("input.data")).unwrap();
    let mut evaluator = Evaluator::new(Arc::new(potential), 1.0);
    let settings: MdSettings =
        toml::from_str("timestep_fs = 2.0\nsteps = 1000\ninitial_temperature_k = 300\nthermo_every = 10").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = settings
        .run(&mut system, &mut evaluator, dir.path(), 5, RunControl { quiet: true, stop_after_step: None })
        .unwrap();
    let drift = report.conserved_energy_drift_ev_per_atom;
    assert!(drift.abs() < 1e-4, "total-energy drift {drift} eV/atom over 2 ps");

    // The total energy stays within a narrow band all along, not only at the end.
    let thermo = std::fs::read_to_string(dir.path().join("thermo.csv")).unwrap();
    let totals: Vec<f64> =
        thermo.lines().skip(1).map(|l| l.split(',').nth(5).unwrap().parse::<f64>().unwrap()).collect();
    let (lo, hi) = totals.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &e| (a.min(e), b.max(e)));
    let kinetic_scale = 1.5 * mdrun::units::BOLTZMANN_EV_PER_K * 300.0;
    assert!((hi - lo) / (system.len() as f64) < 0.01 * kinetic_scale, "total energy spread {} eV", hi - lo);
    assert!(report.mean_temperature_k > 100.0, "the system must move: {}", report.mean_temperature_k);
}

//! Whole-workflow tests of the MD stage with Lennard-Jones argon (ε = 0.0103 eV, σ = 3.405 Å, as
//! `../shared/reference/eam/README.md`).

mod common;

use mdrun::io::extxyz;
use mdrun::io::h5md;
use mdrun::md::{Checkpoint, MdError, MdSettings, RunControl};
use mdrun::potentials::lj::LennardJones;
use mdrun::potentials::Evaluator;
use mdrun::system::{Cell, System, BOLTZMANN_EV_PER_K};
use nalgebra::Vector3;
use std::path::Path;
use std::sync::Arc;

fn lj_evaluator(shift: bool) -> Evaluator {
    Evaluator::new(Arc::new(LennardJones::single_species("Ar", 0.0103, 3.405, 8.5, shift).unwrap()), 1.0)
}

fn settings(toml_text: &str) -> MdSettings {
    let settings: MdSettings = toml::from_str(toml_text).unwrap();
    settings.validate("stage[0]").unwrap();
    settings
}

const QUIET: RunControl = RunControl { quiet: true, stop_after_step: None };

/// NVE, 256 atoms of LJ argon (fcc a = 5.26 Å, shifted lj/cut 8.5 Å), 1 fs, 10 ps from 60 K: the total
/// energy drifts by less than 1e-4 eV/atom. (The EAM Cu version of this test lives beside the EAM potential.)
#[test]
fn nve_energy_drift_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut system = mdrun::system::fcc(18, 5.26, 4);
    let mut evaluator = lj_evaluator(true);
    let stage = settings("timestep_fs = 1.0\nduration_ps = 10\ninitial_temperature_k = 60\nthermo_every = 100\n");
    let report = stage.run(&mut system, &mut evaluator, dir.path(), 11, QUIET).unwrap();
    assert_eq!(report.steps, 10_000);
    assert_eq!(report.thermostat, "none");
    println!(
        "NVE LJ argon 256 atoms, 10 ps: drift {:.3e} eV/atom, T = {:.2} ± {:.2} K, {} rebuilds, {:.3e} atom-steps/s",
        report.conserved_energy_drift_ev_per_atom,
        report.mean_temperature_k,
        report.std_temperature_k,
        report.neighbor_rebuilds,
        report.atom_steps_per_second
    );
    assert!(
        report.conserved_energy_drift_ev_per_atom.abs() < 1e-4,
        "drift {}",
        report.conserved_energy_drift_ev_per_atom
    );
    // Momentum stays zero.
    assert!(system.momentum().norm() < 1e-9);
    // Every thermo row's total energy stays within the bound too, not just the end points.
    let text = std::fs::read_to_string(dir.path().join("thermo.csv")).unwrap();
    let totals: Vec<f64> = text.lines().skip(1).map(|l| l.split(',').nth(5).unwrap().parse().unwrap()).collect();
    assert_eq!(totals.len(), 101);
    let spread = totals.iter().cloned().fold(f64::MIN, f64::max) - totals.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread / 256.0 < 1e-4, "total-energy spread {} eV/atom", spread / 256.0);
}

/// A thermostat samples the canonical ensemble when ⟨T⟩ = T₀ and the kinetic-energy variance is
/// (N_f/2)(k_B T₀)², i.e. σ_T = T₀ √(2/N_f).
fn check_canonical(thermostat: &str, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut system = mdrun::system::fcc(18, 5.26, 3);
    let mut evaluator = lj_evaluator(true);
    let target = 100.0;
    let equilibrate = settings(&format!(
        "timestep_fs = 5.0\nthermostat = {thermostat}\ntemperature_k = {target}\nsteps = 2000\ninitial_temperature_k = {target}\nthermo_every = 1000\n"
    ));
    equilibrate.run(&mut system, &mut evaluator, dir.path(), seed, QUIET).unwrap();
    let production = settings(&format!(
        "timestep_fs = 5.0\nthermostat = {thermostat}\ntemperature_k = {target}\nsteps = 40000\nthermo_every = 10000\n"
    ));
    let report = production.run(&mut system, &mut evaluator, dir.path(), seed + 1, QUIET).unwrap();
    let nf = system.degrees_of_freedom() as f64;
    let canonical_sigma = target * (2.0 / nf).sqrt();
    let kinetic_variance = (0.5 * nf * BOLTZMANN_EV_PER_K * report.std_temperature_k).powi(2);
    let canonical_variance = 0.5 * nf * (BOLTZMANN_EV_PER_K * target).powi(2);
    println!(
        "{thermostat}: <T> = {:.3} K (target {target}), sigma_T = {:.3} K (canonical {:.3}), var K / canonical = {:.4}, drift of conserved {:.2e} eV/atom",
        report.mean_temperature_k,
        report.std_temperature_k,
        canonical_sigma,
        kinetic_variance / canonical_variance,
        report.conserved_energy_drift_ev_per_atom
    );
    assert!(
        (report.mean_temperature_k / target - 1.0).abs() < 0.02,
        "{thermostat}: <T> = {}",
        report.mean_temperature_k
    );
    assert!(
        (kinetic_variance / canonical_variance - 1.0).abs() < 0.10,
        "{thermostat}: var K ratio {}",
        kinetic_variance / canonical_variance
    );
    assert!(system.momentum().norm() < 1e-8, "{thermostat}: momentum {}", system.momentum().norm());
    // The conserved quantity (energy + reservoir) stays close to its start.
    assert!(
        report.conserved_energy_drift_ev_per_atom.abs() < 1e-4,
        "{thermostat}: drift {}",
        report.conserved_energy_drift_ev_per_atom
    );
}

#[test]
fn nose_hoover_chain_is_canonical() {
    check_canonical("{ kind = \"nose-hoover\", damping_fs = 250 }", 1);
}

#[test]
fn langevin_is_canonical() {
    check_canonical("{ kind = \"langevin\", damping_fs = 250 }", 2);
}

#[test]
fn csvr_is_canonical() {
    check_canonical("{ kind = \"csvr\", damping_fs = 250 }", 3);
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Running N steps straight and running N/2 + checkpoint, being interrupted, then resuming give bit-identical
/// positions, velocities, images, thermo output and trajectories, for each thermostat (the stochastic ones
/// depend on the saved random stream) across a temperature ramp.
#[test]
fn restart_is_bit_identical() {
    for (thermostat, seed) in [
        ("{ kind = \"langevin\", damping_fs = 50 }", 5),
        ("{ kind = \"nose-hoover\", damping_fs = 50 }", 6),
        ("{ kind = \"csvr\", damping_fs = 50 }", 7),
    ] {
        let stage = settings(&format!(
            r#"
            timestep_fs = 5.0
            thermostat = {thermostat}
            schedule = [{{ temperature_k = 150, steps = 100 }}, {{ from_k = 150, to_k = 400, rate_k_per_fs = 0.5 }}]
            initial_temperature_k = 150
            thermo_every = 7
            trajectory_every = 10
            trajectory_formats = ["h5md", "extxyz"]
            checkpoint_every = 50
            "#
        ));
        let straight_dir = tempfile::tempdir().unwrap();
        let mut straight = mdrun::system::fcc(18, 5.6, 2);
        let mut evaluator = lj_evaluator(false);
        let full = stage.run(&mut straight, &mut evaluator, straight_dir.path(), seed, QUIET).unwrap();
        assert_eq!(full.steps, 200);
        assert!(full.neighbor_rebuilds > 3, "the test must cross neighbour rebuilds: {}", full.neighbor_rebuilds);

        let dir = tempfile::tempdir().unwrap();
        let mut system = mdrun::system::fcc(18, 5.6, 2);
        let mut evaluator = lj_evaluator(false);
        let control = RunControl { quiet: true, stop_after_step: Some(123) };
        let partial = stage.run(&mut system, &mut evaluator, dir.path(), seed, control).unwrap();
        assert!(partial.interrupted);
        assert_eq!(partial.steps, 123);
        // Restart in a fresh process-like state: another system and evaluator.
        let mut resumed = mdrun::system::fcc(18, 5.0, 2);
        let mut evaluator = lj_evaluator(false);
        let checkpoint = dir.path().join("checkpoint.json");
        assert_eq!(Checkpoint::read(&checkpoint).unwrap().step, 100);
        let rest = stage.resume(&checkpoint, &mut resumed, &mut evaluator, dir.path(), QUIET).unwrap();
        assert_eq!(rest.resumed_from_step, Some(100));

        assert_eq!(resumed.positions, straight.positions, "{thermostat}");
        assert_eq!(resumed.velocities, straight.velocities, "{thermostat}");
        assert_eq!(resumed.images, straight.images, "{thermostat}");
        assert_eq!(rest.final_temperature_k, full.final_temperature_k);
        assert_eq!(rest.mean_temperature_k, full.mean_temperature_k);
        assert_eq!(rest.conserved_energy_drift_ev_per_atom, full.conserved_energy_drift_ev_per_atom);
        assert_eq!(rest.neighbor_rebuilds, full.neighbor_rebuilds);
        for file in ["thermo.csv", "trajectory.xyz", "checkpoint.json"] {
            assert!(
                read(&dir.path().join(file)) == read(&straight_dir.path().join(file)),
                "{thermostat}: {file} differs"
            );
        }
        let a = h5md::read(&dir.path().join("trajectory.h5")).unwrap();
        let b = h5md::read(&straight_dir.path().join("trajectory.h5")).unwrap();
        assert_eq!(a.len(), 21);
        assert_eq!(a.steps, b.steps);
        assert_eq!(a.positions, b.positions);
        assert_eq!(a.velocities, b.velocities);
        assert_eq!(a.images, b.images);
        assert_eq!(a.observable("temperature"), b.observable("temperature"));
        // The last frame is the final system wrapped into the cell.
        let mut wrapped = resumed.clone();
        wrapped.wrap();
        assert_eq!(a.frame(20), wrapped);

        // Resuming with settings that do not match the checkpoint is refused.
        let other =
            settings(&format!("timestep_fs = 5.0\nthermostat = {thermostat}\ntemperature_k = 150\nsteps = 300\n"));
        let error = other.resume(&checkpoint, &mut resumed, &mut evaluator, dir.path(), QUIET).unwrap_err();
        assert!(
            error.to_string().contains("written for 200 steps of 5 fs, but these settings give 300 steps"),
            "{error}"
        );
    }
}

/// H5MD and extended XYZ trajectories carry the same frames; images make the unwrapped path continuous even
/// though positions are wrapped into the cell.
#[test]
fn trajectories_agree_and_unwrap_continuously() {
    let dir = tempfile::tempdir().unwrap();
    let mut system = mdrun::system::fcc(18, 5.6, 2);
    let mut evaluator = lj_evaluator(true);
    let stage = settings(
        r#"
        timestep_fs = 5.0
        thermostat = { kind = "langevin", damping_fs = 100 }
        temperature_k = 600
        duration_ps = 2
        initial_temperature_k = 600
        trajectory_every = 4
        trajectory_formats = ["extxyz", "h5md"]
        "#,
    );
    let report = stage.run(&mut system, &mut evaluator, dir.path(), 21, QUIET).unwrap();
    assert_eq!(report.files, ["thermo.csv", "trajectory.h5", "trajectory.xyz"]);
    let h5 = h5md::read(&dir.path().join("trajectory.h5")).unwrap();
    let xyz = extxyz::read_frames(&dir.path().join("trajectory.xyz")).unwrap();
    assert_eq!(h5.len(), 101);
    assert_eq!(xyz.len(), 101);
    let mut crossings = 0;
    for k in 0..h5.len() {
        let frame = h5.frame(k);
        assert_eq!(frame.positions, xyz[k].system.positions);
        assert_eq!(frame.velocities, xyz[k].system.velocities);
        assert_eq!(frame.images, xyz[k].system.images);
        assert_eq!(xyz[k].info_f64("step"), Some(h5.steps[k] as f64));
        assert_eq!(xyz[k].info_f64("time_fs"), Some(h5.times_fs[k]));
        assert_eq!(xyz[k].info_f64("energy"), Some(h5.observable("potential_energy").unwrap()[k]));
        if k > 0 {
            let before = h5.unwrapped_positions(k - 1);
            let after = h5.unwrapped_positions(k);
            for i in 0..before.len() {
                // 4 steps of 5 fs at 600 K (v_rms ≈ 0.006 Å/fs) move an atom far less than 2 Å.
                assert!((after[i] - before[i]).norm() < 2.0, "frame {k}, atom {i} jumps");
                if h5.images[k][i] != h5.images[k - 1][i] {
                    crossings += 1;
                }
            }
        }
        for r in &h5.positions[k] {
            let s = frame.cell.fractional(r);
            assert!(s.iter().all(|&x| (-1e-12..1.0 + 1e-12).contains(&x)), "position outside the cell: {s:?}");
        }
    }
    assert!(crossings > 0, "no atom crossed the boundary: the test does not exercise images");
    let last = h5.frame(100);
    assert_eq!(last.velocities, system.velocities);
    for (a, b) in last.unwrapped_positions().iter().zip(system.unwrapped_positions()) {
        assert!((a - b).norm() < 1e-12);
    }
}

/// A blow-up stops the run with the step and temperature in the message, and the last checkpoint (written
/// before the blow-up) stays loadable; resuming from it meets the same blow-up at the same step.
#[test]
fn blow_up_stops_with_a_clear_message_and_keeps_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut system = mdrun::system::fcc(18, 5.26, 3);
    let mut evaluator = lj_evaluator(true);
    // A 15 fs timestep is far beyond velocity Verlet's stability for argon: the energy explodes.
    let stage = settings(
        r#"
        timestep_fs = 15.0
        steps = 1000
        initial_temperature_k = 3000
        checkpoint_every = 10
        max_temperature_k = 20000
        "#,
    );
    let error = stage.run(&mut system, &mut evaluator, dir.path(), 4, QUIET).unwrap_err();
    let message = error.to_string();
    println!("{message}");
    let Some(MdError::BlowUp { step, temperature_k, .. }) = error.downcast_ref::<MdError>() else {
        panic!("expected a blow-up, got {message}");
    };
    assert!(*temperature_k > 20000.0 || temperature_k.is_nan());
    assert!(message.contains(&format!("step {step}")), "{message}");
    assert!(
        message.contains("max_temperature_k = 20000") || message.contains("non-finite") || message.contains("NaN"),
        "{message}"
    );
    assert!(message.contains("checkpoint.json"), "{message}");
    let checkpoint = Checkpoint::read(&dir.path().join("checkpoint.json")).unwrap();
    assert!(
        checkpoint.step < *step && checkpoint.step >= 10,
        "checkpoint at {} for blow-up at {step}",
        checkpoint.step
    );
    assert_eq!(checkpoint.step % 10, 0);
    let mut again = System::new(Cell::infinite());
    let error =
        stage.resume(&dir.path().join("checkpoint.json"), &mut again, &mut evaluator, dir.path(), QUIET).unwrap_err();
    let Some(MdError::BlowUp { step: step_again, .. }) = error.downcast_ref::<MdError>() else {
        panic!("expected the same blow-up, got {error}");
    };
    assert_eq!(step_again, step);
}

/// Settings errors name the key, the value and what is expected.
#[test]
fn settings_errors_are_explained() {
    let check = |text: &str, needle: &str| {
        let parsed: Result<MdSettings, _> = toml::from_str(text);
        let message = match parsed {
            Err(e) => e.to_string(),
            Ok(s) => s.validate("stage[1]").expect_err(text).to_string(),
        };
        assert!(message.contains(needle), "{text}\n→ {message}\n(expected '{needle}')");
    };
    check("timestep_fs = -1\nsteps = 10", "stage[1].timestep_fs = -1: expected a positive finite number");
    check(
        "timestep_fs = 1\nsteps = 10\ntemperature_k = 300",
        "stage[1].temperature_k = 300: expected no target temperature without a thermostat",
    );
    check("timestep_fs = 1\nthermostat = { kind = \"csvr\", damping_fs = 10 }\nsteps = 10", "stage[1].temperature_k");
    check("timestep_fs = 1\nthermostat = { kind = \"none\" }\nsteps = 3\ntemperature_k = 3", "no target temperature");
    check("timestep_fs = 1", "stage[1] = {...}: expected the run length");
    check("timestep_fs = 1\nsteps = 10\ntimestep = 2", "unknown field `timestep`");
    check("timestep_fs = 2\nduration_ps = 0.003", "stage[1].duration_ps = 0.003: expected a length that is a whole, non-zero number of timesteps of 2 fs (it gives 1.5 steps)");
    check("timestep_fs = 1\nsteps = 10\nduration_ps = 1", "either duration_ps or steps");
    check(
        "timestep_fs = 1\nthermostat = { kind = \"langevin\", damping_fs = 10 }\ntemperature_k = 300\nsteps = 5\nschedule = [{ temperature_k = 3, steps = 1 }]",
        "stage[1].schedule",
    );
    check(
        "timestep_fs = 1\nthermostat = { kind = \"langevin\", damping_fs = 10 }\nschedule = [{ from_k = 300, to_k = 3000, rate_k_per_fs = 7 }]",
        "stage[1].schedule[0].rate_k_per_fs = 7",
    );
    check(
        "timestep_fs = 1\nthermostat = { kind = \"langevin\", damping_fs = 10 }\ntemperature_k = 300\nsteps = 5\nmax_temperature_k = 200",
        "stage[1].max_temperature_k = 200: expected a limit above the highest target temperature, 300 K",
    );
    check("timestep_fs = 1\nsteps = 5\nthermo_every = 0", "stage[1].thermo_every = 0");
    check("timestep_fs = 1\nsteps = 5\ntrajectory_formats = [\"dcd\"]", "unknown variant `dcd`");
    check(
        "timestep_fs = 1\nsteps = 5\nthermostat = { kind = \"nose-hoover\", damping_fs = -5 }",
        "stage[1].thermostat.damping_fs = -5",
    );
}

/// The trajectory does not depend on the number of threads (per-atom force sums in a fixed order).
#[test]
fn results_do_not_depend_on_thread_count() {
    let stage = settings(
        "timestep_fs = 5.0\nthermostat = { kind = \"langevin\", damping_fs = 100 }\ntemperature_k = 200\nsteps = 200\ninitial_temperature_k = 200\n",
    );
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut system = mdrun::system::fcc(18, 5.4, 3);
            let mut evaluator = lj_evaluator(true);
            stage.run(&mut system, &mut evaluator, dir.path(), 9, QUIET).unwrap();
            system
        })
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one.positions, two.positions);
    assert_eq!(one.velocities, two.velocities);
}

/// The benchmark entry point runs and reports consistent numbers (no timing is asserted).
#[test]
fn bench_entry_point_reports() {
    let bench = mdrun::md::bench::bench_md(2, 5, Some(1)).unwrap();
    assert_eq!(bench.atoms, 32);
    assert_eq!(bench.threads, 1);
    assert!(bench.seconds > 0.0 && bench.ns_per_atom_step > 0.0);
}

/// NVE with EAM Cu (Foiles `Cu_u3.eam`, LAMMPS `pair_style eam`): fcc a = 3.615 Å, 4×4×4 = 256 atoms, 1 fs,
/// 10 ps from 600 K: the total energy drifts by less than 1e-4 eV/atom.
#[test]
fn nve_energy_drift_eam_copper() {
    let Some(path) = common::reference(common::CU_EAM) else { return };
    let eam = mdrun::potentials::eam::Eam::read_funcfl(&[&path]).unwrap();
    let a = 3.615;
    let mut unit = System::new(Cell::orthorhombic(a, a, a).unwrap());
    for f in [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]] {
        unit.push_with_mass(29, Vector3::new(f[0] * a, f[1] * a, f[2] * a), 63.546);
    }
    let mut system = unit.supercell([4, 4, 4]);
    let mut evaluator = Evaluator::new(Arc::new(eam), 1.0);
    let dir = tempfile::tempdir().unwrap();
    let stage = settings("timestep_fs = 1.0\nduration_ps = 10\ninitial_temperature_k = 600\nthermo_every = 100\n");
    let report = stage.run(&mut system, &mut evaluator, dir.path(), 17, QUIET).unwrap();
    assert_eq!(report.steps, 10_000);
    // Step 0 is the perfect crystal, whose energy LAMMPS gives as −906.24000058 eV.
    let text = std::fs::read_to_string(dir.path().join("thermo.csv")).unwrap();
    let first: Vec<f64> = text.lines().nth(1).unwrap().split(',').map(|x| x.parse().unwrap()).collect();
    assert!((first[3] + 906.240_000_58).abs() < 1e-5, "E_pot(0) = {}", first[3]);
    println!(
        "NVE EAM Cu 256 atoms, 10 ps from 600 K: drift {:.3e} eV/atom, <T> = {:.1} K, {} rebuilds, {:.3e} atom-steps/s",
        report.conserved_energy_drift_ev_per_atom,
        report.mean_temperature_k,
        report.neighbor_rebuilds,
        report.atom_steps_per_second
    );
    assert!(
        report.conserved_energy_drift_ev_per_atom.abs() < 1e-4,
        "drift {} eV/atom",
        report.conserved_energy_drift_ev_per_atom
    );
    let totals: Vec<f64> = text.lines().skip(1).map(|l| l.split(',').nth(5).unwrap().parse().unwrap()).collect();
    let spread = totals.iter().cloned().fold(f64::MIN, f64::max) - totals.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread / 256.0 < 1e-4, "total-energy spread {} eV/atom", spread / 256.0);
    // Roughly half the initial kinetic energy goes into the potential energy of the harmonic-like crystal.
    assert!((report.mean_temperature_k - 300.0).abs() < 60.0, "<T> = {}", report.mean_temperature_k);
}

/// A potential that reports one extrapolation warning per atom closer than 3.3 Å to a neighbour (a stand-in for
/// a neural-network potential leaving its training range), on top of Lennard-Jones argon.
struct CloseContactWarnings(mdrun::potentials::lj::LennardJones);

impl mdrun::potentials::Potential for CloseContactWarnings {
    fn name(&self) -> &str {
        "lj+warnings"
    }
    fn cutoff(&self) -> f64 {
        self.0.cutoff()
    }
    fn species(&self) -> Vec<u8> {
        self.0.species()
    }
    fn compute(
        &self,
        system: &System,
        neighbors: &mdrun::neighbors::NeighborList,
    ) -> mdrun::potentials::EvaluationResult {
        let mut evaluation = self.0.compute(system, neighbors)?;
        let mut count = 0;
        let mut first = Vec::new();
        for i in 0..system.len() {
            let close = neighbors
                .indices(i)
                .iter()
                .zip(neighbors.shifts(i))
                .any(|(&j, shift)| (system.positions[j as usize] - system.positions[i] + shift).norm() < 3.3);
            if close {
                count += 1;
                first.push(mdrun::potentials::ExtrapolationEvent {
                    atom: i,
                    atomic_number: 18,
                    function: 0,
                    value: 0.0,
                    min: 3.3,
                    max: 8.5,
                });
            }
        }
        evaluation.extrapolation = Some(mdrun::potentials::Extrapolation { counts: vec![(18, count)], first });
        Ok(evaluation)
    }
}

/// Extrapolation warnings are counted per step and summed; past `max_extrapolations` the run stops with an error.
#[test]
fn extrapolation_guard_stops_the_run() {
    let stage = |limit: &str| {
        settings(&format!(
            "timestep_fs = 5.0\nthermostat = {{ kind = \"langevin\", damping_fs = 100 }}\ntemperature_k = 300\nsteps = 300\ninitial_temperature_k = 300\n{limit}"
        ))
    };
    let potential =
        || Arc::new(CloseContactWarnings(LennardJones::single_species("Ar", 0.0103, 3.405, 8.5, true).unwrap()));
    let dir = tempfile::tempdir().unwrap();
    let mut system = mdrun::system::fcc(18, 5.4, 2);
    let mut evaluator = Evaluator::new(potential(), 1.0);
    let report = stage("").run(&mut system, &mut evaluator, dir.path(), 3, QUIET).unwrap();
    assert!(report.extrapolations_total > 20, "the test needs warnings: {}", report.extrapolations_total);
    let csv = std::fs::read_to_string(dir.path().join("thermo.csv")).unwrap();
    assert!(csv.lines().skip(1).any(|l| !l.ends_with(",0")), "thermo.csv shows the warnings");

    let limit = report.extrapolations_total / 2;
    let mut system = mdrun::system::fcc(18, 5.4, 2);
    let error = stage(&format!("max_extrapolations = {limit}"))
        .run(&mut system, &mut evaluator, dir.path(), 3, QUIET)
        .unwrap_err();
    let Some(MdError::Extrapolation { step, total, .. }) = error.downcast_ref::<MdError>() else {
        panic!("expected the extrapolation guard, got {error}");
    };
    assert!(*total > limit && *step < 300, "{error}");
    assert!(error.to_string().contains(&format!("max_extrapolations = {limit}")), "{error}");
}

/// An isolated cluster (no cell): no wrapping, pressure undefined (NaN in the report, null in JSON), and
/// checkpoint/resume still bit-identical.
#[test]
fn isolated_cluster_runs_and_resumes() {
    let mut cluster = System::new(Cell::infinite());
    for (i, r) in mdrun::system::fcc(18, 3.9, 2).positions.iter().enumerate().take(13) {
        cluster.push_with_mass(18, *r + Vector3::new(0.01 * i as f64, 0.0, 0.0), 39.948);
    }
    let stage = settings(
        "timestep_fs = 5.0\nthermostat = { kind = \"csvr\", damping_fs = 100 }\ntemperature_k = 40\nsteps = 60\ninitial_temperature_k = 40\ncheckpoint_every = 20\ntrajectory_every = 10\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut straight = cluster.clone();
    let mut evaluator = lj_evaluator(true);
    let report = stage.run(&mut straight, &mut evaluator, dir.path(), 5, QUIET).unwrap();
    assert!(report.mean_pressure_bar.is_nan());
    assert!(serde_json::to_string(&report).unwrap().contains("\"mean_pressure_bar\":null"));
    let control = RunControl { quiet: true, stop_after_step: Some(30) };
    let mut system = cluster.clone();
    stage.run(&mut system, &mut evaluator, dir.path(), 5, control).unwrap();
    stage.resume(&dir.path().join("checkpoint.json"), &mut system, &mut evaluator, dir.path(), QUIET).unwrap();
    assert_eq!(system.positions, straight.positions);
    assert_eq!(system.velocities, straight.velocities);
    let trajectory = h5md::read(&dir.path().join("trajectory.h5")).unwrap();
    assert_eq!(trajectory.periodic, [false; 3]);
    assert_eq!(trajectory.frame(6), straight, "without a cell nothing is wrapped");
}

/// Atoms without a mass, or no atoms at all, are refused before any step.
#[test]
fn massless_atoms_are_refused() {
    let mut system = mdrun::system::fcc(18, 5.26, 1);
    system.masses[2] = 0.0;
    let dir = tempfile::tempdir().unwrap();
    let error = settings("timestep_fs = 1\nsteps = 3\n")
        .run(&mut system, &mut lj_evaluator(true), dir.path(), 1, QUIET)
        .unwrap_err();
    assert_eq!(error.to_string(), "atom 3 (Ar) has mass 0 amu: MD needs a positive mass for every atom");
    let mut empty = System::new(Cell::orthorhombic(5.0, 5.0, 5.0).unwrap());
    let error = settings("timestep_fs = 1\nsteps = 3\n")
        .run(&mut empty, &mut lj_evaluator(true), dir.path(), 1, QUIET)
        .unwrap_err();
    assert_eq!(error.to_string(), "the system has no atoms: nothing to integrate");
}

/// The schedule drives the thermostat: with strong Langevin coupling the temperature follows a hold–ramp–hold
/// schedule (100 K, then 100 → 300 K at 0.1 K/fs, then 300 K).
#[test]
fn temperature_follows_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let mut system = mdrun::system::fcc(18, 5.3, 3);
    let mut evaluator = lj_evaluator(true);
    let stage = settings(
        r#"
        timestep_fs = 5.0
        thermostat = { kind = "langevin", damping_fs = 25 }
        initial_temperature_k = 100
        thermo_every = 1
        schedule = [
          { temperature_k = 100, duration_ps = 2 },
          { from_k = 100, to_k = 300, rate_k_per_fs = 0.1 },
          { temperature_k = 300, duration_ps = 2 },
        ]
        "#,
    );
    let report = stage.run(&mut system, &mut evaluator, dir.path(), 8, QUIET).unwrap();
    assert_eq!(report.steps, 400 + 400 + 400);
    let text = std::fs::read_to_string(dir.path().join("thermo.csv")).unwrap();
    let temperatures: Vec<f64> = text.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect();
    assert_eq!(temperatures.len(), 1201);
    let mean = |range: std::ops::Range<usize>| temperatures[range.clone()].iter().sum::<f64>() / range.len() as f64;
    // Windows of 200 steps (1 ps, 40 damping times): σ of the mean ≈ σ_T/√(200·Δt/τ_K) ≈ 2–4 %.
    let hold_low = mean(200..400);
    let mid_ramp = mean(500..700); // targets 150–250 K, mean 200 K (minus the lag γ⁻¹·rate ≈ 2.5 K)
    let hold_high = mean(1000..1200);
    println!("holds and ramp: {hold_low:.1} K, {mid_ramp:.1} K, {hold_high:.1} K");
    assert!((hold_low / 100.0 - 1.0).abs() < 0.08, "{hold_low}");
    assert!((mid_ramp / 197.5 - 1.0).abs() < 0.08, "{mid_ramp}");
    assert!((hold_high / 300.0 - 1.0).abs() < 0.08, "{hold_high}");
}

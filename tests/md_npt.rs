//! Constant-pressure MD of EAM copper (Foiles Cu_u3, 108 atoms): the MTK barostat against LAMMPS `fix npt`
//! (tests/data/npt-lammps: the script, its logs, volume series and summary.json), its conserved quantity for
//! every coupling, anisotropic and triclinic relaxation, stochastic cell rescaling's volume fluctuations, and
//! a bit-identical restart.

mod common;

use mdrun::md::{MdReport, MdSettings, RunControl};
use mdrun::potentials::eam::Eam;
use mdrun::potentials::Evaluator;
use mdrun::system::{Cell, System, BOLTZMANN_EV_PER_K};
use nalgebra::{Matrix3, Vector3};
use std::path::Path;
use std::sync::Arc;

const QUIET: RunControl = RunControl { quiet: true, stop_after_step: None };

/// 1 eV/Å³ in GPa.
const EV_PER_A3_IN_GPA: f64 = 160.217_662_08;

fn copper() -> Option<(System, Evaluator)> {
    let file = common::reference(common::CU_EAM)?;
    let eam = Eam::read_funcfl(&[file.as_path()]).unwrap();
    Some((mdrun::system::fcc(29, 3.615, 3), Evaluator::new(Arc::new(eam), 1.0)))
}

fn settings(toml_text: &str) -> MdSettings {
    let settings: MdSettings = toml::from_str(toml_text).unwrap();
    settings.validate("stage[0]").unwrap();
    settings
}

/// Runs `stage` on `system`; returns the report and the volumes of thermo.csv after step 0.
fn run(stage: &str, system: &mut System, evaluator: &mut Evaluator, seed: u64) -> (MdReport, Vec<f64>) {
    let dir = tempfile::tempdir().unwrap();
    let report = settings(stage).run(system, evaluator, dir.path(), seed, QUIET).unwrap();
    (report, volumes(&dir.path().join("thermo.csv")))
}

fn volumes(thermo: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(thermo).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let column = header.iter().position(|&name| name == "volume_a3").unwrap();
    text.lines().skip(2).map(|line| line.split(',').nth(column).unwrap().parse().unwrap()).collect()
}

/// ⟨V⟩ (Å³) and B = k_B T ⟨V⟩/⟨δV²⟩ (GPa), with standard errors from 20 blocks: the estimator of
/// tests/data/npt-lammps/summarise.py.
fn volume_statistics(volumes: &[f64], temperature_k: f64) -> [(f64, f64); 2] {
    let estimate = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let variance = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        [mean, BOLTZMANN_EV_PER_K * temperature_k * mean / variance * EV_PER_A3_IN_GPA]
    };
    let blocks: Vec<[f64; 2]> = volumes.chunks_exact(volumes.len() / 20).take(20).map(estimate).collect();
    let whole = estimate(volumes);
    [0, 1].map(|k| {
        let centre = blocks.iter().map(|b| b[k]).sum::<f64>() / 20.0;
        let variance = blocks.iter().map(|b| (b[k] - centre).powi(2)).sum::<f64>() / 19.0;
        (whole[k], (variance / 20.0).sqrt())
    })
}

fn lammps_summary() -> serde_json::Value {
    let text = std::fs::read_to_string("tests/data/npt-lammps/summary.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

/// An NPT stage at `temperature_k` and 0 bar with the settings of tests/data/npt-lammps/in.npt (Nosé–Hoover
/// τ = 100 fs, MTK iso τ_p = 500 fs, chains of 3, 1 fs); `extra` adds or replaces keys.
fn npt_stage(temperature_k: f64, duration_ps: f64, barostat: &str, extra: &str) -> String {
    format!(
        "timestep_fs = 1.0\nthermostat = {{ kind = \"nose-hoover\", damping_fs = 100 }}\nbarostat = {barostat}\n\
         pressure_bar = 0\ntemperature_k = {temperature_k}\nduration_ps = {duration_ps}\nthermo_every = 100\n{extra}"
    )
}

const MTK_ISO: &str = "{ kind = \"mtk\", coupling = \"iso\", damping_fs = 500 }";

/// EAM Cu at 300 K and 1200 K, 0 bar: after 20 ps of equilibration, the mean volume of 400 ps of MTK NPT,
/// sampled every 100 fs, equals LAMMPS's over 2 ns within the combined statistical
/// error (4σ), and so does the bulk modulus from the volume fluctuations (a 400-ps estimate scatters by
/// ±4 %: five 400-ps pieces of LAMMPS's 2 ns give 122–131 GPa at 300 K, of mdrun's own 2 ns 123–133).
#[test]
fn mtk_volume_and_bulk_modulus_match_lammps_fix_npt() {
    let Some((system, mut evaluator)) = copper() else { return };
    let summary = lammps_summary();
    for (temperature, duration, seed) in [(300.0, 400.0, 31), (1200.0, 400.0, 32)] {
        let mut start = system.clone();
        let equilibration = npt_stage(temperature, 20.0, MTK_ISO, &format!("initial_temperature_k = {temperature}"));
        run(&equilibration, &mut start, &mut evaluator, seed);
        let (report, volumes) = run(&npt_stage(temperature, duration, MTK_ISO, ""), &mut start, &mut evaluator, seed);
        let [(volume, volume_error), (modulus, modulus_error)] = volume_statistics(&volumes, temperature);
        let lammps = summary["runs"].as_array().unwrap().iter().find(|r| r["temperature_k"] == temperature).unwrap();
        let lammps_volume = lammps["mean_volume_a3"].as_f64().unwrap();
        let lammps_volume_error = lammps["mean_volume_error_a3"].as_f64().unwrap();
        let lammps_modulus = lammps["bulk_modulus_gpa"].as_f64().unwrap();
        let lammps_modulus_error = lammps["bulk_modulus_error_gpa"].as_f64().unwrap();
        println!(
            "{temperature} K: <V> = {volume:.3} ± {volume_error:.3} Å³ (LAMMPS {lammps_volume:.3} ± {lammps_volume_error:.3}), \
             B = {modulus:.1} ± {modulus_error:.1} GPa (LAMMPS {lammps_modulus:.1} ± {lammps_modulus_error:.1}), <T> = {:.1} K, drift {:.2e} eV/atom",
            report.mean_temperature_k,
            report.conserved_energy_drift_ev_per_atom
        );
        let combined = (volume_error.powi(2) + lammps_volume_error.powi(2)).sqrt();
        assert!((volume - lammps_volume).abs() < 4.0 * combined, "{temperature} K: volume {volume} vs {lammps_volume}");
        let modulus_combined = (modulus_error.powi(2) + lammps_modulus_error.powi(2)).sqrt();
        assert!(
            (modulus - lammps_modulus).abs() < 4.0 * modulus_combined,
            "{temperature} K: B {modulus} ± {modulus_error} vs {lammps_modulus} ± {lammps_modulus_error} GPa"
        );
        assert!((report.mean_volume_a3 - volume).abs() < 1.0, "the report's mean volume is over every step");
    }
}

/// The MTK conserved quantity (E_pot + E_kin + chain energies + ½WΣω̇² + P₀V) drifts by less than 1e-4 eV/atom
/// over 10 ps at 1 fs, for each coupling under NPT at 600 K and 1 GPa, and under NPH.
#[test]
fn mtk_conserves_its_energy_for_every_coupling() {
    let Some((system, mut evaluator)) = copper() else { return };
    for coupling in ["iso", "aniso", "tri"] {
        let barostat = format!("{{ kind = \"mtk\", coupling = \"{coupling}\", damping_fs = 500 }}");
        let stage = npt_stage(600.0, 10.0, &barostat, "initial_temperature_k = 600")
            .replace("pressure_bar = 0", "pressure_gpa = 1");
        let (report, volumes) = run(&stage, &mut system.clone(), &mut evaluator, 41);
        let spread =
            volumes.iter().cloned().fold(f64::MIN, f64::max) - volumes.iter().cloned().fold(f64::MAX, f64::min);
        println!(
            "MTK {coupling}: drift {:.3e} eV/atom, volume range {spread:.2} Å³, <P> = {:.0} bar",
            report.conserved_energy_drift_ev_per_atom, report.mean_pressure_bar
        );
        assert_eq!(report.barostat, "mtk");
        assert!(report.conserved_energy_drift_ev_per_atom.abs() < 1e-4, "{coupling}: {report:?}");
        assert!(spread > 5.0, "{coupling}: the cell must move, volume range {spread} Å³");
        assert!((report.mean_pressure_bar - 1e4).abs() < 2e3, "{coupling}: <P> = {} bar", report.mean_pressure_bar);
    }
    let nph = "timestep_fs = 1.0\nbarostat = { kind = \"mtk\", damping_fs = 500 }\npressure_bar = 0\n\
               duration_ps = 10\ninitial_temperature_k = 600\nthermo_every = 100\n";
    let (report, _) = run(nph, &mut system.clone(), &mut evaluator, 42);
    println!("MTK NPH: drift {:.3e} eV/atom", report.conserved_energy_drift_ev_per_atom);
    assert!(report.conserved_energy_drift_ev_per_atom.abs() < 1e-4, "NPH: {report:?}");
}

/// The cell vectors' lengths and the cosines of the angles between them.
fn lengths_and_cosines(cell: &Cell) -> ([f64; 3], [f64; 3]) {
    let v = [cell.vector(0), cell.vector(1), cell.vector(2)];
    let lengths = [v[0].norm(), v[1].norm(), v[2].norm()];
    let cosine = |a: usize, b: usize| v[a].dot(&v[b]) / (lengths[a] * lengths[b]);
    (lengths, [cosine(1, 2), cosine(0, 2), cosine(0, 1)])
}

/// Copper equilibrated at `temperature_k` and 0 bar (MTK iso), then deformed by `map` (cell and positions);
/// with the equilibrium edge length ⟨V⟩^(1/3) (Å) of the equilibration.
fn strained_copper(evaluator: &mut Evaluator, map: Matrix3<f64>, temperature_k: f64) -> (System, f64) {
    let (mut system, _) = copper().unwrap();
    let equilibration = npt_stage(temperature_k, 10.0, MTK_ISO, &format!("initial_temperature_k = {temperature_k}"));
    let (report, _) = run(&equilibration, &mut system, evaluator, 51);
    system.cell = system.cell.deformed(&map).unwrap();
    for r in system.positions.iter_mut() {
        *r = map * *r;
    }
    (system, report.mean_volume_a3.cbrt())
}

/// A cell stretched by 3 % along x relaxes back along x under `aniso` coupling (MTK and c-rescale), while y and
/// z end where they started; the mean lengths over the last 5 of 20 ps are compared, at 20 K, where the
/// tetragonal fluctuations of 108 atoms (soft: C11 − C12 ≈ 50 GPa) average to ~0.1 %.
#[test]
fn aniso_relaxes_a_strained_axis_only() {
    let Some((_, mut evaluator)) = copper() else { return };
    let stretch = Matrix3::from_diagonal(&Vector3::new(1.03, 1.0, 1.0));
    for barostat in [
        "{ kind = \"mtk\", coupling = \"aniso\", damping_fs = 500 }",
        "{ kind = \"c-rescale\", coupling = \"aniso\", damping_fs = 200, bulk_modulus_gpa = 130 }",
    ] {
        let (mut system, equilibrium) = strained_copper(&mut evaluator, stretch, 20.0);
        let dir = tempfile::tempdir().unwrap();
        let stage = npt_stage(20.0, 20.0, barostat, "trajectory_every = 100\ntrajectory_formats = [\"extxyz\"]\n");
        settings(&stage).run(&mut system, &mut evaluator, dir.path(), 52, QUIET).unwrap();
        let frames = mdrun::io::extxyz::read_frames(&dir.path().join("trajectory.xyz")).unwrap();
        let last = &frames[frames.len() * 3 / 4..];
        let mean_lengths = [0, 1, 2]
            .map(|k| last.iter().map(|f| lengths_and_cosines(&f.system.cell).0[k]).sum::<f64>() / last.len() as f64);
        println!(
            "{barostat}: equilibrium {equilibrium:.4} Å, strained x {:.4} Å, relaxed {mean_lengths:?} Å",
            1.03 * equilibrium
        );
        for k in 0..3 {
            assert!(
                (mean_lengths[k] / equilibrium - 1.0).abs() < 0.004,
                "{barostat}: axis {k}: {mean_lengths:?} vs {equilibrium}"
            );
        }
    }
}

/// A cell sheared by 4 % (xy) relaxes its shear under MTK `tri` coupling: the lattice vectors end at right
/// angles (mean cosines over the last 5 of 20 ps below 0.003) and equal lengths; `iso` keeps the shear.
#[test]
fn tri_relaxes_a_sheared_cell() {
    let Some((_, mut evaluator)) = copper() else { return };
    let shear = Matrix3::new(1.0, 0.04, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0);
    for (coupling, relaxes) in [("tri", true), ("iso", false)] {
        let (mut system, equilibrium) = strained_copper(&mut evaluator, shear, 300.0);
        let dir = tempfile::tempdir().unwrap();
        let barostat = format!("{{ kind = \"mtk\", coupling = \"{coupling}\", damping_fs = 500 }}");
        let stage = npt_stage(300.0, 20.0, &barostat, "trajectory_every = 100\ntrajectory_formats = [\"extxyz\"]\n");
        settings(&stage).run(&mut system, &mut evaluator, dir.path(), 53, QUIET).unwrap();
        let frames = mdrun::io::extxyz::read_frames(&dir.path().join("trajectory.xyz")).unwrap();
        let last = &frames[frames.len() * 3 / 4..];
        let mean = |k: usize, cosines: bool| {
            last.iter()
                .map(|f| {
                    let (l, c) = lengths_and_cosines(&f.system.cell);
                    if cosines {
                        c[k]
                    } else {
                        l[k]
                    }
                })
                .sum::<f64>()
                / last.len() as f64
        };
        let cosines = [0, 1, 2].map(|k| mean(k, true));
        let lengths = [0, 1, 2].map(|k| mean(k, false));
        println!("{coupling}: mean cosines {cosines:?}, lengths {lengths:?} (equilibrium {equilibrium:.4})");
        if relaxes {
            assert!(cosines.iter().all(|c| c.abs() < 0.003), "{cosines:?}");
            assert!(lengths.iter().all(|l| (l / equilibrium - 1.0).abs() < 0.004), "{lengths:?}");
        } else {
            assert!((cosines[2] - 0.04).abs() < 0.002, "iso keeps the shear: {cosines:?}");
        }
    }
}

/// Stochastic cell rescaling (iso, τ_p = 100 fs) at 300 K and 0 bar samples the same ensemble as LAMMPS's
/// MTK: the mean volume within 4σ and the bulk modulus from its volume fluctuations within 10 %, over 200 ps;
/// its effective energy drifts by less than 1e-3 eV/atom.
#[test]
fn cell_rescaling_has_the_right_volume_fluctuations() {
    let Some((mut system, mut evaluator)) = copper() else { return };
    let barostat = "{ kind = \"c-rescale\", damping_fs = 100, bulk_modulus_gpa = 130 }";
    let csvr = |stage: String| stage.replace("\"nose-hoover\"", "\"csvr\"");
    run(&csvr(npt_stage(300.0, 20.0, barostat, "initial_temperature_k = 300")), &mut system, &mut evaluator, 61);
    let (report, volumes) = run(&csvr(npt_stage(300.0, 200.0, barostat, "")), &mut system, &mut evaluator, 62);
    let [(volume, volume_error), (modulus, modulus_error)] = volume_statistics(&volumes, 300.0);
    let summary = lammps_summary();
    let lammps = &summary["runs"][0];
    let lammps_volume = lammps["mean_volume_a3"].as_f64().unwrap();
    let lammps_modulus = lammps["bulk_modulus_gpa"].as_f64().unwrap();
    println!(
        "c-rescale 300 K: <V> = {volume:.3} ± {volume_error:.3} Å³ (LAMMPS {lammps_volume:.3}), B = {modulus:.1} ± \
         {modulus_error:.1} GPa (LAMMPS {lammps_modulus:.1}), effective-energy drift {:.2e} eV/atom",
        report.conserved_energy_drift_ev_per_atom
    );
    let combined = (volume_error.powi(2) + lammps["mean_volume_error_a3"].as_f64().unwrap().powi(2)).sqrt();
    assert!((volume - lammps_volume).abs() < 4.0 * combined, "volume {volume} vs {lammps_volume}");
    assert!((modulus / lammps_modulus - 1.0).abs() < 0.1, "B {modulus} vs {lammps_modulus} GPa");
    assert_eq!(report.barostat, "c-rescale");
    assert!(report.conserved_energy_drift_ev_per_atom.abs() < 1e-3, "effective energy: {report:?}");
}

/// An NPT run interrupted and resumed from its checkpoint is bit-identical to the straight run: cell, atoms,
/// thermo.csv (with its volume column) and the trajectory, for both barostats, across a pressure ramp.
#[test]
fn npt_restart_is_bit_identical() {
    let Some((system, mut evaluator)) = copper() else { return };
    for (barostat, thermostat) in [
        ("{ kind = \"mtk\", coupling = \"tri\", damping_fs = 200 }", "nose-hoover"),
        ("{ kind = \"c-rescale\", coupling = \"aniso\", damping_fs = 200, compressibility_per_bar = 7e-7 }", "csvr"),
    ] {
        let stage = settings(&format!(
            "timestep_fs = 2.0\nthermostat = {{ kind = \"{thermostat}\", damping_fs = 50 }}\nbarostat = {barostat}\n\
             schedule = [{{ temperature_k = 900, steps = 100, pressure_bar = 0 }}, \
                         {{ temperature_k = 900, steps = 100, from_gpa = 0, to_gpa = 5 }}]\n\
             initial_temperature_k = 900\nthermo_every = 7\ntrajectory_every = 10\ntrajectory_formats = [\"extxyz\"]\n\
             checkpoint_every = 50\n"
        ));
        let straight_dir = tempfile::tempdir().unwrap();
        let mut straight = system.clone();
        let full = stage.run(&mut straight, &mut evaluator, straight_dir.path(), 71, QUIET).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let control = RunControl { quiet: true, stop_after_step: Some(123) };
        stage.run(&mut system.clone(), &mut evaluator, dir.path(), 71, control).unwrap();
        let mut resumed = system.clone();
        let rest =
            stage.resume(&dir.path().join("checkpoint.json"), &mut resumed, &mut evaluator, dir.path(), QUIET).unwrap();
        assert_eq!(resumed.cell, straight.cell, "{barostat}");
        assert_eq!(resumed.positions, straight.positions, "{barostat}");
        assert_eq!(resumed.velocities, straight.velocities, "{barostat}");
        assert_eq!(rest.conserved_energy_drift_ev_per_atom, full.conserved_energy_drift_ev_per_atom);
        for file in ["thermo.csv", "trajectory.xyz", "checkpoint.json"] {
            assert!(
                std::fs::read(dir.path().join(file)).unwrap() == std::fs::read(straight_dir.path().join(file)).unwrap(),
                "{barostat}: {file} differs"
            );
        }
    }
}

/// A barostat on a cell that is not periodic in every direction (a slab) is refused before the first step,
/// naming the open direction.
#[test]
fn a_barostat_refuses_a_cell_that_is_not_periodic() {
    let Some((mut system, mut evaluator)) = copper() else { return };
    system.cell = Cell::from_matrix(*system.cell.matrix(), [true, true, false]).unwrap();
    let barostat = "{ kind = \"mtk\", coupling = \"tri\", damping_fs = 500 }";
    let dir = tempfile::tempdir().unwrap();
    let stage = settings(&npt_stage(300.0, 0.01, barostat, "initial_temperature_k = 300"));
    let error = stage.run(&mut system, &mut evaluator, dir.path(), 1, QUIET).unwrap_err();
    assert_eq!(
        error.to_string(),
        "md.barostat: the cell is not periodic along c: a barostat changes the cell and needs periodic boundaries in all three directions"
    );
}

/// The trajectories of an NPT run record the cell of every frame, and the analysis unwraps positions through the
/// changing cell: EAM Cu at 1200 K compressed from 0 to 20 GPa with tri coupling (the cell shrinks and shears),
/// unwrapped with the image counters of the H5MD file, r + h_t·n_t, and with minimum-image steps carried
/// through each change of cell — streamed from the same H5MD file and read in memory from the extended XYZ —
/// gives the same positions for every atom at every frame.
#[test]
fn npt_trajectories_unwrap_the_same_with_and_without_image_counters() {
    use mdrun::analysis::trajectory::{read_trajectory, H5mdTrajectory, ReadOptions, TrajectoryData, UnwrapMethod};
    let Some((mut system, mut evaluator)) = copper() else { return };
    let stage = "timestep_fs = 2.0\nthermostat = { kind = \"nose-hoover\", damping_fs = 100 }\n\
                 barostat = { kind = \"mtk\", coupling = \"tri\", damping_fs = 200 }\n\
                 schedule = [{ temperature_k = 1200, steps = 1500, from_gpa = 0, to_gpa = 20 }]\n\
                 initial_temperature_k = 1200\ntrajectory_every = 10\nthermo_every = 100\n\
                 trajectory_formats = [\"h5md\", \"extxyz\"]\n";
    let dir = tempfile::tempdir().unwrap();
    settings(stage).run(&mut system, &mut evaluator, dir.path(), 11, QUIET).unwrap();
    let options = |unwrap| ReadOptions { unwrap, ..Default::default() };
    let h5md = dir.path().join("trajectory.h5");
    let with_images = H5mdTrajectory::open(&h5md, &options(UnwrapMethod::Images)).unwrap().load().unwrap();
    let streamed = H5mdTrajectory::open(&h5md, &options(UnwrapMethod::MinimumImage)).unwrap();
    let atoms: Vec<usize> = (0..with_images.n_atoms()).collect();
    let streamed = streamed.position_block(&atoms).unwrap();
    let extxyz = read_trajectory(&dir.path().join("trajectory.xyz"), &options(UnwrapMethod::MinimumImage)).unwrap();

    let cells = &with_images.header().cells;
    let (first, last) = (&cells[0], cells.last().unwrap());
    assert!(last.volume() < 0.95 * first.volume(), "volume {} → {} Å³", first.volume(), last.volume());
    let frames = with_images.n_frames();
    let outside = (0..with_images.n_atoms())
        .filter(|&i| {
            last.fractional(&with_images.frame_positions(frames - 1)[i]).iter().any(|s| !(0.0..1.0).contains(s))
        })
        .count();
    assert!(outside > 0, "no atom crossed a boundary");
    let mut largest = [0.0f64; 2];
    for f in 0..frames {
        for i in 0..with_images.n_atoms() {
            let truth = with_images.frame_positions(f)[i];
            largest[0] = largest[0].max((streamed[i][f] - truth).norm());
            largest[1] = largest[1].max((extxyz.frame_positions(f)[i] - truth).norm());
        }
    }
    println!("{frames} frames, {outside} atoms outside the last cell; largest differences {largest:?} Å");
    assert!(largest[0] < 1e-9, "streamed minimum-image unwrapping differs by {} Å", largest[0]);
    assert!(largest[1] < 1e-9, "extended-XYZ minimum-image unwrapping differs by {} Å", largest[1]);
}

//! NEB workflows on Lennard-Jones argon: stage settings with files, IDPP, periodic paths, thread
//! independence, migration tables for crystals and disordered cells.

mod common;

use mdrun::io::extxyz::{format_frame, FrameExtras};
use mdrun::neb::migration::MigrationSettings;
use mdrun::neb::{
    interpolate_idpp, interpolate_linear, prepare_endpoints, run_neb, Interpolation, NebOptions, NebSettings,
};
use mdrun::optimize::{Algorithm, Convergence};
use mdrun::potentials::lj::{LennardJones, LennardJonesConfig, LennardJonesPairConfig};
use mdrun::potentials::Evaluator;
use mdrun::system::{Cell, System};
use nalgebra::Vector3;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::Arc;

fn argon() -> Evaluator {
    let pair = |a: &str, epsilon, sigma| LennardJonesPairConfig {
        species: [a.into(), a.into()],
        epsilon,
        sigma,
        cutoff: None,
    };
    let config = LennardJonesConfig {
        cutoff: 7.0,
        shift: true,
        pairs: vec![pair("Ar", 0.0103, 3.405), pair("Kr", 0.014, 3.65)],
    };
    Evaluator::new(Arc::new(LennardJones::from_config(&config).unwrap()), 0.5)
}

/// Initial and final states of the hop of atom `from` into the vacancy at `to` (unrelaxed).
fn hop(perfect: &System, from: usize, to: usize) -> (System, System) {
    let mut initial = perfect.clone();
    initial.remove(to);
    let mut final_state = initial.clone();
    let moving = if from > to { from - 1 } else { from };
    final_state.positions[moving] = perfect.positions[to];
    (initial, final_state)
}

fn options(optimizer: Algorithm) -> NebOptions {
    NebOptions {
        images: 3,
        interpolation: Interpolation::Idpp,
        spring: 0.1,
        climb: true,
        relax_endpoints: true,
        optimizer,
        convergence: Convergence { fmax: 0.005, max_steps: 1000, max_step: 0.2 },
    }
}

#[test]
fn idpp_keeps_a_rotating_dimer_bond_that_linear_interpolation_shortens() {
    let mut initial = System::new(Cell::infinite());
    initial.push(8, Vector3::new(-0.6, 0.0, 0.0));
    initial.push(8, Vector3::new(0.6, 0.0, 0.0));
    let mut final_state = System::new(Cell::infinite());
    final_state.push(8, Vector3::new(0.0, -0.6, 0.0));
    final_state.push(8, Vector3::new(0.0, 0.6, 0.0));
    let bond = |s: &System| (s.positions[1] - s.positions[0]).norm();
    let linear = interpolate_linear(&initial, &final_state, 5);
    assert!((bond(&linear[3]) - 1.2 / 2f64.sqrt()).abs() < 1e-12);
    let (idpp, steps) = interpolate_idpp(&initial, &final_state, 5, 0.1).unwrap();
    assert!(steps > 0);
    for image in &idpp {
        assert!((bond(image) - 1.2).abs() < 0.02, "bond {} in the IDPP path", bond(image));
    }
}

#[test]
fn a_hop_across_the_periodic_boundary_has_the_same_barrier_as_one_inside() {
    let perfect = mdrun::system::fcc(18, 5.26, 3);
    let evaluator = argon();
    // Site 0 at the origin; atom 1 at (a/2, a/2, 0) hops inside the cell, and the atom at (L − a/2, a/2, 0)
    // hops across the x boundary.
    let l = perfect.cell.vector(0).x;
    let across =
        (0..perfect.len()).find(|&i| (perfect.positions[i] - Vector3::new(l - 2.63, 2.63, 0.0)).norm() < 1e-9).unwrap();
    let (a0, a1) = hop(&perfect, 1, 0);
    let (b0, b1) = hop(&perfect, across, 0);
    let moving = across - 1;
    assert!((b1.positions[moving] - b0.positions[moving]).norm() > 10.0, "the raw final position is far away");
    let continuous = prepare_endpoints(&b0, &b1).unwrap();
    assert!((continuous.positions[moving] - b0.positions[moving]).norm() < 3.8);
    let inside = run_neb(&a0, &a1, &evaluator, &options(Algorithm::Lbfgs)).unwrap().report;
    let crossing = run_neb(&b0, &b1, &evaluator, &options(Algorithm::Lbfgs)).unwrap().report;
    assert!(inside.converged && crossing.converged);
    assert!(inside.forward_barrier_ev > 0.05 && inside.forward_barrier_ev < 0.3, "{}", inside.forward_barrier_ev);
    assert!((inside.forward_barrier_ev - crossing.forward_barrier_ev).abs() < 1e-3);
    let max_step = crossing.reaction_coordinate_a.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(max_step < 2.0, "images are adjacent along the minimum-image path");
}

#[test]
fn neb_results_do_not_depend_on_the_number_of_threads() {
    let perfect = mdrun::system::fcc(18, 5.26, 3);
    let (initial, final_state) = hop(&perfect, 1, 0);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| run_neb(&initial, &final_state, &argon(), &options(Algorithm::Fire)).unwrap())
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.band.energies, two.band.energies);
    assert_eq!(one.report.band_steps, two.report.band_steps);
    assert_eq!(one.band.images[2].positions, two.band.images[2].positions);
}

#[test]
fn fire_and_lbfgs_agree_on_the_argon_vacancy_barrier() {
    let perfect = mdrun::system::fcc(18, 5.26, 3);
    let (initial, final_state) = hop(&perfect, 1, 0);
    let evaluator = argon();
    // Argon is soft (force constants ~0.1 eV/Å²): a tight fmax is needed for meV-converged energies.
    let tight = |optimizer| NebOptions {
        convergence: Convergence { fmax: 2e-4, max_steps: 5000, max_step: 0.2 },
        ..options(optimizer)
    };
    let fire = run_neb(&initial, &final_state, &evaluator, &tight(Algorithm::Fire)).unwrap().report;
    let lbfgs = run_neb(&initial, &final_state, &evaluator, &tight(Algorithm::Lbfgs)).unwrap().report;
    assert!(fire.converged && lbfgs.converged);
    assert!((fire.forward_barrier_ev - lbfgs.forward_barrier_ev).abs() < 1e-4, "{fire:?}\n{lbfgs:?}");
    println!(
        "LJ Ar vacancy hop: barrier {:.5} eV; band force evaluations FIRE {}, L-BFGS {}",
        lbfgs.forward_barrier_ev, fire.band_force_evaluations, lbfgs.band_force_evaluations
    );
}

#[test]
fn neb_stage_reads_files_and_writes_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let perfect = mdrun::system::fcc(18, 5.26, 3);
    let (initial, final_state) = hop(&perfect, 1, 0);
    let write = |name: &str, s: &System| {
        std::fs::write(dir.path().join(name), format_frame(s, &FrameExtras::default())).unwrap()
    };
    write("initial.extxyz", &initial);
    write("final.extxyz", &final_state);
    write("perfect.extxyz", &perfect);
    let mut settings: NebSettings =
        toml::from_str("final_structure = \"final.extxyz\"\nimages = 3\nfmax_ev_per_a = 0.01\noptimizer = \"lbfgs\"")
            .unwrap();
    settings.validate("stage[2]").unwrap();
    settings.resolve_paths(dir.path());
    let out = dir.path().join("out");
    let mut system = initial.clone();
    let report = settings.run(&mut system, &mut argon(), &out, 0).unwrap();
    assert!(report.converged);
    assert_eq!(system, initial, "the NEB stage leaves the system unchanged");
    for name in ["neb_profile.csv", "neb_profile.svg", "neb_images.extxyz", "saddle.extxyz", "neb_log.csv"] {
        assert!(out.join(name).exists(), "{name}");
    }
    let saddle = mdrun::io::extxyz::read_frames(&out.join("saddle.extxyz")).unwrap();
    assert!((saddle[0].info_f64("energy").unwrap() - report.saddle_energy_ev).abs() < 1e-9);
    // Bad input: endpoints with different atom counts.
    let mut settings: NebSettings = toml::from_str("final_structure = \"perfect.extxyz\"").unwrap();
    settings.resolve_paths(dir.path());
    let err = settings.run(&mut initial.clone(), &mut argon(), &out, 0).unwrap_err();
    assert!(format!("{err:#}").contains("differ in atom count: initial has 107 atoms, final has 108"), "{err:#}");
    // Bad settings.
    let bad: NebSettings = toml::from_str("final_structure = \"f.xyz\"\nimages = 0").unwrap();
    assert_eq!(
        bad.validate("stage[2]").unwrap_err().to_string(),
        "stage[2].images = 0: expected at least 1 intermediate image"
    );
    assert!(toml::from_str::<NebSettings>("final_structure = \"f.xyz\"\nspring = 1.0").is_err());
    // A band that cannot converge in the allowed steps is flagged, not an error.
    let mut settings: NebSettings =
        toml::from_str("final_structure = \"final.extxyz\"\nmax_steps = 3\nfmax_ev_per_a = 1e-4").unwrap();
    settings.resolve_paths(dir.path());
    let report = settings.run(&mut initial.clone(), &mut argon(), &out, 0).unwrap();
    assert!(!report.converged);
    let svg = std::fs::read_to_string(out.join("neb_profile.svg")).unwrap();
    assert!(svg.contains("NOT CONVERGED"));
}

#[test]
fn migration_in_a_crystal_computes_one_path_and_lists_every_hop() {
    let mut system = mdrun::system::fcc(18, 5.26, 3);
    let settings: MigrationSettings =
        toml::from_str("species = \"Ar\"\nhop_cutoff_a = 3.8\nimages = 3\nfmax_ev_per_a = 0.01\noptimizer = \"lbfgs\"")
            .unwrap();
    settings.validate("stage[3]").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = settings.run(&mut system, &mut argon(), dir.path(), 0, true).unwrap();
    assert_eq!(report.hops, 108 * 6);
    assert_eq!(report.computed_paths, 1);
    assert!(report.converged);
    assert_eq!(report.histogram.iter().map(|b| b.count).sum::<usize>(), 648);
    assert!((report.max_barrier_ev.unwrap() - report.min_barrier_ev.unwrap()).abs() < 1e-12);
    let table = std::fs::read_to_string(dir.path().join("barriers.csv")).unwrap();
    assert!(table.starts_with("# mdrun barrier table v1\n# structure: migration_structure.extxyz\n# cell: "));
    let rows: Vec<&str> = table.lines().filter(|l| !l.starts_with('#')).skip(1).collect();
    assert_eq!(rows.len(), 648);
    // Every row's hop vector is a nearest-neighbour vector of fcc: length a/√2.
    for row in &rows {
        let f: Vec<&str> = row.split(',').collect();
        let hop = (4..7)
            .map(|k| f[k + 3].parse::<f64>().unwrap() - f[k].parse::<f64>().unwrap())
            .map(|d| d * d)
            .sum::<f64>()
            .sqrt();
        assert!((hop - 5.26 / 2f64.sqrt()).abs() < 1e-5, "{row}");
        assert_eq!(f[16], "true");
    }
    assert!(dir.path().join("barrier_histogram.svg").exists());
    assert!(dir.path().join("paths/path_0_saddle.extxyz").exists());
    let structure = mdrun::io::read_structure(&dir.path().join("migration_structure.extxyz")).unwrap();
    assert_eq!(structure.len(), 108);
}

#[test]
fn migration_in_a_disordered_cell_keeps_every_hop() {
    // A random Ar–Kr alloy (site 0 stays Ar): every Ar hop into site 0 sees different neighbours.
    let mut system = mdrun::system::fcc(18, 5.26, 3);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    for z in system.atomic_numbers.iter_mut().skip(1) {
        if rng.gen_bool(0.4) {
            *z = 36;
        }
    }
    let settings: MigrationSettings = toml::from_str(
        "species = \"Ar\"\nhop_cutoff_a = 4.2\nvacancy_sites = [0]\ndeduplicate = false\nimages = 3\nfmax_ev_per_a = 0.01\noptimizer = \"lbfgs\"",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = settings.run(&mut system, &mut argon(), dir.path(), 0, true).unwrap();
    let argon_neighbours =
        (1..108).filter(|&i| system.atomic_numbers[i] == 18 && system.displacement(0, i).norm() < 4.2).count();
    assert!(argon_neighbours >= 4);
    assert_eq!(report.hops, argon_neighbours);
    assert_eq!(report.computed_paths, argon_neighbours);
    assert!(report.converged);
    let barriers: Vec<f64> = report.paths.iter().map(|p| p.neb.forward_barrier_ev).collect();
    assert!(barriers.iter().any(|b| (b - barriers[0]).abs() > 5e-3), "disorder spreads the barriers: {barriers:?}");
    // All hops start from the same relaxed vacancy at site 0.
    assert!(report
        .paths
        .iter()
        .all(|p| (p.neb.initial_energy_ev - report.paths[0].neb.initial_energy_ev).abs() < 1e-9));
    let mean = barriers.iter().sum::<f64>() / barriers.len() as f64;
    assert!((report.mean_barrier_ev.unwrap() - mean).abs() < 1e-9);
    println!("disordered Ar: barriers {barriers:?}");
}

#[test]
fn migration_starts_from_a_structure_that_already_has_the_vacancy() {
    let perfect = mdrun::system::fcc(18, 5.26, 3);
    let text = "species = \"Ar\"\nhop_cutoff_a = 3.8\nimages = 3\nfmax_ev_per_a = 0.005\noptimizer = \"lbfgs\"";
    let reference: MigrationSettings = toml::from_str(&format!("{text}\nvacancy_sites = [0]")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let expected = reference.run(&mut perfect.clone(), &mut argon(), dir.path(), 0, true).unwrap();
    // The vacancy made (and relaxed) by an earlier stage; its position is the removed atom's.
    let mut defective = perfect.clone();
    defective.remove(0);
    let relax = mdrun::relax::RelaxSettings { fmax_ev_per_a: 0.005, ..Default::default() };
    mdrun::relax::relax(&mut defective, &mut argon(), &relax, None).unwrap();
    let settings: MigrationSettings = toml::from_str(&format!("{text}\nvacancy_position_a = [0.0, 0.0, 0.0]")).unwrap();
    settings.validate("stage[2]").unwrap();
    let mut system = defective.clone();
    let report = settings.run(&mut system, &mut argon(), dir.path(), 0, true).unwrap();
    assert_eq!(system, defective, "the stage leaves the system unchanged");
    assert!(report.converged);
    assert_eq!((report.hops, report.computed_paths), (12, 1));
    assert_eq!(report.paths[0].to_site, 107, "the vacancy is the added last site");
    let (a, b) = (report.paths[0].neb.forward_barrier_ev, expected.paths[0].neb.forward_barrier_ev);
    assert!((a - b).abs() < 2e-3, "{a} vs {b}");
    let written = mdrun::io::read_structure(&dir.path().join("migration_structure.extxyz")).unwrap();
    assert_eq!(written.len(), 108);
    // An occupied position is not a vacancy.
    let settings: MigrationSettings = toml::from_str(&format!("{text}\nvacancy_position_a = [2.6, 2.6, 0.1]")).unwrap();
    let err = settings.run(&mut defective.clone(), &mut argon(), dir.path(), 0, true).unwrap_err().to_string();
    assert!(err.contains("is only") && err.contains("so the site is not vacant"), "{err}");
    let both: MigrationSettings =
        toml::from_str(&format!("{text}\nvacancy_position_a = [0.0, 0.0, 0.0]\nvacancy_sites = [1]")).unwrap();
    assert_eq!(both.validate("stage[2]").unwrap_err().key, "stage[2].vacancy_position_a");
}

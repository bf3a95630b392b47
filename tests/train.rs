//! Whole training workflow: label rattled Cu cells with the engine's EAM (Cu_u3), write them as extended
//! XYZ, train from a TOML file with `TrainSettings::run`, and check that the potential learnt the surface
//! (test RMSEs far below the spread of the labels), that the written files reload with
//! `NnpPotential::load` and reproduce the training model's test errors, and that a committee reports its
//! disagreement. The long run reaching ≤ 2 meV/atom and ≤ 60 meV/Å is `examples/train_cu.rs`.

mod common;

use mdrun::io::extxyz::{format_frame, FrameExtras};
use mdrun::neighbors::NeighborList;
use mdrun::potentials::eam::Eam;
use mdrun::potentials::nnp::{NnpConfig, NnpPotential};
use mdrun::potentials::Potential;
use mdrun::train::bench::{md_sampled_fcc, rattled_fcc};
use mdrun::train::committee::Committee;
use mdrun::train::dataset::LabelledStructure;
use mdrun::train::TrainSettings;
use std::path::Path;

/// EAM Cu_u3 labels for `rattled` rattled 32-atom cells and `md` MD snapshots at 600 K, written to
/// `dir/cu.extxyz`; `None` (with a message) when the shared potential file is absent.
fn labelled_copper(dir: &Path, rattled: usize, md: usize, seed: u64) -> Option<(Eam, Vec<LabelledStructure>)> {
    let eam_path = common::reference(common::CU_EAM)?;
    let eam = Eam::read_funcfl(&[&eam_path]).unwrap();
    let mut structures = rattled_fcc(&eam, 29, 3.615, 2, rattled, 0.03, 0.12, seed).unwrap();
    structures.extend(md_sampled_fcc(&eam, 29, 3.615, 2, 600.0, 2.0, 10, md, seed + 1).unwrap());
    let mut text = String::new();
    for s in &structures {
        text += &format_frame(
            &s.system,
            &FrameExtras { energy: Some(s.energy), forces: Some(&s.forces), ..Default::default() },
        );
    }
    std::fs::write(dir.join("cu.extxyz"), text).unwrap();
    Some((eam, structures))
}

/// The data file `labelled_copper` writes, and the descriptors and network every Cu training here uses.
const CU_MODEL: &str = r#"
    [[data]]
    file = "cu.extxyz"
    [symmetry_functions]
    cutoff_a = 4.8
    radial_count = 6
    radial_r_min_a = 2.0
    angular_zeta = [1.0, 4.0]
    [network]
    hidden_layers = [10, 10]
"#;

#[test]
fn learns_the_cu_eam_surface_and_writes_a_loadable_committee() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_, structures)) = labelled_copper(dir.path(), 40, 8, 3) else { return };
    let toml_text = r#"
        seed = 7
        epochs = 200
        batch_size = 4
        learning_rate = 5e-3
        learning_rate_decay = 0.97
        energy_weight = 3.0
        early_stopping_patience = 50
        committee_size = 2
    "#;
    let settings: TrainSettings = toml::from_str(&format!("{toml_text}{CU_MODEL}")).unwrap();
    settings.validate("train").unwrap();
    let out = dir.path().join("out");
    let report = settings.run(dir.path(), &out).unwrap();
    assert_eq!(report.structures, 48);
    assert_eq!(report.test_structures, 10);
    assert_eq!(report.members.len(), 2);
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    for member in &report.members {
        // Learning: test errors a small fraction of the label spread (a constant model has RMSEs equal to it).
        assert!(
            member.test_energy_rmse_mev_per_atom < 0.2 * report.label_energy_std_mev_per_atom,
            "{member:?} vs label spread {} meV/atom",
            report.label_energy_std_mev_per_atom
        );
        assert!(
            member.test_force_rmse_mev_per_a < 0.15 * report.label_force_rms_mev_per_a,
            "{member:?} vs label spread {} meV/A",
            report.label_force_rms_mev_per_a
        );
        for file in ["input.nn", "scaling.data", "weights.029.data", "learning_curve.csv", "energy_parity.svg"] {
            assert!(member.directory.join(file).exists(), "{file} missing");
        }
    }
    let curve = std::fs::read_to_string(report.members[0].directory.join("learning_curve.csv")).unwrap();
    assert_eq!(curve.lines().count(), report.members[0].epochs_run + 1);

    // The written potential reproduces the force RMSE of the report on the whole data set order of magnitude,
    // evaluated by the NNP evaluator itself on the labelled structures.
    let potential = NnpPotential::load(&NnpConfig::new(&report.members[0].directory, 1.0, 1.0)).unwrap();
    let (mut f2, mut n) = (0.0, 0usize);
    for s in &structures {
        let mut list = NeighborList::new(potential.cutoff(), 0.0);
        list.build(&s.system).unwrap();
        let e = potential.compute(&s.system, &list).unwrap();
        f2 += e.forces.iter().zip(&s.forces).map(|(a, b)| (a - b).norm_squared()).sum::<f64>();
        n += 3 * s.forces.len();
    }
    let rmse = (f2 / n as f64).sqrt() * 1e3;
    let member = &report.members[0];
    let (lo, hi) = (
        member.train_force_rmse_mev_per_a.min(member.test_force_rmse_mev_per_a),
        member.train_force_rmse_mev_per_a.max(member.test_force_rmse_mev_per_a),
    );
    assert!(rmse >= lo - 1e-9 && rmse <= hi + 1e-9, "evaluator RMSE {rmse} outside [{lo}, {hi}]");

    // Committee: mean of the members, positive disagreement per atom.
    let committee = Committee::load(&[&report.members[0].directory, &report.members[1].directory]).unwrap();
    let s = &structures[0].system;
    let mut list = NeighborList::new(committee.cutoff(), 0.0);
    list.build(s).unwrap();
    let c = committee.evaluate(s, &list);
    let energies: Vec<f64> = committee.members.iter().map(|m| m.compute(s, &list).unwrap().energy).collect();
    assert!((c.mean.energy - (energies[0] + energies[1]) / 2.0).abs() < 1e-9);
    assert!((c.energy_std - (energies[0] - energies[1]).abs() / 2.0).abs() < 1e-9);
    assert_eq!(c.atom_energy_std.len(), s.len());
    assert!(c.atom_energy_std.iter().all(|&x| x > 0.0));
    assert!(report.committee_test_atom_energy_std_mev.unwrap() > 0.0);
}

#[test]
fn md_snapshots_follow_equipartition() {
    let Some(eam_path) = common::reference(common::CU_EAM) else { return };
    let eam = Eam::read_funcfl(&[&eam_path]).unwrap();
    let perfect = rattled_fcc(&eam, 29, 3.615, 2, 1, 0.0, 0.0, 1).unwrap().remove(0);
    let temperature = 300.0;
    let snapshots = md_sampled_fcc(&eam, 29, 3.615, 2, temperature, 2.0, 25, 40, 5).unwrap();
    assert_eq!(snapshots.len(), 40);
    // Harmonic solid: <E_pot> - E_0 = (3/2) N k_B T (here 32 atoms, 300 K: 1.24 eV); anharmonicity and the
    // finite sample allow ±35 %.
    let n = perfect.system.len() as f64;
    let mean = snapshots.iter().map(|s| s.energy - perfect.energy).sum::<f64>() / snapshots.len() as f64;
    let expected = 1.5 * n * mdrun::system::BOLTZMANN_EV_PER_K * temperature;
    assert!((mean / expected - 1.0).abs() < 0.35, "<E_pot> - E_0 = {mean} eV, equipartition {expected} eV");
    assert!(snapshots.iter().all(|s| s.forces.iter().any(|f| f.norm() > 0.05)));
}

/// The whole point of training: MD driven by the trained potential samples the same structure as MD driven by
/// the surface it learnt. A potential trained on EAM Cu_u3 labels runs Langevin MD at 600 K on a 108-atom crystal,
/// as does EAM itself from the same start; their radial distribution functions agree.
#[test]
fn md_with_the_trained_potential_reproduces_the_rdf_of_the_original() {
    use mdrun::analysis::rdf::compute_rdf;
    use mdrun::md::{MdSettings, RunControl};
    use mdrun::potentials::Evaluator;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let Some((eam, _)) = labelled_copper(dir.path(), 60, 20, 11) else { return };
    let settings: TrainSettings = toml::from_str(&format!(
        r#"
        seed = 3
        epochs = 250
        batch_size = 4
        learning_rate = 5e-3
        learning_rate_decay = 0.98
        energy_weight = 3.0
        early_stopping_patience = 60
        {CU_MODEL}"#
    ))
    .unwrap();
    let report = settings.run(dir.path(), &dir.path().join("out")).unwrap();
    let trained = NnpPotential::load(&NnpConfig::new(&report.members[0].directory, 1.0, 1.0)).unwrap();

    let sample = |potential: Arc<dyn Potential>| {
        let mut system = mdrun::system::fcc(29, 3.615, 3);
        let mut evaluator = Evaluator::new(potential, 1.0);
        let mut frames = Vec::new();
        for chunk in 0..25 {
            let initial = if chunk == 0 { "initial_temperature_k = 600\n" } else { "" };
            let md: MdSettings = toml::from_str(&format!(
                "timestep_fs = 2.0\nsteps = 40\n{initial}thermostat = {{ kind = \"langevin\", damping_fs = 100 }}\ntemperature_k = 600"
            ))
            .unwrap();
            md.run(&mut system, &mut evaluator, dir.path(), chunk, RunControl { quiet: true, stop_after_step: None })
                .unwrap();
            if chunk >= 5 {
                frames.push(system.clone());
            }
        }
        compute_rdf(&frames, 5.0, 0.05, |_, _| None).unwrap()
    };
    let reference = sample(Arc::new(eam));
    let learnt = sample(Arc::new(trained));
    let (g_ref, g_nn) = (&reference.pairs[0].g, &learnt.pairs[0].g);
    let peak = |g: &[f64]| reference.r_a[(0..g.len()).max_by(|&a, &b| g[a].total_cmp(&g[b])).unwrap()];
    assert!((peak(g_ref) - peak(g_nn)).abs() <= 0.05 + 1e-12, "first peaks {} and {} Å", peak(g_ref), peak(g_nn));
    let difference: f64 = g_ref.iter().zip(g_nn).map(|(a, b)| (a - b).abs()).sum();
    let total: f64 = g_ref.iter().sum();
    println!("RDF: relative L1 difference {:.3}, EAM peak {} Å", difference / total, peak(g_ref));
    assert!(difference / total < 0.15, "g(r) differ by {:.3} (relative L1)", difference / total);
}

/// Row `k` (0-based, after the header) of a learning curve: (optimizer, train loss, test loss).
fn curve_row(directory: &Path, k: usize) -> (String, f64, f64) {
    let curve = std::fs::read_to_string(directory.join("learning_curve.csv")).unwrap();
    let fields: Vec<String> = curve.lines().nth(k + 1).unwrap().split(',').map(str::to_string).collect();
    (fields[1].clone(), fields[3].parse().unwrap(), fields[6].parse().unwrap())
}

#[test]
fn lbfgs_refines_adam_and_restarts_from_a_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    if labelled_copper(dir.path(), 40, 8, 3).is_none() {
        return;
    }
    let settings = |extra: &str| -> TrainSettings {
        let text = format!(
            r#"
            seed = 7
            batch_size = 4
            learning_rate = 5e-3
            energy_weight = 3.0
            early_stopping_patience = 0
            {extra}
            {CU_MODEL}"#
        );
        let settings: TrainSettings = toml::from_str(&text).unwrap();
        settings.validate("train").unwrap();
        settings
    };
    let adam = settings("epochs = 30").run(dir.path(), &dir.path().join("adam")).unwrap().members.remove(0);
    let refined = settings("epochs = 30\nlbfgs_iterations = 60")
        .run(dir.path(), &dir.path().join("refined"))
        .unwrap()
        .members
        .remove(0);
    println!("Adam {adam:?}\nAdam + L-BFGS {refined:?}");
    assert_eq!(refined.lbfgs_iterations_run, 60);
    assert!(refined.best_epoch > 30, "kept weights are Adam's: {refined:?}");
    // The same 30 Adam epochs (same seed), then L-BFGS on the full training set: a much lower test error.
    assert!(refined.test_force_rmse_mev_per_a < 0.8 * adam.test_force_rmse_mev_per_a);
    assert!(refined.test_energy_rmse_mev_per_atom < adam.test_energy_rmse_mev_per_atom);
    // structures.csv: one row per structure, the test rows' energy errors give the reported test RMSE.
    let table = std::fs::read_to_string(adam.directory.join("structures.csv")).unwrap();
    assert_eq!(table.lines().count(), 48 + 1);
    let test_errors: Vec<f64> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[1] == "test")
        .map(|f| f[5].parse().unwrap())
        .collect();
    assert_eq!(test_errors.len(), 10);
    let rmse = (test_errors.iter().map(|e| e * e).sum::<f64>() / 10.0).sqrt();
    assert!((rmse - adam.test_energy_rmse_mev_per_atom).abs() < 1e-3, "{rmse} vs {adam:?}");

    let (optimizer, first_loss, _) = curve_row(&refined.directory, 30);
    assert_eq!(optimizer, "lbfgs");
    let (_, adam_loss, _) = curve_row(&adam.directory, adam.best_epoch - 1);
    assert!(first_loss < adam_loss);

    // Restart from the Adam model with L-BFGS only: its scaling and offsets are kept, and the first step
    // starts from its loss (a random start would be orders of magnitude above it).
    let mut restart = settings("epochs = 0\nlbfgs_iterations = 3");
    restart.initial_model = Some("adam/model_0".into());
    let member = restart.run(dir.path(), &dir.path().join("restart")).unwrap().members.remove(0);
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    assert_eq!(read(&member.directory, "scaling.data"), read(&adam.directory, "scaling.data"));
    assert_eq!(read(&member.directory, "input.nn"), read(&adam.directory, "input.nn"));
    let (_, restart_loss, _) = curve_row(&member.directory, 0);
    assert!(restart_loss < adam_loss && restart_loss > 0.5 * adam_loss, "{restart_loss} vs {adam_loss}");

    let mut mismatched = settings("epochs = 0\nlbfgs_iterations = 3");
    mismatched.initial_model = Some("adam/model_0".into());
    mismatched.network.hidden_layers = vec![10, 8];
    let error = format!("{:#}", mismatched.run(dir.path(), &dir.path().join("bad")).unwrap_err());
    assert!(error.contains("initial_model") && error.contains("network.hidden_layers"), "{error}");

    let mut missing = settings("epochs = 0\nlbfgs_iterations = 3");
    missing.initial_model = Some("no/such/model".into());
    let error = format!("{:#}", missing.run(dir.path(), &dir.path().join("missing")).unwrap_err());
    assert!(error.contains("initial_model") && error.contains("no/such/model"), "{error}");
}

#[test]
fn diverging_training_outlying_and_non_finite_labels_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_, mut structures)) = labelled_copper(dir.path(), 12, 0, 5) else { return };
    let settings = |learning_rate: f64| -> TrainSettings {
        let head = format!("seed = 1\nepochs = 30\nbatch_size = 4\nlearning_rate = {learning_rate:e}\n");
        toml::from_str(&format!("{head}{CU_MODEL}")).unwrap()
    };
    let out = dir.path().join("out");
    let error = format!("{:#}", settings(1e6).run(dir.path(), &out).unwrap_err());
    assert!(error.contains("training never lowered the loss of the random initial weights"), "{error}");
    assert!(error.contains("expected a smaller learning_rate than 1e6"), "{error}");

    let write = |structures: &[LabelledStructure]| {
        let text: String = structures
            .iter()
            .map(|s| {
                let extras = FrameExtras { energy: Some(s.energy), forces: Some(&s.forces), ..Default::default() };
                format_frame(&s.system, &extras)
            })
            .collect();
        std::fs::write(dir.path().join("cu.extxyz"), text).unwrap();
    };
    let report = settings(5e-3).run(dir.path(), &out).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    structures[2].energy = 1e12;
    write(&structures);
    let error = format!("{:#}", settings(5e-3).run(dir.path(), &out).unwrap_err());
    assert!(error.contains("or labels without the outliers warned about"), "{error}");

    structures[2].energy = f64::NAN;
    write(&structures);
    let error = format!("{:#}", settings(5e-3).run(dir.path(), &out).unwrap_err());
    assert!(error.contains("cu.extxyz: structure 3: energy NaN is not finite"), "{error}");
}

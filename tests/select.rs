//! Active-learning selection (`mdrun select`): a two-model committee trained on mildly rattled EAM Cu
//! cells scores trajectories mixing near-training frames with strongly rattled and compressed ones; the far
//! frames get the larger force spread and are picked first, the output is byte-identical on 1 and 2 threads,
//! and bad settings give errors naming the key or file.

mod common;

use mdrun::analysis::trajectory::write_h5md;
use mdrun::io::extxyz::{format_frame, read_frames, FrameExtras};
use mdrun::potentials::eam::Eam;
use mdrun::system::System;
use mdrun::train::bench::rattled_fcc;
use mdrun::train::select::{select_file, SelectReport};
use mdrun::train::TrainSettings;
use std::path::Path;

/// Writes `frames` as extended XYZ, with each frame's extras.
fn write_extxyz<'a>(path: &Path, frames: impl Iterator<Item = (&'a System, FrameExtras<'a>)>) {
    let text: String = frames.map(|(system, extras)| format_frame(system, &extras)).collect();
    std::fs::write(path, text).unwrap();
}

fn plain(frames: &[System]) -> impl Iterator<Item = (&System, FrameExtras<'_>)> {
    frames.iter().map(|s| (s, FrameExtras::default()))
}

/// Trains a two-member committee on 24 mildly rattled (≤ 0.08 Å, ±2 % strain) 32-atom Cu cells labelled with
/// EAM Cu_u3, and writes two trajectories into `dir`:
/// - `md.extxyz`, 12 frames of 32 atoms, where frames 3 (rattled by up to 0.4 Å) and 8 (compressed 9 %) are far
///   from the training data;
/// - `big.h5`, 5 frames of 108 atoms, frame 2 far (rattled by up to 0.4 Å).
///
/// Returns the frames of `md.extxyz`, or `None` (with a message) when the shared EAM file is absent.
fn prepare(dir: &Path) -> Option<Vec<System>> {
    let eam_path = common::reference(common::CU_EAM)?;
    let eam = Eam::read_funcfl(&[&eam_path]).unwrap();
    let training = rattled_fcc(&eam, 29, 3.615, 2, 24, 0.02, 0.08, 1).unwrap();
    let labelled = training
        .iter()
        .map(|s| (&s.system, FrameExtras { energy: Some(s.energy), forces: Some(&s.forces), ..Default::default() }));
    write_extxyz(&dir.join("cu.extxyz"), labelled);
    let settings: TrainSettings = toml::from_str(
        r#"
        seed = 5
        epochs = 150
        batch_size = 4
        learning_rate = 5e-3
        committee_size = 2
        test_fraction = 0.2
        [[data]]
        file = "cu.extxyz"
        [symmetry_functions]
        cutoff_a = 4.5
        radial_count = 5
        radial_r_min_a = 2.0
        angular_zeta = [1.0, 4.0]
        [network]
        hidden_layers = [8, 8]
    "#,
    )
    .unwrap();
    settings.run(dir, &dir.join("gen1")).unwrap();

    let near = |count, seed| rattled_fcc(&eam, 29, 3.615, 2, count, 0.01, 0.04, seed).unwrap();
    let mut md: Vec<System> = near(12, 20).into_iter().map(|s| s.system).collect();
    md[3] = rattled_fcc(&eam, 29, 3.615, 2, 1, 0.0, 0.4, 21).unwrap().remove(0).system;
    md[8] = rattled_fcc(&eam, 29, 3.615 * 0.91, 2, 1, 0.0, 0.05, 22).unwrap().remove(0).system;
    write_extxyz(&dir.join("md.extxyz"), plain(&md));
    let mut big: Vec<System> =
        rattled_fcc(&eam, 29, 3.615, 3, 5, 0.01, 0.04, 23).unwrap().into_iter().map(|s| s.system).collect();
    big[2] = rattled_fcc(&eam, 29, 3.615, 3, 1, 0.0, 0.4, 24).unwrap().remove(0).system;
    write_h5md(&dir.join("big.h5"), &big, 10.0).unwrap();
    Some(md)
}

fn run_select(dir: &Path, name: &str, body: &str, threads: usize) -> SelectReport {
    let path = dir.join(format!("{name}.toml"));
    let text =
        format!("committee = [\"gen1/model_0\", \"gen1/model_1\"]\ntrajectories = [\"md.extxyz\", \"big.h5\"]\n{body}");
    std::fs::write(&path, text).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| select_file(&path, &dir.join(name))).unwrap()
}

#[test]
fn far_frames_are_picked_first_identically_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let Some(md) = prepare(dir) else { return };
    for member in ["model_0", "model_1"] {
        assert!(dir.join("gen1").join(member).join("input.nn").exists(), "committee member {member} missing");
    }
    // Spread only (no extrapolation bonus): the three far frames have the largest spreads and come first.
    let report = run_select(dir, "spread", "count = 3\nextrapolation_weight = 0\n", 1);
    assert_eq!(report.frames.len(), 17);
    let far = [(0, 3), (0, 8), (1, 2)];
    let is_far = |f: &mdrun::train::select::FrameScore| far.contains(&(f.trajectory, f.frame));
    let near_max = report.frames.iter().filter(|f| !is_far(f)).map(|f| f.force_spread_max_ev_per_a).fold(0.0, f64::max);
    let far_min =
        report.frames.iter().filter(|f| is_far(f)).map(|f| f.force_spread_max_ev_per_a).fold(f64::INFINITY, f64::min);
    println!("{}\nfar frames: min spread {far_min} eV/A, near frames: max {near_max} eV/A", report.summary());
    // Every far frame spreads more than every near one; the strongly rattled ones by a factor of more than 5
    // (the compressed cell less: the members extrapolate there and agree partly by accident).
    assert!(far_min > near_max, "far {far_min} vs near {near_max}");
    for (t, f) in [(0, 3), (1, 2)] {
        let spread =
            report.frames.iter().find(|s| (s.trajectory, s.frame) == (t, f)).unwrap().force_spread_max_ev_per_a;
        assert!(spread > 5.0 * near_max, "rattled frame {f} of trajectory {t}: {spread} vs near {near_max}");
    }
    let mut picked: Vec<(usize, usize)> =
        report.picked.iter().map(|&k| (report.frames[k].trajectory, report.frames[k].frame)).collect();
    picked.sort();
    assert_eq!(picked, far);
    assert!(report.frames.iter().all(|f| (f.extrapolations > 0) == is_far(f)), "only far frames extrapolate");
    assert_eq!(report.frames.iter().find(|f| f.trajectory == 1).unwrap().atoms, 108);

    // Default ranking (extrapolating first) on 1 and 2 threads: same files byte for byte.
    let one = run_select(dir, "one_thread", "count = 4\n", 1);
    let two = run_select(dir, "two_threads", "count = 4\n", 2);
    for file in ["selected.extxyz", "selection.csv"] {
        let a = std::fs::read(dir.join("one_thread").join(file)).unwrap();
        let b = std::fs::read(dir.join("two_threads").join(file)).unwrap();
        assert!(a == b, "{file} differs between 1 and 2 threads");
    }
    assert_eq!(one.picked, two.picked);
    // Every frame that extrapolates ranks before every frame that does not.
    let extrapolating: Vec<bool> = one.picked.iter().map(|&k| one.frames[k].extrapolations > 0).collect();
    assert!(extrapolating.windows(2).all(|w| w[0] >= w[1]), "{extrapolating:?}");

    // selected.extxyz: the picked frames as plain structures with their origin in the comment line.
    let frames = read_frames(&dir.join("one_thread/selected.extxyz")).unwrap();
    assert_eq!(frames.len(), 4);
    for (frame, &k) in frames.iter().zip(&one.picked) {
        let score = &one.frames[k];
        let source = ["md.extxyz", "big.h5"][score.trajectory];
        assert_eq!(frame.info["source"], source);
        assert_eq!(frame.info["frame"], score.frame.to_string());
        assert_eq!(frame.info["extrapolations"], score.extrapolations.to_string());
        assert!((frame.info_f64("force_spread_max").unwrap() / score.force_spread_max_ev_per_a - 1.0).abs() < 1e-7);
        assert!(frame.info_f64("energy_std_per_atom").is_some());
        assert!(frame.forces.is_none());
        assert_eq!(frame.system.len(), score.atoms);
        if score.trajectory == 0 {
            let original = &read_frames(&dir.join("md.extxyz")).unwrap()[score.frame].system;
            let d = frame.system.positions.iter().zip(&original.positions).map(|(a, b)| (a - b).norm());
            assert!(d.fold(0.0, f64::max) < 1e-12);
            assert_eq!(frame.system.cell.matrix(), original.cell.matrix());
        }
    }
    let csv = std::fs::read_to_string(dir.join("one_thread/selection.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with(
        "source,frame,atoms,energy_std_ev_per_atom,force_spread_max_ev_per_a,force_spread_mean_ev_per_a,\
         extrapolations,selected"
    ));
    assert_eq!(lines.clone().count(), 17);
    assert_eq!(lines.filter(|l| l.split(',').nth(7) == Some("1")).count(), 4);

    // The command line gives the same files and prints the summary.
    let output = common::mdrun()
        .args(["select", "one_thread.toml", "--output", "cli", "--threads", "2"])
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("17 frames examined, 4 picked; max force spread of the picked frames"), "{stdout}");
    for file in ["selected.extxyz", "selection.csv"] {
        let a = std::fs::read(dir.join("one_thread").join(file)).unwrap();
        assert!(a == std::fs::read(dir.join("cli").join(file)).unwrap(), "{file}: command line differs");
    }

    // A frame with an element the committee does not describe: the file and frame are named.
    let mut nickel = md[..2].to_vec();
    nickel[1].atomic_numbers[5] = 28;
    write_extxyz(&dir.join("ni.extxyz"), plain(&nickel));
    std::fs::write(
        dir.join("ni.toml"),
        "committee = [\"gen1/model_0\", \"gen1/model_1\"]\ntrajectories = [\"ni.extxyz\"]\ncount = 1\n",
    )
    .unwrap();
    let error = format!("{:#}", select_file(&dir.join("ni.toml"), &dir.join("ni")).unwrap_err());
    assert!(error.contains("ni.extxyz, frame 1") && error.contains("element Ni (atom 6"), "{error}");

    // `every` = 2 examines frames 0, 2, 4, ... only; min_force_spread keeps only the far frames; count caps.
    let report = run_select(
        dir,
        "every",
        &format!("count = 10\nevery = 2\nmin_force_spread_ev_per_a = {}\n", 0.5 * (far_min + near_max)),
        2,
    );
    assert_eq!(report.frames.len(), 6 + 3);
    assert!(report.frames.iter().all(|f| f.frame % 2 == 0));
    let mut picked: Vec<(usize, usize)> =
        report.picked.iter().map(|&k| (report.frames[k].trajectory, report.frames[k].frame)).collect();
    picked.sort();
    assert_eq!(picked, [(0, 8), (1, 2)]);
}

fn select_error(toml_text: &str, files: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let path = dir.path().join(f);
        if f.ends_with('/') {
            std::fs::create_dir_all(path).unwrap();
        } else {
            std::fs::write(path, "").unwrap();
        }
    }
    let path = dir.path().join("select.toml");
    std::fs::write(&path, toml_text).unwrap();
    let error = select_file(&path, &dir.path().join("out")).unwrap_err();
    format!("{error:#}")
}

#[test]
fn bad_settings_name_the_key_or_the_file() {
    let files = ["a/", "b/", "md.extxyz"];
    let base = "committee = [\"a\", \"b\"]\ntrajectories = [\"md.extxyz\"]\n";
    let e = select_error(base, &files);
    assert!(e.contains("select.toml") && e.contains("missing field `count`"), "{e}");
    let e = select_error(&format!("{base}count = 3\ncuont = 4\n"), &files);
    assert!(e.contains("unknown field `cuont`"), "{e}");
    let e = select_error(&format!("{base}count = 0\n"), &files);
    assert!(e.contains("count = 0: expected a positive integer"), "{e}");
    let e = select_error("committee = [\"a\"]\ntrajectories = [\"md.extxyz\"]\ncount = 3\n", &files);
    assert!(e.contains("committee = [\"a\"]: expected at least 2 model directories"), "{e}");
    let e = select_error(&format!("{base}count = 3\nmax_force_spread_ev_per_a = -1\n"), &files);
    assert!(e.contains("max_force_spread_ev_per_a = -1: expected a number above"), "{e}");
    let e = select_error(&format!("{base}count = 3\nevery = 0\n"), &files);
    assert!(e.contains("every = 0: expected a positive integer"), "{e}");
    let e =
        select_error("committee = [\"a\", \"b\"]\ntrajectories = [\"md.extxyz\", \"gone.h5\"]\ncount = 3\n", &files);
    assert!(e.contains("trajectories[1] = \"gone.h5\"") && e.contains("not found"), "{e}");
    let e = select_error(&format!("{base}count = 3\n"), &["a/", "md.extxyz"]);
    assert!(e.contains("committee[1] = \"b\"") && e.contains("is not a directory"), "{e}");
    // Existing but empty model directories: the n2p2 loader names the missing file.
    let e = select_error(&format!("{base}count = 3\n"), &files);
    assert!(e.contains("committee") && e.contains("input.nn"), "{e}");
}

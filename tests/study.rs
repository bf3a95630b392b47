//! Whole studies through the `mdrun` binary: a melt–quench with EAM copper run straight, and the same run
//! interrupted mid-stage and continued with `--restart`, must end bit-identical.

mod common;

use std::path::{Path, PathBuf};

/// The melt–quench study on EAM copper, written into `dir`; `None` when the shared potential is absent.
fn study(dir: &Path) -> Option<PathBuf> {
    let eam = Path::new(env!("CARGO_MANIFEST_DIR")).join(common::reference(common::CU_EAM)?);
    let structure = Path::new(env!("CARGO_MANIFEST_DIR")).join("inputs/cu-fcc.vasp");
    let text = format!(
        r#"
[system]
structure = "{}"
supercell = [3, 3, 3]
seed = 7

[potential]
kind = "eam"
file = "{}"

[[stage]]
kind = "md"
timestep_fs = 2.0
thermostat = {{ kind = "langevin", damping_fs = 100 }}
initial_temperature_k = 1500
schedule = [{{ temperature_k = 1500, steps = 300 }}, {{ from_k = 1500, to_k = 300, steps = 300 }}]
thermo_every = 50
trajectory_every = 25
trajectory_formats = ["h5md", "extxyz"]
checkpoint_every = 100

[[stage]]
kind = "md"
timestep_fs = 2.0
thermostat = {{ kind = "csvr", damping_fs = 100 }}
temperature_k = 300
steps = 200
checkpoint_every = 50

[[stage]]
kind = "single_point"
"#,
        structure.display(),
        eam.display()
    );
    let path = dir.join("study.toml");
    std::fs::write(&path, text).unwrap();
    Some(path)
}

#[test]
fn interrupted_study_continued_with_restart_ends_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let Some(input) = study(dir.path()) else { return };
    let input = input.to_str().unwrap();
    let straight = dir.path().join("straight");
    let pieces = dir.path().join("pieces");
    common::mdrun_ok(&["-q", input, "-o", straight.to_str().unwrap()]);

    // Interrupted at step 250 of the first stage (last checkpoint at 200), then at step 130 of the second.
    let out = common::mdrun_ok(&["-q", input, "-o", pieces.to_str().unwrap(), "--stop-after-step", "250"]);
    assert!(out.contains("0 stage(s) completed"), "{out}");
    let summary = std::fs::read_to_string(pieces.join("summary.json")).unwrap();
    assert!(summary.contains("\"interrupted\""), "{summary}");
    common::mdrun_ok(&["-q", input, "-o", pieces.to_str().unwrap(), "--restart", "--stop-after-step", "130"]);
    common::mdrun_ok(&["-q", input, "-o", pieces.to_str().unwrap(), "--restart"]);

    for file in [
        "00-md/final.xyz",
        "00-md/thermo.csv",
        "00-md/trajectory.xyz",
        "01-md/final.xyz",
        "01-md/thermo.csv",
        "02-single_point/structure.xyz",
    ] {
        let a = std::fs::read(straight.join(file)).unwrap();
        let b = std::fs::read(pieces.join(file)).unwrap();
        assert!(a == b, "{file} differs between the straight and the restarted run");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(pieces.join("summary.json")).unwrap()).unwrap();
    let stages = summary["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3);
    assert!(stages.iter().all(|s| s["status"] == "completed"));

    // Restarting the finished run reruns nothing and keeps every stage's record, twice over.
    for _ in 0..2 {
        common::mdrun_ok(&["-q", input, "-o", pieces.to_str().unwrap(), "--restart"]);
        let again: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(pieces.join("summary.json")).unwrap()).unwrap();
        assert_eq!(again["stages"], summary["stages"]);
    }
}

#[test]
fn check_validates_the_shipped_example() {
    if common::reference(common::CU_EAM).is_none() {
        return;
    }
    let out = common::mdrun_ok(&["check", "inputs/cu-melt-quench.toml"]);
    assert_eq!(out.trim(), "inputs/cu-melt-quench.toml: valid (256 atoms, potential eam, 4 stages)");
}

/// A quick Lennard-Jones argon study in `dir` (its structure copied beside it), `edit` applied to the text.
fn argon_study(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let structure = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/argon-fcc.xyz");
    std::fs::copy(structure, dir.join("argon-fcc.xyz")).unwrap();
    let text = r#"
[system]
structure = "argon-fcc.xyz"
supercell = [2, 2, 2]
seed = 1

[potential]
kind = "lj"
cutoff = 8.5
pairs = [{ species = ["Ar", "Ar"], epsilon = 0.0103, sigma = 3.405 }]

[[stage]]
kind = "md"
timestep_fs = 2.0
steps = 60
temperature_k = 60
initial_temperature_k = 60
thermostat = { kind = "nose-hoover", damping_fs = 100 }
checkpoint_every = 20

[[stage]]
kind = "single_point"
"#;
    let path = dir.join("study.toml");
    std::fs::write(&path, edit(text.to_string())).unwrap();
    path
}

#[test]
fn restart_refuses_a_run_made_by_a_different_study() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run = run.to_str().unwrap();
    let input = argon_study(dir.path(), |t| t);
    let input = input.to_str().unwrap();
    common::mdrun_ok(&["-q", input, "-o", run, "--stop-after-step", "30"]);
    let refused = |edit: &dyn Fn(String) -> String, change: &str| {
        argon_study(dir.path(), edit);
        let err = common::mdrun_err(&["-q", input, "-o", run, "--restart"]);
        let expected = format!("{run}/summary.json: the run in {run} belongs to a different study: {change}");
        assert!(err.contains(&expected), "expected «{expected}», got «{err}»");
    };
    refused(&|t| t.replace("temperature_k = 60\ninitial", "temperature_k = 70\ninitial"), "stage[0] changed");
    refused(&|t| t.replace("cutoff = 8.5", "cutoff = 8.0"), "[potential] or one of its files changed");
    refused(&|t| t.replace("[2, 2, 2]", "[2, 2, 3]"), "[system] or its structure file changed");
    let structure = dir.path().join("argon-fcc.xyz");
    let moved = std::fs::read_to_string(&structure).unwrap().replacen("Ar 0", "Ar 0.01", 1);
    argon_study(dir.path(), |t| t);
    std::fs::write(&structure, moved).unwrap();
    let err = common::mdrun_err(&["-q", input, "-o", run, "--restart"]);
    assert!(err.contains("[system] or its structure file changed"), "{err}");

    // The same study, reformatted and with a stage appended, continues.
    argon_study(dir.path(), |t| {
        t.replace("cutoff = 8.5", "cutoff   =   8.50  # Å") + "\n[[stage]]\nkind = \"single_point\"\n"
    });
    let out = common::mdrun_ok(&["-q", input, "-o", run, "--restart"]);
    assert!(out.contains("3 stage(s) completed"), "{out}");
}

#[test]
fn outputs_are_not_written_through_links_nor_read_outside_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = argon_study(dir.path(), |t| t);
    let input = input.to_str().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();

    // A link planted where thermo.csv goes.
    let run = dir.path().join("run-a");
    std::fs::create_dir_all(run.join("00-md")).unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), run.join("00-md/thermo.csv")).unwrap();
    let err = common::mdrun_err(&["-q", input, "-o", run.to_str().unwrap()]);
    assert!(err.contains("00-md/thermo.csv: is a symbolic link: outputs are never written through links"), "{err}");
    assert!(!outside.join("victim").exists());

    // A stage folder that is a link, and a link at summary.json.tmp.
    let run = dir.path().join("run-b");
    std::fs::create_dir_all(&run).unwrap();
    std::os::unix::fs::symlink(&outside, run.join("00-md")).unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), run.join("summary.json.tmp")).unwrap();
    let err = common::mdrun_err(&["-q", input, "-o", run.to_str().unwrap()]);
    assert!(err.contains("00-md: is a symbolic link"), "{err}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "something was written outside the run");

    // A summary.json edited to send a stage's folder outside the run folder.
    let run = dir.path().join("run-c");
    let run = run.to_str().unwrap();
    common::mdrun_ok(&["-q", input, "-o", run]);
    let summary = std::path::Path::new(run).join("summary.json");
    let text = std::fs::read_to_string(&summary).unwrap().replace("\"00-md\"", "\"../outside\"");
    std::fs::write(&summary, text).unwrap();
    let err = common::mdrun_err(&["-q", input, "-o", run, "--restart"]);
    assert!(err.contains("stage 0 (md) has directory \"../outside\": expected its own folder \"00-md\""), "{err}");
}

#[test]
fn a_blow_up_at_the_start_points_at_the_timestep_masses_and_temperature() {
    let dir = tempfile::tempdir().unwrap();
    let input = argon_study(dir.path(), |t| t.replace("seed = 1", "seed = 1\nmasses = { Ar = 1e-6 }"));
    let run = dir.path().join("run");
    let err = common::mdrun_err(&["-q", input.to_str().unwrap(), "-o", run.to_str().unwrap()]);
    assert!(err.contains("MD blew up at step 10 (t = 20 fs): the potential energy is inf"), "{err}");
    assert!(
        err.contains(
            "so soon after the start, check timestep_fs (2 fs), the lightest mass (1e-6 amu of Ar; system.masses) \
             and initial_temperature_k (60 K) before the potential"
        ),
        "{err}"
    );
    assert!(run.join("00-md").join("thermo.csv").exists());
}

#[test]
fn restart_refuses_a_run_whose_stage_input_file_changed() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run = run.to_str().unwrap();
    let with_load =
        |t: String| t.replacen("[[stage]]", "[[stage]]\nkind = \"load\"\nstructure = \"start.xyz\"\n\n[[stage]]", 1);
    let input = argon_study(dir.path(), with_load);
    let start = dir.path().join("start.xyz");
    std::fs::copy(dir.path().join("argon-fcc.xyz"), &start).unwrap();
    common::mdrun_ok(&["-q", input.to_str().unwrap(), "-o", run, "--stop-after-step", "30"]);
    let moved = std::fs::read_to_string(&start).unwrap().replacen("Ar 0", "Ar 0.01", 1);
    std::fs::write(&start, moved).unwrap();
    let err = common::mdrun_err(&["-q", input.to_str().unwrap(), "-o", run, "--restart"]);
    assert!(err.contains("belongs to a different study: stage[0] changed"), "{err}");
}

/// A relaxation shows its progress as it goes: a row every `log_every` steps and the outcome on the screen
/// (here redirected, as a background run's log), and `relax_log.csv` with every step.
#[test]
fn a_relaxation_prints_its_progress_and_logs_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let input = argon_study(dir.path(), |text| {
        text.replace("steps = 60", "steps = 20")
            + "\n[[stage]]\nkind = \"relax\"\nrelax_cell = true\nfmax_ev_per_a = 1e-4\nlog_every = 5\n"
    });
    let run = dir.path().join("run");
    let stdout = common::mdrun_ok(&[input.to_str().unwrap(), "-o", run.to_str().unwrap()]);
    let log = std::fs::read_to_string(run.join("02-relax/relax_log.csv")).unwrap();
    let steps: Vec<usize> = log.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(steps, (0..steps.len()).collect::<Vec<_>>(), "{log}");
    let relax = &stdout[stdout.find("== stage 2 (relax)").unwrap()..stdout.find("relax: ").unwrap()];
    let rows: Vec<&str> = relax.lines().filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit())).collect();
    let printed: Vec<usize> = rows.iter().filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect();
    assert!(stdout.contains("step        energy (eV)    fmax (eV/Å)  volume (Å³)"), "{stdout}");
    assert_eq!(printed, (0..steps.len()).step_by(5).collect::<Vec<_>>(), "{stdout}");
    let last = steps.len() - 1;
    assert!(stdout.contains(&format!("relax: converged after {last} steps")), "{stdout}");
}

//! Whole studies through the `mdrun` binary: a melt–quench with EAM copper run straight, and the same run
//! interrupted mid-stage and continued with `--restart`, must end bit-identical.

mod common;

use std::path::{Path, PathBuf};

const EAM: &str = "../shared/reference/eam/Cu_u3.eam";

fn study(dir: &Path) -> PathBuf {
    let eam = Path::new(env!("CARGO_MANIFEST_DIR")).join(EAM);
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
    path
}

fn mdrun(args: &[&str]) -> String {
    let output = common::mdrun().args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "mdrun {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[test]
fn interrupted_study_continued_with_restart_ends_bit_identical() {
    if common::reference(EAM).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = study(dir.path());
    let input = input.to_str().unwrap();
    let straight = dir.path().join("straight");
    let pieces = dir.path().join("pieces");
    mdrun(&["-q", input, "-o", straight.to_str().unwrap()]);

    // Interrupted at step 250 of the first stage (last checkpoint at 200), then at step 130 of the second.
    let out = mdrun(&["-q", input, "-o", pieces.to_str().unwrap(), "--stop-after-step", "250"]);
    assert!(out.contains("0 stage(s) completed"), "{out}");
    let summary = std::fs::read_to_string(pieces.join("summary.json")).unwrap();
    assert!(summary.contains("\"interrupted\""), "{summary}");
    mdrun(&["-q", input, "-o", pieces.to_str().unwrap(), "--restart", "--stop-after-step", "130"]);
    mdrun(&["-q", input, "-o", pieces.to_str().unwrap(), "--restart"]);

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
        mdrun(&["-q", input, "-o", pieces.to_str().unwrap(), "--restart"]);
        let again: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(pieces.join("summary.json")).unwrap()).unwrap();
        assert_eq!(again["stages"], summary["stages"]);
    }
}

#[test]
fn check_validates_the_shipped_example() {
    if common::reference(EAM).is_none() {
        return;
    }
    let out = mdrun(&["check", "inputs/cu-melt-quench.toml"]);
    assert_eq!(out.trim(), "inputs/cu-melt-quench.toml: valid (256 atoms, potential eam, 4 stages)");
}

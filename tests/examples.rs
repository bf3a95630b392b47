//! The studies shipped in inputs/ run to the end through the `mdrun` binary, and their key numbers are right.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const EAM: &str = "../shared/reference/eam/Cu_u3.eam";

fn run(input: &str) -> Option<Value> {
    if !Path::new(EAM).exists() {
        eprintln!("skipped: {EAM} not found (../shared is absent)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mdrun"))
        .args(["-q", input, "-o", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{input}: {}", String::from_utf8_lossy(&output.stderr));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap()).unwrap();
    assert!(summary["stages"].as_array().unwrap().iter().all(|s| s["status"] == "completed"), "{summary}");
    Some(summary)
}

#[test]
fn cu_melt_quench() {
    let Some(summary) = run("inputs/cu-melt-quench.toml") else { return };
    let stages = summary["stages"].as_array().unwrap();
    let perfect = stages[0]["result"]["energy_ev"].as_f64().unwrap();
    assert!((perfect / -906.24000058 - 1.0).abs() < 1e-8, "perfect-crystal energy {perfect}");
    let quench = &stages[1]["result"];
    assert!((quench["final_temperature_k"].as_f64().unwrap() - 300.0).abs() < 60.0, "{quench}");
    let nve = &stages[2]["result"];
    assert!(nve["conserved_energy_drift_ev_per_atom"].as_f64().unwrap().abs() < 1e-4, "{nve}");
    let rdf = &stages[3]["result"]["trajectories"][0]["rdf"]["pairs"][0];
    let coordination = rdf["coordination_number"].as_f64().unwrap();
    assert!((11.0..13.5).contains(&coordination), "Cu–Cu coordination {coordination} of the quenched glass");
}

#[test]
fn cu_vacancy_kmc() {
    let Some(summary) = run("inputs/cu-vacancy-kmc.toml") else { return };
    let stages = summary["stages"].as_array().unwrap();
    let barrier = stages[0]["result"]["mean_barrier_ev"].as_f64().unwrap();
    assert!((barrier - 0.6707).abs() < 2e-3, "NEB barrier {barrier}");
    let fit = &stages[1]["result"]["arrhenius"];
    let (ea, sigma) =
        (fit["activation_energy_ev"].as_f64().unwrap(), fit["activation_energy_err_ev"].as_f64().unwrap());
    assert!((ea - barrier).abs() < 3.0 * sigma + 0.005, "kMC E_a {ea} ± {sigma} against the barrier {barrier}");
    let vacancy = &stages[2]["result"];
    let unrelaxed = vacancy["unrelaxed_formation_energy_ev"].as_f64().unwrap();
    assert!((unrelaxed - 1.3165).abs() < 1e-4, "unrelaxed E_f {unrelaxed} against LAMMPS 1.3165 eV");
    let relaxed = vacancy["formation_energy_ev"].as_f64().unwrap();
    assert!((relaxed - 1.2847).abs() < 1e-3, "relaxed E_f {relaxed}");
}

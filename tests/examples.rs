//! The studies shipped in inputs/ run to the end through the `mdrun` binary, and their key numbers are right.

mod common;

use serde_json::Value;

const EAM: &str = "../shared/reference/eam/Cu_u3.eam";
const GAMMA_LI3PO4: &str = "../shared/reference/structures/gamma_Li3PO4_mp-2878.vasp";

/// Runs `input` when the file of ../shared it needs is present; its summary.json, every stage completed.
fn run(input: &str, needs: &str) -> Option<Value> {
    common::reference(needs)?;
    let dir = tempfile::tempdir().unwrap();
    let output = common::mdrun().args(["-q", input, "-o", dir.path().to_str().unwrap()]).output().unwrap();
    assert!(output.status.success(), "{input}: {}", String::from_utf8_lossy(&output.stderr));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap()).unwrap();
    assert!(summary["stages"].as_array().unwrap().iter().all(|s| s["status"] == "completed"), "{summary}");
    Some(summary)
}

#[test]
fn cu_melt_quench() {
    let Some(summary) = run("inputs/cu-melt-quench.toml", EAM) else { return };
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
    let Some(summary) = run("inputs/cu-vacancy-kmc.toml", EAM) else { return };
    let stages = summary["stages"].as_array().unwrap();
    let barrier = stages[0]["result"]["mean_barrier_ev"].as_f64().unwrap();
    assert!((barrier - 0.6707).abs() < 2e-3, "NEB barrier {barrier}");
    let fit = &stages[1]["result"]["arrhenius"];
    let (ea, sigma) =
        (fit["activation_energy_ev"].as_f64().unwrap(), fit["activation_energy_sigma_ev"].as_f64().unwrap());
    assert!((ea - barrier).abs() < 3.0 * sigma + 0.005, "kMC E_a {ea} ± {sigma} against the barrier {barrier}");
    let vacancy = &stages[2]["result"];
    let unrelaxed = vacancy["unrelaxed_formation_energy_ev"].as_f64().unwrap();
    assert!((unrelaxed - 1.3165).abs() < 1e-4, "unrelaxed E_f {unrelaxed} against LAMMPS 1.3165 eV");
    let relaxed = vacancy["formation_energy_ev"].as_f64().unwrap();
    assert!((relaxed - 1.2847).abs() < 1e-3, "relaxed E_f {relaxed}");
}

#[test]
fn gamma_li3po4_vacancy_hops() {
    let Some(summary) = run("inputs/g-li3po4-vacancy.toml", GAMMA_LI3PO4) else { return };
    let stages = summary["stages"].as_array().unwrap();
    let migration = &stages[1]["result"];
    // Pnma puts the 48 Li of the 2×2×1 cell on 32 8d and 16 4c sites; the 208 Li pairs within 4 Å of the relaxed
    // crystal (the longest 3.94 Å with the shipped potential) fall into 8 classes of symmetry-equivalent hops.
    assert_eq!(migration["hops"], 208, "{migration}");
    assert_eq!(migration["computed_paths"], 8, "{migration}");
    assert_eq!(migration["converged"], true);
    let vacancies = stages[2]["result"]["vacancies"].as_array().unwrap();
    let formation = |multiplicity: u64| {
        let class = vacancies.iter().find(|v| v["multiplicity"] == multiplicity).expect("a class of this size");
        class["formation_energy_ev"].as_f64().unwrap()
    };
    assert_eq!(vacancies.len(), 2);
    // The 4c vacancy lies below the 8d one by the same amount in the NEB end points (relaxed by the migration stage)
    // and in the vacancy stage's own relaxations.
    let site_gap = formation(16) - formation(32);
    let paths = migration["paths"].as_array().unwrap();
    let end_point_gaps: Vec<f64> = paths
        .iter()
        .map(|p| p["neb"]["initial_energy_ev"].as_f64().unwrap() - p["neb"]["final_energy_ev"].as_f64().unwrap())
        .filter(|gap| gap.abs() > 0.05)
        .collect();
    assert!(!end_point_gaps.is_empty());
    for gap in end_point_gaps {
        assert!((gap.abs() - site_gap.abs()).abs() < 0.01 && site_gap < 0.0, "{gap} against {site_gap}");
    }
    // Long-range vacancy diffusion needs more than the lowest barrier and no more than the highest.
    let ea = stages[3]["result"]["arrhenius"]["activation_energy_ev"].as_f64().unwrap();
    let (lowest, highest) =
        (migration["min_barrier_ev"].as_f64().unwrap(), migration["max_barrier_ev"].as_f64().unwrap());
    assert!(lowest < ea && ea < highest, "kMC E_a {ea} outside [{lowest}, {highest}]");
}

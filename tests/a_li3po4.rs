//! The a-Li3PO4 study (inputs/a-li3po4.toml) runs every stage through the `mdrun` binary on the shipped Li–P–O
//! potential: the same file with the same stages, shrunk (128-atom cell, a few steps each) so that it finishes
//! in well under a minute. Checks the plumbing between stages: the branch back to the glass, the removed Li2O,
//! the vacancy handed to the migration stage, the barriers handed to the kMC, the trajectories handed to the
//! analysis and every number handed to the report.

mod common;

use serde_json::Value;
use std::path::Path;
use toml::{Table, Value as Toml};

const INPUT: &str = "inputs/a-li3po4.toml";
const POTENTIAL: &str = "inputs/li3po4-nnp/input.nn";
const STRUCTURE: &str = "../shared/reference/structures/gamma_Li3PO4_mp-2878.vasp";

fn set(stage: &mut Table, key: &str, value: impl Into<Toml>) {
    stage.insert(key.into(), value.into());
}

/// The default study with the same stages, but a 2×2×1 cell and a few steps in each stage.
fn shrunk(study: &str, root: &Path) -> String {
    let mut table: Table = study.parse().unwrap();
    let system = table["system"].as_table_mut().unwrap();
    set(system, "supercell", vec![2, 2, 1]);
    set(system, "structure", root.join(STRUCTURE).display().to_string());
    let network = &mut table["potential"]["terms"][0];
    assert_eq!(network["kind"].as_str(), Some("nnp"), "the study's first potential term is the network");
    set(network.as_table_mut().unwrap(), "directory", root.join("inputs/li3po4-nnp").display().to_string());
    for stage in table["stage"].as_array_mut().unwrap() {
        let stage = stage.as_table_mut().unwrap();
        match stage["kind"].as_str().unwrap() {
            "md" if stage.contains_key("schedule") => {
                let schedule: Table = toml::from_str(
                    "s = [{ temperature_k = 6000, steps = 10 }, { from_k = 6000, to_k = 300, steps = 20 }]",
                )
                .unwrap();
                stage.insert("schedule".into(), schedule["s"].clone());
            }
            "md" => {
                set(stage, "duration_ps", 0.12);
                set(stage, "trajectory_every", 2);
            }
            "relax" => set(stage, "max_steps", 15),
            "vacancy" => {
                set(stage, "max_steps", 15);
                set(stage, "reference_structure", root.join("inputs/li-bcc.vasp").display().to_string());
            }
            "migration" => {
                // Enough steps for the endpoints to relax: an unrelaxed end above the band gives a negative
                // barrier, which the kMC refuses.
                set(stage, "max_steps", 40);
                set(stage, "images", 1);
                set(stage, "hop_cutoff_a", 3.0);
            }
            "kmc" => {
                set(stage, "events", 20_000);
                set(stage, "blocks", 100);
                let network = stage["network"].as_table_mut().unwrap();
                set(network, "hop_cutoff_a", 3.0);
                set(network, "supercell", vec![1, 1, 1]);
            }
            "analyze" => {
                set(stage, "skip_ps", 0.02);
                set(stage, "fit_start_ps", 0.01);
                set(stage, "fit_end_ps", 0.05);
                stage["vdos"].as_table_mut().unwrap().insert("max_lag_ps".into(), 0.04.into());
            }
            _ => {}
        }
    }
    toml::to_string(&table).unwrap()
}

#[test]
fn every_stage_of_the_study_runs_on_the_shipped_potential() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if [POTENTIAL, STRUCTURE].iter().any(|needed| common::reference(needed).is_none()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a-li3po4-small.toml");
    std::fs::write(&input, shrunk(&std::fs::read_to_string(root.join(INPUT)).unwrap(), root)).unwrap();
    let output_dir = dir.path().join("run");
    let output = common::mdrun().args([input.to_str().unwrap(), "-o", output_dir.to_str().unwrap()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(output_dir.join("summary.json")).unwrap()).unwrap();
    let stages = summary["stages"].as_array().unwrap();
    let kinds: Vec<&str> = stages.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    let expected_kinds = "single_point md md md relax single_point vacancy migration kmc load remove md load md load \
                          md load md load md analyze report";
    assert_eq!(kinds.join(" "), expected_kinds);
    assert!(stages.iter().all(|s| s["status"] == "completed"), "{summary}");
    let result = |i: usize| &stages[i]["result"];

    // The glass: 128 atoms; its density at 300 K and 1 atm (the second NPT stage) and relaxed at zero pressure,
    // those of a plausible oxide.
    assert_eq!([&stages[2]["result"]["barostat"], &result(3)["barostat"]], ["c-rescale", "c-rescale"]);
    let density_300k = result(3)["mean_density_g_per_cm3"].as_f64().unwrap();
    assert!((1.0..5.0).contains(&density_300k), "glass density at 300 K {density_300k}");
    assert_eq!(result(5)["atoms"], 128);
    let density = result(5)["density_g_per_cm3"].as_f64().unwrap();
    assert!((1.0..5.0).contains(&density), "glass density {density}");
    // A vacancy at each of the 48 Li sites; the lowest-E_f one is the vacancy of the migration stage, whose hops
    // all end there.
    let vacancies = result(6)["vacancies"].as_array().unwrap();
    assert_eq!(vacancies.len(), 48);
    assert!(vacancies.iter().all(|v| v["species"] == "Li" && v["multiplicity"] == 1));
    let formation = |v: &Value| v["formation_energy_ev"].as_f64().unwrap();
    let lowest = vacancies.iter().map(formation).fold(f64::INFINITY, f64::min);
    assert_eq!(result(6)["formation_energy_ev"].as_f64(), Some(lowest));
    let mean = result(6)["mean_formation_energy_ev"].as_f64().unwrap();
    assert!((mean - vacancies.iter().map(formation).sum::<f64>() / 48.0).abs() < 1e-9);
    let hops = result(7)["hops"].as_u64().unwrap();
    assert!(hops >= 1, "{}", result(7));
    let barriers = std::fs::read_to_string(output_dir.join("07-migration/barriers.csv")).unwrap();
    let rows: Vec<&str> = barriers.lines().filter(|l| !l.starts_with('#') && !l.starts_with("path_id")).collect();
    assert_eq!(rows.len() as u64, hops);
    let vacancy_site = 127; // the vacant site is appended as the last atom of the 128-site perfect structure
    assert!(rows.iter().all(|r| r.split(',').nth(3) == Some(&vacancy_site.to_string())), "{barriers}");
    // kMC on every Li pair of the glass, with the vacancy energies of stage 6 and E_KRA drawn from those rows.
    let kmc = result(8);
    assert_eq!(kmc["barrier_sampling"]["model"], "kra");
    // (unconverged rows whose band lies below an end point are left out of the samples)
    let samples = kmc["barrier_sampling"]["samples"].as_u64().unwrap();
    assert!((1..=hops).contains(&samples), "{samples} samples of {hops} rows");
    assert_eq!(kmc["sites"].as_u64(), Some(48));
    assert_eq!(kmc["temperatures"].as_array().unwrap().len(), 5);
    // Back to the glass, minus one Li2O, for every MD temperature.
    assert_eq!(result(9)["atoms"], 128);
    assert_eq!(result(9)["from_stage"], 5);
    assert_eq!(result(10)["atoms_after"], 125);
    assert_eq!(
        (result(10)["removed_counts"]["Li"].as_u64(), result(10)["removed_counts"]["O"].as_u64()),
        (Some(2), Some(1))
    );
    for (k, md) in [11, 13, 15, 17, 19].into_iter().enumerate() {
        assert_eq!(stages[md]["kind"], "md");
        if k > 0 {
            assert_eq!(result(md - 1)["atoms"], 125);
        }
        assert!(output_dir.join(format!("{md:02}-md/trajectory.h5")).exists());
    }
    // The analysis saw five trajectories at the five temperatures, with 125 atoms each.
    let trajectories = result(20)["trajectories"].as_array().unwrap();
    let temperatures: Vec<f64> = trajectories.iter().map(|t| t["temperature_k"].as_f64().unwrap()).collect();
    assert_eq!(temperatures, [600.0, 700.0, 800.0, 1000.0, 1200.0]);
    assert!(trajectories.iter().all(|t| t["atoms"] == 125));
    // The report holds every row, with our numbers where the source has one, equal to the source.
    let report = result(21);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 33);
    let row = |name: &str| rows.iter().find(|r| r["quantity"] == name).unwrap();
    assert_eq!(row("atoms in the glass")["ours"], 128.0);
    assert_eq!(
        row("density of the glass at 300 K and 1 atm (NPT, mean over 6 ps)")["ours"].as_f64(),
        Some(density_300k)
    );
    assert_eq!(row("Li hops into the vacancy (NEB paths)")["ours"].as_f64(), Some(hops as f64));
    assert_eq!(
        row("Li vacancy formation energy, lowest site (mu_Li from bcc Li)")["ours"],
        result(6)["formation_energy_ev"]
    );
    assert_eq!(
        row("kMC network: mean hop barrier (both directions, with site energies)")["ours"],
        kmc["barrier_sampling"]["mean_hop_barrier_ev"]
    );
    assert_eq!(row("kMC activation energy (vacancy)")["ours"], kmc["arrhenius"]["activation_energy_ev"]);
    assert_eq!(
        row("mean NEB barrier of the reverse hops (out of the vacancy site)")["ours"],
        result(7)["mean_reverse_barrier_ev"]
    );
    let alpha2 = &result(20)["trajectories"][0]["non_gaussian"][0];
    assert_eq!(
        row("Li non-Gaussian parameter alpha2, peak (600 K; 0 = Gaussian, > 0 = hops)")["ours"],
        alpha2["max_alpha2"]
    );
    let coordination = row("Li-O coordination (r < 2.6 A, 600 K)")["ours"].as_f64().unwrap();
    assert!((1.0..8.0).contains(&coordination), "Li–O coordination {coordination}");
    for file in ["comparison.csv", "comparison.md"] {
        assert!(output_dir.join("21-report").join(file).exists());
    }
    assert!(
        stdout.contains("| mean NEB barrier (hops into the vacancy) |"),
        "the table is printed at the end:\n{stdout}"
    );
    println!("{}", std::fs::read_to_string(output_dir.join("21-report/comparison.md")).unwrap());
}

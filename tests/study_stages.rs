//! The stages that connect a study (`load`, `remove`, `report`, migration `vacancy_position_a = "previous"`, kMC
//! `barrier_assignment = "sample"`) on EAM copper through the `mdrun` binary, where every number has an
//! independent check: all 12 nearest-neighbour hops into a vacancy of fcc Cu are equivalent, so their barriers
//! agree and a kMC on barriers drawn from them is the fcc lattice walk with that barrier (E_a = the barrier).

mod common;

use serde_json::Value;
use std::path::Path;

#[test]
fn vacancy_migration_sampled_kmc_branch_removal_and_report_on_copper() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if common::reference(common::CU_EAM).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[system]
structure = "{}"
supercell = [3, 3, 3]
seed = 5

[potential]
kind = "eam"
file = "{}"

[[stage]]
kind = "single_point"

[[stage]]
kind = "vacancy"
species = "Cu"
optimizer = "lbfgs"
fmax_ev_per_a = 0.005

[[stage]]
kind = "migration"
species = "Cu"
vacancy_position_a = "previous"
hop_cutoff_a = 2.8
deduplicate = false
images = 3
optimizer = "lbfgs"
fmax_ev_per_a = 0.01

[[stage]]
kind = "kmc"
carriers = {{ count = 1 }}
track_ions = false
temperatures_k = [600, 900, 1200]
events = 300000
blocks = 1000

[stage.network]
kind = "barrier_table"
path = "{{output}}/02-migration/barriers.csv"
structure = "{{output}}/02-migration/migration_structure.extxyz"
barrier_assignment = "sample"
hop_cutoff_a = 2.8
supercell = [2, 2, 2]

[[stage]]
kind = "load"
from_stage = 0

[[stage]]
kind = "remove"
formula = "Cu"
count = 3

[[stage]]
kind = "report"
title = "copper"

[[stage.compare]]
quantity = "mean barrier"
from = "migration.mean_barrier_ev"
unit = "eV"
paper = "0.6707 (4x4x4, docs/neb.md)"

[[stage.compare]]
quantity = "atoms after removal"
from = "remove.atoms_after"

[[stage.arrhenius]]
label = "kMC vacancy"
from = "kmc.temperatures"
value = "tracer.d_a2_per_ps"
sigma = "tracer.d_err_a2_per_ps"
"#,
        root.join("inputs/cu-fcc.vasp").display(),
        root.join(common::CU_EAM).display()
    );
    let input = dir.path().join("cu.toml");
    std::fs::write(&input, text).unwrap();
    let output_dir = dir.path().join("run");
    common::mdrun_ok(&["-q", input.to_str().unwrap(), "-o", output_dir.to_str().unwrap()]);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(output_dir.join("summary.json")).unwrap()).unwrap();
    let stages = summary["stages"].as_array().unwrap();
    assert!(stages.iter().all(|s| s["status"] == "completed"), "{summary}");
    let result = |i: usize| &stages[i]["result"];

    // The vacancy's site (fcc sites do not fill in on relaxation) is where the migration stage put it.
    let vacancy = &result(1)["vacancies"][0];
    assert_eq!(vacancy["removed_positions_a"], vacancy["relaxed_vacancy_positions_a"]);
    let migration = result(2);
    assert_eq!(migration["hops"], 12);
    let (mean, low, high) = (
        migration["mean_barrier_ev"].as_f64().unwrap(),
        migration["min_barrier_ev"].as_f64().unwrap(),
        migration["max_barrier_ev"].as_f64().unwrap(),
    );
    assert!(high - low < 0.01, "equivalent hops: {low}..{high} eV");
    assert!((mean - 0.6707).abs() < 0.02, "mean barrier {mean} eV (4x4x4 cell: 0.6707 eV)");
    // In a crystal both ends of a vacancy hop are the same state: reverse barriers equal forward ones.
    let reverse = migration["mean_reverse_barrier_ev"].as_f64().unwrap();
    assert!((reverse - mean).abs() < 0.01, "mean reverse barrier {reverse} eV, forward {mean} eV");

    // Sampled network on the 108 sites × 8: 12 hops per site, barriers from the table; E_a = the barrier.
    let kmc = result(3);
    assert_eq!(kmc["sites"], 864);
    assert_eq!(kmc["hops"], 864 * 12);
    assert_eq!(kmc["barrier_sampling"]["samples"], 12);
    let fit = &kmc["arrhenius"];
    let (ea, sigma) =
        (fit["activation_energy_ev"].as_f64().unwrap(), fit["activation_energy_sigma_ev"].as_f64().unwrap());
    println!("12 hops, barriers {low:.4}..{high:.4} eV, mean {mean:.4} eV; sampled-network kMC E_a = {ea:.4} ± {sigma:.4} eV");
    assert!((ea - mean).abs() < 3.0 * sigma + 0.01, "kMC E_a {ea} ± {sigma} against the barrier {mean}");

    // Branch back to the perfect crystal, three atoms out, and the report's numbers are their sources'.
    assert_eq!((result(4)["atoms"].as_u64(), result(4)["from_stage"].as_u64()), (Some(108), Some(0)));
    assert_eq!(result(5)["atoms_after"], 105);
    let density = result(0)["density_g_per_cm3"].as_f64().unwrap();
    assert!((density - 8.9345).abs() < 1e-3, "fcc Cu density {density}");
    let report = result(6);
    assert_eq!(report["rows"][0]["ours"], migration["mean_barrier_ev"]);
    assert_eq!(report["rows"][1]["ours"], 105.0);
    let series_ea = report["arrhenius"][0]["activation_energy_ev"].as_f64().unwrap();
    assert!((series_ea - ea).abs() < 1e-9, "the report refits the same points: {series_ea} vs {ea}");
    for file in ["comparison.csv", "comparison.md", "arrhenius.svg"] {
        assert!(output_dir.join("06-report").join(file).exists(), "{file}");
    }
}

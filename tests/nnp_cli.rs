//! `mdrun eval` (the engine's nnp-predict) against n2p2 on every shared reference case, through the binary:
//! energies to 1e-10 relative and forces to 1e-8 in the potential's own units. H2O_RPBE-D3 (Bohr, Hartree) is run
//! with `length_unit = "bohr"`, `energy_unit = "hartree"` on a structure converted to Å, so the conversion to
//! the engine's Å/eV is checked end to end; the other cases are evaluated in their own units (unit sizes 1).
//! Each case's own `input.data` is evaluated too: n2p2 files are read in the potential's length unit.

mod common;

use mdrun::io::{extxyz, n2p2};
use mdrun::units::{BOHR_IN_A, HARTREE_IN_EV};
use std::path::Path;

fn data_rows(path: &Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(|t| t.parse::<f64>().unwrap()).collect())
        .collect()
}

#[test]
fn mdrun_eval_matches_nnp_predict_on_every_case() {
    let Some(root) = common::reference("../shared/reference/n2p2") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<_> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("input.nn").exists()).collect();
    cases.sort();
    for case in cases {
        let name = case.file_name().unwrap().to_str().unwrap().to_string();
        let (units, length, energy) =
            if name.starts_with("H2O") { ("\"bohr\"", BOHR_IN_A, HARTREE_IN_EV) } else { ("1.0", 1.0, 1.0) };
        let energy_unit = if name.starts_with("H2O") { "\"hartree\"" } else { "1.0" };
        let input = dir.path().join(format!("{name}.toml"));
        let absolute = std::fs::canonicalize(&case).unwrap();
        std::fs::write(
            &input,
            format!(
                "[potential]\nkind = \"nnp\"\ndirectory = \"{}\"\nlength_unit = {units}\nenergy_unit = {energy_unit}\n",
                absolute.display()
            ),
        )
        .unwrap();
        let mut system = n2p2::read(&case.join("input.data")).unwrap().remove(0).system;
        let cell = system.cell.deformed(&(nalgebra::Matrix3::identity() * length)).unwrap();
        system.cell = cell;
        for r in system.positions.iter_mut() {
            *r *= length;
        }
        let structure = dir.path().join(format!("{name}.xyz"));
        std::fs::write(&structure, extxyz::format_frame(&system, &Default::default())).unwrap();

        let output =
            common::mdrun().args(["eval", input.to_str().unwrap(), structure.to_str().unwrap()]).output().unwrap();
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        let printed = dir.path().join(format!("{name}-out.xyz"));
        std::fs::write(&printed, &output.stdout).unwrap();
        let frame = extxyz::read_frames(&printed).unwrap().remove(0);

        let reference_energy = data_rows(&case.join("energy.out"))[0][3];
        let energy_native = frame.info_f64("energy").unwrap() / energy;
        let relative = ((energy_native - reference_energy) / reference_energy).abs();
        assert!(relative < 1e-10, "{name}: energy {energy_native} vs n2p2 {reference_energy} ({relative:.1e})");
        let forces = frame.forces.unwrap();
        let mut worst: f64 = 0.0;
        for row in data_rows(&case.join("nnforces.out")) {
            let i = row[1] as usize - 1;
            for k in 0..3 {
                worst = worst.max((forces[i][k] * length / energy - row[5 + k]).abs());
            }
        }
        assert!(worst < 1e-8, "{name}: largest force deviation {worst:.2e} (potential units)");
        // Per-atom energies: n2p2's nnatoms.out leaves out the element offsets and the mean energy, which cancel
        // in the difference between two atoms of one element; and ours add up to the total.
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.lines().nth(1).unwrap().contains(":energies:R:1"), "{name}: no energies column");
        let ours: Vec<f64> = text
            .lines()
            .skip(2)
            .map(|l| l.split_whitespace().last().unwrap().parse::<f64>().unwrap() / energy)
            .collect();
        let total: f64 = ours.iter().sum();
        assert!(((total - energy_native) / energy_native).abs() < 1e-12, "{name}: energies sum {total}");
        let reference: Vec<(u32, f64)> =
            data_rows(&case.join("nnatoms.out")).iter().map(|row| (row[2] as u32, row[6])).collect();
        let mut worst_atom: f64 = 0.0;
        for (i, &(z, e)) in reference.iter().enumerate() {
            let first = reference.iter().position(|&(y, _)| y == z).unwrap();
            let expected = e - reference[first].1;
            worst_atom = worst_atom.max((ours[i] - ours[first] - expected).abs());
        }
        assert!(worst_atom < 1e-9, "{name}: per-atom energy differences off by {worst_atom:.2e} (potential units)");
        println!("{name}: energy deviation {relative:.1e} relative, forces {worst:.1e}");

        // The case's own input.data, in the potential's units (bohr for H2O), gives the same energy.
        let own = case.join("input.data");
        let output = common::mdrun().args(["eval", input.to_str().unwrap(), own.to_str().unwrap()]).output().unwrap();
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        std::fs::write(&printed, &output.stdout).unwrap();
        let frame = extxyz::read_frames(&printed).unwrap().remove(0);
        let from_input_data = frame.info_f64("energy").unwrap() / energy;
        let relative = ((from_input_data - reference_energy) / reference_energy).abs();
        assert!(relative < 1e-10, "{name}: input.data energy {from_input_data} vs n2p2 {reference_energy}");
    }
}

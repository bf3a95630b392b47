//! Parity with n2p2's `nnp-predict` on every case of `../shared/reference/n2p2/` (see README.txt there):
//! total energy to 1e-10 relative and every force component to 1e-8 absolute, in the potential's own
//! units (the potential is loaded with unit sizes 1, and input.data coordinates are used as they are).

mod common;

use mdrun::io::n2p2;
use mdrun::neighbors::NeighborList;
use mdrun::potentials::nnp::NnpPotential;
use mdrun::potentials::Potential;
use std::path::Path;

fn data_rows(path: &Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(|t| t.parse::<f64>().unwrap()).collect())
        .collect()
}

#[test]
fn every_reference_case_matches_n2p2() {
    let Some(root) = common::reference("../shared/reference/n2p2") else { return };
    let mut cases: Vec<_> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("input.nn").exists()).collect();
    cases.sort();
    assert!(!cases.is_empty(), "no reference case found in {}", root.display());
    for case in cases {
        let potential = NnpPotential::load_directory(&case, 1.0, 1.0).unwrap_or_else(|e| panic!("{e}"));
        let structure = n2p2::read(&case.join("input.data")).unwrap().remove(0);
        let system = structure.system;
        let mut neighbors = NeighborList::new(potential.cutoff(), 0.0);
        neighbors.build(&system).unwrap();
        let evaluation = potential.compute(&system, &neighbors).unwrap();

        let energy = data_rows(&case.join("energy.out"));
        let reference_energy = energy[0][3];
        let relative = ((evaluation.energy - reference_energy) / reference_energy).abs();
        println!(
            "{}: E = {:.12e}, n2p2 {:.12e}, relative deviation {relative:.2e}",
            case.display(),
            evaluation.energy,
            reference_energy
        );
        assert!(relative < 1e-10, "{}: energy {} vs n2p2 {reference_energy}", case.display(), evaluation.energy);

        let forces = data_rows(&case.join("nnforces.out"));
        assert_eq!(forces.len(), system.len(), "{}", case.display());
        let mut worst: f64 = 0.0;
        for row in &forces {
            let i = row[1] as usize - 1;
            for k in 0..3 {
                worst = worst.max((evaluation.forces[i][k] - row[5 + k]).abs());
            }
        }
        println!("{}: largest force deviation {worst:.2e}", case.display());
        assert!(worst < 1e-8, "{}: force deviation {worst}", case.display());

        let extrapolation = evaluation.extrapolation.as_ref().unwrap();
        println!("{}: extrapolation warnings {:?}", case.display(), extrapolation.counts);
    }
}

/// The sorted symmetry-function table printed by n2p2 (`nnp-predict.log`, column `ln` = input.nn line) must
/// list the functions in the same order as the potential holds them.
#[test]
fn symmetry_function_order_matches_the_n2p2_log() {
    let Some(root) = common::reference("../shared/reference/n2p2") else { return };
    for entry in std::fs::read_dir(&root).unwrap() {
        let case = entry.unwrap().path();
        if !case.join("nnp-predict.log").exists() {
            continue;
        }
        let potential = NnpPotential::load_directory(&case, 1.0, 1.0).unwrap();
        let log = std::fs::read_to_string(case.join("nnp-predict.log")).unwrap();
        let mut tables: Vec<Vec<usize>> = Vec::new();
        let mut lines = log.lines();
        while let Some(line) = lines.next() {
            if !line.starts_with("Short range atomic symmetry functions element") {
                continue;
            }
            // Skip the three header lines, read rows until the closing rule.
            let rows: Vec<usize> = lines
                .by_ref()
                .skip(3)
                .take_while(|l| !l.starts_with("---"))
                .map(|l| l.split_whitespace().last().unwrap().parse().unwrap())
                .collect();
            tables.push(rows);
        }
        assert_eq!(tables.len(), potential.elements().len(), "{}", case.display());
        for (table, element) in tables.iter().zip(potential.elements()) {
            let ours: Vec<usize> = element.functions.iter().map(|f| f.line).collect();
            assert_eq!(&ours, table, "{}: element {}", case.display(), element.atomic_number);
        }
    }
}

//! The shipped Li–P–O potential, as the study uses it (the `[potential]` of inputs/a-li3po4.toml: the network in
//! inputs/li3po4-nnp plus the ZBL core repulsion), against CHGNet 0.3.0 on frames of default study runs that no
//! training structure came from: inputs/li3po4-nnp/training/validation-*.extxyz.xz, made by
//! `scripts/study_frames.py` and labelled by `scripts/chgnet_label.py`.
//!
//! Checks two things: the errors stay within what issue 8 asks of the potential on the study's structures
//! (energies within 6 meV/atom, forces within 200 meV/Å), and they are the numbers the potential's README reports
//! (computed there with `scripts/nnp_errors.py` through `mdrun eval`), so weights, report and engine stay in step.
//! Energy error: RMS over structures of (E_potential − E_CHGNet)/N; force error: RMS over every force component.

mod common;

use mdrun::potentials::Evaluator;
use mdrun::study::{build_potential, settings::load_potential};
use mdrun::train::dataset::{read_labelled, DataFormat};
use std::io::{BufReader, Write};
use std::path::Path;

const STUDY: &str = "inputs/a-li3po4.toml";
const FRAMES: &str = "inputs/li3po4-nnp/training";

/// Errors of the study's potential on one compressed file of labelled frames.
struct Errors {
    structures: usize,
    energy_rmse_mev_per_atom: f64,
    force_rmse_mev_per_a: f64,
}

fn errors(file: &str) -> Errors {
    let compressed = Path::new(FRAMES).join(file);
    let mut input =
        BufReader::new(std::fs::File::open(&compressed).unwrap_or_else(|e| panic!("{}: {e}", compressed.display())));
    let mut text = Vec::new();
    lzma_rs::xz_decompress(&mut input, &mut text).unwrap_or_else(|e| panic!("{}: {e:?}", compressed.display()));
    let mut frames = tempfile::Builder::new().suffix(".extxyz").tempfile().unwrap();
    frames.write_all(&text).unwrap();
    let labelled = read_labelled(frames.path(), DataFormat::Extxyz, 1.0, 1.0).unwrap();

    let potential = build_potential(&load_potential(Path::new(STUDY)).unwrap()).unwrap();
    let mut evaluator = Evaluator::new(potential, 0.0);
    let (mut energy_squares, mut force_squares, mut components) = (0.0, 0.0, 0usize);
    for structure in &labelled {
        let evaluation = evaluator.evaluate(&structure.system).unwrap();
        let atoms = structure.system.len() as f64;
        energy_squares += ((evaluation.energy - structure.energy) / atoms * 1e3).powi(2);
        for (force, reference) in evaluation.forces.iter().zip(&structure.forces) {
            force_squares += ((force - reference) * 1e3).norm_squared();
            components += 3;
        }
    }
    Errors {
        structures: labelled.len(),
        energy_rmse_mev_per_atom: (energy_squares / labelled.len() as f64).sqrt(),
        force_rmse_mev_per_a: (force_squares / components as f64).sqrt(),
    }
}

/// `file`, its frame count, and the energy (meV/atom) and force (meV/Å) errors of the README's tables.
fn check(file: &str, structures: usize, energy_rmse: f64, force_rmse: f64) {
    let errors = errors(file);
    println!(
        "{file}: {} structures, energy RMSE {:.3} meV/atom, force RMSE {:.2} meV/Å",
        errors.structures, errors.energy_rmse_mev_per_atom, errors.force_rmse_mev_per_a
    );
    assert_eq!(errors.structures, structures, "{file}: frame count");
    assert!(errors.energy_rmse_mev_per_atom < 6.0, "{file}: energies farther than 6 meV/atom from CHGNet");
    assert!(errors.force_rmse_mev_per_a < 200.0, "{file}: forces farther than 200 meV/Å from CHGNet");
    assert!(
        (errors.energy_rmse_mev_per_atom - energy_rmse).abs() < 0.01,
        "{file}: energy RMSE {:.3} meV/atom, the README reports {energy_rmse}",
        errors.energy_rmse_mev_per_atom
    );
    assert!(
        (errors.force_rmse_mev_per_a - force_rmse).abs() < 0.1,
        "{file}: force RMSE {:.2} meV/Å, the README reports {force_rmse}",
        errors.force_rmse_mev_per_a
    );
}

#[test]
fn follows_chgnet_on_the_frames_of_its_own_study_run() {
    check("validation-own-run-frames.extxyz.xz", 66, 4.27, 146.4);
}

#[test]
fn follows_chgnet_on_the_frames_of_study_runs_with_other_potentials() {
    check("validation-study-frames.extxyz.xz", 64, 3.29, 153.2);
    check("validation-own-run-frames-w1000.extxyz.xz", 64, 4.62, 150.7);
    check("validation-own-run-frames-w300.extxyz.xz", 66, 3.93, 140.4);
    check("validation-own-run-frames-w100.extxyz.xz", 68, 5.20, 171.1);
}

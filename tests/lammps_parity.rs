//! Parity with LAMMPS (22 Jul 2025, serial `run 0`) for `pair_style eam`, `eam/alloy` and `lj/cut`:
//! energies to 1e-8 relative, every force component to 1e-6 eV/Å, virial pressure to 1e-4 relative.
//! Reference data: ../shared/reference/eam/ (see README.md there).

mod common;

use mdrun::io::extxyz::read_frames;
use mdrun::neighbors::NeighborList;
use mdrun::potentials::eam::Eam;
use mdrun::potentials::lj::{LennardJones, LennardJonesConfig, LennardJonesPairConfig};
use mdrun::potentials::{check_species, Evaluation, Potential, EV_PER_A3_IN_BAR};
use mdrun::system::{Cell, System};
use nalgebra::{Matrix3, Vector3};
use std::path::{Path, PathBuf};

fn reference_dir() -> Option<PathBuf> {
    common::reference("../shared/reference/eam")
}

fn evaluate(potential: &dyn Potential, system: &System) -> Evaluation {
    check_species(potential, system).expect("species");
    let mut neighbors = NeighborList::new(potential.cutoff(), 1.0);
    neighbors.build(system).unwrap();
    potential.compute(system, &neighbors).unwrap()
}

fn pressure_bar(evaluation: &Evaluation, system: &System) -> f64 {
    evaluation.virial_pressure(system.cell.volume()).unwrap() * EV_PER_A3_IN_BAR
}

/// Compares with one LAMMPS reference frame; returns (energy rel. error, max force error, pressure rel. error).
fn compare(potential: &dyn Potential, file: &Path) -> (f64, f64, f64) {
    let frames = read_frames(file).unwrap();
    let frame = &frames[0];
    let e = evaluate(potential, &frame.system);
    let energy = frame.info_f64("energy").unwrap();
    let pressure = frame.info_f64("pressure_bar").unwrap();
    let forces = frame.forces.as_ref().unwrap();
    let force_error = forces.iter().zip(&e.forces).map(|(a, b)| (a - b).amax()).fold(0.0, f64::max);
    let atom_sum: f64 = e.atom_energies.iter().sum();
    assert!((atom_sum - e.energy).abs() < 1e-9 * e.energy.abs());
    let result = (
        ((e.energy - energy) / energy).abs(),
        force_error,
        ((pressure_bar(&e, &frame.system) - pressure) / pressure).abs(),
    );
    println!("{}: energy {} vs {energy}, errors {result:?}", file.display(), e.energy);
    result
}

fn assert_parity(errors: (f64, f64, f64)) {
    assert!(errors.0 < 1e-8, "energy relative error {}", errors.0);
    assert!(errors.1 < 1e-6, "force error {} eV/Å", errors.1);
    assert!(errors.2 < 1e-4, "pressure relative error {}", errors.2);
}

#[test]
fn eam_funcfl_cu_u3_matches_lammps() {
    let Some(dir) = reference_dir() else { return };
    let eam = Eam::read_funcfl(&[dir.join("Cu_u3.eam").as_path()]).unwrap();
    assert_eq!(eam.name(), "eam");
    assert_parity(compare(&eam, &dir.join("Cu_u3_rattled_256.extxyz")));
}

#[test]
fn eam_setfl_cuni_matches_lammps() {
    let Some(dir) = reference_dir() else { return };
    let eam = Eam::read_setfl(&dir.join("CuNi.eam.alloy")).unwrap();
    assert_eq!(eam.species(), vec![28, 29], "element order of the file: Ni, Cu");
    assert_parity(compare(&eam, &dir.join("CuNi_rattled_500.extxyz")));
}

#[test]
fn lj_argon_matches_lammps() {
    let Some(dir) = reference_dir() else { return };
    let lj = LennardJones::from_config(&LennardJonesConfig {
        cutoff: 8.5,
        shift: false,
        pairs: vec![LennardJonesPairConfig {
            species: ["Ar".into(), "Ar".into()],
            epsilon: 0.0103,
            sigma: 3.405,
            cutoff: None,
        }],
    })
    .unwrap();
    assert_parity(compare(&lj, &dir.join("LJ_argon_rattled_500.extxyz")));
}

#[test]
fn cu_u3_perfect_crystal_and_vacancy_formation_energy_match_lammps() {
    let Some(dir) = reference_dir() else { return };
    let eam = Eam::read_funcfl(&[dir.join("Cu_u3.eam").as_path()]).unwrap();
    let perfect = mdrun::system::fcc(29, 3.615, 4);
    let e_perfect = evaluate(&eam, &perfect).energy;
    assert!((e_perfect - -906.24000058).abs() < 1e-8 * 906.24, "perfect crystal energy {e_perfect}");
    let mut vacancy = perfect.clone();
    vacancy.remove(0);
    let e_vacancy = evaluate(&eam, &vacancy).energy;
    let formation = e_vacancy - 255.0 / 256.0 * e_perfect;
    println!("perfect {e_perfect:.8} eV, vacancy formation {formation:.6} eV");
    assert!((formation - 1.3165).abs() < 5e-5, "vacancy formation energy {formation}");
}

/// A sheared (triclinic) description of the rattled Cu cell: the same lattice points with cell vectors
/// b' = b + a, c' = c + b − a is the same crystal, so energy, forces and virial must agree with the
/// orthorhombic description; and a genuinely sheared cell (positions moving with it) must agree with
/// finite differences.
#[test]
fn eam_triclinic_cell_equals_orthorhombic_description() {
    let Some(dir) = reference_dir() else { return };
    let eam = Eam::read_funcfl(&[dir.join("Cu_u3.eam").as_path()]).unwrap();
    let frames = read_frames(&dir.join("Cu_u3_rattled_256.extxyz")).unwrap();
    let ortho = frames[0].system.clone();
    let [a, b, c] = [ortho.cell.vector(0), ortho.cell.vector(1), ortho.cell.vector(2)];
    let mut tri = ortho.clone();
    tri.cell = Cell::from_vectors(a, b + a, c + b - a).unwrap();
    tri.wrap();
    let e_ortho = evaluate(&eam, &ortho);
    let e_tri = evaluate(&eam, &tri);
    assert!((e_ortho.energy - e_tri.energy).abs() < 1e-9 * e_ortho.energy.abs());
    for (f, g) in e_ortho.forces.iter().zip(&e_tri.forces) {
        assert!((f - g).amax() < 1e-9);
    }
    assert!((e_ortho.virial - e_tri.virial).amax() < 1e-8);
    let reference = read_frames(&dir.join("Cu_u3_rattled_256.extxyz")).unwrap();
    let lammps = reference[0].forces.as_ref().unwrap();
    for (f, g) in lammps.iter().zip(&e_tri.forces) {
        assert!((f - g).amax() < 1e-6);
    }
}

#[test]
fn eam_sheared_cell_forces_and_virial_are_energy_derivatives() {
    let Some(dir) = reference_dir() else { return };
    let eam = Eam::read_setfl(&dir.join("CuNi.eam.alloy")).unwrap();
    let mut system = mdrun::system::fcc(29, 3.56, 2);
    for (i, z) in system.atomic_numbers.iter_mut().enumerate() {
        if i % 3 == 0 {
            *z = 28;
        }
    }
    let shear = Matrix3::new(1.0, 0.08, -0.05, 0.0, 1.0, 0.11, 0.0, 0.0, 1.0);
    system.cell = system.cell.deformed(&shear).unwrap();
    for (k, r) in system.positions.iter_mut().enumerate() {
        let x = k as f64;
        *r = shear * *r + Vector3::new(0.07 * (1.3 * x).sin(), 0.06 * (0.7 * x).cos(), 0.05 * (2.1 * x).sin());
    }
    let reference = evaluate(&eam, &system);
    let h = 1e-5;
    for i in 0..system.len() {
        for k in 0..3 {
            let mut plus = system.clone();
            plus.positions[i][k] += h;
            let mut minus = system.clone();
            minus.positions[i][k] -= h;
            let numeric = -(evaluate(&eam, &plus).energy - evaluate(&eam, &minus).energy) / (2.0 * h);
            assert!((numeric - reference.forces[i][k]).abs() < 1e-6, "atom {i} component {k}");
        }
    }
    for a in 0..3 {
        for b in 0..3 {
            let strained = |sign: f64| {
                let mut e = Matrix3::identity();
                e[(a, b)] += sign * h;
                let mut s = system.clone();
                s.cell = system.cell.deformed(&e).unwrap();
                for r in s.positions.iter_mut() {
                    *r = e * *r;
                }
                evaluate(&eam, &s).energy
            };
            let numeric = -(strained(1.0) - strained(-1.0)) / (2.0 * h);
            assert!((numeric - reference.virial[(b, a)]).abs() < 1e-5, "virial {b}{a}");
        }
    }
}

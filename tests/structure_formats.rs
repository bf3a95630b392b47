//! Every structure format the engine reads gives the same atoms: own readers (POSCAR, extended XYZ, n2p2) and
//! chemfiles (CIF, LAMMPS data with numeric types mapped to elements by mass).

mod common;

use mdrun::io::read_structure;
use nalgebra::Vector3;
use std::path::Path;

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

#[test]
fn cif_through_chemfiles() {
    let s = read_structure(&data("nacl.cif")).unwrap();
    assert_eq!(s.atomic_numbers, vec![11, 17]);
    assert!((s.cell.volume() - 5.64f64.powi(3)).abs() < 1e-9);
    assert!((s.positions[1] - Vector3::new(2.82, 2.82, 2.82)).norm() < 1e-12);
}

#[test]
fn lammps_data_through_chemfiles_with_elements_from_masses() {
    let s = read_structure(&data("cu-fcc-half.data")).unwrap();
    assert_eq!(s.atomic_numbers, vec![29, 29]);
    assert!((s.masses[0] - 63.546).abs() < 1e-12);
    assert!((s.positions[1] - Vector3::new(1.8075, 1.8075, 0.0)).norm() < 1e-12);
    assert!((s.cell.volume() - 3.615f64.powi(3)).abs() < 1e-9);
}

#[test]
fn poscar_and_extended_xyz_agree() {
    let poscar = read_structure(Path::new(&format!("{}/inputs/cu-fcc.vasp", env!("CARGO_MANIFEST_DIR")))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let xyz = dir.path().join("cu.xyz");
    mdrun::io::write_structure(&xyz, &poscar).unwrap();
    let again = read_structure(&xyz).unwrap();
    assert_eq!(again.atomic_numbers, poscar.atomic_numbers);
    assert_eq!(again.positions, poscar.positions);
    assert_eq!(again.cell, poscar.cell);
}

#[test]
fn missing_and_unknown_formats_name_the_file() {
    let err = read_structure(Path::new("no/such/file.cif")).unwrap_err().to_string();
    assert_eq!(err, "no/such/file.cif: cannot open: no such file");
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("structure.unknownext");
    std::fs::write(&odd, "hello").unwrap();
    let err = read_structure(&odd).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}: chemfiles: ", odd.display())), "{err}");
}

//! Every structure format the engine reads gives the same atoms: own readers (POSCAR, extended XYZ, n2p2,
//! LAMMPS data, checked against chemfiles' reader) and chemfiles (CIF).

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

/// chemfiles' own LAMMPS data reader, the independent reference for ours: positions as written (ours start
/// the cell at the origin), velocities as written (Å/ps; ours are Å/fs).
fn chemfiles_lammps_data(path: &Path) -> chemfiles::Frame {
    let mut trajectory = chemfiles::Trajectory::open_with_format(path, 'r', "LAMMPS Data").unwrap();
    let mut frame = chemfiles::Frame::new();
    trajectory.read(&mut frame).unwrap();
    frame
}

#[test]
fn lammps_data_matches_chemfiles() {
    for (name, origin) in [("cu-fcc-half.data", [0.0; 3]), ("li2o-triclinic.data", [-0.5, 0.25, 1.0])] {
        let ours = read_structure(&data(name)).unwrap();
        let reference = chemfiles_lammps_data(&data(name));
        assert_eq!(ours.len(), reference.size(), "{name}");
        let matrix = reference.cell().matrix();
        for (r, c) in (0..3).flat_map(|r| (0..3).map(move |c| (r, c))) {
            assert!((ours.cell.matrix()[(r, c)] - matrix[c][r]).abs() < 1e-14, "{name}: cell[{r}][{c}]");
        }
        let velocities = reference.velocities();
        for i in 0..ours.len() {
            let atom = reference.atom(i);
            assert!((ours.masses[i] - atom.mass()).abs() < 1e-12, "{name}: atom {i}");
            let expected = Vector3::from(reference.positions()[i]) - Vector3::from(origin);
            assert!((ours.positions[i] - expected).norm() < 1e-14, "{name}: atom {i}");
            if let Some(v) = velocities {
                assert!((ours.velocities[i] * 1000.0 - Vector3::from(v[i])).norm() < 1e-14, "{name}: atom {i}");
            }
        }
    }
    let li2o = read_structure(&data("li2o-triclinic.data")).unwrap();
    assert_eq!(li2o.atomic_numbers, vec![8, 8, 3, 3, 3, 3]);
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

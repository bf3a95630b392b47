//! Crystal lattices built from their conventional cells.

use super::{Cell, System};
use nalgebra::Vector3;

/// Face-centred cubic crystal of one element: `n`×`n`×`n` conventional cells of edge `a` (Å), 4 atoms each,
/// standard masses, images appended as [`System::supercell`] does.
pub fn fcc(atomic_number: u8, a: f64, n: usize) -> System {
    let mut unit = System::new(Cell::orthorhombic(a, a, a).expect("fcc lattice constant must be positive"));
    for f in [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]] {
        unit.push(atomic_number, Vector3::new(f[0], f[1], f[2]) * a);
    }
    unit.supercell([n, n, n])
}

#[cfg(test)]
mod tests {
    #[test]
    fn fcc_has_four_atoms_per_cell_and_nearest_neighbours_at_a_over_root_two() {
        let s = super::fcc(29, 3.615, 2);
        assert_eq!(s.len(), 32);
        let nearest = (1..s.len()).map(|j| s.displacement(0, j).norm()).fold(f64::INFINITY, f64::min);
        assert!((nearest - 3.615 / 2f64.sqrt()).abs() < 1e-12);
    }
}

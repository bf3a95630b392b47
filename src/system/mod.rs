//! The atomic system: a periodic cell and struct-of-arrays per-atom data.

mod cell;
pub mod elements;
mod lattice;

pub use cell::Cell;
pub use lattice::fcc;

use nalgebra::Vector3;

pub use crate::units::{AMU_A2_PER_FS2_IN_EV, BOLTZMANN_EV_PER_K};

/// How many copies `count · n_a · n_b · n_c` a repetition `repeat` makes of `count` atoms or sites, saturating
/// instead of overflowing, so that an absurd `supercell` or `repeat` can be refused with its size.
pub fn replicated_count(count: usize, repeat: [usize; 3]) -> u128 {
    repeat.iter().fold(count as u128, |n, &r| n.saturating_mul(r as u128))
}

/// Atoms in a cell. Positions in Å, velocities in Å/fs, masses in amu.
///
/// Positions need not lie inside the cell; `images` counts how many cell vectors were subtracted when a
/// position was wrapped, so `unwrapped = position + cell.shift(image)` is the continuous trajectory.
#[derive(Clone, Debug, PartialEq)]
pub struct System {
    pub cell: Cell,
    pub positions: Vec<Vector3<f64>>,
    pub velocities: Vec<Vector3<f64>>,
    pub atomic_numbers: Vec<u8>,
    pub masses: Vec<f64>,
    pub images: Vec<[i32; 3]>,
}

impl System {
    /// An empty system in `cell`.
    pub fn new(cell: Cell) -> System {
        System {
            cell,
            positions: Vec::new(),
            velocities: Vec::new(),
            atomic_numbers: Vec::new(),
            masses: Vec::new(),
            images: Vec::new(),
        }
    }

    /// Appends an atom at rest with the standard mass of its element.
    pub fn push(&mut self, atomic_number: u8, position: Vector3<f64>) {
        let mass = elements::standard_mass(atomic_number).unwrap_or(0.0);
        self.push_with_mass(atomic_number, position, mass);
    }

    /// Appends an atom at rest with a given mass (amu).
    pub fn push_with_mass(&mut self, atomic_number: u8, position: Vector3<f64>, mass: f64) {
        self.positions.push(position);
        self.velocities.push(Vector3::zeros());
        self.atomic_numbers.push(atomic_number);
        self.masses.push(mass);
        self.images.push([0; 3]);
    }

    /// Multiplies every length (cell and positions) by `factor`, e.g. the Å per bohr of a file in bohr; `None`
    /// (and the system unchanged) when `factor` is not positive and finite.
    pub fn scale_lengths(&mut self, factor: f64) -> Option<()> {
        if !(factor.is_finite() && factor > 0.0) {
            return None;
        }
        if !self.cell.is_infinite() {
            self.cell = Cell::from_matrix(self.cell.matrix() * factor, self.cell.periodic())?;
        }
        for p in &mut self.positions {
            *p *= factor;
        }
        Some(())
    }

    /// Number of atoms.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// True when the system holds no atom.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Chemical symbol of atom `i`.
    pub fn symbol(&self, i: usize) -> &'static str {
        elements::symbol(self.atomic_numbers[i])
    }

    /// The distinct atomic numbers present, sorted.
    pub fn species(&self) -> Vec<u8> {
        let mut z = self.atomic_numbers.clone();
        z.sort_unstable();
        z.dedup();
        z
    }

    /// Number of atoms of atomic number `z`.
    pub fn count(&self, z: u8) -> usize {
        self.atomic_numbers.iter().filter(|&&x| x == z).count()
    }

    /// Removes atom `i`, keeping the order of the others.
    pub fn remove(&mut self, i: usize) {
        self.positions.remove(i);
        self.velocities.remove(i);
        self.atomic_numbers.remove(i);
        self.masses.remove(i);
        self.images.remove(i);
    }

    /// Wraps every position into the cell, accumulating the subtracted cell vectors into `images`.
    pub fn wrap(&mut self) {
        for (r, image) in self.positions.iter_mut().zip(self.images.iter_mut()) {
            let (wrapped, shift) = self.cell.wrap(r);
            *r = wrapped;
            for k in 0..3 {
                // Saturating: an atom that has flown 2³¹ cells away (a blow-up, caught by the MD guards after
                // this step) must not overflow.
                image[k] = image[k].saturating_add(shift[k]);
            }
        }
    }

    /// Continuous (unwrapped) positions: position + images·cell.
    pub fn unwrapped_positions(&self) -> Vec<Vector3<f64>> {
        self.positions.iter().zip(&self.images).map(|(r, &image)| r + self.cell.shift(image)).collect()
    }

    /// Minimum-image displacement from atom `i` to atom `j`.
    pub fn displacement(&self, i: usize, j: usize) -> Vector3<f64> {
        self.cell.minimum_image(&(self.positions[j] - self.positions[i]))
    }

    /// The system repeated `n[k]` times along each lattice vector. Images are appended with the first
    /// index slowest (i, j, k order, each image holding all atoms in their original order), as ASE and
    /// n2p2's `supercell.py` do.
    pub fn supercell(&self, n: [usize; 3]) -> System {
        let mut out = System::new(self.cell.scaled(n));
        for i in 0..n[0] {
            for j in 0..n[1] {
                for k in 0..n[2] {
                    let shift = self.cell.shift([i as i32, j as i32, k as i32]);
                    for a in 0..self.len() {
                        out.push_with_mass(self.atomic_numbers[a], self.positions[a] + shift, self.masses[a]);
                        let last = out.len() - 1;
                        out.velocities[last] = self.velocities[a];
                    }
                }
            }
        }
        out
    }

    /// Kinetic energy ½ Σ m v² in eV.
    pub fn kinetic_energy(&self) -> f64 {
        0.5 * AMU_A2_PER_FS2_IN_EV
            * self.masses.iter().zip(&self.velocities).map(|(m, v)| m * v.norm_squared()).sum::<f64>()
    }

    /// Total mass (amu).
    pub fn total_mass(&self) -> f64 {
        self.masses.iter().sum()
    }

    /// Number of degrees of freedom: 3N − 3 when the total momentum is conserved (periodic systems), 3N otherwise.
    pub fn degrees_of_freedom(&self) -> usize {
        let n = 3 * self.len();
        if self.len() > 1 {
            n - 3
        } else {
            n
        }
    }

    /// Instantaneous temperature 2 K / (N_f k_B) in K.
    pub fn temperature(&self) -> f64 {
        let dof = self.degrees_of_freedom();
        if dof == 0 {
            return 0.0;
        }
        2.0 * self.kinetic_energy() / (dof as f64 * BOLTZMANN_EV_PER_K)
    }

    /// Total momentum Σ m v (amu·Å/fs).
    pub fn momentum(&self) -> Vector3<f64> {
        self.masses.iter().zip(&self.velocities).map(|(m, v)| *m * v).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supercell_orders_images_i_slowest() {
        let mut s = System::new(Cell::orthorhombic(2.0, 3.0, 4.0).unwrap());
        s.push(29, Vector3::new(0.1, 0.2, 0.3));
        s.push(28, Vector3::new(1.0, 1.0, 1.0));
        let big = s.supercell([2, 1, 3]);
        assert_eq!(big.len(), 12);
        assert_eq!(big.atomic_numbers[..4], [29, 28, 29, 28]);
        assert!((big.positions[2] - Vector3::new(0.1, 0.2, 4.3)).norm() < 1e-12);
        assert!((big.positions[6] - Vector3::new(2.1, 0.2, 0.3)).norm() < 1e-12);
        assert!((big.cell.volume() - 6.0 * 24.0).abs() < 1e-9);
    }

    #[test]
    fn wrap_keeps_unwrapped_positions() {
        let mut s = System::new(Cell::orthorhombic(2.0, 2.0, 2.0).unwrap());
        s.push(3, Vector3::new(-0.5, 4.5, 1.0));
        let before = s.unwrapped_positions();
        s.wrap();
        assert!((s.positions[0] - Vector3::new(1.5, 0.5, 1.0)).norm() < 1e-12);
        assert_eq!(s.images[0], [-1, 2, 0]);
        assert!((s.unwrapped_positions()[0] - before[0]).norm() < 1e-12);
    }

    #[test]
    fn kinetic_energy_unit_conversion() {
        // 1 amu moving at 1 Å/fs = 1e5 m/s: ½ m v² = 0.5 · 1.66054e-27 · 1e10 J = 51.82 eV.
        let mut s = System::new(Cell::infinite());
        s.push_with_mass(1, Vector3::zeros(), 1.0);
        s.velocities[0] = Vector3::new(1.0, 0.0, 0.0);
        assert!((s.kinetic_energy() - 51.821_348).abs() < 1e-4);
    }
}

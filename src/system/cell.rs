//! Periodic simulation cell, orthorhombic or triclinic.
//!
//! The cell is stored as a matrix whose **rows** are the lattice vectors a, b, c (Å), as in POSCAR and ASE.
//! Cartesian r and fractional s are related by r = sᵀ·H, i.e. r = s_a·a + s_b·b + s_c·c.

use nalgebra::{Matrix3, Vector3};

/// A simulation cell: lattice vectors and periodicity along each of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Rows are the lattice vectors a, b, c in Å.
    matrix: Matrix3<f64>,
    /// Inverse of `matrix` (zero matrix for an infinite, non-periodic cell).
    inverse: Matrix3<f64>,
    periodic: [bool; 3],
}

impl Cell {
    /// A periodic cell from its three lattice vectors (Å). Returns `None` when the vectors are (nearly) coplanar.
    pub fn from_vectors(a: Vector3<f64>, b: Vector3<f64>, c: Vector3<f64>) -> Option<Cell> {
        Cell::from_matrix(Matrix3::from_rows(&[a.transpose(), b.transpose(), c.transpose()]), [true; 3])
    }

    /// A cell from a matrix whose rows are the lattice vectors, with periodicity flags.
    pub fn from_matrix(matrix: Matrix3<f64>, periodic: [bool; 3]) -> Option<Cell> {
        let volume = matrix.determinant().abs();
        let scale = matrix.row(0).norm() * matrix.row(1).norm() * matrix.row(2).norm();
        if !(volume > 1e-10 * scale && volume.is_finite()) {
            return None;
        }
        let inverse = matrix.try_inverse()?;
        Some(Cell { matrix, inverse, periodic })
    }

    /// An orthorhombic periodic box with edge lengths `lx`, `ly`, `lz` (Å).
    pub fn orthorhombic(lx: f64, ly: f64, lz: f64) -> Option<Cell> {
        Cell::from_matrix(Matrix3::from_diagonal(&Vector3::new(lx, ly, lz)), [true; 3])
    }

    /// A cell with no periodicity and no box (isolated molecule or cluster).
    pub fn infinite() -> Cell {
        Cell { matrix: Matrix3::zeros(), inverse: Matrix3::zeros(), periodic: [false; 3] }
    }

    /// True for a cell without a box.
    pub fn is_infinite(&self) -> bool {
        self.periodic == [false; 3] && self.matrix == Matrix3::zeros()
    }

    /// Lattice vectors as rows (Å).
    pub fn matrix(&self) -> &Matrix3<f64> {
        &self.matrix
    }

    /// Lattice vector `k` (0 = a, 1 = b, 2 = c).
    pub fn vector(&self, k: usize) -> Vector3<f64> {
        self.matrix.row(k).transpose()
    }

    /// Periodicity along a, b, c.
    pub fn periodic(&self) -> [bool; 3] {
        self.periodic
    }

    /// True when periodic along all three lattice vectors.
    pub fn is_fully_periodic(&self) -> bool {
        self.periodic == [true; 3]
    }

    /// Volume in Å³ (0 for an infinite cell).
    pub fn volume(&self) -> f64 {
        self.matrix.determinant().abs()
    }

    /// Lengths of the lattice vectors |a|, |b|, |c|.
    pub fn lengths(&self) -> [f64; 3] {
        [self.vector(0).norm(), self.vector(1).norm(), self.vector(2).norm()]
    }

    /// Distances between opposite faces of the cell: V/|b×c|, V/|c×a|, V/|a×b|.
    /// A sphere of radius r fits in the cell without touching its own images iff 2r < every width.
    pub fn perpendicular_widths(&self) -> [f64; 3] {
        let (a, b, c) = (self.vector(0), self.vector(1), self.vector(2));
        let v = self.volume();
        [v / b.cross(&c).norm(), v / c.cross(&a).norm(), v / a.cross(&b).norm()]
    }

    /// Fractional coordinates of a Cartesian position.
    pub fn fractional(&self, r: &Vector3<f64>) -> Vector3<f64> {
        self.inverse.transpose() * r
    }

    /// Cartesian position of fractional coordinates.
    pub fn cartesian(&self, s: &Vector3<f64>) -> Vector3<f64> {
        self.matrix.transpose() * s
    }

    /// Cartesian translation of an integer image shift (n_a, n_b, n_c).
    pub fn shift(&self, image: [i32; 3]) -> Vector3<f64> {
        self.cartesian(&Vector3::new(image[0] as f64, image[1] as f64, image[2] as f64))
    }

    /// Wraps a position into the cell along periodic directions. Returns the wrapped position and the image
    /// (number of cell vectors subtracted), so that `r = wrapped + shift(image)`.
    pub fn wrap(&self, r: &Vector3<f64>) -> (Vector3<f64>, [i32; 3]) {
        if self.is_infinite() {
            return (*r, [0; 3]);
        }
        let mut s = self.fractional(r);
        let mut image = [0i32; 3];
        for k in 0..3 {
            if self.periodic[k] {
                let n = s[k].floor();
                s[k] -= n;
                // Guard against s == 1.0 after rounding of a tiny negative number.
                if s[k] >= 1.0 {
                    s[k] -= 1.0;
                    image[k] = n as i32 + 1;
                } else {
                    image[k] = n as i32;
                }
            }
        }
        (self.cartesian(&s), image)
    }

    /// Minimum-image convention for a displacement vector: the shortest periodic copy of `d` for cells whose
    /// perpendicular widths exceed twice |d|; for very skewed or small cells, the closest among the 27
    /// neighbouring images of the reduced vector.
    pub fn minimum_image(&self, d: &Vector3<f64>) -> Vector3<f64> {
        if self.is_infinite() {
            return *d;
        }
        let mut s = self.fractional(d);
        for k in 0..3 {
            if self.periodic[k] {
                s[k] -= s[k].round();
            }
        }
        let reduced = self.cartesian(&s);
        let mut best = reduced;
        let mut best_norm = reduced.norm_squared();
        let range = |k: usize| if self.periodic[k] { -1..=1 } else { 0..=0 };
        for i in range(0) {
            for j in range(1) {
                for k in range(2) {
                    let candidate = reduced + self.shift([i, j, k]);
                    let norm = candidate.norm_squared();
                    if norm < best_norm - 1e-12 {
                        best = candidate;
                        best_norm = norm;
                    }
                }
            }
        }
        best
    }

    /// The same cell repeated `n[k]` times along each lattice vector.
    pub fn scaled(&self, n: [usize; 3]) -> Cell {
        let mut matrix = self.matrix;
        for k in 0..3 {
            let row = matrix.row(k) * n[k] as f64;
            matrix.set_row(k, &row);
        }
        Cell::from_matrix(matrix, self.periodic).expect("a repeated valid cell is valid")
    }

    /// The cell deformed by x → (1 + ε)·x applied to every lattice vector (ε symmetric strain).
    pub fn deformed(&self, deformation: &Matrix3<f64>) -> Option<Cell> {
        Cell::from_matrix(self.matrix * deformation.transpose(), self.periodic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triclinic() -> Cell {
        Cell::from_vectors(Vector3::new(5.0, 0.0, 0.0), Vector3::new(1.5, 4.0, 0.0), Vector3::new(-1.0, 0.7, 6.0))
            .unwrap()
    }

    #[test]
    fn fractional_and_cartesian_are_inverse() {
        let cell = triclinic();
        let r = Vector3::new(1.2, -3.4, 7.9);
        let back = cell.cartesian(&cell.fractional(&r));
        assert!((back - r).norm() < 1e-12);
        assert!((cell.cartesian(&Vector3::new(1.0, 0.0, 0.0)) - cell.vector(0)).norm() < 1e-12);
    }

    #[test]
    fn wrap_returns_image_that_restores_position() {
        let cell = triclinic();
        let r = Vector3::new(-7.3, 12.1, 15.4);
        let (w, image) = cell.wrap(&r);
        let s = cell.fractional(&w);
        assert!((0..3).all(|k| (0.0..1.0).contains(&s[k])));
        assert!((w + cell.shift(image) - r).norm() < 1e-12);
    }

    #[test]
    fn perpendicular_widths_of_orthorhombic_box_are_edges() {
        let cell = Cell::orthorhombic(3.0, 4.0, 5.0).unwrap();
        assert_eq!(cell.perpendicular_widths(), [3.0, 4.0, 5.0]);
        assert!((cell.volume() - 60.0).abs() < 1e-12);
    }

    #[test]
    fn minimum_image_is_shortest_copy() {
        let cell = triclinic();
        let d = Vector3::new(4.6, 3.9, 5.5);
        let m = cell.minimum_image(&d);
        for i in -2..=2 {
            for j in -2..=2 {
                for k in -2..=2 {
                    assert!(m.norm() <= (d + cell.shift([i, j, k])).norm() + 1e-12);
                }
            }
        }
    }

    #[test]
    fn degenerate_cell_is_rejected() {
        let a = Vector3::new(1.0, 0.0, 0.0);
        assert!(Cell::from_vectors(a, 2.0 * a, Vector3::new(0.0, 0.0, 1.0)).is_none());
    }
}

//! Image-dependent pair potential (IDPP) interpolation: S. Smidstrup, A. Pedersen, K. Stokbro and
//! H. Jónsson, J. Chem. Phys. 140, 214106 (2014).
//!
//! For image k of n + 1 intervals the target distance of every pair is the linear interpolation of the
//! endpoint distances, d_ij^k = d_ij^0 + (k/(n+1))(d_ij^N − d_ij^0), and the image minimises
//!
//! S_k(R) = Σ_{i<j} w(d_ij) (d_ij^k − d_ij)²,   w(d) = 1/d⁴ (eq. 3–4),
//!
//! along a nudged elastic band on the S surface (as the paper and ASE do), starting from the linear
//! interpolation. Pairs are those within [`IDPP_CUTOFF`] in either endpoint (O(N) via the neighbour list);
//! distances use the image shift of each pair, so periodic paths are handled.

use super::band::ImageForces;
use crate::neighbors::NeighborList;
use crate::system::System;
use nalgebra::Vector3;
use rayon::prelude::*;
use std::collections::BTreeSet;

/// Pairs closer than this (Å) in either endpoint enter the IDPP objective.
pub const IDPP_CUTOFF: f64 = 6.0;

/// The IDPP objective of every moving image of a band.
pub struct Idpp {
    /// (i, j, shift) with d_ij = r_j − r_i + shift.
    pairs: Vec<(usize, usize, Vector3<f64>)>,
    initial_distances: Vec<f64>,
    final_distances: Vec<f64>,
    /// k/(n+1) for each moving image.
    fractions: Vec<f64>,
}

impl Idpp {
    /// The objective for `moving` images between `initial` and `final_state` (continuous positions).
    pub fn new(
        initial: &System,
        final_state: &System,
        moving: usize,
    ) -> Result<Idpp, crate::neighbors::NeighborListTooLarge> {
        let mut keys = BTreeSet::new();
        let mut pairs = Vec::new();
        for endpoint in [initial, final_state] {
            let mut list = NeighborList::new(IDPP_CUTOFF, 0.0);
            list.build(endpoint)?;
            for i in 0..endpoint.len() {
                for (&j, shift) in list.indices(i).iter().zip(list.shifts(i)) {
                    let j = j as usize;
                    if j <= i {
                        continue;
                    }
                    let key = (i, j, [0, 1, 2].map(|k| (shift[k] * 1e6).round() as i64));
                    if keys.insert(key) {
                        pairs.push((i, j, *shift));
                    }
                }
            }
        }
        let distance = |s: &System, &(i, j, shift): &(usize, usize, Vector3<f64>)| {
            (s.positions[j] - s.positions[i] + shift).norm()
        };
        let initial_distances = pairs.iter().map(|p| distance(initial, p)).collect();
        let final_distances = pairs.iter().map(|p| distance(final_state, p)).collect();
        let fractions = (1..=moving).map(|k| k as f64 / (moving + 1) as f64).collect();
        Ok(Idpp { pairs, initial_distances, final_distances, fractions })
    }

    /// S and its forces −∂S/∂r for one image at interpolation fraction `fraction`.
    pub fn image(&self, system: &System, fraction: f64) -> (f64, Vec<Vector3<f64>>) {
        let mut forces = vec![Vector3::zeros(); system.len()];
        let mut objective = 0.0;
        for (p, &(i, j, shift)) in self.pairs.iter().enumerate() {
            let target = self.initial_distances[p] + fraction * (self.final_distances[p] - self.initial_distances[p]);
            let d = system.positions[j] - system.positions[i] + shift;
            let r = d.norm();
            let difference = target - r;
            let weight = r.powi(-4);
            objective += weight * difference * difference;
            // dS/dr = −4 (t − r)²/r⁵ − 2 (t − r)/r⁴
            let ds_dr = -4.0 * difference * difference / r.powi(5) - 2.0 * difference * weight;
            let force_on_j = d * (-ds_dr / r);
            forces[j] += force_on_j;
            forces[i] -= force_on_j;
        }
        (objective, forces)
    }
}

impl ImageForces for Idpp {
    fn evaluate(&mut self, images: &[System]) -> anyhow::Result<Vec<(f64, Vec<Vector3<f64>>)>> {
        Ok(images
            .par_iter()
            .zip(self.fractions.par_iter())
            .map(|(system, &fraction)| self.image(system, fraction))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::Cell;

    #[test]
    fn idpp_forces_match_finite_differences() {
        let mut initial = System::new(Cell::orthorhombic(6.0, 6.5, 7.0).unwrap());
        for (k, z) in [(0.0, 3u8), (1.0, 3), (2.0, 8), (3.0, 8)] {
            initial.push(z, Vector3::new(0.5 + 1.3 * k, 0.3 * k * k, 1.0 + 0.7 * k));
        }
        let mut final_state = initial.clone();
        final_state.positions[1] += Vector3::new(1.2, -0.4, 0.3);
        let idpp = Idpp::new(&initial, &final_state, 3).unwrap();
        let mut image = initial.clone();
        image.positions[1] += Vector3::new(0.5, -0.1, 0.2);
        image.positions[3] += Vector3::new(-5.9, 0.1, 0.0);
        let (_, forces) = idpp.image(&image, 0.5);
        let h = 1e-6;
        for i in 0..image.len() {
            for k in 0..3 {
                let mut plus = image.clone();
                plus.positions[i][k] += h;
                let mut minus = image.clone();
                minus.positions[i][k] -= h;
                let numeric = -(idpp.image(&plus, 0.5).0 - idpp.image(&minus, 0.5).0) / (2.0 * h);
                assert!((numeric - forces[i][k]).abs() < 1e-6, "atom {i} axis {k}: {numeric} vs {}", forces[i][k]);
            }
        }
        // At the endpoints the targets are met exactly.
        assert!(idpp.image(&initial, 0.0).0 < 1e-20);
        assert!(idpp.image(&final_state, 1.0).0 < 1e-20);
    }
}

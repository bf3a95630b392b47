//! The elastic band: images, tangents, spring and climbing-image forces.
//!
//! For an intermediate image i with positions R_i (all atoms, 3N coordinates) and energy V_i, the
//! improved tangent of G. Henkelman and H. Jónsson, J. Chem. Phys. 113, 9978 (2000), eqs. 8–11:
//! τ⁺ = R_{i+1} − R_i, τ⁻ = R_i − R_{i−1};
//! τ = τ⁺ if V_{i+1} > V_i > V_{i−1}; τ = τ⁻ if V_{i+1} < V_i < V_{i−1}; otherwise, with
//! ΔV_max = max(|V_{i+1} − V_i|, |V_{i−1} − V_i|) and ΔV_min the smaller one,
//! τ = τ⁺ΔV_max + τ⁻ΔV_min if V_{i+1} > V_{i−1}, else τ⁺ΔV_min + τ⁻ΔV_max; then τ is normalised.
//!
//! The NEB force (eq. 12 and 5) is F_i = F_i^true − (F_i^true·τ)τ + k(|τ⁺| − |τ⁻|)τ. The climbing image
//! (G. Henkelman, B. P. Uberuaga and H. Jónsson, J. Chem. Phys. 113, 9901 (2000), eq. 5), the highest
//! intermediate image at each evaluation, feels no spring and the inverted parallel force:
//! F_climb = F^true − 2(F^true·τ)τ.
//!
//! Positions along the band are kept continuous (no wrapping): the final endpoint is brought to the
//! minimum image of every atom relative to the initial one before interpolation, so plain differences
//! R_{i+1} − R_i are the minimum-image path in a periodic cell.

use crate::optimize::Objective;
use crate::potentials::Evaluator;
use crate::system::System;
use nalgebra::Vector3;
use rayon::prelude::*;

/// Energies and true forces of a set of images.
pub trait ImageForces {
    /// Energy (eV) and forces (eV/Å) of every system in `images`, or the first image's failure.
    fn evaluate(&mut self, images: &[System]) -> anyhow::Result<Vec<(f64, Vec<Vector3<f64>>)>>;
}

/// One [`Evaluator`] per moving image, evaluated in parallel with rayon (results do not depend on the
/// number of threads: each image is evaluated on its own).
pub struct EvaluatorPool {
    pub evaluators: Vec<Evaluator>,
}

impl EvaluatorPool {
    /// `count` clones of `evaluator`.
    pub fn new(evaluator: &Evaluator, count: usize) -> EvaluatorPool {
        EvaluatorPool { evaluators: vec![evaluator.clone(); count] }
    }

    /// Force evaluations made by all evaluators of the pool (including any made before it was built).
    pub fn evaluations(&self) -> usize {
        self.evaluators.iter().map(|e| e.evaluations()).sum()
    }
}

impl ImageForces for EvaluatorPool {
    fn evaluate(&mut self, images: &[System]) -> anyhow::Result<Vec<(f64, Vec<Vector3<f64>>)>> {
        assert_eq!(images.len(), self.evaluators.len(), "one evaluator per moving image");
        self.evaluators
            .par_iter_mut()
            .zip(images.par_iter())
            .enumerate()
            .map(|(k, (evaluator, system))| {
                let evaluation = evaluator.evaluate(system).map_err(|e| anyhow::anyhow!("image {}: {e}", k + 1))?;
                Ok((evaluation.energy, evaluation.forces))
            })
            .collect()
    }
}

/// A chain of images from the initial to the final state (both included).
#[derive(Clone, Debug)]
pub struct Band {
    /// All images, endpoints included, with continuous positions.
    pub images: Vec<System>,
    /// Energy of every image (eV).
    pub energies: Vec<f64>,
    /// True forces on every image (eV/Å).
    pub forces: Vec<Vec<Vector3<f64>>>,
    /// NEB force on every image (zero on the endpoints), as of the last evaluation.
    pub neb_forces: Vec<Vec<Vector3<f64>>>,
    /// Spring constant k (eV/Å²).
    pub spring: f64,
    /// Whether the highest intermediate image climbs.
    pub climb: bool,
    /// The climbing image at the last evaluation.
    pub climbing_image: Option<usize>,
}

impl Band {
    /// A band of `images` (endpoints included) whose endpoints have the given energies and forces.
    pub fn new(
        images: Vec<System>,
        endpoint_energies: [f64; 2],
        endpoint_forces: [Vec<Vector3<f64>>; 2],
        spring: f64,
        climb: bool,
    ) -> Band {
        let count = images.len();
        assert!(count >= 3, "a band needs at least one intermediate image");
        let atoms = images[0].len();
        let mut energies = vec![f64::NAN; count];
        energies[0] = endpoint_energies[0];
        energies[count - 1] = endpoint_energies[1];
        let mut forces = vec![vec![Vector3::zeros(); atoms]; count];
        let [first, last] = endpoint_forces;
        forces[0] = first;
        forces[count - 1] = last;
        Band {
            images,
            energies,
            forces,
            neb_forces: vec![vec![Vector3::zeros(); atoms]; count],
            spring,
            climb,
            climbing_image: None,
        }
    }

    /// Number of intermediate (moving) images.
    pub fn moving(&self) -> usize {
        self.images.len() - 2
    }

    /// Flat coordinates of the moving images.
    pub fn coordinates(&self) -> Vec<f64> {
        self.images[1..self.images.len() - 1]
            .iter()
            .flat_map(|s| s.positions.iter().flat_map(|r| [r.x, r.y, r.z]))
            .collect()
    }

    /// Sets the positions of the moving images from flat coordinates.
    pub fn set_coordinates(&mut self, x: &[f64]) {
        let atoms = self.images[0].len();
        let count = self.images.len();
        for (image, chunk) in self.images[1..count - 1].iter_mut().zip(x.chunks(3 * atoms)) {
            for (r, c) in image.positions.iter_mut().zip(chunk.chunks(3)) {
                *r = Vector3::new(c[0], c[1], c[2]);
            }
        }
    }

    /// Evaluates the moving images and recomputes tangents and NEB forces.
    pub fn evaluate(&mut self, engine: &mut dyn ImageForces) -> anyhow::Result<()> {
        let count = self.images.len();
        let results = engine.evaluate(&self.images[1..count - 1])?;
        for (i, (energy, forces)) in results.into_iter().enumerate() {
            self.energies[i + 1] = energy;
            self.forces[i + 1] = forces;
        }
        self.update_neb_forces();
        Ok(())
    }

    /// Index of the highest intermediate image.
    pub fn highest_image(&self) -> usize {
        (1..self.images.len() - 1).max_by(|&a, &b| self.energies[a].total_cmp(&self.energies[b])).expect("at least one")
    }

    /// Normalised improved tangent at intermediate image `i`, and the lengths |τ⁺|, |τ⁻|.
    pub fn tangent(&self, i: usize) -> (Vec<Vector3<f64>>, f64, f64) {
        let (previous, current, next) = (&self.images[i - 1], &self.images[i], &self.images[i + 1]);
        let plus: Vec<Vector3<f64>> = next.positions.iter().zip(&current.positions).map(|(a, b)| a - b).collect();
        let minus: Vec<Vector3<f64>> = current.positions.iter().zip(&previous.positions).map(|(a, b)| a - b).collect();
        let (v_prev, v, v_next) = (self.energies[i - 1], self.energies[i], self.energies[i + 1]);
        let (weight_plus, weight_minus) = if v_next > v && v > v_prev {
            (1.0, 0.0)
        } else if v_next < v && v < v_prev {
            (0.0, 1.0)
        } else {
            let dv_max = (v_next - v).abs().max((v_prev - v).abs());
            let dv_min = (v_next - v).abs().min((v_prev - v).abs());
            if v_next > v_prev {
                (dv_max, dv_min)
            } else {
                (dv_min, dv_max)
            }
        };
        let mut tangent: Vec<Vector3<f64>> =
            plus.iter().zip(&minus).map(|(p, m)| p * weight_plus + m * weight_minus).collect();
        let mut norm = tangent.iter().map(|t| t.norm_squared()).sum::<f64>().sqrt();
        if norm == 0.0 {
            // Equal energies on both sides (weights zero): fall back to the central difference.
            tangent = plus.iter().zip(&minus).map(|(p, m)| p + m).collect();
            norm = tangent.iter().map(|t| t.norm_squared()).sum::<f64>().sqrt();
        }
        tangent.iter_mut().for_each(|t| *t /= norm);
        let length = |v: &[Vector3<f64>]| v.iter().map(|t| t.norm_squared()).sum::<f64>().sqrt();
        (tangent, length(&plus), length(&minus))
    }

    fn update_neb_forces(&mut self) {
        let count = self.images.len();
        self.climbing_image = self.climb.then(|| self.highest_image());
        for i in 1..count - 1 {
            let (tangent, plus, minus) = self.tangent(i);
            let true_forces = &self.forces[i];
            let parallel: f64 = true_forces.iter().zip(&tangent).map(|(f, t)| f.dot(t)).sum();
            let neb = &mut self.neb_forces[i];
            if Some(i) == self.climbing_image {
                for ((n, f), t) in neb.iter_mut().zip(true_forces).zip(&tangent) {
                    *n = f - t * (2.0 * parallel);
                }
            } else {
                let spring = self.spring * (plus - minus);
                for ((n, f), t) in neb.iter_mut().zip(true_forces).zip(&tangent) {
                    *n = f - t * parallel + t * spring;
                }
            }
        }
    }

    /// Largest atomic NEB force over the intermediate images (eV/Å).
    pub fn max_neb_force(&self) -> f64 {
        self.neb_forces.iter().flat_map(|image| image.iter().map(|f| f.norm())).fold(0.0, f64::max)
    }

    /// Cumulative path length along the band (Å, in the 3N-dimensional space), one value per image.
    pub fn reaction_coordinate(&self) -> Vec<f64> {
        let mut s = vec![0.0];
        for pair in self.images.windows(2) {
            let step =
                pair[1].positions.iter().zip(&pair[0].positions).map(|(a, b)| (a - b).norm_squared()).sum::<f64>();
            s.push(s.last().unwrap() + step.sqrt());
        }
        s
    }
}

/// The band as an [`Objective`]: coordinates are the positions of the moving images, the gradient is
/// minus the NEB force, the "energy" the highest image energy (only reported, never used to step).
pub struct BandObjective<'a> {
    pub band: &'a mut Band,
    pub engine: &'a mut dyn ImageForces,
    /// One CSV line `iteration,max_energy_ev,fmax_ev_per_a,climbing_image` per evaluation, when given.
    pub log: Option<&'a mut String>,
}

impl Objective for BandObjective<'_> {
    fn evaluate(&mut self, x: &[f64], gradient: &mut [f64]) -> anyhow::Result<f64> {
        self.band.set_coordinates(x);
        self.band.evaluate(self.engine)?;
        let count = self.band.images.len();
        for (g, f) in gradient.chunks_mut(3).zip(self.band.neb_forces[1..count - 1].iter().flatten()) {
            g.copy_from_slice(&[-f.x, -f.y, -f.z]);
        }
        Ok(self.band.energies[self.band.highest_image()])
    }

    fn observe(&mut self, iteration: usize, energy: f64, max_force: f64) {
        if let Some(log) = self.log.as_deref_mut() {
            let climbing = self.band.climbing_image.map(|i| i.to_string()).unwrap_or_default();
            log.push_str(&format!("{iteration},{energy:.10},{max_force:.6e},{climbing}\n"));
        }
    }
}

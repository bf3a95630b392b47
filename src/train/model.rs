//! The trainable model: per-element networks on scaled symmetry functions, the loss with its exact
//! gradient, and Adam.
//!
//! Energy of a structure: E = Σ_i [NN_{e(i)}(x_i) + ε_{e(i)}] with scaled inputs x_ik = a_k + b_k G_ik
//! (n2p2 scaling, [`Scaling::apply`]) and per-element offsets ε_e (n2p2's `atom_energy`). Forces:
//! F_a = −Σ_i Σ_k (∂NN/∂x_ik) b_k ∂G_ik/∂r_a.
//!
//! Loss of one structure with N atoms (averaged over the structures of a batch):
//!
//! L = w_E ((E − E_ref)/N)² + w_F/(3N) Σ_a |F_a − F_a,ref|²,
//!
//! ∂L/∂c = 2 w_E (E − E_ref)/N² Σ_i ∂NN_i/∂c − 2 w_F/(3N) Σ_i ∂D_i/∂c,
//!
//! where D_i = Σ_k (∂NN_i/∂x_ik) v_ik along v_ik = b_k Σ_a (F_a − F_a,ref)·∂G_ik/∂r_a; ∂D_i/∂c is the
//! mixed second derivative of the network
//! ([`NeuralNetwork::directional_connection_gradient`]). This is the gradient of the force term that
//! n2p2 uses for force updates (Singraber et al., J. Chem. Theory Comput. 15, 3075 (2019)).

use super::dataset::StructureDescriptors;
use crate::potentials::nnp::network::{NetworkScratch, NeuralNetwork};
use crate::potentials::nnp::scaling::Scaling;
use nalgebra::Vector3;
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

/// Networks, input scaling and energy offsets of every element (element order = increasing atomic number).
#[derive(Clone, Debug)]
pub struct Model {
    pub networks: Vec<NeuralNetwork>,
    pub scaling: Vec<Vec<Scaling>>,
    /// Energy offset per atom of each element (eV).
    pub offsets: Vec<f64>,
}

/// Weights of the two loss terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossWeights {
    pub energy: f64,
    pub force: f64,
}

/// A model's energy (eV) and forces (eV/Å) for one structure.
pub type Prediction = (f64, Vec<Vector3<f64>>);

/// One structure's misfit: its loss, energy error per atom (eV/atom), Σ|ΔF|² (eV²/Å²) and atom count.
#[derive(Clone, Copy, Debug)]
struct Residual {
    loss: f64,
    energy_error_per_atom: f64,
    force_error_sq: f64,
    atoms: usize,
}

impl Residual {
    fn new(structure: &StructureDescriptors, energy: f64, force_error_sq: f64, weights: LossWeights) -> Residual {
        let n = structure.len() as f64;
        let energy_error_per_atom = (energy - structure.energy) / n;
        Residual {
            loss: weights.energy * energy_error_per_atom.powi(2) + weights.force / (3.0 * n) * force_error_sq,
            energy_error_per_atom,
            force_error_sq,
            atoms: structure.len(),
        }
    }
}

/// The residual of a prediction (energy, forces) of `structure`.
fn residual(structure: &StructureDescriptors, prediction: &Prediction, weights: LossWeights) -> Residual {
    let (energy, forces) = prediction;
    let force_error_sq = forces.iter().zip(&structure.forces).map(|(f, r)| (f - r).norm_squared()).sum();
    Residual::new(structure, *energy, force_error_sq, weights)
}

/// Errors of a model on a set of structures.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Errors {
    /// Mean loss per structure.
    pub loss: f64,
    /// RMSE of the energy per atom (eV/atom).
    pub energy_rmse_ev_per_atom: f64,
    /// RMSE over all force components (eV/Å).
    pub force_rmse_ev_per_a: f64,
}

impl Errors {
    /// Mean loss, energy RMSE per atom and force-component RMSE of a set of structures' residuals.
    fn of(residuals: impl ExactSizeIterator<Item = Residual>) -> Errors {
        let count = residuals.len();
        if count == 0 {
            return Errors::default();
        }
        let (mut loss, mut e2, mut f2, mut components) = (0.0, 0.0, 0.0, 0usize);
        for r in residuals {
            loss += r.loss;
            e2 += r.energy_error_per_atom * r.energy_error_per_atom;
            f2 += r.force_error_sq;
            components += 3 * r.atoms;
        }
        Errors {
            loss: loss / count as f64,
            energy_rmse_ev_per_atom: (e2 / count as f64).sqrt(),
            force_rmse_ev_per_a: (f2 / components.max(1) as f64).sqrt(),
        }
    }
}

/// All connections of a network in n2p2's order (per layer: weights with the previous layer's neuron as
/// outer index, then biases), the inverse of [`NeuralNetwork::set_connections`].
pub fn connections(network: &NeuralNetwork) -> Vec<f64> {
    let mut out = Vec::with_capacity(network.num_connections());
    for layer in &network.layers {
        for j in 0..layer.inputs {
            for k in 0..layer.outputs {
                out.push(layer.weights[k * layer.inputs + j]);
            }
        }
        out.extend_from_slice(&layer.biases);
    }
    out
}

impl Model {
    /// Start of each element's block in the parameter vector, and its total length last.
    pub fn block_starts(&self) -> Vec<usize> {
        let mut starts = vec![0];
        for n in &self.networks {
            starts.push(starts.last().unwrap() + n.num_connections());
        }
        starts
    }

    /// All parameters, element after element, each in n2p2's connection order.
    pub fn parameters(&self) -> Vec<f64> {
        self.networks.iter().flat_map(connections).collect()
    }

    pub fn set_parameters(&mut self, parameters: &[f64]) {
        let starts = self.block_starts();
        for (e, n) in self.networks.iter_mut().enumerate() {
            n.set_connections(&parameters[starts[e]..starts[e + 1]]);
        }
    }

    /// Random initial weights, uniform in ±√(6/(n_in + n_out)) (Glorot & Bengio, AISTATS 2010), zero biases.
    pub fn randomize(&mut self, rng: &mut Xoshiro256PlusPlus) {
        for network in &mut self.networks {
            for layer in &mut network.layers {
                let limit = (6.0 / (layer.inputs + layer.outputs) as f64).sqrt();
                for w in &mut layer.weights {
                    *w = rng.gen_range(-limit..limit);
                }
                layer.biases.iter_mut().for_each(|b| *b = 0.0);
            }
        }
    }

    fn scaled_input(&self, element: usize, values: &[f64]) -> Vec<f64> {
        values.iter().zip(&self.scaling[element]).map(|(&g, s)| s.apply(g)).collect()
    }

    /// Energy (eV) and forces (eV/Å) of a described structure.
    pub fn predict(&self, structure: &StructureDescriptors) -> Prediction {
        let n = structure.len();
        let mut energy = 0.0;
        let mut forces = vec![Vector3::zeros(); n];
        let mut scratch = NetworkScratch::default();
        for atom in &structure.atoms {
            let e = atom.element;
            let x = self.scaled_input(e, &atom.values);
            let mut dedx = vec![0.0; x.len()];
            energy += self.networks[e].evaluate(&x, &mut dedx, &mut scratch) + self.offsets[e];
            // ∂E/∂G_k = ∂E/∂x_k · (scaling factor of k).
            for (d, s) in dedx.iter_mut().zip(&self.scaling[e]) {
                *d *= s.factor;
            }
            atom.jacobian.contract(&dedx, |slot, g| {
                let f = &mut forces[atom.atoms[slot] as usize];
                *f -= Vector3::new(g[0], g[1], g[2]);
            });
        }
        (energy, forces)
    }

    /// Energy of every atom, NN_e(x_i) + ε_e (eV).
    pub fn atom_energies(&self, structure: &StructureDescriptors) -> Vec<f64> {
        let mut scratch = NetworkScratch::default();
        structure
            .atoms
            .iter()
            .map(|atom| {
                let x = self.scaled_input(atom.element, &atom.values);
                let mut dedx = vec![0.0; x.len()];
                self.networks[atom.element].evaluate(&x, &mut dedx, &mut scratch) + self.offsets[atom.element]
            })
            .collect()
    }

    /// Misfit of one structure; adds the gradient of its loss with respect to all parameters to `gradient`.
    fn structure_loss_gradient(
        &self,
        structure: &StructureDescriptors,
        weights: LossWeights,
        gradient: &mut [f64],
    ) -> Residual {
        let n = structure.len() as f64;
        let (energy, forces) = self.predict(structure);
        let de = energy - structure.energy;
        let df: Vec<Vector3<f64>> = forces.iter().zip(&structure.forces).map(|(f, r)| f - r).collect();
        let force_sq: f64 = df.iter().map(|d| d.norm_squared()).sum();
        let residual = Residual::new(structure, energy, force_sq, weights);
        let energy_coefficient = 2.0 * weights.energy * de / (n * n);
        let force_coefficient = -2.0 * weights.force / (3.0 * n);
        let starts = self.block_starts();
        let mut scratch = NetworkScratch::default();
        let mut tmp = Vec::new();
        for atom in &structure.atoms {
            let e = atom.element;
            let network = &self.networks[e];
            let block = &mut gradient[starts[e]..starts[e + 1]];
            tmp.resize(block.len(), 0.0);
            let x = self.scaled_input(e, &atom.values);
            if weights.energy != 0.0 {
                network.connection_gradient(&x, &mut tmp, &mut scratch);
                for (g, t) in block.iter_mut().zip(&tmp) {
                    *g += energy_coefficient * t;
                }
            }
            if weights.force != 0.0 {
                let mut direction = vec![0.0; x.len()];
                atom.jacobian.contract_transposed(|slot| df[atom.atoms[slot] as usize].into(), &mut direction);
                for (v, s) in direction.iter_mut().zip(&self.scaling[e]) {
                    *v *= s.factor;
                }
                network.directional_connection_gradient(&x, &direction, &mut tmp);
                for (g, t) in block.iter_mut().zip(&tmp) {
                    *g += force_coefficient * t;
                }
            }
        }
        residual
    }

    /// Mean loss and RMSEs over `batch` (indices into `data`), and the gradient of the mean loss. Structures are
    /// processed in parallel and summed in batch order, so the result does not depend on the number of threads.
    pub fn batch_loss_gradient(
        &self,
        data: &[StructureDescriptors],
        batch: &[usize],
        weights: LossWeights,
    ) -> (Errors, Vec<f64>) {
        let size = *self.block_starts().last().unwrap();
        let parts: Vec<(Residual, Vec<f64>)> = batch
            .par_iter()
            .map(|&s| {
                let mut g = vec![0.0; size];
                let r = self.structure_loss_gradient(&data[s], weights, &mut g);
                (r, g)
            })
            .collect();
        let mut gradient = vec![0.0; size];
        let scale = 1.0 / batch.len().max(1) as f64;
        for (_, g) in &parts {
            for (a, b) in gradient.iter_mut().zip(g) {
                *a += b * scale;
            }
        }
        (Errors::of(parts.iter().map(|(r, _)| *r)), gradient)
    }

    /// Predictions for `indices` (in parallel, in order): (energy, forces) per structure.
    pub fn predict_all(&self, data: &[StructureDescriptors], indices: &[usize]) -> Vec<Prediction> {
        indices.par_iter().map(|&s| self.predict(&data[s])).collect()
    }

    /// Loss and RMSEs on `indices`.
    pub fn errors(&self, data: &[StructureDescriptors], indices: &[usize], weights: LossWeights) -> Errors {
        let predictions = self.predict_all(data, indices);
        Errors::of(indices.iter().zip(&predictions).map(|(&s, p)| residual(&data[s], p, weights)))
    }

    /// Loss and RMSEs on `indices` from `predictions` of every structure of `data` (in its order), as
    /// [`Model::predict_all`] gives them for all indices.
    pub fn errors_of_predictions(
        data: &[StructureDescriptors],
        indices: &[usize],
        predictions: &[Prediction],
        weights: LossWeights,
    ) -> Errors {
        Errors::of(indices.iter().map(|&s| residual(&data[s], &predictions[s], weights)))
    }
}

/// Adam optimiser (Kingma & Ba, ICLR 2015): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
/// p ← p − η m̂/(√v̂ + ε) with bias-corrected m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).
#[derive(Clone, Debug)]
pub struct Adam {
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    step: i32,
}

impl Adam {
    pub fn new(size: usize) -> Adam {
        Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, m: vec![0.0; size], v: vec![0.0; size], step: 0 }
    }

    /// One update of `parameters` with `gradient` and learning rate `rate`.
    pub fn update(&mut self, parameters: &mut [f64], gradient: &[f64], rate: f64) {
        self.step += 1;
        let c1 = 1.0 - self.beta1.powi(self.step);
        let c2 = 1.0 - self.beta2.powi(self.step);
        for (((p, g), m), v) in parameters.iter_mut().zip(gradient).zip(&mut self.m).zip(&mut self.v) {
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            *p -= rate * (*m / c1) / ((*v / c2).sqrt() + self.epsilon);
        }
    }
}

//! Per-element feed-forward network of a Behler–Parrinello potential (n2p2's `NeuralNetwork`):
//!
//! x_l = (W_l y_{l−1} + b_l)/s_l,  y_l = f_l(x_l),  y_0 = scaled symmetry functions, E = y_L (one output),
//!
//! with s_l = n_{l−1} (neurons in the previous layer) when `normalize_nodes` is set, else 1.
//! Activations (`global_activation_short` letters): `l` identity, `t` tanh, `s` logistic 1/(1+e^−x),
//! `p` softplus ln(1+e^x), `r` ReLU, `g` Gaussian e^(−x²/2), `c` cos, `S` 1 − logistic, `e` e^−x,
//! `h` x². As n2p2, logistic and softplus saturate for |x| > 35.
//!
//! `weights.NNN.data` lists, layer by layer, all weights (outer loop over the previous layer's neurons,
//! inner loop over this layer's) and then this layer's biases; only the first column is read.

use super::NnpError;
use std::path::Path;

/// Argument beyond which the logistic and softplus functions are saturated (n2p2's `EXP_LIMIT`).
const EXP_LIMIT: f64 = 35.0;

/// Activation functions, by n2p2 letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Tanh,
    Logistic,
    Softplus,
    Relu,
    Gaussian,
    Cos,
    RevLogistic,
    Exp,
    Harmonic,
}

impl Activation {
    /// The activation for an n2p2 letter.
    pub fn from_letter(letter: &str) -> Option<Activation> {
        Some(match letter {
            "l" => Activation::Identity,
            "t" => Activation::Tanh,
            "s" => Activation::Logistic,
            "p" => Activation::Softplus,
            "r" => Activation::Relu,
            "g" => Activation::Gaussian,
            "c" => Activation::Cos,
            "S" => Activation::RevLogistic,
            "e" => Activation::Exp,
            "h" => Activation::Harmonic,
            _ => return None,
        })
    }

    /// Second derivative f''(x) (n2p2's `d2fdx2`, same saturation rules).
    pub fn second_derivative(self, x: f64) -> f64 {
        match self {
            Activation::Identity | Activation::Relu => 0.0,
            Activation::Tanh => {
                let t = x.tanh();
                -2.0 * t * (1.0 - t * t)
            }
            Activation::Logistic => {
                if !(-EXP_LIMIT..=EXP_LIMIT).contains(&x) {
                    0.0
                } else {
                    let s = 1.0 / (1.0 + (-x).exp());
                    s * (1.0 - s) * (1.0 - 2.0 * s)
                }
            }
            Activation::Softplus => {
                if !(-EXP_LIMIT..=EXP_LIMIT).contains(&x) {
                    0.0
                } else {
                    let s = 1.0 / (1.0 + (-x).exp());
                    s * (1.0 - s)
                }
            }
            Activation::Gaussian => (x * x - 1.0) * (-0.5 * x * x).exp(),
            Activation::Cos => -x.cos(),
            Activation::RevLogistic => {
                let s = 1.0 / (1.0 + (-x).exp());
                s * (s - 1.0) * (1.0 - 2.0 * s)
            }
            Activation::Exp => (-x).exp(),
            Activation::Harmonic => 2.0,
        }
    }

    /// Value f(x) and derivative f'(x).
    #[inline]
    pub fn fdf(self, x: f64) -> (f64, f64) {
        match self {
            Activation::Identity => (x, 1.0),
            Activation::Tanh => {
                let t = x.tanh();
                (t, 1.0 - t * t)
            }
            Activation::Logistic => {
                if x > EXP_LIMIT {
                    (1.0, 0.0)
                } else if x < -EXP_LIMIT {
                    (0.0, 0.0)
                } else {
                    let s = 1.0 / (1.0 + (-x).exp());
                    (s, s * (1.0 - s))
                }
            }
            Activation::Softplus => {
                if x > EXP_LIMIT {
                    (x, 1.0)
                } else if x < -EXP_LIMIT {
                    (0.0, 0.0)
                } else {
                    let e = x.exp();
                    ((1.0 + e).ln(), 1.0 / (1.0 + 1.0 / e))
                }
            }
            Activation::Relu => {
                if x > 0.0 {
                    (x, 1.0)
                } else {
                    (0.0, 0.0)
                }
            }
            Activation::Gaussian => {
                let g = (-0.5 * x * x).exp();
                (g, -x * g)
            }
            Activation::Cos => (x.cos(), -x.sin()),
            Activation::RevLogistic => {
                let s = 1.0 / (1.0 + (-x).exp());
                (1.0 - s, s * (s - 1.0))
            }
            Activation::Exp => {
                let e = (-x).exp();
                (e, -e)
            }
            Activation::Harmonic => (x * x, 2.0 * x),
        }
    }
}

/// One dense layer: `weights[k * inputs + j]` connects input j to neuron k.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub inputs: usize,
    pub outputs: usize,
    pub weights: Vec<f64>,
    pub biases: Vec<f64>,
    pub activation: Activation,
}

/// A feed-forward network with one output neuron.
#[derive(Clone, Debug, PartialEq)]
pub struct NeuralNetwork {
    pub layers: Vec<Layer>,
    pub normalize_nodes: bool,
}

/// Work space of one forward/backward pass (reused between atoms).
#[derive(Clone, Debug, Default)]
pub struct NetworkScratch {
    values: Vec<Vec<f64>>,
    derivatives: Vec<Vec<f64>>,
    delta: Vec<f64>,
    next_delta: Vec<f64>,
}

impl NeuralNetwork {
    /// A network with zero weights: `sizes` = neurons per layer (input first, output 1 last),
    /// `activations` = one per non-input layer.
    pub fn new(sizes: &[usize], activations: &[Activation], normalize_nodes: bool) -> NeuralNetwork {
        let layers = sizes
            .windows(2)
            .zip(activations)
            .map(|(w, &activation)| Layer {
                inputs: w[0],
                outputs: w[1],
                weights: vec![0.0; w[0] * w[1]],
                biases: vec![0.0; w[1]],
                activation,
            })
            .collect();
        NeuralNetwork { layers, normalize_nodes }
    }

    /// Number of weights and biases.
    pub fn num_connections(&self) -> usize {
        self.layers.iter().map(|l| l.weights.len() + l.biases.len()).sum()
    }

    /// Sets all connections from n2p2's flat order (per layer: weights with the previous layer's neuron
    /// as outer index, then biases).
    pub fn set_connections(&mut self, connections: &[f64]) {
        let mut it = connections.iter().copied();
        for layer in &mut self.layers {
            for j in 0..layer.inputs {
                for k in 0..layer.outputs {
                    layer.weights[k * layer.inputs + j] = it.next().unwrap_or(0.0);
                }
            }
            for b in layer.biases.iter_mut() {
                *b = it.next().unwrap_or(0.0);
            }
        }
    }

    /// Reads the first column of an n2p2 `weights.NNN.data` file into the network.
    pub fn read_weights(&mut self, path: &Path) -> Result<(), NnpError> {
        let text = std::fs::read_to_string(path).map_err(|e| NnpError::open(path, e))?;
        let mut values = Vec::with_capacity(self.num_connections());
        for (index, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with('#') || trimmed.is_empty() {
                continue;
            }
            let token = trimmed.split_whitespace().next().unwrap_or("");
            let v = super::settings::parse_fortran_float(token)
                .filter(|v| v.is_finite())
                .ok_or_else(|| NnpError::syntax(path, index + 1, format!("'{token}' is not a finite number")))?;
            values.push(v);
        }
        if values.len() != self.num_connections() {
            let sizes: Vec<usize> =
                std::iter::once(self.layers[0].inputs).chain(self.layers.iter().map(|l| l.outputs)).collect();
            return Err(NnpError::format(
                path,
                format!(
                    "{} weights and biases found, but the network {sizes:?} declared in input.nn needs {}",
                    values.len(),
                    self.num_connections()
                ),
            ));
        }
        self.set_connections(&values);
        Ok(())
    }

    /// Forward pass: stores every layer's values and f'(x)/s_l in `scratch`; returns the output.
    fn forward(&self, input: &[f64], scratch: &mut NetworkScratch) -> f64 {
        let n = self.layers.len();
        scratch.values.resize(n, Vec::new());
        scratch.derivatives.resize(n, Vec::new());
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, after) = scratch.values.split_at_mut(l);
            let previous: &[f64] = if l == 0 { input } else { &before[l - 1] };
            let out = &mut after[0];
            out.clear();
            let d = &mut scratch.derivatives[l];
            d.clear();
            let norm = if self.normalize_nodes { 1.0 / layer.inputs as f64 } else { 1.0 };
            for k in 0..layer.outputs {
                let row = &layer.weights[k * layer.inputs..(k + 1) * layer.inputs];
                let mut x = 0.0;
                for (w, y) in row.iter().zip(previous) {
                    x += w * y;
                }
                x += layer.biases[k];
                if self.normalize_nodes {
                    x *= norm;
                }
                let (f, df) = layer.activation.fdf(x);
                out.push(f);
                d.push(df * norm);
            }
        }
        scratch.values[n - 1][0]
    }

    /// Backward pass after [`forward`](Self::forward): calls `visit(l, delta_l)` from the output layer
    /// down, with delta_l = ∂E/∂(W_l y_{l−1} + b_l), and returns ∂E/∂y_0 (the input gradient) in
    /// `scratch.next_delta`.
    fn backward(&self, scratch: &mut NetworkScratch, mut visit: impl FnMut(usize, &[f64], &NetworkScratch)) {
        let n = self.layers.len();
        scratch.delta.clear();
        scratch.delta.extend_from_slice(&scratch.derivatives[n - 1]);
        for l in (0..n).rev() {
            let layer = &self.layers[l];
            let delta = std::mem::take(&mut scratch.delta);
            visit(l, &delta, scratch);
            scratch.next_delta.clear();
            scratch.next_delta.resize(layer.inputs, 0.0);
            for (k, &dk) in delta.iter().enumerate() {
                let row = &layer.weights[k * layer.inputs..(k + 1) * layer.inputs];
                for (acc, w) in scratch.next_delta.iter_mut().zip(row) {
                    *acc += w * dk;
                }
            }
            scratch.delta = delta;
            if l > 0 {
                let d = &scratch.derivatives[l - 1];
                scratch.delta.clear();
                scratch.delta.extend(scratch.next_delta.iter().zip(d).map(|(a, b)| a * b));
            }
        }
    }

    /// Output E(G) and, into `gradient`, dE/dG (backpropagation; same numbers as n2p2's forward-mode
    /// `calculateDEdG` up to rounding).
    pub fn evaluate(&self, input: &[f64], gradient: &mut [f64], scratch: &mut NetworkScratch) -> f64 {
        let energy = self.forward(input, scratch);
        self.backward(scratch, |_, _, _| {});
        gradient.copy_from_slice(&scratch.next_delta);
        energy
    }

    /// Mixed derivative for force training: with the directional derivative D = Σ_k v_k ∂E/∂G_k along an
    /// input direction v (e.g. v_k = ∂G_k/∂x_a of one coordinate, so that F_a = −Σ_atoms D), writes ∂D/∂c for
    /// every connection in n2p2's order into `gradient` and returns D (forward-mode tangent propagation,
    /// then reverse mode through primal and tangent; n2p2's `calculateDFdc` up to the sign of F).
    pub fn directional_connection_gradient(&self, input: &[f64], direction: &[f64], gradient: &mut [f64]) -> f64 {
        let n = self.layers.len();
        // Forward: pre-activations x_l, values y_l, tangents ẋ_l (already divided by s_l) and ẏ_l.
        let mut ys: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
        let mut tangents: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
        let mut xs: Vec<Vec<f64>> = Vec::with_capacity(n);
        let mut xdots: Vec<Vec<f64>> = Vec::with_capacity(n);
        ys.push(input.to_vec());
        tangents.push(direction.to_vec());
        for layer in &self.layers {
            let norm = if self.normalize_nodes { 1.0 / layer.inputs as f64 } else { 1.0 };
            let (prev, prev_dot) = (ys.last().unwrap(), tangents.last().unwrap());
            let mut x = Vec::with_capacity(layer.outputs);
            let mut xdot = Vec::with_capacity(layer.outputs);
            let mut y = Vec::with_capacity(layer.outputs);
            let mut ydot = Vec::with_capacity(layer.outputs);
            for k in 0..layer.outputs {
                let row = &layer.weights[k * layer.inputs..(k + 1) * layer.inputs];
                let a = (row.iter().zip(prev).map(|(w, y)| w * y).sum::<f64>() + layer.biases[k]) * norm;
                let adot = row.iter().zip(prev_dot).map(|(w, t)| w * t).sum::<f64>() * norm;
                let (f, df) = layer.activation.fdf(a);
                x.push(a);
                xdot.push(adot);
                y.push(f);
                ydot.push(df * adot);
            }
            xs.push(x);
            xdots.push(xdot);
            ys.push(y);
            tangents.push(ydot);
        }
        let d = tangents[n][0];
        // Reverse: adjoints of y (primal) and ẏ (tangent); D = ẏ_L.
        let mut offsets = Vec::with_capacity(n);
        let mut offset = 0;
        for layer in &self.layers {
            offsets.push(offset);
            offset += layer.weights.len() + layer.biases.len();
        }
        let mut y_bar = vec![0.0; 1];
        let mut ydot_bar = vec![1.0; 1];
        for l in (0..n).rev() {
            let layer = &self.layers[l];
            let norm = if self.normalize_nodes { 1.0 / layer.inputs as f64 } else { 1.0 };
            let mut x_bar = vec![0.0; layer.outputs];
            let mut xdot_bar = vec![0.0; layer.outputs];
            for k in 0..layer.outputs {
                let (_, df) = layer.activation.fdf(xs[l][k]);
                let d2f = layer.activation.second_derivative(xs[l][k]);
                xdot_bar[k] = ydot_bar[k] * df;
                x_bar[k] = ydot_bar[k] * d2f * xdots[l][k] + y_bar[k] * df;
            }
            let (prev, prev_dot) = (&ys[l], &tangents[l]);
            let mut c = offsets[l];
            for j in 0..layer.inputs {
                for k in 0..layer.outputs {
                    gradient[c] = (x_bar[k] * prev[j] + xdot_bar[k] * prev_dot[j]) * norm;
                    c += 1;
                }
            }
            for k in 0..layer.outputs {
                gradient[c + k] = x_bar[k] * norm;
            }
            let mut next_y_bar = vec![0.0; layer.inputs];
            let mut next_ydot_bar = vec![0.0; layer.inputs];
            for k in 0..layer.outputs {
                let row = &layer.weights[k * layer.inputs..(k + 1) * layer.inputs];
                for j in 0..layer.inputs {
                    next_y_bar[j] += row[j] * x_bar[k] * norm;
                    next_ydot_bar[j] += row[j] * xdot_bar[k] * norm;
                }
            }
            y_bar = next_y_bar;
            ydot_bar = next_ydot_bar;
        }
        d
    }

    /// Output E(G) and, into `gradient` (length [`num_connections`](Self::num_connections)), ∂E/∂c for
    /// every weight and bias in n2p2's connection order (n2p2's `calculateDEdc`), as training needs.
    pub fn connection_gradient(&self, input: &[f64], gradient: &mut [f64], scratch: &mut NetworkScratch) -> f64 {
        let energy = self.forward(input, scratch);
        let mut offsets = Vec::with_capacity(self.layers.len());
        let mut offset = 0;
        for layer in &self.layers {
            offsets.push(offset);
            offset += layer.weights.len() + layer.biases.len();
        }
        self.backward(scratch, |l, delta, scratch| {
            let layer = &self.layers[l];
            let previous: &[f64] = if l == 0 { input } else { &scratch.values[l - 1] };
            let mut c = offsets[l];
            for &y in previous.iter().take(layer.inputs) {
                for &dk in delta {
                    gradient[c] = dk * y;
                    c += 1;
                }
            }
            gradient[c..c + layer.outputs].copy_from_slice(delta);
        });
        energy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn gradient_matches_finite_differences_for_every_activation() {
        let letters = ["l", "t", "s", "p", "r", "g", "c", "S", "e", "h"];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        for letter in letters {
            for normalize in [false, true] {
                let a = Activation::from_letter(letter).unwrap();
                let mut net = NeuralNetwork::new(&[4, 5, 3, 1], &[a, a, Activation::Identity], normalize);
                let c: Vec<f64> = (0..net.num_connections()).map(|_| rng.gen_range(-1.0..1.0)).collect();
                net.set_connections(&c);
                let g: Vec<f64> = (0..4).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let mut grad = vec![0.0; 4];
                let mut scratch = NetworkScratch::default();
                net.evaluate(&g, &mut grad, &mut scratch);
                for i in 0..4 {
                    let h = 1e-6;
                    let mut gp = g.clone();
                    gp[i] += h;
                    let mut gm = g.clone();
                    gm[i] -= h;
                    let mut dummy = vec![0.0; 4];
                    let numeric = (net.evaluate(&gp, &mut dummy, &mut scratch)
                        - net.evaluate(&gm, &mut dummy, &mut scratch))
                        / (2.0 * h);
                    assert!((numeric - grad[i]).abs() < 1e-7, "{letter} {normalize}: {numeric} vs {}", grad[i]);
                }
            }
        }
    }

    #[test]
    fn connection_gradient_matches_finite_differences() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(17);
        for normalize in [false, true] {
            let mut net = NeuralNetwork::new(
                &[3, 4, 2, 1],
                &[Activation::Tanh, Activation::Softplus, Activation::Identity],
                normalize,
            );
            let c: Vec<f64> = (0..net.num_connections()).map(|_| rng.gen_range(-1.0..1.0)).collect();
            net.set_connections(&c);
            let g = [0.3, -0.7, 0.2];
            let mut scratch = NetworkScratch::default();
            let mut analytic = vec![0.0; c.len()];
            net.connection_gradient(&g, &mut analytic, &mut scratch);
            for i in 0..c.len() {
                let h = 1e-6;
                let energy = |delta: f64| {
                    let mut shifted = net.clone();
                    let mut cc = c.clone();
                    cc[i] += delta;
                    shifted.set_connections(&cc);
                    shifted.evaluate(&g, &mut [0.0; 3], &mut NetworkScratch::default())
                };
                let numeric = (energy(h) - energy(-h)) / (2.0 * h);
                assert!((numeric - analytic[i]).abs() < 1e-8, "connection {i}: {numeric} vs {}", analytic[i]);
            }
        }
    }

    #[test]
    fn mixed_derivative_matches_finite_differences() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(23);
        for letter in ["t", "s", "p", "g", "c", "S", "e", "h"] {
            for normalize in [false, true] {
                let a = Activation::from_letter(letter).unwrap();
                let mut net = NeuralNetwork::new(&[3, 4, 3, 1], &[a, a, Activation::Identity], normalize);
                let c: Vec<f64> = (0..net.num_connections()).map(|_| rng.gen_range(-1.0..1.0)).collect();
                net.set_connections(&c);
                let g = [0.3, -0.7, 0.2];
                let v = [0.5, 0.1, -0.9];
                let directional = |net: &NeuralNetwork| {
                    let mut grad = [0.0; 3];
                    net.evaluate(&g, &mut grad, &mut NetworkScratch::default());
                    grad.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>()
                };
                let mut analytic = vec![0.0; c.len()];
                let d = net.directional_connection_gradient(&g, &v, &mut analytic);
                assert!((d - directional(&net)).abs() < 1e-13);
                for i in 0..c.len() {
                    let h = 1e-6;
                    let shifted = |delta: f64| {
                        let mut cc = c.clone();
                        cc[i] += delta;
                        let mut other = net.clone();
                        other.set_connections(&cc);
                        directional(&other)
                    };
                    let numeric = (shifted(h) - shifted(-h)) / (2.0 * h);
                    assert!(
                        (numeric - analytic[i]).abs() < 1e-7,
                        "{letter} {normalize} connection {i}: {numeric} vs {}",
                        analytic[i]
                    );
                }
            }
        }
    }

    #[test]
    fn connection_order_is_n2p2s() {
        // 2 inputs, 1 output: w(0→0), w(1→0), bias.
        let mut net = NeuralNetwork::new(&[2, 1], &[Activation::Identity], false);
        net.set_connections(&[2.0, 3.0, 0.5]);
        let mut grad = vec![0.0; 2];
        let e = net.evaluate(&[1.0, 10.0], &mut grad, &mut NetworkScratch::default());
        assert_eq!(e, 32.5);
        assert_eq!(grad, vec![2.0, 3.0]);
    }
}

//! Limited-memory BFGS (J. Nocedal, Math. Comp. 35, 773 (1980); Nocedal & Wright, *Numerical Optimization*,
//! algorithm 7.4), close to ASE's `ase.optimize.LBFGS`: no line search, the step p = −H∇E from the
//! two-loop recursion over the last `memory` pairs s_k = x_{k+1} − x_k, y_k = ∇E_{k+1} − ∇E_k,
//! ρ_k = 1/(y_k·s_k), capped so that no triple moves farther than `max_step`.
//!
//! Differences from ASE, needed when the "gradient" is an NEB force (not the gradient of any energy, and
//! discontinuous where the tangent switches): the initial inverse Hessian is γ = s·y/y·y from the newest
//! pair (Nocedal & Wright eq. 7.20; 1/α with α = 70 eV/Å² before the first pair, ASE's fixed value), so the
//! scale adapts to the curvature; a pair with y·s ≤ 0 (negative curvature) clears the memory instead of
//! making H indefinite; and a step that is not downhill (p·∇E ≥ 0) clears the memory and falls back to
//! steepest descent −H₀∇E. On the Müller–Brown NEB without these the band diverges.

use super::{cap_step, Stepper};
use std::collections::VecDeque;

/// L-BFGS constants (ASE defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsParameters {
    /// Number of (s, y) pairs kept (ASE: 100).
    pub memory: usize,
    /// Initial Hessian guess α (eV/Å², ASE: 70); H₀ = 1/α.
    pub alpha: f64,
}

impl Default for LbfgsParameters {
    fn default() -> Self {
        LbfgsParameters { memory: 100, alpha: 70.0 }
    }
}

/// L-BFGS state.
#[derive(Clone, Debug)]
pub struct Lbfgs {
    parameters: LbfgsParameters,
    max_step: f64,
    history: VecDeque<(Vec<f64>, Vec<f64>, f64)>,
    previous: Option<(Vec<f64>, Vec<f64>)>,
    /// Number of times the memory was cleared because the step was not downhill.
    pub resets: usize,
}

impl Lbfgs {
    /// L-BFGS with per-triple step cap `max_step` (Å).
    pub fn new(parameters: LbfgsParameters, max_step: f64) -> Lbfgs {
        Lbfgs { parameters, max_step, history: VecDeque::new(), previous: None, resets: 0 }
    }

    /// H₀: γ = s·y/y·y from the newest pair (Nocedal & Wright eq. 7.20), or 1/α before the first pair.
    fn initial_inverse_hessian(&self) -> f64 {
        match self.history.back() {
            Some((s, y, _)) => dot(s, y) / dot(y, y),
            None => 1.0 / self.parameters.alpha,
        }
    }

    /// The two-loop recursion: returns −H·gradient.
    fn direction(&self, gradient: &[f64]) -> Vec<f64> {
        let mut q = gradient.to_vec();
        let mut a = vec![0.0; self.history.len()];
        for (k, (s, y, rho)) in self.history.iter().enumerate().rev() {
            a[k] = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a[k] * yi);
        }
        let h0 = self.initial_inverse_hessian();
        let mut z: Vec<f64> = q.iter().map(|qi| h0 * qi).collect();
        for (k, (s, y, rho)) in self.history.iter().enumerate() {
            let b = rho * dot(y, &z);
            z.iter_mut().zip(s).for_each(|(zi, si)| *zi += si * (a[k] - b));
        }
        z.iter().map(|zi| -zi).collect()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Stepper for Lbfgs {
    fn step(&mut self, x: &[f64], gradient: &[f64], displacement: &mut [f64]) {
        if let Some((x_old, g_old)) = self.previous.take() {
            let s: Vec<f64> = x.iter().zip(&x_old).map(|(a, b)| a - b).collect();
            let y: Vec<f64> = gradient.iter().zip(&g_old).map(|(a, b)| a - b).collect();
            let ys = dot(&y, &s);
            if ys > 0.0 {
                self.history.push_back((s, y, 1.0 / ys));
                if self.history.len() > self.parameters.memory {
                    self.history.pop_front();
                }
            } else {
                self.history.clear();
                self.resets += 1;
            }
        }
        let mut p = self.direction(gradient);
        if dot(&p, gradient) >= 0.0 && gradient.iter().any(|g| *g != 0.0) {
            self.history.clear();
            self.resets += 1;
            let h0 = 1.0 / self.parameters.alpha;
            p = gradient.iter().map(|g| -h0 * g).collect();
        }
        displacement.copy_from_slice(&p);
        cap_step(displacement, self.max_step);
        self.previous = Some((x.to_vec(), gradient.to_vec()));
    }
}

/// Settings of [`minimize_with_line_search`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineSearchSettings {
    /// Number of (s, y) pairs kept.
    pub memory: usize,
    /// Length |αp| of the first trial step, taken along −∇f before any pair is stored (and after a reset).
    pub first_step_length: f64,
    /// Armijo constant c₁ of the sufficient-decrease condition f(x + αp) ≤ f(x) + c₁ α p·∇f.
    pub armijo: f64,
    /// Halvings of α tried before the direction is given up.
    pub max_backtracks: usize,
}

impl Default for LineSearchSettings {
    fn default() -> Self {
        LineSearchSettings { memory: 100, first_step_length: 1e-2, armijo: 1e-4, max_backtracks: 30 }
    }
}

/// How [`minimize_with_line_search`] ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineSearchSummary {
    /// Accepted steps.
    pub iterations: usize,
    /// Objective evaluations, the first one included.
    pub evaluations: usize,
    /// Objective at the returned `x`.
    pub value: f64,
    /// True when no step along −∇f gave a sufficient decrease (a minimum to the precision of f).
    pub stalled: bool,
}

/// L-BFGS with a backtracking line search for a smooth objective (a training loss, not an NEB force):
/// direction p = −H∇f from the two-loop recursion; α = 1, ½, ¼, … until f(x + αp) ≤ f(x) + c₁ α p·∇f
/// (Armijo; Nocedal & Wright, *Numerical Optimization*, algorithms 3.1 and 7.5). A pair with y·s ≤ 0 is not
/// stored; a direction that is not downhill, or along which no α gives a decrease, clears the memory and the
/// step falls back to −∇f scaled to `first_step_length`. Runs at most `iterations` accepted steps and stops
/// early when `observe(iteration, f, x)` returns false. `x` ends at the last accepted point.
pub fn minimize_with_line_search(
    objective: &mut dyn super::Objective,
    x: &mut [f64],
    settings: LineSearchSettings,
    iterations: usize,
    observe: &mut dyn FnMut(usize, f64, &[f64]) -> bool,
) -> anyhow::Result<LineSearchSummary> {
    let parameters = LbfgsParameters { memory: settings.memory, alpha: 1.0 };
    let mut memory = Lbfgs::new(parameters, f64::INFINITY);
    let mut gradient = vec![0.0; x.len()];
    let mut trial_gradient = vec![0.0; x.len()];
    let mut trial = vec![0.0; x.len()];
    let mut value = objective.evaluate(x, &mut gradient)?;
    let mut summary = LineSearchSummary { iterations: 0, evaluations: 1, value, stalled: false };
    while summary.iterations < iterations {
        let steepest = |g: &[f64]| -> Vec<f64> {
            let norm = dot(g, g).sqrt();
            g.iter().map(|gi| -settings.first_step_length * gi / norm).collect()
        };
        let mut direction = if memory.history.is_empty() { steepest(&gradient) } else { memory.direction(&gradient) };
        if dot(&direction, &gradient) >= 0.0 {
            memory.history.clear();
            direction = steepest(&gradient);
        }
        let mut accepted = None;
        loop {
            let slope = dot(&direction, &gradient);
            if slope.is_nan() || slope >= 0.0 {
                break;
            }
            let mut alpha = 1.0;
            for _ in 0..=settings.max_backtracks {
                trial.iter_mut().zip(x.iter().zip(&direction)).for_each(|(t, (xi, pi))| *t = xi + alpha * pi);
                let trial_value = objective.evaluate(&trial, &mut trial_gradient)?;
                summary.evaluations += 1;
                if trial_value <= value + settings.armijo * alpha * slope {
                    accepted = Some((alpha, trial_value));
                    break;
                }
                alpha *= 0.5;
            }
            if accepted.is_some() || memory.history.is_empty() {
                break;
            }
            memory.history.clear();
            direction = steepest(&gradient);
        }
        let Some((alpha, new_value)) = accepted else {
            summary.stalled = true;
            break;
        };
        let s: Vec<f64> = direction.iter().map(|p| alpha * p).collect();
        let y: Vec<f64> = trial_gradient.iter().zip(&gradient).map(|(a, b)| a - b).collect();
        let ys = dot(&y, &s);
        if ys > 0.0 {
            memory.history.push_back((s, y, 1.0 / ys));
            if memory.history.len() > settings.memory {
                memory.history.pop_front();
            }
        }
        x.copy_from_slice(&trial);
        gradient.copy_from_slice(&trial_gradient);
        value = new_value;
        summary.iterations += 1;
        summary.value = value;
        if !observe(summary.iterations, value, x) {
            break;
        }
    }
    Ok(summary)
}

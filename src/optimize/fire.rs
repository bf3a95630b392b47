//! FIRE, the fast inertial relaxation engine: E. Bitzek, P. Koskinen, F. Gähler, M. Moseler and P. Gumbsch,
//! Phys. Rev. Lett. 97, 170201 (2006), in the form of ASE's `ase.optimize.FIRE` (unit masses).
//!
//! With F = −∇E, velocity v and power P = F·v, every step:
//! - if P > 0: v ← (1 − α) v + α |v| F/|F|; after more than N_min such steps in a row, Δt ← min(f_inc Δt,
//!   Δt_max) and α ← f_α α;
//! - else: v ← 0, α ← α_start, Δt ← f_dec Δt, and the count restarts;
//! - then v ← v + Δt F (Euler), Δr = Δt v, capped so that no triple moves farther than `max_step`.
//!
//! ASE caps the norm of the whole Δr; here the cap is per triple (per atom, as LAMMPS's `dmax`), so that
//! large systems and whole NEB bands are not slowed down by their size.

use super::{cap_step, Stepper};

/// FIRE constants (ASE defaults, in units where masses are 1 and Δt multiplies eV/Å to give Å).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FireParameters {
    /// Initial time step Δt (ASE: 0.1).
    pub dt: f64,
    /// Largest time step Δt_max (ASE: 1.0).
    pub dt_max: f64,
    /// Uphill-free steps needed before Δt grows, N_min (5).
    pub n_min: usize,
    /// Time step growth f_inc (1.1).
    pub f_inc: f64,
    /// Time step shrink f_dec (0.5).
    pub f_dec: f64,
    /// Initial mixing α_start (0.1).
    pub alpha_start: f64,
    /// Mixing decay f_α (0.99).
    pub f_alpha: f64,
}

impl Default for FireParameters {
    fn default() -> Self {
        FireParameters { dt: 0.1, dt_max: 1.0, n_min: 5, f_inc: 1.1, f_dec: 0.5, alpha_start: 0.1, f_alpha: 0.99 }
    }
}

/// FIRE state.
#[derive(Clone, Debug)]
pub struct Fire {
    parameters: FireParameters,
    max_step: f64,
    velocity: Vec<f64>,
    dt: f64,
    alpha: f64,
    downhill_steps: usize,
    started: bool,
}

impl Fire {
    /// FIRE for `dimension` coordinates with per-triple step cap `max_step` (Å).
    pub fn new(dimension: usize, parameters: FireParameters, max_step: f64) -> Fire {
        Fire {
            parameters,
            max_step,
            velocity: vec![0.0; dimension],
            dt: parameters.dt,
            alpha: parameters.alpha_start,
            downhill_steps: 0,
            started: false,
        }
    }
}

impl Stepper for Fire {
    fn step(&mut self, _x: &[f64], gradient: &[f64], displacement: &mut [f64]) {
        let p = &self.parameters;
        if self.started {
            let power: f64 = -gradient.iter().zip(&self.velocity).map(|(g, v)| g * v).sum::<f64>();
            if power > 0.0 {
                let v_norm = self.velocity.iter().map(|v| v * v).sum::<f64>().sqrt();
                let f_norm = gradient.iter().map(|g| g * g).sum::<f64>().sqrt();
                if f_norm > 0.0 {
                    for (v, g) in self.velocity.iter_mut().zip(gradient) {
                        *v = (1.0 - self.alpha) * *v - self.alpha * g / f_norm * v_norm;
                    }
                }
                if self.downhill_steps > p.n_min {
                    self.dt = (self.dt * p.f_inc).min(p.dt_max);
                    self.alpha *= p.f_alpha;
                }
                self.downhill_steps += 1;
            } else {
                self.velocity.iter_mut().for_each(|v| *v = 0.0);
                self.alpha = p.alpha_start;
                self.dt *= p.f_dec;
                self.downhill_steps = 0;
            }
        }
        self.started = true;
        for ((v, g), d) in self.velocity.iter_mut().zip(gradient).zip(displacement.iter_mut()) {
            *v -= self.dt * g;
            *d = self.dt * *v;
        }
        cap_step(displacement, self.max_step);
    }
}

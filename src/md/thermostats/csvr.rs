//! Canonical sampling through velocity rescaling (Bussi, Donadio & Parrinello, J. Chem. Phys. 126, 014101
//! (2007)), as LAMMPS `fix temp/csvr` (applied once per step, after the second half kick).
//!
//! The kinetic energy K is propagated over Δt by the exact solution of its stochastic equation:
//! K' = K + (1 − c)(K̄ (R₁² + Σ_{i=2}^{N_f} R_i²)/N_f − K) + 2R₁ √(c(1 − c) K K̄/N_f), c = exp(−Δt/τ),
//! K̄ = N_f k_B T/2, R_i ~ N(0, 1) (the sum of N_f − 1 squares drawn as one χ² variable), and velocities are
//! scaled by √(K'/K). The energy given to the system is accumulated, so E_pot + K − (heat in) is the paper's
//! conserved "effective energy".

use super::{ThermostatConfig, ThermostatHooks};
use crate::input::{positive, InvalidValue};
use crate::system::{System, BOLTZMANN_EV_PER_K};
use rand::Rng;
use rand_distr::{ChiSquared, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// `thermostat = { kind = "csvr", damping_fs = 100 }`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CsvrSettings {
    /// Relaxation time τ of the kinetic energy (fs).
    pub damping_fs: f64,
}

impl ThermostatConfig for CsvrSettings {
    type State = StochasticRescaling;

    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        positive(key, "damping_fs", self.damping_fs)
    }

    fn damping_fs(&self) -> f64 {
        self.damping_fs
    }

    fn build(&self, system: &System, _temperature_k: f64) -> StochasticRescaling {
        StochasticRescaling::new(self.damping_fs, system.degrees_of_freedom())
    }
}

/// One rescaling after the second half kick.
impl ThermostatHooks for StochasticRescaling {
    fn end_step(&mut self, system: &mut System, temperature_k: f64, dt: f64, rng: &mut Xoshiro256PlusPlus) {
        self.rescale(system, temperature_k, dt, rng);
    }

    fn reservoir_energy(&self) -> f64 {
        StochasticRescaling::reservoir_energy(self)
    }

    fn needs_motion(&self) -> bool {
        true
    }
}

/// CSVR thermostat state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StochasticRescaling {
    /// τ (fs).
    damping_fs: f64,
    degrees_of_freedom: usize,
    /// Kinetic energy put into the system so far (eV).
    heat_in: f64,
}

impl StochasticRescaling {
    pub fn new(damping_fs: f64, degrees_of_freedom: usize) -> StochasticRescaling {
        StochasticRescaling { damping_fs, degrees_of_freedom, heat_in: 0.0 }
    }

    /// The new kinetic energy K' for a step of `dt` fs from `kinetic` eV at target `temperature_k`.
    pub fn resample_kinetic_energy(&self, kinetic: f64, temperature_k: f64, dt: f64, rng: &mut impl Rng) -> f64 {
        let nf = self.degrees_of_freedom as f64;
        let target = 0.5 * nf * BOLTZMANN_EV_PER_K * temperature_k;
        let c = (-dt / self.damping_fs).exp();
        let r1: f64 = rng.sample(StandardNormal);
        let rest = if self.degrees_of_freedom > 1 {
            rng.sample(ChiSquared::new(nf - 1.0).expect("positive degrees of freedom"))
        } else {
            0.0
        };
        kinetic
            + (1.0 - c) * (target * (r1 * r1 + rest) / nf - kinetic)
            + 2.0 * r1 * (kinetic * target / nf * (1.0 - c) * c).sqrt()
    }

    /// Rescales velocities over one step of `dt` fs.
    pub fn rescale(&mut self, system: &mut System, temperature_k: f64, dt: f64, rng: &mut Xoshiro256PlusPlus) {
        let kinetic = system.kinetic_energy();
        if kinetic <= 0.0 {
            return;
        }
        let new_kinetic = self.resample_kinetic_energy(kinetic, temperature_k, dt, rng).max(0.0);
        let alpha = (new_kinetic / kinetic).sqrt();
        for v in system.velocities.iter_mut() {
            *v *= alpha;
        }
        self.heat_in += system.kinetic_energy() - kinetic;
    }

    /// −(heat put in) (eV).
    pub fn reservoir_energy(&self) -> f64 {
        -self.heat_in
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Starting from the canonical distribution of K (Gamma(N_f/2, k_B T)), one resampling step keeps it:
    /// mean N_f k_B T/2 and variance N_f (k_B T)²/2.
    #[test]
    fn resampling_preserves_the_canonical_kinetic_energy_distribution() {
        let nf = 30;
        let t = 500.0;
        let csvr = StochasticRescaling::new(20.0, nf);
        let kt = BOLTZMANN_EV_PER_K * t;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let gamma = rand_distr::Gamma::new(nf as f64 / 2.0, kt).unwrap();
        let samples = 200_000;
        let (mut sum, mut sum2) = (0.0, 0.0);
        for _ in 0..samples {
            let k0: f64 = rng.sample(gamma);
            let k1 = csvr.resample_kinetic_energy(k0, t, 5.0, &mut rng);
            sum += k1;
            sum2 += k1 * k1;
        }
        let mean = sum / samples as f64;
        let variance = sum2 / samples as f64 - mean * mean;
        assert!((mean / (0.5 * nf as f64 * kt) - 1.0).abs() < 0.005, "mean {mean}");
        assert!((variance / (0.5 * nf as f64 * kt * kt) - 1.0).abs() < 0.02, "variance {variance}");
    }
}

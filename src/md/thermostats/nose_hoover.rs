//! Nosé–Hoover chain thermostat (Martyna, Klein & Tuckerman, J. Chem. Phys. 97, 2635 (1992); integrator of
//! Martyna, Tuckerman, Tobias & Klein, Mol. Phys. 87, 1117 (1996)), following LAMMPS `fix nvt`
//! (`FixNH::nhc_temp_integrate`, one multiple-time-step loop, no Suzuki–Yoshida weights).
//!
//! Chain masses Q₁ = N_f k_B T τ², Q_k = k_B T τ² (k ≥ 2), refreshed from the current target (so a ramp keeps
//! the chain frequency 1/τ). Thermostat forces G₁ = (2K − N_f k_B T)/Q₁, G_k = (Q_{k−1} ξ̇²_{k−1} − k_B T)/Q_k.
//! Each half step updates ξ̇ from the end of the chain inwards, scales velocities by exp(−ξ̇₁ Δt/2), advances
//! ξ_k by ξ̇_k Δt/2 and updates ξ̇ outwards again. The conserved quantity is
//! H = E_pot + K + Σ_k ½ Q_k ξ̇_k² + N_f k_B T ξ₁ + Σ_{k≥2} k_B T ξ_k.

use crate::system::{System, BOLTZMANN_EV_PER_K};
use serde::{Deserialize, Serialize};

/// State of a Nosé–Hoover chain of length M.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoseHooverChain {
    /// Relaxation time τ (fs).
    damping_fs: f64,
    /// Degrees of freedom N_f thermostatted.
    degrees_of_freedom: usize,
    /// Target of the last update (K).
    temperature_k: f64,
    /// Positions ξ_k (dimensionless).
    eta: Vec<f64>,
    /// Velocities ξ̇_k (1/fs); M + 1 entries, the last always zero.
    eta_dot: Vec<f64>,
    /// Accelerations (1/fs²).
    eta_dotdot: Vec<f64>,
    /// Masses Q_k (eV fs²).
    eta_mass: Vec<f64>,
}

impl NoseHooverChain {
    /// A chain at rest for `degrees_of_freedom` at target `temperature_k` (as LAMMPS `FixNH::setup`).
    pub fn new(damping_fs: f64, chain: usize, degrees_of_freedom: usize, temperature_k: f64) -> NoseHooverChain {
        let mut nhc = NoseHooverChain {
            damping_fs,
            degrees_of_freedom,
            temperature_k,
            eta: vec![0.0; chain],
            eta_dot: vec![0.0; chain + 1],
            eta_dotdot: vec![0.0; chain],
            eta_mass: vec![0.0; chain],
        };
        nhc.update_masses(temperature_k);
        let kt = BOLTZMANN_EV_PER_K * temperature_k;
        for k in 1..chain {
            nhc.eta_dotdot[k] = (nhc.eta_mass[k - 1] * nhc.eta_dot[k - 1].powi(2) - kt) / nhc.eta_mass[k];
        }
        nhc
    }

    fn update_masses(&mut self, temperature_k: f64) {
        let kt_tau2 = BOLTZMANN_EV_PER_K * temperature_k * self.damping_fs * self.damping_fs;
        self.eta_mass[0] = self.degrees_of_freedom as f64 * kt_tau2;
        for mass in self.eta_mass.iter_mut().skip(1) {
            *mass = kt_tau2;
        }
    }

    /// Propagates the chain and scales velocities over half a timestep (`dt` is the full timestep, fs).
    pub fn half_step(&mut self, system: &mut System, temperature_k: f64, dt: f64) {
        let chain = self.eta.len();
        self.temperature_k = temperature_k;
        self.update_masses(temperature_k);
        let kt = BOLTZMANN_EV_PER_K * temperature_k;
        let ke_target = self.degrees_of_freedom as f64 * kt;
        let (dt4, dt8, dthalf) = (0.25 * dt, 0.125 * dt, 0.5 * dt);
        let mut twice_kinetic = 2.0 * system.kinetic_energy();
        self.eta_dotdot[0] = (twice_kinetic - ke_target) / self.eta_mass[0];
        for k in (1..chain).rev() {
            let expfac = (-dt8 * self.eta_dot[k + 1]).exp();
            self.eta_dot[k] = (self.eta_dot[k] * expfac + self.eta_dotdot[k] * dt4) * expfac;
        }
        let expfac = (-dt8 * self.eta_dot[1]).exp();
        self.eta_dot[0] = (self.eta_dot[0] * expfac + self.eta_dotdot[0] * dt4) * expfac;
        let factor = (-dthalf * self.eta_dot[0]).exp();
        for v in system.velocities.iter_mut() {
            *v *= factor;
        }
        twice_kinetic *= factor * factor;
        self.eta_dotdot[0] = (twice_kinetic - ke_target) / self.eta_mass[0];
        for k in 0..chain {
            self.eta[k] += dthalf * self.eta_dot[k];
        }
        self.eta_dot[0] = (self.eta_dot[0] * expfac + self.eta_dotdot[0] * dt4) * expfac;
        for k in 1..chain {
            let expfac = (-dt8 * self.eta_dot[k + 1]).exp();
            self.eta_dot[k] *= expfac;
            self.eta_dotdot[k] = (self.eta_mass[k - 1] * self.eta_dot[k - 1].powi(2) - kt) / self.eta_mass[k];
            self.eta_dot[k] = (self.eta_dot[k] + self.eta_dotdot[k] * dt4) * expfac;
        }
    }

    /// Chain energy Σ ½ Q_k ξ̇_k² + N_f k_B T ξ₁ + Σ_{k≥2} k_B T ξ_k (eV), at the last target.
    pub fn energy(&self) -> f64 {
        let kt = BOLTZMANN_EV_PER_K * self.temperature_k;
        let mut energy = self.degrees_of_freedom as f64 * kt * self.eta[0];
        for k in 0..self.eta.len() {
            energy += 0.5 * self.eta_mass[k] * self.eta_dot[k].powi(2);
            if k > 0 {
                energy += kt * self.eta[k];
            }
        }
        energy
    }
}

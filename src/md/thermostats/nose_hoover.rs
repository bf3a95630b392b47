//! Nosé–Hoover chain thermostat (Martyna, Klein & Tuckerman, J. Chem. Phys. 97, 2635 (1992); integrator of
//! Martyna, Tuckerman, Tobias & Klein, Mol. Phys. 87, 1117 (1996)), following LAMMPS `fix nvt`
//! (`FixNH::nhc_temp_integrate`, one multiple-time-step loop, no Suzuki–Yoshida weights).
//!
//! Chain masses Q₁ = N_f k_B T τ², Q_k = k_B T τ² (k ≥ 2), refreshed from the current target (so a ramp keeps
//! the chain frequency 1/τ). Thermostat forces G₁ = (2K − N_f k_B T)/Q₁, G_k = (Q_{k−1} ξ̇²_{k−1} − k_B T)/Q_k.
//! Each half step updates ξ̇ from the end of the chain inwards, scales velocities by exp(−ξ̇₁ Δt/2), advances
//! ξ_k by ξ̇_k Δt/2 and updates ξ̇ outwards again. The conserved quantity is
//! H = E_pot + K + Σ_k ½ Q_k ξ̇_k² + N_f k_B T ξ₁ + Σ_{k≥2} k_B T ξ_k.

use super::{ThermostatConfig, ThermostatHooks};
use crate::input::{join, positive, InvalidValue};
use crate::system::{System, BOLTZMANN_EV_PER_K};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// `thermostat = { kind = "nose-hoover", damping_fs = 100, chain = 3 }`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoseHooverSettings {
    /// Relaxation time τ (fs); LAMMPS recommends ~100 timesteps.
    pub damping_fs: f64,
    /// Chain length M (default 3).
    #[serde(default = "default_chain")]
    pub chain: usize,
}

fn default_chain() -> usize {
    3
}

impl ThermostatConfig for NoseHooverSettings {
    type State = NoseHooverChain;

    fn damping_fs(&self) -> f64 {
        self.damping_fs
    }

    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        positive(key, "damping_fs", self.damping_fs)?;
        if self.chain == 0 || self.chain > 100 {
            return Err(InvalidValue::new(join(key, "chain"), self.chain, "a chain length between 1 and 100"));
        }
        Ok(())
    }

    fn build(&self, system: &System, temperature_k: f64) -> NoseHooverChain {
        NoseHooverChain::new(self.damping_fs, self.chain, system.degrees_of_freedom(), temperature_k)
    }
}

/// Half steps before the first and after the second half kick.
impl ThermostatHooks for NoseHooverChain {
    fn begin_step(&mut self, system: &mut System, temperature_k: f64, dt: f64) {
        self.half_step(system, temperature_k, dt);
    }

    fn end_step(&mut self, system: &mut System, temperature_k: f64, dt: f64, _rng: &mut Xoshiro256PlusPlus) {
        self.half_step(system, temperature_k, dt);
    }

    fn reservoir_energy(&self) -> f64 {
        self.energy()
    }

    fn needs_motion(&self) -> bool {
        true
    }
}

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
        let factor = self.propagate(2.0 * system.kinetic_energy(), temperature_k, dt);
        for v in system.velocities.iter_mut() {
            *v *= factor;
        }
    }

    /// Propagates the chain over half a timestep (`dt` is the full timestep, fs) coupled to degrees of freedom
    /// of twice-kinetic energy `twice_kinetic` (eV); returns the factor by which their velocities are to be
    /// scaled. The particles' thermostat and the MTK barostat's chain on the cell (with N_f the cell's degrees
    /// of freedom) are both this.
    pub fn propagate(&mut self, twice_kinetic: f64, temperature_k: f64, dt: f64) -> f64 {
        let chain = self.eta.len();
        self.temperature_k = temperature_k;
        self.update_masses(temperature_k);
        let kt = BOLTZMANN_EV_PER_K * temperature_k;
        let ke_target = self.degrees_of_freedom as f64 * kt;
        let (dt4, dt8, dthalf) = (0.25 * dt, 0.125 * dt, 0.5 * dt);
        self.eta_dotdot[0] = (twice_kinetic - ke_target) / self.eta_mass[0];
        for k in (1..chain).rev() {
            let expfac = (-dt8 * self.eta_dot[k + 1]).exp();
            self.eta_dot[k] = (self.eta_dot[k] * expfac + self.eta_dotdot[k] * dt4) * expfac;
        }
        let expfac = (-dt8 * self.eta_dot[1]).exp();
        self.eta_dot[0] = (self.eta_dot[0] * expfac + self.eta_dotdot[0] * dt4) * expfac;
        let factor = (-dthalf * self.eta_dot[0]).exp();
        self.eta_dotdot[0] = (twice_kinetic * (factor * factor) - ke_target) / self.eta_mass[0];
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
        factor
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::Cell;
    use nalgebra::Vector3;

    /// Chain equations of motion for a force-free system, where only the thermostat changes K:
    /// K̇ = −2ξ̇₁K, ξ̈₁ = G₁ − ξ̇₁ξ̇₂, ξ̈_k = G_k − ξ̇_kξ̇_{k+1}, ξ̈_M = G_M, ξ̇_k = dξ_k/dt.
    /// State: [K, ξ̇₁..ξ̇_M, ξ₁..ξ_M].
    fn derivative(y: &[f64], masses: &[f64], nf: f64, kt: f64) -> Vec<f64> {
        let m = masses.len();
        let kinetic = y[0];
        let eta_dot = &y[1..=m];
        let mut dy = vec![0.0; y.len()];
        dy[0] = -2.0 * eta_dot[0] * kinetic;
        for k in 0..m {
            let force = if k == 0 {
                (2.0 * kinetic - nf * kt) / masses[0]
            } else {
                (masses[k - 1] * eta_dot[k - 1].powi(2) - kt) / masses[k]
            };
            let next = if k + 1 < m { eta_dot[k + 1] } else { 0.0 };
            dy[1 + k] = force - eta_dot[k] * next;
            dy[1 + m + k] = eta_dot[k];
        }
        dy
    }

    /// Runs the chain alone on a force-free system for 200 fs (4τ) with timestep `dt`, beside a fine
    /// Runge–Kutta solution of the equations of motion; returns the relative error of K and of H = K + chain
    /// energy's drift.
    fn run_against_reference(dt: f64) -> (f64, f64) {
        let mut system = System::new(Cell::orthorhombic(20.0, 20.0, 20.0).unwrap());
        for i in 0..10 {
            system.push_with_mass(18, Vector3::new(i as f64, 0.0, 0.0), 39.948);
            system.velocities[i] = Vector3::new(0.01 * (i as f64 - 4.5), 0.004 * (i % 3) as f64, -0.003);
        }
        let nf = system.degrees_of_freedom() as f64;
        let (temperature, tau, chain) = (300.0, 50.0, 3);
        let mut nhc = NoseHooverChain::new(tau, chain, system.degrees_of_freedom(), temperature);
        let kt = BOLTZMANN_EV_PER_K * temperature;
        let masses = nhc.eta_mass.clone();
        let initial_energy = system.kinetic_energy() + nhc.energy();
        let mut y = vec![0.0; 1 + 2 * chain];
        y[0] = system.kinetic_energy();
        let steps = (200.0 / dt).round() as usize;
        for _ in 0..steps {
            nhc.half_step(&mut system, temperature, dt);
            nhc.half_step(&mut system, temperature, dt);
            // Fourth-order Runge–Kutta with 10 substeps per step.
            let h = dt / 10.0;
            for _ in 0..10 {
                let k1 = derivative(&y, &masses, nf, kt);
                let y2: Vec<f64> = y.iter().zip(&k1).map(|(a, b)| a + 0.5 * h * b).collect();
                let k2 = derivative(&y2, &masses, nf, kt);
                let y3: Vec<f64> = y.iter().zip(&k2).map(|(a, b)| a + 0.5 * h * b).collect();
                let k3 = derivative(&y3, &masses, nf, kt);
                let y4: Vec<f64> = y.iter().zip(&k3).map(|(a, b)| a + h * b).collect();
                let k4 = derivative(&y4, &masses, nf, kt);
                for i in 0..y.len() {
                    y[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
                }
            }
        }
        // K moved far from its start (0.14 eV) towards (N_f/2) k_B T = 0.35 eV, so the comparison is not trivial.
        assert!(y[0] > 0.3, "reference K = {}", y[0]);
        let kinetic = system.kinetic_energy();
        let energy = kinetic + nhc.energy();
        ((kinetic - y[0]) / y[0], (energy - initial_energy) / initial_energy)
    }

    /// The chain integrator converges to the exact Nosé–Hoover-chain trajectory at second order in Δt
    /// (error ×1/4 when Δt halves) and conserves K + chain energy.
    #[test]
    fn converges_to_the_chain_equations_of_motion_at_second_order() {
        let (coarse, coarse_drift) = run_against_reference(0.5);
        let (fine, fine_drift) = run_against_reference(0.25);
        println!("relative K errors {coarse:e}, {fine:e}; H drifts {coarse_drift:e}, {fine_drift:e}");
        assert!(fine.abs() < 1e-4, "relative error of K at Δt = 0.25 fs: {fine}");
        let order = (coarse / fine).log2();
        assert!((order - 2.0).abs() < 0.2, "convergence order {order} (errors {coarse}, {fine})");
        assert!(
            coarse_drift.abs() < 1e-3 && fine_drift.abs() < 0.3 * coarse_drift.abs().max(1e-12) + 1e-9,
            "H drift {coarse_drift} → {fine_drift}"
        );
    }
}

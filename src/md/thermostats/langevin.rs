//! Langevin dynamics with the BAOAB splitting (Leimkuhler & Matthews, Appl. Math. Res. Express 2013, 34;
//! J. Chem. Phys. 138, 174102 (2013)). The O step is the exact Ornstein–Uhlenbeck update over Δt:
//!
//! v ← c v + √((1 − c²) k_B T/m) ξ,  c = exp(−γΔt), γ = 1/damping, ξ ~ N(0, 1) per component,
//!
//! followed by removal of the centre-of-mass velocity (as LAMMPS `fix langevin ... zero yes`), which in
//! mass-weighted coordinates is an orthogonal projection, so the 3N − 3 internal degrees of freedom are sampled
//! exactly at T and the total momentum stays zero. The kinetic energy the O step puts in is accumulated, so
//! E_pot + K − (heat in) is the conserved "effective energy" (it drifts only by discretisation error).

use super::{ThermostatConfig, ThermostatHooks};
use crate::input::{positive, InvalidValue};
use crate::md::velocities::zero_momentum;
use crate::system::{System, AMU_A2_PER_FS2_IN_EV, BOLTZMANN_EV_PER_K};
use rand::Rng;
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// `thermostat = { kind = "langevin", damping_fs = 100 }`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LangevinSettings {
    /// Relaxation time 1/γ (fs).
    pub damping_fs: f64,
}

impl ThermostatConfig for LangevinSettings {
    type State = Langevin;

    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        positive(key, "damping_fs", self.damping_fs)
    }

    fn damping_fs(&self) -> f64 {
        self.damping_fs
    }

    fn build(&self, _system: &System, _temperature_k: f64) -> Langevin {
        Langevin::new(self.damping_fs)
    }
}

/// The O step between the two half drifts.
impl ThermostatHooks for Langevin {
    fn has_mid_step(&self) -> bool {
        true
    }

    fn mid_step(&mut self, system: &mut System, temperature_k: f64, dt: f64, rng: &mut Xoshiro256PlusPlus) {
        self.ornstein_uhlenbeck(system, temperature_k, dt, rng);
    }

    fn reservoir_energy(&self) -> f64 {
        Langevin::reservoir_energy(self)
    }
}

/// Langevin thermostat state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Langevin {
    /// 1/γ (fs).
    damping_fs: f64,
    /// Kinetic energy put into the system by the thermostat so far (eV).
    heat_in: f64,
}

impl Langevin {
    pub fn new(damping_fs: f64) -> Langevin {
        Langevin { damping_fs, heat_in: 0.0 }
    }

    /// The O step over `dt` (fs) at `temperature_k`; random numbers drawn atom by atom, x, y, z.
    pub fn ornstein_uhlenbeck(
        &mut self,
        system: &mut System,
        temperature_k: f64,
        dt: f64,
        rng: &mut Xoshiro256PlusPlus,
    ) {
        let before = system.kinetic_energy();
        let c = (-dt / self.damping_fs).exp();
        let noise = ((1.0 - c * c) * BOLTZMANN_EV_PER_K * temperature_k / AMU_A2_PER_FS2_IN_EV).sqrt();
        for (v, m) in system.velocities.iter_mut().zip(&system.masses) {
            let sigma = noise / m.sqrt();
            for k in 0..3 {
                let xi: f64 = rng.sample(StandardNormal);
                v[k] = c * v[k] + sigma * xi;
            }
        }
        if system.len() > 1 {
            zero_momentum(system);
        }
        self.heat_in += system.kinetic_energy() - before;
    }

    /// −(heat put in) (eV).
    pub fn reservoir_energy(&self) -> f64 {
        -self.heat_in
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::Cell;
    use nalgebra::Vector3;
    use rand::SeedableRng;

    /// For free particles the O step is the exact Ornstein–Uhlenbeck process: starting at rest, the kinetic
    /// energy of the 3N − 3 internal degrees of freedom relaxes as K(t) = (N_f/2) k_B T (1 − e^{−2γt}), and the
    /// heat put in equals the kinetic energy gained.
    #[test]
    fn relaxes_free_particles_as_ornstein_uhlenbeck() {
        let mut system = System::new(Cell::orthorhombic(50.0, 50.0, 50.0).unwrap());
        for i in 0..3000 {
            system.push_with_mass(
                if i % 2 == 0 { 3 } else { 18 },
                Vector3::zeros(),
                if i % 2 == 0 { 6.94 } else { 39.948 },
            );
        }
        let (temperature, damping, dt) = (500.0, 100.0, 5.0);
        let mut langevin = Langevin::new(damping);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
        let nf = system.degrees_of_freedom() as f64;
        let equilibrium = 0.5 * nf * BOLTZMANN_EV_PER_K * temperature;
        for step in 1..=60 {
            langevin.ornstein_uhlenbeck(&mut system, temperature, dt, &mut rng);
            if step % 20 == 0 {
                let t = step as f64 * dt;
                let expected = equilibrium * (1.0 - (-2.0 * t / damping).exp());
                // K is a sum of ~9000 squared Gaussians: relative standard deviation ≈ √(2/9000) = 1.5 %.
                let kinetic = system.kinetic_energy();
                assert!((kinetic / expected - 1.0).abs() < 0.05, "t = {t} fs: K = {kinetic}, expected {expected}");
            }
        }
        assert!(system.momentum().norm() < 1e-9);
        assert!((langevin.reservoir_energy() + system.kinetic_energy()).abs() < 1e-9);
    }
}

//! Thermostats, interleaved with velocity Verlet as
//!
//! `begin_step` (Δt/2) → kick Δt/2 → drift Δt/2 → `mid_step` (Δt) → drift Δt/2 → forces → kick Δt/2 →
//! `end_step` (Δt/2 or Δt).
//!
//! Each keeps the energy it has exchanged with the system so that the run can report a conserved quantity:
//! E_conserved = E_pot + E_kin + [`Thermostat::reservoir_energy`].

pub mod csvr;
pub mod langevin;
pub mod nose_hoover;

pub use csvr::StochasticRescaling;
pub use langevin::Langevin;
pub use nose_hoover::NoseHooverChain;

use crate::input::{join, positive, InvalidValue};
use crate::system::System;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

fn default_chain() -> usize {
    3
}

/// `thermostat = { kind = "...", ... }` of an MD stage.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ThermostatSettings {
    /// Microcanonical (NVE): no thermostat.
    None,
    /// Nosé–Hoover chain, as LAMMPS `fix nvt temp T T damping_fs tchain chain`.
    NoseHoover {
        /// Relaxation time τ (fs); LAMMPS recommends ~100 timesteps.
        damping_fs: f64,
        /// Chain length M (default 3).
        #[serde(default = "default_chain")]
        chain: usize,
    },
    /// Langevin dynamics, BAOAB splitting, friction γ = 1/damping_fs.
    Langevin {
        /// Relaxation time 1/γ (fs).
        damping_fs: f64,
    },
    /// Bussi–Donadio–Parrinello stochastic velocity rescaling.
    Csvr {
        /// Relaxation time τ of the kinetic energy (fs).
        damping_fs: f64,
    },
}

impl ThermostatSettings {
    /// Checks values; `key` is e.g. `stage[2].thermostat`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        match self {
            ThermostatSettings::None => Ok(()),
            ThermostatSettings::NoseHoover { damping_fs, chain } => {
                positive(key, "damping_fs", *damping_fs)?;
                if *chain == 0 || *chain > 100 {
                    return Err(InvalidValue::new(join(key, "chain"), chain, "a chain length between 1 and 100"));
                }
                Ok(())
            }
            ThermostatSettings::Langevin { damping_fs } | ThermostatSettings::Csvr { damping_fs } => {
                positive(key, "damping_fs", *damping_fs)
            }
        }
    }

    /// True for the microcanonical ensemble.
    pub fn is_none(&self) -> bool {
        matches!(self, ThermostatSettings::None)
    }

    /// A fresh thermostat for `system` at target `temperature_k`.
    pub fn build(&self, system: &System, temperature_k: f64) -> Thermostat {
        match *self {
            ThermostatSettings::None => Thermostat::None,
            ThermostatSettings::NoseHoover { damping_fs, chain } => Thermostat::NoseHoover(NoseHooverChain::new(
                damping_fs,
                chain,
                system.degrees_of_freedom(),
                temperature_k,
            )),
            ThermostatSettings::Langevin { damping_fs } => Thermostat::Langevin(Langevin::new(damping_fs)),
            ThermostatSettings::Csvr { damping_fs } => {
                Thermostat::Csvr(StochasticRescaling::new(damping_fs, system.degrees_of_freedom()))
            }
        }
    }
}

/// The state of a running thermostat (serialised into checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Thermostat {
    None,
    NoseHoover(NoseHooverChain),
    Langevin(Langevin),
    Csvr(StochasticRescaling),
}

impl Thermostat {
    /// Applied before the first half kick.
    pub fn begin_step(&mut self, system: &mut System, temperature_k: f64, dt: f64) {
        if let Thermostat::NoseHoover(chain) = self {
            chain.half_step(system, temperature_k, dt);
        }
    }

    /// True when the thermostat acts between the two half drifts (BAOAB Langevin).
    pub fn has_mid_step(&self) -> bool {
        matches!(self, Thermostat::Langevin(_))
    }

    /// Applied between the two half drifts.
    pub fn mid_step(&mut self, system: &mut System, temperature_k: f64, dt: f64, rng: &mut Xoshiro256PlusPlus) {
        if let Thermostat::Langevin(langevin) = self {
            langevin.ornstein_uhlenbeck(system, temperature_k, dt, rng);
        }
    }

    /// Applied after the second half kick.
    pub fn end_step(&mut self, system: &mut System, temperature_k: f64, dt: f64, rng: &mut Xoshiro256PlusPlus) {
        match self {
            Thermostat::NoseHoover(chain) => chain.half_step(system, temperature_k, dt),
            Thermostat::Csvr(csvr) => csvr.rescale(system, temperature_k, dt, rng),
            Thermostat::None | Thermostat::Langevin(_) => {}
        }
    }

    /// Energy (eV) to add to E_pot + E_kin for the conserved quantity: the chain's energy for Nosé–Hoover,
    /// minus the kinetic energy the thermostat has put into the system for Langevin and CSVR.
    pub fn reservoir_energy(&self) -> f64 {
        match self {
            Thermostat::None => 0.0,
            Thermostat::NoseHoover(chain) => chain.energy(),
            Thermostat::Langevin(langevin) => langevin.reservoir_energy(),
            Thermostat::Csvr(csvr) => csvr.reservoir_energy(),
        }
    }

    /// True if the thermostat cannot start from zero kinetic energy (deterministic or multiplicative ones).
    pub fn needs_motion(&self) -> bool {
        matches!(self, Thermostat::NoseHoover(_) | Thermostat::Csvr(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_reject_unknown_keys() {
        #[derive(Deserialize)]
        struct Wrapper {
            thermostat: ThermostatSettings,
        }
        let parsed: Wrapper = toml::from_str("thermostat = { kind = \"nose-hoover\", damping_fs = 100 }").unwrap();
        assert_eq!(parsed.thermostat, ThermostatSettings::NoseHoover { damping_fs: 100.0, chain: 3 });
        let parsed: Wrapper = toml::from_str("thermostat = { kind = \"csvr\", damping_fs = 50 }").unwrap();
        assert_eq!(parsed.thermostat, ThermostatSettings::Csvr { damping_fs: 50.0 });
        let err = toml::from_str::<Wrapper>("thermostat = { kind = \"langevin\", damping = 5 }").err().unwrap();
        assert!(err.to_string().contains("damping"), "{err}");
        assert!(toml::from_str::<Wrapper>("thermostat = { kind = \"berendsen\", damping_fs = 5 }").is_err());
        let bad = ThermostatSettings::NoseHoover { damping_fs: 100.0, chain: 0 };
        assert_eq!(bad.validate("stage[1].thermostat").unwrap_err().key, "stage[1].thermostat.chain");
    }
}

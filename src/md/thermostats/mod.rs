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

pub use csvr::{CsvrSettings, StochasticRescaling};
pub use langevin::{Langevin, LangevinSettings};
pub use nose_hoover::{NoseHooverChain, NoseHooverSettings};

use crate::input::InvalidValue;
use crate::system::System;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// The settings of one kind of thermostat (`thermostat = { kind = "...", ... }`), registered in
/// [`thermostat_kinds!`].
pub trait ThermostatConfig {
    /// The running thermostat these settings start.
    type State: ThermostatHooks;

    /// Checks values; `key` is e.g. `stage[2].thermostat`.
    fn validate(&self, key: &str) -> Result<(), InvalidValue>;

    /// The relaxation time `damping_fs` (fs).
    fn damping_fs(&self) -> f64;

    /// A fresh thermostat for `system` at target `temperature_k`.
    fn build(&self, system: &System, temperature_k: f64) -> Self::State;
}

/// What a thermostat does around velocity Verlet (lumol's thermostat hooks). Every hook has a default that
/// does nothing, so a thermostat implements only the ones it acts in.
pub trait ThermostatHooks {
    /// Applied before the first half kick, over Δt/2.
    fn begin_step(&mut self, _system: &mut System, _temperature_k: f64, _dt: f64) {}

    /// True when the thermostat acts between the two half drifts (BAOAB Langevin).
    fn has_mid_step(&self) -> bool {
        false
    }

    /// Applied between the two half drifts, over Δt.
    fn mid_step(&mut self, _system: &mut System, _temperature_k: f64, _dt: f64, _rng: &mut Xoshiro256PlusPlus) {}

    /// Applied after the second half kick.
    fn end_step(&mut self, _system: &mut System, _temperature_k: f64, _dt: f64, _rng: &mut Xoshiro256PlusPlus) {}

    /// Energy (eV) to add to E_pot + E_kin for the conserved quantity.
    fn reservoir_energy(&self) -> f64 {
        0.0
    }

    /// True if the thermostat cannot start from zero kinetic energy (deterministic or multiplicative ones).
    fn needs_motion(&self) -> bool {
        false
    }
}

/// Declares the thermostat kinds, one line each: `"kind" => Variant(Settings, State)`. Generates
/// [`ThermostatSettings`] (the table tagged by `kind`, plus `kind = "none"`) and [`Thermostat`] (the running
/// state, serialised into checkpoints as `{"Variant": state}` or `"None"`).
macro_rules! thermostat_kinds {
    ($($(#[doc = $doc:literal])* $kind:literal => $variant:ident($settings:ty, $state:ty),)+) => {
        /// `thermostat = { kind = "...", ... }` of an MD stage.
        #[derive(Clone, Debug, Deserialize, PartialEq)]
        #[serde(tag = "kind")]
        pub enum ThermostatSettings {
            /// Microcanonical (NVE): no thermostat.
            #[serde(rename = "none")]
            None,
            $($(#[doc = $doc])* #[serde(rename = $kind)] $variant($settings),)+
        }

        /// The state of a running thermostat (serialised into checkpoints).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub enum Thermostat {
            None,
            $($variant($state),)+
        }

        impl ThermostatSettings {
            /// The relaxation time `damping_fs` (fs); `None` without a thermostat.
            pub fn damping_fs(&self) -> Option<f64> {
                match self {
                    ThermostatSettings::None => None,
                    $(ThermostatSettings::$variant(settings) => Some(settings.damping_fs()),)+
                }
            }

            /// Checks values; `key` is e.g. `stage[2].thermostat`.
            pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
                match self {
                    ThermostatSettings::None => Ok(()),
                    $(ThermostatSettings::$variant(settings) => settings.validate(key),)+
                }
            }

            /// A fresh thermostat for `system` at target `temperature_k`.
            pub fn build(&self, system: &System, temperature_k: f64) -> Thermostat {
                match self {
                    ThermostatSettings::None => Thermostat::None,
                    $(ThermostatSettings::$variant(settings) => Thermostat::$variant(settings.build(system, temperature_k)),)+
                }
            }
        }

        impl Thermostat {
            /// The `kind` as written in the study file.
            pub fn kind(&self) -> &'static str {
                match self {
                    Thermostat::None => "none",
                    $(Thermostat::$variant(_) => $kind,)+
                }
            }

            fn hooks(&self) -> Option<&dyn ThermostatHooks> {
                match self {
                    Thermostat::None => None,
                    $(Thermostat::$variant(state) => Some(state),)+
                }
            }

            fn hooks_mut(&mut self) -> Option<&mut dyn ThermostatHooks> {
                match self {
                    Thermostat::None => None,
                    $(Thermostat::$variant(state) => Some(state),)+
                }
            }
        }
    };
}

thermostat_kinds! {
    /// Nosé–Hoover chain, as LAMMPS `fix nvt temp T T damping_fs tchain chain`.
    "nose-hoover" => NoseHoover(NoseHooverSettings, NoseHooverChain),
    /// Langevin dynamics, BAOAB splitting, friction γ = 1/damping_fs.
    "langevin" => Langevin(LangevinSettings, Langevin),
    /// Bussi–Donadio–Parrinello stochastic velocity rescaling.
    "csvr" => Csvr(CsvrSettings, StochasticRescaling),
}

impl ThermostatSettings {
    /// True for the microcanonical ensemble.
    pub fn is_none(&self) -> bool {
        matches!(self, ThermostatSettings::None)
    }
}

impl Thermostat {
    /// Applied before the first half kick.
    pub fn begin_step(&mut self, system: &mut System, temperature_k: f64, dt: f64) {
        if let Some(hooks) = self.hooks_mut() {
            hooks.begin_step(system, temperature_k, dt);
        }
    }

    /// True when the thermostat acts between the two half drifts (BAOAB Langevin).
    pub fn has_mid_step(&self) -> bool {
        self.hooks().is_some_and(|hooks| hooks.has_mid_step())
    }

    /// Applied between the two half drifts.
    pub fn mid_step(&mut self, system: &mut System, temperature_k: f64, dt: f64, rng: &mut Xoshiro256PlusPlus) {
        if let Some(hooks) = self.hooks_mut() {
            hooks.mid_step(system, temperature_k, dt, rng);
        }
    }

    /// Applied after the second half kick.
    pub fn end_step(&mut self, system: &mut System, temperature_k: f64, dt: f64, rng: &mut Xoshiro256PlusPlus) {
        if let Some(hooks) = self.hooks_mut() {
            hooks.end_step(system, temperature_k, dt, rng);
        }
    }

    /// Energy (eV) to add to E_pot + E_kin for the conserved quantity: the chain's energy for Nosé–Hoover,
    /// minus the kinetic energy the thermostat has put into the system for Langevin and CSVR.
    pub fn reservoir_energy(&self) -> f64 {
        self.hooks().map_or(0.0, |hooks| hooks.reservoir_energy())
    }

    /// True if the thermostat cannot start from zero kinetic energy (deterministic or multiplicative ones).
    pub fn needs_motion(&self) -> bool {
        self.hooks().is_some_and(|hooks| hooks.needs_motion())
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
        assert_eq!(
            parsed.thermostat,
            ThermostatSettings::NoseHoover(NoseHooverSettings { damping_fs: 100.0, chain: 3 })
        );
        let parsed: Wrapper = toml::from_str("thermostat = { kind = \"csvr\", damping_fs = 50 }").unwrap();
        assert_eq!(parsed.thermostat, ThermostatSettings::Csvr(CsvrSettings { damping_fs: 50.0 }));
        let err = toml::from_str::<Wrapper>("thermostat = { kind = \"langevin\", damping = 5 }").err().unwrap();
        assert!(err.to_string().contains("damping"), "{err}");
        assert!(toml::from_str::<Wrapper>("thermostat = { kind = \"berendsen\", damping_fs = 5 }").is_err());
        let bad = ThermostatSettings::NoseHoover(NoseHooverSettings { damping_fs: 100.0, chain: 0 });
        assert_eq!(bad.validate("stage[1].thermostat").unwrap_err().key, "stage[1].thermostat.chain");
    }
}

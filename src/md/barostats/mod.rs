//! Barostats: constant-pressure MD (`barostat = { kind = "...", ... }` beside a thermostat), interleaved with
//! velocity Verlet as
//!
//! thermostat `begin_step` → barostat `begin_step` (Δt/2) → kick Δt/2 → barostat `drift` (cell and positions
//! over Δt) → forces → kick Δt/2 → barostat `end_step` (Δt/2) → thermostat `end_step`,
//!
//! a palindrome, so the splitting stays time-reversible for the deterministic MTK equations. A barostat changes the
//! cell by a linear map F applied to the lattice vectors and to every position, r → F·r ([`deform`]): fractional
//! coordinates, and therefore image flags, are kept, so unwrapped positions r + n·h follow the cell (as LAMMPS's
//! `remap` with `dilate all`).
//!
//! Pressure tensor (LAMMPS `compute pressure`): P = (Σ_i m_i v_i ⊗ v_i + W)/V with the virial W = Σ_i r_i ⊗ F_i;
//! the scalar pressure is tr P / 3.

pub mod c_rescale;
pub mod mtk;

pub use c_rescale::{CellRescaling, CellRescalingSettings};
pub use mtk::{MtkBarostat, MtkSettings};

use crate::input::InvalidValue;
use crate::potentials::{Evaluation, EV_PER_A3_IN_BAR};
use crate::system::{System, AMU_A2_PER_FS2_IN_EV};
use nalgebra::Matrix3;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// Which cell degrees of freedom the barostat moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Coupling {
    /// One degree of freedom: the volume, all lengths scaled alike by the scalar pressure.
    #[default]
    Iso,
    /// Three: x, y and z scaled independently, each by its diagonal pressure component.
    Aniso,
    /// Six: the symmetric strain, driven by the whole pressure tensor (shear included).
    Tri,
}

impl Coupling {
    /// Number of cell degrees of freedom.
    pub fn degrees_of_freedom(self) -> usize {
        match self {
            Coupling::Iso => 1,
            Coupling::Aniso => 3,
            Coupling::Tri => 6,
        }
    }
}

/// What the barostat is asked for at a step: target pressure (eV/Å³) and temperature (K).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Targets {
    pub pressure: f64,
    pub temperature_k: f64,
}

impl Targets {
    /// Targets from a pressure in bar.
    pub fn new(pressure_bar: f64, temperature_k: f64) -> Targets {
        Targets { pressure: pressure_bar / EV_PER_A3_IN_BAR, temperature_k }
    }
}

/// The settings of one kind of barostat, registered in [`barostat_kinds!`].
pub trait BarostatConfig {
    /// The running barostat these settings start.
    type State: BarostatHooks;

    /// Checks values; `key` is e.g. `stage[2].barostat`.
    fn validate(&self, key: &str) -> Result<(), InvalidValue>;

    /// The relaxation time `damping_fs` (fs).
    fn damping_fs(&self) -> f64;

    /// The coupling.
    fn coupling(&self) -> Coupling;

    /// True when the barostat needs a thermostat beside it (its noise is set by the target temperature).
    fn needs_thermostat(&self) -> bool;

    /// A fresh barostat for `system` with the first step's targets.
    fn build(&self, system: &System, targets: Targets) -> Self::State;
}

/// What a barostat does around velocity Verlet. The drift is the barostat's: it moves the atoms by Δt·v and
/// changes the cell.
pub trait BarostatHooks {
    /// Applied after the thermostat's `begin_step`, before the first half kick.
    fn begin_step(
        &mut self,
        system: &mut System,
        evaluation: &Evaluation,
        targets: Targets,
        dt: f64,
        rng: &mut Xoshiro256PlusPlus,
    );

    /// Replaces the drift r ← r + Δt·v: moves the atoms and changes the cell.
    fn drift(&mut self, system: &mut System, dt: f64);

    /// Applied after the second half kick, before the thermostat's `end_step`.
    fn end_step(&mut self, system: &mut System, evaluation: &Evaluation, targets: Targets, dt: f64);

    /// Energy (eV) to add to E_pot + E_kin (+ the thermostat's) for the conserved quantity.
    fn reservoir_energy(&self, system: &System, targets: Targets) -> f64;
}

/// Declares the barostat kinds, one line each: `"kind" => Variant(Settings, State)`. Generates
/// [`BarostatSettings`] (the table tagged by `kind`) and [`Barostat`] (the running state, serialised into
/// checkpoints).
macro_rules! barostat_kinds {
    ($($(#[doc = $doc:literal])* $kind:literal => $variant:ident($settings:ty, $state:ty),)+) => {
        /// `barostat = { kind = "...", ... }` of an MD stage.
        #[derive(Clone, Debug, Deserialize, PartialEq)]
        #[serde(tag = "kind")]
        pub enum BarostatSettings {
            $($(#[doc = $doc])* #[serde(rename = $kind)] $variant($settings),)+
        }

        /// The state of a running barostat (serialised into checkpoints).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub enum Barostat {
            $($variant($state),)+
        }

        impl BarostatSettings {
            fn config(&self) -> &dyn BarostatSettingsView {
                match self {
                    $(BarostatSettings::$variant(settings) => settings,)+
                }
            }

            /// A fresh barostat for `system` with the first step's targets.
            pub fn build(&self, system: &System, targets: Targets) -> Barostat {
                match self {
                    $(BarostatSettings::$variant(settings) => Barostat::$variant(settings.build(system, targets)),)+
                }
            }
        }

        impl Barostat {
            /// The `kind` as written in the study file.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Barostat::$variant(_) => $kind,)+
                }
            }

            fn hooks(&self) -> &dyn BarostatHooks {
                match self {
                    $(Barostat::$variant(state) => state,)+
                }
            }

            fn hooks_mut(&mut self) -> &mut dyn BarostatHooks {
                match self {
                    $(Barostat::$variant(state) => state,)+
                }
            }
        }
    };
}

barostat_kinds! {
    /// Martyna–Tobias–Klein with a Nosé–Hoover chain on the cell, as LAMMPS `fix npt`/`fix nph`.
    "mtk" => Mtk(MtkSettings, MtkBarostat),
    /// Bernetti–Bussi stochastic cell rescaling.
    "c-rescale" => CellRescaling(CellRescalingSettings, CellRescaling),
}

/// The object-safe part of [`BarostatConfig`], for the generated dispatch.
trait BarostatSettingsView {
    fn validate(&self, key: &str) -> Result<(), InvalidValue>;
    fn damping_fs(&self) -> f64;
    fn coupling(&self) -> Coupling;
    fn needs_thermostat(&self) -> bool;
}

impl<T: BarostatConfig> BarostatSettingsView for T {
    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        BarostatConfig::validate(self, key)
    }
    fn damping_fs(&self) -> f64 {
        BarostatConfig::damping_fs(self)
    }
    fn coupling(&self) -> Coupling {
        BarostatConfig::coupling(self)
    }
    fn needs_thermostat(&self) -> bool {
        BarostatConfig::needs_thermostat(self)
    }
}

impl BarostatSettings {
    /// Checks values; `key` is e.g. `stage[2].barostat`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        self.config().validate(key)
    }

    /// The relaxation time `damping_fs` (fs).
    pub fn damping_fs(&self) -> f64 {
        self.config().damping_fs()
    }

    /// The coupling.
    pub fn coupling(&self) -> Coupling {
        self.config().coupling()
    }

    /// True when the barostat needs a thermostat beside it.
    pub fn needs_thermostat(&self) -> bool {
        self.config().needs_thermostat()
    }
}

impl Barostat {
    /// Applied after the thermostat's `begin_step`, before the first half kick.
    pub fn begin_step(
        &mut self,
        system: &mut System,
        evaluation: &Evaluation,
        targets: Targets,
        dt: f64,
        rng: &mut Xoshiro256PlusPlus,
    ) {
        self.hooks_mut().begin_step(system, evaluation, targets, dt, rng);
    }

    /// Moves the atoms by Δt·v and changes the cell.
    pub fn drift(&mut self, system: &mut System, dt: f64) {
        self.hooks_mut().drift(system, dt);
    }

    /// Applied after the second half kick, before the thermostat's `end_step`.
    pub fn end_step(&mut self, system: &mut System, evaluation: &Evaluation, targets: Targets, dt: f64) {
        self.hooks_mut().end_step(system, evaluation, targets, dt);
    }

    /// Energy (eV) to add to the conserved quantity.
    pub fn reservoir_energy(&self, system: &System, targets: Targets) -> f64 {
        self.hooks().reservoir_energy(system, targets)
    }
}

/// The kinetic tensor Σ_i m_i v_i ⊗ v_i (eV).
pub fn kinetic_tensor(system: &System) -> Matrix3<f64> {
    let sum: Matrix3<f64> = system.masses.iter().zip(&system.velocities).map(|(m, v)| *m * v * v.transpose()).sum();
    sum * AMU_A2_PER_FS2_IN_EV
}

/// The pressure tensor P = (Σ m v ⊗ v + W)/V (eV/Å³), symmetrised.
pub fn pressure_tensor(system: &System, evaluation: &Evaluation) -> Matrix3<f64> {
    let total = kinetic_tensor(system) + evaluation.virial;
    0.5 * (total + total.transpose()) / system.cell.volume()
}

/// Applies the linear map `map` to the cell and to every position (r → map·r); velocities are left alone.
/// Returns false, changing nothing, when the map would make the cell degenerate.
pub fn deform(system: &mut System, map: &Matrix3<f64>) -> bool {
    let Some(cell) = system.cell.deformed(map) else { return false };
    system.cell = cell;
    for r in system.positions.iter_mut() {
        *r = map * *r;
    }
    true
}

/// exp(A) of a symmetric matrix, from its eigen decomposition: Q·diag(e^λ)·Qᵀ.
pub fn symmetric_exp(a: &Matrix3<f64>) -> Matrix3<f64> {
    if a.is_diagonal(0.0) {
        return Matrix3::from_diagonal(&a.diagonal().map(f64::exp));
    }
    let eigen = a.symmetric_eigen();
    let q = eigen.eigenvectors;
    q * Matrix3::from_diagonal(&eigen.eigenvalues.map(f64::exp)) * q.transpose()
}

trait IsDiagonal {
    fn is_diagonal(&self, tolerance: f64) -> bool;
}

impl IsDiagonal for Matrix3<f64> {
    fn is_diagonal(&self, tolerance: f64) -> bool {
        (0..3).all(|r| (0..3).all(|c| r == c || self[(r, c)].abs() <= tolerance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_exp_matches_the_power_series() {
        let a = Matrix3::new(0.1, 0.02, -0.03, 0.02, -0.05, 0.04, -0.03, 0.04, 0.07);
        let mut series = Matrix3::identity();
        let mut term = Matrix3::identity();
        for k in 1..20 {
            term = term * a / k as f64;
            series += term;
        }
        assert!((symmetric_exp(&a) - series).amax() < 1e-15);
        let diagonal = Matrix3::from_diagonal(&nalgebra::Vector3::new(0.1, -0.2, 0.3));
        assert_eq!(symmetric_exp(&diagonal)[(1, 1)], (-0.2f64).exp());
    }

    #[test]
    fn settings_parse_and_reject_unknown_keys() {
        #[derive(Deserialize)]
        struct Wrapper {
            barostat: BarostatSettings,
        }
        let parsed: Wrapper =
            toml::from_str("barostat = { kind = \"mtk\", coupling = \"aniso\", damping_fs = 1000 }").unwrap();
        assert_eq!(parsed.barostat.coupling(), Coupling::Aniso);
        assert_eq!(parsed.barostat.damping_fs(), 1000.0);
        assert!(!parsed.barostat.needs_thermostat());
        let parsed: Wrapper =
            toml::from_str("barostat = { kind = \"c-rescale\", damping_fs = 500, bulk_modulus_gpa = 140 }").unwrap();
        assert_eq!(parsed.barostat.coupling(), Coupling::Iso);
        assert!(parsed.barostat.needs_thermostat());
        assert!(toml::from_str::<Wrapper>("barostat = { kind = \"mtk\", damping = 5 }").is_err());
        assert!(toml::from_str::<Wrapper>("barostat = { kind = \"berendsen\", damping_fs = 5 }").is_err());
    }
}

//! Martyna–Tobias–Klein barostat (Martyna, Tobias & Klein, J. Chem. Phys. 101, 4177 (1994)) with the
//! measure-preserving splitting of Tuckerman, Alejandre, López-Rendón, Jochim & Martyna, J. Phys. A 39, 5629
//! (2006) and a Nosé–Hoover chain on the cell (Shinoda, Shiga & Mikami, Phys. Rev. B 69, 134103 (2004)), as
//! LAMMPS `fix npt` / `fix nph` (`FixNH`) integrates it.
//!
//! The cell moves with a symmetric rate ω̇ (1/fs): ḣ = ω̇·h for the lattice vectors and ṙ_i = v_i + ω̇·r_i. With
//! W = N k_B T₀ τ_p² (eV fs², LAMMPS's mass) and the pressure tensor P = (Σ m v⊗v + Σ r⊗F)/V,
//!
//! W ω̈ = V (P − P₀ 1) + (2K/N_f) 1,   v̇_i = F_i/m_i − (ω̇ + tr ω̇ / N_f) v_i,
//!
//! restricted to ω̇ = ω̇ 1 (`iso`, driven by tr P / 3), diagonal (`aniso`) or symmetric (`tri`). LAMMPS writes
//! 3N where this writes N_f = 3N − 3, the momentum-conserving count of the MTK equations. Each half step:
//! the cell's chain scales ω̇, ω̇ gets its force for Δt/2, velocities are scaled by exp(−(ω̇ + tr ω̇/N_f)Δt/2);
//! the drift is exp(ω̇Δt/2) on cell and positions, r += Δt·v, exp(ω̇Δt/2) again. The conserved quantity adds
//! ½ W Σ_ab ω̇_ab² + P₀ V and the cell chain's energy (its N_f is the coupling's 1, 3 or 6 degrees of freedom,
//! LAMMPS's `lkt_press`) to E_pot + E_kin + the thermostat's energy.

use super::{deform, kinetic_tensor, pressure_tensor, symmetric_exp, BarostatConfig, BarostatHooks, Coupling, Targets};
use crate::input::{join, positive, InvalidValue};
use crate::md::thermostats::NoseHooverChain;
use crate::potentials::Evaluation;
use crate::system::{System, BOLTZMANN_EV_PER_K};
use nalgebra::Matrix3;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// `barostat = { kind = "mtk", coupling = "iso", damping_fs = 1000, chain = 3 }`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MtkSettings {
    /// `iso`, `aniso` or `tri` (default `iso`).
    #[serde(default)]
    pub coupling: Coupling,
    /// Barostat relaxation time τ_p (fs); LAMMPS recommends ~1000 timesteps.
    pub damping_fs: f64,
    /// Length of the Nosé–Hoover chain on the cell (LAMMPS `pchain`, default 3).
    #[serde(default = "default_chain")]
    pub chain: usize,
}

fn default_chain() -> usize {
    3
}

/// Temperature (K) that sets the barostat mass of an NPH run started at rest, as LAMMPS.
const RESTING_TEMPERATURE_K: f64 = 300.0;

impl BarostatConfig for MtkSettings {
    type State = MtkBarostat;

    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        positive(key, "damping_fs", self.damping_fs)?;
        if self.chain == 0 || self.chain > 100 {
            return Err(InvalidValue::new(join(key, "chain"), self.chain, "a chain length between 1 and 100"));
        }
        Ok(())
    }

    fn damping_fs(&self) -> f64 {
        self.damping_fs
    }

    fn coupling(&self) -> Coupling {
        self.coupling
    }

    fn needs_thermostat(&self) -> bool {
        false
    }

    /// The barostat mass is set once from the first target temperature; without a thermostat (NPH) from the
    /// initial temperature (300 K for atoms at rest), as LAMMPS's `t0`.
    fn build(&self, system: &System, targets: Targets) -> MtkBarostat {
        let reference_temperature_k = if targets.temperature_k > 0.0 {
            targets.temperature_k
        } else if system.temperature() > 0.0 {
            system.temperature()
        } else {
            RESTING_TEMPERATURE_K
        };
        let kt = BOLTZMANN_EV_PER_K * reference_temperature_k;
        MtkBarostat {
            coupling: self.coupling,
            mass: system.len() as f64 * kt * self.damping_fs * self.damping_fs,
            omega_dot: [[0.0; 3]; 3],
            particle_degrees_of_freedom: system.degrees_of_freedom(),
            reference_temperature_k,
            chain: NoseHooverChain::new(
                self.damping_fs,
                self.chain,
                self.coupling.degrees_of_freedom(),
                reference_temperature_k,
            ),
        }
    }
}

/// The state of a running MTK barostat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MtkBarostat {
    coupling: Coupling,
    /// W (eV fs²).
    mass: f64,
    /// ω̇ (1/fs), rows of a symmetric matrix.
    omega_dot: [[f64; 3]; 3],
    /// N_f of the atoms.
    particle_degrees_of_freedom: usize,
    /// Temperature of the cell's chain when no thermostat sets one (K).
    reference_temperature_k: f64,
    /// The Nosé–Hoover chain on the cell.
    chain: NoseHooverChain,
}

impl MtkBarostat {
    fn rate(&self) -> Matrix3<f64> {
        Matrix3::from_fn(|r, c| self.omega_dot[r][c])
    }

    fn set_rate(&mut self, rate: &Matrix3<f64>) {
        self.omega_dot = [0, 1, 2].map(|r| [0, 1, 2].map(|c| rate[(r, c)]));
    }

    /// The chain's temperature: the thermostat's target, or the reference one under NPH.
    fn temperature(&self, targets: Targets) -> f64 {
        if targets.temperature_k > 0.0 {
            targets.temperature_k
        } else {
            self.reference_temperature_k
        }
    }

    /// Half a step of the cell's chain: ω̇ ← ω̇·exp(−ξ̇₁Δt/2), with W Σ ω̇² as its twice-kinetic energy.
    fn chain_half_step(&mut self, targets: Targets, dt: f64) {
        let rate = self.rate();
        let twice_kinetic = self.mass * rate.norm_squared();
        let factor = self.chain.propagate(twice_kinetic, self.temperature(targets), dt);
        self.set_rate(&(rate * factor));
    }

    /// ω̇ ← ω̇ + (Δt/2)·[V (P − P₀) + 2K/N_f]/W, restricted to the coupling.
    fn rate_half_step(&mut self, system: &System, evaluation: &Evaluation, targets: Targets, dt: f64) {
        let pressure = pressure_tensor(system, evaluation);
        let twice_kinetic = kinetic_tensor(system).trace();
        let volume = system.cell.volume();
        let isotropic = twice_kinetic / self.particle_degrees_of_freedom as f64;
        let mut force = (pressure - Matrix3::identity() * targets.pressure) * volume + Matrix3::identity() * isotropic;
        match self.coupling {
            Coupling::Iso => force = Matrix3::identity() * (force.trace() / 3.0),
            Coupling::Aniso => force = Matrix3::from_diagonal(&force.diagonal()),
            Coupling::Tri => {}
        }
        let rate = self.rate() + force * (0.5 * dt / self.mass);
        self.set_rate(&rate);
    }

    /// v ← exp(−(ω̇ + tr ω̇/N_f)Δt/2)·v.
    fn scale_velocities(&self, system: &mut System, dt: f64) {
        let rate = self.rate();
        let friction = rate + Matrix3::identity() * (rate.trace() / self.particle_degrees_of_freedom as f64);
        let scale = symmetric_exp(&(friction * (-0.5 * dt)));
        for v in system.velocities.iter_mut() {
            *v = scale * *v;
        }
    }

    /// Cell and positions ← exp(ω̇·`time`)·(cell and positions).
    fn remap(&self, system: &mut System, time: f64) {
        let map = symmetric_exp(&(self.rate() * time));
        // A map from a finite ω̇ is invertible; a degenerate cell would need ω̇ Δt ≈ −700.
        deform(system, &map);
    }
}

impl BarostatHooks for MtkBarostat {
    fn begin_step(
        &mut self,
        system: &mut System,
        evaluation: &Evaluation,
        targets: Targets,
        dt: f64,
        _rng: &mut Xoshiro256PlusPlus,
    ) {
        self.chain_half_step(targets, dt);
        self.rate_half_step(system, evaluation, targets, dt);
        self.scale_velocities(system, dt);
    }

    fn drift(&mut self, system: &mut System, dt: f64) {
        self.remap(system, 0.5 * dt);
        super::super::integrator::drift(system, dt);
        self.remap(system, 0.5 * dt);
    }

    fn end_step(&mut self, system: &mut System, evaluation: &Evaluation, targets: Targets, dt: f64) {
        self.scale_velocities(system, dt);
        self.rate_half_step(system, evaluation, targets, dt);
        self.chain_half_step(targets, dt);
    }

    fn reservoir_energy(&self, system: &System, targets: Targets) -> f64 {
        0.5 * self.mass * self.rate().norm_squared() + targets.pressure * system.cell.volume() + self.chain.energy()
    }
}

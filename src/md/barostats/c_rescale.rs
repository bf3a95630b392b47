//! Stochastic cell rescaling (Bernetti & Bussi, J. Chem. Phys. 153, 114107 (2020)): a first-order stochastic
//! equation for the logarithm of the volume, ε = ln V, that samples the isothermal–isobaric ensemble with the
//! right volume fluctuations and relaxes smoothly from far from equilibrium (Berendsen's robustness without
//! its wrong fluctuations). With compressibility β_T, relaxation time τ_p and the instantaneous pressure P,
//!
//! dε = (β_T/τ_p)(P − P₀ + k_B T/V) dt + √(2 k_B T β_T/(V τ_p)) dW   (`iso`; lengths scale by e^{dε/3}),
//!
//! and for `aniso` each Cartesian log-length ε_a = ln L_a moves with a third of that mobility, driven by P_aa
//! (the same equation projected on one axis; summed over axes it is the isotropic one). Positions and the cell
//! are scaled by e^{dε_a}, velocities by e^{−dε_a}, once per step between the first half kick and the drift,
//! with P from the step's start (v(t), W(t)); dε is drawn by Euler–Maruyama. The noise uses the thermostat's
//! target temperature, so a thermostat is required.
//!
//! Conserved quantity: the energy the rescaling moves into the atoms is subtracted: exactly for the kinetic
//! energy, and for the potential energy by the trapezoidal rule along the scaling, ΔU ≈ −Σ_a dε_a (W_aa(t) +
//! W_aa(t + Δt))/2 (U(e^{dε}r) − U(r) = −∫ W_aa dε_a; the end point's virial also carries the drift, an error
//! that averages out, while the systematic second-order term ½ dε² ∂W/∂ε is kept).

use super::{deform, pressure_tensor, BarostatConfig, BarostatHooks, Coupling, Targets};
use crate::input::{join, positive, InvalidValue};
use crate::potentials::{Evaluation, EV_PER_A3_IN_BAR};
use crate::system::{System, BOLTZMANN_EV_PER_K};
use nalgebra::{Matrix3, Vector3};
use rand::Rng;
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// 1 GPa in eV/Å³.
const GPA_IN_EV_PER_A3: f64 = 1.0e4 / EV_PER_A3_IN_BAR;

/// `barostat = { kind = "c-rescale", coupling = "iso", damping_fs = 1000, bulk_modulus_gpa = 140 }`, or with
/// `compressibility_per_bar` (GROMACS's unit) instead of the bulk modulus.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CellRescalingSettings {
    /// `iso` or `aniso` (default `iso`).
    #[serde(default)]
    pub coupling: Coupling,
    /// Relaxation time τ_p (fs).
    pub damping_fs: f64,
    /// Isothermal compressibility β_T (1/bar), e.g. 4.5e-5 for water, ~7e-7 for copper.
    pub compressibility_per_bar: Option<f64>,
    /// Or the bulk modulus 1/β_T (GPa).
    pub bulk_modulus_gpa: Option<f64>,
}

impl CellRescalingSettings {
    /// β_T in Å³/eV.
    fn compressibility(&self) -> f64 {
        match (self.compressibility_per_bar, self.bulk_modulus_gpa) {
            (Some(beta), _) => beta * EV_PER_A3_IN_BAR,
            (None, Some(modulus)) => 1.0 / (modulus * GPA_IN_EV_PER_A3),
            (None, None) => f64::NAN,
        }
    }
}

impl BarostatConfig for CellRescalingSettings {
    type State = CellRescaling;

    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        positive(key, "damping_fs", self.damping_fs)?;
        match (self.compressibility_per_bar, self.bulk_modulus_gpa) {
            (Some(beta), None) => positive(key, "compressibility_per_bar", beta)?,
            (None, Some(modulus)) => positive(key, "bulk_modulus_gpa", modulus)?,
            _ => {
                return Err(InvalidValue::new(
                    join(key, "bulk_modulus_gpa"),
                    "...",
                    "exactly one of bulk_modulus_gpa (GPa) or compressibility_per_bar (1/bar); an estimate within a factor of a few is enough, it sets only the relaxation speed",
                ))
            }
        }
        if self.coupling == Coupling::Tri {
            return Err(InvalidValue::new(
                join(key, "coupling"),
                "\"tri\"",
                "\"iso\" or \"aniso\" for c-rescale; use kind = \"mtk\" for coupling = \"tri\"",
            ));
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
        true
    }

    fn build(&self, _system: &System, _targets: Targets) -> CellRescaling {
        CellRescaling {
            coupling: self.coupling,
            damping_fs: self.damping_fs,
            compressibility: self.compressibility(),
            log_stretch: [0.0; 3],
            virial_diagonal: [0.0; 3],
            work: 0.0,
        }
    }
}

/// The state of a running stochastic cell rescaling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellRescaling {
    coupling: Coupling,
    damping_fs: f64,
    /// β_T (Å³/eV).
    compressibility: f64,
    /// dε_a of the current step, drawn in `begin_step` and applied in `drift`.
    log_stretch: [f64; 3],
    /// W_aa at the step's start (eV), for the change of U.
    virial_diagonal: [f64; 3],
    /// Energy the rescaling has moved into the atoms (eV).
    work: f64,
}

impl BarostatHooks for CellRescaling {
    fn begin_step(
        &mut self,
        system: &mut System,
        evaluation: &Evaluation,
        targets: Targets,
        dt: f64,
        rng: &mut Xoshiro256PlusPlus,
    ) {
        let volume = system.cell.volume();
        let kt = BOLTZMANN_EV_PER_K * targets.temperature_k;
        let pressure = pressure_tensor(system, evaluation);
        let mobility = self.compressibility / self.damping_fs;
        let noise = |rng: &mut Xoshiro256PlusPlus, share: f64| {
            let gaussian: f64 = rng.sample(StandardNormal);
            (2.0 * kt * mobility * share * dt / volume).sqrt() * gaussian
        };
        self.log_stretch = match self.coupling {
            Coupling::Aniso => [0, 1, 2].map(|a| {
                mobility / 3.0 * (pressure[(a, a)] - targets.pressure + kt / volume) * dt + noise(rng, 1.0 / 3.0)
            }),
            Coupling::Iso | Coupling::Tri => {
                let scalar = pressure.trace() / 3.0;
                let d_epsilon = mobility * (scalar - targets.pressure + kt / volume) * dt + noise(rng, 1.0);
                [d_epsilon / 3.0; 3]
            }
        };
        self.virial_diagonal = [0, 1, 2].map(|a| evaluation.virial[(a, a)]);
    }

    fn drift(&mut self, system: &mut System, dt: f64) {
        let stretch = Vector3::from(self.log_stretch);
        let kinetic_before = system.kinetic_energy();
        if deform(system, &Matrix3::from_diagonal(&stretch.map(f64::exp))) {
            let shrink = stretch.map(|x| (-x).exp());
            for v in system.velocities.iter_mut() {
                *v = v.component_mul(&shrink);
            }
            self.work += system.kinetic_energy() - kinetic_before;
        } else {
            self.log_stretch = [0.0; 3];
        }
        super::super::integrator::drift(system, dt);
    }

    /// Adds the potential energy the scaling moved in, now that the virial at its end is known.
    fn end_step(&mut self, _system: &mut System, evaluation: &Evaluation, _targets: Targets, _dt: f64) {
        let change: f64 =
            (0..3).map(|a| -0.5 * (self.virial_diagonal[a] + evaluation.virial[(a, a)]) * self.log_stretch[a]).sum();
        self.work += change;
    }

    fn reservoir_energy(&self, _system: &System, _targets: Targets) -> f64 {
        -self.work
    }
}

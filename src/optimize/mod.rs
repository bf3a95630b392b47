//! Minimisers over a flat vector of coordinates: FIRE and L-BFGS, and L-BFGS with a line search for smooth
//! objectives such as a training loss ([`minimize_with_line_search`]).
//!
//! Nothing here is physical. An [`Objective`] maps coordinates x to an energy and a gradient ∂E/∂x (for a
//! nudged elastic band the "gradient" is minus the NEB force, which is not the gradient of any energy; both
//! minimisers only use the gradient to move, so they work on bands as well as on atoms or cells). Coordinates
//! come in consecutive triples (one per atom, or one per row of a cell matrix): convergence is declared when
//! the largest triple norm of the gradient — the largest atomic force, ASE's `fmax` — is at most the target,
//! and every step is capped so that no triple moves farther than `max_step` (LAMMPS's `dmax` idea).
//!
//! Running out of steps is never silent: [`Minimum::converged`] is false and the caller reports it.

mod fire;
mod lbfgs;

pub use fire::{Fire, FireParameters};
pub use lbfgs::{minimize_with_line_search, Lbfgs, LbfgsParameters, LineSearchSettings, LineSearchSummary};

use crate::input::{positive, InvalidValue};
use serde::{Deserialize, Serialize};

/// Something to minimise.
pub trait Objective {
    /// Energy at `x`; writes ∂E/∂x (minus the generalised force) into `gradient`, which has the length of `x`.
    /// Fails when the energy cannot be computed (the potential behind it failed); the minimisers stop there.
    fn evaluate(&mut self, x: &[f64], gradient: &mut [f64]) -> anyhow::Result<f64>;

    /// Convergence measure of a gradient: by default the largest norm of its consecutive triples.
    fn max_force(&self, gradient: &[f64]) -> f64 {
        max_triple_norm(gradient)
    }

    /// Called once per evaluation, after the convergence check, with the iteration number (0 = start).
    fn observe(&mut self, _iteration: usize, _energy: f64, _max_force: f64) {}
}

/// Largest Euclidean norm over the consecutive triples of `v` (a trailing partial triple counts too).
pub fn max_triple_norm(v: &[f64]) -> f64 {
    v.chunks(3).map(|c| c.iter().map(|x| x * x).sum::<f64>().sqrt()).fold(0.0, f64::max)
}

/// Scales `step` in place so that no triple is longer than `max_step`; returns the scale applied (≤ 1).
pub fn cap_step(step: &mut [f64], max_step: f64) -> f64 {
    let longest = max_triple_norm(step);
    if longest > max_step {
        let scale = max_step / longest;
        step.iter_mut().for_each(|s| *s *= scale);
        scale
    } else {
        1.0
    }
}

/// The minimisation algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Fast inertial relaxation engine (Bitzek et al. 2006).
    #[default]
    Fire,
    /// Limited-memory BFGS without line search (ASE's `LBFGS`).
    Lbfgs,
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Algorithm::Fire => "fire",
            Algorithm::Lbfgs => "lbfgs",
        })
    }
}

/// When to stop and how far to move.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Convergence {
    /// Converged when the largest triple norm of the gradient is ≤ this (eV/Å).
    pub fmax: f64,
    /// Give up (unconverged) after this many steps.
    pub max_steps: usize,
    /// No triple moves farther than this in one step (Å).
    pub max_step: f64,
}

impl Convergence {
    /// Checks the three numbers, naming keys `fmax_ev_per_a`, `max_steps`, `max_step_a` under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidValue> {
        positive(prefix, "fmax_ev_per_a", self.fmax)?;
        positive(prefix, "max_step_a", self.max_step)?;
        if self.max_steps == 0 {
            return Err(InvalidValue::new(crate::input::join(prefix, "max_steps"), 0, "a positive integer"));
        }
        Ok(())
    }
}

/// The minimiser keys every minimising stage (`relax`, `vacancy`, `neb`, `migration`) takes: `optimizer`,
/// `fmax_ev_per_a`, `max_steps`, `max_step_a`. Converged when max_i |F_i| ≤ `fmax_ev_per_a` (eV/Å) within
/// `max_steps` steps, no atom moving more than `max_step_a` (Å) per step ([`Convergence`]).
///
/// The stages declare the four keys themselves, next to their other keys, and get this value from them
/// (`minimizer()`, written by [`minimizer_keys!`]): serde's `flatten` would buffer the keys and, with `deny_unknown_fields`, reject an unknown one
/// only as "unknown field `x`", without the list of accepted keys the stages' errors give. Defaults, validation
/// and the convergence criteria are this type's: [`MinimizerSettings::RELAX`] and [`MinimizerSettings::BAND`] are
/// the two default sets, [`minimizer_defaults`] their serde default functions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MinimizerSettings {
    /// `"fire"` or `"lbfgs"`.
    pub optimizer: Algorithm,
    /// Converged when the largest atomic force is ≤ this (eV/Å).
    pub fmax_ev_per_a: f64,
    /// Step limit; reaching it gives an unconverged (flagged) result.
    pub max_steps: usize,
    /// Largest move of one atom in one step (Å).
    pub max_step_a: f64,
}

impl MinimizerSettings {
    /// Defaults of relaxations (`relax`, `vacancy`): FIRE, fmax 0.01 eV/Å, 2000 steps, 0.2 Å.
    pub const RELAX: MinimizerSettings =
        MinimizerSettings { optimizer: Algorithm::Fire, fmax_ev_per_a: 0.01, max_steps: 2000, max_step_a: 0.2 };
    /// Defaults of bands (`neb`, `migration`, also their endpoint relaxations): FIRE, fmax 0.05 eV/Å, 1000 steps,
    /// 0.2 Å.
    pub const BAND: MinimizerSettings =
        MinimizerSettings { optimizer: Algorithm::Fire, fmax_ev_per_a: 0.05, max_steps: 1000, max_step_a: 0.2 };

    /// The settings of `optimizer` with `convergence`.
    pub fn new(optimizer: Algorithm, convergence: Convergence) -> MinimizerSettings {
        MinimizerSettings {
            optimizer,
            fmax_ev_per_a: convergence.fmax,
            max_steps: convergence.max_steps,
            max_step_a: convergence.max_step,
        }
    }

    /// The convergence criteria.
    pub fn convergence(&self) -> Convergence {
        Convergence { fmax: self.fmax_ev_per_a, max_steps: self.max_steps, max_step: self.max_step_a }
    }

    /// Checks the numbers, naming keys `fmax_ev_per_a`, `max_step_a`, `max_steps` (in that order) under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidValue> {
        self.convergence().validate(prefix)
    }
}

/// Gives a settings struct that declares the four minimiser keys (`optimizer`, `fmax_ev_per_a`, `max_steps`,
/// `max_step_a`) its `minimizer()`, the [`MinimizerSettings`] they make: `minimizer_keys!(RelaxSettings);` beside
/// the struct.
macro_rules! minimizer_keys {
    ($settings:ty) => {
        impl $settings {
            /// The minimiser keys of the stage.
            pub fn minimizer(&self) -> $crate::optimize::MinimizerSettings {
                $crate::optimize::MinimizerSettings {
                    optimizer: self.optimizer,
                    fmax_ev_per_a: self.fmax_ev_per_a,
                    max_steps: self.max_steps,
                    max_step_a: self.max_step_a,
                }
            }
        }
    };
}
pub(crate) use minimizer_keys;

/// serde default functions of the minimiser keys of the stages (`#[serde(default = "...")]` takes a function):
/// `relax_*` give [`MinimizerSettings::RELAX`], `band_*` give [`MinimizerSettings::BAND`].
pub mod minimizer_defaults {
    use super::MinimizerSettings;

    pub fn relax_fmax() -> f64 {
        MinimizerSettings::RELAX.fmax_ev_per_a
    }
    pub fn relax_max_steps() -> usize {
        MinimizerSettings::RELAX.max_steps
    }
    pub fn relax_max_step() -> f64 {
        MinimizerSettings::RELAX.max_step_a
    }
    pub fn band_fmax() -> f64 {
        MinimizerSettings::BAND.fmax_ev_per_a
    }
    pub fn band_max_steps() -> usize {
        MinimizerSettings::BAND.max_steps
    }
    pub fn band_max_step() -> f64 {
        MinimizerSettings::BAND.max_step_a
    }
}

/// Outcome of a minimisation.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Minimum {
    /// True when the largest force reached the target within the allowed steps.
    pub converged: bool,
    /// Steps taken (coordinate updates).
    pub steps: usize,
    /// Objective evaluations (= steps + 1).
    pub evaluations: usize,
    /// Energy at the returned coordinates.
    pub energy: f64,
    /// Largest force at the returned coordinates.
    pub fmax: f64,
}

/// One step rule: given the coordinates and gradient just evaluated, writes the displacement to apply.
pub trait Stepper {
    fn step(&mut self, x: &[f64], gradient: &[f64], displacement: &mut [f64]);
}

/// Minimises `objective` from `x` (updated in place) with `algorithm` and default parameters.
pub fn minimize(
    objective: &mut dyn Objective,
    x: &mut [f64],
    algorithm: Algorithm,
    convergence: &Convergence,
) -> anyhow::Result<Minimum> {
    match algorithm {
        Algorithm::Fire => {
            let mut fire = Fire::new(x.len(), FireParameters::default(), convergence.max_step);
            run(objective, x, &mut fire, convergence)
        }
        Algorithm::Lbfgs => {
            let mut lbfgs = Lbfgs::new(LbfgsParameters::default(), convergence.max_step);
            run(objective, x, &mut lbfgs, convergence)
        }
    }
}

/// The minimisation loop: evaluate, check convergence, step; until converged or out of steps.
pub fn run(
    objective: &mut dyn Objective,
    x: &mut [f64],
    stepper: &mut dyn Stepper,
    convergence: &Convergence,
) -> anyhow::Result<Minimum> {
    let mut gradient = vec![0.0; x.len()];
    let mut displacement = vec![0.0; x.len()];
    let mut steps = 0;
    loop {
        let energy = objective.evaluate(x, &mut gradient)?;
        let fmax = objective.max_force(&gradient);
        objective.observe(steps, energy, fmax);
        let converged = fmax <= convergence.fmax;
        if converged || steps >= convergence.max_steps || !fmax.is_finite() {
            return Ok(Minimum { converged, steps, evaluations: steps + 1, energy, fmax });
        }
        stepper.step(x, &gradient, &mut displacement);
        for (xi, di) in x.iter_mut().zip(&displacement) {
            *xi += di;
        }
        steps += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_take_the_minimizer_keys_with_their_defaults_and_reject_unknown_keys_listing_them() {
        let relax: crate::relax::RelaxSettings = toml::from_str("").unwrap();
        assert_eq!(relax.minimizer(), MinimizerSettings::RELAX);
        let vacancy: crate::relax::vacancy::VacancySettings = toml::from_str("species = \"Ar\"").unwrap();
        assert_eq!(vacancy.minimizer(), MinimizerSettings::RELAX);
        let neb: crate::neb::NebSettings = toml::from_str("final_structure = \"f.xyz\"").unwrap();
        assert_eq!(neb.minimizer(), MinimizerSettings::BAND);
        assert_eq!(crate::neb::NebOptions::default().convergence, MinimizerSettings::BAND.convergence());
        let migration: crate::neb::migration::MigrationSettings =
            toml::from_str("species = \"Ar\"\nhop_cutoff_a = 3.0\noptimizer = \"lbfgs\"\nmax_steps = 7").unwrap();
        assert_eq!(
            migration.minimizer(),
            MinimizerSettings { optimizer: Algorithm::Lbfgs, max_steps: 7, ..MinimizerSettings::BAND }
        );
        let error = toml::from_str::<crate::relax::RelaxSettings>("fmax = 0.1").unwrap_err().to_string();
        assert!(
            error.contains(
                "unknown field `fmax`, expected one of `optimizer`, `fmax_ev_per_a`, `max_steps`, `max_step_a`, \
                 `relax_cell`, `pressure_bar`"
            ),
            "{error}"
        );
        let bad = MinimizerSettings { max_steps: 0, ..MinimizerSettings::RELAX };
        assert_eq!(
            bad.validate("stage[3]").unwrap_err().to_string(),
            "stage[3].max_steps = 0: expected a positive integer"
        );
    }

    /// Rosenbrock in pairs embedded in triples: E = Σ (1−x)² + 100 (y − x²)², minimum at (1, 1).
    struct Rosenbrock;

    impl Objective for Rosenbrock {
        fn evaluate(&mut self, x: &[f64], gradient: &mut [f64]) -> anyhow::Result<f64> {
            let (a, b) = (x[0], x[1]);
            gradient[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            gradient[1] = 200.0 * (b - a * a);
            gradient[2] = 2.0 * x[2];
            Ok((1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2) + x[2] * x[2])
        }
    }

    /// Anisotropic quadratic E = ½ Σ k_i (x_i − c_i)², k from 0.5 to 50.
    struct Quadratic {
        k: Vec<f64>,
        center: Vec<f64>,
    }

    impl Objective for Quadratic {
        fn evaluate(&mut self, x: &[f64], gradient: &mut [f64]) -> anyhow::Result<f64> {
            let mut e = 0.0;
            for i in 0..x.len() {
                let d = x[i] - self.center[i];
                gradient[i] = self.k[i] * d;
                e += 0.5 * self.k[i] * d * d;
            }
            Ok(e)
        }
    }

    fn quadratic(n: usize) -> Quadratic {
        Quadratic {
            k: (0..n).map(|i| 0.5 + 49.5 * i as f64 / (n - 1) as f64).collect(),
            center: (0..n).map(|i| (i as f64 * 0.7).sin()).collect(),
        }
    }

    #[test]
    fn both_minimisers_find_the_quadratic_minimum() {
        for algorithm in [Algorithm::Fire, Algorithm::Lbfgs] {
            let mut q = quadratic(12);
            let mut x = vec![0.0; 12];
            let conv = Convergence { fmax: 1e-6, max_steps: 2000, max_step: 0.2 };
            let m = minimize(&mut q, &mut x, algorithm, &conv).unwrap();
            assert!(m.converged, "{algorithm}: {m:?}");
            assert_eq!(m.evaluations, m.steps + 1);
            for i in 0..12 {
                assert!((x[i] - q.center[i]).abs() < 1e-5, "{algorithm}: x[{i}] = {}", x[i]);
            }
            assert!(m.energy < 1e-10);
        }
    }

    #[test]
    fn both_minimisers_solve_rosenbrock() {
        for algorithm in [Algorithm::Fire, Algorithm::Lbfgs] {
            let mut x = vec![-1.2, 1.0, 0.5];
            let conv = Convergence { fmax: 1e-6, max_steps: 20000, max_step: 0.2 };
            let m = minimize(&mut Rosenbrock, &mut x, algorithm, &conv).unwrap();
            assert!(m.converged, "{algorithm}: {m:?}");
            assert!((x[0] - 1.0).abs() < 1e-5 && (x[1] - 1.0).abs() < 1e-5, "{algorithm}: {x:?}");
        }
    }

    #[test]
    fn lbfgs_needs_fewer_evaluations_than_fire_on_a_quadratic() {
        let conv = Convergence { fmax: 1e-6, max_steps: 5000, max_step: 0.2 };
        let mut x = vec![0.0; 30];
        let fire = minimize(&mut quadratic(30), &mut x, Algorithm::Fire, &conv).unwrap();
        let mut x = vec![0.0; 30];
        let lbfgs = minimize(&mut quadratic(30), &mut x, Algorithm::Lbfgs, &conv).unwrap();
        assert!(fire.converged && lbfgs.converged);
        assert!(lbfgs.evaluations < fire.evaluations, "L-BFGS {} vs FIRE {}", lbfgs.evaluations, fire.evaluations);
    }

    #[test]
    fn line_search_lbfgs_decreases_monotonically_to_the_minimum() {
        let mut q = quadratic(40);
        let mut x = vec![0.0; 40];
        let mut values = vec![q.evaluate(&x, &mut vec![0.0; 40]).unwrap()];
        let summary = minimize_with_line_search(&mut q, &mut x, LineSearchSettings::default(), 500, &mut |_, f, _| {
            values.push(f);
            f > 1e-20
        })
        .unwrap();
        assert!(values.windows(2).all(|w| w[1] < w[0]), "not monotonic: {values:?}");
        assert!(summary.value < 1e-20, "{summary:?}");
        assert!(summary.iterations < 150, "{summary:?}");
        for i in 0..40 {
            assert!((x[i] - q.center[i]).abs() < 1e-8, "x[{i}] = {}", x[i]);
        }

        let mut x = vec![-1.2, 1.0, 0.5];
        let summary =
            minimize_with_line_search(&mut Rosenbrock, &mut x, LineSearchSettings::default(), 2000, &mut |_, f, _| {
                f > 1e-18
            })
            .unwrap();
        assert!((x[0] - 1.0).abs() < 1e-6 && (x[1] - 1.0).abs() < 1e-6, "{x:?} {summary:?}");
        assert!(summary.evaluations < 400, "{summary:?}");
    }

    #[test]
    fn line_search_lbfgs_stops_when_no_step_decreases() {
        let mut q = quadratic(5);
        let mut x = q.center.clone();
        x[0] += 1e-9;
        let summary =
            minimize_with_line_search(&mut q, &mut x, LineSearchSettings::default(), 100, &mut |_, _, _| true).unwrap();
        assert!(summary.iterations < 100 && summary.stalled, "{summary:?}");
    }

    #[test]
    fn running_out_of_steps_is_flagged() {
        let mut x = vec![-1.2, 1.0, 0.5];
        let conv = Convergence { fmax: 1e-8, max_steps: 5, max_step: 0.2 };
        let m = minimize(&mut Rosenbrock, &mut x, Algorithm::Fire, &conv).unwrap();
        assert!(!m.converged);
        assert_eq!(m.steps, 5);
        assert!(m.fmax > 1e-8);
    }

    #[test]
    fn steps_are_capped_per_triple() {
        let mut step = vec![3.0, 4.0, 0.0, 0.1, 0.0, 0.0];
        let scale = cap_step(&mut step, 0.5);
        assert!((scale - 0.1).abs() < 1e-12);
        assert!((max_triple_norm(&step) - 0.5).abs() < 1e-12);
        assert!((step[3] - 0.01).abs() < 1e-12);
    }

    #[test]
    fn settings_are_validated() {
        let bad = Convergence { fmax: -1.0, max_steps: 10, max_step: 0.2 };
        assert_eq!(bad.validate("stage[1]").unwrap_err().key, "stage[1].fmax_ev_per_a");
        let bad = Convergence { fmax: 0.1, max_steps: 0, max_step: 0.2 };
        assert_eq!(bad.validate("stage[1]").unwrap_err().key, "stage[1].max_steps");
    }
}

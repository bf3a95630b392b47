//! Structure relaxation (`kind = "relax"`) and vacancy formation energies (`kind = "vacancy"`).
//!
//! Positions are relaxed by minimising E(r) with [`crate::optimize`]. With `relax_cell = true` the cell is
//! relaxed too, towards the stress −p·I (zero stress by default), as ASE's `UnitCellFilter`: the coordinates
//! are the reference positions u_i = F⁻¹ r_i and the deformation gradient F (scaled by the number of atoms
//! N), so that the cell is h = h₀ Fᵀ (rows = lattice vectors) and r_i = F u_i. The objective is the
//! enthalpy H = E + pV, whose gradients are
//!
//! ∂H/∂u_i = −Fᵀ f_i,     ∂H/∂F = −(W − pV I)ᵀ F⁻ᵀ,
//!
//! with W = Σ r⊗f the virial (−∂E/∂ε_ab = W_ba for a homogeneous strain ε); the cell coordinates are N·F,
//! so their "force" is (W − pV I)ᵀ F⁻ᵀ / N, an energy per atom, and converges with the atoms under `fmax`.

pub mod vacancy;

use crate::input::{join, InvalidValue};
use crate::io::extxyz::{self, FrameExtras};
use crate::optimize::{self, minimizer_defaults, Algorithm, Convergence, MinimizerSettings, Minimum, Objective};
use crate::potentials::{Evaluation, Evaluator, EV_PER_A3_IN_BAR};
use crate::progress::Progress;
use crate::system::{Cell, System};
use nalgebra::{Matrix3, Vector3};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{LineWriter, Write};
use std::path::{Path, PathBuf};

/// `[[stage]] kind = "relax"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaxSettings {
    /// `"fire"` (default) or `"lbfgs"`.
    #[serde(default)]
    pub optimizer: Algorithm,
    /// Converged when the largest atomic force is ≤ this (eV/Å); default 0.01.
    #[serde(default = "minimizer_defaults::relax_fmax")]
    pub fmax_ev_per_a: f64,
    /// Step limit; default 2000. Reaching it gives an unconverged (flagged) result.
    #[serde(default = "minimizer_defaults::relax_max_steps")]
    pub max_steps: usize,
    /// Largest move of one atom in one step (Å); default 0.2.
    #[serde(default = "minimizer_defaults::relax_max_step")]
    pub max_step_a: f64,
    /// Also relax the cell towards the stress −p·I; default false.
    #[serde(default)]
    pub relax_cell: bool,
    /// External pressure p for cell relaxation (bar); default 0.
    #[serde(default)]
    pub pressure_bar: f64,
    /// A row (step, energy, fmax, volume) on the screen every this many steps (0: none); `relax_log.csv` has
    /// every step. Default 50.
    #[serde(default = "default_log_every")]
    pub log_every: usize,
}

fn default_log_every() -> usize {
    50
}

impl Default for RelaxSettings {
    fn default() -> Self {
        RelaxSettings::with_minimizer(MinimizerSettings::RELAX)
    }
}

crate::optimize::minimizer_keys!(RelaxSettings);

impl RelaxSettings {
    /// A positions-only relaxation at zero pressure with `minimizer`.
    pub fn with_minimizer(minimizer: MinimizerSettings) -> RelaxSettings {
        let MinimizerSettings { optimizer, fmax_ev_per_a, max_steps, max_step_a } = minimizer;
        RelaxSettings {
            optimizer,
            fmax_ev_per_a,
            max_steps,
            max_step_a,
            relax_cell: false,
            pressure_bar: 0.0,
            log_every: default_log_every(),
        }
    }

    /// The convergence criteria.
    pub fn convergence(&self) -> Convergence {
        self.minimizer().convergence()
    }

    /// Checks every value; `key` is the stage prefix, e.g. `stage[2]`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        self.minimizer().validate(key)?;
        if !self.pressure_bar.is_finite() {
            return Err(InvalidValue::new(join(key, "pressure_bar"), self.pressure_bar, "a finite number (bar)"));
        }
        if self.pressure_bar != 0.0 && !self.relax_cell {
            return Err(InvalidValue::new(
                join(key, "pressure_bar"),
                self.pressure_bar,
                "0 unless relax_cell = true (pressure only acts on the cell)",
            ));
        }
        Ok(())
    }

    /// Relaxes `system` in place, writing `relax_log.csv` and `relaxed.extxyz` into `output_dir`. The seed is
    /// unused (relaxation is deterministic); it is taken for the same signature as every stage.
    pub fn run(
        &self,
        system: &mut System,
        evaluator: &mut Evaluator,
        output_dir: &Path,
        _seed: u64,
        quiet: bool,
    ) -> anyhow::Result<RelaxReport> {
        crate::io::create_output_dir(output_dir)?;
        let mut log = RelaxLog::create(&output_dir.join("relax_log.csv"), self, quiet)?;
        let outcome = relax(system, evaluator, self, Some(&mut log))?;
        log.finish(&outcome.report)?;
        let volume = system.cell.volume().max(f64::MIN_POSITIVE);
        let stress = outcome.evaluation.stress(volume).filter(|_| !system.cell.is_infinite());
        let extras = FrameExtras {
            energy: Some(outcome.evaluation.energy),
            stress,
            forces: Some(&outcome.evaluation.forces),
            ..Default::default()
        };
        crate::io::write_atomically(
            &output_dir.join("relaxed.extxyz"),
            extxyz::format_frame(system, &extras).as_bytes(),
        )?;
        if !outcome.report.converged {
            eprintln!(
                "warning: relaxation not converged after {} steps: fmax = {:.4} eV/Å > {} eV/Å",
                outcome.report.steps, outcome.report.fmax_ev_per_a, self.fmax_ev_per_a
            );
        }
        Ok(outcome.report)
    }
}

/// Key numbers of one relaxation (for `summary.json`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RelaxReport {
    pub converged: bool,
    pub optimizer: Algorithm,
    pub steps: usize,
    pub force_evaluations: usize,
    pub initial_energy_ev: f64,
    pub final_energy_ev: f64,
    /// Largest atomic force at the end (eV/Å); with cell relaxation, also the cell "forces" (eV per atom).
    pub fmax_ev_per_a: f64,
    pub initial_volume_a3: Option<f64>,
    pub final_volume_a3: Option<f64>,
    /// Virial pressure at the end (bar), periodic systems only.
    pub final_pressure_bar: Option<f64>,
    /// Final cell, rows = lattice vectors (Å), periodic systems only.
    pub final_cell_a: Option<[[f64; 3]; 3]>,
}

/// A finished relaxation: the report and the evaluation at the final structure.
#[derive(Clone, Debug)]
pub struct Relaxed {
    pub report: RelaxReport,
    pub evaluation: Evaluation,
}

/// Relaxes `system` in place (positions, and the cell if `settings.relax_cell`), reporting each step to `log`
/// when given.
pub fn relax(
    system: &mut System,
    evaluator: &mut Evaluator,
    settings: &RelaxSettings,
    log: Option<&mut RelaxLog>,
) -> anyhow::Result<Relaxed> {
    if system.is_empty() {
        anyhow::bail!("cannot relax a system without atoms");
    }
    if settings.relax_cell && !system.cell.is_fully_periodic() {
        anyhow::bail!("relax_cell = true needs a cell periodic in all three directions");
    }
    let periodic = !system.cell.is_infinite();
    let initial_volume = periodic.then(|| system.cell.volume());
    let evaluations_before = evaluator.evaluations();
    let convergence = settings.convergence();
    let (minimum, initial_energy, evaluation) = if settings.relax_cell {
        let pressure = settings.pressure_bar / EV_PER_A3_IN_BAR;
        let mut objective = CellObjective::new(system, evaluator, pressure, log);
        let mut x = objective.coordinates();
        let minimum = optimize::minimize(&mut objective, &mut x, settings.optimizer, &convergence)?;
        objective.apply(&x);
        (minimum, objective.initial_energy, objective.last.take())
    } else {
        let mut objective = AtomsObjective::new(system, evaluator, log);
        let mut x = objective.coordinates();
        let minimum = optimize::minimize(&mut objective, &mut x, settings.optimizer, &convergence)?;
        objective.apply(&x);
        (minimum, objective.initial_energy, objective.last.take())
    };
    let evaluation = evaluation.expect("the minimiser evaluates at least once");
    let Minimum { converged, steps, energy: _, fmax, .. } = minimum;
    let final_volume = periodic.then(|| system.cell.volume());
    let report = RelaxReport {
        converged,
        optimizer: settings.optimizer,
        steps,
        force_evaluations: evaluator.evaluations() - evaluations_before,
        initial_energy_ev: initial_energy.unwrap_or(evaluation.energy),
        final_energy_ev: evaluation.energy,
        fmax_ev_per_a: fmax,
        initial_volume_a3: initial_volume,
        final_volume_a3: final_volume,
        final_pressure_bar: final_volume.and_then(|v| evaluation.virial_pressure(v)).map(|p| p * EV_PER_A3_IN_BAR),
        final_cell_a: periodic.then(|| {
            let m = system.cell.matrix();
            [0, 1, 2].map(|r| [m[(r, 0)], m[(r, 1)], m[(r, 2)]])
        }),
    };
    Ok(Relaxed { report, evaluation })
}

fn flatten(positions: &[Vector3<f64>]) -> Vec<f64> {
    positions.iter().flat_map(|r| [r.x, r.y, r.z]).collect()
}

fn write_error(path: &Path, error: std::io::Error) -> crate::io::IoError {
    crate::io::IoError::format(path, format!("cannot write: {error}"))
}

/// What a relaxation stage reports as it goes: every optimizer step as a line of `relax_log.csv`
/// (`step,energy_ev,fmax_ev_per_a,volume_a3`, flushed at once, so that a killed run keeps its log), and unless
/// quiet a progress bar and a row on the screen every `log_every` steps.
pub struct RelaxLog {
    csv: LineWriter<File>,
    path: PathBuf,
    progress: Progress,
    log_every: usize,
    fmax_target: f64,
    /// The first write error (`observe` cannot fail; [`RelaxLog::finish`] returns it).
    error: Option<std::io::Error>,
}

impl RelaxLog {
    pub fn create(path: &Path, settings: &RelaxSettings, quiet: bool) -> Result<RelaxLog, crate::io::IoError> {
        let file = crate::io::create_output_file(path)?;
        let mut csv = LineWriter::new(file);
        writeln!(csv, "step,energy_ev,fmax_ev_per_a,volume_a3").map_err(|e| write_error(path, e))?;
        let template = "{bar:40} {pos}/{len} steps (at most)  {msg}";
        let progress = Progress::new(quiet, settings.max_steps as u64, template);
        Ok(RelaxLog {
            csv,
            path: path.to_path_buf(),
            progress,
            log_every: settings.log_every,
            fmax_target: settings.fmax_ev_per_a,
            error: None,
        })
    }

    fn record(&mut self, step: usize, energy: f64, fmax: f64, system: &System) {
        let volume = (!system.cell.is_infinite()).then(|| system.cell.volume());
        let volume_text = volume.map_or(String::new(), |v| format!("{v:.10}"));
        if let Err(error) = writeln!(self.csv, "{step},{energy:.10},{fmax:.6e},{volume_text}") {
            self.error.get_or_insert(error);
        }
        if step == 0 && self.log_every > 0 {
            self.progress
                .println(format!("{:>7} {:>18} {:>14} {:>12}", "step", "energy (eV)", "fmax (eV/Å)", "volume (Å³)"));
        }
        if self.log_every > 0 && step % self.log_every == 0 {
            let volume_text = volume.map_or("-".to_string(), |v| format!("{v:.3}"));
            self.progress.println(format!("{step:>7} {energy:>18.6} {fmax:>14.5} {volume_text:>12}"));
        }
        self.progress.set_position(step as u64);
        self.progress.set_message(format!("fmax {fmax:.4} → {} eV/Å", self.fmax_target));
    }

    /// Ends the bar, prints the outcome and returns the first write error of the log, if any.
    fn finish(self, report: &RelaxReport) -> Result<(), crate::io::IoError> {
        self.progress.finish();
        let outcome = if report.converged { "converged" } else { "not converged" };
        self.progress.println(format!(
            "relax: {outcome} after {} steps, E = {:.6} eV, fmax = {:.5} eV/Å",
            report.steps, report.final_energy_ev, report.fmax_ev_per_a
        ));
        match self.error {
            Some(error) => Err(write_error(&self.path, error)),
            None => Ok(()),
        }
    }
}

/// E(r) over the flat positions of every atom.
pub struct AtomsObjective<'a> {
    system: &'a mut System,
    evaluator: &'a mut Evaluator,
    log: Option<&'a mut RelaxLog>,
    /// The last evaluation (at the coordinates last passed to `evaluate`).
    pub last: Option<Evaluation>,
    /// Energy at the first evaluation.
    pub initial_energy: Option<f64>,
}

impl<'a> AtomsObjective<'a> {
    pub fn new(system: &'a mut System, evaluator: &'a mut Evaluator, log: Option<&'a mut RelaxLog>) -> Self {
        AtomsObjective { system, evaluator, log, last: None, initial_energy: None }
    }

    /// The current positions as a flat vector.
    pub fn coordinates(&self) -> Vec<f64> {
        flatten(&self.system.positions)
    }

    /// Writes flat coordinates back into the system.
    pub fn apply(&mut self, x: &[f64]) {
        for (r, c) in self.system.positions.iter_mut().zip(x.chunks(3)) {
            *r = Vector3::new(c[0], c[1], c[2]);
        }
    }
}

impl Objective for AtomsObjective<'_> {
    fn evaluate(&mut self, x: &[f64], gradient: &mut [f64]) -> anyhow::Result<f64> {
        self.apply(x);
        let evaluation = self.evaluator.evaluate(self.system)?;
        for (g, f) in gradient.chunks_mut(3).zip(&evaluation.forces) {
            g.copy_from_slice(&[-f.x, -f.y, -f.z]);
        }
        let energy = evaluation.energy;
        self.initial_energy.get_or_insert(energy);
        self.last = Some(evaluation);
        Ok(energy)
    }

    fn observe(&mut self, iteration: usize, energy: f64, max_force: f64) {
        if let Some(log) = self.log.as_deref_mut() {
            log.record(iteration, energy, max_force, self.system);
        }
    }
}

/// Enthalpy E + pV over reference positions and the scaled deformation gradient (ASE's `UnitCellFilter`).
pub struct CellObjective<'a> {
    system: &'a mut System,
    evaluator: &'a mut Evaluator,
    log: Option<&'a mut RelaxLog>,
    reference_cell: Matrix3<f64>,
    /// External pressure (eV/Å³).
    pressure: f64,
    /// Scale of the cell coordinates (number of atoms, as ASE).
    cell_factor: f64,
    /// The last evaluation (at the coordinates last passed to `evaluate`).
    pub last: Option<Evaluation>,
    /// Energy at the first evaluation.
    pub initial_energy: Option<f64>,
}

impl<'a> CellObjective<'a> {
    /// `pressure` in eV/Å³. The current cell is the reference (F = I).
    pub fn new(
        system: &'a mut System,
        evaluator: &'a mut Evaluator,
        pressure: f64,
        log: Option<&'a mut RelaxLog>,
    ) -> Self {
        let reference_cell = *system.cell.matrix();
        let cell_factor = system.len() as f64;
        CellObjective {
            system,
            evaluator,
            log,
            reference_cell,
            pressure,
            cell_factor,
            last: None,
            initial_energy: None,
        }
    }

    /// The current deformation gradient F, from h = h₀ Fᵀ.
    fn deformation(&self) -> Matrix3<f64> {
        let inverse = self.reference_cell.try_inverse().expect("a valid cell is invertible");
        (inverse * self.system.cell.matrix()).transpose()
    }

    /// Coordinates [u_1 … u_N, N·F (row-major)].
    pub fn coordinates(&self) -> Vec<f64> {
        let f = self.deformation();
        let f_inverse = f.try_inverse().expect("a valid deformation is invertible");
        let mut x: Vec<f64> =
            self.system.positions.iter().flat_map(|r| (f_inverse * r).iter().copied().collect::<Vec<_>>()).collect();
        for a in 0..3 {
            for b in 0..3 {
                x.push(self.cell_factor * f[(a, b)]);
            }
        }
        x
    }

    /// Sets cell and positions from coordinates. A degenerate deformation leaves the cell unchanged and
    /// returns false.
    pub fn apply(&mut self, x: &[f64]) -> bool {
        let n = self.system.len();
        let f = Matrix3::from_fn(|a, b| x[3 * n + 3 * a + b] / self.cell_factor);
        let Some(cell) = Cell::from_matrix(self.reference_cell * f.transpose(), self.system.cell.periodic()) else {
            return false;
        };
        self.system.cell = cell;
        for (r, u) in self.system.positions.iter_mut().zip(x.chunks(3)) {
            *r = f * Vector3::new(u[0], u[1], u[2]);
        }
        true
    }
}

impl Objective for CellObjective<'_> {
    fn evaluate(&mut self, x: &[f64], gradient: &mut [f64]) -> anyhow::Result<f64> {
        if !self.apply(x) {
            gradient.iter_mut().for_each(|g| *g = f64::NAN);
            return Ok(f64::NAN);
        }
        let n = self.system.len();
        let evaluation = self.evaluator.evaluate(self.system)?;
        let f = self.deformation();
        let volume = self.system.cell.volume();
        for (g, force) in gradient.chunks_mut(3).zip(&evaluation.forces) {
            let generalized = f.transpose() * force;
            g.copy_from_slice(&[-generalized.x, -generalized.y, -generalized.z]);
        }
        let virial = evaluation.require_virial("relax_cell = true")? - Matrix3::identity() * (self.pressure * volume);
        let f_inverse_t = f.try_inverse().expect("checked by apply").transpose();
        let cell_force = virial.transpose() * f_inverse_t / self.cell_factor;
        for a in 0..3 {
            for b in 0..3 {
                gradient[3 * n + 3 * a + b] = -cell_force[(a, b)];
            }
        }
        let enthalpy = evaluation.energy + self.pressure * volume;
        self.initial_energy.get_or_insert(evaluation.energy);
        self.last = Some(evaluation);
        Ok(enthalpy)
    }

    fn observe(&mut self, iteration: usize, energy: f64, max_force: f64) {
        if let Some(log) = self.log.as_deref_mut() {
            log.record(iteration, energy, max_force, self.system);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::potentials::lj::LennardJones;
    use crate::potentials::Potential;
    use std::sync::Arc;

    /// Argon LJ (ε = 0.0103 eV, σ = 3.405 Å), cut at 8.5 Å and shifted.
    pub fn argon() -> Arc<dyn Potential> {
        Arc::new(LennardJones::single_species("Ar", 0.0103, 3.405, 8.5, true).unwrap())
    }

    #[test]
    fn cell_gradient_matches_finite_differences() {
        let mut system = crate::system::fcc(18, 5.3, 2);
        let mut rng_state = 12345u64;
        for r in system.positions.iter_mut() {
            for k in 0..3 {
                rng_state = rng_state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                r[k] += ((rng_state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.2;
            }
        }
        system.cell = system.cell.deformed(&Matrix3::new(1.02, 0.01, 0.0, 0.01, 0.99, 0.0, 0.0, 0.0, 1.0)).unwrap();
        let mut evaluator = Evaluator::new(argon(), 0.5);
        let pressure = 1000.0 / EV_PER_A3_IN_BAR;
        let mut objective = CellObjective::new(&mut system, &mut evaluator, pressure, None);
        // Move away from F = I so that the F-dependence of the gradient is exercised.
        let mut x = objective.coordinates();
        let n = x.len() - 9;
        x[n] *= 1.01;
        x[n + 4] *= 0.995;
        x[n + 1] += 0.2;
        let mut gradient = vec![0.0; x.len()];
        objective.evaluate(&x, &mut gradient).unwrap();
        let mut scratch = vec![0.0; x.len()];
        let mut worst: f64 = 0.0;
        let indices: Vec<usize> = (0..6).chain(n..n + 9).collect();
        for i in indices {
            let h = if i >= n { 1e-4 } else { 1e-5 };
            let mut plus = x.clone();
            plus[i] += h;
            let mut minus = x.clone();
            minus[i] -= h;
            let numeric = (objective.evaluate(&plus, &mut scratch).unwrap()
                - objective.evaluate(&minus, &mut scratch).unwrap())
                / (2.0 * h);
            worst = worst.max((numeric - gradient[i]).abs());
        }
        assert!(worst < 1e-6, "largest gradient error {worst}");
    }

    #[test]
    fn cell_relaxation_reaches_zero_stress_at_the_energy_minimum() {
        // Start compressed; the relaxed lattice constant must be where E(a) is lowest and the pressure zero.
        let mut system = crate::system::fcc(18, 5.1, 3);
        system.positions[0].x += 0.1;
        let mut evaluator = Evaluator::new(argon(), 0.5);
        let settings =
            RelaxSettings { relax_cell: true, fmax_ev_per_a: 1e-5, optimizer: Algorithm::Lbfgs, ..Default::default() };
        settings.validate("stage[0]").unwrap();
        let relaxed = relax(&mut system, &mut evaluator, &settings, None).unwrap();
        assert!(relaxed.report.converged, "{:?}", relaxed.report);
        assert!(relaxed.report.final_pressure_bar.unwrap().abs() < 1.0, "{:?}", relaxed.report);
        let a = system.cell.volume().cbrt() / 3.0;
        // Independent check: scan the energy of the perfect crystal around a.
        let energy = |a: f64| Evaluator::new(argon(), 0.5).evaluate(&crate::system::fcc(18, a, 3)).unwrap().energy;
        let e0 = energy(a);
        assert!((relaxed.report.final_energy_ev - e0).abs() < 1e-6);
        assert!(energy(a * 1.002) > e0 && energy(a * 0.998) > e0, "a = {a}");
        let stress = relaxed.evaluation.stress(system.cell.volume()).unwrap();
        assert!(stress.abs().max() * EV_PER_A3_IN_BAR < 1.0);
    }

    #[test]
    fn cell_relaxation_under_pressure_reaches_the_target_pressure() {
        let mut system = crate::system::fcc(18, 5.26, 3);
        let mut evaluator = Evaluator::new(argon(), 0.5);
        let settings = RelaxSettings {
            relax_cell: true,
            pressure_bar: 5000.0,
            fmax_ev_per_a: 1e-5,
            optimizer: Algorithm::Lbfgs,
            ..Default::default()
        };
        settings.validate("stage[0]").unwrap();
        let before = system.cell.volume();
        let relaxed = relax(&mut system, &mut evaluator, &settings, None).unwrap();
        assert!(relaxed.report.converged);
        assert!((relaxed.report.final_pressure_bar.unwrap() - 5000.0).abs() < 5.0, "{:?}", relaxed.report);
        assert!(system.cell.volume() < before);
        // Stress stays hydrostatic for a cubic crystal.
        let stress = relaxed.evaluation.stress(system.cell.volume()).unwrap() * EV_PER_A3_IN_BAR;
        assert!((stress - Matrix3::identity() * stress[(0, 0)]).abs().max() < 5.0, "{stress}");
    }

    #[test]
    fn position_relaxation_converges_and_lowers_the_energy() {
        for optimizer in [Algorithm::Fire, Algorithm::Lbfgs] {
            let mut system = crate::system::fcc(18, 5.26, 3);
            system.remove(0);
            system.positions[1] += Vector3::new(0.3, -0.2, 0.1);
            let mut evaluator = Evaluator::new(argon(), 0.5);
            let settings = RelaxSettings { optimizer, fmax_ev_per_a: 1e-4, ..Default::default() };
            let dir = tempfile::tempdir().unwrap();
            let report = settings.run(&mut system, &mut evaluator, dir.path(), 0, true).unwrap();
            assert!(report.converged);
            assert!(report.final_energy_ev < report.initial_energy_ev);
            assert!(Evaluator::new(argon(), 0.5).evaluate(&system).unwrap().max_force() <= 1e-4);
            let log = std::fs::read_to_string(dir.path().join("relax_log.csv")).unwrap();
            assert_eq!(log.lines().count(), report.steps + 2);
            let frames = extxyz::read_frames(&dir.path().join("relaxed.extxyz")).unwrap();
            assert!((frames[0].info_f64("energy").unwrap() - report.final_energy_ev).abs() < 1e-9);
        }
    }

    #[test]
    fn bad_settings_are_rejected() {
        let bad: RelaxSettings = toml::from_str("fmax_ev_per_a = 0.0").unwrap();
        assert_eq!(
            bad.validate("stage[1]").unwrap_err().to_string(),
            "stage[1].fmax_ev_per_a = 0: expected a positive finite number"
        );
        assert!(toml::from_str::<RelaxSettings>("fmax = 0.1").is_err());
        assert!(toml::from_str::<RelaxSettings>("optimizer = \"bfgs\"").is_err());
        let bad: RelaxSettings = toml::from_str("pressure_bar = 10.0").unwrap();
        assert!(bad.validate("stage[1]").is_err());
    }
}

//! The MD stage: settings, the integration loop, outputs, checkpoints and resume.
//!
//! One step (LAMMPS order: `initial_integrate`, re-neighbouring, forces, `final_integrate`, `end_of_step`):
//! thermostat begin (Nosé–Hoover half step) → v += Δt/2·F/m → r += Δt·v (split Δt/2, O step, Δt/2 for BAOAB
//! Langevin) → if the neighbour list needs a rebuild, wrap atoms into the cell first (images count crossings)
//! → F(r) → v += Δt/2·F/m → thermostat end (Nosé–Hoover half step, CSVR rescale) → checks, averages, output.
//! The target temperature of a step is the schedule's value at the step's end time.

use super::barostats::{Barostat, BarostatSettings, Targets};
use super::checkpoint::{to_vectors, Checkpoint, OutputPositions, SystemState, CHECKPOINT_FORMAT};
use super::integrator::{drift, kick};
use super::schedule::{pressure_in_bar, Schedule, SegmentSettings};
use super::thermo::ThermoRow;
use super::thermostats::{Thermostat, ThermostatSettings};
use super::velocities::maxwell_boltzmann;
use crate::input::{join, positive, InvalidValue};
use crate::io::extxyz::{format_frame, FrameExtras};
use crate::io::h5md::{H5mdWriter, Observables};
use crate::potentials::{Evaluation, Evaluator};
use crate::progress::Progress;
use crate::system::System;
use crate::units::G_PER_CM3_PER_AMU_PER_A3;
use anyhow::Context;
use nalgebra::Vector3;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Trajectory file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrajectoryFormat {
    /// `trajectory.h5`, H5MD 1.1 (see [`crate::io::h5md`]).
    H5md,
    /// `trajectory.xyz`, extended XYZ with velocities and image flags.
    Extxyz,
}

fn default_thermo_every() -> u64 {
    100
}
fn default_formats() -> Vec<TrajectoryFormat> {
    vec![TrajectoryFormat::H5md]
}
fn default_max_temperature() -> f64 {
    100_000.0
}

/// Settings of an MD stage (`[[stage]] kind = "md"`). See `docs/md.md`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdSettings {
    /// Timestep Δt (fs).
    pub timestep_fs: f64,
    /// Thermostat; absent or `{ kind = "none" }` for NVE.
    #[serde(default)]
    pub thermostat: Option<ThermostatSettings>,
    /// Barostat (constant pressure); absent for constant volume.
    pub barostat: Option<BarostatSettings>,
    /// Constant target pressure (bar) under a barostat, unless the schedule's segments give pressures.
    pub pressure_bar: Option<f64>,
    /// The same in GPa.
    pub pressure_gpa: Option<f64>,
    /// Constant target temperature (K), with `duration_ps` or `steps`; thermostatted runs only.
    pub temperature_k: Option<f64>,
    /// Length of the run (ps), unless a `schedule` gives it.
    pub duration_ps: Option<f64>,
    /// Length of the run (steps), unless a `schedule` gives it.
    pub steps: Option<u64>,
    /// Temperature schedule (instead of `temperature_k` + length).
    pub schedule: Option<Vec<SegmentSettings>>,
    /// Draw fresh Maxwell–Boltzmann velocities at this temperature (K) before the first step; when absent the
    /// system's velocities are kept.
    pub initial_temperature_k: Option<f64>,
    /// Thermo output interval (steps); default 100.
    #[serde(default = "default_thermo_every")]
    pub thermo_every: u64,
    /// Trajectory interval (steps); default 0 = no trajectory.
    #[serde(default)]
    pub trajectory_every: u64,
    /// Trajectory formats; default `["h5md"]`.
    #[serde(default = "default_formats")]
    pub trajectory_formats: Vec<TrajectoryFormat>,
    /// Checkpoint interval (steps); default 0 = no checkpoints. When > 0 a checkpoint is also written at the end.
    #[serde(default)]
    pub checkpoint_every: u64,
    /// Stop with an error when the temperature exceeds this (K); default 100000.
    #[serde(default = "default_max_temperature")]
    pub max_temperature_k: f64,
    /// Stop with an error when the extrapolation warnings summed over the run exceed this; default: no limit.
    pub max_extrapolations: Option<u64>,
}

/// How a run is driven (not part of the input file).
#[derive(Clone, Copy, Debug, Default)]
pub struct RunControl {
    /// No thermo table on screen and no progress bar.
    pub quiet: bool,
    /// Stop after this step as if the job had been interrupted (wall-clock-limited jobs, restart tests); the
    /// report covers the steps done.
    pub stop_after_step: Option<u64>,
}

/// Running sums for the report (checkpointed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Accumulators {
    /// Steps accumulated.
    pub samples: u64,
    pub sum_temperature: f64,
    pub sum_temperature_squared: f64,
    pub sum_potential_energy: f64,
    pub sum_pressure: f64,
    /// Σ V and Σ V² (Å³, Å⁶), for the mean volume and its fluctuation under a barostat.
    #[serde(default)]
    pub sum_volume: f64,
    #[serde(default)]
    pub sum_volume_squared: f64,
    /// Conserved energy at step 0 (eV).
    pub initial_conserved_energy: f64,
    pub neighbor_rebuilds: u64,
    pub force_evaluations: u64,
    pub extrapolations: u64,
    pub max_extrapolations_in_step: u64,
}

/// Key numbers of an MD stage, for `summary.json`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct MdReport {
    /// Steps completed (including those before a resume).
    pub steps: u64,
    pub timestep_fs: f64,
    /// steps × Δt (ps).
    pub simulated_time_ps: f64,
    /// `none`, `nose-hoover`, `langevin` or `csvr`.
    pub thermostat: String,
    /// `none`, `mtk` or `c-rescale`.
    #[serde(default = "no_barostat")]
    pub barostat: String,
    pub final_temperature_k: f64,
    /// Mean and standard deviation of the instantaneous temperature over steps 1..=N (K).
    pub mean_temperature_k: f64,
    pub std_temperature_k: f64,
    /// Mean potential energy over steps 1..=N (eV).
    pub mean_potential_energy_ev: f64,
    /// Mean pressure over steps 1..=N (bar, kinetic part included; null without a cell).
    #[serde(deserialize_with = "crate::io::nan_from_null")]
    pub mean_pressure_bar: f64,
    /// Mean volume and its standard deviation over steps 1..=N (Å³; null without a cell). Under a barostat at
    /// constant temperature, B = k_B T ⟨V⟩/⟨δV²⟩ is the isothermal bulk modulus.
    #[serde(default, deserialize_with = "crate::io::nan_from_null")]
    pub mean_volume_a3: f64,
    #[serde(default, deserialize_with = "crate::io::nan_from_null")]
    pub std_volume_a3: f64,
    /// Mass density from the mean volume, ρ = Σ m_i / ⟨V⟩ (g/cm³; null without a cell): under a barostat, the
    /// density at the stage's temperature and pressure.
    #[serde(default, deserialize_with = "crate::io::nan_from_null")]
    pub mean_density_g_per_cm3: f64,
    /// (E_conserved(N) − E_conserved(0))/N_atoms (eV/atom).
    pub conserved_energy_drift_ev_per_atom: f64,
    pub neighbor_rebuilds: u64,
    pub force_evaluations: u64,
    /// Extrapolation warnings summed over all steps, and the largest count in one step.
    pub extrapolations_total: u64,
    pub max_extrapolations_in_step: u64,
    /// Wall time of this call (s) and throughput.
    pub wall_time_s: f64,
    pub atom_steps_per_second: f64,
    /// Step the run was resumed from, if it was.
    pub resumed_from_step: Option<u64>,
    /// True when stopped early by [`RunControl::stop_after_step`].
    pub interrupted: bool,
    /// Files written in the output directory.
    pub files: Vec<String>,
}

fn no_barostat() -> String {
    "none".into()
}

/// Why an MD stage stopped early.
#[derive(Debug, thiserror::Error)]
pub enum MdError {
    #[error("MD blew up at step {step} (t = {time_fs} fs): {what}; {checkpoint}")]
    BlowUp { step: u64, time_fs: f64, temperature_k: f64, what: String, checkpoint: String },
    #[error("MD stopped at step {step}: {total} extrapolation warnings so far exceed max_extrapolations = {limit}; {checkpoint}")]
    Extrapolation { step: u64, total: u64, limit: u64, checkpoint: String },
}

/// File names in the output directory.
pub const THERMO_FILE: &str = "thermo.csv";
pub const H5MD_FILE: &str = "trajectory.h5";
pub const EXTXYZ_FILE: &str = "trajectory.xyz";
pub const CHECKPOINT_FILE: &str = "checkpoint.json";

impl MdSettings {
    fn thermostat_settings(&self) -> ThermostatSettings {
        self.thermostat.clone().unwrap_or(ThermostatSettings::None)
    }

    /// Checks every value; `key` is the stage prefix, e.g. `stage[2]`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        positive(key, "timestep_fs", self.timestep_fs)?;
        let thermostat = self.thermostat_settings();
        thermostat.validate(&join(key, "thermostat"))?;
        if let Some(damping) = thermostat.damping_fs().filter(|&d| d < self.timestep_fs) {
            return Err(InvalidValue::new(
                join(key, "thermostat.damping_fs"),
                crate::input::number(damping),
                format!(
                    "a relaxation time of at least the timestep ({} fs); 100 timesteps is usual",
                    crate::input::number(self.timestep_fs)
                ),
            ));
        }
        if thermostat.is_none() {
            if let Some(t) = self.temperature_k {
                return Err(InvalidValue::new(
                    join(key, "temperature_k"),
                    t,
                    "no target temperature without a thermostat (NVE); use initial_temperature_k for fresh velocities, or add thermostat = { kind = \"nose-hoover\", damping_fs = 100 }",
                ));
            }
            if self.schedule.is_some() {
                return Err(InvalidValue::new(
                    join(key, "schedule"),
                    "[...]",
                    "a thermostat for a temperature schedule",
                ));
            }
        }
        if let Some(t) = self.initial_temperature_k {
            positive(key, "initial_temperature_k", t)?;
            if t >= self.max_temperature_k {
                return Err(InvalidValue::new(
                    join(key, "initial_temperature_k"),
                    crate::input::number(t),
                    format!(
                        "a temperature below max_temperature_k = {} K, where the run stops as blown up",
                        crate::input::number(self.max_temperature_k)
                    ),
                ));
            }
        }
        if self.thermo_every == 0 {
            return Err(InvalidValue::new(join(key, "thermo_every"), 0, "a positive number of steps"));
        }
        if self.trajectory_every > 0 {
            if self.trajectory_formats.is_empty() {
                return Err(InvalidValue::new(
                    join(key, "trajectory_formats"),
                    "[]",
                    "at least one of \"h5md\", \"extxyz\"",
                ));
            }
            let formats = &self.trajectory_formats;
            if let Some(k) = (1..formats.len()).find(|&k| formats[..k].contains(&formats[k])) {
                return Err(InvalidValue::new(
                    join(key, &format!("trajectory_formats[{k}]")),
                    format!("\"{:?}\"", formats[k]).to_lowercase(),
                    "each format at most once: \"h5md\", \"extxyz\" or both",
                ));
            }
        }
        positive(key, "max_temperature_k", self.max_temperature_k)?;
        self.validate_barostat(key)?;
        let schedule = self.schedule(key)?;
        if schedule.max_temperature() >= self.max_temperature_k {
            return Err(InvalidValue::new(
                join(key, "max_temperature_k"),
                self.max_temperature_k,
                format!("a limit above the highest target temperature, {} K", schedule.max_temperature()),
            ));
        }
        Ok(())
    }

    /// The barostat's own checks and how it fits the timestep and the thermostat.
    fn validate_barostat(&self, key: &str) -> Result<(), InvalidValue> {
        let Some(barostat) = &self.barostat else { return Ok(()) };
        let barostat_key = join(key, "barostat");
        barostat.validate(&barostat_key)?;
        if barostat.damping_fs() < self.timestep_fs {
            return Err(InvalidValue::new(
                join(&barostat_key, "damping_fs"),
                crate::input::number(barostat.damping_fs()),
                format!(
                    "a relaxation time of at least the timestep ({} fs); 1000 timesteps is usual",
                    crate::input::number(self.timestep_fs)
                ),
            ));
        }
        if barostat.needs_thermostat() && self.thermostat_settings().is_none() {
            return Err(InvalidValue::new(
                join(key, "thermostat"),
                "(none)",
                "a thermostat beside this barostat, whose noise is set by the target temperature: e.g. thermostat = { kind = \"csvr\", damping_fs = 100 }",
            ));
        }
        Ok(())
    }

    /// The schedule of target temperatures, and of pressures under a barostat (constant 0 K for NVE, where it
    /// is not used); validates the length, temperature and pressure keys.
    pub fn schedule(&self, key: &str) -> Result<Schedule, InvalidValue> {
        let schedule = self.temperature_schedule(key)?;
        let stage_pressure = pressure_in_bar(key, "pressure", self.pressure_bar, self.pressure_gpa)?;
        let pressure_key = || join(key, if self.pressure_gpa.is_some() { "pressure_gpa" } else { "pressure_bar" });
        match (self.barostat.is_some(), stage_pressure, schedule.has_pressure()) {
            (false, None, Some(false)) | (true, None, Some(true)) => Ok(schedule),
            (true, Some(p), Some(false)) => Ok(schedule.at_pressure(p)),
            (false, Some(p), _) => Err(InvalidValue::new(
                pressure_key(),
                crate::input::number(p),
                "a barostat for a target pressure: add barostat = { kind = \"mtk\", damping_fs = 1000 }",
            )),
            (false, None, _) => Err(InvalidValue::new(
                join(key, "schedule"),
                "[...]",
                "a barostat for the schedule's pressures: add barostat = { kind = \"mtk\", damping_fs = 1000 }",
            )),
            (true, Some(p), _) => Err(InvalidValue::new(
                pressure_key(),
                crate::input::number(p),
                "either a stage pressure or pressures in the schedule's segments, not both",
            )),
            (true, None, None) => Err(InvalidValue::new(
                join(key, "schedule"),
                "[...]",
                "a pressure in every segment (pressure_bar, pressure_gpa, or from_bar + to_bar), or in none and pressure_bar at the stage",
            )),
            (true, None, Some(false)) => Err(InvalidValue::new(
                join(key, "pressure_bar"),
                "(missing)",
                "a target pressure for the barostat: pressure_bar or pressure_gpa (or pressures in the schedule)",
            )),
        }
    }

    /// The schedule of target temperatures; validates the length and temperature keys.
    fn temperature_schedule(&self, key: &str) -> Result<Schedule, InvalidValue> {
        let length = match (self.duration_ps, self.steps) {
            (Some(duration), None) => {
                positive(key, "duration_ps", duration)?;
                let segment =
                    SegmentSettings { temperature_k: Some(1.0), duration_ps: Some(duration), ..Default::default() };
                Some(segment.to_segment(key, self.timestep_fs)?.steps)
            }
            (None, Some(steps)) => {
                let segment = SegmentSettings { temperature_k: Some(1.0), steps: Some(steps), ..Default::default() };
                Some(segment.to_segment(key, self.timestep_fs)?.steps)
            }
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(InvalidValue::new(join(key, "steps"), "...", "either duration_ps or steps, not both"))
            }
        };
        match (&self.schedule, self.temperature_k, length) {
            (Some(entries), None, None) => Schedule::from_settings(entries, &join(key, "schedule"), self.timestep_fs),
            (Some(_), _, _) => Err(InvalidValue::new(
                join(key, "schedule"),
                "[...]",
                "a schedule alone: it replaces temperature_k, duration_ps and steps",
            )),
            (None, Some(t), Some(steps)) => {
                positive(key, "temperature_k", t)?;
                Ok(Schedule::constant(t, steps))
            }
            (None, None, Some(steps)) if self.thermostat_settings().is_none() => Ok(Schedule::constant(0.0, steps)),
            (None, None, Some(_)) => Err(InvalidValue::new(
                join(key, "temperature_k"),
                "(missing)",
                "a target temperature (K) for the thermostat, or a schedule",
            )),
            (None, _, None) => Err(InvalidValue::new(
                key,
                "{...}",
                "the run length: duration_ps or steps (or a schedule with a thermostat)",
            )),
        }
    }

    /// Runs the stage on `system`: fresh velocities if asked, then the schedule. Files go to `output_dir`
    /// (created if needed). `seed` seeds the one random stream (velocities, then thermostat noise).
    ///
    /// The evaluator's neighbour list is rebuilt from the wrapped system at the start (so a checkpoint can
    /// reproduce it): the evaluator is replaced by a fresh one on the same potential and skin.
    pub fn run(
        &self,
        system: &mut System,
        evaluator: &mut Evaluator,
        output_dir: &Path,
        seed: u64,
        control: RunControl,
    ) -> anyhow::Result<MdReport> {
        self.validate("md").map_err(anyhow::Error::from)?;
        let schedule = self.schedule("md")?;
        if system.is_empty() {
            anyhow::bail!("the system has no atoms: nothing to integrate");
        }
        if let Some(i) = system.masses.iter().position(|m| !(*m > 0.0 && m.is_finite())) {
            anyhow::bail!(
                "atom {} ({}) has mass {} amu: MD needs a positive mass for every atom",
                i + 1,
                system.symbol(i),
                system.masses[i]
            );
        }
        crate::io::create_output_dir(output_dir)?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        if let Some(t) = self.initial_temperature_k {
            maxwell_boltzmann(system, t, &mut rng);
        }
        system.wrap();
        *evaluator = Evaluator::new(evaluator.potential().clone(), evaluator.neighbors().skin());
        let evaluation = evaluator.evaluate(system).context("md: step 0")?;
        let thermostat = self.thermostat_settings().build(system, schedule.target_temperature(0));
        if thermostat.needs_motion() && system.kinetic_energy() == 0.0 {
            anyhow::bail!(
                "the atoms are at rest and this thermostat only rescales velocities: set initial_temperature_k"
            );
        }
        if self.barostat.is_some() && !system.cell.is_fully_periodic() {
            anyhow::bail!(
                "md.barostat: the cell is not periodic along {}: a barostat changes the cell and needs periodic boundaries in all three directions",
                ["a", "b", "c"].iter().zip(system.cell.periodic()).filter(|(_, p)| !p).map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            );
        }
        if self.barostat.is_some() {
            evaluation.require_virial("md.barostat")?;
        }
        let barostat = self.barostat.as_ref().map(|b| b.build(system, targets(&schedule, 0)));
        let reservoir = thermostat.reservoir_energy()
            + barostat.as_ref().map_or(0.0, |b| b.reservoir_energy(system, targets(&schedule, 0)));
        let row = ThermoRow::new(0, 0.0, system, &evaluation, reservoir);
        let accumulators = Accumulators {
            initial_conserved_energy: row.conserved_energy,
            neighbor_rebuilds: 1,
            force_evaluations: 1,
            extrapolations: row.extrapolations as u64,
            max_extrapolations_in_step: row.extrapolations as u64,
            ..Default::default()
        };
        let state = State {
            step: 0,
            thermostat,
            barostat,
            rng,
            accumulators,
            neighbor_reference: system.positions.clone(),
            neighbor_reference_cell: system.cell.clone(),
            evaluation,
        };
        let mut outputs = Outputs::create(self, output_dir, system)?;
        let mut screen = Screen::new(control.quiet, schedule.total_steps(), row.extrapolations > 0);
        screen.print(&row);
        outputs.thermo(&row)?;
        if self.trajectory_every > 0 {
            outputs.frame(&row, system)?;
        }
        state.check(self, system, &row, &outputs)?;
        self.integrate(system, evaluator, &schedule, state, outputs, screen, control, None)
    }

    /// Continues a stage from `checkpoint` (written by [`run`](Self::run) with these settings) until the end of
    /// the schedule: `system` is replaced by the checkpoint's, output files are truncated back to the checkpoint
    /// and appended to. The result is bit-identical to the uninterrupted run.
    pub fn resume(
        &self,
        checkpoint: &Path,
        system: &mut System,
        evaluator: &mut Evaluator,
        output_dir: &Path,
        control: RunControl,
    ) -> anyhow::Result<MdReport> {
        self.validate("md").map_err(anyhow::Error::from)?;
        let schedule = self.schedule("md")?;
        let saved = Checkpoint::read(checkpoint)?;
        let where_ = checkpoint.display();
        if saved.total_steps != schedule.total_steps() || saved.timestep_fs != self.timestep_fs {
            anyhow::bail!(
                "{where_}: written for {} steps of {} fs, but these settings give {} steps of {} fs",
                saved.total_steps,
                saved.timestep_fs,
                schedule.total_steps(),
                self.timestep_fs
            );
        }
        *system = saved.system.to_system().map_err(|e| anyhow::anyhow!("{where_}: {e}"))?;
        if saved.neighbor_reference_positions.len() != system.len() {
            anyhow::bail!("{where_}: neighbour reference positions do not match the number of atoms");
        }
        // Rebuild the neighbour list exactly as it was: from the positions of its last build.
        *evaluator = Evaluator::new(evaluator.potential().clone(), evaluator.neighbors().skin());
        let mut at_last_build = system.clone();
        at_last_build.positions = to_vectors(&saved.neighbor_reference_positions);
        if let Some(rows) = saved.neighbor_reference_cell {
            let matrix = nalgebra::Matrix3::from_fn(|r, c| rows[r][c]);
            at_last_build.cell = crate::system::Cell::from_matrix(matrix, system.cell.periodic())
                .ok_or_else(|| anyhow::anyhow!("{where_}: the neighbour reference cell has no volume"))?;
        }
        evaluator.evaluate(&at_last_build).with_context(|| format!("{where_}: resuming"))?;
        let evaluation = evaluator.evaluate(system).with_context(|| format!("{where_}: resuming"))?;
        if saved.barostat.is_some() {
            evaluation.require_virial("md.barostat")?;
        }
        let state = State {
            step: saved.step,
            thermostat: saved.thermostat,
            barostat: saved.barostat,
            rng: saved.rng,
            accumulators: saved.accumulators,
            neighbor_reference: at_last_build.positions,
            neighbor_reference_cell: at_last_build.cell,
            evaluation,
        };
        let outputs = Outputs::reopen(self, output_dir, &saved.outputs)?;
        let screen = Screen::new(control.quiet, schedule.total_steps(), false);
        screen.progress.set_position(saved.step);
        self.integrate(system, evaluator, &schedule, state, outputs, screen, control, Some(saved.step))
    }

    #[allow(clippy::too_many_arguments)]
    fn integrate(
        &self,
        system: &mut System,
        evaluator: &mut Evaluator,
        schedule: &Schedule,
        mut state: State,
        mut outputs: Outputs,
        mut screen: Screen,
        control: RunControl,
        resumed_from_step: Option<u64>,
    ) -> anyhow::Result<MdReport> {
        let started = Instant::now();
        let first_step = state.step;
        let total = schedule.total_steps();
        let dt = self.timestep_fs;
        let mut row = ThermoRow::new(
            state.step,
            state.step as f64 * dt,
            system,
            &state.evaluation,
            state.reservoir_energy(system, targets(schedule, state.step)),
        );
        let mut interrupted = false;
        while state.step < total {
            if control.stop_after_step.is_some_and(|stop| state.step >= stop) {
                interrupted = true;
                break;
            }
            let step = state.step + 1;
            let targets = targets(schedule, step);
            self.velocity_verlet_step(system, evaluator, &mut state, targets)?;
            let reservoir = state.reservoir_energy(system, targets);
            row = ThermoRow::new(step, step as f64 * dt, system, &state.evaluation, reservoir);
            state.check(self, system, &row, &outputs)?;
            state.accumulate(&row);
            self.write_step(&state, system, &row, total, &mut outputs, &mut screen)?;
        }
        screen.progress.finish();
        let wall_time_s = started.elapsed().as_secs_f64();
        let acc = &state.accumulators;
        let samples = acc.samples.max(1) as f64;
        let mean_temperature = acc.sum_temperature / samples;
        let variance = (acc.sum_temperature_squared / samples - mean_temperature * mean_temperature).max(0.0);
        let steps_done = state.step - first_step;
        let mean_volume = if system.cell.is_infinite() { f64::NAN } else { acc.sum_volume / samples };
        let volume_variance = (acc.sum_volume_squared / samples - mean_volume * mean_volume).max(0.0);
        Ok(MdReport {
            steps: state.step,
            timestep_fs: dt,
            simulated_time_ps: state.step as f64 * dt / 1000.0,
            thermostat: state.thermostat.kind().into(),
            barostat: state.barostat.as_ref().map_or("none", Barostat::kind).into(),
            final_temperature_k: row.temperature_k,
            mean_temperature_k: mean_temperature,
            std_temperature_k: variance.sqrt(),
            mean_potential_energy_ev: acc.sum_potential_energy / samples,
            mean_pressure_bar: if system.cell.is_infinite() { f64::NAN } else { acc.sum_pressure / samples },
            mean_volume_a3: mean_volume,
            std_volume_a3: volume_variance.sqrt(),
            mean_density_g_per_cm3: system.masses.iter().sum::<f64>() / mean_volume * G_PER_CM3_PER_AMU_PER_A3,
            conserved_energy_drift_ev_per_atom: (row.conserved_energy - acc.initial_conserved_energy)
                / system.len() as f64,
            neighbor_rebuilds: acc.neighbor_rebuilds,
            force_evaluations: acc.force_evaluations,
            extrapolations_total: acc.extrapolations,
            max_extrapolations_in_step: acc.max_extrapolations_in_step,
            wall_time_s,
            atom_steps_per_second: steps_done as f64 * system.len() as f64 / wall_time_s.max(1e-9),
            resumed_from_step,
            interrupted,
            files: outputs.files(),
        })
    }

    /// Advances `state` by one velocity-Verlet step of Δt = `timestep_fs` with the thermostat's hooks (Swope et
    /// al., J. Chem. Phys. 76, 637 (1982)): v += F/m·Δt/2, x += v·Δt (split in two halves around the thermostat's
    /// mid-step for BAOAB-type Langevin), F = F(x), v += F/m·Δt/2.
    fn velocity_verlet_step(
        &self,
        system: &mut System,
        evaluator: &mut Evaluator,
        state: &mut State,
        targets: Targets,
    ) -> anyhow::Result<()> {
        let dt = self.timestep_fs;
        let step = state.step + 1;
        let target_k = targets.temperature_k;
        state.thermostat.begin_step(system, target_k, dt);
        if let Some(barostat) = &mut state.barostat {
            barostat.begin_step(system, &state.evaluation, targets, dt, &mut state.rng);
        }
        kick(system, &state.evaluation.forces, 0.5 * dt);
        if let Some(barostat) = &mut state.barostat {
            barostat.drift(system, dt);
        } else if state.thermostat.has_mid_step() {
            drift(system, 0.5 * dt);
            state.thermostat.mid_step(system, target_k, dt, &mut state.rng);
            drift(system, 0.5 * dt);
        } else {
            drift(system, dt);
        }
        if evaluator.needs_neighbor_update(system) {
            system.wrap();
            state.neighbor_reference.clone_from(&system.positions);
            state.neighbor_reference_cell.clone_from(&system.cell);
            state.accumulators.neighbor_rebuilds += 1;
        }
        state.evaluation = evaluator
            .evaluate(system)
            .with_context(|| format!("md: step {step} (the last checkpoint is intact: continue with --restart)"))?;
        state.accumulators.force_evaluations += 1;
        kick(system, &state.evaluation.forces, 0.5 * dt);
        if let Some(barostat) = &mut state.barostat {
            barostat.end_step(system, &state.evaluation, targets, dt);
        }
        state.thermostat.end_step(system, target_k, dt, &mut state.rng);
        state.step = step;
        Ok(())
    }

    /// The thermo row (screen and `thermo.csv`), trajectory frame and checkpoint that are due after `state.step`.
    fn write_step(
        &self,
        state: &State,
        system: &System,
        row: &ThermoRow,
        total: u64,
        outputs: &mut Outputs,
        screen: &mut Screen,
    ) -> anyhow::Result<()> {
        let step = state.step;
        if step % self.thermo_every == 0 || step == total {
            screen.print(row);
            outputs.thermo(row)?;
        }
        if self.trajectory_every > 0 && step % self.trajectory_every == 0 {
            outputs.frame(row, system)?;
        }
        if self.checkpoint_every > 0 && (step % self.checkpoint_every == 0 || step == total) {
            outputs.checkpoint(state, system, total, self.timestep_fs)?;
        }
        screen.progress.inc(1);
        Ok(())
    }
}

/// A blow-up within this many steps of the start is more likely the input's than the potential's.
const EARLY_BLOW_UP_STEPS: u64 = 10;

/// What to check first when MD blows up at once: the timestep against the lightest mass, and the initial
/// temperature, which make atoms jump before the potential has a say.
fn early_blow_up_hint(settings: &MdSettings, system: &System) -> String {
    let lightest = (0..system.len()).min_by(|&a, &b| system.masses[a].total_cmp(&system.masses[b]));
    let mass = lightest.map_or(String::new(), |i| {
        format!(
            ", the lightest mass ({} amu of {}; system.masses)",
            crate::input::number(system.masses[i]),
            system.symbol(i)
        )
    });
    let temperature = settings
        .initial_temperature_k
        .map_or(String::new(), |t| format!(" and initial_temperature_k ({} K)", crate::input::number(t)));
    format!(
        "; so soon after the start, check timestep_fs ({} fs){mass}{temperature} before the potential",
        crate::input::number(settings.timestep_fs)
    )
}

/// The targets of step `step`: the schedule's pressure (0 without a barostat) and temperature.
fn targets(schedule: &Schedule, step: u64) -> Targets {
    Targets::new(schedule.target_pressure_bar(step).unwrap_or(0.0), schedule.target_temperature(step))
}

/// Everything that evolves during the run besides the system.
struct State {
    step: u64,
    thermostat: Thermostat,
    barostat: Option<Barostat>,
    rng: Xoshiro256PlusPlus,
    accumulators: Accumulators,
    neighbor_reference: Vec<Vector3<f64>>,
    neighbor_reference_cell: crate::system::Cell,
    evaluation: Evaluation,
}

impl State {
    /// Energy (eV) of the thermostat and barostat reservoirs, added to E_pot + E_kin for the conserved quantity.
    fn reservoir_energy(&self, system: &System, targets: Targets) -> f64 {
        self.thermostat.reservoir_energy()
            + self.barostat.as_ref().map_or(0.0, |barostat| barostat.reservoir_energy(system, targets))
    }

    /// Blow-up and extrapolation guards.
    fn check(&self, settings: &MdSettings, system: &System, row: &ThermoRow, outputs: &Outputs) -> Result<(), MdError> {
        let what = if !row.potential_energy.is_finite() {
            Some(format!("the potential energy is {}", row.potential_energy))
        } else if !row.temperature_k.is_finite() || system.velocities.iter().any(|v| !v.iter().all(|x| x.is_finite())) {
            Some(format!("the temperature is {} K", row.temperature_k))
        } else if row.temperature_k > settings.max_temperature_k {
            Some(format!(
                "the temperature {:.1} K exceeds max_temperature_k = {} K",
                row.temperature_k, settings.max_temperature_k
            ))
        } else {
            None
        };
        if let Some(mut what) = what {
            if row.step <= EARLY_BLOW_UP_STEPS {
                what += &early_blow_up_hint(settings, system);
            }
            return Err(MdError::BlowUp {
                step: row.step,
                time_fs: row.time_fs,
                temperature_k: row.temperature_k,
                what,
                checkpoint: outputs.last_checkpoint_note(),
            });
        }
        if let Some(limit) = settings.max_extrapolations {
            let total = self.accumulators.extrapolations + if row.step > 0 { row.extrapolations as u64 } else { 0 };
            if total > limit {
                return Err(MdError::Extrapolation {
                    step: row.step,
                    total,
                    limit,
                    checkpoint: outputs.last_checkpoint_note(),
                });
            }
        }
        Ok(())
    }

    fn accumulate(&mut self, row: &ThermoRow) {
        let acc = &mut self.accumulators;
        acc.samples += 1;
        acc.sum_temperature += row.temperature_k;
        acc.sum_temperature_squared += row.temperature_k * row.temperature_k;
        acc.sum_potential_energy += row.potential_energy;
        if row.pressure_bar.is_finite() {
            acc.sum_pressure += row.pressure_bar;
            acc.sum_volume += row.volume_a3;
            acc.sum_volume_squared += row.volume_a3 * row.volume_a3;
        }
        acc.extrapolations += row.extrapolations as u64;
        acc.max_extrapolations_in_step = acc.max_extrapolations_in_step.max(row.extrapolations as u64);
    }
}

/// Output files of a run.
struct Outputs {
    dir: PathBuf,
    thermo: File,
    thermo_bytes: u64,
    extxyz: Option<(File, u64)>,
    h5md: Option<H5mdWriter>,
    last_checkpoint: Option<u64>,
}

fn open_for_append(path: &Path, keep_bytes: u64) -> anyhow::Result<File> {
    let file = crate::io::open_output_file(path)?;
    let length = file.metadata()?.len();
    if length < keep_bytes {
        anyhow::bail!("{}: {length} bytes, fewer than the {keep_bytes} the checkpoint expects", path.display());
    }
    file.set_len(keep_bytes)?;
    let mut file = file;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))?;
    Ok(file)
}

impl Outputs {
    fn create(settings: &MdSettings, dir: &Path, system: &System) -> anyhow::Result<Outputs> {
        let path = dir.join(THERMO_FILE);
        let mut thermo = crate::io::create_output_file(&path)?;
        thermo.write_all(ThermoRow::CSV_HEADER.as_bytes())?;
        let mut extxyz = None;
        let mut h5md = None;
        if settings.trajectory_every > 0 {
            for format in &settings.trajectory_formats {
                match format {
                    TrajectoryFormat::H5md => h5md = Some(H5mdWriter::create(&dir.join(H5MD_FILE), system)?),
                    TrajectoryFormat::Extxyz => {
                        extxyz = Some((crate::io::create_output_file(&dir.join(EXTXYZ_FILE))?, 0))
                    }
                }
            }
        }
        Ok(Outputs {
            dir: dir.to_path_buf(),
            thermo,
            thermo_bytes: ThermoRow::CSV_HEADER.len() as u64,
            extxyz,
            h5md,
            last_checkpoint: None,
        })
    }

    fn reopen(settings: &MdSettings, dir: &Path, positions: &OutputPositions) -> anyhow::Result<Outputs> {
        let thermo = open_for_append(&dir.join(THERMO_FILE), positions.thermo_csv_bytes)?;
        let mut extxyz = None;
        let mut h5md = None;
        if settings.trajectory_every > 0 {
            for format in &settings.trajectory_formats {
                match format {
                    TrajectoryFormat::H5md => {
                        h5md = Some(H5mdWriter::open_truncated(&dir.join(H5MD_FILE), positions.h5md_frames)?)
                    }
                    TrajectoryFormat::Extxyz => {
                        extxyz = Some((
                            open_for_append(&dir.join(EXTXYZ_FILE), positions.extxyz_bytes)?,
                            positions.extxyz_bytes,
                        ))
                    }
                }
            }
        }
        Ok(Outputs {
            dir: dir.to_path_buf(),
            thermo,
            thermo_bytes: positions.thermo_csv_bytes,
            extxyz,
            h5md,
            last_checkpoint: None,
        })
    }

    fn thermo(&mut self, row: &ThermoRow) -> anyhow::Result<()> {
        let line = row.csv_line();
        self.thermo.write_all(line.as_bytes()).with_context(|| format!("cannot write {}", THERMO_FILE))?;
        self.thermo_bytes += line.len() as u64;
        Ok(())
    }

    /// Writes a trajectory frame of `system` wrapped into the cell (a copy: between neighbour rebuilds the
    /// integrated positions may stray up to half the skin outside; images are adjusted so the unwrapped
    /// positions are unchanged).
    fn frame(&mut self, row: &ThermoRow, system: &System) -> anyhow::Result<()> {
        let mut wrapped = system.clone();
        wrapped.wrap();
        let system = &wrapped;
        if let Some(writer) = &mut self.h5md {
            let observables = Observables {
                potential_energy: row.potential_energy,
                kinetic_energy: row.kinetic_energy,
                total_energy: row.total_energy,
                temperature: row.temperature_k,
                pressure: row.pressure_bar,
            };
            writer.write_frame(row.step, row.time_fs, system, &observables)?;
        }
        if let Some((file, bytes)) = &mut self.extxyz {
            let extras = FrameExtras {
                energy: Some(row.potential_energy),
                velocities: true,
                images: true,
                info: vec![("step".into(), row.step.to_string()), ("time_fs".into(), format!("{:?}", row.time_fs))],
                ..Default::default()
            };
            let text = format_frame(system, &extras);
            file.write_all(text.as_bytes()).with_context(|| format!("cannot write {EXTXYZ_FILE}"))?;
            file.flush()?;
            *bytes += text.len() as u64;
        }
        Ok(())
    }

    fn checkpoint(&mut self, state: &State, system: &System, total_steps: u64, timestep_fs: f64) -> anyhow::Result<()> {
        let checkpoint = Checkpoint {
            format: CHECKPOINT_FORMAT.into(),
            step: state.step,
            total_steps,
            timestep_fs,
            system: SystemState::from_system(system),
            neighbor_reference_positions: state.neighbor_reference.iter().map(|r| [r.x, r.y, r.z]).collect(),
            neighbor_reference_cell: (state.neighbor_reference_cell != system.cell).then(|| {
                let m = state.neighbor_reference_cell.matrix();
                [0, 1, 2].map(|r| [m[(r, 0)], m[(r, 1)], m[(r, 2)]])
            }),
            thermostat: state.thermostat.clone(),
            barostat: state.barostat.clone(),
            rng: state.rng.clone(),
            accumulators: state.accumulators.clone(),
            outputs: OutputPositions {
                thermo_csv_bytes: self.thermo_bytes,
                extxyz_bytes: self.extxyz.as_ref().map_or(0, |(_, bytes)| *bytes),
                h5md_frames: self.h5md.as_ref().map_or(0, |w| w.frames()),
            },
        };
        checkpoint.write(&self.dir.join(CHECKPOINT_FILE))?;
        self.last_checkpoint = Some(state.step);
        Ok(())
    }

    fn last_checkpoint_note(&self) -> String {
        match self.last_checkpoint {
            Some(step) => {
                format!("the last good checkpoint is {} (step {step})", self.dir.join(CHECKPOINT_FILE).display())
            }
            None => "no checkpoint was written in this run".to_string(),
        }
    }

    fn files(&self) -> Vec<String> {
        let mut files = vec![THERMO_FILE.to_string()];
        if self.h5md.is_some() {
            files.push(H5MD_FILE.into());
        }
        if self.extxyz.is_some() {
            files.push(EXTXYZ_FILE.into());
        }
        if self.last_checkpoint.is_some() {
            files.push(CHECKPOINT_FILE.into());
        }
        files
    }
}

/// Thermo table and progress bar on the terminal.
struct Screen {
    progress: Progress,
    header_printed: bool,
    with_extrapolations: bool,
}

impl Screen {
    fn new(quiet: bool, total: u64, with_extrapolations: bool) -> Screen {
        let progress = Progress::new(quiet, total, "{bar:40} {pos}/{len} steps  {per_sec}  eta {eta}");
        Screen { progress, header_printed: false, with_extrapolations }
    }

    fn print(&mut self, row: &ThermoRow) {
        if self.progress.is_quiet() {
            return;
        }
        self.with_extrapolations |= row.extrapolations > 0;
        if !self.header_printed {
            self.progress.println(ThermoRow::table_header(self.with_extrapolations));
            self.header_printed = true;
        }
        self.progress.println(row.table_line(self.with_extrapolations));
    }
}

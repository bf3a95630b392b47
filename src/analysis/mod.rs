//! Trajectory analysis: MSD by FFT, tracer diffusion with an honest uncertainty, Nernst–Einstein conductivity,
//! Arrhenius fits over temperatures, partial RDFs with coordination numbers, and VACF/VDOS.
//!
//! The `kind = "analyze"` stage ([`AnalyzeSettings`]) reads one or several finished trajectories (H5MD, extended
//! XYZ, anything chemfiles reads), writes CSV tables and SVG plots, and returns an [`AnalysisReport`] for
//! `summary.json`. Every key and file is documented in `docs/analysis.md`.

pub mod arrhenius;
pub mod diffusion;
pub mod msd;
pub mod rdf;
pub mod trajectory;
pub mod vdos;

use crate::input::{join, positive, InvalidValue};
use crate::plot::{Plot, Series, Style, PALETTE};
use crate::system::elements;
use anyhow::Context;
use arrhenius::{fit_arrhenius, ArrheniusFit, ArrheniusPoint};
use diffusion::{fit_diffusion, fit_lags, nernst_einstein_s_per_cm, DiffusionFit, FitInput};
use nalgebra::Vector3;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use trajectory::{open_trajectory, ReadOptions, TrajectoryData, UnwrapMethod};

/// One trajectory to analyse.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrajectoryInput {
    /// Trajectory file, relative to the input file's directory.
    pub path: PathBuf,
    /// Temperature of the run (K): needed for conductivity and Arrhenius fits. Default: the mean of the
    /// recorded temperature in an H5MD file; otherwise none.
    pub temperature_k: Option<f64>,
    /// Time between frames (fs), for files without times (LAMMPS dumps, XYZ without `time_fs`).
    pub frame_interval_fs: Option<f64>,
    /// Element of the carriers of a kMC trajectory (`*.csv`, which stores no species); default "Li".
    pub carrier_species: Option<String>,
}

/// Pair distribution settings (`[stage.rdf]`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RdfSettings {
    /// Compute g(r) (default true).
    pub enabled: bool,
    /// Largest distance (Å), default 6.
    pub r_max_a: f64,
    /// Bin width (Å), default 0.02.
    pub bin_width_a: f64,
    /// At most this many frames, evenly spaced over the trajectory, default 50.
    pub max_frames: usize,
    /// Coordination cutoff (Å) for every pair; default: each pair's first minimum of g(r).
    pub coordination_cutoff_a: Option<f64>,
    /// Coordination cutoffs (Å) of given pairs, e.g. { "Li-O" = 2.6 } (applies to Li–O and O–Li); these take
    /// precedence over `coordination_cutoff_a`.
    pub coordination_cutoffs_a: BTreeMap<String, f64>,
}

impl Default for RdfSettings {
    fn default() -> Self {
        RdfSettings {
            enabled: true,
            r_max_a: 6.0,
            bin_width_a: 0.02,
            max_frames: 50,
            coordination_cutoff_a: None,
            coordination_cutoffs_a: BTreeMap::new(),
        }
    }
}

/// VACF/VDOS settings (`[stage.vdos]`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VdosSettings {
    /// Compute VACF and VDOS (default true). Without recorded velocities, velocities are central
    /// differences of the unwrapped positions.
    pub enabled: bool,
    /// Longest correlation time (ps); default a quarter of the trajectory. Frequency resolution ≈ 1/max_lag.
    pub max_lag_ps: Option<f64>,
}

impl Default for VdosSettings {
    fn default() -> Self {
        VdosSettings { enabled: true, max_lag_ps: None }
    }
}

fn default_remove_drift() -> String {
    "none".into()
}
fn default_stride() -> usize {
    1
}
fn default_fit_points() -> usize {
    40
}
fn default_memory_budget_mb() -> f64 {
    1024.0
}

/// Settings of a `kind = "analyze"` stage.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeSettings {
    /// Trajectories to analyse. Default (empty): the trajectory of the current run, given by the runner.
    #[serde(default)]
    pub trajectories: Vec<TrajectoryInput>,
    /// Species (element symbols) whose MSD and D are reported. Default: every species present.
    #[serde(default)]
    pub species: Vec<String>,
    /// Unwrapping: "auto" (default), "images" or "minimum_image".
    #[serde(default)]
    pub unwrap: UnwrapMethod,
    /// Centre-of-mass drift removed from every position before the MSD: "none" (default), "system" (all
    /// atoms) or an element symbol (that species' centre of mass, e.g. the framework "O").
    #[serde(default = "default_remove_drift")]
    pub remove_drift: String,
    /// Time dropped from the start of every trajectory (ps), default 0.
    #[serde(default)]
    pub skip_ps: f64,
    /// Use every stride-th frame, default 1.
    #[serde(default = "default_stride")]
    pub stride: usize,
    /// Start of the diffusion fit window (ps); default 10 % of the trajectory duration.
    pub fit_start_ps: Option<f64>,
    /// End of the diffusion fit window (ps); default 50 % of the trajectory duration.
    pub fit_end_ps: Option<f64>,
    /// Number of MSD points in the generalised least-squares fit, default 40.
    #[serde(default = "default_fit_points")]
    pub fit_points: usize,
    /// Ionic charges (e) by element, e.g. { Li = 1.0 }: enables Nernst–Einstein conductivities.
    #[serde(default)]
    pub charges: BTreeMap<String, f64>,
    /// Temperature (K) at which Arrhenius fits are extrapolated (e.g. 300).
    pub extrapolate_to_k: Option<f64>,
    /// Memory budget (MB), default 1024: an H5MD trajectory whose positions and velocities exceed half of it is
    /// read block by block of atoms; what the trajectory leaves sets how many atoms are loaded and transformed
    /// at once.
    #[serde(default = "default_memory_budget_mb")]
    pub memory_budget_mb: f64,
    #[serde(default)]
    pub rdf: RdfSettings,
    #[serde(default)]
    pub vdos: VdosSettings,
}

/// Whose centre of mass is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriftReference {
    None,
    System,
    Species(u8),
}

impl TrajectoryInput {
    /// Checks the path, the optional temperature, frame interval and carrier under `prefix`.
    fn validate(&self, prefix: &str) -> Result<(), InvalidValue> {
        if self.path.as_os_str().is_empty() {
            return Err(InvalidValue::new(join(prefix, "path"), "\"\"", "a trajectory file name"));
        }
        if let Some(v) = self.temperature_k {
            positive(prefix, "temperature_k", v)?;
        }
        if let Some(v) = self.frame_interval_fs {
            positive(prefix, "frame_interval_fs", v)?;
        }
        if let Some(symbol) = &self.carrier_species {
            if elements::atomic_number(symbol).is_none() {
                return Err(InvalidValue::new(join(prefix, "carrier_species"), symbol, "an element symbol"));
            }
        }
        Ok(())
    }
}

/// Most histogram bins of g(r): a million bins of one pair of species are 8 MB per frame being counted.
const MAX_RDF_BINS: f64 = 1e6;

impl RdfSettings {
    /// Checks the histogram and the coordination cutoffs (within (bin_width_a, r_max_a]) under `rdf`.
    fn validate(&self, rdf: &str) -> Result<(), InvalidValue> {
        positive(rdf, "r_max_a", self.r_max_a)?;
        positive(rdf, "bin_width_a", self.bin_width_a)?;
        if self.bin_width_a >= self.r_max_a {
            return Err(InvalidValue::new(join(rdf, "bin_width_a"), self.bin_width_a, "a width below r_max_a"));
        }
        if self.r_max_a / self.bin_width_a > MAX_RDF_BINS {
            let expected =
                format!("a width of at least r_max_a / {MAX_RDF_BINS:.0} = {:.3e} Å", self.r_max_a / MAX_RDF_BINS);
            return Err(InvalidValue::new(join(rdf, "bin_width_a"), self.bin_width_a, expected));
        }
        if self.max_frames == 0 {
            return Err(InvalidValue::new(join(rdf, "max_frames"), 0, "an integer ≥ 1"));
        }
        if let Some(rc) = self.coordination_cutoff_a {
            crate::input::in_range(rdf, "coordination_cutoff_a", rc, self.bin_width_a, self.r_max_a)?;
        }
        for (pair, &rc) in &self.coordination_cutoffs_a {
            if parse_pair(pair).is_none() {
                return Err(InvalidValue::new(
                    join(rdf, "coordination_cutoffs_a"),
                    format!("\"{pair}\""),
                    "keys of the form \"Li-O\" (two element symbols)",
                ));
            }
            let key = join(rdf, &format!("coordination_cutoffs_a.\"{pair}\""));
            crate::input::in_range(&key, "", rc, self.bin_width_a, self.r_max_a)
                .map_err(|e| InvalidValue::new(key.clone(), e.value, e.expected))?;
        }
        Ok(())
    }
}

impl AnalyzeSettings {
    /// Checks every value; `key` is the stage prefix, e.g. `stage[3]`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        for (k, t) in self.trajectories.iter().enumerate() {
            t.validate(&join(key, &format!("trajectories[{k}]")))?;
        }
        for (k, s) in self.species.iter().enumerate() {
            if elements::atomic_number(s).is_none() {
                return Err(InvalidValue::new(join(key, &format!("species[{k}]")), s, "an element symbol"));
            }
        }
        self.drift_reference().map_err(|_| {
            InvalidValue::new(
                join(key, "remove_drift"),
                &self.remove_drift,
                "\"none\", \"system\" or an element symbol",
            )
        })?;
        crate::input::non_negative(key, "skip_ps", self.skip_ps)?;
        if self.stride == 0 {
            return Err(InvalidValue::new(join(key, "stride"), 0, "an integer ≥ 1"));
        }
        if let Some(v) = self.fit_start_ps {
            crate::input::non_negative(key, "fit_start_ps", v)?;
        }
        if let Some(v) = self.fit_end_ps {
            positive(key, "fit_end_ps", v)?;
            if v <= self.fit_start_ps.unwrap_or(0.0) {
                return Err(InvalidValue::new(join(key, "fit_end_ps"), v, "a time after fit_start_ps"));
            }
        }
        if self.fit_points < 3 {
            return Err(InvalidValue::new(join(key, "fit_points"), self.fit_points, "an integer ≥ 3"));
        }
        for (symbol, &charge) in &self.charges {
            if elements::atomic_number(symbol).is_none() {
                return Err(InvalidValue::new(join(key, "charges"), symbol, "element symbols as keys"));
            }
            if !charge.is_finite() {
                return Err(InvalidValue::new(join(key, &format!("charges.{symbol}")), charge, "a finite charge (e)"));
            }
        }
        if let Some(t) = self.extrapolate_to_k {
            positive(key, "extrapolate_to_k", t)?;
        }
        positive(key, "memory_budget_mb", self.memory_budget_mb)?;
        self.rdf.validate(&join(key, "rdf"))?;
        if let Some(v) = self.vdos.max_lag_ps {
            positive(&join(key, "vdos"), "max_lag_ps", v)?;
        }
        Ok(())
    }

    /// The parsed `remove_drift` value.
    pub fn drift_reference(&self) -> Result<DriftReference, String> {
        match self.remove_drift.as_str() {
            "none" => Ok(DriftReference::None),
            "system" => Ok(DriftReference::System),
            symbol => elements::atomic_number(symbol).map(DriftReference::Species).ok_or_else(|| symbol.to_string()),
        }
    }

    /// Runs the analysis. Relative trajectory paths are resolved against `input_dir`; with no
    /// `trajectories` listed, `default_trajectory` (the current run's trajectory) is analysed.
    /// With one trajectory, files go into `output_dir`; with several, into `output_dir/trajectory_<k>/`,
    /// and Arrhenius tables and plots into `output_dir`.
    pub fn run(
        &self,
        input_dir: &Path,
        default_trajectory: Option<&Path>,
        output_dir: &Path,
    ) -> anyhow::Result<AnalysisReport> {
        let inputs: Vec<TrajectoryInput> = if self.trajectories.is_empty() {
            let path = default_trajectory
                .context("analyze: no `trajectories` listed and no trajectory from an earlier stage to analyse")?;
            vec![TrajectoryInput {
                path: path.to_path_buf(),
                temperature_k: None,
                frame_interval_fs: None,
                carrier_species: None,
            }]
        } else {
            self.trajectories.clone()
        };
        crate::io::create_output_dir(output_dir)?;
        let mut report = AnalysisReport::default();
        for (k, input) in inputs.iter().enumerate() {
            let path = if input.path.is_absolute() { input.path.clone() } else { input_dir.join(&input.path) };
            let dir =
                if inputs.len() == 1 { output_dir.to_path_buf() } else { output_dir.join(format!("trajectory_{k}")) };
            crate::io::create_output_dir(&dir)?;
            let options = ReadOptions {
                unwrap: self.unwrap,
                frame_interval_fs: input.frame_interval_fs,
                stride: self.stride,
                skip_fs: self.skip_ps * 1e3,
                carrier_species: match input.carrier_species.as_deref() {
                    Some(symbol) => Some(elements::atomic_number(symbol).with_context(|| {
                        format!("trajectories[{k}].carrier_species = {symbol}: not an element symbol")
                    })?),
                    None => None,
                },
            };
            let trajectory = open_trajectory(&path, &options, self.budget_bytes())?;
            let temperature = input.temperature_k.or(trajectory.recorded_temperature_k());
            let result = self
                .analyze(trajectory.as_ref(), temperature, &dir, &mut report.notes)
                .with_context(|| format!("analysing {}", path.display()))?;
            report.trajectories.push(result);
        }
        self.arrhenius(&mut report, output_dir)?;
        write_text(&output_dir.join("analysis.json"), &serde_json::to_string_pretty(&report)?)?;
        Ok(report)
    }

    fn budget_bytes(&self) -> usize {
        (self.memory_budget_mb * 1e6) as usize
    }

    /// Analyses one trajectory, writing its files into `dir`.
    pub fn analyze(
        &self,
        trajectory: &dyn TrajectoryData,
        temperature_k: Option<f64>,
        dir: &Path,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<TrajectoryReport> {
        let source = trajectory.source().display().to_string();
        let species = self.species_to_analyze(trajectory, &source)?;
        let reference = self.checked_drift_reference(trajectory, &source)?;
        // What the loaded trajectory leaves of the budget goes to blocks (at least a quarter of it).
        let free = self.budget_bytes().saturating_sub(trajectory.resident_bytes()).max(self.budget_bytes() / 4);
        let layout = BlockLayout::for_budget(free, trajectory.n_frames());
        let context = DiffusionContext {
            trajectory,
            drift: drift_series(trajectory, reference, &layout)?,
            layout,
            lags: self.fit_lags(trajectory, &source)?,
            source,
        };
        let mut msd_columns = Vec::new();
        let mut diffusion = Vec::new();
        for &z in &species {
            let (msd, fitted) = self.species_diffusion(&context, z, temperature_k, notes)?;
            msd_columns.push(msd);
            diffusion.extend(fitted);
        }
        let collective = self.collective_transport(&context, &diffusion, temperature_k, notes)?;
        let lags = log_spaced_lags(trajectory.n_frames(), 10);
        let non_gaussian = species.iter().map(|&z| non_gaussian(&context, z, &lags)).collect::<Result<Vec<_>, _>>()?;
        let mut files = Vec::new();
        write_msd(dir, trajectory, &msd_columns, &diffusion, &mut files)?;
        write_non_gaussian(dir, &non_gaussian, &mut files)?;
        let rdf = self.rdf_of(trajectory, &context.source, notes)?;
        if let Some(rdf) = &rdf {
            write_rdf(dir, rdf, &mut files)?;
        }
        let vdos = self.vdos_of(trajectory, &context.source, &layout, notes)?;
        if let Some(vdos) = &vdos {
            write_vdos(dir, vdos, &mut files)?;
        }
        Ok(TrajectoryReport {
            path: context.source.clone(),
            temperature_k,
            frames: trajectory.n_frames(),
            atoms: trajectory.n_atoms(),
            frame_interval_fs: trajectory.frame_interval_fs(),
            duration_ps: duration_ps(trajectory),
            unwrapped_with: if trajectory.unwrapped_with_images() { "images" } else { "minimum_image" }.into(),
            streamed_from_file: !trajectory.is_in_memory(),
            drift_removed: self.remove_drift.clone(),
            mean_volume_a3: trajectory.mean_volume(),
            conductivity_s_per_cm: diffusion.iter().filter_map(|d| d.conductivity_s_per_cm).reduce(|a, b| a + b),
            collective,
            diffusion,
            rdf,
            vdos,
            non_gaussian,
            files,
        })
    }

    /// The atomic numbers to analyse: `species`, each checked against the trajectory, or all of its species.
    fn species_to_analyze(&self, trajectory: &dyn TrajectoryData, source: &str) -> anyhow::Result<Vec<u8>> {
        let present = trajectory.species();
        if self.species.is_empty() {
            return Ok(present);
        }
        self.species
            .iter()
            .map(|s| {
                let z =
                    elements::atomic_number(s).ok_or_else(|| anyhow::anyhow!("species {s}: not an element symbol"))?;
                if present.contains(&z) {
                    Ok(z)
                } else {
                    anyhow::bail!("species {s} is not in the trajectory {source}")
                }
            })
            .collect()
    }

    /// `remove_drift` as a reference, checked to name atoms of this trajectory.
    fn checked_drift_reference(&self, trajectory: &dyn TrajectoryData, source: &str) -> anyhow::Result<DriftReference> {
        let reference = self.drift_reference().map_err(|s| anyhow::anyhow!("remove_drift = {s}: unknown"))?;
        if let DriftReference::Species(z) = reference {
            if trajectory.atoms_of(z).is_empty() {
                anyhow::bail!("remove_drift = {}: no such atoms in {source}", self.remove_drift);
            }
        }
        Ok(reference)
    }

    /// The lags (in frames) of the fit window `fit_start_ps`–`fit_end_ps` (default 10–50 % of the duration),
    /// at most `fit_points` of them and at least 3.
    fn fit_lags(&self, trajectory: &dyn TrajectoryData, source: &str) -> anyhow::Result<Vec<usize>> {
        let dt_fs = trajectory.frame_interval_fs();
        let duration_ps = duration_ps(trajectory);
        let start_ps = self.fit_start_ps.unwrap_or(0.1 * duration_ps);
        let end_ps = self.fit_end_ps.unwrap_or(0.5 * duration_ps);
        if end_ps > duration_ps {
            anyhow::bail!("fit_end_ps = {end_ps} exceeds the duration {duration_ps} ps of {source}");
        }
        let first = (start_ps * 1e3 / dt_fs).ceil() as usize;
        let last = ((end_ps * 1e3 / dt_fs).floor() as usize).min(trajectory.n_frames() - 2);
        let lags = fit_lags(first, last, self.fit_points);
        if lags.len() < 3 {
            anyhow::bail!(
                "the fit window {start_ps}–{end_ps} ps holds {} lag(s) of {dt_fs} fs; at least 3 are needed \
                 (widen fit_start_ps/fit_end_ps)",
                lags.len()
            );
        }
        Ok(lags)
    }

    /// The MSD of species `z` (total and along x, y, z) and, when the fit succeeds, its diffusion report; a
    /// failed or non-diffusive fit is explained in `notes`.
    fn species_diffusion(
        &self,
        context: &DiffusionContext,
        z: u8,
        temperature_k: Option<f64>,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<(SpeciesMsd, Option<SpeciesDiffusion>)> {
        let DiffusionContext { trajectory, source, .. } = context;
        let atoms = trajectory.atoms_of(z);
        let symbol = elements::symbol(z);
        let drift = context.drift.as_deref();
        let by_direction = species_msd_by_direction(*trajectory, &atoms, drift, &context.layout)?;
        let msd: Vec<f64> = (0..trajectory.n_frames()).map(|m| by_direction.iter().map(|d| d[m]).sum()).collect();
        let variances = all_displacement_variances(*trajectory, &atoms, drift, &context.lags, &context.layout)?;
        let fit = context.fit(&msd, &variances[0], atoms.len(), 3);
        let columns = (symbol.to_string(), msd, by_direction);
        let fit = match fit {
            Ok(fit) => fit,
            Err(e) => {
                notes.push(format!("{source}: no D for {symbol}: {e}"));
                return Ok((columns, None));
            }
        };
        if let Some(reason) = fit.non_diffusive_reason() {
            notes.push(format!("{source}: D({symbol}) is not from the diffusive regime: {reason}"));
        }
        let mut directional = Vec::new();
        for (k, axis) in ["x", "y", "z"].iter().enumerate() {
            match context.fit(&columns.2[k], &variances[k + 1], atoms.len(), 1) {
                Ok(f) => directional.push(DirectionalDiffusion {
                    direction: axis.to_string(),
                    d_a2_per_ps: f.d_a2_per_ps,
                    d_sigma_a2_per_ps: f.d_sigma_a2_per_ps,
                }),
                Err(e) => notes.push(format!("{source}: no D along {axis} for {symbol}: {e}")),
            }
        }
        let conductivity = self.conductivity(context, symbol, atoms.len(), fit.d_a2_per_ps, temperature_k, notes);
        let report = SpeciesDiffusion {
            species: symbol.to_string(),
            atoms: atoms.len(),
            fit,
            directional,
            conductivity_s_per_cm: conductivity,
        };
        Ok((columns, Some(report)))
    }

    /// The conductivity from the charge MSD of every analysed species with a charge, and the Haven ratio against
    /// their Nernst–Einstein sum; `None` (with a note when the fit fails) without charges, volume or temperature.
    fn collective_transport(
        &self,
        context: &DiffusionContext,
        diffusion: &[SpeciesDiffusion],
        temperature_k: Option<f64>,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Option<CollectiveTransport>> {
        let charged: Vec<(&SpeciesDiffusion, f64)> =
            diffusion.iter().filter_map(|d| Some((d, *self.charges.get(&d.species)?))).collect();
        let (Some(t), Some(volume)) = (temperature_k, context.trajectory.mean_volume()) else {
            return Ok(None);
        };
        if charged.is_empty() || charged.iter().any(|(d, _)| d.conductivity_s_per_cm.is_none()) {
            return Ok(None);
        }
        let groups: Vec<(Vec<usize>, f64)> = charged
            .iter()
            .map(|(d, q)| (context.trajectory.atoms_of(elements::atomic_number(&d.species).expect("analysed")), *q))
            .collect();
        let series = charge_displacement(context, &groups)?;
        let msd = msd::msd_sums(series.len(), 1, 1, |_| series.clone());
        // A sum over many ions is Gaussian: Var(Δ²) = (2/3)⟨Δ²⟩², rather than the variance of one series over
        // its few independent windows, which is biased low and made σ(D_q) too small (rms z 1.6 on random walks).
        let variance: Vec<f64> = context.lags.iter().map(|&m| 2.0 / 3.0 * msd[m] * msd[m]).collect();
        let fit = match context.fit(&msd, &variance, 1, 3) {
            Ok(fit) => fit,
            Err(e) => {
                notes.push(format!("{}: no conductivity from the charge MSD: {e}", context.source));
                return Ok(None);
            }
        };
        let sigma_of = |d: f64| nernst_einstein_s_per_cm(1, 1.0, volume, d, t);
        let (conductivity, conductivity_sigma) = (sigma_of(fit.d_a2_per_ps), sigma_of(fit.d_sigma_a2_per_ps));
        let ne = |d: &SpeciesDiffusion, q: f64, value: f64| nernst_einstein_s_per_cm(d.atoms, q, volume, value, t);
        let nernst_einstein: f64 = charged.iter().map(|(d, q)| ne(d, *q, d.fit.d_a2_per_ps)).sum();
        let nernst_einstein_sigma =
            charged.iter().map(|(d, q)| ne(d, *q, d.fit.d_sigma_a2_per_ps).powi(2)).sum::<f64>().sqrt();
        let haven_ratio = nernst_einstein / conductivity;
        let relative = (nernst_einstein_sigma / nernst_einstein).hypot(conductivity_sigma / conductivity);
        Ok(Some(CollectiveTransport {
            fit,
            conductivity_s_per_cm: conductivity,
            conductivity_sigma_s_per_cm: conductivity_sigma,
            nernst_einstein_s_per_cm: nernst_einstein,
            nernst_einstein_sigma_s_per_cm: nernst_einstein_sigma,
            haven_ratio,
            haven_ratio_sigma: haven_ratio.abs() * relative,
        }))
    }

    /// Nernst–Einstein conductivity (S/cm) of a species with a charge in `charges`, when the temperature and the
    /// volume are known (otherwise a note says which is missing).
    fn conductivity(
        &self,
        context: &DiffusionContext,
        symbol: &str,
        atoms: usize,
        d_a2_per_ps: f64,
        temperature_k: Option<f64>,
        notes: &mut Vec<String>,
    ) -> Option<f64> {
        let source = &context.source;
        match (self.charges.get(symbol), temperature_k, context.trajectory.mean_volume()) {
            (Some(&q), Some(t), Some(v)) => Some(nernst_einstein_s_per_cm(atoms, q, v, d_a2_per_ps, t)),
            (Some(_), None, _) => {
                notes.push(format!("{source}: no temperature, so no conductivity for {symbol}"));
                None
            }
            (Some(_), _, None) => {
                notes.push(format!("{source}: not periodic (no volume), so no conductivity for {symbol}"));
                None
            }
            _ => None,
        }
    }

    /// Partial g(r) and coordination numbers over at most `rdf.max_frames` evenly spaced frames, when enabled
    /// and the trajectory is periodic.
    fn rdf_of(
        &self,
        trajectory: &dyn TrajectoryData,
        source: &str,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Option<rdf::Rdf>> {
        if !self.rdf.enabled {
            return Ok(None);
        }
        if trajectory.mean_volume().is_none() {
            notes.push(format!("{source}: not periodic, g(r) skipped"));
            return Ok(None);
        }
        let n = trajectory.n_frames();
        let count = self.rdf.max_frames.min(n);
        let frames = (0..count)
            .map(|k| trajectory.frame_system(k * (n - 1) / (count - 1).max(1)))
            .collect::<Result<Vec<_>, _>>()?;
        let pairs: Vec<((u8, u8), f64)> = self
            .rdf
            .coordination_cutoffs_a
            .iter()
            .filter_map(|(pair, &rc)| parse_pair(pair).map(|p| (p, rc)))
            .collect();
        let cutoff = |a: u8, b: u8| {
            pairs
                .iter()
                .find(|((x, y), _)| (*x, *y) == (a, b) || (*x, *y) == (b, a))
                .map(|(_, rc)| *rc)
                .or(self.rdf.coordination_cutoff_a)
        };
        let rdf = rdf::compute_rdf(&frames, self.rdf.r_max_a, self.rdf.bin_width_a, cutoff)
            .map_err(|e| anyhow::anyhow!(e))?;
        Ok(Some(rdf))
    }

    /// VACF and VDOS up to `vdos.max_lag_ps` (default a quarter of the trajectory), when enabled; a trajectory
    /// without velocities is noted and skipped.
    fn vdos_of(
        &self,
        trajectory: &dyn TrajectoryData,
        source: &str,
        layout: &BlockLayout,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Option<vdos::Vdos>> {
        if !self.vdos.enabled {
            return Ok(None);
        }
        let n = trajectory.n_frames();
        let dt_fs = trajectory.frame_interval_fs();
        let max_lag = self.vdos.max_lag_ps.map_or(n / 4, |ps| (ps * 1e3 / dt_fs).round() as usize);
        if max_lag >= n {
            anyhow::bail!(
                "vdos.max_lag_ps = {} is not shorter than the trajectory ({} ps)",
                self.vdos.max_lag_ps.unwrap_or(0.0),
                duration_ps(trajectory)
            );
        }
        match vdos::compute_vdos(trajectory, max_lag, layout.load_atoms, layout.fft_block) {
            Ok(vdos) => Ok(Some(vdos)),
            Err(e) => {
                notes.push(format!("{source}: VDOS skipped: {e}"));
                Ok(None)
            }
        }
    }

    fn arrhenius(&self, report: &mut AnalysisReport, output_dir: &Path) -> anyhow::Result<()> {
        if report.trajectories.len() < 2 {
            return Ok(());
        }
        let mut table = String::from("species,temperature_k,d_a2_per_ps,d_sigma_a2_per_ps\n");
        let mut by_species: BTreeMap<String, Vec<ArrheniusPoint>> = BTreeMap::new();
        for t in &report.trajectories {
            let Some(temperature_k) = t.temperature_k else {
                report.notes.push(format!("{}: no temperature, left out of the Arrhenius fit", t.path));
                continue;
            };
            for d in &t.diffusion {
                writeln!(
                    table,
                    "{},{},{:e},{:e}",
                    d.species, temperature_k, d.fit.d_a2_per_ps, d.fit.d_sigma_a2_per_ps
                )?;
                if d.fit.d_a2_per_ps > 0.0 {
                    by_species.entry(d.species.clone()).or_default().push(ArrheniusPoint {
                        temperature_k,
                        value: d.fit.d_a2_per_ps,
                        sigma: d.fit.d_sigma_a2_per_ps,
                    });
                } else {
                    report.notes.push(format!(
                        "{}: D({}) ≤ 0 at {temperature_k} K, left out of the Arrhenius fit",
                        t.path, d.species
                    ));
                }
            }
        }
        write_text(&output_dir.join("arrhenius_points.csv"), &table)?;
        let mut fits = String::from(
            "species,activation_energy_ev,activation_energy_sigma_ev,prefactor_a2_per_ps,prefactor_sigma_a2_per_ps,chi2_per_dof\n",
        );
        for (species, points) in by_species {
            let fit = match fit_arrhenius(&points) {
                Ok(fit) => fit,
                Err(e) => {
                    report.notes.push(format!("Arrhenius fit of {species} skipped: {e}"));
                    continue;
                }
            };
            writeln!(
                fits,
                "{species},{},{},{:e},{:e},{}",
                fit.activation_energy_ev,
                fit.activation_energy_sigma_ev,
                fit.prefactor,
                fit.prefactor_sigma,
                fit.chi2_per_dof
            )?;
            let extrapolated = self.extrapolate_to_k.map(|t| {
                let (d, sigma) = fit.predict(t);
                Extrapolation {
                    temperature_k: t,
                    d_a2_per_ps: d,
                    d_sigma_a2_per_ps: sigma,
                    d_cm2_per_s: d * crate::units::A2_PER_PS_IN_CM2_PER_S,
                }
            });
            write_text(&output_dir.join(format!("arrhenius_{species}.svg")), &arrhenius_plot(&species, &fit))?;
            report.arrhenius.push(SpeciesArrhenius { species, fit, extrapolated });
        }
        write_text(&output_dir.join("arrhenius.csv"), &fits)?;
        Ok(())
    }
}

/// Parses a species pair key "Li-O" into atomic numbers.
fn parse_pair(pair: &str) -> Option<(u8, u8)> {
    let (a, b) = pair.split_once('-')?;
    Some((elements::atomic_number(a.trim())?, elements::atomic_number(b.trim())?))
}

/// How many atoms are loaded at once and how many are Fourier-transformed together, from a memory budget:
/// half of it for loaded position series (24 B per atom and frame), half for the FFT working sets of up to 16
/// parallel blocks (per atom: its series, three centred components and a share of the complex buffers).
#[derive(Clone, Copy, Debug)]
pub struct BlockLayout {
    pub load_atoms: usize,
    pub fft_block: usize,
}

impl BlockLayout {
    pub fn for_budget(budget_bytes: usize, frames: usize) -> BlockLayout {
        let load_atoms = (budget_bytes / 2 / (24 * frames.max(1))).max(1);
        let per_atom = 48 * frames + 2 * 16 * msd::fft_length(2 * frames) / 3;
        // Sized for up to 16 blocks in flight, not for the actual thread count: the blocks fix the order of the
        // floating-point sums, so results stay bitwise identical whatever the number of threads.
        let fft_block = (budget_bytes / 2 / (per_atom * 16)).clamp(1, 64);
        BlockLayout { load_atoms, fft_block }
    }
}

/// The per-frame centre-of-mass displacement COM(t) − COM(0) of the reference atoms (None for no correction).
pub fn drift_series(
    trajectory: &dyn TrajectoryData,
    reference: DriftReference,
    layout: &BlockLayout,
) -> Result<Option<Vec<Vector3<f64>>>, crate::io::IoError> {
    let atoms: Vec<usize> = match reference {
        DriftReference::None => return Ok(None),
        DriftReference::System => (0..trajectory.n_atoms()).collect(),
        DriftReference::Species(z) => trajectory.atoms_of(z),
    };
    let masses = trajectory.masses();
    let total: f64 = atoms.iter().map(|&i| masses[i]).sum();
    let mut com = vec![Vector3::zeros(); trajectory.n_frames()];
    for chunk in atoms.chunks(layout.load_atoms) {
        let block = trajectory.position_block(chunk)?;
        for (series, &i) in block.iter().zip(chunk) {
            for (c, r) in com.iter_mut().zip(series) {
                *c += r * (masses[i] / total);
            }
        }
    }
    let origin = com[0];
    Ok(Some(com.iter().map(|c| c - origin).collect()))
}

/// Loads the unwrapped, drift-corrected position series of `atoms`.
fn corrected_block(
    trajectory: &dyn TrajectoryData,
    atoms: &[usize],
    drift: Option<&[Vector3<f64>]>,
) -> Result<Vec<Vec<Vector3<f64>>>, crate::io::IoError> {
    let mut block = trajectory.position_block(atoms)?;
    if let Some(drift) = drift {
        for series in block.iter_mut() {
            for (r, d) in series.iter_mut().zip(drift) {
                *r -= d;
            }
        }
    }
    Ok(block)
}

/// MSD(m) of `atoms` averaged over atoms and all time origins (Å²), m = 0..N−1, by FFT, loading
/// `layout.load_atoms` atoms at a time.
pub fn species_msd(
    trajectory: &dyn TrajectoryData,
    atoms: &[usize],
    drift: Option<&[Vector3<f64>]>,
    layout: &BlockLayout,
) -> Result<Vec<f64>, crate::io::IoError> {
    let [x, y, z] = species_msd_by_direction(trajectory, atoms, drift, layout)?;
    Ok((0..x.len()).map(|m| x[m] + y[m] + z[m]).collect())
}

/// The one-dimensional MSDs along x, y and z of `atoms`, averaged over atoms and all origins (Å²).
pub fn species_msd_by_direction(
    trajectory: &dyn TrajectoryData,
    atoms: &[usize],
    drift: Option<&[Vector3<f64>]>,
    layout: &BlockLayout,
) -> Result<[Vec<f64>; 3], crate::io::IoError> {
    let n = trajectory.n_frames();
    let mut total: [Vec<f64>; 3] = [vec![0.0; n], vec![0.0; n], vec![0.0; n]];
    for chunk in atoms.chunks(layout.load_atoms) {
        let block = corrected_block(trajectory, chunk, drift)?;
        let sums = msd::msd_sums_by_direction(n, chunk.len(), layout.fft_block, |a| block[a].clone());
        for k in 0..3 {
            for (t, s) in total[k].iter_mut().zip(&sums[k]) {
                *t += s;
            }
        }
    }
    Ok(total.map(|d| d.iter().map(|s| s / atoms.len() as f64).collect()))
}

/// Variance of one squared displacement, V(m) = ⟨Δr⁴(m)⟩ − ⟨Δr²(m)⟩², over `atoms` and up to 256 evenly spaced
/// origins per lag (direct sums; parallel over lags, deterministic).
pub fn displacement_variances(
    trajectory: &dyn TrajectoryData,
    atoms: &[usize],
    drift: Option<&[Vector3<f64>]>,
    lags: &[usize],
    layout: &BlockLayout,
) -> Result<Vec<f64>, crate::io::IoError> {
    let [total, ..] = all_displacement_variances(trajectory, atoms, drift, lags, layout)?;
    Ok(total)
}

/// V(m) for the full 3-D squared displacement and for its x, y and z parts, in that order.
fn all_displacement_variances(
    trajectory: &dyn TrajectoryData,
    atoms: &[usize],
    drift: Option<&[Vector3<f64>]>,
    lags: &[usize],
    layout: &BlockLayout,
) -> Result<[Vec<f64>; 4], crate::io::IoError> {
    let moments = displacement_moments(trajectory, atoms, drift, lags, layout)?;
    Ok(std::array::from_fn(|j| {
        moments
            .iter()
            .map(|(sums, count)| {
                let mean = sums[2 * j] / count;
                (sums[2 * j + 1] / count - mean * mean).max(0.0)
            })
            .collect()
    }))
}

/// Per lag m: the sums (Σ d², Σ d⁴) of the 3-D squared displacement and of its x, y and z parts (in that
/// order, 8 numbers) over `atoms` and up to 256 evenly spaced origins, and the number of terms.
fn displacement_moments(
    trajectory: &dyn TrajectoryData,
    atoms: &[usize],
    drift: Option<&[Vector3<f64>]>,
    lags: &[usize],
    layout: &BlockLayout,
) -> Result<Vec<([f64; 8], f64)>, crate::io::IoError> {
    let n = trajectory.n_frames();
    // Per lag: (Σ d², Σ d⁴) for the 3-D displacement and each direction, and the count.
    let mut moments = vec![([0.0; 8], 0.0); lags.len()];
    for chunk in atoms.chunks(layout.load_atoms) {
        let block = corrected_block(trajectory, chunk, drift)?;
        let partial: Vec<([f64; 8], f64)> = lags
            .par_iter()
            .map(|&m| {
                let origins = n - m;
                let step = (origins / 256).max(1);
                let mut sums = [0.0; 8];
                let mut count = 0.0;
                for series in &block {
                    for t in (0..origins).step_by(step) {
                        let d = series[t + m] - series[t];
                        let parts = [d.norm_squared(), d.x * d.x, d.y * d.y, d.z * d.z];
                        for (j, p) in parts.iter().enumerate() {
                            sums[2 * j] += p;
                            sums[2 * j + 1] += p * p;
                        }
                        count += 1.0;
                    }
                }
                (sums, count)
            })
            .collect();
        for (total, p) in moments.iter_mut().zip(partial) {
            for j in 0..8 {
                total.0[j] += p.0[j];
            }
            total.1 += p.1;
        }
    }
    Ok(moments)
}

/// The non-Gaussian parameter of species `z` at `lags` (frames): α₂ = 3⟨Δr⁴⟩ / (5⟨Δr²⟩²) − 1 (Rahman, Phys. Rev.
/// 136, A405 (1964)), zero for Gaussian displacements, positive when few atoms move far (hops between sites):
/// 3/(5Γt) for a random walk on a cubic lattice with jump rate Γ.
fn non_gaussian(context: &DiffusionContext, z: u8, lags: &[usize]) -> Result<NonGaussian, crate::io::IoError> {
    let atoms = context.trajectory.atoms_of(z);
    let moments = displacement_moments(context.trajectory, &atoms, context.drift.as_deref(), lags, &context.layout)?;
    let dt_ps = context.trajectory.frame_interval_fs() * 1e-3;
    let msd: Vec<f64> = moments.iter().map(|(sums, count)| sums[0] / count).collect();
    let alpha2: Vec<f64> = moments
        .iter()
        .map(|(sums, count)| {
            let (second, fourth) = (sums[0] / count, sums[1] / count);
            if second > 0.0 {
                3.0 * fourth / (5.0 * second * second) - 1.0
            } else {
                f64::NAN
            }
        })
        .collect();
    let times_ps: Vec<f64> = lags.iter().map(|&m| m as f64 * dt_ps).collect();
    let peak = alpha2.iter().zip(&times_ps).filter(|(a, _)| a.is_finite()).max_by(|a, b| a.0.total_cmp(b.0));
    Ok(NonGaussian {
        species: elements::symbol(z).to_string(),
        max_alpha2: peak.map(|(&a, _)| a),
        max_alpha2_time_ps: peak.map(|(_, &t)| t),
        times_ps,
        msd_a2: msd,
        alpha2,
    })
}

/// R(t) = Σ_i q_i u_i(t) over the atoms of each (atoms, charge) group, drift removed as for the MSD (e·Å).
fn charge_displacement(
    context: &DiffusionContext,
    groups: &[(Vec<usize>, f64)],
) -> Result<Vec<Vector3<f64>>, crate::io::IoError> {
    let mut total = vec![Vector3::zeros(); context.trajectory.n_frames()];
    for (atoms, charge) in groups {
        for chunk in atoms.chunks(context.layout.load_atoms) {
            for series in corrected_block(context.trajectory, chunk, context.drift.as_deref())? {
                for (sum, r) in total.iter_mut().zip(&series) {
                    *sum += r * *charge;
                }
            }
        }
    }
    Ok(total)
}

/// Lags (frames) from 1 to half the trajectory, about `per_decade` per decade, evenly spaced in log t.
fn log_spaced_lags(frames: usize, per_decade: usize) -> Vec<usize> {
    let last = (frames / 2).max(1);
    let decades = (last as f64).log10();
    let points = ((decades * per_decade as f64).ceil() as usize).max(1);
    let mut lags: Vec<usize> =
        (0..=points).map(|k| 10f64.powf(decades * k as f64 / points as f64).round() as usize).collect();
    lags.dedup();
    lags.retain(|&m| (1..frames).contains(&m));
    lags
}

/// Key numbers of a finished analysis (the stage's entry in summary.json).
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct AnalysisReport {
    pub trajectories: Vec<TrajectoryReport>,
    pub arrhenius: Vec<SpeciesArrhenius>,
    /// What was skipped and why.
    pub notes: Vec<String>,
}

/// Results of one trajectory.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct TrajectoryReport {
    pub path: String,
    pub temperature_k: Option<f64>,
    pub frames: usize,
    pub atoms: usize,
    pub frame_interval_fs: f64,
    pub duration_ps: f64,
    /// "images" or "minimum_image".
    pub unwrapped_with: String,
    /// True when the trajectory was read from the file block by block of atoms (larger than the memory budget).
    pub streamed_from_file: bool,
    pub drift_removed: String,
    pub mean_volume_a3: Option<f64>,
    pub diffusion: Vec<SpeciesDiffusion>,
    /// Sum of the Nernst–Einstein conductivities of the species with charges (S/cm).
    pub conductivity_s_per_cm: Option<f64>,
    /// Conductivity from the charge MSD and the Haven ratio, when `charges` are given (and a volume and
    /// temperature are known).
    #[serde(default)]
    pub collective: Option<CollectiveTransport>,
    pub rdf: Option<rdf::Rdf>,
    pub vdos: Option<vdos::Vdos>,
    /// α₂(t) of each analysed species.
    #[serde(default)]
    pub non_gaussian: Vec<NonGaussian>,
    /// Files written for this trajectory.
    pub files: Vec<String>,
}

/// Ionic conductivity from the collective (charge) displacement, σ = (1/(6 V k_B T)) d⟨|Σ_i q_i Δr_i|²⟩/dt,
/// and the Haven ratio H_R = σ_NE / σ (tracer over charge diffusion; 1 for uncorrelated ions).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct CollectiveTransport {
    /// The fit of ⟨|Σ q_i Δr_i|²⟩ = 6 D_q t + c (D_q in e²·Å²/ps; one "particle": the sum), by the same
    /// generalised least squares as the tracer D, with its own covariance (a single series: n = 1).
    pub fit: DiffusionFit,
    pub conductivity_s_per_cm: f64,
    pub conductivity_sigma_s_per_cm: f64,
    /// Σ of the species' Nernst–Einstein conductivities (S/cm) and its uncertainty from the tracer fits.
    pub nernst_einstein_s_per_cm: f64,
    pub nernst_einstein_sigma_s_per_cm: f64,
    /// σ_NE / σ with its uncertainty (the two relative errors added in quadrature).
    pub haven_ratio: f64,
    pub haven_ratio_sigma: f64,
}

/// The non-Gaussian parameter α₂(t) of one species at log-spaced lags (`non_gaussian.csv`/`.svg`).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct NonGaussian {
    pub species: String,
    pub times_ps: Vec<f64>,
    /// ⟨Δr²⟩ at those lags (Å²), from the same sums.
    pub msd_a2: Vec<f64>,
    pub alpha2: Vec<f64>,
    /// The largest α₂ and the lag time where it is (ps): the time scale of the hops (null without a finite α₂).
    pub max_alpha2: Option<f64>,
    pub max_alpha2_time_ps: Option<f64>,
}

/// Diffusion of one species.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct SpeciesDiffusion {
    pub species: String,
    pub atoms: usize,
    pub fit: DiffusionFit,
    /// D along x, y and z from the one-dimensional MSDs (slope/2), same window and method (anisotropy).
    pub directional: Vec<DirectionalDiffusion>,
    /// Nernst–Einstein conductivity of this species (S/cm), when its charge and the temperature are known.
    pub conductivity_s_per_cm: Option<f64>,
}

/// Diffusion coefficient along one Cartesian direction.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct DirectionalDiffusion {
    pub direction: String,
    pub d_a2_per_ps: f64,
    pub d_sigma_a2_per_ps: f64,
}

/// Arrhenius fit of one species over the analysed temperatures (D in Å²/ps).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct SpeciesArrhenius {
    pub species: String,
    pub fit: ArrheniusFit,
    pub extrapolated: Option<Extrapolation>,
}

/// D extrapolated along an Arrhenius fit.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct Extrapolation {
    pub temperature_k: f64,
    pub d_a2_per_ps: f64,
    pub d_sigma_a2_per_ps: f64,
    pub d_cm2_per_s: f64,
}

fn write_text(path: &Path, text: &str) -> anyhow::Result<()> {
    crate::io::write_atomically(path, text.as_bytes())?;
    Ok(())
}

/// Element symbol, MSD and the MSDs along x, y, z of one species.
type SpeciesMsd = (String, Vec<f64>, [Vec<f64>; 3]);

/// What the diffusion fits of every species of one trajectory share.
struct DiffusionContext<'a> {
    trajectory: &'a dyn TrajectoryData,
    /// The trajectory's path, for notes and errors.
    source: String,
    /// The reference's displacement per frame (Å), removed from every atom's; `None` with `remove_drift = "none"`.
    drift: Option<Vec<Vector3<f64>>>,
    layout: BlockLayout,
    /// Lags (frames) of the fit window.
    lags: Vec<usize>,
}

impl DiffusionContext<'_> {
    /// D from an MSD (total with `dimensions = 3`, along one axis with 1) over the fit window.
    fn fit(
        &self,
        msd: &[f64],
        displacement_variance: &[f64],
        atoms: usize,
        dimensions: usize,
    ) -> Result<DiffusionFit, String> {
        let msd_at: Vec<f64> = self.lags.iter().map(|&m| msd[m]).collect();
        fit_diffusion(&FitInput {
            lags: &self.lags,
            msd: &msd_at,
            displacement_variance,
            frames: self.trajectory.n_frames(),
            atoms,
            frame_interval_fs: self.trajectory.frame_interval_fs(),
            dimensions,
        })
    }
}

/// Time from the first to the last frame (ps).
fn duration_ps(trajectory: &dyn TrajectoryData) -> f64 {
    (trajectory.n_frames() - 1) as f64 * trajectory.frame_interval_fs() * 1e-3
}

fn write_msd(
    dir: &Path,
    trajectory: &dyn TrajectoryData,
    columns: &[SpeciesMsd],
    diffusion: &[SpeciesDiffusion],
    files: &mut Vec<String>,
) -> anyhow::Result<()> {
    let n = trajectory.n_frames();
    let dt_ps = trajectory.frame_interval_fs() * 1e-3;
    let mut csv = String::from("time_ps");
    for (symbol, _, _) in columns {
        write!(csv, ",msd_{symbol}_a2,msd_{symbol}_x_a2,msd_{symbol}_y_a2,msd_{symbol}_z_a2")?;
    }
    csv.push('\n');
    for m in 0..n {
        write!(csv, "{}", m as f64 * dt_ps)?;
        for (_, msd, by_direction) in columns {
            write!(csv, ",{:e},{:e},{:e},{:e}", msd[m], by_direction[0][m], by_direction[1][m], by_direction[2][m])?;
        }
        csv.push('\n');
    }
    write_text(&dir.join("msd.csv"), &csv)?;
    // At most ~2000 points per curve in the plot.
    let shown: Vec<usize> = (0..n).step_by((n / 2000).max(1)).collect();
    let times: Vec<f64> = shown.iter().map(|&m| m as f64 * dt_ps).collect();
    let mut plot = Plot {
        title: "Mean squared displacement".into(),
        x_label: "lag time (ps)".into(),
        y_label: "MSD (Å²)".into(),
        ..Default::default()
    };
    for (symbol, msd, _) in columns {
        plot.series.push(Series::line(symbol.clone(), times.clone(), shown.iter().map(|&m| msd[m]).collect()));
        let Some(d) = diffusion.iter().find(|d| &d.species == symbol) else {
            continue;
        };
        let (t0, t1) = (d.fit.fit_start_ps, d.fit.fit_end_ps);
        plot.series.push(Series::new(
            format!("{symbol} fit D = {:.3e} ± {:.1e} Å²/ps", d.fit.d_a2_per_ps, d.fit.d_sigma_a2_per_ps),
            vec![t0, t1],
            vec![d.fit.intercept_a2 + 6.0 * d.fit.d_a2_per_ps * t0, d.fit.intercept_a2 + 6.0 * d.fit.d_a2_per_ps * t1],
            Style::Dashed,
        ));
    }
    write_text(&dir.join("msd.svg"), &plot.to_svg())?;
    files.extend(["msd.csv".to_string(), "msd.svg".to_string()]);
    Ok(())
}

/// `non_gaussian.csv` (`time_ps`, then `msd_<X>_a2,alpha2_<X>` per species) and `non_gaussian.svg` (α₂ against
/// log t).
fn write_non_gaussian(dir: &Path, series: &[NonGaussian], files: &mut Vec<String>) -> anyhow::Result<()> {
    let Some(first) = series.first() else {
        return Ok(());
    };
    let mut csv = String::from("time_ps");
    for s in series {
        write!(csv, ",msd_{0}_a2,alpha2_{0}", s.species)?;
    }
    csv.push('\n');
    for (k, t) in first.times_ps.iter().enumerate() {
        write!(csv, "{t}")?;
        for s in series {
            write!(csv, ",{:e},{:e}", s.msd_a2[k], s.alpha2[k])?;
        }
        csv.push('\n');
    }
    write_text(&dir.join("non_gaussian.csv"), &csv)?;
    let plot = Plot {
        title: "Non-Gaussian parameter".into(),
        x_label: "lag time (ps)".into(),
        y_label: "α₂ = 3⟨Δr⁴⟩/(5⟨Δr²⟩²) − 1".into(),
        x_log: true,
        series: series
            .iter()
            .map(|s| Series::new(s.species.clone(), s.times_ps.clone(), s.alpha2.clone(), Style::LineMarkers))
            .collect(),
        ..Default::default()
    };
    write_text(&dir.join("non_gaussian.svg"), &plot.to_svg())?;
    files.extend(["non_gaussian.csv".to_string(), "non_gaussian.svg".to_string()]);
    Ok(())
}

fn write_rdf(dir: &Path, rdf: &rdf::Rdf, files: &mut Vec<String>) -> anyhow::Result<()> {
    let mut csv = String::from("r_a");
    for p in &rdf.pairs {
        write!(csv, ",g_{}_{},n_{}_{}", p.center, p.neighbor, p.center, p.neighbor)?;
    }
    csv.push('\n');
    for (k, r) in rdf.r_a.iter().enumerate() {
        write!(csv, "{r}")?;
        for p in &rdf.pairs {
            write!(csv, ",{:.6},{:.6}", p.g[k], p.running_coordination[k])?;
        }
        csv.push('\n');
    }
    write_text(&dir.join("rdf.csv"), &csv)?;
    let plot = Plot {
        title: "Radial distribution functions".into(),
        x_label: "r (Å)".into(),
        y_label: "g(r)".into(),
        // g_ab = g_ba: each unordered pair once.
        series: rdf
            .pairs
            .iter()
            .filter(|p| elements::atomic_number(&p.center) <= elements::atomic_number(&p.neighbor))
            .map(|p| Series::line(format!("{}–{}", p.center, p.neighbor), rdf.r_a.clone(), p.g.clone()))
            .collect(),
        ..Default::default()
    };
    write_text(&dir.join("rdf.svg"), &plot.to_svg())?;
    files.extend(["rdf.csv".to_string(), "rdf.svg".to_string()]);
    Ok(())
}

fn write_vdos(dir: &Path, vdos: &vdos::Vdos, files: &mut Vec<String>) -> anyhow::Result<()> {
    let mut csv = String::from("time_ps");
    for s in &vdos.species {
        write!(csv, ",vacf_{}", s.species)?;
    }
    csv.push('\n');
    for (m, t) in vdos.lag_times_ps.iter().enumerate() {
        write!(csv, "{t}")?;
        for s in &vdos.species {
            write!(csv, ",{:.6e}", s.vacf[m])?;
        }
        csv.push('\n');
    }
    write_text(&dir.join("vacf.csv"), &csv)?;
    let mut csv = String::from("frequency_thz,energy_mev,wavenumber_cm1");
    for s in &vdos.species {
        write!(csv, ",vdos_{}_per_thz", s.species)?;
    }
    csv.push('\n');
    for (k, f) in vdos.frequencies_thz.iter().enumerate() {
        write!(csv, "{f},{},{}", f * crate::units::THZ_IN_MEV, f * crate::units::THZ_IN_INVERSE_CM)?;
        for s in &vdos.species {
            write!(csv, ",{:.6e}", s.vdos[k])?;
        }
        csv.push('\n');
    }
    write_text(&dir.join("vdos.csv"), &csv)?;
    let plot = Plot {
        title: "Vibrational density of states".into(),
        x_label: "frequency (THz)".into(),
        y_label: "VDOS (1/THz)".into(),
        series: vdos
            .species
            .iter()
            .map(|s| Series::line(s.species.clone(), vdos.frequencies_thz.clone(), s.vdos.clone()))
            .collect(),
        ..Default::default()
    };
    write_text(&dir.join("vdos.svg"), &plot.to_svg())?;
    files.extend(["vacf.csv", "vdos.csv", "vdos.svg"].map(String::from));
    Ok(())
}

/// D against 1000/T with error bars and the fitted line.
fn arrhenius_plot(species: &str, fit: &ArrheniusFit) -> String {
    Plot {
        title: format!(
            "Arrhenius plot, {species}: Ea = {:.3} ± {:.3} eV",
            fit.activation_energy_ev, fit.activation_energy_sigma_ev
        ),
        x_label: "1000 / T (1/K)".into(),
        y_label: "D (Å²/ps)".into(),
        y_log: true,
        series: arrhenius::plot_series(fit, format!("D({species})"), "fit".into(), PALETTE[0]).into(),
        ..Default::default()
    }
    .to_svg()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AnalyzeSettings, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_and_validation_messages() {
        let s = parse("").unwrap();
        assert_eq!(s.remove_drift, "none");
        assert_eq!(s.fit_points, 40);
        assert!(s.rdf.enabled && s.vdos.enabled);
        assert!(s.validate("stage[1]").is_ok());
        let s = parse("species = [\"Xx\"]").unwrap();
        assert_eq!(
            s.validate("stage[1]").unwrap_err().to_string(),
            "stage[1].species[0] = Xx: expected an element symbol"
        );
        let s = parse("fit_start_ps = 5.0\nfit_end_ps = 2.0").unwrap();
        assert!(s.validate("stage[0]").unwrap_err().to_string().starts_with("stage[0].fit_end_ps = 2"));
        let s = parse("remove_drift = \"frame\"").unwrap();
        assert!(s.validate("s").unwrap_err().to_string().contains("s.remove_drift = frame"));
        let s = parse("[rdf]\ncoordination_cutoffs_a = { \"Li-Q\" = 2.5 }").unwrap();
        assert!(s.validate("s").unwrap_err().to_string().starts_with("s.rdf.coordination_cutoffs_a = \"Li-Q\""));
        let s = parse("[rdf]\ncoordination_cutoffs_a = { \"Li-O\" = 9.5 }").unwrap();
        assert_eq!(
            s.validate("s").unwrap_err().to_string(),
            "s.rdf.coordination_cutoffs_a.\"Li-O\" = 9.5: expected a number between 0.02 and 6"
        );
        let s = parse("[rdf]\nr_max_a = -1.0").unwrap();
        assert!(s.validate("s").unwrap_err().to_string().starts_with("s.rdf.r_max_a = -1"));
        let s = parse("trajectories = [{ path = \"a.h5\", temperature_k = 0.0 }]").unwrap();
        assert!(s.validate("s").unwrap_err().to_string().starts_with("s.trajectories[0].temperature_k = 0"));
        assert!(parse("misspelt_key = 1").unwrap_err().to_string().contains("misspelt_key"));
        let s = parse("remove_drift = \"O\"").unwrap();
        assert_eq!(s.drift_reference(), Ok(DriftReference::Species(8)));
    }
}

//! Training of Behler–Parrinello neural network potentials (Behler & Parrinello, Phys. Rev. Lett. 98,
//! 146401 (2007)) written in n2p2's format (Singraber et al., J. Chem. Theory Comput. 15, 1827 (2019)).
//!
//! `mdrun train TRAIN.toml` → [`TrainSettings::run`]: read labelled structures (extended XYZ or n2p2
//! `input.data`), take symmetry functions from an `input.nn` or generate a standard set, compute their
//! values and Jacobians once ([`dataset`], with the evaluator's descriptor code), scale them with the
//! training-set statistics, fit per-element networks with Adam on energies and forces ([`model`]), and
//! write `input.nn`, `scaling.data`, `weights.NNN.data` that [`NnpPotential::load`] (and n2p2) reads.
//! A committee of models from different seeds gives a per-atom uncertainty ([`committee`]).

pub mod bench;
pub mod committee;
pub mod curve;
pub mod dataset;
pub mod files;
pub mod model;
pub mod select;

use crate::input::{join, positive, InvalidValue};
use crate::optimize::{minimize_with_line_search, LineSearchSettings, Objective};
use crate::plot::{Plot, Series, Style};
use crate::potentials::nnp::network::Activation;
use crate::potentials::nnp::symmetry_functions::SymmetryFunction;
use crate::potentials::nnp::{ElementModel, NnpConfig, NnpPotential, UnitValue};
use crate::system::elements;
use anyhow::{bail, Context};
use curve::LearningCurve;
use dataset::{DataFormat, LabelledStructure, StructureDescriptors};
use files::{ScalingKind, Statistics};
use model::{Adam, Errors, LossWeights, Model, Prediction};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn default_seed() -> u64 {
    1
}
fn default_epochs() -> usize {
    100
}
fn default_batch_size() -> usize {
    8
}
fn default_learning_rate() -> f64 {
    1e-3
}
fn default_decay() -> f64 {
    1.0
}
fn default_learning_rate_min() -> f64 {
    1e-5
}
fn default_one() -> f64 {
    1.0
}
fn default_test_fraction() -> f64 {
    0.2
}
fn default_patience() -> usize {
    20
}
fn default_committee() -> usize {
    1
}

/// `mdrun train` settings (all keys documented in docs/train.md).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSettings {
    /// Labelled data files (`[[data]]` tables).
    pub data: Vec<DataSource>,
    #[serde(default)]
    pub symmetry_functions: SymmetryFunctionSettings,
    #[serde(default)]
    pub network: NetworkSettings,
    /// Seed of the split, the initial weights and the batch order (default 1).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Maximum number of Adam epochs (default 100; 0 only with `lbfgs_iterations`).
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// After the Adam epochs, at most this many full-batch L-BFGS iterations from the best weights so far
    /// (default 0: none).
    #[serde(default)]
    pub lbfgs_iterations: usize,
    /// Start from this trained potential (a directory with input.nn, scaling.data, weights.NNN.data): its
    /// weights, offsets, symmetry functions and scaling are kept, as n2p2's `use_old_weights_short`.
    #[serde(default)]
    pub initial_model: Option<PathBuf>,
    /// Structures per Adam step (default 8).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Initial Adam learning rate (default 1e-3).
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Factor applied to the learning rate after every epoch (default 1: constant).
    #[serde(default = "default_decay")]
    pub learning_rate_decay: f64,
    /// Lower bound of the learning rate (default 1e-5).
    #[serde(default = "default_learning_rate_min")]
    pub learning_rate_min: f64,
    /// Weight of the energy term, w_E ((E − E_ref)/N)² in (eV/atom)² (default 1).
    #[serde(default = "default_one")]
    pub energy_weight: f64,
    /// Weight of the force term, w_F ⟨|ΔF|²⟩/3 in (eV/Å)² (default 1; 0 trains on energies only).
    #[serde(default = "default_one")]
    pub force_weight: f64,
    /// Fraction of structures held out as the test set (default 0.2).
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Stop when the test loss has not improved for this many epochs (default 20; 0 = never stop early).
    #[serde(default = "default_patience")]
    pub early_stopping_patience: usize,
    /// Number of committee members trained from seeds seed, seed+1, … (default 1).
    #[serde(default = "default_committee")]
    pub committee_size: usize,
    /// Print the learning curve as a table while training (set by `mdrun train`; not an input key).
    #[serde(skip)]
    pub verbose: bool,
}

/// One `[[data]]` file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    /// Path, relative to the TOML file's directory.
    pub file: PathBuf,
    /// `"extxyz"` or `"n2p2"`; default guessed from the name (`.xyz`/`.extxyz`, `.data`).
    #[serde(default)]
    pub format: Option<DataFormat>,
    /// Length unit of the file (default `"angstrom"`; names as for `[potential] kind = "nnp"`).
    #[serde(default)]
    pub length_unit: Option<UnitValue>,
    /// Energy unit of the file (default `"ev"`).
    #[serde(default)]
    pub energy_unit: Option<UnitValue>,
}

impl DataSource {
    fn units(&self, key: &str) -> Result<(f64, f64), InvalidValue> {
        let config = NnpConfig {
            directory: PathBuf::new(),
            length_unit: self.length_unit.clone(),
            energy_unit: self.energy_unit.clone(),
        };
        Ok((config.length_unit_a(key)?, config.energy_unit_ev(key)?))
    }
}

/// Radial grid of generated symmetry functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RadialGrid {
    /// r_s on an even grid from `radial_r_min_a` to r_c − Δ, η = 1/(2Δ²).
    Shifted,
    /// r_s = 0, widths σ on an even grid from `radial_r_min_a` to r_c, η = 1/(2σ²).
    Centered,
}

/// `[symmetry_functions]`: taken from an `input.nn` or generated (missing keys take their defaults).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SymmetryFunctionSettings {
    /// Take `symfunction_short` and `cutoff_type` lines from this `input.nn` (Å); the other keys are then unused.
    pub input_nn: Option<PathBuf>,
    /// Cutoff radius (Å, default 6).
    pub cutoff_a: f64,
    /// n2p2 cutoff type (0 hard … 8; default 2 = tanh³).
    pub cutoff_type: u32,
    /// Inner cutoff fraction α (default 0).
    pub cutoff_alpha: f64,
    /// Radial functions per element pair (default 8).
    pub radial_count: usize,
    /// `"shifted"` (default) or `"centered"`.
    pub radial_grid: RadialGrid,
    /// Smallest shift or width of the radial grid (Å, default 1.5).
    pub radial_r_min_a: f64,
    /// η values of the angular functions (Å⁻², default [0.005]).
    pub angular_eta_per_a2: Vec<f64>,
    /// ζ values of the angular functions (default [1, 2, 4, 16]); λ = ±1 for each.
    pub angular_zeta: Vec<f64>,
    /// Angular function type: 9 (wide, default) or 3 (narrow).
    pub angular_type: u32,
    /// Input scaling: `"scale_center"` (default), `"scale"`, `"center"`, `"sigma"`, `"none"`.
    pub scaling: ScalingKind,
}

impl SymmetryFunctionSettings {
    /// Checks the generated set's keys under `k` (nothing to check when `input_nn` gives the set).
    fn validate(&self, k: &str) -> Result<(), InvalidValue> {
        if self.input_nn.is_some() {
            return Ok(());
        }
        positive(k, "cutoff_a", self.cutoff_a)?;
        if self.cutoff_type > 8 {
            return Err(InvalidValue::new(join(k, "cutoff_type"), self.cutoff_type, "an n2p2 cutoff type 0 to 8"));
        }
        if !(0.0..1.0).contains(&self.cutoff_alpha) {
            return Err(InvalidValue::new(join(k, "cutoff_alpha"), self.cutoff_alpha, "0 <= alpha < 1"));
        }
        if self.radial_count == 0 {
            return Err(InvalidValue::new(join(k, "radial_count"), 0, "at least 1 radial function"));
        }
        if !(self.radial_r_min_a > 0.0 && self.radial_r_min_a < self.cutoff_a) {
            return Err(InvalidValue::new(
                join(k, "radial_r_min_a"),
                self.radial_r_min_a,
                format!("a length between 0 and cutoff_a = {}", self.cutoff_a),
            ));
        }
        if let Some(eta) = self.angular_eta_per_a2.iter().find(|e| !(e.is_finite() && **e >= 0.0)) {
            return Err(InvalidValue::new(join(k, "angular_eta_per_a2"), eta, "non-negative numbers"));
        }
        if let Some(zeta) = self.angular_zeta.iter().find(|z| !(z.is_finite() && **z >= 1.0)) {
            return Err(InvalidValue::new(join(k, "angular_zeta"), zeta, "numbers >= 1"));
        }
        if self.angular_type != 3 && self.angular_type != 9 {
            return Err(InvalidValue::new(join(k, "angular_type"), self.angular_type, "3 (narrow) or 9 (wide)"));
        }
        Ok(())
    }
}

impl Default for SymmetryFunctionSettings {
    fn default() -> Self {
        SymmetryFunctionSettings {
            input_nn: None,
            cutoff_a: 6.0,
            cutoff_type: 2,
            cutoff_alpha: 0.0,
            radial_count: 8,
            radial_grid: RadialGrid::Shifted,
            radial_r_min_a: 1.5,
            angular_eta_per_a2: vec![0.005],
            angular_zeta: vec![1.0, 2.0, 4.0, 16.0],
            angular_type: 9,
            scaling: ScalingKind::ScaleCenter,
        }
    }
}

/// `[network]`: layout of every element's network.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSettings {
    /// Neurons per hidden layer (default [15, 15]).
    pub hidden_layers: Vec<usize>,
    /// n2p2 activation letter of the hidden layers (default `"t"`, tanh); the output is linear.
    pub activation: String,
    /// n2p2's `normalize_nodes` (default false).
    pub normalize_nodes: bool,
}

impl NetworkSettings {
    /// Checks the layer sizes and the activation letter under `k`.
    fn validate(&self, k: &str) -> Result<(), InvalidValue> {
        use crate::potentials::nnp::{MAX_HIDDEN_LAYERS, MAX_NODES_PER_LAYER};
        let layers = &self.hidden_layers;
        if layers.is_empty()
            || layers.len() > MAX_HIDDEN_LAYERS
            || layers.iter().any(|&n| n == 0 || n > MAX_NODES_PER_LAYER)
        {
            return Err(InvalidValue::new(
                join(k, "hidden_layers"),
                format!("{layers:?}"),
                format!(
                    "a list of 1 to {MAX_HIDDEN_LAYERS} neuron counts, each from 1 to {MAX_NODES_PER_LAYER} (the limits \
                     of input.nn)"
                ),
            ));
        }
        if Activation::from_letter(&self.activation).is_none() {
            return Err(InvalidValue::new(
                join(k, "activation"),
                format!("\"{}\"", self.activation),
                "an n2p2 activation letter: l t s p r g c S e h",
            ));
        }
        Ok(())
    }
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings { hidden_layers: vec![15, 15], activation: "t".into(), normalize_nodes: false }
    }
}

/// Results of one committee member.
#[derive(Clone, Debug, Serialize)]
pub struct MemberReport {
    pub seed: u64,
    /// Directory with input.nn, scaling.data, weights.NNN.data, learning_curve.csv and parity plots.
    pub directory: PathBuf,
    /// Adam epochs run.
    pub epochs_run: usize,
    /// Full-batch L-BFGS iterations run after them.
    pub lbfgs_iterations_run: usize,
    /// Epoch whose weights were kept (lowest test loss; 0 = initial weights; epochs_run + k = L-BFGS iteration k).
    pub best_epoch: usize,
    pub train_energy_rmse_mev_per_atom: f64,
    pub train_force_rmse_mev_per_a: f64,
    pub test_energy_rmse_mev_per_atom: f64,
    pub test_force_rmse_mev_per_a: f64,
    pub seconds: f64,
}

/// Key numbers of a training run (for summary.json).
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub structures: usize,
    pub atoms: usize,
    pub train_structures: usize,
    pub test_structures: usize,
    /// Elements (symbols) and their number of symmetry functions.
    pub symmetry_functions: Vec<(String, usize)>,
    /// Weights and biases per committee member.
    pub parameters: usize,
    /// `atom_energy` offsets (eV) fitted to the composition.
    pub atom_energies_ev: Vec<(String, f64)>,
    /// Spread of the labels: standard deviation of (E − Σ offsets)/N (meV/atom) and RMS force component
    /// (meV/Å) over all structures; a model that learnt nothing has RMSEs of this size.
    pub label_energy_std_mev_per_atom: f64,
    pub label_force_rms_mev_per_a: f64,
    pub members: Vec<MemberReport>,
    /// Mean over the test structures' atoms of the committee's per-atom energy standard deviation (meV;
    /// only with `committee_size` > 1).
    pub committee_test_atom_energy_std_mev: Option<f64>,
    /// Outlying labels and training that diverged (each also printed as a warning).
    pub warnings: Vec<String>,
}

impl TrainSettings {
    /// Checks every value; `key` is the prefix (e.g. `train`, or "" for a top-level file).
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        if self.data.is_empty() {
            return Err(InvalidValue::new(join(key, "data"), "[]", "at least one [[data]] table with a file"));
        }
        for (n, d) in self.data.iter().enumerate() {
            let k = join(key, &format!("data[{n}]"));
            if d.format.is_none() && DataFormat::guess(&d.file).is_none() {
                return Err(InvalidValue::new(
                    join(&k, "file"),
                    format!("\"{}\"", d.file.display()),
                    "a name ending in .xyz/.extxyz/.data, or an explicit format = \"extxyz\" or \"n2p2\"",
                ));
            }
            d.units(&k)?;
        }
        self.symmetry_functions.validate(&join(key, "symmetry_functions"))?;
        self.network.validate(&join(key, "network"))?;
        if self.epochs == 0 && self.lbfgs_iterations == 0 {
            return Err(InvalidValue::new(join(key, "epochs"), 0, "at least 1 epoch (or lbfgs_iterations > 0)"));
        }
        if self.batch_size == 0 {
            return Err(InvalidValue::new(join(key, "batch_size"), 0, "at least 1 structure per batch"));
        }
        positive(key, "learning_rate", self.learning_rate)?;
        if !(self.learning_rate_decay > 0.0 && self.learning_rate_decay <= 1.0) {
            return Err(InvalidValue::new(
                join(key, "learning_rate_decay"),
                self.learning_rate_decay,
                "0 < decay <= 1",
            ));
        }
        positive(key, "learning_rate_min", self.learning_rate_min)?;
        crate::input::non_negative(key, "energy_weight", self.energy_weight)?;
        crate::input::non_negative(key, "force_weight", self.force_weight)?;
        if self.energy_weight + self.force_weight == 0.0 {
            return Err(InvalidValue::new(join(key, "force_weight"), 0, "a positive weight when energy_weight is 0"));
        }
        if !(0.0..1.0).contains(&self.test_fraction) {
            return Err(InvalidValue::new(join(key, "test_fraction"), self.test_fraction, "0 <= fraction < 1"));
        }
        if self.initial_model.is_some() && self.symmetry_functions.input_nn.is_some() {
            return Err(InvalidValue::new(
                join(key, "symmetry_functions.input_nn"),
                "given together with initial_model",
                "one of the two: the initial model's input.nn defines the symmetry functions",
            ));
        }
        if self.committee_size == 0 {
            return Err(InvalidValue::new(join(key, "committee_size"), 0, "at least 1 model"));
        }
        Ok(())
    }

    /// Reads every `[[data]]` file (paths relative to `base_dir`).
    /// Reads every `[[data]]` file, in order; returns the structures and, for each, its file and number there
    /// (`file.xyz, structure 3`) for messages.
    pub fn read_data(&self, base_dir: &Path) -> anyhow::Result<(Vec<LabelledStructure>, Vec<String>)> {
        let mut out = Vec::new();
        let mut origins = Vec::new();
        for (n, d) in self.data.iter().enumerate() {
            let key = format!("data[{n}]");
            let (length, energy) = d.units(&key)?;
            let format = d.format.or_else(|| DataFormat::guess(&d.file)).context("data format")?;
            let path = base_dir.join(&d.file);
            let structures = dataset::read_labelled(&path, format, length, energy)?;
            origins.extend((1..=structures.len()).map(|k| format!("{}, structure {k}", path.display())));
            out.extend(structures);
        }
        Ok((out, origins))
    }

    /// `symfunction_short` argument lines and the cutoff line (`type alpha`) for `elements`.
    pub fn symmetry_function_lines(&self, base_dir: &Path, elements: &[u8]) -> anyhow::Result<(Vec<String>, u32, f64)> {
        let sf = &self.symmetry_functions;
        let given = match (&self.initial_model, &sf.input_nn) {
            (Some(model), _) => Some((model.join("input.nn"), "initial_model")),
            (None, Some(input_nn)) => Some((input_nn.clone(), "symmetry_functions.input_nn")),
            (None, None) => None,
        };
        if let Some((path, key)) = &given {
            let path = base_dir.join(path);
            let settings =
                crate::potentials::nnp::settings::Settings::read(&path).with_context(|| format!("train.{key}"))?;
            // Parse every line here, so that an error (an unsupported type, say) names this file and line, not the
            // copy written into the output folder.
            let any_element = |symbol: &str| elements::atomic_number(symbol).map(usize::from);
            for entry in settings.all("symfunction_short") {
                SymmetryFunction::parse(&path, entry.line, &entry.arguments, &any_element)
                    .with_context(|| format!("train.{key}"))?;
            }
            let lines: Vec<String> = settings.all("symfunction_short").map(|e| e.arguments.join(" ")).collect();
            if lines.is_empty() {
                bail!("{}: no symfunction_short lines", path.display());
            }
            let entry = settings.require("cutoff_type")?;
            let kind = settings.integer(entry, 0)? as u32;
            let alpha = if entry.arguments.len() > 1 { settings.number(entry, 1)? } else { 0.0 };
            return Ok((lines, kind, alpha));
        }
        let symbols: Vec<&str> = elements.iter().map(|&z| elements::symbol(z)).collect();
        let rc = sf.cutoff_a;
        let n = sf.radial_count;
        let mut radial = Vec::new();
        match sf.radial_grid {
            RadialGrid::Shifted => {
                let step = (rc - sf.radial_r_min_a) / n as f64;
                let eta = 1.0 / (2.0 * step * step);
                for k in 0..n {
                    radial.push((eta, sf.radial_r_min_a + k as f64 * step));
                }
            }
            RadialGrid::Centered => {
                let step = if n > 1 { (rc - sf.radial_r_min_a) / (n - 1) as f64 } else { 0.0 };
                for k in 0..n {
                    let sigma = sf.radial_r_min_a + k as f64 * step;
                    radial.push((1.0 / (2.0 * sigma * sigma), 0.0));
                }
            }
        }
        let mut lines = Vec::new();
        for centre in &symbols {
            for neighbor in &symbols {
                for (eta, rs) in &radial {
                    lines.push(format!("{centre} 2 {neighbor} {eta:.17e} {rs:.17e} {rc:.17e}"));
                }
            }
            for (a, first) in symbols.iter().enumerate() {
                for second in &symbols[a..] {
                    for eta in &sf.angular_eta_per_a2 {
                        for zeta in &sf.angular_zeta {
                            for lambda in [-1.0, 1.0] {
                                lines.push(format!(
                                    "{centre} {} {first} {second} {eta:.17e} {lambda} {zeta} {rc:.17e}",
                                    sf.angular_type
                                ));
                            }
                        }
                    }
                }
            }
        }
        Ok((lines, sf.cutoff_type, sf.cutoff_alpha))
    }

    /// Trains `committee_size` models and writes them below `output_dir` (`model_0`, `model_1`, …).
    pub fn run(&self, base_dir: &Path, output_dir: &Path) -> anyhow::Result<TrainReport> {
        let (structures, origins) = self.read_data(base_dir)?;
        let prepared = Prepared::new(self, base_dir, output_dir, &structures)?;
        let mut warnings = label_outliers(&structures, &prepared.elements, &prepared.template.offsets, &origins);
        drop(structures);
        let mut members = Vec::new();
        let mut models = Vec::new();
        for k in 0..self.committee_size {
            let seed = self.seed.wrapping_add(k as u64);
            let directory = output_dir.join(format!("model_{k}"));
            let (model, report) = prepared.train_member(self, seed, &directory, &mut warnings)?;
            members.push(report);
            models.push(model);
        }
        let committee_std = if models.len() > 1 && !prepared.test.is_empty() {
            let (mut sum, mut count) = (0.0, 0usize);
            for &s in &prepared.test {
                let energies: Vec<Vec<f64>> = models.iter().map(|m| m.atom_energies(&prepared.data[s])).collect();
                for i in 0..prepared.data[s].len() {
                    let column: Vec<f64> = energies.iter().map(|e| e[i]).collect();
                    sum += committee::standard_deviation(&column);
                    count += 1;
                }
            }
            Some(1e3 * sum / count as f64)
        } else {
            None
        };
        Ok(TrainReport {
            structures: prepared.data.len(),
            atoms: prepared.data.iter().map(|s| s.len()).sum(),
            train_structures: prepared.train.len(),
            test_structures: prepared.test.len(),
            symmetry_functions: prepared
                .elements
                .iter()
                .zip(&prepared.template.scaling)
                .map(|(&z, s)| (elements::symbol(z).to_string(), s.len()))
                .collect(),
            parameters: prepared.template.parameters().len(),
            atom_energies_ev: prepared
                .elements
                .iter()
                .zip(&prepared.template.offsets)
                .map(|(&z, &o)| (elements::symbol(z).to_string(), o))
                .collect(),
            label_energy_std_mev_per_atom: prepared.label_energy_std * 1e3,
            label_force_rms_mev_per_a: prepared.label_force_rms * 1e3,
            members,
            committee_test_atom_energy_std_mev: committee_std,
            warnings,
        })
    }
}

/// A label is an outlier when its residual energy per atom r_s = (E_s − Σ_e n_se ε_e)/N_s lies more than this
/// many robust standard deviations (1.4826 × the median absolute deviation) from the median residual.
pub const OUTLIER_ROBUST_SIGMAS: f64 = 20.0;
/// ... and more than this far from it (eV/atom), so that a set of nearly equal labels flags nothing.
pub const OUTLIER_MIN_EV_PER_ATOM: f64 = 0.5;

/// Warnings for labels whose residual energy per atom is an outlier (a wrong unit, a failed calculation, a
/// typo): they dominate a squared loss. Each names the structure by `origins`, and is printed.
fn label_outliers(
    structures: &[LabelledStructure],
    elements: &[u8],
    offsets: &[f64],
    origins: &[String],
) -> Vec<String> {
    let residuals: Vec<f64> = structures
        .iter()
        .map(|s| {
            let reference: f64 =
                s.system.atomic_numbers.iter().map(|z| offsets[elements.iter().position(|x| x == z).unwrap()]).sum();
            (s.energy - reference) / s.system.len() as f64
        })
        .collect();
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n % 2 == 1 {
            values[n / 2]
        } else {
            0.5 * (values[n / 2 - 1] + values[n / 2])
        }
    };
    let center = median(&mut residuals.clone());
    let robust_sigma = 1.4826 * median(&mut residuals.iter().map(|r| (r - center).abs()).collect());
    let limit = (OUTLIER_ROBUST_SIGMAS * robust_sigma).max(OUTLIER_MIN_EV_PER_ATOM);
    let mut warnings = Vec::new();
    for (s, r) in residuals.iter().enumerate() {
        if (r - center).abs() > limit {
            let warning = format!(
                "{}: energy {:.6e} eV is an outlier: {:+.4e} eV/atom from the median of all labels after the \
                 per-element offsets (the limit is {limit:.3} eV/atom); check its units and calculation",
                origins[s],
                structures[s].energy,
                r - center
            );
            eprintln!("warning: {warning}");
            warnings.push(warning);
        }
    }
    warnings
}

/// Per-element offsets ε_e minimising Σ_s (E_s − Σ_e n_se ε_e)² (least squares by SVD; the minimum-norm
/// solution when compositions do not determine every offset).
pub fn fit_atom_energies(structures: &[LabelledStructure], elements: &[u8]) -> Vec<f64> {
    let a = nalgebra::DMatrix::from_fn(structures.len(), elements.len(), |s, e| {
        structures[s].system.atomic_numbers.iter().filter(|&&z| z == elements[e]).count() as f64
    });
    let b = nalgebra::DVector::from_iterator(structures.len(), structures.iter().map(|s| s.energy));
    let svd = a.svd(true, true);
    let x = svd.solve(&b, 1e-10).expect("SVD with both factors");
    x.iter().copied().collect()
}

/// Everything shared by the committee members: descriptors, split, scaling and the model template.
pub struct Prepared {
    pub elements: Vec<u8>,
    pub data: Vec<StructureDescriptors>,
    pub train: Vec<usize>,
    pub test: Vec<usize>,
    /// input.nn and scaling.data text.
    pub input_nn: String,
    pub scaling_data: String,
    /// Model with zero weights, the training-set scaling and the fitted offsets.
    pub template: Model,
    pub label_energy_std: f64,
    pub label_force_rms: f64,
}

/// The elements of `structures`, sorted; refuses a structure whose force count is not its atom count.
fn checked_elements(structures: &[LabelledStructure]) -> anyhow::Result<Vec<u8>> {
    for (n, s) in structures.iter().enumerate() {
        if s.forces.len() != s.system.len() {
            bail!("structure {}: {} forces for {} atoms", n + 1, s.forces.len(), s.system.len());
        }
    }
    let mut elements: Vec<u8> = structures.iter().flat_map(|s| s.system.atomic_numbers.iter().copied()).collect();
    elements.sort_unstable();
    elements.dedup();
    Ok(elements)
}

/// Writes `input_nn` with neutral scaling (min 0, max 1, mean 0, σ 1) into `setup` and loads it with zero
/// weights: the sorted symmetry functions and their groups, before any statistics exist.
fn neutral_layout(
    setup: &Path,
    input_nn: &str,
    elements: &[u8],
    settings: &TrainSettings,
) -> anyhow::Result<NnpPotential> {
    crate::io::create_output_dir(setup)?;
    crate::io::write_atomically(&setup.join("input.nn"), input_nn.as_bytes())?;
    let counts = count_functions(setup, elements)?;
    let neutral: Vec<Vec<Statistics>> =
        counts.iter().map(|&n| vec![Statistics { min: 0.0, max: 1.0, mean: 0.0, sigma: 1.0 }; n]).collect();
    crate::io::write_atomically(&setup.join("scaling.data"), files::format_scaling(&neutral).as_bytes())?;
    load_with_zero_weights(setup, elements, settings)
}

/// The seeded split of `count` structures into (training, test) indices, each sorted: a fraction
/// `test_fraction` (rounded) is held out, at least one and never all when the fraction is positive.
fn split(count: usize, settings: &TrainSettings) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..count).collect();
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(settings.seed));
    let mut n_test = (settings.test_fraction * count as f64).round() as usize;
    if settings.test_fraction > 0.0 && count >= 2 {
        n_test = n_test.clamp(1, count - 1);
    }
    let mut test = order[..n_test].to_vec();
    let mut train = order[n_test..].to_vec();
    test.sort_unstable();
    train.sort_unstable();
    (train, test)
}

/// The spread of the labels: standard deviation of (E − Σ offsets)/N over the structures (eV/atom) and the RMS
/// force component (eV/Å).
fn label_spread(structures: &[LabelledStructure], elements: &[u8], offsets: &[f64]) -> (f64, f64) {
    let (mut e_sum, mut e_sum2, mut f2, mut components) = (0.0, 0.0, 0.0, 0usize);
    for s in structures {
        let reference: f64 =
            s.system.atomic_numbers.iter().map(|z| offsets[elements.iter().position(|x| x == z).unwrap()]).sum();
        let e = (s.energy - reference) / s.system.len() as f64;
        e_sum += e;
        e_sum2 += e * e;
        f2 += s.forces.iter().map(|f| f.norm_squared()).sum::<f64>();
        components += 3 * s.forces.len();
    }
    let count = structures.len() as f64;
    let label_energy_std = (e_sum2 / count - (e_sum / count).powi(2)).max(0.0).sqrt();
    (label_energy_std, (f2 / components.max(1) as f64).sqrt())
}

impl Prepared {
    /// Computes descriptors, the split and the scaling; writes nothing but a scratch potential in
    /// `output_dir/.descriptor_setup` (removed afterwards).
    pub fn new(
        settings: &TrainSettings,
        base_dir: &Path,
        output_dir: &Path,
        structures: &[LabelledStructure],
    ) -> anyhow::Result<Prepared> {
        let elements = checked_elements(structures)?;
        let offsets = fit_atom_energies(structures, &elements);
        let (lines, cutoff_type, cutoff_alpha) = settings.symmetry_function_lines(base_dir, &elements)?;
        let net = &settings.network;
        let input_nn = files::format_input_nn(&files::InputNn {
            elements: &elements,
            offsets: &offsets,
            cutoff_type,
            cutoff_alpha,
            scaling: settings.symmetry_functions.scaling,
            hidden_layers: &net.hidden_layers,
            activation: &net.activation,
            normalize_nodes: net.normalize_nodes,
            symmetry_functions: &lines,
        });
        let setup = output_dir.join(".descriptor_setup");
        let potential = neutral_layout(&setup, &input_nn, &elements, settings)?;
        let models = potential.elements();
        let descriptor = potential.descriptor();
        let data = structures
            .iter()
            .enumerate()
            .map(|(n, s)| dataset::describe(s, &descriptor).with_context(|| format!("structure {}", n + 1)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (train, test) = split(data.len(), settings);

        // An initial model brings its own scaling; otherwise it comes from the training atoms.
        let (input_nn, scaling_data, template) = match &settings.initial_model {
            Some(directory) => {
                let mut template = Model {
                    networks: models.iter().map(|m| m.network.clone()).collect(),
                    scaling: models.iter().map(|m| m.scaling.clone()).collect(),
                    offsets,
                };
                let (input_nn, scaling_data) =
                    adopt_initial_model(&base_dir.join(directory), &elements, &mut template)?;
                (input_nn, scaling_data, template)
            }
            None => {
                let scaling_data = files::format_scaling(&scaling_statistics(&data, &train, &elements, models)?);
                crate::io::write_atomically(&setup.join("scaling.data"), scaling_data.as_bytes())?;
                let scaled = load_with_zero_weights(&setup, &elements, settings)?;
                let template = Model {
                    networks: scaled.elements().iter().map(|m| m.network.clone()).collect(),
                    scaling: scaled.elements().iter().map(|m| m.scaling.clone()).collect(),
                    offsets,
                };
                (input_nn, scaling_data, template)
            }
        };
        std::fs::remove_dir_all(&setup).with_context(|| format!("removing {}", setup.display()))?;
        let offsets = template.offsets.clone();

        let (label_energy_std, label_force_rms) = label_spread(structures, &elements, &offsets);
        Ok(Prepared {
            elements,
            data,
            train,
            test,
            input_nn,
            scaling_data,
            template,
            label_energy_std,
            label_force_rms,
        })
    }

    /// Trains one model from `seed` and writes it (and its learning curve and parity plots) to `directory`.
    pub fn train_member(
        &self,
        settings: &TrainSettings,
        seed: u64,
        directory: &Path,
        warnings: &mut Vec<String>,
    ) -> anyhow::Result<(Model, MemberReport)> {
        let start = Instant::now();
        crate::io::create_output_dir(directory)?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut model = self.template.clone();
        if settings.initial_model.is_none() {
            model.randomize(&mut rng);
        }
        let weights = LossWeights { energy: settings.energy_weight, force: settings.force_weight };
        let monitor = if self.test.is_empty() { &self.train } else { &self.test };
        let initial_loss = model.errors(&self.data, monitor, weights).loss;
        let mut best = Best { loss: initial_loss, position: 0, parameters: model.parameters() };
        let mut curve = LearningCurve::create(&directory.join("learning_curve.csv"), settings.verbose)?;
        let epochs_run = self.adam_epochs(settings, &mut model, &mut rng, &mut curve, &mut best)?;
        let lbfgs_iterations_run = self.lbfgs_refinement(settings, &mut model, &mut curve, &mut best, epochs_run)?;
        let last_loss = model.errors(&self.data, monitor, weights).loss;
        let member = directory.display();
        if let Some(divergence) =
            divergence(settings, &best, initial_loss, last_loss, epochs_run + lbfgs_iterations_run)
        {
            if settings.initial_model.is_none() && best.position == 0 {
                let labels = if warnings.is_empty() { "" } else { ", or labels without the outliers warned about" };
                bail!("{member}: training never lowered the loss of the random initial weights: {divergence}{labels}");
            }
            let warning = format!("{member}: {divergence}; the weights of epoch {} are kept", best.position);
            eprintln!("warning: {warning}");
            warnings.push(warning);
        }
        model.set_parameters(&best.parameters);
        self.write_model(&model, directory)?;
        let all: Vec<usize> = (0..self.data.len()).collect();
        let predictions = model.predict_all(&self.data, &all);
        self.write_parity_plots(&predictions, directory)?;
        self.write_structure_errors(&predictions, directory)?;
        let train = Model::errors_of_predictions(&self.data, &self.train, &predictions, weights);
        let test = Model::errors_of_predictions(&self.data, &self.test, &predictions, weights);
        let report = MemberReport {
            seed,
            directory: directory.to_path_buf(),
            epochs_run,
            lbfgs_iterations_run,
            best_epoch: best.position,
            train_energy_rmse_mev_per_atom: train.energy_rmse_ev_per_atom * 1e3,
            train_force_rmse_mev_per_a: train.force_rmse_ev_per_a * 1e3,
            test_energy_rmse_mev_per_atom: test.energy_rmse_ev_per_atom * 1e3,
            test_force_rmse_mev_per_a: test.force_rmse_ev_per_a * 1e3,
            seconds: start.elapsed().as_secs_f64(),
        };
        Ok((model, report))
    }

    /// Adam over shuffled minibatches for up to `epochs` epochs, the learning rate decaying geometrically to
    /// `learning_rate_min`; keeps the parameters of the lowest monitored loss (test set, else training set) in
    /// `best` and stops after `early_stopping_patience` epochs without improvement. Returns the epochs run.
    fn adam_epochs(
        &self,
        settings: &TrainSettings,
        model: &mut Model,
        rng: &mut Xoshiro256PlusPlus,
        curve: &mut LearningCurve,
        best: &mut Best,
    ) -> anyhow::Result<usize> {
        let weights = LossWeights { energy: settings.energy_weight, force: settings.force_weight };
        let mut parameters = model.parameters();
        let mut adam = Adam::new(parameters.len());
        let mut order = self.train.clone();
        let mut epochs_run = 0;
        for epoch in 1..=settings.epochs {
            let rate = (settings.learning_rate * settings.learning_rate_decay.powi(epoch as i32 - 1))
                .max(settings.learning_rate_min);
            order.shuffle(rng);
            for batch in order.chunks(settings.batch_size) {
                let (_, gradient) = model.batch_loss_gradient(&self.data, batch, weights);
                adam.update(&mut parameters, &gradient, rate);
                model.set_parameters(&parameters);
            }
            epochs_run = epoch;
            let train = model.errors(&self.data, &self.train, weights);
            let test = model.errors(&self.data, &self.test, weights);
            curve.row(epoch, "adam", rate, &train, &test)?;
            let monitored = if self.test.is_empty() { train.loss } else { test.loss };
            if monitored < best.loss {
                *best = Best { loss: monitored, position: epoch, parameters: parameters.clone() };
            } else if settings.early_stopping_patience > 0 && epoch - best.position >= settings.early_stopping_patience
            {
                break;
            }
        }
        Ok(epochs_run)
    }

    /// Full-batch L-BFGS on the training loss from the best parameters so far, for up to `lbfgs_iterations`
    /// iterations numbered on from `epochs_run` in the learning curve, with the same early stopping. Returns the
    /// iterations run.
    fn lbfgs_refinement(
        &self,
        settings: &TrainSettings,
        model: &mut Model,
        curve: &mut LearningCurve,
        best: &mut Best,
        epochs_run: usize,
    ) -> anyhow::Result<usize> {
        if settings.lbfgs_iterations == 0 {
            return Ok(0);
        }
        let weights = LossWeights { energy: settings.energy_weight, force: settings.force_weight };
        let mut iterations_run = 0;
        let mut x = best.parameters.clone();
        let mut previous = x.clone();
        let last = Cell::new(Errors::default());
        let mut objective =
            TrainingLoss { model: model.clone(), data: &self.data, batch: &self.train, weights, last: &last };
        let patience = settings.early_stopping_patience;
        let mut failure = None;
        minimize_with_line_search(
            &mut objective,
            &mut x,
            LineSearchSettings::default(),
            settings.lbfgs_iterations,
            &mut |iteration, _, parameters| {
                iterations_run = iteration;
                let step: f64 = parameters.iter().zip(&previous).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
                previous.copy_from_slice(parameters);
                model.set_parameters(parameters);
                let train = last.get();
                let test = model.errors(&self.data, &self.test, weights);
                let position = epochs_run + iteration;
                if let Err(error) = curve.row(position, "lbfgs", step, &train, &test) {
                    failure = Some(error);
                    return false;
                }
                let monitored = if self.test.is_empty() { train.loss } else { test.loss };
                if monitored < best.loss {
                    *best = Best { loss: monitored, position, parameters: parameters.to_vec() };
                }
                patience == 0 || position - best.position < patience
            },
        )?;
        match failure {
            Some(error) => Err(error),
            None => Ok(iterations_run),
        }
    }

    /// Writes `input.nn`, `scaling.data` and one `weights.NNN.data` per element into `directory`.
    pub fn write_model(&self, model: &Model, directory: &Path) -> anyhow::Result<()> {
        crate::io::write_atomically(&directory.join("input.nn"), self.input_nn.as_bytes())?;
        crate::io::write_atomically(&directory.join("scaling.data"), self.scaling_data.as_bytes())?;
        for (z, network) in self.elements.iter().zip(&model.networks) {
            let path = directory.join(format!("weights.{z:03}.data"));
            crate::io::write_atomically(&path, files::format_weights(network).as_bytes())?;
        }
        Ok(())
    }

    /// `structures.csv`: every structure's set, energy per atom (reference, predicted, error) and force RMSE,
    /// in the order of the data files (n2p2's `trainpoints`/`testpoints` files, in one table).
    fn write_structure_errors(&self, predictions: &[Prediction], directory: &Path) -> anyhow::Result<()> {
        let mut text = String::from(
            "structure,set,atoms,reference_energy_ev_per_atom,predicted_energy_ev_per_atom,energy_error_mev_per_atom,\
             force_rmse_mev_per_a\n",
        );
        for (s, (energy, forces)) in predictions.iter().enumerate() {
            let structure = &self.data[s];
            let n = structure.len() as f64;
            let set = if self.test.binary_search(&s).is_ok() { "test" } else { "train" };
            let force_sq: f64 = forces.iter().zip(&structure.forces).map(|(f, r)| (f - r).norm_squared()).sum();
            text += &format!(
                "{},{set},{},{:.8},{:.8},{:.4},{:.3}\n",
                s + 1,
                structure.len(),
                structure.energy / n,
                energy / n,
                1e3 * (energy - structure.energy) / n,
                1e3 * (force_sq / (3.0 * n)).sqrt()
            );
        }
        crate::io::write_atomically(&directory.join("structures.csv"), text.as_bytes())?;
        Ok(())
    }

    /// `energy_parity.svg` and `force_parity.svg` from `predictions` of every structure.
    fn write_parity_plots(&self, predictions: &[Prediction], directory: &Path) -> anyhow::Result<()> {
        let collect = |indices: &[usize]| {
            let mut energies = Vec::new();
            let mut forces = Vec::new();
            for &s in indices {
                let (e, f) = &predictions[s];
                let structure = &self.data[s];
                let n = structure.len() as f64;
                energies.push((structure.energy / n, e / n));
                for (p, r) in f.iter().zip(&structure.forces) {
                    for c in 0..3 {
                        forces.push((r[c], p[c]));
                    }
                }
            }
            (energies, forces)
        };
        let (train_e, train_f) = collect(&self.train);
        let (test_e, test_f) = collect(&self.test);
        let parity = |title: &str, quantity: &str, train: Vec<(f64, f64)>, test: Vec<(f64, f64)>| {
            let (lo, hi) = train
                .iter()
                .chain(&test)
                .flat_map(|&(a, b)| [a, b])
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
            let cloud = |label: &str, points: Vec<(f64, f64)>| {
                let label = format!("{label} ({} points)", points.len());
                let (x, y) = points.into_iter().unzip();
                Series::new(label, x, y, Style::Dots)
            };
            Plot {
                title: title.into(),
                x_label: format!("reference {quantity}"),
                y_label: format!("predicted {quantity}"),
                equal_axes: true,
                series: vec![
                    cloud("train", train),
                    cloud("test", test),
                    Series::new("y = x", vec![lo, hi], vec![lo, hi], Style::Dashed),
                ],
                ..Default::default()
            }
            .to_svg()
        };
        let energy = parity("Energy parity", "energy (eV/atom)", train_e, test_e);
        let force = parity("Force parity", "force component (eV/Å)", train_f, test_f);
        crate::io::write_atomically(&directory.join("energy_parity.svg"), energy.as_bytes())?;
        crate::io::write_atomically(&directory.join("force_parity.svg"), force.as_bytes())?;
        Ok(())
    }
}

/// The mean training loss over a fixed set of structures as a function of all parameters. `last` keeps the
/// errors of the latest evaluation: after an accepted line-search step, those of the accepted point.
struct TrainingLoss<'a> {
    model: Model,
    data: &'a [StructureDescriptors],
    batch: &'a [usize],
    weights: LossWeights,
    last: &'a Cell<Errors>,
}

impl Objective for TrainingLoss<'_> {
    fn evaluate(&mut self, x: &[f64], gradient: &mut [f64]) -> anyhow::Result<f64> {
        self.model.set_parameters(x);
        let (errors, g) = self.model.batch_loss_gradient(self.data, self.batch, self.weights);
        gradient.copy_from_slice(&g);
        self.last.set(errors);
        Ok(errors.loss)
    }
}

fn describe_function(sf: &SymmetryFunction) -> String {
    format!(
        "type {}, eta {}, r_s {}, lambda {}, zeta {}, r_c {}",
        sf.kind.n2p2_type(),
        sf.eta,
        sf.rs,
        sf.lambda,
        sf.zeta,
        sf.rc
    )
}

/// Per-function scaling statistics over the atoms of the `train` structures (population σ, as n2p2). A function
/// with one value in every training atom has no scaling and is an error.
fn scaling_statistics(
    data: &[StructureDescriptors],
    train: &[usize],
    elements: &[u8],
    models: &[ElementModel],
) -> anyhow::Result<Vec<Vec<Statistics>>> {
    // Per function: (min, max, Σ G, Σ G², count).
    type Accumulator = (f64, f64, f64, f64, usize);
    let mut stats: Vec<Vec<Accumulator>> =
        models.iter().map(|m| vec![(f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0, 0); m.functions.len()]).collect();
    for &s in train {
        for atom in &data[s].atoms {
            for (st, &g) in stats[atom.element].iter_mut().zip(&atom.values) {
                st.0 = st.0.min(g);
                st.1 = st.1.max(g);
                st.2 += g;
                st.3 += g * g;
                st.4 += 1;
            }
        }
    }
    let mut statistics = Vec::new();
    for (e, list) in stats.iter().enumerate() {
        let mut out = Vec::new();
        for (k, &(min, max, sum, sum2, count)) in list.iter().enumerate() {
            if count == 0 {
                bail!("no training atom of element {}", elements::symbol(elements[e]));
            }
            let mean = sum / count as f64;
            let sigma = (sum2 / count as f64 - mean * mean).max(0.0).sqrt();
            if max - min <= 1e-12 * max.abs().max(1.0) {
                bail!(
                    "symmetry function {} of {} ({}) has the same value {min} in every training structure: its \
                     scaling is undefined; change the radial grid, η or cutoff (symmetry_functions)",
                    k + 1,
                    elements::symbol(elements[e]),
                    describe_function(&models[e].functions[k])
                );
            }
            out.push(Statistics { min, max, mean, sigma });
        }
        statistics.push(out);
    }
    Ok(statistics)
}

/// Replaces the template's networks, scaling and offsets by those of the trained potential in `directory`
/// (whose `input.nn` also gave the symmetry functions) after checking that its elements and network layout are
/// the template's; returns that potential's `input.nn` and `scaling.data` text, which the trained model keeps.
fn adopt_initial_model(directory: &Path, elements: &[u8], template: &mut Model) -> anyhow::Result<(String, String)> {
    let potential = NnpPotential::load_directory(directory, 1.0, 1.0)
        .with_context(|| format!("initial_model = \"{}\"", directory.display()))?;
    let found: Vec<u8> = potential.elements().iter().map(|m| m.atomic_number).collect();
    if found != elements {
        bail!(
            "initial_model = \"{}\": its elements {:?} are not those of the training data {:?}",
            directory.display(),
            found.iter().map(|&z| elements::symbol(z)).collect::<Vec<_>>(),
            elements.iter().map(|&z| elements::symbol(z)).collect::<Vec<_>>()
        );
    }
    let layout = |n: &crate::potentials::nnp::network::NeuralNetwork| -> Vec<(usize, usize, Activation)> {
        n.layers.iter().map(|l| (l.inputs, l.outputs, l.activation)).collect()
    };
    for (model, network) in potential.elements().iter().zip(&template.networks) {
        if layout(&model.network) != layout(network) {
            bail!(
                "initial_model = \"{}\": the {} network has layers {:?}, but network.hidden_layers and \
                 network.activation give {:?} (inputs, outputs, activation per layer)",
                directory.display(),
                elements::symbol(model.atomic_number),
                layout(&model.network),
                layout(network)
            );
        }
    }
    template.networks = potential.elements().iter().map(|m| m.network.clone()).collect();
    template.scaling = potential.elements().iter().map(|m| m.scaling.clone()).collect();
    template.offsets = potential.elements().iter().map(|m| m.energy_offset).collect();
    let read = |name: &str| {
        let path = directory.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    Ok((read("input.nn")?, read("scaling.data")?))
}

/// Number of symmetry functions per element declared in `directory/input.nn`.
fn count_functions(directory: &Path, elements: &[u8]) -> anyhow::Result<Vec<usize>> {
    let settings = crate::potentials::nnp::settings::Settings::read(&directory.join("input.nn"))?;
    let mut counts = vec![0; elements.len()];
    for entry in settings.all("symfunction_short") {
        let symbol = settings.argument(entry, 0)?;
        let z = elements::atomic_number(symbol).with_context(|| format!("input.nn: unknown element '{symbol}'"))?;
        let e = elements
            .iter()
            .position(|&x| x == z)
            .with_context(|| format!("input.nn line {}: element {symbol} is not in the training data", entry.line))?;
        counts[e] += 1;
    }
    if let Some(e) = counts.iter().position(|&c| c == 0) {
        bail!("no symmetry functions for element {}", elements::symbol(elements[e]));
    }
    Ok(counts)
}

/// Loads `directory` (input.nn, scaling.data) with zero weights written for every element.
fn load_with_zero_weights(directory: &Path, elements: &[u8], settings: &TrainSettings) -> anyhow::Result<NnpPotential> {
    let counts = count_functions(directory, elements)?;
    for (&z, &n) in elements.iter().zip(&counts) {
        let mut sizes = vec![n];
        sizes.extend(&settings.network.hidden_layers);
        sizes.push(1);
        let connections: usize = sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
        let text: String = "0.0\n".repeat(connections);
        crate::io::write_atomically(&directory.join(format!("weights.{z:03}.data")), text.as_bytes())?;
    }
    Ok(NnpPotential::load_directory(directory, 1.0, 1.0)?)
}

/// The lowest monitored loss of a training run so far, where it was reached (epoch, or epochs + L-BFGS
/// iteration) and its parameters.
/// The loss ratio, last over best, beyond which training is said to have diverged.
pub const DIVERGED_LOSS_RATIO: f64 = 100.0;

/// Describes a training that diverged: the last loss non-finite or [`DIVERGED_LOSS_RATIO`] times the best, or
/// no step at all better than the initial weights.
fn divergence(settings: &TrainSettings, best: &Best, initial: f64, last: f64, steps: usize) -> Option<String> {
    let diverged = !last.is_finite() || last > DIVERGED_LOSS_RATIO * best.loss;
    let stalled = steps > 0 && best.position == 0;
    (diverged || stalled).then(|| {
        format!(
            "the loss went from {initial:.4e} (initial weights) to {last:.4e} after {steps} epochs and iterations, \
             the best being {:.4e} at epoch {}: expected a smaller learning_rate than {:e}",
            best.loss, best.position, settings.learning_rate
        )
    })
}

struct Best {
    loss: f64,
    position: usize,
    parameters: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_outliers_flag_only_the_label_far_from_the_others() {
        let structure = |n: usize, energy: f64| {
            let mut system = System::new(Cell::orthorhombic(10.0, 10.0, 10.0).unwrap());
            for k in 0..n {
                system.push(29, Vector3::new(2.0 * k as f64, 0.0, 0.0));
            }
            LabelledStructure { system, energy, forces: vec![Vector3::zeros(); n] }
        };
        // −3.5 eV/atom with ±5 meV/atom of noise, one label 2 eV/atom too high.
        let mut structures: Vec<LabelledStructure> =
            (0..20).map(|k| structure(4, 4.0 * (-3.5 + 0.005 * ((k * 7 % 5) as f64 - 2.0)))).collect();
        structures[13].energy += 8.0;
        let origins: Vec<String> = (1..=20).map(|k| format!("d.xyz, structure {k}")).collect();
        let offsets = fit_atom_energies(&structures, &[29]);
        let warnings = label_outliers(&structures, &[29], &offsets, &origins);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("d.xyz, structure 14: energy -6.020000e0 eV is an outlier: +1.9950e0 eV/atom"),
            "{}",
            warnings[0]
        );
        structures[13].energy -= 8.0;
        assert!(label_outliers(&structures, &[29], &offsets, &origins).is_empty());
    }
    use crate::neighbors::NeighborList;
    use crate::potentials::Potential;
    use crate::system::{Cell, System};
    use nalgebra::Vector3;
    use rand::Rng;

    /// Rattled fcc cells (2×2×2 primitive-cubic: 32 atoms) of `z` with random labels: enough for
    /// checking derivatives, not for learning.
    fn random_structures(count: usize, species: &[u8], seed: u64) -> Vec<LabelledStructure> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let a = 3.6;
        (0..count)
            .map(|_| {
                let scale = rng.gen_range(0.97..1.03);
                let mut system =
                    System::new(Cell::orthorhombic(2.0 * a * scale, 2.0 * a * scale, 2.0 * a * scale).unwrap());
                for (i, j, k) in (0..2).flat_map(|i| (0..2).flat_map(move |j| (0..2).map(move |k| (i, j, k)))) {
                    for basis in [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]] {
                        let p = Vector3::new(i as f64 + basis[0], j as f64 + basis[1], k as f64 + basis[2]) * a * scale
                            + Vector3::new(
                                rng.gen_range(-0.1..0.1),
                                rng.gen_range(-0.1..0.1),
                                rng.gen_range(-0.1..0.1),
                            );
                        system.push(species[rng.gen_range(0..species.len())], p);
                    }
                }
                let n = system.len();
                LabelledStructure {
                    energy: -3.5 * n as f64 + rng.gen_range(-1.0..1.0),
                    forces: (0..n)
                        .map(|_| {
                            Vector3::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0))
                        })
                        .collect(),
                    system,
                }
            })
            .collect()
    }

    fn small_settings() -> TrainSettings {
        let text = r#"
            [[data]]
            file = "unused.xyz"
            [symmetry_functions]
            cutoff_a = 4.5
            radial_count = 4
            radial_r_min_a = 1.8
            angular_zeta = [1.0, 4.0]
            [network]
            hidden_layers = [5, 4]
        "#;
        let settings: TrainSettings = toml::from_str(text).unwrap();
        settings.validate("train").unwrap();
        settings
    }

    #[test]
    fn network_sizes_are_bounded_before_anything_is_allocated() {
        let network = |hidden_layers: Vec<usize>| NetworkSettings { hidden_layers, ..NetworkSettings::default() };
        assert!(network(vec![15, 15]).validate("network").is_ok());
        let err = network(vec![1_000_000_000]).validate("network").unwrap_err();
        assert_eq!(err.to_string(), "network.hidden_layers = [1000000000]: expected a list of 1 to 64 neuron counts, each from 1 to 100000 (the limits of input.nn)");
        assert!(network(vec![10; 65]).validate("network").is_err());
        assert!(network(vec![]).validate("network").is_err());
    }

    #[test]
    fn ternary_jacobians_store_only_non_zero_entries_in_at_most_three_runs_per_atom() {
        let dir = tempfile::tempdir().unwrap();
        let structures = random_structures(2, &[3, 8, 15], 9);
        let prepared = Prepared::new(&small_settings(), dir.path(), dir.path(), &structures).unwrap();
        let (mut stored, mut dense) = (0, 0);
        for atom in prepared.data.iter().flat_map(|s| &s.atoms) {
            assert!(atom.jacobian.runs_stored() <= 3 * atom.atoms.len(), "{} runs", atom.jacobian.runs_stored());
            stored += atom.jacobian.entries();
            dense += atom.values.len() * atom.atoms.len();
        }
        // Each pair function depends on one neighbour element in three, each angular one on two in three at most.
        assert!(stored < 3 * dense / 4, "{stored} of {dense} entries stored");
    }

    #[test]
    fn functions_constant_in_the_data_are_an_error_unless_an_initial_model_brings_the_scaling() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = small_settings();
        settings.epochs = 1;
        let varied = random_structures(4, &[29, 28], 7);
        let prepared = Prepared::new(&settings, dir.path(), dir.path(), &varied).unwrap();
        prepared.train_member(&settings, 1, &dir.path().join("model"), &mut Vec::new()).unwrap();
        // Perfect L1₂ Ni3Cu-like crystals: every atom of an element sees the same environment.
        let mut crystal = crate::system::fcc(29, 3.6, 2);
        crystal.atomic_numbers.iter_mut().step_by(4).for_each(|z| *z = 28);
        let n = crystal.len();
        let ordered = LabelledStructure { system: crystal, energy: -3.5 * n as f64, forces: vec![Vector3::zeros(); n] };
        let same = vec![ordered; 3];
        let e = format!("{:#}", Prepared::new(&settings, dir.path(), dir.path(), &same).err().unwrap());
        assert!(e.contains("has the same value"), "{e}");
        settings.initial_model = Some("model".into());
        let adopted = Prepared::new(&settings, dir.path(), dir.path(), &same).unwrap();
        assert_eq!(adopted.scaling_data, prepared.scaling_data);
    }

    #[test]
    fn loss_gradient_matches_finite_differences() {
        let dir = tempfile::tempdir().unwrap();
        let structures = random_structures(3, &[29, 28], 5);
        let settings = small_settings();
        let prepared = Prepared::new(&settings, dir.path(), dir.path(), &structures).unwrap();
        let mut model = prepared.template.clone();
        model.randomize(&mut Xoshiro256PlusPlus::seed_from_u64(3));
        let p0 = model.parameters();
        let batch = [0usize, 1, 2];
        for weights in [
            LossWeights { energy: 1.0, force: 0.0 },
            LossWeights { energy: 0.0, force: 1.0 },
            LossWeights { energy: 0.7, force: 0.3 },
        ] {
            let (_, analytic) = model.batch_loss_gradient(&prepared.data, &batch, weights);
            let mut checked = 0;
            for c in (0..p0.len()).step_by(7) {
                let h = 1e-5;
                let loss_at = |delta: f64| {
                    let mut p = p0.clone();
                    p[c] += delta;
                    let mut shifted = model.clone();
                    shifted.set_parameters(&p);
                    shifted.batch_loss_gradient(&prepared.data, &batch, weights).0.loss
                };
                let numeric = (loss_at(h) - loss_at(-h)) / (2.0 * h);
                let tolerance = 1e-6 * (1.0 + numeric.abs());
                assert!(
                    (numeric - analytic[c]).abs() < tolerance,
                    "{weights:?} parameter {c}: finite difference {numeric}, analytic {}",
                    analytic[c]
                );
                checked += 1;
            }
            assert!(checked > 20);
            assert!(analytic.iter().any(|g| g.abs() > 1e-3), "gradient is not trivially zero");
        }
    }

    #[test]
    fn written_potential_reloads_with_the_same_energies_and_forces() {
        let dir = tempfile::tempdir().unwrap();
        let structures = random_structures(4, &[29, 28], 9);
        let settings = small_settings();
        let prepared = Prepared::new(&settings, dir.path(), dir.path(), &structures).unwrap();
        let mut model = prepared.template.clone();
        model.randomize(&mut Xoshiro256PlusPlus::seed_from_u64(4));
        let out = dir.path().join("model");
        std::fs::create_dir_all(&out).unwrap();
        prepared.write_model(&model, &out).unwrap();
        let potential = NnpPotential::load(&NnpConfig::new(&out, 1.0, 1.0)).unwrap();
        for (s, structure) in structures.iter().enumerate() {
            let mut list = NeighborList::new(potential.cutoff(), 0.3);
            list.build(&structure.system).unwrap();
            let evaluation = potential.evaluation(&structure.system, &list);
            let (energy, forces) = model.predict(&prepared.data[s]);
            assert!((evaluation.energy - energy).abs() < 1e-12, "{} vs {energy}", evaluation.energy);
            let atom = model.atom_energies(&prepared.data[s]);
            for (a, b) in atom.iter().zip(&evaluation.atom_energies) {
                assert!((a - b).abs() < 1e-12);
            }
            // The trainer's Jacobians are single precision (dataset.rs), the evaluator's arithmetic is double.
            for (a, b) in forces.iter().zip(&evaluation.forces) {
                assert!((a - b).norm() < 1e-6 * (1.0 + b.norm()), "force {a:?} vs evaluator {b:?}");
            }
        }
    }

    #[test]
    fn gradient_and_descriptors_do_not_depend_on_the_thread_count() {
        let dir = tempfile::tempdir().unwrap();
        let structures = random_structures(6, &[29], 12);
        let settings = small_settings();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let prepared = Prepared::new(&settings, dir.path(), dir.path(), &structures).unwrap();
                let mut model = prepared.template.clone();
                model.randomize(&mut Xoshiro256PlusPlus::seed_from_u64(1));
                let batch: Vec<usize> = (0..6).collect();
                let (loss, gradient) =
                    model.batch_loss_gradient(&prepared.data, &batch, LossWeights { energy: 1.0, force: 1.0 });
                (prepared.data[3].atoms[5].jacobian.clone(), loss, gradient)
            })
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn n2p2_data_in_bohr_and_hartree_is_converted_to_angstrom_and_ev() {
        let dir = tempfile::tempdir().unwrap();
        let structure = random_structures(1, &[29], 4).remove(0);
        let bohr = crate::units::BOHR_IN_A;
        let hartree = crate::units::HARTREE_IN_EV;
        // The same structure expressed in Bohr and Hartree.
        let mut in_bohr = structure.system.clone();
        in_bohr.cell = Cell::from_matrix(structure.system.cell.matrix() / bohr, [true; 3]).unwrap();
        in_bohr.positions.iter_mut().for_each(|p| *p /= bohr);
        let forces: Vec<Vector3<f64>> = structure.forces.iter().map(|f| f * bohr / hartree).collect();
        let text = crate::io::n2p2::format(&in_bohr, "test", structure.energy / hartree, &forces);
        std::fs::write(dir.path().join("input.data"), text).unwrap();
        let settings: TrainSettings =
            toml::from_str("[[data]]\nfile = \"input.data\"\nlength_unit = \"bohr\"\nenergy_unit = \"hartree\"")
                .unwrap();
        settings.validate("").unwrap();
        let read = settings.read_data(dir.path()).unwrap().0.remove(0);
        assert!((read.energy - structure.energy).abs() < 1e-9);
        for (a, b) in read.system.positions.iter().zip(&structure.system.positions) {
            assert!((a - b).norm() < 1e-9);
        }
        for (a, b) in read.forces.iter().zip(&structure.forces) {
            assert!((a - b).norm() < 1e-9);
        }
        assert!((read.system.cell.volume() - structure.system.cell.volume()).abs() < 1e-6);
    }

    #[test]
    fn symmetry_functions_from_an_existing_input_nn_are_the_written_ones() {
        let dir = tempfile::tempdir().unwrap();
        let structures = random_structures(3, &[29, 28], 8);
        let generated = Prepared::new(&small_settings(), dir.path(), dir.path(), &structures).unwrap();
        std::fs::write(dir.path().join("given.nn"), &generated.input_nn).unwrap();
        let mut settings = small_settings();
        settings.symmetry_functions.input_nn = Some("given.nn".into());
        settings.symmetry_functions.cutoff_a = 1.0; // ignored when input_nn is given
        let from_file = Prepared::new(&settings, dir.path(), dir.path(), &structures).unwrap();
        assert_eq!(from_file.input_nn, generated.input_nn);
        assert_eq!(from_file.scaling_data, generated.scaling_data);
    }

    #[test]
    fn atom_energies_are_fitted_to_the_composition() {
        let mut structures = random_structures(6, &[29, 28], 2);
        for s in &mut structures {
            s.energy = s.system.atomic_numbers.iter().map(|&z| if z == 29 { -3.5 } else { -4.4 }).sum::<f64>();
        }
        let offsets = fit_atom_energies(&structures, &[28, 29]);
        assert!((offsets[0] + 4.4).abs() < 1e-9 && (offsets[1] + 3.5).abs() < 1e-9, "{offsets:?}");
    }

    #[test]
    fn invalid_settings_name_key_and_value() {
        let mut settings = small_settings();
        settings.network.activation = "x".into();
        let e = settings.validate("train").unwrap_err().to_string();
        assert_eq!(e, "train.network.activation = \"x\": expected an n2p2 activation letter: l t s p r g c S e h");
        let mut settings = small_settings();
        settings.test_fraction = 1.5;
        assert!(settings.validate("train").unwrap_err().to_string().starts_with("train.test_fraction = 1.5"));
        let mut settings = small_settings();
        settings.epochs = 0;
        let e = settings.validate("train").unwrap_err().to_string();
        assert_eq!(e, "train.epochs = 0: expected at least 1 epoch (or lbfgs_iterations > 0)");
        settings.lbfgs_iterations = 10;
        settings.validate("train").unwrap();
        settings.initial_model = Some("old".into());
        settings.symmetry_functions.input_nn = Some("input.nn".into());
        let e = settings.validate("train").unwrap_err().to_string();
        assert!(e.starts_with("train.symmetry_functions.input_nn = given together with initial_model"), "{e}");
        let bad: Result<TrainSettings, _> = toml::from_str("data = []\nepochz = 3");
        assert!(bad.unwrap_err().to_string().contains("epochz"));
    }
}

//! High-dimensional neural network potentials of Behler and Parrinello (Phys. Rev. Lett. 98, 146401
//! (2007)) in the n2p2/RuNNer file format (Singraber, Behler & Dellago, J. Chem. Theory Comput. 15, 1827
//! (2019)): E = Σ_i E_{Z_i}(G_i), one feed-forward network per element fed with the scaled atom-centred
//! symmetry functions G_i of the atom's neighbourhood.
//!
//! A potential directory holds `input.nn` (settings), `scaling.data` (symmetry-function statistics) and
//! `weights.NNN.data` (NNN = zero-padded atomic number). With normalisation (`mean_energy`,
//! `conv_energy`, `conv_length` all given) the network output y is in normalised units and
//! E_i = y/conv_energy + mean_energy (+ `atom_energy` offset of the element), in the potential's energy
//! unit; symmetry-function parameters in `input.nn` are in the potential's length unit. Units are
//! converted to Å and eV once, at load time (`length_unit`, `energy_unit`).
//!
//! Pieces (shared with training): [`settings`] (input.nn), [`cutoff`], [`symmetry_functions`] (+ groups),
//! [`descriptor`] (gather, values, derivatives and extrapolation check of a structure's symmetry functions),
//! [`scaling`], [`network`].

pub mod cutoff;
pub mod descriptor;
pub mod network;
pub mod scaling;
pub mod settings;
pub mod symmetry_functions;

use crate::input::InvalidValue;
use crate::neighbors::NeighborList;
use crate::potentials::{Evaluation, EvaluationResult, Extrapolation, ExtrapolationEvent, Potential, PotentialConfig};
use crate::system::{elements, System};
use crate::units::{BOHR_IN_A, HARTREE_IN_EV, KCAL_PER_MOL_IN_EV, KJ_PER_MOL_IN_EV, RYDBERG_IN_EV};
use cutoff::CutoffType;
use nalgebra::{Matrix3, Vector3};
use network::{Activation, NetworkScratch, NeuralNetwork};
use rayon::prelude::*;
use scaling::{Scaling, ScalingType};
use serde::Deserialize;
use settings::Settings;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use symmetry_functions::{build_groups, Group, SymmetryFunction};

pub use descriptor::{Descriptor, DescriptorScratch};

/// Absolute tolerance of the extrapolation check, as n2p2 (1000 machine epsilons): a value counts as
/// extrapolation when G + tol < G_min or G − tol > G_max, so round-off at the boundaries is not reported.
pub const EXTRAPOLATION_TOLERANCE: f64 = 1000.0 * f64::EPSILON;

/// How many extrapolation events are kept per evaluation (all are counted).
pub const MAX_EXTRAPOLATION_EVENTS: usize = 10;

/// A problem loading an n2p2 potential; always names the file (and line where there is one).
#[derive(Debug, thiserror::Error)]
pub enum NnpError {
    #[error("{path}: cannot open: {reason}", path = .path.display())]
    Open { path: PathBuf, reason: std::io::Error },
    #[error("{path}, line {line}: {message}", path = .path.display())]
    Syntax { path: PathBuf, line: usize, message: String },
    #[error("{path}: {message}", path = .path.display())]
    Format { path: PathBuf, message: String },
    #[error("{0}")]
    Config(String),
}

impl NnpError {
    pub(crate) fn open(path: &Path, source: std::io::Error) -> NnpError {
        NnpError::Open { path: path.to_path_buf(), reason: source }
    }

    pub(crate) fn format(path: &Path, message: String) -> NnpError {
        NnpError::Format { path: path.to_path_buf(), message }
    }

    pub(crate) fn syntax(path: &Path, line: usize, message: String) -> NnpError {
        NnpError::Syntax { path: path.to_path_buf(), line, message }
    }
}

/// A unit given by name or as its size in Å (lengths) or eV (energies).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum UnitValue {
    Number(f64),
    Name(String),
}

/// `[potential]` settings for `kind = "nnp"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NnpConfig {
    /// Directory with `input.nn`, `scaling.data` and `weights.NNN.data`.
    pub directory: PathBuf,
    /// Length unit of the potential: `"angstrom"` (default), `"bohr"`, `"nm"`, or the unit's size in Å.
    #[serde(default)]
    pub length_unit: Option<UnitValue>,
    /// Energy unit of the potential: `"ev"` (default), `"hartree"`, `"rydberg"`, `"kcal/mol"`,
    /// `"kj/mol"`, `"mev"`, or the unit's size in eV.
    #[serde(default)]
    pub energy_unit: Option<UnitValue>,
}

impl PotentialConfig for NnpConfig {
    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        NnpConfig::validate(self, key)
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.directory = base.join(&self.directory);
    }

    /// The files the potential is read from: `input.nn`, `scaling.data` and every `weights.*.data`, sorted.
    fn files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.directory) else { return Vec::new() };
        let is_read = |name: &str| {
            name == "input.nn" || name == "scaling.data" || (name.starts_with("weights.") && name.ends_with(".data"))
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(is_read))
            .collect();
        files.sort();
        files
    }

    /// The network's `length_unit`: its `input.data` files are in it.
    fn data_length_unit_a(&self) -> Option<f64> {
        self.length_unit_a("potential").ok()
    }

    fn build(&self, _key: &str) -> anyhow::Result<Arc<dyn Potential>> {
        Ok(Arc::new(NnpPotential::load(self)?))
    }
}

impl NnpConfig {
    /// A configuration for `directory` with the potential's units given in Å and eV.
    pub fn new(directory: impl Into<PathBuf>, length_unit_a: f64, energy_unit_ev: f64) -> NnpConfig {
        NnpConfig {
            directory: directory.into(),
            length_unit: Some(UnitValue::Number(length_unit_a)),
            energy_unit: Some(UnitValue::Number(energy_unit_ev)),
        }
    }

    /// Size of the potential's length unit in Å.
    pub fn length_unit_a(&self, key: &str) -> Result<f64, crate::input::InvalidValue> {
        unit_size(
            key,
            "length_unit",
            self.length_unit.as_ref(),
            &[("angstrom", 1.0), ("a", 1.0), ("bohr", BOHR_IN_A), ("nm", 10.0)],
        )
    }

    /// Size of the potential's energy unit in eV.
    pub fn energy_unit_ev(&self, key: &str) -> Result<f64, crate::input::InvalidValue> {
        unit_size(
            key,
            "energy_unit",
            self.energy_unit.as_ref(),
            &[
                ("ev", 1.0),
                ("mev", 1e-3),
                ("hartree", HARTREE_IN_EV),
                ("ha", HARTREE_IN_EV),
                ("rydberg", RYDBERG_IN_EV),
                ("ry", RYDBERG_IN_EV),
                ("kcal/mol", KCAL_PER_MOL_IN_EV),
                ("kj/mol", KJ_PER_MOL_IN_EV),
            ],
        )
    }

    /// Checks the settings; `key` is the table prefix, e.g. `potential`.
    pub fn validate(&self, key: &str) -> Result<(), crate::input::InvalidValue> {
        if self.directory.as_os_str().is_empty() {
            return Err(crate::input::InvalidValue::new(
                crate::input::join(key, "directory"),
                "\"\"",
                "a directory holding input.nn, scaling.data and weights.NNN.data",
            ));
        }
        self.length_unit_a(key)?;
        self.energy_unit_ev(key)?;
        Ok(())
    }
}

fn unit_size(
    prefix: &str,
    key: &str,
    value: Option<&UnitValue>,
    names: &[(&str, f64)],
) -> Result<f64, crate::input::InvalidValue> {
    let known = names.iter().map(|(n, _)| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    match value {
        None => Ok(1.0),
        Some(UnitValue::Number(x)) if x.is_finite() && *x > 0.0 => Ok(*x),
        Some(UnitValue::Number(x)) => Err(crate::input::InvalidValue::new(
            crate::input::join(prefix, key),
            x,
            format!("a positive number or one of {known}"),
        )),
        Some(UnitValue::Name(name)) => {
            names.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.trim())).map(|(_, v)| *v).ok_or_else(|| {
                crate::input::InvalidValue::new(
                    crate::input::join(prefix, key),
                    format!("\"{name}\""),
                    format!("a positive number or one of {known}"),
                )
            })
        }
    }
}

/// Everything the potential knows about one element.
#[derive(Clone, Debug)]
pub struct ElementModel {
    pub atomic_number: u8,
    /// Symmetry functions in n2p2's sorted order (Å).
    pub functions: Vec<SymmetryFunction>,
    pub groups: Vec<Group>,
    pub scaling: Vec<Scaling>,
    pub network: NeuralNetwork,
    /// `atom_energy` offset in the potential's energy unit.
    pub energy_offset: f64,
}

/// A Behler–Parrinello neural network potential read from an n2p2 directory.
#[derive(Clone, Debug)]
pub struct NnpPotential {
    elements: Vec<ElementModel>,
    /// Element index by atomic number (`usize::MAX` when absent).
    index_of: Vec<usize>,
    cutoff: f64,
    /// Size of the potential's energy unit in eV.
    energy_unit: f64,
    /// Size of the potential's length unit in Å.
    length_unit: f64,
    /// Network output → potential energy unit: 1/conv_energy (1 without normalisation).
    output_scale: f64,
    /// mean_energy (potential energy unit; 0 without normalisation).
    mean_energy: f64,
    cutoff_type: CutoffType,
    cutoff_alpha: f64,
}

/// Everything one atom contributes to an evaluation.
struct AtomResult {
    /// E_i (eV).
    energy: f64,
    /// ∂E_i/∂d_ij for every neighbour entry (neighbour atom, gradient in eV/Å).
    gradient: Vec<(u32, [f64; 3])>,
    /// −Σ_j d_ij ⊗ ∂E_i/∂d_ij (eV).
    virial: Matrix3<f64>,
    extrapolations: usize,
    events: Vec<ExtrapolationEvent>,
    /// Seconds spent in symmetry functions, network and gradient (only when timing).
    seconds: [f64; 3],
}

/// Per-thread work space.
#[derive(Default)]
struct Scratch {
    descriptor: DescriptorScratch,
    network: NetworkScratch,
}

/// Time per atom of each phase of one evaluation (µs), as measured by [`NnpPotential::bench_phases`].
#[derive(Clone, Debug, Default, serde::Serialize, PartialEq)]
pub struct NnpPhaseTimes {
    pub atoms: usize,
    pub threads: usize,
    pub repetitions: usize,
    pub neighbor_list_us_per_atom: f64,
    pub symmetry_functions_us_per_atom: f64,
    pub network_us_per_atom: f64,
    pub forces_us_per_atom: f64,
    /// Serial part of the forces phase: summing per-atom gradients into forces and virial in atom order.
    pub serial_assembly_us_per_atom: f64,
    /// Sum of the three potential phases (without the neighbour list).
    pub total_us_per_atom: f64,
}

impl NnpPotential {
    /// Loads the potential in `config.directory`, converting to Å and eV.
    pub fn load(config: &NnpConfig) -> Result<NnpPotential, NnpError> {
        let length_unit = config.length_unit_a("potential").map_err(|e| NnpError::Config(e.to_string()))?;
        let energy_unit = config.energy_unit_ev("potential").map_err(|e| NnpError::Config(e.to_string()))?;
        NnpPotential::load_directory(&config.directory, length_unit, energy_unit)
    }

    /// Loads the potential in `directory`, whose length unit is `length_unit` Å and energy unit
    /// `energy_unit` eV.
    pub fn load_directory(directory: &Path, length_unit: f64, energy_unit: f64) -> Result<NnpPotential, NnpError> {
        let settings = Settings::read(&directory.join("input.nn"))?;
        let atomic_numbers = read_elements(&settings)?;
        let (mean_energy, conv_energy) = read_normalization(&settings)?;
        let offsets = read_atom_energies(&settings, &atomic_numbers)?;
        let (cutoff_type, cutoff_alpha) = read_cutoff_function(&settings)?;
        let functions = read_symmetry_functions(&settings, &atomic_numbers, length_unit)?;
        let counts: Vec<usize> = functions.iter().map(Vec::len).collect();
        let scalings = read_scalings(&settings, &directory.join("scaling.data"), &counts)?;
        let (layout, activations) = read_architecture(&settings, &atomic_numbers, &counts)?;
        let normalize_nodes = settings.has("normalize_nodes");

        let mut models = Vec::with_capacity(atomic_numbers.len());
        let mut cutoff: f64 = 0.0;
        for (e, ((list, scaling), sizes)) in functions.into_iter().zip(scalings).zip(layout).enumerate() {
            let z = atomic_numbers[e];
            let mut network = NeuralNetwork::new(&sizes, &activations, normalize_nodes);
            network.read_weights(&directory.join(format!("weights.{z:03}.data")))?;
            cutoff = list.iter().fold(cutoff, |c, sf| c.max(sf.rc));
            let groups = build_groups(&list, cutoff_type, cutoff_alpha);
            models.push(ElementModel {
                atomic_number: z,
                functions: list,
                groups,
                scaling,
                network,
                energy_offset: offsets[e],
            });
        }
        let mut index_of = vec![usize::MAX; 256];
        for (e, &z) in atomic_numbers.iter().enumerate() {
            index_of[z as usize] = e;
        }
        Ok(NnpPotential {
            elements: models,
            index_of,
            cutoff,
            energy_unit,
            length_unit,
            output_scale: 1.0 / conv_energy,
            mean_energy,
            cutoff_type,
            cutoff_alpha,
        })
    }

    /// The element models, in increasing atomic number.
    pub fn elements(&self) -> &[ElementModel] {
        &self.elements
    }

    /// Size of the potential's length unit (Å) and energy unit (eV).
    pub fn units(&self) -> (f64, f64) {
        (self.length_unit, self.energy_unit)
    }

    /// Cutoff function type and inner-cutoff parameter α.
    pub fn cutoff_function(&self) -> (CutoffType, f64) {
        (self.cutoff_type, self.cutoff_alpha)
    }

    /// The symmetry-function descriptor of this potential (element models and cutoff).
    pub fn descriptor(&self) -> Descriptor<'_> {
        Descriptor::new(&self.elements, &self.index_of, self.cutoff)
    }

    fn element_of(&self, z: u8) -> usize {
        self.descriptor().element_of(z)
    }

    /// Energy, gradient and extrapolation record of atom i.
    fn atom(
        &self,
        descriptor: &Descriptor,
        system: &System,
        neighbors: &NeighborList,
        i: usize,
        scratch: &mut Scratch,
        timed: bool,
    ) -> AtomResult {
        let clock = || if timed { Some(Instant::now()) } else { None };
        let t0 = clock();
        let element = descriptor.atom_values(system, neighbors, i, &mut scratch.descriptor);
        let model = &self.elements[element];
        let mut events = Vec::new();
        let extrapolations = descriptor.extrapolations(element, i, scratch.descriptor.values(), &mut events);
        let t1 = clock();

        // Network: scaled input → E_i and ∂E_i/∂G (eV per unit of raw G).
        let values = scratch.descriptor.values_mut();
        for (v, s) in values.iter_mut().zip(&model.scaling) {
            *v = s.apply(*v);
        }
        let mut weights = vec![0.0; values.len()];
        let output = model.network.evaluate(values, &mut weights, &mut scratch.network);
        let to_ev = self.output_scale * self.energy_unit;
        for (w, s) in weights.iter_mut().zip(&model.scaling) {
            *w *= s.factor * to_ev;
        }
        let energy = (output * self.output_scale + self.mean_energy + model.energy_offset) * self.energy_unit;
        let t2 = clock();

        // Gradient pass over the pair data kept by the descriptor pass.
        descriptor.atom_gradient(element, &weights, &mut scratch.descriptor);
        let s = &scratch.descriptor;
        let mut virial = Matrix3::zeros();
        let mut gradient = Vec::with_capacity(s.gradient().len());
        for ((g, d), &j) in s.gradient().iter().zip(s.displacements()).zip(s.neighbor_atoms()) {
            for a in 0..3 {
                for b in 0..3 {
                    virial[(a, b)] -= d[a] * g[b];
                }
            }
            gradient.push((j, *g));
        }
        let t3 = clock();
        let seconds = match (t0, t1, t2, t3) {
            (Some(t0), Some(t1), Some(t2), Some(t3)) => {
                [(t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64(), (t3 - t2).as_secs_f64()]
            }
            _ => [0.0; 3],
        };
        AtomResult { energy, gradient, virial, extrapolations, events, seconds }
    }

    /// One evaluation; with `times`, adds wall-clock seconds per phase (symmetry functions, network,
    /// forces), splitting the parallel part in proportion to the time threads spent in each phase.
    /// Energy, forces, virial, per-atom energies and extrapolation report: what [`Potential::compute`] returns,
    /// for callers that hold the network itself (training, committees), for which evaluation cannot fail.
    pub fn evaluation(&self, system: &System, neighbors: &NeighborList) -> Evaluation {
        self.evaluate_timed(system, neighbors, None)
    }

    fn evaluate_timed(&self, system: &System, neighbors: &NeighborList, times: Option<&mut [f64; 4]>) -> Evaluation {
        let n = system.len();
        let timed = times.is_some();
        let descriptor = self.descriptor();
        let start = Instant::now();
        let results: Vec<AtomResult> = (0..n)
            .into_par_iter()
            .map_init(Scratch::default, |scratch, i| self.atom(&descriptor, system, neighbors, i, scratch, timed))
            .collect();
        let parallel = start.elapsed().as_secs_f64();
        let mut forces = vec![Vector3::zeros(); n];
        let mut virial = Matrix3::zeros();
        let mut counts: Vec<(u8, usize)> = self.elements.iter().map(|m| (m.atomic_number, 0)).collect();
        let mut first = Vec::new();
        for (i, result) in results.iter().enumerate() {
            for &(j, g) in &result.gradient {
                let g = Vector3::new(g[0], g[1], g[2]);
                forces[i] += g;
                forces[j as usize] -= g;
            }
            virial += result.virial;
            if result.extrapolations > 0 {
                counts[self.element_of(system.atomic_numbers[i])].1 += result.extrapolations;
                let room = MAX_EXTRAPOLATION_EVENTS - first.len();
                first.extend(result.events.iter().take(room).cloned());
            }
        }
        if let Some(times) = times {
            let assembly = start.elapsed().as_secs_f64() - parallel;
            let mut busy = [0.0; 3];
            for r in &results {
                for k in 0..3 {
                    busy[k] += r.seconds[k];
                }
            }
            let total: f64 = busy.iter().sum::<f64>().max(f64::MIN_POSITIVE);
            for k in 0..3 {
                times[k] += parallel * busy[k] / total;
            }
            times[2] += assembly;
            times[3] += assembly;
        }
        Evaluation {
            energy: results.iter().map(|r| r.energy).sum(),
            forces,
            virial,
            has_virial: true,
            atom_energies: results.iter().map(|r| r.energy).collect(),
            extrapolation: Some(Extrapolation { counts, first }),
        }
    }

    /// Raw (unscaled) symmetry-function values of every atom, in each element's sorted order.
    pub fn symmetry_functions(&self, system: &System, neighbors: &NeighborList) -> Vec<Vec<f64>> {
        self.descriptor().values(system, neighbors)
    }

    /// Measures one energy+force evaluation of `system` by phase, best of `repetitions`, on the current
    /// rayon pool (set `RAYON_NUM_THREADS` or install a pool to choose the thread count).
    pub fn bench_phases(&self, system: &System, repetitions: usize) -> NnpPhaseTimes {
        let repetitions = repetitions.max(1);
        let mut best = [f64::INFINITY; 5];
        let mut neighbors = NeighborList::new(self.cutoff, 0.0);
        for _ in 0..repetitions {
            let start = Instant::now();
            neighbors.build(system).expect("benchmark systems are small");
            let list_time = start.elapsed().as_secs_f64();
            let mut times = [0.0; 4];
            std::hint::black_box(self.evaluate_timed(system, &neighbors, Some(&mut times)));
            best[0] = best[0].min(list_time);
            for k in 0..4 {
                best[k + 1] = best[k + 1].min(times[k]);
            }
        }
        let per_atom = |t: f64| t * 1e6 / system.len().max(1) as f64;
        NnpPhaseTimes {
            atoms: system.len(),
            threads: rayon::current_num_threads(),
            repetitions,
            neighbor_list_us_per_atom: per_atom(best[0]),
            symmetry_functions_us_per_atom: per_atom(best[1]),
            network_us_per_atom: per_atom(best[2]),
            forces_us_per_atom: per_atom(best[3]),
            serial_assembly_us_per_atom: per_atom(best[4]),
            total_us_per_atom: per_atom(best[1] + best[2] + best[3]),
        }
    }
}

/// `elements` of input.nn, checked against `number_of_elements`, sorted by atomic number (n2p2's ElementMap).
fn read_elements(settings: &Settings) -> Result<Vec<u8>, NnpError> {
    let path = &settings.path;
    let elements_entry = settings.require("elements")?;
    let mut atomic_numbers = Vec::new();
    for symbol in &elements_entry.arguments {
        let z = elements::atomic_number(symbol).ok_or_else(|| {
            NnpError::syntax(path, elements_entry.line, format!("elements: unknown element '{symbol}'"))
        })?;
        if atomic_numbers.contains(&z) {
            return Err(NnpError::syntax(path, elements_entry.line, format!("elements: '{symbol}' given twice")));
        }
        atomic_numbers.push(z);
    }
    atomic_numbers.sort_unstable();
    let number_entry = settings.require("number_of_elements")?;
    let declared = settings.integer(number_entry, 0)?;
    if declared != atomic_numbers.len() || declared == 0 {
        return Err(NnpError::syntax(
            path,
            number_entry.line,
            format!("number_of_elements = {declared}, but 'elements' lists {}", atomic_numbers.len()),
        ));
    }
    Ok(atomic_numbers)
}

/// Index of `symbol` among the sorted `atomic_numbers`, when it is an element of the potential.
fn element_index(atomic_numbers: &[u8], symbol: &str) -> Option<usize> {
    let z = elements::atomic_number(symbol)?;
    atomic_numbers.iter().position(|&x| x == z)
}

/// (`mean_energy`, `conv_energy`) of n2p2's normalisation, or (0, 1) without one; all three keys or none.
fn read_normalization(settings: &Settings) -> Result<(f64, f64), NnpError> {
    let path = &settings.path;
    let normalization: Vec<Option<&settings::Entry>> =
        ["mean_energy", "conv_energy", "conv_length"].iter().map(|k| settings.get(k)).collect();
    let (mean_energy, conv_energy) = match normalization.as_slice() {
        [Some(m), Some(e), Some(_)] => (settings.number(m, 0)?, settings.number(e, 0)?),
        [None, None, None] => (0.0, 1.0),
        _ => {
            return Err(NnpError::format(
                path,
                "use all or none of 'mean_energy', 'conv_energy' and 'conv_length'".into(),
            ))
        }
    };
    if conv_energy == 0.0 {
        return Err(NnpError::format(path, "conv_energy must not be zero".into()));
    }
    Ok((mean_energy, conv_energy))
}

/// The `atom_energy` offset of every element (0 where none is given), in the file's energy unit.
fn read_atom_energies(settings: &Settings, atomic_numbers: &[u8]) -> Result<Vec<f64>, NnpError> {
    let mut offsets = vec![0.0; atomic_numbers.len()];
    for entry in settings.all("atom_energy") {
        let symbol = settings.argument(entry, 0)?;
        let e = element_index(atomic_numbers, symbol).ok_or_else(|| {
            NnpError::syntax(
                &settings.path,
                entry.line,
                format!("atom_energy: element '{symbol}' is not in 'elements'"),
            )
        })?;
        offsets[e] = settings.number(entry, 1)?;
    }
    Ok(offsets)
}

/// `cutoff_type` and its optional alpha (0 ≤ alpha < 1, default 0).
fn read_cutoff_function(settings: &Settings) -> Result<(CutoffType, f64), NnpError> {
    let path = &settings.path;
    let cutoff_entry = settings.require("cutoff_type")?;
    let code = settings.integer(cutoff_entry, 0)?;
    let cutoff_type = CutoffType::from_code(code as i64).ok_or_else(|| {
        NnpError::syntax(path, cutoff_entry.line, format!("cutoff_type {code} is unknown (expected 0 to 8)"))
    })?;
    let cutoff_alpha = if cutoff_entry.arguments.len() > 1 { settings.number(cutoff_entry, 1)? } else { 0.0 };
    if !(0.0..1.0).contains(&cutoff_alpha) {
        return Err(NnpError::syntax(
            path,
            cutoff_entry.line,
            format!("cutoff_type: alpha = {cutoff_alpha}, expected 0 <= alpha < 1"),
        ));
    }
    Ok((cutoff_type, cutoff_alpha))
}

/// The `symfunction_short` lines of every element, lengths scaled to Å, sorted as n2p2 sorts them; every element
/// needs at least one.
fn read_symmetry_functions(
    settings: &Settings,
    atomic_numbers: &[u8],
    length_unit: f64,
) -> Result<Vec<Vec<SymmetryFunction>>, NnpError> {
    let path = &settings.path;
    let index = |symbol: &str| element_index(atomic_numbers, symbol);
    let mut functions: Vec<Vec<SymmetryFunction>> = vec![Vec::new(); atomic_numbers.len()];
    for entry in settings.all("symfunction_short") {
        let mut sf = SymmetryFunction::parse(path, entry.line, &entry.arguments, &index)?;
        sf.scale_lengths(length_unit);
        functions[sf.ec].push(sf);
    }
    for (e, list) in functions.iter_mut().enumerate() {
        if list.is_empty() {
            return Err(NnpError::format(
                path,
                format!("element {} has no symfunction_short line", elements::symbol(atomic_numbers[e])),
            ));
        }
        list.sort_by(|a, b| a.n2p2_order(b));
    }
    Ok(functions)
}

/// The symmetry-function scalings of `scaling_file` (`counts` functions per element), with the type and range of
/// input.nn (`scale_min_short`/`scale_max_short`, default 0 and 1).
fn read_scalings(settings: &Settings, scaling_file: &Path, counts: &[usize]) -> Result<Vec<Vec<Scaling>>, NnpError> {
    let scaling_type = ScalingType::from_settings(settings);
    let s_min = match settings.get("scale_min_short") {
        Some(entry) => settings.number(entry, 0)?,
        None => 0.0,
    };
    let s_max = match settings.get("scale_max_short") {
        Some(entry) => settings.number(entry, 0)?,
        None => 1.0,
    };
    scaling::read_scaling(scaling_file, scaling_type, s_min, s_max, counts)
}

/// Most hidden layers and most neurons per hidden layer read from `input.nn` (n2p2 networks have 2–4 layers of
/// 10–100 neurons): sizes from a file are bounded before the weights are allocated.
pub const MAX_HIDDEN_LAYERS: usize = 64;
pub const MAX_NODES_PER_LAYER: usize = 100_000;

/// Layer sizes of every element's network (inputs, hidden layers with `element_nodes_short` overrides, one
/// output) and the activations of its layers; n2p2's output neuron is always linear.
fn read_architecture(
    settings: &Settings,
    atomic_numbers: &[u8],
    counts: &[usize],
) -> Result<(Vec<Vec<usize>>, Vec<Activation>), NnpError> {
    let path = &settings.path;
    let layers_entry = settings.require("global_hidden_layers_short")?;
    let hidden = settings.bounded_integer(layers_entry, 0, MAX_HIDDEN_LAYERS)?;
    let nodes_entry = settings.require("global_nodes_short")?;
    let activation_entry = settings.require("global_activation_short")?;
    let mut nodes = Vec::with_capacity(hidden);
    let mut activations = Vec::with_capacity(hidden + 1);
    for l in 0..hidden {
        nodes.push(settings.bounded_integer(nodes_entry, l, MAX_NODES_PER_LAYER)?);
        let letter = settings.argument(activation_entry, l)?;
        activations.push(Activation::from_letter(letter).ok_or_else(|| {
            NnpError::syntax(
                path,
                activation_entry.line,
                format!("global_activation_short: unknown activation '{letter}' (expected l t s p r g c S e h)"),
            )
        })?);
    }
    activations.push(Activation::Identity);
    let mut layout: Vec<Vec<usize>> = counts.iter().map(|&n| [vec![n], nodes.clone(), vec![1]].concat()).collect();
    for entry in settings.all("element_nodes_short") {
        let symbol = settings.argument(entry, 0)?;
        let e = element_index(atomic_numbers, symbol).ok_or_else(|| {
            NnpError::syntax(path, entry.line, format!("element_nodes_short: element '{symbol}' is not in 'elements'"))
        })?;
        let layer = settings.integer(entry, 1)?;
        if layer == 0 || layer > hidden {
            return Err(NnpError::syntax(
                path,
                entry.line,
                format!("element_nodes_short: layer {layer} is not a hidden layer (1 to {hidden})"),
            ));
        }
        layout[e][layer] = settings.bounded_integer(entry, 2, MAX_NODES_PER_LAYER)?;
    }
    Ok((layout, activations))
}

impl Potential for NnpPotential {
    fn name(&self) -> &str {
        "nnp"
    }

    fn cutoff(&self) -> f64 {
        self.cutoff
    }

    fn species(&self) -> Vec<u8> {
        self.elements.iter().map(|m| m.atomic_number).collect()
    }

    fn compute(&self, system: &System, neighbors: &NeighborList) -> EvaluationResult {
        Ok(self.evaluation(system, neighbors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::potentials::testing::{evaluate, max_force_error, max_virial_error};
    use crate::system::Cell;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;
    use std::fmt::Write as _;

    /// Symmetry-function lines (after the central element) covering every supported type.
    const FUNCTIONS: [&str; 15] = [
        "2 O 0.5 1.0 4.0",
        "2 Li 0.3 0.0 4.0",
        "3 Li O 0.1 1.0 2.0 4.0",
        "3 O O 0.05 -1.0 1.0 4.0 0.5",
        "9 Li Li 0.1 1.0 1.5 4.0",
        "12 0.2 0.5 4.0",
        "13 0.1 0.3 1.0 3.0 4.0",
        "20 O -4.0 4.0 p2",
        "20 Li 0.5 3.5 p3a",
        "21 Li O -4.0 4.0 -90.0 90.0 p2",
        "22 O O 0.0 4.0 60.0 180.0 p4a",
        "22 Li O 0.0 4.0 0.0 120.0 e",
        "23 0.5 3.5 p2",
        "24 -4.0 4.0 0.0 120.0 p3",
        "25 0.0 4.0 -90.0 90.0 p2a",
    ];

    /// Writes a Li–O potential using every symmetry-function type, normalisation, offsets,
    /// `element_nodes_short` and `normalize_nodes`, with random weights.
    fn synthetic_potential(dir: &Path, cutoff_type: u32) {
        let mut input = format!(
            "number_of_elements 2\nelements O Li\ncutoff_type {cutoff_type} 0.1\nscale_symmetry_functions\n\
             center_symmetry_functions\nscale_min_short -1.0\nscale_max_short 1.0\nmean_energy -1.5\n\
             conv_energy 2.0\nconv_length 1.3\natom_energy Li -0.3\natom_energy O -2.0\n\
             global_hidden_layers_short 2\nglobal_nodes_short 5 4\nglobal_activation_short t p l\n\
             element_nodes_short O 2 3\nnormalize_nodes\nepochs 10 # training keyword, ignored\n"
        );
        for element in ["Li", "O"] {
            for f in FUNCTIONS {
                writeln!(input, "symfunction_short {element} {f}").unwrap();
            }
        }
        std::fs::write(dir.join("input.nn"), input).unwrap();
        let mut scaling = String::from("# scaling\n");
        for e in 1..=2 {
            for f in 1..=FUNCTIONS.len() {
                writeln!(scaling, "{e} {f} 0.0 10.0 1.0 2.0").unwrap();
            }
        }
        std::fs::write(dir.join("scaling.data"), scaling).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        for (z, second) in [(3, 4), (8, 3)] {
            let n = FUNCTIONS.len();
            let count = n * 5 + 5 + 5 * second + second + second + 1;
            let mut weights = String::from("# weights\n");
            for _ in 0..count {
                writeln!(weights, "{:.17e} a 1 2 3 4", rng.gen_range(-1.0..1.0)).unwrap();
            }
            std::fs::write(dir.join(format!("weights.{z:03}.data")), weights).unwrap();
        }
    }

    fn random_system(cell: Cell, count: usize, seed: u64) -> System {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut system = System::new(cell);
        while system.len() < count {
            let s = Vector3::new(rng.gen_range(0.0..1.0), rng.gen_range(0.0..1.0), rng.gen_range(0.0..1.0));
            let r = if system.cell.is_infinite() { s * 4.0 } else { system.cell.cartesian(&s) };
            let far = (0..system.len()).all(|j| {
                let d = if system.cell.is_infinite() {
                    system.positions[j] - r
                } else {
                    system.cell.minimum_image(&(system.positions[j] - r))
                };
                d.norm() > 1.3
            });
            if far {
                system.push(if system.len() % 2 == 0 { 3 } else { 8 }, r);
            }
        }
        system
    }

    #[test]
    fn forces_and_virial_match_finite_differences_for_every_type() {
        for cutoff_type in [1, 2, 6] {
            let dir = tempfile::tempdir().unwrap();
            synthetic_potential(dir.path(), cutoff_type);
            let potential = NnpPotential::load_directory(dir.path(), 1.0, 1.0).unwrap();
            assert_eq!(potential.species(), vec![3, 8]);
            assert_eq!(potential.cutoff(), 4.0);
            // Triclinic cell narrower than the cutoff: atoms see several images of each other and themselves.
            let cell = Cell::from_vectors(
                Vector3::new(4.6, 0.0, 0.0),
                Vector3::new(1.1, 4.4, 0.0),
                Vector3::new(-0.7, 0.5, 4.9),
            )
            .unwrap();
            let system = random_system(cell, 6, 5);
            let e = evaluate(&potential, &system);
            assert!(e.max_force() > 1e-3, "forces must not vanish for the test to mean anything");
            let force_error = max_force_error(&potential, &system, 1e-5);
            assert!(force_error < 1e-7 * (1.0 + e.max_force()), "cutoff {cutoff_type}: force error {force_error}");
            let virial_error = max_virial_error(&potential, &system, 1e-6);
            assert!(
                virial_error < 1e-6 * (1.0 + e.virial.abs().max()),
                "cutoff {cutoff_type}: virial error {virial_error}"
            );
            let sum: f64 = e.atom_energies.iter().sum();
            assert!((sum - e.energy).abs() < 1e-12 * e.energy.abs().max(1.0));
            // Non-periodic cluster.
            let cluster = random_system(Cell::infinite(), 7, 9);
            let error = max_force_error(&potential, &cluster, 1e-5);
            assert!(error < 1e-7 * (1.0 + evaluate(&potential, &cluster).max_force()), "cluster force error {error}");
            let total: Vector3<f64> = evaluate(&potential, &cluster).forces.iter().sum();
            assert!(total.norm() < 1e-10, "forces of an isolated cluster sum to zero: {total}");
        }
    }

    #[test]
    fn unit_conversion_scales_energy_and_forces() {
        let dir = tempfile::tempdir().unwrap();
        synthetic_potential(dir.path(), 6);
        let native = NnpPotential::load_directory(dir.path(), 1.0, 1.0).unwrap();
        let config = NnpConfig {
            directory: dir.path().to_path_buf(),
            length_unit: Some(UnitValue::Name("bohr".into())),
            energy_unit: Some(UnitValue::Name("Hartree".into())),
        };
        let converted = NnpPotential::load(&config).unwrap();
        assert!((converted.cutoff() - 4.0 * BOHR_IN_A).abs() < 1e-12);
        let system = random_system(Cell::orthorhombic(4.5, 4.7, 4.9).unwrap(), 6, 21);
        let mut scaled = system.clone();
        scaled.cell = system.cell.deformed(&(Matrix3::identity() * BOHR_IN_A)).unwrap();
        for r in scaled.positions.iter_mut() {
            *r *= BOHR_IN_A;
        }
        let a = evaluate(&native, &system);
        let b = evaluate(&converted, &scaled);
        assert!((b.energy - a.energy * HARTREE_IN_EV).abs() < 1e-10 * b.energy.abs());
        for (fa, fb) in a.forces.iter().zip(&b.forces) {
            assert!((fb - fa * (HARTREE_IN_EV / BOHR_IN_A)).norm() < 1e-9 * (1.0 + fb.norm()));
        }
    }

    #[test]
    fn extrapolation_is_counted_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        synthetic_potential(dir.path(), 6);
        // Narrow the training range of Li function 1 so that it is exceeded.
        let scaling = std::fs::read_to_string(dir.path().join("scaling.data")).unwrap();
        let scaling = scaling.replacen("1 1 0.0 10.0 1.0 2.0", "1 1 0.0 1e-9 1.0 2.0", 1);
        assert!(scaling.contains("1 1 0.0 1e-9"));
        std::fs::write(dir.path().join("scaling.data"), scaling).unwrap();
        let potential = NnpPotential::load_directory(dir.path(), 1.0, 1.0).unwrap();
        let system = random_system(Cell::orthorhombic(4.5, 4.7, 4.9).unwrap(), 6, 21);
        let e = evaluate(&potential, &system);
        let x = e.extrapolation.unwrap();
        let li = system.count(3);
        let raw = potential.symmetry_functions(&system, &{
            let mut n = NeighborList::new(potential.cutoff(), 0.0);
            n.build(&system).unwrap();
            n
        });
        let expected = (0..system.len()).filter(|&i| system.atomic_numbers[i] == 3 && raw[i][0] > 1e-9).count();
        assert!(expected > 0 && expected <= li);
        assert!(x.total() >= expected);
        let event = x.first.iter().find(|ev| ev.function == 0).unwrap();
        assert_eq!(event.atomic_number, 3);
        assert!(event.value > event.max && event.max == 1e-9);
        assert_eq!(event.value, raw[event.atom][0]);
        // The descriptor alone reports what the evaluation reports.
        let mut list = NeighborList::new(potential.cutoff(), 0.0);
        list.build(&system).unwrap();
        let alone = potential.descriptor().extrapolation(&system, &list);
        assert_eq!(alone.counts, x.counts);
        assert_eq!(alone.first, x.first);
    }

    #[test]
    fn result_does_not_depend_on_thread_count() {
        let dir = tempfile::tempdir().unwrap();
        synthetic_potential(dir.path(), 2);
        let potential = NnpPotential::load_directory(dir.path(), 1.0, 1.0).unwrap();
        let system = random_system(Cell::orthorhombic(9.0, 9.5, 9.2).unwrap(), 60, 4);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| evaluate(&potential, &system))
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn offsets_and_normalization_enter_the_energy_as_n2p2() {
        let dir = tempfile::tempdir().unwrap();
        synthetic_potential(dir.path(), 6);
        let system = random_system(Cell::orthorhombic(4.5, 4.7, 4.9).unwrap(), 6, 21);
        let energy = || evaluate(&NnpPotential::load_directory(dir.path(), 1.0, 1.0).unwrap(), &system);
        let reference = energy();
        let input = std::fs::read_to_string(dir.path().join("input.nn")).unwrap();
        // Without offsets: E decreases by Σ_i offset(Z_i), forces unchanged.
        std::fs::write(
            dir.path().join("input.nn"),
            input.replace("atom_energy Li -0.3\n", "").replace("atom_energy O -2.0\n", ""),
        )
        .unwrap();
        let without = energy();
        let offsets = -0.3 * system.count(3) as f64 - 2.0 * system.count(8) as f64;
        assert!((reference.energy - without.energy - offsets).abs() < 1e-12);
        assert_eq!(reference.forces, without.forces);
        // mean_energy + 1: every atomic energy + 1; conv_energy × 2: network part halves.
        std::fs::write(dir.path().join("input.nn"), input.replace("mean_energy -1.5", "mean_energy -0.5")).unwrap();
        let shifted = energy();
        for (a, b) in reference.atom_energies.iter().zip(&shifted.atom_energies) {
            assert!((b - a - 1.0).abs() < 1e-12);
        }
        std::fs::write(dir.path().join("input.nn"), input.replace("conv_energy 2.0", "conv_energy 4.0")).unwrap();
        let halved = energy();
        let constant = -1.5 * system.len() as f64 + offsets;
        assert!(((halved.energy - constant) * 2.0 - (reference.energy - constant)).abs() < 1e-12);
        assert!((halved.forces[0] * 2.0 - reference.forces[0]).norm() < 1e-12);
    }

    #[test]
    fn config_parses_from_toml() {
        let c: NnpConfig = toml::from_str("directory = \"pot\"\nlength_unit = \"bohr\"\nenergy_unit = 27.2\n").unwrap();
        assert_eq!(c.length_unit_a("potential").unwrap(), BOHR_IN_A);
        assert_eq!(c.energy_unit_ev("potential").unwrap(), 27.2);
        let defaults: NnpConfig = toml::from_str("directory = \"pot\"").unwrap();
        assert_eq!((defaults.length_unit_a("p").unwrap(), defaults.energy_unit_ev("p").unwrap()), (1.0, 1.0));
        assert!(toml::from_str::<NnpConfig>("directory = \"pot\"\nlenght_unit = 1.0").is_err());
        let negative: NnpConfig = toml::from_str("directory = \"pot\"\nenergy_unit = -1.0").unwrap();
        let message = negative.validate("potential").unwrap_err().to_string();
        assert!(message.contains("potential.energy_unit = -1"), "{message}");
        let missing = NnpPotential::load(&NnpConfig::new("/nonexistent/nnp", 1.0, 1.0)).unwrap_err().to_string();
        assert!(missing.contains("/nonexistent/nnp/input.nn"), "{missing}");
    }

    #[test]
    fn load_errors_name_file_line_and_value() {
        let dir = tempfile::tempdir().unwrap();
        synthetic_potential(dir.path(), 6);
        let load = || NnpPotential::load_directory(dir.path(), 1.0, 1.0).unwrap_err().to_string();
        // Missing weights file.
        std::fs::rename(dir.path().join("weights.008.data"), dir.path().join("moved")).unwrap();
        let message = load();
        assert!(message.contains("weights.008.data"), "{message}");
        // Wrong number of weights.
        std::fs::write(dir.path().join("weights.008.data"), "1.0\n2.0\n").unwrap();
        let message = load();
        assert!(message.contains("weights.008.data") && message.contains("2 weights"), "{message}");
        std::fs::rename(dir.path().join("moved"), dir.path().join("weights.008.data")).unwrap();
        // Bad activation letter.
        let input = std::fs::read_to_string(dir.path().join("input.nn")).unwrap();
        std::fs::write(dir.path().join("input.nn"), input.replace("t p l", "t x l")).unwrap();
        let message = load();
        assert!(message.contains("input.nn") && message.contains("line 15") && message.contains("'x'"), "{message}");
        // Scaling rows out of order.
        std::fs::write(dir.path().join("input.nn"), &input).unwrap();
        let scaling = std::fs::read_to_string(dir.path().join("scaling.data")).unwrap();
        std::fs::write(dir.path().join("scaling.data"), scaling.replacen("1 2 0.0", "1 7 0.0", 1)).unwrap();
        let message = load();
        assert!(message.contains("scaling.data") && message.contains("line 3"), "{message}");
        // Unknown unit name.
        let config = NnpConfig {
            directory: dir.path().to_path_buf(),
            length_unit: Some(UnitValue::Name("furlong".into())),
            energy_unit: None,
        };
        let message = config.validate("potential").unwrap_err().to_string();
        assert!(message.contains("potential.length_unit") && message.contains("furlong"), "{message}");
    }
}

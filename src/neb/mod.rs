//! Nudged elastic band (`kind = "neb"`) and vacancy-migration enumeration (`kind = "migration"`).
//!
//! A band of images between two relaxed endpoints is built by linear or IDPP interpolation
//! ([`idpp`]), then relaxed as one vector by FIRE or L-BFGS ([`crate::optimize`]) under the NEB force with
//! the improved tangent and, optionally, a climbing image ([`band`]). Convergence is on the largest atomic
//! NEB force over all intermediate images (ASE's `fmax`; LAMMPS's `ftol` is a 2-norm per replica instead).

pub mod band;
pub mod bench;
pub mod idpp;
pub mod migration;

use crate::input::{join, positive, InvalidValue};
use crate::io::extxyz::{self, FrameExtras};
use crate::optimize::{self, minimizer_defaults, Algorithm, Convergence, MinimizerSettings};
use crate::plot::{Plot, Series, Style};
use crate::potentials::Evaluator;
use crate::relax::{relax, RelaxSettings};
use crate::system::{elements, System};
use anyhow::Context;
use band::{Band, BandObjective, EvaluatorPool};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How the initial band is built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// Straight line between the endpoints (minimum image per atom).
    Linear,
    /// Image-dependent pair potential (Smidstrup et al. 2014), starting from the straight line.
    #[default]
    Idpp,
}

/// Everything an NEB calculation needs besides endpoints and potential.
#[derive(Clone, Debug, PartialEq)]
pub struct NebOptions {
    /// Number of intermediate images.
    pub images: usize,
    pub interpolation: Interpolation,
    /// Spring constant k (eV/Å²).
    pub spring: f64,
    /// Climbing image on the highest intermediate image.
    pub climb: bool,
    /// Relax both endpoints (positions only) before building the band.
    pub relax_endpoints: bool,
    pub optimizer: Algorithm,
    /// Convergence of the band (and of the endpoint relaxations).
    pub convergence: Convergence,
}

impl Default for NebOptions {
    fn default() -> Self {
        NebOptions {
            images: 5,
            interpolation: Interpolation::Idpp,
            spring: 0.1,
            climb: true,
            relax_endpoints: true,
            optimizer: Algorithm::Fire,
            convergence: MinimizerSettings::BAND.convergence(),
        }
    }
}

/// Endpoints that cannot form a band.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EndpointError {
    #[error("NEB endpoints differ in atom count: initial has {initial} atoms, final has {final_state}")]
    AtomCount { initial: usize, final_state: usize },
    #[error("NEB endpoints differ in species order: atom {atom} is {initial} in the initial state but {final_state} in the final state (atoms must be listed in the same order)")]
    Species { atom: usize, initial: String, final_state: String },
    #[error(
        "NEB endpoints have different cells (largest difference {difference:.3e} Å): the band needs one fixed cell"
    )]
    Cell { difference: f64 },
    #[error("NEB endpoints are identical (after relaxation, when relax_endpoints = true): no path to find")]
    Identical,
}

/// Why an NEB could not run: endpoints that cannot form a band, or a potential that failed on an endpoint or
/// an image.
#[derive(Debug, thiserror::Error)]
pub enum NebError {
    #[error(transparent)]
    Endpoints(#[from] EndpointError),
    #[error("{0:#}")]
    Evaluation(anyhow::Error),
}

impl PartialEq<EndpointError> for NebError {
    fn eq(&self, other: &EndpointError) -> bool {
        matches!(self, NebError::Endpoints(e) if e == other)
    }
}

/// Checks that `initial` and `final_state` describe the same atoms in the same cell, and returns the final
/// state with every atom moved to its minimum image relative to the initial state (continuous path).
pub fn prepare_endpoints(initial: &System, final_state: &System) -> Result<System, EndpointError> {
    if initial.len() != final_state.len() {
        return Err(EndpointError::AtomCount { initial: initial.len(), final_state: final_state.len() });
    }
    if let Some(atom) = (0..initial.len()).find(|&i| initial.atomic_numbers[i] != final_state.atomic_numbers[i]) {
        return Err(EndpointError::Species {
            atom,
            initial: elements::symbol(initial.atomic_numbers[atom]).into(),
            final_state: elements::symbol(final_state.atomic_numbers[atom]).into(),
        });
    }
    let difference = (initial.cell.matrix() - final_state.cell.matrix()).abs().max();
    if difference > 1e-6 || initial.cell.periodic() != final_state.cell.periodic() {
        return Err(EndpointError::Cell { difference });
    }
    let mut continuous = final_state.clone();
    for (r, r0) in continuous.positions.iter_mut().zip(&initial.positions) {
        *r = r0 + initial.cell.minimum_image(&(*r - r0));
    }
    if continuous.positions.iter().zip(&initial.positions).all(|(a, b)| (a - b).norm() < 1e-8) {
        return Err(EndpointError::Identical);
    }
    Ok(continuous)
}

/// `moving + 2` images on the straight line from `initial` to `final_state` (endpoints included; positions
/// taken as given, so pass a continuous final state from [`prepare_endpoints`]).
pub fn interpolate_linear(initial: &System, final_state: &System, moving: usize) -> Vec<System> {
    (0..moving + 2)
        .map(|k| {
            let t = k as f64 / (moving + 1) as f64;
            let mut image = initial.clone();
            for (r, (a, b)) in image.positions.iter_mut().zip(initial.positions.iter().zip(&final_state.positions)) {
                *r = a + (b - a) * t;
            }
            image
        })
        .collect()
}

/// Converged IDPP band: FIRE on the IDPP surface (S in Å⁻², forces in Å⁻³) until the largest NEB force is
/// below this, or [`IDPP_MAX_STEPS`] steps.
pub const IDPP_FMAX: f64 = 1e-3;
/// Step limit of the IDPP pre-optimisation.
pub const IDPP_MAX_STEPS: usize = 2000;

/// Images between `initial` and a continuous `final_state` by IDPP: linear interpolation relaxed on the
/// IDPP surface along an NEB with spring `spring` (no climbing). Returns the images and the steps used.
pub fn interpolate_idpp(
    initial: &System,
    final_state: &System,
    moving: usize,
    spring: f64,
) -> anyhow::Result<(Vec<System>, usize)> {
    let images = interpolate_linear(initial, final_state, moving);
    let mut idpp = idpp::Idpp::new(initial, final_state, moving)?;
    let atoms = initial.len();
    let zero = vec![nalgebra::Vector3::zeros(); atoms];
    let mut band = Band::new(images, [0.0, 0.0], [zero.clone(), zero], spring, false);
    let mut x = band.coordinates();
    let convergence = Convergence { fmax: IDPP_FMAX, max_steps: IDPP_MAX_STEPS, max_step: 0.1 };
    let mut objective = BandObjective { band: &mut band, engine: &mut idpp, log: None };
    let minimum = optimize::minimize(&mut objective, &mut x, Algorithm::Fire, &convergence)?;
    band.set_coordinates(&x);
    Ok((band.images, minimum.steps))
}

/// An endpoint, relaxed or just evaluated.
struct Endpoint {
    system: System,
    energy: f64,
    forces: Vec<nalgebra::Vector3<f64>>,
    converged: bool,
    evaluations: usize,
}

impl Endpoint {
    fn new(system: &System, evaluator: &Evaluator, relax_settings: Option<&RelaxSettings>) -> anyhow::Result<Endpoint> {
        let mut system = system.clone();
        let mut evaluator = evaluator.clone();
        let before = evaluator.evaluations();
        let (energy, forces, converged) = match relax_settings {
            Some(settings) => {
                let relaxed = relax(&mut system, &mut evaluator, settings, None)?;
                (relaxed.evaluation.energy, relaxed.evaluation.forces, relaxed.report.converged)
            }
            None => {
                let evaluation = evaluator.evaluate(&system)?;
                (evaluation.energy, evaluation.forces, true)
            }
        };
        let evaluations = evaluator.evaluations() - before;
        Ok(Endpoint { system, energy, forces, converged, evaluations })
    }
}

/// A finished NEB calculation.
#[derive(Clone, Debug)]
pub struct NebResult {
    pub band: Band,
    pub report: NebReport,
    /// `iteration,max_energy_ev,fmax_ev_per_a,climbing_image` per band evaluation.
    pub log: String,
}

/// Key numbers of an NEB calculation (for `summary.json`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct NebReport {
    /// True when the band reached `fmax` within `max_steps` (and the endpoints converged, when relaxed).
    pub converged: bool,
    pub band_converged: bool,
    pub endpoints_converged: bool,
    pub optimizer: Algorithm,
    pub interpolation: Interpolation,
    pub images: usize,
    pub climb: bool,
    pub band_steps: usize,
    /// Force evaluations of the band (moving images × evaluations).
    pub band_force_evaluations: usize,
    /// Force evaluations spent relaxing or evaluating the endpoints.
    pub endpoint_force_evaluations: usize,
    /// Steps of the IDPP pre-optimisation (no force evaluations).
    pub idpp_steps: usize,
    /// Largest atomic NEB force at the end (eV/Å).
    pub fmax_ev_per_a: f64,
    pub initial_energy_ev: f64,
    pub final_energy_ev: f64,
    /// Energy of the highest image (the climbing image when climbing), eV.
    pub saddle_energy_ev: f64,
    pub saddle_image: usize,
    /// saddle − initial (eV).
    pub forward_barrier_ev: f64,
    /// saddle − final (eV).
    pub reverse_barrier_ev: f64,
    /// Image energies relative to the initial state (eV).
    pub energy_profile_ev: Vec<f64>,
    /// Cumulative path length of every image (Å).
    pub reaction_coordinate_a: Vec<f64>,
}

/// Runs an NEB from `initial` to `final_state` with clones of `evaluator` (one per moving image, evaluated in
/// parallel). Bad endpoints are an error; a band that does not converge is a result with `converged = false`.
pub fn run_neb(
    initial: &System,
    final_state: &System,
    evaluator: &Evaluator,
    options: &NebOptions,
) -> Result<NebResult, NebError> {
    prepare_endpoints(initial, final_state)?;
    let relax_settings = RelaxSettings::with_minimizer(MinimizerSettings::new(options.optimizer, options.convergence));
    let (first, last) = rayon::join(
        || Endpoint::new(initial, evaluator, options.relax_endpoints.then_some(&relax_settings)),
        || Endpoint::new(final_state, evaluator, options.relax_endpoints.then_some(&relax_settings)),
    );
    let (first, last) = (first.map_err(NebError::Evaluation)?, last.map_err(NebError::Evaluation)?);
    let (start, e_start, f_start, ok_start, n_start) =
        (first.system, first.energy, first.forces, first.converged, first.evaluations);
    let (end, e_end, f_end, ok_end, n_end) = (last.system, last.energy, last.forces, last.converged, last.evaluations);
    let end = prepare_endpoints(&start, &end)?;
    let moving = options.images;
    let (images, idpp_steps) = match options.interpolation {
        Interpolation::Linear => (interpolate_linear(&start, &end, moving), 0),
        Interpolation::Idpp => interpolate_idpp(&start, &end, moving, options.spring).map_err(NebError::Evaluation)?,
    };
    let mut band = Band::new(images, [e_start, e_end], [f_start, f_end], options.spring, options.climb);
    let mut pool = EvaluatorPool::new(evaluator, moving);
    let pool_before = pool.evaluations();
    let mut log = String::from("iteration,max_energy_ev,fmax_ev_per_a,climbing_image\n");
    let mut x = band.coordinates();
    let minimum = {
        let mut objective = BandObjective { band: &mut band, engine: &mut pool, log: Some(&mut log) };
        optimize::minimize(&mut objective, &mut x, options.optimizer, &options.convergence)
            .map_err(|e| NebError::Evaluation(e.context("NEB band")))?
    };
    let band_force_evaluations = pool.evaluations() - pool_before;
    let saddle_image = band.highest_image();
    let saddle = band.energies[saddle_image];
    let endpoints_converged = ok_start && ok_end;
    let report = NebReport {
        converged: minimum.converged && endpoints_converged,
        band_converged: minimum.converged,
        endpoints_converged,
        optimizer: options.optimizer,
        interpolation: options.interpolation,
        images: moving,
        climb: options.climb,
        band_steps: minimum.steps,
        band_force_evaluations,
        endpoint_force_evaluations: n_start + n_end,
        idpp_steps,
        fmax_ev_per_a: minimum.fmax,
        initial_energy_ev: e_start,
        final_energy_ev: e_end,
        saddle_energy_ev: saddle,
        saddle_image,
        forward_barrier_ev: saddle - e_start,
        reverse_barrier_ev: saddle - e_end,
        energy_profile_ev: band.energies.iter().map(|e| e - e_start).collect(),
        reaction_coordinate_a: band.reaction_coordinate(),
    };
    Ok(NebResult { band, report, log })
}

/// Writes `neb_profile.csv`, `neb_profile.svg`, `neb_images.extxyz`, `saddle.extxyz` and `neb_log.csv` into
/// `dir`, each name prefixed by `prefix` (e.g. `"path_3_"`, or `""`).
pub fn write_outputs(result: &NebResult, dir: &Path, prefix: &str) -> anyhow::Result<()> {
    crate::io::create_output_dir(dir)?;
    let band = &result.band;
    let report = &result.report;
    let coordinate = band.reaction_coordinate();
    let mut csv =
        String::from("image,reaction_coordinate_a,energy_ev,relative_energy_ev,max_neb_force_ev_per_a,climbing\n");
    for i in 0..band.images.len() {
        let fmax = band.neb_forces[i].iter().map(|f| f.norm()).fold(0.0, f64::max);
        let climbing = band.climbing_image == Some(i);
        writeln!(
            csv,
            "{i},{:.8},{:.10},{:.10},{fmax:.6e},{climbing}",
            coordinate[i],
            band.energies[i],
            band.energies[i] - report.initial_energy_ev
        )
        .unwrap();
    }
    crate::io::write_atomically(&dir.join(format!("{prefix}neb_profile.csv")), csv.as_bytes())?;
    let title = format!(
        "NEB: forward {:.4} eV, reverse {:.4} eV{}",
        report.forward_barrier_ev,
        report.reverse_barrier_ev,
        if report.converged { "" } else { " (NOT CONVERGED)" }
    );
    let saddle = report.saddle_image;
    let svg = Plot {
        title,
        x_label: "reaction coordinate (Å)".into(),
        y_label: "E − E(initial) (eV)".into(),
        series: vec![
            Series::new("images", coordinate.clone(), report.energy_profile_ev.clone(), Style::LineMarkers),
            Series::new("saddle", vec![coordinate[saddle]], vec![report.energy_profile_ev[saddle]], Style::Markers),
        ],
        ..Default::default()
    }
    .to_svg();
    crate::io::write_atomically(&dir.join(format!("{prefix}neb_profile.svg")), svg.as_bytes())?;
    let mut images = String::new();
    for (i, image) in band.images.iter().enumerate() {
        let extras = FrameExtras {
            energy: Some(band.energies[i]),
            forces: Some(&band.forces[i]),
            info: vec![
                ("image".into(), i.to_string()),
                ("climbing".into(), (band.climbing_image == Some(i)).to_string()),
            ],
            ..Default::default()
        };
        images.push_str(&extxyz::format_frame(image, &extras));
    }
    crate::io::write_atomically(&dir.join(format!("{prefix}neb_images.extxyz")), images.as_bytes())?;
    let s = report.saddle_image;
    let extras = FrameExtras {
        energy: Some(band.energies[s]),
        forces: Some(&band.forces[s]),
        info: vec![("image".into(), s.to_string()), ("converged".into(), report.converged.to_string())],
        ..Default::default()
    };
    crate::io::write_atomically(
        &dir.join(format!("{prefix}saddle.extxyz")),
        extxyz::format_frame(&band.images[s], &extras).as_bytes(),
    )?;
    crate::io::write_atomically(&dir.join(format!("{prefix}neb_log.csv")), result.log.as_bytes())?;
    Ok(())
}

fn default_images() -> usize {
    5
}
fn default_spring() -> f64 {
    0.1
}
fn default_true() -> bool {
    true
}

/// `[[stage]] kind = "neb"`: a band between the current system (or `initial_structure`) and
/// `final_structure`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NebSettings {
    /// Initial state file; default: the system as left by the previous stage.
    #[serde(default)]
    pub initial_structure: Option<PathBuf>,
    /// Final state file (same atoms in the same order and the same cell).
    pub final_structure: PathBuf,
    /// Intermediate images; default 5.
    #[serde(default = "default_images")]
    pub images: usize,
    /// `"idpp"` (default) or `"linear"`.
    #[serde(default)]
    pub interpolation: Interpolation,
    /// Spring constant (eV/Å²); default 0.1.
    #[serde(default = "default_spring")]
    pub spring_ev_per_a2: f64,
    /// Climbing image; default true.
    #[serde(default = "default_true")]
    pub climb: bool,
    /// Relax both endpoints first; default true.
    #[serde(default = "default_true")]
    pub relax_endpoints: bool,
    /// `"fire"` (default) or `"lbfgs"`.
    #[serde(default)]
    pub optimizer: Algorithm,
    /// Largest atomic NEB force at convergence (eV/Å); default 0.05.
    #[serde(default = "minimizer_defaults::band_fmax")]
    pub fmax_ev_per_a: f64,
    /// Step limit of the band (and of each endpoint relaxation); default 1000.
    #[serde(default = "minimizer_defaults::band_max_steps")]
    pub max_steps: usize,
    /// Largest move of one atom in one step (Å); default 0.2.
    #[serde(default = "minimizer_defaults::band_max_step")]
    pub max_step_a: f64,
}

/// Checks the options shared by `neb` and `migration` stages.
pub(crate) fn validate_options(options: &NebOptions, key: &str) -> Result<(), InvalidValue> {
    if options.images == 0 {
        return Err(InvalidValue::new(join(key, "images"), 0, "at least 1 intermediate image"));
    }
    positive(key, "spring_ev_per_a2", options.spring)?;
    options.convergence.validate(key)
}

crate::optimize::minimizer_keys!(NebSettings);

impl NebSettings {
    /// The calculation options.
    pub fn options(&self) -> NebOptions {
        NebOptions {
            images: self.images,
            interpolation: self.interpolation,
            spring: self.spring_ev_per_a2,
            climb: self.climb,
            relax_endpoints: self.relax_endpoints,
            optimizer: self.optimizer,
            convergence: self.minimizer().convergence(),
        }
    }

    /// Makes relative structure paths relative to `base` (the directory of the input file).
    pub fn resolve_paths(&mut self, base: &Path) {
        self.final_structure = base.join(&self.final_structure);
        if let Some(p) = &mut self.initial_structure {
            *p = base.join(&*p);
        }
    }

    /// Checks every value; `key` is the stage prefix, e.g. `stage[2]`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        validate_options(&self.options(), key)
    }

    /// Runs the band and writes its files into `output_dir`. The system is left unchanged.
    pub fn run(
        &self,
        system: &mut System,
        evaluator: &mut Evaluator,
        output_dir: &Path,
        _seed: u64,
    ) -> anyhow::Result<NebReport> {
        let initial = match &self.initial_structure {
            Some(path) => crate::io::read_structure(path)?,
            None => system.clone(),
        };
        let final_state = crate::io::read_structure(&self.final_structure)?;
        for (structure, path) in
            [(&initial, self.initial_structure.as_deref()), (&final_state, Some(&*self.final_structure))]
        {
            crate::potentials::check_species(evaluator.potential().as_ref(), structure)
                .with_context(|| path.map_or("the current system".into(), |p| p.display().to_string()))?;
        }
        let result = run_neb(&initial, &final_state, evaluator, &self.options()).with_context(|| {
            format!(
                "initial {} / final {}",
                self.initial_structure.as_ref().map_or("(current system)".into(), |p| p.display().to_string()),
                self.final_structure.display()
            )
        })?;
        write_outputs(&result, output_dir, "")?;
        if !result.report.converged {
            eprintln!(
                "warning: NEB not converged: fmax = {:.4} eV/Å after {} steps (target {} eV/Å); endpoints converged: {}",
                result.report.fmax_ev_per_a, result.report.band_steps, self.fmax_ev_per_a, result.report.endpoints_converged
            );
        }
        Ok(result.report)
    }
}

//! Interatomic potentials behind one trait.
//!
//! A potential knows nothing of MD, NEB or kMC: it maps a [`System`] and a [`NeighborList`] built with at
//! least its cutoff to an [`Evaluation`] (energy, forces, virial, per-atom energies). Everything that moves
//! atoms talks to potentials through [`Evaluator`], which owns the neighbour list and keeps it up to date.
//!
//! Sign conventions (as LAMMPS and ASE): forces F_i = −∂E/∂r_i; the virial W = Σ_i r_i ⊗ F_i, written for
//! periodic systems as W = −Σ_pairs d_ij ⊗ ∂E/∂d_ij; the pressure is P = tr(W)/(3V) (plus the kinetic
//! part in MD); the stress (ASE sign, positive under tension) is σ = −W/V.

pub mod bench;
pub mod eam;
pub mod lj;
pub mod morse;
pub mod nnp;
pub mod overlay;
pub mod pair_table;
pub mod socket;
pub mod zbl;

use crate::input::InvalidValue;
use crate::neighbors::NeighborList;
use crate::system::{elements, System};
use nalgebra::{Matrix3, Vector3};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::units::EV_PER_A3_IN_BAR;

/// The `[potential]` table of one kind: parsed by serde (`deny_unknown_fields`), checked, its file paths
/// resolved, then built. Each kind implements it beside its potential and is registered with one line in
/// [`potential_kinds!`] (docs/extending.md).
pub trait PotentialConfig {
    /// Checks every value that can be checked without reading files; `key` names the table (`potential`,
    /// `potential.terms[1]`).
    fn validate(&self, key: &str) -> Result<(), InvalidValue>;

    /// Makes relative file paths relative to `base` (the input file's folder).
    fn resolve_paths(&mut self, _base: &Path) {}

    /// The files the potential is read from (after [`resolve_paths`](Self::resolve_paths)), whose contents
    /// a restart's fingerprint covers; none for an analytic potential.
    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Values that are valid but probably not meant (a cutoff inside the repulsive wall), each naming its key.
    fn warnings(&self, _key: &str) -> Vec<String> {
        Vec::new()
    }

    /// Å per length unit of the potential's own data files, when they are not in Å: an n2p2 `input.data`
    /// structure given with this potential is read in these units (n2p2 is unit-agnostic).
    fn data_length_unit_a(&self) -> Option<f64> {
        None
    }

    /// How many evaluations the potential serves at once when that is more than one per thread: the clients of
    /// a socket potential, each waiting on another process. A study runs its parallel work (NEB images,
    /// independent relaxations) on at least this many threads.
    fn concurrency(&self) -> Option<usize> {
        None
    }

    /// The part of this kind's TOML `table` that a restart depends on (the fingerprint hashes it): the whole table
    /// unless some keys say only how the potential is reached (a socket's address and timeouts).
    fn restart_table(&self, table: &toml::Table) -> toml::Table {
        table.clone()
    }

    /// Reads the kind's files and builds the potential; errors name `key` or the file.
    fn build(&self, key: &str) -> anyhow::Result<Arc<dyn Potential>>;
}

/// Declares the kinds of `[potential]`, one line each: `"kind" => Variant(Config)`, as LAMMPS's
/// `PairStyle(name, class)` registers a pair style. Generates [`PotentialSettings`], the table tagged by `kind`.
macro_rules! potential_kinds {
    ($($(#[doc = $doc:literal])* $kind:literal => $variant:ident($config:ty),)+) => {
        /// `[potential]`, tagged by `kind`.
        #[derive(Clone, Debug, serde::Deserialize)]
        #[serde(tag = "kind")]
        pub enum PotentialSettings {
            $($(#[doc = $doc])* #[serde(rename = $kind)] $variant($config),)+
        }

        impl PotentialSettings {
            /// The `kind` as written in the file.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(PotentialSettings::$variant(_) => $kind,)+
                }
            }

            /// The kind's settings behind their trait.
            pub fn config(&self) -> &dyn PotentialConfig {
                match self {
                    $(PotentialSettings::$variant(config) => config,)+
                }
            }

            fn config_mut(&mut self) -> &mut dyn PotentialConfig {
                match self {
                    $(PotentialSettings::$variant(config) => config,)+
                }
            }
        }
    };
}

potential_kinds! {
    /// Lennard-Jones 12-6 (LAMMPS `lj/cut`).
    "lj" => Lj(lj::LennardJonesConfig),
    /// Embedded-atom method from a LAMMPS funcfl or setfl file.
    "eam" => Eam(eam::EamConfig),
    /// Behler–Parrinello neural-network potential in the n2p2/RuNNer format.
    "nnp" => Nnp(nnp::NnpConfig),
    /// Ziegler–Biersack–Littmark core repulsion (LAMMPS `zbl`).
    "zbl" => Zbl(zbl::ZblConfig),
    /// Sum of potentials (LAMMPS `hybrid/overlay`), e.g. an NNP with a ZBL core repulsion.
    "overlay" => Overlay(overlay::OverlayConfig),
    /// Morse pair potential (LAMMPS `morse`).
    "morse" => Morse(morse::MorseConfig),
    /// Another program over the i-PI socket protocol: any ASE calculator, CP2K, Quantum ESPRESSO.
    "socket" => Socket(socket::SocketConfig),
}

impl PotentialSettings {
    /// Makes relative file paths relative to `base` (the study file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        self.config_mut().resolve_paths(base);
    }

    /// The files `[potential]` is read from (see [`PotentialConfig::files`]).
    pub fn files(&self) -> Vec<PathBuf> {
        self.config().files()
    }

    /// Å per length unit of an n2p2 `input.data` structure read with this potential (see
    /// [`PotentialConfig::data_length_unit_a`]); 1 unless the potential is a network in other units.
    pub fn data_length_unit_a(&self) -> f64 {
        self.config().data_length_unit_a().unwrap_or(1.0)
    }

    /// Values of `[potential]` that are valid but probably not meant (see [`PotentialConfig::warnings`]).
    pub fn warnings(&self) -> Vec<String> {
        self.config().warnings("potential")
    }

    /// Checks every value of `[potential]` that can be checked without reading files.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        self.validate_at("potential")
    }

    /// As [`validate`](Self::validate), for the table at `key` (`potential`, `potential.terms[1]`).
    pub fn validate_at(&self, key: &str) -> Result<(), InvalidValue> {
        self.config().validate(key)
    }

    /// Evaluations served at once (see [`PotentialConfig::concurrency`]).
    pub fn concurrency(&self) -> Option<usize> {
        self.config().concurrency()
    }

    /// Builds the potential described by `[potential]`.
    pub fn build(&self) -> anyhow::Result<Arc<dyn Potential>> {
        self.build_at("potential")
    }

    /// As [`build`](Self::build), for the table at `key` (`potential.terms[0]` inside an overlay).
    pub fn build_at(&self, key: &str) -> anyhow::Result<Arc<dyn Potential>> {
        self.config().build(key)
    }
}

/// What a potential returns for one configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Total potential energy (eV).
    pub energy: f64,
    /// Force on every atom (eV/Å).
    pub forces: Vec<Vector3<f64>>,
    /// Virial W = Σ_i r_i ⊗ F_i (eV); zero when `has_virial` is false.
    pub virial: Matrix3<f64>,
    /// False when the force provider sent no virial (a socket client that computes no stress): stages that need
    /// the stress (cell relaxation, a barostat) refuse such a potential, reports leave the pressure out.
    pub has_virial: bool,
    /// Potential energy of every atom (eV); sums to `energy`. Empty when the potential does not split its
    /// energy into atoms (a socket client).
    pub atom_energies: Vec<f64>,
    /// Symmetry-function extrapolation, for potentials that know their training range.
    pub extrapolation: Option<Extrapolation>,
}

impl Default for Evaluation {
    fn default() -> Evaluation {
        Evaluation {
            energy: 0.0,
            forces: Vec::new(),
            virial: Matrix3::zeros(),
            has_virial: true,
            atom_energies: Vec::new(),
            extrapolation: None,
        }
    }
}

impl Evaluation {
    /// The virial, or an error naming `needed_by` when the potential sent none.
    pub fn require_virial(&self, needed_by: &str) -> anyhow::Result<&Matrix3<f64>> {
        if self.has_virial {
            Ok(&self.virial)
        } else {
            anyhow::bail!(
                "{needed_by} needs the stress, and the potential sent no virial (nine exact zeros): a socket client \
                 must compute the stress (scripts/ipi_ase_client.py does unless --no-stress; ASE's SocketClient.run \
                 needs use_stress=True)"
            )
        }
    }

    /// Virial pressure tr(W)/(3V) in eV/Å³ (no kinetic part); `None` when the potential sent no virial.
    pub fn virial_pressure(&self, volume: f64) -> Option<f64> {
        self.has_virial.then(|| self.virial.trace() / (3.0 * volume))
    }

    /// Stress σ = −W/V in eV/Å³ (ASE sign convention); `None` when the potential sent no virial.
    pub fn stress(&self, volume: f64) -> Option<Matrix3<f64>> {
        self.has_virial.then(|| -self.virial / volume)
    }

    /// Largest force norm (eV/Å).
    pub fn max_force(&self) -> f64 {
        self.forces.iter().map(|f| f.norm()).fold(0.0, f64::max)
    }
}

/// Descriptor values outside the range seen in training during one evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extrapolation {
    /// Number of (atom, function) values outside [Gmin, Gmax], per element (atomic number, count).
    pub counts: Vec<(u8, usize)>,
    /// The first few occurrences, in atom order.
    pub first: Vec<ExtrapolationEvent>,
}

impl Extrapolation {
    /// Total number of out-of-range values.
    pub fn total(&self) -> usize {
        self.counts.iter().map(|(_, c)| c).sum()
    }
}

/// One descriptor value outside its training range.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtrapolationEvent {
    pub atom: usize,
    pub atomic_number: u8,
    /// Index of the symmetry function in the element's sorted list (0-based).
    pub function: usize,
    pub value: f64,
    pub min: f64,
    pub max: f64,
}

/// Why a potential could not evaluate a configuration: an external force provider died, hung or answered
/// something that is not an energy and forces, or the configuration is outside what the potential evaluates.
#[derive(Debug, thiserror::Error)]
#[error("the {potential} potential could not evaluate the structure: {reason}")]
pub struct EvaluationError {
    /// The potential's [`name`](Potential::name).
    pub potential: String,
    /// What went wrong, naming what was received where there was an answer.
    pub reason: String,
}

/// What [`Potential::compute`] returns.
pub type EvaluationResult = Result<Evaluation, EvaluationError>;

/// An interatomic potential.
pub trait Potential: Send + Sync {
    /// Short name for logs (`"lj"`, `"eam/alloy"`, `"nnp"`).
    fn name(&self) -> &str;

    /// Interaction cutoff in Å: no pair farther apart contributes.
    fn cutoff(&self) -> f64;

    /// Atomic numbers this potential can handle.
    fn species(&self) -> Vec<u8>;

    /// Energy, forces, virial and per-atom energies. `neighbors` is a full list built for `system` with a
    /// cutoff of at least [`cutoff`](Self::cutoff); entries beyond the cutoff must be ignored. An in-process
    /// potential does not fail; one that asks another process (a socket client) returns its failure.
    fn compute(&self, system: &System, neighbors: &NeighborList) -> EvaluationResult;
}

/// Error raised when a system contains an element the potential does not describe.
#[derive(Debug, thiserror::Error)]
#[error("element {symbol} (atom {atom}, counting from 1) is not described by the {potential} potential, which knows {known}")]
pub struct UnsupportedElement {
    pub symbol: String,
    /// 1-based atom index.
    pub atom: usize,
    pub potential: String,
    pub known: String,
}

/// Checks that every atom of `system` is an element `potential` describes.
pub fn check_species(potential: &dyn Potential, system: &System) -> Result<(), UnsupportedElement> {
    let known = potential.species();
    match system.atomic_numbers.iter().position(|z| !known.contains(z)) {
        None => Ok(()),
        Some(atom) => Err(UnsupportedElement {
            symbol: system.symbol(atom).to_string(),
            atom: atom + 1,
            potential: potential.name().to_string(),
            known: known.iter().map(|&z| elements::symbol(z)).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// A potential together with the neighbour list it needs: the one handle MD, relaxation, NEB and
/// single-point evaluation use. Cloning shares the potential and copies the list.
#[derive(Clone)]
pub struct Evaluator {
    potential: Arc<dyn Potential>,
    neighbors: NeighborList,
    evaluations: usize,
}

impl Evaluator {
    /// Default Verlet skin (Å).
    pub const DEFAULT_SKIN: f64 = 1.0;

    /// An evaluator with a Verlet list of the given skin (Å).
    pub fn new(potential: Arc<dyn Potential>, skin: f64) -> Evaluator {
        let neighbors = NeighborList::new(potential.cutoff(), skin);
        Evaluator { potential, neighbors, evaluations: 0 }
    }

    /// The potential.
    pub fn potential(&self) -> &Arc<dyn Potential> {
        &self.potential
    }

    /// The neighbour list (as of the last evaluation).
    pub fn neighbors(&self) -> &NeighborList {
        &self.neighbors
    }

    /// True if the next evaluation of `system` will rebuild the neighbour list. MD uses this to wrap atoms
    /// back into the cell just before a rebuild, as LAMMPS does at re-neighbouring.
    pub fn needs_neighbor_update(&self, system: &System) -> bool {
        self.neighbors.needs_update(system)
    }

    /// Number of energy/force evaluations so far.
    pub fn evaluations(&self) -> usize {
        self.evaluations
    }

    /// Evaluates `system`, rebuilding the neighbour list first if needed.
    pub fn evaluate(&mut self, system: &System) -> EvaluationResult {
        self.neighbors
            .update(system)
            .map_err(|e| EvaluationError { potential: self.potential.name().to_string(), reason: e.to_string() })?;
        self.evaluations += 1;
        self.potential.compute(system, &self.neighbors)
    }
}

/// A neighbour within the cutoff: its index, d = r_j − r_i (with the image shift) and |d|².
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CloseNeighbor {
    pub j: usize,
    pub d: Vector3<f64>,
    pub r2: f64,
}

/// Collects the neighbours of atom `i` closer than √`cutoff2` into `out[..count]` and returns `count`.
/// Branch-free selection (every list entry is written, the count advances only for close ones), so that
/// kernels loop over close pairs without a mispredicted branch for each skin entry.
#[inline(always)]
pub(crate) fn close_neighbors(
    positions: &[Vector3<f64>],
    neighbors: &NeighborList,
    i: usize,
    cutoff2: f64,
    out: &mut Vec<CloseNeighbor>,
) -> usize {
    let indices = neighbors.indices(i);
    if out.len() < indices.len() {
        out.resize(indices.len(), CloseNeighbor::default());
    }
    let ri = positions[i];
    let mut count = 0;
    for (&j, shift) in indices.iter().zip(neighbors.shifts(i)) {
        let j = j as usize;
        let d = positions[j] - ri + shift;
        let r2 = d.norm_squared();
        out[count] = CloseNeighbor { j, d, r2 };
        count += usize::from(r2 < cutoff2);
    }
    count
}

/// Atoms per parallel work item of [`pair_sum`] (fixed, so that partial sums do not depend on the number of threads).
const PAIR_CHUNK: usize = 64;

/// Energy, forces, virial and per-atom energies of a pair potential E = ½ Σ_i Σ_j≠i φ_ij(r_ij), summed over the
/// full neighbour list of every atom. `pair(i, j, r²)` is called for the neighbours closer than √`cutoff2` and
/// returns φ_ij(r) (eV) and (1/r) dφ_ij/dr (eV/Å²), or `None` when that pair does not interact at r.
///
/// Parallel over fixed chunks of atoms; each atom owns its force and energy (F_i = Σ_j (1/r) dφ/dr · d_ij with
/// d_ij = r_j − r_i), the virial is summed per chunk, then over chunks in order: results do not depend on the
/// number of threads.
pub(crate) fn pair_sum<F>(system: &System, neighbors: &NeighborList, cutoff2: f64, pair: F) -> Evaluation
where
    F: Fn(usize, usize, f64) -> Option<(f64, f64)> + Sync,
{
    use rayon::prelude::*;
    let positions = &system.positions;
    let mut forces = vec![Vector3::zeros(); system.len()];
    let mut atom_energies = vec![0.0; system.len()];
    let chunk_virials: Vec<[f64; 6]> = forces
        .par_chunks_mut(PAIR_CHUNK)
        .zip(atom_energies.par_chunks_mut(PAIR_CHUNK))
        .enumerate()
        .map(|(chunk, (forces, energies))| {
            let mut virial = [0.0; 6];
            let mut close = Vec::new();
            for k in 0..forces.len() {
                let i = chunk * PAIR_CHUNK + k;
                let mut force = Vector3::zeros();
                let mut energy = 0.0;
                let mut w = [0.0; 6];
                let count = close_neighbors(positions, neighbors, i, cutoff2, &mut close);
                for &CloseNeighbor { j, d, r2 } in &close[..count] {
                    let Some((phi, dphi_over_r)) = pair(i, j, r2) else {
                        continue;
                    };
                    energy += phi;
                    let f = d * dphi_over_r;
                    force += f;
                    w[0] += d.x * f.x;
                    w[1] += d.y * f.y;
                    w[2] += d.z * f.z;
                    w[3] += d.x * f.y;
                    w[4] += d.x * f.z;
                    w[5] += d.y * f.z;
                }
                forces[k] = force;
                energies[k] = 0.5 * energy;
                for (total, part) in virial.iter_mut().zip(w) {
                    *total -= 0.5 * part;
                }
            }
            virial
        })
        .collect();
    assemble_evaluation(forces, atom_energies, &chunk_virials)
}

/// Assembles an [`Evaluation`] from per-atom results and per-chunk symmetric virials
/// [xx, yy, zz, xy, xz, yz], summed in chunk order.
pub(crate) fn assemble_evaluation(
    forces: Vec<Vector3<f64>>,
    atom_energies: Vec<f64>,
    chunk_virials: &[[f64; 6]],
) -> Evaluation {
    let mut w = [0.0; 6];
    for part in chunk_virials {
        for (total, value) in w.iter_mut().zip(part) {
            *total += value;
        }
    }
    let virial = Matrix3::new(w[0], w[3], w[4], w[3], w[1], w[5], w[4], w[5], w[2]);
    Evaluation {
        energy: atom_energies.iter().sum(),
        forces,
        virial,
        has_virial: true,
        atom_energies,
        extrapolation: None,
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Finite-difference checks shared by every potential's tests.

    use super::*;

    /// Atoms `zi` at the origin and `zj` at (r, 0, 0) Å, in open space.
    pub fn dimer(zi: u8, zj: u8, r: f64) -> System {
        let mut s = System::new(crate::system::Cell::infinite());
        s.push(zi, Vector3::zeros());
        s.push(zj, Vector3::new(r, 0.0, 0.0));
        s
    }

    /// One evaluation with a freshly built neighbour list.
    pub fn evaluate(potential: &dyn Potential, system: &System) -> Evaluation {
        let mut neighbors = NeighborList::new(potential.cutoff(), 0.3);
        neighbors.build(system).expect("test systems are small");
        potential.compute(system, &neighbors).expect("in-process potentials do not fail")
    }

    /// Largest deviation between analytic forces and −∂E/∂r by central differences with step `h` (Å).
    pub fn max_force_error(potential: &dyn Potential, system: &System, h: f64) -> f64 {
        let reference = evaluate(potential, system);
        let mut worst: f64 = 0.0;
        for i in 0..system.len() {
            for k in 0..3 {
                let mut plus = system.clone();
                plus.positions[i][k] += h;
                let mut minus = system.clone();
                minus.positions[i][k] -= h;
                let numeric = -(evaluate(potential, &plus).energy - evaluate(potential, &minus).energy) / (2.0 * h);
                worst = worst.max((numeric - reference.forces[i][k]).abs());
            }
        }
        worst
    }

    /// Largest deviation between the analytic virial and −∂E/∂ε (homogeneous deformation x → (1+ε)x of
    /// cell and positions) by central differences with strain step `h`. Since W = Σ r⊗F,
    /// −∂E/∂ε_ab = W_ba.
    pub fn max_virial_error(potential: &dyn Potential, system: &System, h: f64) -> f64 {
        let reference = evaluate(potential, system);
        let mut worst: f64 = 0.0;
        for a in 0..3 {
            for b in 0..3 {
                let strained = |sign: f64| {
                    let mut e = Matrix3::zeros();
                    e[(a, b)] = sign * h;
                    let deformation = Matrix3::identity() + e;
                    let mut s = system.clone();
                    s.cell = system.cell.deformed(&deformation).unwrap();
                    for r in s.positions.iter_mut() {
                        *r = deformation * *r;
                    }
                    s
                };
                let de = (evaluate(potential, &strained(1.0)).energy - evaluate(potential, &strained(-1.0)).energy)
                    / (2.0 * h);
                worst = worst.max((-de - reference.virial[(b, a)]).abs());
            }
        }
        worst
    }
}

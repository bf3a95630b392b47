//! Embedded-atom method potentials read from LAMMPS/DYNAMO tables, evaluated exactly as LAMMPS
//! `pair_style eam` (funcfl files) and `pair_style eam/alloy` (setfl files) do.
//!
//! E = Σ_i F_{t_i}(ρ_i) + ½ Σ_i Σ_{j≠i} φ_{t_i t_j}(r_ij),   ρ_i = Σ_{j≠i} ρ_{t_j}(r_ij)
//!
//! (Daw & Baskes, Phys. Rev. B 29, 6443 (1984); Foiles, Baskes & Daw, Phys. Rev. B 33, 7983 (1986)).
//! The tables are turned into LAMMPS's cubic splines ([`spline::interpolate`]); a distance r is looked up as
//! p = r/dr + 1, m = min(⌊p⌋, nr−1), p ← min(p − m, 1), a density as p = ρ/dρ + 1, m = clamp(⌊p⌋, 1, nρ−1),
//! p ← min(p − m, 1). Beyond ρ_max = (nρ_file − 1)·dρ the embedding energy is continued linearly,
//! F(ρ) = F(ρ_max) + F'(ρ_max)(ρ − ρ_max) (LAMMPS: "add linear term to conserve energy"); φ = (r·φ)/r.
//! Force on atom i: F_i = Σ_j ψ'_ij d_ij/r_ij with d_ij = r_j − r_i and
//! ψ'_ij = F'_i ρ'_{t_j}(r_ij) + F'_j ρ'_{t_i}(r_ij) + φ'_ij(r_ij).
//!
//! funcfl tables are first resampled onto one grid with LAMMPS's four-point Lagrange formula and that grid
//! keeps nr = round((nr_file − 1)·dr/dr) points (one fewer than the file, as LAMMPS); the pair function is
//! r·φ_ij = 27.2·0.529·Z_i(r)·Z_j(r) ([`crate::units::FUNCFL_HARTREE_BOHR_IN_EV_A`]).
//!
//! Evaluation runs two passes over the full neighbour list, in parallel over atoms in fixed chunks (densities
//! and embedding derivatives, then forces, per-atom energies and virial); every sum is taken in a fixed order,
//! so results do not depend on the number of threads.

pub mod funcfl;
mod reader;
pub mod setfl;
pub mod spline;

pub use funcfl::Funcfl;
pub use setfl::{Setfl, SetflElement};

use super::{close_neighbors, Evaluation, EvaluationResult, Potential, PotentialConfig};
use crate::input::{join, InvalidValue};
use crate::neighbors::NeighborList;
use crate::system::{elements, System};
use crate::units::FUNCFL_HARTREE_BOHR_IN_EV_A;
use rayon::prelude::*;
use serde::Deserialize;
use spline::SplineNode;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Atoms per parallel work item. Fixed (not derived from the thread count) so that partial sums, and hence
/// the results, are the same for any number of threads.
const CHUNK: usize = 64;

/// The two LAMMPS EAM file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EamFormat {
    /// DYNAMO single-element file (`pair_style eam`).
    Funcfl,
    /// DYNAMO multi-element file (`pair_style eam/alloy`).
    Setfl,
}

impl EamFormat {
    /// The format implied by a file name: `.eam` → funcfl; `.eam.alloy`, `.alloy`, `.setfl` → setfl.
    pub fn guess(path: &Path) -> Option<EamFormat> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".alloy") || name.ends_with(".setfl") {
            Some(EamFormat::Setfl)
        } else if name.ends_with(".eam") || name.ends_with(".funcfl") {
            Some(EamFormat::Funcfl)
        } else {
            None
        }
    }
}

/// `[potential]` settings for `kind = "eam"`.
///
/// ```toml
/// [potential]
/// kind = "eam"
/// file = "Cu_u3.eam"      # path (relative to the input file's folder)
/// format = "funcfl"       # optional: "funcfl" or "setfl"; default guessed from the file name
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EamConfig {
    /// The potential file.
    pub file: PathBuf,
    /// File format; default: guessed from the name (`.eam` → funcfl, `.eam.alloy`/`.alloy`/`.setfl` → setfl).
    #[serde(default)]
    pub format: Option<EamFormat>,
}

impl PotentialConfig for EamConfig {
    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        EamConfig::validate(self, key)
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.file = base.join(&self.file);
    }

    fn files(&self) -> Vec<PathBuf> {
        vec![self.file.clone()]
    }

    fn build(&self, key: &str) -> anyhow::Result<Arc<dyn Potential>> {
        Ok(Arc::new(Eam::from_config(self, key)?))
    }
}

impl EamConfig {
    /// Checks the settings without reading the file; `key` is the table prefix, e.g. `potential`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        if self.file.as_os_str().is_empty() {
            return Err(InvalidValue::new(join(key, "file"), "\"\"", "the path of a LAMMPS EAM potential file"));
        }
        self.resolved_format(key).map(|_| ())
    }

    /// The given format or the one guessed from the file name.
    pub fn resolved_format(&self, key: &str) -> Result<EamFormat, InvalidValue> {
        self.format.or_else(|| EamFormat::guess(&self.file)).ok_or_else(|| {
            InvalidValue::new(
                join(key, "file"),
                format!("\"{}\"", self.file.display()),
                "a name ending in .eam (funcfl) or .eam.alloy/.alloy/.setfl (setfl), or an explicit \
                 format = \"funcfl\" | \"setfl\"",
            )
        })
    }
}

/// A problem with an EAM potential file.
#[derive(Debug, thiserror::Error)]
pub enum EamFileError {
    #[error("{path}: cannot open: {reason}")]
    Open { path: String, reason: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Syntax { path: String, line: usize, message: String },
    #[error("{0}")]
    Settings(#[from] InvalidValue),
    #[error("funcfl files {first} and {second} both describe {symbol}")]
    DuplicateElement { first: String, second: String, symbol: String },
    #[error("funcfl files: the common grid (dr = {dr}, drho = {drho}) keeps only {nr} r points and {nrho} rho points; at least 5 of each are needed")]
    CoarseGrid { dr: f64, drho: f64, nr: usize, nrho: usize },
}

/// Spline coefficients the force pass needs for one ordered element pair (a = element of i, b = element of
/// j) on one r interval, side by side in one cache-aligned block.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct PairNode {
    /// ρ'_a as (c₀p + c₁)p + c₂: derivative of the density atom i gives atom j.
    density_i: [f64; 3],
    /// ρ'_b: derivative of the density atom j gives atom i.
    density_j: [f64; 3],
    /// (r·φ_ab)'.
    pair_derivative: [f64; 3],
    /// r·φ_ab as ((c₃p + c₄)p + c₅)p + c₆.
    pair_value: [f64; 4],
}

/// An EAM potential with its splined tables.
#[derive(Clone, Debug)]
pub struct Eam {
    name: &'static str,
    /// Atomic numbers in file order.
    species: Vec<u8>,
    /// Masses from the file (amu), in file order.
    masses: Vec<f64>,
    /// Element index by atomic number (u8::MAX when absent).
    index_of: Vec<u8>,
    nr: usize,
    nrho: usize,
    rdr: f64,
    rdrho: f64,
    rhomax: f64,
    cutoff: f64,
    /// F splines, element e at `e * (nrho + 1) + m`.
    embedding: Vec<SplineNode>,
    /// ρ value coefficients [c₃, c₄, c₅, c₆], element e at `e * (nr + 1) + m`.
    density: Vec<[f64; 4]>,
    /// Force-pass coefficients, pair (a, b) at `(a * n + b) * (nr + 1) + m`.
    pair: Vec<PairNode>,
}

impl Eam {
    /// Builds the potential a `[potential]` table with `kind = "eam"` describes; `key` prefixes errors.
    pub fn from_config(config: &EamConfig, key: &str) -> Result<Eam, EamFileError> {
        match config.resolved_format(key)? {
            EamFormat::Funcfl => Eam::read_funcfl(&[config.file.as_path()]),
            EamFormat::Setfl => Eam::read_setfl(&config.file),
        }
    }

    /// Reads one or more funcfl files (one element each) as LAMMPS `pair_style eam` with
    /// `pair_coeff i i file_i` for every file.
    pub fn read_funcfl(paths: &[&Path]) -> Result<Eam, EamFileError> {
        let files = paths.iter().map(|p| Funcfl::read(p)).collect::<Result<Vec<_>, _>>()?;
        for (a, fa) in files.iter().enumerate() {
            if let Some(b) = files[..a].iter().position(|fb| fb.atomic_number == fa.atomic_number) {
                return Err(EamFileError::DuplicateElement {
                    first: paths[b].display().to_string(),
                    second: paths[a].display().to_string(),
                    symbol: elements::symbol(fa.atomic_number).to_string(),
                });
            }
        }
        Eam::from_funcfl(&files)
    }

    /// Reads a setfl file as LAMMPS `pair_style eam/alloy` with every element of the file mapped.
    pub fn read_setfl(path: &Path) -> Result<Eam, EamFileError> {
        Ok(Eam::from_setfl(&Setfl::read(path)?))
    }

    /// The potential of funcfl tables with distinct elements (LAMMPS `PairEAM::file2array`): the finest
    /// common grid dr = max dr_f, dρ = max dρ_f, r_max = max (nr_f − 1)dr_f, ρ_max = max (nρ_f − 1)dρ_f,
    /// nr = ⌊r_max/dr + ½⌋, nρ = ⌊ρ_max/dρ + ½⌋, every table resampled onto it.
    /// Fails only when that grid has fewer than 5 points (LAMMPS would read out of bounds).
    pub fn from_funcfl(files: &[Funcfl]) -> Result<Eam, EamFileError> {
        let (mut dr, mut drho, mut rmax, mut rhomax, mut cutoff) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for f in files {
            dr = dr.max(f.dr);
            drho = drho.max(f.drho);
            rmax = rmax.max((f.nr() - 1) as f64 * f.dr);
            rhomax = rhomax.max((f.nrho() - 1) as f64 * f.drho);
            cutoff = cutoff.max(f.cutoff);
        }
        let nr = (rmax / dr + 0.5) as usize;
        let nrho = (rhomax / drho + 0.5) as usize;
        if nr < 5 || nrho < 5 {
            return Err(EamFileError::CoarseGrid { dr, drho, nr, nrho });
        }
        let embedding: Vec<Vec<f64>> =
            files.iter().map(|f| spline::resample_lagrange(&f.embedding, f.drho, drho, nrho)).collect();
        let density: Vec<Vec<f64>> =
            files.iter().map(|f| spline::resample_lagrange(&f.density, f.dr, dr, nr)).collect();
        let charge: Vec<Vec<f64>> =
            files.iter().map(|f| spline::resample_lagrange(&f.effective_charge, f.dr, dr, nr)).collect();
        let mut pair = Vec::new();
        for i in 0..files.len() {
            for j in 0..=i {
                pair.push((0..=nr).map(|m| FUNCFL_HARTREE_BOHR_IN_EV_A * charge[i][m] * charge[j][m]).collect());
            }
        }
        let tables = Tables {
            species: files.iter().map(|f| f.atomic_number).collect(),
            masses: files.iter().map(|f| f.mass).collect(),
            nr,
            dr,
            nrho,
            drho,
            rhomax,
            cutoff,
            embedding,
            density,
            pair,
        };
        Ok(Eam::from_tables("eam", tables))
    }

    /// The potential of a setfl file (LAMMPS `PairEAMAlloy::file2array`): the file's grid, ρ_max = (nρ − 1)dρ.
    pub fn from_setfl(setfl: &Setfl) -> Eam {
        let tables = Tables {
            species: setfl.elements.iter().map(|e| e.atomic_number).collect(),
            masses: setfl.elements.iter().map(|e| e.mass).collect(),
            nr: setfl.nr,
            dr: setfl.dr,
            nrho: setfl.nrho,
            drho: setfl.drho,
            rhomax: (setfl.nrho - 1) as f64 * setfl.drho,
            cutoff: setfl.cutoff,
            embedding: setfl.elements.iter().map(|e| e.embedding.clone()).collect(),
            density: setfl.elements.iter().map(|e| e.density.clone()).collect(),
            pair: setfl.pair.clone(),
        };
        Eam::from_tables("eam/alloy", tables)
    }

    fn from_tables(name: &'static str, t: Tables) -> Eam {
        let n = t.species.len();
        let mut index_of = vec![u8::MAX; 256];
        for (e, &z) in t.species.iter().enumerate() {
            index_of[z as usize] = e as u8;
        }
        let embedding: Vec<SplineNode> = t.embedding.iter().flat_map(|f| spline::interpolate(f, t.drho)).collect();
        let density_splines: Vec<Vec<SplineNode>> = t.density.iter().map(|f| spline::interpolate(f, t.dr)).collect();
        let pair_splines: Vec<Vec<SplineNode>> = t.pair.iter().map(|f| spline::interpolate(f, t.dr)).collect();
        let density = density_splines.iter().flatten().map(|s| [s[3], s[4], s[5], s[6]]).collect();
        let mut pair = vec![PairNode::default(); n * n * (t.nr + 1)];
        for a in 0..n {
            for b in 0..n {
                // Lower-triangular index of (max(a,b), min(a,b)), as LAMMPS's type2z2r.
                let (row, col) = (a.max(b), a.min(b));
                let phi = &pair_splines[row * (row + 1) / 2 + col];
                for m in 0..=t.nr {
                    let (ra, rb, z) = (&density_splines[a][m], &density_splines[b][m], &phi[m]);
                    pair[(a * n + b) * (t.nr + 1) + m] = PairNode {
                        density_i: [ra[0], ra[1], ra[2]],
                        density_j: [rb[0], rb[1], rb[2]],
                        pair_derivative: [z[0], z[1], z[2]],
                        pair_value: [z[3], z[4], z[5], z[6]],
                    };
                }
            }
        }
        Eam {
            name,
            species: t.species,
            masses: t.masses,
            index_of,
            nr: t.nr,
            nrho: t.nrho,
            rdr: 1.0 / t.dr,
            rdrho: 1.0 / t.drho,
            rhomax: t.rhomax,
            cutoff: t.cutoff,
            embedding,
            density,
            pair,
        }
    }

    /// Masses given in the file (amu), by atomic number, in file order.
    pub fn masses(&self) -> Vec<(u8, f64)> {
        self.species.iter().copied().zip(self.masses.iter().copied()).collect()
    }

    /// Upper end of the embedding table ρ_max; F is continued linearly beyond it.
    pub fn rhomax(&self) -> f64 {
        self.rhomax
    }

    /// Interval index and fraction of a distance (LAMMPS: p = r·rdr + 1, m = min(⌊p⌋, nr−1), p ← min(p−m, 1)).
    #[inline(always)]
    fn locate_r(&self, r: f64) -> (usize, f64) {
        let p = r * self.rdr + 1.0;
        let m = (p as usize).min(self.nr - 1);
        (m, (p - m as f64).min(1.0))
    }

    /// Embedding energy and its derivative for element `e` at density `rho`.
    #[inline(always)]
    fn embed(&self, e: usize, rho: f64) -> (f64, f64) {
        let p = rho * self.rdrho + 1.0;
        let m = (p as i64).clamp(1, self.nrho as i64 - 1) as usize;
        let p = (p - m as f64).min(1.0);
        let node = &self.embedding[e * (self.nrho + 1) + m];
        let derivative = spline::derivative(node, p);
        let mut energy = spline::value(node, p);
        if rho > self.rhomax {
            energy += derivative * (rho - self.rhomax);
        }
        (energy, derivative)
    }
}

/// Tables on one grid, 1-based, before splining.
struct Tables {
    species: Vec<u8>,
    masses: Vec<f64>,
    nr: usize,
    dr: f64,
    nrho: usize,
    drho: f64,
    rhomax: f64,
    cutoff: f64,
    embedding: Vec<Vec<f64>>,
    density: Vec<Vec<f64>>,
    pair: Vec<Vec<f64>>,
}

impl Potential for Eam {
    fn name(&self) -> &str {
        self.name
    }

    fn cutoff(&self) -> f64 {
        self.cutoff
    }

    fn species(&self) -> Vec<u8> {
        self.species.clone()
    }

    fn compute(&self, system: &System, neighbors: &NeighborList) -> EvaluationResult {
        Ok(self.evaluation(system, neighbors))
    }
}

impl Eam {
    /// Energy, forces, virial and per-atom energies (two passes: densities, then forces).
    fn evaluation(&self, system: &System, neighbors: &NeighborList) -> Evaluation {
        let n_atoms = system.len();
        let n = self.species.len();
        let cutoff2 = self.cutoff * self.cutoff;
        let positions = &system.positions;
        let types: Vec<u8> = system
            .atomic_numbers
            .iter()
            .map(|&z| {
                let e = self.index_of[z as usize];
                assert!(e != u8::MAX, "element {} is not in the EAM potential (check_species first)", z);
                e
            })
            .collect();

        // Pass 1: ρ_i, then F(ρ_i) and F'(ρ_i).
        let mut embedding_energy = vec![0.0; n_atoms];
        let mut embedding_derivative = vec![0.0; n_atoms];
        embedding_energy.par_chunks_mut(CHUNK).zip(embedding_derivative.par_chunks_mut(CHUNK)).enumerate().for_each(
            |(chunk, (energies, derivatives))| {
                let mut close = Vec::new();
                for k in 0..energies.len() {
                    let i = chunk * CHUNK + k;
                    let count = close_neighbors(positions, neighbors, i, cutoff2, &mut close);
                    let mut rho = 0.0;
                    for neighbor in &close[..count] {
                        let (m, p) = self.locate_r(neighbor.r2.sqrt());
                        let c = &self.density[types[neighbor.j] as usize * (self.nr + 1) + m];
                        rho += ((c[0] * p + c[1]) * p + c[2]) * p + c[3];
                    }
                    (energies[k], derivatives[k]) = self.embed(types[i] as usize, rho);
                }
            },
        );

        // Pass 2: a pair sum with the effective pair term ψ'(r) = F'_i ρ_j'(r) + F'_j ρ_i'(r) + φ'(r) (forces,
        // ½Σφ per atom, virial), then F_i added to each atom's energy.
        let fp = &embedding_derivative;
        let mut evaluation = super::pair_sum(system, neighbors, cutoff2, |i, j, r2| {
            let r = r2.sqrt();
            let (m, p) = self.locate_r(r);
            let c = &self.pair[(types[i] as usize * n + types[j] as usize) * (self.nr + 1) + m];
            let rhoip = (c.density_i[0] * p + c.density_i[1]) * p + c.density_i[2];
            let rhojp = (c.density_j[0] * p + c.density_j[1]) * p + c.density_j[2];
            let z2p = (c.pair_derivative[0] * p + c.pair_derivative[1]) * p + c.pair_derivative[2];
            let z2 = ((c.pair_value[0] * p + c.pair_value[1]) * p + c.pair_value[2]) * p + c.pair_value[3];
            let recip = 1.0 / r;
            let phi = z2 * recip;
            let phip = z2p * recip - phi * recip;
            let psip = fp[i] * rhojp + fp[j] * rhoip + phip;
            Some((phi, psip * recip))
        });
        for (energy, embedding) in evaluation.atom_energies.iter_mut().zip(&embedding_energy) {
            *energy += embedding;
        }
        evaluation.energy = evaluation.atom_energies.iter().sum();
        evaluation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::potentials::testing;
    use crate::system::Cell;
    use nalgebra::Vector3;

    /// Smooth model tables: F(ρ) = 0.4(ρ − 1.2)² − 1.5ρ, ρ(r) = s·e^(−1.3(r − 2.5))·(r_c − r)²,
    /// Z(r) = q·(r_c − r)²·e^(−r/2).
    fn embedding_fn(rho: f64) -> f64 {
        0.4 * (rho - 1.2).powi(2) - 1.5 * rho
    }
    fn density_fn(r: f64, s: f64, rc: f64) -> f64 {
        s * (-1.3 * (r - 2.5)).exp() * (rc - r).max(0.0).powi(2)
    }
    fn charge_fn(r: f64, q: f64, rc: f64) -> f64 {
        q * (rc - r).max(0.0).powi(2) * (-0.5 * r).exp()
    }

    fn column(values: impl Iterator<Item = f64>) -> String {
        values
            .map(|v| format!("{v:.16e}"))
            .collect::<Vec<_>>()
            .chunks(5)
            .map(|c| c.join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    const RC: f64 = 4.8;

    fn funcfl_text(z: u8, s: f64, q: f64) -> String {
        let (nrho, drho, nr, dr) = (400, 0.01, 500, 0.01);
        format!(
            "model funcfl\n{z} 63.55 3.615 FCC\n{nrho} {drho} {nr} {dr} {RC}\n{}\n{}\n{}\n",
            column((0..nrho).map(|k| embedding_fn(k as f64 * drho))),
            column((0..nr).map(|k| charge_fn(k as f64 * dr, q, RC))),
            column((0..nr).map(|k| density_fn(k as f64 * dr, s, RC))),
        )
    }

    fn pair_fn(r: f64, a: f64) -> f64 {
        // r·φ(r) with φ(r) = a·e^(−2(r − 2.4))(r_c − r)² − 0.1(r_c − r)².
        r * (a * (-2.0 * (r - 2.4)).exp() - 0.1) * (RC - r).max(0.0).powi(2)
    }

    fn setfl_text() -> String {
        let (nrho, drho, nr, dr) = (400, 0.01, 500, 0.0099);
        let mut text = format!("model setfl\nsecond comment\nthird comment\n2 Ni Cu\n{nrho} {drho} {nr} {dr} {RC}\n");
        for (z, s) in [(28, 0.09), (29, 0.11)] {
            text += &format!(
                "{z} 58.69 3.52 FCC\n{}\n{}\n",
                column((0..nrho).map(|k| embedding_fn(k as f64 * drho) * s * 10.0)),
                column((0..nr).map(|k| density_fn(k as f64 * dr, s, RC)))
            );
        }
        for a in [0.5, 0.55, 0.6] {
            text += &column((0..nr).map(|k| pair_fn(k as f64 * dr, a)));
            text += "\n";
        }
        text
    }

    fn funcfl(z: u8, s: f64, q: f64) -> Funcfl {
        Funcfl::parse(Path::new("model.eam"), &funcfl_text(z, s, q)).unwrap()
    }

    fn setfl() -> Eam {
        Eam::from_setfl(&Setfl::parse(Path::new("model.eam.alloy"), &setfl_text()).unwrap())
    }

    /// A rattled fcc crystal in a sheared cell; every third atom (Ni) when `alloy`.
    fn crystal(alloy: bool) -> System {
        let a = 3.6;
        let cell = Cell::from_vectors(
            Vector3::new(2.0 * a, 0.0, 0.0),
            Vector3::new(0.3, 2.0 * a, 0.0),
            Vector3::new(-0.4, 0.5, 2.0 * a),
        )
        .unwrap();
        let mut s = System::new(cell.clone());
        let mut k = 0.0f64;
        for i in 0..2 {
            for j in 0..2 {
                for l in 0..2 {
                    for f in [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]] {
                        k += 1.0;
                        let frac = Vector3::new(i as f64 + f[0], j as f64 + f[1], l as f64 + f[2]) / 2.0;
                        let rattle = Vector3::new((1.7 * k).sin(), (2.3 * k).cos(), (0.9 * k).sin()) * 0.08;
                        let z = if alloy && (k as usize) % 3 == 0 { 28 } else { 29 };
                        s.push(z, cell.cartesian(&frac) + rattle);
                    }
                }
            }
        }
        s
    }

    #[test]
    fn funcfl_forces_and_virial_are_energy_derivatives() {
        let eam = Eam::from_funcfl(&[funcfl(29, 0.1, 0.8)]).unwrap();
        let system = crystal(false);
        assert!(testing::max_force_error(&eam, &system, 1e-5) < 1e-7);
        assert!(testing::max_virial_error(&eam, &system, 1e-6) < 1e-6);
    }

    #[test]
    fn setfl_forces_and_virial_are_energy_derivatives() {
        let eam = setfl();
        let system = crystal(true);
        assert!(testing::max_force_error(&eam, &system, 1e-5) < 1e-7);
        assert!(testing::max_virial_error(&eam, &system, 1e-6) < 1e-6);
    }

    #[test]
    fn dimer_on_a_grid_node_gives_the_tabulated_values() {
        // At r = 200·dr the splines return the table values: E = 2F(ρ(r)) + 27.2·0.529·Z(r)²/r.
        let file = funcfl(29, 0.1, 0.8);
        let eam = Eam::from_funcfl(std::slice::from_ref(&file)).unwrap();
        let r = 2.0;
        let mut s = System::new(Cell::infinite());
        s.push(29, Vector3::zeros());
        s.push(29, Vector3::new(0.0, r, 0.0));
        let e = testing::evaluate(&eam, &s);
        let rho = file.density[201];
        // F between table nodes follows the spline of F; compare with the spline's own value, then
        // the spline with the function it samples.
        let (f_rho, _) = eam.embed(0, rho);
        assert!((f_rho - embedding_fn(rho)).abs() < 1e-8);
        let expected = 2.0 * f_rho + FUNCFL_HARTREE_BOHR_IN_EV_A * file.effective_charge[201].powi(2) / r;
        assert!((e.energy - expected).abs() < 1e-12, "{} vs {expected}", e.energy);
        assert!((e.atom_energies[0] - e.atom_energies[1]).abs() < 1e-14);
        assert!((e.forces[0] + e.forces[1]).norm() < 1e-14);
        assert!(e.forces[0].x == 0.0 && e.forces[0].z == 0.0);
    }

    #[test]
    fn two_funcfl_files_mix_pair_as_product_of_charges() {
        let (cu, ni) = (funcfl(29, 0.1, 0.8), funcfl(28, 0.07, 0.6));
        let eam = Eam::from_funcfl(&[cu.clone(), ni.clone()]).unwrap();
        assert_eq!(eam.species(), vec![29, 28]);
        let r = 2.5;
        let mut s = System::new(Cell::infinite());
        s.push(29, Vector3::zeros());
        s.push(28, Vector3::new(r, 0.0, 0.0));
        let e = testing::evaluate(&eam, &s);
        let m = 251;
        let expected = eam.embed(0, ni.density[m]).0
            + eam.embed(1, cu.density[m]).0
            + FUNCFL_HARTREE_BOHR_IN_EV_A * cu.effective_charge[m] * ni.effective_charge[m] / r;
        assert!((e.energy - expected).abs() < 1e-12, "{} vs {expected}", e.energy);
        assert!(testing::max_force_error(&eam, &s, 1e-5) < 1e-7);
    }

    #[test]
    fn funcfl_grid_keeps_one_point_fewer_than_the_file_as_lammps() {
        let eam = Eam::from_funcfl(&[funcfl(29, 0.1, 0.8)]).unwrap();
        assert_eq!((eam.nr, eam.nrho), (499, 399));
        assert!((eam.rhomax() - 399.0 * 0.01).abs() < 1e-12);
        let alloy = setfl();
        assert_eq!((alloy.nr, alloy.nrho), (500, 400));
        assert!((alloy.rhomax() - 399.0 * 0.01).abs() < 1e-12);
        assert_eq!(alloy.name(), "eam/alloy");
        assert_eq!(alloy.masses(), vec![(28, 58.69), (29, 58.69)]);
    }

    #[test]
    fn embedding_is_continued_linearly_beyond_rhomax() {
        let eam = setfl();
        let rhomax = eam.rhomax();
        let (f_max, fp_max) = eam.embed(1, rhomax);
        for excess in [0.1, 0.7, 3.0] {
            let (f, fp) = eam.embed(1, rhomax + excess);
            assert_eq!(fp, fp_max);
            assert!((f - (f_max + fp_max * excess)).abs() < 1e-12);
        }
        // A compressed cluster beyond the table still has forces that are energy derivatives.
        let mut s = System::new(Cell::infinite());
        for k in 0..13 {
            s.push(29, Vector3::new((k % 3) as f64, ((k / 3) % 3) as f64, (k / 9) as f64) * 0.9);
        }
        assert!(density_fn(0.9, 0.11, RC) > rhomax, "one neighbour at 0.9 Å is already beyond the table");
        let e = testing::evaluate(&eam, &s);
        assert!(testing::max_force_error(&eam, &s, 1e-6) < 1e-5 * e.max_force().max(1.0));
    }

    #[test]
    fn results_do_not_depend_on_thread_count() {
        let eam = setfl();
        let system = crystal(true).supercell([3, 3, 3]);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| testing::evaluate(&eam, &system))
        };
        assert_eq!(run(1), run(2));
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn config_guesses_format_and_reports_bad_settings() {
        let config: EamConfig = toml::from_str("file = \"pots/CuNi.eam.alloy\"").unwrap();
        assert_eq!(config.resolved_format("potential"), Ok(EamFormat::Setfl));
        let config: EamConfig = toml::from_str("file = \"Cu_u3.eam\"").unwrap();
        assert_eq!(config.resolved_format("potential"), Ok(EamFormat::Funcfl));
        let config: EamConfig = toml::from_str("file = \"Cu.txt\"\nformat = \"setfl\"").unwrap();
        assert!(config.validate("potential").is_ok());
        let config: EamConfig = toml::from_str("file = \"Cu.txt\"").unwrap();
        assert_eq!(
            config.validate("potential").unwrap_err().to_string(),
            "potential.file = \"Cu.txt\": expected a name ending in .eam (funcfl) or .eam.alloy/.alloy/.setfl \
             (setfl), or an explicit format = \"funcfl\" | \"setfl\""
        );
        let err = toml::from_str::<EamConfig>("file = \"a.eam\"\nformat = \"fs\"").unwrap_err().to_string();
        assert!(err.contains("unknown variant `fs`, expected `funcfl` or `setfl`"), "{err}");
        let err = toml::from_str::<EamConfig>("file = \"a.eam\"\nfiel = 1").unwrap_err().to_string();
        assert!(err.contains("unknown field `fiel`"), "{err}");
    }

    #[test]
    fn unknown_element_is_reported_by_check_species() {
        let eam = setfl();
        let mut s = crystal(false);
        s.atomic_numbers[5] = 13;
        let err = crate::potentials::check_species(&eam, &s).unwrap_err().to_string();
        assert_eq!(
            err,
            "element Al (atom 6, counting from 1) is not described by the eam/alloy potential, which knows Ni, Cu"
        );
    }
}

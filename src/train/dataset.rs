//! Labelled structures and their precomputed descriptors.
//!
//! Symmetry functions do not depend on the network weights, so for every atom i the raw values G_ik and
//! their Jacobian ∂G_ik/∂r_a (for every atom a within the cutoff of i, periodic images folded onto the
//! atom, and a = i) are computed once with the evaluator's own descriptor code
//! ([`Group::values`](crate::potentials::nnp::symmetry_functions::Group::values) and
//! [`Group::gradient`](crate::potentials::nnp::symmetry_functions::Group::gradient)) and kept for the
//! whole training. Forces are then F_a = −Σ_i Σ_k (∂E_i/∂G_ik) ∂G_ik/∂r_a (Behler & Parrinello,
//! Phys. Rev. Lett. 98, 146401 (2007)).

use crate::io::{extxyz, n2p2};
use crate::neighbors::NeighborList;
use crate::potentials::nnp::symmetry_functions::{GroupScratch, NeighborData};
use crate::potentials::nnp::ElementModel;
use crate::system::System;
use anyhow::{bail, Context};
use nalgebra::Vector3;
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;

/// One labelled structure in eV and Å.
#[derive(Clone, Debug)]
pub struct LabelledStructure {
    pub system: System,
    /// Total energy (eV).
    pub energy: f64,
    /// Per-atom forces (eV/Å).
    pub forces: Vec<Vector3<f64>>,
}

/// Reads labelled structures from an extended XYZ file (`energy` in the comment line, per-atom `forces`)
/// or an n2p2 `input.data` file, converting lengths by `length_unit_a` (Å per file unit) and energies by
/// `energy_unit_ev` (eV per file unit).
pub fn read_labelled(
    path: &Path,
    format: DataFormat,
    length_unit_a: f64,
    energy_unit_ev: f64,
) -> anyhow::Result<Vec<LabelledStructure>> {
    let force_unit = energy_unit_ev / length_unit_a;
    let mut out = Vec::new();
    match format {
        DataFormat::Extxyz => {
            let frames = extxyz::read_frames(path)?;
            for (n, frame) in frames.into_iter().enumerate() {
                let energy = frame.info_f64("energy").with_context(|| {
                    format!("{}: frame {} has no 'energy=' value in its comment line", path.display(), n + 1)
                })?;
                let forces = frame.forces.clone().with_context(|| {
                    format!(
                        "{}: frame {} has no per-atom 'forces' column (Properties=...:forces:R:3)",
                        path.display(),
                        n + 1
                    )
                })?;
                out.push(LabelledStructure { system: frame.system, energy, forces });
            }
        }
        DataFormat::N2p2 => {
            for s in n2p2::read(path)? {
                out.push(LabelledStructure { system: s.system, energy: s.energy, forces: s.forces });
            }
        }
    }
    if out.is_empty() {
        bail!("{}: no structures found", path.display());
    }
    for s in &mut out {
        if length_unit_a != 1.0 {
            if !s.system.cell.is_infinite() {
                let m = s.system.cell.matrix() * length_unit_a;
                s.system.cell = crate::system::Cell::from_matrix(m, s.system.cell.periodic())
                    .context("scaled cell is degenerate")?;
            }
            for p in &mut s.system.positions {
                *p *= length_unit_a;
            }
        }
        s.energy *= energy_unit_ev;
        for f in &mut s.forces {
            *f *= force_unit;
        }
    }
    Ok(out)
}

/// Format of a data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// Extended XYZ (`.xyz`, `.extxyz`).
    Extxyz,
    /// n2p2 `input.data`.
    N2p2,
}

impl DataFormat {
    /// Guesses the format from the file name: `*.xyz`/`*.extxyz` → extended XYZ, `*.data` → n2p2.
    pub fn guess(path: &Path) -> Option<DataFormat> {
        let name = path.file_name()?.to_string_lossy().to_lowercase();
        if name.ends_with(".xyz") || name.ends_with(".extxyz") {
            Some(DataFormat::Extxyz)
        } else if name.ends_with(".data") {
            Some(DataFormat::N2p2)
        } else {
            None
        }
    }
}

/// Descriptors of one atom: raw symmetry functions and their Jacobian.
#[derive(Clone, Debug)]
pub struct AtomDescriptors {
    /// Element index (position in the potential's element list, increasing atomic number).
    pub element: usize,
    /// Raw symmetry-function values G_k in the element's sorted order.
    pub values: Vec<f64>,
    /// Atoms a whose positions G depends on (a = the atom itself first).
    pub atoms: Vec<u32>,
    /// ∂G_k/∂r_a for every slot a of `atoms` (Å⁻¹ times the unit of G).
    pub jacobian: SparseJacobian,
}

/// The Jacobian ∂G_k/∂r_a of one atom's symmetry functions, without its zero entries.
///
/// The Jacobians are nearly all of the trainer's memory (~100 neighbours × ~100 functions × 3 per atom), and
/// most of their entries are zero: a function of a centre depends only on neighbours of the element(s) it pairs
/// with, within its own cutoff (in Li3PO4, with 102 functions per element, about two entries in three). The
/// functions are stored in a [`jacobian_order`] that groups them by neighbour element, so that the non-zero
/// entries of one atom a come in one to three runs of consecutive functions; each run is kept as its first
/// position and its gradients. Gradients are kept in single precision, since a relative rounding of 6·10⁻⁸ is far
/// below any force error a fit reaches; they are read back as f64 and summed in f64.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseJacobian {
    /// Function index (in the element's n2p2 order) at each storage position.
    order: Arc<[u32]>,
    /// The runs of slot s (the position of a in [`AtomDescriptors::atoms`]) are `slot_runs[s]..slot_runs[s + 1]`.
    slot_runs: Vec<u32>,
    /// Storage position of the first function of each run.
    run_positions: Vec<u32>,
    /// The gradients of run r are `run_starts[r]..run_starts[r + 1]` (one more entry than runs).
    run_starts: Vec<u32>,
    gradients: Vec<[f32; 3]>,
}

impl SparseJacobian {
    /// Keeps the non-zero entries of a dense Jacobian laid out `[slot][function][xyz]` (functions in n2p2 order),
    /// stored in `order` (a permutation of the functions, as [`jacobian_order`] gives it).
    pub fn from_dense(dense: &[f64], slots: usize, order: Arc<[u32]>) -> SparseJacobian {
        let functions = order.len();
        assert_eq!(dense.len(), slots * functions * 3, "dense Jacobian layout");
        let mut jacobian = SparseJacobian {
            order,
            slot_runs: vec![0],
            run_positions: Vec::new(),
            run_starts: vec![0],
            gradients: Vec::new(),
        };
        for slot in dense.chunks_exact(functions * 3) {
            let mut in_run = false;
            for (position, &k) in jacobian.order.iter().enumerate() {
                let g = &slot[3 * k as usize..3 * k as usize + 3];
                let non_zero = g.iter().any(|&x| x != 0.0);
                if non_zero {
                    if !in_run {
                        jacobian.run_positions.push(position as u32);
                    }
                    jacobian.gradients.push([g[0] as f32, g[1] as f32, g[2] as f32]);
                } else if in_run {
                    jacobian.run_starts.push(jacobian.gradients.len() as u32);
                }
                in_run = non_zero;
            }
            if in_run {
                jacobian.run_starts.push(jacobian.gradients.len() as u32);
            }
            jacobian.slot_runs.push(jacobian.run_positions.len() as u32);
        }
        jacobian
    }

    /// The runs of the atom in `slot`: (first storage position, gradients at consecutive positions).
    fn runs(&self, slot: usize) -> impl Iterator<Item = (usize, &[[f32; 3]])> + '_ {
        (self.slot_runs[slot] as usize..self.slot_runs[slot + 1] as usize).map(move |r| {
            let gradients = &self.gradients[self.run_starts[r] as usize..self.run_starts[r + 1] as usize];
            (self.run_positions[r] as usize, gradients)
        })
    }

    /// Calls `visit(slot, Σ_k w_k ∂G_k/∂r_a)` for every slot a, with `weights` w in n2p2 order.
    pub fn contract(&self, weights: &[f64], mut visit: impl FnMut(usize, [f64; 3])) {
        let stored: Vec<f64> = self.order.iter().map(|&k| weights[k as usize]).collect();
        for slot in 0..self.slot_runs.len() - 1 {
            let mut sum = [0.0; 3];
            for (first, run) in self.runs(slot) {
                for (&w, j) in stored[first..].iter().zip(run) {
                    for c in 0..3 {
                        sum[c] += w * f64::from(j[c]);
                    }
                }
            }
            visit(slot, sum);
        }
    }

    /// Adds Σ_a v_a · ∂G_k/∂r_a to `out[k]` for every function k (n2p2 order), with v_a = `vector(slot of a)`.
    pub fn contract_transposed(&self, vector: impl Fn(usize) -> [f64; 3], out: &mut [f64]) {
        let mut stored = vec![0.0; self.order.len()];
        for slot in 0..self.slot_runs.len() - 1 {
            let v = vector(slot);
            for (first, run) in self.runs(slot) {
                for (s, j) in stored[first..].iter_mut().zip(run) {
                    *s += v[0] * f64::from(j[0]) + v[1] * f64::from(j[1]) + v[2] * f64::from(j[2]);
                }
            }
        }
        for (&k, s) in self.order.iter().zip(&stored) {
            out[k as usize] += s;
        }
    }

    /// Number of stored (slot, function) entries.
    pub fn entries(&self) -> usize {
        self.gradients.len()
    }

    /// Number of runs of consecutive stored functions.
    pub fn runs_stored(&self) -> usize {
        self.run_positions.len()
    }

    /// Memory held (bytes), the shared order excluded.
    pub fn bytes(&self) -> usize {
        (self.slot_runs.len() + self.run_positions.len() + self.run_starts.len()) * std::mem::size_of::<u32>()
            + self.gradients.len() * std::mem::size_of::<[f32; 3]>()
    }
}

/// The storage order of an element's functions in its [`SparseJacobian`]s: grouped by first neighbour element,
/// radial before angular within a group, angular ones by second neighbour element, then by n2p2 order. For
/// Li3PO4 (Li, O, P) that is r(Li) a(Li,Li) a(Li,O) a(Li,P) | r(O) a(O,O) a(O,P) | r(P) a(P,P): a Li neighbour's
/// functions are one run, an O neighbour's two, a P neighbour's three. Functions without neighbour elements
/// (weighted types) come last.
pub fn jacobian_order(model: &ElementModel) -> Arc<[u32]> {
    let mut order: Vec<u32> = (0..model.functions.len() as u32).collect();
    order.sort_by_key(|&k| {
        let f = &model.functions[k as usize];
        (f.e1.unwrap_or(usize::MAX), f.e2.is_some(), f.e2.unwrap_or(0), k)
    });
    order.into()
}

/// A labelled structure with its descriptors.
#[derive(Clone, Debug)]
pub struct StructureDescriptors {
    pub atoms: Vec<AtomDescriptors>,
    /// Reference energy (eV).
    pub energy: f64,
    /// Reference forces (eV/Å).
    pub forces: Vec<Vector3<f64>>,
}

impl StructureDescriptors {
    /// Memory held by the descriptors and Jacobians of all atoms (bytes).
    pub fn bytes(&self) -> usize {
        self.atoms
            .iter()
            .map(|a| {
                a.values.len() * std::mem::size_of::<f64>()
                    + a.atoms.len() * std::mem::size_of::<u32>()
                    + a.jacobian.bytes()
            })
            .sum()
    }

    pub fn len(&self) -> usize {
        self.atoms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.atoms.is_empty()
    }
}

/// Computes the descriptors of every atom of `structure` for the element models of a potential
/// (`cutoff` = the largest symmetry-function cutoff). Atoms are processed in parallel; results do not
/// depend on the number of threads.
pub fn describe(
    structure: &LabelledStructure,
    models: &[ElementModel],
    cutoff: f64,
) -> anyhow::Result<StructureDescriptors> {
    let system = &structure.system;
    let mut element_of = [usize::MAX; 256];
    for (e, m) in models.iter().enumerate() {
        element_of[m.atomic_number as usize] = e;
    }
    for &z in &system.atomic_numbers {
        if element_of[z as usize] == usize::MAX {
            bail!("element {} is not among the potential's elements", crate::system::elements::symbol(z));
        }
    }
    let orders: Vec<Arc<[u32]>> = models.iter().map(jacobian_order).collect();
    let mut list = NeighborList::new(cutoff, 0.0);
    list.build(system);
    let atoms = (0..system.len())
        .into_par_iter()
        .map_init(
            || (NeighborData::default(), Vec::<u32>::new(), Vec::<GroupScratch>::new()),
            |(nb, index, scratch), i| {
                nb.clear();
                index.clear();
                let ri = system.positions[i];
                for (&j, shift) in list.indices(i).iter().zip(list.shifts(i)) {
                    let d = system.positions[j as usize] - ri + shift;
                    let r2 = d.norm_squared();
                    if r2 < cutoff * cutoff && r2 > 0.0 {
                        let z = system.atomic_numbers[j as usize];
                        nb.push(element_of[z as usize], z as f64, [d.x, d.y, d.z], r2.sqrt());
                        index.push(j);
                    }
                }
                let element = element_of[system.atomic_numbers[i] as usize];
                let model = &models[element];
                let nf = model.functions.len();
                if scratch.len() < model.groups.len() {
                    scratch.resize_with(model.groups.len(), GroupScratch::default);
                }
                let mut values = vec![0.0; nf];
                for (g, cache) in model.groups.iter().zip(scratch.iter_mut()) {
                    g.values(nb, &mut values, cache);
                }
                // Distinct atoms: the centre first, then neighbours in order of first appearance.
                let mut atoms: Vec<u32> = vec![i as u32];
                let mut slot_of_entry = Vec::with_capacity(index.len());
                for &j in index.iter() {
                    let slot = atoms.iter().position(|&a| a == j).unwrap_or_else(|| {
                        atoms.push(j);
                        atoms.len() - 1
                    });
                    slot_of_entry.push(slot);
                }
                let mut jacobian = vec![0.0; atoms.len() * nf * 3];
                let mut weights = vec![0.0; nf];
                let mut gradient = vec![[0.0; 3]; nb.len()];
                for (g, cache) in model.groups.iter().zip(scratch.iter_mut()) {
                    for k in g.function_indices() {
                        weights[k] = 1.0;
                        gradient.iter_mut().for_each(|v| *v = [0.0; 3]);
                        g.gradient(nb, &weights, &mut gradient, cache);
                        weights[k] = 0.0;
                        // gradient[n] = ∂G_k/∂d_ij with d_ij = r_j − r_i: +g on j, −g on i.
                        for (n, v) in gradient.iter().enumerate() {
                            let s = slot_of_entry[n];
                            for c in 0..3 {
                                jacobian[(s * nf + k) * 3 + c] += v[c];
                                jacobian[k * 3 + c] -= v[c];
                            }
                        }
                    }
                }
                let jacobian = SparseJacobian::from_dense(&jacobian, atoms.len(), orders[element].clone());
                AtomDescriptors { element, values, atoms, jacobian }
            },
        )
        .collect();
    Ok(StructureDescriptors { atoms, energy: structure.energy, forces: structure.forces.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Σ_k w_k J[slot][k] and Σ_slot v_slot · J[slot][k] of a dense `[slot][k][xyz]` Jacobian read in f32.
    fn dense_contractions(
        dense: &[f64],
        slots: usize,
        weights: &[f64],
        vectors: &[[f64; 3]],
    ) -> (Vec<[f64; 3]>, Vec<f64>) {
        let nf = weights.len();
        let at = |s: usize, k: usize, c: usize| f64::from(dense[(s * nf + k) * 3 + c] as f32);
        let per_slot = (0..slots)
            .map(|s| {
                let mut sum = [0.0; 3];
                for (k, w) in weights.iter().enumerate() {
                    for (c, v) in sum.iter_mut().enumerate() {
                        *v += w * at(s, k, c);
                    }
                }
                sum
            })
            .collect();
        let per_function = (0..nf)
            .map(|k| (0..slots).map(|s| (0..3).map(|c| vectors[s][c] * at(s, k, c)).sum::<f64>()).sum())
            .collect();
        (per_slot, per_function)
    }

    #[test]
    fn sparse_contractions_equal_the_dense_ones_and_only_non_zero_entries_are_stored() {
        let (slots, nf) = (4, 6);
        // Slot s depends on function k unless (s + k) % 3 == 0; slot 2 depends on none.
        let dense: Vec<f64> = (0..slots * nf * 3)
            .map(|i| {
                let (s, k, c) = (i / (3 * nf), (i / 3) % nf, i % 3);
                if (s + k) % 3 == 0 || s == 2 {
                    0.0
                } else {
                    (1.0 + i as f64).sin() / (1.0 + c as f64)
                }
            })
            .collect();
        let order: Arc<[u32]> = vec![3, 0, 5, 1, 4, 2].into();
        let jacobian = SparseJacobian::from_dense(&dense, slots, order);
        let non_zero = dense.chunks_exact(3).filter(|g| g.iter().any(|&x| x != 0.0)).count();
        assert_eq!(jacobian.entries(), non_zero);
        let weights = [0.3, -1.2, 0.7, 2.0, -0.4, 1.1];
        let vectors = [[1.0, -2.0, 0.5], [0.2, 0.3, -0.9], [5.0, 5.0, 5.0], [-1.5, 0.4, 2.2]];
        let (per_slot, per_function) = dense_contractions(&dense, slots, &weights, &vectors);
        let mut visited = Vec::new();
        jacobian.contract(&weights, |slot, g| visited.push((slot, g)));
        assert_eq!(visited.len(), slots);
        for (slot, g) in visited {
            for c in 0..3 {
                assert!((g[c] - per_slot[slot][c]).abs() < 1e-12, "slot {slot}: {g:?} vs {:?}", per_slot[slot]);
            }
        }
        let mut out = vec![1.0; nf];
        jacobian.contract_transposed(|slot| vectors[slot], &mut out);
        for k in 0..nf {
            assert!(
                (out[k] - 1.0 - per_function[k]).abs() < 1e-12,
                "function {k}: {} vs {}",
                out[k] - 1.0,
                per_function[k]
            );
        }
    }
}

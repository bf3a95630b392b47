//! The symmetry-function descriptor of a structure, in one implementation: the neighbour gather, the raw
//! symmetry-function values G_ik (each element's functions in n2p2's sorted order), their derivatives and the
//! extrapolation check. The potential's evaluation ([`NnpPotential`](super::NnpPotential)), training
//! (`train::dataset`, which keeps sparse Jacobians ∂G_ik/∂r_a for the whole fit) and active-learning selection
//! (`train::select`, whose extrapolation counts are those of the committee members' evaluations) all use it.
//!
//! Per atom, on a per-thread [`DescriptorScratch`]: [`Descriptor::atom_values`] gathers the neighbours j of atom
//! i within the cutoff (d_ij = r_j − r_i over periodic images) and computes G_i, keeping the groups' pair data;
//! [`Descriptor::extrapolations`] counts the values outside the training range; [`Descriptor::atom_gradient`]
//! accumulates Σ_k w_k ∂G_ik/∂d_ij for weights w_k (∂E_i/∂G_ik in the evaluator) and
//! [`Descriptor::atom_jacobian`] keeps every ∂G_ik/∂r_a. The evaluator runs its network between
//! `atom_values` and `atom_gradient` on the same scratch, so that the gradient pass reuses the pair data of the
//! values pass while they are still in cache; a structure-wide pass would have to store them for every atom.
//! Per structure: [`Descriptor::values`], [`Descriptor::describe`] (values and Jacobians) and
//! [`Descriptor::extrapolation`] run the same per-atom steps over all atoms in parallel.

use super::symmetry_functions::{GroupScratch, NeighborData};
use super::{ElementModel, NnpError, EXTRAPOLATION_TOLERANCE, MAX_EXTRAPOLATION_EVENTS};
use crate::neighbors::NeighborList;
use crate::potentials::{Extrapolation, ExtrapolationEvent};
use crate::system::{elements, System};
use rayon::prelude::*;
use std::sync::Arc;

/// The descriptor of an NNP: its element models (symmetry functions, groups, scaling ranges) and cutoff
/// (the largest symmetry-function cutoff). Borrowed from the potential ([`NnpPotential::descriptor`](super::NnpPotential::descriptor)).
#[derive(Clone, Copy, Debug)]
pub struct Descriptor<'a> {
    elements: &'a [ElementModel],
    /// Element index by atomic number (`usize::MAX` when absent).
    index_of: &'a [usize],
    cutoff: f64,
}

/// Per-thread work space of the per-atom steps: the gathered neighbours of the current atom, the groups' pair
/// data, its values and its gradient.
#[derive(Clone, Debug, Default)]
pub struct DescriptorScratch {
    neighbors: NeighborData,
    /// Atom index of each neighbour entry.
    atom_index: Vec<u32>,
    groups: Vec<GroupScratch>,
    values: Vec<f64>,
    gradient: Vec<[f64; 3]>,
}

impl DescriptorScratch {
    /// Raw symmetry-function values of the atom of the last [`Descriptor::atom_values`].
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The same, to be transformed in place (the evaluator scales them into network input); the gradient steps
    /// do not read them.
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.values
    }

    /// Atom index of every neighbour entry (an atom appears once per periodic image within the cutoff).
    pub fn neighbor_atoms(&self) -> &[u32] {
        &self.atom_index
    }

    /// d_ij = r_j − r_i of every neighbour entry (Å).
    pub fn displacements(&self) -> &[[f64; 3]] {
        &self.neighbors.d
    }

    /// Σ_k w_k ∂G_ik/∂d_ij of every neighbour entry, as left by [`Descriptor::atom_gradient`].
    pub fn gradient(&self) -> &[[f64; 3]] {
        &self.gradient
    }
}

impl<'a> Descriptor<'a> {
    /// The descriptor of `elements` (in increasing atomic number), with `index_of[Z]` the element index of atomic
    /// number Z (`usize::MAX` when absent) and `cutoff` the largest symmetry-function cutoff.
    pub fn new(elements: &'a [ElementModel], index_of: &'a [usize], cutoff: f64) -> Descriptor<'a> {
        Descriptor { elements, index_of, cutoff }
    }

    /// The largest symmetry-function cutoff (Å): the neighbour lists given to the other methods must reach it.
    pub fn cutoff(&self) -> f64 {
        self.cutoff
    }

    /// The element models, in increasing atomic number.
    pub fn elements(&self) -> &'a [ElementModel] {
        self.elements
    }

    /// Element index of atomic number `z`; panics when the potential does not describe it (check the species
    /// first).
    pub fn element_of(&self, z: u8) -> usize {
        let e = self.index_of.get(z as usize).copied().unwrap_or(usize::MAX);
        assert!(e != usize::MAX, "element {} is not described by this NNP (check_species first)", elements::symbol(z));
        e
    }

    /// An error naming the first element of `system` the potential does not describe.
    pub fn check_elements(&self, system: &System) -> Result<(), NnpError> {
        match system.atomic_numbers.iter().find(|&&z| self.index_of.get(z as usize).is_none_or(|&e| e == usize::MAX)) {
            Some(&z) => {
                Err(NnpError::Config(format!("element {} is not among the potential's elements", elements::symbol(z))))
            }
            None => Ok(()),
        }
    }

    /// Collects the neighbours of atom i within the cutoff into `s`.
    fn gather(&self, system: &System, neighbors: &NeighborList, i: usize, s: &mut DescriptorScratch) {
        s.neighbors.clear();
        s.atom_index.clear();
        let ri = system.positions[i];
        let cutoff2 = self.cutoff * self.cutoff;
        for (&j, shift) in neighbors.indices(i).iter().zip(neighbors.shifts(i)) {
            let d = system.positions[j as usize] - ri + shift;
            let r2 = d.norm_squared();
            if r2 < cutoff2 && r2 > 0.0 {
                let z = system.atomic_numbers[j as usize];
                s.neighbors.push(self.element_of(z), z as f64, [d.x, d.y, d.z], r2.sqrt());
                s.atom_index.push(j);
            }
        }
    }

    /// Gathers the neighbours of atom i and computes its raw symmetry-function values into `s` (read them with
    /// [`DescriptorScratch::values`]), keeping the pair data of every group for the gradient steps. Returns the
    /// atom's element index.
    pub fn atom_values(&self, system: &System, neighbors: &NeighborList, i: usize, s: &mut DescriptorScratch) -> usize {
        self.gather(system, neighbors, i, s);
        let element = self.element_of(system.atomic_numbers[i]);
        let model = &self.elements[element];
        s.values.clear();
        s.values.resize(model.functions.len(), 0.0);
        if s.groups.len() < model.groups.len() {
            s.groups.resize_with(model.groups.len(), GroupScratch::default);
        }
        for (g, cache) in model.groups.iter().zip(s.groups.iter_mut()) {
            g.values(&s.neighbors, &mut s.values, cache);
        }
        element
    }

    /// Number of the raw `values` of atom `atom` (element index `element`) outside the training range of the
    /// element's scaling (by more than [`EXTRAPOLATION_TOLERANCE`]); appends them to `events` while it holds
    /// fewer than [`MAX_EXTRAPOLATION_EVENTS`].
    pub fn extrapolations(
        &self,
        element: usize,
        atom: usize,
        values: &[f64],
        events: &mut Vec<ExtrapolationEvent>,
    ) -> usize {
        let model = &self.elements[element];
        let mut count = 0;
        for (f, (&v, s)) in values.iter().zip(&model.scaling).enumerate() {
            if v + EXTRAPOLATION_TOLERANCE < s.g_min || v - EXTRAPOLATION_TOLERANCE > s.g_max {
                count += 1;
                if events.len() < MAX_EXTRAPOLATION_EVENTS {
                    events.push(ExtrapolationEvent {
                        atom,
                        atomic_number: model.atomic_number,
                        function: f,
                        value: v,
                        min: s.g_min,
                        max: s.g_max,
                    });
                }
            }
        }
        count
    }

    /// Accumulates Σ_k weights[k] ∂G_ik/∂d_ij for every neighbour entry of the atom of the last
    /// [`atom_values`](Self::atom_values) on `s` (element index `element`); read it with
    /// [`DescriptorScratch::gradient`].
    pub fn atom_gradient(&self, element: usize, weights: &[f64], s: &mut DescriptorScratch) {
        let model = &self.elements[element];
        s.gradient.clear();
        s.gradient.resize(s.neighbors.len(), [0.0; 3]);
        for (g, cache) in model.groups.iter().zip(s.groups.iter_mut()) {
            g.gradient(&s.neighbors, weights, &mut s.gradient, cache);
        }
    }

    /// The Jacobian ∂G_ik/∂r_a of the atom i of the last [`atom_values`](Self::atom_values) on `s` (element index
    /// `element`): the distinct atoms a it depends on (i first, then neighbours in order of first appearance,
    /// periodic images folded onto their atom) and the sparse Jacobian over them, stored in `order`
    /// ([`jacobian_order`]).
    pub fn atom_jacobian(
        &self,
        element: usize,
        i: usize,
        s: &mut DescriptorScratch,
        order: Arc<[u32]>,
    ) -> (Vec<u32>, SparseJacobian) {
        let model = &self.elements[element];
        let nf = model.functions.len();
        let mut atoms: Vec<u32> = vec![i as u32];
        let mut slot_of_entry = Vec::with_capacity(s.atom_index.len());
        for &j in s.atom_index.iter() {
            let slot = atoms.iter().position(|&a| a == j).unwrap_or_else(|| {
                atoms.push(j);
                atoms.len() - 1
            });
            slot_of_entry.push(slot);
        }
        let mut jacobian = vec![0.0; atoms.len() * nf * 3];
        let mut weights = vec![0.0; nf];
        s.gradient.clear();
        s.gradient.resize(s.neighbors.len(), [0.0; 3]);
        for (g, cache) in model.groups.iter().zip(s.groups.iter_mut()) {
            for k in g.function_indices() {
                weights[k] = 1.0;
                s.gradient.iter_mut().for_each(|v| *v = [0.0; 3]);
                g.gradient(&s.neighbors, &weights, &mut s.gradient, cache);
                weights[k] = 0.0;
                // gradient[n] = ∂G_k/∂d_ij with d_ij = r_j − r_i: +g on j, −g on i.
                for (n, v) in s.gradient.iter().enumerate() {
                    let slot = slot_of_entry[n];
                    for c in 0..3 {
                        jacobian[(slot * nf + k) * 3 + c] += v[c];
                        jacobian[k * 3 + c] -= v[c];
                    }
                }
            }
        }
        let jacobian = SparseJacobian::from_dense(&jacobian, atoms.len(), order);
        (atoms, jacobian)
    }

    /// Raw symmetry-function values of every atom of `system`, in each element's sorted order.
    pub fn values(&self, system: &System, neighbors: &NeighborList) -> Vec<Vec<f64>> {
        (0..system.len())
            .into_par_iter()
            .map_init(DescriptorScratch::default, |s, i| {
                self.atom_values(system, neighbors, i, s);
                std::mem::take(&mut s.values)
            })
            .collect()
    }

    /// Values and sparse Jacobians of every atom of `system`. Atoms are processed in parallel; the result does
    /// not depend on the number of threads.
    pub fn describe(&self, system: &System, neighbors: &NeighborList) -> Result<Vec<AtomDescriptors>, NnpError> {
        self.check_elements(system)?;
        let orders: Vec<Arc<[u32]>> = self.elements.iter().map(jacobian_order).collect();
        Ok((0..system.len())
            .into_par_iter()
            .map_init(DescriptorScratch::default, |s, i| {
                let element = self.atom_values(system, neighbors, i, s);
                let values = s.values.clone();
                let (atoms, jacobian) = self.atom_jacobian(element, i, s, orders[element].clone());
                AtomDescriptors { element, values, atoms, jacobian }
            })
            .collect())
    }

    /// Extrapolation counts per element and the first [`MAX_EXTRAPOLATION_EVENTS`] events (in atom order) of
    /// `system`: what an evaluation reports, without the network.
    pub fn extrapolation(&self, system: &System, neighbors: &NeighborList) -> Extrapolation {
        let per_atom: Vec<(usize, usize, Vec<ExtrapolationEvent>)> = (0..system.len())
            .into_par_iter()
            .map_init(DescriptorScratch::default, |s, i| {
                let element = self.atom_values(system, neighbors, i, s);
                let mut events = Vec::new();
                let count = self.extrapolations(element, i, &s.values, &mut events);
                (element, count, events)
            })
            .collect();
        let mut counts: Vec<(u8, usize)> = self.elements.iter().map(|m| (m.atomic_number, 0)).collect();
        let mut first = Vec::new();
        for (element, count, events) in per_atom {
            counts[element].1 += count;
            let room = MAX_EXTRAPOLATION_EVENTS - first.len();
            first.extend(events.into_iter().take(room));
        }
        Extrapolation { counts, first }
    }
}

/// Descriptors of one atom, as the trainer keeps them: raw symmetry functions and their sparse Jacobian.
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

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
    /// ∂G_k/∂r_a, laid out `[slot of a][k][xyz]` (Å⁻¹ times the unit of G). Stored in single precision: the
    /// Jacobians are nearly all of the trainer's memory (~100 neighbours × ~100 functions × 3 per atom), and a
    /// relative rounding of 6·10⁻⁸ is far below any force error a fit reaches; sums over them are done in f64.
    pub jacobian: Vec<f32>,
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
                let jacobian = jacobian.into_iter().map(|x| x as f32).collect();
                AtomDescriptors { element, values, atoms, jacobian }
            },
        )
        .collect();
    Ok(StructureDescriptors { atoms, energy: structure.energy, forces: structure.forces.clone() })
}

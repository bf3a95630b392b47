//! Labelled structures and their precomputed descriptors.
//!
//! Symmetry functions do not depend on the network weights, so for every atom i the raw values G_ik and
//! their Jacobian ∂G_ik/∂r_a (for every atom a within the cutoff of i, periodic images folded onto the
//! atom, and a = i) are computed once with the evaluator's own descriptor code
//! ([`Descriptor::describe`]) and kept for the whole training. Forces are then
//! F_a = −Σ_i Σ_k (∂E_i/∂G_ik) ∂G_ik/∂r_a (Behler & Parrinello, Phys. Rev. Lett. 98, 146401 (2007)).

use crate::io::{extxyz, n2p2};
use crate::neighbors::NeighborList;
pub use crate::potentials::nnp::descriptor::{jacobian_order, AtomDescriptors, SparseJacobian};
use crate::potentials::nnp::Descriptor;
use crate::system::System;
use anyhow::{bail, Context};
use nalgebra::Vector3;
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
            s.system.scale_lengths(length_unit_a).context("scaled cell is degenerate")?;
        }
        s.energy *= energy_unit_ev;
        for f in &mut s.forces {
            *f *= force_unit;
        }
    }
    for (n, s) in out.iter().enumerate() {
        check_finite(path, n + 1, s)?;
    }
    Ok(out)
}

/// Refuses a label that is not a number: it would make every loss NaN.
fn check_finite(path: &Path, number: usize, structure: &LabelledStructure) -> anyhow::Result<()> {
    if !structure.energy.is_finite() {
        bail!(
            "{}: structure {number}: energy {} is not finite: expected a total energy in eV",
            path.display(),
            structure.energy
        );
    }
    if let Some(i) = structure.forces.iter().position(|f| !f.iter().all(|x| x.is_finite())) {
        let f = structure.forces[i];
        bail!(
            "{}: structure {number}, atom {}: force {:?} is not finite: expected forces in eV/Å",
            path.display(),
            i + 1,
            [f.x, f.y, f.z]
        );
    }
    Ok(())
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

/// Computes the descriptors (values and sparse Jacobians) of every atom of `structure` with the descriptor of a
/// potential. Atoms are processed in parallel; results do not depend on the number of threads.
pub fn describe(structure: &LabelledStructure, descriptor: &Descriptor) -> anyhow::Result<StructureDescriptors> {
    let system = &structure.system;
    let mut list = NeighborList::new(descriptor.cutoff(), 0.0);
    list.build(system)?;
    let atoms = descriptor.describe(system, &list)?;
    Ok(StructureDescriptors { atoms, energy: structure.energy, forces: structure.forces.clone() })
}

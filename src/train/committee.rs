//! Committee of independently trained potentials (query by committee; Seung et al., COLT 1992; for
//! NNPs: Schran et al., J. Chem. Phys. 153, 104105 (2020)). The committee prediction is the mean of the
//! members; their disagreement, the standard deviation σ = √(⟨x²⟩ − ⟨x⟩²) over members, estimates the
//! error per atom.

use crate::neighbors::NeighborList;
use crate::potentials::nnp::{NnpConfig, NnpError, NnpPotential};
use crate::potentials::{Evaluation, EvaluationResult, Potential};
use crate::system::System;
use nalgebra::{Matrix3, Vector3};
use std::path::Path;

/// Population standard deviation of `values`.
pub fn standard_deviation(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// Several NNPs with the same elements.
#[derive(Clone, Debug)]
pub struct Committee {
    pub members: Vec<NnpPotential>,
}

/// Mean prediction of a committee with its spread.
#[derive(Clone, Debug)]
pub struct CommitteeEvaluation {
    /// Mean over members (energy, forces, virial, per-atom energies).
    pub mean: Evaluation,
    /// Standard deviation of the total energy over members (eV).
    pub energy_std: f64,
    /// Per atom: standard deviation of the atomic energy E_i over members (eV).
    pub atom_energy_std: Vec<f64>,
    /// Per atom: √(⟨|F_i − ⟨F_i⟩|²⟩) over members (eV/Å).
    pub force_std: Vec<f64>,
    /// Per member: number of (atom, symmetry function) values outside that member's training range.
    pub member_extrapolations: Vec<usize>,
}

impl Committee {
    /// Loads every member directory (input.nn, scaling.data, weights.NNN.data in Å and eV).
    pub fn load(directories: &[impl AsRef<Path>]) -> Result<Committee, NnpError> {
        let members = directories
            .iter()
            .map(|d| NnpPotential::load(&NnpConfig::new(d.as_ref(), 1.0, 1.0)))
            .collect::<Result<Vec<_>, _>>()?;
        if members.is_empty() {
            return Err(NnpError::Config("a committee needs at least one member directory".into()));
        }
        Ok(Committee { members })
    }

    /// Evaluates every member (one neighbour list built for the largest cutoff) and combines them.
    pub fn evaluate(&self, system: &System, neighbors: &NeighborList) -> CommitteeEvaluation {
        let evaluations: Vec<Evaluation> = self.members.iter().map(|m| m.evaluation(system, neighbors)).collect();
        let k = evaluations.len() as f64;
        let n = system.len();
        let energies: Vec<f64> = evaluations.iter().map(|e| e.energy).collect();
        let mut forces = vec![Vector3::zeros(); n];
        let mut atom_energies = vec![0.0; n];
        let mut virial = Matrix3::zeros();
        for e in &evaluations {
            for i in 0..n {
                forces[i] += e.forces[i] / k;
                atom_energies[i] += e.atom_energies[i] / k;
            }
            virial += e.virial / k;
        }
        let atom_energy_std = (0..n)
            .map(|i| standard_deviation(&evaluations.iter().map(|e| e.atom_energies[i]).collect::<Vec<_>>()))
            .collect();
        let force_std = (0..n)
            .map(|i| (evaluations.iter().map(|e| (e.forces[i] - forces[i]).norm_squared()).sum::<f64>() / k).sqrt())
            .collect();
        let member_extrapolations =
            evaluations.iter().map(|e| e.extrapolation.as_ref().map_or(0, |x| x.total())).collect();
        CommitteeEvaluation {
            member_extrapolations,
            mean: Evaluation {
                energy: energies.iter().sum::<f64>() / k,
                forces,
                virial,
                has_virial: true,
                atom_energies,
                extrapolation: evaluations.into_iter().next().and_then(|e| e.extrapolation),
            },
            energy_std: standard_deviation(&energies),
            atom_energy_std,
            force_std,
        }
    }
}

impl Potential for Committee {
    fn name(&self) -> &str {
        "nnp-committee"
    }

    fn cutoff(&self) -> f64 {
        self.members.iter().map(|m| m.cutoff()).fold(0.0, f64::max)
    }

    fn species(&self) -> Vec<u8> {
        self.members[0].species()
    }

    /// The committee mean.
    fn compute(&self, system: &System, neighbors: &NeighborList) -> EvaluationResult {
        Ok(self.evaluate(system, neighbors).mean)
    }
}

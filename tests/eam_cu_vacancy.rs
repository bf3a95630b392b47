//! EAM Cu (Foiles `Cu_u3.eam`, fcc a = 3.615 Å, 4×4×4 = 256 atoms, fixed cell): vacancy formation energy
//! and nearest-neighbour vacancy migration barrier, converged to fmax ≤ 0.01 eV/Å.
//! LAMMPS reference (shared/reference/eam/README.md): E(perfect) = −906.24000058 eV, unrelaxed E_f = 1.3165 eV.

mod common;

use mdrun::neb::migration::MigrationSettings;
use mdrun::optimize::{minimize, Algorithm, Convergence, Objective};
use mdrun::potentials::eam::Eam;
use mdrun::potentials::Evaluator;
use mdrun::relax::vacancy::VacancySettings;
use mdrun::relax::AtomsObjective;
use mdrun::system::System;
use std::sync::Arc;

fn copper() -> Option<Evaluator> {
    let path = common::reference(common::CU_EAM)?;
    Some(Evaluator::new(Arc::new(Eam::read_funcfl(&[&path]).unwrap()), 1.0))
}

#[test]
fn copper_vacancy_formation_energy() {
    let Some(mut evaluator) = copper() else { return };
    assert!((evaluator.evaluate(&mdrun::system::fcc(29, 3.615, 4)).unwrap().energy - -906.24000058).abs() < 1e-6);
    let mut relaxed = Vec::new();
    for optimizer in ["fire", "lbfgs"] {
        let mut system = mdrun::system::fcc(29, 3.615, 4);
        let text =
            format!("species = \"Cu\"\nselection = \"distinct\"\nfmax_ev_per_a = 0.001\noptimizer = \"{optimizer}\"");
        let settings: VacancySettings = toml::from_str(&text).unwrap();
        settings.validate("stage[0]").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let report = settings.run(&mut system, &mut evaluator, dir.path(), 0, true).unwrap();
        println!(
        "Cu_u3 vacancy ({optimizer}): unrelaxed E_f = {:.5} eV, relaxed E_f = {:.5} eV ({} steps, {} force evaluations)",
        report.unrelaxed_formation_energy_ev,
        report.formation_energy_ev,
        report.vacancies[0].relaxation.steps,
        report.vacancies[0].relaxation.force_evaluations
    );
        assert!(report.converged);
        assert_eq!(report.vacancies.len(), 1, "all fcc sites are equivalent");
        assert!((report.unrelaxed_formation_energy_ev - 1.3165).abs() < 1e-4);
        assert!((report.formation_energy_ev - 1.28).abs() < 0.02, "{}", report.formation_energy_ev);
        assert_eq!(system.len(), 255);
        relaxed.push(report.formation_energy_ev);
    }
    // Both minimisers reach the same minimum.
    assert!((relaxed[0] - relaxed[1]).abs() < 1e-4, "{relaxed:?}");
}

/// Relaxes `system` with atom `fixed` held in place (L-BFGS to fmax 0.001 eV/Å); returns the energy.
fn relax_holding(system: &mut System, fixed: usize, evaluator: &mut Evaluator) -> f64 {
    struct Holding<'a>(AtomsObjective<'a>, usize);
    impl Objective for Holding<'_> {
        fn evaluate(&mut self, x: &[f64], gradient: &mut [f64]) -> anyhow::Result<f64> {
            let energy = self.0.evaluate(x, gradient)?;
            gradient[3 * self.1..3 * self.1 + 3].fill(0.0);
            Ok(energy)
        }
    }
    let mut objective = Holding(AtomsObjective::new(system, evaluator, None), fixed);
    let mut x = objective.0.coordinates();
    let convergence = Convergence { fmax: 0.001, max_steps: 2000, max_step: 0.2 };
    let minimum = minimize(&mut objective, &mut x, Algorithm::Lbfgs, &convergence).unwrap();
    assert!(minimum.converged);
    minimum.energy
}

#[test]
fn copper_vacancy_migration_barrier() {
    let Some(mut evaluator) = copper() else { return };
    let mut evaluations = Vec::new();
    for optimizer in ["fire", "lbfgs"] {
        let mut system = mdrun::system::fcc(29, 3.615, 4);
        let text = format!(
            "species = \"Cu\"\nhop_cutoff_a = 3.0\nvacancy_sites = [0]\nimages = 5\nfmax_ev_per_a = 0.01\noptimizer = \"{optimizer}\""
        );
        let settings: MigrationSettings = toml::from_str(&text).unwrap();
        settings.validate("stage[1]").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let report = settings.run(&mut system, &mut evaluator, dir.path(), 0, true).unwrap();
        let path = &report.paths[0];
        println!(
            "Cu_u3 NN vacancy hop ({optimizer}): forward {:.5} eV, reverse {:.5} eV, saddle image {}, fmax {:.4}, band steps {}, \
             band force evaluations {}, endpoint force evaluations {}",
            path.neb.forward_barrier_ev,
            path.neb.reverse_barrier_ev,
            path.neb.saddle_image,
            path.neb.fmax_ev_per_a,
            path.neb.band_steps,
            report.band_force_evaluations,
            report.endpoint_force_evaluations
        );
        assert!(report.converged, "{report:?}");
        assert_eq!(report.hops, 12);
        assert_eq!(report.computed_paths, 1, "the 12 nearest-neighbour hops are equivalent");
        assert!(path.neb.fmax_ev_per_a <= 0.01);
        // Symmetric hop: equal endpoint energies, saddle in the middle of the band.
        assert!((path.neb.forward_barrier_ev - path.neb.reverse_barrier_ev).abs() < 1e-3);
        assert_eq!(path.neb.saddle_image, 3);
        assert!((path.neb.forward_barrier_ev - 0.70).abs() < 0.03, "{}", path.neb.forward_barrier_ev);
        let table = std::fs::read_to_string(dir.path().join("barriers.csv")).unwrap();
        assert_eq!(table.lines().filter(|l| !l.starts_with('#')).count(), 1 + 12);
        evaluations.push(report.band_force_evaluations);
        // Independent check: by symmetry the saddle has the hopping atom at the midpoint of the hop; relax every
        // other atom with that one held fixed and compare with the NEB saddle energy.
        let perfect = mdrun::system::fcc(29, 3.615, 4);
        let (from, to) = (path.from_site, path.to_site);
        let mut constrained = perfect.clone();
        constrained.remove(to);
        let moving = if from > to { from - 1 } else { from };
        constrained.positions[moving] = perfect.positions[from] + perfect.displacement(from, to) * 0.5;
        let saddle = relax_holding(&mut constrained, moving, &mut evaluator);
        println!("midpoint-constrained relaxation: barrier {:.5} eV", saddle - path.neb.initial_energy_ev);
        assert!((saddle - path.neb.saddle_energy_ev).abs() < 2e-3, "{saddle} vs {}", path.neb.saddle_energy_ev);
    }
    println!("band force evaluations: FIRE {}, L-BFGS {}", evaluations[0], evaluations[1]);
}

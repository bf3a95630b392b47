//! Whole-workflow NEB tests: the Müller–Brown surface (analytic saddles) and Lennard-Jones vacancy hops.

mod common;

use mdrun::neb::{run_neb, write_outputs, EndpointError, Interpolation, NebError, NebOptions};
use mdrun::neighbors::NeighborList;
use mdrun::optimize::{Algorithm, Convergence};
use mdrun::potentials::{Evaluation, EvaluationResult, Evaluator, Potential};
use mdrun::system::{Cell, System};
use nalgebra::{Matrix2, Matrix3, Vector2, Vector3};
use std::sync::Arc;

/// The Müller–Brown surface (K. Müller and L. D. Brown, Theor. Chim. Acta 53, 75 (1979)) for one atom
/// moving in x–y, plus a harmonic confinement k·z² (k = 10). Energies in "eV", lengths in "Å".
struct MullerBrown;

const A: [f64; 4] = [-200.0, -100.0, -170.0, 15.0];
const SA: [f64; 4] = [-1.0, -1.0, -6.5, 0.7];
const SB: [f64; 4] = [0.0, 0.0, 11.0, 0.6];
const SC: [f64; 4] = [-10.0, -10.0, -6.5, 0.7];
const X0: [f64; 4] = [1.0, 0.0, -0.5, -1.0];
const Y0: [f64; 4] = [0.0, 0.5, 1.5, 1.0];
const CONFINEMENT: f64 = 10.0;

/// MB energy and gradient at (x, y).
fn muller_brown(x: f64, y: f64) -> (f64, Vector2<f64>) {
    let mut energy = 0.0;
    let mut gradient = Vector2::zeros();
    for k in 0..4 {
        let (dx, dy) = (x - X0[k], y - Y0[k]);
        let term = A[k] * (SA[k] * dx * dx + SB[k] * dx * dy + SC[k] * dy * dy).exp();
        energy += term;
        gradient += Vector2::new(2.0 * SA[k] * dx + SB[k] * dy, SB[k] * dx + 2.0 * SC[k] * dy) * term;
    }
    (energy, gradient)
}

impl Potential for MullerBrown {
    fn name(&self) -> &str {
        "muller-brown"
    }
    fn cutoff(&self) -> f64 {
        0.01
    }
    fn species(&self) -> Vec<u8> {
        vec![1]
    }
    fn compute(&self, system: &System, _neighbors: &NeighborList) -> EvaluationResult {
        let r = system.positions[0];
        let (e, g) = muller_brown(r.x, r.y);
        let energy = e + CONFINEMENT * r.z * r.z;
        let force = Vector3::new(-g.x, -g.y, -2.0 * CONFINEMENT * r.z);
        Ok(Evaluation {
            energy,
            forces: vec![force],
            virial: r * force.transpose(),
            has_virial: true,
            atom_energies: vec![energy],
            extrapolation: None,
        })
    }
}

fn one_atom(x: f64, y: f64) -> System {
    let mut system = System::new(Cell::infinite());
    system.push(1, Vector3::new(x, y, 0.0));
    system
}

/// The exact stationary point near (x, y), by Newton's method with a finite-difference Hessian of the
/// analytic gradient: independent of the NEB.
fn stationary_point(mut p: Vector2<f64>) -> (Vector2<f64>, f64) {
    for _ in 0..50 {
        let (_, g) = muller_brown(p.x, p.y);
        let h = 1e-6;
        let column = |k: usize| {
            let mut plus = p;
            plus[k] += h;
            let mut minus = p;
            minus[k] -= h;
            (muller_brown(plus.x, plus.y).1 - muller_brown(minus.x, minus.y).1) / (2.0 * h)
        };
        let hessian = Matrix2::from_columns(&[column(0), column(1)]);
        p -= hessian.try_inverse().unwrap() * g;
    }
    (p, muller_brown(p.x, p.y).0)
}

fn mb_options(optimizer: Algorithm) -> NebOptions {
    NebOptions {
        images: 9,
        interpolation: Interpolation::Linear,
        spring: 50.0,
        climb: true,
        relax_endpoints: true,
        optimizer,
        convergence: Convergence { fmax: 0.01, max_steps: 5000, max_step: 0.05 },
    }
}

#[test]
fn muller_brown_saddles_are_the_published_ones() {
    // Literature: saddle 1 (−0.822, 0.624) at −40.665, saddle 2 (0.212, 0.293) at −72.249.
    let (s1, e1) = stationary_point(Vector2::new(-0.82, 0.62));
    let (s2, e2) = stationary_point(Vector2::new(0.21, 0.29));
    assert!((e1 - -40.665).abs() < 1e-3 && (s1 - Vector2::new(-0.822, 0.624)).norm() < 1e-3, "{s1} {e1}");
    assert!((e2 - -72.249).abs() < 1e-3 && (s2 - Vector2::new(0.212, 0.293)).norm() < 1e-3, "{s2} {e2}");
}

#[test]
fn climbing_image_converges_on_the_muller_brown_saddles() {
    let evaluator = Evaluator::new(Arc::new(MullerBrown), 0.1);
    // Minima A (−0.558, 1.442), C (−0.050, 0.467), B (0.623, 0.028); endpoints start off the minima.
    let cases = [((-0.5, 1.4), (-0.1, 0.5), (-0.82, 0.62)), ((-0.1, 0.5), (0.6, 0.05), (0.21, 0.29))];
    for optimizer in [Algorithm::Fire, Algorithm::Lbfgs] {
        for (from, to, guess) in cases {
            let (saddle, saddle_energy) = stationary_point(Vector2::new(guess.0, guess.1));
            let options = mb_options(optimizer);
            let result = run_neb(&one_atom(from.0, from.1), &one_atom(to.0, to.1), &evaluator, &options).unwrap();
            let report = &result.report;
            assert!(report.converged, "{optimizer}: {report:?}");
            assert!(report.fmax_ev_per_a <= 0.01);
            let climbing = result.band.climbing_image.unwrap();
            assert_eq!(climbing, report.saddle_image);
            let r = result.band.images[climbing].positions[0];
            // At the climbing image the true gradient is the (converged) NEB force: |∇E| ≤ fmax.
            let (energy, gradient) = muller_brown(r.x, r.y);
            assert!(gradient.norm() <= 0.01 + 1e-12, "{optimizer}: |∇E| = {}", gradient.norm());
            assert!((Vector2::new(r.x, r.y) - saddle).norm() < 1e-3, "{optimizer}: CI at {r}, saddle {saddle}");
            assert!(
                (report.saddle_energy_ev - saddle_energy).abs() < 1e-5,
                "{optimizer}: {} vs {saddle_energy}",
                report.saddle_energy_ev
            );
            assert!((energy - report.saddle_energy_ev).abs() < 1e-9);
            // Endpoints relaxed onto the minima: barriers from the exact minimum energies.
            let (_, e_from) = stationary_point(Vector2::new(from.0, from.1));
            assert!((report.forward_barrier_ev - (saddle_energy - e_from)).abs() < 1e-4);
            println!(
                "MB {optimizer} {from:?}->{to:?}: saddle {:.5} at ({:.5}, {:.5}); band steps {}, force evaluations {} (+{} endpoints)",
                report.saddle_energy_ev, r.x, r.y, report.band_steps, report.band_force_evaluations, report.endpoint_force_evaluations
            );
        }
    }
}

#[test]
fn unconverged_band_is_flagged_and_outputs_are_written() {
    let evaluator = Evaluator::new(Arc::new(MullerBrown), 0.1);
    let mut options = mb_options(Algorithm::Fire);
    options.convergence.max_steps = 10;
    let result = run_neb(&one_atom(-0.55, 1.44), &one_atom(0.62, 0.03), &evaluator, &options).unwrap();
    assert!(!result.report.converged && !result.report.band_converged);
    assert!(result.report.fmax_ev_per_a > 0.01);
    let dir = tempfile::tempdir().unwrap();
    write_outputs(&result, dir.path(), "").unwrap();
    let svg = std::fs::read_to_string(dir.path().join("neb_profile.svg")).unwrap();
    assert!(svg.contains("NOT CONVERGED"));
    let csv = std::fs::read_to_string(dir.path().join("neb_profile.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 11);
    let frames = mdrun::io::extxyz::read_frames(&dir.path().join("neb_images.extxyz")).unwrap();
    assert_eq!(frames.len(), 11);
    for (frame, energy) in frames.iter().zip(&result.band.energies) {
        assert_eq!(frame.info_f64("energy").unwrap(), *energy);
    }
}

#[test]
fn bad_endpoints_are_rejected() {
    let evaluator = Evaluator::new(Arc::new(MullerBrown), 0.1);
    let mut two = one_atom(0.0, 0.0);
    two.push(1, Vector3::new(1.0, 0.0, 0.0));
    let err = run_neb(&one_atom(0.0, 0.0), &two, &evaluator, &NebOptions::default()).unwrap_err();
    assert_eq!(err, EndpointError::AtomCount { initial: 1, final_state: 2 });
    assert!(err.to_string().contains("initial has 1 atoms, final has 2"));
    let mut other = two.clone();
    other.atomic_numbers.swap(0, 1);
    other.atomic_numbers[0] = 3;
    let err = run_neb(&two, &other, &evaluator, &NebOptions::default()).unwrap_err();
    assert!(err.to_string().contains("atom 0 is H in the initial state but Li"), "{err}");
    let mut periodic = one_atom(0.0, 0.0);
    periodic.cell = Cell::from_matrix(Matrix3::identity() * 5.0, [true; 3]).unwrap();
    assert!(matches!(
        run_neb(&one_atom(0.0, 0.0), &periodic, &evaluator, &NebOptions::default()),
        Err(NebError::Endpoints(EndpointError::Cell { .. }))
    ));
}

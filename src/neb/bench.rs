//! Timing of a whole vacancy-hop NEB, for `mdrun bench` and `benches/neb.rs`.

use super::{run_neb, Interpolation, NebOptions};
use crate::optimize::{Algorithm, Convergence};
use crate::potentials::Evaluator;
use crate::system::System;
use anyhow::bail;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What one timed NEB measured.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct NebBench {
    /// Atoms per image (the perfect structure minus the vacancy).
    pub atoms: usize,
    pub images: usize,
    pub threads: usize,
    pub optimizer: Algorithm,
    pub converged: bool,
    pub band_steps: usize,
    pub band_force_evaluations: usize,
    pub endpoint_force_evaluations: usize,
    pub forward_barrier_ev: f64,
    /// Wall time of the whole calculation (endpoint relaxations, IDPP, band), seconds.
    pub seconds: f64,
    /// Image force evaluations per second over the whole calculation.
    pub force_evaluations_per_second: f64,
}

/// The endpoints of the hop of the nearest atom of the same element into a vacancy at atom 0 of `perfect`.
pub fn nearest_neighbour_hop(perfect: &System) -> anyhow::Result<(System, System)> {
    let from = (1..perfect.len())
        .filter(|&i| perfect.atomic_numbers[i] == perfect.atomic_numbers[0])
        .min_by(|&a, &b| perfect.displacement(0, a).norm().total_cmp(&perfect.displacement(0, b).norm()));
    let Some(from) = from else { bail!("no second atom of the element of atom 0 to hop into its vacancy") };
    let mut initial = perfect.clone();
    initial.remove(0);
    let mut final_state = initial.clone();
    final_state.positions[from - 1] = perfect.positions[0];
    Ok((initial, final_state))
}

/// Runs and times the nearest-neighbour vacancy hop NEB in `perfect` (vacancy at atom 0) with `images`
/// intermediate images, `optimizer`, fmax `fmax` (eV/Å), on a rayon pool of `threads` threads.
pub fn bench_vacancy_hop(
    perfect: &System,
    evaluator: &Evaluator,
    images: usize,
    optimizer: Algorithm,
    fmax: f64,
    threads: usize,
) -> anyhow::Result<NebBench> {
    let (initial, final_state) = nearest_neighbour_hop(perfect)?;
    let options = NebOptions {
        images,
        interpolation: Interpolation::Idpp,
        spring: 0.1,
        climb: true,
        relax_endpoints: true,
        optimizer,
        convergence: Convergence { fmax, max_steps: 2000, max_step: 0.2 },
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let start = Instant::now();
    let result = pool.install(|| run_neb(&initial, &final_state, evaluator, &options))?;
    let seconds = start.elapsed().as_secs_f64();
    let report = result.report;
    let evaluations = report.band_force_evaluations + report.endpoint_force_evaluations;
    Ok(NebBench {
        atoms: initial.len(),
        images,
        threads,
        optimizer,
        converged: report.converged,
        band_steps: report.band_steps,
        band_force_evaluations: report.band_force_evaluations,
        endpoint_force_evaluations: report.endpoint_force_evaluations,
        forward_barrier_ev: report.forward_barrier_ev,
        seconds,
        force_evaluations_per_second: evaluations as f64 / seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relax::tests::argon;

    #[test]
    fn the_benchmark_hop_is_a_nearest_neighbour_hop_and_converges() {
        let perfect = crate::system::fcc(18, 5.26, 3);
        let (initial, final_state) = nearest_neighbour_hop(&perfect).unwrap();
        let moved: Vec<usize> =
            (0..initial.len()).filter(|&i| (initial.positions[i] - final_state.positions[i]).norm() > 1e-9).collect();
        assert_eq!(moved.len(), 1);
        let hop = initial.cell.minimum_image(&(final_state.positions[moved[0]] - initial.positions[moved[0]]));
        assert!((hop.norm() - 5.26 / 2f64.sqrt()).abs() < 1e-9);
        let bench = bench_vacancy_hop(&perfect, &Evaluator::new(argon(), 0.5), 3, Algorithm::Lbfgs, 0.01, 1).unwrap();
        assert!(bench.converged && bench.atoms == 107 && bench.threads == 1);
        assert!(bench.seconds > 0.0 && bench.band_force_evaluations >= 3);
    }
}

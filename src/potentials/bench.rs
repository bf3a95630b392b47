//! Speed measurement of force evaluations and neighbour-list builds, for `mdrun bench` and the criterion
//! benches. Wall-clock time per atom, in a rayon pool of a chosen size.

use super::Potential;
use crate::neighbors::NeighborList;
use crate::system::System;
use serde::Serialize;
use std::time::Instant;

/// Measured cost of one potential on one system.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// Potential name.
    pub potential: String,
    pub atoms: usize,
    pub threads: usize,
    /// Neighbour-list entries per atom (full list, cutoff + skin).
    pub neighbors_per_atom: f64,
    /// Timed neighbour-list builds.
    pub neighbor_builds: usize,
    /// Wall time per atom of the fastest neighbour-list build (µs); the best run is the least disturbed
    /// by other load on the machine.
    pub neighbor_build_us_per_atom: f64,
    /// Mean wall time per atom of the neighbour-list builds (µs).
    pub neighbor_build_us_per_atom_mean: f64,
    /// Timed force evaluations (energy, forces, virial, per-atom energies; list already built).
    pub force_evaluations: usize,
    /// Wall time per atom of the fastest force evaluation (µs).
    pub force_us_per_atom: f64,
    /// Mean wall time per atom of the force evaluations (µs).
    pub force_us_per_atom_mean: f64,
}

/// Times neighbour-list builds (cutoff of the potential + `skin`) and force evaluations of `system` in a
/// pool of `threads` threads, each repeated until `seconds` of wall time have passed (at least 3 times,
/// after one untimed warm-up).
pub fn bench_potential(
    potential: &dyn Potential,
    system: &System,
    skin: f64,
    threads: usize,
    seconds: f64,
) -> Result<BenchResult, rayon::ThreadPoolBuildError> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    Ok(pool.install(|| {
        let mut neighbors = NeighborList::new(potential.cutoff(), skin);
        let builds = repeat(seconds, || neighbors.build(system).expect("benchmark systems are small"));
        let forces = repeat(seconds, || {
            std::hint::black_box(potential.compute(system, &neighbors)).expect("benchmarked potentials are in-process");
        });
        let atoms = system.len().max(1) as f64;
        BenchResult {
            potential: potential.name().to_string(),
            atoms: system.len(),
            threads,
            neighbors_per_atom: neighbors.total_pairs() as f64 / atoms,
            neighbor_builds: builds.runs,
            neighbor_build_us_per_atom: builds.best * 1e6 / atoms,
            neighbor_build_us_per_atom_mean: builds.total / builds.runs as f64 * 1e6 / atoms,
            force_evaluations: forces.runs,
            force_us_per_atom: forces.best * 1e6 / atoms,
            force_us_per_atom_mean: forces.total / forces.runs as f64 * 1e6 / atoms,
        }
    }))
}

/// Timings of repeated runs (s).
struct Timings {
    runs: usize,
    total: f64,
    best: f64,
}

/// Runs `work` once untimed, then repeatedly until `seconds` have passed (at least 3 times).
fn repeat(seconds: f64, mut work: impl FnMut()) -> Timings {
    work();
    let mut timings = Timings { runs: 0, total: 0.0, best: f64::INFINITY };
    while timings.runs < 3 || timings.total < seconds {
        let start = Instant::now();
        work();
        let elapsed = start.elapsed().as_secs_f64();
        timings.runs += 1;
        timings.total += elapsed;
        timings.best = timings.best.min(elapsed);
    }
    timings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::potentials::lj::{LennardJones, LennardJonesConfig, LennardJonesPairConfig};

    #[test]
    fn bench_reports_sizes_and_positive_times() {
        let lj = LennardJones::from_config(&LennardJonesConfig {
            cutoff: 8.5125,
            shift: false,
            pairs: vec![LennardJonesPairConfig {
                species: ["Ar".into(), "Ar".into()],
                epsilon: 0.0103,
                sigma: 3.405,
                cutoff: None,
            }],
        })
        .unwrap();
        let system = crate::system::fcc(18, 5.719, 3);
        assert_eq!(system.len(), 108);
        let result = bench_potential(&lj, &system, 1.0215, 1, 0.0).unwrap();
        assert_eq!((result.atoms, result.threads, result.potential.as_str()), (108, 1, "lj"));
        assert!(result.force_evaluations >= 3 && result.neighbor_builds >= 3);
        assert!(result.force_us_per_atom > 0.0 && result.neighbor_build_us_per_atom > 0.0);
        assert!(result.force_us_per_atom <= result.force_us_per_atom_mean);
        assert!(result.neighbor_build_us_per_atom <= result.neighbor_build_us_per_atom_mean);
        // fcc shells within 9.534 Å at a = 5.719 Å (nearest neighbour 4.044 Å): 12 + 6 + 24 + 12 + 24.
        assert_eq!(result.neighbors_per_atom, 78.0);
    }
}

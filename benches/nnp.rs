//! One energy+force evaluation of the n2p2 reference potentials: H2O_RPBE-D3 (1080 atoms) and
//! Cu2S_PBE_2x2x2 (1152 atoms). Prints the per-phase breakdown (µs per atom, 1 and 2 threads), then runs
//! the criterion measurement of the whole evaluation (neighbour list prebuilt) on the default pool.

use criterion::Criterion;
use mdrun::io::n2p2;
use mdrun::neighbors::NeighborList;
use mdrun::potentials::nnp::NnpPotential;
use mdrun::potentials::Potential;
use mdrun::system::System;
use std::path::Path;

const CASES: [&str; 2] = ["H2O_RPBE-D3", "Cu2S_PBE_2x2x2"];

fn load(case: &str) -> Option<(NnpPotential, System)> {
    let dir = Path::new("../shared/reference/n2p2").join(case);
    if !dir.exists() {
        eprintln!("skipped {case}: {} is absent", dir.display());
        return None;
    }
    let potential = NnpPotential::load_directory(&dir, 1.0, 1.0).expect("reference potential loads");
    let system = n2p2::read(&dir.join("input.data")).expect("reference structure reads").remove(0).system;
    Some((potential, system))
}

/// CPU seconds (user + system) used so far by this process, from /proc/self/stat (clock ticks of 10 ms),
/// or `None` where that file does not exist.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}

fn main() {
    for case in CASES {
        let Some((potential, system)) = load(case) else { continue };
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            // CPU time is insensitive to other processes competing for the cores; wall time is not.
            let mut neighbors = NeighborList::new(potential.cutoff(), 0.0);
            neighbors.build(&system).expect("benchmark systems are small");
            let repetitions = 20;
            let (cpu0, wall0) = (cpu_seconds(), std::time::Instant::now());
            pool.install(|| {
                for _ in 0..repetitions {
                    std::hint::black_box(potential.evaluation(&system, &neighbors));
                }
            });
            let wall = wall0.elapsed().as_secs_f64() / repetitions as f64;
            if let (Some(a), Some(b)) = (cpu0, cpu_seconds()) {
                println!(
                    "{case} ({} atoms, {threads} thread(s)): CPU time {:.1} µs/atom per evaluation (all threads), \
                     wall {:.1} µs/atom ({repetitions} evaluations)",
                    system.len(),
                    (b - a) / repetitions as f64 * 1e6 / system.len() as f64,
                    wall * 1e6 / system.len() as f64
                );
            }
            let t = pool.install(|| potential.bench_phases(&system, 5));
            println!(
                "{case} ({} atoms, {threads} thread(s)): neighbour list {:.1} µs/atom, symmetry functions {:.1}, \
                 network {:.1}, forces {:.1} (of which serial assembly {:.2}), total (without list) {:.1} µs/atom",
                t.atoms,
                t.neighbor_list_us_per_atom,
                t.symmetry_functions_us_per_atom,
                t.network_us_per_atom,
                t.forces_us_per_atom,
                t.serial_assembly_us_per_atom,
                t.total_us_per_atom
            );
        }
    }
    let mut criterion = Criterion::default().sample_size(10).configure_from_args();
    for case in CASES {
        let Some((potential, system)) = load(case) else { continue };
        let mut neighbors = NeighborList::new(potential.cutoff(), 0.0);
        neighbors.build(&system).expect("benchmark systems are small");
        criterion.bench_function(&format!("nnp energy+forces {case}"), |b| {
            b.iter(|| potential.evaluation(&system, &neighbors))
        });
    }
    criterion.final_summary();
}

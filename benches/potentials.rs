//! Force evaluation (energy + forces + virial + per-atom energies, neighbour list already built) and
//! neighbour-list builds for the two standard LAMMPS benchmark systems, 32,000 atoms each:
//! EAM Cu_u3 fcc a = 3.615 Å 20×20×20 (skin 1.0 Å) and LJ argon fcc at ρ* = 0.8442 (a = 5.719 Å),
//! r_c = 2.5σ = 8.5125 Å, skin 0.3σ = 1.0215 Å.
//! Threads: set RAYON_NUM_THREADS. Needs ../shared/reference/eam/Cu_u3.eam for the EAM case.

use criterion::{criterion_group, criterion_main, Criterion};
use mdrun::neighbors::NeighborList;
use mdrun::potentials::eam::Eam;
use mdrun::potentials::lj::LennardJones;
use mdrun::potentials::Potential;
use mdrun::system::fcc;
use mdrun::system::System;
use std::path::Path;
use std::time::Duration;

fn argon() -> LennardJones {
    LennardJones::single_species("Ar", 0.0103, 3.405, 8.5125, false).expect("valid LJ settings")
}

fn bench_case(c: &mut Criterion, name: &str, potential: &dyn Potential, system: &System, skin: f64) {
    let mut neighbors = NeighborList::new(potential.cutoff(), skin);
    neighbors.build(system).expect("benchmark systems are small");
    let mut group = c.benchmark_group(name);
    group.sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    group.bench_function("force_evaluation_32000", |b| b.iter(|| potential.compute(system, &neighbors)));
    group.bench_function("neighbor_build_32000", |b| {
        let mut list = NeighborList::new(potential.cutoff(), skin);
        b.iter(|| list.build(system).expect("benchmark systems are small"))
    });
    group.finish();
}

fn potentials(c: &mut Criterion) {
    let lj = argon();
    bench_case(c, "lj_argon", &lj, &fcc(18, 5.719, 20), 1.0215);
    let eam_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/eam/Cu_u3.eam");
    match Eam::read_funcfl(&[eam_file.as_path()]) {
        Ok(eam) => bench_case(c, "eam_cu_u3", &eam, &fcc(29, 3.615, 20), 1.0),
        Err(err) => eprintln!("skipped the EAM benchmark: {err}"),
    }
}

criterion_group!(benches, potentials);
criterion_main!(benches);

//! kMC event-loop speed (one thread): one vacancy and 1 % vacancies in a 10⁶-site simple-cubic lattice, and
//! 1 % vacancies on an off-lattice network with varied barriers. `cargo bench --bench kmc`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mdrun::kmc::bench::disordered_network;
use mdrun::kmc::{Lattice, LatticeKind, Simulation, SiteNetwork};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

const EVENTS_PER_ITERATION: u64 = 100_000;

fn bench_case(c: &mut Criterion, name: &str, network: &SiteNetwork, vacancies: usize, track_ions: bool) {
    let carrier_network = network.vacancy_network();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let mut sites = rand::seq::index::sample(&mut rng, carrier_network.len(), vacancies).into_vec();
    sites.sort_unstable();
    let mut simulation = Simulation::new(&carrier_network, 600.0, 1e13, &sites, track_ions, rng);
    let mut group = c.benchmark_group("kmc");
    group.throughput(Throughput::Elements(EVENTS_PER_ITERATION));
    group.sample_size(20);
    group.bench_function(name, |b| b.iter(|| simulation.run(EVENTS_PER_ITERATION).expect("events possible")));
    group.finish();
}

fn kmc(c: &mut Criterion) {
    let lattice =
        Lattice { kind: LatticeKind::SimpleCubic, repeat: [100; 3], lattice_constant_a: 2.5, barrier_ev: 0.5 }
            .build()
            .expect("lattice");
    bench_case(c, "single_vacancy_1e6_sites", &lattice, 1, false);
    bench_case(c, "vacancies_1pct_1e6_sites", &lattice, lattice.len() / 100, false);
    bench_case(c, "single_vacancy_tracked_ions_1e6_sites", &lattice, 1, true);
    let disordered = disordered_network(64, 5).expect("network");
    bench_case(c, "disordered_1pct_262144_sites", &disordered, disordered.len() / 100, false);
}

criterion_group!(benches, kmc);
criterion_main!(benches);

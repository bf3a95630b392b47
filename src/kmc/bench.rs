//! Speed benchmark of the kMC event loop, callable from `mdrun bench` and used by benches/kmc.rs.
//!
//! Cases (one thread each):
//! - `single_vacancy`: one vacancy in a simple-cubic lattice of n³ sites (ions not tracked);
//! - `vacancies_1pct`: 1 % vacancies in the same lattice (ions not tracked);
//! - `single_vacancy_tracked_ions`: as the first, also following every ion (ion tracer D);
//! - `disordered_network`: 1 % vacancies on an off-lattice network (jittered simple-cubic sites, first and
//!   second neighbours, random site and saddle energies: every hop has its own barrier).

use super::engine::{simulation_bytes, Simulation};
use super::network::{Lattice, LatticeKind, NetworkBuilder, SiteNetwork};
use crate::system::Cell;
use nalgebra::Vector3;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::time::Instant;

/// Measured speed of one case.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct BenchResult {
    pub case: String,
    pub sites: usize,
    pub carriers: usize,
    pub hops: usize,
    pub events: u64,
    /// Wall-clock time of the timed events and events per wall-clock second.
    pub seconds: f64,
    pub events_per_second: f64,
    /// CPU time the thread actually ran (Linux /proc/thread-self/schedstat) and events per CPU second: on a
    /// shared, loaded machine this is the better measure of the loop itself.
    pub cpu_seconds: Option<f64>,
    pub events_per_cpu_second: Option<f64>,
    /// Network plus simulation state, per site (bytes).
    pub memory_bytes_per_site: f64,
}

/// An off-lattice network: an n×n×n simple-cubic arrangement (spacing 2.5 Å) with every site displaced at random
/// by up to ±0.3 Å per axis, first- and second-neighbour paths (z = 18), site energies uniform in [0, 0.2] eV and
/// saddle energies max(E_i, E_j) + uniform [0.25, 0.65] eV, so E_b(i→j) = E_saddle − E_i (detailed balance holds).
pub fn disordered_network(n: usize, seed: u64) -> anyhow::Result<SiteNetwork> {
    let spacing = 2.5;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let length = spacing * n as f64;
    let cell = Cell::orthorhombic(length, length, length).ok_or_else(|| anyhow::anyhow!("invalid cell"))?;
    let mut builder = NetworkBuilder::new(cell);
    let index = |c: [usize; 3]| (c[0] * n + c[1]) * n + c[2];
    let mut positions = Vec::with_capacity(n * n * n);
    let mut energies = Vec::with_capacity(n * n * n);
    for i in 0..n {
        for j in 0..n {
            for k in 0..n {
                let jitter = Vector3::from_fn(|_, _| rng.gen_range(-0.3..0.3));
                let r = Vector3::new(i as f64, j as f64, k as f64) * spacing + jitter;
                let e = rng.gen_range(0.0..0.2);
                builder.add_site(r, e);
                positions.push(r);
                energies.push(e);
            }
        }
    }
    // Half of the 18 neighbour offsets; each path adds both directions.
    let mut offsets = vec![[1i64, 0, 0], [0, 1, 0], [0, 0, 1]];
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        for sign in [1i64, -1] {
            let mut o = [0i64; 3];
            o[a] = 1;
            o[b] = sign;
            offsets.push(o);
        }
    }
    let m = n as i64;
    for i in 0..m {
        for j in 0..m {
            for k in 0..m {
                let from = index([i as usize, j as usize, k as usize]);
                for o in &offsets {
                    let c = [i + o[0], j + o[1], k + o[2]];
                    let wrapped = c.map(|x| x.rem_euclid(m) as usize);
                    let to = index(wrapped);
                    let image = Vector3::from_fn(|x, _| c[x].div_euclid(m) as f64 * length);
                    let vector = positions[to] + image - positions[from];
                    let saddle = energies[from].max(energies[to]) + rng.gen_range(0.25..0.65);
                    builder.add_hop(from, to, saddle - energies[from], vector, "disordered network");
                    builder.add_hop(to, from, saddle - energies[to], -vector, "disordered network");
                }
            }
        }
    }
    builder.build()
}

/// Nanoseconds the calling thread has run on a CPU (first field of /proc/thread-self/schedstat), if available.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

fn time_case(
    case: &str,
    network: &SiteNetwork,
    vacancy_fraction: Option<f64>,
    track_ions: bool,
    events: u64,
) -> anyhow::Result<BenchResult> {
    let carrier_network = network.vacancy_network();
    let sites = carrier_network.len();
    let carriers = vacancy_fraction.map_or(1, |x| ((x * sites as f64).round() as usize).max(1));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let mut carrier_sites = rand::seq::index::sample(&mut rng, sites, carriers).into_vec();
    carrier_sites.sort_unstable();
    let mut sim = Simulation::new(&carrier_network, 600.0, 1e13, &carrier_sites, track_ions, rng);
    sim.run(events / 10)?;
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    sim.run(events)?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => Some((b - a) as f64 * 1e-9),
        _ => None,
    };
    let bytes = carrier_network.memory_bytes()
        + simulation_bytes(sites, carrier_network.hop_kinds().len(), carriers, track_ions);
    Ok(BenchResult {
        case: case.to_string(),
        sites,
        carriers,
        hops: carrier_network.hop_count(),
        events,
        seconds,
        events_per_second: events as f64 / seconds,
        cpu_seconds,
        events_per_cpu_second: cpu_seconds.map(|t| events as f64 / t),
        memory_bytes_per_site: bytes as f64 / sites as f64,
    })
}

/// Runs every case with `events` timed events (after events/10 warm-up events) on lattices of `side`³ sites
/// (`side` = 100 gives the 10⁶-site cases of the task) and a disordered network of `disordered_side`³ sites.
/// Runs on the calling thread.
pub fn bench_kmc(side: usize, disordered_side: usize, events: u64) -> anyhow::Result<Vec<BenchResult>> {
    let lattice =
        Lattice { kind: LatticeKind::SimpleCubic, repeat: [side; 3], lattice_constant_a: 2.5, barrier_ev: 0.5 }
            .build()?;
    let disordered = disordered_network(disordered_side, 5)?;
    Ok(vec![
        time_case("single_vacancy", &lattice, None, false, events)?,
        time_case("vacancies_1pct", &lattice, Some(0.01), false, events)?,
        time_case("single_vacancy_tracked_ions", &lattice, None, true, events)?,
        time_case("disordered_network", &disordered, Some(0.01), false, events)?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disordered_network_obeys_detailed_balance_barriers() {
        let net = disordered_network(4, 1).unwrap();
        assert_eq!(net.len(), 64);
        for i in 0..net.len() {
            assert_eq!(net.hops(i).len(), 18);
            for (j, kind) in net.hops(i) {
                let k = net.hop_kinds()[kind];
                // The reverse hop has barrier E_b + E_i − E_j (same saddle).
                let (_, back) = net
                    .hops(j)
                    .into_iter()
                    .find(|&(target, g)| target == i && (net.hop_kinds()[g].vector + k.vector).norm() < 1e-9)
                    .unwrap();
                let expected = k.barrier_ev + net.site_energy(i) - net.site_energy(j);
                assert!((net.hop_kinds()[back].barrier_ev - expected).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn bench_runs_on_small_systems() {
        let results = bench_kmc(6, 5, 2000).unwrap();
        assert_eq!(results.len(), 4);
        for r in results {
            assert!(r.events_per_second > 0.0 && r.memory_bytes_per_site > 0.0, "{r:?}");
        }
    }
}

#[test]
fn scratch() {
    for r in mdrun::kmc::bench::bench_kmc(100, 64, 20_000_000).unwrap() {
        println!("{:32} wall {:.3e}/s cpu {:.3e}/s mem {:.1} B/site", r.case, r.events_per_second, r.events_per_cpu_second.unwrap_or(0.0), r.memory_bytes_per_site);
    }
}

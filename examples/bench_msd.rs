//! Prints the measured numbers of the all-origins MSD benchmark as JSON:
//! `cargo run --release --example bench_msd -- [atoms] [frames] [threads]` (default 1000 10000 1).

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("integer arguments")).collect();
    let atoms = args.first().copied().unwrap_or(1000);
    let frames = args.get(1).copied().unwrap_or(10_000);
    let threads = args.get(2).copied().unwrap_or(1);
    let result = mdrun::analysis::msd::bench_msd(atoms, frames, threads, 1);
    println!("{}", serde_json::to_string(&result).expect("serialisable"));
}

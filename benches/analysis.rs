//! MSD over all time origins by FFT: 1000 atoms × 10,000 frames (the size freud needs 10.6 s and 1.8 GB for),
//! on one thread and on all threads.

use criterion::{criterion_group, criterion_main, Criterion};
use mdrun::analysis::msd::bench_msd;

fn msd(c: &mut Criterion) {
    let mut group = c.benchmark_group("msd_fft_1000_atoms_10000_frames");
    group.sample_size(10);
    for threads in [1, rayon::current_num_threads()] {
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter_custom(|iterations| {
                let mut total = std::time::Duration::ZERO;
                for i in 0..iterations {
                    let result = bench_msd(1000, 10_000, threads, i);
                    total += std::time::Duration::from_secs_f64(result.seconds);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, msd);
criterion_main!(benches);

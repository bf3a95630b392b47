//! MD step throughput: LJ argon, 500 and 4000 atoms (see `mdrun::md::bench`).

use criterion::{criterion_group, criterion_main, Criterion};
use mdrun::md::bench::bench_md;

fn md_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("md");
    group.sample_size(10);
    for cells in [5, 10] {
        group.bench_function(format!("lj_argon_{}_atoms_20_steps", 4 * cells * cells * cells), |b| {
            b.iter(|| bench_md(cells, 20, None).expect("benchmark run"))
        });
    }
    group.finish();
}

criterion_group!(benches, md_steps);
criterion_main!(benches);

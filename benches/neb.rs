//! A whole nearest-neighbour vacancy-hop NEB (endpoint relaxations, IDPP, climbing-image band to
//! fmax 0.01 eV/Å, 5 images) in EAM Cu_u3 fcc a = 3.615 Å 4×4×4 (255 atoms per image), FIRE and L-BFGS.
//! Threads: set RAYON_NUM_THREADS. Needs ../shared/reference/eam/Cu_u3.eam.

use criterion::{criterion_group, criterion_main, Criterion};
use mdrun::neb::bench::{fcc, nearest_neighbour_hop};
use mdrun::neb::{run_neb, Interpolation, NebOptions};
use mdrun::optimize::{Algorithm, Convergence};
use mdrun::potentials::eam::Eam;
use mdrun::potentials::Evaluator;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn neb(c: &mut Criterion) {
    let eam_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/eam/Cu_u3.eam");
    let eam = match Eam::read_funcfl(&[eam_file.as_path()]) {
        Ok(eam) => eam,
        Err(err) => {
            eprintln!("skipped the NEB benchmark: {err}");
            return;
        }
    };
    let evaluator = Evaluator::new(Arc::new(eam), 1.0);
    let (initial, final_state) = nearest_neighbour_hop(&fcc(29, 3.615, 4)).expect("fcc has neighbours");
    let mut group = c.benchmark_group("neb_cu_vacancy_hop_255");
    group.sample_size(10).measurement_time(Duration::from_secs(10)).warm_up_time(Duration::from_secs(1));
    for optimizer in [Algorithm::Fire, Algorithm::Lbfgs] {
        let options = NebOptions {
            images: 5,
            interpolation: Interpolation::Idpp,
            spring: 0.1,
            climb: true,
            relax_endpoints: true,
            optimizer,
            convergence: Convergence { fmax: 0.01, max_steps: 2000, max_step: 0.2 },
        };
        group.bench_function(optimizer.to_string(), |b| {
            b.iter(|| run_neb(&initial, &final_state, &evaluator, &options).expect("valid endpoints"))
        });
    }
    group.finish();
}

criterion_group!(benches, neb);
criterion_main!(benches);

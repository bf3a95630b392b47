//! Training throughput (structures per second per epoch: loss, gradient with force terms, Adam step;
//! descriptors precomputed) on 64 rattled 32-atom Cu cells labelled with Cu_u3 EAM, on 1 and 2 threads,
//! then criterion on one epoch with the default pool.

use criterion::Criterion;
use mdrun::potentials::eam::Eam;
use mdrun::train::bench::{bench_training, rattled_fcc};
use mdrun::train::model::LossWeights;
use mdrun::train::{Prepared, TrainSettings};
use std::path::Path;

fn settings() -> TrainSettings {
    let settings: TrainSettings = toml::from_str(
        r#"
        batch_size = 8
        [[data]]
        file = "unused.xyz"
        [symmetry_functions]
        cutoff_a = 5.5
        radial_count = 8
        radial_r_min_a = 2.0
        [network]
        hidden_layers = [15, 15]
        "#,
    )
    .expect("bench settings parse");
    settings.validate("train").expect("bench settings are valid");
    settings
}

fn main() {
    let eam_path = Path::new("../shared/reference/eam/Cu_u3.eam");
    if !eam_path.exists() {
        eprintln!("skipped: {} is absent", eam_path.display());
        return;
    }
    let eam = Eam::read_funcfl(&[eam_path]).expect("EAM reads");
    let structures = rattled_fcc(&eam, 29, 3.615, 2, 64, 0.03, 0.15, 1);
    let settings = settings();
    let scratch = tempfile::tempdir().expect("scratch directory");
    for threads in [1, 2] {
        let r = bench_training(&settings, &structures, 5, threads, scratch.path()).expect("bench runs");
        println!(
            "train: {} threads, {} structures x {:.0} atoms, {} parameters: {:.1} structures/s per epoch \
             (descriptors and Jacobians once: {:.2} s)",
            r.threads, r.structures, r.atoms_per_structure, r.parameters, r.structures_per_second, r.descriptor_seconds
        );
    }
    let mut s = settings.clone();
    s.test_fraction = 0.0;
    let prepared = Prepared::new(&s, scratch.path(), scratch.path(), &structures).expect("descriptors");
    let model = prepared.template.clone();
    let weights = LossWeights { energy: 1.0, force: 1.0 };
    let mut criterion = Criterion::default().sample_size(10).configure_from_args();
    criterion.bench_function("train/epoch_gradients_64x32_Cu", |b| {
        b.iter(|| {
            for batch in prepared.train.chunks(8) {
                std::hint::black_box(model.batch_loss_gradient(&prepared.data, batch, weights));
            }
        })
    });
    criterion.final_summary();
}

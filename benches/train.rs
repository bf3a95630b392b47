//! Training throughput (structures per second per epoch: loss, gradient with force terms, Adam step;
//! descriptors precomputed) and descriptor memory, on 1 and 2 threads, for
//! - 64 rattled 32-atom Cu cells labelled with Cu_u3 EAM (one element, 2×15 network);
//! - 32 rattled 64-atom γ-Li3PO4 cells (2×1×1 of mp-2878) labelled with the shipped Li3PO4 NNP, trained with its
//!   own 102 symmetry functions per element, scaling and 2×20 network (three elements: most Jacobian entries
//!   are zero).
//!
//! Then criterion on one epoch of the Cu case with the default pool.

use criterion::Criterion;
use mdrun::potentials::eam::Eam;
use mdrun::potentials::nnp::{NnpConfig, NnpPotential};
use mdrun::train::bench::{bench_training, rattled, rattled_fcc, TrainBench};
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

fn print(case: &str, r: &TrainBench) {
    println!(
        "train {case}: {} threads, {} structures x {:.0} atoms, {} parameters: {:.1} structures/s per epoch \
         (descriptors and Jacobians once: {:.2} s, {:.0} MB)",
        r.threads,
        r.structures,
        r.atoms_per_structure,
        r.parameters,
        r.structures_per_second,
        r.descriptor_seconds,
        r.descriptor_megabytes
    );
}

/// The Li3PO4 case, or why it is skipped.
fn li3po4(scratch: &Path) -> Result<(), String> {
    let poscar = Path::new("../shared/reference/structures/gamma_Li3PO4_mp-2878.vasp");
    let model = Path::new("inputs/li3po4-nnp");
    let crystal = mdrun::io::poscar::read(poscar).map_err(|e| e.to_string())?;
    let potential = NnpPotential::load(&NnpConfig::new(model, 1.0, 1.0)).map_err(|e| e.to_string())?;
    let structures = rattled(&potential, &crystal.supercell([2, 1, 1]), 32, 0.03, 0.15, 1).expect("NNP labels");
    // Started from the shipped model: its symmetry functions and scaling (the rattled crystals alone leave
    // some short-range functions constant, which a fresh scaling refuses).
    let shipped = std::fs::canonicalize(model).map_err(|e| e.to_string())?;
    let settings: TrainSettings = toml::from_str(&format!(
        "batch_size = 8\ninitial_model = {:?}\n[[data]]\nfile = \"unused.xyz\"\n[network]\nhidden_layers = [20, 20]\n",
        shipped.display().to_string()
    ))
    .map_err(|e| e.to_string())?;
    for threads in [1, 2] {
        print("Li3PO4", &bench_training(&settings, &structures, 3, threads, scratch).map_err(|e| e.to_string())?);
    }
    Ok(())
}

fn main() {
    let eam_path = Path::new("../shared/reference/eam/Cu_u3.eam");
    if !eam_path.exists() {
        eprintln!("skipped: {} is absent", eam_path.display());
        return;
    }
    let eam = Eam::read_funcfl(&[eam_path]).expect("EAM reads");
    let structures = rattled_fcc(&eam, 29, 3.615, 2, 64, 0.03, 0.15, 1).expect("EAM labels");
    let settings = settings();
    let scratch = tempfile::tempdir().expect("scratch directory");
    for threads in [1, 2] {
        print("Cu", &bench_training(&settings, &structures, 5, threads, scratch.path()).expect("bench runs"));
    }
    if let Err(why) = li3po4(scratch.path()) {
        eprintln!("Li3PO4 case skipped: {why}");
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

//! Full training run: learn the Cu_u3 EAM surface (Foiles et al.) from rattled and strained fcc cells and
//! MD snapshots at 300 K and 900 K
//! with a Behler–Parrinello NNP, and report the test RMSEs. Run with
//! `cargo run --release --example train_cu [structures] [epochs] [energy_weight]` (defaults 500, 700, 3).

use mdrun::potentials::eam::Eam;
use mdrun::train::bench::{md_sampled_fcc, rattled_fcc};
use mdrun::train::{Prepared, TrainSettings};
use std::path::Path;

fn main() -> anyhow::Result<()> {
    let eam_path = Path::new("../shared/reference/eam/Cu_u3.eam");
    if !eam_path.exists() {
        eprintln!("skipped: {} is absent", eam_path.display());
        return Ok(());
    }
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("a count")).collect();
    let count = args.first().copied().unwrap_or(500);
    let epochs = args.get(1).copied().unwrap_or(700);
    let energy_weight = args.get(2).copied().unwrap_or(3);
    let eam = Eam::read_funcfl(&[eam_path])?;
    let mut structures = rattled_fcc(&eam, 29, 3.615, 2, count, 0.03, 0.15, 11)?;
    // A few MD snapshots at 300 K and 900 K (every 50 fs).
    structures.extend(md_sampled_fcc(&eam, 29, 3.615, 2, 300.0, 2.0, 25, count / 20, 12)?);
    structures.extend(md_sampled_fcc(&eam, 29, 3.615, 2, 900.0, 2.0, 25, count / 20, 13)?);
    let settings: TrainSettings = toml::from_str(&format!(
        r#"
        epochs = {epochs}
        batch_size = 8
        learning_rate = 3e-3
        learning_rate_decay = 0.98
        learning_rate_min = 1e-4
        energy_weight = {energy_weight}
        force_weight = 1.0
        early_stopping_patience = 100
        [[data]]
        file = "unused.xyz"
        [symmetry_functions]
        cutoff_a = 5.5
        radial_count = 8
        radial_r_min_a = 2.0
        [network]
        hidden_layers = [15, 15]
        "#
    ))?;
    settings.validate("train")?;
    let out = Path::new("target/train_cu");
    std::fs::create_dir_all(out)?;
    let start = std::time::Instant::now();
    let prepared = Prepared::new(&settings, out, out, &structures)?;
    println!(
        "{} structures x {} atoms, descriptors in {:.1} s; label spread {:.2} meV/atom, {:.1} meV/A",
        structures.len(),
        structures[0].system.len(),
        start.elapsed().as_secs_f64(),
        prepared.label_energy_std * 1e3,
        prepared.label_force_rms * 1e3
    );
    let (_, report) = prepared.train_member(&settings, settings.seed, &out.join("model_0"), &mut Vec::new())?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

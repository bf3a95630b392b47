//! Prints the speed of force evaluations and neighbour-list builds for the benchmark systems (32,000 atoms:
//! EAM Cu_u3 and LJ argon) with 1 and 2 threads, as JSON lines:
//! `cargo run --release --example potential_speed [seconds per measurement] [eam|lj] [threads]`.

use mdrun::potentials::bench::{bench_potential, fcc_crystal};
use mdrun::potentials::eam::Eam;
use mdrun::potentials::lj::{LennardJones, LennardJonesConfig, LennardJonesPairConfig};
use std::path::Path;

fn main() -> anyhow::Result<()> {
    let seconds: f64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(3.0);
    let only = std::env::args().nth(2);
    let thread_counts: Vec<usize> = match std::env::args().nth(3) {
        Some(t) => vec![t.parse()?],
        None => vec![1, 2],
    };
    let lj = LennardJones::from_config(&LennardJonesConfig {
        cutoff: 8.5125,
        shift: false,
        pairs: vec![LennardJonesPairConfig {
            species: ["Ar".into(), "Ar".into()],
            epsilon: 0.0103,
            sigma: 3.405,
            cutoff: None,
        }],
    })?;
    let eam =
        Eam::read_funcfl(&[Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/eam/Cu_u3.eam").as_path()])?;
    let argon = fcc_crystal(18, 5.719, 20);
    let copper = fcc_crystal(29, 3.615, 20);
    for threads in thread_counts {
        if only.as_deref() != Some("lj") {
            println!("{}", serde_json::to_string(&bench_potential(&eam, &copper, 1.0, threads, seconds)?)?);
        }
        if only.as_deref() != Some("eam") {
            println!("{}", serde_json::to_string(&bench_potential(&lj, &argon, 1.0215, threads, seconds)?)?);
        }
    }
    Ok(())
}

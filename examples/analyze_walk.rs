//! Writes a random-walk H5MD trajectory (atoms × frames, Li, D = 0.5 Å²/ps, 10 fs between frames) into the
//! temporary directory unless it is already there, then runs the whole analyze stage on it and prints the time
//! and D: `cargo run --release --example analyze_walk -- 1000 10000 [memory_budget_mb]`. Run it twice to
//! measure the analysis alone (the second run only analyses).

use mdrun::analysis::trajectory::write_h5md;
use mdrun::analysis::AnalyzeSettings;
use mdrun::system::{Cell, System};
use nalgebra::Vector3;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal, Uniform};

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("integer arguments")).collect();
    let atoms = args.first().copied().unwrap_or(1000);
    let frames = args.get(1).copied().unwrap_or(10_000);
    let budget_mb = args.get(2).copied().unwrap_or(1024);
    let dir = std::env::temp_dir().join(format!("mdrun_analyze_walk_{atoms}_{frames}"));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("trajectory.h5");
    let (d, dt) = (0.5, 10.0);
    if !path.exists() {
        write_walk(&path, atoms, frames, d, dt)?;
    }
    let settings: AnalyzeSettings = toml::from_str(&format!(
        "trajectories = [{{ path = \"{}\", temperature_k = 300.0 }}]\ncharges = {{ Li = 1.0 }}\n\
         memory_budget_mb = {budget_mb}\n",
        path.display()
    ))?;
    let start = std::time::Instant::now();
    let report = settings.run(&dir, None, &dir.join("analysis"))?;
    let fit = &report.trajectories[0].diffusion[0].fit;
    println!(
        "{atoms} atoms x {frames} frames: analyze stage {:.2} s, D = {:.4} ± {:.4} Å²/ps (true {d}), streamed: {}",
        start.elapsed().as_secs_f64(),
        fit.d_a2_per_ps,
        fit.d_sigma_a2_per_ps,
        report.trajectories[0].streamed_from_file
    );
    println!("trajectory kept at {}", path.display());
    Ok(())
}

fn write_walk(path: &std::path::Path, atoms: usize, frames: usize, d: f64, dt: f64) -> anyhow::Result<()> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
    let step = Normal::new(0.0, (2.0 * d * dt * 1e-3_f64).sqrt())?;
    let length = (atoms as f64 / 0.05).cbrt();
    let cell = Cell::orthorhombic(length, length, length).expect("cell");
    let mut system = System::new(cell);
    let uniform = Uniform::new(0.0, length);
    for _ in 0..atoms {
        system.push(3, Vector3::new(uniform.sample(&mut rng), uniform.sample(&mut rng), uniform.sample(&mut rng)));
    }
    let mut trajectory = Vec::with_capacity(frames);
    for _ in 0..frames {
        let previous = system.clone();
        for r in system.positions.iter_mut() {
            *r += Vector3::new(step.sample(&mut rng), step.sample(&mut rng), step.sample(&mut rng));
        }
        let mut recorded = previous;
        recorded.velocities = system.positions.iter().zip(&recorded.positions).map(|(a, b)| (a - b) / dt).collect();
        trajectory.push(recorded);
        system.wrap();
    }
    write_h5md(path, &trajectory, dt)?;
    Ok(())
}

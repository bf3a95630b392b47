//! Whole-workflow tests of trajectory analysis: known diffusion coefficients, unwrapping equivalence across
//! formats and cells, Arrhenius over several runs, coordination in fcc copper.

mod common;

use mdrun::analysis::diffusion::{fit_diffusion, fit_lags, FitInput};
use mdrun::analysis::trajectory::{
    read_trajectory, write_h5md, H5mdTrajectory, RawFrame, ReadOptions, Trajectory, TrajectoryData,
};
use mdrun::analysis::{displacement_variances, species_msd, AnalyzeSettings, BlockLayout};
use mdrun::io::extxyz::{format_frame, FrameExtras};
use mdrun::system::{Cell, System, BOLTZMANN_EV_PER_K};
use nalgebra::Vector3;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::Path;

/// Frames of a Gaussian random walk with diffusion coefficient `d` (Å²/ps) sampled every `dt_fs`:
/// per-frame step σ² = 2 D Δt per Cartesian direction. Positions are wrapped into `cell`, image counters kept.
fn random_walk(cell: &Cell, species: &[u8], frames: usize, dt_fs: f64, d: f64, seed: u64) -> Vec<System> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let sigma = (2.0 * d * dt_fs * 1e-3).sqrt();
    let step = Normal::new(0.0, sigma).unwrap();
    let uniform = rand::distributions::Uniform::new(0.0, 1.0);
    let mut system = System::new(cell.clone());
    for &z in species {
        let s = Vector3::new(uniform.sample(&mut rng), uniform.sample(&mut rng), uniform.sample(&mut rng));
        system.push(z, cell.cartesian(&s));
    }
    let mut out = Vec::with_capacity(frames);
    for _ in 0..frames {
        out.push(system.clone());
        for r in system.positions.iter_mut() {
            *r += Vector3::new(step.sample(&mut rng), step.sample(&mut rng), step.sample(&mut rng));
        }
        system.wrap();
    }
    out
}

fn trajectory_of(frames: &[System], dt_fs: f64) -> Trajectory {
    let raw = frames
        .iter()
        .enumerate()
        .map(|(k, s)| RawFrame {
            time_fs: Some(k as f64 * dt_fs),
            cell: s.cell.clone(),
            positions: s.positions.clone(),
            images: Some(s.images.clone()),
            velocities: None,
        })
        .collect();
    let first = &frames[0];
    Trajectory::from_frames(
        Path::new("walk"),
        first.atomic_numbers.clone(),
        first.masses.clone(),
        raw,
        &ReadOptions::default(),
    )
    .unwrap()
}

/// D and σ_D of all atoms of a trajectory with the default window (10 %–50 % of the duration).
fn fitted_d(trajectory: &Trajectory) -> (f64, f64) {
    let n = trajectory.n_frames();
    let atoms: Vec<usize> = (0..trajectory.n_atoms()).collect();
    let layout = BlockLayout { load_atoms: 1000, fft_block: 8 };
    let msd = species_msd(trajectory, &atoms, None, &layout).unwrap();
    let lags = fit_lags((0.1 * (n - 1) as f64).ceil() as usize, (0.5 * (n - 1) as f64) as usize, 40);
    let variances = displacement_variances(trajectory, &atoms, None, &lags, &layout).unwrap();
    let msd_at: Vec<f64> = lags.iter().map(|&m| msd[m]).collect();
    let fit = fit_diffusion(&FitInput {
        lags: &lags,
        msd: &msd_at,
        displacement_variance: &variances,
        frames: n,
        atoms: atoms.len(),
        frame_interval_fs: trajectory.frame_interval_fs(),
        dimensions: 3,
    })
    .unwrap();
    (fit.d_a2_per_ps, fit.d_sigma_a2_per_ps)
}

#[test]
fn random_walk_d_is_recovered_and_its_uncertainty_is_honest() {
    let cell = Cell::orthorhombic(8.0, 8.0, 8.0).unwrap();
    let d_true = 0.5; // Å²/ps
    let dt = 10.0; // fs
                   // One long walk: D within the reported uncertainty's reach, and a tight error bar.
    let frames = random_walk(&cell, &[3; 100], 4000, dt, d_true, 7);
    let (d, sigma) = fitted_d(&trajectory_of(&frames, dt));
    assert!((d - d_true).abs() < 3.0 * sigma, "D = {d} ± {sigma}, true {d_true}");
    assert!(sigma < 0.05 * d_true, "σ = {sigma}");

    // Coverage: over many independent short walks the true D lies within ±1σ about 68 % of the time
    // (binomial standard error of the fraction for 400 walks ≈ 2.3 %).
    let walks = 400;
    let mut inside = 0;
    let mut z_squared = 0.0;
    for seed in 0..walks {
        let frames = random_walk(&cell, &[3; 10], 300, dt, d_true, 1000 + seed);
        let (d, sigma) = fitted_d(&trajectory_of(&frames, dt));
        let z = (d - d_true) / sigma;
        z_squared += z * z;
        if z.abs() < 1.0 {
            inside += 1;
        }
    }
    let fraction = inside as f64 / walks as f64;
    let rms_z = (z_squared / walks as f64).sqrt();
    println!("coverage of ±1σ: {fraction:.3}, rms of (D − D_true)/σ: {rms_z:.3}");
    assert!((0.61..=0.75).contains(&fraction), "coverage {fraction}");
    assert!((0.85..=1.2).contains(&rms_z), "rms z {rms_z}");
}

#[test]
fn naive_least_squares_error_bar_is_far_too_small() {
    // The reason for the generalised fit: treating correlated MSD points as independent understates σ.
    let cell = Cell::orthorhombic(8.0, 8.0, 8.0).unwrap();
    let trajectory = trajectory_of(&random_walk(&cell, &[3; 10], 1000, 10.0, 0.5, 3), 10.0);
    let atoms: Vec<usize> = (0..10).collect();
    let layout = BlockLayout { load_atoms: 4, fft_block: 2 };
    let msd = species_msd(&trajectory, &atoms, None, &layout).unwrap();
    let lags = fit_lags(100, 500, 40);
    let variances = displacement_variances(&trajectory, &atoms, None, &lags, &layout).unwrap();
    let msd_at: Vec<f64> = lags.iter().map(|&m| msd[m]).collect();
    let fit = fit_diffusion(&FitInput {
        lags: &lags,
        msd: &msd_at,
        displacement_variance: &variances,
        frames: 1000,
        atoms: 10,
        frame_interval_fs: 10.0,
        dimensions: 3,
    })
    .unwrap();
    assert!(fit.d_sigma_a2_per_ps > 2.0 * fit.d_ols_naive_sigma_a2_per_ps, "{fit:?}");
}

/// Small blocks, so that block boundaries are exercised.
const SMALL: BlockLayout = BlockLayout { load_atoms: 3, fft_block: 2 };

fn write_xyz(path: &Path, frames: &[System], dt: f64, images: bool, unwrapped: bool) {
    let mut text = String::new();
    for (k, s) in frames.iter().enumerate() {
        let mut s = s.clone();
        if unwrapped {
            s.positions = s.unwrapped_positions();
            s.images = vec![[0; 3]; s.len()];
        }
        text.push_str(&format_frame(
            &s,
            &FrameExtras { images, info: vec![("time_fs".into(), format!("{}", k as f64 * dt))], ..Default::default() },
        ));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn wrapped_unwrapped_and_h5md_inputs_give_the_same_msd_in_a_triclinic_cell() {
    let cell =
        Cell::from_vectors(Vector3::new(6.0, 0.0, 0.0), Vector3::new(2.0, 5.5, 0.0), Vector3::new(-1.0, 1.5, 6.5))
            .unwrap();
    // Fast diffusion: atoms cross the cell many times (steps ≈ 0.45 Å, well below half a cell width).
    let frames = random_walk(&cell, &[3, 3, 3, 8, 8, 8, 8], 400, 5.0, 20.0, 11);
    let truth: Vec<Vec<Vector3<f64>>> = frames.iter().map(|s| s.unwrapped_positions()).collect();
    let crossings = frames.last().unwrap().images.iter().flatten().map(|n| n.abs()).sum::<i32>();
    assert!(crossings > 10, "the walk should cross boundaries ({crossings})");
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("unwrapped.xyz", false, true),
        ("wrapped_no_images.xyz", false, false),
        ("wrapped_with_images.xyz", true, false),
    ];
    let mut msds = Vec::new();
    for (name, images, unwrapped) in files {
        let path = dir.path().join(name);
        write_xyz(&path, &frames, 5.0, images, unwrapped);
        let t = read_trajectory(&path, &ReadOptions::default()).unwrap();
        assert_eq!(t.unwrapped_with_images(), images, "{name}");
        // Continuous paths agree with the truth up to each atom's starting image.
        for (f, positions) in truth.iter().enumerate() {
            for i in 0..positions.len() {
                let got = t.frame_positions(f)[i] - t.frame_positions(0)[i];
                let expected = positions[i] - truth[0][i];
                assert!((got - expected).norm() < 1e-9, "{name} frame {f} atom {i}");
            }
        }
        msds.push(species_msd(&t, &t.atoms_of(3), None, &SMALL).unwrap());
    }
    let h5 = dir.path().join("trajectory.h5");
    write_h5md(&h5, &frames, 5.0).unwrap();
    let t = read_trajectory(&h5, &ReadOptions::default()).unwrap();
    assert!(t.unwrapped_with_images());
    msds.push(species_msd(&t, &t.atoms_of(3), None, &SMALL).unwrap());
    let min_image = read_trajectory(
        &h5,
        &ReadOptions { unwrap: mdrun::analysis::trajectory::UnwrapMethod::MinimumImage, ..Default::default() },
    )
    .unwrap();
    msds.push(species_msd(&min_image, &min_image.atoms_of(3), None, &SMALL).unwrap());
    for msd in &msds[1..] {
        for m in 0..400 {
            assert!((msd[m] - msds[0][m]).abs() < 1e-8 * msds[0][m].max(1.0), "lag {m}");
        }
    }
}

#[test]
fn drift_removal_cancels_a_uniform_flow() {
    let cell = Cell::orthorhombic(10.0, 10.0, 10.0).unwrap();
    let mut frames = random_walk(&cell, &[3; 20], 200, 10.0, 0.2, 5);
    // Add a uniform drift of 0.05 Å per frame to every atom.
    for (k, s) in frames.iter_mut().enumerate() {
        let shift = Vector3::new(0.05, -0.02, 0.01) * k as f64;
        s.positions = s.unwrapped_positions().iter().map(|r| r + shift).collect();
        s.images = vec![[0; 3]; s.len()];
        s.wrap();
    }
    let drifting = trajectory_of(&frames, 10.0);
    let atoms: Vec<usize> = (0..20).collect();
    let drift = mdrun::analysis::drift_series(&drifting, mdrun::analysis::DriftReference::System, &SMALL).unwrap();
    let corrected = species_msd(&drifting, &atoms, drift.as_deref(), &SMALL).unwrap();
    let raw = species_msd(&drifting, &atoms, None, &SMALL).unwrap();
    // With drift: MSD grows ∝ m² (0.0030 Å²/frame² · m²); corrected MSD ≈ 6 D t (1 − 1/N) ≈ 0.0114 Å²/frame.
    assert!(raw[100] > 25.0, "raw {}", raw[100]);
    let expected = 6.0 * 0.2 * 1e-3 * 1000.0 * (1.0 - 1.0 / 20.0);
    assert!((corrected[100] - expected).abs() < 0.35 * expected, "corrected {} vs {expected}", corrected[100]);
}

#[test]
fn analyze_stage_writes_files_and_fits_arrhenius_over_temperatures() {
    let cell = Cell::orthorhombic(9.0, 9.0, 9.0).unwrap();
    let (ea, d0) = (0.3, 40.0); // eV, Å²/ps
    let dir = tempfile::tempdir().unwrap();
    let temperatures = [600.0, 800.0, 1000.0, 1300.0];
    let mut entries = Vec::new();
    for (k, &t) in temperatures.iter().enumerate() {
        let d = d0 * (-ea / (BOLTZMANN_EV_PER_K * t)).exp();
        // Li diffuse, O vibrate around fixed sites (tiny D), 2000 frames of 20 fs.
        let mut species = vec![3u8; 24];
        species.extend([8u8; 8]);
        let li = random_walk(&cell, &species[..24], 2000, 20.0, d, 100 + k as u64);
        let o = random_walk(&cell, &species[24..], 2000, 20.0, 1e-6, 200 + k as u64);
        let frames: Vec<System> = li
            .iter()
            .zip(&o)
            .map(|(a, b)| {
                let mut s = a.clone();
                for i in 0..b.len() {
                    s.push(8, b.positions[i]);
                    let last = s.len() - 1;
                    s.images[last] = b.images[i];
                }
                s
            })
            .collect();
        let name = format!("run_{t}.h5");
        write_h5md(&dir.path().join(&name), &frames, 20.0).unwrap();
        entries.push(format!("{{ path = \"{name}\", temperature_k = {t:.1} }}"));
    }
    let text = format!(
        "trajectories = [{}]\nspecies = [\"Li\"]\ncharges = {{ Li = 1.0 }}\nextrapolate_to_k = 300.0\n\
         [rdf]\nmax_frames = 5\n[vdos]\nenabled = false\n",
        entries.join(", ")
    );
    let settings: AnalyzeSettings = toml::from_str(&text).unwrap();
    settings.validate("stage[0]").unwrap();
    let out = dir.path().join("analysis");
    let report = settings.run(dir.path(), None, &out).unwrap();
    assert_eq!(report.trajectories.len(), 4);
    for (t, &temperature) in report.trajectories.iter().zip(&temperatures) {
        let fit = &t.diffusion[0].fit;
        let d = d0 * (-ea / (BOLTZMANN_EV_PER_K * temperature)).exp();
        assert!((fit.d_a2_per_ps - d).abs() < 4.0 * fit.d_sigma_a2_per_ps, "{temperature} K: {fit:?} vs {d}");
        assert!(t.conductivity_s_per_cm.unwrap() > 0.0);
        assert_eq!(t.unwrapped_with, "images");
        for file in ["msd.csv", "msd.svg", "rdf.csv", "rdf.svg"] {
            assert!(out
                .join(format!("trajectory_{}", temperatures.iter().position(|&x| x == temperature).unwrap()))
                .join(file)
                .exists());
        }
    }
    let arrhenius = &report.arrhenius[0];
    assert_eq!(arrhenius.species, "Li");
    let fit = &arrhenius.fit;
    assert!((fit.activation_energy_ev - ea).abs() < 3.0 * fit.activation_energy_sigma_ev.max(1e-3), "{fit:?}");
    assert!(fit.activation_energy_sigma_ev < 0.03, "{fit:?}");
    let extrapolated = arrhenius.extrapolated.as_ref().unwrap();
    let d300 = d0 * (-ea / (BOLTZMANN_EV_PER_K * 300.0)).exp();
    assert!(
        (extrapolated.d_a2_per_ps - d300).abs() < 3.0 * extrapolated.d_sigma_a2_per_ps,
        "{extrapolated:?} vs {d300}"
    );
    for file in ["arrhenius.csv", "arrhenius_points.csv", "arrhenius_Li.svg", "analysis.json"] {
        assert!(out.join(file).exists(), "{file}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap();
    assert!(json["arrhenius"][0]["fit"]["activation_energy_ev"].as_f64().is_some());
}

#[test]
fn rattled_fcc_copper_has_twelve_first_neighbours() {
    let Some(path) = common::reference("../shared/reference/eam/Cu_u3_rattled_256.extxyz") else { return };
    let frames = mdrun::io::extxyz::read_frames(&path).unwrap();
    let systems: Vec<System> = frames.into_iter().map(|f| f.system).collect();
    let rdf = mdrun::analysis::rdf::compute_rdf(&systems, 6.0, 0.02, |_, _| None).unwrap();
    let pair = &rdf.pairs[0];
    let cn = pair.coordination_number.unwrap();
    assert!((cn - 12.0).abs() < 0.05, "Cu–Cu coordination {cn}, cutoff {:?}", pair.coordination_cutoff_a);
    // First shell of fcc Cu at a/√2 ≈ 2.55 Å.
    assert!((pair.first_peak_a.unwrap() - 2.55).abs() < 0.1, "{:?}", pair.first_peak_a);
}

#[test]
fn bad_input_is_reported_with_file_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.xyz");
    let cell = Cell::orthorhombic(5.0, 5.0, 5.0).unwrap();
    let frames = random_walk(&cell, &[3; 2], 3, 1.0, 0.1, 1);
    let mut text = String::new();
    for s in &frames {
        text.push_str(&format_frame(s, &FrameExtras::default()));
    }
    std::fs::write(&path, text).unwrap();
    let settings: AnalyzeSettings =
        toml::from_str(&format!("trajectories = [{{ path = \"{}\" }}]", path.display())).unwrap();
    let err = format!("{:#}", settings.run(dir.path(), None, &dir.path().join("out")).unwrap_err());
    assert!(err.contains("short.xyz") && err.contains("frame_interval_fs"), "{err}");
    let settings: AnalyzeSettings = toml::from_str("").unwrap();
    let err = settings.run(dir.path(), None, &dir.path().join("out")).unwrap_err().to_string();
    assert!(err.contains("no `trajectories`"), "{err}");
}

#[test]
fn h5md_read_block_by_block_equals_in_memory_with_skip_and_stride() {
    let cell =
        Cell::from_vectors(Vector3::new(7.0, 0.0, 0.0), Vector3::new(1.0, 6.5, 0.0), Vector3::new(0.5, -1.0, 7.5))
            .unwrap();
    let mut frames = random_walk(&cell, &[3, 8, 3, 8, 3, 3, 8, 3], 300, 4.0, 10.0, 21);
    for (k, s) in frames.iter_mut().enumerate() {
        s.velocities = (0..s.len()).map(|i| Vector3::new(k as f64, i as f64, 1.0)).collect();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.h5");
    write_h5md(&path, &frames, 4.0).unwrap();
    for unwrap in
        [mdrun::analysis::trajectory::UnwrapMethod::Images, mdrun::analysis::trajectory::UnwrapMethod::MinimumImage]
    {
        let options = ReadOptions { skip_fs: 40.0, stride: 3, unwrap, ..Default::default() };
        let streamed = H5mdTrajectory::open(&path, &options).unwrap();
        let loaded = read_trajectory(&path, &options).unwrap();
        assert_eq!(streamed.n_frames(), loaded.n_frames());
        assert_eq!(streamed.times_fs()[0], 40.0);
        assert_eq!(streamed.frame_interval_fs(), 12.0);
        let li = loaded.atoms_of(3);
        let a = species_msd(&streamed, &li, None, &SMALL).unwrap();
        let b = species_msd(&loaded, &li, None, &BlockLayout { load_atoms: 100, fft_block: 64 }).unwrap();
        for m in 0..a.len() {
            assert!((a[m] - b[m]).abs() < 1e-9 * b[m].max(1.0), "lag {m}");
        }
        let v = streamed.velocity_block(&[1, 6]).unwrap().unwrap();
        assert_eq!(v[1][2], Vector3::new((10 + 2 * 3) as f64, 6.0, 1.0));
        let system = streamed.frame_system(1).unwrap();
        assert!((system.positions[4] - frames[13].positions[4]).norm() < 1e-12);
    }
}

#[test]
fn analysis_under_a_tiny_memory_budget_streams_and_agrees() {
    let cell = Cell::orthorhombic(8.0, 8.0, 8.0).unwrap();
    let mut frames = random_walk(&cell, &[3; 12], 500, 10.0, 0.4, 77);
    // Velocities: forward differences of the unwrapped path.
    for k in 0..frames.len() - 1 {
        let (now, next) = (frames[k].unwrapped_positions(), frames[k + 1].unwrapped_positions());
        frames[k].velocities = now.iter().zip(&next).map(|(a, b)| (b - a) / 10.0).collect();
    }
    let dir = tempfile::tempdir().unwrap();
    write_h5md(&dir.path().join("t.h5"), &frames, 10.0).unwrap();
    let run = |budget_mb: f64, out: &str| {
        let text = format!(
            "trajectories = [{{ path = \"t.h5\", temperature_k = 500.0 }}]\nmemory_budget_mb = {budget_mb}\n\
             remove_drift = \"system\"\n[rdf]\nmax_frames = 3\n"
        );
        let settings: AnalyzeSettings = toml::from_str(&text).unwrap();
        settings.validate("stage[0]").unwrap();
        settings.run(dir.path(), None, &dir.path().join(out)).unwrap()
    };
    let streamed = run(0.05, "small");
    let in_memory = run(1000.0, "large");
    assert!(streamed.trajectories[0].streamed_from_file);
    assert!(!in_memory.trajectories[0].streamed_from_file);
    let (a, b) = (&streamed.trajectories[0].diffusion[0].fit, &in_memory.trajectories[0].diffusion[0].fit);
    assert!((a.d_a2_per_ps - b.d_a2_per_ps).abs() < 1e-9 * b.d_a2_per_ps, "{a:?} vs {b:?}");
    assert!((a.d_sigma_a2_per_ps - b.d_sigma_a2_per_ps).abs() < 1e-9 * b.d_sigma_a2_per_ps);
    let (va, vb) = (streamed.trajectories[0].vdos.as_ref().unwrap(), in_memory.trajectories[0].vdos.as_ref().unwrap());
    assert_eq!(va.velocities, "recorded");
    assert!((va.species[0].vacf_zero_a2_per_fs2 - vb.species[0].vacf_zero_a2_per_fs2).abs() < 1e-12);
}

#[test]
fn lammps_dump_through_chemfiles_needs_a_frame_interval_and_unwraps_by_minimum_image() {
    let cell = Cell::orthorhombic(6.0, 6.0, 6.0).unwrap();
    let frames = random_walk(&cell, &[3, 3, 8], 60, 2.0, 15.0, 9);
    let mut text = String::new();
    for (k, s) in frames.iter().enumerate() {
        text.push_str(&format!(
            "ITEM: TIMESTEP\n{k}\nITEM: NUMBER OF ATOMS\n{}\nITEM: BOX BOUNDS pp pp pp\n0 6\n0 6\n0 6\n\
             ITEM: ATOMS id element x y z\n",
            s.len()
        ));
        for i in 0..s.len() {
            let r = s.positions[i];
            text.push_str(&format!("{} {} {:.12} {:.12} {:.12}\n", i + 1, s.symbol(i), r.x, r.y, r.z));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dump.lammpstrj");
    std::fs::write(&path, text).unwrap();
    let err = read_trajectory(&path, &ReadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("dump.lammpstrj") && err.contains("frame_interval_fs"), "{err}");
    let t = read_trajectory(&path, &ReadOptions { frame_interval_fs: Some(2.0), ..Default::default() }).unwrap();
    assert!(!t.unwrapped_with_images());
    assert_eq!(t.times_fs()[5], 10.0);
    for (f, s) in frames.iter().enumerate() {
        let truth = s.unwrapped_positions();
        let start = frames[0].unwrapped_positions();
        for i in 0..3 {
            let got = t.frame_positions(f)[i] - t.frame_positions(0)[i];
            assert!((got - (truth[i] - start[i])).norm() < 1e-8, "frame {f} atom {i}");
        }
    }
}

#[test]
fn kmc_carrier_trajectory_in_the_kmc_csv_format_is_analysed() {
    // Lattice random walk of 30 carriers: hops of 2 Å along ±x, ±y, ±z at rate Γ = 5 /ps each:
    // D = Γ a² / 6 = 3.333 Å²/ps. Sampled every 0.1 ps, as the kMC stage writes `kmc_trajectory_<i>.csv`.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
    let (rate, hop, dt_ps, frames) = (5.0, 2.0, 0.1, 1500);
    let exponential = rand_distr::Exp::new(rate).unwrap();
    let mut text = String::from("# mdrun kmc trajectory v1\n# temperature_k: 450\ntime_ps,carrier,x_a,y_a,z_a\n");
    let carriers = 30;
    let mut positions = vec![Vector3::<f64>::zeros(); carriers];
    let mut next_hop: Vec<f64> = (0..carriers).map(|_| exponential.sample(&mut rng)).collect();
    for k in 0..frames {
        let t = k as f64 * dt_ps;
        for c in 0..carriers {
            while next_hop[c] < t {
                let direction = rand::Rng::gen_range(&mut rng, 0..6);
                let sign = if direction % 2 == 0 { 1.0 } else { -1.0 };
                positions[c][direction / 2] += sign * hop;
                next_hop[c] += exponential.sample(&mut rng);
            }
            let r = positions[c];
            text.push_str(&format!("{:.8e},{c},{:.6},{:.6},{:.6}\n", t, r.x, r.y, r.z));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kmc_trajectory_0.csv"), text).unwrap();
    let settings: AnalyzeSettings = toml::from_str(
        "trajectories = [{ path = \"kmc_trajectory_0.csv\", carrier_species = \"Na\" }]\ncharges = { Na = 1.0 }\n\
         [vdos]\nenabled = false\n",
    )
    .unwrap();
    settings.validate("stage[2]").unwrap();
    let report = settings.run(dir.path(), None, &dir.path().join("out")).unwrap();
    let t = &report.trajectories[0];
    assert_eq!(t.temperature_k, Some(450.0));
    assert_eq!(t.diffusion[0].species, "Na");
    let fit = &t.diffusion[0].fit;
    let d_true = rate * hop * hop / 6.0;
    assert!((fit.d_a2_per_ps - d_true).abs() < 3.0 * fit.d_sigma_a2_per_ps, "{fit:?} vs {d_true}");
    assert!(t.rdf.is_none() && t.conductivity_s_per_cm.is_none());
    assert!(report.notes.iter().any(|n| n.contains("g(r) skipped")), "{:?}", report.notes);
    assert!(report.notes.iter().any(|n| n.contains("no conductivity")), "{:?}", report.notes);

    std::fs::write(dir.path().join("bad.csv"), "# mdrun kmc trajectory v1\ntime_ps,carrier,x_a,y_a,z_a\n0,1,0,0,0\n")
        .unwrap();
    let err = read_trajectory(&dir.path().join("bad.csv"), &ReadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("bad.csv:3") && err.contains("carrier 1 out of order"), "{err}");
}

/// Carriers hopping between lattice sites 2 Å apart at rate Γ (D = Γ a²/6) while vibrating about their site
/// (Gaussian, 0.3 Å per direction): non-Gaussian displacements and a vibrational MSD offset, as in a solid.
fn hopping_trajectory(carriers: usize, frames: usize, dt_ps: f64, rate: f64, seed: u64) -> Trajectory {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let exponential = rand_distr::Exp::new(rate).unwrap();
    let rattle = Normal::new(0.0, 0.3).unwrap();
    let mut sites = vec![Vector3::<f64>::zeros(); carriers];
    let mut next_hop: Vec<f64> = (0..carriers).map(|_| exponential.sample(&mut rng)).collect();
    let raw = (0..frames)
        .map(|k| {
            let t = k as f64 * dt_ps;
            let positions = (0..carriers)
                .map(|c| {
                    while next_hop[c] < t {
                        let direction = rand::Rng::gen_range(&mut rng, 0..6);
                        sites[c][direction / 2] += if direction % 2 == 0 { 2.0 } else { -2.0 };
                        next_hop[c] += exponential.sample(&mut rng);
                    }
                    sites[c] + Vector3::new(rattle.sample(&mut rng), rattle.sample(&mut rng), rattle.sample(&mut rng))
                })
                .collect();
            RawFrame { time_fs: Some(t * 1e3), cell: Cell::infinite(), positions, images: None, velocities: None }
        })
        .collect();
    Trajectory::from_frames(Path::new("hops"), vec![3; carriers], vec![6.94; carriers], raw, &ReadOptions::default())
        .unwrap()
}

#[test]
fn hopping_with_vibrations_gets_an_honest_uncertainty_too() {
    let (rate, dt_ps) = (2.0, 0.1);
    let d_true = rate * 4.0 / 6.0;
    let walks = 300;
    let (mut inside, mut z_squared) = (0, 0.0);
    for seed in 0..walks {
        let (d, sigma) = fitted_d(&hopping_trajectory(10, 300, dt_ps, rate, 5000 + seed));
        let z = (d - d_true) / sigma;
        z_squared += z * z;
        if z.abs() < 1.0 {
            inside += 1;
        }
    }
    let fraction = inside as f64 / walks as f64;
    let rms_z = (z_squared / walks as f64).sqrt();
    println!("hopping: coverage of ±1σ {fraction:.3}, rms z {rms_z:.3}");
    assert!((0.58..=0.78).contains(&fraction), "coverage {fraction}");
    assert!((0.8..=1.25).contains(&rms_z), "rms z {rms_z}");
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let cell = Cell::orthorhombic(8.0, 8.0, 8.0).unwrap();
    let mut frames = random_walk(&cell, &[3, 3, 8, 3, 8, 3, 3, 8, 3, 3, 3, 8, 3], 400, 10.0, 0.4, 31);
    for k in 0..frames.len() - 1 {
        let (now, next) = (frames[k].unwrapped_positions(), frames[k + 1].unwrapped_positions());
        frames[k].velocities = now.iter().zip(&next).map(|(a, b)| (b - a) / 10.0).collect();
    }
    let dir = tempfile::tempdir().unwrap();
    write_h5md(&dir.path().join("t.h5"), &frames, 10.0).unwrap();
    let settings: AnalyzeSettings =
        toml::from_str("trajectories = [{ path = \"t.h5\", temperature_k = 700.0 }]\nremove_drift = \"O\"\n").unwrap();
    let run = |threads: usize, out: &str| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let report = pool.install(|| settings.run(dir.path(), None, &dir.path().join(out)).unwrap());
        serde_json::to_string(&report).unwrap().replace(out, "")
    };
    assert_eq!(run(1, "one"), run(3, "three"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("one/msd.csv")).unwrap(),
        std::fs::read_to_string(dir.path().join("three/msd.csv")).unwrap()
    );
}

#[test]
fn md_style_extxyz_with_velocities_gives_vdos_peaks_at_the_oscillator_frequencies() {
    // Li oscillating at 6 THz, O at 15 THz about their sites, written as the MD engine writes trajectory.xyz
    // (velocities, images, info keys step and time_fs).
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
    let cell = Cell::orthorhombic(7.0, 7.0, 7.0).unwrap();
    let uniform = rand::distributions::Uniform::new(0.0, 7.0);
    /// Element, angular frequency (rad/fs), site, amplitude, phase.
    type Oscillator = (u8, f64, Vector3<f64>, Vector3<f64>, f64);
    let atoms: Vec<Oscillator> = (0..8)
        .map(|k| {
            let (z, f_thz) = if k < 4 { (3u8, 6.0) } else { (8u8, 15.0) };
            let site = Vector3::new(uniform.sample(&mut rng), uniform.sample(&mut rng), uniform.sample(&mut rng));
            let amplitude =
                Vector3::new(uniform.sample(&mut rng), uniform.sample(&mut rng), uniform.sample(&mut rng)) * 0.02;
            (z, 2.0 * std::f64::consts::PI * f_thz * 1e-3, site, amplitude, uniform.sample(&mut rng))
        })
        .collect();
    let mut text = String::new();
    let dt = 1.0;
    for k in 0..2000 {
        let t = k as f64 * dt;
        let mut system = System::new(cell.clone());
        for (z, omega, site, amplitude, phase) in &atoms {
            system.push(*z, site + amplitude * (omega * t + phase).sin());
            let last = system.len() - 1;
            system.velocities[last] = amplitude * (omega * (omega * t + phase).cos());
        }
        system.wrap();
        text.push_str(&format_frame(
            &system,
            &FrameExtras {
                velocities: true,
                images: true,
                info: vec![("step".into(), k.to_string()), ("time_fs".into(), format!("{t}"))],
                ..Default::default()
            },
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("trajectory.xyz"), text).unwrap();
    let settings: AnalyzeSettings = toml::from_str("[vdos]\nmax_lag_ps = 0.5\n[rdf]\nenabled = false\n").unwrap();
    let report = settings.run(dir.path(), Some(&dir.path().join("trajectory.xyz")), &dir.path().join("out")).unwrap();
    let vdos = report.trajectories[0].vdos.as_ref().unwrap();
    assert_eq!(vdos.velocities, "recorded");
    let peak = |s: &str| vdos.species.iter().find(|x| x.species == s).unwrap().peak_frequency_thz;
    assert!((peak("Li") - 6.0).abs() < 0.1, "Li {}", peak("Li"));
    assert!((peak("O") - 15.0).abs() < 0.1, "O {}", peak("O"));
    let csv = std::fs::read_to_string(dir.path().join("out/vdos.csv")).unwrap();
    assert!(
        csv.starts_with("frequency_thz,energy_mev,wavenumber_cm1,vdos_Li_per_thz,vdos_O_per_thz,vdos_total_per_thz")
    );
}

#[test]
fn broken_h5md_files_are_reported_with_file_and_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.h5");
    {
        let file = hdf5::File::create(&path).unwrap();
        let all = file.create_group("particles/all").unwrap();
        let position = all.create_group("position").unwrap();
        position.new_dataset::<f64>().shape([4, 2, 3]).create("value").unwrap();
        all.new_dataset_builder().with_data(&[3i32, 300]).create("species").unwrap();
    }
    let err = read_trajectory(&path, &ReadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("broken.h5") && err.contains("species") && err.contains("1..=118"), "{err}");
    let missing = dir.path().join("missing.h5");
    let err = read_trajectory(&missing, &ReadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("missing.h5") && err.contains("cannot open"), "{err}");
}

#[test]
fn layered_two_dimensional_diffusion_is_resolved_by_direction() {
    // Li diffusing in the xy plane only (D_xy = 0.6 Å²/ps), with z fixed: D_x ≈ D_y ≈ 0.6, D_z ≈ 0, and the
    // 3-D D = (D_x + D_y + D_z)/3 ≈ 0.4.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(17);
    let (d_plane, dt) = (0.6, 10.0);
    let step = Normal::new(0.0, (2.0 * d_plane * dt * 1e-3_f64).sqrt()).unwrap();
    let mut positions: Vec<Vector3<f64>> = (0..40).map(|k| Vector3::new(0.0, 0.0, k as f64 * 0.25)).collect();
    let raw = (0..1500)
        .map(|k| {
            if k > 0 {
                for r in positions.iter_mut() {
                    r.x += step.sample(&mut rng);
                    r.y += step.sample(&mut rng);
                }
            }
            RawFrame {
                time_fs: Some(k as f64 * dt),
                cell: Cell::infinite(),
                positions: positions.clone(),
                images: None,
                velocities: None,
            }
        })
        .collect();
    let trajectory =
        Trajectory::from_frames(Path::new("layered"), vec![3; 40], vec![6.94; 40], raw, &ReadOptions::default())
            .unwrap();
    let settings: AnalyzeSettings = toml::from_str("[vdos]\nenabled = false\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut notes = Vec::new();
    let report = settings.analyze(&trajectory, None, dir.path(), &mut notes).unwrap();
    let li = &report.diffusion[0];
    let d =
        |axis: &str| li.directional.iter().find(|d| d.direction == axis).map(|d| (d.d_a2_per_ps, d.d_sigma_a2_per_ps));
    for axis in ["x", "y"] {
        let (value, sigma) = d(axis).unwrap();
        assert!((value - d_plane).abs() < 3.0 * sigma, "D_{axis} = {value} ± {sigma}");
    }
    // z never moves: its MSD is exactly zero, so there is no z fit, and a note says why.
    assert!(d("z").is_none());
    assert!(notes.iter().any(|n| n.contains("no D along z")), "{notes:?}");
    assert!((li.fit.d_a2_per_ps - 2.0 * d_plane / 3.0).abs() < 3.0 * li.fit.d_sigma_a2_per_ps, "{:?}", li.fit);
    let header = std::fs::read_to_string(dir.path().join("msd.csv")).unwrap();
    assert!(header.starts_with("time_ps,msd_Li_a2,msd_Li_x_a2,msd_Li_y_a2,msd_Li_z_a2\n"));
}

#[test]
fn frozen_atoms_get_a_note_instead_of_failing_the_analysis() {
    let cell = Cell::orthorhombic(8.0, 8.0, 8.0).unwrap();
    let walkers = random_walk(&cell, &[3; 6], 300, 10.0, 0.3, 2);
    let mut frames = walkers.clone();
    for s in frames.iter_mut() {
        s.push(8, Vector3::new(1.0, 2.0, 3.0));
        s.push(8, Vector3::new(5.0, 2.0, 3.0));
    }
    let trajectory = trajectory_of(&frames, 10.0);
    let settings: AnalyzeSettings = toml::from_str("[vdos]\nenabled = false\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut notes = Vec::new();
    let report = settings.analyze(&trajectory, None, dir.path(), &mut notes).unwrap();
    assert_eq!(report.diffusion.len(), 1);
    assert_eq!(report.diffusion[0].species, "Li");
    assert!(notes.iter().any(|n| n.contains("no D for O") && n.contains("no motion")), "{notes:?}");
    let csv = std::fs::read_to_string(dir.path().join("msd.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("msd_O_a2"));

    let settings: AnalyzeSettings = toml::from_str("fit_start_ps = 0.01\nfit_end_ps = 0.02\n").unwrap();
    let err = settings.analyze(&trajectory, None, dir.path(), &mut notes).unwrap_err().to_string();
    assert!(err.contains("holds 2 lag(s)") && err.contains("widen"), "{err}");
}

/// Carriers on a simple cubic lattice (a = 2 Å) hopping at total rate Γ to one of the six neighbours, with no
/// vibration: ⟨Δr²⟩ = a²Γt and α₂(t) = 3/(5Γt) exactly (each axis a Poisson walk of rate Γ/3).
fn lattice_walk(carriers: usize, frames: usize, dt_ps: f64, rate: f64, seed: u64) -> Trajectory {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let exponential = rand_distr::Exp::new(rate).unwrap();
    let mut sites = vec![Vector3::<f64>::zeros(); carriers];
    let mut next_hop: Vec<f64> = (0..carriers).map(|_| exponential.sample(&mut rng)).collect();
    let raw = (0..frames)
        .map(|k| {
            let t = k as f64 * dt_ps;
            for c in 0..carriers {
                while next_hop[c] < t {
                    let direction = rand::Rng::gen_range(&mut rng, 0..6);
                    sites[c][direction / 2] += if direction % 2 == 0 { 2.0 } else { -2.0 };
                    next_hop[c] += exponential.sample(&mut rng);
                }
            }
            RawFrame {
                time_fs: Some(t * 1e3),
                cell: Cell::infinite(),
                positions: sites.clone(),
                images: None,
                velocities: None,
            }
        })
        .collect();
    Trajectory::from_frames(Path::new("lattice"), vec![3; carriers], vec![6.94; carriers], raw, &ReadOptions::default())
        .unwrap()
}

/// The non-Gaussian parameter α₂(t) = 3⟨Δr⁴⟩/(5⟨Δr²⟩²) − 1: zero for a Gaussian random walk, 3/(5Γt) for
/// hops on a cubic lattice (within 10 % where Γt is 0.3–3, the hopping regime), written to non_gaussian.csv.
#[test]
fn non_gaussian_parameter_is_zero_for_gaussian_walks_and_follows_lattice_hopping() {
    let settings: AnalyzeSettings = toml::from_str("[vdos]\nenabled = false\n[rdf]\nenabled = false\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cell = Cell::orthorhombic(30.0, 30.0, 30.0).unwrap();
    let gaussian = trajectory_of(&random_walk(&cell, &[3; 400], 1000, 10.0, 0.5, 21), 10.0);
    let report = settings.analyze(&gaussian, None, dir.path(), &mut Vec::new()).unwrap();
    let alpha2 = &report.non_gaussian[0];
    assert!(alpha2.times_ps.len() > 20, "{:?}", alpha2.times_ps);
    let largest = alpha2.alpha2.iter().fold(0.0f64, |m, a| m.max(a.abs()));
    println!("Gaussian walk: largest |α₂| {largest:.4} over {} lags", alpha2.times_ps.len());
    assert!(largest < 0.05, "{:?}", alpha2.alpha2);
    let csv = std::fs::read_to_string(dir.path().join("non_gaussian.csv")).unwrap();
    assert!(csv.starts_with("time_ps,msd_Li_a2,alpha2_Li\n"), "{csv}");
    assert!(report.files.contains(&"non_gaussian.svg".to_string()));

    let rate = 1.0;
    let hops = lattice_walk(2000, 400, 0.05, rate, 5);
    let report = settings.analyze(&hops, None, dir.path(), &mut Vec::new()).unwrap();
    let alpha2 = &report.non_gaussian[0];
    let mut compared = 0;
    for (t, a) in alpha2.times_ps.iter().zip(&alpha2.alpha2) {
        let expected = 3.0 / (5.0 * rate * t);
        if (0.3..=3.0).contains(&(rate * t)) {
            assert!((a / expected - 1.0).abs() < 0.1, "t = {t} ps: α₂ {a} against {expected}");
            compared += 1;
        }
    }
    assert!(compared >= 8, "{compared} lags compared");
    let (peak, at) = (alpha2.max_alpha2.unwrap(), alpha2.max_alpha2_time_ps.unwrap());
    assert_eq!(peak, alpha2.alpha2.iter().cloned().fold(f64::MIN, f64::max));
    println!("lattice walk: {compared} lags within 10 % of 3/(5Γt); peak α₂ {peak:.3} at {at} ps");
}

/// The Haven ratio H_R = σ_NE/σ of the conductivity from the charge MSD: ≈ 1 for independent walkers (the mean
/// over 40 runs within 3 standard errors, and each run's (H_R − 1)/σ_H, like (D_q − D_q,true)/σ(D_q), has an rms
/// near 1: the uncertainties are honest), and 1/5 for walkers that move in rigid groups of five (the charge
/// displacement of a group is five times each one's).
#[test]
fn haven_ratio_is_one_for_independent_walkers_and_one_fifth_for_groups_of_five() {
    let settings: AnalyzeSettings =
        toml::from_str("charges = { Li = 1.0 }\n[vdos]\nenabled = false\n[rdf]\nenabled = false\n").unwrap();
    let cell = Cell::orthorhombic(20.0, 20.0, 20.0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let transport = |frames: &[System]| {
        let report = settings.analyze(&trajectory_of(frames, 10.0), Some(600.0), dir.path(), &mut Vec::new()).unwrap();
        report.collective.expect("charges, volume and temperature are given")
    };
    let runs = 40;
    let (mut sum, mut sum_squares, mut z_squared, mut z_collective) = (0.0, 0.0, 0.0, 0.0);
    for seed in 0..runs {
        let c = transport(&random_walk(&cell, &[3; 50], 600, 10.0, 0.5, 300 + seed));
        sum += c.haven_ratio;
        sum_squares += c.haven_ratio * c.haven_ratio;
        z_squared += ((c.haven_ratio - 1.0) / c.haven_ratio_sigma).powi(2);
        // D_q of 50 independent unit charges with D = 0.5 Å²/ps each is 25 e²Å²/ps.
        z_collective += ((c.fit.d_a2_per_ps - 50.0 * 0.5) / c.fit.d_sigma_a2_per_ps).powi(2);
    }
    let rms_z_collective = (z_collective / runs as f64).sqrt();
    let mean = sum / runs as f64;
    let spread = (sum_squares / runs as f64 - mean * mean).sqrt();
    let rms_z = (z_squared / runs as f64).sqrt();
    println!(
        "independent walkers: mean H_R {mean:.3} ± {:.3} (sd {spread:.3}), rms z {rms_z:.2}; D_q rms z \
         {rms_z_collective:.2}",
        spread / 40f64.sqrt()
    );
    assert!((0.6..1.6).contains(&rms_z_collective), "rms z of D_q {rms_z_collective}");
    assert!((mean - 1.0).abs() < 3.0 * spread / (runs as f64).sqrt(), "mean H_R {mean}, sd {spread}");
    assert!((0.6..1.6).contains(&rms_z), "rms z {rms_z}");

    // Ten leaders, each copied to five atoms that share its displacements.
    let leaders = random_walk(&cell, &[3; 10], 600, 10.0, 0.5, 77);
    let grouped: Vec<System> = leaders
        .iter()
        .map(|frame| {
            let mut system = System::new(cell.clone());
            for (k, r) in frame.positions.iter().enumerate() {
                for copy in 0..5 {
                    system.push(3, r + frame.cell.shift(frame.images[k]) + Vector3::new(0.7 * copy as f64, 0.0, 0.0));
                }
            }
            system.wrap();
            system
        })
        .collect();
    let c = transport(&grouped);
    println!("groups of five: H_R {:.3} ± {:.3}", c.haven_ratio, c.haven_ratio_sigma);
    assert!((c.haven_ratio - 0.2).abs() < 3.0 * c.haven_ratio_sigma, "H_R {} ± {}", c.haven_ratio, c.haven_ratio_sigma);
    assert!(c.haven_ratio < 0.5, "H_R {}", c.haven_ratio);
}

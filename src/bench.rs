//! `mdrun bench`: the engine's speed on standard cases, each at 1 thread and at all threads, printed as a table
//! and written as JSON. Wall-clock time; the best of several repetitions is the least disturbed by other load.
//!
//! Cases (sizes as the project's issues name them):
//! - `md`: whole MD steps (velocity Verlet, NVE, neighbour rebuilds included) for EAM Cu_u3 (fcc a = 3.615 Å,
//!   20×20×20 = 32,000 atoms, skin 1 Å, from 1600 K, 5 fs) and LJ argon (lj/cut 2.5σ, skin 0.3σ, fcc reduced
//!   density 0.8442, 32,000 atoms, from T* = 3, Δt = 0.005 τ), as LAMMPS's `bench/in.eam` and `bench/in.lj`;
//!   µs per atom-step; LAMMPS on this machine class, one core: 1.67 and 0.70.
//! - `potentials`: force evaluation and neighbour-list build alone for the same systems.
//! - `neb`: the nearest-neighbour vacancy hop in EAM Cu 4×4×4, L-BFGS and FIRE.
//! - `nnp`: one energy+forces evaluation of H2O_RPBE-D3 (1080 atoms) and Cu2S_PBE_2x2x2 (1152 atoms), µs per atom
//!   by phase; n2p2 needs ~845 and ~800 µs per atom on one core.
//! - `kmc`: events per second on one thread: one vacancy and 1 % vacancies in a 10⁶-site simple-cubic lattice,
//!   and an off-lattice network with varied barriers.
//! - `msd`: all-origins MSD of 1000 atoms × 10,000 frames.
//! - `train`: training throughput (structures per second per epoch, force terms included) on 64 rattled 32-atom
//!   Cu cells labelled with EAM.
//! - `socket`: the i-PI socket's cost: EMT Cu (64 and 1000 atoms) through `scripts/ipi_ase_client.py` against ASE's
//!   own time for the same evaluations, and a vacancy-hop NEB with 1, 2 and 4 clients; needs Python with ASE
//!   (`MDRUN_PYTHON` or `.venv`), skipped otherwise unless asked for with `--only socket`.

use crate::analysis::msd::{bench_msd, MsdBenchmark};
use crate::kmc::bench::{bench_kmc, BenchResult as KmcBench};
use crate::md::{MdSettings, RunControl};
use crate::neb::bench::{bench_vacancy_hop, NebBench};
use crate::optimize::Algorithm;
use crate::potentials::bench::{bench_potential, BenchResult};
use crate::potentials::eam::Eam;
use crate::potentials::lj::LennardJones;
use crate::potentials::nnp::{NnpConfig, NnpPhaseTimes, NnpPotential};
use crate::potentials::socket::bench::{bench_calls, bench_neb, SocketBenchSetup, SocketCallBench, SocketNebBench};
use crate::potentials::{Evaluator, Potential};
use crate::system::System;
use crate::train::bench::{bench_training, rattled_fcc, TrainBench};
use crate::train::TrainSettings;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Which cases to run and how big.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Case names to run (`md`, `potentials`, `neb`, `nnp`, `kmc`, `msd`); empty = all.
    pub only: Vec<String>,
    /// Small systems and short runs (a smoke test of the benchmark itself, not a measurement).
    pub quick: bool,
    /// The shared reference folder (`eam/Cu_u3.eam`, `n2p2/<case>/`).
    pub reference: PathBuf,
}

/// NNP evaluation cost by phase for one reference case.
#[derive(Clone, Debug, Serialize)]
pub struct NnpBench {
    pub case: String,
    pub phases: NnpPhaseTimes,
}

/// MD throughput of one system at one thread count.
#[derive(Clone, Debug, Serialize)]
pub struct MdStepBench {
    pub case: String,
    pub atoms: usize,
    pub threads: usize,
    pub steps: u64,
    pub neighbor_rebuilds: usize,
    /// Wall time per atom and MD step (µs), best repetition.
    pub us_per_atom_step: f64,
}

/// Everything `mdrun bench` measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BenchReport {
    pub machine_threads: usize,
    pub md: Vec<MdStepBench>,
    pub potentials: Vec<BenchResult>,
    pub neb: Vec<NebBench>,
    pub nnp: Vec<NnpBench>,
    pub kmc: Vec<KmcBench>,
    pub msd: Vec<MsdBenchmark>,
    pub train: Vec<TrainBench>,
    pub socket_calls: Vec<SocketCallBench>,
    pub socket_neb: Vec<SocketNebBench>,
}

/// Lennard-Jones argon as LAMMPS's `bench/in.lj` in metal units: σ = 3.405 Å, ε = 0.0103 eV, cutoff 2.5σ.
pub fn argon_lj() -> LennardJones {
    LennardJones::single_species("Ar", 0.0103, 3.405, 2.5 * 3.405, false).expect("valid argon parameters")
}

/// The fcc argon crystal of reduced density ρσ³ = 0.8442 (a = (4/0.8442)^(1/3) σ = 5.719 Å), n³ cells.
pub fn argon_crystal(n: usize) -> System {
    crate::system::fcc(18, (4.0f64 / 0.8442).cbrt() * 3.405, n)
}

/// Runs the selected cases.
pub fn run(options: &BenchOptions) -> Result<BenchReport> {
    let wanted = |name: &str| options.only.is_empty() || options.only.iter().any(|o| o == name);
    let all = rayon::current_num_threads();
    let thread_counts: Vec<usize> = if all > 1 { vec![1, all] } else { vec![1] };
    let mut report = BenchReport { machine_threads: all, ..Default::default() };
    let cells = if options.quick { 4 } else { 20 };
    let eam_file = options.reference.join("eam/Cu_u3.eam");
    let eam: Arc<dyn Potential> = Arc::new(
        Eam::read_funcfl(&[eam_file.as_path()]).with_context(|| format!("mdrun bench needs {}", eam_file.display()))?,
    );
    let lj: Arc<dyn Potential> = Arc::new(argon_lj());
    let cases = [
        BenchCase {
            name: "EAM Cu_u3",
            potential: eam.clone(),
            system: crate::system::fcc(29, 3.615, cells),
            skin: 1.0,
        },
        BenchCase { name: "LJ argon", potential: lj, system: argon_crystal(cells), skin: 0.3 * 3.405 },
    ];
    let cases = &cases[..];
    if wanted("md") {
        report.md = md_group(options, cases, &thread_counts)?;
    }
    if wanted("potentials") {
        report.potentials = potential_group(options, cases, &thread_counts)?;
    }
    if wanted("neb") {
        report.neb = neb_group(options, &eam, &thread_counts)?;
    }
    if wanted("nnp") {
        report.nnp = nnp_group(options, &thread_counts)?;
    }
    if wanted("kmc") {
        report.kmc = kmc_group(options)?;
    }
    if wanted("msd") {
        report.msd = msd_group(options, &thread_counts)?;
    }
    if wanted("train") {
        report.train = train_group(options, &eam, &thread_counts)?;
    }
    if wanted("socket") {
        match SocketBenchSetup::find(&tempdir()?) {
            Ok(setup) => (report.socket_calls, report.socket_neb) = socket_group(options, &setup)?,
            Err(error) if options.only.is_empty() => println!("socket      skipped: {error}"),
            Err(error) => return Err(error),
        }
    }
    Ok(report)
}

/// A potential on a crystal, with the neighbour-list skin (Å) used for it.
struct BenchCase {
    name: &'static str,
    potential: Arc<dyn Potential>,
    system: System,
    skin: f64,
}

/// MD steps of every case at every thread count.
fn md_group(options: &BenchOptions, cases: &[BenchCase], thread_counts: &[usize]) -> Result<Vec<MdStepBench>> {
    let mut results = Vec::new();
    for BenchCase { name, potential, system, skin } in cases {
        for &threads in thread_counts {
            let steps = if options.quick { 20 } else { 200 };
            let result = md_steps(name, potential, system, *skin, threads, steps, if options.quick { 1 } else { 3 })?;
            println!(
                "md          {:<10} {:>6} atoms {:>2} thread(s): {:>7.3} µs/atom-step ({} steps, {} rebuilds)",
                name, result.atoms, threads, result.us_per_atom_step, steps, result.neighbor_rebuilds
            );
            results.push(result);
        }
    }
    Ok(results)
}

/// Force and neighbour-list costs of every case at every thread count.
fn potential_group(options: &BenchOptions, cases: &[BenchCase], thread_counts: &[usize]) -> Result<Vec<BenchResult>> {
    let mut results = Vec::new();
    for BenchCase { potential, system, skin, .. } in cases {
        for &threads in thread_counts {
            let result =
                bench_potential(potential.as_ref(), system, *skin, threads, if options.quick { 0.2 } else { 3.0 })?;
            println!(
                "potential   {:<10} {:>6} atoms {:>2} thread(s): force {:>7.3} µs/atom, neighbour build {:>7.3} µs/atom",
                result.potential, result.atoms, threads, result.force_us_per_atom, result.neighbor_build_us_per_atom
            );
            results.push(result);
        }
    }
    Ok(results)
}

/// A Cu vacancy hop (NEB) with L-BFGS and FIRE at every thread count.
fn neb_group(options: &BenchOptions, eam: &Arc<dyn Potential>, thread_counts: &[usize]) -> Result<Vec<NebBench>> {
    let mut results = Vec::new();
    let perfect = crate::system::fcc(29, 3.615, if options.quick { 3 } else { 4 });
    let evaluator = Evaluator::new(eam.clone(), Evaluator::DEFAULT_SKIN);
    for optimizer in [Algorithm::Lbfgs, Algorithm::Fire] {
        for &threads in thread_counts {
            let result = bench_vacancy_hop(&perfect, &evaluator, 5, optimizer, 0.01, threads)?;
            println!(
                "neb         Cu vacancy hop {:>4} atoms {:>2} thread(s) {:?}: {:.3} s, {} band force evaluations, barrier {:.4} eV",
                result.atoms, threads, optimizer, result.seconds, result.band_force_evaluations, result.forward_barrier_ev
            );
            results.push(result);
        }
    }
    Ok(results)
}

/// EMT through the socket against ASE in-process, then the NEB with 1, 2 and 4 clients.
fn socket_group(
    options: &BenchOptions,
    setup: &SocketBenchSetup,
) -> Result<(Vec<SocketCallBench>, Vec<SocketNebBench>)> {
    let mut calls = Vec::new();
    for (cells, count) in [([2, 2, 4], 200), ([5, 5, 10], 20)] {
        let system = crate::system::fcc(29, 3.59, 1).supercell(cells);
        let result = bench_calls(setup, &system, if options.quick { 3 } else { count })?;
        println!(
            "socket      EMT Cu {:>4} atoms, 1 client: {:.3} ms per call through the socket, ASE alone {:.3} ms: protocol {:.3} ms",
            result.atoms, result.socket_ms_per_call, result.client_compute_ms_per_call, result.protocol_ms_per_call
        );
        calls.push(result);
    }
    let mut nebs = Vec::new();
    for clients in [1, 2, 4] {
        let result = bench_neb(setup, clients)?;
        println!(
            "socket      EMT Cu vacancy-hop NEB {} atoms, {clients} client(s): {:.2} s, {} band force evaluations, {:.1} evaluations/s",
            result.neb.atoms, result.neb.seconds, result.neb.band_force_evaluations, result.neb.force_evaluations_per_second
        );
        nebs.push(result);
    }
    Ok((calls, nebs))
}

/// The n2p2 reference networks, phase by phase, at every thread count.
fn nnp_group(options: &BenchOptions, thread_counts: &[usize]) -> Result<Vec<NnpBench>> {
    let mut results = Vec::new();
    for case in ["H2O_RPBE-D3", "Cu2S_PBE_2x2x2"] {
        // Evaluated in the potential's own units (as n2p2 does): the cost does not depend on them.
        let folder = options.reference.join("n2p2").join(case);
        let potential = NnpPotential::load(&NnpConfig::new(&folder, 1.0, 1.0))?;
        let system = crate::io::n2p2::read(&folder.join("input.data"))?.swap_remove(0).system;
        for &threads in thread_counts {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            let phases = pool.install(|| potential.bench_phases(&system, if options.quick { 1 } else { 5 }));
            println!(
                "nnp         {:<14} {:>5} atoms {:>2} thread(s): {:>7.1} µs/atom (symmetry functions {:.1}, network {:.1}, forces {:.1}; neighbour list {:.1})",
                case, phases.atoms, threads, phases.total_us_per_atom, phases.symmetry_functions_us_per_atom,
                phases.network_us_per_atom, phases.forces_us_per_atom, phases.neighbor_list_us_per_atom
            );
            results.push(NnpBench { case: case.into(), phases });
        }
    }
    Ok(results)
}

/// The kMC engine on a lattice and a disordered network.
fn kmc_group(options: &BenchOptions) -> Result<Vec<KmcBench>> {
    let mut results = Vec::new();
    let (side, disordered, events) = if options.quick { (20, 8, 100_000) } else { (100, 64, 20_000_000) };
    for result in bench_kmc(side, disordered, events)? {
        println!(
            "kmc         {:<28} {:>8} sites: {:>10.3e} events/s (wall), {:>6.1} bytes/site",
            result.case, result.sites, result.events_per_second, result.memory_bytes_per_site
        );
        results.push(result);
    }
    Ok(results)
}

/// The MSD of a synthetic trajectory at every thread count.
fn msd_group(options: &BenchOptions, thread_counts: &[usize]) -> Result<Vec<MsdBenchmark>> {
    let mut results = Vec::new();
    let (atoms, frames) = if options.quick { (100, 1000) } else { (1000, 10_000) };
    for &threads in thread_counts {
        let result = bench_msd(atoms, frames, threads, 1);
        println!(
            "msd         {} atoms × {} frames {:>2} thread(s): {:.3} s, ≤ {:.0} MB",
            atoms,
            frames,
            threads,
            result.seconds,
            result.estimated_peak_bytes as f64 / 1e6
        );
        results.push(result);
    }
    Ok(results)
}

/// Training epochs on rattled Cu at every thread count.
fn train_group(options: &BenchOptions, eam: &Arc<dyn Potential>, thread_counts: &[usize]) -> Result<Vec<TrainBench>> {
    let mut results = Vec::new();
    let settings: TrainSettings = toml::from_str(
        "batch_size = 8\n[[data]]\nfile = \"generated\"\n[symmetry_functions]\ncutoff_a = 5.5\nradial_count = 8\n\
         radial_r_min_a = 2.0\n[network]\nhidden_layers = [15, 15]\n",
    )?;
    let structures = rattled_fcc(eam.as_ref(), 29, 3.615, 2, if options.quick { 8 } else { 64 }, 0.03, 0.15, 1)?;
    let scratch = tempdir()?;
    for &threads in thread_counts {
        let result = bench_training(&settings, &structures, if options.quick { 2 } else { 20 }, threads, &scratch)?;
        println!(
            "train       {} structures × {:.0} atoms {:>2} thread(s): {:.0} structures/s per epoch, descriptors {:.0} MB",
            result.structures, result.atoms_per_structure, threads, result.structures_per_second,
            result.descriptor_megabytes
        );
        results.push(result);
    }
    std::fs::remove_dir_all(&scratch).ok();
    Ok(results)
}

/// Best-of-`repetitions` wall time of `steps` NVE velocity-Verlet steps in a pool of `threads` threads, under the
/// conditions of LAMMPS's own benchmarks (`bench/in.eam`, `bench/in.lj`): EAM Cu from 1600 K with 5 fs steps; LJ
/// argon from T* = 3.0 (358.5 K) with Δt = 0.005 τ = 10.8 fs. Neighbour rebuilds are included.
fn md_steps(
    name: &str,
    potential: &Arc<dyn Potential>,
    system: &System,
    skin: f64,
    threads: usize,
    steps: u64,
    repetitions: usize,
) -> Result<MdStepBench> {
    let (timestep_fs, temperature_k) = if name.starts_with("LJ") { (10.8, 358.5) } else { (5.0, 1600.0) };
    let settings: MdSettings = toml::from_str(&format!(
        "timestep_fs = {timestep_fs}\nsteps = {steps}\ninitial_temperature_k = {temperature_k}\nthermo_every = {steps}\n\
         max_temperature_k = 1e6"
    ))?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let scratch = tempdir()?;
    let mut best = f64::INFINITY;
    let mut rebuilds = 0;
    for _ in 0..repetitions {
        let mut state = system.clone();
        let mut evaluator = Evaluator::new(potential.clone(), skin);
        let started = Instant::now();
        let report = pool.install(|| {
            settings.run(&mut state, &mut evaluator, &scratch, 1, RunControl { quiet: true, stop_after_step: None })
        })?;
        best = best.min(started.elapsed().as_secs_f64());
        rebuilds = report.neighbor_rebuilds as usize;
    }
    std::fs::remove_dir_all(&scratch).ok();
    Ok(MdStepBench {
        case: name.into(),
        atoms: system.len(),
        threads,
        steps,
        neighbor_rebuilds: rebuilds,
        us_per_atom_step: best * 1e6 / (system.len() as f64 * steps as f64),
    })
}

/// A fresh scratch folder for the MD runs' files.
fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("mdrun-bench-{}", std::process::id()));
    crate::io::create_output_dir(&dir)?;
    Ok(dir)
}

/// Writes the report as pretty JSON.
pub fn write_report(report: &BenchReport, path: &Path) -> Result<()> {
    crate::io::write_atomically(path, serde_json::to_string_pretty(report)?.as_bytes())?;
    Ok(())
}

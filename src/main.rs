//! `mdrun`: the command-line interface. See `mdrun --help` and README.md.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mdrun::study::{self, RunOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Molecular dynamics, relaxation, NEB and kinetic Monte Carlo for battery materials with machine-learning
/// interatomic potentials. Units: Å, eV, fs, amu, K.
#[derive(Parser, Debug)]
#[command(name = "mdrun", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Study file to run (TOML: [system], [potential], [[stage]] ...).
    input: Option<PathBuf>,
    /// Output folder (default: runs/<study file name without .toml>).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Number of threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// No progress bars or thermo table on screen.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Continue an interrupted run in the output folder: completed stages are kept, an MD stage resumes from its
    /// last checkpoint (ending bit-identical to an uninterrupted run), later stages run.
    #[arg(long)]
    restart: bool,
    /// Interrupt an MD stage once it has done STEP steps, as a wall-clock limit would, and stop the run (for
    /// jobs run in pieces: continue with --restart).
    #[arg(long, value_name = "STEP")]
    stop_after_step: Option<u64>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and validate a study file (every error at once, nothing run).
    Check {
        /// Study file.
        input: PathBuf,
    },
    /// Energy, stress, forces and per-atom energies of one structure with the [potential] of a TOML file, printed as
    /// extended XYZ (energy= eV, stress= eV/Å³ as 9 components, forces eV/Å, energies eV).
    Eval {
        /// TOML file holding [potential] (a whole study file works too).
        input: PathBuf,
        /// Structure file (POSCAR, extended XYZ, n2p2 input.data, or any format chemfiles reads).
        structure: PathBuf,
    },
    /// Analyse finished trajectories: FILE.toml holds the keys of an `analyze` stage (docs/analysis.md) at its top
    /// level, including the `trajectories` to read; results go to --output (default runs/<FILE name>).
    Analyze {
        /// Analysis settings.
        input: PathBuf,
        /// Output folder.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Train a Behler–Parrinello potential from labelled structures (docs/train.md) and write it in n2p2's
    /// format (input.nn, scaling.data, weights.NNN.data), with learning curves and parity plots.
    Train {
        /// Training settings.
        input: PathBuf,
        /// Output folder.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Active learning: score the frames of trajectories with a committee of NNPs (force spread, symmetry-function
    /// extrapolation) and pick the ones to label next (docs/train.md); writes selected.extxyz and selection.csv
    /// to --output (default runs/<FILE name>).
    Select {
        /// Selection settings.
        input: PathBuf,
        /// Output folder.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Speed on standard cases (MD steps, force evaluations, NEB), at 1 thread and at all threads; the numbers are
    /// printed and written as JSON.
    Bench {
        /// Cases to run: md, potentials, neb, nnp, kmc, msd, train, socket (default: all).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Small systems, short runs: checks the benchmark runs, measures nothing worth quoting.
        #[arg(long)]
        quick: bool,
        /// The shared reference folder (eam/Cu_u3.eam and the n2p2 cases).
        #[arg(long, default_value = "../shared/reference")]
        reference: PathBuf,
        /// JSON report.
        #[arg(long, default_value = "bench.json")]
        json: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Some(threads) = cli.threads {
        if threads == 0 {
            anyhow::bail!("--threads 0: expected at least 1 thread");
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = if threads > cores {
            eprintln!("warning: --threads {threads} is more than the {cores} cores of this machine; using {cores}");
            cores
        } else {
            threads
        };
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().context("cannot start the thread pool")?;
    }
    match cli.command {
        Some(Command::Check { input }) => {
            let study = study::settings::load(&input, Path::new("runs"))?;
            let system = study::load_system(&input, &study.system, &study.potential)?;
            let potential = study::build_potential(&study.potential).with_context(|| format!("{}", input.display()))?;
            mdrun::potentials::check_species(potential.as_ref(), &system)
                .with_context(|| format!("{}", study.system.structure.display()))?;
            let list_cutoff = potential.cutoff() + study.system.neighbor_skin_a;
            mdrun::neighbors::check_size(&system, list_cutoff).with_context(|| {
                format!(
                    "{}: the {} cutoff ({} Å) + system.neighbor_skin_a ({} Å)",
                    input.display(),
                    potential.name(),
                    potential.cutoff(),
                    study.system.neighbor_skin_a
                )
            })?;
            println!(
                "{}: valid ({} atoms, potential {}, {} stage{})",
                input.display(),
                system.len(),
                potential.name(),
                study.stages.len(),
                if study.stages.len() == 1 { "" } else { "s" }
            );
            Ok(())
        }
        Some(Command::Eval { input, structure }) => {
            let text = study::evaluate_structure(&input, &structure)?;
            write_stdout(&text)
        }
        Some(Command::Analyze { input, output }) => {
            let output = output.unwrap_or_else(|| default_output(&input));
            study::analyze_file(&input, &output)?;
            println!("results in {}", output.display());
            Ok(())
        }
        Some(Command::Train { input, output }) => {
            let output = output.unwrap_or_else(|| default_output(&input));
            study::train_file(&input, &output)?;
            println!("potential(s) and report in {}", output.display());
            Ok(())
        }
        Some(Command::Select { input, output }) => {
            let output = output.unwrap_or_else(|| default_output(&input));
            let report = mdrun::train::select::select_file(&input, &output)?;
            println!("{}; results in {}", report.summary(), output.display());
            Ok(())
        }
        Some(Command::Bench { only, quick, reference, json }) => {
            let report = mdrun::bench::run(&mdrun::bench::BenchOptions { only, quick, reference })?;
            mdrun::bench::write_report(&report, &json)?;
            println!("written {}", json.display());
            Ok(())
        }
        None => {
            let Some(input) = cli.input else {
                anyhow::bail!("no study file given: run `mdrun INPUT.toml`, or see `mdrun --help`");
            };
            let output = cli.output.unwrap_or_else(|| default_output(&input));
            let options = RunOptions {
                output: output.clone(),
                quiet: cli.quiet,
                restart: cli.restart,
                stop_after_step: cli.stop_after_step,
            };
            let summary = study::run(&input, &options)?;
            let completed = summary.stages.iter().filter(|s| s.status == study::StageStatus::Completed).count();
            println!("{} stage(s) completed; results in {}", completed, output.join("summary.json").display());
            Ok(())
        }
    }
}

/// Writes to standard output; a closed pipe (e.g. `| head`) is not an error.
fn write_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to standard output"),
        _ => Ok(()),
    }
}

/// `runs/<file stem>` in the current folder.
fn default_output(input: &Path) -> PathBuf {
    let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("study");
    PathBuf::from("runs").join(stem)
}

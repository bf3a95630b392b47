//! Kinetic Monte Carlo of ion hopping: site networks from NEB barrier tables, catalogues or lattices;
//! Arrhenius rates k = ν·exp(−E_b/k_B T); the rejection-free residence-time loop ([`engine`]); temperature
//! sweeps run in parallel with independent seeded streams; tracer and collective diffusion coefficients with
//! block uncertainties; an Arrhenius fit over the sweep. The `kind = "kmc"` stage is [`KmcSettings`]; keys and
//! files are documented in docs/kmc.md.
//!
//! Diffusion coefficients (Einstein relation, as in the a-Li3PO4 study: D = (1/6) lim ⟨|r(t₀+Δt) − r(t₀)|²⟩/Δt):
//! the production run is cut into B blocks of equal event count; block b lasts t_b and displaces carrier p by
//! Δr_{p,b}. Tracer: D* = Σ_b M_b / (6 Σ_b t_b) with M_b = (1/P) Σ_p |Δr_{p,b}|². Collective (centre of mass,
//! "jump" diffusion): D_σ = Σ_b |Σ_p Δr_{p,b}|² / (6 P Σ_b t_b). The standard error is that of a ratio estimator
//! over independent blocks: σ² = Σ_b (M_b − 6 D t_b)² / (B (B − 1) (6 t̄)²).

pub mod arrhenius;
pub mod barrier_table;
pub mod bench;
pub mod engine;
pub mod equivalence;
pub mod network;
mod output;
pub mod sampling;
mod settings;
pub mod tree;

use crate::units::A2_PER_PS_IN_CM2_PER_S;
use anyhow::{bail, Context};
pub use arrhenius::ArrheniusFit;
pub use engine::{hop_rate_per_ps, NoEvent, Simulation};
pub use equivalence::MatchingSummary;
use nalgebra::Vector3;
pub use network::{HopKind, Lattice, LatticeKind, NetworkBuilder, PeriodicBuilder, SiteNetwork};
use rand::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
pub use settings::{BarrierAssignment, BarrierTableNetwork, CarrierKind, Carriers, KmcSettings, Network};
use std::path::Path;

/// How a barrier table with `structure` became a network (each `None` unless that method was used).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkSummary {
    pub environment_matching: Option<MatchingSummary>,
    pub barrier_sampling: Option<sampling::SamplingSummary>,
}

/// A diffusion coefficient with its standard error.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Diffusion {
    pub d_a2_per_ps: f64,
    pub d_err_a2_per_ps: f64,
    pub d_cm2_per_s: f64,
    pub d_err_cm2_per_s: f64,
}

impl Diffusion {
    fn new(d: f64, err: f64) -> Diffusion {
        Diffusion {
            d_a2_per_ps: d,
            d_err_a2_per_ps: err,
            d_cm2_per_s: d * A2_PER_PS_IN_CM2_PER_S,
            d_err_cm2_per_s: err * A2_PER_PS_IN_CM2_PER_S,
        }
    }
}

/// Results at one temperature.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct TemperatureResult {
    pub temperature_k: f64,
    /// Index of the temperature in the sweep; its random stream is the stage seed's stream jumped index + 1
    /// times (xoshiro256++ jump, 2¹²⁸ steps apart).
    pub index: usize,
    /// Production events and simulated production time (ps).
    pub events: u64,
    pub simulated_time_ps: f64,
    pub blocks: u64,
    /// Carrier tracer D* and collective D_σ.
    pub tracer: Diffusion,
    pub collective: Diffusion,
    /// Haven ratio H_R = D*/D_σ and its standard error (both relative errors in quadrature); 1 for one carrier.
    #[serde(default)]
    pub haven_ratio: Option<f64>,
    #[serde(default)]
    pub haven_ratio_err: Option<f64>,
    /// Tracer D of the ions exchanged with vacancies (vacancy carriers with `track_ions`).
    pub ion_tracer: Option<Diffusion>,
    /// Events per carrier per ps of production.
    pub jump_rate_per_carrier_per_ps: f64,
    /// Fraction of the production time each site held a carrier (with `site_occupancy`); not in summary.json.
    #[serde(skip)]
    pub site_occupancy: Option<Vec<f64>>,
}

/// H_R = D*/D_σ and its standard error (both relative errors in quadrature); none when either D is not positive.
fn haven_ratio(tracer: &Diffusion, collective: &Diffusion) -> Option<(f64, f64)> {
    if collective.d_a2_per_ps <= 0.0 || tracer.d_a2_per_ps <= 0.0 {
        return None;
    }
    let ratio = tracer.d_a2_per_ps / collective.d_a2_per_ps;
    let relative =
        (tracer.d_err_a2_per_ps / tracer.d_a2_per_ps).hypot(collective.d_err_a2_per_ps / collective.d_a2_per_ps);
    Some((ratio, ratio * relative))
}

/// What a kMC stage reports for summary.json.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct KmcReport {
    pub network_source: String,
    pub sites: usize,
    pub hops: usize,
    pub hop_kinds: usize,
    pub isolated_sites: usize,
    pub carrier: CarrierKind,
    pub carriers: usize,
    pub attempt_frequency_hz: f64,
    pub temperatures: Vec<TemperatureResult>,
    /// Arrhenius fit of the carrier tracer D over the sweep (≥ 2 temperatures).
    pub arrhenius: Option<ArrheniusFit>,
    /// Arrhenius fit of the ion tracer D (vacancy carriers with `track_ions`).
    pub arrhenius_ions: Option<ArrheniusFit>,
    /// Hops assigned by environment matching (barrier table with `structure`).
    pub environment_matching: Option<MatchingSummary>,
    /// With `barrier_assignment = "sample"` or `"kra"`: the draws (else null).
    pub barrier_sampling: Option<sampling::SamplingSummary>,
    /// Files written, relative to the output folder.
    pub files: Vec<String>,
}

impl KmcSettings {
    /// The ion-hop network of the configured source, a description of the source, and the environment-matching
    /// or barrier-sampling summary (barrier table with `structure`); relative paths are resolved against
    /// `base_dir`. `seed` drives the barrier draws of `barrier_assignment = "sample"` and `"kra"` (after a
    /// xoshiro long jump, so that stream is independent of the carrier placement and the temperatures).
    pub fn ion_network(&self, base_dir: &Path, seed: u64) -> anyhow::Result<(SiteNetwork, String, NetworkSummary)> {
        match &self.network {
            Network::Lattice(lattice) => {
                let name = format!("{:?} lattice {:?}", lattice.kind, lattice.repeat);
                Ok((lattice.build()?, name, NetworkSummary::default()))
            }
            Network::Catalogue { path } => {
                let path = base_dir.join(path);
                Ok((network::read_catalogue(&path)?, path.display().to_string(), NetworkSummary::default()))
            }
            Network::BarrierTable(table) => barrier_table_network(table, base_dir, seed),
        }
    }

    /// Initial carrier sites, from the placement stream of `seed`.
    pub fn initial_carrier_sites(&self, sites: usize, seed: u64) -> anyhow::Result<Vec<usize>> {
        let count = match &self.carriers {
            Carriers::Sites(explicit) => {
                let mut seen = vec![false; sites];
                for &s in explicit {
                    if s >= sites {
                        bail!("carriers.sites: site {s} does not exist (the network has sites 0..{})", sites - 1);
                    }
                    if std::mem::replace(&mut seen[s], true) {
                        bail!("carriers.sites: site {s} is listed twice");
                    }
                }
                explicit.len()
            }
            Carriers::Count(n) => *n,
            Carriers::Fraction(x) => ((x * sites as f64).round() as usize).max(1),
        };
        if count >= sites {
            bail!("{count} carriers on {sites} sites: at least one site must stay free for a hop to be possible");
        }
        if let Carriers::Sites(explicit) = &self.carriers {
            return Ok(explicit.clone());
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut chosen = rand::seq::index::sample(&mut rng, sites, count).into_vec();
        chosen.sort_unstable();
        Ok(chosen)
    }

    /// Runs the sweep on `network` (already in the carriers' picture, see [`SiteNetwork::vacancy_network`])
    /// without writing files. Temperatures run in parallel; each one's result depends only on `seed` and its index.
    pub fn simulate(
        &self,
        network: &SiteNetwork,
        carrier_sites: &[usize],
        seed: u64,
        mut trajectory: Option<&mut TrajectorySink>,
    ) -> anyhow::Result<Vec<TemperatureResult>> {
        let want_trajectory = trajectory.is_some() && self.trajectory_interval_ps.is_some();
        let results: Vec<anyhow::Result<(TemperatureResult, Vec<TrajectoryFrame>)>> = self
            .temperatures_k
            .par_iter()
            .enumerate()
            .map(|(index, &t)| self.simulate_temperature(network, carrier_sites, seed, index, t, want_trajectory))
            .collect();
        let mut out = Vec::with_capacity(results.len());
        for result in results {
            let (result, frames) = result?;
            if let Some(write) = trajectory.as_mut() {
                if want_trajectory {
                    write(result.index, &frames);
                }
            }
            out.push(result);
        }
        Ok(out)
    }

    fn simulate_temperature(
        &self,
        network: &SiteNetwork,
        carrier_sites: &[usize],
        seed: u64,
        index: usize,
        temperature_k: f64,
        want_trajectory: bool,
    ) -> anyhow::Result<(TemperatureResult, Vec<TrajectoryFrame>)> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        for _ in 0..=index {
            rng.jump();
        }
        let track_ions = self.track_ions();
        let mut sim =
            Simulation::new(network, temperature_k, self.attempt_frequency_hz, carrier_sites, track_ions, rng);
        let no_event = |e: NoEvent| {
            anyhow::anyhow!(
                "kMC at {temperature_k} K: {e} ({} carriers, {} sites, {} hops, {} isolated sites; a disconnected \
                 network, blocked carriers or rates that underflow at this temperature)",
                carrier_sites.len(),
                network.len(),
                network.hop_count(),
                network.isolated_sites()
            )
        };
        sim.run(self.equilibration_events).map_err(no_event)?;
        sim.reset_clock(self.site_occupancy);
        // Unwrapped position = initial site + displacement since the start (equilibration included).
        let start_positions: Vec<Vector3<f64>> = carrier_sites.iter().map(|&s| network.position(s)).collect();
        let carriers = carrier_sites.len() as f64;
        let per_block = self.events / self.blocks;
        let mut blocks = Vec::with_capacity(self.blocks as usize);
        let mut frames = Vec::new();
        let mut next_frame_ps = 0.0;
        for b in 0..self.blocks {
            let events = if b + 1 == self.blocks { self.events - per_block * (self.blocks - 1) } else { per_block };
            let start = sim.displacements().to_vec();
            let start_collective = sim.collective_displacement();
            let start_ions = sim.ions().map(|ions| ions.displacement.clone());
            let start_time = sim.time_ps();
            match (want_trajectory, self.trajectory_interval_ps) {
                (true, Some(interval)) => sim.run_observed(events, |displacements, t_next| {
                    while next_frame_ps < t_next {
                        let positions = start_positions.iter().zip(displacements).map(|(r0, d)| r0 + d).collect();
                        frames.push(TrajectoryFrame { time_ps: next_frame_ps, positions });
                        next_frame_ps += interval;
                    }
                }),
                _ => sim.run(events),
            }
            .map_err(no_event)?;
            let msd = squared_sum(sim.displacements(), &start) / carriers;
            let collective = (sim.collective_displacement() - start_collective).norm_squared() / carriers;
            let ion_msd = match (sim.ions(), &start_ions) {
                (Some(ions), Some(start)) => squared_sum(&ions.displacement, start) / ions.displacement.len() as f64,
                _ => 0.0,
            };
            blocks.push(Block { time_ps: sim.time_ps() - start_time, msd, collective, ion_msd });
        }
        let time = sim.time_ps();
        let tracer = block_estimate(&blocks, |b| b.msd);
        let collective = block_estimate(&blocks, |b| b.collective);
        let (haven_ratio, haven_ratio_err) = haven_ratio(&tracer, &collective).unzip();
        let result = TemperatureResult {
            temperature_k,
            index,
            events: self.events,
            simulated_time_ps: time,
            blocks: self.blocks,
            haven_ratio,
            haven_ratio_err,
            tracer,
            collective,
            ion_tracer: track_ions.then(|| block_estimate(&blocks, |b| b.ion_msd)),
            jump_rate_per_carrier_per_ps: self.events as f64 / time / carriers,
            site_occupancy: sim.site_occupancy(),
        };
        Ok((result, frames))
    }

    /// Runs the stage: builds the network (relative paths against `base_dir`), runs the sweep with `seed`, and
    /// writes kmc.csv, kmc_arrhenius.svg (≥ 2 temperatures), trajectories and site occupancies into `output_dir`.
    pub fn run(&self, base_dir: &Path, output_dir: &Path, seed: u64) -> anyhow::Result<KmcReport> {
        self.validate("kmc").map_err(|e| anyhow::anyhow!("{e}"))?;
        let (ion_network, source, network_summary) = self.ion_network(base_dir, seed)?;
        let network = match self.carrier {
            CarrierKind::Vacancy => ion_network.vacancy_network(),
            CarrierKind::Ion => ion_network,
        };
        let carrier_sites = self.initial_carrier_sites(network.len(), seed)?;
        crate::io::create_output_dir(output_dir)?;
        let mut files = Vec::new();
        let mut write_error = None;
        let mut write_trajectory = |index: usize, frames: &[TrajectoryFrame]| {
            let name = format!("kmc_trajectory_{index}.csv");
            match output::write_trajectory(&output_dir.join(&name), self.temperatures_k[index], frames) {
                Ok(()) => files.push(name),
                Err(e) => write_error = Some(e),
            }
        };
        let temperatures = self.simulate(&network, &carrier_sites, seed, Some(&mut write_trajectory))?;
        if let Some(e) = write_error {
            return Err(e);
        }
        let fit_of = |select: &dyn Fn(&TemperatureResult) -> Option<Diffusion>| {
            let points: Option<Vec<_>> = temperatures
                .iter()
                .map(|r| select(r).map(|d| (r.temperature_k, d.d_a2_per_ps, d.d_err_a2_per_ps)))
                .collect();
            points.and_then(|p| arrhenius::fit(&p))
        };
        let tracer_fit = fit_of(&|r| Some(r.tracer));
        let ion_fit = fit_of(&|r| r.ion_tracer);
        output::write_csv(&output_dir.join("kmc.csv"), &temperatures)?;
        files.push("kmc.csv".into());
        if let Some(fit) = &tracer_fit {
            output::write_arrhenius_svg(&output_dir.join("kmc_arrhenius.svg"), fit, ion_fit.as_ref())?;
            files.push("kmc_arrhenius.svg".into());
        }
        for r in &temperatures {
            if let Some(occupancy) = &r.site_occupancy {
                let name = format!("kmc_site_occupancy_{}.csv", r.index);
                output::write_occupancy(&output_dir.join(&name), &network, r.temperature_k, occupancy)?;
                files.push(name);
            }
        }
        files.sort();
        Ok(KmcReport {
            network_source: source,
            sites: network.len(),
            hops: network.hop_count(),
            hop_kinds: network.hop_kinds().len(),
            isolated_sites: network.isolated_sites(),
            carrier: self.carrier,
            carriers: carrier_sites.len(),
            attempt_frequency_hz: self.attempt_frequency_hz,
            temperatures,
            arrhenius: tracer_fit.as_ref().map(ArrheniusFit::of),
            arrhenius_ions: ion_fit.as_ref().map(ArrheniusFit::of),
            environment_matching: network_summary.environment_matching,
            barrier_sampling: network_summary.barrier_sampling,
            files,
        })
    }
}

/// The network of `network = { kind = "barrier_table", ... }`: the tabulated hops, or with `structure` every pair
/// of the structure's mobile atoms by environment matching or barrier sampling.
fn barrier_table_network(
    settings: &BarrierTableNetwork,
    base_dir: &Path,
    seed: u64,
) -> anyhow::Result<(SiteNetwork, String, NetworkSummary)> {
    let path = base_dir.join(&settings.path);
    let name = path.display().to_string();
    let table = crate::io::barrier_table::read_table(&path)?;
    let options = barrier_table::TableOptions {
        species: settings.species.clone(),
        accept_unconverged: settings.accept_unconverged,
        supercell: settings.supercell.unwrap_or([1, 1, 1]),
        keep_one_sided: settings.barrier_assignment == BarrierAssignment::Kra,
    };
    let Some(structure_path) = &settings.structure else {
        let (network, _) = barrier_table::network_from_table(&table, &options, &name)?;
        return Ok((network, name, NetworkSummary::default()));
    };
    let structure_path = base_dir.join(structure_path);
    let structure = crate::io::read_structure(&structure_path)?;
    let rows = barrier_table::select_rows(&table, &options, &name)?;
    let symbol = match &settings.species {
        Some(s) => s.clone(),
        None => {
            let first = rows[0].species.clone();
            if let Some(other) = rows.iter().find(|r| r.species != first) {
                bail!("{name}: rows of species {first} and {} (line {}): set species", other.species, other.line);
            }
            first
        }
    };
    let species = crate::system::elements::atomic_number(&symbol)
        .with_context(|| format!("{name}: species '{symbol}' is not a chemical element"))?;
    let longest = rows.iter().map(|r| (r.to - r.from).norm()).fold(0.0, f64::max);
    let hop_cutoff_a = settings.hop_cutoff_a.unwrap_or(longest + 0.1);
    if settings.barrier_assignment != BarrierAssignment::Environment {
        let vacancy_energies = match &settings.site_energies {
            Some(path) => Some(sampling::read_vacancy_energies(&base_dir.join(path), &structure, species)?),
            None => None,
        };
        let model = match &vacancy_energies {
            Some(energies) => sampling::SampledBarriers::Kra { vacancy_energies_ev: energies },
            None => sampling::SampledBarriers::Symmetric,
        };
        let mut stream = Xoshiro256PlusPlus::seed_from_u64(seed);
        stream.long_jump();
        let sampling_seed = stream.next_u64();
        let sampling_options =
            sampling::SamplingOptions { hop_cutoff_a, supercell: options.supercell, seed: sampling_seed };
        let (network, _, summary) =
            sampling::network_by_sampling(&structure, species, &rows, model, &sampling_options, &name)?;
        let source = format!("{name}: barriers sampled onto {}", structure_path.display());
        return Ok((network, source, NetworkSummary { barrier_sampling: Some(summary), ..Default::default() }));
    }
    let matching = equivalence::EnvironmentMatching {
        hop_cutoff_a,
        radius_a: settings.environment_radius_a.unwrap_or(4.0),
        tolerance_a: settings.environment_tolerance_a.unwrap_or(0.02),
    };
    let (network, _, summary) =
        equivalence::network_by_environment(&structure, species, &rows, &matching, options.supercell, &name)?;
    let summary = NetworkSummary { environment_matching: Some(summary), ..Default::default() };
    Ok((network, format!("{name} matched on {}", structure_path.display()), summary))
}

/// Receives the trajectory frames of the temperature with the given index.
pub type TrajectorySink<'a> = dyn FnMut(usize, &[TrajectoryFrame]) + 'a;

/// Carrier positions (unwrapped, Å) at one time of a trajectory: the frame of the kMC trajectory file format.
pub use crate::io::kmc_trajectory::KmcFrame as TrajectoryFrame;

/// Per-block sums for the diffusion estimates.
struct Block {
    time_ps: f64,
    msd: f64,
    collective: f64,
    ion_msd: f64,
}

fn squared_sum(now: &[Vector3<f64>], start: &[Vector3<f64>]) -> f64 {
    now.iter().zip(start).map(|(a, b)| (a - b).norm_squared()).sum()
}

/// D = Σ M_b / (6 Σ t_b) and the ratio-estimator standard error over blocks (see the module docs).
fn block_estimate(blocks: &[Block], value: impl Fn(&Block) -> f64) -> Diffusion {
    let n = blocks.len() as f64;
    let total_time: f64 = blocks.iter().map(|b| b.time_ps).sum();
    let total: f64 = blocks.iter().map(&value).sum();
    let d = total / (6.0 * total_time);
    let mean_time = total_time / n;
    let scatter: f64 = blocks.iter().map(|b| (value(b) - 6.0 * d * b.time_ps).powi(2)).sum();
    let err = (scatter / (n * (n - 1.0))).sqrt() / (6.0 * mean_time);
    Diffusion::new(d, err)
}

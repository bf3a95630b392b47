//! Labelled data from a reference potential, and the training-throughput measurement behind
//! `cargo bench --bench train` and `mdrun bench`.

use super::dataset::LabelledStructure;
use super::model::LossWeights;
use super::{Prepared, TrainSettings};
use crate::neighbors::NeighborList;
use crate::potentials::{EvaluationError, Potential};
use crate::system::{Cell, System};
use nalgebra::Vector3;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::Path;
use std::time::Instant;

/// `count` fcc cells of element `z` (conventional cube `a_a` Å, repeated `repeat`³ times), strained and
/// rattled as [`rattled`] does.
#[allow(clippy::too_many_arguments)]
pub fn rattled_fcc(
    potential: &dyn Potential,
    z: u8,
    a_a: f64,
    repeat: usize,
    count: usize,
    strain: f64,
    rattle_a: f64,
    seed: u64,
) -> Result<Vec<LabelledStructure>, EvaluationError> {
    rattled(potential, &crate::system::fcc(z, a_a, repeat), count, strain, rattle_a, seed)
}

/// `count` copies of `base`, each with a random isotropic strain in ±`strain` (cell and positions scaled) and
/// Gaussian displacements of a random width in [0, `rattle_a`] Å, labelled with `potential`'s energy and
/// forces.
pub fn rattled(
    potential: &dyn Potential,
    base: &System,
    count: usize,
    strain: f64,
    rattle_a: f64,
    seed: u64,
) -> Result<Vec<LabelledStructure>, EvaluationError> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let scale = 1.0 + rng.gen_range(-strain..=strain);
            let cell = Cell::from_matrix(base.cell.matrix() * scale, base.cell.periodic())
                .expect("a cell scaled by a positive factor is valid");
            let mut system = System::new(cell);
            let width = rng.gen_range(0.0..=rattle_a);
            let noise = Normal::new(0.0, width.max(1e-12)).expect("finite width");
            for a in 0..base.len() {
                let d = Vector3::new(noise.sample(&mut rng), noise.sample(&mut rng), noise.sample(&mut rng));
                system.push_with_mass(base.atomic_numbers[a], base.positions[a] * scale + d, base.masses[a]);
            }
            system.wrap();
            let mut list = NeighborList::new(potential.cutoff(), 0.0);
            list.build(&system).expect("benchmark systems are small");
            let evaluation = potential.compute(&system, &list)?;
            Ok(LabelledStructure { energy: evaluation.energy, forces: evaluation.forces, system })
        })
        .collect()
}

/// `count` snapshots of an fcc cell of element `z` (cube `a_a` Å, `repeat`³ cells) from velocity-Verlet MD
/// (`timestep_fs`) under stochastic velocity rescaling (Bussi, Donadio & Parrinello, J. Chem. Phys. 126, 014101
/// (2007); damping 100 fs) at `temperature_k`, one every `interval` steps after `interval` steps of
/// equilibration, labelled with `potential`'s energy and forces. Velocities start Maxwell–Boltzmann, seeded.
#[allow(clippy::too_many_arguments)]
pub fn md_sampled_fcc(
    potential: &dyn Potential,
    z: u8,
    a_a: f64,
    repeat: usize,
    temperature_k: f64,
    timestep_fs: f64,
    interval: usize,
    count: usize,
    seed: u64,
) -> Result<Vec<LabelledStructure>, EvaluationError> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut system = rattled_fcc(potential, z, a_a, repeat, 1, 0.0, 0.0, seed)?.remove(0).system;
    crate::md::velocities::maxwell_boltzmann(&mut system, temperature_k, &mut rng);
    let mut thermostat = crate::md::thermostats::csvr::StochasticRescaling::new(100.0, system.degrees_of_freedom());
    let mut list = NeighborList::new(potential.cutoff(), 1.0);
    list.build(&system).expect("benchmark systems are small");
    let mut evaluation = potential.compute(&system, &list)?;
    let mut out = Vec::with_capacity(count);
    let mut step = 0;
    while out.len() < count {
        crate::md::integrator::kick(&mut system, &evaluation.forces, 0.5 * timestep_fs);
        crate::md::integrator::drift(&mut system, timestep_fs);
        list.update(&system).expect("benchmark systems are small");
        evaluation = potential.compute(&system, &list)?;
        crate::md::integrator::kick(&mut system, &evaluation.forces, 0.5 * timestep_fs);
        thermostat.rescale(&mut system, temperature_k, timestep_fs, &mut rng);
        step += 1;
        if step > interval && step % interval == 0 {
            let mut snapshot = system.clone();
            snapshot.wrap();
            out.push(LabelledStructure {
                energy: evaluation.energy,
                forces: evaluation.forces.clone(),
                system: snapshot,
            });
        }
    }
    Ok(out)
}

/// Training throughput on `threads` rayon threads.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainBench {
    pub threads: usize,
    pub structures: usize,
    pub atoms_per_structure: f64,
    pub parameters: usize,
    pub epochs: usize,
    /// Training structures processed per second (loss, gradient and Adam step; descriptors precomputed).
    pub structures_per_second: f64,
    /// Seconds to compute descriptors and Jacobians of all structures once.
    pub descriptor_seconds: f64,
    /// Memory held by the descriptors and Jacobians of all structures (MB).
    pub descriptor_megabytes: f64,
}

/// Measures `epochs` epochs of training on `structures` with `settings` (batch size, network, symmetry
/// functions), on a pool of `threads` threads; scratch files go to `scratch_dir`.
pub fn bench_training(
    settings: &TrainSettings,
    structures: &[LabelledStructure],
    epochs: usize,
    threads: usize,
    scratch_dir: &Path,
) -> anyhow::Result<TrainBench> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    pool.install(|| {
        let start = Instant::now();
        let mut settings = settings.clone();
        settings.test_fraction = 0.0;
        let prepared = Prepared::new(&settings, scratch_dir, scratch_dir, structures)?;
        let descriptor_seconds = start.elapsed().as_secs_f64();
        let descriptor_megabytes = prepared.data.iter().map(|s| s.bytes()).sum::<usize>() as f64 / 1e6;
        let mut model = prepared.template.clone();
        model.randomize(&mut Xoshiro256PlusPlus::seed_from_u64(settings.seed));
        let weights = LossWeights { energy: settings.energy_weight, force: settings.force_weight };
        let mut parameters = model.parameters();
        let mut adam = super::model::Adam::new(parameters.len());
        let start = Instant::now();
        for _ in 0..epochs {
            for batch in prepared.train.chunks(settings.batch_size) {
                let (_, gradient) = model.batch_loss_gradient(&prepared.data, batch, weights);
                adam.update(&mut parameters, &gradient, settings.learning_rate);
                model.set_parameters(&parameters);
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        Ok(TrainBench {
            threads,
            structures: prepared.train.len(),
            atoms_per_structure: prepared.data.iter().map(|s| s.len()).sum::<usize>() as f64
                / prepared.data.len() as f64,
            parameters: parameters.len(),
            epochs,
            structures_per_second: (epochs * prepared.train.len()) as f64 / seconds,
            descriptor_seconds,
            descriptor_megabytes,
        })
    })
}

//! Velocity autocorrelation and vibrational density of states.
//!
//! VACF of species s over all time origins (by FFT, see [`super::msd::autocorrelation_sums`]):
//!   C_s(m) = 1/(N_s (N−m)) Σ_{i∈s} Σ_{t=0}^{N−m−1} v_i(t)·v_i(t+m),
//! and the mass-weighted total C(m) = Σ_i m_i ⟨v_i(t)·v_i(t+m)⟩ / Σ_i m_i.
//! VDOS as the windowed cosine transform (Dickey & Paskin, Phys. Rev. 188, 1407 (1969)):
//!   g(ν) ∝ C(0) + 2 Σ_{m=1}^{M−1} w(m) C(m) cos(2π ν m Δt),   w(m) = ½ [1 + cos(π m / M)] (Hann),
//! normalised to ∫₀^∞ g(ν) dν = 1 with ν in THz. Zero padding to 4M points refines the frequency grid.
//! 1 THz = 4.135 667 696 meV ([`crate::units::THZ_IN_MEV`]) = 33.356 409 519 815 cm⁻¹
//! ([`crate::units::THZ_IN_INVERSE_CM`]).

use super::msd::{autocorrelation_sums, fft_length};
use super::trajectory::TrajectoryData;
use crate::system::elements;
use nalgebra::Vector3;
use rustfft::{num_complex::Complex, FftPlanner};

/// VACF and VDOS of one species (or of all atoms, mass-weighted).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct SpeciesVdos {
    /// Element symbol, or "total" for the mass-weighted sum over all atoms.
    pub species: String,
    /// Frequency of the highest VDOS maximum (THz).
    pub peak_frequency_thz: f64,
    /// C(0) = ⟨v²⟩ (Å²/fs²).
    pub vacf_zero_a2_per_fs2: f64,
    /// Normalised VACF C(m)/C(0), m = 0..M−1.
    #[serde(skip)]
    pub vacf: Vec<f64>,
    /// VDOS on the frequency grid (1/THz).
    #[serde(skip)]
    pub vdos: Vec<f64>,
}

/// VDOS of every species plus the mass-weighted total.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct Vdos {
    /// Maximum correlation time M Δt (ps).
    pub max_lag_ps: f64,
    /// Frequency resolution of the window, 1/(M Δt) (THz).
    pub resolution_thz: f64,
    /// "recorded" when the trajectory stores velocities, "finite differences" when they were derived from
    /// unwrapped positions by central differences.
    pub velocities: String,
    #[serde(skip)]
    pub lag_times_ps: Vec<f64>,
    #[serde(skip)]
    pub frequencies_thz: Vec<f64>,
    pub species: Vec<SpeciesVdos>,
}

/// Velocity series of `atoms`: recorded, or central differences of unwrapped positions (one-sided at the ends).
fn velocity_series(trajectory: &dyn TrajectoryData, atoms: &[usize]) -> Result<Vec<Vec<Vector3<f64>>>, String> {
    if let Some(v) = trajectory.velocity_block(atoms).map_err(|e| e.to_string())? {
        return Ok(v);
    }
    let n = trajectory.n_frames();
    let dt = trajectory.frame_interval_fs();
    let positions = trajectory.position_block(atoms).map_err(|e| e.to_string())?;
    Ok(positions
        .iter()
        .map(|r| {
            (0..n)
                .map(|f: usize| {
                    let (a, b) = (f.saturating_sub(1), (f + 1).min(n - 1));
                    (r[b] - r[a]) / ((b - a) as f64 * dt)
                })
                .collect()
        })
        .collect())
}

/// Computes VACFs and VDOS with correlation times up to `max_lag_frames` (clamped to the trajectory length).
/// Atoms are loaded `load_atoms` at a time and transformed `fft_block` at a time.
pub fn compute_vdos(
    trajectory: &dyn TrajectoryData,
    max_lag_frames: usize,
    load_atoms: usize,
    fft_block: usize,
) -> Result<Vdos, String> {
    let n = trajectory.n_frames();
    if n < 4 {
        return Err(format!("{n} frames are too few for a VACF (need at least 4)"));
    }
    let lags = max_lag_frames.clamp(2, n);
    let dt_fs = trajectory.frame_interval_fs();
    let masses = trajectory.masses();
    let padded = fft_length(4 * lags);
    let frequencies_thz: Vec<f64> = (0..=padded / 2).map(|k| k as f64 / (padded as f64 * dt_fs) * 1e3).collect();
    let mut total_sums = vec![0.0; n];
    let mut total_mass = 0.0;
    let mut species = Vec::new();
    let entry = |name: String, sums: &[f64], normaliser: f64| -> Result<SpeciesVdos, String> {
        let vacf_raw: Vec<f64> = (0..lags).map(|m| sums[m] / ((n - m) as f64 * normaliser)).collect();
        let c0 = vacf_raw[0];
        if c0.is_nan() || c0 <= 0.0 {
            return Err(format!("species {name}: all velocities are zero, no VDOS"));
        }
        let vdos = windowed_spectrum(&vacf_raw, padded, dt_fs);
        let peak = (1..vdos.len()).max_by(|&a, &b| vdos[a].total_cmp(&vdos[b])).unwrap_or(0);
        Ok(SpeciesVdos {
            species: name,
            peak_frequency_thz: frequencies_thz[peak],
            vacf_zero_a2_per_fs2: c0,
            vacf: vacf_raw.iter().map(|c| c / c0).collect(),
            vdos,
        })
    };
    for z in trajectory.species() {
        let atoms = trajectory.atoms_of(z);
        let mut sums = vec![0.0; n];
        for chunk in atoms.chunks(load_atoms.max(1)) {
            let series = velocity_series(trajectory, chunk)?;
            let plain = autocorrelation_sums(n, chunk.len(), fft_block, |a| series[a].clone());
            let weighted = autocorrelation_sums(n, chunk.len(), fft_block, |a| {
                let w = masses[chunk[a]].sqrt();
                series[a].iter().map(|v| v * w).collect()
            });
            for m in 0..n {
                sums[m] += plain[m];
                total_sums[m] += weighted[m];
            }
        }
        total_mass += atoms.iter().map(|&i| masses[i]).sum::<f64>();
        species.push(entry(elements::symbol(z).to_string(), &sums, atoms.len() as f64)?);
    }
    species.push(entry("total".to_string(), &total_sums, total_mass)?);
    Ok(Vdos {
        max_lag_ps: lags as f64 * dt_fs * 1e-3,
        resolution_thz: 1e3 / (lags as f64 * dt_fs),
        velocities: if trajectory.has_velocities() { "recorded" } else { "finite differences" }.to_string(),
        lag_times_ps: (0..lags).map(|m| m as f64 * dt_fs * 1e-3).collect(),
        frequencies_thz,
        species,
    })
}

/// Hann-windowed cosine transform of C(m) on `padded / 2 + 1` frequencies, normalised to unit area in THz.
fn windowed_spectrum(vacf: &[f64], padded: usize, dt_fs: f64) -> Vec<f64> {
    let lags = vacf.len();
    let mut buffer = vec![Complex::new(0.0, 0.0); padded];
    for m in 0..lags {
        let w = 0.5 * (1.0 + (std::f64::consts::PI * m as f64 / lags as f64).cos());
        buffer[m] = Complex::new(vacf[m] * w, 0.0);
        if m > 0 {
            buffer[padded - m] = Complex::new(vacf[m] * w, 0.0);
        }
    }
    FftPlanner::new().plan_fft_forward(padded).process(&mut buffer);
    let spectrum: Vec<f64> = buffer[..=padded / 2].iter().map(|c| c.re).collect();
    let dnu_thz = 1e3 / (padded as f64 * dt_fs);
    let area: f64 = spectrum.windows(2).map(|w| 0.5 * (w[0] + w[1]) * dnu_thz).sum();
    spectrum.iter().map(|s| s / area).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trajectory::{RawFrame, ReadOptions, Trajectory};
    use crate::system::Cell;
    use rand::{Rng, SeedableRng};
    use std::path::Path;

    /// Li atoms oscillating at 4 THz and O atoms at 11 THz with random phases, amplitudes and directions.
    pub(crate) fn oscillators(with_velocities: bool) -> Trajectory {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let dt = 2.0;
        let frames = 3000;
        let species = [3u8, 3, 3, 8, 8, 8];
        let atoms: Vec<(f64, Vector3<f64>, f64, Vector3<f64>)> = species
            .iter()
            .map(|&z| {
                let f_thz = if z == 3 { 4.0 } else { 11.0 };
                let omega = 2.0 * std::f64::consts::PI * f_thz * 1e-3; // rad/fs
                let dir = Vector3::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0));
                let base = Vector3::new(rng.gen_range(0.0..9.0), rng.gen_range(0.0..9.0), rng.gen_range(0.0..9.0));
                (omega, dir.normalize() * rng.gen_range(0.05..0.2), rng.gen_range(0.0..std::f64::consts::TAU), base)
            })
            .collect();
        let cell = Cell::orthorhombic(9.0, 9.0, 9.0).unwrap();
        let raw = (0..frames)
            .map(|k| {
                let t = k as f64 * dt;
                RawFrame {
                    time_fs: Some(t),
                    cell: cell.clone(),
                    positions: atoms.iter().map(|(w, a, p, b)| cell.wrap(&(b + a * (w * t + p).sin())).0).collect(),
                    images: None,
                    velocities: with_velocities
                        .then(|| atoms.iter().map(|(w, a, p, _)| a * (w * (w * t + p).cos())).collect()),
                }
            })
            .collect();
        let masses = species.iter().map(|&z| elements::standard_mass(z).unwrap()).collect();
        Trajectory::from_frames(Path::new("osc"), species.to_vec(), masses, raw, &ReadOptions::default()).unwrap()
    }

    #[test]
    fn vdos_peaks_at_the_oscillator_frequencies() {
        for with_velocities in [true, false] {
            let vdos = compute_vdos(&oscillators(with_velocities), 500, 4, 2).unwrap();
            assert!(vdos.resolution_thz <= 1.0);
            let li = vdos.species.iter().find(|s| s.species == "Li").unwrap();
            let o = vdos.species.iter().find(|s| s.species == "O").unwrap();
            assert!((li.peak_frequency_thz - 4.0).abs() < 0.1, "Li peak {}", li.peak_frequency_thz);
            assert!((o.peak_frequency_thz - 11.0).abs() < 0.1, "O peak {}", o.peak_frequency_thz);
            let dnu = vdos.frequencies_thz[1];
            let area: f64 = li.vdos.windows(2).map(|w| 0.5 * (w[0] + w[1]) * dnu).sum();
            assert!((area - 1.0).abs() < 1e-9);
            // The mass-weighted total has weight at both frequencies.
            let total = vdos.species.iter().find(|s| s.species == "total").unwrap();
            let at = |f: f64| total.vdos[(f / dnu).round() as usize];
            assert!(at(4.0) > 0.05 && at(11.0) > 0.5 && at(7.5).abs() < 0.01);
            assert!((li.vacf[0] - 1.0).abs() < 1e-12);
        }
    }
}

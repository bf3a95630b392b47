//! Mean squared displacement over all time origins by FFT.
//!
//! For one coordinate series x(t), t = 0..N−1 (Kneller, Keiner, Kneller, Schiller, Comput. Phys. Commun. 91,
//! 191 (1995); the nMoldyn algorithm; Calandrini et al., École thématique SFN 12, 201 (2011)):
//!
//!   MSD(m) = 1/(N−m) Σ_{t=0}^{N−m−1} [x(t+m) − x(t)]² = S1(m) − 2 S2(m),
//!   S1(m) = 1/(N−m) Σ_{t=0}^{N−m−1} [x(t)² + x(t+m)²]   (a running sum, O(N)),
//!   S2(m) = 1/(N−m) Σ_{t=0}^{N−m−1} x(t) x(t+m)         (autocorrelation, by FFT of the zero-padded series).
//!
//! Two real series are transformed at once as z = x + i y: Re ifft(|fft z|²)(m) = acf_x(m) + acf_y(m).
//! Atoms are processed in fixed blocks (rayon runs blocks in parallel) and block sums are added in block order,
//! so the result does not depend on the number of threads. Work is O(N_atoms · N log N), memory per block
//! O(block · N).

use nalgebra::Vector3;
use rayon::prelude::*;
use rustfft::{num_complex::Complex, Fft, FftPlanner};
use std::sync::Arc;

/// Smallest length ≥ `n` of the form 2^a 3^b 5^c (fast for rustfft).
pub fn fft_length(n: usize) -> usize {
    let mut m = n.max(1);
    loop {
        let mut k = m;
        for p in [2, 3, 5] {
            while k % p == 0 {
                k /= p;
            }
        }
        if k == 1 {
            return m;
        }
        m += 1;
    }
}

/// Reusable FFT plans and buffers for autocorrelations of series of length `n`.
pub struct Autocorrelator {
    n: usize,
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
    buffer: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
}

impl Autocorrelator {
    pub fn new(n: usize) -> Autocorrelator {
        let len = fft_length(2 * n);
        let mut planner = FftPlanner::new();
        let forward = planner.plan_fft_forward(len);
        let inverse = planner.plan_fft_inverse(len);
        let scratch_len = forward.get_inplace_scratch_len().max(inverse.get_inplace_scratch_len());
        Autocorrelator {
            n,
            forward,
            inverse,
            buffer: vec![Complex::new(0.0, 0.0); len],
            scratch: vec![Complex::new(0.0, 0.0); scratch_len],
        }
    }

    /// Adds Σ_{t=0}^{N−m−1} [x(t) x(t+m) + y(t) y(t+m)] to `sums[m]` for m = 0..N−1 (unnormalised lag sums).
    pub fn add_pair(&mut self, x: impl Iterator<Item = f64>, y: impl Iterator<Item = f64>, sums: &mut [f64]) {
        let len = self.buffer.len();
        self.buffer.iter_mut().for_each(|c| *c = Complex::new(0.0, 0.0));
        for ((c, a), b) in self.buffer.iter_mut().zip(x).zip(y) {
            *c = Complex::new(a, b);
        }
        self.forward.process_with_scratch(&mut self.buffer, &mut self.scratch);
        for c in self.buffer.iter_mut() {
            *c = Complex::new(c.norm_sqr(), 0.0);
        }
        self.inverse.process_with_scratch(&mut self.buffer, &mut self.scratch);
        let scale = 1.0 / len as f64;
        for (s, c) in sums.iter_mut().zip(&self.buffer[..self.n]) {
            *s += c.re * scale;
        }
    }
}

/// Σ over `series` (each a vector series of length N) of the unnormalised lag sums Σ_t a(t)·a(t+m), by FFT.
/// Series are processed in blocks of `block` in parallel; deterministic.
pub fn autocorrelation_sums(
    n: usize,
    count: usize,
    block: usize,
    series: impl Fn(usize) -> Vec<Vector3<f64>> + Sync,
) -> Vec<f64> {
    let block = block.max(1);
    let blocks: Vec<(usize, usize)> = (0..count).step_by(block).map(|s| (s, (s + block).min(count))).collect();
    let partial: Vec<Vec<f64>> = blocks
        .par_iter()
        .map(|&(start, end)| {
            let mut correlator = Autocorrelator::new(n);
            let mut sums = vec![0.0; n];
            let components: Vec<Vec<f64>> = (start..end)
                .flat_map(|a| {
                    let s = series(a);
                    (0..3).map(move |k| s.iter().map(|v| v[k]).collect::<Vec<f64>>()).collect::<Vec<_>>()
                })
                .collect();
            for pair in components.chunks(2) {
                let zeros = vec![0.0; n];
                let second = pair.get(1).unwrap_or(&zeros);
                correlator.add_pair(pair[0].iter().copied(), second.iter().copied(), &mut sums);
            }
            sums
        })
        .collect();
    let mut total = vec![0.0; n];
    for p in &partial {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// Σ over atoms of MSD_atom(m), m = 0..N−1 (Å²), from the atoms' unwrapped position series.
/// `series(a)` returns the N positions of the a-th atom (a in 0..count); `block` atoms are processed together.
pub fn msd_sums(n: usize, count: usize, block: usize, series: impl Fn(usize) -> Vec<Vector3<f64>> + Sync) -> Vec<f64> {
    let [x, y, z] = msd_sums_by_direction(n, count, block, series);
    (0..n).map(|m| x[m] + y[m] + z[m]).collect()
}

/// Σ over atoms of the one-dimensional MSD along x, y and z separately (Å²), for anisotropic diffusion.
/// Within a block, series of the same direction are transformed in pairs.
pub fn msd_sums_by_direction(
    n: usize,
    count: usize,
    block: usize,
    series: impl Fn(usize) -> Vec<Vector3<f64>> + Sync,
) -> [Vec<f64>; 3] {
    let block = block.max(1);
    let blocks: Vec<(usize, usize)> = (0..count).step_by(block).map(|s| (s, (s + block).min(count))).collect();
    let partial: Vec<[Vec<f64>; 3]> = blocks
        .par_iter()
        .map(|&(start, end)| {
            let mut correlator = Autocorrelator::new(n);
            // components[k][a]: direction k of atom a, centred on its mean (the MSD is unchanged and round-off
            // stays small).
            let mut components: [Vec<Vec<f64>>; 3] = Default::default();
            for a in start..end {
                let s = series(a);
                let mean = s.iter().sum::<Vector3<f64>>() / n as f64;
                for (k, direction) in components.iter_mut().enumerate() {
                    direction.push(s.iter().map(|r| r[k] - mean[k]).collect());
                }
            }
            components.map(|direction| {
                let mut squares = vec![0.0; n];
                let mut s2 = vec![0.0; n];
                for c in &direction {
                    for (q, x) in squares.iter_mut().zip(c) {
                        *q += x * x;
                    }
                }
                let zeros = vec![0.0; n];
                for pair in direction.chunks(2) {
                    let second = pair.get(1).unwrap_or(&zeros);
                    correlator.add_pair(pair[0].iter().copied(), second.iter().copied(), &mut s2);
                }
                msd_from_sums(&squares, &s2)
            })
        })
        .collect();
    let mut total: [Vec<f64>; 3] = [vec![0.0; n], vec![0.0; n], vec![0.0; n]];
    for p in &partial {
        for k in 0..3 {
            for (t, v) in total[k].iter_mut().zip(&p[k]) {
                *t += v;
            }
        }
    }
    total
}

/// MSD(m) = S1(m) − 2 S2(m) from the per-frame sums of squares q(t) and the unnormalised lag sums of products.
fn msd_from_sums(squares: &[f64], lag_sums: &[f64]) -> Vec<f64> {
    let n = squares.len();
    let mut out = vec![0.0; n];
    let mut running = 2.0 * squares.iter().sum::<f64>();
    for m in 0..n {
        if m > 0 {
            running -= squares[m - 1] + squares[n - m];
        }
        let count = (n - m) as f64;
        out[m] = ((running - 2.0 * lag_sums[m]) / count).max(0.0);
    }
    out[0] = 0.0;
    out
}

/// Direct O(N²) MSD over all origins of one atom (reference for tests).
pub fn msd_direct(series: &[Vector3<f64>]) -> Vec<f64> {
    let n = series.len();
    (0..n)
        .map(|m| (0..n - m).map(|t| (series[t + m] - series[t]).norm_squared()).sum::<f64>() / (n - m) as f64)
        .collect()
}

/// Measured numbers of one MSD benchmark run.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct MsdBenchmark {
    pub atoms: usize,
    pub frames: usize,
    pub threads: usize,
    pub seconds: f64,
    /// Bytes held by the trajectory plus the FFT working set (an upper estimate of the peak memory).
    pub estimated_peak_bytes: usize,
    /// MSD at the last lag of the first quarter, a checksum that the work was done.
    pub msd_checksum: f64,
}

/// Times the all-origins MSD of `atoms` random-walk atoms over `frames` frames on `threads` threads
/// (for `mdrun bench`). The walk is generated before the clock starts.
pub fn bench_msd(atoms: usize, frames: usize, threads: usize, seed: u64) -> MsdBenchmark {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let normal = Normal::new(0.0, 0.1).expect("valid normal");
    // Atom-major storage, as a trajectory block would be laid out.
    let mut positions = vec![Vector3::zeros(); atoms * frames];
    for a in 0..atoms {
        for t in 1..frames {
            let step = Vector3::new(normal.sample(&mut rng), normal.sample(&mut rng), normal.sample(&mut rng));
            positions[a * frames + t] = positions[a * frames + t - 1] + step;
        }
    }
    let block = 16;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().expect("thread pool");
    let start = std::time::Instant::now();
    let sums = pool.install(|| msd_sums(frames, atoms, block, |a| positions[a * frames..(a + 1) * frames].to_vec()));
    let seconds = start.elapsed().as_secs_f64();
    let fft_len = fft_length(2 * frames);
    let per_thread = block * 3 * frames * 8 + fft_len * 16 * 2 + 3 * frames * 8 + block * frames * 24;
    MsdBenchmark {
        atoms,
        frames,
        threads: threads.max(1),
        seconds,
        estimated_peak_bytes: positions.len() * 24 + threads.max(1) * per_thread,
        msd_checksum: sums[frames / 4] / atoms as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn walk(n: usize, seed: u64) -> Vec<Vector3<f64>> {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut r = Vector3::new(10.0, -3.0, 7.0);
        (0..n)
            .map(|_| {
                r += Vector3::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0));
                r
            })
            .collect()
    }

    #[test]
    fn fft_msd_equals_direct_sum_over_origins() {
        let atoms: Vec<Vec<Vector3<f64>>> = (0..5).map(|s| walk(301, s)).collect();
        let fft = msd_sums(301, 5, 2, |a| atoms[a].clone());
        let mut direct = vec![0.0; 301];
        for a in &atoms {
            for (d, v) in direct.iter_mut().zip(msd_direct(a)) {
                *d += v;
            }
        }
        for m in 0..301 {
            assert!((fft[m] - direct[m]).abs() < 1e-9 * direct[m].max(1.0), "lag {m}: {} vs {}", fft[m], direct[m]);
        }
    }

    #[test]
    fn directional_msd_separates_anisotropic_motion() {
        // Steps only along x and z, three times larger along z.
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(8);
        let atoms: Vec<Vec<Vector3<f64>>> = (0..4)
            .map(|_| {
                let mut r = Vector3::zeros();
                (0..200)
                    .map(|_| {
                        r += Vector3::new(rng.gen_range(-1.0..1.0), 0.0, 3.0 * rng.gen_range(-1.0..1.0));
                        r
                    })
                    .collect()
            })
            .collect();
        let [x, y, z] = msd_sums_by_direction(200, 4, 3, |a| atoms[a].clone());
        let total = msd_sums(200, 4, 3, |a| atoms[a].clone());
        let mut direct = [0.0; 3];
        for a in &atoms {
            for t in 0..190 {
                let d = a[t + 10] - a[t];
                for k in 0..3 {
                    direct[k] += d[k] * d[k] / 190.0;
                }
            }
        }
        assert!((x[10] - direct[0]).abs() < 1e-9 * direct[0]);
        assert!(y[10].abs() < 1e-9);
        assert!((z[10] - direct[2]).abs() < 1e-9 * direct[2]);
        assert!((total[10] - x[10] - z[10]).abs() < 1e-9 * total[10]);
    }

    #[test]
    fn result_is_independent_of_block_size_and_threads() {
        let atoms: Vec<Vec<Vector3<f64>>> = (0..7).map(|s| walk(128, s + 10)).collect();
        let a = msd_sums(128, 7, 3, |i| atoms[i].clone());
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let b = pool.install(|| msd_sums(128, 7, 3, |i| atoms[i].clone()));
        assert_eq!(a, b);
        let c = msd_sums(128, 7, 7, |i| atoms[i].clone());
        for m in 0..128 {
            assert!((a[m] - c[m]).abs() < 1e-9 * a[m].max(1.0));
        }
    }

    #[test]
    fn fft_lengths_are_smooth() {
        assert_eq!(fft_length(20000), 20000);
        assert_eq!(fft_length(14), 15);
        assert_eq!(fft_length(1), 1);
    }
}

//! Partial radial distribution functions and coordination numbers.
//!
//! For a central species a and neighbour species b, averaged over F frames (Allen & Tildesley, Computer
//! Simulation of Liquids, 2nd ed., §8.2):
//!
//!   g_ab(r) = ⟨n_ab(r, r+Δr)⟩ / [N_a ρ_b 4π/3 ((r+Δr)³ − r³)],   ρ_b = (N_b − δ_ab) / V,
//!
//! where n_ab counts ordered pairs (i of a, j of b ≠ i, any periodic image) in the shell. The running
//! coordination number N_ab(R) = ρ_b ∫₀^R 4π r² g_ab(r) dr is the cumulative pair count per a atom, taken at
//! the first minimum of g_ab after its first peak unless a cutoff is given. Pairs come from the project's
//! neighbour list, so small and triclinic cells are handled and r_max may exceed half the cell.

use crate::neighbors::NeighborList;
use crate::system::{elements, System};
use rayon::prelude::*;

/// g(r) of one ordered species pair.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct PairRdf {
    pub center: String,
    pub neighbor: String,
    /// g(r) at the bin centres.
    #[serde(skip)]
    pub g: Vec<f64>,
    /// Running coordination number at the outer edge of each bin.
    #[serde(skip)]
    pub running_coordination: Vec<f64>,
    /// Position of the first maximum of g (Å), if g has one.
    pub first_peak_a: Option<f64>,
    /// Radius at which the coordination number is taken (Å): the given cutoff or the first minimum after
    /// the first peak.
    pub coordination_cutoff_a: Option<f64>,
    /// Mean number of b neighbours of an a atom within the cutoff.
    pub coordination_number: Option<f64>,
}

/// Partial RDFs of every ordered species pair.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct Rdf {
    pub bin_width_a: f64,
    pub r_max_a: f64,
    pub frames: usize,
    #[serde(skip)]
    pub r_a: Vec<f64>,
    pub pairs: Vec<PairRdf>,
}

/// Computes partial RDFs from `frames` (periodic systems with the same atoms), with bins of `bin_width` up
/// to `r_max`. `cutoff(center, neighbour)` (atomic numbers) overrides the first-minimum coordination cutoff. Frames are processed in parallel;
/// counts are integers, so the result does not depend on the number of threads.
pub fn compute_rdf(
    frames: &[System],
    r_max: f64,
    bin_width: f64,
    cutoff: impl Fn(u8, u8) -> Option<f64>,
) -> Result<Rdf, String> {
    if frames.is_empty() {
        return Err("no frame to compute g(r) from".into());
    }
    if frames.iter().any(|f| !f.cell.is_fully_periodic()) {
        return Err("g(r) needs a fully periodic cell (the density is undefined otherwise)".into());
    }
    if let Some(k) = frames.iter().position(|f| f.atomic_numbers != frames[0].atomic_numbers) {
        return Err(format!("frame {k} does not have the same atoms in the same order as frame 0"));
    }
    let species = frames[0].species();
    let ns = species.len();
    let index_of = |z: u8| species.iter().position(|&s| s == z).expect("species present");
    let kinds: Vec<usize> = frames[0].atomic_numbers.iter().map(|&z| index_of(z)).collect();
    let counts_per_species: Vec<usize> = species.iter().map(|&z| frames[0].count(z)).collect();
    let bins = (r_max / bin_width).ceil() as usize;
    let histograms: Vec<Vec<u64>> = frames
        .par_iter()
        .map(|system| {
            let mut list = NeighborList::new(r_max, 0.0);
            list.build(system).map_err(|e| format!("r_max_a = {r_max}: {e}"))?;
            let mut hist = vec![0u64; ns * ns * bins];
            for i in 0..system.len() {
                for (&j, shift) in list.indices(i).iter().zip(list.shifts(i)) {
                    let r = (system.positions[j as usize] - system.positions[i] + shift).norm();
                    if r < r_max && r > 0.0 {
                        let bin = ((r / bin_width) as usize).min(bins - 1);
                        hist[(kinds[i] * ns + kinds[j as usize]) * bins + bin] += 1;
                    }
                }
            }
            Ok(hist)
        })
        .collect::<Result<_, String>>()?;
    let mut total = vec![0u64; ns * ns * bins];
    for h in &histograms {
        for (t, c) in total.iter_mut().zip(h) {
            *t += c;
        }
    }
    let inverse_volumes: f64 = frames.iter().map(|f| 1.0 / f.cell.volume()).sum();
    let r_a: Vec<f64> = (0..bins).map(|k| (k as f64 + 0.5) * bin_width).collect();
    let mut pairs = Vec::new();
    for a in 0..ns {
        for b in 0..ns {
            let na = counts_per_species[a] as f64;
            let nb = counts_per_species[b] as f64 - if a == b { 1.0 } else { 0.0 };
            let hist = &total[(a * ns + b) * bins..(a * ns + b + 1) * bins];
            let g: Vec<f64> = (0..bins)
                .map(|k| {
                    let (r0, r1) = (k as f64 * bin_width, (k as f64 + 1.0) * bin_width);
                    let shell = 4.0 / 3.0 * std::f64::consts::PI * (r1.powi(3) - r0.powi(3));
                    let ideal = na * nb * inverse_volumes * shell;
                    if ideal > 0.0 {
                        hist[k] as f64 / ideal
                    } else {
                        0.0
                    }
                })
                .collect();
            let mut running = 0.0;
            let running_coordination: Vec<f64> = hist
                .iter()
                .map(|&c| {
                    running += c as f64 / (na * frames.len() as f64);
                    running
                })
                .collect();
            let first_peak = first_peak(&g);
            let cutoff_bin = match cutoff(species[a], species[b]) {
                Some(rc) => Some((((rc / bin_width).round() as usize).max(1) - 1).min(bins - 1)),
                None => first_peak.and_then(|p| first_minimum_after(&g, p)),
            };
            pairs.push(PairRdf {
                center: elements::symbol(species[a]).to_string(),
                neighbor: elements::symbol(species[b]).to_string(),
                first_peak_a: first_peak.map(|p| r_a[p]),
                coordination_cutoff_a: cutoff_bin.map(|k| (k as f64 + 1.0) * bin_width),
                coordination_number: cutoff_bin.map(|k| running_coordination[k]),
                g,
                running_coordination,
            });
        }
    }
    Ok(Rdf { bin_width_a: bin_width, r_max_a: r_max, frames: frames.len(), r_a, pairs })
}

/// Three-bin moving average (edges use the available bins).
fn smooth(g: &[f64]) -> Vec<f64> {
    (0..g.len())
        .map(|k| {
            let lo = k.saturating_sub(1);
            let hi = (k + 2).min(g.len());
            g[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
        })
        .collect()
}

/// Bin of the first peak: the maximum of the smoothed g over the first region where it exceeds 1
/// (or of the whole curve when it never does).
fn first_peak(g: &[f64]) -> Option<usize> {
    let s = smooth(g);
    let start = s.iter().position(|&v| v > 1.0)?;
    let end = s[start..].iter().position(|&v| v < 1.0).map_or(s.len(), |k| start + k);
    (start..end).max_by(|&a, &b| s[a].total_cmp(&s[b]).then(b.cmp(&a)))
}

/// The last bin of the first descent of the smoothed g after `peak`: the first minimum. A flat zero stretch
/// between shells (a perfect crystal) is followed to its end, so the cutoff lies just before the next shell.
fn first_minimum_after(g: &[f64], peak: usize) -> Option<usize> {
    let s = smooth(g);
    let mut k = peak;
    while k + 1 < s.len() && s[k + 1] <= s[k] {
        k += 1;
    }
    if k + 1 == s.len() {
        return None;
    }
    // Back off to the middle of a flat stretch (between the shells of a perfect crystal).
    let mut first = k;
    while first > peak && s[first - 1] == s[k] {
        first -= 1;
    }
    Some((first + k) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::Cell;
    use nalgebra::Vector3;
    use rand::{Rng, SeedableRng};

    #[test]
    fn perfect_fcc_has_twelve_nearest_neighbours_at_a_over_root_two() {
        let system = crate::system::fcc(29, 3.6, 3);
        let rdf = compute_rdf(&[system], 5.0, 0.01, |_, _| None).unwrap();
        let pair = &rdf.pairs[0];
        assert!((pair.first_peak_a.unwrap() - 3.6 / 2f64.sqrt()).abs() < 0.011, "{:?}", pair.first_peak_a);
        assert!((pair.coordination_number.unwrap() - 12.0).abs() < 1e-12);
        let rc = pair.coordination_cutoff_a.unwrap();
        assert!(rc > 3.6 / 2f64.sqrt() && rc < 3.6, "{rc}");
        // Second shell: 6 more at a.
        assert!((pair.running_coordination[(3.65 / 0.01) as usize] - 18.0).abs() < 1e-12);
    }

    #[test]
    fn rocksalt_li_o_has_six_oxygen_around_each_lithium() {
        let a = 4.0;
        let mut cell = System::new(Cell::orthorhombic(a, a, a).unwrap());
        for basis in [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]] {
            let r = Vector3::new(basis[0] * a, basis[1] * a, basis[2] * a);
            cell.push(3, r);
            cell.push(8, r + Vector3::new(a / 2.0, 0.0, 0.0));
        }
        let system = cell.supercell([2, 2, 2]);
        let rdf = compute_rdf(&[system], 4.5, 0.01, |c, n| (c == 3 && n == 8).then_some(2.5)).unwrap();
        let pair = |c: &str, n: &str| rdf.pairs.iter().find(|p| p.center == c && p.neighbor == n).unwrap();
        assert_eq!(pair("Li", "O").coordination_cutoff_a, Some(2.5));
        assert!((pair("Li", "O").coordination_number.unwrap() - 6.0).abs() < 1e-12);
        assert!((pair("O", "Li").coordination_number.unwrap() - 6.0).abs() < 1e-12);
        assert!((pair("Li", "Li").coordination_number.unwrap() - 12.0).abs() < 1e-12);
        assert!((pair("Li", "O").first_peak_a.unwrap() - 2.0).abs() < 0.011);
    }

    #[test]
    fn ideal_gas_has_g_of_one() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let frames: Vec<System> = (0..20)
            .map(|_| {
                let mut s = System::new(Cell::orthorhombic(12.0, 12.0, 12.0).unwrap());
                for k in 0..400 {
                    let r = Vector3::new(rng.gen_range(0.0..12.0), rng.gen_range(0.0..12.0), rng.gen_range(0.0..12.0));
                    s.push(if k % 4 == 0 { 3 } else { 8 }, r);
                }
                s
            })
            .collect();
        let rdf = compute_rdf(&frames, 5.0, 0.25, |_, _| None).unwrap();
        for pair in &rdf.pairs {
            // Average over the outer half, where the counts are large.
            let tail = &pair.g[10..];
            let mean = tail.iter().sum::<f64>() / tail.len() as f64;
            assert!((mean - 1.0).abs() < 0.03, "{}-{}: {mean}", pair.center, pair.neighbor);
        }
    }

    #[test]
    fn non_periodic_frames_are_refused() {
        let mut s = System::new(Cell::infinite());
        s.push(3, Vector3::zeros());
        assert!(compute_rdf(&[s], 3.0, 0.1, |_, _| None).unwrap_err().contains("periodic"));
    }
}

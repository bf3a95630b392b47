//! Replication of tabulated hops onto every symmetry-equivalent pair of sites of a structure, by matching local
//! environments.
//!
//! An NEB study computes a few hops (e.g. the paths around one vacancy); a crystal has many copies of each, related
//! by the space-group operations. Two hops are taken as equivalent when their environments agree: for the start
//! point, the midpoint and the end point of the hop, the sorted lists of (species, distance) of every atom within
//! `radius` (the hopping ion and the vacancy it hops into excluded) match within `tolerance`. These lists are
//! invariant under every rotation, reflection and translation of the crystal, so equivalent hops always match;
//! the start/end distinction keeps the direction, so an asymmetric hop gets its forward barrier one way and its
//! reverse barrier the other. Each tabulated row contributes both directions; every pair of mobile atoms within
//! `hop_cutoff` whose environment matches gets the barrier, the others are left out (and counted).

use super::network::{species_hops, species_sites, SiteNetwork, SpeciesHop};
use crate::io::barrier_table::BarrierRow;
use crate::structure::Fingerprint;
use crate::system::System;
use anyhow::{bail, Context};
use nalgebra::Vector3;

/// Settings of the environment matching.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnvironmentMatching {
    /// Longest hop considered (Å).
    pub hop_cutoff_a: f64,
    /// Radius of the environments compared (Å).
    pub radius_a: f64,
    /// Largest difference of two matching distances (Å).
    pub tolerance_a: f64,
}

/// What the matching found.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct MatchingSummary {
    /// Directed hops that received a tabulated barrier.
    pub matched_hops: usize,
    /// Directed pairs within the hop cutoff that match no tabulated hop (left out of the network).
    pub unmatched_pairs: usize,
}

/// Environment fingerprints ([`Fingerprint`]) around the start, middle and end of a hop.
#[derive(Clone, Debug)]
struct HopFingerprint([Fingerprint; 3]);

impl HopFingerprint {
    /// True when all three environments match within `tolerance` (Å).
    fn matches(&self, other: &HopFingerprint, tolerance: f64) -> bool {
        self.0.iter().zip(&other.0).all(|(a, b)| a.matches(b, tolerance))
    }
}

/// The atoms (every image in `images`) within `radius` of `point`, leaving out those within 1e-3 Å of an
/// `exclude` point (the hopping ion and the vacancy).
fn environment(
    system: &System,
    images: &[Vector3<f64>],
    point: &Vector3<f64>,
    exclude: &[Vector3<f64>; 2],
    radius: f64,
) -> Fingerprint {
    let mut list = Vec::new();
    for (r, &z) in system.positions.iter().zip(&system.atomic_numbers) {
        for shift in images {
            let q = r + shift;
            if exclude.iter().any(|e| (q - e).norm() < 1e-3) {
                continue;
            }
            let d = (q - point).norm();
            if d <= radius {
                list.push((z, d));
            }
        }
    }
    Fingerprint::new(list)
}

fn fingerprint(
    system: &System,
    images: &[Vector3<f64>],
    start: Vector3<f64>,
    vector: Vector3<f64>,
    radius: f64,
) -> HopFingerprint {
    let end = start + vector;
    let exclude = [start, end];
    HopFingerprint([start, start + 0.5 * vector, end].map(|p| environment(system, images, &p, &exclude, radius)))
}

/// Builds the network of every mobile atom (`species`) of `structure`, repeated `supercell` times, with the
/// barriers of `rows` assigned to all hops whose environment matches a tabulated one. Rows must refer to atom
/// indices and positions of `structure` (`name` is used in errors). Returns the network, the atom index of each
/// basis site, and a summary.
pub fn network_by_environment(
    structure: &System,
    species: u8,
    rows: &[&BarrierRow],
    matching: &EnvironmentMatching,
    supercell: [usize; 3],
    name: &str,
) -> anyhow::Result<(SiteNetwork, Vec<usize>, MatchingSummary)> {
    if !structure.cell.is_fully_periodic() {
        bail!("{name}: environment matching needs a periodic structure");
    }
    let mut system = structure.clone();
    system.wrap();
    let widths = system.cell.perpendicular_widths();
    let reach = matching.radius_a + matching.hop_cutoff_a;
    let counts = widths.map(|w| (reach / w).ceil() as i32);
    let mut images = Vec::new();
    for i in -counts[0]..=counts[0] {
        for j in -counts[1]..=counts[1] {
            for k in -counts[2]..=counts[2] {
                images.push(system.cell.shift([i, j, k]));
            }
        }
    }
    // Tabulated hops, both directions, with the position of the start atom taken from the structure.
    let mut known: Vec<(HopFingerprint, f64, usize)> = Vec::new();
    for row in rows {
        for (atom, end_atom) in [(row.from_site, row.to_site), (row.to_site, row.from_site)] {
            for a in [atom, end_atom] {
                if a >= system.len() || system.atomic_numbers[a] != species {
                    bail!(
                        "{name} line {}: site {a} is not a {} atom of the structure",
                        row.line,
                        crate::system::elements::symbol(species)
                    );
                }
            }
        }
        let vector = row.to - row.from;
        let start = system.positions[row.from_site];
        let end = system.positions[row.to_site];
        let landing = system.cell.minimum_image(&(start + vector - end)).norm();
        if landing > 0.05 {
            bail!("{name} line {}: the hop vector does not lead from site {} to site {} of the structure ({landing:.3} Å off)", row.line, row.from_site, row.to_site);
        }
        known.push((fingerprint(&system, &images, start, vector, matching.radius_a), row.forward_barrier_ev, row.line));
        known.push((fingerprint(&system, &images, end, -vector, matching.radius_a), row.reverse_barrier_ev, row.line));
    }
    let (mut builder, mobile, basis_of) = species_sites(&system, species, supercell, &|_| 0.0);
    let mut summary = MatchingSummary { matched_hops: 0, unmatched_pairs: 0 };
    for SpeciesHop { from: i, to: j, vector, image } in species_hops(&system, species, &mobile, matching.hop_cutoff_a)?
    {
        let print = fingerprint(&system, &images, system.positions[i], vector, matching.radius_a);
        let mut found: Option<(f64, usize)> = None;
        for (candidate, barrier, line) in &known {
            if candidate.matches(&print, matching.tolerance_a) {
                match found {
                    Some((b, first)) if (b - barrier).abs() > 0.01 => bail!(
                        "{name}: the hop {i} → {j} matches the environments of line {first} ({b} eV) and line \
                             {line} ({barrier} eV); lower environment_tolerance_a or raise environment_radius_a"
                    ),
                    Some(_) => {}
                    None => found = Some((*barrier, *line)),
                }
            }
        }
        let Some((barrier, line)) = found else {
            summary.unmatched_pairs += 1;
            continue;
        };
        builder.add_hop(basis_of[i], basis_of[j], image, barrier, &format!("{name} line {line} (hop {i} → {j})"));
        summary.matched_hops += 1;
    }
    let network = builder.build().with_context(|| format!("environment matching of {name}"))?;
    Ok((network, mobile, summary))
}

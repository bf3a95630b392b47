//! Local environments of a structure, for recognising symmetry-equivalent sites and hops.
//!
//! A [`Fingerprint`] is the sorted list of (atomic number, distance) of the atoms around a site or a point, sorted
//! by atomic number, then distance. Two fingerprints match when they have the same length, the same atomic number
//! at every position and distances that agree within a tolerance: |d_a − d_b| ≤ tolerance. The lists are invariant
//! under every rotation, reflection and translation of the crystal, so crystallographically equivalent sites
//! always match; distinct sites with identical radial environments up to the cutoff would be merged, so the cutoff
//! should reach a few neighbour shells.
//!
//! Users: the vacancy stage (symmetry-distinct vacancy sites, [`distinct_sites`]), the migration stage (hops with
//! equivalent end sites and midpoint environments) and the kMC environment matching (start, middle and end of a
//! hop). Each caller decides which atoms make up an environment (all images or the minimum image, which atoms are
//! left out); this module owns the representation and the comparison.

use crate::neighbors::NeighborList;
use crate::system::System;
use rayon::prelude::*;

/// Sorted (atomic number, distance in Å) pairs: the environment of one site or point.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fingerprint(Vec<(u8, f64)>);

impl Fingerprint {
    /// The fingerprint of the given (atomic number, distance) pairs, in any order: sorts them by atomic number,
    /// then distance (total order).
    pub fn new(mut entries: Vec<(u8, f64)>) -> Fingerprint {
        entries.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        Fingerprint(entries)
    }

    /// The sorted (atomic number, distance) pairs.
    pub fn entries(&self) -> &[(u8, f64)] {
        &self.0
    }

    /// True when both have the same length and, position by position, the same atomic number and distances within
    /// `tolerance` (Å).
    pub fn matches(&self, other: &Fingerprint, tolerance: f64) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().zip(&other.0).all(|(x, y)| x.0 == y.0 && (x.1 - y.1).abs() <= tolerance)
    }
}

/// The environment fingerprint of every atom: its neighbours within `cutoff` (Å, inclusive), all periodic images,
/// the atom itself left out (distances above 1e-8 Å).
pub fn site_fingerprints(
    system: &System,
    cutoff: f64,
) -> Result<Vec<Fingerprint>, crate::neighbors::NeighborListTooLarge> {
    let mut list = NeighborList::new(cutoff, 0.0);
    list.build(system)?;
    Ok((0..system.len())
        .into_par_iter()
        .map(|i| {
            Fingerprint::new(
                list.indices(i)
                    .iter()
                    .zip(list.shifts(i))
                    .filter_map(|(&j, shift)| {
                        let d = (system.positions[j as usize] - system.positions[i] + shift).norm();
                        (d <= cutoff && d > 1e-8).then_some((system.atomic_numbers[j as usize], d))
                    })
                    .collect(),
            )
        })
        .collect())
}

/// Groups `candidates` (atom indices) into classes of equivalent sites — same element and matching
/// [`site_fingerprints`] within `cutoff` and `tolerance` — and returns (representative, members), representatives
/// being the lowest index of each class, classes in order of their representative.
pub fn distinct_sites(
    system: &System,
    candidates: &[usize],
    cutoff: f64,
    tolerance: f64,
) -> Result<Vec<(usize, Vec<usize>)>, crate::neighbors::NeighborListTooLarge> {
    let fingerprints = site_fingerprints(system, cutoff)?;
    let mut classes: Vec<(usize, Vec<usize>)> = Vec::new();
    for &i in candidates {
        let class = classes.iter_mut().find(|(rep, _)| {
            system.atomic_numbers[*rep] == system.atomic_numbers[i]
                && fingerprints[*rep].matches(&fingerprints[i], tolerance)
        });
        match class {
            Some((_, members)) => members.push(i),
            None => classes.push((i, vec![i])),
        }
    }
    Ok(classes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Vector3;

    #[test]
    fn fingerprints_are_sorted_and_match_within_the_tolerance() {
        let a = Fingerprint::new(vec![(8, 2.0), (3, 2.5), (3, 1.9)]);
        assert_eq!(a.entries(), &[(3, 1.9), (3, 2.5), (8, 2.0)]);
        let b = Fingerprint::new(vec![(3, 1.95), (3, 2.5), (8, 2.04)]);
        assert!(a.matches(&b, 0.06) && !a.matches(&b, 0.045));
        assert!(!a.matches(&Fingerprint::new(vec![(3, 1.9), (3, 2.5)]), 1.0));
        assert!(!a.matches(&Fingerprint::new(vec![(3, 1.9), (3, 2.5), (9, 2.0)]), 1.0));
    }

    #[test]
    fn fcc_sites_are_all_equivalent_and_a_perturbed_one_is_not() {
        let mut system = crate::system::fcc(18, 5.26, 2);
        let all: Vec<usize> = (0..system.len()).collect();
        let classes = distinct_sites(&system, &all, 6.0, 0.01).unwrap();
        assert_eq!(classes.len(), 1);
        assert_eq!(classes[0].1.len(), 32);
        system.positions[5] += Vector3::new(0.1, 0.0, 0.0);
        let classes = distinct_sites(&system, &all, 6.0, 0.01).unwrap();
        assert!(classes.len() > 1);
        assert!(classes.iter().any(|(rep, members)| *rep == 5 && members == &vec![5]));
    }

    #[test]
    fn rock_salt_like_mixture_has_two_site_classes() {
        // Two interpenetrating fcc lattices of different elements: every Na equivalent, every Cl equivalent.
        let a = 5.6;
        let mut system = crate::system::fcc(11, a, 2);
        let chlorine: Vec<Vector3<f64>> =
            system.positions.iter().map(|r| r + Vector3::new(a / 2.0, 0.0, 0.0)).collect();
        for r in chlorine {
            system.push(17, r);
        }
        let all: Vec<usize> = (0..system.len()).collect();
        let classes = distinct_sites(&system, &all, 6.0, 0.01).unwrap();
        assert_eq!(classes.iter().map(|c| c.1.len()).collect::<Vec<_>>(), vec![32, 32]);
    }
}

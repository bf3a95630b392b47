//! The parameters of a pair potential per species pair (Lennard-Jones, Morse): the elements it describes, a
//! dense index for each, and one entry per ordered pair, built from `[[potential.pairs]]` entries that name
//! each unordered pair once.

use crate::neighbors::NeighborList;
use crate::potentials::Evaluation;
use crate::system::{elements, System};

/// A problem in `potential.pairs`.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PairTableError {
    #[error("potential.pairs: unknown element '{0}' (expected a chemical symbol such as \"Ar\")")]
    UnknownElement(String),
    #[error("potential.pairs: the pair {0}-{1} is given twice")]
    Duplicate(String, String),
    #[error("potential.pairs: no parameters for the pair {0}-{1}: give it explicitly{2}")]
    Missing(String, String, &'static str),
    #[error("potential.pairs: empty; give at least one [[potential.pairs]] entry")]
    Empty,
}

/// How an unlike pair that is not given gets its parameters from the two like pairs.
pub struct Mixing<'a, P> {
    /// The rule, e.g. geometric means.
    pub rule: &'a dyn Fn(&P, &P) -> P,
    /// Said after "give it explicitly" when a pair is missing, e.g. " (… to be mixed geometrically)".
    pub hint: &'static str,
}

/// Parameters `P` for every ordered pair of the elements a pair potential describes.
#[derive(Clone, Debug, PartialEq)]
pub struct PairTable<P> {
    /// Atomic numbers, ascending.
    species: Vec<u8>,
    /// Dense index by atomic number (`usize::MAX` when absent).
    index_of: Vec<usize>,
    /// `entries[a * n + b]` for dense indices a, b.
    entries: Vec<P>,
}

impl<P: Clone> PairTable<P> {
    /// The table of `given` (element symbols and parameters of each unordered pair, given once), with unlike
    /// pairs not given built by `mixing`; without mixing every pair must be given.
    pub fn build(given: &[([&str; 2], P)], mixing: Option<Mixing<P>>) -> Result<PairTable<P>, PairTableError> {
        if given.is_empty() {
            return Err(PairTableError::Empty);
        }
        let mut numbered = Vec::with_capacity(given.len());
        for (symbols, parameters) in given {
            let z = |symbol: &str| {
                elements::atomic_number(symbol).ok_or_else(|| PairTableError::UnknownElement(symbol.to_string()))
            };
            numbered.push(([z(symbols[0])?, z(symbols[1])?], parameters.clone()));
        }
        let mut species: Vec<u8> = numbered.iter().flat_map(|(zs, _)| *zs).collect();
        species.sort_unstable();
        species.dedup();
        let n = species.len();
        let mut index_of = vec![usize::MAX; 256];
        for (a, &z) in species.iter().enumerate() {
            index_of[z as usize] = a;
        }
        let pair_name =
            |a: usize, b: usize| (elements::symbol(species[a]).to_string(), elements::symbol(species[b]).to_string());
        let mut raw: Vec<Option<P>> = vec![None; n * n];
        for (zs, parameters) in numbered {
            let (a, b) = (index_of[zs[0] as usize], index_of[zs[1] as usize]);
            if raw[a * n + b].is_some() {
                let (x, y) = (elements::symbol(zs[0]).to_string(), elements::symbol(zs[1]).to_string());
                return Err(PairTableError::Duplicate(x, y));
            }
            raw[a * n + b] = Some(parameters.clone());
            raw[b * n + a] = Some(parameters);
        }
        let mut entries = Vec::with_capacity(n * n);
        for a in 0..n {
            for b in 0..n {
                let entry = match (&raw[a * n + b], &raw[a * n + a], &raw[b * n + b], &mixing) {
                    (Some(p), _, _, _) => p.clone(),
                    (None, Some(pa), Some(pb), Some(mixing)) => (mixing.rule)(pa, pb),
                    _ => {
                        let (x, y) = pair_name(a, b);
                        return Err(PairTableError::Missing(x, y, mixing.as_ref().map_or("", |m| m.hint)));
                    }
                };
                entries.push(entry);
            }
        }
        Ok(PairTable { species, index_of, entries })
    }

    /// The same table with every entry transformed (e.g. into the coefficients the force loop uses).
    pub fn map<Q>(&self, f: impl Fn(&P) -> Q) -> PairTable<Q> {
        PairTable {
            species: self.species.clone(),
            index_of: self.index_of.clone(),
            entries: self.entries.iter().map(f).collect(),
        }
    }

    /// The elements described, ascending.
    pub fn species(&self) -> &[u8] {
        &self.species
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> &[P] {
        &self.entries
    }

    /// The dense index of every atom of `system` (elements checked by `check_species` first).
    pub fn types(&self, system: &System) -> Vec<usize> {
        system.atomic_numbers.iter().map(|&z| self.index_of[z as usize]).collect()
    }

    /// The parameters of the pair of dense indices `a`, `b` (from [`types`](Self::types)).
    #[inline(always)]
    pub fn get(&self, a: usize, b: usize) -> &P {
        &self.entries[a * self.species.len() + b]
    }
}

/// The interaction of one species pair inside its cutoff, for [`PairTable::pair_sum`].
pub trait PairFunction {
    /// Square of this pair's cutoff (Å²).
    fn cutoff2(&self) -> f64;
    /// φ(r) (eV, shifted when the potential shifts) and (1/r) dφ/dr (eV/Å²) at r² < `cutoff2`.
    fn energy_and_derivative_over_r(&self, r2: f64) -> (f64, f64);
}

impl<P: PairFunction + Clone + Sync> PairTable<P> {
    /// The pair sum of [`crate::potentials::pair_sum`] with this table's pair of every two atoms, within
    /// `cutoff` (Å, the largest pair cutoff) and each pair's own cutoff.
    pub fn pair_sum(&self, system: &System, neighbors: &NeighborList, cutoff: f64) -> Evaluation {
        let types = self.types(system);
        crate::potentials::pair_sum(system, neighbors, cutoff * cutoff, |i, j, r2| {
            let pair = self.get(types[i], types[j]);
            (r2 < pair.cutoff2()).then(|| pair.energy_and_derivative_over_r(r2))
        })
    }
}

/// Implements [`crate::potentials::Potential`] for a pair potential that is a `pairs: PairTable<_>` of
/// [`PairFunction`]s and their largest `cutoff` (Å): `pair_potential!(Morse, "morse");` beside the type. The
/// energy, forces and virial are [`PairTable::pair_sum`]'s.
macro_rules! pair_potential {
    ($potential:ty, $name:literal) => {
        impl $crate::potentials::Potential for $potential {
            fn name(&self) -> &str {
                $name
            }

            fn cutoff(&self) -> f64 {
                self.cutoff
            }

            fn species(&self) -> Vec<u8> {
                self.pairs.species().to_vec()
            }

            /// The pair sum of [`crate::potentials::pair_sum`] (parallel, independent of the number of threads).
            fn compute(
                &self,
                system: &$crate::system::System,
                neighbors: &$crate::neighbors::NeighborList,
            ) -> $crate::potentials::EvaluationResult {
                Ok(self.pairs.pair_sum(system, neighbors, self.cutoff))
            }
        }
    };
}
pub(crate) use pair_potential;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlike_pairs_are_mixed_or_must_be_given() {
        let mean = |a: &f64, b: &f64| (a * b).sqrt();
        let mixing = || Some(Mixing { rule: &mean, hint: " (or give both like pairs)" });
        let table = PairTable::build(&[(["Ar", "Ar"], 1.0), (["Ne", "Ne"], 4.0)], mixing()).unwrap();
        assert_eq!(table.species(), &[10, 18]);
        assert_eq!((*table.get(0, 0), *table.get(0, 1), *table.get(1, 0), *table.get(1, 1)), (4.0, 2.0, 2.0, 1.0));
        let missing = PairTable::build(&[(["Ar", "Ne"], 1.0)], mixing()).unwrap_err();
        assert_eq!(missing, PairTableError::Missing("Ne".into(), "Ne".into(), " (or give both like pairs)"));
        let unmixed = PairTable::build(&[(["Ar", "Ar"], 1.0), (["Ne", "Ne"], 4.0)], None).unwrap_err();
        assert_eq!(unmixed.to_string(), "potential.pairs: no parameters for the pair Ne-Ar: give it explicitly");
        let twice = PairTable::build(&[(["Ar", "Ne"], 1.0), (["Ne", "Ar"], 1.0)], None).unwrap_err();
        assert_eq!(twice, PairTableError::Duplicate("Ne".into(), "Ar".into()));
        assert_eq!(PairTable::<f64>::build(&[], None).unwrap_err(), PairTableError::Empty);
    }
}

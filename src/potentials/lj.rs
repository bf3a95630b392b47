//! Lennard-Jones 12-6 pair potential, per species pair, as LAMMPS `pair_style lj/cut` (optionally with
//! `pair_modify shift yes`):
//!
//! E(r) = 4ε[(σ/r)¹² − (σ/r)⁶] (− E(r_c) when shifted) for r < r_c, 0 beyond.
//!
//! Pairs not given explicitly are mixed geometrically (LAMMPS's default `pair_modify mix geometric`):
//! ε_ij = √(ε_ii ε_jj), σ_ij = √(σ_ii σ_jj), r_c,ij = the larger of the two cutoffs; mixing needs both like pairs.

use super::pair_table::{Mixing, PairFunction, PairTable, PairTableError};
use super::{Potential, PotentialConfig};
use crate::input::{join, positive, InvalidValue};
use crate::system::elements;
use serde::Deserialize;
use std::sync::Arc;

/// `[potential]` settings for `kind = "lj"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LennardJonesConfig {
    /// Global cutoff (Å), used for pairs without their own.
    pub cutoff: f64,
    /// Shift energies to zero at the cutoff.
    #[serde(default)]
    pub shift: bool,
    /// Parameters per species pair.
    pub pairs: Vec<LennardJonesPairConfig>,
}

impl PotentialConfig for LennardJonesConfig {
    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        LennardJonesConfig::validate(self, key)
    }

    /// A pair cut off below σ keeps only part of its repulsive wall: atoms pass through each other.
    fn warnings(&self, key: &str) -> Vec<String> {
        let mut warnings = Vec::new();
        for (index, pair) in self.pairs.iter().enumerate() {
            let cutoff = pair.cutoff.unwrap_or(self.cutoff);
            if cutoff < pair.sigma {
                let name = if pair.cutoff.is_some() {
                    format!("{key}.pairs[{index}].cutoff")
                } else {
                    format!("{key}.cutoff")
                };
                warnings.push(format!(
                    "{name} = {cutoff} Å is below sigma = {} Å of the {}-{} pair: the pair has no attraction and only \
                     part of its repulsion (2.5 sigma is usual)",
                    pair.sigma, pair.species[0], pair.species[1]
                ));
            }
        }
        warnings
    }

    fn build(&self, _key: &str) -> anyhow::Result<Arc<dyn Potential>> {
        Ok(Arc::new(LennardJones::from_config(self)?))
    }
}

impl LennardJonesConfig {
    /// Checks values without building the table; `key` is the table prefix, e.g. `potential`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        positive(key, "cutoff", self.cutoff)?;
        if self.pairs.is_empty() {
            return Err(InvalidValue::new(join(key, "pairs"), "[]", "at least one [[potential.pairs]] entry"));
        }
        for (index, pair) in self.pairs.iter().enumerate() {
            let prefix = join(key, &format!("pairs[{index}]"));
            for symbol in &pair.species {
                if elements::atomic_number(symbol).is_none() {
                    return Err(InvalidValue::new(
                        join(&prefix, "species"),
                        format!("\"{symbol}\""),
                        "chemical symbols such as \"Ar\"",
                    ));
                }
            }
            positive(&prefix, "epsilon", pair.epsilon)?;
            positive(&prefix, "sigma", pair.sigma)?;
            if let Some(cutoff) = pair.cutoff {
                positive(&prefix, "cutoff", cutoff)?;
            }
        }
        Ok(())
    }
}

/// One `[[potential.pairs]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LennardJonesPairConfig {
    /// The two element symbols, e.g. `["Ar", "Ar"]`.
    pub species: [String; 2],
    /// Well depth ε (eV).
    pub epsilon: f64,
    /// Zero-crossing distance σ (Å).
    pub sigma: f64,
    /// Cutoff for this pair (Å); defaults to the global cutoff.
    pub cutoff: Option<f64>,
}

/// Parameters of one species pair, precomputed for the force loop.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct PairParameters {
    /// 4εσ¹²
    c12: f64,
    /// 4εσ⁶
    c6: f64,
    cutoff2: f64,
    shift: f64,
}

impl PairFunction for PairParameters {
    fn cutoff2(&self) -> f64 {
        self.cutoff2
    }

    /// φ = c12/r¹² − c6/r⁶ − shift and (1/r) dφ/dr = −(12 c12 r⁻¹² − 6 c6 r⁻⁶)/r².
    #[inline(always)]
    fn energy_and_derivative_over_r(&self, r2: f64) -> (f64, f64) {
        let inv_r2 = 1.0 / r2;
        let inv_r6 = inv_r2 * inv_r2 * inv_r2;
        (
            inv_r6 * (self.c12 * inv_r6 - self.c6) - self.shift,
            -inv_r6 * (12.0 * self.c12 * inv_r6 - 6.0 * self.c6) * inv_r2,
        )
    }
}

/// A Lennard-Jones potential over a set of elements.
#[derive(Clone, Debug)]
pub struct LennardJones {
    pairs: PairTable<PairParameters>,
    cutoff: f64,
}

/// A problem in `[potential]` for `kind = "lj"`.
#[derive(Debug, thiserror::Error)]
pub enum LennardJonesError {
    #[error("potential.pairs[{index}].{key} = {value}: expected a positive finite number")]
    NotPositive { index: usize, key: &'static str, value: f64 },
    #[error("potential.cutoff = {0}: expected a positive finite number (Å)")]
    BadCutoff(f64),
    #[error(transparent)]
    Pairs(#[from] PairTableError),
}

/// ε (eV), σ (Å) and cutoff (Å) of one pair.
#[derive(Clone, Copy, Debug)]
struct Given {
    epsilon: f64,
    sigma: f64,
    cutoff: f64,
}

/// LAMMPS's `pair_modify mix geometric`; the mixed cutoff is the larger of the two.
fn mix_geometric(a: &Given, b: &Given) -> Given {
    Given { epsilon: (a.epsilon * b.epsilon).sqrt(), sigma: (a.sigma * b.sigma).sqrt(), cutoff: a.cutoff.max(b.cutoff) }
}

impl LennardJones {
    /// One element (`symbol`, e.g. `"Ar"`) with well depth `epsilon` (eV), σ `sigma` (Å), cutoff (Å), optionally
    /// shifted to zero at the cutoff.
    pub fn single_species(
        symbol: &str,
        epsilon: f64,
        sigma: f64,
        cutoff: f64,
        shift: bool,
    ) -> Result<LennardJones, LennardJonesError> {
        LennardJones::from_config(&LennardJonesConfig {
            cutoff,
            shift,
            pairs: vec![LennardJonesPairConfig {
                species: [symbol.into(), symbol.into()],
                epsilon,
                sigma,
                cutoff: None,
            }],
        })
    }

    /// Builds the pair table from validated settings.
    pub fn from_config(config: &LennardJonesConfig) -> Result<LennardJones, LennardJonesError> {
        if !(config.cutoff > 0.0 && config.cutoff.is_finite()) {
            return Err(LennardJonesError::BadCutoff(config.cutoff));
        }
        let mut given = Vec::with_capacity(config.pairs.len());
        for (index, pair) in config.pairs.iter().enumerate() {
            let cutoff = pair.cutoff.unwrap_or(config.cutoff);
            for (key, value) in [("epsilon", pair.epsilon), ("sigma", pair.sigma), ("cutoff", cutoff)] {
                if !(value > 0.0 && value.is_finite()) {
                    return Err(LennardJonesError::NotPositive { index, key, value });
                }
            }
            let species = [pair.species[0].as_str(), pair.species[1].as_str()];
            given.push((species, Given { epsilon: pair.epsilon, sigma: pair.sigma, cutoff }));
        }
        let mixing = Mixing {
            rule: &mix_geometric,
            hint: " (an unlike pair may be left out only when both like pairs are given, to be mixed geometrically)",
        };
        let table = PairTable::build(&given, Some(mixing))?;
        let pairs = table.map(|&Given { epsilon, sigma, cutoff }| {
            let c6 = 4.0 * epsilon * sigma.powi(6);
            let c12 = 4.0 * epsilon * sigma.powi(12);
            let shift = if config.shift { c12 / cutoff.powi(12) - c6 / cutoff.powi(6) } else { 0.0 };
            PairParameters { c12, c6, cutoff2: cutoff * cutoff, shift }
        });
        let cutoff = table.entries().iter().map(|p| p.cutoff).fold(0.0, f64::max);
        Ok(LennardJones { pairs, cutoff })
    }
}

super::pair_table::pair_potential!(LennardJones, "lj");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::potentials::testing;
    use crate::system::{Cell, System};
    use nalgebra::Vector3;

    fn argon(shift: bool) -> LennardJones {
        LennardJones::single_species("Ar", 0.0103, 3.405, 8.5, shift).unwrap()
    }

    fn dimer(r: f64) -> System {
        testing::dimer(18, 18, r)
    }

    #[test]
    fn dimer_minimum_is_minus_epsilon_at_two_to_the_sixth_sigma() {
        let lj = argon(false);
        let r_min = 2f64.powf(1.0 / 6.0) * 3.405;
        let e = testing::evaluate(&lj, &dimer(r_min));
        assert!((e.energy + 0.0103).abs() < 1e-14);
        assert!(e.forces[0].norm() < 1e-14);
    }

    #[test]
    fn shift_puts_cutoff_energy_at_zero() {
        let lj = argon(true);
        assert!(testing::evaluate(&lj, &dimer(8.5 - 1e-9)).energy.abs() < 1e-12);
        assert_eq!(testing::evaluate(&lj, &dimer(8.6)).energy, 0.0);
    }

    #[test]
    fn forces_and_virial_are_energy_derivatives() {
        let cell =
            Cell::from_vectors(Vector3::new(8.0, 0.0, 0.0), Vector3::new(1.0, 7.5, 0.0), Vector3::new(0.5, -0.3, 8.2))
                .unwrap();
        let mut s = System::new(cell.clone());
        let mut k: f64 = 0.0;
        for a in 0..2 {
            for b in 0..2 {
                for c in 0..2 {
                    k += 0.37;
                    let f =
                        Vector3::new(a as f64 * 0.5 + 0.03 * k.sin(), b as f64 * 0.5 + 0.02 * k.cos(), c as f64 * 0.5);
                    s.push(18, cell.cartesian(&f));
                }
            }
        }
        let lj = argon(true);
        assert!(testing::max_force_error(&lj, &s, 1e-5) < 1e-7);
        assert!(testing::max_virial_error(&lj, &s, 1e-6) < 1e-6);
    }

    #[test]
    fn validate_names_the_bad_key() {
        let mut config = LennardJonesConfig {
            cutoff: 8.5,
            shift: false,
            pairs: vec![LennardJonesPairConfig {
                species: ["Ar".into(), "Ar".into()],
                epsilon: 0.0103,
                sigma: 3.405,
                cutoff: None,
            }],
        };
        assert!(config.validate("potential").is_ok());
        config.pairs[0].sigma = -1.0;
        assert_eq!(
            config.validate("potential").unwrap_err().to_string(),
            "potential.pairs[0].sigma = -1: expected a positive finite number"
        );
        config.pairs[0].species[1] = "Aa".into();
        assert_eq!(
            config.validate("potential").unwrap_err().to_string(),
            "potential.pairs[0].species = \"Aa\": expected chemical symbols such as \"Ar\""
        );
        config.cutoff = 0.0;
        assert_eq!(
            config.validate("potential").unwrap_err().to_string(),
            "potential.cutoff = 0: expected a positive finite number"
        );
    }

    #[test]
    fn mixing_needs_both_like_pairs() {
        let config = LennardJonesConfig {
            cutoff: 5.0,
            shift: false,
            pairs: vec![LennardJonesPairConfig {
                species: ["Ar".into(), "Ne".into()],
                epsilon: 0.01,
                sigma: 3.0,
                cutoff: None,
            }],
        };
        let err = LennardJones::from_config(&config).unwrap_err().to_string();
        assert_eq!(
            err,
            "potential.pairs: no parameters for the pair Ne-Ne: give it explicitly (an unlike pair may be left out \
             only when both like pairs are given, to be mixed geometrically)"
        );
    }
}

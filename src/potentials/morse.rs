//! Morse pair potential per species pair, as LAMMPS `pair_style morse` (optionally `pair_modify shift yes`):
//!
//! E(r) = D₀ [e^(−2α(r−r₀)) − 2 e^(−α(r−r₀))] (− E(r_c) when shifted) for r < r_c, 0 beyond
//!
//! (P. M. Morse, Phys. Rev. 34, 57 (1929)). The well depth D₀ is reached at r₀; α sets its width. As in LAMMPS,
//! there is no mixing rule: every species pair is given. Energies, forces and virials equal LAMMPS's to rounding
//! (tests/morse_lammps.rs, per-pair cutoffs and shifts on a triclinic cell).
//!
//! ```toml
//! [potential]
//! kind = "morse"
//! cutoff_a = 6.0
//! shift = true
//! pairs = [{ species = ["Cu", "Cu"], d0_ev = 0.3429, alpha_per_a = 1.3588, r0_a = 2.866 }]
//! ```

use super::pair_table::{PairFunction, PairTable, PairTableError};
use super::{Potential, PotentialConfig};
use crate::input::{join, positive, InvalidValue};
use crate::system::elements;
use serde::Deserialize;
use std::sync::Arc;

/// `[potential]` settings for `kind = "morse"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MorseConfig {
    /// Cutoff (Å) of the pairs without their own.
    pub cutoff_a: f64,
    /// Shift every pair's energy to zero at its cutoff (LAMMPS `pair_modify shift yes`).
    #[serde(default)]
    pub shift: bool,
    /// Parameters per species pair, each unordered pair once.
    pub pairs: Vec<MorsePairConfig>,
}

/// One entry of `potential.pairs`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MorsePairConfig {
    /// The two element symbols, e.g. `["Cu", "Ni"]`.
    pub species: [String; 2],
    /// Well depth D₀ (eV).
    pub d0_ev: f64,
    /// Width parameter α (1/Å).
    pub alpha_per_a: f64,
    /// Position of the minimum r₀ (Å).
    pub r0_a: f64,
    /// This pair's cutoff (Å); defaults to `cutoff_a`.
    pub cutoff_a: Option<f64>,
}

impl PotentialConfig for MorseConfig {
    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        positive(key, "cutoff_a", self.cutoff_a)?;
        if self.pairs.is_empty() {
            return Err(InvalidValue::new(
                join(key, "pairs"),
                "[]",
                "at least one pair, e.g. { species = [\"Cu\", \"Cu\"], d0_ev = 0.34, alpha_per_a = 1.36, r0_a = 2.87 }",
            ));
        }
        for (index, pair) in self.pairs.iter().enumerate() {
            let prefix = join(key, &format!("pairs[{index}]"));
            if let Some(symbol) = pair.species.iter().find(|s| elements::atomic_number(s).is_none()) {
                return Err(InvalidValue::new(
                    join(&prefix, "species"),
                    format!("\"{symbol}\""),
                    "element symbols such as \"Cu\"",
                ));
            }
            positive(&prefix, "d0_ev", pair.d0_ev)?;
            positive(&prefix, "alpha_per_a", pair.alpha_per_a)?;
            positive(&prefix, "r0_a", pair.r0_a)?;
            if let Some(cutoff) = pair.cutoff_a {
                positive(&prefix, "cutoff_a", cutoff)?;
            }
        }
        Ok(())
    }

    fn build(&self, _key: &str) -> anyhow::Result<Arc<dyn Potential>> {
        Ok(Arc::new(Morse::from_config(self)?))
    }
}

/// One pair's parameters, as the force loop uses them.
#[derive(Clone, Copy, Debug, PartialEq)]
struct MorsePair {
    d0: f64,
    alpha: f64,
    r0: f64,
    cutoff2: f64,
    /// E(r_c) without the shift when shifting, else 0.
    shift: f64,
}

impl PairFunction for MorsePair {
    fn cutoff2(&self) -> f64 {
        self.cutoff2
    }

    #[inline(always)]
    fn energy_and_derivative_over_r(&self, r2: f64) -> (f64, f64) {
        let (energy, derivative_over_r) = self.energy_and_derivative(r2.sqrt());
        (energy - self.shift, derivative_over_r)
    }
}

impl MorsePair {
    /// E(r) before the shift and (1/r) dE/dr.
    #[inline(always)]
    fn energy_and_derivative(&self, r: f64) -> (f64, f64) {
        let e = (-self.alpha * (r - self.r0)).exp();
        (self.d0 * (e * e - 2.0 * e), -2.0 * self.alpha * self.d0 * (e * e - e) / r)
    }
}

/// A Morse potential over a set of elements.
#[derive(Clone, Debug)]
pub struct Morse {
    pairs: PairTable<MorsePair>,
    cutoff: f64,
}

impl Morse {
    /// Builds the pair table from validated settings.
    pub fn from_config(config: &MorseConfig) -> Result<Morse, PairTableError> {
        let given: Vec<([&str; 2], MorsePair)> = config
            .pairs
            .iter()
            .map(|p| {
                let cutoff = p.cutoff_a.unwrap_or(config.cutoff_a);
                let mut pair =
                    MorsePair { d0: p.d0_ev, alpha: p.alpha_per_a, r0: p.r0_a, cutoff2: cutoff * cutoff, shift: 0.0 };
                if config.shift {
                    pair.shift = pair.energy_and_derivative(cutoff).0;
                }
                ([p.species[0].as_str(), p.species[1].as_str()], pair)
            })
            .collect();
        let pairs = PairTable::build(&given, None)?;
        let cutoff = pairs.entries().iter().map(|p| p.cutoff2.sqrt()).fold(0.0, f64::max);
        Ok(Morse { pairs, cutoff })
    }
}

super::pair_table::pair_potential!(Morse, "morse");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::potentials::testing;
    use crate::system::{Cell, System};
    use nalgebra::Vector3;

    fn copper(shift: bool) -> Morse {
        let config: MorseConfig = toml::from_str(&format!(
            "cutoff_a = 6.0\nshift = {shift}\npairs = [{{ species = [\"Cu\", \"Cu\"], d0_ev = 0.3429, alpha_per_a = 1.3588, r0_a = 2.866 }}]"
        ))
        .unwrap();
        config.validate("potential").unwrap();
        Morse::from_config(&config).unwrap()
    }

    fn dimer(r: f64) -> System {
        testing::dimer(29, 29, r)
    }

    #[test]
    fn dimer_minimum_is_minus_d0_at_r0_and_shift_zeroes_the_cutoff() {
        let minimum = testing::evaluate(&copper(false), &dimer(2.866));
        assert!((minimum.energy + 0.3429).abs() < 1e-15 && minimum.forces[0].norm() < 1e-15);
        assert!(testing::evaluate(&copper(true), &dimer(6.0 - 1e-9)).energy.abs() < 1e-10);
        assert_eq!(testing::evaluate(&copper(true), &dimer(6.01)).energy, 0.0);
    }

    #[test]
    fn forces_and_virial_are_energy_derivatives() {
        let cell =
            Cell::from_vectors(Vector3::new(7.3, 0.0, 0.0), Vector3::new(0.8, 7.0, 0.0), Vector3::new(0.4, -0.5, 7.6))
                .unwrap();
        let mut s = System::new(cell.clone());
        for k in 0..8 {
            let t = k as f64;
            let f = Vector3::new((k % 2) as f64 * 0.5, (k / 2 % 2) as f64 * 0.5, (k / 4) as f64 * 0.5);
            s.push(29, cell.cartesian(&(f + Vector3::new(0.02 * t.sin(), 0.03 * t.cos(), 0.01 * t))));
        }
        let morse = copper(true);
        assert!(testing::max_force_error(&morse, &s, 1e-5) < 1e-7);
        assert!(testing::max_virial_error(&morse, &s, 1e-6) < 1e-6);
    }

    #[test]
    fn every_pair_must_be_given() {
        let config: MorseConfig = toml::from_str(
            "cutoff_a = 6.0\npairs = [{ species = [\"Cu\", \"Cu\"], d0_ev = 0.34, alpha_per_a = 1.36, r0_a = 2.87 },\n\
             { species = [\"Ni\", \"Ni\"], d0_ev = 0.42, alpha_per_a = 1.42, r0_a = 2.78 }]",
        )
        .unwrap();
        let err = Morse::from_config(&config).unwrap_err().to_string();
        assert_eq!(err, "potential.pairs: no parameters for the pair Ni-Cu: give it explicitly");
        let mut bad = config.clone();
        bad.pairs[1].alpha_per_a = 0.0;
        assert_eq!(
            bad.validate("potential").unwrap_err().to_string(),
            "potential.pairs[1].alpha_per_a = 0: expected a positive finite number"
        );
    }
}

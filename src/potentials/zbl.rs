//! Ziegler–Biersack–Littmark universal screened nuclear repulsion, as LAMMPS `pair_style zbl inner outer`
//! (J. F. Ziegler, J. P. Biersack, U. Littmark, *The Stopping and Range of Ions in Solids*, Pergamon 1985):
//!
//! E_ZBL(r) = Z_i Z_j e²/(4πε₀ r) · φ(r/a),  a = 0.46850 Å / (Z_i^0.23 + Z_j^0.23),
//! φ(x) = 0.18175 e^(−3.19980x) + 0.50986 e^(−0.94229x) + 0.28022 e^(−0.40290x) + 0.02817 e^(−0.20162x).
//!
//! Between the inner and the outer cutoff LAMMPS's switching function is added, so that the energy and its first
//! and second derivatives vanish at the outer cutoff:
//! E(r) = E_ZBL(r) + C + [r > r_in] (A/3 t³ + B/4 t⁴), t = r − r_in, with A, B, C fixed by E(r_out) = E'(r_out) =
//! E''(r_out) = 0. Below the inner cutoff E is the bare ZBL shifted by the constant C.
//!
//! Its use here is a core repulsion overlaid on a machine-learned potential (`kind = "overlay"`), which has no
//! data, hence no repulsion, where atoms nearly fuse. The nuclear charges are the atoms' atomic numbers.

use super::{EvaluationResult, Potential, PotentialConfig};
use crate::input::{positive, InvalidValue};
use crate::neighbors::NeighborList;
use crate::system::System;
use serde::Deserialize;
use std::sync::Arc;

/// e²/(4πε₀) in eV·Å (LAMMPS `metal` units' qqr2e).
const COULOMB_EV_A: f64 = 14.399_645;
/// Screening-length prefactor (Å).
const SCREENING_LENGTH_A: f64 = 0.468_50;
/// (coefficient, exponent) of the four terms of the universal screening function φ.
const SCREENING: [(f64, f64); 4] =
    [(0.181_75, 3.199_80), (0.509_86, 0.942_29), (0.280_22, 0.402_90), (0.028_17, 0.201_62)];

/// `[potential]` settings for `kind = "zbl"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZblConfig {
    /// Distance (Å) where the switching function starts.
    pub inner_a: f64,
    /// Distance (Å) where energy, force and force derivative reach zero.
    pub outer_a: f64,
}

impl PotentialConfig for ZblConfig {
    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        ZblConfig::validate(self, key)
    }

    fn build(&self, key: &str) -> anyhow::Result<Arc<dyn Potential>> {
        Ok(Arc::new(Zbl::from_config(self, key)?))
    }
}

impl ZblConfig {
    /// Checks 0 < inner_a < outer_a; `key` is the table prefix, e.g. `potential`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        positive(key, "inner_a", self.inner_a)?;
        positive(key, "outer_a", self.outer_a)?;
        if self.outer_a <= self.inner_a {
            return Err(InvalidValue::new(
                crate::input::join(key, "outer_a"),
                self.outer_a,
                format!("a distance (Å) larger than inner_a = {}", self.inner_a),
            ));
        }
        Ok(())
    }
}

/// Parameters of one pair of nuclear charges.
#[derive(Clone, Copy, Debug, Default)]
struct PairParameters {
    /// Z_i Z_j e²/(4πε₀) (eV·Å).
    charge_product: f64,
    /// 1/a (Å⁻¹).
    inverse_screening: f64,
    /// Switching coefficients A, B and the shift C of the module docs.
    switch_a: f64,
    switch_b: f64,
    shift: f64,
}

impl PairParameters {
    fn new(zi: u8, zj: u8, inner: f64, outer: f64) -> PairParameters {
        let a = SCREENING_LENGTH_A / ((zi as f64).powf(0.23) + (zj as f64).powf(0.23));
        let mut p = PairParameters {
            charge_product: zi as f64 * zj as f64 * COULOMB_EV_A,
            inverse_screening: 1.0 / a,
            ..PairParameters::default()
        };
        let (e, de, d2e) = p.bare(outer);
        let tc = outer - inner;
        p.switch_a = (-3.0 * de + tc * d2e) / (tc * tc);
        p.switch_b = (2.0 * de - tc * d2e) / (tc * tc * tc);
        p.shift = -e + 0.5 * tc * de - tc * tc / 12.0 * d2e;
        p
    }

    /// Bare E_ZBL(r) and its first two derivatives.
    fn bare(&self, r: f64) -> (f64, f64, f64) {
        let k = self.inverse_screening;
        let (mut phi, mut dphi, mut d2phi) = (0.0, 0.0, 0.0);
        for (c, d) in SCREENING {
            let term = c * (-d * k * r).exp();
            phi += term;
            dphi -= d * k * term;
            d2phi += d * k * d * k * term;
        }
        let q = self.charge_product;
        let e = q / r * phi;
        let de = q * (dphi / r - phi / (r * r));
        let d2e = q * (d2phi / r - 2.0 * dphi / (r * r) + 2.0 * phi / (r * r * r));
        (e, de, d2e)
    }

    /// Switched energy and dE/dr at r < outer cutoff.
    fn switched(&self, r: f64, inner: f64) -> (f64, f64) {
        let (mut e, mut de, _) = self.bare(r);
        e += self.shift;
        if r > inner {
            let t = r - inner;
            e += t * t * t * (self.switch_a / 3.0 + self.switch_b / 4.0 * t);
            de += t * t * (self.switch_a + self.switch_b * t);
        }
        (e, de)
    }
}

/// The ZBL repulsion between every pair of elements (Z = 1 … 118).
#[derive(Clone, Debug)]
pub struct Zbl {
    inner: f64,
    outer: f64,
    /// Pair table, `pairs[Z_i * (MAX_Z + 1) + Z_j]`, for every pair of elements.
    pairs: Vec<PairParameters>,
}

/// Largest atomic number tabulated.
const MAX_Z: usize = 118;

impl Zbl {
    /// Builds the pair table; `key` names the settings table in errors (`potential`, `potential.terms[1]`).
    pub fn from_config(config: &ZblConfig, key: &str) -> Result<Zbl, InvalidValue> {
        config.validate(key)?;
        let mut pairs = vec![PairParameters::default(); (MAX_Z + 1) * (MAX_Z + 1)];
        for zi in 1..=MAX_Z {
            for zj in 1..=MAX_Z {
                pairs[zi * (MAX_Z + 1) + zj] = PairParameters::new(zi as u8, zj as u8, config.inner_a, config.outer_a);
            }
        }
        Ok(Zbl { inner: config.inner_a, outer: config.outer_a, pairs })
    }

    fn pair(&self, zi: u8, zj: u8) -> &PairParameters {
        &self.pairs[zi as usize * (MAX_Z + 1) + zj as usize]
    }
}

impl Potential for Zbl {
    fn name(&self) -> &str {
        "zbl"
    }

    fn cutoff(&self) -> f64 {
        self.outer
    }

    fn species(&self) -> Vec<u8> {
        (1..=MAX_Z as u8).collect()
    }

    /// The pair sum of [`super::pair_sum`] (parallel, independent of the number of threads). Nearly every pair lies
    /// beyond the outer cutoff, so the cost is the neighbour scan.
    fn compute(&self, system: &System, neighbors: &NeighborList) -> EvaluationResult {
        let z = &system.atomic_numbers;
        Ok(super::pair_sum(system, neighbors, self.outer * self.outer, |i, j, r2| {
            let r = r2.sqrt();
            let (e, de) = self.pair(z[i], z[j]).switched(r, self.inner);
            Some((e, de / r))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::potentials::testing;
    use crate::system::Cell;
    use nalgebra::Vector3;

    fn zbl(inner: f64, outer: f64) -> Zbl {
        Zbl::from_config(&ZblConfig { inner_a: inner, outer_a: outer }, "potential").unwrap()
    }

    /// φ and E_ZBL written out from the published formula, independently of the table code.
    fn published(zi: f64, zj: f64, r: f64) -> f64 {
        let x = r * (zi.powf(0.23) + zj.powf(0.23)) / 0.4685;
        let phi = 0.18175 * (-3.1998 * x).exp()
            + 0.50986 * (-0.94229 * x).exp()
            + 0.28022 * (-0.4029 * x).exp()
            + 0.02817 * (-0.20162 * x).exp();
        14.399645 * zi * zj / r * phi
    }

    #[test]
    fn below_the_inner_cutoff_it_is_the_published_zbl_plus_a_constant() {
        let potential = zbl(0.6, 1.1);
        let e = |r: f64| testing::evaluate(&potential, &testing::dimer(8, 8, r)).energy;
        let shift = e(0.5) - published(8.0, 8.0, 0.5);
        for r in [0.1, 0.2, 0.35, 0.59] {
            assert!((e(r) - published(8.0, 8.0, r) - shift).abs() < 1e-9 * published(8.0, 8.0, r));
        }
        // The shift is small next to the repulsion it leaves: O–O at 0.6 Å still costs 81 eV.
        assert!(e(0.6) > 0.5 * published(8.0, 8.0, 0.6), "{}", e(0.6));
    }

    #[test]
    fn energy_force_and_curvature_vanish_at_the_outer_cutoff() {
        let potential = zbl(0.6, 1.1);
        let pair = potential.pair(3, 8);
        let h = 1e-7;
        let (e0, de0) = pair.switched(1.1, 0.6);
        let (_, de_minus) = pair.switched(1.1 - h, 0.6);
        let (_, _, bare_curvature) = pair.bare(1.1);
        assert!(e0.abs() < 1e-10, "{e0}");
        assert!(de0.abs() < 1e-9, "{de0}");
        let curvature = (de0 - de_minus) / h;
        assert!(curvature.abs() < 1e-5 * bare_curvature, "E'' = {curvature} (bare ZBL: {bare_curvature})");
        assert_eq!(testing::evaluate(&potential, &testing::dimer(3, 8, 1.1 + 1e-9)).energy, 0.0);
    }

    #[test]
    fn repulsive_and_monotonic_inside_the_outer_cutoff() {
        let potential = zbl(0.6, 1.1);
        for (zi, zj) in [(3, 3), (3, 8), (8, 8), (8, 15), (15, 15)] {
            let pair = potential.pair(zi, zj);
            let mut previous = f64::INFINITY;
            for step in 1..110 {
                let (e, de) = pair.switched(0.01 * step as f64, 0.6);
                assert!(e >= 0.0 && e < previous && de < 0.0, "Z {zi}-{zj} at r = {}", 0.01 * step as f64);
                previous = e;
            }
        }
    }

    #[test]
    fn forces_and_virial_are_energy_derivatives() {
        let cell =
            Cell::from_vectors(Vector3::new(3.0, 0.0, 0.0), Vector3::new(0.4, 2.8, 0.0), Vector3::new(0.2, -0.3, 3.1))
                .unwrap();
        let mut s = System::new(cell.clone());
        for (k, (z, f)) in [(3, [0.0, 0.0, 0.0]), (8, [0.25, 0.1, 0.05]), (8, [0.3, 0.35, 0.1]), (15, [0.1, 0.3, 0.3])]
            .into_iter()
            .enumerate()
        {
            let jitter = 0.01 * k as f64;
            s.push(z, cell.cartesian(&Vector3::new(f[0] + jitter, f[1], f[2] - jitter)));
        }
        let potential = zbl(0.5, 1.2);
        assert!(testing::evaluate(&potential, &s).energy > 0.0, "the test structure must have pairs inside 1.2 Å");
        assert!(testing::max_force_error(&potential, &s, 1e-6) < 1e-5);
        assert!(testing::max_virial_error(&potential, &s, 1e-7) < 1e-5);
    }

    #[test]
    fn validate_names_the_bad_key() {
        let bad = ZblConfig { inner_a: 1.2, outer_a: 1.0 };
        assert_eq!(
            bad.validate("potential.terms[1]").unwrap_err().to_string(),
            "potential.terms[1].outer_a = 1: expected a distance (Å) larger than inner_a = 1.2"
        );
        let negative = ZblConfig { inner_a: -0.5, outer_a: 1.0 };
        assert_eq!(
            negative.validate("potential").unwrap_err().to_string(),
            "potential.inner_a = -0.5: expected a positive finite number"
        );
    }
}

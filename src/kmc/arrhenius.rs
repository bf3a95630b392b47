//! The kMC report of an Arrhenius fit D(T) = D₀·exp(−E_a/k_B T) over a temperature sweep. The fit itself is
//! the engine's one Arrhenius fit, [`crate::analysis::arrhenius::fit_arrhenius`]: least squares of
//! ln D = ln D₀ − E_a/(k_B T), weighted by (D/σ_D)² when every point has an uncertainty, variances scaled by
//! χ²/dof when the scatter exceeds the stated errors. This module only expresses it in Å²/ps and cm²/s, with the
//! analysis' spelling `*_sigma_*` for standard errors (σ(E_a), σ(D₀)).

use crate::analysis::arrhenius::{self as analysis, fit_arrhenius, ArrheniusPoint};
use crate::units::A2_PER_PS_IN_CM2_PER_S;

/// Result of an Arrhenius fit.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct ArrheniusFit {
    /// Activation energy E_a (eV) and its standard error (σ, as [`analysis::ArrheniusFit`] names it).
    pub activation_energy_ev: f64,
    /// Before issue 18 this key was `activation_energy_err_ev`; summaries written then still read.
    #[serde(alias = "activation_energy_err_ev")]
    pub activation_energy_sigma_ev: f64,
    /// Prefactor D₀ (Å²/ps) and its standard error (from that of ln D₀, to first order).
    pub prefactor_a2_per_ps: f64,
    /// Before issue 18 `prefactor_err_a2_per_ps`; summaries written then still read.
    #[serde(alias = "prefactor_err_a2_per_ps")]
    pub prefactor_sigma_a2_per_ps: f64,
    /// D₀ in cm²/s (1 Å²/ps = 10⁻⁴ cm²/s).
    pub prefactor_cm2_per_s: f64,
    /// Before issue 18 `prefactor_err_cm2_per_s`.
    #[serde(alias = "prefactor_err_cm2_per_s")]
    pub prefactor_sigma_cm2_per_s: f64,
    /// χ²/(n − 2) of the weighted fit (0 for two points).
    pub reduced_chi_squared: f64,
    /// Number of temperatures fitted.
    pub points: usize,
}

/// Fits (T in K, D, σ_D) triples, D in Å²/ps. Returns `None` when no fit is possible (fewer than two distinct
/// temperatures, a non-positive D, or fewer than three points without uncertainties). The fit keeps its points,
/// for the plot; [`ArrheniusFit::of`] is its report.
pub fn fit(points: &[(f64, f64, f64)]) -> Option<analysis::ArrheniusFit> {
    let points: Vec<ArrheniusPoint> =
        points.iter().map(|&(temperature_k, value, sigma)| ArrheniusPoint { temperature_k, value, sigma }).collect();
    fit_arrhenius(&points).ok()
}

impl ArrheniusFit {
    /// The report of `fit`, a fit of D in Å²/ps.
    pub fn of(fit: &analysis::ArrheniusFit) -> ArrheniusFit {
        ArrheniusFit {
            activation_energy_ev: fit.activation_energy_ev,
            activation_energy_sigma_ev: fit.activation_energy_sigma_ev,
            prefactor_a2_per_ps: fit.prefactor,
            prefactor_sigma_a2_per_ps: fit.prefactor_sigma,
            prefactor_cm2_per_s: fit.prefactor * A2_PER_PS_IN_CM2_PER_S,
            prefactor_sigma_cm2_per_s: fit.prefactor_sigma * A2_PER_PS_IN_CM2_PER_S,
            reduced_chi_squared: fit.chi2_per_dof,
            points: fit.points.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::BOLTZMANN_EV_PER_K;

    #[test]
    fn exact_arrhenius_data_is_recovered() {
        let (ea, d0) = (0.57, 3.2e-2);
        let points: Vec<_> = [400.0, 500.0, 650.0, 800.0]
            .iter()
            .map(|&t| {
                let d = d0 * f64::exp(-ea / (BOLTZMANN_EV_PER_K * t));
                (t, d, 0.01 * d)
            })
            .collect();
        let f = ArrheniusFit::of(&fit(&points).unwrap());
        assert!((f.activation_energy_ev - ea).abs() < 1e-10);
        assert!((f.prefactor_a2_per_ps / d0 - 1.0).abs() < 1e-9);
        assert!(f.reduced_chi_squared < 1e-12);
        // Errors from the stated 1 % uncertainties: σ_b = sqrt(S/Δ) with w = 10⁴.
        let x: Vec<f64> = points.iter().map(|p| 1.0 / p.0).collect();
        let mean = x.iter().sum::<f64>() / 4.0;
        let sxx_centred: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
        let expected = BOLTZMANN_EV_PER_K * 0.01 / sxx_centred.sqrt();
        assert!((f.activation_energy_sigma_ev / expected - 1.0).abs() < 1e-9);
    }

    #[test]
    fn degenerate_input_gives_none() {
        assert!(fit(&[(500.0, 1.0, 0.1)]).is_none());
        assert!(fit(&[(500.0, 1.0, 0.1), (500.0, 2.0, 0.1)]).is_none());
        assert!(fit(&[(500.0, 0.0, 0.1), (600.0, 2.0, 0.1)]).is_none());
    }
}

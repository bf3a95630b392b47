//! Arrhenius fit of a thermally activated quantity (diffusion coefficients, conductivities, kMC rates):
//!
//!   D(T) = D₀ exp(−E_a / (k_B T))   ⇔   ln D = ln D₀ − E_a · x,   x = 1 / (k_B T).
//!
//! Weighted linear least squares of ln D on x with σ(ln D) = σ_D / D (first-order error propagation),
//! Cov(a, b) = (Xᵀ W X)⁻¹; when χ²/dof > 1 the covariance is multiplied by χ²/dof (the Birge ratio squared),
//! so scatter beyond the stated errors widens the uncertainty instead of being ignored. Without stated errors
//! (all σ = 0) the fit is unweighted and the covariance comes from the residuals (needs ≥ 3 points).

use crate::plot::{Series, Style};
use crate::system::BOLTZMANN_EV_PER_K;

/// One measured point.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct ArrheniusPoint {
    pub temperature_k: f64,
    pub value: f64,
    /// Standard uncertainty of `value` (0 = unknown).
    pub sigma: f64,
}

/// Result of an Arrhenius fit. The prefactor has the units of the fitted values.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct ArrheniusFit {
    pub activation_energy_ev: f64,
    pub activation_energy_sigma_ev: f64,
    pub prefactor: f64,
    /// Standard uncertainty of the prefactor (from that of ln D₀).
    pub prefactor_sigma: f64,
    pub ln_prefactor: f64,
    pub ln_prefactor_sigma: f64,
    /// Covariance of (ln D₀, E_a) (eV).
    pub covariance_ln_prefactor_activation_energy: f64,
    pub chi2_per_dof: f64,
    pub weighted: bool,
    pub points: Vec<ArrheniusPoint>,
}

impl ArrheniusFit {
    /// Value and standard uncertainty predicted at temperature `t` (K), including the covariance of the fit.
    pub fn predict(&self, temperature_k: f64) -> (f64, f64) {
        let x = 1.0 / (BOLTZMANN_EV_PER_K * temperature_k);
        let ln_value = self.ln_prefactor - self.activation_energy_ev * x;
        let variance = self.ln_prefactor_sigma.powi(2) + x * x * self.activation_energy_sigma_ev.powi(2)
            - 2.0 * x * self.covariance_ln_prefactor_activation_energy;
        let value = ln_value.exp();
        (value, value * variance.max(0.0).sqrt())
    }
}

/// `fit`'s points as markers with their error bars and its line over their temperature range, both in `color`, for
/// a plot of D (log axis) against 1000/T (K⁻¹), where the line is straight.
pub fn plot_series(fit: &ArrheniusFit, points_label: String, line_label: String, color: &'static str) -> [Series; 2] {
    let x: Vec<f64> = fit.points.iter().map(|p| 1000.0 / p.temperature_k).collect();
    let coldest = fit.points.iter().map(|p| p.temperature_k).fold(f64::INFINITY, f64::min);
    let hottest = fit.points.iter().map(|p| p.temperature_k).fold(0.0, f64::max);
    let points = Series::new(points_label, x, fit.points.iter().map(|p| p.value).collect(), Style::Markers)
        .with_errors(fit.points.iter().map(|p| p.sigma).collect())
        .with_color(color);
    let line = Series::new(
        line_label,
        vec![1000.0 / coldest, 1000.0 / hottest],
        vec![fit.predict(coldest).0, fit.predict(hottest).0],
        Style::Dashed,
    )
    .with_color(color);
    [points, line]
}

/// Fits D₀ and E_a. Errors name the offending point.
pub fn fit_arrhenius(points: &[ArrheniusPoint]) -> Result<ArrheniusFit, String> {
    for (k, p) in points.iter().enumerate() {
        if !(p.temperature_k > 0.0 && p.temperature_k.is_finite()) {
            return Err(format!("point {k}: temperature {} K must be positive", p.temperature_k));
        }
        if !(p.value > 0.0 && p.value.is_finite()) {
            return Err(format!(
                "point {k} at {} K: value {} must be positive for a logarithm",
                p.temperature_k, p.value
            ));
        }
        if !(p.sigma >= 0.0 && p.sigma.is_finite()) {
            return Err(format!("point {k} at {} K: uncertainty {} must be ≥ 0", p.temperature_k, p.sigma));
        }
    }
    let mut temperatures: Vec<f64> = points.iter().map(|p| p.temperature_k).collect();
    temperatures.sort_by(f64::total_cmp);
    temperatures.dedup();
    if temperatures.len() < 2 {
        return Err(format!("{} distinct temperature(s); an Arrhenius fit needs at least 2", temperatures.len()));
    }
    let weighted = points.iter().all(|p| p.sigma > 0.0);
    if !weighted && points.len() < 3 {
        return Err("without uncertainties on every point an Arrhenius fit needs at least 3 points".into());
    }
    let xs: Vec<f64> = points.iter().map(|p| 1.0 / (BOLTZMANN_EV_PER_K * p.temperature_k)).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.value.ln()).collect();
    let ws: Vec<f64> = points.iter().map(|p| if weighted { (p.value / p.sigma).powi(2) } else { 1.0 }).collect();
    let (s, sx, sxx, sy, sxy) = xs.iter().zip(&ys).zip(&ws).fold((0.0, 0.0, 0.0, 0.0, 0.0), |acc, ((x, y), w)| {
        (acc.0 + w, acc.1 + w * x, acc.2 + w * x * x, acc.3 + w * y, acc.4 + w * x * y)
    });
    let det = s * sxx - sx * sx;
    let slope = (s * sxy - sx * sy) / det;
    let intercept = (sxx * sy - sx * sxy) / det;
    let chi2: f64 = xs.iter().zip(&ys).zip(&ws).map(|((x, y), w)| w * (y - intercept - slope * x).powi(2)).sum();
    let dof = points.len().saturating_sub(2);
    let chi2_per_dof = if dof > 0 { chi2 / dof as f64 } else { 0.0 };
    // Unweighted: residual variance; weighted: stated errors, inflated when the scatter exceeds them.
    let factor = if weighted { chi2_per_dof.max(1.0) } else { chi2_per_dof };
    let var_intercept = sxx / det * factor;
    let var_slope = s / det * factor;
    let cov_intercept_slope = -sx / det * factor;
    Ok(ArrheniusFit {
        activation_energy_ev: -slope,
        activation_energy_sigma_ev: var_slope.sqrt(),
        prefactor: intercept.exp(),
        prefactor_sigma: intercept.exp() * var_intercept.sqrt(),
        ln_prefactor: intercept,
        ln_prefactor_sigma: var_intercept.sqrt(),
        covariance_ln_prefactor_activation_energy: -cov_intercept_slope,
        chi2_per_dof,
        weighted,
        points: points.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn synthetic(ea: f64, d0: f64, relative_error: f64, seed: u64) -> Vec<ArrheniusPoint> {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let noise = Normal::new(0.0, 1.0).unwrap();
        [500.0, 600.0, 700.0, 800.0, 1000.0, 1200.0]
            .iter()
            .map(|&t| {
                let exact = d0 * (-ea / (BOLTZMANN_EV_PER_K * t)).exp();
                let value = exact * (1.0 + relative_error * noise.sample(&mut rng));
                ArrheniusPoint { temperature_k: t, value, sigma: relative_error * exact }
            })
            .collect()
    }

    #[test]
    fn exact_data_give_the_activation_energy() {
        let fit = fit_arrhenius(&synthetic(0.35, 2.5e-3, 0.0, 1)[..]).unwrap();
        assert!((fit.activation_energy_ev - 0.35).abs() < 1e-10);
        assert!((fit.prefactor / 2.5e-3 - 1.0).abs() < 1e-9);
        assert!(!fit.weighted);
        let (d, _) = fit.predict(300.0);
        assert!((d / (2.5e-3 * (-0.35 / (BOLTZMANN_EV_PER_K * 300.0)).exp()) - 1.0).abs() < 1e-8);
    }

    #[test]
    fn noisy_data_recover_the_activation_energy_within_the_stated_uncertainty() {
        // Over many synthetic data sets with 5 % noise, |E_a − 0.25| < σ about 68 % of the time.
        let trials = 400;
        let mut inside = 0;
        for seed in 0..trials {
            let fit = fit_arrhenius(&synthetic(0.25, 1e-2, 0.05, seed)).unwrap();
            assert!(fit.weighted);
            if (fit.activation_energy_ev - 0.25).abs() < fit.activation_energy_sigma_ev {
                inside += 1;
            }
        }
        let fraction = inside as f64 / trials as f64;
        // The Birge-ratio inflation makes the interval slightly conservative.
        assert!((0.62..0.85).contains(&fraction), "coverage {fraction}");
    }

    #[test]
    fn bad_points_are_named() {
        let points = [
            ArrheniusPoint { temperature_k: 500.0, value: 1e-5, sigma: 1e-6 },
            ArrheniusPoint { temperature_k: 600.0, value: -1.0, sigma: 1e-6 },
        ];
        let err = fit_arrhenius(&points).unwrap_err();
        assert!(err.contains("point 1 at 600 K"), "{err}");
        let err = fit_arrhenius(&points[..1]).unwrap_err();
        assert!(err.contains("at least 2"), "{err}");
    }
}

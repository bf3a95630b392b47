//! Arrhenius fit D(T) = D₀·exp(−E_a/k_B T) by weighted least squares of ln D against 1/T.
//!
//! With y_i = ln D_i, x_i = 1/T_i and weights w_i = 1/σ²(ln D_i) = (D_i/σ_i)², the straight line y = a + b·x
//! minimising Σ w_i (y_i − a − b x_i)² has (Bevington & Robinson, *Data Reduction and Error Analysis*, ch. 6)
//! Δ = S·S_xx − S_x², b = (S·S_xy − S_x·S_y)/Δ, a = (S_xx·S_y − S_x·S_xy)/Δ, var b = S/Δ, var a = S_xx/Δ,
//! where S = Σw, S_x = Σw x, … Then E_a = −k_B·b and D₀ = exp(a). When there are more than two points and the
//! reduced χ² exceeds 1 (scatter larger than the stated errors), the variances are scaled by χ²_red. Points
//! without an uncertainty (σ = 0) make the fit unweighted (all w = 1) and the errors come from the scatter.

use crate::system::BOLTZMANN_EV_PER_K;

/// Result of an Arrhenius fit.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ArrheniusFit {
    /// Activation energy E_a (eV) and its standard error.
    pub activation_energy_ev: f64,
    pub activation_energy_err_ev: f64,
    /// Prefactor D₀ (Å²/ps) and its standard error (from that of ln D₀, to first order).
    pub prefactor_a2_per_ps: f64,
    pub prefactor_err_a2_per_ps: f64,
    /// D₀ in cm²/s (1 Å²/ps = 10⁻⁴ cm²/s).
    pub prefactor_cm2_per_s: f64,
    pub prefactor_err_cm2_per_s: f64,
    /// χ²/(n − 2) of the weighted fit (0 for two points).
    pub reduced_chi_squared: f64,
    /// Number of temperatures fitted.
    pub points: usize,
}

/// Fits (T in K, D, σ_D) triples, D in any unit (D₀ comes out in the same unit; the `_a2_per_ps` fields assume
/// Å²/ps). Returns `None` with fewer than two distinct temperatures or a non-positive D.
pub fn fit(points: &[(f64, f64, f64)]) -> Option<ArrheniusFit> {
    if points.len() < 2 || points.iter().any(|&(t, d, s)| !(t > 0.0 && d > 0.0 && s >= 0.0 && s.is_finite())) {
        return None;
    }
    let weighted = points.iter().all(|&(_, _, s)| s > 0.0);
    let data: Vec<(f64, f64, f64)> =
        points.iter().map(|&(t, d, s)| (1.0 / t, d.ln(), if weighted { (d / s).powi(2) } else { 1.0 })).collect();
    let (mut s, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(x, y, w) in &data {
        s += w;
        sx += w * x;
        sy += w * y;
        sxx += w * x * x;
        sxy += w * x * y;
    }
    let delta = s * sxx - sx * sx;
    if delta <= 1e-12 * s * sxx || delta.is_nan() {
        return None;
    }
    let slope = (s * sxy - sx * sy) / delta;
    let intercept = (sxx * sy - sx * sxy) / delta;
    let chi2: f64 = data.iter().map(|&(x, y, w)| w * (y - intercept - slope * x).powi(2)).sum();
    let n = data.len();
    let reduced = if n > 2 { chi2 / (n - 2) as f64 } else { 0.0 };
    let scale = if !weighted { reduced } else { reduced.max(1.0) };
    let var_slope = s / delta * scale;
    let var_intercept = sxx / delta * scale;
    let d0 = intercept.exp();
    let d0_err = d0 * var_intercept.sqrt();
    Some(ArrheniusFit {
        activation_energy_ev: -slope * BOLTZMANN_EV_PER_K,
        activation_energy_err_ev: var_slope.sqrt() * BOLTZMANN_EV_PER_K,
        prefactor_a2_per_ps: d0,
        prefactor_err_a2_per_ps: d0_err,
        prefactor_cm2_per_s: d0 * 1e-4,
        prefactor_err_cm2_per_s: d0_err * 1e-4,
        reduced_chi_squared: reduced,
        points: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let f = fit(&points).unwrap();
        assert!((f.activation_energy_ev - ea).abs() < 1e-10);
        assert!((f.prefactor_a2_per_ps / d0 - 1.0).abs() < 1e-9);
        assert!(f.reduced_chi_squared < 1e-12);
        // Errors from the stated 1 % uncertainties: σ_b = sqrt(S/Δ) with w = 10⁴.
        let x: Vec<f64> = points.iter().map(|p| 1.0 / p.0).collect();
        let mean = x.iter().sum::<f64>() / 4.0;
        let sxx_centred: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
        let expected = BOLTZMANN_EV_PER_K * 0.01 / sxx_centred.sqrt();
        assert!((f.activation_energy_err_ev / expected - 1.0).abs() < 1e-9);
    }

    #[test]
    fn degenerate_input_gives_none() {
        assert!(fit(&[(500.0, 1.0, 0.1)]).is_none());
        assert!(fit(&[(500.0, 1.0, 0.1), (500.0, 2.0, 0.1)]).is_none());
        assert!(fit(&[(500.0, 0.0, 0.1), (600.0, 2.0, 0.1)]).is_none());
    }
}

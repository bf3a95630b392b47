//! Tracer diffusion coefficient from the MSD, with an uncertainty that accounts for the strong correlation
//! between MSD points at different lags.
//!
//! Model: MSD(t) = 6 D t + c over a fit window. The MSD values at lags a ≤ b (in frames), averaged over all
//! K ≈ N − b origins and n independent atoms, are correlated; for a random walk the covariance is exactly
//!
//!   Σ_ab = V_a^{1/2} V_b^{1/2} / (a b) · g(a, b) / (K n),
//!   g(a, b) = (b − a + 1) a² + (a − 1) a (2a − 1) / 3     (Σ_d overlap² of the two displacement windows),
//!
//! (implemented as variances with K_a = N − a origins times the random-walk correlation
//! g(a, b)/√(g(a, a) g(b, b)), which keeps Σ positive definite),
//!
//! where V_a = ⟨Δr⁴(a)⟩ − ⟨Δr²(a)⟩² is the variance of a single squared displacement, measured from the data
//! (so non-Gaussian, hopping motion widens the error bars as it should). For a = b this reduces to
//! Var(MSD_a) = V_a (2a² + 1) / (3 a K n), the discrete form of the result of Qian, Sheetz & Elson, Biophys. J.
//! 60, 910 (1991). The slope is then found by generalised least squares with this covariance,
//!   β = (Xᵀ Σ⁻¹ X)⁻¹ Xᵀ Σ⁻¹ y,   Cov(β) = (Xᵀ Σ⁻¹ X)⁻¹,
//! as in kinisi (McCluskey, Coles, Morgan, J. Chem. Theory Comput. 20, 2024; Bullerjahn, von Bülow, Hummer,
//! J. Chem. Phys. 153, 024116 (2020)): the ordinary least-squares error bar, which treats the points as
//! independent, is too small by an order of magnitude.

use nalgebra::{DMatrix, DVector};

/// Conversion of a diffusion coefficient from Å²/ps to cm²/s.
pub const A2_PER_PS_IN_CM2_PER_S: f64 = 1e-4;

/// Lag indices (frames) used in the fit: at most `max_points` evenly spaced lags in [first, last].
pub fn fit_lags(first: usize, last: usize, max_points: usize) -> Vec<usize> {
    let first = first.max(1);
    if last < first {
        return Vec::new();
    }
    let span = last - first;
    let points = max_points.max(2).min(span + 1);
    let mut lags: Vec<usize> = (0..points)
        .map(|j| first + ((j as f64) * span as f64 / (points - 1).max(1) as f64).round() as usize)
        .collect();
    lags.dedup();
    lags
}

/// Inputs of a diffusion fit at the chosen lags.
#[derive(Clone, Debug)]
pub struct FitInput<'a> {
    /// Lags in frames (increasing, ≥ 1).
    pub lags: &'a [usize],
    /// MSD at those lags (Å²), averaged over atoms and origins.
    pub msd: &'a [f64],
    /// Variance of one squared displacement at those lags (Å⁴).
    pub displacement_variance: &'a [f64],
    /// Frames in the trajectory.
    pub frames: usize,
    /// Atoms averaged over.
    pub atoms: usize,
    /// Time between frames (fs).
    pub frame_interval_fs: f64,
}

/// Result of a diffusion fit.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DiffusionFit {
    /// D (Å²/ps) and its standard uncertainty.
    pub d_a2_per_ps: f64,
    pub d_sigma_a2_per_ps: f64,
    /// The same in cm²/s.
    pub d_cm2_per_s: f64,
    pub d_sigma_cm2_per_s: f64,
    /// Intercept of the fitted line (Å²), absorbing the ballistic/vibrational offset.
    pub intercept_a2: f64,
    pub fit_start_ps: f64,
    pub fit_end_ps: f64,
    pub fit_points: usize,
    /// χ² per degree of freedom of the generalised fit (≈ 1 when the covariance model fits the data).
    pub chi2_per_dof: f64,
    /// Ordinary least-squares D (Å²/ps) and its naive error bar (points treated as independent), for comparison.
    pub d_ols_a2_per_ps: f64,
    pub d_ols_naive_sigma_a2_per_ps: f64,
}

/// g(a, b) = Σ_d overlap(d)² of displacement windows of a and b frames (a ≤ b).
fn overlap_sum(a: usize, b: usize) -> f64 {
    let (a, b) = (a.min(b) as f64, a.max(b) as f64);
    (b - a + 1.0) * a * a + (a - 1.0) * a * (2.0 * a - 1.0) / 3.0
}

/// The model covariance of the MSD points (Å⁴): Σ_ab = s_a s_b R_ab with the variances
/// s_a² = V_a (2a² + 1) / (3 a (N − a) n) and the random-walk correlation R_ab = g(a, b) / √(g(a, a) g(b, b)),
/// which is positive definite by construction.
pub fn msd_covariance(input: &FitInput) -> DMatrix<f64> {
    let n = input.lags.len();
    let floor = 1e-300;
    let sd: Vec<f64> = (0..n)
        .map(|j| {
            let a = input.lags[j];
            let origins = input.frames.saturating_sub(a).max(1) as f64;
            let v = input.displacement_variance[j].max(floor);
            (v * overlap_sum(a, a) / (a as f64 * a as f64 * origins * input.atoms.max(1) as f64)).sqrt()
        })
        .collect();
    DMatrix::from_fn(n, n, |j, k| {
        let (a, b) = (input.lags[j], input.lags[k]);
        let correlation = overlap_sum(a, b) / (overlap_sum(a, a) * overlap_sum(b, b)).sqrt();
        sd[j] * sd[k] * correlation
    })
}

/// Fits MSD = 6 D t + c by generalised least squares with the covariance of [`msd_covariance`].
pub fn fit_diffusion(input: &FitInput) -> Result<DiffusionFit, String> {
    let n = input.lags.len();
    if n < 3 {
        return Err(format!("the fit window holds {n} lag(s); at least 3 are needed (lengthen the window)"));
    }
    if input.msd.len() != n || input.displacement_variance.len() != n {
        return Err("lags, MSD and variances differ in length".into());
    }
    let dt_ps = input.frame_interval_fs * 1e-3;
    let times: Vec<f64> = input.lags.iter().map(|&m| m as f64 * dt_ps).collect();
    let x = DMatrix::from_fn(n, 2, |j, k| if k == 0 { 1.0 } else { times[j] });
    let y = DVector::from_column_slice(input.msd);

    // Ordinary least squares, for comparison only.
    let xtx = x.transpose() * &x;
    let xtx_inv = xtx.try_inverse().ok_or("the fit window has a single time")?;
    let beta_ols = &xtx_inv * x.transpose() * &y;
    let residual = &y - &x * &beta_ols;
    let s2 = residual.norm_squared() / (n - 2) as f64;
    let ols_sigma_slope = (s2 * xtx_inv[(1, 1)]).sqrt();

    // Generalised least squares: scale Σ to unit diagonal for a well-conditioned Cholesky factorisation.
    let sigma = msd_covariance(input);
    let scale: Vec<f64> = (0..n).map(|j| sigma[(j, j)].sqrt()).collect();
    let correlation = DMatrix::from_fn(n, n, |j, k| sigma[(j, k)] / (scale[j] * scale[k]));
    let cholesky = correlation
        .cholesky()
        .ok_or("the MSD covariance is not positive definite (too many or too close fit points)")?;
    let xs = DMatrix::from_fn(n, 2, |j, k| x[(j, k)] / scale[j]);
    let ys = DVector::from_fn(n, |j, _| y[j] / scale[j]);
    let x_white = cholesky.l().solve_lower_triangular(&xs).ok_or("singular covariance")?;
    let y_white = cholesky.l().solve_lower_triangular(&ys).ok_or("singular covariance")?;
    let normal = x_white.transpose() * &x_white;
    let covariance = normal.try_inverse().ok_or("the generalised normal equations are singular")?;
    let beta = &covariance * x_white.transpose() * &y_white;
    let chi2 = (&y_white - &x_white * &beta).norm_squared();

    let d = beta[1] / 6.0;
    let d_sigma = covariance[(1, 1)].max(0.0).sqrt() / 6.0;
    Ok(DiffusionFit {
        d_a2_per_ps: d,
        d_sigma_a2_per_ps: d_sigma,
        d_cm2_per_s: d * A2_PER_PS_IN_CM2_PER_S,
        d_sigma_cm2_per_s: d_sigma * A2_PER_PS_IN_CM2_PER_S,
        intercept_a2: beta[0],
        fit_start_ps: times[0],
        fit_end_ps: times[n - 1],
        fit_points: n,
        chi2_per_dof: chi2 / (n - 2) as f64,
        d_ols_a2_per_ps: beta_ols[1] / 6.0,
        d_ols_naive_sigma_a2_per_ps: ols_sigma_slope / 6.0,
    })
}

/// Nernst–Einstein conductivity σ = n q² e² D / (k_B T) of one species in S/cm, from N atoms of charge
/// `charge` (e) in volume V (Å³), D in Å²/ps, T in K. (Tracer D, Haven ratio 1.)
pub fn nernst_einstein_s_per_cm(atoms: usize, charge: f64, volume_a3: f64, d_a2_per_ps: f64, temperature_k: f64) -> f64 {
    let elementary_charge = 1.602_176_634e-19;
    let density_per_m3 = atoms as f64 / (volume_a3 * 1e-30);
    let d_m2_per_s = d_a2_per_ps * 1e-8;
    let kt_ev = crate::system::BOLTZMANN_EV_PER_K * temperature_k;
    // q² e² D n / (k_B T) with k_B T in J = e · kT_eV.
    density_per_m3 * charge * charge * elementary_charge * d_m2_per_s / kt_ev / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_sum_matches_brute_force() {
        for a in 1..6 {
            for b in a..9 {
                let mut total = 0.0;
                for d in -20i64..20 {
                    // Window [0, a) against [d, d + b).
                    let lo = 0i64.max(d);
                    let hi = (a as i64).min(d + b as i64);
                    let overlap = (hi - lo).max(0) as f64;
                    total += overlap * overlap;
                }
                assert_eq!(overlap_sum(a, b), total, "a={a} b={b}");
            }
        }
    }

    #[test]
    fn exact_line_is_recovered() {
        let lags: Vec<usize> = (5..40).step_by(5).collect();
        let msd: Vec<f64> = lags.iter().map(|&m| 6.0 * 0.3 * m as f64 * 0.002 + 0.5).collect();
        let variance: Vec<f64> = lags.iter().map(|&m| m as f64).collect();
        let fit = fit_diffusion(&FitInput {
            lags: &lags,
            msd: &msd,
            displacement_variance: &variance,
            frames: 100,
            atoms: 10,
            frame_interval_fs: 2.0,
        })
        .unwrap();
        assert!((fit.d_a2_per_ps - 0.3).abs() < 1e-9);
        assert!((fit.intercept_a2 - 0.5).abs() < 1e-9);
        assert!(fit.chi2_per_dof < 1e-12);
    }

    #[test]
    fn nernst_einstein_matches_hand_calculation() {
        // 10 Li⁺ in 1000 Å³ at 300 K with D = 0.01 Å²/ps = 1e-10 m²/s:
        // n = 1e28 m⁻³, σ = n e² D / kT = 1e28 · (1.602e-19)² · 1e-10 / (1.380649e-23 · 300) S/m.
        let expected = 1e28 * 1.602_176_634e-19f64.powi(2) * 1e-10 / (1.380_649e-23 * 300.0) / 100.0;
        let got = nernst_einstein_s_per_cm(10, 1.0, 1000.0, 0.01, 300.0);
        assert!((got / expected - 1.0).abs() < 1e-6, "{got} vs {expected}");
    }

    #[test]
    fn lags_are_spread_over_the_window() {
        assert_eq!(fit_lags(0, 4, 10), vec![1, 2, 3, 4]);
        let lags = fit_lags(100, 1000, 10);
        assert_eq!(lags.len(), 10);
        assert_eq!((lags[0], lags[9]), (100, 1000));
    }
}

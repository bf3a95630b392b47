//! Tracer diffusion coefficient from the MSD, with an uncertainty that accounts for the strong correlation
//! between MSD points at different lags.
//!
//! Model: MSD(t) = 6 D t + c over a fit window. The MSD at lag a (frames) is averaged over the K_a = N − a
//! origins of a trajectory of N frames and over n independent atoms. For a Gaussian random walk the covariance
//! of two such averages is exact and finite-size aware (per Cartesian direction, step variance σ²):
//!
//!   Cov(MSD_a, MSD_b) = 2σ⁴ / (K_a K_b) Σ_d c_ab(d) w_ab(d)²,
//!   w_ab(d) = max(0, min(a, d + b) − max(0, d))          (overlap of the displacement windows [s, s+a), [s+d, s+d+b)),
//!   c_ab(d) = max(0, min(K_a, K_b − d) − max(0, −d))     (number of origin pairs at offset d),
//!
//! since Cov(X², Y²) = 2 Cov(X, Y)² for jointly Gaussian increments (for K ≫ a this is the
//! 2σ⁴(2a³ + a)/(3K) variance of Qian, Sheetz & Elson, Biophys. J. 60, 910 (1991)). The fit uses
//! Σ_ab = s_a s_b R_ab: the random-walk correlation R_ab = C_ab / √(C_aa C_bb) (C the double sum above), and
//! variances s_a² = κ MSD_model(a)² C_aa / (a² n), where κ is the median over the window of V_a / MSD_a², with
//! V_a = ⟨Δr⁴⟩ − ⟨Δr²⟩² the measured variance of one squared displacement (κ = 2/3 for Gaussian displacements; hopping, non-Gaussian
//! motion raises it and widens the error bar as it should). The scale MSD_model is the fitted line, not the
//! noisy data, as in kinisi: variances taken from the data themselves bias the slope low.
//!
//! The slope is found by generalised least squares, β = (Xᵀ Σ⁻¹ X)⁻¹ Xᵀ Σ⁻¹ y, Cov(β) = (Xᵀ Σ⁻¹ X)⁻¹, iterated
//! until the model line settles (kinisi: McCluskey, Coles, Morgan, J. Chem. Theory Comput. 20, 2024;
//! Bullerjahn, von Bülow, Hummer, J. Chem. Phys. 153, 024116 (2020)). The ordinary least-squares error bar,
//! which treats the points as independent, is too small several times over; it is reported for comparison.

use crate::units::{self, A2_PER_PS_IN_CM2_PER_S};
use nalgebra::{DMatrix, DVector};

/// Lag indices (frames) used in the fit: at most `max_points` evenly spaced lags in [first, last].
pub fn fit_lags(first: usize, last: usize, max_points: usize) -> Vec<usize> {
    let first = first.max(1);
    if last < first {
        return Vec::new();
    }
    let span = last - first;
    let points = max_points.max(2).min(span + 1);
    let mut lags: Vec<usize> =
        (0..points).map(|j| first + ((j as f64) * span as f64 / (points - 1).max(1) as f64).round() as usize).collect();
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
    /// 3 for the full MSD (D = slope/6), 1 for the MSD along one direction (D = slope/2).
    pub dimensions: usize,
}

/// Result of a diffusion fit.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
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
    /// d ln MSD / d ln t over the fit window ([`msd_log_slope`]): 1 in the diffusive regime, below 1 while
    /// vibrations or caging still dominate the window, 2 for ballistic motion.
    pub msd_log_slope: f64,
    /// Whether D comes from the diffusive regime: the log–log slope within [`DIFFUSIVE_LOG_SLOPE`] and σ(D)/D at
    /// most [`DIFFUSIVE_MAX_RELATIVE_SIGMA`].
    pub diffusive: bool,
}

/// The range of the MSD's log–log slope over a fit window taken as diffusive.
pub const DIFFUSIVE_LOG_SLOPE: (f64, f64) = (0.8, 1.2);
/// The largest relative uncertainty σ(D)/D of a D taken as measured in the diffusive regime.
pub const DIFFUSIVE_MAX_RELATIVE_SIGMA: f64 = 0.3;

/// The least-squares slope of ln MSD against ln t over the points with MSD > 0 (NaN with fewer than two).
pub fn msd_log_slope(times: &[f64], msd: &[f64]) -> f64 {
    let points: Vec<(f64, f64)> =
        times.iter().zip(msd).filter(|(t, m)| **t > 0.0 && **m > 0.0).map(|(t, m)| (t.ln(), m.ln())).collect();
    if points.len() < 2 {
        return f64::NAN;
    }
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

impl DiffusionFit {
    /// Why D is not from the diffusive regime (None when it is): the slope and the relative uncertainty against
    /// their bounds.
    pub fn non_diffusive_reason(&self) -> Option<String> {
        if self.diffusive {
            return None;
        }
        let (lo, hi) = DIFFUSIVE_LOG_SLOPE;
        Some(format!(
            "MSD log–log slope {:.2} over {}–{} ps ({lo}–{hi} wanted), σ(D)/D = {:.0} % (≤ {:.0} % wanted)",
            self.msd_log_slope,
            self.fit_start_ps,
            self.fit_end_ps,
            100.0 * self.d_sigma_a2_per_ps / self.d_a2_per_ps.abs(),
            100.0 * DIFFUSIVE_MAX_RELATIVE_SIGMA
        ))
    }
}

/// C_ab = 1/(K_a K_b) Σ_d c_ab(d) w_ab(d)² for lags a, b (frames) in a trajectory of `frames` frames.
fn overlap_sum(a: usize, b: usize, frames: usize) -> f64 {
    let (a, b) = (a as i64, b as i64);
    let (ka, kb) = ((frames as i64 - a).max(1), (frames as i64 - b).max(1));
    let mut total = 0.0;
    for d in (1 - b)..a {
        let overlap = (a.min(d + b) - d.max(0)).max(0) as f64;
        let pairs = (ka.min(kb - d) - (-d).max(0)).max(0) as f64;
        total += pairs * overlap * overlap;
    }
    total / (ka as f64 * kb as f64)
}

/// The model covariance of the MSD points (Å⁴), Σ_ab = s_a s_b R_ab with s_a² = V_a C_aa / (a² n) and
/// R_ab = C_ab / √(C_aa C_bb); positive definite by construction. `displacement_variance` holds V_a.
pub fn msd_covariance(input: &FitInput) -> DMatrix<f64> {
    let n = input.lags.len();
    let c = DMatrix::from_fn(n, n, |j, k| overlap_sum(input.lags[j], input.lags[k], input.frames));
    let sd: Vec<f64> = (0..n)
        .map(|j| {
            let a = input.lags[j] as f64;
            let v = input.displacement_variance[j].max(1e-300);
            (v * c[(j, j)] / (a * a * input.atoms.max(1) as f64)).sqrt()
        })
        .collect();
    DMatrix::from_fn(n, n, |j, k| sd[j] * sd[k] * c[(j, k)] / (c[(j, j)] * c[(k, k)]).sqrt())
}

/// Fits MSD = 2 d D t + c (d = `dimensions`) by generalised least squares with the covariance of [`msd_covariance`].
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

    // Generalised least squares. The variance of each point is κ_a · MSD_model(a)², with the shape factor
    // κ_a = V_a / MSD_a² measured from the data and the MSD taken from the current line, not from the noisy
    // data (otherwise points that fluctuate low get small error bars and pull the slope down). Iterated from
    // the ordinary least-squares line until the slope settles.
    // κ is pooled over the window as the median of V / MSD² (per-lag ratios are noisy, and blow up where the
    // MSD of a vibrating atom passes near zero); noise in the diagonal of a nearly singular correlation matrix
    // would spoil the generalised fit.
    if input.msd.iter().all(|&m| m == 0.0) {
        return Err("the MSD is zero over the whole fit window (no motion)".into());
    }
    let mut ratios: Vec<f64> = (0..n)
        .filter(|&j| input.msd[j] > 0.0)
        .map(|j| input.displacement_variance[j] / (input.msd[j] * input.msd[j]))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let kappa = vec![ratios[ratios.len() / 2]; n];
    let mut beta = beta_ols.clone();
    let mut covariance = xtx_inv.clone();
    let mut chi2 = 0.0;
    for _ in 0..20 {
        // The line, but never below half the measured MSD: for atoms that vibrate without diffusing the line can
        // dip to zero, which would give some points vanishing error bars.
        let model: Vec<f64> = (0..n).map(|j| (beta[0] + beta[1] * times[j]).max(0.5 * input.msd[j].abs())).collect();
        let variances: Vec<f64> = (0..n).map(|j| kappa[j] * model[j] * model[j]).collect();
        let sigma = msd_covariance(&FitInput { displacement_variance: &variances, ..input.clone() });
        let (next_beta, next_covariance, next_chi2) = generalised_least_squares(&x, &y, &sigma)?;
        let change = (next_beta[1] - beta[1]).abs();
        beta = next_beta;
        covariance = next_covariance;
        chi2 = next_chi2;
        if change <= 1e-10 * beta[1].abs().max(1e-300) {
            break;
        }
    }

    let slope_per_d = 2.0 * input.dimensions.max(1) as f64;
    let d = beta[1] / slope_per_d;
    let d_sigma = covariance[(1, 1)].max(0.0).sqrt() / slope_per_d;
    let log_slope = msd_log_slope(&times, input.msd);
    let (lo, hi) = DIFFUSIVE_LOG_SLOPE;
    let diffusive = (lo..=hi).contains(&log_slope) && d > 0.0 && d_sigma <= DIFFUSIVE_MAX_RELATIVE_SIGMA * d;
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
        d_ols_a2_per_ps: beta_ols[1] / slope_per_d,
        d_ols_naive_sigma_a2_per_ps: ols_sigma_slope / slope_per_d,
        msd_log_slope: log_slope,
        diffusive,
    })
}

/// β = (Xᵀ Σ⁻¹ X)⁻¹ Xᵀ Σ⁻¹ y with Cov(β) = (Xᵀ Σ⁻¹ X)⁻¹ and χ² = rᵀ Σ⁻¹ r, through the Cholesky factor of Σ
/// scaled to unit diagonal (well conditioned).
fn generalised_least_squares(
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    sigma: &DMatrix<f64>,
) -> Result<(DVector<f64>, DMatrix<f64>, f64), String> {
    let n = y.len();
    let scale: Vec<f64> = (0..n).map(|j| sigma[(j, j)].sqrt()).collect();
    let correlation = DMatrix::from_fn(n, n, |j, k| sigma[(j, k)] / (scale[j] * scale[k]));
    let cholesky = correlation
        .cholesky()
        .ok_or("the MSD covariance is not positive definite (too many or too close fit points)")?;
    let xs = DMatrix::from_fn(n, x.ncols(), |j, k| x[(j, k)] / scale[j]);
    let ys = DVector::from_fn(n, |j, _| y[j] / scale[j]);
    let x_white = cholesky.l().solve_lower_triangular(&xs).ok_or("singular covariance")?;
    let y_white = cholesky.l().solve_lower_triangular(&ys).ok_or("singular covariance")?;
    let normal = x_white.transpose() * &x_white;
    let covariance = normal.try_inverse().ok_or("the generalised normal equations are singular")?;
    let beta = &covariance * x_white.transpose() * &y_white;
    let chi2 = (&y_white - &x_white * &beta).norm_squared();
    Ok((beta, covariance, chi2))
}

/// Nernst–Einstein conductivity σ = n q² e² D / (k_B T) of one species in S/cm, from N atoms of charge
/// `charge` (e) in volume V (Å³), D in Å²/ps, T in K. (Tracer D, Haven ratio 1.)
pub fn nernst_einstein_s_per_cm(
    atoms: usize,
    charge: f64,
    volume_a3: f64,
    d_a2_per_ps: f64,
    temperature_k: f64,
) -> f64 {
    let elementary_charge = units::ELEMENTARY_CHARGE_C;
    let density_per_m3 = atoms as f64 / (volume_a3 * units::A3_IN_M3);
    let d_m2_per_s = d_a2_per_ps * units::A2_PER_PS_IN_M2_PER_S;
    let kt_ev = crate::system::BOLTZMANN_EV_PER_K * temperature_k;
    // q² e² D n / (k_B T) with k_B T in J = e · kT_eV.
    density_per_m3 * charge * charge * elementary_charge * d_m2_per_s / kt_ev / units::M_IN_CM
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_sum_matches_brute_force_covariance_of_origin_averages() {
        let frames = 12;
        for a in 1..6 {
            for b in a..9 {
                // Σ over origin pairs of the squared overlap of [s, s+a) and [u, u+b).
                let mut total = 0.0;
                for s in 0..frames - a {
                    for u in 0..frames - b {
                        let overlap = ((s + a).min(u + b) as f64 - s.max(u) as f64).max(0.0);
                        total += overlap * overlap;
                    }
                }
                let expected = total / ((frames - a) * (frames - b)) as f64;
                assert!((overlap_sum(a, b, frames) - expected).abs() < 1e-12, "a={a} b={b}");
                assert!((overlap_sum(b, a, frames) - expected).abs() < 1e-12, "a={a} b={b}");
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
            dimensions: 3,
        })
        .unwrap();
        assert!((fit.d_a2_per_ps - 0.3).abs() < 1e-9);
        assert!((fit.intercept_a2 - 0.5).abs() < 1e-9);
        assert!(fit.chi2_per_dof < 1e-12);
        // The intercept (0.5 Å²) dominates this window: the MSD is far from proportional to t.
        assert!(fit.msd_log_slope < 0.5 && !fit.diffusive, "{fit:?}");
        assert!(fit.non_diffusive_reason().unwrap().contains("0.8–1.2 wanted"));
    }

    #[test]
    fn log_slope_tells_diffusive_from_caged_and_ballistic_motion() {
        let times: Vec<f64> = (1..=20).map(|k| 0.5 * k as f64).collect();
        let slope = |f: &dyn Fn(f64) -> f64| msd_log_slope(&times, &times.iter().map(|&t| f(t)).collect::<Vec<_>>());
        assert!((slope(&|t| 6.0 * 0.1 * t) - 1.0).abs() < 1e-12);
        assert!((slope(&|t| 3.0 * t * t) - 2.0).abs() < 1e-12);
        assert!((slope(&|t| 2.0 * t.powf(0.4)) - 0.4).abs() < 1e-12);
        assert!(slope(&|t| 1.5 - 0.5 * (-4.0 * t).exp()).abs() < 0.05, "a plateau is not diffusive");
        assert!(msd_log_slope(&[1.0], &[1.0]).is_nan());
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

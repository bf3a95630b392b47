//! Tabulated functions as LAMMPS `pair_eam.cpp` interpolates them.
//!
//! [`interpolate`] is `PairEAM::interpolate`: on a uniform grid f₁…f_n (1-based, spacing δ) the slope of
//! every node is a five-point finite difference (three-point and one-sided at the ends),
//!
//! f'_m δ ≈ [(f_{m−2} − f_{m+2}) + 8(f_{m+1} − f_{m−1})] / 12,
//!
//! and each interval [m, m+1] carries the cubic Hermite polynomial through (f_m, f'_m) and (f_{m+1}, f'_{m+1}):
//! f(p) = ((c₃p + c₄)p + c₅)p + c₆ for the fraction p ∈ [0, 1], with the derivative
//! f'(p) = (c₀p + c₁)p + c₂ already divided by δ. The seven coefficients c₀…c₆ are stored per node exactly as
//! LAMMPS stores `spline[m][0..7]`, so evaluating with the same expressions reproduces LAMMPS to rounding.
//!
//! [`resample_lagrange`] is the four-point Lagrange interpolation `PairEAM::file2array` uses to bring funcfl
//! tables onto a common grid.

/// The seven LAMMPS spline coefficients of one node: [c₀, c₁, c₂] the derivative (per unit of the grid
/// variable), [c₃, c₄, c₅, c₆] the value, both as polynomials in the interval fraction p.
pub type SplineNode = [f64; 7];

/// Spline coefficients for the 1-based table `values[1..=n]` (`values[0]` is unused) with spacing `delta`;
/// the result is 1-based as well (`n + 1` nodes, node 0 all zero). Needs n ≥ 5.
pub fn interpolate(values: &[f64], delta: f64) -> Vec<SplineNode> {
    let n = values.len() - 1;
    assert!(n >= 5, "a spline table needs at least 5 points");
    let mut s = vec![[0.0; 7]; n + 1];
    for m in 1..=n {
        s[m][6] = values[m];
    }
    s[1][5] = s[2][6] - s[1][6];
    s[2][5] = 0.5 * (s[3][6] - s[1][6]);
    s[n - 1][5] = 0.5 * (s[n][6] - s[n - 2][6]);
    s[n][5] = s[n][6] - s[n - 1][6];
    for m in 3..=n - 2 {
        s[m][5] = ((s[m - 2][6] - s[m + 2][6]) + 8.0 * (s[m + 1][6] - s[m - 1][6])) / 12.0;
    }
    for m in 1..n {
        s[m][4] = 3.0 * (s[m + 1][6] - s[m][6]) - 2.0 * s[m][5] - s[m + 1][5];
        s[m][3] = s[m][5] + s[m + 1][5] - 2.0 * (s[m + 1][6] - s[m][6]);
    }
    s[n][4] = 0.0;
    s[n][3] = 0.0;
    for m in 1..=n {
        s[m][2] = s[m][5] / delta;
        s[m][1] = 2.0 * s[m][4] / delta;
        s[m][0] = 3.0 * s[m][3] / delta;
    }
    s
}

/// Value of a spline node at fraction `p`: ((c₃p + c₄)p + c₅)p + c₆.
#[inline(always)]
pub fn value(node: &SplineNode, p: f64) -> f64 {
    ((node[3] * p + node[4]) * p + node[5]) * p + node[6]
}

/// Derivative of a spline node at fraction `p`: (c₀p + c₁)p + c₂.
#[inline(always)]
pub fn derivative(node: &SplineNode, p: f64) -> f64 {
    (node[0] * p + node[1]) * p + node[2]
}

/// Samples the 1-based table `table[1..=len]` (spacing `spacing`) at x = (m−1)·`delta` for m = 1…`count`
/// with LAMMPS's four-point Lagrange formula (`PairEAM::file2array`): k = clamp(⌊x/spacing⌋ + 1, 2, len − 2),
/// p = min(x/spacing + 1 − k, 2), and the weights of f_{k−1}, f_k, f_{k+1}, f_{k+2} are
/// −p(p−1)(p−2)/6, (p²−1)(p−2)/2, −p(p+1)(p−2)/2, p(p²−1)/6. Returns a 1-based table.
pub fn resample_lagrange(table: &[f64], spacing: f64, delta: f64, count: usize) -> Vec<f64> {
    let len = table.len() - 1;
    let sixth = 1.0 / 6.0;
    let mut out = vec![0.0; count + 1];
    for m in 1..=count {
        let x = (m - 1) as f64 * delta;
        let mut p = x / spacing + 1.0;
        let k = (p as usize).min(len - 2).max(2);
        p -= k as f64;
        p = p.min(2.0);
        let cof1 = -sixth * p * (p - 1.0) * (p - 2.0);
        let cof2 = 0.5 * (p * p - 1.0) * (p - 2.0);
        let cof3 = -0.5 * p * (p + 1.0) * (p - 2.0);
        let cof4 = sixth * p * (p * p - 1.0);
        out[m] = cof1 * table[k - 1] + cof2 * table[k] + cof3 * table[k + 1] + cof4 * table[k + 2];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spline_reproduces_a_cubic_inside_and_its_nodes_everywhere() {
        // The five-point slope is exact for polynomials up to degree 4, so away from the ends a cubic is
        // reproduced exactly, value and derivative.
        let delta = 0.1;
        let f = |x: f64| 0.3 * x * x * x - x * x + 2.0 * x - 0.5;
        let df = |x: f64| 0.9 * x * x - 2.0 * x + 2.0;
        let n = 30;
        let mut values = vec![0.0; n + 1];
        for m in 1..=n {
            values[m] = f((m - 1) as f64 * delta);
        }
        let s = interpolate(&values, delta);
        for m in 3..n - 2 {
            for &p in &[0.0, 0.25, 0.5, 0.9] {
                let x = (m as f64 - 1.0 + p) * delta;
                assert!((value(&s[m], p) - f(x)).abs() < 1e-12, "value at m={m} p={p}");
                assert!((derivative(&s[m], p) - df(x)).abs() < 1e-10, "slope at m={m} p={p}");
            }
        }
        for m in 1..n {
            assert!((value(&s[m], 0.0) - values[m]).abs() < 1e-15);
            assert!((value(&s[m], 1.0) - values[m + 1]).abs() < 1e-12);
        }
    }

    #[test]
    fn lagrange_resampling_is_exact_for_cubics_and_identity_on_the_same_grid() {
        let f = |x: f64| 1.0 - 0.5 * x + 0.2 * x * x - 0.01 * x * x * x;
        let n = 40;
        let mut table = vec![0.0; n + 1];
        for m in 1..=n {
            table[m] = f((m - 1) as f64 * 0.2);
        }
        let same = resample_lagrange(&table, 0.2, 0.2, n - 1);
        for m in 1..n {
            assert!((same[m] - table[m]).abs() < 1e-13);
        }
        let finer = resample_lagrange(&table, 0.2, 0.07, 100);
        for m in 1..=100 {
            let x = (m - 1) as f64 * 0.07;
            assert!((finer[m] - f(x)).abs() < 1e-12, "m={m}");
        }
    }
}

//! Cutoff functions and compact "core" functions of n2p2 (`CutoffFunction.cpp`, `CoreFunction.h`,
//! `CompactFunction.h`), with their first derivatives.
//!
//! Cutoff functions (`cutoff_type T [alpha]`): with the inner cutoff r_ci = α r_c and
//! x = (r − r_ci)/(r_c − r_ci), f_c(r) = 1 for r < r_ci, f(x) for r_ci ≤ r < r_c and 0 beyond, where
//!
//! | T | name  | f |
//! |---|-------|---|
//! | 0 | hard  | 1 |
//! | 1 | cos   | ½[cos(πx) + 1] (Behler, J. Chem. Phys. 134, 074106 (2011)) |
//! | 2 | tanhu | tanh³(1 − r/r_c) (no inner cutoff) |
//! | 3 | tanh  | c·tanh³(1 − r/r_c), c = ((e + 1/e)/(e − 1/e))³ so that f_c(0) = 1 |
//! | 4 | exp   | e·exp(1/(x² − 1)) = exp(1 − 1/(1 − x²)) |
//! | 5 | poly1 | (2x − 3)x² + 1 |
//! | 6 | poly2 | ((15 − 6x)x − 10)x³ + 1 |
//! | 7 | poly3 | (x(x(20x − 70) + 84) − 35)x⁴ + 1 |
//! | 8 | poly4 | (x(x((315 − 70x)x − 540) + 420) − 126)x⁵ + 1 |
//!
//! The polynomials are those of Bircher, Singraber & Dellago, Mach. Learn.: Sci. Technol. 2, 035026 (2021).

use std::f64::consts::{E, PI};

/// The shape of a core function on x ∈ [0, 1] (1 at x = 0, 0 at x = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreKind {
    Poly1,
    Poly2,
    Poly3,
    Poly4,
    Exp,
}

/// A core function, optionally "asymmetric" (x → (2 − x)x before evaluation, n2p2's `p?a` subtypes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoreFunction {
    pub kind: CoreKind,
    pub asymmetric: bool,
}

impl CoreFunction {
    /// Value and derivative d f/dx.
    #[inline(always)]
    pub fn fdf(&self, x: f64) -> (f64, f64) {
        if self.asymmetric {
            let (f, df) = core_fdf(self.kind, (2.0 - x) * x);
            (f, df * (2.0 - 2.0 * x))
        } else {
            core_fdf(self.kind, x)
        }
    }
}

#[inline(always)]
fn core_fdf(kind: CoreKind, x: f64) -> (f64, f64) {
    match kind {
        CoreKind::Poly1 => ((2.0 * x - 3.0) * x * x + 1.0, x * (6.0 * x - 6.0)),
        CoreKind::Poly2 => {
            let x2 = x * x;
            (((15.0 - 6.0 * x) * x - 10.0) * x * x2 + 1.0, x2 * ((60.0 - 30.0 * x) * x - 30.0))
        }
        CoreKind::Poly3 => {
            let x2 = x * x;
            (
                (x * (x * (20.0 * x - 70.0) + 84.0) - 35.0) * x2 * x2 + 1.0,
                x2 * x * (x * (x * (140.0 * x - 420.0) + 420.0) - 140.0),
            )
        }
        CoreKind::Poly4 => {
            let x4 = (x * x) * (x * x);
            (
                (x * (x * ((315.0 - 70.0 * x) * x - 540.0) + 420.0) - 126.0) * x * x4 + 1.0,
                x4 * (x * (x * ((2520.0 - 630.0 * x) * x - 3780.0) + 2520.0) - 630.0),
            )
        }
        CoreKind::Exp => {
            let t = 1.0 / (x * x - 1.0);
            let e = t.exp();
            (E * e, -2.0 * E * x * t * t * e)
        }
    }
}

/// Cutoff function types, numbered as in n2p2's `cutoff_type` keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CutoffType {
    Hard = 0,
    Cos = 1,
    TanhU = 2,
    Tanh = 3,
    Exp = 4,
    Poly1 = 5,
    Poly2 = 6,
    Poly3 = 7,
    Poly4 = 8,
}

impl CutoffType {
    /// The type for n2p2's integer code.
    pub fn from_code(code: i64) -> Option<CutoffType> {
        Some(match code {
            0 => CutoffType::Hard,
            1 => CutoffType::Cos,
            2 => CutoffType::TanhU,
            3 => CutoffType::Tanh,
            4 => CutoffType::Exp,
            5 => CutoffType::Poly1,
            6 => CutoffType::Poly2,
            7 => CutoffType::Poly3,
            8 => CutoffType::Poly4,
            _ => return None,
        })
    }
}

/// A cutoff function f_c(r) with radius r_c and inner-cutoff parameter α (0 ≤ α < 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CutoffFunction {
    pub kind: CutoffType,
    pub rc: f64,
    pub alpha: f64,
    rc_inv: f64,
    inner: f64,
    inverse_width: f64,
}

/// ((e + 1/e)/(e − 1/e))³, the prefactor making tanh³(1 − r/r_c) equal 1 at r = 0.
fn tanh_prefactor() -> f64 {
    ((E + 1.0 / E) / (E - 1.0 / E)).powi(3)
}

impl CutoffFunction {
    pub fn new(kind: CutoffType, rc: f64, alpha: f64) -> CutoffFunction {
        let inner = rc * alpha;
        CutoffFunction { kind, rc, alpha, rc_inv: 1.0 / rc, inner, inverse_width: 1.0 / (rc - inner) }
    }

    /// Value f_c(r) and derivative d f_c/d r.
    #[inline(always)]
    pub fn fdf(&self, r: f64) -> (f64, f64) {
        if r >= self.rc {
            return (0.0, 0.0);
        }
        match self.kind {
            CutoffType::Hard => (1.0, 0.0),
            CutoffType::TanhU | CutoffType::Tanh => {
                let pre = if self.kind == CutoffType::Tanh { tanh_prefactor() } else { 1.0 };
                let t = (1.0 - r * self.rc_inv).tanh();
                let t2 = t * t;
                (pre * t * t2, 3.0 * pre * t2 * (t2 - 1.0) * self.rc_inv)
            }
            _ => {
                if r < self.inner {
                    return (1.0, 0.0);
                }
                let x = (r - self.inner) * self.inverse_width;
                let (f, df) = match self.kind {
                    CutoffType::Cos => {
                        let (s, c) = (PI * x).sin_cos();
                        (0.5 * (c + 1.0), -0.5 * PI * s)
                    }
                    CutoffType::Exp => core_fdf(CoreKind::Exp, x),
                    CutoffType::Poly1 => core_fdf(CoreKind::Poly1, x),
                    CutoffType::Poly2 => core_fdf(CoreKind::Poly2, x),
                    CutoffType::Poly3 => core_fdf(CoreKind::Poly3, x),
                    _ => core_fdf(CoreKind::Poly4, x),
                };
                (f, df * self.inverse_width)
            }
        }
    }
}

/// A compact bump on [left, right]: f(a) = core(|a − center|/half_width), used by the polynomial
/// symmetry functions (types 20–22). Callers only evaluate it strictly inside its support.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompactFunction {
    pub core: CoreFunction,
    pub left: f64,
    pub right: f64,
    center: f64,
    scale: f64,
}

impl CompactFunction {
    pub fn new(core: CoreFunction, left: f64, right: f64) -> CompactFunction {
        let center = 0.5 * (left + right);
        let width = 0.5 * (right - left);
        CompactFunction { core, left, right, center, scale: 1.0 / width }
    }

    /// Value and derivative d f/d a.
    #[inline(always)]
    pub fn fdf(&self, a: f64) -> (f64, f64) {
        let x = (a - self.center) * self.scale;
        let (f, df) = self.core.fdf(x.abs());
        (f, df * self.scale.copysign(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_derivative(f: impl Fn(f64) -> (f64, f64), points: &[f64]) {
        let h = 1e-6;
        for &r in points {
            let numeric = (f(r + h).0 - f(r - h).0) / (2.0 * h);
            let analytic = f(r).1;
            assert!((numeric - analytic).abs() < 1e-7, "r = {r}: numeric {numeric} vs analytic {analytic}");
        }
    }

    #[test]
    fn every_cutoff_type_matches_finite_differences_and_vanishes_at_rc() {
        let points = [0.3, 1.1, 2.05, 3.3, 4.7, 5.9];
        for code in 0..=8 {
            let kind = CutoffType::from_code(code).unwrap();
            for alpha in [0.0, 0.3] {
                let fc = CutoffFunction::new(kind, 6.0, alpha);
                check_derivative(|r| fc.fdf(r), &points);
                assert_eq!(fc.fdf(6.0), (0.0, 0.0));
                if kind != CutoffType::Hard {
                    assert!(fc.fdf(6.0 - 1e-9).0.abs() < 1e-6, "type {code} not continuous at rc");
                }
            }
        }
        // Reference values: cos cutoff at r = rc/2 is 1/2; tanh cutoff is 1 at r = 0.
        assert!((CutoffFunction::new(CutoffType::Cos, 4.0, 0.0).fdf(2.0).0 - 0.5).abs() < 1e-15);
        assert!((CutoffFunction::new(CutoffType::Tanh, 4.0, 0.0).fdf(0.0).0 - 1.0).abs() < 1e-14);
        // Inner cutoff: constant 1 below alpha * rc.
        assert_eq!(CutoffFunction::new(CutoffType::Poly2, 6.0, 0.5).fdf(2.9), (1.0, 0.0));
    }

    #[test]
    fn compact_functions_match_finite_differences() {
        for kind in [CoreKind::Poly1, CoreKind::Poly2, CoreKind::Poly3, CoreKind::Poly4, CoreKind::Exp] {
            for asymmetric in [false, true] {
                let f = CompactFunction::new(CoreFunction { kind, asymmetric }, -1.5, 4.5);
                check_derivative(|a| f.fdf(a), &[-1.2, 0.1, 1.7, 2.9, 4.2]);
                assert!((f.fdf(1.5).0 - 1.0).abs() < 1e-14, "compact function is 1 at its centre");
            }
        }
    }
}

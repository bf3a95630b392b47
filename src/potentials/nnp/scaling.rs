//! Symmetry-function scaling (`scaling.data` plus the scaling keywords of `input.nn`), as n2p2's
//! `SymFnc::scale`:
//!
//! | keywords | scaled G |
//! |---|---|
//! | none | G |
//! | `scale_symmetry_functions` | S_min + (S_max − S_min)(G − G_min)/(G_max − G_min) |
//! | `center_symmetry_functions` | G − ⟨G⟩ |
//! | both | S_min + (S_max − S_min)(G − ⟨G⟩)/(G_max − G_min) |
//! | `scale_symmetry_functions_sigma` | S_min + (S_max − S_min)(G − ⟨G⟩)/σ_G |
//!
//! Every variant is affine, G_s = S_min' + factor·(G − shift), so dG_s/dG = factor.
//! `scaling.data` holds one row per symmetry function, `element index (1-based) function index (1-based)
//! G_min G_max ⟨G⟩ σ_G`, elements in increasing atomic number, functions in n2p2's sorted order.

use super::settings::Settings;
use super::NnpError;
use std::path::Path;

/// How scaled inputs are formed from raw symmetry-function values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalingType {
    None,
    Scale,
    Center,
    ScaleCenter,
    ScaleSigma,
}

impl ScalingType {
    /// The scaling selected by the keywords of `input.nn` (n2p2's `setupSymmetryFunctionScaling`).
    pub fn from_settings(settings: &Settings) -> ScalingType {
        let scale = settings.has("scale_symmetry_functions");
        let center = settings.has("center_symmetry_functions");
        match (scale, center) {
            (true, false) => ScalingType::Scale,
            (false, true) => ScalingType::Center,
            (true, true) => ScalingType::ScaleCenter,
            (false, false) if settings.has("scale_symmetry_functions_sigma") => ScalingType::ScaleSigma,
            _ => ScalingType::None,
        }
    }
}

/// Statistics and scaling of one symmetry function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scaling {
    pub g_min: f64,
    pub g_max: f64,
    pub g_mean: f64,
    pub g_sigma: f64,
    /// dG_scaled/dG.
    pub factor: f64,
    /// G_scaled = offset + factor·G.
    pub offset: f64,
}

impl Scaling {
    /// Scaled value of a raw symmetry function.
    #[inline]
    pub fn apply(&self, g: f64) -> f64 {
        self.offset + self.factor * g
    }
}

/// Reads `scaling.data` for elements with `counts[e]` symmetry functions each (elements in increasing
/// atomic number).
pub fn read_scaling(
    path: &Path,
    kind: ScalingType,
    s_min: f64,
    s_max: f64,
    counts: &[usize],
) -> Result<Vec<Vec<Scaling>>, NnpError> {
    let text = std::fs::read_to_string(path).map_err(|e| NnpError::open(path, e))?;
    let mut rows = text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with('#') && !l.trim().is_empty());
    let mut out = Vec::with_capacity(counts.len());
    for (element, &count) in counts.iter().enumerate() {
        let mut list = Vec::with_capacity(count);
        for function in 0..count {
            let (index, line) = rows.next().ok_or_else(|| {
                NnpError::format(
                    path,
                    format!(
                        "too few rows: expected {} (symmetry functions per element: {counts:?})",
                        counts.iter().sum::<usize>()
                    ),
                )
            })?;
            let line_no = index + 1;
            let tokens: Vec<&str> = line.split_whitespace().collect();
            if tokens.len() < 5 {
                return Err(NnpError::syntax(
                    path,
                    line_no,
                    format!("expected at least 5 columns, found {}", tokens.len()),
                ));
            }
            let number = |k: usize| -> Result<f64, NnpError> {
                super::settings::parse_fortran_float(tokens[k])
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| NnpError::syntax(path, line_no, format!("'{}' is not a finite number", tokens[k])))
            };
            let (e, f) = (number(0)?, number(1)?);
            if e != (element + 1) as f64 || f != (function + 1) as f64 {
                return Err(NnpError::syntax(
                    path,
                    line_no,
                    format!(
                        "row is for element {e} function {f}, expected element {} function {} (rows must follow \
                         n2p2's sorted symmetry-function order)",
                        element + 1,
                        function + 1
                    ),
                ));
            }
            let (g_min, g_max, g_mean) = (number(2)?, number(3)?, number(4)?);
            let g_sigma = if tokens.len() > 5 { number(5)? } else { 0.0 };
            if g_min > g_max || g_sigma < 0.0 {
                return Err(NnpError::syntax(
                    path,
                    line_no,
                    format!(
                        "Gmin = {g_min}, Gmax = {g_max}, sigma = {g_sigma}: expected Gmin ≤ Gmax and sigma ≥ 0 (columns: \
                         element, function, Gmin, Gmax, mean, sigma)"
                    ),
                ));
            }
            let (factor, shift) = match kind {
                ScalingType::None => (1.0, 0.0),
                ScalingType::Scale => ((s_max - s_min) / (g_max - g_min), g_min),
                ScalingType::Center => (1.0, g_mean),
                ScalingType::ScaleCenter => ((s_max - s_min) / (g_max - g_min), g_mean),
                ScalingType::ScaleSigma => ((s_max - s_min) / g_sigma, g_mean),
            };
            if !factor.is_finite() {
                return Err(NnpError::syntax(
                    path,
                    line_no,
                    format!(
                        "symmetry function has zero range (Gmin = Gmax = {g_min} or sigma = {g_sigma}): its scaling \
                         factor is infinite"
                    ),
                ));
            }
            let base = if kind == ScalingType::None || kind == ScalingType::Center { 0.0 } else { s_min };
            list.push(Scaling { g_min, g_max, g_mean, g_sigma, factor, offset: base - factor * shift });
        }
        out.push(list);
    }
    if let Some((index, _)) = rows.next() {
        return Err(NnpError::syntax(
            path,
            index + 1,
            format!("extra row: input.nn defines only {} symmetry functions", counts.iter().sum::<usize>()),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_rows(rows: &str, counts: &[usize]) -> Result<Vec<Vec<Scaling>>, NnpError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scaling.data");
        std::fs::write(&path, rows).unwrap();
        read_scaling(&path, ScalingType::ScaleCenter, 0.0, 1.0, counts)
    }

    #[test]
    fn scale_center_is_affine_in_g() {
        let scalings = read_rows("1 1 1.0 3.0 2.5 0.4\n", &[1]).unwrap();
        let s = scalings[0][0];
        assert_eq!(s.factor, 0.5);
        assert_eq!(s.apply(2.5), 0.0);
        assert_eq!(s.apply(3.5), 0.5);
    }

    #[test]
    fn reversed_range_is_refused() {
        let err = read_rows("1 1 1.0 3.0 2.5 0.4\n1 2 3.0 1.0 2.0 0.4\n", &[2]).unwrap_err().to_string();
        assert!(err.ends_with(", line 2: Gmin = 3, Gmax = 1, sigma = 0.4: expected Gmin ≤ Gmax and sigma ≥ 0 (columns: element, function, Gmin, Gmax, mean, sigma)"), "{err}");
        let err = read_rows("1 1 1.0 3.0 2.5 -0.4\n", &[1]).unwrap_err().to_string();
        assert!(err.contains("sigma = -0.4"), "{err}");
    }
}

//! Parity plots (predicted against reference) as hand-written SVG.

use std::fmt::Write;

/// One series of (reference, predicted) points.
pub struct Series<'a> {
    pub label: &'a str,
    pub color: &'a str,
    pub points: &'a [(f64, f64)],
}

/// An SVG parity plot: the series as dots, the diagonal y = x, axis ticks and a legend.
///
/// Points of a series that land on the same 0.1-pixel position are drawn once (the legend still counts them all):
/// force parity plots of ~10⁵ components would otherwise be tens of megabytes of overlapping circles.
pub fn parity_svg(title: &str, axis_label: &str, series: &[Series]) -> String {
    let (width, height, margin) = (520.0, 520.0, 70.0);
    let all = series.iter().flat_map(|s| s.points.iter()).flat_map(|&(a, b)| [a, b]);
    let (mut lo, mut hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    let (lo, hi) = (lo - pad, hi + pad);
    let plot = width - 2.0 * margin;
    let x = |v: f64| margin + (v - lo) / (hi - lo) * plot;
    let y = |v: f64| height - margin - (v - lo) / (hi - lo) * plot;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="{}" y="30" text-anchor="middle" font-size="15">{title}</text>"#, width / 2.0);
    let _ =
        writeln!(svg, r#"<rect x="{margin}" y="{margin}" width="{plot}" height="{plot}" fill="none" stroke="black"/>"#);
    for t in 0..=4 {
        let v = lo + (hi - lo) * t as f64 / 4.0;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{v:.3}</text>"#,
            x(v),
            height - margin + 18.0
        );
        let _ = writeln!(svg, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{v:.3}</text>"#, margin - 6.0, y(v) + 4.0);
    }
    let _ = writeln!(
        svg,
        r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="gray" stroke-dasharray="4 3"/>"#,
        x(lo),
        y(lo),
        x(hi),
        y(hi)
    );
    for s in series {
        let mut drawn = std::collections::HashSet::new();
        for &(a, b) in s.points {
            let (cx, cy) = (x(a), y(b));
            if !drawn.insert(((cx * 10.0).round() as i64, (cy * 10.0).round() as i64)) {
                continue;
            }
            let _ = writeln!(svg, r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="2" fill="{}" fill-opacity="0.6"/>"#, s.color);
        }
    }
    for (n, s) in series.iter().enumerate() {
        let ly = margin + 18.0 + 18.0 * n as f64;
        let _ = writeln!(svg, r#"<circle cx="{:.1}" cy="{ly:.1}" r="4" fill="{}"/>"#, margin + 14.0, s.color);
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{} ({} points)</text>"#,
            margin + 24.0,
            ly + 4.0,
            s.label,
            s.points.len()
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">reference {axis_label}</text>"#,
        width / 2.0,
        height - 25.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="20" y="{}" text-anchor="middle" transform="rotate(-90 20 {})">predicted {axis_label}</text>"#,
        height / 2.0,
        height / 2.0
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_plot_has_every_point_and_the_diagonal() {
        let points = [(0.0, 0.1), (1.0, 0.9), (2.0, 2.2)];
        let svg = parity_svg("E", "E (eV)", &[Series { label: "test", color: "red", points: &points }]);
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains("stroke-dasharray"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn points_on_the_same_spot_are_drawn_once_and_counted_in_the_legend() {
        let points = [(0.0, 0.0), (1.0, 1.0), (1.0, 1.0), (1.0 + 1e-9, 1.0), (2.0, 2.0)];
        let svg = parity_svg("E", "E (eV)", &[Series { label: "test", color: "red", points: &points }]);
        assert_eq!(svg.matches("<circle").count(), 3 + 1);
        assert!(svg.contains("test (5 points)"));
    }
}

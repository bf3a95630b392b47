//! A minimal energy-profile plot written as SVG by hand.

use std::fmt::Write as _;

/// "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^k, about `target` of them.
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// An SVG line plot of `points` (x, y) with markers; the marker at `highlight` is drawn in red.
pub fn profile_svg(
    points: &[(f64, f64)],
    highlight: Option<usize>,
    x_label: &str,
    y_label: &str,
    title: &str,
) -> String {
    let (width, height) = (640.0, 420.0);
    let (left, right, top, bottom) = (80.0, 20.0, 40.0, 60.0);
    let bounds = |values: Vec<f64>| {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 };
        (lo - pad, hi + pad)
    };
    let (x_lo, x_hi) = bounds(points.iter().map(|p| p.0).collect());
    let (y_lo, y_hi) = bounds(points.iter().map(|p| p.1).collect());
    let sx = |x: f64| left + (x - x_lo) / (x_hi - x_lo) * (width - left - right);
    let sy = |y: f64| height - bottom - (y - y_lo) / (y_hi - y_lo) * (height - top - bottom);
    let mut svg = String::new();
    writeln!(svg, r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#).unwrap();
    writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#).unwrap();
    writeln!(svg, r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#, width / 2.0, escape(title))
        .unwrap();
    let (x0, x1, y0, y1) = (sx(x_lo), sx(x_hi), sy(y_lo), sy(y_hi));
    writeln!(
        svg,
        r#"<rect x="{x0:.1}" y="{y1:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
        x1 - x0,
        y0 - y1
    )
    .unwrap();
    for t in ticks(x_lo, x_hi, 6) {
        let x = sx(t);
        writeln!(svg, r#"<line x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{:.1}" stroke="black"/>"#, y0 + 5.0).unwrap();
        writeln!(svg, r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, y0 + 19.0, format_tick(t))
            .unwrap();
    }
    for t in ticks(y_lo, y_hi, 6) {
        let y = sy(t);
        writeln!(svg, r#"<line x1="{:.1}" y1="{y:.1}" x2="{x0:.1}" y2="{y:.1}" stroke="black"/>"#, x0 - 5.0).unwrap();
        writeln!(svg, r##"<line x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}" stroke="#dddddd"/>"##).unwrap();
        writeln!(svg, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, x0 - 8.0, y + 4.0, format_tick(t))
            .unwrap();
    }
    writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        height - 15.0,
        escape(x_label)
    )
    .unwrap();
    writeln!(
        svg,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">{}</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0,
        escape(y_label)
    )
    .unwrap();
    let path: Vec<String> = points.iter().map(|&(x, y)| format!("{:.2},{:.2}", sx(x), sy(y))).collect();
    writeln!(svg, r#"<polyline points="{}" fill="none" stroke="steelblue" stroke-width="2"/>"#, path.join(" "))
        .unwrap();
    for (i, &(x, y)) in points.iter().enumerate() {
        let color = if Some(i) == highlight { "red" } else { "steelblue" };
        writeln!(svg, r#"<circle cx="{:.2}" cy="{:.2}" r="4" fill="{color}"/>"#, sx(x), sy(y)).unwrap();
    }
    svg.push_str("</svg>\n");
    svg
}

/// An SVG bar chart of `bars` (low edge, high edge, count), e.g. a barrier histogram.
pub fn histogram_svg(bars: &[(f64, f64, usize)], x_label: &str, title: &str) -> String {
    let (width, height) = (640.0, 420.0);
    let (left, right, top, bottom) = (80.0, 20.0, 40.0, 60.0);
    let x_lo = bars.iter().map(|b| b.0).fold(f64::INFINITY, f64::min);
    let x_hi = bars.iter().map(|b| b.1).fold(f64::NEG_INFINITY, f64::max);
    let (x_lo, x_hi) = if x_hi > x_lo { (x_lo, x_hi) } else { (0.0, 1.0) };
    let y_hi = bars.iter().map(|b| b.2).max().unwrap_or(0).max(1) as f64 * 1.05;
    let sx = |x: f64| left + (x - x_lo) / (x_hi - x_lo) * (width - left - right);
    let sy = |y: f64| height - bottom - y / y_hi * (height - top - bottom);
    let mut svg = String::new();
    writeln!(svg, r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#).unwrap();
    writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#).unwrap();
    writeln!(svg, r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#, width / 2.0, escape(title))
        .unwrap();
    let (x0, x1, y0, y1) = (sx(x_lo), sx(x_hi), sy(0.0), sy(y_hi));
    writeln!(
        svg,
        r#"<rect x="{x0:.1}" y="{y1:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
        x1 - x0,
        y0 - y1
    )
    .unwrap();
    for &(lo, hi, count) in bars {
        let y = sy(count as f64);
        writeln!(
            svg,
            r#"<rect class="bar" x="{:.2}" y="{y:.2}" width="{:.2}" height="{:.2}" fill="steelblue" stroke="white"/>"#,
            sx(lo),
            sx(hi) - sx(lo),
            y0 - y
        )
        .unwrap();
    }
    for t in ticks(x_lo, x_hi, 6) {
        let x = sx(t);
        writeln!(svg, r#"<line x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{:.1}" stroke="black"/>"#, y0 + 5.0).unwrap();
        writeln!(svg, r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, y0 + 19.0, format_tick(t))
            .unwrap();
    }
    for t in ticks(0.0, y_hi, 5).into_iter().filter(|t| t.fract() == 0.0) {
        let y = sy(t);
        writeln!(svg, r#"<line x1="{:.1}" y1="{y:.1}" x2="{x0:.1}" y2="{y:.1}" stroke="black"/>"#, x0 - 5.0).unwrap();
        writeln!(svg, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, x0 - 8.0, y + 4.0, format_tick(t))
            .unwrap();
    }
    writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        height - 15.0,
        escape(x_label)
    )
    .unwrap();
    writeln!(
        svg,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">count</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    )
    .unwrap();
    svg.push_str("</svg>\n");
    svg
}

fn format_tick(t: f64) -> String {
    let s = format!("{t:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        let t = ticks(-0.03, 0.71, 8);
        assert_eq!(t.len(), 8);
        assert!(t.iter().enumerate().all(|(k, v)| (v - 0.1 * k as f64).abs() < 1e-12), "{t:?}");
        let t = ticks(1.0, 9.0, 4);
        assert_eq!(t, vec![2.0, 4.0, 6.0, 8.0]);
    }

    #[test]
    fn histogram_has_one_bar_per_bin() {
        let svg = histogram_svg(&[(0.5, 0.55, 3), (0.55, 0.6, 0), (0.6, 0.65, 7)], "barrier (eV)", "3 paths");
        assert_eq!(svg.matches("class=\"bar\"").count(), 3);
        assert!(svg.ends_with("</svg>\n"));
    }

    #[test]
    fn svg_has_one_marker_per_point() {
        let svg = profile_svg(&[(0.0, 0.0), (1.0, 0.5), (2.0, 0.1)], Some(1), "x", "E − E₀ (eV)", "a < b");
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("fill=\"red\"").count(), 1);
        assert!(svg.contains("a &lt; b") && svg.ends_with("</svg>\n"));
    }
}

//! The project's one chart writer, producing standalone SVG: axes with "nice" ticks (1, 2, 5 × 10ⁿ steps on
//! linear axes, decades on logarithmic ones), axis labels, a title, a legend, and series drawn as lines,
//! markers, dots (dense clouds such as parity plots) or bars (histograms), with optional vertical error bars.
//! Non-finite points (and non-positive ones on a log axis) are skipped. Used for MSD, RDF, VDOS and Arrhenius
//! plots, NEB energy profiles and barrier histograms, the kMC Arrhenius plot and the trainer's parity plots.

use std::fmt::Write as _;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    Line,
    Dashed,
    Markers,
    /// A line through the points with a marker on each.
    LineMarkers,
    /// Small translucent markers, each pixel position drawn once (clouds of 10⁵ points stay small files).
    Dots,
    /// A bar from 0 to y centred on each x, this wide (in x units).
    Bars(f64),
}

/// One data series.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Symmetric vertical error bars (same length as y).
    pub y_error: Option<Vec<f64>>,
    pub style: Style,
    /// Colour (any SVG colour); default: the next one of [`PALETTE`] by the series' position.
    pub color: Option<&'static str>,
}

impl Series {
    pub fn new(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>, style: Style) -> Series {
        Series { label: label.into(), x, y, y_error: None, style, color: None }
    }

    pub fn line(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Series {
        Series::new(label, x, y, Style::Line)
    }

    /// Adds symmetric vertical error bars (same length as y).
    pub fn with_errors(self, y_error: Vec<f64>) -> Series {
        Series { y_error: Some(y_error), ..self }
    }

    /// Draws the series in `color` instead of its turn of the palette.
    pub fn with_color(self, color: &'static str) -> Series {
        Series { color: Some(color), ..self }
    }
}

/// A line plot.
#[derive(Clone, Debug, Default)]
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    pub y_log: bool,
    /// Both axes span the same range (parity plots).
    pub equal_axes: bool,
    pub series: Vec<Series>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 70.0;
/// The default colours of series 0, 1, 2, … (matplotlib's first eight).
pub const PALETTE: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// An axis mapping data to pixels.
struct Axis {
    log: bool,
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64>, log: bool) -> Axis {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
            let v = if log { v.log10() } else { v };
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo < 1e-12 * hi.abs().max(1.0) {
            let pad = if log { 0.5 } else { 0.5 * hi.abs().max(1e-12) };
            (lo, hi) = (lo - pad, hi + pad);
        }
        if log {
            let (lo, hi) = (lo.floor(), hi.ceil());
            let ticks = (lo as i32..=hi as i32).map(f64::from).collect();
            Axis { log, lo, hi, ticks }
        } else {
            let step = nice_step((hi - lo) / 5.0);
            let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
            let count = ((hi - lo) / step).round() as usize;
            let ticks = (0..=count).map(|k| lo + k as f64 * step).collect();
            Axis { log, lo, hi, ticks }
        }
    }

    /// Data value → fraction of the axis (None when not drawable).
    fn fraction(&self, v: f64) -> Option<f64> {
        if !v.is_finite() || (self.log && v <= 0.0) {
            return None;
        }
        let v = if self.log { v.log10() } else { v };
        Some((v - self.lo) / (self.hi - self.lo))
    }

    fn label(&self, tick: f64) -> String {
        if self.log {
            let exponent = tick as i32;
            if (-3..=3).contains(&exponent) {
                let text = format!("{:.3}", 10f64.powi(exponent));
                text.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                format!("1e{exponent}")
            }
        } else {
            let text = format!("{:.6}", tick);
            let text = text.trim_end_matches('0').trim_end_matches('.').to_string();
            if text == "-0" {
                "0".into()
            } else {
                text
            }
        }
    }
}

/// The step among 1, 2, 5 × 10ⁿ nearest above `raw`.
pub fn nice_step(raw: f64) -> f64 {
    let raw = if raw > 0.0 && raw.is_finite() { raw } else { 1.0 };
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalised = raw / magnitude;
    let nice = if normalised <= 1.0 {
        1.0
    } else if normalised <= 2.0 {
        2.0
    } else if normalised <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The plot area and its two axes: data → pixels.
struct Canvas {
    x_axis: Axis,
    y_axis: Axis,
    width: f64,
    height: f64,
}

impl Canvas {
    fn px(&self, x: f64) -> Option<f64> {
        self.x_axis.fraction(x).map(|f| LEFT + f * self.width)
    }

    fn py(&self, y: f64) -> Option<f64> {
        self.y_axis.fraction(y).map(|f| TOP + (1.0 - f) * self.height)
    }

    /// Title, grid, ticks, tick labels, frame and axis labels.
    fn frame(&self, svg: &mut String, plot: &Plot) {
        let (plot_w, plot_h) = (self.width, self.height);
        writeln!(
            svg,
            r#"<text x="{}" y="30" text-anchor="middle" font-size="16">{}</text>"#,
            WIDTH / 2.0,
            escape(&plot.title)
        )
        .unwrap();
        let x_axis = &self.x_axis;
        for &tick in &x_axis.ticks {
            let x = LEFT + (tick - x_axis.lo) / (x_axis.hi - x_axis.lo) * plot_w;
            writeln!(svg, r##"<line x1="{x:.2}" y1="{TOP}" x2="{x:.2}" y2="{}" stroke="#e0e0e0"/>"##, TOP + plot_h)
                .unwrap();
            writeln!(
                svg,
                r#"<text x="{x:.2}" y="{}" text-anchor="middle">{}</text>"#,
                TOP + plot_h + 20.0,
                x_axis.label(tick)
            )
            .unwrap();
        }
        let y_axis = &self.y_axis;
        for &tick in &y_axis.ticks {
            let y = TOP + (1.0 - (tick - y_axis.lo) / (y_axis.hi - y_axis.lo)) * plot_h;
            writeln!(svg, r##"<line x1="{LEFT}" y1="{y:.2}" x2="{}" y2="{y:.2}" stroke="#e0e0e0"/>"##, LEFT + plot_w)
                .unwrap();
            writeln!(
                svg,
                r#"<text x="{}" y="{:.2}" text-anchor="end">{}</text>"#,
                LEFT - 8.0,
                y + 4.0,
                y_axis.label(tick)
            )
            .unwrap();
        }
        writeln!(svg, r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#)
            .unwrap();
        writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            LEFT + plot_w / 2.0,
            HEIGHT - 20.0,
            escape(&plot.x_label)
        )
        .unwrap();
        writeln!(
            svg,
            r#"<text x="20" y="{}" text-anchor="middle" transform="rotate(-90 20 {})">{}</text>"#,
            TOP + plot_h / 2.0,
            TOP + plot_h / 2.0,
            escape(&plot.y_label)
        )
        .unwrap();
    }

    /// One series: its line, markers or bars, and error bars.
    fn series(&self, svg: &mut String, series: &Series, color: &str) {
        let points: Vec<(usize, f64, f64)> = series
            .x
            .iter()
            .zip(&series.y)
            .enumerate()
            .filter_map(|(i, (&x, &y))| Some((i, self.px(x)?, self.py(y)?)))
            .collect();
        if matches!(series.style, Style::Line | Style::Dashed | Style::LineMarkers) {
            let dash = if series.style == Style::Dashed { r#" stroke-dasharray="6 4""# } else { "" };
            let coords: Vec<String> = points.iter().map(|(_, x, y)| format!("{x:.2},{y:.2}")).collect();
            writeln!(
                svg,
                r#"<polyline fill="none" stroke="{color}" stroke-width="1.8"{dash} points="{}"/>"#,
                coords.join(" ")
            )
            .unwrap();
        }
        match series.style {
            Style::Markers | Style::LineMarkers => {
                for (_, x, y) in &points {
                    writeln!(svg, r#"<circle class="point" cx="{x:.2}" cy="{y:.2}" r="4" fill="{color}"/>"#).unwrap();
                }
            }
            Style::Dots => {
                let mut drawn = std::collections::HashSet::new();
                for (_, x, y) in &points {
                    if drawn.insert(((x * 10.0).round() as i64, (y * 10.0).round() as i64)) {
                        writeln!(
                            svg,
                            r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="2" fill="{color}" fill-opacity="0.6"/>"#
                        )
                        .unwrap();
                    }
                }
            }
            Style::Bars(width) => self.bars(svg, series, &points, width, color),
            Style::Line | Style::Dashed => {}
        }
        if let Some(errors) = &series.y_error {
            for &(i, x, _) in &points {
                let (lo, hi) = (series.y[i] - errors[i], series.y[i] + errors[i]);
                let bottom = self.py(lo).unwrap_or(TOP + self.height);
                if let Some(top) = self.py(hi) {
                    writeln!(
                        svg,
                        r#"<line x1="{x:.2}" y1="{top:.2}" x2="{x:.2}" y2="{bottom:.2}" stroke="{color}" stroke-width="1.2"/>"#
                    )
                    .unwrap();
                }
            }
        }
    }

    /// Bars of `width` (data units) standing on y = 0.
    fn bars(&self, svg: &mut String, series: &Series, points: &[(usize, f64, f64)], width: f64, color: &str) {
        let base = self.py(0.0).unwrap_or(TOP + self.height);
        for &(i, _, y) in points {
            let x = series.x[i];
            let (Some(left), Some(right)) = (self.px(x - 0.5 * width), self.px(x + 0.5 * width)) else {
                continue;
            };
            let (top, bottom) = (y.min(base), y.max(base));
            writeln!(
                svg,
                r#"<rect class="bar" x="{left:.2}" y="{top:.2}" width="{:.2}" height="{:.2}" fill="{color}" stroke="white"/>"#,
                right - left,
                bottom - top
            )
            .unwrap();
        }
    }

    /// The legend in a top corner, on a white box sized to the longest label (≈ 7 px per character): top left
    /// on equal axes, where a parity plot's diagonal leaves room; top right otherwise.
    fn legend(&self, svg: &mut String, plot: &Plot) {
        let longest = plot.series.iter().map(|s| s.label.chars().count()).max().unwrap_or(0) as f64;
        let width = 40.0 + 7.0 * longest;
        let x = if plot.equal_axes { LEFT + 8.0 } else { (LEFT + self.width - width - 8.0).max(LEFT + 4.0) };
        let height = 8.0 + 18.0 * plot.series.len() as f64;
        writeln!(
            svg,
            r##"<rect x="{x:.2}" y="{:.2}" width="{width:.2}" height="{height:.2}" fill="white" fill-opacity="0.85" stroke="#cccccc"/>"##,
            TOP + 6.0
        )
        .unwrap();
        for (k, series) in plot.series.iter().enumerate() {
            let color = series.color.unwrap_or(PALETTE[k % PALETTE.len()]);
            let y = TOP + 24.0 + 18.0 * k as f64;
            writeln!(svg, "{}", legend_key(series.style, x, y, color)).unwrap();
            writeln!(svg, r#"<text x="{:.2}" y="{y:.2}">{}</text>"#, x + 36.0, escape(&series.label)).unwrap();
        }
    }
}

/// The legend's sample of a series drawn in `style`, for the entry whose text baseline is at `y`.
fn legend_key(style: Style, x: f64, y: f64, color: &str) -> String {
    let marker =
        |radius: f64| format!(r#"<circle cx="{:.2}" cy="{:.2}" r="{radius}" fill="{color}"/>"#, x + 18.0, y - 4.0);
    let line = |dash: &str| {
        format!(
            r#"<line x1="{:.2}" y1="{:.2}" x2="{:.2}" y2="{:.2}" stroke="{color}" stroke-width="2"{dash}/>"#,
            x + 6.0,
            y - 4.0,
            x + 30.0,
            y - 4.0
        )
    };
    match style {
        Style::Markers | Style::Dots => marker(4.0),
        Style::Line => line(""),
        Style::Dashed => line(r#" stroke-dasharray="6 4""#),
        Style::LineMarkers => line("") + &marker(4.0),
        Style::Bars(_) => {
            format!(r#"<rect x="{:.2}" y="{:.2}" width="16" height="10" fill="{color}"/>"#, x + 10.0, y - 9.0)
        }
    }
}

impl Plot {
    /// The axes spanning every series (with their error bars; bars from 0), the same range on both with
    /// `equal_axes`.
    fn canvas(&self) -> Canvas {
        let x_values = self.series.iter().flat_map(|s| {
            let half_width = if let Style::Bars(width) = s.style { 0.5 * width } else { 0.0 };
            s.x.iter().flat_map(move |x| [x - half_width, x + half_width])
        });
        let y_values = self.series.iter().flat_map(|s| {
            let errors = s.y_error.clone().unwrap_or_else(|| vec![0.0; s.y.len()]);
            let floor = matches!(s.style, Style::Bars(_)).then_some(0.0);
            s.y.iter().zip(errors).flat_map(|(y, e)| [y - e, *y, y + e]).chain(floor).collect::<Vec<f64>>()
        });
        let y_values: Vec<f64> = y_values.filter(|v| !self.y_log || *v > 0.0).collect();
        let (x_axis, y_axis) = if self.equal_axes {
            let all: Vec<f64> = x_values.chain(y_values).collect();
            (Axis::new(all.iter().copied(), self.x_log), Axis::new(all.into_iter(), self.y_log))
        } else {
            (Axis::new(x_values, self.x_log), Axis::new(y_values.into_iter(), self.y_log))
        };
        Canvas { x_axis, y_axis, width: WIDTH - LEFT - RIGHT, height: HEIGHT - TOP - BOTTOM }
    }

    /// Renders the plot as an SVG document.
    pub fn to_svg(&self) -> String {
        let canvas = self.canvas();
        let mut svg = String::new();
        writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="13">"#
        )
        .unwrap();
        writeln!(svg, r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#).unwrap();
        canvas.frame(&mut svg, self);
        // Data, clipped to the plot area.
        writeln!(
            svg,
            r#"<clipPath id="area"><rect x="{LEFT}" y="{TOP}" width="{}" height="{}"/></clipPath><g clip-path="url(#area)">"#,
            canvas.width,
            canvas.height
        )
        .unwrap();
        for (k, series) in self.series.iter().enumerate() {
            canvas.series(&mut svg, series, series.color.unwrap_or(PALETTE[k % PALETTE.len()]));
        }
        svg.push_str("</g>\n");
        if !self.series.is_empty() {
            canvas.legend(&mut svg, self);
        }
        svg.push_str("</svg>\n");
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(0.13), 0.2);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert!((nice_step(0.0009) - 0.001).abs() < 1e-15);
    }

    #[test]
    fn svg_has_axes_ticks_labels_legend_and_series() {
        let plot = Plot {
            title: "MSD <Li>".into(),
            x_label: "t (ps)".into(),
            y_label: "MSD (Å²)".into(),
            series: vec![
                Series::line("Li", vec![0.0, 1.0, 2.0], vec![0.0, 3.0, 6.1]),
                Series::new("fit", vec![0.5, 1.5, f64::NAN], vec![1.0, 4.0, 2.0], Style::Markers)
                    .with_errors(vec![0.5, 0.5, 0.5])
                    .with_color("black"),
            ],
            ..Default::default()
        };
        let svg = plot.to_svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(
            svg.contains("MSD &lt;Li&gt;") && svg.contains("t (ps)") && svg.contains(">Li<") && svg.contains(">fit<")
        );
        assert_eq!(svg.matches("<polyline").count(), 1);
        // Two drawable markers in the plot plus one legend marker; the NaN point is skipped.
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches(r#"class="point""#).count(), 2);
        assert_eq!(svg.matches(r#"fill="black""#).count(), 3, "the coloured series' markers and legend key");
        // Linear y ticks 0, 2, 4, 6 and x ticks at 0, 0.5, ..., 2.
        assert!(svg.contains(">6<") && svg.contains(">0.5<"));
    }

    #[test]
    fn log_axis_has_decade_ticks() {
        let plot = Plot {
            y_log: true,
            series: vec![Series::line("D", vec![1.0, 2.0, 3.0], vec![2e-6, 3e-5, -1.0])],
            ..Default::default()
        };
        let svg = plot.to_svg();
        for label in ["1e-6", "1e-5", "1e-4"] {
            assert!(svg.contains(&format!(">{label}<")), "{label} missing");
        }
        let svg = Plot {
            y_log: true,
            series: vec![Series::line("D", vec![1.0, 2.0], vec![0.05, 20.0])],
            ..Default::default()
        }
        .to_svg();
        for label in ["0.01", "0.1", "1", "10", "100"] {
            assert!(svg.contains(&format!(">{label}<")), "{label} missing");
        }
    }

    #[test]
    fn bars_stand_on_zero_one_per_bin() {
        let svg = Plot {
            series: vec![Series::new("hops", vec![0.525, 0.575, 0.625], vec![3.0, 0.0, 7.0], Style::Bars(0.05))],
            ..Default::default()
        }
        .to_svg();
        assert_eq!(svg.matches(r#"class="bar""#).count(), 3);
        // The y axis starts at 0 although no bar is below 0, and the x axis covers the bins' edges.
        assert!(svg.contains(">0<") && svg.contains(">0.5<") && svg.contains(">0.65<"));
        let heights: Vec<f64> = svg
            .lines()
            .filter(|l| l.contains(r#"class="bar""#))
            .map(|l| l.split("height=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(heights[1], 0.0);
        assert!((heights[2] / heights[0] - 7.0 / 3.0).abs() < 1e-2, "{heights:?}");
    }

    #[test]
    fn dots_on_the_same_pixel_are_drawn_once() {
        let x = vec![0.0, 1.0, 1.0, 1.0 + 1e-9, 2.0];
        let svg = Plot { series: vec![Series::new("cloud", x.clone(), x, Style::Dots)], ..Default::default() }.to_svg();
        assert_eq!(svg.matches(r#"class="point""#).count(), 3);
    }

    #[test]
    fn line_markers_and_equal_axes() {
        let plot = Plot {
            equal_axes: true,
            series: vec![Series::new("band", vec![0.0, 1.0, 2.0], vec![0.0, 10.0, 0.5], Style::LineMarkers)],
            ..Default::default()
        };
        let svg = plot.to_svg();
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches(r#"class="point""#).count(), 3);
        // Both axes span 0..10, so x has the tick 10 although no x value reaches it.
        let x_tick_10 = svg.lines().any(|l| l.contains(r#"text-anchor="middle">10<"#));
        assert!(x_tick_10, "{svg}");
    }
}

//! Files of the kMC stage: `kmc.csv`, `kmc_arrhenius.svg` (written by hand), `kmc_trajectory_<i>.csv`,
//! `kmc_site_occupancy_<i>.csv`. Formats are documented in docs/kmc.md.

use super::{ArrheniusFit, SiteNetwork, TemperatureResult, TrajectoryFrame};
use crate::io::write_atomically;
use crate::system::BOLTZMANN_EV_PER_K;
use anyhow::Context;
use std::fmt::Write as _;
use std::path::Path;

fn write(path: &Path, text: String) -> anyhow::Result<()> {
    write_atomically(path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

/// One row per temperature.
pub fn write_csv(path: &Path, results: &[TemperatureResult]) -> anyhow::Result<()> {
    let mut text = String::from(
        "temperature_k,events,simulated_time_ps,blocks,jump_rate_per_carrier_per_ps,\
         tracer_d_a2_per_ps,tracer_d_err_a2_per_ps,tracer_d_cm2_per_s,tracer_d_err_cm2_per_s,\
         collective_d_a2_per_ps,collective_d_err_a2_per_ps,collective_d_cm2_per_s,collective_d_err_cm2_per_s,\
         ion_tracer_d_a2_per_ps,ion_tracer_d_err_a2_per_ps,ion_tracer_d_cm2_per_s,ion_tracer_d_err_cm2_per_s\n",
    );
    for r in results {
        let _ = write!(
            text,
            "{},{},{:.10e},{},{:.10e}",
            r.temperature_k, r.events, r.simulated_time_ps, r.blocks, r.jump_rate_per_carrier_per_ps
        );
        for d in [Some(r.tracer), Some(r.collective), r.ion_tracer] {
            match d {
                Some(d) => {
                    let _ = write!(
                        text,
                        ",{:.10e},{:.10e},{:.10e},{:.10e}",
                        d.d_a2_per_ps, d.d_err_a2_per_ps, d.d_cm2_per_s, d.d_err_cm2_per_s
                    );
                }
                None => text.push_str(",,,,"),
            }
        }
        text.push('\n');
    }
    write(path, text)
}

/// Carrier positions: `time_ps,carrier,x_a,y_a,z_a`, unwrapped, one row per carrier per frame.
pub fn write_trajectory(path: &Path, temperature_k: f64, frames: &[TrajectoryFrame]) -> anyhow::Result<()> {
    let mut text =
        format!("# mdrun kmc trajectory v1\n# temperature_k: {temperature_k}\ntime_ps,carrier,x_a,y_a,z_a\n");
    for frame in frames {
        for (p, r) in frame.positions.iter().enumerate() {
            let _ = writeln!(text, "{:.8e},{p},{:.6},{:.6},{:.6}", frame.time_ps, r.x, r.y, r.z);
        }
    }
    write(path, text)
}

/// Fraction of time each site held a carrier: `site,x_a,y_a,z_a,site_energy_ev,occupancy`.
pub fn write_occupancy(
    path: &Path,
    network: &SiteNetwork,
    temperature_k: f64,
    occupancy: &[f64],
) -> anyhow::Result<()> {
    let mut text = format!("# temperature_k: {temperature_k}\nsite,x_a,y_a,z_a,site_energy_ev,occupancy\n");
    for (s, f) in occupancy.iter().enumerate() {
        let r = network.position(s);
        let _ = writeln!(text, "{s},{:.6},{:.6},{:.6},{:.6},{:.8e}", r.x, r.y, r.z, network.site_energy(s), f);
    }
    write(path, text)
}

/// A plotted data set: label, colour, (T, D, σ_D) points and the fit.
type Series<'a> = (&'a str, &'a str, Vec<(f64, f64, f64)>, &'a ArrheniusFit);

/// Arrhenius plot: log₁₀ D (Å²/ps) against 1000/T with 1σ error bars and the fitted line(s).
pub fn write_arrhenius_svg(
    path: &Path,
    results: &[TemperatureResult],
    fit: &ArrheniusFit,
    ion_fit: Option<&ArrheniusFit>,
) -> anyhow::Result<()> {
    let (width, height, left, right, top, bottom) = (640.0, 440.0, 80.0, 20.0, 40.0, 60.0);
    let mut series: Vec<Series> = vec![(
        "carrier tracer D",
        "#1f77b4",
        results.iter().map(|r| (r.temperature_k, r.tracer.d_a2_per_ps, r.tracer.d_err_a2_per_ps)).collect(),
        fit,
    )];
    if let Some(ion_fit) = ion_fit {
        let points =
            results.iter().filter_map(|r| r.ion_tracer.map(|d| (r.temperature_k, d.d_a2_per_ps, d.d_err_a2_per_ps)));
        series.push(("ion tracer D", "#d62728", points.collect(), ion_fit));
    }
    let xs: Vec<f64> = results.iter().map(|r| 1000.0 / r.temperature_k).collect();
    let (mut x_min, mut x_max) =
        (xs.iter().cloned().fold(f64::INFINITY, f64::min), xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
    let pad = 0.05 * (x_max - x_min).max(1e-3);
    x_min -= pad;
    x_max += pad;
    let mut y_values = Vec::new();
    for (_, _, points, _) in &series {
        for &(_, d, e) in points {
            y_values.push(d.log10());
            if d - e > 0.0 {
                y_values.push((d - e).log10());
            }
            y_values.push((d + e).log10());
        }
    }
    let (mut y_min, mut y_max) = (
        y_values.iter().cloned().fold(f64::INFINITY, f64::min),
        y_values.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    );
    let pad = 0.05 * (y_max - y_min).max(0.1);
    y_min -= pad;
    y_max += pad;
    let px = |x: f64| left + (x - x_min) / (x_max - x_min) * (width - left - right);
    let py = |y: f64| top + (y_max - y) / (y_max - y_min) * (height - top - bottom);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n",
        width - left - right,
        height - top - bottom
    );
    for i in 0..=5 {
        let x = x_min + (x_max - x_min) * i as f64 / 5.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{x:.3}</text>",
            px(x),
            height - bottom + 18.0
        );
        let y = y_min + (y_max - y_min) * i as f64 / 5.0;
        let _ =
            writeln!(svg, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{y:.2}</text>", left - 6.0, py(y) + 4.0);
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">1000 / T (1/K)</text>",
        left + (width - left - right) / 2.0,
        height - 15.0
    );
    let _ = writeln!(
        svg,
        "<text transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\">log10 D (Å²/ps)</text>",
        top + (height - top - bottom) / 2.0
    );
    for (k, (label, colour, points, fit)) in series.iter().enumerate() {
        let line = |x: f64| {
            (fit.prefactor_a2_per_ps.ln() - fit.activation_energy_ev / BOLTZMANN_EV_PER_K * x / 1000.0)
                / std::f64::consts::LN_10
        };
        let _ =
            writeln!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-dasharray=\"6 4\"/>",
            px(x_min), py(line(x_min)), px(x_max), py(line(x_max))
        );
        for &(t, d, e) in points {
            let x = px(1000.0 / t);
            let low = if d - e > 0.0 { (d - e).log10() } else { y_min };
            let _ = writeln!(
                svg,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{colour}\"/>",
                py(low),
                py((d + e).log10())
            );
            let _ = writeln!(svg, "<circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\"/>", py(d.log10()));
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\">{label}: E_a = {:.4} ± {:.4} eV, D₀ = {:.3e} Å²/ps</text>",
            left + 10.0,
            top - 22.0 + 14.0 * k as f64,
            fit.activation_energy_ev,
            fit.activation_energy_err_ev,
            fit.prefactor_a2_per_ps
        );
    }
    svg.push_str("</svg>\n");
    write(path, svg)
}

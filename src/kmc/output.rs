//! Files of the kMC stage: `kmc.csv`, `kmc_arrhenius.svg`, `kmc_trajectory_<i>.csv`,
//! `kmc_site_occupancy_<i>.csv`. Formats are documented in docs/kmc.md.

use super::{SiteNetwork, TemperatureResult, TrajectoryFrame};
use crate::analysis::arrhenius::{self, ArrheniusFit};
use crate::io::kmc_trajectory::{self, KmcTrajectoryHeader};
use crate::io::write_atomically;
use crate::plot::{Plot, PALETTE};
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

/// Carrier positions: `time_ps,carrier,x_a,y_a,z_a`, unwrapped, one row per carrier per frame (the format of
/// [`crate::io::kmc_trajectory`]).
pub fn write_trajectory(path: &Path, temperature_k: f64, frames: &[TrajectoryFrame]) -> anyhow::Result<()> {
    let header = KmcTrajectoryHeader { temperature_k: Some(temperature_k) };
    write(path, kmc_trajectory::format_trajectory(&header, frames))
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

/// Arrhenius plot: D (Å²/ps, log axis) against 1000/T with 1σ error bars and the fitted line(s) of the carrier
/// tracer and, when given, the ion tracer.
pub fn write_arrhenius_svg(path: &Path, fit: &ArrheniusFit, ion_fit: Option<&ArrheniusFit>) -> anyhow::Result<()> {
    let legend = |fit: &ArrheniusFit| {
        format!(
            "fit: E_a = {:.4} ± {:.4} eV, D₀ = {:.3e} Å²/ps",
            fit.activation_energy_ev, fit.activation_energy_sigma_ev, fit.prefactor
        )
    };
    let mut plot = Plot {
        title: "kMC Arrhenius plot".into(),
        x_label: "1000 / T (1/K)".into(),
        y_label: "D (Å²/ps)".into(),
        y_log: true,
        series: arrhenius::plot_series(fit, "carrier tracer D".into(), legend(fit), PALETTE[0]).into(),
        ..Default::default()
    };
    if let Some(ion_fit) = ion_fit {
        plot.series.extend(arrhenius::plot_series(ion_fit, "ion tracer D".into(), legend(ion_fit), PALETTE[1]));
    }
    write(path, plot.to_svg())
}

//! Thermodynamic output: the LAMMPS-like table on screen and `thermo.csv`.
//!
//! Pressure as LAMMPS `compute pressure` (with the thermostat temperature's degrees of freedom):
//! P = (N_f k_B T + tr W)/(3V) = (2K + Σ_i r_i·F_i)/(3V), reported in bar (1 eV/Å³ = 1.602 176 634e6 bar).
//! For a cell without volume (isolated cluster) the pressure is not defined and reported as NaN.

use crate::potentials::{Evaluation, EV_PER_A3_IN_BAR};
use crate::system::System;
use serde::{Deserialize, Serialize};

/// One row of thermodynamic output.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThermoRow {
    pub step: u64,
    /// Simulated time (fs).
    pub time_fs: f64,
    /// Instantaneous temperature 2K/(N_f k_B) (K).
    pub temperature_k: f64,
    /// Potential energy (eV).
    pub potential_energy: f64,
    /// Kinetic energy (eV).
    pub kinetic_energy: f64,
    /// Potential + kinetic energy (eV).
    pub total_energy: f64,
    /// Total energy + thermostat reservoir energy (eV): constant up to discretisation error.
    pub conserved_energy: f64,
    /// Pressure including the kinetic part (bar).
    pub pressure_bar: f64,
    /// Cell volume (Å³; NaN without a cell).
    pub volume_a3: f64,
    /// Extrapolation warnings in this step's evaluation (0 for potentials that do not report them).
    pub extrapolations: usize,
}

/// Pressure (bar): (2K + tr W)/(3V); NaN for a cell without volume or a potential that sent no virial.
pub fn pressure_bar(system: &System, evaluation: &Evaluation, kinetic_energy: f64) -> f64 {
    if system.cell.is_infinite() || !evaluation.has_virial {
        return f64::NAN;
    }
    (2.0 * kinetic_energy + evaluation.virial.trace()) / (3.0 * system.cell.volume()) * EV_PER_A3_IN_BAR
}

impl ThermoRow {
    /// The row for the current state.
    pub fn new(step: u64, time_fs: f64, system: &System, evaluation: &Evaluation, reservoir_energy: f64) -> ThermoRow {
        let kinetic_energy = system.kinetic_energy();
        let total_energy = evaluation.energy + kinetic_energy;
        ThermoRow {
            step,
            time_fs,
            temperature_k: system.temperature(),
            potential_energy: evaluation.energy,
            kinetic_energy,
            total_energy,
            conserved_energy: total_energy + reservoir_energy,
            pressure_bar: pressure_bar(system, evaluation, kinetic_energy),
            volume_a3: if system.cell.is_infinite() { f64::NAN } else { system.cell.volume() },
            extrapolations: evaluation.extrapolation.as_ref().map_or(0, |e| e.total()),
        }
    }

    /// CSV header line (with newline).
    pub const CSV_HEADER: &'static str =
        "step,time_fs,temperature_k,potential_energy_ev,kinetic_energy_ev,total_energy_ev,conserved_energy_ev,pressure_bar,volume_a3,extrapolations\n";

    /// CSV line (with newline), full precision.
    pub fn csv_line(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            self.step,
            self.time_fs,
            self.temperature_k,
            self.potential_energy,
            self.kinetic_energy,
            self.total_energy,
            self.conserved_energy,
            self.pressure_bar,
            self.volume_a3,
            self.extrapolations
        )
    }

    /// Screen header, LAMMPS style.
    pub fn table_header(with_extrapolations: bool) -> String {
        let mut header = format!(
            "{:>10} {:>12} {:>12} {:>16} {:>14} {:>16} {:>16} {:>14} {:>12}",
            "Step", "Time", "Temp", "PotEng", "KinEng", "TotEng", "Econserve", "Press", "Volume"
        );
        if with_extrapolations {
            header.push_str(&format!(" {:>8}", "Extrap"));
        }
        header
    }

    /// Screen line.
    pub fn table_line(&self, with_extrapolations: bool) -> String {
        let mut line = format!(
            "{:>10} {:>12.3} {:>12.4} {:>16.8} {:>14.8} {:>16.8} {:>16.8} {:>14.4} {:>12.4}",
            self.step,
            self.time_fs,
            self.temperature_k,
            self.potential_energy,
            self.kinetic_energy,
            self.total_energy,
            self.conserved_energy,
            self.pressure_bar,
            self.volume_a3
        );
        if with_extrapolations {
            line.push_str(&format!(" {:>8}", self.extrapolations));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::{Cell, BOLTZMANN_EV_PER_K};
    use nalgebra::Vector3;

    /// An ideal gas (no forces) has P V = N_f k_B T: checks the kinetic part and the bar conversion.
    #[test]
    fn ideal_gas_pressure() {
        let mut s = System::new(Cell::orthorhombic(10.0, 10.0, 10.0).unwrap());
        s.push(18, Vector3::zeros());
        s.push(18, Vector3::new(5.0, 5.0, 5.0));
        s.velocities[0] = Vector3::new(0.01, 0.0, 0.0);
        s.velocities[1] = Vector3::new(-0.01, 0.0, 0.0);
        let evaluation =
            Evaluation { forces: vec![Vector3::zeros(); 2], atom_energies: vec![0.0; 2], ..Default::default() };
        let row = ThermoRow::new(0, 0.0, &s, &evaluation, 0.0);
        let nf = s.degrees_of_freedom() as f64;
        let expected = nf * BOLTZMANN_EV_PER_K * row.temperature_k / (3.0 * 1000.0) * EV_PER_A3_IN_BAR;
        assert!((row.pressure_bar - expected).abs() < 1e-9 * expected);
        assert!(row.csv_line().starts_with("0,0,"));
        assert_eq!(ThermoRow::CSV_HEADER.matches(',').count(), row.csv_line().matches(',').count());
    }
}

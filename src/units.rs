//! The one unit table of the engine. Internal units: Å, eV, fs, amu, K, e.
//! Constants are CODATA 2018 / SI 2019 exact values where those exist.

/// Boltzmann constant k_B in eV/K.
pub const BOLTZMANN_EV_PER_K: f64 = 8.617_333_262e-5;

/// 1 amu·Å²/fs² in eV (= 1.660 539 066 60e-27 kg · 1e10 m²/s² / 1.602 176 634e-19 J ≈ 103.6427 eV).
pub const AMU_A2_PER_FS2_IN_EV: f64 = 1.660_539_066_60e-27 * 1e10 / 1.602_176_634e-19;

/// 1 eV/Å³ in bar (pressure and stress).
pub const EV_PER_A3_IN_BAR: f64 = 1.602_176_634e6;

/// 1 Bohr in Å.
pub const BOHR_IN_A: f64 = 0.529_177_210_903;

/// 1 Hartree in eV.
pub const HARTREE_IN_EV: f64 = 27.211_386_245_988;

/// 1 Å²/ps in cm²/s (diffusion coefficients).
pub const A2_PER_PS_IN_CM2_PER_S: f64 = 1e-4;

/// 1 ps in fs.
pub const PS_IN_FS: f64 = 1000.0;

/// 1 THz in meV (h · 1e12 Hz / e).
pub const THZ_IN_MEV: f64 = 4.135_667_696;

/// 1 THz in cm⁻¹ (1e12 Hz / c).
pub const THZ_IN_INVERSE_CM: f64 = 33.356_409_519_815;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_constants() {
        assert!((AMU_A2_PER_FS2_IN_EV - 103.642_696).abs() < 1e-5);
        // k_B·T at 300 K ≈ 25.852 meV.
        assert!((BOLTZMANN_EV_PER_K * 300.0 - 0.025_852).abs() < 1e-6);
    }
}

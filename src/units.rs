//! The one unit table of the engine. Internal units: Å, eV, fs, amu, K, e.
//! Constants are CODATA 2018 / SI 2019 exact values where those exist.

/// Boltzmann constant k_B in eV/K.
pub const BOLTZMANN_EV_PER_K: f64 = 8.617_333_262e-5;

/// Elementary charge e in C (exact since SI 2019); 1 eV = e · 1 V.
pub const ELEMENTARY_CHARGE_C: f64 = 1.602_176_634e-19;

/// 1 amu (Dalton) in kg.
pub const AMU_IN_KG: f64 = 1.660_539_066_60e-27;

/// 1 amu·Å²/fs² in eV: m_u · (1e-10 m / 1e-15 s)² / e = 1.660 539 066 60e-27 kg · 1e10 m²/s² / 1.602 176 634e-19 J
/// ≈ 103.6427 eV.
pub const AMU_A2_PER_FS2_IN_EV: f64 = AMU_IN_KG * 1e10 / ELEMENTARY_CHARGE_C;

/// Grams per cm³ of one amu per Å³: 1.660 539 066 60e-24 g / 1e-24 cm³.
pub const G_PER_CM3_PER_AMU_PER_A3: f64 = 1.660_539_066_60;

/// 1 eV/Å³ in bar (pressure and stress).
pub const EV_PER_A3_IN_BAR: f64 = 1.602_176_634e6;

/// 1 Bohr in Å.
pub const BOHR_IN_A: f64 = 0.529_177_210_903;

/// 1 Hartree in eV.
pub const HARTREE_IN_EV: f64 = 27.211_386_245_988;

/// 1 Bohr in Å as ASE computes it (`ase.units.Bohr`, from CODATA 2014 constants): the value on the i-PI wire of
/// the socket potential, so that an ASE client's Å arrive unchanged (2.5·10⁻¹⁰ relative from [`BOHR_IN_A`]).
pub const ASE_BOHR_IN_A: f64 = 0.529_177_210_563_841_1;

/// 1 Hartree in eV as ASE computes it (`ase.units.Hartree`, CODATA 2014): the i-PI wire's energy unit.
pub const ASE_HARTREE_IN_EV: f64 = 27.211_386_024_367_243;

/// 1 Rydberg (½ Hartree) in eV.
pub const RYDBERG_IN_EV: f64 = 13.605_693_122_994;

/// 1 kcal/mol in eV (4184 J / N_A / e).
pub const KCAL_PER_MOL_IN_EV: f64 = 0.043_364_104_241_800_934;

/// 1 kJ/mol in eV (1000 J / N_A / e).
pub const KJ_PER_MOL_IN_EV: f64 = 0.010_364_269_656_262_175;

/// Hartree·Bohr in eV·Å as the DYNAMO `funcfl` EAM format defines it, with the truncated factors 27.2 and 0.529
/// (as LAMMPS's `pair_style eam`), not [`HARTREE_IN_EV`] · [`BOHR_IN_A`]: the pair energy of a funcfl file is
/// φ_ij(r) = 27.2 · 0.529 · Z_i(r) Z_j(r) / r. Kept truncated so that our energies match the files' other users.
pub const FUNCFL_HARTREE_BOHR_IN_EV_A: f64 = 27.2 * 0.529;

/// 1 Å²/ps in cm²/s (diffusion coefficients).
pub const A2_PER_PS_IN_CM2_PER_S: f64 = 1e-4;

/// 1 Å²/ps in m²/s.
pub const A2_PER_PS_IN_M2_PER_S: f64 = 1e-8;

/// 1 Å³ in m³.
pub const A3_IN_M3: f64 = 1e-30;

/// 1 m in cm (σ in S/m divided by this is σ in S/cm).
pub const M_IN_CM: f64 = 100.0;

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
        // The named factors give the same bits as the literal expression they replaced.
        assert_eq!(AMU_A2_PER_FS2_IN_EV.to_bits(), (1.660_539_066_60e-27 * 1e10 / 1.602_176_634e-19f64).to_bits());
        assert_eq!(FUNCFL_HARTREE_BOHR_IN_EV_A, 27.2 * 0.529);
        assert!((RYDBERG_IN_EV - HARTREE_IN_EV / 2.0).abs() < 1e-11);
        // k_B·T at 300 K ≈ 25.852 meV.
        assert!((BOLTZMANN_EV_PER_K * 300.0 - 0.025_852).abs() < 1e-6);
    }
}

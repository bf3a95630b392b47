//! Initial velocities, as LAMMPS `velocity all create T seed dist gaussian mom yes`: every component drawn
//! from the Maxwell–Boltzmann distribution N(0, k_B T/m), the centre-of-mass velocity removed, then all
//! velocities scaled so that the instantaneous temperature 2K/(N_f k_B) equals T exactly.

use crate::system::{System, AMU_A2_PER_FS2_IN_EV, BOLTZMANN_EV_PER_K};
use rand::Rng;
use rand_distr::StandardNormal;

/// Removes the centre-of-mass velocity: v_i ← v_i − Σ m v / Σ m.
pub fn zero_momentum(system: &mut System) {
    let total_mass = system.total_mass();
    if total_mass <= 0.0 {
        return;
    }
    let com_velocity = system.momentum() / total_mass;
    for v in system.velocities.iter_mut() {
        *v -= com_velocity;
    }
}

/// Scales velocities so the instantaneous temperature is exactly `temperature_k` (no-op at zero kinetic energy).
pub fn scale_to_temperature(system: &mut System, temperature_k: f64) {
    let current = system.temperature();
    if current > 0.0 {
        let factor = (temperature_k / current).sqrt();
        for v in system.velocities.iter_mut() {
            *v *= factor;
        }
    }
}

/// Draws Maxwell–Boltzmann velocities at `temperature_k` (K), with zero total momentum when the system has
/// more than one atom, and the exact requested instantaneous temperature. Components are drawn atom by atom,
/// x, y, z, from `rng`, so a seed fixes the result.
pub fn maxwell_boltzmann(system: &mut System, temperature_k: f64, rng: &mut impl Rng) {
    let kt = BOLTZMANN_EV_PER_K * temperature_k;
    for (v, m) in system.velocities.iter_mut().zip(&system.masses) {
        let sigma = (kt / (m * AMU_A2_PER_FS2_IN_EV)).sqrt();
        for k in 0..3 {
            let xi: f64 = rng.sample(StandardNormal);
            v[k] = sigma * xi;
        }
    }
    if system.len() > 1 {
        zero_momentum(system);
    }
    scale_to_temperature(system, temperature_k);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::Cell;
    use nalgebra::Vector3;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn mixed_system() -> System {
        let mut s = System::new(Cell::orthorhombic(20.0, 20.0, 20.0).unwrap());
        for i in 0..400 {
            let z = if i % 3 == 0 { 3 } else { 8 };
            s.push(z, Vector3::new(i as f64 * 0.05, 0.0, 0.0));
        }
        s
    }

    #[test]
    fn zero_momentum_exact_temperature_and_reproducible() {
        let mut a = mixed_system();
        maxwell_boltzmann(&mut a, 300.0, &mut Xoshiro256PlusPlus::seed_from_u64(7));
        assert!(a.momentum().norm() < 1e-10, "momentum {}", a.momentum().norm());
        assert!((a.temperature() - 300.0).abs() < 1e-9, "T = {}", a.temperature());
        let mut b = mixed_system();
        maxwell_boltzmann(&mut b, 300.0, &mut Xoshiro256PlusPlus::seed_from_u64(7));
        assert_eq!(a.velocities, b.velocities);
        let mut c = mixed_system();
        maxwell_boltzmann(&mut c, 300.0, &mut Xoshiro256PlusPlus::seed_from_u64(8));
        assert_ne!(a.velocities, c.velocities);
    }

    /// Each species gets ⟨m v_x²⟩ = k_B T (equipartition per component), within sampling error.
    #[test]
    fn components_follow_maxwell_boltzmann_per_mass() {
        let mut s = mixed_system();
        let t = 1000.0;
        maxwell_boltzmann(&mut s, t, &mut Xoshiro256PlusPlus::seed_from_u64(1));
        for z in [3u8, 8] {
            let (mut sum, mut n) = (0.0, 0.0);
            for i in 0..s.len() {
                if s.atomic_numbers[i] == z {
                    sum += s.masses[i] * AMU_A2_PER_FS2_IN_EV * s.velocities[i].norm_squared() / 3.0;
                    n += 1.0;
                }
            }
            let kt = BOLTZMANN_EV_PER_K * t;
            // 3n samples of a χ² variable: relative standard error √(2/(3n)) ≈ 6 % for n = 133.
            assert!((sum / n / kt - 1.0).abs() < 0.2, "species {z}: ⟨m v²⟩/3kT = {}", sum / n / kt);
        }
    }
}

//! Velocity Verlet (Swope, Andersen, Berens & Wilson, J. Chem. Phys. 76, 637 (1982)), split into its
//! half kick and drift so that thermostats can be interleaved (as LAMMPS `fix nve` + `fix nvt`, or the
//! BAOAB splitting of Langevin dynamics):
//!
//! v(t + Δt/2) = v(t) + (Δt/2) F(t)/m,   r(t + Δt) = r(t) + Δt v(t + Δt/2),
//! v(t + Δt) = v(t + Δt/2) + (Δt/2) F(t + Δt)/m.
//!
//! Units: forces eV/Å, masses amu, time fs; a = F/m · (1/103.6427) Å/fs².

use crate::system::{System, AMU_A2_PER_FS2_IN_EV};
use nalgebra::Vector3;

/// Kick: v ← v + Δt·F/m for every atom (Δt in fs, forces in eV/Å).
pub fn kick(system: &mut System, forces: &[Vector3<f64>], dt: f64) {
    let scale = dt / AMU_A2_PER_FS2_IN_EV;
    for ((v, f), m) in system.velocities.iter_mut().zip(forces).zip(&system.masses) {
        *v += f * (scale / m);
    }
}

/// Drift: r ← r + Δt·v for every atom (Δt in fs).
pub fn drift(system: &mut System, dt: f64) {
    for (r, v) in system.positions.iter_mut().zip(&system.velocities) {
        *r += v * dt;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::Cell;

    /// A harmonic oscillator integrated with velocity Verlet keeps its energy to O(Δt²) and follows
    /// x(t) = A cos(ωt).
    #[test]
    fn harmonic_oscillator_follows_the_analytic_solution() {
        let mut s = System::new(Cell::infinite());
        s.push_with_mass(1, Vector3::new(1.0, 0.0, 0.0), 2.0);
        let k = 0.5; // eV/Å²
        let omega = (k / (2.0 * AMU_A2_PER_FS2_IN_EV)).sqrt(); // 1/fs
        let dt = 0.05;
        let force = |s: &System| vec![-k * s.positions[0]];
        let mut f = force(&s);
        let steps = 2000;
        for _ in 0..steps {
            kick(&mut s, &f, 0.5 * dt);
            drift(&mut s, dt);
            f = force(&s);
            kick(&mut s, &f, 0.5 * dt);
        }
        let t = steps as f64 * dt;
        assert!((s.positions[0].x - (omega * t).cos()).abs() < 1e-3, "x = {}", s.positions[0].x);
        let energy = s.kinetic_energy() + 0.5 * k * s.positions[0].norm_squared();
        // Velocity Verlet's shadow energy differs from E by O((ωΔt)²) ≈ 6e-6 relative here.
        assert!((energy / (0.5 * k) - 1.0).abs() < 1e-5, "E = {energy}");
    }
}

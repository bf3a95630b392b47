//! The rejection-free residence-time kMC loop (Bortz, Kalos and Lebowitz, J. Comput. Phys. 17, 10 (1975), the
//! "n-fold way"; Gillespie, J. Comput. Phys. 22, 403 (1976)) for carriers hopping on a [`SiteNetwork`] with site
//! exclusion.
//!
//! Each carrier p on site s has the total rate R_p = Σ_{hops h from s, target free} k_h with
//! k_h = ν·exp(−E_b(h)/k_B T). The R_p are the leaves of a [`SumTree`]. One event:
//! 1. draw u₁ ∈ [0, 1): the carrier is the leaf where u₁·R lands (R = Σ_p R_p), in O(log P);
//! 2. the hop is found by walking that carrier's free hops with the remainder, in O(z);
//! 3. time advances by Δt = −ln(u₂)/R, u₂ ∈ (0, 1] (the residence time of the current state);
//! 4. the carrier moves and the R of the carriers whose free hops changed — itself and those next to its old
//!    and new sites — are recomputed from scratch (in a fixed hop order, so results are reproducible bit for
//!    bit), O(z² + z log P) per event.
//!
//! Each carrier's unwrapped displacement is the sum of its hop vectors. In the vacancy picture the carriers are
//! vacancies and, optionally, the ions they exchange with are tracked too (each vacancy move i→j moves the ion
//! on j to i).

use super::network::SiteNetwork;
use super::tree::SumTree;
use crate::system::BOLTZMANN_EV_PER_K;
use nalgebra::Vector3;
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Marks a site without carrier (or, for ion labels, without ion).
pub const EMPTY: u32 = u32::MAX;

/// Rate k = ν·exp(−E_b/k_B T) in ps⁻¹ for an attempt frequency ν in Hz (s⁻¹), barrier in eV, temperature in K.
pub fn hop_rate_per_ps(attempt_frequency_hz: f64, barrier_ev: f64, temperature_k: f64) -> f64 {
    attempt_frequency_hz * 1e-12 * (-barrier_ev / (BOLTZMANN_EV_PER_K * temperature_k)).exp()
}

/// The ions exchanged with vacancies: which ion is on each site and how far each has moved.
#[derive(Clone, Debug)]
pub struct IonTracker {
    /// Ion on each site, `EMPTY` where a vacancy is.
    pub ion_at: Vec<u32>,
    /// Unwrapped displacement of each ion (Å).
    pub displacement: Vec<Vector3<f64>>,
}

/// Time each site has been occupied, accumulated lazily (O(1) per event).
#[derive(Clone, Debug)]
struct OccupancyClock {
    since: Vec<f64>,
    occupied_time: Vec<f64>,
}

/// The state of one kMC simulation at one temperature.
pub struct Simulation<'a> {
    offsets: &'a [u32],
    targets: &'a [u32],
    kinds: &'a [u32],
    rates: Vec<f64>,
    vectors: Vec<Vector3<f64>>,
    occupant: Vec<u32>,
    carrier_site: Vec<u32>,
    displacement: Vec<Vector3<f64>>,
    collective: Vector3<f64>,
    tree: SumTree,
    time_ps: f64,
    events: u64,
    rng: Xoshiro256PlusPlus,
    ions: Option<IonTracker>,
    occupancy: Option<OccupancyClock>,
}

/// The network has no possible event (every carrier blocked, no hop, or every rate underflows).
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("no possible event after {events} events: no carrier has a hop to a free site with a non-zero rate")]
pub struct NoEvent {
    pub events: u64,
}

impl<'a> Simulation<'a> {
    /// Carriers on `carrier_sites` (distinct, existing sites) of `network` at `temperature_k` with attempt
    /// frequency `attempt_frequency_hz`. `track_ions` puts a tracked ion on every other site (vacancy picture).
    pub fn new(
        network: &'a SiteNetwork,
        temperature_k: f64,
        attempt_frequency_hz: f64,
        carrier_sites: &[usize],
        track_ions: bool,
        rng: Xoshiro256PlusPlus,
    ) -> Simulation<'a> {
        let (offsets, targets, kinds) = network.raw();
        let rates = network
            .hop_kinds()
            .iter()
            .map(|k| hop_rate_per_ps(attempt_frequency_hz, k.barrier_ev, temperature_k))
            .collect();
        let vectors = network.hop_kinds().iter().map(|k| k.vector).collect();
        let mut occupant = vec![EMPTY; network.len()];
        for (p, &s) in carrier_sites.iter().enumerate() {
            debug_assert_eq!(occupant[s], EMPTY);
            occupant[s] = p as u32;
        }
        let ions = track_ions.then(|| {
            let mut next = 0u32;
            let ion_at: Vec<u32> = occupant
                .iter()
                .map(|&o| {
                    if o == EMPTY {
                        next += 1;
                        next - 1
                    } else {
                        EMPTY
                    }
                })
                .collect();
            IonTracker { ion_at, displacement: vec![Vector3::zeros(); next as usize] }
        });
        let mut simulation = Simulation {
            offsets,
            targets,
            kinds,
            rates,
            vectors,
            occupant,
            carrier_site: carrier_sites.iter().map(|&s| s as u32).collect(),
            displacement: vec![Vector3::zeros(); carrier_sites.len()],
            collective: Vector3::zeros(),
            tree: SumTree::new(carrier_sites.len()),
            time_ps: 0.0,
            events: 0,
            rng,
            ions,
            occupancy: None,
        };
        for p in 0..carrier_sites.len() {
            let r = simulation.carrier_rate(p);
            simulation.tree.set(p, r);
        }
        simulation
    }

    /// Simulated time (ps).
    pub fn time_ps(&self) -> f64 {
        self.time_ps
    }

    /// Events made.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Total rate of the current state (ps⁻¹).
    pub fn total_rate(&self) -> f64 {
        self.tree.total()
    }

    /// Unwrapped displacement of each carrier since the start (Å).
    pub fn displacements(&self) -> &[Vector3<f64>] {
        &self.displacement
    }

    /// Sum of all carrier displacements (Å).
    pub fn collective_displacement(&self) -> Vector3<f64> {
        self.collective
    }

    /// Site of each carrier.
    pub fn carrier_sites(&self) -> &[u32] {
        &self.carrier_site
    }

    /// The tracked ions, if any.
    pub fn ions(&self) -> Option<&IonTracker> {
        self.ions.as_ref()
    }

    /// Resets the clock to zero (e.g. after equilibration) and starts (or restarts) accumulating the time each
    /// site is occupied when `site_occupancy` is set.
    pub fn reset_clock(&mut self, site_occupancy: bool) {
        self.time_ps = 0.0;
        self.occupancy = site_occupancy.then(|| OccupancyClock {
            since: vec![0.0; self.occupant.len()],
            occupied_time: vec![0.0; self.occupant.len()],
        });
    }

    /// Fraction of the time since [`Simulation::reset_clock`] each site was occupied by a carrier.
    pub fn site_occupancy(&self) -> Option<Vec<f64>> {
        let clock = self.occupancy.as_ref()?;
        let mut fractions = clock.occupied_time.clone();
        for &s in &self.carrier_site {
            fractions[s as usize] += self.time_ps - clock.since[s as usize];
        }
        let t = self.time_ps;
        Some(fractions.into_iter().map(|x| if t > 0.0 { x / t } else { 0.0 }).collect())
    }

    /// R_p: sum of the rates of carrier p's hops to free sites, in hop order.
    #[inline]
    fn carrier_rate(&self, p: usize) -> f64 {
        let s = self.carrier_site[p] as usize;
        let mut total = 0.0;
        for h in self.offsets[s] as usize..self.offsets[s + 1] as usize {
            if self.occupant[self.targets[h] as usize] == EMPTY {
                total += self.rates[self.kinds[h] as usize];
            }
        }
        total
    }

    /// Recomputes R of the carriers on the sites one hop away from `site`.
    #[inline]
    fn refresh_neighbours(&mut self, site: usize) {
        for h in self.offsets[site] as usize..self.offsets[site + 1] as usize {
            let q = self.occupant[self.targets[h] as usize];
            if q != EMPTY {
                let r = self.carrier_rate(q as usize);
                self.tree.set(q as usize, r);
            }
        }
    }

    /// Makes `n` events.
    pub fn run(&mut self, n: u64) -> Result<(), NoEvent> {
        self.run_observed(n, |_, _| {})
    }

    /// Makes `n` events; before each, `observe(self, t_next)` sees the current state, which lasts until t_next.
    #[inline]
    pub fn run_observed(&mut self, n: u64, mut observe: impl FnMut(&Self, f64)) -> Result<(), NoEvent> {
        for _ in 0..n {
            let total = self.tree.total();
            if total <= 0.0 || total.is_nan() {
                return Err(NoEvent { events: self.events });
            }
            let (p, mut rest) = self.tree.find(self.rng.gen::<f64>() * total);
            let from = self.carrier_site[p] as usize;
            let hops = self.offsets[from] as usize..self.offsets[from + 1] as usize;
            let mut chosen = usize::MAX;
            for h in hops {
                if self.occupant[self.targets[h] as usize] == EMPTY {
                    chosen = h;
                    let rate = self.rates[self.kinds[h] as usize];
                    if rest < rate {
                        break;
                    }
                    rest -= rate;
                }
            }
            // `chosen` is the last free hop if rounding carried `rest` past the end; R_p > 0 guarantees one.
            debug_assert!(chosen != usize::MAX);
            let dt = -(1.0 - self.rng.gen::<f64>()).ln() / total;
            let t_next = self.time_ps + dt;
            observe(self, t_next);
            self.time_ps = t_next;
            self.events += 1;

            let to = self.targets[chosen] as usize;
            let vector = self.vectors[self.kinds[chosen] as usize];
            self.occupant[from] = EMPTY;
            self.occupant[to] = p as u32;
            self.carrier_site[p] = to as u32;
            self.displacement[p] += vector;
            self.collective += vector;
            if let Some(ions) = self.ions.as_mut() {
                let ion = ions.ion_at[to];
                ions.ion_at[from] = ion;
                ions.ion_at[to] = EMPTY;
                ions.displacement[ion as usize] -= vector;
            }
            if let Some(clock) = self.occupancy.as_mut() {
                clock.occupied_time[from] += t_next - clock.since[from];
                clock.since[to] = t_next;
            }
            let r = self.carrier_rate(p);
            self.tree.set(p, r);
            self.refresh_neighbours(from);
            self.refresh_neighbours(to);
        }
        Ok(())
    }
}

/// Bytes per site and per carrier of a [`Simulation`] (occupancy, carrier arrays, sum tree; ion labels and
/// displacements when tracked), for memory reports.
pub fn simulation_bytes(sites: usize, carriers: usize, track_ions: bool) -> usize {
    let tree = 2 * carriers.max(1).next_power_of_two() * size_of::<f64>();
    let carrier_arrays = carriers * (size_of::<u32>() + size_of::<Vector3<f64>>());
    let ions = if track_ions { sites * size_of::<u32>() + (sites - carriers) * size_of::<Vector3<f64>>() } else { 0 };
    sites * size_of::<u32>() + tree + carrier_arrays + ions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmc::network::{Lattice, LatticeKind};
    use rand::SeedableRng;

    #[test]
    fn occupancy_and_rates_stay_consistent() {
        let net = Lattice {
            kind: LatticeKind::BodyCentredCubic,
            repeat: [3, 3, 3],
            lattice_constant_a: 3.0,
            barrier_ev: 0.3,
        }
        .build()
        .unwrap();
        let sites: Vec<usize> = (0..net.len()).step_by(3).collect();
        let mut sim = Simulation::new(&net, 600.0, 1e13, &sites, false, Xoshiro256PlusPlus::seed_from_u64(3));
        sim.run(5000).unwrap();
        // Every carrier sits where the occupancy says, and the tree holds freshly computed rates.
        for (p, &s) in sim.carrier_sites().iter().enumerate() {
            assert_eq!(sim.occupant[s as usize], p as u32);
            assert_eq!(sim.tree.get(p), sim.carrier_rate(p));
        }
        assert_eq!(sim.occupant.iter().filter(|&&o| o != EMPTY).count(), sites.len());
        // The collective displacement is the sum of the carriers' displacements.
        let sum: Vector3<f64> = sim.displacements().iter().sum();
        assert!((sum - sim.collective_displacement()).norm() < 1e-9);
        // The unwrapped displacement ends on the carrier's current site, modulo the cell.
        for (p, &s) in sim.carrier_sites().iter().enumerate() {
            let start = net.positions()[sites[p]];
            let d = net.cell().minimum_image(&(start + sim.displacements()[p] - net.positions()[s as usize]));
            assert!(d.norm() < 1e-8);
        }
    }

    #[test]
    fn vacancy_moves_carry_ions_the_opposite_way() {
        let net =
            Lattice { kind: LatticeKind::SimpleCubic, repeat: [4, 4, 4], lattice_constant_a: 2.0, barrier_ev: 0.2 }
                .build()
                .unwrap()
                .vacancy_network();
        let mut sim = Simulation::new(&net, 500.0, 1e13, &[5], true, Xoshiro256PlusPlus::seed_from_u64(9));
        sim.run(1000).unwrap();
        let ions = sim.ions().unwrap();
        let ion_sum: Vector3<f64> = ions.displacement.iter().sum();
        // Mass balance: the ions' total displacement is minus the vacancy's.
        assert!((ion_sum + sim.displacements()[0]).norm() < 1e-8);
        assert_eq!(ions.ion_at.iter().filter(|&&i| i == EMPTY).count(), 1);
        assert_eq!(ions.ion_at[sim.carrier_sites()[0] as usize], EMPTY);
    }
}

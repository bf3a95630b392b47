//! The rejection-free residence-time kMC loop (Bortz, Kalos and Lebowitz, J. Comput. Phys. 17, 10 (1975), the
//! "n-fold way"; Gillespie, J. Comput. Phys. 22, 403 (1976)) for carriers hopping on a [`SiteNetwork`] with site
//! exclusion.
//!
//! Each carrier p on site s has the total rate R_p = Σ_{hops h from s, target free} k_h with
//! k_h = ν·exp(−E_b(h)/k_B T). The R_p are the leaves of a [`SumTree`]. One event:
//! 1. draw u₁ ∈ [0, 1): the carrier is the leaf where u₁·R lands (R = Σ_p R_p), in O(log P);
//! 2. the hop is found by walking that carrier's free hops with the remainder, in O(z);
//! 3. time advances by Δt = −ln(u₂)/R, u₂ ∈ (0, 1] (the residence time of the current state);
//! 4. the carrier moves and the R of the carriers whose free hops changed — itself and those one hop away from
//!    its old and its new site — are recomputed from scratch in a fixed hop order, so results are reproducible
//!    bit for bit; O(z² + z log P) per event.
//!
//! Occupancy is kept twice: a bit per site (1.25 × 10⁵ bytes for 10⁶ sites, so it stays in cache and the free /
//! blocked tests of step 2 and 4 are cheap) and the carrier index per site, read only for occupied sites.
//! Each carrier's unwrapped displacement is the sum of its hop vectors. In the vacancy picture the carriers are
//! vacancies and, optionally, the ions they exchange with are tracked too (each vacancy move i→j moves the ion
//! on j to i).

use super::network::{HopKind, SiteNetwork, Storage, Topology};
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

/// The network has no possible event (every carrier blocked, no hop, or every rate underflows).
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("no possible event after {events} events: no carrier has a hop to a free site with a non-zero rate")]
pub struct NoEvent {
    pub events: u64,
}

/// The loop for one network storage.
struct Engine<'a, T: Topology> {
    topology: &'a T,
    rates: Vec<f64>,
    hop_kinds: &'a [HopKind],
    occupied: Vec<u64>,
    occupant: Vec<u32>,
    carrier_site: Vec<T::Site>,
    displacement: Vec<Vector3<f64>>,
    collective: Vector3<f64>,
    tree: SumTree,
    time_ps: f64,
    events: u64,
    rng: Xoshiro256PlusPlus,
    ions: Option<IonTracker>,
    occupancy: Option<OccupancyClock>,
}

impl<'a, T: Topology> Engine<'a, T> {
    fn new(
        topology: &'a T,
        network: &'a SiteNetwork,
        rates: Vec<f64>,
        carrier_sites: &[usize],
        track_ions: bool,
        rng: Xoshiro256PlusPlus,
    ) -> Self {
        let n = network.len();
        let mut occupant = vec![EMPTY; n];
        let mut occupied = vec![0u64; n.div_ceil(64)];
        for (p, &s) in carrier_sites.iter().enumerate() {
            debug_assert_eq!(occupant[s], EMPTY);
            occupant[s] = p as u32;
            occupied[s >> 6] |= 1 << (s & 63);
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
        let mut engine = Engine {
            topology,
            rates,
            hop_kinds: network.hop_kinds(),
            occupied,
            occupant,
            carrier_site: carrier_sites.iter().map(|&s| topology.site(s)).collect(),
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
            let r = engine.carrier_rate(engine.carrier_site[p]);
            engine.tree.set(p, r);
        }
        engine
    }

    #[inline(always)]
    fn is_free(&self, i: usize) -> bool {
        self.occupied[i >> 6] & (1 << (i & 63)) == 0
    }

    /// R of a carrier on `site`: the rates of its hops to free sites, summed in hop order.
    #[inline(always)]
    fn carrier_rate(&self, site: T::Site) -> f64 {
        let mut total = 0.0;
        for (target, kind) in self.topology.hops(site) {
            if self.is_free(self.topology.index(target)) {
                total += self.rates[kind as usize];
            }
        }
        total
    }

    fn run(&mut self, n: u64, mut observe: impl FnMut(&[Vector3<f64>], f64)) -> Result<(), NoEvent> {
        let topology = self.topology;
        for _ in 0..n {
            let total = self.tree.total();
            if total <= 0.0 || total.is_nan() {
                return Err(NoEvent { events: self.events });
            }
            let (p, mut rest) = self.tree.find(self.rng.gen::<f64>() * total);
            let from = self.carrier_site[p];
            // The last free hop if rounding carried `rest` past the end; R_p > 0 guarantees there is one.
            let mut chosen = None;
            for (target, kind) in topology.hops(from) {
                let i = topology.index(target);
                if self.is_free(i) {
                    chosen = Some((target, i, kind));
                    let rate = self.rates[kind as usize];
                    if rest < rate {
                        break;
                    }
                    rest -= rate;
                }
            }
            let Some((to, to_index, kind)) = chosen else {
                return Err(NoEvent { events: self.events });
            };
            let dt = -(1.0 - self.rng.gen::<f64>()).ln() / total;
            let t_next = self.time_ps + dt;
            observe(&self.displacement, t_next);
            self.time_ps = t_next;
            self.events += 1;

            let from_index = topology.index(from);
            let vector = self.hop_kinds[kind as usize].vector;
            self.occupant[from_index] = EMPTY;
            self.occupied[from_index >> 6] &= !(1 << (from_index & 63));
            self.occupant[to_index] = p as u32;
            self.occupied[to_index >> 6] |= 1 << (to_index & 63);
            self.carrier_site[p] = to;
            self.displacement[p] += vector;
            self.collective += vector;
            if let Some(ions) = self.ions.as_mut() {
                let ion = ions.ion_at[to_index];
                ions.ion_at[from_index] = ion;
                ions.ion_at[to_index] = EMPTY;
                ions.displacement[ion as usize] -= vector;
            }
            if let Some(clock) = self.occupancy.as_mut() {
                clock.occupied_time[from_index] += t_next - clock.since[from_index];
                clock.since[to_index] = t_next;
            }
            // Carriers next to the old site (except the mover), then the mover's new rate and the carriers next to
            // its new site in one pass over the new site's hops (same hop order as `carrier_rate`).
            // (With a single carrier there is nobody else to update.)
            if self.carrier_site.len() > 1 {
                for (target, _) in topology.hops(from) {
                    let i = topology.index(target);
                    if i != to_index && !self.is_free(i) {
                        let r = self.carrier_rate(target);
                        self.tree.set(self.occupant[i] as usize, r);
                    }
                }
            }
            let mut own_rate = 0.0;
            for (target, kind) in topology.hops(to) {
                let i = topology.index(target);
                if self.is_free(i) {
                    own_rate += self.rates[kind as usize];
                } else {
                    let r = self.carrier_rate(target);
                    self.tree.set(self.occupant[i] as usize, r);
                }
            }
            self.tree.set(p, own_rate);
        }
        Ok(())
    }
}

/// The network storages the simulation can run on.
enum Inner<'a> {
    Explicit(Engine<'a, super::network::ExplicitTopology>),
    Periodic(Engine<'a, super::network::PeriodicTopology>),
}

macro_rules! dispatch {
    ($self:expr, $engine:ident => $body:expr) => {
        match $self {
            Inner::Explicit($engine) => $body,
            Inner::Periodic($engine) => $body,
        }
    };
}

/// The state of one kMC simulation at one temperature.
pub struct Simulation<'a> {
    inner: Inner<'a>,
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
        let rates: Vec<f64> = network
            .hop_kinds()
            .iter()
            .map(|k| hop_rate_per_ps(attempt_frequency_hz, k.barrier_ev, temperature_k))
            .collect();
        let inner = match network.storage() {
            Storage::Explicit(t) => Inner::Explicit(Engine::new(t, network, rates, carrier_sites, track_ions, rng)),
            Storage::Periodic(t) => Inner::Periodic(Engine::new(t, network, rates, carrier_sites, track_ions, rng)),
        };
        Simulation { inner }
    }

    /// Simulated time (ps).
    pub fn time_ps(&self) -> f64 {
        dispatch!(&self.inner, e => e.time_ps)
    }

    /// Events made.
    pub fn events(&self) -> u64 {
        dispatch!(&self.inner, e => e.events)
    }

    /// Total rate of the current state (ps⁻¹).
    pub fn total_rate(&self) -> f64 {
        dispatch!(&self.inner, e => e.tree.total())
    }

    /// Unwrapped displacement of each carrier since the start (Å).
    pub fn displacements(&self) -> &[Vector3<f64>] {
        dispatch!(&self.inner, e => &e.displacement)
    }

    /// Sum of all carrier displacements (Å).
    pub fn collective_displacement(&self) -> Vector3<f64> {
        dispatch!(&self.inner, e => e.collective)
    }

    /// Site index of each carrier.
    pub fn carrier_sites(&self) -> Vec<usize> {
        dispatch!(&self.inner, e => e.carrier_site.iter().map(|&s| e.topology.index(s)).collect())
    }

    /// Carrier on each site (`EMPTY` where none).
    pub fn occupants(&self) -> &[u32] {
        dispatch!(&self.inner, e => &e.occupant)
    }

    /// The tracked ions, if any.
    pub fn ions(&self) -> Option<&IonTracker> {
        dispatch!(&self.inner, e => e.ions.as_ref())
    }

    /// Checks the incremental bookkeeping against a recomputation: occupancy bits, occupants and carrier sites
    /// agree, and every tree leaf equals a freshly summed carrier rate. For tests.
    pub fn is_consistent(&self) -> bool {
        dispatch!(&self.inner, e => {
            e.carrier_site.iter().enumerate().all(|(p, &s)| {
                let i = e.topology.index(s);
                e.occupant[i] == p as u32 && !e.is_free(i) && e.tree.get(p) == e.carrier_rate(s)
            }) && e.occupied.iter().map(|w| w.count_ones() as usize).sum::<usize>() == e.carrier_site.len()
        })
    }

    /// Resets the clock to zero (e.g. after equilibration) and starts (or restarts) accumulating the time each
    /// site is occupied when `site_occupancy` is set.
    pub fn reset_clock(&mut self, site_occupancy: bool) {
        dispatch!(&mut self.inner, e => {
            e.time_ps = 0.0;
            let n = e.occupant.len();
            e.occupancy = site_occupancy.then(|| OccupancyClock { since: vec![0.0; n], occupied_time: vec![0.0; n] });
        })
    }

    /// Fraction of the time since [`Simulation::reset_clock`] each site was occupied by a carrier.
    pub fn site_occupancy(&self) -> Option<Vec<f64>> {
        dispatch!(&self.inner, e => {
            let clock = e.occupancy.as_ref()?;
            let mut fractions = clock.occupied_time.clone();
            for &s in &e.carrier_site {
                let i = e.topology.index(s);
                fractions[i] += e.time_ps - clock.since[i];
            }
            let t = e.time_ps;
            Some(fractions.into_iter().map(|x| if t > 0.0 { x / t } else { 0.0 }).collect())
        })
    }

    /// Makes `n` events.
    pub fn run(&mut self, n: u64) -> Result<(), NoEvent> {
        dispatch!(&mut self.inner, e => e.run(n, |_, _| {}))
    }

    /// Makes `n` events; before each, `observe(displacements, t_next)` sees the carriers' displacements of the
    /// current state, which lasts until t_next.
    pub fn run_observed(&mut self, n: u64, observe: impl FnMut(&[Vector3<f64>], f64)) -> Result<(), NoEvent> {
        dispatch!(&mut self.inner, e => e.run(n, observe))
    }
}

/// Bytes of a [`Simulation`]'s arrays (occupancy bits and carrier index per site, rate per hop kind,
/// carrier arrays, sum tree; ion labels and displacements when tracked), for memory reports.
pub fn simulation_bytes(sites: usize, hop_kinds: usize, carriers: usize, track_ions: bool) -> usize {
    let tree = 2 * carriers.max(1).next_power_of_two() * size_of::<f64>();
    let carrier_arrays = carriers * (size_of::<[u32; 4]>() + size_of::<Vector3<f64>>());
    let ions = if track_ions { sites * size_of::<u32>() + (sites - carriers) * size_of::<Vector3<f64>>() } else { 0 };
    let kinds = hop_kinds * size_of::<f64>();
    sites.div_ceil(64) * 8 + sites * size_of::<u32>() + kinds + tree + carrier_arrays + ions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmc::bench::disordered_network;
    use crate::kmc::network::{Lattice, LatticeKind};
    use rand::SeedableRng;

    fn check_bookkeeping(net: &SiteNetwork, sites: &[usize]) {
        let mut sim = Simulation::new(net, 600.0, 1e13, sites, false, Xoshiro256PlusPlus::seed_from_u64(3));
        sim.run(5000).unwrap();
        assert!(sim.is_consistent());
        assert_eq!(sim.occupants().iter().filter(|&&o| o != EMPTY).count(), sites.len());
        // The collective displacement is the sum of the carriers' displacements.
        let sum: Vector3<f64> = sim.displacements().iter().sum();
        assert!((sum - sim.collective_displacement()).norm() < 1e-9);
        // The unwrapped displacement ends on the carrier's current site, modulo the cell.
        for (p, s) in sim.carrier_sites().into_iter().enumerate() {
            let d = net.cell().minimum_image(&(net.position(sites[p]) + sim.displacements()[p] - net.position(s)));
            assert!(d.norm() < 1e-8);
        }
    }

    #[test]
    fn occupancy_and_rates_stay_consistent() {
        let lattice = Lattice {
            kind: LatticeKind::BodyCentredCubic,
            repeat: [3, 3, 3],
            lattice_constant_a: 3.0,
            barrier_ev: 0.3,
        }
        .build()
        .unwrap();
        check_bookkeeping(&lattice, &(0..lattice.len()).step_by(3).collect::<Vec<_>>());
        let disordered = disordered_network(4, 2).unwrap();
        check_bookkeeping(&disordered, &(0..disordered.len()).step_by(5).collect::<Vec<_>>());
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
        assert_eq!(ions.ion_at[sim.carrier_sites()[0]], EMPTY);
    }
}

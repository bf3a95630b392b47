//! The site network of a kMC model: sites in a periodic cell and directed hops between them, each with a barrier
//! and a hop vector (the Cartesian displacement of the hopping particle, periodic image included).
//!
//! Two storages, one interface:
//! - **periodic**: a unit cell with a few basis sites and their hops, repeated `repeat` times (lattices, and NEB
//!   barrier tables replicated over a supercell). Nothing is stored per site: a site is (cell coordinates, basis
//!   index) and its hops are the unit hops of its basis site, translated. The event loop then touches only the
//!   occupancy arrays, which is what makes 10⁷ events/s on 10⁶ sites possible.
//! - **explicit**: compressed sparse rows (the hops leaving site i are `offsets[i]..offsets[i+1]`), for arbitrary
//!   (off-lattice, disordered) networks and catalogues.
//!
//! Each hop refers to a *hop kind* (barrier, vector), so rates are computed once per kind and temperature.
//! Every hop must have its reverse (j→i for i→j, with the opposite vector): microscopic reversibility, without
//! which detailed balance cannot hold, and what lets the event update find the carriers a hop affects from the
//! outgoing hops alone.

use crate::neighbors::NeighborList;
use crate::system::{Cell, System};
use anyhow::{bail, Context};
use nalgebra::Vector3;
use std::collections::HashMap;
use std::path::Path;

/// A barrier and a hop vector.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HopKind {
    /// Migration barrier E_b of the hop (eV).
    pub barrier_ev: f64,
    /// Displacement of the hopping particle (Å).
    pub vector: Vector3<f64>,
}

/// Sites and directed hops. Build one with [`NetworkBuilder`] (explicit), [`PeriodicBuilder`], a lattice
/// generator ([`Lattice`]), [`read_catalogue`] or [`crate::kmc::barrier_table::network_from_table`] (from a table read by [`crate::io::barrier_table`]).
#[derive(Clone, Debug)]
pub struct SiteNetwork {
    cell: Cell,
    hop_kinds: Vec<HopKind>,
    storage: Storage,
}

#[derive(Clone, Debug)]
pub(crate) enum Storage {
    Explicit(ExplicitTopology),
    Periodic(PeriodicTopology),
}

/// How the event loop walks a network: site handles, their index, and the hops leaving a site in a fixed order.
pub(crate) trait Topology: Sync {
    type Site: Copy + Send + Sync + std::fmt::Debug;
    fn site(&self, index: usize) -> Self::Site;
    fn index(&self, site: Self::Site) -> usize;
    /// (destination, hop kind) of every hop leaving `site`.
    fn hops(&self, site: Self::Site) -> impl Iterator<Item = (Self::Site, u32)> + '_;
}

/// Compressed-sparse-row network.
#[derive(Clone, Debug)]
pub(crate) struct ExplicitTopology {
    positions: Vec<Vector3<f64>>,
    site_energies: Vec<f64>,
    offsets: Vec<u32>,
    /// (destination, kind) of each hop, rows in site order; kinds are numbered by first use in row order.
    hops: Vec<[u32; 2]>,
}

impl Topology for ExplicitTopology {
    type Site = u32;

    #[inline]
    fn site(&self, index: usize) -> u32 {
        index as u32
    }

    #[inline]
    fn index(&self, site: u32) -> usize {
        site as usize
    }

    #[inline]
    fn hops(&self, site: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let range = self.offsets[site as usize] as usize..self.offsets[site as usize + 1] as usize;
        self.hops[range].iter().map(|h| (h[0], h[1]))
    }
}

/// A site of a periodic network: unit-cell coordinates and basis index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CellSite {
    cell: [u32; 3],
    basis: u32,
    index: u32,
}

/// A hop of a basis site: destination basis site, cell offset reduced into [0, repeat), kind.
#[derive(Clone, Copy, Debug)]
struct UnitHop {
    basis: u32,
    offset: [u32; 3],
    kind: u32,
    /// Site-index change when no coordinate wraps: Σ_k offset_k·stride_k + basis − origin basis (mod 2³²).
    delta: u32,
}

impl UnitHop {
    fn new(repeat: [u32; 3], basis_count: usize, from: u32, to: u32, offset: [u32; 3], kind: u32) -> UnitHop {
        let stride = strides(repeat, basis_count);
        let mut delta = to.wrapping_sub(from);
        for k in 0..3 {
            delta = delta.wrapping_add(offset[k].wrapping_mul(stride[k]));
        }
        UnitHop { basis: to, offset, kind, delta }
    }
}

/// Site-index strides of the cell coordinates: site = Σ_k c_k·stride_k + basis.
fn strides(repeat: [u32; 3], basis_count: usize) -> [u32; 3] {
    let b = basis_count as u32;
    [repeat[1] * repeat[2] * b, repeat[2] * b, b]
}

/// The most sites a periodic network may have: site indices are `u32`, and every site carries an
/// occupation and per-hop rates, so 10⁸ sites are already gigabytes.
pub const MAX_SITES: usize = 100_000_000;

/// A unit cell with basis sites and their hops, repeated.
#[derive(Clone, Debug)]
pub(crate) struct PeriodicTopology {
    unit_cell: Cell,
    repeat: [u32; 3],
    basis_positions: Vec<Vector3<f64>>,
    basis_energies: Vec<f64>,
    unit_offsets: Vec<u32>,
    unit_hops: Vec<UnitHop>,
    /// repeat_k · stride_k: the index change of wrapping coordinate k.
    wrap_steps: [u32; 3],
}

impl Topology for PeriodicTopology {
    type Site = CellSite;

    #[inline]
    fn site(&self, index: usize) -> CellSite {
        let basis_count = self.basis_positions.len();
        let (cell, basis) = (index / basis_count, index % basis_count);
        let [_, n1, n2] = self.repeat.map(|n| n as usize);
        let c = [cell / (n1 * n2), (cell / n2) % n1, cell % n2];
        CellSite { cell: c.map(|x| x as u32), basis: basis as u32, index: index as u32 }
    }

    #[inline]
    fn index(&self, site: CellSite) -> usize {
        site.index as usize
    }

    #[inline]
    fn hops(&self, site: CellSite) -> impl Iterator<Item = (CellSite, u32)> + '_ {
        let b = site.basis as usize;
        let range = self.unit_offsets[b] as usize..self.unit_offsets[b + 1] as usize;
        self.unit_hops[range].iter().map(move |h| {
            let mut cell = [0u32; 3];
            let mut index = site.index.wrapping_add(h.delta);
            for k in 0..3 {
                let x = site.cell[k] + h.offset[k];
                if x >= self.repeat[k] {
                    cell[k] = x - self.repeat[k];
                    index = index.wrapping_sub(self.wrap_steps[k]);
                } else {
                    cell[k] = x;
                }
            }
            (CellSite { cell, basis: h.basis, index }, h.kind)
        })
    }
}

impl SiteNetwork {
    /// The periodic cell (the whole supercell for a periodic network).
    pub fn cell(&self) -> &Cell {
        &self.cell
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.storage
    }

    /// True for a network stored as a repeated unit cell.
    pub fn is_periodic(&self) -> bool {
        matches!(self.storage, Storage::Periodic(_))
    }

    /// Number of sites.
    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::Explicit(t) => t.positions.len(),
            Storage::Periodic(t) => t.basis_positions.len() * t.repeat.iter().map(|&n| n as usize).product::<usize>(),
        }
    }

    /// True for a network without sites.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of directed hops.
    pub fn hop_count(&self) -> usize {
        match &self.storage {
            Storage::Explicit(t) => t.hops.len(),
            Storage::Periodic(t) => t.unit_hops.len() * t.repeat.iter().map(|&n| n as usize).product::<usize>(),
        }
    }

    /// Position of site `i` (Å).
    pub fn position(&self, i: usize) -> Vector3<f64> {
        match &self.storage {
            Storage::Explicit(t) => t.positions[i],
            Storage::Periodic(t) => {
                let s = t.site(i);
                t.basis_positions[s.basis as usize] + t.unit_cell.shift(s.cell.map(|x| x as i32))
            }
        }
    }

    /// Energy of site `i` (eV), 0 when the source gave none. Informational: the barriers already contain it.
    pub fn site_energy(&self, i: usize) -> f64 {
        match &self.storage {
            Storage::Explicit(t) => t.site_energies[i],
            Storage::Periodic(t) => t.basis_energies[i % t.basis_positions.len()],
        }
    }

    /// The hop kinds.
    pub fn hop_kinds(&self) -> &[HopKind] {
        &self.hop_kinds
    }

    /// (destination site, hop kind) of every hop leaving site `i`, in the order the event loop uses.
    pub fn hops(&self, i: usize) -> Vec<(usize, usize)> {
        match &self.storage {
            Storage::Explicit(t) => t.hops(t.site(i)).map(|(s, k)| (t.index(s), k as usize)).collect(),
            Storage::Periodic(t) => t.hops(t.site(i)).map(|(s, k)| (t.index(s), k as usize)).collect(),
        }
    }

    /// Number of sites without any hop.
    pub fn isolated_sites(&self) -> usize {
        match &self.storage {
            Storage::Explicit(t) => t.offsets.windows(2).filter(|w| w[0] == w[1]).count(),
            Storage::Periodic(t) => {
                let cells: usize = t.repeat.iter().map(|&n| n as usize).product();
                t.unit_offsets.windows(2).filter(|w| w[0] == w[1]).count() * cells
            }
        }
    }

    /// Bytes held by the network's arrays (capacity, not counting the struct itself).
    pub fn memory_bytes(&self) -> usize {
        let kinds = self.hop_kinds.capacity() * size_of::<HopKind>();
        kinds
            + match &self.storage {
                Storage::Explicit(t) => {
                    t.positions.capacity() * size_of::<Vector3<f64>>()
                        + t.site_energies.capacity() * size_of::<f64>()
                        + t.offsets.capacity() * size_of::<u32>()
                        + t.hops.capacity() * size_of::<[u32; 2]>()
                }
                Storage::Periodic(t) => {
                    t.basis_positions.capacity() * size_of::<Vector3<f64>>()
                        + t.basis_energies.capacity() * size_of::<f64>()
                        + t.unit_offsets.capacity() * size_of::<u32>()
                        + t.unit_hops.capacity() * size_of::<UnitHop>()
                }
            }
    }

    /// The network seen by vacancies: a vacancy at i moves to j exactly when the ion at j hops j→i, with that
    /// hop's barrier, and is displaced by the opposite vector. (Kinds keep their index; vectors are negated.)
    pub fn vacancy_network(&self) -> SiteNetwork {
        let negated = |k: &HopKind| HopKind { barrier_ev: k.barrier_ev, vector: -k.vector };
        let (hop_kinds, storage) = match &self.storage {
            Storage::Explicit(t) => {
                let n = t.positions.len();
                let (offsets, targets, kinds) = transpose(n, &t.offsets, |h| (t.hops[h][0], t.hops[h][1]));
                let (kinds, hop_kinds) =
                    renumber_kinds(&kinds, &self.hop_kinds.iter().map(negated).collect::<Vec<_>>());
                let hops = targets.iter().zip(&kinds).map(|(&to, &kind)| [to, kind]).collect();
                let topology = ExplicitTopology {
                    positions: t.positions.clone(),
                    site_energies: t.site_energies.clone(),
                    offsets,
                    hops,
                };
                (hop_kinds, Storage::Explicit(topology))
            }
            Storage::Periodic(t) => {
                let n = t.basis_positions.len();
                let (unit_offsets, froms, hops) = transpose(n, &t.unit_offsets, |h| (t.unit_hops[h].basis, h as u32));
                let unit_hops = froms
                    .iter()
                    .zip(&hops)
                    .map(|(&from, &h)| {
                        let hop = t.unit_hops[h as usize];
                        // The reverse of offset o is −o, reduced into [0, repeat).
                        let offset = [0, 1, 2].map(|k| (t.repeat[k] - hop.offset[k]) % t.repeat[k]);
                        UnitHop::new(t.repeat, n, hop.basis, from, offset, hop.kind)
                    })
                    .collect();
                let hop_kinds = self.hop_kinds.iter().map(negated).collect();
                (hop_kinds, Storage::Periodic(PeriodicTopology { unit_offsets, unit_hops, ..t.clone() }))
            }
        };
        SiteNetwork { cell: self.cell.clone(), hop_kinds, storage }
    }
}

/// Renumbers hop kinds by first use in `kinds` (hops in row order), so that the rates of one site's hops lie
/// together in memory (a disordered network has about one kind per hop). Returns the new kind of each hop and the
/// reordered kind table (kinds never used are dropped).
fn renumber_kinds(kinds: &[u32], table: &[HopKind]) -> (Vec<u32>, Vec<HopKind>) {
    let mut renumber = vec![u32::MAX; table.len()];
    let mut reordered = Vec::with_capacity(table.len());
    let new_kinds = kinds
        .iter()
        .map(|&old| {
            let old = old as usize;
            if renumber[old] == u32::MAX {
                renumber[old] = reordered.len() as u32;
                reordered.push(table[old]);
            }
            renumber[old]
        })
        .collect();
    (new_kinds, reordered)
}

/// Transposes a CSR adjacency of `n` nodes: for each edge h from i (to `edge(h).0`), an edge from `edge(h).0`
/// back to i carrying `edge(h).1`. Returns (offsets, sources, payloads), edges grouped by their new origin.
fn transpose(n: usize, offsets: &[u32], edge: impl Fn(usize) -> (u32, u32)) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let edges = offsets[n] as usize;
    let mut counts = vec![0u32; n + 1];
    for h in 0..edges {
        counts[edge(h).0 as usize + 1] += 1;
    }
    for i in 0..n {
        counts[i + 1] += counts[i];
    }
    let new_offsets = counts.clone();
    let mut fill = counts;
    let mut sources = vec![0u32; edges];
    let mut payloads = vec![0u32; edges];
    for from in 0..n {
        for h in offsets[from] as usize..offsets[from + 1] as usize {
            let (to, payload) = edge(h);
            let slot = fill[to as usize] as usize;
            sources[slot] = from as u32;
            payloads[slot] = payload;
            fill[to as usize] += 1;
        }
    }
    (new_offsets, sources, payloads)
}

/// One hop as collected by a builder.
#[derive(Clone, Debug)]
struct PendingHop {
    from: u32,
    to: u32,
    kind: u32,
    origin: String,
}

/// Kinds deduplicated by (barrier, vector to 10⁻⁶ Å).
#[derive(Clone, Debug, Default)]
struct KindTable {
    kinds: Vec<HopKind>,
    index: HashMap<(u64, [i64; 3]), u32>,
}

impl KindTable {
    fn get(&mut self, barrier_ev: f64, vector: Vector3<f64>) -> u32 {
        let key = (barrier_ev.to_bits(), [0, 1, 2].map(|k| (vector[k] * 1e6).round() as i64));
        let next = self.kinds.len() as u32;
        let kind = *self.index.entry(key).or_insert(next);
        if kind == next {
            self.kinds.push(HopKind { barrier_ev, vector });
        }
        kind
    }
}

/// Checks hops (both ends among `sites`, barrier finite and ≥ 0, vector finite and non-zero, not onto the same
/// site, no duplicate (from, to, vector), reverse present) and returns them sorted by origin as CSR
/// (offsets, indices into `hops`).
fn check_and_sort(
    sites: usize,
    hops: &[PendingHop],
    kinds: &[HopKind],
    self_hop: impl Fn(usize, &PendingHop) -> bool,
) -> anyhow::Result<(Vec<u32>, Vec<usize>)> {
    if sites == 0 {
        bail!("the kMC network has no site");
    }
    for (h, hop) in hops.iter().enumerate() {
        let (from, to, origin) = (hop.from, hop.to, &hop.origin);
        for (end, site) in [("from", from), ("to", to)] {
            if site as usize >= sites {
                bail!(
                    "{origin}: hop {from} → {to}: {end} site {site} does not exist (the network has sites 0..{})",
                    sites - 1
                );
            }
        }
        if self_hop(h, hop) {
            bail!(
                "{origin}: hop {from} → {to} leads from a site onto itself (or its own periodic image), which no \
                 carrier can make under site exclusion"
            );
        }
        let k = kinds[hop.kind as usize];
        if !(k.barrier_ev >= 0.0 && k.barrier_ev.is_finite()) {
            bail!("{origin}: hop {from} → {to} has barrier {} eV: expected a finite barrier ≥ 0", k.barrier_ev);
        }
        if !k.vector.iter().all(|x| x.is_finite()) || k.vector.norm() < 1e-6 {
            bail!("{origin}: hop {from} → {to} has hop vector {:?} Å: expected a finite non-zero vector", k.vector);
        }
    }
    let vector_key = |v: &Vector3<f64>| [0, 1, 2].map(|k| (v[k] * 1e4).round() as i64);
    let mut by_ends: HashMap<(u32, u32, [i64; 3]), usize> = HashMap::with_capacity(hops.len());
    for (h, hop) in hops.iter().enumerate() {
        let key = (hop.from, hop.to, vector_key(&kinds[hop.kind as usize].vector));
        if let Some(&first) = by_ends.get(&key) {
            bail!(
                "{}: hop {} → {} with the same hop vector is already defined by {}",
                hop.origin,
                hop.from,
                hop.to,
                hops[first].origin
            );
        }
        by_ends.insert(key, h);
    }
    for hop in hops {
        let reverse = (hop.to, hop.from, vector_key(&-kinds[hop.kind as usize].vector));
        if !by_ends.contains_key(&reverse) {
            bail!(
                "{}: hop {} → {} has no reverse hop {} → {} with the opposite vector; every hop needs its reverse \
                 (microscopic reversibility)",
                hop.origin,
                hop.from,
                hop.to,
                hop.to,
                hop.from
            );
        }
    }
    let mut order: Vec<usize> = (0..hops.len()).collect();
    order.sort_by_key(|&h| hops[h].from);
    let mut offsets = vec![0u32; sites + 1];
    for hop in hops {
        offsets[hop.from as usize + 1] += 1;
    }
    for i in 0..sites {
        offsets[i + 1] += offsets[i];
    }
    Ok((offsets, order))
}

/// Collects sites and hops of an explicit network, then checks and packs them into a [`SiteNetwork`].
#[derive(Clone, Debug)]
pub struct NetworkBuilder {
    cell: Cell,
    positions: Vec<Vector3<f64>>,
    site_energies: Vec<f64>,
    hops: Vec<PendingHop>,
    kinds: KindTable,
}

impl NetworkBuilder {
    /// An empty network in `cell`.
    pub fn new(cell: Cell) -> NetworkBuilder {
        NetworkBuilder {
            cell,
            positions: Vec::new(),
            site_energies: Vec::new(),
            hops: Vec::new(),
            kinds: KindTable::default(),
        }
    }

    /// Adds a site and returns its index.
    pub fn add_site(&mut self, position: Vector3<f64>, energy_ev: f64) -> usize {
        self.positions.push(position);
        self.site_energies.push(energy_ev);
        self.positions.len() - 1
    }

    /// Number of sites added so far.
    pub fn site_count(&self) -> usize {
        self.positions.len()
    }

    /// Adds the directed hop `from → to` with barrier `barrier_ev` and hop vector `vector` (Å). `origin` says
    /// where it was defined, for error messages. Hops with the same barrier and vector share a kind.
    pub fn add_hop(&mut self, from: usize, to: usize, barrier_ev: f64, vector: Vector3<f64>, origin: &str) {
        let kind = self.kinds.get(barrier_ev, vector);
        let clamp = |s: usize| s.min(u32::MAX as usize) as u32;
        self.hops.push(PendingHop { from: clamp(from), to: clamp(to), kind, origin: origin.to_string() });
    }

    /// Checks every hop and packs the network.
    pub fn build(self) -> anyhow::Result<SiteNetwork> {
        let n = self.positions.len();
        if n >= u32::MAX as usize {
            bail!("the kMC network has {n} sites; at most {} are supported", u32::MAX - 1);
        }
        let (offsets, order) = check_and_sort(n, &self.hops, &self.kinds.kinds, |_, h| h.from == h.to)?;
        let kinds: Vec<u32> = order.iter().map(|&h| self.hops[h].kind).collect();
        let (kinds, hop_kinds) = renumber_kinds(&kinds, &self.kinds.kinds);
        let hops = order.iter().zip(&kinds).map(|(&h, &kind)| [self.hops[h].to, kind]).collect();
        Ok(SiteNetwork {
            cell: self.cell,
            hop_kinds,
            storage: Storage::Explicit(ExplicitTopology {
                positions: self.positions,
                site_energies: self.site_energies,
                offsets,
                hops,
            }),
        })
    }
}

/// Collects the basis sites of a unit cell and their hops (to a basis site in a neighbouring cell), then checks
/// and packs them into a periodic [`SiteNetwork`] of `repeat` unit cells. Sites are numbered cell by cell (a
/// slowest, c fastest), basis site fastest of all: site = ((i·n_b + j)·n_c + k)·B + basis.
#[derive(Clone, Debug)]
pub struct PeriodicBuilder {
    unit_cell: Cell,
    repeat: [usize; 3],
    positions: Vec<Vector3<f64>>,
    energies: Vec<f64>,
    hops: Vec<(PendingHop, [i64; 3])>,
    kinds: KindTable,
}

impl PeriodicBuilder {
    /// An empty unit cell to be repeated `repeat` times.
    pub fn new(unit_cell: Cell, repeat: [usize; 3]) -> PeriodicBuilder {
        PeriodicBuilder {
            unit_cell,
            repeat,
            positions: Vec::new(),
            energies: Vec::new(),
            hops: Vec::new(),
            kinds: KindTable::default(),
        }
    }

    /// Adds a basis site (position in the unit cell, Å) and returns its basis index.
    pub fn add_site(&mut self, position: Vector3<f64>, energy_ev: f64) -> usize {
        self.positions.push(position);
        self.energies.push(energy_ev);
        self.positions.len() - 1
    }

    /// Adds the hop from basis site `from` to basis site `to` in the unit cell displaced by `image` (lattice
    /// vectors), with barrier `barrier_ev`. The hop vector is r_to + image·cell − r_from.
    pub fn add_hop(&mut self, from: usize, to: usize, image: [i64; 3], barrier_ev: f64, origin: &str) {
        let vector = match (self.positions.get(from), self.positions.get(to)) {
            (Some(a), Some(b)) => b + self.unit_cell.shift(image.map(|x| x as i32)) - a,
            _ => Vector3::new(f64::NAN, f64::NAN, f64::NAN),
        };
        let kind = self.kinds.get(barrier_ev, vector);
        let clamp = |s: usize| s.min(u32::MAX as usize) as u32;
        self.hops.push((PendingHop { from: clamp(from), to: clamp(to), kind, origin: origin.to_string() }, image));
    }

    /// Checks every hop (as [`NetworkBuilder::build`]) and packs the network.
    pub fn build(self) -> anyhow::Result<SiteNetwork> {
        if self.repeat.contains(&0) {
            bail!("repeat = {:?}: expected three positive integers", self.repeat);
        }
        let total = crate::system::replicated_count(self.positions.len(), self.repeat);
        if total > MAX_SITES as u128 {
            bail!("{total} sites (repeat {:?}): at most {MAX_SITES:e} are supported", self.repeat);
        }
        let repeat = self.repeat.map(|n| n as i64);
        let pending: Vec<PendingHop> = self.hops.iter().map(|(h, _)| h.clone()).collect();
        let (unit_offsets, order) = check_and_sort(self.positions.len(), &pending, &self.kinds.kinds, |h, hop| {
            let image = self.hops[h].1;
            hop.from == hop.to && (0..3).all(|k| image[k].rem_euclid(repeat[k]) == 0)
        })?;
        let repeat_u32 = self.repeat.map(|n| n as u32);
        let basis_count = self.positions.len();
        let unit_hops = order
            .iter()
            .map(|&h| {
                let (hop, image) = &self.hops[h];
                let offset = [0, 1, 2].map(|k| image[k].rem_euclid(repeat[k]) as u32);
                UnitHop::new(repeat_u32, basis_count, hop.from, hop.to, offset, hop.kind)
            })
            .collect();
        let stride = strides(repeat_u32, basis_count);
        Ok(SiteNetwork {
            cell: self.unit_cell.scaled(self.repeat),
            hop_kinds: self.kinds.kinds,
            storage: Storage::Periodic(PeriodicTopology {
                unit_cell: self.unit_cell,
                repeat: repeat_u32,
                basis_positions: self.positions,
                basis_energies: self.energies,
                unit_offsets,
                unit_hops,
                wrap_steps: [0, 1, 2].map(|k| repeat_u32[k].wrapping_mul(stride[k])),
            }),
        })
    }
}

/// The atoms of `species` in a wrapped periodic `system` as the basis sites of a [`PeriodicBuilder`] repeated
/// `supercell` times, site energy `site_energy_ev(atom)`: returns the builder, the atom index of each basis site,
/// and the basis site of each atom (`usize::MAX` for other species).
pub fn species_sites(
    system: &System,
    species: u8,
    supercell: [usize; 3],
    site_energy_ev: &dyn Fn(usize) -> f64,
) -> (PeriodicBuilder, Vec<usize>, Vec<usize>) {
    let mobile: Vec<usize> = (0..system.len()).filter(|&i| system.atomic_numbers[i] == species).collect();
    let mut basis_of = vec![usize::MAX; system.len()];
    let mut builder = PeriodicBuilder::new(system.cell.clone(), supercell);
    for (b, &atom) in mobile.iter().enumerate() {
        basis_of[atom] = b;
        builder.add_site(system.positions[atom], site_energy_ev(atom));
    }
    (builder, mobile, basis_of)
}

/// One hop between two `species` atoms: `vector` leads from `from` to the periodic image `image` of `to`.
#[derive(Clone, Copy, Debug)]
pub struct SpeciesHop {
    pub from: usize,
    pub to: usize,
    pub vector: Vector3<f64>,
    pub image: [i64; 3],
}

/// Every ordered pair of `species` atoms of a wrapped periodic `system` at most `hop_cutoff_a` apart, in the order
/// of the atoms and then of their neighbour list (the order the kMC networks are built in).
pub fn species_hops(
    system: &System,
    species: u8,
    mobile: &[usize],
    hop_cutoff_a: f64,
) -> Result<Vec<SpeciesHop>, crate::neighbors::NeighborListTooLarge> {
    let mut neighbours = NeighborList::new(hop_cutoff_a, 0.0);
    neighbours.build(system)?;
    let mut hops = Vec::new();
    for &i in mobile {
        for (&j, shift) in neighbours.indices(i).iter().zip(neighbours.shifts(i)) {
            let j = j as usize;
            if system.atomic_numbers[j] != species {
                continue;
            }
            let vector = system.positions[j] - system.positions[i] + shift;
            if vector.norm() > hop_cutoff_a {
                continue;
            }
            let offset = system.cell.fractional(&(system.positions[i] + vector - system.positions[j]));
            let image = [0, 1, 2].map(|k| offset[k].round() as i64);
            hops.push(SpeciesHop { from: i, to: j, vector, image });
        }
    }
    Ok(hops)
}

/// Cubic lattices with nearest-neighbour hops of one barrier, for tests, benchmarks and model studies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LatticeKind {
    /// Simple cubic, coordination 6, nearest-neighbour distance a.
    SimpleCubic,
    /// Body-centred cubic, coordination 8, nearest-neighbour distance a·√3/2.
    BodyCentredCubic,
    /// Face-centred cubic, coordination 12, nearest-neighbour distance a/√2.
    FaceCentredCubic,
}

impl LatticeKind {
    /// Sites per conventional cubic cell.
    pub fn basis_count(self) -> usize {
        self.basis().len()
    }

    /// Basis of the conventional cubic cell in fractional coordinates.
    fn basis(self) -> Vec<[f64; 3]> {
        match self {
            LatticeKind::SimpleCubic => vec![[0.0; 3]],
            LatticeKind::BodyCentredCubic => vec![[0.0; 3], [0.5; 3]],
            LatticeKind::FaceCentredCubic => vec![[0.0; 3], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]],
        }
    }

    /// Number of nearest neighbours z.
    pub fn coordination(self) -> usize {
        match self {
            LatticeKind::SimpleCubic => 6,
            LatticeKind::BodyCentredCubic => 8,
            LatticeKind::FaceCentredCubic => 12,
        }
    }

    /// Nearest-neighbour distance for lattice constant `a`.
    pub fn nearest_neighbour_distance(self, a: f64) -> f64 {
        match self {
            LatticeKind::SimpleCubic => a,
            LatticeKind::BodyCentredCubic => a * 3f64.sqrt() / 2.0,
            LatticeKind::FaceCentredCubic => a / 2f64.sqrt(),
        }
    }
}

/// A cubic lattice of `repeat` conventional cells with lattice constant `lattice_constant_a` and a single
/// nearest-neighbour barrier.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lattice {
    /// Lattice type: `simple_cubic`, `body_centred_cubic` or `face_centred_cubic` (key `lattice`: in the
    /// `network` table, `kind` is the network's kind).
    #[serde(rename = "lattice")]
    pub kind: LatticeKind,
    /// Number of conventional cells along a, b, c (each ≥ 2).
    pub repeat: [usize; 3],
    /// Conventional cubic lattice constant (Å).
    pub lattice_constant_a: f64,
    /// Barrier of every nearest-neighbour hop (eV).
    pub barrier_ev: f64,
}

impl Lattice {
    /// Builds the (periodic) network. Sites are numbered cell by cell (a slowest), basis site fastest.
    pub fn build(&self) -> anyhow::Result<SiteNetwork> {
        let a = self.lattice_constant_a;
        if !(a > 0.0 && a.is_finite()) {
            bail!("network.lattice_constant_a = {a}: expected a positive finite number");
        }
        if self.repeat.iter().any(|&n| n < 2) {
            bail!(
                "network.repeat = {:?}: expected three integers ≥ 2 (with one cell a site would hop onto its own image)",
                self.repeat
            );
        }
        let cell = Cell::orthorhombic(a, a, a).context("lattice: invalid cell")?;
        let basis = self.kind.basis();
        let d_nn = self.kind.nearest_neighbour_distance(a);
        let mut builder = PeriodicBuilder::new(cell, self.repeat);
        for frac in &basis {
            builder.add_site(Vector3::from_fn(|x, _| frac[x] * a), 0.0);
        }
        for (b, from) in basis.iter().enumerate() {
            for (b2, to) in basis.iter().enumerate() {
                for i in -1..=1i64 {
                    for j in -1..=1i64 {
                        for k in -1..=1i64 {
                            let image = [i, j, k];
                            let v = Vector3::from_fn(|x, _| (to[x] + image[x] as f64 - from[x]) * a);
                            if (v.norm() - d_nn).abs() < 1e-9 * a {
                                builder.add_hop(b, b2, image, self.barrier_ev, "lattice");
                            }
                        }
                    }
                }
            }
        }
        builder.build()
    }
}

/// Reads a kMC catalogue file (format in docs/kmc.md):
///
/// ```text
/// # mdrun kmc catalogue v1
/// cell ax ay az bx by bz cx cy cz
/// site <x> <y> <z> [energy_ev]                       (sites numbered 0, 1, ... in order)
/// path <i> <j> <na> <nb> <nc> <saddle_energy_ev>     (both directions: E_b(i→j) = E_saddle − E_i)
/// hop <i> <j> <na> <nb> <nc> <barrier_ev>            (one direction)
/// ```
///
/// The hop vector is r_j + n_a·a + n_b·b + n_c·c − r_i. Blank lines and text after `#` are ignored.
pub fn read_catalogue(path: &Path) -> anyhow::Result<SiteNetwork> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read kMC catalogue {}", path.display()))?;
    parse_catalogue(&text, &path.display().to_string())
}

/// Parses catalogue text; `name` is used in error messages.
pub fn parse_catalogue(text: &str, name: &str) -> anyhow::Result<SiteNetwork> {
    let mut builder: Option<NetworkBuilder> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let keyword = fields.next().unwrap_or("");
        let values: Vec<&str> = fields.collect();
        let numbers = |expected: &[usize]| -> anyhow::Result<Vec<f64>> {
            if !expected.contains(&values.len()) {
                bail!(
                    "{name} line {line_no}: '{keyword}' takes {} values, found {}: '{raw}'",
                    expected.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" or "),
                    values.len()
                );
            }
            values
                .iter()
                .map(|v| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .with_context(|| format!("{name} line {line_no}: '{v}' is not a finite number"))
                })
                .collect()
        };
        let integer = |x: f64, what: &str| -> anyhow::Result<i64> {
            if x.fract() != 0.0 || x.abs() > 1e15 {
                bail!("{name} line {line_no}: {what} = {x}: expected an integer");
            }
            Ok(x as i64)
        };
        match keyword {
            "cell" => {
                if builder.is_some() {
                    bail!("{name} line {line_no}: a second 'cell' line; the catalogue takes exactly one");
                }
                let v = numbers(&[9])?;
                let cell = Cell::from_vectors(
                    Vector3::new(v[0], v[1], v[2]),
                    Vector3::new(v[3], v[4], v[5]),
                    Vector3::new(v[6], v[7], v[8]),
                )
                .with_context(|| format!("{name} line {line_no}: the cell vectors are (nearly) coplanar"))?;
                builder = Some(NetworkBuilder::new(cell));
            }
            "site" | "path" | "hop" => {
                let Some(b) = builder.as_mut() else {
                    bail!("{name} line {line_no}: '{keyword}' before the 'cell' line");
                };
                let origin = format!("{name} line {line_no}");
                if keyword == "site" {
                    let v = numbers(&[3, 4])?;
                    b.add_site(Vector3::new(v[0], v[1], v[2]), v.get(3).copied().unwrap_or(0.0));
                    continue;
                }
                let v = numbers(&[6])?;
                let n = b.site_count();
                let (i, j) = (integer(v[0], "site i")?, integer(v[1], "site j")?);
                for site in [i, j] {
                    if site < 0 || site as usize >= n {
                        bail!("{origin}: site {site} does not exist (sites must be defined before use; {n} so far)");
                    }
                }
                let image = [integer(v[2], "na")?, integer(v[3], "nb")?, integer(v[4], "nc")?];
                let (i, j) = (i as usize, j as usize);
                let shift = b.cell.shift(image.map(|x| x as i32));
                let vector = b.positions[j] + shift - b.positions[i];
                if keyword == "hop" {
                    b.add_hop(i, j, v[5], vector, &origin);
                } else {
                    let saddle = v[5];
                    let (e_i, e_j) = (b.site_energies[i], b.site_energies[j]);
                    if saddle < e_i.max(e_j) {
                        bail!(
                            "{origin}: saddle energy {saddle} eV lies below the site energies ({e_i}, {e_j} eV): \
                             expected a saddle at or above both ends"
                        );
                    }
                    b.add_hop(i, j, saddle - e_i, vector, &origin);
                    b.add_hop(j, i, saddle - e_j, -vector, &origin);
                }
            }
            other => bail!("{name} line {line_no}: unknown keyword '{other}': expected cell, site, path or hop"),
        }
    }
    builder.with_context(|| format!("{name}: no 'cell' line"))?.build().with_context(|| format!("in {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lattices_have_the_right_coordination_and_hop_lengths() {
        for kind in [LatticeKind::SimpleCubic, LatticeKind::BodyCentredCubic, LatticeKind::FaceCentredCubic] {
            let lattice = Lattice { kind, repeat: [3, 4, 5], lattice_constant_a: 2.0, barrier_ev: 0.3 };
            let net = lattice.build().unwrap();
            assert_eq!(net.len(), 60 * kind.basis().len());
            for site in 0..net.len() {
                assert_eq!(net.hops(site).len(), kind.coordination());
                for (target, k) in net.hops(site) {
                    let v = net.hop_kinds()[k].vector;
                    assert!((v.norm() - kind.nearest_neighbour_distance(2.0)).abs() < 1e-12);
                    // The destination really is at the end of the hop vector, modulo the cell.
                    let d = net.cell().minimum_image(&(net.position(site) + v - net.position(target)));
                    assert!(d.norm() < 1e-9);
                }
            }
            assert_eq!(net.hop_kinds().len(), kind.coordination());
            assert!(net.is_periodic());
            assert_eq!(net.hop_count(), net.len() * kind.coordination());
        }
    }

    #[test]
    fn vacancy_network_reverses_hops() {
        let text = "cell 10 0 0 0 10 0 0 0 10\nsite 0 0 0 0.0\nsite 2 0 0 0.1\npath 0 1 0 0 0 0.5\n";
        let net = parse_catalogue(text, "t").unwrap();
        let vac = net.vacancy_network();
        // Ion hop 0→1 has barrier 0.5; so the vacancy move 1→0 has barrier 0.5 and vector (−2, 0, 0).
        let (target, h) = vac.hops(1)[0];
        assert_eq!(target, 0);
        assert!((vac.hop_kinds()[h].barrier_ev - 0.5).abs() < 1e-12);
        assert!((vac.hop_kinds()[h].vector - Vector3::new(-2.0, 0.0, 0.0)).norm() < 1e-12);
        let (_, h) = vac.hops(0)[0];
        assert!((vac.hop_kinds()[h].barrier_ev - 0.4).abs() < 1e-12);
    }

    #[test]
    fn periodic_vacancy_network_is_the_transpose() {
        // A body-centred lattice with repeat 2 along one axis (where +a and −a images reach the same site).
        let net = Lattice {
            kind: LatticeKind::BodyCentredCubic,
            repeat: [2, 3, 4],
            lattice_constant_a: 3.0,
            barrier_ev: 0.2,
        }
        .build()
        .unwrap();
        let vac = net.vacancy_network();
        let mut forward: Vec<(usize, usize, [i64; 3])> = Vec::new();
        let mut backward: Vec<(usize, usize, [i64; 3])> = Vec::new();
        let key = |v: Vector3<f64>| [0, 1, 2].map(|k| (v[k] * 1e6).round() as i64);
        for i in 0..net.len() {
            for (j, k) in net.hops(i) {
                forward.push((j, i, key(-net.hop_kinds()[k].vector)));
            }
            for (j, k) in vac.hops(i) {
                backward.push((i, j, key(vac.hop_kinds()[k].vector)));
            }
        }
        forward.sort();
        backward.sort();
        assert_eq!(forward, backward);
    }

    #[test]
    fn catalogue_errors_name_line_and_problem() {
        let missing = "cell 10 0 0 0 10 0 0 0 10\nsite 0 0 0\npath 0 3 0 0 0 0.5\n";
        let err = parse_catalogue(missing, "cat.txt").unwrap_err().to_string();
        assert!(err.contains("cat.txt line 3") && err.contains("site 3 does not exist"), "{err}");
        let negative = "cell 10 0 0 0 10 0 0 0 10\nsite 0 0 0\nsite 1 0 0\nhop 0 1 0 0 0 -0.2\nhop 1 0 0 0 0 0.2\n";
        let err = format!("{:#}", parse_catalogue(negative, "cat.txt").unwrap_err());
        assert!(err.contains("line 4") && err.contains("-0.2") && err.contains("≥ 0"), "{err}");
        let one_way = "cell 10 0 0 0 10 0 0 0 10\nsite 0 0 0\nsite 1 0 0\nhop 0 1 0 0 0 0.2\n";
        let err = format!("{:#}", parse_catalogue(one_way, "cat.txt").unwrap_err());
        assert!(err.contains("no reverse hop"), "{err}");
        let bad = "cell 10 0 0 0 10 0 0 0 10\nsite 0 0 zero\n";
        let err = format!("{:#}", parse_catalogue(bad, "cat.txt").unwrap_err());
        assert!(err.contains("line 2") && err.contains("'zero'"), "{err}");
    }
}

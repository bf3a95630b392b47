//! The site network of a kMC model: sites in a periodic cell and directed hops between them, each with a barrier
//! and a hop vector (the Cartesian displacement of the hopping particle, periodic image included).
//!
//! Hops are stored in compressed-sparse-row form (the hops leaving site i are `offsets[i]..offsets[i+1]`), and
//! each hop refers to a *hop kind* (barrier, vector) shared by all hops that are translations of each other, so
//! that a lattice of 10⁶ sites needs only a handful of kinds and rates are computed once per kind and temperature.
//!
//! Every hop must have its reverse (j→i for i→j, with the opposite vector): microscopic reversibility, without
//! which detailed balance cannot hold, and what lets the event update find the carriers a hop affects from the
//! outgoing hops alone.

use crate::system::Cell;
use anyhow::{bail, Context};
use nalgebra::Vector3;
use std::collections::HashMap;
use std::path::Path;

/// A barrier and a hop vector shared by translation-equivalent hops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HopKind {
    /// Migration barrier E_b of the hop (eV).
    pub barrier_ev: f64,
    /// Displacement of the hopping particle (Å).
    pub vector: Vector3<f64>,
}

/// Sites and directed hops. Build one with [`NetworkBuilder`], a lattice generator ([`Lattice`]),
/// [`read_catalogue`] or [`crate::kmc::barrier_table::network_from_table`].
#[derive(Clone, Debug)]
pub struct SiteNetwork {
    cell: Cell,
    positions: Vec<Vector3<f64>>,
    site_energies: Vec<f64>,
    offsets: Vec<u32>,
    targets: Vec<u32>,
    kinds: Vec<u32>,
    hop_kinds: Vec<HopKind>,
}

impl SiteNetwork {
    /// The periodic cell.
    pub fn cell(&self) -> &Cell {
        &self.cell
    }

    /// Number of sites.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// True for a network without sites.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Number of directed hops.
    pub fn hop_count(&self) -> usize {
        self.targets.len()
    }

    /// Site positions (Å).
    pub fn positions(&self) -> &[Vector3<f64>] {
        &self.positions
    }

    /// Site energies (eV), 0 when the source gave none. Informational: barriers already contain them.
    pub fn site_energies(&self) -> &[f64] {
        &self.site_energies
    }

    /// The distinct hop kinds.
    pub fn hop_kinds(&self) -> &[HopKind] {
        &self.hop_kinds
    }

    /// Range of hop indices leaving `site`.
    #[inline]
    pub fn hops(&self, site: usize) -> std::ops::Range<usize> {
        self.offsets[site] as usize..self.offsets[site + 1] as usize
    }

    /// Destination site of hop `h`.
    #[inline]
    pub fn target(&self, h: usize) -> usize {
        self.targets[h] as usize
    }

    /// Hop kind index of hop `h`.
    #[inline]
    pub fn kind(&self, h: usize) -> usize {
        self.kinds[h] as usize
    }

    /// CSR arrays (offsets, targets, kinds) for the event loop.
    pub(crate) fn raw(&self) -> (&[u32], &[u32], &[u32]) {
        (&self.offsets, &self.targets, &self.kinds)
    }

    /// Number of sites without any hop.
    pub fn isolated_sites(&self) -> usize {
        (0..self.len()).filter(|&i| self.hops(i).is_empty()).count()
    }

    /// Bytes held by the network's arrays (capacity, not counting the struct itself).
    pub fn memory_bytes(&self) -> usize {
        self.positions.capacity() * size_of::<Vector3<f64>>()
            + self.site_energies.capacity() * size_of::<f64>()
            + (self.offsets.capacity() + self.targets.capacity() + self.kinds.capacity()) * size_of::<u32>()
            + self.hop_kinds.capacity() * size_of::<HopKind>()
    }

    /// The network seen by vacancies: a vacancy at i moves to j exactly when the ion at j hops j→i, with that
    /// hop's barrier, and is displaced by the opposite vector. (Kinds are kept; their vectors are negated.)
    pub fn vacancy_network(&self) -> SiteNetwork {
        let n = self.len();
        let mut counts = vec![0u32; n + 1];
        for &t in &self.targets {
            counts[t as usize + 1] += 1;
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let offsets = counts.clone();
        let mut fill = counts;
        let mut targets = vec![0u32; self.targets.len()];
        let mut kinds = vec![0u32; self.kinds.len()];
        for from in 0..n {
            for h in self.hops(from) {
                let to = self.targets[h] as usize;
                let slot = fill[to] as usize;
                targets[slot] = from as u32;
                kinds[slot] = self.kinds[h];
                fill[to] += 1;
            }
        }
        let hop_kinds =
            self.hop_kinds.iter().map(|k| HopKind { barrier_ev: k.barrier_ev, vector: -k.vector }).collect();
        SiteNetwork {
            cell: self.cell.clone(),
            positions: self.positions.clone(),
            site_energies: self.site_energies.clone(),
            offsets,
            targets,
            kinds,
            hop_kinds,
        }
    }
}

/// Collects sites and hops, then checks and packs them into a [`SiteNetwork`].
#[derive(Clone, Debug)]
pub struct NetworkBuilder {
    cell: Cell,
    positions: Vec<Vector3<f64>>,
    site_energies: Vec<f64>,
    hops: Vec<(u32, u32, u32)>,
    hop_kinds: Vec<HopKind>,
    kind_index: HashMap<(u64, [i64; 3]), u32>,
    /// Description of where each hop came from (e.g. `barriers.csv line 7`), for error messages.
    origins: Vec<String>,
}

impl NetworkBuilder {
    /// An empty network in `cell`.
    pub fn new(cell: Cell) -> NetworkBuilder {
        NetworkBuilder {
            cell,
            positions: Vec::new(),
            site_energies: Vec::new(),
            hops: Vec::new(),
            hop_kinds: Vec::new(),
            kind_index: HashMap::new(),
            origins: Vec::new(),
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
    /// where it was defined, for error messages. Hops with the same barrier and vector (to 10⁻⁶ Å) share a kind.
    pub fn add_hop(&mut self, from: usize, to: usize, barrier_ev: f64, vector: Vector3<f64>, origin: &str) {
        let key = (barrier_ev.to_bits(), [0, 1, 2].map(|k| (vector[k] * 1e6).round() as i64));
        let next = self.hop_kinds.len() as u32;
        let kind = *self.kind_index.entry(key).or_insert(next);
        if kind == next {
            self.hop_kinds.push(HopKind { barrier_ev, vector });
        }
        self.hops.push((from as u32, to as u32, kind));
        self.origins.push(origin.to_string());
    }

    /// Checks every hop (both ends exist, barrier finite and ≥ 0, not a self-hop with zero vector, no duplicate,
    /// reverse present with the opposite vector) and packs the network.
    pub fn build(self) -> anyhow::Result<SiteNetwork> {
        let n = self.positions.len();
        if n == 0 {
            bail!("the kMC network has no site");
        }
        if n > u32::MAX as usize - 1 {
            bail!("the kMC network has {n} sites; at most {} are supported", u32::MAX - 1);
        }
        for (h, &(from, to, kind)) in self.hops.iter().enumerate() {
            let origin = &self.origins[h];
            for (end, site) in [("from", from), ("to", to)] {
                if site as usize >= n {
                    bail!(
                        "{origin}: hop {from} → {to}: {end} site {site} does not exist (the network has sites 0..{})",
                        n - 1
                    );
                }
            }
            if from == to {
                bail!("{origin}: hop {from} → {to} leads from a site to (an image of) itself, which no carrier can make under site exclusion");
            }
            let k = self.hop_kinds[kind as usize];
            if !(k.barrier_ev >= 0.0 && k.barrier_ev.is_finite()) {
                bail!("{origin}: hop {from} → {to} has barrier {} eV: expected a finite barrier ≥ 0", k.barrier_ev);
            }
            if !k.vector.iter().all(|x| x.is_finite()) || k.vector.norm() < 1e-6 {
                bail!("{origin}: hop {from} → {to} has hop vector {:?} Å: expected a finite non-zero vector", k.vector);
            }
        }
        // Index the hops by (from, to, vector) to find duplicates and reverses.
        let vector_key = |v: &Vector3<f64>| [0, 1, 2].map(|k| (v[k] * 1e4).round() as i64);
        let mut by_ends: HashMap<(u32, u32, [i64; 3]), usize> = HashMap::with_capacity(self.hops.len());
        for (h, &(from, to, kind)) in self.hops.iter().enumerate() {
            let key = (from, to, vector_key(&self.hop_kinds[kind as usize].vector));
            if let Some(&first) = by_ends.get(&key) {
                bail!(
                    "{}: hop {from} → {to} with the same hop vector is already defined by {}",
                    self.origins[h],
                    self.origins[first]
                );
            }
            by_ends.insert(key, h);
        }
        for (h, &(from, to, kind)) in self.hops.iter().enumerate() {
            let reverse = (to, from, vector_key(&-self.hop_kinds[kind as usize].vector));
            if !by_ends.contains_key(&reverse) {
                bail!(
                    "{}: hop {from} → {to} has no reverse hop {to} → {from} with the opposite vector; every hop \
                     needs its reverse (microscopic reversibility)",
                    self.origins[h]
                );
            }
        }
        let mut order: Vec<usize> = (0..self.hops.len()).collect();
        order.sort_by_key(|&h| self.hops[h].0);
        let mut offsets = vec![0u32; n + 1];
        for &(from, _, _) in &self.hops {
            offsets[from as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let targets = order.iter().map(|&h| self.hops[h].1).collect();
        let kinds = order.iter().map(|&h| self.hops[h].2).collect();
        Ok(SiteNetwork {
            cell: self.cell,
            positions: self.positions,
            site_energies: self.site_energies,
            offsets,
            targets,
            kinds,
            hop_kinds: self.hop_kinds,
        })
    }
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

/// A nearest neighbour of a basis site: destination basis site, cell offset, vector.
type Neighbour = (usize, [i64; 3], Vector3<f64>);

/// A cubic lattice of `repeat` conventional cells with lattice constant `lattice_constant_a` and a single
/// nearest-neighbour barrier.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lattice {
    /// Lattice type: `simple_cubic`, `body_centred_cubic` or `face_centred_cubic`.
    pub kind: LatticeKind,
    /// Number of conventional cells along a, b, c.
    pub repeat: [usize; 3],
    /// Conventional cubic lattice constant (Å).
    pub lattice_constant_a: f64,
    /// Barrier of every nearest-neighbour hop (eV).
    pub barrier_ev: f64,
}

impl Lattice {
    /// Builds the network. Sites are numbered cell by cell (a slowest), basis site fastest.
    pub fn build(&self) -> anyhow::Result<SiteNetwork> {
        let a = self.lattice_constant_a;
        if !(a > 0.0 && a.is_finite()) {
            bail!("lattice.lattice_constant_a = {a}: expected a positive finite number");
        }
        if self.repeat.iter().any(|&n| n < 2) {
            bail!(
                "lattice.repeat = {:?}: expected three integers ≥ 2 (with one cell a site would hop onto its own image)",
                self.repeat
            );
        }
        let [na, nb, nc] = self.repeat;
        let basis = self.kind.basis();
        let sites = na * nb * nc * basis.len();
        if sites >= u32::MAX as usize {
            bail!("lattice.repeat = {:?} gives {sites} sites; at most {} are supported", self.repeat, u32::MAX - 1);
        }
        let cell = Cell::orthorhombic(a * na as f64, a * nb as f64, a * nc as f64).context("lattice: invalid cell")?;
        // Nearest-neighbour vectors from each basis site: (destination basis site, cell offset, vector).
        let d_nn = self.kind.nearest_neighbour_distance(a);
        let mut neighbours: Vec<Vec<Neighbour>> = vec![Vec::new(); basis.len()];
        for (b, from) in basis.iter().enumerate() {
            for (b2, to) in basis.iter().enumerate() {
                for i in -1..=1i64 {
                    for j in -1..=1i64 {
                        for k in -1..=1i64 {
                            let offset = [i, j, k];
                            let v = Vector3::from_fn(|x, _| (to[x] + offset[x] as f64 - from[x]) * a);
                            if (v.norm() - d_nn).abs() < 1e-9 * a {
                                neighbours[b].push((b2, offset, v));
                            }
                        }
                    }
                }
            }
            debug_assert_eq!(neighbours[b].len(), self.kind.coordination());
        }
        let mut builder = NetworkBuilder::new(cell);
        builder.positions.reserve(sites);
        builder.hops.reserve(sites * self.kind.coordination());
        let n = [na as i64, nb as i64, nc as i64];
        let index = |c: [i64; 3], b: usize| (((c[0] * n[1] + c[1]) * n[2] + c[2]) as usize) * basis.len() + b;
        for i in 0..n[0] {
            for j in 0..n[1] {
                for k in 0..n[2] {
                    for frac in &basis {
                        let r =
                            Vector3::new((i as f64 + frac[0]) * a, (j as f64 + frac[1]) * a, (k as f64 + frac[2]) * a);
                        builder.add_site(r, 0.0);
                    }
                }
            }
        }
        for i in 0..n[0] {
            for j in 0..n[1] {
                for k in 0..n[2] {
                    for b in 0..basis.len() {
                        let from = index([i, j, k], b);
                        for &(b2, offset, v) in &neighbours[b] {
                            let c = [i, j, k];
                            let dest = [0, 1, 2].map(|x| (c[x] + offset[x]).rem_euclid(n[x]));
                            let to = index(dest, b2);
                            builder.add_hop(from, to, self.barrier_ev, v, "lattice");
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
                for h in net.hops(site) {
                    let v = net.hop_kinds()[net.kind(h)].vector;
                    assert!((v.norm() - kind.nearest_neighbour_distance(2.0)).abs() < 1e-12);
                    // The destination really is at the end of the hop vector, modulo the cell.
                    let d = net.cell().minimum_image(&(net.positions()[site] + v - net.positions()[net.target(h)]));
                    assert!(d.norm() < 1e-9);
                }
            }
            assert_eq!(net.hop_kinds().len(), kind.coordination());
        }
    }

    #[test]
    fn vacancy_network_reverses_hops() {
        let text = "cell 10 0 0 0 10 0 0 0 10\nsite 0 0 0 0.0\nsite 2 0 0 0.1\npath 0 1 0 0 0 0.5\n";
        let net = parse_catalogue(text, "t").unwrap();
        let vac = net.vacancy_network();
        // Ion hop 0→1 has barrier 0.5; so the vacancy move 1→0 has barrier 0.5 and vector (−2, 0, 0).
        let h = vac.hops(1).start;
        assert_eq!(vac.target(h), 0);
        assert!((vac.hop_kinds()[vac.kind(h)].barrier_ev - 0.5).abs() < 1e-12);
        assert!((vac.hop_kinds()[vac.kind(h)].vector - Vector3::new(-2.0, 0.0, 0.0)).norm() < 1e-12);
        let h = vac.hops(0).start;
        assert!((vac.hop_kinds()[vac.kind(h)].barrier_ev - 0.4).abs() < 1e-12);
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

//! Neighbour search: cell lists (binning) feeding a Verlet list with a skin.
//!
//! The list is *full* (each pair appears as i→j and j→i), stored contiguously (CSR), and holds for every
//! neighbour j of i the Cartesian image shift such that the displacement is
//! `d_ij = positions[j] − positions[i] + shift`. Positions need not be wrapped: the list accounts for the
//! image each atom sits in, so it stays valid while atoms move, until one has moved more than half the skin.
//!
//! Construction is O(N): atoms are binned into a grid of bins at least `cutoff + skin` wide (perpendicular
//! width, so triclinic cells are exact), and each atom looks at the bins within reach. Cells narrower than
//! the list cutoff are handled by looking at several periodic images of each bin, so an atom may see several
//! images of the same neighbour, or images of itself. Building runs in parallel with rayon and gives the same
//! list (same order) whatever the number of threads.
//!
//! A changed cell (a barostat) does not force a rebuild. With F the map from the cell of the last build to
//! the current one (a → F·a for every lattice vector), a pair that was farther apart than r_c + skin at the
//! build is now at least σ_min(F)·(r_c + skin) − |δ_i| − |δ_j| apart, where δ_i = r_i − F·r_i(build) is
//! the displacement beyond the homogeneous deformation and σ_min(F) the smallest singular value of F. The list
//! therefore holds every pair within r_c while max |δ_i| < (σ_min(F)(r_c + skin) − r_c)/2 (half the skin when
//! F = 1); until then only the image shifts are recomputed for the new cell, from the integer images kept
//! with them.

use crate::system::{Cell, System};
use nalgebra::{Matrix3, Vector3};
use rayon::prelude::*;

/// A Verlet neighbour list with skin, built from cell lists.
#[derive(Clone, Debug)]
pub struct NeighborList {
    cutoff: f64,
    skin: f64,
    /// Number of atoms of the last build.
    atoms: usize,
    /// The list in chunks of `BUILD_CHUNK` consecutive atoms, kept between builds to reuse their memory.
    chunks: Vec<ChunkList>,
    reference_positions: Vec<Vector3<f64>>,
    /// The cell of the last build.
    reference_cell: Option<Matrix3<f64>>,
    /// The cell the image shifts were last computed for.
    shift_cell: Option<Matrix3<f64>>,
    /// Periodicity of the last build.
    periodic: [bool; 3],
    builds: usize,
}

/// The binning grid of one build: for every atom its bin and its wrapped fractional coordinates.
struct Grid {
    bins: [usize; 3],
    reach: [i64; 3],
    periodic: [bool; 3],
    bin_of_atom: Vec<[usize; 3]>,
    bin_start: Vec<usize>,
    atoms_by_bin: Vec<u32>,
    /// Wrapped positions in the order of `atoms_by_bin`, so a bin's atoms are contiguous in memory.
    binned_positions: Vec<Vector3<f64>>,
    /// Positions translated into the binning box (periodic directions wrapped).
    wrapped: Vec<Vector3<f64>>,
    /// Image of each atom: `position = wrapped + translation(image)`.
    image: Vec<[i32; 3]>,
    /// Lattice used for image translations (rows are vectors).
    cell: Cell,
}

impl NeighborList {
    /// A list for interactions up to `cutoff` (Å), built with `cutoff + skin`.
    pub fn new(cutoff: f64, skin: f64) -> NeighborList {
        assert!(cutoff > 0.0 && skin >= 0.0, "neighbour list needs cutoff > 0 and skin ≥ 0");
        NeighborList {
            cutoff,
            skin,
            atoms: 0,
            chunks: Vec::new(),
            reference_positions: Vec::new(),
            reference_cell: None,
            shift_cell: None,
            periodic: [false; 3],
            builds: 0,
        }
    }

    /// Interaction cutoff (Å).
    pub fn cutoff(&self) -> f64 {
        self.cutoff
    }

    /// Skin (Å).
    pub fn skin(&self) -> f64 {
        self.skin
    }

    /// Radius the list was built with: cutoff + skin.
    pub fn list_cutoff(&self) -> f64 {
        self.cutoff + self.skin
    }

    /// How many times the list has been built.
    pub fn builds(&self) -> usize {
        self.builds
    }

    /// Number of atoms the list was built for.
    pub fn len(&self) -> usize {
        self.atoms
    }

    /// True before the first build.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Indices of the neighbours of atom `i` (within cutoff + skin at build time).
    #[inline]
    pub fn indices(&self, i: usize) -> &[u32] {
        let chunk = &self.chunks[i / BUILD_CHUNK];
        let local = i % BUILD_CHUNK;
        &chunk.indices[chunk.offsets[local]..chunk.offsets[local + 1]]
    }

    /// Image shifts of the neighbours of atom `i`, in the order of [`indices`](Self::indices).
    #[inline]
    pub fn shifts(&self, i: usize) -> &[Vector3<f64>] {
        let chunk = &self.chunks[i / BUILD_CHUNK];
        let local = i % BUILD_CHUNK;
        &chunk.shifts[chunk.offsets[local]..chunk.offsets[local + 1]]
    }

    /// Total number of stored (directed) pairs.
    pub fn total_pairs(&self) -> usize {
        self.chunks.iter().map(|c| c.indices.len()).sum()
    }

    /// True when the list must be rebuilt for `system`: first use, a different number of atoms or
    /// periodicity, or an atom that moved, beyond the deformation of the cell, more than the skin allows
    /// (half the skin in a fixed cell; see the module documentation).
    pub fn needs_update(&self, system: &System) -> bool {
        let Some(reference_cell) = self.reference_cell else { return true };
        if system.len() != self.reference_positions.len() || self.periodic != system.cell.periodic() {
            return true;
        }
        if &reference_cell == system.cell.matrix() {
            let limit = 0.25 * self.skin * self.skin;
            return system
                .positions
                .iter()
                .zip(&self.reference_positions)
                .any(|(r, r0)| (r - r0).norm_squared() > limit);
        }
        let Some(map) = reference_cell.try_inverse().map(|inverse| (inverse * system.cell.matrix()).transpose()) else {
            return true;
        };
        let stretch = map.svd(false, false).singular_values.min();
        let allowed = 0.5 * (stretch * self.list_cutoff() - self.cutoff);
        if allowed.is_nan() || allowed <= 0.0 {
            return true;
        }
        let limit = allowed * allowed;
        system.positions.iter().zip(&self.reference_positions).any(|(r, r0)| (r - map * r0).norm_squared() > limit)
    }

    /// Rebuilds the list if [`needs_update`](Self::needs_update), otherwise recomputes the image shifts if the
    /// cell changed; returns whether it rebuilt.
    pub fn update(&mut self, system: &System) -> Result<bool, NeighborListTooLarge> {
        if self.needs_update(system) {
            self.build(system)?;
            Ok(true)
        } else {
            if self.shift_cell.as_ref() != Some(system.cell.matrix()) {
                self.recompute_shifts(&system.cell);
            }
            Ok(false)
        }
    }

    /// Image shifts for `cell` from the integer images of the last build.
    fn recompute_shifts(&mut self, cell: &Cell) {
        self.chunks.par_iter_mut().for_each(|list| {
            for (shift, image) in list.shifts.iter_mut().zip(&list.images) {
                *shift = cell.shift(*image);
            }
        });
        self.shift_cell = Some(*cell.matrix());
    }

    /// Builds the list for `system` unconditionally, after [`check_size`] has bounded its size and work.
    pub fn build(&mut self, system: &System) -> Result<(), NeighborListTooLarge> {
        let n = system.len();
        let radius = self.list_cutoff();
        check_size(system, radius)?;
        let radius2 = radius * radius;
        let grid = Grid::new(system, radius);
        // Fixed-size chunks of consecutive atoms, each filling its own buffers (kept from the previous build,
        // no allocation per atom): the same list whatever the number of threads.
        self.chunks.resize_with(n.div_ceil(BUILD_CHUNK), ChunkList::default);
        self.chunks.par_iter_mut().enumerate().for_each(|(chunk, list)| {
            list.offsets.clear();
            list.offsets.push(0);
            list.indices.clear();
            list.shifts.clear();
            list.images.clear();
            for i in chunk * BUILD_CHUNK..((chunk + 1) * BUILD_CHUNK).min(n) {
                grid.neighbors_of(i, radius2, list);
                list.offsets.push(list.indices.len());
            }
        });
        self.atoms = n;
        self.periodic = system.cell.periodic();
        self.reference_positions.clone_from(&system.positions);
        self.reference_cell = Some(*system.cell.matrix());
        self.shift_cell = self.reference_cell;
        self.builds += 1;
        Ok(())
    }
}

/// Most list entries (neighbour images) one atom may have: about 60 Å of list cutoff in a dense oxide, far
/// beyond any interatomic potential, and a bound on the image search of a nearly flat cell.
pub const MAX_ENTRIES_PER_ATOM: f64 = 100_000.0;

/// Most list entries of a whole build: 2²⁸ entries are 7.5 GB of indices and image shifts.
pub const MAX_ENTRIES: f64 = (1u64 << 28) as f64;

/// Bytes of one list entry: a `u32` index, a `Vector3<f64>` shift and its integer image.
const ENTRY_BYTES: f64 = 40.0;

/// A neighbour search refused before it starts, because the list would hold more entries than
/// [`MAX_ENTRIES_PER_ATOM`] or [`MAX_ENTRIES`] (a cutoff or skin far too large for the cell, or a nearly
/// singular cell).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error(
    "the neighbour list of {atoms} atoms with a list cutoff of {radius_a} Å (cutoff + skin) in a cell of {volume_a3:.4e} Å³ \
     would hold about {per_atom:.3e} neighbour images per atom ({gigabytes:.3e} GB in all); the limits are {max_per_atom:.0e} \
     per atom and {max_total:.3e} in all: use a smaller cutoff or skin, or check the cell"
)]
pub struct NeighborListTooLarge {
    pub atoms: usize,
    pub radius_a: f64,
    pub volume_a3: f64,
    pub per_atom: f64,
    pub gigabytes: f64,
    pub max_per_atom: f64,
    pub max_total: f64,
}

/// Refuses a build whose list would be absurdly large. Periodic cells: an atom has about
/// n·(4/3)πr³/V images of atoms within r (every image, and its own, counted), so the estimate is exact on
/// average and grows without bound as the cell flattens (V → 0) or the cutoff grows; the image search visits
/// at most a few times as many bins. A system without periodicity has at most n − 1 neighbours per atom.
pub fn check_size(system: &System, radius: f64) -> Result<(), NeighborListTooLarge> {
    let n = system.len() as f64;
    let (volume, per_atom) = if system.cell.is_infinite() || system.cell.periodic().iter().all(|p| !p) {
        (f64::INFINITY, (n - 1.0).max(0.0))
    } else {
        let volume = system.cell.volume().abs();
        (volume, n * 4.0 / 3.0 * std::f64::consts::PI * radius.powi(3) / volume)
    };
    let total = per_atom * n;
    if per_atom.is_finite() && per_atom <= MAX_ENTRIES_PER_ATOM && total <= MAX_ENTRIES {
        return Ok(());
    }
    Err(NeighborListTooLarge {
        atoms: system.len(),
        radius_a: radius,
        volume_a3: volume,
        per_atom,
        gigabytes: total * ENTRY_BYTES / 1e9,
        max_per_atom: MAX_ENTRIES_PER_ATOM,
        max_total: MAX_ENTRIES,
    })
}

/// Atoms per parallel work item when building.
const BUILD_CHUNK: usize = 256;

/// The neighbours of one chunk of consecutive atoms: those of its k-th atom are at `offsets[k]..offsets[k+1]`.
#[derive(Clone, Debug, Default)]
struct ChunkList {
    offsets: Vec<usize>,
    indices: Vec<u32>,
    shifts: Vec<Vector3<f64>>,
    /// The image of each shift: shift = Σ_k images[k]·(lattice vector k).
    images: Vec<[i32; 3]>,
}

impl Grid {
    fn new(system: &System, radius: f64) -> Grid {
        let n = system.len();
        let (cell, origin, periodic) = if system.cell.is_infinite() {
            let (cell, origin) = bounding_box(&system.positions);
            (cell, origin, [false; 3])
        } else {
            (system.cell.clone(), Vector3::zeros(), system.cell.periodic())
        };
        let widths = cell.perpendicular_widths();
        // Bins at least `radius` wide, but no more bins than about one per atom along the grid.
        let mut bins = [1usize; 3];
        for k in 0..3 {
            bins[k] = ((widths[k] / radius).floor() as usize).clamp(1, 1 << 20);
        }
        while bins.iter().product::<usize>() > 2 * n.max(8) {
            let k = (0..3).max_by_key(|&k| bins[k]).unwrap();
            bins[k] = (bins[k] / 2).max(1);
        }
        let mut reach = [0i64; 3];
        for k in 0..3 {
            reach[k] = (radius * bins[k] as f64 / widths[k]).ceil() as i64;
            if !periodic[k] {
                reach[k] = reach[k].min(bins[k] as i64);
            }
        }
        let mut wrapped = Vec::with_capacity(n);
        let mut image = Vec::with_capacity(n);
        let mut bin_of_atom = Vec::with_capacity(n);
        for r in &system.positions {
            let mut s = cell.fractional(&(r - origin));
            let mut img = [0i32; 3];
            let mut bin = [0usize; 3];
            for k in 0..3 {
                if periodic[k] {
                    let f = s[k].floor();
                    s[k] -= f;
                    img[k] = f as i32;
                    if s[k] >= 1.0 {
                        s[k] = 0.0;
                        img[k] += 1;
                    }
                }
                bin[k] = ((s[k] * bins[k] as f64).floor().max(0.0) as usize).min(bins[k] - 1);
            }
            wrapped.push(r - cell.shift(img));
            image.push(img);
            bin_of_atom.push(bin);
        }
        let total_bins = bins[0] * bins[1] * bins[2];
        let flat = |b: &[usize; 3]| (b[0] * bins[1] + b[1]) * bins[2] + b[2];
        let mut bin_start = vec![0usize; total_bins + 1];
        for b in &bin_of_atom {
            bin_start[flat(b) + 1] += 1;
        }
        for b in 0..total_bins {
            bin_start[b + 1] += bin_start[b];
        }
        let mut fill = bin_start.clone();
        let mut atoms_by_bin = vec![0u32; n];
        for (i, b) in bin_of_atom.iter().enumerate() {
            let slot = &mut fill[flat(b)];
            atoms_by_bin[*slot] = i as u32;
            *slot += 1;
        }
        let binned_positions = atoms_by_bin.iter().map(|&i| wrapped[i as usize]).collect();
        Grid { bins, reach, periodic, bin_of_atom, bin_start, atoms_by_bin, binned_positions, wrapped, image, cell }
    }

    /// Appends the neighbours of atom `i` within sqrt(`radius2`) to `list`.
    fn neighbors_of(&self, i: usize, radius2: f64, list: &mut ChunkList) {
        let home = self.bin_of_atom[i];
        let ri = self.wrapped[i];
        let img_i = self.image[i];
        let span = |k: usize| -self.reach[k]..=self.reach[k];
        for dx in span(0) {
            let Some((bx, sx)) = self.neighbor_bin(0, home[0], dx) else { continue };
            for dy in span(1) {
                let Some((by, sy)) = self.neighbor_bin(1, home[1], dy) else { continue };
                for dz in span(2) {
                    let Some((bz, sz)) = self.neighbor_bin(2, home[2], dz) else { continue };
                    let translation = self.cell.shift([sx, sy, sz]);
                    let origin = ri - translation;
                    let b = (bx * self.bins[1] + by) * self.bins[2] + bz;
                    let slots = self.bin_start[b]..self.bin_start[b + 1];
                    for (&j, rj) in self.atoms_by_bin[slots.clone()].iter().zip(&self.binned_positions[slots]) {
                        let d = rj - origin;
                        if d.norm_squared() < radius2 {
                            let j = j as usize;
                            if j == i && sx == 0 && sy == 0 && sz == 0 {
                                continue;
                            }
                            let img_j = self.image[j];
                            let total = [sx - img_j[0] + img_i[0], sy - img_j[1] + img_i[1], sz - img_j[2] + img_i[2]];
                            list.indices.push(j as u32);
                            list.shifts.push(self.cell.shift(total));
                            list.images.push(total);
                        }
                    }
                }
            }
        }
    }

    /// Bin reached from `home` by `offset` along direction `k`, with the periodic image crossed;
    /// `None` outside a non-periodic direction.
    fn neighbor_bin(&self, k: usize, home: usize, offset: i64) -> Option<(usize, i32)> {
        let m = self.bins[k] as i64;
        let target = home as i64 + offset;
        if self.periodic[k] {
            Some((target.rem_euclid(m) as usize, target.div_euclid(m) as i32))
        } else if (0..m).contains(&target) {
            Some((target as usize, 0))
        } else {
            None
        }
    }
}

/// An orthorhombic box enclosing all positions and its lowest corner, used to bin a non-periodic system.
fn bounding_box(positions: &[Vector3<f64>]) -> (Cell, Vector3<f64>) {
    if positions.is_empty() {
        return (Cell::orthorhombic(1.0, 1.0, 1.0).expect("unit box"), Vector3::zeros());
    }
    let mut lo = Vector3::repeat(f64::INFINITY);
    let mut hi = Vector3::repeat(f64::NEG_INFINITY);
    for r in positions {
        lo = lo.inf(r);
        hi = hi.sup(r);
    }
    let size = (hi - lo).map(|x| x.max(1.0) * (1.0 + 1e-9));
    let cell = Cell::orthorhombic(size.x, size.y, size.z).expect("positive box");
    (Cell::from_matrix(*cell.matrix(), [false; 3]).expect("valid box"), lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// All pairs within `radius` by brute force over enough periodic images; sorted (i, j, rounded d).
    fn brute_force(system: &System, radius: f64) -> Vec<(usize, usize, [i64; 3])> {
        let cell = &system.cell;
        let widths = cell.perpendicular_widths();
        // Positions may lie up to a few cells outside the box: look far enough.
        let reach: Vec<i32> = (0..3).map(|k| (radius / widths[k]).ceil() as i32 + 6).collect();
        let mut out = Vec::new();
        for i in 0..system.len() {
            for j in 0..system.len() {
                for a in -reach[0]..=reach[0] {
                    for b in -reach[1]..=reach[1] {
                        for c in -reach[2]..=reach[2] {
                            if i == j && a == 0 && b == 0 && c == 0 {
                                continue;
                            }
                            let d = system.positions[j] - system.positions[i] + cell.shift([a, b, c]);
                            if d.norm() < radius {
                                out.push((i, j, key(&d)));
                            }
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }

    fn key(d: &Vector3<f64>) -> [i64; 3] {
        [(d.x * 1e6).round() as i64, (d.y * 1e6).round() as i64, (d.z * 1e6).round() as i64]
    }

    fn from_list(system: &System, list: &NeighborList, radius: f64) -> Vec<(usize, usize, [i64; 3])> {
        let mut out = Vec::new();
        for i in 0..system.len() {
            for (&j, shift) in list.indices(i).iter().zip(list.shifts(i)) {
                let d = system.positions[j as usize] - system.positions[i] + shift;
                if d.norm() < radius {
                    out.push((i, j as usize, key(&d)));
                }
            }
        }
        out.sort();
        out
    }

    fn random_system(cell: Cell, n: usize, seed: u64, spread: f64) -> System {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut s = System::new(cell.clone());
        for _ in 0..n {
            let f = Vector3::new(
                rng.gen_range(-spread..1.0 + spread),
                rng.gen_range(-spread..1.0 + spread),
                rng.gen_range(-spread..1.0 + spread),
            );
            s.push(29, cell.cartesian(&f));
        }
        s
    }

    #[test]
    fn matches_brute_force_in_large_triclinic_cell() {
        let cell = Cell::from_vectors(
            Vector3::new(12.0, 0.0, 0.0),
            Vector3::new(3.0, 11.0, 0.0),
            Vector3::new(-2.0, 1.5, 13.0),
        )
        .unwrap();
        let system = random_system(cell, 150, 1, 0.3);
        let mut list = NeighborList::new(3.5, 0.5);
        list.build(&system).unwrap();
        assert_eq!(from_list(&system, &list, 4.0), brute_force(&system, 4.0));
    }

    #[test]
    fn matches_brute_force_in_cell_smaller_than_cutoff() {
        let cell =
            Cell::from_vectors(Vector3::new(3.0, 0.0, 0.0), Vector3::new(1.2, 2.8, 0.0), Vector3::new(0.4, -0.9, 3.3))
                .unwrap();
        let system = random_system(cell, 4, 2, 2.0);
        let mut list = NeighborList::new(6.0, 1.0);
        list.build(&system).unwrap();
        let expected = brute_force(&system, 7.0);
        assert!(expected.len() > 100);
        assert_eq!(from_list(&system, &list, 7.0), expected);
    }

    #[test]
    fn matches_brute_force_without_periodicity() {
        let box_cell = Cell::orthorhombic(15.0, 15.0, 15.0).unwrap();
        let mut system = random_system(box_cell, 120, 3, 0.0);
        system.cell = Cell::infinite();
        let mut list = NeighborList::new(3.0, 0.5);
        list.build(&system).unwrap();
        let mut expected = Vec::new();
        for i in 0..system.len() {
            for j in 0..system.len() {
                let d = system.positions[j] - system.positions[i];
                if i != j && d.norm() < 3.5 {
                    expected.push((i, j, key(&d)));
                }
            }
        }
        expected.sort();
        assert_eq!(from_list(&system, &list, 3.5), expected);
    }

    #[test]
    fn rebuilds_only_after_half_skin_displacement() {
        let system = random_system(Cell::orthorhombic(10.0, 10.0, 10.0).unwrap(), 50, 4, 0.0);
        let mut list = NeighborList::new(3.0, 1.0);
        assert!(list.update(&system).unwrap());
        let mut moved = system.clone();
        moved.positions[7].x += 0.49;
        assert!(!list.update(&moved).unwrap());
        moved.positions[7].x += 0.02;
        assert!(list.update(&moved).unwrap());
        assert_eq!(list.builds(), 2);
    }

    #[test]
    fn stays_valid_within_skin() {
        let cell = Cell::orthorhombic(9.0, 9.0, 9.0).unwrap();
        let mut system = random_system(cell, 80, 5, 0.0);
        let mut list = NeighborList::new(3.0, 1.0);
        list.build(&system).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        for r in system.positions.iter_mut() {
            *r += Vector3::new(rng.gen_range(-0.28..0.28), rng.gen_range(-0.28..0.28), rng.gen_range(-0.28..0.28));
        }
        assert!(!list.needs_update(&system));
        assert_eq!(from_list(&system, &list, 3.0), brute_force(&system, 3.0));
    }

    /// Under a homogeneous deformation (a barostat step) plus small displacements the list is kept, its shifts
    /// follow the new cell and it still holds every pair within the cutoff; once the deformation eats the
    /// skin it is rebuilt.
    #[test]
    fn survives_a_deformed_cell_within_the_skin() {
        let cell = Cell::from_vectors(
            Vector3::new(10.0, 0.0, 0.0),
            Vector3::new(1.5, 9.5, 0.0),
            Vector3::new(-1.0, 0.8, 10.5),
        )
        .unwrap();
        let system = random_system(cell, 120, 6, 0.2);
        let mut list = NeighborList::new(3.0, 1.0);
        list.build(&system).unwrap();
        let deformed = |strain: f64| {
            let map = Matrix3::new(
                1.0 + strain,
                0.3 * strain,
                0.0,
                0.3 * strain,
                1.0 - 0.5 * strain,
                0.2 * strain,
                0.0,
                0.2 * strain,
                1.0 + 0.7 * strain,
            );
            let mut s = system.clone();
            s.cell = system.cell.deformed(&map).unwrap();
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
            for r in s.positions.iter_mut() {
                *r = map * *r
                    + Vector3::new(rng.gen_range(-0.2..0.2), rng.gen_range(-0.2..0.2), rng.gen_range(-0.2..0.2));
            }
            s
        };
        let slightly = deformed(0.03);
        assert!(!list.update(&slightly).unwrap(), "a 3 % strain with 0.35 Å moves is within the 1 Å skin");
        assert_eq!(from_list(&slightly, &list, 3.0), brute_force(&slightly, 3.0));
        let strongly = deformed(-0.25);
        assert!(list.update(&strongly).unwrap(), "a 25 % compression needs a new list");
        assert_eq!(from_list(&strongly, &list, 3.0), brute_force(&strongly, 3.0));
        assert_eq!(list.builds(), 2);
    }

    #[test]
    fn size_estimate_is_the_mean_list_length() {
        let system = random_system(Cell::orthorhombic(9.0, 9.0, 9.0).unwrap(), 80, 6, 0.0);
        let mut list = NeighborList::new(4.0, 0.0);
        list.build(&system).unwrap();
        let mean = list.total_pairs() as f64 / 80.0;
        let estimate = 80.0 * 4.0 / 3.0 * std::f64::consts::PI * 64.0 / 729.0;
        assert!((mean / estimate - 1.0).abs() < 0.1, "mean {mean} against the estimate {estimate}");
    }

    #[test]
    fn refuses_a_huge_cutoff_and_a_flat_cell_before_searching() {
        let system = random_system(Cell::orthorhombic(5.26, 5.26, 5.26).unwrap(), 4, 7, 0.0);
        let error = NeighborList::new(1e4, 0.0).build(&system).unwrap_err();
        assert!(error.per_atom > 1e11, "{error}");
        assert!(error.to_string().contains("10000 Å (cutoff + skin)"), "{error}");
        let flat = random_system(Cell::orthorhombic(5.26, 5.26, 1e-9).unwrap(), 4, 7, 0.0);
        assert!(NeighborList::new(8.5, 1.0).build(&flat).is_err());
        let mut molecule = System::new(Cell::infinite());
        molecule.push(18, Vector3::zeros());
        molecule.push(18, Vector3::new(3.0, 0.0, 0.0));
        assert!(NeighborList::new(1e4, 0.0).build(&molecule).is_ok());
    }
}

//! A complete binary sum tree over non-negative weights: O(log N) update and O(log N) selection of a leaf with
//! probability proportional to its weight.
//!
//! Every inner node holds the sum of its two children and is recomputed from them on each update (no running
//! deltas), so the stored sums never drift however many updates are made, and the result of a sequence of updates
//! is independent of their history. This is the "binary tree" variant of the event search in Blue, Beichl and
//! Sullivan, Phys. Rev. E 51, R867 (1995).

/// Sum tree with leaves `0..len`.
#[derive(Clone, Debug)]
pub struct SumTree {
    /// Number of leaf slots (a power of two ≥ len); leaf `i` is stored at `nodes[capacity + i]`, the root at 1.
    capacity: usize,
    len: usize,
    nodes: Vec<f64>,
}

impl SumTree {
    /// A tree of `len` leaves, all zero.
    pub fn new(len: usize) -> SumTree {
        let capacity = len.max(1).next_power_of_two();
        SumTree { capacity, len, nodes: vec![0.0; 2 * capacity] }
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the tree has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sum of all weights.
    #[inline]
    pub fn total(&self) -> f64 {
        self.nodes[1]
    }

    /// Weight of leaf `i`.
    #[inline]
    pub fn get(&self, i: usize) -> f64 {
        self.nodes[self.capacity + i]
    }

    /// Sets the weight of leaf `i` and recomputes the sums on its path to the root.
    #[inline]
    pub fn set(&mut self, i: usize, weight: f64) {
        debug_assert!(i < self.len && weight >= 0.0);
        let mut node = self.capacity + i;
        self.nodes[node] = weight;
        while node > 1 {
            node >>= 1;
            self.nodes[node] = self.nodes[2 * node] + self.nodes[2 * node + 1];
        }
    }

    /// The leaf `i` such that the weights of leaves before it sum to ≤ x < that sum plus weight(i), and the
    /// remainder x − Σ_{j<i} w_j. `x` must lie in [0, total). Rounding can leave x at or beyond the sum of a
    /// right subtree; the search then never steps into an empty subtree, so the returned leaf always has a
    /// positive weight when the total is positive.
    #[inline]
    pub fn find(&self, mut x: f64) -> (usize, f64) {
        let mut node = 1;
        while node < self.capacity {
            let left = 2 * node;
            let left_sum = self.nodes[left];
            if x < left_sum || self.nodes[left + 1] <= 0.0 {
                node = left;
            } else {
                x -= left_sum;
                node = left + 1;
            }
        }
        (node - self.capacity, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn sums_and_search_match_a_linear_scan() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        for len in [1usize, 2, 3, 5, 8, 13, 100] {
            let mut tree = SumTree::new(len);
            let mut weights = vec![0.0; len];
            for _ in 0..200 {
                let i = rng.gen_range(0..len);
                let w = if rng.gen_bool(0.2) { 0.0 } else { rng.gen::<f64>() * 3.0 };
                weights[i] = w;
                tree.set(i, w);
                let total: f64 = weights.iter().sum();
                assert!((tree.total() - total).abs() < 1e-12 * (1.0 + total));
                if total > 0.0 {
                    let x = rng.gen::<f64>() * total;
                    let (leaf, rest) = tree.find(x);
                    let before: f64 = weights[..leaf].iter().sum();
                    assert!(weights[leaf] > 0.0);
                    assert!(x >= before - 1e-12 && x < before + weights[leaf] + 1e-12, "len {len} x {x}");
                    assert!((rest - (x - before)).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn selection_frequencies_are_proportional_to_weights() {
        let weights = [1.0, 0.0, 3.0, 6.0];
        let mut tree = SumTree::new(4);
        for (i, &w) in weights.iter().enumerate() {
            tree.set(i, w);
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut counts = [0usize; 4];
        let draws = 200_000;
        for _ in 0..draws {
            counts[tree.find(rng.gen::<f64>() * tree.total()).0] += 1;
        }
        for i in 0..4 {
            let expected = weights[i] / 10.0;
            let observed = counts[i] as f64 / draws as f64;
            // Binomial standard error ≤ 0.0011; 5 σ.
            assert!((observed - expected).abs() < 0.0056, "leaf {i}: {observed} vs {expected}");
        }
    }
}

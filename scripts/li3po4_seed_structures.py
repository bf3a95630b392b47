#!/usr/bin/env python3
"""Generation-0 structures of the Li3PO4 training set (issue 8): crystals strained and rattled, defect cells, bcc Li.

    li3po4_seed_structures.py OUTPUT.extxyz [--seed 1] [--shared ../shared]

What is written (unlabelled extended XYZ, one frame per structure; `source=` names the recipe):
- gamma: γ-Li3PO4 (mp-2878, 32 atoms) as 1×1×1 and 2×1×1 (64) cells; beta: β-Li3PO4 (mp-13725, 16 atoms) as
  1×1×1, 1×1×2 (32) and 2×2×1 (64) cells. Every cell is first scaled by 1.016 (CHGNet 0.3.0's relaxed lattice is
  1.5–1.6 % larger than the PBE one), then given a random symmetric strain (each component uniform in ±4 %), an
  isotropic volume factor uniform in [0.90, 1.15] (dense crystal to expanded liquid), and a Gaussian rattle
  with σ uniform in [0.01, 0.30] Å.
- vacancy cells: the same with one Li removed (Li vacancy) or one Li2O unit removed (an O and its two nearest Li).
- hot: γ 1×1×1 with σ in [0.3, 0.45] Å (liquid-like disorder).
- li_bcc: bcc Li (a = 3.408 Å, CHGNet's) as 2×2×2 (16) and 3×3×3 (54) conventional cells, strained ±3 %, volume
  factor [0.94, 1.08], σ ≤ 0.15 Å: the reference for μ_Li.
Structures with two atoms closer than 1.0 Å (1.3 Å for anything but P–O) are redrawn. The seed makes the file
reproducible.
"""
import argparse
import os

import numpy as np


def read_poscar(path):
    with open(path) as handle:
        lines = handle.read().split("\n")
    scale = float(lines[1])
    lattice = np.array([[float(x) for x in lines[i].split()] for i in (2, 3, 4)]) * scale
    names = lines[5].split()
    counts = [int(x) for x in lines[6].split()]
    species = [n for n, c in zip(names, counts) for _ in range(c)]
    start = 8
    frac = np.array([[float(x) for x in lines[start + i].split()[:3]] for i in range(len(species))])
    return lattice, species, frac @ lattice


def repeat(lattice, species, positions, reps):
    new_species, new_positions = [], []
    for i in range(reps[0]):
        for j in range(reps[1]):
            for k in range(reps[2]):
                shift = i * lattice[0] + j * lattice[1] + k * lattice[2]
                new_species += species
                new_positions.append(positions + shift)
    return lattice * np.array(reps)[:, None], new_species, np.vstack(new_positions)


def minimum_distances(lattice, species, positions):
    """Smallest distance of every pair (minimum image; cells here are ≥ 4.8 Å wide so 27 images suffice)."""
    inverse = np.linalg.inv(lattice)
    delta = positions[None, :, :] - positions[:, None, :]
    frac = delta @ inverse
    frac -= np.round(frac)
    best = np.full((len(species), len(species)), np.inf)
    for shift in np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).T.reshape(-1, 3):
        d = np.linalg.norm((frac + shift) @ lattice, axis=2)
        best = np.minimum(best, d)
    np.fill_diagonal(best, np.inf)
    return best


def acceptable(lattice, species, positions):
    d = minimum_distances(lattice, species, positions)
    s = np.array(species)
    po = ((s[:, None] == "P") & (s[None, :] == "O")) | ((s[:, None] == "O") & (s[None, :] == "P"))
    return d.min() > 1.0 and np.where(po, np.inf, d).min() > 1.3


def distort(rng, lattice, positions, strain, volume, sigma):
    epsilon = rng.uniform(-strain, strain, (3, 3))
    epsilon = 0.5 * (epsilon + epsilon.T)
    deformation = (np.eye(3) + epsilon) * rng.uniform(*volume) ** (1 / 3)
    new_lattice = lattice @ deformation
    new_positions = positions @ deformation + rng.normal(0.0, rng.uniform(*sigma), positions.shape)
    return new_lattice, new_positions


def remove_li(rng, lattice, species, positions, li2o):
    """One Li vacancy, or (li2o) an O with its two nearest Li."""
    s = np.array(species)
    keep = np.ones(len(species), bool)
    if li2o:
        oxygen = rng.choice(np.flatnonzero(s == "O"))
        d = minimum_distances(lattice, species, positions)[oxygen]
        lithium = np.flatnonzero(s == "Li")
        nearest = lithium[np.argsort(d[lithium])[:2]]
        keep[[oxygen, *nearest]] = False
    else:
        keep[rng.choice(np.flatnonzero(s == "Li"))] = False
    return [x for x, k in zip(species, keep) if k], positions[keep]


def frame(lattice, species, positions, source):
    flat = " ".join(f"{x:.10f}" for x in lattice.reshape(-1))
    rows = [str(len(species)), f'Lattice="{flat}" Properties=species:S:1:pos:R:3 pbc="T T T" source={source}']
    rows += [f"{s:2s} {p[0]:16.10f} {p[1]:16.10f} {p[2]:16.10f}" for s, p in zip(species, positions)]
    return "\n".join(rows) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    structures = os.path.join(args.shared, "reference", "structures")
    gamma = read_poscar(os.path.join(structures, "gamma_Li3PO4_mp-2878.vasp"))
    beta = read_poscar(os.path.join(structures, "beta_Li3PO4_mp-13725.vasp"))
    a = 3.408
    li_bcc = (np.eye(3) * a, ["Li", "Li"], np.array([[0, 0, 0], [a / 2, a / 2, a / 2]]))

    def scaled(crystal, factor=1.016):
        lattice, species, positions = crystal
        return lattice * factor, species, positions * factor

    # (name, crystal, repetitions, count, strain, volume range, sigma range, defect)
    recipes = [
        ("gamma_1x1x1", scaled(gamma), (1, 1, 1), 170, 0.04, (0.90, 1.15), (0.01, 0.30), None),
        ("gamma_2x1x1", scaled(gamma), (2, 1, 1), 70, 0.04, (0.90, 1.15), (0.01, 0.30), None),
        ("beta_1x1x1", scaled(beta), (1, 1, 1), 90, 0.04, (0.90, 1.15), (0.01, 0.30), None),
        ("beta_1x1x2", scaled(beta), (1, 1, 2), 90, 0.04, (0.90, 1.15), (0.01, 0.30), None),
        ("beta_2x2x1", scaled(beta), (2, 2, 1), 40, 0.04, (0.90, 1.15), (0.01, 0.30), None),
        ("gamma_1x1x1_vLi", scaled(gamma), (1, 1, 1), 80, 0.03, (0.95, 1.10), (0.01, 0.25), "li"),
        ("gamma_1x1x1_vLi2O", scaled(gamma), (1, 1, 1), 60, 0.03, (0.95, 1.10), (0.01, 0.25), "li2o"),
        ("gamma_2x1x1_vLi", scaled(gamma), (2, 1, 1), 40, 0.03, (0.95, 1.10), (0.01, 0.25), "li"),
        ("gamma_2x1x1_vLi2O", scaled(gamma), (2, 1, 1), 30, 0.03, (0.95, 1.10), (0.01, 0.25), "li2o"),
        ("beta_1x1x2_vLi", scaled(beta), (1, 1, 2), 40, 0.03, (0.95, 1.10), (0.01, 0.25), "li"),
        ("beta_1x1x2_vLi2O", scaled(beta), (1, 1, 2), 30, 0.03, (0.95, 1.10), (0.01, 0.25), "li2o"),
        ("hot_gamma_1x1x1", scaled(gamma), (1, 1, 1), 60, 0.04, (0.95, 1.20), (0.30, 0.45), None),
        ("li_bcc_2x2x2", li_bcc, (2, 2, 2), 40, 0.03, (0.94, 1.08), (0.0, 0.15), None),
        ("li_bcc_3x3x3", li_bcc, (3, 3, 3), 20, 0.03, (0.94, 1.08), (0.0, 0.15), None),
    ]
    written = 0
    with open(args.output, "w") as out:
        for name, crystal, reps, count, strain, volume, sigma, defect in recipes:
            base = repeat(*crystal, reps)
            made = 0
            while made < count:
                lattice, species, positions = base
                if defect is not None:
                    species, positions = remove_li(rng, lattice, species, positions, defect == "li2o")
                new_lattice, new_positions = distort(rng, lattice, positions, strain, volume, sigma)
                if not acceptable(new_lattice, species, new_positions):
                    continue
                out.write(frame(new_lattice, species, new_positions, name))
                made += 1
            written += made
            print(f"{name}: {made} structures of {len(species)} atoms")
    print(f"{written} structures written to {args.output}")


if __name__ == "__main__":
    main()


# Close contacts: ranges (Å) of the distance an atom pair is pushed to, per element pair. The lower ends lie well
# inside the closest approach of the 6000 K melt, so that the potential learns the repulsion instead of
# extrapolating into a hole (generation-2 and -3 potentials collapsed Li–Li and O–O pairs at 4000–6000 K).
CONTACT_RANGES = {
    ("Li", "Li"): (1.2, 2.2),
    ("Li", "O"): (1.1, 1.8),
    ("Li", "P"): (1.4, 2.5),
    ("O", "O"): (1.3, 2.3),
    ("O", "P"): (1.15, 1.45),
    ("P", "P"): (1.8, 2.8),
}


def contact_structures(rng, bases, count):
    """Frames with one pair pushed together: each pair of `CONTACT_RANGES` in turn, a random base frame, a random
    pair of that kind among neighbours within 4 Å, both atoms moved symmetrically along their bond to a distance
    drawn uniformly from the range, then a 0.03 Å rattle of every atom."""
    made = []
    pairs = list(CONTACT_RANGES)
    attempts = 0
    while len(made) < count and attempts < 100 * count:
        attempts += 1
        kind = pairs[len(made) % len(pairs)]
        lattice, species, positions = bases[rng.integers(len(bases))]
        d = minimum_distances(lattice, species, positions)
        s = np.array(species)
        mask = (s[:, None] == kind[0]) & (s[None, :] == kind[1]) & (d < 4.0)
        candidates = np.argwhere(np.triu(mask | mask.T, 1))
        if len(candidates) == 0:
            continue
        i, j = candidates[rng.integers(len(candidates))]
        inverse = np.linalg.inv(lattice)
        frac = (positions[j] - positions[i]) @ inverse
        vector = (frac - np.round(frac)) @ lattice
        distance = np.linalg.norm(vector)
        target = rng.uniform(*CONTACT_RANGES[kind])
        shift = 0.5 * (distance - target) * vector / distance
        new_positions = positions.copy()
        new_positions[i] += shift
        new_positions[j] -= shift
        new_positions += rng.normal(0.0, 0.03, positions.shape)
        closest = minimum_distances(lattice, species, new_positions)
        np.fill_diagonal(closest, np.inf)
        others = closest.copy()
        others[i, j] = others[j, i] = np.inf
        if others.min() < 1.0:
            continue
        made.append((lattice, species, new_positions, f"contact_{kind[0]}-{kind[1]}"))
    return made

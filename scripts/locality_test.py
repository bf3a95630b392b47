#!/usr/bin/env python3
"""Locality test of a potential: how much an atom's energy and force change when only atoms far from it move.

    locality_test.py generate STRUCTURE.extxyz OUT.extxyz [--centres 6] [--radii 5 6 7 8 9] [--samples 4]
                     [--sigma 0.2 | --far-from OTHER.extxyz [--gap 1.2]] [--seed 1]
    locality_test.py analyse LABELLED.extxyz
    locality_test.py analyse FRAMES.extxyz --potential POT.toml --mdrun PATH

generate: picks --centres atoms of STRUCTURE (the last frame of an extended XYZ file), cycling through its
elements, and writes the structure itself (`radius=base`), then for each centre i, radius R and sample s a copy in
which every atom farther than R from i (minimum image) is displaced by a Gaussian of width --sigma Å per component
(`centre=i radius=R sample=s` in the comment line). Every radius must stay below half the cell's smallest width.
With --far-from, the far field is replaced instead of displaced: sample s keeps the atoms within R of i and takes
every atom farther than R from i out of the s-th last frame of OTHER (same cell, e.g. a later frame of the same
liquid), except those closer than --gap Å to a kept atom; the centre is then atom `index=` of the frame.

analyse: for each radius, the RMS change of the centre's atomic energy ε_i (meV) and of its force components
(meV/Å) against the base structure, over centres and samples. It reads per-atom `energies` and `forces` columns,
as `chgnet_label.py --site-energies` writes them (CHGNet's site energies), or evaluates every frame with
`mdrun eval POT.toml` (the network's atomic energies NN_e(G_i) + ε_e). The energy of a Behler–Parrinello atom
depends only on atoms within its cutoff, so a network with R_c = 7 Å gives exactly 0 at R ≥ 7 Å; its force, a sum
over the atoms within R_c, depends on atoms up to 2 R_c away. What a reference changes beyond R_c is what no
model of that cutoff can learn (Bartók, Payne, Kondor & Csányi, PRL 104, 136403 (2010), and the locality tests
of the GAP papers). Uses only the Python standard library.
"""
import argparse
import math
import random
from collections import defaultdict

from extxyz_blocks import blocks, comment_items, evaluated, property_columns, structure


def read_last_frame(path):
    """(lattice, species, positions) of the last frame of `path`."""
    frame = None
    for block in blocks(path):
        frame = block
    if frame is None:
        raise SystemExit(f"{path}: no frame")
    return structure(frame)


def inverse(m):
    a, b, c = m
    det = (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) + a[2] * (b[0] * c[1] - b[1] * c[0]))
    cof = [[b[1] * c[2] - b[2] * c[1], -(a[1] * c[2] - a[2] * c[1]), a[1] * b[2] - a[2] * b[1]],
           [-(b[0] * c[2] - b[2] * c[0]), a[0] * c[2] - a[2] * c[0], -(a[0] * b[2] - a[2] * b[0])],
           [b[0] * c[1] - b[1] * c[0], -(a[0] * c[1] - a[1] * c[0]), a[0] * b[1] - a[1] * b[0]]]
    return [[cof[i][j] / det for j in range(3)] for i in range(3)]


def smallest_width(lattice):
    """Smallest distance between opposite faces of the cell (rows of `lattice` are the cell vectors)."""
    a, b, c = lattice
    cross = lambda u, v: [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]
    norm = lambda u: math.sqrt(sum(x * x for x in u))
    volume = abs(sum(x * y for x, y in zip(a, cross(b, c))))
    return min(volume / norm(cross(b, c)), volume / norm(cross(c, a)), volume / norm(cross(a, b)))


def minimum_image_distance(lattice, inv, r1, r2):
    d = [r2[k] - r1[k] for k in range(3)]
    # fractional = d · inv (rows of lattice are cell vectors: r = f · lattice)
    f = [sum(d[j] * inv[j][k] for j in range(3)) for k in range(3)]
    f = [x - round(x) for x in f]
    c = [sum(f[j] * lattice[j][k] for j in range(3)) for k in range(3)]
    return math.sqrt(sum(x * x for x in c))


def format_frame(lattice, species, positions, keys):
    flat = " ".join(f"{x:.10f}" for row in lattice for x in row)
    out = [str(len(species)), f'Lattice="{flat}" Properties=species:S:1:pos:R:3 pbc="T T T" {keys}']
    out += [f"{s:2s} {p[0]:16.10f} {p[1]:16.10f} {p[2]:16.10f}" for s, p in zip(species, positions)]
    return "\n".join(out) + "\n"


def generate(args):
    lattice, species, positions = read_last_frame(args.structure)
    half = smallest_width(lattice) / 2
    if max(args.radii) >= half:
        raise SystemExit(f"--radii: {max(args.radii)} Å is not below half the cell's smallest width ({half:.2f} Å)")
    inv = inverse(lattice)
    rng = random.Random(args.seed)
    elements = sorted(set(species))
    by_element = {e: [i for i, s in enumerate(species) if s == e] for e in elements}
    centres = [rng.choice(by_element[elements[k % len(elements)]]) for k in range(args.centres)]
    others = [structure(block)[1:] for block in blocks(args.far_from)][-args.samples:] if args.far_from else []
    with open(args.output, "w") as out:
        out.write(format_frame(lattice, species, positions, "radius=base"))
        for i in centres:
            distance = [minimum_image_distance(lattice, inv, positions[i], r) for r in positions]
            for radius in args.radii:
                for sample in range(args.samples):
                    keys = f"centre={i} radius={radius:g} sample={sample}"
                    if not args.far_from:
                        moved = [[x + rng.gauss(0.0, args.sigma) for x in r] if d > radius else list(r)
                                 for r, d in zip(positions, distance)]
                        out.write(format_frame(lattice, species, moved, keys))
                        continue
                    kept = [n for n in range(len(species)) if distance[n] <= radius]
                    other_species, other_positions = others[sample]
                    far = [n for n, r in enumerate(other_positions)
                           if minimum_image_distance(lattice, inv, positions[i], r) > radius
                           and all(minimum_image_distance(lattice, inv, positions[k], r) >= args.gap for k in kept)]
                    new_species = [species[n] for n in kept] + [other_species[n] for n in far]
                    new_positions = [positions[n] for n in kept] + [other_positions[n] for n in far]
                    keys += f" index={kept.index(i)}"
                    out.write(format_frame(lattice, new_species, new_positions, keys))
    print(f"{args.output}: 1 + {len(centres) * len(args.radii) * args.samples} frames, centres {centres}")


def labelled_frames(args):
    """(comment items, atomic energies, forces) per frame, from columns or from `mdrun eval`."""
    frames = blocks(args.labelled)
    pairs = evaluated(frames, args.potential, args.mdrun) if args.potential else ((block, block) for block in frames)
    for block, source in pairs:
        items = comment_items(block[1])
        columns = property_columns(comment_items(source[1])["Properties"])
        if "energies" not in columns or "forces" not in columns:
            raise SystemExit(f"{args.labelled}: no energies/forces columns (use --site-energies or --potential)")
        rows = source[2:]
        energies = [float(row.split()[columns["energies"]]) for row in rows]
        forces = [[float(x) for x in row.split()[columns["forces"]:columns["forces"] + 3]] for row in rows]
        yield items, energies, forces


def analyse(args):
    base = None
    sums = defaultdict(lambda: [0.0, 0.0, 0])
    for items, energies, forces in labelled_frames(args):
        if items.get("radius") == "base":
            base = (energies, forces)
            continue
        if base is None:
            raise SystemExit(f"{args.labelled}: the first frame must be the base structure (radius=base)")
        i = int(items["centre"])
        here = int(items.get("index", i))
        s = sums[float(items["radius"])]
        s[0] += ((energies[here] - base[0][i]) * 1000.0) ** 2
        s[1] += sum(((forces[here][k] - base[1][i][k]) * 1000.0) ** 2 for k in range(3)) / 3
        s[2] += 1
    print(f"{'radius (Å)':>10s} {'frames':>7s} {'RMS Δε_i (meV)':>15s} {'RMS ΔF_i (meV/Å)':>17s}")
    for radius in sorted(sums):
        e2, f2, n = sums[radius]
        print(f"{radius:10g} {n:7d} {math.sqrt(e2 / n):15.3f} {math.sqrt(f2 / n):17.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("structure")
    g.add_argument("output")
    g.add_argument("--centres", type=int, default=6)
    g.add_argument("--radii", type=float, nargs="+", default=[5, 6, 7, 8, 9])
    g.add_argument("--samples", type=int, default=4)
    g.add_argument("--sigma", type=float, default=0.2, help="Å, per component")
    g.add_argument("--far-from", help="frames whose atoms replace the far field (instead of --sigma)")
    g.add_argument("--gap", type=float, default=1.2, help="Å: far atoms closer than this to a kept atom are left out")
    g.add_argument("--seed", type=int, default=1)
    a = sub.add_parser("analyse")
    a.add_argument("labelled")
    a.add_argument("--potential", help="TOML with [potential]: evaluate with mdrun eval instead of reading columns")
    a.add_argument("--mdrun", default="mdrun")
    args = parser.parse_args()
    generate(args) if args.command == "generate" else analyse(args)


if __name__ == "__main__":
    main()

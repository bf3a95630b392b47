#!/usr/bin/env python3
"""Pick the first structures to label with CP2K (issue 19) from the CHGNet training set.

    select_first_batch.py TRAINING.extxyz[.xz] OUT_DIR [--seed 19] [--no-supercells]

Writes OUT_DIR/first-batch.extxyz (60 frames) and OUT_DIR/convergence.extxyz (3 of them, for the cutoff and k-point
checks) as plain structures: Lattice, Properties=species:S:1:pos:R:3, pbc, the frame's comment-line keys
(`source=`, `generation=`, `frame=`, `image=`), its CHGNet label as `chgnet_energy=` (eV; `energy=` is left out so
that nobody mistakes a structure for a DFT label) and `label_id=fb-NN` (its place in the batch).

Rules (deterministic: the same training set and seed give the same files byte for byte):
- Every frame has 60–130 atoms and a narrowest cell width V / |a_j × a_k| ≥ 8 Å (Γ-point sampling).
- In the shipped set only the 128-atom glass runs (`g128_mq`, `study8a_00-md`) and the NEB images of the 127-atom
  glass (`study8a_03-migration/…`) pass both rules as they are. The crystal MD, the vacancy cells with an even electron
  count and the Li2O-deficient glass exist only as 61–64-atom cells 6.1–6.2 Å wide; those are doubled along their
  narrowest lattice vector (122–128 atoms, ≥ 9.8 Å; key `supercell=2x1x1`, `1x2x1` or `1x1x2`; the CHGNet energy doubled,
  which for a periodic copy is exact). --no-supercells leaves them out.
- Quotas per category (CATEGORIES below); within a category the frames are drawn at random (seeded), the NEB part
  takes the highest-CHGNet-energy image of every band first (the saddle estimate; `neb_highest=T`,
  `chgnet_barrier=` highest minus lowest image of the band, eV), bands of the largest barrier first, then random
  images.
- Order of the file (the order of labelling with one shard): a first tier of 20 frames holding every category, then
  the rest; inside a tier frames of one trajectory are consecutive, so cp2k_label.py can start each from the previous
  frame's wavefunction.
"""
import argparse
import lzma
import os
import random
import shlex
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from extxyz_blocks import blocks, comment_items, structure  # noqa: E402

MIN_ATOMS, MAX_ATOMS, MIN_WIDTH = 60, 130, 8.0

# (category, rule, count, of them in the first tier). A rule takes (source, generation, frame, atoms) and says whether
# the frame belongs; frame numbers are of 10 fs steps of the melt–quench recipe (2 ps at 6000 K: frames < 200;
# quench at 1 K/fs to 300 K: 200–779; NVT of the glass: ≥ 780).
CATEGORIES = [
    ("glass-md", lambda s, g, f, n: s == "g128_mq" and f >= 780, 12, 4),
    ("quench", lambda s, g, f, n: (s == "g128_mq" and 200 <= f < 780) or (s == "study8a_00-md" and f >= 38), 10, 3),
    ("melt-6000K", lambda s, g, f, n: (s == "g128_mq" and 1 < f < 200) or (s == "study8a_00-md" and 1 < f < 38), 4, 1),
    ("crystal-md", lambda s, g, f, n: s in ("g64_1000", "b64_1200", "b64_700"), 10, 3),
    ("vacancy-crystal-md", lambda s, g, f, n: s == "g63v_800", 3, 1),
    ("li2o-deficient-glass", lambda s, g, f, n: s == "g61v_mq" and g in ("7", "8") and f >= 780, 6, 2),
    ("vacancy-glass-md", lambda s, g, f, n: s == "g63v_mq" and g in ("7", "8") and f >= 780, 3, 1),
    ("neb-glass-vLi", lambda s, g, f, n: s.startswith("study8a_03-migration/"), 12, 5),
]
# Which categories need doubling (their cells are 61–64 atoms, 6.1–6.2 Å wide).
DOUBLED = {"crystal-md", "vacancy-crystal-md", "li2o-deficient-glass", "vacancy-glass-md"}
VALENCE = {"Li": 3, "P": 5, "O": 6}


def cross(a, b):
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def widths(lattice):
    """Distance between opposite faces of the cell, for each lattice vector i: V / |a_j × a_k|."""
    volume = abs(sum(x * y for x, y in zip(lattice[0], cross(lattice[1], lattice[2]))))
    out = []
    for i, (j, k) in enumerate(((1, 2), (2, 0), (0, 1))):
        c = cross(lattice[j], lattice[k])
        out.append(volume / sum(x * x for x in c) ** 0.5)
    return out


def read(path):
    """All frames as dicts (block index, items, lattice, species, positions)."""
    if path.endswith(".xz"):
        with tempfile.TemporaryDirectory() as scratch, lzma.open(path, "rt") as compressed:
            plain = os.path.join(scratch, "frames.extxyz")
            with open(plain, "w") as out:
                out.write(compressed.read())
            return read(plain)
    frames = []
    for number, block in enumerate(blocks(path)):
        lattice, species, positions = structure(block)
        frames.append({"number": number, "items": comment_items(block[1]), "lattice": lattice,
                       "species": species, "positions": positions})
    return frames


def doubled(frame):
    """The frame repeated twice along its narrowest lattice vector (atoms: the original ones, then their copies)."""
    axis = min(range(3), key=lambda i: widths(frame["lattice"])[i])
    a = frame["lattice"][axis]
    lattice = [[2 * x for x in row] if i == axis else list(row) for i, row in enumerate(frame["lattice"])]
    positions = frame["positions"] + [[p[0] + a[0], p[1] + a[1], p[2] + a[2]] for p in frame["positions"]]
    items = dict(frame["items"])
    items["energy"] = repr(2 * float(items["energy"]))
    items["supercell"] = "x".join("2" if i == axis else "1" for i in range(3))
    return dict(frame, lattice=lattice, species=frame["species"] * 2, positions=positions, items=items)


def trajectory_key(frame):
    items = frame["items"]
    return (items["source"], items.get("generation", ""), int(items.get("frame", items.get("image", "0"))))


def pick(frames, seed, supercells):
    rng = random.Random(seed)
    picked = []  # (tier, category index, frame)
    for index, (name, rule, count, first) in enumerate(CATEGORIES):
        if name in DOUBLED and not supercells:
            continue
        pool = []
        for frame in frames:
            items = frame["items"]
            if not rule(items["source"], items.get("generation"), int(items.get("frame", "-1")), len(frame["species"])):
                continue
            if name in DOUBLED:
                frame = doubled(frame)
            if MIN_ATOMS <= len(frame["species"]) <= MAX_ATOMS and min(widths(frame["lattice"])) >= MIN_WIDTH:
                pool.append(frame)
        if name.startswith("neb"):
            bands = {}
            for frame in pool:
                bands.setdefault(frame["items"]["source"], []).append(frame)
            # The highest image of every band, bands of the largest CHGNet barrier (highest minus lowest image) first;
            # bands whose barrier exceeds 3 eV (an implausible hop) go after the flat ones.
            ranked = []
            for _, band in sorted(bands.items()):
                energies = [float(f["items"]["energy"]) for f in band]
                span = max(energies) - min(energies)
                ranked.append((span > 3.0, -span, max(band, key=lambda f: float(f["items"]["energy"]))))
            ranked.sort(key=lambda t: t[:2])
            saddles = [frame for _, _, frame in ranked]
            rest = [f for f in pool if all(f is not s for s in saddles)]
            rng.shuffle(rest)
            chosen = (saddles + rest)[:count]
            for _, minus_span, frame in ranked:
                frame["items"]["neb_highest"] = "T"
                frame["items"]["chgnet_barrier"] = f"{-minus_span:.3f}"
        else:
            chosen = rng.sample(pool, min(count, len(pool)))
        if len(chosen) < count:
            print(f"warning: {name}: only {len(chosen)} of {count} frames pass the rules", file=sys.stderr)
        picked += [(0 if n < first else 1, index, frame) for n, frame in enumerate(chosen)]
    picked.sort(key=lambda t: (t[0], t[1], trajectory_key(t[2])))
    return [(CATEGORIES[index][0], frame) for _, index, frame in picked]


def format_frame(frame, category, label_id):
    items = {k: v for k, v in frame["items"].items() if k not in ("Lattice", "Properties", "pbc", "energy")}
    items = dict(items, chgnet_energy=f"{float(frame['items']['energy']):.10f}", category=category, label_id=label_id)
    flat = " ".join(f"{x:.10f}" for row in frame["lattice"] for x in row)
    keys = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in items.items())
    out = [str(len(frame["species"])), f'Lattice="{flat}" Properties=species:S:1:pos:R:3 pbc="T T T" {keys}']
    for s, p in zip(frame["species"], frame["positions"]):
        out.append(f"{s:2s} {p[0]:16.10f} {p[1]:16.10f} {p[2]:16.10f}")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("training")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--no-supercells", action="store_true", help="leave out the doubled 61–64-atom cells")
    args = parser.parse_args()

    chosen = pick(read(args.training), args.seed, not args.no_supercells)
    texts, table = [], {}
    for n, (category, frame) in enumerate(chosen):
        texts.append(format_frame(frame, category, f"fb-{n:02d}"))
        electrons = sum(VALENCE[s] for s in frame["species"])
        row = table.setdefault((category, frame["items"]["source"].split("/")[0]), [0, 0, set()])
        row[0] += 1
        row[1] += electrons % 2
        row[2].add(len(frame["species"]))
    # Convergence frames: the first crystal, the first glass-md frame and the NEB image of the largest barrier, all in
    # the first tier (so their 400 Ry Γ labels are the first-batch ones).
    tier = sum(c[3] for c in CATEGORIES if c[0] not in DOUBLED or not args.no_supercells)
    first = list(enumerate(chosen[:tier]))
    crystal = next((n for n, (c, f) in first if c == "crystal-md"), None)  # None with --no-supercells
    glass = next(n for n, (c, f) in first if c == "glass-md")
    saddle = max((n for n, (c, f) in first if f["items"].get("neb_highest") == "T"),
                 key=lambda n: float(chosen[n][1]["items"]["chgnet_barrier"]))
    convergence = [texts[n] for n in (crystal, glass, saddle) if n is not None]
    os.makedirs(args.out_dir, exist_ok=True)
    for name, content in (("first-batch.extxyz", texts), ("convergence.extxyz", convergence)):
        with open(os.path.join(args.out_dir, name), "w") as out:
            out.writelines(content)
    print(f"{len(texts)} frames ({sum(r[1] for r in table.values())} with an odd electron count)")
    print("| category | source | frames | odd electron count | atoms |")
    print("|---|---|---|---|---|")
    order = [c[0] for c in CATEGORIES]
    for (category, source), (count, odd, atoms) in sorted(table.items(), key=lambda t: (order.index(t[0][0]), t[0][1])):
        print(f"| {category} | {source} | {count} | {odd} | {', '.join(map(str, sorted(atoms)))} |")


if __name__ == "__main__":
    main()

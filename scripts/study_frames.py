#!/usr/bin/env python3
"""Frames of a finished study run, as unlabelled extended XYZ: the validation set of structures the potential
was not trained on (inputs/li3po4-nnp/README.md, "Errors on structures it was not trained on").

    study_frames.py RUN_DIR OUT.extxyz [--per-trajectory 12] [--per-band 2]

Takes `--per-trajectory` evenly spaced frames (the first excluded) of every `*/trajectory.h5` of RUN_DIR (H5MD as
mdrun writes it: /particles/all/position/value, box/edges/value, species) and of every `*/trajectory.xyz`, and the
`--per-band` highest-energy interior images of every `*/paths/*neb_images.extxyz` of a migration stage. Each frame's
comment line says where it came from (`source=<stage folder>` and `frame=`/`image=`). Needs h5py for H5MD files.
Label the result with chgnet_label.py, then compare with nnp_errors.py.
"""
import argparse
import glob
import os

import numpy as np
from extxyz_blocks import blocks, comment_items, property_columns

SYMBOLS = {3: "Li", 8: "O", 15: "P"}


def frame(lattice, species, positions, items):
    flat = " ".join(f"{x:.10f}" for x in np.asarray(lattice).reshape(-1))
    keys = " ".join(f"{k}={v}" for k, v in items.items())
    rows = [str(len(species)), f'Lattice="{flat}" Properties=species:S:1:pos:R:3 pbc="T T T" {keys}']
    rows += [f"{s:2s} {p[0]:16.10f} {p[1]:16.10f} {p[2]:16.10f}" for s, p in zip(species, positions)]
    return "\n".join(rows) + "\n"


def evenly(count, wanted):
    return sorted(set(np.linspace(1, count - 1, min(wanted, count - 1)).round().astype(int))) if count > 1 else []


def plain(block, items):
    """An extended XYZ block reduced to species and positions (whatever its Properties order)."""
    header = block[1]
    lattice = [float(x) for x in header.split('Lattice="')[1].split('"')[0].split()]
    column = property_columns(comment_items(header)["Properties"])
    species = [row.split()[column["species"]] for row in block[2:]]
    positions = [[float(x) for x in row.split()[column["pos"]:column["pos"] + 3]] for row in block[2:]]
    return frame(lattice, species, positions, items)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("output")
    parser.add_argument("--per-trajectory", type=int, default=12)
    parser.add_argument("--per-band", type=int, default=2)
    args = parser.parse_args()
    written = 0
    with open(args.output, "w") as out:
        for path in sorted(glob.glob(os.path.join(args.run, "*", "trajectory.h5"))):
            import h5py
            stage = os.path.basename(os.path.dirname(path))
            with h5py.File(path, "r") as h5:
                particles = h5["particles/all"]
                species = [SYMBOLS[int(z)] for z in particles["species"][()]]
                positions, edges = particles["position/value"], particles["box/edges/value"]
                for k in evenly(positions.shape[0], args.per_trajectory):
                    out.write(frame(edges[k], species, positions[k], {"source": stage, "frame": k}))
                    written += 1
        for path in sorted(glob.glob(os.path.join(args.run, "*", "trajectory.xyz"))):
            stage = os.path.basename(os.path.dirname(path))
            frames = list(blocks(path))
            for k in evenly(len(frames), args.per_trajectory):
                out.write(plain(frames[k], {"source": stage, "frame": k}))
                written += 1
        for path in sorted(glob.glob(os.path.join(args.run, "*", "paths", "*neb_images.extxyz"))):
            stage = os.path.basename(os.path.dirname(os.path.dirname(path)))
            frames = list(blocks(path))[1:-1]
            energies = [float(b[1].split("energy=")[1].split()[0]) for b in frames]
            for k in sorted(np.argsort(energies)[::-1][:args.per_band]):
                name = os.path.basename(path).replace("_neb_images.extxyz", "")
                out.write(plain(frames[k], {"source": f"{stage}/{name}", "image": k + 1}))
                written += 1
    print(f"{written} frames written to {args.output}")


if __name__ == "__main__":
    main()

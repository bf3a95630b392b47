#!/usr/bin/env python3
"""The NEB bands of a study run against a reference labeller (docs/a-li3po4.md, "What the numbers say").

    neb_bands.py extract RUN_DIR IMAGES.extxyz     every image of every band of RUN_DIR's migration stage(s)
    neb_bands.py compare IMAGES.extxyz LABELLED.extxyz

`extract` writes every image (end points included) of every `*/paths/path_<id>_neb_images.extxyz` of RUN_DIR,
tagged `band=<stage folder>/<id>` and `image=<k>`, with the potential's `energy=` as the run wrote it. Label the
file with chgnet_label.py (keeps the tags and replaces `energy=`), then `compare` prints, per band, the barrier
into the vacancy (highest image minus the first) and out of it (highest minus the last) for the potential and
for the labels, their means, and the mean energy offset (E_potential − E_label)/N over the images, in meV/atom.
The barriers are those of the images as computed, not of a band relaxed on the labeller's surface.
Uses only the Python standard library.
"""
import argparse
import glob
import os
import re
from collections import OrderedDict

from extxyz_blocks import blocks, comment_items


def extract(run, output):
    pattern = os.path.join(run, "*", "paths", "path_*_neb_images.extxyz")
    paths = sorted(glob.glob(pattern), key=lambda p: (os.path.dirname(p), int(re.findall(r"path_(\d+)_", p)[-1])))
    if not paths:
        raise SystemExit(f"no NEB images in {pattern}")
    frames = 0
    with open(output, "w") as out:
        for path in paths:
            stage = os.path.basename(os.path.dirname(os.path.dirname(path)))
            band = re.findall(r"path_(\d+)_", path)[-1]
            for image, block in enumerate(blocks(path)):
                out.write(block[0])
                out.write(block[1].rstrip("\n") + f" band={stage}/{band} image={image}\n")
                out.writelines(block[2:])
                frames += 1
    print(f"{frames} images of {len(paths)} bands written to {output}")


def band_energies(path):
    """band → list of (image, energy, atoms) in file order."""
    bands = OrderedDict()
    for block in blocks(path):
        items = comment_items(block[1])
        if "band" not in items or "energy" not in items:
            raise SystemExit(f"{path}: a frame without band= or energy= (made by `extract`?)")
        bands.setdefault(items["band"], []).append((int(items["image"]), float(items["energy"]), int(block[0])))
    return bands


def compare(images, labelled):
    ours, theirs = band_energies(images), band_energies(labelled)
    if list(ours) != list(theirs) or any(len(ours[b]) != len(theirs[b]) for b in ours):
        raise SystemExit("the two files do not hold the same bands and images")
    print(f"{'band':<24} {'into (pot)':>10} {'into (ref)':>10} {'out (pot)':>10} {'out (ref)':>10} {'offset':>8}")
    print(f"{'':<24} {'eV':>10} {'eV':>10} {'eV':>10} {'eV':>10} {'meV/at':>8}")
    sums = [0.0] * 5
    for band in ours:
        e = [energy for _, energy, _ in sorted(ours[band])]
        r = [energy for _, energy, _ in sorted(theirs[band])]
        atoms = ours[band][0][2]
        row = [
            max(e) - e[0],
            max(r) - r[0],
            max(e) - e[-1],
            max(r) - r[-1],
            1e3 * sum(a - b for a, b in zip(e, r)) / len(e) / atoms,
        ]
        sums = [s + x for s, x in zip(sums, row)]
        print(f"{band:<24} {row[0]:10.3f} {row[1]:10.3f} {row[2]:10.3f} {row[3]:10.3f} {row[4]:8.1f}")
    means = [s / len(ours) for s in sums]
    print(f"{'mean':<24} {means[0]:10.3f} {means[1]:10.3f} {means[2]:10.3f} {means[3]:10.3f} {means[4]:8.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    e = commands.add_parser("extract")
    e.add_argument("run")
    e.add_argument("output")
    c = commands.add_parser("compare")
    c.add_argument("images")
    c.add_argument("labelled")
    args = parser.parse_args()
    if args.command == "extract":
        extract(args.run, args.output)
    else:
        compare(args.images, args.labelled)


if __name__ == "__main__":
    main()

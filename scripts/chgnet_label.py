#!/usr/bin/env python3
"""Label structures with CHGNet (the stand-in for DFT of the a-Li3PO4 study, issue 8).

    chgnet_label.py INPUT.extxyz OUTPUT.extxyz [--batch 16] [--threads 2] [--shard K/N]

Reads every frame of INPUT (extended XYZ: Lattice, species, positions; any extra columns are ignored), computes
the CHGNet 0.3.0 total energy (eV) and forces (eV/Å) and appends each labelled frame to OUTPUT as extended XYZ
that `mdrun train` reads:

    Lattice="ax ay az bx by bz cx cy cz" Properties=species:S:1:pos:R:3:forces:R:3 energy=E pbc="T T T" source=...

The run can be interrupted: frames already in OUTPUT (counted by their header lines) are skipped on restart, and
every batch is flushed to disk. Comment-line keys of the input other than Lattice/Properties/pbc/energy are kept
(so `source=` and `frame=` written by `mdrun select` survive). Structures whose largest force exceeds
--max-force (default 50 eV/Å) are still written but marked `chgnet_suspicious=T`.

--site-energies adds CHGNet's atomic (site) energies as an `energies:R:1` column (eV; they sum to the energy),
the column `mdrun eval` writes for a network's atomic energies (used by locality_test.py).

--shard K/N labels only frames K, K+N, K+2N, … (0-based), so N processes of one thread each can share the
cores (faster than one process with N threads when the machine is busy); concatenate their outputs afterwards.

Needs the virtual environment of README.md (pip install torch==2.15.0 chgnet==0.4.2 ase); never run in CI.
"""
import argparse
import os
import shlex
import sys
import time

from extxyz_blocks import blocks, comment_items, structure


def read_frames(path):
    """Yields (lattice 3x3 rows, species list, positions list, extra comment-line items) per frame."""
    for number, block in enumerate(blocks(path)):
        lattice, species, positions = structure(block)
        if lattice is None:
            sys.exit(f"{path}: frame {number}: no Lattice= in the comment line")
        items = comment_items(block[1])
        extras = {k: v for k, v in items.items() if k not in ("Lattice", "Properties", "pbc", "energy")}
        yield lattice, species, positions, extras


def count_frames(path):
    if not os.path.exists(path):
        return 0
    with open(path) as handle:
        return sum(1 for line in handle if line.startswith("Lattice="))


def format_frame(lattice, species, positions, energy, forces, extras, site_energies=None):
    flat = " ".join(f"{x:.10f}" for row in lattice for x in row)
    keys = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in extras.items())
    properties = "species:S:1:pos:R:3:forces:R:3" + (":energies:R:1" if site_energies is not None else "")
    out = [str(len(species)),
           f'Lattice="{flat}" Properties={properties} energy={energy:.10f} pbc="T T T" {keys}'.rstrip()]
    for n, (s, p, f) in enumerate(zip(species, positions, forces)):
        row = f"{s:2s} {p[0]:16.10f} {p[1]:16.10f} {p[2]:16.10f} {f[0]:16.10f} {f[1]:16.10f} {f[2]:16.10f}"
        out.append(row + (f" {site_energies[n]:16.10f}" if site_energies is not None else ""))
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--batch", type=int, default=16, help="structures per CHGNet call")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--shard", default="0/1", help="K/N: label frames K, K+N, ...")
    parser.add_argument("--max-force", type=float, default=50.0, help="eV/Å above which a frame is marked")
    parser.add_argument("--site-energies", action="store_true", help="add CHGNet's atomic energies (energies column)")
    args = parser.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    from chgnet.model import CHGNet
    from pymatgen.core import Lattice, Structure

    model = CHGNet.load(model_name="0.3.0", verbose=False)
    shard, shards = (int(x) for x in args.shard.split("/"))
    frames = list(read_frames(args.input))[shard::shards]
    done = count_frames(args.output)
    print(f"{args.input}: {len(frames)} frames, {done} already labelled in {args.output}", flush=True)
    start = time.time()
    with open(args.output, "a") as out:
        for first in range(done, len(frames), args.batch):
            batch = frames[first:first + args.batch]
            structures = [Structure(Lattice(lat), sp, pos, coords_are_cartesian=True) for lat, sp, pos, _ in batch]
            predictions = model.predict_structure(structures, task="ef", batch_size=args.batch,
                                                  return_site_energies=args.site_energies)
            if isinstance(predictions, dict):
                predictions = [predictions]
            for (lat, sp, pos, extras), prediction in zip(batch, predictions):
                energy = float(prediction["e"]) * len(sp)  # CHGNet predicts eV/atom
                forces = prediction["f"].tolist()
                if max(max(abs(c) for c in f) for f in forces) > args.max_force:
                    extras = dict(extras, chgnet_suspicious="T")
                site_energies = prediction["site_energies"].tolist() if args.site_energies else None
                out.write(format_frame(lat, sp, pos, energy, forces, extras, site_energies))
            out.flush()
            labelled = first + len(batch)
            rate = (labelled - done) / (time.time() - start)
            print(f"  {labelled}/{len(frames)} labelled ({rate:.2f} structures/s)", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Energy and force errors of a potential against labelled structures (the report's "unseen structures" table).

    nnp_errors.py POTENTIAL.toml LABELLED.extxyz [--mdrun PATH] [--by source]

LABELLED holds frames with `energy=` (eV) in the comment line and a `forces:R:3` column (as chgnet_label.py writes).
Each frame goes through `mdrun eval POTENTIAL.toml frame.xyz`; printed: number of structures and atoms, energy
RMSE and MAE (meV/atom), force-component RMSE and MAE (meV/Å), the largest errors, and the same per group of the
comment-line key given by --by (default `source`). Uses only the Python standard library.
"""
import argparse
import math
from collections import defaultdict

from extxyz_blocks import blocks, comment_items, evaluated, property_columns


def force_column(items):
    columns = property_columns(items["Properties"])
    if "forces" not in columns:
        raise SystemExit("no forces column")
    return columns["forces"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("potential")
    parser.add_argument("labelled")
    parser.add_argument("--mdrun", default="mdrun")
    parser.add_argument("--by", default="source")
    args = parser.parse_args()
    groups = defaultdict(lambda: {"n": 0, "atoms": 0, "e2": 0.0, "e1": 0.0, "f2": 0.0, "f1": 0.0, "fn": 0})
    worst_energy = worst_force = 0.0
    for block, result in evaluated(blocks(args.labelled), args.potential, args.mdrun):
        items = comment_items(block[1])
        predicted = comment_items(result[1])
        n = int(block[0])
        de = (float(predicted["energy"]) - float(items["energy"])) / n * 1000.0
        column = force_column(items)
        predicted_column = force_column(predicted)
        for group in ("all", items.get(args.by, "?")):
            g = groups[group]
            g["n"] += 1
            g["atoms"] += n
            g["e2"] += de * de
            g["e1"] += abs(de)
        worst_energy = max(worst_energy, abs(de))
        for reference, mine in zip(block[2:], result[2:]):
            for k in range(3):
                df = (float(mine.split()[predicted_column + k]) - float(reference.split()[column + k])) * 1000.0
                worst_force = max(worst_force, abs(df))
                for group in ("all", items.get(args.by, "?")):
                    groups[group]["f2"] += df * df
                    groups[group]["f1"] += abs(df)
                    groups[group]["fn"] += 1
    print(f"{'group':24s} {'structures':>10s} {'atoms':>8s} {'E RMSE':>9s} {'E MAE':>9s} {'F RMSE':>9s} {'F MAE':>9s}")
    print(f"{'':24s} {'':>10s} {'':>8s} {'meV/atom':>9s} {'meV/atom':>9s} {'meV/Å':>9s} {'meV/Å':>9s}")
    for name in sorted(groups, key=lambda k: (k != "all", k)):
        g = groups[name]
        print(f"{name:24s} {g['n']:10d} {g['atoms']:8d} {math.sqrt(g['e2'] / g['n']):9.2f} {g['e1'] / g['n']:9.2f} "
              f"{math.sqrt(g['f2'] / g['fn']):9.1f} {g['f1'] / g['fn']:9.1f}")
    print(f"largest energy error {worst_energy:.2f} meV/atom, largest force-component error {worst_force:.0f} meV/Å")


if __name__ == "__main__":
    main()

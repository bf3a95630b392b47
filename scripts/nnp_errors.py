#!/usr/bin/env python3
"""Energy and force errors of a potential against labelled structures (the report's "unseen structures" table).

    nnp_errors.py POTENTIAL.toml LABELLED.extxyz [--mdrun PATH] [--by source] [--fit-offsets]

LABELLED holds frames with `energy=` (eV) in the comment line and a `forces:R:3` column (as chgnet_label.py writes).
Each frame goes through `mdrun eval POTENTIAL.toml frame.xyz`; printed: number of structures and atoms, energy
RMSE and MAE (meV/atom), force-component RMSE and MAE (meV/Å), the largest errors, and the same per group of the
comment-line key given by --by (default `source`). Uses only the Python standard library.

--fit-offsets: when the labels come from another level of theory (PBE from cp2k_label.py against a potential
trained on CHGNet), energies differ by a reference energy per element. The offsets mu_el minimising
sum_frames (E_label - E_potential - sum_el n_el mu_el)^2 are fitted by least squares and printed (eV per atom of
each element), and the energy errors are given after removing them, with the leave-one-out RMSE beside (each
frame's error with the offsets fitted to the other frames): with few frames and compositions the in-sample RMSE
flatters. Offsets are determined only along the compositions the frames span (a species whose count never
changes is confounded with the others); the errors after the fit are unaffected by that.
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
    parser.add_argument("--fit-offsets", action="store_true", help="fit per-element energy offsets first")
    args = parser.parse_args()
    if args.fit_offsets:
        return offsets_report(args)
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


def solve(matrix, vector):
    """Solves the small dense system matrix·x = vector by Gaussian elimination with partial pivoting; None when
    it is singular."""
    n = len(vector)
    a = [row[:] + [vector[i]] for i, row in enumerate(matrix)]
    for column in range(n):
        pivot = max(range(column, n), key=lambda r: abs(a[r][column]))
        if abs(a[pivot][column]) < 1e-12 * max(1.0, max(abs(x) for row in matrix for x in row)):
            return None
        a[column], a[pivot] = a[pivot], a[column]
        for r in range(n):
            if r != column:
                factor = a[r][column] / a[column][column]
                a[r] = [x - factor * y for x, y in zip(a[r], a[column])]
    return [a[i][n] / a[i][i] for i in range(n)]


def fit_offsets(rows, elements):
    """Least-squares mu (eV per atom of each element) of dE = sum n_el mu_el over `rows` (counts, dE); a species
    whose count is the same in every row is tied to the others by the smallest-norm (ridge 1e-9) solution."""
    normal = [[sum(r[0][a] * r[0][b] for r in rows) for b in elements] for a in elements]
    right = [sum(r[0][a] * r[1] for r in rows) for a in elements]
    scale = max(normal[i][i] for i in range(len(elements)))
    for i in range(len(elements)):
        normal[i][i] += 1e-9 * scale
    return solve(normal, right)


def offsets_report(args):
    frames = []
    for block, result in evaluated(blocks(args.labelled), args.potential, args.mdrun):
        items = comment_items(block[1])
        predicted = comment_items(result[1])
        counts = defaultdict(int)
        for line in block[2:]:
            counts[line.split()[0]] += 1
        frames.append((counts, float(items["energy"]) - float(predicted["energy"]), int(block[0]),
                       items.get(args.by, "?")))
    elements = sorted({e for f in frames for e in f[0]})
    rows = [(f[0], f[1]) for f in frames]
    mu = fit_offsets(rows, elements)
    if mu is None:
        raise SystemExit("the offsets cannot be fitted (singular normal equations)")
    print("offsets E_label - E_potential per atom: " + ", ".join(f"{e} {m:.6f} eV" for e, m in zip(elements, mu)))
    groups = defaultdict(lambda: {"n": 0, "e1": 0.0, "e2": 0.0, "loo2": 0.0})
    for k, (counts, de, atoms, group) in enumerate(frames):
        residual = (de - sum(counts[e] * m for e, m in zip(elements, mu))) / atoms * 1000.0
        others = fit_offsets(rows[:k] + rows[k + 1:], elements) if len(rows) > len(elements) else None
        loo = (de - sum(counts[e] * m for e, m in zip(elements, others))) / atoms * 1000.0 if others else math.nan
        for name in ("all", group):
            groups[name]["n"] += 1
            groups[name]["e1"] += residual
            groups[name]["e2"] += residual * residual
            groups[name]["loo2"] += loo * loo
    print(f"{'group':24s} {'structures':>10s} {'E RMSE':>9s} {'LOO RMSE':>9s} {'mean':>9s}   (meV/atom, after the "
          f"offsets; mean = mean of E_label - E_potential)")
    for name in sorted(groups, key=lambda key: (key != "all", key)):
        g = groups[name]
        print(f"{name:24s} {g['n']:10d} {math.sqrt(g['e2'] / g['n']):9.2f} {math.sqrt(g['loo2'] / g['n']):9.2f} "
              f"{g['e1'] / g['n']:9.2f}")


if __name__ == "__main__":
    main()

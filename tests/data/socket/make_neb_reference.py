#!/usr/bin/env python3
"""Reference for tests/socket.rs: ASE's own NEB of a vacancy hop in EMT copper.

Run with ASE 3.26.0 (the version .ci/run installs):  .venv/bin/python tests/data/socket/make_neb_reference.py
Writes, beside this script:
  cu-vacancy-initial.xyz, cu-vacancy-final.xyz   the hop's endpoints, relaxed with ASE's BFGS to fmax 1e-4 eV/Å
                                                   (fcc Cu, a = 3.59 Å, 3x3x3 conventional cells less one atom:
                                                   107 atoms; the atom at (a/2, a/2, 0) moves into the vacancy)
  neb-reference.json                             ASE's climbing-image NEB on those endpoints as written (read back
                                                   from the files): 5 intermediate images, linear interpolation,
                                                   k = 0.1 eV/Å², FIRE to fmax 1e-3 eV/Å; every image's energy
                                                   and the barrier max(E) - E(initial)
"""

import json
from pathlib import Path

import ase
import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read, write
from ase.mep import NEB
from ase.optimize import BFGS, FIRE

HERE = Path(__file__).resolve().parent
A = 3.59


def endpoints():
    perfect = bulk("Cu", "fcc", a=A, cubic=True).repeat((3, 3, 3))
    hopping = int(np.argmin(np.linalg.norm(perfect.positions - [A / 2, A / 2, 0.0], axis=1)))
    initial = perfect.copy()
    del initial[0]
    hopping -= 1
    final = initial.copy()
    final.positions[hopping] = perfect.positions[0]
    for atoms in (initial, final):
        atoms.calc = EMT()
        BFGS(atoms, logfile=None).run(fmax=1e-4)
    return initial, final


def main():
    initial, final = endpoints()
    write(HERE / "cu-vacancy-initial.xyz", initial, format="extxyz")
    write(HERE / "cu-vacancy-final.xyz", final, format="extxyz")
    initial = read(HERE / "cu-vacancy-initial.xyz")
    final = read(HERE / "cu-vacancy-final.xyz")
    images = [initial] + [initial.copy() for _ in range(5)] + [final]
    for image in images:
        image.calc = EMT()
    band = NEB(images, k=0.1, climb=True)
    band.interpolate()
    FIRE(band, logfile=None).run(fmax=1e-3, steps=5000)
    energies = [image.get_potential_energy() for image in images]
    reference = {
        "ase_version": ase.__version__,
        "image_energies_ev": energies,
        "barrier_ev": max(energies) - energies[0],
        "fmax_ev_per_a": float(np.sqrt((band.get_forces() ** 2).sum(axis=1).max())),
    }
    (HERE / "neb-reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    print(json.dumps(reference, indent=2))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""`mdrun eval` through CP2K as an i-PI client, against CP2K's own answer on the reference frame (issue 20).

    python3 scripts/dft/ipi_cp2k_check.py WORKDIR [--reference ../shared/reference/dft] [--mdrun target/release/mdrun]

In WORKDIR it writes the reference frame as extended XYZ (frame.xyz, from gamma_2x1x1_rattled.inc), the CP2K
client input (client.inp: the reference cp2k_pbe.inp with RUN_TYPE DRIVER, &MOTION &DRIVER on 127.0.0.1:31415 and
STRESS_TENSOR ANALYTICAL), and potential.toml (kind = "socket", tcp_port = 31415, command = cp2k.psmp -i client.inp);
runs `mdrun eval potential.toml frame.xyz` from WORKDIR, then compares mdrun's energy and forces (converted back to
hartree and hartree/bohr with mdrun's wire units, ASE's bohr and hartree) with gamma_2x1x1_rattled.energy and .forces.
Writes check.json and prints it. Costs one 64-atom PBE single point (~20-30 min on one thread here).
"""

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

BOHR_IN_A = 0.5291772105638411
HARTREE_IN_EV = 27.211386024367243
PORT = 31415


def reference_frame(reference):
    text = (reference / "gamma_2x1x1_rattled.inc").read_text()
    cell = [[float(x) for x in line.split()[1:4]] for line in text.splitlines() if re.match(r"\s*[ABC]\s", line)]
    coord = text.split("&COORD")[1].split("&END COORD")[0]
    atoms = [(line.split()[0], [float(x) for x in line.split()[1:4]]) for line in coord.strip().splitlines()]
    return cell, atoms


def write_frame(path, cell, atoms):
    lattice = " ".join(f"{x:.10f}" for row in cell for x in row)
    lines = [str(len(atoms)), f'Lattice="{lattice}" Properties=species:S:1:pos:R:3 pbc="T T T"']
    lines += [f"{symbol} {x:.10f} {y:.10f} {z:.10f}" for symbol, (x, y, z) in atoms]
    path.write_text("\n".join(lines) + "\n")


def write_client_input(path, reference, cell, atoms):
    text = (reference / "cp2k_pbe.inp").read_text()
    text = text.replace("RUN_TYPE ENERGY_FORCE", "RUN_TYPE DRIVER")
    text = text.replace("&FORCE_EVAL\n  METHOD Quickstep", "&FORCE_EVAL\n  METHOD Quickstep\n  STRESS_TENSOR ANALYTICAL")
    include = (reference / "gamma_2x1x1_rattled.inc").read_text()
    text = text.replace("    @INCLUDE gamma_2x1x1_rattled.inc", "\n".join("    " + l for l in include.splitlines()))
    text += f"&MOTION\n  &DRIVER\n    HOST 127.0.0.1\n    PORT {PORT}\n  &END DRIVER\n&END MOTION\n"
    path.write_text(text)


def reference_answer(reference):
    energy = float((reference / "gamma_2x1x1_rattled.energy").read_text().split()[-1])
    forces = []
    for line in (reference / "gamma_2x1x1_rattled.forces").read_text().splitlines():
        parts = line.split()
        if len(parts) == 6 and parts[0].isdigit():
            forces.append([float(x) for x in parts[3:6]])
    return energy, forces


def mdrun_answer(text):
    lines = text.splitlines()
    energy_ev = float(re.search(r"energy=(\S+)", lines[1]).group(1))
    forces_ev = [[float(x) for x in line.split()[4:7]] for line in lines[2:2 + int(lines[0])]]
    force_unit = HARTREE_IN_EV / BOHR_IN_A
    return energy_ev / HARTREE_IN_EV, [[f / force_unit for f in row] for row in forces_ev], lines[1]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--reference", type=Path, default=Path("../shared/reference/dft"))
    parser.add_argument("--mdrun", type=Path, default=Path("target/release/mdrun"))
    args = parser.parse_args(argv)
    reference = args.reference.resolve()
    mdrun = args.mdrun.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    cell, atoms = reference_frame(reference)
    write_frame(args.workdir / "frame.xyz", cell, atoms)
    write_client_input(args.workdir / "client.inp", reference, cell, atoms)
    (args.workdir / "potential.toml").write_text(
        f'[potential]\nkind = "socket"\ntcp_port = {PORT}\ncommand = ["cp2k.psmp", "-i", "client.inp"]\n'
        "connect_timeout_s = 120\nresponse_timeout_s = 14400\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    run = subprocess.run([str(mdrun), "eval", "potential.toml", "frame.xyz"], cwd=args.workdir, env=env,
                         capture_output=True, text=True)
    (args.workdir / "mdrun-eval.xyz").write_text(run.stdout)
    (args.workdir / "mdrun-eval.stderr").write_text(run.stderr)
    if run.returncode != 0:
        sys.exit(f"mdrun eval failed:\n{run.stderr[-3000:]}")
    energy, forces, header = mdrun_answer(run.stdout)
    energy_ref, forces_ref = reference_answer(reference)
    largest = max(abs(a - b) for row, ref in zip(forces, forces_ref) for a, b in zip(row, ref))
    check = {
        "energy_ha": energy,
        "reference_energy_ha": energy_ref,
        "energy_difference_ha": energy - energy_ref,
        "largest_force_difference_ha_per_bohr": largest,
        "atoms": len(forces),
        "mdrun_header": header,
    }
    (args.workdir / "check.json").write_text(json.dumps(check, indent=2) + "\n")
    print(json.dumps(check, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])

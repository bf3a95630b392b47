#!/bin/sh
# Copies what a labelling WORKDIR (scripts/cp2k_label.py) has finished into the repository, so that labels outlive
# the machine they were computed on:
#   DEST/settings.json, DEST/frames.json      the WORKDIR's pinned settings and frame list
#   DEST/frames/NNNNN/{cp2k.inp,result.json,cp2k.out.xz}   every finished frame (ok or failed), CP2K's output xz-compressed
#   DEST/frames/NNNNN/{frame-RESTART.wfn.xz,cp2k.out.xz}   a frame still running (Γ only): its newest wavefunction
#                                              (frame-RESTART.wfn, else frame-GUESS.wfn) and partial output, so that
#                                              `cp2k_label.py restore` resumes it from there
#   DEST/labels.extxyz                         the ok frames, as `cp2k_label.py collect` writes them for mdrun train
# Run it again at any time: frames are added, nothing finished is removed; the wavefunction of a frame that has
# finished since is dropped. Usage:
#   scripts/dft/archive_labels.sh /work/dft/first-batch data/dft/first-batch
set -eu
WORK=$1
DEST=$2
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DEST/frames"
for frame in "$WORK"/frames/*/; do
    number=$(basename "$frame")
    if [ -f "$frame/result.json" ]; then
        mkdir -p "$DEST/frames/$number"
        cp "$frame/cp2k.inp" "$frame/result.json" "$DEST/frames/$number/"
        xz -9 -c "$frame/cp2k.out" > "$DEST/frames/$number/cp2k.out.xz"
        rm -f "$DEST/frames/$number/frame-RESTART.wfn.xz"
    elif [ -f "$frame/frame-RESTART.wfn" ] || [ -f "$frame/frame-GUESS.wfn" ]; then
        # the newest wavefunction: CP2K's restart file once the running attempt has finished an outer SCF loop,
        # else the one that attempt started from; copied first, because CP2K rewrites it after each loop
        wfn="$frame/frame-RESTART.wfn"
        [ -f "$wfn" ] || wfn="$frame/frame-GUESS.wfn"
        mkdir -p "$DEST/frames/$number"
        cp "$wfn" "$DEST/frames/$number/frame-RESTART.wfn.partial"
        xz -6 -c "$DEST/frames/$number/frame-RESTART.wfn.partial" > "$DEST/frames/$number/frame-RESTART.wfn.xz"
        rm "$DEST/frames/$number/frame-RESTART.wfn.partial"
        [ -f "$frame/cp2k.out" ] && xz -9 -c "$frame/cp2k.out" > "$DEST/frames/$number/cp2k.out.xz"
    fi
done
cp "$WORK/settings.json" "$WORK/frames.json" "$DEST/"
python3 "$HERE/../cp2k_label.py" collect "$WORK" "$DEST/labels.extxyz"

#!/usr/bin/env python3
"""Label structures with DFT: CP2K single points at the project's PBE level (issue 19; docs/dft.md).

    cp2k_label.py INPUT.extxyz WORKDIR [--shard K/N] [--threads T] [--cutoff-ry 400] [--kpoints 1 1 1] [--limit N]
    cp2k_label.py collect WORKDIR OUTPUT.extxyz
    cp2k_label.py restore ARCHIVE WORKDIR

Labelling: every frame of INPUT (extended XYZ with Lattice, species, positions in Å; other columns are ignored) gets a
folder WORKDIR/frames/NNNNN/ (NNNNN = the frame's 0-based place in INPUT) holding

    cp2k.inp       the input: scripts/dft/cp2k_pbe.template (the level of theory of /work/shared/reference/dft:
                   Quickstep GPW, PBE, GTH-PBE q3/q5/q6, DZVP-MOLOPT-SR-GTH, CUTOFF 400 Ry, REL_CUTOFF 50, Γ, EPS_SCF
                   1e-6, OT DIIS) with CELL from Lattice and COORD from the positions; UKS MULTIPLICITY 2 when the
                   valence electron count (Li 3, P 5, O 6) is odd
    cp2k.out       CP2K's full output (cp2k.attempt-K.out: that of the K-th run when it failed; cp2k.interrupted.out:
                   that of a run that was killed)
    labelled.extxyz  the frame with energy= (eV) and forces (eV/Å), only when the label is ok
    result.json    status "ok" or "failed", reason, energy, largest force, SCF steps, wall time, attempts

Energies and forces are read from CP2K's output (`ENERGY| Total FORCE_EVAL ( QS ) energy [a.u.]` and the
`ATOMIC FORCES in [a.u.]` block), checked (complete output, SCF converged, one force row per atom in the input's
element order, finite values) and converted with 1 Ha = 27.211386245988 eV, 1 bohr = 0.529177210903 Å. A frame fails on
"SCF run NOT converged" / "outer SCF loop FAILED to converge", a non-zero exit status, a missing or partial output,
an atom count or element mismatch or non-finite numbers; the reason is kept in result.json and the frame is not
tried again (delete its result.json to retry it).

Resuming: a frame with a result.json is skipped, so the job can be killed at any moment and started again with the
same command; result.json and labelled.extxyz are written to a temporary file and renamed. A frame killed while
CP2K runs resumes from the wavefunction CP2K wrote after its last outer SCF loop (frame-RESTART.wfn, moved to
frame-GUESS.wfn) with OT CG; without one it is redone from scratch. WORKDIR/settings.json pins the level of theory and the input of a WORKDIR: a run
with another --cutoff-ry, --kpoints or INPUT stops with an error.

Wavefunction reuse: when the previous frame of the shard (in INPUT order) has the same species sequence and was
labelled ok, CP2K starts from its wavefunction (SCF_GUESS RESTART, WFN_RESTART_FILE_NAME); if that attempt fails,
the frame is redone from SCF_GUESS ATOMIC. An OT DIIS run that ends "SCF not converged" is finished from the
wavefunction it reached with OT CG before the next guess is tried (at most 4 runs per frame). A frame's .wfn (.kp with k-points) is deleted as soon as the next frame of
the shard is done (or at once when its own label failed, or when it was the shard's last frame).

--shard K/N labels frames K, K+N, K+2N, … (0-based): N processes of one thread each can share WORKDIR side by side
(a lock file in the frame's folder keeps two processes off one frame). --limit N stops after the first N frames of
the shard. --kpoints A B C other than 1 1 1 adds &KPOINTS SCHEME MONKHORST-PACK A B C and replaces OT by
diagonalisation (Broyden mixing, Fermi–Dirac smearing at 300 K, 20 added orbitals), for convergence checks.

collect: writes every ok frame of WORKDIR, in INPUT order, to OUTPUT as the extended XYZ `mdrun train` reads (the
format of chgnet_label.py):

    Lattice="…" Properties=species:S:1:pos:R:3:forces:R:3 energy=E pbc="T T T" source=… dft=cp2k-pbe

(the input's comment-line keys other than Lattice/Properties/pbc/energy are kept; non-default settings add
dft_cutoff_ry= and dft_kpoints=), and prints how many frames are ok, failed and pending per source.

restore: the inverse of scripts/dft/archive_labels.sh, for a new machine: recreates WORKDIR from an ARCHIVE in the
repository (settings.json, frames.json, frames/NNNNN/{cp2k.inp,result.json,cp2k.out.xz}, labels.extxyz), so that a
labelling run with the same INPUT skips every archived frame. Each ok frame's labelled.extxyz is cut from
labels.extxyz in frames.json order (its atom count checked against the manifest); cp2k.out is decompressed. A frame
already in WORKDIR is left alone. A frame that was unfinished when archived (frame-RESTART.wfn.xz, partial
cp2k.out.xz) gets its wavefunction back, so the run resumes it from there.

Standard library only; needs CP2K (Debian's cp2k 2023.1: `cp2k.psmp`, which finds BASIS_MOLOPT and GTH_POTENTIALS in
/usr/share/cp2k). Run with OMP_NUM_THREADS unset or equal to --threads; never run in CI.
"""
import argparse
import datetime
import hashlib
import json
import lzma
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time

from chgnet_label import format_frame
from extxyz_blocks import blocks, comment_items, structure

HARTREE_EV = 27.211386245988
BOHR_A = 0.529177210903
FORCE_UNIT = HARTREE_EV / BOHR_A  # hartree/bohr → eV/Å
VALENCE = {"Li": 3, "P": 5, "O": 6}  # GTH-PBE-q3, -q5, -q6
TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dft", "cp2k_pbe.template")
PROJECT = "frame"
DROPPED_KEYS = ("Lattice", "Properties", "pbc", "energy")

OT_SCF = """    &SCF
      SCF_GUESS {guess}
      EPS_SCF 1.0E-6
      MAX_SCF {max_scf}
      &OT
        MINIMIZER {minimizer}
        PRECONDITIONER FULL_SINGLE_INVERSE
      &END OT
      &OUTER_SCF
        MAX_SCF {outer_max_scf}
        EPS_SCF 1.0E-6
      &END OUTER_SCF
      &PRINT
        &RESTART
          BACKUP_COPIES 0
        &END RESTART
      &END PRINT
    &END SCF
"""
DIAGONALISATION_SCF = """    &SCF
      SCF_GUESS {guess}
      EPS_SCF 1.0E-6
      MAX_SCF {diagonalisation_max_scf}
      ADDED_MOS 20
      &DIAGONALIZATION
        ALGORITHM STANDARD
      &END DIAGONALIZATION
      &MIXING
        METHOD BROYDEN_MIXING
        ALPHA 0.2
        NBROYDEN 8
      &END MIXING
      &SMEAR ON
        METHOD FERMI_DIRAC
        ELECTRONIC_TEMPERATURE [K] 300
      &END SMEAR
      &PRINT
        &RESTART
          BACKUP_COPIES 0
        &END RESTART
      &END PRINT
    &END SCF
"""
# One line per SCF step of CP2K's SCF loop (OT and diagonalisation): step, method, …, total energy, change; and
# the line-search steps of OT CG (`OT LS`: step, time, total energy, no change column), which CP2K counts too.
SCF_STEP = re.compile(r"^\s+\d+\s+(\S.*\s-?\d+\.\d+\s+[-+]?\d\.\d+E[-+]\d+|OT LS\s+\S+\s+\S+\s+-?\d+\.\d+)\s*$")
NOT_CONVERGED = ("SCF run NOT converged", "outer SCF loop FAILED to converge")

child = None  # the running CP2K process, for the signal handler


def read_frames(path):
    """Frames of INPUT as dicts: lattice, species, positions, keys (comment-line items other than DROPPED_KEYS)."""
    frames = []
    for number, block in enumerate(blocks(path)):
        lattice, species, positions = structure(block)
        if lattice is None:
            sys.exit(f"{path}: frame {number}: no Lattice= in the comment line")
        unknown = sorted(set(species) - set(VALENCE))
        if unknown:
            sys.exit(f"{path}: frame {number}: no pseudopotential chosen for {', '.join(unknown)}")
        keys = {k: v for k, v in comment_items(block[1]).items() if k not in DROPPED_KEYS}
        frames.append({"lattice": lattice, "species": species, "positions": positions, "keys": keys})
    return frames


def electrons(species):
    return sum(VALENCE[s] for s in species)


def restart_name(kpoints):
    return f"{PROJECT}-RESTART.kp" if kpoints != [1, 1, 1] else f"{PROJECT}-RESTART.wfn"


def cp2k_input(frame, settings, guess, restart_file=None, minimizer="DIIS"):
    """The CP2K input of one frame (scripts/dft/cp2k_pbe.template filled in); `minimizer` is OT's (DIIS, or CG with
    its default 2-point line search)."""
    with open(TEMPLATE) as handle:
        template = handle.read()
    odd = electrons(frame["species"]) % 2 == 1
    spin = "    UKS\n    MULTIPLICITY 2\n" if odd else ""
    restart = f"    WFN_RESTART_FILE_NAME {restart_file}\n" if restart_file else ""
    kpoints = settings["kpoints"]
    if kpoints == [1, 1, 1]:
        kpoint_block = ""
        scf = OT_SCF.format(guess=guess, minimizer=minimizer, max_scf=settings["max_scf"],
                            outer_max_scf=settings["outer_max_scf"])
    else:
        kpoint_block = ("    &KPOINTS\n      SCHEME MONKHORST-PACK {} {} {}\n    &END KPOINTS\n").format(*kpoints)
        scf = DIAGONALISATION_SCF.format(guess=guess,
                                         diagonalisation_max_scf=settings["max_scf"] * settings["outer_max_scf"])
    cell = "".join(f"      {name} {v[0]:.10f} {v[1]:.10f} {v[2]:.10f}\n" for name, v in zip("ABC", frame["lattice"]))
    coord = "".join(f"      {s:2s} {p[0]:16.10f} {p[1]:16.10f} {p[2]:16.10f}\n"
                    for s, p in zip(frame["species"], frame["positions"]))
    return template.format(project=PROJECT, spin=spin, restart=restart, cutoff=settings["cutoff_ry"],
                           rel_cutoff=settings["rel_cutoff_ry"], kpoints=kpoint_block, scf=scf, cell=cell, coord=coord)


def abort_message(lines):
    """The text of CP2K's [ABORT] box, if any."""
    for i, line in enumerate(lines):
        if "[ABORT]" in line:
            words = []
            for row in lines[i + 1:i + 8]:
                text = row.strip().strip("*").strip()
                for art in ("\\___/", "O/|", "/| |", "/ \\", "|"):
                    if text.startswith(art):
                        text = text[len(art):].strip()
                if text:
                    words.append(text)
            return " ".join(words)
    return None


def parse_output(path, species):
    """Reads a CP2K output: dict with status ('ok'/'failed'), reason, scf_steps and, when ok, energy (Ha) and forces
    (Ha/bohr, one row per atom)."""
    if not os.path.exists(path):
        return {"status": "failed", "reason": "no CP2K output", "scf_steps": 0}
    with open(path, errors="replace") as handle:
        lines = handle.read().splitlines()
    result = {"scf_steps": sum(1 for line in lines if SCF_STEP.match(line))}

    def failed(reason):
        return dict(result, status="failed", reason=reason)

    if any(marker in line for line in lines for marker in NOT_CONVERGED):
        return failed("SCF not converged")
    message = abort_message(lines)
    if message:
        return failed(f"CP2K aborted: {message}")
    if not any("PROGRAM ENDED AT" in line for line in lines):
        return failed("partial CP2K output (no 'PROGRAM ENDED AT')")
    energies = [line for line in lines if "ENERGY| Total FORCE_EVAL" in line]
    if len(energies) != 1:
        return failed(f"{len(energies)} 'ENERGY| Total FORCE_EVAL' lines (expected 1)")
    try:
        energy = float(energies[0].split(":")[-1])
    except ValueError:
        return failed(f"unreadable energy line: {energies[0].strip()}")
    starts = [i for i, line in enumerate(lines) if "ATOMIC FORCES in [a.u.]" in line]
    if len(starts) != 1:
        return failed(f"{len(starts)} 'ATOMIC FORCES' blocks (expected 1)")
    forces, elements, ended = [], [], False
    for line in lines[starts[0] + 1:]:
        fields = line.split()
        if not fields or fields[0] == "#":
            continue
        if line.strip().startswith("SUM OF ATOMIC FORCES"):
            ended = True
            break
        try:
            elements.append(fields[2])
            forces.append([float(x) for x in fields[3:6]])
        except (IndexError, ValueError):
            return failed(f"unreadable force row: {line.strip()}")
    if not ended:
        return failed("partial ATOMIC FORCES block (no 'SUM OF ATOMIC FORCES')")
    if len(forces) != len(species):
        return failed(f"atom count mismatch: {len(forces)} force rows for {len(species)} atoms")
    if elements != list(species):
        n = next(i for i, (a, b) in enumerate(zip(elements, species)) if a != b)
        return failed(f"element mismatch at atom {n + 1}: CP2K {elements[n]}, input {species[n]}")
    if not math.isfinite(energy) or not all(math.isfinite(c) and len(f) == 3 for f in forces for c in f):
        return failed("non-finite energy or force")
    return dict(result, status="ok", reason=None, energy=energy, forces=forces)


def write_atomic(path, text):
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def write_json(path, data):
    write_atomic(path, json.dumps(data, indent=1) + "\n")


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_cp2k(folder, text, threads, cp2k):
    """Writes cp2k.inp and runs CP2K in `folder`; returns (exit status, wall seconds)."""
    global child
    write_atomic(os.path.join(folder, "cp2k.inp"), text)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.time()
    with open(os.path.join(folder, "cp2k.stdout"), "w") as stdout:
        child = subprocess.Popen([cp2k, "-i", "cp2k.inp", "-o", "cp2k.out"], cwd=folder, env=env,
                                 stdout=stdout, stderr=subprocess.STDOUT)
        status = child.wait()
        child = None
    stdout_path = os.path.join(folder, "cp2k.stdout")
    if os.path.getsize(stdout_path) == 0:
        os.remove(stdout_path)
    return status, time.time() - start


def guess_name(kpoints):
    """Where a frame's own wavefunction waits while an attempt starts from it (CP2K rewrites restart_name as it runs)."""
    return f"{PROJECT}-GUESS.kp" if kpoints != [1, 1, 1] else f"{PROJECT}-GUESS.wfn"


def keep_own_wavefunction(folder, kpoints):
    """Moves the frame's restart file (written by an interrupted or unconverged run) to guess_name; returns its
    absolute path, or None when CP2K left none."""
    written = os.path.join(folder, restart_name(kpoints))
    if not os.path.exists(written):
        return None
    kept = os.path.abspath(os.path.join(folder, guess_name(kpoints)))
    os.replace(written, kept)
    return kept


def keep_interrupted(folder, kpoints):
    """A frame folder without result.json whose CP2K run was killed: keeps that run's output as
    cp2k.interrupted.out and its wavefunction (the restart file CP2K writes after every outer SCF loop) as the
    guess of the next attempt. Returns the wavefunction's path, or None."""
    if os.path.exists(os.path.join(folder, "cp2k.out")):
        os.replace(os.path.join(folder, "cp2k.out"), os.path.join(folder, "cp2k.interrupted.out"))
    kept = keep_own_wavefunction(folder, kpoints)
    earlier = os.path.abspath(os.path.join(folder, guess_name(kpoints)))  # killed before CP2K wrote a restart file
    return kept or (earlier if os.path.exists(earlier) else None)


def attempt(folder, frame, settings, guess, restart_file, minimizer, threads, cp2k):
    for stale in ("cp2k.out", restart_name(settings["kpoints"])):
        if os.path.exists(os.path.join(folder, stale)):
            os.remove(os.path.join(folder, stale))
    text = cp2k_input(frame, settings, guess, restart_file, minimizer)
    status, wall = run_cp2k(folder, text, threads, cp2k)
    parsed = parse_output(os.path.join(folder, "cp2k.out"), frame["species"])
    if status != 0 and parsed["status"] == "ok":
        parsed = dict(parsed, status="failed", reason=f"CP2K exit status {status}")
    elif status != 0:
        parsed["reason"] = f"CP2K exit status {status}: {parsed['reason']}"
    parsed.update(guess=guess, restart_from=restart_file, minimizer=minimizer, wall_s=round(wall, 1),
                  exit_status=status)
    return parsed


def label(folder, index, frame, settings, restart_file, threads, cp2k, interrupted_wfn=None):
    """Labels one frame in `folder`; writes labelled.extxyz (when ok) and result.json; returns the result.

    Attempts, until one is ok: (1) from `interrupted_wfn` (the frame's own wavefunction, left by a run that was
    killed) with OT CG, else from `restart_file` (the previous frame's) with OT DIIS, else from the atomic guess with
    OT DIIS; (2) from the atomic guess with OT DIIS unless (1) was. After a DIIS attempt that ends "SCF not
    converged", the wavefunction it reached is finished with OT CG (2-point line search), which is slower per step
    but does not stall as DIIS can near convergence (RMS gradient flat at ~1e-5 for tens of steps). Every failed
    attempt's output is kept as cp2k.attempt-K.out."""
    started = now()
    kpoints = settings["kpoints"]
    attempts = []

    def run(guess, start_from, minimizer):
        attempts.append(attempt(folder, frame, settings, guess, start_from, minimizer, threads, cp2k))
        if attempts[-1]["status"] == "ok":
            return True
        if os.path.exists(os.path.join(folder, "cp2k.out")):
            os.replace(os.path.join(folder, "cp2k.out"), os.path.join(folder, f"cp2k.attempt-{len(attempts)}.out"))
        if minimizer == "DIIS" and attempts[-1]["reason"] == "SCF not converged" and kpoints == [1, 1, 1]:
            own = keep_own_wavefunction(folder, kpoints)
            if own:
                return run("RESTART", own, "CG")
        return False

    if interrupted_wfn:
        done = run("RESTART", interrupted_wfn, "CG")
    elif restart_file:
        done = run("RESTART", restart_file, "DIIS")
    else:
        done = run("ATOMIC", None, "DIIS")
    if not done and attempts[0]["guess"] != "ATOMIC":
        run("ATOMIC", None, "DIIS")
    guess_file = os.path.join(folder, guess_name(kpoints))
    if os.path.exists(guess_file):
        os.remove(guess_file)
    final = attempts[-1]
    odd = electrons(frame["species"]) % 2 == 1
    result = {
        "frame": index, "status": final["status"], "reason": final["reason"],
        "atoms": len(frame["species"]), "electrons": electrons(frame["species"]), "uks": odd,
        "multiplicity": 2 if odd else 1, "scf_guess": final["guess"], "scf_steps": final["scf_steps"],
        "wall_s": round(sum(a["wall_s"] for a in attempts), 1), "threads": threads,
        "cutoff_ry": settings["cutoff_ry"], "rel_cutoff_ry": settings["rel_cutoff_ry"], "kpoints": settings["kpoints"],
        "keys": frame["keys"], "started": started, "finished": now(), "host": socket.gethostname(),
        "resumed_interrupted": interrupted_wfn is not None,
        "attempts": [{k: a[k] for k in ("guess", "restart_from", "minimizer", "status", "reason", "scf_steps",
                                        "wall_s", "exit_status")} for a in attempts],
    }
    if final["status"] == "ok":
        energy = final["energy"] * HARTREE_EV
        forces = [[c * FORCE_UNIT for c in f] for f in final["forces"]]
        result.update(energy_hartree=final["energy"], energy_eV=energy,
                      max_force_eV_per_A=max(abs(c) for f in forces for c in f))
        extras = dict(frame["keys"], dft="cp2k-pbe")
        if settings["cutoff_ry"] != 400 or settings["rel_cutoff_ry"] != 50:
            extras.update(dft_cutoff_ry=settings["cutoff_ry"], dft_rel_cutoff_ry=settings["rel_cutoff_ry"])
        if settings["kpoints"] != [1, 1, 1]:
            extras["dft_kpoints"] = "x".join(map(str, settings["kpoints"]))
        write_atomic(os.path.join(folder, "labelled.extxyz"),
                     format_frame(frame["lattice"], frame["species"], frame["positions"], energy, forces, extras))
    write_json(os.path.join(folder, "result.json"), result)
    return result


def read_result(folder):
    try:
        with open(os.path.join(folder, "result.json")) as handle:
            return json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def remove_restart(folder, kpoints):
    path = os.path.join(folder, restart_name(kpoints))
    if os.path.exists(path):
        os.remove(path)


def take_lock(folder):
    """True when this process may work on the frame (no other live process holds its lock)."""
    path = os.path.join(folder, "lock")
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.write(descriptor, f"{os.getpid()} {socket.gethostname()}\n".encode())
            os.close(descriptor)
            return True
        except FileExistsError:
            try:
                with open(path) as handle:
                    pid, host = handle.read().split()
                alive = host == socket.gethostname() and os.path.exists(f"/proc/{pid}")
            except (OSError, ValueError):
                alive = False
            if alive:
                return False
            os.remove(path)  # stale: its process is gone
    return False


def settings_of(args, input_path, frame_count):
    with open(input_path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return {"input": os.path.abspath(input_path), "input_sha256": digest, "frames": frame_count,
            "cutoff_ry": args.cutoff_ry, "rel_cutoff_ry": args.rel_cutoff_ry, "kpoints": args.kpoints,
            "max_scf": args.max_scf, "outer_max_scf": args.outer_max_scf, "level": "cp2k-pbe"}


def check_settings(workdir, settings):
    """Pins the level of theory and the input of WORKDIR (settings.json), stops on a mismatch."""
    path = os.path.join(workdir, "settings.json")
    if os.path.exists(path):
        with open(path) as handle:
            pinned = json.load(handle)
        for key in ("input_sha256", "cutoff_ry", "rel_cutoff_ry", "kpoints"):
            if pinned.get(key) != settings[key]:
                sys.exit(f"{path}: {key} is {pinned.get(key)!r}, this run has {settings[key]!r}; use another WORKDIR")
    else:
        write_json(path, settings)


def on_signal(number, _frame):
    """Stops CP2K with the labeller (its frame stays without result.json and is redone on resume)."""
    if child is not None and child.poll() is None:
        child.terminate()
    raise SystemExit(128 + number)


def labelling(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input")
    parser.add_argument("workdir")
    parser.add_argument("--shard", default="0/1", help="K/N: label frames K, K+N, ...")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads of CP2K")
    parser.add_argument("--cutoff-ry", type=int, default=400, help="plane-wave cutoff (Ry)")
    parser.add_argument("--rel-cutoff-ry", type=int, default=50, help="REL_CUTOFF (Ry)")
    parser.add_argument("--kpoints", type=int, nargs=3, default=[1, 1, 1], help="Monkhorst–Pack mesh (1 1 1 = Γ, OT)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N frames of the shard")
    parser.add_argument("--max-scf", type=int, default=30, help="inner SCF steps (OT)")
    parser.add_argument("--outer-max-scf", type=int, default=10, help="outer SCF loops (OT)")
    parser.add_argument("--cp2k", default="cp2k.psmp", help="CP2K binary")
    args = parser.parse_args(argv)

    shard, shards = (int(x) for x in args.shard.split("/"))
    frames = read_frames(args.input)
    settings = settings_of(args, args.input, len(frames))
    os.makedirs(os.path.join(args.workdir, "frames"), exist_ok=True)
    check_settings(args.workdir, settings)
    manifest = [{"frame": n, "atoms": len(f["species"]), "electrons": electrons(f["species"]), "keys": f["keys"]}
                for n, f in enumerate(frames)]
    write_json(os.path.join(args.workdir, "frames.json"), manifest)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, on_signal)

    mine = list(range(len(frames)))[shard::shards]
    if args.limit is not None:
        mine = mine[:args.limit]
    done = sum(1 for n in mine if read_result(os.path.join(args.workdir, "frames", f"{n:05d}")))
    print(f"{now()} {args.input}: {len(frames)} frames, shard {shard}/{shards}: {len(mine)} frames, {done} done; "
          f"{args.cutoff_ry} Ry, k-points {args.kpoints}, {args.threads} thread(s), pid {os.getpid()}", flush=True)
    kpoints = settings["kpoints"]
    previous = None  # (folder, frame, result) of the previous frame of the shard
    for position, n in enumerate(mine):
        folder = os.path.join(args.workdir, "frames", f"{n:05d}")
        os.makedirs(folder, exist_ok=True)
        frame = frames[n]
        result = read_result(folder)
        if result is None:
            if not take_lock(folder):
                print(f"{now()} frame {n:05d}: another process works on it, skipped", flush=True)
                previous = None
                continue
            interrupted_wfn = keep_interrupted(folder, kpoints)
            restart_file = None
            if previous is not None and interrupted_wfn is None:
                p_folder, p_frame, p_result = previous
                candidate = os.path.abspath(os.path.join(p_folder, restart_name(kpoints)))
                if p_result.get("status") == "ok" and p_frame["species"] == frame["species"] \
                        and os.path.exists(candidate):
                    restart_file = candidate
            try:
                result = label(folder, n, frame, settings, restart_file, args.threads, args.cp2k, interrupted_wfn)
            finally:
                if os.path.exists(os.path.join(folder, "lock")):
                    os.remove(os.path.join(folder, "lock"))
            if result["status"] != "ok":
                remove_restart(folder, kpoints)
            guess = " → ".join(f"{a['guess'].lower()} ({a['minimizer']})" for a in result["attempts"])
            if result["resumed_interrupted"]:
                guess = "the interrupted run's wavefunction: " + guess
            energy = f"E = {result['energy_eV']:.6f} eV, max |F| = {result['max_force_eV_per_A']:.3f} eV/Å" \
                if result["status"] == "ok" else result["reason"]
            print(f"{now()} frame {n:05d} ({position + 1}/{len(mine)}, {result['atoms']} atoms"
                  f"{', UKS' if result['uks'] else ''}): {result['status']} in {result['wall_s']:.0f} s, "
                  f"{result['scf_steps']} SCF steps from {guess}; {energy}", flush=True)
        if previous is not None:
            remove_restart(previous[0], kpoints)  # needed only as the guess of this frame
        previous = (folder, frame, result)
    if previous is not None and mine and mine[-1] == list(range(len(frames)))[shard::shards][-1]:
        remove_restart(previous[0], kpoints)  # the shard's last frame: nothing will start from it
    print(f"{now()} shard {shard}/{shards} finished", flush=True)


def read_manifest(folder):
    """The frame list (frames.json) of a WORKDIR or of its archive."""
    with open(os.path.join(folder, "frames.json")) as handle:
        return json.load(handle)


def collect(argv):
    parser = argparse.ArgumentParser(description="cp2k_label.py collect WORKDIR OUTPUT.extxyz: gather the ok frames")
    parser.add_argument("workdir")
    parser.add_argument("output")
    args = parser.parse_args(argv)
    manifest = read_manifest(args.workdir)
    texts, counts, failures = [], {}, []
    for entry in manifest:
        folder = os.path.join(args.workdir, "frames", f"{entry['frame']:05d}")
        result = read_result(folder)
        status = result["status"] if result else "pending"
        if status == "ok":
            with open(os.path.join(folder, "labelled.extxyz")) as handle:
                text = handle.read()
            lines = text.splitlines()
            if int(lines[0]) != entry["atoms"] or len(lines) != entry["atoms"] + 2:
                sys.exit(f"{folder}/labelled.extxyz: not {entry['atoms']} atoms")
            texts.append(text)
        elif status == "failed":
            failures.append(f"  {entry['frame']:05d} {entry['keys'].get('source', '?')}: {result['reason']}")
        row = counts.setdefault(entry["keys"].get("source", "?").split("/")[0], {"ok": 0, "failed": 0, "pending": 0})
        row[status] += 1
    write_atomic(args.output, "".join(texts))
    width = max([len(s) for s in counts] + [6])
    print(f"{'source':{width}s}     ok failed pending")
    for source, row in counts.items():
        print(f"{source:{width}s} {row['ok']:6d} {row['failed']:6d} {row['pending']:7d}")
    total = {k: sum(r[k] for r in counts.values()) for k in ("ok", "failed", "pending")}
    print(f"{'all':{width}s} {total['ok']:6d} {total['failed']:6d} {total['pending']:7d}")
    if failures:
        print("failed frames:")
        print("\n".join(failures))
    print(f"{len(texts)} labelled frames written to {args.output}")


def archived_labels(archive, manifest):
    """Cuts ARCHIVE/labels.extxyz into one text per ok frame of `manifest`, in manifest order: {frame: text}."""
    with open(os.path.join(archive, "labels.extxyz")) as handle:
        lines = handle.read().splitlines(keepends=True)
    texts, start = {}, 0
    for entry in manifest:
        result = read_result(os.path.join(archive, "frames", f"{entry['frame']:05d}"))
        if not result or result["status"] != "ok":
            continue
        if start >= len(lines) or lines[start].strip() != str(entry["atoms"]):
            sys.exit(f"{archive}/labels.extxyz: line {start + 1}: expected frame {entry['frame']} "
                     f"with {entry['atoms']} atoms")
        texts[entry["frame"]] = "".join(lines[start:start + entry["atoms"] + 2])
        start += entry["atoms"] + 2
    if start != len(lines):
        sys.exit(f"{archive}/labels.extxyz: {len(lines) - start} lines after the last ok frame of frames.json")
    return texts


def restore(argv):
    parser = argparse.ArgumentParser(description="cp2k_label.py restore ARCHIVE WORKDIR: resume from an archive")
    parser.add_argument("archive")
    parser.add_argument("workdir")
    args = parser.parse_args(argv)
    manifest = read_manifest(args.archive)
    texts = archived_labels(args.archive, manifest)
    os.makedirs(os.path.join(args.workdir, "frames"), exist_ok=True)
    for name in ("settings.json", "frames.json"):
        target = os.path.join(args.workdir, name)
        if not os.path.exists(target):
            with open(os.path.join(args.archive, name)) as handle:
                write_atomic(target, handle.read())
    restored = restored_unfinished = 0
    for entry in manifest:
        source = os.path.join(args.archive, "frames", f"{entry['frame']:05d}")
        folder = os.path.join(args.workdir, "frames", f"{entry['frame']:05d}")
        result = read_result(source)
        if read_result(folder) is not None:
            continue
        if result is None:
            restored_unfinished += restore_unfinished(source, folder)
            continue
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(source, "cp2k.inp")) as handle:
            write_atomic(os.path.join(folder, "cp2k.inp"), handle.read())
        with lzma.open(os.path.join(source, "cp2k.out.xz"), "rt") as handle:
            write_atomic(os.path.join(folder, "cp2k.out"), handle.read())
        if result["status"] == "ok":
            write_atomic(os.path.join(folder, "labelled.extxyz"), texts[entry["frame"]])
        write_json(os.path.join(folder, "result.json"), result)
        restored += 1
    print(f"{restored} archived frames restored into {args.workdir}"
          + (f", {restored_unfinished} unfinished with their wavefunction" if restored_unfinished else ""))


def restore_unfinished(source, folder):
    """An unfinished frame of the archive (frame-RESTART.wfn.xz and the partial cp2k.out.xz of a run stopped at a
    session's end): puts both back, so that labelling resumes the frame from its wavefunction. Returns 1 or 0."""
    archived = os.path.join(source, restart_name([1, 1, 1]) + ".xz")
    if not os.path.exists(archived) or os.path.exists(os.path.join(folder, restart_name([1, 1, 1]))):
        return 0
    os.makedirs(folder, exist_ok=True)
    for name in (restart_name([1, 1, 1]), "cp2k.out"):
        if not os.path.exists(os.path.join(source, name + ".xz")):
            continue
        temporary = os.path.join(folder, f"{name}.tmp{os.getpid()}")
        with lzma.open(os.path.join(source, name + ".xz"), "rb") as handle, open(temporary, "wb") as out:
            out.write(handle.read())
        os.replace(temporary, os.path.join(folder, name))
    return 1


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "collect":
        collect(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "restore":
        restore(sys.argv[2:])
    else:
        labelling(sys.argv[1:])


if __name__ == "__main__":
    main()

"""Extended XYZ read as text blocks, shared by the scripts (standard library only).

A block is the list of lines of one frame: the atom count, the comment line, one line per atom.
"""
import os
import shlex
import subprocess
import tempfile


def blocks(path):
    """Yields the frames of an extended XYZ file as lists of lines (blank lines between frames are skipped)."""
    with open(path) as handle:
        lines = handle.readlines()
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        count = int(lines[i])
        yield lines[i:i + count + 2]
        i += count + 2


def comment_items(line):
    """The key=value items of a comment line (quoted values unquoted)."""
    return dict(token.split("=", 1) for token in shlex.split(line) if "=" in token)


def property_columns(spec):
    """First column of each property of a `Properties=` value, e.g. species:S:1:pos:R:3 → {species: 0, pos: 1}."""
    fields, offset, columns = spec.split(":"), 0, {}
    for name, _kind, width in zip(fields[0::3], fields[1::3], fields[2::3]):
        columns[name] = offset
        offset += int(width)
    return columns


def structure(block):
    """(lattice as three rows or None without `Lattice=`, species, positions) of one frame."""
    items = comment_items(block[1])
    lattice = None
    if "Lattice" in items:
        values = [float(v) for v in items["Lattice"].split()]
        lattice = [values[0:3], values[3:6], values[6:9]]
    columns = property_columns(items.get("Properties", "species:S:1:pos:R:3"))
    species, positions = [], []
    for row in block[2:]:
        fields = row.split()
        species.append(fields[columns["species"]])
        p = columns["pos"]
        positions.append([float(fields[p]), float(fields[p + 1]), float(fields[p + 2])])
    return lattice, species, positions


def evaluated(frames, potential, mdrun="mdrun"):
    """Yields (block, evaluated block) for each block of `frames`: the frame put through `mdrun eval POTENTIAL`,
    whose block carries `energy=` (eV) and per-atom `forces` (eV/Å) and `energies` (eV) columns."""
    with tempfile.TemporaryDirectory() as scratch:
        frame_path = os.path.join(scratch, "frame.xyz")
        for block in frames:
            with open(frame_path, "w") as out:
                out.writelines(block)
            result = subprocess.run([mdrun, "eval", potential, frame_path, "--quiet"],
                                    capture_output=True, text=True, check=True).stdout.splitlines()
            yield block, result[:2 + int(block[0])]

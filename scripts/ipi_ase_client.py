#!/usr/bin/env python3
"""An i-PI client for mdrun's `kind = "socket"` potential that wraps an ASE calculator.

    ipi_ase_client.py (--unix-socket PATH | --port N [--host H]) [--wait S] [--no-stress]
                      [--die-after N | --hang-after N] CALCULATOR [options]

CALCULATOR is one of
    emt                               ASE's EMT (Al, Cu, Ag, Au, Ni, Pd, Pt; H, C, N, O)
    lj --sigma S --epsilon E --rc R   ASE's LennardJones, energy shifted to zero at rc (smooth=False),
                                      as mdrun's `lj` with shift = true
    chgnet [--model NAME]             CHGNet (pip install chgnet), the universal MLIP of the seed's NEB work

The client is ASE's own `ase.calculators.socketio.SocketClient` (its message loop, its unit conversions) with two
additions: it connects to any UNIX socket path (ASE's own prefixes the name with /tmp/ipi_), and it starts in the
NEEDINIT state and rebuilds its atoms from mdrun's INIT string, {"symbols": [...], "pbc": [...]}, so that one
client serves a stage that removes an atom (vacancy, migration) and needs no structure file. The stress is sent
as the virial W = -V sigma (mdrun's sign: W = sum r F) unless --no-stress; non-periodic atoms get none.

--wait S keeps trying to connect for S seconds (default 0: once), for a client started before mdrun listens.
--die-after N makes the process kill itself (SIGKILL) when the N-th evaluation arrives, before answering, and
--hang-after N makes it stop answering there (it sleeps): the fault tests' dying and hung clients.

Example, in a study file (docs/potentials.md):
    [potential]
    kind = "socket"
    unix_socket = "{output}/ipi.sock"
    command = ["python3", "{study_dir}/scripts/ipi_ase_client.py", "--unix-socket", "{unix_socket}", "emt"]
"""

import argparse
import json
import os
import signal
import socket
import sys
import time

import numpy as np
from ase import Atoms
from ase.calculators.socketio import IPIProtocol, SocketClient
from ase.parallel import world


class MdrunClient(SocketClient):
    """ASE's SocketClient, connected to a given UNIX socket path or TCP port, describing its atoms from INIT."""

    def __init__(self, unix_socket=None, host="127.0.0.1", port=None, use_stress=True, die_after=None, wait=0.0,
                 hang_after=None):
        self.comm = world
        sock = connect(unix_socket, host, port, wait)
        self.host, self.port, self.unixsocket = host, port, unix_socket
        self.protocol = IPIProtocol(sock)
        self.log = self.protocol.log
        self.closed = False
        self.bead_index = 0
        self.bead_initbytes = b""
        self.state = "NEEDINIT"
        self.use_stress = use_stress
        self.die_after = die_after
        self.hang_after = hang_after
        self.evaluations = 0
        self.atoms = None
        receive_init = self.protocol.recvinit

        def recvinit():
            bead_index, initbytes = receive_init()
            self.describe(bytes(np.asarray(initbytes, dtype=np.int8).view(np.uint8)))
            return bead_index, initbytes

        self.protocol.recvinit = recvinit

    def describe(self, initbytes):
        """Rebuilds the atoms from an INIT string naming symbols and periodicity; one zero byte keeps them."""
        text = initbytes.rstrip(b"\0").decode()
        if not text:
            return
        description = json.loads(text)
        if list(self.atoms.get_chemical_symbols()) == description["symbols"]:
            self.atoms.pbc = description["pbc"]
            return
        calc = self.atoms.calc
        del self.atoms[:]
        self.atoms.extend(Atoms(description["symbols"], pbc=description["pbc"]))
        self.atoms.pbc = description["pbc"]
        self.atoms.calc = calc

    def calculate(self, atoms, use_stress):
        self.evaluations += 1
        if self.die_after is not None and self.evaluations >= self.die_after:
            os.kill(os.getpid(), signal.SIGKILL)
        if self.hang_after is not None and self.evaluations >= self.hang_after:
            while True:
                time.sleep(60)
        return super().calculate(atoms, self.use_stress and all(atoms.pbc))

    def serve(self, calc):
        self.atoms = Atoms(calculator=calc)
        self.atoms.calc = calc
        self.run(self.atoms, use_stress=self.use_stress)


def connect(unix_socket, host, port, wait):
    """A socket connected to the UNIX path or the TCP port, retried every 0.1 s for `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        sock = socket.socket(socket.AF_UNIX if unix_socket is not None else socket.AF_INET)
        try:
            sock.connect(unix_socket if unix_socket is not None else (host, port))
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def calculator(args):
    if args.calculator == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if args.calculator == "lj":
        from ase.calculators.lj import LennardJones

        return LennardJones(sigma=args.sigma, epsilon=args.epsilon, rc=args.rc, smooth=False)
    if args.calculator == "chgnet":
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        return CHGNetCalculator(model=CHGNet.load(model_name=args.model), use_device="cpu")
    raise SystemExit(f"unknown calculator {args.calculator}")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--unix-socket", help="path of mdrun's UNIX socket (potential.unix_socket)")
    where.add_argument("--port", type=int, help="mdrun's TCP port on --host (potential.tcp_port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to keep trying to connect")
    parser.add_argument("--no-stress", action="store_true", help="send a zero virial (no stress)")
    parser.add_argument("--die-after", type=int, help="kill this process at the N-th evaluation (fault tests)")
    parser.add_argument("--hang-after", type=int, help="stop answering at the N-th evaluation (fault tests)")
    commands = parser.add_subparsers(dest="calculator", required=True)
    commands.add_parser("emt")
    lj = commands.add_parser("lj")
    lj.add_argument("--sigma", type=float, required=True, help="sigma (Å)")
    lj.add_argument("--epsilon", type=float, required=True, help="epsilon (eV)")
    lj.add_argument("--rc", type=float, required=True, help="cutoff (Å)")
    chgnet = commands.add_parser("chgnet")
    chgnet.add_argument("--model", default="0.3.0")
    args = parser.parse_args(argv)
    client = MdrunClient(args.unix_socket, args.host, args.port, not args.no_stress, args.die_after, args.wait,
                         args.hang_after)
    client.serve(calculator(args))


if __name__ == "__main__":
    main(sys.argv[1:])

//! The socket protocol's cost, for `mdrun bench --only socket` (docs/potentials.md): the time of one evaluation
//! through ASE's EMT behind `scripts/ipi_ase_client.py` against the time ASE takes for the same evaluation
//! in-process (measured beside it, in the same run), for fcc Cu of 64 and 1000 atoms; and the wall time of a
//! vacancy-hop NEB with 1, 2 and 4 clients.

use super::SocketConfig;
use crate::neb::bench::{bench_vacancy_hop, NebBench};
use crate::optimize::Algorithm;
use crate::potentials::{Evaluator, PotentialConfig};
use crate::system::System;
use anyhow::{bail, Context, Result};
use nalgebra::Vector3;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One system's evaluations through the socket and in the client's own process.
#[derive(Clone, Debug, Serialize)]
pub struct SocketCallBench {
    pub atoms: usize,
    pub calls: usize,
    /// Wall time of one evaluation through the socket (ms), mean over `calls`.
    pub socket_ms_per_call: f64,
    /// ASE's own time for the same evaluation in a Python process without the socket (ms).
    pub client_compute_ms_per_call: f64,
    /// The difference: what the protocol, the two processes and the conversions cost (ms).
    pub protocol_ms_per_call: f64,
}

/// The vacancy-hop NEB with `clients` clients (one thread each).
#[derive(Clone, Debug, Serialize)]
pub struct SocketNebBench {
    pub clients: usize,
    pub neb: NebBench,
}

/// Where the benchmark finds Python with ASE and the client script.
#[derive(Clone, Debug)]
pub struct SocketBenchSetup {
    pub python: PathBuf,
    pub client: PathBuf,
    pub scratch: PathBuf,
}

impl SocketBenchSetup {
    /// Python from `MDRUN_PYTHON`, else `.venv/bin/python`; the client `scripts/ipi_ase_client.py`, both relative
    /// to the current folder (the clone); an error when ASE cannot be imported.
    pub fn find(scratch: &Path) -> Result<SocketBenchSetup> {
        let client = std::path::absolute("scripts/ipi_ase_client.py")?;
        let python = super::ase_python(Path::new("."));
        let (Ok(python), true) = (&python, client.exists()) else {
            let tried = python.unwrap_or_else(|tried| tried);
            bail!(
                "the socket benchmark needs Python with ASE ({}; set MDRUN_PYTHON) and {}: run it from the clone",
                tried.display(),
                client.display()
            );
        };
        Ok(SocketBenchSetup { python: std::path::absolute(python)?, client, scratch: scratch.to_path_buf() })
    }

    /// An EMT evaluator behind `clients` clients on a socket in the scratch folder.
    fn evaluator(&self, clients: usize) -> Result<Evaluator> {
        let command = [self.python.display().to_string(), self.client.display().to_string()]
            .into_iter()
            .chain(["--unix-socket", "{unix_socket}", "emt"].map(String::from))
            .collect();
        let config = SocketConfig {
            unix_socket: Some(self.scratch.join(format!("bench-{clients}.sock"))),
            tcp_port: None,
            clients,
            command,
            connect_timeout_s: 120.0,
            response_timeout_s: 600.0,
        };
        config.validate("bench.socket")?;
        Ok(Evaluator::new(config.build("bench.socket")?, 0.0))
    }
}

/// The positions of call `k`: every atom moved by up to 10⁻³ Å, so that no evaluation is a cached one.
fn perturbed(system: &System, k: usize) -> System {
    let mut moved = system.clone();
    for (i, r) in moved.positions.iter_mut().enumerate() {
        let phase = (k * 7919 + i) as f64;
        *r += Vector3::new(phase.sin(), (1.3 * phase).sin(), (1.7 * phase).sin()) * 1e-3;
    }
    moved
}

/// `calls` evaluations of `system` through one client, after one to connect, against ASE's own time.
pub fn bench_calls(setup: &SocketBenchSetup, system: &System, calls: usize) -> Result<SocketCallBench> {
    let mut evaluator = setup.evaluator(1)?;
    evaluator.evaluate(system)?;
    let frames: Vec<System> = (0..calls).map(|k| perturbed(system, k)).collect();
    let start = Instant::now();
    for frame in &frames {
        evaluator.evaluate(frame)?;
    }
    let socket_ms_per_call = start.elapsed().as_secs_f64() * 1e3 / calls as f64;
    let client_compute_ms_per_call = ase_ms_per_call(setup, &frames)?;
    Ok(SocketCallBench {
        atoms: system.len(),
        calls,
        socket_ms_per_call,
        client_compute_ms_per_call,
        protocol_ms_per_call: socket_ms_per_call - client_compute_ms_per_call,
    })
}

/// ASE's EMT on the same frames in one Python process, after one warm-up evaluation (ms per call).
fn ase_ms_per_call(setup: &SocketBenchSetup, frames: &[System]) -> Result<f64> {
    let cell: Vec<[f64; 3]> = (0..3).map(|k| frames[0].cell.vector(k)).map(|v| [v.x, v.y, v.z]).collect();
    let input = serde_json::json!({
        "symbols": (0..frames[0].len()).map(|i| frames[0].symbol(i)).collect::<Vec<_>>(),
        "cell": cell,
        "frames": frames.iter().map(|f| f.positions.iter().map(|r| [r.x, r.y, r.z]).collect::<Vec<_>>()).collect::<Vec<_>>(),
    });
    let input_file = setup.scratch.join("bench-frames.json");
    std::fs::write(&input_file, input.to_string())?;
    let script = "import json, sys, time\nfrom ase import Atoms\nfrom ase.calculators.emt import EMT\n\
        d = json.load(open(sys.argv[1]))\n\
        atoms = Atoms(d['symbols'], positions=d['frames'][0], cell=d['cell'], pbc=True)\n\
        atoms.calc = EMT()\natoms.get_forces()\nstart = time.perf_counter()\n\
        for p in d['frames']:\n    atoms.positions = p\n    atoms.get_potential_energy(); atoms.get_forces(); atoms.get_stress()\n\
        print((time.perf_counter() - start) * 1e3 / len(d['frames']))\n";
    let output = Command::new(&setup.python).args(["-c", script]).arg(&input_file).output()?;
    if !output.status.success() {
        bail!("ASE's own timing failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().context("ASE's timing printed no number")
}

/// The nearest-neighbour vacancy hop in EMT Cu (fcc a = 3.59 Å, 3×3×3 cells, 107 atoms; 5 images, FIRE to
/// 0.05 eV/Å, endpoints relaxed) with `clients` clients and as many threads.
pub fn bench_neb(setup: &SocketBenchSetup, clients: usize) -> Result<SocketNebBench> {
    let evaluator = setup.evaluator(clients)?;
    let perfect = crate::system::fcc(29, 3.59, 3);
    let neb = bench_vacancy_hop(&perfect, &evaluator, 5, Algorithm::Fire, 0.05, clients)?;
    Ok(SocketNebBench { clients, neb })
}

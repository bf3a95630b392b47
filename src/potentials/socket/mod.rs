//! `kind = "socket"`: energies and forces from another program over the i-PI socket protocol, so that any ASE
//! calculator (ASE's `SocketClient`: MACE, CHGNet, SevenNet, EMT, …), CP2K (`&MOTION &DRIVER`), Quantum ESPRESSO
//! (`pw.x --ipi`) or LAMMPS (`fix ipi`) is the potential of every stage.
//!
//! mdrun is the server (i-PI's role): it binds a UNIX socket (mode 0600) or a TCP port on 127.0.0.1, optionally
//! starts the client command once per client, waits for every client to connect, and sends each evaluation to a
//! free client ([`protocol`] has the wire format, read from i-PI's `ipi/interfaces/sockets.py` and ASE's
//! `ase/calculators/socketio.py`). Nothing happens until the first evaluation, so `mdrun check` binds nothing.
//!
//! Units on the wire are atomic; mdrun converts with ASE's values of the bohr and the hartree
//! ([`crate::units::ASE_BOHR_IN_A`], [`crate::units::ASE_HARTREE_IN_EV`]), so that numbers an ASE client computes in eV and Å arrive
//! unchanged to the last bits.

pub mod bench;
pub mod protocol;
pub mod server;

use super::{Evaluation, EvaluationError, EvaluationResult, Potential, PotentialConfig};
use crate::input::{positive, InvalidValue};
use crate::neighbors::NeighborList;
use crate::system::System;
use crate::units::{ASE_BOHR_IN_A, ASE_HARTREE_IN_EV};
use nalgebra::{Matrix3, Vector3};
use protocol::{Reply, Request};
use serde::Deserialize;
use server::{Address, Server, ServerSettings, MAX_UNIX_PATH_BYTES};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The most clients one server accepts.
pub const MAX_CLIENTS: usize = 256;

/// The cutoff mdrun's own neighbour list is built with (Å). The client computes its own neighbours; the list
/// only has to exist for the stages that keep one, so it is kept as small as it can be.
pub const UNUSED_CUTOFF_A: f64 = 0.01;

/// Keys of a socket table that say how the clients are reached, not what they compute: a restart's fingerprint
/// leaves them out ([`SocketConfig::restart_table`]), so that a run whose client timed out continues with a
/// longer `response_timeout_s`, more `clients` or another address. `command` stays in: it names what computes
/// the forces.
const CONNECTION_KEYS: [&str; 5] = ["unix_socket", "tcp_port", "clients", "connect_timeout_s", "response_timeout_s"];

/// The Python interpreter that runs scripts/ipi_ase_client.py (the tests' and the benchmark's clients):
/// `MDRUN_PYTHON`, else `<clone>/.venv/bin/python` (what .ci/run installs). `Err` carries the interpreter tried
/// when it does not exist or cannot import ASE's socket calculator.
pub fn ase_python(clone: &Path) -> Result<PathBuf, PathBuf> {
    let python = std::env::var_os("MDRUN_PYTHON").map_or_else(|| clone.join(".venv/bin/python"), PathBuf::from);
    let has_ase = std::process::Command::new(&python)
        .args(["-c", "import ase.calculators.socketio"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if has_ase {
        Ok(python)
    } else {
        Err(python)
    }
}

/// `[potential]` settings for `kind = "socket"` (docs/potentials.md).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketConfig {
    /// UNIX-domain socket file, e.g. `"{output}/ipi.sock"`; relative paths are relative to the study file.
    pub unix_socket: Option<PathBuf>,
    /// TCP port on 127.0.0.1 (0: a free port, passed to `command` as `{tcp_port}`).
    pub tcp_port: Option<u16>,
    /// Clients to wait for, each given its own share of the evaluations; default 1.
    #[serde(default = "one")]
    pub clients: usize,
    /// Program and arguments that start one client; `{study_dir}` (the study file's folder), `{unix_socket}`,
    /// `{tcp_port}` and `{client}` (1, 2, …) are replaced. Empty: clients are started by hand.
    #[serde(default)]
    pub command: Vec<String>,
    /// Seconds to wait for every client to connect; default 60.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: f64,
    /// Seconds one answer of a client may take; default 600 (a DFT client needs more).
    #[serde(default = "default_response_timeout")]
    pub response_timeout_s: f64,
}

fn one() -> usize {
    1
}

fn default_connect_timeout() -> f64 {
    60.0
}

fn default_response_timeout() -> f64 {
    600.0
}

impl SocketConfig {
    fn address(&self) -> Address {
        match (&self.unix_socket, self.tcp_port) {
            (Some(path), _) => Address::Unix(path.clone()),
            (None, port) => Address::Tcp(port.unwrap_or(0)),
        }
    }

    fn validate_address(&self, key: &str) -> Result<(), InvalidValue> {
        match (&self.unix_socket, self.tcp_port) {
            (None, None) => Err(InvalidValue::new(
                key,
                "no unix_socket and no tcp_port",
                "one of unix_socket (e.g. \"{output}/ipi.sock\") and tcp_port",
            )),
            (Some(_), Some(port)) => Err(InvalidValue::new(
                format!("{key}.tcp_port"),
                port,
                "no tcp_port beside unix_socket: give exactly one of the two",
            )),
            (Some(path), None) if path.as_os_str().len() > MAX_UNIX_PATH_BYTES => Err(InvalidValue::new(
                format!("{key}.unix_socket"),
                format!("\"{}\" ({} bytes)", path.display(), path.as_os_str().len()),
                format!("a path of at most {MAX_UNIX_PATH_BYTES} bytes (the UNIX socket limit)"),
            )),
            (None, Some(0)) if self.command.is_empty() => Err(InvalidValue::new(
                format!("{key}.tcp_port"),
                0,
                "a port number: 0 picks a free port, which only a client mdrun starts (command) can be told",
            )),
            _ => Ok(()),
        }
    }

    fn validate_command(&self, key: &str) -> Result<(), InvalidValue> {
        let joined = self.command.join(" ");
        if self.command.first().is_some_and(|program| program.is_empty()) {
            return Err(InvalidValue::new(format!("{key}.command"), "[\"\", …]", "a program name first"));
        }
        if joined.contains("{unix_socket}") && self.unix_socket.is_none() {
            return Err(InvalidValue::new(
                format!("{key}.command"),
                "\"{unix_socket}\"",
                "{tcp_port}: this server listens on tcp_port, not on a UNIX socket",
            ));
        }
        if joined.contains("{tcp_port}") && self.tcp_port.is_none() {
            return Err(InvalidValue::new(
                format!("{key}.command"),
                "\"{tcp_port}\"",
                "{unix_socket}: this server listens on unix_socket, not on a TCP port",
            ));
        }
        Ok(())
    }
}

impl PotentialConfig for SocketConfig {
    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        self.validate_address(key)?;
        self.validate_command(key)?;
        if !(1..=MAX_CLIENTS).contains(&self.clients) {
            return Err(InvalidValue::new(format!("{key}.clients"), self.clients, format!("1 to {MAX_CLIENTS}")));
        }
        positive(key, "connect_timeout_s", self.connect_timeout_s)?;
        positive(key, "response_timeout_s", self.response_timeout_s)
    }

    /// The socket path is relative to the study file's folder, and `{study_dir}` in `command` is that folder as an
    /// absolute path, so that a client script shipped beside the study is found from any working directory.
    fn resolve_paths(&mut self, base: &Path) {
        if let Some(path) = &mut self.unix_socket {
            *path = base.join(&*path);
        }
        let folder = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf()).display().to_string();
        for argument in &mut self.command {
            *argument = argument.replace("{study_dir}", &folder);
        }
    }

    fn concurrency(&self) -> Option<usize> {
        Some(self.clients)
    }

    fn restart_table(&self, table: &toml::Table) -> toml::Table {
        let kept = table.iter().filter(|(key, _)| !CONNECTION_KEYS.contains(&key.as_str()));
        kept.map(|(key, value)| (key.clone(), value.clone())).collect()
    }

    fn build(&self, _key: &str) -> anyhow::Result<Arc<dyn Potential>> {
        let settings = ServerSettings {
            address: self.address(),
            clients: self.clients,
            command: self.command.clone(),
            connect_timeout_s: self.connect_timeout_s,
            response_timeout_s: self.response_timeout_s,
        };
        Ok(Arc::new(SocketPotential { settings, server: Mutex::new(ServerState::NotStarted) }))
    }
}

/// An i-PI server as a potential; started at the first evaluation.
pub struct SocketPotential {
    settings: ServerSettings,
    server: Mutex<ServerState>,
}

enum ServerState {
    NotStarted,
    Running(Arc<Server>),
    /// Starting failed; every later evaluation fails with the same reason instead of waiting again.
    Failed(String),
}

impl SocketPotential {
    fn error(&self, reason: String) -> EvaluationError {
        EvaluationError { potential: self.name().to_string(), reason }
    }

    /// The running server, started on first use.
    fn server(&self) -> Result<Arc<Server>, EvaluationError> {
        let mut state = self.server.lock().map_err(|_| self.error("a thread panicked while starting".into()))?;
        match &*state {
            ServerState::Running(server) => return Ok(server.clone()),
            ServerState::Failed(reason) => return Err(self.error(reason.clone())),
            ServerState::NotStarted => {}
        }
        match Server::start(&self.settings) {
            Ok(server) => {
                let server = Arc::new(server);
                *state = ServerState::Running(server.clone());
                Ok(server)
            }
            Err(reason) => {
                *state = ServerState::Failed(reason.clone());
                Err(self.error(reason))
            }
        }
    }
}

impl Potential for SocketPotential {
    fn name(&self) -> &str {
        "socket"
    }

    fn cutoff(&self) -> f64 {
        UNUSED_CUTOFF_A
    }

    /// Every element: the client decides what it can compute and fails otherwise.
    fn species(&self) -> Vec<u8> {
        (1..=118).collect()
    }

    fn compute(&self, system: &System, _neighbors: &NeighborList) -> EvaluationResult {
        let reply = self.server()?.evaluate(&request(system)).map_err(|reason| self.error(reason))?;
        Ok(evaluation(reply))
    }
}

/// The configuration in the units and layout of the wire, with the INIT string that describes its atoms.
fn request(system: &System) -> Request {
    let matrix = system.cell.matrix();
    let inverse = matrix.try_inverse().unwrap_or_else(Matrix3::zeros);
    let mut cell_bohr = [0.0; 9];
    let mut inverse_cell_per_bohr = [0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            cell_bohr[3 * i + j] = matrix[(j, i)] / ASE_BOHR_IN_A;
            inverse_cell_per_bohr[3 * i + j] = inverse[(j, i)] * ASE_BOHR_IN_A;
        }
    }
    let positions_bohr = system.positions.iter().flat_map(|r| [r.x, r.y, r.z]).map(|x| x / ASE_BOHR_IN_A).collect();
    Request { cell_bohr, inverse_cell_per_bohr, positions_bohr, init: description(system) }
}

/// The INIT string: `{"symbols": ["Li", …], "pbc": [true, true, true]}`, from which a client that can change
/// its atoms (scripts/ipi_ase_client.py) rebuilds them when a stage removes one; other clients ignore it.
fn description(system: &System) -> Vec<u8> {
    let symbols: Vec<&str> = (0..system.len()).map(|i| system.symbol(i)).collect();
    serde_json::json!({ "symbols": symbols, "pbc": system.cell.periodic() }).to_string().into_bytes()
}

/// The reply in eV and Å. A virial of nine exact zeros is what a client that computes no stress sends (ASE's
/// `SocketClient.run` by default): the evaluation then says it has none.
fn evaluation(reply: Reply) -> Evaluation {
    let force_unit = ASE_HARTREE_IN_EV / ASE_BOHR_IN_A;
    let forces =
        reply.forces_ha_per_bohr.chunks_exact(3).map(|f| Vector3::new(f[0], f[1], f[2]) * force_unit).collect();
    let has_virial = reply.virial_ha.iter().any(|&w| w != 0.0);
    Evaluation {
        energy: reply.energy_ha * ASE_HARTREE_IN_EV,
        forces,
        virial: Matrix3::from_row_slice(&reply.virial_ha) * ASE_HARTREE_IN_EV,
        has_virial,
        atom_energies: Vec::new(),
        extrapolation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::Cell;

    fn config(text: &str) -> SocketConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_cell_goes_out_with_lattice_vectors_as_columns_and_its_inverse() {
        let a = Vector3::new(4.0, 0.0, 0.0);
        let b = Vector3::new(1.0, 5.0, 0.0);
        let c = Vector3::new(0.5, 0.25, 6.0);
        let mut system = System::new(Cell::from_vectors(a, b, c).unwrap());
        system.push(3, Vector3::new(1.0, 2.0, 3.0));
        let request = request(&system);
        let h = Matrix3::from_row_slice(&request.cell_bohr) * ASE_BOHR_IN_A;
        assert_eq!(h.column(1), b.as_slice().into());
        let product =
            Matrix3::from_row_slice(&request.cell_bohr) * Matrix3::from_row_slice(&request.inverse_cell_per_bohr);
        assert!((product - Matrix3::identity()).norm() < 1e-14);
        assert_eq!(request.positions_bohr[2], 3.0 / ASE_BOHR_IN_A);
        assert_eq!(String::from_utf8(request.init).unwrap(), r#"{"pbc":[true,true,true],"symbols":["Li"]}"#);
    }

    #[test]
    fn a_zero_virial_means_no_stress() {
        let reply = |w: f64| Reply { energy_ha: -1.0, forces_ha_per_bohr: vec![1.0, 0.0, 0.0], virial_ha: [w; 9] };
        let without = evaluation(reply(0.0));
        assert!(!without.has_virial);
        assert_eq!(without.energy, -ASE_HARTREE_IN_EV);
        assert_eq!(without.forces[0].x, ASE_HARTREE_IN_EV / ASE_BOHR_IN_A);
        assert!(evaluation(reply(1e-300)).has_virial);
    }

    #[test]
    fn the_address_must_be_given_once() {
        let both = config("unix_socket = \"a.sock\"\ntcp_port = 3000");
        let error = both.validate("potential").unwrap_err();
        assert_eq!(error.key, "potential.tcp_port");
        assert!(config("").validate("potential").is_err());
        assert!(config("tcp_port = 31415").validate("potential").is_ok());
        let free_port = config("tcp_port = 0").validate("potential").unwrap_err();
        assert_eq!(free_port.key, "potential.tcp_port");
    }

    #[test]
    fn placeholders_must_match_the_address_and_counts_be_bounded() {
        let error = config("tcp_port = 3000\ncommand = [\"x\", \"{unix_socket}\"]").validate("potential").unwrap_err();
        assert_eq!((error.key.as_str(), error.value.as_str()), ("potential.command", "\"{unix_socket}\""));
        let error = config("unix_socket = \"a\"\ncommand = [\"x\", \"{tcp_port}\"]").validate("potential").unwrap_err();
        assert_eq!(error.value, "\"{tcp_port}\"");
        let error = config("tcp_port = 3000\nclients = 0").validate("potential").unwrap_err();
        assert_eq!((error.key.as_str(), error.expected.as_str()), ("potential.clients", "1 to 256"));
        let error = config("tcp_port = 3000\nresponse_timeout_s = -1").validate("potential").unwrap_err();
        assert_eq!(error.key, "potential.response_timeout_s");
        let long = format!("unix_socket = \"/{}\"", "x".repeat(120));
        assert_eq!(config(&long).validate("potential").unwrap_err().key, "potential.unix_socket");
    }

    #[test]
    fn relative_paths_are_relative_to_the_study_file() {
        let mut config = config("unix_socket = \"run/ipi.sock\"\ncommand = [\"python3\", \"{study_dir}/client.py\"]");
        config.resolve_paths(Path::new("/studies"));
        assert_eq!(config.unix_socket.unwrap(), Path::new("/studies/run/ipi.sock"));
        assert_eq!(config.command, ["python3", "/studies/client.py"]);
    }
}

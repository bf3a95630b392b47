//! The listening side of `kind = "socket"`: binds the address, starts the client commands, accepts every
//! client within the connection timeout, and lends a free client to each evaluation, so that k clients serve up
//! to k evaluations at once (the images of an NEB, the independent relaxations of a vacancy or migration stage).

use super::protocol::{Link, ProtocolError, Reply, Request, Transport};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long one read blocks before the deadline is checked again.
const POLL: Duration = Duration::from_millis(200);

/// The longest UNIX socket path the kernel accepts (`sun_path` holds 108 bytes with the terminating NUL).
pub const MAX_UNIX_PATH_BYTES: usize = 107;

/// Where clients connect.
#[derive(Clone, Debug, PartialEq)]
pub enum Address {
    /// A UNIX-domain socket file, created with mode 0600.
    Unix(PathBuf),
    /// A TCP port on 127.0.0.1 (0: any free port, passed to the client command as `{tcp_port}`).
    Tcp(u16),
}

/// What the server needs to start.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub address: Address,
    /// Clients to accept before the first evaluation.
    pub clients: usize,
    /// The client command, started once per client with `{unix_socket}`, `{tcp_port}` and `{client}` replaced;
    /// empty when clients are started by hand.
    pub command: Vec<String>,
    pub connect_timeout_s: f64,
    pub response_timeout_s: f64,
}

/// A connected client.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buffer),
            Stream::Tcp(s) => s.read(buffer),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(bytes),
            Stream::Tcp(s) => s.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

impl Transport for Stream {
    fn set_poll_interval(&self, interval: Duration) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_poll_interval(interval),
            Stream::Tcp(s) => s.set_poll_interval(interval),
        }
    }
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    /// The next waiting client, if any (the listener does not block).
    fn accept(&self) -> io::Result<Option<Stream>> {
        let accepted = match self {
            Listener::Unix(l) => l.accept().map(|(s, _)| s.set_nonblocking(false).map(|()| Stream::Unix(s))),
            Listener::Tcp(l) => l
                .accept()
                .map(|(s, _)| s.set_nonblocking(false).and_then(|()| s.set_nodelay(true)).map(|()| Stream::Tcp(s))),
        };
        match accepted {
            Ok(stream) => stream.map(Some),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One connected client and the number it is named by in messages (1-based, in order of connection).
struct Client {
    number: usize,
    link: Link<Stream>,
}

/// The clients not busy with an evaluation.
struct Pool {
    state: Mutex<PoolState>,
    returned: Condvar,
}

struct PoolState {
    free: Vec<Client>,
    /// Clients neither free nor failed.
    busy: usize,
}

/// A running server: its clients, the processes it started, the socket file it removes when dropped.
pub struct Server {
    pool: Pool,
    total: usize,
    address: String,
    processes: Mutex<Vec<Child>>,
    socket_file: Option<PathBuf>,
}

impl Server {
    /// Binds, starts the client commands and waits until every client has connected.
    pub fn start(settings: &ServerSettings) -> Result<Server, String> {
        let (listener, address, port, socket_file) = bind(&settings.address)?;
        let mut server = Server {
            pool: Pool { state: Mutex::new(PoolState { free: Vec::new(), busy: 0 }), returned: Condvar::new() },
            total: settings.clients,
            address,
            processes: Mutex::new(Vec::new()),
            socket_file,
        };
        if !settings.command.is_empty() {
            server.launch(settings, port)?;
        }
        let streams = server.accept_all(&listener, settings)?;
        let mut free = Vec::with_capacity(streams.len());
        for (k, stream) in streams.into_iter().enumerate() {
            let link = Link::new(stream, POLL, settings.response_timeout_s)
                .map_err(|e| format!("cannot set up the connection of client {}: {e}", k + 1))?;
            free.push(Client { number: k + 1, link });
        }
        free.reverse();
        server.pool.state.get_mut().expect("not shared yet").free = free;
        Ok(server)
    }

    /// Evaluates `request` on the first free client. A client that fails is never used again.
    pub fn evaluate(&self, request: &Request) -> Result<Reply, String> {
        let mut client = self.checkout()?;
        match client.link.evaluate(request) {
            Ok(reply) => {
                self.checkin(client);
                Ok(reply)
            }
            Err(error) => {
                self.retire();
                Err(self.describe_failure(client.number, &error))
            }
        }
    }

    fn checkout(&self) -> Result<Client, String> {
        let mut state = self.pool.state.lock().map_err(|_| "a client thread panicked".to_string())?;
        loop {
            if let Some(client) = state.free.pop() {
                state.busy += 1;
                return Ok(client);
            }
            if state.busy == 0 {
                return Err(format!("every one of the {} clients on {} has failed", self.total, self.address));
            }
            state = self.pool.returned.wait(state).map_err(|_| "a client thread panicked".to_string())?;
        }
    }

    fn checkin(&self, client: Client) {
        if let Ok(mut state) = self.pool.state.lock() {
            state.busy -= 1;
            state.free.push(client);
        }
        self.pool.returned.notify_one();
    }

    fn retire(&self) {
        if let Ok(mut state) = self.pool.state.lock() {
            state.busy -= 1;
        }
        self.pool.returned.notify_all();
    }

    /// `error`, naming the client, the address and any client process that has exited.
    fn describe_failure(&self, number: usize, error: &ProtocolError) -> String {
        let exited = self.exited_processes();
        let exited = if exited.is_empty() { String::new() } else { format!(" ({})", exited.join("; ")) };
        format!("client {number} of {} on {}: {error}{exited}", self.total, self.address)
    }

    /// One line per started client process that has exited, with its pid and status.
    fn exited_processes(&self) -> Vec<String> {
        let Ok(mut processes) = self.processes.lock() else {
            return Vec::new();
        };
        processes
            .iter_mut()
            .enumerate()
            .filter_map(|(k, child)| match child.try_wait() {
                Ok(Some(status)) => Some(format!("client process {} (pid {}) {}", k + 1, child.id(), exit(status))),
                _ => None,
            })
            .collect()
    }

    /// Starts `settings.command` once per client, its standard output sent to mdrun's standard error.
    fn launch(&mut self, settings: &ServerSettings, port: Option<u16>) -> Result<(), String> {
        for client in 1..=settings.clients {
            let arguments = client_command(&settings.command, &settings.address, port, client);
            let output =
                io::stderr().as_fd().try_clone_to_owned().map_err(|e| format!("cannot pass on standard error: {e}"))?;
            let child = Command::new(&arguments[0])
                .args(&arguments[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::from(output))
                .spawn()
                .map_err(|e| format!("cannot start the client command {:?} (potential.command): {e}", arguments))?;
            self.processes.get_mut().expect("not shared yet").push(child);
        }
        Ok(())
    }

    /// Accepts `settings.clients` connections within `connect_timeout_s`, failing early when a started client
    /// process exits first.
    fn accept_all(&mut self, listener: &Listener, settings: &ServerSettings) -> Result<Vec<Stream>, String> {
        let deadline = Instant::now() + Duration::from_secs_f64(settings.connect_timeout_s);
        let mut streams = Vec::new();
        while streams.len() < settings.clients {
            match listener.accept() {
                Ok(Some(stream)) => streams.push(stream),
                Ok(None) => {
                    let exited = self.exited_processes();
                    if !exited.is_empty() {
                        return Err(format!(
                            "{} before all clients connected to {} ({} of {} did): its output is above",
                            exited.join("; "),
                            self.address,
                            streams.len(),
                            settings.clients
                        ));
                    }
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "{} of {} clients connected to {} within {} s (potential.connect_timeout_s)",
                            streams.len(),
                            settings.clients,
                            self.address,
                            settings.connect_timeout_s
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(format!("cannot accept a client on {}: {e}", self.address)),
            }
        }
        Ok(streams)
    }
}

impl Drop for Server {
    /// Sends EXIT to every client still connected, gives started processes 5 s to end, then kills them, and
    /// removes the socket file.
    fn drop(&mut self) {
        if let Ok(state) = self.pool.state.get_mut() {
            for client in &mut state.free {
                let _ = client.link.exit();
            }
            state.free.clear();
        }
        if let Ok(processes) = self.processes.get_mut() {
            let deadline = Instant::now() + Duration::from_secs(5);
            for child in processes.iter_mut() {
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if matches!(child.try_wait(), Ok(None)) {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        if let Some(path) = &self.socket_file {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// How a process ended, in words.
fn exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => format!("ended ({status})"),
    }
}

/// The client command with its placeholders replaced.
pub fn client_command(command: &[String], address: &Address, port: Option<u16>, client: usize) -> Vec<String> {
    let socket = match address {
        Address::Unix(path) => path.display().to_string(),
        Address::Tcp(_) => String::new(),
    };
    let port = port.map(|p| p.to_string()).unwrap_or_default();
    command
        .iter()
        .map(|a| {
            a.replace("{unix_socket}", &socket).replace("{tcp_port}", &port).replace("{client}", &client.to_string())
        })
        .collect()
}

/// The bound listener, the address in words, the TCP port and the socket file to remove at the end.
fn bind(address: &Address) -> Result<(Listener, String, Option<u16>, Option<PathBuf>), String> {
    match address {
        Address::Unix(path) => {
            let listener = bind_unix(path)?;
            Ok((Listener::Unix(listener), format!("UNIX socket {}", path.display()), None, Some(path.clone())))
        }
        Address::Tcp(port) => {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, *port))
                .map_err(|e| format!("cannot listen on 127.0.0.1:{port} (potential.tcp_port): {e}"))?;
            let port = listener.local_addr().map_err(|e| format!("cannot read the bound TCP port: {e}"))?.port();
            listener.set_nonblocking(true).map_err(|e| format!("cannot set up 127.0.0.1:{port}: {e}"))?;
            Ok((Listener::Tcp(listener), format!("127.0.0.1:{port}"), Some(port), None))
        }
    }
}

/// Binds a UNIX socket at `path` with mode 0600. A socket file left by an earlier run is replaced; a socket
/// another server is listening on, a symbolic link or any other file is refused.
fn bind_unix(path: &Path) -> Result<UnixListener, String> {
    let shown = path.display();
    if path.as_os_str().len() > MAX_UNIX_PATH_BYTES {
        return Err(format!(
            "potential.unix_socket = \"{shown}\" is {} bytes long; UNIX socket paths hold at most {MAX_UNIX_PATH_BYTES}: \
             give a shorter path",
            path.as_os_str().len()
        ));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create the folder of {shown}: {e}"))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(format!("{shown}: another server is listening on this socket (potential.unix_socket)"));
            }
            std::fs::remove_file(path).map_err(|e| format!("cannot remove the stale socket {shown}: {e}"))?;
        }
        Ok(meta) => {
            let kind = if meta.file_type().is_symlink() { "a symbolic link" } else { "not a socket" };
            return Err(format!("{shown} exists and is {kind}: potential.unix_socket must name a new file"));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot inspect {shown}: {e}")),
    }
    let listener = UnixListener::bind(path).map_err(|e| format!("cannot listen on {shown}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot make {shown} private (mode 0600): {e}"))?;
    listener.set_nonblocking(true).map_err(|e| format!("cannot set up {shown}: {e}"))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(address: Address, clients: usize) -> ServerSettings {
        ServerSettings { address, clients, command: Vec::new(), connect_timeout_s: 0.5, response_timeout_s: 5.0 }
    }

    #[test]
    fn the_socket_file_is_private_and_removed_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipi.sock");
        let connector = {
            let path = path.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    if let Ok(stream) = UnixStream::connect(&path) {
                        return stream;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                panic!("no socket");
            })
        };
        let server = Server::start(&settings(Address::Unix(path.clone()), 1)).unwrap();
        let _client = connector.join().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(server);
        assert!(!path.exists());
    }

    #[test]
    fn a_symlink_or_regular_file_at_the_socket_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("ipi.sock");
        std::os::unix::fs::symlink("/tmp/elsewhere", &link).unwrap();
        let error = Server::start(&settings(Address::Unix(link.clone()), 1)).err().unwrap();
        assert!(
            error.ends_with("exists and is a symbolic link: potential.unix_socket must name a new file"),
            "{error}"
        );
        let file = dir.path().join("data.txt");
        std::fs::write(&file, "keep").unwrap();
        let error = Server::start(&settings(Address::Unix(file.clone()), 1)).err().unwrap();
        assert!(error.ends_with("exists and is not a socket: potential.unix_socket must name a new file"), "{error}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
    }

    #[test]
    fn too_few_clients_time_out_naming_the_count() {
        let error = Server::start(&settings(Address::Tcp(0), 2)).err().unwrap();
        assert!(error.starts_with("0 of 2 clients connected to 127.0.0.1:"), "{error}");
        assert!(error.ends_with("within 0.5 s (potential.connect_timeout_s)"), "{error}");
    }

    #[test]
    fn a_client_command_that_exits_is_reported_before_the_timeout() {
        let mut settings = settings(Address::Tcp(0), 1);
        settings.command = vec!["sh".into(), "-c".into(), "exit 3".into()];
        settings.connect_timeout_s = 30.0;
        let started = Instant::now();
        let error = Server::start(&settings).err().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(error.starts_with("client process 1 (pid "), "{error}");
        assert!(error.contains(") exited with status 3 before all clients connected to 127.0.0.1:"), "{error}");
    }

    #[test]
    fn placeholders_are_replaced_in_the_command() {
        let command: Vec<String> =
            ["client", "--socket={unix_socket}", "--port", "{tcp_port}", "-n{client}"].map(String::from).to_vec();
        let unix = client_command(&command, &Address::Unix("/run/x.sock".into()), None, 2);
        assert_eq!(unix, ["client", "--socket=/run/x.sock", "--port", "", "-n2"]);
        let tcp = client_command(&command, &Address::Tcp(0), Some(31415), 1);
        assert_eq!(tcp[3], "31415");
    }
}

//! The i-PI wire protocol, server side, as i-PI (`ipi/interfaces/sockets.py`) and ASE
//! (`ase/calculators/socketio.py`, `IPIProtocol`) speak it.
//!
//! Every message starts with a 12-byte ASCII header, space-padded. The server drives; one evaluation is
//!
//! ```text
//! server: STATUS                 client: NEEDINIT | READY
//! server: INIT i32 bead, i32 n, n bytes          (only after NEEDINIT; then STATUS again, client: READY)
//! server: POSDATA h[9], h⁻¹[9], i32 N, r[3N]     (f64, bohr and 1/bohr, row-major)
//! server: STATUS                 client: HAVEDATA
//! server: GETFORCE               client: FORCEREADY f64 E, i32 N, F[3N], W[9], i32 m, m bytes
//! ```
//!
//! and `EXIT` ends the client. Numbers are native-endian (little-endian on every machine this runs on),
//! in atomic units: bohr, hartree, hartree/bohr. `h` is the cell matrix whose **columns** are the lattice
//! vectors and `h⁻¹` its inverse, both row-major, as i-PI sends `cell.h` and `cell.ih` (ASE's server sends
//! `cell.T` and, for h⁻¹, its transpose; ASE and CP2K clients read only h). The virial W = −∂E/∂ε (hartree)
//! comes transposed (ASE's client sends `virial.T`); for the symmetric virial of a potential that is the same
//! matrix. Each 12-byte read, each number block, waits at most the response timeout, so nothing blocks forever.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// Length of every message header (bytes).
pub const HEADER_LEN: usize = 12;

/// The most bytes of free-form data after the virial that a client may send (64 MiB); more is refused
/// before anything is allocated.
pub const MAX_EXTRA_BYTES: usize = 64 << 20;

/// The messages of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    Status,
    NeedInit,
    Init,
    Ready,
    HaveData,
    PosData,
    GetForce,
    ForceReady,
    Exit,
}

impl Message {
    const ALL: [Message; 9] = [
        Message::Status,
        Message::NeedInit,
        Message::Init,
        Message::Ready,
        Message::HaveData,
        Message::PosData,
        Message::GetForce,
        Message::ForceReady,
        Message::Exit,
    ];

    /// The header text, without padding.
    pub fn name(self) -> &'static str {
        match self {
            Message::Status => "STATUS",
            Message::NeedInit => "NEEDINIT",
            Message::Init => "INIT",
            Message::Ready => "READY",
            Message::HaveData => "HAVEDATA",
            Message::PosData => "POSDATA",
            Message::GetForce => "GETFORCE",
            Message::ForceReady => "FORCEREADY",
            Message::Exit => "EXIT",
        }
    }

    /// The 12 header bytes: the name padded with spaces.
    pub fn header(self) -> [u8; HEADER_LEN] {
        let mut header = [b' '; HEADER_LEN];
        header[..self.name().len()].copy_from_slice(self.name().as_bytes());
        header
    }

    /// The message a header names (trailing spaces or NULs ignored), or `None` for anything else.
    pub fn parse(header: &[u8; HEADER_LEN]) -> Option<Message> {
        let end = header.iter().rposition(|&b| b != b' ' && b != 0).map_or(0, |i| i + 1);
        Message::ALL.into_iter().find(|m| m.name().as_bytes() == &header[..end])
    }
}

/// What went wrong in one exchange with a client.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    #[error("the client closed the connection {0}")]
    Closed(String),
    #[error("the client sent nothing for {seconds} s {waiting} (potential.response_timeout_s = {seconds})")]
    TimedOut { waiting: String, seconds: f64 },
    #[error("the client sent the header {header} {waiting}, which is not an i-PI message")]
    UnknownHeader { header: String, waiting: String },
    #[error("the client answered {got} {waiting}; expected {expected}")]
    Unexpected { got: &'static str, waiting: String, expected: String },
    #[error("the client sent {what} = {got}; expected {expected}")]
    BadValue { what: String, got: String, expected: String },
    #[error("{what} failed: {reason}")]
    Io { what: String, reason: String },
}

/// A byte stream to a client whose reads time out after a short poll interval, so that a read can give up at
/// a deadline.
pub trait Transport: Read + Write {
    /// Sets how long one `read` may block.
    fn set_poll_interval(&self, interval: Duration) -> io::Result<()>;
}

impl Transport for std::os::unix::net::UnixStream {
    fn set_poll_interval(&self, interval: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(interval))
    }
}

impl Transport for std::net::TcpStream {
    fn set_poll_interval(&self, interval: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(interval))
    }
}

/// One configuration to evaluate, in the units of the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// h with the lattice vectors as columns (bohr), row-major; zero for a cell without a box.
    pub cell_bohr: [f64; 9],
    /// h⁻¹ (1/bohr), row-major; zero for a cell without a box.
    pub inverse_cell_per_bohr: [f64; 9],
    /// x₁ y₁ z₁ x₂ … (bohr).
    pub positions_bohr: Vec<f64>,
    /// The INIT string sent when the client asks for one and was not sent this string before.
    pub init: Vec<u8>,
}

impl Request {
    fn atoms(&self) -> usize {
        self.positions_bohr.len() / 3
    }
}

/// A client's answer, in the units of the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub energy_ha: f64,
    /// Fx₁ Fy₁ Fz₁ Fx₂ … (hartree/bohr).
    pub forces_ha_per_bohr: Vec<f64>,
    /// The virial W (hartree), row-major, already transposed back.
    pub virial_ha: [f64; 9],
}

/// The server's end of one connection: sends requests, reads replies, gives up at a deadline.
pub struct Link<S: Transport> {
    stream: S,
    /// Seconds one reply may take.
    timeout_s: f64,
    /// The INIT string this client was last sent; asked again for the same, it gets one zero byte (as ASE's
    /// server sends), so that a structure is described to the client only when it changes.
    described: Option<Vec<u8>>,
}

impl<S: Transport> Link<S> {
    /// A link that polls every `poll` and allows `timeout_s` for each reply.
    pub fn new(stream: S, poll: Duration, timeout_s: f64) -> io::Result<Link<S>> {
        stream.set_poll_interval(poll)?;
        Ok(Link { stream, timeout_s, described: None })
    }

    /// One evaluation: STATUS (INIT if asked), POSDATA, STATUS, GETFORCE, and the checked reply.
    pub fn evaluate(&mut self, request: &Request) -> Result<Reply, ProtocolError> {
        match self.status("before sending the positions")? {
            Message::Ready => {}
            Message::NeedInit => {
                self.send_init(&request.init)?;
                self.expect_status(Message::Ready, "after INIT")?;
            }
            other => return Err(unexpected(other, "to STATUS before sending the positions", "READY or NEEDINIT")),
        }
        self.send_positions(request)?;
        self.expect_status(Message::HaveData, "after POSDATA")?;
        self.send(&Message::GetForce.header(), "sending GETFORCE")?;
        self.receive_forces(request.atoms())
    }

    /// Tells the client to stop.
    pub fn exit(&mut self) -> Result<(), ProtocolError> {
        self.send(&Message::Exit.header(), "sending EXIT")
    }

    fn status(&mut self, waiting: &str) -> Result<Message, ProtocolError> {
        self.send(&Message::Status.header(), "sending STATUS")?;
        self.receive_header(&format!("to STATUS {waiting}"))
    }

    fn expect_status(&mut self, expected: Message, waiting: &str) -> Result<(), ProtocolError> {
        match self.status(waiting)? {
            got if got == expected => Ok(()),
            got => Err(unexpected(got, &format!("to STATUS {waiting}"), expected.name())),
        }
    }

    fn send_init(&mut self, init: &[u8]) -> Result<(), ProtocolError> {
        let init = if self.described.as_deref() == Some(init) {
            &[0u8][..]
        } else {
            self.described = Some(init.to_vec());
            init
        };
        let mut message = Message::Init.header().to_vec();
        message.extend_from_slice(&0i32.to_ne_bytes());
        message.extend_from_slice(&(init.len() as i32).to_ne_bytes());
        message.extend_from_slice(init);
        self.send(&message, "sending INIT")
    }

    fn send_positions(&mut self, request: &Request) -> Result<(), ProtocolError> {
        let mut message = Vec::with_capacity(HEADER_LEN + 8 * (18 + request.positions_bohr.len()) + 4);
        message.extend_from_slice(&Message::PosData.header());
        for x in request.cell_bohr.iter().chain(&request.inverse_cell_per_bohr) {
            message.extend_from_slice(&x.to_ne_bytes());
        }
        message.extend_from_slice(&(request.atoms() as i32).to_ne_bytes());
        for x in &request.positions_bohr {
            message.extend_from_slice(&x.to_ne_bytes());
        }
        self.send(&message, "sending POSDATA")
    }

    fn receive_forces(&mut self, atoms: usize) -> Result<Reply, ProtocolError> {
        let waiting = "to GETFORCE";
        match self.receive_header(waiting)? {
            Message::ForceReady => {}
            other => return Err(unexpected(other, waiting, "FORCEREADY")),
        }
        let energy_ha = self.receive_f64s(1, "the energy")?[0];
        let count = self.receive_i32("the atom count")?;
        if count != atoms as i64 {
            return Err(bad_value("the atom count", count, &format!("{atoms}, the atoms mdrun sent")));
        }
        let forces_ha_per_bohr = self.receive_f64s(3 * atoms, "the forces")?;
        let transposed = self.receive_f64s(9, "the virial")?;
        let extra = self.receive_i32("the length of the extra data")?;
        if !(0..=MAX_EXTRA_BYTES as i64).contains(&extra) {
            return Err(bad_value("the length of the extra data", extra, &format!("0 to {MAX_EXTRA_BYTES} bytes")));
        }
        self.receive_bytes(extra as usize, "the extra data")?;
        check_finite("the energy", &[energy_ha], 1)?;
        check_finite("the force", &forces_ha_per_bohr, 3)?;
        check_finite("the virial", &transposed, 9)?;
        let virial_ha = [0, 3, 6, 1, 4, 7, 2, 5, 8].map(|k| transposed[k]);
        Ok(Reply { energy_ha, forces_ha_per_bohr, virial_ha })
    }

    fn receive_header(&mut self, waiting: &str) -> Result<Message, ProtocolError> {
        let mut header = [0u8; HEADER_LEN];
        self.receive_into(&mut header, &format!("while mdrun waited for the answer {waiting}"))?;
        Message::parse(&header)
            .ok_or_else(|| ProtocolError::UnknownHeader { header: printable(&header), waiting: waiting.to_string() })
    }

    fn receive_i32(&mut self, what: &str) -> Result<i64, ProtocolError> {
        let mut bytes = [0u8; 4];
        self.receive_into(&mut bytes, &format!("in the middle of {what}"))?;
        Ok(i32::from_ne_bytes(bytes) as i64)
    }

    fn receive_f64s(&mut self, count: usize, what: &str) -> Result<Vec<f64>, ProtocolError> {
        let bytes = self.receive_bytes(8 * count, what)?;
        Ok(bytes.chunks_exact(8).map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes"))).collect())
    }

    fn receive_bytes(&mut self, count: usize, what: &str) -> Result<Vec<u8>, ProtocolError> {
        let mut bytes = vec![0u8; count];
        self.receive_into(&mut bytes, &format!("in the middle of {what}"))?;
        Ok(bytes)
    }

    /// Fills `buffer`, waiting at most the response timeout from the first byte asked for.
    fn receive_into(&mut self, buffer: &mut [u8], waiting: &str) -> Result<(), ProtocolError> {
        let deadline = Instant::now() + Duration::from_secs_f64(self.timeout_s);
        let mut filled = 0;
        while filled < buffer.len() {
            match self.stream.read(&mut buffer[filled..]) {
                Ok(0) => {
                    let got =
                        if filled == 0 { String::new() } else { format!(" after {filled} of {} bytes", buffer.len()) };
                    return Err(ProtocolError::Closed(format!("{waiting}{got}")));
                }
                Ok(n) => filled += n,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    if Instant::now() >= deadline {
                        return Err(ProtocolError::TimedOut { waiting: waiting.to_string(), seconds: self.timeout_s });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted) => {
                    return Err(ProtocolError::Closed(format!("{waiting} ({e})")));
                }
                Err(e) => return Err(ProtocolError::Io { what: format!("reading {waiting}"), reason: e.to_string() }),
            }
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8], what: &str) -> Result<(), ProtocolError> {
        self.stream.write_all(bytes).and_then(|()| self.stream.flush()).map_err(|e| match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
                ProtocolError::Closed(format!("while mdrun was {what}"))
            }
            _ => ProtocolError::Io { what: what.to_string(), reason: e.to_string() },
        })
    }
}

fn unexpected(got: Message, waiting: &str, expected: &str) -> ProtocolError {
    ProtocolError::Unexpected { got: got.name(), waiting: waiting.to_string(), expected: expected.to_string() }
}

fn bad_value(what: &str, got: impl std::fmt::Display, expected: &str) -> ProtocolError {
    ProtocolError::BadValue { what: what.to_string(), got: got.to_string(), expected: expected.to_string() }
}

/// The first value that is not finite, named by atom (1-based) and component when `stride` is 3.
fn check_finite(what: &str, values: &[f64], stride: usize) -> Result<(), ProtocolError> {
    let Some(k) = values.iter().position(|x| !x.is_finite()) else {
        return Ok(());
    };
    let name = match stride {
        3 => format!("{what} on atom {} ({})", k / 3 + 1, ["x", "y", "z"][k % 3]),
        9 => format!("{what} component {}{}", ["x", "y", "z"][k / 3], ["x", "y", "z"][k % 3]),
        _ => what.to_string(),
    };
    Err(bad_value(&name, values[k], "a finite number"))
}

/// A header as text when it is printable ASCII, else as bytes.
fn printable(header: &[u8]) -> String {
    if header.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("\"{}\"", String::from_utf8_lossy(header).trim_end())
    } else {
        format!("{header:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    /// A scripted client on the other end of a socket pair: reads what the server sends, then writes `reply`.
    fn client(reply: Vec<u8>, read: usize) -> (UnixStream, std::thread::JoinHandle<Vec<u8>>) {
        let (server, mut client) = UnixStream::pair().unwrap();
        let handle = std::thread::spawn(move || {
            client.write_all(&reply).unwrap();
            let mut received = vec![0u8; read];
            client.read_exact(&mut received).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            received
        });
        (server, handle)
    }

    fn link(stream: UnixStream, timeout_s: f64) -> Link<UnixStream> {
        Link::new(stream, Duration::from_millis(20), timeout_s).unwrap()
    }

    fn request() -> Request {
        Request {
            cell_bohr: [10.0, 0.0, 0.0, 0.0, 11.0, 0.0, 1.0, 0.0, 12.0],
            inverse_cell_per_bohr: [0.1, 0.0, 0.0, 0.0, 1.0 / 11.0, 0.0, 0.0, 0.0, 1.0 / 12.0],
            positions_bohr: vec![0.0, 0.0, 0.0, 1.0, 2.0, 3.0],
            init: b"{}".to_vec(),
        }
    }

    /// The reply of a client that has data: READY to the first STATUS, HAVEDATA to the second, then forces.
    fn reply(atoms: i32, forces: &[f64], extra: i32) -> Vec<u8> {
        let mut bytes = [Message::Ready.header(), Message::HaveData.header(), Message::ForceReady.header()].concat();
        bytes.extend_from_slice(&(-1.5f64).to_ne_bytes());
        bytes.extend_from_slice(&atoms.to_ne_bytes());
        forces.iter().for_each(|f| bytes.extend_from_slice(&f.to_ne_bytes()));
        (1..=9).for_each(|k| bytes.extend_from_slice(&(k as f64).to_ne_bytes()));
        bytes.extend_from_slice(&extra.to_ne_bytes());
        bytes.extend(std::iter::repeat_n(7u8, extra.clamp(0, 16) as usize));
        bytes
    }

    /// Bytes the server sends for one evaluation without INIT: STATUS, POSDATA (header, 18 + 3N doubles, count),
    /// STATUS, GETFORCE.
    fn sent_len(atoms: usize) -> usize {
        4 * HEADER_LEN + 8 * (18 + 3 * atoms) + 4
    }

    #[test]
    fn headers_are_space_padded_and_parsed_back() {
        assert_eq!(&Message::Status.header(), b"STATUS      ");
        assert_eq!(&Message::ForceReady.header(), b"FORCEREADY  ");
        for message in Message::ALL {
            assert_eq!(Message::parse(&message.header()), Some(message));
        }
        assert_eq!(Message::parse(b"READY\0\0\0\0\0\0\0"), Some(Message::Ready));
        assert_eq!(Message::parse(b"READYX      "), None);
    }

    #[test]
    fn one_evaluation_sends_positions_and_reads_transposed_virial() {
        let (stream, handle) = client(reply(2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 1), sent_len(2));
        let reply = link(stream, 5.0).evaluate(&request()).unwrap();
        assert_eq!(reply.energy_ha, -1.5);
        assert_eq!(reply.forces_ha_per_bohr, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(reply.virial_ha, [1.0, 4.0, 7.0, 2.0, 5.0, 8.0, 3.0, 6.0, 9.0]);
        let sent = handle.join().unwrap();
        assert_eq!(&sent[..HEADER_LEN], b"STATUS      ");
        assert_eq!(&sent[HEADER_LEN..2 * HEADER_LEN], b"POSDATA     ");
        let double = |k: usize| f64::from_ne_bytes(sent[2 * HEADER_LEN + 8 * k..][..8].try_into().unwrap());
        assert_eq!((double(0), double(6), double(9)), (10.0, 1.0, 0.1));
        let count_at = 2 * HEADER_LEN + 8 * 18;
        assert_eq!(i32::from_ne_bytes(sent[count_at..count_at + 4].try_into().unwrap()), 2);
        assert_eq!(f64::from_ne_bytes(sent[count_at + 4 + 8 * 5..][..8].try_into().unwrap()), 3.0);
        assert_eq!(&sent[sent.len() - HEADER_LEN..], b"GETFORCE    ");
    }

    #[test]
    fn a_client_that_needs_init_gets_the_init_string() {
        let mut bytes = Message::NeedInit.header().to_vec();
        bytes.extend(reply(2, &[0.0; 6], 0));
        let init_len = HEADER_LEN + 8 + 2;
        let (stream, handle) = client(bytes, sent_len(2) + init_len + HEADER_LEN);
        link(stream, 5.0).evaluate(&request()).unwrap();
        let sent = handle.join().unwrap();
        assert_eq!(&sent[HEADER_LEN..2 * HEADER_LEN], b"INIT        ");
        assert_eq!(&sent[2 * HEADER_LEN + 8..2 * HEADER_LEN + 10], b"{}");
        assert_eq!(&sent[2 * HEADER_LEN + 10..3 * HEADER_LEN + 10], b"STATUS      ");
    }

    fn failure(bytes: Vec<u8>, timeout_s: f64) -> String {
        let (server, mut client) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = client.write_all(&bytes);
            let _ = client.shutdown(std::net::Shutdown::Write);
            let mut sink = Vec::new();
            client.set_read_timeout(Some(Duration::from_secs_f64(timeout_s + 1.0))).unwrap();
            let _ = client.read_to_end(&mut sink);
        });
        let error = link(server, timeout_s).evaluate(&request()).unwrap_err().to_string();
        writer.join().unwrap();
        error
    }

    #[test]
    fn a_wrong_atom_count_is_refused_before_reading_forces() {
        let error = failure(reply(3, &[0.0; 9], 0), 5.0);
        assert_eq!(error, "the client sent the atom count = 3; expected 2, the atoms mdrun sent");
    }

    #[test]
    fn nan_and_infinite_forces_name_the_atom() {
        let error = failure(reply(2, &[0.0, 0.0, 0.0, 0.0, f64::NAN, 0.0], 0), 5.0);
        assert_eq!(error, "the client sent the force on atom 2 (y) = NaN; expected a finite number");
        let error = failure(reply(2, &[f64::INFINITY, 0.0, 0.0, 0.0, 0.0, 0.0], 0), 5.0);
        assert_eq!(error, "the client sent the force on atom 1 (x) = inf; expected a finite number");
    }

    #[test]
    fn a_negative_or_huge_extra_length_is_refused() {
        let error = failure(reply(2, &[0.0; 6], -4), 5.0);
        assert!(error.starts_with("the client sent the length of the extra data = -4"), "{error}");
        let error = failure(reply(2, &[0.0; 6], i32::MAX), 5.0);
        assert!(error.contains("= 2147483647; expected 0 to 67108864 bytes"), "{error}");
    }

    #[test]
    fn an_unknown_header_is_named() {
        let error = failure(b"HELLO WORLD!".to_vec(), 5.0);
        assert_eq!(
            error,
            "the client sent the header \"HELLO WORLD!\" to STATUS before sending the positions, which is not an i-PI message"
        );
    }

    #[test]
    fn an_unexpected_answer_is_named() {
        let error = failure(Message::HaveData.header().to_vec(), 5.0);
        assert_eq!(
            error,
            "the client answered HAVEDATA to STATUS before sending the positions; expected READY or NEEDINIT"
        );
    }

    #[test]
    fn a_truncated_header_is_a_closed_connection_with_the_bytes_received() {
        let error = failure(b"REA".to_vec(), 5.0);
        assert_eq!(
            error,
            "the client closed the connection while mdrun waited for the answer to STATUS before sending the \
             positions after 3 of 12 bytes"
        );
    }

    #[test]
    fn a_truncated_force_block_is_named() {
        let mut bytes = reply(2, &[0.0; 6], 0);
        bytes.truncate(3 * HEADER_LEN + 8 + 4 + 20);
        let error = failure(bytes, 5.0);
        assert_eq!(error, "the client closed the connection in the middle of the forces after 20 of 48 bytes");
    }

    #[test]
    fn a_client_that_hangs_times_out() {
        let (server, _client) = UnixStream::pair().unwrap();
        let started = Instant::now();
        let error = link(server, 0.3).evaluate(&request()).unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(
            error,
            "the client sent nothing for 0.3 s while mdrun waited for the answer to STATUS before sending the \
             positions (potential.response_timeout_s = 0.3)"
        );
    }
}

//! The checks one probe round makes, each over one address family and never falling back to
//! the other: A or AAAA lookup, TCP connect, TLS handshake, HTTP request, a large response
//! (Path MTU), and a Happy Eyeballs race between the families. Every socket is bound to a
//! source port in the probe range, so the sensor's capture can tell the probe's own traffic
//! from everything else (`live` and the offline commands tag it `autonomous`).
//!
//! Blocking sockets with timeouts, one thread per family and target: a round is a handful of
//! connections, and timings read straight off the system calls are what is measured.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What failed, or `Ok`: the outcome names of the records and the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed.
    Ok,
    /// Nothing came back in time (a silent drop).
    Timeout,
    /// RST, or ICMP port unreachable.
    Refused,
    /// An ICMP error ended the attempt (the detail names type, code and sender).
    IcmpUnreach,
    /// The sensor has no route, or no source address, for this family.
    NoRoute,
    /// The name does not exist.
    Nxdomain,
    /// The name exists but has no record of this type.
    Nodata,
    /// The resolver answered with another error code.
    Rcode,
    /// Data stopped coming (a large response: the Path-MTU black-hole signature).
    Stalled,
    /// The TLS handshake failed.
    Tls,
    /// The HTTP exchange failed, or the status is an error.
    Http,
    /// A failure that fits none of the above.
    Error,
    /// Not tested: an earlier phase of this family failed, or it does not apply.
    Skipped,
}

impl Outcome {
    /// The record's name.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Timeout => "timeout",
            Outcome::Refused => "refused",
            Outcome::IcmpUnreach => "icmp_unreach",
            Outcome::NoRoute => "no_route",
            Outcome::Nxdomain => "nxdomain",
            Outcome::Nodata => "nodata",
            Outcome::Rcode => "rcode",
            Outcome::Stalled => "stalled",
            Outcome::Tls => "tls_error",
            Outcome::Http => "http_error",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
        }
    }
}

/// A failed step: its outcome and a human explanation.
#[derive(Debug, Clone)]
pub struct Fail {
    /// Outcome.
    pub outcome: Outcome,
    /// Why, in words.
    pub detail: String,
}

impl Fail {
    fn new(outcome: Outcome, detail: impl Into<String>) -> Fail {
        Fail { outcome, detail: detail.into() }
    }
}

/// A connect or I/O error as an outcome. Linux reports ICMPv6 destination unreachable
/// (RFC 4443 type 1) to a connecting TCP socket as an errno, which loses the exact code:
/// codes 1 (administratively prohibited), 5 (source policy) and 6 (reject route) become
/// EACCES, codes 0, 2 and 3 EHOSTUNREACH, code 4 ECONNREFUSED; ICMPv4 likewise.
pub fn classify(e: &io::Error) -> Fail {
    use nix::errno::Errno;
    let errno = e.raw_os_error().map(Errno::from_raw);
    let (outcome, what) = match (e.kind(), errno) {
        (io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock, _) => (Outcome::Timeout, "no answer"),
        (_, Some(Errno::ECONNREFUSED)) => (Outcome::Refused, "refused (RST or port unreachable)"),
        (_, Some(Errno::EACCES | Errno::EPERM)) => {
            (Outcome::IcmpUnreach, "administratively prohibited (ICMP unreachable code 1, 5 or 6, or a local firewall)")
        }
        (_, Some(Errno::EHOSTUNREACH)) => {
            (Outcome::IcmpUnreach, "host unreachable (ICMP unreachable: no route or address unreachable)")
        }
        (_, Some(Errno::ENETUNREACH)) => (Outcome::NoRoute, "the sensor has no route for this family"),
        (_, Some(Errno::EADDRNOTAVAIL)) => (Outcome::NoRoute, "the sensor has no source address for this family"),
        (_, Some(Errno::ECONNRESET)) => (Outcome::Refused, "connection reset"),
        _ => (Outcome::Error, ""),
    };
    let detail = if what.is_empty() { e.to_string() } else { what.to_string() };
    Fail { outcome, detail }
}

/// The source ports the probe binds its sockets to (inclusive), and the next to try.
#[derive(Debug)]
pub struct Ports {
    /// First port.
    pub first: u16,
    /// Last port.
    pub last: u16,
    next: AtomicU32,
}

impl Ports {
    /// The range `first..=last`; tries start at a random point, so
    /// two probes rarely race for the same port.
    pub fn new(first: u16, last: u16) -> Arc<Ports> {
        let start = random_u32();
        Arc::new(Ports { first, last, next: AtomicU32::new(start) })
    }

    fn take(&self) -> u16 {
        let span = u32::from(self.last - self.first) + 1;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.first + (n % span) as u16
    }

    /// A socket of `ty` for `family`, bound to a free port of the range.
    fn socket(&self, family: u8, ty: Type, proto: Protocol) -> io::Result<Socket> {
        let span = usize::from(self.last - self.first) + 1;
        let mut last = io::Error::other("no free source port in the probe range");
        for _ in 0..span.min(64) {
            let (domain, any) = if family == 6 {
                (Domain::IPV6, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
            } else {
                (Domain::IPV4, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
            };
            let s = Socket::new(domain, ty, Some(proto))?;
            if family == 6 {
                s.set_only_v6(true)?;
            }
            // A port whose last connection is in TIME_WAIT can be bound again for another
            // peer; the kernel refuses only an identical 4-tuple (EADDRNOTAVAIL at connect).
            s.set_reuse_address(true)?;
            match s.bind(&SockAddr::from(SocketAddr::new(any, self.take()))) {
                Ok(()) => return Ok(s),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// A TCP connection to `to` within `timeout`, from a probe port.
    pub fn connect(&self, to: SocketAddr, timeout: Duration) -> Result<(TcpStream, Duration), Fail> {
        let family = if to.is_ipv6() { 6 } else { 4 };
        for _ in 0..3 {
            let s = self.socket(family, Type::STREAM, Protocol::TCP).map_err(|e| classify(&e))?;
            recverr(&s, family, true);
            let t0 = Instant::now();
            match s.connect_timeout(&SockAddr::from(to), timeout) {
                Ok(()) => {
                    let _ = s.set_tcp_nodelay(true);
                    recverr(&s, family, false);
                    return Ok((s.into(), t0.elapsed()));
                }
                Err(e) => {
                    if let Some(f) = icmp_error(&s) {
                        return Err(f);
                    }
                    // The 4-tuple is still in use from an earlier round: another port.
                    if e.raw_os_error() == Some(nix::errno::Errno::EADDRNOTAVAIL as i32) && t0.elapsed() < timeout {
                        continue;
                    }
                    return Err(classify(&e));
                }
            }
        }
        Err(Fail::new(Outcome::Error, "no usable source port in the probe range"))
    }
}

/// IP_RECVERR / IPV6_RECVERR while connecting. With it the kernel queues the ICMP error with
/// its type, code and sender, and wakes the connect at the first one; without it, an error
/// that arrives while the connect call is still in the kernel (a near firewall answers within
/// microseconds) is kept as a soft error until the SYN is sent again a second later. Off once
/// connected, where it would make soft errors hard.
fn recverr(s: &Socket, family: u8, on: bool) {
    use nix::sys::socket::{setsockopt, sockopt};
    let _ =
        if family == 6 { setsockopt(s, sockopt::Ipv6RecvErr, &on) } else { setsockopt(s, sockopt::Ipv4RecvErr, &on) };
}

/// The ICMP error queued on `s` (see [`recverr`]) as a failure naming type, code and sender.
fn icmp_error(s: &Socket) -> Option<Fail> {
    use nix::libc;
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};
    use std::os::fd::AsRawFd;
    let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let mut buf = [0u8; 512];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
    let msg = recvmsg::<SockaddrStorage>(s.as_raw_fd(), &mut iov, Some(cmsg.as_mut_slice()), flags).ok()?;
    for c in msg.cmsgs().ok()? {
        let (v6, e, from) = match c {
            ControlMessageOwned::Ipv6RecvErr(e, from) if e.ee_origin == libc::SO_EE_ORIGIN_ICMP6 => {
                (true, e, from.map(|a| IpAddr::from(a.sin6_addr.s6_addr)))
            }
            ControlMessageOwned::Ipv4RecvErr(e, from) if e.ee_origin == libc::SO_EE_ORIGIN_ICMP => {
                (false, e, from.map(|a| IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes())))
            }
            _ => continue,
        };
        return Some(icmp_fail(v6, e.ee_type, e.ee_code, from));
    }
    None
}

/// An ICMP or ICMPv6 error as a failure (RFC 4443 §3.1, RFC 792, RFC 1812 §5.2.7.1).
pub fn icmp_fail(v6: bool, ty: u8, code: u8, from: Option<IpAddr>) -> Fail {
    let (outcome, what): (Outcome, &str) = match (v6, ty, code) {
        (true, 1, 0) => (Outcome::IcmpUnreach, "no route to destination"),
        (true, 1, 1) => (Outcome::IcmpUnreach, "administratively prohibited"),
        (true, 1, 2) => (Outcome::IcmpUnreach, "beyond scope of source address"),
        (true, 1, 3) => (Outcome::IcmpUnreach, "address unreachable"),
        (true, 1, 4) => (Outcome::Refused, "port unreachable"),
        (true, 1, 5) => (Outcome::IcmpUnreach, "source address failed ingress/egress policy"),
        (true, 1, 6) => (Outcome::IcmpUnreach, "reject route to destination"),
        (true, 3, _) => (Outcome::IcmpUnreach, "hop limit exceeded (a routing loop?)"),
        (true, 4, _) => (Outcome::IcmpUnreach, "parameter problem"),
        (false, 3, 0) => (Outcome::IcmpUnreach, "network unreachable"),
        (false, 3, 1) => (Outcome::IcmpUnreach, "host unreachable"),
        (false, 3, 3) => (Outcome::Refused, "port unreachable"),
        (false, 3, 9 | 10 | 13) => (Outcome::IcmpUnreach, "administratively prohibited"),
        (false, 11, _) => (Outcome::IcmpUnreach, "TTL exceeded (a routing loop?)"),
        _ => (Outcome::IcmpUnreach, "ICMP error"),
    };
    let proto = if v6 { "ICMPv6" } else { "ICMP" };
    let from = from.map_or(String::new(), |a| format!(" from {a}"));
    Fail { outcome, detail: format!("{what} ({proto} type {ty} code {code}{from})") }
}

/// 32 random bits from the system's generator (query ids, the first source port tried).
fn random_u32() -> u32 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 4];
    // The system generator does not fail on Linux; a fixed value would only weaken the id.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    u32::from_ne_bytes(b)
}

/// An A or AAAA answer.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// Addresses of the asked type (CNAME chains followed by the resolver).
    pub addrs: Vec<IpAddr>,
    /// Time to the answer.
    pub elapsed: Duration,
    /// Whether the answer came over TCP (the UDP one was truncated).
    pub tcp: bool,
}

/// Looks `name` up with `qtype` (1 = A, 28 = AAAA) at `server`: one query per type, so each
/// family's answer (or failure) is its own.
pub fn lookup(ports: &Ports, server: SocketAddr, name: &str, qtype: u16, timeout: Duration) -> Result<Lookup, Fail> {
    ask(ports, server, name, qtype, timeout).map_err(|f| match f.outcome {
        Outcome::Nxdomain | Outcome::Nodata | Outcome::Rcode => f,
        _ => Fail::new(f.outcome, format!("resolver {server}: {}", f.detail)),
    })
}

fn ask(ports: &Ports, server: SocketAddr, name: &str, qtype: u16, timeout: Duration) -> Result<Lookup, Fail> {
    let fam = if server.is_ipv6() { 6 } else { 4 };
    let t0 = Instant::now();
    // Unpredictable, so an answer forged off-path has to guess it.
    let id = random_u32() as u16;
    let q = engine::enrich::ptr::query(id, name, qtype);
    let sock: UdpSocket = ports.socket(fam, Type::DGRAM, Protocol::UDP).map_err(|e| classify(&e))?.into();
    sock.connect(server).map_err(|e| classify(&e))?;
    let mut buf = vec![0u8; 4096];
    // Two sends within the timeout, as a stub resolver retries.
    let mut answer = None;
    'tries: for attempt in 0..2u32 {
        sock.send(&q).map_err(|e| classify(&e))?;
        let until = t0 + timeout * (attempt + 1) / 2;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(left)).map_err(|e| classify(&e))?;
            match sock.recv(&mut buf) {
                Ok(n) => {
                    let Ok(m) = wire::dns::Message::parse(&buf[..n]) else { continue };
                    if m.id() == id && m.is_response() {
                        answer = Some(buf[..n].to_vec());
                        break 'tries;
                    }
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => break,
                Err(e) => return Err(classify(&e)),
            }
        }
    }
    let Some(mut msg) = answer else {
        return Err(Fail::new(Outcome::Timeout, format!("no answer in {}", secs(timeout))));
    };
    let mut tcp = false;
    if wire::dns::Message::parse(&msg).is_ok_and(|m| m.truncated()) {
        let left = timeout.saturating_sub(t0.elapsed()).max(Duration::from_millis(200));
        msg = lookup_tcp(ports, server, &q, left)?;
        tcp = true;
    }
    let elapsed = t0.elapsed();
    let m = wire::dns::Message::parse(&msg).map_err(|e| Fail::new(Outcome::Error, format!("bad answer: {e}")))?;
    match m.rcode() {
        0 => {}
        3 => return Err(Fail::new(Outcome::Nxdomain, format!("{name}: no such name (NXDOMAIN)"))),
        rc => return Err(Fail::new(Outcome::Rcode, format!("{name}: resolver answered {}", rcode_name(rc)))),
    }
    let mut addrs = Vec::new();
    for r in m.records().flatten().filter(|r| r.section == 1) {
        match (qtype, r.a(), r.aaaa()) {
            (1, Some(a), _) => addrs.push(IpAddr::from(a)),
            (28, _, Some(a)) => addrs.push(IpAddr::from(a)),
            _ => {}
        }
    }
    if addrs.is_empty() {
        let t = if qtype == 28 { "AAAA" } else { "A" };
        return Err(Fail::new(Outcome::Nodata, format!("{name} has no {t} record")));
    }
    Ok(Lookup { addrs, elapsed, tcp })
}

fn lookup_tcp(ports: &Ports, server: SocketAddr, q: &[u8], timeout: Duration) -> Result<Vec<u8>, Fail> {
    let (mut s, _) = ports.connect(server, timeout)?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(q);
    s.write_all(&framed).map_err(|e| classify(&e))?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).map_err(|e| classify(&e))?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut msg).map_err(|e| classify(&e))?;
    Ok(msg)
}

fn rcode_name(rc: u8) -> String {
    match rc {
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        n => format!("rcode {n}"),
    }
}

/// Seconds with a unit, for messages.
pub fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// What a TLS handshake showed.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// TLSv1.3, TLSv1.2.
    pub version: String,
    /// The protocol the server chose.
    pub alpn: Option<String>,
    /// SHA-256 of the server's certificate (DER), hex: the identity compared across families.
    pub cert_sha256: String,
    /// Handshake time.
    pub elapsed: Duration,
}

/// A byte stream: plain TCP or TLS over it.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A TLS handshake with `server_name` over `tcp`, verified against `roots`.
pub fn tls(
    config: &Arc<rustls::ClientConfig>,
    server_name: &str,
    mut tcp: TcpStream,
    timeout: Duration,
) -> Result<(Box<dyn Stream>, TlsInfo), Fail> {
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
        .map_err(|e| Fail::new(Outcome::Tls, format!("{server_name:?} is not a TLS server name: {e}")))?;
    let mut conn = rustls::ClientConnection::new(config.clone(), name)
        .map_err(|e| Fail::new(Outcome::Tls, format!("TLS setup: {e}")))?;
    let _ = tcp.set_read_timeout(Some(timeout));
    let _ = tcp.set_write_timeout(Some(timeout));
    let t0 = Instant::now();
    while conn.is_handshaking() {
        if t0.elapsed() > timeout {
            return Err(Fail::new(Outcome::Timeout, "TLS handshake did not finish"));
        }
        match conn.complete_io(&mut tcp) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(Fail::new(Outcome::Tls, format!("TLS handshake: {e}")));
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(Fail::new(Outcome::Tls, "the server closed the connection during the TLS handshake"));
            }
            Err(e) => {
                let f = classify(&e);
                return Err(Fail::new(f.outcome, format!("TLS handshake: {}", f.detail)));
            }
        }
    }
    let elapsed = t0.elapsed();
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "?".into(),
    };
    let alpn = conn.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
    let cert_sha256 = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| hex(ring::digest::digest(&ring::digest::SHA256, c.as_ref()).as_ref()))
        .unwrap_or_default();
    let info = TlsInfo { version, alpn, cert_sha256, elapsed };
    Ok((Box::new(rustls::StreamOwned::new(conn, tcp)), info))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The client configuration: the system's trust store plus `extra` PEM files.
pub fn tls_config(extra: &[std::path::PathBuf]) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use anyhow::Context;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for c in native.certs {
        let _ = roots.add(c);
    }
    for p in extra {
        let mut n = 0;
        for c in rustls::pki_types::CertificateDer::pem_file_iter(p).with_context(|| format!("--ca {}", p.display()))? {
            roots
                .add(c.with_context(|| format!("--ca {}", p.display()))?)
                .with_context(|| format!("--ca {}", p.display()))?;
            n += 1;
        }
        if n == 0 {
            anyhow::bail!("--ca {}: no PEM certificate in it", p.display());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(c))
}

/// What an HTTP GET returned.
#[derive(Debug, Clone)]
pub struct HttpInfo {
    /// Status code.
    pub status: u16,
    /// Body bytes read.
    pub bytes: u64,
    /// Request sent to the end of the body.
    pub elapsed: Duration,
}

/// Most body bytes read: a large-response check needs far less, and a hostile server cannot
/// keep the probe reading forever.
const MAX_BODY: u64 = 64 << 20;
/// Most header bytes accepted.
const MAX_HEAD: usize = 64 << 10;

/// `GET path` with `Host: host` over `stream`; the body is read (and counted, not kept) until
/// its length, the end of the connection, or `stall` without data, which is `Stalled`.
pub fn http_get(
    stream: &mut dyn Stream,
    tcp: &TcpStream,
    host: &str,
    path: &str,
    stall: Duration,
    timeout: Duration,
) -> Result<HttpInfo, Fail> {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: v6watch-probe/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let _ = tcp.set_write_timeout(Some(timeout));
    let _ = tcp.set_read_timeout(Some(timeout));
    let t0 = Instant::now();
    stream.write_all(req.as_bytes()).map_err(|e| classify(&e))?;
    let _ = stream.flush();
    // The head, byte-bounded.
    let mut head = Vec::with_capacity(1024);
    let mut buf = vec![0u8; 64 << 10];
    let body_start = loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(Fail::new(Outcome::Http, "the server closed the connection before answering")),
            Ok(n) => n,
            Err(e) => {
                let f = classify(&e);
                return Err(Fail::new(f.outcome, format!("waiting for the response: {}", f.detail)));
            }
        };
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > MAX_HEAD {
            return Err(Fail::new(Outcome::Http, "response head over 64 KiB"));
        }
    };
    let text = String::from_utf8_lossy(&head[..body_start]);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .strip_prefix("HTTP/")
        .and_then(|r| r.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            Fail::new(
                Outcome::Http,
                format!("not an HTTP response: {:?}", engine::analyze::indicators::shorten(status_line, 60)),
            )
        })?;
    let length = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<u64>().ok()).flatten()
    });
    let mut bytes = (head.len() - body_start) as u64;
    let _ = tcp.set_read_timeout(Some(stall));
    while length.is_none_or(|l| bytes < l) && bytes < MAX_BODY {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes += n as u64,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(Fail::new(
                    Outcome::Stalled,
                    format!(
                        "no data for {} after {bytes} of {} body bytes",
                        secs(stall),
                        length.map_or("?".into(), |l| l.to_string())
                    ),
                ));
            }
            // A TLS close without close_notify after the whole body is the end, not an error.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(classify(&e)),
        }
    }
    if let Some(l) = length {
        if bytes < l.min(MAX_BODY) {
            return Err(Fail::new(Outcome::Http, format!("the connection ended after {bytes} of {l} body bytes")));
        }
    }
    Ok(HttpInfo { status, bytes, elapsed: t0.elapsed() })
}

/// The Happy Eyeballs race (RFC 8305 §5): IPv6 first, IPv4 after `head_start` unless IPv6 has
/// connected; the first connection wins. Returns the winner's family and time, or `None`; an
/// error when a connection attempt's thread cannot be started (a task limit), as the race
/// cannot be run then.
pub fn race(
    ports: &Arc<Ports>,
    v6: Option<SocketAddr>,
    v4: Option<SocketAddr>,
    head_start: Duration,
    timeout: Duration,
) -> std::io::Result<Option<(u8, Duration)>> {
    let (tx, rx) = crossbeam_channel::unbounded::<(u8, bool)>();
    let t0 = Instant::now();
    let attempt = |fam: u8, a: SocketAddr| -> std::io::Result<()> {
        let (tx, ports) = (tx.clone(), ports.clone());
        std::thread::Builder::new().name(format!("v6watch-race{fam}")).spawn(move || {
            let _ = tx.send((fam, ports.connect(a, timeout).is_ok()));
        })?;
        Ok(())
    };
    let mut pending = 0;
    if let Some(a) = v6 {
        attempt(6, a)?;
        pending += 1;
    }
    let mut v4_started = false;
    let start_v4 = |v4_started: &mut bool, pending: &mut i32| -> std::io::Result<()> {
        if let (Some(a), false) = (v4, *v4_started) {
            *v4_started = true;
            attempt(4, a)?;
            *pending += 1;
        }
        Ok(())
    };
    if v6.is_none() {
        start_v4(&mut v4_started, &mut pending)?;
    }
    while pending > 0 {
        let wait = if v4_started { timeout + head_start } else { head_start.saturating_sub(t0.elapsed()) };
        match rx.recv_timeout(wait) {
            Ok((fam, true)) => return Ok(Some((fam, t0.elapsed()))),
            Ok((_, false)) => {
                pending -= 1;
                // A failed IPv6 attempt starts IPv4 at once (RFC 8305 §5).
                start_v4(&mut v4_started, &mut pending)?;
            }
            Err(_) if !v4_started => start_v4(&mut v4_started, &mut pending)?,
            Err(_) => return Ok(None),
        }
    }
    Ok(None)
}

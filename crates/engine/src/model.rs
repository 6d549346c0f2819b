//! The owned vocabulary every stage after `flow` shares: flow records and capture statistics.
//! Nothing here borrows packet bytes, so records outlive the buffers they came from.

use crate::decode::{Addr, TunnelKind};
use serde::{Deserialize, Serialize};

/// Direction of a packet relative to its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the originator.
    Orig,
    /// From the responder.
    Resp,
}

/// Where a flow stands relative to its sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The sensor initiated it.
    Outbound,
    /// A remote host initiated it (for a honeypot: unsolicited).
    Inbound,
    /// Link-local or multicast infrastructure (ND, RA, MLD, DHCP, mDNS, LLMNR...).
    Local,
    /// Neither end is the sensor.
    Transit,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Outbound, Role::Inbound, Role::Local, Role::Transit];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Outbound => "outbound",
            Role::Inbound => "inbound",
            Role::Local => "local",
            Role::Transit => "transit",
        }
    }
}

/// Per-direction counters of a flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SideCounters {
    /// Packets.
    pub pkts: u64,
    /// Payload bytes (TCP: new sequence space, not retransmissions).
    pub bytes: u64,
    /// IP-level bytes (headers included).
    pub ip_bytes: u64,
    /// Payload bytes never seen (sequence gaps).
    pub missed_bytes: u64,
    /// Retransmitted segments.
    pub retransmits: u64,
    /// Zero-window advertisements.
    pub zero_windows: u64,
}

/// An ICMP error that quoted one of this flow's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IcmpError {
    /// Capture time (ns) of the first such error.
    #[serde(serialize_with = "crate::model::epoch")]
    pub ts: i64,
    /// 4 or 6 (ICMPv4 / ICMPv6).
    pub version: u8,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// Who sent the error.
    #[serde(serialize_with = "ser_addr")]
    pub from: Addr,
    /// MTU announced by Packet Too Big / Fragmentation Needed, else 0.
    pub mtu: u32,
    /// How many errors of this kind quoted the flow.
    pub count: u32,
}

/// The segment a TCP side retransmitted most often without progress (same sequence number and
/// length): the footprint of a Path-MTU black hole seen from the sender.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stall {
    /// Sequence number of the segment.
    pub seq: u32,
    /// Payload length of the segment.
    pub len: u32,
    /// IP length of the segment (headers included).
    pub ip_len: u32,
    /// Times it was sent (first transmission included).
    pub sends: u32,
    /// Capture time of the first retransmission, ns (the original send is not remembered).
    #[serde(rename = "first_ts_ns")]
    pub first_ts: i64,
    /// Capture time of the last retransmission, ns.
    #[serde(rename = "last_ts_ns")]
    pub last_ts: i64,
    /// The peer acknowledged the segment, or new data went through, afterwards (the sender
    /// recovered, e.g. by resending it in smaller segments).
    #[serde(rename = "recovered_ts_ns")]
    pub recovered_ts: Option<i64>,
}

/// Handshake and progress facts of a TCP flow that IPv6-health rules need (DOMAIN.md §3.2 P4,
/// §3.3 b, c, e). Times are capture times in ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpFacts {
    /// First SYN from the originator.
    #[serde(rename = "syn_ts_ns")]
    pub syn_ts: Option<i64>,
    /// SYNs the originator sent with the same ISN (more than one: retransmitted).
    pub syns: u32,
    /// The originator's SYN carried MSS, SACK-permitted, timestamps and window scale (a real
    /// stack, not a stateless scanner).
    pub syn_full_options: bool,
    /// First SYN-ACK from the responder.
    #[serde(rename = "synack_ts_ns")]
    pub synack_ts: Option<i64>,
    /// The originator's ACK completing the handshake.
    #[serde(rename = "ack_ts_ns")]
    pub ack_ts: Option<i64>,
    /// First RST from the originator.
    #[serde(rename = "orig_rst_ts_ns")]
    pub orig_rst_ts: Option<i64>,
    /// First RST from the responder.
    #[serde(rename = "resp_rst_ts_ns")]
    pub resp_rst_ts: Option<i64>,
    /// First and last payload from the originator.
    #[serde(rename = "orig_data_ns")]
    pub orig_data: Option<(i64, i64)>,
    /// First and last payload from the responder.
    #[serde(rename = "resp_data_ns")]
    pub resp_data: Option<(i64, i64)>,
    /// Largest IP length the originator sent.
    pub orig_max_ip_len: u32,
    /// Largest IP length the responder sent.
    pub resp_max_ip_len: u32,
    /// Hop limit (TTL) of the responder's first packet.
    pub resp_hop_limit: u8,
    /// Hop limit (TTL) of the responder's first RST.
    pub resp_rst_hop_limit: u8,
    /// The originator's worst retransmission run.
    pub orig_stall: Stall,
    /// The responder's worst retransmission run.
    pub resp_stall: Stall,
}

/// Why a flow record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndReason {
    /// Idle or close timeout on capture time.
    Timeout,
    /// A new connection reused the 5-tuple.
    Reused,
    /// The flow table was full.
    Evicted,
    /// End of input.
    End,
}

/// Zeek's connection states (conn.log's `conn_state`), written by their Zeek names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(clippy::upper_case_acronyms)]
pub enum ConnState {
    /// Attempt seen, no reply.
    S0,
    /// Established, not terminated.
    S1,
    /// Normal establishment and termination.
    SF,
    /// Attempt rejected.
    REJ,
    /// Established, the originator closed, no reply from the responder.
    S2,
    /// Established, the responder closed, no reply from the originator.
    S3,
    /// Established, the originator aborted (RST).
    RSTO,
    /// Established, the responder aborted.
    RSTR,
    /// The originator sent a SYN then a RST, no SYN-ACK.
    RSTOS0,
    /// The responder sent a SYN-ACK then a RST, no SYN from the originator.
    RSTRH,
    /// The originator sent a SYN then a FIN, no SYN-ACK (half-open).
    SH,
    /// The responder sent a SYN-ACK then a FIN, no SYN from the originator.
    SHR,
    /// No SYN seen, just midstream traffic (or anything else).
    #[default]
    OTH,
}

impl ConnState {
    /// Every state, in Zeek's documentation order.
    pub const ALL: [ConnState; 13] = [
        ConnState::S0,
        ConnState::S1,
        ConnState::SF,
        ConnState::REJ,
        ConnState::S2,
        ConnState::S3,
        ConnState::RSTO,
        ConnState::RSTR,
        ConnState::RSTOS0,
        ConnState::RSTRH,
        ConnState::SH,
        ConnState::SHR,
        ConnState::OTH,
    ];

    /// Its Zeek name.
    pub fn name(self) -> &'static str {
        match self {
            ConnState::S0 => "S0",
            ConnState::S1 => "S1",
            ConnState::SF => "SF",
            ConnState::REJ => "REJ",
            ConnState::S2 => "S2",
            ConnState::S3 => "S3",
            ConnState::RSTO => "RSTO",
            ConnState::RSTR => "RSTR",
            ConnState::RSTOS0 => "RSTOS0",
            ConnState::RSTRH => "RSTRH",
            ConnState::SH => "SH",
            ConnState::SHR => "SHR",
            ConnState::OTH => "OTH",
        }
    }

    /// The state of a Zeek name.
    pub fn from_name(s: &str) -> Option<ConnState> {
        ConnState::ALL.into_iter().find(|c| c.name() == s)
    }
}

impl std::fmt::Display for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for ConnState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One bidirectional conversation, with Zeek conn.log semantics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowRecord {
    /// Deterministic unique id (same input → same uid).
    pub uid: String,
    /// First packet, ns since the epoch.
    #[serde(serialize_with = "crate::model::epoch")]
    pub ts: i64,
    /// Last packet, ns since the epoch.
    #[serde(serialize_with = "crate::model::epoch")]
    pub last_ts: i64,
    /// Originator address.
    #[serde(serialize_with = "ser_addr")]
    pub orig_h: Addr,
    /// Originator port (ICMP: the type the originator sent).
    pub orig_p: u16,
    /// Responder address.
    #[serde(serialize_with = "ser_addr")]
    pub resp_h: Addr,
    /// Responder port (ICMP: the counterpart type, or the code for messages without one).
    pub resp_p: u16,
    /// IP protocol number.
    pub ip_proto: u8,
    /// Zeek conn_state.
    pub conn_state: ConnState,
    /// Zeek history letters.
    pub history: String,
    /// Originator counters.
    pub orig: SideCounters,
    /// Responder counters.
    pub resp: SideCounters,
    /// Originator and responder were swapped by a heuristic (history starts with `^`).
    pub flipped: bool,
    /// SYN → SYN-ACK time, ns.
    pub rtt_synack_ns: Option<i64>,
    /// SYN-ACK → ACK time, ns.
    pub rtt_ack_ns: Option<i64>,
    /// MSS the originator announced.
    pub orig_mss: Option<u16>,
    /// MSS the responder announced.
    pub resp_mss: Option<u16>,
    /// Tunnel encapsulation, outermost.
    pub tunnel: Option<TunnelKind>,
    /// Tunnel outer endpoints (as seen on the first packet).
    #[serde(serialize_with = "ser_opt_pair")]
    pub tunnel_outer: Option<(Addr, Addr)>,
    /// Outermost VLAN id.
    pub vlan: Option<u16>,
    /// Handshake and progress facts (TCP only).
    pub tcp: Option<TcpFacts>,
    /// ICMP errors that quoted this flow's packets (first of each type/code).
    pub icmp_errors: Vec<IcmpError>,
    /// Anomaly names met on this flow's packets.
    pub anomalies: Vec<&'static str>,
    /// Why the record was written.
    pub end: EndReason,
    /// Role relative to the sensor (set by the pipeline once sensor addresses are known).
    pub role: Role,
    /// Application protocol confirmed by its extractor (Zeek's `service`: http, ssl, dns).
    pub service: Option<&'static str>,
    /// The responder's name, best provenance first (see `name_source`).
    pub server_name: Option<String>,
    /// Where `server_name` came from: sni, http-host, dns, hosts, ptr.
    pub name_source: Option<&'static str>,
}

impl FlowRecord {
    /// A record with nothing in it (no addresses, no counters, state OTH, role transit):
    /// what a reader fills, or a test sets a few fields of.
    pub fn empty() -> FlowRecord {
        let zero = Addr::default();
        FlowRecord {
            uid: String::new(),
            ts: 0,
            last_ts: 0,
            orig_h: zero,
            orig_p: 0,
            resp_h: zero,
            resp_p: 0,
            ip_proto: 0,
            conn_state: ConnState::OTH,
            history: String::new(),
            orig: SideCounters::default(),
            resp: SideCounters::default(),
            flipped: false,
            rtt_synack_ns: None,
            rtt_ack_ns: None,
            orig_mss: None,
            resp_mss: None,
            tunnel: None,
            tunnel_outer: None,
            vlan: None,
            tcp: None,
            icmp_errors: Vec::new(),
            anomalies: Vec::new(),
            end: EndReason::End,
            role: Role::Transit,
            service: None,
            server_name: None,
            name_source: None,
        }
    }

    /// 4 or 6.
    pub fn ip_version(&self) -> u8 {
        self.orig_h.version
    }
    /// Zeek's `proto` field.
    pub fn proto_name(&self) -> &'static str {
        proto_name(self.ip_proto)
    }
    /// Duration in ns.
    pub fn duration_ns(&self) -> i64 {
        self.last_ts - self.ts
    }
}

/// Zeek's transport names: tcp, udp, icmp (both families), else `unknown_transport`.
pub fn proto_name(p: u8) -> &'static str {
    match p {
        6 => "tcp",
        17 => "udp",
        1 | 58 => "icmp",
        _ => "unknown_transport",
    }
}

/// A point in time (ns since the epoch) as JSON writes every one: seconds since the epoch with
/// microsecond precision, as Zeek writes `ts` (and as the flow records' `ts` is written).
pub fn epoch<S: serde::Serializer>(ns: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(epoch_secs(*ns))
}

/// [`epoch`] of a time that may be missing (`null`).
pub fn epoch_opt<S: serde::Serializer>(ns: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ns {
        Some(ns) => epoch(ns, s),
        None => s.serialize_none(),
    }
}

/// [`epoch`] of a (first, last) pair that may be missing.
pub fn epoch_opt_pair<S: serde::Serializer>(v: &Option<(i64, i64)>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some((a, b)) => [epoch_secs(*a), epoch_secs(*b)].serialize(s),
        None => s.serialize_none(),
    }
}

/// [`epoch`] of (start, end) pairs, each as a two-element array.
pub fn epoch_pairs<S: serde::Serializer>(v: &[(i64, i64)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for (a, b) in v {
        seq.serialize_element(&[epoch_secs(*a), epoch_secs(*b)])?;
    }
    seq.end()
}

/// Nanoseconds as seconds, rounded to the microsecond. The quotient of the exact microsecond
/// count is the double nearest the six-decimal value, so JSON's shortest form of it is that
/// value (`1307000000.123456`, or shorter when it ends in zeros).
pub fn epoch_secs(ns: i64) -> f64 {
    let us = ns.saturating_add(500).div_euclid(1000);
    us as f64 / 1e6
}

/// Seconds since the epoch (as [`epoch`] writes them) back to ns.
pub fn epoch_ns(secs: f64) -> Option<i64> {
    let us = (secs * 1e6).round();
    (us.is_finite() && us.abs() < 9.2e15).then(|| us as i64 * 1000)
}

pub(crate) fn ser_addr<S: serde::Serializer>(a: &Addr, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(a)
}

fn ser_opt_pair<S: serde::Serializer>(a: &Option<(Addr, Addr)>, s: S) -> Result<S::Ok, S::Error> {
    match a {
        None => s.serialize_none(),
        Some((x, y)) => s.collect_str(&format_args!("{x}>{y}")),
    }
}

/// One DNS resource record of a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsAnswer {
    /// `answer`, `authority` or `additional`.
    pub section: &'static str,
    /// Owner name.
    pub name: String,
    /// Record type mnemonic (A, AAAA, CNAME, ...).
    pub rtype: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Data in presentation form (address, target name, text...).
    pub data: String,
}

/// A DNS (or mDNS/LLMNR) transaction: a query and its response when one was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct DnsEvent {
    /// Time of the query (or of the response when no query was seen), ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub ts: i64,
    /// The flow's uid.
    pub uid: String,
    /// Who asked.
    #[serde(serialize_with = "ser_addr")]
    pub client: Addr,
    /// Who answered (or was asked).
    #[serde(serialize_with = "ser_addr")]
    pub server: Addr,
    /// Server port.
    pub server_port: u16,
    /// `udp` or `tcp`.
    pub transport: &'static str,
    /// `dns`, `mdns` or `llmnr`.
    pub kind: &'static str,
    /// Transaction id.
    pub trans_id: u16,
    /// Query name.
    pub query: String,
    /// Query type code.
    pub qtype: u16,
    /// Response code, when a response was seen.
    pub rcode: Option<u8>,
    /// Query → response time, ns.
    pub rtt_ns: Option<i64>,
    /// Resource records of the response: the answer section, then authority and additional
    /// records (EDNS OPT excluded), 64 at most.
    pub answers: Vec<DnsAnswer>,
    /// Time of the response, ns.
    #[serde(serialize_with = "crate::model::epoch_opt")]
    pub response_ts: Option<i64>,
}

/// One HTTP/1.x request, with its response status when seen.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct HttpEvent {
    /// Time of the request, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub ts: i64,
    /// The flow's uid.
    pub uid: String,
    /// Client.
    #[serde(serialize_with = "ser_addr")]
    pub client: Addr,
    /// Server.
    #[serde(serialize_with = "ser_addr")]
    pub server: Addr,
    /// Server port.
    pub server_port: u16,
    /// Method.
    pub method: String,
    /// Host header.
    pub host: Option<String>,
    /// Request target.
    pub uri: String,
    /// Version text.
    pub version: String,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Request body length (Content-Length).
    pub request_body_len: Option<u64>,
    /// Response status.
    pub status: Option<u16>,
}

/// A TLS handshake's visible facts.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct TlsEvent {
    /// Time of the ClientHello, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub ts: i64,
    /// The flow's uid.
    pub uid: String,
    /// Client.
    #[serde(serialize_with = "ser_addr")]
    pub client: Addr,
    /// Server.
    #[serde(serialize_with = "ser_addr")]
    pub server: Addr,
    /// Server port.
    pub server_port: u16,
    /// Server name indication.
    pub sni: Option<String>,
    /// ALPN offered.
    pub alpn: Vec<String>,
    /// Versions offered (supported_versions, else legacy_version).
    pub versions: Vec<String>,
    /// Encrypted Client Hello offered (the SNI is then the outer, public name).
    pub ech: bool,
    /// Version the server chose.
    pub server_version: Option<String>,
    /// Cipher suite the server chose.
    pub cipher: Option<u16>,
    /// `tls` over TCP, `quic` for QUIC Initials.
    pub transport: &'static str,
}

/// One SMTP session (RFC 5321): who greeted, who said hello, what was sent to whom and what
/// the server answered. Strings are as the packets had them (escaped at output) and bounded.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct SmtpEvent {
    /// Time of the session's first message (the greeting, or the first command seen), ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub ts: i64,
    /// The flow's uid.
    pub uid: String,
    /// Client (the sending side).
    #[serde(serialize_with = "ser_addr")]
    pub client: Addr,
    /// Server (the receiving side).
    #[serde(serialize_with = "ser_addr")]
    pub server: Addr,
    /// Server port.
    pub server_port: u16,
    /// The server's greeting: its first reply line, code included.
    pub banner: Option<String>,
    /// The name the client gave in EHLO or HELO.
    pub helo: Option<String>,
    /// The reverse paths of MAIL FROM, in order (16 at most; empty for a bounce's `<>`).
    pub mail_from: Vec<String>,
    /// RCPT TO commands sent.
    pub rcpt: u64,
    /// The recipients' domains, distinct, lower case (32 at most).
    pub rcpt_domains: Vec<String>,
    /// Messages the server took (a 2xx after the data).
    pub messages: u64,
    /// Their sizes in bytes (16 at most).
    pub sizes: Vec<u64>,
    /// Transaction commands (MAIL, RCPT, DATA, the data) answered 2xx or 3xx.
    pub accepted: u64,
    /// Answered 4xx: deferred (greylisting, a full mailbox, a busy server).
    pub deferred: u64,
    /// Answered 5xx: rejected.
    pub rejected: u64,
    /// The server offered STARTTLS in its EHLO reply.
    pub starttls_offered: bool,
    /// The session switched to TLS (its ClientHello is then a `tls` event of the same flow).
    pub starttls: bool,
    /// The last reply code.
    pub last_reply: Option<u16>,
}

/// An application-layer event (written and read through its type's columns:
/// `extract::EVENT_TYPES`).
#[derive(Debug, Clone, PartialEq)]
pub enum AppEvent {
    /// DNS transaction.
    Dns(DnsEvent),
    /// HTTP request.
    Http(HttpEvent),
    /// TLS handshake.
    Tls(TlsEvent),
    /// SMTP session (boxed: it is the largest, and sessions are few).
    Smtp(Box<SmtpEvent>),
}

/// The fields every event has, borrowed (see `columns::EVENT_HEAD`).
#[derive(Debug, Clone, Copy)]
pub struct EventHead<'a> {
    /// Time, ns.
    pub ts: i64,
    /// The flow's uid.
    pub uid: &'a str,
    /// Client.
    pub client: Addr,
    /// Server.
    pub server: Addr,
    /// Server port.
    pub server_port: u16,
}

/// The fields every event has, to set.
pub struct EventHeadMut<'a> {
    /// Time, ns.
    pub ts: &'a mut i64,
    /// The flow's uid.
    pub uid: &'a mut String,
    /// Client.
    pub client: &'a mut Addr,
    /// Server.
    pub server: &'a mut Addr,
    /// Server port.
    pub server_port: &'a mut u16,
}

/// `$body` with `$e` bound to the event inside any variant (every event struct has the head's
/// fields).
macro_rules! each_event {
    ($ev:expr, $e:ident => $body:expr) => {
        match $ev {
            AppEvent::Dns($e) => $body,
            AppEvent::Http($e) => $body,
            AppEvent::Tls($e) => $body,
            AppEvent::Smtp($e) => $body,
        }
    };
}

/// The kinds of [`AppEvent`] (numbered, to index per-kind tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// [`AppEvent::Dns`].
    Dns = 0,
    /// [`AppEvent::Http`].
    Http = 1,
    /// [`AppEvent::Tls`].
    Tls = 2,
    /// [`AppEvent::Smtp`].
    Smtp = 3,
}

impl EventKind {
    /// Every kind, in number order (the order of `extract::EVENT_TYPES`).
    pub const ALL: [EventKind; 4] = [EventKind::Dns, EventKind::Http, EventKind::Tls, EventKind::Smtp];
}

impl AppEvent {
    /// The fields every event has.
    pub fn head(&self) -> EventHead<'_> {
        each_event!(self, e => EventHead {
            ts: e.ts,
            uid: &e.uid,
            client: e.client,
            server: e.server,
            server_port: e.server_port,
        })
    }

    /// The fields every event has, to set.
    pub fn head_mut(&mut self) -> EventHeadMut<'_> {
        each_event!(self, e => EventHeadMut {
            ts: &mut e.ts,
            uid: &mut e.uid,
            client: &mut e.client,
            server: &mut e.server,
            server_port: &mut e.server_port,
        })
    }

    /// Its kind.
    pub fn kind(&self) -> EventKind {
        match self {
            AppEvent::Dns(_) => EventKind::Dns,
            AppEvent::Http(_) => EventKind::Http,
            AppEvent::Tls(_) => EventKind::Tls,
            AppEvent::Smtp(_) => EventKind::Smtp,
        }
    }
}

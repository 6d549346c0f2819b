//! IPv6 health: did it break, and would you notice? (DOMAIN.md §3-§4)
//!
//! [`Health`] is fed finished flows and DNS events of every sensor (in any order: flows come out
//! when they end), keeps a compact record per connection attempt and per DNS answer, and
//! [`Health::finish`] runs the detection rules over them in time order:
//! the outcome of every attempt (P4), (a) IPv6 failed then IPv4 to the same name, (b) refusals
//! and injected RSTs, (c) Path-MTU black holes from the sender and the receiver side and Packet
//! Too Big handling, (d) AAAA answered but not used, (e) broken return paths, (f) services
//! that moved between families; then the per-service table and the deduplicated findings.
//!
//! Memory: one small record per outbound or transit TCP/QUIC attempt and per DNS answer that
//! carries A/AAAA data, and whole records only for Path-MTU and return-path candidates, each
//! capped (`MAX_ATTEMPTS`, `MAX_ANSWERS`, `MAX_RECORDS`, `MAX_NOTABLE`) so a flood of SYNs
//! cannot grow it; what is beyond a cap is counted and reported (attempts still by outcome),
//! never silently lost.

use super::stats::{quantile, wilson};
use crate::decode::Addr;
use crate::model::{AppEvent, DnsEvent, FlowRecord, IcmpError, Role};
use hashbrown::HashMap;
use serde::Serialize;
use wire::dns::rtype;
use wire::icmp;

mod findings;
mod index;
mod rules;
mod services;

use index::Index;

/// Attempts kept at most (about 150 bytes each); beyond, an attempt still counts in the outcome
/// table (by family and outcome) but no rule sees it.
pub const MAX_ATTEMPTS: usize = 200_000;
/// Attempts room is made for at the first one (see [`Health::flow`]).
const ATTEMPTS_ROOM: usize = 1 << 16;
/// DNS answers kept at most.
const MAX_ANSWERS: usize = 200_000;
/// Whole flow records kept at most per rule that needs them (Path MTU, broken return paths):
/// a record is ~700 bytes, and a flood of half-open handshakes must not fill memory with them.
const MAX_RECORDS: usize = 20_000;
/// EUI-64 and transition peers remembered at most.
const MAX_NOTABLE: usize = 50_000;
const MS: i64 = 1_000_000;
const SEC: i64 = 1_000_000_000;

/// Every threshold of the rules (DOMAIN.md §3.3 and §4.3 defaults).
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    /// (a) IPv4 attempts this long after a failed IPv6 one count as its fallback (W_fb).
    pub fallback_window_ns: i64,
    /// (a) `he_fast`: the IPv4 attempt followed within [min, max].
    pub he_fast_min_ns: i64,
    /// (a) upper bound of `he_fast`.
    pub he_fast_max_ns: i64,
    /// (a) `error_triggered`: IPv4 started at most this long after the RST/ICMP error.
    pub error_window_ns: i64,
    /// (a) an IPv6 success to the same service this close in time marks a fallback as a
    /// probable Happy-Eyeballs artefact rather than a failure.
    pub nearby_success_ns: i64,
    /// (c) sender side: one segment sent at least this many times (first send included).
    pub blackhole_sends: u32,
    /// (c) a Packet Too Big this soon after the stall explains it.
    pub ptb_wait_ns: i64,
    /// (c) receiver side: no data from the server for this long.
    pub stall_ns: i64,
    /// (c) receiver side: IPv4 to the same name within this window moving ≥ 2 MSS confirms.
    pub v4_compare_ns: i64,
    /// (d) the IPv4 connection started this soon after the AAAA answer (W_use).
    pub aaaa_use_ns: i64,
    /// (d)/(a) a failure this recent makes an unused AAAA `he_cached`.
    pub he_cache_ns: i64,
    /// (f) `service_gained_aaaa` needs A-only answers for this long before.
    pub gained_after_ns: i64,
    /// (f) IPv6 share over the attempts of this window (at most `share_attempts`).
    pub share_window_ns: i64,
    /// (f) attempts in the share window, at most.
    pub share_attempts: usize,
    /// IPv6_Service_Down: consecutive failed IPv6 attempts, with IPv4 succeeding meanwhile.
    pub down_attempts: u64,
    /// IPv6_Success_Below_IPv4: difference of success ratios.
    pub below_gap: f64,
    /// IPv6_Success_Below_IPv4: IPv6 attempts needed.
    pub below_min_attempts: u64,
    /// IPv6_Fallback: fallbacks / IPv6 attempts above this.
    pub fallback_ratio: f64,
    /// IPv6_Fallback: fallbacks needed.
    pub fallback_min: u64,
    /// AAAA_Unused: per host, unused / answered above this.
    pub aaaa_unused_ratio: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            fallback_window_ns: 180 * SEC,
            he_fast_min_ns: 10 * MS,
            he_fast_max_ns: 2 * SEC,
            error_window_ns: SEC,
            nearby_success_ns: 600 * SEC,
            blackhole_sends: 4,
            ptb_wait_ns: 10 * SEC,
            stall_ns: 5 * SEC,
            v4_compare_ns: 300 * SEC,
            aaaa_use_ns: 10 * SEC,
            he_cache_ns: 600 * SEC,
            gained_after_ns: 24 * 3600 * SEC,
            share_window_ns: 3600 * SEC,
            share_attempts: 50,
            down_attempts: 5,
            below_gap: 0.05,
            below_min_attempts: 20,
            fallback_ratio: 0.1,
            fallback_min: 3,
            aaaa_unused_ratio: 0.5,
        }
    }
}

/// Outcome of one connection attempt (DOMAIN.md §3.2 P4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Handshake completed.
    Established,
    /// SYN(s) unanswered.
    Timeout,
    /// RST from the server.
    Refused,
    /// ICMP destination unreachable quoting the attempt.
    IcmpUnreach,
    /// Other ICMP error (hop limit exceeded, parameter problem).
    IcmpOther,
    /// The client reset its own unanswered attempt (a Happy-Eyeballs loser).
    Cancelled,
    /// The SYN-ACK came but the client had moved on and reset it: IPv6 slow, not broken.
    LateSynack,
}

impl Outcome {
    /// All outcomes, in display order.
    pub const ALL: [Outcome; 7] = [
        Outcome::Established,
        Outcome::Timeout,
        Outcome::Refused,
        Outcome::IcmpUnreach,
        Outcome::IcmpOther,
        Outcome::Cancelled,
        Outcome::LateSynack,
    ];
    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Established => "established",
            Outcome::Timeout => "timeout",
            Outcome::Refused => "refused",
            Outcome::IcmpUnreach => "icmp_unreach",
            Outcome::IcmpOther => "icmp_other",
            Outcome::Cancelled => "cancelled",
            Outcome::LateSynack => "late_synack",
        }
    }
    /// The attempt failed (rule a's triggers).
    pub fn failed(self) -> bool {
        matches!(
            self,
            Outcome::Timeout | Outcome::Refused | Outcome::IcmpUnreach | Outcome::IcmpOther | Outcome::Cancelled
        )
    }
}

/// Kinds of Happy-Eyeballs fallback (rule a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FallbackKind {
    /// IPv4 followed within 10 ms..2 s, before any IPv6 SYN-ACK.
    HeFast,
    /// IPv4 followed within 1 s of an RST or ICMP error.
    ErrorTriggered,
    /// IPv4 followed after more than 2 s of retransmitted IPv6 SYNs: users waited.
    TimeoutSlow,
    /// The IPv6 SYN-ACK came after IPv4 had started: slow, not broken.
    RaceLost,
}

impl FallbackKind {
    /// All kinds.
    pub const ALL: [FallbackKind; 4] =
        [FallbackKind::HeFast, FallbackKind::ErrorTriggered, FallbackKind::TimeoutSlow, FallbackKind::RaceLost];
    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            FallbackKind::HeFast => "he_fast",
            FallbackKind::ErrorTriggered => "error_triggered",
            FallbackKind::TimeoutSlow => "timeout_slow",
            FallbackKind::RaceLost => "race_lost",
        }
    }
}

/// One connection attempt (a TCP flow whose SYN was seen, or a UDP/443 exchange); kept with
/// its sensor's index while the rules run.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The flow's uid.
    pub uid: String,
    /// First SYN (or packet), ns.
    pub ts: i64,
    /// Server.
    pub server: Addr,
    /// Server port.
    pub port: u16,
    /// 4 or 6.
    pub family: u8,
    /// Service name (server name of the flow), when known.
    pub name: Option<String>,
    /// Outcome.
    pub outcome: Outcome,
    /// Time of the RST or ICMP error that ended it, ns.
    pub error_ts: Option<i64>,
    /// The ICMP error that ended it: type, code and who sent it.
    pub icmp: Option<(u8, u8, Addr)>,
    /// SYN-ACK time, ns.
    pub synack_ts: Option<i64>,
    /// SYNs sent (more than one: retransmitted).
    pub syns: u32,
    /// Bytes the server sent.
    pub resp_bytes: u64,
    /// The RST's hop count differs by ≥ 2 from the server's other packets.
    pub rst_injected: bool,
}

impl Attempt {
    /// SYN → SYN-ACK, ns.
    pub fn connect_ns(&self) -> Option<i64> {
        self.synack_ts.map(|s| s.saturating_sub(self.ts))
    }
    fn ok(&self) -> bool {
        self.outcome == Outcome::Established
    }
}

/// Sorts attempts by (start, uid), stably: a list of (start, position) is sorted and the
/// attempts are moved once each into their place. Sorting the attempts themselves (~170 bytes
/// each) moved each of them many times: ~17 ms for the 115,500 attempts of the replayed
/// benchmark capture, after every worker is done.
fn sort_attempts(attempts: &mut [(u16, Attempt)]) {
    let mut order: Vec<(i64, u32)> = attempts.iter().enumerate().map(|(i, (_, a))| (a.ts, i as u32)).collect();
    // Stable, as sorting the attempts was; runs already in order (most of them, when flows
    // end in the order they started) are found, not sorted again.
    order.sort_by(|x, y| {
        let uid = |i: u32| attempts[i as usize].1.uid.as_str();
        x.0.cmp(&y.0).then_with(|| uid(x.1).cmp(uid(y.1)))
    });
    // Position `k` takes the attempt at `order[k].1`: each cycle of the permutation is
    // followed once, the attempt that started it carried along by swaps.
    let mut placed = vec![false; order.len()];
    for k in 0..order.len() {
        if placed[k] {
            continue;
        }
        let mut at = k;
        loop {
            placed[at] = true;
            let from = order[at].1 as usize;
            if from == k {
                break;
            }
            attempts.swap(at, from);
            at = from;
        }
    }
}

/// How a service is written: its name when it has one that is not an address literal, else
/// its address, bracketed only for IPv6 (`192.0.2.1`, `[2001:db8::1]`), so `name:port` reads
/// as a host and port whichever way the flow learned it (an IP in a Host header or an SNI is
/// the same service as the unnamed address).
pub fn service_label(name: Option<&str>, server: &Addr) -> String {
    match name.filter(|n| !is_ip_literal(n)) {
        Some(n) => n.to_string(),
        None if server.version == 6 => format!("[{server}]"),
        None => server.to_string(),
    }
}

/// `192.0.2.1`, `2001:db8::1` or `[2001:db8::1]`.
fn is_ip_literal(n: &str) -> bool {
    let inner = n.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(n);
    inner.parse::<std::net::IpAddr>().is_ok()
}

/// Rule (a): an IPv6 attempt that failed and the IPv4 attempt that replaced it.
#[derive(Debug, Clone, Serialize)]
pub struct Fallback {
    /// Sensor.
    pub sensor: String,
    /// Service name.
    pub service: String,
    /// Port.
    pub port: u16,
    /// Kind.
    pub kind: FallbackKind,
    /// The IPv6 attempt's start, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub v6_ts: i64,
    /// The IPv4 attempt's start, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub v4_ts: i64,
    /// What the user waited: IPv4 start − IPv6 start, ns.
    pub delay_ns: i64,
    /// The IPv6 attempt's outcome.
    pub v6_outcome: Outcome,
    /// The IPv6 flow's uid.
    pub v6_uid: String,
    /// The IPv4 flow's uid.
    pub v4_uid: String,
    /// An IPv6 attempt to the same service succeeded within ±10 min (probably a race, not a failure).
    pub v6_worked_nearby: bool,
}

/// Rule (c) verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PmtuState {
    /// A large segment retransmitted without progress and no Packet Too Big: a black hole.
    Suspected,
    /// As suspected, then smaller segments went through.
    Recovered,
    /// Receiver side: the request passed, full-size data never arrived, IPv4 worked.
    Stalled,
    /// Packet Too Big seen and honoured.
    PmtudOk,
    /// Packet Too Big seen, yet segments larger than its MTU kept being retransmitted.
    PtbIgnored,
    /// Packet Too Big announcing an MTU below 1280 (RFC 8201 forbids it).
    InvalidPtb,
}

impl PmtuState {
    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            PmtuState::Suspected => "suspected",
            PmtuState::Recovered => "recovered",
            PmtuState::Stalled => "stalled",
            PmtuState::PmtudOk => "pmtud_ok",
            PmtuState::PtbIgnored => "ptb_ignored",
            PmtuState::InvalidPtb => "invalid_ptb",
        }
    }
}

/// Rule (c): a Path-MTU event on one flow.
#[derive(Debug, Clone, Serialize)]
pub struct Pmtu {
    /// Sensor.
    pub sensor: String,
    /// The flow's uid.
    pub uid: String,
    /// Service name or server address.
    pub service: String,
    /// Port.
    pub port: u16,
    /// Verdict.
    pub state: PmtuState,
    /// `sender` or `receiver`: which end the capture saw the stall from.
    pub side: &'static str,
    /// When the stall began, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub ts: i64,
    /// How long progress stopped, ns.
    pub stall_ns: i64,
    /// IP length of the stuck segment (sender side) or the server's MSS (receiver side).
    pub size: u32,
    /// MTU announced by Packet Too Big, when one was seen.
    pub ptb_mtu: Option<u32>,
    /// Evidence strength: `high` (confirmed by IPv4 or retransmissions), `low`.
    pub confidence: &'static str,
}

/// Rule (d): an AAAA answer the client did not use.
#[derive(Debug, Clone, Serialize)]
pub struct AaaaUnused {
    /// Sensor.
    pub sensor: String,
    /// Name.
    pub name: String,
    /// Answer time, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub ts: i64,
    /// Client.
    #[serde(serialize_with = "crate::model::ser_addr")]
    pub client: Addr,
    /// Diagnosis: no_global_v6, transition_only, bogus_aaaa, aaaa_late, he_cached, app_v4_only.
    pub reason: &'static str,
    /// The IPv4 flow used instead.
    pub v4_uid: String,
}

/// Rule (e): an inbound IPv6 handshake whose final ACK never came back.
#[derive(Debug, Clone, Serialize)]
pub struct ReturnPath {
    /// Sensor.
    pub sensor: String,
    /// The flow's uid.
    pub uid: String,
    /// First SYN, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub ts: i64,
    /// Client.
    #[serde(serialize_with = "crate::model::ser_addr")]
    pub client: Addr,
    /// Client source class: native, 6to4, teredo, isatap.
    pub client_class: &'static str,
    /// Port.
    pub port: u16,
}

/// Rule (f): a service changing family.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceEvent {
    /// Sensor.
    pub sensor: String,
    /// service_gained_aaaa, service_lost_aaaa, service_switched_to_v6, service_fell_back_to_v4.
    pub kind: &'static str,
    /// Name.
    pub service: String,
    /// Port (0 for DNS-only events).
    pub port: u16,
    /// When, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub ts: i64,
    /// The flow or DNS transaction that showed it.
    pub uid: String,
}

/// One row of the per-service table (service × family).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceRow {
    /// Sensor.
    pub sensor: String,
    /// Name (or the server address when no name is known).
    pub service: String,
    /// Port.
    pub port: u16,
    /// 4 or 6.
    pub family: u8,
    /// Attempts.
    pub attempts: u64,
    /// Established.
    pub successes: u64,
    /// successes / attempts.
    pub success_rate: f64,
    /// Wilson 95% lower bound of the success rate.
    pub success_lower: f64,
    /// Connect time (SYN → SYN-ACK) p50, ns.
    pub connect_p50_ns: Option<i64>,
    /// Connect time p90, ns.
    pub connect_p90_ns: Option<i64>,
    /// Outcomes other than established, by name.
    pub failures: Vec<(&'static str, u64)>,
    /// Fallbacks by kind (IPv6 rows).
    pub fallbacks: Vec<(&'static str, u64)>,
    /// Path-MTU black holes (suspected, stalled).
    pub blackholes: u64,
    /// AAAA answers not used.
    pub aaaa_unused: u64,
    /// First and last AAAA answer for the name, ns.
    #[serde(serialize_with = "crate::model::epoch_opt_pair")]
    pub aaaa: Option<(i64, i64)>,
    /// First IPv6 attempt, ns.
    #[serde(serialize_with = "crate::model::epoch_opt")]
    pub first_v6_attempt: Option<i64>,
    /// First IPv6 success, ns.
    #[serde(serialize_with = "crate::model::epoch_opt")]
    pub first_v6_ok: Option<i64>,
    /// The last failure's outcome and time.
    #[serde(serialize_with = "ser_failure")]
    pub last_failure: Option<(&'static str, i64)>,
}

/// `[outcome, time]` with the time in seconds (see [`crate::model::epoch`]).
fn ser_failure<S: serde::Serializer>(v: &Option<(&'static str, i64)>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some((what, ns)) => (what, crate::model::epoch_secs(*ns)).serialize(s),
        None => s.serialize_none(),
    }
}

/// Severity of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Something is broken for someone.
    Warning,
    /// A service is down over IPv6.
    Critical,
}

impl Severity {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A finding, Zeek-notice shaped (DOMAIN.md §4.3): repeats of the same identifier are folded
/// into one finding with their count and time span.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Severity.
    pub severity: Severity,
    /// Notice type, `V6Mon::Words_With_Underscores`.
    pub note: &'static str,
    /// Prometheus-style alert name.
    pub alert: &'static str,
    /// One-line message.
    pub msg: String,
    /// Sensor.
    pub sensor: String,
    /// Service name (and port), when service-level.
    pub service: Option<String>,
    /// 4 or 6, when family-specific.
    pub family: Option<u8>,
    /// Client, when host-level.
    pub client: Option<String>,
    /// Occurrences folded into this finding.
    pub n: u64,
    /// First occurrence, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub first_ts: i64,
    /// Last occurrence, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub last_ts: i64,
    /// Dedupe key: note + service + family (+ client).
    pub identifier: String,
    /// A few uids to look at.
    pub uids: Vec<String>,
    /// What saw it: `capture` (the passive analysis) or `probe` (`v6watch probe`).
    pub source: &'static str,
    /// For probe findings: the address that was tested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// Everything the rules found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HealthReport {
    /// Attempts by (family, outcome).
    pub outcomes: Vec<(u8, &'static str, u64)>,
    /// Rule (a).
    pub fallbacks: Vec<Fallback>,
    /// Rule (b): IPv6 refusals on services that work over IPv4 (uids).
    pub refused_v6: Vec<String>,
    /// Rule (b): attempts whose RST looks injected (uids).
    pub rst_injected: Vec<String>,
    /// Rule (c).
    pub pmtu: Vec<Pmtu>,
    /// Packet Too Big messages that quoted a flow.
    pub ptb_received: u64,
    /// Rule (d).
    pub aaaa_unused: Vec<AaaaUnused>,
    /// Rule (e).
    pub return_path: Vec<ReturnPath>,
    /// Rule (f).
    pub service_events: Vec<ServiceEvent>,
    /// Per-service table.
    pub services: Vec<ServiceRow>,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Connect times (SYN → SYN-ACK) of established attempts, ns, per family (4, 6).
    #[serde(skip)]
    pub connect_times: [Vec<i64>; 2],
    /// Attempts analysed.
    pub attempts: u64,
    /// Attempts or answers not kept because a bound was reached.
    pub dropped: u64,
    /// Parameters used.
    pub params: Params,
    /// The attempts analysed, with their sensor (an index into `attempt_sensors`), in time
    /// order (the datasets' `attempts`).
    #[serde(skip)]
    pub attempt_list: Vec<(u16, Attempt)>,
    /// The sensors' names `attempt_list` refers to.
    #[serde(skip)]
    pub attempt_sensors: Vec<String>,
}

impl HealthReport {
    /// The highest severity among the findings.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// A DNS answer for rule (d) and (f).
#[derive(Debug, Clone)]
struct Answer {
    sensor: u16,
    ts: i64,
    query_ts: i64,
    client: Addr,
    name: String,
    qtype: u16,
    addrs: Vec<Addr>,
    uid: String,
}

/// Facts per sensor the diagnoses need.
#[derive(Debug, Clone, Default)]
struct SensorFacts {
    /// Global IPv6 sources seen in outbound flows: (native, transition).
    global_v6: (bool, bool),
}

/// The accumulator: feed it flows and events, then call [`Health::finish`].
#[derive(Default, Clone)]
pub struct Health {
    sensors: Vec<String>,
    facts: Vec<SensorFacts>,
    attempts: Vec<(u16, Attempt)>,
    inbound: Vec<(u16, FlowRecord)>,
    pmtu_flows: Vec<(u16, FlowRecord)>,
    answers: Vec<Answer>,
    /// First sighting of remote IPv6 peers whose address is EUI-64 derived or a transition
    /// address (6to4, Teredo, ISATAP): (sensor, addr) → (ts, uid).
    notable_peers: HashMap<(u16, Addr), (i64, String)>,
    /// Attempts beyond `MAX_ATTEMPTS`, by family and outcome.
    folded: HashMap<(u8, Outcome), u64>,
    ptb: u64,
    dropped: u64,
}

fn sensor_index(sensors: &mut Vec<String>, facts: &mut Vec<SensorFacts>, name: &str) -> u16 {
    if let Some(i) = sensors.iter().position(|s| s == name) {
        return i as u16;
    }
    sensors.push(name.to_string());
    facts.push(SensorFacts::default());
    (sensors.len() - 1) as u16
}

/// 6to4 (2002::/16) or Teredo (2001::/32).
fn transition_class(a: &Addr) -> Option<&'static str> {
    if a.version != 6 {
        return None;
    }
    let b = &a.bytes;
    if b[0] == 0x20 && b[1] == 0x02 {
        Some("6to4")
    } else if b[..4] == [0x20, 0x01, 0, 0] {
        Some("teredo")
    } else {
        None
    }
}

/// An IID derived from a MAC (modified EUI-64, `ff:fe` in the middle), globally scoped.
fn is_eui64(a: &Addr) -> bool {
    a.version == 6 && a.bytes[11] == 0xff && a.bytes[12] == 0xfe && is_global_v6(a)
}

/// Global unicast IPv6 (2000::/3).
fn is_global_v6(a: &Addr) -> bool {
    a.version == 6 && a.bytes[0] & 0xe0 == 0x20
}

/// An AAAA record that cannot be a working public address (rule d, `bogus_aaaa`).
fn is_bogus_aaaa(a: &Addr) -> bool {
    let b = &a.bytes;
    let zero10 = b[..10].iter().all(|&x| x == 0);
    (zero10 && b[10] == 0xff && b[11] == 0xff) // IPv4-mapped
        || b.iter().all(|&x| x == 0)
        || (b[..15].iter().all(|&x| x == 0) && b[15] == 1)
        || (b[0] == 0xfe && b[1] & 0xc0 == 0x80)
        || b[..4] == [0x20, 0x01, 0x0d, 0xb8]
        || (b[0] == 0x3f && b[1] == 0xff && b[2] & 0xf0 == 0)
        || b[0] & 0xfe == 0xfc
}

/// Client source class for rule (e).
fn client_class(a: &Addr) -> &'static str {
    if let Some(c) = transition_class(a) {
        return c;
    }
    // ISATAP: IID 0000:5efe or 0200:5efe.
    let b = &a.bytes;
    if (b[8] | 0x02) == 0x02 && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe {
        return "isatap";
    }
    "native"
}

/// The outcome an ICMP error quoting the attempt gives it, with the error.
fn icmp_outcome(rec: &FlowRecord) -> Option<(Outcome, &IcmpError)> {
    rec.icmp_errors.iter().find_map(|e| {
        let o = match (e.version, e.icmp_type) {
            (6, icmp::v6::DEST_UNREACH) => Outcome::IcmpUnreach,
            (4, icmp::v4::DEST_UNREACH) if e.code != icmp::v4::FRAG_NEEDED => Outcome::IcmpUnreach,
            (6, icmp::v6::TIME_EXCEEDED | icmp::v6::PARAM_PROBLEM)
            | (4, icmp::v4::TIME_EXCEEDED | icmp::v4::PARAM_PROBLEM) => Outcome::IcmpOther,
            _ => return None,
        };
        Some((o, e))
    })
}

/// The P4 outcome of a flow, when it is a connection attempt.
pub fn attempt_of(rec: &FlowRecord) -> Option<Attempt> {
    let (ts, outcome, error_ts, synack_ts, syns, icmp) = match (rec.ip_proto, rec.tcp) {
        (6, Some(t)) => {
            let syn_ts = t.syn_ts?;
            let icmp = icmp_outcome(rec).filter(|_| t.synack_ts.is_none());
            let (outcome, err) = if let Some((o, e)) = icmp {
                (o, Some(e.ts))
            } else if t.synack_ts.is_some() {
                if t.ack_ts.is_some() || t.orig_data.is_some() || rec.resp.bytes > 0 {
                    (Outcome::Established, None)
                } else if t.orig_rst_ts.is_some() {
                    (Outcome::LateSynack, t.orig_rst_ts)
                } else {
                    // The SYN-ACK never got its ACK: the handshake did not complete.
                    (Outcome::Timeout, None)
                }
            } else if let Some(r) = t.resp_rst_ts {
                (Outcome::Refused, Some(r))
            } else if let Some(r) = t.orig_rst_ts {
                (Outcome::Cancelled, Some(r))
            } else {
                // Unanswered: a timeout, however soon after the SYN the capture ends.
                (Outcome::Timeout, None)
            };
            (syn_ts, outcome, err, t.synack_ts, t.syns, icmp)
        }
        (17, _) if rec.resp_p == 443 => {
            let icmp = icmp_outcome(rec).filter(|_| rec.resp.pkts == 0);
            let outcome = match icmp {
                Some((o, _)) => o,
                None if rec.resp.pkts > 0 => Outcome::Established,
                None => Outcome::Timeout,
            };
            (rec.ts, outcome, icmp.map(|x| x.1.ts), None, 1, icmp)
        }
        _ => return None,
    };
    let rst_injected = rec.tcp.is_some_and(|t| {
        t.resp_rst_ts.is_some() && rec.resp.pkts > 1 && t.resp_hop_limit.abs_diff(t.resp_rst_hop_limit) >= 2
    });
    Some(Attempt {
        uid: rec.uid.clone(),
        ts,
        server: rec.resp_h,
        port: rec.resp_p,
        family: rec.ip_version(),
        name: rec.server_name.as_deref().filter(|n| !is_ip_literal(n)).map(|n| n.to_ascii_lowercase()),
        outcome,
        error_ts,
        icmp: icmp.map(|(_, e)| (e.icmp_type, e.code, e.from)),
        synack_ts,
        syns,
        resp_bytes: rec.resp.bytes,
        rst_injected,
    })
}

impl Health {
    /// Takes one finished flow of `sensor`.
    pub fn flow(&mut self, sensor: &str, rec: &FlowRecord) {
        let si = sensor_index(&mut self.sensors, &mut self.facts, sensor);
        self.ptb += rec
            .icmp_errors
            .iter()
            .filter(|e| e.version == 6 && e.icmp_type == icmp::v6::PACKET_TOO_BIG)
            .map(|e| u64::from(e.count))
            .sum::<u64>();
        if rec.role == Role::Outbound && rec.ip_version() == 6 && is_global_v6(&rec.orig_h) {
            let f = &mut self.facts[usize::from(si)];
            if transition_class(&rec.orig_h).is_some() {
                f.global_v6.1 = true;
            } else {
                f.global_v6.0 = true;
            }
        }
        // Path-MTU candidates: IPv6 TCP with a retransmission run or a Packet Too Big, or an
        // outbound transfer that went silent (receiver side).
        if rec.ip_version() == 6 && rec.ip_proto == 6 {
            if let Some(t) = rec.tcp {
                let ptb = rec.icmp_errors.iter().any(|e| e.icmp_type == icmp::v6::PACKET_TOO_BIG);
                let stuck = t.orig_stall.sends >= 3 || t.resp_stall.sends >= 3;
                let silent = t.ack_ts.is_some() && t.orig_data.is_some() && rec.resp.bytes < 1220;
                if ptb || stuck || silent {
                    if self.pmtu_flows.len() < MAX_RECORDS {
                        self.pmtu_flows.push((si, rec.clone()));
                    } else {
                        self.dropped += 1;
                    }
                }
                if rec.role == Role::Inbound
                    && t.synack_ts.is_some()
                    && t.ack_ts.is_none()
                    && t.syns >= 2
                    && t.syn_full_options
                {
                    if self.inbound.len() < MAX_RECORDS {
                        self.inbound.push((si, rec.clone()));
                    } else {
                        self.dropped += 1;
                    }
                }
            }
        }
        let remote = match rec.role {
            Role::Outbound => Some(rec.resp_h),
            Role::Inbound => Some(rec.orig_h),
            _ => None,
        };
        if let Some(r) = remote
            .filter(|r| r.version == 6 && (is_eui64(r) || transition_class(r).is_some() || client_class(r) == "isatap"))
        {
            if self.notable_peers.len() < MAX_NOTABLE || self.notable_peers.contains_key(&(si, r)) {
                let e = self.notable_peers.entry((si, r)).or_insert_with(|| (rec.ts, rec.uid.clone()));
                if rec.ts < e.0 {
                    *e = (rec.ts, rec.uid.clone());
                }
            } else {
                self.dropped += 1;
            }
        }
        if !matches!(rec.role, Role::Outbound | Role::Transit) {
            return;
        }
        let Some(a) = attempt_of(rec) else { return };
        if self.attempts.len() >= MAX_ATTEMPTS {
            self.dropped += 1;
            *self.folded.entry((a.family, a.outcome)).or_default() += 1;
            return;
        }
        if self.attempts.capacity() == 0 {
            // Room for a busy capture's attempts from the start: growing by doubling copied
            // them (~170 bytes each) at every step, on the thread that merges every record.
            // Pages are only touched as attempts come.
            self.attempts.reserve(ATTEMPTS_ROOM);
        }
        self.attempts.push((si, a));
    }

    /// The sensor's own addresses (configured or inferred): a global IPv6 one means the host
    /// could have used IPv6 even when the capture shows no IPv6 connection (rule d).
    pub fn sensor_addrs(&mut self, sensor: &str, addrs: &[Addr]) {
        let si = sensor_index(&mut self.sensors, &mut self.facts, sensor);
        let f = &mut self.facts[usize::from(si)];
        for a in addrs.iter().filter(|a| is_global_v6(a)) {
            if transition_class(a).is_some() {
                f.global_v6.1 = true;
            } else {
                f.global_v6.0 = true;
            }
        }
    }

    /// Takes one application event of `sensor` (only DNS answers matter here).
    pub fn event(&mut self, sensor: &str, ev: &AppEvent) {
        if let AppEvent::Dns(d) = ev {
            self.dns(sensor, d);
        }
    }

    fn dns(&mut self, sensor: &str, d: &DnsEvent) {
        let (Some(ts), Some(0)) = (d.response_ts, d.rcode) else { return };
        if !matches!(d.qtype, 1 | 28) || d.query.is_empty() || d.kind != "dns" {
            return;
        }
        let want = if d.qtype == rtype::AAAA { "AAAA" } else { "A" };
        let addrs: Vec<Addr> = d
            .answers
            .iter()
            .filter(|a| a.section == "answer" && a.rtype == want)
            .filter_map(|a| a.data.parse::<std::net::IpAddr>().ok())
            .map(Addr::from_ip)
            .take(16)
            .collect();
        if self.answers.len() >= MAX_ANSWERS {
            self.dropped += 1;
            return;
        }
        let si = sensor_index(&mut self.sensors, &mut self.facts, sensor);
        self.answers.push(Answer {
            sensor: si,
            ts,
            query_ts: d.ts,
            client: d.client,
            name: d.query.trim_end_matches('.').to_ascii_lowercase(),
            qtype: d.qtype,
            addrs,
            uid: d.uid.clone(),
        });
    }

    /// Runs every rule; `intel` describes the peers a finding names.
    pub fn finish(mut self, p: &Params, intel: &crate::analyze::addr::Intel) -> HealthReport {
        let mut r =
            HealthReport { params: p.clone(), dropped: self.dropped, ptb_received: self.ptb, ..Default::default() };
        sort_attempts(&mut self.attempts);
        self.answers.sort_by(|a, b| (a.ts, &a.uid).cmp(&(b.ts, &b.uid)));
        let attempts = &self.attempts;
        r.attempts = attempts.len() as u64;
        let mut outcome_counts: HashMap<(u8, Outcome), u64> = std::mem::take(&mut self.folded);
        for (_, a) in attempts {
            *outcome_counts.entry((a.family, a.outcome)).or_default() += 1;
            if let Some(c) = a.connect_ns().filter(|_| a.ok()) {
                r.connect_times[usize::from(a.family == 6)].push(c);
            }
            if a.rst_injected {
                r.rst_injected.push(a.uid.clone());
            }
        }
        for fam in [4u8, 6] {
            for o in Outcome::ALL {
                if let Some(&n) = outcome_counts.get(&(fam, o)) {
                    r.outcomes.push((fam, o.name(), n));
                }
            }
        }
        r.connect_times.iter_mut().for_each(|v| v.sort_unstable());

        let ix = Index::new(attempts);
        rules::fallbacks(&self, &ix, p, &mut r);
        rules::refused(&ix, &mut r);
        rules::pmtu(&self, &ix, p, &mut r);
        rules::aaaa_unused(&self, &ix, p, &mut r);
        rules::return_path(&self, &mut r);
        let aaaa_span = rules::family_changes(&self, &ix, p, &mut r);
        let mut notable: Vec<(String, Addr, i64, String)> = self
            .notable_peers
            .iter()
            .map(|((si, a), (ts, uid))| (self.sensors[usize::from(*si)].clone(), *a, *ts, uid.clone()))
            .collect();
        notable.sort_by(|a, b| (a.2, &a.3).cmp(&(b.2, &b.3)));
        let aaaa_answers: Vec<(String, Addr)> = self
            .answers
            .iter()
            .filter(|a| a.qtype == rtype::AAAA && !a.addrs.is_empty())
            .map(|a| (self.sensors[usize::from(a.sensor)].clone(), a.client))
            .collect();
        // The service table and the findings read the same index and rules' results: built
        // side by side (with a row per address a scan touched, each takes tens of ms, after
        // every worker is done).
        let (rows, list) = crate::beside::beside(
            "v6watch-services",
            || services::rows(&self, &ix, &r, &aaaa_span),
            || findings::findings(&r, &aaaa_answers, &notable, &ix, &self.sensors, p, intel),
        );
        r.services = rows;
        r.findings = list;
        drop((ix, aaaa_span));
        r.attempt_list = std::mem::take(&mut self.attempts);
        r.attempt_sensors = self.sensors.clone();
        r
    }
}

#[cfg(test)]
mod test {
    use super::{sort_attempts, Attempt, Outcome};
    use crate::decode::Addr;

    /// Sorting through a list of positions gives what a stable sort of the attempts by
    /// (start, uid) gives, ties kept in arrival order, whatever cycles the permutation has.
    #[test]
    fn attempts_sort_as_a_stable_sort_would() {
        let attempt = |uid: &str, ts: i64, port: u16| {
            let a = Attempt {
                uid: uid.into(),
                ts,
                server: Addr::v4([192, 0, 2, 1]),
                port,
                family: 4,
                name: None,
                outcome: Outcome::Established,
                error_ts: None,
                icmp: None,
                synack_ts: None,
                syns: 1,
                resp_bytes: 0,
                rst_injected: false,
            };
            (0u16, a)
        };
        // A pseudo-random order with repeated starts, repeated uids under one start (the port
        // tells the copies apart) and a run already in order.
        let mut x = 7u64;
        let mut attempts: Vec<(u16, Attempt)> = (0..500u16)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let ts = if i < 50 { i64::from(i) } else { (x >> 33) as i64 % 40 };
                attempt(&format!("C{}", (x >> 20) % 7), ts, i)
            })
            .collect();
        let mut want = attempts.clone();
        want.sort_by(|a, b| (a.1.ts, &a.1.uid).cmp(&(b.1.ts, &b.1.uid)));
        sort_attempts(&mut attempts);
        let key = |v: &[(u16, Attempt)]| v.iter().map(|(_, a)| (a.ts, a.uid.clone(), a.port)).collect::<Vec<_>>();
        assert_eq!(key(&attempts), key(&want));
    }
}

//! Bidirectional flow tracking with Zeek conn.log semantics: originator detection, TCP endpoint
//! states, `history` letters, `conn_state`, per-direction counters, handshake timing, ICMP
//! errors attributed to the flow they quote, idle/close timeouts on capture time, port reuse, and
//! a hard bound on live flows (evictions are counted).
//!
//! Memory is bounded by `Config::max_flows`; time never comes from the wall clock.

pub mod tcp;
mod wheel;

use crate::decode::{Addr, Anomaly, AnomalySet, Decoded, Net, Transport, Tunnel};
use crate::model::{ConnState, EndReason, FlowRecord, IcmpError, SideCounters, Stall, TcpFacts};
use hashbrown::HashTable;
use std::hash::BuildHasher;
use tcp::{EndpointState, History};
use wheel::{Entry, Wheel};
use wire::{icmp, ipproto, tcp as wtcp};

/// What one packet of a flow looks like to a per-flow [`Attachment`].
#[derive(Debug, Clone, Copy)]
pub struct PacketCtx<'a> {
    /// Capture time, ns.
    pub ts: i64,
    /// The flow's key and start, from which [`PacketCtx::uid`] derives its uid.
    key: &'a FlowKey,
    first_ts: i64,
    /// Sent by the originator.
    pub from_orig: bool,
    /// IP protocol.
    pub ip_proto: u8,
    /// Originator endpoint.
    pub orig: (Addr, u16),
    /// Responder endpoint.
    pub resp: (Addr, u16),
    /// TCP header fields, for TCP.
    pub tcp: Option<crate::decode::TcpInfo>,
    /// Where each side's byte stream begins (the sequence number after its SYN), for TCP
    /// sides whose SYN was seen: (originator, responder). Lets a reassembler place the first
    /// segments it is handed even when they arrive out of order.
    pub starts: [Option<u32>; 2],
    /// Transport payload as captured.
    pub payload: &'a [u8],
}

impl PacketCtx<'_> {
    /// The flow's uid (as in its record). Derived, not stored: the slot stays smaller, and
    /// only events need it.
    pub fn uid(&self) -> u64 {
        flow_uid(self.key, self.first_ts, self.orig)
    }
}

#[cfg(test)]
impl<'a> PacketCtx<'a> {
    /// A packet as the table would hand it to an attachment, for extractor tests (the flow
    /// starts at this packet's time).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fixture(
        key: &'a FlowKey,
        ts: i64,
        from_orig: bool,
        orig: (Addr, u16),
        resp: (Addr, u16),
        tcp: Option<crate::decode::TcpInfo>,
        starts: [Option<u32>; 2],
        payload: &'a [u8],
    ) -> Self {
        PacketCtx { ts, key, first_ts: 0, from_orig, ip_proto: key.proto, orig, resp, tcp, starts, payload }
    }
}

/// Per-flow state the table stores but never inspects (application extractors): it sees every
/// packet of its flow and completes the record when the flow ends. Keeping it a parameter keeps
/// `flow` independent of `extract`.
pub trait Attachment: Default {
    /// What it reports (application events).
    type Event;
    /// One packet of the flow.
    fn packet(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<Self::Event>);
    /// The flow ended: fill in the record (service, names) and flush pending events.
    fn end(&mut self, rec: &mut FlowRecord, events: &mut Vec<Self::Event>);
    /// Prefetches what [`Attachment::end`] will read first (its boxed state); see
    /// [`FlowTable::finish_some`].
    fn warm(&self) {}
}

impl Attachment for () {
    type Event = ();
    fn packet(&mut self, _: &PacketCtx<'_>, _: &mut Vec<()>) {}
    fn end(&mut self, _: &mut FlowRecord, _: &mut Vec<()>) {}
}

/// Renders a uid hash the way records show it: `C` and 11 base-62 digits.
pub fn uid_string(v: u64) -> String {
    let mut s = String::with_capacity(12);
    s.push('C');
    s.extend(uid_digits(v).iter().map(|&d| d as char));
    s
}

/// The 11 characters after `C` of [`uid_string`]; arrays compare as the strings do.
fn uid_digits(mut v: u64) -> [u8; 11] {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::array::from_fn(|_| {
        let d = ALPHABET[(v % 62) as usize];
        v /= 62;
        d
    })
}

/// Flow table settings. Timeouts follow Zeek's defaults.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Live flows kept at most; beyond, the flow closest to expiry is written out early.
    pub max_flows: usize,
    /// Idle timeout for TCP connections that are not closed (Zeek: tcp_inactivity_timeout).
    pub tcp_idle_ns: i64,
    /// Delay after both sides closed or one reset (Zeek: tcp_close_delay / tcp_reset_delay).
    pub tcp_closed_ns: i64,
    /// Idle timeout for a TCP connection attempt nobody answered (SYNs from the originator
    /// only). Longer than any common stack's gap between SYN retransmissions (Linux: 32 s at
    /// most; BSD and macOS give up after 75 s in all), so an attempt's retransmissions stay
    /// one flow, and its failure is known about a minute after its last SYN rather than after
    /// the 5-minute inactivity timeout (Zeek removes an unanswered attempt 5 s after its SYN,
    /// `tcp_attempt_delay`, and makes each later retransmission a connection of its own).
    pub tcp_attempt_ns: i64,
    /// Idle timeout for UDP (Zeek: udp_inactivity_timeout).
    pub udp_idle_ns: i64,
    /// Idle timeout for ICMP and other protocols (Zeek: icmp_inactivity_timeout).
    pub other_idle_ns: i64,
    /// This table's shard number, in `0..shards`.
    pub shard: u32,
    /// How many tables share the traffic by flow hash (1: this table owns every flow).
    pub shards: u32,
    /// Seed of the flow-key hash; tables sharing a run's traffic must share it.
    pub hash_seed: u64,
    /// Feed payloads to the flows' attachments (the application extractors). Off only to
    /// measure the engine alone.
    pub attach: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_flows: 250_000,
            tcp_idle_ns: 300_000_000_000,
            tcp_closed_ns: 5_000_000_000,
            tcp_attempt_ns: 75_000_000_000,
            udp_idle_ns: 60_000_000_000,
            other_idle_ns: 60_000_000_000,
            shard: 0,
            shards: 1,
            // Random per process (std's per-process keys), the same for every copy of this config.
            hash_seed: {
                use std::hash::BuildHasher as _;
                std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64)
            },
            attach: true,
        }
    }
}

/// Canonical (direction-free) flow identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    proto: u8,
    lo: Addr,
    hi: Addr,
    lo_port: u16,
    hi_port: u16,
}

/// Three wide writes (the derived impl makes nine calls): hashed for every packet, twice with
/// several workers (routing and the table).
impl std::hash::Hash for FlowKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.lo.hash(state);
        self.hi.hash(state);
        state.write_u64(
            u64::from(self.proto)
                | u64::from(self.lo_port) << 8
                | u64::from(self.hi_port) << 24
                | u64::from(self.lo.version) << 40
                | u64::from(self.hi.version) << 48,
        );
    }
}

impl FlowKey {
    /// Key for a transport 5-tuple (either direction gives the same key).
    pub fn new(proto: u8, a: Addr, ap: u16, b: Addr, bp: u16) -> FlowKey {
        if (a, ap) <= (b, bp) {
            FlowKey { proto, lo: a, hi: b, lo_port: ap, hi_port: bp }
        } else {
            FlowKey { proto, lo: b, hi: a, lo_port: bp, hi_port: ap }
        }
    }
    /// Key for ICMP: addresses sorted, the "ports" are the message class and echo identifier.
    fn icmp(proto: u8, a: Addr, b: Addr, class: u16, ident: u16) -> FlowKey {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        FlowKey { proto, lo, hi, lo_port: class, hi_port: ident }
    }
}

/// The flow a decoded packet belongs to, and its ports as Zeek writes them (for ICMP: the type
/// the sender sent and its counterpart, or the code for messages that have none: errors,
/// redirects, MLDv2 reports). `None`: no flow (a TCP or UDP header too damaged to have ports,
/// counted as an anomaly). The one definition of a flow key: the flow table and the router
/// that hands frames to their flow's worker (`pipeline::route_hash`) both use it.
pub(crate) fn key_of(net: &Net, transport: &Transport) -> Option<(FlowKey, u16, u16)> {
    let (src, dst) = (net.src, net.dst);
    Some(match *transport {
        Transport::Tcp(t) => (FlowKey::new(ipproto::TCP, src, t.sport, dst, t.dport), t.sport, t.dport),
        Transport::Udp { sport, dport } => (FlowKey::new(ipproto::UDP, src, sport, dst, dport), sport, dport),
        Transport::Icmp { v6, icmp_type, code, ident, .. } => icmp_key(net.proto, v6, src, dst, icmp_type, code, ident),
        Transport::Other | Transport::None if matches!(net.proto, ipproto::TCP | ipproto::UDP) => return None,
        Transport::Other | Transport::None => (FlowKey::new(net.proto, src, 0, dst, 0), 0, 0),
    })
}

/// [`key_of`] for an ICMP message (`v6`: ICMPv6 numbering) of `proto` from `src` to `dst`.
pub(crate) fn icmp_key(
    proto: u8,
    v6: bool,
    src: Addr,
    dst: Addr,
    icmp_type: u8,
    code: u8,
    ident: u16,
) -> (FlowKey, u16, u16) {
    let pair = if v6 { icmp::v6::counterpart(icmp_type) } else { icmp::v4::counterpart(icmp_type) };
    let class = match pair {
        Some(c) => u16::from(icmp_type.min(c)),
        None => u16::from(icmp_type) << 8 | u16::from(code),
    };
    let resp_p = pair.unwrap_or(code);
    (FlowKey::icmp(proto, src, dst, class, ident), u16::from(icmp_type), u16::from(resp_p))
}

/// The one hash of a flow key per packet. Keys are canonical, so both directions hash alike.
/// The same value picks the owning shard (bits 32 and up, see [`KeyHasher::shard`]) and the
/// index bucket (hashbrown takes the low bits and its tag from the top 7), so neither choice
/// starves the other of entropy. Seeded once per run: crafted keys cannot force collisions,
/// and the reader and every worker agree.
#[derive(Clone)]
pub struct KeyHasher(foldhash::fast::FixedState);

impl KeyHasher {
    /// A hasher for `seed` (see [`Config::hash_seed`]).
    pub fn new(seed: u64) -> KeyHasher {
        KeyHasher(foldhash::fast::FixedState::with_seed(seed))
    }
    /// The key's hash.
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        self.0.hash_one(key)
    }
    /// The shard (of `shards`) that owns a key with this hash.
    #[inline]
    pub fn shard(hash: u64, shards: u32) -> u32 {
        ((hash >> 32) % u64::from(shards.max(1))) as u32
    }
}

/// Ports that suggest a server, for orienting flows whose first packet is not a SYN.
fn likely_server(port: u16) -> bool {
    port < 1024
        || matches!(
            port,
            1080 | 1433
                | 1521
                | 1883
                | 3128
                | 3306
                | 3389
                | 3544
                | 5060
                | 5353
                | 5355
                | 5432
                | 5672
                | 5900
                | 6379
                | 6443
                | 8000
                | 8008
                | 8080
                | 8443
                | 8883
                | 9000
                | 9090
                | 9200
                | 11211
                | 27017
        )
}

const ONCE_A: u8 = 1;
const ONCE_D: u8 = 2;
const ONCE_I: u8 = 4;
const ONCE_Q: u8 = 8;

/// An optional value kept as bytes beside a presence flag: alignment 1, so `Maybe<4>` takes 5
/// bytes where `Option<u32>` takes 8 (its tag is padded to the value's alignment). The flow
/// slot is fetched on every packet, so its size is cache lines per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Maybe<const N: usize> {
    set: bool,
    bytes: [u8; N],
}

impl<const N: usize> Default for Maybe<N> {
    fn default() -> Self {
        Maybe { set: false, bytes: [0; N] }
    }
}

impl Maybe<4> {
    fn some(v: u32) -> Self {
        Maybe { set: true, bytes: v.to_ne_bytes() }
    }
    fn get(self) -> Option<u32> {
        self.set.then(|| u32::from_ne_bytes(self.bytes))
    }
}

impl Maybe<2> {
    fn of(v: Option<u16>) -> Self {
        Maybe { set: v.is_some(), bytes: v.unwrap_or(0).to_ne_bytes() }
    }
    fn get(self) -> Option<u16> {
        self.set.then(|| u16::from_ne_bytes(self.bytes))
    }
}

impl Maybe<8> {
    fn some((a, b): (u32, u32)) -> Self {
        let mut bytes = [0; 8];
        bytes[..4].copy_from_slice(&a.to_ne_bytes());
        bytes[4..].copy_from_slice(&b.to_ne_bytes());
        Maybe { set: true, bytes }
    }
    fn get(self) -> Option<(u32, u32)> {
        let half =
            |i: usize| u32::from_ne_bytes([self.bytes[i], self.bytes[i + 1], self.bytes[i + 2], self.bytes[i + 3]]);
        self.set.then(|| (half(0), half(4)))
    }
}

/// A capture time that may be unset, in 8 bytes where `Option<i64>` takes 16: the flow slot is
/// fetched on every packet, so its size is cache lines per packet. `i64::MIN` (the year 1677)
/// stands for "unset".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ts(i64);

impl Ts {
    const NONE: Ts = Ts(i64::MIN);

    fn get(self) -> Option<i64> {
        (self != Ts::NONE).then_some(self.0)
    }

    fn is_none(self) -> bool {
        self == Ts::NONE
    }
}

impl Default for Ts {
    fn default() -> Self {
        Ts::NONE
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Side {
    c: SideCounters,
    state: EndpointState,
    next_seq: Maybe<4>,
    /// One outstanding sequence hole (start, end), so late or reordered data fills it instead of
    /// counting as a retransmission.
    hole: Maybe<8>,
    last_syn: Maybe<4>,
    last_fin: Maybe<4>,
    last_rst: Maybe<4>,
    once: u8,
    /// Sequence gaps (saturating: only compared with powers of ten for history letters).
    gaps: u32,
    mss: Maybe<2>,
    /// The retransmission run in progress: (seq, len, sends), and when it began (apart: a
    /// tuple with the time would carry 4 bytes of padding).
    rtx_run: (u32, u32, u32),
    rtx_first: i64,
    /// First and last payload (capture time), for `TcpFacts`: kept here because every data
    /// packet updates them.
    data_first: Ts,
    data_last: i64,
    /// Largest IP length sent.
    max_ip_len: u32,
    /// A segment has been sent 3+ times without being acknowledged (see `Cold::facts`).
    stalled: bool,
    /// Hop limit (TTL) of this side's first TCP packet (the responder's is a record fact):
    /// here, in what was padding, so a flow's first reply makes no cold box.
    first_hop_limit: u8,
}

/// What a flow keeps but few packets touch (handshake facts, stalls, tunnel, ICMP errors):
/// boxed, so the slab entries that every packet visits stay small, and made only when
/// something is written to it (most UDP and ICMP flows never need it: a flood of one-packet
/// flows then costs a slot each, not a slot and a box).
#[derive(Default)]
struct Cold {
    /// First RST from the originator and from the responder, and the responder's RST's hop
    /// limit (TTL).
    orig_rst_ts: Ts,
    resp_rst_ts: Ts,
    resp_rst_hop_limit: u8,
    vlan: Option<u16>,
    tunnel: Option<Tunnel>,
    icmp_errors: Vec<IcmpError>,
    /// Each side's worst retransmission run (originator, responder): boxed apart, as only
    /// flows that retransmit have one, so the box a RST makes stays in a small size class (a
    /// flood of RSTs from distinct sources costs 96 bytes a flow here, not 320).
    stalls: Option<Box<[Stall; 2]>>,
}

impl Cold {
    /// A flow's cold box, made on first use (a function of the field, not of the flow, so the
    /// flow's other fields stay borrowable).
    fn of(cold: &mut Option<Box<Cold>>) -> &mut Cold {
        cold.get_or_insert_with(Box::default)
    }

    /// The worst retransmission run of the originator's side (else the responder's).
    fn stall(&mut self, orig: bool) -> &mut Stall {
        &mut self.stalls.get_or_insert_with(Box::default)[usize::from(!orig)]
    }
}

/// Aligned to cache lines: a 448-byte slot is then exactly seven lines, where an unaligned one
/// straddles eight (the warm pass fetches all of them for every packet). Shrinking it from 608
/// bytes cut one-thread CPU time on the benchmark by 5-9 % (sentinel times instead of
/// `Option`s, endpoints from the key: 512 bytes), then 3-5 % more (byte-packed optional
/// sequence numbers, uid and key hash derived instead of stored: 448; best and median of 10
/// alternating runs each).
#[repr(align(64))]
struct Flow<A> {
    app: A,
    key: FlowKey,
    /// The originator's address is the key's `lo` (else `hi`); with the ports below, the
    /// endpoints without a second copy of both addresses in the slot.
    orig_lo: bool,
    orig_p: u16,
    resp_p: u16,
    first_ts: i64,
    last_ts: i64,
    o: Side,
    r: Side,
    history: History,
    flipped: bool,
    /// The originator's SYNs (saturating) and whether its SYN carried a full option set: in
    /// the slot, not the cold box, so a SYN alone makes no box (a SYN flood then costs a slot
    /// per source, not a slot and a 264-byte box).
    syns: u16,
    syn_full_options: bool,
    syn_ts: Ts,
    synack_ts: Ts,
    rtt_synack: Ts,
    rtt_ack: Ts,
    /// The originator's ACK completing the handshake.
    ack_ts: Ts,
    /// See [`Cold`]; `None` until something is written to it.
    cold: Option<Box<Cold>>,
    anomalies: AnomalySet,
    gen: u32,
    live: bool,
}

/// Statistics of the table.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct TableStats {
    /// Flows created.
    pub created: u64,
    /// Flows written out early because the table was full.
    pub evicted: u64,
    /// Highest number of live flows in this table (a run reports the peak of its tables' sampled
    /// sum instead, the same for any number of workers).
    pub peak_live: u64,
    /// Packets attributed to flows.
    pub packets: u64,
    /// ICMP errors matched to the flow they quote.
    pub icmp_errors_matched: u64,
}

/// The flow table.
pub struct FlowTable<A: Attachment = ()> {
    events: Vec<A::Event>,
    cfg: Config,
    /// Slot indices keyed by the flow key's hash; the key itself lives in the slab, so the
    /// index stays small enough to sit in cache (4 bytes an entry) and a lookup touches the
    /// slab entry it needs anyway.
    index: HashTable<u32>,
    hasher: KeyHasher,
    slab: Vec<Flow<A>>,
    free: Vec<u32>,
    wheel: Wheel,
    stats: TableStats,
    now: i64,
    prev_ts: i64,
}

impl<A: Attachment> FlowTable<A> {
    /// An empty table.
    pub fn new(cfg: Config) -> Self {
        FlowTable {
            events: Vec::new(),
            cfg,
            index: HashTable::new(),
            hasher: KeyHasher::new(cfg.hash_seed),
            // Reserved up front, not grown: growing copies every live flow into fresh pages
            // (a third of the run's page faults on the benchmark). Reserving touches no page;
            // only slots in use become resident. Capped so a huge `--max-flows` reserves no
            // more than ~640 MB of address space.
            slab: Vec::with_capacity(cfg.max_flows.min(1 << 20)),
            free: Vec::new(),
            wheel: Wheel::new(),
            stats: TableStats::default(),
            now: i64::MIN,
            prev_ts: i64::MIN,
        }
    }

    /// Table statistics so far.
    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// Live flows.
    pub fn live(&self) -> usize {
        self.index.len()
    }

    /// Moves capture time forward to `ts`, writing out flows whose timeout passed.
    fn advance(&mut self, ts: i64, out: &mut Vec<FlowRecord>) {
        if ts <= self.now {
            return;
        }
        self.now = ts;
        let FlowTable { wheel, slab, index, free, cfg, events, hasher, .. } = self;
        wheel.advance(ts, |e| {
            let f = &mut slab[e.slot as usize];
            if !f.live || f.gen != e.gen {
                return None;
            }
            let deadline = f.deadline(cfg);
            if deadline > ts {
                return Some(deadline);
            }
            out.push(f.record(EndReason::Timeout, events));
            unindex(index, hasher.hash(&f.key), e.slot);
            f.live = false;
            free.push(e.slot);
            None
        });
    }

    /// Accounts one decoded packet; records of flows that ended are pushed to `out`.
    /// Moves the expiry clock with one frame's timestamp. Call it for every frame, owned or
    /// not, so every shard sees the same timeline. The clock follows the smaller of this and
    /// the previous timestamp, so a single corrupt timestamp far in the future cannot flush the
    /// table; a real jump (a paused capture) is confirmed by the next frame.
    pub fn tick(&mut self, ts: i64, out: &mut Vec<FlowRecord>) {
        let clock = ts.min(self.prev_ts);
        self.prev_ts = ts;
        self.advance(clock, out);
    }

    /// The input is quiet and its source says capture time is now `ts`: moves the clock there
    /// at once (the source's clock is trusted, unlike one frame's timestamp, see
    /// [`FlowTable::tick`]), writing out flows whose timeout passed.
    pub fn idle(&mut self, ts: i64, out: &mut Vec<FlowRecord>) {
        self.prev_ts = self.prev_ts.max(ts);
        self.advance(ts, out);
    }

    fn owns(&self, hash: u64) -> bool {
        self.cfg.shards <= 1 || KeyHasher::shard(hash, self.cfg.shards) == self.cfg.shard
    }

    /// Accounts one decoded packet (after [`FlowTable::tick`]); records of flows that ended are
    /// pushed to `out`. Packets of flows another shard owns are ignored.
    pub fn process(&mut self, ts: i64, d: &Decoded<'_>, out: &mut Vec<FlowRecord>) {
        if d.fragment_pending {
            return;
        }
        let Some(net) = d.net else { return };
        let (src, dst) = (net.src, net.dst);
        if let Transport::Icmp { v6, icmp_type, code, rest, quoted: Some(q), .. } = d.transport {
            self.attribute_icmp_error(ts, v6, icmp_type, code, rest, src, q);
        }
        let Some((key, sport, dport)) = key_of(&net, &d.transport) else { return };
        let hash = self.hasher.hash(&key);
        if !self.owns(hash) {
            return;
        }
        self.stats.packets += 1;
        let tcp_info = match d.transport {
            Transport::Tcp(t) => Some(t),
            _ => None,
        };
        let found = {
            let slab = &self.slab;
            self.index.find(hash, |&s| slab[s as usize].key == key).copied()
        };
        let (slot, created) = match found {
            Some(s) => {
                // Port reuse: a fresh SYN on a finished connection, or a new attempt with a new ISN.
                let reuse = tcp_info.is_some_and(|t| {
                    let f = &self.slab[s as usize];
                    t.flags & (wtcp::SYN | wtcp::ACK) == wtcp::SYN && f.is_reusable_by(t.seq, (src, sport) == f.orig())
                });
                // The flow's own timeout may have passed even if the shared clock has not moved
                // (it lags one frame behind on purpose): such a packet starts a new flow.
                let timed_out = ts > self.slab[s as usize].deadline(&self.cfg);
                if reuse || timed_out {
                    let f = &mut self.slab[s as usize];
                    let why = if reuse { EndReason::Reused } else { EndReason::Timeout };
                    out.push(f.record(why, &mut self.events));
                    f.live = false;
                    unindex(&mut self.index, hash, s);
                    self.free.push(s);
                    (self.create(ts, key, hash, d, src, sport, dst, dport, out), true)
                } else {
                    (s, false)
                }
            }
            None => (self.create(ts, key, hash, d, src, sport, dst, dport, out), true),
        };
        let f = &mut self.slab[slot as usize];
        let orig = f.orig();
        let dir_orig = if key.proto == ipproto::ICMP || key.proto == ipproto::ICMPV6 {
            src == orig.0
        } else {
            (src, sport) == orig
        };
        f.last_ts = f.last_ts.max(ts);
        f.anomalies.0 |= d.anomalies.0;
        let ip_len = u64::from(net.ip_len);
        let payload = match d.transport {
            Transport::Tcp(t) => u64::from(t.payload_len),
            _ => d.payload.len() as u64,
        };
        {
            let s = if dir_orig { &mut f.o } else { &mut f.r };
            s.c.pkts += 1;
            s.c.ip_bytes += ip_len;
            if tcp_info.is_none() {
                s.c.bytes += payload;
            }
        }
        let mut closed_now = false;
        if let Some(t) = tcp_info {
            let was_closed = f.is_tcp_closed();
            f.tcp(ts, dir_orig, &t, net.ip_len, net.hop_limit);
            closed_now = !was_closed && f.is_tcp_closed();
        }
        // A new flow's wheel entry, at the deadline its first packet gives it (a SYN makes it an
        // attempt, with a shorter timeout). Closing shortens the timeout: the entry sits at the
        // old deadline, so one more at the new one (the old entry is dropped when it comes up).
        // A longer deadline needs no entry: an early one is put back when it comes up.
        if created || closed_now {
            self.wheel.schedule(Entry { slot, gen: f.gen }, f.deadline(&self.cfg));
        }
        if self.cfg.attach && (!d.payload.is_empty() || tcp_info.is_some_and(|t| t.flags & wtcp::SYN != 0)) {
            let ctx = PacketCtx {
                ts,
                key: &f.key,
                first_ts: f.first_ts,
                from_orig: dir_orig,
                ip_proto: key.proto,
                orig,
                resp: f.resp(),
                tcp: tcp_info,
                starts: [f.o.last_syn.get().map(|s| s.wrapping_add(1)), f.r.last_syn.get().map(|s| s.wrapping_add(1))],
                payload: d.payload,
            };
            f.app.packet(&ctx, &mut self.events);
        }
    }

    /// Prefetches what processing a packet of the flow with key hash `hash` will touch: its
    /// slot in the slab. Called for a group of upcoming packets before processing them, so
    /// their cache misses overlap instead of queueing one packet at a time (the table is far
    /// larger than the cache). The index (4 bytes an entry, small enough to stay cached) is
    /// searched by tag only: the key is in the slab, which is what is being fetched, and a rare
    /// wrong guess only fetches a useless line.
    #[inline]
    pub fn warm(&self, hash: u64) {
        if let Some(&s) = self.index.find(hash, |_| true) {
            crate::prefetch::bytes(self.slab.as_ptr().wrapping_add(s as usize).cast(), std::mem::size_of::<Flow<A>>());
        }
    }

    /// Moves the application events produced so far into `into`.
    pub fn drain_events(&mut self, into: &mut Vec<A::Event>) {
        into.append(&mut self.events);
    }

    /// A live, indexed flow for a first packet that is not applied yet; [`FlowTable::process`]
    /// schedules its wheel entry once it is (the packet decides the flow's timeout).
    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        ts: i64,
        key: FlowKey,
        hash: u64,
        d: &Decoded<'_>,
        src: Addr,
        sport: u16,
        dst: Addr,
        dport: u16,
        out: &mut Vec<FlowRecord>,
    ) -> u32 {
        let mut tunnel = d.tunnel;
        if self.index.len() >= self.cfg.max_flows {
            self.evict(out);
        }
        let flip = match d.transport {
            Transport::Tcp(t) => {
                let syn = t.flags & wtcp::SYN != 0;
                let ack = t.flags & wtcp::ACK != 0;
                (syn && ack) || (!syn && likely_server(sport) && !likely_server(dport))
            }
            Transport::Udp { .. } => likely_server(sport) && !likely_server(dport),
            // As Zeek: the sender of the first ICMP message originates, even a reply. Router
            // and neighbor advertisements are often sent unsolicited; flipping them made
            // flows whose originator sent nothing.
            _ => false,
        };
        // A multicast or broadcast address never originates anything.
        let flip = flip && !dst.is_multicast_or_broadcast();
        let (orig, resp) = if flip { ((dst, dport), (src, sport)) } else { ((src, sport), (dst, dport)) };
        if let (true, Some(t)) = (flip, tunnel.as_mut()) {
            // Keep the outer endpoints in originator → responder order.
            std::mem::swap(&mut t.outer_src, &mut t.outer_dst);
        }
        let mut history = History::default();
        if flip {
            history.push(b'^');
        }
        let flow = Flow {
            app: A::default(),
            key,
            orig_lo: orig.0 == key.lo && (orig.1 == key.lo_port || key.lo != key.hi),
            orig_p: orig.1,
            resp_p: resp.1,
            first_ts: ts,
            last_ts: ts,
            o: Side::default(),
            r: Side::default(),
            history,
            flipped: flip,
            syns: 0,
            syn_full_options: false,
            syn_ts: Ts::NONE,
            synack_ts: Ts::NONE,
            rtt_synack: Ts::NONE,
            rtt_ack: Ts::NONE,
            ack_ts: Ts::NONE,
            cold: (tunnel.is_some() || d.vlan.is_some())
                .then(|| Box::new(Cold { tunnel, vlan: d.vlan, ..Cold::default() })),
            anomalies: AnomalySet::default(),
            gen: 0,
            live: true,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                let gen = self.slab[s as usize].gen.wrapping_add(1);
                self.slab[s as usize] = Flow { gen, ..flow };
                s
            }
            None => {
                self.slab.push(flow);
                (self.slab.len() - 1) as u32
            }
        };
        let slab = &self.slab;
        let hasher = &self.hasher;
        self.index.insert_unique(hash, slot, |&s| hasher.hash(&slab[s as usize].key));
        self.stats.created += 1;
        self.stats.peak_live = self.stats.peak_live.max(self.index.len() as u64);
        slot
    }

    fn evict(&mut self, out: &mut Vec<FlowRecord>) {
        let slab = &self.slab;
        let victim = self.wheel.take_soonest(|e| {
            let f = &slab[e.slot as usize];
            f.live && f.gen == e.gen
        });
        if let Some(e) = victim {
            let f = &mut self.slab[e.slot as usize];
            f.anomalies.add(Anomaly::FlowEvicted);
            out.push(f.record(EndReason::Evicted, &mut self.events));
            f.live = false;
            unindex(&mut self.index, self.hasher.hash(&f.key), e.slot);
            self.free.push(e.slot);
            self.stats.evicted += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn attribute_icmp_error(
        &mut self,
        ts: i64,
        v6: bool,
        t: u8,
        code: u8,
        rest: u32,
        from: Addr,
        q: crate::decode::Quoted,
    ) {
        let key = match q.proto {
            ipproto::TCP | ipproto::UDP => FlowKey::new(q.proto, q.src, q.sport, q.dst, q.dport),
            _ => return,
        };
        let hash = self.hasher.hash(&key);
        if !self.owns(hash) {
            return;
        }
        let slab = &self.slab;
        let Some(&slot) = self.index.find(hash, |&s| slab[s as usize].key == key) else {
            return;
        };
        let f = &mut self.slab[slot as usize];
        self.stats.icmp_errors_matched += 1;
        let mtu = match (v6, t) {
            (true, icmp::v6::PACKET_TOO_BIG) => rest,
            (false, icmp::v4::DEST_UNREACH) if code == 4 => rest & 0xffff,
            _ => 0,
        };
        let errors = &mut Cold::of(&mut f.cold).icmp_errors;
        if let Some(e) = errors.iter_mut().find(|e| e.icmp_type == t && e.code == code) {
            e.count = e.count.saturating_add(1);
        } else if errors.len() < 8 {
            let version = if v6 { 6 } else { 4 };
            errors.push(IcmpError { ts, version, icmp_type: t, code, from, mtu, count: 1 });
        }
    }

    /// Writes out every live flow (end of input), ordered by start time and uid.
    pub fn finish(&mut self, out: &mut Vec<FlowRecord>) {
        let order = self.finish_order();
        self.finish_some(&order, out);
        self.clear();
    }

    /// End of input, step 1: the live flows' slots in the order their records are written (start
    /// time, then uid: the order the pipeline merges records in, so each chunk written with
    /// [`FlowTable::finish_some`] can be merged as soon as it is made).
    pub fn finish_order(&mut self) -> Vec<u32> {
        let _ = self.wheel.drain_all();
        let mut live: Vec<(i64, [u8; 11], u32)> = (0..self.slab.len())
            .filter(|&i| self.slab[i].live)
            .map(|i| (self.slab[i].first_ts, uid_digits(self.slab[i].uid()), i as u32))
            .collect();
        live.sort_unstable();
        live.into_iter().map(|(_, _, i)| i).collect()
    }

    /// End of input, step 2: writes out the flows at `slots` (from [`FlowTable::finish_order`]).
    pub fn finish_some(&mut self, slots: &[u32], out: &mut Vec<FlowRecord>) {
        // Reserved at once: growing the vector record by record copied it over and over.
        out.reserve(slots.len());
        // Slots come in start-time order, so each is a cold spot in the slab, with its cold box
        // and extractor state behind two more pointers: prefetch a group's slots, then what they
        // point to, so the misses overlap (the end of input was waiting on them one flow at a
        // time).
        for group in slots.chunks(16) {
            for &i in group {
                crate::prefetch::bytes(
                    self.slab.as_ptr().wrapping_add(i as usize).cast(),
                    std::mem::size_of::<Flow<A>>(),
                );
            }
            for &i in group {
                let f = &self.slab[i as usize];
                if let Some(c) = f.cold.as_deref() {
                    crate::prefetch::bytes((c as *const Cold).cast(), std::mem::size_of::<Cold>());
                }
                f.app.warm();
            }
            for &i in group {
                let f = &mut self.slab[i as usize];
                if f.live {
                    out.push(f.record(EndReason::End, &mut self.events));
                    f.live = false;
                }
            }
        }
    }

    /// End of input, step 3: forgets every flow.
    pub fn clear(&mut self) {
        let _ = self.wheel.drain_all();
        self.slab.clear();
        self.index.clear();
        self.free.clear();
    }
}

/// A flow's uid: a fixed-seed hash of its key, start time and originator, so the same input
/// always gives the same uids.
fn flow_uid(key: &FlowKey, first_ts: i64, orig: (Addr, u16)) -> u64 {
    foldhash::fast::FixedState::with_seed(0x7636_7761_7463_6821).hash_one((key, first_ts, orig))
}

/// Removes `slot` from the index.
fn unindex(index: &mut HashTable<u32>, hash: u64, slot: u32) {
    if let Ok(e) = index.find_entry(hash, |&s| s == slot) {
        e.remove();
    }
}

/// `a` is after `b` in sequence space.
#[inline]
fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Bytes of one flow slot with attachment `A` (the extractors hold their slot size to a
/// budget with it).
pub const fn slot_size<A: Attachment>() -> usize {
    std::mem::size_of::<Flow<A>>()
}

impl<A: Attachment> Flow<A> {
    /// The uid: derived from what identifies the flow (key, start, originator), not stored.
    fn uid(&self) -> u64 {
        flow_uid(&self.key, self.first_ts, self.orig())
    }

    /// The originator's address and port.
    #[inline]
    fn orig(&self) -> (Addr, u16) {
        (if self.orig_lo { self.key.lo } else { self.key.hi }, self.orig_p)
    }

    /// The responder's address and port.
    #[inline]
    fn resp(&self) -> (Addr, u16) {
        (if self.orig_lo { self.key.hi } else { self.key.lo }, self.resp_p)
    }

    fn is_tcp_closed(&self) -> bool {
        use EndpointState::*;
        matches!(self.o.state, Reset)
            || matches!(self.r.state, Reset)
            || (self.o.state == Closed && self.r.state == Closed)
    }

    /// Only the originator's SYNs so far (Zeek's S0).
    fn is_unanswered_attempt(&self) -> bool {
        self.r.state == EndpointState::Inactive && self.o.state == EndpointState::SynSent
    }

    fn deadline(&self, cfg: &Config) -> i64 {
        let t = match self.key.proto {
            ipproto::TCP if self.is_tcp_closed() => cfg.tcp_closed_ns,
            ipproto::TCP if self.is_unanswered_attempt() => cfg.tcp_attempt_ns,
            ipproto::TCP => cfg.tcp_idle_ns,
            ipproto::UDP => cfg.udp_idle_ns,
            _ => cfg.other_idle_ns,
        };
        self.last_ts.saturating_add(t)
    }

    /// Whether a SYN (no ACK) with `seq` starts a new connection on this 5-tuple: the old one
    /// finished (FIN or RST seen), or never got an answer and the SYN carries a new ISN.
    fn is_reusable_by(&self, seq: u32, from_orig: bool) -> bool {
        use EndpointState::*;
        let finished = matches!(self.o.state, Closed | Reset) || matches!(self.r.state, Closed | Reset);
        if finished {
            return true;
        }
        self.is_unanswered_attempt() && from_orig && self.o.last_syn.get().is_some_and(|s| s != seq)
    }

    fn letter(&mut self, from_orig: bool, c: u8) {
        self.history.push(if from_orig { c.to_ascii_uppercase() } else { c });
    }

    fn tcp(&mut self, ts: i64, from_orig: bool, t: &crate::decode::TcpInfo, ip_len: u32, hop_limit: u8) {
        use EndpointState::*;
        let flags = t.flags;
        let (syn, ack, fin, rst) =
            (flags & wtcp::SYN != 0, flags & wtcp::ACK != 0, flags & wtcp::FIN != 0, flags & wtcp::RST != 0);
        let len = t.payload_len;
        // History letters (Zeek's rules: some once, some on a new sequence number, some logarithmic).
        let once = |f: &mut Flow<A>, bit: u8, c: u8| {
            let s = if from_orig { &mut f.o } else { &mut f.r };
            if s.once & bit == 0 {
                s.once |= bit;
                f.letter(from_orig, c);
            }
        };
        if syn && (fin || rst) {
            once(self, ONCE_Q, b'q');
        } else if fin && rst {
            once(self, ONCE_I, b'i');
        }
        {
            let side = if from_orig { &mut self.o } else { &mut self.r };
            let mut letters: [u8; 3] = [0; 3];
            let mut n = 0;
            if syn {
                if side.last_syn.get() != Some(t.seq) {
                    side.last_syn = Maybe::<4>::some(t.seq);
                    letters[n] = if ack { b'h' } else { b's' };
                    n += 1;
                }
                if let Some(o) = t.options {
                    side.mss = Maybe::<2>::of(side.mss.get().or(o.mss));
                }
            }
            if fin && side.last_fin.get() != Some(t.seq) {
                side.last_fin = Maybe::<4>::some(t.seq);
                letters[n] = b'f';
                n += 1;
            }
            if rst && side.last_rst.get() != Some(t.seq) {
                side.last_rst = Maybe::<4>::some(t.seq);
                letters[n] = b'r';
                n += 1;
            }
            for &c in &letters[..n] {
                self.letter(from_orig, c);
            }
        }
        if len > 0 {
            once(self, ONCE_D, b'd');
        } else if flags & (wtcp::SYN | wtcp::FIN | wtcp::RST | wtcp::ACK) == wtcp::ACK {
            once(self, ONCE_A, b'a');
        }
        // Handshake timing.
        if syn && !ack && from_orig && self.syn_ts.is_none() {
            self.syn_ts = Ts(ts);
        }
        self.facts(ts, from_orig, t, ip_len, hop_limit);
        if syn && ack && !from_orig && self.synack_ts.is_none() {
            self.synack_ts = Ts(ts);
            self.rtt_synack = self.syn_ts.get().map_or(Ts::NONE, |s| Ts(ts - s));
        }
        if !syn && ack && from_orig && self.rtt_ack.is_none() {
            if let Some(sa) = self.synack_ts.get() {
                self.rtt_ack = Ts(ts - sa);
            }
        }
        // Sequence space: new bytes, gaps, retransmissions.
        let seg = len.wrapping_add(u32::from(syn)).wrapping_add(u32::from(fin));
        let mut gap = false;
        let mut retrans = false;
        {
            let side = if from_orig { &mut self.o } else { &mut self.r };
            if t.window == 0 && !rst && !syn {
                side.c.zero_windows += 1;
            }
            match side.next_seq.get() {
                None => {
                    side.next_seq = Maybe::<4>::some(t.seq.wrapping_add(seg));
                    side.c.bytes += u64::from(len);
                }
                Some(next) => {
                    let ahead = t.seq.wrapping_sub(next) as i32;
                    if ahead > 0 && len > 0 {
                        if ahead < 1 << 30 {
                            side.c.missed_bytes += ahead as u64;
                            side.hole = Maybe::<8>::some((next, t.seq));
                            side.gaps = side.gaps.saturating_add(1);
                            gap = true;
                        }
                        side.next_seq = Maybe::<4>::some(t.seq.wrapping_add(seg));
                        side.c.bytes += u64::from(len);
                    } else if len > 0 {
                        let end = t.seq.wrapping_add(len);
                        if seq_after(end, next) {
                            side.c.bytes += u64::from(end.wrapping_sub(next));
                            side.rtx_run.2 = 0;
                            if side.stalled {
                                // New data went through: the stall is over.
                                side.stalled = false;
                                Cold::of(&mut self.cold).stall(from_orig).recovered_ts.get_or_insert(ts);
                            }
                            side.next_seq = Maybe::<4>::some(end.wrapping_add(u32::from(fin)));
                        } else if let Some((hs, he)) =
                            side.hole.get().filter(|&(hs, he)| !seq_after(hs, t.seq) && !seq_after(end, he))
                        {
                            // Late data filling a hole we counted as missed.
                            side.c.missed_bytes = side.c.missed_bytes.saturating_sub(u64::from(len));
                            side.c.bytes += u64::from(len);
                            side.hole = Maybe::<8>::some(if hs == t.seq { (end, he) } else { (hs, t.seq) });
                        } else {
                            side.c.retransmits += 1;
                            retrans = true;
                            let (rs, rl, n) = side.rtx_run;
                            if (rs, rl) == (t.seq, len) && n > 0 {
                                side.rtx_run.2 = n + 1;
                            } else {
                                // The first transmission is not a retransmission: count it.
                                side.rtx_run = (t.seq, len, 2);
                                side.rtx_first = ts;
                            }
                            // The run is now this segment's.
                            let (sends, first) = (side.rtx_run.2, side.rtx_first);
                            let stall = Cold::of(&mut self.cold).stall(from_orig);
                            if sends > stall.sends || (sends == stall.sends && len > stall.len) {
                                *stall = Stall {
                                    seq: t.seq,
                                    len,
                                    ip_len,
                                    sends,
                                    first_ts: first,
                                    last_ts: ts,
                                    recovered_ts: None,
                                };
                            } else if stall.len == len {
                                stall.last_ts = ts;
                            }
                            side.stalled = stall.sends >= 3 && stall.recovered_ts.is_none();
                        }
                    } else if seq_after(t.seq.wrapping_add(seg), next) {
                        side.next_seq = Maybe::<4>::some(t.seq.wrapping_add(seg));
                    }
                }
            }
        }
        // An ACK beyond what the peer was seen sending means the capture missed the peer's data.
        if ack && !syn {
            let peer = if from_orig { &mut self.r } else { &mut self.o };
            if let Some(pn) = peer.next_seq.get() {
                let beyond = t.ack.wrapping_sub(pn) as i32;
                if beyond > 0 && beyond < 1 << 30 && matches!(peer.state, Established | Partial | Closed | SynAckSent) {
                    peer.c.missed_bytes += beyond as u64;
                    peer.next_seq = Maybe::<4>::some(t.ack);
                    peer.gaps = peer.gaps.saturating_add(1);
                    let n = u64::from(peer.gaps);
                    if tcp::log_threshold_reached(n) {
                        self.letter(!from_orig, b'g');
                    }
                }
            }
        }
        {
            let side = if from_orig { &self.o } else { &self.r };
            let (g, rt, zw) = (u64::from(side.gaps), side.c.retransmits, side.c.zero_windows);
            if gap && tcp::log_threshold_reached(g) {
                self.letter(from_orig, b'g');
            }
            if retrans && tcp::log_threshold_reached(rt) {
                self.letter(from_orig, b't');
            }
            if t.window == 0 && !rst && !syn && tcp::log_threshold_reached(zw) {
                self.letter(from_orig, b'w');
            }
        }
        // Endpoint states.
        let (me, peer) = if from_orig { (&mut self.o, &mut self.r) } else { (&mut self.r, &mut self.o) };
        if rst {
            me.state = Reset;
            return;
        }
        if syn {
            if !ack && matches!(me.state, Inactive) {
                me.state = SynSent;
            } else if ack && matches!(me.state, Inactive | SynSent) {
                me.state = SynAckSent;
            }
        } else {
            if me.state == Inactive {
                me.state = Partial;
            }
            if ack {
                if matches!(me.state, SynSent | SynAckSent) {
                    me.state = Established;
                }
                if peer.state == SynAckSent {
                    peer.state = Established;
                }
                if me.state == Partial && peer.state == SynAckSent {
                    peer.state = Established;
                }
            }
        }
        if fin && me.state != Reset {
            me.state = Closed;
        }
    }

    /// Keeps the handshake and progress facts of `TcpFacts`.
    fn facts(&mut self, ts: i64, from_orig: bool, t: &crate::decode::TcpInfo, ip_len: u32, hop_limit: u8) {
        let (syn, ack, rst) = (t.flags & wtcp::SYN != 0, t.flags & wtcp::ACK != 0, t.flags & wtcp::RST != 0);
        let side = if from_orig { &mut self.o } else { &mut self.r };
        if t.payload_len > 0 {
            if side.data_first.is_none() {
                side.data_first = Ts(ts);
            }
            side.data_last = ts;
        }
        side.max_ip_len = side.max_ip_len.max(ip_len);
        if side.c.pkts == 1 {
            side.first_hop_limit = hop_limit;
        }
        if from_orig && ack && !syn && !rst && self.synack_ts.get().is_some() && self.ack_ts.is_none() {
            self.ack_ts = Ts(ts);
        }
        if from_orig && syn && !ack {
            self.syns = self.syns.saturating_add(1);
            if let Some(o) = t.options {
                self.syn_full_options =
                    o.mss.is_some() && o.sack_permitted && o.timestamps.is_some() && o.window_scale.is_some();
            }
        }
        // The rest is rare: the cold box is only touched on RSTs and while the peer has a
        // stalled segment.
        let peer_stalled = ack && if from_orig { self.r.stalled } else { self.o.stalled };
        if !(rst || peer_stalled) {
            return;
        }
        let f = Cold::of(&mut self.cold);
        if peer_stalled {
            // An acknowledgment covering the peer's stuck segment ends its stall.
            let stall = f.stall(!from_orig);
            if !seq_after(stall.seq.wrapping_add(stall.len), t.ack) {
                stall.recovered_ts.get_or_insert(ts);
                if from_orig {
                    self.r.stalled = false;
                } else {
                    self.o.stalled = false;
                }
            }
        }
        if from_orig {
            if rst && f.orig_rst_ts.is_none() {
                f.orig_rst_ts = Ts(ts);
            }
        } else if rst && f.resp_rst_ts.is_none() {
            f.resp_rst_ts = Ts(ts);
            f.resp_rst_hop_limit = hop_limit;
        }
    }

    /// The flow's record; the flow is over (every caller marks it dead), so its cold box is
    /// taken, not copied.
    fn record(&mut self, end: EndReason, events: &mut Vec<A::Event>) -> FlowRecord {
        let cold = self.cold.take().map_or_else(Cold::default, |b| *b);
        let ((orig_h, orig_p), (resp_h, resp_p)) = (self.orig(), self.resp());
        let conn_state = match self.key.proto {
            ipproto::TCP => tcp::conn_state(self.o.state, self.r.state, self.o.c.bytes, self.r.c.bytes, &self.history),
            ipproto::ICMP | ipproto::ICMPV6 => ConnState::OTH,
            _ => tcp::udp_conn_state(self.o.c.pkts, self.r.c.pkts),
        };
        let history = if self.key.proto == ipproto::TCP {
            self.history.as_str().to_string()
        } else if matches!(self.key.proto, ipproto::ICMP | ipproto::ICMPV6) {
            // Zeek keeps no history for ICMP.
            String::new()
        } else {
            // Zeek writes D/d for UDP packets with payload; keep the same shape.
            let mut h = String::new();
            if self.flipped {
                h.push('^');
            }
            if self.o.c.pkts > 0 {
                h.push('D');
            }
            if self.r.c.pkts > 0 {
                h.push('d');
            }
            h
        };
        let mut rec = FlowRecord {
            uid: uid_string(self.uid()),
            ts: self.first_ts,
            last_ts: self.last_ts,
            orig_h,
            orig_p,
            resp_h,
            resp_p,
            ip_proto: self.key.proto,
            conn_state,
            history,
            orig: self.o.c,
            resp: self.r.c,
            flipped: self.flipped,
            rtt_synack_ns: self.rtt_synack.get(),
            rtt_ack_ns: self.rtt_ack.get(),
            orig_mss: self.o.mss.get(),
            resp_mss: self.r.mss.get(),
            tunnel: cold.tunnel.map(|t| t.kind),
            tunnel_outer: cold.tunnel.map(|t| (t.outer_src, t.outer_dst)),
            vlan: cold.vlan,
            tcp: (self.key.proto == ipproto::TCP).then_some(TcpFacts {
                syn_ts: self.syn_ts.get(),
                synack_ts: self.synack_ts.get(),
                ack_ts: self.ack_ts.get(),
                orig_data: self.o.data_first.get().map(|f| (f, self.o.data_last)),
                resp_data: self.r.data_first.get().map(|f| (f, self.r.data_last)),
                orig_max_ip_len: self.o.max_ip_len,
                resp_max_ip_len: self.r.max_ip_len,
                syns: u32::from(self.syns),
                syn_full_options: self.syn_full_options,
                orig_rst_ts: cold.orig_rst_ts.get(),
                resp_rst_ts: cold.resp_rst_ts.get(),
                resp_hop_limit: self.r.first_hop_limit,
                resp_rst_hop_limit: cold.resp_rst_hop_limit,
                orig_stall: cold.stalls.as_ref().map_or_else(Stall::default, |s| s[0]),
                resp_stall: cold.stalls.as_ref().map_or_else(Stall::default, |s| s[1]),
            }),
            icmp_errors: cold.icmp_errors,
            anomalies: self.anomalies.iter().map(|a| a.name()).collect(),
            end,
            role: crate::model::Role::Transit,
            service: None,
            server_name: None,
            name_source: None,
        };
        self.app.end(&mut rec, events);
        rec
    }
}

#[cfg(test)]
mod shard_test {
    use super::*;

    #[test]
    fn shard_hash_spreads_and_is_symmetric() {
        let h = KeyHasher::new(Config::default().hash_seed);
        let mut counts = [0u32; 4];
        for i in 0..4000u32 {
            let a = Addr::v4([10, 0, (i >> 8) as u8, i as u8]);
            let b = Addr::v4([192, 0, 2, 1]);
            let k1 = FlowKey::new(6, a, 40000 + i as u16, b, 80);
            let k2 = FlowKey::new(6, b, 80, a, 40000 + i as u16);
            assert_eq!(h.hash(&k1), h.hash(&k2));
            counts[KeyHasher::shard(h.hash(&k1), 4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }
}

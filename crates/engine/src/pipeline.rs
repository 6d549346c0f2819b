//! The only module that sees every stage: reader → decoder → sensor inference → flow table →
//! sink, for one sensor at a time. It accumulates the capture statistics `summary` shows.

use crate::decode::{Addr, Anomaly, AnomalyCounts, Decoder, TunnelKind};
use crate::extract::App;
use crate::flow::{Config as FlowConfig, FlowKey, FlowTable, KeyHasher, TableStats};
use crate::model::{AppEvent, EventKind, FlowRecord, Role};
use crate::sensor::{self, Inference, SensorAddr};
pub use crate::source::FileSummary;
use crate::source::{FrameBatch, FrameMeta, FrameSource, BATCH_FRAMES, TICK};
use hashbrown::{HashMap, HashSet};
use serde::Serialize;
use std::path::PathBuf;

/// One sensor's input: its name and its capture files (merged in time order).
#[derive(Debug, Clone)]
pub struct SensorInput {
    /// Sensor name.
    pub name: String,
    /// Capture files, `-` for stdin.
    pub paths: Vec<PathBuf>,
    /// Addresses given by the user; when empty they are inferred.
    pub addrs: Vec<Addr>,
}

/// Engine options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Flow table settings.
    pub flow: FlowConfig,
    /// Continue past damaged blocks where the format allows resynchronising.
    pub keep_going: bool,
    /// Worker threads sharing the flows (0 or 1: one worker). The output is identical for any
    /// number, as long as no flow is evicted (the `max_flows` bound is split between workers).
    pub threads: usize,
    /// Names from hosts-format files: used (provenance `hosts`) for flows the capture itself
    /// does not name.
    pub hosts: std::sync::Arc<HashMap<Addr, String>>,
    /// The caller only streams records and never reads the summary's flow tallies (flows by
    /// role, protocol and state, top talkers): they are left empty instead of counted.
    pub no_tally: bool,
}

/// Receives the records of one run, as their flows end. Its life: for each sensor
/// [`FlowSink::begin`], its records ([`FlowSink::flow`], [`FlowSink::event`], with
/// [`FlowSink::flush`] whenever the input pauses), [`FlowSink::end`] with the sensor's
/// summary; after the last sensor the caller calls [`FlowSink::finish`] once. Several sinks
/// are fed by one pass through [`Tee`]; `&mut S` and `Box<S>` are sinks too.
///
/// Errors are `std::io::Error` for every sink: a sink whose storage has its own error type
/// wraps it (`io::Error::other`), and the first error stops the run.
pub trait FlowSink {
    /// The records of `sensor` start.
    fn begin(&mut self, _sensor: &str) -> std::io::Result<()> {
        Ok(())
    }
    /// The input of `summary.sensor` ended and all its records were given.
    fn end(&mut self, _summary: &SensorSummary) -> std::io::Result<()> {
        Ok(())
    }
    /// The run is over: write out what is buffered and close (a file sink moves its files into
    /// place here, so a failed run leaves none half-written). Default: [`FlowSink::flush`].
    fn finish(&mut self) -> std::io::Result<()> {
        self.flush()
    }
    /// One finished flow of `sensor`.
    fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> std::io::Result<()>;
    /// One application event of `sensor` (DNS transaction, HTTP request, TLS handshake).
    fn event(&mut self, _sensor: &str, _ev: &AppEvent) -> std::io::Result<()> {
        Ok(())
    }
    /// The input paused (a stream waits for frames): write out what is buffered, so records
    /// reach their reader as they happen. Default: nothing to do.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Whether [`FlowSink::event`] reads events of `kind`. Those it does not are dropped where
    /// they are made instead of being sent, ordered and handed over (DNS events are kept
    /// whatever the answer: their answers name flows). Default: every kind.
    fn wants(&self, _kind: EventKind) -> bool {
        true
    }
    /// A sink that only writes each record out may say how, so that records can be written
    /// on the threads that make them: the end of input makes most records at once, and one
    /// thread writing them all was the end's bottleneck. `None` (the default): every record
    /// comes through [`FlowSink::flow`].
    fn formatter(&self, _sensor: &str) -> Option<Box<dyn RecordFormat>> {
        None
    }
    /// Whole records made by [`FlowSink::formatter`], in output order.
    fn formatted(&mut self, _bytes: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::other("this sink has no formatter"))
    }
}

/// Writes a flow record of one sensor as bytes, on any thread.
pub trait RecordFormat: Send + Sync {
    /// Appends exactly what [`FlowSink::flow`] would write for `rec`.
    fn format(&self, rec: &FlowRecord, out: &mut Vec<u8>);
}

/// A sink that drops records (summary only).
pub struct NullSink;

impl FlowSink for NullSink {
    fn flow(&mut self, _: &str, _: &FlowRecord) -> std::io::Result<()> {
        Ok(())
    }
}

/// Forwards every call, so a sink can be lent (`&mut S`) or boxed and still be a sink.
macro_rules! forward_sink {
    () => {
        fn begin(&mut self, sensor: &str) -> std::io::Result<()> {
            (**self).begin(sensor)
        }
        fn end(&mut self, summary: &SensorSummary) -> std::io::Result<()> {
            (**self).end(summary)
        }
        fn finish(&mut self) -> std::io::Result<()> {
            (**self).finish()
        }
        fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> std::io::Result<()> {
            (**self).flow(sensor, rec)
        }
        fn event(&mut self, sensor: &str, ev: &AppEvent) -> std::io::Result<()> {
            (**self).event(sensor, ev)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            (**self).flush()
        }
        fn wants(&self, kind: EventKind) -> bool {
            (**self).wants(kind)
        }
        fn formatter(&self, sensor: &str) -> Option<Box<dyn RecordFormat>> {
            (**self).formatter(sensor)
        }
        fn formatted(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            (**self).formatted(bytes)
        }
    };
}

impl<S: FlowSink + ?Sized> FlowSink for &mut S {
    forward_sink!();
}

impl<S: FlowSink + ?Sized> FlowSink for Box<S> {
    forward_sink!();
}

/// Two sinks fed by one pass (`Tee(analysis, export)`: a report and a dataset from one read of
/// the captures). Each call goes to the first, then the second; the first error stops the run.
/// Events go to both if either wants their kind (each sink still sees only what it asked
/// for, as the writers filter by kind). Records are formatted on the workers only when a
/// single sink asks for it, so a tee has no formatter.
pub struct Tee<A, B>(pub A, pub B);

impl<A: FlowSink, B: FlowSink> FlowSink for Tee<A, B> {
    fn begin(&mut self, sensor: &str) -> std::io::Result<()> {
        self.0.begin(sensor)?;
        self.1.begin(sensor)
    }
    fn end(&mut self, summary: &SensorSummary) -> std::io::Result<()> {
        self.0.end(summary)?;
        self.1.end(summary)
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.0.finish()?;
        self.1.finish()
    }
    fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> std::io::Result<()> {
        self.0.flow(sensor, rec)?;
        self.1.flow(sensor, rec)
    }
    fn event(&mut self, sensor: &str, ev: &AppEvent) -> std::io::Result<()> {
        let kind = ev.kind();
        if self.0.wants(kind) {
            self.0.event(sensor, ev)?;
        }
        if self.1.wants(kind) {
            self.1.event(sensor, ev)?;
        }
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
    fn wants(&self, kind: EventKind) -> bool {
        self.0.wants(kind) || self.1.wants(kind)
    }
}

/// Counters of one family or direction bucket.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Volume {
    /// Packets.
    pub packets: u64,
    /// IP bytes.
    pub bytes: u64,
}

/// A remote (or any) address ranked by traffic.
#[derive(Debug, Clone, Serialize)]
pub struct Talker {
    /// Address.
    #[serde(serialize_with = "crate::model::ser_addr")]
    pub addr: Addr,
    /// Flows it took part in.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// IP bytes.
    pub bytes: u64,
}

/// Everything `summary` shows about one sensor.
#[derive(Debug, Clone, Serialize)]
pub struct SensorSummary {
    /// Sensor name.
    pub sensor: String,
    /// Input files.
    pub files: Vec<FileSummary>,
    /// Frames read.
    pub frames: u64,
    /// Captured bytes.
    pub captured_bytes: u64,
    /// Bytes on the wire (original lengths).
    pub wire_bytes: u64,
    /// First frame (ns since epoch).
    #[serde(serialize_with = "crate::model::epoch_opt")]
    pub first_ts: Option<i64>,
    /// Last frame.
    #[serde(serialize_with = "crate::model::epoch_opt")]
    pub last_ts: Option<i64>,
    /// Link types as (name, number, frames).
    pub linktypes: Vec<(String, u32, u64)>,
    /// Frames whose outermost network header is IPv4.
    pub outer_ipv4: u64,
    /// Frames whose outermost network header is IPv6.
    pub outer_ipv6: u64,
    /// Frames without IP.
    pub non_ip: u64,
    /// Frames whose innermost (flow) layer is IPv4.
    pub inner_ipv4: u64,
    /// Frames whose innermost (flow) layer is IPv6.
    pub inner_ipv6: u64,
    /// Tunnelled frames by encapsulation.
    pub tunnels: Vec<(TunnelKind, u64)>,
    /// VLAN-tagged frames.
    pub vlan_frames: u64,
    /// Fragments waiting for reassembly (not flow packets themselves).
    pub fragments: u64,
    /// Reassembled datagrams.
    pub reassembled: u64,
    /// Anomalies by name.
    pub anomalies: Vec<(&'static str, u64)>,
    /// Sensor addresses, with the reason for each.
    pub sensor_addrs: Vec<SensorAddr>,
    /// Whether they were inferred (not configured).
    pub sensor_addrs_inferred: bool,
    /// Flows by role.
    pub roles: Vec<(Role, u64)>,
    /// Volume by inner IP version: [IPv4, IPv6].
    pub by_family: [Volume; 2],
    /// Flow counts by protocol name.
    pub flows_by_proto: Vec<(&'static str, u64)>,
    /// Flow counts by conn_state.
    pub conn_states: Vec<(&'static str, u64)>,
    /// Flows written.
    pub flows: u64,
    /// Flow table statistics.
    pub table: TableStats,
    /// Top addresses other than the sensor's, by bytes.
    pub top_talkers: Vec<Talker>,
    /// Whether any file was damaged.
    pub damaged: bool,
}

/// Addresses tracked for top talkers at most (a scan must not grow memory).
const MAX_TALKERS: usize = 100_000;

struct Accumulator {
    roles: HashMap<Role, u64>,
    protos: HashMap<&'static str, u64>,
    states: HashMap<&'static str, u64>,
    talkers: HashMap<Addr, (u64, u64, u64)>,
    flows: u64,
    /// See [`Options::no_tally`].
    no_tally: bool,
}

impl Accumulator {
    /// Counts a record (its role already assigned); `sensor`: the sensor's addresses.
    fn add(&mut self, rec: &FlowRecord, sensor: &HashSet<Addr>) {
        self.flows += 1;
        if self.no_tally {
            return;
        }
        *self.roles.entry(rec.role).or_default() += 1;
        *self.protos.entry(rec.proto_name()).or_default() += 1;
        *self.states.entry(rec.conn_state).or_default() += 1;
        let pk = rec.orig.pkts + rec.resp.pkts;
        let by = rec.orig.ip_bytes + rec.resp.ip_bytes;
        for a in [rec.orig_h, rec.resp_h] {
            if sensor.contains(&a) || a.is_multicast_or_broadcast() {
                continue;
            }
            if let Some(t) = self.talkers.get_mut(&a) {
                t.0 += 1;
                t.1 += pk;
                t.2 += by;
            } else if self.talkers.len() < MAX_TALKERS {
                self.talkers.insert(a, (1, pk, by));
            }
        }
    }
}

fn sorted<K: Ord + Copy>(m: &HashMap<K, u64>) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = m.iter().map(|(k, n)| (*k, *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// A [`FrameBatch`] as the workers share it, read-only: numbered, and each frame routed.
struct Batch {
    /// Global index of the first frame.
    first: u64,
    input: FrameBatch,
    /// Per frame: the worker that owns its flow, or [`ALL`].
    routes: Vec<u8>,
    /// Per frame: the flow-key hash when routed (for [`FlowTable::warm`]), else 0.
    hashes: Vec<u64>,
}

/// Frames whose flow state is loaded together before they are processed.
const WARM_GROUP: usize = 16;

impl Batch {
    fn new() -> Batch {
        Batch {
            first: 0,
            input: FrameBatch::new(),
            routes: Vec::with_capacity(BATCH_FRAMES),
            hashes: Vec::with_capacity(BATCH_FRAMES),
        }
    }

    /// Captured bytes of its frames.
    fn captured(&self) -> u64 {
        self.input.captured()
    }

    /// Computes every frame's route.
    fn route(&mut self, hasher: &KeyHasher, shards: u32) {
        self.routes.clear();
        self.hashes.clear();
        for f in &self.input.frames {
            let hash = route_hash(hasher, f.linktype, &self.input.data[f.start..f.start + f.len]);
            self.routes.push(hash.map_or(ALL, |h| KeyHasher::shard(h, shards) as u8));
            self.hashes.push(hash.unwrap_or(0));
        }
    }
}

/// Cuts the input into [`Batch`]es: fills them from the source, numbers the frames and
/// computes each frame's route.
struct Feed<'s> {
    source: &'s mut dyn FrameSource,
    hasher: KeyHasher,
    shards: u32,
    /// Index of the next frame.
    next: u64,
    done: bool,
}

impl<'s> Feed<'s> {
    fn new(source: &'s mut dyn FrameSource, hasher: KeyHasher, shards: u32) -> Feed<'s> {
        Feed { source, hasher, shards, next: 0, done: false }
    }

    /// The next batch (filled into `spare`, a used batch or a new one), or `None` at the end.
    fn next(&mut self, spare: Option<Batch>) -> Option<Batch> {
        if self.done {
            return None;
        }
        let mut batch = spare.unwrap_or_else(Batch::new);
        if !self.source.fill(&mut batch.input) {
            self.done = true;
            return None;
        }
        batch.first = self.next;
        self.next += batch.input.len() as u64;
        batch.route(&self.hasher, self.shards);
        Some(batch)
    }
}

/// Runs `shard` over one batch: flow state for a group of frames is loaded first (see
/// [`FlowTable::warm`]), then the group is processed. `after` gets the shard's sensor-address
/// evidence (after the window's last frame) and the records emitted so far; it returns false
/// to stop.
fn run_batch(
    shard: &mut Shard,
    batch: &Batch,
    emitted: &mut Vec<(u64, Output)>,
    mut after: impl FnMut(Option<Box<Inference>>, &mut Vec<(u64, Output)>) -> bool,
) -> bool {
    let me = shard.me as u8;
    let (frames, data) = (&batch.input.frames, &batch.input.data);
    for g in (0..frames.len()).step_by(WARM_GROUP) {
        let end = (g + WARM_GROUP).min(frames.len());
        for (i, f) in frames.iter().enumerate().take(end).skip(g) {
            let route = batch.routes[i];
            if route == me || route == ALL {
                // The headers (first two lines): with several workers another core's read put
                // them in memory, so they are not in this core's cache yet.
                let head = &data[f.start..f.start + f.len];
                crate::prefetch::bytes(head.as_ptr(), head.len().min(128));
            }
            if route == me {
                shard.table.warm(batch.hashes[i]);
            }
        }
        for (i, f) in frames.iter().enumerate().take(end).skip(g) {
            let data = &data[f.start..f.start + f.len];
            let decided = shard.frame(batch.first + i as u64, f, data, batch.routes[i], emitted);
            if !after(decided, emitted) {
                return false;
            }
        }
    }
    true
}

/// [`route_hash`] of an IP packet carrying ICMP or ICMPv6 directly (no fragment, no extension
/// header): read with the decoder's own views (ICMP's flow key depends on the message, which
/// the IP header's declared length bounds), keyed by [`crate::flow::icmp_key`]. Errors quote
/// another flow's packet and are attributed to it: every worker sees them (`None`).
fn icmp_route(hasher: &KeyHasher, ip: &[u8]) -> Option<u64> {
    use wire::{icmp, ipproto, ipv4, ipv6};
    let (proto, src, dst, payload) = match ip.first()? >> 4 {
        4 => {
            let p = ipv4::Packet::parse(ip).ok()?;
            if p.is_fragment() {
                return None;
            }
            (p.protocol(), Addr::v4(p.src()), Addr::v4(p.dst()), p.payload())
        }
        6 => {
            let p = ipv6::Packet::parse(ip).ok()?;
            (p.next_header(), Addr::v6(p.src()), Addr::v6(p.dst()), p.payload())
        }
        _ => return None,
    };
    // As the decoder: the protocol number, not the IP version, says which ICMP it is.
    let v6 = match proto {
        ipproto::ICMP => false,
        ipproto::ICMPV6 => true,
        _ => return None,
    };
    let m = icmp::Packet::parse(payload).ok()?;
    let t = m.msg_type();
    if if v6 { icmp::v6::is_error(t) } else { icmp::v4::is_error(t) } {
        return None;
    }
    let ident = crate::decode::icmp_ident(v6, &m);
    let (key, _, _) = crate::flow::icmp_key(proto, v6, src, dst, t, m.code(), ident);
    Some(hasher.hash(&key))
}

/// Route of a frame every worker must decode (tunnels, fragments, ICMP, anything unusual).
const ALL: u8 = u8::MAX;

/// The flow-key hash of a frame that is plain TCP or UDP over IPv4/IPv6 (Ethernet or raw IP) with
/// no tunnel, fragment or extension header — the bulk of traffic — so the reader can hand it to
/// the one worker owning its flow. Everything else is `None` and goes to every worker, which
/// decodes it fully. The only requirement: whenever the decoder would derive a flow key from
/// the frame, this derives the same one; so whatever the decoder decapsulates (IP-in-IP, GRE,
/// and the UDP tunnels: Teredo, AYIYA, GTP-U) or reassembles is excluded here.
fn route_hash(hasher: &KeyHasher, linktype: u32, data: &[u8]) -> Option<u64> {
    use wire::link::linktype as lt;
    let ip = match linktype {
        lt::ETHERNET => {
            let et = u16::from_be_bytes([*data.get(12)?, *data.get(13)?]);
            if et != 0x0800 && et != 0x86dd {
                return None;
            }
            &data[14..]
        }
        lt::RAW | lt::RAW_12 | lt::RAW_14 | lt::IPV4 | lt::IPV6 => data,
        _ => return None,
    };
    let (proto, src, dst, l4) = match ip.first()? >> 4 {
        4 if ip.len() >= 20 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            // More-fragments or a fragment offset: reassembly decides the key.
            if ihl < 20 || ip.len() < ihl || u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
                return None;
            }
            let a = |i: usize| Addr::v4([ip[i], ip[i + 1], ip[i + 2], ip[i + 3]]);
            (ip[9], a(12), a(16), &ip[ihl..])
        }
        6 if ip.len() >= 40 => {
            let a = |i: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&ip[i..i + 16]);
                Addr::v6(b)
            };
            (ip[6], a(8), a(24), &ip[40..])
        }
        _ => return None,
    };
    let min = match proto {
        6 => 20,
        17 => 8,
        wire::ipproto::ICMP | wire::ipproto::ICMPV6 => return icmp_route(hasher, ip),
        _ => return None,
    };
    if l4.len() < min {
        return None;
    }
    let (sport, dport) = (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]));
    if proto == 17 && [sport, dport].iter().any(|p| crate::decode::UDP_TUNNEL_PORTS.contains(p)) {
        return None;
    }
    Some(hasher.hash(&FlowKey::new(proto, src, sport, dst, dport)))
}

/// Frame-level counters; each worker counts the frames whose index it owns, then they add up.
#[derive(Default)]
struct FrameCounters {
    frames: u64,
    captured: u64,
    wire: u64,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    outer4: u64,
    outer6: u64,
    non_ip: u64,
    inner4: u64,
    inner6: u64,
    vlan: u64,
    frags: u64,
    reasm: u64,
    tunnels: HashMap<TunnelKind, u64>,
    by_family: [Volume; 2],
    anomalies: AnomalyCounts,
}

impl FrameCounters {
    fn count(&mut self, f: &FrameMeta, d: &crate::decode::Decoded<'_>) {
        self.frames += 1;
        self.captured += f.len as u64;
        self.wire += u64::from(f.orig_len);
        self.first_ts = Some(self.first_ts.map_or(f.ts, |x| x.min(f.ts)));
        self.last_ts = Some(self.last_ts.map_or(f.ts, |x| x.max(f.ts)));
        self.anomalies.add_set(d.anomalies);
        match d.outer_version {
            4 => self.outer4 += 1,
            6 => self.outer6 += 1,
            _ => self.non_ip += 1,
        }
        if d.vlan_tags > 0 {
            self.vlan += 1;
        }
        if let Some(t) = d.tunnel {
            *self.tunnels.entry(t.kind).or_default() += 1;
        }
        if d.fragment_pending {
            self.frags += 1;
        }
        if let (Some(net), false) = (d.net, d.fragment_pending) {
            let fam = usize::from(net.src.version == 6);
            self.by_family[fam].packets += 1;
            self.by_family[fam].bytes += u64::from(net.ip_len);
            if net.src.version == 4 {
                self.inner4 += 1;
            } else {
                self.inner6 += 1;
            }
            if net.fragments > 0 {
                self.reasm += 1;
            }
        }
    }

    fn merge(&mut self, o: FrameCounters) {
        self.frames += o.frames;
        self.captured += o.captured;
        self.wire += o.wire;
        self.first_ts = match (self.first_ts, o.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ts = match (self.last_ts, o.last_ts) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.outer4 += o.outer4;
        self.outer6 += o.outer6;
        self.non_ip += o.non_ip;
        self.inner4 += o.inner4;
        self.inner6 += o.inner6;
        self.vlan += o.vlan;
        self.frags += o.frags;
        self.reasm += o.reasm;
        for (k, n) in o.tunnels {
            *self.tunnels.entry(k).or_default() += n;
        }
        for i in 0..2 {
            self.by_family[i].packets += o.by_family[i].packets;
            self.by_family[i].bytes += o.by_family[i].bytes;
        }
        self.anomalies.merge(&o.anomalies);
    }
}

/// What a worker tells the merging thread.
enum WorkerMsg {
    /// Records emitted up to `upto`, tagged with the index of the frame that ended them
    /// (`u64::MAX`: the end of input), in canonical order.
    Records { worker: usize, upto: Upto, recs: Vec<(u64, Output)> },
    /// End-of-input flow records the worker completed and formatted itself (see [`EndPlan`]).
    Lines { worker: usize, upto: Upto, lines: Lines },
    /// The worker's share of the sensor-address evidence (once it passed the window).
    Evidence(Box<Inference>),
    /// The worker passed the last frame and sent everything before it (its evidence
    /// included); it waits for an [`EndPlan`]. Also sent by a worker that stops early, so the
    /// merging thread never waits for one that is gone.
    AtEnd,
    /// The worker finished; its counters.
    Done { counters: Box<FrameCounters>, table: TableStats, expired_frags: u64 },
}

/// What the engine hands to the merging side, in order.
pub enum Output {
    /// A finished flow.
    Flow(Box<FlowRecord>),
    /// An application event.
    Event(AppEvent),
}

impl Output {
    /// Sort key within one frame: flows before events, then start time, then uid.
    fn key(&self) -> RecKey<'_> {
        match self {
            Output::Flow(r) => (0, r.ts, r.uid.as_bytes()),
            Output::Event(AppEvent::Dns(e)) => (1, e.ts, e.uid.as_bytes()),
            Output::Event(AppEvent::Http(e)) => (1, e.ts, e.uid.as_bytes()),
            Output::Event(AppEvent::Tls(e)) => (1, e.ts, e.uid.as_bytes()),
        }
    }
}

/// Sort key of a record among those ending at the same frame (see [`Output::key`]).
type RecKey<'a> = (u8, i64, &'a [u8]);

/// Where a record goes in the output: the index of the frame that ended it, then its key.
type Place<'a> = (u64, RecKey<'a>);

/// A flow's uid as the merge compares it (uids are `C` and 11 base-62 digits).
type UidKey = [u8; 12];

fn uid_key(uid: &str) -> UidKey {
    let mut k = [0; 12];
    let n = uid.len().min(12);
    k[..n].copy_from_slice(&uid.as_bytes()[..n]);
    k
}

/// End-of-input flow records a worker completed and formatted, in canonical order: one buffer
/// per chunk instead of a boxed record each (the merging thread only copies bytes out).
#[derive(Default)]
struct Lines {
    /// Per record: start time and uid (the merge key), and where its bytes end.
    keys: Vec<(i64, UidKey, usize)>,
    bytes: Vec<u8>,
    /// Records already written.
    next: usize,
}

impl Lines {
    fn front_key(&self) -> Option<Place<'_>> {
        self.keys.get(self.next).map(|(ts, uid, _)| (u64::MAX, (0, *ts, &uid[..])))
    }

    /// The next record's bytes.
    fn pop(&mut self) -> Option<&[u8]> {
        let (_, _, end) = *self.keys.get(self.next)?;
        let start = if self.next == 0 { 0 } else { self.keys[self.next - 1].2 };
        self.next += 1;
        self.bytes.get(start..end)
    }

    fn is_done(&self) -> bool {
        self.next >= self.keys.len()
    }
}

/// Orders records that ended at the same frame: by start time, then uid (both independent of
/// how flows were spread over workers), so output is identical for any thread count.
fn canonical(recs: &mut [(u64, Output)]) {
    // Stable: events of one flow keep the order they were produced in.
    recs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.key().cmp(&b.1.key())));
}

/// What every shard is told before the first frame.
struct StartPlan {
    /// The sensor's addresses are configured (nothing to infer).
    configured: bool,
    /// See [`Shard::keep`].
    keep: [bool; 3],
    /// See [`Shard::window_span`].
    window_span: i64,
}

/// One worker's share of the engine: decoder, inference and the flow table for the flows it
/// owns. Every shard sees every frame (so tunnels, fragments and ICMP quotes need no traffic
/// between shards); it counts frame statistics only for the frames whose index it owns.
struct Shard {
    me: u64,
    n: u64,
    table: FlowTable<App>,
    decoder: Decoder,
    events: Vec<AppEvent>,
    /// Sensor-address evidence from the frames this shard counts, until the window ends
    /// (`None` once handed over, or when the addresses are configured).
    inference: Option<Box<Inference>>,
    /// The window is still open, and where it ends in capture time once its first frame came
    /// (see [`sensor::INFER_SPAN`]). Every shard sees every frame's time and index, so all close
    /// it at the same frame.
    window_open: bool,
    window_end: Option<i64>,
    /// The window's span in capture time (`i64::MAX`: frames only).
    window_span: i64,
    counters: FrameCounters,
    out: Vec<FlowRecord>,
    /// Per [`EventKind`]: events of that kind are passed on (see [`Collector::keep`]).
    keep: [bool; 3],
}

impl Shard {
    fn new(me: usize, n: usize, opts: &Options, plan: &StartPlan) -> Shard {
        let mut flow_cfg = opts.flow;
        flow_cfg.shard = me as u32;
        flow_cfg.shards = n as u32;
        flow_cfg.max_flows = opts.flow.max_flows.div_ceil(n).max(1);
        Shard {
            me: me as u64,
            n: n as u64,
            table: FlowTable::new(flow_cfg),
            decoder: Decoder::default(),
            events: Vec::new(),
            inference: (!plan.configured).then(Box::default),
            window_open: true,
            window_end: None,
            window_span: plan.window_span,
            counters: FrameCounters::default(),
            out: Vec::new(),
            keep: plan.keep,
        }
    }

    /// Moves the events the flow table made to `self.events`, less those nobody reads.
    fn drain_events(&mut self) {
        self.table.drain_events(&mut self.events);
        if self.keep != [true; 3] && !self.events.is_empty() {
            let keep = self.keep;
            self.events.retain(|e| keep[e.kind() as usize]);
        }
    }

    /// Processes frame `index`; ended flows go to `emitted` in canonical order. Returns this
    /// shard's sensor-address evidence when `index` is the window's last frame.
    fn frame(
        &mut self,
        index: u64,
        f: &FrameMeta,
        data: &[u8],
        route: u8,
        emitted: &mut Vec<(u64, Output)>,
    ) -> Option<Box<Inference>> {
        let tick = f.linktype == TICK;
        let mut closed = false;
        if self.window_open {
            let end = match self.window_end {
                Some(e) => e,
                None if tick => i64::MAX,
                None => *self.window_end.insert(f.ts.saturating_add(self.window_span)),
            };
            if f.ts >= end {
                self.window_open = false;
                closed = true;
            }
        }
        if tick {
            self.table.idle(f.ts, &mut self.out);
        } else if route != ALL && u64::from(route) != self.me {
            // Another worker owns this frame's flow. The clock still moves here, so flows expire
            // at the same frame as with one worker (output order does not depend on threads).
            self.table.tick(f.ts, &mut self.out);
        } else {
            let d = self.decoder.decode(f.ts, f.linktype, data);
            // Each frame is counted (statistics, sensor evidence) by exactly one shard.
            if route != ALL || index % self.n == self.me {
                self.counters.count(f, &d);
                if let (Some(inf), true) = (&mut self.inference, self.window_open) {
                    inf.observe(&d);
                }
            }
            self.table.tick(f.ts, &mut self.out);
            self.table.process(f.ts, &d, &mut self.out);
        }
        if self.window_open && index + 1 >= sensor::INFER_FRAMES {
            self.window_open = false;
            closed = true;
        }
        let evidence = if closed { self.inference.take() } else { None };
        self.drain_events();
        if !self.out.is_empty() || !self.events.is_empty() {
            let start = emitted.len();
            emitted.extend(self.out.drain(..).map(|r| (index, Output::Flow(Box::new(r)))));
            emitted.extend(self.events.drain(..).map(|e| (index, Output::Event(e))));
            canonical(&mut emitted[start..]);
        }
        evidence
    }

    /// End of input: the records of the live flows at `slots`, in canonical order (see
    /// [`FlowTable::finish_order`]).
    fn finish_flows(&mut self, slots: &[u32], emitted: &mut Vec<(u64, Output)>) {
        self.table.finish_some(slots, &mut self.out);
        emitted.reserve(self.out.len());
        emitted.extend(self.out.drain(..).map(|r| (u64::MAX, Output::Flow(Box::new(r)))));
    }

    /// End of input, following `plan`: the records of the live flows at `slots`, completed and
    /// formatted, in canonical order.
    fn finish_lines(&mut self, slots: &[u32], plan: &EndPlan, lines: &mut Lines) {
        self.table.finish_some(slots, &mut self.out);
        lines.keys.reserve(self.out.len());
        for mut rec in self.out.drain(..) {
            plan.naming.complete(&mut rec);
            plan.format.format(&rec, &mut lines.bytes);
            lines.keys.push((rec.ts, uid_key(&rec.uid), lines.bytes.len()));
        }
    }

    /// Every frame is in: this shard's share of the sensor evidence if the window did not end
    /// before (taken before the live flows are written, so their roles are known and they need
    /// not wait for the decision).
    fn evidence_at_end(&mut self) -> Option<Box<Inference>> {
        self.inference.take()
    }

    /// End of input, after every flow was written: the events their ends produced and the
    /// counters. The flow table is left to be dropped with the shard (after the results are
    /// sent: freeing every flow takes a while).
    fn finish_rest(&mut self, emitted: &mut Vec<(u64, Output)>) -> (FrameCounters, TableStats, u64) {
        let expired = self.decoder.finish();
        self.drain_events();
        let start = emitted.len();
        emitted.extend(self.events.drain(..).map(|e| (u64::MAX, Output::Event(e))));
        canonical(&mut emitted[start..]);
        let expired = if self.me == 0 { expired } else { 0 };
        (std::mem::take(&mut self.counters), self.table.stats(), expired)
    }
}

/// How far a worker's records go: everything before it has been sent to the merging thread.
#[derive(Debug, Clone, PartialEq)]
enum Upto {
    /// The records of every frame before this index.
    Frame(u64),
    /// Every frame's records, and the end-of-input flow records up to this (start time, uid).
    EndFlows(i64, UidKey),
    /// Everything.
    All,
}

impl Upto {
    /// Whether a record with this frame index and key may still come after what was sent.
    fn may_precede(&self, index: u64, key: RecKey<'_>) -> bool {
        match self {
            Upto::Frame(u) => *u <= index,
            Upto::EndFlows(ts, uid) => index == u64::MAX && (key.0 > 0 || (key.1, key.2) > (*ts, &uid[..])),
            Upto::All => false,
        }
    }
}

/// End-of-input records are made in chunks this size: the merging thread writes the first ones
/// while the workers still make the rest, and they are never all in memory at once.
const END_CHUNK: usize = 512;

/// The batches the workers share. There is no reader thread: whichever worker first needs a
/// batch nobody has read yet reads it (on two cores a third busy thread only competes with the
/// workers, and whichever worker is ahead has time to spare). Every worker processes every
/// batch; a batch is recycled once all have passed it, and no worker runs more than [`AHEAD`]
/// batches ahead of the slowest, so memory stays bounded.
struct Shared<'s> {
    feed: std::sync::Mutex<Feed<'s>>,
    queue: std::sync::Mutex<Queue>,
    /// Signalled whenever a worker moves on or a batch is added.
    moved: std::sync::Condvar,
    bytes_read: std::sync::atomic::AtomicU64,
    /// The source is a stream: reading may wait for frames that have not arrived, so nobody
    /// reads ahead of its own next batch (a worker would sit in the read holding a batch it
    /// has not processed, and the records it ends would wait for the next frames).
    stream: bool,
}

struct Queue {
    batches: std::collections::VecDeque<std::sync::Arc<Batch>>,
    /// Sequence number of `batches[0]`.
    base: u64,
    /// Per worker: the batch it is on (`u64::MAX` once it left).
    cursor: Vec<u64>,
    /// The input ended after the last batch in `batches`.
    end: bool,
    spare: Vec<Batch>,
}

/// How many batches (of ~512 KiB) a worker may be ahead of the slowest one.
const AHEAD: u64 = 24;

/// How many batches past its own a worker keeps read when it can.
const READ_AHEAD: u64 = 4;

impl<'s> Shared<'s> {
    fn new(feed: Feed<'s>, workers: usize, stream: bool) -> Shared<'s> {
        Shared {
            feed: std::sync::Mutex::new(feed),
            queue: std::sync::Mutex::new(Queue {
                batches: Default::default(),
                base: 0,
                cursor: vec![0; workers],
                end: false,
                spare: Vec::new(),
            }),
            moved: std::sync::Condvar::new(),
            bytes_read: std::sync::atomic::AtomicU64::new(0),
            stream,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A worker that panicked poisons the lock; the scope re-raises its panic anyway.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Worker `me` moves to batch `k` (having dropped the previous one): returns it, reading it
    /// if nobody has yet; `None` after the last batch.
    fn get(&self, me: usize, k: u64) -> Option<std::sync::Arc<Batch>> {
        let mut q = self.lock();
        q.cursor[me] = k;
        let slowest = q.cursor.iter().copied().min().unwrap_or(k);
        while q.base < slowest && !q.batches.is_empty() {
            let b = q.batches.pop_front().expect("not empty");
            q.base += 1;
            // Every worker is past it, so this is the last reference.
            if let Ok(b) = std::sync::Arc::try_unwrap(b) {
                q.spare.push(b);
            }
        }
        self.moved.notify_all();
        loop {
            let produced = q.base + q.batches.len() as u64;
            if k < produced {
                let batch = q.batches[(k - q.base) as usize].clone();
                // Keep a few batches read ahead so the other workers rarely wait for a read;
                // only if nobody is reading right now (this worker then reads one).
                let slowest = q.cursor.iter().copied().min().unwrap_or(k);
                if !q.end && !self.stream && produced < k + READ_AHEAD && produced < slowest.saturating_add(AHEAD) {
                    if let Ok(mut feed) = self.feed.try_lock() {
                        let spare = q.spare.pop();
                        drop(q);
                        self.read(&mut feed, spare);
                    }
                }
                return Some(batch);
            }
            if q.end {
                return None;
            }
            let slowest = q.cursor.iter().copied().min().unwrap_or(k);
            if k >= slowest.saturating_add(AHEAD) {
                q = self.moved.wait(q).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Read batch `k`, with the queue unlocked so the others keep taking batches. If
            // another worker is reading, it is reading batch `k`: wait for it here rather than
            // queue for the feed (whoever reads next could take the feed again before this
            // worker woke, and on a stream every read waits for frames: this worker would
            // fall further behind with each).
            let mut feed = match self.feed.try_lock() {
                Ok(feed) => feed,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    q = self.moved.wait(q).unwrap_or_else(|e| e.into_inner());
                    continue;
                }
            };
            let spare = q.spare.pop();
            drop(q);
            self.read(&mut feed, spare);
            drop(feed);
            q = self.lock();
        }
    }

    /// Reads the next batch into the queue (the caller holds the feed, not the queue).
    fn read(&self, feed: &mut Feed<'_>, spare: Option<Batch>) {
        let got = feed.next(spare);
        let mut q = self.lock();
        match got {
            Some(b) => {
                self.bytes_read.fetch_add(b.captured(), std::sync::atomic::Ordering::Relaxed);
                q.batches.push_back(std::sync::Arc::new(b));
            }
            None => q.end = true,
        }
        self.moved.notify_all();
    }

    /// Worker `me` is finished (or stopped): nobody waits for it any more.
    fn leave(&self, me: usize) {
        self.lock().cursor[me] = u64::MAX;
        self.moved.notify_all();
    }
}

/// Calls [`Shared::leave`] however the worker ends.
struct Leave<'a, 's>(&'a Shared<'s>, usize);

impl Drop for Leave<'_, '_> {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

/// Sends [`WorkerMsg::AtEnd`] once, however the worker ends.
struct AtEnd<'a> {
    tx: &'a crossbeam_channel::Sender<WorkerMsg>,
    sent: bool,
}

impl AtEnd<'_> {
    fn send(&mut self) -> bool {
        self.sent = true;
        self.tx.send(WorkerMsg::AtEnd).is_ok()
    }
}

impl Drop for AtEnd<'_> {
    fn drop(&mut self) {
        if !self.sent {
            let _ = self.tx.send(WorkerMsg::AtEnd);
        }
    }
}

fn worker(
    mut shard: Shard,
    shared: &Shared<'_>,
    tx: crossbeam_channel::Sender<WorkerMsg>,
    plan: crossbeam_channel::Receiver<Option<EndPlan>>,
) {
    let me = shard.me as usize;
    let _leave = Leave(shared, me);
    let mut at_end = AtEnd { tx: &tx, sent: false };
    let mut recs: Vec<(u64, Output)> = Vec::new();
    let mut k = 0u64;
    while let Some(batch) = shared.get(me, k) {
        let go = run_batch(&mut shard, &batch, &mut recs, |evidence, _| match evidence {
            Some(e) => tx.send(WorkerMsg::Evidence(e)).is_ok(),
            None => true,
        });
        if !go {
            return;
        }
        let upto = Upto::Frame(batch.first + batch.input.len() as u64);
        drop(batch);
        // The next batch's records start with room for as many as this one had: growing from
        // empty copied them several times (batches end similar numbers of flows and events).
        let room = recs.len() + recs.len() / 2;
        let full = std::mem::replace(&mut recs, Vec::with_capacity(room));
        if tx.send(WorkerMsg::Records { worker: me, upto, recs: full }).is_err() {
            return;
        }
        k += 1;
    }
    if let Some(e) = shard.evidence_at_end() {
        if tx.send(WorkerMsg::Evidence(e)).is_err() {
            return;
        }
    }
    if !at_end.send() {
        return;
    }
    let plan = plan.recv().ok().flatten();
    let order = shard.table.finish_order();
    let mut room = 0;
    for chunk in order.chunks(END_CHUNK) {
        let msg = if let Some(plan) = &plan {
            let mut lines = Lines { bytes: Vec::with_capacity(room), ..Lines::default() };
            shard.finish_lines(chunk, plan, &mut lines);
            let Some((ts, uid, _)) = lines.keys.last() else { continue };
            let upto = Upto::EndFlows(*ts, *uid);
            room = lines.bytes.len() + lines.bytes.len() / 8;
            WorkerMsg::Lines { worker: me, upto, lines }
        } else {
            shard.finish_flows(chunk, &mut recs);
            let upto = match recs.last() {
                Some((_, Output::Flow(r))) => Upto::EndFlows(r.ts, uid_key(&r.uid)),
                _ => continue,
            };
            WorkerMsg::Records { worker: me, upto, recs: std::mem::take(&mut recs) }
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
    // The naming state is the merging thread's again (it learns from the events that follow).
    drop(plan);
    let (counters, table, expired_frags) = shard.finish_rest(&mut recs);
    let _ = tx.send(WorkerMsg::Records { worker: me, upto: Upto::All, recs });
    let _ = tx.send(WorkerMsg::Done { counters: Box::new(counters), table, expired_frags });
}

/// The addresses, as a set.
fn addrs_set(list: &[SensorAddr]) -> HashSet<Addr> {
    list.iter().map(|s| s.addr).collect()
}

/// Distinct addresses, sorted.
fn sorted_addrs(list: &[SensorAddr]) -> Vec<Addr> {
    let mut v: Vec<Addr> = list.iter().map(|s| s.addr).collect();
    v.sort();
    v.dedup();
    v
}

/// What completes a finished flow's record: the sensor's addresses (its role) and the names
/// learned from DNS so far or given in hosts files (its server name). Shared read-only with the
/// workers while they write the end of input's records (see [`EndPlan`]).
#[derive(Clone)]
struct Naming {
    names: crate::names::NameTable,
    hosts: std::sync::Arc<HashMap<Addr, String>>,
    sensor: HashSet<Addr>,
    /// The sensor's addresses in address order, for naming lookups (kept, not rebuilt per flow).
    sensor_sorted: Vec<Addr>,
}

impl Naming {
    /// Gives `rec` its server name (unless the flow named itself) and its role.
    fn complete(&self, rec: &mut FlowRecord) {
        if rec.server_name.is_none() {
            // The client's own answers first; then, when the client is the sensor, the
            // answers any of the sensor's addresses received (one host, several addresses:
            // DNS over IPv4 naming an IPv6 connection is the common case).
            let own = self.names.lookup(rec.orig_h, rec.resp_h, rec.ts);
            let name = own.or_else(|| {
                if !self.sensor.contains(&rec.orig_h) {
                    return None;
                }
                self.sensor_sorted.iter().find_map(|c| self.names.lookup(*c, rec.resp_h, rec.ts))
            });
            if let Some(n) = name {
                rec.server_name = Some(n.to_string());
                rec.name_source = Some("dns");
            } else if let Some(n) = self.hosts.get(&rec.resp_h) {
                rec.server_name = Some(n.clone());
                rec.name_source = Some("hosts");
            }
        }
        rec.role = sensor::role(rec, &self.sensor);
    }
}

/// How a worker writes its end-of-input flow records itself: completed with the naming state
/// as it stands once every earlier record was written (no later record can change it: events
/// sort after the end's flows), and formatted for the sink.
#[derive(Clone)]
struct EndPlan {
    naming: std::sync::Arc<Naming>,
    format: std::sync::Arc<dyn RecordFormat>,
}

/// The merging side's state: sensor addresses, records waiting for them, and the totals.
struct Collector<'s> {
    sink: &'s mut dyn FlowSink,
    sensor: &'s str,
    sensor_addrs: Vec<SensorAddr>,
    decided: bool,
    /// Sensor-address evidence merged so far, and how many shares (one per worker) are still
    /// to come.
    evidence: Option<Box<Inference>>,
    shares_due: usize,
    pending: Vec<Output>,
    acc: Accumulator,
    naming: std::sync::Arc<Naming>,
    counters: FrameCounters,
    table: TableStats,
    expired_frags: u64,
}

impl Collector<'_> {
    /// One worker's share of the evidence; the last share decides the sensor's addresses.
    fn evidence(&mut self, share: Box<Inference>) -> std::io::Result<()> {
        match &mut self.evidence {
            Some(e) => e.merge(*share),
            None => self.evidence = Some(share),
        }
        self.shares_due = self.shares_due.saturating_sub(1);
        if self.shares_due > 0 {
            return Ok(());
        }
        match self.evidence.take() {
            Some(e) => self.decision(e.decide()),
            None => Ok(()),
        }
    }

    /// Sensor addresses are known: assign roles to the records that waited for them.
    fn decision(&mut self, addrs: Vec<SensorAddr>) -> std::io::Result<()> {
        if self.decided {
            return Ok(());
        }
        self.sensor_addrs = addrs;
        let (set, sorted) = (addrs_set(&self.sensor_addrs), sorted_addrs(&self.sensor_addrs));
        let naming = self.naming_mut();
        naming.sensor = set;
        naming.sensor_sorted = sorted;
        self.decided = true;
        for r in std::mem::take(&mut self.pending) {
            self.output(r)?;
        }
        Ok(())
    }

    /// One output in final order: to the sink once roles can be assigned, else it waits.
    fn output(&mut self, o: Output) -> std::io::Result<()> {
        if !self.decided {
            self.pending.push(o);
            return Ok(());
        }
        match o {
            Output::Flow(mut rec) => {
                self.naming.complete(&mut rec);
                self.acc.add(&rec, &self.naming.sensor);
                self.sink.flow(self.sensor, &rec)
            }
            Output::Event(ev) => {
                if let AppEvent::Dns(d) = &ev {
                    self.naming_mut().names.learn(d);
                }
                self.sink.event(self.sensor, &ev)
            }
        }
    }

    /// Per [`EventKind`]: whether events of that kind are passed on — those the sink reads
    /// (see [`FlowSink::wants`]), and DNS always: its answers name flows.
    fn keep(&self) -> [bool; 3] {
        let mut keep = [EventKind::Dns, EventKind::Http, EventKind::Tls].map(|k| self.sink.wants(k));
        keep[EventKind::Dns as usize] = true;
        keep
    }

    /// What the shards start with; `stream`: see [`FrameSource::is_stream`].
    fn start_plan(&self, stream: bool) -> StartPlan {
        let window_span = if stream { sensor::INFER_SPAN } else { i64::MAX };
        StartPlan { configured: self.decided, keep: self.keep(), window_span }
    }

    /// A flow record a worker completed and formatted (see [`EndPlan`]), in final order.
    fn line(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.acc.flows += 1;
        self.sink.formatted(bytes)
    }

    /// The naming state, to change it. Shared only while workers write the end of input's
    /// flows, and nothing changes it then (the events that teach names come after those
    /// flows), so this never copies; if it ever had to, the copy keeps it correct.
    fn naming_mut(&mut self) -> &mut Naming {
        std::sync::Arc::make_mut(&mut self.naming)
    }

    /// The workers may write their end-of-input flows themselves when the sink can format
    /// records, nothing but the records is asked of it, and roles are known.
    fn end_plan(&self) -> Option<EndPlan> {
        if !self.decided || !self.acc.no_tally {
            return None;
        }
        let format = self.sink.formatter(self.sensor)?;
        Some(EndPlan { naming: self.naming.clone(), format: std::sync::Arc::from(format) })
    }

    fn done(&mut self, c: FrameCounters, t: TableStats, expired: u64) {
        self.counters.merge(c);
        self.table.created += t.created;
        self.table.evicted += t.evicted;
        self.table.peak_live += t.peak_live;
        self.table.packets += t.packets;
        self.table.icmp_errors_matched += t.icmp_errors_matched;
        self.expired_frags += expired;
    }
}

/// One worker's records waiting to be merged: the chunks it sent, consumed in place (appending
/// them to one queue copied every record and grew the queue into fresh pages, on the thread
/// that is the end of input's bottleneck).
#[derive(Default)]
struct Received {
    /// Never holds an empty chunk.
    chunks: std::collections::VecDeque<Chunk>,
}

enum Chunk {
    Records(std::vec::IntoIter<(u64, Output)>),
    Lines(Lines),
}

impl Received {
    fn push(&mut self, recs: Vec<(u64, Output)>) {
        if !recs.is_empty() {
            self.chunks.push_back(Chunk::Records(recs.into_iter()));
        }
    }

    fn push_lines(&mut self, lines: Lines) {
        if !lines.is_done() {
            self.chunks.push_back(Chunk::Lines(lines));
        }
    }

    /// The next record's place: the index of the frame that ended it, and [`Output::key`].
    fn front_key(&self) -> Option<Place<'_>> {
        match self.chunks.front()? {
            Chunk::Records(c) => c.as_slice().first().map(|(i, r)| (*i, r.key())),
            Chunk::Lines(l) => l.front_key(),
        }
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Hands the next record to `col`.
    fn write_front(&mut self, col: &mut Collector<'_>) -> std::io::Result<()> {
        let Some(chunk) = self.chunks.front_mut() else { return Ok(()) };
        let (result, done) = match chunk {
            Chunk::Records(c) => {
                let result = c.next().map_or(Ok(()), |(_, r)| col.output(r));
                (result, c.as_slice().is_empty())
            }
            Chunk::Lines(l) => {
                let result = l.pop().map_or(Ok(()), |b| col.line(b));
                (result, l.is_done())
            }
        };
        if done {
            self.chunks.pop_front();
        }
        result
    }
}

/// One thread does everything, in order: the fastest path on one core.
fn run_serial(
    source: &mut dyn FrameSource,
    opts: &Options,
    col: &mut Collector<'_>,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<()> {
    let stream = source.is_stream();
    let mut shard = Shard::new(0, 1, opts, &col.start_plan(stream));
    let mut feed = Feed::new(source, KeyHasher::new(opts.flow.hash_seed), 1);
    let mut emitted: Vec<(u64, Output)> = Vec::new();
    let mut result = Ok(());
    let mut spare = None;
    while let Some(batch) = feed.next(spare.take()) {
        let go = run_batch(&mut shard, &batch, &mut emitted, |evidence, emitted| {
            if let Some(e) = evidence {
                result = col.evidence(e);
            }
            for (_, r) in emitted.drain(..) {
                if result.is_ok() {
                    result = col.output(r);
                }
            }
            result.is_ok()
        });
        if !go {
            return result;
        }
        if stream && result.is_ok() {
            result = col.sink.flush();
        }
        progress(batch.captured());
        spare = Some(batch);
    }
    if let (Some(e), true) = (shard.evidence_at_end(), result.is_ok()) {
        result = col.evidence(e);
    }
    // The live flows' records a chunk at a time, so they are never all in memory at once.
    let order = shard.table.finish_order();
    for chunk in order.chunks(END_CHUNK) {
        shard.finish_flows(chunk, &mut emitted);
        for (_, r) in emitted.drain(..) {
            if result.is_ok() {
                result = col.output(r);
            }
        }
    }
    let (c, t, x) = shard.finish_rest(&mut emitted);
    for (_, r) in emitted.drain(..) {
        if result.is_ok() {
            result = col.output(r);
        }
    }
    col.done(c, t, x);
    result
}

/// `n` workers sharing the flows (and the reading, see [`Shared`]) by a symmetric flow hash, and this thread
/// merging their records into the order a single thread would produce.
fn run_threaded(
    source: &mut dyn FrameSource,
    n: usize,
    opts: &Options,
    col: &mut Collector<'_>,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<()> {
    let stream = source.is_stream();
    let plan = col.start_plan(stream);
    let shared = Shared::new(Feed::new(source, KeyHasher::new(opts.flow.hash_seed), n as u32), n, stream);
    let mut result: std::io::Result<()> = Ok(());
    std::thread::scope(|scope| {
        let (wtx, wrx) = crossbeam_channel::bounded::<WorkerMsg>(32 * n);
        let mut plans = Vec::with_capacity(n);
        for me in 0..n {
            let (wtx, shared) = (wtx.clone(), &shared);
            let (plan_tx, plan_rx) = crossbeam_channel::bounded::<Option<EndPlan>>(1);
            plans.push(plan_tx);
            let shard = Shard::new(me, n, opts, &plan);
            // Named, so `top -H` and profilers tell the workers from the merging thread.
            // (Failing to spawn panics, as `Scope::spawn` does.)
            std::thread::Builder::new()
                .name(format!("v6watch-w{me}"))
                .spawn_scoped(scope, move || worker(shard, shared, wtx, plan_rx))
                .expect("spawn a worker thread");
        }
        drop(wtx);
        let mut at_end = 0;

        // Emit a record once every worker has processed past the frame that ended it.
        let mut queues: Vec<Received> = (0..n).map(|_| Received::default()).collect();
        let mut upto = vec![Upto::Frame(0); n];
        let mut reported = 0u64;
        for msg in wrx.iter() {
            match msg {
                WorkerMsg::Records { worker, upto: u, recs } => {
                    queues[worker].push(recs);
                    upto[worker] = u;
                }
                WorkerMsg::Lines { worker, upto: u, lines } => {
                    queues[worker].push_lines(lines);
                    upto[worker] = u;
                }
                WorkerMsg::Evidence(e) => result = col.evidence(e),
                WorkerMsg::AtEnd => at_end += 1,
                WorkerMsg::Done { counters, table, expired_frags } => col.done(*counters, table, expired_frags),
            }
            while result.is_ok() {
                let best = (0..n).filter_map(|w| queues[w].front_key().map(|k| (w, k))).min_by(|a, b| a.1.cmp(&b.1));
                let Some((w, (idx, key))) = best else { break };
                if (0..n).any(|o| queues[o].is_empty() && upto[o].may_precede(idx, key)) {
                    break;
                }
                result = queues[w].write_front(col);
            }
            if stream && result.is_ok() && wrx.is_empty() {
                result = col.sink.flush();
            }
            if result.is_err() {
                break;
            }
            if at_end == n {
                // Every record before the end is written (all workers are past every frame),
                // so the names are final for the end's flows: the workers may write them.
                at_end += 1;
                let plan = col.end_plan();
                for p in &plans {
                    let _ = p.send(plan.clone());
                }
            }
            let now = shared.bytes_read.load(std::sync::atomic::Ordering::Relaxed);
            if now > reported {
                progress(now - reported);
                reported = now;
            }
        }
    });
    result
}

/// Runs one sensor's capture files through the engine (see [`run_source`]). Capture damage is
/// recorded in the summary (and `damaged`), never aborts: everything read before it is still
/// reported.
pub fn run_sensor(
    input: &SensorInput,
    opts: &Options,
    sink: &mut dyn FlowSink,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<SensorSummary> {
    let mut source = crate::source::open_paths(&input.paths, opts.keep_going);
    run_source(&input.name, &input.addrs, &mut *source, opts, sink, progress)
}

/// Runs one sensor's frames through the engine: `name`, its configured addresses (empty: they
/// are inferred), and where its frames come from. With `opts.threads` ≤ 1 everything runs on
/// this thread; otherwise workers share the reading and the flows. The output is the same
/// either way. `progress` gets the captured bytes of each batch as it is read.
pub fn run_source(
    name: &str,
    addrs: &[Addr],
    source: &mut dyn FrameSource,
    opts: &Options,
    sink: &mut dyn FlowSink,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<SensorSummary> {
    let configured = !addrs.is_empty();
    let sensor_addrs: Vec<SensorAddr> =
        addrs.iter().map(|a| SensorAddr { addr: *a, reason: "configured".into() }).collect();
    let naming = Naming {
        names: crate::names::NameTable::default(),
        hosts: opts.hosts.clone(),
        sensor: addrs_set(&sensor_addrs),
        sensor_sorted: sorted_addrs(&sensor_addrs),
    };
    let mut col = Collector {
        sink,
        sensor: name,
        sensor_addrs,
        decided: configured,
        evidence: None,
        shares_due: opts.threads.max(1),
        pending: Vec::new(),
        naming: std::sync::Arc::new(naming),
        acc: Accumulator {
            roles: HashMap::new(),
            protos: HashMap::new(),
            states: HashMap::new(),
            talkers: HashMap::new(),
            flows: 0,
            no_tally: opts.no_tally,
        },
        counters: FrameCounters::default(),
        table: TableStats::default(),
        expired_frags: 0,
    };
    col.sink.begin(name)?;
    let result = match opts.threads {
        0 | 1 => run_serial(source, opts, &mut col, progress),
        n => run_threaded(source, n, opts, &mut col, progress),
    };
    result?;
    if !col.decided {
        // Only if a worker died early; flush with inferred-nothing roles.
        col.decision(Vec::new())?;
    }
    let Collector { sink, sensor_addrs, acc, counters, table, expired_frags, .. } = col;
    let mut anomalies = counters.anomalies.clone();
    anomalies.add(Anomaly::FragIncomplete, expired_frags);
    anomalies.add(Anomaly::FlowEvicted, table.evicted);
    let crate::source::SourceSummary { files, linktypes } = source.summary();
    let mut lts: Vec<(String, u32, u64)> =
        linktypes.into_iter().map(|(l, n)| (wire::link::linktype::name(l).to_string(), l, n)).collect();
    lts.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1)));
    let mut talkers: Vec<Talker> =
        acc.talkers.iter().map(|(a, (f, p, b))| Talker { addr: *a, flows: *f, packets: *p, bytes: *b }).collect();
    talkers.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.addr.cmp(&b.addr)));
    talkers.truncate(10);
    let mut tun: Vec<(TunnelKind, u64)> = counters.tunnels.iter().map(|(k, n)| (*k, *n)).collect();
    tun.sort_by_key(|(k, n)| (std::cmp::Reverse(*n), k.name()));
    let damaged = files.iter().any(|f| f.error.is_some());
    let c = counters;
    let summary = SensorSummary {
        sensor: name.to_string(),
        files,
        frames: c.frames,
        captured_bytes: c.captured,
        wire_bytes: c.wire,
        first_ts: c.first_ts,
        last_ts: c.last_ts,
        linktypes: lts,
        outer_ipv4: c.outer4,
        outer_ipv6: c.outer6,
        non_ip: c.non_ip,
        inner_ipv4: c.inner4,
        inner_ipv6: c.inner6,
        tunnels: tun,
        vlan_frames: c.vlan,
        fragments: c.frags,
        reassembled: c.reasm,
        anomalies: anomalies.nonzero(),
        sensor_addrs,
        sensor_addrs_inferred: !configured,
        roles: sorted(&acc.roles),
        by_family: c.by_family,
        flows_by_proto: sorted(&acc.protos),
        conn_states: sorted(&acc.states),
        flows: acc.flows,
        table,
        top_talkers: talkers,
        damaged,
    };
    sink.end(&summary)?;
    Ok(summary)
}

#[cfg(test)]
mod test {
    use super::Upto;

    /// Every frame the router hands to one worker belongs to the flow the decoder finds for it:
    /// on every frame of the corpus and on damaged copies of them (bytes of the headers
    /// changed at random), the route's hash is the hash of the decoder's flow key, and the
    /// decoder has not decapsulated or held it for reassembly. (A frame the decoder finds no
    /// flow for may go anywhere: nobody makes a flow of it.)
    #[test]
    fn a_routed_frame_is_keyed_as_the_decoder_keys_it() {
        use crate::decode::Decoder;
        use crate::flow::KeyHasher;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
        if !dir.join("INVENTORY.tsv").is_file() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no corpus at {}", dir.display());
            return;
        }
        let mut files = Vec::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() && !p.ends_with("reference") {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                    files.push(p);
                }
            }
        }
        let hasher = KeyHasher::new(7);
        let (mut routed, mut checked) = (0u64, 0u64);
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut check = |dec: &mut Decoder, lt: u32, data: &[u8]| {
            let Some(h) = super::route_hash(&hasher, lt, data) else { return };
            routed += 1;
            let d = dec.decode(0, lt, data);
            let key = d.net.and_then(|net| crate::flow::key_of(&net, &d.transport));
            if let Some((k, _, _)) = key {
                assert!(d.tunnel.is_none() && !d.fragment_pending, "routed frame decapsulated: {data:02x?}");
                assert_eq!(hasher.hash(&k), h, "route and decoder disagree on {data:02x?}");
                checked += 1;
            }
        };
        let mut dec = Decoder::default();
        for f in &files {
            let Ok(mut r) = crate::capture::Reader::open(f, false) else { continue };
            while let Ok(true) = r.advance() {
                let fr = r.current();
                let (lt, data) = (fr.linktype, fr.data.to_vec());
                check(&mut dec, lt, &data);
                for _ in 0..8 {
                    let mut m = data.clone();
                    let span = m.len().min(96);
                    if span == 0 {
                        break;
                    }
                    for _ in 0..1 + next() % 3 {
                        let i = (next() % span as u64) as usize;
                        m[i] = next() as u8;
                    }
                    if next() % 4 == 0 {
                        m.truncate((next() % (m.len() as u64 + 1)) as usize);
                    }
                    check(&mut dec, lt, &m);
                }
            }
        }
        assert!(checked > 100_000, "routed {routed}, checked {checked}");
    }

    /// The merging thread may write a record only when no worker can still send one that sorts
    /// before it; the watermark says what each worker may still send.
    #[test]
    fn watermarks_hold_back_only_what_may_still_come_first() {
        let end = u64::MAX;
        // Frame watermark: records of frames at or after it may still come.
        assert!(Upto::Frame(10).may_precede(10, (0, 5, b"Ca")));
        assert!(Upto::Frame(10).may_precede(end, (0, 5, b"Ca")));
        assert!(!Upto::Frame(11).may_precede(10, (1, 5, b"Ca")));
        // End-of-input flows sent up to (ts 5, uid "Cm"): later end flows and all end events
        // may still come, nothing of a frame.
        let w = Upto::EndFlows(5, super::uid_key("Cm"));
        assert!(!w.may_precede(10, (1, 9, b"Cz")));
        assert!(!w.may_precede(end, (0, 5, b"Ca")), "sorts before what was sent");
        assert!(!w.may_precede(end, (0, 4, b"Cz")));
        assert!(w.may_precede(end, (0, 5, b"Cz")), "a later flow of this worker may sort first");
        assert!(w.may_precede(end, (0, 6, b"Ca")));
        assert!(w.may_precede(end, (1, 0, b"Ca")), "end events follow every end flow");
        // Everything sent.
        assert!(!Upto::All.may_precede(end, (1, i64::MAX, b"Cz")));
    }

    /// A worker's formatted end-of-input records come out one whole record at a time, each
    /// under its own merge key, and an empty chunk is never queued.
    #[test]
    fn lines_give_back_each_record_under_its_key() {
        use super::{uid_key, Lines, Received};
        let mut l = Lines::default();
        for (ts, uid, text) in [(5, "CaaaaaaaaaaA", "one\n"), (5, "CaaaaaaaaaaB", "two\n"), (7, "C0", "three\n")] {
            l.bytes.extend_from_slice(text.as_bytes());
            l.keys.push((ts, uid_key(uid), l.bytes.len()));
        }
        assert_eq!(l.front_key(), Some((u64::MAX, (0, 5, &b"CaaaaaaaaaaA"[..]))));
        assert_eq!(l.pop(), Some(&b"one\n"[..]));
        assert_eq!(l.front_key().map(|k| k.1 .2.to_vec()), Some(b"CaaaaaaaaaaB".to_vec()));
        assert_eq!(l.pop(), Some(&b"two\n"[..]));
        assert_eq!(l.front_key().map(|k| k.1 .1), Some(7));
        assert_eq!(l.pop(), Some(&b"three\n"[..]));
        assert!(l.is_done());
        assert_eq!(l.pop(), None);
        let mut q = Received::default();
        q.push_lines(Lines::default());
        assert!(q.is_empty(), "an empty chunk is not queued");
    }
}

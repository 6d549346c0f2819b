//! The only module that sees every stage: reader → decoder → sensor inference → flow table →
//! sink, for one sensor at a time. It accumulates the capture statistics `summary` shows.

use crate::capture::{CaptureError, Compression, Format, Merger, Reader};
use crate::decode::{Addr, Anomaly, AnomalyCounts, Decoder, TunnelKind};
use crate::flow::{Config as FlowConfig, FlowTable, TableStats};
use crate::model::{FlowRecord, Role};
use crate::sensor::{self, Inference, SensorAddr};
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
}

/// Receives flow records as they end.
pub trait FlowSink {
    /// One finished flow of `sensor`.
    fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> std::io::Result<()>;
}

/// A sink that drops records (summary only).
pub struct NullSink;

impl FlowSink for NullSink {
    fn flow(&mut self, _: &str, _: &FlowRecord) -> std::io::Result<()> {
        Ok(())
    }
}

/// Per-file facts.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    /// Path as given.
    pub path: String,
    /// Container.
    pub format: Option<Format>,
    /// Compression.
    pub compression: Option<Compression>,
    /// Frames read.
    pub frames: u64,
    /// Container bytes consumed.
    pub bytes: u64,
    /// pcapng sections.
    pub sections: u32,
    /// Interfaces declared.
    pub interfaces: u32,
    /// Frames whose timestamp went backwards.
    pub out_of_order: u64,
    /// Damage, if any.
    pub error: Option<String>,
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
    pub first_ts: Option<i64>,
    /// Last frame.
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
    sensor: HashSet<Addr>,
}

impl Accumulator {
    fn add(&mut self, rec: &mut FlowRecord) {
        rec.role = sensor::role(rec, &self.sensor);
        *self.roles.entry(rec.role).or_default() += 1;
        *self.protos.entry(rec.proto_name()).or_default() += 1;
        *self.states.entry(rec.conn_state).or_default() += 1;
        self.flows += 1;
        let pk = rec.orig.pkts + rec.resp.pkts;
        let by = rec.orig.ip_bytes + rec.resp.ip_bytes;
        for a in [rec.orig_h, rec.resp_h] {
            if self.sensor.contains(&a) || a.is_multicast_or_broadcast() {
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

/// Runs one sensor through the engine. Capture damage is recorded in the summary (and
/// `damaged`), never aborts: everything read before it is still reported.
pub fn run_sensor(
    input: &SensorInput,
    opts: &Options,
    sink: &mut dyn FlowSink,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<SensorSummary> {
    let mut files: Vec<FileSummary> = Vec::new();
    let mut readers = Vec::new();
    for p in &input.paths {
        match Reader::open(p, opts.keep_going) {
            Ok(r) => {
                files.push(FileSummary {
                    path: p.display().to_string(),
                    format: Some(r.format()),
                    compression: Some(r.compression()),
                    frames: 0,
                    bytes: 0,
                    sections: 0,
                    interfaces: 0,
                    out_of_order: 0,
                    error: None,
                });
                readers.push((files.len() - 1, r));
            }
            Err(e) => files.push(FileSummary {
                path: p.display().to_string(),
                format: None,
                compression: None,
                frames: 0,
                bytes: 0,
                sections: 0,
                interfaces: 0,
                out_of_order: 0,
                error: Some(e.to_string()),
            }),
        }
    }
    let file_index: Vec<usize> = readers.iter().map(|(i, _)| *i).collect();
    let mut merger = Merger::new(readers.into_iter().map(|(_, r)| r).collect());
    let mut decoder = Decoder::default();
    let mut table = FlowTable::new(opts.flow);
    let mut inference = Inference::default();
    let configured = !input.addrs.is_empty();
    let mut sensor_addrs: Vec<SensorAddr> = input
        .addrs
        .iter()
        .map(|a| SensorAddr {
            addr: *a,
            reason: "configured".into(),
        })
        .collect();
    let mut acc = Accumulator {
        roles: HashMap::new(),
        protos: HashMap::new(),
        states: HashMap::new(),
        talkers: HashMap::new(),
        flows: 0,
        sensor: input.addrs.iter().copied().collect(),
    };
    let mut pending: Vec<FlowRecord> = Vec::new();
    let mut out: Vec<FlowRecord> = Vec::new();
    let mut anomalies = AnomalyCounts::default();
    let (mut frames, mut captured, mut wire) = (0u64, 0u64, 0u64);
    let (mut first_ts, mut last_ts) = (None::<i64>, None::<i64>);
    let (
        mut outer4,
        mut outer6,
        mut non_ip,
        mut inner4,
        mut inner6,
        mut vlan,
        mut frags,
        mut reasm,
    ) = (0, 0, 0, 0, 0, 0, 0, 0);
    let mut tunnels: HashMap<TunnelKind, u64> = HashMap::new();
    let mut by_family = [Volume::default(); 2];
    let mut deciding = !configured;
    let mut last_progress = 0u64;
    let mut errors: Vec<(usize, CaptureError)> = Vec::new();

    loop {
        let next = merger.next_frame();
        let (_, frame) = match next {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(e) => {
                let idx = merger
                    .readers()
                    .iter()
                    .position(|r| r.name() == e.file)
                    .unwrap_or(0);
                errors.push((idx, e));
                continue;
            }
        };
        frames += 1;
        captured += frame.data.len() as u64;
        wire += u64::from(frame.orig_len);
        let ts = frame.ts;
        first_ts = Some(first_ts.map_or(ts, |f| f.min(ts)));
        last_ts = Some(last_ts.map_or(ts, |l| l.max(ts)));
        let d = decoder.decode(ts, frame.linktype, frame.data);
        anomalies.add_set(d.anomalies);
        match d.outer_version {
            4 => outer4 += 1,
            6 => outer6 += 1,
            _ => non_ip += 1,
        }
        if d.vlan_tags > 0 {
            vlan += 1;
        }
        if let Some(t) = d.tunnel {
            *tunnels.entry(t.kind).or_default() += 1;
        }
        if d.fragment_pending {
            frags += 1;
        }
        if let Some(net) = d.net {
            if !d.fragment_pending {
                let fam = usize::from(net.src.version == 6);
                by_family[fam].packets += 1;
                by_family[fam].bytes += u64::from(net.ip_len);
                if net.src.version == 4 {
                    inner4 += 1;
                } else {
                    inner6 += 1;
                }
                if net.fragments > 0 {
                    reasm += 1;
                }
            }
        }
        if deciding {
            inference.observe(&d);
        }
        table.process(ts, &d, &mut out);
        if deciding && inference.is_done() {
            deciding = false;
            sensor_addrs = inference.decide();
            acc.sensor = sensor_addrs.iter().map(|s| s.addr).collect();
            for mut r in pending.drain(..) {
                acc.add(&mut r);
                sink.flow(&input.name, &r)?;
            }
        }
        for mut r in out.drain(..) {
            if deciding {
                pending.push(r);
            } else {
                acc.add(&mut r);
                sink.flow(&input.name, &r)?;
            }
        }
        if captured - last_progress >= 16 << 20 {
            progress(captured - last_progress);
            last_progress = captured;
        }
    }
    progress(captured - last_progress);
    let expired = decoder.finish();
    anomalies.add(Anomaly::FragIncomplete, expired);
    table.finish(&mut out);
    if deciding {
        sensor_addrs = inference.decide();
        acc.sensor = sensor_addrs.iter().map(|s| s.addr).collect();
    }
    for mut r in pending.drain(..).chain(out.drain(..)) {
        acc.add(&mut r);
        sink.flow(&input.name, &r)?;
    }
    anomalies.add(Anomaly::FlowEvicted, table.stats().evicted);

    let mut linktypes: HashMap<u32, u64> = HashMap::new();
    for (k, r) in merger.readers().iter().enumerate() {
        let fi = file_index[k];
        let st = r.stats();
        let f = &mut files[fi];
        f.frames = st.frames;
        f.bytes = st.bytes;
        f.sections = st.sections;
        f.interfaces = st.interfaces;
        f.out_of_order = st.out_of_order;
        for (lt, n) in &st.linktypes {
            *linktypes.entry(*lt).or_default() += n;
        }
    }
    for (k, e) in errors {
        let fi = file_index.get(k).copied().unwrap_or(0);
        if let Some(f) = files.get_mut(fi) {
            match &mut f.error {
                Some(s) => {
                    s.push_str("; ");
                    s.push_str(&e.to_string());
                }
                None => f.error = Some(e.to_string()),
            }
        }
    }
    let mut lts: Vec<(String, u32, u64)> = linktypes
        .into_iter()
        .map(|(l, n)| (wire::link::linktype::name(l).to_string(), l, n))
        .collect();
    lts.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1)));
    let mut talkers: Vec<Talker> = acc
        .talkers
        .iter()
        .map(|(a, (f, p, b))| Talker {
            addr: *a,
            flows: *f,
            packets: *p,
            bytes: *b,
        })
        .collect();
    talkers.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.addr.cmp(&b.addr)));
    talkers.truncate(10);
    let mut tun: Vec<(TunnelKind, u64)> = tunnels.into_iter().collect();
    tun.sort_by_key(|(k, n)| (std::cmp::Reverse(*n), k.name()));
    let damaged = files.iter().any(|f| f.error.is_some());
    Ok(SensorSummary {
        sensor: input.name.clone(),
        files,
        frames,
        captured_bytes: captured,
        wire_bytes: wire,
        first_ts,
        last_ts,
        linktypes: lts,
        outer_ipv4: outer4,
        outer_ipv6: outer6,
        non_ip,
        inner_ipv4: inner4,
        inner_ipv6: inner6,
        tunnels: tun,
        vlan_frames: vlan,
        fragments: frags,
        reassembled: reasm,
        anomalies: anomalies.nonzero(),
        sensor_addrs,
        sensor_addrs_inferred: !configured,
        roles: sorted(&acc.roles),
        by_family,
        flows_by_proto: sorted(&acc.protos),
        conn_states: sorted(&acc.states),
        flows: acc.flows,
        table: table.stats(),
        top_talkers: talkers,
        damaged,
    })
}

//! The only module that sees every stage: reader → decoder → sensor inference → flow table →
//! sink, for one sensor at a time. It accumulates the capture statistics `summary` shows.
//!
//! Its parts: [`sink`] (what receives records), [`summary`] (what a sensor's run reports),
//! `stats` (counting as frames pass), `batch` (frames in batches and the per-batch loop),
//! `route` (which worker owns a frame), `threads` (one thread or several workers), `merge`
//! (one output order for any number of workers). Records are completed (names, roles) by
//! `enrich::records`, applied in output order.

use crate::decode::{Addr, Anomaly, TunnelKind};
use crate::flow::{Config as FlowConfig, TableStats};
use crate::sensor::SensorAddr;
pub use crate::source::FileSummary;
use crate::source::FrameSource;
use hashbrown::HashMap;
use std::path::PathBuf;

mod batch;
mod merge;
mod route;
pub mod sink;
mod stats;
pub mod summary;
mod threads;

use crate::enrich::records::{addrs_set, sorted_addrs, Naming};
use merge::Collector;
pub use sink::{FlowSink, NullSink, RecordFormat, Tee};
use stats::{sorted, Accumulator, FrameCounters};
pub use summary::{SensorSummary, Talker, Volume};
use threads::{run_serial, run_threaded};

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

/// Addresses in a sensor summary's top talkers.
const TOP_TALKERS: usize = 10;

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
        end_tally: false,
        end_tallies: Vec::new(),
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
    let end = std::mem::take(&mut col.end_tallies);
    col.acc.add_end(end);
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
    // The ten busiest (by bytes, then address: a total order) of every address seen: picked,
    // then sorted, without sorting them all.
    let busiest = |a: &Talker, b: &Talker| b.bytes.cmp(&a.bytes).then(a.addr.cmp(&b.addr));
    if talkers.len() > TOP_TALKERS {
        talkers.select_nth_unstable_by(TOP_TALKERS - 1, busiest);
        talkers.truncate(TOP_TALKERS);
    }
    talkers.sort_by(busiest);
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

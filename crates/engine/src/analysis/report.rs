//! The report schema (`v6watch.report/1`): what `Analysis::finish` builds, the terminal and HTML
//! forms print and `report --json` writes, plus the event-window comparison.

use crate::analyze::health::{HealthReport, Params};
use crate::analyze::peers::{self, Peer, PeerGroup};
use crate::analyze::timeline::{SeriesKey, Timeline, TimelineAcc};
use crate::classify::Event;
use crate::pipeline::SensorSummary;
use hashbrown::HashMap;
use serde::Serialize;

/// Settings echoed into the report.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsOut {
    /// Display zone.
    pub tz: String,
    /// Timeline bucket, ns.
    pub bucket_ns: i64,
    /// Event windows.
    pub events: Vec<Event>,
    /// Rule classes in order.
    pub rules: Vec<String>,
    /// Excluded classes.
    pub exclude: Vec<String>,
    /// Health thresholds.
    pub health: Params,
}

/// HTTP requests with the same method, host and path (query cut), per family.
#[derive(Debug, Clone, Serialize)]
pub struct HttpAgg {
    /// Sensor.
    pub sensor: String,
    /// 4 or 6.
    pub family: u8,
    /// Method.
    pub method: String,
    /// Host header (or server address).
    pub host: String,
    /// Path without the query.
    pub path: String,
    /// One full request target, as an example.
    pub example_uri: String,
    /// Requests.
    pub count: u64,
    /// First and last, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub first_ts: i64,
    /// Last, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub last_ts: i64,
    /// Requests per comparison window (before, during, after per event).
    pub windows: Vec<u64>,
}

/// TLS handshakes with the same server name, per family.
#[derive(Debug, Clone, Serialize)]
pub struct TlsAgg {
    /// Sensor.
    pub sensor: String,
    /// 4 or 6.
    pub family: u8,
    /// Server name (empty when none was sent).
    pub sni: String,
    /// tls or quic.
    pub transport: &'static str,
    /// Handshakes.
    pub count: u64,
    /// First, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub first_ts: i64,
    /// Last, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub last_ts: i64,
    /// Handshakes per comparison window.
    pub windows: Vec<u64>,
}

/// One window's volumes by family and direction.
#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    /// Sensor.
    pub sensor: String,
    /// 4 or 6.
    pub family: u8,
    /// in, out, local, transit.
    pub direction: &'static str,
    /// IP bytes before, during, after.
    pub bytes: [u64; 3],
    /// Packets before, during, after.
    pub packets: [u64; 3],
    /// Flows that started before, during, after.
    pub flows: [u64; 3],
}

/// An organisation's (or service's) move between families around an event.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyChange {
    /// Sensor.
    pub sensor: String,
    /// Organisation, or the service name when unknown.
    pub who: String,
    /// Services involved.
    pub services: Vec<String>,
    /// First AAAA answer (or first IPv6 success), ns.
    #[serde(serialize_with = "crate::model::epoch_opt")]
    pub to_v6: Option<i64>,
    /// First IPv6 connection that succeeded, ns (None: IPv6 never worked).
    #[serde(serialize_with = "crate::model::epoch_opt")]
    pub v6_ok: Option<i64>,
    /// AAAA gone (or back to IPv4), ns.
    #[serde(serialize_with = "crate::model::epoch_opt")]
    pub back_to_v4: Option<i64>,
}

/// During vs before vs after one event window (equal lengths).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The event.
    pub event: Event,
    /// The three windows (start, end), ns.
    #[serde(serialize_with = "crate::model::epoch_pairs")]
    pub windows: [(i64, i64); 3],
    /// Volumes by sensor, family, direction.
    pub volumes: Vec<Volume>,
    /// Peers seen during the window and not before it.
    pub new_peers: Vec<Peer>,
    /// Who moved to IPv6 and back.
    pub changes: Vec<FamilyChange>,
    /// HTTP requests during the window over IPv6 (busiest first).
    pub http_v6: Vec<HttpAgg>,
}

/// SMTP connections of a sensor over one family in one direction: the seed's "spam arriving
/// over IPv6" as a count with its senders.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MailAgg {
    /// Sensor.
    pub sensor: String,
    /// 4 or 6.
    pub family: u8,
    /// `received` (the sensor was the server), `sent` (it was the client) or `transit`.
    pub direction: &'static str,
    /// Connections.
    pub connections: u64,
    /// Distinct clients (senders).
    pub senders: u64,
    /// Distinct servers.
    pub servers: u64,
    /// Messages the servers took.
    pub messages: u64,
    /// RCPT TO commands.
    pub recipients: u64,
    /// Transaction commands rejected (5xx) and deferred (4xx).
    pub rejected: u64,
    /// See `rejected`.
    pub deferred: u64,
    /// Connections that switched to TLS.
    pub starttls: u64,
    /// First connection, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub first_ts: i64,
    /// Last connection, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub last_ts: i64,
    /// Connections per comparison window (before, during, after each event).
    pub windows: Vec<u64>,
    /// The busiest senders (address, connections), 10 at most.
    pub top_senders: Vec<(String, u64)>,
    /// Their flows to look at (5 at most).
    pub uids: Vec<String>,
}

/// Traffic that reached a known-bad destination: one indicator, per sensor and family.
#[derive(Debug, Clone, Serialize)]
pub struct IndicatorHit {
    /// Sensor.
    pub sensor: String,
    /// The indicator, normalised.
    pub indicator: String,
    /// domain, address or url.
    pub kind: crate::analyze::indicators::Kind,
    /// The file it came from, and its line.
    pub file: String,
    /// See `file`.
    pub line: u32,
    /// 4 or 6: the family of the traffic that matched.
    pub family: u8,
    /// Matches (flows and application events).
    pub count: u64,
    /// First match, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub first_ts: i64,
    /// Last match, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub last_ts: i64,
    /// Matches per comparison window (before, during, after each event).
    pub windows: Vec<u64>,
    /// What matched: addresses, names, URLs, mail domains (5 at most, with what carried them).
    pub matched: Vec<String>,
    /// Flows to look at (5 at most).
    pub uids: Vec<String>,
}

/// Flows and bytes left out by `--exclude`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Excluded {
    /// Class.
    pub class: String,
    /// Flows.
    pub flows: u64,
    /// IP bytes.
    pub bytes: u64,
}

/// The whole analysis (schema `v6watch.report/1`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// Schema identifier.
    pub schema: &'static str,
    /// Program and version.
    pub generator: String,
    /// Settings used.
    pub settings: SettingsOut,
    /// Capture statistics per sensor.
    pub sensors: Vec<SensorSummary>,
    /// Volume over time.
    pub timeline: Timeline,
    /// Sensors whose span is much shorter than the whole timeline's, on their own span and
    /// bucket (for their charts; not in the JSON, whose `timeline` has every series).
    #[serde(skip)]
    pub sensor_timelines: Vec<(String, Timeline)>,
    /// Remote peers.
    pub peers: Vec<Peer>,
    /// Peers beyond the analysis bound (mostly one-flow peers of a scan or flood), counted per
    /// sensor; empty when every peer is listed.
    pub peers_folded: Vec<peers::Folded>,
    /// Peers by /64 (IPv6) and /24 (IPv4).
    pub prefixes_64: Vec<PeerGroup>,
    /// Peers by /48 (IPv6).
    pub prefixes_48: Vec<PeerGroup>,
    /// Peers by registrable domain of their best name.
    pub domains: Vec<PeerGroup>,
    /// HTTP request lines.
    pub http: Vec<HttpAgg>,
    /// TLS server names.
    pub tls: Vec<TlsAgg>,
    /// SMTP connections by sensor, family and direction.
    pub mail: Vec<MailAgg>,
    /// Matches of the indicator lists (`--indicators`); empty without them.
    pub indicators: Vec<IndicatorHit>,
    /// IPv6 health.
    pub health: HealthReport,
    /// Event comparisons.
    pub comparisons: Vec<Comparison>,
    /// What the classes left out.
    pub excluded: Vec<Excluded>,
    /// Flows tagged per class (kept ones included).
    pub classes: Vec<(String, u64)>,
    /// Application events not aggregated because the bound was reached.
    pub app_dropped: u64,
    /// What went wrong in an enrichment (the report is made without it); not in the JSON.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Report {
    /// The report with the capture statistics of the sensors read (the `sensors` section).
    pub fn with_capture(mut self, sums: Vec<SensorSummary>) -> Report {
        self.sensors = sums;
        self
    }
}

pub(super) fn compare(
    i: usize,
    e: &Event,
    timeline: &TimelineAcc,
    peers: &[Peer],
    health: &HealthReport,
    http: &[HttpAgg],
) -> Comparison {
    let len = e.end - e.start;
    let windows = [(e.start - len, e.start), (e.start, e.end), (e.end, e.end + len)];
    let mut vols: HashMap<(String, u8, &'static str), Volume> = HashMap::new();
    for (w, (s, t)) in windows.iter().enumerate() {
        for (k, sum) in timeline.totals(*s, *t) {
            let SeriesKey { sensor, family, direction, .. } = k;
            let v = vols.entry((sensor.clone(), family, direction)).or_insert_with(|| Volume {
                sensor,
                family,
                direction,
                bytes: [0; 3],
                packets: [0; 3],
                flows: [0; 3],
            });
            v.bytes[w] += sum.bytes;
            v.packets[w] += sum.packets;
            v.flows[w] += sum.flows;
        }
    }
    let mut volumes: Vec<Volume> = vols.into_values().collect();
    volumes.sort_by(|a, b| (&a.sensor, a.family, a.direction).cmp(&(&b.sensor, b.family, b.direction)));
    let (before, during) = (1u64 << (3 * i), 1u64 << (3 * i + 1));
    let new_peers: Vec<Peer> =
        peers.iter().filter(|p| p.windows & during != 0 && p.windows & before == 0).cloned().collect();
    // Who moved: group the health service events in the three windows by organisation.
    let span = (windows[0].0, windows[2].1);
    let mut changes: HashMap<(String, String), FamilyChange> = HashMap::new();
    for ev in health.service_events.iter().filter(|x| x.ts >= span.0 && x.ts < span.1) {
        let who = peers::org_of(&ev.service).map_or_else(|| ev.service.clone(), str::to_string);
        let c = changes.entry((ev.sensor.clone(), who.clone())).or_insert_with(|| FamilyChange {
            sensor: ev.sensor.clone(),
            who,
            services: vec![],
            to_v6: None,
            v6_ok: None,
            back_to_v4: None,
        });
        if !c.services.contains(&ev.service) {
            c.services.push(ev.service.clone());
        }
        match ev.kind {
            "service_gained_aaaa" | "service_switched_to_v6" => {
                c.to_v6 = Some(c.to_v6.map_or(ev.ts, |t| t.min(ev.ts)));
                if ev.kind == "service_switched_to_v6" {
                    c.v6_ok = Some(c.v6_ok.map_or(ev.ts, |t| t.min(ev.ts)));
                }
            }
            _ => c.back_to_v4 = Some(c.back_to_v4.map_or(ev.ts, |t| t.min(ev.ts))),
        }
    }
    let mut changes: Vec<FamilyChange> = changes.into_values().collect();
    changes.iter_mut().for_each(|c| c.services.sort());
    changes.sort_by(|a, b| (&a.sensor, a.to_v6, &a.who).cmp(&(&b.sensor, b.to_v6, &b.who)));
    let mut http_v6: Vec<HttpAgg> =
        http.iter().filter(|h| h.family == 6 && h.windows.get(3 * i + 1).is_some_and(|&n| n > 0)).cloned().collect();
    http_v6.sort_by(|a, b| {
        (&a.sensor, std::cmp::Reverse(a.windows[3 * i + 1])).cmp(&(&b.sensor, std::cmp::Reverse(b.windows[3 * i + 1])))
    });
    Comparison { event: e.clone(), windows, volumes, new_peers, changes, http_v6 }
}

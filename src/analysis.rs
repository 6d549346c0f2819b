//! The whole analysis behind `report`, `timeline`, `peers` and the demo: one pass over the
//! captures feeds every accumulator (health, timeline, peers, application events), classes
//! from the rules are applied on the way, and `finish` builds the [`Report`] — the documented,
//! versioned JSON schema (`v6watch.report/1`) whose terminal and HTML forms are printers.

use crate::config::{Event, Rule, Target};
use engine::analyze::health::{Health, HealthReport, Params};
use engine::analyze::peers::{self, Peer, PeerGroup, PeersAcc};
use engine::analyze::timeline::{SeriesKey, Timeline, TimelineAcc};
use engine::decode::Addr;
use engine::model::{AppEvent, FlowRecord};
use engine::pipeline::{FlowSink, SensorSummary};
use hashbrown::HashMap;
use serde::Serialize;

/// Schema identifier of the JSON document.
pub const SCHEMA: &str = "v6watch.report/1";
/// Distinct application-event keys kept (HTTP request lines, TLS names); beyond, counted only.
const MAX_APP_KEYS: usize = 20_000;

/// How the analysis runs and displays.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Display zone.
    pub tz: jiff::tz::TimeZone,
    /// Its name as given.
    pub tz_name: String,
    /// Timeline bucket (None: automatic).
    pub bucket_ns: Option<i64>,
    /// Event windows.
    pub events: Vec<Event>,
    /// Rules, first match wins.
    pub rules: Vec<Rule>,
    /// Classes left out.
    pub exclude: Vec<String>,
    /// IPv6-health thresholds.
    pub health: Params,
    /// ASN and country databases, when given.
    pub geo: Option<std::sync::Arc<std::sync::Mutex<engine::analyze::geo::GeoDb>>>,
    /// Reverse DNS for unnamed peers (resolver, timeout), only when the user asked.
    pub ptr: Option<(std::net::SocketAddr, std::time::Duration)>,
    /// NIC vendors and NAT64 prefixes for describing addresses.
    pub intel: engine::analyze::addr::Intel,
}

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
    #[serde(serialize_with = "engine::model::epoch")]
    pub first_ts: i64,
    /// Last, ns.
    #[serde(serialize_with = "engine::model::epoch")]
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
    #[serde(serialize_with = "engine::model::epoch")]
    pub first_ts: i64,
    /// Last, ns.
    #[serde(serialize_with = "engine::model::epoch")]
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
    #[serde(serialize_with = "engine::model::epoch_opt")]
    pub to_v6: Option<i64>,
    /// First IPv6 connection that succeeded, ns (None: IPv6 never worked).
    #[serde(serialize_with = "engine::model::epoch_opt")]
    pub v6_ok: Option<i64>,
    /// AAAA gone (or back to IPv4), ns.
    #[serde(serialize_with = "engine::model::epoch_opt")]
    pub back_to_v4: Option<i64>,
}

/// During vs before vs after one event window (equal lengths).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The event.
    pub event: Event,
    /// The three windows (start, end), ns.
    #[serde(serialize_with = "engine::model::epoch_pairs")]
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
}

/// The sink every capture is run through. Cloning it is how a report of everything so far is
/// made while the input goes on ([`Analysis::snapshot`]).
#[derive(Clone)]
pub struct Analysis {
    settings: Settings,
    windows: Vec<(i64, i64)>,
    health: Health,
    timeline: TimelineAcc,
    peers: PeersAcc,
    http: HashMap<(String, u8, String, String, String), HttpAgg>,
    tls: HashMap<(String, u8, String, &'static str), TlsAgg>,
    excluded: HashMap<String, Excluded>,
    classes: HashMap<String, u64>,
    app_dropped: u64,
    /// Summaries of the sensors whose input ended (see [`FlowSink::end`]).
    ended: Vec<SensorSummary>,
}

fn windows_of(events: &[Event]) -> Vec<(i64, i64)> {
    events
        .iter()
        .flat_map(|e| {
            let len = e.end - e.start;
            [(e.start - len, e.start), (e.start, e.end), (e.end, e.end + len)]
        })
        .collect()
}

impl Analysis {
    /// A fresh analysis.
    pub fn new(settings: Settings) -> Analysis {
        let windows = windows_of(&settings.events);
        Analysis {
            health: Health::default(),
            timeline: TimelineAcc::new(settings.bucket_ns),
            peers: PeersAcc::new(windows.clone()),
            windows,
            settings,
            http: HashMap::new(),
            tls: HashMap::new(),
            excluded: HashMap::new(),
            classes: HashMap::new(),
            app_dropped: 0,
            ended: Vec::new(),
        }
    }

    /// The report of everything so far, the input going on: the sensors whose input ended
    /// with their capture statistics, a sensor still being read with its records only.
    pub fn snapshot(&self) -> Report {
        self.clone().finish(self.ended.clone())
    }

    fn class_of(&self, t: &Target<'_>) -> &str {
        self.settings.rules.iter().find(|r| r.matches(t, &self.settings.tz)).map_or("", |r| r.class.as_str())
    }

    fn window_counts(&self, ts: i64) -> Vec<u64> {
        self.windows.iter().map(|(s, e)| u64::from(ts >= *s && ts < *e)).collect()
    }

    /// Builds the report; `sums` are the pipeline's per-sensor statistics.
    pub fn finish(mut self, sums: Vec<SensorSummary>) -> Report {
        for s in &sums {
            let addrs: Vec<Addr> = s.sensor_addrs.iter().map(|a| a.addr).collect();
            self.health.sensor_addrs(&s.sensor, &addrs);
        }
        let params = self.settings.health.clone();
        let origin = self.origin();
        let health = std::mem::take(&mut self.health).finish(&params, &self.settings.intel);
        let timeline = self.timeline.finish(self.settings.bucket_ns, origin);
        let peers_folded = self.peers.folded();
        let mut peers = self.peers.finish(&self.settings.intel);
        if let Some((server, timeout)) = self.settings.ptr {
            let mut unnamed: Vec<std::net::IpAddr> =
                peers.iter().filter(|p| p.names.is_empty()).map(|p| p.addr.to_ip()).collect();
            unnamed.sort();
            unnamed.dedup();
            match crate::ptr::resolve(&unnamed, server, timeout) {
                Ok(names) => {
                    for p in peers.iter_mut().filter(|p| p.names.is_empty()) {
                        if let Some(n) = names.get(&p.addr.to_ip()) {
                            p.names.push(engine::analyze::peers::PeerName { name: n.clone(), source: "ptr", flows: 0 });
                            p.org = p.org.clone().or_else(|| peers::org_of(n).map(str::to_string));
                        }
                    }
                }
                Err(e) => eprintln!("v6watch: --resolve-ptr: {e}"),
            }
        }
        if let Some(db) = &self.settings.geo {
            if let Ok(mut db) = db.lock() {
                for p in &mut peers {
                    let o = db.lookup(&p.addr);
                    p.asn = o.asn;
                    p.country = o.country;
                    if o.org.is_some() {
                        p.org = o.org;
                    }
                }
            }
        }
        let prefixes_64 = peers::group(&peers, |p| Some(peers::prefix(&p.addr, 64)));
        let prefixes_48 = peers::group(&peers, |p| (p.addr.version == 6).then(|| peers::prefix(&p.addr, 48)));
        let domains = peers::group(&peers, |p| p.name().map(peers::registrable_domain));
        let mut http: Vec<HttpAgg> = self.http.into_values().collect();
        // Every part of the aggregation key takes part, so the order never depends on the
        // maps' (per-process random) iteration order.
        http.sort_by_cached_key(|x: &HttpAgg| {
            (x.sensor.clone(), std::cmp::Reverse(x.count), x.host.clone(), x.path.clone(), x.family, x.method.clone())
        });
        let mut tls: Vec<TlsAgg> = self.tls.into_values().collect();
        tls.sort_by_cached_key(|x: &TlsAgg| {
            (x.sensor.clone(), std::cmp::Reverse(x.count), x.sni.clone(), x.family, x.transport)
        });
        let comparisons = self
            .settings
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| compare(i, e, &self.timeline, &peers, &health, &http))
            .collect();
        let mut excluded: Vec<Excluded> = self.excluded.into_values().collect();
        excluded.sort_by(|a, b| a.class.cmp(&b.class));
        let mut classes: Vec<(String, u64)> = self.classes.into_iter().collect();
        classes.sort();
        Report {
            schema: SCHEMA,
            generator: format!("v6watch {}", env!("CARGO_PKG_VERSION")),
            settings: SettingsOut {
                tz: self.settings.tz_name.clone(),
                bucket_ns: timeline.bucket_ns,
                events: self.settings.events.clone(),
                rules: self.settings.rules.iter().map(|r| r.class.clone()).collect(),
                exclude: self.settings.exclude.clone(),
                health: params,
            },
            sensors: sums,
            timeline,
            peers,
            peers_folded,
            prefixes_64,
            prefixes_48,
            domains,
            http,
            tls,
            health,
            comparisons,
            excluded,
            classes,
            app_dropped: self.app_dropped,
        }
    }

    /// A bucket boundary: midnight of the first day in the display zone.
    fn origin(&self) -> i64 {
        let Some((first, _)) = self.timeline.span() else { return 0 };
        jiff::Timestamp::from_nanosecond(i128::from(first))
            .ok()
            .and_then(|t| t.to_zoned_datetime(self.settings.tz.clone()).start_of_day().ok())
            .and_then(|z| i64::try_from(z.timestamp().as_nanosecond()).ok())
            .unwrap_or(0)
    }

    /// Only the timeline (for `v6watch timeline`, which needs nothing else).
    pub fn timeline(&self) -> Timeline {
        self.timeline.finish(self.settings.bucket_ns, self.origin())
    }
}

impl FlowSink for Analysis {
    fn end(&mut self, summary: &SensorSummary) -> std::io::Result<()> {
        self.ended.push(summary.clone());
        Ok(())
    }

    fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> std::io::Result<()> {
        let class = self.class_of(&Target::of_flow(sensor, rec)).to_string();
        if !class.is_empty() {
            *self.classes.entry(class.clone()).or_default() += 1;
            if self.settings.exclude.contains(&class) {
                let e = self.excluded.entry(class.clone()).or_insert_with(|| Excluded { class, ..Default::default() });
                e.flows += 1;
                e.bytes += rec.orig.ip_bytes + rec.resp.ip_bytes;
                return Ok(());
            }
        }
        self.health.flow(sensor, rec);
        self.timeline.flow(sensor, rec, &class);
        self.peers.flow(sensor, rec, &class);
        Ok(())
    }

    fn event(&mut self, sensor: &str, ev: &AppEvent) -> std::io::Result<()> {
        let (ts, server, port, name, proto) = match ev {
            AppEvent::Http(h) => (h.ts, h.server, h.server_port, h.host.as_deref(), "tcp"),
            AppEvent::Tls(t) => {
                (t.ts, t.server, t.server_port, t.sni.as_deref(), if t.transport == "quic" { "udp" } else { "tcp" })
            }
            AppEvent::Dns(_) => {
                self.health.event(sensor, ev);
                return Ok(());
            }
        };
        let class = self.class_of(&Target { sensor, ts, remote: server, port, proto, name });
        if self.settings.exclude.iter().any(|c| c == class) {
            return Ok(());
        }
        let windows = self.window_counts(ts);
        let family = server.version;
        match ev {
            AppEvent::Http(h) => {
                let host = h.host.clone().unwrap_or_else(|| h.server.to_string()).to_ascii_lowercase();
                let path = h.uri.split('?').next().unwrap_or("").to_string();
                let key = (sensor.to_string(), family, h.method.clone(), host.clone(), path.clone());
                if !self.http.contains_key(&key) && self.http.len() >= MAX_APP_KEYS {
                    self.app_dropped += 1;
                    return Ok(());
                }
                let a = self.http.entry(key).or_insert_with(|| HttpAgg {
                    sensor: sensor.to_string(),
                    family,
                    method: h.method.clone(),
                    host,
                    path,
                    example_uri: h.uri.clone(),
                    count: 0,
                    first_ts: h.ts,
                    last_ts: h.ts,
                    windows: vec![0; windows.len()],
                });
                a.count += 1;
                a.first_ts = a.first_ts.min(h.ts);
                a.last_ts = a.last_ts.max(h.ts);
                a.windows.iter_mut().zip(&windows).for_each(|(a, w)| *a += w);
            }
            AppEvent::Tls(t) => {
                let sni = t.sni.clone().unwrap_or_default().to_ascii_lowercase();
                let key = (sensor.to_string(), family, sni.clone(), t.transport);
                if !self.tls.contains_key(&key) && self.tls.len() >= MAX_APP_KEYS {
                    self.app_dropped += 1;
                    return Ok(());
                }
                let a = self.tls.entry(key).or_insert_with(|| TlsAgg {
                    sensor: sensor.to_string(),
                    family,
                    sni,
                    transport: t.transport,
                    count: 0,
                    first_ts: t.ts,
                    last_ts: t.ts,
                    windows: vec![0; windows.len()],
                });
                a.count += 1;
                a.first_ts = a.first_ts.min(t.ts);
                a.last_ts = a.last_ts.max(t.ts);
                a.windows.iter_mut().zip(&windows).for_each(|(a, w)| *a += w);
            }
            AppEvent::Dns(_) => {}
        }
        Ok(())
    }
}

fn compare(
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
        for (k, bytes, pkts) in timeline.totals(*s, *t) {
            let SeriesKey { sensor, family, direction, .. } = k;
            let v = vols.entry((sensor.clone(), family, direction)).or_insert_with(|| Volume {
                sensor,
                family,
                direction,
                bytes: [0; 3],
                packets: [0; 3],
            });
            v.bytes[w] += bytes;
            v.packets[w] += pkts;
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

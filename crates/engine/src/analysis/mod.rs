//! The whole analysis behind `report`, `health`, `timeline`, `peers` and the demo, as a sink:
//! records from any source (captures, a live interface, stored records) feed every
//! accumulator (health, timeline, peers, application events), classes from the rules are
//! applied on the way, and `finish` runs the peer enrichments and builds the [`Report`] — the
//! documented, versioned JSON schema (`v6watch.report/1`, in `report`) whose terminal and HTML
//! forms are the command line's printers. What it knows of a sensor beyond its records comes
//! as [`SensorMeta`] (name, addresses), not as a capture reader's statistics.

use crate::analyze::health::{Health, Params};
use crate::analyze::peers::{self, PeersAcc};
use crate::analyze::timeline::{Timeline, TimelineAcc};
use crate::classify::{Event, Rule, Target};
use crate::decode::Addr;
use crate::enrich::PeerEnricher;
use crate::model::{AppEvent, FlowRecord};
use crate::pipeline::{FlowSink, SensorSummary};
use crate::sensor::SensorAddr;
use hashbrown::HashMap;
use std::borrow::Cow;

mod report;
pub use report::*;

/// Schema identifier of the JSON document.
pub const SCHEMA: &str = "v6watch.report/1";
/// Distinct application-event keys kept (HTTP request lines, TLS names); beyond, counted only.
const MAX_APP_KEYS: usize = 20_000;

/// One client–server pair's SMTP connections.
#[derive(Debug, Clone, Default)]
struct MailAcc {
    connections: u64,
    messages: u64,
    recipients: u64,
    rejected: u64,
    deferred: u64,
    starttls: u64,
    first_ts: i64,
    last_ts: i64,
    windows: Vec<u64>,
    uids: Vec<String>,
}

/// The connections of `mail` grouped by sensor, family and direction (`sent` when a sensor
/// address is the client, `received` when it is the server; the addresses are `own`'s).
fn mail_rows(
    mail: &HashMap<(String, Addr, Addr), MailAcc>,
    own: &HashMap<String, Vec<Addr>>,
    n_windows: usize,
) -> Vec<MailAgg> {
    let mine = |sensor: &str, a: &Addr| own.get(sensor).is_some_and(|v| v.contains(a));
    /// A row being made: the aggregate, connections per sender, the servers.
    type Row = (MailAgg, HashMap<Addr, u64>, hashbrown::HashSet<Addr>);
    let mut rows: std::collections::BTreeMap<(String, u8, &'static str), Row> = Default::default();
    for ((sensor, client, server), m) in mail {
        // As flows' roles: the sensor as the client first (outbound), then as the server.
        let direction = if mine(sensor, client) {
            "sent"
        } else if mine(sensor, server) {
            "received"
        } else {
            "transit"
        };
        let (row, senders, servers) = rows.entry((sensor.clone(), server.version, direction)).or_insert_with(|| {
            let agg = MailAgg {
                sensor: sensor.clone(),
                family: server.version,
                direction,
                first_ts: i64::MAX,
                last_ts: i64::MIN,
                windows: vec![0; n_windows],
                ..Default::default()
            };
            (agg, HashMap::new(), hashbrown::HashSet::new())
        });
        row.connections += m.connections;
        row.messages += m.messages;
        row.recipients += m.recipients;
        row.rejected += m.rejected;
        row.deferred += m.deferred;
        row.starttls += m.starttls;
        row.first_ts = row.first_ts.min(m.first_ts);
        row.last_ts = row.last_ts.max(m.last_ts);
        row.windows.iter_mut().zip(&m.windows).for_each(|(a, b)| *a += b);
        row.uids.extend(m.uids.iter().cloned());
        *senders.entry(*client).or_default() += m.connections;
        servers.insert(*server);
    }
    rows.into_values()
        .map(|(mut row, senders, servers)| {
            row.senders = senders.len() as u64;
            row.servers = servers.len() as u64;
            let mut top: Vec<(Addr, u64)> = senders.into_iter().collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            row.top_senders = top.into_iter().take(10).map(|(a, n)| (a.to_string(), n)).collect();
            // The pairs come in the map's (random) order: keep a stable few.
            row.uids.sort_unstable();
            row.uids.truncate(5);
            row
        })
        .collect()
}

/// The finding of an indicator match (a warning: something reached a listed destination).
fn indicator_finding(h: &IndicatorHit) -> crate::analyze::health::Finding {
    let times = if h.count == 1 { "once".to_string() } else { format!("{} times", h.count) };
    let example = h.matched.first().map(|m| format!(" ({m})")).unwrap_or_default();
    crate::analyze::health::Finding {
        severity: crate::analyze::health::Severity::Warning,
        note: "Threat::Indicator_Match",
        alert: "IndicatorMatch",
        msg: format!(
            "traffic matched {} {} over IPv{} {times}{example}, listed in {}:{}",
            match h.kind {
                crate::analyze::indicators::Kind::Domain => "the known-bad domain",
                crate::analyze::indicators::Kind::Address => "the known-bad network",
                crate::analyze::indicators::Kind::Url => "the known-bad URL",
            },
            h.indicator,
            h.family,
            h.file,
            h.line
        ),
        sensor: h.sensor.clone(),
        service: Some(h.indicator.clone()),
        family: Some(h.family),
        client: None,
        n: h.count,
        first_ts: h.first_ts,
        last_ts: h.last_ts,
        identifier: format!("Threat::Indicator_Match|{}|{}", h.indicator, h.family),
        uids: h.uids.clone(),
        source: "capture",
        address: None,
    }
}

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
    /// Lookups that complete the peers, in order (reverse DNS, ASN and country databases):
    /// only what the user asked for.
    pub enrichers: Vec<std::sync::Arc<dyn PeerEnricher>>,
    /// NIC vendors and NAT64 prefixes for describing addresses.
    pub intel: crate::analyze::addr::Intel,
    /// Known-bad destinations to look for (`--indicators`).
    pub indicators: Option<std::sync::Arc<crate::analyze::indicators::Indicators>>,
}

/// What an analysis knows of a sensor besides its records: its name and its addresses
/// (configured, or inferred from its traffic). From a capture's summary, or given with
/// stored records.
#[derive(Debug, Clone, Default)]
pub struct SensorMeta {
    /// Sensor name.
    pub name: String,
    /// Its addresses.
    pub addresses: Vec<SensorAddr>,
    /// First and last capture time, ns, when known.
    pub span: Option<(i64, i64)>,
}

impl From<&SensorSummary> for SensorMeta {
    fn from(s: &SensorSummary) -> SensorMeta {
        SensorMeta { name: s.sensor.clone(), addresses: s.sensor_addrs.clone(), span: s.first_ts.zip(s.last_ts) }
    }
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
    /// SMTP connections per (sensor, client, server): directions are told at the end, when the
    /// sensors' addresses are known.
    mail: HashMap<(String, Addr, Addr), MailAcc>,
    /// The sensors' own addresses as their SMTP flows' roles show them (how the mail's
    /// direction is told, from captures and from stored records alike).
    mail_own: HashMap<String, Vec<Addr>>,
    /// Indicator matches per (sensor, indicator, family).
    hits: HashMap<(String, usize, u8), IndicatorHit>,
    excluded: HashMap<String, Excluded>,
    classes: HashMap<String, u64>,
    app_dropped: u64,
    /// What is known of the sensors besides their records.
    sensors: Vec<SensorMeta>,
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
            mail: HashMap::new(),
            mail_own: HashMap::new(),
            hits: HashMap::new(),
            excluded: HashMap::new(),
            classes: HashMap::new(),
            app_dropped: 0,
            sensors: Vec::new(),
        }
    }

    /// The report of everything so far, the input going on (a sensor still being read has
    /// its records only: its addresses come when its input ends).
    pub fn snapshot(&self) -> Report {
        self.clone().finish()
    }

    /// Tells the analysis what is known of a sensor (its addresses); a sensor told twice keeps
    /// the last.
    pub fn sensor(&mut self, meta: SensorMeta) {
        self.sensors.retain(|s| s.name != meta.name);
        self.sensors.push(meta);
    }

    /// Counts a match of indicator `at` by something of `sensor` at `ts` over `family`;
    /// `what` says what matched and how it was carried.
    fn hit(&mut self, sensor: &str, at: usize, family: u8, ts: i64, uid: &str, what: impl FnOnce() -> String) {
        let Some(ind) = self.settings.indicators.clone() else { return };
        let key = (sensor.to_string(), at, family);
        if !self.hits.contains_key(&key) && self.hits.len() >= MAX_APP_KEYS {
            self.app_dropped += 1;
            return;
        }
        let windows = self.window_counts(ts);
        let src = &ind.sources[at];
        let h = self.hits.entry(key).or_insert_with(|| IndicatorHit {
            sensor: sensor.to_string(),
            indicator: src.text.clone(),
            kind: src.kind,
            file: src.file.clone(),
            line: src.line,
            family,
            count: 0,
            first_ts: ts,
            last_ts: ts,
            windows: vec![0; windows.len()],
            matched: Vec::new(),
            uids: Vec::new(),
        });
        tally(&mut h.count, (&mut h.first_ts, &mut h.last_ts), &mut h.windows, ts, &windows);
        if h.matched.len() < 5 {
            let w = what();
            if !h.matched.contains(&w) {
                h.matched.push(w);
            }
        }
        if h.uids.len() < 5 && !uid.is_empty() && !h.uids.iter().any(|u| u == uid) {
            h.uids.push(uid.to_string());
        }
    }

    /// A flow's remote address and name against the indicators.
    fn flow_indicators(&mut self, sensor: &str, rec: &FlowRecord) {
        let Some(ind) = self.settings.indicators.as_deref() else { return };
        let remotes: &[Addr] = match rec.role {
            crate::model::Role::Outbound => &[rec.resp_h],
            crate::model::Role::Inbound => &[rec.orig_h],
            _ => &[rec.orig_h, rec.resp_h],
        };
        // Matches are rare: gathered first (nothing allocated without one), counted after.
        let mut found = Vec::new();
        for a in remotes {
            found.extend(ind.addr(a).map(|at| (at, format!("address {a}"))));
        }
        if let Some(n) = rec.server_name.as_deref() {
            found.extend(ind.name(n).map(|at| (at, format!("name {n}"))));
        }
        for (at, what) in found {
            self.hit(sensor, at, rec.resp_h.version, rec.ts, &rec.uid, || what);
        }
    }

    /// The names, URLs and mail domains an application event carries, against the indicators.
    fn event_indicators(&mut self, sensor: &str, ev: &AppEvent) {
        let Some(ind) = self.settings.indicators.as_deref() else { return };
        let mut found = Vec::new();
        if let AppEvent::Http(h) = ev {
            let host = h.host.as_deref().unwrap_or("");
            found.extend(ind.url(host, &h.uri).map(|at| (at, format!("HTTP {} http://{host}{}", h.method, h.uri))));
        }
        // A name matched, as `how` carried it, shown as `shown`.
        let mut name = |how: &str, n: &str, shown: &str| {
            found.extend(ind.name(n).map(|at| (at, format!("{how} {shown}"))));
        };
        match ev {
            AppEvent::Dns(d) => name("DNS query", &d.query, &d.query),
            AppEvent::Http(h) => {
                if let Some(host) = h.host.as_deref().filter(|h| !h.is_empty()) {
                    name("HTTP Host", &crate::extract::host_name(host), host);
                }
            }
            AppEvent::Tls(t) => {
                if let Some(s) = t.sni.as_deref() {
                    name("TLS SNI", s, s);
                }
            }
            AppEvent::Smtp(m) => {
                for f in &m.mail_from {
                    if let Some((_, d)) = f.rsplit_once('@') {
                        name("mail from", d, f);
                    }
                }
                for d in &m.rcpt_domains {
                    name("mail to a recipient at", d, d);
                }
            }
        }
        let head = ev.head();
        for (at, what) in found {
            self.hit(sensor, at, head.server.version, head.ts, head.uid, || what);
        }
    }

    fn class_of(&self, t: &Target<'_>) -> &str {
        self.settings.rules.iter().find(|r| r.matches(t, &self.settings.tz)).map_or("", |r| r.class.as_str())
    }

    fn window_counts(&self, ts: i64) -> Vec<u64> {
        self.windows.iter().map(|(s, e)| u64::from(ts >= *s && ts < *e)).collect()
    }

    /// Builds the report, with no capture statistics: [`Report::with_capture`] adds the
    /// pipeline's when the records came from captures.
    pub fn finish(mut self) -> Report {
        for s in &self.sensors {
            let addrs: Vec<Addr> = s.addresses.iter().map(|a| a.addr).collect();
            self.health.sensor_addrs(&s.name, &addrs);
        }
        let params = self.settings.health.clone();
        let origin = self.origin();
        let intel = &self.settings.intel;
        // The vendor registry (decompressed and parsed on first use, ~10 ms) is made while the
        // health rules run, on the core the workers left: its first use, describing peers,
        // would otherwise wait for it after them.
        let rules = std::mem::take(&mut self.health);
        let ((), health) = crate::beside::beside(
            "v6watch-oui",
            || {
                intel.oui();
            },
            || rules.finish(&params, intel),
        );
        let timeline = self.timeline.finish(self.settings.bucket_ns, origin);
        // A bucket the user chose applies to every sensor.
        let sensor_timelines = match self.settings.bucket_ns {
            None => self.timeline.finish_per_sensor(timeline.bucket_ns, |first| self.midnight(first)),
            Some(_) => vec![],
        };
        let peers_folded = self.peers.folded();
        let mut peers = self.peers.finish(&self.settings.intel);
        let mut warnings = Vec::new();
        for e in &self.settings.enrichers {
            if let Err(e) = e.enrich(&mut peers) {
                warnings.push(e);
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
        let mail = mail_rows(&self.mail, &self.mail_own, self.windows.len());
        let mut indicators: Vec<IndicatorHit> = self.hits.into_values().collect();
        indicators.sort_by(|a, b| {
            (&a.sensor, a.first_ts, &a.indicator, a.family).cmp(&(&b.sensor, b.first_ts, &b.indicator, b.family))
        });
        let mut health = health;
        for h in &indicators {
            health.findings.push(indicator_finding(h));
        }
        health.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
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
            sensors: Vec::new(),
            timeline,
            sensor_timelines,
            peers,
            peers_folded,
            prefixes_64,
            prefixes_48,
            domains,
            http,
            tls,
            mail,
            indicators,
            health,
            comparisons,
            excluded,
            classes,
            app_dropped: self.app_dropped,
            warnings,
        }
    }

    /// A bucket boundary: midnight of the first day in the display zone.
    fn origin(&self) -> i64 {
        let Some((first, _)) = self.timeline.span() else { return 0 };
        self.midnight(first)
    }

    /// Midnight of the day of `t` in the display zone.
    fn midnight(&self, t: i64) -> i64 {
        jiff::Timestamp::from_nanosecond(i128::from(t))
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

/// `s` in lower case, borrowed when it is already.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// An HTTP aggregation key borrowed: hashes as the owned tuple does (same fields, same order;
/// `&str` hashes as `String`), so counting a request of a known key allocates nothing.
#[derive(Hash)]
struct HttpKey<'a>(&'a str, u8, &'a str, &'a str, &'a str);

impl hashbrown::Equivalent<(String, u8, String, String, String)> for HttpKey<'_> {
    fn equivalent(&self, k: &(String, u8, String, String, String)) -> bool {
        self.1 == k.1 && self.4 == k.4 && self.3 == k.3 && self.2 == k.2 && self.0 == k.0
    }
}

/// A TLS aggregation key borrowed (see [`HttpKey`]).
#[derive(Hash)]
struct TlsKey<'a>(&'a str, u8, &'a str, &'static str);

impl hashbrown::Equivalent<(String, u8, String, &'static str)> for TlsKey<'_> {
    fn equivalent(&self, k: &(String, u8, String, &'static str)) -> bool {
        self.1 == k.1 && self.3 == k.3 && self.2 == k.2 && self.0 == k.0
    }
}

/// Counts one more event at `ts` in an aggregate: its count, first and last time, and the
/// comparison windows it falls in (`windows`, 0 or 1 each).
fn tally(count: &mut u64, (first, last): (&mut i64, &mut i64), per: &mut [u64], ts: i64, windows: &[u64]) {
    *count += 1;
    *first = (*first).min(ts);
    *last = (*last).max(ts);
    per.iter_mut().zip(windows).for_each(|(a, w)| *a += w);
}

impl FlowSink for Analysis {
    fn end(&mut self, summary: &SensorSummary) -> std::io::Result<()> {
        self.sensor(SensorMeta::from(summary));
        Ok(())
    }

    fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> std::io::Result<()> {
        // Known-bad destinations are looked for in every flow, whatever its class.
        self.flow_indicators(sensor, rec);
        if rec.service == Some("smtp") {
            let own = match rec.role {
                crate::model::Role::Outbound => Some(rec.orig_h),
                crate::model::Role::Inbound => Some(rec.resp_h),
                _ => None,
            };
            if let Some(a) = own {
                let v = self.mail_own.entry_ref(sensor).or_default();
                if v.len() < 64 && !v.contains(&a) {
                    v.push(a);
                }
            }
        }
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
        self.event_indicators(sensor, ev);
        let (ts, server, port, name, proto) = match ev {
            AppEvent::Http(h) => (h.ts, h.server, h.server_port, h.host.as_deref(), "tcp"),
            AppEvent::Tls(t) => {
                (t.ts, t.server, t.server_port, t.sni.as_deref(), if t.transport == "quic" { "udp" } else { "tcp" })
            }
            AppEvent::Smtp(m) => (m.ts, m.server, m.server_port, None, "tcp"),
            // DNS (and any other kind) feeds the health rules only.
            _ => {
                self.health.event(sensor, ev);
                return Ok(());
            }
        };
        let class = self.class_of(&Target { sensor, ts, remote: server, port, proto, name, local_port: None });
        if self.settings.exclude.iter().any(|c| c == class) {
            return Ok(());
        }
        let windows = self.window_counts(ts);
        let family = server.version;
        match ev {
            AppEvent::Http(h) => {
                // The key borrowed from the event: most requests repeat one already counted.
                let host = match h.host.as_deref() {
                    Some(host) => lower(host),
                    None => Cow::Owned(h.server.to_string().to_ascii_lowercase()),
                };
                let path = h.uri.split('?').next().unwrap_or("");
                let key = HttpKey(sensor, family, &h.method, &host, path);
                if let Some(a) = self.http.get_mut(&key) {
                    tally(&mut a.count, (&mut a.first_ts, &mut a.last_ts), &mut a.windows, h.ts, &windows);
                    return Ok(());
                }
                if self.http.len() >= MAX_APP_KEYS {
                    self.app_dropped += 1;
                    return Ok(());
                }
                let (host, path) = (host.into_owned(), path.to_string());
                let key = (sensor.to_string(), family, h.method.clone(), host.clone(), path.clone());
                let mut a = HttpAgg {
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
                };
                tally(&mut a.count, (&mut a.first_ts, &mut a.last_ts), &mut a.windows, h.ts, &windows);
                self.http.insert(key, a);
            }
            AppEvent::Tls(t) => {
                let sni = lower(t.sni.as_deref().unwrap_or(""));
                let key = TlsKey(sensor, family, &sni, t.transport);
                if let Some(a) = self.tls.get_mut(&key) {
                    tally(&mut a.count, (&mut a.first_ts, &mut a.last_ts), &mut a.windows, t.ts, &windows);
                    return Ok(());
                }
                if self.tls.len() >= MAX_APP_KEYS {
                    self.app_dropped += 1;
                    return Ok(());
                }
                let sni = sni.into_owned();
                let key = (sensor.to_string(), family, sni.clone(), t.transport);
                let mut a = TlsAgg {
                    sensor: sensor.to_string(),
                    family,
                    sni,
                    transport: t.transport,
                    count: 0,
                    first_ts: t.ts,
                    last_ts: t.ts,
                    windows: vec![0; windows.len()],
                };
                tally(&mut a.count, (&mut a.first_ts, &mut a.last_ts), &mut a.windows, t.ts, &windows);
                self.tls.insert(key, a);
            }
            AppEvent::Smtp(m) => {
                let key = (sensor.to_string(), m.client, m.server);
                if !self.mail.contains_key(&key) && self.mail.len() >= MAX_APP_KEYS {
                    self.app_dropped += 1;
                    return Ok(());
                }
                let a = self.mail.entry(key).or_insert_with(|| MailAcc {
                    first_ts: m.ts,
                    last_ts: m.ts,
                    windows: vec![0; windows.len()],
                    ..Default::default()
                });
                tally(&mut a.connections, (&mut a.first_ts, &mut a.last_ts), &mut a.windows, m.ts, &windows);
                a.messages += m.messages;
                a.recipients += m.rcpt;
                a.rejected += m.rejected;
                a.deferred += m.deferred;
                a.starttls += u64::from(m.starttls);
                if a.uids.len() < 5 {
                    a.uids.push(m.uid.clone());
                }
            }
            _ => {}
        }
        Ok(())
    }
}

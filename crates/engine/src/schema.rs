//! The flow record's columns: one list, in output order, that every record writer follows
//! (JSON Lines and CSV today, a columnar dataset next) and that reads a JSON line back into a
//! [`FlowRecord`]. A column is its name, the typed value it takes from a record, which formats
//! carry it, and how a JSON value sets it again.
//!
//! Reading back is exact for every field the line carries (times and durations are written to
//! the microsecond, so they come back as whole microseconds); what a line does not carry (TCP
//! handshake facts, the end reason, the SYN-ACK → ACK time) comes back empty.

use crate::decode::{Anomaly, TunnelKind};
use crate::model::{AppEvent, ConnState, FlowRecord, IcmpError, Role};
use serde_json::Value as Json;

pub use crate::columns::Value;
use crate::columns::{addr, int, secs_ns, string, uid};

/// Which records' JSON lines carry a column (CSV always has every CSV column).
#[derive(Debug, Clone, Copy)]
pub enum InJson {
    /// Every line (Absent values are still left out).
    Always,
    /// Lines where the test holds.
    When(fn(&FlowRecord) -> bool),
    /// Never (a CSV-only rendering).
    Never,
}

/// How a JSON value sets a column of a record being read (`Err`: what was wrong).
pub type Setter = fn(&mut FlowRecord, &Json) -> Result<(), &'static str>;

/// One column.
#[derive(Clone, Copy)]
pub struct Column {
    /// Its name in JSON and in the CSV header (Zeek's conn.log name where Zeek has one).
    pub name: &'static str,
    /// Its value in a record of sensor `sensor`.
    pub get: for<'a> fn(&'a FlowRecord, &'a str) -> Value<'a>,
    /// When JSON lines carry it.
    pub json: InJson,
    /// The CSV form has it.
    pub csv: bool,
    /// How reading a JSON line sets it (`None`: derived from other columns, or the sensor).
    pub set: Option<Setter>,
}

fn retransmitted(r: &FlowRecord) -> bool {
    r.orig.retransmits + r.resp.retransmits > 0
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value<'static>) -> Value<'static> {
    v.map_or(Value::Absent, f)
}

macro_rules! col {
    ($name:literal, $get:expr, $json:expr, $csv:expr, $set:expr) => {
        Column { name: $name, get: $get, json: $json, csv: $csv, set: $set }
    };
}

/// The flow record's columns, in output order: Zeek's conn.log fields first, then v6watch's.
pub const FLOW_COLUMNS: &[Column] = &[
    col!("ts", |r, _| Value::Time(r.ts), InJson::Always, true, Some(set_ts)),
    col!("uid", |r, _| Value::Word(&r.uid), InJson::Always, true, Some(set_uid)),
    col!(
        "id.orig_h",
        |r, _| Value::Addr(r.orig_h),
        InJson::Always,
        true,
        Some(|r, v| {
            r.orig_h = addr(v)?;
            Ok(())
        })
    ),
    col!(
        "id.orig_p",
        |r, _| Value::UInt(r.orig_p.into()),
        InJson::Always,
        true,
        Some(|r, v| {
            r.orig_p = int(v)?;
            Ok(())
        })
    ),
    col!(
        "id.resp_h",
        |r, _| Value::Addr(r.resp_h),
        InJson::Always,
        true,
        Some(|r, v| {
            r.resp_h = addr(v)?;
            Ok(())
        })
    ),
    col!(
        "id.resp_p",
        |r, _| Value::UInt(r.resp_p.into()),
        InJson::Always,
        true,
        Some(|r, v| {
            r.resp_p = int(v)?;
            Ok(())
        })
    ),
    col!("proto", |r, _| Value::Word(r.proto_name()), InJson::Always, true, None),
    col!("duration", |r, _| Value::Seconds(r.duration_ns()), InJson::Always, true, Some(set_duration)),
    col!(
        "orig_bytes",
        |r, _| Value::UInt(r.orig.bytes),
        InJson::Always,
        true,
        Some(|r, v| {
            r.orig.bytes = int(v)?;
            Ok(())
        })
    ),
    col!(
        "resp_bytes",
        |r, _| Value::UInt(r.resp.bytes),
        InJson::Always,
        true,
        Some(|r, v| {
            r.resp.bytes = int(v)?;
            Ok(())
        })
    ),
    col!("conn_state", |r, _| Value::Word(r.conn_state.name()), InJson::Always, true, Some(set_conn_state)),
    // Zeek's missed_bytes is one number; v6watch keeps it per side and reads it back as the
    // originator's.
    col!(
        "missed_bytes",
        |r, _| Value::UInt(r.orig.missed_bytes + r.resp.missed_bytes),
        InJson::Always,
        true,
        Some(|r, v| {
            r.orig.missed_bytes = int(v)?;
            Ok(())
        })
    ),
    col!("history", |r, _| Value::Word(&r.history), InJson::Always, true, Some(set_history)),
    col!(
        "orig_pkts",
        |r, _| Value::UInt(r.orig.pkts),
        InJson::Always,
        true,
        Some(|r, v| {
            r.orig.pkts = int(v)?;
            Ok(())
        })
    ),
    col!(
        "orig_ip_bytes",
        |r, _| Value::UInt(r.orig.ip_bytes),
        InJson::Always,
        true,
        Some(|r, v| {
            r.orig.ip_bytes = int(v)?;
            Ok(())
        })
    ),
    col!(
        "resp_pkts",
        |r, _| Value::UInt(r.resp.pkts),
        InJson::Always,
        true,
        Some(|r, v| {
            r.resp.pkts = int(v)?;
            Ok(())
        })
    ),
    col!(
        "resp_ip_bytes",
        |r, _| Value::UInt(r.resp.ip_bytes),
        InJson::Always,
        true,
        Some(|r, v| {
            r.resp.ip_bytes = int(v)?;
            Ok(())
        })
    ),
    col!("sensor", |_, s| Value::Sensor(s), InJson::Always, true, None),
    col!("role", |r, _| Value::Word(r.role.name()), InJson::Always, true, Some(set_role)),
    col!("ip_version", |r, _| Value::UInt(r.ip_version().into()), InJson::Always, true, None),
    col!(
        "ip_proto",
        |r, _| Value::UInt(r.ip_proto.into()),
        InJson::Always,
        true,
        Some(|r, v| {
            r.ip_proto = int(v)?;
            Ok(())
        })
    ),
    col!("tunnel", |r, _| opt(r.tunnel, |t| Value::Word(t.name())), InJson::Always, true, Some(set_tunnel)),
    col!(
        "tunnel_outer",
        |r, _| opt(r.tunnel_outer, |(a, b)| Value::AddrPair(a, b)),
        InJson::Always,
        true,
        Some(set_tunnel_outer)
    ),
    col!(
        "vlan",
        |r, _| opt(r.vlan, |v| Value::UInt(v.into())),
        InJson::Always,
        true,
        Some(|r, v| {
            r.vlan = Some(int(v)?);
            Ok(())
        })
    ),
    col!("rtt_ms", |r, _| opt(r.rtt_synack_ns, Value::Millis), InJson::Always, true, Some(set_rtt)),
    col!(
        "orig_retransmits",
        |r, _| Value::UInt(r.orig.retransmits),
        InJson::When(retransmitted),
        true,
        Some(|r, v| {
            r.orig.retransmits = int(v)?;
            Ok(())
        })
    ),
    col!(
        "resp_retransmits",
        |r, _| Value::UInt(r.resp.retransmits),
        InJson::When(retransmitted),
        true,
        Some(|r, v| {
            r.resp.retransmits = int(v)?;
            Ok(())
        })
    ),
    col!(
        "orig_mss",
        |r, _| opt(r.orig_mss, |m| Value::UInt(m.into())),
        InJson::Always,
        false,
        Some(|r, v| {
            r.orig_mss = Some(int(v)?);
            Ok(())
        })
    ),
    col!(
        "resp_mss",
        |r, _| opt(r.resp_mss, |m| Value::UInt(m.into())),
        InJson::Always,
        false,
        Some(|r, v| {
            r.resp_mss = Some(int(v)?);
            Ok(())
        })
    ),
    col!(
        "icmp_errors",
        |r, _| if r.icmp_errors.is_empty() { Value::Absent } else { Value::IcmpErrors(&r.icmp_errors) },
        InJson::Always,
        true,
        Some(set_icmp_errors)
    ),
    col!(
        "anomalies",
        |r, _| if r.anomalies.is_empty() { Value::Absent } else { Value::Names(&r.anomalies) },
        InJson::Always,
        true,
        Some(set_anomalies)
    ),
    col!("service", |r, _| opt(r.service, Value::Word), InJson::Always, true, Some(set_service)),
    col!(
        "server_name",
        |r, _| r.server_name.as_deref().map_or(Value::Absent, Value::Text),
        InJson::Always,
        true,
        Some(|r, v| {
            r.server_name = Some(string(v)?);
            Ok(())
        })
    ),
    // Where the name came from, with the name only.
    col!(
        "name_source",
        |r, _| if r.server_name.is_some() { Value::Word(r.name_source.unwrap_or("")) } else { Value::Absent },
        InJson::Always,
        true,
        Some(set_name_source)
    ),
];

/// The columns CSV writes, in order.
pub fn csv_columns() -> impl Iterator<Item = &'static Column> {
    FLOW_COLUMNS.iter().filter(|c| c.csv)
}

/// Where a record's `server_name` came from besides its own extractor (whose sources its
/// event type lists): the enrichment's DNS answers, hosts files and reverse DNS.
pub const ENRICHED_NAME_SOURCES: [&str; 3] = ["dns", "hosts", "ptr"];

fn set_ts(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    let ts = secs_ns(v)?;
    // Duration is read after ts (column order) and moves last_ts from here.
    r.last_ts = ts + r.duration_ns();
    r.ts = ts;
    Ok(())
}

fn set_duration(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    let d = secs_ns(v)?;
    if d < 0 {
        return Err("negative duration");
    }
    r.last_ts = r.ts.saturating_add(d);
    Ok(())
}

fn set_rtt(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    let ms = v.as_f64().ok_or("not a number of milliseconds")?;
    r.rtt_synack_ns = crate::model::epoch_ns(ms / 1e3);
    Ok(())
}

fn set_conn_state(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    r.conn_state = ConnState::from_name(v.as_str().ok_or("not a string")?).ok_or("not a Zeek conn_state")?;
    Ok(())
}

fn set_uid(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    r.uid = uid(v)?;
    Ok(())
}

/// History is written unescaped: only Zeek's letters (and the flip mark) are taken.
fn set_history(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    let s = string(v)?;
    if !s.bytes().all(|b| b.is_ascii_alphabetic() || b == b'^') {
        return Err("not Zeek history letters");
    }
    r.history = s;
    r.flipped = r.history.starts_with('^');
    Ok(())
}

fn set_role(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    let s = v.as_str().ok_or("not a string")?;
    r.role = Role::ALL.into_iter().find(|x| x.name() == s).ok_or("not a role")?;
    Ok(())
}

fn set_tunnel(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    let s = v.as_str().ok_or("not a string")?;
    r.tunnel = Some(TunnelKind::ALL.into_iter().find(|t| t.name() == s).ok_or("not a tunnel kind")?);
    Ok(())
}

fn set_tunnel_outer(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    match v.as_array().map(Vec::as_slice) {
        Some([a, b]) => {
            r.tunnel_outer = Some((addr(a)?, addr(b)?));
            Ok(())
        }
        _ => Err("not a pair of addresses"),
    }
}

fn set_icmp_errors(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    let list = v.as_array().ok_or("not a list")?;
    r.icmp_errors = list
        .iter()
        .map(|e| {
            Ok(IcmpError {
                ts: secs_ns(&e["ts"])?,
                version: int(&e["version"])?,
                icmp_type: int(&e["icmp_type"])?,
                code: int(&e["code"])?,
                from: addr(&e["from"])?,
                mtu: int(&e["mtu"])?,
                count: int(&e["count"])?,
            })
        })
        .collect::<Result<_, &'static str>>()?;
    Ok(())
}

fn set_anomalies(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    let list = v.as_array().ok_or("not a list")?;
    r.anomalies = list
        .iter()
        .map(|a| {
            let s = a.as_str().ok_or("not a string")?;
            Anomaly::ALL.into_iter().map(Anomaly::name).find(|n| *n == s).ok_or("not an anomaly name")
        })
        .collect::<Result<_, _>>()?;
    Ok(())
}

fn set_service(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    let s = v.as_str().ok_or("not a string")?;
    // The services the extractors confirm, as their event types list them.
    let known = crate::extract::EVENT_TYPES.iter().flat_map(|t| t.services.iter().copied());
    r.service = Some(known.into_iter().find(|k| *k == s).ok_or("not a known service")?);
    Ok(())
}

fn set_name_source(r: &mut FlowRecord, v: &Json) -> Result<(), &'static str> {
    let s = v.as_str().ok_or("not a string")?;
    let extracted = crate::extract::EVENT_TYPES.iter().flat_map(|t| t.name_sources.iter().copied());
    let mut known = ENRICHED_NAME_SOURCES.into_iter().chain(extracted);
    r.name_source = Some(known.find(|k| *k == s).ok_or("not a name source")?);
    Ok(())
}

/// Why a JSON line is not a flow record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// The column at fault (`""`: the line itself).
    pub column: &'static str,
    /// What was wrong.
    pub reason: &'static str,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.column, self.reason)
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads one line written by `flows --format jsonl` (or `--export`) back: the sensor's name and
/// the record. Every column the line has is checked; `ts`, `uid`, both endpoints, `ip_proto`,
/// `conn_state` and `sensor` must be there. Unknown keys are refused (they are not v6watch's).
pub fn read_flow(line: &str) -> Result<(String, FlowRecord), ReadError> {
    let v: Json = serde_json::from_str(line).map_err(|_| ReadError { column: "", reason: "not a JSON object" })?;
    read_flow_object(v.as_object().ok_or(ReadError { column: "", reason: "not a JSON object" })?)
}

/// [`read_flow`] of a line already parsed (a dataset's row made a JSON object).
pub fn read_flow_object(obj: &serde_json::Map<String, Json>) -> Result<(String, FlowRecord), ReadError> {
    let err = |column, reason| ReadError { column, reason };
    for k in obj.keys() {
        if !FLOW_COLUMNS.iter().any(|c| c.name == k) {
            return Err(err("", "a key that is not a flow record column"));
        }
    }
    for required in
        ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "ip_proto", "conn_state", "sensor"]
    {
        if !obj.contains_key(required) {
            return Err(err(FLOW_COLUMNS.iter().find(|c| c.name == required).map_or("", |c| c.name), "missing"));
        }
    }
    let mut r = FlowRecord::empty();
    for c in FLOW_COLUMNS {
        if let (Some(set), Some(val)) = (c.set, obj.get(c.name)) {
            set(&mut r, val).map_err(|reason| err(c.name, reason))?;
        }
    }
    let sensor = obj.get("sensor").and_then(Json::as_str).ok_or_else(|| err("sensor", "not a string"))?.to_string();
    if r.orig_h.version != r.resp_h.version {
        return Err(err("id.resp_h", "not the originator's IP version"));
    }
    Ok((sensor, r))
}

/// Reads one line written by an event command (`dns`, `http`, `tls`) with `--format jsonl` (or
/// `--export`) back: the sensor's name and the event, following its type's columns
/// ([`crate::extract::EVENT_TYPES`]). Every column must be there (`null` where the event had
/// no value); unknown keys are refused.
pub fn read_event(line: &str) -> Result<(String, AppEvent), ReadError> {
    let v: Json = serde_json::from_str(line).map_err(|_| ReadError { column: "", reason: "not a JSON object" })?;
    read_event_object(v.as_object().ok_or(ReadError { column: "", reason: "not a JSON object" })?)
}

/// [`read_event`] of a line already parsed (a dataset's row made a JSON object).
pub fn read_event_object(obj: &serde_json::Map<String, Json>) -> Result<(String, AppEvent), ReadError> {
    let err = |column, reason| ReadError { column, reason };
    let name = obj.get("type").and_then(Json::as_str).ok_or_else(|| err("type", "missing or not a string"))?;
    let ty =
        crate::extract::EVENT_TYPES.iter().find(|t| t.name == name).ok_or_else(|| err("type", "not an event type"))?;
    if obj.keys().any(|k| k != "type" && k != "sensor" && !ty.all_columns().any(|c| c.in_json() && c.name == k)) {
        return Err(err("", "a key that is not a field of this event"));
    }
    let sensor = obj.get("sensor").ok_or_else(|| err("sensor", "missing"))?;
    let sensor = string(sensor).map_err(|reason| err("sensor", reason))?;
    let mut ev = (ty.empty)();
    for (c, set) in ty.all_columns().filter_map(|c| Some((c, c.set?))) {
        let (v, there) = obj.get(c.name).map_or((&Json::Null, false), |v| (v, true));
        set(&mut ev, v).map_err(|reason| err(c.name, if there { reason } else { "missing" }))?;
    }
    Ok((sensor, ev))
}

/// What the analyses need of a flow beyond its JSON line (`facts.jsonl`, written by
/// `report --export` and `health --export` beside `flows.jsonl`, one line per flow): its times
/// to the nanosecond (the flow line has microseconds), both SYN-ACK times, missed bytes per
/// side and the TCP handshake and progress facts the IPv6-health rules read. Every time is
/// integer ns since the epoch, named `*_ns`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowFacts {
    /// Marks the line as facts (a flow line has `conn_state`, an event line `type`).
    pub facts: u8,
    /// The sensor.
    pub sensor: String,
    /// The flow's uid (its flow line has the same).
    pub uid: String,
    /// First packet.
    pub ts_ns: i64,
    /// Last packet.
    pub last_ts_ns: i64,
    /// SYN → SYN-ACK.
    pub rtt_synack_ns: Option<i64>,
    /// SYN-ACK → ACK.
    pub rtt_ack_ns: Option<i64>,
    /// Payload bytes never seen, per side.
    pub missed_bytes: [u64; 2],
    /// TCP only.
    pub tcp: Option<crate::model::TcpFacts>,
}

impl FlowFacts {
    /// The facts of `rec`, a flow of `sensor`.
    pub fn of(sensor: &str, rec: &FlowRecord) -> FlowFacts {
        FlowFacts {
            facts: 1,
            sensor: sensor.to_string(),
            uid: rec.uid.clone(),
            ts_ns: rec.ts,
            last_ts_ns: rec.last_ts,
            rtt_synack_ns: rec.rtt_synack_ns,
            rtt_ack_ns: rec.rtt_ack_ns,
            missed_bytes: [rec.orig.missed_bytes, rec.resp.missed_bytes],
            tcp: rec.tcp,
        }
    }

    /// Completes a record read from its flow line. Refused when the facts are not that flow's
    /// (another uid, or times more than the line's rounding from its).
    pub fn apply(&self, rec: &mut FlowRecord) -> Result<(), ReadError> {
        let err = |reason| ReadError { column: "facts", reason };
        if self.uid != rec.uid {
            return Err(err("not this flow's facts"));
        }
        // The line holds microseconds (ts cut, duration rounded): 2 µs apart at most.
        if (self.ts_ns - rec.ts).abs() > 2000 || (self.last_ts_ns - rec.last_ts).abs() > 2000 {
            return Err(err("times that are not the flow line's"));
        }
        if self.last_ts_ns < self.ts_ns {
            return Err(err("a last packet before the first"));
        }
        rec.ts = self.ts_ns;
        rec.last_ts = self.last_ts_ns;
        rec.rtt_synack_ns = self.rtt_synack_ns;
        rec.rtt_ack_ns = self.rtt_ack_ns;
        [rec.orig.missed_bytes, rec.resp.missed_bytes] = self.missed_bytes;
        rec.tcp = self.tcp;
        Ok(())
    }
}

/// One stored line of any kind, as [`read_line`] tells them apart.
#[derive(Debug, Clone)]
pub enum Stored {
    /// A flow line (`flows.jsonl`), with its sensor.
    Flow(String, Box<FlowRecord>),
    /// An event line (`dns.jsonl`, `http.jsonl`, `tls.jsonl`), with its sensor.
    Event(String, AppEvent),
    /// A facts line (`facts.jsonl`).
    Facts(FlowFacts),
}

/// Reads a line of any stored record file: facts have `facts`, events `type`, flows neither.
pub fn read_line(line: &str) -> Result<Stored, ReadError> {
    let v: Json = serde_json::from_str(line).map_err(|_| ReadError { column: "", reason: "not a JSON object" })?;
    let obj = v.as_object().ok_or(ReadError { column: "", reason: "not a JSON object" })?;
    if obj.contains_key("facts") {
        let f: FlowFacts =
            serde_json::from_value(v).map_err(|_| ReadError { column: "facts", reason: "not a facts line" })?;
        return Ok(Stored::Facts(f));
    }
    if obj.contains_key("type") {
        return read_event(line).map(|(s, e)| Stored::Event(s, e));
    }
    read_flow(line).map(|(s, r)| Stored::Flow(s, Box::new(r)))
}

//! Flow records as a table, JSON Lines (Zeek conn.log names) or CSV, streamed as flows end.

use super::term;
use crate::cli::FlowFormat;
use engine::model::FlowRecord;
use engine::pipeline::FlowSink;
use std::io::{self, Write};

/// Columns of the CSV form, in order (Zeek conn.log names first, then v6watch's).
pub const CSV_COLUMNS: &[&str] = &[
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "sensor",
    "role",
    "ip_version",
    "ip_proto",
    "tunnel",
    "tunnel_outer",
    "vlan",
    "rtt_ms",
    "orig_retransmits",
    "resp_retransmits",
    "icmp_errors",
    "anomalies",
    "service",
    "server_name",
    "name_source",
];

/// Writes flow records in one format.
pub struct Writer<W: Write> {
    w: W,
    format: FlowFormat,
    header_done: bool,
}

/// Seconds with microseconds, as Zeek writes `ts` in JSON.
pub fn epoch(ns: i64) -> String {
    format!("{}.{:06}", ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) / 1000)
}

fn secs(ns: i64) -> String {
    format!("{:.6}", ns as f64 / 1e9)
}

fn endpoint(r: &FlowRecord, orig: bool) -> String {
    let (h, p) = if orig { (r.orig_h, r.orig_p) } else { (r.resp_h, r.resp_p) };
    term::endpoint(&h, p)
}

fn icmp_errors(r: &FlowRecord) -> String {
    r.icmp_errors
        .iter()
        .map(|e| {
            let kind = if e.version == 6 { "icmp6" } else { "icmp" };
            let mtu = if e.mtu > 0 { format!(" mtu={}", e.mtu) } else { String::new() };
            format!("{kind}:{}/{} from {}{mtu} x{}", e.icmp_type, e.code, e.from, e.count)
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl<W: Write> Writer<W> {
    /// A writer for `format`.
    pub fn new(w: W, format: FlowFormat) -> Self {
        Writer { w, format, header_done: false }
    }

    /// Flushes.
    pub fn finish(&mut self) -> io::Result<()> {
        if !self.header_done && self.format != FlowFormat::Jsonl {
            self.header()?;
        }
        self.w.flush()
    }

    fn header(&mut self) -> io::Result<()> {
        self.header_done = true;
        match self.format {
            FlowFormat::Csv => writeln!(self.w, "{}", CSV_COLUMNS.join(",")),
            FlowFormat::Table => writeln!(
                self.w,
                "{} {} {} {} {} {} {} {} {} ORIG -> RESP",
                term::pad("TIME (UTC)", 20),
                term::pad("SENSOR", 10),
                term::pad("ROLE", 8),
                term::pad("PROTO", 6),
                term::pad("STATE", 6),
                term::pad("HISTORY", 10),
                term::rpad("PKTS o/r", 11),
                term::rpad("BYTES o/r", 17),
                term::rpad("DUR", 7),
            ),
            FlowFormat::Jsonl => Ok(()),
        }
    }

    fn jsonl(&mut self, sensor: &str, r: &FlowRecord) -> io::Result<()> {
        // Written by hand (not through a serde map): this runs once per flow, and field order
        // follows Zeek's conn.log. Strings that can hold arbitrary text go through serde_json.
        let w = &mut self.w;
        write!(w, "{{\"ts\":{},\"uid\":\"{}\"", epoch(r.ts), r.uid)?;
        write!(w, ",\"id.orig_h\":\"{}\",\"id.orig_p\":{}", r.orig_h, r.orig_p)?;
        write!(w, ",\"id.resp_h\":\"{}\",\"id.resp_p\":{}", r.resp_h, r.resp_p)?;
        write!(w, ",\"proto\":\"{}\",\"duration\":{}", r.proto_name(), secs(r.duration_ns()))?;
        write!(w, ",\"orig_bytes\":{},\"resp_bytes\":{}", r.orig.bytes, r.resp.bytes)?;
        write!(
            w,
            ",\"conn_state\":\"{}\",\"missed_bytes\":{}",
            r.conn_state,
            r.orig.missed_bytes + r.resp.missed_bytes
        )?;
        write!(w, ",\"history\":\"{}\"", r.history)?;
        write!(w, ",\"orig_pkts\":{},\"orig_ip_bytes\":{}", r.orig.pkts, r.orig.ip_bytes)?;
        write!(w, ",\"resp_pkts\":{},\"resp_ip_bytes\":{}", r.resp.pkts, r.resp.ip_bytes)?;
        w.write_all(b",\"sensor\":")?;
        serde_json::to_writer(&mut *w, sensor)?;
        write!(w, ",\"role\":\"{}\",\"ip_version\":{},\"ip_proto\":{}", r.role.name(), r.ip_version(), r.ip_proto)?;
        if let Some(svc) = r.service {
            write!(w, ",\"service\":\"{svc}\"")?;
        }
        if let Some(n) = &r.server_name {
            w.write_all(b",\"server_name\":")?;
            serde_json::to_writer(&mut *w, n)?;
            write!(w, ",\"name_source\":\"{}\"", r.name_source.unwrap_or(""))?;
        }
        if let Some(t) = r.tunnel {
            write!(w, ",\"tunnel\":\"{}\"", t.name())?;
        }
        if let Some((a, b)) = r.tunnel_outer {
            write!(w, ",\"tunnel_outer\":[\"{a}\",\"{b}\"]")?;
        }
        if let Some(v) = r.vlan {
            write!(w, ",\"vlan\":{v}")?;
        }
        if let Some(rtt) = r.rtt_synack_ns {
            write!(w, ",\"rtt_ms\":{:.3}", rtt as f64 / 1e6)?;
        }
        if r.orig.retransmits + r.resp.retransmits > 0 {
            write!(w, ",\"orig_retransmits\":{},\"resp_retransmits\":{}", r.orig.retransmits, r.resp.retransmits)?;
        }
        if let Some(m) = r.orig_mss {
            write!(w, ",\"orig_mss\":{m}")?;
        }
        if let Some(m) = r.resp_mss {
            write!(w, ",\"resp_mss\":{m}")?;
        }
        if !r.icmp_errors.is_empty() {
            w.write_all(b",\"icmp_errors\":")?;
            serde_json::to_writer(&mut *w, &r.icmp_errors)?;
        }
        if !r.anomalies.is_empty() {
            w.write_all(b",\"anomalies\":")?;
            serde_json::to_writer(&mut *w, &r.anomalies)?;
        }
        w.write_all(b"}\n")
    }

    fn csv(&mut self, sensor: &str, r: &FlowRecord) -> io::Result<()> {
        let fields: [String; 32] = [
            epoch(r.ts),
            r.uid.clone(),
            r.orig_h.to_string(),
            r.orig_p.to_string(),
            r.resp_h.to_string(),
            r.resp_p.to_string(),
            r.proto_name().into(),
            secs(r.duration_ns()),
            r.orig.bytes.to_string(),
            r.resp.bytes.to_string(),
            r.conn_state.into(),
            (r.orig.missed_bytes + r.resp.missed_bytes).to_string(),
            r.history.clone(),
            r.orig.pkts.to_string(),
            r.orig.ip_bytes.to_string(),
            r.resp.pkts.to_string(),
            r.resp.ip_bytes.to_string(),
            csv_field(sensor),
            r.role.name().into(),
            r.ip_version().to_string(),
            r.ip_proto.to_string(),
            r.tunnel.map(|t| t.name().to_string()).unwrap_or_default(),
            r.tunnel_outer.map(|(a, b)| format!("{a}>{b}")).unwrap_or_default(),
            r.vlan.map(|v| v.to_string()).unwrap_or_default(),
            r.rtt_synack_ns.map(|v| format!("{:.3}", v as f64 / 1e6)).unwrap_or_default(),
            r.orig.retransmits.to_string(),
            r.resp.retransmits.to_string(),
            csv_field(&icmp_errors(r)),
            csv_field(&r.anomalies.join(";")),
            r.service.unwrap_or("").to_string(),
            csv_field(r.server_name.as_deref().unwrap_or("")),
            r.name_source.unwrap_or("").to_string(),
        ];
        writeln!(self.w, "{}", fields.join(","))
    }

    fn table(&mut self, sensor: &str, r: &FlowRecord) -> io::Result<()> {
        let proto =
            format!("{}{}", r.proto_name().trim_end_matches("_transport"), if r.ip_version() == 6 { "6" } else { "" });
        let mut tunnel = r.tunnel.map(|t| format!(" via {}", t.name())).unwrap_or_default();
        if let Some(n) = &r.server_name {
            tunnel = format!(" ({}){tunnel}", term::clean(n));
        }
        writeln!(
            self.w,
            "{} {} {} {} {} {} {} {} {} {} -> {}{}",
            term::pad(&term::utc_short(r.ts), 20),
            term::pad(&term::clean(sensor), 10),
            term::pad(r.role.name(), 8),
            term::pad(&proto, 6),
            term::pad(r.conn_state, 6),
            term::pad(&r.history, 10),
            term::rpad(&format!("{}/{}", term::count(r.orig.pkts), term::count(r.resp.pkts)), 11),
            term::rpad(&format!("{}/{}", term::bytes(r.orig.ip_bytes), term::bytes(r.resp.ip_bytes)), 17),
            term::rpad(&term::duration(r.duration_ns()), 7),
            endpoint(r, true),
            endpoint(r, false),
            tunnel
        )
    }
}

impl<W: Write> FlowSink for Writer<W> {
    fn flow(&mut self, sensor: &str, r: &FlowRecord) -> io::Result<()> {
        if !self.header_done {
            self.header()?;
        }
        match self.format {
            FlowFormat::Jsonl => self.jsonl(sensor, r),
            FlowFormat::Csv => self.csv(sensor, r),
            FlowFormat::Table => self.table(sensor, r),
        }
    }
}

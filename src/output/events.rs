//! Application events (`v6watch dns|http|tls`) as a table, JSON Lines or CSV. Every string from a
//! packet is escaped for the terminal in tables; JSON escapes by construction; CSV quotes.

use super::term;
use crate::cli::FlowFormat;
use engine::model::{AppEvent, DnsEvent, EventKind, FlowRecord, HttpEvent, TlsEvent};
use engine::pipeline::FlowSink;
use std::io::{self, Write};

/// Writes one kind of event.
pub struct Writer<W: Write> {
    w: W,
    format: FlowFormat,
    /// Which events to print.
    kind: EventKind,
    header_done: bool,
}

fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(['=', '+', '-', '@']) {
        // Quoted, and formula-looking cells defused for spreadsheets.
        let t = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
        format!("\"{}\"", t.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn answers(d: &DnsEvent) -> String {
    d.answers
        .iter()
        .filter(|a| a.section == "answer")
        .map(|a| format!("{} {}", a.rtype, a.data))
        .collect::<Vec<_>>()
        .join(" ")
}

fn rcode(d: &DnsEvent) -> String {
    match d.rcode {
        None => "-".into(),
        Some(0) => "NOERROR".into(),
        Some(1) => "FORMERR".into(),
        Some(2) => "SERVFAIL".into(),
        Some(3) => "NXDOMAIN".into(),
        Some(4) => "NOTIMP".into(),
        Some(5) => "REFUSED".into(),
        Some(n) => n.to_string(),
    }
}

impl<W: Write> Writer<W> {
    pub fn new(w: W, format: FlowFormat, kind: EventKind) -> Self {
        Writer { w, format, kind, header_done: false }
    }

    fn header(&mut self) -> io::Result<()> {
        self.header_done = true;
        let (csv_h, table_h) = match self.kind {
            EventKind::Dns => (
                "ts,uid,sensor,client,server,server_port,transport,kind,trans_id,query,qtype,rcode,rtt_ms,answers",
                format!(
                    "{} {} {} {} {} {} ANSWERS",
                    term::pad("TIME (UTC)", 20),
                    term::pad("CLIENT", 26),
                    term::pad("QUERY", 40),
                    term::pad("TYPE", 5),
                    term::pad("RCODE", 8),
                    term::rpad("RTT", 8)
                ),
            ),
            EventKind::Http => (
                "ts,uid,sensor,client,server,server_port,method,host,uri,version,user_agent,status",
                format!(
                    "{} {} {} {} REQUEST",
                    term::pad("TIME (UTC)", 20),
                    term::pad("SERVER", 30),
                    term::pad("STATUS", 6),
                    term::pad("HOST", 34)
                ),
            ),
            EventKind::Tls => (
                "ts,uid,sensor,client,server,server_port,sni,alpn,versions,ech,server_version,cipher,transport",
                format!(
                    "{} {} {} {} {} {} SNI",
                    term::pad("TIME (UTC)", 20),
                    term::pad("SERVER", 30),
                    term::pad("OVER", 4),
                    term::pad("VERSION", 8),
                    term::pad("ALPN", 12),
                    term::pad("ECH", 3)
                ),
            ),
        };
        match self.format {
            FlowFormat::Csv => writeln!(self.w, "{csv_h}"),
            FlowFormat::Table => writeln!(self.w, "{table_h}"),
            FlowFormat::Jsonl => Ok(()),
        }
    }

    fn dns(&mut self, sensor: &str, d: &DnsEvent) -> io::Result<()> {
        let rtt = d.rtt_ns.map(|r| super::flows::micros(r, 3)).unwrap_or_default();
        let qtype = wire::dns::rtype::name(d.qtype);
        match self.format {
            FlowFormat::Table => writeln!(
                self.w,
                "{} {} {} {} {} {} {}",
                term::pad(&term::utc_short(d.ts), 20),
                term::pad(&d.client.to_string(), 26),
                term::pad(&term::clean(&d.query), 40),
                term::pad(&qtype, 5),
                term::pad(&rcode(d), 8),
                term::rpad(&if rtt.is_empty() { "-".into() } else { format!("{rtt}ms") }, 8),
                term::clean(&answers(d))
            ),
            FlowFormat::Csv => writeln!(
                self.w,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                super::flows::epoch(d.ts),
                d.uid,
                csv(sensor),
                d.client,
                d.server,
                d.server_port,
                d.transport,
                d.kind,
                d.trans_id,
                csv(&d.query),
                qtype,
                rcode(d),
                rtt,
                csv(&answers(d))
            ),
            FlowFormat::Jsonl => self.json(sensor, &AppEvent::Dns(d.clone())),
        }
    }

    fn http(&mut self, sensor: &str, h: &HttpEvent) -> io::Result<()> {
        let status = h.status.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        match self.format {
            FlowFormat::Table => writeln!(
                self.w,
                "{} {} {} {} {} {} {}",
                term::pad(&term::utc_short(h.ts), 20),
                term::pad(&term::endpoint(&h.server, h.server_port), 30),
                term::pad(&status, 6),
                term::pad(&term::clean(h.host.as_deref().unwrap_or("-")), 34),
                term::clean(&h.method),
                term::clean(&h.uri),
                term::clean(&h.version)
            ),
            FlowFormat::Csv => writeln!(
                self.w,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                super::flows::epoch(h.ts),
                h.uid,
                csv(sensor),
                h.client,
                h.server,
                h.server_port,
                csv(&h.method),
                csv(h.host.as_deref().unwrap_or("")),
                csv(&h.uri),
                csv(&h.version),
                csv(h.user_agent.as_deref().unwrap_or("")),
                h.status.map(|s| s.to_string()).unwrap_or_default()
            ),
            FlowFormat::Jsonl => self.json(sensor, &AppEvent::Http(h.clone())),
        }
    }

    fn tls(&mut self, sensor: &str, t: &TlsEvent) -> io::Result<()> {
        let version = t.server_version.clone().unwrap_or_else(|| "-".into());
        match self.format {
            FlowFormat::Table => writeln!(
                self.w,
                "{} {} {} {} {} {} {}",
                term::pad(&term::utc_short(t.ts), 20),
                term::pad(&term::endpoint(&t.server, t.server_port), 30),
                term::pad(t.transport, 4),
                term::pad(&version, 8),
                term::pad(&term::clean(&t.alpn.join(",")), 12),
                term::pad(if t.ech { "yes" } else { "-" }, 3),
                term::clean(t.sni.as_deref().unwrap_or("-"))
            ),
            FlowFormat::Csv => writeln!(
                self.w,
                "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                super::flows::epoch(t.ts),
                t.uid,
                csv(sensor),
                t.client,
                t.server,
                t.server_port,
                csv(t.sni.as_deref().unwrap_or("")),
                csv(&t.alpn.join(" ")),
                t.versions.join(" "),
                t.ech,
                t.server_version.clone().unwrap_or_default(),
                t.cipher.map(|c| format!("0x{c:04x}")).unwrap_or_default(),
                t.transport
            ),
            FlowFormat::Jsonl => self.json(sensor, &AppEvent::Tls(t.clone())),
        }
    }

    fn json(&mut self, sensor: &str, ev: &AppEvent) -> io::Result<()> {
        let mut v = serde_json::to_value(ev)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("sensor".into(), sensor.into());
        }
        serde_json::to_writer(&mut self.w, &v)?;
        self.w.write_all(b"\n")
    }
}

impl<W: Write> FlowSink for Writer<W> {
    fn flow(&mut self, _: &str, _: &FlowRecord) -> io::Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    /// The header even when no record came (tables and CSV), then flush.
    fn finish(&mut self) -> io::Result<()> {
        if !self.header_done {
            self.header()?;
        }
        self.w.flush()
    }

    fn wants(&self, kind: EventKind) -> bool {
        kind == self.kind
    }

    fn event(&mut self, sensor: &str, ev: &AppEvent) -> io::Result<()> {
        if !self.header_done {
            self.header()?;
        }
        match (self.kind, ev) {
            (EventKind::Dns, AppEvent::Dns(d)) => self.dns(sensor, d),
            (EventKind::Http, AppEvent::Http(h)) => self.http(sensor, h),
            (EventKind::Tls, AppEvent::Tls(t)) => self.tls(sensor, t),
            _ => Ok(()),
        }
    }
}

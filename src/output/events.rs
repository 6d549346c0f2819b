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

use super::term::csv_cell as csv;

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

#[cfg(test)]
mod roundtrip {
    use super::Writer;
    use crate::cli::FlowFormat;
    use engine::model::{AppEvent, FlowRecord};
    use engine::pipeline::{run_sensor, FlowSink, Options, SensorInput};
    use engine::schema::read_event;

    struct Keep(Vec<(String, AppEvent)>);

    impl FlowSink for Keep {
        fn flow(&mut self, _: &str, _: &FlowRecord) -> std::io::Result<()> {
            Ok(())
        }
        fn event(&mut self, sensor: &str, ev: &AppEvent) -> std::io::Result<()> {
            self.0.push((sensor.to_string(), ev.clone()));
            Ok(())
        }
    }

    fn line(sensor: &str, ev: &AppEvent) -> String {
        let mut w = Writer::new(Vec::new(), FlowFormat::Jsonl, ev.kind());
        w.event(sensor, ev).unwrap();
        String::from_utf8(w.w).unwrap()
    }

    /// Every DNS, HTTP and TLS event of the corpus, written as a JSON line and read back,
    /// writes the same line again.
    #[test]
    fn every_corpus_event_reads_back_to_the_same_line() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        let files = synth::corpus_captures(&dir);
        let mut n = [0usize; 3];
        for path in &files {
            let input = SensorInput { name: "hp,\"1\"".into(), paths: vec![path.clone()], addrs: vec![] };
            let mut keep = Keep(Vec::new());
            if run_sensor(&input, &Options::default(), &mut keep, &mut |_| {}).is_err() {
                continue;
            }
            for (sensor, ev) in &keep.0 {
                let text = line(sensor, ev);
                let (s2, back) = read_event(text.trim_end()).unwrap_or_else(|e| panic!("{path:?}: {e}: {text}"));
                assert_eq!(&s2, sensor);
                // Times come back to the microsecond the line holds (captures may have ns).
                assert_eq!(line(&s2, &back), text, "{path:?}");
                n[ev.kind() as usize] += 1;
            }
        }
        assert!(files.is_empty() || n.iter().all(|&k| k > 50), "events read back per kind: {n:?}");
    }

    /// Damaged event lines are refused naming the field, never half-read, and never panic.
    #[test]
    fn lines_that_are_not_events_are_refused() {
        let good = r#"{"type":"http","ts":1.5,"uid":"Cabc","client":"2001:db8::1","server":"2001:db8::2","server_port":80,"method":"GET","host":"x","uri":"/","version":"HTTP/1.1","user_agent":null,"request_body_len":null,"status":200,"sensor":"hp"}"#;
        assert!(read_event(good).is_ok());
        for (bad, field) in [
            (good.replace("\"http\"", "\"smtp\""), "type"),
            (good.replace("\"Cabc\"", "\"C<x>\""), "uid"),
            (good.replace("\"server_port\":80", "\"server_port\":-1"), "server_port"),
            (good.replace(",\"method\":\"GET\"", ""), "method"),
            (good.replace("\"status\":200", "\"status\":\"ok\""), "status"),
            (good.replace("}", ",\"x\":1}"), ""),
        ] {
            let e = read_event(&bad).expect_err(&bad);
            assert_eq!(e.column, field, "{bad}: {e}");
        }
        let mut rng = synth::Rng::new(5);
        for _ in 0..20_000 {
            let b = rng.mutate(good.as_bytes(), b"0123456789\"{}[],:.-eE\\anu");
            if let Ok(text) = std::str::from_utf8(&b) {
                let _ = read_event(text);
            }
        }
    }
}

//! Application events (`v6watch dns|http|tls`) as a table, JSON Lines or CSV. Every string from a
//! packet is escaped for the terminal in tables; JSON escapes by construction; CSV quotes.

use super::{flows, term};
use crate::cli::FlowFormat;
use engine::columns::{Csv, EventColumn, EventType, Value};
use engine::extract::EVENT_TYPES;
use engine::model::{AppEvent, EventKind, FlowRecord};
use engine::pipeline::FlowSink;
use std::io::{self, Write};

/// Writes one kind of event.
pub struct Writer<W: Write> {
    w: W,
    format: FlowFormat,
    /// Which events to print.
    kind: EventKind,
    header_done: bool,
    /// The last sensor's name, and escaped as JSON (escaped once for all its records).
    sensor: (String, Vec<u8>),
    buf: Vec<u8>,
    /// How the table prints times.
    clock: term::Clock,
}

impl<W: Write> Writer<W> {
    pub fn new(w: W, format: FlowFormat, kind: EventKind) -> Self {
        Writer {
            w,
            format,
            kind,
            header_done: false,
            sensor: (String::new(), b"\"\"".to_vec()),
            buf: Vec::new(),
            clock: term::Clock::default(),
        }
    }

    /// Tables print times on `clock` (UTC by default).
    pub fn with_clock(mut self, clock: term::Clock) -> Self {
        self.clock = clock;
        self
    }

    fn ty(&self) -> &'static EventType {
        &EVENT_TYPES[self.kind as usize]
    }

    fn header(&mut self) -> io::Result<()> {
        self.header_done = true;
        match self.format {
            FlowFormat::Csv => {
                let names: Vec<&str> =
                    self.ty().all_columns().filter(|c| !matches!(c.csv, Csv::No)).map(|c| c.name).collect();
                writeln!(self.w, "{}", names.join(","))
            }
            FlowFormat::Table => writeln!(self.w, "{}", table_header(self.ty(), &self.clock)),
            FlowFormat::Jsonl => Ok(()),
        }
    }

    /// One JSON line: `type`, the type's JSON columns in order, then `sensor`.
    fn json(&mut self, sensor: &str, ev: &AppEvent) -> io::Result<()> {
        if self.sensor.0 != sensor {
            self.sensor = (sensor.to_string(), serde_json::to_vec(sensor)?);
        }
        let ty = self.ty();
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(b"{\"type\":\"");
        b.extend_from_slice(ty.name.as_bytes());
        b.push(b'"');
        for c in ty.all_columns().filter(|c| c.in_json()) {
            b.extend_from_slice(b",\"");
            b.extend_from_slice(c.name.as_bytes());
            b.extend_from_slice(b"\":");
            flows::json_value(b, (c.get)(ev, sensor), &self.sensor.1);
        }
        b.extend_from_slice(b",\"sensor\":");
        b.extend_from_slice(&self.sensor.1);
        b.extend_from_slice(b"}\n");
        self.w.write_all(b)
    }

    /// One CSV row: the type's CSV columns in order.
    fn csv(&mut self, sensor: &str, ev: &AppEvent) -> io::Result<()> {
        let cells: Vec<String> = self
            .ty()
            .all_columns()
            .filter_map(|c| match c.csv {
                Csv::No => None,
                Csv::Value => Some(flows::csv_value((c.get)(ev, sensor))),
                Csv::Cell(f) => Some(f(ev)),
                Csv::Text(f) => Some(term::csv_cell(&f(ev))),
            })
            .collect();
        writeln!(self.w, "{}", cells.join(","))
    }
}

/// Column widths of the event tables: a client address, a server endpoint, a DNS query and an
/// HTTP host (longer ones are cut with `…` to fit 100 columns; whole with `--wide`).
const CLIENT: usize = 20;
const SERVER: usize = 24;
const QUERY: usize = 32;
const HOST: usize = 32;

/// The table's heading line for events of `ty`.
fn table_header(ty: &EventType, clock: &term::Clock) -> String {
    match ty.name {
        "dns" => term::fit_items(
            &format!(
                "{} {} {} {} {} {} ",
                term::pad(&clock.heading(), 20),
                term::pad("CLIENT", CLIENT),
                term::pad("QUERY", QUERY),
                term::pad("TYPE", 5),
                term::pad("RCODE", 8),
                term::rpad("RTT", 8)
            ),
            &["ANSWERS".to_string()],
        ),
        "http" => term::fit(
            &format!(
                "{} {} {} {} ",
                term::pad(&clock.heading(), 20),
                term::pad("SERVER", SERVER),
                term::pad("STATUS", 6),
                term::pad("HOST", HOST)
            ),
            "REQUEST",
        ),
        "tls" => term::fit(
            &format!(
                "{} {} {} {} {} {} ",
                term::pad(&clock.heading(), 20),
                term::pad("SERVER", SERVER),
                term::pad("OVER", 4),
                term::pad("VERSION", 8),
                term::pad("ALPN", 12),
                term::pad("ECH", 3)
            ),
            "SNI",
        ),
        "smtp" => term::fit(
            &format!(
                "{} {} {} {} {} {} ",
                term::pad(&clock.heading(), 20),
                term::pad("CLIENT", CLIENT),
                term::pad("SERVER", SERVER),
                term::pad("TLS", 3),
                term::rpad("MSGS", 4),
                term::rpad("RCPT", 4)
            ),
            "HELO / MAIL FROM",
        ),
        // Any other type: the time, the server, then its own columns' CSV cells.
        _ => {
            let mut h = format!("{} {}", term::pad(&clock.heading(), 20), term::pad("SERVER", 30));
            for c in ty.columns.iter().filter(|c| !matches!(c.csv, Csv::No)) {
                h.push(' ');
                h.push_str(&c.name.to_ascii_uppercase());
            }
            h
        }
    }
}

/// A column's CSV rendering before CSV quoting (text from packets is cleaned by the caller).
fn raw_cell(c: &EventColumn, ev: &AppEvent) -> String {
    match c.csv {
        Csv::No => String::new(),
        Csv::Value => match (c.get)(ev, "") {
            Value::Text(t) => t.to_string(),
            Value::DnsAnswers(list) => engine::columns::answer_words(list),
            v => flows::csv_value(v),
        },
        Csv::Cell(f) | Csv::Text(f) => f(ev),
    }
}

/// A round trip in milliseconds with three significant digits: `22.0 ms`, `1.25 ms`, `0.123 ms`.
fn rtt_ms(ns: i64) -> String {
    let ms = ns as f64 / 1e6;
    let places = if ms >= 100.0 {
        0
    } else if ms >= 10.0 {
        1
    } else if ms >= 1.0 {
        2
    } else {
        3
    };
    format!("{ms:.places$} ms")
}

/// The rendering of column `name` of `ty`.
fn cell(ty: &EventType, name: &str, ev: &AppEvent) -> String {
    ty.all_columns().find(|c| c.name == name).map(|c| raw_cell(c, ev)).unwrap_or_default()
}

/// One table line: laid out for the types v6watch has always had, generic for the others.
fn table_line(ty: &EventType, ev: &AppEvent, clock: &term::Clock) -> String {
    #[allow(unreachable_patterns)]
    match ev {
        AppEvent::Dns(d) => {
            let rtt = d.rtt_ns.map(rtt_ms).unwrap_or_else(|| "-".into());
            // A response that asks nothing (an mDNS announcement, sent to the group): the
            // responder and the names it announces, not the group address and an empty query.
            let announced = d.query.is_empty() && d.qtype == 0 && !d.answers.is_empty();
            let (who, query, qtype) = if announced {
                let mut names: Vec<&str> = Vec::new();
                for a in &d.answers {
                    if !names.contains(&a.name.as_str()) {
                        names.push(&a.name);
                    }
                }
                let more = if names.len() > 1 { format!(" +{}", names.len() - 1) } else { String::new() };
                // The marker stays whole however long the name.
                let suffix = format!("{more} (announced)");
                let name = term::shorten(names[0], QUERY.saturating_sub(suffix.chars().count()).max(8));
                (d.server, format!("{name}{suffix}"), "-".into())
            } else {
                (d.client, d.query.clone(), wire::dns::rtype::name(d.qtype))
            };
            let answers: Vec<String> = d
                .answers
                .iter()
                .filter(|a| a.section == "answer")
                .map(|a| term::clean_presentation(&format!("{} {}", a.rtype, a.data)))
                .collect();
            term::fit_items(
                &format!(
                    "{} {} {} {} {} {} ",
                    term::pad(&clock.stamp(d.ts), 20),
                    term::cut_mid(&who.to_string(), CLIENT),
                    term::cut(&term::clean_presentation(&query), QUERY),
                    term::pad(&qtype, 5),
                    term::pad(&cell(ty, "rcode", ev), 8),
                    term::rpad(&rtt, 8),
                ),
                &answers,
            )
        }
        AppEvent::Http(h) => term::fit(
            &format!(
                "{} {} {} {} ",
                term::pad(&clock.stamp(h.ts), 20),
                term::cut_mid(&term::endpoint(&h.server, h.server_port), SERVER),
                term::pad(&h.status.map(|s| s.to_string()).unwrap_or_else(|| "-".into()), 6),
                term::cut(&term::clean(h.host.as_deref().unwrap_or("-")), HOST),
            ),
            &format!("{} {} {}", term::clean(&h.method), term::clean(&h.uri), term::clean(&h.version)),
        ),
        AppEvent::Tls(t) => term::fit(
            &format!(
                "{} {} {} {} {} {} ",
                term::pad(&clock.stamp(t.ts), 20),
                term::cut_mid(&term::endpoint(&t.server, t.server_port), SERVER),
                term::pad(t.transport, 4),
                term::pad(t.server_version.as_deref().unwrap_or("-"), 8),
                term::cut(&term::clean(&t.alpn.join(",")), 12),
                term::pad(if t.ech { "yes" } else { "-" }, 3),
            ),
            &term::clean(t.sni.as_deref().unwrap_or("-")),
        ),
        AppEvent::Smtp(m) => {
            let from = m.mail_from.first().map(|f| format!(" / <{f}>")).unwrap_or_default();
            let more = if m.mail_from.len() > 1 { format!(" +{}", m.mail_from.len() - 1) } else { String::new() };
            term::fit(
                &format!(
                    "{} {} {} {} {} {} ",
                    term::pad(&clock.stamp(m.ts), 20),
                    term::cut_mid(&m.client.to_string(), CLIENT),
                    term::cut_mid(&term::endpoint(&m.server, m.server_port), SERVER),
                    term::pad(if m.starttls { "yes" } else { "-" }, 3),
                    term::rpad(&m.messages.to_string(), 4),
                    term::rpad(&m.rcpt.to_string(), 4),
                ),
                &term::clean(&format!("{}{from}{more}", m.helo.as_deref().unwrap_or("-"))),
            )
        }
        _ => {
            let head = ev.head();
            let mut line = format!(
                "{} {}",
                term::pad(&clock.stamp(head.ts), 20),
                term::pad(&term::endpoint(&head.server, head.server_port), 30)
            );
            for c in ty.columns.iter().filter(|c| !matches!(c.csv, Csv::No)) {
                let cell = raw_cell(c, ev);
                line.push(' ');
                line.push_str(&term::clean(if cell.is_empty() { "-" } else { &cell }));
            }
            line
        }
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
        if ev.kind() != self.kind {
            return Ok(());
        }
        if !self.header_done {
            self.header()?;
        }
        match self.format {
            FlowFormat::Jsonl => self.json(sensor, ev),
            FlowFormat::Csv => self.csv(sensor, ev),
            FlowFormat::Table => {
                let line = table_line(self.ty(), ev, &self.clock);
                writeln!(self.w, "{line}")
            }
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

    /// Every DNS, HTTP, TLS and SMTP event of the corpus, written as a JSON line and read
    /// back, writes the same line again.
    #[test]
    fn every_corpus_event_reads_back_to_the_same_line() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        let files = synth::corpus_captures(&dir);
        let mut n = [0usize; engine::model::EventKind::ALL.len()];
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
        // The corpus has two SMTP sessions (ndpi/smtp-starttls.pcap), many of the others.
        let want = |k: engine::model::EventKind| if k == engine::model::EventKind::Smtp { 2 } else { 51 };
        let enough = engine::model::EventKind::ALL.iter().all(|&k| n[k as usize] >= want(k));
        assert!(files.is_empty() || enough, "events read back per kind: {n:?}");
    }

    /// Damaged event lines are refused naming the field, never half-read, and never panic.
    #[test]
    fn lines_that_are_not_events_are_refused() {
        let good = r#"{"type":"http","ts":1.5,"uid":"Cabc","client":"2001:db8::1","server":"2001:db8::2","server_port":80,"method":"GET","host":"x","uri":"/","version":"HTTP/1.1","user_agent":null,"request_body_len":null,"status":200,"sensor":"hp"}"#;
        assert!(read_event(good).is_ok());
        for (bad, field) in [
            (good.replace("\"http\"", "\"ftp\""), "type"),
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

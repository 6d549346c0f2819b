//! Flow records as a table, JSON Lines (Zeek conn.log names) or CSV, streamed as flows end.

use super::term;
use crate::cli::FlowFormat;
use engine::model::{EventKind, FlowRecord};
use engine::pipeline::{FlowSink, RecordFormat};
use engine::schema::{self, InJson, Value};
use std::io::{self, Write};

/// Writes flow records in one format.
pub struct Writer<W: Write> {
    w: W,
    format: FlowFormat,
    header_done: bool,
    /// One line, reused (no allocation per flow).
    line: Vec<u8>,
    /// How the last sensor's records are written (its name escaped once, not once per flow).
    form: Option<Form>,
    /// How the table prints times.
    clock: term::Clock,
}

/// Seconds with microseconds, as Zeek writes `ts` in JSON.
pub fn epoch(ns: i64) -> String {
    // To the nearest microsecond, as every JSON time is (`model::epoch_secs`) and as Zeek's
    // `%.6f` writes `ts`.
    let us = ns.saturating_add(500).div_euclid(1000);
    format!("{}.{:06}", us.div_euclid(1_000_000), us.rem_euclid(1_000_000))
}

/// Nanoseconds as seconds (`places` 6) or milliseconds (`places` 3) with microsecond digits,
/// as `{:.6}`/`{:.3}` of the float would write them (see `fast::micros`).
pub fn micros(ns: i64, places: u32) -> String {
    let mut b = Vec::with_capacity(24);
    fast::micros(&mut b, ns, places);
    String::from_utf8(b).unwrap_or_default()
}

fn endpoint(r: &FlowRecord, orig: bool) -> String {
    let (h, p) = if orig { (r.orig_h, r.orig_p) } else { (r.resp_h, r.resp_p) };
    term::endpoint(&h, p)
}

fn icmp_errors(list: &[engine::model::IcmpError]) -> String {
    list.iter()
        .map(|e| {
            let kind = if e.version == 6 { "icmp6" } else { "icmp" };
            let mtu = if e.mtu > 0 { format!(" mtu={}", e.mtu) } else { String::new() };
            format!("{kind}:{}/{} from {}{mtu} x{}", e.icmp_type, e.code, e.from, e.count)
        })
        .collect::<Vec<_>>()
        .join(";")
}

impl<W: Write> Writer<W> {
    /// A writer for `format`.
    pub fn new(w: W, format: FlowFormat) -> Self {
        Writer {
            w,
            format,
            header_done: false,
            line: Vec::with_capacity(1024),
            form: None,
            clock: term::Clock::default(),
        }
    }

    /// Tables print times on `clock` (UTC by default).
    pub fn with_clock(mut self, clock: term::Clock) -> Self {
        self.clock = clock;
        self
    }

    fn header(&mut self) -> io::Result<()> {
        self.header_done = true;
        match self.format {
            FlowFormat::Csv => {
                let names: Vec<&str> = schema::csv_columns().map(|c| c.name).collect();
                writeln!(self.w, "{}", names.join(","))
            }
            FlowFormat::Table => {
                let head = format!(
                    "{} {} {} {} {} {} {} {} {} ",
                    term::pad(&self.clock.heading(), 20),
                    term::pad("SENSOR", 10),
                    term::pad("ROLE", 8),
                    term::pad("PROTO", 5),
                    term::pad("STATE", 6),
                    term::pad("HISTORY", 8),
                    term::rpad("PKTS o/r", 9),
                    term::rpad("BYTES o/r", 15),
                    term::rpad("DUR", 6),
                );
                writeln!(self.w, "{}", term::fit(&head, "ORIG -> RESP (NAME)"))
            }
            FlowFormat::Jsonl => Ok(()),
        }
    }
}

/// How a record is written: the format and the sensor's name, escaped once for it.
struct Form {
    format: FlowFormat,
    clock: term::Clock,
    sensor: String,
    /// The sensor's name as a JSON string.
    sensor_json: Vec<u8>,
}

impl Form {
    fn new(format: FlowFormat, clock: &term::Clock, sensor: &str) -> Form {
        // A string always serialises.
        let sensor_json = serde_json::to_vec(sensor).unwrap_or_default();
        Form { format, clock: clock.clone(), sensor: sensor.to_string(), sensor_json }
    }
}

impl RecordFormat for Form {
    /// Appends one record's line (writing to a vector cannot fail).
    fn format(&self, r: &FlowRecord, b: &mut Vec<u8>) {
        match self.format {
            FlowFormat::Jsonl => jsonl(b, &self.sensor_json, r),
            FlowFormat::Csv => csv(b, &self.sensor, r),
            FlowFormat::Table => table(b, &self.sensor, r, &self.clock),
        }
    }
}

/// One JSON line: the columns of [`schema::FLOW_COLUMNS`] that the record has, in order.
fn jsonl(b: &mut Vec<u8>, sensor_json: &[u8], r: &FlowRecord) {
    // Written straight into one reused buffer (not through a serde map or `write!`): this runs
    // once per flow and dominated the profile. Text goes through serde_json's escaping (into a
    // vector it cannot fail); the sensor's name was escaped once for all its records.
    // Each column's `,"name":` made once; the first column's comma is skipped.
    static KEYS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    let keys =
        KEYS.get_or_init(|| schema::FLOW_COLUMNS.iter().map(|c| format!(",\"{}\":", c.name).into_bytes()).collect());
    b.reserve(640);
    b.push(b'{');
    let start = b.len();
    for (c, key) in schema::FLOW_COLUMNS.iter().zip(keys) {
        match c.json {
            InJson::Never => continue,
            InJson::When(has) if !has(r) => continue,
            _ => {}
        }
        let v = (c.get)(r, "");
        if v == Value::Absent {
            continue;
        }
        b.extend_from_slice(if b.len() == start { &key[1..] } else { key });
        json_value(b, v, sensor_json);
    }
    b.extend_from_slice(b"}\n");
}

/// Appends a value as JSON (`sensor_json`: the sensor's name, escaped once for its records).
pub fn json_value(b: &mut Vec<u8>, v: Value<'_>, sensor_json: &[u8]) {
    match v {
        Value::Time(ns) => fast::epoch(b, ns),
        Value::Seconds(ns) => fast::micros(b, ns, 6),
        Value::Millis(ns) => fast::micros(b, ns, 3),
        Value::UInt(n) => fast::uint(b, n),
        Value::Int(n) => b.extend_from_slice(n.to_string().as_bytes()),
        Value::Bool(x) => b.extend_from_slice(if x { b"true" } else { b"false" }),
        Value::Word(w) => {
            b.push(b'"');
            b.extend_from_slice(w.as_bytes());
            b.push(b'"');
        }
        Value::Sensor(_) => b.extend_from_slice(sensor_json),
        Value::Text(t) => {
            let _ = serde_json::to_writer(&mut *b, t);
        }
        Value::Addr(a) => {
            b.push(b'"');
            fast::addr(b, &a);
            b.push(b'"');
        }
        Value::AddrPair(x, y) => {
            b.extend_from_slice(b"[\"");
            fast::addr(b, &x);
            b.extend_from_slice(b"\",\"");
            fast::addr(b, &y);
            b.extend_from_slice(b"\"]");
        }
        // Into a vector these cannot fail.
        Value::IcmpErrors(list) => {
            let _ = serde_json::to_writer(&mut *b, list);
        }
        Value::Names(list) => {
            let _ = serde_json::to_writer(&mut *b, list);
        }
        Value::Strings(list) => {
            let _ = serde_json::to_writer(&mut *b, list);
        }
        Value::UInts(list) => {
            let _ = serde_json::to_writer(&mut *b, list);
        }
        Value::DnsAnswers(list) => {
            let _ = serde_json::to_writer(&mut *b, list);
        }
        Value::Null => b.extend_from_slice(b"null"),
        Value::Absent => {}
    }
}

/// A value as a CSV cell: text escaped and formula-defused, empty where there is none.
pub fn csv_value(v: Value<'_>) -> String {
    match v {
        Value::Time(ns) => epoch(ns),
        Value::Seconds(ns) => micros(ns, 6),
        Value::Millis(ns) => micros(ns, 3),
        Value::UInt(n) => n.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Bool(x) => x.to_string(),
        Value::Word(w) => w.to_string(),
        Value::Text(t) | Value::Sensor(t) => term::csv_cell(t),
        Value::Addr(a) => a.to_string(),
        Value::AddrPair(x, y) => format!("{x}>{y}"),
        Value::IcmpErrors(list) => term::csv_cell(&icmp_errors(list)),
        Value::Names(list) => term::csv_cell(&list.join(";")),
        Value::Strings(list) => term::csv_cell(&list.join(" ")),
        Value::UInts(list) => list.iter().map(u64::to_string).collect::<Vec<_>>().join(" "),
        Value::DnsAnswers(list) => term::csv_cell(&engine::columns::answer_words(list)),
        Value::Null | Value::Absent => String::new(),
    }
}

/// One CSV row: every CSV column, empty where the record has no value.
fn csv(b: &mut Vec<u8>, sensor: &str, r: &FlowRecord) {
    let mut first = true;
    for c in schema::csv_columns() {
        if !first {
            b.push(b',');
        }
        first = false;
        let cell = csv_value((c.get)(r, sensor));
        b.extend_from_slice(cell.as_bytes());
    }
    b.push(b'\n');
}

fn table(b: &mut Vec<u8>, sensor: &str, r: &FlowRecord, clock: &term::Clock) {
    let proto =
        format!("{}{}", r.proto_name().trim_end_matches("_transport"), if r.ip_version() == 6 { "6" } else { "" });
    let mut tunnel = r.tunnel.map(|t| format!(" via {}", t.name())).unwrap_or_default();
    if let Some(n) = &r.server_name {
        tunnel = format!(" ({}){tunnel}", term::clean(n));
    }
    let head = format!(
        "{} {} {} {} {} {} {} {} {} ",
        term::pad(&clock.stamp(r.ts), 20),
        term::cut(&term::clean(sensor), 10),
        term::pad(r.role.name(), 8),
        term::pad(&proto, 5),
        term::pad(r.conn_state.name(), 6),
        term::cut(&r.history, 8),
        term::rpad(&format!("{}/{}", term::count(r.orig.pkts), term::count(r.resp.pkts)), 9),
        term::rpad(&format!("{}/{}", term::bytes(r.orig.ip_bytes), term::bytes(r.resp.ip_bytes)), 15),
        term::rpad(&term::duration(r.duration_ns()), 6),
    );
    let _ = writeln!(b, "{}", term::fit(&head, &format!("{} -> {}{}", endpoint(r, true), endpoint(r, false), tunnel)));
}

impl<W: Write> FlowSink for Writer<W> {
    fn flow(&mut self, sensor: &str, r: &FlowRecord) -> io::Result<()> {
        if !self.header_done {
            self.header()?;
        }
        if self.form.as_ref().is_none_or(|f| f.sensor != sensor) {
            self.form = Some(Form::new(self.format, &self.clock, sensor));
        }
        self.line.clear();
        if let Some(f) = &self.form {
            f.format(r, &mut self.line);
        }
        self.w.write_all(&self.line)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    /// The header even when no record came (tables and CSV), then flush.
    fn finish(&mut self) -> io::Result<()> {
        if !self.header_done && self.format != FlowFormat::Jsonl {
            self.header()?;
        }
        self.w.flush()
    }

    fn wants(&self, _: EventKind) -> bool {
        false
    }

    fn formatter(&self, sensor: &str) -> Option<Box<dyn RecordFormat>> {
        Some(Box::new(Form::new(self.format, &self.clock, sensor)))
    }

    fn formatted(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.header_done {
            self.header()?;
        }
        self.w.write_all(bytes)
    }
}

/// Formatting without `core::fmt`: integers, capture times and addresses straight into a
/// byte buffer. Output is identical to the `Display` forms (tested).
mod fast {
    use engine::decode::Addr;

    /// "00" to "99": two digits per division.
    const PAIRS: [u8; 200] = {
        let mut t = [0u8; 200];
        let mut i = 0;
        while i < 100 {
            t[2 * i] = b'0' + (i / 10) as u8;
            t[2 * i + 1] = b'0' + (i % 10) as u8;
            i += 1;
        }
        t
    };

    /// Decimal digits of `v`, two per division (a record has about fifteen numbers, and this
    /// was the merging thread's largest formatting cost).
    pub fn uint(b: &mut Vec<u8>, mut v: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        while v >= 100 {
            let d = (v % 100) as usize * 2;
            v /= 100;
            i -= 2;
            tmp[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
        }
        if v >= 10 {
            let d = v as usize * 2;
            i -= 2;
            tmp[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
        } else {
            i -= 1;
            tmp[i] = b'0' + v as u8;
        }
        // One capacity check and one copy (pushing checked the capacity for every digit, which
        // measured slower than the copy's call).
        b.extend(tmp[i..].iter().copied());
    }

    /// Nanoseconds `ns` as microseconds with the decimal point `places` (6: seconds, 3:
    /// milliseconds) from the right: what `{:.6}` of `ns as f64 / 1e9` (or `{:.3}` of
    /// `ns as f64 / 1e6`) writes. Exact ties (half a microsecond) and values far outside what
    /// a capture holds go through the float formatting, so the output is the same either way.
    pub fn micros(b: &mut Vec<u8>, ns: i64, places: u32) {
        use std::io::Write as _;
        if !(0..1 << 50).contains(&ns) || ns % 1000 == 500 {
            let _ = match places {
                6 => write!(b, "{:.6}", ns as f64 / 1e9),
                _ => write!(b, "{:.3}", ns as f64 / 1e6),
            };
            return;
        }
        let us = (ns as u64 + 500) / 1000;
        let unit = 10u64.pow(places);
        uint(b, us / unit);
        b.push(b'.');
        let mut frac = us % unit;
        let start = b.len();
        b.resize(start + places as usize, b'0');
        for d in b[start..].iter_mut().rev() {
            *d = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
    }

    /// Seconds with six decimals, as `super::epoch`.
    pub fn epoch(b: &mut Vec<u8>, ns: i64) {
        if ns < 0 {
            b.extend_from_slice(super::epoch(ns).as_bytes());
            return;
        }
        let us = ns.saturating_add(500) / 1000;
        uint(b, (us / 1_000_000) as u64);
        b.push(b'.');
        let micros = us % 1_000_000;
        let mut tmp = [b'0'; 6];
        let mut m = micros as u64;
        for d in tmp.iter_mut().rev() {
            *d = b'0' + (m % 10) as u8;
            m /= 10;
        }
        b.extend_from_slice(&tmp);
    }

    /// An address as `Display` writes it (RFC 5952 for IPv6).
    pub fn addr(b: &mut Vec<u8>, a: &Addr) {
        let x = &a.bytes;
        if a.version == 4 {
            for (i, o) in x[..4].iter().enumerate() {
                if i > 0 {
                    b.push(b'.');
                }
                uint(b, u64::from(*o));
            }
            return;
        }
        let seg: [u16; 8] = std::array::from_fn(|i| u16::from_be_bytes([x[2 * i], x[2 * i + 1]]));
        // IPv4-mapped and the special forms: leave them to the standard library.
        if seg[..5] == [0; 5] && (seg[5] == 0xffff || seg[5] == 0) {
            let s = a.to_ip().to_string();
            b.extend_from_slice(s.as_bytes());
            return;
        }
        // Longest run of zero groups (two or more), first one on a tie.
        let (mut best, mut best_len, mut i) = (8usize, 0usize, 0usize);
        while i < 8 {
            if seg[i] == 0 {
                let start = i;
                while i < 8 && seg[i] == 0 {
                    i += 1;
                }
                if i - start > best_len && i - start >= 2 {
                    best = start;
                    best_len = i - start;
                }
            } else {
                i += 1;
            }
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let hex = |b: &mut Vec<u8>, v: u16| {
            let mut started = false;
            for shift in [12u16, 8, 4, 0] {
                let d = ((v >> shift) & 0xf) as usize;
                if d != 0 || started || shift == 0 {
                    b.push(HEX[d]);
                    started = true;
                }
            }
        };
        let mut k = 0;
        while k < 8 {
            if k == best {
                b.extend_from_slice(b"::");
                k += best_len;
                continue;
            }
            if k > 0 && k != best + best_len {
                b.push(b':');
            }
            hex(b, seg[k]);
            k += 1;
        }
    }

    #[cfg(test)]
    mod test {
        use super::*;

        #[test]
        fn same_as_display() {
            let mut rng = synth::Rng::new(7);
            let fixed = [
                "::",
                "::1",
                "1::",
                "2001:db8::1",
                "2001:db8:0:0:1:0:0:1",
                "2001:0:0:1::1",
                "fe80::1:0:0:0",
                "::ffff:192.0.2.1",
                "::192.0.2.1",
                "1:2:3:4:5:6:7:8",
                "0:1:0:1:0:1:0:1",
                "2001:db8::",
                "192.0.2.255",
                "0.0.0.0",
            ];
            let mut cases: Vec<std::net::IpAddr> = fixed.iter().map(|s| s.parse().unwrap()).collect();
            for _ in 0..20_000 {
                let mut o = [0u8; 16];
                for (i, x) in o.iter_mut().enumerate() {
                    // Many zero groups, so that every compression case comes up.
                    *x = if rng.chance(0.5) && i % 2 == 0 { 0 } else { rng.below(256) as u8 };
                }
                for g in 0..8 {
                    if rng.chance(0.4) {
                        o[2 * g] = 0;
                        o[2 * g + 1] = 0;
                    }
                }
                cases.push(std::net::Ipv6Addr::from(o).into());
            }
            for ip in cases {
                let mut b = Vec::new();
                addr(&mut b, &Addr::from_ip(ip));
                assert_eq!(String::from_utf8(b).unwrap(), ip.to_string());
            }
            for ns in [0i64, 1, 999, 1_000_000_000, 1_307_491_200_123_456_789, -5] {
                let mut b = Vec::new();
                epoch(&mut b, ns);
                assert_eq!(String::from_utf8(b).unwrap(), super::super::epoch(ns));
            }
            let mut ints = vec![0u64, 9, 10, 99, 100, 101, 999, 1000, 12345, u64::MAX, u64::MAX - 1];
            ints.extend((0..64).flat_map(|k| [(1u64 << k) - 1, 1 << k, 10u64.saturating_pow(k % 20)]));
            ints.extend((0..100_000).map(|_| rng.next_u64() >> rng.below(64)));
            for v in ints {
                let mut b = Vec::new();
                uint(&mut b, v);
                assert_eq!(String::from_utf8(b).unwrap(), v.to_string());
            }
            let mut durations = vec![0i64, 1, 499, 500, 501, 999, 1000, 1500, 2500, 999_999_500, -1, 1 << 50, i64::MAX];
            for _ in 0..200_000 {
                let scale = [1_000, 1_000_000, 1_000_000_000, 1_000_000_000_000][rng.below(4) as usize];
                let v = rng.below(scale) as i64;
                durations.extend([v, v / 1000 * 1000, v / 1000 * 1000 + 500]);
            }
            for ns in durations {
                let (mut s6, mut s3) = (Vec::new(), Vec::new());
                micros(&mut s6, ns, 6);
                micros(&mut s3, ns, 3);
                assert_eq!(String::from_utf8(s6).unwrap(), format!("{:.6}", ns as f64 / 1e9), "{ns}");
                assert_eq!(String::from_utf8(s3).unwrap(), format!("{:.3}", ns as f64 / 1e6), "{ns}");
            }
        }
    }
}

#[cfg(test)]
mod roundtrip {
    use super::{csv, jsonl, Form};
    use engine::model::FlowRecord;
    use engine::pipeline::{run_sensor, FlowSink, Options, SensorInput};
    use engine::schema::read_flow;

    struct Keep(Vec<(String, FlowRecord)>);

    impl FlowSink for Keep {
        fn flow(&mut self, sensor: &str, r: &FlowRecord) -> std::io::Result<()> {
            self.0.push((sensor.to_string(), r.clone()));
            Ok(())
        }
    }

    fn corpus_files() -> Vec<std::path::PathBuf> {
        synth::corpus_captures(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
    }

    /// Every flow record of the corpus, written as a JSON line and read back, writes the same
    /// line and the same CSV row again: the column list reads what it writes.
    #[test]
    fn every_corpus_record_reads_back_to_the_same_line() {
        let mut n = 0;
        for path in corpus_files() {
            let input = SensorInput { name: "a \"sensor\", named".into(), paths: vec![path.clone()], addrs: vec![] };
            let mut keep = Keep(Vec::new());
            if run_sensor(&input, &Options::default(), &mut keep, &mut |_| {}).is_err() {
                continue;
            }
            for (sensor, rec) in &keep.0 {
                let form = Form::new(crate::cli::FlowFormat::Jsonl, &crate::output::term::Clock::default(), sensor);
                let mut line = Vec::new();
                jsonl(&mut line, &form.sensor_json, rec);
                let text = std::str::from_utf8(&line).unwrap();
                let (s2, back) = read_flow(text.trim_end()).unwrap_or_else(|e| panic!("{path:?}: {e}: {text}"));
                assert_eq!(&s2, sensor);
                let mut again = Vec::new();
                jsonl(&mut again, &form.sensor_json, &back);
                assert_eq!(String::from_utf8_lossy(&again), text, "{path:?}");
                let (mut c1, mut c2) = (Vec::new(), Vec::new());
                csv(&mut c1, sensor, rec);
                csv(&mut c2, sensor, &back);
                assert_eq!(String::from_utf8_lossy(&c1), String::from_utf8_lossy(&c2), "{path:?}");
                n += 1;
            }
        }
        assert!(n > 1000 || corpus_files().is_empty(), "{n} records");
    }

    /// Lines that are not flow records are refused with the column at fault, never accepted
    /// half-read; damaged copies of real lines never panic, and what is accepted writes valid
    /// JSON again.
    #[test]
    fn lines_that_are_not_records_are_refused() {
        let good = r#"{"ts":1.5,"uid":"Cabc","id.orig_h":"2001:db8::1","id.orig_p":1,"id.resp_h":"2001:db8::2","id.resp_p":2,"proto":"tcp","duration":0.25,"orig_bytes":0,"resp_bytes":0,"conn_state":"S0","missed_bytes":0,"history":"S","orig_pkts":1,"orig_ip_bytes":60,"resp_pkts":0,"resp_ip_bytes":0,"sensor":"hp","role":"inbound","ip_version":6,"ip_proto":6}"#;
        let (sensor, r) = read_flow(good).unwrap();
        assert_eq!((sensor.as_str(), r.ts, r.last_ts, r.conn_state.name()), ("hp", 1_500_000_000, 1_750_000_000, "S0"));
        for (bad, column) in [
            (good.replace("\"S0\"", "\"XX\""), "conn_state"),
            (good.replace("\"Cabc\"", "\"C\\\"x\""), "uid"),
            (good.replace("\"2001:db8::2\"", "\"192.0.2.1\""), "id.resp_h"),
            (good.replace("\"history\":\"S\"", "\"history\":\"S<b>\""), "history"),
            (good.replace("\"id.orig_p\":1", "\"id.orig_p\":70000"), "id.orig_p"),
            (good.replace("\"role\":\"inbound\"", "\"role\":\"sideways\""), "role"),
            (good.replace(",\"ip_proto\":6", ""), "ip_proto"),
            (good.replace("\"duration\":0.25", "\"duration\":-1"), "duration"),
            (good.replace("}", ",\"extra\":1}"), ""),
            ("[1,2]".to_string(), ""),
        ] {
            let e = read_flow(&bad).expect_err(&bad);
            assert_eq!(e.column, column, "{bad}: {e}");
        }
        let mut rng = synth::Rng::new(11);
        for _ in 0..20_000 {
            let b = rng.mutate(good.as_bytes(), b"0123456789\"{}[],:.-eE\\ax");
            let Ok(text) = std::str::from_utf8(&b) else { continue };
            if let Ok((s, rec)) = read_flow(text) {
                let form = Form::new(crate::cli::FlowFormat::Jsonl, &crate::output::term::Clock::default(), &s);
                let mut line = Vec::new();
                jsonl(&mut line, &form.sensor_json, &rec);
                let v: serde_json::Value = serde_json::from_slice(&line).expect("written JSON parses");
                assert!(v.is_object());
            }
        }
    }
}

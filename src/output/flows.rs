//! Flow records as a table, JSON Lines (Zeek conn.log names) or CSV, streamed as flows end.

use super::term;
use crate::cli::FlowFormat;
use engine::model::{EventKind, FlowRecord};
use engine::pipeline::{FlowSink, RecordFormat};
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
    /// One line, reused (no allocation per flow).
    line: Vec<u8>,
    /// How the last sensor's records are written (its name escaped once, not once per flow).
    form: Option<Form>,
}

/// Seconds with microseconds, as Zeek writes `ts` in JSON.
pub fn epoch(ns: i64) -> String {
    format!("{}.{:06}", ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) / 1000)
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
        Writer { w, format, header_done: false, line: Vec::with_capacity(1024), form: None }
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
}

/// How a record is written: the format and the sensor's name, escaped once for it.
struct Form {
    format: FlowFormat,
    sensor: String,
    /// The sensor's name as a JSON string.
    sensor_json: Vec<u8>,
}

impl Form {
    fn new(format: FlowFormat, sensor: &str) -> Form {
        // A string always serialises.
        let sensor_json = serde_json::to_vec(sensor).unwrap_or_default();
        Form { format, sensor: sensor.to_string(), sensor_json }
    }
}

impl RecordFormat for Form {
    /// Appends one record's line (writing to a vector cannot fail).
    fn format(&self, r: &FlowRecord, b: &mut Vec<u8>) {
        match self.format {
            FlowFormat::Jsonl => jsonl(b, &self.sensor_json, r),
            FlowFormat::Csv => csv(b, &self.sensor, r),
            FlowFormat::Table => table(b, &self.sensor, r),
        }
    }
}

fn jsonl(b: &mut Vec<u8>, sensor_json: &[u8], r: &FlowRecord) {
    // Written by hand into one reused buffer (not through a serde map or `write!`): this
    // runs once per flow and dominated the profile. Field order follows Zeek's conn.log.
    // Strings that can hold arbitrary text go through serde_json (into a vector it cannot
    // fail).
    b.extend_from_slice(b"{\"ts\":");
    fast::epoch(b, r.ts);
    b.extend_from_slice(b",\"uid\":\"");
    b.extend_from_slice(r.uid.as_bytes());
    b.extend_from_slice(b"\",\"id.orig_h\":\"");
    fast::addr(b, &r.orig_h);
    b.extend_from_slice(b"\",\"id.orig_p\":");
    fast::uint(b, u64::from(r.orig_p));
    b.extend_from_slice(b",\"id.resp_h\":\"");
    fast::addr(b, &r.resp_h);
    b.extend_from_slice(b"\",\"id.resp_p\":");
    fast::uint(b, u64::from(r.resp_p));
    b.extend_from_slice(b",\"proto\":\"");
    b.extend_from_slice(r.proto_name().as_bytes());
    b.extend_from_slice(b"\",\"duration\":");
    fast::micros(b, r.duration_ns(), 6);
    let fields: [(&[u8], u64); 2] = [(b",\"orig_bytes\":", r.orig.bytes), (b",\"resp_bytes\":", r.resp.bytes)];
    fast::fields(b, &fields);
    b.extend_from_slice(b",\"conn_state\":\"");
    b.extend_from_slice(r.conn_state.as_bytes());
    b.extend_from_slice(b"\",\"missed_bytes\":");
    fast::uint(b, r.orig.missed_bytes + r.resp.missed_bytes);
    b.extend_from_slice(b",\"history\":\"");
    b.extend_from_slice(r.history.as_bytes());
    b.push(b'"');
    let fields: [(&[u8], u64); 4] = [
        (b",\"orig_pkts\":", r.orig.pkts),
        (b",\"orig_ip_bytes\":", r.orig.ip_bytes),
        (b",\"resp_pkts\":", r.resp.pkts),
        (b",\"resp_ip_bytes\":", r.resp.ip_bytes),
    ];
    fast::fields(b, &fields);
    b.extend_from_slice(b",\"sensor\":");
    b.extend_from_slice(sensor_json);
    b.extend_from_slice(b",\"role\":\"");
    b.extend_from_slice(r.role.name().as_bytes());
    b.extend_from_slice(b"\",\"ip_version\":");
    fast::uint(b, u64::from(r.ip_version()));
    b.extend_from_slice(b",\"ip_proto\":");
    fast::uint(b, u64::from(r.ip_proto));
    if let Some(svc) = r.service {
        b.extend_from_slice(b",\"service\":\"");
        b.extend_from_slice(svc.as_bytes());
        b.push(b'"');
    }
    if let Some(n) = &r.server_name {
        b.extend_from_slice(b",\"server_name\":");
        let _ = serde_json::to_writer(&mut *b, n);
        b.extend_from_slice(b",\"name_source\":\"");
        b.extend_from_slice(r.name_source.unwrap_or("").as_bytes());
        b.push(b'"');
    }
    if let Some(t) = r.tunnel {
        b.extend_from_slice(b",\"tunnel\":\"");
        b.extend_from_slice(t.name().as_bytes());
        b.push(b'"');
    }
    if let Some((x, y)) = r.tunnel_outer {
        b.extend_from_slice(b",\"tunnel_outer\":[\"");
        fast::addr(b, &x);
        b.extend_from_slice(b"\",\"");
        fast::addr(b, &y);
        b.extend_from_slice(b"\"]");
    }
    if let Some(v) = r.vlan {
        b.extend_from_slice(b",\"vlan\":");
        fast::uint(b, u64::from(v));
    }
    if let Some(rtt) = r.rtt_synack_ns {
        b.extend_from_slice(b",\"rtt_ms\":");
        fast::micros(b, rtt, 3);
    }
    if r.orig.retransmits + r.resp.retransmits > 0 {
        let fields: [(&[u8], u64); 2] =
            [(b",\"orig_retransmits\":", r.orig.retransmits), (b",\"resp_retransmits\":", r.resp.retransmits)];
        fast::fields(b, &fields);
    }
    if let Some(m) = r.orig_mss {
        b.extend_from_slice(b",\"orig_mss\":");
        fast::uint(b, u64::from(m));
    }
    if let Some(m) = r.resp_mss {
        b.extend_from_slice(b",\"resp_mss\":");
        fast::uint(b, u64::from(m));
    }
    if !r.icmp_errors.is_empty() {
        b.extend_from_slice(b",\"icmp_errors\":");
        let _ = serde_json::to_writer(&mut *b, &r.icmp_errors);
    }
    if !r.anomalies.is_empty() {
        b.extend_from_slice(b",\"anomalies\":");
        let _ = serde_json::to_writer(&mut *b, &r.anomalies);
    }
    b.extend_from_slice(b"}\n");
}

fn csv(b: &mut Vec<u8>, sensor: &str, r: &FlowRecord) {
    let fields: [String; 32] = [
        epoch(r.ts),
        r.uid.clone(),
        r.orig_h.to_string(),
        r.orig_p.to_string(),
        r.resp_h.to_string(),
        r.resp_p.to_string(),
        r.proto_name().into(),
        micros(r.duration_ns(), 6),
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
        r.rtt_synack_ns.map(|v| micros(v, 3)).unwrap_or_default(),
        r.orig.retransmits.to_string(),
        r.resp.retransmits.to_string(),
        csv_field(&icmp_errors(r)),
        csv_field(&r.anomalies.join(";")),
        r.service.unwrap_or("").to_string(),
        csv_field(r.server_name.as_deref().unwrap_or("")),
        r.name_source.unwrap_or("").to_string(),
    ];
    b.extend_from_slice(fields.join(",").as_bytes());
    b.push(b'\n');
}

fn table(b: &mut Vec<u8>, sensor: &str, r: &FlowRecord) {
    let proto =
        format!("{}{}", r.proto_name().trim_end_matches("_transport"), if r.ip_version() == 6 { "6" } else { "" });
    let mut tunnel = r.tunnel.map(|t| format!(" via {}", t.name())).unwrap_or_default();
    if let Some(n) = &r.server_name {
        tunnel = format!(" ({}){tunnel}", term::clean(n));
    }
    let _ = writeln!(
        b,
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
    );
}

impl<W: Write> FlowSink for Writer<W> {
    fn flow(&mut self, sensor: &str, r: &FlowRecord) -> io::Result<()> {
        if !self.header_done {
            self.header()?;
        }
        if self.form.as_ref().is_none_or(|f| f.sensor != sensor) {
            self.form = Some(Form::new(self.format, sensor));
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
        Some(Box::new(Form::new(self.format, sensor)))
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

    /// `name` + value pairs.
    pub fn fields(b: &mut Vec<u8>, f: &[(&[u8], u64)]) {
        for (name, v) in f {
            b.extend_from_slice(name);
            uint(b, *v);
        }
    }

    /// Seconds with six decimals, as `super::epoch`.
    pub fn epoch(b: &mut Vec<u8>, ns: i64) {
        if ns < 0 {
            b.extend_from_slice(super::epoch(ns).as_bytes());
            return;
        }
        uint(b, (ns / 1_000_000_000) as u64);
        b.push(b'.');
        let micros = (ns % 1_000_000_000) / 1000;
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

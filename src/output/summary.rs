//! `v6watch summary`: per-sensor overview as a terminal table or one JSON document.

use super::term::{self, bytes, clean, count, pct};
use engine::pipeline::SensorSummary;
use std::io::{self, Write};

/// Schema version of the JSON form; bump on incompatible changes.
pub const SCHEMA: &str = "v6watch.summary/1";

/// The JSON form.
pub fn json(w: &mut dyn Write, sums: &[SensorSummary]) -> io::Result<()> {
    let doc = serde_json::json!({ "schema": SCHEMA, "sensors": sums });
    serde_json::to_writer_pretty(&mut *w, &doc)?;
    writeln!(w)
}

fn row(w: &mut dyn Write, label: &str, value: impl AsRef<str>) -> io::Result<()> {
    writeln!(w, "  {} {}", term::pad(label, 18), value.as_ref())
}

/// The terminal form.
pub fn table(w: &mut dyn Write, sums: &[SensorSummary]) -> io::Result<()> {
    let w = &mut super::term::Wrapped::new(w);
    for (i, s) in sums.iter().enumerate() {
        if i > 0 {
            writeln!(w)?;
        }
        writeln!(w, "sensor {}", clean(&s.sensor))?;
        for f in &s.files {
            let kind = match (f.format, f.compression) {
                (Some(fm), Some(c)) => format!(
                    "{fm:?}{}",
                    if c == engine::capture::Compression::None { String::new() } else { format!("+{c:?}") }
                )
                .to_lowercase(),
                _ => "unreadable".into(),
            };
            row(w, "file", format!("{} ({kind}, {} frames)", clean(&f.path), count(f.frames)))?;
            if let Some(e) = &f.error {
                row(w, "  DAMAGED", clean(e))?;
            }
        }
        let span = match (s.first_ts, s.last_ts) {
            (Some(a), Some(b)) => {
                format!("{} .. {} ({})", term::utc_short(a), term::utc_short(b), term::duration(b - a))
            }
            _ => "-".into(),
        };
        row(w, "time span", span)?;
        row(
            w,
            "frames",
            format!("{} ({} captured, {} on the wire)", count(s.frames), bytes(s.captured_bytes), bytes(s.wire_bytes)),
        )?;
        let lts: Vec<String> = s.linktypes.iter().map(|(n, l, c)| format!("{n}({l}) {}", count(*c))).collect();
        row(w, "link types", if lts.is_empty() { "-".into() } else { lts.join(", ") })?;
        row(
            w,
            "outer IPv4/IPv6",
            format!(
                "{} / {} ({} IPv6), {} non-IP",
                count(s.outer_ipv4),
                count(s.outer_ipv6),
                pct(s.outer_ipv6, s.outer_ipv4 + s.outer_ipv6),
                count(s.non_ip)
            ),
        )?;
        let [v4, v6] = s.by_family;
        row(
            w,
            "inner IPv4/IPv6",
            format!(
                "{} / {} packets, {} / {} ({} of bytes over IPv6)",
                count(v4.packets),
                count(v6.packets),
                bytes(v4.bytes),
                bytes(v6.bytes),
                pct(v6.bytes, v4.bytes + v6.bytes)
            ),
        )?;
        if !s.tunnels.is_empty() {
            let t: Vec<String> = s.tunnels.iter().map(|(k, n)| format!("{} {}", k.name(), count(*n))).collect();
            row(w, "tunnelled", t.join(", "))?;
        }
        if s.vlan_frames > 0 {
            row(w, "VLAN-tagged", count(s.vlan_frames))?;
        }
        if s.fragments + s.reassembled > 0 {
            row(
                w,
                "fragments",
                format!("{} reassembled datagrams, {} fragments held", count(s.reassembled), count(s.fragments)),
            )?;
        }
        let how = if s.sensor_addrs_inferred { "inferred" } else { "configured" };
        if s.sensor_addrs.is_empty() && s.frames == 0 {
            row(w, "sensor addresses", "none: no frames to infer them from")?;
        } else if s.sensor_addrs.is_empty() {
            row(
                w,
                "sensor addresses",
                format!("none {how}: no address is in most packets; roles are transit (use --sensor-addr)"),
            )?;
        } else {
            for (k, a) in s.sensor_addrs.iter().enumerate() {
                row(w, if k == 0 { "sensor addresses" } else { "" }, format!("{} ({how}: {})", a.addr, a.reason))?;
            }
        }
        // An empty list is a dash, as an empty time span is.
        let list = |items: Vec<String>| if items.is_empty() { "-".to_string() } else { items.join(", ") };
        let roles: Vec<String> = s.roles.iter().map(|(r, n)| format!("{} {}", r.name(), count(*n))).collect();
        let flows =
            if roles.is_empty() { count(s.flows) } else { format!("{} ({})", count(s.flows), roles.join(", ")) };
        row(w, "flows", flows)?;
        row(w, "by protocol", list(s.flows_by_proto.iter().map(|(p, n)| format!("{p} {}", count(*n))).collect()))?;
        row(w, "conn_state", list(s.conn_states.iter().map(|(p, n)| format!("{p} {}", count(*n))).collect()))?;
        if s.table.evicted > 0 {
            row(
                w,
                "evicted",
                format!(
                    "{} flows written early: the flow table was full (peak {})",
                    count(s.table.evicted),
                    count(s.table.peak_live)
                ),
            )?;
        }
        if !s.top_talkers.is_empty() {
            writeln!(w, "  top talkers (not the sensor)")?;
            for t in &s.top_talkers {
                writeln!(
                    w,
                    "    {} {} {} {}",
                    term::pad(&t.addr.to_string(), 40),
                    term::rpad(&bytes(t.bytes), 9),
                    term::rpad(&format!("{} pkts", count(t.packets)), 11),
                    term::rpad(&format!("{} flows", count(t.flows)), 11)
                )?;
            }
        }
        if !s.anomalies.is_empty() {
            let a: Vec<String> = s.anomalies.iter().map(|(n, c)| format!("{n} {}", count(*c))).collect();
            row(w, "anomalies", a.join(", "))?;
        }
    }
    Ok(())
}

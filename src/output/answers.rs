//! The analysis answered in a few terminal lines, in the seed's order: how much over IPv4 and
//! IPv6 and when, what moved to IPv6, what the traffic was, and whether anything broke.

use super::term::{bytes, clean, local};
use engine::analysis::{Report, Settings};
use engine::analyze::health::Severity;
use std::io::{self, Write};

/// Writes the answers.
pub fn write(w: &mut dyn Write, r: &Report, st: &Settings) -> io::Result<()> {
    let w = &mut super::term::Wrapped::new(w);
    for c in &r.comparisons {
        writeln!(w, "{}: {} – {}", clean(&c.event.name), local(c.event.start, &st.tz), local(c.event.end, &st.tz))?;
        for s in &r.sensors {
            let v6: Vec<u64> = (0..3)
                .map(|i| c.volumes.iter().filter(|v| v.sensor == s.sensor && v.family == 6).map(|v| v.bytes[i]).sum())
                .collect();
            let all: Vec<u64> = (0..3)
                .map(|i| {
                    c.volumes
                        .iter()
                        .filter(|v| v.sensor == s.sensor && matches!(v.direction, "in" | "out"))
                        .map(|v| v.bytes[i])
                        .sum()
                })
                .collect();
            let share = |i: usize| if all[i] == 0 { 0.0 } else { 100.0 * v6[i] as f64 / all[i] as f64 };
            writeln!(
                w,
                "  volume  {}: IPv6 {} before, {} during, {} after ({:.0}% → {:.0}% → {:.0}% of bytes)",
                clean(&s.sensor),
                bytes(v6[0]),
                bytes(v6[1]),
                bytes(v6[2]),
                share(0),
                share(1),
                share(2)
            )?;
        }
        for ch in &c.changes {
            let line = format!("  moved   [{}] {}", ch.sensor, super::report::change_text(ch, &st.tz));
            writeln!(w, "{}", clean(&line))?;
        }
        for a in c.http_v6.iter().filter(|a| a.method != "GET").take(3) {
            let n: u64 = a.windows.iter().skip(1).step_by(3).sum();
            writeln!(
                w,
                "  http    [{}] {} over IPv6: {} http://{}{}",
                clean(&a.sensor),
                if n == 1 { "1 request".to_string() } else { format!("{n} requests") },
                clean(&a.method),
                clean(&a.host),
                clean(&a.example_uri)
            )?;
        }
    }
    for line in mail_lines(r) {
        writeln!(w, "  mail    {}", clean(&line))?;
    }
    for line in indicator_lines(r) {
        writeln!(w, "  threat  {}", clean(&line))?;
    }
    let bad: Vec<_> =
        r.health.findings.iter().filter(|f| f.severity > Severity::Info && !super::report::is_threat(f)).collect();
    if bad.is_empty() {
        writeln!(w, "  health  no IPv6 failure at warning level ({} attempts analysed)", r.health.attempts)?;
    }
    for f in bad {
        writeln!(w, "  health  {} [{}] {}", f.severity.name(), clean(&f.sensor), clean(&f.msg))?;
    }
    Ok(())
}

/// The seed's spam question, per sensor and direction: "mail connections received over
/// IPv6: N (from M senders), over IPv4: K", and what the event windows saw of it.
pub fn mail_lines(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let mut keys: Vec<(&str, &str)> = r.mail.iter().map(|m| (m.sensor.as_str(), m.direction)).collect();
    keys.dedup();
    for (sensor, dir) in keys {
        let of = |fam: u8| r.mail.iter().find(|m| m.sensor == sensor && m.direction == dir && m.family == fam);
        let (v6, v4) = (of(6), of(4));
        let n = |m: Option<&engine::analysis::MailAgg>| m.map_or(0, |m| m.connections);
        let senders = |m: Option<&engine::analysis::MailAgg>| m.map_or(0, |m| m.senders);
        let mut line = format!(
            "[{sensor}] mail connections {} over IPv6: {} (from {} sender{}, {} message{}), over IPv4: {} (from {} sender{})",
            if dir == "transit" { "seen in transit" } else { dir },
            n(v6),
            senders(v6),
            if senders(v6) == 1 { "" } else { "s" },
            v6.map_or(0, |m| m.messages),
            if v6.map_or(0, |m| m.messages) == 1 { "" } else { "s" },
            n(v4),
            senders(v4),
            if senders(v4) == 1 { "" } else { "s" },
        );
        for (i, c) in r.comparisons.iter().enumerate() {
            let during =
                |m: Option<&engine::analysis::MailAgg>| m.and_then(|m| m.windows.get(i * 3 + 1).copied()).unwrap_or(0);
            line.push_str(&format!("; during {}: {} over IPv6, {} over IPv4", c.event.name, during(v6), during(v4)));
        }
        out.push(line);
    }
    out
}

/// Indicator matches per sensor: how many over IPv6 and over IPv4, and in the event windows.
pub fn indicator_lines(r: &Report) -> Vec<String> {
    let mut sensors: Vec<&str> = r.indicators.iter().map(|h| h.sensor.as_str()).collect();
    sensors.dedup();
    sensors
        .into_iter()
        .map(|sensor| {
            let of = |fam: u8| r.indicators.iter().filter(move |h| h.sensor == sensor && h.family == fam);
            let n = |fam: u8| of(fam).map(|h| h.count).sum::<u64>();
            let lists = |fam: u8| {
                let mut v: Vec<&str> = of(fam).map(|h| h.indicator.as_str()).collect();
                v.sort_unstable();
                v.dedup();
                v.join(", ")
            };
            let mut line = format!("[{sensor}] known-bad indicators matched over IPv6: {} ({})", n(6), lists(6));
            line.push_str(&format!(", over IPv4: {} ({})", n(4), lists(4)));
            for (i, c) in r.comparisons.iter().enumerate() {
                let w = |fam: u8| of(fam).map(|h| h.windows.get(i * 3 + 1).copied().unwrap_or(0)).sum::<u64>();
                line.push_str(&format!("; during {}: {} over IPv6, {} over IPv4", c.event.name, w(6), w(4)));
            }
            line
        })
        .collect()
}

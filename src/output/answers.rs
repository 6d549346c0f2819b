//! The analysis answered in a few terminal lines, in the seed's order: how much over IPv4 and
//! IPv6 and when, what moved to IPv6, what the traffic was, and whether anything broke.

use super::term::{bytes, clean, local};
use engine::analysis::{Report, Settings};
use engine::analyze::health::Severity;
use std::io::{self, Write};

/// Writes the answers.
pub fn write(w: &mut dyn Write, r: &Report, st: &Settings) -> io::Result<()> {
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
    let bad: Vec<_> = r.health.findings.iter().filter(|f| f.severity > Severity::Info).collect();
    if bad.is_empty() {
        writeln!(w, "  health  no IPv6 failure at warning level ({} attempts analysed)", r.health.attempts)?;
    }
    for f in bad {
        writeln!(w, "  health  {} [{}] {}", f.severity.name(), clean(&f.sensor), clean(&f.msg))?;
    }
    Ok(())
}

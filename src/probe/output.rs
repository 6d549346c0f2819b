//! A probe round written out: the table for a person, JSON lines for machines, and the
//! Prometheus textfile (one series per target × family × phase: the targets are the
//! operator's list, so the label set stays small).

use super::findings::ProbeFinding;
use super::target::Target;
use super::Check;
use crate::output::health::{lv, put};
use crate::output::term::{clean, pad};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// One block per target (a line per check), then the findings.
pub fn table(w: &mut dyn Write, targets: &[Target], results: &[Vec<Check>], found: &[ProbeFinding]) -> io::Result<()> {
    for (t, checks) in targets.iter().zip(results) {
        writeln!(w, "{}  ({})", clean(&t.label), t.kind.name())?;
        writeln!(w, "  {} {} {} {:>9}  ADDRESS / DETAIL", pad("FAM", 4), pad("PHASE", 8), pad("RESULT", 13), "TIME")?;
        for c in checks {
            let fam = match (c.phase.as_str(), c.family) {
                ("race", 0) => "-".to_string(),
                ("race", f) => format!("won{f}"),
                (_, f) => f.to_string(),
            };
            let time = c.duration_s.map_or(String::new(), |s| {
                if s < 1.0 {
                    format!("{:.1} ms", s * 1e3)
                } else {
                    format!("{s:.2} s")
                }
            });
            let mut detail = c.detail.clone().unwrap_or_default();
            if !c.answers.is_empty() {
                detail = c.answers.join(" ") + if detail.is_empty() { "" } else { "; " } + &detail;
            }
            if let Some(s) = c.status {
                detail = format!(
                    "status {s}, {} bytes{}{detail}",
                    c.bytes.unwrap_or(0),
                    if detail.is_empty() { "" } else { "; " }
                );
            }
            if let Some(v) = &c.tls_version {
                detail = format!(
                    "{v} {} cert {}…",
                    c.alpn.as_deref().unwrap_or("-"),
                    &c.cert_sha256.as_deref().unwrap_or("")[..12.min(c.cert_sha256.as_ref().map_or(0, String::len))]
                );
            }
            let address = clean(c.address.as_deref().unwrap_or("-"));
            let head =
                format!("  {} {} {} {:>9}  {address}", pad(&fam, 4), pad(&c.phase, 8), pad(&c.outcome, 13), time);
            let detail = clean(&engine::analyze::indicators::shorten(&detail, 200));
            // The detail beside the address when the line stays within 100 columns, else on
            // its own line below.
            if detail.is_empty() {
                writeln!(w, "{head}")?;
            } else if head.chars().count() + 2 + detail.chars().count() <= 100 {
                writeln!(w, "{head}  {detail}")?;
            } else {
                writeln!(w, "{head}\n{}{detail}", " ".repeat(41))?;
            }
        }
        writeln!(w)?;
    }
    if found.is_empty() {
        writeln!(w, "FINDINGS  none: every target works over every family probed")?;
    } else {
        writeln!(w, "FINDINGS")?;
        for f in found {
            writeln!(w, "  {} {}", pad(f.severity.name(), 8), f.note)?;
            for line in wrap(&clean(&f.msg), 100 - 11) {
                writeln!(w, "{}{line}", " ".repeat(11))?;
            }
        }
    }
    Ok(())
}

/// Every check (`"type": "probe"`), then every finding (`"type": "finding"`).
pub fn jsonl(w: &mut dyn Write, results: &[Vec<Check>], found: &[ProbeFinding]) -> io::Result<()> {
    for c in results.iter().flatten() {
        put(w, "probe", c)?;
    }
    for f in found {
        crate::output::health::finding_line(w, f)?;
    }
    Ok(())
}

/// The metrics of one round.
pub fn prometheus(sensor: &str, targets: &[Target], results: &[Vec<Check>]) -> String {
    // (target, family, phase) → (success, duration); a phase with several checks (one per
    // address) succeeds when any does, and its duration is the successful one's.
    let mut rows: BTreeMap<(String, u8, &str), (bool, f64)> = BTreeMap::new();
    let mut winners: BTreeMap<String, u8> = BTreeMap::new();
    for c in results.iter().flatten() {
        if c.phase == "race" {
            winners.insert(c.target.clone(), if c.ok { c.family } else { 0 });
            continue;
        }
        if c.outcome == "skipped" {
            continue;
        }
        let e = rows.entry((c.target.clone(), c.family, c.phase.as_str())).or_insert((false, 0.0));
        if c.ok && !e.0 {
            *e = (true, c.duration_s.unwrap_or(0.0));
        } else if !e.0 {
            e.1 = c.duration_s.unwrap_or(0.0);
        }
    }
    let s = lv(sensor);
    let mut out = String::new();
    out.push_str("# HELP v6watch_probe_success Whether the phase worked over the family in the last round (1) or not (0).\n# TYPE v6watch_probe_success gauge\n");
    for ((t, f, p), (ok, _)) in &rows {
        out.push_str(&format!(
            "v6watch_probe_success{{sensor=\"{s}\",target=\"{}\",family=\"ipv{f}\",phase=\"{p}\"}} {}\n",
            lv(t),
            u8::from(*ok)
        ));
    }
    out.push_str("# HELP v6watch_probe_duration_seconds How long the phase took in the last round (to the failure, for failures).\n# TYPE v6watch_probe_duration_seconds gauge\n");
    for ((t, f, p), (_, d)) in &rows {
        out.push_str(&format!(
            "v6watch_probe_duration_seconds{{sensor=\"{s}\",target=\"{}\",family=\"ipv{f}\",phase=\"{p}\"}} {d:.6}\n",
            lv(t)
        ));
    }
    out.push_str("# HELP v6watch_probe_he_winner The family that won the last Happy Eyeballs race (6, 4; 0: neither connected).\n# TYPE v6watch_probe_he_winner gauge\n");
    for t in targets {
        if let Some(w) = winners.get(&t.label) {
            out.push_str(&format!("v6watch_probe_he_winner{{sensor=\"{s}\",target=\"{}\"}} {w}\n", lv(&t.label)));
        }
    }
    out.push_str(&format!(
        "# HELP v6watch_probe_last_round_timestamp_seconds When the last round ended.\n# TYPE v6watch_probe_last_round_timestamp_seconds gauge\nv6watch_probe_last_round_timestamp_seconds{{sensor=\"{s}\"}} {:.3}\n",
        super::wall_ns() as f64 / 1e9
    ));
    out
}

/// `text` in lines of at most `width` characters, broken at spaces (a longer word stays whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let last = lines.last_mut().expect("one line at least");
        if !last.is_empty() && last.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod test {
    #[test]
    fn wraps_at_spaces() {
        assert_eq!(super::wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(super::wrap("abcdefgh ij", 4), ["abcdefgh", "ij"]);
        assert_eq!(super::wrap("", 4), [""]);
    }
}

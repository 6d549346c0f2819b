//! Printers for the IPv6-health analysis: the terminal report, JSON Lines, and Prometheus
//! text-format metrics (DOMAIN.md §4.2; application prefix `v6watch_`).

use super::term::{clean, count, duration, local_fmt, pad, rpad};
use engine::analyze::health::{HealthReport, PmtuState, ServiceRow, Severity};

/// Service rows shown in the terminal at most.
const MAX_ROWS: usize = 40;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

fn ms(ns: Option<i64>) -> String {
    ns.map_or("-".into(), |v| format!("{:.0}", v as f64 / 1e6))
}

/// Of a long service list (a scan makes one service per target), the `max` rows with trouble
/// and the busiest: failing ones first (IPv6 before IPv4), then by attempts; in the list's
/// order (sensor, service, port, family).
pub fn notable_services(rows: &[ServiceRow], max: usize) -> Vec<&ServiceRow> {
    let mut rows: Vec<(usize, &ServiceRow)> = rows.iter().enumerate().collect();
    if rows.len() > max {
        let rank = |s: &ServiceRow| std::cmp::Reverse((s.successes < s.attempts, s.family == 6, s.attempts));
        // The first `max` of a stable sort by rank and name (the position breaks ties, as a
        // stable sort would), without sorting the tens of thousands of rows a scan makes.
        if max > 0 {
            rows.select_nth_unstable_by(max - 1, |(i, a), (j, b)| {
                (rank(a), &a.service, i).cmp(&(rank(b), &b.service, j))
            });
        }
        rows.truncate(max);
        rows.sort_by(|(_, a), (_, b)| {
            (&a.sensor, &a.service, a.port, a.family).cmp(&(&b.sensor, &b.service, b.port, b.family))
        });
    }
    rows.into_iter().map(|(_, r)| r).collect()
}

/// The terminal report, times in `tz`.
pub fn table(w: &mut dyn Write, r: &HealthReport, tz: &jiff::tz::TimeZone) -> io::Result<()> {
    let w = &mut super::term::Wrapped::new(w);
    let utc_short = |ns: i64| local_fmt(ns, tz, "%Y-%m-%d %H:%M:%S %Z");
    writeln!(w, "IPv6 HEALTH  {} connection attempts analysed", count(r.attempts))?;
    let fam = |f: u8| -> String {
        let parts: Vec<String> =
            r.outcomes.iter().filter(|o| o.0 == f).map(|(_, name, n)| format!("{name} {}", count(*n))).collect();
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(" · ")
        }
    };
    writeln!(w, "  IPv4: {}", fam(4))?;
    writeln!(w, "  IPv6: {}", fam(6))?;
    if r.dropped > 0 {
        writeln!(w, "  ({} attempts, answers or records beyond the analysis bounds: attempts are in the outcome counts, no rule saw them)", count(r.dropped))?;
    }
    writeln!(w)?;
    writeln!(w, "FINDINGS")?;
    if r.findings.is_empty() {
        writeln!(w, "  none")?;
    }
    // Warnings and worse in full; informational ones summarised (their detail is in the
    // sections below and in --format jsonl).
    for f in r.findings.iter().filter(|f| f.severity > Severity::Info) {
        let note = f.note.trim_start_matches("V6Mon::");
        // To the minute, so that a finding's heading fits 100 columns (the seconds are in
        // --format jsonl).
        let minute = |ns: i64| local_fmt(ns, tz, "%Y-%m-%d %H:%M %Z");
        let span = if f.n > 1 {
            format!("{} .. {} ×{}", minute(f.first_ts), minute(f.last_ts), f.n)
        } else {
            minute(f.first_ts)
        };
        // Findings of `v6watch probe` say so: they were tested, not seen in traffic.
        let by = if f.source == "capture" { String::new() } else { format!(", {}", f.source) };
        writeln!(w, "  {} {} [{}{by}] {}", rpad(f.severity.name(), 8), pad(note, 24), clean(&f.sensor), span)?;
        writeln!(w, "           {}", clean(&f.msg))?;
        if !f.uids.is_empty() {
            writeln!(w, "           flows: {}", f.uids.join(" "))?;
        }
    }
    let mut info: BTreeMap<&str, u64> = BTreeMap::new();
    for f in r.findings.iter().filter(|f| f.severity == Severity::Info) {
        *info.entry(f.note.trim_start_matches("V6Mon::")).or_default() += 1;
    }
    if !info.is_empty() {
        let parts: Vec<String> = info.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(w, "      info {}", parts.join(" · "))?;
    }
    writeln!(w)?;
    writeln!(w, "SERVICES (service × family)")?;
    if r.services.is_empty() {
        writeln!(w, "  none: no outbound connection attempts")?;
    } else {
        writeln!(
            w,
            "  {} {} {} {} {} {} {} FAILURES / FALLBACKS",
            pad("SENSOR", 10),
            pad("SERVICE", 34),
            pad("IP", 2),
            rpad("TRIES", 6),
            rpad("OK", 6),
            rpad("RATE ≥95%", 10),
            rpad("CONNECT p50/p90 ms", 18),
        )?;
        let total = r.services.len();
        for s in notable_services(&r.services, MAX_ROWS) {
            let mut notes: Vec<String> = s.failures.iter().map(|(k, n)| format!("{k} {n}")).collect();
            notes.extend(s.fallbacks.iter().map(|(k, n)| format!("fallback:{k} {n}")));
            if s.blackholes > 0 {
                notes.push(format!("blackhole {}", s.blackholes));
            }
            if s.aaaa_unused > 0 {
                notes.push(format!("aaaa_unused {}", s.aaaa_unused));
            }
            writeln!(
                w,
                "  {} {} {} {} {} {} {} {}",
                pad(&clean(&s.sensor), 10),
                pad(&clean(&format!("{}:{}", s.service, s.port)), 34),
                pad(&s.family.to_string(), 2),
                rpad(&count(s.attempts), 6),
                rpad(&count(s.successes), 6),
                rpad(&format!("{:.0}% {:.0}%", s.success_rate * 100.0, s.success_lower * 100.0), 10),
                rpad(&format!("{}/{}", ms(s.connect_p50_ns), ms(s.connect_p90_ns)), 18),
                notes.join(", ")
            )?;
        }
        if total > MAX_ROWS {
            writeln!(w, "  ... {} more rows (--format jsonl lists all)", total - MAX_ROWS)?;
        }
    }
    if !r.fallbacks.is_empty() {
        writeln!(w)?;
        writeln!(w, "FALLBACKS (IPv6 failed, then IPv4 to the same name)")?;
        for f in &r.fallbacks {
            writeln!(
                w,
                "  {} {} {} {} after {} (IPv6 {}{})",
                utc_short(f.v6_ts),
                pad(&clean(&f.sensor), 10),
                pad(&clean(&format!("{}:{}", f.service, f.port)), 34),
                pad(f.kind.name(), 15),
                duration(f.delay_ns),
                f.v6_outcome.name(),
                if f.v6_worked_nearby { ", IPv6 worked nearby" } else { "" }
            )?;
        }
    }
    if !r.pmtu.is_empty() {
        writeln!(w)?;
        writeln!(w, "PATH MTU")?;
        for b in &r.pmtu {
            if b.state == PmtuState::PmtudOk {
                writeln!(
                    w,
                    "  {} {} {} pmtud_ok     Packet Too Big MTU {} honoured",
                    utc_short(b.ts),
                    pad(&clean(&b.sensor), 10),
                    pad(&clean(&format!("{}:{}", b.service, b.port)), 34),
                    b.ptb_mtu.unwrap_or(0)
                )?;
                continue;
            }
            writeln!(
                w,
                "  {} {} {} {} {} side, {} stalled {}{}, confidence {}",
                utc_short(b.ts),
                pad(&clean(&b.sensor), 10),
                pad(&clean(&format!("{}:{}", b.service, b.port)), 34),
                pad(b.state.name(), 12),
                b.side,
                if b.side == "sender" { format!("{}-byte packets", b.size) } else { format!("MSS {}", b.size) },
                duration(b.stall_ns),
                b.ptb_mtu.map_or(String::new(), |m| format!(", Packet Too Big MTU {m}")),
                b.confidence
            )?;
        }
    }
    if !r.service_events.is_empty() {
        writeln!(w)?;
        writeln!(w, "SERVICES THAT CHANGED FAMILY")?;
        for e in &r.service_events {
            let svc = if e.port == 0 { e.service.clone() } else { format!("{}:{}", e.service, e.port) };
            writeln!(w, "  {} {} {} {}", utc_short(e.ts), pad(&clean(&e.sensor), 10), pad(e.kind, 24), clean(&svc))?;
        }
    }
    if !r.aaaa_unused.is_empty() {
        writeln!(w)?;
        writeln!(w, "AAAA ANSWERED BUT NOT USED")?;
        for u in r.aaaa_unused.iter().take(50) {
            writeln!(
                w,
                "  {} {} {} {} {}",
                utc_short(u.ts),
                pad(&clean(&u.sensor), 10),
                pad(&u.client.to_string(), 24),
                pad(u.reason, 15),
                clean(&u.name)
            )?;
        }
        if r.aaaa_unused.len() > 50 {
            writeln!(w, "  ... {} more (--format jsonl lists all)", r.aaaa_unused.len() - 50)?;
        }
    }
    if !r.return_path.is_empty() {
        writeln!(w)?;
        writeln!(w, "RETURN PATH BROKEN (inbound IPv6 SYN, our SYN-ACK, SYN retransmitted, no ACK)")?;
        for rp in r.return_path.iter().take(50) {
            writeln!(
                w,
                "  {} {} {} {} port {}",
                utc_short(rp.ts),
                pad(&clean(&rp.sensor), 10),
                pad(rp.client_class, 7),
                rp.client,
                rp.port
            )?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    v: &'a T,
}

/// One JSON line: `v`'s fields and `"type": kind`.
pub fn put<T: Serialize>(w: &mut dyn Write, kind: &str, v: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *w, &Line { kind, v })?;
    w.write_all(b"\n")
}

/// One finding as the JSON line `jsonl` writes for it.
pub fn finding_line(w: &mut dyn Write, f: &engine::analyze::health::Finding) -> io::Result<()> {
    put(w, "finding", f)
}

/// One JSON object per line, each with a `type`.
pub fn jsonl(w: &mut dyn Write, r: &HealthReport) -> io::Result<()> {
    #[derive(Serialize)]
    struct OutcomeLine {
        family: u8,
        outcome: &'static str,
        attempts: u64,
    }
    for (family, outcome, attempts) in &r.outcomes {
        put(w, "outcome", &OutcomeLine { family: *family, outcome, attempts: *attempts })?;
    }
    for f in &r.findings {
        put(w, "finding", f)?;
    }
    for s in &r.services {
        put(w, "service", s)?;
    }
    for f in &r.fallbacks {
        put(w, "fallback", f)?;
    }
    for b in &r.pmtu {
        put(w, "pmtu", b)?;
    }
    for u in &r.aaaa_unused {
        put(w, "aaaa_unused", u)?;
    }
    for rp in &r.return_path {
        put(w, "return_path", rp)?;
    }
    for e in &r.service_events {
        put(w, "service_event", e)?;
    }
    Ok(())
}

/// A counter family labelled by sensor, service and one more label.
fn counter3(out: &mut String, name: &str, help: &str, third: &str, rows: &BTreeMap<(String, String, &str), u64>) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
    for ((sensor, svc, x), n) in rows {
        out.push_str(&format!("{name}{{sensor=\"{}\",service=\"{}\",{third}=\"{x}\"}} {n}\n", lv(sensor), lv(svc)));
    }
}

/// Prometheus label value escaping (backslash, quote, newline).
pub fn lv(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The text-format metrics. Services outside the `top` busiest are summed as `other`, so the
/// label set stays small whatever the capture holds.
pub fn prometheus(r: &HealthReport, top: usize) -> String {
    let mut by_attempts: BTreeMap<String, u64> = BTreeMap::new();
    for s in &r.services {
        *by_attempts.entry(format!("{}:{}", s.service, s.port)).or_default() += s.attempts;
    }
    let mut ranked: Vec<(&String, &u64)> = by_attempts.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let kept: std::collections::HashSet<&str> = ranked.iter().take(top).map(|(k, _)| k.as_str()).collect();
    let label = |svc: String| if kept.contains(svc.as_str()) { svc } else { "other".into() };

    let mut out = String::new();
    let mut attempts: BTreeMap<(String, String, u8, &str), u64> = BTreeMap::new();
    for s in &r.services {
        let svc = label(format!("{}:{}", s.service, s.port));
        *attempts.entry((s.sensor.clone(), svc.clone(), s.family, "established")).or_default() += s.successes;
        for (o, n) in &s.failures {
            *attempts.entry((s.sensor.clone(), svc.clone(), s.family, o)).or_default() += n;
        }
    }
    out.push_str("# HELP v6watch_connect_attempts_total Connection attempts by family, service and outcome.\n");
    out.push_str("# TYPE v6watch_connect_attempts_total counter\n");
    for ((sensor, svc, fam, o), n) in &attempts {
        out.push_str(&format!(
            "v6watch_connect_attempts_total{{sensor=\"{}\",family=\"ipv{fam}\",service=\"{}\",outcome=\"{o}\"}} {n}\n",
            lv(sensor),
            lv(svc)
        ));
    }
    let mut fb: BTreeMap<(String, String, &str), u64> = BTreeMap::new();
    for f in &r.fallbacks {
        *fb.entry((f.sensor.clone(), label(format!("{}:{}", f.service, f.port)), f.kind.name())).or_default() += 1;
    }
    counter3(
        &mut out,
        "v6watch_fallbacks_total",
        "IPv6 attempts that failed and were followed by IPv4 to the same name.",
        "kind",
        &fb,
    );
    let mut bh: BTreeMap<(String, String, &str), u64> = BTreeMap::new();
    for b in &r.pmtu {
        if matches!(b.state, PmtuState::PmtudOk) {
            continue;
        }
        *bh.entry((b.sensor.clone(), label(format!("{}:{}", b.service, b.port)), b.state.name())).or_default() += 1;
    }
    counter3(
        &mut out,
        "v6watch_pmtu_blackholes_total",
        "Path-MTU events by state (suspected, stalled, recovered, ptb_ignored, invalid_ptb).",
        "state",
        &bh,
    );
    out.push_str("# HELP v6watch_ptb_received_total ICMPv6 Packet Too Big messages that quoted a flow.\n");
    out.push_str("# TYPE v6watch_ptb_received_total counter\n");
    out.push_str(&format!("v6watch_ptb_received_total {}\n", r.ptb_received));
    let mut unused: BTreeMap<(String, String, &str), u64> = BTreeMap::new();
    for u in &r.aaaa_unused {
        // AAAA answers carry a name but no port: the label is the name's busiest service.
        let svc = label(
            ranked
                .iter()
                .map(|(k, _)| k.as_str())
                .find(|k| k.rsplit_once(':').is_some_and(|(n, _)| n == u.name))
                .map_or_else(|| u.name.clone(), str::to_string),
        );
        *unused.entry((u.sensor.clone(), svc, u.reason)).or_default() += 1;
    }
    counter3(
        &mut out,
        "v6watch_aaaa_unused_total",
        "AAAA answers followed by IPv4 only, by diagnosis.",
        "reason",
        &unused,
    );
    // Connect time histogram per family.
    const BOUNDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
    out.push_str("# HELP v6watch_connect_duration_seconds SYN to SYN-ACK time of established attempts.\n");
    out.push_str("# TYPE v6watch_connect_duration_seconds histogram\n");
    for (i, fam) in [4, 6].iter().enumerate() {
        let v = &r.connect_times[i];
        for b in BOUNDS {
            let n = v.iter().filter(|&&x| (x as f64) / 1e9 <= b).count();
            out.push_str(&format!("v6watch_connect_duration_seconds_bucket{{family=\"ipv{fam}\",le=\"{b}\"}} {n}\n"));
        }
        out.push_str(&format!(
            "v6watch_connect_duration_seconds_bucket{{family=\"ipv{fam}\",le=\"+Inf\"}} {}\n",
            v.len()
        ));
        let sum: f64 = v.iter().map(|&x| x as f64 / 1e9).sum();
        out.push_str(&format!("v6watch_connect_duration_seconds_sum{{family=\"ipv{fam}\"}} {sum}\n"));
        out.push_str(&format!("v6watch_connect_duration_seconds_count{{family=\"ipv{fam}\"}} {}\n", v.len()));
    }
    out.push_str(
        "# HELP v6watch_service_first_v6_success_timestamp_seconds First IPv6 success per service (capture time).\n",
    );
    out.push_str("# TYPE v6watch_service_first_v6_success_timestamp_seconds gauge\n");
    let mut first: BTreeMap<(String, String), i64> = BTreeMap::new();
    for s in r.services.iter().filter(|s| s.family == 6) {
        if let Some(t) = s.first_v6_ok {
            let svc = format!("{}:{}", s.service, s.port);
            if kept.contains(svc.as_str()) {
                let e = first.entry((s.sensor.clone(), svc)).or_insert(t);
                *e = (*e).min(t);
            }
        }
    }
    for ((sensor, svc), t) in &first {
        out.push_str(&format!(
            "v6watch_service_first_v6_success_timestamp_seconds{{sensor=\"{}\",service=\"{}\"}} {}\n",
            lv(sensor),
            lv(svc),
            *t as f64 / 1e9
        ));
    }
    out.push_str("# HELP v6watch_findings Findings of this analysis by severity.\n");
    out.push_str("# TYPE v6watch_findings gauge\n");
    for sev in ["info", "warning", "critical"] {
        let n = r.findings.iter().filter(|f| f.severity.name() == sev).count();
        out.push_str(&format!("v6watch_findings{{severity=\"{sev}\"}} {n}\n"));
    }
    out
}

#[cfg(test)]
mod test {
    use super::notable_services;
    use engine::analyze::health::ServiceRow;

    /// A long service list keeps every failing row and then the busiest, in the list's order.
    #[test]
    fn notable_services_keep_failures_then_the_busiest_in_order() {
        let rows: Vec<ServiceRow> = (0..5000u64)
            .map(|i| ServiceRow {
                sensor: "s".into(),
                service: format!("host{i:05}"),
                port: 443,
                family: 6,
                attempts: 1 + i % 97,
                successes: if i % 1000 == 7 { 0 } else { 1 + i % 97 },
                ..Default::default()
            })
            .collect();
        let kept = notable_services(&rows, 100);
        assert_eq!(kept.len(), 100);
        assert_eq!(kept.iter().filter(|s| s.successes < s.attempts).count(), 5, "every failing row kept");
        assert!(kept.windows(2).all(|w| w[0].service < w[1].service), "in the list's order");
        let least_kept = kept.iter().filter(|s| s.successes == s.attempts).map(|s| s.attempts).min();
        let most_left = rows.iter().filter(|r| !kept.iter().any(|k| k.service == r.service)).map(|r| r.attempts).max();
        assert!(least_kept >= most_left, "the busiest kept: {least_kept:?} vs {most_left:?}");
        assert_eq!(notable_services(&rows[..50], 100).len(), 50, "a short list whole");
    }

    /// Rows that rank alike (same trouble, family, attempts and name: other sensors or ports)
    /// are kept in the list's order up to the limit, as a stable sort keeps them; the limit
    /// falls inside such runs of ties.
    #[test]
    fn notable_services_break_ties_by_list_order() {
        let rows: Vec<ServiceRow> = (0..600u64)
            .map(|i| ServiceRow {
                sensor: format!("s{}", i % 3),
                service: format!("h{}", i % 7),
                // (sensor, service, port, family) is a row's key: unique, as in a table.
                port: i as u16,
                family: if i % 2 == 0 { 6 } else { 4 },
                attempts: 1 + i % 4,
                successes: if i % 11 == 0 { 0 } else { 1 + i % 4 },
                ..Default::default()
            })
            .collect();
        for max in [0, 1, 2, 13, 54, 55, 56, 100, 599] {
            // What a stable sort by rank and name, cut at `max`, keeps.
            let rank = |s: &ServiceRow| std::cmp::Reverse((s.successes < s.attempts, s.family == 6, s.attempts));
            let mut want: Vec<&ServiceRow> = rows.iter().collect();
            want.sort_by(|a, b| (rank(a), &a.service).cmp(&(rank(b), &b.service)));
            want.truncate(max);
            want.sort_by(|a, b| {
                (&a.sensor, &a.service, a.port, a.family).cmp(&(&b.sensor, &b.service, b.port, b.family))
            });
            let got = notable_services(&rows, max);
            let id = |v: &[&ServiceRow]| v.iter().map(|r| *r as *const ServiceRow).collect::<Vec<_>>();
            assert_eq!(id(&got), id(&want), "max {max}");
        }
    }
}

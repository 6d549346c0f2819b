//! A round's checks as findings: the passive analysis's notes (`V6Mon::IPv6_Service_Down`,
//! `V6Mon::IPv6_Fallback`, `V6Mon::PMTU_Blackhole`, …) per target and family, marked
//! `source = probe` and naming the address that was tested. A family is judged against the
//! other one in the same round: "IPv6 fails while IPv4 works" is what a probe can say for
//! certain, and what the operator needs to hear.

use super::target::Target;
use super::Check;
use engine::analyze::health::{Finding, Severity};

/// A finding from the probe: `source` is `probe`, `service` the target as written.
pub type ProbeFinding = Finding;

fn family_name(f: u8) -> &'static str {
    if f == 6 {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// Notes by family: (IPv6-only failure, IPv4-only failure, both).
fn note_for(fam: u8, other_ok: bool, notes: (&'static str, &'static str, &'static str)) -> &'static str {
    match (other_ok, fam) {
        (false, _) => notes.2,
        (true, 6) => notes.0,
        (true, _) => notes.1,
    }
}

/// The findings of one round, target by target.
pub fn of_round(sensor: &str, targets: &[Target], results: &[Vec<Check>]) -> Vec<ProbeFinding> {
    let mut out = Vec::new();
    for (t, checks) in targets.iter().zip(results) {
        of_target(sensor, t, checks, &mut out);
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.identifier.cmp(&b.identifier)));
    out
}

fn of_target(sensor: &str, t: &Target, checks: &[Check], out: &mut Vec<ProbeFinding>) {
    let of = |fam: u8, phase: &'static str| checks.iter().filter(move |c| c.family == fam && c.phase == phase);
    let ok = |fam: u8, phase: &'static str| of(fam, phase).any(|c| c.ok);
    // Tested and failed (a skipped phase is not a failure of its own).
    let failed = |fam: u8, phase: &'static str| -> Option<&Check> {
        let tried: Vec<&Check> = of(fam, phase).filter(|c| c.outcome != "skipped").collect();
        (!tried.is_empty() && !tried.iter().any(|c| c.ok)).then(|| tried[0])
    };
    let both = t.families.len() == 2;
    let ts = checks.iter().map(|c| c.ts).min().unwrap_or(0);
    let mut add =
        |sev: Severity, note: &'static str, alert: &'static str, fam: Option<u8>, c: Option<&Check>, msg: String| {
            let identifier = format!("{note}|{}|{}", t.label, fam.map_or(String::new(), |f| f.to_string()));
            out.push(Finding {
                severity: sev,
                note,
                alert,
                msg,
                sensor: sensor.to_string(),
                service: Some(t.label.clone()),
                family: fam,
                client: None,
                n: 1,
                first_ts: ts,
                last_ts: ts,
                identifier,
                uids: vec![],
                source: "probe",
                address: c.and_then(|c| c.address.clone()),
            });
        };
    let why = |c: &Check| c.detail.clone().unwrap_or_else(|| c.outcome.to_string());

    // Names.
    let (dns6, dns4) = (failed(6, "dns"), failed(4, "dns"));
    if let (true, Some(c), Some(_)) = (both, dns6, dns4) {
        add(
            Severity::Critical,
            "V6Mon::Name_Unresolved",
            "NameUnresolved",
            None,
            Some(c),
            format!("{}: {} does not resolve: {}", t.label, t.host, why(c)),
        );
        return;
    }
    if let Some(c) = dns6.filter(|_| ok(4, "dns")) {
        if matches!(c.outcome.as_str(), "nodata" | "nxdomain") {
            add(
                Severity::Warning,
                "V6Mon::AAAA_Missing",
                "AAAAMissing",
                Some(6),
                Some(c),
                format!("{}: {} has an A record but no AAAA: it is reached over IPv4 only", t.label, t.host),
            );
        } else {
            add(
                Severity::Warning,
                "V6Mon::AAAA_Lookup_Failed",
                "AAAALookupFailed",
                Some(6),
                Some(c),
                format!("the AAAA lookup of {} failed ({}) while A works", t.host, why(c)),
            );
        }
    }
    if let Some(c) = dns4.filter(|_| ok(6, "dns")) {
        add(
            Severity::Info,
            "V6Mon::A_Missing",
            "AMissing",
            Some(4),
            Some(c),
            format!("{}: IPv6 only ({})", t.host, why(c)),
        );
    }
    if !both {
        if let Some(c) = dns6.or(dns4) {
            add(
                Severity::Critical,
                "V6Mon::Name_Unresolved",
                "NameUnresolved",
                Some(c.family),
                Some(c),
                format!("{}: {} does not resolve: {}", t.label, t.host, why(c)),
            );
        }
    }

    // Connections.
    if let (true, Some(c6), Some(c4)) = (both, failed(6, "connect"), failed(4, "connect")) {
        let msg = format!(
            "{}: no connection over either family (IPv6 {}: {}; IPv4 {}: {})",
            t.label,
            c6.address.as_deref().unwrap_or("?"),
            why(c6),
            c4.address.as_deref().unwrap_or("?"),
            why(c4)
        );
        add(Severity::Critical, "V6Mon::Service_Down", "ServiceDown", None, Some(c6), msg);
    } else {
        for fam in [6u8, 4] {
            let other = if fam == 6 { 4 } else { 6 };
            let other_ok = both && ok(other, "connect");
            if let Some(c) = failed(fam, "connect") {
                let (sev, note, alert) = match (other_ok, fam) {
                    (true, 6) => (Severity::Critical, "V6Mon::IPv6_Service_Down", "IPv6ServiceDown"),
                    (true, _) => (Severity::Warning, "V6Mon::IPv4_Service_Down", "IPv4ServiceDown"),
                    (false, _) => (Severity::Critical, "V6Mon::Service_Down", "ServiceDown"),
                };
                let tail = if other_ok { format!(", while {} connects", family_name(other)) } else { String::new() };
                let msg = format!(
                    "{}: no {} connection to {}: {}{tail}",
                    t.label,
                    family_name(fam),
                    c.address.as_deref().unwrap_or("?"),
                    why(c)
                );
                add(sev, note, alert, Some(fam), Some(c), msg);
            } else if ok(fam, "connect") {
                // Some addresses of the family work, others do not: clients that try them in
                // turn are slowed down.
                for c in of(fam, "connect").filter(|c| !c.ok) {
                    let msg = format!(
                        "{}: {} address {} fails ({}) while another works",
                        t.label,
                        family_name(fam),
                        c.address.as_deref().unwrap_or("?"),
                        why(c)
                    );
                    add(Severity::Warning, "V6Mon::Address_Down", "AddressDown", Some(fam), Some(c), msg);
                }
            }
        }
    }

    // TLS, HTTP and the large response: a failure over one family, the other working.
    for fam in [6u8, 4] {
        let other = if fam == 6 { 4 } else { 6 };
        let phases = [
            ("tls", "TLS", "TLSFailed", ("V6Mon::IPv6_TLS_Failed", "V6Mon::IPv4_TLS_Failed", "V6Mon::TLS_Failed")),
            (
                "http",
                "HTTP",
                "HTTPFailed",
                ("V6Mon::IPv6_HTTP_Failed", "V6Mon::IPv4_HTTP_Failed", "V6Mon::HTTP_Failed"),
            ),
        ];
        for (phase, what, alert, notes) in phases {
            if let Some(c) = failed(fam, phase) {
                let note = note_for(fam, both && ok(other, phase), notes);
                let msg = format!("{}: {what} over {} failed: {}", t.label, family_name(fam), why(c));
                add(Severity::Warning, note, alert, Some(fam), Some(c), msg);
            }
        }
        if let Some(c) = failed(fam, "large") {
            let cmp = if both && ok(other, "large") {
                format!("; over {} it completes", family_name(other))
            } else {
                String::new()
            };
            if c.outcome == "stalled" {
                let msg = format!(
                    "{}: the large response over {} stalls after the small one worked ({}){cmp}: Path-MTU black hole (Packet Too Big lost)",
                    t.label,
                    family_name(fam),
                    why(c)
                );
                add(Severity::Warning, "V6Mon::PMTU_Blackhole", "PMTUBlackhole", Some(fam), Some(c), msg);
            } else {
                let msg = format!("{}: the large response over {} failed: {}{cmp}", t.label, family_name(fam), why(c));
                add(Severity::Warning, "V6Mon::Large_Response_Failed", "LargeResponseFailed", Some(fam), Some(c), msg);
            }
        }
    }
    let cert = |fam: u8| of(fam, "tls").find(|c| c.ok).and_then(|c| c.cert_sha256.clone());
    if let (Some(a), Some(b)) = (cert(6), cert(4)) {
        if a != b {
            let msg = format!(
                "{}: the server certificate over IPv6 ({}…) is not the one over IPv4 ({}…)",
                t.label,
                &a[..12.min(a.len())],
                &b[..12.min(b.len())]
            );
            add(Severity::Info, "V6Mon::TLS_Certificate_Differs", "TLSCertificateDiffers", None, None, msg);
        }
    }
    let status = |fam: u8| of(fam, "http").find_map(|c| c.status);
    if let (Some(a), Some(b)) = (status(6), status(4)) {
        if a != b && failed(6, "http").is_none() && failed(4, "http").is_none() {
            add(
                Severity::Info,
                "V6Mon::HTTP_Status_Differs",
                "HTTPStatusDiffers",
                None,
                None,
                format!("{}: HTTP status {a} over IPv6, {b} over IPv4", t.label),
            );
        }
    }

    // The race: what a Happy Eyeballs client would live through.
    if let Some(r) = checks.iter().find(|c| c.phase == "race" && c.ok && c.family == 4) {
        let took = r.duration_s.unwrap_or(0.0);
        if let Some(c6) = failed(6, "connect") {
            let msg = format!(
                "{}: a Happy Eyeballs client falls back to IPv4 (connected after {:.0} ms; IPv6: {})",
                t.label,
                took * 1e3,
                why(c6)
            );
            add(Severity::Warning, "V6Mon::IPv6_Fallback", "IPv6FallbackSpike", Some(6), Some(c6), msg);
        } else {
            let msg = format!(
                "{}: IPv4 won the race after {:.0} ms: IPv6 answers more slowly than the head start",
                t.label,
                took * 1e3
            );
            add(Severity::Info, "V6Mon::IPv6_Race_Lost", "IPv6RaceLost", Some(6), Some(r), msg);
        }
    }
}

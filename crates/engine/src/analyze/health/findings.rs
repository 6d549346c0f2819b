//! Findings: the rules' occurrences folded into one deduplicated, severity-ranked list (what an
//! operator reads first), each with its evidence and a hint.

use super::index::Index;
use super::*;

/// Folds occurrences into deduplicated findings.
#[derive(Default)]
struct Notices {
    list: Vec<Finding>,
    index: HashMap<String, usize>,
}

impl Notices {
    #[allow(clippy::too_many_arguments)]
    fn raise(
        &mut self,
        severity: Severity,
        note: &'static str,
        alert: &'static str,
        sensor: &str,
        service: Option<String>,
        family: Option<u8>,
        client: Option<String>,
        ts: i64,
        uid: &str,
        msg: impl FnOnce() -> String,
    ) {
        let identifier = format!(
            "{note}|{sensor}|{}|{}|{}",
            service.as_deref().unwrap_or(""),
            family.map_or(String::new(), |f| f.to_string()),
            client.as_deref().unwrap_or("")
        );
        if let Some(f) = self.index.get(&identifier).map(|&i| &mut self.list[i]) {
            f.n += 1;
            f.first_ts = f.first_ts.min(ts);
            f.last_ts = f.last_ts.max(ts);
            if f.uids.len() < 5 && !uid.is_empty() {
                f.uids.push(uid.to_string());
            }
            return;
        }
        self.index.insert(identifier.clone(), self.list.len());
        self.list.push(Finding {
            severity,
            note,
            alert,
            msg: msg(),
            sensor: sensor.to_string(),
            service,
            family,
            client,
            n: 1,
            first_ts: ts,
            last_ts: ts,
            identifier,
            uids: if uid.is_empty() { vec![] } else { vec![uid.to_string()] },
            source: "capture",
            address: None,
        });
    }
}

/// The `info` form of IPv6_Fallback: fallbacks too few (or too close to IPv6 successes) for
/// the warning, each still counted and shown with what it cost.
fn fallback_info(n: &mut Notices, sensor: &str, svc: &str, all: &[&Fallback], n6: u64, p: &Params) {
    let kinds: Vec<String> = FallbackKind::ALL
        .iter()
        .filter_map(|k| {
            let c = all.iter().filter(|f| f.kind == *k).count();
            (c > 0).then(|| format!("{} {c}", k.name()))
        })
        .collect();
    let longest = all.iter().map(|f| f.delay_ns).max().unwrap_or(0);
    let nearby = all.iter().all(|f| f.v6_worked_nearby);
    for f in all {
        n.raise(
            Severity::Info,
            "V6Mon::IPv6_Fallback",
            "IPv6Fallback",
            sensor,
            Some(svc.to_string()),
            Some(6),
            None,
            f.v6_ts,
            &f.v6_uid,
            || {
                let k = all.len();
                let mut m = format!(
                    "{svc}: {k} of {n6} IPv6 attempt{} fell back to IPv4 ({}; longest wait {} ms)",
                    if n6 == 1 { "" } else { "s" },
                    kinds.join(", "),
                    longest / MS
                );
                if nearby {
                    m.push_str("; IPv6 also worked nearby");
                } else {
                    m.push_str(&format!("; a warning from {} fallbacks", p.fallback_min));
                }
                m
            },
        );
    }
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

#[allow(clippy::too_many_arguments)]
/// Folds every rule's occurrences into findings, worst first.
pub(super) fn findings(
    r: &HealthReport,
    aaaa_answers: &[(String, Addr)],
    notable: &[(String, Addr, i64, String)],
    ix: &Index<'_>,
    sensors: &[String],
    p: &Params,
    intel: &crate::analyze::addr::Intel,
) -> Vec<Finding> {
    let mut n = Notices::default();
    let attempts = ix.attempts;
    let mut v4_ok_names: hashbrown::HashSet<(&str, &str)> = hashbrown::HashSet::new();
    for (si, a) in attempts.iter().filter(|(_, a)| a.family == 4 && a.ok()) {
        if let Some(name) = a.name.as_deref() {
            v4_ok_names.insert((sensors[usize::from(*si)].as_str(), name));
        }
    }
    per_service(&mut n, r, ix, sensors, p);
    pmtu(&mut n, r, &v4_ok_names);
    aaaa(&mut n, r, aaaa_answers, p);
    changes_and_peers(&mut n, r, notable, intel);
    let mut list = n.list;
    list.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then(a.first_ts.cmp(&b.first_ts)).then(a.identifier.cmp(&b.identifier))
    });
    list
}

/// Per service: IPv6 down while IPv4 works, IPv6 below IPv4, fallbacks, refusals.
fn per_service(n: &mut Notices, r: &HealthReport, ix: &Index<'_>, sensors: &[String], p: &Params) {
    let attempts = ix.attempts;
    // Every fallback per service, and those where IPv6 did not work nearby (the warning's
    // evidence: a fallback next to IPv6 successes is more likely a lost packet).
    let mut fb_all: HashMap<(&str, &str, u16), Vec<&Fallback>> = HashMap::new();
    for f in &r.fallbacks {
        fb_all.entry((f.sensor.as_str(), f.service.as_str(), f.port)).or_default().push(f);
    }
    let refused: hashbrown::HashSet<&str> = r.refused_v6.iter().map(String::as_str).collect();
    for (key, idx) in ix.services() {
        let sensor = &sensors[usize::from(key.0)];
        // Every rule here needs an IPv6 attempt or a fallback: most services of a busy
        // sensor (an address a scan touched) have neither.
        let all: &[&Fallback] = fb_all.get(&(sensor.as_str(), key.1.as_str(), key.2)).map_or(&[], Vec::as_slice);
        if all.is_empty() && !idx.iter().any(|&j| attempts[j].1.family == 6) {
            continue;
        }
        let svc = format!("{}:{}", key.1, key.2);
        let list: Vec<&Attempt> = idx.iter().map(|&j| &attempts[j].1).collect();
        let v4: Vec<&&Attempt> = list.iter().filter(|a| a.family == 4).collect();
        let v6: Vec<&&Attempt> = list.iter().filter(|a| a.family == 6).collect();
        let (n4, ok4) = (v4.len() as u64, v4.iter().filter(|a| a.ok()).count() as u64);
        let (n6, ok6) = (v6.len() as u64, v6.iter().filter(|a| a.ok()).count() as u64);
        // IPv6_Service_Down: a run of failed IPv6 attempts while IPv4 succeeded meanwhile.
        let mut run: Vec<&Attempt> = Vec::new();
        let flush = |run: &mut Vec<&Attempt>, n: &mut Notices| {
            if run.len() as u64 >= p.down_attempts {
                let (from, to) = (run[0].ts, run[run.len() - 1].ts);
                let v4_ok =
                    v4.iter().any(|b| b.ok() && b.ts >= from && b.ts <= to.saturating_add(p.fallback_window_ns));
                if v4_ok {
                    let k = run.len();
                    for a in run.iter() {
                        n.raise(
                            Severity::Critical,
                            "V6Mon::IPv6_Service_Down",
                            "IPv6ServiceDown",
                            sensor,
                            Some(svc.clone()),
                            Some(6),
                            None,
                            a.ts,
                            &a.uid,
                            || format!("IPv6 to {svc} failed {k}/{k} times in a row while IPv4 worked"),
                        );
                    }
                }
            }
            run.clear();
        };
        for a in &v6 {
            if a.ok() {
                flush(&mut run, n);
            } else if a.outcome.failed() {
                run.push(a);
            }
        }
        flush(&mut run, n);
        // IPv6_Success_Below_IPv4: significant, not just different.
        if n6 >= p.below_min_attempts && n4 > 0 {
            let (r4, r6) = (ok4 as f64 / n4 as f64, ok6 as f64 / n6 as f64);
            let (_, hi6) = wilson(ok6, n6);
            let (lo4, _) = wilson(ok4, n4);
            if r4 - r6 > p.below_gap && hi6 < lo4.max(r4 - p.below_gap) {
                let last = v6.last().map_or(0, |a| a.ts);
                n.raise(
                    Severity::Warning,
                    "V6Mon::IPv6_Success_Below_IPv4",
                    "IPv6SuccessBelowIPv4",
                    sensor,
                    Some(svc.clone()),
                    Some(6),
                    None,
                    last,
                    "",
                    || format!("{svc}: IPv6 succeeded {ok6}/{n6} ({}) vs IPv4 {ok4}/{n4} ({})", pct(r6), pct(r4)),
                );
            }
        }
        // IPv6_Fallback and IPv6_Slow_Fallback.
        let fbs: Vec<&Fallback> = all.iter().copied().filter(|f| !f.v6_worked_nearby).collect();
        let real = fbs.iter().filter(|f| f.kind != FallbackKind::RaceLost).count() as u64;
        if real >= p.fallback_min && n6 > 0 && real as f64 / n6 as f64 > p.fallback_ratio {
            let delays: Vec<i64> = {
                let mut d: Vec<i64> = fbs.iter().map(|f| f.delay_ns).collect();
                d.sort_unstable();
                d
            };
            let med = quantile(&delays, 0.5).unwrap_or(0);
            for f in &fbs {
                n.raise(
                    Severity::Warning,
                    "V6Mon::IPv6_Fallback",
                    "IPv6FallbackSpike",
                    sensor,
                    Some(svc.clone()),
                    Some(6),
                    None,
                    f.v6_ts,
                    &f.v6_uid,
                    || format!("{svc}: {real} of {n6} IPv6 attempts fell back to IPv4 (median wait {} ms)", med / MS),
                );
            }
        } else if !all.is_empty() {
            // Below the warning's evidence, still seen: one fallback is one user who waited.
            fallback_info(n, sensor, &svc, all, n6, p);
        }
        for f in fbs.iter().filter(|f| f.kind == FallbackKind::TimeoutSlow) {
            let worst =
                fbs.iter().filter(|f| f.kind == FallbackKind::TimeoutSlow).map(|f| f.delay_ns).max().unwrap_or(0);
            n.raise(
                Severity::Warning,
                "V6Mon::IPv6_Slow_Fallback",
                "IPv6SlowFallback",
                sensor,
                Some(svc.clone()),
                Some(6),
                None,
                f.v6_ts,
                &f.v6_uid,
                || format!("{svc}: users waited up to {:.1} s for IPv6 to time out before IPv4", worst as f64 / 1e9),
            );
        }
        // Rejected over IPv6 (ICMP destination unreachable) while IPv4 to the service works:
        // a router or firewall said no, which does not go away by retrying. A warning even once.
        if ok4 > 0 {
            for a in v6.iter().filter(|a| a.outcome == Outcome::IcmpUnreach) {
                let Some((_, code, from)) = a.icmp else { continue };
                n.raise(
                    Severity::Warning,
                    "V6Mon::IPv6_Rejected",
                    "IPv6Rejected",
                    sensor,
                    Some(svc.clone()),
                    Some(6),
                    None,
                    a.ts,
                    &a.uid,
                    || {
                        let why = icmp::v6::unreach_reason(code);
                        format!("{svc}: IPv6 rejected by {from} (ICMPv6 {why}) while IPv4 works")
                    },
                );
            }
        }
        // Refused over IPv6 while IPv4 works: AAAA published, service not listening on IPv6.
        for a in v6.iter().filter(|a| refused.contains(a.uid.as_str())) {
            n.raise(
                Severity::Warning,
                "V6Mon::IPv6_Refused",
                "IPv6Refused",
                sensor,
                Some(svc.clone()),
                Some(6),
                None,
                a.ts,
                &a.uid,
                || format!("{svc} refuses IPv6 connections (RST) while IPv4 works: AAAA published, nothing listening"),
            );
        }
    }
}

/// Path-MTU black holes and Packet Too Big handling (rule c).
fn pmtu(n: &mut Notices, r: &HealthReport, v4_ok_names: &hashbrown::HashSet<(&str, &str)>) {
    for b in &r.pmtu {
        let svc = format!("{}:{}", b.service, b.port);
        let v4_healthy = v4_ok_names.contains(&(b.sensor.as_str(), b.service.as_str()));
        // Every PMTU finding names the same service, family and connection; the state picks
        // the note and the message.
        let (severity, note, alert) = match b.state {
            PmtuState::Suspected | PmtuState::Stalled => {
                let sev = if v4_healthy && b.confidence == "high" { Severity::Warning } else { Severity::Info };
                (sev, "V6Mon::PMTU_Blackhole", "PMTUBlackhole")
            }
            PmtuState::Recovered => (Severity::Info, "V6Mon::PMTU_Blackhole_Recovered", "PMTUBlackholeRecovered"),
            PmtuState::PtbIgnored => (Severity::Info, "V6Mon::PTB_Ignored", "PTBIgnored"),
            PmtuState::InvalidPtb => (Severity::Warning, "V6Mon::Invalid_PTB", "InvalidPTB"),
            PmtuState::PmtudOk => continue,
        };
        n.raise(severity, note, alert, &b.sensor, Some(svc.clone()), Some(6), None, b.ts, &b.uid, || match b.state {
            PmtuState::Recovered => format!(
                "{svc}: black hole for {}-byte packets, recovered with smaller segments after {:.1} s",
                b.size,
                b.stall_ns as f64 / 1e9
            ),
            PmtuState::PtbIgnored => format!(
                "{svc}: Packet Too Big (MTU {}) ignored, {}-byte packets still sent",
                b.ptb_mtu.unwrap_or(0),
                b.size
            ),
            PmtuState::InvalidPtb => format!("{svc}: Packet Too Big announced MTU {} < 1280 (RFC 8201)", b.size),
            _ if b.side == "sender" => format!(
                "{svc}: {}-byte IPv6 packets retransmitted with no progress and no Packet Too Big: Path-MTU black hole",
                b.size
            ),
            _ => format!(
                "{svc}: over IPv6 the request went through, then no full-size packet arrived for {:.0} s (server MSS {}){}: Path-MTU black hole",
                b.stall_ns as f64 / 1e9,
                b.size,
                if v4_healthy { " while IPv4 transfers worked" } else { "" }
            ),
        });
    }
}

/// Bogus AAAA answers per name, unused AAAA answers per host (rule d).
fn aaaa(n: &mut Notices, r: &HealthReport, aaaa_answers: &[(String, Addr)], p: &Params) {
    // Bogus_AAAA per name; AAAA_Unused per host when most of its AAAA answers went unused
    // (transition-only hosts are expected to prefer IPv4, RFC 6724).
    let mut answered: HashMap<(&str, Addr), u64> = HashMap::new();
    for (sensor, client) in aaaa_answers {
        *answered.entry((sensor.as_str(), *client)).or_default() += 1;
    }
    let mut unused_by_host: HashMap<(&str, Addr), Vec<&AaaaUnused>> = HashMap::new();
    for u in &r.aaaa_unused {
        if u.reason == "bogus_aaaa" {
            n.raise(
                Severity::Warning,
                "V6Mon::Bogus_AAAA",
                "BogusAAAA",
                &u.sensor,
                Some(u.name.clone()),
                Some(6),
                None,
                u.ts,
                &u.v4_uid,
                || format!("{}: AAAA records cannot work (mapped, documentation, link-local or ULA addresses)", u.name),
            );
        }
        if u.reason != "transition_only" {
            unused_by_host.entry((u.sensor.as_str(), u.client)).or_default().push(u);
        }
    }
    let mut hosts: Vec<_> = unused_by_host.keys().cloned().collect();
    hosts.sort_by(|a, b| (a.0, a.1.to_string()).cmp(&(b.0, b.1.to_string())));
    for h in hosts {
        let list = &unused_by_host[&h];
        let total = answered.get(&h).copied().unwrap_or(0).max(list.len() as u64);
        if (list.len() as f64) / (total as f64) <= p.aaaa_unused_ratio {
            continue;
        }
        let mut reasons: Vec<&str> = list.iter().map(|u| u.reason).collect();
        reasons.sort();
        reasons.dedup();
        for u in list {
            n.raise(
                Severity::Info,
                "V6Mon::AAAA_Unused",
                "AAAAUnused",
                h.0,
                None,
                None,
                Some(h.1.to_string()),
                u.ts,
                &u.v4_uid,
                || {
                    format!(
                        "{} received AAAA answers but connected over IPv4 ({}/{} answers; {})",
                        h.1,
                        list.len(),
                        total,
                        reasons.join(", ")
                    )
                },
            );
        }
    }
}

/// Services that changed family (rule f), broken return paths (rule e), and first sightings of
/// peers whose address gives something away.
fn changes_and_peers(
    n: &mut Notices,
    r: &HealthReport,
    notable: &[(String, Addr, i64, String)],
    intel: &crate::analyze::addr::Intel,
) {
    for e in &r.service_events {
        let (note, alert) = match e.kind {
            "service_switched_to_v6" => ("V6Mon::Service_Switched_To_IPv6", "ServiceSwitchedToIPv6"),
            "service_fell_back_to_v4" => ("V6Mon::Service_Fell_Back_To_IPv4", "ServiceFellBackToIPv4"),
            "service_gained_aaaa" => ("V6Mon::Service_Gained_AAAA", "ServiceGainedAAAA"),
            _ => ("V6Mon::Service_Lost_AAAA", "ServiceLostAAAA"),
        };
        let svc = if e.port == 0 { e.service.clone() } else { format!("{}:{}", e.service, e.port) };
        n.raise(Severity::Info, note, alert, &e.sensor, Some(svc.clone()), None, None, e.ts, &e.uid, || match e.kind {
            "service_switched_to_v6" => format!("{svc} switched to IPv6"),
            "service_fell_back_to_v4" => format!("{svc} went back to IPv4"),
            "service_gained_aaaa" => format!("{svc} started answering AAAA"),
            _ => format!("{svc} stopped answering AAAA"),
        });
    }
    for rp in &r.return_path {
        n.raise(
            Severity::Info,
            "V6Mon::Return_Path_Broken",
            "ReturnPathBroken",
            &rp.sensor,
            None,
            Some(6),
            Some(rp.client_class.to_string()),
            rp.ts,
            &rp.uid,
            || {
                format!(
                    "inbound IPv6 handshakes from {} clients never completed: our SYN-ACK did not get back",
                    rp.client_class
                )
            },
        );
    }
    // First sighting of peers whose address gives something away (RFC 7721, DOMAIN.md §4.3).
    for (sensor, a, ts, uid) in notable {
        let info = intel.describe(a);
        let detail = info.details.first().cloned().unwrap_or_default();
        if is_eui64(a) {
            n.raise(
                Severity::Info,
                "V6Mon::EUI64_Peer",
                "EUI64Peer",
                sensor,
                None,
                Some(6),
                Some(a.to_string()),
                *ts,
                uid,
                || format!("{a} embeds its MAC address ({detail}): trackable across networks"),
            );
        } else {
            n.raise(
                Severity::Info,
                "V6Mon::Transition_Peer",
                "TransitionPeer",
                sensor,
                None,
                Some(6),
                Some(a.to_string()),
                *ts,
                uid,
                || format!("{a} is a {} address ({detail})", info.block),
            );
        }
    }
}

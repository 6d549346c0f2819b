//! The detection rules (a)-(f) of DOMAIN.md §3.3, one function each, run by
//! [`Health::finish`] in this order over the time-ordered attempts and answers (a later rule may
//! read what an earlier one found: (d) reads (a)'s fallbacks).

use super::index::Index;
use super::*;

/// (a) IPv6 failed (or lost the race), then IPv4 to the same name within the fallback window.
pub(super) fn fallbacks(h: &Health, ix: &Index<'_>, p: &Params, r: &mut HealthReport) {
    let attempts = ix.attempts;
    for (key, idx) in ix.services() {
        if key.1.starts_with('[') {
            continue; // rule (a) needs a name binding
        }
        for (pos, &i) in idx.iter().enumerate() {
            let v6 = &attempts[i].1;
            if v6.family != 6 || !(v6.outcome.failed() || v6.outcome == Outcome::LateSynack) {
                continue;
            }
            let v4 = idx[pos + 1..]
                .iter()
                .map(|&j| &attempts[j].1)
                .find(|b| b.family == 4 && b.ts >= v6.ts && b.ts.saturating_sub(v6.ts) <= p.fallback_window_ns);
            let Some(v4) = v4 else { continue };
            let delay = v4.ts.saturating_sub(v6.ts);
            let kind = if v6.synack_ts.is_some_and(|s| s > v4.ts) {
                FallbackKind::RaceLost
            } else if v6.error_ts.is_some_and(|e| v4.ts >= e && v4.ts.saturating_sub(e) <= p.error_window_ns)
                && matches!(v6.outcome, Outcome::Refused | Outcome::IcmpUnreach | Outcome::IcmpOther)
            {
                FallbackKind::ErrorTriggered
            } else if (p.he_fast_min_ns..=p.he_fast_max_ns).contains(&delay) {
                FallbackKind::HeFast
            } else if delay > p.he_fast_max_ns && v6.syns >= 2 {
                FallbackKind::TimeoutSlow
            } else {
                continue;
            };
            let v6_worked_nearby = idx
                .iter()
                .map(|&j| &attempts[j].1)
                .any(|b| b.family == 6 && b.ok() && b.ts.saturating_sub(v6.ts).saturating_abs() <= p.nearby_success_ns);
            r.fallbacks.push(Fallback {
                sensor: h.sensors[usize::from(key.0)].clone(),
                service: key.1.clone(),
                port: key.2,
                kind,
                v6_ts: v6.ts,
                v4_ts: v4.ts,
                delay_ns: delay,
                v6_outcome: v6.outcome,
                v6_uid: v6.uid.clone(),
                v4_uid: v4.uid.clone(),
                v6_worked_nearby,
            });
        }
    }
}

/// (b) IPv6 refused where IPv4 to the same port works.
pub(super) fn refused(ix: &Index<'_>, r: &mut HealthReport) {
    let attempts = ix.attempts;
    for (_, idx) in ix.services() {
        let v4_ok = idx.iter().any(|&j| attempts[j].1.family == 4 && attempts[j].1.ok());
        if v4_ok {
            for &j in idx {
                let a = &attempts[j].1;
                if a.family == 6 && a.outcome == Outcome::Refused && !a.rst_injected {
                    r.refused_v6.push(a.uid.clone());
                }
            }
        }
    }
}

/// (c) Path-MTU black holes, from the sender side (a segment resent without progress, Packet
/// Too Big handling) and the receiver side (silence after the request).
pub(super) fn pmtu(h: &Health, ix: &Index<'_>, p: &Params, r: &mut HealthReport) {
    let attempts = ix.attempts;
    let named = |si: u16, name: &str, from: i64, to: i64| ix.named(si, name, from, to);
    let service_of = |rec: &FlowRecord| service_label(rec.server_name.as_deref(), &rec.resp_h);
    for (si, rec) in &h.pmtu_flows {
        let t = rec.tcp.unwrap_or_default();
        let ptb = rec.icmp_errors.iter().find(|e| e.version == 6 && e.icmp_type == icmp::v6::PACKET_TOO_BIG);
        let sensor = h.sensors[usize::from(*si)].clone();
        let mk = |state, side, ts, stall_ns, size, confidence| Pmtu {
            sensor: sensor.clone(),
            uid: rec.uid.clone(),
            service: service_of(rec),
            port: rec.resp_p,
            state,
            side,
            ts,
            stall_ns,
            size,
            ptb_mtu: ptb.map(|e| e.mtu),
            confidence,
        };
        if let Some(e) = ptb.filter(|e| e.mtu < 1280) {
            r.pmtu.push(mk(PmtuState::InvalidPtb, "sender", e.ts, 0, e.mtu, "high"));
            continue;
        }
        // Sender side: the worse of the two directions' retransmission runs.
        let stall = if t.orig_stall.sends >= t.resp_stall.sends { t.orig_stall } else { t.resp_stall };
        if stall.sends >= p.blackhole_sends && stall.ip_len > 1280 {
            let verdict = match ptb {
                Some(e) if stall.last_ts > e.ts && stall.ip_len > e.mtu => PmtuState::PtbIgnored,
                Some(e) if e.ts <= stall.last_ts.saturating_add(p.ptb_wait_ns) => PmtuState::PmtudOk,
                _ if stall.recovered_ts.is_some() => PmtuState::Recovered,
                _ => PmtuState::Suspected,
            };
            let end = stall.recovered_ts.unwrap_or(rec.last_ts);
            r.pmtu.push(mk(
                verdict,
                "sender",
                stall.first_ts,
                end.saturating_sub(stall.first_ts),
                stall.ip_len,
                "high",
            ));
            continue;
        }
        if let Some(e) = ptb {
            r.pmtu.push(mk(PmtuState::PmtudOk, "sender", e.ts, 0, e.mtu, "high"));
            continue;
        }
        // Receiver side: request sent and acknowledged, then silence from the server.
        if rec.role != Role::Outbound || t.ack_ts.is_none() {
            continue;
        }
        let Some((_, req_last)) = t.orig_data else { continue };
        let server_fin = rec.history.contains('f');
        let last_server = t.resp_data.map_or(req_last, |d| d.1.max(req_last));
        let silence = rec.last_ts.saturating_sub(last_server);
        let full_size_seen = t.resp_max_ip_len > 1280;
        if server_fin || full_size_seen || silence < p.stall_ns || rec.resp.pkts == 0 {
            continue;
        }
        // Confirmation: IPv4 to the same name moved at least two MSS soon after or before.
        let mss = u64::from(rec.resp_mss.unwrap_or(1220));
        let v4_moved = rec.server_name.as_ref().is_some_and(|n| {
            let (from, to) = (rec.ts.saturating_sub(p.v4_compare_ns), rec.ts.saturating_add(p.v4_compare_ns));
            named(*si, &n.to_ascii_lowercase(), from, to)
                .iter()
                .map(|&j| &attempts[j].1)
                .any(|b| b.family == 4 && b.ok() && b.resp_bytes >= 2 * mss)
        });
        let confidence = if v4_moved && rec.resp_mss.unwrap_or(0) > 1220 { "high" } else { "low" };
        r.pmtu.push(mk(
            PmtuState::Stalled,
            "receiver",
            last_server,
            silence,
            u32::from(rec.resp_mss.unwrap_or(0)),
            confidence,
        ));
    }
    r.pmtu.sort_by(|a, b| (a.ts, &a.uid).cmp(&(b.ts, &b.uid)));
}

/// (d) AAAA answered but not used: IPv4 to the name soon after, no IPv6 attempt.
pub(super) fn aaaa_unused(h: &Health, ix: &Index<'_>, p: &Params, r: &mut HealthReport) {
    let attempts = ix.attempts;
    let named = |si: u16, name: &str, from: i64, to: i64| ix.named(si, name, from, to);
    for ans in h.answers.iter().filter(|a| a.qtype == rtype::AAAA && !a.addrs.is_empty()) {
        let si = ans.sensor;
        let v4 = named(si, &ans.name, ans.query_ts, ans.ts.saturating_add(p.aaaa_use_ns))
            .iter()
            .map(|&j| &attempts[j].1)
            .find(|b| b.family == 4);
        let Some(v4) = v4 else { continue };
        let (from, to) = (ans.ts.saturating_sub(SEC), ans.ts.saturating_add(p.aaaa_use_ns));
        let v6_tried = named(si, &ans.name, from, to).iter().any(|&j| attempts[j].1.family == 6)
            || ans.addrs.iter().any(|a| ix.v6_tried(si, *a, from, to));
        if v6_tried {
            continue;
        }
        let facts = &h.facts[usize::from(si)];
        let reason = if !facts.global_v6.0 && !facts.global_v6.1 {
            "no_global_v6"
        } else if !facts.global_v6.0 {
            "transition_only"
        } else if ans.addrs.iter().all(is_bogus_aaaa) {
            "bogus_aaaa"
        } else if v4.ts < ans.ts {
            "aaaa_late"
        } else if r
            .fallbacks
            .iter()
            .any(|f| f.service == ans.name && f.v6_ts <= ans.ts && ans.ts.saturating_sub(f.v6_ts) <= p.he_cache_ns)
        {
            "he_cached"
        } else {
            "app_v4_only"
        };
        r.aaaa_unused.push(AaaaUnused {
            sensor: h.sensors[usize::from(si)].clone(),
            name: ans.name.clone(),
            ts: ans.ts,
            client: ans.client,
            reason,
            v4_uid: v4.uid.clone(),
        });
    }
}

/// (e) Return path broken: inbound IPv6 connections the sensor never answered.
pub(super) fn return_path(h: &Health, r: &mut HealthReport) {
    for (si, rec) in &h.inbound {
        r.return_path.push(ReturnPath {
            sensor: h.sensors[usize::from(*si)].clone(),
            uid: rec.uid.clone(),
            ts: rec.ts,
            client: rec.orig_h,
            client_class: client_class(&rec.orig_h),
            port: rec.resp_p,
        });
    }
}

/// (f) Services changing family: the DNS side per name (AAAA gained or lost), the connection
/// side per service (switched to IPv6, fell back to IPv4). Returns each name's AAAA span.
pub(super) fn family_changes<'h>(
    h: &'h Health,
    ix: &Index<'_>,
    p: &Params,
    r: &mut HealthReport,
) -> HashMap<(u16, &'h str), (i64, i64)> {
    let attempts = ix.attempts;
    let mut per_name: HashMap<(u16, &str), Vec<&Answer>> = HashMap::new();
    for a in &h.answers {
        per_name.entry((a.sensor, a.name.as_str())).or_default().push(a);
    }
    let mut names: Vec<_> = per_name.keys().cloned().collect();
    names.sort();
    let mut aaaa_span: HashMap<(u16, &str), (i64, i64)> = HashMap::new();
    for key in &names {
        let list = &per_name[key];
        let sensor = &h.sensors[usize::from(key.0)];
        let mut a_only_since: Option<i64> = None;
        let mut have_aaaa = false;
        for a in list {
            let is_aaaa = a.qtype == rtype::AAAA && !a.addrs.is_empty();
            let empty_aaaa = a.qtype == rtype::AAAA && a.addrs.is_empty();
            if is_aaaa {
                let e = aaaa_span.entry(*key).or_insert((a.ts, a.ts));
                e.1 = a.ts;
                if !have_aaaa && a_only_since.is_some_and(|s| a.ts.saturating_sub(s) >= p.gained_after_ns) {
                    r.service_events.push(service_event(sensor, "service_gained_aaaa", key.1, 0, a.ts, &a.uid));
                }
                have_aaaa = true;
                a_only_since = None;
            } else if empty_aaaa {
                if have_aaaa {
                    r.service_events.push(service_event(sensor, "service_lost_aaaa", key.1, 0, a.ts, &a.uid));
                    have_aaaa = false;
                }
                a_only_since.get_or_insert(a.ts);
            }
        }
    }
    for (key, idx) in ix.services() {
        if key.1.starts_with('[') {
            continue;
        }
        let sensor = &h.sensors[usize::from(key.0)];
        let mut had_v4_ok = false;
        let mut switched = false;
        let mut recent: std::collections::VecDeque<(i64, bool)> = Default::default();
        let mut high = false;
        for &i in idx {
            let a = &attempts[i].1;
            if !a.ok() {
                continue;
            }
            if a.family == 6 && had_v4_ok && !switched {
                switched = true;
                r.service_events.push(service_event(sensor, "service_switched_to_v6", &key.1, key.2, a.ts, &a.uid));
            }
            had_v4_ok |= a.family == 4;
            recent.push_back((a.ts, a.family == 6));
            while recent.len() > p.share_attempts
                || recent.front().is_some_and(|f| a.ts.saturating_sub(f.0) > p.share_window_ns)
            {
                recent.pop_front();
            }
            let share = recent.iter().filter(|x| x.1).count() as f64 / recent.len() as f64;
            if share > 0.5 {
                high = true;
            } else if high && share < 0.1 {
                high = false;
                switched = false;
                r.service_events.push(service_event(sensor, "service_fell_back_to_v4", &key.1, key.2, a.ts, &a.uid));
            }
        }
    }
    r.service_events.sort_by(|a, b| (a.ts, a.kind, &a.service).cmp(&(b.ts, b.kind, &b.service)));
    aaaa_span
}

fn service_event(sensor: &str, kind: &'static str, service: &str, port: u16, ts: i64, uid: &str) -> ServiceEvent {
    ServiceEvent { sensor: sensor.to_string(), kind, service: service.to_string(), port, ts, uid: uid.to_string() }
}

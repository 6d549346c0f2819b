//! IPv6-health rules (DOMAIN.md §3.3) on hand-built packet sequences: each test plays one
//! client behaviour through the decoder and the flow table, then checks the outcome, the rule
//! that fired and the severity of the finding.

use std::net::IpAddr;
use synth::{flags::*, Builder, Encap, L4};
use v6watch_engine::analyze::health::{FallbackKind, Health, HealthReport, Outcome, Params, PmtuState, Severity};
use v6watch_engine::decode::{Addr, Decoder};
use v6watch_engine::flow::{Config, FlowTable};
use v6watch_engine::model::{AppEvent, DnsAnswer, DnsEvent, FlowRecord, Role};

const C6: &str = "2001:db8:1::10";
const C4: &str = "192.0.2.10";
const S6: &str = "2a02:2e0:3fe:1001::80";
const S4: &str = "198.51.100.80";
const ROUTER: &str = "2001:db8:1::1";
const NAME: &str = "svc.example";
const T0: i64 = 1_300_000_000_000_000_000;

struct Lab {
    b: Builder,
    dec: Decoder,
    table: FlowTable,
    out: Vec<FlowRecord>,
    dns: Vec<DnsEvent>,
    port: u16,
}

fn ts(ms: i64) -> i64 {
    T0 + ms * 1_000_000
}

impl Lab {
    fn new() -> Lab {
        Lab {
            b: Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]),
            dec: Decoder::default(),
            table: FlowTable::new(Config::default()),
            out: vec![],
            dns: vec![],
            port: 40_000,
        }
    }
    fn pkt(&mut self, ms: i64, src: &str, dst: &str, l4: L4<'_>) {
        let (s, d): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
        let frame = self.b.frame(s, d, &l4, Encap::None, 1).to_vec();
        let dd = self.dec.decode(ts(ms), 1, &frame);
        self.table.tick(ts(ms), &mut self.out);
        self.table.process(ts(ms), &dd, &mut self.out);
    }
    fn next_port(&mut self) -> u16 {
        self.port += 1;
        self.port
    }
    /// A complete exchange from `c` to `s`: handshake at `ms`, request, `n` response segments.
    fn ok(&mut self, ms: i64, c: &str, s: &str, n: u32) {
        let p = self.next_port();
        self.pkt(ms, c, s, L4::tcp(p, 443, 100, 0, SYN, 1440, &[]));
        self.pkt(ms + 20, s, c, L4::tcp(443, p, 900, 101, SYN | ACK, 1440, &[]));
        self.pkt(ms + 21, c, s, L4::tcp(p, 443, 101, 901, ACK, 1440, &[]));
        self.pkt(ms + 22, c, s, L4::tcp(p, 443, 101, 901, ACK | PSH, 1440, b"GET / HTTP/1.1\r\n\r\n"));
        let body = [0u8; 1200];
        let mut seq = 901u32;
        for k in 0..n {
            self.pkt(ms + 40 + i64::from(k), s, c, L4::tcp(443, p, seq, 119, ACK, 1440, &body));
            seq += 1200;
        }
        self.pkt(ms + 60, c, s, L4::tcp(p, 443, 119, seq, FIN | ACK, 1440, &[]));
        self.pkt(ms + 80, s, c, L4::tcp(443, p, seq, 120, FIN | ACK, 1440, &[]));
        self.pkt(ms + 81, c, s, L4::tcp(p, 443, 120, seq + 1, ACK, 1440, &[]));
    }
    /// SYNs at each offset in `syns`, never answered.
    fn unanswered(&mut self, ms: i64, c: &str, s: &str, syns: &[i64]) -> u16 {
        let p = self.next_port();
        for &o in syns {
            self.pkt(ms + o, c, s, L4::tcp(p, 443, 5000, 0, SYN, 1440, &[]));
        }
        p
    }
    fn aaaa_answer(&mut self, ms: i64, client: &str, addrs: &[&str]) {
        self.dns.push(DnsEvent {
            ts: ts(ms),
            uid: format!("D{ms}"),
            client: Addr::from_ip(client.parse().unwrap()),
            server: Addr::from_ip("192.0.2.1".parse().unwrap()),
            server_port: 53,
            transport: "udp",
            kind: "dns",
            trans_id: 1,
            query: NAME.into(),
            qtype: 28,
            rcode: Some(0),
            rtt_ns: Some(1_000_000),
            answers: addrs
                .iter()
                .map(|a| DnsAnswer {
                    section: "answer",
                    name: NAME.into(),
                    rtype: "AAAA".into(),
                    ttl: 300,
                    data: a.to_string(),
                })
                .collect(),
            response_ts: Some(ts(ms) + 1_000_000),
        });
    }
    /// Flows with roles and names as the pipeline would give them, through the analysis.
    fn health(mut self) -> HealthReport {
        self.table.finish(&mut self.out);
        let mut h = Health::default();
        let ours = [C6, C4].map(|a| Addr::from_ip(a.parse().unwrap()));
        let servers = [S6, S4].map(|a| Addr::from_ip(a.parse().unwrap()));
        for mut f in self.out {
            f.role = if ours.contains(&f.orig_h) { Role::Outbound } else { Role::Inbound };
            if servers.contains(&f.resp_h) {
                f.server_name = Some(NAME.into());
                f.name_source = Some("dns");
            }
            h.flow("lab", &f);
        }
        for d in self.dns {
            h.event("lab", &AppEvent::Dns(d));
        }
        h.finish(&Params::default(), &v6watch_engine::analyze::addr::Intel::builtin())
    }
}

fn outcomes(r: &HealthReport, fam: u8) -> Vec<(&'static str, u64)> {
    r.outcomes.iter().filter(|o| o.0 == fam).map(|o| (o.1, o.2)).collect()
}

fn worst(r: &HealthReport) -> Option<Severity> {
    r.worst()
}

fn notes(r: &HealthReport) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.note).collect()
}

#[test]
fn healthy_dual_stack_raises_nothing_above_info() {
    let mut l = Lab::new();
    for k in 0..30 {
        l.ok(k * 60_000, C6, S6, 3);
        l.ok(k * 60_000 + 30_000, C4, S4, 3);
    }
    let r = l.health();
    assert_eq!(outcomes(&r, 6), vec![("established", 30)]);
    assert_eq!(outcomes(&r, 4), vec![("established", 30)]);
    assert!(r.fallbacks.is_empty() && r.pmtu.is_empty());
    assert!(worst(&r).is_none_or(|s| s == Severity::Info), "{:#?}", r.findings);
    let row = r.services.iter().find(|s| s.family == 6).unwrap();
    assert_eq!((row.attempts, row.successes), (30, 30));
    assert_eq!(row.connect_p50_ns, Some(20_000_000));
}

#[test]
fn silent_drop_then_ipv4_after_retransmissions_is_timeout_slow_and_service_down() {
    let mut l = Lab::new();
    for k in 0..6 {
        let t = k * 600_000;
        l.unanswered(t, C6, S6, &[0, 1000, 3000]);
        l.ok(t + 3250, C4, S4, 2);
    }
    let r = l.health();
    assert_eq!(outcomes(&r, 6), vec![("timeout", 6)]);
    assert_eq!(r.fallbacks.len(), 6);
    assert!(r.fallbacks.iter().all(|f| f.kind == FallbackKind::TimeoutSlow && f.delay_ns == 3_250_000_000));
    assert_eq!(worst(&r), Some(Severity::Critical));
    let n = notes(&r);
    for want in ["V6Mon::IPv6_Service_Down", "V6Mon::IPv6_Fallback", "V6Mon::IPv6_Slow_Fallback"] {
        assert!(n.contains(&want), "{want} missing from {n:?}");
    }
    let down = r.findings.iter().find(|f| f.note == "V6Mon::IPv6_Service_Down").unwrap();
    assert_eq!(down.n, 6, "six occurrences folded into one finding");
    assert_eq!(down.service.as_deref(), Some("svc.example:443"));
}

#[test]
fn happy_eyeballs_fast_fallback_is_he_fast() {
    let mut l = Lab::new();
    for k in 0..4 {
        let t = k * 900_000;
        let p = l.unanswered(t, C6, S6, &[0]);
        l.ok(t + 250, C4, S4, 1);
        // The loser is cancelled by the client.
        l.pkt(t + 400, C6, S6, L4::tcp(p, 443, 5001, 0, RST, 1440, &[]));
    }
    let r = l.health();
    assert_eq!(outcomes(&r, 6), vec![("cancelled", 4)]);
    assert!(r.fallbacks.iter().all(|f| f.kind == FallbackKind::HeFast), "{:?}", r.fallbacks);
    assert_eq!(r.fallbacks.len(), 4);
    assert!(notes(&r).contains(&"V6Mon::IPv6_Fallback"));
    assert!(!notes(&r).contains(&"V6Mon::IPv6_Slow_Fallback"));
}

#[test]
fn icmp_administratively_prohibited_is_error_triggered() {
    let mut l = Lab::new();
    let p = l.unanswered(0, C6, S6, &[0]);
    let mut quoted = Vec::new();
    synth::ip_packet(
        &mut quoted,
        C6.parse().unwrap(),
        S6.parse().unwrap(),
        &L4::tcp(p, 443, 5000, 0, SYN, 1440, &[]),
        0,
        64,
    );
    l.pkt(30, ROUTER, C6, L4::Icmp { icmp_type: 1, code: 1, rest: [0; 4], body: &quoted });
    l.ok(45, C4, S4, 1);
    let r = l.health();
    assert_eq!(outcomes(&r, 6), vec![("icmp_unreach", 1)]);
    assert_eq!(r.fallbacks.len(), 1);
    assert_eq!(r.fallbacks[0].kind, FallbackKind::ErrorTriggered);
    assert_eq!(r.fallbacks[0].v6_outcome, Outcome::IcmpUnreach);
    // Once is enough: a router said no, and IPv4 to the same service works.
    let f = r.findings.iter().find(|f| f.note == "V6Mon::IPv6_Rejected").expect("IPv6_Rejected");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.msg.contains("administratively prohibited") && f.msg.contains(ROUTER), "{}", f.msg);
    // The single fallback is shown too, below warning.
    let fb = r.findings.iter().find(|f| f.note == "V6Mon::IPv6_Fallback").expect("IPv6_Fallback");
    assert_eq!(fb.severity, Severity::Info);
    assert_eq!(worst(&r), Some(Severity::Warning));
}

#[test]
fn icmp_unreachable_without_working_ipv4_is_not_a_rejection_finding() {
    let mut l = Lab::new();
    let p = l.unanswered(0, C6, S6, &[0]);
    let mut quoted = Vec::new();
    let syn = L4::tcp(p, 443, 5000, 0, SYN, 1440, &[]);
    synth::ip_packet(&mut quoted, C6.parse().unwrap(), S6.parse().unwrap(), &syn, 0, 64);
    l.pkt(30, ROUTER, C6, L4::Icmp { icmp_type: 1, code: 0, rest: [0; 4], body: &quoted });
    let r = l.health();
    assert_eq!(outcomes(&r, 6), vec![("icmp_unreach", 1)]);
    assert!(!notes(&r).contains(&"V6Mon::IPv6_Rejected"), "{:#?}", r.findings);
}

#[test]
fn one_happy_eyeballs_fallback_is_an_info_finding() {
    let mut l = Lab::new();
    let p = l.unanswered(0, C6, S6, &[0]);
    l.ok(200, C4, S4, 1);
    l.pkt(400, C6, S6, L4::tcp(p, 443, 5001, 0, RST, 1440, &[]));
    let r = l.health();
    assert_eq!(r.fallbacks.len(), 1);
    let f = r.findings.iter().find(|f| f.note == "V6Mon::IPv6_Fallback").expect("a finding a person sees");
    assert_eq!(f.severity, Severity::Info);
    assert!(f.msg.contains("1 of 1 IPv6 attempt fell back") && f.msg.contains("he_fast 1"), "{}", f.msg);
    assert_eq!(worst(&r), Some(Severity::Info));
}

#[test]
fn late_syn_ack_is_race_lost_not_a_failure() {
    let mut l = Lab::new();
    for k in 0..5 {
        let t = k * 900_000;
        let p = l.unanswered(t, C6, S6, &[0]);
        l.ok(t + 250, C4, S4, 1);
        l.pkt(t + 400, S6, C6, L4::tcp(443, p, 7000, 5001, SYN | ACK, 1440, &[]));
        l.pkt(t + 401, C6, S6, L4::tcp(p, 443, 5001, 0, RST, 1440, &[]));
    }
    let r = l.health();
    assert_eq!(outcomes(&r, 6), vec![("late_synack", 5)]);
    assert!(r.fallbacks.iter().all(|f| f.kind == FallbackKind::RaceLost));
    assert!(worst(&r).is_none_or(|s| s == Severity::Info), "slow IPv6 must not page: {:#?}", r.findings);
}

#[test]
fn refused_over_ipv6_while_ipv4_works_is_flagged() {
    let mut l = Lab::new();
    let p = l.unanswered(0, C6, S6, &[0]);
    l.pkt(20, S6, C6, L4::tcp(443, p, 0, 5001, RST | ACK, 1440, &[]));
    l.ok(30, C4, S4, 1);
    let r = l.health();
    assert_eq!(outcomes(&r, 6), vec![("refused", 1)]);
    assert_eq!(r.refused_v6.len(), 1);
    assert!(notes(&r).contains(&"V6Mon::IPv6_Refused"));
    assert_eq!(r.fallbacks[0].kind, FallbackKind::ErrorTriggered);
}

/// Handshake and request over IPv6; the server's full-size segment is sent again and again.
fn sender_stall(l: &mut Lab, ms: i64, ptb: Option<u32>, recover: bool) {
    let p = l.next_port();
    l.pkt(ms, C6, S6, L4::tcp(p, 443, 100, 0, SYN, 1440, &[]));
    l.pkt(ms + 20, S6, C6, L4::tcp(443, p, 900, 101, SYN | ACK, 1440, &[]));
    l.pkt(ms + 21, C6, S6, L4::tcp(p, 443, 101, 901, ACK, 1440, &[]));
    l.pkt(ms + 22, C6, S6, L4::tcp(p, 443, 101, 901, ACK | PSH, 1440, b"GET / HTTP/1.1\r\n\r\n"));
    let big = [0u8; 1440];
    l.pkt(ms + 40, S6, C6, L4::tcp(443, p, 901, 119, ACK, 1440, &big[..100]));
    for (k, at) in [60i64, 300, 800, 1800, 3800].iter().enumerate() {
        l.pkt(ms + at, S6, C6, L4::tcp(443, p, 1001, 119, ACK, 1440, &big));
        if k == 0 {
            if let Some(mtu) = ptb {
                let mut quoted = Vec::new();
                let seg = L4::tcp(443, p, 1001, 119, ACK, 1440, &big);
                synth::ip_packet(&mut quoted, S6.parse().unwrap(), C6.parse().unwrap(), &seg, 0, 64);
                quoted.truncate(1232);
                l.pkt(
                    ms + at + 5,
                    ROUTER,
                    S6,
                    L4::Icmp { icmp_type: 2, code: 0, rest: mtu.to_be_bytes(), body: &quoted },
                );
            }
        }
    }
    if recover {
        l.pkt(ms + 4000, S6, C6, L4::tcp(443, p, 1001, 119, ACK, 1440, &big[..1200]));
        l.pkt(ms + 4001, S6, C6, L4::tcp(443, p, 2201, 119, ACK, 1440, &big[..240]));
        l.pkt(ms + 4002, C6, S6, L4::tcp(p, 443, 119, 2441, ACK, 1440, &[]));
    }
    l.pkt(ms + 9000, C6, S6, L4::tcp(p, 443, 119, 0, RST, 1440, &[]));
}

#[test]
fn sender_side_black_hole_ptb_handling_and_recovery() {
    let mut l = Lab::new();
    sender_stall(&mut l, 0, None, false);
    sender_stall(&mut l, 60_000, None, true);
    sender_stall(&mut l, 120_000, Some(1280), false);
    sender_stall(&mut l, 180_000, Some(1000), false);
    l.ok(200_000, C4, S4, 3);
    let r = l.health();
    let states: Vec<PmtuState> = r.pmtu.iter().map(|b| b.state).collect();
    assert_eq!(
        states,
        vec![PmtuState::Suspected, PmtuState::Recovered, PmtuState::PtbIgnored, PmtuState::InvalidPtb],
        "{:#?}",
        r.pmtu
    );
    assert_eq!(r.pmtu[0].size, 1440 + 40 + 20, "IP length of the stuck segment");
    assert_eq!(r.pmtu[1].stall_ns, 3_702_000_000, "from the first retransmission to the acknowledgment");
    assert_eq!(r.pmtu[2].ptb_mtu, Some(1280));
    assert_eq!(r.ptb_received, 2);
    let n = notes(&r);
    for want in ["V6Mon::PMTU_Blackhole", "V6Mon::PMTU_Blackhole_Recovered", "V6Mon::PTB_Ignored", "V6Mon::Invalid_PTB"]
    {
        assert!(n.contains(&want), "{want} missing from {n:?}");
    }
}

#[test]
fn receiver_side_stall_needs_ipv4_confirmation_for_a_warning() {
    let stall = |l: &mut Lab, ms: i64| {
        let p = l.next_port();
        l.pkt(ms, C6, S6, L4::tcp(p, 443, 100, 0, SYN, 1440, &[]));
        l.pkt(ms + 20, S6, C6, L4::tcp(443, p, 900, 101, SYN | ACK, 1440, &[]));
        l.pkt(ms + 21, C6, S6, L4::tcp(p, 443, 101, 901, ACK, 1440, &[]));
        l.pkt(ms + 22, C6, S6, L4::tcp(p, 443, 101, 901, ACK | PSH, 1440, b"GET / HTTP/1.1\r\n\r\n"));
        l.pkt(ms + 42, S6, C6, L4::tcp(443, p, 901, 119, ACK | PSH, 1440, b"HTTP/1.1 200 OK\r\n\r\n"));
        l.pkt(ms + 20_000, C6, S6, L4::tcp(p, 443, 119, 0, RST, 1440, &[]));
    };
    let mut alone = Lab::new();
    stall(&mut alone, 0);
    let r = alone.health();
    assert_eq!(r.pmtu.len(), 1);
    assert_eq!((r.pmtu[0].state, r.pmtu[0].confidence), (PmtuState::Stalled, "low"));
    assert_eq!(worst(&r), Some(Severity::Info), "server think time is possible without IPv4 to compare");

    let mut confirmed = Lab::new();
    stall(&mut confirmed, 0);
    confirmed.ok(21_000, C4, S4, 10);
    let r = confirmed.health();
    assert_eq!((r.pmtu[0].state, r.pmtu[0].confidence), (PmtuState::Stalled, "high"));
    assert_eq!(worst(&r), Some(Severity::Warning));
    assert!(notes(&r).contains(&"V6Mon::PMTU_Blackhole"));
}

#[test]
fn aaaa_answered_but_ipv4_used_is_diagnosed() {
    let mut l = Lab::new();
    // The host has working global IPv6 (it used it earlier), yet connects over IPv4.
    l.ok(0, C6, "2001:db8:3::1", 1);
    l.aaaa_answer(10_000, C4, &[S6]);
    l.ok(10_010, C4, S4, 1);
    l.aaaa_answer(20_000, C4, &["2001:db8::ffff:1", "::ffff:198.51.100.80"]);
    let r = l.health();
    assert_eq!(r.aaaa_unused.len(), 1, "{:#?}", r.aaaa_unused);
    assert_eq!(r.aaaa_unused[0].reason, "app_v4_only");

    let mut bogus = Lab::new();
    bogus.ok(0, C6, "2001:db8:3::1", 1);
    bogus.aaaa_answer(10_000, C4, &["2001:db8::ffff:1", "::ffff:198.51.100.80"]);
    bogus.ok(10_010, C4, S4, 1);
    let r = bogus.health();
    assert_eq!(r.aaaa_unused[0].reason, "bogus_aaaa");
    assert!(notes(&r).contains(&"V6Mon::Bogus_AAAA"));

    let mut nov6 = Lab::new();
    nov6.aaaa_answer(0, C4, &[S6]);
    nov6.ok(5, C4, S4, 1);
    let r = nov6.health();
    assert_eq!(r.aaaa_unused[0].reason, "no_global_v6");
    assert!(notes(&r).contains(&"V6Mon::AAAA_Unused"));

    let mut used = Lab::new();
    used.aaaa_answer(0, C4, &[S6]);
    used.ok(5, C6, S6, 1);
    used.ok(6, C4, S4, 1);
    assert!(used.health().aaaa_unused.is_empty(), "an IPv6 attempt right after the answer means it was used");
}

#[test]
fn broken_return_path_needs_a_real_stack_retransmitting() {
    let mut l = Lab::new();
    // Inbound from a 6to4 client: SYN, our SYN-ACK, SYN again (same ISN), no ACK ever.
    let client = "2002:c000:201::1";
    for at in [0, 1000] {
        l.pkt(at, client, C6, L4::tcp(50_000, 22, 77, 0, SYN, 1440, &[]));
        l.pkt(at + 1, C6, client, L4::tcp(22, 50_000, 900, 78, SYN | ACK, 1440, &[]));
    }
    // A stateless scanner: single SYN, MSS only.
    let scan = L4::Tcp {
        sport: 50_001,
        dport: 22,
        seq: 9,
        ack: 0,
        flags: SYN,
        window: 1024,
        mss: Some(1460),
        full: false,
        payload: &[],
    };
    l.pkt(5000, "2001:db8:5ca7::1", C6, scan);
    l.pkt(5001, C6, "2001:db8:5ca7::1", L4::tcp(22, 50_001, 900, 10, SYN | ACK, 1440, &[]));
    l.pkt(6000, "2001:db8:5ca7::1", C6, scan);
    let r = l.health();
    assert_eq!(r.return_path.len(), 1, "{:#?}", r.return_path);
    assert_eq!(r.return_path[0].client_class, "6to4");
    assert!(notes(&r).contains(&"V6Mon::Return_Path_Broken"));
}

#[test]
fn service_moving_to_ipv6_and_back_is_reported_in_order() {
    let mut l = Lab::new();
    let hour = 3_600_000;
    for k in 0..6 {
        l.ok(k * hour, C4, S4, 1);
    }
    for k in 6..12 {
        l.ok(k * hour, C6, S6, 1);
    }
    for k in 12..18 {
        l.ok(k * hour, C4, S4, 1);
    }
    let r = l.health();
    let kinds: Vec<(&str, i64)> = r.service_events.iter().map(|e| (e.kind, (e.ts - T0) / 1_000_000)).collect();
    assert_eq!(kinds, vec![("service_switched_to_v6", 6 * hour), ("service_fell_back_to_v4", 13 * hour)]);
}

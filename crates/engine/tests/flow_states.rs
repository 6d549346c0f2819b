//! Flow semantics on hand-built packet sequences: Zeek's conn_state and history, originator
//! heuristics, port reuse, timeouts, ICMP error attribution, gaps, retransmissions, eviction.

use std::net::IpAddr;
use synth::{flags::*, Builder, Encap, L4};
use v6watch_engine::decode::{Decoder, TunnelKind};
use v6watch_engine::flow::{Config, FlowTable};
use v6watch_engine::model::{EndReason, FlowRecord};

const C: &str = "2001:db8::10";
const S: &str = "2001:db8::80";

struct Run {
    b: Builder,
    dec: Decoder,
    table: FlowTable,
    out: Vec<FlowRecord>,
}

impl Run {
    fn new(cfg: Config) -> Run {
        Run {
            b: Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]),
            dec: Decoder::default(),
            table: FlowTable::new(cfg),
            out: vec![],
        }
    }
    fn pkt(&mut self, ts_ms: i64, src: &str, dst: &str, l4: L4<'_>, encap: Encap) {
        let (s, d): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
        let frame = self.b.frame(s, d, &l4, encap, 1).to_vec();
        let ts = 1_000_000_000_000 + ts_ms * 1_000_000;
        let dd = self.dec.decode(ts, 1, &frame);
        self.table.tick(ts, &mut self.out);
        self.table.process(ts, &dd, &mut self.out);
    }
    /// TCP segment from the client (`c2s`) or the server.
    fn tcp(&mut self, ts_ms: i64, c2s: bool, seq: u32, ack: u32, fl: u8, payload: &[u8]) {
        let (src, dst, sp, dp) = if c2s { (C, S, 40000, 80) } else { (S, C, 80, 40000) };
        let l4 = L4::Tcp {
            sport: sp,
            dport: dp,
            seq,
            ack,
            flags: fl,
            window: 1000,
            mss: (fl & SYN != 0).then_some(1440),
            full: false,
            payload,
        };
        self.pkt(ts_ms, src, dst, l4, Encap::None);
    }
    fn finish(mut self) -> Vec<FlowRecord> {
        self.table.finish(&mut self.out);
        self.out
    }
}

fn one(run: Run) -> FlowRecord {
    let mut v = run.finish();
    assert_eq!(v.len(), 1, "{v:#?}");
    v.remove(0)
}

#[test]
fn complete_connection_is_sf() {
    let mut r = Run::new(Config::default());
    r.tcp(0, true, 100, 0, SYN, b"");
    r.tcp(10, false, 500, 101, SYN | ACK, b"");
    r.tcp(11, true, 101, 501, ACK, b"");
    r.tcp(12, true, 101, 501, ACK | PSH, b"GET / HTTP/1.0\r\n\r\n");
    r.tcp(22, false, 501, 119, ACK | PSH, b"HTTP/1.0 200 OK\r\n\r\nhello");
    r.tcp(23, true, 119, 525, ACK, b"");
    r.tcp(24, false, 525, 119, FIN | ACK, b"");
    r.tcp(25, true, 119, 526, FIN | ACK, b"");
    r.tcp(35, false, 526, 120, ACK, b"");
    let f = one(r);
    assert_eq!(f.conn_state.name(), "SF");
    assert_eq!(f.history, "ShADdfFa");
    assert_eq!((f.orig.bytes, f.resp.bytes), (18, 24));
    assert_eq!((f.orig.pkts, f.resp.pkts), (5, 4));
    assert_eq!(f.orig_h.to_string(), C);
    assert_eq!(f.rtt_synack_ns, Some(10_000_000));
    assert_eq!(f.rtt_ack_ns, Some(1_000_000));
    assert_eq!((f.orig_mss, f.resp_mss), (Some(1440), Some(1440)));
    assert!(f.orig.ip_bytes > f.orig.bytes);
}

#[test]
fn unanswered_syns_are_s0() {
    let mut r = Run::new(Config::default());
    for t in [0, 1000, 3000] {
        r.tcp(t, true, 100, 0, SYN, b"");
    }
    let f = one(r);
    assert_eq!((f.conn_state.name(), f.history.as_str(), f.orig.pkts), ("S0", "S", 3));
}

/// An attempt nobody answers ends 75 s after its last SYN (not after the 5-minute inactivity
/// timeout), and Linux's whole retransmission schedule stays one flow; an answered connection
/// keeps the inactivity timeout.
#[test]
fn an_unanswered_attempt_ends_75_s_after_its_last_syn() {
    // The table's clock follows the smaller of two frames' timestamps (see FlowTable::tick),
    // so time is moved by a pair of frames.
    let clock = |r: &mut Run, t: i64| {
        for t in [t, t + 1] {
            r.pkt(t, S, C, L4::Udp { sport: 53, dport: 5000, payload: b"a" }, Encap::None);
        }
    };
    let mut r = Run::new(Config::default());
    for t in [0, 1_000, 3_000, 7_000, 15_000, 31_000, 63_000] {
        r.tcp(t, true, 100, 0, SYN, b"");
    }
    clock(&mut r, 63_000 + 74_000);
    assert!(r.out.is_empty(), "{:#?}", r.out);
    clock(&mut r, 63_000 + 76_000);
    assert_eq!(r.out.len(), 1, "{:#?}", r.out);
    let f = &r.out[0];
    assert_eq!((f.conn_state.name(), f.orig.pkts, f.end), ("S0", 7, EndReason::Timeout));
    assert_eq!(f.last_ts - f.ts, 63_000_000_000);

    let mut r = Run::new(Config::default());
    r.tcp(0, true, 100, 0, SYN, b"");
    r.tcp(10, false, 500, 101, SYN | ACK, b"");
    r.tcp(11, true, 101, 501, ACK, b"");
    clock(&mut r, 11 + 299_000);
    assert!(r.out.is_empty(), "an established connection waits for 5 minutes: {:#?}", r.out);
    clock(&mut r, 11 + 301_000);
    assert_eq!((r.out.len(), r.out[0].conn_state.name()), (1, "S1"));
}

#[test]
fn refused_is_rej_and_syn_then_rst_is_rstos0() {
    let mut r = Run::new(Config::default());
    r.tcp(0, true, 100, 0, SYN, b"");
    r.tcp(1, false, 0, 101, RST | ACK, b"");
    let f = one(r);
    assert_eq!((f.conn_state.name(), f.history.as_str()), ("REJ", "Sr"));

    let mut r = Run::new(Config::default());
    r.tcp(0, true, 100, 0, SYN, b"");
    r.tcp(1, true, 101, 0, RST, b"");
    let f = one(r);
    assert_eq!((f.conn_state.name(), f.history.as_str()), ("RSTOS0", "SR"));
}

#[test]
fn aborts_are_rsto_and_rstr() {
    for (c2s, state) in [(true, "RSTO"), (false, "RSTR")] {
        let mut r = Run::new(Config::default());
        r.tcp(0, true, 100, 0, SYN, b"");
        r.tcp(1, false, 500, 101, SYN | ACK, b"");
        r.tcp(2, true, 101, 501, ACK, b"");
        r.tcp(3, c2s, if c2s { 101 } else { 501 }, 0, RST, b"");
        assert_eq!(one(r).conn_state.name(), state);
    }
}

#[test]
fn half_closed_and_half_open() {
    // Established, originator closes, no reply: S2. Responder closes, no reply: S3.
    for (c2s, state) in [(true, "S2"), (false, "S3")] {
        let mut r = Run::new(Config::default());
        r.tcp(0, true, 100, 0, SYN, b"");
        r.tcp(1, false, 500, 101, SYN | ACK, b"");
        r.tcp(2, true, 101, 501, ACK, b"");
        r.tcp(3, c2s, if c2s { 101 } else { 501 }, if c2s { 501 } else { 101 }, FIN | ACK, b"");
        assert_eq!(one(r).conn_state.name(), state);
    }
    // SYN then FIN, nothing back: SH.
    let mut r = Run::new(Config::default());
    r.tcp(0, true, 100, 0, SYN, b"");
    r.tcp(1, true, 101, 0, FIN, b"");
    assert_eq!(one(r).conn_state.name(), "SH");
    // Handshake done, nothing closed: S1.
    let mut r = Run::new(Config::default());
    r.tcp(0, true, 100, 0, SYN, b"");
    r.tcp(1, false, 500, 101, SYN | ACK, b"");
    r.tcp(2, true, 101, 501, ACK, b"");
    assert_eq!(one(r).conn_state.name(), "S1");
}

#[test]
fn synack_first_flips_the_originator() {
    let mut r = Run::new(Config::default());
    r.tcp(0, false, 500, 101, SYN | ACK, b"");
    r.tcp(1, true, 101, 501, ACK, b"");
    let f = one(r);
    assert!(f.flipped);
    assert!(f.history.starts_with("^h"), "{}", f.history);
    assert_eq!(f.orig_h.to_string(), C);
    assert_eq!(f.resp_p, 80);
}

#[test]
fn midstream_is_oth_and_oriented_by_port() {
    let mut r = Run::new(Config::default());
    r.tcp(0, false, 501, 101, ACK | PSH, b"data from the server side");
    r.tcp(1, true, 101, 526, ACK, b"");
    let f = one(r);
    assert_eq!(f.conn_state.name(), "OTH");
    assert_eq!(f.orig_h.to_string(), C, "port 80 is the server");
    assert!(f.history.starts_with('^'));
}

#[test]
fn retransmission_gap_and_late_fill() {
    let mut r = Run::new(Config::default());
    r.tcp(0, true, 100, 0, SYN, b"");
    r.tcp(1, false, 500, 101, SYN | ACK, b"");
    r.tcp(2, true, 101, 501, ACK, b"");
    r.tcp(3, true, 101, 501, ACK, &[1; 100]);
    r.tcp(4, true, 101, 501, ACK, &[1; 100]); // retransmitted
    r.tcp(5, true, 301, 501, ACK, &[1; 100]); // 201..301 missing
    let f = one(r);
    assert_eq!(f.orig.retransmits, 1);
    assert_eq!(f.orig.missed_bytes, 100);
    assert!(f.history.contains('T') && f.history.contains('G'), "{}", f.history);

    let mut r = Run::new(Config::default());
    r.tcp(0, true, 100, 0, SYN, b"");
    r.tcp(1, true, 201, 0, ACK, &[1; 100]); // 101..201 arrives late
    r.tcp(2, true, 101, 0, ACK, &[1; 100]);
    let f = one(r);
    assert_eq!((f.orig.missed_bytes, f.orig.retransmits, f.orig.bytes), (0, 0, 200));
}

#[test]
fn port_reuse_and_idle_timeout_start_new_flows() {
    let mut r = Run::new(Config::default());
    r.tcp(0, true, 100, 0, SYN, b"");
    r.tcp(1, false, 500, 101, SYN | ACK, b"");
    r.tcp(2, true, 101, 501, ACK | FIN, b"");
    r.tcp(3, false, 501, 102, ACK | FIN, b"");
    r.tcp(4, true, 9000, 0, SYN, b""); // same ports, new connection
    let v = r.finish();
    assert_eq!(v.len(), 2);
    assert_eq!((v[0].conn_state.name(), v[0].end), ("SF", EndReason::Reused));
    assert_eq!(v[1].conn_state.name(), "S0");

    let mut r = Run::new(Config::default());
    r.pkt(0, C, S, L4::Udp { sport: 5000, dport: 53, payload: b"q" }, Encap::None);
    r.pkt(61_000, C, S, L4::Udp { sport: 5000, dport: 53, payload: b"q" }, Encap::None);
    let v = r.finish();
    assert_eq!(v.len(), 2, "the 60 s UDP timeout passed between the packets");
    assert_eq!((v[0].conn_state.name(), v[0].end), ("S0", EndReason::Timeout));
}

#[test]
fn packet_too_big_is_attributed_to_the_quoted_flow() {
    let mut r = Run::new(Config::default());
    r.tcp(0, true, 100, 0, SYN, b"");
    r.tcp(1, false, 500, 101, SYN | ACK, b"");
    r.tcp(2, true, 101, 501, ACK, b"");
    // The server's big segment is refused by a router on the way.
    let mut quoted = Vec::new();
    let big = L4::Tcp {
        sport: 80,
        dport: 40000,
        seq: 501,
        ack: 101,
        flags: ACK,
        window: 1000,
        mss: None,
        full: false,
        payload: &[0; 1400],
    };
    synth::ip_packet(&mut quoted, S.parse().unwrap(), C.parse().unwrap(), &big, 0, 64);
    let ptb = L4::Icmp { icmp_type: 2, code: 0, rest: 1280u32.to_be_bytes(), body: &quoted[..1232] };
    r.pkt(3, "2001:db8:ffff::1", S, ptb, Encap::None);
    let v = r.finish();
    let tcp = v.iter().find(|f| f.ip_proto == 6).unwrap();
    assert_eq!(tcp.icmp_errors.len(), 1);
    assert_eq!((tcp.icmp_errors[0].icmp_type, tcp.icmp_errors[0].mtu), (2, 1280));
    assert_eq!(tcp.icmp_errors[0].from.to_string(), "2001:db8:ffff::1");
    assert!(v.iter().any(|f| f.ip_proto == 58), "the ICMPv6 message is a flow of its own too");
}

#[test]
fn tunnels_are_kept_on_the_inner_flow() {
    let mut r = Run::new(Config::default());
    let syn = L4::Tcp {
        sport: 1234,
        dport: 22,
        seq: 1,
        ack: 0,
        flags: SYN,
        window: 100,
        mss: None,
        full: false,
        payload: &[],
    };
    r.pkt(
        0,
        "2002:c633:6401::1",
        S,
        syn,
        Encap::SixInFour("198.51.100.1".parse().unwrap(), "192.0.2.9".parse().unwrap()),
    );
    let echo = L4::Icmp { icmp_type: 128, code: 0, rest: [0, 1, 0, 1], body: b"x" };
    let teredo = Encap::Teredo(("192.0.2.200".parse().unwrap(), 3544), ("192.0.2.9".parse().unwrap(), 3544));
    r.pkt(1, "2001:0:4136:e378:8000:63bf:3fff:fdd2", S, echo, teredo);
    let v = r.finish();
    assert_eq!(v[0].tunnel, Some(TunnelKind::SixToFour));
    assert_eq!(v[0].tunnel_outer.map(|(a, _)| a.to_string()), Some("198.51.100.1".into()));
    assert_eq!(v[1].tunnel, Some(TunnelKind::Teredo));
    assert_eq!(v[1].orig_h.to_string(), "2001:0:4136:e378:8000:63bf:3fff:fdd2");
}

#[test]
fn flow_limit_evicts_and_counts() {
    let mut r = Run::new(Config { max_flows: 2, ..Config::default() });
    for port in 0..3u16 {
        r.pkt(i64::from(port), C, S, L4::Udp { sport: 1000 + port, dport: 53, payload: b"q" }, Encap::None);
    }
    assert_eq!(r.table.live(), 2);
    let stats = r.table.stats();
    let v = r.finish();
    assert_eq!(v.len(), 3);
    assert_eq!(stats.evicted, 1);
    assert_eq!(v[0].end, EndReason::Evicted);
    assert!(v[0].anomalies.contains(&"flow_evicted"));
}

#[test]
fn multicast_never_originates() {
    let mut r = Run::new(Config::default());
    let ra = L4::Icmp { icmp_type: 134, code: 0, rest: [64, 0, 7, 8], body: &[0; 8] };
    r.pkt(0, "fe80::1", "ff02::1", ra, Encap::None);
    let f = one(r);
    assert_eq!(f.orig_h.to_string(), "fe80::1");
    assert!(!f.flipped);
}

/// ICMP "ports" as Zeek's conn.log writes them: the type the originator sent and its counterpart
/// (or the code for messages without one); the first sender originates, even of a reply.
#[test]
fn icmp_ports_follow_zeek() {
    let mut r = Run::new(Config::default());
    let icmp = |icmp_type, code| L4::Icmp { icmp_type, code, rest: [0, 9, 0, 1], body: b"abcd" };
    // Echo request and reply: one flow, 128 → 129.
    r.pkt(0, C, S, icmp(128, 0), Encap::None);
    r.pkt(1, S, C, icmp(129, 0), Encap::None);
    // A solicited router advertisement to a unicast address, its solicitation (to ff02::2) unseen.
    r.pkt(
        2,
        "fe80::1",
        "fe80::99",
        L4::Icmp { icmp_type: 134, code: 0, rest: [64, 0, 7, 8], body: &[0; 8] },
        Encap::None,
    );
    // An echo reply whose request was not captured.
    r.pkt(3, "2001:db8::7", C, icmp(129, 0), Encap::None);
    // A one-way message: destination unreachable, code 1 (administratively prohibited).
    r.pkt(4, "2001:db8::1", C, icmp(1, 1), Encap::None);
    let v = r.finish();
    let ports: Vec<(String, u16, String, u16, u64, u64)> = v
        .iter()
        .map(|f| (f.orig_h.to_string(), f.orig_p, f.resp_h.to_string(), f.resp_p, f.orig.pkts, f.resp.pkts))
        .collect();
    assert_eq!(
        ports,
        vec![
            (C.to_string(), 128, S.to_string(), 129, 1, 1),
            ("fe80::1".into(), 134, "fe80::99".into(), 133, 1, 0),
            ("2001:db8::7".into(), 129, C.to_string(), 128, 1, 0),
            ("2001:db8::1".into(), 1, C.to_string(), 1, 1, 0),
        ],
        "{v:#?}"
    );
    assert!(v.iter().all(|f| !f.flipped && f.history.is_empty()));
}

//! Link layers other than Ethernet and Linux's cooked captures: PPP (bare, HDLC-like, PPPoE),
//! Cisco HDLC, 802.11 (bare, after radiotap, after PPI), the firewall logs pflog and NFLOG, and
//! 802.3 frames with LLC/SNAP. The same traffic on each gives the same flows and application
//! records as on Ethernet, and tshark reads the same packets in them.

mod common;

use common::{jsonl, tmpdir, tshark_count, v6watch_stdout as v6watch};
use serde_json::Value;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use synth::{dns_message, flags::*, relink, relinked, Builder, Encap, PcapWriter, L4};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A host's traffic as Ethernet frames, each with whether the host sent it: a DNS lookup over
/// IPv6, then an HTTP exchange over IPv6 and one over IPv4, each a whole TCP connection.
fn traffic() -> Vec<(Vec<u8>, bool)> {
    let mut b = Builder::new([0x02, 0, 0, 0, 0, 0x01], [0x02, 0, 0, 0, 0, 0x02]);
    let mut out = Vec::new();
    let (me6, me4) = (ip("2001:db8:1::10"), ip("192.0.2.10"));
    let (resolver, web6, web4) = (ip("2001:db8:53::53"), ip("2001:db8:80::80"), ip("198.51.100.80"));
    let q = dns_message(7, "www.example.com", 28, &[], false);
    let r = dns_message(7, "www.example.com", 28, &[web6], true);
    out.push((
        b.frame(me6, resolver, &L4::Udp { sport: 40000, dport: 53, payload: &q }, Encap::None, 1).to_vec(),
        true,
    ));
    out.push((
        b.frame(resolver, me6, &L4::Udp { sport: 53, dport: 40000, payload: &r }, Encap::None, 2).to_vec(),
        false,
    ));
    let req = b"GET /safebrowsing/downloads HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (i, (me, web)) in [(me6, web6), (me4, web4)].into_iter().enumerate() {
        let cp = 50_000 + i as u16;
        let (rl, sl) = (req.len() as u32, resp.len() as u32);
        let steps: [(bool, u32, u32, u8, &[u8]); 6] = [
            (true, 1, 0, SYN, &[]),
            (false, 100, 2, SYN | ACK, &[]),
            (true, 2, 101, ACK | PSH, &req[..]),
            (false, 101, 2 + rl, ACK | PSH, &resp[..]),
            (true, 2 + rl, 101 + sl, ACK | FIN, &[]),
            (false, 101 + sl, 3 + rl, ACK | FIN, &[]),
        ];
        for (k, (up, seq, ack, fl, payload)) in steps.into_iter().enumerate() {
            let (src, dst, sp, dp) = if up { (me, web, cp, 80) } else { (web, me, 80, cp) };
            let l4 = L4::tcp(sp, dp, seq, ack, fl, 1400, payload);
            out.push((b.frame(src, dst, &l4, Encap::None, 10 + k as u16).to_vec(), up));
        }
    }
    // What the host receives comes from its router's MAC address.
    for (f, up) in &mut out {
        if !*up {
            let (dst, src) = f.split_at_mut(6);
            dst.swap_with_slice(&mut src[..6]);
        }
    }
    out
}

/// Writes `frames` on link type `lt` (Ethernet for `None`) to `dir/<name>/host.pcap`, one
/// frame every 10 ms.
fn capture(dir: &Path, name: &str, lt: Option<u32>, frames: &[(Vec<u8>, bool)]) -> PathBuf {
    let file_lt = match lt {
        None | Some(relinked::LLC_SNAP) => 1,
        Some(l) => l,
    };
    std::fs::create_dir_all(dir.join(name)).unwrap();
    let path = dir.join(name).join("host.pcap");
    let mut w = PcapWriter::with_linktype(std::fs::File::create(&path).unwrap(), file_lt).unwrap();
    for (i, (f, up)) in frames.iter().enumerate() {
        let data = lt.map_or_else(|| f.clone(), |l| relink(f, l, *up, i as u32));
        w.write(1_700_000_000_000_000_000 + i as i64 * 10_000_000, &data).unwrap();
    }
    w.finish().unwrap();
    path
}

/// The facts of a flow record that do not depend on the link layer.
fn flow_facts(f: &Value) -> Value {
    let keys = [
        "ts",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "proto",
        "service",
        "conn_state",
        "history",
        "orig_pkts",
        "resp_pkts",
        "orig_bytes",
        "resp_bytes",
        "orig_ip_bytes",
        "resp_ip_bytes",
    ];
    keys.iter().map(|k| (k.to_string(), f[*k].clone())).collect::<serde_json::Map<_, _>>().into()
}

const LINKS: [(&str, u32, &str); 10] = [
    ("ppp", relinked::PPP, "ppp"),
    ("ppp-hdlc", relinked::PPP_HDLC, "ppp-hdlc"),
    ("pppoe", relinked::PPP_ETHER, "pppoe"),
    ("c-hdlc", relinked::C_HDLC, "c-hdlc"),
    ("wlan", relinked::IEEE802_11, "802.11"),
    ("radiotap", relinked::RADIOTAP, "802.11-radiotap"),
    ("ppi", relinked::PPI, "ppi"),
    ("pflog", relinked::PFLOG, "pflog"),
    ("nflog", relinked::NFLOG, "nflog"),
    ("llc-snap", relinked::LLC_SNAP, "ethernet"),
];

#[test]
fn every_link_layer_gives_the_ethernet_flows_and_records() {
    let dir = tmpdir("links-same");
    let frames = traffic();
    let eth = capture(&dir, "ethernet", None, &frames);
    let e = eth.to_str().unwrap();
    let base_flows: Vec<Value> = jsonl(&["flows", e, "--format", "jsonl"]).iter().map(flow_facts).collect();
    assert_eq!(base_flows.len(), 3, "{base_flows:#?}");
    let base_http = v6watch(&["http", e, "--format", "jsonl"]);
    let base_dns = v6watch(&["dns", e, "--format", "jsonl"]);
    let base_summary: Value = serde_json::from_str(&v6watch(&["summary", e, "--format", "json"])).unwrap();
    let base_addrs = &base_summary["sensors"][0]["sensor_addrs"];
    assert_eq!(base_addrs.as_array().map(Vec::len), Some(2), "{base_addrs}");
    assert!(base_http.contains("/safebrowsing/downloads") && base_dns.contains("www.example.com"));
    for (name, lt, lt_name) in LINKS {
        let cap = capture(&dir, name, Some(lt), &frames);
        let p = cap.to_str().unwrap();
        let flows: Vec<Value> = jsonl(&["flows", p, "--format", "jsonl"]).iter().map(flow_facts).collect();
        assert_eq!(flows, base_flows, "{name}");
        assert_eq!(v6watch(&["http", p, "--format", "jsonl"]), base_http, "{name}");
        assert_eq!(v6watch(&["dns", p, "--format", "jsonl"]), base_dns, "{name}");
        // Two threads route each frame by the same inner key.
        let two = jsonl(&["flows", p, "--format", "jsonl", "--threads", "2"]);
        assert_eq!(two.iter().map(flow_facts).collect::<Vec<_>>(), base_flows, "{name}, 2 threads");
        let summary: Value = serde_json::from_str(&v6watch(&["summary", p, "--format", "json"])).unwrap();
        let s = &summary["sensors"][0];
        assert_eq!(s["linktypes"][0][0], lt_name, "{name}: {}", s["linktypes"]);
        assert_eq!(s["anomalies"], serde_json::json!([]), "{name}");
        // 802.11's source station is evidence of the sensor's addresses, as Ethernet's is.
        if ["wlan", "radiotap", "ppi", "llc-snap"].contains(&name) {
            assert_eq!(&s["sensor_addrs"], base_addrs, "{name}");
        }
        // tshark finds the same IP packets, TCP handshakes and HTTP requests in the capture.
        if let Some(n) = tshark_count(&cap, "ip || ipv6") {
            assert_eq!(n, frames.len(), "{name}: tshark reads every IP packet");
            assert_eq!(tshark_count(&cap, "tcp.flags.syn == 1 && tcp.flags.ack == 0"), Some(2), "{name}");
            assert_eq!(tshark_count(&cap, "http.request"), Some(2), "{name}");
            assert_eq!(tshark_count(&cap, "dns.aaaa"), Some(1), "{name}");
        }
    }
}

#[test]
fn damaged_and_non_ip_link_frames_are_counted_not_flows() {
    let dir = tmpdir("links-damaged");
    let frames = traffic();
    let (good, up) = (&frames[2].0, frames[2].1);
    // Per link type: frames cut inside their link header, or whose header says the packet is
    // elsewhere; each is counted as a damaged link header and makes no flow.
    let cases: [(u32, Vec<Vec<u8>>); 9] = [
        (relinked::PPP, vec![vec![0xff, 0x03], vec![0xff, 0x03, 0x00]]),
        (relinked::PPP_HDLC, vec![vec![0x0f, 0x00, 0x86], vec![0x0f]]),
        (relinked::PPP_ETHER, vec![vec![0x11, 0, 0, 1, 0, 2, 0]]),
        (relinked::C_HDLC, vec![vec![0x0f, 0x00], vec![0x42, 0x00, 0x86, 0xdd, 0x60]]),
        (relinked::IEEE802_11, vec![relink(good, relinked::IEEE802_11, up, 0)[..20].to_vec(), vec![0x09, 0x01]]),
        (relinked::RADIOTAP, {
            let mut long = relink(good, relinked::RADIOTAP, up, 0);
            long[2] = 0xff; // the radio header runs past the frame
            vec![long, vec![1, 0, 8, 0, 0, 0, 0, 0]]
        }),
        (relinked::PPI, {
            let mut field = relink(good, relinked::PPI, up, 0);
            field[10] = 0xff; // a field runs past the header
            vec![field, vec![0, 0, 4, 0, 105, 0, 0, 0]]
        }),
        (relinked::PFLOG, {
            let mut short = relink(good, relinked::PFLOG, up, 0);
            short[0] = 20; // shorter than any pf header
            vec![short, vec![61; 30]]
        }),
        (relinked::NFLOG, {
            let mut past = relink(good, relinked::NFLOG, up, 0);
            past[4] = 0xff; // an attribute longer than the record, in either byte order
            past[5] = 0xff;
            vec![past, vec![10, 0]]
        }),
    ];
    for (lt, bad) in cases {
        let path = dir.join(format!("lt{lt}.pcap"));
        let mut w = PcapWriter::with_linktype(std::fs::File::create(&path).unwrap(), lt).unwrap();
        for (i, f) in bad.iter().enumerate() {
            w.write(1_700_000_000_000_000_000 + i as i64, f).unwrap();
        }
        // One good frame after the damage is still read.
        w.write(1_700_000_001_000_000_000, &relink(good, lt, up, 0)).unwrap();
        w.finish().unwrap();
        let p = path.to_str().unwrap();
        let flows = jsonl(&["flows", p, "--format", "jsonl"]);
        assert_eq!(flows.len(), 1, "link type {lt}: {flows:#?}");
        let summary: Value = serde_json::from_str(&v6watch(&["summary", p, "--format", "json"])).unwrap();
        let s = &summary["sensors"][0];
        assert_eq!(s["anomalies"], serde_json::json!([["link_truncated", bad.len()]]), "link type {lt}");
    }
    // 802.11 frames that carry no readable packet are not damage: a beacon, an encrypted data
    // frame, a null-data frame; nor is an NFLOG record logged without the packet.
    let mut beacon = vec![0x80, 0, 0, 0];
    beacon.extend([0xff; 6]);
    beacon.extend([0x02, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0x02, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0, 0]);
    beacon.extend([0; 12]);
    let mut protected = relink(good, relinked::IEEE802_11, up, 0);
    protected[1] |= 0x40;
    let mut null = relink(good, relinked::IEEE802_11, up, 0)[..24].to_vec();
    null[0] = 0x48;
    let path = dir.join("wlan-other.pcap");
    let mut w = PcapWriter::with_linktype(std::fs::File::create(&path).unwrap(), relinked::IEEE802_11).unwrap();
    for (i, f) in [beacon, protected, null].iter().enumerate() {
        w.write(1_700_000_000_000_000_000 + i as i64, f).unwrap();
    }
    w.finish().unwrap();
    let p = path.to_str().unwrap();
    assert!(jsonl(&["flows", p, "--format", "jsonl"]).is_empty());
    let summary: Value = serde_json::from_str(&v6watch(&["summary", p, "--format", "json"])).unwrap();
    assert_eq!(summary["sensors"][0]["anomalies"], serde_json::json!([]));
}

//! Tunnels on generated captures, checked against tshark: GTPv1-U (mobile user plane, on a
//! Linux cooked capture as `tcpdump -i any` writes it) and Teredo packets that carry bytes after
//! the inner IPv6 packet.

mod common;

use common::{jsonl, tmpdir, tshark_count, v6watch_stdout as v6watch};
use serde_json::Value;
use std::net::IpAddr;
use std::path::Path;
use synth::{dns_message, flags::*, Builder, Encap, PcapWriter, L4};

/// The first sensor of `summary --format json` on `cap`.
fn sensor_summary(cap: &str) -> Value {
    let summary: Value = serde_json::from_str(&v6watch(&["summary", cap, "--format", "json"])).unwrap();
    summary["sensors"][0].clone()
}

/// A new capture `bad.pcap` in a fresh folder `name`: its path, its writer and a frame builder.
fn new_capture(name: &str) -> (std::path::PathBuf, PcapWriter<std::fs::File>, Builder) {
    let cap = tmpdir(name).join("bad.pcap");
    let w = PcapWriter::new(std::fs::File::create(&cap).unwrap()).unwrap();
    (cap, w, Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A phone's traffic seen on the core network: four TCP connections (three over IPv6, one over
/// IPv4, two of them in G-PDUs with an extension header) and three DNS exchanges over IPv6,
/// every user packet inside GTP-U between the eNodeB and the gateway. `sll`: on a cooked capture,
/// with the downlink from the uplink's gateway address; otherwise on Ethernet, with the downlink
/// from a second gateway address (so only the inner packets tell which flow a frame is).
fn gtp_capture(path: &Path, sll: bool) {
    let lt = if sll { 113 } else { 1 };
    let mut w = PcapWriter::with_linktype(std::fs::File::create(path).unwrap(), lt).unwrap();
    let mut b = Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let (enb, gw) = (ip("10.20.0.1"), ip("10.20.0.2"));
    let gw_down = if sll { gw } else { ip("10.20.0.3") };
    let (ue6, ue4) = (ip("2001:db8:4::1"), ip("100.64.0.7"));
    let mut t = 1_600_000_000_000_000_000i64;
    let mut push = |b: &mut Builder, src, dst, l4: L4<'_>, up: bool, ext: bool| {
        t += 2_000_000;
        let outer = if up { (enb, gw) } else { (gw_down, enb) };
        let f = b.frame(src, dst, &l4, Encap::Gtpu { outer, teid: if up { 0x1001 } else { 0x2002 }, ext }, 1);
        let f = if sll { synth::sll_from_ethernet(f, up) } else { f.to_vec() };
        w.write(t, &f).unwrap();
    };
    let resolver = ip("2001:db8:53::53");
    for (i, name) in ["www.example.com", "api.example.net", "cdn.example.org"].iter().enumerate() {
        let q = dns_message(100 + i as u16, name, 28, &[], false);
        let r = dns_message(100 + i as u16, name, 28, &[ip("2001:db8:80::1")], true);
        let sport = 40_000 + i as u16;
        push(&mut b, ue6, resolver, L4::Udp { sport, dport: 53, payload: &q }, true, i == 1);
        push(&mut b, resolver, ue6, L4::Udp { sport: 53, dport: sport, payload: &r }, false, i == 1);
    }
    let servers = [ip("2001:db8:80::1"), ip("2001:db8:80::2"), ip("2001:db8:80::3"), ip("198.51.100.80")];
    for (i, srv) in servers.into_iter().enumerate() {
        let ue = if srv.is_ipv4() { ue4 } else { ue6 };
        let ext = i % 2 == 0;
        let cp = 50_000 + i as u16;
        let req = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let tcp = |sp, dp, seq, ack, fl, p| L4::tcp(sp, dp, seq, ack, fl, 1400, p);
        push(&mut b, ue, srv, tcp(cp, 80, 1, 0, SYN, &[][..]), true, ext);
        push(&mut b, srv, ue, tcp(80, cp, 9, 2, SYN | ACK, &[][..]), false, ext);
        push(&mut b, ue, srv, tcp(cp, 80, 2, 10, ACK | PSH, &req[..]), true, ext);
        push(&mut b, srv, ue, tcp(80, cp, 10, 2 + req.len() as u32, ACK | FIN, &[][..]), false, ext);
        push(&mut b, ue, srv, tcp(cp, 80, 2 + req.len() as u32, 11, ACK | FIN, &[][..]), true, ext);
        push(&mut b, srv, ue, tcp(80, cp, 11, 3 + req.len() as u32, ACK, &[][..]), false, ext);
    }
    // Signalling on the same port (an echo request) is not a user packet and stays UDP.
    let echo = [0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0];
    t += 1_000_000;
    let f = b.frame(enb, gw, &L4::Udp { sport: 2152, dport: 2152, payload: &echo }, Encap::None, 1);
    let f = if sll { synth::sll_from_ethernet(f, true) } else { f.to_vec() };
    w.write(t, &f).unwrap();
    w.finish().unwrap();
}

#[test]
fn gtp_user_plane_is_decapsulated() {
    let d = tmpdir("tunnels-gtp");
    let cap = d.join("gtp.pcap");
    gtp_capture(&cap, true);
    let p = cap.to_str().unwrap();
    let flows = jsonl(&["flows", p, "--format", "jsonl"]);
    let tcp: Vec<&Value> = flows.iter().filter(|f| f["proto"] == "tcp").collect();
    assert_eq!(tcp.len(), 4, "{flows:#?}");
    for f in &tcp {
        assert_eq!(f["tunnel"], "gtp", "{f}");
        assert_eq!(f["conn_state"], "SF", "{f}");
        assert_eq!(f["id.resp_p"], 80, "{f}");
        assert_eq!(f["orig_pkts"], 3, "{f}");
        let outer = f["tunnel_outer"].as_array().unwrap();
        assert!(outer.contains(&Value::from("10.20.0.1")) && outer.contains(&Value::from("10.20.0.2")), "{f}");
    }
    assert_eq!(tcp.iter().filter(|f| f["ip_version"] == 6).count(), 3);
    let dns = jsonl(&["dns", p, "--format", "jsonl"]);
    assert_eq!(dns.len(), 3, "{dns:#?}");
    assert!(dns
        .iter()
        .all(|e| e["rcode"] == 0 && e["server_port"] == 53 && e["answers"][0]["data"] == "2001:db8:80::1"));
    let http = jsonl(&["http", p, "--format", "jsonl"]);
    assert_eq!(http.len(), 4);
    // The echo request stays a UDP flow between the tunnel endpoints.
    assert!(flows.iter().any(|f| f["proto"] == "udp" && f["id.resp_p"] == 2152 && f.get("tunnel").is_none()));
    let s = &sensor_summary(p);
    assert_eq!(s["tunnels"][0][0], "gtp", "{s}");
    assert_eq!(s["tunnels"][0][1], 30, "{s}");
    assert_eq!(s["inner_ipv6"], 24, "{s}");
    assert!(s["anomalies"].as_array().unwrap().is_empty(), "{s}");
    // The report counts the user packets' family, not the tunnel's.
    let (html, json) = (d.join("gtp.html"), d.join("gtp.json"));
    v6watch(&["report", p, "--no-progress", "-o", html.to_str().unwrap(), "--json", json.to_str().unwrap()]);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["sensors"][0]["by_family"][1]["packets"], 24, "{}", r["sensors"][0]["by_family"]);
    // tshark decodes GTP-U on port 2152 by default: the same connections and responses.
    if let Some(syns) = tshark_count(&cap, "gtp && tcp.flags.syn == 1 && tcp.flags.ack == 0") {
        assert_eq!(syns, 4);
        assert_eq!(tshark_count(&cap, "gtp && dns.flags.response == 1"), Some(3));
        assert_eq!(tshark_count(&cap, "gtp && ipv6"), Some(24));
    }
}

#[test]
fn gtp_flows_are_the_same_for_any_thread_count() {
    let d = tmpdir("tunnels-gtp-threads");
    let cap = d.join("gtp-eth.pcap");
    gtp_capture(&cap, false);
    let one = same_for_any_thread_count(&cap);
    let tcp = one.lines().filter(|l| l.contains("\"proto\":\"tcp\"")).count();
    assert_eq!(tcp, 4, "{one}");
}

/// `flows` of `cap` as JSON Lines with one thread, having checked that two and three write the
/// same.
fn same_for_any_thread_count(cap: &Path) -> String {
    let p = cap.to_str().unwrap();
    let one = v6watch(&["flows", p, "--format", "jsonl", "--threads", "1"]);
    for threads in ["2", "3"] {
        assert_eq!(v6watch(&["flows", p, "--format", "jsonl", "--threads", threads]), one, "--threads {threads}");
    }
    one
}

#[test]
fn gtp_damaged_headers_stay_udp_and_are_counted() {
    let (cap, mut w, mut b) = new_capture("tunnels-gtp-bad");
    let inner = {
        let mut v = vec![];
        synth::ip_packet(
            &mut v,
            ip("2001:db8::1"),
            ip("2001:db8::2"),
            &L4::Udp { sport: 1, dport: 2, payload: b"x" },
            1,
            64,
        );
        v
    };
    let mut cases: Vec<Vec<u8>> = vec![];
    // An extension header of length 0 (would never advance).
    let mut g = vec![0x34, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85, 0, 0, 0, 0];
    g.extend_from_slice(&inner);
    cases.push(g);
    // An extension header that runs past the declared length.
    let mut g = vec![0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x85, 9, 0, 0, 0];
    g.extend_from_slice(&inner);
    cases.push(g);
    // Optional fields announced, but the packet ends before them.
    cases.push(vec![0x32, 0xff, 0, 2, 0, 0, 0, 1, 0, 0]);
    // A declared length shorter than the user packet's bytes, then trailing bytes.
    let mut g = vec![0x30, 0xff];
    g.extend_from_slice(&(inner.len() as u16).to_be_bytes());
    g.extend_from_slice(&[0, 0, 0, 1]);
    g.extend_from_slice(&inner);
    g.extend_from_slice(b"trailer");
    cases.push(g);
    for (i, g) in cases.iter().enumerate() {
        let f =
            b.frame(ip("10.0.0.1"), ip("10.0.0.2"), &L4::Udp { sport: 2152, dport: 2152, payload: g }, Encap::None, 1);
        w.write(1_000_000_000 * (i as i64 + 1), f).unwrap();
    }
    w.finish().unwrap();
    let s = &sensor_summary(cap.to_str().unwrap());
    let anomalies = s["anomalies"].to_string();
    assert!(anomalies.contains("[\"tunnel_bad_header\",3]"), "{s}");
    assert!(anomalies.contains("[\"tunnel_trailing_bytes\",1]"), "{s}");
    assert_eq!(s["tunnels"][0], serde_json::json!(["gtp", 1]), "{s}");
}

#[test]
fn teredo_with_bytes_after_the_inner_packet_is_decoded() {
    let d = tmpdir("tunnels-teredo");
    let cap = d.join("teredo.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&cap).unwrap()).unwrap();
    let mut b = Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let (client, server) = ((ip("192.0.2.10"), 40_001), (ip("192.0.2.200"), 3544));
    let (c6, s6) = (ip("2001:0:4136:e378:8000:63bf:3fff:fdd2"), ip("2001:db8::80"));
    // An echo request with 8 bytes after it, and a bubble (no next header) carrying 12.
    let echo = L4::Icmp { icmp_type: 128, code: 0, rest: [0, 7, 0, 1], body: b"ping" };
    let f = b.frame(c6, s6, &echo, Encap::TeredoTrailing(client, server, 8), 1).to_vec();
    w.write(1_000_000_000, &f).unwrap();
    let mut bubble = vec![0x60, 0, 0, 0, 0, 0, 59, 255];
    bubble.extend_from_slice(&match c6 {
        IpAddr::V6(a) => a.octets(),
        _ => unreachable!(),
    });
    bubble.extend_from_slice(&match s6 {
        IpAddr::V6(a) => a.octets(),
        _ => unreachable!(),
    });
    bubble.extend_from_slice(b"bubble-bytes");
    let f =
        b.frame(client.0, server.0, &L4::Udp { sport: client.1, dport: server.1, payload: &bubble }, Encap::None, 1);
    w.write(2_000_000_000, f).unwrap();
    w.finish().unwrap();
    let p = cap.to_str().unwrap();
    let flows = jsonl(&["flows", p, "--format", "jsonl"]);
    assert_eq!(flows.len(), 2, "{flows:#?}");
    for f in &flows {
        assert_eq!(f["tunnel"], "teredo", "{f}");
        assert_eq!(f["ip_version"], 6, "{f}");
        assert_eq!(f["id.orig_h"], c6.to_string(), "{f}");
    }
    assert!(flows.iter().any(|f| f["proto"] == "icmp" && f["orig_bytes"] == 4), "{flows:#?}");
    // The bubble is its 40-byte header: what follows it is not part of it.
    assert!(flows.iter().any(|f| f["ip_proto"] == 59 && f["orig_ip_bytes"] == 40), "{flows:#?}");
    let s = &sensor_summary(p);
    assert!(s["anomalies"].to_string().contains("[\"tunnel_trailing_bytes\",2]"), "{s}");
    if let Some(n) = tshark_count(&cap, "teredo && ipv6") {
        assert_eq!(n, 2);
    }
}

/// How a traffic mirror delivers a host's packets to the sensor.
#[derive(Clone, Copy, Debug)]
enum Mirror {
    Vxlan,
    Geneve,
    /// GRE: 0 bridged Ethernet, 1–3 ERSPAN type I–III.
    Gre(u8),
    /// Not a mirror: the host's PPP session carried in L2TP from its access concentrator to
    /// the network server (with the optional fields when true).
    L2tp(bool),
    /// A router's packet sniffer streaming what it sees in TZSP (with tags when true).
    Tzsp(bool),
}

impl Mirror {
    const ALL: [Mirror; 10] = [
        Mirror::Vxlan,
        Mirror::Geneve,
        Mirror::Gre(0),
        Mirror::Gre(1),
        Mirror::Gre(2),
        Mirror::Gre(3),
        Mirror::L2tp(false),
        Mirror::L2tp(true),
        Mirror::Tzsp(false),
        Mirror::Tzsp(true),
    ];

    fn encap(self, seq: u32) -> Encap {
        let outer = (ip("10.9.0.1"), ip("10.9.0.2"));
        match self {
            Mirror::Vxlan => Encap::Vxlan { outer, sport: 49_152 + (seq % 7) as u16, vni: 4242 },
            Mirror::Geneve => Encap::Geneve { outer, options: 2 },
            Mirror::Gre(erspan) => Encap::GreEthernet { outer, erspan, seq },
            Mirror::L2tp(optional) => Encap::L2tp { outer, session: 0x4242, seq: optional },
            Mirror::Tzsp(tags) => Encap::Tzsp { outer, tags },
        }
    }

    /// The tunnel kind v6watch names, and tshark's filter for the encapsulation.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Mirror::Vxlan => ("vxlan", "vxlan"),
            Mirror::Geneve => ("geneve", "geneve"),
            Mirror::Gre(0) => ("gre", "gre && eth.type == 0x6558 || gre.proto == 0x6558"),
            Mirror::Gre(_) => ("gre", "erspan"),
            Mirror::L2tp(_) => ("l2tp", "l2tp && ppp"),
            Mirror::Tzsp(_) => ("tzsp", "tzsp"),
        }
    }
}

/// A host's traffic as `mirror` delivers it from the mirror source 10.9.0.1 to the sensor
/// 10.9.0.2: three HTTP connections (two over IPv6, one over IPv4) and a DNS exchange, every
/// frame whole inside the tunnel.
fn mirrored_capture(path: &Path, mirror: Mirror) -> usize {
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    let mut b = Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut t = 1_700_000_000_000_000_000i64;
    let mut frames = 0;
    let mut push = |b: &mut Builder, src, dst, l4: L4<'_>| {
        t += 3_000_000;
        frames += 1;
        w.write(t, b.frame(src, dst, &l4, mirror.encap(frames as u32), 1)).unwrap();
    };
    let (host6, host4, resolver) = (ip("2001:db8:7::10"), ip("192.0.2.10"), ip("2001:db8:53::53"));
    let q = dns_message(7, "updates.example.com", 28, &[], false);
    let r = dns_message(7, "updates.example.com", 28, &[ip("2001:db8:80::1")], true);
    push(&mut b, host6, resolver, L4::Udp { sport: 40_007, dport: 53, payload: &q });
    push(&mut b, resolver, host6, L4::Udp { sport: 53, dport: 40_007, payload: &r });
    for (i, srv) in [ip("2001:db8:80::1"), ip("2001:db8:80::2"), ip("198.51.100.80")].into_iter().enumerate() {
        let host = if srv.is_ipv4() { host4 } else { host6 };
        let cp = 51_000 + i as u16;
        let req = b"POST /safebrowsing/downloads HTTP/1.1\r\nHost: updates.example.com\r\n\r\n";
        let tcp = |sp, dp, seq, ack, fl, p| L4::tcp(sp, dp, seq, ack, fl, 1400, p);
        push(&mut b, host, srv, tcp(cp, 80, 1, 0, SYN, &[][..]));
        push(&mut b, srv, host, tcp(80, cp, 9, 2, SYN | ACK, &[][..]));
        push(&mut b, host, srv, tcp(cp, 80, 2, 10, ACK | PSH, &req[..]));
        push(&mut b, srv, host, tcp(80, cp, 10, 2 + req.len() as u32, ACK | FIN, &[][..]));
        push(&mut b, host, srv, tcp(cp, 80, 2 + req.len() as u32, 11, ACK | FIN, &[][..]));
        push(&mut b, srv, host, tcp(80, cp, 11, 3 + req.len() as u32, ACK, &[][..]));
    }
    w.finish().unwrap();
    frames
}

/// A sensor fed by a traffic mirror (VXLAN as AWS and Azure mirror, Geneve, GRE bridging,
/// ERSPAN I–III from a switch) sees the mirrored hosts' connections, not one tunnel flow: the
/// flows, the HTTP and DNS records and the families are the inner packets', each flow marked
/// with its tunnel; tshark finds the same connections inside the same encapsulation.
#[test]
fn mirrored_traffic_is_decapsulated() {
    let d = tmpdir("tunnels-mirror");
    for mirror in Mirror::ALL {
        let cap = d.join(format!("{mirror:?}.pcap").replace(['(', ')'], ""));
        let frames = mirrored_capture(&cap, mirror);
        let (kind, filter) = mirror.names();
        let p = cap.to_str().unwrap();
        let flows = jsonl(&["flows", p, "--format", "jsonl"]);
        assert_eq!(flows.len(), 4, "{mirror:?}: {flows:#?}");
        for f in &flows {
            assert_eq!(f["tunnel"], kind, "{mirror:?}: {f}");
            assert_eq!(f["tunnel_outer"], serde_json::json!(["10.9.0.1", "10.9.0.2"]), "{mirror:?}: {f}");
            assert!(f["id.orig_h"] != "10.9.0.1", "{mirror:?}: no flow between the tunnel's ends: {f}");
        }
        let tcp: Vec<&Value> = flows.iter().filter(|f| f["proto"] == "tcp").collect();
        assert_eq!(tcp.len(), 3, "{mirror:?}");
        assert!(tcp.iter().all(|f| f["conn_state"] == "SF" && f["orig_pkts"] == 3), "{mirror:?}: {tcp:#?}");
        assert_eq!(tcp.iter().filter(|f| f["ip_version"] == 6).count(), 2, "{mirror:?}");
        let http = jsonl(&["http", p, "--format", "jsonl"]);
        assert_eq!(http.len(), 3, "{mirror:?}");
        assert!(http.iter().all(|h| h["method"] == "POST" && h["uri"] == "/safebrowsing/downloads"), "{http:#?}");
        let dns = jsonl(&["dns", p, "--format", "jsonl"]);
        assert_eq!(dns.len(), 1, "{mirror:?}");
        assert_eq!(dns[0]["answers"][0]["data"], "2001:db8:80::1", "{mirror:?}");
        let s = &sensor_summary(p);
        assert_eq!(s["tunnels"], serde_json::json!([[kind, frames]]), "{mirror:?}: {s}");
        assert_eq!(s["inner_ipv6"], 14, "{mirror:?}: {s}");
        assert!(s["anomalies"].as_array().unwrap().is_empty(), "{mirror:?}: {s}");
        // tshark decodes each of these encapsulations by default.
        if let Some(syns) = tshark_count(&cap, &format!("({filter}) && tcp.flags.syn == 1 && tcp.flags.ack == 0")) {
            assert_eq!(syns, 3, "{mirror:?}: tshark");
            assert_eq!(tshark_count(&cap, &format!("({filter}) && dns.flags.response == 1")), Some(1), "{mirror:?}");
            assert_eq!(tshark_count(&cap, &format!("({filter}) && http.request")), Some(3), "{mirror:?}");
        }
    }
    // Any number of workers: the same flows (each inner flow is routed to one worker).
    for mirror in ["Vxlan", "Geneve", "Gre3", "L2tptrue", "Tzsptrue"] {
        same_for_any_thread_count(&d.join(format!("{mirror}.pcap")));
    }
}

/// What only looks like a mirror stays what it is: UDP to port 4789 without VXLAN's I flag is a
/// UDP flow, and Geneve of another version too. A tunnel header that announces a frame and is
/// damaged is counted (`tunnel_bad_header`) and the datagram stays a flow between the ends.
#[test]
fn damaged_mirror_headers_stay_flows_and_are_counted() {
    let (cap, mut w, mut b) = new_capture("tunnels-mirror-bad");
    let udp = |sport, dport, payload: &[u8]| (sport, dport, payload.to_vec());
    let cases = [
        // No I flag: not VXLAN.
        udp(50_000, 4789, &[0, 0, 0, 0, 0, 0, 0x10, 0, 1, 2, 3]),
        // The I flag, then 6 bytes: no room for an Ethernet header.
        udp(50_001, 4789, &[0x08, 0, 0, 0, 0, 0, 0x10, 0, 1, 2, 3, 4, 5, 6]),
        // Geneve version 1: not Geneve.
        udp(50_002, 6081, &[0x40, 0, 0x65, 0x58, 0, 0, 7, 0, 1, 2]),
        // Geneve announcing 63 words of options it does not have.
        udp(50_003, 6081, &[0x3f, 0, 0x65, 0x58, 0, 0, 7, 0, 1, 2]),
        // An L2TP control message (a Hello): signalling, not a session's packet.
        udp(1701, 1701, &[0xc8, 0x02, 0, 20, 0, 7, 0, 0, 0, 3, 0, 4, 0x80, 8, 0, 0, 0, 0, 0, 6]),
        // An L2TP data message carrying PPP's own negotiation (an LCP echo): no packet inside.
        udp(1701, 1702, &[0x00, 0x02, 0, 7, 0x42, 0x42, 0xff, 0x03, 0xc0, 0x21, 9, 1, 0, 8, 0, 0, 0, 0]),
        // An L2TP data message whose offset field points past its end.
        udp(1703, 1701, &[0x02, 0x02, 0, 7, 0x42, 0x42, 0x01, 0x00, 0xff, 0x03, 0x00, 0x57]),
        // A TZSP keepalive (type 4): no frame.
        udp(50_004, 37008, &[1, 4, 0, 0]),
        // A TZSP tag whose length runs past the datagram, before any END tag.
        udp(50_005, 37008, &[1, 0, 0, 1, 0x28, 200, 0, 0]),
    ];
    for (i, (sport, dport, payload)) in cases.iter().enumerate() {
        let l4 = L4::Udp { sport: *sport, dport: *dport, payload };
        w.write(1_000_000_000 * (i as i64 + 1), b.frame(ip("10.9.0.1"), ip("10.9.0.2"), &l4, Encap::None, 1)).unwrap();
    }
    w.finish().unwrap();
    let p = cap.to_str().unwrap();
    let flows = jsonl(&["flows", p, "--format", "jsonl"]);
    assert_eq!(flows.len(), 9, "{flows:#?}");
    assert!(flows.iter().all(|f| f["proto"] == "udp" && f.get("tunnel").is_none()), "{flows:#?}");
    let s = &sensor_summary(p);
    assert!(s["anomalies"].to_string().contains("[\"tunnel_bad_header\",4]"), "{s}");
    assert!(s["tunnels"].as_array().unwrap().is_empty(), "{s}");
}

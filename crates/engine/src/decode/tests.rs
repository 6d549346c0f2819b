//! Byte fixtures for the layer walk: each frame is written out in hex (built field by field,
//! checksums valid) so a test reads the bytes it decodes, not a builder's idea of them.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex fixture");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex fixture")).collect()
}

fn v6(s: &str) -> Addr {
    Addr::from_ip(s.parse().expect("address"))
}

/// Ethernet, IPv6 (hop limit 64), TCP SYN 2001:db8::1:50000 -> 2001:db8::2:443, seq 1000,
/// options MSS 1440, SACK permitted, timestamps 111/0, NOP, window scale 7.
const SYN6: &str = "02000000000202000000000186dd600000000028064020010db800000000000000000000000120010db8\
                    000000000000000000000002c35001bb000003e800000000a002ffff233d0000020405a00402080a0000\
                    006f0000000001030307";
/// Ethernet, 802.1Q VLAN 100, IPv4 192.0.2.1 -> 198.51.100.2, UDP 5353 -> 53, a DNS query for
/// example.com A (id 0x1234).
const DNS4_VLAN: &str = "020000000002020000000001810000640800450000390001000040118e7cc0000201c633640214e900\
                         3500251cad123401000001000000000000076578616d706c6503636f6d0000010001";
/// Ethernet, IPv4 192.0.2.1 -> 198.51.100.9 protocol 41, IPv6 2001:db8::1 -> 2001:db8::2,
/// ICMPv6 echo request ident 0x4242 seq 7, "ping".
const SIX_IN_FOUR: &str = "0200000000020200000000010800450000480001000040298e4ec0000201c633640960000000000c\
                           3a4020010db800000000000000000000000120010db8000000000000000000000002800003\
                           2a4242000770696e67";
/// Raw IPv6 2001:db8:ff::1 -> 2001:db8::1, ICMPv6 Packet Too Big MTU 1280 quoting a TCP segment
/// 2001:db8::1:50000 -> 2001:db8::2:443 with 8 payload bytes.
const PTB: &str = "60000000004c3a4020010db800ff0000000000000000000120010db80000000000000000000000010200\
                   35cc0000050060000000001c064020010db800000000000000000000000120010db8000000000000\
                   000000000002c35001bb00001388000000015018ffff99d900007878787878787878";
/// Ethernet, IPv6 declaring 120 payload bytes (TCP with 100 data bytes), cut by the snapshot
/// length after 10 of them.
const CUT6: &str = "02000000000202000000000186dd600000000078064020010db800000000000000000000000120010db8\
                    000000000000000000000002c35001bb000003e8000000015018ffffd145000079797979797979797979";
/// Raw IPv4, a UDP datagram (4000 -> 53, the DNS query and 40 'z') in two fragments, id 77:
/// the first carries 32 bytes with More Fragments, the second the rest at offset 32.
const FRAG1: &str = "45000034004d200040116e35c0000201c63364020fa00035004d9014123401000001000000000000076578\
                     616d706c6503636f6d";
const FRAG2: &str = "45000041004d000440118e24c0000201c633640200000100017a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a\
                     7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a";

#[test]
fn ipv6_tcp_syn_with_options() {
    let frame = hex(SYN6);
    let mut dec = Decoder::default();
    let d = dec.decode(0, linktype::ETHERNET, &frame);
    assert_eq!(d.outer_version, 6);
    assert!(d.any_v6 && !d.any_v4);
    assert_eq!(d.src_mac, Some([2, 0, 0, 0, 0, 1]));
    let net = d.net.expect("network layer");
    assert_eq!((net.src, net.dst), (v6("2001:db8::1"), v6("2001:db8::2")));
    assert_eq!((net.proto, net.ip_len, net.hop_limit, net.ext), (6, 80, 64, 0));
    let Transport::Tcp(t) = d.transport else { panic!("not TCP: {:?}", d.transport) };
    assert_eq!((t.sport, t.dport, t.seq, t.ack, t.flags, t.window), (50000, 443, 1000, 0, tcp::SYN, 65535));
    assert_eq!(t.payload_len, 0);
    let o = t.options.expect("SYN options are parsed");
    assert_eq!((o.mss, o.window_scale, o.sack_permitted, o.timestamps), (Some(1440), Some(7), true, Some((111, 0))));
    assert!(!o.malformed);
    assert!(d.payload.is_empty() && d.anomalies.is_empty() && d.tunnel.is_none());
}

#[test]
fn vlan_tagged_ipv4_udp_keeps_tag_and_payload() {
    let frame = hex(DNS4_VLAN);
    let mut dec = Decoder::default();
    let d = dec.decode(0, linktype::ETHERNET, &frame);
    assert_eq!((d.vlan, d.vlan_tags, d.outer_version), (Some(100), 1, 4));
    let net = d.net.expect("network layer");
    assert_eq!(net.src.to_string(), "192.0.2.1");
    assert_eq!(net.dst.to_string(), "198.51.100.2");
    assert_eq!((net.proto, net.ip_len, net.hop_limit), (17, 57, 64));
    assert!(matches!(d.transport, Transport::Udp { sport: 5353, dport: 53 }));
    assert_eq!(d.payload, &frame[frame.len() - 29..]);
    assert_eq!(&d.payload[..2], &[0x12, 0x34]);
    assert!(d.anomalies.is_empty());
}

#[test]
fn six_in_four_is_decapsulated_and_the_outer_layer_kept() {
    let frame = hex(SIX_IN_FOUR);
    let mut dec = Decoder::default();
    let d = dec.decode(0, linktype::ETHERNET, &frame);
    assert_eq!((d.outer_version, d.inner_v6, d.inner_v4), (4, 1, 0));
    assert!(d.any_v4 && d.any_v6);
    let tunnel = d.tunnel.expect("tunnel");
    assert_eq!(tunnel.kind, TunnelKind::SixInFour);
    assert_eq!(
        (tunnel.outer_src.to_string().as_str(), tunnel.outer_dst.to_string().as_str()),
        ("192.0.2.1", "198.51.100.9")
    );
    let net = d.net.expect("inner network layer");
    assert_eq!((net.src, net.dst, net.proto), (v6("2001:db8::1"), v6("2001:db8::2"), 58));
    let Transport::Icmp { v6: true, icmp_type: 128, code: 0, ident, quoted: None, .. } = d.transport else {
        panic!("not an ICMPv6 echo request: {:?}", d.transport)
    };
    assert_eq!(ident, 0x4242);
    assert_eq!(d.payload, b"ping");
}

/// Raw IPv4 192.0.2.1 -> 198.51.100.9 of protocol `proto` around `payload`, checksum valid.
fn ipv4_around(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 9]);
    let sum = p.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    p[10..12].copy_from_slice(&(!((sum & 0xffff) + (sum >> 16)) as u16).to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Mirrors that carry the IP packet itself, no Ethernet frame: ERSPAN type III with frame type
/// IP (after its platform subheader, the O flag being set) and Geneve with protocol type IPv6.
/// Both are decapsulated to the inner ICMPv6 echo, the outer addresses kept as the tunnel's.
#[test]
fn erspan3_and_geneve_carrying_ip_are_decapsulated() {
    let inner = &hex(SIX_IN_FOUR)[34..];
    let mut erspan = vec![0x10, 0, 0x22, 0xeb, 0, 0, 0, 9];
    // Version 2, session 5, timestamp, SGT 0, frame type 2 (IP), hardware id 1, O flag.
    erspan.extend_from_slice(&[0x20, 0, 0, 5, 0, 0, 0x30, 0x39, 0, 0, 0x08, 0x11]);
    erspan.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 1]);
    erspan.extend_from_slice(inner);
    let mut geneve = vec![0x9c, 0x40, 0x17, 0xc1, 0, 0, 0, 0];
    // Version 0, two words of options (one option of class 0x0102 with one word of data).
    geneve.extend_from_slice(&[0x02, 0, 0x86, 0xdd, 0, 0, 7, 0, 0x01, 0x02, 0x03, 0x01, 0xaa, 0xbb, 0xcc, 0xdd]);
    geneve.extend_from_slice(inner);
    let udp_len = geneve.len() as u16;
    geneve[4..6].copy_from_slice(&udp_len.to_be_bytes());
    for (frame, kind) in [(ipv4_around(47, &erspan), TunnelKind::Gre), (ipv4_around(17, &geneve), TunnelKind::Geneve)] {
        let mut dec = Decoder::default();
        let d = dec.decode(0, linktype::RAW, &frame);
        let tunnel = d.tunnel.expect("tunnel");
        assert_eq!(tunnel.kind, kind);
        assert_eq!(tunnel.outer_dst.to_string(), "198.51.100.9");
        let net = d.net.expect("inner network layer");
        assert_eq!((net.src, net.dst, net.proto), (v6("2001:db8::1"), v6("2001:db8::2"), 58), "{kind:?}");
        assert_eq!(d.payload, b"ping", "{kind:?}");
        assert!(d.anomalies.is_empty(), "{kind:?}: {:?}", d.anomalies);
        // Cut anywhere, it decodes without a panic.
        for n in 0..frame.len() {
            let _ = Decoder::default().decode(0, linktype::RAW, &frame[..n]);
        }
    }
}

#[test]
fn packet_too_big_carries_the_mtu_and_the_quoted_five_tuple() {
    let frame = hex(PTB);
    let mut dec = Decoder::default();
    let d = dec.decode(0, linktype::RAW, &frame);
    let net = d.net.expect("network layer");
    assert_eq!((net.src, net.dst), (v6("2001:db8:ff::1"), v6("2001:db8::1")));
    // The quote's IPv6 header is counted as tshark counts it, but it is not a tunnel.
    assert!(d.tunnel.is_none());
    let Transport::Icmp { v6: true, icmp_type: 2, code: 0, rest, quoted: Some(q), .. } = d.transport else {
        panic!("not a Packet Too Big: {:?}", d.transport)
    };
    assert_eq!(rest, 1280);
    assert_eq!((q.src, q.dst, q.proto, q.sport, q.dport), (v6("2001:db8::1"), v6("2001:db8::2"), 6, 50000, 443));
    assert!(d.anomalies.is_empty(), "{:?}", d.anomalies.iter().collect::<Vec<_>>());
}

#[test]
fn a_frame_cut_by_the_snapshot_length_is_flagged_and_keeps_what_was_captured() {
    let frame = hex(CUT6);
    let mut dec = Decoder::default();
    let d = dec.decode(0, linktype::ETHERNET, &frame);
    assert!(d.anomalies.has(Anomaly::SnaplenTruncated));
    let net = d.net.expect("network layer");
    assert_eq!(net.ip_len, 160, "the declared length, not the captured one");
    let Transport::Tcp(t) = d.transport else { panic!("not TCP: {:?}", d.transport) };
    assert_eq!(t.payload_len, 100);
    assert_eq!(d.payload, &[0x79; 10]);
}

#[test]
fn every_prefix_of_every_fixture_decodes_without_panicking() {
    for (lt, f) in [
        (linktype::ETHERNET, SYN6),
        (linktype::ETHERNET, DNS4_VLAN),
        (linktype::ETHERNET, SIX_IN_FOUR),
        (linktype::RAW, PTB),
        (linktype::RAW, FRAG1),
    ] {
        let frame = hex(f);
        let mut dec = Decoder::default();
        for n in 0..frame.len() {
            let d = dec.decode(0, lt, &frame[..n]);
            // A cut frame never yields more payload than it holds, and is never silent.
            assert!(d.payload.len() <= n);
            assert!(!d.anomalies.is_empty() || d.net.is_none(), "prefix {n} of {f} decoded without a mark");
        }
    }
}

#[test]
fn ipv4_fragments_are_reassembled_into_one_datagram() {
    let (a, b) = (hex(FRAG1), hex(FRAG2));
    let mut dec = Decoder::default();
    let first = dec.decode(1_000, linktype::RAW, &a);
    assert!(first.fragment_pending);
    assert!(matches!(first.transport, Transport::None));
    let whole = dec.decode(2_000, linktype::RAW, &b);
    assert!(!whole.fragment_pending);
    let net = whole.net.expect("network layer");
    assert_eq!((net.fragments, net.ip_len), (2, 20 + 8 + 29 + 40));
    assert!(matches!(whole.transport, Transport::Udp { sport: 4000, dport: 53 }));
    assert_eq!(whole.payload.len(), 29 + 40);
    assert_eq!(&whole.payload[..2], &[0x12, 0x34]);
    assert!(whole.payload.ends_with(&[b'z'; 40]));
    assert_eq!(dec.finish(), 0, "nothing left waiting");
}

#[test]
fn a_lone_fragment_expires_and_is_counted() {
    let a = hex(FRAG1);
    let mut dec = Decoder::default();
    assert!(dec.decode(0, linktype::RAW, &a).fragment_pending);
    assert_eq!(dec.finish(), 1);
}

#[test]
fn link_layers_without_ethernet() {
    let ip = hex(SYN6)[14..].to_vec();
    // Linux cooked capture (SLL): packet type, ARPHRD, address length, 8 address bytes, protocol.
    let mut sll = hex("0000000100060200000000010000");
    sll.extend_from_slice(&[0x86, 0xdd]);
    sll.extend_from_slice(&ip);
    // BSD loopback (DLT_NULL, host byte order little-endian here): AF_INET6 is 24, 28 or 30.
    let mut null = 30u32.to_le_bytes().to_vec();
    null.extend_from_slice(&ip);
    for (lt, frame) in [(linktype::LINUX_SLL, sll), (linktype::NULL, null), (linktype::RAW, ip.clone())] {
        let mut dec = Decoder::default();
        let d = dec.decode(0, lt, &frame);
        assert!(matches!(d.transport, Transport::Tcp(t) if t.dport == 443), "link type {lt}");
        assert_eq!(d.net.map(|n| n.src), Some(v6("2001:db8::1")), "link type {lt}");
    }
    let mut dec = Decoder::default();
    let d = dec.decode(0, 9999, &ip);
    assert!(d.anomalies.has(Anomaly::UnknownLinktype) && d.net.is_none());
}

/// A router's sniffer streaming an 802.11 data frame in TZSP (encapsulation 18, a padding byte
/// and a tag before END): decapsulated to the inner ICMPv6 echo, and the sensor's MAC evidence
/// stays the frame that reached it (the Ethernet source), not the streamed station's.
#[test]
fn tzsp_carrying_802_11_is_decapsulated() {
    let inner = &hex(SIX_IN_FOUR)[34..];
    let mut wlan = vec![0x08, 0x01, 0, 0];
    for a in [0x0au8, 0x0b, 0x0c] {
        wlan.extend_from_slice(&[0x02, a, a, a, a, a]);
    }
    wlan.extend_from_slice(&[0x10, 0]);
    wlan.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x86, 0xdd]);
    wlan.extend_from_slice(inner);
    let mut udp = vec![0xc3, 0x50, 0x90, 0x90, 0, 0, 0, 0];
    udp.extend_from_slice(&[1, 0, 0, 18, 0, 0x0c, 1, 0x2a, 1]);
    udp.extend_from_slice(&wlan);
    let udp_len = udp.len() as u16;
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    let mut frame = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    frame.extend_from_slice(&ipv4_around(17, &udp));
    let mut dec = Decoder::default();
    let d = dec.decode(0, linktype::ETHERNET, &frame);
    assert_eq!(d.tunnel.expect("tunnel").kind, TunnelKind::Tzsp);
    let net = d.net.expect("inner network layer");
    assert_eq!((net.src, net.dst, net.proto), (v6("2001:db8::1"), v6("2001:db8::2"), 58));
    assert_eq!(d.payload, b"ping");
    assert_eq!(d.src_mac, Some([0x02, 0, 0, 0, 0, 0x01]), "the Ethernet source, not the station");
    assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
    for n in 0..frame.len() {
        let _ = Decoder::default().decode(0, linktype::ETHERNET, &frame[..n]);
    }
}

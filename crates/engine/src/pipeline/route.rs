//! The routing hash: which worker owns a frame's flow, computed from the frame's bytes with
//! `wire` views before decoding (it must equal the hash of the key the decoder finds).

use crate::decode::{Addr, Decoded, Next};
use crate::flow::{FlowKey, KeyHasher};

/// [`route_hash`] of an ICMP or ICMPv6 message (`proto`) from `src` to `dst`, `payload` being
/// its bytes within the IP header's declared length (ICMP's flow key depends on the message,
/// which that length bounds), keyed by [`crate::flow::icmp_key`]. Errors quote another flow's
/// packet and are attributed to it: every worker sees them (`None`).
fn icmp_route(hasher: &KeyHasher, proto: u8, src: Addr, dst: Addr, payload: &[u8]) -> Option<u64> {
    use wire::{icmp, ipproto};
    // As the decoder: the protocol number, not the IP version, says which ICMP it is.
    let v6 = match proto {
        ipproto::ICMP => false,
        ipproto::ICMPV6 => true,
        _ => return None,
    };
    let m = icmp::Packet::parse(payload).ok()?;
    let t = m.msg_type();
    if if v6 { icmp::v6::is_error(t) } else { icmp::v4::is_error(t) } {
        return None;
    }
    let ident = crate::decode::icmp_ident(v6, &m);
    let (key, _, _) = crate::flow::icmp_key(proto, v6, src, dst, t, m.code(), ident);
    Some(hasher.hash(&key))
}

/// Route of a frame every worker must decode (fragments, ICMP errors, tunnels in tunnels,
/// anything unusual).
pub(super) const ALL: u8 = u8::MAX;

/// The flow-key hash of a frame that is TCP, UDP or ICMP (not an error) over IPv4/IPv6 (on any
/// link type the decoder reads, through VLAN tags, MPLS and PPPoE) with no fragment to
/// reassemble — the bulk of traffic — so the reader can hand it to the one worker owning its
/// flow. IPv6 extension headers are walked as the decoder walks them (hop-by-hop options,
/// destination options, routing, AH, an atomic fragment: none changes the flow key). One tunnel
/// level is opened with the decoder's own functions (GRE and what it carries, bridged Ethernet
/// and ERSPAN included; the UDP tunnels `decode::udp_tunnel` opens), so a sensor fed by a
/// traffic mirror or on a mobile core shares its flows among the workers too. Everything else
/// is `None` and goes to every worker, which decodes it fully. The only requirement: whenever the decoder would derive a flow key from
/// the frame, this derives the same one; so what the decoder reassembles, and tunnels within
/// tunnels, are excluded here.
pub(super) fn route_hash(hasher: &KeyHasher, linktype: u32, data: &[u8]) -> Option<u64> {
    use wire::link::linktype as lt;
    let next = match (linktype, data.get(12..14)) {
        // Untagged Ethernet, most frames: read here.
        (lt::ETHERNET, Some([0x08, 0x00])) => Next::Ip4(&data[14..]),
        (lt::ETHERNET, Some([0x86, 0xdd])) => Next::Ip6(&data[14..]),
        // VLAN tags (a trunk's SPAN port tags every frame), MPLS, PPPoE, the other link types
        // (`tcpdump -i any` writes Linux cooked captures): walked by the decoder's own function.
        _ => crate::decode::link_layer(linktype, data, &mut Decoded::default()),
    };
    route_ip(hasher, next, false)
}

/// [`route_hash`] from an IP header (`inner`: inside a tunnel already).
fn route_ip(hasher: &KeyHasher, ip: Next<'_>, inner: bool) -> Option<u64> {
    use wire::{ipproto, ipv4, ipv6, udp};
    // The addresses, the upper layer and its bytes within the IP header's declared length, read
    // with the decoder's own views.
    let (proto, src, dst, l4) = match ip {
        Next::Ip4(ip) => {
            let p = ipv4::Packet::parse(ip).ok()?;
            if p.is_fragment() {
                return None; // reassembly decides the key
            }
            (p.protocol(), Addr::v4(p.src()), Addr::v4(p.dst()), p.payload())
        }
        Next::Ip6(ip) => {
            let p = ipv6::Packet::parse(ip).ok()?;
            let payload = p.payload();
            // Extension headers are stepped over as the decoder steps over them; a damaged
            // chain or a fragment to reassemble is left to the decoder.
            let chain = ipv6::walk(p.next_header(), payload).ok()?;
            if chain.fragment.is_some_and(|f| !f.is_atomic()) {
                return None;
            }
            (chain.protocol, Addr::v6(p.src()), Addr::v6(p.dst()), payload.get(chain.offset..)?)
        }
        Next::Done => return None,
    };
    let min = match proto {
        ipproto::TCP => 20,
        ipproto::UDP => 8,
        ipproto::ICMP | ipproto::ICMPV6 => return icmp_route(hasher, proto, src, dst, l4),
        ipproto::GRE if !inner => {
            // What the GRE header carries, as the decoder opens it; a GRE packet it does not
            // open (PPTP's, another protocol) is a flow of its own, keyed by protocol alone:
            // left to every worker.
            return route_ip(hasher, crate::decode::gre(l4, &mut Decoded::default())?, true);
        }
        _ => return None,
    };
    if l4.len() < min {
        return None;
    }
    let (sport, dport) = (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]));
    if proto == ipproto::UDP && (crate::decode::is_udp_tunnel_port(sport) || crate::decode::is_udp_tunnel_port(dport)) {
        if inner {
            return None;
        }
        // Opened as the decoder opens it, or not at all (then the datagram is a flow between
        // the tunnel's ends).
        let payload = udp::Packet::parse(l4).ok()?.payload();
        let v4 = src.version == 4;
        if let Some((_, next, _, _)) = crate::decode::udp_tunnel(v4, sport, dport, payload, &mut Decoded::default()) {
            return route_ip(hasher, next, true);
        }
    }
    Some(hasher.hash(&FlowKey::new(proto, src, sport, dst, dport)))
}

#[cfg(test)]
mod test {
    /// IPv6 packets with extension headers that do not change the flow key (hop-by-hop
    /// options, AH, an atomic fragment) go to one worker, keyed as the decoder keys them; a
    /// fragment to reassemble and a chain cut short go to every worker.
    #[test]
    fn extension_headers_are_walked_as_the_decoder_walks_them() {
        use crate::decode::Decoder;
        use crate::flow::KeyHasher;
        use wire::link::linktype::RAW;
        let hasher = KeyHasher::new(3);
        // IPv6 with `ext` (extension headers, the first's type in `nh`) then `l4`.
        let packet = |nh: u8, ext: &[u8], l4: &[u8]| {
            let mut p = vec![0x60, 0, 0, 0];
            p.extend_from_slice(&((ext.len() + l4.len()) as u16).to_be_bytes());
            p.extend_from_slice(&[nh, 64]);
            p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
            p.extend_from_slice(ext);
            p.extend_from_slice(l4);
            p
        };
        let tcp = vec![0xc0, 0x01, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0];
        let echo = [128u8, 0, 0, 0, 0xfa, 0xce, 0, 1, 0xaa, 0xbb];
        let hop_by_hop_tcp = [6u8, 0, 1, 4, 0, 0, 0, 0]; // next: TCP, PadN
        let ah_icmp = [58u8, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let atomic_frag_tcp = [6u8, 0, 0, 0, 0, 0, 0, 9];
        let mut dec = Decoder::default();
        for (nh, ext, l4) in [(0u8, &hop_by_hop_tcp[..], &tcp[..]), (51, &ah_icmp, &echo), (44, &atomic_frag_tcp, &tcp)]
        {
            let p = packet(nh, ext, l4);
            let h = super::route_hash(&hasher, RAW, &p).expect("routed to one worker");
            let d = dec.decode(0, RAW, &p);
            let (k, _, _) = d.net.and_then(|n| crate::flow::key_of(&n, &d.transport)).expect("a flow");
            assert_eq!(hasher.hash(&k), h, "next header {nh}");
        }
        let first_fragment = [6u8, 0, 0, 1, 0, 0, 0, 9]; // more fragments follow
        assert_eq!(super::route_hash(&hasher, RAW, &packet(44, &first_fragment, &tcp)), None);
        let cut = packet(0, &hop_by_hop_tcp[..4], &[]);
        assert_eq!(super::route_hash(&hasher, RAW, &cut), None, "hop-by-hop header cut short");
    }

    /// Every frame the router hands to one worker belongs to the flow the decoder finds for it:
    /// on every frame of the corpus and on damaged copies of them (bytes of the headers
    /// changed at random), the route's hash is the hash of the decoder's flow key, and the
    /// decoder has not decapsulated or held it for reassembly. (A frame the decoder finds no
    /// flow for may go anywhere: nobody makes a flow of it.)
    #[test]
    fn a_routed_frame_is_keyed_as_the_decoder_keys_it() {
        use crate::decode::Decoder;
        use crate::flow::KeyHasher;
        let files =
            synth::corpus_captures(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
        if files.is_empty() {
            return;
        }
        let hasher = KeyHasher::new(7);
        let (mut routed, mut checked) = (0u64, 0u64);
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut check = |dec: &mut Decoder, lt: u32, data: &[u8]| {
            let Some(h) = super::route_hash(&hasher, lt, data) else { return };
            routed += 1;
            let d = dec.decode(0, lt, data);
            let key = d.net.and_then(|net| crate::flow::key_of(&net, &d.transport));
            if let Some((k, _, _)) = key {
                assert!(!d.fragment_pending, "routed frame held for reassembly: {data:02x?}");
                assert_eq!(hasher.hash(&k), h, "route and decoder disagree on {data:02x?}");
                checked += 1;
            }
        };
        let mut dec = Decoder::default();
        for f in &files {
            let Ok(mut r) = crate::capture::Reader::open(f, false) else { continue };
            while let Ok(true) = r.advance() {
                let fr = r.current();
                let (lt, data) = (fr.linktype, fr.data.to_vec());
                // The frame as it is, and an Ethernet frame as each traffic mirror delivers it.
                let mut frames = vec![(lt, data.clone(), 96)];
                if lt == wire::link::linktype::ETHERNET {
                    frames.extend(mirrored(&data).into_iter().map(|m| (lt, m, 160)));
                }
                for (lt, data, span) in frames {
                    check(&mut dec, lt, &data);
                    for _ in 0..8 {
                        let mut m = data.clone();
                        let span = m.len().min(span);
                        if span == 0 {
                            break;
                        }
                        for _ in 0..1 + next() % 3 {
                            let i = (next() % span as u64) as usize;
                            m[i] = next() as u8;
                        }
                        if next() % 4 == 0 {
                            m.truncate((next() % (m.len() as u64 + 1)) as usize);
                        }
                        check(&mut dec, lt, &m);
                    }
                }
            }
        }
        assert!(checked > 500_000, "routed {routed}, checked {checked}");
    }

    /// `frame` (Ethernet) inside VXLAN, Geneve, TZSP, bridging GRE and ERSPAN I–III, and its IP packet
    /// in GRE, GTP-U, L2TP and Teredo (taken for IPv6 when it is one), between 10.9.0.1 and
    /// 10.9.0.2.
    fn mirrored(frame: &[u8]) -> Vec<Vec<u8>> {
        use synth::Encap;
        let outer = ("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap());
        let mut b = synth::Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        [
            Encap::Gtpu { outer, teid: 0x1001, ext: false },
            Encap::Teredo((outer.0, 49_153), (outer.1, 3544)),
            Encap::Vxlan { outer, sport: 49_152, vni: 0x1000 },
            Encap::Geneve { outer, options: 1 },
            Encap::GreEthernet { outer, erspan: 0, seq: 1 },
            Encap::GreEthernet { outer, erspan: 1, seq: 1 },
            Encap::GreEthernet { outer, erspan: 2, seq: 1 },
            Encap::GreEthernet { outer, erspan: 3, seq: 1 },
            Encap::Gre { outer },
            Encap::L2tp { outer, session: 0x4242, seq: true },
            Encap::Tzsp { outer, tags: true },
        ]
        .into_iter()
        .map(|encap| b.wrap(frame, encap, 1).to_vec())
        .collect()
    }
}

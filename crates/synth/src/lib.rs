//! Synthetic traffic for v6watch's demo, benchmark and tests: a deterministic RNG, a frame
//! builder (Ethernet + IPv4/IPv6 (optionally inside 6in4 or Teredo) + TCP/UDP/ICMP with
//! correct lengths and checksums, and pcap / pcapng writers. Nothing here reads
//! captures (it only lists the corpus's, [`corpus_captures`]); the engine never depends on it
//! except in tests.
#![forbid(unsafe_code)]

pub mod mmdb;

use std::io::{self, Write};
use std::net::IpAddr;

/// TCP flag bits.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// What a frame carries above IP.
#[derive(Clone, Copy)]
pub enum L4<'a> {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
        mss: Option<u16>,
        /// With `mss`: also SACK-permitted, timestamps and window scale, as real stacks send
        /// on SYNs (stateless scanners send MSS alone).
        full: bool,
        payload: &'a [u8],
    },
    Udp {
        sport: u16,
        dport: u16,
        payload: &'a [u8],
    },
    /// ICMP (IPv4) or ICMPv6 (IPv6): type, code, 4 bytes of rest-of-header, body.
    Icmp {
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
        body: &'a [u8],
    },
}

/// One's-complement sum over `b`, folded later.
fn sum16(mut acc: u32, b: &[u8]) -> u32 {
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

fn pseudo(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let acc = sum16(sum16(0, &s.octets()), &d.octets());
            acc + u32::from(proto) + len as u32
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let acc = sum16(sum16(0, &s.octets()), &d.octets());
            acc + u32::from(proto) + (len as u32 >> 16) + (len as u32 & 0xffff)
        }
        _ => 0,
    }
}

/// Appends the transport segment for `l4` between `src` and `dst` to `out`; returns the IP protocol.
fn transport(out: &mut Vec<u8>, src: IpAddr, dst: IpAddr, l4: &L4<'_>) -> u8 {
    let start = out.len();
    let (proto, ck_at) = match l4 {
        L4::Tcp { sport, dport, seq, ack, flags, window, mss, full, payload } => {
            let opt_len = match (mss, full) {
                (None, _) => 0,
                (Some(_), false) => 4,
                (Some(_), true) => 20,
            };
            out.extend_from_slice(&sport.to_be_bytes());
            out.extend_from_slice(&dport.to_be_bytes());
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&ack.to_be_bytes());
            out.push(((20 + opt_len) / 4) << 4);
            out.push(*flags);
            out.extend_from_slice(&window.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 0]);
            if let Some(m) = mss {
                out.extend_from_slice(&[2, 4]);
                out.extend_from_slice(&m.to_be_bytes());
                if *full {
                    // SACK permitted, timestamps (TSval from the ISN, no echo), NOP, wscale 7.
                    out.extend_from_slice(&[4, 2, 8, 10]);
                    out.extend_from_slice(&seq.wrapping_mul(7).to_be_bytes());
                    out.extend_from_slice(&[0, 0, 0, 0, 1, 3, 3, 7]);
                }
            }
            out.extend_from_slice(payload);
            (6u8, 16)
        }
        L4::Udp { sport, dport, payload } => {
            out.extend_from_slice(&sport.to_be_bytes());
            out.extend_from_slice(&dport.to_be_bytes());
            out.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(payload);
            (17, 6)
        }
        L4::Icmp { icmp_type, code, rest, body } => {
            out.extend_from_slice(&[*icmp_type, *code, 0, 0]);
            out.extend_from_slice(rest);
            out.extend_from_slice(body);
            (if src.is_ipv6() { 58 } else { 1 }, 2)
        }
    };
    let len = out.len() - start;
    let base = if proto == 1 { 0 } else { pseudo(src, dst, proto, len) };
    let mut ck = fold(sum16(base, &out[start..]));
    if proto == 17 && ck == 0 {
        ck = 0xffff;
    }
    out[start + ck_at..start + ck_at + 2].copy_from_slice(&ck.to_be_bytes());
    proto
}

/// Appends an IP header for a payload of `plen` bytes; returns where the header starts.
fn ip_header(out: &mut Vec<u8>, src: IpAddr, dst: IpAddr, proto: u8, plen: usize, ident: u16, ttl: u8) {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let start = out.len();
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&((20 + plen) as u16).to_be_bytes());
            out.extend_from_slice(&ident.to_be_bytes());
            out.extend_from_slice(&[0x40, 0, ttl, proto, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            let ck = fold(sum16(0, &out[start..start + 20]));
            out[start + 10..start + 12].copy_from_slice(&ck.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&(plen as u16).to_be_bytes());
            out.push(proto);
            out.push(ttl);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        _ => panic!("mixed address families in one header"),
    }
}

/// Builds a full IP packet (no link layer) into `out` (cleared first).
pub fn ip_packet(out: &mut Vec<u8>, src: IpAddr, dst: IpAddr, l4: &L4<'_>, ident: u16, ttl: u8) {
    out.clear();
    let hdr = if src.is_ipv4() { 20 } else { 40 };
    // Reserve the header, write the segment after it, then write the header in front.
    out.resize(hdr, 0);
    let mut seg = Vec::with_capacity(64);
    let proto = transport(&mut seg, src, dst, l4);
    out.clear();
    ip_header(out, src, dst, proto, seg.len(), ident, ttl);
    out.extend_from_slice(&seg);
}

impl<'a> L4<'a> {
    /// A TCP segment with a full window, announcing `mss` (with SACK, timestamps and window
    /// scale) only on SYN segments, as stacks do.
    pub fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, fl: u8, mss: u16, payload: &'a [u8]) -> L4<'a> {
        let mss = (fl & flags::SYN != 0).then_some(mss);
        L4::Tcp { sport, dport, seq, ack, flags: fl, window: 65_535, mss, full: true, payload }
    }
}

/// Encapsulation around an IP packet.
#[derive(Clone, Copy)]
pub enum Encap {
    /// Plain.
    None,
    /// IPv6 inside IPv4 protocol 41 between the two IPv4 endpoints.
    SixInFour(IpAddr, IpAddr),
    /// IPv6 inside UDP/IPv4 port 3544 (Teredo) between (addr, port) endpoints.
    Teredo((IpAddr, u16), (IpAddr, u16)),
    /// An IP packet in a GTPv1-U G-PDU over UDP port 2152 between two addresses, with a tunnel
    /// endpoint id; `ext` adds the optional fields and a PDU-session-container extension
    /// header (as 5G user planes send).
    Gtpu { outer: (IpAddr, IpAddr), teid: u32, ext: bool },
    /// Like `Teredo`, then `n` more bytes after the inner IPv6 packet inside the UDP payload.
    TeredoTrailing((IpAddr, u16), (IpAddr, u16), usize),
    /// The Ethernet frame (this builder's addresses) in VXLAN over UDP to port 4789 between two
    /// addresses (from port `sport`), with a network identifier, as a traffic mirror sends it.
    Vxlan { outer: (IpAddr, IpAddr), sport: u16, vni: u32 },
    /// The Ethernet frame in Geneve over UDP port 6081, after `options` 4-byte words of
    /// options.
    Geneve { outer: (IpAddr, IpAddr), options: u8 },
    /// The IP packet in GRE between two addresses (protocol type by its version).
    Gre { outer: (IpAddr, IpAddr) },
    /// The Ethernet frame in GRE between two addresses: bridged (`erspan` 0, protocol 0x6558) or
    /// ERSPAN type 1, 2 or 3 (type 3 with its 8-byte platform subheader), with sequence number
    /// `seq` where the type has one.
    GreEthernet { outer: (IpAddr, IpAddr), erspan: u8, seq: u32 },
    /// The IP packet in a PPP frame (0xff 0x03, then the protocol) in an L2TPv2 data message
    /// over UDP port 1701 between two addresses, in session `session`; `seq` adds the length,
    /// the sequence numbers and an offset field with two bytes of padding.
    L2tp { outer: (IpAddr, IpAddr), session: u16, seq: bool },
    /// The Ethernet frame in TZSP over UDP to port 37008 between two addresses, as a router's
    /// packet sniffer streams it; with `tags`, as a frame it sent, after a padding byte and a
    /// packet-count tag.
    Tzsp { outer: (IpAddr, IpAddr), tags: bool },
}

/// Ethernet frame from `src` to `dst` MAC carrying `ip` (its version picks the type).
fn ethernet(dst: [u8; 6], src: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(ip.len() + 14);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(if ip.first().is_some_and(|v| v >> 4 == 6) { &[0x86, 0xdd] } else { &[0x08, 0x00] });
    f.extend_from_slice(ip);
    f
}

/// A reusable frame builder.
pub struct Builder {
    pub frame: Vec<u8>,
    ip: Vec<u8>,
    outer: Vec<u8>,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
}

impl Builder {
    pub fn new(src_mac: [u8; 6], dst_mac: [u8; 6]) -> Self {
        Builder {
            frame: Vec::with_capacity(2048),
            ip: Vec::with_capacity(2048),
            outer: Vec::with_capacity(2048),
            src_mac,
            dst_mac,
        }
    }

    /// Builds an Ethernet frame carrying `l4` from `src` to `dst`, optionally tunnelled.
    pub fn frame(&mut self, src: IpAddr, dst: IpAddr, l4: &L4<'_>, encap: Encap, ident: u16) -> &[u8] {
        ip_packet(&mut self.ip, src, dst, l4, ident, 64);
        self.encapsulate(encap, None, ident)
    }

    /// An Ethernet frame as `encap` carries it, in a frame of this builder's addresses: the
    /// tunnels of Ethernet frames take it whole (VLAN tags and all), the others its IP packet
    /// (what follows the 14-byte header).
    pub fn wrap(&mut self, frame: &[u8], encap: Encap, ident: u16) -> &[u8] {
        self.ip.clear();
        self.ip.extend_from_slice(frame.get(14..).unwrap_or_default());
        self.encapsulate(encap, Some(frame), ident)
    }

    /// The frame carrying `self.ip` as `encap` says; `eth`, the Ethernet frame to carry in the
    /// tunnels of Ethernet frames (else one of this builder's addresses around `self.ip`).
    fn encapsulate(&mut self, encap: Encap, eth: Option<&[u8]>, ident: u16) -> &[u8] {
        let ether_type = |a: IpAddr| if a.is_ipv4() { 0x0800 } else { 0x86dd };
        let inner_frame = |ip: &[u8]| eth.map_or_else(|| ethernet(self.dst_mac, self.src_mac, ip), <[u8]>::to_vec);
        let (etype, body): (u16, &[u8]) = match encap {
            Encap::None => (if self.ip.first().is_some_and(|v| v >> 4 == 4) { 0x0800 } else { 0x86dd }, &self.ip),
            Encap::SixInFour(a, b) => {
                self.outer.clear();
                ip_header(&mut self.outer, a, b, 41, self.ip.len(), ident, 64);
                self.outer.extend_from_slice(&self.ip);
                (0x0800, &self.outer)
            }
            Encap::Teredo((a, ap), (b, bp)) => {
                ip_packet(&mut self.outer, a, b, &L4::Udp { sport: ap, dport: bp, payload: &self.ip }, ident, 64);
                (0x0800, &self.outer)
            }
            Encap::TeredoTrailing((a, ap), (b, bp), n) => {
                let mut inner = self.ip.clone();
                inner.resize(inner.len() + n, 0xa5);
                ip_packet(&mut self.outer, a, b, &L4::Udp { sport: ap, dport: bp, payload: &inner }, ident, 64);
                (ether_type(a), &self.outer)
            }
            Encap::Gtpu { outer: (a, b), teid, ext } => {
                let mut g = Vec::with_capacity(self.ip.len() + 20);
                g.push(if ext { 0x34 } else { 0x30 }); // version 1, protocol type GTP, E flag
                g.push(0xff); // G-PDU
                let opt: &[u8] = if ext {
                    // Sequence number, N-PDU number, next type 0x85 (PDU session container):
                    // one 4-byte unit holding PDU type/QFI, then next type 0.
                    &[0, 0, 0, 0x85, 1, 0x00, 0x09, 0]
                } else {
                    &[]
                };
                g.extend_from_slice(&((opt.len() + self.ip.len()) as u16).to_be_bytes());
                g.extend_from_slice(&teid.to_be_bytes());
                g.extend_from_slice(opt);
                g.extend_from_slice(&self.ip);
                ip_packet(&mut self.outer, a, b, &L4::Udp { sport: 2152, dport: 2152, payload: &g }, ident, 64);
                (ether_type(a), &self.outer)
            }
            Encap::L2tp { outer: (a, b), session, seq } => {
                // Flags: L (length), S (Ns, Nr) and O (offset) when `seq`; version 2.
                let mut l = vec![if seq { 0x4a } else { 0x00 }, 0x02];
                if seq {
                    l.extend_from_slice(&[0, 0]);
                }
                l.extend_from_slice(&7u16.to_be_bytes());
                l.extend_from_slice(&session.to_be_bytes());
                if seq {
                    l.extend_from_slice(&[0, 1, 0, 2, 0, 2, 0xee, 0xee]);
                }
                l.extend_from_slice(&[0xff, 0x03]);
                l.extend_from_slice(if self.ip.first().is_some_and(|v| v >> 4 == 6) {
                    &[0x00, 0x57]
                } else {
                    &[0x00, 0x21]
                });
                l.extend_from_slice(&self.ip);
                if seq {
                    let n = l.len() as u16;
                    l[2..4].copy_from_slice(&n.to_be_bytes());
                }
                ip_packet(&mut self.outer, a, b, &L4::Udp { sport: 1701, dport: 1701, payload: &l }, ident, 64);
                (ether_type(a), &self.outer)
            }
            Encap::Tzsp { outer: (a, b), tags } => {
                // Version 1, type 0 (received; with tags, 1: sent), encapsulation 1 (Ethernet),
                // tags, END.
                let mut t = vec![1, u8::from(tags), 0, 1];
                if tags {
                    t.extend_from_slice(&[0, 0x28, 4, 0, 0, 0, 7]); // padding, a packet count (tag 40)
                }
                t.push(1);
                t.extend_from_slice(&inner_frame(&self.ip));
                ip_packet(&mut self.outer, a, b, &L4::Udp { sport: 49_999, dport: 37_008, payload: &t }, ident, 64);
                (ether_type(a), &self.outer)
            }
            Encap::Vxlan { outer: (a, b), sport, vni } => {
                // Flags: the I flag (the VNI is valid); the VNI in the top 24 bits of the second word.
                let mut v = vec![0x08, 0, 0, 0];
                v.extend_from_slice(&(vni << 8).to_be_bytes());
                v.extend_from_slice(&inner_frame(&self.ip));
                ip_packet(&mut self.outer, a, b, &L4::Udp { sport, dport: 4789, payload: &v }, ident, 64);
                (ether_type(a), &self.outer)
            }
            Encap::Geneve { outer: (a, b), options } => {
                // Version 0, option length in words; protocol type: Ethernet; VNI 7.
                let mut g = vec![options & 0x3f, 0, 0x65, 0x58, 0, 0, 7, 0];
                for i in 0..options {
                    // An option of class 0x0102, type i and no data: its 4-byte header alone.
                    g.extend_from_slice(&[0x01, 0x02, i, 0]);
                }
                g.extend_from_slice(&inner_frame(&self.ip));
                ip_packet(&mut self.outer, a, b, &L4::Udp { sport: 40_000, dport: 6081, payload: &g }, ident, 64);
                (ether_type(a), &self.outer)
            }
            Encap::Gre { outer: (a, b) } => {
                let mut g = vec![0, 0];
                g.extend_from_slice(
                    &(if self.ip.first().is_some_and(|v| v >> 4 == 6) { 0x86ddu16 } else { 0x0800 }).to_be_bytes(),
                );
                g.extend_from_slice(&self.ip);
                self.outer.clear();
                ip_header(&mut self.outer, a, b, 47, g.len(), ident, 64);
                self.outer.extend_from_slice(&g);
                (ether_type(a), &self.outer)
            }
            Encap::GreEthernet { outer: (a, b), erspan, seq } => {
                let mut g = match erspan {
                    0 => vec![0, 0, 0x65, 0x58],
                    1 => vec![0, 0, 0x88, 0xbe],
                    2 => vec![0x10, 0, 0x88, 0xbe],
                    _ => vec![0x10, 0, 0x22, 0xeb],
                };
                if erspan >= 2 {
                    g.extend_from_slice(&seq.to_be_bytes());
                }
                match erspan {
                    // Version 1, VLAN 0, session 5, index 0.
                    2 => g.extend_from_slice(&[0x10, 0, 0, 5, 0, 0, 0, 0]),
                    // Version 2, session 5, a timestamp, SGT 0, frame type 0 (Ethernet), hardware
                    // id 1, the O flag; then the platform subheader.
                    3 => {
                        g.extend_from_slice(&[0x20, 0, 0, 5, 0, 0, 0x30, 0x39, 0, 0, 0x00, 0x11]);
                        g.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 1]);
                    }
                    _ => {}
                }
                g.extend_from_slice(&inner_frame(&self.ip));
                self.outer.clear();
                ip_header(&mut self.outer, a, b, 47, g.len(), ident, 64);
                self.outer.extend_from_slice(&g);
                (ether_type(a), &self.outer)
            }
        };
        self.frame.clear();
        self.frame.extend_from_slice(&self.dst_mac);
        self.frame.extend_from_slice(&self.src_mac);
        self.frame.extend_from_slice(&etype.to_be_bytes());
        self.frame.extend_from_slice(body);
        &self.frame
    }
}

/// A DNS query or response for `name`/`qtype` with the given address answers.
pub fn dns_message(id: u16, name: &str, qtype: u16, answers: &[IpAddr], response: bool) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(if response { &[0x81, 0x80] } else { &[0x01, 0x00] });
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    for l in name.split('.') {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    for a in answers {
        m.extend_from_slice(&[0xc0, 12]);
        match a {
            IpAddr::V4(v) => {
                m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4]);
                m.extend_from_slice(&v.octets());
            }
            IpAddr::V6(v) => {
                m.extend_from_slice(&[0, 28, 0, 1, 0, 0, 1, 0x2c, 0, 16]);
                m.extend_from_slice(&v.octets());
            }
        }
    }
    m
}

/// The Linux cooked-capture (SLL, link type 113) form of an Ethernet frame, as `tcpdump -i any`
/// writes it: packet type, ARPHRD_ETHER, the source MAC, then the EtherType and payload.
pub fn sll_from_ethernet(frame: &[u8], outgoing: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(frame.len() + 2);
    v.extend_from_slice(&(if outgoing { 4u16 } else { 0 }).to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&6u16.to_be_bytes());
    v.extend_from_slice(&frame[6..12]);
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&frame[12..]);
    v
}

/// The link layers [`relink`] writes an Ethernet frame's packet on, by LINKTYPE_*.
pub mod relinked {
    /// PPP in HDLC-like framing (0xff 0x03, then the protocol).
    pub const PPP: u32 = 9;
    /// PPP in HDLC-like framing, link type 50.
    pub const PPP_HDLC: u32 = 50;
    /// PPPoE session.
    pub const PPP_ETHER: u32 = 51;
    /// Cisco HDLC.
    pub const C_HDLC: u32 = 104;
    /// 802.11 data frames (QoS data when `n` is odd), to the access point when `outgoing`.
    pub const IEEE802_11: u32 = 105;
    /// BSD pf's log, as FreeBSD writes it (a 61-byte header, AF_INET6 28).
    pub const PFLOG: u32 = 117;
    /// 802.11 after a radiotap header with TSFT and Flags, the frame ending with its FCS.
    pub const RADIOTAP: u32 = 127;
    /// 802.11 after a PPI header with an 802.11-Common field.
    pub const PPI: u32 = 192;
    /// Linux NFLOG, little-endian attributes.
    pub const NFLOG: u32 = 239;
    /// 802.3: Ethernet with a length, then LLC/SNAP (link type 1).
    pub const LLC_SNAP: u32 = 0x1_0001;
}

/// CRC-32 (IEEE 802.3), the frame check sequence of Ethernet and 802.11.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xedb8_8320 } else { c >> 1 };
        }
    }
    !c
}

/// The packet of an Ethernet `frame` (IPv4 or IPv6, untagged) as the link layer `linktype`
/// (see [`relinked`]) carries it. `outgoing`: sent by the frame's source MAC's station (for
/// 802.11's direction). `n` varies the framing where a link has several forms (PPP's compressed
/// protocol field, 802.11's QoS data).
pub fn relink(frame: &[u8], linktype: u32, outgoing: bool, n: u32) -> Vec<u8> {
    let (src, dst, etype, packet) = (&frame[6..12], &frame[0..6], &frame[12..14], &frame[14..]);
    let v6 = etype == [0x86, 0xdd];
    let ppp = |compressed: bool| -> Vec<u8> {
        let mut v = Vec::new();
        if compressed {
            v.push(if v6 { 0x57 } else { 0x21 });
        } else {
            v.extend_from_slice(if v6 { &[0x00, 0x57] } else { &[0x00, 0x21] });
        }
        v.extend_from_slice(packet);
        v
    };
    let llc = |v: &mut Vec<u8>| {
        v.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0]);
        v.extend_from_slice(etype);
        v.extend_from_slice(packet);
    };
    let wlan = |fcs: bool| -> Vec<u8> {
        let qos = n % 2 == 1;
        let mut v = vec![if qos { 0x88 } else { 0x08 }, if outgoing { 0x01 } else { 0x02 }, 0, 0];
        let bssid = [0x02, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb];
        // To the access point: BSSID, SA, DA; from it: DA, BSSID, SA.
        let addrs: [&[u8]; 3] = if outgoing { [&bssid, src, dst] } else { [dst, &bssid, src] };
        addrs.iter().for_each(|a| v.extend_from_slice(a));
        v.extend_from_slice(&((n as u16) << 4).to_le_bytes());
        if qos {
            v.extend_from_slice(&[0, 0]);
        }
        llc(&mut v);
        if fcs {
            let c = crc32(&v);
            v.extend_from_slice(&c.to_le_bytes());
        }
        v
    };
    match linktype {
        relinked::PPP | relinked::PPP_HDLC => {
            let mut v = if linktype == relinked::PPP && n % 2 == 1 { vec![] } else { vec![0xff, 0x03] };
            v.extend(ppp(linktype == relinked::PPP && n % 3 == 2));
            v
        }
        relinked::PPP_ETHER => {
            let mut v = vec![0x11, 0x00, 0x12, 0x34];
            v.extend_from_slice(&((packet.len() + 2) as u16).to_be_bytes());
            v.extend(ppp(false));
            v
        }
        relinked::C_HDLC => [&[0x0f, 0x00], etype, packet].concat(),
        relinked::IEEE802_11 => wlan(false),
        relinked::RADIOTAP => {
            // Presence: TSFT, Flags; TSFT is aligned to 8, Flags says the FCS ends the frame.
            let mut v = vec![0, 0, 24, 0];
            v.extend_from_slice(&3u32.to_le_bytes());
            v.extend_from_slice(&(u64::from(n) * 1000).to_le_bytes());
            v.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, 0, 0]);
            v.extend(wlan(true));
            v
        }
        relinked::PPI => {
            let mut v = vec![0, 0, 32, 0];
            v.extend_from_slice(&105u32.to_le_bytes());
            v.extend_from_slice(&2u16.to_le_bytes());
            v.extend_from_slice(&20u16.to_le_bytes());
            v.extend_from_slice(&[0; 20]);
            v.extend(wlan(false));
            v
        }
        relinked::PFLOG => {
            let mut v = vec![0u8; 64];
            v[0] = 61;
            v[1] = if v6 { 28 } else { 2 };
            v[2] = 0; // pass
            v[4..8].copy_from_slice(b"em0\0");
            v[60] = if outgoing { 2 } else { 1 };
            v.extend_from_slice(packet);
            v
        }
        relinked::NFLOG => {
            let mut v = vec![if v6 { 10 } else { 2 }, 0, 0, 1];
            let mut tlv = |kind: u16, value: &[u8]| {
                v.extend_from_slice(&((4 + value.len()) as u16).to_le_bytes());
                v.extend_from_slice(&kind.to_le_bytes());
                v.extend_from_slice(value);
                v.resize(v.len().next_multiple_of(4), 0);
            };
            tlv(1, &[etype[0], etype[1], 1, 0]);
            tlv(10, b"v6watch\0");
            tlv(9, packet);
            v
        }
        relinked::LLC_SNAP => {
            let mut v = [dst, src].concat();
            v.extend_from_slice(&((packet.len() + 8) as u16).to_be_bytes());
            llc(&mut v);
            v
        }
        other => panic!("relink: link type {other} not written"),
    }
}

/// Writes classic pcap (microseconds, little-endian, Ethernet unless told).
pub struct PcapWriter<W: Write> {
    w: W,
    pub bytes: u64,
    pub packets: u64,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(w: W) -> io::Result<Self> {
        Self::with_linktype(w, 1)
    }
    pub fn with_linktype(mut w: W, linktype: u32) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&linktype.to_le_bytes());
        w.write_all(&h)?;
        Ok(PcapWriter { w, bytes: 24, packets: 0 })
    }
    pub fn write(&mut self, ts_ns: i64, data: &[u8]) -> io::Result<()> {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&(ts_ns.div_euclid(1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts_ns.rem_euclid(1_000_000_000) / 1000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(data)?;
        self.bytes += 16 + data.len() as u64;
        self.packets += 1;
        Ok(())
    }
    pub fn finish(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Writes pcapng with one Ethernet interface at nanosecond resolution.
pub struct PcapngWriter<W: Write> {
    w: W,
    pub packets: u64,
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

fn option(v: &mut Vec<u8>, code: u16, value: &[u8]) {
    v.extend_from_slice(&code.to_le_bytes());
    v.extend_from_slice(&(value.len() as u16).to_le_bytes());
    v.extend_from_slice(value);
    pad4(v);
}

impl<W: Write> PcapngWriter<W> {
    pub fn new(mut w: W, hardware: &str, iface: &str) -> io::Result<Self> {
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        option(&mut shb, 2, hardware.as_bytes());
        option(&mut shb, 4, b"v6watch demo");
        option(&mut shb, 0, &[]);
        Self::block(&mut w, 0x0A0D_0D0A, &shb)?;
        let mut idb = Vec::new();
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&262_144u32.to_le_bytes());
        option(&mut idb, 2, iface.as_bytes());
        option(&mut idb, 9, &[9]);
        option(&mut idb, 0, &[]);
        Self::block(&mut w, 1, &idb)?;
        Ok(PcapngWriter { w, packets: 0 })
    }
    fn block(w: &mut W, t: u32, body: &[u8]) -> io::Result<()> {
        let len = (12 + body.len()) as u32;
        w.write_all(&t.to_le_bytes())?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(body)?;
        w.write_all(&len.to_le_bytes())
    }
    pub fn write(&mut self, ts_ns: i64, data: &[u8]) -> io::Result<()> {
        let mut b = Vec::with_capacity(data.len() + 24);
        let ts = ts_ns as u64;
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        pad4(&mut b);
        self.packets += 1;
        Self::block(&mut self.w, 6, &b)
    }
    pub fn finish(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// A minimal, well-formed TLS 1.2 ClientHello record carrying `name` as SNI.
pub fn client_hello(name: &str) -> Vec<u8> {
    let name = name.as_bytes();
    let mut ext = Vec::new();
    ext.extend_from_slice(&[0, 0]);
    ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0x13, 0x02, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// SplitMix64: small, fast, deterministic; quality is ample for traffic synthesis.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A copy of `good` with one to three bytes replaced by bytes of `alphabet` (for tests
    /// that damage text formats: JSON lines, headers).
    pub fn mutate(&mut self, good: &[u8], alphabet: &[u8]) -> Vec<u8> {
        let mut b = good.to_vec();
        for _ in 0..1 + self.below(3) {
            let i = self.below(b.len() as u64) as usize;
            b[i] = alphabet[self.below(alphabet.len() as u64) as usize];
        }
        b
    }

    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// The shared corpus's capture files (`*.pcap`, `*.pcapng`, `*.cap`; tshark's reference outputs
/// left out), sorted, for tests that run over all of it; empty when there is no corpus at
/// `dir`, which under `CI=true` is a failure, not a skip.
pub fn corpus_captures(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    if !dir.join("INVENTORY.tsv").is_file() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no corpus at {}", dir.display());
        return Vec::new();
    }
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("corpus folder") {
            let p = e.expect("corpus entry").path();
            if p.is_dir() && !p.ends_with("reference") {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn checksums_verify() {
        // Summing a packet including its checksum gives 0xffff (RFC 1071).
        let mut ip = Vec::new();
        let s: IpAddr = "192.0.2.1".parse().unwrap();
        let d: IpAddr = "192.0.2.2".parse().unwrap();
        ip_packet(&mut ip, s, d, &L4::Udp { sport: 1, dport: 2, payload: b"abc" }, 7, 64);
        assert_eq!(fold(sum16(0, &ip[..20])), 0);
        assert_eq!(fold(sum16(pseudo(s, d, 17, 11), &ip[20..])), 0);
    }

    #[test]
    fn rng_is_deterministic() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        assert!(a.below(10) < 10);
    }
}

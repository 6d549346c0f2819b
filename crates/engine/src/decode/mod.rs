//! Frame → [`Decoded`]: the layer walk, dispatching on link type, EtherType and IP protocol
//! (Zeek's packet-analyzer chain, as a loop). Tunnels (6in4/6to4, IP-in-IP, 4in6, GRE, Teredo,
//! AYIYA) are decapsulated and the outer layer is kept; fragments are reassembled; ICMP errors
//! carry the key of the packet they quote. Problems become [`Anomaly`] bits, never errors.

pub mod anomaly;
pub mod defrag;

pub use anomaly::{Anomaly, AnomalyCounts, AnomalySet};

use defrag::{Defrag, FragKey, Limits, Outcome};
use wire::{ethernet, ethertype, icmp, ipproto, ipv4, ipv6, link, link::linktype, tcp, udp, wlan};

/// How deep tunnels are followed (outer IP counts as one).
pub const MAX_IP_DEPTH: u8 = 4;

/// An IP address as 16 bytes plus its version; IPv4 sits in the first four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Addr {
    /// 4 or 6.
    pub version: u8,
    /// The address bytes (IPv4: first four, rest zero).
    pub bytes: [u8; 16],
}

/// One 128-bit write instead of the derived byte-slice walk (a length prefix, the bytes, then
/// the version): addresses are hashed for every packet (flow keys, sensor inference).
impl std::hash::Hash for Addr {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The version only needs to tell apart addresses with equal bytes; any such pair that
        // still hashes alike is a collision, never a false match (`Eq` compares both fields).
        state.write_u128(u128::from_le_bytes(self.bytes) ^ u128::from(self.version));
    }
}

impl Addr {
    /// An IPv4 address.
    pub fn v4(a: [u8; 4]) -> Addr {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&a);
        Addr { version: 4, bytes }
    }
    /// An IPv6 address.
    pub fn v6(bytes: [u8; 16]) -> Addr {
        Addr { version: 6, bytes }
    }
    /// As a standard library address.
    pub fn to_ip(&self) -> std::net::IpAddr {
        if self.version == 4 {
            std::net::IpAddr::from([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]])
        } else {
            std::net::IpAddr::from(self.bytes)
        }
    }
    /// From a standard library address.
    pub fn from_ip(ip: std::net::IpAddr) -> Addr {
        match ip {
            std::net::IpAddr::V4(a) => Addr::v4(a.octets()),
            std::net::IpAddr::V6(a) => Addr::v6(a.octets()),
        }
    }
    /// Multicast (224/4 or ff00::/8) or IPv4 limited broadcast.
    pub fn is_multicast_or_broadcast(&self) -> bool {
        match self.version {
            4 => self.bytes[0] >= 224 && self.bytes[0] < 240 || self.bytes[..4] == [255; 4],
            _ => self.bytes[0] == 0xff,
        }
    }
    /// Link-local: 169.254/16 or fe80::/10.
    pub fn is_link_local(&self) -> bool {
        match self.version {
            4 => self.bytes[0] == 169 && self.bytes[1] == 254,
            _ => self.bytes[0] == 0xfe && self.bytes[1] & 0xc0 == 0x80,
        }
    }
    /// The unspecified address (0.0.0.0 or ::).
    pub fn is_unspecified(&self) -> bool {
        self.bytes == [0; 16]
    }
    /// Loopback: 127/8 or ::1.
    pub fn is_loopback(&self) -> bool {
        match self.version {
            4 => self.bytes[0] == 127,
            _ => self.bytes[..15] == [0; 15] && self.bytes[15] == 1,
        }
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_ip().fmt(f)
    }
}

/// The innermost network layer that is not quoted inside an ICMP error.
#[derive(Debug, Clone, Copy, Default)]
pub struct Net {
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Upper-layer protocol after extension headers.
    pub proto: u8,
    /// Datagram length (header + payload) as declared, after reassembly when fragmented.
    pub ip_len: u32,
    /// TTL or hop limit.
    pub hop_limit: u8,
    /// IPv6 extension headers met (`wire::ipv6::EXT_*` bits).
    pub ext: u16,
    /// Fragments this datagram was reassembled from (0 when it was not fragmented).
    pub fragments: u32,
}

/// Tunnel encapsulations v6watch decapsulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    /// IPv6 in IPv4, protocol 41, neither end in 2002::/16.
    #[serde(rename = "6in4")]
    SixInFour,
    /// IPv6 in IPv4, protocol 41, with a 2002::/16 address (RFC 3056).
    #[serde(rename = "6to4")]
    SixToFour,
    /// IPv4 in IPv4 (protocol 4).
    #[serde(rename = "ipip")]
    IpInIp,
    /// IPv4 in IPv6.
    #[serde(rename = "4in6")]
    FourInSix,
    /// IPv6 in IPv6.
    #[serde(rename = "6in6")]
    SixInSix,
    /// GRE (RFC 2784/2890).
    Gre,
    /// Teredo (RFC 4380), UDP 3544.
    Teredo,
    /// AYIYA (anything in anything), UDP 5072.
    Ayiya,
    /// GTPv1-U user-plane G-PDUs (3GPP TS 29.281), UDP 2152: mobile-network traffic.
    Gtp,
    /// VXLAN (RFC 7348), UDP 4789: Ethernet frames, e.g. a cloud's traffic mirror (AWS VPC
    /// Traffic Mirroring, Azure vTAP) or an overlay network.
    Vxlan,
    /// Geneve (RFC 8926), UDP 6081: Ethernet frames or IP packets of an overlay network.
    Geneve,
    /// L2TPv2 (RFC 2661), UDP 1701: the PPP sessions of a broadband or VPN access network.
    L2tp,
    /// TZSP (TaZmen Sniffer Protocol), UDP 37008: frames a router's packet sniffer streams to
    /// a remote analyser (MikroTik's "streaming"), Ethernet or 802.11.
    Tzsp,
}

impl TunnelKind {
    /// Every kind.
    pub const ALL: [TunnelKind; 13] = [
        TunnelKind::SixInFour,
        TunnelKind::SixToFour,
        TunnelKind::IpInIp,
        TunnelKind::FourInSix,
        TunnelKind::SixInSix,
        TunnelKind::Gre,
        TunnelKind::Teredo,
        TunnelKind::Ayiya,
        TunnelKind::Gtp,
        TunnelKind::Vxlan,
        TunnelKind::Geneve,
        TunnelKind::L2tp,
        TunnelKind::Tzsp,
    ];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::SixInFour => "6in4",
            TunnelKind::SixToFour => "6to4",
            TunnelKind::IpInIp => "ipip",
            TunnelKind::FourInSix => "4in6",
            TunnelKind::SixInSix => "6in6",
            TunnelKind::Gre => "gre",
            TunnelKind::Teredo => "teredo",
            TunnelKind::Ayiya => "ayiya",
            TunnelKind::Gtp => "gtp",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::L2tp => "l2tp",
            TunnelKind::Tzsp => "tzsp",
        }
    }
}

/// The outermost tunnel a packet arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    /// Encapsulation.
    pub kind: TunnelKind,
    /// Outer source.
    pub outer_src: Addr,
    /// Outer destination.
    pub outer_dst: Addr,
    /// Teredo: an origin indication was present.
    pub teredo_origin: bool,
    /// Teredo: an authentication indication was present.
    pub teredo_auth: bool,
}

/// TCP fields the flow tracker uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpInfo {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags byte.
    pub flags: u8,
    /// Window (unscaled).
    pub window: u16,
    /// Options (parsed only on SYN segments, where they matter).
    pub options: Option<tcp::Options>,
    /// Payload length as declared by the IP layer (may exceed what was captured).
    pub payload_len: u32,
}

/// What an ICMP error quotes: the offending packet's 5-tuple, as its sender sent it.
#[derive(Debug, Clone, Copy)]
pub struct Quoted {
    /// Quoted source.
    pub src: Addr,
    /// Quoted destination.
    pub dst: Addr,
    /// Quoted protocol.
    pub proto: u8,
    /// Quoted source port (or ICMP type).
    pub sport: u16,
    /// Quoted destination port (or ICMP code/id).
    pub dport: u16,
}

/// The transport layer.
#[derive(Debug, Clone, Copy, Default)]
pub enum Transport {
    /// No transport decoded (non-IP, undecodable, or a pending fragment).
    #[default]
    None,
    /// TCP.
    Tcp(TcpInfo),
    /// UDP with its ports.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// ICMP or ICMPv6.
    Icmp {
        /// ICMPv6 rather than ICMPv4.
        v6: bool,
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
        /// Echo identifier (echo messages) or 0.
        ident: u16,
        /// Rest of header as u32 (MTU for Packet Too Big).
        rest: u32,
        /// The quoted packet of an error message.
        quoted: Option<Quoted>,
    },
    /// Another IP protocol, decoded no further.
    Other,
}

/// Everything decoded from one frame.
#[derive(Debug, Clone, Default)]
pub struct Decoded<'a> {
    /// Version of the first (outermost) IP header, 0 when there is none.
    pub outer_version: u8,
    /// IPv4 headers after the outermost one (tunnels and ICMP quotes), as tshark counts them.
    pub inner_v4: u8,
    /// IPv6 headers after the outermost one.
    pub inner_v6: u8,
    /// Any IPv4 header anywhere, tunnels included, quotes excluded.
    pub any_v4: bool,
    /// Any IPv6 header anywhere, tunnels included, quotes excluded.
    pub any_v6: bool,
    /// 802.1Q/802.1ad tags met.
    pub vlan_tags: u8,
    /// Outermost VLAN id.
    pub vlan: Option<u16>,
    /// Source MAC when the link has one.
    pub src_mac: Option<[u8; 6]>,
    /// The innermost network layer (None for non-IP frames and undecodable IP).
    pub net: Option<Net>,
    /// The outermost tunnel.
    pub tunnel: Option<Tunnel>,
    /// The transport layer of `net`.
    pub transport: Transport,
    /// The transport payload as captured (possibly reassembled).
    pub payload: &'a [u8],
    /// A fragment is waiting for the rest of its datagram: counted, not a flow packet yet.
    pub fragment_pending: bool,
    /// Oddities met.
    pub anomalies: AnomalySet,
}

/// Decodes frames; owns the reassembly pool and the buffer reassembled datagrams live in.
pub struct Decoder {
    defrag: Defrag,
    reassembled: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(Limits::default())
    }
}

pub(crate) enum Next<'a> {
    Ip4(&'a [u8]),
    Ip6(&'a [u8]),
    Done,
}

impl Decoder {
    /// A decoder with the given reassembly limits.
    pub fn new(limits: Limits) -> Self {
        Decoder { defrag: Defrag::new(limits), reassembled: Vec::new() }
    }

    /// Incomplete datagrams given up since last asked.
    pub fn take_expired_fragments(&mut self) -> u64 {
        self.defrag.take_expired()
    }

    /// Ends input: pending fragments are given up.
    pub fn finish(&mut self) -> u64 {
        self.defrag.finish();
        self.defrag.take_expired()
    }

    /// Decodes one frame captured at `ts` (ns) on a `linktype` interface.
    pub fn decode<'a>(&'a mut self, ts: i64, lt: u32, data: &'a [u8]) -> Decoded<'a> {
        let mut d = Decoded::default();
        self.decode_into(ts, lt, data, &mut d);
        d
    }

    /// [`Decoder::decode`] into `d`, which must be `Decoded::default()`: the engine's per-frame
    /// path. Returning the `Decoded` (184 bytes) copied it out once per frame, even inlined:
    /// that memcpy was 36 ms of a 1.2 s run on the replayed benchmark capture.
    #[inline]
    pub fn decode_into<'a>(&'a mut self, ts: i64, lt: u32, data: &'a [u8], d: &mut Decoded<'a>) {
        let next = link_layer(lt, data, d);
        let Decoder { defrag, reassembled } = self;
        let mut scratch = Some(reassembled);
        ip_layers(ts, next, d, defrag, &mut scratch);
    }
}

/// Walks the link layer to the first network header.
pub(crate) fn link_layer<'a>(lt: u32, data: &'a [u8], d: &mut Decoded<'a>) -> Next<'a> {
    let (etype, rest) = match lt {
        linktype::ETHERNET => match ethernet::Frame::parse(data) {
            Ok(f) => {
                d.src_mac = Some(f.src());
                (f.ethertype(), f.payload())
            }
            Err(_) => {
                d.anomalies.add(Anomaly::LinkTruncated);
                return Next::Done;
            }
        },
        linktype::LINUX_SLL => match link::Sll::parse(data) {
            Ok(s) => (s.protocol(), s.payload()),
            Err(_) => {
                d.anomalies.add(Anomaly::LinkTruncated);
                return Next::Done;
            }
        },
        linktype::LINUX_SLL2 => match link::Sll2::parse(data) {
            Ok(s) => (s.protocol(), s.payload()),
            Err(_) => {
                d.anomalies.add(Anomaly::LinkTruncated);
                return Next::Done;
            }
        },
        linktype::NULL | linktype::LOOP => match link::Null::parse(data, lt == linktype::LOOP) {
            Ok(n) => return by_family(n.family(), n.payload()),
            Err(_) => {
                d.anomalies.add(Anomaly::LinkTruncated);
                return Next::Done;
            }
        },
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 => return by_version(data),
        linktype::IPV4 => return Next::Ip4(data),
        linktype::IPV6 => return Next::Ip6(data),
        linktype::PPP => return ppp_layer(link::ppp(data), d),
        // The first byte tells PPP in HDLC-like framing (0xff) from Cisco HDLC (0x0f, 0x8f).
        linktype::PPP_HDLC if data.first() == Some(&0xff) => return ppp_layer(link::ppp(data), d),
        linktype::PPP_ETHER => return ppp_layer(link::pppoe_session(data), d),
        linktype::C_HDLC | linktype::PPP_HDLC => match link::chdlc(data) {
            Ok(t) => t,
            Err(_) => return link_damaged(d),
        },
        linktype::IEEE802_11 => return wlan_layer(data, false, d),
        linktype::IEEE802_11_RADIOTAP => match wlan::Radiotap::parse(data) {
            Ok(r) => return wlan_layer(r.frame, r.datapad, d),
            Err(_) => return link_damaged(d),
        },
        // PPI names the link type after it; only 802.11 is written there in practice (another
        // PPI inside would let a frame nest without end).
        linktype::PPI => match wlan::Ppi::parse(data) {
            Ok(p) if p.linktype == linktype::IEEE802_11 => return wlan_layer(p.frame, false, d),
            Ok(p) if p.linktype == linktype::ETHERNET => return link_layer(linktype::ETHERNET, p.frame, d),
            Ok(_) => {
                d.anomalies.add(Anomaly::UnknownLinktype);
                return Next::Done;
            }
            Err(_) => return link_damaged(d),
        },
        linktype::PFLOG => match link::Pflog::parse(data) {
            Ok(p) => return by_family(p.family(), p.payload()),
            Err(_) => return link_damaged(d),
        },
        linktype::NFLOG => match link::nflog(data) {
            Ok((family, Some(packet))) => return by_family(family, packet),
            Ok((_, None)) => return Next::Done,
            Err(_) => return link_damaged(d),
        },
        _ => {
            d.anomalies.add(Anomaly::UnknownLinktype);
            return Next::Done;
        }
    };
    by_ethertype(etype, rest, d)
}

/// A link header that ends before its fixed part, or says it does.
fn link_damaged<'a>(d: &mut Decoded<'a>) -> Next<'a> {
    d.anomalies.add(Anomaly::LinkTruncated);
    Next::Done
}

/// The packet a BSD or Linux address family announces.
fn by_family(family: link::NullFamily, data: &[u8]) -> Next<'_> {
    match family {
        link::NullFamily::Ipv4 => Next::Ip4(data),
        link::NullFamily::Ipv6 => Next::Ip6(data),
        link::NullFamily::Other(_) => Next::Done,
    }
}

/// What a PPP protocol number carries (PPP links, PPP in HDLC-like framing, PPPoE).
fn ppp_layer<'a>(frame: wire::Result<(u16, &'a [u8])>, d: &mut Decoded<'a>) -> Next<'a> {
    match frame {
        Ok((link::ppp_protocol::IPV4, rest)) => Next::Ip4(rest),
        Ok((link::ppp_protocol::IPV6, rest)) => Next::Ip6(rest),
        Ok((link::ppp_protocol::MPLS | link::ppp_protocol::MPLS_MULTICAST, rest)) => by_ethertype(0x8847, rest, d),
        Ok(_) => Next::Done,
        Err(_) => link_damaged(d),
    }
}

/// An 802.11 frame as the link layer: its transmitting station is the frame's source MAC, as
/// Ethernet's source is (see [`wlan_frame`]).
fn wlan_layer<'a>(frame: &'a [u8], datapad: bool, d: &mut Decoded<'a>) -> Next<'a> {
    let (src, next) = wlan_frame(frame, datapad, d);
    d.src_mac = src;
    next
}

/// An 802.11 frame's transmitting station and what it carries: a data frame's LLC/SNAP payload
/// by its EtherType; encrypted data, aggregates and management frames carry no packet to read.
fn wlan_frame<'a>(frame: &'a [u8], datapad: bool, d: &mut Decoded<'a>) -> (Option<[u8; 6]>, Next<'a>) {
    match wlan::Frame::parse(frame, datapad) {
        Ok(f) => match f.body() {
            wlan::Body::Data(llc) => match wlan::snap(llc) {
                Some((etype, rest)) => (f.src(), by_ethertype(etype, rest, d)),
                None => (f.src(), Next::Done),
            },
            _ => (f.src(), Next::Done),
        },
        Err(_) => (None, link_damaged(d)),
    }
}

fn by_version(data: &[u8]) -> Next<'_> {
    match data.first().map(|b| b >> 4) {
        Some(4) => Next::Ip4(data),
        Some(6) => Next::Ip6(data),
        _ => Next::Done,
    }
}

/// Follows VLAN tags, MPLS labels and PPPoE sessions to an IP header.
fn by_ethertype<'a>(mut etype: u16, mut rest: &'a [u8], d: &mut Decoded<'a>) -> Next<'a> {
    for _ in 0..8 {
        match etype {
            ethertype::IPV4 => return Next::Ip4(rest),
            ethertype::IPV6 => return Next::Ip6(rest),
            t if ethernet::is_vlan(t) => match ethernet::VlanTag::parse(rest) {
                Ok(tag) => {
                    if d.vlan.is_none() {
                        d.vlan = Some(tag.vid());
                    }
                    d.vlan_tags = d.vlan_tags.saturating_add(1);
                    etype = tag.ethertype();
                    rest = tag.payload();
                }
                Err(_) => {
                    d.anomalies.add(Anomaly::LinkTruncated);
                    return Next::Done;
                }
            },
            // MPLS unicast/multicast: pop labels to bottom of stack, then guess by version.
            0x8847 | 0x8848 => {
                let mut b = rest;
                loop {
                    if b.len() < 4 {
                        d.anomalies.add(Anomaly::LinkTruncated);
                        return Next::Done;
                    }
                    let bottom = b[2] & 1 != 0;
                    b = &b[4..];
                    if bottom {
                        return by_version(b);
                    }
                }
            }
            // PPPoE session: 6-byte header then a 2-byte PPP protocol.
            0x8864 => return ppp_layer(link::pppoe_session(rest), d),
            // An 802.3 length, not an EtherType: LLC follows, with SNAP when it carries one.
            t if t <= 1500 => match wlan::snap(rest) {
                Some((e, r)) => {
                    etype = e;
                    rest = r;
                }
                None => return Next::Done,
            },
            _ => return Next::Done,
        }
    }
    Next::Done
}

/// One IP header's facts, on the way down the layers.
struct IpLayer<'a> {
    net: Net,
    proto: u8,
    payload: &'a [u8],
    /// Reassembly key, offset and MF flag when this datagram is a fragment.
    frag: Option<(FragKey, u32, bool)>,
    /// Transport length the header declares (may exceed what was captured).
    declared: usize,
}

/// Walks IP headers (and tunnels) to the transport layer.
fn ip_layers<'a>(
    ts: i64,
    mut next: Next<'a>,
    d: &mut Decoded<'a>,
    defrag: &mut Defrag,
    scratch: &mut Option<&'a mut Vec<u8>>,
) {
    let mut depth = 0u8;
    loop {
        let layer: IpLayer<'a> = match next {
            Next::Done => return,
            Next::Ip4(b) => {
                let p = match ipv4::Packet::parse(b) {
                    Ok(p) => p,
                    Err(_) => {
                        // A cut-short header still says which family the frame is (tshark
                        // counts it the same way).
                        if b.first().is_some_and(|v| v >> 4 == 4) {
                            note_version(d, 4, depth);
                        }
                        d.anomalies.add(Anomaly::Ipv4BadHeader);
                        return;
                    }
                };
                note_version(d, 4, depth);
                if !p.total_len_valid() || usize::from(p.total_len()) > b.len() && !p.is_truncated() {
                    d.anomalies.add(Anomaly::Ipv4BadTotalLength);
                }
                if p.is_truncated() {
                    d.anomalies.add(Anomaly::SnaplenTruncated);
                }
                let net = Net {
                    src: Addr::v4(p.src()),
                    dst: Addr::v4(p.dst()),
                    proto: p.protocol(),
                    ip_len: p.datagram_len() as u32,
                    hop_limit: p.ttl(),
                    ext: 0,
                    fragments: 0,
                };
                let frag = p.is_fragment().then(|| {
                    let key = FragKey {
                        version: 4,
                        src: net.src.bytes,
                        dst: net.dst.bytes,
                        ident: u32::from(p.ident()),
                        proto: p.protocol(),
                    };
                    (key, p.frag_offset(), p.more_frags())
                });
                IpLayer {
                    net,
                    proto: p.protocol(),
                    payload: p.payload(),
                    frag,
                    declared: p.datagram_len().saturating_sub(p.header_len()),
                }
            }
            Next::Ip6(b) => {
                let p = match ipv6::Packet::parse(b) {
                    Ok(p) => p,
                    Err(_) => {
                        if b.first().is_some_and(|v| v >> 4 == 6) {
                            note_version(d, 6, depth);
                        }
                        d.anomalies.add(Anomaly::Ipv6BadHeader);
                        return;
                    }
                };
                note_version(d, 6, depth);
                if p.is_truncated() {
                    d.anomalies.add(Anomaly::SnaplenTruncated);
                }
                let mut net = Net {
                    src: Addr::v6(p.src()),
                    dst: Addr::v6(p.dst()),
                    proto: p.next_header(),
                    ip_len: p.datagram_len() as u32,
                    hop_limit: p.hop_limit(),
                    ext: 0,
                    fragments: 0,
                };
                if net.src.bytes[0] == 0xff {
                    d.anomalies.add(Anomaly::MulticastSource);
                }
                let chain = match ipv6::walk(p.next_header(), p.payload()) {
                    Ok(c) => c,
                    Err(_) => {
                        d.anomalies.add(Anomaly::Ipv6ExtTruncated);
                        // The addresses are still good: keep a network layer without transport.
                        net.proto = ipproto::NONXT;
                        d.net = Some(net);
                        d.transport = Transport::Other;
                        return;
                    }
                };
                net.ext = chain.seen;
                net.proto = chain.protocol;
                if chain.seen & ipv6::EXT_HOPOPT_NOT_FIRST != 0 {
                    d.anomalies.add(Anomaly::Ipv6HopByHopNotFirst);
                }
                let frag = chain.fragment.and_then(|f| {
                    if f.is_atomic() {
                        d.anomalies.add(Anomaly::FragAtomic);
                        None
                    } else {
                        let key =
                            FragKey { version: 6, src: net.src.bytes, dst: net.dst.bytes, ident: f.ident, proto: 0 };
                        Some((key, f.offset, f.more))
                    }
                });
                IpLayer {
                    net,
                    proto: chain.protocol,
                    payload: &p.payload()[chain.offset..],
                    frag,
                    declared: p.datagram_len().saturating_sub(40 + chain.offset),
                }
            }
        };
        depth += 1;
        let IpLayer { mut net, proto, mut payload, frag, mut declared } = layer;
        if let Some((key, offset, more)) = frag {
            let Some(buf) = scratch.take() else {
                d.anomalies.add(Anomaly::FragNested);
                d.net = Some(net);
                d.transport = Transport::Other;
                return;
            };
            match defrag.add(ts, key, defrag::Piece { offset, more, data: payload }, buf, &mut d.anomalies) {
                Outcome::Complete { fragments } => {
                    let buf: &'a Vec<u8> = buf;
                    payload = buf.as_slice();
                    net.fragments = fragments;
                    // Account the whole datagram once, on the fragment that completed it.
                    let hdr = if net.src.version == 4 { 20 } else { 40 };
                    net.ip_len = (payload.len() + hdr) as u32;
                    declared = payload.len();
                }
                Outcome::Pending | Outcome::Dropped => {
                    *scratch = Some(buf);
                    d.net = Some(net);
                    d.fragment_pending = true;
                    return;
                }
            }
        }
        if net.src == net.dst {
            d.anomalies.add(Anomaly::SameSrcDst);
        }
        // Tunnels.
        let inner = match proto {
            ipproto::IPV6 => {
                Some((Next::Ip6(payload), if net.src.version == 4 { six_kind(payload) } else { TunnelKind::SixInSix }))
            }
            ipproto::IPIP => Some((
                Next::Ip4(payload),
                if net.src.version == 4 { TunnelKind::IpInIp } else { TunnelKind::FourInSix },
            )),
            ipproto::GRE => gre(payload, d).map(|n| (n, TunnelKind::Gre)),
            _ => None,
        };
        if let Some((n, kind)) = inner {
            if depth >= MAX_IP_DEPTH {
                d.anomalies.add(Anomaly::TunnelTooDeep);
                d.net = Some(net);
                d.transport = Transport::Other;
                return;
            }
            set_tunnel(d, kind, &net, false, false);
            next = n;
            continue;
        }
        d.net = Some(net);
        transport(proto, payload, declared, &net, d);
        if let (Transport::Udp { sport, dport }, true) = (d.transport, depth < MAX_IP_DEPTH) {
            if let Some((kind, n, origin, auth)) = udp_tunnel(net.src.version == 4, sport, dport, d.payload, d) {
                set_tunnel(d, kind, &net, origin, auth);
                reset_inner(d);
                next = n;
                continue;
            }
        }
        return;
    }
}

fn reset_inner(d: &mut Decoded<'_>) {
    d.net = None;
    d.transport = Transport::None;
    d.payload = &[];
}

fn note_version(d: &mut Decoded<'_>, v: u8, depth: u8) {
    if depth == 0 {
        d.outer_version = v;
    } else if v == 4 {
        d.inner_v4 = d.inner_v4.saturating_add(1);
    } else {
        d.inner_v6 = d.inner_v6.saturating_add(1);
    }
    if v == 4 {
        d.any_v4 = true;
    } else {
        d.any_v6 = true;
    }
}

fn set_tunnel(d: &mut Decoded<'_>, kind: TunnelKind, outer: &Net, origin: bool, auth: bool) {
    if d.tunnel.is_none() {
        d.tunnel =
            Some(Tunnel { kind, outer_src: outer.src, outer_dst: outer.dst, teredo_origin: origin, teredo_auth: auth });
    }
}

/// 6to4 when either inner address is in 2002::/16, otherwise a configured 6in4 tunnel.
fn six_kind(inner: &[u8]) -> TunnelKind {
    let is6to4 = |a: &[u8]| a.len() >= 2 && a[0] == 0x20 && a[1] == 0x02;
    if inner.len() >= 40 && (is6to4(&inner[8..10]) || is6to4(&inner[24..26])) {
        TunnelKind::SixToFour
    } else {
        TunnelKind::SixInFour
    }
}

/// GRE (RFC 2784 with RFC 2890 key/sequence): returns the inner IP when it carries one.
pub(crate) fn gre<'a>(b: &'a [u8], d: &mut Decoded<'a>) -> Option<Next<'a>> {
    if b.len() < 4 {
        d.anomalies.add(Anomaly::TunnelBadHeader);
        return None;
    }
    let flags = b[0];
    let version = b[1] & 7;
    if version != 0 {
        return None; // PPTP's enhanced GRE: not followed.
    }
    let mut len = 4;
    if flags & 0x80 != 0 {
        len += 4;
    }
    if flags & 0x20 != 0 {
        len += 4;
    }
    if flags & 0x10 != 0 {
        len += 4;
    }
    let rest = b.get(len..).or_else(|| {
        d.anomalies.add(Anomaly::TunnelBadHeader);
        None
    })?;
    match u16::from_be_bytes([b[2], b[3]]) {
        ethertype::IPV4 => Some(Next::Ip4(rest)),
        ethertype::IPV6 => Some(Next::Ip6(rest)),
        TRANSPARENT_ETHERNET => inner_ethernet(rest, d),
        // ERSPAN type I has no header of its own (and no GRE sequence number); type II has 8
        // bytes, version 1 (Wireshark tells them apart the same way).
        ERSPAN_2 if flags & 0x10 == 0 => inner_ethernet(rest, d),
        ERSPAN_2 => match rest.get(8..) {
            Some(frame) if rest[0] >> 4 == 1 => inner_ethernet(frame, d),
            _ => bad_tunnel(d),
        },
        ERSPAN_3 => erspan3(rest, d),
        _ => None,
    }
}

/// GRE protocol of bridged Ethernet frames (transparent Ethernet bridging, RFC 1701).
const TRANSPARENT_ETHERNET: u16 = 0x6558;
/// GRE protocol of ERSPAN types I and II (Cisco's remote SPAN).
const ERSPAN_2: u16 = 0x88be;
/// GRE protocol of ERSPAN type III.
const ERSPAN_3: u16 = 0x22eb;

/// A tunnel header that announces its payload but is damaged: counted, not decapsulated.
fn bad_tunnel<'a>(d: &mut Decoded<'a>) -> Option<Next<'a>> {
    d.anomalies.add(Anomaly::TunnelBadHeader);
    None
}

/// ERSPAN type III: a 12-byte header, version 2, then an 8-byte platform-specific subheader
/// when its O flag is set; the frame type says Ethernet (0) or IP (2).
fn erspan3<'a>(b: &'a [u8], d: &mut Decoded<'a>) -> Option<Next<'a>> {
    if b.len() < 12 || b[0] >> 4 != 2 {
        return bad_tunnel(d);
    }
    let len = if b[11] & 1 != 0 { 20 } else { 12 };
    let Some(inner) = b.get(len..) else { return bad_tunnel(d) };
    match (b[10] >> 2) & 0x1f {
        0 => inner_ethernet(inner, d),
        2 => Some(by_version(inner)),
        _ => None,
    }
}

/// An Ethernet frame inside a tunnel (VXLAN, Geneve, GRE bridging, ERSPAN), followed to its IP
/// header as an outer frame is (VLAN tags, MPLS, PPPoE). A frame of another protocol (ARP) is
/// decapsulated and makes no flow, as in Zeek; one too short for its header is damage.
fn inner_ethernet<'a>(b: &'a [u8], d: &mut Decoded<'a>) -> Option<Next<'a>> {
    match ethernet::Frame::parse(b) {
        Ok(f) => Some(by_ethertype(f.ethertype(), f.payload(), d)),
        Err(_) => bad_tunnel(d),
    }
}

/// A UDP datagram between `sport` and `dport` (over IPv4 when `v4`) opened as the tunnel its
/// ports promise, when its payload really is that tunnel's: the tunnel, the inner layer, and
/// Teredo's origin and authentication indications. Tried in a fixed order (Teredo, GTP-U,
/// VXLAN, Geneve, L2TP, TZSP, AYIYA); the decoder and the router both call this, so they open
/// the same datagrams the same way.
pub(crate) fn udp_tunnel<'a>(
    v4: bool,
    sport: u16,
    dport: u16,
    payload: &'a [u8],
    d: &mut Decoded<'a>,
) -> Option<(TunnelKind, Next<'a>, bool, bool)> {
    let on = |port: u16| sport == port || dport == port;
    if v4 && on(TEREDO_PORT) {
        if let Some((inner, origin, auth, trailing)) = teredo(payload) {
            if trailing {
                d.anomalies.add(Anomaly::TunnelTrailingBytes);
            }
            return Some((TunnelKind::Teredo, Next::Ip6(inner), origin, auth));
        }
    }
    for (port, kind, open) in UDP_TUNNELS {
        if on(port) {
            if let Some(n) = open(payload, d) {
                return Some((kind, n, false, false));
            }
        }
    }
    None
}

/// Opens a UDP payload as one tunnel: its inner layer, or `None` when it is not that tunnel's.
type UdpTunnel = for<'a> fn(&'a [u8], &mut Decoded<'a>) -> Option<Next<'a>>;

/// The UDP tunnels after Teredo (which also gives its origin and authentication), by port, in
/// the order they are tried.
const UDP_TUNNELS: [(u16, TunnelKind, UdpTunnel); 6] = [
    (GTPU_PORT, TunnelKind::Gtp, gtpu),
    (VXLAN_PORT, TunnelKind::Vxlan, vxlan),
    (GENEVE_PORT, TunnelKind::Geneve, geneve),
    (L2TP_PORT, TunnelKind::L2tp, l2tp),
    (TZSP_PORT, TunnelKind::Tzsp, tzsp),
    (AYIYA_PORT, TunnelKind::Ayiya, |b, _| ayiya(b)),
];

/// A TZSP datagram: version 1, type 0 or 1 (a frame received or sent), the frame's
/// encapsulation (1 Ethernet, 18 802.11), tagged fields up to the END tag, then the frame.
/// Other versions, types (keepalives) and encapsulations stay the UDP flow they are.
fn tzsp<'a>(b: &'a [u8], d: &mut Decoded<'a>) -> Option<Next<'a>> {
    const ETHERNET: u16 = 1;
    const IEEE802_11: u16 = 18;
    const PADDING: u8 = 0;
    const END: u8 = 1;
    if b.len() < 4 || b[0] != 1 || b[1] > 1 {
        return None;
    }
    let encap = u16::from_be_bytes([b[2], b[3]]);
    if encap != ETHERNET && encap != IEEE802_11 {
        return None;
    }
    let mut off = 4;
    loop {
        match b.get(off) {
            Some(&END) => break,
            Some(&PADDING) => off += 1,
            Some(_) => match b.get(off + 1) {
                Some(&len) => off += 2 + usize::from(len),
                None => return bad_tunnel(d),
            },
            None => return bad_tunnel(d),
        }
    }
    let frame = &b[off + 1..];
    if encap == ETHERNET {
        return inner_ethernet(frame, d);
    }
    // The streamed station is not the sensor's evidence: the frame that reached it is.
    Some(wlan_frame(frame, false, d).1)
}

/// An L2TPv2 data message (RFC 2661 §3.1): flags and version 2, then the optional length, the
/// tunnel and session ids, the optional sequence numbers and the optional offset padding, then
/// a PPP frame, opened when it carries IPv4 or IPv6. Control messages, other versions (L2TPv3
/// shares the port) and PPP's own negotiation stay the UDP flow they are.
fn l2tp<'a>(b: &'a [u8], d: &mut Decoded<'a>) -> Option<Next<'a>> {
    const CONTROL: u8 = 0x80;
    const LENGTH: u8 = 0x40;
    const SEQUENCE: u8 = 0x08;
    const OFFSET: u8 = 0x02;
    if b.len() < 6 || b[0] & CONTROL != 0 || b[1] & 0x0f != 2 {
        return None;
    }
    let mut off = 2;
    if b[0] & LENGTH != 0 {
        off += 2;
    }
    off += 4;
    if b[0] & SEQUENCE != 0 {
        off += 4;
    }
    if b[0] & OFFSET != 0 {
        let Some(size) = b.get(off..off + 2) else { return bad_tunnel(d) };
        off += 2 + usize::from(u16::from_be_bytes([size[0], size[1]]));
    }
    let Some(frame) = b.get(off..) else { return bad_tunnel(d) };
    match link::ppp(frame) {
        Ok((link::ppp_protocol::IPV4, ip)) => Some(Next::Ip4(ip)),
        Ok((link::ppp_protocol::IPV6, ip)) => Some(Next::Ip6(ip)),
        Ok(_) => None,
        Err(_) => bad_tunnel(d),
    }
}

/// VXLAN (RFC 7348 §5): 8 bytes whose I flag says the VNI is valid, then an Ethernet frame.
/// Without the flag the datagram is not taken for VXLAN.
fn vxlan<'a>(b: &'a [u8], d: &mut Decoded<'a>) -> Option<Next<'a>> {
    if b.len() < 8 || b[0] & 0x08 == 0 {
        return None;
    }
    inner_ethernet(&b[8..], d)
}

/// Geneve (RFC 8926 §3.4): 8 bytes, version 0, then options of the length the header gives,
/// then what its protocol type says: an Ethernet frame or an IP packet.
fn geneve<'a>(b: &'a [u8], d: &mut Decoded<'a>) -> Option<Next<'a>> {
    if b.len() < 8 || b[0] >> 6 != 0 {
        return None;
    }
    let len = 8 + usize::from(b[0] & 0x3f) * 4;
    let protocol = u16::from_be_bytes([b[2], b[3]]);
    if !matches!(protocol, TRANSPARENT_ETHERNET | ethertype::IPV4 | ethertype::IPV6) {
        return None;
    }
    let Some(inner) = b.get(len..) else { return bad_tunnel(d) };
    match protocol {
        TRANSPARENT_ETHERNET => inner_ethernet(inner, d),
        ethertype::IPV4 => Some(Next::Ip4(inner)),
        _ => Some(Next::Ip6(inner)),
    }
}

/// Teredo (RFC 4380 §5.1.1): optional authentication and origin indications, then IPv6.
/// Returns the IPv6 bytes, whether origin / authentication indications were present, and
/// whether bytes follow the IPv6 packet.
fn teredo(mut b: &[u8]) -> Option<(&[u8], bool, bool, bool)> {
    let mut auth = false;
    let mut origin = false;
    if b.len() >= 4 && b[0] == 0 && b[1] == 1 {
        // Authentication: id-len, au-len, client id, auth value, nonce(8), confirmation(1).
        let (id_len, au_len) = (usize::from(b[2]), usize::from(b[3]));
        let len = 4 + id_len + au_len + 9;
        b = b.get(len..)?;
        auth = true;
    }
    if b.len() >= 8 && b[0] == 0 && b[1] == 0 {
        b = &b[8..];
        origin = true;
    }
    // The payload must be an IPv6 header. Bytes after the packet are allowed (a bubble may
    // carry some; Zeek decodes those too) and counted by the caller.
    let p = ipv6::Packet::parse(b).ok()?;
    let trailing = usize::from(p.payload_len()) + ipv6::Packet::LEN < b.len();
    Some((b, origin, auth, trailing))
}

/// Teredo's UDP port (RFC 4380).
const TEREDO_PORT: u16 = 3544;
/// AYIYA's UDP port.
const AYIYA_PORT: u16 = 5072;
/// L2TP (RFC 2661).
const L2TP_PORT: u16 = 1701;
/// TZSP.
const TZSP_PORT: u16 = 37008;
/// GTPv1-U's registered UDP port (3GPP TS 29.281 §4.4.2.3).
const GTPU_PORT: u16 = 2152;
/// Whether a UDP port is one whose payload the decoder may decapsulate (one `udp_tunnel`
/// tries): the router opens only datagrams to or from such a port, the rest are flows of
/// their own.
pub fn is_udp_tunnel_port(port: u16) -> bool {
    port == TEREDO_PORT || UDP_TUNNELS.iter().any(|t| t.0 == port)
}
/// VXLAN's UDP port (RFC 7348).
const VXLAN_PORT: u16 = 4789;
/// Geneve's UDP port (RFC 8926).
const GENEVE_PORT: u16 = 6081;
/// GTPv1 message type of a G-PDU, the only one that carries a user packet.
const GTP_G_PDU: u8 = 0xff;

/// GTPv1-U (3GPP TS 29.281 §5): the user packet of a G-PDU, after the optional sequence number,
/// N-PDU number and chain of extension headers. Echo, error indication and end-marker messages
/// carry none and stay UDP. A G-PDU whose header is damaged counts `tunnel_bad_header`; bytes
/// after the length the header declares count `tunnel_trailing_bytes`.
fn gtpu<'a>(b: &'a [u8], d: &mut Decoded<'a>) -> Option<Next<'a>> {
    // Version 1 and protocol type GTP (not GTP').
    if b.len() < 8 || b[0] >> 5 != 1 || b[0] & 0x10 == 0 || b[1] != GTP_G_PDU {
        return None;
    }
    let end = 8 + usize::from(u16::from_be_bytes([b[2], b[3]]));
    let trailing = end < b.len();
    // Cut by the snapshot length: decode what was captured.
    let end = end.min(b.len());
    let mut off = 8;
    // Any of the E, S and PN flags makes all three optional fields present.
    if b[0] & 0x07 != 0 {
        if end < 12 {
            d.anomalies.add(Anomaly::TunnelBadHeader);
            return None;
        }
        let mut next_type = if b[0] & 0x04 != 0 { b[11] } else { 0 };
        off = 12;
        // Each extension header: length in 4-byte units (≥ 1), content, next type last. The
        // loop advances by at least 4 bytes each time, so it ends within the packet.
        while next_type != 0 {
            let len = usize::from(b.get(off).copied().unwrap_or(0)) * 4;
            if len == 0 || off + len > end {
                d.anomalies.add(Anomaly::TunnelBadHeader);
                return None;
            }
            next_type = b[off + len - 1];
            off += len;
        }
    }
    match by_version(&b[off..end]) {
        Next::Done => None,
        n => {
            if trailing {
                d.anomalies.add(Anomaly::TunnelTrailingBytes);
            }
            Some(n)
        }
    }
}

/// AYIYA: 8-byte header + identity + signature, then the inner packet (next header 41 or 4).
fn ayiya(b: &[u8]) -> Option<Next<'_>> {
    if b.len() < 8 {
        return None;
    }
    let id_len = 1usize << (b[0] >> 4);
    let sig_len = usize::from(b[1] >> 4) * 4;
    let opcode = b[2] & 0x0f;
    let nh = b[3];
    if opcode != 1 {
        return None;
    }
    let inner = b.get(8 + id_len + sig_len..)?;
    match nh {
        ipproto::IPV6 => Some(Next::Ip6(inner)),
        ipproto::IPIP => Some(Next::Ip4(inner)),
        _ => None,
    }
}

/// Decodes the transport layer of `net` into `d`.
/// The identifier that pairs an ICMP request with its reply (echo, timestamp, information:
/// part of the flow key), 0 for other messages.
pub(crate) fn icmp_ident(v6: bool, m: &icmp::Packet<'_>) -> u16 {
    let t = m.msg_type();
    let echo = if v6 { matches!(t, 128 | 129) } else { matches!(t, 0 | 8 | 13 | 14 | 15 | 16) };
    if echo {
        m.echo_ident()
    } else {
        0
    }
}

fn transport<'a>(proto: u8, b: &'a [u8], declared: usize, net: &Net, d: &mut Decoded<'a>) {
    match proto {
        ipproto::TCP => match tcp::Packet::parse(b) {
            Ok(t) => {
                let flags = t.flags();
                let syn = flags & tcp::SYN != 0;
                let bad = (syn && flags & (tcp::FIN | tcp::RST) != 0)
                    || (flags & tcp::FIN != 0 && flags & tcp::RST != 0)
                    || flags & 0x3f == 0;
                if bad {
                    d.anomalies.add(Anomaly::TcpBadFlags);
                }
                let options = if syn {
                    let o = t.parse_options();
                    if o.malformed {
                        d.anomalies.add(Anomaly::TcpBadOptions);
                    }
                    Some(o)
                } else {
                    None
                };
                let ip_payload = declared.max(t.header_len()) as u32;
                d.transport = Transport::Tcp(TcpInfo {
                    sport: t.src_port(),
                    dport: t.dst_port(),
                    seq: t.seq(),
                    ack: t.ack(),
                    flags,
                    window: t.window(),
                    options,
                    payload_len: ip_payload.saturating_sub(t.header_len() as u32),
                });
                d.payload = t.payload();
            }
            Err(_) => {
                d.anomalies.add(Anomaly::TcpBadHeader);
                d.transport = Transport::Other;
            }
        },
        ipproto::UDP => match udp::Packet::parse(b) {
            Ok(u) => {
                if !u.length_valid() || usize::from(u.length()) > declared {
                    d.anomalies.add(Anomaly::UdpBadLength);
                }
                d.transport = Transport::Udp { sport: u.src_port(), dport: u.dst_port() };
                d.payload = u.payload();
            }
            Err(_) => {
                d.anomalies.add(Anomaly::UdpBadHeader);
                d.transport = Transport::Other;
            }
        },
        ipproto::ICMP | ipproto::ICMPV6 => {
            let v6 = proto == ipproto::ICMPV6;
            match icmp::Packet::parse(b) {
                Ok(m) => {
                    let t = m.msg_type();
                    let is_err = if v6 { icmp::v6::is_error(t) } else { icmp::v4::is_error(t) };
                    let quoted = if is_err {
                        let q = quote(m.body(), d);
                        if q.is_none() {
                            d.anomalies.add(Anomaly::IcmpBadQuote);
                        }
                        q
                    } else {
                        None
                    };
                    d.transport = Transport::Icmp {
                        v6,
                        icmp_type: t,
                        code: m.code(),
                        ident: icmp_ident(v6, &m),
                        rest: m.rest(),
                        quoted,
                    };
                    d.payload = m.body();
                }
                Err(_) => {
                    d.anomalies.add(Anomaly::IcmpBadHeader);
                    d.transport = Transport::Other;
                }
            }
        }
        ipproto::ESP | ipproto::NONXT => d.transport = Transport::Other,
        p if ipv6::is_extension(p) => {
            d.anomalies.add(Anomaly::Ipv6UndecodedNextHeader);
            d.transport = Transport::Other;
        }
        _ => {
            if net.src.version == 6 && !matches!(proto, 2 | 8 | 9 | 46 | 47 | 88 | 89 | 103 | 112 | 132 | 136) {
                // Unknown next headers in IPv6 may be unknown extension headers (RFC 7045).
                d.anomalies.add(Anomaly::Ipv6UndecodedNextHeader);
            }
            d.transport = Transport::Other;
        }
    }
}

/// Reads the quoted packet in an ICMP error: an IP header and at least 8 bytes of transport.
fn quote(b: &[u8], d: &mut Decoded<'_>) -> Option<Quoted> {
    let (src, dst, proto, l4) = match b.first()? >> 4 {
        4 => {
            let p = ipv4::Packet::parse(b).ok()?;
            d.inner_v4 = d.inner_v4.saturating_add(1);
            let l4 = &b[p.header_len()..];
            (Addr::v4(p.src()), Addr::v4(p.dst()), p.protocol(), if p.frag_offset() == 0 { l4 } else { &[][..] })
        }
        6 => {
            let p = ipv6::Packet::parse(b).ok()?;
            d.inner_v6 = d.inner_v6.saturating_add(1);
            let rest = &b[40..];
            match ipv6::walk(p.next_header(), rest) {
                Ok(c) if c.fragment.is_none_or(|f| f.offset == 0) => {
                    (Addr::v6(p.src()), Addr::v6(p.dst()), c.protocol, &rest[c.offset..])
                }
                _ => (Addr::v6(p.src()), Addr::v6(p.dst()), p.next_header(), &[][..]),
            }
        }
        _ => return None,
    };
    let (sport, dport) = match proto {
        ipproto::TCP | ipproto::UDP if l4.len() >= 4 => {
            (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]))
        }
        ipproto::ICMP | ipproto::ICMPV6 if l4.len() >= 2 => (u16::from(l4[0]), u16::from(l4[1])),
        _ => (0, 0),
    };
    Some(Quoted { src, dst, proto, sport, dport })
}

#[cfg(test)]
mod tests;

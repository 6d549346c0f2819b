//! Per-packet oddities. They are counted (and attached to flows), never errors: honeypot traffic
//! is full of them and every one is information.

/// One kind of oddity. The discriminant is its bit in [`AnomalySet`] and its index in
/// [`AnomalyCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Anomaly {
    /// The link-layer header was cut short.
    LinkTruncated,
    /// A link type v6watch does not decode.
    UnknownLinktype,
    /// The IPv4 header was cut short or malformed.
    Ipv4BadHeader,
    /// IPv4 Total Length is smaller than the header (TSO captures) or than what was captured.
    Ipv4BadTotalLength,
    /// The IPv6 header was cut short.
    Ipv6BadHeader,
    /// An IPv6 extension header was cut short or its length runs past the packet.
    Ipv6ExtTruncated,
    /// Hop-by-hop options not directly after the IPv6 header (RFC 8200 §4.1).
    Ipv6HopByHopNotFirst,
    /// ESP or an unknown extension header stopped decoding.
    Ipv6UndecodedNextHeader,
    /// The frame was cut by the snapshot length before the IP datagram ended.
    SnaplenTruncated,
    /// The TCP header was cut short or had a bad data offset.
    TcpBadHeader,
    /// TCP options were malformed.
    TcpBadOptions,
    /// TCP flags that cannot go together (SYN+FIN, SYN+RST, FIN+RST, none at all).
    TcpBadFlags,
    /// The UDP header was cut short.
    UdpBadHeader,
    /// UDP Length disagrees with the IP payload length.
    UdpBadLength,
    /// The ICMP header was cut short.
    IcmpBadHeader,
    /// An ICMP error whose quoted packet could not be read.
    IcmpBadQuote,
    /// Tunnels nested deeper than v6watch follows.
    TunnelTooDeep,
    /// A fragment overlapped earlier data with different bytes (possible evasion).
    FragOverlap,
    /// A fragment would extend the datagram past 65535 bytes, or fragment offsets disagree.
    FragBad,
    /// Reassembly gave up: too many concurrent datagrams or bytes, or the timeout passed.
    FragDropped,
    /// A non-first fragment whose datagram never completed.
    FragIncomplete,
    /// IPv6 atomic fragment (offset 0, M=0; RFC 6946).
    FragAtomic,
    /// A fragment inside an already reassembled datagram (not followed).
    FragNested,
    /// A flow was evicted because the flow table was full.
    FlowEvicted,
    /// A tunnel header (GRE, ERSPAN, Teredo, AYIYA, GTP-U, VXLAN, Geneve) that announces what it
    /// carries but could not be decoded.
    TunnelBadHeader,
    /// A packet with source and destination address equal (LAND attack style).
    SameSrcDst,
    /// IPv6 source address is multicast (RFC 4291 forbids it).
    MulticastSource,
    /// A tunnel's payload (Teredo, GTP-U) went on past the inner packet's own length; the bytes
    /// after it were ignored (Zeek decodes such packets too).
    TunnelTrailingBytes,
}

impl Anomaly {
    /// Every anomaly, in discriminant order.
    pub const ALL: [Anomaly; 28] = [
        Anomaly::LinkTruncated,
        Anomaly::UnknownLinktype,
        Anomaly::Ipv4BadHeader,
        Anomaly::Ipv4BadTotalLength,
        Anomaly::Ipv6BadHeader,
        Anomaly::Ipv6ExtTruncated,
        Anomaly::Ipv6HopByHopNotFirst,
        Anomaly::Ipv6UndecodedNextHeader,
        Anomaly::SnaplenTruncated,
        Anomaly::TcpBadHeader,
        Anomaly::TcpBadOptions,
        Anomaly::TcpBadFlags,
        Anomaly::UdpBadHeader,
        Anomaly::UdpBadLength,
        Anomaly::IcmpBadHeader,
        Anomaly::IcmpBadQuote,
        Anomaly::TunnelTooDeep,
        Anomaly::FragOverlap,
        Anomaly::FragBad,
        Anomaly::FragDropped,
        Anomaly::FragIncomplete,
        Anomaly::FragAtomic,
        Anomaly::FragNested,
        Anomaly::FlowEvicted,
        Anomaly::TunnelBadHeader,
        Anomaly::SameSrcDst,
        Anomaly::MulticastSource,
        Anomaly::TunnelTrailingBytes,
    ];

    /// A stable snake_case name, used in JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::LinkTruncated => "link_truncated",
            Anomaly::UnknownLinktype => "unknown_linktype",
            Anomaly::Ipv4BadHeader => "ipv4_bad_header",
            Anomaly::Ipv4BadTotalLength => "ipv4_bad_total_length",
            Anomaly::Ipv6BadHeader => "ipv6_bad_header",
            Anomaly::Ipv6ExtTruncated => "ipv6_ext_truncated",
            Anomaly::Ipv6HopByHopNotFirst => "ipv6_hop_by_hop_not_first",
            Anomaly::Ipv6UndecodedNextHeader => "ipv6_undecoded_next_header",
            Anomaly::SnaplenTruncated => "snaplen_truncated",
            Anomaly::TcpBadHeader => "tcp_bad_header",
            Anomaly::TcpBadOptions => "tcp_bad_options",
            Anomaly::TcpBadFlags => "tcp_bad_flags",
            Anomaly::UdpBadHeader => "udp_bad_header",
            Anomaly::UdpBadLength => "udp_bad_length",
            Anomaly::IcmpBadHeader => "icmp_bad_header",
            Anomaly::IcmpBadQuote => "icmp_bad_quote",
            Anomaly::TunnelTooDeep => "tunnel_too_deep",
            Anomaly::FragOverlap => "frag_overlap",
            Anomaly::FragBad => "frag_bad",
            Anomaly::FragDropped => "frag_dropped",
            Anomaly::FragIncomplete => "frag_incomplete",
            Anomaly::FragAtomic => "frag_atomic",
            Anomaly::FragNested => "frag_nested",
            Anomaly::FlowEvicted => "flow_evicted",
            Anomaly::TunnelBadHeader => "tunnel_bad_header",
            Anomaly::SameSrcDst => "same_src_dst",
            Anomaly::MulticastSource => "multicast_source",
            Anomaly::TunnelTrailingBytes => "tunnel_trailing_bytes",
        }
    }
}

/// A set of anomalies on one packet (a bit per kind).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnomalySet(pub u32);

impl AnomalySet {
    /// Adds one.
    #[inline]
    pub fn add(&mut self, a: Anomaly) {
        self.0 |= 1 << (a as u32);
    }
    /// Whether it holds `a`.
    pub fn has(&self, a: Anomaly) -> bool {
        self.0 & (1 << (a as u32)) != 0
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
    /// Iterates over the members.
    pub fn iter(self) -> impl Iterator<Item = Anomaly> {
        Anomaly::ALL.into_iter().filter(move |a| self.has(*a))
    }
}

/// Counters per anomaly kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnomalyCounts(pub [u64; Anomaly::ALL.len()]);

impl AnomalyCounts {
    /// Counts every member of a set once.
    #[inline]
    pub fn add_set(&mut self, s: AnomalySet) {
        let mut bits = s.0;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            self.0[i] += 1;
            bits &= bits - 1;
        }
    }
    /// Adds `n` of one kind.
    pub fn add(&mut self, a: Anomaly, n: u64) {
        self.0[a as usize] += n;
    }
    /// Count of one kind.
    pub fn get(&self, a: Anomaly) -> u64 {
        self.0[a as usize]
    }
    /// Adds another set of counters.
    pub fn merge(&mut self, o: &AnomalyCounts) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a += b;
        }
    }
    /// Non-zero counters by name.
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        Anomaly::ALL.iter().filter(|a| self.get(**a) > 0).map(|a| (a.name(), self.get(*a))).collect()
    }
}

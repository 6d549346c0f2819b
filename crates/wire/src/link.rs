//! Link-layer headers other than Ethernet and 802.11: Linux cooked captures (SLL, SLL2), BSD
//! NULL/LOOP, PPP (bare, in HDLC-like framing, over Ethernet), Cisco HDLC, the firewall logs
//! pflog (BSD pf) and NFLOG (Linux netfilter), plus the LINKTYPE_* numbers that name them in
//! capture files (tcpdump.org "Link-layer header types").

use crate::{be16, be32, Error, Result};

/// LINKTYPE_* values v6watch decodes.
pub mod linktype {
    /// BSD loopback: 4-byte address family in the capturing host's byte order.
    pub const NULL: u32 = 0;
    /// Ethernet II / 802.3.
    pub const ETHERNET: u32 = 1;
    /// Raw IP as written by some OpenBSD/BSD/OS versions of DLT_RAW.
    pub const RAW_12: u32 = 12;
    /// Raw IP as written by other BSDs for DLT_RAW.
    pub const RAW_14: u32 = 14;
    /// Raw IPv4 or IPv6, version from the first nibble.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4 only.
    pub const IPV4: u32 = 228;
    /// Raw IPv6 only.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: u32 = 276;
    /// PPP (RFC 1661), with or without the 0xff 0x03 of HDLC-like framing.
    pub const PPP: u32 = 9;
    /// PPP in HDLC-like framing (RFC 1662), or Cisco HDLC (first byte 0x0f or 0x8f).
    pub const PPP_HDLC: u32 = 50;
    /// PPPoE session (RFC 2516): the PPPoE header, then PPP.
    pub const PPP_ETHER: u32 = 51;
    /// Cisco HDLC: address, control, EtherType.
    pub const C_HDLC: u32 = 104;
    /// IEEE 802.11 frames, without a radio header.
    pub const IEEE802_11: u32 = 105;
    /// BSD pf's log interface (`tcpdump -i pflog0`).
    pub const PFLOG: u32 = 117;
    /// IEEE 802.11 frames after a radiotap header.
    pub const IEEE802_11_RADIOTAP: u32 = 127;
    /// Per-Packet Information header, then the frame of the link type it names.
    pub const PPI: u32 = 192;
    /// Linux netfilter's log (`tcpdump -i nflog:N`).
    pub const NFLOG: u32 = 239;

    /// A short human name for a link type, for summaries.
    pub fn name(lt: u32) -> &'static str {
        match lt {
            NULL => "null",
            ETHERNET => "ethernet",
            RAW | RAW_12 | RAW_14 => "raw",
            LOOP => "loop",
            LINUX_SLL => "linux-sll",
            IPV4 => "ipv4",
            IPV6 => "ipv6",
            LINUX_SLL2 => "linux-sll2",
            PPP => "ppp",
            PPP_HDLC => "ppp-hdlc",
            PPP_ETHER => "pppoe",
            C_HDLC => "c-hdlc",
            IEEE802_11 => "802.11",
            PFLOG => "pflog",
            IEEE802_11_RADIOTAP => "802.11-radiotap",
            PPI => "ppi",
            NFLOG => "nflog",
            _ => "other",
        }
    }
}

/// Linux cooked capture v1 header (16 bytes).
#[derive(Debug, Clone, Copy)]
pub struct Sll<'a> {
    buf: &'a [u8],
}

impl<'a> Sll<'a> {
    /// Header length.
    pub const LEN: usize = 16;
    /// Validates that the header is present.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        if buf.len() < Self::LEN {
            return Err(Error::Truncated);
        }
        Ok(Sll { buf })
    }
    /// Packet type: 0 to us, 1 broadcast, 2 multicast, 3 to someone else, 4 sent by us.
    pub fn packet_type(&self) -> u16 {
        be16(self.buf, 0)
    }
    /// ARPHRD_* device type.
    pub fn hatype(&self) -> u16 {
        be16(self.buf, 2)
    }
    /// Protocol: an EtherType for most device types.
    pub fn protocol(&self) -> u16 {
        be16(self.buf, 14)
    }
    /// Bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[Self::LEN..]
    }
}

/// Linux cooked capture v2 header (20 bytes).
#[derive(Debug, Clone, Copy)]
pub struct Sll2<'a> {
    buf: &'a [u8],
}

impl<'a> Sll2<'a> {
    /// Header length.
    pub const LEN: usize = 20;
    /// Validates that the header is present.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        if buf.len() < Self::LEN {
            return Err(Error::Truncated);
        }
        Ok(Sll2 { buf })
    }
    /// Protocol (EtherType).
    pub fn protocol(&self) -> u16 {
        be16(self.buf, 0)
    }
    /// Interface index on the capturing host.
    pub fn ifindex(&self) -> u32 {
        be32(self.buf, 4)
    }
    /// ARPHRD_* device type.
    pub fn hatype(&self) -> u16 {
        be16(self.buf, 8)
    }
    /// Packet type (as in SLL v1).
    pub fn packet_type(&self) -> u8 {
        self.buf[10]
    }
    /// Bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[Self::LEN..]
    }
}

/// Network family carried by a NULL/LOOP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullFamily {
    /// AF_INET.
    Ipv4,
    /// AF_INET6 under any of its per-OS values (10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS).
    Ipv6,
    /// Anything else.
    Other(u32),
}

/// BSD NULL / OpenBSD LOOP header (4 bytes).
#[derive(Debug, Clone, Copy)]
pub struct Null<'a> {
    buf: &'a [u8],
    family: u32,
}

impl<'a> Null<'a> {
    /// Header length.
    pub const LEN: usize = 4;
    /// Validates the header. NULL's family is in the *capturing* host's byte order, which the
    /// file does not record; AF values are small, so a value whose low bytes are zero is read the
    /// other way round. LOOP (`network_order = true`) is always big-endian.
    pub fn parse(buf: &'a [u8], network_order: bool) -> Result<Self> {
        if buf.len() < Self::LEN {
            return Err(Error::Truncated);
        }
        let be = be32(buf, 0);
        let family = if network_order || be <= 0xffff { be } else { be.swap_bytes() };
        Ok(Null { buf, family })
    }
    /// The family as written (after byte-order correction).
    pub fn raw_family(&self) -> u32 {
        self.family
    }
    /// The network protocol announced.
    pub fn family(&self) -> NullFamily {
        match self.family {
            2 => NullFamily::Ipv4,
            10 | 24 | 28 | 30 => NullFamily::Ipv6,
            f => NullFamily::Other(f),
        }
    }
    /// Bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[Self::LEN..]
    }
}

/// PPP protocol numbers (IANA "PPP DLL Protocol Numbers") that carry what v6watch decodes.
pub mod ppp_protocol {
    /// IPv4.
    pub const IPV4: u16 = 0x0021;
    /// IPv6.
    pub const IPV6: u16 = 0x0057;
    /// MPLS unicast.
    pub const MPLS: u16 = 0x0281;
    /// MPLS multicast.
    pub const MPLS_MULTICAST: u16 = 0x0283;
}

/// A PPP frame's protocol and information field (LINKTYPE_PPP, PPP_HDLC): the HDLC-like
/// address and control bytes (0xff 0x03) are skipped when present, and a one-byte protocol
/// (RFC 1661's field compression: the first byte is odd) is read as one.
pub fn ppp(buf: &[u8]) -> Result<(u16, &[u8])> {
    let b = match buf {
        [0xff, 0x03, rest @ ..] => rest,
        _ => buf,
    };
    match b {
        [p, rest @ ..] if p & 1 == 1 => Ok((u16::from(*p), rest)),
        [hi, lo, rest @ ..] => Ok((u16::from_be_bytes([*hi, *lo]), rest)),
        _ => Err(Error::Truncated),
    }
}

/// A Cisco HDLC frame's EtherType and payload: address 0x0f (unicast) or 0x8f (broadcast),
/// control 0, then the EtherType.
pub fn chdlc(buf: &[u8]) -> Result<(u16, &[u8])> {
    match buf {
        [0x0f | 0x8f, 0x00, hi, lo, rest @ ..] => Ok((u16::from_be_bytes([*hi, *lo]), rest)),
        [_, _, _, _, ..] => Err(Error::Malformed),
        _ => Err(Error::Truncated),
    }
}

/// A PPPoE session header (6 bytes: version and type 0x11, code 0, session, length) and the
/// PPP protocol after it: the protocol and the PPP payload.
pub fn pppoe_session(buf: &[u8]) -> Result<(u16, &[u8])> {
    if buf.len() < 8 {
        return Err(Error::Truncated);
    }
    Ok((be16(buf, 6), &buf[8..]))
}

/// A pflog header (BSD pf): its own length in the first byte (at least [`Pflog::MIN_LEN`]),
/// the address family in the second; the packet starts at the length rounded up to 4 bytes.
#[derive(Debug, Clone, Copy)]
pub struct Pflog<'a> {
    family: u8,
    payload: &'a [u8],
}

impl<'a> Pflog<'a> {
    /// The shortest header any pf version wrote (tcpdump's MIN_PFLOG_HDRLEN).
    pub const MIN_LEN: usize = 45;
    /// Validates the header.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let Some(&len) = buf.first() else { return Err(Error::Truncated) };
        let len = usize::from(len);
        if len < Self::MIN_LEN {
            return Err(Error::BadLength);
        }
        let start = (len + 3) & !3;
        if buf.len() < start {
            return Err(Error::Truncated);
        }
        Ok(Pflog { family: buf[1], payload: &buf[start..] })
    }
    /// The logged packet's family: AF_INET is 2 everywhere, AF_INET6 depends on the OS that
    /// wrote it (see [`NullFamily`]).
    pub fn family(&self) -> NullFamily {
        match self.family {
            2 => NullFamily::Ipv4,
            10 | 24 | 28 | 30 => NullFamily::Ipv6,
            f => NullFamily::Other(u32::from(f)),
        }
    }
    /// The logged packet.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// An NFLOG record (Linux netfilter): family, version and resource id (4 bytes), then
/// type-length-value attributes padded to 4 bytes, whose length and type are in the byte order
/// of the host that captured. Returns the family and the packet (the `NFULA_PAYLOAD`
/// attribute), or `None` when the record carries none (a log of a packet not copied).
pub fn nflog(buf: &[u8]) -> Result<(NullFamily, Option<&[u8]>)> {
    /// NFULA_PAYLOAD.
    const PAYLOAD: u16 = 9;
    if buf.len() < 4 {
        return Err(Error::Truncated);
    }
    let family = match buf[0] {
        2 => NullFamily::Ipv4,
        10 => NullFamily::Ipv6,
        f => NullFamily::Other(u32::from(f)),
    };
    // The capturing host's byte order is not in the record: the one in which every attribute
    // fits the record is it (little-endian first, as most such hosts are).
    let walk = |le: bool| -> Option<Option<&[u8]>> {
        let rd = |at: usize| {
            let b = [buf[at], buf[at + 1]];
            if le {
                u16::from_le_bytes(b)
            } else {
                u16::from_be_bytes(b)
            }
        };
        let mut at = 4;
        let mut payload = None;
        while at < buf.len() {
            if buf.len() - at < 4 {
                return None;
            }
            let (len, kind) = (usize::from(rd(at)), rd(at + 2) & 0x3fff);
            if len < 4 || len > buf.len() - at {
                return None;
            }
            if kind == PAYLOAD && payload.is_none() {
                payload = Some(&buf[at + 4..at + len]);
            }
            at += (len + 3) & !3;
        }
        Some(payload)
    };
    match walk(true).or_else(|| walk(false)) {
        Some(p) => Ok((family, p)),
        None => Err(Error::BadLength),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn ppp_framings_and_compressed_protocol() {
        assert_eq!(ppp(&[0xff, 0x03, 0x00, 0x57, 0x60]).unwrap(), (0x57, &[0x60][..]));
        assert_eq!(ppp(&[0x00, 0x21, 0x45]).unwrap(), (0x21, &[0x45][..]));
        assert_eq!(ppp(&[0x21, 0x45]).unwrap(), (0x21, &[0x45][..]), "one-byte protocol");
        assert_eq!(ppp(&[0xff, 0x03]), Err(Error::Truncated));
        assert_eq!(chdlc(&[0x0f, 0, 0x86, 0xdd, 1]).unwrap(), (0x86dd, &[1][..]));
        assert_eq!(chdlc(&[0xff, 0x03, 0x00, 0x21]), Err(Error::Malformed));
        assert_eq!(pppoe_session(&[0x11, 0, 0, 1, 0, 2, 0x00, 0x57, 9]).unwrap(), (0x57, &[9][..]));
    }

    #[test]
    fn pflog_payload_after_the_padded_header() {
        let mut h = vec![0u8; 64];
        h[0] = 61; // FreeBSD's header: the packet starts at 64
        h[1] = 28;
        h.extend_from_slice(&[0x60, 1]);
        let p = Pflog::parse(&h).unwrap();
        assert_eq!((p.family(), p.payload()), (NullFamily::Ipv6, &[0x60, 1][..]));
        h[0] = 44;
        assert_eq!(Pflog::parse(&h).unwrap_err(), Error::BadLength);
        assert_eq!(Pflog::parse(&h[..40]).unwrap_err(), Error::BadLength);
        let mut short = h.clone();
        short[0] = 61;
        assert_eq!(Pflog::parse(&short[..62]).unwrap_err(), Error::Truncated);
    }

    #[test]
    fn nflog_payload_in_either_byte_order() {
        let tlv = |le: bool, kind: u16, v: &[u8]| {
            let len = (4 + v.len()) as u16;
            let mut t =
                if le { [len.to_le_bytes(), kind.to_le_bytes()] } else { [len.to_be_bytes(), kind.to_be_bytes()] }
                    .concat();
            t.extend_from_slice(v);
            t.resize(t.len().next_multiple_of(4), 0);
            t
        };
        for le in [true, false] {
            let mut r = vec![10, 0, 0, 1];
            r.extend(tlv(le, 1, &[0x86, 0xdd, 1])); // NFULA_PACKET_HDR, padded
            r.extend(tlv(le, 10, b"prefix\0"));
            r.extend(tlv(le, 9, &[0x60, 0, 0, 0, 0]));
            assert_eq!(nflog(&r).unwrap(), (NullFamily::Ipv6, Some(&[0x60, 0, 0, 0, 0][..])), "le {le}");
        }
        let mut no_payload = vec![2, 0, 0, 1];
        no_payload.extend(tlv(true, 1, &[8, 0, 1, 0]));
        assert_eq!(nflog(&no_payload).unwrap(), (NullFamily::Ipv4, None));
        assert_eq!(nflog(&[2, 0, 0, 1, 0xff, 0xff, 9, 0]), Err(Error::BadLength), "attribute past the end");
        assert_eq!(nflog(&[2, 0, 0]), Err(Error::Truncated));
    }

    #[test]
    fn null_either_byte_order() {
        let le = [30u8, 0, 0, 0, 0x60];
        let be = [0u8, 0, 0, 2, 0x45];
        assert_eq!(Null::parse(&le, false).unwrap().family(), NullFamily::Ipv6);
        assert_eq!(Null::parse(&be, false).unwrap().family(), NullFamily::Ipv4);
        assert_eq!(Null::parse(&be, true).unwrap().payload(), &[0x45]);
        assert!(Null::parse(&[0, 0, 0], false).is_err());
    }

    #[test]
    fn sll_and_sll2_fields() {
        let mut s = [0u8; 17];
        s[0..2].copy_from_slice(&4u16.to_be_bytes());
        s[14..16].copy_from_slice(&0x86ddu16.to_be_bytes());
        let v = Sll::parse(&s).unwrap();
        assert_eq!((v.packet_type(), v.protocol(), v.payload().len()), (4, 0x86dd, 1));
        let mut s2 = [0u8; 20];
        s2[0..2].copy_from_slice(&0x0800u16.to_be_bytes());
        s2[4..8].copy_from_slice(&7u32.to_be_bytes());
        let v2 = Sll2::parse(&s2).unwrap();
        assert_eq!((v2.protocol(), v2.ifindex(), v2.payload().len()), (0x0800, 7, 0));
        assert!(Sll2::parse(&s2[..19]).is_err());
    }
}

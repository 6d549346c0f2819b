//! IPv6 fixed header (RFC 8200) and the extension-header walk.

use crate::{be16, be32, ipproto, Error, Result};

/// An IPv6 fixed header over captured bytes.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Fixed header length.
    pub const LEN: usize = 40;

    /// Validates version and that the 40-byte header was captured.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        if buf.len() < Self::LEN {
            return Err(Error::Truncated);
        }
        if buf[0] >> 4 != 6 {
            return Err(Error::BadVersion);
        }
        Ok(Packet { buf })
    }
    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        (be16(self.buf, 0) >> 4) as u8
    }
    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        be32(self.buf, 0) & 0x000f_ffff
    }
    /// Payload Length field.
    pub fn payload_len(&self) -> u16 {
        be16(self.buf, 4)
    }
    /// Next Header of the fixed header.
    pub fn next_header(&self) -> u8 {
        self.buf[6]
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buf[7]
    }
    /// Source address.
    pub fn src(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buf[8..24]);
        a
    }
    /// Destination address.
    pub fn dst(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buf[24..40]);
        a
    }
    /// The datagram length to account: 40 + Payload Length, or the captured length when
    /// Payload Length is 0 (jumbogram or segmentation offload) and something follows. With no
    /// next header (a Teredo bubble) 0 means 0: bytes after it are not part of it.
    pub fn datagram_len(&self) -> usize {
        match self.payload_len() {
            0 if self.next_header() != 59 => self.buf.len(),
            n => Self::LEN + usize::from(n),
        }
    }
    /// Whether fewer bytes were captured than declared.
    pub fn is_truncated(&self) -> bool {
        self.buf.len() < self.datagram_len()
    }
    /// Captured payload (extension headers included), without link padding.
    pub fn payload(&self) -> &'a [u8] {
        let end = self.datagram_len().min(self.buf.len());
        &self.buf[Self::LEN..end]
    }
}

/// An IPv6 Fragment header's fields (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Next Header of the fragmentable part.
    pub next_header: u8,
    /// Fragment offset in bytes.
    pub offset: u32,
    /// M flag.
    pub more: bool,
    /// Identification.
    pub ident: u32,
}

impl Fragment {
    /// An atomic fragment (RFC 6946): offset 0 and no more fragments; it needs no reassembly.
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// Where the extension-header chain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    /// Protocol number of what starts at `offset`: an upper layer, or the header that stopped the
    /// walk (ESP, no-next-header, an unknown header, or a non-atomic fragment's data).
    pub protocol: u8,
    /// Offset of that protocol's bytes in the IPv6 payload.
    pub offset: usize,
    /// The fragment header, when one was met. A non-atomic one stops the walk: what follows is
    /// fragment data, to be reassembled.
    pub fragment: Option<Fragment>,
    /// Bit set of the extension headers met (see the `EXT_*` constants).
    pub seen: u16,
    /// Routing header type, when a routing header was met.
    pub routing_type: Option<u8>,
}

/// Hop-by-hop options were present.
pub const EXT_HOPOPT: u16 = 1;
/// A routing header was present.
pub const EXT_ROUTING: u16 = 2;
/// A fragment header was present.
pub const EXT_FRAGMENT: u16 = 4;
/// Destination options were present.
pub const EXT_DSTOPTS: u16 = 8;
/// An authentication header was present.
pub const EXT_AH: u16 = 16;
/// ESP stopped the walk.
pub const EXT_ESP: u16 = 32;
/// Mobility, HIP or Shim6 header was present.
pub const EXT_OTHER: u16 = 64;
/// Hop-by-hop options appeared somewhere other than first (RFC 8200 forbids it).
pub const EXT_HOPOPT_NOT_FIRST: u16 = 128;

/// Whether `nh` is an extension header this walk steps over.
pub fn is_extension(nh: u8) -> bool {
    matches!(
        nh,
        ipproto::HOPOPT
            | ipproto::ROUTING
            | ipproto::FRAGMENT
            | ipproto::DSTOPTS
            | ipproto::AH
            | ipproto::MOBILITY
            | ipproto::HIP
            | ipproto::SHIM6
    )
}

/// Walks the extension headers starting with `first` over `payload` (the IPv6 payload).
/// Errors mean a header was cut short or its length points past the captured data.
pub fn walk(first: u8, payload: &[u8]) -> Result<Chain> {
    let mut nh = first;
    let mut off = 0usize;
    let mut chain = Chain { protocol: nh, offset: 0, fragment: None, seen: 0, routing_type: None };
    // Each header is at least 8 bytes, so the walk ends within payload.len()/8 steps; the cap
    // only bounds work on absurd but valid chains.
    for step in 0..64 {
        if !is_extension(nh) {
            break;
        }
        let h = payload.get(off..).ok_or(Error::Truncated)?;
        if h.len() < 8 {
            return Err(Error::Truncated);
        }
        let len = match nh {
            ipproto::FRAGMENT => 8,
            ipproto::AH => (usize::from(h[1]) + 2) * 4,
            _ => (usize::from(h[1]) + 1) * 8,
        };
        if len > h.len() {
            return Err(Error::Truncated);
        }
        chain.seen |= match nh {
            ipproto::HOPOPT if step > 0 => EXT_HOPOPT | EXT_HOPOPT_NOT_FIRST,
            ipproto::HOPOPT => EXT_HOPOPT,
            ipproto::ROUTING => EXT_ROUTING,
            ipproto::FRAGMENT => EXT_FRAGMENT,
            ipproto::DSTOPTS => EXT_DSTOPTS,
            ipproto::AH => EXT_AH,
            _ => EXT_OTHER,
        };
        if nh == ipproto::ROUTING {
            chain.routing_type = Some(h[2]);
        }
        let next = h[0];
        off += len;
        if nh == ipproto::FRAGMENT {
            let frag = Fragment {
                next_header: next,
                offset: u32::from(be16(h, 2) & 0xfff8),
                more: h[3] & 1 != 0,
                ident: be32(h, 4),
            };
            chain.fragment = Some(frag);
            if !frag.is_atomic() {
                chain.protocol = next;
                chain.offset = off;
                return Ok(chain);
            }
        }
        nh = next;
    }
    if nh == ipproto::ESP {
        chain.seen |= EXT_ESP;
    }
    chain.protocol = nh;
    chain.offset = off;
    Ok(chain)
}

#[cfg(test)]
mod test {
    use super::*;

    fn fixed(nh: u8, plen: u16) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 0, nh, 64];
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p
    }

    #[test]
    fn fixed_header_fields() {
        let mut p = fixed(17, 8);
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&[0xaa; 4]); // padding
        let v = Packet::parse(&p).unwrap();
        assert_eq!(v.next_header(), 17);
        assert_eq!(v.hop_limit(), 64);
        assert_eq!(v.dst()[0], 0xff);
        assert_eq!(v.payload().len(), 8);
        assert!(!v.is_truncated());
    }

    #[test]
    fn walks_hop_dest_fragment() {
        // HBH(8) -> DST(16) -> FRAG(first fragment, M=1) -> TCP
        let mut pl = vec![60, 0, 1, 4, 0, 0, 0, 0];
        pl.extend_from_slice(&[44, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        pl.extend_from_slice(&[6, 0, 0, 1, 0, 0, 0, 42]);
        pl.extend_from_slice(&[0; 20]);
        let c = walk(0, &pl).unwrap();
        assert_eq!(c.protocol, 6);
        assert_eq!(c.offset, 32);
        assert_eq!(c.fragment, Some(Fragment { next_header: 6, offset: 0, more: true, ident: 42 }));
        assert_eq!(c.seen, EXT_HOPOPT | EXT_DSTOPTS | EXT_FRAGMENT);
    }

    #[test]
    fn atomic_fragment_continues() {
        let mut pl = vec![17, 0, 0, 0, 0, 0, 0, 7];
        pl.extend_from_slice(&[0; 8]);
        let c = walk(44, &pl).unwrap();
        assert_eq!((c.protocol, c.offset), (17, 8));
        assert!(c.fragment.unwrap().is_atomic());
    }

    #[test]
    fn truncated_and_esp() {
        assert_eq!(walk(0, &[6, 1, 0, 0, 0, 0, 0, 0]).unwrap_err(), Error::Truncated);
        assert_eq!(walk(60, &[6, 0, 0]).unwrap_err(), Error::Truncated);
        let c = walk(50, &[0; 16]).unwrap();
        assert_eq!((c.protocol, c.seen), (50, EXT_ESP));
        let mut p = fixed(6, 0);
        p.extend_from_slice(&[1, 2]);
        assert_eq!(Packet::parse(&p).unwrap().payload().len(), 2);
        p[0] = 0x45;
        assert_eq!(Packet::parse(&p).unwrap_err(), Error::BadVersion);
    }
}

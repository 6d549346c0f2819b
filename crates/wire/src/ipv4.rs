//! IPv4 header (RFC 791), options included.

use crate::{be16, Error, Result};

/// An IPv4 header over captured bytes.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    buf: &'a [u8],
    hlen: usize,
}

impl<'a> Packet<'a> {
    /// Minimum header length.
    pub const MIN_LEN: usize = 20;

    /// Validates version, IHL and that the whole header (options included) was captured.
    /// The total length may exceed what was captured (snaplen); see [`Packet::is_truncated`].
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        if buf.len() < Self::MIN_LEN {
            return Err(Error::Truncated);
        }
        if buf[0] >> 4 != 4 {
            return Err(Error::BadVersion);
        }
        let hlen = usize::from(buf[0] & 0x0f) * 4;
        if hlen < Self::MIN_LEN {
            return Err(Error::BadLength);
        }
        if buf.len() < hlen {
            return Err(Error::Truncated);
        }
        Ok(Packet { buf, hlen })
    }
    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        self.hlen
    }
    /// Total Length field.
    pub fn total_len(&self) -> u16 {
        be16(self.buf, 2)
    }
    /// Whether the Total Length field is usable: at least the header length. TSO captures show 0.
    pub fn total_len_valid(&self) -> bool {
        usize::from(self.total_len()) >= self.hlen
    }
    /// The datagram length the rest of the stack should account: Total Length when valid,
    /// otherwise the captured length.
    pub fn datagram_len(&self) -> usize {
        if self.total_len_valid() {
            usize::from(self.total_len())
        } else {
            self.buf.len()
        }
    }
    /// Identification field.
    pub fn ident(&self) -> u16 {
        be16(self.buf, 4)
    }
    /// Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.buf[6] & 0x40 != 0
    }
    /// More Fragments flag.
    pub fn more_frags(&self) -> bool {
        self.buf[6] & 0x20 != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u32 {
        u32::from(be16(self.buf, 6) & 0x1fff) * 8
    }
    /// Whether this datagram is a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buf[8]
    }
    /// Protocol of the payload.
    pub fn protocol(&self) -> u8 {
        self.buf[9]
    }
    /// Source address.
    pub fn src(&self) -> [u8; 4] {
        [self.buf[12], self.buf[13], self.buf[14], self.buf[15]]
    }
    /// Destination address.
    pub fn dst(&self) -> [u8; 4] {
        [self.buf[16], self.buf[17], self.buf[18], self.buf[19]]
    }
    /// Option bytes (may be empty).
    pub fn options(&self) -> &'a [u8] {
        &self.buf[Self::MIN_LEN..self.hlen]
    }
    /// Whether fewer bytes were captured than Total Length declares.
    pub fn is_truncated(&self) -> bool {
        self.buf.len() < self.datagram_len()
    }
    /// Captured payload, without link-layer padding past Total Length.
    pub fn payload(&self) -> &'a [u8] {
        let end = self.datagram_len().min(self.buf.len());
        &self.buf[self.hlen.min(end)..end]
    }
}

#[cfg(test)]
pub(crate) mod test {
    use super::*;

    /// A 20-byte header for `proto` with `payload_len` bytes declared, src 192.0.2.1 dst 198.51.100.2.
    pub fn header(proto: u8, payload_len: u16) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2];
        h[2..4].copy_from_slice(&(20 + payload_len).to_be_bytes());
        h
    }

    #[test]
    fn fields_and_padding() {
        let mut p = header(17, 4);
        p.extend_from_slice(&[1, 2, 3, 4, 0xee, 0xee]); // two bytes of Ethernet padding
        let v = Packet::parse(&p).unwrap();
        assert_eq!(v.protocol(), 17);
        assert_eq!(v.src(), [192, 0, 2, 1]);
        assert!(v.dont_frag() && !v.is_fragment());
        assert_eq!(v.payload(), &[1, 2, 3, 4]);
        assert!(!v.is_truncated());
    }

    #[test]
    fn truncated_payload_is_kept() {
        let mut p = header(6, 100);
        p.extend_from_slice(&[9; 10]);
        let v = Packet::parse(&p).unwrap();
        assert!(v.is_truncated());
        assert_eq!(v.payload().len(), 10);
    }

    #[test]
    fn rejects_bad_headers() {
        let mut p = header(6, 0);
        p[0] = 0x44;
        assert_eq!(Packet::parse(&p).unwrap_err(), Error::BadLength);
        p[0] = 0x65;
        assert_eq!(Packet::parse(&p).unwrap_err(), Error::BadVersion);
        p[0] = 0x4f;
        assert_eq!(Packet::parse(&p).unwrap_err(), Error::Truncated);
    }

    #[test]
    fn zero_total_length_uses_captured() {
        let mut p = header(6, 0);
        p[2] = 0;
        p[3] = 0;
        p.extend_from_slice(&[1; 8]);
        let v = Packet::parse(&p).unwrap();
        assert!(!v.total_len_valid());
        assert_eq!(v.payload().len(), 8);
    }
}

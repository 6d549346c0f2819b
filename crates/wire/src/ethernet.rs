//! Ethernet II frames and 802.1Q / 802.1ad VLAN tags (IEEE 802.3, 802.1Q).

use crate::{be16, ethertype, Error, Result};

/// An Ethernet II header (14 bytes) over a captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    buf: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Header length without VLAN tags.
    pub const HEADER_LEN: usize = 14;

    /// Validates that the 14-byte header is present.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        if buf.len() < Self::HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Frame { buf })
    }
    /// Destination MAC address.
    pub fn dst(&self) -> [u8; 6] {
        [self.buf[0], self.buf[1], self.buf[2], self.buf[3], self.buf[4], self.buf[5]]
    }
    /// Source MAC address.
    pub fn src(&self) -> [u8; 6] {
        [self.buf[6], self.buf[7], self.buf[8], self.buf[9], self.buf[10], self.buf[11]]
    }
    /// EtherType (or 802.3 length when < 0x0600).
    pub fn ethertype(&self) -> u16 {
        be16(self.buf, 12)
    }
    /// Bytes after the 14-byte header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[Self::HEADER_LEN..]
    }
}

/// Whether an EtherType announces a VLAN tag (802.1Q, 802.1ad or the old 0x9100).
pub fn is_vlan(ethertype: u16) -> bool {
    matches!(ethertype, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD)
}

/// One 4-byte VLAN tag: TCI then the inner EtherType.
#[derive(Debug, Clone, Copy)]
pub struct VlanTag<'a> {
    buf: &'a [u8],
}

impl<'a> VlanTag<'a> {
    /// Tag length.
    pub const LEN: usize = 4;
    /// Validates that the 4-byte tag is present.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        if buf.len() < Self::LEN {
            return Err(Error::Truncated);
        }
        Ok(VlanTag { buf })
    }
    /// VLAN identifier (12 bits of the TCI).
    pub fn vid(&self) -> u16 {
        be16(self.buf, 0) & 0x0fff
    }
    /// EtherType of what follows the tag.
    pub fn ethertype(&self) -> u16 {
        be16(self.buf, 2)
    }
    /// Bytes after the tag.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[Self::LEN..]
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_header_and_tag() {
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        f[12] = 0x81;
        f.extend_from_slice(&[0x20, 0x0a, 0x86, 0xdd, 0x60]);
        let e = Frame::parse(&f).unwrap();
        assert_eq!(e.dst(), [1, 2, 3, 4, 5, 6]);
        assert!(is_vlan(e.ethertype()));
        let t = VlanTag::parse(e.payload()).unwrap();
        assert_eq!(t.vid(), 10);
        assert_eq!(t.ethertype(), ethertype::IPV6);
        assert_eq!(t.payload(), &[0x60]);
    }

    #[test]
    fn short_is_truncated() {
        assert_eq!(Frame::parse(&[0; 13]).unwrap_err(), Error::Truncated);
        assert_eq!(VlanTag::parse(&[0; 3]).unwrap_err(), Error::Truncated);
    }
}

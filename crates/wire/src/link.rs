//! Link-layer headers other than Ethernet: Linux cooked captures (SLL, SLL2) and BSD NULL/LOOP,
//! plus the LINKTYPE_* numbers that name them in capture files (tcpdump.org "Link-layer header types").

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

#[cfg(test)]
mod test {
    use super::*;

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

//! TCP header (RFC 9293) and its common options (MSS, window scale, SACK, timestamps).

use crate::{be16, be32, Error, Result};

/// FIN flag.
pub const FIN: u8 = 0x01;
/// SYN flag.
pub const SYN: u8 = 0x02;
/// RST flag.
pub const RST: u8 = 0x04;
/// PSH flag.
pub const PSH: u8 = 0x08;
/// ACK flag.
pub const ACK: u8 = 0x10;
/// URG flag.
pub const URG: u8 = 0x20;

/// A TCP header over captured bytes.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    buf: &'a [u8],
    hlen: usize,
}

impl<'a> Packet<'a> {
    /// Minimum header length.
    pub const MIN_LEN: usize = 20;

    /// Validates the data offset and that the header (options included) was captured.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        if buf.len() < Self::MIN_LEN {
            return Err(Error::Truncated);
        }
        let hlen = usize::from(buf[12] >> 4) * 4;
        if hlen < Self::MIN_LEN {
            return Err(Error::BadLength);
        }
        if buf.len() < hlen {
            return Err(Error::Truncated);
        }
        Ok(Packet { buf, hlen })
    }
    /// Parses only the 8 bytes that an ICMP error is guaranteed to quote: ports and sequence.
    pub fn parse_ports(buf: &'a [u8]) -> Result<(u16, u16, u32)> {
        if buf.len() < 8 {
            return Err(Error::Truncated);
        }
        Ok((be16(buf, 0), be16(buf, 2), be32(buf, 4)))
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf, 0)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf, 2)
    }
    /// Sequence number.
    pub fn seq(&self) -> u32 {
        be32(self.buf, 4)
    }
    /// Acknowledgment number.
    pub fn ack(&self) -> u32 {
        be32(self.buf, 8)
    }
    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        self.hlen
    }
    /// The eight flag bits (CWR ECE URG ACK PSH RST SYN FIN).
    pub fn flags(&self) -> u8 {
        self.buf[13]
    }
    /// Window field (unscaled).
    pub fn window(&self) -> u16 {
        be16(self.buf, 14)
    }
    /// Option bytes.
    pub fn options(&self) -> &'a [u8] {
        &self.buf[Self::MIN_LEN..self.hlen]
    }
    /// Captured payload.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.hlen..]
    }
    /// Decodes the options. Malformed option lists stop early and set `malformed`.
    pub fn parse_options(&self) -> Options {
        Options::parse(self.options())
    }
}

/// The TCP options v6watch records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Maximum segment size (kind 2).
    pub mss: Option<u16>,
    /// Window scale shift (kind 3).
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4).
    pub sack_permitted: bool,
    /// A SACK block list was present (kind 5).
    pub sack: bool,
    /// Timestamp value and echo reply (kind 8).
    pub timestamps: Option<(u32, u32)>,
    /// The list was cut short or had a bad length.
    pub malformed: bool,
}

impl Options {
    /// Parses an option list.
    pub fn parse(mut b: &[u8]) -> Options {
        let mut o = Options::default();
        while let Some(&kind) = b.first() {
            match kind {
                0 => break,
                1 => {
                    b = &b[1..];
                    continue;
                }
                _ => {}
            }
            let Some(&len) = b.get(1) else {
                o.malformed = true;
                break;
            };
            let len = usize::from(len);
            if len < 2 || len > b.len() {
                o.malformed = true;
                break;
            }
            let body = &b[2..len];
            match (kind, body.len()) {
                (2, 2) => o.mss = Some(be16(body, 0)),
                (3, 1) => o.window_scale = Some(body[0]),
                (4, 0) => o.sack_permitted = true,
                (5, _) => o.sack = true,
                (8, 8) => o.timestamps = Some((be32(body, 0), be32(body, 4))),
                (2 | 3 | 4 | 8, _) => o.malformed = true,
                _ => {}
            }
            b = &b[len..];
        }
        o
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn header_and_options() {
        let mut h = vec![0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, SYN, 0xff, 0xff, 0, 0, 0, 0];
        h.extend_from_slice(&[2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0]);
        h.extend_from_slice(b"hi");
        let t = Packet::parse(&h).unwrap();
        assert_eq!((t.src_port(), t.dst_port(), t.seq(), t.flags()), (1234, 80, 1, SYN));
        assert_eq!(t.payload(), b"hi");
        let o = t.parse_options();
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.window_scale, Some(7));
        assert!(o.sack_permitted && !o.malformed);
        assert_eq!(o.timestamps, Some((9, 0)));
    }

    #[test]
    fn bad_offsets_and_options() {
        let mut h = [0u8; 20];
        h[12] = 0x40;
        assert_eq!(Packet::parse(&h).unwrap_err(), Error::BadLength);
        h[12] = 0x60;
        assert_eq!(Packet::parse(&h).unwrap_err(), Error::Truncated);
        assert!(Options::parse(&[2, 40, 0]).malformed);
        assert!(Options::parse(&[3]).malformed);
        assert!(Options::parse(&[2, 0]).malformed);
    }
}

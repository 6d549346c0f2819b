//! UDP header (RFC 768).

use crate::{be16, Error, Result};

/// A UDP header over captured bytes.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Header length.
    pub const LEN: usize = 8;
    /// Validates that the 8-byte header was captured.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        if buf.len() < Self::LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buf })
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf, 0)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf, 2)
    }
    /// Length field (header + data).
    pub fn length(&self) -> u16 {
        be16(self.buf, 4)
    }
    /// Whether the Length field is below the header size or beyond the captured bytes' datagram.
    pub fn length_valid(&self) -> bool {
        usize::from(self.length()) >= Self::LEN
    }
    /// Captured payload, cut at the Length field when it is valid and shorter than the capture.
    pub fn payload(&self) -> &'a [u8] {
        let end = if self.length_valid() { usize::from(self.length()).min(self.buf.len()) } else { self.buf.len() };
        &self.buf[Self::LEN..end]
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn fields() {
        let d = [0, 53, 0x30, 0x39, 0, 10, 0, 0, 1, 2, 3];
        let u = Packet::parse(&d).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.length()), (53, 12345, 10));
        assert_eq!(u.payload(), &[1, 2]);
        assert!(Packet::parse(&d[..7]).is_err());
        let bad = [0, 53, 0, 53, 0, 3, 0, 0, 9];
        assert_eq!(Packet::parse(&bad).unwrap().payload(), &[9]);
    }
}

//! IEEE 802.11 data frames and the radio headers captures put before them (radiotap, PPI), and
//! the LLC/SNAP header that carries an EtherType in 802.11 and in 802.3 frames with a length.

use crate::{Error, Result};

/// Little-endian u16 at `at`; callers guarantee `at + 2 <= b.len()`.
fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Little-endian u32 at `at`; callers guarantee `at + 4 <= b.len()`.
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The EtherType and payload behind an LLC/SNAP header (DSAP and SSAP 0xaa, UI, then an OUI of
/// 00-00-00, RFC 1042, or 00-00-f8, 802.1H bridge tunnel); `None` for any other LLC payload.
pub fn snap(buf: &[u8]) -> Option<(u16, &[u8])> {
    match buf {
        [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00 | 0xf8, hi, lo, rest @ ..] => Some((u16::from_be_bytes([*hi, *lo]), rest)),
        _ => None,
    }
}

/// What an 802.11 frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// A data frame's MSDU: the bytes after the MAC header (an LLC header first).
    Data(&'a [u8]),
    /// A data frame whose body is encrypted (the Protected flag).
    Protected,
    /// An aggregate of several MSDUs (A-MSDU), or a data frame without a body (null data).
    Other,
    /// A management or control frame.
    NotData,
}

/// An IEEE 802.11 MAC frame (LINKTYPE_IEEE802_11, or after a radio header).
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    body: Body<'a>,
    src: Option<[u8; 6]>,
}

impl<'a> Frame<'a> {
    /// The MAC header of a data frame: frame control, duration, three addresses, sequence control.
    pub const MIN_DATA_LEN: usize = 24;

    /// Validates the MAC header. `datapad`: radiotap's flag that padding follows the header up
    /// to a multiple of 4 bytes.
    pub fn parse(buf: &'a [u8], datapad: bool) -> Result<Self> {
        if buf.len() < 2 {
            return Err(Error::Truncated);
        }
        let (fc, flags) = (buf[0], buf[1]);
        if fc & 0x03 != 0 {
            return Err(Error::BadVersion);
        }
        let (kind, subtype) = ((fc >> 2) & 0x03, fc >> 4);
        if kind != 2 {
            return Ok(Frame { body: Body::NotData, src: None });
        }
        let (to_ds, from_ds) = (flags & 0x01 != 0, flags & 0x02 != 0);
        let qos = subtype & 0x08 != 0;
        let mut len = Self::MIN_DATA_LEN;
        if to_ds && from_ds {
            len += 6;
        }
        let qos_at = len;
        if qos {
            len += 2;
            // The Order flag on a QoS frame announces an HT Control field.
            if flags & 0x80 != 0 {
                len += 4;
            }
        }
        if datapad {
            len = (len + 3) & !3;
        }
        if buf.len() < len {
            return Err(Error::Truncated);
        }
        let addr = |at: usize| -> [u8; 6] { buf[at..at + 6].try_into().expect("six bytes") };
        // The transmitting station's own address (SA): address 2 unless the frame came from
        // the distribution system, where it is address 3 (or 4 between access points).
        let src = match (to_ds, from_ds) {
            (false, true) => addr(16),
            (true, true) => addr(24),
            _ => addr(10),
        };
        let body = if subtype & 0x04 != 0 || (qos && buf[qos_at] & 0x80 != 0) {
            Body::Other
        } else if flags & 0x40 != 0 {
            Body::Protected
        } else {
            Body::Data(&buf[len..])
        };
        Ok(Frame { body, src: Some(src) })
    }

    /// What the frame holds.
    pub fn body(&self) -> Body<'a> {
        self.body
    }

    /// The source station's address, for data frames.
    pub fn src(&self) -> Option<[u8; 6]> {
        self.src
    }
}

/// The start radiotap and PPI headers share: version 0, a byte of flags or padding, then the
/// header's own length (little-endian, at least 8, within the frame), which it returns.
fn radio_header(buf: &[u8]) -> Result<usize> {
    if buf.len() < 8 {
        return Err(Error::Truncated);
    }
    if buf[0] != 0 {
        return Err(Error::BadVersion);
    }
    let len = usize::from(le16(buf, 2));
    if len < 8 {
        return Err(Error::BadLength);
    }
    if buf.len() < len {
        return Err(Error::Truncated);
    }
    Ok(len)
}

/// An 802.11 frame without the FCS its radio header says it ends with.
fn without_fcs(frame: &[u8], fcs: bool) -> &[u8] {
    if fcs {
        &frame[..frame.len().saturating_sub(4)]
    } else {
        frame
    }
}

/// A radiotap header: the 802.11 frame after it, and whether that frame ends with its FCS and
/// has padding after its MAC header (radiotap's Flags field).
#[derive(Debug, Clone, Copy)]
pub struct Radiotap<'a> {
    /// The 802.11 frame, without its FCS.
    pub frame: &'a [u8],
    /// The frame has padding between its MAC header and its body.
    pub datapad: bool,
}

impl<'a> Radiotap<'a> {
    /// Validates the header (version 0, its length within the frame) and reads its Flags field,
    /// the second field (after TSFT, 8 bytes aligned to 8), when present.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let len = radio_header(buf)?;
        let present = le32(buf, 4);
        // Further presence words follow while bit 31 is set; the fields start after them.
        let mut at = 8;
        let mut word = present;
        while word & 0x8000_0000 != 0 {
            if at + 4 > len {
                return Err(Error::BadLength);
            }
            word = le32(buf, at);
            at += 4;
        }
        let mut flags = 0u8;
        if present & 0x01 != 0 {
            at = (at + 7) & !7;
            at += 8;
        }
        if present & 0x02 != 0 {
            if at >= len {
                return Err(Error::BadLength);
            }
            flags = buf[at];
        }
        Ok(Radiotap { frame: without_fcs(&buf[len..], flags & 0x10 != 0), datapad: flags & 0x20 != 0 })
    }
}

/// A Per-Packet Information header: the link type of the frame after it, the frame, and
/// whether an 802.11-Common field says the frame ends with its FCS.
#[derive(Debug, Clone, Copy)]
pub struct Ppi<'a> {
    /// LINKTYPE_* of [`Ppi::frame`].
    pub linktype: u32,
    /// The frame, without its FCS.
    pub frame: &'a [u8],
}

impl<'a> Ppi<'a> {
    /// Validates the header (version 0, its length within the frame) and walks its fields.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let len = radio_header(buf)?;
        let linktype = le32(buf, 4);
        let mut fcs = false;
        let mut at = 8;
        while at + 4 <= len {
            let (kind, flen) = (le16(buf, at), usize::from(le16(buf, at + 2)));
            let data = at + 4;
            if data + flen > len {
                return Err(Error::BadLength);
            }
            // 802.11-Common: TSF timer (8 bytes), then flags whose bit 0 is "FCS present".
            if kind == 2 && flen >= 10 {
                fcs = le16(buf, data + 8) & 0x0001 != 0;
            }
            at = data + flen;
        }
        Ok(Ppi { linktype, frame: without_fcs(&buf[len..], fcs) })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// A data frame's MAC header: frame control (type data, `subtype`, `flags`), then the
    /// addresses 0x11.., 0x22.., 0x33.. (and 0x44.. between access points).
    fn header(subtype: u8, flags: u8) -> Vec<u8> {
        let mut h = vec![0x08 | subtype << 4, flags, 0, 0];
        for a in [0x11u8, 0x22, 0x33] {
            h.extend([a; 6]);
        }
        h.extend([0, 0]);
        if flags & 0x03 == 0x03 {
            h.extend([0x44; 6]);
        }
        h
    }

    #[test]
    fn data_frames_give_their_llc_and_source() {
        let llc = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x86, 0xdd, 0x60];
        let mut f = header(0, 0x01); // to the access point: SA is address 2
        f.extend(llc);
        let fr = Frame::parse(&f, false).unwrap();
        assert_eq!((fr.body(), fr.src()), (Body::Data(&llc[..]), Some([0x22; 6])));
        assert_eq!(snap(&llc), Some((0x86dd, &[0x60][..])));
        let mut q = header(8, 0x02); // QoS data from the access point: SA is address 3
        q.extend([0, 0]);
        q.extend(llc);
        let fr = Frame::parse(&q, false).unwrap();
        assert_eq!((fr.body(), fr.src()), (Body::Data(&llc[..]), Some([0x33; 6])));
        let mut w = header(8, 0x83); // QoS between access points, with HT control
        w.extend([0, 0, 0, 0, 0, 0]);
        w.extend(llc);
        let fr = Frame::parse(&w, false).unwrap();
        assert_eq!((fr.body(), fr.src()), (Body::Data(&llc[..]), Some([0x44; 6])));
        let mut amsdu = header(8, 0);
        amsdu.extend([0x80, 0]);
        assert_eq!(Frame::parse(&amsdu, false).unwrap().body(), Body::Other);
        assert_eq!(Frame::parse(&header(4, 0), false).unwrap().body(), Body::Other, "null data");
        let mut prot = header(0, 0x40);
        prot.extend([1, 2, 3]);
        assert_eq!(Frame::parse(&prot, false).unwrap().body(), Body::Protected);
        assert_eq!(Frame::parse(&[0x80, 0, 0, 0], false).unwrap().body(), Body::NotData, "beacon");
        assert_eq!(Frame::parse(&f[..20], false).unwrap_err(), Error::Truncated);
        assert_eq!(Frame::parse(&[0x09, 0], false).unwrap_err(), Error::BadVersion);
        // Radiotap's padding: a 26-byte QoS header is followed by 2 bytes to reach 28.
        let mut padded = header(8, 0);
        padded.extend([0, 0, 0xee, 0xee]);
        padded.extend(llc);
        assert_eq!(Frame::parse(&padded, true).unwrap().body(), Body::Data(&llc[..]));
        assert_eq!(snap(&[0xaa, 0xaa, 0x03, 0, 0, 0x0c, 0x20, 0x00]), None, "Cisco's OUI is not an EtherType");
    }

    #[test]
    fn radio_headers_give_the_frame_without_fcs() {
        // Radiotap: TSFT (aligned to 8 after a second presence word) and Flags with FCS and
        // padding, then the frame.
        let mut r = vec![0, 0, 0, 0];
        r.extend(0x8000_0003u32.to_le_bytes());
        r.extend(0u32.to_le_bytes());
        r.extend([0; 4]);
        r.extend([7; 8]); // TSFT at 16
        r.push(0x30); // Flags: FCS at end, data padding
        r.extend([0; 3]);
        let len = r.len() as u16;
        r[2..4].copy_from_slice(&len.to_le_bytes());
        r.extend([1, 2, 3, 4, 5, 6]);
        let rt = Radiotap::parse(&r).unwrap();
        assert_eq!((rt.frame, rt.datapad), (&[1, 2][..], true));
        r[2] = 200;
        assert_eq!(Radiotap::parse(&r).unwrap_err(), Error::Truncated);
        assert_eq!(Radiotap::parse(&[1, 0, 8, 0, 0, 0, 0, 0]).unwrap_err(), Error::BadVersion);
        // A presence word that says another follows, past the header's end.
        assert_eq!(Radiotap::parse(&[0, 0, 8, 0, 0, 0, 0, 0x80, 9, 9, 9, 9]).unwrap_err(), Error::BadLength);
        // PPI: one 802.11-Common field with "FCS present".
        let mut p = vec![0, 0, 0, 0];
        p.extend(105u32.to_le_bytes());
        p.extend(2u16.to_le_bytes());
        p.extend(20u16.to_le_bytes());
        let mut common = [0u8; 20];
        common[8] = 1;
        p.extend(common);
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_le_bytes());
        p.extend([9, 9, 0xf, 0xf, 0xf, 0xf]);
        let ppi = Ppi::parse(&p).unwrap();
        assert_eq!((ppi.linktype, ppi.frame), (105, &[9, 9][..]));
        p[10] = 30; // the field runs past the header
        assert_eq!(Ppi::parse(&p).unwrap_err(), Error::BadLength);
    }
}

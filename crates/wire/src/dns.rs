//! DNS messages (RFC 1035, with AAAA RFC 3596, SRV RFC 2782, SVCB/HTTPS RFC 9460) — also the
//! wire format of mDNS and LLMNR. Names are decompressed into a caller-provided buffer with a
//! bound on pointer jumps and on length, so compression loops and bad pointers are errors, not
//! hangs. Record sections are read lazily, one record at a time.

use crate::{be16, be32, Error, Result};

/// Longest presentation-form name kept (RFC 1035 allows 255 octets on the wire; escaping can
/// grow it, so allow some room).
pub const MAX_NAME: usize = 1024;
/// Compression pointers followed per name at most.
const MAX_JUMPS: usize = 32;

/// A DNS message header and its buffer.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    buf: &'a [u8],
}

/// Record types v6watch names.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Pointer (reverse lookups).
    pub const PTR: u16 = 12;
    /// Mail exchanger.
    pub const MX: u16 = 15;
    /// Text.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Service locator.
    pub const SRV: u16 = 33;
    /// EDNS(0) pseudo-record.
    pub const OPT: u16 = 41;
    /// Service binding.
    pub const SVCB: u16 = 64;
    /// HTTPS service binding.
    pub const HTTPS: u16 = 65;

    /// Mnemonic, or `TYPEnnn` (RFC 3597) for others.
    pub fn name(t: u16) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed(match t {
            A => "A",
            NS => "NS",
            CNAME => "CNAME",
            SOA => "SOA",
            PTR => "PTR",
            MX => "MX",
            TXT => "TXT",
            AAAA => "AAAA",
            SRV => "SRV",
            OPT => "OPT",
            SVCB => "SVCB",
            HTTPS => "HTTPS",
            255 => "ANY",
            _ => return std::borrow::Cow::Owned(format!("TYPE{t}")),
        })
    }
}

impl<'a> Message<'a> {
    /// Header length.
    pub const HEADER_LEN: usize = 12;

    /// Validates that the 12-byte header is present.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        if buf.len() < Self::HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Message { buf })
    }
    /// Transaction id.
    pub fn id(&self) -> u16 {
        be16(self.buf, 0)
    }
    /// QR bit: a response.
    pub fn is_response(&self) -> bool {
        self.buf[2] & 0x80 != 0
    }
    /// Opcode (0 = query).
    pub fn opcode(&self) -> u8 {
        (self.buf[2] >> 3) & 0x0f
    }
    /// TC bit.
    pub fn truncated(&self) -> bool {
        self.buf[2] & 0x02 != 0
    }
    /// Response code (low four bits; EDNS extended codes are not merged).
    pub fn rcode(&self) -> u8 {
        self.buf[3] & 0x0f
    }
    /// Question count.
    pub fn qdcount(&self) -> u16 {
        be16(self.buf, 4)
    }
    /// Answer count.
    pub fn ancount(&self) -> u16 {
        be16(self.buf, 6)
    }
    /// Authority count.
    pub fn nscount(&self) -> u16 {
        be16(self.buf, 8)
    }
    /// Additional count.
    pub fn arcount(&self) -> u16 {
        be16(self.buf, 10)
    }
    /// The whole message.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// Reads sections in order. `section()` of each item says where it came from.
    pub fn records(&self) -> Records<'a> {
        Records {
            buf: self.buf,
            at: Self::HEADER_LEN,
            left: [self.qdcount(), self.ancount(), self.nscount(), self.arcount()],
            section: 0,
        }
    }
}

/// Reads a (possibly compressed) name starting at `at` into `out` in presentation form
/// (`www.example.org`, root as `.`; bytes outside printable ASCII, dots and backslashes inside
/// labels escaped as `\DDD`). Returns the offset just after the name at its original position.
pub fn read_name(buf: &[u8], mut at: usize, out: &mut String) -> Result<usize> {
    out.clear();
    let mut end = None;
    let mut jumps = 0;
    let mut wire_len = 0usize;
    loop {
        let len = *buf.get(at).ok_or(Error::Truncated)? as usize;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    if out.is_empty() {
                        out.push('.');
                    }
                    return Ok(end.unwrap_or(at + 1));
                }
                let label = buf.get(at + 1..at + 1 + len).ok_or(Error::Truncated)?;
                wire_len += len + 1;
                if wire_len > 255 {
                    return Err(Error::Malformed);
                }
                if !out.is_empty() {
                    out.push('.');
                }
                for &b in label {
                    if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                        out.push(b as char);
                    } else {
                        out.push_str(&format!("\\{b:03}"));
                    }
                }
                if out.len() > MAX_NAME {
                    return Err(Error::Malformed);
                }
                at += 1 + len;
            }
            0xc0 => {
                let b2 = *buf.get(at + 1).ok_or(Error::Truncated)? as usize;
                let target = ((len & 0x3f) << 8) | b2;
                jumps += 1;
                // A pointer must go backwards (RFC 1035 §4.1.4 "prior occurrence"): this alone
                // rules out loops; the jump cap is a second bound.
                if jumps > MAX_JUMPS || target >= at {
                    return Err(Error::Malformed);
                }
                if end.is_none() {
                    end = Some(at + 2);
                }
                at = target;
            }
            _ => return Err(Error::Malformed),
        }
    }
}

/// One question or resource record.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// 0 question, 1 answer, 2 authority, 3 additional.
    pub section: u8,
    /// Offset of the owner name.
    pub name_at: usize,
    /// Type.
    pub rtype: u16,
    /// Class (mDNS uses the top bit for cache-flush / unicast-response).
    pub class: u16,
    /// TTL (0 for questions).
    pub ttl: u32,
    /// Offset of the RDATA in the message.
    pub rdata_at: usize,
    /// RDATA (empty for questions).
    pub rdata: &'a [u8],
}

/// Iterator over all sections. Stops (yielding one `Err`) at the first damaged record.
pub struct Records<'a> {
    buf: &'a [u8],
    at: usize,
    left: [u16; 4],
    section: usize,
}

fn skip_name(buf: &[u8], mut at: usize) -> Result<usize> {
    for _ in 0..128 {
        let len = *buf.get(at).ok_or(Error::Truncated)? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(at + 1),
            0x00 => at += 1 + len,
            0xc0 => return if at + 2 <= buf.len() { Ok(at + 2) } else { Err(Error::Truncated) },
            _ => return Err(Error::Malformed),
        }
    }
    Err(Error::Malformed)
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.section < 4 && self.left[self.section] == 0 {
            self.section += 1;
        }
        if self.section >= 4 {
            return None;
        }
        self.left[self.section] -= 1;
        let r = (|| {
            let name_at = self.at;
            let at = skip_name(self.buf, self.at)?;
            let fixed = self.buf.get(at..at + 4).ok_or(Error::Truncated)?;
            let (rtype, class) = (be16(fixed, 0), be16(fixed, 2));
            if self.section == 0 {
                self.at = at + 4;
                return Ok(Record { section: 0, name_at, rtype, class, ttl: 0, rdata_at: at + 4, rdata: &[] });
            }
            let rr = self.buf.get(at..at + 10).ok_or(Error::Truncated)?;
            let ttl = be32(rr, 4);
            let rdlen = usize::from(be16(rr, 8));
            let rdata = self.buf.get(at + 10..at + 10 + rdlen).ok_or(Error::Truncated)?;
            self.at = at + 10 + rdlen;
            Ok(Record { section: self.section as u8, name_at, rtype, class, ttl, rdata_at: at + 10, rdata })
        })();
        if r.is_err() {
            self.section = 4; // stop after the first damage
        }
        Some(r)
    }
}

impl Record<'_> {
    /// The IPv4 address of an A record.
    pub fn a(&self) -> Option<[u8; 4]> {
        (self.rtype == rtype::A && self.rdata.len() == 4)
            .then(|| [self.rdata[0], self.rdata[1], self.rdata[2], self.rdata[3]])
    }
    /// The IPv6 address of an AAAA record.
    pub fn aaaa(&self) -> Option<[u8; 16]> {
        if self.rtype != rtype::AAAA || self.rdata.len() != 16 {
            return None;
        }
        let mut a = [0u8; 16];
        a.copy_from_slice(self.rdata);
        Some(a)
    }
}

/// SVCB/HTTPS RDATA (RFC 9460 §2.2): priority, target, and the hints v6watch uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Svcb {
    /// SvcPriority (0 = alias mode).
    pub priority: u16,
    /// Target name.
    pub target: String,
    /// `alpn` values.
    pub alpn: Vec<String>,
    /// `ipv4hint` addresses.
    pub ipv4hint: Vec<[u8; 4]>,
    /// `ipv6hint` addresses.
    pub ipv6hint: Vec<[u8; 16]>,
    /// `ech` present.
    pub ech: bool,
}

/// Decodes SVCB/HTTPS RDATA at `rdata_at` in `msg`.
pub fn svcb(msg: &[u8], rdata_at: usize, rdata: &[u8]) -> Result<Svcb> {
    if rdata.len() < 3 {
        return Err(Error::Truncated);
    }
    let mut s = Svcb { priority: be16(rdata, 0), ..Svcb::default() };
    // The target is uncompressed (RFC 9460 §2.2), but reading it through read_name is safe.
    let after = read_name(msg, rdata_at + 2, &mut s.target)?;
    let mut p = after.checked_sub(rdata_at).ok_or(Error::Malformed)?;
    while p + 4 <= rdata.len() {
        let (key, len) = (be16(rdata, p), usize::from(be16(rdata, p + 2)));
        let v = rdata.get(p + 4..p + 4 + len).ok_or(Error::Truncated)?;
        match key {
            1 => {
                let mut q = 0;
                while q < v.len() {
                    let l = usize::from(v[q]);
                    let id = v.get(q + 1..q + 1 + l).ok_or(Error::Truncated)?;
                    s.alpn.push(String::from_utf8_lossy(id).into_owned());
                    q += 1 + l;
                }
            }
            4 => s.ipv4hint.extend(v.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]])),
            5 => s.ech = true,
            6 => s.ipv6hint.extend(v.chunks_exact(16).map(|c| {
                let mut a = [0u8; 16];
                a.copy_from_slice(c);
                a
            })),
            _ => {}
        }
        p += 4 + len;
    }
    Ok(s)
}

#[cfg(test)]
pub(crate) mod test {
    use super::*;

    /// A response for www.example.org with a CNAME (compressed) and an AAAA.
    pub fn sample() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x07example\x03org\x00\x00\x1c\x00\x01");
        // www.example.org CNAME edge.example.org (edge + pointer to "example.org" at 16)
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 7]);
        m.extend_from_slice(b"\x04edge\xc0\x10");
        // edge.example.org AAAA 2001:db8::1 (owner = pointer to the CNAME target at 45)
        m.extend_from_slice(&[0xc0, 45, 0, 28, 0, 1, 0, 0, 1, 0, 0, 16]);
        m.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        m
    }

    #[test]
    fn parses_sections_and_names() {
        let m = sample();
        let msg = Message::parse(&m).unwrap();
        assert!(msg.is_response());
        assert_eq!((msg.id(), msg.rcode(), msg.qdcount(), msg.ancount()), (0x1234, 0, 1, 2));
        let recs: Vec<Record> = msg.records().map(|r| r.unwrap()).collect();
        assert_eq!(recs.len(), 3);
        let mut name = String::new();
        read_name(&m, recs[0].name_at, &mut name).unwrap();
        assert_eq!(name, "www.example.org");
        assert_eq!(recs[1].rtype, rtype::CNAME);
        read_name(&m, recs[1].rdata_at, &mut name).unwrap();
        assert_eq!(name, "edge.example.org");
        read_name(&m, recs[2].name_at, &mut name).unwrap();
        assert_eq!(name, "edge.example.org");
        assert_eq!(recs[2].aaaa().unwrap()[15], 1);
        assert_eq!(recs[2].ttl, 256);
    }

    #[test]
    fn loops_and_bad_pointers_are_errors() {
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[0xc0, 12]); // points to itself
        let mut s = String::new();
        assert_eq!(read_name(&m, 12, &mut s), Err(Error::Malformed));
        let fwd = [0u8; 12].iter().copied().chain([0xc0, 20, 0, 0]).collect::<Vec<_>>();
        assert_eq!(read_name(&fwd, 12, &mut s), Err(Error::Malformed));
        assert_eq!(read_name(&[3, b'a'], 0, &mut s), Err(Error::Truncated));
        assert_eq!(read_name(&[0x80], 0, &mut s), Err(Error::Malformed));
        // Hostile bytes are escaped.
        read_name(b"\x03a.\x1b\x00", 0, &mut s).unwrap();
        assert_eq!(s, "a\\046\\027");
    }

    #[test]
    fn counts_beyond_data_stop_with_one_error() {
        let mut m = sample();
        m[7] = 200; // claims 200 answers
        let msg = Message::parse(&m).unwrap();
        let v: Vec<_> = msg.records().collect();
        assert_eq!(v.iter().filter(|r| r.is_ok()).count(), 3);
        assert_eq!(v.iter().filter(|r| r.is_err()).count(), 1);
    }

    #[test]
    fn svcb_hints() {
        let mut m = vec![0u8; 12];
        let at = m.len();
        m.extend_from_slice(&[0, 1, 0]); // priority 1, target "."
        m.extend_from_slice(&[0, 1, 0, 3, 2, b'h', b'2']);
        m.extend_from_slice(&[0, 4, 0, 4, 192, 0, 2, 1]);
        m.extend_from_slice(&[0, 6, 0, 16, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        let s = svcb(&m, at, &m[at..]).unwrap();
        assert_eq!((s.priority, s.target.as_str()), (1, "."));
        assert_eq!(s.alpn, vec!["h2"]);
        assert_eq!(s.ipv4hint, vec![[192, 0, 2, 1]]);
        assert_eq!(s.ipv6hint[0][15], 9);
    }
}

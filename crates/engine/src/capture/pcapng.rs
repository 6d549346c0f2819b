//! pcapng (draft-ietf-opsawg-pcapng): several sections, either byte order, several interfaces
//! with their own link type, `if_tsresol` and `if_tsoffset`; Enhanced, Simple and the obsolete
//! Packet blocks. Every other block type is skipped and counted.

use super::{Container, Current, Reader, MAX_RECORD};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const BOM: u32 = 0x1A2B_3C4D;
/// Interfaces kept per section; more is damage (each IDB is ≥ 20 bytes, so this also bounds
/// memory on hostile files).
const MAX_INTERFACES: usize = 1 << 16;

pub(super) fn is_magic(m: [u8; 4]) -> bool {
    u32::from_le_bytes(m) == SHB
}

#[derive(Debug, Clone, Copy)]
enum Resolution {
    /// Units of 10^-n seconds.
    Dec(u8),
    /// Units of 2^-n seconds.
    Bin(u8),
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    resolution: Resolution,
    offset_s: i64,
}

#[derive(Debug, Default)]
pub(super) struct State {
    big_endian: bool,
    interfaces: Vec<Interface>,
}

impl State {
    fn u32(&self, b: &[u8], at: usize) -> u32 {
        super::read_u32(self.big_endian, b, at)
    }

    fn u16(&self, b: &[u8], at: usize) -> u16 {
        super::read_u16(self.big_endian, b, at)
    }

    /// Whether `b` starts with a block whose header looks real, for resynchronisation.
    pub(super) fn plausible_block(&self, b: &[u8]) -> bool {
        if b.len() < 12 {
            return false;
        }
        let t = self.u32(b, 0);
        let len = self.u32(b, 4) as usize;
        let known = matches!(t, SHB | IDB | OPB | SPB | 4 | 5 | EPB | 7 | 8 | 9 | 10 | 0xBAD | 0x40000BAD);
        if !known || len < 12 || !len.is_multiple_of(4) || len > MAX_RECORD {
            return false;
        }
        if t == SHB {
            return u32::from_le_bytes([b[8], b[9], b[10], b[11]]) == BOM
                || u32::from_be_bytes([b[8], b[9], b[10], b[11]]) == BOM;
        }
        // When the whole block is buffered, its trailing length must agree.
        b.len() < len || self.u32(b, len - 4) as usize == len
    }
}

/// Converts a timestamp in interface units to nanoseconds since the epoch, saturating.
fn to_nanos(units: u64, iface: &Interface) -> i64 {
    let u = i128::from(units);
    let ns = match iface.resolution {
        Resolution::Dec(n) if n <= 9 => u * 10i128.pow(u32::from(9 - n)),
        Resolution::Dec(n) => u / 10i128.pow(u32::from(n.min(38) - 9)),
        Resolution::Bin(n) => (u * 1_000_000_000) >> n.min(120),
    };
    let ns = ns + i128::from(iface.offset_s) * 1_000_000_000;
    // Garbage timestamps (seen in the wild: values near 2^64) are clamped to ±2^62 ns (years
    // 1824..2116), leaving headroom so timeout arithmetic downstream never saturates.
    ns.clamp(-(1i128 << 62), 1i128 << 62) as i64
}

/// Walks an options list; calls `f(code, value)` for each. Errors name the problem.
fn options(st: &State, b: &[u8], mut f: impl FnMut(u16, &[u8])) -> Result<(), String> {
    let mut at = 0;
    while at + 4 <= b.len() {
        let code = st.u16(b, at);
        let len = usize::from(st.u16(b, at + 2));
        if code == 0 {
            return Ok(());
        }
        let padded = (len + 3) & !3;
        if at + 4 + padded > b.len() {
            return Err(format!("option {code} of length {len} runs past the end of its block"));
        }
        f(code, &b[at + 4..at + 4 + len]);
        at += 4 + padded;
    }
    Ok(())
}

impl Reader {
    pub(super) fn next_pcapng(&mut self) -> Result<bool, super::CaptureError> {
        loop {
            let at = self.input.offset();
            if !self.input.fill(12).map_err(|e| self.io_error(e))? {
                let n = self.input.available().len();
                if n == 0 {
                    return Ok(false);
                }
                self.input.consume(n);
                return Err(self.error(at, format!("file ends inside a block header ({n} bytes)")));
            }
            let Container::Pcapng(st) = &mut self.container else { unreachable!("pcapng state") };
            let h = self.input.available();
            let raw_type = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            if raw_type == SHB {
                let bom = [h[8], h[9], h[10], h[11]];
                st.big_endian = if u32::from_le_bytes(bom) == BOM {
                    false
                } else if u32::from_be_bytes(bom) == BOM {
                    true
                } else {
                    return Err(self.error(at + 8, "section header has no valid byte-order magic"));
                };
            }
            let st = match &self.container {
                Container::Pcapng(s) => s,
                Container::Pcap(_) => unreachable!("pcapng state"),
            };
            let h = self.input.available();
            let btype = st.u32(h, 0);
            let len = st.u32(h, 4) as usize;
            if len < 12 || !len.is_multiple_of(4) {
                return Err(self.error(at, format!("block type {btype:#x} has invalid length {len}")));
            }
            if len > MAX_RECORD {
                return Err(self.error(at, format!("block type {btype:#x} claims {len} bytes (limit {MAX_RECORD})")));
            }
            if !self.input.fill(len).map_err(|e| self.io_error(e))? {
                let n = self.input.available().len();
                self.input.consume(n);
                return Err(self.error(at, format!("file ends inside a block of {len} bytes ({n} present)")));
            }
            let st = match &self.container {
                Container::Pcapng(s) => s,
                Container::Pcap(_) => unreachable!("pcapng state"),
            };
            let block = &self.input.available()[..len];
            let trailer = st.u32(block, len - 4) as usize;
            if trailer != len {
                return Err(self.error(at, format!("block length {len} does not match its trailing copy {trailer}")));
            }
            if btype == SHB || btype == IDB {
                // Rare blocks that change reader state: copy them out of the buffer first.
                let body = block[8..len - 4].to_vec();
                if btype == SHB {
                    self.section_header(at, &body)?;
                } else {
                    self.interface_block(at, &body)?;
                }
                self.input.consume(len);
                self.stats.bytes += len as u64;
                continue;
            }
            let body = &block[8..len - 4];
            let body_start = self.input.start + 8;
            let mut cur = None;
            match btype {
                EPB | OPB => {
                    let (iface_id, ts_hi, ts_lo, caplen, origlen) = if btype == EPB {
                        if body.len() < 20 {
                            return Err(self.error(at, "enhanced packet block too short"));
                        }
                        (st.u32(body, 0), st.u32(body, 4), st.u32(body, 8), st.u32(body, 12), st.u32(body, 16))
                    } else {
                        if body.len() < 20 {
                            return Err(self.error(at, "packet block too short"));
                        }
                        (
                            u32::from(st.u16(body, 0)),
                            st.u32(body, 4),
                            st.u32(body, 8),
                            st.u32(body, 12),
                            st.u32(body, 16),
                        )
                    };
                    let Some(iface) = st.interfaces.get(iface_id as usize) else {
                        return Err(self.error(
                            at,
                            format!("packet references interface {iface_id}, but {} are declared", st.interfaces.len()),
                        ));
                    };
                    if caplen as usize > body.len() - 20 {
                        return Err(self.error(
                            at,
                            format!("packet claims {caplen} captured bytes but its block holds {}", body.len() - 20),
                        ));
                    }
                    let ts = to_nanos((u64::from(ts_hi) << 32) | u64::from(ts_lo), iface);
                    cur = Some(Current {
                        data_start: body_start + 20,
                        data_len: caplen as usize,
                        ts,
                        linktype: iface.linktype,
                        interface: iface_id,
                        orig_len: origlen.max(caplen),
                    });
                }
                SPB => {
                    let Some(iface) = st.interfaces.first() else {
                        return Err(self.error(at, "simple packet block before any interface description"));
                    };
                    if body.len() < 4 {
                        return Err(self.error(at, "simple packet block too short"));
                    }
                    let origlen = st.u32(body, 0);
                    let mut caplen = (origlen as usize).min(body.len() - 4);
                    if iface.snaplen > 0 {
                        caplen = caplen.min(iface.snaplen as usize);
                    }
                    // SPBs carry no timestamp; keep the previous frame's so merges stay ordered.
                    cur = Some(Current {
                        data_start: body_start + 4,
                        data_len: caplen,
                        ts: self.cur.ts,
                        linktype: iface.linktype,
                        interface: 0,
                        orig_len: origlen.max(caplen as u32),
                    });
                }
                _ => self.stats.blocks_skipped += 1,
            }
            self.input.consume(len);
            self.stats.bytes += len as u64;
            if let Some(c) = cur {
                self.set_current(c);
                return Ok(true);
            }
        }
    }

    fn section_header(&mut self, at: u64, body: &[u8]) -> Result<(), super::CaptureError> {
        let Container::Pcapng(st) = &self.container else { unreachable!("pcapng state") };
        if body.len() < 16 {
            return Err(self.error(at, "section header block too short"));
        }
        let major = st.u16(body, 4);
        if major != 1 {
            return Err(self.error(at + 12, format!("unsupported pcapng version {major}")));
        }
        options(st, &body[16..], |_, _| {}).map_err(|w| self.error(at, format!("section header: {w}")))?;
        let Container::Pcapng(st) = &mut self.container else { unreachable!("pcapng state") };
        st.interfaces.clear();
        self.stats.sections += 1;
        Ok(())
    }

    fn interface_block(&mut self, at: u64, body: &[u8]) -> Result<(), super::CaptureError> {
        let Container::Pcapng(st) = &self.container else { unreachable!("pcapng state") };
        if body.len() < 8 {
            return Err(self.error(at, "interface description block too short"));
        }
        if st.interfaces.len() >= MAX_INTERFACES {
            return Err(self.error(at, "too many interfaces in one section"));
        }
        let mut iface = Interface {
            linktype: u32::from(st.u16(body, 0)),
            snaplen: st.u32(body, 4),
            resolution: Resolution::Dec(6),
            offset_s: 0,
        };
        let mut bad_resol = None;
        options(st, &body[8..], |code, v| match (code, v.len()) {
            (9, 1) => {
                let r = v[0];
                let n = r & 0x7f;
                if (r & 0x80 == 0 && n > 30) || n > 120 {
                    bad_resol = Some(r);
                } else {
                    iface.resolution = if r & 0x80 == 0 { Resolution::Dec(n) } else { Resolution::Bin(n) };
                }
            }
            (14, 8) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(v);
                iface.offset_s = if st.big_endian { i64::from_be_bytes(a) } else { i64::from_le_bytes(a) };
            }
            _ => {}
        })
        .map_err(|w| self.error(at, format!("interface description: {w}")))?;
        if let Some(r) = bad_resol {
            return Err(self.error(at, format!("interface description: if_tsresol {r:#x} is out of range")));
        }
        let Container::Pcapng(st) = &mut self.container else { unreachable!("pcapng state") };
        st.interfaces.push(iface);
        self.stats.interfaces += 1;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod test {
    use super::super::Reader;

    fn block(t: u32, body: &[u8]) -> Vec<u8> {
        let mut b = body.to_vec();
        while !b.len().is_multiple_of(4) {
            b.push(0);
        }
        let len = (b.len() + 12) as u32;
        let mut out = t.to_le_bytes().to_vec();
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&b);
        out.extend_from_slice(&len.to_le_bytes());
        out
    }

    pub fn shb() -> Vec<u8> {
        let mut body = 0x1A2B3C4Du32.to_le_bytes().to_vec();
        body.extend_from_slice(&[1, 0, 0, 0]);
        body.extend_from_slice(&(-1i64).to_le_bytes());
        block(0x0A0D0D0A, &body)
    }

    pub fn idb(linktype: u16, tsresol: Option<u8>, tsoffset: Option<i64>) -> Vec<u8> {
        let mut body = linktype.to_le_bytes().to_vec();
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&65535u32.to_le_bytes());
        if let Some(r) = tsresol {
            body.extend_from_slice(&[9, 0, 1, 0, r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            body.extend_from_slice(&[14, 0, 8, 0]);
            body.extend_from_slice(&o.to_le_bytes());
        }
        body.extend_from_slice(&[0, 0, 0, 0]);
        block(1, &body)
    }

    pub fn epb(iface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut body = iface.to_le_bytes().to_vec();
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        block(6, &body)
    }

    /// (ts, linktype, interface, bytes) of each frame.
    type Frames = Vec<(i64, u32, u32, Vec<u8>)>;

    fn read_all(f: Vec<u8>) -> (Frames, Option<String>) {
        let mut r = Reader::from_read("t.pcapng".into(), Box::new(std::io::Cursor::new(f)), false).unwrap();
        let mut out = vec![];
        loop {
            match r.next_frame() {
                Ok(Some(fr)) => out.push((fr.ts, fr.linktype, fr.interface, fr.data.to_vec())),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    #[test]
    fn interfaces_resolutions_sections() {
        let mut f = shb();
        f.extend(idb(1, None, None)); // microseconds
        f.extend(idb(101, Some(9), Some(10))); // nanoseconds, +10 s
        f.extend(idb(0, Some(0x80 | 10), None)); // 2^-10 s
        f.extend(epb(0, 1_500_000, b"a"));
        f.extend(epb(1, 7, b"bb"));
        f.extend(epb(2, 1024 * 3, b"ccc"));
        f.extend(block(4, &[0; 8])); // name resolution block: skipped
        f.extend(shb()); // new section forgets interfaces
        f.extend(idb(113, Some(3), None));
        f.extend(epb(0, 2, b"d"));
        let (frames, err) = read_all(f);
        assert_eq!(err, None);
        assert_eq!(frames[0], (1_500_000_000, 1, 0, b"a".to_vec()));
        assert_eq!(frames[1], (10_000_000_007, 101, 1, b"bb".to_vec()));
        assert_eq!(frames[2], (3_000_000_000, 0, 2, b"ccc".to_vec()));
        assert_eq!(frames[3], (2_000_000, 113, 0, b"d".to_vec()));
    }

    #[test]
    fn damage_is_reported_with_offset() {
        let mut f = shb();
        f.extend(idb(1, None, None));
        let good_end = f.len() as u64;
        f.extend(epb(0, 1, b"ok"));
        let bad_at = f.len() as u64;
        let mut bad = epb(0, 2, b"xx");
        let n = bad.len();
        bad[n - 4] ^= 0xff; // trailer mismatch
        f.extend(bad);
        let (frames, err) = read_all(f);
        assert_eq!(frames.len(), 1);
        assert!(good_end < bad_at);
        assert_eq!(
            err.unwrap(),
            format!("t.pcapng: at byte {bad_at}: block length 36 does not match its trailing copy {}", 36 ^ 0xff)
        );
        let mut g = shb();
        g.extend(epb(3, 1, b"x"));
        assert!(read_all(g).1.unwrap().contains("references interface 3, but 0 are declared"));
    }

    #[test]
    fn option_overrun_is_an_error() {
        let mut body = 0x1A2B3C4Du32.to_le_bytes().to_vec();
        body.extend_from_slice(&[1, 0, 0, 0]);
        body.extend_from_slice(&(-1i64).to_le_bytes());
        body.extend_from_slice(&[2, 0, 0x30, 0x30]);
        let (frames, err) = read_all(block(0x0A0D0D0A, &body));
        assert!(frames.is_empty());
        assert!(err.unwrap().contains("runs past the end"));
    }
}

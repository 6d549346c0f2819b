//! Classic libpcap files: microsecond and nanosecond magic in either byte order, and the
//! "modified" (Kuznetzov) variant with 8 extra bytes per record header.

use super::{Container, Current, Reader, MAX_RECORD};

/// Per-file pcap parameters read from the global header.
#[derive(Debug, Clone, Copy)]
pub(super) struct State {
    big_endian: bool,
    nanos: bool,
    modified: bool,
    linktype: u32,
    snaplen: u32,
    /// Largest record length accepted: snaplen when sane, else the 256 KiB libpcap limit.
    max_caplen: u32,
    last_ts_sec: Option<u32>,
}

impl State {
    pub(super) fn from_magic(m: [u8; 4]) -> Option<State> {
        let le = u32::from_le_bytes(m);
        let be = u32::from_be_bytes(m);
        let (big_endian, v) = match (le, be) {
            (0xa1b2c3d4 | 0xa1b23c4d | 0xa1b2cd34, _) => (false, le),
            (_, 0xa1b2c3d4 | 0xa1b23c4d | 0xa1b2cd34) => (true, be),
            _ => return None,
        };
        Some(State {
            big_endian,
            nanos: v == 0xa1b23c4d,
            modified: v == 0xa1b2cd34,
            linktype: 0,
            snaplen: 0,
            max_caplen: 0,
            last_ts_sec: None,
        })
    }

    fn u32(&self, b: &[u8], at: usize) -> u32 {
        super::read_u32(self.big_endian, b, at)
    }

    fn u16(&self, b: &[u8], at: usize) -> u16 {
        super::read_u16(self.big_endian, b, at)
    }

    fn record_header_len(&self) -> usize {
        if self.modified {
            24
        } else {
            16
        }
    }

    /// Whether `b` starts with a record that looks real, for resynchronisation: lengths within
    /// bounds, a timestamp within a day of the last good one, and the record either followed by
    /// another plausible header or ending exactly at the end of the stream (`eof`).
    pub(super) fn plausible_record(&self, b: &[u8], eof: bool) -> bool {
        if !self.plausible_header(b) {
            return false;
        }
        let end = self.record_header_len() + self.u32(b, 8) as usize;
        match b.get(end..) {
            None => false,
            Some([]) => eof,
            Some(rest) => self.plausible_header(rest),
        }
    }

    fn plausible_header(&self, b: &[u8]) -> bool {
        if b.len() < 16 {
            return false;
        }
        let (sec, frac, caplen, origlen) = (self.u32(b, 0), self.u32(b, 4), self.u32(b, 8), self.u32(b, 12));
        let frac_max = if self.nanos { 1_000_000_000 } else { 1_000_000 };
        let near = self.last_ts_sec.is_none_or(|l| sec.abs_diff(l) < 86_400);
        caplen > 0 && caplen <= self.max_caplen && caplen <= origlen && origlen < 1 << 20 && frac < frac_max && near
    }
}

impl Reader {
    pub(super) fn read_pcap_header(&mut self) -> Result<(), super::CaptureError> {
        let ok = self.input.fill(24).map_err(|e| self.io_error(e))?;
        if !ok {
            let n = self.input.available().len();
            return Err(self.error(n as u64, format!("pcap global header cut short: {n} of 24 bytes")));
        }
        let Container::Pcap(mut st) = self.container else { unreachable!("pcap state") };
        let h = self.input.available();
        let (major, minor) = (st.u16(h, 4), st.u16(h, 6));
        if major != 2 {
            return Err(self.error(4, format!("unsupported pcap version {major}.{minor} (only 2.x exists)")));
        }
        st.snaplen = st.u32(h, 16);
        // The upper bits of the link-type field carry FCS information (pcap spec, LinkType).
        st.linktype = st.u32(h, 20) & 0x03ff_ffff;
        st.max_caplen =
            if st.snaplen >= 64 && (st.snaplen as usize) <= MAX_RECORD { st.snaplen.max(262_144) } else { 262_144 };
        self.container = Container::Pcap(st);
        self.input.consume(24);
        self.stats.bytes += 24;
        self.stats.interfaces = 1;
        Ok(())
    }

    pub(super) fn next_pcap(&mut self) -> Result<bool, super::CaptureError> {
        let Container::Pcap(mut st) = self.container else { unreachable!("pcap state") };
        let hl = st.record_header_len();
        let at = self.input.offset();
        if !self.input.fill(hl).map_err(|e| self.io_error(e))? {
            let n = self.input.available().len();
            if n == 0 {
                return Ok(false);
            }
            self.input.consume(n);
            return Err(self.error(at, format!("file ends inside a record header ({n} of {hl} bytes)")));
        }
        let h = self.input.available();
        let (sec, frac, caplen, origlen) = (st.u32(h, 0), st.u32(h, 4), st.u32(h, 8), st.u32(h, 12));
        if caplen > st.max_caplen {
            return Err(self.error(
                at,
                format!(
                    "record claims {caplen} captured bytes, more than the snapshot length {} allows",
                    st.max_caplen
                ),
            ));
        }
        let need = hl + caplen as usize;
        if !self.input.fill(need).map_err(|e| self.io_error(e))? {
            let n = self.input.available().len();
            self.input.consume(n);
            return Err(self.error(
                at,
                format!(
                    "file ends in the middle of a packet: record needs {caplen} bytes, {} present",
                    n.saturating_sub(hl)
                ),
            ));
        }
        let ts_frac = if st.nanos { i64::from(frac) } else { i64::from(frac) * 1000 };
        let ts = i64::from(sec) * 1_000_000_000 + ts_frac;
        st.last_ts_sec = Some(sec);
        self.container = Container::Pcap(st);
        let cur = Current {
            data_start: self.input.start + hl,
            data_len: caplen as usize,
            ts,
            linktype: st.linktype,
            interface: 0,
            orig_len: origlen.max(caplen),
        };
        self.set_current(cur);
        self.input.consume(need);
        self.stats.bytes += need as u64;
        Ok(true)
    }
}

#[cfg(test)]
mod test {
    use super::super::{testutil, Reader};

    fn reader(bytes: Vec<u8>) -> Result<Reader, super::super::CaptureError> {
        Reader::from_read("t.pcap".into(), Box::new(std::io::Cursor::new(bytes)), false)
    }

    #[test]
    fn reads_records() {
        let f = testutil::pcap(1, &[(1_000_001, b"abc"), (2_000_000, b"de")]);
        let mut r = reader(f).unwrap();
        let a = r.next_frame().unwrap().unwrap();
        assert_eq!((a.ts, a.data, a.linktype), (1_000_001_000, &b"abc"[..], 1));
        let b = r.next_frame().unwrap().unwrap();
        assert_eq!(b.data, b"de");
        assert!(r.next_frame().unwrap().is_none());
    }

    #[test]
    fn big_endian_nanoseconds() {
        let mut f = Vec::new();
        f.extend_from_slice(&0xa1b23c4du32.to_be_bytes());
        f.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 101]);
        f.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 9, 0x60]);
        let mut r = reader(f).unwrap();
        let fr = r.next_frame().unwrap().unwrap();
        assert_eq!((fr.ts, fr.linktype, fr.orig_len, fr.is_truncated()), (5_000_000_007, 101, 9, true));
    }

    #[test]
    fn truncated_record_names_offset() {
        let mut f = testutil::pcap(1, &[(0, b"abcdef"), (1, b"ghijkl")]);
        f.truncate(f.len() - 2);
        let mut r = reader(f).unwrap();
        assert!(r.next_frame().unwrap().is_some());
        let e = r.next_frame().unwrap_err();
        assert_eq!(e.offset, 24 + 16 + 6);
        assert!(e.to_string().contains("t.pcap: at byte 46: file ends in the middle of a packet"), "{e}");
        assert!(r.next_frame().unwrap().is_none());
    }

    #[test]
    fn absurd_length_is_an_error_and_keep_going_resyncs() {
        let mut f = testutil::pcap(1, &[(5_000_000, b"aaaa")]);
        f.extend_from_slice(&[0xff; 16]); // garbage record header
        let good = testutil::pcap(1, &[(5_000_001, b"bbbb")]);
        f.extend_from_slice(&good[24..]);
        let mut r = Reader::from_read("t".into(), Box::new(std::io::Cursor::new(f.clone())), true).unwrap();
        assert!(r.next_frame().unwrap().is_some());
        assert!(r.next_frame().is_err());
        assert_eq!(r.next_frame().unwrap().unwrap().data, b"bbbb");
        assert!(r.next_frame().unwrap().is_none());
        assert_eq!(r.stats().resyncs, 1);
        let mut strict = reader(f).unwrap();
        assert!(strict.next_frame().unwrap().is_some());
        assert!(strict.next_frame().is_err());
        assert!(strict.next_frame().unwrap().is_none());
    }

    #[test]
    fn rejects_non_captures_and_bad_versions() {
        assert!(reader(b"hello world, not a pcap".to_vec()).unwrap_err().what.contains("not a pcap"));
        assert!(reader(vec![]).is_err());
        let mut f = testutil::pcap(1, &[]);
        f[4] = 1;
        assert!(reader(f).unwrap_err().what.contains("version 1.4"));
    }
}

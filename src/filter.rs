//! `-f EXPR` on capture files: tcpdump's filter syntax, compiled by libpcap for each link type
//! the files have and run on each frame as it is read, as `tcpdump -r FILE EXPR` does; the
//! frames it rejects are never decoded (they are not in any count but the files' own). Length
//! tests (`greater`, `less`, `len`) see the captured length: libpcap's offline filter is given
//! the frame's bytes only.

use anyhow::{anyhow, Result};
use engine::source::{FrameBatch, FrameSource, SourceSummary};
use std::collections::HashMap;

/// A compiled filter, one BPF program per link type.
pub struct Filter {
    expr: String,
    programs: HashMap<u32, Option<pcap::BpfProgram>>,
    /// Frames that passed.
    kept: u64,
}

/// LINKTYPE_ETHERNET: the filter's syntax is checked against it before anything is read.
const ETHERNET: u32 = 1;

impl Filter {
    /// Compiles `expr`; an expression libpcap refuses is an error naming it.
    pub fn new(expr: &str) -> Result<Filter> {
        let mut f = Filter { expr: expr.to_string(), programs: HashMap::new(), kept: 0 };
        let p = f.compile(ETHERNET).map_err(|e| anyhow!("-f {expr:?}: not a capture filter: {e}"))?;
        f.programs.insert(ETHERNET, Some(p));
        Ok(f)
    }

    fn compile(&self, linktype: u32) -> Result<pcap::BpfProgram, pcap::Error> {
        // libpcap compiles for a DLT_ value, which is the file's LINKTYPE_ value but for a few
        // old ones: LINKTYPE_RAW (101) is DLT_RAW (12 on Linux), LINKTYPE_ATM_RFC1483 (100)
        // DLT_ATM_RFC1483 (11).
        let dlt = match linktype {
            101 => 12,
            100 => 11,
            lt => lt,
        };
        let lt = i32::try_from(dlt).unwrap_or(i32::MAX);
        pcap::Capture::dead(pcap::Linktype(lt))?.compile(&self.expr, true)
    }

    /// Whether a frame of `linktype` passes. A link type the expression cannot be compiled for
    /// (`ether host …` on raw IP frames) passes nothing, said once on standard error.
    fn keep(&mut self, linktype: u32, frame: &[u8]) -> bool {
        if !self.programs.contains_key(&linktype) {
            let p = match self.compile(linktype) {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!(
                        "v6watch: -f {:?} does not apply to link type {linktype}: {e}; its frames are left out",
                        self.expr
                    );
                    None
                }
            };
            self.programs.insert(linktype, p);
        }
        let keep = self.programs[&linktype].as_ref().is_some_and(|p| p.filter(frame));
        self.kept += u64::from(keep);
        keep
    }
}

/// A source whose frames pass a [`Filter`].
pub struct Filtered {
    inner: Box<dyn FrameSource>,
    filter: Filter,
}

impl Filtered {
    /// `inner`'s frames that `filter` keeps.
    pub fn new(inner: Box<dyn FrameSource>, filter: Filter) -> Filtered {
        Filtered { inner, filter }
    }

    /// Frames kept so far.
    pub fn kept(&self) -> u64 {
        self.filter.kept
    }
}

impl FrameSource for Filtered {
    fn fill(&mut self, batch: &mut FrameBatch) -> bool {
        loop {
            let more = self.inner.fill(batch);
            let f = &mut self.filter;
            batch.retain_frames(|lt, data| f.keep(lt, data));
            // A batch the filter emptied is not handed over: the engine waits for frames.
            if !more || !batch.is_empty() {
                return more;
            }
        }
    }

    fn summary(&self) -> SourceSummary {
        self.inner.summary()
    }

    fn is_stream(&self) -> bool {
        self.inner.is_stream()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// An Ethernet/IPv6/UDP frame to port 53 and an Ethernet/IPv4/TCP frame to port 80.
    fn frames() -> (Vec<u8>, Vec<u8>) {
        let mut v6 = vec![0u8; 12];
        v6.extend([0x86, 0xdd, 0x60, 0, 0, 0, 0, 8, 17, 64]);
        v6.extend([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v6.extend([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        v6.extend([0x30, 0x39, 0, 53, 0, 8, 0, 0]);
        let mut v4 = vec![0u8; 12];
        v4.extend([0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 198, 51, 100, 1]);
        v4.extend([0x30, 0x39, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 2, 0xff, 0xff, 0, 0, 0, 0]);
        (v6, v4)
    }

    #[test]
    fn keeps_what_tcpdump_would() {
        let (v6, v4) = frames();
        let mut f = Filter::new("ip6 and udp port 53").unwrap();
        assert!(f.keep(ETHERNET, &v6));
        assert!(!f.keep(ETHERNET, &v4));
        let mut f = Filter::new("tcp port 80").unwrap();
        assert!(!f.keep(ETHERNET, &v6) && f.keep(ETHERNET, &v4));
        // Raw IP frames (LINKTYPE_RAW, 101): compiled for that link type.
        let mut f = Filter::new("ip6").unwrap();
        assert!(f.keep(101, &v6[14..]) && !f.keep(101, &v4[14..]));
        assert!(Filter::new("port eighty").is_err());
    }
}

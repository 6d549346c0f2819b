//! The real-traffic benchmark capture: the frames of real captures (the corpus) replayed round
//! after round until the capture has the size asked for. Each round is the same traffic at a
//! later time with every address moved (so each round's flows are new flows, not one long
//! flow), and the move leaves every checksum valid: a value is added to one 16-bit word of an
//! address and subtracted from the next, which leaves the ones'-complement sum unchanged (the
//! IPv4 header's, and the TCP/UDP/ICMPv6 pseudo-header's; RFC 6296 moves prefixes the same way).
//! Inner packets of tunnels and the packets quoted by ICMP errors keep their addresses.

use super::bench::Written;
use anyhow::{Context, Result};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use synth::PcapWriter;
use wire::link::linktype as lt;

/// Longest gap kept between two frames of one file: captures spanning hours (or years) are
/// replayed densely.
const MAX_GAP_NS: i64 = 1_000_000_000;

/// First round's start: 2011-06-08T00:00:00Z.
const T0: i64 = 1_307_491_200_000_000_000;

/// Writes about `size` bytes of rounds of the frames of `inputs` (capture files, or folders
/// searched for them) to `out` as Ethernet pcap. Frames of other link types than Ethernet,
/// raw IP, BSD loopback and Linux cooked capture are left out. Returns what was written and
/// how many files gave frames.
pub fn write(out: &Path, inputs: &[PathBuf], size: u64) -> Result<(Written, usize)> {
    let mut files = Vec::new();
    for p in inputs {
        collect(p, &mut files)?;
    }
    files.sort();
    // (time from the round's start, Ethernet frame), every file starting at the round's start.
    let mut frames: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut used = 0;
    for f in &files {
        let Ok(mut r) = engine::capture::Reader::open(f, false) else { continue };
        let (mut first, mut rel, mut prev) = (true, 0i64, 0i64);
        let before = frames.len();
        // What was read before any damage is kept.
        while let Ok(true) = r.advance() {
            let fr = r.current();
            let Some(eth) = ethernet(fr.linktype, fr.data) else { continue };
            if !first {
                rel += (fr.ts - prev).clamp(0, MAX_GAP_NS);
            }
            (first, prev) = (false, fr.ts);
            frames.push((rel, eth));
        }
        used += usize::from(frames.len() > before);
    }
    anyhow::ensure!(!frames.is_empty(), "no Ethernet, raw IP, loopback or Linux cooked frames in the inputs");
    frames.sort_by_key(|(t, _)| *t);
    let round_ns = frames.last().map_or(0, |(t, _)| *t) + MAX_GAP_NS;
    let f = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = PcapWriter::new(BufWriter::with_capacity(1 << 20, f))?;
    let mut buf = Vec::with_capacity(65_536);
    let mut round: u32 = 0;
    while w.bytes < size {
        let start = T0 + i64::from(round) * round_ns;
        // Round 0 is the traffic as captured; every later one moves each address by its number.
        let k = (round % 0xffff) as u16;
        for (t, frame) in &frames {
            buf.clear();
            buf.extend_from_slice(frame);
            if k != 0 {
                shift_addresses(&mut buf, k);
            }
            w.write(start + t, &buf).with_context(|| format!("writing {}", out.display()))?;
            if w.bytes >= size {
                break;
            }
        }
        round += 1;
    }
    let (packets, bytes) = (w.packets, w.bytes);
    w.finish().with_context(|| format!("writing {}", out.display()))?;
    Ok((Written { packets, bytes }, used))
}

/// Capture files under `p` (itself when it is a file); folders named `reference` (the
/// corpus's tshark outputs) are skipped.
fn collect(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if p.is_dir() {
        if p.file_name().is_some_and(|n| n == "reference") {
            return Ok(());
        }
        for e in std::fs::read_dir(p).with_context(|| format!("{}", p.display()))? {
            collect(&e?.path(), out)?;
        }
    } else if p.extension().is_some_and(|e| ["pcap", "pcapng", "cap", "gz", "zst"].iter().any(|x| e == *x)) {
        out.push(p.to_path_buf());
    }
    Ok(())
}

/// The frame as Ethernet: Ethernet as it is; raw IP and Linux cooked captures get an Ethernet
/// header carrying their protocol.
fn ethernet(linktype: u32, data: &[u8]) -> Option<Vec<u8>> {
    let (ethertype, payload) = match linktype {
        lt::ETHERNET => return Some(data.to_vec()),
        lt::RAW | lt::RAW_12 | lt::RAW_14 | lt::IPV4 | lt::IPV6 => match data.first()? >> 4 {
            4 => (0x0800u16, data),
            6 => (0x86dd, data),
            _ => return None,
        },
        // BSD loopback: a 4-byte address family (in either byte order): the version says.
        lt::NULL | lt::LOOP => match data.get(4)? >> 4 {
            4 => (0x0800, &data[4..]),
            6 => (0x86dd, &data[4..]),
            _ => return None,
        },
        // SLL: 16 bytes, protocol last; SLL2: 20 bytes, protocol first.
        lt::LINUX_SLL => (u16::from_be_bytes([*data.get(14)?, *data.get(15)?]), data.get(16..)?),
        lt::LINUX_SLL2 => (u16::from_be_bytes([*data.first()?, *data.get(1)?]), data.get(20..)?),
        _ => return None,
    };
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&[0x02, 0, 0x5e, 0, 0, 1, 0x02, 0, 0x5e, 0, 0, 2]);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    Some(f)
}

/// Moves the source and destination addresses of the frame's (outer) IP header by `k`,
/// checksum-neutrally (see the module docs). Multicast, broadcast and unspecified addresses
/// are left alone, so they stay what they were.
fn shift_addresses(f: &mut [u8], k: u16) {
    let mut at = 12;
    let mut ethertype = match f.get(at..at + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => return,
    };
    // VLAN tags.
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        at += 4;
        ethertype = match f.get(at..at + 2) {
            Some(b) => u16::from_be_bytes([b[0], b[1]]),
            None => return,
        };
    }
    let ip = at + 2;
    match ethertype {
        0x0800 if f.len() >= ip + 20 => {
            for a in [ip + 12, ip + 16] {
                if !matches!(f[a], 0 | 127 | 224..=255) {
                    move_pair(f, a, k);
                }
            }
        }
        // The address's last 32 bits (the interface identifier's end): prefixes stay.
        0x86dd if f.len() >= ip + 40 => {
            for a in [ip + 8, ip + 24] {
                if f[a] != 0xff && f[a..a + 16].iter().any(|b| *b != 0) {
                    move_pair(f, a + 12, k);
                }
            }
        }
        _ => {}
    }
}

/// Adds `k` to the 16-bit word at `at` and subtracts it from the next, in ones'-complement
/// arithmetic: their sum, and so every checksum over them, is unchanged.
fn move_pair(f: &mut [u8], at: usize, k: u16) {
    let add = |a: u16, b: u16| {
        let s = u32::from(a) + u32::from(b);
        ((s & 0xffff) + (s >> 16)) as u16
    };
    let w0 = u16::from_be_bytes([f[at], f[at + 1]]);
    let w1 = u16::from_be_bytes([f[at + 2], f[at + 3]]);
    f[at..at + 2].copy_from_slice(&add(w0, k).to_be_bytes());
    f[at + 2..at + 4].copy_from_slice(&add(w1, !k).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ones'-complement sum of 16-bit words.
    fn sum(b: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in b.chunks(2) {
            s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    #[test]
    fn moving_addresses_keeps_every_checksum() {
        let mut b = synth::Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        for (src, dst) in [("2001:db8::10", "2001:db8:1::80"), ("192.0.2.10", "198.51.100.7")] {
            let (s, d): (std::net::IpAddr, std::net::IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
            let l4 = synth::L4::tcp(40000, 80, 1, 0, synth::flags::SYN, 1440, b"payload");
            let orig = b.frame(s, d, &l4, synth::Encap::None, 1).to_vec();
            for k in [1u16, 2, 0x7fff, 0xfffe] {
                let mut f = orig.clone();
                shift_addresses(&mut f, k);
                assert_ne!(f, orig, "addresses moved");
                let (hdr, addrs) = if s.is_ipv4() { (14..34, 26..34) } else { (14..54, 22..54) };
                assert_eq!(sum(&f[addrs.clone()]), sum(&orig[addrs]), "pseudo-header sum, k={k}");
                assert_eq!(sum(&f[hdr.clone()]), sum(&orig[hdr]), "IP header sum, k={k}");
            }
        }
    }

    #[test]
    fn multicast_stays_multicast() {
        let mut b = synth::Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let (s, d): (std::net::IpAddr, std::net::IpAddr) = ("fe80::1".parse().unwrap(), "ff02::fb".parse().unwrap());
        let l4 = synth::L4::Udp { sport: 5353, dport: 5353, payload: b"x" };
        let orig = b.frame(s, d, &l4, synth::Encap::None, 1).to_vec();
        let mut f = orig.clone();
        shift_addresses(&mut f, 3);
        assert_eq!(f[38..54], orig[38..54], "ff02::fb unchanged");
        assert_ne!(f[22..38], orig[22..38], "fe80::1 moved");
    }
}

//! Every TCP extractor must give the same events however a stream is cut into segments: each
//! corpus capture is rewritten with its TCP payloads re-segmented (1- to 5-byte pieces at the
//! start of every stream, random cuts later), with the pieces of a segment delivered out of
//! order, and with overlapping retransmissions, and the DNS, HTTP and TLS events must equal
//! those of the original capture (pieces keep their segment's capture time, so even event
//! times are equal).

mod common;

use common::Events;
use engine::capture::Reader;
use engine::pipeline::{run_sensor, Options, SensorInput};
use std::collections::{HashMap, HashSet};
use std::path::Path;

fn events(path: &Path) -> Vec<String> {
    let input = SensorInput { name: "t".into(), paths: vec![path.to_path_buf()], addrs: vec![] };
    let mut sink = Events::default();
    let opts = Options { keep_going: true, ..Options::default() };
    let _ = run_sensor(&input, &opts, &mut sink, &mut |_| {});
    let mut v: Vec<String> = sink.0.iter().map(|e| format!("{e:?}")).collect();
    v.sort();
    v
}

/// How a payload is delivered.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Cut into pieces, in order.
    Cut,
    /// Cut, each segment's pieces delivered in pairs swapped (the later one first).
    Reorder,
    /// Cut, each piece followed by a retransmission overlapping the previous piece's tail.
    Overlap,
}

/// Small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Where the IP header starts for a link type, or `None` for link types not rewritten.
fn ip_offset(linktype: u32, f: &[u8]) -> Option<usize> {
    match linktype {
        1 => {
            let mut off = 12;
            while matches!(f.get(off..off + 2)?, [0x81, 0x00] | [0x88, 0xa8]) {
                off += 4;
            }
            matches!(f.get(off..off + 2)?, [0x08, 0x00] | [0x86, 0xdd]).then_some(off + 2)
        }
        101 | 228 | 229 | 12 | 14 => Some(0),
        113 => Some(16),
        276 => Some(20),
        0 | 108 => Some(4),
        _ => None,
    }
}

/// A TCP segment inside a frame: (IP offset, IPv4?, TCP offset, payload range, seq, flags).
struct Seg {
    ip: usize,
    v4: bool,
    tcp: usize,
    payload: std::ops::Range<usize>,
    seq: u32,
    flags: u8,
}

fn tcp_segment(linktype: u32, f: &[u8]) -> Option<Seg> {
    let ip = ip_offset(linktype, f)?;
    let (v4, tcp, end) = match f.get(ip)? >> 4 {
        4 => {
            let ihl = usize::from(f[ip] & 15) * 4;
            let total = usize::from(u16::from_be_bytes([*f.get(ip + 2)?, *f.get(ip + 3)?]));
            let frag = u16::from_be_bytes([*f.get(ip + 6)?, *f.get(ip + 7)?]);
            if *f.get(ip + 9)? != 6 || frag & 0x3fff != 0 || ihl < 20 {
                return None;
            }
            (true, ip + ihl, ip + total)
        }
        6 => {
            let plen = usize::from(u16::from_be_bytes([*f.get(ip + 4)?, *f.get(ip + 5)?]));
            if *f.get(ip + 6)? != 6 {
                return None;
            }
            (false, ip + 40, ip + 40 + plen)
        }
        _ => return None,
    };
    if end > f.len() {
        return None; // cut short by the snaplen: left alone
    }
    let doff = usize::from(f.get(tcp + 12)? >> 4) * 4;
    let seq = u32::from_be_bytes(f.get(tcp + 4..tcp + 8)?.try_into().ok()?);
    let flags = *f.get(tcp + 13)?;
    (doff >= 20 && tcp + doff <= end).then(|| Seg { ip, v4, tcp, payload: tcp + doff..end, seq, flags })
}

/// A direction's key: its addresses and ports.
fn direction(f: &[u8], s: &Seg) -> Vec<u8> {
    let addrs = if s.v4 { &f[s.ip + 12..s.ip + 20] } else { &f[s.ip + 8..s.ip + 40] };
    [addrs, &f[s.tcp..s.tcp + 4]].concat()
}

/// The frame of `s` carrying `payload[from..to]` instead of its whole payload.
fn piece(f: &[u8], s: &Seg, from: usize, to: usize, last: bool) -> Vec<u8> {
    let mut out = f[..s.payload.start].to_vec();
    out.extend_from_slice(&f[s.payload.start + from..s.payload.start + to]);
    let seq = s.seq.wrapping_add(from as u32);
    out[s.tcp + 4..s.tcp + 8].copy_from_slice(&seq.to_be_bytes());
    if !last {
        out[s.tcp + 13] &= !0x09; // FIN and PSH belong to the last piece
    }
    if s.v4 {
        let total = (out.len() - s.ip) as u16;
        out[s.ip + 2..s.ip + 4].copy_from_slice(&total.to_be_bytes());
        let ihl = usize::from(out[s.ip] & 15) * 4;
        out[s.ip + 10..s.ip + 12].fill(0);
        let mut sum = 0u32;
        for w in out[s.ip..s.ip + ihl].chunks(2) {
            sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        out[s.ip + 10..s.ip + 12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    } else {
        let plen = (out.len() - s.ip - 40) as u16;
        out[s.ip + 4..s.ip + 6].copy_from_slice(&plen.to_be_bytes());
    }
    out
}

/// Rewrites the frames of one capture; `None` when it has several link types.
fn rewrite(frames: &[(i64, u32, Vec<u8>)], mode: Mode, seed: u64) -> Vec<(i64, Vec<u8>)> {
    let mut rng = Rng(seed);
    // Payload segments seen per direction (addresses and ports as bytes).
    let mut seen: HashMap<Vec<u8>, u32> = HashMap::new();
    // Directions whose SYN was seen: only their first segment may come out of order (without
    // the SYN nothing tells where a stream starts).
    let mut syn: HashSet<Vec<u8>> = HashSet::new();
    let mut out = Vec::new();
    for (ts, lt, f) in frames {
        let Some(s) = tcp_segment(*lt, f) else {
            out.push((*ts, f.clone()));
            continue;
        };
        let len = s.payload.len();
        if s.flags & 0x02 != 0 {
            syn.insert(direction(f, &s));
        }
        if len < 2 || s.flags & 0x06 != 0 {
            out.push((*ts, f.clone())); // nothing to cut, or a SYN/RST carrying data
            continue;
        }
        let key = direction(f, &s);
        let synced = syn.contains(&key);
        let n = seen.entry(key).or_default();
        *n += 1;
        // The first segments of a direction in 1- to 5-byte pieces, later ones cut in two.
        let mut cuts = vec![0];
        if *n <= 3 {
            let mut at = 0;
            while at < len {
                at = (at + 1 + rng.below(5)).min(len);
                cuts.push(at);
            }
        } else {
            cuts.push(1 + rng.below(len - 1));
            cuts.push(len);
        }
        let pieces: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
        let last = pieces.len() - 1;
        let mut order: Vec<usize> = (0..pieces.len()).collect();
        if let (Mode::Reorder, true) = (mode, synced || *n > 1) {
            for pair in order.chunks_mut(2) {
                pair.reverse();
            }
        }
        for &i in &order {
            let (a, b) = pieces[i];
            out.push((*ts, piece(f, &s, a, b, i == last)));
            if let (Mode::Overlap, true) = (mode, i > 0) {
                // A retransmission from the middle of the previous piece to this one's end.
                let from = pieces[i - 1].0 + (pieces[i - 1].1 - pieces[i - 1].0) / 2;
                out.push((*ts, piece(f, &s, from, b, i == last)));
            }
        }
    }
    out
}

/// Nanosecond pcap with one link type.
fn write_pcap(path: &Path, linktype: u32, frames: &[(i64, Vec<u8>)]) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b23c4du32.to_le_bytes());
    b.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&262_144u32.to_le_bytes());
    b.extend_from_slice(&linktype.to_le_bytes());
    for (ts, f) in frames {
        b.extend_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&((ts % 1_000_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(f);
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn events_do_not_depend_on_segmentation() {
    let Some(dir) = common::corpus() else { return };
    let tmp = common::tmpdir("resegment");
    let (mut files, mut compared, mut with_events) = (0, 0, 0);
    let mut failures = Vec::new();
    for (rel, _) in common::inventory(&dir) {
        let path = dir.join(&rel);
        let Ok(mut r) = Reader::open(&path, true) else { continue };
        let mut frames = Vec::new();
        while let Ok(Some(f)) = r.next_frame() {
            frames.push((f.ts, f.linktype, f.data.to_vec()));
        }
        let lt = frames.first().map_or(1, |f| f.1);
        // One link type per rewritten file, time-ordered (pcap keeps file order).
        if frames.iter().any(|f| f.1 != lt) || frames.windows(2).any(|w| w[1].0 < w[0].0) {
            continue;
        }
        files += 1;
        let orig_path = tmp.join("orig.pcap");
        write_pcap(&orig_path, lt, &frames.iter().map(|(t, _, f)| (*t, f.clone())).collect::<Vec<_>>());
        let want = events(&orig_path);
        if want.iter().any(|e| e.contains("transport: \"tcp\"") || !e.starts_with("Dns")) {
            with_events += 1;
        }
        for (k, mode) in [Mode::Cut, Mode::Reorder, Mode::Overlap].into_iter().enumerate() {
            let p = tmp.join(format!("{k}.pcap"));
            write_pcap(&p, lt, &rewrite(&frames, mode, 0x9e37_79b9_7f4a_7c15 ^ k as u64));
            let got = events(&p);
            compared += 1;
            if got != want {
                let n = if std::env::var_os("RESEG_FULL").is_some() { usize::MAX } else { 300 };
                let short = |e: &&String| e.chars().take(n).collect::<String>();
                let missing: Vec<_> = want.iter().filter(|e| !got.contains(e)).take(2).map(|e| short(&e)).collect();
                let extra: Vec<_> = got.iter().filter(|e| !want.contains(e)).take(2).map(|e| short(&e)).collect();
                failures.push(format!(
                    "{rel} {mode:?}: {} vs {} events; missing {missing:?}; extra {extra:?}",
                    got.len(),
                    want.len()
                ));
            }
        }
    }
    eprintln!("{files} captures rewritten ({with_events} with TCP or non-DNS events), {compared} variants compared");
    assert!(files >= 60 && with_events >= 15, "too few captures exercised: {files} / {with_events}");
    assert!(failures.is_empty(), "{} variants differ:\n{}", failures.len(), failures.join("\n"));
}

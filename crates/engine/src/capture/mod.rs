//! Capture input: pcap and pcapng files (plain, gzip or zstd; files or stdin) behind one
//! [`Reader`] that yields [`Frame`]s borrowed from its buffer, with timestamps normalised to
//! nanoseconds and each frame's link type resolved per interface.
//!
//! The reader owns a growable buffer and refills it with large reads, so framing costs no
//! allocation per packet and no `unsafe` (no mmap: a file truncated under a mapping would
//! SIGBUS, and reads from the page cache are fast enough for the throughput goal). In batch
//! mode a full buffer is handed over whole instead of compacted, so the pipeline's workers read
//! frames where the kernel put them (no copy per frame).
//!
//! Damage is reported as a [`CaptureError`] naming the file, the byte offset (in the
//! decompressed stream for compressed input) and what was wrong. Frames before it were already
//! delivered; with `keep_going` the reader tries to resynchronise on the next plausible record.

mod merge;
mod pcap;
mod pcapng;

pub use merge::Merger;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// One captured frame, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture timestamp, nanoseconds since the Unix epoch (UTC).
    pub ts: i64,
    /// LINKTYPE_* of the interface it was captured on.
    pub linktype: u32,
    /// Interface index within the file (0 for pcap).
    pub interface: u32,
    /// Length on the wire.
    pub orig_len: u32,
    /// The captured bytes (possibly fewer than `orig_len`).
    pub data: &'a [u8],
}

impl Frame<'_> {
    /// Whether the capture kept fewer bytes than were on the wire.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.orig_len)
    }
}

/// What kind of container a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Classic libpcap format.
    Pcap,
    /// pcapng.
    Pcapng,
}

/// Compression wrapped around the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain.
    None,
    /// gzip (possibly multi-member).
    Gzip,
    /// Zstandard.
    Zstd,
}

/// A damaged or unreadable capture.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: at byte {offset}: {what}")]
pub struct CaptureError {
    /// The file as the user named it.
    pub file: String,
    /// Byte offset of the damage (decompressed stream for compressed input).
    pub offset: u64,
    /// What was wrong.
    pub what: String,
}

/// Reads integers in a file's byte order (pcap and pcapng both declare theirs).
pub(crate) fn read_u32(big_endian: bool, b: &[u8], at: usize) -> u32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

/// 16-bit form of [`read_u32`].
pub(crate) fn read_u16(big_endian: bool, b: &[u8], at: usize) -> u16 {
    let a = [b[at], b[at + 1]];
    if big_endian {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

/// Upper bound on a single record or block. Real snaplens top out at 256 KiB; pcapng blocks
/// with large options rarely exceed a few MiB. Anything larger is damage, and refusing it keeps
/// memory bounded on hostile files.
pub const MAX_RECORD: usize = 16 << 20;

/// Read size. With batching, one buffer is one batch: its frames are parsed here, then decoded
/// and tracked by the workers, so it should still be in the L2 cache by then (512 KiB: 1.16 s
/// → 0.92 s one thread on the 1 GB benchmark, against 4 MiB; 256 and 128 KiB no better).
const READ_CHUNK: usize = 512 << 10;

/// Byte source with an owned buffer: the window `buf[start..end]` is unread data, and
/// `base` is the stream offset of `buf[0]`.
struct Input {
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    base: u64,
    eof: bool,
    /// Batch mode (see [`Reader::set_batching`]): a full buffer is retired whole instead of
    /// compacted, so frames already handed out keep their place in it.
    retiring: bool,
    /// The buffer retired by the last refill, until [`Reader::take_retired`] collects it.
    retired: Option<Vec<u8>>,
    /// Buffers handed back for reuse ([`Reader::give_spare`]).
    spare: Vec<Vec<u8>>,
    /// The source said it has nothing yet (`WouldBlock`): see [`Reader::stalled`].
    stalled: bool,
}

impl Input {
    fn new(src: Box<dyn Read + Send>) -> Self {
        Input {
            src,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            retiring: false,
            retired: None,
            spare: Vec::new(),
            stalled: false,
        }
    }

    /// Stream offset of the next unread byte.
    fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Makes at least `n` unread bytes available unless the stream ends first.
    /// Returns whether they are available.
    fn fill(&mut self, n: usize) -> io::Result<bool> {
        while self.end - self.start < n {
            if self.eof {
                return Ok(false);
            }
            if self.start + n > self.buf.len() {
                let size = if n > READ_CHUNK { n.next_power_of_two() } else { READ_CHUNK };
                if self.retiring && self.retired.is_none() {
                    // Move the unread tail to a fresh buffer and keep the old one whole: the
                    // frames delivered from it are still being referred to by offset. (With a
                    // retired buffer already waiting, this buffer holds no delivered frame yet,
                    // so it may be compacted like any other.)
                    let mut fresh = match self.spare.pop() {
                        Some(b) if b.len() >= size => b,
                        _ => vec![0; size],
                    };
                    fresh[..self.end - self.start].copy_from_slice(&self.buf[self.start..self.end]);
                    self.retired = Some(std::mem::replace(&mut self.buf, fresh));
                } else {
                    // Compact, and grow when one record needs more than the buffer holds.
                    self.buf.copy_within(self.start..self.end, 0);
                    if n > self.buf.len() {
                        self.buf.resize(size, 0);
                    }
                }
                self.base += self.start as u64;
                self.end -= self.start;
                self.start = 0;
            }
            let got = loop {
                match self.src.read(&mut self.buf[self.end..]) {
                    Ok(g) => break g,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.stalled = e.kind() == io::ErrorKind::WouldBlock;
                        return Err(e);
                    }
                }
            };
            if got == 0 {
                self.eof = true;
            }
            self.end += got;
        }
        Ok(true)
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
    }
}

enum Container {
    Pcap(pcap::State),
    Pcapng(pcapng::State),
}

/// Reads one capture file (or stdin) frame by frame.
pub struct Reader {
    name: String,
    input: Input,
    container: Container,
    format: Format,
    compression: Compression,
    keep_going: bool,
    failed: bool,
    /// Position and metadata of the current frame, valid after `advance` returned true.
    cur: Current,
    stats: ReaderStats,
}

#[derive(Debug, Clone, Copy, Default)]
struct Current {
    data_start: usize,
    data_len: usize,
    ts: i64,
    linktype: u32,
    interface: u32,
    orig_len: u32,
}

/// Counters a reader keeps about its container.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReaderStats {
    /// Frames delivered.
    pub frames: u64,
    /// Bytes of container consumed.
    pub bytes: u64,
    /// pcapng blocks skipped because v6watch does not use them (name resolution, statistics...).
    pub blocks_skipped: u64,
    /// Damaged regions skipped with `keep_going`.
    pub resyncs: u64,
    /// Bytes skipped while resynchronising.
    pub bytes_skipped: u64,
    /// Frames whose timestamp went backwards within this file.
    pub out_of_order: u64,
    /// Link types seen, as (linktype, frames).
    pub linktypes: Vec<(u32, u64)>,
    /// Interfaces declared (pcapng IDBs, 1 for pcap).
    pub interfaces: u32,
    /// pcapng sections.
    pub sections: u32,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("name", &self.name).field("format", &self.format).finish()
    }
}

impl Reader {
    /// Opens a path; `-` is standard input. gzip and zstd are detected by magic number.
    pub fn open(path: &Path, keep_going: bool) -> Result<Reader, CaptureError> {
        let name = path.display().to_string();
        let src: Box<dyn Read + Send> = if name == "-" {
            Box::new(io::stdin())
        } else {
            let f =
                File::open(path).map_err(|e| CaptureError { file: name.clone(), offset: 0, what: e.to_string() })?;
            Box::new(f)
        };
        Reader::from_read(name, src, keep_going)
    }

    /// Wraps any byte source; `name` is used in errors.
    pub fn from_read(name: String, src: Box<dyn Read + Send>, keep_going: bool) -> Result<Reader, CaptureError> {
        let err = |offset, what: String| CaptureError { file: name.clone(), offset, what };
        let mut input = Input::new(src);
        input.fill(4).map_err(|e| err(0, e.to_string()))?;
        let magic = input.available();
        let compression = if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        };
        if compression != Compression::None {
            // Re-wrap: the bytes already buffered go first, then the rest of the source.
            let head = input.available().to_vec();
            let rest = std::mem::replace(&mut input.src, Box::new(io::empty()));
            let chained: Box<dyn Read + Send> = Box::new(io::Cursor::new(head).chain(rest));
            let dec: Box<dyn Read + Send> = match compression {
                Compression::Gzip => {
                    Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(1 << 20, chained)))
                }
                _ => Box::new(
                    ruzstd::decoding::StreamingDecoder::new(io::BufReader::with_capacity(1 << 20, chained))
                        .map_err(|e| err(0, format!("bad zstd stream: {e}")))?,
                ),
            };
            input = Input::new(dec);
        }
        let ok = input.fill(4).map_err(|e| err(0, format!("reading: {e}")))?;
        let magic = input.available();
        if !ok {
            return Err(err(0, format!("not a capture file: only {} bytes", magic.len())));
        }
        let m = [magic[0], magic[1], magic[2], magic[3]];
        let (container, format) = if pcapng::is_magic(m) {
            (Container::Pcapng(pcapng::State::default()), Format::Pcapng)
        } else if let Some(st) = pcap::State::from_magic(m) {
            (Container::Pcap(st), Format::Pcap)
        } else {
            return Err(err(
                0,
                format!("not a pcap or pcapng file (starts with {:02x} {:02x} {:02x} {:02x})", m[0], m[1], m[2], m[3]),
            ));
        };
        let mut r = Reader {
            name,
            input,
            container,
            format,
            compression,
            keep_going,
            failed: false,
            cur: Current::default(),
            stats: ReaderStats::default(),
        };
        if let Container::Pcap(_) = r.container {
            r.read_pcap_header()?;
        }
        Ok(r)
    }

    /// The file name as given.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Container format.
    pub fn format(&self) -> Format {
        self.format
    }
    /// Compression detected.
    pub fn compression(&self) -> Compression {
        self.compression
    }
    /// Container statistics so far.
    pub fn stats(&self) -> &ReaderStats {
        &self.stats
    }

    fn error(&self, offset: u64, what: impl Into<String>) -> CaptureError {
        CaptureError { file: self.name.clone(), offset, what: what.into() }
    }

    fn io_error(&self, e: io::Error) -> CaptureError {
        self.error(self.input.offset(), format!("read error: {e}"))
    }

    /// Whether the last [`Reader::advance`] returned `Ok(false)` because the byte source had
    /// nothing yet (its `read` said `WouldBlock`) rather than because the input ended: call it
    /// again later.
    pub fn stalled(&self) -> bool {
        self.input.stalled
    }

    /// Moves to the next frame. `Ok(false)` at the end of input (or after an error without
    /// `keep_going`, or when [`Reader::stalled`]). After `Err`, calling again resynchronises when `keep_going` is set.
    pub fn advance(&mut self) -> Result<bool, CaptureError> {
        if self.failed && !self.keep_going {
            return Ok(false);
        }
        self.input.stalled = false;
        let r = match self.container {
            Container::Pcap(_) => self.next_pcap(),
            Container::Pcapng(_) => self.next_pcapng(),
        };
        match r {
            Ok(true) => {
                self.stats.frames += 1;
                let lt = self.cur.linktype;
                match self.stats.linktypes.iter_mut().find(|(l, _)| *l == lt) {
                    Some((_, n)) => *n += 1,
                    None => self.stats.linktypes.push((lt, 1)),
                }
                Ok(true)
            }
            Ok(false) => Ok(false),
            // Nothing was consumed: the record is read whole when its bytes have come.
            Err(_) if self.input.stalled => Ok(false),
            Err(e) => {
                if self.keep_going && !self.failed_fatally(&e) {
                    self.resync(e.offset);
                } else {
                    self.failed = true;
                    self.keep_going = false;
                }
                Err(e)
            }
        }
    }

    fn failed_fatally(&self, e: &CaptureError) -> bool {
        // Read errors and a stream ending mid-record leave nothing to resynchronise on.
        self.input.eof && self.input.available().len() < 16 || e.what.starts_with("read error")
    }

    /// The current frame (after `advance` returned true).
    pub fn current(&self) -> Frame<'_> {
        let c = &self.cur;
        Frame {
            ts: c.ts,
            linktype: c.linktype,
            interface: c.interface,
            orig_len: c.orig_len,
            data: &self.input.buf[c.data_start..c.data_start + c.data_len],
        }
    }

    /// Batch mode: the buffer is never compacted under frames already delivered. When it is
    /// full it is retired whole ([`Reader::take_retired`]) and reading goes on in a fresh one,
    /// so a consumer can keep [`Reader::current_offset`]s of many frames and then take the
    /// buffer they live in, with no copy of the frames.
    pub fn set_batching(&mut self, on: bool) {
        self.input.retiring = on;
    }

    /// In batch mode: the buffer that every frame delivered before the current one lives in,
    /// if a refill retired it since the last call. The current frame is in the new buffer.
    pub fn take_retired(&mut self) -> Option<Vec<u8>> {
        self.input.retired.take()
    }

    /// In batch mode, at the end of input: the live buffer (holding the frames delivered since
    /// the last retirement). The reader stays usable and reads into a new buffer if called again.
    pub fn take_buffer(&mut self) -> Vec<u8> {
        let input = &mut self.input;
        input.base += input.end as u64;
        input.start = 0;
        input.end = 0;
        std::mem::take(&mut input.buf)
    }

    /// Hands back a buffer from [`Reader::take_retired`] for reuse (its contents are dropped).
    pub fn give_spare(&mut self, buf: Vec<u8>) {
        // Only full-size buffers: a new batch hands back an empty one, which would take a slot
        // and then be dropped by the refill anyway.
        if buf.len() >= READ_CHUNK && self.input.spare.len() < 4 {
            self.input.spare.push(buf);
        }
    }

    /// Where the current frame's bytes start in the reader's buffer.
    pub fn current_offset(&self) -> usize {
        self.cur.data_start
    }

    /// Timestamp of the current frame.
    pub fn current_ts(&self) -> i64 {
        self.cur.ts
    }

    /// Advances and returns the next frame.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.advance()? {
            Ok(Some(self.current()))
        } else {
            Ok(None)
        }
    }

    /// Skips forward from a damaged record to the next offset where a plausible record starts.
    fn resync(&mut self, _at: u64) {
        self.stats.resyncs += 1;
        // Step one byte past the bad record start, then scan.
        let mut skipped = 0u64;
        loop {
            // Enough for a whole record and the next header, so plausibility can look ahead.
            let want = MAX_RECORD.min(1 << 20);
            if !self.input.fill(want).unwrap_or(false) && self.input.available().len() < 16 {
                // Nothing left worth scanning.
                let n = self.input.available().len();
                self.input.consume(n);
                skipped += n as u64;
                break;
            }
            self.input.consume(1);
            skipped += 1;
            let ok = match &self.container {
                Container::Pcap(st) => st.plausible_record(self.input.available(), self.input.eof),
                Container::Pcapng(st) => st.plausible_block(self.input.available()),
            };
            if ok || skipped > (64 << 20) {
                break;
            }
        }
        self.stats.bytes_skipped += skipped;
    }

    fn set_current(&mut self, cur: Current) {
        if cur.ts < self.cur.ts && self.stats.frames > 0 {
            self.stats.out_of_order += 1;
        }
        self.cur = cur;
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Builders for capture files in tests.

    /// A little-endian microsecond pcap with the given linktype and (ts_us, bytes) records.
    pub fn pcap(linktype: u32, records: &[(u64, &[u8])]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        f.extend_from_slice(&2u16.to_le_bytes());
        f.extend_from_slice(&4u16.to_le_bytes());
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&linktype.to_le_bytes());
        for (ts, data) in records {
            f.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
            f.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
            f.extend_from_slice(&(data.len() as u32).to_le_bytes());
            f.extend_from_slice(&(data.len() as u32).to_le_bytes());
            f.extend_from_slice(data);
        }
        f
    }
}

#[cfg(test)]
mod batching {
    use super::{testutil, Reader};

    /// In batch mode every frame stays readable, at its offset, in the buffer that is retired
    /// after it (or the last one), across many refills and records of very different sizes.
    #[test]
    fn retired_buffers_keep_delivered_frames_in_place() {
        let records: Vec<(u64, Vec<u8>)> = (0..3000u64)
            .map(|i| {
                let len = match i % 7 {
                    0 => 200_000,
                    1 => 1,
                    _ => (i as usize * 37) % 1500 + 1,
                };
                (i, (0..len).map(|k| (k as u64 * 31 + i) as u8).collect())
            })
            .collect();
        let refs: Vec<(u64, &[u8])> = records.iter().map(|(t, d)| (*t, d.as_slice())).collect();
        let file = testutil::pcap(1, &refs);
        let mut r = Reader::from_read("t".into(), Box::new(std::io::Cursor::new(file)), false).unwrap();
        r.set_batching(true);
        let (mut pending, mut seen, mut batches) = (Vec::new(), 0usize, 0);
        let mut check = |buf: &[u8], pending: &mut Vec<(usize, usize, u64)>| {
            for (at, len, ts) in pending.drain(..) {
                assert_eq!(&buf[at..at + len], records[ts as usize].1.as_slice(), "frame {ts}");
                seen += 1;
            }
        };
        loop {
            let more = r.advance().unwrap();
            if let Some(buf) = r.take_retired() {
                batches += 1;
                check(&buf, &mut pending);
                r.give_spare(buf);
            }
            if !more {
                break;
            }
            let f = r.current();
            pending.push((r.current_offset(), f.data.len(), f.ts as u64 / 1000));
        }
        let last = r.take_buffer();
        check(&last, &mut pending);
        assert_eq!(seen, records.len());
        assert!(batches > 100, "{batches} buffers retired");
    }
}

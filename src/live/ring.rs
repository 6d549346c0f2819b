//! The capture files of `live -w DIR`: pcapng, rotated like dumpcap's ring buffer
//! (`-b duration:/filesize:/files:`). Every file starts with a Section Header and one Interface
//! Description per captured interface (name, link type, snaplen, nanosecond resolution, the
//! filter) and, unlike dumpcap in ring mode, every closed file ends with an Interface
//! Statistics Block per interface (received, dropped by the kernel, dropped by the interface,
//! delivered, since the capture started). A file is written as `NAME.pcapng.partial` and renamed
//! when closed, after its data is synced, so a reader of `*.pcapng` only ever sees whole files.
//!
//! Blocks are gathered in memory and written whole, so the file on disk always ends on a block
//! boundary: when a write fails (a full disk), the file is cut back to its last whole block,
//! closed and renamed, and the error names it — what was written stays readable.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes gathered before a write (each write ends on a block boundary).
const WRITE_AT: usize = 256 << 10;

/// When a file is closed and the next one opened (each limit is optional).
#[derive(Debug, Clone, Default)]
pub struct RingLimits {
    /// After this long (wall clock).
    pub duration: Option<Duration>,
    /// When the file reaches this many bytes.
    pub size: Option<u64>,
    /// Closed files kept at most; the oldest is deleted when a newer one closes.
    pub files: Option<usize>,
}

/// One captured interface as the files describe it.
#[derive(Debug, Clone)]
pub struct Interface {
    /// Its name (`eth0`).
    pub name: String,
    /// LINKTYPE_*.
    pub linktype: u32,
    /// Snapshot length.
    pub snaplen: u32,
    /// The capture filter, if any.
    pub filter: Option<String>,
}

/// An interface's counters since the capture started, as libpcap gives them (made 64-bit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets the kernel passed to the capture (libpcap's `ps_recv`: including those it dropped).
    pub received: u64,
    /// Dropped by the kernel: the capture buffer was full (`ps_drop`).
    pub kernel_dropped: u64,
    /// Dropped by the interface or its driver (`ps_ifdrop`).
    pub if_dropped: u64,
    /// Packets handed to v6watch (and written, with `-w`).
    pub captured: u64,
}

/// The ring: the open file and the closed ones.
pub struct Ring {
    dir: PathBuf,
    prefix: String,
    limits: RingLimits,
    ifaces: Vec<Interface>,
    /// Capture start (ns since the epoch), the statistics' start time.
    start_ns: i64,
    open: Option<Open>,
    /// Files opened so far (the next file's number is this plus one).
    opened: u32,
    /// Closed files, oldest first (those still on disk under the file limit).
    closed: std::collections::VecDeque<PathBuf>,
}

struct Open {
    file: File,
    partial: PathBuf,
    done: PathBuf,
    /// Blocks not yet written.
    buf: Vec<u8>,
    /// Bytes on disk (always a block boundary).
    on_disk: u64,
    /// Packets in the file.
    packets: u64,
    since: Instant,
}

impl Ring {
    /// A ring in `dir` (created if needed) named `PREFIX_NNNNN_YYYYmmddHHMMSS.pcapng`. Nothing is
    /// written until [`Ring::open_next`].
    pub fn new(
        dir: &Path,
        prefix: &str,
        limits: RingLimits,
        ifaces: Vec<Interface>,
        start_ns: i64,
    ) -> io::Result<Ring> {
        std::fs::create_dir_all(dir).map_err(|e| io::Error::new(e.kind(), format!("-w {}: {e}", dir.display())))?;
        Ok(Ring {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            limits,
            ifaces,
            start_ns,
            open: None,
            opened: 0,
            closed: Default::default(),
        })
    }

    /// Opens the next file, stamped with `now_ns` (the wall clock, as dumpcap names its files).
    pub fn open_next(&mut self, now_ns: i64) -> io::Result<()> {
        self.opened += 1;
        let name = format!("{}_{:05}_{}.pcapng", self.prefix, self.opened, stamp(now_ns));
        let done = self.dir.join(&name);
        let partial = self.dir.join(format!("{name}.partial"));
        let file = File::create(&partial).map_err(|e| named(&partial, e))?;
        let mut buf = Vec::with_capacity(WRITE_AT + (64 << 10));
        section_header(&mut buf);
        for i in &self.ifaces {
            interface_description(&mut buf, i);
        }
        self.open = Some(Open { file, partial, done, buf, on_disk: 0, packets: 0, since: Instant::now() });
        self.write_out(false)
    }

    /// Appends one packet of interface `iface` (its index in the list given to [`Ring::new`]).
    pub fn packet(&mut self, iface: usize, ts_ns: i64, orig_len: u32, data: &[u8]) -> io::Result<()> {
        let Some(o) = self.open.as_mut() else { return Ok(()) };
        enhanced_packet(&mut o.buf, iface as u32, ts_ns, orig_len, data);
        o.packets += 1;
        if o.buf.len() >= WRITE_AT {
            self.write_out(false)?;
        }
        Ok(())
    }

    /// Whether the open file has reached a limit (time or size) and should be rotated.
    pub fn due(&self) -> bool {
        let Some(o) = &self.open else { return false };
        let size = o.on_disk + o.buf.len() as u64;
        self.limits.duration.is_some_and(|d| o.since.elapsed() >= d) || self.limits.size.is_some_and(|s| size >= s)
    }

    /// Closes the open file: an Interface Statistics Block per interface (`counters` in the
    /// interfaces' order, at `now_ns`), written, synced, renamed from `.partial`; then the oldest
    /// closed files beyond the file limit are deleted. Returns the closed file's name.
    pub fn close(&mut self, counters: &[Counters], now_ns: i64) -> io::Result<Option<PathBuf>> {
        let Some(o) = self.open.as_mut() else { return Ok(None) };
        for (i, c) in counters.iter().enumerate() {
            statistics(&mut o.buf, i as u32, self.start_ns, now_ns, c);
        }
        self.write_out(true)?;
        let o = self.open.take().expect("open above");
        std::fs::rename(&o.partial, &o.done).map_err(|e| named(&o.done, e))?;
        self.closed.push_back(o.done.clone());
        if let Some(keep) = self.limits.files {
            while self.closed.len() > keep.max(1) {
                if let Some(old) = self.closed.pop_front() {
                    let _ = std::fs::remove_file(old);
                }
            }
        }
        Ok(Some(o.done))
    }

    /// Writes the gathered blocks (and with `sync`, syncs the file). On failure the file is cut
    /// back to its last whole block, closed and renamed, and the error names it.
    fn write_out(&mut self, sync: bool) -> io::Result<()> {
        let Some(o) = self.open.as_mut() else { return Ok(()) };
        let written = o.file.write_all(&o.buf).and_then(|_| if sync { o.file.sync_all() } else { Ok(()) });
        match written {
            Ok(()) => {
                o.on_disk += o.buf.len() as u64;
                o.buf.clear();
                Ok(())
            }
            Err(e) => {
                let o = self.open.take().expect("open above");
                let cut = o.file.set_len(o.on_disk).and_then(|_| o.file.sync_all());
                let kept = if o.on_disk > 0 && cut.is_ok() && std::fs::rename(&o.partial, &o.done).is_ok() {
                    format!("closed at its last whole block ({} bytes)", o.on_disk)
                } else {
                    let _ = std::fs::remove_file(&o.partial);
                    "removed (nothing whole was in it)".to_string()
                };
                Err(io::Error::new(e.kind(), format!("writing {}: {e}; the file was {kept}", o.done.display())))
            }
        }
    }
}

impl Drop for Ring {
    /// A ring dropped without [`Ring::close`] (an error elsewhere) still leaves its blocks on
    /// disk under the final name.
    fn drop(&mut self) {
        if self.open.is_some() && self.write_out(true).is_ok() {
            if let Some(o) = self.open.take() {
                let _ = std::fs::rename(&o.partial, &o.done);
            }
        }
    }
}

fn named(p: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", p.display()))
}

/// `YYYYmmddHHMMSS` in UTC, as dumpcap stamps ring files (it uses local time; UTC sorts the
/// same everywhere).
pub fn stamp(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(ns as i128)
        .map(|t| t.strftime("%Y%m%d%H%M%S").to_string())
        .unwrap_or_else(|_| "00000000000000".into())
}

/// A pcapng block: type, total length, body, total length (body padded to 32 bits).
fn block(out: &mut Vec<u8>, kind: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    body(out);
    while !(out.len() - start).is_multiple_of(4) {
        out.push(0);
    }
    let total = (out.len() - start + 4) as u32;
    out[start + 4..start + 8].copy_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
}

/// One option (code, length, value padded to 32 bits).
fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    let len = value.len().min(u16::MAX as usize & !3);
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&value[..len]);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn end_of_options(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0; 4]);
}

fn section_header(out: &mut Vec<u8>) {
    block(out, 0x0A0D_0D0A, |b| {
        b.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&(-1i64).to_le_bytes());
        option(b, 3, std::env::consts::OS.as_bytes()); // shb_os
        option(b, 4, format!("v6watch {}", env!("CARGO_PKG_VERSION")).as_bytes()); // shb_userappl
        end_of_options(b);
    });
}

fn interface_description(out: &mut Vec<u8>, i: &Interface) {
    block(out, 1, |b| {
        b.extend_from_slice(&(i.linktype as u16).to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&i.snaplen.to_le_bytes());
        option(b, 2, i.name.as_bytes()); // if_name
        option(b, 9, &[9]); // if_tsresol: nanoseconds
        if let Some(f) = &i.filter {
            let mut v = vec![0u8]; // libpcap filter string
            v.extend_from_slice(f.as_bytes());
            option(b, 11, &v); // if_filter
        }
        end_of_options(b);
    });
}

fn ts_words(ns: i64) -> [u8; 8] {
    let t = ns.max(0) as u64;
    let mut w = [0u8; 8];
    w[..4].copy_from_slice(&((t >> 32) as u32).to_le_bytes());
    w[4..].copy_from_slice(&(t as u32).to_le_bytes());
    w
}

fn enhanced_packet(out: &mut Vec<u8>, iface: u32, ts_ns: i64, orig_len: u32, data: &[u8]) {
    block(out, 6, |b| {
        b.extend_from_slice(&iface.to_le_bytes());
        b.extend_from_slice(&ts_words(ts_ns));
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&orig_len.max(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
    });
}

fn statistics(out: &mut Vec<u8>, iface: u32, start_ns: i64, now_ns: i64, c: &Counters) {
    block(out, 5, |b| {
        b.extend_from_slice(&iface.to_le_bytes());
        b.extend_from_slice(&ts_words(now_ns));
        option(b, 2, &ts_words(start_ns)); // isb_starttime
        option(b, 3, &ts_words(now_ns)); // isb_endtime
        option(b, 4, &c.received.to_le_bytes()); // isb_ifrecv
        option(b, 5, &c.if_dropped.to_le_bytes()); // isb_ifdrop
        option(b, 7, &c.kernel_dropped.to_le_bytes()); // isb_osdrop
        option(b, 8, &c.captured.to_le_bytes()); // isb_usrdeliv
        end_of_options(b);
    });
}

#[cfg(test)]
mod test {
    use super::*;

    fn iface() -> Interface {
        Interface { name: "veth0".into(), linktype: 1, snaplen: 262_144, filter: Some("ip6".into()) }
    }

    #[test]
    fn files_rotate_close_with_statistics_and_read_back() {
        let dir = std::env::temp_dir().join(format!("v6watch-ring-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let limits = RingLimits { duration: None, size: Some(2000), files: Some(2) };
        let mut ring = Ring::new(&dir, "s", limits, vec![iface()], 1_000_000_000).unwrap();
        ring.open_next(1_300_000_000_000_000_000).unwrap();
        let frame = vec![0xabu8; 61];
        let mut closed = Vec::new();
        for k in 0..100i64 {
            ring.packet(0, 1_300_000_000_000_000_000 + k * 1000, 64, &frame).unwrap();
            if ring.due() {
                let c = Counters { received: k as u64 + 3, kernel_dropped: 2, if_dropped: 1, captured: k as u64 + 1 };
                closed.push(ring.close(&[c], 1_300_000_001_000_000_000).unwrap().unwrap());
                ring.open_next(1_300_000_001_000_000_000).unwrap();
            }
        }
        ring.close(&[Counters::default()], 1_300_000_002_000_000_000).unwrap();
        let names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        // Only the two newest closed files are kept, none is partial.
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("s_000") && n.ends_with(".pcapng")), "{names:?}");
        // The engine's reader reads a closed file whole, with nanosecond times.
        let first = &closed[closed.len() - 1];
        let mut r = engine::capture::Reader::open(first, false).unwrap();
        let mut n = 0;
        while r.advance().unwrap() {
            assert_eq!(r.current().data, &frame[..]);
            assert_eq!(r.current().orig_len, 64);
            assert_eq!(r.current().ts % 1000, 0);
            n += 1;
        }
        assert!(n > 10, "{n}");
        let bytes = std::fs::read(first).unwrap();
        // The statistics block closes it.
        let tail = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()) as usize;
        assert_eq!(u32::from_le_bytes(bytes[bytes.len() - tail..][..4].try_into().unwrap()), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_a_whole_file() {
        // /dev/full: every write fails with ENOSPC.
        if !Path::new("/dev/full").exists() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("v6watch-ring-full-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut ring = Ring::new(&dir, "s", RingLimits::default(), vec![iface()], 0).unwrap();
        ring.open_next(1_300_000_000_000_000_000).unwrap();
        // Swap the open file for /dev/full, as a disk filling up would.
        ring.open.as_mut().unwrap().file = File::options().write(true).open("/dev/full").unwrap();
        let mut err = None;
        for k in 0..10_000 {
            if let Err(e) = ring.packet(0, k, 100, &[1u8; 100]) {
                err = Some(e);
                break;
            }
        }
        let e = err.expect("a full disk is an error");
        assert!(e.to_string().contains("s_00001_"), "{e}");
        assert!(ring.open.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

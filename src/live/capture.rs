//! Frames from network interfaces through libpcap (the `pcap` crate): one capture thread per
//! interface reads its TPACKET_V3 ring and hands frames over in chunks; [`LiveSource`] is the
//! engine's [`FrameSource`] for them, writing each frame to the capture files (when asked)
//! before the engine sees it, so the files and the analysis hold exactly the same frames.
//!
//! Stopping loses nothing: when the stop flag is raised, each capture thread keeps reading for
//! one block timeout (the kernel hands over a partly filled block only when it times out),
//! takes the final statistics, then reads without blocking until the ring is empty; only then
//! does the source end, closing the last file with its statistics.

use super::ring::{Counters, Interface, Ring};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use engine::source::{FrameBatch, FrameSource, SourceSummary};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How capture handles are opened (tcpdump's and dumpcap's options).
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Snapshot length.
    pub snaplen: u32,
    /// Promiscuous mode.
    pub promisc: bool,
    /// Kernel capture buffer (the TPACKET ring), bytes.
    pub buffer: u32,
    /// BPF filter expression, compiled by libpcap and run in the kernel.
    pub filter: Option<String>,
    /// How long the kernel holds a partly filled block before handing it over.
    pub block_timeout: Duration,
}

/// Frames of one interface gathered for a hand-over: bytes, and per frame (ts, orig_len, len).
struct Chunk {
    iface: usize,
    data: Vec<u8>,
    frames: Vec<(i64, u32, u32)>,
}

/// Frames per chunk at most, and its byte budget.
const CHUNK_FRAMES: usize = 512;
const CHUNK_BYTES: usize = 256 << 10;
/// Chunks waiting for the engine at most (per source): beyond, the capture thread waits and
/// the kernel ring absorbs the burst (its drops are counted).
const QUEUE: usize = 256;
/// Emptied chunks kept for reuse per interface.
const SPARES: usize = 8;
/// How often capture threads read libpcap's statistics.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// After this long without a frame, capture time moves on with the wall clock (a tick).
const QUIET: Duration = Duration::from_secs(1);
/// Non-blocking reads after the final statistics stop after this long even if frames keep
/// coming (a link that never goes quiet).
const DRAIN_MAX: Duration = Duration::from_secs(2);

enum Msg {
    Frames(Chunk),
    Done { iface: usize, error: Option<String> },
}

/// Counters every thread can read: per interface, libpcap's statistics and frames handed over.
#[derive(Default)]
pub struct LiveStats {
    /// Per interface: libpcap's counters as last read (captured is filled from `captured`).
    pcap: Mutex<Vec<Counters>>,
    /// Per interface: frames handed over, and their captured bytes.
    captured: Vec<AtomicU64>,
    bytes: Vec<AtomicU64>,
}

impl LiveStats {
    fn new(n: usize) -> LiveStats {
        LiveStats {
            pcap: Mutex::new(vec![Counters::default(); n]),
            captured: (0..n).map(|_| AtomicU64::new(0)).collect(),
            bytes: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Per interface: the counters now.
    pub fn counters(&self) -> Vec<Counters> {
        let mut v = self.pcap.lock().map(|g| g.clone()).unwrap_or_default();
        for (i, c) in v.iter_mut().enumerate() {
            c.captured = self.captured[i].load(Ordering::Relaxed);
        }
        v
    }

    /// Captured bytes of all interfaces.
    pub fn bytes(&self) -> u64 {
        self.bytes.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }
}

/// libpcap's 32-bit counters made 64-bit: each reading adds its wrapping difference.
#[derive(Default, Clone, Copy)]
struct Wide {
    last: [u32; 3],
    total: [u64; 3],
}

impl Wide {
    fn add(&mut self, s: pcap::Stat) -> Counters {
        for (k, v) in [s.received, s.dropped, s.if_dropped].into_iter().enumerate() {
            self.total[k] += u64::from(v.wrapping_sub(self.last[k]));
            self.last[k] = v;
        }
        Counters { received: self.total[0], kernel_dropped: self.total[1], if_dropped: self.total[2], captured: 0 }
    }
}

/// An opened interface, ready to capture.
pub struct Opened {
    /// How the files describe it.
    pub iface: Interface,
    /// Its addresses (the sensor's own).
    pub addrs: Vec<std::net::IpAddr>,
    cap: pcap::Capture<pcap::Active>,
}

/// Opens `name` for capture. Every failure names the interface and says what to do.
pub fn open(name: &str, o: &CaptureOptions) -> Result<Opened, String> {
    let devices = pcap::Device::list().map_err(|e| format!("-i {name}: cannot list interfaces: {e}"))?;
    let Some(dev) = devices.into_iter().find(|d| d.name == name) else {
        let names: Vec<String> = pcap::Device::list()
            .map(|l| l.into_iter().map(|d| d.name).filter(|n| n != "any").collect())
            .unwrap_or_default();
        return Err(format!("-i {name}: no such interface (there are: {})", names.join(", ")));
    };
    let addrs = dev.addresses.iter().map(|a| a.addr).collect();
    let timeout = o.block_timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
    let cap = pcap::Capture::from_device(dev)
        .and_then(|c| {
            c.snaplen(o.snaplen.min(i32::MAX as u32) as i32)
                .promisc(o.promisc)
                .buffer_size(o.buffer.min(i32::MAX as u32) as i32)
                .timeout(timeout)
                .precision(pcap::Precision::Nano)
                .open()
        })
        .map_err(|e| {
            let text = e.to_string();
            if text.contains("ermission") || text.contains("not permitted") {
                format!("-i {name}: {text} (capturing needs root or the CAP_NET_RAW and CAP_NET_ADMIN capabilities)")
            } else {
                format!("-i {name}: {text}")
            }
        })?;
    let mut cap = cap;
    if let Some(f) = &o.filter {
        cap.filter(f, true).map_err(|e| format!("-f {f:?}: not a capture filter for {name}: {e}"))?;
    }
    let linktype = cap.get_datalink().0 as u32;
    let iface = Interface { name: name.to_string(), linktype, snaplen: o.snaplen, filter: o.filter.clone() };
    Ok(Opened { iface, addrs, cap })
}

/// The engine's source for live interfaces (see the module docs).
pub struct LiveSource {
    rx: Receiver<Msg>,
    names: Vec<String>,
    linktypes: Vec<u32>,
    frames_by_link: Vec<u64>,
    ring: Option<Ring>,
    stats: Arc<LiveStats>,
    stop: Arc<AtomicBool>,
    running: usize,
    /// The last frame's capture time and when it arrived (or the last tick's).
    clock: Option<(i64, Instant)>,
    /// Rotation generation: raised each time the ring (or the records) rotate.
    rotation: Arc<AtomicU64>,
    rotation_timer: Option<(Duration, Instant)>,
    /// Errors: a capture thread's (interface gone), or the files' (disk full).
    errors: Vec<String>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Wakes each capture thread out of libpcap's wait (once, when stopping).
    breakers: Vec<pcap::BreakLoop>,
    /// Per interface: where emptied chunks go back to its capture thread.
    spares: Vec<Sender<Chunk>>,
    woken: bool,
    ended: bool,
}

/// What a running live capture shares with its outputs.
#[derive(Clone)]
pub struct Handles {
    /// Counters per interface.
    pub stats: Arc<LiveStats>,
    /// The rotation generation (see [`LiveSource`]).
    pub rotation: Arc<AtomicU64>,
}

impl LiveSource {
    /// Starts one capture thread per interface. `ring`: where frames are also written (its
    /// first file is opened here; its limits decide rotation). `rotate_every`: rotation by time
    /// without a ring (the records still rotate).
    pub fn start(
        opened: Vec<Opened>,
        block_timeout: Duration,
        mut ring: Option<Ring>,
        rotate_every: Option<Duration>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<(LiveSource, Handles)> {
        let n = opened.len();
        let stats = Arc::new(LiveStats::new(n));
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let linktypes: Vec<u32> = opened.iter().map(|o| o.iface.linktype).collect();
        let names: Vec<String> = opened.iter().map(|o| o.iface.name.clone()).collect();
        if let Some(r) = ring.as_mut() {
            r.open_next(now_ns())?;
        }
        let mut threads = Vec::new();
        let mut breakers = Vec::new();
        let mut spares = Vec::new();
        for (i, mut o) in opened.into_iter().enumerate() {
            breakers.push(o.cap.breakloop_handle());
            let (spare_tx, spare) = crossbeam_channel::bounded(SPARES);
            spares.push(spare_tx);
            let (tx, stats, stop) = (tx.clone(), stats.clone(), stop.clone());
            let name = o.iface.name.clone();
            let h = std::thread::Builder::new().name(format!("v6watch-cap-{name}")).spawn(move || {
                let out = Outbox { iface: i, tx, spare, stats: &stats, chunk: Chunk::new(i) };
                capture_loop(o.cap, block_timeout, out, &stop)
            })?;
            threads.push(h);
        }
        let rotation = Arc::new(AtomicU64::new(0));
        let handles = Handles { stats: stats.clone(), rotation: rotation.clone() };
        let source = LiveSource {
            rx,
            names,
            frames_by_link: vec![0; n],
            linktypes,
            ring,
            stats,
            stop,
            running: n,
            clock: None,
            rotation,
            rotation_timer: rotate_every.map(|d| (d, Instant::now())),
            errors: Vec::new(),
            threads,
            breakers,
            spares,
            woken: false,
            ended: false,
        };
        Ok((source, handles))
    }

    /// Errors met (interfaces that failed, files that could not be written).
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Closes the open file and opens the next, and tells the outputs.
    fn rotate(&mut self) {
        let counters = self.stats.counters();
        if let Some(r) = self.ring.as_mut() {
            let now = now_ns();
            if let Err(e) = r.close(&counters, now).and_then(|_| r.open_next(now)) {
                self.fail(e.to_string());
                return;
            }
        }
        if let Some((_, at)) = self.rotation_timer.as_mut() {
            *at = Instant::now();
        }
        self.rotation.fetch_add(1, Ordering::SeqCst);
    }

    fn rotation_due(&self) -> bool {
        match &self.ring {
            Some(r) => r.due(),
            None => self.rotation_timer.is_some_and(|(d, at)| at.elapsed() >= d),
        }
    }

    /// Stops the capture because of `why` (what was captured is still finished properly).
    fn fail(&mut self, why: String) {
        self.errors.push(why);
        self.ring = None;
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Every capture thread is done: the last file gets its statistics and is closed.
    fn end(&mut self) {
        self.ended = true;
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
        let counters = self.stats.counters();
        if let Some(mut r) = self.ring.take() {
            if let Err(e) = r.close(&counters, now_ns()) {
                self.errors.push(e.to_string());
            }
        }
    }

    /// Writes a chunk's frames to the ring and puts them in `batch`, then gives the chunk back
    /// to its capture thread.
    fn take(&mut self, mut c: Chunk, batch: &mut FrameBatch) {
        let lt = self.linktypes[c.iface];
        let mut off = 0usize;
        for &(ts, orig, len) in &c.frames {
            let data = &c.data[off..off + len as usize];
            off += len as usize;
            if let Some(r) = self.ring.as_mut() {
                if let Err(e) = r.packet(c.iface, ts, orig, data) {
                    self.fail(e.to_string());
                }
            }
            batch.push(ts, lt, orig, data);
        }
        if let Some(&(ts, _, _)) = c.frames.last() {
            self.clock = Some((ts, Instant::now()));
        }
        self.frames_by_link[c.iface] += c.frames.len() as u64;
        c.data.clear();
        c.frames.clear();
        let _ = self.spares[c.iface].try_send(c);
    }
}

impl FrameSource for LiveSource {
    fn fill(&mut self, batch: &mut FrameBatch) -> bool {
        batch.clear();
        if self.ended {
            return false;
        }
        loop {
            if !self.woken && self.stop.load(Ordering::SeqCst) {
                self.woken = true;
                for b in &self.breakers {
                    b.breakloop();
                }
            }
            if self.rotation_due() {
                self.rotate();
            }
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Msg::Frames(c)) => {
                    self.take(c, batch);
                    if batch.is_full() || self.rx.is_empty() {
                        return true;
                    }
                }
                Ok(Msg::Done { iface, error }) => {
                    self.running -= 1;
                    if let Some(e) = error {
                        self.errors.push(format!("-i {}: {e}", self.names[iface]));
                        // One interface failing stops the capture, as dumpcap does.
                        self.stop.store(true, Ordering::SeqCst);
                    }
                    if self.running == 0 {
                        self.end();
                        return !batch.is_empty();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if !batch.is_empty() {
                        return true;
                    }
                    // A quiet link: capture time moves on with the wall clock, so idle flows end.
                    if let Some((ts, at)) = self.clock {
                        if at.elapsed() >= QUIET {
                            let now = now_ns().max(ts);
                            self.clock = Some((now, Instant::now()));
                            batch.tick(now);
                            return true;
                        }
                    } else {
                        self.clock = Some((now_ns(), Instant::now()));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.end();
                    return !batch.is_empty();
                }
            }
        }
    }

    fn summary(&self) -> SourceSummary {
        let mut linktypes: Vec<(u32, u64)> = Vec::new();
        for (lt, n) in self.linktypes.iter().zip(&self.frames_by_link) {
            engine::source::add_linktype(&mut linktypes, *lt, *n);
        }
        SourceSummary { files: Vec::new(), linktypes }
    }

    fn is_stream(&self) -> bool {
        true
    }
}

/// Wall-clock time, ns since the epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One interface's capture thread (see the module docs for how it stops).
///
/// It reads with `pcap_dispatch`: on Linux's TPACKET_V3 ring one call hands over every frame of
/// the blocks the kernel has retired (a block is retired when full or when the block timeout
/// passes with a frame in it), and the frames go to the engine right after, so a quiet link's
/// frames wait at most one block timeout. On an idle link libpcap waits without a timeout, so
/// stopping wakes it with `pcap_breakloop` ([`LiveSource`] does, when the stop flag is up).
fn capture_loop(mut cap: pcap::Capture<pcap::Active>, block_timeout: Duration, mut out: Outbox<'_>, stop: &AtomicBool) {
    let mut wide = Wide::default();
    let mut stats_at = Instant::now();
    let mut error = None;
    let (stats, iface) = (out.stats, out.iface);
    let read_stats = |cap: &mut pcap::Capture<pcap::Active>, wide: &mut Wide| {
        if let Ok(s) = cap.stats() {
            let c = wide.add(s);
            if let Ok(mut g) = stats.pcap.lock() {
                g[iface] = c;
            }
        }
    };
    // Phase 1: blocking reads until the stop flag.
    while !stop.load(Ordering::SeqCst) {
        let Some(got) = out.read(&mut cap) else { return };
        match got {
            Ok(_) | Err(pcap::Error::TimeoutExpired) => {}
            // pcap_breakloop: the stop flag is up.
            Err(_) if stop.load(Ordering::SeqCst) => break,
            Err(e) => {
                error = Some(describe(&e));
                break;
            }
        }
        if stats_at.elapsed() >= STATS_EVERY {
            read_stats(&mut cap, &mut wide);
            stats_at = Instant::now();
        }
    }
    // Phase 2: one block timeout (the kernel retires the block being filled), the final
    // statistics, then whatever the ring holds, without blocking.
    if error.is_none() {
        std::thread::sleep(block_timeout + Duration::from_millis(10));
    }
    read_stats(&mut cap, &mut wide);
    if error.is_none() {
        match cap.setnonblock() {
            Ok(mut nb) => {
                let t = Instant::now();
                // A pcap_breakloop that came after the last blocking read makes the next read
                // return at once; that one is not an error.
                let mut pending_break = true;
                while t.elapsed() < DRAIN_MAX {
                    let Some(got) = out.read(&mut nb) else { return };
                    match got {
                        Ok(0) | Err(pcap::Error::TimeoutExpired) => break,
                        Ok(_) => {}
                        Err(_) if std::mem::take(&mut pending_break) => {}
                        Err(e) => {
                            error = Some(describe(&e));
                            break;
                        }
                    }
                }
            }
            Err(e) => error = Some(describe(&e)),
        }
    }
    out.send();
    let _ = out.tx.send(Msg::Done { iface: out.iface, error });
}

/// Where a capture thread's frames go: gathered in a chunk, handed to the engine whole, and
/// counted as they are handed over (not one atomic add per frame). Emptied chunks come back
/// from the engine on `spare`, so their buffers are reused rather than allocated per chunk.
struct Outbox<'a> {
    iface: usize,
    tx: Sender<Msg>,
    spare: Receiver<Chunk>,
    stats: &'a LiveStats,
    chunk: Chunk,
}

impl Outbox<'_> {
    /// One `pcap_dispatch` (whatever frames libpcap has ready), then a hand-over. `None` when
    /// nobody reads the frames any more.
    fn read(&mut self, cap: &mut pcap::Capture<pcap::Active>) -> Option<Result<usize, pcap::Error>> {
        let mut alive = true;
        let got = cap.dispatch(None, |p| {
            self.chunk.push(p.header, p.data);
            if self.chunk.is_full() {
                alive &= self.send();
            }
        });
        (alive && self.send()).then_some(got)
    }

    /// Hands the gathered frames over (waiting while the engine is behind); false when nobody
    /// reads.
    fn send(&mut self) -> bool {
        if self.chunk.frames.is_empty() {
            return true;
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| Chunk::new(self.iface));
        let full = std::mem::replace(&mut self.chunk, next);
        self.stats.captured[self.iface].fetch_add(full.frames.len() as u64, Ordering::Relaxed);
        self.stats.bytes[self.iface].fetch_add(full.data.len() as u64, Ordering::Relaxed);
        self.tx.send(Msg::Frames(full)).is_ok()
    }
}

impl Chunk {
    fn new(iface: usize) -> Chunk {
        Chunk { iface, data: Vec::with_capacity(CHUNK_BYTES + 65536), frames: Vec::with_capacity(CHUNK_FRAMES) }
    }

    fn is_full(&self) -> bool {
        self.frames.len() >= CHUNK_FRAMES || self.data.len() >= CHUNK_BYTES
    }

    fn push(&mut self, h: &pcap::PacketHeader, data: &[u8]) {
        // Nanosecond precision was asked for, so `tv_usec` holds nanoseconds.
        #[allow(clippy::useless_conversion)] // time_t is i32 on some targets
        let ts = i64::from(h.ts.tv_sec).saturating_mul(1_000_000_000).saturating_add(i64::from(h.ts.tv_usec));
        self.data.extend_from_slice(data);
        self.frames.push((ts, h.len, data.len() as u32));
    }
}

/// libpcap's error in words a user acts on.
fn describe(e: &pcap::Error) -> String {
    let t = e.to_string();
    if t.contains("went down") || t.contains("ENETDOWN") || t.contains("No such device") {
        format!("the interface went away or down ({t})")
    } else {
        t
    }
}

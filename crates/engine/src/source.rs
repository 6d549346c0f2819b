//! Where the engine's frames come from. A [`FrameSource`] fills [`FrameBatch`]es and keeps its
//! own statistics (per-file facts, link types, drops when it knows them); the engine routes,
//! decodes and tracks whatever it is given, so capture files, standard input, a live interface
//! or frames made in memory by a test are each one implementation of the trait and nothing in
//! the pipeline changes for a new one.
//!
//! Capture files ([`FileSource`]): one file is read with no copy (a batch is one reader buffer,
//! handed over whole when the reader retires it); several files of one sensor are merged in time
//! order and copied into batches. Damage never stops a source: it is recorded against its file
//! (see [`FileSummary::error`]) and what can still be read is read.

use crate::capture::{CaptureError, Compression, Format, Merger, Reader};
use serde::Serialize;
use std::path::PathBuf;

/// Frames per batch at most when frames are copied in, and the byte budget of one batch (the
/// size of one reader buffer, so a batch still sits in L2 when the workers decode it).
pub const BATCH_FRAMES: usize = 2048;
/// See [`BATCH_FRAMES`].
pub const BATCH_BYTES: usize = 512 << 10;

/// The link type of a tick (see [`FrameBatch::tick`]): no LINKTYPE_* is this large.
pub(crate) const TICK: u32 = u32::MAX;

/// One captured frame inside a [`FrameBatch`]: where its bytes are and what the capture said.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameMeta {
    pub(crate) start: usize,
    pub(crate) len: usize,
    pub(crate) ts: i64,
    pub(crate) linktype: u32,
    pub(crate) orig_len: u32,
}

/// A run of frames in capture order: their bytes in one buffer and their metadata.
#[derive(Debug, Default)]
pub struct FrameBatch {
    pub(crate) data: Vec<u8>,
    pub(crate) frames: Vec<FrameMeta>,
}

impl FrameBatch {
    /// An empty batch.
    pub fn new() -> FrameBatch {
        FrameBatch { data: Vec::new(), frames: Vec::with_capacity(BATCH_FRAMES) }
    }

    /// Appends a copy of one frame: capture time (ns since the epoch), LINKTYPE_*, length on the
    /// wire and the captured bytes.
    pub fn push(&mut self, ts: i64, linktype: u32, orig_len: u32, data: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(data);
        self.frames.push(FrameMeta { start, len: data.len(), ts, linktype, orig_len });
    }

    /// The input is quiet and capture time is now `ts` (ns since the epoch): idle flows that
    /// are due end, as if a frame had arrived, and the sensor-address window closes when its
    /// span has passed. A live source says so when nothing arrived for a while; the tick goes in
    /// capture order among the frames and ends the batch (the source should hand it over).
    pub fn tick(&mut self, ts: i64) {
        self.frames.push(FrameMeta { start: self.data.len(), len: 0, ts, linktype: TICK, orig_len: 0 });
    }

    /// Keeps the frames for which `keep(linktype, captured bytes)` says yes (a capture filter
    /// applied when reading files); ticks are kept. The bytes of dropped frames stay in the
    /// buffer until it is reused.
    pub fn retain_frames(&mut self, mut keep: impl FnMut(u32, &[u8]) -> bool) {
        let data = &self.data;
        self.frames.retain(|m| m.linktype == TICK || keep(m.linktype, &data[m.start..m.start + m.len]));
        if self.frames.is_empty() {
            self.data.clear();
        }
    }

    /// Entries in the batch (frames and ticks).
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether it holds no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Whether a source copying frames in should hand it over now ([`BATCH_FRAMES`],
    /// [`BATCH_BYTES`]).
    pub fn is_full(&self) -> bool {
        self.frames.len() >= BATCH_FRAMES || self.data.len() >= BATCH_BYTES
    }

    /// Captured bytes of its frames.
    pub fn captured(&self) -> u64 {
        self.frames.iter().map(|f| f.len as u64).sum()
    }

    /// Empties it, keeping its buffers for reuse.
    pub fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
    }
}

/// Per-file facts.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    /// Path as given.
    pub path: String,
    /// Container.
    pub format: Option<Format>,
    /// Compression.
    pub compression: Option<Compression>,
    /// Frames read.
    pub frames: u64,
    /// Container bytes consumed.
    pub bytes: u64,
    /// pcapng sections.
    pub sections: u32,
    /// Interfaces declared.
    pub interfaces: u32,
    /// Frames whose timestamp went backwards.
    pub out_of_order: u64,
    /// Damage, if any.
    pub error: Option<String>,
}

/// What a source knows about itself.
#[derive(Debug, Clone, Default)]
pub struct SourceSummary {
    /// Its files (none for a source that is not read from files).
    pub files: Vec<FileSummary>,
    /// Link types as (LINKTYPE_*, frames).
    pub linktypes: Vec<(u32, u64)>,
}

/// Yields a sensor's frames in capture order.
pub trait FrameSource: Send {
    /// Fills `batch` (handed over empty; its buffers may be reused or replaced) with the next
    /// frames. Returns `false` at the end of input, with `batch` left empty.
    fn fill(&mut self, batch: &mut FrameBatch) -> bool;

    /// Its statistics so far.
    fn summary(&self) -> SourceSummary;

    /// Whether its frames arrive over time (a pipe, an interface) rather than being read from
    /// storage as fast as the engine takes them. A stream's records must start flowing soon, so
    /// its sensor-address window also ends after [`crate::sensor::INFER_SPAN`] of capture time.
    fn is_stream(&self) -> bool {
        false
    }
}

impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    fn fill(&mut self, batch: &mut FrameBatch) -> bool {
        (**self).fill(batch)
    }
    fn summary(&self) -> SourceSummary {
        (**self).summary()
    }
    fn is_stream(&self) -> bool {
        (**self).is_stream()
    }
}

/// A sensor's capture files (or standard input, `-`), merged in time order.
pub struct FileSource {
    files: Vec<FileSummary>,
    /// Per reader: its index in `files` (files that could not be opened have no reader).
    file_index: Vec<usize>,
    merger: Merger,
    /// One file: frames delivered from the reader's live buffer, waiting for it to be retired.
    pending: FrameBatch,
    done: bool,
    errors: Vec<CaptureError>,
    stream: bool,
}

/// The source for a sensor's capture paths: standard input alone, when it is a pipe (not a
/// file the shell redirected), is a [`StreamSource`]; anything else a [`FileSource`].
pub fn open_paths(paths: &[PathBuf], keep_going: bool) -> Box<dyn FrameSource> {
    let stdin_pipe = || !std::fs::metadata("/dev/stdin").is_ok_and(|m| m.is_file());
    if let [one] = paths {
        if one.as_os_str() == "-" && stdin_pipe() {
            return match StreamSource::open("-", Box::new(std::io::stdin()), keep_going) {
                Ok(s) => Box::new(s),
                Err(e) => Box::new(FileSource::unreadable(one, e)),
            };
        }
    }
    Box::new(FileSource::open(paths, keep_going))
}

impl FileSource {
    /// A source of one file that could not be opened: it yields nothing, and its summary
    /// says why.
    fn unreadable(path: &std::path::Path, e: CaptureError) -> FileSource {
        let mut s = FileSource::open(&[], false);
        s.files.push(FileSummary {
            path: path.display().to_string(),
            format: None,
            compression: None,
            frames: 0,
            bytes: 0,
            sections: 0,
            interfaces: 0,
            out_of_order: 0,
            error: Some(e.to_string()),
        });
        s
    }

    /// Opens every file; one that cannot be opened is recorded (its error in the summary) and
    /// the others are still read.
    pub fn open(paths: &[PathBuf], keep_going: bool) -> FileSource {
        let mut files = Vec::new();
        let mut readers = Vec::new();
        let mut file_index = Vec::new();
        for p in paths {
            let (r, error) = match Reader::open(p, keep_going) {
                Ok(r) => (Some(r), None),
                Err(e) => (None, Some(e.to_string())),
            };
            files.push(FileSummary {
                path: p.display().to_string(),
                format: r.as_ref().map(|r| r.format()),
                compression: r.as_ref().map(|r| r.compression()),
                frames: 0,
                bytes: 0,
                sections: 0,
                interfaces: 0,
                out_of_order: 0,
                error,
            });
            if let Some(r) = r {
                file_index.push(files.len() - 1);
                readers.push(r);
            }
        }
        if let [one] = readers.as_mut_slice() {
            one.set_batching(true);
        }
        // Standard input is a stream unless the shell redirected a file into it.
        let stream =
            paths.iter().any(|p| p.as_os_str() == "-") && !std::fs::metadata("/dev/stdin").is_ok_and(|m| m.is_file());
        FileSource {
            files,
            file_index,
            merger: Merger::new(readers),
            pending: FrameBatch::new(),
            done: false,
            errors: Vec::new(),
            stream,
        }
    }

    /// One file: a batch is the frames of one reader buffer, handed over whole when the reader
    /// retires it (no copy).
    fn fill_single(&mut self, out: &mut FrameBatch) -> bool {
        let old = std::mem::take(&mut out.data);
        self.merger.readers_mut()[0].give_spare(old);
        loop {
            let r = &mut self.merger.readers_mut()[0];
            let got = r.advance();
            if let Some(buf) = r.take_retired() {
                // Every frame pending so far lives in the retired buffer.
                if !self.pending.frames.is_empty() {
                    std::mem::swap(&mut self.pending, out);
                    out.data = buf;
                    match got {
                        Ok(true) => self.push_current(),
                        // The end: the next call finds the reader empty.
                        Ok(false) => {}
                        Err(e) => self.errors.push(e),
                    }
                    return true;
                }
                r.give_spare(buf);
            }
            match got {
                Ok(true) => self.push_current(),
                Ok(false) => {
                    self.done = true;
                    if self.pending.frames.is_empty() {
                        return false;
                    }
                    let buf = self.merger.readers_mut()[0].take_buffer();
                    std::mem::swap(&mut self.pending, out);
                    out.data = buf;
                    return true;
                }
                Err(e) => self.errors.push(e),
            }
        }
    }

    fn push_current(&mut self) {
        let r = &self.merger.readers()[0];
        let f = r.current();
        let meta = FrameMeta {
            start: r.current_offset(),
            len: f.data.len(),
            ts: f.ts,
            linktype: f.linktype,
            orig_len: f.orig_len,
        };
        self.pending.frames.push(meta);
    }

    /// Several files: frames come from the merge in time order and are copied into the batch.
    fn fill_merged(&mut self, out: &mut FrameBatch) -> bool {
        out.clear();
        loop {
            match self.merger.next_frame() {
                Ok(Some((_, f))) => {
                    out.push(f.ts, f.linktype, f.orig_len, f.data);
                    if out.is_full() {
                        return true;
                    }
                }
                Ok(None) => {
                    self.done = true;
                    return !out.is_empty();
                }
                Err(e) => self.errors.push(e),
            }
        }
    }
}

impl FrameSource for FileSource {
    fn fill(&mut self, batch: &mut FrameBatch) -> bool {
        batch.frames.clear();
        if self.done {
            return false;
        }
        match self.merger.readers().len() {
            0 => {
                self.done = true;
                false
            }
            1 => self.fill_single(batch),
            _ => self.fill_merged(batch),
        }
    }

    fn summary(&self) -> SourceSummary {
        let mut files = self.files.clone();
        let mut linktypes: Vec<(u32, u64)> = Vec::new();
        for (k, r) in self.merger.readers().iter().enumerate() {
            reader_facts(r, &mut files[self.file_index[k]], &mut linktypes);
        }
        for e in &self.errors {
            let k = self.merger.readers().iter().position(|r| r.name() == e.file).unwrap_or(0);
            if let Some(f) = self.file_index.get(k).and_then(|fi| files.get_mut(*fi)) {
                add_error(f, e);
            }
        }
        SourceSummary { files, linktypes }
    }

    fn is_stream(&self) -> bool {
        self.stream
    }
}

/// Copies a reader's statistics into its file's facts and adds its link types to `linktypes`.
fn reader_facts(r: &Reader, f: &mut FileSummary, linktypes: &mut Vec<(u32, u64)>) {
    let st = r.stats();
    f.frames = st.frames;
    f.bytes = st.bytes;
    f.sections = st.sections;
    f.interfaces = st.interfaces;
    f.out_of_order = st.out_of_order;
    for (lt, n) in &st.linktypes {
        add_linktype(linktypes, *lt, *n);
    }
}

/// Adds `n` frames of LINKTYPE_* `lt` to a source's link-type counts.
pub fn add_linktype(linktypes: &mut Vec<(u32, u64)>, lt: u32, n: u64) {
    match linktypes.iter_mut().find(|(l, _)| *l == lt) {
        Some((_, m)) => *m += n,
        None => linktypes.push((lt, n)),
    }
}

/// Records damage against its file (several are joined by `; `).
fn add_error(f: &mut FileSummary, e: &CaptureError) {
    match &mut f.error {
        Some(s) => {
            s.push_str("; ");
            s.push_str(&e.to_string());
        }
        None => f.error = Some(e.to_string()),
    }
}

/// How long a stream's byte source waits for data before saying it has none yet.
const STREAM_WAIT: std::time::Duration = std::time::Duration::from_millis(50);
/// A stream's batch is handed over once its first frame waited this long, however few frames
/// it holds, so a slow link's records are not held for a full batch.
const STREAM_BATCH_AGE: std::time::Duration = std::time::Duration::from_millis(200);
/// After this long without a frame, a stream ticks capture time forward by the wall-clock time
/// that passed (as a live capture's clock would), and again each time as long again passes.
/// Long enough that a producer's short stall (`cat` of a file on a slow disk) moves nothing.
const STREAM_QUIET: std::time::Duration = std::time::Duration::from_secs(1);
/// Chunks of bytes read ahead of the parser at most (64 KiB each): memory stays bounded and a
/// fast producer is slowed down, not buffered without end.
const STREAM_CHUNKS: usize = 64;

/// The byte side of a [`StreamSource`]: a thread reads the stream into chunks; `read` waits
/// for one at most [`STREAM_WAIT`] (once `patient` is off) and then says `WouldBlock`.
struct ChunkRead {
    rx: crossbeam_channel::Receiver<std::io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    patient: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::io::Read for ChunkRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        use crossbeam_channel::RecvTimeoutError;
        while self.pos >= self.chunk.len() {
            let got = if self.patient.load(std::sync::atomic::Ordering::Relaxed) {
                self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                self.rx.recv_timeout(STREAM_WAIT)
            };
            match got {
                Ok(chunk) => {
                    self.chunk = chunk?;
                    self.pos = 0;
                }
                Err(RecvTimeoutError::Timeout) => return Err(std::io::ErrorKind::WouldBlock.into()),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A capture arriving over time on a pipe (`tcpdump -U -w - | v6watch flows -`): frames are
/// handed over as they come (a batch is cut when full, or [`STREAM_BATCH_AGE`] after its first
/// frame), and when the stream is quiet for [`STREAM_QUIET`] capture time moves on with the
/// wall clock, so idle flows end and are written while the stream stays open. Compressed
/// streams are read as they come but never tick (their decoders cannot be asked to wait).
pub struct StreamSource {
    reader: Reader,
    file: FileSummary,
    errors: Vec<CaptureError>,
    done: bool,
    /// The last frame's capture time and when it arrived (or the last tick's).
    clock: Option<(i64, std::time::Instant)>,
    ticks: bool,
}

impl StreamSource {
    /// Starts reading `src` (named `name` in errors) on its own thread and opens the capture
    /// in it (waiting for its header as long as it takes).
    pub fn open(
        name: &str,
        src: Box<dyn std::io::Read + Send>,
        keep_going: bool,
    ) -> Result<StreamSource, CaptureError> {
        let (tx, rx) = crossbeam_channel::bounded(STREAM_CHUNKS);
        // The stream goes to the thread once it started: if it cannot be (a task limit), the
        // stream is still here to be read on this thread.
        let (give, take) = crossbeam_channel::bounded::<Box<dyn std::io::Read + Send>>(1);
        let spawned = std::thread::Builder::new().name("v6watch-stdin".into()).spawn(move || {
            let Ok(mut src) = take.recv() else { return };
            loop {
                let mut chunk = vec![0; 64 << 10];
                let sent = match src.read(&mut chunk) {
                    Ok(0) => return,
                    Ok(n) => {
                        chunk.truncate(n);
                        tx.send(Ok(chunk))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
        });
        let patient = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (read, threaded): (Box<dyn std::io::Read + Send>, bool) = match spawned {
            Ok(_) => {
                let _ = give.send(src);
                (Box::new(ChunkRead { rx, chunk: Vec::new(), pos: 0, patient: patient.clone() }), true)
            }
            Err(e) => {
                log::warn!(
                    "{name}: cannot start a thread to read it ({e}): reading it on this one, so idle flows end \
                     only when more frames come"
                );
                (src, false)
            }
        };
        let reader = Reader::from_read(name.into(), read, keep_going)?;
        let ticks = threaded && reader.compression() == Compression::None;
        patient.store(!ticks, std::sync::atomic::Ordering::Relaxed);
        let file = FileSummary {
            path: name.into(),
            format: Some(reader.format()),
            compression: Some(reader.compression()),
            frames: 0,
            bytes: 0,
            sections: 0,
            interfaces: 0,
            out_of_order: 0,
            error: None,
        };
        Ok(StreamSource { reader, file, errors: Vec::new(), done: false, clock: None, ticks })
    }
}

impl FrameSource for StreamSource {
    fn fill(&mut self, batch: &mut FrameBatch) -> bool {
        batch.clear();
        let mut first_at: Option<std::time::Instant> = None;
        while !self.done {
            match self.reader.advance() {
                Ok(true) => {
                    let f = self.reader.current();
                    batch.push(f.ts, f.linktype, f.orig_len, f.data);
                    let now = std::time::Instant::now();
                    self.clock = Some((f.ts, now));
                    let first = *first_at.get_or_insert(now);
                    if batch.is_full() || now.duration_since(first) >= STREAM_BATCH_AGE {
                        return true;
                    }
                }
                Ok(false) if self.reader.stalled() => {
                    if !batch.is_empty() {
                        return true;
                    }
                    if let (Some((ts, at)), true) = (self.clock, self.ticks) {
                        let quiet = at.elapsed();
                        if quiet >= STREAM_QUIET {
                            let now = ts.saturating_add(i64::try_from(quiet.as_nanos()).unwrap_or(i64::MAX));
                            self.clock = Some((now, std::time::Instant::now()));
                            batch.tick(now);
                            return true;
                        }
                    }
                }
                Ok(false) => self.done = true,
                Err(e) => self.errors.push(e),
            }
        }
        !batch.is_empty()
    }

    fn summary(&self) -> SourceSummary {
        let mut file = self.file.clone();
        let mut linktypes = Vec::new();
        reader_facts(&self.reader, &mut file, &mut linktypes);
        for e in &self.errors {
            add_error(&mut file, e);
        }
        SourceSummary { files: vec![file], linktypes }
    }

    fn is_stream(&self) -> bool {
        true
    }
}

/// Frames held in memory, handed over a few at a time: for tests of the engine that need no
/// file, and for callers that make their frames themselves.
#[derive(Debug, Default)]
pub struct MemorySource {
    frames: std::collections::VecDeque<(i64, u32, Vec<u8>)>,
    per_batch: usize,
    linktypes: Vec<(u32, u64)>,
    stream: bool,
}

impl MemorySource {
    /// Frames as (capture time in ns since the epoch, LINKTYPE_*, bytes), each captured whole,
    /// handed over `per_batch` at a time (at least one).
    pub fn new(frames: impl IntoIterator<Item = (i64, u32, Vec<u8>)>, per_batch: usize) -> MemorySource {
        MemorySource {
            frames: frames.into_iter().collect(),
            per_batch: per_batch.max(1),
            linktypes: Vec::new(),
            stream: false,
        }
    }

    /// The same frames, presented as a stream (see [`FrameSource::is_stream`]).
    pub fn as_stream(mut self) -> MemorySource {
        self.stream = true;
        self
    }

    /// Adds a tick at capture time `ts` after the frames given so far (see [`FrameBatch::tick`]).
    pub fn tick(&mut self, ts: i64) {
        self.frames.push_back((ts, TICK, Vec::new()));
    }
}

impl FrameSource for MemorySource {
    fn fill(&mut self, batch: &mut FrameBatch) -> bool {
        batch.clear();
        while batch.len() < self.per_batch && !batch.is_full() {
            let Some((ts, lt, data)) = self.frames.pop_front() else { break };
            if lt == TICK {
                batch.tick(ts);
                break;
            }
            let orig = u32::try_from(data.len()).unwrap_or(u32::MAX);
            batch.push(ts, lt, orig, &data);
            add_linktype(&mut self.linktypes, lt, 1);
        }
        !batch.is_empty()
    }

    fn summary(&self) -> SourceSummary {
        SourceSummary { files: Vec::new(), linktypes: self.linktypes.clone() }
    }

    fn is_stream(&self) -> bool {
        self.stream
    }
}

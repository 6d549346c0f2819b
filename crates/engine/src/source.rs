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

impl FileSource {
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
            let st = r.stats();
            let f = &mut files[self.file_index[k]];
            f.frames = st.frames;
            f.bytes = st.bytes;
            f.sections = st.sections;
            f.interfaces = st.interfaces;
            f.out_of_order = st.out_of_order;
            for (lt, n) in &st.linktypes {
                match linktypes.iter_mut().find(|(l, _)| l == lt) {
                    Some((_, m)) => *m += n,
                    None => linktypes.push((*lt, *n)),
                }
            }
        }
        for e in &self.errors {
            let k = self.merger.readers().iter().position(|r| r.name() == e.file).unwrap_or(0);
            if let Some(f) = self.file_index.get(k).and_then(|fi| files.get_mut(*fi)) {
                match &mut f.error {
                    Some(s) => {
                        s.push_str("; ");
                        s.push_str(&e.to_string());
                    }
                    None => f.error = Some(e.to_string()),
                }
            }
        }
        SourceSummary { files, linktypes }
    }

    fn is_stream(&self) -> bool {
        self.stream
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
            match self.linktypes.iter_mut().find(|(l, _)| *l == lt) {
                Some((_, n)) => *n += 1,
                None => self.linktypes.push((lt, 1)),
            }
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

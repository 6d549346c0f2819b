//! The record dataset written beside an analysis in the same pass (`report --export DIR`):
//! `flows.jsonl`, `dns.jsonl`, `http.jsonl` and `tls.jsonl`, line for line what `v6watch flows`,
//! `dns`, `http` and `tls` write with `--format jsonl`, and `facts.jsonl`, what the analyses
//! need of each flow beyond its line (`engine::schema::FlowFacts`), so that `--records` on the
//! folder gives the same analysis. The files are written under temporary
//! names and moved into place only when the run succeeds, so a run that fails (a full disk, an
//! unreadable input) never leaves a half-written file where an earlier complete one was. A
//! capture damaged part-way is not such a failure: what was read before the damage is
//! written, as the analysis reports it.

use super::{events, flows};
use crate::cli::FlowFormat;
use engine::extract::EVENT_TYPES;
use engine::model::{AppEvent, EventKind, FlowRecord};
use engine::pipeline::FlowSink;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The names of the dataset's files, in the order they are opened: flows, facts, then one
/// per event type (`dns.jsonl`, ... in [`EventKind`] order).
pub fn files() -> Vec<String> {
    let mut v = vec!["flows.jsonl".to_string(), "facts.jsonl".to_string()];
    v.extend(EVENT_TYPES.iter().map(|t| format!("{}.jsonl", t.name)));
    v
}

/// Index in [`files`] of the facts file and of the first event file.
const FACTS: usize = 1;
const EVENTS: usize = 2;

type Out = BufWriter<File>;

/// A sink writing the dataset (see the module docs). Nothing is created until the first
/// sensor begins, so inputs refused before the run leave no trace in the folder.
pub struct Export {
    dir: PathBuf,
    /// Put between each file's name and `.jsonl` (a live run's rotation: `_00002_...`).
    tag: String,
    open: Option<Files>,
    /// Per file of [`files`]: where it is written, and where it goes at the end.
    paths: Vec<(PathBuf, PathBuf)>,
    finished: bool,
}

struct Files {
    flows: flows::Writer<Out>,
    /// One per event type, as [`EventKind`] numbers them.
    events: Vec<events::Writer<Out>>,
    /// One line per flow, in the flows' order (see `engine::schema::FlowFacts`).
    facts: Out,
}

impl Export {
    /// A dataset to be written into `dir` (created if needed).
    pub fn new(dir: &Path) -> Export {
        Export::tagged(dir, "")
    }

    /// A dataset whose files are named `flows{tag}.jsonl`, ... (one part of a rotated series).
    pub fn tagged(dir: &Path, tag: &str) -> Export {
        Export { dir: dir.to_path_buf(), tag: tag.to_string(), open: None, paths: Vec::new(), finished: false }
    }

    /// The final name of file `i` of [`files`].
    fn name(&self, i: usize) -> String {
        let n = &files()[i];
        format!("{}{}.jsonl", n.trim_end_matches(".jsonl"), self.tag)
    }

    /// Opens the files (under temporary names), once.
    fn files(&mut self) -> io::Result<&mut Files> {
        if self.open.is_none() {
            let dir = &self.dir;
            std::fs::create_dir_all(dir)
                .map_err(|e| io::Error::new(e.kind(), format!("--export {}: {e}", dir.display())))?;
            let names: Vec<String> = (0..files().len()).map(|i| self.name(i)).collect();
            // A part of a rotated series is being written while it is read (a live run):
            // visible as NAME.partial, as the capture files are; a one-off export stays hidden.
            let partial = !self.tag.is_empty();
            let paths = &mut self.paths;
            let mut open = |name: &str| -> io::Result<Out> {
                let tmp = if partial { format!("{name}.partial") } else { format!(".{name}.v6watch-tmp") };
                let (tmp, done) = (dir.join(tmp), dir.join(name));
                let f = File::create(&tmp)
                    .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", tmp.display())))?;
                paths.push((tmp, done));
                Ok(BufWriter::with_capacity(1 << 16, f))
            };
            let flows = flows::Writer::new(open(&names[0])?, FlowFormat::Jsonl);
            let facts = open(&names[FACTS])?;
            let mut events = Vec::with_capacity(EventKind::ALL.len());
            for k in EventKind::ALL {
                events.push(events::Writer::new(open(&names[EVENTS + k as usize])?, FlowFormat::Jsonl, k));
            }
            self.open = Some(Files { flows, events, facts });
        }
        Ok(self.open.as_mut().expect("opened above"))
    }

    /// Runs `f` on the open files, naming file `i` of [`files`] in its error.
    fn with(&mut self, i: usize, f: impl FnOnce(&mut Files) -> io::Result<()>) -> io::Result<()> {
        let r = f(self.files()?);
        r.map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", self.dir.join(self.name(i)).display())))
    }
}

impl FlowSink for Export {
    fn begin(&mut self, _sensor: &str) -> io::Result<()> {
        self.files().map(|_| ())
    }

    fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> io::Result<()> {
        self.with(0, |f| f.flows.flow(sensor, rec))?;
        self.with(FACTS, |f| {
            serde_json::to_writer(&mut f.facts, &engine::schema::FlowFacts::of(sensor, rec))?;
            f.facts.write_all(b"\n")
        })
    }

    fn event(&mut self, sensor: &str, ev: &AppEvent) -> io::Result<()> {
        let i = ev.kind() as usize;
        self.with(EVENTS + i, |f| f.events[i].event(sensor, ev))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.with(0, |f| f.flows.flush())?;
        self.with(FACTS, |f| f.facts.flush())?;
        for i in 0..EventKind::ALL.len() {
            self.with(EVENTS + i, |f| f.events[i].flush())?;
        }
        Ok(())
    }

    /// Everything written: each file is moved over its final name.
    fn finish(&mut self) -> io::Result<()> {
        self.with(0, |f| f.flows.finish())?;
        self.with(FACTS, |f| f.facts.flush())?;
        for i in 0..EventKind::ALL.len() {
            self.with(EVENTS + i, |f| f.events[i].finish())?;
        }
        for (tmp, done) in &self.paths {
            std::fs::rename(tmp, done)
                .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", done.display())))?;
        }
        self.finished = true;
        Ok(())
    }
}

impl Drop for Export {
    /// A run that did not finish leaves no temporary files behind.
    fn drop(&mut self) {
        if !self.finished {
            for (tmp, _) in &self.paths {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

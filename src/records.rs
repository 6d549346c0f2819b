//! Stored records as input (`--records FILE...`): the flow, event and facts lines that
//! `flows`, `dns`, `http`, `tls` (`--format jsonl`) and `--export` write, read back and fed to
//! the same sinks the captures feed, so an analysis can be made again from a dataset without
//! the captures. Files are streamed: a flows file and its facts file (same order, one line per
//! flow) are read side by side, so memory does not grow with the files.

use anyhow::{bail, Context, Result};
use engine::pipeline::FlowSink;
use engine::schema::{read_line, FlowFacts, Stored};
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Flows,
    Events,
    Facts,
}

type Reader = Lines<BufReader<std::fs::File>>;

fn open(path: &Path) -> Result<Reader> {
    let f = std::fs::File::open(path).with_context(|| format!("--records {}", path.display()))?;
    Ok(BufReader::with_capacity(1 << 16, f).lines())
}

/// The kind of a file's lines (from its first one; every line is checked as it is read).
fn kind_of(path: &Path) -> Result<Option<Kind>> {
    for (i, line) in open(path)?.enumerate() {
        let Ok(line) = line else { bail!("{}: line {}: not a v6watch record (not UTF-8 text)", path.display(), i + 1) };
        if line.trim().is_empty() {
            continue;
        }
        let k = match read_line(&line) {
            Ok(Stored::Flow(..)) => Kind::Flows,
            Ok(Stored::Event(..)) => Kind::Events,
            Ok(Stored::Facts(_)) => Kind::Facts,
            Err(e) => bail!("{}: line {}: not a v6watch record ({e})", path.display(), i + 1),
        };
        return Ok(Some(k));
    }
    Ok(None)
}

/// Feeds every record of `paths` to `sink`: flows (completed by their facts) first, then
/// events. Returns how many lines were read.
pub fn run(paths: &[PathBuf], sink: &mut dyn FlowSink) -> Result<u64> {
    // Folders: a Parquet dataset (`export`), or a folder of JSON Lines (`--export`).
    let (mut files, mut datasets) = (Vec::new(), Vec::new());
    for p in paths {
        if !p.is_dir() {
            files.push(p.clone());
        } else if crate::dataset::read::is_dataset(p) {
            datasets.push(p);
        } else {
            let mut jsonl: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("--records {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "jsonl") && f.is_file())
                .collect();
            if jsonl.is_empty() {
                bail!(
                    "--records {}: not a v6watch dataset (no {} folder of Parquet files, no .jsonl records)",
                    p.display(),
                    crate::dataset::datasets().join("/, ")
                );
            }
            jsonl.sort();
            files.extend(jsonl);
        }
    }
    let paths = &files;
    let (mut flows, mut facts, mut events) = (Vec::new(), Vec::new(), Vec::new());
    for p in paths {
        match kind_of(p)? {
            Some(Kind::Flows) => flows.push(p),
            Some(Kind::Facts) => facts.push(p),
            Some(Kind::Events) => events.push(p),
            None => {}
        }
    }
    if !facts.is_empty() && facts.len() != flows.len() {
        bail!(
            "--records: {} flows files but {} facts files: give each flows.jsonl with its facts.jsonl",
            flows.len(),
            facts.len()
        );
    }
    let mut begun: Vec<String> = Vec::new();
    let mut begin = |sink: &mut dyn FlowSink, sensor: &str| -> Result<()> {
        if !begun.iter().any(|s| s == sensor) {
            begun.push(sensor.to_string());
            sink.begin(sensor)?;
        }
        Ok(())
    };
    let mut n = 0u64;
    for root in datasets {
        n += crate::dataset::read::run(root, sink, &mut begin)?;
    }
    for (k, path) in flows.iter().enumerate() {
        let mut side = facts.get(k).map(|p| open(p).map(|r| (p, r, 0usize))).transpose()?;
        for (i, line) in open(path)?.enumerate() {
            let at = || format!("{}: line {}", path.display(), i + 1);
            let line = line.with_context(at)?;
            if line.trim().is_empty() {
                continue;
            }
            let (sensor, mut rec) = match read_line(&line) {
                Ok(Stored::Flow(sensor, rec)) => (sensor, rec),
                Ok(_) => bail!("{}: not a flow record (a flows file holds flow lines only)", at()),
                Err(e) => bail!("{}: {e}", at()),
            };
            if let Some((fp, r, j)) = side.as_mut() {
                let f = next_facts(fp, r, j)?;
                if f.sensor != sensor {
                    bail!("{}: its facts line ({}: line {j}) is another sensor's", at(), fp.display());
                }
                f.apply(&mut rec).map_err(|e| anyhow::anyhow!("{}: {e} ({}: line {j})", at(), fp.display()))?;
            }
            begin(sink, &sensor)?;
            sink.flow(&sensor, &rec)?;
            n += 1;
        }
        if let Some((fp, r, j)) = side.as_mut() {
            if r.any(|l| l.as_ref().map_or(true, |l| !l.trim().is_empty())) {
                bail!("{}: more facts than {} has flows (line {})", fp.display(), path.display(), *j + 1);
            }
        }
    }
    for path in &events {
        for (i, line) in open(path)?.enumerate() {
            let at = || format!("{}: line {}", path.display(), i + 1);
            let line = line.with_context(at)?;
            if line.trim().is_empty() {
                continue;
            }
            let (sensor, ev) = match read_line(&line) {
                Ok(Stored::Event(sensor, ev)) => (sensor, ev),
                Ok(_) => bail!("{}: not an event (an events file holds dns, http or tls lines only)", at()),
                Err(e) => bail!("{}: {e}", at()),
            };
            begin(sink, &sensor)?;
            if sink.wants(ev.kind()) {
                sink.event(&sensor, &ev)?;
            }
            n += 1;
        }
    }
    sink.flush()?;
    Ok(n)
}

fn next_facts(path: &Path, r: &mut Reader, j: &mut usize) -> Result<FlowFacts> {
    loop {
        *j += 1;
        let Some(line) = r.next() else { bail!("{}: fewer facts than flows (ends at line {j})", path.display()) };
        let line = line.with_context(|| format!("{}: line {j}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        return match read_line(&line) {
            Ok(Stored::Facts(f)) => Ok(f),
            Ok(_) => bail!("{}: line {j}: not a facts line", path.display()),
            Err(e) => bail!("{}: line {j}: {e}", path.display()),
        };
    }
}

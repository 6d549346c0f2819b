//! What `live` writes while traffic arrives: a sink in front of the analysis that passes every
//! record on, writes flows (and, with `--out`, every record type) as they end, and, when the
//! engine flushes (the input paused or a batch was taken), does the periodic work: findings
//! newly raised or escalated, the Prometheus textfile every `--every`, and at each rotation the
//! records' files and the report.

use super::capture::Handles;
use super::ring::Counters;
use crate::cli::LiveArgs;
use crate::dataset::write::{Mode, Writer as DatasetWriter};
use crate::output::{export::Export, flows, health};
use anyhow::{Context, Result};
use engine::analysis::{Analysis, Settings};
use engine::analyze::health::{Finding, HealthReport};
use engine::model::{AppEvent, EventKind, FlowRecord};
use engine::pipeline::{FlowSink, SensorSummary};
use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

type Stdout = BufWriter<io::Stdout>;

pub struct LiveSink<'a> {
    analysis: &'a mut Analysis,
    settings: &'a Settings,
    sensor: String,
    ifaces: Vec<String>,
    /// Flows on standard output (without `--out`).
    stdout: Option<flows::Writer<Stdout>>,
    /// Every record type into `--out DIR`, one part per rotation.
    out: Option<(PathBuf, Export)>,
    /// Every record type as Parquet datasets into `--dataset DIR`, parts added per rotation.
    dataset: Option<(PathBuf, DatasetWriter)>,
    /// `--out DIR/findings.jsonl`, appended as findings are raised.
    findings_file: Option<BufWriter<std::fs::File>>,
    /// Severity last reported per finding identifier.
    reported: HashMap<(String, String), engine::analyze::health::Severity>,
    prometheus: Option<PathBuf>,
    top_services: usize,
    report: Option<(PathBuf, Option<PathBuf>)>,
    every: Duration,
    last: Instant,
    handles: Handles,
    generation: u64,
    /// Rotations of the records so far.
    parts: u32,
    /// TCP flows, and those with bytes missing (Zeek's capture loss: gaps the sensor did not
    /// see although the endpoints acknowledged them); payload bytes and missed bytes.
    tcp_flows: u64,
    gap_flows: u64,
    tcp_bytes: u64,
    missed: u64,
    /// The last probe round's metrics (`--probe-every`), written with the others.
    pub probe_metrics: Option<std::sync::Arc<std::sync::Mutex<String>>>,
}

impl<'a> LiveSink<'a> {
    pub fn new(
        analysis: &'a mut Analysis,
        args: &LiveArgs,
        settings: &'a Settings,
        sensor: &str,
        handles: Handles,
        every: Duration,
        ifaces: &[String],
    ) -> Result<LiveSink<'a>> {
        let (stdout, out, findings_file) = match &args.out {
            None => (Some(flows::Writer::new(BufWriter::new(io::stdout()), args.format)), None, None),
            Some(dir) => {
                std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
                let f = dir.join("findings.jsonl");
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&f)
                    .with_context(|| format!("writing {}", f.display()))?;
                (None, Some((dir.clone(), Export::tagged(dir, &part_tag(1)))), Some(BufWriter::new(file)))
            }
        };
        let dataset = args.dataset.as_ref().map(|d| (d.clone(), DatasetWriter::new(d, Mode::Append(dataset_tag(1)))));
        Ok(LiveSink {
            dataset,
            analysis,
            settings,
            sensor: sensor.to_string(),
            ifaces: ifaces.to_vec(),
            stdout,
            out,
            findings_file,
            reported: HashMap::new(),
            prometheus: args.prometheus.clone(),
            top_services: args.top_services,
            report: args.report.clone().map(|r| (r, args.json.clone())),
            every,
            last: Instant::now(),
            handles,
            generation: 0,
            parts: 1,
            tcp_flows: 0,
            gap_flows: 0,
            tcp_bytes: 0,
            missed: 0,
            probe_metrics: None,
        })
    }

    /// Capture loss inferred from TCP gaps: (flows with gaps, TCP flows, missed bytes, bytes).
    pub fn capture_loss(&self) -> (u64, u64, u64, u64) {
        (self.gap_flows, self.tcp_flows, self.missed, self.tcp_bytes)
    }

    /// Findings raised (or made more severe) since the last call: a JSON line each in
    /// `--out DIR/findings.jsonl` and a line on stderr.
    fn new_findings(&mut self, h: &HealthReport) -> io::Result<()> {
        for f in &h.findings {
            let key = (f.sensor.clone(), f.identifier.clone());
            if self.reported.get(&key).is_some_and(|s| *s >= f.severity) {
                continue;
            }
            self.reported.insert(key, f.severity);
            announce(f);
            if let Some(w) = self.findings_file.as_mut() {
                health::finding_line(w, f)?;
                w.flush()?;
            }
        }
        Ok(())
    }

    fn metrics(&self, h: &HealthReport) -> io::Result<()> {
        let Some(path) = &self.prometheus else { return Ok(()) };
        let mut text = health::prometheus(h, self.top_services);
        text.push_str(&capture_metrics(&self.sensor, &self.ifaces, &self.handles.stats.counters(), self));
        if let Some(m) = &self.probe_metrics {
            text.push_str(&m.lock().unwrap_or_else(|e| e.into_inner()));
        }
        crate::output::replace_whole(path, text.as_bytes())
            .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
    }

    /// The periodic work (see the module docs).
    fn periodic(&mut self) -> io::Result<()> {
        let rotated = self.handles.rotation.load(Ordering::SeqCst);
        let rotate = rotated != self.generation;
        if rotate {
            self.generation = rotated;
            if let Some((dir, export)) = self.out.as_mut() {
                export.finish()?;
                self.parts += 1;
                *export = Export::tagged(dir, &part_tag(self.parts));
                export.begin(&self.sensor)?;
            }
            if let Some((dir, w)) = self.dataset.as_mut() {
                w.finish()?;
                *w = DatasetWriter::new(dir, Mode::Append(dataset_tag(self.parts)));
            }
        }
        if !(rotate || self.last.elapsed() >= self.every) {
            return Ok(());
        }
        self.last = Instant::now();
        let report = self.analysis.snapshot();
        self.new_findings(&report.health)?;
        self.metrics(&report.health)?;
        if rotate {
            if let Some((html, json)) = &self.report {
                crate::commands::write_report(&report, self.settings, html, json.as_deref())
                    .map_err(io::Error::other)?;
            }
        }
        Ok(())
    }

    /// The end: the records' last part closed, findings, metrics and the report final (with
    /// the capture statistics, when the engine gave them).
    pub fn finish_all(&mut self, summary: Option<SensorSummary>) -> Result<()> {
        if let Some(w) = self.stdout.as_mut() {
            w.finish()?;
        }
        if let Some((_, export)) = self.out.as_mut() {
            export.finish()?;
        }
        if let Some((_, w)) = self.dataset.as_mut() {
            w.finish()?;
        }
        let mut report = self.analysis.snapshot();
        if let Some(s) = summary {
            report = report.with_capture(vec![s]);
        }
        self.new_findings(&report.health)?;
        self.metrics(&report.health)?;
        if let Some((html, json)) = &self.report {
            crate::commands::write_report(&report, self.settings, html, json.as_deref())?;
            eprintln!("v6watch: wrote {}", html.display());
        }
        Ok(())
    }
}

/// The records' file tag of part `n` (`flows_00002_20261204153000.jsonl`).
fn part_tag(n: u32) -> String {
    format!("_{}", dataset_tag(n))
}

/// The datasets' part tag of rotation `n` (`part-00002_20261204153000-0.parquet`).
fn dataset_tag(n: u32) -> String {
    format!("{n:05}_{}", super::ring::stamp(super::capture::now_ns()))
}

/// A finding as one line on stderr (strings from packets made safe for a terminal).
fn announce(f: &Finding) {
    eprintln!(
        "v6watch: {} {} [{}] {}",
        f.severity.name(),
        f.note.trim_start_matches("V6Mon::"),
        crate::output::term::clean(&f.sensor),
        crate::output::term::clean(&f.msg)
    );
}

/// Prometheus lines for the capture: per interface, packets captured, received and dropped
/// (by the kernel and by the interface), and the capture loss inferred from TCP gaps.
fn capture_metrics(sensor: &str, ifaces: &[String], counters: &[Counters], s: &LiveSink<'_>) -> String {
    let lv = health::lv;
    let sensor = lv(sensor);
    let mut t = String::new();
    // One counter family: its help, then a sample per (labels, value).
    let mut family = |name: &str, help: &str, samples: Vec<(String, u64)>| {
        t.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
        for (labels, n) in samples {
            t.push_str(&format!("{name}{{sensor=\"{sensor}\"{labels}}} {n}\n"));
        }
    };
    let per_iface = |extra: &str, value: &dyn Fn(&Counters) -> u64| -> Vec<(String, u64)> {
        ifaces.iter().zip(counters).map(|(i, c)| (format!(",interface=\"{}\"{extra}", lv(i)), value(c))).collect()
    };
    family(
        "v6watch_capture_packets_total",
        "Packets captured (handed to v6watch and written).",
        per_iface("", &|c| c.captured),
    );
    family(
        "v6watch_capture_bytes_total",
        "Bytes captured (as kept: at most the snapshot length of each packet).",
        vec![(String::new(), s.handles.stats.bytes())],
    );
    family(
        "v6watch_capture_received_total",
        "Packets the kernel passed to the capture (libpcap ps_recv).",
        per_iface("", &|c| c.received),
    );
    let mut dropped = per_iface(",source=\"kernel\"", &|c| c.kernel_dropped);
    dropped.extend(per_iface(",source=\"interface\"", &|c| c.if_dropped));
    family(
        "v6watch_capture_dropped_total",
        "Packets dropped: source=kernel (capture buffer full), interface (driver).",
        dropped,
    );
    family(
        "v6watch_capture_tcp_gap_bytes_total",
        "TCP payload bytes acknowledged but never seen (capture loss, as Zeek's).",
        vec![(String::new(), s.missed)],
    );
    family(
        "v6watch_capture_tcp_bytes_total",
        "TCP payload bytes of the flows written.",
        vec![(String::new(), s.tcp_bytes)],
    );
    t
}

/// The end of a capture on stderr, as tcpdump prints it, per interface; then the capture loss
/// the TCP gaps show.
pub fn print_statistics(ifaces: &[String], counters: &[Counters], loss: (u64, u64, u64, u64)) {
    for (i, c) in ifaces.iter().zip(counters) {
        eprintln!(
            "{i}: {} packets captured, {} received by filter, {} dropped by kernel, {} dropped by interface",
            c.captured, c.received, c.kernel_dropped, c.if_dropped
        );
    }
    let (gap_flows, tcp_flows, missed, bytes) = loss;
    let pct = if bytes + missed > 0 { 100.0 * missed as f64 / (bytes + missed) as f64 } else { 0.0 };
    eprintln!(
        "TCP gaps: {missed} bytes never seen in {gap_flows} of {tcp_flows} connections ({pct:.3}% capture loss inferred)"
    );
}

impl FlowSink for LiveSink<'_> {
    fn begin(&mut self, sensor: &str) -> io::Result<()> {
        if let Some(w) = self.stdout.as_mut() {
            w.begin(sensor)?;
        }
        if let Some((_, e)) = self.out.as_mut() {
            e.begin(sensor)?;
        }
        self.analysis.begin(sensor)
    }

    fn end(&mut self, summary: &SensorSummary) -> io::Result<()> {
        self.analysis.end(summary)
    }

    fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> io::Result<()> {
        if rec.ip_proto == 6 {
            self.tcp_flows += 1;
            let missed = rec.orig.missed_bytes + rec.resp.missed_bytes;
            self.gap_flows += u64::from(missed > 0);
            self.missed += missed;
            self.tcp_bytes += rec.orig.bytes + rec.resp.bytes;
        }
        if let Some(w) = self.stdout.as_mut() {
            w.flow(sensor, rec)?;
        }
        if let Some((_, e)) = self.out.as_mut() {
            e.flow(sensor, rec)?;
        }
        if let Some((_, w)) = self.dataset.as_mut() {
            w.flow(sensor, rec)?;
        }
        self.analysis.flow(sensor, rec)
    }

    fn event(&mut self, sensor: &str, ev: &AppEvent) -> io::Result<()> {
        if let Some((_, e)) = self.out.as_mut() {
            e.event(sensor, ev)?;
        }
        if let Some((_, w)) = self.dataset.as_mut() {
            w.event(sensor, ev)?;
        }
        if self.analysis.wants(ev.kind()) {
            self.analysis.event(sensor, ev)?;
        }
        Ok(())
    }

    /// Events go to the records' files (all kinds) and to the analysis (the kinds it reads);
    /// flows on standard output need none beyond those.
    fn wants(&self, kind: EventKind) -> bool {
        self.out.is_some() || self.dataset.is_some() || self.analysis.wants(kind)
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(w) = self.stdout.as_mut() {
            w.flush()?;
        }
        if let Some((_, e)) = self.out.as_mut() {
            e.flush()?;
        }
        self.periodic()
    }

    /// The end is [`LiveSink::finish_all`]'s (it needs the capture's summary).
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

//! A report of everything so far while a pipe is still being read: a sink in front of the
//! analysis that passes every record on and, when the input pauses (the engine flushes its
//! sinks then) and the interval has passed on the wall clock, writes the analysis's snapshot
//! to the report's files, each replaced whole.

use engine::analysis::{Analysis, Settings};
use engine::model::{AppEvent, EventKind, FlowRecord};
use engine::pipeline::{FlowSink, SensorSummary};
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Snapshots<'a> {
    analysis: &'a mut Analysis,
    every: Duration,
    last: Instant,
    settings: &'a Settings,
    html: &'a Path,
    json: Option<&'a Path>,
    /// Capture statistics of the sensors whose input ended.
    ended: Vec<SensorSummary>,
}

impl<'a> Snapshots<'a> {
    /// Snapshots of `analysis` every `every`, to `html` (and `json`).
    pub fn new(
        analysis: &'a mut Analysis,
        every: Duration,
        settings: &'a Settings,
        html: &'a Path,
        json: Option<&'a Path>,
    ) -> Self {
        Snapshots { analysis, every, last: Instant::now(), settings, html, json, ended: Vec::new() }
    }
}

impl FlowSink for Snapshots<'_> {
    fn begin(&mut self, sensor: &str) -> std::io::Result<()> {
        self.analysis.begin(sensor)
    }

    fn end(&mut self, summary: &SensorSummary) -> std::io::Result<()> {
        self.ended.push(summary.clone());
        self.analysis.end(summary)
    }

    fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> std::io::Result<()> {
        self.analysis.flow(sensor, rec)
    }

    fn event(&mut self, sensor: &str, ev: &AppEvent) -> std::io::Result<()> {
        self.analysis.event(sensor, ev)
    }

    fn wants(&self, kind: EventKind) -> bool {
        self.analysis.wants(kind)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.last.elapsed() < self.every {
            return Ok(());
        }
        self.last = Instant::now();
        let report = self.analysis.snapshot().with_capture(self.ended.clone());
        crate::commands::write_report(&report, self.settings, self.html, self.json).map_err(std::io::Error::other)
    }

    /// The final report is the caller's (with every sensor's statistics).
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

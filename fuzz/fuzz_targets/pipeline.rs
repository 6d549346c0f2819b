//! Any bytes behind a pcap header, through the whole engine: decode, flows, sensor inference,
//! events — with one worker and with two, whose output must be the same byte for byte (two
//! workers also write the end of input's records themselves, through the sink's formatter);
//! then, with the summary's tallies on and a sink that does not format, the records and the
//! whole summary (two workers complete and count the end of input's records themselves).
#![no_main]
use libfuzzer_sys::fuzz_target;

mod common;
use engine::model::{AppEvent, FlowRecord};
use engine::pipeline::{run_sensor, FlowSink, Options, RecordFormat, SensorInput};

/// Every record and event as text (records through the same formatter the workers use, when
/// the second field says it formats).
#[derive(Default)]
struct Text(Vec<u8>, bool);

struct Debug;

impl RecordFormat for Debug {
    fn format(&self, rec: &FlowRecord, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{rec:?}\n").as_bytes());
    }
}

impl FlowSink for Text {
    fn flow(&mut self, _: &str, rec: &FlowRecord) -> std::io::Result<()> {
        Debug.format(rec, &mut self.0);
        Ok(())
    }
    fn event(&mut self, _: &str, ev: &AppEvent) -> std::io::Result<()> {
        self.0.extend_from_slice(format!("{ev:?}\n").as_bytes());
        Ok(())
    }
    fn formatter(&self, _: &str) -> Option<Box<dyn RecordFormat>> {
        self.1.then(|| Box::new(Debug) as Box<dyn RecordFormat>)
    }
    fn formatted(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let path = common::pcap_file("p", data);
    let input = SensorInput { name: "fuzz".into(), paths: vec![path], addrs: vec![] };
    let run = |threads: usize| {
        let opts = Options { keep_going: true, threads, no_tally: true, ..Options::default() };
        let mut sink = Text(Vec::new(), true);
        let summary = run_sensor(&input, &opts, &mut sink, &mut |_| {});
        (summary.map(|s| (s.frames, s.flows, s.anomalies)).map_err(|e| e.to_string()), sink.0)
    };
    let one = run(1);
    let two = run(2);
    assert!(one == two, "one and two workers differ");
    let tallied = |threads: usize| {
        let opts = Options { keep_going: true, threads, ..Options::default() };
        let mut sink = Text::default();
        let summary = run_sensor(&input, &opts, &mut sink, &mut |_| {});
        (summary.map(|s| format!("{s:?}")).map_err(|e| e.to_string()), sink.0)
    };
    assert!(tallied(1) == tallied(2), "one and two workers differ, tallies on");
});

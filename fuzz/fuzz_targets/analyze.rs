//! Any bytes behind a pcap header, through the whole engine and the whole analysis (the sink
//! behind `report`): flows and events feed the IPv6-health rules, the timeline, the peers and
//! the application aggregates, and the report must finish and serialise without panicking
//! whatever the packets claim.
#![no_main]
use engine::analysis::{Analysis, Settings};
use engine::analyze::{addr, health, peers};
use engine::classify::Event;
use engine::pipeline::{run_sensor, Options, SensorInput};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::pcap_file("a", data);
    let input = SensorInput { name: "fuzz".into(), paths: vec![path], addrs: vec![] };
    let opts = Options { keep_going: true, ..Options::default() };
    let settings = Settings {
        tz: jiff::tz::TimeZone::UTC,
        tz_name: "UTC".into(),
        bucket_ns: None,
        events: vec![Event { name: "e".into(), start: 0, end: 1_000_000_000 }],
        rules: vec![],
        exclude: vec![],
        health: health::Params::default(),
        enrichers: vec![],
        intel: addr::Intel::builtin(),
        indicators: None,
    };
    let mut analysis = Analysis::new(settings);
    let sum = run_sensor(&input, &opts, &mut analysis, &mut |_| {});
    let report = analysis.finish().with_capture(sum.into_iter().collect());
    assert!(report.timeline.buckets <= 1 << 24 || report.timeline.series.is_empty());
    let _ = peers::group(&report.peers, |x| Some(peers::prefix(&x.addr, 64)));
    assert!(serde_json::to_vec(&report).is_ok());
});

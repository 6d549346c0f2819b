//! Any bytes behind a pcap header, through the whole engine: decode, flows, sensor inference.
#![no_main]
use libfuzzer_sys::fuzz_target;

mod common;
use engine::pipeline::{run_sensor, NullSink, Options, SensorInput};

fuzz_target!(|data: &[u8]| {
    let path = common::pcap_file("p", data);
    let input = SensorInput { name: "fuzz".into(), paths: vec![path], addrs: vec![] };
    let opts = Options { keep_going: true, ..Options::default() };
    let _ = run_sensor(&input, &opts, &mut NullSink, &mut |_| {});
});

//! Any bytes behind a pcap header, through the whole engine: decode, flows, sensor inference,
//! with one worker or two.
#![no_main]
use libfuzzer_sys::fuzz_target;

mod common;
use engine::pipeline::{run_sensor, NullSink, Options, SensorInput};

fuzz_target!(|data: &[u8]| {
    let path = common::pcap_file("p", data);
    let input = SensorInput { name: "fuzz".into(), paths: vec![path], addrs: vec![] };
    // Odd first byte: two workers sharing the reading and the flows; even: the serial path.
    let threads = if data.first().is_some_and(|b| b & 1 == 1) { 2 } else { 1 };
    let opts = Options { keep_going: true, threads, ..Options::default() };
    let _ = run_sensor(&input, &opts, &mut NullSink, &mut |_| {});
});

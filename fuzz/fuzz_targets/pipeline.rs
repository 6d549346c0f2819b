//! Any bytes behind a pcap header, through the whole engine: decode, flows, sensor inference.
#![no_main]
use libfuzzer_sys::fuzz_target;
use engine::pipeline::{run_sensor, NullSink, Options, SensorInput};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("v6watch-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("in.pcap");
    let mut file = Vec::with_capacity(24 + data.len());
    file.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    file.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0]);
    file.extend_from_slice(data);
    std::fs::write(&path, &file).unwrap();
    let input = SensorInput { name: "fuzz".into(), paths: vec![path], addrs: vec![] };
    let opts = Options { keep_going: true, ..Options::default() };
    let _ = run_sensor(&input, &opts, &mut NullSink, &mut |_| {});
});

//! Any bytes behind a pcap header, through the whole engine and every analysis: flows and
//! events feed the IPv6-health rules, the timeline and the peers, which must finish without
//! panicking whatever the packets claim.
#![no_main]
use engine::analyze::{health, peers, timeline};
use engine::model::{AppEvent, FlowRecord};
use engine::pipeline::{run_sensor, FlowSink, Options, SensorInput};
use libfuzzer_sys::fuzz_target;

mod common;

struct Sink {
    health: health::Health,
    timeline: timeline::TimelineAcc,
    peers: peers::PeersAcc,
}

impl FlowSink for Sink {
    fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> std::io::Result<()> {
        self.health.flow(sensor, rec);
        self.timeline.flow(sensor, rec, "");
        self.peers.flow(sensor, rec, "");
        Ok(())
    }
    fn event(&mut self, sensor: &str, ev: &AppEvent) -> std::io::Result<()> {
        self.health.event(sensor, ev);
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let path = common::pcap_file("a", data);
    let input = SensorInput { name: "fuzz".into(), paths: vec![path], addrs: vec![] };
    let opts = Options { keep_going: true, ..Options::default() };
    let mut sink = Sink {
        health: health::Health::default(),
        timeline: timeline::TimelineAcc::new(None),
        peers: peers::PeersAcc::new(vec![(0, 1_000_000_000), (1_000_000_000, 2_000_000_000)]),
    };
    if let Ok(sum) = run_sensor(&input, &opts, &mut sink, &mut |_| {}) {
        let addrs: Vec<_> = sum.sensor_addrs.iter().map(|a| a.addr).collect();
        sink.health.sensor_addrs("fuzz", &addrs);
    }
    let _ = sink.health.finish(&health::Params::default());
    let tl = sink.timeline.finish(None, 0);
    assert!(tl.buckets <= 1 << 24 || tl.series.is_empty());
    let p = sink.peers.finish();
    let _ = peers::group(&p, |x| Some(peers::prefix(&x.addr, 64)));
});

//! Sinks: the lifecycle calls arrive in order, `Tee` gives both sinks the whole run (each the
//! event kinds it asked for), and lent or boxed sinks behave as the sink itself.

use std::net::IpAddr;
use synth::{flags::*, Builder, Encap, L4};
use v6watch_engine::model::{AppEvent, EventKind, FlowRecord};
use v6watch_engine::pipeline::{run_source, FlowSink, Options, SensorSummary, Tee};
use v6watch_engine::source::MemorySource;

/// Every call, as text.
#[derive(Default)]
struct Log {
    calls: Vec<String>,
    /// Event kinds it reads (none: every kind).
    only: Option<EventKind>,
}

impl FlowSink for Log {
    fn begin(&mut self, sensor: &str) -> std::io::Result<()> {
        self.calls.push(format!("begin {sensor}"));
        Ok(())
    }
    fn end(&mut self, s: &SensorSummary) -> std::io::Result<()> {
        self.calls.push(format!("end {} {} frames", s.sensor, s.frames));
        Ok(())
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.calls.push("finish".into());
        Ok(())
    }
    fn flow(&mut self, _: &str, rec: &FlowRecord) -> std::io::Result<()> {
        self.calls.push(format!("flow {}", rec.uid));
        Ok(())
    }
    fn event(&mut self, _: &str, ev: &AppEvent) -> std::io::Result<()> {
        assert!(self.wants(ev.kind()), "got an event it did not ask for");
        self.calls.push(format!("event {:?}", ev.kind()));
        Ok(())
    }
    fn wants(&self, kind: EventKind) -> bool {
        self.only.is_none_or(|k| k == kind)
    }
}

/// A DNS exchange and an HTTP request on a closed connection.
fn frames() -> Vec<(i64, u32, Vec<u8>)> {
    let mut b = Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let (c, s): (IpAddr, IpAddr) = ("2001:db8::10".parse().unwrap(), "2001:db8:1::80".parse().unwrap());
    let mut out = Vec::new();
    let mut ts = 1_307_000_000_000_000_000i64;
    let mut put = |src: IpAddr, dst: IpAddr, l4: L4<'_>| {
        ts += 1_000_000;
        out.push((ts, 1, b.frame(src, dst, &l4, Encap::None, 1).to_vec()));
    };
    let q = synth::dns_message(7, "www.example.com", 28, &[], false);
    let a = synth::dns_message(7, "www.example.com", 28, &[s], true);
    put(c, s, L4::Udp { sport: 5353, dport: 53, payload: &q });
    put(s, c, L4::Udp { sport: 53, dport: 5353, payload: &a });
    let req = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
    let n = req.len() as u32;
    put(c, s, L4::tcp(40000, 80, 100, 0, SYN, 1440, &[]));
    put(s, c, L4::tcp(80, 40000, 500, 101, SYN | ACK, 1440, &[]));
    put(c, s, L4::tcp(40000, 80, 101, 501, ACK | PSH, 1440, req));
    put(c, s, L4::tcp(40000, 80, 101 + n, 501, FIN | ACK, 1440, &[]));
    put(s, c, L4::tcp(80, 40000, 501, 102 + n, FIN | ACK, 1440, &[]));
    put(c, s, L4::tcp(40000, 80, 102 + n, 502, ACK, 1440, &[]));
    out
}

fn run(sink: &mut dyn FlowSink, threads: usize) {
    for name in ["a", "b"] {
        let mut src = MemorySource::new(frames(), 3);
        let opts = Options { threads, ..Options::default() };
        run_source(name, &[], &mut src, &opts, sink, &mut |_| {}).expect("run");
    }
    sink.finish().expect("finish");
}

#[test]
fn lifecycle_calls_come_in_order() {
    for threads in [1, 2] {
        let mut log = Log::default();
        run(&mut log, threads);
        let c = &log.calls;
        assert_eq!(c.first().map(String::as_str), Some("begin a"), "{c:?}");
        assert_eq!(c.last().map(String::as_str), Some("finish"), "{c:?}");
        let at = |s: &str| c.iter().position(|x| x == s).unwrap_or_else(|| panic!("{s} in {c:?}"));
        assert!(at("end a 8 frames") < at("begin b") && at("begin b") < at("end b 8 frames"), "{c:?}");
        let flows = c.iter().filter(|x| x.starts_with("flow ")).count();
        assert_eq!(flows, 4, "two flows per sensor: {c:?}");
        for kind in ["Dns", "Http"] {
            assert_eq!(c.iter().filter(|x| **x == format!("event {kind}")).count(), 2, "{kind}: {c:?}");
        }
    }
}

#[test]
fn a_tee_gives_both_sinks_the_whole_run() {
    let mut alone = Log::default();
    run(&mut alone, 2);
    let mut dns_only = Log { only: Some(EventKind::Dns), ..Log::default() };
    run(&mut dns_only, 2);

    // Lent, boxed and owned sinks in one tee.
    let mut first = Log::default();
    let mut tee = Tee(&mut first, Box::new(Log { only: Some(EventKind::Dns), ..Log::default() }));
    run(&mut tee, 2);
    let Tee(_, second) = tee;
    assert_eq!(first.calls, alone.calls);
    assert_eq!(second.calls, dns_only.calls);
    assert!(!second.calls.iter().any(|c| c == "event Http"));
}

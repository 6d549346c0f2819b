//! The engine fed by frame sources: frames made in memory give the same records as the same
//! frames read from a capture file, for any batch size and thread count; and a source that
//! goes quiet advances capture time so idle flows end while the input is still open.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use synth::{flags::*, Builder, Encap, PcapWriter, Rng, L4};
use v6watch_engine::model::{AppEvent, FlowRecord};
use v6watch_engine::pipeline::{run_sensor, run_source, FlowSink, Options, SensorInput, SensorSummary};
use v6watch_engine::source::{FrameBatch, FrameSource, MemorySource, SourceSummary};

const T0: i64 = 1_307_000_000_000_000_000;

/// Every record as text, in output order.
#[derive(Default)]
struct Collect(Vec<String>);

impl FlowSink for Collect {
    fn flow(&mut self, _: &str, rec: &FlowRecord) -> std::io::Result<()> {
        self.0.push(format!("{rec:?}"));
        Ok(())
    }
    fn event(&mut self, _: &str, ev: &AppEvent) -> std::io::Result<()> {
        self.0.push(format!("{ev:?}"));
        Ok(())
    }
}

/// A sensor's traffic: TCP connections (some closed, some left open), DNS over both families
/// and a few unanswered probes, interleaved; Ethernet frames with their capture times.
fn traffic(seed: u64, conns: usize) -> Vec<(i64, u32, Vec<u8>)> {
    let mut rng = Rng::new(seed);
    let mut b = Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let sensor6: IpAddr = "2001:db8::10".parse().unwrap();
    let sensor4: IpAddr = "192.0.2.10".parse().unwrap();
    let mut frames = Vec::new();
    let mut ts = T0;
    for i in 0..conns {
        let v6 = rng.chance(0.6);
        let (c, s): (IpAddr, IpAddr) = if v6 {
            (sensor6, format!("2001:db8:1::{:x}", 1 + rng.below(200)).parse().unwrap())
        } else {
            (sensor4, format!("198.51.100.{}", 1 + rng.below(200)).parse().unwrap())
        };
        let sport = 40_000 + i as u16;
        let mut push = |ts: &mut i64, src: IpAddr, dst: IpAddr, l4: &L4<'_>| {
            *ts += 1_000_000 + 1000 * rng.below(2000) as i64;
            frames.push((*ts, 1, b.frame(src, dst, l4, Encap::None, 1).to_vec()));
        };
        match i % 5 {
            0 => {
                let q = synth::dns_message(i as u16, "www.example.com", 28, &[], false);
                let a = synth::dns_message(i as u16, "www.example.com", 28, &[s], true);
                push(&mut ts, c, s, &L4::Udp { sport, dport: 53, payload: &q });
                push(&mut ts, s, c, &L4::Udp { sport: 53, dport: sport, payload: &a });
            }
            1 => push(&mut ts, c, s, &L4::tcp(sport, 443, 1, 0, SYN, 1440, &[])),
            _ => {
                push(&mut ts, c, s, &L4::tcp(sport, 80, 100, 0, SYN, 1440, &[]));
                push(&mut ts, s, c, &L4::tcp(80, sport, 500, 101, SYN | ACK, 1440, &[]));
                push(&mut ts, c, s, &L4::tcp(sport, 80, 101, 501, ACK, 1440, &[]));
                let req = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
                push(&mut ts, c, s, &L4::tcp(sport, 80, 101, 501, ACK | PSH, 1440, req));
                if i % 5 != 4 {
                    let n = req.len() as u32;
                    push(&mut ts, c, s, &L4::tcp(sport, 80, 101 + n, 501, FIN | ACK, 1440, &[]));
                    push(&mut ts, s, c, &L4::tcp(80, sport, 501, 102 + n, FIN | ACK, 1440, &[]));
                    push(&mut ts, c, s, &L4::tcp(sport, 80, 102 + n, 502, ACK, 1440, &[]));
                }
            }
        }
    }
    frames
}

fn from_memory(frames: &[(i64, u32, Vec<u8>)], per_batch: usize, threads: usize) -> (Vec<String>, SensorSummary) {
    let mut src = MemorySource::new(frames.iter().cloned(), per_batch);
    let opts = Options { threads, ..Options::default() };
    let mut sink = Collect::default();
    let sum = run_source("s", &[], &mut src, &opts, &mut sink, &mut |_| {}).expect("run");
    (sink.0, sum)
}

#[test]
fn frames_in_memory_give_what_the_same_capture_file_gives() {
    let frames = traffic(7, 3000);
    let dir = std::env::temp_dir().join(format!("v6watch-sources-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    for (ts, _, f) in &frames {
        w.write(*ts, f).unwrap();
    }
    w.finish().unwrap();
    let mut file_sink = Collect::default();
    let input = SensorInput { name: "s".into(), paths: vec![path], addrs: vec![] };
    let file_sum = run_sensor(&input, &Options::default(), &mut file_sink, &mut |_| {}).expect("run");
    std::fs::remove_dir_all(&dir).ok();
    assert!(file_sink.0.len() > 3000, "records: {}", file_sink.0.len());
    assert_eq!(file_sum.frames, frames.len() as u64);
    assert_eq!(file_sum.files.len(), 1);

    for (per_batch, threads) in [(1, 1), (7, 1), (7, 2), (4096, 2), (333, 3)] {
        let (recs, sum) = from_memory(&frames, per_batch, threads);
        assert_eq!(recs, file_sink.0, "batches of {per_batch}, {threads} threads");
        assert_eq!(sum.frames, file_sum.frames);
        assert_eq!(sum.by_family[1].packets, file_sum.by_family[1].packets);
        assert_eq!(sum.linktypes, file_sum.linktypes);
        assert!(sum.files.is_empty(), "a memory source has no files");
        let addrs = |s: &SensorSummary| s.sensor_addrs.iter().map(|a| a.addr.to_string()).collect::<Vec<_>>();
        assert_eq!(addrs(&sum), addrs(&file_sum), "inferred as from the file");
        assert!(addrs(&sum).contains(&"2001:db8::10".to_string()));
    }
}

#[test]
fn an_empty_source_gives_an_empty_summary() {
    let (recs, sum) = from_memory(&[], 10, 2);
    assert!(recs.is_empty());
    assert_eq!(sum.frames, 0);
    assert_eq!(sum.first_ts, None);
}

/// A stream handing over one step per batch (frames, or a tick); before step `gate` it waits
/// (ten seconds at most) for the sink to have seen `want` flow records, as a live source waits
/// for traffic: records must flow while the source is quiet.
struct Waiting {
    steps: std::collections::VecDeque<Step>,
    filled: usize,
    gate: usize,
    want: usize,
    seen: Arc<AtomicUsize>,
    /// Whether the sink had them when the gated step was asked for.
    in_time: Arc<AtomicBool>,
}

enum Step {
    Frames(Vec<(i64, u32, Vec<u8>)>),
    Tick(i64),
}

impl FrameSource for Waiting {
    fn fill(&mut self, batch: &mut FrameBatch) -> bool {
        batch.clear();
        if self.filled == self.gate {
            let t = std::time::Instant::now();
            while self.seen.load(SeqCst) < self.want && t.elapsed() < std::time::Duration::from_secs(10) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            self.in_time.store(self.seen.load(SeqCst) >= self.want, SeqCst);
        }
        self.filled += 1;
        match self.steps.pop_front() {
            None => false,
            Some(Step::Tick(ts)) => {
                batch.tick(ts);
                true
            }
            Some(Step::Frames(f)) => {
                for (ts, lt, data) in f {
                    batch.push(ts, lt, data.len() as u32, &data);
                }
                true
            }
        }
    }
    fn summary(&self) -> SourceSummary {
        SourceSummary::default()
    }
    fn is_stream(&self) -> bool {
        true
    }
}

/// Counts the flow records it is given, and keeps their state and port.
struct Count(Arc<AtomicUsize>, Vec<String>);

impl FlowSink for Count {
    fn flow(&mut self, _: &str, rec: &FlowRecord) -> std::io::Result<()> {
        self.0.fetch_add(1, SeqCst);
        self.1.push(format!("{} {}", rec.conn_state, rec.resp_p));
        Ok(())
    }
}

#[test]
fn a_quiet_stream_ticks_idle_flows_out_and_its_sensor_window_closes_on_time() {
    let mut b = Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let (c, s): (IpAddr, IpAddr) = ("2001:db8::10".parse().unwrap(), "2001:db8:1::1".parse().unwrap());
    let mut frame = |l4: L4<'_>| b.frame(c, s, &l4, Encap::None, 1).to_vec();
    let first = vec![
        (T0, 1, frame(L4::tcp(40000, 443, 1, 0, SYN, 1440, &[]))),
        (T0 + 1_000_000, 1, frame(L4::Udp { sport: 5000, dport: 5001, payload: b"x" })),
    ];
    let later = vec![(T0 + 63_000_000_000, 1, frame(L4::tcp(40001, 80, 1, 0, SYN, 1440, &[])))];
    for threads in [1, 2] {
        let (seen, in_time) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        // Then quiet: a tick past the sensor window (5 s), one past UDP's idle timeout (60 s,
        // short of TCP's 300 s); the next frames only come once the UDP flow was written.
        let steps = [
            Step::Frames(first.clone()),
            Step::Tick(T0 + 6_000_000_000),
            Step::Tick(T0 + 62_000_000_000),
            Step::Frames(later.clone()),
        ];
        let mut src = Waiting {
            steps: steps.into_iter().collect(),
            filled: 0,
            gate: 3,
            want: 1,
            seen: seen.clone(),
            in_time: in_time.clone(),
        };
        let mut sink = Count(seen, Vec::new());
        let opts = Options { threads, ..Options::default() };
        let sum = run_source("s", &[], &mut src, &opts, &mut sink, &mut |_| {}).expect("run");
        assert!(in_time.load(SeqCst), "{threads} threads: the idle UDP flow was written while the source waited");
        assert_eq!(sink.1, ["S0 5001", "S0 443", "S0 80"], "{threads} threads");
        assert_eq!(sum.frames, 3, "ticks are not frames");
        // One conversation: nothing tells the sensor from its peer, both are kept.
        let addrs: Vec<String> = sum.sensor_addrs.iter().map(|a| a.addr.to_string()).collect();
        assert_eq!(addrs, ["2001:db8::10", "2001:db8:1::1"]);
        assert!(sum.sensor_addrs[0].reason.contains("first 2 IP packets"), "{}", sum.sensor_addrs[0].reason);
    }
}

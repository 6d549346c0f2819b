//! Peak memory of `v6watch flows`, as the kernel counts it (GNU time's maximum resident set):
//! bounded, and flat as the capture grows once its flows can expire — with one worker and two.
//! Memory, not time: the numbers hardly move between runs, so a leak or an unbounded table shows.

mod common;

use common::tmpdir;
use std::path::Path;
use std::process::Command;

const TIME: &str = "/usr/bin/time";

/// The bound for `flows` on any capture.
const LIMIT_KIB: u64 = 256 << 10;

/// GNU time is there (scripts/test.sh installs it); without it the test cannot measure, which
/// under CI is a failure.
fn have_time() -> bool {
    let ok = Command::new(TIME).args(["-f", "%M", "true"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var("CI").is_err(), "CI=true but {TIME} (GNU time) is missing");
        eprintln!("skipped: {TIME} (GNU time) is not installed");
    }
    ok
}

/// Peak resident set of `v6watch ARGS... CAPTURE`, in KiB.
fn peak_kib(args: &[&str], capture: &Path) -> u64 {
    let out = Command::new(TIME)
        .args(["-f", "%M", env!("CARGO_BIN_EXE_v6watch")])
        .args(args)
        .arg(capture)
        .stdout(std::process::Stdio::null())
        .output()
        .expect("run GNU time");
    assert!(out.status.success(), "{args:?} failed on {capture:?}: {}", String::from_utf8_lossy(&out.stderr));
    // GNU time's line is the last one on stderr.
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("no peak in {err:?}"))
}

/// Peak resident set of `v6watch flows` on `capture`, in KiB.
fn flows_peak_kib(capture: &Path, threads: &str) -> u64 {
    peak_kib(&["flows", "--format", "jsonl", "--threads", threads], capture)
}

#[test]
fn flows_memory_is_flat_as_the_capture_grows() {
    if !have_time() {
        return;
    }
    let d = tmpdir("memory-flat");
    // 3 ms between packets: the 100 MB capture spans ~6 min, the 400 MB one ~24 min, longer
    // than the idle timeouts, so flows end as the capture goes on (as on a real link).
    let gen = |size: &str| {
        let p = d.join(format!("{size}.pcap"));
        let args = ["generate", "-o", p.to_str().unwrap(), "--size", size, "--gap-us", "3000", "--concurrent", "5000"];
        let ok = Command::new(env!("CARGO_BIN_EXE_v6watch")).args(args).status().expect("run v6watch");
        assert!(ok.success());
        p
    };
    let (small, large) = (gen("100M"), gen("400M"));
    for threads in ["1", "2"] {
        let (a, b) = (flows_peak_kib(&small, threads), flows_peak_kib(&large, threads));
        eprintln!("{threads} threads: 100 MB {a} KiB, 400 MB {b} KiB");
        assert!(b <= LIMIT_KIB, "{threads} threads: {b} KiB");
        // Four times the capture; a leak per packet or per flow would grow with it.
        assert!(b <= a + a / 4 + (8 << 10), "{threads} threads: 100 MB {a} KiB, 400 MB {b} KiB: not flat");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// 200,000 one-packet UDP flows, each from its own MAC and address: every flow is live until
/// the end and the sensor cannot be inferred from any share of the traffic (the worst case for
/// the records held back until roles are known, and for sensor inference). Measured when
/// written: ~110 MiB with one thread, ~130 MiB with two (~570 bytes per live flow: its
/// 448-byte slot, the index, the timer wheel, and its record at the end; a flow's cold box is
/// made only when needed, which saved ~60 MiB here).
#[test]
fn flows_memory_is_bounded_on_a_flood_of_one_packet_flows() {
    use synth::{Builder, Encap, PcapWriter, L4};
    if !have_time() {
        return;
    }
    let d = tmpdir("memory-flood");
    let f = d.join("flood.pcap");
    let mut w = PcapWriter::new(std::io::BufWriter::new(std::fs::File::create(&f).unwrap())).unwrap();
    let mut t = 1_000_000_000_000_000i64;
    for i in 0..200_000u32 {
        let [a, b, c, e] = i.to_be_bytes();
        let mut host = Builder::new([2, a, b, c, e, 1], [2, 0, 0, 0, 0, 2]);
        let src = std::net::IpAddr::from([10, b, c, e]);
        let dst = std::net::IpAddr::from([198, 51, 100, (i % 250) as u8 + 1]);
        let l4 = L4::Udp { sport: 1024 + (i % 60_000) as u16, dport: 9999, payload: b"x" };
        t += 1000;
        w.write(t, host.frame(src, dst, &l4, Encap::None, 1)).unwrap();
    }
    w.finish().unwrap();
    for threads in ["1", "2"] {
        let peak = flows_peak_kib(&f, threads);
        eprintln!("{threads} threads: {peak} KiB");
        assert!(peak <= LIMIT_KIB, "{threads} threads: {peak} KiB");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// 300,000 one-packet TCP flows from distinct IPv6 sources: SYNs to one address (the inferred
/// sensor: every peer is inbound) and to 5,000 (no sensor: every attempt is transit), and
/// RST-ACKs to one address from port 80 (backscatter of a flood spoofing it). The flow table is
/// full for most of the run, every frame evicting a flow; the analyses fold what is beyond their
/// bounds (peers seen in one flow, attempts beyond `MAX_ATTEMPTS` by outcome). `report` stays
/// within the bound with one worker and with two (whose records in flight to the merge are
/// bounded too).
#[test]
fn report_memory_is_bounded_on_a_flood_of_one_packet_tcp_flows() {
    use synth::{
        flags::{ACK, RST, SYN},
        Builder, Encap, PcapWriter, L4,
    };
    if !have_time() {
        return;
    }
    let d = tmpdir("memory-synflood");
    for (name, targets, flags) in [("inbound", 1u32, SYN), ("transit", 5000, SYN), ("backscatter", 1, RST | ACK)] {
        let f = d.join(format!("{name}.pcap"));
        let mut w = PcapWriter::new(std::io::BufWriter::new(std::fs::File::create(&f).unwrap())).unwrap();
        let mut b = Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let mut t = 1_300_000_000_000_000_000i64;
        for i in 0..300_000u32 {
            let src = std::net::IpAddr::from([0x2001, 0xdb8, 0xffff, 0, 0, 0, (i >> 16) as u16, i as u16]);
            let k = i % targets;
            let dst = std::net::IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, (k >> 16) as u16, 0x80 + k as u16]);
            let (sport, dport) =
                if flags == SYN { (1024 + (i % 60_000) as u16, 80) } else { (80, 1024 + (i % 60_000) as u16) };
            let l4 = L4::Tcp {
                sport,
                dport,
                seq: i,
                ack: if flags & ACK != 0 { 1 } else { 0 },
                flags,
                window: 65_535,
                mss: None,
                full: false,
                payload: &[],
            };
            t += 10_000;
            w.write(t, b.frame(src, dst, &l4, Encap::None, 1)).unwrap();
        }
        w.finish().unwrap();
        let html = d.join(format!("{name}.html"));
        let report =
            |threads| peak_kib(&["report", "--no-progress", "--threads", threads, "-o", html.to_str().unwrap()], &f);
        let (one, two) = (report("1"), report("2"));
        eprintln!("{name}: report peak {one} KiB (1 thread), {two} KiB (2 threads)");
        assert!(one <= LIMIT_KIB, "{name}, 1 thread: {one} KiB");
        assert!(two <= LIMIT_KIB, "{name}, 2 threads: {two} KiB");
        let text = std::fs::read_to_string(&html).unwrap();
        if name == "inbound" {
            assert!(text.contains("more peers, seen in one flow each"), "the folded peers are reported");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

//! A capture arriving on standard input over time (`tcpdump -U -w - | v6watch flows -`):
//! records come out while the pipe is still open, and the same input read whole from a file
//! gives the same records.

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use synth::{flags::*, Builder, Encap, PcapWriter, L4};

/// A closed TCP connection and a DNS exchange, stamped `now`: pcap bytes, header first.
fn capture(now_ns: i64) -> Vec<u8> {
    let mut b = Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let (c, s): (IpAddr, IpAddr) = ("2001:db8::10".parse().unwrap(), "2001:db8:1::80".parse().unwrap());
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let mut ts = now_ns;
    let mut put = |src: IpAddr, dst: IpAddr, l4: L4<'_>| {
        ts += 1_000_000;
        w.write(ts, b.frame(src, dst, &l4, Encap::None, 1)).unwrap();
    };
    let q = synth::dns_message(7, "www.example.com", 28, &[], false);
    let a = synth::dns_message(7, "www.example.com", 28, &[s], true);
    put(c, s, L4::Udp { sport: 5353, dport: 53, payload: &q });
    put(s, c, L4::Udp { sport: 53, dport: 5353, payload: &a });
    put(c, s, L4::tcp(40000, 80, 100, 0, SYN, 1440, &[]));
    put(s, c, L4::tcp(80, 40000, 500, 101, SYN | ACK, 1440, &[]));
    put(c, s, L4::tcp(40000, 80, 101, 501, ACK, 1440, &[]));
    put(c, s, L4::tcp(40000, 80, 101, 501, FIN | ACK, 1440, &[]));
    put(s, c, L4::tcp(80, 40000, 501, 102, FIN | ACK, 1440, &[]));
    put(c, s, L4::tcp(40000, 80, 102, 502, ACK, 1440, &[]));
    w.finish().unwrap()
}

#[test]
fn records_from_a_pipe_come_out_while_it_is_still_open() {
    for threads in ["1", "2"] {
        from_a_pipe(threads);
    }
}

fn from_a_pipe(threads: &str) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let bytes = capture(now);
    let mut child = Command::new(env!("CARGO_BIN_EXE_v6watch"))
        .args(["flows", "--format", "jsonl", "--no-progress", "--threads", threads, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run v6watch");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes).unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    // Lines as they come, with when they came.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The connection closed at once: it is written after TCP's close delay (5 s) of capture
    // time, which only the quiet pipe's clock can bring; the UDP flow stays open (60 s).
    let first = rx.recv_timeout(Duration::from_secs(30)).expect("a record while the pipe is open");
    let waited = started.elapsed();
    assert!(first.contains("\"conn_state\":\"SF\""), "{first}");
    assert!(first.contains("\"id.resp_p\":80"), "{first}");
    assert!(first.contains("\"server_name\":\"www.example.com\""), "named from the DNS answer: {first}");
    assert!(waited >= Duration::from_secs(4), "not before the close delay passed: {waited:?}");
    // Five seconds of quiet, each tick a second late at most: anything much later means a
    // worker is held back (ticks queued behind another worker's reads).
    assert!(waited < Duration::from_secs(12), "{threads} threads: held back for {waited:?}");
    assert!(rx.try_recv().is_err(), "the UDP flow is still open");
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(rest.len(), 1, "the UDP flow at the end: {rest:?}");
    assert!(rest[0].contains("\"proto\":\"udp\""), "{}", rest[0]);

    // From a file (or a file redirected into stdin) the same two flows, all at the end.
    let dir = std::env::temp_dir().join(format!("v6watch-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.pcap");
    std::fs::write(&path, &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_v6watch"))
        .args(["flows", "--format", "jsonl", "--no-progress", "-"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut from_file: Vec<&str> = text.lines().collect();
    let mut from_pipe = vec![first.as_str(), rest[0].as_str()];
    from_file.sort();
    from_pipe.sort();
    assert_eq!(from_file, from_pipe);
}

/// A pipe that does not carry a capture is refused before anything is written: no table
/// header, no empty report, exit status 2 (as for a file that is not a capture).
#[test]
fn a_pipe_that_is_not_a_capture_writes_nothing() {
    for args in [&["flows", "-"][..], &["summary", "-"][..], &["report", "-o", "-", "-"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_v6watch"))
            .args(args)
            .arg("--no-progress")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run v6watch");
        let mut stdin = child.stdin.take().unwrap();
        // Written in two pieces, so the header check waits for a pipe's bytes to come.
        stdin.write_all(b"GE").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // v6watch may have stopped reading by now (a broken pipe here is fine).
        let _ = stdin.write_all(b"T / HTTP/1.1\r\n\r\n");
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a pcap or pcapng file") && err.contains("nothing was read or written"), "{err}");
    }
}

/// `report --snapshot-every` on a pipe: the report files appear, whole, while the pipe is still
/// open, with the records so far; when the pipe closes the final report has the capture
/// statistics too, and no temporary file is left.
#[test]
fn report_snapshots_come_while_the_pipe_is_open() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let dir = std::env::temp_dir().join(format!("v6watch-snap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (html, json) = (dir.join("r.html"), dir.join("r.json"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_v6watch"))
        .args(["report", "--snapshot-every", "1", "--no-progress", "-o"])
        .arg(&html)
        .arg("--json")
        .arg(&json)
        .arg("-")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run v6watch");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&capture(now)).unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    // The TCP flow ends after its close delay (5 s of the quiet pipe's clock): a snapshot
    // after that has its peer.
    let snapshot = loop {
        assert!(started.elapsed() < Duration::from_secs(30), "no snapshot with the closed connection");
        assert!(child.try_wait().unwrap().is_none(), "v6watch ended with the pipe open");
        if let Ok(text) = std::fs::read_to_string(&json) {
            let v: serde_json::Value = serde_json::from_str(&text).expect("a snapshot is whole JSON");
            if v["peers"].as_array().is_some_and(|p| !p.is_empty()) {
                break v;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(html.is_file(), "the HTML is written with the JSON");
    assert_eq!(snapshot["sensors"].as_array().map(Vec::len), Some(0), "the sensor is still being read");
    assert_eq!(snapshot["health"]["attempts"], 1);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let last: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(last["sensors"].as_array().map(Vec::len), Some(1));
    assert_eq!(last["sensors"][0]["frames"], 8);
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
    std::fs::remove_dir_all(&dir).ok();
}

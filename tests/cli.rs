//! End-to-end tests of the command line: exit codes, damaged input, output formats, and
//! generated captures checked by tshark.

mod common;

use common::tmpdir;

use std::path::Path;
use std::process::{Command, Output};

fn v6watch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_v6watch")).args(args).output().expect("run v6watch")
}

fn tshark() -> bool {
    let ok = Command::new("tshark").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok && std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but tshark is not installed (scripts/test.sh installs it)");
    }
    ok
}

/// Frames tshark flags as malformed.
fn malformed(path: &Path) -> Vec<String> {
    let o = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info"])
        .output()
        .expect("tshark");
    assert!(o.status.success(), "tshark failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect()
}

#[test]
fn demo_and_benchmark_captures_are_protocol_correct() {
    if !tshark() {
        return;
    }
    let d = tmpdir("demo");
    let o = v6watch(&["demo", "-o", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let g = d.join("bench.pcap");
    let o = v6watch(&["generate", "-o", g.to_str().unwrap(), "--size", "3M", "--concurrent", "500"]);
    assert!(o.status.success());
    for f in ["honeypot1.pcapng", "honeypot2.pcapng", "bench.pcap"] {
        let bad = malformed(&d.join(f));
        assert!(bad.is_empty(), "{f}: tshark finds malformed frames: {:?}", &bad[..bad.len().min(5)]);
    }
}

#[test]
fn damaged_file_reports_offset_keeps_what_was_read_and_exits_2() {
    let Some(dir) = common::corpus() else { return };
    let f = dir.join("suricata-verify/http-mime-truncated--input.pcap");
    let o = v6watch(&["summary", "--format", "json", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("http-mime-truncated--input.pcap: at byte 2715459: file ends inside a record header"),
        "{err}"
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("summary json even on damage");
    assert_eq!(j["sensors"][0]["frames"], 2696);
    assert_eq!(j["sensors"][0]["damaged"], true);
}

#[test]
fn not_a_capture_is_a_clear_error() {
    let d = tmpdir("notcap");
    let f = d.join("notes.txt");
    std::fs::write(&f, "hello, I am not a capture").unwrap();
    let o = v6watch(&["flows", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("notes.txt: not a pcap or pcapng file"), "{err}");
    assert!(o.stdout.is_empty(), "nothing that looks like a result");
    let o = v6watch(&["flows", d.join("missing.pcap").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    // Checked before anything is written: a mistyped path never replaces a good report, and
    // a directory or an empty file gives one line, not empty tables.
    let keep = d.join("keep.html");
    std::fs::write(&keep, "a good report").unwrap();
    let o = v6watch(&["report", d.join("typo.pcap").to_str().unwrap(), "-o", keep.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "a good report");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("typo.pcap: No such file") && !err.contains("at byte") && !err.contains("wrote"), "{err}");
    std::fs::write(d.join("empty.pcap"), "").unwrap();
    for bad in [d.to_str().unwrap(), d.join("empty.pcap").to_str().unwrap()] {
        for cmd in ["summary", "flows", "health"] {
            let o = v6watch(&[cmd, bad]);
            assert_eq!(o.status.code(), Some(2), "{cmd} {bad}");
            assert!(o.stdout.is_empty(), "{cmd} {bad}: {}", String::from_utf8_lossy(&o.stdout));
        }
    }
    let o = v6watch(&["flows", "--bogus-option", "x"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn keep_going_continues_past_a_damaged_record() {
    let d = tmpdir("keepgoing");
    let g = d.join("g.pcap");
    assert!(v6watch(&["generate", "-o", g.to_str().unwrap(), "--size", "200K", "--concurrent", "50"]).status.success());
    let mut bytes = std::fs::read(&g).unwrap();
    // Corrupt the 10th record header's captured length.
    let mut off = 24;
    for _ in 0..10 {
        let caplen = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16 + caplen;
    }
    bytes[off + 8..off + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let bad = d.join("bad.pcap");
    std::fs::write(&bad, &bytes).unwrap();
    let frames = |args: &[&str]| -> (Option<i32>, u64) {
        let o = v6watch(args);
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (o.status.code(), j["sensors"][0]["frames"].as_u64().unwrap())
    };
    let strict = frames(&["summary", "--format", "json", bad.to_str().unwrap()]);
    assert_eq!(strict, (Some(2), 10));
    let lenient = frames(&["summary", "--format", "json", "--keep-going", bad.to_str().unwrap()]);
    assert_eq!(lenient.0, Some(2));
    assert!(lenient.1 > 100, "resynchronised and read on: {lenient:?}");
}

#[test]
fn flows_formats_use_zeek_names() {
    let d = tmpdir("formats");
    let g = d.join("g.pcap");
    assert!(v6watch(&["generate", "-o", g.to_str().unwrap(), "--size", "300K", "--concurrent", "40"]).status.success());
    let o = v6watch(&["flows", "--format", "jsonl", g.to_str().unwrap()]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    for k in [
        "ts",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "proto",
        "conn_state",
        "history",
        "orig_pkts",
        "resp_ip_bytes",
        "sensor",
        "role",
        "ip_version",
    ] {
        assert!(first.get(k).is_some(), "missing {k} in {first}");
    }
    let states: std::collections::BTreeSet<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["conn_state"].as_str().unwrap().to_string())
        .collect();
    assert!(states.contains("SF") && states.contains("S0") && states.contains("REJ"), "{states:?}");
    let csv = v6watch(&["flows", "--format", "csv", g.to_str().unwrap()]);
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.starts_with("ts,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,"));
    assert_eq!(csv.lines().count(), text.lines().count() + 1);
    // Same input, same output: uids and order are deterministic.
    let again = v6watch(&["flows", "--format", "jsonl", g.to_str().unwrap()]);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text);
}

#[test]
fn stdin_gzip_and_zstd_inputs() {
    let d = tmpdir("stdin");
    let g = d.join("g.pcap");
    assert!(v6watch(&["generate", "-o", g.to_str().unwrap(), "--size", "100K", "--concurrent", "20"]).status.success());
    let plain = v6watch(&["summary", "--format", "json", g.to_str().unwrap()]);
    let frames =
        |o: &Output| serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["sensors"][0]["frames"].clone();
    let gz = d.join("g.pcap.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    std::io::copy(&mut std::fs::File::open(&g).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap();
    let zipped = v6watch(&["summary", "--format", "json", gz.to_str().unwrap()]);
    assert_eq!(frames(&plain), frames(&zipped));
    let zst = d.join("g.pcap.zst");
    let packed = ruzstd::encoding::compress_to_vec(
        std::fs::File::open(&g).unwrap(),
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    std::fs::write(&zst, packed).unwrap();
    let zstd = v6watch(&["summary", "--format", "json", zst.to_str().unwrap()]);
    assert_eq!(frames(&plain), frames(&zstd));
    assert!(frames(&plain).as_u64().unwrap() > 50);
    let piped = Command::new(env!("CARGO_BIN_EXE_v6watch"))
        .args(["summary", "--format", "json", "-"])
        .stdin(std::fs::File::open(&g).unwrap())
        .output()
        .unwrap();
    assert_eq!(frames(&plain), frames(&piped));
}

#[test]
fn sensors_group_files_and_addresses_can_be_configured() {
    let d = tmpdir("sensors");
    assert!(v6watch(&["demo", "-o", d.to_str().unwrap()]).status.success());
    let (h1, h2) = (d.join("honeypot1.pcapng"), d.join("honeypot2.pcapng"));
    let json = |args: &[&str]| -> serde_json::Value {
        let o = v6watch(args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let apart = json(&["summary", "--format", "json", h1.to_str().unwrap(), h2.to_str().unwrap()]);
    assert_eq!(apart["sensors"].as_array().unwrap().len(), 2);
    assert_eq!(apart["sensors"][0]["sensor"], "honeypot1");
    // Inference explains itself and finds the dual-stack host.
    let addrs: Vec<String> = apart["sensors"][0]["sensor_addrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["addr"].as_str().unwrap().to_string())
        .collect();
    assert!(addrs.contains(&"192.0.2.11".to_string()) && addrs.contains(&"2001:db8:100::11".to_string()), "{addrs:?}");
    let together = json(&[
        "summary",
        "--format",
        "json",
        "--sensor",
        "both=honeypot*",
        h1.to_str().unwrap(),
        h2.to_str().unwrap(),
    ]);
    let s = &together["sensors"];
    assert_eq!(s.as_array().unwrap().len(), 1);
    assert_eq!(s[0]["sensor"], "both");
    let frames = |v: &serde_json::Value, i: usize| v["sensors"][i]["frames"].as_u64().unwrap();
    assert_eq!(frames(&together, 0), frames(&apart, 0) + frames(&apart, 1));
    let configured =
        json(&["summary", "--format", "json", "--sensor-addr", "honeypot1=2001:db8:100::11", h1.to_str().unwrap()]);
    assert_eq!(configured["sensors"][0]["sensor_addrs_inferred"], false);
    assert_eq!(configured["sensors"][0]["sensor_addrs"][0]["reason"], "configured");
    let bad = v6watch(&["summary", "--sensor-addr", "nosuch=::1", h1.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn output_is_identical_for_any_thread_count() {
    let d = tmpdir("threads");
    let g = d.join("g.pcap");
    assert!(v6watch(&["generate", "-o", g.to_str().unwrap(), "--size", "4M", "--concurrent", "3000"]).status.success());
    // The demo's honeypot: an inferred sensor (roles) and flows named from its DNS answers
    // (flows named from DNS that are still live at the end are in the corpus: see
    // `corpus_output_is_identical_for_any_thread_count`).
    assert!(v6watch(&["demo", "-o", d.to_str().unwrap()]).status.success());
    let h = d.join("honeypot1.pcapng");
    // With several workers, the flows still live at the end of input are named, given roles
    // and formatted by the workers themselves: every format must come out the same.
    for file in [&g, &h] {
        for format in ["jsonl", "csv", "table"] {
            let run = |t: &str| v6watch(&["flows", "--format", format, "--threads", t, file.to_str().unwrap()]).stdout;
            let one = run("1");
            assert!(one.len() > 10_000);
            if format == "jsonl" && file == &h {
                let text = String::from_utf8_lossy(&one);
                assert!(text.contains("\"name_source\":\"dns\""), "some flows are named from DNS");
                assert!(text.contains("\"role\":\"outbound\""), "roles come from the inferred sensor");
            }
            assert!(one == run("2"), "{file:?} {format}: 2 threads differ");
            assert!(one == run("3"), "{file:?} {format}: 3 threads differ");
        }
    }
}

/// Flows expire on capture time, at whatever frame moves the clock past their timeout: with
/// several workers, often a frame another worker owns. Those records keep their place (the
/// frame that ended them) among the other workers' records. The sensor's address is given, so
/// the workers gather no evidence and take their shortcut for the frames they do not own from
/// the first frame on (inferring, they take it only after 50,000 frames).
#[test]
fn flows_expiring_on_other_workers_frames_keep_their_place() {
    let d = tmpdir("expiry-threads");
    let g = d.join("g.pcap");
    // ~7 s of capture time: closed connections time out after 5 s, mid-capture.
    let gen = ["generate", "-o", g.to_str().unwrap(), "--size", "4M", "--concurrent", "3000", "--gap-us", "1000"];
    assert!(v6watch(&gen).status.success());
    let run = |t: &str| {
        let out = v6watch(&[
            "flows",
            "--format",
            "jsonl",
            "--sensor-addr",
            "2001:db8:100::1",
            "--threads",
            t,
            g.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        out.stdout
    };
    let one = run("1");
    // The flows live at the end of input come last, by start time; flows that ended before
    // come first, in the order they ended: starts out of order show there were some.
    let starts: Vec<f64> = String::from_utf8_lossy(&one)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["ts"].as_f64().unwrap())
        .collect();
    assert!(starts.windows(2).any(|w| w[0] > w[1]), "flows end mid-capture");
    for t in ["2", "3"] {
        assert!(one == run(t), "{t} threads differ");
    }
}

/// Options are validated, with the valid values in the error.
#[test]
fn options_are_validated() {
    let d = tmpdir("options");
    assert!(v6watch(&["demo", "-o", d.to_str().unwrap()]).status.success());
    let h = d.join("honeypot2.pcapng");
    let h = h.to_str().unwrap();
    for (args, want) in [
        (vec!["peers", "--family", "5", h], "expected 4, 6, ipv4 or ipv6"),
        (vec!["flows", "--max-flows", "0", h], "at least 1"),
        (vec!["report", h, "-o", "/tmp/v6w-same.html", "--json", "/tmp/v6w-same.html"], "the same file"),
    ] {
        let o = v6watch(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(want), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    // The record commands take --config too: its sensors name the files.
    let conf = d.join("c.toml");
    std::fs::write(&conf, "[[sensor]]\nname = \"hp\"\nfiles = \"*honeypot2*\"\naddresses = [\"192.0.2.12\"]\n")
        .unwrap();
    for cmd in ["flows", "dns", "http", "tls"] {
        let o = v6watch(&[cmd, "--config", conf.to_str().unwrap(), "--format", "jsonl", h]);
        assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.lines().count() > 0 && text.lines().all(|l| l.contains("\"sensor\":\"hp\"")), "{cmd}");
    }
    let six = v6watch(&["peers", "--family", "ipv6", "--format", "json", h]);
    assert!(six.status.success());
    let v: serde_json::Value = serde_json::from_slice(&six.stdout).unwrap();
    let list = v.as_array().unwrap();
    assert!(!list.is_empty() && list.iter().all(|p| p["addr"].as_str().unwrap().contains(':')));
}

/// Default sensor names: files of one stem from different folders are different sensors; the
/// same file given twice is read once.
#[test]
fn files_are_not_one_sensor_by_file_name_alone() {
    let d = tmpdir("sensor-names");
    assert!(v6watch(&["demo", "-o", d.to_str().unwrap()]).status.success());
    for (dir, src) in [("a", "honeypot1"), ("b", "honeypot2")] {
        std::fs::create_dir_all(d.join(dir)).unwrap();
        std::fs::copy(d.join(format!("{src}.pcapng")), d.join(dir).join("cap.pcapng")).unwrap();
    }
    let sensors = |args: &[&str]| -> Vec<(String, u64)> {
        let mut all = vec!["summary", "--format", "json"];
        all.extend(args);
        let o = v6watch(&all);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["sensors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["sensor"].as_str().unwrap().to_string(), s["frames"].as_u64().unwrap()))
            .collect()
    };
    let (a, b) = (d.join("a/cap.pcapng"), d.join("b/cap.pcapng"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let two = sensors(&[a, b]);
    assert_eq!(two.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), ["a/cap", "b/cap"]);
    let once = sensors(&[a, a]);
    assert_eq!(once, vec![("cap".to_string(), two[0].1)], "read once");
    let joined = sensors(&["--sensor", "cap=*/cap.*", a, b]);
    assert_eq!(joined, vec![("cap".to_string(), two[0].1 + two[1].1)]);
}

/// honeypot1 polls its feed server 198.51.100.70 every hour: that server is in 55 % of the
/// packets, but it talks to the honeypot alone and arrives through the router. It is a peer
/// (the busiest), not the sensor.
#[test]
fn the_busiest_peer_is_not_taken_for_the_sensor() {
    let d = tmpdir("demo-sensor");
    assert!(v6watch(&["demo", "-o", d.to_str().unwrap()]).status.success());
    for (file, want) in [("honeypot1", "192.0.2.11"), ("honeypot2", "192.0.2.12")] {
        let o = v6watch(&["summary", "--format", "json", d.join(format!("{file}.pcapng")).to_str().unwrap()]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let s = &v["sensors"][0];
        let addrs: Vec<&str> =
            s["sensor_addrs"].as_array().unwrap().iter().map(|a| a["addr"].as_str().unwrap()).collect();
        assert_eq!(addrs[0], want, "{addrs:?}");
        assert_eq!(addrs.len(), 3, "IPv4, IPv6 and link-local from the honeypot's MAC: {addrs:?}");
        assert!(s["sensor_addrs"][0]["reason"].as_str().unwrap().contains("distinct peers"));
        if file == "honeypot1" {
            assert_eq!(s["top_talkers"][0]["addr"], "198.51.100.70", "{}", s["top_talkers"]);
        }
    }
}

/// Sensor inference looks at the first 50,000 frames; with several workers each counts the
/// frames it owns and the shares are merged. The decision (addresses, percentages, siblings by
/// MAC) must be the same for any thread count, and nothing after the window may count.
#[test]
fn sensor_inference_is_the_same_for_any_thread_count() {
    use synth::{Builder, Encap, PcapWriter, L4};
    let d = tmpdir("infer");
    let f = d.join("big.pcap");
    let mut w = PcapWriter::new(std::io::BufWriter::new(std::fs::File::create(&f).unwrap())).unwrap();
    let ip = |s: &str| -> std::net::IpAddr { s.parse().unwrap() };
    let (v4, v6, ll) = (ip("192.0.2.10"), ip("2001:db8::10"), ip("fe80::10"));
    let mut host = Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut router = Builder::new([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
    let mut rng = synth::Rng::new(7);
    let mut t = 1_000_000_000_000_000i64;
    for i in 0..60_000u32 {
        t += 1000;
        let sport = 1024 + (i % 50_000) as u16;
        let l4 = L4::Udp { sport, dport: 53, payload: b"x" };
        let r = rng.below(100);
        let frame = if i >= 50_000 {
            // Past the window: a new address in every frame; it must not count.
            host.frame(ip("192.0.2.99"), ip("198.51.100.1"), &l4, Encap::None, 1).to_vec()
        } else if r < 55 {
            // The sensor's IPv4 address in 55 % of the window, to remote hosts (many flows,
            // spread over the workers).
            let remote = ip(&format!("198.51.{}.{}", rng.below(200), rng.below(250) + 1));
            host.frame(v4, remote, &l4, Encap::None, 1).to_vec()
        } else if r < 75 {
            host.frame(v6, ip(&format!("2001:db8:1::{:x}", rng.below(5000) + 1)), &l4, Encap::None, 1).to_vec()
        } else if r < 76 {
            host.frame(ll, ip("fe80::1"), &l4, Encap::None, 1).to_vec()
        } else {
            // A router forwarding traffic from many sources: never a sibling.
            let src = ip(&format!("203.0.113.{}", rng.below(200) + 1));
            router.frame(src, ip("192.0.2.200"), &l4, Encap::None, 1).to_vec()
        };
        w.write(t, &frame).unwrap();
    }
    w.finish().unwrap();
    let addrs = |t: &str| {
        let o = v6watch(&["summary", "--format", "json", "--threads", t, f.to_str().unwrap()]);
        assert!(o.status.success());
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["sensors"][0]["sensor_addrs"].clone()
    };
    let one = addrs("1");
    let list: Vec<(String, String)> = one
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["addr"].as_str().unwrap().to_string(), a["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list[0].0, "192.0.2.10");
    assert!(list[0].1.contains("% of the first 50000 IP packets, with "), "{list:?}");
    let siblings: Vec<&str> = list[1..].iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(siblings, ["2001:db8::10", "fe80::10"]);
    assert!(list[1].1.contains("02:00:00:00:00:01"), "{list:?}");
    for t in ["2", "3"] {
        assert_eq!(one, addrs(t), "{t} threads");
    }
}

/// The reader routes plain TCP/UDP frames to the one worker owning their flow and everything
/// else (tunnels, fragments, ICMP, VLANs...) to all: on every corpus capture the flows, the
/// application events, the summary and the whole report must not depend on the thread count
/// (the flow table's peak included: it is sampled at the same frames by every worker). No
/// command may panic on any of them.
#[test]
fn corpus_output_is_identical_for_any_thread_count() {
    let Some(dir) = common::corpus() else { return };
    let d = tmpdir("threads-report");
    for (file, _) in common::inventory(&dir) {
        let path = dir.join(&file);
        let p = path.to_str().unwrap();
        for cmd in [
            &["flows", "--format", "jsonl"][..],
            &["dns", "--format", "jsonl"],
            &["summary", "--format", "json"],
            &["report", "--json"],
        ] {
            let run = |t: &str| {
                let mut args: Vec<&str> = cmd.to_vec();
                let json = d.join(format!("report-{t}.json"));
                let html = d.join(format!("report-{t}.html"));
                if cmd[0] == "report" {
                    args.extend([json.to_str().unwrap(), "-o", html.to_str().unwrap()]);
                }
                args.extend(["--threads", t, p]);
                let o = v6watch(&args);
                // A damaged input may fail, never panic (a panic's output matched a panic's).
                let err = String::from_utf8_lossy(&o.stderr);
                assert!(o.status.code() != Some(101) && !err.contains("panicked"), "{file}: {args:?} panicked: {err}");
                let out = String::from_utf8_lossy(&o.stdout).into_owned();
                if cmd[0] == "report" {
                    return std::fs::read_to_string(&json).unwrap_or_default();
                }
                out
            };
            let one = run("1");
            for t in ["2", "3", "2"] {
                let other = run(t);
                if one != other {
                    let at = one.bytes().zip(other.bytes()).position(|(a, b)| a != b).unwrap_or(0);
                    let ctx = |s: &str| s.get(at.saturating_sub(80)..(at + 80).min(s.len())).unwrap_or("").to_string();
                    panic!("{file}: {cmd:?} differs with {t} threads at byte {at}: {} vs {}", ctx(&one), ctx(&other));
                }
            }
            // A report from a damaged input may not exist; one that exists is removed so the
            // next capture's cannot pass for it.
            let _ = std::fs::remove_file(d.join("report-1.json"));
            for t in ["2", "3"] {
                let _ = std::fs::remove_file(d.join(format!("report-{t}.json")));
            }
        }
    }
}

#[test]
fn strings_from_packets_never_reach_the_terminal_raw() {
    let d = tmpdir("hostile");
    let f = d.join("evil.pcap");
    common::hostile_capture(&f);
    for cmd in ["http", "tls", "dns", "smtp", "flows", "summary"] {
        let o = v6watch(&[cmd, f.to_str().unwrap()]);
        assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{cmd} printed a control character: {out:?}");
        if cmd != "summary" && cmd != "dns" {
            assert!(out.contains("\\x1b]0;pwned"), "{cmd} should show the escape escaped: {out}");
        }
    }
    // JSON keeps the exact bytes (escaped by JSON itself).
    let o = v6watch(&["http", "--format", "jsonl", f.to_str().unwrap()]);
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert!(v["host"].as_str().unwrap().starts_with("\x1b]0;pwned"));
}

#[test]
fn addr_describes_the_seeds_addresses_and_takes_a_registry() {
    let o = v6watch(&[
        "addr",
        "2001:200:601:10:206:5bff:fef0:466c",
        "2404:6800:4004:805::100b",
        "2001:0:506:708:282a:3d75:fefd:fcfb",
    ]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("ieee-derived 00-06-5b"), "{text}");
    assert!(text.contains("EUI-64 from MAC 00:06:5b:f0:46:6c (Dell Inc.)"), "{text}");
    assert!(text.contains("low-byte"), "{text}");
    assert!(text.contains("Teredo server 5.6.7.8, client 1.2.3.4:49802"), "{text}");
    // JSON, and a registry file of the user's that overrides the built-in snapshot.
    let d = tmpdir("oui");
    let csv = d.join("oui.csv");
    std::fs::write(
        &csv,
        "Registry,Assignment,Organization Name,Organization Address\nMA-L,00065B,\"Renamed, Inc.\",x\n",
    )
    .unwrap();
    let o =
        v6watch(&["addr", "--format", "json", "--oui-db", csv.to_str().unwrap(), "2001:200:601:10:206:5bff:fef0:466c"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["class"], "ieee-derived 00-06-5b");
    assert!(v[0]["details"][0].as_str().unwrap().ends_with("(Renamed, Inc.)"), "{v}");
    let o = v6watch(&["addr", "not-an-address"]);
    assert_eq!(o.status.code(), Some(2));
    // The registry row with its flags, and a configured NAT64 prefix (RFC 6052 /48 layout).
    let o = v6watch(&["addr", "--nat64-prefix", "2001:db8:122::/48", "2001:db8:122:c000:2:2100::"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("2001:db8::/32 Documentation (RFC 3849): source F, destination F"), "{text}");
    assert!(text.contains("NAT64 (2001:db8:122::/48) for 192.0.2.33"), "{text}");
    assert_eq!(v6watch(&["addr", "--nat64-prefix", "2001:db8::/33", "::1"]).status.code(), Some(2));
}

#[test]
fn hosts_file_names_peers_the_capture_does_not() {
    let d = tmpdir("hosts");
    let hosts = d.join("hosts");
    std::fs::write(&hosts, "# test\n137.116.81.94 Web.Example.org www\nnot an address\n").unwrap();
    let cap = d.join("h.pcap");
    handshake_capture(&cap, "137.116.81.94");
    let o = v6watch(&["flows", "--format", "jsonl", "--hosts", hosts.to_str().unwrap(), cap.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 lines are not ADDRESS NAME"));
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(v["server_name"], "web.example.org");
    assert_eq!(v["name_source"], "hosts");
    let o = v6watch(&["flows", "--format", "jsonl", cap.to_str().unwrap()]);
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert!(v["server_name"].is_null(), "no name without the hosts file");
}

/// A one-capture handshake to `server` (no DNS in it).
fn handshake_capture(path: &Path, server: &str) {
    use synth::{flags::*, Builder, Encap, PcapWriter, L4};
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    let mut b = Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let (c, s): (std::net::IpAddr, std::net::IpAddr) = ("192.0.2.5".parse().unwrap(), server.parse().unwrap());
    for (k, (src, dst, l4)) in [
        (c, s, L4::tcp(4000, 80, 1, 0, SYN, 1460, b"")),
        (s, c, L4::tcp(80, 4000, 9, 2, SYN | ACK, 1460, b"")),
        (c, s, L4::tcp(4000, 80, 2, 10, ACK, 1460, b"")),
    ]
    .into_iter()
    .enumerate()
    {
        w.write(1_000_000_000 + k as i64 * 1_000_000, b.frame(src, dst, &l4, Encap::None, 1)).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn reverse_dns_only_when_asked() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // A resolver on loopback answering every PTR question with "host.ptr.example".
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    sock.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < end {
            let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
            if n < 12 {
                break; // the test's stop signal
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let mut r = buf[..n].to_vec();
            r[2] = 0x81;
            r[3] = 0x80;
            r[7] = 1; // ancount
            r.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60]);
            let name = b"\x04host\x03ptr\x07example\x00";
            r.extend_from_slice(&(name.len() as u16).to_be_bytes());
            r.extend_from_slice(name);
            let _ = sock.send_to(&r, from);
        }
    });
    let d = tmpdir("ptr");
    let cap = d.join("p.pcap");
    handshake_capture(&cap, "198.51.100.77");
    let resolver = format!("127.0.0.1:{port}");
    let o = v6watch(&["peers", "--format", "json", cap.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v[0]["names"].as_array().unwrap().is_empty());
    assert_eq!(asked.load(Ordering::SeqCst), 0, "offline by default: no query without --resolve-ptr");
    let o = v6watch(&["peers", "--format", "json", "--resolve-ptr", "--resolver", &resolver, cap.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["names"][0]["name"], "host.ptr.example");
    assert_eq!(v[0]["names"][0]["source"], "ptr");
    assert_eq!(asked.load(Ordering::SeqCst), 1, "one query per unnamed address");
    let _ = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().send_to(b"stop", ("127.0.0.1", port));
    server.join().unwrap();
}

/// `report --export DIR` writes, in the same pass, exactly what the record commands write; a
/// run that fails leaves no file in the folder, and an input refused up front not even the
/// folder.
#[test]
fn report_exports_the_records_in_the_same_pass() {
    let Some(corpus) = common::corpus() else { return };
    let caps: Vec<String> = ["zeek/ipv6-fragmented-dns.pcap", "arkime/v6-http.pcap", "arkime/curl-enabled-tls13.pcap"]
        .iter()
        .map(|c| corpus.join(c).display().to_string())
        .collect();
    let dir = tmpdir("export");
    let (html, data) = (dir.join("r.html"), dir.join("data"));
    let mut args = vec!["report", "--no-progress", "-o", html.to_str().unwrap(), "--export", data.to_str().unwrap()];
    args.extend(caps.iter().map(String::as_str));
    let o = v6watch(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for kind in ["flows", "dns", "http", "tls"] {
        let mut args = vec![kind, "--format", "jsonl", "--no-progress"];
        args.extend(caps.iter().map(String::as_str));
        let alone = v6watch(&args);
        let exported = std::fs::read(data.join(format!("{kind}.jsonl"))).unwrap();
        assert!(!exported.is_empty(), "{kind}: records expected");
        assert!(exported == alone.stdout, "{kind}.jsonl differs from `v6watch {kind} --format jsonl`");
    }
    let names = |d: &Path| {
        let mut v: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&data),
        ["dns.jsonl", "facts.jsonl", "flows.jsonl", "http.jsonl", "smtp.jsonl", "tls.jsonl"],
        "no temporary files left"
    );

    // health exports too.
    let health_data = dir.join("health-data");
    let mut args = vec!["health", "--no-progress", "--fail-on", "never", "--export", health_data.to_str().unwrap()];
    args.extend(caps.iter().map(String::as_str));
    assert!(v6watch(&args).status.success());
    assert_eq!(
        std::fs::read(health_data.join("flows.jsonl")).unwrap(),
        std::fs::read(data.join("flows.jsonl")).unwrap()
    );

    // The files cannot be put in place (flows.jsonl is a folder there): the run fails, names
    // the file, and leaves no temporary file behind. An input refused before the run creates
    // nothing.
    let blocked = dir.join("blocked");
    std::fs::create_dir_all(blocked.join("flows.jsonl")).unwrap();
    let o = v6watch(&[
        "report",
        "--no-progress",
        "-o",
        html.to_str().unwrap(),
        "--export",
        blocked.to_str().unwrap(),
        &caps[0],
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("flows.jsonl"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(names(&blocked), ["flows.jsonl"]);
    let fresh = dir.join("fresh");
    let o = v6watch(&["report", "-o", html.to_str().unwrap(), "--export", fresh.to_str().unwrap(), "no-such.pcap"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!fresh.exists(), "nothing created for a refused input");
    std::fs::remove_dir_all(&dir).ok();
}

/// One rule for times in every JSON and JSONL output: points in time are seconds since the
/// epoch with microsecond precision (Zeek's `ts`); only fields named `*_ns` hold nanoseconds.
/// A DNS transaction's `ts` is its flow's `ts` (the query starts the flow).
#[test]
fn every_json_output_writes_times_in_seconds() {
    let Some(corpus) = common::corpus() else { return };
    let caps: Vec<String> = ["zeek/ipv6-fragmented-dns.pcap", "arkime/v6-http.pcap", "arkime/curl-enabled-tls13.pcap"]
        .iter()
        .map(|c| corpus.join(c).display().to_string())
        .collect();
    let dir = tmpdir("json-times");
    let json = dir.join("r.json");
    let html = dir.join("r.html");
    let event = "--event=w=2007-08-05T19:00Z/2007-08-05T20:00Z";
    let runs: Vec<Vec<&str>> = vec![
        vec!["dns", "--format", "jsonl"],
        vec!["http", "--format", "jsonl"],
        vec!["tls", "--format", "jsonl"],
        vec!["health", "--format", "jsonl", "--fail-on", "never"],
        vec!["summary", "--format", "json"],
        vec!["peers", "--format", "json"],
        vec!["timeline", "--format", "json", event],
        vec!["report", "-o", html.to_str().unwrap(), "--json", json.to_str().unwrap(), event],
    ];
    fn walk(v: &serde_json::Value, key: &str, what: &str, seen: &mut usize) {
        match v {
            serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| walk(v, k, what, seen)),
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, key, what, seen)),
            serde_json::Value::Number(n) => {
                let x = n.as_f64().unwrap();
                if key.ends_with("_ns") {
                    assert!(n.is_i64() || n.is_u64(), "{what}: {key} = {n} is not an integer");
                } else if x.abs() > 1e11 {
                    panic!("{what}: {key} = {n} looks like nanoseconds (only *_ns fields may)");
                }
                if key == "ts" || key.ends_with("_ts") || key == "start" || key == "end" {
                    assert!(x > 1e8, "{what}: {key} = {n} is not seconds since the epoch");
                    *seen += 1;
                }
            }
            _ => {}
        }
    }
    for args in &runs {
        let mut all: Vec<&str> = args.clone();
        all.push("--no-progress");
        all.extend(caps.iter().map(String::as_str));
        let o = v6watch(&all);
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        let text = if args[0] == "report" {
            std::fs::read_to_string(&json).unwrap()
        } else {
            String::from_utf8(o.stdout).unwrap()
        };
        let values: Vec<serde_json::Value> = if args[2] == "jsonl" {
            text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
        } else {
            vec![serde_json::from_str(&text).unwrap()]
        };
        let mut seen = 0;
        for v in &values {
            walk(v, "", args[0], &mut seen);
        }
        assert!(seen > 0, "{args:?}: no time found");
    }
    // A DNS event and its flow agree on when it happened.
    let mut flows_args = vec!["flows", "--format", "jsonl", "--no-progress"];
    flows_args.extend(caps.iter().map(String::as_str));
    let flows: std::collections::HashMap<String, f64> = String::from_utf8(v6watch(&flows_args).stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| (v["uid"].as_str().unwrap().to_string(), v["ts"].as_f64().unwrap()))
        .collect();
    let mut dns_args = vec!["dns", "--format", "jsonl", "--no-progress"];
    dns_args.extend(caps.iter().map(String::as_str));
    let mut matched = 0;
    for l in String::from_utf8(v6watch(&dns_args).stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let flow_ts = flows[v["uid"].as_str().unwrap()];
        let ts = v["ts"].as_f64().unwrap();
        assert!(ts >= flow_ts - 1e-6, "a DNS event before its flow: {l}");
        matched += usize::from((ts - flow_ts).abs() < 1e-6);
    }
    assert!(matched > 0, "no DNS event at its flow's start");
    std::fs::remove_dir_all(&dir).ok();
}

/// `generate --replay`: every round is the captured traffic again, later and with other
/// addresses, so it makes as many flows again, with the same states; tshark finds no damage
/// the originals did not have and every checksum still holds.
#[test]
fn replayed_traffic_repeats_its_flows_with_valid_checksums() {
    let Some(corpus) = common::corpus() else { return };
    let caps = [corpus.join("arkime/curl-enabled-tls13.pcap"), corpus.join("zeek/ipv6-fragmented-dns.pcap")];
    let dir = tmpdir("replay");
    let out = dir.join("replay.pcap");
    let size: u64 = caps.iter().map(|c| std::fs::metadata(c).unwrap().len() - 24).sum();
    // Four rounds: the size of the frames four times (their pcap headers are the same size).
    let o = Command::new(env!("CARGO_BIN_EXE_v6watch"))
        .args(["generate", "-o", out.to_str().unwrap(), "--size", &(4 * size + 24).to_string(), "--replay"])
        .args(&caps)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let states = |args: &[&std::ffi::OsStr]| -> Vec<String> {
        let o = Command::new(env!("CARGO_BIN_EXE_v6watch"))
            .args(["flows", "--format", "jsonl", "--no-progress", "--sensor", "s=*"])
            .args(args)
            .output()
            .unwrap();
        let mut v: Vec<String> = String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|r| format!("{} {} {}", r["proto"], r["conn_state"], r["history"]))
            .collect();
        v.sort();
        v
    };
    let once = states(&[caps[0].as_os_str(), caps[1].as_os_str()]);
    let mut four: Vec<String> = once.iter().flat_map(|s| std::iter::repeat_n(s.clone(), 4)).collect();
    four.sort();
    assert!(!once.is_empty());
    assert_eq!(states(&[out.as_os_str()]), four);
    if tshark() {
        let o = Command::new("tshark")
            .args([
                "-n",
                "-o",
                "tcp.check_checksum:TRUE",
                "-o",
                "udp.check_checksum:TRUE",
                "-o",
                "ip.check_checksum:TRUE",
            ])
            .arg("-r")
            .arg(&out)
            // Checksum status 0 is "Bad" (1 good, 2 unverified).
            .args([
                "-Y",
                "tcp.checksum.status == 0 || udp.checksum.status == 0 || ip.checksum.status == 0 || _ws.malformed",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(o.stdout.is_empty(), "bad checksums or malformed frames: {}", String::from_utf8_lossy(&o.stdout));
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `probe` on loopback with targets from the config: a small HTTP server answers over IPv4, a
/// closed IPv6 port refuses; a bad entry is named and the rest still probed (exit 2); the
/// checks come from the probe's source ports; `health --records` reads the results back.
#[test]
fn probe_from_config_on_loopback() {
    use std::io::{Read, Write};
    let dir = tmpdir("probe-config");
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in server.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
        }
    });
    // A port nothing listens on (bound, then closed).
    let closed = std::net::TcpListener::bind("[::1]:0").expect("IPv6 loopback").local_addr().unwrap().port();
    let config = dir.join("probe.toml");
    std::fs::write(
        &config,
        format!(
            "[[probe]]\ntarget = \"http://127.0.0.1:{port}/ping\"\n\
             [[probe]]\ntarget = \"[::1]:{closed}\"\n\
             [[probe]]\ntarget = \"gopher://old.example/\"\n"
        ),
    )
    .unwrap();
    let out = dir.join("probe.jsonl");
    let o =
        v6watch(&["probe", "--config", config.to_str().unwrap(), "--format", "jsonl", "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("gopher"), "{err}");
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let get = |fam: u64, phase: &str| {
        lines.iter().find(|c| c["type"] == "probe" && c["family"] == fam && c["phase"] == phase).cloned().unwrap()
    };
    assert_eq!((get(4, "connect")["outcome"].as_str(), get(4, "http")["status"].as_u64()), (Some("ok"), Some(200)));
    assert_eq!(get(6, "connect")["outcome"], "refused");
    assert_eq!(get(6, "connect")["address"], format!("[::1]:{closed}"));
    let notes: Vec<&str> =
        lines.iter().filter(|l| l["type"] == "finding").map(|l| l["note"].as_str().unwrap()).collect();
    assert_eq!(notes, ["V6Mon::Service_Down"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), String::from_utf8_lossy(&o.stdout), "--out has the same lines");
    let h = v6watch(&["health", "--records", out.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(h.status.code(), Some(1));
    let text = String::from_utf8_lossy(&h.stdout);
    assert!(text.contains("\"note\":\"V6Mon::Service_Down\"") && text.contains("\"source\":\"probe\""), "{text}");
    // Nothing to probe, or an unusable option, is refused before anything is sent.
    let o = v6watch(&["probe"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to probe"));
    let o = v6watch(&["probe", "--probe-ports", "9-1", "http://127.0.0.1/"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("FIRST-LAST"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `--indicators`: bad lines named (file:line) and skipped, the others matched against
/// addresses, TLS names under a listed domain and mail; a match is a warning (exit 1).
#[test]
fn indicators_from_a_list_with_bad_lines() {
    let Some(corpus) = common::corpus() else { return };
    let cap = corpus.join("ndpi/smtp-starttls.pcap");
    let dir = tmpdir("indicators");
    let list = dir.join("bad.txt");
    std::fs::write(&list, "# test list\n173.194.68.0/24 ; SBL-1\nthis is not one\nweberlab.de\n").unwrap();
    let o = v6watch(&[
        "health",
        "--no-progress",
        "--format",
        "jsonl",
        "--indicators",
        list.to_str().unwrap(),
        cap.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.txt:3: one indicator per line"), "{err}");
    assert_eq!(o.status.code(), Some(1), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    let hits: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["note"] == "Threat::Indicator_Match")
        .collect();
    let what: Vec<(String, u64)> =
        hits.iter().map(|h| (h["service"].as_str().unwrap().to_string(), h["family"].as_u64().unwrap())).collect();
    assert!(what.contains(&("173.194.68.0/24".into(), 4)), "{what:?}");
    assert!(what.contains(&("weberlab.de".into(), 6)), "the SNI dovecot.weberlab.de over IPv6: {what:?}");
    assert!(hits.iter().all(|h| h["severity"] == "warning"));
    // A list that cannot be read is an error before anything runs.
    let o = v6watch(&["health", "--indicators", "/nonexistent/list.txt", cap.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/list.txt"));
}

/// `--tz` on the record commands: the table's times in the zone, named in the heading; the
/// config's `tz` when none is given; JSON keeps epoch seconds; a bad zone is refused.
#[test]
fn record_tables_take_a_zone() {
    let Some(corpus) = common::corpus() else { return };
    let cap = corpus.join("ndpi/smtp-starttls.pcap");
    let cap = cap.to_str().unwrap();
    for cmd in ["flows", "tls", "smtp"] {
        let utc = String::from_utf8_lossy(&v6watch(&[cmd, cap]).stdout).into_owned();
        let jst = String::from_utf8_lossy(&v6watch(&[cmd, "--tz", "Asia/Tokyo", cap]).stdout).into_owned();
        assert!(utc.starts_with("TIME (UTC)") && jst.starts_with("TIME (Asia/Tokyo)"), "{cmd}:\n{utc}\n{jst}");
        assert!(utc.contains("2013-12-26T00:18:44Z") && jst.contains("2013-12-26 09:18:44"), "{cmd}:\n{utc}\n{jst}");
    }
    let dir = tmpdir("tz-config");
    let conf = dir.join("c.toml");
    std::fs::write(&conf, "tz = \"America/New_York\"\n").unwrap();
    let o = v6watch(&["smtp", "--config", conf.to_str().unwrap(), cap]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2013-12-25 19:18:44"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let json = v6watch(&["smtp", "--tz", "Asia/Tokyo", "--format", "jsonl", cap]);
    assert!(String::from_utf8_lossy(&json.stdout).contains("\"ts\":1388017124.785875"));
    let bad = v6watch(&["flows", "--tz", "Mars/Base", cap]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an IANA time zone"));
}

/// The manual pages and completions come from the same definitions as `--help`: a page per
/// command, and every command completed.
#[test]
fn manual_pages_and_completions() {
    let dir = tmpdir("man");
    let o = v6watch(&["man", "-o", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for cmd in ["", "-probe", "-live", "-smtp", "-report", "-health"] {
        let page = std::fs::read_to_string(dir.join(format!("v6watch{cmd}.1"))).unwrap();
        assert!(page.starts_with(".ie") || page.contains(".TH"), "v6watch{cmd}.1 is a manual page");
    }
    assert!(std::fs::read_to_string(dir.join("v6watch-probe.1")).unwrap().contains("Happy Eyeballs"));
    for shell in ["bash", "zsh", "fish"] {
        let o = v6watch(&["completions", shell]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && text.contains("probe") && text.contains("smtp") && text.contains("indicators"),
            "{shell}"
        );
    }
}

/// The dns table: an mDNS announcement shows its responder and the names it announces (not
/// the group address and an empty query), an unknown record type its RFC 3597 form with one
/// backslash, round trips in milliseconds to three significant digits.
#[test]
fn dns_table_reads_like_dig() {
    let Some(corpus) = common::corpus() else { return };
    let o = v6watch(&["dns", corpus.join("zeek/mdns.pcap").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    let announced: Vec<&str> = text.lines().filter(|l| l.contains("(announced)")).collect();
    assert!(!announced.is_empty(), "{text}");
    assert!(
        announced.iter().all(|l| !l.contains("ff02::fb") && !l.contains("224.0.0.251") && !l.contains("TYPE0")),
        "{text}"
    );
    // The name is cut to its column (the marker kept); whole with --wide.
    assert!(announced[0].contains("johanna-QEMU-") && announced[0].contains("… +"), "{}", announced[0]);
    let wide = v6watch(&["dns", "--wide", corpus.join("zeek/mdns.pcap").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&wide.stdout).contains("johanna-QEMU-Virtual-Machine.local +"));
    let o = v6watch(&["dns", corpus.join("zeek/dns-edns-ecs.pcap").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("TYPE46 \\# 159 0001080300000e10"), "{text}");
    assert!(!text.contains("\\\\#"), "{text}");
    assert!(text.contains("0.301 ms"), "{text}");
}

/// A tcpdump-style filter given where a capture is expected gets a hint, not just "no such
/// file"; a plain missing file does not.
#[test]
fn a_filter_given_as_a_file_name_gets_a_hint() {
    let o = v6watch(&["flows", "tcp port 80"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("looks like a capture filter") && err.contains("tcpdump -r CAPTURE -w - 'tcp port 80'"),
        "{err}"
    );
    let o = v6watch(&["flows", "no-such-capture.pcap"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("capture filter"));
}

/// Tables fit a terminal: every line of every table command at most 100 columns on the demo
/// and on the corpus (long values cut with `…`, long last columns and DNS answers continued
/// below, prose wrapped); `--wide` gives each record whole on one line, with nothing cut.
#[test]
fn tables_fit_100_columns_and_wide_shows_everything() {
    let dir = tmpdir("tables-fit");
    let o = v6watch(&["demo", "-o", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let conf = dir.join("v6watch.toml");
    let caps: Vec<String> =
        ["honeypot1.pcapng", "honeypot2.pcapng"].iter().map(|f| dir.join(f).display().to_string()).collect();
    let mut inputs: Vec<Vec<String>> = vec![caps.clone()];
    if let Some(corpus) = common::corpus() {
        for f in [
            "zeek/dns-edns-ecs.pcap",
            "zeek/mdns.pcap",
            "ndpi/smtp-starttls.pcap",
            "arkime/v6-http.pcap",
            "zeek/chromium-115.0.5790.110-google-de-fragmented.pcap",
        ] {
            if corpus.join(f).exists() {
                inputs.push(vec![corpus.join(f).display().to_string()]);
            }
        }
    }
    let width = |s: &str| s.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    for input in &inputs {
        for cmd in ["flows", "dns", "http", "tls", "smtp", "peers", "health", "summary", "timeline"] {
            let mut args = vec![cmd, "--config", conf.to_str().unwrap(), "--tz", "Asia/Tokyo"];
            args.extend(input.iter().map(String::as_str));
            let o = v6watch(&args);
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(width(&text) <= 100, "{cmd} {input:?}: {} columns\n{text}", width(&text));
        }
    }
    // --wide: the demo's twelve AAAA answers on the line of their query, the long Safe Browsing
    // request whole, and one line per flow (as many lines as JSON records).
    let wide = |cmd: &str| {
        let mut args = vec![cmd, "--wide"];
        args.extend(caps.iter().map(String::as_str));
        String::from_utf8_lossy(&v6watch(&args).stdout).into_owned()
    };
    let dns = wide("dns");
    assert!(dns.lines().any(|l| l.matches("AAAA 2404:6800:4004:805::").count() == 12), "all answers on one line");
    assert!(!dns.contains('…'));
    let http = wide("http");
    assert!(http.contains(
        "POST /safebrowsing/downloads?client=navclient-auto-ffox&appver=3.6.17&pver=2.2&wrkey=AKEgNiux HTTP/1.1"
    ));
    let flows = wide("flows");
    let mut args = vec!["flows", "--format", "jsonl"];
    args.extend(caps.iter().map(String::as_str));
    let records = String::from_utf8_lossy(&v6watch(&args).stdout).lines().count();
    assert_eq!(flows.lines().count(), records + 1, "one line per flow and the heading");
    // The narrow table keeps every flow and its endpoints (continued on the line below).
    let mut args = vec!["flows"];
    args.extend(caps.iter().map(String::as_str));
    let narrow = String::from_utf8_lossy(&v6watch(&args).stdout).into_owned();
    assert_eq!(narrow.lines().filter(|l| l.contains(" -> ") && !l.contains("ORIG -> RESP")).count(), records);
}

/// `-f EXPR` reads the frames tcpdump's filter keeps: the flows of `flows -f EXPR FILE` are the
/// flows of `tcpdump -r FILE -w - EXPR | v6watch flows -` (same endpoints, packets and bytes),
/// on the demo and on corpus captures of five link types (Ethernet, Linux SLL2, raw IP, BSD
/// loopback); a bad filter is exit 2 before
/// anything is written.
#[test]
fn capture_filter_reads_what_tcpdump_keeps() {
    if !common::have("tcpdump") {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI=true but tcpdump is not installed");
        return;
    }
    let dir = tmpdir("capture-filter");
    assert!(v6watch(&["demo", "-o", dir.to_str().unwrap()]).status.success());
    let mut cases: Vec<(String, &str)> = vec![
        (dir.join("honeypot1.pcapng").display().to_string(), "ip6 and tcp port 443"),
        (dir.join("honeypot2.pcapng").display().to_string(), "udp port 53 or icmp6"),
    ];
    if let Some(corpus) = common::corpus() {
        for (f, expr) in [
            ("zeek/linux_dlt_sll2.pcap", "ip6"),
            ("zeek/Teredo.pcap", "udp port 53"),
            ("arkime/v6-http.pcap", "tcp port 80"),
            ("pcapplusplus/four_ipv6_http_streams.pcap", "ip6 and tcp port 80 and greater 200"),
            ("suricata-verify/http-ipv6--input.pcap", "greater 100"),
        ] {
            cases.push((corpus.join(f).display().to_string(), expr));
        }
    }
    let key = |text: &str| -> Vec<String> {
        let mut v: Vec<String> = text
            .lines()
            .map(|l| {
                let j: serde_json::Value = serde_json::from_str(l).unwrap();
                format!(
                    "{} {} {} {} {} {} {} {} {} {}",
                    j["ts"],
                    j["id.orig_h"],
                    j["id.orig_p"],
                    j["id.resp_h"],
                    j["id.resp_p"],
                    j["proto"],
                    j["orig_pkts"],
                    j["resp_pkts"],
                    j["orig_ip_bytes"],
                    j["resp_ip_bytes"]
                )
            })
            .collect();
        v.sort();
        v
    };
    for (cap, expr) in &cases {
        let ours = v6watch(&["flows", "--format", "jsonl", "-f", expr, cap]);
        assert!(ours.status.success(), "{cap}: {}", String::from_utf8_lossy(&ours.stderr));
        let filtered = dir.join("tcpdump.pcap");
        let t = Command::new("tcpdump").args(["-r", cap, "-w"]).arg(&filtered).arg(expr).output().unwrap();
        assert!(t.status.success(), "tcpdump {cap}: {}", String::from_utf8_lossy(&t.stderr));
        let theirs = v6watch(&["flows", "--format", "jsonl", filtered.to_str().unwrap()]);
        let (a, b) = (key(&String::from_utf8_lossy(&ours.stdout)), key(&String::from_utf8_lossy(&theirs.stdout)));
        assert!(!a.is_empty(), "{cap} {expr}: the filter kept something");
        assert_eq!(a, b, "{cap} {expr}");
        let all = key(&String::from_utf8_lossy(&v6watch(&["flows", "--format", "jsonl", cap]).stdout));
        assert_ne!(all, a, "{cap} {expr}: the filter left something out");
    }
    let bad = v6watch(&["report", "-f", "port eighty", "-o", dir.join("r.html").to_str().unwrap(), &cases[0].0]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a capture filter"));
    assert!(!dir.join("r.html").exists(), "nothing written");
}

/// A report written to a named pipe stays a pipe, and one written through a symlink replaces
/// the file it points to and keeps the link: renaming a temporary file over the path (as for a
/// regular file) had turned `/dev/null` and `/dev/stdout` into regular files when run as root.
#[test]
fn report_writes_into_pipes_and_through_symlinks() {
    use std::os::unix::fs::FileTypeExt as _;
    let d = tmpdir("write-into");
    let g = d.join("g.pcap");
    assert!(v6watch(&["generate", "-o", g.to_str().unwrap(), "--size", "1M"]).status.success());
    let fifo = d.join("pipe");
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let o = v6watch(&["report", "--no-progress", "-o", fifo.to_str().unwrap(), g.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Checked before waiting for the reader, which would wait for ever had the pipe been replaced.
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "still a named pipe");
    assert!(reader.join().unwrap().starts_with("<!DOCTYPE html>"), "the report came through the pipe");
    let (real, link) = (d.join("real.json"), d.join("link.json"));
    let _ = std::fs::remove_file(&link);
    std::fs::write(&real, "old").unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let html = d.join("r.html");
    let o = v6watch(&[
        "report",
        "--no-progress",
        "-o",
        html.to_str().unwrap(),
        "--json",
        link.to_str().unwrap(),
        g.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is kept");
    assert!(std::fs::read_to_string(&real).unwrap().starts_with('{'), "the file it points to is replaced");
    let _ = std::fs::remove_dir_all(&d);
}

/// `bench` on a small made-up capture: every configuration is timed and reported with its
/// throughput, the ratios between them, peak memory and the host's CPU steal; tshark too when
/// asked (it is installed wherever the tests run).
#[test]
fn bench_reports_every_configuration() {
    let d = common::tmpdir("bench");
    let g = d.join("g.pcap");
    assert!(v6watch(&["generate", "-o", g.to_str().unwrap(), "--size", "2M", "--concurrent", "50"]).status.success());
    let o = v6watch(&["bench", "--runs", "2", "--tshark", g.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}\n{}", String::from_utf8_lossy(&o.stderr));
    for head in [
        "capture ",
        "best of 2 runs",
        "flows            ",
        "  --threads 1    ",
        "  --no-apps      ",
        "report           ",
        "report --export  ",
        "export           ",
        "  files ",
        "peak RSS ",
        "CPU time ",
        "host steal ",
        "tshark conv ",
        "ratio ",
    ] {
        assert_eq!(
            text.lines().filter(|l| l.starts_with(head)).count(),
            1 + usize::from(head == "  --threads 1    "),
            "{head:?} in\n{text}"
        );
    }
    assert!(text.contains(" MB/s ") && text.contains(" Mpkt/s") && text.contains("x faster"), "{text}");
    let steal = text.lines().find(|l| l.starts_with("host steal ")).unwrap();
    assert!(steal.ends_with("in 14 runs") || steal.contains("of 14 runs lost CPU time"), "{steal}");
    // Every run took some CPU time, and with more than one core its cost is set against one thread's.
    let cpu = text.lines().find(|l| l.starts_with("CPU time ")).unwrap();
    let secs: Vec<f64> = cpu.split_whitespace().filter(|w| w.contains('.')).filter_map(|w| w.parse().ok()).collect();
    assert!(secs.len() == 4 && secs.iter().all(|&s| s > 0.0), "{cpu}");
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        assert!(text.contains(" threads      report uses ") && text.contains("x faster on "), "{text}");
    }
}

/// A folder the unprivileged user of [`limited`] can reach whatever the checkout's permissions
/// are, with a copy of v6watch in it: the folder and the copy.
fn task_limit_dir(tag: &str) -> (std::path::PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let d = std::env::temp_dir().join(format!("v6watch-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    let exe = d.join("v6watch");
    std::fs::copy(env!("CARGO_BIN_EXE_v6watch"), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = exe.to_str().unwrap().to_string();
    (d, exe)
}

/// `exe` run as nobody (root is exempt from the limit) under a task limit that refuses every
/// new thread, with `setpriv` and `prlimit` from util-linux.
fn limited(exe: &str) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "prlimit", "--nproc=1", exe]);
    c
}

/// A task limit that refuses every new thread (a container's `pids.max`, a user's `ulimit -u`):
/// `report --threads 2` reads on one thread instead, says so, and writes the same report (JSON
/// and page) as with its threads; nothing panics. Run as an unprivileged user (root is exempt
/// from the limit), with `setpriv` and `prlimit` from util-linux.
#[test]
fn report_under_a_task_limit_is_the_same_report() {
    if !common::root_with(&["setpriv", "prlimit"], "task-limit test") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let (d, exe) = task_limit_dir("task-limit");
    let g = d.join("traffic.pcap");
    assert!(v6watch(&["generate", "-o", g.to_str().unwrap(), "--size", "2M", "--concurrent", "300"]).status.success());
    std::fs::set_permissions(&g, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (g, exe) = (g.to_str().unwrap(), exe.as_str());
    let free = d.join("free");
    std::fs::create_dir_all(&free).unwrap();
    let o = v6watch(&[
        "report",
        "--threads",
        "2",
        "--json",
        free.join("r.json").to_str().unwrap(),
        "-o",
        free.join("r.html").to_str().unwrap(),
        g,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (json, html) = (d.join("r.json"), d.join("r.html"));
    let o = limited(exe)
        .args(["report", "--threads", "2", "--json", json.to_str().unwrap(), "-o", html.to_str().unwrap(), g])
        .output()
        .expect("run setpriv");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !err.contains("panicked"), "under the limit: {err}");
    assert!(err.contains("cannot start 2 worker threads"), "says it reads on one thread: {err}");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    assert_eq!(read(&json), read(&free.join("r.json")), "the same JSON");
    // The page names its own file; the rest is the same.
    let page = |p: &Path, name: &str| read(p).replace(p.to_str().unwrap(), "PAGE").replace(name, "PAGE");
    assert_eq!(page(&html, "r.html"), page(&free.join("r.html"), "r.html"), "the same page");
    // `export` encodes its Parquet files beside the analysis: under the limit, on its own
    // thread, into the same files.
    let (limited_ds, free_ds) = (d.join("ds"), free.join("ds"));
    assert!(v6watch(&["export", "--threads", "2", "-o", free_ds.to_str().unwrap(), g]).status.success());
    let o = limited(exe)
        .args(["export", "--threads", "2", "-o", limited_ds.to_str().unwrap(), g])
        .output()
        .expect("run setpriv");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !err.contains("panicked"), "export under the limit: {err}");
    let files = |root: &Path| -> Vec<(String, Vec<u8>)> {
        let read =
            |p: std::path::PathBuf| (p.strip_prefix(root).unwrap().display().to_string(), std::fs::read(&p).unwrap());
        common::files_under(root).into_iter().map(read).collect()
    };
    let (l, f) = (files(&limited_ds), files(&free_ds));
    assert!(f.len() >= 4, "{:?}", f.iter().map(|x| &x.0).collect::<Vec<_>>());
    assert!(l == f, "the same dataset files: {:?}", l.iter().map(|x| &x.0).collect::<Vec<_>>());
    // A capture on a pipe is read by a thread of its own (so a quiet stream can tick): under
    // the limit it is read on the main thread, into the same records.
    let piped = |limited_run: bool| -> Output {
        let mut c = if limited_run { limited(exe) } else { Command::new(exe) };
        let mut child = c
            .args(["flows", "-", "--format", "jsonl"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start flows -");
        let mut stdin = child.stdin.take().unwrap();
        let bytes = std::fs::read(g).unwrap();
        let feeder = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&bytes);
        });
        let o = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        o
    };
    let (free_pipe, limited_pipe) = (piped(false), piped(true));
    let err = String::from_utf8_lossy(&limited_pipe.stderr);
    assert!(limited_pipe.status.success() && !err.contains("panicked"), "flows - under the limit: {err}");
    assert!(err.contains("reading it on this one"), "says how it reads: {err}");
    assert!(!free_pipe.stdout.is_empty() && free_pipe.stdout == limited_pipe.stdout, "the same records from the pipe");
    let _ = std::fs::remove_dir_all(&d);
}

/// `probe` under a task limit that refuses every new thread: each target's families are
/// checked one after the other on the one thread there is, with the same outcomes as with
/// threads; the Happy Eyeballs race, which needs a thread per family, is reported as not run
/// (skipped, so it raises no finding) instead of panicking. A name that resolves to both
/// loopbacks, from a resolver on loopback; HTTP answers on both.
#[test]
fn probe_under_a_task_limit_checks_every_family() {
    use std::io::{Read, Write};
    if !common::root_with(&["setpriv", "prlimit"], "task-limit probe test") {
        return;
    }
    let (d, exe) = task_limit_dir("probe-limit");
    // One HTTP port number on both loopbacks.
    let (v4, v6) = (0..20)
        .find_map(|_| {
            let v4 = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
            let v6 = std::net::TcpListener::bind(("::1", v4.local_addr().ok()?.port())).ok()?;
            Some((v4, v6))
        })
        .expect("a port free on both loopbacks");
    let port = v4.local_addr().unwrap().port();
    for server in [v4, v6] {
        std::thread::spawn(move || {
            for mut s in server.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            }
        });
    }
    // The resolver: dual.test has 127.0.0.1 and ::1.
    let dns = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let resolver = dns.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = dns.recv_from(&mut buf) {
            if n < 17 {
                continue;
            }
            let id = u16::from_be_bytes([buf[0], buf[1]]);
            let qtype = u16::from_be_bytes([buf[n - 4], buf[n - 3]]);
            let addr: std::net::IpAddr =
                if qtype == 28 { "::1".parse().unwrap() } else { "127.0.0.1".parse().unwrap() };
            let _ = dns.send_to(&synth::dns_message(id, "dual.test", qtype, &[addr], true), from);
        }
    });
    let target = format!("http://dual.test:{port}/ping");
    let args = ["probe", "--resolver", &resolver.to_string(), "--format", "jsonl", &target];
    let outcomes = |o: &Output| -> Vec<(u64, String, String)> {
        let mut v: Vec<(u64, String, String)> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|c| c["type"] == "probe")
            .map(|c| (c["family"].as_u64().unwrap(), c["phase"].to_string(), c["outcome"].to_string()))
            .collect();
        v.sort();
        v
    };
    let free = v6watch(&args);
    assert_eq!(free.status.code(), Some(0), "{}", String::from_utf8_lossy(&free.stderr));
    let limited = limited(&exe).args(args).output().expect("run setpriv");
    let err = String::from_utf8_lossy(&limited.stderr);
    assert!(!err.contains("panicked"), "under the limit: {err}");
    assert_eq!(limited.status.code(), Some(0), "no finding under the limit either: {err}");
    let (f, l) = (outcomes(&free), outcomes(&limited));
    let race = |v: &[(u64, String, String)]| v.iter().find(|c| c.1 == "\"race\"").cloned();
    assert_eq!(race(&f).map(|r| r.2), Some("\"ok\"".into()), "{f:?}");
    assert_eq!(race(&l).map(|r| r.2), Some("\"skipped\"".into()), "{l:?}");
    let others = |v: &[(u64, String, String)]| v.iter().filter(|c| c.1 != "\"race\"").cloned().collect::<Vec<_>>();
    assert_eq!(others(&l), others(&f), "every family's checks, as with threads");
    assert!(others(&f).iter().any(|c| c.0 == 6) && others(&f).iter().any(|c| c.0 == 4), "{f:?}");
    let _ = std::fs::remove_dir_all(&d);
}

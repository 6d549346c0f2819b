//! `v6watch health` end to end: the demo's broken update service and Path-MTU black hole are
//! found and classified, exit codes follow --fail-on, Prometheus metrics are written, and no
//! warning-level finding fires on the healthy traffic of the shared corpus.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

fn v6watch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_v6watch")).args(args).output().expect("run v6watch")
}

fn demo(name: &str) -> (PathBuf, Vec<String>) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let o = v6watch(&["demo", "-o", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files = ["honeypot1.pcapng", "honeypot2.pcapng"].map(|f| dir.join(f).display().to_string()).to_vec();
    (dir, files)
}

fn lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).expect(l)).collect()
}

#[test]
fn demo_failures_are_found_and_classified() {
    let (dir, files) = demo("health-demo-jsonl");
    let prom = dir.join("v6watch.prom");
    let mut args = vec!["health", "--format", "jsonl", "--no-progress", "--prometheus", prom.to_str().unwrap()];
    args.extend(files.iter().map(String::as_str));
    let o = v6watch(&args);
    assert_eq!(o.status.code(), Some(1), "findings at warning or above exit 1: {}", String::from_utf8_lossy(&o.stderr));
    let v = lines(&o);
    let of = |t: &'static str| v.iter().filter(move |x| x["type"] == t);
    // The update service: IPv6 broken during the event, clients fall back to IPv4.
    for sensor in ["honeypot1", "honeypot2"] {
        let down: Vec<_> =
            of("finding").filter(|f| f["note"] == "V6Mon::IPv6_Service_Down" && f["sensor"] == sensor).collect();
        assert_eq!(down.len(), 1, "{sensor}: {down:?}");
        assert_eq!(down[0]["service"], "update.example-av.net:443");
        assert_eq!(down[0]["severity"], "critical");
        assert_eq!(down[0]["n"], 12, "one IPv6 attempt every two hours of the event");
        let kinds: Vec<&str> =
            of("fallback").filter(|f| f["sensor"] == sensor).map(|f| f["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "timeout_slow").count(), 8, "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == "error_triggered").count(), 4, "{kinds:?}");
        // The mirror whose large responses stall over IPv6.
        let bh: Vec<_> = of("pmtu").filter(|b| b["sensor"] == sensor).collect();
        assert_eq!(bh.len(), 6, "{bh:?}");
        assert!(bh
            .iter()
            .all(|b| b["service"] == "dl.example-mirror.org" && b["state"] == "stalled" && b["confidence"] == "high"));
        assert!(of("finding")
            .any(|f| f["note"] == "V6Mon::PMTU_Blackhole" && f["sensor"] == sensor && f["severity"] == "warning"));
    }
    // Google's names switch to IPv6 on the day and back after it.
    let sb: Vec<&str> = of("service_event")
        .filter(|e| e["sensor"] == "honeypot1" && e["service"] == "safebrowsing.clients.google.com")
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    let kinds = sb;
    assert_eq!(
        kinds,
        ["service_gained_aaaa", "service_switched_to_v6", "service_lost_aaaa", "service_fell_back_to_v4"]
    );
    // Nothing is broken outside the two services.
    for f in of("finding").filter(|f| f["severity"] != "info") {
        let s = f["service"].as_str().unwrap_or("");
        assert!(s.starts_with("update.example-av.net") || s.starts_with("dl.example-mirror.org"), "unexpected {f}");
    }
    // Prometheus text format, low cardinality, atomically written (no temporary left behind).
    let text = std::fs::read_to_string(&prom).expect("metrics file");
    assert!(text.contains(
        "v6watch_connect_attempts_total{sensor=\"honeypot1\",family=\"ipv6\",service=\"update.example-av.net:443\",outcome=\"timeout\"} 8"
    ));
    assert!(text.contains(
        "v6watch_fallbacks_total{sensor=\"honeypot1\",service=\"update.example-av.net:443\",kind=\"timeout_slow\"} 8"
    ));
    assert!(text.contains("# TYPE v6watch_connect_duration_seconds histogram"));
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').expect(line);
        assert!(value.parse::<f64>().is_ok(), "bad sample line {line}");
    }
    let services: std::collections::BTreeSet<&str> =
        text.lines().filter_map(|l| l.split("service=\"").nth(1)).filter_map(|r| r.split('"').next()).collect();
    assert!(services.len() <= 11, "top 10 plus other: {services:?}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn fail_on_sets_the_exit_code_and_the_table_names_the_failure() {
    let (_, files) = demo("health-demo-table");
    let run = |level: &str| {
        let mut args = vec!["health", "--no-progress", "--fail-on", level];
        args.extend(files.iter().map(String::as_str));
        v6watch(&args)
    };
    let o = run("never");
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("IPv6_Service_Down"), "{text}");
    assert!(text.contains("IPv6 to update.example-av.net:443 failed 12/12 times in a row while IPv4 worked"), "{text}");
    assert!(text.contains("PMTU_Blackhole"), "{text}");
    assert_eq!(run("critical").status.code(), Some(1));
    assert_eq!(run("info").status.code(), Some(1));
}

/// Precision: the corpus is ordinary traffic; no warning-level finding may fire on it.
#[test]
fn no_warning_on_the_healthy_corpus() {
    let Some(dir) = common::corpus() else { return };
    let mut checked = 0;
    let mut attempts = 0u64;
    for (file, _) in common::inventory(&dir) {
        let path = dir.join(&file);
        let o =
            v6watch(&["health", "--format", "jsonl", "--no-progress", "--fail-on", "warning", path.to_str().unwrap()]);
        let code = o.status.code();
        assert!(matches!(code, Some(0) | Some(2)), "{file}: exit {code:?}: {}", String::from_utf8_lossy(&o.stdout));
        for v in lines(&o) {
            if v["type"] == "finding" {
                assert_eq!(v["severity"], "info", "{file}: {v}");
            }
            if v["type"] == "outcome" {
                attempts += v["attempts"].as_u64().unwrap();
            }
        }
        checked += 1;
    }
    assert!(checked >= 70, "corpus files checked: {checked}");
    assert!(attempts > 2_000, "the corpus has connection attempts to judge: {attempts}");
}

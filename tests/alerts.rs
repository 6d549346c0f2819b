//! The Prometheus rules shipped in `prometheus/`: promtool accepts them and their unit tests
//! pass; on the demo, the alerts they raise from v6watch's own metrics are the findings of
//! v6watch's analysis; node_exporter's textfile collector (the real reader of these files)
//! accepts every metrics file v6watch writes.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("prometheus/v6watch-rules.yml")
}

/// Runs promtool; its combined output, and whether it succeeded.
fn promtool(args: &[&str]) -> (bool, String) {
    let o = Command::new("promtool").args(args).output().expect("run promtool");
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn the_rules_pass_promtool_and_their_unit_tests() {
    if !common::tools(&["promtool"], "Prometheus rules' check") {
        return;
    }
    let (ok, out) = promtool(&["check", "rules", rules().to_str().unwrap()]);
    assert!(ok && out.contains("SUCCESS"), "{out}");
    let tests = rules().with_file_name("v6watch-rules.test.yml");
    let (ok, out) = promtool(&["test", "rules", tests.to_str().unwrap()]);
    assert!(ok && out.contains("SUCCESS"), "{out}");
}

/// The demo's metrics as promtool input series: every counter (`_total`) rises from 0 to its
/// value at the first minute, as if the capture's traffic had arrived at once on a live
/// sensor; every gauge holds its value. Histogram series are left out (no rule reads them).
fn input_series(prom: &str) -> String {
    let mut out = String::new();
    for line in prom.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let name = series.split('{').next().unwrap();
        if name.starts_with("v6watch_connect_duration_seconds") {
            continue;
        }
        let values = if name.ends_with("_total") { format!("0 {value}x30") } else { format!("{value}x31") };
        out.push_str(&format!("      - series: '{series}'\n        values: '{values}'\n"));
    }
    out
}

/// Whether the same facts, read two ways, agree: the rules raise, from the metrics `health
/// --prometheus` writes for the demo, exactly the alerts the analysis's warning and critical
/// findings name (each finding carries the name of the Prometheus alert it corresponds to),
/// for the same sensors and services — and none for the healthy services.
#[test]
fn the_demo_metrics_raise_the_alerts_of_its_findings() {
    if !common::tools(&["promtool"], "demo's alerts test") {
        return;
    }
    let d = common::tmpdir("alerts-demo");
    common::v6watch_stdout(&["demo", "-o", d.to_str().unwrap()]);
    let prom = d.join("demo.prom");
    let (cfg, h1, h2) = (d.join("v6watch.toml"), d.join("honeypot1.pcapng"), d.join("honeypot2.pcapng"));
    let lines = common::jsonl(&[
        "health",
        "--config",
        cfg.to_str().unwrap(),
        "--format",
        "jsonl",
        "--fail-on",
        "never",
        "--prometheus",
        prom.to_str().unwrap(),
        h1.to_str().unwrap(),
        h2.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(rules()).unwrap();
    let alerts: BTreeSet<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")).collect();
    let expected: BTreeSet<(String, String, String)> = lines
        .iter()
        .filter(|l| l["type"] == "finding" && l["severity"] != "info")
        .filter(|l| l["alert"].as_str().is_some_and(|a| alerts.contains(a)))
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap().to_string();
            (s("alert"), s("sensor"), s("service"))
        })
        .collect();
    // The demo has every kind of failure the per-service rules look for.
    let kinds: BTreeSet<&str> = expected.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["IPv6FallbackSpike", "IPv6ServiceDown", "IPv6SlowFallback", "PMTUBlackhole"]),
        "{expected:?}"
    );
    let samples: String = expected
        .iter()
        .map(|(a, s, v)| {
            format!(
                "          - labels: '{{alertname=\"{a}\", sensor=\"{s}\", service=\"{v}\"}}'\n            value: 1\n"
            )
        })
        .collect();
    let test = format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{}    promql_expr_test:\n      - expr: count by (alertname, sensor, service) (ALERTS{{alertstate=\"firing\", severity=~\"warning|critical\", alertname!=\"V6watchFindings\"}})\n        eval_time: 15m\n        exp_samples:\n{samples}      - expr: ALERTS{{alertname=\"V6watchFindings\", alertstate=\"firing\"}}\n        eval_time: 15m\n        exp_samples:\n          - labels: 'ALERTS{{alertname=\"V6watchFindings\", alertstate=\"firing\", severity=\"critical\"}}'\n            value: 1\n          - labels: 'ALERTS{{alertname=\"V6watchFindings\", alertstate=\"firing\", severity=\"warning\"}}'\n            value: 1\n",
        rules().display(),
        input_series(&std::fs::read_to_string(&prom).unwrap())
    );
    let file = d.join("demo.test.yml");
    std::fs::write(&file, test).unwrap();
    let (ok, out) = promtool(&["test", "rules", file.to_str().unwrap()]);
    assert!(ok, "the alerts from the demo's metrics are not its findings' ({expected:?}):\n{out}");
    let _ = std::fs::remove_dir_all(&d);
}

/// node_exporter's textfile collector parses each file with Prometheus's own parser and
/// reports one it cannot read (`node_textfile_scrape_error 1`, the file's metrics left out):
/// the metrics of `health` on the demo and on a hostile capture (labels from packets) are
/// served whole.
#[test]
fn node_exporter_serves_every_metrics_file() {
    if !common::tools(&["prometheus-node-exporter", "curl"], "textfile collector check") {
        return;
    }
    let d = common::tmpdir("alerts-textfile");
    let files = d.join("textfile");
    std::fs::create_dir_all(&files).unwrap();
    common::v6watch_stdout(&["demo", "-o", d.to_str().unwrap()]);
    let hostile = d.join("hostile.pcap");
    common::hostile_capture(&hostile);
    let runs: [(&str, Vec<PathBuf>); 2] =
        [("demo", vec![d.join("honeypot1.pcapng"), d.join("honeypot2.pcapng")]), ("hostile", vec![hostile.clone()])];
    let mut names = BTreeSet::new();
    for (name, inputs) in &runs {
        let prom = files.join(format!("v6watch-{name}.prom"));
        let mut args = vec!["health".to_string(), "--fail-on".into(), "never".into(), "--prometheus".into()];
        args.push(prom.display().to_string());
        if *name == "demo" {
            args.extend(["--config".into(), d.join("v6watch.toml").display().to_string()]);
        }
        args.extend(inputs.iter().map(|p| p.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::v6watch_stdout(&args);
        for l in std::fs::read_to_string(&prom).unwrap().lines().filter(|l| !l.starts_with('#')) {
            names.insert(l.split(['{', ' ']).next().unwrap().to_string());
        }
    }
    common::textfile_served(&files);
    assert!(names.contains("v6watch_connect_attempts_total") && names.contains("v6watch_findings"), "{names:?}");
    let _ = std::fs::remove_dir_all(&d);
}

//! Stored records as input: `report --records` on what `report --export` wrote gives the same
//! analysis as the captures (every section but `sensors`, the capture statistics records do
//! not carry), on the demo and on every corpus capture; records that do not belong together
//! are refused with the file and line, and nothing is written.

mod common;

use common::tmpdir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn v6watch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_v6watch")).args(args).output().expect("run v6watch")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn records(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

/// Writes the demo's captures into `d` (`d/v6watch-demo/`).
fn demo(d: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_v6watch")).args(["demo"]).current_dir(d).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Exports `inputs` (with `extra` options), reports from the export, compares.
fn same_from_records(d: &Path, extra: &[&str], inputs: &[&str]) -> bool {
    let (a, b, ex) = (d.join("a.json"), d.join("b.json"), d.join("ex"));
    let _ = std::fs::remove_dir_all(&ex);
    let _ = std::fs::remove_file(&a);
    let mut args = vec!["report", "--no-progress", "--json", s(&a), "-o"];
    let html = d.join("a.html");
    args.push(s(&html));
    args.extend(["--export", s(&ex)]);
    args.extend(extra);
    args.extend(inputs);
    v6watch(&args);
    if !a.is_file() {
        return false; // not a capture: nothing to compare
    }
    let files = records(&ex);
    let html_b = d.join("b.html");
    let mut args = vec!["report", "--no-progress", "--json", s(&b), "-o", s(&html_b)];
    args.extend(extra);
    args.push("--records");
    args.extend(files.iter().map(|p| s(p)));
    let out = v6watch(&args);
    assert!(out.status.success(), "{inputs:?}: {}", String::from_utf8_lossy(&out.stderr));
    common::same_analysis(&a, &b, &inputs, "records");
    true
}

#[test]
fn the_demo_from_its_records_is_the_same_analysis() {
    let d = tmpdir("records-demo");
    demo(&d);
    let demo = d.join("v6watch-demo");
    let (conf, h1, h2) = (demo.join("v6watch.toml"), demo.join("honeypot1.pcapng"), demo.join("honeypot2.pcapng"));
    assert!(same_from_records(&d, &["--config", s(&conf)], &[s(&h1), s(&h2)]));
    // The findings are there, not merely both empty.
    let v = common::analysis(&d.join("b.json"));
    assert!(v["health"]["findings"].as_array().is_some_and(|f| !f.is_empty()), "the demo's findings");
    assert!(v["health"]["fallbacks"].as_array().is_some_and(|f| !f.is_empty()), "the demo's fallbacks");
}

#[test]
fn every_corpus_capture_from_its_records_is_the_same_analysis() {
    let Some(dir) = common::corpus() else { return };
    let d = tmpdir("records-corpus");
    let mut compared = 0;
    for (file, _) in common::inventory(&dir) {
        let path = dir.join(&file);
        if same_from_records(&d, &[], &[s(&path)]) {
            compared += 1;
        }
    }
    assert!(compared > 50, "{compared} captures compared");
}

#[test]
fn records_that_do_not_belong_together_are_refused() {
    let d = tmpdir("records-bad");
    demo(&d);
    let ex = d.join("ex");
    let h1 = d.join("v6watch-demo/honeypot1.pcapng");
    let r = v6watch(&["report", "--no-progress", "-o", s(&d.join("x.html")), "--export", s(&ex), s(&h1)]);
    assert!(r.status.success());
    // Facts in another order than the flows.
    let facts = std::fs::read_to_string(ex.join("facts.jsonl")).unwrap();
    let mut lines: Vec<&str> = facts.lines().collect();
    lines.swap(0, 1);
    let bad = d.join("facts-swapped.jsonl");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let html = d.join("bad.html");
    let out = v6watch(&["report", "--no-progress", "-o", s(&html), "--records", s(&ex.join("flows.jsonl")), s(&bad)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("flows.jsonl: line 1") && err.contains("not this flow's facts"), "{err}");
    assert!(!html.exists(), "no report from refused records");
    // A file that is not records at all.
    let out = v6watch(&["report", "--no-progress", "-o", s(&html), "--records", s(&h1)]);
    assert!(!out.status.success() && !html.exists());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a v6watch record"));
    // A damaged flow line names its file, line and column.
    let flows = std::fs::read_to_string(ex.join("flows.jsonl")).unwrap();
    let damaged = d.join("flows-damaged.jsonl");
    let mut lines: Vec<String> = flows.lines().map(str::to_string).collect();
    lines[1] = lines[1].replacen("\"conn_state\":\"", "\"conn_state\":\"X", 1);
    std::fs::write(&damaged, lines.join("\n") + "\n").unwrap();
    let out = v6watch(&["flows", "--records", s(&damaged)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("conn_state"), "{err}");
}

/// `flows --records` prints the stored flows again, as `flows` printed them.
#[test]
fn flows_from_records_print_the_same_lines() {
    let d = tmpdir("records-flows");
    demo(&d);
    let h1 = d.join("v6watch-demo/honeypot1.pcapng");
    let first = v6watch(&["flows", "--format", "jsonl", s(&h1)]).stdout;
    let stored = d.join("f.jsonl");
    std::fs::write(&stored, &first).unwrap();
    let again = v6watch(&["flows", "--format", "jsonl", "--records", s(&stored)]);
    assert!(again.status.success());
    assert_eq!(String::from_utf8_lossy(&again.stdout), String::from_utf8_lossy(&first));
}

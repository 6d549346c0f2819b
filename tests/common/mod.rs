//! Shared helpers for the end-to-end tests: where the shared corpus is, and reading its
//! reference files.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared corpus (`../shared/corpus` from the repository root, or `V6WATCH_CORPUS`).
/// Under `CI=true` a missing corpus is a failure, never a skip.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("V6WATCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.join("INVENTORY.tsv").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but the shared corpus is missing at {}", dir.display());
    }
    eprintln!("corpus not found at {}; skipping (set V6WATCH_CORPUS)", dir.display());
    None
}

/// Every capture listed in INVENTORY.tsv, as (relative path, columns by name).
pub fn inventory(dir: &std::path::Path) -> Vec<(String, std::collections::HashMap<String, String>)> {
    let text = std::fs::read_to_string(dir.join("INVENTORY.tsv")).expect("inventory");
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("header").split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let map = head.iter().zip(cols.iter()).map(|(h, c)| (h.to_string(), c.to_string())).collect();
            (cols[0].to_string(), map)
        })
        .collect()
}

/// A reference JSON number.
pub fn reference_json(dir: &std::path::Path, file: &str) -> serde_json::Value {
    let p = dir.join("reference").join(format!("{file}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).expect("reference json")).expect("json")
}

/// Rows of a reference TSV (header skipped).
pub fn reference_tsv(dir: &std::path::Path, file: &str, kind: &str) -> Vec<Vec<String>> {
    let p = dir.join("reference").join(format!("{file}.{kind}.tsv"));
    let text = std::fs::read_to_string(p).unwrap_or_default();
    text.lines().skip(1).filter(|l| !l.is_empty()).map(|l| l.split('\t').map(String::from).collect()).collect()
}

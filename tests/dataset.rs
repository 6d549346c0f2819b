//! Parquet datasets (`v6watch export`): the analysis of a dataset equals the analysis of its
//! captures (demo and every corpus capture); exporting again replaces instead of doubling;
//! what is not a dataset is refused naming the file; and the fleet SQL, run by Spark
//! (`local[2]`), DataFusion and DuckDB over the demo's two honeypots plus corpus captures as
//! further sensors, gives v6watch's own numbers (per-service health, timeline totals, the
//! services that moved, top peers), with the documented column types.

mod common;

use common::tmpdir;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn v6watch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_v6watch")).args(args).output().expect("run v6watch")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The demo's captures and configuration, written into `d/v6watch-demo/`.
fn demo(d: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let out = Command::new(env!("CARGO_BIN_EXE_v6watch")).args(["demo"]).current_dir(d).output().unwrap();
    ok(&out);
    let demo = d.join("v6watch-demo");
    (demo.join("v6watch.toml"), demo.join("honeypot1.pcapng"), demo.join("honeypot2.pcapng"))
}

/// Exports `inputs`, reports from the dataset and from the captures, compares; false when
/// the input is not a capture v6watch reads.
fn same_from_dataset(d: &Path, extra: &[&str], inputs: &[&str]) -> bool {
    let (a, b, ds) = (d.join("a.json"), d.join("b.json"), d.join("ds"));
    let _ = std::fs::remove_dir_all(&ds);
    let _ = std::fs::remove_file(&a);
    let html = d.join("x.html");
    let mut args = vec!["report", "--no-progress", "-o", s(&html), "--json", s(&a)];
    args.extend(extra);
    args.extend(inputs);
    v6watch(&args);
    if !a.is_file() {
        return false;
    }
    let mut args = vec!["export", "--no-progress", "-o", s(&ds)];
    args.extend(extra);
    args.extend(inputs);
    let out = v6watch(&args);
    assert!(out.status.code().is_some_and(|c| c <= 2), "{inputs:?}: {}", String::from_utf8_lossy(&out.stderr));
    let mut args = vec!["report", "--no-progress", "-o", s(&html), "--json", s(&b)];
    args.extend(extra);
    args.extend(["--records", s(&ds)]);
    let out = v6watch(&args);
    assert!(out.status.success(), "{inputs:?}: {}", String::from_utf8_lossy(&out.stderr));
    common::same_analysis(&a, &b, &inputs, "the dataset");
    true
}

/// Part files under `dir`.
fn parts(dir: &Path) -> Vec<PathBuf> {
    common::files_under(dir).into_iter().filter(|p| p.extension().is_some_and(|x| x == "parquet")).collect()
}

#[test]
fn the_demo_from_its_dataset_is_the_same_analysis() {
    let d = tmpdir("dataset-demo");
    let (conf, h1, h2) = demo(&d);
    assert!(same_from_dataset(&d, &["--config", s(&conf)], &[s(&h1), s(&h2)]));
    let v = common::analysis(&d.join("b.json"));
    assert!(v["health"]["findings"].as_array().is_some_and(|f| !f.is_empty()), "the demo's findings");
    assert!(v["health"]["fallbacks"].as_array().is_some_and(|f| !f.is_empty()), "the demo's fallbacks");
    // Hive partitions by sensor and UTC day, one folder per record type.
    let ds = d.join("ds");
    for t in ["flows", "dns", "http", "tls", "smtp", "attempts", "findings"] {
        assert!(ds.join(t).join("sensor=honeypot1/date=2011-06-08/part-0.parquet").is_file(), "{t}");
    }
}

#[test]
fn every_corpus_capture_from_its_dataset_is_the_same_analysis() {
    let Some(dir) = common::corpus() else { return };
    let d = tmpdir("dataset-corpus");
    let mut compared = 0;
    for (file, _) in common::inventory(&dir) {
        if same_from_dataset(&d, &[], &[s(&dir.join(&file))]) {
            compared += 1;
        }
    }
    assert!(compared > 50, "{compared} captures compared");
}

#[test]
fn exporting_again_replaces_and_what_is_not_a_dataset_is_refused() {
    let d = tmpdir("dataset-bad");
    let (conf, h1, _) = demo(&d);
    let ds = d.join("ds");
    ok(&v6watch(&["export", "--no-progress", "--config", s(&conf), "-o", s(&ds), s(&h1)]));
    let first = parts(&ds);
    let rows = |o: &Output| String::from_utf8_lossy(&o.stderr).to_string();
    let again = v6watch(&["export", "--no-progress", "--config", s(&conf), "-o", s(&ds), s(&h1)]);
    ok(&again);
    assert_eq!(parts(&ds), first, "the same partitions, not doubled");
    assert!(rows(&again).contains("flows") && !first.is_empty());
    // No temporary file is left.
    let hidden = std::fs::read_dir(ds.join("flows/sensor=honeypot1/date=2011-06-08")).unwrap().count();
    assert_eq!(hidden, 1);

    let html = d.join("r.html");
    let report = |records: &Path| v6watch(&["report", "--no-progress", "-o", s(&html), "--records", s(records)]);
    let refused = |o: Output, want: &str| {
        assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{want:?} not in {err}");
        assert!(!html.exists(), "no report from a refused dataset");
    };
    // A folder that is no dataset.
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    refused(report(&empty), "not a v6watch dataset");
    // A part cut short.
    let part = ds.join("flows/sensor=honeypot1/date=2011-06-08/part-0.parquet");
    let bytes = std::fs::read(&part).unwrap();
    std::fs::write(&part, &bytes[..bytes.len() / 2]).unwrap();
    refused(report(&ds), "part-0.parquet: not a readable Parquet file");
    // A schema version this v6watch does not know.
    let mut newer = bytes.clone();
    let (from, to) = (b"v6watch.dataset/1", b"v6watch.dataset/9");
    let at = newer.windows(from.len()).position(|w| w == from).expect("the version in the metadata");
    newer[at..at + from.len()].copy_from_slice(to);
    std::fs::write(&part, &newer).unwrap();
    refused(report(&ds), "dataset schema \"v6watch.dataset/9\"");
    // A file that is not Parquet where a part belongs.
    std::fs::write(&part, b"flows\n").unwrap();
    refused(report(&ds), "2011-06-08/part-0.parquet");
    // A stray file in a partition folder.
    std::fs::write(&part, &bytes).unwrap();
    std::fs::write(part.with_file_name("notes.txt"), b"x").unwrap();
    refused(report(&ds), "notes.txt: not a Parquet part file");
}

/// Whether Python has the engines and Java runs (scripts/test.sh installs them); under
/// CI=true a missing one fails.
fn engines() -> bool {
    let py = Command::new("python3").args(["-c", "import pyarrow, duckdb, datafusion, pyspark"]).output();
    let java = Command::new("java").arg("-version").output();
    let have = py.as_ref().is_ok_and(|o| o.status.success()) && java.is_ok_and(|o| o.status.success());
    if !have {
        let why = py.map(|o| String::from_utf8_lossy(&o.stderr).to_string()).unwrap_or_default();
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but the fleet engines are missing (scripts/test.sh installs them): {why}");
        }
        eprintln!("skipping the fleet engines test: {why}");
    }
    have
}

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Runs a fleet runner; its document's queries.
fn fleet(cmd: &mut Command, out: &Path) -> Json {
    let o = cmd.output().expect("python3");
    assert!(o.status.success(), "{:?}: {}", cmd, String::from_utf8_lossy(&o.stderr));
    let doc: Json = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    assert_eq!(doc["schema"], "v6watch.fleet/1");
    doc["queries"].clone()
}

fn epoch(iso: &Json) -> f64 {
    // 2011-06-08T00:00:07.046000Z
    let t = iso.as_str().expect("a time");
    let out = Command::new("date").args(["-u", "-d", t, "+%s.%N"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn the_fleet_sql_gives_v6watch_numbers_on_spark_datafusion_and_duckdb() {
    if !engines() {
        return;
    }
    let d = tmpdir("dataset-fleet");
    let (conf, h1, h2) = demo(&d);
    // The demo's two honeypots, and corpus captures with IPv6 and TCP as further sensors.
    let mut inputs: Vec<String> = vec![s(&h1).into(), s(&h2).into()];
    let mut sensors: Vec<String> = Vec::new();
    if let Some(dir) = common::corpus() {
        let mut list: Vec<(u64, String)> = common::inventory(&dir)
            .into_iter()
            .filter(|(_, c)| c["ipv6_packets"] != "0" && c["tcp_syn"] != "0" && c["time_ordered"] == "True")
            .map(|(f, c)| (c["tcp_syn"].parse().unwrap_or(0), f))
            .collect();
        list.sort_by(|a, b| b.cmp(a));
        for (i, (_, f)) in list.iter().take(4).enumerate() {
            let p = dir.join(f);
            sensors.push(format!("corpus{i}={}", p.display()));
            inputs.push(p.display().to_string());
        }
    }
    let ds = d.join("ds");
    let own = d.join("own.json");
    let html = d.join("own.html");
    let mut common_args: Vec<&str> = vec!["--no-progress", "--config", s(&conf)];
    for x in &sensors {
        common_args.extend(["--sensor", x]);
    }
    let mut args = vec!["export", "-o", s(&ds)];
    args.extend(&common_args);
    args.extend(inputs.iter().map(String::as_str));
    let out = v6watch(&args);
    assert!(out.status.code().is_some_and(|c| c <= 2), "{}", String::from_utf8_lossy(&out.stderr));
    let mut args = vec!["report", "-o", s(&html), "--json", s(&own)];
    args.extend(&common_args);
    args.extend(inputs.iter().map(String::as_str));
    v6watch(&args);
    let own: Json = serde_json::from_str(&std::fs::read_to_string(&own).unwrap()).unwrap();
    let n_sensors = own["sensors"].as_array().unwrap().len();
    assert!(n_sensors >= 2 + sensors.len().min(1), "{n_sensors} sensors");

    // The same SQL on three engines.
    let (fd, fu, fs) = (d.join("datafusion.json"), d.join("duckdb.json"), d.join("spark.json"));
    let runner = repo("sql/fleet.py");
    let df = fleet(Command::new("python3").args([s(&runner), "--engine", "datafusion", s(&ds), "-o", s(&fd)]), &fd);
    let du = fleet(Command::new("python3").args([s(&runner), "--engine", "duckdb", s(&ds), "-o", s(&fu)]), &fu);
    let started = std::time::Instant::now();
    let sp = fleet(
        Command::new("python3")
            .args([s(&repo("jobs/spark/fleet.py")), "--master", "local[2]", "--datasets", s(&ds), "-o", s(&fs)])
            .env("SPARK_LOCAL_IP", "127.0.0.1"),
        &fs,
    );
    eprintln!("spark local[2]: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(df, du, "DataFusion and DuckDB agree");
    assert_eq!(sp, du, "Spark and DuckDB agree");

    // The whole pipeline on Spark: each sensor's captures exported by an executor running the
    // shipped binary, then the same SQL; the demo's sensors get the same rows.
    let caps = d.join("captures");
    for (name, file) in [("honeypot1", &h1), ("honeypot2", &h2)] {
        std::fs::create_dir_all(caps.join(name)).unwrap();
        std::fs::copy(file, caps.join(name).join(file.file_name().unwrap())).unwrap();
    }
    let (fc, dsc) = (d.join("spark-captures.json"), d.join("ds-spark"));
    let spc = fleet(
        Command::new("python3")
            .args([s(&repo("jobs/spark/fleet.py")), "--master", "local[2]", "--captures", s(&caps)])
            .args(["--v6watch", env!("CARGO_BIN_EXE_v6watch"), "--export-arg=--config"])
            .arg(format!("--export-arg={}", conf.display()))
            .args(["--datasets", s(&dsc), "-o", s(&fc)])
            .env("SPARK_LOCAL_IP", "127.0.0.1"),
        &fc,
    );
    eprintln!("both spark runs: {:.1} s", started.elapsed().as_secs_f64());
    let demo_rows = |q: &Json| -> Vec<Json> {
        q.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["sensor"] == "honeypot1" || r["sensor"] == "honeypot2")
            .cloned()
            .collect()
    };
    for q in ["health", "timeline", "moved", "peers"] {
        assert_eq!(demo_rows(&spc[q]), demo_rows(&du[q]), "{q}: exported on the executors");
    }

    // Per-service health: v6watch's table, row for row.
    let services = own["health"]["services"].as_array().unwrap();
    let health = du["health"].as_array().unwrap();
    assert_eq!(health.len(), services.len(), "one row per service and family");
    for row in services {
        let key = |r: &Json| (r["sensor"].clone(), r["service"].clone(), r["port"].clone(), r["family"].clone());
        let q = health.iter().find(|h| key(h) == key(row)).unwrap_or_else(|| panic!("no SQL row for {row}"));
        assert_eq!(q["attempts"], row["attempts"], "{row}");
        assert_eq!(q["successes"], row["successes"], "{row}");
        assert!((q["success_rate"].as_f64().unwrap() - row["success_rate"].as_f64().unwrap()).abs() < 1e-12);
        for (kind, n) in row["fallbacks"].as_array().unwrap().iter().map(|p| (p[0].as_str().unwrap(), &p[1])) {
            assert_eq!(&q[format!("fallbacks_{kind}").as_str()], n, "{row}");
        }
        for (sql, ns) in [("connect_p50_s", "connect_p50_ns"), ("connect_p90_s", "connect_p90_ns")] {
            match row[ns].as_f64() {
                Some(ns) => assert!((q[sql].as_f64().unwrap() - ns / 1e9).abs() <= 1e-6, "{sql} {row}"),
                None => assert!(q[sql].is_null(), "{sql} {row}"),
            }
        }
    }
    let fallbacks: u64 = health
        .iter()
        .map(|h| {
            ["he_fast", "error_triggered", "timeout_slow", "race_lost"]
                .iter()
                .map(|k| h[format!("fallbacks_{k}").as_str()].as_u64().unwrap())
                .sum::<u64>()
        })
        .sum();
    assert_eq!(fallbacks as usize, own["health"]["fallbacks"].as_array().unwrap().len());

    // Timeline totals per sensor, family and direction.
    let mut mine: std::collections::BTreeMap<(String, u64, String), (u64, u64)> = Default::default();
    for series in own["timeline"]["series"].as_array().unwrap() {
        let k = (
            series["sensor"].as_str().unwrap().into(),
            series["family"].as_u64().unwrap(),
            series["direction"].as_str().unwrap().into(),
        );
        let e = mine.entry(k).or_default();
        e.0 += series["bytes"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).sum::<u64>();
        e.1 += series["packets"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).sum::<u64>();
    }
    let mut sql: std::collections::BTreeMap<(String, u64, String), (u64, u64)> = Default::default();
    for r in du["timeline"].as_array().unwrap() {
        let k = (
            r["sensor"].as_str().unwrap().into(),
            r["family"].as_u64().unwrap(),
            r["direction"].as_str().unwrap().into(),
        );
        let e = sql.entry(k).or_default();
        e.0 += r["bytes"].as_u64().unwrap();
        e.1 += r["packets"].as_u64().unwrap();
    }
    assert_eq!(sql, mine, "timeline totals");

    // The services that moved to IPv6: v6watch's service_switched_to_v6.
    let mut switched: Vec<(String, String, u64, i64)> = own["health"]["service_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "service_switched_to_v6")
        .map(|e| {
            (
                e["sensor"].as_str().unwrap().into(),
                e["service"].as_str().unwrap().into(),
                e["port"].as_u64().unwrap(),
                (e["ts"].as_f64().unwrap() * 1e3).round() as i64,
            )
        })
        .collect();
    let mut moved: Vec<(String, String, u64, i64)> = du["moved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["sensor"].as_str().unwrap().into(),
                m["service"].as_str().unwrap().into(),
                m["port"].as_u64().unwrap(),
                (epoch(&m["moved_ts"]) * 1e3).round() as i64,
            )
        })
        .collect();
    switched.sort();
    moved.sort();
    assert!(!moved.is_empty(), "the demo's services moved");
    assert_eq!(moved, switched, "services that moved to IPv6");

    // Top peers: bytes each way as v6watch's peers.
    let peers = own["peers"].as_array().unwrap();
    for r in du["peers"].as_array().unwrap() {
        let p = peers
            .iter()
            .find(|p| p["sensor"] == r["sensor"] && p["addr"] == r["peer"])
            .unwrap_or_else(|| panic!("no v6watch peer for {r}"));
        assert_eq!((&r["bytes_out"], &r["bytes_in"]), (&p["bytes_out"], &p["bytes_in"]), "{r}");
    }

    // The documented column types, as pyarrow and DuckDB read them.
    let check = format!(
        r#"
import pyarrow.dataset as pds, duckdb, pyarrow.parquet as pq, glob
t = pds.dataset("{ds}/flows", format="parquet", partitioning="hive").schema
want = {{"ts": "timestamp[us, tz=UTC]", "uid": "string", "id_orig_h": "string", "id_orig_p": "uint16",
        "duration": "double", "orig_bytes": "int64", "tunnel_outer": "list<element: string>",
        "sensor": "string", "date": "string"}}
for k, v in want.items():
    assert str(t.field(k).type) == v, (k, str(t.field(k).type))
assert str(t.field("icmp_errors").type).startswith("list<element: struct<ts: timestamp[us, tz=UTC]"), t.field("icmp_errors").type
f = sorted(glob.glob("{ds}/flows/*/*/*.parquet"))[0]
meta = pq.read_metadata(f).metadata
assert meta[b"v6watch.schema"] == b"v6watch.dataset/1" and meta[b"v6watch.dataset"] == b"flows", meta
assert pq.read_metadata(f).row_group(0).column(0).compression == "ZSTD"
con = duckdb.connect()
types = dict((r[0], r[1]) for r in con.sql("DESCRIBE SELECT * FROM read_parquet('{ds}/attempts/*/*/*.parquet', hive_partitioning = true)").fetchall())
assert types["ts"] == "TIMESTAMP WITH TIME ZONE" and types["server_port"] == "USMALLINT" and types["syns"] == "BIGINT", types
assert types["connect_s"] == "DOUBLE" and types["rst_injected"] == "BOOLEAN", types
print("types ok")
"#,
        ds = ds.display()
    );
    let o = Command::new("python3").args(["-c", &check]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Sensors that made no connection attempt at all (UDP only): the attempts table is empty
    // (its columns from _schema/), not missing, and the queries give no rows instead of failing.
    if let Some(dir) = common::corpus() {
        // The first capture without TCP whose export has flows but no attempt (QUIC makes some).
        let dsu = d.join("ds-udp");
        let udp = common::inventory(&dir)
            .into_iter()
            .filter(|(_, c)| c["tcp_syn"] == "0" && c["time_ordered"] == "True")
            .map(|(f, _)| dir.join(f))
            .find(|f| {
                let _ = std::fs::remove_dir_all(&dsu);
                let out = v6watch(&["export", "--no-progress", "-o", s(&dsu), s(f)]);
                let err = String::from_utf8_lossy(&out.stderr).to_string();
                out.status.success() && err.contains(" 0 attempts") && !err.contains(": 0 flows")
            })
            .expect("a capture with flows but no connection attempt in the corpus");
        assert!(dsu.join("_schema/attempts.parquet").is_file());
        let (u1, u2) = (d.join("udp-duckdb.json"), d.join("udp-datafusion.json"));
        let a = fleet(Command::new("python3").args([s(&runner), "--engine", "duckdb", s(&dsu), "-o", s(&u1)]), &u1);
        let b = fleet(Command::new("python3").args([s(&runner), "--engine", "datafusion", s(&dsu), "-o", s(&u2)]), &u2);
        assert_eq!(a, b, "{}", udp.display());
        assert!(a["health"].as_array().unwrap().is_empty() && !a["timeline"].as_array().unwrap().is_empty(), "{a}");
    }

    // The fleet document rendered by v6watch: every sensor, the failing service named.
    let page = d.join("fleet.html");
    ok(&v6watch(&["report", "--fleet", s(&fs), "-o", s(&page)]));
    let text = std::fs::read_to_string(&page).unwrap();
    for sensor in own["sensors"].as_array().unwrap() {
        assert!(text.contains(&format!("<b>{}</b>", sensor["sensor"].as_str().unwrap())), "{sensor}");
    }
    let failing =
        services.iter().find(|r| r["family"] == 6 && r["successes"] != r["attempts"]).expect("a failing service");
    assert!(text.contains("verdict bad") && text.contains(failing["service"].as_str().unwrap()));
    // A document of another schema is refused, naming it; no page is written.
    let other = d.join("other.json");
    std::fs::write(&other, br#"{"schema":"v6watch.report/1","queries":{}}"#).unwrap();
    std::fs::remove_file(&page).unwrap();
    let o = v6watch(&["report", "--fleet", s(&other), "-o", s(&page)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("other.json: schema \"v6watch.report/1\""));
    assert!(!page.exists());
}

//! Shared helpers for the end-to-end tests: where the shared corpus is, and reading its
//! reference files.
#![allow(dead_code)]

use std::path::PathBuf;

/// A fresh, empty directory `name` under cargo's temporary directory for tests.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

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

/// A payload that tries terminal escapes (retitle, clear screen), a script element and an
/// attribute break-out with an event handler.
pub const EVIL: &str = "\x1b]0;pwned\x07\x1b[2J<script>alert(1)</script>\"'><img src=x onerror=alert(2)>`";

/// Writes a capture whose DNS name, Host, URI, User-Agent, SNI and SMTP greeting, EHLO name
/// and sender carry terminal escapes and markup, as a honeypot would receive them.
pub fn hostile_capture(path: &std::path::Path) {
    use synth::{flags::*, Builder, Encap, PcapWriter, L4};
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    let mut b = Builder::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let (c, s): (std::net::IpAddr, std::net::IpAddr) = ("192.0.2.5".parse().unwrap(), "198.51.100.9".parse().unwrap());
    let evil = EVIL;
    // A request target cannot hold spaces; this one breaks out of attributes without them.
    let uri = "/<script>alert(3)</script>\"'><img/src=x/onerror=alert(4)>";
    let req = format!("GET {uri} HTTP/1.1\r\nHost: {evil}.example\r\nUser-Agent: {evil}\r\n\r\n");
    let mut t = 1_000_000_000_000i64;
    let mut seg = |b: &mut Builder, w: &mut PcapWriter<std::fs::File>, src, dst, l4: L4<'_>| {
        t += 1_000_000;
        let f = b.frame(src, dst, &l4, Encap::None, 1).to_vec();
        w.write(t, &f).unwrap();
    };
    let tcp = |sp, dp, seq, ack, fl, p| L4::Tcp {
        sport: sp,
        dport: dp,
        seq,
        ack,
        flags: fl,
        window: 100,
        mss: None,
        full: false,
        payload: p,
    };
    // A DNS answer naming the server with the hostile name (so it reaches the peers table).
    let mut q = vec![0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    q.push(evil.len() as u8);
    q.extend_from_slice(evil.as_bytes());
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 198, 51, 100, 9]);
    seg(&mut b, &mut w, s, c, L4::Udp { sport: 53, dport: 5000, payload: &q });
    seg(&mut b, &mut w, c, s, tcp(4000, 80, 1, 0, SYN, b""));
    seg(&mut b, &mut w, s, c, tcp(80, 4000, 9, 2, SYN | ACK, b""));
    seg(&mut b, &mut w, c, s, tcp(4000, 80, 2, 10, ACK | PSH, req.as_bytes()));
    let hello = synth::client_hello(evil);
    seg(&mut b, &mut w, c, s, tcp(4001, 443, 1, 0, SYN, b""));
    seg(&mut b, &mut w, c, s, tcp(4001, 443, 2, 0, ACK | PSH, &hello));
    // An SMTP session whose greeting, EHLO name and sender carry the same.
    let banner = format!("220 {evil}\r\n");
    let cmds = format!("EHLO {evil}\r\nMAIL FROM:<{evil}@x.example>\r\n");
    seg(&mut b, &mut w, c, s, tcp(4002, 25, 1, 0, SYN, b""));
    seg(&mut b, &mut w, s, c, tcp(25, 4002, 9, 2, SYN | ACK, b""));
    seg(&mut b, &mut w, s, c, tcp(25, 4002, 10, 2, ACK | PSH, banner.as_bytes()));
    seg(&mut b, &mut w, c, s, tcp(4002, 25, 2, 10 + banner.len() as u32, ACK | PSH, cmds.as_bytes()));
    w.finish().unwrap();
}

/// A sink that keeps every application event (and drops the flow records).
#[derive(Default)]
pub struct Events(pub Vec<engine::model::AppEvent>);

impl engine::pipeline::FlowSink for Events {
    fn flow(&mut self, _: &str, _: &engine::model::FlowRecord) -> std::io::Result<()> {
        Ok(())
    }
    fn event(&mut self, _: &str, ev: &engine::model::AppEvent) -> std::io::Result<()> {
        self.0.push(ev.clone());
        Ok(())
    }
}

/// Whether `cmd` is on the PATH (or is an executable path).
pub fn have(cmd: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether `tools` are on the PATH: outside CI a test without them says so and skips; under
/// CI=true that is a failure (scripts/test.sh installs them).
pub fn tools(tools: &[&str], what: &str) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|c| !have(c)).collect();
    missing.is_empty() || unmet(what, &format!("missing: {missing:?}"))
}

/// A prerequisite of the `what` test is unmet (`why`): under CI=true a failure, else it says
/// so and the test skips (false).
fn unmet(what: &str, why: &str) -> bool {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but the {what} cannot run ({why}); scripts/test.sh installs its tools");
    }
    eprintln!("skipping the {what} ({why})");
    false
}

/// Serves the metrics files in `dir` with node_exporter's textfile collector (Prometheus's own
/// parser; a file it cannot read is reported as `node_textfile_scrape_error 1` and its metrics
/// left out) and checks that every file and every metric in them is served. Skips (outside CI)
/// without node_exporter.
pub fn textfile_served(dir: &std::path::Path) {
    if !tools(&["prometheus-node-exporter", "curl"], "textfile collector check") {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut exporter = std::process::Command::new("prometheus-node-exporter")
        .args([
            "--collector.disable-defaults",
            "--collector.textfile",
            &format!("--collector.textfile.directory={}", dir.display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start node_exporter");
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut page = String::new();
    for _ in 0..100 {
        let o = std::process::Command::new("curl").args(["-sf", &url]).output().unwrap();
        if o.status.success() {
            page = String::from_utf8_lossy(&o.stdout).into_owned();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = exporter.kill();
    let _ = exporter.wait();
    assert!(page.contains("node_textfile_scrape_error 0"), "node_exporter could not read a file:\n{page}");
    for f in std::fs::read_dir(dir).unwrap().flatten().filter(|f| f.path().extension().is_some_and(|e| e == "prom")) {
        let name = f.file_name().to_string_lossy().into_owned();
        assert!(page.contains(&name), "{name} not served:\n{page}");
        for l in std::fs::read_to_string(f.path()).unwrap().lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let metric = l.split(['{', ' ']).next().unwrap();
            assert!(page.lines().any(|p| p.starts_with(metric)), "{metric} of {name} not served:\n{page}");
        }
    }
}

/// Whether a test that needs root and `tools` can run: outside CI it says why not and skips;
/// under CI=true a missing prerequisite fails (scripts/test.sh installs them).
pub fn root_with(tools: &[&str], what: &str) -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let missing: Vec<&str> = tools.iter().copied().filter(|c| !have(c)).collect();
    (root && missing.is_empty()) || unmet(what, &format!("root: {root}, missing: {missing:?}"))
}

/// Runs a shell command that must succeed; its standard output.
pub fn sh(cmd: &str) -> String {
    let o = std::process::Command::new("sh").args(["-c", cmd]).output().expect("sh");
    assert!(
        o.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A report's JSON without `sensors` (capture statistics, which stored records do not carry).
pub fn analysis(path: &std::path::Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("sensors");
    v
}

/// Panics, showing where they part, when the analyses in report JSON files `a` (from the
/// captures) and `b` (from `what`) differ.
pub fn same_analysis(a: &std::path::Path, b: &std::path::Path, inputs: &dyn std::fmt::Debug, what: &str) {
    let (x, y) = (analysis(a), analysis(b));
    if x != y {
        let (x, y) = (x.to_string(), y.to_string());
        let at = x.bytes().zip(y.bytes()).position(|(p, q)| p != q).unwrap_or(0);
        panic!(
            "{inputs:?}: the analysis from {what} differs at byte {at}: {} | {}",
            &x[at.saturating_sub(60)..(at + 60).min(x.len())],
            &y[at.saturating_sub(60)..(at + 60).min(y.len())]
        );
    }
}

/// Runs v6watch, which must succeed: its standard output.
pub fn v6watch_stdout(args: &[&str]) -> String {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_v6watch")).args(args).output().expect("run v6watch");
    assert!(o.status.success(), "v6watch {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Runs v6watch, which must succeed: its standard output's JSON lines.
pub fn jsonl(args: &[&str]) -> Vec<serde_json::Value> {
    v6watch_stdout(args).lines().map(|l| serde_json::from_str(l).expect("json line")).collect()
}

/// How many frames of `path` tshark's display `filter` keeps (`None` without tshark, which
/// under `CI=true` is a failure).
pub fn tshark_count(path: &std::path::Path, filter: &str) -> Option<usize> {
    let o = match std::process::Command::new("tshark").arg("-n").arg("-r").arg(path).args(["-Y", filter]).output() {
        Ok(o) if o.status.success() => o,
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but tshark is not installed (scripts/test.sh installs it)")
        }
        _ => return None,
    };
    Some(String::from_utf8_lossy(&o.stdout).lines().count())
}

/// Every file under `dir` (in its sub-folders too), sorted.
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

//! Live capture on real traffic (`v6watch live`). Each test builds two network namespaces
//! joined by a veth pair (documentation prefixes 192.0.2.0/24 and 2001:db8:1::/64), captures on
//! one end and makes real traffic from the other: TCP over both families (curl against
//! Python's HTTP server), DNS (dnsmasq), ICMPv6 echo, and a burst of UDP datagrams from a socket
//! loop whose sender counts what it sent. tcpdump captures on the same link in the same run.
//!
//! Needs root and iproute2, tcpdump, tshark (capinfos), dnsmasq, curl and python3
//! (scripts/test.sh installs them). Outside CI it skips when they are missing; under CI=true it
//! fails instead.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const A4: &str = "192.0.2.1";
const B4: &str = "192.0.2.2";
const A6: &str = "2001:db8:1::1";
const B6: &str = "2001:db8:1::2";

fn usable() -> bool {
    common::root_with(&["ip", "tcpdump", "tshark", "capinfos", "dnsmasq", "curl", "python3"], "live-capture test")
}

use common::sh;

/// Two hosts on one link; dropped at the end, which kills their processes and removes them.
struct Pair {
    tag: String,
    dir: PathBuf,
    procs: Vec<Child>,
}

impl Pair {
    fn new(name: &str) -> Pair {
        let tag = format!("{}{name}", std::process::id() % 10_000);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("live-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("www")).unwrap();
        let p = Pair { tag, dir, procs: vec![] };
        let (a, b) = (p.ns("a"), p.ns("b"));
        for n in [&a, &b] {
            sh(&format!("ip netns add {n}"));
            sh(&format!("ip -n {n} link set lo up"));
        }
        sh(&format!("ip link add {} netns {a} type veth peer name {} netns {b}", p.dev("a"), p.dev("b")));
        for (n, dev, a4, a6) in [(&a, p.dev("a"), A4, A6), (&b, p.dev("b"), B4, B6)] {
            sh(&format!("ip -n {n} addr add {a4}/24 dev {dev}"));
            sh(&format!("ip -n {n} -6 addr add {a6}/64 dev {dev} nodad"));
            sh(&format!("ip -n {n} link set {dev} up"));
        }
        // A 200 kB file for an HTTP transfer.
        std::fs::write(p.dir.join("www/big"), vec![b'x'; 200_000]).unwrap();
        p
    }

    fn ns(&self, host: &str) -> String {
        format!("v6l{host}{}", self.tag)
    }

    fn dev(&self, host: &str) -> String {
        format!("l{host}{}", self.tag)
    }

    /// Starts `args` in `host`, output to `DIR/log.{out,err}`.
    fn spawn(&mut self, host: &str, log: &str, args: &[&str]) -> usize {
        let out = std::fs::File::create(self.dir.join(format!("{log}.out"))).unwrap();
        let err = std::fs::File::create(self.dir.join(format!("{log}.err"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(host)])
            .args(args)
            .current_dir(&self.dir)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn");
        self.procs.push(child);
        self.procs.len() - 1
    }

    fn log(&self, log: &str, which: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{log}.{which}"))).unwrap_or_default()
    }

    /// Waits until `log`'s stderr contains `text`.
    fn wait_for(&self, log: &str, text: &str) {
        let t = Instant::now();
        while !self.log(log, "err").contains(text) {
            assert!(t.elapsed() < Duration::from_secs(20), "{log} did not say {text:?}: {}", self.log(log, "err"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM to process `i` and waits for it; its exit status.
    fn stop(&mut self, i: usize) -> std::process::ExitStatus {
        let pid = self.procs[i].id();
        // `ip netns exec` execs the command: the pid is the command's.
        sh(&format!("kill -TERM {pid}"));
        let t = Instant::now();
        loop {
            if let Some(s) = self.procs[i].try_wait().unwrap() {
                return s;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "process {i} did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs python code in `host`; its standard output.
    fn python(&self, host: &str, code: &str) -> String {
        let f = self.dir.join(format!("{host}-{}.py", code.len()));
        std::fs::write(&f, code).unwrap();
        sh(&format!("ip netns exec {} python3 {}", self.ns(host), f.display()))
    }

    /// `host`'s addresses on its link (global and link-local).
    fn addrs(&self, host: &str) -> Vec<String> {
        let j: Value =
            serde_json::from_str(&sh(&format!("ip -j -n {} addr show dev {}", self.ns(host), self.dev(host)))).unwrap();
        j[0]["addr_info"].as_array().unwrap().iter().map(|a| a["local"].as_str().unwrap().to_string()).collect()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        for h in ["a", "b"] {
            let _ = Command::new("ip").args(["netns", "del", &self.ns(h)]).status();
        }
    }
}

fn v6watch() -> &'static str {
    env!("CARGO_BIN_EXE_v6watch")
}

/// `v6watch live` on `dev` as sensor `sb`, with the ring in `ring/`, the records in `out/`, the
/// metrics in `metrics.prom`, and `extra`.
fn live<'a>(dev: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![v6watch(), "live", "-i", dev, "-w", "ring", "--out", "out", "--prometheus", "metrics.prom"];
    v.extend_from_slice(&["--sensor", "sb"]);
    v.extend_from_slice(extra);
    v
}

/// The traffic: TCP over both families (two HTTP transfers), a DNS query answered by dnsmasq,
/// an ICMPv6 echo, then `burst` UDP datagrams to port 9 (half per family) from a socket loop.
/// Returns the datagrams sent.
fn traffic(p: &mut Pair, burst: usize) -> u64 {
    sh(&format!("ip netns exec {} curl -sf -o /dev/null http://[{B6}]:8080/big", p.ns("a")));
    sh(&format!("ip netns exec {} curl -sf -o /dev/null http://{B4}:8080/big", p.ns("a")));
    let out = p.python(
        "a",
        &format!(
            r#"
import socket, struct, json
# DNS: AAAA svc.test to dnsmasq over IPv6.
q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x03svc\x04test\x00" + struct.pack("!HH", 28, 1)
d = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); d.settimeout(3)
d.sendto(q, ("{B6}", 53)); answer = d.recv(512)
# ICMPv6 echo request (the kernel fills the checksum).
i = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6); i.settimeout(3)
i.sendto(struct.pack("!BBHHH", 128, 0, 0, 0x77, 1) + b"v6watch", ("{B6}", 0))
i.recv(512)
sent = 0
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for k in range({burst}):
    try:
        if k % 2: s6.sendto(b"b" * 100, ("{B6}", 9))
        else: s4.sendto(b"b" * 100, ("{B4}", 9))
        sent += 1
    except OSError:
        pass
print(json.dumps({{"sent": sent, "dns_answer_bytes": len(answer)}}))
"#
        ),
    );
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["dns_answer_bytes"].as_u64().unwrap() > 12, "dnsmasq answered");
    v["sent"].as_u64().unwrap()
}

/// Starts the HTTP server and dnsmasq on host b.
fn servers(p: &mut Pair) {
    let www = p.dir.join("www");
    let www = www.to_str().unwrap().to_string();
    p.spawn("b", "http", &["python3", "-m", "http.server", "--bind", "::", "--directory", &www, "8080"]);
    p.spawn(
        "b",
        "dns",
        &[
            "dnsmasq",
            "--no-daemon",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            &format!("--listen-address={B6}"),
            "--port=53",
            &format!("--address=/svc.test/{B6}"),
            "--pid-file=",
        ],
    );
    let ns = p.ns("b");
    let t = Instant::now();
    while !Command::new("ip")
        .args(["netns", "exec", &ns, "sh", "-c", "ss -ltn | grep -q 8080 && ss -lun | grep -q ':53 '"])
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(t.elapsed() < Duration::from_secs(20), "servers did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Walks a pcapng file's blocks: (block type, body) of each. Panics on a damaged structure.
fn blocks(path: &Path) -> Vec<(u32, Vec<u8>)> {
    let b = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut off = 0;
    while off < b.len() {
        let kind = u32::from_le_bytes(b[off..off + 4].try_into().unwrap());
        let len = u32::from_le_bytes(b[off + 4..off + 8].try_into().unwrap()) as usize;
        assert!(len >= 12 && off + len <= b.len(), "{}: damaged block at {off}", path.display());
        let trailer = u32::from_le_bytes(b[off + len - 4..off + len].try_into().unwrap()) as usize;
        assert_eq!(trailer, len, "{}: block at {off}", path.display());
        out.push((kind, b[off + 8..off + len - 4].to_vec()));
        off += len;
    }
    out
}

/// The options of an Interface Statistics Block body, as (code, u64 value).
fn isb_counters(body: &[u8]) -> Vec<(u16, u64)> {
    let mut v = Vec::new();
    let mut off = 12;
    while off + 4 <= body.len() {
        let code = u16::from_le_bytes([body[off], body[off + 1]]);
        let len = u16::from_le_bytes([body[off + 2], body[off + 3]]) as usize;
        if code == 0 {
            break;
        }
        if len == 8 {
            v.push((code, u64::from_le_bytes(body[off + 4..off + 12].try_into().unwrap())));
        }
        off += 4 + len.div_ceil(4) * 4;
    }
    v
}

fn ring_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn count_frames(files: &[PathBuf], filter: &str) -> u64 {
    files
        .iter()
        .map(|f| {
            let out = sh(&format!("tshark -r {} -Y '{filter}' -T fields -e frame.number 2>/dev/null", f.display()));
            out.lines().count() as u64
        })
        .sum()
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn live_keeps_every_packet_and_agrees_with_its_files() {
    if !usable() {
        return;
    }
    let mut p = Pair::new("k");
    servers(&mut p);
    let dev = p.dev("b");
    let td = p.spawn("b", "tcpdump", &["tcpdump", "-n", "-i", &dev, "-w", "tcpdump.pcap"]);
    let lv = p.spawn(
        "b",
        "live",
        &live(
            &dev,
            &["--rotate", "1s", "--every", "1s", "--report", "report.html", "--threads", "2", "--dataset", "ds"],
        ),
    );
    p.wait_for("tcpdump", "listening on");
    p.wait_for("live", "capturing on");
    // Some rotations before the traffic, and the traffic spread over more than one file.
    std::thread::sleep(Duration::from_millis(2500));
    let sent = traffic(&mut p, 30_000);
    // Stopped right after the burst: what is still in the kernel's ring must not be lost.
    let status = p.stop(lv);
    let td_status = p.stop(td);
    let err = p.log("live", "err");
    assert!(status.success(), "live: {status}: {err}");
    assert!(td_status.success(), "tcpdump: {}", p.log("tcpdump", "err"));

    // Statistics at exit, like tcpdump's.
    let line = err.lines().find(|l| l.starts_with(&format!("{dev}: "))).unwrap_or_else(|| panic!("{err}"));
    let num = |word: &str| -> u64 {
        let i = line.find(word).unwrap_or_else(|| panic!("{word} in {line}"));
        line[..i].split_whitespace().last().unwrap().parse().unwrap()
    };
    let (captured, kernel_dropped) = (num(" packets captured"), num(" dropped by kernel"));
    assert!(err.contains("TCP gaps: "), "{err}");

    // The ring: several whole files, none left partial, each ending with statistics.
    let files = ring_files(&p.dir.join("ring"));
    assert!(files.len() >= 3, "rotation every second made {} files", files.len());
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("sb_") && name.ends_with(".pcapng"), "{name}");
        sh(&format!("capinfos {} >/dev/null", f.display()));
        sh(&format!("tshark -r {} >/dev/null", f.display()));
        let bl = blocks(f);
        assert_eq!(bl[0].0, 0x0A0D_0D0A);
        assert_eq!(bl[1].0, 1, "an Interface Description");
        let last = bl.last().unwrap();
        assert_eq!(last.0, 5, "{name} ends with an Interface Statistics Block");
        let c = isb_counters(&last.1);
        assert!(c.iter().any(|(k, _)| *k == 4) && c.iter().any(|(k, _)| *k == 7), "{name}: {c:?}");
    }
    let last_isb = isb_counters(&blocks(files.last().unwrap()).last().unwrap().1);
    let get = |code: u16| last_isb.iter().find(|(k, _)| *k == code).unwrap().1;
    assert_eq!(get(8), captured, "isb_usrdeliv is what was captured");
    assert_eq!(get(7), kernel_dropped, "isb_osdrop is the kernel's drops");

    // Every datagram sent is in the files or in the reported drops.
    let in_files = count_frames(&files, "udp.dstport == 9 && !icmp && !icmpv6");
    eprintln!("burst: sent {sent}, in the files {in_files}, kernel drops {kernel_dropped}");
    assert!(in_files + kernel_dropped >= sent, "sent {sent}, kept {in_files}, dropped {kernel_dropped}");
    assert!(in_files <= sent);
    let total_in_files: u64 = files.iter().map(|f| blocks(f).iter().filter(|b| b.0 == 6).count() as u64).sum();
    assert_eq!(total_in_files, captured, "every captured packet is in the files");

    // v6watch keeps at least what tcpdump keeps on the same link in the same run.
    let td_kept = count_frames(&[p.dir.join("tcpdump.pcap")], "udp.dstport == 9 && !icmp && !icmpv6");
    eprintln!("tcpdump kept {td_kept} of the {sent} datagrams; v6watch {in_files}");
    assert!(in_files >= td_kept, "v6watch {in_files} < tcpdump {td_kept}");

    // The flows of the live run are the flows of its files, read offline.
    let mut cmd = Command::new(v6watch());
    cmd.args(["flows", "--format", "jsonl", "--threads", "1"]).args(&files);
    for a in p.addrs("b") {
        cmd.args(["--sensor-addr", &a]);
    }
    let offline = cmd.output().unwrap();
    assert!(offline.status.success(), "{}", String::from_utf8_lossy(&offline.stderr));
    let offline = String::from_utf8(offline.stdout).unwrap();
    let out_files = ring_files(&p.dir.join("out"));
    let read = |prefix: &str| -> String {
        out_files
            .iter()
            .filter(|f| f.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect()
    };
    let live_flows = read("flows_");
    assert_eq!(sorted_lines(&live_flows), sorted_lines(&offline), "live flows = offline flows of the ring");
    // One record file per type and per rotation, as many parts as capture files.
    let parts = out_files.iter().filter(|f| f.file_name().unwrap().to_string_lossy().starts_with("flows_")).count();
    assert_eq!(parts, files.len(), "records rotate with the ring");
    assert!(
        !out_files
            .iter()
            .any(|f| f.file_name().unwrap().to_string_lossy().contains("tmp")
                || f.to_string_lossy().ends_with(".partial")),
        "{out_files:?}"
    );

    // The Parquet datasets written beside them: parts named after their rotation (flows are
    // written when they end, so rotations with none have no part), none left partial, and the
    // same flows read back.
    let ds = p.dir.join("ds");
    let mut parquet = Vec::new();
    let mut stack = vec![ds.join("flows")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                parquet.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    assert!(parquet.iter().all(|n| n.starts_with("part-") && n.ends_with(".parquet")), "{parquet:?}");
    assert!(!parquet.is_empty() && parquet.iter().all(|n| n.contains("_20")), "parts per rotation: {parquet:?}");
    let back = Command::new(v6watch()).args(["flows", "--format", "jsonl", "--records"]).arg(&ds).output().unwrap();
    assert!(back.status.success(), "{}", String::from_utf8_lossy(&back.stderr));
    assert_eq!(sorted_lines(&String::from_utf8(back.stdout).unwrap()), sorted_lines(&live_flows), "dataset flows");

    // What the traffic was: HTTP over both families, the DNS answer, the ICMPv6 echo.
    let flows: Vec<Value> = live_flows.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let http = |v: u64| flows.iter().any(|f| f["ip_version"] == v && f["service"] == "http" && f["conn_state"] == "SF");
    assert!(http(4) && http(6), "HTTP over both families");
    assert!(flows.iter().any(|f| f["proto"] == "icmp" && f["id.orig_p"] == 128 && f["id.resp_p"] == 129));
    assert!(read("dns_").contains("svc.test"), "the DNS answer");
    assert!(read("http_").contains("/big"), "the HTTP requests");
    for f in &flows {
        assert_eq!(f["sensor"], "sb");
        assert_ne!(f["role"], "transit", "the sensor's addresses are its interface's: {f}");
    }

    // Metrics with the capture counters, and the report.
    let m = std::fs::read_to_string(p.dir.join("metrics.prom")).unwrap();
    assert!(
        m.contains(&format!("v6watch_capture_packets_total{{sensor=\"sb\",interface=\"{dev}\"}} {captured}")),
        "{m}"
    );
    assert!(m.contains(&format!(
        "v6watch_capture_dropped_total{{sensor=\"sb\",interface=\"{dev}\",source=\"kernel\"}} {kernel_dropped}"
    )));
    assert!(m.contains("source=\"interface\""));
    assert!(m.contains("v6watch_connect_attempts_total"), "the health metrics too");
    // The whole file is what node_exporter's textfile collector reads and serves.
    common::textfile_served(&p.dir);
    let html = std::fs::read_to_string(p.dir.join("report.html")).unwrap();
    assert!(html.contains("sb"));
}

#[test]
fn live_refuses_what_it_cannot_capture() {
    if !usable() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("live-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(v6watch()).arg("live").args(args).current_dir(&dir).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, err) = run(&["-i", "nosuch0", "-w", "ring"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("-i nosuch0: no such interface (there are: ") && err.contains("lo"), "{err}");
    let (code, err) = run(&["-i", "lo", "-f", "tcp port banana", "-w", "ring"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("-f \"tcp port banana\": not a capture filter for lo"), "{err}");
    // Nothing was written for a refused start.
    assert!(!dir.join("ring").exists());
    let (code, err) = run(&["-i", "lo", "--files", "3"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("give -w DIR"), "{err}");
    // Without the capabilities: a user who may not capture is told what is needed.
    let copy = std::env::temp_dir().join(format!("v6watch-nobody-{}", std::process::id()));
    std::fs::copy(v6watch(), &copy).unwrap();
    let o = Command::new("su")
        .args(["nobody", "-s", "/bin/sh", "-c", &format!("{} live -i lo -w /tmp/v6watch-nobody-ring", copy.display())])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&copy);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("-i lo: ") && err.contains("needs root or the CAP_NET_RAW and CAP_NET_ADMIN"), "{err}");
    assert!(!Path::new("/tmp/v6watch-nobody-ring").exists());
}

#[test]
fn an_interface_that_vanishes_is_an_error_and_its_file_stays_whole() {
    if !usable() {
        return;
    }
    let mut p = Pair::new("v");
    let dev = p.dev("b");
    let lv = p.spawn("b", "live", &[v6watch(), "live", "-i", &dev, "-w", "ring", "--sensor", "sb"]);
    p.wait_for("live", "capturing on");
    p.python(
        "a",
        &format!(
            "import socket\ns = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
             for k in range(200): s.sendto(b'v' * 50, ('{B6}', 9))\n"
        ),
    );
    std::thread::sleep(Duration::from_millis(300));
    sh(&format!("ip -n {} link del {dev}", p.ns("b")));
    let t = Instant::now();
    let status = loop {
        if let Some(s) = p.procs[lv].try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "live did not notice the interface vanish");
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = p.log("live", "err");
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("-i {dev}: ")), "the error names the interface: {err}");
    let files = ring_files(&p.dir.join("ring"));
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].to_string_lossy().ends_with(".pcapng"), "closed and renamed: {files:?}");
    sh(&format!("capinfos {} >/dev/null", files[0].display()));
    assert_eq!(blocks(&files[0]).last().unwrap().0, 5, "closed with its statistics");
    assert_eq!(count_frames(&files, "udp.dstport == 9 && !icmp && !icmpv6"), 200);
}

/// Resident memory of a process, kB.
fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn soak_steady_traffic_with_rotation_keeps_memory_flat_and_loses_nothing() {
    if !usable() {
        return;
    }
    const SECS: u64 = 150;
    let mut p = Pair::new("s");
    servers(&mut p);
    let dev = p.dev("b");
    let lv = p.spawn("b", "live", &live(&dev, &["--rotate", "3s", "--files", "4", "--every", "2s"]));
    p.wait_for("live", "capturing on");
    let pid = p.procs[lv].id();
    // Steady traffic: 2,000 UDP datagrams a second, a new source port (a new flow) every
    // second, alternating families, and an HTTP fetch every two seconds.
    let sender = p.dir.join("soak.py");
    std::fs::write(
        &sender,
        format!(
            r#"
import socket, time, json, urllib.request
sent = 0; t0 = time.time(); k = 0
while time.time() - t0 < {SECS}:
    fam, dst = (socket.AF_INET6, "{B6}") if k % 2 else (socket.AF_INET, "{B4}")
    s = socket.socket(fam, socket.SOCK_DGRAM)
    start = time.time()
    for burst in range(100):
        for _ in range(20):
            s.sendto(b"s" * 200, (dst, 9)); sent += 1
        time.sleep(max(0, start + (burst + 1) * 0.01 - time.time()))
    s.close()
    if k % 2 == 0:
        urllib.request.urlopen("http://[{B6}]:8080/big").read()
    k += 1
print(json.dumps({{"sent": sent}}))
"#
        ),
    )
    .unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &p.ns("a"), "python3"])
        .arg(&sender)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut samples = Vec::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(SECS) {
        std::thread::sleep(Duration::from_secs(5));
        samples.push((t.elapsed().as_secs(), rss_kb(pid)));
    }
    let out = child.wait_with_output().unwrap();
    let sent = serde_json::from_slice::<Value>(&out.stdout).unwrap()["sent"].as_u64().unwrap();
    // UDP flows end after a minute idle: stop after the last one has been written.
    std::thread::sleep(Duration::from_secs(2));
    let status = p.stop(lv);
    let err = p.log("live", "err");
    assert!(status.success(), "{err}");
    eprintln!("RSS samples (s, kB): {samples:?}");
    // Flows expire after a minute: from then on memory must stay flat.
    let steady: Vec<u64> = samples.iter().filter(|(s, _)| *s >= 75).map(|(_, r)| *r).collect();
    let (lo, hi) = (*steady.iter().min().unwrap(), *steady.iter().max().unwrap());
    assert!(hi <= lo + lo / 5 + 4096, "RSS grew from {lo} to {hi} kB under steady traffic: {samples:?}");
    // No lost packet: every datagram is in a flow record (the ring keeps only the last files).
    let mut got = 0;
    for f in ring_files(&p.dir.join("out")) {
        if !f.file_name().unwrap().to_string_lossy().starts_with("flows_") {
            continue;
        }
        for l in std::fs::read_to_string(&f).unwrap().lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            if v["proto"] == "udp" && v["id.resp_p"] == 9 {
                got += v["orig_pkts"].as_u64().unwrap();
            }
        }
    }
    assert!(err.contains(" 0 dropped by kernel, 0 dropped by interface"), "{err}");
    assert_eq!(got, sent, "datagrams sent and in flow records");
    let files = ring_files(&p.dir.join("ring"));
    assert_eq!(files.len(), 4, "--files 4 keeps the four newest: {files:?}");
    let first: u32 = files[0].file_name().unwrap().to_string_lossy()[3..8].parse().unwrap();
    assert!(first > 40, "about one file every 3 s: {files:?}");
}

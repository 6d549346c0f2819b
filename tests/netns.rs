//! IPv6 health on real software (issue: "proof on real software"). The test builds its own
//! hosts with network namespaces: a client, a router and a server (dnsmasq answering A and
//! AAAA for `svc.test`, Python's HTTP server on IPv4 and IPv6). curl, which does Happy
//! Eyeballs, fetches from the client while tcpdump captures on the client's interface; each
//! scenario breaks IPv6 in one way on the router and `v6watch health` must name it:
//!
//! 1. IPv6 works → established, nothing at warning level;
//! 2. IPv6 silently dropped → timeouts, `he_fast` fallbacks to IPv4;
//! 3. IPv6 rejected with ICMPv6 administratively prohibited → `icmp_unreach`, `error_triggered`;
//! 4. a 1280-byte link with Packet Too Big dropped and a large response → Path-MTU black hole;
//! 5. AAAA answered but the client connects over IPv4 → AAAA unused.
//!
//! Needs root and iproute2, dnsmasq, nftables, tcpdump, curl, python3 (scripts/test.sh installs
//! them). Outside CI it skips when they are missing; under CI=true it fails instead.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

// Global-looking addresses on purpose: documentation prefixes (2001:db8::/32) in an AAAA are
// `bogus_aaaa` for rule (d). The namespaces have no route out, so nothing ever leaves them.
const CLIENT6: &str = "2a0e:66:66:1::2";
const CLIENT4: &str = "10.66.1.2";
const SERVER6: &str = "2a0e:66:66:2::2";
const SERVER4: &str = "10.66.2.2";
const URL_SMALL: &str = "http://svc.test:8080/small";
const URL_BIG: &str = "http://svc.test:8080/big";

fn usable() -> bool {
    common::root_with(&["ip", "dnsmasq", "nft", "tcpdump", "curl", "python3"], "network-namespace test")
}

fn sh(cmd: &str) {
    common::sh(cmd);
}

/// The three hosts; dropped at the end of the test, which removes them and their processes.
struct Lab {
    tag: String,
    dir: PathBuf,
    procs: Vec<Child>,
}

impl Lab {
    fn ns(&self, host: &str) -> String {
        format!("v6w{}{}", host, self.tag)
    }
    fn exec(&self, host: &str, cmd: &str) {
        sh(&format!("ip netns exec {} sh -c '{}'", self.ns(host), cmd));
    }
    /// Runs a command in `host`, returns whether it succeeded (curl may time out on purpose).
    fn try_exec(&self, host: &str, cmd: &str) -> bool {
        Command::new("ip").args(["netns", "exec", &self.ns(host), "sh", "-c", cmd]).status().is_ok_and(|s| s.success())
    }
    fn spawn(&mut self, host: &str, args: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(host)])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        self.procs.push(child);
    }

    fn new() -> Lab {
        // Unique per lab: the tests of this file run side by side.
        static LABS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = LABS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tag = format!("{}{n}", std::process::id() % 10_000);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("netns-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("www")).unwrap();
        let mut lab = Lab { tag, dir, procs: vec![] };
        let (c, r, s) = (lab.ns("c"), lab.ns("r"), lab.ns("s"));
        for n in [&c, &r, &s] {
            sh(&format!("ip netns add {n}"));
            sh(&format!("ip -n {n} link set lo up"));
        }
        sh(&format!("ip link add c0 netns {c} type veth peer name r0 netns {r}"));
        sh(&format!("ip link add r1 netns {r} type veth peer name s0 netns {s}"));
        let conf = [
            (&c, "c0", "10.66.1.2/24", "2a0e:66:66:1::2/64"),
            (&r, "r0", "10.66.1.1/24", "2a0e:66:66:1::1/64"),
            (&r, "r1", "10.66.2.1/24", "2a0e:66:66:2::1/64"),
            (&s, "s0", "10.66.2.2/24", "2a0e:66:66:2::2/64"),
        ];
        for (n, dev, a4, a6) in conf {
            sh(&format!("ip -n {n} addr add {a4} dev {dev}"));
            sh(&format!("ip -n {n} -6 addr add {a6} dev {dev} nodad"));
            sh(&format!("ip -n {n} link set {dev} up"));
        }
        sh(&format!("ip -n {c} route add default via 10.66.1.1"));
        sh(&format!("ip -n {c} -6 route add default via 2a0e:66:66:1::1"));
        sh(&format!("ip -n {s} route add default via 10.66.2.1"));
        sh(&format!("ip -n {s} -6 route add default via 2a0e:66:66:2::1"));
        lab.exec("r", "echo 1 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv6/conf/all/forwarding");
        // The client resolves through the server's dnsmasq (ip netns exec bind-mounts this file).
        let etc = PathBuf::from(format!("/etc/netns/{c}"));
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("resolv.conf"), format!("nameserver {SERVER4}\noptions timeout:2 attempts:2\n"))
            .unwrap();
        std::fs::write(lab.dir.join("www/small"), "hello over some family\n").unwrap();
        std::fs::write(lab.dir.join("www/big"), vec![b'x'; 400_000]).unwrap();
        let www = lab.dir.join("www").display().to_string();
        lab.spawn(
            "s",
            &[
                "dnsmasq",
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                &format!("--listen-address={SERVER4}"),
                "--address=/svc.test/10.66.2.2",
                "--address=/svc.test/2a0e:66:66:2::2",
                // A name with an A record and no AAAA; the zone is answered here, not forwarded.
                "--address=/v4only.test/10.66.2.2",
                "--local=/test/",
                "--user=root",
                "--pid-file=",
            ],
        );
        lab.spawn("s", &["python3", "-m", "http.server", "8080", "--bind", "::", "--directory", &www]);
        // Wait until both answer, over both families, from the client.
        for _ in 0..50 {
            let up6 = lab.try_exec("c", &format!("curl -s -o /dev/null -g --max-time 1 http://[{SERVER6}]:8080/small"));
            let up4 = lab.try_exec("c", &format!("curl -s -o /dev/null --max-time 1 http://{SERVER4}:8080/small"));
            let dns = lab.try_exec("c", "getent ahosts svc.test >/dev/null");
            if up6 && up4 && dns {
                return lab;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the lab's server did not come up");
    }

    /// Captures on the client's interface while `run` plays the scenario; returns the file.
    fn capture(&mut self, name: &str, run: impl FnOnce(&Lab)) -> PathBuf {
        let file = self.dir.join(format!("{name}.pcap"));
        let mut tcpdump = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns("c"),
                "tcpdump",
                "-i",
                "c0",
                "-n",
                "-U",
                "--immediate-mode",
                "-s",
                "0",
                "-w",
            ])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump");
        // tcpdump says "listening on" once the capture is open.
        let mut err = tcpdump.stderr.take().unwrap();
        let mut buf = [0u8; 256];
        let _ = std::io::Read::read(&mut err, &mut buf);
        std::thread::sleep(Duration::from_millis(300));
        run(self);
        std::thread::sleep(Duration::from_millis(500));
        sh(&format!("kill -INT {}", tcpdump.id()));
        let _ = tcpdump.wait();
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut rest);
        eprintln!("{name}: tcpdump: {}{}", String::from_utf8_lossy(&buf).trim_end_matches('\0'), rest);
        file
    }

    fn router_rules(&self, rules: &str) {
        self.exec("r", "nft flush ruleset");
        if !rules.is_empty() {
            let path = self.dir.join("rules.nft");
            std::fs::write(&path, rules).unwrap();
            self.exec("r", &format!("nft -f {}", path.display()));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        for h in ["c", "r", "s"] {
            let _ = Command::new("ip").args(["netns", "del", &self.ns(h)]).status();
        }
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.ns("c")));
    }
}

fn health(file: &Path) -> (i32, Vec<Value>) {
    let o = Command::new(env!("CARGO_BIN_EXE_v6watch"))
        .args(["health", "--format", "jsonl", "--no-progress", "--sensor-addr", CLIENT4, "--sensor-addr", CLIENT6])
        .arg(file)
        .output()
        .expect("v6watch");
    let v = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    (o.status.code().unwrap_or(-1), v)
}

fn of<'a>(v: &'a [Value], t: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    v.iter().filter(move |x| x["type"] == t)
}

fn outcome(v: &[Value], family: u64, name: &str) -> u64 {
    of(v, "outcome")
        .filter(|o| o["family"] == family && o["outcome"] == name)
        .map(|o| o["attempts"].as_u64().unwrap())
        .sum()
}

fn severities(v: &[Value]) -> Vec<String> {
    of(v, "finding").map(|f| format!("{} {}", f["severity"].as_str().unwrap(), f["note"].as_str().unwrap())).collect()
}

const DROP: &str = "table inet lab {\n chain pass {\n  type filter hook forward priority 0;\n  ip6 daddr 2a0e:66:66:2::2 tcp dport 8080 drop\n }\n}\n";
const REJECT: &str = "table inet lab {\n chain pass {\n  type filter hook forward priority 0;\n  ip6 daddr 2a0e:66:66:2::2 tcp dport 8080 reject with icmpv6 type admin-prohibited\n }\n}\n";
const NO_PTB: &str =
    "table inet lab {\n chain egress {\n  type filter hook output priority 0;\n  icmpv6 type packet-too-big drop\n }\n}\n";

#[test]
fn real_clients_real_failures() {
    if !usable() {
        return;
    }
    let mut lab = Lab::new();
    let curl = |lab: &Lab, extra: &str, url: &str| {
        let ok = lab.try_exec("c", &format!("curl -s -o /dev/null --max-time 8 {extra} {url}"));
        eprintln!("curl {extra} {url}: {}", if ok { "ok" } else { "failed" });
    };

    // (1) IPv6 works.
    lab.router_rules("");
    let f = lab.capture("works", |lab| (0..3).for_each(|_| curl(lab, "", URL_SMALL)));
    let (code, v) = health(&f);
    assert_eq!(outcome(&v, 6, "established"), 3, "{v:#?}");
    assert_eq!(outcome(&v, 4, "established"), 0, "curl prefers IPv6 when it works");
    assert!(of(&v, "finding").all(|f| f["severity"] == "info"), "{:?}", severities(&v));
    assert_eq!(code, 0);

    // (2) IPv6 silently dropped: curl's Happy Eyeballs starts IPv4 200 ms later and wins.
    lab.router_rules(DROP);
    let f = lab.capture("dropped", |lab| (0..5).for_each(|_| curl(lab, "", URL_SMALL)));
    let (code, v) = health(&f);
    assert_eq!(outcome(&v, 4, "established"), 5, "{v:#?}");
    assert_eq!(outcome(&v, 6, "timeout") + outcome(&v, 6, "cancelled"), 5, "{v:#?}");
    let kinds: Vec<&str> = of(&v, "fallback").map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["he_fast"; 5], "{v:#?}");
    for f in of(&v, "fallback") {
        let d = f["delay_ns"].as_i64().unwrap();
        assert!((100_000_000..=1_000_000_000).contains(&d), "curl's head start is about 200 ms: {d}");
    }
    let s = severities(&v);
    assert!(s.contains(&"warning V6Mon::IPv6_Fallback".to_string()), "{s:?}");
    assert!(s.contains(&"critical V6Mon::IPv6_Service_Down".to_string()), "{s:?}");
    assert_eq!(code, 1);

    // (3) IPv6 rejected with ICMPv6 administratively prohibited: curl moves on at once.
    lab.router_rules(REJECT);
    let f = lab.capture("rejected", |lab| (0..5).for_each(|_| curl(lab, "", URL_SMALL)));
    let (_, v) = health(&f);
    assert_eq!(outcome(&v, 6, "icmp_unreach"), 5, "{v:#?}");
    let kinds: Vec<&str> = of(&v, "fallback").map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["error_triggered"; 5], "{v:#?}");
    assert!(severities(&v).contains(&"critical V6Mon::IPv6_Service_Down".to_string()));

    // (2b, 3b) One fetch each: would you notice? A single silent drop is a visible `info`
    // fallback (exit 0 at the default --fail-on warning); a single rejection is a warning.
    lab.router_rules(DROP);
    let f = lab.capture("dropped-once", |lab| curl(lab, "", URL_SMALL));
    let (code, v) = health(&f);
    assert_eq!(of(&v, "fallback").count(), 1, "{v:#?}");
    let s = severities(&v);
    assert!(s.contains(&"info V6Mon::IPv6_Fallback".to_string()), "{s:?}");
    assert!(!s.iter().any(|x| x.starts_with("warning") || x.starts_with("critical")), "{s:?}");
    assert_eq!(code, 0);
    lab.router_rules(REJECT);
    let f = lab.capture("rejected-once", |lab| curl(lab, "", URL_SMALL));
    let (code, v) = health(&f);
    assert_eq!(outcome(&v, 6, "icmp_unreach"), 1, "{v:#?}");
    let s = severities(&v);
    assert!(s.contains(&"warning V6Mon::IPv6_Rejected".to_string()), "{s:?}");
    assert!(s.contains(&"info V6Mon::IPv6_Fallback".to_string()), "{s:?}");
    assert_eq!(code, 1);

    // (4) A 1280-byte link towards the client, Packet Too Big dropped: the handshake and the
    // request pass, the full-size response never does. IPv4 (whose ICMP passes) then works.
    lab.router_rules(NO_PTB);
    lab.exec("r", "ip link set r0 mtu 1280");
    let f = lab.capture("blackhole", |lab| {
        curl(lab, "-6 --max-time 8", URL_BIG);
        curl(lab, "-4", URL_BIG);
    });
    lab.exec("r", "ip link set r0 mtu 1500");
    let (_, v) = health(&f);
    let bh: Vec<&Value> = of(&v, "pmtu").collect();
    assert_eq!(bh.len(), 1, "{v:#?}");
    assert_eq!(bh[0]["state"], "stalled");
    assert_eq!(bh[0]["side"], "receiver");
    assert_eq!(bh[0]["confidence"], "high", "{:#?}", bh[0]);
    assert!(severities(&v).contains(&"warning V6Mon::PMTU_Blackhole".to_string()), "{:?}", severities(&v));

    // (5) AAAA answered, yet the application connects over IPv4.
    lab.router_rules("");
    let f = lab.capture("aaaa-unused", |lab| {
        assert!(lab.try_exec("c", "getent ahosts svc.test >/dev/null"));
        curl(lab, "-4", URL_SMALL);
    });
    let (_, v) = health(&f);
    let unused: Vec<&Value> = of(&v, "aaaa_unused").collect();
    assert_eq!(unused.len(), 1, "{v:#?}");
    assert_eq!(unused[0]["name"], "svc.test");
    assert_eq!(unused[0]["reason"], "app_v4_only", "the client has a global IPv6 address");
    assert!(severities(&v).contains(&"info V6Mon::AAAA_Unused".to_string()), "{:?}", severities(&v));
}

/// A TLS server on both families (port 8443) with a certificate for svc.test from a CA made
/// here; returns the CA's PEM file.
fn https(lab: &mut Lab) -> PathBuf {
    let d = lab.dir.display().to_string();
    sh(&format!(
        "cd {d} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=lab-ca \
         -keyout ca.key -out ca.pem 2>/dev/null && \
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=svc.test -keyout leaf.key -out leaf.csr 2>/dev/null && \
         printf 'subjectAltName=DNS:svc.test\\nbasicConstraints=CA:FALSE\\n' > ext && \
         openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out leaf.pem 2>/dev/null"
    ));
    let script = format!(
        "import functools, http.server, socket, ssl\n\
         class S(http.server.ThreadingHTTPServer):\n    address_family = socket.AF_INET6\n    \
         def server_bind(self):\n        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n        super().server_bind()\n\
         ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\nctx.load_cert_chain('{d}/leaf.pem', '{d}/leaf.key')\n\
         srv = S(('::', 8443), functools.partial(http.server.SimpleHTTPRequestHandler, directory='{d}/www'))\n\
         srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\nsrv.serve_forever()\n"
    );
    std::fs::write(lab.dir.join("tls.py"), script).unwrap();
    let py = lab.dir.join("tls.py").display().to_string();
    lab.spawn("s", &["python3", &py]);
    let ca = lab.dir.join("ca.pem");
    for _ in 0..50 {
        let cmd = format!("curl -s -o /dev/null --max-time 1 --cacert {} https://svc.test:8443/small", ca.display());
        if lab.try_exec("c", &cmd) {
            return ca;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the lab's TLS server did not come up");
}

/// `v6watch probe --once` from the client; returns the exit status and the JSON lines.
fn probe(lab: &Lab, args: &str) -> (i32, Vec<Value>) {
    let out = lab.dir.join("probe.jsonl");
    let cmd = format!(
        "{} probe --once --format jsonl --resolver {SERVER4} --timeout 2s --stall 2s {args} > {}",
        env!("CARGO_BIN_EXE_v6watch"),
        out.display()
    );
    let status = Command::new("ip").args(["netns", "exec", &lab.ns("c"), "sh", "-c", &cmd]).status().expect("probe");
    let text = std::fs::read_to_string(&out).unwrap();
    eprintln!("probe {args}:\n{text}");
    (status.code().unwrap_or(-1), text.lines().map(|l| serde_json::from_str(l).expect(l)).collect())
}

/// The outcome of `phase` over `family` (the first check of it).
fn phase<'a>(v: &'a [Value], family: u64, phase: &str) -> &'a str {
    v.iter()
        .find(|c| c["type"] == "probe" && c["family"] == family && c["phase"] == phase)
        .and_then(|c| c["outcome"].as_str())
        .unwrap_or("(none)")
}

fn notes(v: &[Value]) -> Vec<String> {
    of(v, "finding")
        .inspect(|f| assert_eq!(f["source"], "probe"))
        .map(|f| format!("{} {}", f["severity"].as_str().unwrap(), f["note"].as_str().unwrap()))
        .collect()
}

/// `v6watch probe` against the same lab: each broken scenario classified per family and
/// phase, exit 1 for the broken ones, 0 when IPv6 works; `live` on the client's interface
/// meanwhile tags every flow of the probe `autonomous`, and nothing else.
#[test]
fn probes_say_what_breaks() {
    if !usable() || !common::root_with(&["openssl"], "probe test") {
        return;
    }
    let mut lab = Lab::new();
    let ca = https(&mut lab);
    lab.router_rules("");
    // live on the client's interface for the whole test.
    let live_out = lab.dir.join("live.jsonl");
    let live_json = lab.dir.join("live.json");
    let mut live = Command::new("ip")
        .args(["netns", "exec", &lab.ns("c"), env!("CARGO_BIN_EXE_v6watch"), "live", "-i", "c0", "--sensor", "client"])
        // One process capturing and probing, as well as the separate `probe` runs below.
        .args(["--probe-every", "1s", "--probe", "http://svc.test:8080/small", "--every", "1s"])
        .arg("--prometheus")
        .arg(lab.dir.join("live.prom"))
        .arg("--report")
        .arg(lab.dir.join("live.html"))
        .arg("--json")
        .arg(&live_json)
        .stdout(std::fs::File::create(&live_out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .expect("live");
    let mut err = live.stderr.take().unwrap();
    // Its first line says the capture is open (it may come in more than one write).
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while !first.ends_with(b"\n") && first.len() < 4096 && std::io::Read::read(&mut err, &mut byte).unwrap_or(0) == 1 {
        first.push(byte[0]);
    }
    assert!(String::from_utf8_lossy(&first).contains("capturing on c0"), "{}", String::from_utf8_lossy(&first));

    // (1) Everything works: every phase ok over both families, IPv6 wins the race, exit 0.
    let tls = format!("https://svc.test:8443/small --large /big --ca {}", ca.display());
    let (code, v) = probe(&lab, &tls);
    for fam in [6, 4] {
        for p in ["dns", "connect", "tls", "http", "large"] {
            assert_eq!(phase(&v, fam, p), "ok", "IPv{fam} {p}");
        }
    }
    let race = v.iter().find(|c| c["phase"] == "race").unwrap();
    assert_eq!((race["ok"].as_bool(), race["family"].as_u64()), (Some(true), Some(6)), "{race}");
    let certs: Vec<&Value> = v.iter().filter(|c| c["phase"] == "tls").map(|c| &c["cert_sha256"]).collect();
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[0], certs[1], "the same certificate over both families");
    assert_eq!(notes(&v), Vec::<String>::new());
    assert_eq!(code, 0);
    let addrs: Vec<&str> =
        v.iter().filter(|c| c["phase"] == "connect").map(|c| c["address"].as_str().unwrap()).collect();
    assert_eq!(addrs, [format!("[{SERVER6}]:8443"), format!("{SERVER4}:8443")], "the addresses tested are named");
    // Without the lab's CA the certificate is refused, over each family.
    let (code, v) = probe(&lab, "https://svc.test:8443/small");
    assert_eq!((phase(&v, 6, "tls"), phase(&v, 4, "tls")), ("tls_error", "tls_error"));
    assert!(notes(&v).contains(&"warning V6Mon::TLS_Failed".to_string()), "{:?}", notes(&v));
    assert_eq!(code, 1);

    let http = format!("{URL_SMALL} --large /big");
    // (2) IPv6 silently dropped: the IPv6 connect times out, IPv4 wins the race.
    lab.router_rules(DROP);
    let prom = lab.dir.join("probe.prom");
    let (code, v) = probe(&lab, &format!("{http} --sensor client --prometheus {}", prom.display()));
    assert_eq!((phase(&v, 6, "connect"), phase(&v, 4, "connect")), ("timeout", "ok"));
    let metrics = std::fs::read_to_string(&prom).unwrap();
    for line in [
        "v6watch_probe_success{sensor=\"client\",target=\"http://svc.test:8080/small\",family=\"ipv6\",phase=\"connect\"} 0",
        "v6watch_probe_success{sensor=\"client\",target=\"http://svc.test:8080/small\",family=\"ipv4\",phase=\"large\"} 1",
        "v6watch_probe_he_winner{sensor=\"client\",target=\"http://svc.test:8080/small\"} 4",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    assert_eq!(phase(&v, 6, "http"), "skipped");
    assert_eq!((phase(&v, 4, "http"), phase(&v, 4, "large")), ("ok", "ok"));
    let race = v.iter().find(|c| c["phase"] == "race").unwrap();
    assert_eq!(race["family"], 4, "{race}");
    let n = notes(&v);
    assert!(n.contains(&"critical V6Mon::IPv6_Service_Down".to_string()), "{n:?}");
    assert!(n.contains(&"warning V6Mon::IPv6_Fallback".to_string()), "{n:?}");
    assert_eq!(code, 1);

    // (3) Rejected with ICMPv6 administratively prohibited: refused at once, not timed out.
    lab.router_rules(REJECT);
    let (code, v) = probe(&lab, &http);
    assert_eq!(phase(&v, 6, "connect"), "icmp_unreach");
    let c = v.iter().find(|c| c["phase"] == "connect" && c["family"] == 6).unwrap();
    let why = c["detail"].as_str().unwrap();
    assert!(why.contains("administratively prohibited (ICMPv6 type 1 code 1 from 2a0e:66:66:1::1)"), "{c}");
    assert!(c["duration_s"].as_f64().unwrap() < 0.5, "at the first ICMPv6 error, not the SYN's retransmission: {c}");
    assert!(notes(&v).contains(&"critical V6Mon::IPv6_Service_Down".to_string()));
    assert_eq!(code, 1);

    // (4) A 1280-byte link with Packet Too Big dropped: the small response works over IPv6,
    // the large one stalls; over IPv4 both work.
    lab.router_rules(NO_PTB);
    lab.exec("r", "ip link set r0 mtu 1280");
    let (code, v) = probe(&lab, &http);
    lab.exec("r", "ip link set r0 mtu 1500");
    assert_eq!((phase(&v, 6, "connect"), phase(&v, 6, "http"), phase(&v, 6, "large")), ("ok", "ok", "stalled"));
    assert_eq!(phase(&v, 4, "large"), "ok");
    let f: Vec<&Value> = of(&v, "finding").filter(|f| f["note"] == "V6Mon::PMTU_Blackhole").collect();
    assert_eq!(f.len(), 1, "{v:#?}");
    assert_eq!((f[0]["family"].as_u64(), f[0]["severity"].as_str()), (Some(6), Some("warning")));
    assert_eq!(f[0]["address"], format!("[{SERVER6}]:8080"));
    assert_eq!(code, 1);

    // (5) A name with no AAAA: the IPv4 side works, the IPv6 one is never tried.
    lab.router_rules("");
    let (code, v) = probe(&lab, "http://v4only.test:8080/small");
    assert!(["nodata", "nxdomain"].contains(&phase(&v, 6, "dns")), "{v:#?}");
    assert_eq!((phase(&v, 4, "connect"), phase(&v, 4, "http")), ("ok", "ok"));
    assert_eq!(notes(&v), ["warning V6Mon::AAAA_Missing"]);
    assert_eq!(code, 1);

    // A bad target is an error for that target (exit 2), the others are still probed.
    let (code, v) = probe(&lab, &format!("ftp://svc.test/ {URL_SMALL}"));
    assert_eq!(phase(&v, 6, "http"), "ok");
    assert_eq!(code, 2);

    // live saw the probe's flows and tagged each of them, and only them, `autonomous`.
    sh(&format!("kill -TERM {}", live.id()));
    assert!(live.wait().unwrap().success());
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    assert!(rest.contains("probe round 2:"), "live's own probe rounds: {rest}");
    let metrics = std::fs::read_to_string(lab.dir.join("live.prom")).unwrap();
    let line =
        "v6watch_probe_success{sensor=\"client\",target=\"http://svc.test:8080/small\",family=\"ipv4\",phase=\"http\"} 1";
    assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    // live's metrics (the probe's among them) and the probe's own, as node_exporter serves them.
    common::textfile_served(&lab.dir);
    let flows: Vec<Value> =
        std::fs::read_to_string(&live_out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let own = flows
        .iter()
        .filter(|f| f["id.orig_h"] == CLIENT6 || f["id.orig_h"] == CLIENT4)
        .filter(|f| (61000..=61999).contains(&f["id.orig_p"].as_u64().unwrap_or(0)))
        .count();
    assert!(own >= 30, "the probes' flows: {own} of {}", flows.len());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&live_json).unwrap()).unwrap();
    let classes = report["classes"].to_string();
    assert!(classes.contains(&format!("[\"autonomous\",{own}]")), "{classes} vs {own} own flows");
}

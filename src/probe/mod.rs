//! `v6watch probe`: the sensor checks, on its own schedule, that the services it depends on
//! work over IPv4 and over IPv6, each family on its own (never a silent fallback), and says
//! what breaks with the same notes the passive health analysis raises (`source = probe`).
//!
//! Its parts: [`target`] (what is checked), [`check`] (the network checks), [`findings`]
//! (results to findings), [`output`] (table, JSON lines, metrics). This command is the only
//! one, with `--resolve-ptr`, that sends packets.

pub mod check;
mod findings;
mod output;
pub mod target;

use crate::cli::{ProbeArgs, ProbeFormat};
use anyhow::{bail, Context, Result};
use check::{Fail, Outcome, Ports};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use target::{Kind, Target};

/// One check's result: a record (`"type": "probe"` in JSON lines). `ts` is the wall clock
/// when the check started (seconds since the epoch, as every v6watch `ts`); the probe has no
/// capture time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    /// Start, wall clock, ns.
    #[serde(serialize_with = "engine::model::epoch", deserialize_with = "de_epoch")]
    pub ts: i64,
    /// Start of the round the check belongs to (wall clock): the checks of one target with
    /// the same round are judged together when the records are read back.
    #[serde(serialize_with = "engine::model::epoch", deserialize_with = "de_epoch")]
    pub round: i64,
    /// Sensor.
    pub sensor: String,
    /// The target as written.
    pub target: String,
    /// 4 or 6 (for the race: the winner, 0 if none).
    pub family: u8,
    /// dns, connect, tls, http, large, race.
    pub phase: String,
    /// The address actually tested (ADDR:PORT; for dns the resolver).
    pub address: Option<String>,
    /// Whether it worked.
    pub ok: bool,
    /// ok, timeout, refused, icmp_unreach, no_route, nxdomain, nodata, rcode, stalled,
    /// tls_error, http_error, error, skipped.
    pub outcome: String,
    /// How long it took (to the failure, for failures).
    pub duration_s: Option<f64>,
    /// Why it failed, or what it showed.
    pub detail: Option<String>,
    /// dns: the addresses answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<String>,
    /// http, large: the status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// http, large: body bytes received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// tls: protocol version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// tls: ALPN chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// tls: SHA-256 of the server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_sha256: Option<String>,
}

/// Everything a round needs besides the targets.
pub struct Ctx {
    /// Sensor name.
    pub sensor: String,
    /// Resolver.
    pub resolver: SocketAddr,
    /// Per-step timeout.
    pub timeout: Duration,
    /// Stall limit for responses.
    pub stall: Duration,
    /// Happy Eyeballs head start.
    pub head_start: Duration,
    /// Source ports.
    pub ports: Arc<Ports>,
    /// TLS client configuration.
    pub tls: Arc<rustls::ClientConfig>,
    /// Start of the current round, wall clock ns.
    pub round: i64,
}

fn de_epoch<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    let s = f64::deserialize(d)?;
    engine::model::epoch_ns(s).ok_or_else(|| serde::de::Error::custom("time out of range"))
}

fn wall_ns() -> i64 {
    crate::live::capture::now_ns()
}

impl Check {
    fn new(ctx: &Ctx, t: &Target, family: u8, phase: &str, address: Option<String>) -> Check {
        Check {
            ts: wall_ns(),
            round: ctx.round,
            sensor: ctx.sensor.clone(),
            target: t.label.clone(),
            family,
            phase: phase.to_string(),
            address,
            ok: false,
            outcome: Outcome::Skipped.name().to_string(),
            duration_s: None,
            detail: None,
            answers: vec![],
            status: None,
            bytes: None,
            tls_version: None,
            alpn: None,
            cert_sha256: None,
        }
    }

    fn pass(mut self, took: Duration) -> Check {
        self.ok = true;
        self.outcome = Outcome::Ok.name().to_string();
        self.duration_s = Some(took.as_secs_f64());
        self
    }

    fn fail(mut self, f: &Fail, took: Duration) -> Check {
        self.ok = false;
        self.outcome = f.outcome.name().to_string();
        self.duration_s = Some(took.as_secs_f64());
        self.detail = Some(f.detail.clone());
        self
    }

    fn skip(mut self, why: &str) -> Check {
        self.detail = Some(why.to_string());
        self
    }
}

/// `[ADDR]:PORT` or `ADDR:PORT`.
fn sockaddr(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

/// At most this many addresses of one family are connected to per round.
const MAX_ADDRS: usize = 4;

/// One family of one target: lookup, connect to each address, then TLS, HTTP and the large
/// response over the first address that connected. Returns the checks and the addresses.
fn family(ctx: &Ctx, t: &Target, fam: u8) -> (Vec<Check>, Vec<IpAddr>) {
    let mut out = Vec::new();
    let qtype = if fam == 6 { 28 } else { 1 };
    let addrs: Vec<IpAddr> = match t.literal() {
        Some(ip) => vec![ip],
        None => {
            let c = Check::new(ctx, t, fam, "dns", Some(ctx.resolver.to_string()));
            let t0 = Instant::now();
            match check::lookup(&ctx.ports, ctx.resolver, &t.host, qtype, ctx.timeout) {
                Ok(l) => {
                    let mut c = c.pass(l.elapsed);
                    c.answers = l.addrs.iter().map(IpAddr::to_string).collect();
                    if l.tcp {
                        c.detail = Some("answer truncated over UDP, read over TCP".into());
                    }
                    out.push(c);
                    l.addrs
                }
                Err(f) => {
                    out.push(c.fail(&f, t0.elapsed()));
                    return (out, vec![]);
                }
            }
        }
    };
    if t.kind == Kind::Dns {
        return (out, addrs);
    }
    let mut first: Option<(std::net::TcpStream, IpAddr)> = None;
    for ip in addrs.iter().take(MAX_ADDRS) {
        let c = Check::new(ctx, t, fam, "connect", Some(sockaddr(*ip, t.port)));
        let t0 = Instant::now();
        match ctx.ports.connect(SocketAddr::new(*ip, t.port), ctx.timeout) {
            Ok((s, took)) => {
                out.push(c.pass(took));
                if first.is_none() {
                    first = Some((s, *ip));
                }
            }
            Err(f) => out.push(c.fail(&f, t0.elapsed())),
        }
    }
    let Some((tcp, ip)) = first else {
        for phase in later_phases(t) {
            out.push(Check::new(ctx, t, fam, phase, None).skip("no address connected"));
        }
        return (out, addrs);
    };
    let at = Some(sockaddr(ip, t.port));
    let opened = open_stream(ctx, t, fam, tcp, &at, &mut out);
    if t.kind != Kind::Http {
        return (out, addrs);
    }
    let Some((mut stream, tcp)) = opened else {
        out.push(Check::new(ctx, t, fam, "http", at.clone()).skip("the TLS handshake failed"));
        if t.large.is_some() {
            out.push(Check::new(ctx, t, fam, "large", at).skip("the TLS handshake failed"));
        }
        return (out, addrs);
    };
    let http_ok = get(ctx, t, fam, "http", &t.path, &mut *stream, &tcp, &at, &mut out);
    drop(stream);
    if let Some(path) = &t.large {
        // A new connection, as a client would open for a download.
        if !http_ok {
            out.push(Check::new(ctx, t, fam, "large", at).skip("the small request failed"));
        } else {
            match ctx.ports.connect(SocketAddr::new(ip, t.port), ctx.timeout) {
                Ok((tcp, _)) => {
                    let mut scratch = Vec::new();
                    if let Some((mut s, tcp)) = open_stream(ctx, t, fam, tcp, &at, &mut scratch) {
                        get(ctx, t, fam, "large", path, &mut *s, &tcp, &at, &mut out);
                    } else {
                        out.extend(scratch.into_iter().map(|mut c| {
                            c.phase = "large".into();
                            c
                        }));
                    }
                }
                Err(f) => out.push(Check::new(ctx, t, fam, "large", at).fail(&f, ctx.timeout)),
            }
        }
    }
    (out, addrs)
}

/// The phases after connect that a target has.
fn later_phases(t: &Target) -> Vec<&'static str> {
    let mut p = vec![];
    if t.tls {
        p.push("tls");
    }
    if t.kind == Kind::Http {
        p.push("http");
        if t.large.is_some() {
            p.push("large");
        }
    }
    p
}

/// The byte stream over `tcp`: TLS (recorded as the `tls` check) or the connection itself.
fn open_stream(
    ctx: &Ctx,
    t: &Target,
    fam: u8,
    tcp: std::net::TcpStream,
    at: &Option<String>,
    out: &mut Vec<Check>,
) -> Option<(Box<dyn check::Stream>, std::net::TcpStream)> {
    let handle = tcp.try_clone().ok()?;
    if !t.tls {
        return Some((Box::new(tcp), handle));
    }
    let c = Check::new(ctx, t, fam, "tls", at.clone());
    let t0 = Instant::now();
    match check::tls(&ctx.tls, &t.host, tcp, ctx.timeout) {
        Ok((s, info)) => {
            let mut c = c.pass(info.elapsed);
            c.tls_version = Some(info.version);
            c.alpn = info.alpn;
            c.cert_sha256 = Some(info.cert_sha256);
            out.push(c);
            Some((s, handle))
        }
        Err(f) => {
            out.push(c.fail(&f, t0.elapsed()));
            None
        }
    }
}

/// A GET recorded as `phase`; whether it worked.
#[allow(clippy::too_many_arguments)]
fn get(
    ctx: &Ctx,
    t: &Target,
    fam: u8,
    phase: &'static str,
    path: &str,
    stream: &mut dyn check::Stream,
    tcp: &std::net::TcpStream,
    at: &Option<String>,
    out: &mut Vec<Check>,
) -> bool {
    let host = if t.host.contains(':') { format!("[{}]", t.host) } else { t.host.clone() };
    let default = if t.tls { 443 } else { 80 };
    let host = if t.port == default { host } else { format!("{host}:{}", t.port) };
    let c = Check::new(ctx, t, fam, phase, at.clone());
    let t0 = Instant::now();
    match check::http_get(stream, tcp, &host, path, ctx.stall, ctx.timeout) {
        Ok(h) => {
            let ok = h.status < 400;
            let mut c = if ok {
                c.pass(h.elapsed)
            } else {
                c.fail(&Fail { outcome: Outcome::Http, detail: format!("status {}", h.status) }, h.elapsed)
            };
            c.status = Some(h.status);
            c.bytes = Some(h.bytes);
            if ok && phase == "large" && h.bytes < 8192 {
                c.detail = Some(format!("only {} bytes: too small to show a Path-MTU problem", h.bytes));
            }
            out.push(c);
            ok
        }
        Err(f) => {
            out.push(c.fail(&f, t0.elapsed()));
            false
        }
    }
}

/// Every check of one target: both families side by side, then the race.
pub fn target(ctx: &Ctx, t: &Target) -> Vec<Check> {
    // A family whose thread cannot be started (a task limit) is checked on this one, after.
    let results: Vec<(u8, Vec<Check>, Vec<IpAddr>)> = std::thread::scope(|s| {
        let hs: Vec<_> = t
            .families
            .iter()
            .map(|&f| {
                (
                    f,
                    std::thread::Builder::new()
                        .name(format!("v6watch-ipv{f}"))
                        .spawn_scoped(s, move || family(ctx, t, f)),
                )
            })
            .collect();
        hs.into_iter()
            .map(|(f, h)| {
                let (c, a) = match h {
                    Ok(h) => h.join().unwrap_or_else(|_| (vec![], vec![])),
                    Err(_) => family(ctx, t, f),
                };
                (f, c, a)
            })
            .collect()
    });
    // The race runs between each family's first address.
    let first =
        |fam: u8| results.iter().find(|r| r.0 == fam).and_then(|r| r.2.first().map(|ip| SocketAddr::new(*ip, t.port)));
    let (v6, v4) = (first(6), first(4));
    let mut out: Vec<Check> = results.into_iter().flat_map(|r| r.1).collect();
    if t.kind != Kind::Dns && t.families.len() == 2 {
        if let (Some(v6), Some(v4)) = (v6, v4) {
            let c = Check::new(ctx, t, 0, "race", Some(format!("{v6} {v4}")));
            let t0 = Instant::now();
            match check::race(&ctx.ports, Some(v6), Some(v4), ctx.head_start, ctx.timeout) {
                Ok(Some((fam, took))) => {
                    let mut c = c.pass(took);
                    c.family = fam;
                    c.detail = Some(format!("IPv{fam} won after {}", check::secs(took)));
                    out.push(c);
                }
                Ok(None) => out.push(c.fail(
                    &Fail { outcome: Outcome::Timeout, detail: "neither family connected".into() },
                    t0.elapsed(),
                )),
                // Not a result about the network: the race is reported as not run.
                Err(e) => out.push(c.fail(
                    &Fail { outcome: Outcome::Skipped, detail: format!("not run: cannot start its threads ({e})") },
                    t0.elapsed(),
                )),
            }
        }
    }
    out
}

/// One round over every target, `concurrency` at a time, in target order.
pub fn round(ctx: &mut Ctx, targets: &[Target], concurrency: usize) -> Vec<Vec<Check>> {
    ctx.round = wall_ns();
    let ctx = &*ctx;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Vec<Check>>> = targets.iter().map(|_| Default::default()).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(t) = targets.get(i) else { break };
        let r = target(ctx, t);
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = r;
    };
    std::thread::scope(|s| {
        let mut started = 0;
        for _ in 0..concurrency.min(targets.len()).max(1) {
            if std::thread::Builder::new().name("v6watch-prober".into()).spawn_scoped(s, work).is_ok() {
                started += 1;
            }
        }
        // No thread could be started (a task limit): the targets one after another, here.
        if started == 0 {
            work();
        }
    });
    slots.into_iter().map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner())).collect()
}

/// The targets and settings of a prober: what `probe` runs, and what `live --probe-every`
/// runs beside the capture.
pub struct Prober {
    /// Network settings and the round's clock.
    pub ctx: Ctx,
    /// Targets that parsed.
    pub targets: Vec<Target>,
    /// Targets that did not, with why.
    pub bad: Vec<String>,
    /// Targets probed at once.
    pub concurrency: usize,
}

impl Prober {
    /// From the options and the config: the command line's targets, else the config's.
    pub fn new(args: &ProbeArgs, file: &crate::config::File) -> Result<Prober> {
        let dur = crate::config::duration;
        let timeout = dur("--timeout", &args.timeout)?;
        let stall = dur("--stall", &args.stall)?;
        let head_start = dur("--head-start", &args.head_start)?;
        let ports = match args.probe_ports.as_ref().or(file.probe_ports.as_ref()) {
            Some(p) => crate::config::parse_ports(p).context("--probe-ports")?,
            None => Some(crate::config::PROBE_PORTS),
        };
        let Some((first, last)) = ports else {
            bail!("probe_ports = none: the probe needs a source-port range (its own traffic is told apart by it)")
        };
        let families: Vec<u8> = args.family.map_or(vec![6, 4], |f| vec![f]);

        // Targets: a bad one is its own error (exit 2), the others are still probed.
        let (mut targets, mut bad) = (Vec::new(), Vec::new());
        if args.targets.is_empty() {
            if file.probe.is_empty() {
                bail!("nothing to probe: give targets (URL, HOST:PORT or NAME) or a --config with [[probe]] entries");
            }
            for p in &file.probe {
                let fams = p.families.clone().unwrap_or_else(|| families.clone());
                match target::parse(&p.target, p.kind.as_deref(), p.large.as_deref(), &fams) {
                    Ok(t) => targets.push(t),
                    Err(e) => bad.push(format!("[[probe]] {e:#}")),
                }
            }
        } else {
            for t in &args.targets {
                let http = args.kind.as_deref().is_none_or(|k| k == "http") && t.contains("://");
                let large = args.large.as_deref().filter(|_| http);
                match target::parse(t, args.kind.as_deref(), large, &families) {
                    Ok(t) => targets.push(t),
                    Err(e) => bad.push(format!("{e:#}")),
                }
            }
        }
        for b in &bad {
            eprintln!("v6watch: probe: {b}");
        }
        if targets.is_empty() {
            bail!("no target can be probed");
        }
        let resolver = crate::config::resolver(args.resolver.as_deref())?;
        let ctx = Ctx {
            round: 0,
            sensor: args.sensor.clone().unwrap_or_else(crate::live::hostname),
            resolver,
            timeout,
            stall,
            head_start,
            ports: Ports::new(first, last),
            tls: check::tls_config(&args.ca)?,
        };
        Ok(Prober { ctx, targets, bad, concurrency: args.concurrency })
    }

    /// One round: every check, and its findings.
    pub fn round(&mut self) -> (Vec<Vec<Check>>, Vec<engine::analyze::health::Finding>) {
        let results = round(&mut self.ctx, &self.targets, self.concurrency);
        let found = findings::of_round(&self.ctx.sensor, &self.targets, &results);
        (results, found)
    }

    /// Rounds every `every` until `stop`, each handed to `each`; a finding that is new or
    /// worse than in the last round is a line on stderr, one that went away `cleared`.
    pub fn repeat(
        &mut self,
        every: Duration,
        stop: &AtomicBool,
        mut each: impl FnMut(&Prober, &[Vec<Check>], &[engine::analyze::health::Finding]) -> Result<()>,
    ) -> Result<()> {
        let mut last: std::collections::BTreeMap<String, engine::analyze::health::Severity> = Default::default();
        let mut n = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let began = Instant::now();
            n += 1;
            let (results, found) = self.round();
            each(self, &results, &found)?;
            let mut now = std::collections::BTreeMap::new();
            for f in &found {
                if last.get(&f.identifier).is_none_or(|s| *s < f.severity) {
                    let msg = crate::output::term::clean(&f.msg);
                    eprintln!("v6watch: probe round {n}: {} {}: {msg}", f.severity.name(), f.note);
                }
                now.insert(f.identifier.clone(), f.severity);
            }
            for id in last.keys().filter(|id| !now.contains_key(*id)) {
                eprintln!("v6watch: probe round {n}: cleared: {}", crate::output::term::clean(id));
            }
            last = now;
            let failed = results.iter().flatten().filter(|c| !c.ok && c.outcome != "skipped").count();
            let checks: usize = results.iter().map(Vec::len).sum();
            eprintln!("v6watch: probe round {n}: {checks} checks, {failed} failed, {} finding(s)", found.len());
            while !stop.load(Ordering::SeqCst) && began.elapsed() < every {
                std::thread::sleep(Duration::from_millis(100).min(every));
            }
        }
        Ok(())
    }
}

/// Runs `probe`.
pub fn run(args: ProbeArgs) -> Result<ExitCode> {
    let file = crate::config::load_opt(args.config.as_deref())?;
    let every = args.every.as_deref().map(|e| crate::config::duration("--every", e)).transpose()?;
    let mut p = Prober::new(&args, &file)?;
    let level = args.fail_on.level();
    let Some(every) = every else {
        let (results, found) = p.round();
        emit(&args, &p.targets, &results, &found)?;
        if !p.bad.is_empty() {
            return Ok(ExitCode::from(2));
        }
        let failing = level.is_some_and(|l| found.iter().any(|f| f.severity >= l));
        return Ok(ExitCode::from(u8::from(failing)));
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())?;
        signal_hook::flag::register(sig, stop.clone())?;
    }
    eprintln!(
        "v6watch: probing {} target(s) every {}; stop with Ctrl-C or SIGTERM",
        p.targets.len(),
        args.every.as_deref().unwrap_or("")
    );
    p.repeat(every, &stop, |p, results, found| emit(&args, &p.targets, results, found))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes a round where it was asked for: standard output, --out, --prometheus.
fn emit(args: &ProbeArgs, targets: &[Target], results: &[Vec<Check>], found: &[findings::ProbeFinding]) -> Result<()> {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    match args.format {
        ProbeFormat::Table => output::table(&mut w, targets, results, found)?,
        ProbeFormat::Jsonl => output::jsonl(&mut w, results, found)?,
    }
    std::io::Write::flush(&mut w)?;
    if let Some(p) = &args.out {
        append(p, results, found)?;
    }
    if let Some(p) = &args.prometheus {
        crate::output::replace_whole(p, metrics(targets, results).as_bytes())
            .with_context(|| format!("--prometheus {}", p.display()))?;
    }
    Ok(())
}

/// Appends a round's checks and findings to `path` as JSON lines, in one write so that a
/// reader (or a second writer) never sees half a round.
pub fn append(
    path: &std::path::Path,
    results: &[Vec<Check>],
    found: &[engine::analyze::health::Finding],
) -> Result<()> {
    let mut buf = Vec::new();
    output::jsonl(&mut buf, results, found)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut f, &buf).with_context(|| format!("writing {}", path.display()))
}

/// The Prometheus text of a round.
pub fn metrics(targets: &[Target], results: &[Vec<Check>]) -> String {
    let sensor = results.iter().flatten().next().map(|c| c.sensor.as_str()).unwrap_or("");
    output::prometheus(sensor, targets, results)
}

/// Whether `path` holds probe records: its first line is a probe check or a probe finding.
pub fn is_probe_file(path: &std::path::Path) -> bool {
    use std::io::BufRead;
    let Ok(f) = std::fs::File::open(path) else { return false };
    let first = std::io::BufReader::new(f).lines().map_while(|l| l.ok()).find(|l| !l.trim().is_empty());
    first
        .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .is_some_and(|v| v["type"] == "probe" || (v["type"] == "finding" && v["source"] == "probe"))
}

/// The findings of stored probe records (what `--out` and `--format jsonl` write): each
/// target's checks of one round are judged together, as when they were made, and repeats
/// across rounds are folded (count, first and last time, the worst severity). Memory holds
/// one round per target. Finding lines are skipped: they are made again from the checks.
pub fn findings_of_records(paths: &[std::path::PathBuf]) -> Result<Vec<engine::analyze::health::Finding>> {
    use std::io::BufRead;
    type Key = (String, String);
    let mut open: std::collections::HashMap<Key, (i64, Vec<Check>)> = Default::default();
    let mut folded: std::collections::BTreeMap<String, engine::analyze::health::Finding> = Default::default();
    let mut judge = |sensor: &str, label: &str, checks: Vec<Check>| {
        let mut fams: Vec<u8> = checks.iter().filter(|c| c.phase != "race").map(|c| c.family).collect();
        fams.sort_unstable_by(|a, b| b.cmp(a));
        fams.dedup();
        let t = target::parse(label, None, None, &fams)
            .or_else(|_| target::parse(label, Some("tls"), None, &fams))
            .unwrap_or_else(|_| Target {
                label: label.to_string(),
                kind: Kind::Tcp,
                host: label.to_string(),
                port: 0,
                tls: false,
                path: "/".into(),
                large: None,
                families: fams.clone(),
            });
        let t = Target { families: fams, ..t };
        for f in findings::of_round(sensor, std::slice::from_ref(&t), &[checks]) {
            match folded.get_mut(&f.identifier) {
                Some(g) => {
                    g.n += 1;
                    g.first_ts = g.first_ts.min(f.first_ts);
                    g.last_ts = g.last_ts.max(f.last_ts);
                    if f.severity >= g.severity {
                        g.severity = f.severity;
                        g.msg = f.msg;
                        g.address = f.address;
                    }
                }
                None => {
                    folded.insert(f.identifier.clone(), f);
                }
            }
        }
    };
    for p in paths {
        let file = std::fs::File::open(p).with_context(|| format!("--records {}", p.display()))?;
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let at = || format!("{}: line {}", p.display(), i + 1);
            let line = line.with_context(at)?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value =
                serde_json::from_str(&line).map_err(|_| anyhow::anyhow!("{}: not a JSON object", at()))?;
            match v["type"].as_str() {
                Some("finding") => continue,
                Some("probe") => {}
                _ => bail!("{}: not a probe record (a probe file holds probe and finding lines only)", at()),
            }
            let c: Check =
                serde_json::from_value(v).map_err(|e| anyhow::anyhow!("{}: not a probe record: {e}", at()))?;
            let key = (c.sensor.clone(), c.target.clone());
            match open.get_mut(&key) {
                Some((round, checks)) if *round == c.round => checks.push(c),
                Some(slot) => {
                    let done = std::mem::replace(slot, (c.round, vec![c]));
                    judge(&key.0, &key.1, done.1);
                }
                None => {
                    open.insert(key, (c.round, vec![c]));
                }
            }
        }
    }
    for ((sensor, label), (_, checks)) in open {
        judge(&sensor, &label, checks);
    }
    let mut out: Vec<_> = folded.into_values().collect();
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.identifier.cmp(&b.identifier)));
    Ok(out)
}

#[cfg(test)]
mod test {
    use super::*;

    fn check(target: &str, round: i64, family: u8, phase: &str, outcome: &str) -> Check {
        Check {
            ts: round + 1000,
            round,
            sensor: "s".into(),
            target: target.into(),
            family,
            phase: phase.into(),
            address: Some(if family == 6 { "[2001:db8::1]:80" } else { "192.0.2.1:80" }.into()),
            ok: outcome == "ok",
            outcome: outcome.into(),
            duration_s: Some(0.01),
            detail: None,
            answers: vec![],
            status: None,
            bytes: None,
            tls_version: None,
            alpn: None,
            cert_sha256: None,
        }
    }

    fn round(r: i64, v6_connect: &str, race_winner: u8) -> Vec<Check> {
        let t = "http://u.example/";
        let mut race = check(t, r, race_winner, "race", "ok");
        race.address = None;
        vec![
            check(t, r, 6, "dns", "ok"),
            check(t, r, 6, "connect", v6_connect),
            check(t, r, 6, "http", if v6_connect == "ok" { "ok" } else { "skipped" }),
            check(t, r, 4, "dns", "ok"),
            check(t, r, 4, "connect", "ok"),
            check(t, r, 4, "http", "ok"),
            race,
        ]
    }

    fn notes(f: &[engine::analyze::health::Finding]) -> Vec<String> {
        f.iter().map(|f| format!("{} {} n={}", f.severity.name(), f.note, f.n)).collect()
    }

    #[test]
    fn one_round_judged_per_family() {
        let t = target::parse("http://u.example/", None, None, &[6, 4]).unwrap();
        let f = findings::of_round("s", std::slice::from_ref(&t), &[round(1, "timeout", 4)]);
        assert_eq!(notes(&f), ["critical V6Mon::IPv6_Service_Down n=1", "warning V6Mon::IPv6_Fallback n=1"]);
        assert!(f.iter().all(|f| f.source == "probe" && f.address.as_deref() == Some("[2001:db8::1]:80")));
        assert!(findings::of_round("s", std::slice::from_ref(&t), &[round(1, "ok", 6)]).is_empty());
        // IPv6 works but loses the race: slow, not broken.
        let f = findings::of_round("s", std::slice::from_ref(&t), &[round(1, "ok", 4)]);
        assert_eq!(notes(&f), ["info V6Mon::IPv6_Race_Lost n=1"]);
    }

    #[test]
    fn stored_rounds_are_judged_again_and_folded() {
        let dir = std::env::temp_dir().join(format!("v6watch-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("probe.jsonl");
        let mut text = String::new();
        for (r, v6) in [(1_000_000_000_000, "timeout"), (2_000_000_000_000, "ok"), (3_000_000_000_000, "refused")] {
            let mut buf = Vec::new();
            output::jsonl(&mut buf, &[round(r, v6, if v6 == "ok" { 6 } else { 4 })], &[]).unwrap();
            text.push_str(std::str::from_utf8(&buf).unwrap());
        }
        std::fs::write(&path, &text).unwrap();
        assert!(is_probe_file(&path));
        let f = findings_of_records(std::slice::from_ref(&path)).unwrap();
        assert_eq!(notes(&f), ["critical V6Mon::IPv6_Service_Down n=2", "warning V6Mon::IPv6_Fallback n=2"]);
        assert_eq!((f[0].first_ts, f[0].last_ts), (1_000_000_001_000, 3_000_000_001_000));
        // A damaged line is an error naming the file and line.
        std::fs::write(&path, format!("{text}{{\"type\":\"probe\",\"ts\":\"x\"}}\n")).unwrap();
        let e = findings_of_records(std::slice::from_ref(&path)).unwrap_err().to_string();
        assert!(e.contains("probe.jsonl: line 22"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

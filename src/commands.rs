//! One function per subcommand: turn validated arguments into engine calls and printers.

use crate::cli::{AnalysisArgs, Command, HealthFormat, InputArgs, SummaryFormat};
use crate::config::{self, glob_match};
use crate::output::{events, flows, health, summary, term};
use anyhow::{bail, Context, Result};
use engine::analysis::{Analysis, Settings};
use engine::decode::Addr;
use engine::model::EventKind;
use engine::pipeline::{self, FlowSink, NullSink, Options, SensorInput, SensorSummary};
use engine::source::FrameSource;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Summary { mut input, analysis, format } => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match format {
                SummaryFormat::Json => {
                    let (sums, code) = analyse(&input, &mut NullSink)?;
                    summary::json(&mut out, &sums)?;
                    out.flush()?;
                    Ok(code)
                }
                SummaryFormat::Table => {
                    // The terminal form of the whole analysis: capture statistics, then the
                    // answers (event windows, what moved, IPv6 health).
                    let settings = settings(&mut input, &analysis)?;
                    let mut a = Analysis::new(settings.clone());
                    let (sums, code) = analyse(&input, &mut a)?;
                    summary::table(&mut out, &sums)?;
                    let report = finished(a, sums);
                    writeln!(out)?;
                    crate::output::answers::write(&mut out, &report, &settings)?;
                    out.flush()?;
                    Ok(code)
                }
            }
        }
        Command::Flows { mut input, config, format, tz } => {
            let clock = config_file_sensors(&mut input, config.as_deref(), tz.as_deref())?;
            let stdout = std::io::stdout().lock();
            let mut sink =
                flows::Writer::new(std::io::BufWriter::with_capacity(1 << 16, stdout), format).with_clock(clock);
            let (_, code) = analyse_with(&input, &mut sink, false)?;
            sink.finish()?;
            Ok(code)
        }
        Command::Events(e) => events(e.args.input, e.args.config, e.args.format, e.args.tz, e.kind),
        Command::Health { mut input, analysis, format, fail_on, prometheus, top_services, export } => {
            let settings = settings(&mut input, &analysis)?;
            // Probe records (`v6watch probe --out`) are judged by the probe's rules; the
            // other records and the captures by the passive analysis; one list of findings.
            let (probes, rest): (Vec<_>, Vec<_>) =
                std::mem::take(&mut input.records).into_iter().partition(|p| crate::probe::is_probe_file(p));
            input.records = rest;
            let probe_findings = crate::probe::findings_of_records(&probes)?;
            let (mut report, code) = if input.records.is_empty() && input.captures.is_empty() {
                (Default::default(), ExitCode::SUCCESS)
            } else {
                let mut a = Analysis::new(settings.clone());
                let (sums, code) = analyse_exporting(&input, &mut a, export.as_deref())?;
                (finished(a, sums).health, code)
            };
            if !probe_findings.is_empty() {
                report.findings.extend(probe_findings);
                report.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match format {
                HealthFormat::Table => health::table(&mut out, &report, &settings.tz)?,
                HealthFormat::Jsonl => health::jsonl(&mut out, &report)?,
            }
            out.flush()?;
            if let Some(path) = prometheus {
                crate::output::replace_whole(&path, health::prometheus(&report, top_services).as_bytes())
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            let level = fail_on.level();
            let failed = matches!((level, report.worst()), (Some(l), Some(w)) if w >= l);
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Report { fleet: Some(doc), out, .. } => {
            let text = std::fs::read_to_string(&doc).with_context(|| format!("--fleet {}", doc.display()))?;
            let html = crate::output::fleet::html(&text, &doc.display().to_string())?;
            replace_whole(&out, html.as_bytes())?;
            eprintln!("wrote {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { mut input, analysis, out, json, export, snapshot_every, fleet: None } => {
            if json.as_deref().is_some_and(|j| same_file(j, &out)) {
                bail!("-o and --json name the same file ({}): give them different paths", out.display());
            }
            let settings = settings(&mut input, &analysis)?;
            let mut a = Analysis::new(settings.clone());
            let (sums, code) = match snapshot_every {
                Some(secs) => {
                    let every = std::time::Duration::from_secs(secs);
                    let mut s =
                        crate::output::snapshot::Snapshots::new(&mut a, every, &settings, &out, json.as_deref());
                    analyse_exporting(&input, &mut s, export.as_deref())?
                }
                None => analyse_exporting(&input, &mut a, export.as_deref())?,
            };
            let report = finished(a, sums);
            write_report(&report, &settings, &out, json.as_deref())?;
            eprintln!("wrote {}", out.display());
            // The process ends next: the report (every attempt, service and name of the
            // capture) is left to the exit, not freed piece by piece (~10 ms for the
            // replayed benchmark capture's 115,500 attempts).
            std::mem::forget(report);
            Ok(code)
        }
        Command::Export { mut input, analysis, out } => {
            let settings = settings(&mut input, &analysis)?;
            let mut a = Analysis::new(settings);
            let mut w = crate::dataset::write::Writer::new(&out, crate::dataset::write::Mode::Replace);
            let (sums, code) = analyse(&input, &mut pipeline::Tee(&mut a, &mut w))?;
            // The analysis ends before the files close: its attempts and findings are datasets.
            let report = finished(a, sums);
            w.health(&report.health)?;
            w.finish()?;
            let counts: Vec<String> =
                crate::dataset::datasets().iter().zip(&w.rows).map(|(d, n)| format!("{n} {d}")).collect();
            eprintln!("wrote {}: {}", out.display(), counts.join(", "));
            Ok(code)
        }
        Command::Timeline { mut input, analysis, format } => {
            let settings = settings(&mut input, &analysis)?;
            let mut a = Analysis::new(settings.clone());
            let (_, code) = analyse(&input, &mut a)?;
            let tl = a.timeline();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            crate::output::timeline::write(&mut out, &tl, format, &settings)?;
            out.flush()?;
            Ok(code)
        }
        Command::Peers { mut input, analysis, format, group, during, family } => {
            let settings = settings(&mut input, &analysis)?;
            let window = match &during {
                Some(name) => Some(settings.events.iter().position(|e| &e.name == name).with_context(|| {
                    format!("--during {name:?}: no such event (give it with --event or the config)")
                })?),
                None => None,
            };
            let mut a = Analysis::new(settings.clone());
            let (sums, code) = analyse(&input, &mut a)?;
            let report = finished(a, sums);
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            crate::output::peers::write(&mut out, &report, format, group, window, family, &settings)?;
            out.flush()?;
            Ok(code)
        }
        Command::Addr { addresses, format, intel } => {
            let intel = address_data(&intel)?;
            let mut list = Vec::new();
            for a in &addresses {
                let ip: std::net::IpAddr =
                    a.trim().parse().with_context(|| format!("{a:?} is not an IPv4 or IPv6 address"))?;
                list.push((ip, intel.describe(&Addr::from_ip(ip))));
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            crate::output::addr::write(&mut out, &list, format)?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { out, seed, size } => {
            let files = crate::gen::demo::write(&out, seed, size)?;
            let conf = out.join("v6watch.toml");
            std::fs::write(&conf, crate::gen::demo::CONFIG).with_context(|| format!("writing {}", conf.display()))?;
            let ind = out.join("indicators.txt");
            std::fs::write(&ind, crate::gen::demo::INDICATORS).with_context(|| format!("writing {}", ind.display()))?;
            let mut input = InputArgs {
                captures: files.clone(),
                records: vec![],
                filter: None,
                sensors: vec![],
                sensor_addrs: vec![],
                keep_going: false,
                max_flows: 250_000,
                threads: 2,
                no_progress: true,
                no_apps: false,
                hosts: vec![],
            };
            let analysis = AnalysisArgs { config: Some(conf.clone()), ..Default::default() };
            let settings = settings(&mut input, &analysis)?;
            let mut a = Analysis::new(settings.clone());
            let (sums, code) = analyse(&input, &mut a)?;
            let report = finished(a, sums);
            let (html, json) = (out.join("report.html"), out.join("report.json"));
            write_report(&report, &settings, &html, Some(&json))?;
            let mut o = std::io::stdout().lock();
            for f in files.iter().chain([&conf, &ind, &html, &json]) {
                writeln!(o, "wrote {}", f.display())?;
            }
            writeln!(o)?;
            crate::output::answers::write(&mut o, &report, &settings)?;
            writeln!(o, "\nOpen {} in a browser for the whole report.", html.display())?;
            Ok(code)
        }
        Command::Generate { out, size, seed, concurrent, gap_us, replay } => {
            if !replay.is_empty() {
                let (stats, files) = crate::gen::replay::write(&out, &replay, size)?;
                eprintln!(
                    "wrote {}: {} packets, {} bytes (frames of {files} captures, {:.0} bytes per packet)",
                    out.display(),
                    stats.packets,
                    stats.bytes,
                    stats.bytes as f64 / stats.packets.max(1) as f64
                );
                return Ok(ExitCode::SUCCESS);
            }
            if !(gap_us.is_finite() && gap_us > 0.0) {
                anyhow::bail!("--gap-us must be positive");
            }
            let stats = crate::gen::bench::write(&out, size, seed, concurrent, (gap_us * 1000.0) as i64)?;
            eprintln!("wrote {}: {} packets, {} bytes", out.display(), stats.packets, stats.bytes);
            Ok(ExitCode::SUCCESS)
        }
        Command::Live(args) => crate::live::run(*args),
        Command::Probe(args) => crate::probe::run(args),
        Command::Bench { peak_rss, .. } if !peak_rss.is_empty() => crate::gen::bench::peak_rss(&peak_rss),
        Command::Bench { captures, tshark, runs, .. } => crate::gen::bench::measure(&captures, tshark, runs),
        Command::Man { out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let cmd = crate::cli::command();
            clap_mangen::generate_to(cmd, &out)
                .with_context(|| format!("writing the manual pages into {}", out.display()))?;
            println!("wrote the manual pages into {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            let mut cmd = crate::cli::command();
            // Into memory first: the generator panics on a write error (a closed pipe).
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, "v6watch", &mut text);
            std::io::stdout().write_all(&text)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads the configuration and the analysis options; sensors declared in the configuration
/// join the command line's.
pub fn settings(input: &mut InputArgs, a: &AnalysisArgs) -> Result<Settings> {
    let file = config::load_opt(a.config.as_deref())?;
    let intel = address_data(&a.intel)?;
    config_sensors(input, &file);
    let tz_name = a.tz.clone().or(file.tz.clone()).unwrap_or_else(|| "UTC".into());
    let tz = config::zone(&tz_name)?;
    let bucket_ns = match a.bucket.as_ref().or(file.bucket.as_ref()) {
        Some(b) => Some(config::parse_duration(b).context("--bucket")?),
        None => None,
    };
    let mut events = Vec::new();
    for e in &file.event {
        let (start, end) = (config::parse_time(&e.start)?, config::parse_time(&e.end)?);
        if end <= start {
            bail!("event {:?}: end must be after start", e.name);
        }
        events.push(config::Event { name: e.name.clone(), start, end });
    }
    for e in &a.events {
        events.push(config::parse_event(e)?);
    }
    let mut rules = file.rule.iter().map(config::compile_rule).collect::<Result<Vec<_>>>()?;
    // The sensor's own probes come first: they are `autonomous` whatever else they match.
    let ports = match a.probe_ports.as_ref().or(file.probe_ports.as_ref()) {
        Some(p) => config::parse_ports(p).context("--probe-ports")?,
        None => Some(config::PROBE_PORTS),
    };
    if ports.is_some() {
        rules
            .insert(0, engine::classify::Rule { class: "autonomous".into(), local_ports: ports, ..Default::default() });
    }
    let mut exclude = file.exclude.clone();
    exclude.extend(a.exclude.iter().cloned());
    let health = file.health.params()?;
    // Enrichment of the peers, in order: names by reverse DNS first (a name gives an
    // organisation), then the databases' organisation, ASN and country.
    let mut enrichers: Vec<std::sync::Arc<dyn engine::enrich::PeerEnricher>> = Vec::new();
    if a.resolve_ptr {
        let server = config::resolver(a.resolver.as_deref()).context("--resolve-ptr")?;
        let timeout = config::duration("--ptr-timeout", &a.ptr_timeout)?;
        enrichers.push(std::sync::Arc::new(engine::enrich::Ptr { server, timeout }));
    }
    if a.asn_db.is_some() || a.geo_db.is_some() {
        let db =
            engine::enrich::geo::GeoDb::open(a.asn_db.as_deref(), a.geo_db.as_deref()).map_err(anyhow::Error::msg)?;
        enrichers.push(std::sync::Arc::new(engine::enrich::Geo(std::sync::Mutex::new(db))));
    }
    let mut lists: Vec<PathBuf> = match &a.config {
        Some(c) => {
            let base = c.parent().unwrap_or(std::path::Path::new("."));
            file.indicators.iter().map(|f| base.join(f)).collect()
        }
        None => Vec::new(),
    };
    lists.extend(a.indicators.iter().cloned());
    let indicators = if lists.is_empty() {
        None
    } else {
        let mut ind = engine::analyze::indicators::Indicators::default();
        for p in &lists {
            let text = std::fs::read_to_string(p).with_context(|| format!("--indicators {}", p.display()))?;
            for e in ind.add_file(&p.display().to_string(), &text) {
                eprintln!("v6watch: warning: {e} (line skipped)");
            }
        }
        if ind.is_empty() {
            eprintln!(
                "v6watch: warning: no usable indicator in {}",
                lists.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        Some(std::sync::Arc::new(ind))
    };
    Ok(Settings { tz, tz_name, bucket_ns, events, rules, exclude, health, enrichers, intel, indicators })
}

/// The report of an analysis, with the capture statistics; what an enrichment could not do
/// is said on stderr.
fn finished(a: Analysis, sums: Vec<engine::pipeline::SensorSummary>) -> engine::analysis::Report {
    let report = a.finish().with_capture(sums);
    for w in &report.warnings {
        eprintln!("v6watch: {w}");
    }
    report
}

/// The sensors a configuration declares join the command line's.
fn config_sensors(input: &mut InputArgs, file: &config::File) {
    for s in &file.sensor {
        if let Some(g) = &s.files {
            input.sensors.push(format!("{}={g}", s.name));
        }
        for addr in &s.addresses {
            input.sensor_addrs.push(format!("{}={addr}", s.name));
        }
    }
}

/// `--config` of the record commands: only the configuration's sensors apply.
/// The config's sensors into `input`; the table clock of `--tz`, else the config's `tz`.
fn config_file_sensors(input: &mut InputArgs, config: Option<&Path>, tz: Option<&str>) -> Result<term::Clock> {
    let file = config::load_opt(config)?;
    config_sensors(input, &file);
    let name = tz.map(str::to_string).or(file.tz.clone()).unwrap_or_else(|| "UTC".into());
    Ok(term::Clock::zone(config::zone(&name)?, &name))
}

/// The address-intelligence data given on the command line (`--oui-db`, `--nat64-prefix`).
fn address_data(a: &crate::cli::AddrArgs) -> Result<engine::analyze::addr::Intel> {
    let mut intel = engine::analyze::addr::Intel::builtin();
    if !a.oui_db.is_empty() {
        intel = intel.with_oui(engine::analyze::oui::from_files(&a.oui_db).context("--oui-db")?);
    }
    let list = &a.nat64;
    if list.is_empty() {
        return Ok(intel);
    }
    let mut v = Vec::new();
    for p in list {
        let (a, l) = p.split_once('/').with_context(|| format!("--nat64-prefix {p:?}: want PREFIX/LEN"))?;
        let ip: std::net::IpAddr = a.parse().with_context(|| format!("--nat64-prefix {p:?}: not an address"))?;
        let len: u8 = l.parse().with_context(|| format!("--nat64-prefix {p:?}: bad length"))?;
        v.push((Addr::from_ip(ip), len));
    }
    intel.with_nat64(v).context("--nat64-prefix: RFC 6052 allows IPv6 prefixes of length 32, 40, 48, 56, 64 or 96")
}

/// Writes the HTML report (and the JSON when asked).
pub fn write_report(
    report: &engine::analysis::Report,
    settings: &Settings,
    html: &Path,
    json: Option<&Path>,
) -> Result<()> {
    // The JSON is encoded on a second thread while the page is rendered: on a report of a
    // busy sensor each takes tens of milliseconds, after every core's work is done.
    let page = || crate::output::report::html(report, settings);
    let (bytes, text) = match json {
        Some(_) => {
            let (bytes, text) = engine::beside::beside("v6watch-json", || serde_json::to_vec(report), page);
            (Some(bytes), text)
        }
        None => (None, page()),
    };
    replace_whole(html, text.as_bytes())?;
    if let (Some(j), Some(bytes)) = (json, bytes) {
        let bytes = bytes.with_context(|| format!("writing {}", j.display()))?;
        replace_whole(j, &bytes)?;
    }
    Ok(())
}

fn replace_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::output::replace_whole(path, bytes).with_context(|| {
        if path == Path::new("-") {
            "writing standard output".to_string()
        } else {
            format!("writing {}", path.display())
        }
    })
}

fn events(
    mut input: InputArgs,
    config: Option<PathBuf>,
    format: crate::cli::FlowFormat,
    tz: Option<String>,
    kind: EventKind,
) -> Result<ExitCode> {
    let clock = config_file_sensors(&mut input, config.as_deref(), tz.as_deref())?;
    let stdout = std::io::stdout().lock();
    let mut sink =
        events::Writer::new(std::io::BufWriter::with_capacity(1 << 16, stdout), format, kind).with_clock(clock);
    let (_, code) = analyse_with(&input, &mut sink, false)?;
    sink.finish()?;
    Ok(code)
}

/// Runs every sensor; returns summaries and the exit code (2 when any input was damaged).
pub fn analyse(input: &InputArgs, sink: &mut dyn FlowSink) -> Result<(Vec<SensorSummary>, ExitCode)> {
    analyse_with(input, sink, true)
}

/// [`analyse`] into `analysis`, and with `export` the records into that folder too, in the
/// same pass (see [`crate::output::export`]).
fn analyse_exporting(
    input: &InputArgs,
    analysis: &mut dyn FlowSink,
    export: Option<&Path>,
) -> Result<(Vec<SensorSummary>, ExitCode)> {
    let Some(dir) = export else { return analyse(input, analysis) };
    let mut tee = pipeline::Tee(analysis, crate::output::export::Export::new(dir));
    let done = analyse(input, &mut tee)?;
    tee.finish()?;
    Ok(done)
}

/// [`analyse`] for commands that only stream records (`tally` false: the summaries' flow
/// tallies stay empty, see `Options::no_tally`).
pub fn analyse_with(input: &InputArgs, sink: &mut dyn FlowSink, tally: bool) -> Result<(Vec<SensorSummary>, ExitCode)> {
    if !input.records.is_empty() {
        // Records carry no capture statistics: there are no sensor summaries.
        crate::records::run(&input.records, sink)?;
        return Ok((Vec::new(), ExitCode::SUCCESS));
    }
    // The filter is checked before anything is read or written.
    if let Some(expr) = &input.filter {
        crate::filter::Filter::new(expr)?;
    }
    let sensors = sensors(input)?;
    let mut opened = preflight(&sensors, input.keep_going)?;
    let mut opts =
        Options { keep_going: input.keep_going, threads: input.threads.max(1), no_tally: !tally, ..Options::default() };
    if !input.hosts.is_empty() {
        let mut all = hashbrown::HashMap::new();
        for p in &input.hosts {
            let text = std::fs::read_to_string(p).with_context(|| format!("--hosts {}", p.display()))?;
            let (map, bad) = engine::names::parse_hosts(&text);
            if bad > 0 {
                eprintln!("v6watch: {}: {bad} lines are not ADDRESS NAME, skipped", p.display());
            }
            for (k, v) in map {
                all.entry(k).or_insert(v);
            }
        }
        opts.hosts = std::sync::Arc::new(all);
    }
    opts.flow.max_flows = input.max_flows.max(1);
    opts.flow.attach = !input.no_apps;
    let total: u64 =
        sensors.iter().flat_map(|s| &s.paths).filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let bar = if !input.no_progress && std::io::stderr().is_terminal() && total > 64 << 20 {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} eta {eta} {wide_bar}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let mut sums = Vec::new();
    let mut damaged = false;
    for (s, source) in sensors.iter().zip(opened.iter_mut()) {
        let mut progress = |n: u64| {
            if let Some(b) = &bar {
                b.inc(n);
            }
        };
        let mut inner = source.take().unwrap_or_else(|| engine::source::open_paths(&s.paths, input.keep_going));
        let sum = match &input.filter {
            Some(expr) => {
                let mut filtered = crate::filter::Filtered::new(inner, crate::filter::Filter::new(expr)?);
                let sum = pipeline::run_source(&s.name, &s.addrs, &mut filtered, &opts, sink, &mut progress);
                if filtered.kept() == 0 {
                    eprintln!("v6watch: sensor {}: no frame matched -f {expr:?}", s.name);
                }
                sum
            }
            None => pipeline::run_source(&s.name, &s.addrs, &mut *inner, &opts, sink, &mut progress),
        }
        .with_context(|| format!("sensor {}", s.name))?;
        for f in &sum.files {
            if let Some(e) = &f.error {
                if let Some(b) = &bar {
                    b.suspend(|| eprintln!("v6watch: {e}"));
                } else {
                    eprintln!("v6watch: {e}");
                }
            }
        }
        damaged |= sum.damaged;
        sums.push(sum);
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok((sums, if damaged { ExitCode::from(2) } else { ExitCode::SUCCESS }))
}

/// A hint when a path that cannot be opened reads like a tcpdump capture filter (`tcp port
/// 80`, `host 2001:db8::1`): v6watch takes captures, not expressions, on the command line.
fn filter_hint(p: &Path) -> String {
    const WORDS: &[&str] = &[
        "host",
        "net",
        "port",
        "portrange",
        "src",
        "dst",
        "tcp",
        "udp",
        "icmp",
        "icmp6",
        "ip",
        "ip6",
        "arp",
        "and",
        "or",
        "not",
        "vlan",
        "proto",
    ];
    let text = p.to_string_lossy();
    let words: Vec<&str> = text.split_whitespace().collect();
    let filter_like = !p.exists() && words.iter().any(|w| WORDS.contains(&w.to_ascii_lowercase().as_str()));
    if filter_like {
        format!(
            " (that looks like a capture filter: filter with tcpdump and pipe the capture in, e.g. \
             tcpdump -r CAPTURE -w - '{}' | v6watch ... -)",
            text
        )
    } else {
        String::new()
    }
}

/// Opens every input before anything is read or written, so that a mistyped path, a directory
/// or a file that is not a capture gives one clear line and exit status 2 instead of empty
/// tables or an empty report written over a good one. With `--keep-going` unreadable inputs are
/// skipped (the summary names them) as long as one is readable. Standard input can be read
/// only once, so the sensor reading it is opened here (waiting for a pipe's capture header)
/// and its source returned to be run; the others (`None`) are opened when their turn comes.
fn preflight(sensors: &[SensorInput], keep_going: bool) -> Result<Vec<Option<Box<dyn FrameSource>>>> {
    let mut bad = Vec::new();
    let mut good = 0;
    let mut opened = Vec::with_capacity(sensors.len());
    for s in sensors {
        if !s.paths.iter().any(|p| p.as_os_str() == "-") {
            opened.push(None);
            continue;
        }
        let source = engine::source::open_paths(&s.paths, keep_going);
        for f in source.summary().files {
            match (f.format, f.error) {
                (None, Some(why)) => bad.push(why),
                _ => good += 1,
            }
        }
        opened.push(Some(source));
    }
    for p in sensors.iter().flat_map(|s| &s.paths) {
        if p.as_os_str() == "-" {
            continue;
        }
        let why = if p.is_dir() {
            Some("is a directory, not a capture file".to_string())
        } else {
            engine::capture::Reader::open(p, false).err().map(|e| e.what)
        };
        match why {
            Some(why) => bad.push(format!("{}: {why}{}", p.display(), filter_hint(p))),
            None => good += 1,
        }
    }
    if bad.is_empty() || (keep_going && good > 0) {
        // With --keep-going the reader reports each skipped input as it comes to it.
        return Ok(opened);
    }
    anyhow::bail!("{}{}", bad.join("\nv6watch: "), if keep_going { "" } else { "\n(nothing was read or written)" })
}

/// Whether two output paths are one file (the same path, or the same existing file).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}

/// The sensor a file belongs to by default: its name without capture/compression extensions,
/// and without the `_NNNNN_YYYYmmddHHMMSS` a ring of files adds (`v6watch live -w`, dumpcap
/// `-b`), so the files of one ring are one sensor.
fn stem(p: &Path) -> String {
    let name = base_stem(p);
    let b = name.as_bytes();
    let ring = b.len() > 21 && b[b.len() - 21] == b'_' && b[b.len() - 15] == b'_' && {
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        digits(b.len() - 20..b.len() - 15) && digits(b.len() - 14..b.len())
    };
    if ring {
        name[..name.len() - 21].to_string()
    } else {
        name
    }
}

fn base_stem(p: &Path) -> String {
    if p.as_os_str() == "-" {
        return "stdin".into();
    }
    let mut name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string());
    loop {
        let lower = name.to_ascii_lowercase();
        let cut = [".gz", ".zst", ".pcapng", ".pcap", ".cap", ".dmp"]
            .iter()
            .find(|e| lower.ends_with(*e) && lower.len() > e.len());
        match cut {
            Some(e) => name.truncate(name.len() - e.len()),
            None => return name,
        }
    }
}

fn sensors(input: &InputArgs) -> Result<Vec<SensorInput>> {
    let mut patterns: Vec<(String, String)> = Vec::new();
    for s in &input.sensors {
        let Some((name, pat)) = s.split_once('=') else { bail!("--sensor wants NAME=GLOB, got {s:?}") };
        if name.is_empty() || pat.is_empty() {
            bail!("--sensor wants NAME=GLOB, got {s:?}");
        }
        patterns.push((name.to_string(), pat.to_string()));
    }
    let mut out: Vec<SensorInput> = Vec::new();
    let mut add = |name: String, path: PathBuf| match out.iter_mut().find(|s| s.name == name) {
        Some(s) => s.paths.push(path),
        None => out.push(SensorInput { name, paths: vec![path], addrs: vec![] }),
    };
    // The same file given twice (by any path) is read once.
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut captures: Vec<&PathBuf> = Vec::new();
    for p in &input.captures {
        let canon =
            if p.as_os_str() == "-" { p.clone() } else { std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()) };
        if seen.contains(&canon) {
            eprintln!("v6watch: {} is given more than once; read once", p.display());
            continue;
        }
        seen.push(canon);
        captures.push(p);
    }
    // Files no --sensor pattern names are one sensor per file stem, unless files of one stem come
    // from different folders (`a/cap.pcap`, `b/cap.pcap`: two captures, not one sensor): those
    // are named by folder and stem (`a/cap`, `b/cap`).
    let folder = |p: &Path| {
        let parent = std::fs::canonicalize(p).ok().and_then(|c| c.parent().map(Path::to_path_buf));
        parent.unwrap_or_else(|| p.parent().map(Path::to_path_buf).unwrap_or_default())
    };
    let mut folders_of: hashbrown::HashMap<String, Vec<PathBuf>> = hashbrown::HashMap::new();
    let named: Vec<Option<String>> = captures
        .iter()
        .map(|p| {
            let full = p.display().to_string();
            let base = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let name = patterns
                .iter()
                .find(|(_, pat)| glob_match(pat, &full) || glob_match(pat, &base))
                .map(|(n, _)| n.clone());
            if name.is_none() {
                let dirs = folders_of.entry(stem(p)).or_default();
                let f = folder(p);
                if !dirs.contains(&f) {
                    dirs.push(f);
                }
            }
            name
        })
        .collect();
    let mut split: Vec<&String> = folders_of.iter().filter(|(_, d)| d.len() > 1).map(|(st, _)| st).collect();
    split.sort();
    for st in split {
        eprintln!(
            "v6watch: files named {st} come from different folders: one sensor per folder \
             (--sensor {st}='*/{st}.*' makes them one)"
        );
    }
    for (p, name) in captures.into_iter().zip(named) {
        let name = name.unwrap_or_else(|| {
            let st = stem(p);
            if folders_of.get(&st).is_some_and(|d| d.len() > 1) {
                let f = folder(p);
                let dir = f.file_name().map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().into_owned());
                format!("{dir}/{st}")
            } else {
                st
            }
        });
        add(name, p.clone());
    }
    for a in &input.sensor_addrs {
        let (name, addr) = match a.split_once('=') {
            Some((n, a)) => (Some(n), a),
            None => (None, a.as_str()),
        };
        let ip: std::net::IpAddr =
            addr.parse().with_context(|| format!("--sensor-addr: {addr:?} is not an IP address"))?;
        let mut hit = false;
        for s in out.iter_mut().filter(|s| name.is_none_or(|n| n == s.name)) {
            s.addrs.push(Addr::from_ip(ip));
            hit = true;
        }
        if !hit {
            bail!("--sensor-addr names sensor {:?}, which has no capture", name.unwrap_or(""));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn stems() {
        assert_eq!(stem(Path::new("/a/honeypot1.pcapng.gz")), "honeypot1");
        assert_eq!(stem(Path::new("x.pcap")), "x");
        assert_eq!(stem(Path::new(".pcap")), ".pcap");
        assert_eq!(stem(Path::new("-")), "stdin");
        assert_eq!(stem(Path::new("ring/sb_00012_20261204154333.pcapng")), "sb");
        assert_eq!(stem(Path::new("dumpcap_00001_20110608090000.pcap.gz")), "dumpcap");
        assert_eq!(stem(Path::new("_00001_20110608090000.pcap")), "_00001_20110608090000");
        assert_eq!(stem(Path::new("x_0001_20110608090000.pcap")), "x_0001_20110608090000");
    }
}

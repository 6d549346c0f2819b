//! `v6watch live`: capture on the sensor's interfaces, keep the capture as a ring of pcapng
//! files, and run the same engine and analyses as the offline commands while traffic arrives.
//!
//! Its parts: [`capture`] (libpcap handles, one thread per interface, the engine's source),
//! [`ring`] (the pcapng files and their rotation), [`sink`] (what is written as records come:
//! flows and events, findings as they are raised, metrics, the report).

pub mod capture;
pub mod ring;
mod sink;

use crate::cli::LiveArgs;
use anyhow::{bail, Context, Result};
use engine::analysis::{Analysis, SensorMeta};
use engine::decode::Addr;
use engine::pipeline::{self, Options};
use engine::sensor::SensorAddr;
use engine::source::FrameSource;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `--probe-every`: a thread running probe rounds (with `v6watch probe`'s defaults) until
/// `stop`; returns where it keeps the last round's metrics.
fn start_probing(
    args: &LiveArgs,
    every: &str,
    sensor: &str,
    stop: Arc<AtomicBool>,
) -> Result<Arc<std::sync::Mutex<String>>> {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        probe: crate::cli::ProbeArgs,
    }
    let every = crate::config::duration("--probe-every", every)?;
    let mut pa = <Defaults as clap::Parser>::parse_from(["probe"]).probe;
    pa.targets = args.probe_targets.clone();
    pa.sensor = Some(sensor.to_string());
    pa.probe_ports = args.analysis.probe_ports.clone();
    let file = crate::config::load_opt(args.analysis.config.as_deref())?;
    let mut prober = crate::probe::Prober::new(&pa, &file).context("--probe-every")?;
    let metrics = Arc::new(std::sync::Mutex::new(String::new()));
    let (m, out) = (metrics.clone(), args.out.as_ref().map(|d| d.join("probe.jsonl")));
    std::thread::Builder::new().name("v6watch-probe".into()).spawn(move || {
        let r = prober.repeat(every, &stop, |p, results, found| {
            if let Some(path) = &out {
                crate::probe::append(path, results, found)?;
            }
            *m.lock().unwrap_or_else(|e| e.into_inner()) = crate::probe::metrics(&p.targets, results);
            Ok(())
        });
        if let Err(e) = r {
            eprintln!("v6watch: probing stopped: {e:#}");
        }
    })?;
    Ok(metrics)
}

/// The host name (the default sensor name of the commands that run on the sensor).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sensor".into())
}

/// Runs `live` until a signal, `--duration`, or an error.
pub fn run(args: LiveArgs) -> Result<ExitCode> {
    let mut input = crate::cli::InputArgs::empty();
    let settings = crate::commands::settings(&mut input, &args.analysis)?;
    let sensor = args.sensor.clone().unwrap_or_else(hostname);
    let parse_dur = crate::config::duration;
    let every = parse_dur("--every", &args.every)?;
    let block_timeout = parse_dur("--block-timeout", &args.block_timeout)?;
    let rotate = args.rotate.as_deref().map(|r| parse_dur("--rotate", r)).transpose()?;
    let duration = args.duration.as_deref().map(|d| parse_dur("--duration", d)).transpose()?;
    if (args.rotate_size.is_some() || args.files.is_some()) && args.write.is_none() {
        bail!("--rotate-size and --files apply to the capture files: give -w DIR");
    }
    let opts = capture::CaptureOptions {
        snaplen: args.snaplen,
        promisc: !args.no_promisc,
        buffer: u32::try_from(args.buffer).unwrap_or(u32::MAX),
        filter: args.filter.clone(),
        block_timeout,
    };

    // Every interface is opened (and the filter compiled) before anything is written.
    let mut opened = Vec::new();
    for name in &args.interfaces {
        if args.interfaces.iter().filter(|n| *n == name).count() > 1 {
            bail!("-i {name} is given more than once");
        }
        opened.push(capture::open(name, &opts).map_err(anyhow::Error::msg)?);
    }
    // The sensor's own addresses: its interfaces' (a live sensor knows them; nothing is
    // inferred), the config's for this sensor and --sensor-addr.
    let mut addrs: Vec<SensorAddr> = Vec::new();
    let mut add = |a: Addr, reason: String| {
        if !addrs.iter().any(|s| s.addr == a) {
            addrs.push(SensorAddr { addr: a, reason });
        }
    };
    for o in &opened {
        for ip in &o.addrs {
            add(Addr::from_ip(*ip), format!("address of {}", o.iface.name));
        }
    }
    for a in &input.sensor_addrs {
        let (name, addr) = a.split_once('=').map_or((None, a.as_str()), |(n, a)| (Some(n), a));
        if name.is_none_or(|n| n == sensor) {
            let ip: std::net::IpAddr = addr.parse().with_context(|| format!("config: {addr:?} is not an address"))?;
            add(Addr::from_ip(ip), "configured".into());
        }
    }
    for a in &args.sensor_addrs {
        let ip: std::net::IpAddr = a.parse().with_context(|| format!("--sensor-addr {a:?} is not an address"))?;
        add(Addr::from_ip(ip), "configured".into());
    }

    let start = capture::now_ns();
    let ring = match &args.write {
        Some(dir) => {
            let limits = ring::RingLimits { duration: rotate, size: args.rotate_size, files: args.files };
            let ifaces = opened.iter().map(|o| o.iface.clone()).collect();
            Some(ring::Ring::new(dir, &file_prefix(&sensor), limits, ifaces, start)?)
        }
        None => None,
    };
    let iface_names: Vec<String> = opened.iter().map(|o| o.iface.name.clone()).collect();

    // SIGINT/SIGTERM raise the stop flag (the capture drains and everything is closed); a
    // second one while stopping exits at once with status 130.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())?;
        signal_hook::flag::register(sig, stop.clone())?;
    }
    if let Some(d) = duration {
        let stop = stop.clone();
        std::thread::Builder::new().name("v6watch-timer".into()).spawn(move || {
            std::thread::sleep(d);
            stop.store(true, Ordering::SeqCst);
        })?;
    }

    // With a ring, the ring's limits decide when to rotate; without, the records rotate by time.
    let records_rotate = if ring.is_none() { rotate } else { None };
    let (mut source, handles) = capture::LiveSource::start(opened, block_timeout, ring, records_rotate, stop.clone())?;
    eprintln!(
        "v6watch: capturing on {} as sensor {sensor}{}; stop with Ctrl-C or SIGTERM",
        iface_names.join(", "),
        args.write.as_ref().map(|d| format!(", writing {}", d.display())).unwrap_or_default()
    );
    let mut analysis = Analysis::new(settings.clone());
    analysis.sensor(SensorMeta { name: sensor.clone(), addresses: addrs.clone(), span: None });
    let mut out = sink::LiveSink::new(&mut analysis, &args, &settings, &sensor, handles.clone(), every, &iface_names)?;
    if let Some(e) = &args.probe_every {
        out.probe_metrics = Some(start_probing(&args, e, &sensor, stop.clone())?);
    }
    let mut eopts = Options { threads: args.threads.max(1), ..Options::default() };
    eopts.flow.max_flows = args.max_flows.max(1);
    eopts.flow.attach = !args.no_apps;
    let configured: Vec<Addr> = addrs.iter().map(|a| a.addr).collect();
    let run = pipeline::run_source(&sensor, &configured, &mut source, &eopts, &mut out, &mut |_| {});
    // Whatever happened, the capture is stopped and its files closed before anything else.
    stop.store(true, Ordering::SeqCst);
    let mut rest = engine::source::FrameBatch::new();
    while source.fill(&mut rest) {}
    let summary = match run {
        Ok(mut s) => {
            // The sensor's addresses with their reasons (the engine calls them "configured").
            s.sensor_addrs = addrs.clone();
            Some(s)
        }
        Err(e) => {
            eprintln!("v6watch: {e}");
            None
        }
    };
    let finished = out.finish_all(summary.clone());
    let counters = handles.stats.counters();
    sink::print_statistics(&iface_names, &counters, out.capture_loss());
    let mut failed = summary.is_none();
    if let Err(e) = finished {
        eprintln!("v6watch: {e:#}");
        failed = true;
    }
    for e in source.errors() {
        eprintln!("v6watch: {e}");
        failed = true;
    }
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// Ring files are named after the sensor; characters a file name should not hold become `_`.
fn file_prefix(sensor: &str) -> String {
    sensor.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect()
}

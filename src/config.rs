//! The TOML configuration (`--config`): sensors, rules that tag flows with a class, event
//! windows, and display defaults. Everything in it can also be given on the command line,
//! which wins. Example (the demo writes one):
//!
//! ```toml
//! tz = "Asia/Tokyo"
//! bucket = "1h"
//!
//! [[sensor]]
//! name = "honeypot1"
//! files = "honeypot1*.pcapng"
//! addresses = ["2001:db8:1::10", "192.0.2.10"]
//!
//! [[rule]]
//! class = "autonomous"
//! sensor = "honeypot1"
//! name = "*.hp-ops.example"
//!
//! [[event]]
//! name = "World IPv6 Day"
//! start = "2011-06-08T00:00:00Z"
//! end = "2011-06-09T00:00:00Z"
//! ```

use anyhow::{bail, Context, Result};
pub use engine::classify::{glob_match, Event, Rule};
use engine::decode::Addr;
use serde::Deserialize;
use std::path::Path;

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Display zone (IANA name).
    pub tz: Option<String>,
    /// Timeline bucket, e.g. "1h".
    pub bucket: Option<String>,
    /// Sensors.
    #[serde(default)]
    pub sensor: Vec<SensorConf>,
    /// Rules, first match wins.
    #[serde(default)]
    pub rule: Vec<RuleConf>,
    /// Event windows.
    #[serde(default)]
    pub event: Vec<EventConf>,
    /// Classes left out of the analyses.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// IPv6-health thresholds (DOMAIN.md §3.3, §4.3); unset ones keep their defaults.
    #[serde(default)]
    pub health: HealthConf,
    /// Indicator lists (`--indicators`), relative to the configuration file's folder.
    #[serde(default)]
    pub indicators: Vec<String>,
    /// The targets of `v6watch probe`.
    #[serde(default)]
    pub probe: Vec<ProbeConf>,
    /// Source ports of `v6watch probe`, "FIRST-LAST" or "none" (flows from them are the
    /// sensor's own, class `autonomous`).
    pub probe_ports: Option<String>,
}

/// A `[[probe]]` entry.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ProbeConf {
    /// URL, host:port or host name.
    pub target: String,
    /// dns, tcp, tls or http (default: from the target's form).
    pub kind: Option<String>,
    /// A large response on the same server (URL or path): the Path-MTU check.
    pub large: Option<String>,
    /// Families probed (default [4, 6]).
    pub families: Option<Vec<u8>>,
}

/// Health thresholds as written: durations like "180s", "250ms", "24h"; counts and ratios as
/// numbers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConf {
    /// Rule (a): window for the IPv4 attempt after a failed IPv6 one.
    pub fallback_window: Option<String>,
    /// Rule (a): he_fast lower bound.
    pub he_fast_min: Option<String>,
    /// Rule (a): he_fast upper bound.
    pub he_fast_max: Option<String>,
    /// Rule (a): error_triggered window after the RST/ICMP.
    pub error_window: Option<String>,
    /// Rule (a): an IPv6 success this close marks a fallback as a race artefact.
    pub nearby_success: Option<String>,
    /// Rule (c): sends of one segment that make a black hole.
    pub blackhole_sends: Option<u32>,
    /// Rule (c): a Packet Too Big this soon explains a stall.
    pub ptb_wait: Option<String>,
    /// Rule (c): receiver-side silence.
    pub stall: Option<String>,
    /// Rule (c): IPv4 comparison window.
    pub v4_compare: Option<String>,
    /// Rule (d): W_use.
    pub aaaa_use: Option<String>,
    /// Rule (d): he_cached look-back.
    pub he_cache: Option<String>,
    /// Rule (f): A-only time before service_gained_aaaa.
    pub gained_after: Option<String>,
    /// Rule (f): IPv6-share window.
    pub share_window: Option<String>,
    /// Rule (f): attempts in the share window.
    pub share_attempts: Option<usize>,
    /// IPv6_Service_Down: consecutive failed IPv6 attempts.
    pub down_attempts: Option<u64>,
    /// IPv6_Success_Below_IPv4: success-ratio gap.
    pub below_gap: Option<f64>,
    /// IPv6_Success_Below_IPv4: IPv6 attempts needed.
    pub below_min_attempts: Option<u64>,
    /// IPv6_Fallback: fallback ratio.
    pub fallback_ratio: Option<f64>,
    /// IPv6_Fallback: fallbacks needed.
    pub fallback_min: Option<u64>,
    /// AAAA_Unused: per-host ratio.
    pub aaaa_unused_ratio: Option<f64>,
}

impl HealthConf {
    /// The defaults with what the file sets.
    pub fn params(&self) -> Result<engine::analyze::health::Params> {
        let mut p = engine::analyze::health::Params::default();
        let d = |v: &Option<String>, into: &mut i64, key: &str| -> Result<()> {
            if let Some(s) = v {
                *into = parse_duration(s).with_context(|| format!("[health] {key}"))?;
            }
            Ok(())
        };
        d(&self.fallback_window, &mut p.fallback_window_ns, "fallback_window")?;
        d(&self.he_fast_min, &mut p.he_fast_min_ns, "he_fast_min")?;
        d(&self.he_fast_max, &mut p.he_fast_max_ns, "he_fast_max")?;
        d(&self.error_window, &mut p.error_window_ns, "error_window")?;
        d(&self.nearby_success, &mut p.nearby_success_ns, "nearby_success")?;
        d(&self.ptb_wait, &mut p.ptb_wait_ns, "ptb_wait")?;
        d(&self.stall, &mut p.stall_ns, "stall")?;
        d(&self.v4_compare, &mut p.v4_compare_ns, "v4_compare")?;
        d(&self.aaaa_use, &mut p.aaaa_use_ns, "aaaa_use")?;
        d(&self.he_cache, &mut p.he_cache_ns, "he_cache")?;
        d(&self.gained_after, &mut p.gained_after_ns, "gained_after")?;
        d(&self.share_window, &mut p.share_window_ns, "share_window")?;
        if let Some(v) = self.blackhole_sends {
            p.blackhole_sends = v.max(2);
        }
        if let Some(v) = self.share_attempts {
            p.share_attempts = v.max(1);
        }
        if let Some(v) = self.down_attempts {
            p.down_attempts = v.max(1);
        }
        if let Some(v) = self.below_min_attempts {
            p.below_min_attempts = v;
        }
        if let Some(v) = self.fallback_min {
            p.fallback_min = v;
        }
        for (v, into, key) in [
            (self.below_gap, &mut p.below_gap, "below_gap"),
            (self.fallback_ratio, &mut p.fallback_ratio, "fallback_ratio"),
            (self.aaaa_unused_ratio, &mut p.aaaa_unused_ratio, "aaaa_unused_ratio"),
        ] {
            if let Some(v) = v {
                if !(0.0..=1.0).contains(&v) {
                    bail!("[health] {key} must be between 0 and 1, got {v}");
                }
                *into = v;
            }
        }
        if p.he_fast_min_ns > p.he_fast_max_ns {
            bail!("[health] he_fast_min is above he_fast_max");
        }
        Ok(p)
    }
}

/// A sensor: its files and its own addresses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorConf {
    /// Name.
    pub name: String,
    /// Glob matched against capture paths.
    pub files: Option<String>,
    /// Its own addresses.
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// A rule as written; every present field must match.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RuleConf {
    /// Class given to matching flows.
    pub class: String,
    /// Sensor name glob.
    pub sensor: Option<String>,
    /// Server-name glob (case-insensitive).
    pub name: Option<String>,
    /// Remote address prefixes (CIDR).
    #[serde(default)]
    pub prefix: Vec<String>,
    /// Server ports.
    #[serde(default)]
    pub port: Vec<u16>,
    /// tcp, udp or icmp.
    pub protocol: Option<String>,
    /// Time of day in the display zone, "HH:MM-HH:MM" (may wrap midnight).
    pub hours: Option<String>,
    /// Capture-time period "START/END" (RFC 3339).
    pub period: Option<String>,
}

/// An event window as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventConf {
    /// Name.
    pub name: String,
    /// Start (RFC 3339).
    pub start: String,
    /// End (RFC 3339).
    pub end: String,
}

/// Reads and checks a configuration file.
/// The file at `path`, or the empty configuration without one.
pub fn load_opt(path: Option<&Path>) -> Result<File> {
    path.map_or_else(|| Ok(File::default()), load)
}

/// An IANA zone by name (`--tz`, the config's `tz`), from the built-in database.
pub fn zone(name: &str) -> Result<jiff::tz::TimeZone> {
    jiff::tz::TimeZone::get(name)
        .with_context(|| format!("--tz {name:?}: not an IANA time zone name (e.g. Asia/Tokyo, UTC)"))
}

/// A duration option (`what` names it in the error) as a `Duration`.
pub fn duration(what: &str, s: &str) -> Result<std::time::Duration> {
    let ns = parse_duration(s).with_context(|| format!("{what} {s:?}"))?;
    Ok(std::time::Duration::from_nanos(ns as u64))
}

/// A resolver given as ADDR or ADDR:PORT (`--resolver`), else the system's first nameserver.
pub fn resolver(given: Option<&str>) -> Result<std::net::SocketAddr> {
    match given {
        Some(r) => r
            .parse::<std::net::SocketAddr>()
            .or_else(|_| r.parse::<std::net::IpAddr>().map(|ip| std::net::SocketAddr::new(ip, 53)))
            .with_context(|| format!("--resolver {r:?}: want ADDR or ADDR:PORT")),
        None => engine::enrich::ptr::system_resolver().context("no nameserver in /etc/resolv.conf (use --resolver)"),
    }
}

pub fn load(path: &Path) -> Result<File> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{}: not a valid v6watch configuration", path.display()))
}

/// Parses an RFC 3339 time (`2011-06-08T00:00Z`, seconds optional) to ns since the epoch.
pub fn parse_time(s: &str) -> Result<i64> {
    let s = s.trim();
    let t: jiff::Timestamp = s
        .parse()
        .or_else(|_| {
            // Accept minutes without seconds: 2011-06-08T00:00Z / +09:00.
            let cut = s.find(['Z', 'z', '+']).or_else(|| s.rfind('-').filter(|&i| i > 10));
            match cut {
                Some(i) if s[..i].matches(':').count() == 1 => format!("{}:00{}", &s[..i], &s[i..]).parse(),
                _ => s.parse(),
            }
        })
        .with_context(|| format!("not an RFC 3339 time: {s:?} (e.g. 2011-06-08T00:00:00Z)"))?;
    i64::try_from(t.as_nanosecond()).context("time out of range")
}

/// Parses `NAME=START/END`.
pub fn parse_event(s: &str) -> Result<Event> {
    let Some((name, range)) = s.rsplit_once('=') else { bail!("--event wants NAME=START/END, got {s:?}") };
    let Some((a, b)) = range.split_once('/') else { bail!("--event wants NAME=START/END, got {s:?}") };
    let (start, end) = (parse_time(a)?, parse_time(b)?);
    if end <= start || name.is_empty() {
        bail!("--event {s:?}: needs a name and END after START");
    }
    Ok(Event { name: name.to_string(), start, end })
}

/// Parses a duration like 250ms, 30s, 15m, 1h, 1d.
pub fn parse_duration(s: &str) -> Result<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().with_context(|| format!("not a duration: {s:?} (e.g. 250ms, 15m, 1h, 1d)"))?;
    let mult: i64 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        "w" => 604_800_000_000_000,
        _ => bail!("not a duration: {s:?} (units ms, s, m, h, d, w)"),
    };
    if n <= 0 {
        bail!("duration must be positive: {s:?}");
    }
    n.checked_mul(mult).with_context(|| format!("duration too long: {s:?}"))
}

fn parse_prefix(s: &str) -> Result<(Addr, u8)> {
    let (a, len) = s.split_once('/').unwrap_or((s, ""));
    let ip: std::net::IpAddr = a.parse().with_context(|| format!("rule prefix {s:?}: not an address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = if len.is_empty() { max } else { len.parse().with_context(|| format!("rule prefix {s:?}"))? };
    if len > max {
        bail!("rule prefix {s:?}: length over {max}");
    }
    Ok((Addr::from_ip(ip), len))
}

fn parse_hhmm(s: &str) -> Result<u32> {
    let (h, m) = s.trim().split_once(':').with_context(|| format!("not HH:MM: {s:?}"))?;
    let (h, m): (u32, u32) = (h.parse()?, m.parse()?);
    if h > 24 || m > 59 {
        bail!("not HH:MM: {s:?}");
    }
    Ok(h * 60 + m)
}

/// Compiles a rule as written into the rule the analysis matches with.
pub fn compile_rule(r: &RuleConf) -> Result<Rule> {
    let hours = match &r.hours {
        Some(h) => {
            let (a, b) = h.split_once('-').with_context(|| format!("rule hours {h:?}: want HH:MM-HH:MM"))?;
            Some((parse_hhmm(a)?, parse_hhmm(b)?))
        }
        None => None,
    };
    let period = match &r.period {
        Some(p) => {
            let (a, b) = p.split_once('/').with_context(|| format!("rule period {p:?}: want START/END"))?;
            Some((parse_time(a)?, parse_time(b)?))
        }
        None => None,
    };
    if let Some(p) = &r.protocol {
        if !matches!(p.as_str(), "tcp" | "udp" | "icmp") {
            bail!("rule protocol {p:?}: want tcp, udp or icmp");
        }
    }
    Ok(Rule {
        class: r.class.clone(),
        sensor: r.sensor.clone(),
        name: r.name.as_ref().map(|n| n.to_ascii_lowercase()),
        prefixes: r.prefix.iter().map(|p| parse_prefix(p)).collect::<Result<_>>()?,
        ports: r.port.clone(),
        protocol: r.protocol.clone(),
        hours,
        period,
        local_ports: None,
    })
}

/// The default source ports of `v6watch probe`: above Linux's ephemeral range (32768-60999),
/// so no other program on a Linux sensor is given them by the kernel.
pub const PROBE_PORTS: (u16, u16) = (61000, 61999);

/// Parses a probe port range `FIRST-LAST`, or `none`.
pub fn parse_ports(s: &str) -> Result<Option<(u16, u16)>> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let bad = || anyhow::anyhow!("probe ports {s:?}: want FIRST-LAST (e.g. 61000-61999) or none");
    let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
    let (a, b): (u16, u16) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn times_durations_events() {
        assert_eq!(parse_time("2011-06-08T00:00:00Z").unwrap(), 1_307_491_200_000_000_000);
        assert_eq!(parse_time("2011-06-08T00:00Z").unwrap(), 1_307_491_200_000_000_000);
        assert_eq!(parse_time("2011-06-08T09:00+09:00").unwrap(), 1_307_491_200_000_000_000);
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration("1h").unwrap(), 3_600_000_000_000);
        assert_eq!(parse_duration("250ms").unwrap(), 250_000_000);
        assert!(parse_duration("0m").is_err() && parse_duration("5x").is_err());
        let e = parse_event("World IPv6 Day=2011-06-08T00:00Z/2011-06-09T00:00Z").unwrap();
        assert_eq!((e.name.as_str(), e.end - e.start), ("World IPv6 Day", 86_400_000_000_000));
        assert!(parse_event("x=2011-06-09T00:00Z/2011-06-08T00:00Z").is_err());
    }

    #[test]
    fn prefixes_parse_with_their_lengths() {
        let p = parse_prefix("2001:200::/23").unwrap();
        assert_eq!(p, (Addr::from_ip("2001:200::".parse().unwrap()), 23));
        assert_eq!(parse_prefix("192.0.2.1").unwrap().1, 32);
        assert!(parse_prefix("10.0.0.0/33").is_err());
    }

    #[test]
    fn config_rejects_unknown_keys() {
        let bad: std::result::Result<File, _> = toml::from_str("[[rule]]\nclass = \"x\"\nnmae = \"typo\"\n");
        assert!(bad.is_err());
        let ok: File = toml::from_str("tz = \"Asia/Tokyo\"\n[[rule]]\nclass = \"x\"\nport = [80]\n").unwrap();
        assert_eq!(ok.rule.len(), 1);
        let h: File = toml::from_str("[health]\nhe_fast_max = \"300ms\"\ndown_attempts = 3\n").unwrap();
        let p = h.health.params().unwrap();
        assert_eq!((p.he_fast_max_ns, p.down_attempts), (300_000_000, 3));
        let bad: File = toml::from_str("[health]\nfallback_ratio = 2.0\n").unwrap();
        assert!(bad.health.params().is_err());
    }
}

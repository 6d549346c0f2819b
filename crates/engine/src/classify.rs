//! Classes and event windows: the operator's rules (first match wins) that tag flows and
//! application events with a class (kept or left out of the analysis), and the named time
//! windows an analysis compares before, during and after. What they match on is here; how
//! they are written (the configuration file, `--event`) is the command line's.

use crate::decode::Addr;
use crate::model::{FlowRecord, Role};

/// A named time window, ns.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    /// Name.
    pub name: String,
    /// Start, ns since the epoch.
    #[serde(serialize_with = "crate::model::epoch")]
    pub start: i64,
    /// End (exclusive), ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub end: i64,
}

/// What a rule looks at: a flow, or an application event standing for its flow.
pub struct Target<'a> {
    /// Sensor.
    pub sensor: &'a str,
    /// Start time, ns.
    pub ts: i64,
    /// The remote end (the server for outbound traffic, the client for inbound).
    pub remote: Addr,
    /// Server port.
    pub port: u16,
    /// tcp, udp, icmp.
    pub proto: &'a str,
    /// Server name.
    pub name: Option<&'a str>,
    /// The sensor's own port, when the sensor opened the flow (None for events and for
    /// flows a remote host opened: a remote client cannot choose to be tagged).
    pub local_port: Option<u16>,
}

impl<'a> Target<'a> {
    /// The target of a flow.
    pub fn of_flow(sensor: &'a str, f: &'a FlowRecord) -> Target<'a> {
        let remote = if f.role == Role::Inbound { f.orig_h } else { f.resp_h };
        let local_port = (f.role == Role::Outbound).then_some(f.orig_p);
        Target {
            sensor,
            ts: f.ts,
            remote,
            port: f.resp_p,
            proto: f.proto_name(),
            name: f.server_name.as_deref(),
            local_port,
        }
    }
}

/// A rule: every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    /// Class given to what matches.
    pub class: String,
    /// Sensor-name glob.
    pub sensor: Option<String>,
    /// Server-name glob, lower case (names are compared lower-cased).
    pub name: Option<String>,
    /// Remote-address prefixes (any).
    pub prefixes: Vec<(Addr, u8)>,
    /// Server ports (any).
    pub ports: Vec<u16>,
    /// tcp, udp or icmp.
    pub protocol: Option<String>,
    /// Minutes of the day [from, to) in the display zone (may wrap midnight).
    pub hours: Option<(u32, u32)>,
    /// Capture-time period [start, end), ns.
    pub period: Option<(i64, i64)>,
    /// The sensor's source port in [first, last] (flows the sensor opened: its probes).
    pub local_ports: Option<(u16, u16)>,
}

/// Whether `a` is inside the prefix `p` (same family, first `p.1` bits equal).
pub fn in_prefix(a: &Addr, p: &(Addr, u8)) -> bool {
    a.version == p.0.version && crate::analyze::addr::in_prefix(&a.bytes, &p.0.bytes, p.1)
}

impl Rule {
    /// Whether the target matches; `tz` gives the time of day.
    pub fn matches(&self, t: &Target<'_>, tz: &jiff::tz::TimeZone) -> bool {
        if self.sensor.as_ref().is_some_and(|g| !glob_match(g, t.sensor)) {
            return false;
        }
        if let Some(g) = &self.name {
            match t.name {
                Some(n) if glob_match(g, &n.to_ascii_lowercase()) => {}
                _ => return false,
            }
        }
        if !self.prefixes.is_empty() && !self.prefixes.iter().any(|p| in_prefix(&t.remote, p)) {
            return false;
        }
        if !self.ports.is_empty() && !self.ports.contains(&t.port) {
            return false;
        }
        if let Some((a, b)) = self.local_ports {
            if !t.local_port.is_some_and(|p| p >= a && p <= b) {
                return false;
            }
        }
        if self.protocol.as_deref().is_some_and(|p| p != t.proto) {
            return false;
        }
        if self.period.is_some_and(|(a, b)| t.ts < a || t.ts >= b) {
            return false;
        }
        if let Some((from, to)) = self.hours {
            let Ok(ts) = jiff::Timestamp::from_nanosecond(i128::from(t.ts)) else { return false };
            let z = ts.to_zoned_datetime(tz.clone());
            let m = u32::from(z.hour() as u8) * 60 + u32::from(z.minute() as u8);
            let inside = if from <= to { m >= from && m < to } else { m >= from || m < to };
            if !inside {
                return false;
            }
        }
        true
    }
}

/// Shell-style glob with `*` and `?`, on bytes.
pub fn glob_match(pat: &str, s: &str) -> bool {
    let (p, t) = (pat.as_bytes(), s.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("hp1-*.pcapng", "hp1-0001.pcapng"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(!glob_match("hp1-*.pcapng", "hp2-0001.pcapng"));
        assert!(glob_match("*/x/*.pcap", "/tmp/x/a.pcap"));
    }

    #[test]
    fn prefixes_match_by_bits() {
        let p = (Addr::from_ip("2001:200::".parse().unwrap()), 23);
        assert!(in_prefix(&Addr::from_ip("2001:200:141:feed::feed".parse().unwrap()), &p));
        assert!(!in_prefix(&Addr::from_ip("2001:400::1".parse().unwrap()), &p));
        assert!(!in_prefix(&Addr::from_ip("192.0.2.1".parse().unwrap()), &p));
    }

    #[test]
    fn hours_wrap_midnight_in_the_display_zone() {
        let r = Rule { class: "night".into(), hours: Some((22 * 60, 6 * 60)), ..Rule::default() };
        let at = |h: i64| Target {
            sensor: "s",
            ts: 1_307_491_200_000_000_000 + h * 3_600_000_000_000,
            remote: Addr::v4([192, 0, 2, 1]),
            port: 80,
            proto: "tcp",
            name: None,
            local_port: None,
        };
        let utc = jiff::tz::TimeZone::UTC;
        assert!(r.matches(&at(23), &utc) && r.matches(&at(2), &utc) && !r.matches(&at(12), &utc));
        // 12:00 UTC is 21:00 in Tokyo, 13:00 UTC is 22:00 there.
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        assert!(!r.matches(&at(12), &tokyo) && r.matches(&at(13), &tokyo));
    }
}

//! What a probe checks: targets as written (a URL, `host:port`, or a name) and what each kind
//! of target tests.

use anyhow::{bail, Result};

/// What is tested of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A and AAAA lookups only.
    Dns,
    /// Lookups and a TCP connect to each address.
    Tcp,
    /// Lookups, connect, TLS handshake.
    Tls,
    /// Lookups, connect, (TLS,) an HTTP GET, the large response, the race.
    Http,
}

impl Kind {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Dns => "dns",
            Kind::Tcp => "tcp",
            Kind::Tls => "tls",
            Kind::Http => "http",
        }
    }

    /// Parses `dns`, `tcp`, `tls`, `http`.
    pub fn parse(s: &str) -> Result<Kind> {
        Ok(match s {
            "dns" => Kind::Dns,
            "tcp" => Kind::Tcp,
            "tls" => Kind::Tls,
            "http" => Kind::Http,
            _ => bail!("probe kind {s:?}: want dns, tcp, tls or http"),
        })
    }
}

/// One target, parsed.
#[derive(Debug, Clone)]
pub struct Target {
    /// As written (the label in records and metrics).
    pub label: String,
    /// What is tested.
    pub kind: Kind,
    /// Host name or address literal (no brackets).
    pub host: String,
    /// Server port (0 for `dns`).
    pub port: u16,
    /// Whether the connection is TLS (https, or kind tls).
    pub tls: bool,
    /// Request path for http.
    pub path: String,
    /// Path of the large response on the same server (Path-MTU check), for http.
    pub large: Option<String>,
    /// Families probed (4, 6).
    pub families: Vec<u8>,
}

impl Target {
    /// The host as an address, when it is a literal.
    pub fn literal(&self) -> Option<std::net::IpAddr> {
        self.host.parse().ok()
    }
}

/// Parses `http[s]://host[:port]/path`, `host:port`, `[v6]:port` or (kind dns) a name.
/// `large` is a URL on the same server or a path; `kind` overrides what the form implies.
pub fn parse(text: &str, kind: Option<&str>, large: Option<&str>, families: &[u8]) -> Result<Target> {
    let label = text.trim().to_string();
    let mut kind = kind.map(Kind::parse).transpose()?;
    let (scheme, rest) = match label.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, label.as_str()),
    };
    let (hostport, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let path = if path.starts_with('?') { format!("/{path}") } else { path };
    if hostport.contains('@') {
        bail!("{label:?}: user information in a probe URL is not supported");
    }
    let (host, port) = split_host_port(hostport).map_err(|e| anyhow::anyhow!("{label:?}: {e}"))?;
    let (default_port, tls) = match scheme.as_deref() {
        Some("http") => (Some(80), false),
        Some("https") => (Some(443), true),
        Some(s) => bail!("{label:?}: scheme {s:?} is not probed (http, https, or host:port with a kind)"),
        None => (None, kind == Some(Kind::Tls)),
    };
    if kind.is_none() {
        kind = Some(match (scheme.is_some(), port.is_some()) {
            (true, _) => Kind::Http,
            (false, true) => Kind::Tcp,
            (false, false) => Kind::Dns,
        });
    }
    let kind = kind.expect("set above");
    let port = match (port.or(default_port), kind) {
        (_, Kind::Dns) => port.unwrap_or(0),
        (Some(p), _) => p,
        (None, Kind::Tls) => 443,
        (None, _) => bail!("{label:?}: give a port (host:port) or a URL"),
    };
    if kind == Kind::Http && scheme.is_none() {
        bail!("{label:?}: an http probe needs a URL (http:// or https://)");
    }
    if host.parse::<std::net::IpAddr>().is_err() {
        check_name(&host).map_err(|e| anyhow::anyhow!("{label:?}: {e}"))?;
    }
    let large = match large {
        None => None,
        Some(l) if l.starts_with('/') => Some(l.to_string()),
        Some(l) => {
            let t = parse(l, Some("http"), None, families)?;
            if t.host != host || t.port != port || t.tls != tls {
                bail!("large response {l:?}: must be on the same server as {label:?}");
            }
            Some(t.path)
        }
    };
    if large.is_some() && kind != Kind::Http {
        bail!("{label:?}: a large-response URL needs an http probe");
    }
    let mut fams: Vec<u8> = families.to_vec();
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        fams = vec![if ip.is_ipv6() { 6 } else { 4 }];
    }
    fams.sort_unstable_by(|a, b| b.cmp(a));
    fams.dedup();
    if fams.is_empty() || fams.iter().any(|f| *f != 4 && *f != 6) {
        bail!("{label:?}: families must be 4 and/or 6");
    }
    Ok(Target { label, kind, host, port, tls, path, large, families: fams })
}

fn split_host_port(s: &str) -> std::result::Result<(String, Option<u16>), String> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("bad port {p:?}"));
    if let Some(r) = s.strip_prefix('[') {
        let Some((h, after)) = r.split_once(']') else { return Err("unclosed [".into()) };
        let ip: std::net::Ipv6Addr = h.parse().map_err(|_| format!("{h:?} is not an IPv6 address"))?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((ip.to_string(), Some(port(p)?))),
            None if after.is_empty() => Ok((ip.to_string(), None)),
            None => Err(format!("unexpected {after:?} after the address")),
        };
    }
    if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err("write an IPv6 address with a port as [ADDR]:PORT".into());
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_ascii_lowercase(), Some(port(p)?))),
        None => Ok((s.to_ascii_lowercase(), None)),
    }
}

/// A host name the resolver can be asked about: dot-separated labels of 1 to 63 letters,
/// digits, `-` or `_`, 253 bytes at most.
fn check_name(name: &str) -> std::result::Result<(), String> {
    let n = name.strip_suffix('.').unwrap_or(name);
    if n.is_empty() || n.len() > 253 {
        return Err("empty or over-long host name".into());
    }
    for l in n.split('.') {
        if l.is_empty() || l.len() > 63 || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(format!("{name:?} is not a host name"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn forms() {
        let t = parse("https://Updates.Example:8443/a?b=1", None, Some("/big"), &[4, 6]).unwrap();
        assert_eq!(
            (t.kind, t.host.as_str(), t.port, t.tls, t.path.as_str()),
            (Kind::Http, "updates.example", 8443, true, "/a?b=1")
        );
        assert_eq!(t.large.as_deref(), Some("/big"));
        assert_eq!(t.families, [6, 4]);
        let t = parse("http://[2001:db8::1]/", None, None, &[4, 6]).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.families.as_slice()), ("2001:db8::1", 80, &[6u8][..]));
        let t = parse("mirror.example:873", None, None, &[4, 6]).unwrap();
        assert_eq!((t.kind, t.port), (Kind::Tcp, 873));
        let t = parse("mirror.example", None, None, &[6]).unwrap();
        assert_eq!(t.kind, Kind::Dns);
        let t = parse("mail.example:465", Some("tls"), None, &[4, 6]).unwrap();
        assert!(t.tls);
        let t = parse("http://a.example/x", None, Some("http://a.example/big"), &[4, 6]).unwrap();
        assert_eq!(t.large.as_deref(), Some("/big"));
    }

    #[test]
    fn refusals_say_why() {
        for (t, why) in [
            ("ftp://a.example/", "scheme"),
            ("http://a b/", "not a host name"),
            ("a.example:0", "bad port"),
            ("a.example:99999", "bad port"),
            ("2001:db8::1:80", "[ADDR]:PORT"),
            ("http://[2001:db8::1/", "unclosed"),
            ("http://u:p@a.example/", "user information"),
            ("a.example:80", "needs a URL"),
        ] {
            let kind = if t == "a.example:80" { Some("http") } else { None };
            let e = parse(t, kind, None, &[4, 6]).unwrap_err().to_string();
            assert!(e.contains(why), "{t}: {e}");
        }
        let e = parse("http://a.example/", None, Some("http://b.example/big"), &[4, 6]).unwrap_err().to_string();
        assert!(e.contains("same server"), "{e}");
        assert!(parse("a.example:22", Some("smtp"), None, &[4]).is_err());
    }
}

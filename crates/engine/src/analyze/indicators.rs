//! Indicators of known-bad destinations (`--indicators FILE`): plain lists of domains,
//! addresses, CIDR prefixes and URLs, one per line, `#` comments, and the DROP-list form
//! `PREFIX ; ID`. Domains match themselves and every name under them; prefixes match by bits;
//! URLs match a request whose normalised URL starts with theirs. Each indicator keeps the
//! file and line it came from, so a match says where to look.

use crate::decode::Addr;
use hashbrown::HashMap;

/// What an indicator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A domain and the names under it.
    Domain,
    /// An address or a CIDR prefix.
    Address,
    /// A URL (and the ones below its path).
    Url,
}

/// One indicator and where it was written.
#[derive(Debug, Clone)]
pub struct Source {
    /// As written (normalised).
    pub text: String,
    /// What it is.
    pub kind: Kind,
    /// The file it came from, as given.
    pub file: String,
    /// Its line, from 1.
    pub line: u32,
}

/// One line read: what it lists.
enum Parsed {
    Domain(String),
    /// An address and a prefix length (host bits masked).
    Prefix(Addr, u8),
    Url(String),
}

/// The indicator lists, indexed for matching.
#[derive(Debug, Clone, Default)]
pub struct Indicators {
    /// Every indicator, in file order (the matchers hold positions in it).
    pub sources: Vec<Source>,
    domains: HashMap<String, usize>,
    /// Prefixes by (version, length), longest first: the masked address bytes.
    prefixes: Vec<PrefixSet>,
    /// Normalised URLs (`host[:port]/path…`).
    urls: Vec<(String, usize)>,
}

/// The prefixes of one (version, length): masked bytes → indicator.
type PrefixSet = ((u8, u8), HashMap<[u8; 16], usize>);

/// Longest line read.
const MAX_LINE: usize = 4096;

fn masked(bytes: &[u8; 16], len: u8) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, b) in bytes.iter().enumerate() {
        let bits = (i32::from(len) - 8 * i as i32).clamp(0, 8);
        out[i] = if bits == 0 { 0 } else { b & (0xffu8 << (8 - bits)) };
    }
    out
}

/// `host[:port]/path?query` of a URL, host lower case, default ports and the fragment
/// dropped; `None` when it is not an http(s) URL.
pub fn normalise_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let rest = rest.split('#').next().unwrap_or("");
    let (host, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = host.rsplit('@').next().unwrap_or(host).to_ascii_lowercase();
    let host = host.strip_suffix(default).unwrap_or(&host).trim_end_matches('.').to_string();
    if host.is_empty() {
        return None;
    }
    let path = if path.starts_with('?') { format!("/{path}") } else { path.to_string() };
    Some(format!("{host}{path}"))
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl Indicators {
    /// Adds the indicators of one file (`file` is how it is named in matches and errors).
    /// Returns the lines that could not be read, as `file:line: why`; the others are used.
    pub fn add_file(&mut self, file: &str, text: &str) -> Vec<String> {
        let mut errors = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let mut err = |why: String| errors.push(format!("{file}:{line}: {why}"));
            if raw.len() > MAX_LINE {
                err(format!("line over {MAX_LINE} bytes"));
                continue;
            }
            // `PREFIX ; ID` (Spamhaus DROP) and `# comments`.
            let body = raw.split('#').next().unwrap_or("").split(';').next().unwrap_or("").trim();
            if body.is_empty() {
                continue;
            }
            if body.split_whitespace().count() > 1 {
                err(format!("one indicator per line, got {:?}", shorten(body, 80)));
                continue;
            }
            match Indicators::parse(body) {
                Ok(parsed) => self.add(parsed, file, line),
                Err(why) => err(why),
            }
        }
        errors
    }

    fn parse(s: &str) -> Result<Parsed, String> {
        if s.contains("://") {
            return normalise_url(s)
                .map(Parsed::Url)
                .ok_or_else(|| format!("not an http(s) URL: {:?}", shorten(s, 80)));
        }
        if let Ok(ip) = s.parse::<std::net::IpAddr>() {
            let a = Addr::from_ip(ip);
            return Ok(Parsed::Prefix(a, if a.version == 6 { 128 } else { 32 }));
        }
        if let Some((a, len)) = s.split_once('/') {
            let ip: std::net::IpAddr =
                a.parse().map_err(|_| format!("not an address or prefix: {:?}", shorten(s, 80)))?;
            let max = if ip.is_ipv6() { 128 } else { 32 };
            let len: u8 =
                len.parse().ok().filter(|l| *l <= max).ok_or_else(|| format!("bad prefix length in {s:?}"))?;
            let a = Addr::from_ip(ip);
            return Ok(Parsed::Prefix(Addr { version: a.version, bytes: masked(&a.bytes, len) }, len));
        }
        let d = s.trim_start_matches("*.").trim_start_matches('.').trim_end_matches('.').to_ascii_lowercase();
        if valid_domain(&d) {
            Ok(Parsed::Domain(d))
        } else {
            Err(format!("not a domain, address, prefix or URL: {:?}", shorten(s, 80)))
        }
    }

    fn add(&mut self, parsed: Parsed, file: &str, line: u32) {
        let at = self.sources.len();
        let (kind, text) = match parsed {
            Parsed::Domain(d) => {
                if self.domains.contains_key(&d) {
                    return; // listed twice: the first line is the one reported
                }
                self.domains.insert(d.clone(), at);
                (Kind::Domain, d)
            }
            Parsed::Prefix(a, len) => {
                let key = (a.version, len);
                let i = match self.prefixes.iter().position(|(k, _)| *k == key) {
                    Some(i) => i,
                    None => {
                        // Longest prefixes first: the most specific indicator is reported.
                        let i = self.prefixes.partition_point(|(k, _)| k.1 > len);
                        self.prefixes.insert(i, (key, HashMap::new()));
                        i
                    }
                };
                if self.prefixes[i].1.contains_key(&a.bytes) {
                    return;
                }
                self.prefixes[i].1.insert(a.bytes, at);
                (Kind::Address, format!("{a}/{len}"))
            }
            Parsed::Url(u) => {
                self.urls.push((u.clone(), at));
                (Kind::Url, u)
            }
        };
        self.sources.push(Source { text, kind, file: file.to_string(), line });
    }

    /// Whether there is nothing to match.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The indicator a name falls under (the name itself or a parent domain).
    pub fn name(&self, name: &str) -> Option<usize> {
        if self.domains.is_empty() || name.is_empty() {
            return None;
        }
        // Lower-cased only when it has to be (most names already are).
        let lower: std::borrow::Cow<'_, str> =
            if name.bytes().any(|b| b.is_ascii_uppercase()) { name.to_ascii_lowercase().into() } else { name.into() };
        let mut n = lower.trim_end_matches('.');
        loop {
            if let Some(i) = self.domains.get(n) {
                return Some(*i);
            }
            match n.split_once('.') {
                Some((_, parent)) => n = parent,
                None => return None,
            }
        }
    }

    /// The indicator an address falls in (the longest prefix).
    pub fn addr(&self, a: &Addr) -> Option<usize> {
        self.prefixes
            .iter()
            .filter(|((v, _), _)| *v == a.version)
            .find_map(|((_, len), map)| map.get(&masked(&a.bytes, *len)).copied())
    }

    /// The indicator a request URL falls under: a listed URL it starts with, else its host.
    pub fn url(&self, host: &str, target: &str) -> Option<usize> {
        let url = if target.contains("://") { target.to_string() } else { format!("http://{host}{target}") };
        let n = normalise_url(&url)?;
        self.urls.iter().find(|(u, _)| n.starts_with(u.as_str())).map(|(_, i)| *i)
    }
}

/// At most `max` characters of `s`, `…` marking a cut (for messages quoting input).
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn list(text: &str) -> (Indicators, Vec<String>) {
        let mut i = Indicators::default();
        let e = i.add_file("bad.txt", text);
        (i, e)
    }

    fn a(s: &str) -> Addr {
        Addr::from_ip(s.parse().unwrap())
    }

    #[test]
    fn domains_match_themselves_and_below_only() {
        let (i, e) = list("# phishing\nPaypa1-Login.example\n*.cheap-meds.example.\n");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(i.name("paypa1-login.example"), Some(0));
        assert_eq!(i.name("www.PAYPA1-login.example."), Some(0));
        assert_eq!(i.name("cheap-meds.example"), Some(1));
        assert_eq!(i.name("a.b.cheap-meds.example"), Some(1));
        assert_eq!(i.name("notpaypa1-login.example"), None, "a suffix of labels, not of characters");
        assert_eq!(i.name("example"), None);
    }

    #[test]
    fn prefixes_match_by_bits_and_drop_lists_read() {
        let (i, e) = list("2001:db8:666::/48 ; SBL1\n198.51.100.0/24 ; SBL2\n198.51.100.66\n10.0.0.1/8\n");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(i.addr(&a("2001:db8:666:1::5")), Some(0));
        assert_eq!(i.addr(&a("2001:db8:667::5")), None);
        // The most specific indicator is the one reported.
        assert_eq!(i.addr(&a("198.51.100.66")), Some(2));
        assert_eq!(i.addr(&a("198.51.100.7")), Some(1));
        // Host bits are masked: 10.0.0.1/8 is 10.0.0.0/8.
        assert_eq!(i.sources[3].text, "10.0.0.0/8");
        assert_eq!(i.addr(&a("10.200.1.1")), Some(3));
        assert_eq!(i.addr(&a("::ffff:10.0.0.1")), None, "families do not mix");
    }

    #[test]
    fn urls_are_normalised() {
        let (i, e) = list("HTTP://Login.Example:80/secure/#top\nhttps://x.example/a?b=1\n");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(i.sources[0].text, "login.example/secure/");
        assert_eq!(i.url("LOGIN.example", "/secure/verify.php?id=1"), Some(0));
        assert_eq!(i.url("login.example:80", "/secure/"), Some(0));
        assert_eq!(i.url("login.example", "/public/"), None);
        assert_eq!(i.url("login.example:8080", "/secure/"), None);
        assert_eq!(i.url("x.example", "/a?b=1&c=2"), Some(1));
        assert_eq!(i.url("proxy", "http://login.example/secure/x"), Some(0), "absolute-form targets");
    }

    #[test]
    fn bad_lines_are_named_and_the_rest_used() {
        let (i, e) = list("good.example\nnot a domain\n300.1.1.1/8\n2001:db8::/129\nftp://x.example/\n-bad-.ex ample\nok.example ; id\n");
        assert_eq!(i.sources.len(), 2);
        assert_eq!(e.len(), 5, "{e:?}");
        assert!(e[0].starts_with("bad.txt:2: one indicator per line"), "{e:?}");
        assert!(e[1].starts_with("bad.txt:3: not an address or prefix"), "{e:?}");
        assert!(e[2].starts_with("bad.txt:4: bad prefix length"), "{e:?}");
        assert!(e[3].starts_with("bad.txt:5: not an http(s) URL"), "{e:?}");
    }
}

//! HTTP/1.x message heads (RFC 9112): request line, status line and the header fields v6watch
//! records. The caller hands in a complete head (up to and including the blank line).

/// Methods recognised when probing a stream for HTTP.
pub const METHODS: [&[u8]; 9] =
    [b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"CONNECT ", b"PATCH ", b"TRACE "];

/// Whether `b` starts like an HTTP request (method and a space).
pub fn looks_like_request(b: &[u8]) -> bool {
    METHODS.iter().any(|m| b.starts_with(m) || (b.len() < m.len() && m.starts_with(b) && !b.is_empty()))
}

/// Whether `b` starts with a whole method and its space (not a prefix of one).
pub fn starts_request(b: &[u8]) -> bool {
    METHODS.iter().any(|m| b.starts_with(m))
}

/// Whether `b` starts like an HTTP response.
pub fn looks_like_response(b: &[u8]) -> bool {
    b.starts_with(b"HTTP/1.") || (b.len() < 7 && b"HTTP/1.".starts_with(b) && !b.is_empty())
}

/// Where the head ends: offset just past `\r\n\r\n` (or `\n\n`).
pub fn head_end(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'\n' {
            if b[i + 1] == b'\n' {
                return Some(i + 2);
            }
            if b[i + 1] == b'\r' && b.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// A parsed request or response head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head<'a> {
    /// Method (requests).
    pub method: &'a [u8],
    /// Request target (requests).
    pub target: &'a [u8],
    /// Version text, e.g. `HTTP/1.1`.
    pub version: &'a [u8],
    /// Status code (responses).
    pub status: u16,
    /// Host header.
    pub host: Option<&'a [u8]>,
    /// User-Agent header.
    pub user_agent: Option<&'a [u8]>,
    /// Content-Length, when present and numeric.
    pub content_length: Option<u64>,
    /// Transfer-Encoding contains `chunked`.
    pub chunked: bool,
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

fn headers<'a>(lines: impl Iterator<Item = &'a [u8]>, h: &mut Head<'a>) {
    for line in lines {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"host") {
            h.host.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            h.user_agent.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            h.content_length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            h.chunked |= value.windows(7).any(|w| w.eq_ignore_ascii_case(b"chunked"));
        }
    }
}

fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|&c| c == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).filter(|l| !l.is_empty())
}

/// Parses a request head. `None` if the request line is not `METHOD SP TARGET [SP VERSION]`.
pub fn request(head: &[u8]) -> Option<Head<'_>> {
    let mut it = lines(head);
    let first = it.next()?;
    let mut parts = first.splitn(3, |&c| c == b' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next().unwrap_or(b"HTTP/0.9");
    if method.is_empty() || !method.iter().all(|c| c.is_ascii_uppercase() || *c == b'-') || target.is_empty() {
        return None;
    }
    let mut h = Head { method, target, version: trim(version), ..Head::default() };
    headers(it, &mut h);
    Some(h)
}

/// Parses a response head.
pub fn response(head: &[u8]) -> Option<Head<'_>> {
    let mut it = lines(head);
    let first = it.next()?;
    let mut parts = first.splitn(3, |&c| c == b' ');
    let version = parts.next()?;
    let status = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    if !version.starts_with(b"HTTP/") {
        return None;
    }
    let mut h = Head { version, status, ..Head::default() };
    headers(it, &mut h);
    Some(h)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn request_and_response() {
        let r = b"POST /safebrowsing/downloads?client=navclient-auto-ffox HTTP/1.1\r\nHost: safebrowsing.clients.google.com\r\nUser-Agent: Mozilla/5.0\r\nContent-Length: 42\r\n\r\nbody";
        let end = head_end(r).unwrap();
        assert_eq!(&r[end..], b"body");
        let h = request(&r[..end]).unwrap();
        assert_eq!(h.method, b"POST");
        assert_eq!(h.target, b"/safebrowsing/downloads?client=navclient-auto-ffox");
        assert_eq!(h.host, Some(&b"safebrowsing.clients.google.com"[..]));
        assert_eq!(h.content_length, Some(42));
        assert!(looks_like_request(b"POS"));
        assert!(!looks_like_request(b"\x16\x03\x01"));
        let s = response(b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert_eq!((s.status, s.chunked), (204, true));
        assert!(request(b"get / HTTP/1.1\r\n\r\n").is_none());
        assert_eq!(request(b"GET /\r\n\r\n").unwrap().version, b"HTTP/0.9");
    }
}

//! TLS records (RFC 8446 §5) and the two handshake messages v6watch reads: ClientHello (SNI,
//! ALPN, offered versions, ECH) and ServerHello (version, cipher). The caller reassembles the
//! handshake bytes (a ClientHello can span records and TCP segments); these functions only read
//! complete messages.

use crate::{be16, Error, Result};

/// Content type of handshake records.
pub const HANDSHAKE: u8 = 22;

/// A TLS record header: (content type, legacy version, length).
pub fn record_header(b: &[u8]) -> Result<(u8, u16, usize)> {
    if b.len() < 5 {
        return Err(Error::Truncated);
    }
    let (ct, ver, len) = (b[0], be16(b, 1), usize::from(be16(b, 3)));
    if !(20..=24).contains(&ct) || ver >> 8 != 3 || len > (1 << 14) + 2048 {
        return Err(Error::Malformed);
    }
    Ok((ct, ver, len))
}

/// Whether `b` plausibly starts a TLS handshake record (for protocol detection).
pub fn looks_like_handshake(b: &[u8]) -> bool {
    b.len() >= 6 && b[0] == HANDSHAKE && b[1] == 3 && b[2] <= 4 && matches!(b[5], 1 | 2)
}

/// Whether `b` may be the start of a TLS handshake record: [`looks_like_handshake`] once six
/// bytes are there, else whether the bytes there agree with one (a stream's first segment can
/// be a single byte).
pub fn may_start_handshake(b: &[u8]) -> bool {
    if b.len() >= 6 {
        return looks_like_handshake(b);
    }
    b.first() == Some(&HANDSHAKE) && b.get(1).is_none_or(|&v| v == 3) && b.get(2).is_none_or(|&v| v <= 4)
}

/// Facts from a ClientHello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// legacy_version.
    pub legacy_version: u16,
    /// server_name (host_name entries).
    pub sni: Option<String>,
    /// ALPN protocol names.
    pub alpn: Vec<String>,
    /// supported_versions (GREASE removed).
    pub versions: Vec<u16>,
    /// encrypted_client_hello (0xfe0d) present: the SNI is the outer, public name.
    pub ech: bool,
    /// Cipher suites offered (GREASE removed).
    pub ciphers: Vec<u16>,
}

/// Facts from a ServerHello.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version (supported_versions when present, else legacy_version).
    pub version: u16,
    /// The chosen cipher suite.
    pub cipher: u16,
}

fn grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// A handshake message header: (type, body length).
pub fn handshake_header(b: &[u8]) -> Result<(u8, usize)> {
    if b.len() < 4 {
        return Err(Error::Truncated);
    }
    Ok((b[0], (usize::from(b[1]) << 16) | (usize::from(b[2]) << 8) | usize::from(b[3])))
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = self.b.get(self.at..self.at + n).ok_or(Error::Truncated)?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(be16(self.take(2)?, 0))
    }
    fn vec8(&mut self) -> Result<&'a [u8]> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }
    fn vec16(&mut self) -> Result<&'a [u8]> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
}

/// Reads a ClientHello body (after the 4-byte handshake header).
pub fn client_hello(body: &[u8]) -> Result<ClientHello> {
    let mut c = Cursor { b: body, at: 0 };
    let mut h = ClientHello { legacy_version: c.u16()?, ..ClientHello::default() };
    c.take(32)?;
    c.vec8()?;
    let suites = c.vec16()?;
    h.ciphers = suites.chunks_exact(2).map(|s| be16(s, 0)).filter(|v| !grease(*v)).collect();
    c.vec8()?;
    if c.at == body.len() {
        return Ok(h); // no extensions (SSLv3-style)
    }
    let exts = c.vec16()?;
    let mut e = Cursor { b: exts, at: 0 };
    while e.at + 4 <= exts.len() {
        let ty = e.u16()?;
        let data = e.vec16()?;
        let mut d = Cursor { b: data, at: 0 };
        match ty {
            0 => {
                let list = d.vec16()?;
                let mut l = Cursor { b: list, at: 0 };
                while l.at < list.len() {
                    let kind = l.u8()?;
                    let name = l.vec16()?;
                    if kind == 0 && h.sni.is_none() {
                        h.sni = Some(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            16 => {
                let list = d.vec16()?;
                let mut l = Cursor { b: list, at: 0 };
                while l.at < list.len() {
                    h.alpn.push(String::from_utf8_lossy(l.vec8()?).into_owned());
                }
            }
            43 => {
                let list = d.vec8()?;
                h.versions = list.chunks_exact(2).map(|s| be16(s, 0)).filter(|v| !grease(*v)).collect();
            }
            0xfe0d => h.ech = true,
            _ => {}
        }
    }
    Ok(h)
}

/// Reads a ServerHello body.
pub fn server_hello(body: &[u8]) -> Result<ServerHello> {
    let mut c = Cursor { b: body, at: 0 };
    let legacy = c.u16()?;
    c.take(32)?;
    c.vec8()?;
    let cipher = c.u16()?;
    c.u8()?;
    let mut s = ServerHello { version: legacy, cipher };
    if c.at < body.len() {
        let exts = c.vec16()?;
        let mut e = Cursor { b: exts, at: 0 };
        while e.at + 4 <= exts.len() {
            let ty = e.u16()?;
            let data = e.vec16()?;
            if ty == 43 && data.len() == 2 {
                s.version = be16(data, 0);
            }
        }
    }
    Ok(s)
}

/// A version number as text: `TLSv1.3`, `TLSv1.2`, ..., `SSLv3`, else hex.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1.0".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        _ => format!("0x{v:04x}"),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// ClientHello body with SNI, ALPN h2, supported_versions (with GREASE) and ECH.
    pub fn hello(name: &str) -> Vec<u8> {
        let mut ext = Vec::new();
        let n = name.as_bytes();
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&((n.len() + 5) as u16).to_be_bytes());
        ext.extend_from_slice(&((n.len() + 3) as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(n.len() as u16).to_be_bytes());
        ext.extend_from_slice(n);
        ext.extend_from_slice(&[0, 16, 0, 5, 0, 3, 2, b'h', b'2']);
        ext.extend_from_slice(&[0, 43, 0, 5, 4, 0x1a, 0x1a, 3, 4]);
        ext.extend_from_slice(&[0xfe, 0x0d, 0, 0]);
        let mut b = vec![3, 3];
        b.extend_from_slice(&[0; 32]);
        b.push(0);
        b.extend_from_slice(&[0, 4, 0x2a, 0x2a, 0x13, 0x01, 1, 0]);
        b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        b.extend_from_slice(&ext);
        b
    }

    #[test]
    fn client_hello_fields() {
        let h = client_hello(&hello("www.example.org")).unwrap();
        assert_eq!(h.sni.as_deref(), Some("www.example.org"));
        assert_eq!(h.alpn, vec!["h2"]);
        assert_eq!(h.versions, vec![0x0304]);
        assert_eq!(h.ciphers, vec![0x1301]);
        assert!(h.ech);
        let body = hello("x");
        for cut in 0..body.len() {
            let _ = client_hello(&body[..cut]); // never panics
        }
    }

    #[test]
    fn server_hello_version() {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[0; 32]);
        b.push(0);
        b.extend_from_slice(&[0x13, 0x01, 0, 0, 6, 0, 43, 0, 2, 3, 4]);
        let s = server_hello(&b).unwrap();
        assert_eq!((s.version, s.cipher), (0x0304, 0x1301));
        assert_eq!(version_name(s.version), "TLSv1.3");
        assert!(record_header(&[22, 3, 1, 0, 5]).is_ok());
        assert!(record_header(&[99, 3, 1, 0, 5]).is_err());
    }
}

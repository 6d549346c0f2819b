//! IPv6 address intelligence (DOMAIN.md §1): special-purpose block, scope, embedded data
//! (IPv4-mapped, NAT64 well-known prefix, 6to4, Teredo, ISATAP, EUI-64 MAC), and the
//! interface-identifier class in addr6's rule order plus the proposed extensions (`zero`,
//! `eui64-local`, `reserved-iid`) and the `wordy` flag.
//!
//! Vendor names come from the IEEE registries (`oui`).

use crate::decode::Addr;
use serde::Serialize;

/// A row of the IANA IPv6 Special-Purpose Address Registry (RFC 6890, RFC 8190 names).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Registry {
    /// Block, CIDR.
    pub block: &'static str,
    /// Name.
    pub name: &'static str,
    /// Defining RFC(s).
    pub rfc: &'static str,
    /// Valid as a source: T, F or N (not applicable).
    pub source: char,
    /// Valid as a destination.
    pub destination: char,
    /// Forwardable.
    pub forwardable: char,
    /// Globally reachable.
    pub global: char,
    /// Reserved by protocol.
    pub reserved: char,
}

/// One row as written: block (CIDR), name, RFC, flags "SDFGR".
type Row = (&'static str, &'static str, &'static str, &'static str);

/// The registry (DOMAIN.md §1.2, a 2025 copy of IANA's CSV).
const REGISTRY: &[Row] = &[
    ("::1/128", "Loopback Address", "4291", "FFFFT"),
    ("::/128", "Unspecified Address", "4291", "TFFFT"),
    ("::ffff:0:0/96", "IPv4-mapped Address", "4291", "FFFFT"),
    ("64:ff9b::/96", "IPv4-IPv6 Translat.", "6052", "TTTTF"),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local use)", "8215", "TTTFF"),
    ("100::/64", "Discard-Only Address Block", "6666", "TTTFF"),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", "9780", "TFFFF"),
    ("2001:1::1/128", "Port Control Protocol Anycast", "7723", "TTTTF"),
    ("2001:1::2/128", "TURN Anycast", "8155", "TTTTF"),
    ("2001:1::3/128", "DNS-SD SRP Anycast", "9665", "TTTTF"),
    ("2001:2::/48", "Benchmarking", "5180", "TTTFF"),
    ("2001:3::/32", "AMT", "7450", "TTTTF"),
    ("2001:4:112::/48", "AS112-v6", "7535", "TTTTF"),
    ("2001:10::/28", "Deprecated (previously ORCHID)", "4843", "NNNNN"),
    ("2001:20::/28", "ORCHIDv2", "7343", "TTTTF"),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "9374", "TTTTF"),
    ("2001::/32", "TEREDO", "4380, 8190", "TTTNF"),
    ("2001::/23", "IETF Protocol Assignments", "2928", "FFFFF"),
    ("2001:db8::/32", "Documentation", "3849", "FFFFF"),
    ("2002::/16", "6to4", "3056", "TTTNF"),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", "7534", "TTTTF"),
    ("3fff::/20", "Documentation", "9637", "FFFFF"),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", "9602", "TTTFF"),
    ("fc00::/7", "Unique-Local", "4193, 8190", "TTTFF"),
    ("fe80::/10", "Link-Local Unicast", "4291", "TTFFT"),
];

/// The registry's prefixes (bytes, length) in `REGISTRY` order, parsed at compile time (a
/// malformed block fails the build).
const PREFIXES: [([u8; 16], u8); REGISTRY.len()] = {
    let mut out = [([0u8; 16], 0u8); REGISTRY.len()];
    let mut i = 0;
    while i < REGISTRY.len() {
        out[i] = cidr(REGISTRY[i].0.as_bytes());
        i += 1;
    }
    out
};

/// Stores a group read before (`head`) or after (`tail`) the "::".
const fn group(v: u16, after_gap: bool, head: &mut [u16; 8], nh: &mut usize, tail: &mut [u16; 8], nt: &mut usize) {
    if after_gap {
        tail[*nt] = v;
        *nt += 1;
    } else {
        head[*nh] = v;
        *nh += 1;
    }
}

/// An IPv6 CIDR block (`hex:groups::/len`) at compile time.
const fn cidr(s: &[u8]) -> ([u8; 16], u8) {
    // Groups before and after "::", and the length after '/'.
    let mut head = [0u16; 8];
    let mut tail = [0u16; 8];
    let (mut nh, mut nt, mut gap, mut cur, mut digits) = (0, 0, false, 0u16, 0);
    let mut i = 0;
    while i < s.len() && s[i] != b'/' {
        let c = s[i];
        if c == b':' {
            if digits > 0 {
                group(cur, gap, &mut head, &mut nh, &mut tail, &mut nt);
            }
            if i + 1 < s.len() && s[i + 1] == b':' {
                assert!(!gap, "two '::' in a block");
                gap = true;
                i += 1;
            }
            cur = 0;
            digits = 0;
        } else {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => panic!("not a hex digit in a block"),
            };
            cur = cur * 16 + d as u16;
            digits += 1;
        }
        i += 1;
    }
    if digits > 0 {
        group(cur, gap, &mut head, &mut nh, &mut tail, &mut nt);
    }
    assert!(i < s.len() && (gap || nh == 8), "a block is ADDRESS/LEN");
    let mut len = 0u8;
    i += 1;
    while i < s.len() {
        len = len * 10 + (s[i] - b'0');
        i += 1;
    }
    let mut bytes = [0u8; 16];
    let mut g = 0;
    while g < 8 {
        let v = if g < nh {
            head[g]
        } else if g >= 8 - nt {
            tail[g - (8 - nt)]
        } else {
            0
        };
        bytes[2 * g] = (v >> 8) as u8;
        bytes[2 * g + 1] = v as u8;
        g += 1;
    }
    (bytes, len)
}

/// Whether the first `len` bits of `a` and `p` are equal.
pub fn in_prefix(a: &[u8; 16], p: &[u8; 16], len: u8) -> bool {
    (0..usize::from(len)).all(|i| (a[i / 8] >> (7 - i % 8)) & 1 == (p[i / 8] >> (7 - i % 8)) & 1)
}

/// The most specific registry row covering `a`.
pub fn registry(a: &Addr) -> Option<Registry> {
    if a.version != 6 {
        return None;
    }
    let (_, r) = PREFIXES
        .iter()
        .zip(REGISTRY)
        .filter(|((p, len), _)| in_prefix(&a.bytes, p, *len))
        .max_by_key(|((_, len), _)| *len)?;
    let f: Vec<char> = r.3.chars().collect();
    Some(Registry {
        block: r.0,
        name: r.1,
        rfc: r.2,
        source: f[0],
        destination: f[1],
        forwardable: f[2],
        global: f[3],
        reserved: f[4],
    })
}

/// What describing an address needs beyond the address itself: the NIC-vendor registry and
/// the operator's network-specific NAT64 prefixes. A value passed to whoever describes
/// addresses (cloning shares the registry), so two analyses in one process may use different
/// data. The built-in vendor snapshot is decompressed on the first lookup only.
#[derive(Debug, Clone, Default)]
pub struct Intel {
    oui: std::sync::Arc<std::sync::OnceLock<super::oui::OuiDb>>,
    nat64: std::sync::Arc<[(Addr, u8)]>,
}

impl Intel {
    /// The built-in vendor snapshot, no NAT64 prefix.
    pub fn builtin() -> Intel {
        Intel::default()
    }

    /// Uses `db` as the vendor registry instead of the built-in snapshot.
    pub fn with_oui(mut self, db: super::oui::OuiDb) -> Intel {
        self.oui = std::sync::Arc::new(std::sync::OnceLock::from(db));
        self
    }

    /// Adds network-specific NAT64 prefixes; `None` for a length RFC 6052 does not allow
    /// (32, 40, 48, 56, 64, 96) or a prefix that is not IPv6.
    pub fn with_nat64(mut self, list: Vec<(Addr, u8)>) -> Option<Intel> {
        if list.iter().any(|(a, l)| a.version != 6 || ![32, 40, 48, 56, 64, 96].contains(l)) {
            return None;
        }
        self.nat64 = list.into();
        Some(self)
    }

    /// The vendor registry in use.
    pub fn oui(&self) -> &super::oui::OuiDb {
        self.oui.get_or_init(super::oui::OuiDb::builtin)
    }

    /// The vendor of a MAC address.
    pub fn vendor(&self, mac: [u8; 6]) -> Option<&str> {
        self.oui().lookup(mac)
    }

    /// Describes an address (IPv4 addresses get only the basics).
    pub fn describe(&self, a: &Addr) -> AddrInfo {
        describe_with(a, self)
    }
}

/// The IPv4 address embedded in `a` under an RFC 6052 prefix of length `len` (the "u" octet,
/// bits 64-71, is skipped).
pub fn nat64_embedded(a: &Addr, len: u8) -> [u8; 4] {
    let b = &a.bytes;
    match len {
        32 => [b[4], b[5], b[6], b[7]],
        40 => [b[5], b[6], b[7], b[9]],
        48 => [b[6], b[7], b[9], b[10]],
        56 => [b[7], b[9], b[10], b[11]],
        64 => [b[9], b[10], b[11], b[12]],
        _ => [b[12], b[13], b[14], b[15]],
    }
}

/// What an address says about itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AddrInfo {
    /// unicast, multicast, unspecified.
    pub kind: &'static str,
    /// Special-purpose block name, or "global unicast".
    pub block: &'static str,
    /// Scope: global, link-local, site-local, or the multicast scope.
    pub scope: &'static str,
    /// Interface-identifier class (unicast) — addr6's names and the extensions.
    pub class: String,
    /// The IID (or subnet ID) spells hex words like dead:beef.
    pub wordy: bool,
    /// Decoded facts, human readable (embedded IPv4, Teredo server/port/client, MAC, vendor).
    pub details: Vec<String>,
    /// The IANA special-purpose registry row, when one covers the address.
    pub registry: Option<Registry>,
}

const SERVICE_PORTS: [u16; 23] =
    [21, 22, 23, 25, 49, 53, 80, 110, 123, 179, 220, 389, 443, 547, 993, 995, 1194, 3306, 5060, 5061, 5432, 6446, 8080];

/// svc(p): a service port as a number or spelled in hex digits (0x80 = "80").
fn svc(w: u16) -> bool {
    SERVICE_PORTS.contains(&w)
        || format!("{w:x}")
            .parse::<u16>()
            .is_ok_and(|d| SERVICE_PORTS.contains(&d) && format!("{w:x}").chars().all(|c| c.is_ascii_digit()))
}

const WORDS: [&str; 24] = [
    "dead", "beef", "cafe", "babe", "face", "feed", "f00d", "c0de", "fade", "bead", "deaf", "decaf", "c0ffee", "b00c",
    "1337", "bad", "ace", "b0b", "d00d", "fee", "c0c0", "abba", "1dea", "5ca7",
];

fn is_word(w: u16) -> bool {
    if w == 0 {
        return false;
    }
    let s = format!("{w:x}");
    WORDS.iter().any(|x| *x == s)
}

fn v4(b: &[u8]) -> String {
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

fn describe_with(a: &Addr, intel: &Intel) -> AddrInfo {
    let b = a.bytes;
    let mut info = AddrInfo {
        kind: "unicast",
        block: "global unicast",
        scope: "global",
        class: String::new(),
        wordy: false,
        details: vec![],
        registry: registry(a),
    };
    if a.version == 4 {
        info.block = match b[0] {
            10 => "private (RFC 1918)",
            172 if b[1] & 0xf0 == 16 => "private (RFC 1918)",
            192 if b[1] == 168 => "private (RFC 1918)",
            127 => "loopback",
            169 if b[1] == 254 => "link-local",
            192 if b[1] == 0 && b[2] == 2 => "documentation",
            198 if b[1] == 51 && b[2] == 100 => "documentation",
            203 if b[1] == 0 && b[2] == 113 => "documentation",
            224..=239 => "multicast",
            _ => "public",
        };
        info.class = "ipv4".into();
        return info;
    }
    let w = |i: usize| u16::from_be_bytes([b[i * 2], b[i * 2 + 1]]);
    if b.iter().all(|&x| x == 0) {
        info.kind = "unspecified";
        info.block = "unspecified";
        info.class = "zero".into();
        return info;
    }
    if b[0] == 0xff {
        info.kind = "multicast";
        info.block = "multicast";
        info.scope = match b[1] & 0x0f {
            1 => "interface-local",
            2 => "link-local",
            3 => "realm-local",
            4 => "admin-local",
            5 => "site-local",
            8 => "organization-local",
            0xe => "global",
            _ => "reserved",
        };
        info.class = match b[1] >> 4 {
            0 => "permanent",
            1 => "non-permanent",
            3 => "unicast-based",
            7 => "embedded-rp",
            _ => "unknown-flags",
        }
        .into();
        if b[1] & 0x0f == 2 && b[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff] {
            info.details
                .push(format!("solicited-node group for addresses ending in {:02x}:{:02x}{:02x}", b[13], b[14], b[15]));
        }
        return info;
    }
    // Network-specific NAT64 prefixes the user configured.
    if let Some((p, len)) = intel.nat64.iter().find(|(p, len)| in_prefix(&b, &p.bytes, *len)) {
        info.details.push(format!("NAT64 ({p}/{len}) for {}", v4(&nat64_embedded(a, *len))));
    }
    // Special-purpose blocks, most specific first.
    let p16 = w(0);
    info.block = if b[..15].iter().all(|&x| x == 0) && b[15] == 1 {
        "loopback"
    } else if b[..10].iter().all(|&x| x == 0) && b[10] == 0xff && b[11] == 0xff {
        info.details.push(format!("IPv4-mapped {}", v4(&b[12..])));
        "IPv4-mapped"
    } else if b[..12] == [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0] {
        info.details.push(format!("NAT64 for {}", v4(&b[12..])));
        "NAT64 well-known prefix"
    } else if b[..4] == [0x20, 0x01, 0, 0] {
        let flags = w(4);
        let port = !w(5);
        let client: Vec<u8> = b[12..].iter().map(|x| !x).collect();
        let kind = if flags & 0x0300 != 0 {
            "unknown"
        } else if flags & 0x3cff != 0 {
            "rfc5991"
        } else {
            "rfc4380"
        };
        info.details.push(format!(
            "Teredo server {}, client {}:{port}, flags {flags:#06x} ({}{kind})",
            v4(&b[4..8]),
            v4(&client),
            if flags & 0x8000 != 0 { "cone, " } else { "" }
        ));
        "Teredo"
    } else if b[..4] == [0x20, 0x01, 0x0d, 0xb8] {
        "documentation"
    } else if p16 == 0x2002 {
        info.details.push(format!("6to4 for {}", v4(&b[2..6])));
        if b[12..] == b[2..6] {
            info.details.push("IPv4 repeated in the IID (Windows 6to4)".into());
        }
        "6to4"
    } else if p16 == 0x3fff && b[2] & 0xf0 == 0 {
        "documentation"
    } else if b[0] & 0xfe == 0xfc {
        "unique-local (ULA)"
    } else if b[0] == 0xfe && b[1] & 0xc0 == 0x80 {
        info.scope = "link-local";
        "link-local"
    } else if b[0] == 0xfe && b[1] & 0xc0 == 0xc0 {
        info.scope = "site-local";
        "site-local (deprecated)"
    } else if p16 == 0x3ffe {
        "6bone (returned)"
    } else if b[0] & 0xe0 == 0x20 {
        "global unicast"
    } else {
        "reserved"
    };
    // Interface identifier (bytes 8..16).
    let i = &b[8..16];
    let (w0, w1, w2, w3) = (w(4), w(5), w(6), w(7));
    let h = u32::from_be_bytes([i[0], i[1], i[2], i[3]]);
    let class: String = if i.iter().all(|&x| x == 0) {
        "zero".into()
    } else if i[0] == 0x02 && i[1] == 0 && i[2] == 0x5e && i[3] == 0xff && i[4] == 0xfe {
        "reserved-iid".into()
    } else if i[3] == 0xff && i[4] == 0xfe {
        let mac = [i[0] ^ 0x02, i[1], i[2], i[5], i[6], i[7]];
        let macs = mac.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":");
        if i[0] & 0x02 != 0 {
            let oui = [mac[0], mac[1], mac[2]];
            info.details.push(format!(
                "EUI-64 from MAC {macs}{}",
                intel.vendor(mac).map_or(String::new(), |v| format!(" ({v})"))
            ));
            format!("ieee-derived {:02x}-{:02x}-{:02x}", oui[0], oui[1], oui[2])
        } else {
            info.details.push(format!("EUI-64 from locally administered MAC {macs} (VM, container or random MAC)"));
            "eui64-local".into()
        }
    } else if i[0] & 0xfd == 0 && i[1] == 0 && i[2] == 0x5e && i[3] == 0xfe {
        info.details.push(format!("ISATAP for {}", v4(&i[4..])));
        "isatap".into()
    } else if h == 0 && w2 <= 0x10 && svc(w3) {
        "embedded-port".into()
    } else if h == 0 && w3 <= 0x10 && svc(w2) {
        "embedded-port (reverse)".into()
    } else if h == 0 && i[4] != 0 && w3 != 0 {
        info.details.push(format!("embeds {}", v4(&i[4..])));
        "embedded-ipv4-32".into()
    } else if h == 0 && i[4] == 0 && w3 != 0 {
        "low-byte".into()
    } else if [w0, w1, w2, w3].iter().all(|&x| x <= 0x255 && format!("{x:x}").parse::<u16>().is_ok_and(|d| d <= 255)) {
        "embedded-ipv4-64".into()
    } else if i.iter().filter(|&&x| x == 0).count() > 2 {
        "pattern-bytes".into()
    } else {
        "randomized".into()
    };
    // A Teredo IID is the client's obfuscated address, not an interface ID: its class is the
    // Teredo sub-type (addr6's intent, DOMAIN.md §1.4).
    info.class = if info.block == "Teredo" {
        let flags = w(4);
        let sub = if flags & 0x0300 != 0 {
            "unknown"
        } else if flags & 0x3cff != 0 {
            "rfc5991"
        } else {
            "rfc4380"
        };
        format!("teredo {sub}")
    } else {
        class
    };
    let iid = [w0, w1, w2, w3];
    let nonzero: Vec<u16> = iid.iter().copied().filter(|&x| x != 0).collect();
    let hits = iid.iter().filter(|&&x| is_word(x)).count();
    // Two words in the IID, or every non-zero IID word, or a word as the subnet ID (…:feed::).
    info.wordy = hits >= 2 || (!nonzero.is_empty() && nonzero.iter().all(|&x| is_word(x))) || is_word(w(3));
    info
}

#[cfg(test)]
mod test {
    use super::*;

    fn d(s: &str) -> AddrInfo {
        Intel::builtin().describe(&Addr::from_ip(s.parse().unwrap()))
    }

    #[test]
    fn domain_vectors() {
        let jaist = d("2001:200:141:feed::feed");
        assert_eq!((jaist.class.as_str(), jaist.wordy), ("low-byte", true));
        let kddi = d("2001:200:601:10:206:5bff:fef0:466c");
        assert_eq!(kddi.class, "ieee-derived 00-06-5b");
        assert!(kddi.details[0].contains("00:06:5b:f0:46:6c (Dell Inc.)"), "{:?}", kddi.details);
        assert_eq!(d("2404:6800:4004:805::1000").class, "low-byte");
        let fedora = d("2610:28:3090:3001:dead:beef:cafe:fed4");
        assert_eq!((fedora.class.as_str(), fedora.wordy), ("randomized", true));
        assert_eq!(d("2620:101:8001:5::2:6").class, "low-byte");
        assert!(!d("2620:101:8001:5::2:6").wordy);
        assert_eq!(d("2001:db8::21").class, "embedded-port");
        assert_eq!(d("2001:db8::80:0").class, "embedded-port (reverse)");
        let e32 = d("2001:db8::c000:201");
        assert_eq!(e32.class, "embedded-ipv4-32");
        assert!(e32.details.contains(&"embeds 192.0.2.1".to_string()));
        assert_eq!(d("2001:db8::192:0:2:1").class, "embedded-ipv4-64");
        let isatap = d("2001:db8::200:5efe:c000:201");
        assert_eq!(isatap.class, "isatap");
        assert_eq!(d("2001:db8::").class, "zero");
        assert_eq!(d("2001:db8::").block, "documentation");
    }

    #[test]
    fn every_seed_address() {
        // The blog's peers (SEED-EN.md), by addr6's rules and the extensions.
        for (a, class, wordy) in [
            ("2001:200:141:feed::feed", "low-byte", true),
            ("2001:200:601:10:206:5bff:fef0:466c", "ieee-derived 00-06-5b", false),
            ("2001:4860::1:0:890", "pattern-bytes", false),
            ("2001:4860::2:0:b7", "pattern-bytes", false),
            ("2001:4860::2:0:c6", "pattern-bytes", false),
            ("2404:6800:4004:805::1000", "low-byte", false),
            ("2404:6800:4004:805::100b", "low-byte", false),
            ("2404:6800:8007::65", "low-byte", false),
            ("2404:6800:8007::64", "low-byte", false),
            ("2404:6800:8003::71", "low-byte", false),
            ("2404:6800:8003::8a", "low-byte", false),
            ("2404:6800:8003::8b", "low-byte", false),
            ("2407:3000:6:175::12", "low-byte", false),
            ("2610:28:1000:1401::fed0:2", "embedded-ipv4-32", false),
            ("2610:28:3090:3001:dead:beef:cafe:fed4", "randomized", true),
            ("2620:101:8001:5::2:6", "low-byte", false),
            ("2001:240:bb8f::f:10", "low-byte", false),
        ] {
            let i = d(a);
            assert_eq!((i.class.as_str(), i.wordy), (class, wordy), "{a}");
            assert_eq!((i.kind, i.scope, i.block), ("unicast", "global", "global unicast"), "{a}");
            assert!(i.registry.is_none(), "{a} is in no special-purpose block");
        }
    }

    #[test]
    fn registry_blocks_parse_to_their_prefixes() {
        for ((bytes, len), row) in PREFIXES.iter().zip(REGISTRY) {
            let (ip, l) = row.0.split_once('/').unwrap();
            let ip: std::net::Ipv6Addr = ip.parse().unwrap();
            assert_eq!((*bytes, *len), (ip.octets(), l.parse().unwrap()), "{}", row.0);
            // A block names a prefix: no bit set past its length.
            let host = u128::from_be_bytes(*bytes) & u128::MAX.checked_shr(u32::from(*len)).unwrap_or(0);
            assert_eq!(host, 0, "{} has bits past /{len}", row.0);
        }
    }

    #[test]
    fn registry_rows_and_nat64_layouts() {
        let r = registry(&Addr::from_ip("2001:db8::1".parse().unwrap())).unwrap();
        assert_eq!((r.block, r.source, r.global), ("2001:db8::/32", 'F', 'F'));
        let t = registry(&Addr::from_ip("2001:0:4136:e378::1".parse().unwrap())).unwrap();
        assert_eq!((t.name, t.global), ("TEREDO", 'N'), "the /32 row wins over the covering /23");
        let l = registry(&Addr::from_ip("fe80::1".parse().unwrap())).unwrap();
        assert_eq!((l.forwardable, l.reserved), ('F', 'T'));
        assert!(registry(&Addr::from_ip("2404:6800::1".parse().unwrap())).is_none());
        // RFC 6052 §2.4 examples: 192.0.2.33 under each prefix length.
        let cases = [
            ("2001:db8:c000:221::", 32),
            ("2001:db8:1c0:2:21::", 40),
            ("2001:db8:122:c000:2:2100::", 48),
            ("2001:db8:122:3c0:0:221::", 56),
            ("2001:db8:122:344:c0:2:2100:0", 64),
            ("2001:db8:122:344::192.0.2.33", 96),
        ];
        for (s, len) in cases {
            assert_eq!(nat64_embedded(&Addr::from_ip(s.parse().unwrap()), len), [192, 0, 2, 33], "{s} /{len}");
        }
        assert!(Intel::builtin().with_nat64(vec![(Addr::from_ip("2001:db8::".parse().unwrap()), 33)]).is_none());
    }

    #[test]
    fn transition_and_special_blocks() {
        let t = d("2001:0:4136:e378:8000:63bf:3fff:fdd2");
        assert_eq!(t.block, "Teredo");
        assert_eq!(t.class, "teredo rfc4380");
        assert_eq!(d("2001:0:506:708:282a:3d75:fefd:fcfb").class, "teredo rfc5991");
        assert!(
            t.details[0].contains("server 65.54.227.120, client 192.0.2.45:40000, flags 0x8000 (cone, rfc4380)"),
            "{:?}",
            t.details
        );
        let t2 = d("2001:0:506:708:282a:3d75:fefd:fcfb");
        assert!(t2.details[0].contains("server 5.6.7.8, client 1.2.3.4:49802"), "{:?}", t2.details);
        assert!(t2.details[0].contains("rfc5991"));
        let six = d("2002:c000:201::c000:201");
        assert_eq!(six.block, "6to4");
        assert!(six.details.iter().any(|x| x == "6to4 for 192.0.2.1"));
        assert!(six.details.iter().any(|x| x.contains("repeated")));
        assert_eq!(d("::ffff:192.0.2.1").block, "IPv4-mapped");
        assert_eq!(d("64:ff9b::c000:201").details[0], "NAT64 for 192.0.2.1");
        assert_eq!(d("fe80::42:acff:fe11:2").class, "eui64-local");
        assert_eq!(d("fe80::42:acff:fe11:2").scope, "link-local");
        assert_eq!(d("ff02::1:ff00:1").scope, "link-local");
        assert_eq!(d("fd00::1").block, "unique-local (ULA)");
        assert_eq!(d("2001:db8::200:5eff:fe00:5213").class, "reserved-iid");
    }
}

//! Who each sensor talked to: one entry per (sensor, remote address) with its names and their
//! provenance, organisation (from well-known name suffixes), volumes per direction, flows per
//! role, first and last sight, and the time windows it was seen in; plus groupings by prefix
//! (/64 and /48 for IPv6, /24 for IPv4) and by registrable domain.
//!
//! Memory: one entry per distinct peer, at most `MAX_PEERS`. When the table is full, the peers
//! seen in a single flow (what a scan or a spoofed flood leaves) are folded into per-sensor
//! totals to make room, so a flood that came first does not push out the peers that matter;
//! once folding frees too little, new peers are folded as they come. Folded peers, their flows
//! and bytes are counted ([`Folded`]), never silently lost.

use crate::decode::Addr;
use crate::model::{FlowRecord, Role};
use hashbrown::HashMap;
use serde::Serialize;

/// Peers kept at most (~250 bytes each with the table).
pub const MAX_PEERS: usize = 20_000;
/// A fold must free at least this share of the table to be tried again.
const MIN_FOLD_SHARE: usize = 8;
/// Names kept per peer.
const MAX_NAMES: usize = 8;

/// One name of a peer, with where it came from and how often.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PeerName {
    /// The name.
    pub name: String,
    /// sni, http-host, dns, ...
    pub source: &'static str,
    /// Flows that carried it.
    pub flows: u64,
}

/// A remote address one sensor exchanged traffic with.
#[derive(Debug, Clone, Serialize)]
pub struct Peer {
    /// Sensor.
    pub sensor: String,
    /// Remote address.
    #[serde(serialize_with = "crate::model::ser_addr")]
    pub addr: Addr,
    /// Names, best provenance first, then most flows.
    pub names: Vec<PeerName>,
    /// More than one distinct name (a shared or CDN address).
    pub ambiguous: bool,
    /// Organisation: from the ASN database when given, else guessed from the best name's
    /// suffix.
    pub org: Option<String>,
    /// Autonomous system number (ASN database).
    pub asn: Option<u32>,
    /// Country ISO code (country database).
    pub country: Option<String>,
    /// Address class (interface-ID class, or the special-purpose block / transition kind).
    pub addr_class: String,
    /// Flows the sensor initiated.
    pub flows_out: u64,
    /// Flows the peer initiated.
    pub flows_in: u64,
    /// IP bytes the sensor sent to it.
    pub bytes_out: u64,
    /// IP bytes the sensor received from it.
    pub bytes_in: u64,
    /// First packet, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub first_ts: i64,
    /// Last packet, ns.
    #[serde(serialize_with = "crate::model::epoch")]
    pub last_ts: i64,
    /// Server ports of the flows the sensor initiated (up to 8).
    pub ports: Vec<u16>,
    /// Classes the flows were tagged with.
    pub classes: Vec<String>,
    /// Bit i set: seen in window i (see [`PeersAcc::new`]).
    pub windows: u64,
}

impl Peer {
    /// The best name, if any.
    pub fn name(&self) -> Option<&str> {
        self.names.first().map(|n| n.name.as_str())
    }
}

/// Peers of one sensor not kept individually because the table was full.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Folded {
    /// Sensor.
    pub sensor: String,
    /// Distinct peers folded (a peer folded, then seen again and folded again, counts twice).
    pub peers: u64,
    /// Their flows.
    pub flows: u64,
    /// Their IP bytes, both directions.
    pub bytes: u64,
}

/// Accumulates peers.
#[derive(Clone)]
pub struct PeersAcc {
    /// Keyed by sensor index (into `sensors`) and address; a peer's `sensor` is filled in by
    /// `finish` (one string per sensor, not two per peer).
    map: HashMap<(u16, Addr), Peer>,
    sensors: Vec<String>,
    windows: Vec<(i64, i64)>,
    /// Per sensor (same index): what was folded.
    folded: Vec<Folded>,
    /// Folding no longer frees room: new peers are folded directly.
    saturated: bool,
}

fn rank(source: &str) -> u8 {
    match source {
        "sni" | "quic-sni" => 0,
        "http-host" => 1,
        "dns" => 2,
        "hosts" => 3,
        _ => 4,
    }
}

impl PeersAcc {
    /// `windows`: time ranges (start, end) whose presence is recorded per peer (at most 64).
    pub fn new(windows: Vec<(i64, i64)>) -> PeersAcc {
        PeersAcc {
            map: HashMap::new(),
            sensors: vec![],
            windows: windows.into_iter().take(64).collect(),
            folded: vec![],
            saturated: false,
        }
    }

    /// Peers folded so far, per sensor that had any.
    pub fn folded(&self) -> Vec<Folded> {
        self.folded.iter().filter(|f| f.peers > 0).cloned().collect()
    }

    fn sensor_index(&mut self, sensor: &str) -> u16 {
        if let Some(i) = self.sensors.iter().position(|s| s == sensor) {
            return i as u16;
        }
        self.sensors.push(sensor.to_string());
        self.folded.push(Folded { sensor: sensor.to_string(), ..Folded::default() });
        (self.sensors.len() - 1) as u16
    }

    /// Folds the peers seen in one flow into their sensor's totals; stops trying when that
    /// frees less than 1/`MIN_FOLD_SHARE` of the table.
    fn fold_single_flow_peers(&mut self) {
        let before = self.map.len();
        let folded = &mut self.folded;
        self.map.retain(|(si, _), p| {
            if p.flows_in + p.flows_out > 1 {
                return true;
            }
            let f = &mut folded[usize::from(*si)];
            f.peers += 1;
            f.flows += p.flows_in + p.flows_out;
            f.bytes += p.bytes_in + p.bytes_out;
            false
        });
        if (before - self.map.len()) * MIN_FOLD_SHARE < MAX_PEERS {
            self.saturated = true;
        }
    }

    /// Adds one flow (outbound and inbound only: local and transit traffic has no sensor peer).
    pub fn flow(&mut self, sensor: &str, rec: &FlowRecord, class: &str) {
        let (remote, outbound) = match rec.role {
            Role::Outbound => (rec.resp_h, true),
            Role::Inbound => (rec.orig_h, false),
            _ => return,
        };
        let si = self.sensor_index(sensor);
        let key = (si, remote);
        if !self.map.contains_key(&key) && self.map.len() >= MAX_PEERS {
            if !self.saturated {
                self.fold_single_flow_peers();
            }
            if self.map.len() >= MAX_PEERS {
                let f = &mut self.folded[usize::from(si)];
                f.peers += 1;
                f.flows += 1;
                f.bytes += rec.orig.ip_bytes + rec.resp.ip_bytes;
                return;
            }
        }
        let windows = self
            .windows
            .iter()
            .enumerate()
            .filter(|(_, (s, e))| rec.ts < *e && rec.last_ts >= *s)
            .fold(0u64, |m, (i, _)| m | 1 << i);
        let p = self.map.entry(key).or_insert_with(|| Peer {
            sensor: String::new(),
            addr: remote,
            names: vec![],
            ambiguous: false,
            org: None,
            asn: None,
            country: None,
            addr_class: String::new(),
            flows_out: 0,
            flows_in: 0,
            bytes_out: 0,
            bytes_in: 0,
            first_ts: rec.ts,
            last_ts: rec.last_ts,
            ports: vec![],
            classes: vec![],
            windows: 0,
        });
        p.windows |= windows;
        p.first_ts = p.first_ts.min(rec.ts);
        p.last_ts = p.last_ts.max(rec.last_ts);
        let (sent, got) = if outbound { (&rec.orig, &rec.resp) } else { (&rec.resp, &rec.orig) };
        p.bytes_out += sent.ip_bytes;
        p.bytes_in += got.ip_bytes;
        if outbound {
            p.flows_out += 1;
            if p.ports.len() < 8 && !p.ports.contains(&rec.resp_p) {
                p.ports.push(rec.resp_p);
            }
        } else {
            p.flows_in += 1;
        }
        if !class.is_empty() && !p.classes.iter().any(|c| c == class) {
            p.classes.push(class.to_string());
        }
        if let (Some(n), Some(src)) = (&rec.server_name, rec.name_source) {
            if outbound {
                let n = n.to_ascii_lowercase();
                if let Some(x) = p.names.iter_mut().find(|x| x.name == n) {
                    x.flows += 1;
                    if rank(src) < rank(x.source) {
                        x.source = src;
                    }
                } else if p.names.len() < MAX_NAMES {
                    p.names.push(PeerName { name: n, source: src, flows: 1 });
                }
            }
        }
    }

    /// Every peer, ordered by sensor, then bytes exchanged (largest first).
    pub fn finish(self, intel: &super::addr::Intel) -> Vec<Peer> {
        let sensors = self.sensors;
        let mut v: Vec<Peer> = self
            .map
            .into_iter()
            .map(|((si, _), mut p)| {
                p.sensor = sensors[usize::from(si)].clone();
                p
            })
            .collect();
        for p in &mut v {
            p.names.sort_by(|a, b| {
                (rank(a.source), std::cmp::Reverse(a.flows), &a.name).cmp(&(
                    rank(b.source),
                    std::cmp::Reverse(b.flows),
                    &b.name,
                ))
            });
            p.ambiguous = p.names.len() > 1;
            p.org = p.names.iter().find_map(|n| org_of(&n.name)).map(str::to_string);
            let info = intel.describe(&p.addr);
            p.addr_class = match info.block {
                "global unicast" | "public" => format!("{}{}", info.class, if info.wordy { ", wordy" } else { "" }),
                b => format!("{b}; {}", info.class),
            };
            p.classes.sort();
        }
        v.sort_by(|a, b| {
            (&a.sensor, std::cmp::Reverse(a.bytes_in + a.bytes_out), a.addr).cmp(&(
                &b.sensor,
                std::cmp::Reverse(b.bytes_in + b.bytes_out),
                b.addr,
            ))
        });
        v
    }
}

/// Organisation of a name from well-known suffixes (used when no ASN database is given).
pub fn org_of(name: &str) -> Option<&'static str> {
    const ORGS: &[(&str, &str)] = &[
        ("google.com", "Google"),
        ("googleapis.com", "Google"),
        ("gstatic.com", "Google"),
        ("googleusercontent.com", "Google"),
        ("googlesyndication.com", "Google"),
        ("doubleclick.net", "Google"),
        ("youtube.com", "Google"),
        ("ytimg.com", "Google"),
        ("1e100.net", "Google"),
        ("mozilla.com", "Mozilla"),
        ("mozilla.org", "Mozilla"),
        ("mozilla.net", "Mozilla"),
        ("fedoraproject.org", "Fedora Project (Red Hat)"),
        ("redhat.com", "Red Hat"),
        ("jaist.ac.jp", "JAIST"),
        ("kddilabs.jp", "KDDI Labs"),
        ("iij.ad.jp", "IIJ"),
        ("2ch.net", "2ch"),
        ("facebook.com", "Meta"),
        ("fbcdn.net", "Meta"),
        ("microsoft.com", "Microsoft"),
        ("windowsupdate.com", "Microsoft"),
        ("apple.com", "Apple"),
        ("amazonaws.com", "Amazon"),
        ("amazon-adsystem.com", "Amazon"),
        ("cloudflare.com", "Cloudflare"),
        ("akamaiedge.net", "Akamai"),
        ("akamai.net", "Akamai"),
        ("twimg.com", "X (Twitter)"),
        ("redditmedia.com", "Reddit"),
        ("reddit.com", "Reddit"),
        ("wikipedia.org", "Wikimedia"),
    ];
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    ORGS.iter().find(|(suffix, _)| n == *suffix || n.ends_with(&format!(".{suffix}"))).map(|(_, o)| *o)
}

/// The registrable domain of a name (eTLD+1) by a small built-in list of two-label public
/// suffixes; good enough to group peers, not a Public Suffix List.
pub fn registrable_domain(name: &str) -> String {
    const TWO_LABEL: &[&str] = &[
        "ac.jp", "ad.jp", "co.jp", "ne.jp", "or.jp", "go.jp", "ed.jp", "gr.jp", "lg.jp", "co.uk", "org.uk", "ac.uk",
        "gov.uk", "com.au", "net.au", "org.au", "co.nz", "com.br", "com.cn", "net.cn", "co.kr", "co.in", "com.tw",
    ];
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = n.split('.').collect();
    if labels.len() <= 2 {
        return n;
    }
    let last2 = labels[labels.len() - 2..].join(".");
    let take = if TWO_LABEL.contains(&last2.as_str()) { 3 } else { 2 };
    labels[labels.len().saturating_sub(take)..].join(".")
}

/// The prefix of `a`: IPv6 cut to `bits_v6`, IPv4 to /24, in CIDR notation.
pub fn prefix(a: &Addr, bits_v6: u8) -> String {
    if a.version == 4 {
        let b = a.bytes;
        return format!("{}.{}.{}.0/24", b[0], b[1], b[2]);
    }
    let mut b = a.bytes;
    let bits = usize::from(bits_v6.min(128));
    for (i, x) in b.iter_mut().enumerate() {
        let keep = bits.saturating_sub(i * 8).min(8);
        *x &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
    }
    format!("{}/{bits}", std::net::Ipv6Addr::from(b))
}

/// Peers grouped by a key: member count, names, bytes.
#[derive(Debug, Clone, Serialize)]
pub struct PeerGroup {
    /// Sensor.
    pub sensor: String,
    /// The prefix or domain.
    pub key: String,
    /// Addresses in it.
    pub addresses: u64,
    /// Distinct best names (up to 8).
    pub names: Vec<String>,
    /// IP bytes both ways.
    pub bytes: u64,
    /// Flows both ways.
    pub flows: u64,
}

/// Groups `peers` by `key_of` (None: not grouped); groups ordered by sensor then bytes.
pub fn group(peers: &[Peer], key_of: impl Fn(&Peer) -> Option<String>) -> Vec<PeerGroup> {
    let mut map: HashMap<(String, String), PeerGroup> = HashMap::new();
    for p in peers {
        let Some(k) = key_of(p) else { continue };
        let g = map.entry((p.sensor.clone(), k.clone())).or_insert_with(|| PeerGroup {
            sensor: p.sensor.clone(),
            key: k,
            addresses: 0,
            names: vec![],
            bytes: 0,
            flows: 0,
        });
        g.addresses += 1;
        g.bytes += p.bytes_in + p.bytes_out;
        g.flows += p.flows_in + p.flows_out;
        if let Some(n) = p.name() {
            if g.names.len() < 8 && !g.names.iter().any(|x| x == n) {
                g.names.push(n.to_string());
            }
        }
    }
    let mut v: Vec<PeerGroup> = map.into_values().collect();
    v.iter_mut().for_each(|g| g.names.sort());
    v.sort_by(|a, b| {
        (&a.sensor, std::cmp::Reverse(a.bytes), &a.key).cmp(&(&b.sensor, std::cmp::Reverse(b.bytes), &b.key))
    });
    v
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn prefixes_domains_and_orgs() {
        let a = Addr::from_ip("2404:6800:4004:805::1000".parse().unwrap());
        assert_eq!(prefix(&a, 64), "2404:6800:4004:805::/64");
        assert_eq!(prefix(&a, 48), "2404:6800:4004::/48");
        assert_eq!(prefix(&Addr::from_ip("192.0.2.77".parse().unwrap()), 64), "192.0.2.0/24");
        assert_eq!(registrable_domain("ftp.jaist.ac.jp"), "jaist.ac.jp");
        assert_eq!(registrable_domain("safebrowsing.clients.google.com"), "google.com");
        assert_eq!(registrable_domain("localhost"), "localhost");
        assert_eq!(org_of("www.youtube.com"), Some("Google"));
        assert_eq!(org_of("notgoogle.com"), None);
    }
}

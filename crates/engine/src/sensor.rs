//! Sensor addresses (configured or inferred from the traffic) and flow roles.
//!
//! Inference: over the first packets of a sensor, the addresses present in at least half of the
//! IP packets are candidates. A sensor talks to many peers; a busy peer (a feed server the
//! sensor polls, a backup target) can fill half the packets too but talks to the sensor alone.
//! So when one candidate is a hub (at least [`HUB_PEERS`] distinct peers), a candidate with
//! fewer than a quarter of its peers is a peer, not the sensor, and so is one that only ever
//! arrived through a router's MAC while the hub was sent from a host's (loopback, which talks to
//! itself, always is the sensor's). Then every address sourced from
//! the same MAC as a sensor address (when that MAC sourced only a few addresses, i.e. it is a
//! host, not a router) is a sibling: typically the IPv4 address, the link-local address and
//! SLAAC/temporary IPv6 addresses.

use crate::decode::{Addr, Decoded};
use crate::model::{FlowRecord, Role};
use hashbrown::{HashMap, HashSet};
use wire::ipproto;

/// Frames looked at before deciding; the IP packets among them are the evidence. A frame count,
/// not an IP-packet count, so that workers which each see a share of the frames know without
/// talking to each other where the window ends (see [`Inference::merge`]). Records wait for the
/// decision (their roles depend on it), so the window also bounds how many are held: with
/// 200,000 frames a capture of short flows held ~200 k records (340 MB peak RSS on a 20 MB
/// file of one-packet flows); 50,000 frames are still far more than a sensor's address needs
/// to stand out.
pub const INFER_FRAMES: u64 = 50_000;
/// Capture time the window spans at most, from its first frame (ns): records wait for the
/// decision, so this is how long a stream (standard input, a live interface) stays silent
/// before its first records; a sensor's own addresses fill half its packets within seconds.
/// Frames at or after it are not evidence, whatever their number; a quiet source's ticks close
/// the window too.
pub const INFER_SPAN: i64 = 5_000_000_000;
/// A MAC that sourced more addresses than this is a router or a NAT, not the sensor.
const MAX_HOST_ADDRS: usize = 16;
/// Distinct peers that make a candidate a hub, against which the other candidates are weighed.
/// Below it (a capture of one or two conversations) every candidate is kept: nothing tells the
/// sensor from its peer.
pub const HUB_PEERS: usize = 3;
/// Distinct peers counted per candidate, at most (enough to compare; bounds the work).
const PEER_CAP: usize = 4096;

/// One sensor address and why it is one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SensorAddr {
    /// The address.
    #[serde(serialize_with = "crate::model::ser_addr")]
    pub addr: Addr,
    /// How it was decided, in words.
    pub reason: String,
}

/// Collects evidence, then decides. Memory is bounded by the window, not by caps: a window of
/// [`INFER_FRAMES`] frames names at most two addresses and one MAC per frame. (Caps on distinct
/// addresses would make the result depend on which packets came first, so on how frames were
/// shared among workers; without them the evidence of several workers merges exactly.)
#[derive(Default)]
pub struct Inference {
    packets: u64,
    /// The (source, destination) of the window's IP packets, an address that cannot be the
    /// sensor's (multicast, broadcast, unspecified) written as `Addr::default()`; counted only
    /// when deciding: appending is sequential, while a map keyed by address missed the cache
    /// on nearly every packet of a busy or scanned network (3 % of all CPU time).
    pairs: Vec<[Addr; 2]>,
    /// (MAC, source address) pairs: per MAC its first `MAX_HOST_ADDRS + 1` addresses.
    mac_pairs: HashSet<([u8; 6], Addr)>,
    /// Per MAC: its addresses in `mac_pairs`.
    per_mac: HashMap<[u8; 6], u8>,
}

fn countable(a: &Addr) -> bool {
    !a.is_multicast_or_broadcast() && !a.is_unspecified()
}

fn mac_str(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

impl Inference {
    /// Looks at one decoded packet.
    pub fn observe(&mut self, d: &Decoded<'_>) {
        let Some(net) = d.net else { return };
        self.packets += 1;
        let keep = |a: Addr| if countable(&a) { a } else { Addr::default() };
        self.pairs.push([keep(net.src), keep(net.dst)]);
        if let (Some(mac), true) = (d.src_mac, d.tunnel.is_none() && countable(&net.src)) {
            self.mac_source(mac, net.src);
        }
    }

    fn mac_source(&mut self, mac: [u8; 6], addr: Addr) {
        let n = self.per_mac.entry(mac).or_insert(0);
        // One past the limit is enough to know the MAC is not a host's.
        if usize::from(*n) <= MAX_HOST_ADDRS && self.mac_pairs.insert((mac, addr)) {
            *n += 1;
        }
    }

    /// Adds another share of the same window's evidence. Exact: packet counts add up, and a
    /// MAC's address set is the union of the shares' (a share that stopped at the limit makes
    /// the union reach it too).
    pub fn merge(&mut self, other: Inference) {
        self.packets += other.packets;
        self.pairs.extend_from_slice(&other.pairs);
        let mut pairs: Vec<([u8; 6], Addr)> = other.mac_pairs.into_iter().collect();
        // Sorted so the union does not depend on the other share's hash order.
        pairs.sort_unstable();
        for (mac, addr) in pairs {
            self.mac_source(mac, addr);
        }
    }

    /// The window's countable addresses, two per packet at most.
    fn addrs(&self) -> impl Iterator<Item = &Addr> {
        self.pairs.iter().flatten().filter(|a| a.version != 0)
    }

    /// Distinct addresses `a` exchanged packets with (at most [`PEER_CAP`]; the count does not
    /// depend on the order either: the cap applies to a set).
    fn distinct_peers(&self, a: &Addr) -> usize {
        let mut peers: HashSet<Addr> = HashSet::new();
        for [s, d] in &self.pairs {
            let peer = if s == a {
                d
            } else if d == a {
                s
            } else {
                continue;
            };
            if peer.version != 0 && peer != a && peers.len() < PEER_CAP {
                peers.insert(*peer);
            }
        }
        peers.len()
    }

    /// The addresses in at least half of the packets, with their exact counts. Two passes over
    /// the addresses: Misra–Gries with four counters keeps every address making up more than
    /// a fifth of them, which includes every address in half of the packets (a packet names at
    /// most two); then the candidates are counted exactly. Neither depends on the order.
    fn heavy(&self) -> Vec<(Addr, u64)> {
        let mut cand: Vec<(Addr, u64)> = Vec::with_capacity(4);
        for a in self.addrs() {
            if let Some(c) = cand.iter_mut().find(|c| c.0 == *a) {
                c.1 += 1;
            } else if cand.len() < 4 {
                cand.push((*a, 1));
            } else {
                cand.iter_mut().for_each(|c| c.1 -= 1);
                cand.retain(|c| c.1 > 0);
            }
        }
        cand.iter_mut().for_each(|c| c.1 = 0);
        for a in self.addrs() {
            if let Some(c) = cand.iter_mut().find(|c| c.0 == *a) {
                c.1 += 1;
            }
        }
        cand.retain(|(_, n)| n * 2 >= self.packets);
        cand.sort();
        cand
    }

    /// Decides the sensor's addresses.
    pub fn decide(&self) -> Vec<SensorAddr> {
        if self.packets == 0 {
            return vec![];
        }
        let heavy: Vec<(Addr, u64, usize)> =
            self.heavy().into_iter().map(|(a, n)| (a, n, self.distinct_peers(&a))).collect();
        let host = |mac: &[u8; 6]| self.per_mac.get(mac).is_some_and(|n| usize::from(*n) <= MAX_HOST_ADDRS);
        let from_host = |a: &Addr| self.mac_pairs.iter().any(|(m, b)| b == a && host(m));
        let any_from_host = heavy.iter().any(|c| from_host(&c.0));
        // The hub: most peers, then sent from a host's MAC, then most packets.
        let hub_addr = heavy.iter().max_by_key(|c| (c.2, from_host(&c.0), c.1, c.0)).map(|c| c.0);
        let hub = heavy.iter().map(|c| c.2).max().unwrap_or(0);
        // Kept: loopback; everything when no candidate is a hub; else a candidate with at least
        // a quarter of the hub's peers that was sent from a host's MAC (or that is the hub,
        // or when no candidate was: captures without MACs, or behind a router).
        let primary: Vec<(Addr, u64, usize)> = heavy
            .into_iter()
            .filter(|c| {
                c.0.is_loopback()
                    || hub < HUB_PEERS
                    || Some(c.0) == hub_addr
                    || (c.2 * 4 >= hub && (!any_from_host || from_host(&c.0)))
            })
            .collect();
        let mut out: Vec<SensorAddr> = primary
            .iter()
            .map(|(a, n, peers)| SensorAddr {
                addr: *a,
                reason: format!(
                    "in {:.0}% of the first {} IP packets, with {}{} distinct peers",
                    *n as f64 * 100.0 / self.packets as f64,
                    self.packets,
                    if *peers >= PEER_CAP { "≥ " } else { "" },
                    peers
                ),
            })
            .collect();
        // The host MACs (few addresses) that sourced a primary address; their other addresses.
        let mut macs: Vec<[u8; 6]> = self
            .mac_pairs
            .iter()
            .filter(|(mac, a)| host(mac) && primary.iter().any(|(p, ..)| p == a))
            .map(|(mac, _)| *mac)
            .collect();
        macs.sort();
        macs.dedup();
        for mac in macs {
            let mut sib: Vec<Addr> = self
                .mac_pairs
                .iter()
                .filter(|(m, a)| *m == mac && !out.iter().any(|s| s.addr == *a))
                .map(|(_, a)| *a)
                .collect();
            sib.sort();
            for a in sib {
                out.push(SensorAddr { addr: a, reason: format!("sent from the sensor's MAC {}", mac_str(&mac)) });
            }
        }
        out
    }
}

/// Role of a flow given the sensor's addresses.
pub fn role(rec: &FlowRecord, sensor: &HashSet<Addr>) -> Role {
    let (o, r) = (&rec.orig_h, &rec.resp_h);
    let infra_icmp6 = rec.ip_proto == ipproto::ICMPV6 && wire::icmp::v6::is_infrastructure(rec.orig_p as u8);
    let infra_udp = rec.ip_proto == ipproto::UDP
        && (matches!(rec.resp_p, 67 | 68 | 546 | 547)
            || (matches!(rec.resp_p, 5353 | 5355) && (r.is_multicast_or_broadcast() || r.is_link_local())));
    if r.is_multicast_or_broadcast()
        || infra_icmp6
        || infra_udp
        || (o.is_link_local() && r.is_link_local())
        || o.is_unspecified()
    {
        Role::Local
    } else if sensor.contains(o) {
        Role::Outbound
    } else if sensor.contains(r) {
        Role::Inbound
    } else {
        Role::Transit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-pass count finds exactly the addresses a full count finds, whatever the mix and
    /// order: planted heavy addresses near the threshold among many light ones.
    #[test]
    fn heavy_addresses_match_a_full_count() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200 {
            let packets = 1 + next() % 3000;
            // Heavy addresses appear in roughly these shares of the packets (some just under half).
            let shares = [next() % 101, next() % 101, if round % 3 == 0 { 50 } else { next() % 60 }];
            let mut inf = Inference { packets, ..Inference::default() };
            for _ in 0..packets {
                let mut pair = [Addr::default(); 2];
                let mut named = 0;
                for (k, share) in shares.iter().enumerate() {
                    if named < 2 && next() % 100 < *share {
                        pair[named] = Addr::v4([10, 0, 0, k as u8]);
                        named += 1;
                    }
                }
                while named < 2 && next() % 4 != 0 {
                    pair[named] = Addr::v4([192, 168, (next() % 4) as u8, (next() % 256) as u8]);
                    named += 1;
                }
                inf.pairs.push(pair);
            }
            let mut full: HashMap<Addr, u64> = HashMap::new();
            for a in inf.addrs() {
                *full.entry(*a).or_default() += 1;
            }
            let mut want: Vec<(Addr, u64)> = full.into_iter().filter(|(_, n)| n * 2 >= packets).collect();
            want.sort();
            assert_eq!(inf.heavy(), want, "round {round}");
            // Split in two shares (as two workers would) and merged: the same.
            let cut = (next() as usize) % (inf.pairs.len() + 1);
            let mut a = Inference { packets: packets / 2, pairs: inf.pairs[..cut].to_vec(), ..Inference::default() };
            let b =
                Inference { packets: packets - packets / 2, pairs: inf.pairs[cut..].to_vec(), ..Inference::default() };
            a.merge(b);
            assert_eq!(a.heavy(), want, "round {round}, merged");
        }
    }

    /// A feed server the sensor polls can fill half the packets; it talks to the sensor alone,
    /// the sensor to many: only the sensor is kept. In a capture of one conversation both are.
    #[test]
    fn a_busy_peer_is_not_the_sensor() {
        let sensor = Addr::v4([192, 0, 2, 11]);
        let feed = Addr::v4([198, 51, 100, 70]);
        let mut inf = Inference::default();
        for k in 0..1000u32 {
            let pair = if k % 2 == 0 { [sensor, feed] } else { [Addr::v4([203, 0, 113, (k % 200) as u8]), sensor] };
            inf.pairs.push(pair);
            inf.packets += 1;
        }
        let got: Vec<Addr> = inf.decide().into_iter().map(|s| s.addr).collect();
        assert_eq!(got, vec![sensor]);
        // Busy on both sides with many peers too, but only ever arriving through the router
        // (a MAC that sourced many addresses), while the sensor sends from its own MAC.
        let (me, router) = ([2, 0, 0, 0, 0, 11], [2, 0, 0, 0, 0, 1]);
        let mut inf = Inference::default();
        for k in 0..1200u32 {
            let other = Addr::v4([203, 0, 113, (k % 100) as u8]);
            let pair = match k % 3 {
                0 => [sensor, feed],
                1 => [feed, other],
                _ => [sensor, other],
            };
            inf.mac_source(if pair[0] == sensor { me } else { router }, pair[0]);
            inf.mac_source(router, other);
            inf.pairs.push(pair);
            inf.packets += 1;
        }
        let got: Vec<Addr> = inf.decide().into_iter().map(|s| s.addr).collect();
        assert_eq!(got, vec![sensor]);
        let mut two = Inference::default();
        for _ in 0..10 {
            two.pairs.push([sensor, feed]);
            two.packets += 1;
        }
        let mut got: Vec<Addr> = two.decide().into_iter().map(|s| s.addr).collect();
        got.sort();
        assert_eq!(got, vec![sensor, feed]);
    }
}

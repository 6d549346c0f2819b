//! Sensor addresses (configured or inferred from the traffic) and flow roles.
//!
//! Inference: over the first packets of a sensor, the addresses present in at least half of the
//! IP packets are the sensor's; then every address sourced from the same MAC as one of those
//! (when that MAC sourced only a few addresses, i.e. it is a host, not a router) is a sibling:
//! typically the IPv4 address, the link-local address and SLAAC/temporary IPv6 addresses.

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
/// A MAC that sourced more addresses than this is a router or a NAT, not the sensor.
const MAX_HOST_ADDRS: usize = 16;

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
    /// The countable addresses of the window's IP packets (two per packet at most), counted
    /// only when deciding: appending is sequential, while a map keyed by address missed the
    /// cache on nearly every packet of a busy or scanned network (3 % of all CPU time).
    addrs: Vec<Addr>,
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
        for a in [net.src, net.dst] {
            if countable(&a) {
                self.addrs.push(a);
            }
        }
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
        self.addrs.extend_from_slice(&other.addrs);
        let mut pairs: Vec<([u8; 6], Addr)> = other.mac_pairs.into_iter().collect();
        // Sorted so the union does not depend on the other share's hash order.
        pairs.sort_unstable();
        for (mac, addr) in pairs {
            self.mac_source(mac, addr);
        }
    }

    /// The addresses in at least half of the packets, with their exact counts. Two passes over
    /// the addresses: Misra–Gries with four counters keeps every address making up more than
    /// a fifth of them, which includes every address in half of the packets (a packet names at
    /// most two); then the candidates are counted exactly. Neither depends on the order.
    fn heavy(&self) -> Vec<(Addr, u64)> {
        let mut cand: Vec<(Addr, u64)> = Vec::with_capacity(4);
        for a in &self.addrs {
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
        for a in &self.addrs {
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
        let primary = self.heavy();
        let mut out: Vec<SensorAddr> = primary
            .iter()
            .map(|(a, n)| SensorAddr {
                addr: *a,
                reason: format!(
                    "in {:.0}% of the first {} IP packets",
                    *n as f64 * 100.0 / self.packets as f64,
                    self.packets
                ),
            })
            .collect();
        // The host MACs (few addresses) that sourced a primary address; their other addresses.
        let host = |mac: &[u8; 6]| self.per_mac.get(mac).is_some_and(|n| usize::from(*n) <= MAX_HOST_ADDRS);
        let mut macs: Vec<[u8; 6]> = self
            .mac_pairs
            .iter()
            .filter(|(mac, a)| host(mac) && primary.iter().any(|(p, _)| p == a))
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
                let mut named = 0;
                for (k, share) in shares.iter().enumerate() {
                    if named < 2 && next() % 100 < *share {
                        inf.addrs.push(Addr::v4([10, 0, 0, k as u8]));
                        named += 1;
                    }
                }
                while named < 2 && next() % 4 != 0 {
                    inf.addrs.push(Addr::v4([192, 168, (next() % 4) as u8, (next() % 256) as u8]));
                    named += 1;
                }
            }
            let mut full: HashMap<Addr, u64> = HashMap::new();
            for a in &inf.addrs {
                *full.entry(*a).or_default() += 1;
            }
            let mut want: Vec<(Addr, u64)> = full.into_iter().filter(|(_, n)| n * 2 >= packets).collect();
            want.sort();
            assert_eq!(inf.heavy(), want, "round {round}");
            // Split in two shares (as two workers would) and merged: the same.
            let cut = (next() as usize) % (inf.addrs.len() + 1);
            let mut a = Inference { packets: packets / 2, addrs: inf.addrs[..cut].to_vec(), ..Inference::default() };
            let b =
                Inference { packets: packets - packets / 2, addrs: inf.addrs[cut..].to_vec(), ..Inference::default() };
            a.merge(b);
            assert_eq!(a.heavy(), want, "round {round}, merged");
        }
    }
}

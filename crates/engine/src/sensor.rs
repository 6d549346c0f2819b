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
/// talking to each other where the window ends (see [`Inference::merge`]).
pub const INFER_FRAMES: u64 = 200_000;
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
    /// Per address: the IP packets it was in.
    per_addr: HashMap<Addr, u64>,
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
                *self.per_addr.entry(a).or_insert(0) += 1;
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
        for (a, n) in other.per_addr {
            *self.per_addr.entry(a).or_insert(0) += n;
        }
        let mut pairs: Vec<([u8; 6], Addr)> = other.mac_pairs.into_iter().collect();
        // Sorted so the union does not depend on the other share's hash order.
        pairs.sort_unstable();
        for (mac, addr) in pairs {
            self.mac_source(mac, addr);
        }
    }

    /// Decides the sensor's addresses.
    pub fn decide(&self) -> Vec<SensorAddr> {
        if self.packets == 0 {
            return vec![];
        }
        let mut primary: Vec<(Addr, u64)> =
            self.per_addr.iter().filter(|(_, n)| **n * 2 >= self.packets).map(|(a, n)| (*a, *n)).collect();
        primary.sort();
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

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

/// Packets looked at before deciding.
pub const INFER_PACKETS: u64 = 200_000;
/// Distinct addresses counted at most (a scan must not grow memory).
const MAX_TRACKED: usize = 65_536;
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

/// Collects evidence, then decides.
#[derive(Default)]
pub struct Inference {
    packets: u64,
    per_addr: HashMap<Addr, u64>,
    mac_addrs: HashMap<[u8; 6], HashSet<Addr>>,
    done: bool,
}

fn countable(a: &Addr) -> bool {
    !a.is_multicast_or_broadcast() && !a.is_unspecified()
}

fn mac_str(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

impl Inference {
    /// Whether enough packets have been seen.
    pub fn is_done(&self) -> bool {
        self.done || self.packets >= INFER_PACKETS
    }

    /// Looks at one decoded packet.
    pub fn observe(&mut self, d: &Decoded<'_>) {
        let Some(net) = d.net else { return };
        self.packets += 1;
        for a in [net.src, net.dst] {
            if countable(&a) {
                if let Some(n) = self.per_addr.get_mut(&a) {
                    *n += 1;
                } else if self.per_addr.len() < MAX_TRACKED {
                    self.per_addr.insert(a, 1);
                }
            }
        }
        if let (Some(mac), true) = (d.src_mac, d.tunnel.is_none() && countable(&net.src)) {
            if self.mac_addrs.len() < MAX_TRACKED {
                let set = self.mac_addrs.entry(mac).or_default();
                if set.len() <= MAX_HOST_ADDRS {
                    set.insert(net.src);
                }
            }
        }
    }

    /// Decides the sensor's addresses.
    pub fn decide(&mut self) -> Vec<SensorAddr> {
        self.done = true;
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
        let mut macs: Vec<(&[u8; 6], &HashSet<Addr>)> = self
            .mac_addrs
            .iter()
            .filter(|(_, set)| set.len() <= MAX_HOST_ADDRS && primary.iter().any(|(p, _)| set.contains(p)))
            .collect();
        macs.sort_by_key(|(m, _)| **m);
        for (mac, set) in macs {
            let mut sib: Vec<&Addr> = set.iter().filter(|a| !out.iter().any(|s| s.addr == **a)).collect();
            sib.sort();
            for a in sib {
                out.push(SensorAddr { addr: *a, reason: format!("sent from the sensor's MAC {}", mac_str(mac)) });
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

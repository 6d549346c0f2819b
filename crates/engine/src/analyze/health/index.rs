//! The attempts indexed once, so that no rule scans every attempt per item: per service (its
//! attempts in time order), per name, and IPv6 attempts per server address.

use super::Attempt;
use crate::decode::Addr;
use hashbrown::HashMap;

/// A service: (sensor index, service label, port).
pub(super) type ServiceKey = (u16, String, u16);

pub(super) struct Index<'a> {
    /// Every attempt with its sensor index, in time order (ts, uid).
    pub attempts: &'a [(u16, Attempt)],
    /// Positions of each service's attempts, in time order.
    pub by_service: HashMap<ServiceKey, Vec<usize>>,
    /// The services, sorted.
    pub keys: Vec<ServiceKey>,
    by_name: HashMap<(u16, &'a str), Vec<usize>>,
    v6_by_server: HashMap<(u16, Addr), Vec<usize>>,
}

impl<'a> Index<'a> {
    pub fn new(attempts: &'a [(u16, Attempt)]) -> Self {
        let mut by_service: HashMap<ServiceKey, Vec<usize>> = HashMap::new();
        let mut by_name: HashMap<(u16, &str), Vec<usize>> = HashMap::new();
        let mut v6_by_server: HashMap<(u16, Addr), Vec<usize>> = HashMap::new();
        for (i, (si, a)) in attempts.iter().enumerate() {
            let (n, p) = a.service_key();
            by_service.entry((*si, n, p)).or_default().push(i);
            if let Some(n) = a.name.as_deref() {
                by_name.entry((*si, n)).or_default().push(i);
            }
            if a.family == 6 {
                v6_by_server.entry((*si, a.server)).or_default().push(i);
            }
        }
        let mut keys: Vec<_> = by_service.keys().cloned().collect();
        keys.sort();
        Index { attempts, by_service, keys, by_name, v6_by_server }
    }

    /// The attempts of a list (time-ordered positions) starting inside [from, to].
    pub fn window(&self, list: &[usize], from: i64, to: i64) -> Vec<usize> {
        let lo = list.partition_point(|&j| self.attempts[j].1.ts < from);
        let hi = list.partition_point(|&j| self.attempts[j].1.ts <= to);
        list[lo..hi.max(lo)].to_vec()
    }

    /// The attempts to `name` of sensor `si` starting inside [from, to].
    pub fn named(&self, si: u16, name: &str, from: i64, to: i64) -> Vec<usize> {
        let list = self.by_name.get(&(si, name)).map_or(&[][..], |v| v.as_slice());
        self.window(list, from, to)
    }

    /// Whether sensor `si` tried IPv6 to `server` inside [from, to].
    pub fn v6_tried(&self, si: u16, server: Addr, from: i64, to: i64) -> bool {
        self.v6_by_server.get(&(si, server)).is_some_and(|v| !self.window(v, from, to).is_empty())
    }
}

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
    /// Each service, sorted, with the positions of its attempts in time order.
    pub services: Vec<(ServiceKey, Vec<usize>)>,
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
        let mut services: Vec<_> = by_service.into_iter().collect();
        services.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Index { attempts, services, by_name, v6_by_server }
    }

    /// The attempts of a list (time-ordered positions) starting inside [from, to].
    pub fn window<'l>(&self, list: &'l [usize], from: i64, to: i64) -> &'l [usize] {
        let lo = list.partition_point(|&j| self.attempts[j].1.ts < from);
        let hi = list.partition_point(|&j| self.attempts[j].1.ts <= to);
        &list[lo..hi.max(lo)]
    }

    /// The attempts to `name` of sensor `si` starting inside [from, to].
    pub fn named<'s>(&'s self, si: u16, name: &str, from: i64, to: i64) -> &'s [usize] {
        let list = self.by_name.get(&NameKey(si, name)).map_or(&[][..], |v| v.as_slice());
        self.window(list, from, to)
    }

    /// Whether sensor `si` tried IPv6 to `server` inside [from, to].
    pub fn v6_tried(&self, si: u16, server: Addr, from: i64, to: i64) -> bool {
        self.v6_by_server.get(&(si, server)).is_some_and(|v| !self.window(v, from, to).is_empty())
    }
}

/// A `by_name` key borrowed for one lookup (the map's own keys live as long as the attempts;
/// the name looked up may not).
#[derive(Hash)]
struct NameKey<'n>(u16, &'n str);

impl<'a> hashbrown::Equivalent<(u16, &'a str)> for NameKey<'_> {
    fn equivalent(&self, key: &(u16, &'a str)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

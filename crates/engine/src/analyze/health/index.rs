//! The attempts indexed once, so that no rule scans every attempt per item: per service (its
//! attempts in time order), per name, and IPv6 attempts per server address.

use super::Attempt;
use crate::decode::Addr;
use hashbrown::HashMap;
use std::ops::Range;

/// A service: (sensor index, service label, port).
pub(super) type ServiceKey = (u16, String, u16);

/// A service and where the positions of its attempts are in [`Index::lists`].
type Service = (ServiceKey, Range<usize>);

/// How many services ahead of the one read [`Index::services`] prefetches attempts, and how
/// many of each service's.
const PREFETCH_AHEAD: usize = 6;
const PREFETCH_ATTEMPTS: usize = 8;

pub(super) struct Index<'a> {
    /// Every attempt with its sensor index, in time order (ts, uid).
    pub attempts: &'a [(u16, Attempt)],
    /// Each service, sorted, with where its attempts' positions are in `lists`.
    services: Vec<Service>,
    /// Per service: the positions of its attempts, in time order.
    lists: Vec<usize>,
    by_name: Groups<(u16, &'a str)>,
    v6_by_server: Groups<(u16, Addr)>,
}

impl<'a> Index<'a> {
    pub fn new(attempts: &'a [(u16, Attempt)]) -> Self {
        let (services, flat) = group_services(attempts);
        let by_name = Groups::new(attempts.iter().map(|(si, a)| a.name.as_deref().map(|n| (*si, n))));
        let v6_by_server = Groups::new(attempts.iter().map(|(si, a)| (a.family == 6).then_some((*si, a.server))));
        Index { attempts, services, lists: flat, by_name, v6_by_server }
    }

    /// Each service (sorted by sensor, label and port) with the positions of its attempts in
    /// time order.
    pub fn services(&self) -> impl Iterator<Item = (&ServiceKey, &[usize])> {
        self.services.iter().enumerate().map(|(at, (k, r))| {
            // A service's attempts lie scattered among all the others' (services are in label
            // order, attempts in time order): those of a service a few places on are asked for
            // now, so that their cache misses overlap with this one's work.
            if let Some((_, ahead)) = self.services.get(at + PREFETCH_AHEAD) {
                for &j in self.lists[ahead.clone()].iter().take(PREFETCH_ATTEMPTS) {
                    let a: *const (u16, Attempt) = &self.attempts[j];
                    crate::prefetch::bytes(a.cast(), std::mem::size_of::<(u16, Attempt)>());
                }
            }
            (k, &self.lists[r.clone()])
        })
    }

    /// How many services there are.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// The attempts of a list (time-ordered positions) starting inside [from, to].
    pub fn window<'l>(&self, list: &'l [usize], from: i64, to: i64) -> &'l [usize] {
        let lo = list.partition_point(|&j| self.attempts[j].1.ts < from);
        let hi = list.partition_point(|&j| self.attempts[j].1.ts <= to);
        &list[lo..hi.max(lo)]
    }

    /// The attempts to `name` of sensor `si` starting inside [from, to].
    pub fn named<'s>(&'s self, si: u16, name: &str, from: i64, to: i64) -> &'s [usize] {
        self.window(self.by_name.get(&NameKey(si, name)), from, to)
    }

    /// Whether sensor `si` tried IPv6 to `server` inside [from, to].
    pub fn v6_tried(&self, si: u16, server: Addr, from: i64, to: i64) -> bool {
        !self.window(self.v6_by_server.get(&(si, server)), from, to).is_empty()
    }
}

/// Each service, sorted, with where its attempts' positions are in the list returned beside.
fn group_services(attempts: &[(u16, Attempt)]) -> (Vec<Service>, Vec<usize>) {
    // Grouped first by what a service's label is made of (its name, else its address),
    // borrowed: labels are made once per service, not once per attempt.
    let by_ref = Groups::new(
        attempts
            .iter()
            .map(|(si, a)| Some((*si, a.name.as_deref().map_or(Label::Server(a.server), Label::Name), a.port))),
    );
    let Groups { ids, starts, mut flat } = by_ref;
    let mut services: Vec<Service> = ids
        .into_iter()
        .map(|((si, label, port), g)| {
            let label = match label {
                Label::Name(n) => n.to_string(),
                Label::Server(a) => super::service_label(None, &a),
            };
            let g = g as usize;
            ((si, label, port), starts[g] as usize..starts[g + 1] as usize)
        })
        .collect();
    services.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    // A name written as an address (stored records may carry one) labels the same
    // service as that address: one entry, its attempts merged in time order (after the
    // others in `flat`).
    services.dedup_by(|later, first| {
        if later.0 != first.0 {
            return false;
        }
        let mut merged: Vec<usize> = flat[first.1.clone()].iter().chain(&flat[later.1.clone()]).copied().collect();
        merged.sort_unstable();
        first.1 = flat.len()..flat.len() + merged.len();
        flat.extend(merged);
        true
    });
    (services, flat)
}

/// Attempts grouped by a key, the positions of each group's attempts in one flat list (a few
/// allocations, not one growing list per service: a busy sensor's attempts have tens of
/// thousands of services, an address a scan touched each).
struct Groups<K> {
    /// Each key and its group's number (groups are numbered in order of first appearance).
    ids: HashMap<K, u32>,
    /// Group `g`'s positions are `flat[starts[g]..starts[g + 1]]`.
    starts: Vec<u32>,
    flat: Vec<usize>,
}

impl<K: std::hash::Hash + Eq> Groups<K> {
    /// From each attempt's key in time order (`None`: in no group); each group's positions
    /// come out in that order.
    fn new(keys: impl ExactSizeIterator<Item = Option<K>>) -> Self {
        let mut ids: HashMap<K, u32> = HashMap::new();
        let mut group_of: Vec<u32> = Vec::with_capacity(keys.len());
        let mut sizes: Vec<u32> = Vec::new();
        for k in keys {
            let Some(k) = k else {
                group_of.push(u32::MAX);
                continue;
            };
            let next = sizes.len() as u32;
            let g = *ids.entry(k).or_insert(next);
            if g == next {
                sizes.push(0);
            }
            sizes[g as usize] += 1;
            group_of.push(g);
        }
        let mut starts = Vec::with_capacity(sizes.len() + 1);
        let mut at = 0u32;
        for n in &sizes {
            starts.push(at);
            at += n;
        }
        starts.push(at);
        // Each group's next free place, filled in time order.
        let mut next = starts[..sizes.len()].to_vec();
        let mut flat = vec![0usize; at as usize];
        for (i, &g) in group_of.iter().enumerate() {
            if let Some(n) = next.get_mut(g as usize) {
                flat[*n as usize] = i;
                *n += 1;
            }
        }
        Groups { ids, starts, flat }
    }

    /// The positions of `key`'s group, in time order (empty when it has none).
    fn get<Q: std::hash::Hash + hashbrown::Equivalent<K> + ?Sized>(&self, key: &Q) -> &[usize] {
        match self.ids.get(key) {
            Some(&g) => &self.flat[self.starts[g as usize] as usize..self.starts[g as usize + 1] as usize],
            None => &[],
        }
    }
}

/// What a service's label is made of.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Label<'a> {
    Name(&'a str),
    Server(Addr),
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

#[cfg(test)]
mod test {
    use super::super::{Attempt, Outcome};
    use super::Index;
    use crate::decode::Addr;

    fn attempt(uid: &str, ts: i64, server: Addr, name: Option<&str>) -> (u16, Attempt) {
        let a = Attempt {
            uid: uid.into(),
            ts,
            server,
            port: 443,
            family: server.version,
            name: name.map(str::to_string),
            outcome: Outcome::Established,
            error_ts: None,
            icmp: None,
            synack_ts: Some(ts + 1),
            syns: 1,
            resp_bytes: 1,
            rst_injected: false,
        };
        (0, a)
    }

    /// A service is its label: the name, else the address as written. A stored record whose
    /// name is that address text lands in the same service, its attempts in time order.
    #[test]
    fn one_service_per_label_in_time_order() {
        let v4 = Addr::v4([192, 0, 2, 1]);
        let v6 = Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let attempts = [
            attempt("C1", 1, v4, None),
            attempt("C2", 2, v4, Some("192.0.2.1")),
            attempt("C3", 3, v6, None),
            attempt("C4", 4, v4, Some("example.org")),
            attempt("C5", 5, v6, Some("example.org")),
            attempt("C6", 6, v4, None),
        ];
        let ix = Index::new(&attempts);
        let got: Vec<(&str, &[usize])> = ix.services().map(|(k, v)| (k.1.as_str(), v)).collect();
        assert_eq!(got, [("192.0.2.1", &[0, 1, 5][..]), ("[2001:db8::1]", &[2][..]), ("example.org", &[3, 4][..])]);
    }
}

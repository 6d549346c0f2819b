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
        // Grouped first by what a service's label is made of (its name, else its address),
        // borrowed: labels are made once per service, not once per attempt.
        let mut by_ref: HashMap<(u16, Label<'a>, u16), Vec<usize>> = HashMap::new();
        let mut by_name: HashMap<(u16, &str), Vec<usize>> = HashMap::new();
        let mut v6_by_server: HashMap<(u16, Addr), Vec<usize>> = HashMap::new();
        for (i, (si, a)) in attempts.iter().enumerate() {
            let label = a.name.as_deref().map_or(Label::Server(a.server), Label::Name);
            by_ref.entry((*si, label, a.port)).or_default().push(i);
            if let Some(n) = a.name.as_deref() {
                by_name.entry((*si, n)).or_default().push(i);
            }
            if a.family == 6 {
                v6_by_server.entry((*si, a.server)).or_default().push(i);
            }
        }
        let mut services: Vec<(ServiceKey, Vec<usize>)> = by_ref
            .into_iter()
            .map(|((si, label, port), idx)| {
                let label = match label {
                    Label::Name(n) => n.to_string(),
                    Label::Server(a) => super::service_label(None, &a),
                };
                ((si, label, port), idx)
            })
            .collect();
        services.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // A name written as an address (stored records may carry one) labels the same
        // service as that address: one entry, its attempts in time order.
        services.dedup_by(|later, first| {
            if later.0 != first.0 {
                return false;
            }
            first.1.append(&mut later.1);
            first.1.sort_unstable();
            true
        });
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
        let got: Vec<(&str, &[usize])> = ix.services.iter().map(|(k, v)| (k.1.as_str(), v.as_slice())).collect();
        assert_eq!(got, [("192.0.2.1", &[0, 1, 5][..]), ("[2001:db8::1]", &[2][..]), ("example.org", &[3, 4][..])]);
    }
}

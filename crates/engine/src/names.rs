//! Names for addresses, learned from the capture itself: a DNS answer that a client received
//! binds the answered address to the name the client asked for (through any CNAME chain), for
//! that client, from the answer's time until TTL + 5 minutes later (DOMAIN.md §3.2 P2). A flow
//! from that client to that address starting inside the window gets the name with provenance
//! `dns`. Flows' own SNI or HTTP Host win over it.

use crate::decode::Addr;
use crate::model::DnsEvent;
use hashbrown::HashMap;

/// Grace after the TTL during which a binding still names flows.
const GRACE_NS: i64 = 300_000_000_000;
/// (client, address) pairs remembered at most; more are not learned (bounded memory).
const MAX_PAIRS: usize = 1 << 20;
/// Names kept per pair.
const MAX_NAMES: usize = 8;

#[derive(Debug, Clone)]
struct Binding {
    name: String,
    from: i64,
    until: i64,
}

/// Bindings of (client, server address) → names over time.
#[derive(Default, Clone)]
pub struct NameTable {
    map: HashMap<(Addr, Addr), Vec<Binding>>,
    /// Answers not learned because the table was full.
    pub dropped: u64,
}

impl NameTable {
    /// Learns the A/AAAA answers of a DNS response.
    pub fn learn(&mut self, ev: &DnsEvent) {
        let Some(at) = ev.response_ts else { return };
        if ev.query.is_empty() || ev.rcode != Some(0) {
            return;
        }
        for a in &ev.answers {
            if a.section != "answer" || (a.rtype != "A" && a.rtype != "AAAA") {
                continue;
            }
            let Ok(ip) = a.data.parse::<std::net::IpAddr>() else {
                continue;
            };
            let key = (ev.client, Addr::from_ip(ip));
            let until = at.saturating_add(i64::from(a.ttl) * 1_000_000_000 + GRACE_NS);
            let name = ev.query.trim_end_matches('.').to_ascii_lowercase();
            if !self.map.contains_key(&key) && self.map.len() >= MAX_PAIRS {
                self.dropped += 1;
                continue;
            }
            let v = self.map.entry(key).or_default();
            match v.iter_mut().find(|b| b.name == name) {
                Some(b) => b.until = b.until.max(until),
                None => {
                    if v.len() >= MAX_NAMES {
                        v.remove(0);
                    }
                    v.push(Binding { name, from: at, until });
                }
            }
        }
    }

    /// The name `client` resolved `server` from, valid at `ts` (the most recent answer wins).
    pub fn lookup(&self, client: Addr, server: Addr, ts: i64) -> Option<&str> {
        self.map
            .get(&(client, server))?
            .iter()
            .filter(|b| b.from <= ts && ts <= b.until)
            .max_by_key(|b| b.from)
            .map(|b| b.name.as_str())
    }
}

/// Parses hosts-format text (`ADDRESS NAME [ALIAS...]`, `#` comments): address → first name.
/// Lines that do not parse are skipped and counted.
pub fn parse_hosts(text: &str) -> (HashMap<Addr, String>, usize) {
    let mut map = HashMap::new();
    let mut bad = 0;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        // A zone index (fe80::1%eth0) names no peer of a capture: drop it.
        let addr = it.next().unwrap_or("").split('%').next().unwrap_or("");
        match (addr.parse::<std::net::IpAddr>(), it.next()) {
            (Ok(ip), Some(name)) => {
                map.entry(Addr::from_ip(ip)).or_insert_with(|| name.trim_end_matches('.').to_ascii_lowercase());
            }
            _ => bad += 1,
        }
    }
    (map, bad)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::model::DnsAnswer;

    #[test]
    fn hosts_files() {
        let (m, bad) =
            parse_hosts("# comment\n2001:db8::1  Www.Example.  alias\n192.0.2.1 a\nbogus line\n\n192.0.2.1 second\n");
        assert_eq!(bad, 1);
        assert_eq!(m.get(&Addr::from_ip("2001:db8::1".parse().unwrap())).map(String::as_str), Some("www.example"));
        assert_eq!(m.get(&Addr::from_ip("192.0.2.1".parse().unwrap())).map(String::as_str), Some("a"), "first wins");
    }

    #[test]
    fn binds_within_ttl_for_the_asking_client() {
        let c = Addr::from_ip("192.0.2.11".parse().unwrap());
        let ev = DnsEvent {
            ts: 0,
            uid: "C1".into(),
            client: c,
            server: Addr::from_ip("192.0.2.1".parse().unwrap()),
            server_port: 53,
            transport: "udp",
            kind: "dns",
            trans_id: 1,
            query: "Safebrowsing.Clients.Google.com".into(),
            qtype: 28,
            rcode: Some(0),
            rtt_ns: Some(1),
            answers: vec![DnsAnswer {
                section: "answer",
                name: "x".into(),
                rtype: "AAAA".into(),
                ttl: 60,
                data: "2404:6800:4004:805::1000".into(),
            }],
            response_ts: Some(10),
        };
        let mut t = NameTable::default();
        t.learn(&ev);
        let s = Addr::from_ip("2404:6800:4004:805::1000".parse().unwrap());
        assert_eq!(t.lookup(c, s, 20), Some("safebrowsing.clients.google.com"));
        assert_eq!(t.lookup(c, s, 5), None, "not before the answer");
        assert_eq!(t.lookup(c, s, 400_000_000_000), None, "not after TTL + grace");
        assert_eq!(t.lookup(s, c, 20), None, "only for the client that asked");
    }
}

//! DNS transactions over UDP and TCP (two-byte length prefix, RFC 1035 §4.2.2).

use super::{Extractor, Stream, MAX_EVENTS};
use crate::columns::{event_access, int, intern, opt, secs_ns, string, word, Csv, EventColumn, EventType, Value};
use crate::decode::Addr;
use crate::flow::{uid_string, PacketCtx};
use crate::model::{AppEvent, DnsAnswer, DnsEvent};
use serde_json::Value as Json;
use wire::dns::{self, rtype, Message};
use wire::ipproto;

/// Queries waiting for their response, per flow.
const MAX_PENDING: usize = 32;

fn plausible(p: &[u8]) -> bool {
    Message::parse(p).is_ok_and(|m| m.opcode() <= 5 && m.qdcount() <= 16)
}

/// Takes UDP flows on the DNS, mDNS and LLMNR ports whose payload parses as a message, and
/// TCP flows on port 53.
pub(super) fn probe(ctx: &PacketCtx<'_>, p: &[u8], _from_orig: bool, _at_start: bool) -> Option<Box<dyn Extractor>> {
    let ports = [ctx.orig.1, ctx.resp.1];
    match ctx.ip_proto {
        ipproto::UDP if ports.iter().any(|x| matches!(x, 53 | 5353 | 5355)) && plausible(p) => {
            Some(Box::new(Dns::new(ctx, false)))
        }
        ipproto::TCP if ports.contains(&53) => Some(Box::new(Dns::new(ctx, true))),
        _ => None,
    }
}

impl Extractor for Dns {
    fn packet(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) -> [bool; 2] {
        self.read(ctx, events);
        [true, true]
    }

    fn finish(&mut self, events: &mut Vec<AppEvent>) -> Option<super::Summary> {
        Some(self.conclude(events))
    }

    fn streams(&mut self) -> Option<&mut [Stream; 2]> {
        Some(&mut self.streams)
    }
}

pub(crate) struct Dns {
    tcp: bool,
    kind: &'static str,
    pub(super) streams: [Stream; 2],
    pending: Vec<DnsEvent>,
    emitted: usize,
    name: String,
}

impl Dns {
    pub fn new(ctx: &PacketCtx<'_>, tcp: bool) -> Dns {
        let kind = match (ctx.orig.1, ctx.resp.1) {
            (5353, _) | (_, 5353) => "mdns",
            (5355, _) | (_, 5355) => "llmnr",
            _ => "dns",
        };
        Dns { tcp, kind, streams: Default::default(), pending: Vec::new(), emitted: 0, name: String::new() }
    }

    fn read(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) {
        if !self.tcp {
            self.message(ctx, ctx.payload, events);
            return;
        }
        let i = usize::from(!ctx.from_orig);
        self.streams[i].push(ctx);
        loop {
            let s = &self.streams[i];
            if s.buf.len() < 2 {
                break;
            }
            let len = usize::from(u16::from_be_bytes([s.buf[0], s.buf[1]]));
            if s.buf.len() < 2 + len {
                break;
            }
            let msg = s.buf[2..2 + len].to_vec();
            self.streams[i].consume(2 + len);
            self.message(ctx, &msg, events);
        }
    }

    fn message(&mut self, ctx: &PacketCtx<'_>, bytes: &[u8], events: &mut Vec<AppEvent>) {
        let Ok(m) = Message::parse(bytes) else { return };
        // The question (first one only; multi-question messages are vanishingly rare).
        let mut query = String::new();
        let mut qtype = 0;
        let mut answers = Vec::new();
        for r in m.records() {
            let Ok(r) = r else { break };
            match r.section {
                0 if query.is_empty() && dns::read_name(m.bytes(), r.name_at, &mut self.name).is_ok() => {
                    query = self.name.clone();
                    qtype = r.rtype;
                }
                1..=3 if answers.len() < 64 && r.rtype != rtype::OPT => {
                    if let Some(a) = answer(&m, &r, &mut self.name) {
                        answers.push(a);
                    }
                }
                _ => {}
            }
        }
        // The server is the side that answers: a query's receiver, a response's sender (a flow
        // seen from its response alone has the server as its originator).
        let (sender, receiver) = if ctx.from_orig { (ctx.orig, ctx.resp) } else { (ctx.resp, ctx.orig) };
        if !m.is_response() {
            if self.pending.len() < MAX_PENDING {
                self.pending.push(self.event(ctx, m.id(), query, qtype, sender.0, receiver.0, receiver.1));
            }
            return;
        }
        // mDNS answers are usually unsolicited multicast: there may be no query to match.
        // A response matches a pending query with the same id and question; mDNS uses id 0 for
        // everything and often answers without repeating the question, so those stand alone.
        let pos = self.pending.iter().position(|q| q.trans_id == m.id() && q.query == query && !query.is_empty());
        let mut ev = match pos {
            Some(p) => self.pending.remove(p),
            None => self.event(ctx, m.id(), query, qtype, receiver.0, sender.0, sender.1),
        };
        if pos.is_some() {
            ev.rtt_ns = Some(ctx.ts - ev.ts);
        }
        ev.rcode = Some(m.rcode());
        ev.response_ts = Some(ctx.ts);
        ev.answers = answers;
        if self.emitted < MAX_EVENTS {
            self.emitted += 1;
            events.push(AppEvent::Dns(ev));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        ctx: &PacketCtx<'_>,
        id: u16,
        query: String,
        qtype: u16,
        client: Addr,
        server: Addr,
        port: u16,
    ) -> DnsEvent {
        DnsEvent {
            ts: ctx.ts,
            uid: uid_string(ctx.uid()),
            client,
            server,
            server_port: port,
            transport: if self.tcp { "tcp" } else { "udp" },
            kind: self.kind,
            trans_id: id,
            query,
            qtype,
            rcode: None,
            rtt_ns: None,
            answers: Vec::new(),
            response_ts: None,
        }
    }

    fn conclude(&mut self, events: &mut Vec<AppEvent>) -> super::Summary {
        for q in self.pending.drain(..) {
            if self.emitted < MAX_EVENTS {
                self.emitted += 1;
                events.push(AppEvent::Dns(q));
            }
        }
        super::Summary { service: "dns", name: None }
    }
}

fn answer(m: &Message<'_>, r: &dns::Record<'_>, scratch: &mut String) -> Option<DnsAnswer> {
    dns::read_name(m.bytes(), r.name_at, scratch).ok()?;
    let name = scratch.clone();
    let data = match r.rtype {
        rtype::A => r.a().map(|a| std::net::Ipv4Addr::from(a).to_string())?,
        rtype::AAAA => r.aaaa().map(|a| std::net::Ipv6Addr::from(a).to_string())?,
        rtype::CNAME | rtype::NS | rtype::PTR => {
            dns::read_name(m.bytes(), r.rdata_at, scratch).ok()?;
            scratch.clone()
        }
        rtype::MX if r.rdata.len() > 2 => {
            dns::read_name(m.bytes(), r.rdata_at + 2, scratch).ok()?;
            format!("{} {}", u16::from_be_bytes([r.rdata[0], r.rdata[1]]), scratch)
        }
        rtype::SRV if r.rdata.len() > 6 => {
            let d = r.rdata;
            dns::read_name(m.bytes(), r.rdata_at + 6, scratch).ok()?;
            let n = |i: usize| u16::from_be_bytes([d[i], d[i + 1]]);
            format!("{} {} {} {}", n(0), n(2), n(4), scratch)
        }
        rtype::TXT => {
            let mut out = Vec::new();
            let mut i = 0;
            while i < r.rdata.len() {
                let l = usize::from(r.rdata[i]);
                let s = r.rdata.get(i + 1..i + 1 + l)?;
                out.push(String::from_utf8_lossy(s).into_owned());
                i += 1 + l;
            }
            out.join(" ")
        }
        rtype::SOA => {
            dns::read_name(m.bytes(), r.rdata_at, scratch).ok()?;
            scratch.clone()
        }
        rtype::HTTPS | rtype::SVCB => {
            let s = dns::svcb(m.bytes(), r.rdata_at, r.rdata).ok()?;
            let mut t = format!("{} {}", s.priority, s.target);
            if !s.alpn.is_empty() {
                t.push_str(&format!(" alpn={}", s.alpn.join(",")));
            }
            if !s.ipv4hint.is_empty() {
                let v: Vec<String> = s.ipv4hint.iter().map(|a| std::net::Ipv4Addr::from(*a).to_string()).collect();
                t.push_str(&format!(" ipv4hint={}", v.join(",")));
            }
            if !s.ipv6hint.is_empty() {
                let v: Vec<String> = s.ipv6hint.iter().map(|a| std::net::Ipv6Addr::from(*a).to_string()).collect();
                t.push_str(&format!(" ipv6hint={}", v.join(",")));
            }
            if s.ech {
                t.push_str(" ech");
            }
            t
        }
        // RFC 3597's generic form: length and data in hex (the first 64 bytes, then `…`).
        _ => {
            let hex: String = r.rdata.iter().take(64).map(|b| format!("{b:02x}")).collect();
            let cut = if r.rdata.len() > 64 { "…" } else { "" };
            if r.rdata.is_empty() {
                "\\# 0".to_string()
            } else {
                format!("\\# {} {hex}{cut}", r.rdata.len())
            }
        }
    };
    let section = match r.section {
        1 => "answer",
        2 => "authority",
        _ => "additional",
    };
    Some(DnsAnswer { section, name, rtype: rtype::name(r.rtype).into_owned(), ttl: r.ttl, data })
}

/// DNS answer sections.
const SECTIONS: [&str; 3] = ["answer", "authority", "additional"];
/// Transports of DNS transactions.
const TRANSPORTS: [&str; 2] = ["udp", "tcp"];
/// DNS-format protocols.
const KINDS: [&str; 3] = ["dns", "mdns", "llmnr"];

event_access!(Dns, DnsEvent);

/// The response code's name (RFC 1035, 6895), `-` without a response.
fn rcode_name(d: &DnsEvent) -> String {
    match d.rcode {
        None => "-".into(),
        Some(0) => "NOERROR".into(),
        Some(1) => "FORMERR".into(),
        Some(2) => "SERVFAIL".into(),
        Some(3) => "NXDOMAIN".into(),
        Some(4) => "NOTIMP".into(),
        Some(5) => "REFUSED".into(),
        Some(n) => n.to_string(),
    }
}

fn answers(v: &Json) -> Result<Vec<DnsAnswer>, &'static str> {
    v.as_array()
        .ok_or("not a list")?
        .iter()
        .map(|a| {
            Ok(DnsAnswer {
                section: intern(&SECTIONS, a["section"].as_str().ok_or("not a string")?).ok_or("not a DNS section")?,
                name: string(&a["name"])?,
                rtype: string(&a["rtype"])?,
                ttl: int(&a["ttl"])?,
                data: string(&a["data"])?,
            })
        })
        .collect()
}

/// DNS transactions (`v6watch dns`, `dns.jsonl`).
pub(super) const EVENTS: EventType = EventType {
    name: "dns",
    about: "DNS, mDNS and LLMNR transactions: query, type, response code, answers, round-trip time",
    services: &["dns"],
    // A DNS answer names other flows, by the enrichment ("dns"), not this one.
    name_sources: &[],
    empty: || AppEvent::Dns(DnsEvent::default()),
    columns: &[
        EventColumn {
            name: "transport",
            get: |e, _| get(e, |d| Value::Word(d.transport)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.transport = word(v, &TRANSPORTS)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "kind",
            get: |e, _| get(e, |d| Value::Word(d.kind)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.kind = word(v, &KINDS)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "trans_id",
            get: |e, _| get(e, |d| Value::UInt(d.trans_id.into())),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.trans_id = int(v)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "query",
            get: |e, _| get(e, |d| Value::Text(&d.query)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.query = string(v)?;
                Ok(())
            }),
        },
        // The type's number in JSON, its mnemonic in CSV.
        EventColumn {
            name: "qtype",
            get: |e, _| get(e, |d| Value::UInt(d.qtype.into())),
            csv: Csv::Cell(|e| on(e).map_or(String::new(), |d| rtype::name(d.qtype).to_string())),
            set: Some(|e, v| {
                on_mut(e)?.qtype = int(v)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "rcode",
            get: |e, _| get(e, |d| d.rcode.map_or(Value::Null, |r| Value::UInt(r.into()))),
            csv: Csv::Cell(|e| on(e).map_or(String::new(), rcode_name)),
            set: Some(|e, v| {
                on_mut(e)?.rcode = opt(v, int)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "rtt_ns",
            get: |e, _| get(e, |d| d.rtt_ns.map_or(Value::Null, Value::Int)),
            csv: Csv::No,
            set: Some(|e, v| {
                on_mut(e)?.rtt_ns = opt(v, |v| v.as_i64().ok_or("not an integer"))?;
                Ok(())
            }),
        },
        EventColumn {
            name: "rtt_ms",
            get: |e, _| get(e, |d| d.rtt_ns.map_or(Value::Null, Value::Millis)),
            csv: Csv::Value,
            set: None,
        },
        // Every record in JSON; the answer section as words in CSV.
        EventColumn {
            name: "answers",
            get: |e, _| get(e, |d| Value::DnsAnswers(&d.answers)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.answers = answers(v)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "response_ts",
            get: |e, _| get(e, |d| d.response_ts.map_or(Value::Null, Value::Time)),
            csv: Csv::No,
            set: Some(|e, v| {
                on_mut(e)?.response_ts = opt(v, secs_ns)?;
                Ok(())
            }),
        },
    ],
};

#[cfg(test)]
mod test {
    use super::super::fixture::{hex, Conn};
    use crate::model::{AppEvent, DnsEvent};
    use wire::ipproto;

    /// Query for example.com A, id 0x1234.
    const Q: &str = "123401000001000000000000076578616d706c6503636f6d0000010001";
    /// Its response: example.com A 93.184.216.34, TTL 300.
    const R: &str = "123481800001000100000000076578616d706c6503636f6d0000010001c00c000100010000012c00045db8d822";
    /// Query for www.example.com A, id 0xbeef.
    const CQ: &str = "beef0100000100000000000003777777076578616d706c6503636f6d0000010001";
    /// Its response: a CNAME to example.com (a pointer into the question) and that name's A
    /// record 192.0.2.80, both owner names compressed.
    const CR: &str = "beef8180000100020000000003777777076578616d706c6503636f6d0000010001c00c000500010000\
                      003c0002c010c010000100010000012c0004c0000250";
    /// A response whose answer's owner name is a pointer to itself.
    const LOOP: &str = "beef8180000100010000000003777777076578616d706c6503636f6d0000010001c021000100010000\
                        012c0004c0000251";

    fn dns(events: &[AppEvent]) -> Vec<&DnsEvent> {
        events.iter().filter_map(|e| if let AppEvent::Dns(d) = e { Some(d) } else { None }).collect()
    }

    #[test]
    fn a_udp_query_and_its_response_are_one_transaction() {
        let mut c = Conn::new(ipproto::UDP, 53);
        c.send(true, &hex(Q));
        assert!(c.events.is_empty(), "a query waits for its response");
        c.send(false, &hex(R));
        let ev = dns(&c.events);
        assert_eq!(ev.len(), 1);
        let e = ev[0];
        assert_eq!((e.query.as_str(), e.qtype, e.trans_id, e.rcode), ("example.com", 1, 0x1234, Some(0)));
        assert_eq!((e.transport, e.kind, e.server_port), ("udp", "dns", 53));
        assert_eq!(e.client.to_string(), "2001:db8::1");
        assert_eq!(e.server.to_string(), "2001:db8::2");
        assert_eq!(e.rtt_ns, Some(1_000_000));
        assert_eq!(e.response_ts, Some(e.ts + 1_000_000));
        assert_eq!(e.answers.len(), 1);
        let a = &e.answers[0];
        assert_eq!(
            (a.section, a.name.as_str(), a.rtype.as_str(), a.ttl, a.data.as_str()),
            ("answer", "example.com", "A", 300, "93.184.216.34")
        );
        assert_eq!(c.finish().map(|s| s.0), Some("dns"));
    }

    #[test]
    fn tcp_messages_are_framed_by_their_length_prefix_however_they_are_cut() {
        for cut in [1, 2, 3, 7, 1000] {
            let mut c = Conn::new(ipproto::TCP, 53);
            let framed = |m: &str| {
                let m = hex(m);
                let mut v = (m.len() as u16).to_be_bytes().to_vec();
                v.extend_from_slice(&m);
                v
            };
            c.send_cut(true, &framed(Q), cut);
            c.send_cut(true, &framed(CQ), cut);
            // Both responses in one segment (or cut across the boundary).
            let mut both = framed(R);
            both.extend(framed(CR));
            c.send_cut(false, &both, cut);
            let ev = dns(&c.events);
            assert_eq!(ev.len(), 2, "cut {cut}");
            assert!(ev.iter().all(|e| e.transport == "tcp" && e.rcode == Some(0)), "cut {cut}");
            assert_eq!(ev[0].query, "example.com");
            assert_eq!(ev[1].query, "www.example.com");
            let cname: Vec<_> =
                ev[1].answers.iter().map(|a| (a.name.as_str(), a.rtype.as_str(), a.data.as_str())).collect();
            assert_eq!(cname, [("www.example.com", "CNAME", "example.com"), ("example.com", "A", "192.0.2.80")]);
        }
    }

    #[test]
    fn an_unanswered_query_is_reported_when_the_flow_ends() {
        let mut c = Conn::new(ipproto::UDP, 53);
        c.send(true, &hex(Q));
        c.finish();
        let ev = dns(&c.events);
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].rcode, ev[0].rtt_ns, ev[0].response_ts), (None, None, None));
    }

    #[test]
    fn a_response_without_its_query_still_names_client_and_server() {
        let mut c = Conn::new(ipproto::UDP, 53);
        // The capture began after the query: the server's response is the flow's first packet
        // (its sender is the originator here).
        c.send(true, &hex(R));
        let ev = dns(&c.events);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].server.to_string(), "2001:db8::1");
        assert_eq!(ev[0].rtt_ns, None);
    }

    #[test]
    fn a_compression_loop_loses_the_record_not_the_transaction() {
        let mut c = Conn::new(ipproto::UDP, 53);
        c.send(true, &hex(CQ));
        c.send(false, &hex(LOOP));
        let ev = dns(&c.events);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].query, "www.example.com");
        assert!(ev[0].answers.is_empty());
    }

    #[test]
    fn mdns_and_llmnr_are_named_by_port() {
        for (port, kind) in [(5353, "mdns"), (5355, "llmnr")] {
            let mut c = Conn::new(ipproto::UDP, port);
            c.send(true, &hex(Q));
            c.send(false, &hex(R));
            assert_eq!(dns(&c.events)[0].kind, kind);
        }
    }
}

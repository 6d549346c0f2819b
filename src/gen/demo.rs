//! The World IPv6 Day scenario (PRODUCT.md, "The demo scenario"): two dual-stack honeypots
//! observed 2011-06-06..2011-06-11 UTC in the seed's address plan. Before and after the event
//! Google's names answer A only; on 2011-06-08 (UTC) they also answer AAAA, so Firefox's
//! `POST /safebrowsing/downloads` goes to Google over IPv6, and honeypot1's hourly mirror
//! fetches switch to IPv6 too. Inbound probes (native, 6to4, Teredo) and link-local chatter run
//! throughout. One update service's IPv6 path is broken during the event (SYNs unanswered, or
//! ICMPv6 administratively prohibited) and clients fall back to IPv4; another stalls on large
//! responses over IPv6 (a Path-MTU black hole). Deterministic for a seed.

use anyhow::{Context, Result};
use std::io::BufWriter;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use synth::{dns_message, flags, Builder, Encap, PcapngWriter, Rng, L4};

const HOUR: i64 = 3_600_000_000_000;
const SEC: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
/// 2011-06-06T00:00:00Z.
pub const START: i64 = 1_307_318_400 * SEC;
/// World IPv6 Day: 2011-06-08T00:00Z .. 2011-06-09T00:00Z.
pub const EVENT: (i64, i64) = (1_307_491_200 * SEC, 1_307_577_600 * SEC);
/// 2011-06-11T00:00:00Z.
pub const END: i64 = 1_307_750_400 * SEC;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("static address")
}

/// A name with its IPv4 address and its IPv6 address(es).
struct Peer {
    name: &'static str,
    v4: &'static str,
    v6: &'static [&'static str],
    /// AAAA is only answered during the event (Google on World IPv6 Day).
    v6_only_during_event: bool,
}

// Google's names and addresses as each honeypot saw them (the seed lists them per sensor).
/// The Safe Browsing AAAA records honeypot1 saw; honeypot2 saw the first ten.
const SB_V6: &[&str] = &[
    "2404:6800:4004:805::1000",
    "2404:6800:4004:805::1001",
    "2404:6800:4004:805::1002",
    "2404:6800:4004:805::1003",
    "2404:6800:4004:805::1004",
    "2404:6800:4004:805::1005",
    "2404:6800:4004:805::1006",
    "2404:6800:4004:805::1007",
    "2404:6800:4004:805::1008",
    "2404:6800:4004:805::1009",
    "2404:6800:4004:805::100a",
    "2404:6800:4004:805::100b",
];
const SB_1: Peer =
    Peer { name: "safebrowsing.clients.google.com", v4: "74.125.153.102", v6: SB_V6, v6_only_during_event: true };
const SB_2: Peer = Peer { v6: SB_V6.split_at(10).0, ..SB_1 };
const YOUTUBE_1: Peer =
    Peer { name: "www.youtube.com", v4: "74.125.153.91", v6: &["2404:6800:8007::65"], v6_only_during_event: true };
const YOUTUBE_2: Peer = Peer {
    name: "www.youtube.com",
    v4: "74.125.153.91",
    v6: &["2404:6800:8007::64", "2404:6800:8007::65"],
    v6_only_during_event: true,
};
const GOOGLE_WWW_1: Peer = Peer {
    name: "www.google.com",
    v4: "74.125.153.104",
    v6: &["2001:4860::1:0:890", "2001:4860::2:0:b7", "2001:4860::2:0:c6"],
    v6_only_during_event: true,
};
const GOOGLE_WWW_2: Peer = Peer {
    name: "www.google.com",
    v4: "74.125.153.104",
    v6: &["2404:6800:8003::71", "2404:6800:8003::8a", "2404:6800:8003::8b"],
    v6_only_during_event: true,
};
const JAIST: Peer =
    Peer { name: "ftp.jaist.ac.jp", v4: "150.65.7.130", v6: &["2001:200:141:feed::feed"], v6_only_during_event: true };
const KDDI: Peer = Peer {
    name: "ftp.kddilabs.jp",
    v4: "192.26.91.193",
    v6: &["2001:200:601:10:206:5bff:fef0:466c"],
    v6_only_during_event: true,
};
const IIJ: Peer =
    Peer { name: "ftp.iij.ad.jp", v4: "202.232.140.142", v6: &["2001:240:bb8f::f:10"], v6_only_during_event: true };
const MOZILLA: Peer =
    Peer { name: "www.mozilla.com", v4: "63.245.209.11", v6: &["2620:101:8001:5::2:6"], v6_only_during_event: true };
const FEDORA_1: Peer = Peer {
    name: "fedoraproject.org",
    v4: "140.211.169.197",
    v6: &["2610:28:1000:1401::fed0:2", "2610:28:3090:3001:dead:beef:cafe:fed4"],
    v6_only_during_event: true,
};
const FEDORA_2: Peer = Peer {
    name: "fedoraproject.org",
    v4: "140.211.169.197",
    v6: &["2610:28:3090:3001:dead:beef:cafe:fed4"],
    v6_only_during_event: true,
};
/// honeypot1's own scheduled activity: hourly bulk fetches (the seed's "large periodic
/// traffic"), which followed the switch to IPv6. The demo's rule tags it `autonomous`.
const AUTONOMOUS_NAME: &str = "feeds.hp-ops.example";
const FEEDS: Peer =
    Peer { name: AUTONOMOUS_NAME, v4: "198.51.100.70", v6: &["2001:db8:70::70"], v6_only_during_event: true };
const TWOCH: Peer =
    Peer { name: "ipv6.2ch.net", v4: "206.223.151.10", v6: &["2407:3000:6:175::12"], v6_only_during_event: true };
/// A phishing site the honeypots are made to fetch from, over IPv6 during the event.
const PHISH: Peer = Peer {
    name: "secure-paypa1-login.example",
    v4: "198.51.100.66",
    v6: &["2001:db8:666::66"],
    v6_only_during_event: true,
};
/// Broken over IPv6 during the event: SYNs go unanswered or are refused with ICMPv6 code 1.
const UPDATES: Peer =
    Peer { name: "update.example-av.net", v4: "198.51.100.80", v6: &["2001:db8:bad::80"], v6_only_during_event: true };
/// A Path-MTU black hole over IPv6 during the event: large segments never arrive.
const MIRROR_MTU: Peer =
    Peer { name: "dl.example-mirror.org", v4: "203.0.113.44", v6: &["2001:db8:1280::44"], v6_only_during_event: true };

struct Sensor {
    name: &'static str,
    v4: IpAddr,
    v6: IpAddr,
    ll: IpAddr,
    mac: [u8; 6],
    resolver: IpAddr,
    autonomous: bool,
    safebrowsing: &'static Peer,
    /// Casual browsing, visited in turn.
    sites: &'static [(&'static Peer, &'static str)],
    /// OS package mirrors, visited in turn every `mirror_every`.
    mirrors: &'static [&'static Peer],
    mirror_every: i64,
}

/// Packets of one sensor, collected then written in time order.
struct Trace {
    b: Builder,
    /// The sensor's addresses and MAC, and the router's MAC: frames from the sensor carry its
    /// MAC as source, everything else arrives from the router.
    own: [IpAddr; 3],
    macs: ([u8; 6], [u8; 6]),
    out: Vec<(i64, Vec<u8>)>,
    ident: u16,
    rng: Rng,
    /// Next IPv6 address to use per name: clients rotate through a name's AAAA records.
    turn: std::collections::HashMap<&'static str, usize>,
}

impl Trace {
    fn push(&mut self, ts: i64, src: IpAddr, dst: IpAddr, l4: L4<'_>, encap: Encap) {
        self.ident = self.ident.wrapping_add(1);
        let outgoing = self.own.contains(&src);
        (self.b.src_mac, self.b.dst_mac) = if outgoing { self.macs } else { (self.macs.1, self.macs.0) };
        if dst.is_ipv6() && matches!(dst, IpAddr::V6(a) if a.octets()[0] == 0xff) {
            // IPv6 multicast maps to 33:33 + the low 32 bits (RFC 2464 §7).
            if let IpAddr::V6(a) = dst {
                let o = a.octets();
                self.b.dst_mac = [0x33, 0x33, o[12], o[13], o[14], o[15]];
            }
        }
        let f = self.b.frame(src, dst, &l4, encap, self.ident).to_vec();
        self.out.push((ts, f));
    }

    fn dns(&mut self, ts: i64, s: &Sensor, peer: &Peer, v6_transport: bool, during: bool) -> i64 {
        let (me, resolver) = if v6_transport { (s.v6, s.resolver) } else { (s.v4, ip("192.0.2.1")) };
        let mut t = ts;
        for qtype in [1u16, 28] {
            let id = self.rng.next_u64() as u16;
            let port = 30_000 + self.rng.below(30_000) as u16;
            let q = dns_message(id, peer.name, qtype, &[], false);
            self.push(t, me, resolver, L4::Udp { sport: port, dport: 53, payload: &q }, Encap::None);
            let answers: Vec<IpAddr> = match qtype {
                1 => vec![ip(peer.v4)],
                _ if !peer.v6_only_during_event || during => peer.v6.iter().map(|a| ip(a)).collect(),
                _ => vec![],
            };
            let r = dns_message(id, peer.name, qtype, &answers, true);
            t += 12 * MS + self.rng.below(20) as i64 * MS;
            self.push(t, resolver, me, L4::Udp { sport: 53, dport: port, payload: &r }, Encap::None);
            t += MS;
        }
        t
    }

    /// A complete TCP exchange: handshake, request, `resp_segments` × `seg` bytes, close.
    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        ts: i64,
        c: IpAddr,
        srv: IpAddr,
        dport: u16,
        req: &[u8],
        resp_segments: u32,
        seg: usize,
        rtt: i64,
    ) -> i64 {
        let cport = 40_000 + self.rng.below(20_000) as u16;
        let (mut cs, mut ss) = (self.rng.next_u64() as u32, self.rng.next_u64() as u32);
        let mss = if c.is_ipv6() { 1440 } else { 1460 };
        let tcp = |sp, dp, seq, ack, fl, payload| L4::tcp(sp, dp, seq, ack, fl, mss, payload);
        let mut t = ts;
        self.push(t, c, srv, tcp(cport, dport, cs, 0, flags::SYN, &[][..]), Encap::None);
        cs = cs.wrapping_add(1);
        t += rtt;
        self.push(t, srv, c, tcp(dport, cport, ss, cs, flags::SYN | flags::ACK, &[][..]), Encap::None);
        ss = ss.wrapping_add(1);
        t += 100_000;
        self.push(t, c, srv, tcp(cport, dport, cs, ss, flags::ACK, &[][..]), Encap::None);
        self.push(t + 50_000, c, srv, tcp(cport, dport, cs, ss, flags::ACK | flags::PSH, req), Encap::None);
        cs = cs.wrapping_add(req.len() as u32);
        t += rtt;
        // An HTTP response head in front of the body when the request was HTTP.
        let total = seg * resp_segments as usize;
        let mut stream = if req.starts_with(b"GET ") || req.starts_with(b"POST ") {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ";
            let len = total.saturating_sub(head.len() + 12);
            format!("{head}{len:08}\r\n\r\n").into_bytes()
        } else {
            Vec::new()
        };
        stream.resize(total.max(stream.len()), b'x');
        for k in 0..resp_segments {
            let at = k as usize * seg;
            let body = &stream[at.min(stream.len())..(at + seg).min(stream.len())];
            self.push(t, srv, c, tcp(dport, cport, ss, cs, flags::ACK, body), Encap::None);
            ss = ss.wrapping_add(seg as u32);
            t += 400_000;
            if k % 2 == 1 {
                self.push(t, c, srv, tcp(cport, dport, cs, ss, flags::ACK, &[][..]), Encap::None);
            }
        }
        self.push(t, srv, c, tcp(dport, cport, ss, cs, flags::FIN | flags::ACK, &[][..]), Encap::None);
        ss = ss.wrapping_add(1);
        t += 200_000;
        self.push(t, c, srv, tcp(cport, dport, cs, ss, flags::FIN | flags::ACK, &[][..]), Encap::None);
        cs = cs.wrapping_add(1);
        t += rtt;
        self.push(t, srv, c, tcp(dport, cport, ss, cs, flags::ACK, &[][..]), Encap::None);
        t
    }

    /// A TCP connection from `c` to `srv`: the handshake, `steps` (each sent by the client or
    /// the server, acknowledged), then both FINs. Returns its end.
    fn conversation(&mut self, ts: i64, c: IpAddr, srv: IpAddr, dport: u16, steps: &[(bool, &[u8])], rtt: i64) -> i64 {
        let cport = 40_000 + self.rng.below(20_000) as u16;
        let mut seq = [self.rng.next_u64() as u32, self.rng.next_u64() as u32];
        let mss = if c.is_ipv6() { 1440 } else { 1460 };
        let ends = [(c, cport), (srv, dport)];
        let mut t = ts;
        let send = |tr: &mut Trace, t: i64, from: usize, fl: u8, payload: &[u8], seq: &mut [u32; 2]| {
            let ((a, ap), (b, bp)) = (ends[from], ends[1 - from]);
            let ack = if fl & flags::SYN != 0 && from == 0 { 0 } else { seq[1 - from] };
            tr.push(t, a, b, L4::tcp(ap, bp, seq[from], ack, fl, mss, payload), Encap::None);
            seq[from] = seq[from].wrapping_add(payload.len() as u32 + u32::from(fl & (flags::SYN | flags::FIN) != 0));
        };
        send(self, t, 0, flags::SYN, &[], &mut seq);
        t += rtt;
        send(self, t, 1, flags::SYN | flags::ACK, &[], &mut seq);
        t += 100_000;
        send(self, t, 0, flags::ACK, &[], &mut seq);
        for (from_client, payload) in steps {
            let from = usize::from(!from_client);
            t += rtt / 2;
            send(self, t, from, flags::ACK | flags::PSH, payload, &mut seq);
            t += rtt / 2;
            send(self, t, 1 - from, flags::ACK, &[], &mut seq);
        }
        t += MS;
        send(self, t, 1, flags::FIN | flags::ACK, &[], &mut seq);
        t += rtt / 2;
        send(self, t, 0, flags::FIN | flags::ACK, &[], &mut seq);
        t += rtt / 2;
        send(self, t, 1, flags::ACK, &[], &mut seq);
        t
    }

    /// An IPv6 attempt that fails: SYN retransmissions unanswered, or refused by ICMPv6
    /// administratively prohibited from a router. Returns when the client gives up.
    fn failed_v6(&mut self, ts: i64, c: IpAddr, srv: IpAddr, dport: u16, icmp_router: Option<IpAddr>) -> i64 {
        let cport = 40_000 + self.rng.below(20_000) as u16;
        let cs = self.rng.next_u64() as u32;
        let syn = L4::tcp(cport, dport, cs, 0, flags::SYN, 1440, &[]);
        let mut syn_ip = Vec::new();
        synth::ip_packet(&mut syn_ip, c, srv, &syn, 0, 64);
        let mut t = ts;
        for (k, wait) in [0i64, SEC, 2 * SEC].iter().enumerate() {
            t += wait;
            self.push(t, c, srv, syn, Encap::None);
            if let Some(r) = icmp_router {
                self.push(
                    t + 30 * MS,
                    r,
                    c,
                    L4::Icmp { icmp_type: 1, code: 1, rest: [0; 4], body: &syn_ip },
                    Encap::None,
                );
                if k == 0 {
                    return t + 40 * MS;
                }
            }
        }
        t + 250 * MS
    }

    /// An IPv6 transfer that hits a Path-MTU black hole: handshake and request pass, the
    /// full-size response segments are lost (the Packet Too Big never arrives), the client sees
    /// only silence and aborts after 20 s.
    fn black_hole(&mut self, ts: i64, c: IpAddr, srv: IpAddr, req: &[u8]) -> i64 {
        let cport = 40_000 + self.rng.below(20_000) as u16;
        let (mut cs, mut ss) = (self.rng.next_u64() as u32, self.rng.next_u64() as u32);
        let tcp = |sp, dp, seq, ack, fl, payload| L4::tcp(sp, dp, seq, ack, fl, 1440, payload);
        let mut t = ts;
        self.push(t, c, srv, tcp(cport, 80, cs, 0, flags::SYN, &[][..]), Encap::None);
        cs = cs.wrapping_add(1);
        t += 60 * MS;
        self.push(t, srv, c, tcp(80, cport, ss, cs, flags::SYN | flags::ACK, &[][..]), Encap::None);
        ss = ss.wrapping_add(1);
        self.push(t + MS, c, srv, tcp(cport, 80, cs, ss, flags::ACK, &[][..]), Encap::None);
        self.push(t + 2 * MS, c, srv, tcp(cport, 80, cs, ss, flags::ACK | flags::PSH, req), Encap::None);
        cs = cs.wrapping_add(req.len() as u32);
        // A small header segment gets through; the 1440-byte ones never do.
        t += 62 * MS;
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n";
        self.push(t, srv, c, tcp(80, cport, ss, cs, flags::ACK | flags::PSH, &head[..]), Encap::None);
        ss = ss.wrapping_add(head.len() as u32);
        self.push(t + MS, c, srv, tcp(cport, 80, cs, ss, flags::ACK, &[][..]), Encap::None);
        t += 20 * SEC;
        self.push(t, c, srv, tcp(cport, 80, cs, ss, flags::RST | flags::ACK, &[][..]), Encap::None);
        t
    }
}

/// An SMTP session a spam run makes to a honeypot that accepts everything: (from the
/// client, bytes) in order.
fn spam_session(sensor: &str, helo: &str, k: i64) -> Vec<(bool, Vec<u8>)> {
    let rcpts = 1 + k % 3;
    let mut client = format!("MAIL FROM:<offers{k}@cheap-meds.example>\r\n");
    let mut replies = String::from("250 2.1.0 Ok\r\n");
    for r in 0..rcpts {
        client.push_str(&format!("RCPT TO:<{}@{sensor}.example>\r\n", ["admin", "info", "root"][r as usize]));
        replies.push_str("250 2.1.5 Ok\r\n");
    }
    let body = format!(
        "From: <offers{k}@cheap-meds.example>\r\nSubject: Best prices {k}\r\n\r\nVisit http://cheap-meds.example/\r\n.\r\n"
    );
    [
        (false, format!("220 {sensor}.example ESMTP\r\n")),
        (true, format!("EHLO {helo}\r\n")),
        (false, format!("250-{sensor}.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n")),
        (true, client),
        (false, replies),
        (true, "DATA\r\n".to_string()),
        (false, "354 End data with <CR><LF>.<CR><LF>\r\n".to_string()),
        (true, body),
        (false, "250 2.0.0 Ok: queued\r\n".to_string()),
        (true, "QUIT\r\n".to_string()),
        (false, "221 2.0.0 Bye\r\n".to_string()),
    ]
    .into_iter()
    .map(|(c, b)| (c, b.into_bytes()))
    .collect()
}

fn during(ts: i64) -> bool {
    ts >= EVENT.0 && ts < EVENT.1
}

/// Visits `peer` by name the way a dual-stack client does: resolve, then prefer IPv6 when an
/// AAAA came back.
fn visit(tr: &mut Trace, s: &Sensor, ts: i64, peer: &Peer, req: &[u8], segments: u32) -> i64 {
    let ev = during(ts);
    let t = tr.dns(ts, s, peer, false, ev);
    let turn = tr.turn.entry(peer.name).or_insert(0);
    let k = *turn % peer.v6.len();
    let use_v6 = !peer.v6_only_during_event || ev;
    if use_v6 {
        *turn += 1;
    }
    let (c, srv, rtt) = if use_v6 { (s.v6, ip(peer.v6[k]), 150 * MS) } else { (s.v4, ip(peer.v4), 140 * MS) };
    tr.tcp(t + MS, c, srv, 80, req, segments, 1400, rtt)
}

fn safebrowsing_req(rng: &mut Rng) -> Vec<u8> {
    let body = format!(
        "goog-malware-shavar;a:1-{}\ngoog-phish-shavar;a:1-{}\n",
        40_000 + rng.below(500),
        110_000 + rng.below(900)
    );
    format!(
        "POST /safebrowsing/downloads?client=navclient-auto-ffox&appver=3.6.17&pver=2.2&wrkey=AKEgNiux HTTP/1.1\r\nHost: safebrowsing.clients.google.com\r\nUser-Agent: Mozilla/5.0 (X11; U; Linux x86_64; ja; rv:1.9.2.17) Gecko/20110422 Firefox/3.6.17\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn get(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Wget/1.12 (linux-gnu)\r\nAccept: */*\r\n\r\n")
        .into_bytes()
}

/// The sensor's recurring activities. Each runs at `next` and reschedules itself; the writer
/// runs them an hour of capture time at a time, so memory stays bounded at any `scale`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    SafeBrowsing,
    Browse,
    Mirrors,
    Autonomous,
    Updates,
    MirrorMtu,
    Probes,
    LinkLocal,
    Spam,
    Phish,
}

struct Activity {
    kind: Kind,
    next: i64,
    k: i64,
}

const ROUTER_LL: &str = "fe80::21b:21ff:fe3a:4f01";

impl Activity {
    fn all(s: &Sensor) -> Vec<Activity> {
        let mut v = vec![
            Activity { kind: Kind::SafeBrowsing, next: START, k: 0 },
            Activity { kind: Kind::Browse, next: START + 3 * HOUR, k: 0 },
            Activity { kind: Kind::Mirrors, next: START + 5 * HOUR, k: 0 },
            Activity { kind: Kind::Updates, next: START + 50 * 60 * SEC, k: 0 },
            Activity { kind: Kind::MirrorMtu, next: START + 95 * 60 * SEC, k: 0 },
            Activity { kind: Kind::Probes, next: START + 11 * 60 * SEC, k: 0 },
            Activity { kind: Kind::LinkLocal, next: START + 90 * SEC, k: 0 },
            Activity { kind: Kind::Spam, next: START + 37 * 60 * SEC, k: 0 },
            Activity { kind: Kind::Phish, next: START + 30 * HOUR + 13 * 60 * SEC, k: 0 },
        ];
        if s.autonomous {
            v.push(Activity { kind: Kind::Autonomous, next: START + 20 * 60 * SEC, k: 0 });
        }
        v
    }

    /// Runs one occurrence at `self.next` and schedules the next one. `scale` multiplies the
    /// bulk transfers (browsing, mirrors, autonomous fetches).
    fn step(&mut self, tr: &mut Trace, s: &Sensor, scale: u32) {
        let t = self.next;
        let k = self.k;
        self.k += 1;
        match self.kind {
            // Firefox Safe Browsing every 30 minutes (on the half hour, give or take a minute).
            Kind::SafeBrowsing => {
                let at = t + tr.rng.below(60) as i64 * SEC;
                let req = safebrowsing_req(&mut tr.rng);
                visit(tr, s, at, s.safebrowsing, &req, 2);
                self.next = START + (k + 1) * 30 * 60 * SEC;
            }
            // Casual browsing: every three hours, hourly during the event, sites in turn.
            Kind::Browse => {
                let (p, path) = s.sites[k as usize % s.sites.len()];
                let at = t + tr.rng.below(600) as i64 * SEC;
                visit(tr, s, at, p, &get(p.name, path), 6 * scale);
                self.next = t + if during(t) { HOUR } else { 3 * HOUR };
            }
            // OS updates from the package mirrors, in turn.
            Kind::Mirrors => {
                let p = s.mirrors[k as usize % s.mirrors.len()];
                let req = get(p.name, "/pub/Linux/fedora/updates/14/x86_64/repodata/repomd.xml");
                visit(tr, s, t, p, &req, 20 * scale);
                self.next = t + s.mirror_every;
            }
            // Autonomous activity: hourly bulk fetches (large periodic bursts), honeypot1 only.
            Kind::Autonomous => {
                visit(tr, s, t, &FEEDS, &get(FEEDS.name, "/feeds/latest.tar.bz2"), 120 * scale);
                self.next = t + HOUR;
            }
            // The update service: broken over IPv6 during the event, Happy Eyeballs falls back
            // to IPv4 (every third failure is an ICMPv6 administratively prohibited).
            Kind::Updates => {
                let ev = during(t);
                let t1 = tr.dns(t, s, &UPDATES, false, ev);
                let t2 = if ev {
                    let n = (t - EVENT.0) / (2 * HOUR);
                    let router = if n % 3 == 2 { Some(ip("2001:db8:ffff::1")) } else { None };
                    tr.failed_v6(t1 + MS, s.v6, ip(UPDATES.v6[0]), 443, router)
                } else {
                    t1
                };
                let hello = synth::client_hello(UPDATES.name);
                tr.tcp(t2 + MS, s.v4, ip(UPDATES.v4), 443, &hello, 4, 1400, 90 * MS);
                self.next = t + 2 * HOUR;
            }
            // The black-holed mirror: large responses over IPv6 stall during the event.
            Kind::MirrorMtu => {
                let ev = during(t);
                let t1 = tr.dns(t, s, &MIRROR_MTU, false, ev);
                let req = get(MIRROR_MTU.name, "/pub/big.iso");
                let t2 = if ev { tr.black_hole(t1 + MS, s.v6, ip(MIRROR_MTU.v6[0]), &req) + SEC } else { t1 };
                tr.tcp(t2 + MS, s.v4, ip(MIRROR_MTU.v4), 80, &req, 30 * scale, 1400, 120 * MS);
                self.next = t + 4 * HOUR;
            }
            // Inbound probes: low-byte IPv6 scans, 6to4 and Teredo probes, IPv4 SYN scans.
            Kind::Probes => {
                probe(tr, s, t);
                self.next = t + 17 * 60 * SEC + tr.rng.below(600) as i64 * SEC;
            }
            // Unsolicited mail to the honeypot's SMTP port: over IPv4 every few hours, and during
            // the event hourly, mostly over IPv6 (the seed's "spam arriving over IPv6").
            Kind::Spam => {
                let ev = during(t);
                let v6 = ev && k % 4 != 3;
                let senders: &[&str] = if v6 {
                    &["2001:db8:5a:1::25", "2001:db8:5b::99", "2001:db8:5a:1::26"]
                } else {
                    &["203.0.113.25", "198.51.100.77", "192.0.2.66"]
                };
                let from = ip(senders[k as usize % senders.len()]);
                let to = if v6 { s.v6 } else { s.v4 };
                let helo = format!("mail{}.bulk-offers.example", k % 7);
                let script = spam_session(s.name, &helo, k);
                let steps: Vec<(bool, &[u8])> = script.iter().map(|(c, b)| (*c, b.as_slice())).collect();
                tr.conversation(t, from, to, 25, &steps, if v6 { 180 * MS } else { 160 * MS });
                self.next = t + if ev { HOUR } else { 3 * HOUR } + tr.rng.below(900) as i64 * SEC;
            }
            // A fetch of a phishing page (a listed URL in the demo's indicators): once before the
            // event over IPv4, once during it over IPv6.
            Kind::Phish => {
                visit(tr, s, t, &PHISH, &get(PHISH.name, "/secure/verify.php?account=hp"), 2);
                self.next = if t < EVENT.0 { EVENT.0 + 6 * HOUR + 13 * 60 * SEC } else { END };
            }
            // Link-local chatter: router advertisements, neighbour solicitations.
            Kind::LinkLocal => {
                let router_ll = ip(ROUTER_LL);
                let ra = L4::Icmp { icmp_type: 134, code: 0, rest: [64, 0, 0x07, 0x08], body: &[0; 8] };
                tr.push(t, router_ll, ip("ff02::1"), ra, Encap::None);
                let mut ns = [0u8; 16];
                if let IpAddr::V6(a) = router_ll {
                    ns = a.octets();
                }
                let nsm = L4::Icmp { icmp_type: 135, code: 0, rest: [0; 4], body: &ns };
                tr.push(t + 3 * SEC, s.ll, ip("ff02::1:ff3a:4f01"), nsm, Encap::None);
                self.next = t + 10 * 60 * SEC;
            }
        }
    }
}

/// One inbound probe at `t`.
fn probe(tr: &mut Trace, s: &Sensor, t: i64) {
    let kind = tr.rng.below(4);
    let port = [22u16, 23, 80, 443, 3389, 445][tr.rng.below(6) as usize];
    let syn = |sp: u16| L4::Tcp {
        sport: sp,
        dport: port,
        seq: 0x1000_0000,
        ack: 0,
        flags: flags::SYN,
        window: 1024,
        mss: None,
        full: false,
        payload: &[],
    };
    let sp = 40_000 + tr.rng.below(20_000) as u16;
    match kind {
        0 => {
            // Scanner walks ::1, ::2, ... of the sensor's /64; only the sensor's own address answers RST.
            let scanner = ip("2001:db8:5ca7::66");
            tr.push(t, scanner, s.v6, syn(sp), Encap::None);
            let rst = L4::Tcp {
                sport: port,
                dport: sp,
                seq: 0,
                ack: 0x1000_0001,
                flags: flags::RST | flags::ACK,
                window: 0,
                mss: None,
                full: false,
                payload: &[],
            };
            tr.push(t + MS, s.v6, scanner, rst, Encap::None);
        }
        1 => {
            tr.push(t, ip("2002:c633:6401::1"), s.v6, syn(sp), Encap::SixInFour(ip("198.51.100.1"), ip("192.88.99.1")))
        }
        2 => {
            let teredo_client = ip("2001:0:4136:e378:8000:63bf:3fff:fdd2");
            let echo = L4::Icmp { icmp_type: 128, code: 0, rest: [0, 1, 0, 1], body: b"teredo-probe" };
            tr.push(t, teredo_client, s.v6, echo, Encap::Teredo((ip("192.0.2.200"), 3544), (s.v4, 3544)));
        }
        _ => {
            tr.push(t, ip("203.0.113.99"), s.v4, syn(sp), Encap::None);
        }
    }
}

/// Writes one sensor's capture: activities run an hour of capture time at a time; frames that
/// spill past the hour wait for the next one, so the file is in time order.
fn write_sensor<W: std::io::Write>(s: &Sensor, seed: u64, scale: u32, w: &mut PcapngWriter<W>) -> Result<()> {
    let router_mac = [0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x01];
    let mut tr = Trace {
        b: Builder::new(s.mac, router_mac),
        own: [s.v4, s.v6, s.ll],
        macs: (s.mac, router_mac),
        out: Vec::new(),
        ident: 0,
        rng: Rng::new(seed),
        turn: Default::default(),
    };
    let mut acts = Activity::all(s);
    let mut carry: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut until = START + HOUR;
    loop {
        for a in acts.iter_mut() {
            while a.next < until && a.next < END {
                a.step(&mut tr, s, scale);
            }
        }
        carry.append(&mut tr.out);
        carry.sort_by_key(|(ts, _)| *ts);
        let done = acts.iter().all(|a| a.next >= END);
        let cut = if done { carry.len() } else { carry.partition_point(|(ts, _)| *ts < until) };
        for (ts, frame) in carry.drain(..cut) {
            w.write(ts, &frame)?;
        }
        if done {
            return Ok(());
        }
        until += HOUR;
    }
}

/// The configuration the demo writes beside its captures: display zone, the rule that tags
/// honeypot1's autonomous activity, and the World IPv6 Day window.
pub const CONFIG: &str = r#"# v6watch configuration for the World IPv6 Day demo (written by `v6watch demo`).
tz = "Asia/Tokyo"
bucket = "1h"
# Known-bad destinations (this folder's indicators.txt): a match is a Threat::Indicator_Match.
indicators = ["indicators.txt"]

[[sensor]]
name = "honeypot1"
files = "*honeypot1*"

[[sensor]]
name = "honeypot2"
files = "*honeypot2*"

# honeypot1's own scheduled bulk fetches; `--exclude autonomous` leaves them out.
[[rule]]
class = "autonomous"
sensor = "honeypot1"
name = "feeds.hp-ops.example"

[[event]]
name = "World IPv6 Day"
start = "2011-06-08T00:00:00Z"
end = "2011-06-09T00:00:00Z"
"#;

/// The demo's indicator list: a phishing URL, the spam run's sender domain, a DROP-list line.
pub const INDICATORS: &str = "# Known-bad destinations for the v6watch demo (one per line; # comments).
# Phishing page reported to the operator:
http://secure-paypa1-login.example/secure/
# Spam run's sender domain (matches MAIL FROM, DNS, SNI, Host and every name under it):
cheap-meds.example
# DROP-list form: PREFIX ; ID
2001:db8:666::/48 ; SBL-DEMO-1
";

/// Bytes the default demo writes (both files), to turn `--size` into a scale.
const BASE_BYTES: u64 = 29_500_000;
/// Of which the bulk transfers that `--size` scales.
const BULK_BYTES: u64 = 27_000_000;

/// Writes `honeypot1.pcapng` and `honeypot2.pcapng` into `dir`; `size` (bytes, approximate)
/// scales the bulk transfers for a multi-GB variant of the same scenario.
pub fn write(dir: &Path, seed: u64, size: Option<u64>) -> Result<Vec<PathBuf>> {
    let scale = size.map_or(1, |b| (b.saturating_sub(BASE_BYTES - BULK_BYTES) / BULK_BYTES).clamp(1, 100_000) as u32);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let sensors = [
        Sensor {
            name: "honeypot1",
            v4: ip("192.0.2.11"),
            v6: ip("2001:db8:100::11"),
            ll: ip("fe80::211:22ff:fe33:4411"),
            mac: [0x00, 0x11, 0x22, 0x33, 0x44, 0x11],
            resolver: ip("2001:db8:100::53"),
            autonomous: true,
            safebrowsing: &SB_1,
            sites: &[
                (&GOOGLE_WWW_1, "/"),
                (&FEDORA_1, "/"),
                (&MOZILLA, "/en-US/firefox/"),
                (&YOUTUBE_1, "/"),
                (&TWOCH, "/"),
            ],
            mirrors: &[&JAIST, &KDDI],
            mirror_every: 6 * HOUR,
        },
        Sensor {
            name: "honeypot2",
            v4: ip("192.0.2.12"),
            v6: ip("2001:db8:100::12"),
            ll: ip("fe80::211:22ff:fe33:4412"),
            mac: [0x00, 0x11, 0x22, 0x33, 0x44, 0x12],
            resolver: ip("2001:db8:100::53"),
            autonomous: false,
            safebrowsing: &SB_2,
            sites: &[(&GOOGLE_WWW_2, "/"), (&YOUTUBE_2, "/"), (&FEDORA_2, "/"), (&MOZILLA, "/en-US/firefox/")],
            mirrors: &[&IIJ],
            mirror_every: 12 * HOUR,
        },
    ];
    let mut files = Vec::new();
    for (k, s) in sensors.iter().enumerate() {
        let path = dir.join(format!("{}.pcapng", s.name));
        let f = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = PcapngWriter::new(BufWriter::with_capacity(1 << 20, f), "v6watch demo generator", "eth0")?;
        write_sensor(s, seed.wrapping_mul(31).wrapping_add(k as u64), scale, &mut w)?;
        w.finish()?;
        files.push(path);
    }
    Ok(files)
}

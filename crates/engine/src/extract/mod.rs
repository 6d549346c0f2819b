//! Application extractors: DNS (UDP and TCP; mDNS and LLMNR share the format), HTTP/1.x, SMTP,
//! TLS handshakes and QUIC Initials (decrypted: SNI, ALPN). Each flow gets an [`App`] attachment
//! that probes the first payload (port hints help, but the bytes decide) and then feeds one
//! [`Extractor`], which emits [`AppEvent`]s and, when the flow ends, sets the record's
//! `service` and `server_name`.
//!
//! This file is also the registry of protocols, the one list a new protocol joins: a protocol
//! is its own file beside this one (an [`Extractor`], its `probe`, its [`EventType`] with its
//! columns), its `mod` line and its rows in `PROBES` and [`EVENT_TYPES`] here, and its event
//! struct with its `AppEvent` variant in `model`. Every writer (JSON Lines, CSV, table), reader
//! (`--records`), the dataset export and the command line (`v6watch NAME`) follow
//! [`EVENT_TYPES`].
//!
//! Bounds: at most [`STREAM_CAP`] bytes buffered per direction, [`MAX_OOO_BYTES`] out-of-order
//! bytes held, [`MAX_EVENTS`] events per flow; past them the extractor stops (the flow is
//! still counted).

mod dns;
#[cfg(test)]
mod fixture;
mod http;
mod quic;
mod smtp;
mod tls;

pub(crate) use http::host_name;

use crate::columns::EventType;
use crate::flow::{Attachment, PacketCtx};
use crate::model::{AppEvent, FlowRecord};
use wire::tcp as wtcp;

/// A protocol's probe: given a flow's payload `p` (sent by the originator or not; at the start
/// of its direction's stream or not), the extractor that takes the flow, if it is this
/// protocol's.
type ProbeFn = fn(&PacketCtx<'_>, &[u8], bool, bool) -> Option<Box<dyn Extractor>>;

/// First match wins: DNS before HTTP (TCP port 53 is DNS whatever it carries), QUIC last (it
/// is recognised on any port).
const PROBES: &[ProbeFn] = &[dns::probe, http::probe, smtp::probe, tls::probe, quic::probe];

/// The events the protocols emit, in [`EventKind`](crate::model::EventKind) number order
/// (`EventKind::X as usize` indexes it).
pub const EVENT_TYPES: [EventType; crate::model::EventKind::ALL.len()] =
    [dns::EVENTS, http::EVENTS, tls::EVENTS, smtp::EVENTS];

/// Bytes buffered per direction while waiting for a complete message.
pub const STREAM_CAP: usize = 64 << 10;
/// Out-of-order bytes held per direction (a byte bound, as Zeek's reassembly has, so that how
/// the sender cut its segments does not decide what is followed).
pub const MAX_OOO_BYTES: usize = 32 << 10;
/// Out-of-order segments held per direction (bounds the per-segment overhead of tiny ones).
pub const MAX_OOO: usize = 512;
/// Events one flow may emit.
pub const MAX_EVENTS: usize = 64;
/// UDP datagrams inspected before giving up on recognising a protocol.
const PROBE_PACKETS: u8 = 12;
/// Bytes of a TCP originator's stream searched for a TLS handshake before giving up: generous
/// for TLS behind a SOCKS handshake or after SMTP/IMAP/POP3 STARTTLS. A byte count, not a
/// packet count, so the decision does not depend on how the stream was segmented.
const PROBE_BYTES: u64 = 16 << 10;
/// Bytes from the responder after which a TCP flow not yet recognised is given up (a server
/// speaking first and long is not a protocol extracted here).
const PROBE_RESP_BYTES: u64 = 64 << 10;

// Seven cache lines per flow slot with the extractors' state: a field that grows the slot costs
// a line per packet, so it should be a decision, not an accident.
const _: () = assert!(crate::flow::slot_size::<App>() == 448);

/// Per-flow extractor state. The status byte lives inline so that flows with nothing (more)
/// to extract cost no pointer chase per packet; the boxed state exists only for flows whose
/// payload was recognised.
#[derive(Default)]
pub struct App {
    status: Status,
    seen: u8,
    /// Directions (orig, resp) the extractor still reads; the other's packets skip the box.
    wants: [bool; 2],
    /// Directions (orig, resp) that carried payload while probing: a silent one's stream
    /// starts after its SYN, one that spoke starts where the extractor joins it.
    spoke: [bool; 2],
    state: Option<Box<dyn Extractor>>,
}

/// What a flow's extractor concluded: its service and the server name it saw.
pub(crate) struct Summary {
    pub service: &'static str,
    pub name: Option<(String, &'static str)>,
}

impl Summary {
    fn apply(&self, rec: &mut FlowRecord) {
        rec.service = Some(self.service);
        if let (None, Some((n, src))) = (&rec.server_name, &self.name) {
            rec.server_name = Some(n.clone());
            rec.name_source = Some(src);
        }
    }
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Status {
    #[default]
    Probing,
    Active,
    /// Nothing more to learn (or nothing recognised): packets are ignored.
    Done,
}

/// One application protocol's extractor: what a flow's [`App`] feeds once its payload was
/// recognised (by the protocol's probe, listed in `PROBES`).
trait Extractor: Send {
    /// One packet of the flow; returns the directions (orig, resp) still read.
    fn packet(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) -> [bool; 2];
    /// Flushes pending events and says what the extractor concluded (the state is dropped).
    fn finish(&mut self, events: &mut Vec<AppEvent>) -> Option<Summary>;
    /// The byte streams of a stream extractor, to start it where probing left them.
    fn streams(&mut self) -> Option<&mut [Stream; 2]> {
        None
    }
    /// The probe, when the flow is still being probed (see [`Probe`]).
    fn probe(&mut self) -> Option<&mut Probe> {
        None
    }
}

/// A flow's attachment holds one boxed [`Extractor`] at most (one allocation, made only for
/// flows whose payload needs it): a [`Probe`] while a TCP flow is not decided, the protocol's
/// extractor, then what it concluded.
struct Concluded(Option<Summary>);

impl Extractor for Concluded {
    fn packet(&mut self, _: &PacketCtx<'_>, _: &mut Vec<AppEvent>) -> [bool; 2] {
        [false, false]
    }
    fn finish(&mut self, _: &mut Vec<AppEvent>) -> Option<Summary> {
        self.0.take()
    }
}

/// Packets of a flow being probed go to [`App::probe_tcp`], not here.
impl Extractor for Probe {
    fn packet(&mut self, _: &PacketCtx<'_>, _: &mut Vec<AppEvent>) -> [bool; 2] {
        [false, false]
    }
    fn finish(&mut self, _: &mut Vec<AppEvent>) -> Option<Summary> {
        None
    }
    fn streams(&mut self) -> Option<&mut [Stream; 2]> {
        Some(&mut self.streams)
    }
    fn probe(&mut self) -> Option<&mut Probe> {
        Some(self)
    }
}

/// A TCP flow being probed past its first payload: the originator's stream reassembled
/// (from its start when the SYN was seen, so segments ahead of it wait for it) and searched
/// for a TLS handshake at any offset; only what could still begin one is kept.
struct Probe {
    streams: [Stream; 2],
    /// The originator's stream start has been probed (as a prefix).
    start_probed: bool,
    /// Bytes of the originator's stream searched, and bytes the responder sent.
    searched: u64,
    /// The byte before the stream's first held byte ends a line (or nothing came before).
    line_start: bool,
    /// The stream's first byte is probably a keep-alive's (see [`App::probe_tcp`]).
    keepalive: bool,
    resp_bytes: u64,
    /// The responder's stream start (known from its SYN-ACK) has been probed (as a prefix):
    /// a protocol whose server speaks first (SMTP's greeting) is recognised however the
    /// greeting's segments were ordered.
    resp_start_probed: bool,
}

impl Attachment for App {
    type Event = AppEvent;

    fn packet(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) {
        match self.status {
            Status::Done => return,
            Status::Probing => {
                if ctx.payload.is_empty() {
                    return;
                }
                self.seen = self.seen.saturating_add(1);
                let found = if ctx.tcp.is_some() {
                    self.probe_tcp(ctx)
                } else {
                    Ok(probe(ctx, ctx.payload, ctx.from_orig, true))
                };
                self.spoke[usize::from(!ctx.from_orig)] = true;
                match found {
                    Ok(Some(s)) => {
                        self.state = Some(s);
                        self.status = Status::Active;
                        self.wants = [true, true];
                    }
                    Ok(None) if ctx.tcp.is_some() || self.seen < PROBE_PACKETS => return,
                    Ok(None) | Err(()) => {
                        self.status = Status::Done;
                        self.state = None;
                        return;
                    }
                }
            }
            Status::Active => {
                if !self.wants[usize::from(!ctx.from_orig)] {
                    return;
                }
            }
        }
        self.wants = match self.state.as_mut() {
            Some(x) => x.packet(ctx, events),
            None => [false, false],
        };
        if self.wants == [false, false] {
            // Nothing more to read: keep the conclusion, free the state now (a flow can live
            // for minutes after its handshake).
            self.status = Status::Done;
            self.state = self.finish(events).map(|s| Box::new(Concluded(Some(s))) as Box<dyn Extractor>);
        }
    }

    fn end(&mut self, rec: &mut FlowRecord, events: &mut Vec<AppEvent>) {
        if let Some(s) = self.finish(events) {
            s.apply(rec);
        }
    }

    fn warm(&self) {
        // The extractor's own state: what its next packet reads.
        if let Some(x) = &self.state {
            crate::prefetch::bytes((&**x as *const dyn Extractor).cast(), std::mem::size_of_val(&**x).min(128));
        }
    }
}

impl App {
    /// Flushes pending events and says what the extractor concluded.
    fn finish(&mut self, events: &mut Vec<AppEvent>) -> Option<Summary> {
        self.state.take()?.finish(events)
    }

    /// One TCP payload packet while probing: the extractor it starts (`Ok(None)`: not yet,
    /// `Err`: give up). Decisions do not depend on how the stream was cut into segments: its
    /// start is probed as a prefix (a one-byte first segment is enough to commit), segments
    /// ahead of the start wait for it, a TLS handshake is found at any offset of the
    /// originator's first [`PROBE_BYTES`], and an extractor starts with the streams of the
    /// directions that were silent so far positioned at their starts.
    fn probe_tcp(&mut self, ctx: &PacketCtx<'_>) -> Result<Option<Box<dyn Extractor>>, ()> {
        let dir = usize::from(!ctx.from_orig);
        if self.state.as_mut().and_then(|s| s.probe()).is_none() {
            // The first payload packet: the common case decides here, without buffering.
            let (seq, start) = (ctx.tcp.map(|t| t.seq), ctx.starts[dir]);
            let ahead = seq.zip(start).is_some_and(|(q, s)| after(q, s));
            if !self.spoke[dir] && !ahead {
                if let Some(mut found) = probe(ctx, ctx.payload, ctx.from_orig, true) {
                    let fresh = self.fresh_streams(ctx);
                    if let Some(s) = found.streams() {
                        *s = fresh;
                    }
                    return Ok(Some(found));
                }
            }
            let streams = self.fresh_streams(ctx);
            let start_probed = self.spoke[0] || (dir == 0 && !ahead);
            // A capture that begins mid-connection often begins with a keep-alive: one byte
            // below the sender's next sequence number. What follows it is a message start.
            let keepalive = dir == 0 && start.is_none() && ctx.payload.len() == 1;
            // Without the responder's SYN-ACK its first bytes are not its stream's start.
            let resp_start_probed = self.spoke[1] || ctx.starts[1].is_none();
            let probe = Probe {
                streams,
                start_probed,
                searched: 0,
                line_start: true,
                keepalive,
                resp_bytes: 0,
                resp_start_probed,
            };
            self.state = Some(Box::new(probe));
        }
        let Some(p) = self.state.as_mut().and_then(|s| s.probe()) else { return Err(()) };
        p.streams[dir].push(ctx);
        if dir == 1 {
            p.resp_bytes += ctx.payload.len() as u64;
            if !p.resp_start_probed && !p.streams[1].buf.is_empty() {
                // The responder's first in-order bytes: its stream's start.
                p.resp_start_probed = true;
                if let Some(mut found) = probe(ctx, &p.streams[1].buf, false, true) {
                    if let Some(s) = found.streams() {
                        *s = std::mem::take(&mut p.streams);
                    }
                    self.state = None;
                    return Ok(Some(found));
                }
            }
            let n = p.streams[1].buf.len();
            p.streams[1].consume(n); // only its position matters
            return if p.resp_bytes > PROBE_RESP_BYTES { Err(()) } else { Ok(None) };
        }
        if let Some(mut found) = p.search(ctx) {
            if let Some(s) = found.streams() {
                // The originator's stream from where the message starts; the responder's at
                // its position (its start if it was silent).
                *s = std::mem::take(&mut p.streams);
            }
            self.state = None;
            return Ok(Some(found));
        }
        if p.streams[0].broken || p.searched > PROBE_BYTES {
            return Err(());
        }
        Ok(None)
    }

    /// Streams for a new extractor: a direction that has not spoken yet starts after its SYN
    /// (when seen), so its first segments are placed even when they come out of order.
    fn fresh_streams(&self, ctx: &PacketCtx<'_>) -> [Stream; 2] {
        std::array::from_fn(|d| match ctx.starts[d] {
            Some(s) if !self.spoke[d] => Stream::at(s),
            _ => Stream::default(),
        })
    }
}

impl Probe {
    /// Probes what the originator's stream now holds: its start as a prefix (once), then every
    /// offset where a TLS handshake record or, at a line start, an HTTP request could begin.
    /// Drops the bytes that can no longer begin one; when one is found, the stream is left
    /// starting at it.
    fn search(&mut self, ctx: &PacketCtx<'_>) -> Option<Box<dyn Extractor>> {
        let s = &mut self.streams[0];
        if s.buf.is_empty() {
            return None;
        }
        if !self.start_probed {
            self.start_probed = true;
            if let Some(found) = probe(ctx, &s.buf, true, true) {
                return Some(found);
            }
        }
        if self.keepalive {
            if s.buf.len() == 1 {
                return None; // wait for what follows it
            }
            self.keepalive = false;
            s.consume(1);
            self.searched += 1;
            if let Some(found) = probe(ctx, &s.buf, true, true) {
                return Some(found);
            }
        }
        let mut keep_from = s.buf.len();
        let mut found = None;
        for at in 0..s.buf.len() {
            let rest = &s.buf[at..];
            let line_start = if at == 0 { self.line_start } else { s.buf[at - 1] == b'\n' };
            if rest[0] == wire::tls::HANDSHAKE {
                if rest.len() >= 6 && wire::tls::looks_like_handshake(rest) {
                    found = Some((at, Box::new(tls::Tls::default()) as Box<dyn Extractor>));
                    break;
                }
                if rest.len() < 6 && wire::tls::may_start_handshake(rest) {
                    keep_from = at;
                    break;
                }
            } else if line_start && wire::http::looks_like_request(rest) {
                if wire::http::starts_request(rest) {
                    found = Some((at, Box::new(http::Http::default()) as Box<dyn Extractor>));
                    break;
                }
                keep_from = at; // a method's first letters: wait for the rest
                break;
            }
        }
        let cut = found.as_ref().map_or(keep_from, |f| f.0);
        if cut > 0 {
            self.line_start = s.buf[cut - 1] == b'\n';
        }
        self.searched += cut as u64;
        s.consume(cut);
        found.map(|f| f.1)
    }
}

/// Decides what a flow carries from payload `p` (a packet's, or the start of the
/// originator's stream) sent by the originator or not; `at_start` when `p` begins its
/// direction's stream, where a prefix of a signature is enough. The protocols' probes are
/// asked in [`PROBES`] order; the first that takes the flow extracts it.
fn probe(ctx: &PacketCtx<'_>, p: &[u8], from_orig: bool, at_start: bool) -> Option<Box<dyn Extractor>> {
    PROBES.iter().find_map(|probe| probe(ctx, p, from_orig, at_start))
}

/// One direction of a TCP byte stream, reassembled in order within fixed bounds.
#[derive(Default)]
pub(crate) struct Stream {
    next: Option<u32>,
    /// In-order bytes not yet consumed.
    pub buf: Vec<u8>,
    ooo: Vec<(u32, Vec<u8>)>,
    /// A bound was hit or a hole never filled: the stream is no longer followed.
    pub broken: bool,
}

fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl Stream {
    /// A stream whose first byte has sequence number `seq`.
    fn at(seq: u32) -> Stream {
        Stream { next: Some(seq), ..Stream::default() }
    }

    /// Adds one segment.
    pub fn push(&mut self, ctx: &PacketCtx<'_>) {
        let Some(t) = ctx.tcp else {
            self.append(ctx.payload);
            return;
        };
        if self.broken {
            return;
        }
        let mut seq = t.seq;
        if t.flags & wtcp::SYN != 0 {
            seq = seq.wrapping_add(1);
            if self.next.is_none() {
                self.next = Some(seq);
            }
        }
        let data = ctx.payload;
        if data.is_empty() {
            return;
        }
        let next = *self.next.get_or_insert(seq);
        if after(seq, next) {
            let held: usize = self.ooo.iter().map(|(_, d)| d.len()).sum();
            if self.ooo.len() >= MAX_OOO || held + data.len() > MAX_OOO_BYTES {
                self.broken = true;
                return;
            }
            self.ooo.push((seq, data.to_vec()));
            return;
        }
        self.take(seq, data);
        // Drain held segments that now fit.
        while let Some(i) = self.ooo.iter().position(|(s, _)| !after(*s, self.next.unwrap_or(*s))) {
            let (s, d) = self.ooo.swap_remove(i);
            self.take(s, &d);
        }
    }

    fn take(&mut self, seq: u32, data: &[u8]) {
        let next = self.next.unwrap_or(seq);
        let skip = next.wrapping_sub(seq) as usize;
        if skip >= data.len() {
            return; // retransmission
        }
        self.append(&data[skip..]);
        self.next = Some(seq.wrapping_add(data.len() as u32));
    }

    fn append(&mut self, d: &[u8]) {
        if self.buf.len() + d.len() > STREAM_CAP {
            self.broken = true;
            return;
        }
        self.buf.extend_from_slice(d);
    }

    /// Drops `n` consumed bytes from the front (and the allocation once empty: most flows
    /// carry one message per direction, and idle flows should cost no buffer).
    pub fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
        if self.buf.is_empty() {
            self.buf = Vec::new();
        }
    }
}

/// Text from a packet, kept as (lossy) UTF-8; escaping happens at output.
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::decode::{Addr, TcpInfo};
    use crate::flow::FlowKey;

    fn key() -> FlowKey {
        FlowKey::new(wire::ipproto::TCP, Addr::v4([192, 0, 2, 1]), 50000, Addr::v4([192, 0, 2, 2]), 80)
    }

    fn seg(s: &mut Stream, seq: u32, flags: u8, data: &[u8]) {
        let key = key();
        let tcp = TcpInfo { seq, flags, payload_len: data.len() as u32, ..TcpInfo::default() };
        let (o, r) = ((Addr::v4([192, 0, 2, 1]), 50000), (Addr::v4([192, 0, 2, 2]), 80));
        s.push(&PacketCtx::fixture(&key, 0, true, o, r, Some(tcp), [None; 2], data));
    }

    #[test]
    fn in_order_segments_across_the_sequence_wrap() {
        let mut s = Stream::default();
        seg(&mut s, u32::MAX - 2, wtcp::SYN, b"");
        seg(&mut s, u32::MAX - 1, wtcp::ACK, b"GET ");
        seg(&mut s, 2, wtcp::ACK, b"/ HTTP/1.1");
        assert_eq!(s.buf, b"GET / HTTP/1.1");
        assert!(!s.broken);
    }

    #[test]
    fn segments_ahead_wait_for_the_hole_and_retransmissions_add_only_new_bytes() {
        let mut s = Stream::at(100);
        seg(&mut s, 108, wtcp::ACK, b"89");
        seg(&mut s, 104, wtcp::ACK, b"4567");
        assert!(s.buf.is_empty(), "nothing before the hole is known");
        seg(&mut s, 100, wtcp::ACK, b"0123");
        assert_eq!(s.buf, b"0123456789");
        // A retransmission overlapping the end: only its new bytes count (the first copy of
        // a byte wins, as in Zeek's reassembler).
        seg(&mut s, 108, wtcp::ACK, b"XYab");
        assert_eq!(s.buf, b"0123456789ab");
        // A pure retransmission adds nothing.
        seg(&mut s, 100, wtcp::ACK, b"0123");
        assert_eq!(s.buf, b"0123456789ab");
        s.consume(4);
        assert_eq!(s.buf, b"456789ab");
        s.consume(100);
        assert!(s.buf.is_empty() && s.buf.capacity() == 0, "an empty stream holds no buffer");
    }

    #[test]
    fn the_syn_places_the_first_segment_even_when_a_later_one_comes_first() {
        let mut s = Stream::default();
        seg(&mut s, 999, wtcp::SYN, b"");
        seg(&mut s, 1003, wtcp::ACK, b"tail");
        seg(&mut s, 1000, wtcp::ACK, b"abc");
        assert_eq!(s.buf, b"abctail");
    }

    #[test]
    fn out_of_order_bytes_are_bounded() {
        let mut s = Stream::at(0);
        let chunk = vec![b'x'; 1024];
        for i in 0..(MAX_OOO_BYTES / 1024) as u32 {
            seg(&mut s, 10 + i * 1024, wtcp::ACK, &chunk);
            assert!(!s.broken, "{i} KiB held");
        }
        seg(&mut s, 10 + (MAX_OOO_BYTES as u32), wtcp::ACK, b"y");
        assert!(s.broken);
        // A broken stream takes nothing more, even the missing bytes.
        seg(&mut s, 0, wtcp::ACK, b"0123456789");
        assert!(s.buf.is_empty());
    }

    #[test]
    fn buffered_bytes_are_bounded() {
        let mut s = Stream::at(0);
        let chunk = vec![b'x'; 4096];
        let mut seq = 0u32;
        while !s.broken {
            seg(&mut s, seq, wtcp::ACK, &chunk);
            seq += 4096;
            assert!(s.buf.len() <= STREAM_CAP);
        }
        assert_eq!(seq as usize, STREAM_CAP + 4096);
    }
}

#[cfg(test)]
mod registry_test {
    use super::*;
    use crate::model::EventKind;

    /// Each event type sits at its kind's number, names are unique, and no column shadows the
    /// keys every JSON line has (`type`, `sensor`).
    #[test]
    fn event_types_are_indexed_by_kind_and_their_columns_are_unique() {
        assert_eq!(EVENT_TYPES.len(), EventKind::ALL.len());
        for (i, t) in EVENT_TYPES.iter().enumerate() {
            assert_eq!((t.empty)().kind(), EventKind::ALL[i], "{}", t.name);
            assert!(EVENT_TYPES.iter().filter(|u| u.name == t.name).count() == 1, "{}", t.name);
            let names: Vec<&str> = t.all_columns().map(|c| c.name).collect();
            for (j, n) in names.iter().enumerate() {
                assert!(!names[..j].contains(n), "{}: {n} twice", t.name);
            }
            assert!(t.columns.iter().all(|c| c.name != "type" && c.name != "sensor"), "{}", t.name);
        }
    }
}

//! Application extractors: DNS (UDP and TCP; mDNS and LLMNR share the format), HTTP/1.x, TLS
//! handshakes and QUIC Initials (decrypted: SNI, ALPN). Each flow gets an [`App`] attachment that probes the first payload (port hints
//! help, but the bytes decide) and then feeds one extractor, which emits [`AppEvent`]s and, when
//! the flow ends, sets the record's `service` and `server_name`.
//!
//! Bounds: at most [`STREAM_CAP`] bytes buffered per direction, [`MAX_OOO`] out-of-order
//! segments held, [`MAX_EVENTS`] events per flow; past them the extractor stops (the flow is
//! still counted).

mod dns;
mod http;
mod quic;
mod tls;

use crate::flow::{Attachment, PacketCtx};
use crate::model::{AppEvent, FlowRecord};
use wire::{ipproto, tcp as wtcp};

/// Bytes buffered per direction while waiting for a complete message.
pub const STREAM_CAP: usize = 64 << 10;
/// Out-of-order segments held per direction.
pub const MAX_OOO: usize = 8;
/// Events one flow may emit.
pub const MAX_EVENTS: usize = 64;
/// Payload packets inspected before giving up on recognising a protocol. Generous enough for
/// TLS behind a SOCKS handshake or after SMTP/IMAP/POP3 STARTTLS.
const PROBE_PACKETS: u8 = 12;

/// Per-flow extractor state. The status byte lives inline so that flows with nothing (more)
/// to extract cost no pointer chase per packet; the boxed state exists only for flows whose
/// payload was recognised.
#[derive(Default)]
pub struct App {
    status: Status,
    seen: u8,
    /// Directions (orig, resp) the extractor still reads; the other's packets skip the box.
    wants: [bool; 2],
    state: Option<Box<State>>,
    /// What a finished extractor learned, kept after its state is dropped.
    summary: Option<Box<Summary>>,
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

enum State {
    Dns(dns::Dns),
    Http(http::Http),
    Tls(tls::Tls),
    Quic(quic::Quic),
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
                self.seen += 1;
                match probe(ctx) {
                    Some(s) => {
                        self.state = Some(Box::new(s));
                        self.status = Status::Active;
                        self.wants = [true, true];
                    }
                    None if self.seen >= PROBE_PACKETS => {
                        self.status = Status::Done;
                        return;
                    }
                    None => return,
                }
            }
            Status::Active => {
                if !self.wants[usize::from(!ctx.from_orig)] {
                    return;
                }
            }
        }
        self.wants = match self.state.as_deref_mut() {
            Some(State::Dns(x)) => {
                x.packet(ctx, events);
                [true, true]
            }
            Some(State::Http(x)) => x.packet(ctx, events),
            Some(State::Tls(x)) => x.packet(ctx, events),
            Some(State::Quic(x)) => x.packet(ctx, events),
            None => [false, false],
        };
        if self.wants == [false, false] {
            // Nothing more to read: keep the conclusion, free the state now (a flow can live
            // for minutes after its handshake).
            self.status = Status::Done;
            self.summary = self.finish(events).map(Box::new);
            self.state = None;
        }
    }

    fn end(&mut self, rec: &mut FlowRecord, events: &mut Vec<AppEvent>) {
        if let Some(s) = self.finish(events).or_else(|| self.summary.take().map(|b| *b)) {
            s.apply(rec);
        }
    }

    fn warm(&self) {
        if let Some(state) = self.state.as_deref() {
            crate::prefetch::bytes((state as *const State).cast(), std::mem::size_of::<State>().min(128));
        }
    }
}

impl App {
    /// Flushes pending events and says what the extractor concluded.
    fn finish(&mut self, events: &mut Vec<AppEvent>) -> Option<Summary> {
        match self.state.as_deref_mut()? {
            State::Dns(x) => Some(x.finish(events)),
            State::Http(x) => Some(x.finish(events)),
            State::Tls(x) => x.finish(events),
            State::Quic(x) => x.finish(events),
        }
    }
}

/// Decides what a flow carries from its first payload.
fn probe(ctx: &PacketCtx<'_>) -> Option<State> {
    let p = ctx.payload;
    let ports = [ctx.orig.1, ctx.resp.1];
    let dns_port = |x: u16| matches!(x, 53 | 5353 | 5355);
    match ctx.ip_proto {
        ipproto::UDP if ports.iter().any(|x| dns_port(*x)) && dns::plausible(p) => {
            Some(State::Dns(dns::Dns::new(ctx, false)))
        }
        ipproto::TCP if ports.contains(&53) => Some(State::Dns(dns::Dns::new(ctx, true))),
        ipproto::TCP if ctx.from_orig && wire::http::looks_like_request(p) => Some(State::Http(http::Http::default())),
        // HTTP over UDP: SSDP (UPnP discovery), one message per datagram.
        ipproto::UDP
            if ports.contains(&1900)
                && (p.starts_with(b"M-SEARCH ") || p.starts_with(b"NOTIFY ") || p.starts_with(b"HTTP/1.")) =>
        {
            Some(State::Http(http::Http::datagrams()))
        }
        ipproto::TCP if ctx.from_orig && wire::tls::looks_like_handshake(p) => Some(State::Tls(tls::Tls::default())),
        // QUIC on any port: the Initial's long header says so.
        ipproto::UDP if ctx.from_orig && quic::looks_like_initial(p) => Some(State::Quic(quic::Quic::default())),
        _ => None,
    }
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
            if self.ooo.len() >= MAX_OOO {
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

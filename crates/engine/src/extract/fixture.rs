//! A connection in a test: packets handed to an [`App`] as the flow table hands them (sequence
//! numbers kept per side, the handshake's stream starts known), so an extractor's byte
//! fixtures can be fed whole, cut anywhere, reordered or repeated.

use super::{App, Summary};
use crate::decode::{Addr, TcpInfo};
use crate::flow::{Attachment, FlowKey, PacketCtx};
use crate::model::AppEvent;
use wire::{ipproto, tcp as wtcp};

pub(crate) fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex fixture");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex fixture")).collect()
}

pub(crate) struct Conn {
    key: FlowKey,
    orig: (Addr, u16),
    resp: (Addr, u16),
    /// Initial sequence numbers (orig, resp); a side's stream starts one after.
    isn: [u32; 2],
    /// Stream bytes each side sent so far (the next segment's offset).
    sent: [u32; 2],
    tcp: bool,
    ts: i64,
    pub app: App,
    pub events: Vec<AppEvent>,
}

impl Conn {
    /// A TCP connection whose handshake was seen (so both stream starts are known), or a UDP
    /// one, from 2001:db8::1 to 2001:db8::2 on `port`.
    pub fn new(proto: u8, port: u16) -> Conn {
        let orig = (Addr::from_ip("2001:db8::1".parse().expect("address")), 50000);
        let resp = (Addr::from_ip("2001:db8::2".parse().expect("address")), port);
        Conn {
            key: FlowKey::new(proto, orig.0, orig.1, resp.0, resp.1),
            orig,
            resp,
            isn: [0xfffffff0, 7000], // the originator's sequence numbers wrap
            sent: [0, 0],
            tcp: proto == ipproto::TCP,
            ts: 1_000_000_000,
            app: App::default(),
            events: Vec::new(),
        }
    }

    /// Sends `payload` as the next bytes of a side's stream.
    pub fn send(&mut self, from_orig: bool, payload: &[u8]) {
        let at = self.sent[usize::from(!from_orig)];
        self.send_at(from_orig, at, payload);
    }

    /// Sends `payload` at stream offset `at` of a side (out of order, or again).
    pub fn send_at(&mut self, from_orig: bool, at: u32, payload: &[u8]) {
        let side = usize::from(!from_orig);
        self.ts += 1_000_000;
        let tcp = self.tcp.then(|| TcpInfo {
            sport: if from_orig { self.orig.1 } else { self.resp.1 },
            dport: if from_orig { self.resp.1 } else { self.orig.1 },
            seq: self.isn[side].wrapping_add(1).wrapping_add(at),
            ack: self.isn[1 - side].wrapping_add(1).wrapping_add(self.sent[1 - side]),
            flags: wtcp::ACK | wtcp::PSH,
            window: 65535,
            options: None,
            payload_len: payload.len() as u32,
        });
        let starts =
            if self.tcp { [Some(self.isn[0].wrapping_add(1)), Some(self.isn[1].wrapping_add(1))] } else { [None; 2] };
        let ctx = PacketCtx::fixture(&self.key, self.ts, from_orig, self.orig, self.resp, tcp, starts, payload);
        self.app.packet(&ctx, &mut self.events);
        let end = at.wrapping_add(payload.len() as u32);
        if super::after(end, self.sent[side]) {
            self.sent[side] = end;
        }
    }

    /// Sends `payload` in segments of `n` bytes.
    pub fn send_cut(&mut self, from_orig: bool, payload: &[u8], n: usize) {
        for chunk in payload.chunks(n.max(1)) {
            self.send(from_orig, chunk);
        }
    }

    /// Ends the flow: what the extractor concluded, with every event it still held.
    pub fn finish(&mut self) -> Option<(&'static str, Option<(String, &'static str)>)> {
        let s: Option<Summary> = self.app.finish(&mut self.events);
        s.map(|s| (s.service, s.name))
    }
}

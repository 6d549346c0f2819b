//! TLS ClientHello and ServerHello across records and segments.

use super::{text, Stream};
use crate::flow::{uid_string, PacketCtx};
use crate::model::{AppEvent, TlsEvent};
use wire::tls;

/// Handshake bytes gathered per direction at most (post-quantum ClientHellos exceed 1 MTU).
const MAX_HANDSHAKE: usize = 32 << 10;

#[derive(Default)]
pub(crate) struct Tls {
    pub(super) streams: [Stream; 2],
    /// Handshake-layer bytes (record headers removed), per direction.
    hs: [Vec<u8>; 2],
    done: [bool; 2],
    /// ClientHellos seen (a HelloRetryRequest makes the client send a second one).
    hellos: u8,
    event: Option<TlsEvent>,
    emitted: bool,
}

impl Tls {
    /// One packet; returns which directions are still read.
    pub fn packet(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) -> [bool; 2] {
        self.hello(ctx, events);
        if self.done[1] {
            // No ServerHello will come (or it came): report the handshake now.
            self.flush(events);
        }
        for i in 0..2 {
            if self.done[i] {
                // Nothing more to read that way: free the buffers now, not at the flow's end.
                self.streams[i] = Default::default();
                self.hs[i] = Vec::new();
            }
        }
        [!self.done[0], !self.done[1]]
    }

    fn hello(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) {
        let i = usize::from(!ctx.from_orig);
        if self.done[i] {
            return;
        }
        self.streams[i].push(ctx);
        // Move complete handshake records' payloads into the handshake buffer.
        loop {
            let s = &mut self.streams[i];
            let Ok((ct, _, len)) = tls::record_header(&s.buf) else {
                if s.buf.len() >= 5 {
                    self.done[i] = true;
                }
                break;
            };
            if s.buf.len() < 5 + len {
                break;
            }
            if ct == 20 {
                // ChangeCipherSpec (TLS 1.3 middlebox compatibility) may precede a second hello.
                s.consume(5 + len);
                continue;
            }
            if ct != tls::HANDSHAKE {
                self.done[i] = true;
                break;
            }
            if self.hs[i].len() + len > MAX_HANDSHAKE {
                self.done[i] = true;
                break;
            }
            self.hs[i].extend_from_slice(&s.buf[5..5 + len]);
            s.consume(5 + len);
            let Ok((typ, blen)) = tls::handshake_header(&self.hs[i]) else {
                continue;
            };
            if self.hs[i].len() < 4 + blen {
                continue;
            }
            let body = &self.hs[i][4..4 + blen];
            let mut more = false;
            if i == 0 && typ == 1 {
                if let Ok(h) = tls::client_hello(body) {
                    // A second ClientHello (after HelloRetryRequest) is its own event.
                    if self.hellos > 0 {
                        self.flush(events);
                        self.emitted = false;
                    }
                    self.hellos += 1;
                    more = self.hellos < 2;
                    self.event = Some(hello_event(ctx, h, "tls"));
                }
            } else if i == 1 && typ == 2 {
                if let (Ok(sh), Some(ev)) = (tls::server_hello(body), self.event.as_mut()) {
                    ev.server_version = Some(tls::version_name(sh.version));
                    ev.cipher = Some(sh.cipher);
                    self.flush(events);
                }
            }
            self.hs[i] = Vec::new();
            if more {
                continue;
            }
            self.done[i] = true;
            break;
        }
    }

    fn flush(&mut self, events: &mut Vec<AppEvent>) {
        if let (false, Some(ev)) = (self.emitted, self.event.as_ref()) {
            self.emitted = true;
            events.push(AppEvent::Tls(ev.clone()));
        }
    }

    pub fn finish(&mut self, events: &mut Vec<AppEvent>) -> Option<super::Summary> {
        self.flush(events);
        let ev = self.event.take()?;
        Some(super::Summary { service: "ssl", name: ev.sni.map(|s| (s.to_ascii_lowercase(), "sni")) })
    }
}

/// The event a ClientHello makes (over TCP, or from a decrypted QUIC Initial).
pub(crate) fn hello_event(ctx: &PacketCtx<'_>, h: tls::ClientHello, transport: &'static str) -> TlsEvent {
    let versions = if h.versions.is_empty() { vec![h.legacy_version] } else { h.versions };
    TlsEvent {
        ts: ctx.ts,
        uid: uid_string(ctx.uid()),
        client: ctx.orig.0,
        server: ctx.resp.0,
        server_port: ctx.resp.1,
        sni: h.sni.map(|s| text(s.as_bytes())),
        alpn: h.alpn,
        versions: versions.into_iter().map(tls::version_name).collect(),
        ech: h.ech,
        server_version: None,
        cipher: None,
        transport,
    }
}

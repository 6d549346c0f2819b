//! HTTP/1.x requests and response statuses, across segments, with pipelining.

use super::{text, Stream, MAX_EVENTS};
use crate::flow::{uid_string, PacketCtx};
use crate::model::{AppEvent, HttpEvent};
use std::collections::VecDeque;

/// Longest head accepted.
const MAX_HEAD: usize = 16 << 10;

/// The name in a Host header: without the port, without IPv6 brackets, lower case.
fn host_name(h: &str) -> String {
    let h = h.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        match h.rsplit_once(':') {
            Some((n, p)) if !n.contains(':') && p.bytes().all(|c| c.is_ascii_digit()) => n,
            _ => h,
        }
    };
    name.to_ascii_lowercase()
}

#[derive(Default)]
pub(crate) struct Http {
    pub(super) streams: [Stream; 2],
    /// Body bytes still to skip, per direction; `None` = cannot skip (chunked), stop.
    skip: [Option<u64>; 2],
    pending: VecDeque<HttpEvent>,
    emitted: usize,
    first_host: Option<String>,
    started: bool,
    /// Each datagram is a whole message (SSDP): no stream, no body skipping.
    datagrams: bool,
}

impl Http {
    /// HTTP over UDP (SSDP).
    pub fn datagrams() -> Http {
        Http { datagrams: true, ..Http::default() }
    }

    fn datagram(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) {
        let p = ctx.payload;
        let end = wire::http::head_end(p).unwrap_or(p.len());
        if let Some(h) = wire::http::request(&p[..end]) {
            let ev = self.request(ctx, &h);
            self.emit(ev, events);
        }
    }

    fn request(&self, ctx: &PacketCtx<'_>, h: &wire::http::Head<'_>) -> HttpEvent {
        let (client, server, port) =
            if ctx.from_orig { (ctx.orig.0, ctx.resp.0, ctx.resp.1) } else { (ctx.resp.0, ctx.orig.0, ctx.orig.1) };
        HttpEvent {
            ts: ctx.ts,
            uid: uid_string(ctx.uid()),
            client,
            server,
            server_port: port,
            method: text(h.method),
            host: h.host.map(text),
            uri: text(h.target),
            version: text(h.version),
            user_agent: h.user_agent.map(text),
            request_body_len: h.content_length,
            status: None,
        }
    }

    /// One packet; returns which directions are still parsed.
    pub fn packet(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) -> [bool; 2] {
        if self.datagrams {
            self.datagram(ctx, events);
            return [true, true];
        }
        self.stream_packet(ctx, events);
        if self.skip[1].is_none() {
            // No response will be read any more: what is pending will get no status.
            while let Some(ev) = self.pending.pop_front() {
                self.emit(ev, events);
            }
        }
        [self.skip[0].is_some(), self.skip[1].is_some()]
    }

    fn stream_packet(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) {
        if !self.started {
            self.skip = [Some(0), Some(0)];
            self.started = true;
        }
        let i = usize::from(!ctx.from_orig);
        if self.skip[i].is_none() {
            return; // this direction is no longer followed: buffer nothing
        }
        self.streams[i].push(ctx);
        loop {
            let Some(skip) = self.skip[i] else { return };
            let s = &mut self.streams[i];
            if skip > 0 {
                let n = (skip as usize).min(s.buf.len());
                s.consume(n);
                self.skip[i] = Some(skip - n as u64);
                if s.buf.is_empty() {
                    return;
                }
                continue;
            }
            if s.buf.is_empty() {
                return;
            }
            // What starts here must look like a message head, or this direction is not HTTP
            // (any more): stop rather than buffer up to the head limit.
            let plausible =
                if i == 0 { wire::http::looks_like_request(&s.buf) } else { wire::http::looks_like_response(&s.buf) };
            if !plausible {
                self.skip[i] = None;
                s.buf = Vec::new();
                return;
            }
            let Some(end) = wire::http::head_end(&s.buf) else {
                if s.buf.len() > MAX_HEAD {
                    self.skip[i] = None;
                }
                return;
            };
            let head = s.buf[..end].to_vec();
            s.consume(end);
            if i == 0 {
                let Some(h) = wire::http::request(&head) else {
                    self.skip[0] = None;
                    return;
                };
                let ev = self.request(ctx, &h);
                if self.first_host.is_none() {
                    self.first_host = ev.host.clone();
                }
                self.skip[0] = if h.chunked { None } else { Some(h.content_length.unwrap_or(0)) };
                if self.pending.len() >= MAX_EVENTS {
                    self.skip[0] = None;
                    return;
                }
                if self.pending.is_empty() {
                    self.pending.reserve_exact(1); // one outstanding request is the usual case
                }
                self.pending.push_back(ev);
            } else {
                let Some(h) = wire::http::response(&head) else {
                    self.skip[1] = None;
                    return;
                };
                // 1xx responses precede the real one; HEAD and 204/304 have no body.
                if h.status >= 200 {
                    if let Some(mut ev) = self.pending.pop_front() {
                        ev.status = Some(h.status);
                        let bodyless = ev.method == "HEAD" || h.status == 204 || h.status == 304;
                        // A chunked body, or one that runs until close, cannot be skipped: stop
                        // reading this direction (requests go on being parsed).
                        self.skip[1] = if bodyless {
                            Some(0)
                        } else if h.chunked {
                            None
                        } else {
                            h.content_length
                        };
                        self.emit(ev, events);
                    } else {
                        self.skip[1] = None;
                    }
                }
            }
        }
    }

    fn emit(&mut self, ev: HttpEvent, events: &mut Vec<AppEvent>) {
        if self.emitted < MAX_EVENTS {
            self.emitted += 1;
            events.push(AppEvent::Http(ev));
        }
    }

    pub fn finish(&mut self, events: &mut Vec<AppEvent>) -> super::Summary {
        while let Some(ev) = self.pending.pop_front() {
            self.emit(ev, events);
        }
        let name = self.first_host.take().map(|h| (host_name(&h), "http-host"));
        super::Summary { service: if self.datagrams { "ssdp" } else { "http" }, name }
    }
}

#[cfg(test)]
mod test {
    #[test]
    fn host_names() {
        assert_eq!(super::host_name("WWW.Example.org:8080"), "www.example.org");
        assert_eq!(super::host_name("[2001:db8::1]:80"), "2001:db8::1");
        assert_eq!(super::host_name("2001:db8::1"), "2001:db8::1");
        assert_eq!(super::host_name("example.org"), "example.org");
    }
}

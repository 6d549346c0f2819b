//! HTTP/1.x requests and response statuses, across segments, with pipelining.

use super::{text, Extractor, Stream, MAX_EVENTS};
use crate::columns::{event_access, int, opt, string, text_or_null, Csv, EventColumn, EventType, Value};
use crate::flow::{uid_string, PacketCtx};
use crate::model::{AppEvent, HttpEvent};
use std::collections::VecDeque;
use wire::ipproto;

/// Longest head accepted.
const MAX_HEAD: usize = 16 << 10;

/// The name in a Host header: without the port, without IPv6 brackets, lower case.
pub(crate) fn host_name(h: &str) -> String {
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

/// Takes TCP flows whose originator sends a request line (its first letters are enough at a
/// stream's start) and SSDP: HTTP over UDP on port 1900, one message per datagram.
pub(super) fn probe(ctx: &PacketCtx<'_>, p: &[u8], from_orig: bool, at_start: bool) -> Option<Box<dyn Extractor>> {
    match ctx.ip_proto {
        ipproto::TCP
            if from_orig
                && (if at_start { wire::http::looks_like_request(p) } else { wire::http::starts_request(p) }) =>
        {
            Some(Box::new(Http::default()))
        }
        ipproto::UDP
            if [ctx.orig.1, ctx.resp.1].contains(&1900)
                && (p.starts_with(b"M-SEARCH ") || p.starts_with(b"NOTIFY ") || p.starts_with(b"HTTP/1.")) =>
        {
            Some(Box::new(Http::datagrams()))
        }
        _ => None,
    }
}

impl Extractor for Http {
    fn packet(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) -> [bool; 2] {
        self.read(ctx, events)
    }

    fn finish(&mut self, events: &mut Vec<AppEvent>) -> Option<super::Summary> {
        Some(self.conclude(events))
    }

    fn streams(&mut self) -> Option<&mut [Stream; 2]> {
        Some(&mut self.streams)
    }
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
    fn read(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) -> [bool; 2] {
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

    fn conclude(&mut self, events: &mut Vec<AppEvent>) -> super::Summary {
        while let Some(ev) = self.pending.pop_front() {
            self.emit(ev, events);
        }
        let name = self.first_host.take().map(|h| (host_name(&h), "http-host"));
        super::Summary { service: if self.datagrams { "ssdp" } else { "http" }, name }
    }
}

event_access!(Http, HttpEvent);

/// HTTP requests (`v6watch http`, `http.jsonl`).
pub(super) const EVENTS: EventType = EventType {
    name: "http",
    about: "HTTP/1.x requests (any port; SSDP over UDP too): method, Host, URI, User-Agent, status",
    services: &["http", "ssdp"],
    name_sources: &["http-host"],
    empty: || AppEvent::Http(HttpEvent::default()),
    columns: &[
        EventColumn {
            name: "method",
            get: |e, _| get(e, |x| Value::Text(&x.method)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.method = string(v)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "host",
            get: |e, _| get(e, |x| text_or_null(&x.host)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.host = opt(v, string)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "uri",
            get: |e, _| get(e, |x| Value::Text(&x.uri)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.uri = string(v)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "version",
            get: |e, _| get(e, |x| Value::Text(&x.version)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.version = string(v)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "user_agent",
            get: |e, _| get(e, |x| text_or_null(&x.user_agent)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.user_agent = opt(v, string)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "request_body_len",
            get: |e, _| get(e, |x| x.request_body_len.map_or(Value::Null, Value::UInt)),
            csv: Csv::No,
            set: Some(|e, v| {
                on_mut(e)?.request_body_len = opt(v, int)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "status",
            get: |e, _| get(e, |x| x.status.map_or(Value::Null, |s| Value::UInt(s.into()))),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.status = opt(v, int)?;
                Ok(())
            }),
        },
    ],
};

#[cfg(test)]
mod test {
    use super::super::fixture::Conn;
    use crate::model::{AppEvent, HttpEvent};
    use wire::ipproto;

    /// Two pipelined requests, the first with a body (the seed's Firefox update check).
    const REQUESTS: &[u8] = b"POST /safebrowsing/downloads?client=navclient-auto-ffox HTTP/1.1\r\n\
        Host: SafeBrowsing.Clients.Google.com\r\nUser-Agent: Mozilla/5.0 Firefox/4.0.1\r\n\
        Content-Length: 5\r\n\r\nhello\
        GET /favicon.ico HTTP/1.1\r\nHost: safebrowsing.clients.google.com\r\n\r\n";
    /// Their responses: a body of 3 bytes, then a 404 without one.
    const RESPONSES: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\
        HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

    fn http(events: &[AppEvent]) -> Vec<&HttpEvent> {
        events.iter().filter_map(|e| if let AppEvent::Http(h) = e { Some(h) } else { None }).collect()
    }

    #[test]
    fn pipelined_requests_get_their_statuses_however_the_streams_are_cut() {
        for cut in [1, 2, 5, 17, 64, 4096] {
            let mut c = Conn::new(ipproto::TCP, 80);
            c.send_cut(true, REQUESTS, cut);
            c.send_cut(false, RESPONSES, cut);
            let summary = c.finish();
            let ev = http(&c.events);
            assert_eq!(ev.len(), 2, "cut {cut}");
            let (a, b) = (ev[0], ev[1]);
            assert_eq!(
                (a.method.as_str(), a.uri.as_str(), a.version.as_str()),
                ("POST", "/safebrowsing/downloads?client=navclient-auto-ffox", "HTTP/1.1"),
                "cut {cut}"
            );
            assert_eq!(a.host.as_deref(), Some("SafeBrowsing.Clients.Google.com"));
            assert_eq!(a.user_agent.as_deref(), Some("Mozilla/5.0 Firefox/4.0.1"));
            assert_eq!((a.request_body_len, a.status, a.server_port), (Some(5), Some(200), 80));
            assert_eq!((b.method.as_str(), b.uri.as_str(), b.status), ("GET", "/favicon.ico", Some(404)), "cut {cut}");
            // The record is named by the first Host, lower-cased.
            assert_eq!(summary, Some(("http", Some(("safebrowsing.clients.google.com".into(), "http-host")))));
        }
    }

    #[test]
    fn a_chunked_response_ends_status_matching_but_not_request_parsing() {
        let mut c = Conn::new(ipproto::TCP, 80);
        c.send(true, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        c.send(false, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        c.send(true, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
        c.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        c.finish();
        let ev = http(&c.events);
        let got: Vec<_> = ev.iter().map(|e| (e.uri.as_str(), e.status)).collect();
        assert_eq!(got, [("/a", Some(200)), ("/b", None)]);
    }

    #[test]
    fn a_stream_that_stops_looking_like_http_is_dropped() {
        let mut c = Conn::new(ipproto::TCP, 80);
        c.send(true, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        c.send(true, &[0u8; 3000]);
        c.send(true, b"GET /later HTTP/1.1\r\n\r\n");
        c.finish();
        let uris: Vec<_> = http(&c.events).iter().map(|e| e.uri.clone()).collect();
        assert_eq!(uris, ["/"]);
    }

    #[test]
    fn ssdp_datagrams_are_requests_over_udp() {
        let mut c = Conn::new(ipproto::UDP, 1900);
        c.send(true, b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n\r\n");
        let ev = http(&c.events);
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].method.as_str(), ev[0].uri.as_str()), ("M-SEARCH", "*"));
        assert_eq!(c.finish().map(|s| s.0), Some("ssdp"));
    }

    #[test]
    fn host_names() {
        assert_eq!(super::host_name("WWW.Example.org:8080"), "www.example.org");
        assert_eq!(super::host_name("[2001:db8::1]:80"), "2001:db8::1");
        assert_eq!(super::host_name("2001:db8::1"), "2001:db8::1");
        assert_eq!(super::host_name("example.org"), "example.org");
    }
}

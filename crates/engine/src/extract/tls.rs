//! TLS ClientHello and ServerHello across records and segments.

use super::{text, Extractor, Stream};
use crate::columns::{event_access, int, opt, string, strings, text_or_null, word, Csv, EventColumn, EventType, Value};
use crate::flow::{uid_string, PacketCtx};
use crate::model::{AppEvent, TlsEvent};
use wire::tls;

/// Handshake bytes gathered per direction at most (post-quantum ClientHellos exceed 1 MTU).
const MAX_HANDSHAKE: usize = 32 << 10;

/// Takes TCP flows whose originator starts a TLS handshake record (its first bytes are
/// enough at a stream's start).
pub(super) fn probe(ctx: &PacketCtx<'_>, p: &[u8], from_orig: bool, at_start: bool) -> Option<Box<dyn Extractor>> {
    let hello = if at_start { tls::may_start_handshake(p) } else { tls::looks_like_handshake(p) };
    (ctx.ip_proto == wire::ipproto::TCP && from_orig && hello).then(|| Box::new(Tls::default()) as Box<dyn Extractor>)
}

impl Extractor for Tls {
    fn packet(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) -> [bool; 2] {
        self.read(ctx, events)
    }

    fn finish(&mut self, events: &mut Vec<AppEvent>) -> Option<super::Summary> {
        self.conclude(events)
    }

    fn streams(&mut self) -> Option<&mut [Stream; 2]> {
        Some(&mut self.streams)
    }
}

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
    fn read(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) -> [bool; 2] {
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

    fn conclude(&mut self, events: &mut Vec<AppEvent>) -> Option<super::Summary> {
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

/// Transports of TLS handshakes.
const TRANSPORTS: [&str; 2] = ["tls", "quic"];

event_access!(Tls, TlsEvent);

/// TLS handshakes and QUIC Initials (`v6watch tls`, `tls.jsonl`).
pub(super) const EVENTS: EventType = EventType {
    name: "tls",
    about:
        "TLS handshakes and decrypted QUIC Initials: server name (SNI), ALPN, offered and chosen version, cipher, ECH",
    // QUIC Initials are TLS events too (extract/quic.rs).
    services: &["ssl", "quic"],
    name_sources: &["sni", "quic-sni"],
    empty: || AppEvent::Tls(TlsEvent::default()),
    columns: &[
        EventColumn {
            name: "sni",
            get: |e, _| get(e, |x| text_or_null(&x.sni)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.sni = opt(v, string)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "alpn",
            get: |e, _| get(e, |x| Value::Strings(&x.alpn)),
            csv: Csv::Text(|e| on(e).map_or(String::new(), |x| x.alpn.join(" "))),
            set: Some(|e, v| {
                on_mut(e)?.alpn = strings(v)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "versions",
            get: |e, _| get(e, |x| Value::Strings(&x.versions)),
            csv: Csv::Text(|e| on(e).map_or(String::new(), |x| x.versions.join(" "))),
            set: Some(|e, v| {
                on_mut(e)?.versions = strings(v)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "ech",
            get: |e, _| get(e, |x| Value::Bool(x.ech)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.ech = v.as_bool().ok_or("not true or false")?;
                Ok(())
            }),
        },
        EventColumn {
            name: "server_version",
            get: |e, _| get(e, |x| text_or_null(&x.server_version)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.server_version = opt(v, string)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "cipher",
            get: |e, _| get(e, |x| x.cipher.map_or(Value::Null, |c| Value::UInt(c.into()))),
            csv: Csv::Cell(|e| on(e).and_then(|x| x.cipher).map_or(String::new(), |c| format!("0x{c:04x}"))),
            set: Some(|e, v| {
                on_mut(e)?.cipher = opt(v, int)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "transport",
            get: |e, _| get(e, |x| Value::Word(x.transport)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.transport = word(v, &TRANSPORTS)?;
                Ok(())
            }),
        },
    ],
};

#[cfg(test)]
pub(super) mod test {
    use super::super::fixture::{hex, Conn};
    use crate::model::{AppEvent, TlsEvent};
    use wire::ipproto;

    /// ClientHello in one TLS 1.0-versioned record: SNI example.com, ALPN h2 and http/1.1,
    /// supported_versions TLS 1.3 and 1.2, ciphers 0x1301 0x1302.
    pub(crate) const CLIENT_HELLO: &str =
        "16030100600100005c03030000000000000000000000000000000000000000000000000000000000\
                                000000000004130113020100002f00000010000e00000b6578616d706c652e636f6d0010000e000c\
                                02683208687474702f312e31002b00050403040303";
    /// ServerHello choosing TLS 1.3 (supported_versions) and TLS_AES_128_GCM_SHA256.
    const SERVER_HELLO: &str = "16030300320200002e03030000000000000000000000000000000000000000000000000000000000\
                                000000001301000006002b00020304";

    fn tls(events: &[AppEvent]) -> Vec<&TlsEvent> {
        events.iter().filter_map(|e| if let AppEvent::Tls(t) = e { Some(t) } else { None }).collect()
    }

    fn check(c: &mut Conn, what: &str) {
        let ev = tls(&c.events);
        assert_eq!(ev.len(), 1, "{what}");
        let e = ev[0];
        assert_eq!(e.sni.as_deref(), Some("example.com"), "{what}");
        assert_eq!(e.alpn, ["h2", "http/1.1"], "{what}");
        assert_eq!(e.versions, ["TLSv1.3", "TLSv1.2"], "{what}");
        assert_eq!(
            (e.server_version.as_deref(), e.cipher, e.ech, e.transport),
            (Some("TLSv1.3"), Some(0x1301), false, "tls"),
            "{what}"
        );
        assert_eq!(e.server_port, 443);
        assert_eq!(c.finish(), Some(("ssl", Some(("example.com".into(), "sni")))), "{what}");
    }

    #[test]
    fn a_handshake_cut_into_segments_of_any_size() {
        let (ch, sh) = (hex(CLIENT_HELLO), hex(SERVER_HELLO));
        for cut in 1..=ch.len() {
            let mut c = Conn::new(ipproto::TCP, 443);
            c.send_cut(true, &ch, cut);
            c.send_cut(false, &sh, cut);
            check(&mut c, &format!("cut {cut}"));
        }
    }

    #[test]
    fn a_hello_split_over_two_records_and_reordered_segments() {
        let ch = hex(CLIENT_HELLO);
        let hs = &ch[5..];
        let (a, b) = hs.split_at(30);
        let mut two = Vec::new();
        for part in [a, b] {
            two.extend_from_slice(&[0x16, 0x03, 0x01]);
            two.extend_from_slice(&(part.len() as u16).to_be_bytes());
            two.extend_from_slice(part);
        }
        let mut c = Conn::new(ipproto::TCP, 443);
        // The second half arrives first; the stream waits for the hole before the first.
        c.send_at(true, 40, &two[40..]);
        c.send_at(true, 0, &two[..40]);
        c.send(false, &hex(SERVER_HELLO));
        check(&mut c, "two records, reordered");
    }

    #[test]
    fn a_hello_after_a_plaintext_preamble_is_found() {
        // STARTTLS-like: text first, the handshake later in the same stream.
        let mut c = Conn::new(ipproto::TCP, 443);
        c.send(true, b"STARTTLS\r\n");
        c.send(false, b"220 go ahead\r\n");
        c.send(true, &hex(CLIENT_HELLO));
        c.send(false, &hex(SERVER_HELLO));
        check(&mut c, "after a preamble");
    }

    #[test]
    fn without_a_server_hello_the_client_hello_is_reported_at_the_end() {
        let mut c = Conn::new(ipproto::TCP, 443);
        c.send(true, &hex(CLIENT_HELLO));
        c.send(false, b"\x15\x03\x03\x00\x02\x02\x28"); // a fatal alert instead
        let ev = tls(&c.events);
        assert_eq!(ev.len(), 1, "an alert ends the server's handshake: reported at once");
        assert_eq!(ev[0].server_version, None);
        c.finish();
        assert_eq!(tls(&c.events).len(), 1, "not twice");
    }

    #[test]
    fn a_damaged_hello_yields_no_event() {
        let mut ch = hex(CLIENT_HELLO);
        ch[8] = 0xff; // the handshake body claims more bytes than its record holds
        let mut c = Conn::new(ipproto::TCP, 443);
        c.send(true, &ch);
        c.send(false, &hex(SERVER_HELLO));
        c.finish();
        assert!(tls(&c.events).is_empty());
    }
}

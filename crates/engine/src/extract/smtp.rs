//! SMTP sessions (RFC 5321, with RFC 3030 BDAT and RFC 3207 STARTTLS): the server's greeting,
//! the client's EHLO/HELO, MAIL FROM, RCPT TO (counted; the domains kept), messages and their
//! sizes, how the server answered (accepted, deferred, rejected), STARTTLS offered and taken —
//! after which the TLS ClientHello is read as `tls` reads it. One event per session.
//!
//! Bounds: lines over [`MAX_LINE`] bytes are skipped unread, message data is counted and never
//! buffered, [`MAX_PENDING`] commands may wait for their replies, lists are capped; a direction
//! that keeps sending what is not SMTP stops being read.

use super::tls::Tls;
use super::{text, Extractor, Stream};
use crate::columns::{event_access, int, opt, string, strings, text_or_null, Csv, EventColumn, EventType, Value};
use crate::flow::{uid_string, PacketCtx};
use crate::model::{AppEvent, SmtpEvent};
use std::collections::VecDeque;

/// Longest command or reply line read (RFC 5321 §4.5.3.1: 512 for commands, 1000 for text).
const MAX_LINE: usize = 1024;
/// Commands awaiting their replies (pipelining, RFC 2920) at most.
const MAX_PENDING: usize = 256;
/// Lines that are not SMTP before a direction is given up.
const MAX_JUNK: u32 = 16;
/// MAIL FROM paths and message sizes kept.
const MAX_LIST: usize = 16;
/// Recipient domains kept.
const MAX_DOMAINS: usize = 32;
/// Longest string kept from a line.
const MAX_TEXT: usize = 256;
/// The submission and relay ports where a server's greeting alone is enough to recognise SMTP.
const PORTS: [u16; 3] = [25, 587, 2525];

/// Takes TCP flows whose server greets on an SMTP port (`220 `, or another reply code: a
/// prefix is enough at the stream's start), or whose client says EHLO/HELO at its stream's
/// start on any port.
pub(super) fn probe(ctx: &PacketCtx<'_>, p: &[u8], from_orig: bool, at_start: bool) -> Option<Box<dyn Extractor>> {
    if ctx.ip_proto != wire::ipproto::TCP || !at_start || p.is_empty() {
        return None;
    }
    if !from_orig && PORTS.contains(&ctx.resp.1) && reply_start(p) {
        return Some(Box::new(Smtp::new(false)));
    }
    if from_orig && hello_start(p) {
        // The greeting went by before this flow was recognised.
        return Some(Box::new(Smtp::new(true)));
    }
    None
}

/// A reply's start: three digits, the first 2 to 5, then a space or a hyphen (or fewer bytes
/// that could begin one).
fn reply_start(p: &[u8]) -> bool {
    p.iter().take(4).enumerate().all(|(i, b)| match i {
        0 => (b'2'..=b'5').contains(b),
        1 | 2 => b.is_ascii_digit(),
        _ => *b == b' ' || *b == b'-' || *b == b'\r',
    })
}

/// `EHLO ` or `HELO ` (any case) beginning `p`, or a prefix of one when `p` is shorter.
fn hello_start(p: &[u8]) -> bool {
    let n = p.len().min(5);
    [b"EHLO ", b"HELO "].iter().any(|w| p[..n].eq_ignore_ascii_case(&w[..n])) && n >= 4
}

impl Extractor for Smtp {
    fn packet(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) -> [bool; 2] {
        if let Some(t) = self.tls.as_mut() {
            return t.packet(ctx, events);
        }
        self.read(ctx, events)
    }

    fn finish(&mut self, events: &mut Vec<AppEvent>) -> Option<super::Summary> {
        self.flush(events);
        let name = self.tls.as_mut().and_then(|t| t.finish(events)).and_then(|s| s.name);
        self.seen.then_some(super::Summary { service: "smtp", name })
    }

    fn streams(&mut self) -> Option<&mut [Stream; 2]> {
        Some(&mut self.streams)
    }
}

/// A command waiting for its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Ehlo,
    Mail,
    Rcpt,
    Data,
    /// The end of a message sent after DATA, of this many bytes.
    DataEnd(u64),
    /// A BDAT chunk; `Some(total)` when it is the LAST one.
    Bdat(Option<u64>),
    StartTls,
    Quit,
    Other,
}

/// What the client's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// Command lines.
    Commands,
    /// Message data after a 354 (RFC 5321 §4.5.2): counted until `CRLF . CRLF`. `at` is how
    /// much of the terminator has been matched (0 mid-line, 1 at a line start, 2 after the
    /// dot, 3 after its CR); `size` the bytes so far.
    Data { at: u8, size: u64 },
    /// A BDAT chunk's bytes still to skip.
    Chunk(u64),
}

pub(crate) struct Smtp {
    streams: [Stream; 2],
    event: SmtpEvent,
    /// A message of this session was seen (the event is worth emitting).
    seen: bool,
    emitted: bool,
    /// The greeting is behind us (seen, or missed before the flow was recognised).
    greeted: bool,
    pending: VecDeque<Cmd>,
    client: Client,
    /// Bytes of BDAT chunks so far in the message.
    chunked: u64,
    /// A line over [`MAX_LINE`] is being skipped, per direction.
    skipping: [bool; 2],
    junk: [u32; 2],
    done: [bool; 2],
    /// The reply being read: its lines so far, and whether one of them is STARTTLS.
    reply_lines: u32,
    reply_starttls: bool,
    /// The session went over to TLS: the packets are its.
    tls: Option<Box<Tls>>,
}

impl Smtp {
    fn new(greeted: bool) -> Smtp {
        Smtp {
            streams: Default::default(),
            event: SmtpEvent::default(),
            seen: false,
            emitted: false,
            greeted,
            pending: VecDeque::new(),
            client: Client::Commands,
            chunked: 0,
            skipping: [false; 2],
            junk: [0; 2],
            done: [false; 2],
            reply_lines: 0,
            reply_starttls: false,
            tls: None,
        }
    }

    fn read(&mut self, ctx: &PacketCtx<'_>, events: &mut Vec<AppEvent>) -> [bool; 2] {
        let i = usize::from(!ctx.from_orig);
        if !self.seen {
            self.seen = true;
            self.event.ts = ctx.ts;
            self.event.uid = uid_string(ctx.uid());
            self.event.client = ctx.orig.0;
            self.event.server = ctx.resp.0;
            self.event.server_port = ctx.resp.1;
        }
        if self.done[i] {
            return [!self.done[0], !self.done[1]];
        }
        self.streams[i].push(ctx);
        if i == 0 {
            self.client_bytes();
        } else {
            self.server_bytes(events);
        }
        if self.streams[i].broken {
            self.done[i] = true;
        }
        if self.tls.is_some() {
            // STARTTLS was taken: what follows is TLS, read from the streams' positions.
            return [true, true];
        }
        if self.done == [true, true] {
            self.flush(events);
        }
        [!self.done[0], !self.done[1]]
    }

    /// The next line of direction `i` without its line end, consumed; `None` when no whole
    /// line is there yet. Over-long lines are dropped as they come.
    fn line(&mut self, i: usize) -> Option<Vec<u8>> {
        let s = &mut self.streams[i];
        loop {
            let Some(nl) = s.buf.iter().position(|b| *b == b'\n') else {
                if s.buf.len() > MAX_LINE {
                    self.skipping[i] = true;
                    let n = s.buf.len();
                    s.consume(n);
                }
                return None;
            };
            if self.skipping[i] {
                // The end of a line too long to read: skip it.
                s.consume(nl + 1);
                self.skipping[i] = false;
                continue;
            }
            let mut line = s.buf[..nl].to_vec();
            s.consume(nl + 1);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Some(line);
        }
    }

    fn client_bytes(&mut self) {
        loop {
            match self.client {
                Client::Data { at, size } => {
                    let s = &mut self.streams[0];
                    let (mut at, mut size) = (at, size);
                    let mut end = None;
                    for (k, b) in s.buf.iter().enumerate() {
                        at = match (at, *b) {
                            (3, b'\n') => {
                                end = Some(k + 1);
                                break;
                            }
                            (1, b'.') => 2,
                            (2, b'\r') => 3,
                            (_, b'\n') => 1,
                            _ => 0,
                        };
                    }
                    match end {
                        Some(n) => {
                            // The terminator's ".\r\n" is not the message's.
                            size += n as u64;
                            s.consume(n);
                            let size = size.saturating_sub(3);
                            self.client = Client::Commands;
                            self.expect(Cmd::DataEnd(size));
                        }
                        None => {
                            size += s.buf.len() as u64;
                            let n = s.buf.len();
                            s.consume(n);
                            self.client = Client::Data { at, size };
                            return;
                        }
                    }
                }
                Client::Chunk(left) => {
                    let s = &mut self.streams[0];
                    let n = (left as usize).min(s.buf.len());
                    s.consume(n);
                    if (n as u64) < left {
                        self.client = Client::Chunk(left - n as u64);
                        return;
                    }
                    self.client = Client::Commands;
                }
                Client::Commands => {
                    let Some(line) = self.line(0) else { return };
                    self.command(&line);
                    if self.done[0] {
                        return;
                    }
                }
            }
        }
    }

    /// Records a command awaiting its reply.
    fn expect(&mut self, c: Cmd) {
        if self.pending.len() >= MAX_PENDING {
            // A client that never waits for replies: stop reading it.
            self.done[0] = true;
            return;
        }
        self.pending.push_back(c);
    }

    fn command(&mut self, line: &[u8]) {
        let (verb, arg) = match line.iter().position(|b| *b == b' ') {
            Some(k) => (&line[..k], &line[k + 1..]),
            None => (line, &[][..]),
        };
        if verb.is_empty() || verb.len() > 12 || !verb.iter().all(u8::is_ascii_alphabetic) {
            self.junk[0] += 1;
            if self.junk[0] > MAX_JUNK {
                self.done[0] = true;
            }
            // A line after AUTH (a base64 answer to 334) also lands here; it gets a reply.
            self.expect(Cmd::Other);
            return;
        }
        let verb = verb.to_ascii_uppercase();
        let cmd = match verb.as_slice() {
            b"EHLO" | b"HELO" => {
                if self.event.helo.is_none() {
                    self.event.helo = Some(bounded(arg.trim_ascii()));
                }
                Cmd::Ehlo
            }
            b"MAIL" => {
                if self.event.mail_from.len() < MAX_LIST {
                    self.event.mail_from.push(path(arg, b"FROM:"));
                }
                Cmd::Mail
            }
            b"RCPT" => {
                self.event.rcpt += 1;
                let to = path(arg, b"TO:");
                if let Some((_, d)) = to.rsplit_once('@') {
                    let d = d.to_ascii_lowercase();
                    if !d.is_empty()
                        && self.event.rcpt_domains.len() < MAX_DOMAINS
                        && !self.event.rcpt_domains.contains(&d)
                    {
                        self.event.rcpt_domains.push(d);
                    }
                }
                Cmd::Rcpt
            }
            b"DATA" => Cmd::Data,
            b"BDAT" => {
                let mut words = arg.split(|b| *b == b' ').filter(|w| !w.is_empty());
                let size: Option<u64> = words.next().and_then(|w| std::str::from_utf8(w).ok()?.parse().ok());
                let last = words.next().is_some_and(|w| w.eq_ignore_ascii_case(b"LAST"));
                let Some(size) = size else {
                    self.expect(Cmd::Other);
                    return;
                };
                self.chunked = self.chunked.saturating_add(size);
                self.client = Client::Chunk(size);
                let total = last.then_some(self.chunked);
                if last {
                    self.chunked = 0;
                }
                Cmd::Bdat(total)
            }
            b"STARTTLS" => Cmd::StartTls,
            b"QUIT" => Cmd::Quit,
            _ => Cmd::Other,
        };
        self.expect(cmd);
    }

    fn server_bytes(&mut self, events: &mut Vec<AppEvent>) {
        while let Some(line) = self.line(1) {
            let code = (line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit))
                .then(|| line[..3].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0')));
            let Some(code) = code else {
                self.junk[1] += 1;
                if self.junk[1] > MAX_JUNK {
                    self.done[1] = true;
                    return;
                }
                continue;
            };
            let more = line.get(3) == Some(&b'-');
            let text = line.get(4..).unwrap_or(&[]);
            self.reply_lines += 1;
            if text.trim_ascii().eq_ignore_ascii_case(b"STARTTLS") {
                self.reply_starttls = true;
            }
            if !self.greeted && self.event.banner.is_none() {
                self.event.banner = Some(bounded(&line));
            }
            if more && self.reply_lines < 64 {
                continue;
            }
            let starttls = std::mem::take(&mut self.reply_starttls);
            self.reply_lines = 0;
            self.reply(code, starttls, events);
            if self.tls.is_some() || self.done[1] {
                return;
            }
        }
    }

    /// A whole reply with `code`; `starttls`: one of its lines offered STARTTLS.
    fn reply(&mut self, code: u16, starttls: bool, events: &mut Vec<AppEvent>) {
        self.event.last_reply = Some(code);
        if !self.greeted {
            self.greeted = true;
            return;
        }
        let Some(cmd) = self.pending.pop_front() else { return };
        let class = code / 100;
        let tally = |e: &mut SmtpEvent| match class {
            2 | 3 => e.accepted += 1,
            4 => e.deferred += 1,
            _ => e.rejected += 1,
        };
        match cmd {
            Cmd::Ehlo => self.event.starttls_offered |= starttls,
            Cmd::Mail | Cmd::Rcpt => tally(&mut self.event),
            Cmd::Data => {
                tally(&mut self.event);
                if code == 354 {
                    self.client = Client::Data { at: 1, size: 0 };
                    self.client_bytes();
                }
            }
            Cmd::DataEnd(size) | Cmd::Bdat(Some(size)) => {
                tally(&mut self.event);
                if class == 2 {
                    self.event.messages += 1;
                    if self.event.sizes.len() < MAX_LIST {
                        self.event.sizes.push(size);
                    }
                }
            }
            Cmd::Bdat(None) => {}
            Cmd::StartTls if code == 220 => {
                self.event.starttls = true;
                self.flush(events);
                // The TLS handshake starts where the streams are now.
                let mut t = Box::new(Tls::default());
                t.streams = std::mem::take(&mut self.streams);
                self.tls = Some(t);
            }
            Cmd::Quit if class == 2 => {
                self.done = [true, true];
            }
            Cmd::StartTls | Cmd::Quit | Cmd::Other => {}
        }
    }

    fn flush(&mut self, events: &mut Vec<AppEvent>) {
        if self.seen && !self.emitted {
            self.emitted = true;
            events.push(AppEvent::Smtp(Box::new(std::mem::take(&mut self.event))));
        }
    }
}

/// Text of at most [`MAX_TEXT`] bytes.
fn bounded(b: &[u8]) -> String {
    text(&b[..b.len().min(MAX_TEXT)])
}

/// The path of `MAIL FROM:<path> params` / `RCPT TO:<path> params` (`<>` gives "").
fn path(arg: &[u8], keyword: &[u8]) -> String {
    let arg = arg.trim_ascii();
    let rest = if arg.len() >= keyword.len() && arg[..keyword.len()].eq_ignore_ascii_case(keyword) {
        arg[keyword.len()..].trim_ascii_start()
    } else {
        arg
    };
    let p = match rest.strip_prefix(b"<") {
        Some(r) => &r[..r.iter().position(|b| *b == b'>').unwrap_or(r.len())],
        None => &rest[..rest.iter().position(|b| *b == b' ').unwrap_or(rest.len())],
    };
    bounded(p)
}

event_access!(Smtp, SmtpEvent);

/// A count column.
macro_rules! count {
    ($name:literal, $field:ident) => {
        EventColumn {
            name: $name,
            get: |e, _| get(e, |x| Value::UInt(x.$field)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.$field = int(v)?;
                Ok(())
            }),
        }
    };
}

/// A true-or-false column.
macro_rules! flag {
    ($name:literal, $field:ident) => {
        EventColumn {
            name: $name,
            get: |e, _| get(e, |x| Value::Bool(x.$field)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.$field = v.as_bool().ok_or("not true or false")?;
                Ok(())
            }),
        }
    };
}

pub(super) const EVENTS: EventType = EventType {
    name: "smtp",
    about: "SMTP conversations, one per connection: greeting, EHLO name, MAIL FROM, recipients and their domains, messages and sizes, \
            replies (accepted, deferred, rejected), STARTTLS",
    services: &["smtp"],
    name_sources: &[],
    empty: || AppEvent::Smtp(Box::default()),
    columns: &[
        EventColumn {
            name: "helo",
            get: |e, _| get(e, |x| text_or_null(&x.helo)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.helo = opt(v, string)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "mail_from",
            get: |e, _| get(e, |x| Value::Strings(&x.mail_from)),
            csv: Csv::Text(|e| on(e).map_or(String::new(), |x| x.mail_from.join(" "))),
            set: Some(|e, v| {
                on_mut(e)?.mail_from = strings(v)?;
                Ok(())
            }),
        },
        count!("rcpt", rcpt),
        EventColumn {
            name: "rcpt_domains",
            get: |e, _| get(e, |x| Value::Strings(&x.rcpt_domains)),
            csv: Csv::Text(|e| on(e).map_or(String::new(), |x| x.rcpt_domains.join(" "))),
            set: Some(|e, v| {
                on_mut(e)?.rcpt_domains = strings(v)?;
                Ok(())
            }),
        },
        count!("messages", messages),
        EventColumn {
            name: "sizes",
            get: |e, _| get(e, |x| Value::UInts(&x.sizes)),
            csv: Csv::Value,
            set: Some(|e, v| {
                let list = v.as_array().ok_or("not a list")?;
                on_mut(e)?.sizes = list.iter().map(int).collect::<Result<_, _>>()?;
                Ok(())
            }),
        },
        count!("accepted", accepted),
        count!("deferred", deferred),
        count!("rejected", rejected),
        flag!("starttls_offered", starttls_offered),
        flag!("starttls", starttls),
        EventColumn {
            name: "last_reply",
            get: |e, _| get(e, |x| x.last_reply.map_or(Value::Null, |c| Value::UInt(c.into()))),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.last_reply = opt(v, int)?;
                Ok(())
            }),
        },
        EventColumn {
            name: "banner",
            get: |e, _| get(e, |x| text_or_null(&x.banner)),
            csv: Csv::Value,
            set: Some(|e, v| {
                on_mut(e)?.banner = opt(v, string)?;
                Ok(())
            }),
        },
    ],
};

#[cfg(test)]
mod test {
    use super::super::fixture::{hex, Conn};
    use crate::model::{AppEvent, SmtpEvent};
    use wire::ipproto;

    /// A session as a spam run makes it over IPv6: greeting, EHLO with pipelining and
    /// STARTTLS offered, a sender, three recipients (one deferred, one rejected), a message
    /// with a dot-stuffed line, a second message in two BDAT chunks, QUIT.
    const SESSION: &[(bool, &[u8])] = &[
        (false, b"220 mx.example.net ESMTP ready\r\n"),
        (true, b"EHLO [IPv6:2001:db8::1]\r\n"),
        (false, b"250-mx.example.net\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-STARTTLS\r\n250 SIZE 10240000\r\n"),
        (true, b"MAIL FROM:<Bulk@Spam.Example> SIZE=40\r\nRCPT TO:<a@Example.ORG>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@other.example>\r\n"),
        (false, b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n450 4.2.0 greylisted\r\n550 5.1.1 no such user\r\n"),
        (true, b"DATA\r\n"),
        (false, b"354 go ahead\r\n"),
        (true, b"Subject: hi\r\n\r\n..a stuffed line\r\nbye\r\n.\r\n"),
        (false, b"250 2.0.0 queued\r\n"),
        (true, b"MAIL FROM:<>\r\nRCPT TO:<d@example.org>\r\nBDAT 5\r\nhelloBDAT 3 LAST\r\nabc"),
        (false, b"250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"),
        (true, b"QUIT\r\n"),
        (false, b"221 bye\r\n"),
    ];

    fn smtp(events: &[AppEvent]) -> Vec<&SmtpEvent> {
        events.iter().filter_map(|e| if let AppEvent::Smtp(m) = e { Some(&**m) } else { None }).collect()
    }

    fn play(port: u16, cut: usize) -> Conn {
        let mut c = Conn::new(ipproto::TCP, port);
        for (from_orig, bytes) in SESSION {
            c.send_cut(*from_orig, bytes, cut);
        }
        c
    }

    #[test]
    fn a_session_cut_at_every_byte_boundary_gives_the_same_event() {
        let mut whole = play(25, 4096);
        assert_eq!(whole.finish(), Some(("smtp", None)));
        let ev = smtp(&whole.events);
        assert_eq!(ev.len(), 1);
        let e = ev[0].clone();
        assert_eq!(e.banner.as_deref(), Some("220 mx.example.net ESMTP ready"));
        assert_eq!(e.helo.as_deref(), Some("[IPv6:2001:db8::1]"));
        assert_eq!(e.mail_from, ["Bulk@Spam.Example", ""]);
        assert_eq!((e.rcpt, e.rcpt_domains.as_slice()), (4, &["example.org".to_string(), "other.example".into()][..]));
        // The first message: its 38 bytes up to the terminating ".", dot-stuffing included.
        assert_eq!((e.messages, e.sizes.as_slice()), (2, &[38u64, 8][..]));
        // MAIL ×2, RCPT ×2, DATA, the data, BDAT LAST accepted; one deferred, one rejected.
        assert_eq!((e.accepted, e.deferred, e.rejected), (7, 1, 1));
        assert_eq!((e.starttls_offered, e.starttls, e.last_reply), (true, false, Some(221)));
        assert_eq!(e.server_port, 25);
        for cut in 1..=64 {
            let mut c = play(25, cut);
            c.finish();
            assert_eq!(smtp(&c.events), [&e], "cut {cut}");
        }
        // On a port that is not SMTP's the greeting is not enough, the client's EHLO is.
        let mut c = play(8025, 7);
        c.finish();
        let ev = smtp(&c.events);
        assert_eq!((ev.len(), ev[0].banner.as_deref(), ev[0].messages), (1, None, 2));
    }

    #[test]
    fn a_greeting_whose_segments_come_out_of_order() {
        // The greeting's end arrives first, then its start: the start of the server's stream
        // is probed once it is there, as the client's is.
        let mut c = Conn::new(ipproto::TCP, 25);
        let g = b"220 mx.example.net ESMTP ready\r\n";
        c.send_at(false, 9, &g[9..]);
        c.send_at(false, 0, &g[..9]);
        c.send(true, b"EHLO x.example\r\n");
        c.send(false, b"250 mx.example.net\r\n");
        c.finish();
        let m = smtp(&c.events);
        assert_eq!(
            (m.len(), m[0].banner.as_deref(), m[0].helo.as_deref()),
            (1, Some("220 mx.example.net ESMTP ready"), Some("x.example"))
        );
    }

    #[test]
    fn starttls_hands_the_stream_to_tls() {
        let mut c = Conn::new(ipproto::TCP, 587);
        c.send(false, b"220 submit.example ESMTP\r\n");
        c.send(true, b"EHLO client.example\r\n");
        c.send(false, b"250-submit.example\r\n250 STARTTLS\r\n");
        c.send(true, b"STARTTLS\r\n");
        c.send(false, b"220 2.0.0 Ready to start TLS\r\n");
        c.send_cut(true, &hex(super::super::tls::test::CLIENT_HELLO), 9);
        let summary = c.finish();
        let m = smtp(&c.events);
        assert_eq!((m.len(), m[0].starttls_offered, m[0].starttls), (1, true, true));
        let tls: Vec<_> =
            c.events.iter().filter_map(|e| if let AppEvent::Tls(t) = e { Some(t) } else { None }).collect();
        assert_eq!(tls.len(), 1);
        assert_eq!(tls[0].sni.as_deref(), Some("example.com"));
        assert_eq!(summary, Some(("smtp", Some(("example.com".into(), "sni")))));
    }

    #[test]
    fn a_hostile_session_costs_bounded_memory() {
        let mut c = Conn::new(ipproto::TCP, 25);
        c.send(false, b"220 x\r\n");
        c.send(true, b"EHLO ");
        // A 1 MB line, then thousands of recipients, then binary junk.
        for _ in 0..256 {
            c.send(true, &[b'A'; 4096]);
        }
        c.send(true, b"\r\nMAIL FROM:<a@b>\r\n");
        for i in 0..5000 {
            c.send(true, format!("RCPT TO:<u{i}@d{i}.example>\r\n").as_bytes());
        }
        for _ in 0..64 {
            c.send(true, &[0xff; 1500]);
            c.send(true, b"\x00\x01\r\n");
        }
        c.finish();
        let e = smtp(&c.events)[0];
        // The long line was skipped, not kept; the pending replies are bounded, so the client
        // stopped being read before all 5000 recipients.
        assert_eq!(e.helo, None);
        assert!(e.rcpt >= 250 && e.rcpt <= 5000, "{}", e.rcpt);
        assert_eq!(e.rcpt_domains.len(), 32);
        assert_eq!(e.mail_from, ["a@b"]);
    }

    #[test]
    fn not_smtp() {
        let mut c = Conn::new(ipproto::TCP, 8025);
        c.send(false, b"220 ProFTPD Server\r\n");
        c.send(true, b"USER anonymous\r\n");
        assert_eq!(c.finish(), None);
        assert!(smtp(&c.events).is_empty());
    }
}

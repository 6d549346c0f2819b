//! Terminal formatting helpers: time, humanised numbers, control-character escaping.

use std::fmt::Write;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A CSV cell: quoted when it holds a separator, quote or line break, and a cell a spreadsheet
/// would run as a formula (`=`, `+`, `-`, `@` first: text from packets can be anything) is
/// quoted with a leading `'`.
pub fn csv_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@']) {
        format!("\"'{}\"", s.replace('"', "\"\""))
    } else if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// RFC 3339 UTC with microseconds: `2011-06-08T00:00:00.000000Z`.
pub fn utc(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let micros = ns.rem_euclid(1_000_000_000) / 1000;
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z", s / 3600, s / 60 % 60, s % 60)
}

/// A time in the display zone, to the minute, with the zone's abbreviation:
/// `2011-06-08 09:00 JST`.
pub fn local(ns: i64, tz: &jiff::tz::TimeZone) -> String {
    local_fmt(ns, tz, "%Y-%m-%d %H:%M %Z")
}

/// A time in the display zone with a strftime format (UTC RFC 3339 when out of range).
pub fn local_fmt(ns: i64, tz: &jiff::tz::TimeZone, fmt: &str) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(t) => t.to_zoned_datetime(tz.clone()).strftime(fmt).to_string(),
        Err(_) => utc(ns),
    }
}

/// How a table prints times: UTC (`2011-06-08T00:00:48Z`, the default, as tcpdump -tttt and
/// Zeek's logs are read) or in a display zone (`2011-06-08 09:00:48`, the zone in the heading).
#[derive(Clone, Default)]
pub struct Clock(Option<(jiff::tz::TimeZone, String)>);

impl Clock {
    /// The zone named `name` (UTC keeps the default form).
    pub fn zone(tz: jiff::tz::TimeZone, name: &str) -> Clock {
        if name.eq_ignore_ascii_case("UTC") {
            Clock(None)
        } else {
            Clock(Some((tz, name.to_string())))
        }
    }

    /// A time, to the second.
    pub fn stamp(&self, ns: i64) -> String {
        match &self.0 {
            None => utc_short(ns),
            Some((tz, _)) => local_fmt(ns, tz, "%Y-%m-%d %H:%M:%S"),
        }
    }

    /// The time column's heading: `TIME (UTC)`, `TIME (Asia/Tokyo)`.
    pub fn heading(&self) -> String {
        format!("TIME ({})", self.0.as_ref().map_or("UTC", |(_, n)| n.as_str()))
    }
}

/// Same, to the second, for tables.
pub fn utc_short(ns: i64) -> String {
    let full = utc(ns);
    format!("{}Z", &full[..19])
}

/// Bytes in SI units: 999 B, 1.2 kB, 3.4 MB, 5.6 GB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Counts: 999, 1.2k, 3.4M.
pub fn count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// Duration from nanoseconds, compact: 850ms, 12.3s, 4m05s, 2h03m, 3d04h.
pub fn duration(ns: i64) -> String {
    let ms = ns / 1_000_000;
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ns as f64 / 1e9;
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    let s = s as i64;
    match s {
        0..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{:02}h", s / 86_400, s / 3600 % 24),
    }
}

/// Percentage of `part` in `whole`, one decimal.
pub fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// [`clean`] for DNS presentation text, whose own escape is the backslash (`\#`, `\DDD`):
/// control and invisible characters are escaped, backslashes are left single.
pub fn clean_presentation(s: &str) -> String {
    escape(s, false)
}

/// Makes a string from a packet (or a file name) safe for a terminal: control characters,
/// escapes and non-printing code points become `\x..` / `\u{..}`, so no byte from a capture
/// can move the cursor, change colours or retitle the window.
pub fn clean(s: &str) -> String {
    escape(s, true)
}

/// Control and invisible characters as escapes; backslashes doubled when `backslash` (so an
/// escape cannot be forged), left alone in text whose own escape they are.
fn escape(s: &str, backslash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' if backslash => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if ('\u{80}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// `addr:port`, bracketed for IPv6 (`[2001:db8::1]:80`).
pub fn endpoint(a: &engine::decode::Addr, port: u16) -> String {
    if a.version == 6 {
        format!("[{a}]:{port}")
    } else {
        format!("{a}:{port}")
    }
}

/// Columns a table line may take: [`WIDTH`] unless `--wide` set it to 0 (no limit). A display
/// setting of the whole run, read by the record formatters on the worker threads too.
static TABLE_WIDTH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(WIDTH);

/// Table lines fit in 100 columns by default.
pub const WIDTH: usize = 100;

/// `--wide`: every column whole, however long the line.
pub fn set_wide(wide: bool) {
    TABLE_WIDTH.store(if wide { 0 } else { WIDTH }, std::sync::atomic::Ordering::Relaxed);
}

/// The width table lines fit in, or None with `--wide`.
pub fn width() -> Option<usize> {
    match TABLE_WIDTH.load(std::sync::atomic::Ordering::Relaxed) {
        0 => None,
        w => Some(w),
    }
}

/// `s` in at most `w` columns, cut with `…` at the end (whole with `--wide`).
pub fn shorten(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w || width().is_none() {
        return s.to_string();
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A column of width `w`: `s` padded, or cut with `…` at the end.
pub fn cut(s: &str, w: usize) -> String {
    pad(&shorten(s, w), w)
}

/// A column of width `w`: `s` padded, or cut in the middle with `…` (an address keeps its
/// prefix and its end).
pub fn cut_mid(s: &str, w: usize) -> String {
    pad(&shorten_mid(s, w), w)
}

/// `s` in at most `w` columns, its middle replaced by `…` (addresses keep their prefix and
/// interface identifier; whole with `--wide`).
pub fn shorten_mid(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w || width().is_none() || w < 5 {
        return s.to_string();
    }
    let head = (w - 1).div_ceil(2);
    let tail = w - 1 - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// A table line whose last column is long: on the line when it fits the width, else on a line
/// of its own below, indented by 4 and cut with `…` to the width. With `--wide`, one line whole.
pub fn fit(prefix: &str, last: &str) -> String {
    let Some(w) = width() else {
        return format!("{prefix}{last}");
    };
    if prefix.chars().count() + last.chars().count() <= w {
        format!("{prefix}{last}")
    } else {
        format!("{}\n    {}", prefix.trim_end(), shorten(last, w - 4))
    }
}

/// A table line ending in a list (DNS answers): the items follow the columns while they fit,
/// the rest on lines below, indented by 4, as many to a line as fit the width. With `--wide`,
/// one line.
pub fn fit_items(prefix: &str, items: &[String]) -> String {
    let Some(w) = width() else {
        return format!("{prefix}{}", items.join(" "));
    };
    let mut out = prefix.to_string();
    let mut col = out.chars().count();
    // Nothing after the columns (or the indent) on this line yet.
    let mut empty = true;
    for it in items {
        let sep = usize::from(!empty);
        if col + sep + it.chars().count() > w && !(empty && col == 4) {
            out.truncate(out.trim_end().len());
            out.push_str("\n    ");
            col = 4;
            empty = true;
        }
        if !empty {
            out.push(' ');
            col += 1;
        }
        let it = shorten(it, w.saturating_sub(col));
        col += it.chars().count();
        out.push_str(&it);
        empty = false;
    }
    out.truncate(out.trim_end().len());
    out
}

/// A line of prose (a summary's or a finding's sentence) wrapped at spaces to the width, the
/// lines after the first indented to where its text starts: after the last gap of two or more
/// spaces in its first 40 columns (`  health  [hp1] …` continues under `[`), else 4 more than
/// its own indent (its own indent when that is 8 or more). A word longer than a line is split. With `--wide`, the line as it is.
pub fn wrap_line(line: &str) -> String {
    let Some(w) = width() else {
        return line.to_string();
    };
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= w {
        return line.to_string();
    }
    let lead = chars.iter().take_while(|c| **c == ' ').count();
    // A line that is itself a continuation (deeply indented) keeps its indent.
    let mut hang = if lead >= 8 { lead } else { lead + 4 };
    for i in lead..chars.len().min(40).saturating_sub(1) {
        if chars[i] == ' ' && chars[i + 1] == ' ' {
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            hang = j;
        }
    }
    let hang = hang.min(w / 2);
    let mut out = String::new();
    let mut cur: String = chars[..lead].iter().collect();
    let mut col = lead;
    let mut empty = true;
    for word in line[line.len() - line.trim_start().len()..].split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let sep = usize::from(!empty);
            if col + sep + word.len() <= w {
                if !empty {
                    cur.push(' ');
                }
                cur.extend(word.iter());
                col += sep + word.len();
                empty = false;
                break;
            }
            if empty {
                // Longer than a whole line: split it.
                let take = w - col;
                cur.extend(word[..take].iter());
                word.drain(..take);
            }
            out.push_str(cur.trim_end());
            out.push('\n');
            cur = " ".repeat(hang);
            col = hang;
            empty = true;
        }
    }
    out.push_str(&cur);
    out
}

/// A writer that passes each line through [`wrap_line`]: the printers of prose (`summary`,
/// `health`, the answers `demo` and `summary` print, `addr`) write through one.
pub struct Wrapped<W: std::io::Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: std::io::Write> Wrapped<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Wrapped { inner, buf: Vec::new() }
    }
}

impl<W: std::io::Write> std::io::Write for Wrapped<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        while let Some(i) = self.buf.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            writeln!(self.inner, "{}", wrap_line(&text))?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let text = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
            write!(self.inner, "{}", wrap_line(&text))?;
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for Wrapped<W> {
    /// A last line without its newline is not lost.
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// Left-aligns `s` in `w` columns (no truncation; counts chars, not bytes).
pub fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

/// Right-aligns `s` in `w` columns.
pub fn rpad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.to_string()
    } else {
        format!("{}{s}", " ".repeat(w - n))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(utc(1_307_491_200_123_456_789), "2011-06-08T00:00:00.123456Z");
        assert_eq!(utc(951_782_400_000_000_000), "2000-02-29T00:00:00.000000Z");
        assert_eq!(utc(-1_000), "1969-12-31T23:59:59.999999Z");
        assert_eq!(utc_short(1_307_491_200_000_000_000), "2011-06-08T00:00:00Z");
    }

    #[test]
    fn humanised() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_234_567), "1.2 MB");
        assert_eq!(count(12_345), "12.3k");
        assert_eq!(duration(850_000_000), "850ms");
        assert_eq!(duration(245_000_000_000), "4m05s");
        assert_eq!(pct(1, 3), "33.3%");
    }

    /// The 100-column layout: values cut with `…`, a long last column continued below, items
    /// wrapped, prose with a hanging indent, words longer than a line split.
    #[test]
    fn tables_fit_the_width() {
        assert_eq!(shorten("safebrowsing.clients.google.com", 12), "safebrowsin…");
        assert_eq!(shorten_mid("2001:db8:1234:5678:9abc:def0:1234:5678", 21), "2001:db8:1…:1234:5678");
        let prefix = "x".repeat(90) + " ";
        assert_eq!(fit(&prefix, "short"), format!("{prefix}short"));
        let long = "y".repeat(120);
        let two = fit(&prefix, &long);
        let lines: Vec<&str> = two.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("    y") && lines[1].ends_with('…') && lines[1].chars().count() == 100);
        let items: Vec<String> = (0..12).map(|i| format!("AAAA 2404:6800:4004:805::{i:x}")).collect();
        let wrapped = fit_items(&"z".repeat(95), &items);
        assert!(wrapped.lines().all(|l| l.chars().count() <= 100), "{wrapped}");
        assert_eq!(wrapped.matches("AAAA").count(), 12);
        let prose = format!("  health  [hp1] {}", "word ".repeat(40));
        let w = wrap_line(prose.trim_end());
        assert!(w.lines().count() > 1 && w.lines().all(|l| l.chars().count() <= 100));
        assert!(w.lines().skip(1).all(|l| l.starts_with("          word")), "{w}");
        let url = format!("  http  {}", "u".repeat(150));
        assert!(wrap_line(&url).lines().all(|l| l.chars().count() <= 100));
        // (--wide is a process-wide setting: tests/cli.rs checks it on the binary.)
    }

    #[test]
    fn escapes_control_characters() {
        assert_eq!(clean("a\x1b[31mb\r\n"), "a\\x1b[31mb\\x0d\\x0a");
        assert_eq!(clean("\u{9b}x\u{202e}"), "\\u{9b}x\\u{202e}");
        assert_eq!(clean("ok ü 日本"), "ok ü 日本");
    }
}

#[cfg(test)]
mod csv_test {
    /// Every CSV form (flows, events, timeline) quotes the same way and defuses formulas.
    #[test]
    fn csv_cells_quote_and_defuse() {
        use super::csv_cell;
        assert_eq!(csv_cell("www.example.com"), "www.example.com");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }
}

//! The HTML report: one self-contained file (inline CSS, inline SVG charts, a few lines of
//! inline script for sorting tables; no font, image, script or style is fetched from anywhere).
//! Every string that came from a packet or a file name passes through [`esc`], which first makes
//! control characters visible (`term::clean`) and then escapes HTML, so a hostile DNS name,
//! Host, URI, SNI or User-Agent can neither add markup nor break out of an attribute.

use super::term::{bytes, clean, count, duration, local, local_fmt};
use engine::analysis::{Report, Settings};
use engine::analyze::health::Severity;
use engine::analyze::timeline::Timeline;
use std::fmt::Write;

/// HTML-escapes `s` after making control characters visible. Safe in text and in quoted
/// attribute values.
pub fn esc(s: &str) -> String {
    let c = clean(s);
    let mut out = String::with_capacity(c.len());
    for ch in c.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '`' => out.push_str("&#96;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) const CSS: &str = r#"
:root{--v4in:#0072b2;--v4out:#56b4e9;--v6in:#d55e00;--v6out:#e69f00;--oth:#bbb;--ink:#1d2330;--mute:#667085;--line:#e4e7ec;--bg:#fff;--crit:#b42318;--warn:#b54708;--info:#175cd3}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);margin:0;background:#f6f7f9}
header{background:#101828;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#d0d5dd}
main{max-width:1480px;margin:0 auto;padding:12px 12px 48px}
section{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:14px 14px;margin:14px 0}
h2{font-size:17px;margin:0 0 10px}h3{font-size:14px;margin:14px 0 6px;color:#344054}
nav{display:flex;flex-wrap:wrap;gap:6px 14px;font-size:13px;margin-top:8px}nav a{color:#d0d5dd}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px}.card>b{display:block;font-size:20px}.card>span.label{color:var(--mute);font-size:12px}
.card table{width:auto;margin:6px 0;font-size:12px}.card td,.card th{padding:2px 8px 2px 0;border:none;background:none;cursor:default}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 6px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f9fafb;cursor:pointer;user-select:none;white-space:nowrap}th.sorted-asc::after{content:" ▲"}th.sorted-desc::after{content:" ▼"}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
time,.addr,.nw{white-space:nowrap}
.mono,.addr{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
td.note{white-space:nowrap}td.uids{color:var(--mute);font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:11px}
.sev{font-weight:600;text-transform:uppercase;font-size:11px;padding:1px 6px;border-radius:4px;color:#fff;white-space:nowrap}
.sev.critical{background:var(--crit)}.sev.warning{background:var(--warn)}.sev.info{background:var(--info)}
.verdict{font-size:15px;padding:10px 14px;border-radius:6px;margin:6px 0 12px}.verdict.bad{background:#fef3f2;border:1px solid #fecdca}.verdict.ok{background:#ecfdf3;border:1px solid #abefc6}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:12px;color:var(--mute);margin:4px 0}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border-radius:2px}
.hatch-v4out{background:repeating-linear-gradient(45deg,var(--v4out) 0 3px,#fff 3px 4.5px)}.hatch-v6out{background:repeating-linear-gradient(45deg,var(--v6out) 0 3px,#fff 3px 4.5px)}
.muted{color:var(--mute)}.v6{color:#b54708;font-weight:600}
p.shown{margin:6px 0;color:var(--mute);font-size:13px}p.shown button{margin-left:8px;font:inherit;cursor:pointer}
table.limited tr.more{display:none}
details summary{cursor:pointer;color:var(--info);white-space:nowrap}details ul{margin:4px 0;padding-left:16px}details li{white-space:nowrap}
.chart-own{display:none}.with-own .chart-own{display:block}.with-own .chart-base{display:none}
label.own{font-size:13px;color:var(--mute);display:block;margin:2px 0 4px}
svg text{font:11px system-ui,sans-serif;fill:#475467}svg text.day{font-weight:600;fill:#344054}
@media print{body{background:#fff}header{background:#fff;color:#000;border-bottom:2px solid #000}header p,nav a{color:#000}section{break-inside:auto;border:none;padding:0}table.limited tr.more{display:table-row}p.shown{display:none}details>*{display:block}}
"#;

/// Sorting by a column (numbers and times by their `data-v`), and the row limit: a table of
/// more than `LIMIT` rows shows its first rows and says "25 of 70 shown" with a button for the
/// rest (a printout shows every row; without script every row is shown too).
pub(super) const JS: &str = r#"
var LIMIT=25;
function limit(t){
  var rows=t.tBodies[0]?t.tBodies[0].rows:[];
  // (no less-than sign: the page has no markup but ours, and tests look for any)
  if(LIMIT>=rows.length||t.classList.contains('all'))return;
  t.classList.add('limited');
  for(var i=0;rows.length>i;i++)rows[i].classList.toggle('more',i>=LIMIT);
  if(!t.nextElementSibling||!t.nextElementSibling.classList.contains('shown')){
    var p=document.createElement('p');p.className='shown';
    p.textContent=LIMIT+' of '+rows.length+' shown.';
    var b=document.createElement('button');b.type='button';b.textContent='Show all '+rows.length;
    b.addEventListener('click',function(){t.classList.add('all');t.classList.remove('limited');p.remove();});
    p.appendChild(b);t.parentNode.insertBefore(p,t.nextSibling);
  }
}
document.querySelectorAll('table.sortable').forEach(function(t){
  limit(t);
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var body=t.tBodies[0];if(!body)return;
      var rows=Array.prototype.slice.call(body.rows);
      var asc=!th.classList.contains('sorted-asc');
      t.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc?'sorted-asc':'sorted-desc');
      rows.sort(function(a,b){
        var x=a.cells[i],y=b.cells[i];
        var p=x.getAttribute('data-v'),q=y.getAttribute('data-v');
        var r=(p!==null&&q!==null)?(parseFloat(p)-parseFloat(q)):x.textContent.localeCompare(y.textContent);
        return asc?r:-r;});
      rows.forEach(function(r){body.appendChild(r);});
      limit(t);
    });
  });
});
document.querySelectorAll('input.own').forEach(function(c){
  c.addEventListener('change',function(){c.closest('.chartbox').classList.toggle('with-own',c.checked);});
});
"#;

struct Html {
    s: String,
}

impl Html {
    fn raw(&mut self, t: &str) {
        self.s.push_str(t);
    }
    fn text(&mut self, t: &str) {
        self.s.push_str(&esc(t));
    }
    /// Closes the current cell and writes `t` into the next one.
    fn cell(&mut self, t: &str) {
        self.s.push_str("</td><td>");
        self.text(t);
    }
    /// Closes the current cell and writes an address (or prefix) that never wraps.
    fn addr_cell(&mut self, t: &str) {
        self.s.push_str("</td><td class=\"addr\">");
        self.text(t);
    }
    /// A time in the display zone (`2011-06-08 09:50 JST`, never wrapped).
    fn time(&mut self, ns: i64, tz: &jiff::tz::TimeZone) {
        self.time_fmt(ns, tz, "%Y-%m-%d %H:%M %Z");
    }
    fn time_fmt(&mut self, ns: i64, tz: &jiff::tz::TimeZone, fmt: &str) {
        let _ = write!(self.s, "<time datetime=\"{}\">", super::term::utc_short(ns));
        self.text(&local_fmt(ns, tz, fmt));
        self.s.push_str("</time>");
    }
    /// Text that may break only at spaces and after `/ ? & = ; , :` (and `.` in text longer
    /// than 32 characters), or inside a run of more than 24 characters without one, so a long
    /// URL wraps where a reader expects and a hostile 200-character label cannot widen the
    /// table. A piece with a hyphen is kept whole (browsers would break after it).
    fn breaking(&mut self, t: &str) {
        let long = t.chars().count() > 32;
        let mut piece = String::new();
        let mut run = 0;
        let flush = |out: &mut String, piece: &mut String| {
            if piece.contains('-') {
                out.push_str("<span class=\"nw\">");
                out.push_str(&esc(piece));
                out.push_str("</span>");
            } else {
                out.push_str(&esc(piece));
            }
            piece.clear();
        };
        for c in t.chars() {
            if c == ' ' {
                flush(&mut self.s, &mut piece);
                self.s.push(' ');
                run = 0;
                continue;
            }
            piece.push(c);
            run += 1;
            if matches!(c, '/' | '?' | '&' | ';' | ',' | ':' | '=') || (c == '.' && long) || run >= 24 {
                flush(&mut self.s, &mut piece);
                self.s.push_str("<wbr>");
                run = 0;
            }
        }
        flush(&mut self.s, &mut piece);
    }
}

/// Renders the report.
pub fn html(r: &Report, st: &Settings) -> String {
    let mut h = Html { s: String::with_capacity(1 << 20) };
    let tz = &st.tz;
    let first = r.sensors.iter().filter_map(|s| s.first_ts).min();
    let last = r.sensors.iter().filter_map(|s| s.last_ts).max();
    h.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    // No network access at all: the policy forbids every fetch; only inline style and script run.
    h.raw("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">");
    h.raw("<title>v6watch report</title><style>");
    h.raw(CSS);
    h.raw("</style></head><body><header><h1>v6watch — what the IPv6 sensors saw</h1><p>");
    let names: Vec<&str> = r.sensors.iter().map(|s| s.sensor.as_str()).collect();
    h.text(&format!(
        "{} sensor{}: {} · {} – {} · times in {} · {}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names.join(", "),
        first.map_or("-".into(), |t| local(t, tz)),
        last.map_or("-".into(), |t| local(t, tz)),
        st.tz_name,
        r.generator
    ));
    h.raw("</p><nav><a href=\"#overview\">Overview</a><a href=\"#health\">IPv6 health</a><a href=\"#indicators\">Known-bad</a><a href=\"#timeline\">Timeline</a>");
    if !r.comparisons.is_empty() {
        h.raw("<a href=\"#events\">Event windows</a>");
    }
    h.raw("<a href=\"#moved\">Moved to IPv6</a><a href=\"#peers\">Peers</a><a href=\"#apps\">Application events</a><a href=\"#services\">Services</a><a href=\"#addresses\">Addresses</a><a href=\"#capture\">Capture</a><a href=\"#settings\">Settings</a></nav></header><main>");

    overview(&mut h, r);
    health(&mut h, r, st);
    indicators(&mut h, r, st);
    timeline(&mut h, r, st);
    comparisons(&mut h, r, st);
    moved(&mut h, r, st);
    peers(&mut h, r, st);
    apps(&mut h, r, st);
    services(&mut h, r);
    addresses(&mut h, r, &st.intel);
    capture(&mut h, r, st);
    settings(&mut h, r, st);
    h.raw("</main><script>");
    h.raw(JS);
    h.raw("</script></body></html>\n");
    h.s
}

fn overview(h: &mut Html, r: &Report) {
    h.raw("<section id=\"overview\"><h2>Overview</h2><div class=\"cards\">");
    for s in &r.sensors {
        let findings = |sev: Severity| {
            r.health.findings.iter().filter(|f| f.sensor == s.sensor && f.severity == sev && !is_threat(f)).count()
        };
        let peers = r.peers.iter().filter(|p| p.sensor == s.sensor).count();
        h.raw("<div class=\"card\"><span class=\"label\">sensor</span><b>");
        h.text(&s.sensor);
        h.raw("</b>");
        h.text(&format!(
            "{} packets · {} · {} flow{} · {} peer{}",
            count(s.frames),
            bytes(s.wire_bytes),
            count(s.flows),
            if s.flows == 1 { "" } else { "s" },
            count(peers as u64),
            if peers == 1 { "" } else { "s" }
        ));
        totals_table(h, r, &s.sensor);
        let (c, w) = (findings(Severity::Critical), findings(Severity::Warning));
        if c + w > 0 {
            let _ = write!(
                h.s,
                "<span class=\"sev critical\">{c} critical</span> <span class=\"sev warning\">{w} warning</span>"
            );
        } else {
            h.raw("<span class=\"muted\">no IPv6 health warnings</span>");
        }
        let bad: u64 = r.indicators.iter().filter(|x| x.sensor == s.sensor).map(|x| x.count).sum();
        if bad > 0 {
            let _ = write!(
                h.s,
                "<br><a href=\"#indicators\"><span class=\"sev warning\">{bad} known-bad matches</span></a>"
            );
        }
        h.raw("</div>");
    }
    h.raw("</div></section>");
}

/// A sensor's totals per family, over everything and in and out of each event window: IP bytes
/// and flows (a flow counts where it started), from the timeline.
fn totals_table(h: &mut Html, r: &Report, sensor: &str) {
    let mut all = [(0u64, 0u64); 2];
    for se in r.timeline.series.iter().filter(|se| se.key.sensor == sensor) {
        let f = usize::from(se.key.family == 6);
        all[f].0 += se.bytes.iter().sum::<u64>();
        all[f].1 += se.flows.iter().sum::<u64>();
    }
    let mut rows = vec![("all".to_string(), all)];
    for c in &r.comparisons {
        let mut during = [(0u64, 0u64); 2];
        for v in c.volumes.iter().filter(|v| v.sensor == sensor) {
            let f = usize::from(v.family == 6);
            during[f].0 += v.bytes[1];
            during[f].1 += v.flows[1];
        }
        let outside = [0, 1].map(|f| (all[f].0.saturating_sub(during[f].0), all[f].1.saturating_sub(during[f].1)));
        rows.push((format!("during {}", c.event.name), during));
        rows.push(("outside it".to_string(), outside));
    }
    h.raw("<table class=\"totals\"><thead><tr><th></th><th class=\"n\">IPv4</th><th class=\"n\">flows</th><th class=\"n\">IPv6</th><th class=\"n\">flows</th><th class=\"n\">IPv6 share</th></tr></thead><tbody>");
    for (label, [v4, v6]) in rows {
        h.raw("<tr><td>");
        h.text(&label);
        for (b, n) in [v4, v6] {
            let _ = write!(h.s, "</td><td class=\"n\">{}</td><td class=\"n\">{}", esc(&bytes(b)), esc(&count(n)));
        }
        let _ = write!(h.s, "</td><td class=\"n\">{}</td></tr>", esc(&super::term::pct(v6.0, v4.0 + v6.0)));
    }
    h.raw("</tbody></table>");
}

/// A finding of the indicator lists (shown in their own section), not of IPv6 health.
pub fn is_threat(f: &engine::analyze::health::Finding) -> bool {
    f.note.starts_with("Threat::")
}

fn sev_badge(h: &mut Html, s: Severity) {
    let _ = write!(h.s, "<span class=\"sev {}\">{}</span>", s.name(), s.name());
}

fn health(h: &mut Html, r: &Report, st: &Settings) {
    h.raw("<section id=\"health\"><h2>IPv6 health — did it break, and would you notice?</h2>");
    // Indicator matches have their own section: they are not IPv6 breakage.
    let bad: Vec<_> = r.health.findings.iter().filter(|f| f.severity > Severity::Info && !is_threat(f)).collect();
    if bad.is_empty() {
        h.raw("<div class=\"verdict ok\">No IPv6 failure at warning level: ");
        h.text(&format!("{} connection attempts analysed.", count(r.health.attempts)));
        h.raw("</div>");
    } else {
        let services: std::collections::BTreeSet<&str> = bad.iter().filter_map(|f| f.service.as_deref()).collect();
        h.raw("<div class=\"verdict bad\"><b>Yes, something broke over IPv6</b> — ");
        h.text(&format!(
            "{} finding{} at warning level or above, on {}. With Happy Eyeballs, users only waited; server logs show nothing. Only the capture tells.",
            bad.len(),
            if bad.len() == 1 { "" } else { "s" },
            services.into_iter().collect::<Vec<_>>().join(", ")
        ));
        h.raw("</div>");
    }
    h.raw("<table class=\"sortable\" id=\"findings\"><thead><tr><th>Severity</th><th>Finding</th><th>Sensor</th><th>What</th><th class=\"n\">Times</th><th>First / last</th><th>Flows</th></tr></thead><tbody>");
    for f in r.health.findings.iter().filter(|f| !is_threat(f)) {
        let rank = match f.severity {
            Severity::Critical => 3,
            Severity::Warning => 2,
            Severity::Info => 1,
        };
        let _ = write!(h.s, "<tr data-severity=\"{}\"><td data-v=\"{rank}\">", f.severity.name());
        sev_badge(h, f.severity);
        h.raw("</td><td class=\"mono note\">");
        h.text(f.note.trim_start_matches("V6Mon::"));
        h.cell(&f.sensor);
        h.raw("</td><td>");
        h.breaking(&f.msg);
        let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{}\">{}", f.n, f.n);
        span_cell(h, f.first_ts, f.last_ts, &st.tz);
        h.raw("</td><td class=\"uids\">");
        h.text(&f.uids.join(" "));
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table>");
    fallbacks(h, r, st);
    pmtu(h, r, st);
    h.raw("</section>");
}

/// Groups `items` by `key`, in the order each key first appears.
fn grouped<'a, T, K: Eq + std::hash::Hash>(items: &'a [T], key: impl Fn(&'a T) -> K) -> Vec<Vec<&'a T>> {
    let mut index: std::collections::HashMap<K, usize> = std::collections::HashMap::new();
    let mut groups: Vec<Vec<&T>> = vec![];
    for it in items {
        let i = *index.entry(key(it)).or_insert_with(|| {
            groups.push(vec![]);
            groups.len() - 1
        });
        groups[i].push(it);
    }
    groups
}

/// One occurrence of a grouped row: its sensor, its time and its line in the folded list.
struct Occurrence<'a> {
    sensor: &'a str,
    ts: i64,
    line: String,
}

/// The cells every grouped row ends with: how many times, on which sensors (`honeypot1 ×8,
/// honeypot2 ×8`), first and last time, and the occurrences folded ("12 flows" opens them).
fn group_tail(h: &mut Html, what: &str, each: &[Occurrence], tz: &jiff::tz::TimeZone) {
    let mut sensors: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for o in each {
        *sensors.entry(o.sensor).or_default() += 1;
    }
    let sensors: Vec<String> = sensors.into_iter().map(|(s, k)| format!("{s} ×{k}")).collect();
    let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{0}\">{0}", each.len());
    h.cell(&sensors.join(", "));
    let first = each.iter().map(|o| o.ts).min().unwrap_or(0);
    span_cell(h, first, each.iter().map(|o| o.ts).max().unwrap_or(0), tz);
    let _ = write!(h.s, "</td><td><details><summary>{} {what}</summary><ul>", each.len());
    for o in each {
        h.raw("<li>");
        h.time_fmt(o.ts, tz, "%Y-%m-%d %H:%M:%S %Z");
        h.raw(" <span class=\"mono\">");
        h.text(&o.line);
        h.raw("</span></li>");
    }
    h.raw("</ul></details></td></tr>");
}

/// The heading cells of [`group_tail`].
const GROUP_HEADS: &str =
    "<th class=\"n\">Times</th><th>Sensors</th><th>First / last</th><th>Each</th></tr></thead><tbody>";

/// Happy-Eyeballs fallbacks, one row per service, kind and IPv6 outcome.
fn fallbacks(h: &mut Html, r: &Report, st: &Settings) {
    if r.health.fallbacks.is_empty() {
        return;
    }
    h.raw("<h3>Happy-Eyeballs fallbacks (IPv6 failed, IPv4 to the same name)</h3><table class=\"sortable\" id=\"fallbacks\"><thead><tr><th>Service</th><th>Kind</th><th>IPv6 outcome</th><th class=\"n\">User waited (median)</th><th class=\"n\">Longest</th>");
    h.raw(GROUP_HEADS);
    for g in grouped(&r.health.fallbacks, |f| (&f.service, f.port, f.kind, f.v6_outcome)) {
        let f = g[0];
        let mut waits: Vec<i64> = g.iter().map(|f| f.delay_ns).collect();
        waits.sort_unstable();
        h.raw("<tr><td>");
        h.breaking(&format!("{}:{}", f.service, f.port));
        h.cell(f.kind.name());
        h.cell(f.v6_outcome.name());
        for v in [waits[waits.len() / 2], waits[waits.len() - 1]] {
            let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{v}\">");
            h.text(&duration(v));
        }
        let each: Vec<Occurrence> = g
            .iter()
            .map(|f| Occurrence {
                sensor: &f.sensor,
                ts: f.v6_ts,
                line: format!("{} waited {} IPv6 {} → IPv4 {}", f.sensor, duration(f.delay_ns), f.v6_uid, f.v4_uid),
            })
            .collect();
        group_tail(h, "fallbacks", &each, &st.tz);
    }
    h.raw("</tbody></table>");
}

/// Path-MTU trouble, one row per service, state and side.
fn pmtu(h: &mut Html, r: &Report, st: &Settings) {
    if r.health.pmtu.is_empty() {
        return;
    }
    h.raw("<h3>Path MTU</h3><table class=\"sortable\" id=\"pmtu\"><thead><tr><th>Service</th><th>State</th><th>Seen from</th><th class=\"n\">Longest stall</th><th>Confidence</th>");
    h.raw(GROUP_HEADS);
    for g in grouped(&r.health.pmtu, |b| (&b.service, b.port, b.state.name(), b.side, b.confidence)) {
        let b = g[0];
        h.raw("<tr><td>");
        h.breaking(&format!("{}:{}", b.service, b.port));
        h.cell(b.state.name());
        h.cell(&format!("{} side", b.side));
        let longest = g.iter().map(|b| b.stall_ns).max().unwrap_or(0);
        let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{longest}\">");
        h.text(&duration(longest));
        h.cell(b.confidence);
        let each: Vec<Occurrence> = g
            .iter()
            .map(|b| Occurrence {
                sensor: &b.sensor,
                ts: b.ts,
                line: format!("{} stalled {} {}", b.sensor, duration(b.stall_ns), b.uid),
            })
            .collect();
        group_tail(h, "flows", &each, &st.tz);
    }
    h.raw("</tbody></table>");
}

const SERIES: [(&str, u8, &str, &str, bool); 4] = [
    ("IPv4 in", 4, "in", "#0072b2", false),
    ("IPv4 out", 4, "out", "#56b4e9", true),
    ("IPv6 in", 6, "in", "#d55e00", false),
    ("IPv6 out", 6, "out", "#e69f00", true),
];

/// The class of the sensor's own traffic (its rules' bulk fetches, its probes): a series of
/// its own, left out of the chart by default so it cannot bury what arrived from outside.
const OWN: &str = "autonomous";
const OWN_SERIES: (&str, &str) = ("own traffic (autonomous)", "#8c8c8c");
const EVENT_FILL: &str = "#009e73";

/// Bytes per bucket of one sensor: the four series without its own traffic, then its own
/// traffic (both families and directions). Local and transit traffic is not charted.
fn sensor_series(tl: &Timeline, sensor: &str) -> [Vec<u64>; 5] {
    let mut out: [Vec<u64>; 5] = std::array::from_fn(|_| vec![0; tl.buckets]);
    for s in tl.series.iter().filter(|s| s.key.sensor == sensor && matches!(s.key.direction, "in" | "out")) {
        let k = if s.key.class == OWN {
            4
        } else {
            SERIES.iter().position(|(_, f, d, _, _)| *f == s.key.family && *d == s.key.direction).unwrap_or(4)
        };
        for (i, b) in s.bytes.iter().enumerate() {
            out[k][i] += b;
        }
    }
    out
}

fn timeline(h: &mut Html, r: &Report, st: &Settings) {
    let tl = &r.timeline;
    h.raw("<section id=\"timeline\"><h2>Volume over time</h2><div class=\"legend\">");
    for (name, _, d, colour, _) in SERIES {
        let class = if d == "out" {
            format!(" class=\"hatch-v{}out\"", if name.starts_with("IPv4") { 4 } else { 6 })
        } else {
            String::new()
        };
        let _ = write!(h.s, "<span><i{class} style=\"background-color:{colour}\"></i>{name}</span>");
    }
    let _ = write!(
        h.s,
        "<span><i style=\"background:{}\"></i>{}</span><span><i style=\"background:{EVENT_FILL};opacity:.25\"></i>event window</span></div>",
        OWN_SERIES.1, OWN_SERIES.0
    );
    h.text(&format!(
        "IP bytes per {} bucket, in = received by the sensor, out = sent by it (hatched); times in {}. Hover a bar for its values.",
        duration(tl.bucket_ns),
        st.tz_name
    ));
    for (n, s) in r.sensors.iter().enumerate() {
        // Each sensor on its own time axis: its own timeline when its span is much shorter than
        // the whole one's, else its first to its last bucket of the whole.
        let own_tl = r.sensor_timelines.iter().find(|(name, _)| *name == s.sensor).map(|(_, t)| t);
        let tl = own_tl.unwrap_or(tl);
        let data = sensor_series(tl, &s.sensor);
        let index = |t: Option<i64>, or: usize| {
            t.map_or(or, |t| {
                ((t.saturating_sub(tl.start_ns)) / tl.bucket_ns.max(1)).clamp(0, (tl.buckets as i64 - 1).max(0))
                    as usize
            })
        };
        let last = tl.buckets.saturating_sub(1);
        let range = if own_tl.is_some() { (0, last) } else { (index(s.first_ts, 0), index(s.last_ts, last)) };
        let range = if range.0 <= range.1 { range } else { (0, last) };
        h.raw("<h3>");
        h.text(&s.sensor);
        if own_tl.is_some() {
            h.text(&format!(" (per {} bucket)", duration(tl.bucket_ns)));
        }
        h.raw("</h3><div class=\"chartbox\">");
        let own: u64 = data[4].iter().sum();
        if own > 0 {
            h.raw("<label class=\"own\"><input type=\"checkbox\" class=\"own\"> ");
            h.text(&format!(
                "Include the sensor's own traffic (class {OWN}: {}), left out so that what came from outside stays readable",
                bytes(own)
            ));
            h.raw("</label>");
        }
        if tl.buckets > 0 {
            chart(h, tl, &s.sensor, &data, range, (n, false), st);
            if own > 0 {
                chart(h, tl, &s.sensor, &data, range, (n, true), st);
            }
        }
        h.raw("</div>");
    }
    h.raw("</section>");
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let pow = 10f64.powf(raw.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * pow).find(|s| *s >= raw).unwrap_or(10.0 * pow).max(1.0)
}

/// A round byte count as a tick label: `100 kB`, `1.5 MB`.
fn tick_bytes(v: u64) -> String {
    bytes(v).replace(".0 ", " ")
}

/// One stacked bar chart of a sensor over buckets `range` (inclusive); `(n, own)`: the
/// sensor's index (for unique pattern ids) and whether its own traffic is drawn.
fn chart(
    h: &mut Html,
    tl: &Timeline,
    sensor: &str,
    data: &[Vec<u64>; 5],
    range: (usize, usize),
    (n, own): (usize, bool),
    st: &Settings,
) {
    const MINUTE: i64 = 60_000_000_000;
    let (w, hgt, left, right, bottom, top) = (1200.0f64, 250.0f64, 70.0f64, 12.0f64, 40.0f64, 22.0f64);
    let (i0, i1) = range;
    let buckets = i1 - i0 + 1;
    let plot_w = w - left - right;
    let plot_h = hgt - bottom - top;
    let drawn = if own { 5 } else { 4 };
    let totals: Vec<u64> = (i0..=i1).map(|i| data[..drawn].iter().map(|v| v[i]).sum()).collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = nice_step(max / 4.0);
    let ymax = (max / step).ceil() * step;
    let bw = plot_w / buckets as f64;
    let t0 = tl.bucket_start(i0);
    let x_of = |t: i64| left + (t.saturating_sub(t0)) as f64 / tl.bucket_ns as f64 * bw;
    let _ = write!(
        h.s,
        "<svg class=\"chart chart-{}\" data-sensor=\"{}\" viewBox=\"0 0 {w} {hgt}\" width=\"100%\" role=\"img\" aria-label=\"{}\"><defs>",
        if own { "own" } else { "base" },
        esc(sensor),
        esc(&format!("bytes over time for {sensor}"))
    );
    for (k, (_, _, _, colour, hatched)) in SERIES.iter().enumerate() {
        if *hatched {
            let _ = write!(h.s, "<pattern id=\"hatch-{n}-{}-{k}\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"5\" height=\"5\" fill=\"{colour}\"/><rect width=\"1.6\" height=\"5\" fill=\"#fff\" opacity=\"0.75\"/></pattern>", u8::from(own));
        }
    }
    h.raw("</defs>");
    // Event windows, shaded behind the bars, named above the plot (never under a bar).
    for e in &st.events {
        let (x0, x1) = (x_of(e.start).max(left), x_of(e.end).min(left + plot_w));
        if x1 > x0 {
            let _ = write!(h.s, "<rect class=\"event\" x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{plot_h}\" fill=\"{EVENT_FILL}\" opacity=\"0.14\"><title>", x1 - x0);
            h.text(&format!("{}: {} – {}", e.name, local(e.start, &st.tz), local(e.end, &st.tz)));
            let _ = write!(h.s, "</title></rect><line x1=\"{x0:.1}\" x2=\"{x0:.1}\" y1=\"{:.1}\" y2=\"{top}\" stroke=\"{EVENT_FILL}\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#067647\">", top - 14.0, x0 + 3.0, top - 5.0);
            h.text(&e.name);
            h.raw("</text>");
        }
    }
    // Y axis: gridlines at round values.
    let mut v = step;
    while v <= ymax + 0.5 {
        let y = top + plot_h - plot_h * v / ymax;
        let _ = write!(h.s, "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eaecf0\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>", left + plot_w, left - 6.0, y + 4.0, esc(&tick_bytes(v as u64)));
        v += step;
    }
    // Stacked bars, one group per series so a test (or a user) can find each series.
    let series = SERIES.iter().map(|(name, _, _, colour, hatched)| (*name, *colour, *hatched)).chain([(
        OWN_SERIES.0,
        OWN_SERIES.1,
        false,
    )]);
    for (k, (name, colour, hatched)) in series.enumerate().take(drawn) {
        let fill = if hatched { format!("url(#hatch-{n}-{}-{k})", u8::from(own)) } else { colour.to_string() };
        let _ = write!(h.s, "<g class=\"series\" data-series=\"{name}\" fill=\"{fill}\">");
        for (j, i) in (i0..=i1).enumerate() {
            let v = data[k][i];
            if v == 0 {
                continue;
            }
            let below: u64 = data[..k].iter().map(|d| d[i]).sum();
            let y1 = top + plot_h - below as f64 / ymax * plot_h;
            let bh = (v as f64 / ymax * plot_h).max(0.5);
            let _ = write!(
                h.s,
                "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{bh:.2}\"><title>",
                left + j as f64 * bw,
                y1 - bh,
                (bw - 0.6).max(0.4)
            );
            h.text(&format!(
                "{} {}: {} (bucket total {})",
                local(tl.bucket_start(i), &st.tz),
                name,
                bytes(v),
                bytes(totals[j])
            ));
            h.raw("</title></rect>");
        }
        h.raw("</g>");
    }
    let base = top + plot_h;
    let _ = write!(
        h.s,
        "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{base:.1}\" y2=\"{base:.1}\" stroke=\"#98a2b3\"/>",
        left + plot_w
    );
    // X axis: a row of round times (as far apart as labels need), under it the dates, each
    // at its local midnight, the year once.
    let span = buckets as i64 * tl.bucket_ns;
    let room = (plot_w / 46.0).max(1.0) as i64;
    const STEPS: [i64; 14] = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10_080];
    let tick = STEPS.iter().map(|m| m * MINUTE).find(|s| *s >= tl.bucket_ns && span / s <= room).unwrap_or(span.max(1));
    let day = 1440 * MINUTE;
    let mut dated = false;
    for (j, i) in (i0..=i1).enumerate() {
        let t = tl.bucket_start(i);
        let hm = local_fmt(t, &st.tz, "%H:%M");
        let minute = hm.get(..2).and_then(|x| x.parse::<i64>().ok()).unwrap_or(0) * 60
            + hm.get(3..5).and_then(|x| x.parse::<i64>().ok()).unwrap_or(0);
        let midnight = minute == 0;
        let x = left + j as f64 * bw;
        let on_tick = if tick < day {
            (minute * MINUTE) % tick == 0
        } else {
            midnight
                && local_fmt(t, &st.tz, "%j").parse::<i64>().unwrap_or(0) % (tick / day).max(1)
                    == 1 % (tick / day).max(1)
        };
        // At a midnight the date below marks the tick.
        if on_tick && !(midnight && tick < day) {
            let label = if tick < day { hm.clone() } else { local_fmt(t, &st.tz, "%m-%d") };
            let _ = write!(h.s, "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{base:.1}\" y2=\"{:.1}\" stroke=\"#98a2b3\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>", base + 4.0, base + 15.0, esc(&label));
        }
        // The date row: under the times, at each midnight (and at the start), the year once.
        let first = j == 0 && (!midnight || tick >= day);
        if (midnight && tick < day) || first || (tick >= day && !dated) {
            if first && tick < day && !midnight {
                // A partial first day: its date at the left edge unless a midnight comes soon.
                let next = (i0..=i1).position(|k| local_fmt(tl.bucket_start(k), &st.tz, "%H:%M") == "00:00");
                if next.is_some_and(|k| (k as f64) * bw < 90.0) {
                    continue;
                }
            }
            let fmt = if !dated || local_fmt(t, &st.tz, "%m-%d") == "01-01" { "%Y-%m-%d" } else { "%m-%d" };
            let label = if tick >= day { local_fmt(t, &st.tz, "%Y") } else { local_fmt(t, &st.tz, fmt) };
            dated = true;
            if midnight && tick < day {
                let _ = write!(
                    h.s,
                    "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{base:.1}\" y2=\"{:.1}\" stroke=\"#667085\"/>",
                    base + 30.0
                );
            }
            let _ =
                write!(h.s, "<text class=\"day\" x=\"{:.1}\" y=\"{:.1}\">{}</text>", x + 3.0, base + 30.0, esc(&label));
        }
    }
    h.raw("</svg>");
}

fn comparisons(h: &mut Html, r: &Report, st: &Settings) {
    if r.comparisons.is_empty() {
        return;
    }
    h.raw("<section id=\"events\"><h2>Event windows: during vs before and after</h2>");
    for c in &r.comparisons {
        h.raw("<h3>");
        h.text(&format!("{}: {} – {}", c.event.name, local(c.event.start, &st.tz), local(c.event.end, &st.tz)));
        h.raw("</h3>");
        for ch in &c.changes {
            h.raw("<p>");
            let line = format!("[{}] {} ({})", ch.sensor, change_text(ch, &st.tz), ch.services.join(", "));
            h.text(&line);
            h.raw("</p>");
        }
        h.raw("<table class=\"sortable\"><thead><tr><th>Sensor</th><th>Family</th><th>Direction</th><th class=\"n\">Before</th><th class=\"n\">During</th><th class=\"n\">After</th></tr></thead><tbody>");
        for v in c.volumes.iter().filter(|v| matches!(v.direction, "in" | "out")) {
            h.raw("<tr><td>");
            h.text(&v.sensor);
            let _ = write!(h.s, "</td><td>IPv{}</td><td>{}</td>", v.family, v.direction);
            for b in v.bytes {
                let _ = write!(h.s, "<td class=\"n\" data-v=\"{b}\">{}</td>", esc(&bytes(b)));
            }
            h.raw("</tr>");
        }
        h.raw("</tbody></table>");
        if !c.http_v6.is_empty() {
            h.raw("<h3>HTTP requests over IPv6 during the window</h3><table class=\"sortable\"><thead><tr><th>Sensor</th><th class=\"n\">Requests</th><th>Request</th><th>First</th></tr></thead><tbody>");
            for a in &c.http_v6 {
                h.raw("<tr><td>");
                h.text(&a.sensor);
                let n = a.windows.iter().skip(1).step_by(3).sum::<u64>();
                let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{n}\">{n}</td><td class=\"mono\">");
                h.breaking(&format!("{} http://{}{}", a.method, a.host, a.example_uri));
                let _ = write!(h.s, "</td><td data-v=\"{}\">", a.first_ts);
                h.time(a.first_ts, &st.tz);
                h.raw("</td></tr>");
            }
            h.raw("</tbody></table>");
        }
        if !c.new_peers.is_empty() {
            h.raw("<h3>Peers new in the window</h3><table class=\"sortable\"><thead><tr><th>Sensor</th><th>Address</th><th>Name</th><th class=\"n\">Bytes</th></tr></thead><tbody>");
            for p in &c.new_peers {
                h.raw("<tr><td>");
                h.text(&p.sensor);
                h.addr_cell(&p.addr.to_string());
                h.raw("</td><td>");
                h.breaking(p.name().unwrap_or("-"));
                let b = p.bytes_in + p.bytes_out;
                let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{b}\">{}</td></tr>", esc(&bytes(b)));
            }
            h.raw("</tbody></table>");
        }
    }
    h.raw("</section>");
}

/// One sentence for an organisation's move: "Google switched to IPv6 at … and back to IPv4
/// at …", or, when no IPv6 connection ever worked, "published AAAA from … but IPv6 never worked".
pub fn change_text(ch: &engine::analysis::FamilyChange, tz: &jiff::tz::TimeZone) -> String {
    let mut line = ch.who.clone();
    match (ch.to_v6, ch.v6_ok) {
        (Some(a), Some(_)) => line.push_str(&format!(" switched to IPv6 at {}", local(a, tz))),
        (Some(a), None) => {
            line.push_str(&format!(" answered AAAA from {} but no IPv6 connection succeeded", local(a, tz)))
        }
        (None, _) => {}
    }
    if let Some(b) = ch.back_to_v4 {
        line.push_str(&format!("{}back to IPv4 at {}", if ch.to_v6.is_some() { ", " } else { " went " }, local(b, tz)));
    }
    line
}

fn moved(h: &mut Html, r: &Report, st: &Settings) {
    h.raw("<section id=\"moved\"><h2>Services that moved between IPv4 and IPv6</h2>");
    if r.health.service_events.is_empty() {
        h.raw("<p class=\"muted\">No service changed family in these captures.</p></section>");
        return;
    }
    h.raw("<table class=\"sortable\" id=\"moved-table\"><thead><tr><th>Time</th><th>Sensor</th><th>Change</th><th>Service</th></tr></thead><tbody>");
    for e in &r.health.service_events {
        let _ = write!(h.s, "<tr><td data-v=\"{}\">", e.ts);
        h.time_fmt(e.ts, &st.tz, "%Y-%m-%d %H:%M:%S %Z");
        h.cell(&e.sensor);
        h.cell(&e.kind.replace('_', " "));
        h.raw("</td><td>");
        h.breaking(&if e.port == 0 { e.service.clone() } else { format!("{}:{}", e.service, e.port) });
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></section>");
}

fn peers(h: &mut Html, r: &Report, st: &Settings) {
    h.raw("<section id=\"peers\"><h2>Peers</h2><p class=\"muted\">Remote addresses each sensor exchanged traffic with; names come from the capture (SNI, HTTP Host, DNS answers the sensor received). Click a column to sort.</p>");
    h.raw("<table class=\"sortable\" id=\"peer-table\"><thead><tr><th>Sensor</th><th>Address</th><th>Name (source)</th><th>Organisation</th><th>Address class</th><th class=\"n\">Flows out</th><th class=\"n\">in</th><th class=\"n\">Sent</th><th class=\"n\">Received</th><th>First / last</th><th>Class</th></tr></thead><tbody>");
    for p in r.peers.iter().take(2000) {
        h.raw("<tr><td>");
        h.text(&p.sensor);
        let _ = write!(h.s, "</td><td class=\"addr{}\">", if p.addr.version == 6 { " v6" } else { "" });
        h.text(&p.addr.to_string());
        h.raw("</td><td>");
        h.breaking(p.name().unwrap_or("-"));
        if p.ambiguous {
            h.raw(" <span class=\"muted\">(+");
            h.text(&(p.names.len() - 1).to_string());
            h.raw(" more)</span>");
        }
        if let Some(n) = p.names.first() {
            h.raw(" <span class=\"muted\">(");
            h.text(n.source);
            h.raw(")</span>");
        }
        h.raw("</td><td>");
        let mut org = p.org.clone().unwrap_or_default();
        if let Some(asn) = p.asn {
            org = format!("AS{asn} {org}");
        }
        if let Some(c) = &p.country {
            org = format!("{org} ({c})");
        }
        h.text(org.trim());
        h.cell(&p.addr_class);
        let _ = write!(
            h.s,
            "</td><td class=\"n\" data-v=\"{0}\">{0}</td><td class=\"n\" data-v=\"{1}\">{1}</td><td class=\"n\" data-v=\"{2}\">{3}</td><td class=\"n\" data-v=\"{4}\">{5}",
            p.flows_out,
            p.flows_in,
            p.bytes_out,
            esc(&bytes(p.bytes_out)),
            p.bytes_in,
            esc(&bytes(p.bytes_in)),
        );
        span_cell(h, p.first_ts, p.last_ts, &st.tz);
        h.cell(&p.classes.join(", "));
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table>");
    if r.peers.len() > 2000 {
        h.raw("<p class=\"muted\">");
        h.text(&format!("2000 of {} peers listed here; all of them are in the JSON (--json).", r.peers.len()));
        h.raw("</p>");
    }
    for f in &r.peers_folded {
        h.raw("<p class=\"muted\">");
        h.text(&format!(
            "{}: {} more peers, seen in one flow each (a scan or a flood), were counted but not listed: {} flows, {}.",
            f.sensor,
            count(f.peers),
            count(f.flows),
            bytes(f.bytes)
        ));
        h.raw("</p>");
    }
    h.raw("<h3>By IPv6 /64 (IPv4 /24)</h3><table class=\"sortable\"><thead><tr><th>Sensor</th><th>Prefix</th><th class=\"n\">Addresses</th><th class=\"n\">Flows</th><th class=\"n\">Bytes</th><th>Names</th></tr></thead><tbody>");
    for g in r.prefixes_64.iter().take(500) {
        h.raw("<tr><td>");
        h.text(&g.sensor);
        h.addr_cell(&g.key);
        let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{0}\">{0}</td><td class=\"n\" data-v=\"{1}\">{1}</td><td class=\"n\" data-v=\"{2}\">{3}</td><td>", g.addresses, g.flows, g.bytes, esc(&bytes(g.bytes)));
        h.breaking(&g.names.join(", "));
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></section>");
}

fn apps(h: &mut Html, r: &Report, st: &Settings) {
    h.raw("<section id=\"apps\"><h2>Application events</h2><h3>HTTP requests (method, host, path; query cut, one example kept)</h3><table class=\"sortable\" id=\"http-table\"><thead><tr><th>Sensor</th><th>IP</th><th class=\"n\">Requests</th><th>Request</th><th>First / last</th></tr></thead><tbody>");
    for a in r.http.iter().take(1000) {
        h.raw("<tr><td>");
        h.text(&a.sensor);
        let _ = write!(
            h.s,
            "</td><td{}>IPv{}</td><td class=\"n\" data-v=\"{2}\">{2}</td><td class=\"mono\">",
            if a.family == 6 { " class=\"v6\"" } else { "" },
            a.family,
            a.count
        );
        h.breaking(&format!("{} http://{}{}", a.method, a.host, a.example_uri));
        span_cell(h, a.first_ts, a.last_ts, &st.tz);
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table><h3>TLS and QUIC server names</h3><table class=\"sortable\" id=\"tls-table\"><thead><tr><th>Sensor</th><th>IP</th><th>Transport</th><th class=\"n\">Handshakes</th><th>Server name</th><th>First / last</th></tr></thead><tbody>");
    for a in r.tls.iter().take(1000) {
        h.raw("<tr><td>");
        h.text(&a.sensor);
        let _ = write!(
            h.s,
            "</td><td>IPv{}</td><td>{}</td><td class=\"n\" data-v=\"{2}\">{2}</td><td class=\"mono\">",
            a.family, a.transport, a.count
        );
        h.breaking(if a.sni.is_empty() { "(none)" } else { &a.sni });
        span_cell(h, a.first_ts, a.last_ts, &st.tz);
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table>");
    mail(h, r, st);
    h.raw("</section>");
}

/// Matches of the indicator lists: the seed's "access to phishing sites over IPv6", split by
/// family and by the event windows.
fn indicators(h: &mut Html, r: &Report, st: &Settings) {
    h.raw("<section id=\"indicators\"><h2>Known-bad destinations and senders</h2>");
    if st.indicators.is_none() {
        h.raw("<p class=\"muted\">No indicator list given (--indicators FILE, or indicators in the configuration).</p></section>");
        return;
    }
    let lines = super::answers::indicator_lines(r);
    if lines.is_empty() {
        h.raw("<p>No traffic matched the indicator lists.</p></section>");
        return;
    }
    paragraphs(h, &lines);
    h.raw("<table class=\"sortable\" id=\"indicator-table\"><thead><tr><th>Sensor</th><th>IP</th><th>Indicator</th><th>Kind</th><th>Listed in</th><th class=\"n\">Matches</th>");
    for c in &r.comparisons {
        h.raw("<th class=\"n\">");
        h.text(&c.event.name);
        h.raw("<br>before / during / after</th>");
    }
    h.raw("<th>What matched</th><th>First / last</th></tr></thead><tbody>");
    for x in &r.indicators {
        h.raw("<tr><td>");
        h.text(&x.sensor);
        let _ = write!(
            h.s,
            "</td><td{}>IPv{}</td><td class=\"mono\">",
            if x.family == 6 { " class=\"v6\"" } else { "" },
            x.family
        );
        h.breaking(&x.indicator);
        let kind = match x.kind {
            engine::analyze::indicators::Kind::Domain => "domain",
            engine::analyze::indicators::Kind::Address => "address",
            engine::analyze::indicators::Kind::Url => "URL",
        };
        let _ = write!(h.s, "</td><td>{kind}</td><td class=\"mono\">");
        h.breaking(&format!("{}:{}", x.file, x.line));
        let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{0}\">{0}</td>", x.count);
        for w in x.windows.chunks(3) {
            let _ =
                write!(h.s, "<td class=\"n\">{}</td>", w.iter().map(u64::to_string).collect::<Vec<_>>().join(" / "));
        }
        h.raw("<td class=\"mono\">");
        h.breaking(&x.matched.join("; "));
        span_cell(h, x.first_ts, x.last_ts, &st.tz);
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></section>");
}

/// Closes a cell and writes one "First / last" cell (sortable by the first time): the two
/// times on their own lines, or one when they are the same minute.
fn span_cell(h: &mut Html, first: i64, last: i64, tz: &jiff::tz::TimeZone) {
    let _ = write!(h.s, "</td><td data-v=\"{first}\">");
    h.time(first, tz);
    if local(first, tz) != local(last, tz) {
        h.raw("<br>");
        h.time(last, tz);
    }
}

/// One paragraph per line.
fn paragraphs(h: &mut Html, lines: &[String]) {
    for l in lines {
        h.raw("<p>");
        h.text(l);
        h.raw("</p>");
    }
}

/// SMTP connections: the spam question answered in a sentence per sensor, then the rows.
fn mail(h: &mut Html, r: &Report, st: &Settings) {
    h.raw("<h3 id=\"mail\">Mail (SMTP connections)</h3>");
    let lines = super::answers::mail_lines(r);
    if lines.is_empty() {
        h.raw("<p class=\"muted\">No SMTP connection in the captures.</p>");
        return;
    }
    paragraphs(h, &lines);
    h.raw("<table class=\"sortable\" id=\"mail-table\"><thead><tr><th>Sensor</th><th>IP</th><th>Direction</th><th class=\"n\">Connections</th><th class=\"n\">Senders</th><th class=\"n\">Messages</th><th class=\"n\">Recipients</th><th class=\"n\">Rejected</th><th class=\"n\">Deferred</th><th class=\"n\">STARTTLS</th><th>Busiest senders</th><th>First / last</th></tr></thead><tbody>");
    for m in &r.mail {
        h.raw("<tr><td>");
        h.text(&m.sensor);
        let _ = write!(
            h.s,
            "</td><td{}>IPv{}</td><td>{}</td>",
            if m.family == 6 { " class=\"v6\"" } else { "" },
            m.family,
            m.direction
        );
        for n in [m.connections, m.senders, m.messages, m.recipients, m.rejected, m.deferred, m.starttls] {
            let _ = write!(h.s, "<td class=\"n\" data-v=\"{n}\">{n}</td>");
        }
        h.raw("<td class=\"mono\">");
        let top: Vec<String> = m.top_senders.iter().map(|(a, n)| format!("{a} ×{n}")).collect();
        h.breaking(&top.join(", "));
        span_cell(h, m.first_ts, m.last_ts, &st.tz);
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table>");
}

/// Rows of the services table at most (see [`super::health::notable_services`]): a sensor that
/// talked to tens of thousands of addresses would otherwise get a page of megabytes that a
/// browser sorts slowly and nobody reads whole.
const SERVICE_ROWS: usize = 2000;

fn services(h: &mut Html, r: &Report) {
    h.raw("<section id=\"services\"><h2>Services by family</h2><table class=\"sortable\"><thead><tr><th>Sensor</th><th>Service</th><th>IP</th><th class=\"n\">Attempts</th><th class=\"n\">OK</th><th class=\"n\">Success (≥95%)</th><th class=\"n\">Connect p50</th><th class=\"n\">p90</th><th>Failures, fallbacks</th></tr></thead><tbody>");
    let shown = super::health::notable_services(&r.health.services, SERVICE_ROWS);
    for s in &shown {
        let mut notes: Vec<String> = s.failures.iter().map(|(k, n)| format!("{k} {n}")).collect();
        notes.extend(s.fallbacks.iter().map(|(k, n)| format!("fallback {k} {n}")));
        if s.blackholes > 0 {
            notes.push(format!("black hole {}", s.blackholes));
        }
        h.raw("<tr><td>");
        h.text(&s.sensor);
        h.raw("</td><td>");
        h.breaking(&format!("{}:{}", s.service, s.port));
        let _ = write!(
            h.s,
            "</td><td>IPv{}</td><td class=\"n\" data-v=\"{1}\">{1}</td><td class=\"n\" data-v=\"{2}\">{2}</td><td class=\"n\" data-v=\"{3}\">{4:.0}% ({5:.0}%)</td>",
            s.family,
            s.attempts,
            s.successes,
            s.success_rate,
            s.success_rate * 100.0,
            s.success_lower * 100.0
        );
        for v in [s.connect_p50_ns, s.connect_p90_ns] {
            let _ = write!(
                h.s,
                "<td class=\"n\" data-v=\"{}\">{}</td>",
                v.unwrap_or(-1),
                v.map_or("-".into(), |x| format!("{:.0} ms", x as f64 / 1e6))
            );
        }
        h.raw("<td>");
        h.text(&notes.join(", "));
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table>");
    if shown.len() < r.health.services.len() {
        h.raw("<p class=\"muted\">");
        h.text(&format!(
            "{} of {} rows listed here: those with failures first, then the most attempts; all of them are in the JSON (--json) and in v6watch health --format jsonl.",
            shown.len(),
            r.health.services.len()
        ));
        h.raw("</p>");
    }
    h.raw("</section>");
}

fn addresses(h: &mut Html, r: &Report, intel: &engine::analyze::addr::Intel) {
    h.raw("<section id=\"addresses\"><h2>Address intelligence</h2><p class=\"muted\">IPv6 peers by interface-identifier class and transition mechanism (RFC 7707: how guessable an address is).</p>");
    h.raw("<table class=\"sortable\"><thead><tr><th>Sensor</th><th>Address</th><th>Name</th><th>Class</th><th>Details</th></tr></thead><tbody>");
    for p in r.peers.iter().filter(|p| p.addr.version == 6).take(1000) {
        let info = intel.describe(&p.addr);
        h.raw("<tr><td>");
        h.text(&p.sensor);
        h.addr_cell(&p.addr.to_string());
        h.raw("</td><td>");
        h.breaking(p.name().unwrap_or("-"));
        h.cell(&format!("{}{}", info.class, if info.wordy { ", wordy" } else { "" }));
        h.raw("</td><td>");
        let mut details = vec![info.block.to_string()];
        details.extend(info.details);
        h.text(&details.join("; "));
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></section>");
}

fn capture(h: &mut Html, r: &Report, st: &Settings) {
    h.raw("<section id=\"capture\"><h2>Capture statistics and anomalies</h2><table><thead><tr><th>Sensor</th><th>Files</th><th class=\"n\">Frames</th><th class=\"n\">Bytes</th><th>Span</th><th>IPv4 / IPv6 packets</th><th>Sensor addresses</th><th>Anomalies</th></tr></thead><tbody>");
    for s in &r.sensors {
        h.raw("<tr><td>");
        h.text(&s.sensor);
        h.raw("</td><td class=\"mono\">");
        for f in &s.files {
            h.breaking(&format!(
                "{} ({} frames){}",
                f.path,
                f.frames,
                f.error.as_ref().map_or(String::new(), |e| format!(" — {e}"))
            ));
            h.raw("<br>");
        }
        let _ = write!(
            h.s,
            "</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>",
            count(s.frames),
            esc(&bytes(s.wire_bytes))
        );
        if let (Some(a), Some(b)) = (s.first_ts, s.last_ts) {
            h.time(a, &st.tz);
            h.raw(" –<br>");
            h.time(b, &st.tz);
        }
        h.cell(&format!("{} / {}", count(s.inner_ipv4), count(s.inner_ipv6)));
        h.raw("</td><td>");
        for a in &s.sensor_addrs {
            h.raw("<span class=\"addr\">");
            h.text(&a.addr.to_string());
            h.raw("</span> ");
            h.text(&format!("({})", a.reason));
            h.raw("<br>");
        }
        h.raw("</td><td>");
        let an: Vec<String> = s.anomalies.iter().map(|(k, n)| format!("{k} {n}")).collect();
        h.text(if an.is_empty() { "none" } else { "" });
        h.text(&an.join(", "));
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></section>");
}

fn settings(h: &mut Html, r: &Report, st: &Settings) {
    h.raw("<section id=\"settings\"><h2>Settings used</h2><table><tbody>");
    let mut row = |k: &str, v: String| {
        h.raw("<tr><th>");
        h.text(k);
        h.raw("</th><td>");
        h.text(&v);
        h.raw("</td></tr>");
    };
    row("Time zone", st.tz_name.clone());
    row("Timeline bucket", duration(r.timeline.bucket_ns));
    for e in &st.events {
        row("Event", format!("{}: {} – {}", e.name, local(e.start, &st.tz), local(e.end, &st.tz)));
    }
    for (c, n) in &r.classes {
        row(
            "Class",
            format!(
                "{c}: {n} flows tagged{}",
                if st.exclude.contains(c) { ", excluded from the analyses" } else { "" }
            ),
        );
    }
    for x in &r.excluded {
        row("Excluded", format!("{}: {} flows, {}", x.class, x.flows, bytes(x.bytes)));
    }
    let p = &r.health.params;
    row(
        "Health thresholds",
        format!(
            "fallback window {}, he_fast {}–{}, stall {}, service down after {} failed IPv6 attempts, fallback alert at {:.0}% (≥{})",
            duration(p.fallback_window_ns),
            duration(p.he_fast_min_ns),
            duration(p.he_fast_max_ns),
            duration(p.stall_ns),
            p.down_attempts,
            p.fallback_ratio * 100.0,
            p.fallback_min
        ),
    );
    row("Schema", format!("{} (v6watch report --json)", engine::analysis::SCHEMA));
    h.raw("</tbody></table></section>");
}

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
:root{--v4in:#6c8ebf;--v4out:#a9c4e8;--v6in:#d9822b;--v6out:#f2b66d;--oth:#bbb;--ink:#1d2330;--mute:#667085;--line:#e4e7ec;--bg:#fff;--crit:#b42318;--warn:#b54708;--info:#175cd3}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);margin:0;background:#f6f7f9}
header{background:#101828;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#d0d5dd}
main{max-width:1280px;margin:0 auto;padding:16px 24px 48px}
section{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:16px 0}
h2{font-size:17px;margin:0 0 10px}h3{font-size:14px;margin:14px 0 6px;color:#344054}
nav{display:flex;flex-wrap:wrap;gap:6px 14px;font-size:13px;margin-top:8px}nav a{color:#d0d5dd}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px}.card b{display:block;font-size:20px}.card span{color:var(--mute);font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f9fafb;position:sticky;top:0;cursor:pointer;user-select:none;white-space:nowrap}th.sorted-asc::after{content:" ▲"}th.sorted-desc::after{content:" ▼"}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
td.note{white-space:nowrap;word-break:normal}td.uids{max-width:240px;color:var(--mute);word-break:normal}
.card .sev{color:#fff;font-size:11px}
.sev{font-weight:600;text-transform:uppercase;font-size:11px;padding:1px 6px;border-radius:4px;color:#fff}
.sev.critical{background:var(--crit)}.sev.warning{background:var(--warn)}.sev.info{background:var(--info)}
.verdict{font-size:15px;padding:10px 14px;border-radius:6px;margin:6px 0 12px}.verdict.bad{background:#fef3f2;border:1px solid #fecdca}.verdict.ok{background:#ecfdf3;border:1px solid #abefc6}
.legend{display:flex;gap:14px;font-size:12px;color:var(--mute);margin:4px 0}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px;border-radius:2px}
.scroll{max-height:460px;overflow:auto;border:1px solid var(--line);border-radius:6px}
.muted{color:var(--mute)}.v6{color:#b54708;font-weight:600}
svg text{font:11px system-ui,sans-serif;fill:#475467}
@media print{body{background:#fff}header{background:#fff;color:#000;border-bottom:2px solid #000}header p,nav a{color:#000}section{break-inside:avoid;border:none;padding:0}.scroll{max-height:none;overflow:visible;border:none}th{position:static}}
"#;

pub(super) const JS: &str = r#"
document.querySelectorAll('table.sortable').forEach(function(t){
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
    });
  });
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
        let v4 = s.by_family[0].bytes;
        let v6 = s.by_family[1].bytes;
        let findings = |sev: Severity| {
            r.health.findings.iter().filter(|f| f.sensor == s.sensor && f.severity == sev && !is_threat(f)).count()
        };
        let peers = r.peers.iter().filter(|p| p.sensor == s.sensor).count();
        h.raw("<div class=\"card\"><span>sensor</span><b>");
        h.text(&s.sensor);
        h.raw("</b>");
        h.text(&format!(
            "{} packets · {} · {} flows · {} peers",
            count(s.frames),
            bytes(s.wire_bytes),
            count(s.flows),
            count(peers as u64)
        ));
        h.raw("<br>");
        h.text(&format!("IPv4 {} · IPv6 {} ({} of IP bytes)", bytes(v4), bytes(v6), super::term::pct(v6, v4 + v6)));
        // The totals in and out of each event window (in + out: the sensor's own traffic).
        for c in &r.comparisons {
            let sum = |fam: u8, w: usize| -> u64 {
                c.volumes
                    .iter()
                    .filter(|v| v.sensor == s.sensor && v.family == fam && matches!(v.direction, "in" | "out"))
                    .map(|v| v.bytes[w])
                    .sum()
            };
            let (d4, d6) = (sum(4, 1), sum(6, 1));
            let (o4, o6) = (sum(4, 0) + sum(4, 2), sum(6, 0) + sum(6, 2));
            h.raw("<br>");
            h.text(&format!(
                "{}: IPv6 {} of {} during, {} of {} in the windows before and after",
                c.event.name,
                bytes(d6),
                bytes(d4 + d6),
                bytes(o6),
                bytes(o4 + o6)
            ));
        }
        let (c, w) = (findings(Severity::Critical), findings(Severity::Warning));
        h.raw("<br>");
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
    h.raw("<div class=\"scroll\"><table class=\"sortable\" id=\"findings\"><thead><tr><th>Severity</th><th>Finding</th><th>Sensor</th><th>What</th><th class=\"n\">Times</th><th>First</th><th>Last</th><th>Flows</th></tr></thead><tbody>");
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
        h.cell(&f.msg);
        let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{}\">{}</td><td data-v=\"{}\">", f.n, f.n, f.first_ts);
        h.text(&local(f.first_ts, &st.tz));
        let _ = write!(h.s, "</td><td data-v=\"{}\">", f.last_ts);
        h.text(&local(f.last_ts, &st.tz));
        h.raw("</td><td class=\"mono uids\">");
        h.text(&f.uids.join(" "));
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div>");
    if !r.health.fallbacks.is_empty() {
        h.raw("<h3>Happy-Eyeballs fallbacks (IPv6 failed, IPv4 to the same name)</h3><div class=\"scroll\"><table class=\"sortable\"><thead><tr><th>Time</th><th>Sensor</th><th>Service</th><th>Kind</th><th class=\"n\">User waited</th><th>IPv6 outcome</th></tr></thead><tbody>");
        for f in &r.health.fallbacks {
            let _ = write!(h.s, "<tr><td data-v=\"{}\">", f.v6_ts);
            h.text(&local_fmt(f.v6_ts, &st.tz, "%Y-%m-%d %H:%M:%S %Z"));
            h.cell(&f.sensor);
            h.cell(&format!("{}:{}", f.service, f.port));
            h.cell(f.kind.name());
            let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{}\">", f.delay_ns);
            h.text(&duration(f.delay_ns));
            h.cell(f.v6_outcome.name());
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table></div>");
    }
    if !r.health.pmtu.is_empty() {
        h.raw("<h3>Path MTU</h3><table class=\"sortable\"><thead><tr><th>Time</th><th>Sensor</th><th>Service</th><th>State</th><th>Seen from</th><th class=\"n\">Stalled</th><th>Confidence</th></tr></thead><tbody>");
        for b in &r.health.pmtu {
            let _ = write!(h.s, "<tr><td data-v=\"{}\">", b.ts);
            h.text(&local_fmt(b.ts, &st.tz, "%Y-%m-%d %H:%M:%S %Z"));
            h.cell(&b.sensor);
            h.cell(&format!("{}:{}", b.service, b.port));
            h.cell(b.state.name());
            h.cell(&format!("{} side", b.side));
            let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{}\">", b.stall_ns);
            h.text(&duration(b.stall_ns));
            h.cell(b.confidence);
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table>");
    }
    h.raw("</section>");
}

const SERIES: [(&str, u8, &str, &str); 4] = [
    ("IPv4 in", 4, "in", "--v4in"),
    ("IPv4 out", 4, "out", "--v4out"),
    ("IPv6 in", 6, "in", "--v6in"),
    ("IPv6 out", 6, "out", "--v6out"),
];

/// Bytes per bucket of one sensor for each of the four stacked series (+ other).
fn sensor_series(tl: &Timeline, sensor: &str) -> [Vec<u64>; 5] {
    let mut out: [Vec<u64>; 5] = std::array::from_fn(|_| vec![0; tl.buckets]);
    for s in tl.series.iter().filter(|s| s.key.sensor == sensor) {
        let k = SERIES.iter().position(|(_, f, d, _)| *f == s.key.family && *d == s.key.direction).unwrap_or(4);
        for (i, b) in s.bytes.iter().enumerate() {
            out[k][i] += b;
        }
    }
    out
}

fn timeline(h: &mut Html, r: &Report, st: &Settings) {
    let tl = &r.timeline;
    h.raw("<section id=\"timeline\"><h2>Volume over time</h2><div class=\"legend\">");
    for (name, _, _, var) in SERIES {
        let _ = write!(h.s, "<span><i style=\"background:var({var})\"></i>{name}</span>");
    }
    h.raw("<span><i style=\"background:#fde68a\"></i>event window</span></div>");
    h.text(&format!(
        "IP bytes per {} bucket, in = received by the sensor, out = sent by it; times in {}. Hover a bar for its values.",
        duration(tl.bucket_ns),
        st.tz_name
    ));
    for s in &r.sensors {
        let data = sensor_series(tl, &s.sensor);
        h.raw("<h3>");
        h.text(&s.sensor);
        h.raw("</h3>");
        chart(h, tl, &s.sensor, &data, st);
    }
    h.raw("</section>");
}

fn chart(h: &mut Html, tl: &Timeline, sensor: &str, data: &[Vec<u64>; 5], st: &Settings) {
    let (w, hgt, left, bottom, top) = (1180.0f64, 230.0f64, 64.0f64, 28.0f64, 8.0f64);
    let n = tl.buckets.max(1);
    let plot_w = w - left - 8.0;
    let plot_h = hgt - bottom - top;
    let totals: Vec<u64> = (0..tl.buckets).map(|i| data[..4].iter().map(|v| v[i]).sum()).collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1) as f64;
    let bw = plot_w / n as f64;
    let x_of = |t: i64| left + (t - tl.start_ns) as f64 / tl.bucket_ns as f64 * bw;
    let _ = write!(
        h.s,
        "<svg class=\"chart\" data-sensor=\"{}\" viewBox=\"0 0 {w} {hgt}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        esc(sensor),
        esc(&format!("bytes over time for {sensor}"))
    );
    // Event windows, shaded behind the bars.
    for e in &st.events {
        let (x0, x1) = (x_of(e.start).max(left), x_of(e.end).min(left + plot_w));
        if x1 > x0 {
            let _ = write!(h.s, "<rect class=\"event\" x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{plot_h}\" fill=\"#fde68a\" opacity=\"0.55\"><title>", x1 - x0);
            h.text(&format!("{}: {} – {}", e.name, local(e.start, &st.tz), local(e.end, &st.tz)));
            let _ = write!(h.s, "</title></rect><text x=\"{:.1}\" y=\"{}\">", x0 + 4.0, top + 12.0);
            h.text(&e.name);
            h.raw("</text>");
        }
    }
    // Y axis: three gridlines.
    for k in 1..=3 {
        let v = max * f64::from(k) / 3.0;
        let y = top + plot_h - plot_h * f64::from(k) / 3.0;
        let _ = write!(h.s, "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eaecf0\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>", left + plot_w, left - 6.0, y + 4.0, esc(&bytes(v as u64)));
    }
    // Stacked bars, one group per series so a test (or a user) can find each series.
    for (k, (name, _, _, var)) in SERIES.iter().enumerate() {
        let _ = write!(h.s, "<g class=\"series\" data-series=\"{name}\" fill=\"var({var})\">");
        for i in 0..tl.buckets {
            let v = data[k][i];
            if v == 0 {
                continue;
            }
            let below: u64 = data[..k].iter().map(|d| d[i]).sum();
            let y1 = top + plot_h - below as f64 / max * plot_h;
            let bh = (v as f64 / max * plot_h).max(0.5);
            let _ = write!(
                h.s,
                "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{bh:.2}\"><title>",
                left + i as f64 * bw,
                y1 - bh,
                (bw - 0.6).max(0.4)
            );
            h.text(&format!(
                "{} {}: {} (bucket total {})",
                local(tl.bucket_start(i), &st.tz),
                name,
                bytes(v),
                bytes(totals[i])
            ));
            h.raw("</title></rect>");
        }
        h.raw("</g>");
    }
    // X axis: ticks at day (or bucket-multiple) boundaries in the display zone.
    let _ = write!(
        h.s,
        "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#98a2b3\"/>",
        left + plot_w,
        top + plot_h,
        top + plot_h
    );
    // Ticks at local midnights when buckets are an hour or more (days are what people count
    // in), else at every n/8 buckets.
    let midnights: Vec<usize> =
        (0..tl.buckets).filter(|&i| local_fmt(tl.bucket_start(i), &st.tz, "%H:%M") == "00:00").collect();
    let (ticks, fmt): (Vec<usize>, &str) = if tl.bucket_ns >= 3_600_000_000_000 && (2..=40).contains(&midnights.len()) {
        (midnights, "%m-%d")
    } else {
        (
            (0..tl.buckets).step_by((n / 8).max(1)).collect(),
            if tl.bucket_ns >= 3_600_000_000_000 { "%m-%d %H:%M" } else { "%H:%M" },
        )
    };
    for i in ticks {
        let x = left + i as f64 * bw;
        let label = local_fmt(tl.bucket_start(i), &st.tz, fmt);
        let _ = write!(h.s, "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#98a2b3\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>", top + plot_h, top + plot_h + 4.0, hgt - 8.0, esc(&label));
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
            for a in c.http_v6.iter().take(30) {
                h.raw("<tr><td>");
                h.text(&a.sensor);
                let n = a.windows.iter().skip(1).step_by(3).sum::<u64>();
                let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{n}\">{n}</td><td class=\"mono\">");
                h.text(&format!("{} http://{}{}", a.method, a.host, a.example_uri));
                h.cell(&local(a.first_ts, &st.tz));
                h.raw("</td></tr>");
            }
            h.raw("</tbody></table>");
        }
        if !c.new_peers.is_empty() {
            h.raw("<h3>Peers new in the window</h3><table class=\"sortable\"><thead><tr><th>Sensor</th><th>Address</th><th>Name</th><th class=\"n\">Bytes</th></tr></thead><tbody>");
            for p in c.new_peers.iter().take(60) {
                h.raw("<tr><td>");
                h.text(&p.sensor);
                h.raw("</td><td class=\"mono\">");
                h.text(&p.addr.to_string());
                h.cell(p.name().unwrap_or("-"));
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
    h.raw("<div class=\"scroll\"><table class=\"sortable\"><thead><tr><th>Time</th><th>Sensor</th><th>Change</th><th>Service</th></tr></thead><tbody>");
    for e in &r.health.service_events {
        let _ = write!(h.s, "<tr><td data-v=\"{}\">", e.ts);
        h.text(&local_fmt(e.ts, &st.tz, "%Y-%m-%d %H:%M:%S %Z"));
        h.cell(&e.sensor);
        h.cell(&e.kind.replace('_', " "));
        h.cell(&if e.port == 0 { e.service.clone() } else { format!("{}:{}", e.service, e.port) });
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div></section>");
}

fn peers(h: &mut Html, r: &Report, st: &Settings) {
    h.raw("<section id=\"peers\"><h2>Peers</h2><p class=\"muted\">Remote addresses each sensor exchanged traffic with; names come from the capture (SNI, HTTP Host, DNS answers the sensor received). Click a column to sort.</p>");
    h.raw("<div class=\"scroll\"><table class=\"sortable\" id=\"peer-table\"><thead><tr><th>Sensor</th><th>Address</th><th>Name</th><th>Source</th><th>Organisation</th><th>Address class</th><th class=\"n\">Flows out</th><th class=\"n\">Flows in</th><th class=\"n\">Sent</th><th class=\"n\">Received</th><th>First</th><th>Last</th><th>Class</th></tr></thead><tbody>");
    for p in r.peers.iter().take(2000) {
        h.raw("<tr><td>");
        h.text(&p.sensor);
        let _ = write!(h.s, "</td><td class=\"mono{}\">", if p.addr.version == 6 { " v6" } else { "" });
        h.text(&p.addr.to_string());
        h.cell(p.name().unwrap_or("-"));
        if p.ambiguous {
            h.raw(" <span class=\"muted\">(+");
            h.text(&(p.names.len() - 1).to_string());
            h.raw(" more)</span>");
        }
        h.cell(p.names.first().map_or("", |n| n.source));
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
            "</td><td class=\"n\" data-v=\"{0}\">{0}</td><td class=\"n\" data-v=\"{1}\">{1}</td><td class=\"n\" data-v=\"{2}\">{3}</td><td class=\"n\" data-v=\"{4}\">{5}</td><td data-v=\"{6}\">",
            p.flows_out,
            p.flows_in,
            p.bytes_out,
            esc(&bytes(p.bytes_out)),
            p.bytes_in,
            esc(&bytes(p.bytes_in)),
            p.first_ts
        );
        h.text(&local(p.first_ts, &st.tz));
        let _ = write!(h.s, "</td><td data-v=\"{}\">", p.last_ts);
        h.text(&local(p.last_ts, &st.tz));
        h.cell(&p.classes.join(", "));
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div>");
    if r.peers.len() > 2000 {
        h.text(&format!("… {} more peers in the JSON (--json).", r.peers.len() - 2000));
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
    h.raw("<h3>By IPv6 /64 (IPv4 /24)</h3><div class=\"scroll\"><table class=\"sortable\"><thead><tr><th>Sensor</th><th>Prefix</th><th class=\"n\">Addresses</th><th class=\"n\">Flows</th><th class=\"n\">Bytes</th><th>Names</th></tr></thead><tbody>");
    for g in r.prefixes_64.iter().take(500) {
        h.raw("<tr><td>");
        h.text(&g.sensor);
        h.raw("</td><td class=\"mono\">");
        h.text(&g.key);
        let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{0}\">{0}</td><td class=\"n\" data-v=\"{1}\">{1}</td><td class=\"n\" data-v=\"{2}\">{3}</td><td>", g.addresses, g.flows, g.bytes, esc(&bytes(g.bytes)));
        h.text(&g.names.join(", "));
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div></section>");
}

fn apps(h: &mut Html, r: &Report, st: &Settings) {
    h.raw("<section id=\"apps\"><h2>Application events</h2><h3>HTTP requests (method, host, path; query cut, one example kept)</h3><div class=\"scroll\"><table class=\"sortable\" id=\"http-table\"><thead><tr><th>Sensor</th><th>IP</th><th class=\"n\">Requests</th><th>Request</th><th>First</th><th>Last</th></tr></thead><tbody>");
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
        h.text(&format!("{} http://{}{}", a.method, a.host, a.example_uri));
        span_cells(h, a.first_ts, a.last_ts, &st.tz);
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div><h3>TLS and QUIC server names</h3><div class=\"scroll\"><table class=\"sortable\" id=\"tls-table\"><thead><tr><th>Sensor</th><th>IP</th><th>Transport</th><th class=\"n\">Handshakes</th><th>Server name</th><th>First</th><th>Last</th></tr></thead><tbody>");
    for a in r.tls.iter().take(1000) {
        h.raw("<tr><td>");
        h.text(&a.sensor);
        let _ = write!(
            h.s,
            "</td><td>IPv{}</td><td>{}</td><td class=\"n\" data-v=\"{2}\">{2}</td><td class=\"mono\">",
            a.family, a.transport, a.count
        );
        h.text(if a.sni.is_empty() { "(none)" } else { &a.sni });
        span_cells(h, a.first_ts, a.last_ts, &st.tz);
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div>");
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
    h.raw("<div class=\"scroll\"><table class=\"sortable\" id=\"indicator-table\"><thead><tr><th>Sensor</th><th>IP</th><th>Indicator</th><th>Kind</th><th>Listed in</th><th class=\"n\">Matches</th>");
    for c in &r.comparisons {
        h.raw("<th class=\"n\">");
        h.text(&format!("before / during / after {}", c.event.name));
        h.raw("</th>");
    }
    h.raw("<th>What matched</th><th>First</th><th>Last</th></tr></thead><tbody>");
    for x in &r.indicators {
        h.raw("<tr><td>");
        h.text(&x.sensor);
        let _ = write!(
            h.s,
            "</td><td{}>IPv{}</td><td class=\"mono\">",
            if x.family == 6 { " class=\"v6\"" } else { "" },
            x.family
        );
        h.text(&x.indicator);
        let kind = match x.kind {
            engine::analyze::indicators::Kind::Domain => "domain",
            engine::analyze::indicators::Kind::Address => "address",
            engine::analyze::indicators::Kind::Url => "URL",
        };
        let _ = write!(h.s, "</td><td>{kind}</td><td class=\"mono\">");
        h.text(&format!("{}:{}", x.file, x.line));
        let _ = write!(h.s, "</td><td class=\"n\" data-v=\"{0}\">{0}</td>", x.count);
        for w in x.windows.chunks(3) {
            let _ =
                write!(h.s, "<td class=\"n\">{}</td>", w.iter().map(u64::to_string).collect::<Vec<_>>().join(" / "));
        }
        h.raw("<td class=\"mono\">");
        h.text(&x.matched.join("; "));
        span_cells(h, x.first_ts, x.last_ts, &st.tz);
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div></section>");
}

/// Closes a cell and writes the First and Last cells (sortable by time) of a table row.
fn span_cells(h: &mut Html, first: i64, last: i64, tz: &jiff::tz::TimeZone) {
    for t in [first, last] {
        let _ = write!(h.s, "</td><td data-v=\"{t}\">");
        h.text(&local(t, tz));
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
    h.raw("<div class=\"scroll\"><table class=\"sortable\" id=\"mail-table\"><thead><tr><th>Sensor</th><th>IP</th><th>Direction</th><th class=\"n\">Connections</th><th class=\"n\">Senders</th><th class=\"n\">Messages</th><th class=\"n\">Recipients</th><th class=\"n\">Rejected</th><th class=\"n\">Deferred</th><th class=\"n\">STARTTLS</th><th>Busiest senders</th><th>First</th><th>Last</th></tr></thead><tbody>");
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
        h.text(&top.join(", "));
        span_cells(h, m.first_ts, m.last_ts, &st.tz);
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div>");
}

fn services(h: &mut Html, r: &Report) {
    h.raw("<section id=\"services\"><h2>Services by family</h2><div class=\"scroll\"><table class=\"sortable\"><thead><tr><th>Sensor</th><th>Service</th><th>IP</th><th class=\"n\">Attempts</th><th class=\"n\">OK</th><th class=\"n\">Success (≥95%)</th><th class=\"n\">Connect p50</th><th class=\"n\">p90</th><th>Failures, fallbacks</th></tr></thead><tbody>");
    for s in &r.health.services {
        let mut notes: Vec<String> = s.failures.iter().map(|(k, n)| format!("{k} {n}")).collect();
        notes.extend(s.fallbacks.iter().map(|(k, n)| format!("fallback {k} {n}")));
        if s.blackholes > 0 {
            notes.push(format!("black hole {}", s.blackholes));
        }
        h.raw("<tr><td>");
        h.text(&s.sensor);
        h.cell(&format!("{}:{}", s.service, s.port));
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
    h.raw("</tbody></table></div></section>");
}

fn addresses(h: &mut Html, r: &Report, intel: &engine::analyze::addr::Intel) {
    h.raw("<section id=\"addresses\"><h2>Address intelligence</h2><p class=\"muted\">IPv6 peers by interface-identifier class and transition mechanism (RFC 7707: how guessable an address is).</p>");
    h.raw("<div class=\"scroll\"><table class=\"sortable\"><thead><tr><th>Sensor</th><th>Address</th><th>Name</th><th>Class</th><th>Details</th></tr></thead><tbody>");
    for p in r.peers.iter().filter(|p| p.addr.version == 6).take(1000) {
        let info = intel.describe(&p.addr);
        h.raw("<tr><td>");
        h.text(&p.sensor);
        h.raw("</td><td class=\"mono\">");
        h.text(&p.addr.to_string());
        h.cell(p.name().unwrap_or("-"));
        h.cell(&format!("{}{}", info.class, if info.wordy { ", wordy" } else { "" }));
        h.raw("</td><td>");
        let mut details = vec![info.block.to_string()];
        details.extend(info.details);
        h.text(&details.join("; "));
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div></section>");
}

fn capture(h: &mut Html, r: &Report, st: &Settings) {
    h.raw("<section id=\"capture\"><h2>Capture statistics and anomalies</h2><table><thead><tr><th>Sensor</th><th>Files</th><th class=\"n\">Frames</th><th class=\"n\">Bytes</th><th>Span</th><th>IPv4 / IPv6 packets</th><th>Sensor addresses</th><th>Anomalies</th></tr></thead><tbody>");
    for s in &r.sensors {
        h.raw("<tr><td>");
        h.text(&s.sensor);
        h.raw("</td><td class=\"mono\">");
        for f in &s.files {
            h.text(&format!(
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
            h.text(&format!("{} – {}", local(a, &st.tz), local(b, &st.tz)));
        }
        h.cell(&format!("{} / {}", count(s.inner_ipv4), count(s.inner_ipv6)));
        h.raw("</td><td class=\"mono\">");
        for a in &s.sensor_addrs {
            h.text(&format!("{} ({})", a.addr, a.reason));
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

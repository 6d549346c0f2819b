//! The fleet report (`v6watch report --fleet FILE`): the JSON document the fleet SQL writes
//! (schema `v6watch.fleet/1`, from `sql/fleet.py` on DuckDB or DataFusion, or the Spark job in
//! `jobs/spark/`) rendered as one self-contained HTML file in the report's style: an overview
//! per sensor, IPv6 health per service and family, the services that moved to IPv6 (and back),
//! traffic per hour, and the top peers by name. The document is input like any other: every
//! value is escaped, a value of an unexpected type is shown as its JSON text, and a query this
//! v6watch does not know is shown as a plain table of its columns.

use super::report::{esc, CSS, JS};
use super::term::{bytes, count};
use anyhow::{bail, Context, Result};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The document schema this renderer reads.
pub const SCHEMA: &str = "v6watch.fleet/1";

/// How a column's values are shown.
#[derive(Clone, Copy)]
enum Show {
    Text,
    Int,
    Bytes,
    Rate,
    Seconds,
    Time,
    Family,
    Bool,
}

type Columns = &'static [(&'static str, &'static str, Show)];

const HEALTH: Columns = &[
    ("sensor", "sensor", Show::Text),
    ("service", "service", Show::Text),
    ("port", "port", Show::Int),
    ("family", "family", Show::Family),
    ("attempts", "attempts", Show::Int),
    ("successes", "ok", Show::Int),
    ("success_rate", "rate", Show::Rate),
    ("fallbacks_he_fast", "HE fast", Show::Int),
    ("fallbacks_error_triggered", "after error", Show::Int),
    ("fallbacks_timeout_slow", "after timeout", Show::Int),
    ("fallbacks_race_lost", "race lost", Show::Int),
    ("connect_p50_s", "p50", Show::Seconds),
    ("connect_p90_s", "p90", Show::Seconds),
];

const MOVED: Columns = &[
    ("sensor", "sensor", Show::Text),
    ("service", "service", Show::Text),
    ("port", "port", Show::Int),
    ("first_v4_ts", "first over IPv4", Show::Time),
    ("moved_ts", "moved to IPv6", Show::Time),
    ("last_v6_ts", "last over IPv6", Show::Time),
    ("last_v4_ts", "last over IPv4", Show::Time),
    ("back_to_v4", "back to IPv4", Show::Bool),
];

const PEERS: Columns = &[
    ("sensor", "sensor", Show::Text),
    ("rank", "#", Show::Int),
    ("peer", "peer", Show::Text),
    ("name", "name", Show::Text),
    ("family", "family", Show::Family),
    ("bytes", "bytes", Show::Bytes),
    ("bytes_out", "out", Show::Bytes),
    ("bytes_in", "in", Show::Bytes),
    ("flows", "flows", Show::Int),
];

/// The known queries, in report order: (name, heading, intro, columns).
const SECTIONS: &[(&str, &str, &str, Columns)] = &[
    (
        "health",
        "IPv6 health per service",
        "Connection attempts per service and family; ok: established; the fallbacks to IPv4 that followed IPv6 attempts, by kind (Happy Eyeballs fast, after an error, after a timeout, IPv6 lost the race); p50/p90: time to connect (nearest rank).",
        HEALTH,
    ),
    (
        "moved",
        "Services that moved to IPv6",
        "Services first reached over IPv4 that were later reached over IPv6; back to IPv4 when the last success was over IPv4 again.",
        MOVED,
    ),
    ("peers", "Top peers by bytes", "The peers with most IP bytes per sensor, with the name most of their flows carried.", PEERS),
];

/// Renders the fleet document `text` (read from `source`) as HTML.
pub fn html(text: &str, source: &str) -> Result<String> {
    let doc: Json = serde_json::from_str(text).with_context(|| format!("{source}: not a JSON document"))?;
    let schema = doc.get("schema").and_then(Json::as_str);
    if schema != Some(SCHEMA) {
        bail!(
            "{source}: schema {}, not {SCHEMA} (the document sql/fleet.py and jobs/spark/fleet.py write)",
            schema.map_or("missing".into(), |s| format!("{s:?}"))
        );
    }
    let Some(queries) = doc.get("queries").and_then(Json::as_object) else {
        bail!("{source}: no \"queries\" object");
    };
    let rows = |q: &str| -> Result<Vec<&Map<String, Json>>> {
        match queries.get(q) {
            None => Ok(Vec::new()),
            Some(Json::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, r)| r.as_object().with_context(|| format!("{source}: queries.{q}[{i}] is not an object")))
                .collect(),
            Some(_) => bail!("{source}: queries.{q} is not a list of rows"),
        }
    };
    let (timeline, health, moved) = (rows("timeline")?, rows("health")?, rows("moved")?);

    let mut h = String::with_capacity(1 << 18);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">");
    h.push_str("<title>v6watch fleet report</title><style>");
    h.push_str(CSS);
    h.push_str("</style></head><body><header><h1>v6watch — the fleet</h1><p>");
    let mut sensors: Vec<&str> = timeline.iter().chain(&health).filter_map(|r| r.get("sensor")?.as_str()).collect();
    sensors.sort_unstable();
    sensors.dedup();
    let str_of = |k: &str| doc.get(k).and_then(Json::as_str).unwrap_or("-");
    let datasets: Vec<String> =
        doc.get("datasets").and_then(Json::as_array).map_or(Vec::new(), |a| a.iter().map(plain).collect());
    h.push_str(&esc(&format!(
        "{} sensor{} · engine {} · generated {} · datasets {}",
        sensors.len(),
        if sensors.len() == 1 { "" } else { "s" },
        str_of("engine"),
        str_of("generated"),
        datasets.join(", ")
    )));
    h.push_str("</p><nav><a href=\"#overview\">Overview</a><a href=\"#health\">IPv6 health</a><a href=\"#moved\">Moved to IPv6</a><a href=\"#timeline\">Timeline</a><a href=\"#peers\">Peers</a></nav></header><main>");

    overview(&mut h, &sensors, &timeline, &health, &moved);
    for (name, title, intro, cols) in SECTIONS {
        // Traffic per hour goes between the moved services and the peers, as in the report.
        if *name == "peers" {
            timeline_section(&mut h, &sensors, &timeline);
        }
        section(&mut h, name, title, intro, cols, &rows(name)?);
    }
    // Queries added to sql/ after this v6watch: their columns as they come.
    for (q, _) in queries.iter().filter(|(q, _)| *q != "timeline" && !SECTIONS.iter().any(|s| s.0 == *q)) {
        let r = rows(q)?;
        let mut keys: Vec<&str> = Vec::new();
        for k in r.iter().flat_map(|o| o.keys()) {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
        let cols: Vec<(&str, &str, Show)> = keys.iter().map(|k| (*k, *k, Show::Text)).collect();
        let _ = write!(h, "<section id=\"q-{0}\"><h2>{0}</h2>", esc(q));
        table(&mut h, &cols, &r);
        h.push_str("</section>");
    }
    h.push_str("</main><script>");
    h.push_str(JS);
    h.push_str("</script></body></html>\n");
    Ok(h)
}

/// A JSON value as text: strings as they are, anything else as its JSON.
fn plain(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        v => v.to_string(),
    }
}

fn num(r: &Map<String, Json>, k: &str) -> Option<f64> {
    r.get(k)?.as_f64()
}

fn uint(r: &Map<String, Json>, k: &str) -> u64 {
    r.get(k).and_then(Json::as_u64).unwrap_or(0)
}

fn text<'a>(r: &'a Map<String, Json>, k: &str) -> &'a str {
    r.get(k).and_then(Json::as_str).unwrap_or("")
}

/// An ISO 8601 UTC time (`2011-06-08T00:00:07.046000Z`) shown to `len` characters
/// (`2011-06-08 00:00:07.046` for 23), with its zone; other text as it is.
fn iso_time(s: &str, len: usize) -> String {
    match s.strip_suffix('Z') {
        Some(t) if t.len() >= 16 && t.is_char_boundary(len.min(t.len())) && t.as_bytes()[10] == b'T' => {
            format!("{} {} UTC", &t[..10], &t[11..len.min(t.len())])
        }
        _ => s.to_string(),
    }
}

/// One cell: its sort value (numbers) and its text.
fn cell(v: Option<&Json>, show: Show) -> (Option<f64>, String) {
    let Some(v) = v.filter(|v| !v.is_null()) else { return (None, "–".into()) };
    let n = v.as_f64();
    let t = match (show, v) {
        (Show::Int, Json::Number(_)) => v.as_u64().map_or_else(|| v.to_string(), count),
        (Show::Bytes, Json::Number(_)) => v.as_u64().map_or_else(|| v.to_string(), bytes),
        (Show::Rate, Json::Number(_)) => format!("{:.1} %", n.unwrap_or(0.0) * 100.0),
        (Show::Seconds, Json::Number(_)) => {
            let s = n.unwrap_or(0.0);
            if s < 1.0 {
                format!("{:.1} ms", s * 1e3)
            } else {
                format!("{s:.2} s")
            }
        }
        (Show::Family, Json::Number(_)) => format!("IPv{v}"),
        (Show::Time, Json::String(s)) => iso_time(s, 19),
        (Show::Bool, Json::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        _ => plain(v),
    };
    (n, t)
}

fn table(h: &mut String, cols: &[(&str, &str, Show)], rows: &[&Map<String, Json>]) {
    if rows.is_empty() {
        h.push_str("<p class=\"muted\">No rows.</p>");
        return;
    }
    h.push_str("<div class=\"scroll\"><table class=\"sortable\"><thead><tr>");
    for (_, label, show) in cols {
        let class =
            if matches!(show, Show::Text | Show::Time | Show::Family | Show::Bool) { "" } else { " class=\"n\"" };
        let _ = write!(h, "<th{class}>{}</th>", esc(label));
    }
    h.push_str("</tr></thead><tbody>");
    for r in rows {
        // An IPv6 row with failures stands out.
        let bad = uint(r, "family") == 6 && num(r, "success_rate").is_some_and(|x| x < 1.0);
        h.push_str(if bad { "<tr class=\"v6\">" } else { "<tr>" });
        for (key, _, show) in cols {
            let (n, t) = cell(r.get(*key), *show);
            let class = match (key, show) {
                (&"peer", _) => " class=\"mono\"",
                (_, Show::Time | Show::Text) => " class=\"note\"",
                _ => "",
            };
            match n {
                Some(n) if !matches!(show, Show::Text | Show::Time | Show::Family) => {
                    let _ = write!(h, "<td class=\"n\" data-v=\"{n}\">{}</td>", esc(&t));
                }
                _ => {
                    let _ = write!(h, "<td{class}>{}</td>", esc(&t));
                }
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>");
}

fn section(h: &mut String, id: &str, title: &str, intro: &str, cols: Columns, rows: &[&Map<String, Json>]) {
    let _ = write!(h, "<section id=\"{id}\"><h2>{}</h2><p class=\"muted\">{}</p>", esc(title), esc(intro));
    if id == "health" {
        verdict(h, rows);
    }
    table(h, cols, rows);
    h.push_str("</section>");
}

/// The seed's question for the whole fleet: did IPv6 attempts fail, and where most.
fn verdict(h: &mut String, rows: &[&Map<String, Json>]) {
    let mut failing: Vec<(u64, u64, &str, &str)> = rows
        .iter()
        .filter(|r| uint(r, "family") == 6 && uint(r, "successes") < uint(r, "attempts"))
        .map(|r| {
            (uint(r, "attempts") - uint(r, "successes"), uint(r, "attempts"), text(r, "service"), text(r, "sensor"))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    if failing.is_empty() {
        h.push_str("<div class=\"verdict ok\">Every IPv6 connection attempt on every sensor was established.</div>");
        return;
    }
    failing.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(b.2)).then(a.3.cmp(b.3)));
    let mut sensors: Vec<&str> = failing.iter().map(|f| f.3).collect();
    sensors.sort_unstable();
    sensors.dedup();
    let worst: Vec<String> = failing.iter().take(5).map(|(f, n, svc, s)| format!("{svc} on {s}: {f} of {n}")).collect();
    h.push_str("<div class=\"verdict bad\">");
    h.push_str(&esc(&format!(
        "IPv6 attempts failed for {} service{} on {} sensor{}. Most failures: {}.",
        failing.len(),
        if failing.len() == 1 { "" } else { "s" },
        sensors.len(),
        if sensors.len() == 1 { "" } else { "s" },
        worst.join("; ")
    )));
    h.push_str("</div>");
}

/// Bytes per family and direction: [v4 in, v4 out, v6 in, v6 out, other].
fn slot(r: &Map<String, Json>) -> usize {
    match (uint(r, "family"), text(r, "direction")) {
        (4, "in") => 0,
        (4, "out") => 1,
        (6, "in") => 2,
        (6, "out") => 3,
        _ => 4,
    }
}

fn overview(
    h: &mut String,
    sensors: &[&str],
    timeline: &[&Map<String, Json>],
    health: &[&Map<String, Json>],
    moved: &[&Map<String, Json>],
) {
    h.push_str("<section id=\"overview\"><h2>Overview</h2><div class=\"cards\">");
    for s in sensors {
        fn mine<'a>(rows: &[&'a Map<String, Json>], s: &str) -> Vec<&'a Map<String, Json>> {
            rows.iter().copied().filter(|r| text(r, "sensor") == s).collect()
        }
        let mut by = [0u64; 5];
        for r in mine(timeline, s) {
            by[slot(r)] += uint(r, "bytes");
        }
        let (v4, v6) = (by[0] + by[1], by[2] + by[3]);
        let fam = |f: u64, k: &str| -> u64 {
            mine(health, s).iter().filter(|r| uint(r, "family") == f).map(|r| uint(r, k)).sum()
        };
        let (a6, ok6) = (fam(6, "attempts"), fam(6, "successes"));
        let fallbacks: u64 = ["fallbacks_he_fast", "fallbacks_error_triggered", "fallbacks_timeout_slow"]
            .iter()
            .map(|k| fam(6, k))
            .sum();
        let m = mine(moved, s);
        let back = m.iter().filter(|r| r.get("back_to_v4").and_then(Json::as_bool) == Some(true)).count();
        h.push_str("<div class=\"card\"><span>sensor</span><b>");
        h.push_str(&esc(s));
        h.push_str("</b>");
        h.push_str(&esc(&format!(
            "IPv4 {} · IPv6 {} ({} of IP bytes)",
            bytes(v4),
            bytes(v6),
            super::term::pct(v6, v4 + v6)
        )));
        h.push_str("<br>");
        h.push_str(&esc(&format!(
            "IPv6: {} of {} attempts established; {} fell back to IPv4",
            count(ok6),
            count(a6),
            count(fallbacks)
        )));
        h.push_str("<br>");
        h.push_str(&esc(&format!("{} services moved to IPv6, {} back to IPv4", m.len(), back)));
        if a6 > ok6 {
            let _ = write!(h, "<br><span class=\"sev warning\">{} failed IPv6 attempts</span>", a6 - ok6);
        }
        h.push_str("</div>");
    }
    if sensors.is_empty() {
        h.push_str("<p class=\"muted\">No sensor in the document.</p>");
    }
    h.push_str("</div></section>");
}

/// Per sensor: bytes per hour as stacked bars (IPv4/IPv6, in/out) and the totals.
fn timeline_section(h: &mut String, sensors: &[&str], timeline: &[&Map<String, Json>]) {
    h.push_str("<section id=\"timeline\"><h2>Traffic per hour</h2><p class=\"muted\">IP bytes per hour of flow start, by family and direction (as the sensor saw them).</p>");
    h.push_str("<div class=\"legend\"><span><i style=\"background:var(--v4in)\"></i>IPv4 in</span><span><i style=\"background:var(--v4out)\"></i>IPv4 out</span><span><i style=\"background:var(--v6in)\"></i>IPv6 in</span><span><i style=\"background:var(--v6out)\"></i>IPv6 out</span><span><i style=\"background:var(--oth)\"></i>other</span></div>");
    for s in sensors {
        let mut hours: BTreeMap<&str, [u64; 5]> = BTreeMap::new();
        for r in timeline.iter().filter(|r| text(r, "sensor") == *s) {
            hours.entry(text(r, "hour")).or_default()[slot(r)] += uint(r, "bytes");
        }
        let _ = write!(h, "<h3>{}</h3>", esc(s));
        if hours.is_empty() {
            h.push_str("<p class=\"muted\">No traffic.</p>");
            continue;
        }
        let max = hours.values().map(|v| v.iter().sum::<u64>()).max().unwrap_or(0).max(1);
        let (w, ht, left, bottom) = (960.0f64, 160.0f64, 60.0f64, 18.0f64);
        // A few hours do not stretch into a wall: bars are at most 24 units wide.
        let bar = ((w - left) / hours.len() as f64).clamp(1.0, 24.0);
        let right = left + bar * hours.len() as f64;
        let _ = write!(
            h,
            "<svg viewBox=\"0 0 {w} {}\" width=\"100%\" role=\"img\" aria-label=\"bytes per hour\">",
            ht + bottom
        );
        let _ = write!(h, "<text x=\"0\" y=\"12\">{}</text><text x=\"0\" y=\"{ht}\">0</text>", esc(&bytes(max)));
        let colors = ["var(--v4in)", "var(--v4out)", "var(--v6in)", "var(--v6out)", "var(--oth)"];
        for (i, (hour, v)) in hours.iter().enumerate() {
            let x = left + i as f64 * bar;
            let mut y = ht;
            for (k, b) in v.iter().enumerate() {
                if *b == 0 {
                    continue;
                }
                let bh = *b as f64 / max as f64 * (ht - 16.0);
                y -= bh;
                let _ = write!(
                    h,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{}</title></rect>",
                    (bar - 1.0).max(0.5),
                    colors[k],
                    esc(&format!("{hour}: {}", bytes(*b)))
                );
            }
        }
        let first = hours.keys().next().copied().unwrap_or("");
        // One hour has one label.
        let last = if hours.len() > 1 { hours.keys().next_back().copied().unwrap_or("") } else { "" };
        let _ = write!(
            h,
            "<text x=\"{left}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text></svg>",
            ht + 14.0,
            esc(&iso_time(first, 16)),
            right.max(left + 200.0),
            ht + 14.0,
            if last.is_empty() { String::new() } else { esc(&iso_time(last, 16)) }
        );
        let tot = hours.values().fold([0u64; 5], |mut a, v| {
            for k in 0..5 {
                a[k] += v[k];
            }
            a
        });
        h.push_str(&esc(&format!(
            "IPv4 in {} · out {} · IPv6 in {} · out {} · other {}",
            bytes(tot[0]),
            bytes(tot[1]),
            bytes(tot[2]),
            bytes(tot[3]),
            bytes(tot[4])
        )));
    }
    h.push_str("</section>");
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn strings_from_the_document_are_escaped_and_bad_documents_refused() {
        let doc = r#"{"schema":"v6watch.fleet/1","engine":"duckdb","generated":"x","datasets":["d"],
            "queries":{"health":[{"sensor":"<script>","service":"a\"b","port":443,"family":6,"attempts":2,
            "successes":1,"success_rate":0.5,"connect_p50_s":0.01,"connect_p90_s":null}],
            "moved":[],"timeline":[{"sensor":"<script>","family":6,"direction":"in","hour":"2011-06-08T00:00:00.000000Z","bytes":10,"packets":1,"flows":1}],
            "extra<x-q>":[{"k<x-k>":"v<x-v>"}]}}"#;
        let h = html(doc, "f.json").unwrap();
        assert!(!h.contains("<x-") && h.contains("extra&lt;x-q&gt;") && h.contains("v&lt;x-v&gt;"));
        assert!(h.contains("&lt;script&gt;") && h.contains("a&quot;b") && h.contains("50.0 %"));
        assert_eq!(h.matches("<script>").count(), 1, "only the sorting script");
        let err = html(r#"{"schema":"v6watch.fleet/9","queries":{}}"#, "f.json").unwrap_err().to_string();
        assert!(err.contains("f.json") && err.contains("fleet/9"), "{err}");
        assert!(html("{", "f.json").is_err());
        assert!(html(r#"{"schema":"v6watch.fleet/1","queries":{"health":3}}"#, "f.json").is_err());
    }
}

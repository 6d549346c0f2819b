//! The demo and its report, end to end: the seed's answers appear (Google's switch at 09:00 JST
//! and back, the Safe Browsing POST over IPv6, the peers lists of both honeypots), the HTML is
//! self-contained and escapes hostile strings, the timeline honours --tz and --bucket, and the
//! report renders in a real browser (headless Chromium) with every chart series present.

mod common;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn v6watch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_v6watch")).args(args).output().expect("run v6watch")
}

/// The report's escaped text with the line-break hints (`<wbr>`, unbreakable pieces) taken out.
fn text_of(html: &str) -> String {
    html.replace("<wbr>", "").replace("<span class=\"nw\">", "").replace("</span>", "")
}

fn demo(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let o = v6watch(&["demo", "-o", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir
}

#[test]
fn demo_answers_the_seeds_questions() {
    let dir = demo("report-demo-answers");
    // --wide: each answer on one line, as the checks below read them.
    let o = v6watch(&["demo", "--wide", "-o", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    for sensor in ["honeypot1", "honeypot2"] {
        let want =
            format!("[{sensor}] Google switched to IPv6 at 2011-06-08 09:00 JST, back to IPv4 at 2011-06-09 09:00 JST");
        assert!(text.contains(&want), "missing {want:?} in\n{text}");
        assert!(text.contains(&format!("[{sensor}] 48 requests over IPv6: POST http://safebrowsing.clients.google.com/safebrowsing/downloads?client=navclient-auto-ffox")), "{text}");
    }
    assert!(text.contains("critical [honeypot1] IPv6 to update.example-av.net:443 failed 12/12 times"), "{text}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["schema"], "v6watch.report/1");
    assert_eq!(report["settings"]["tz"], "Asia/Tokyo");
    assert_eq!(report["settings"]["bucket_ns"], 3_600_000_000_000i64);
    let c = &report["comparisons"][0];
    assert_eq!(c["event"]["name"], "World IPv6 Day");
    // honeypot1's IPv6 volume: almost nothing before and after, most of its traffic during.
    let v6in = c["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sensor"] == "honeypot1" && v["family"] == 6 && v["direction"] == "in")
        .unwrap();
    let b: Vec<u64> = v6in["bytes"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert!(b[1] > 50 * b[0] && b[1] > 50 * b[2], "{b:?}");
    let html = text_of(&std::fs::read_to_string(dir.join("report.html")).unwrap());
    assert!(html.contains(
        "POST http://safebrowsing.clients.google.com/safebrowsing/downloads?client=navclient-auto-ffox&amp;appver"
    ));
    assert!(html
        .contains("[honeypot1] Google switched to IPv6 at 2011-06-08 09:00 JST, back to IPv4 at 2011-06-09 09:00 JST"));

    // Spam over IPv6: the unsolicited SMTP connections the demo makes, over IPv6 only during the
    // event, answered in the summary, the JSON and the HTML.
    for sensor in ["honeypot1", "honeypot2"] {
        let line =
            text.lines().find(|l| l.contains(&format!("mail    [{sensor}] mail connections received over IPv6: ")));
        let line = line.unwrap_or_else(|| panic!("no mail line for {sensor} in\n{text}"));
        let mail: Vec<&Value> = report["mail"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["sensor"] == sensor && m["direction"] == "received")
            .collect();
        let of = |fam: u64| mail.iter().find(|m| m["family"] == fam).copied().unwrap();
        let (v6, v4) = (of(6), of(4));
        let (n6, n4) = (v6["connections"].as_u64().unwrap(), v4["connections"].as_u64().unwrap());
        assert!(n6 >= 10 && n4 >= 20, "{line}");
        // Every IPv6 connection came during the event (windows: before, during, after).
        assert_eq!(v6["windows"][1].as_u64(), Some(n6), "{v6}");
        assert_eq!((v6["senders"].as_u64(), v6["messages"].as_u64()), (Some(3), Some(n6)));
        assert!(line.contains(&format!("over IPv6: {n6} (from 3 senders, {n6} messages), over IPv4: {n4}")), "{line}");
        assert!(line.contains("during World IPv6 Day: "), "{line}");
    }
    assert!(html.contains("id=\"mail-table\"") && html.contains("mail connections received over IPv6: "));

    // Phishing over IPv6: the demo's indicator list (a URL, the spam run's domain, a DROP
    // line) is matched by the page fetched over IPv6 during the event and by the spam.
    let hits = report["indicators"].as_array().unwrap();
    for sensor in ["honeypot1", "honeypot2"] {
        let hit = |ind: &str, fam: u64| {
            hits.iter().find(|h| h["sensor"] == sensor && h["indicator"] == ind && h["family"] == fam).cloned()
        };
        let url = hit("secure-paypa1-login.example/secure/", 6).expect("the phishing fetch over IPv6");
        assert_eq!(
            (url["kind"].as_str(), url["line"].as_u64(), url["windows"][1].as_u64()),
            (Some("url"), Some(3), Some(1))
        );
        assert_eq!(url["matched"][0], "HTTP GET http://secure-paypa1-login.example/secure/verify.php?account=hp");
        let before = hit("secure-paypa1-login.example/secure/", 4).expect("the fetch before the event, over IPv4");
        assert_eq!(before["windows"][0].as_u64(), Some(1));
        assert!(hit("2001:db8:666::/48", 6).is_some(), "the DROP line");
        let spam = hit("cheap-meds.example", 6).expect("the spam's sender domain");
        assert!(spam["matched"][0].as_str().unwrap().starts_with("mail from offers"), "{spam}");
        assert!(text.contains(&format!("threat  [{sensor}] known-bad indicators matched over IPv6: ")), "{text}");
    }
    assert!(html.contains("id=\"indicator-table\"") && html.contains("secure-paypa1-login.example/secure/"));
    // The overview gives totals, per family and in and out of the event window.
    // The overview gives totals, per family, over all and in and out of the event window: every
    // flow counted once in the timeline's flow counts.
    let v: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    for s in v["sensors"].as_array().unwrap() {
        let name = s["sensor"].as_str().unwrap();
        let flows: u64 = v["timeline"]["series"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["sensor"] == name)
            .map(|x| x["flows"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).sum::<u64>())
            .sum();
        assert_eq!(flows, s["flows"].as_u64().unwrap(), "{name}: each flow counted once");
    }
    assert!(html.contains("<table class=\"totals\">"), "overview totals");
    assert!(html.contains("<tr><td>all</td><td class=\"n\">20.3 MB</td><td class=\"n\">1609</td><td class=\"n\">5.0 MB</td><td class=\"n\">1813</td><td class=\"n\">19.8%</td></tr>"), "the overview totals of honeypot1");
    assert!(html.contains("<tr><td>during World IPv6 Day</td><td class=\"n\">402.7 kB</td><td class=\"n\">281</td><td class=\"n\">4.9 MB</td><td class=\"n\">472</td><td class=\"n\">92.4%</td></tr>"));
}

/// The seed's peer lists (names and addresses), excluding honeypot1's autonomous activity.
fn seed_list(sensor: &str) -> BTreeSet<(String, String)> {
    let google = "safebrowsing.clients.google.com";
    let mut v: Vec<(&str, String)> = Vec::new();
    if sensor == "honeypot1" {
        v.push(("ftp.jaist.ac.jp", "2001:200:141:feed::feed".into()));
        v.push(("ftp.kddilabs.jp", "2001:200:601:10:206:5bff:fef0:466c".into()));
        for a in ["2001:4860::1:0:890", "2001:4860::2:0:b7", "2001:4860::2:0:c6"] {
            v.push(("www.google.com", a.into()));
        }
        for k in 0x1000..=0x100b {
            v.push((google, format!("2404:6800:4004:805::{k:x}")));
        }
        v.push(("www.youtube.com", "2404:6800:8007::65".into()));
        v.push(("ipv6.2ch.net", "2407:3000:6:175::12".into()));
        v.push(("fedoraproject.org", "2610:28:1000:1401::fed0:2".into()));
        v.push(("fedoraproject.org", "2610:28:3090:3001:dead:beef:cafe:fed4".into()));
        v.push(("www.mozilla.com", "2620:101:8001:5::2:6".into()));
    } else {
        v.push(("ftp.iij.ad.jp", "2001:240:bb8f::f:10".into()));
        for k in 0x1000..=0x1009 {
            v.push((google, format!("2404:6800:4004:805::{k:x}")));
        }
        for a in ["2404:6800:8003::71", "2404:6800:8003::8a", "2404:6800:8003::8b"] {
            v.push(("www.google.com", a.into()));
        }
        v.push(("www.youtube.com", "2404:6800:8007::64".into()));
        v.push(("www.youtube.com", "2404:6800:8007::65".into()));
        v.push(("fedoraproject.org", "2610:28:3090:3001:dead:beef:cafe:fed4".into()));
        v.push(("www.mozilla.com", "2620:101:8001:5::2:6".into()));
    }
    // The demo adds services the seed did not have, so that IPv6 health has real failures to
    // find (the update service whose IPv6 is broken, the black-holed mirror) and the indicator
    // list a match (the phishing page the honeypots fetch).
    v.push(("update.example-av.net", "2001:db8:bad::80".into()));
    v.push(("dl.example-mirror.org", "2001:db8:1280::44".into()));
    v.push(("secure-paypa1-login.example", "2001:db8:666::66".into()));
    v.into_iter().map(|(n, a)| (n.to_string(), a)).collect()
}

#[test]
fn peers_during_the_event_equal_the_seeds_lists() {
    let dir = demo("report-demo-peers");
    let conf = dir.join("v6watch.toml");
    let files = ["honeypot1.pcapng", "honeypot2.pcapng"].map(|f| dir.join(f).display().to_string());
    let mut args = vec![
        "peers",
        "--config",
        conf.to_str().unwrap(),
        "--exclude",
        "autonomous",
        "--during",
        "World IPv6 Day",
        "--family",
        "6",
        "--format",
        "json",
    ];
    args.extend(files.iter().map(String::as_str));
    let o = v6watch(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let peers: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    for sensor in ["honeypot1", "honeypot2"] {
        // Peers the honeypot talked to (it opened the connection); inbound probes are listed
        // apart in the report.
        let got: BTreeSet<(String, String)> = peers
            .iter()
            .filter(|p| p["sensor"] == sensor && p["flows_out"].as_u64().unwrap() > 0)
            .map(|p| {
                (p["names"][0]["name"].as_str().unwrap_or("-").to_string(), p["addr"].as_str().unwrap().to_string())
            })
            .collect();
        let want = seed_list(sensor);
        assert_eq!(
            got,
            want,
            "{sensor}: extra {:?}, missing {:?}",
            got.difference(&want).collect::<Vec<_>>(),
            want.difference(&got).collect::<Vec<_>>()
        );
    }
    // Without the exclusion, honeypot1's autonomous fetches show up, tagged.
    let mut args2: Vec<&str> = args.iter().copied().filter(|a| *a != "--exclude" && *a != "autonomous").collect();
    args2.retain(|_| true);
    let o = v6watch(&args2);
    let all: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let feeds: Vec<&Value> = all.iter().filter(|p| p["names"][0]["name"] == "feeds.hp-ops.example").collect();
    assert_eq!(feeds.len(), 1);
    assert_eq!(feeds[0]["classes"][0], "autonomous");
}

/// Every element and attribute in the document, checked against what the report itself
/// writes: anything else was injected. Escaped text never contains a raw `<`, so splitting on
/// `<` finds exactly the tags.
fn markup_problems(html: &str) -> Vec<String> {
    const TAGS: &[&str] = &[
        "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "nav", "a",
        "main", "section", "div", "span", "b", "br", "i", "table", "thead", "tbody", "tr", "th", "td", "svg", "g",
        "rect", "line", "text", "script", "defs", "pattern", "wbr", "time", "details", "summary", "ul", "li", "label",
        "input",
    ];
    const ATTRS: &[&str] = &[
        "lang",
        "charset",
        "name",
        "content",
        "http-equiv",
        "href",
        "id",
        "class",
        "style",
        "data-v",
        "data-severity",
        "data-sensor",
        "data-series",
        "viewBox",
        "width",
        "height",
        "role",
        "aria-label",
        "x",
        "y",
        "x1",
        "x2",
        "y1",
        "y2",
        "fill",
        "stroke",
        "opacity",
        "text-anchor",
        "datetime",
        "patternUnits",
        "patternTransform",
        "type",
    ];
    let mut problems = Vec::new();
    let mut scripts = 0;
    // Skip the inline style and script bodies (ours), then walk the tags.
    for (k, chunk) in html.split('<').enumerate().skip(1) {
        let head = chunk.split('>').next().unwrap_or("");
        let head = head.trim_start_matches('/');
        let name = head.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
        if name.is_empty() || !TAGS.contains(&name) {
            problems.push(format!("element <{head}> (#{k})"));
            continue;
        }
        if name == "script" && !chunk.starts_with('/') {
            scripts += 1;
        }
        // Attributes: name="value" pairs; values never hold a raw quote.
        let mut rest = &head[name.len()..];
        while let Some(eq) = rest.find('=') {
            let attr = rest[..eq].trim().trim_start_matches('/');
            if !ATTRS.contains(&attr) {
                problems.push(format!("attribute {attr:?} in <{name}>"));
            }
            if attr == "href" && !rest[eq + 1..].starts_with("\"#") {
                problems.push(format!("link out of the page in <{name}>"));
            }
            let after = &rest[eq + 1..];
            let Some(stripped) = after.strip_prefix('"') else {
                problems.push(format!("unquoted attribute {attr:?} in <{name}>"));
                break;
            };
            match stripped.find('"') {
                Some(end) => rest = &stripped[end + 1..],
                None => {
                    problems.push(format!("unterminated attribute {attr:?}"));
                    break;
                }
            }
        }
    }
    if scripts != 1 {
        problems.push(format!("{scripts} script elements (ours is the only one)"));
    }
    problems
}

#[test]
fn the_markup_check_catches_injections() {
    let ours = "<html><body><p>x</p><script>1</script></body></html>";
    assert!(markup_problems(ours).is_empty());
    assert!(!markup_problems("<p><img src=x onerror=alert(1)></p><script></script>").is_empty());
    assert!(!markup_problems("<p class=\"a\" onclick=\"b\">x</p><script></script>").is_empty());
    assert!(!markup_problems("<p>x</p><script></script><script>evil()</script>").is_empty());
    assert!(!markup_problems("<a href=\"https://evil.example/\">x</a><script></script>").is_empty());
}

#[test]
fn report_is_self_contained() {
    let dir = demo("report-demo-self");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(markup_problems(&html), Vec::<String>::new());
    assert!(
        !html.contains("<script src")
            && !html.contains("<link")
            && html.matches("url(").count() == html.matches("url(#").count(),
        "no external resource"
    );
    assert!(html.contains("default-src 'none'"), "a CSP forbids every fetch");
    assert!(html.len() < 2_000_000, "small enough to mail: {} bytes", html.len());
}

#[test]
fn hostile_strings_cannot_inject_markup() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-hostile");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cap = dir.join("evil.pcap");
    common::hostile_capture(&cap);
    let out = dir.join("evil.html");
    let o = v6watch(&["report", cap.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&out).unwrap();
    assert_eq!(markup_problems(&html), Vec::<String>::new(), "injected markup");
    for raw in ["<script>alert", "<img", "\x1b", "\x07"] {
        assert!(!html.contains(raw), "raw {raw:?} reached the HTML");
    }
    // The strings are shown, escaped: the host (peer name, HTTP table) and the URI.
    let html = text_of(&html);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;&#96;"),
        "escaped host missing"
    );
    assert!(html.contains("&lt;img/src=x/onerror=alert(4)&gt;"), "escaped URI missing");
    assert!(html.contains("\\x1b]0;pwned\\x07"), "control characters shown visibly");
}

#[test]
fn timeline_honours_zone_and_bucket() {
    let dir = demo("report-demo-timeline");
    let f = dir.join("honeypot2.pcapng");
    // The zone database is built in: no /usr/share/zoneinfo needed.
    let o = Command::new(env!("CARGO_BIN_EXE_v6watch"))
        .args(["timeline", "--tz", "Asia/Tokyo", "--bucket", "1d", "--format", "csv", f.to_str().unwrap()])
        .env("TZDIR", "/nonexistent")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let starts: BTreeSet<&str> = text.lines().skip(1).map(|l| l.split(',').nth(1).unwrap()).collect();
    let want: BTreeSet<&str> = [
        "2011-06-06T00:00:00+09:00",
        "2011-06-07T00:00:00+09:00",
        "2011-06-08T00:00:00+09:00",
        "2011-06-09T00:00:00+09:00",
        "2011-06-10T00:00:00+09:00",
        "2011-06-11T00:00:00+09:00",
    ]
    .into();
    assert_eq!(starts, want, "day buckets start at midnight in Tokyo");
    let o = v6watch(&["timeline", "--tz", "Mars/Olympus", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an IANA time zone name"));
    // Table: the event day is mostly IPv6.
    let o = v6watch(&["timeline", "--tz", "UTC", "--bucket", "1d", f.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    let day = text.lines().find(|l| l.contains("2011-06-08 00:00 UTC")).expect(&text);
    assert!(
        day.split_whitespace().any(|w| w.ends_with('%') && w.trim_end_matches('%').parse::<u32>().unwrap() > 50),
        "{day}"
    );
}

fn chromium() -> Option<&'static str> {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return Some(c);
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but Chromium is not installed (scripts/test.sh installs it)");
    }
    eprintln!("skipping the browser test: no chromium");
    None
}

fn browser(bin: &str, profile: &Path, extra: &[&str], page: &Path) -> Output {
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium")
}

#[test]
fn report_renders_in_a_real_browser() {
    let Some(bin) = chromium() else { return };
    let dir = demo("report-demo-browser");
    let page = dir.join("report.html");
    let profile = dir.join("profile");
    let o = browser(bin, &profile, &["--dump-dom", "--virtual-time-budget=3000"], &page);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = String::from_utf8_lossy(&o.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let dom = String::from_utf8_lossy(&o.stdout);
    // One chart per sensor, each with its four series drawn (bars present).
    for sensor in ["honeypot1", "honeypot2"] {
        let start = dom.find(&format!("<svg class=\"chart chart-base\" data-sensor=\"{sensor}\"")).expect("chart");
        let chart = &dom[start..start + dom[start..].find("</svg>").unwrap()];
        for series in ["IPv4 in", "IPv4 out", "IPv6 in", "IPv6 out"] {
            let g = chart.find(&format!("data-series=\"{series}\"")).unwrap_or_else(|| panic!("{sensor}: no {series}"));
            let body = &chart[g..g + chart[g..].find("</g>").unwrap()];
            assert!(body.matches("<rect").count() > 5, "{sensor}: series {series} has no bars");
        }
        assert!(chart.contains("class=\"event\""), "{sensor}: event window shaded");
    }
    // The table-sorting script ran without error and the findings table is there.
    assert!(dom.contains("id=\"findings\""));
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/report.png");
    let o = browser(
        bin,
        &profile,
        &["--window-size=1300,2600", "--hide-scrollbars", &format!("--screenshot={}", shot.display())],
        &page,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 50_000).unwrap_or(false), "screenshot written");
}

/// Measures a report in the page, at 1400 px: the page, no section and no cell wider than its
/// box (`scrollWidth <= clientWidth`); times, numbers and addresses on one line; nothing that
/// scrolls inside the page. Returns what is wrong, one line each.
fn layout_problems(bin: &str, report: &Path) -> Vec<String> {
    const CHECK: &str = r#"(function(){
 var bad=[];
 var W=document.documentElement.clientWidth;
 if(document.documentElement.scrollWidth>W+1) bad.push('page '+document.documentElement.scrollWidth+'>'+W);
 document.querySelectorAll('section,.card').forEach(function(s){ if(s.scrollWidth>s.clientWidth+1) bad.push((s.id||s.className)+' '+s.scrollWidth+'>'+s.clientWidth);});
 document.querySelectorAll('td,th').forEach(function(c){ if(!c.getClientRects().length) return; if(c.scrollWidth>c.clientWidth+1) bad.push('cell '+c.textContent.slice(0,60)+' '+c.scrollWidth+'>'+c.clientWidth);});
 document.querySelectorAll('time, td.n, .addr').forEach(function(e){ if(!e.getClientRects().length) return; var r=document.createRange(); r.selectNodeContents(e); var tops={}; Array.prototype.forEach.call(r.getClientRects(),function(x){if(x.width>0)tops[Math.round(x.top)]=1;}); if(Object.keys(tops).length>1) bad.push('wrapped '+e.tagName+' '+e.textContent.slice(0,60));});
 document.querySelectorAll('body *').forEach(function(e){var o=getComputedStyle(e).overflowY; if((o=='auto'||o=='scroll')&&e.scrollHeight>e.clientHeight+1) bad.push('scrolls inside the page: '+e.tagName+'.'+e.className);});
 var pre=document.createElement('pre'); pre.id='layout-check'; pre.textContent=JSON.stringify(bad); document.body.appendChild(pre);
})();"#;
    let dir = report.parent().unwrap().join("layout");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("page.html");
    let html = std::fs::read_to_string(report).unwrap();
    std::fs::write(&page, html.replace("</body>", &format!("<script>{CHECK}</script></body>"))).unwrap();
    let o = browser(
        bin,
        &dir.join("profile"),
        &["--window-size=1400,1000", "--dump-dom", "--virtual-time-budget=3000"],
        &page,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dom = String::from_utf8_lossy(&o.stdout);
    let start = dom.find("<pre id=\"layout-check\">").expect("the check ran") + "<pre id=\"layout-check\">".len();
    let json = dom[start..start + dom[start..].find("</pre>").unwrap()]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[test]
fn report_fits_the_page_at_1400_px() {
    let Some(bin) = chromium() else { return };
    // The demo, the hostile capture, and every capture of the corpus as sensors of one report.
    let dir = demo("report-demo-layout");
    let mut reports = vec![dir.join("report.html")];
    let cap = dir.join("evil.pcap");
    common::hostile_capture(&cap);
    let evil = dir.join("evil.html");
    assert!(v6watch(&["report", cap.to_str().unwrap(), "-o", evil.to_str().unwrap()]).status.success());
    reports.push(evil);
    if let Some(corpus) = common::corpus() {
        let mut caps: Vec<String> =
            common::inventory(&corpus).into_iter().map(|(f, _)| corpus.join(f).display().to_string()).collect();
        caps.sort();
        let out = dir.join("corpus.html");
        let mut args = vec!["report", "--keep-going", "-o", out.to_str().unwrap()];
        args.extend(caps.iter().map(String::as_str));
        let o = v6watch(&args);
        assert!(out.exists(), "{}", String::from_utf8_lossy(&o.stderr));
        reports.push(out);
    }
    for r in &reports {
        assert_eq!(layout_problems(bin, r), Vec::<String>::new(), "{}", r.display());
    }
    // Sensors of the same span share the report's bucket; a sensor whose capture covers seconds
    // in a report spanning years gets its own axis and bucket, named in its heading.
    let demo_html = std::fs::read_to_string(&reports[0]).unwrap();
    assert!(!demo_html.contains(" bucket)</h3>"));
    if reports.len() > 2 {
        let corpus_html = std::fs::read_to_string(&reports[2]).unwrap();
        assert!(corpus_html.contains(" (per 1m00s bucket)</h3>"), "own axes");
    }
    // The check sees what it looks for: a cell made too narrow for its address is reported.
    let html = std::fs::read_to_string(&reports[0])
        .unwrap()
        .replace("</style>", "td.addr{max-width:40px;overflow:hidden}</style>");
    let narrow = dir.join("narrow.html");
    std::fs::write(&narrow, html).unwrap();
    assert!(
        layout_problems(bin, &narrow).iter().any(|p| p.starts_with("cell ")),
        "the check catches an overflowing cell"
    );
}

/// Long tables show their first rows and say so; repeated fallbacks and Path-MTU stalls are one
/// row per service and kind; the sensor's own traffic is a series of its own, off by default.
#[test]
fn report_tables_group_and_limit_rows() {
    let Some(bin) = chromium() else { return };
    let dir = demo("report-demo-rows");
    let page = dir.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let table = |id: &str| {
        let s = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no table {id}"));
        html[s..s + html[s..].find("</table>").unwrap()].to_string()
    };
    // 24 fallbacks of two kinds on one service, 12 Path-MTU stalls of one kind: 2 rows and 1.
    let fb = table("fallbacks");
    assert_eq!(fb.matches("<tr>").count() - 1, 2, "{fb}");
    assert!(fb.contains("honeypot1 ×8, honeypot2 ×8") && fb.contains("16 fallbacks"), "{fb}");
    let pm = table("pmtu");
    assert_eq!(pm.matches("<tr>").count() - 1, 1, "{pm}");
    assert!(pm.contains("12 flows"), "{pm}");
    // honeypot1's bulk fetches (class autonomous) are a series of their own, in a second chart
    // shown by the checkbox; the default chart is scaled without them.
    let own = html.find("class=\"chart chart-own\" data-sensor=\"honeypot1\"").expect("own-traffic chart");
    assert!(html[own..].contains("data-series=\"own traffic (autonomous)\""));
    assert!(html.contains("Include the sensor&#39;s own traffic (class autonomous: "));
    let base = html.find("class=\"chart chart-base\" data-sensor=\"honeypot1\"").unwrap();
    let base = &html[base..base + html[base..].find("</svg>").unwrap()];
    assert!(!base.contains("own traffic"), "the default chart leaves the sensor's own traffic out");
    // Round y ticks.
    for tick in [">50 kB<", ">100 kB<"] {
        assert!(base.contains(tick), "tick {tick}");
    }
    // In the browser: the findings table shows 25 of its rows and says how many there are.
    let o = browser(bin, &dir.join("profile"), &["--dump-dom", "--virtual-time-budget=3000"], &page);
    let dom = String::from_utf8_lossy(&o.stdout);
    let n = html.matches("<tr data-severity=").count();
    assert!(n > 25, "{n} findings");
    assert!(dom.contains(&format!("25 of {n} shown.")), "the row limit says what it hides");
    assert!(dom.contains(&format!("Show all {n}")));
}

#[test]
fn demo_size_scales_the_same_scenario() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-demo-size");
    let _ = std::fs::remove_dir_all(&dir);
    let o = v6watch(&["demo", "-o", dir.to_str().unwrap(), "--size", "200M"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let total: u64 =
        ["honeypot1.pcapng", "honeypot2.pcapng"].iter().map(|f| std::fs::metadata(dir.join(f)).unwrap().len()).sum();
    assert!((150_000_000..260_000_000).contains(&total), "about 200 MB: {total}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("critical [honeypot1] IPv6 to update.example-av.net:443 failed 12/12 times"), "{text}");
    assert!(text.contains("[honeypot1] Google switched to IPv6 at 2011-06-08 09:00 JST"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn asn_and_country_databases_name_organisations() {
    use synth::mmdb::{build, Value};
    let dir = demo("report-demo-mmdb");
    let asn = dir.join("asn.mmdb");
    let geo = dir.join("geo.mmdb");
    let as_ = |n: u32, org: &str| {
        Value::Map(vec![
            ("autonomous_system_number".into(), Value::U32(n)),
            ("autonomous_system_organization".into(), Value::Str(org.into())),
        ])
    };
    std::fs::write(
        &asn,
        build(
            "GeoLite2-ASN",
            &[
                ("2404:6800::".parse().unwrap(), 32, as_(15169, "Google LLC")),
                ("2001:4860::".parse().unwrap(), 32, as_(15169, "Google LLC")),
                ("2001:200::".parse().unwrap(), 32, as_(2500, "WIDE Project")),
            ],
        ),
    )
    .unwrap();
    let jp = Value::Map(vec![("country".into(), Value::Map(vec![("iso_code".into(), Value::Str("JP".into()))]))]);
    std::fs::write(&geo, build("GeoLite2-Country", &[("2001:200::".parse().unwrap(), 32, jp)])).unwrap();
    let files = ["honeypot1.pcapng"].map(|f| dir.join(f).display().to_string());
    let o = v6watch(&[
        "peers",
        "--format",
        "json",
        "--asn-db",
        asn.to_str().unwrap(),
        "--geo-db",
        geo.to_str().unwrap(),
        &files[0],
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let peers: Vec<Value2> = serde_json::from_slice(&o.stdout).unwrap();
    let find = |a: &str| peers.iter().find(|p| p["addr"] == a).unwrap_or_else(|| panic!("{a}"));
    let g = find("2404:6800:4004:805::1000");
    assert_eq!((g["asn"].as_u64(), g["org"].as_str()), (Some(15169), Some("Google LLC")));
    let j = find("2001:200:141:feed::feed");
    assert_eq!((j["asn"].as_u64(), j["country"].as_str()), (Some(2500), Some("JP")));
    let m = find("2620:101:8001:5::2:6");
    assert_eq!((m["asn"].as_u64(), m["org"].as_str()), (None, Some("Mozilla")), "name-suffix fallback");
    let bad = dir.join("bad.mmdb");
    std::fs::write(&bad, b"not a database").unwrap();
    let o = v6watch(&["peers", "--asn-db", bad.to_str().unwrap(), &files[0]]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a MaxMind database"));
}

type Value2 = serde_json::Value;

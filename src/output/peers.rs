//! Printers for `v6watch peers`: per sensor, one row per remote address (or per group), with
//! names and their provenance, organisation, volumes and first/last sight in the display zone.

use super::term::{bytes, clean, count, cut, fit, local, pad, rpad};
use crate::cli::{PeerGrouping, SummaryFormat};
use engine::analysis::{Report, Settings};
use engine::analyze::peers::{self, Peer};
use std::io::{self, Write};

/// Writes peers (or groups) of the report.
pub fn write(
    w: &mut dyn Write,
    r: &Report,
    format: SummaryFormat,
    group: Option<PeerGrouping>,
    window: Option<usize>,
    family: Option<u8>,
    s: &Settings,
) -> io::Result<()> {
    let keep = |p: &&Peer| {
        family.is_none_or(|f| p.addr.version == f) && window.is_none_or(|i| p.windows & (1 << (3 * i + 1)) != 0)
    };
    let list: Vec<Peer> = r.peers.iter().filter(keep).cloned().collect();
    let groups = group.map(|g| match g {
        PeerGrouping::P64 => peers::group(&list, |p| Some(peers::prefix(&p.addr, 64))),
        PeerGrouping::P48 => peers::group(&list, |p| (p.addr.version == 6).then(|| peers::prefix(&p.addr, 48))),
        PeerGrouping::Domain => peers::group(&list, |p| p.name().map(peers::registrable_domain)),
    });
    if format == SummaryFormat::Json {
        match &groups {
            Some(g) => serde_json::to_writer_pretty(&mut *w, g)?,
            None => serde_json::to_writer_pretty(&mut *w, &list)?,
        }
        return writeln!(w);
    }
    if let Some(groups) = groups {
        writeln!(
            w,
            "{}",
            fit(
                &format!(
                    "  {} {} {} {} {} ",
                    pad("SENSOR", 10),
                    pad("GROUP", 40),
                    rpad("ADDRS", 6),
                    rpad("FLOWS", 6),
                    rpad("BYTES", 9)
                ),
                "NAMES"
            )
        )?;
        for g in groups {
            let head = format!(
                "  {} {} {} {} {} ",
                cut(&clean(&g.sensor), 10),
                pad(&clean(&g.key), 40),
                rpad(&count(g.addresses), 6),
                rpad(&count(g.flows), 6),
                rpad(&bytes(g.bytes), 9),
            );
            writeln!(w, "{}", fit(&head, &clean(&g.names.join(", "))))?;
        }
        return Ok(());
    }
    // Whole (--wide): the first and last times in columns; else after the name, so that the
    // counts fit 100 columns and the name and times follow below when they do not.
    let wide = super::term::width().is_none();
    let head = format!(
        "  {} {} {} {} {} {} ",
        pad("SENSOR", 10),
        pad("ADDRESS", 39),
        rpad("OUT", 5),
        rpad("IN", 5),
        rpad("SENT", 9),
        rpad("RECEIVED", 9),
    );
    if wide {
        writeln!(w, "{head}{} {} NAME (SOURCE) / ORG", pad("FIRST", 21), pad("LAST", 21))?;
    } else {
        writeln!(w, "{}", fit(&head, "FIRST – LAST  NAME (SOURCE) / ORG"))?;
    }
    for p in &list {
        let mut name = match p.names.first() {
            Some(n) => format!("{} ({}{})", n.name, n.source, if p.ambiguous { ", ambiguous" } else { "" }),
            None => "-".into(),
        };
        if let Some(o) = &p.org {
            name.push_str(&format!(" / {o}"));
        }
        if let Some(asn) = p.asn {
            name.push_str(&format!(" AS{asn}"));
        }
        if let Some(c) = &p.country {
            name.push_str(&format!(" ({c})"));
        }
        name.push_str(&format!(" {{{}}}", p.addr_class));
        if !p.classes.is_empty() {
            name.push_str(&format!(" [{}]", p.classes.join(",")));
        }
        let head = format!(
            "  {} {} {} {} {} {} ",
            cut(&clean(&p.sensor), 10),
            pad(&p.addr.to_string(), 39),
            rpad(&count(p.flows_out), 5),
            rpad(&count(p.flows_in), 5),
            rpad(&bytes(p.bytes_out), 9),
            rpad(&bytes(p.bytes_in), 9),
        );
        let (first, last) = (local(p.first_ts, &s.tz), local(p.last_ts, &s.tz));
        if wide {
            writeln!(w, "{head}{} {} {}", pad(&first, 21), pad(&last, 21), clean(&name))?;
        } else {
            writeln!(w, "{}", fit(&head, &format!("{first} – {last}  {}", clean(&name))))?;
        }
    }
    for f in &r.peers_folded {
        writeln!(
            w,
            "  ({}: {} more peers with one flow each folded beyond the analysis bound: {} flows, {})",
            clean(&f.sensor),
            count(f.peers),
            count(f.flows),
            bytes(f.bytes)
        )?;
    }
    Ok(())
}

//! Printer for `v6watch addr`: one block per address (table) or a JSON array.

use super::term::clean;
use crate::cli::SummaryFormat;
use engine::analyze::addr::AddrInfo;
use serde::Serialize;
use std::io::{self, Write};
use std::net::IpAddr;

#[derive(Serialize)]
struct Row<'a> {
    address: String,
    #[serde(flatten)]
    info: &'a AddrInfo,
}

/// Writes the descriptions.
pub fn write(w: &mut dyn Write, list: &[(IpAddr, AddrInfo)], format: SummaryFormat) -> io::Result<()> {
    if format == SummaryFormat::Json {
        let rows: Vec<Row<'_>> = list.iter().map(|(a, info)| Row { address: a.to_string(), info }).collect();
        serde_json::to_writer_pretty(&mut *w, &rows)?;
        return writeln!(w);
    }
    let w = &mut super::term::Wrapped::new(w);
    for (a, i) in list {
        writeln!(w, "{a}")?;
        writeln!(w, "  type      {}, {} scope", i.kind, i.scope)?;
        writeln!(w, "  block     {}", i.block)?;
        if let Some(r) = &i.registry {
            writeln!(
                w,
                "  registry  {} {} (RFC {}): source {}, destination {}, forwardable {}, globally reachable {}, reserved {}",
                r.block, r.name, r.rfc, r.source, r.destination, r.forwardable, r.global, r.reserved
            )?;
        }
        writeln!(w, "  class     {}{}", i.class, if i.wordy { " (wordy)" } else { "" })?;
        for d in &i.details {
            writeln!(w, "  detail    {}", clean(d))?;
        }
    }
    Ok(())
}

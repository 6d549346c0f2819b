//! Printers for `v6watch timeline`: a table per sensor (IPv4 and IPv6, in and out, per bucket,
//! in the display zone), CSV (one row per bucket and series) and JSON.

use super::term::{bytes, clean, local, local_fmt, pad, rpad};
use crate::cli::TimelineFormat;
use engine::analysis::Settings;
use engine::analyze::timeline::Timeline;
use std::io::{self, Write};

/// Writes the timeline in `format`.
pub fn write(w: &mut dyn Write, tl: &Timeline, format: TimelineFormat, s: &Settings) -> io::Result<()> {
    match format {
        TimelineFormat::Json => {
            serde_json::to_writer_pretty(&mut *w, tl)?;
            writeln!(w)
        }
        TimelineFormat::Csv => {
            writeln!(w, "bucket_start,bucket_start_local,sensor,family,direction,role,class,bytes,packets")?;
            for se in &tl.series {
                for i in 0..tl.buckets {
                    if se.packets[i] == 0 && se.bytes[i] == 0 {
                        continue;
                    }
                    let t = tl.bucket_start(i);
                    writeln!(
                        w,
                        "{},{},{},{},{},{},{},{},{}",
                        super::term::utc(t),
                        local_fmt(t, &s.tz, "%Y-%m-%dT%H:%M:%S%:z"),
                        csv(&se.key.sensor),
                        se.key.family,
                        se.key.direction,
                        se.key.role,
                        csv(&se.key.class),
                        se.bytes[i],
                        se.packets[i]
                    )?;
                }
            }
            Ok(())
        }
        TimelineFormat::Table => table(w, tl, s),
    }
}

fn csv(s: &str) -> String {
    super::term::csv_cell(&clean(s))
}

fn table(w: &mut dyn Write, tl: &Timeline, s: &Settings) -> io::Result<()> {
    let mut sensors: Vec<&str> = tl.series.iter().map(|x| x.key.sensor.as_str()).collect();
    sensors.dedup();
    let width = super::term::duration(tl.bucket_ns);
    for sensor in sensors {
        writeln!(w, "{}  (buckets of {width}, times in {})", clean(sensor), s.tz_name)?;
        writeln!(
            w,
            "  {} {} {} {} {} {}  OTHER (local, transit)",
            pad("BUCKET", 20),
            rpad("IPv4 in", 10),
            rpad("IPv4 out", 10),
            rpad("IPv6 in", 10),
            rpad("IPv6 out", 10),
            rpad("IPv6", 5),
        )?;
        for i in 0..tl.buckets {
            let mut cells = [0u64; 5];
            for se in tl.series.iter().filter(|x| x.key.sensor == sensor) {
                let k = match (se.key.family, se.key.direction) {
                    (4, "in") => 0,
                    (4, "out") => 1,
                    (6, "in") => 2,
                    (6, "out") => 3,
                    _ => 4,
                };
                cells[k] += se.bytes[i];
            }
            let total: u64 = cells.iter().sum();
            if total == 0 {
                continue;
            }
            let v6 = cells[2] + cells[3];
            let share =
                (cells[0] + v6 > 0).then(|| format!("{:.0}%", 100.0 * v6 as f64 / (cells[0] + cells[1] + v6) as f64));
            writeln!(
                w,
                "  {} {} {} {} {} {}  {}",
                pad(&local(tl.bucket_start(i), &s.tz), 20),
                rpad(&bytes(cells[0]), 10),
                rpad(&bytes(cells[1]), 10),
                rpad(&bytes(cells[2]), 10),
                rpad(&bytes(cells[3]), 10),
                rpad(share.as_deref().unwrap_or("-"), 5),
                bytes(cells[4])
            )?;
        }
        writeln!(w)?;
    }
    Ok(())
}

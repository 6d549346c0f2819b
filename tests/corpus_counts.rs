//! Differential test: per file, frame counts and the outer/inner IPv4/IPv6 split must equal
//! tshark's (`../shared/corpus/reference/*.json`).

mod common;

use engine::capture::Reader;
use engine::decode::Decoder;

#[derive(Debug, Default, PartialEq)]
struct Counts {
    frames: u64,
    ipv4_outer: u64,
    ipv6_outer: u64,
    ipv4_inner: u64,
    ipv6_inner: u64,
    any_v4: u64,
    any_v6: u64,
}

fn count(path: &std::path::Path) -> (Counts, Option<String>) {
    let mut c = Counts::default();
    let mut r = match Reader::open(path, false) {
        Ok(r) => r,
        Err(e) => return (c, Some(e.to_string())),
    };
    let mut dec = Decoder::default();
    loop {
        match r.next_frame() {
            Ok(Some(f)) => {
                c.frames += 1;
                let d = dec.decode(f.ts, f.linktype, f.data);
                match d.outer_version {
                    4 => c.ipv4_outer += 1,
                    6 => c.ipv6_outer += 1,
                    _ => {}
                }
                c.ipv4_inner += u64::from(d.inner_v4);
                c.ipv6_inner += u64::from(d.inner_v6);
                c.any_v4 += u64::from(d.any_v4);
                c.any_v6 += u64::from(d.any_v6);
            }
            Ok(None) => return (c, None),
            Err(e) => return (c, Some(e.to_string())),
        }
    }
}

/// Frames we must read, where tshark's number differs on purpose:
/// - tshark shows pcapng custom blocks (0xBAD, 0x40000BAD) as frames; they carry no packet, so we
///   count packets, as capinfos does (`packets` column).
/// - `ndpi/fuzz-2021-10-13.pcap` has snaplen 0 and a first record claiming 524,501 bytes in a
///   239-byte file. tshark delivers it as one cut-short frame; we refuse the absurd length
///   (limit: 256 KiB when the snaplen is unusable) and report the damage at byte 24. Both exit
///   with an error.
fn expected_frames(file: &str, tshark: u64, capinfos_packets: &str) -> u64 {
    match file {
        "ndpi/fuzz-2021-10-13.pcap" => 0,
        _ => capinfos_packets.parse().unwrap_or(tshark),
    }
}

#[test]
fn packet_counts_match_tshark() {
    let Some(dir) = common::corpus() else { return };
    let mut failures = vec![];
    for (file, inv) in common::inventory(&dir) {
        let (c, err) = count(&dir.join(&file));
        let r = common::reference_json(&dir, &file);
        let n = |k: &str| r[k].as_u64().unwrap();
        let want = Counts {
            frames: expected_frames(&file, n("frames"), &inv["packets"]),
            ipv4_outer: n("ipv4_outer"),
            ipv6_outer: n("ipv6_outer"),
            ipv4_inner: n("ipv4_inner"),
            ipv6_inner: n("ipv6_inner"),
            any_v4: inv["ipv4_packets"].parse().unwrap_or(0),
            any_v6: inv["ipv6_packets"].parse().unwrap_or(0),
        };
        if c != want {
            failures.push(format!("{file}: got {c:?}\n   want {want:?} (err {err:?})"));
        }
        if n("tshark_exit") != 0 && err.is_none() {
            failures.push(format!("{file}: tshark reports damage ({}) but we read it cleanly", r["tshark_error"]));
        }
        if n("tshark_exit") == 0 && err.is_some() {
            failures.push(format!("{file}: we report {err:?} but tshark read it cleanly"));
        }
    }
    assert!(failures.is_empty(), "{} files differ:\n{}", failures.len(), failures.join("\n"));
}

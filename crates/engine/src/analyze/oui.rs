//! NIC vendors from the IEEE registries: MA-L (24-bit), MA-M (28-bit) and MA-S (36-bit)
//! assignments, longest prefix first (DOMAIN.md §1.5).
//!
//! A dated snapshot ships inside the binary (`data/oui.tsv.gz`, built by
//! `scripts/oui-snapshot.py` from Debian's ieee-data 20220827: 41,946 assignments); a newer
//! registry can be given as the IEEE's own CSV files (`--oui-db FILE`, repeatable). The table is
//! decompressed on first use only (see `addr::Intel`).

use hashbrown::HashMap;
use std::io::Read;

static BUILTIN: &[u8] = include_bytes!("../../data/oui.tsv.gz");

/// The registry: prefix (as an integer of `bits` bits) → organisation.
#[derive(Debug, Default)]
pub struct OuiDb {
    by_bits: [HashMap<u64, String>; 3],
    /// Date of the snapshot, when known.
    pub date: Option<String>,
}

const BITS: [u32; 3] = [36, 28, 24];

fn slot(hex_len: usize) -> Option<usize> {
    match hex_len {
        9 => Some(0),
        7 => Some(1),
        6 => Some(2),
        _ => None,
    }
}

impl OuiDb {
    fn insert(&mut self, prefix: &str, org: &str) {
        let p = prefix.trim();
        if let (Some(i), Ok(v)) = (slot(p.len()), u64::from_str_radix(p, 16)) {
            self.by_bits[i].insert(v, org.trim().to_string());
        }
    }

    /// The snapshot shipped in the binary.
    pub fn builtin() -> OuiDb {
        let mut text = String::new();
        let ok = flate2::read::GzDecoder::new(BUILTIN).read_to_string(&mut text).is_ok();
        let mut db = OuiDb::default();
        if !ok {
            return db;
        }
        for line in text.lines() {
            let Some((k, v)) = line.split_once('\t') else { continue };
            if k == "#date" {
                db.date = v.parse::<i64>().ok().map(utc_day);
                continue;
            }
            db.insert(k, v);
        }
        db
    }

    /// Adds the assignments of an IEEE CSV file (`Registry,Assignment,Organization Name,...`,
    /// as published for MA-L, MA-M and MA-S); later files win over earlier entries.
    pub fn add_csv(&mut self, text: &str) -> usize {
        let mut n = 0;
        for line in text.lines().skip(1) {
            let f = csv_fields(line);
            if f.len() >= 3 {
                let before = self.len();
                self.insert(&f[1], &f[2]);
                n += usize::from(self.len() > before || !f[1].is_empty());
            }
        }
        n
    }

    /// Assignments held.
    pub fn len(&self) -> usize {
        self.by_bits.iter().map(|m| m.len()).sum()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The organisation a MAC address was assigned to, longest prefix first.
    pub fn lookup(&self, mac: [u8; 6]) -> Option<&str> {
        let v = mac.iter().fold(0u64, |a, &b| a << 8 | u64::from(b));
        BITS.iter().enumerate().find_map(|(i, bits)| self.by_bits[i].get(&(v >> (48 - bits))).map(String::as_str))
    }
}

/// yyyy-mm-dd of a Unix time, without a time-zone library (UTC). Also the day of the
/// datasets' `date=` partitions.
pub fn utc_day(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// One CSV line's fields (RFC 4180 quoting).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// A registry made of these IEEE CSV files (instead of the built-in snapshot).
pub fn from_files(paths: &[std::path::PathBuf]) -> std::io::Result<OuiDb> {
    let mut db = OuiDb::default();
    for p in paths {
        db.add_csv(&std::fs::read_to_string(p)?);
    }
    Ok(db)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn builtin_snapshot_answers_domain_vectors() {
        let db = OuiDb::builtin();
        assert!(db.len() > 40_000, "{}", db.len());
        assert_eq!(db.date.as_deref(), Some("2022-08-27"));
        assert_eq!(db.lookup([0x00, 0x06, 0x5b, 0xf0, 0x46, 0x6c]), Some("Dell Inc."));
        assert_eq!(db.lookup([0x00, 0x50, 0x56, 1, 2, 3]), Some("VMware, Inc."));
        assert_eq!(db.lookup([0x08, 0x00, 0x27, 1, 2, 3]), Some("PCS Systemtechnik GmbH"));
        assert_eq!(db.lookup([0x00, 0x16, 0x3e, 1, 2, 3]), Some("Xensource, Inc."));
        assert_eq!(db.lookup([0x52, 0x54, 0x00, 1, 2, 3]), None, "QEMU's locally administered prefix");
    }

    #[test]
    fn csv_with_quotes_and_longest_prefix() {
        let mut db = OuiDb::default();
        let text = "Registry,Assignment,Organization Name,Organization Address\n\
                    MA-L,001122,\"Big, Inc.\",Somewhere\n\
                    MA-M,0011223,Medium Co,\"x, y\"\n\
                    MA-S,001122334,\"Small \"\"Quoted\"\" Ltd\",z\n";
        db.add_csv(text);
        assert_eq!(db.lookup([0x00, 0x11, 0x22, 0x33, 0x45, 0]), Some("Small \"Quoted\" Ltd"));
        assert_eq!(db.lookup([0x00, 0x11, 0x22, 0x39, 0, 0]), Some("Medium Co"));
        assert_eq!(db.lookup([0x00, 0x11, 0x22, 0x99, 0, 0]), Some("Big, Inc."));
        assert_eq!(db.lookup([0x00, 0x11, 0x23, 0, 0, 0]), None);
    }
}

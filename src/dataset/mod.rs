//! Parquet datasets (`v6watch export`, `--records DIR`): the records of a run stored as
//! Hive-partitioned Parquet that Spark, DataFusion, DuckDB, pandas and v6watch itself read.
//!
//! Layout: `DIR/DATASET/sensor=NAME/date=YYYY-MM-DD/part-N.parquet`, one dataset per record
//! type ([`DATASETS`]); the date is the record's UTC day. The partition values are in the
//! path only (as Hive, Spark and DuckDB expect), and the sensor is also in each file's metadata
//! (`v6watch.sensor`), with the schema version (`v6watch.schema`) and the dataset's name.
//!
//! Columns follow the JSON Lines mapping (`flows`, `dns`, ... `--format jsonl`) with Zeek's
//! dotted names written with `_` (`id.orig_h` → `id_orig_h`). Types ([`Kind`]): times are
//! `TIMESTAMP(MICROS, UTC)`, durations float seconds, ports uint16, counts int64, lists are
//! lists. Counts are signed: Spark has no unsigned 64-bit type (it reads UINT_64 as
//! DECIMAL(20,0)), which would make the same SQL add up differently on each engine; no count
//! reaches 2^63. The flows dataset adds the `facts_*` columns, what the analyses need beyond
//! the flow line (`engine::schema::FlowFacts`, see [`facts`]), so that an analysis of the
//! dataset equals the analysis of the captures.

mod facts;
pub mod read;
mod table;
pub mod write;

/// The schema version written in every file's metadata; a reader refuses other versions.
pub const SCHEMA_VERSION: &str = "v6watch.dataset/1";
/// The folder of each dataset's schema as a file of no rows (see `write::Writer`).
pub const SCHEMA_FOLDER: &str = "_schema";
/// File metadata keys.
pub const META_SCHEMA: &str = "v6watch.schema";
pub const META_DATASET: &str = "v6watch.dataset";
pub const META_SENSOR: &str = "v6watch.sensor";

/// The datasets, as folder names: the records (`flows` and one per event type), then what the
/// IPv6-health analysis made of them (`attempts`, `findings`), which `--records` does not read
/// back (it makes them again from the records).
pub fn datasets() -> Vec<&'static str> {
    let mut v = vec!["flows"];
    v.extend(engine::extract::EVENT_TYPES.iter().map(|t| t.name));
    v.extend(["attempts", "findings"]);
    v
}

/// A column's name in a dataset: Zeek's dots as underscores.
pub fn column_name(name: &str) -> String {
    name.replace('.', "_")
}

/// A partition value as a path segment, escaped as Hive and Spark escape them (`%XX` for
/// the bytes a path or a partition spec cannot hold), so that engines read the same value.
pub fn escape_partition(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b'+' | b',') {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    if s.starts_with('.') {
        // A leading dot hides the folder from the engines (and `.`/`..` are no names).
        s.replace_range(0..1, "%2E");
    }
    s
}

/// The UTC day of a time in ns, as days since the epoch (a partition's key).
pub fn day_of(ns: i64) -> i64 {
    ns.div_euclid(86_400_000_000_000)
}

/// A day since the epoch as `YYYY-MM-DD` (a partition's `date=`).
pub fn day_text(day: i64) -> String {
    engine::analyze::oui::utc_day(day * 86_400)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn dates_are_utc_days() {
        let utc_date = |ns| day_text(day_of(ns));
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_307_491_200_000_000_000), "2011-06-08");
        assert_eq!(utc_date(1_307_491_199_999_999_999), "2011-06-07");
        assert_eq!(utc_date(-1), "1969-12-31");
        assert_eq!(utc_date(951_782_400_000_000_000), "2000-02-29");
    }

    #[test]
    fn partition_values_are_escaped() {
        assert_eq!(escape_partition("honeypot1"), "honeypot1");
        assert_eq!(escape_partition("a/b=c d"), "a%2Fb%3Dc%20d");
        assert_eq!(escape_partition(".."), "%2E.");
        assert_eq!(escape_partition("ü"), "%C3%BC");
    }
}

//! The Parquet dataset writer: a sink that puts each record into its dataset's partition
//! (sensor, UTC day), gathering rows into record batches and row groups so memory stays
//! bounded whatever the input's size (at most [`MAX_OPEN`] partitions are open per dataset;
//! a partition closed to make room gets a further part file when it is written again).
//!
//! Files are written under hidden temporary names and moved into place when the run
//! succeeds. A one-off export ([`Mode::Replace`]) then removes the earlier part files of the
//! partitions it wrote, so exporting the same captures again replaces their records instead of
//! doubling them (Spark's dynamic partition overwrite); a live run ([`Mode::Append`]) adds its
//! parts, named after the ring's file, beside the earlier ones.

use super::table::{Kind, Table};
use super::{column_name, day_of, day_text, escape_partition, META_DATASET, META_SCHEMA, META_SENSOR, SCHEMA_VERSION};
use engine::analyze::health::HealthReport;
use engine::columns::Value;
use engine::extract::EVENT_TYPES;
use engine::model::{AppEvent, FlowRecord};
use engine::pipeline::FlowSink;
use engine::schema::{FlowFacts, InJson, FLOW_COLUMNS};
use hashbrown::HashMap;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Rows gathered before they are handed to the Parquet writer as one batch.
const BATCH_ROWS: usize = 8192;
/// Rows per row group (engines read a row group at a time; about a million is their sweet
/// spot, and the encoded row group is what the writer holds in memory).
const ROW_GROUP_ROWS: usize = 1 << 20;
/// Encoded bytes after which a row group is written out whatever its rows.
const ROW_GROUP_BYTES: usize = 64 << 20;
/// zstd's level. 1 rather than 3, with no dictionary for unique columns (below), took the
/// benchmark's export from 0.90 to 0.79 s (best of 5) and its flows files from 5.8 to 5.6 MB.
const ZSTD_LEVEL: i32 = 1;
/// Partitions open at once per dataset; the least recently written is closed beyond.
const MAX_OPEN: usize = 8;

/// How the files join what the folder already holds.
#[derive(Debug, Clone)]
pub enum Mode {
    /// The partitions written replace their earlier parts.
    Replace,
    /// Parts are added; their names carry this tag (`part-TAG-N.parquet`), and while being
    /// written they are visible as `….parquet.partial`, as the live ring's capture files are.
    Append(String),
}

/// The flows dataset's columns: those of the JSON lines but the sensor (a partition), then the
/// facts.
fn flow_columns() -> Vec<(String, Kind)> {
    let mut v: Vec<(String, Kind)> = FLOW_COLUMNS
        .iter()
        .filter(|c| !matches!(c.json, InJson::Never) && c.name != "sensor")
        .map(|c| (column_name(c.name), super::table::kind_of(c.name)))
        .collect();
    v.extend(super::facts::layout().columns.iter().cloned());
    v
}

/// An event dataset's columns: those of its JSON lines but the sensor.
fn event_columns(ty: &engine::columns::EventType) -> Vec<(String, Kind)> {
    ty.all_columns()
        .filter(|c| c.in_json() && c.name != "sensor")
        .map(|c| (column_name(c.name), super::table::kind_of(c.name)))
        .collect()
}

/// The attempts dataset's columns (see [`Writer::health`]).
const ATTEMPT_COLUMNS: &[(&str, Kind)] = &[
    ("ts", Kind::Time),
    ("uid", Kind::Str),
    ("family", Kind::Int),
    ("server", Kind::Str),
    ("server_port", Kind::Port),
    ("service", Kind::Str),
    ("outcome", Kind::Str),
    ("fallback", Kind::Str),
    ("connect_s", Kind::Float),
    ("syns", Kind::Int),
    ("resp_bytes", Kind::Int),
    ("error_ts", Kind::Time),
    ("icmp_type", Kind::Int),
    ("icmp_code", Kind::Int),
    ("icmp_from", Kind::Str),
    ("rst_injected", Kind::Bool),
];

/// The findings dataset's columns.
const FINDING_COLUMNS: &[(&str, Kind)] = &[
    ("ts", Kind::Time),
    ("last_ts", Kind::Time),
    ("severity", Kind::Str),
    ("note", Kind::Str),
    ("alert", Kind::Str),
    ("msg", Kind::Str),
    ("service", Kind::Str),
    ("family", Kind::Int),
    ("client", Kind::Str),
    ("n", Kind::Int),
    ("identifier", Kind::Str),
    ("uids", Kind::StrList),
    ("source", Kind::Str),
    ("address", Kind::Str),
];

fn owned(cols: &[(&str, Kind)]) -> Vec<(String, Kind)> {
    cols.iter().map(|(n, k)| (n.to_string(), *k)).collect()
}

/// A partition: dataset (its index in [`super::datasets`]), sensor and UTC day (days since
/// the epoch; formatted only when its folder is made).
#[derive(Clone, Hash, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    ds: usize,
    sensor: String,
    day: i64,
}

/// A [`Key`] borrowed, to find a partition per record without allocating its sensor's name.
/// Its derived hash is the key's: `String` hashes as `str`.
#[derive(Hash)]
struct KeyRef<'a> {
    ds: usize,
    sensor: &'a str,
    day: i64,
}

impl hashbrown::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, k: &Key) -> bool {
        self.ds == k.ds && self.day == k.day && self.sensor == k.sensor
    }
}

/// A part file's metadata: the schema version, the dataset and (for data parts) the sensor.
fn metadata(dataset: &str, sensor: Option<&str>) -> Vec<KeyValue> {
    let mut v = vec![
        KeyValue::new(META_SCHEMA.to_string(), SCHEMA_VERSION.to_string()),
        KeyValue::new(META_DATASET.to_string(), dataset.to_string()),
    ];
    v.extend(sensor.map(|s| KeyValue::new(META_SENSOR.to_string(), s.to_string())));
    v
}

struct Part {
    table: Table,
    /// The encoder's name for this part's file.
    id: u64,
    tmp: PathBuf,
    path: PathBuf,
    used: u64,
}

/// Work for the encoder thread. Encoding and compressing a batch is most of the writer's
/// cost (`perf`: a third of the merging thread's time on the benchmark capture), so it runs
/// beside the thread that gathers rows instead of on it.
enum Job {
    Open(u64, PathBuf, Box<ArrowWriter<File>>),
    Batch(u64, arrow_array::RecordBatch),
    Close(u64),
}

/// Memory the row groups being built may take together before the largest is written out.
const ENCODER_MEMORY: usize = 32 << 20;
/// Batches handed over and not yet encoded at most: memory stays bounded when the disk is slow.
const QUEUE: usize = 4;

/// The encoder: writes batches into their files and closes them. It runs on its own thread
/// (see [`encoder`]), or on the writer's when no thread can be started.
#[derive(Default)]
struct Encoder {
    files: HashMap<u64, (PathBuf, Box<ArrowWriter<File>>)>,
}

impl Encoder {
    /// Does one job; an error names the file.
    fn job(&mut self, job: Job) -> io::Result<()> {
        match job {
            Job::Open(id, tmp, w) => {
                self.files.insert(id, (tmp, w));
            }
            Job::Batch(id, b) => {
                let (tmp, w) = self.files.get_mut(&id).expect("a batch of an open part");
                w.write(&b).map_err(|e| Writer::err(tmp, e))?;
                // Row groups being built are held in memory until written: beyond the budget
                // (many sensors and days open at once), the largest is written out early.
                while self.files.values().map(|(_, w)| w.memory_size()).sum::<usize>() > ENCODER_MEMORY {
                    let (tmp, w) = self.files.values_mut().max_by_key(|(_, w)| w.memory_size()).expect("not empty");
                    if w.in_progress_size() == 0 {
                        break;
                    }
                    w.flush().map_err(|e| Writer::err(tmp, e))?;
                }
            }
            Job::Close(id) => {
                let (tmp, w) = self.files.remove(&id).expect("an open part");
                let f = w.into_inner().map_err(|e| Writer::err(&tmp, e))?;
                f.sync_data().map_err(|e| Writer::err(&tmp, e))?;
            }
        }
        Ok(())
    }
}

/// The encoder thread: the first error ends it, and the writer reports it at the next
/// hand-over or at `finish`.
fn encoder(jobs: std::sync::mpsc::Receiver<Job>) -> io::Result<()> {
    let mut e = Encoder::default();
    for job in jobs {
        e.job(job)?;
    }
    Ok(())
}

/// The dataset sink (see the module docs).
pub struct Writer {
    root: PathBuf,
    mode: Mode,
    /// Per dataset (in [`super::datasets`] order), its columns.
    columns: Vec<Vec<(String, Kind)>>,
    open: HashMap<Key, Part>,
    /// Parts closed: where each was written and where it goes.
    closed: Vec<(PathBuf, PathBuf)>,
    /// Part numbers taken per partition folder.
    next: HashMap<PathBuf, usize>,
    clock: u64,
    finished: bool,
    /// Rows written per dataset.
    pub rows: Vec<u64>,
    /// A flow's facts' values (kept to reuse its room).
    facts: Vec<Value<'static>>,
    jobs: Option<std::sync::mpsc::SyncSender<Job>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
    /// The encoder on this thread, when its own could not be started (a task limit).
    inline: Option<Encoder>,
    ids: u64,
}

impl Writer {
    /// A dataset written into `root` (its folders made by `finish`, or when the first record comes).
    pub fn new(root: &Path, mode: Mode) -> Writer {
        let mut columns = vec![flow_columns()];
        columns.extend(EVENT_TYPES.iter().map(event_columns));
        columns.push(owned(ATTEMPT_COLUMNS));
        columns.push(owned(FINDING_COLUMNS));
        Writer {
            root: root.to_path_buf(),
            mode,
            rows: vec![0; columns.len()],
            columns,
            open: HashMap::new(),
            closed: Vec::new(),
            next: HashMap::new(),
            clock: 0,
            finished: false,
            facts: Vec::new(),
            jobs: None,
            thread: None,
            inline: None,
            ids: 0,
        }
    }

    /// Hands a job to the encoder thread (started with the first); when the thread has
    /// stopped on an error, that error.
    fn send(&mut self, job: Job) -> io::Result<()> {
        if let Some(e) = self.inline.as_mut() {
            return e.job(job);
        }
        if self.jobs.is_none() {
            let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
            match std::thread::Builder::new().name("v6watch-parquet".into()).spawn(move || encoder(rx)) {
                Ok(t) => (self.jobs, self.thread) = (Some(tx), Some(t)),
                // No thread to encode beside: encoded here, between rows (slower, the same files).
                Err(_) => return self.inline.insert(Encoder::default()).job(job),
            }
        }
        if self.jobs.as_ref().expect("started above").send(job).is_ok() {
            return Ok(());
        }
        self.stop()?;
        Err(io::Error::other("the Parquet encoder stopped"))
    }

    /// Waits for the encoder thread to finish what it was given; its error, if any.
    fn stop(&mut self) -> io::Result<()> {
        self.jobs = None;
        self.inline = None;
        match self.thread.take().map(|t| t.join()) {
            None => Ok(()),
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the Parquet encoder panicked")),
        }
    }

    fn err(path: &Path, e: impl std::fmt::Display) -> io::Error {
        io::Error::other(format!("writing {}: {e}", path.display()))
    }

    /// The open part of a partition, opened (and room made) when needed.
    fn part(&mut self, ds: usize, sensor: &str, day: i64) -> io::Result<&mut Part> {
        self.clock += 1;
        let look = KeyRef { ds, sensor, day };
        if !self.open.contains_key(&look) {
            let key = Key { ds, sensor: sensor.to_string(), day };
            if self.open.keys().filter(|k| k.ds == ds).count() >= MAX_OPEN {
                let oldest = self.open.iter().filter(|(k, _)| k.ds == ds).min_by_key(|(_, p)| p.used).map(|(k, _)| k);
                if let Some(k) = oldest.cloned() {
                    let p = self.open.remove(&k).expect("found above");
                    self.close(p)?;
                }
            }
            let name = super::datasets()[ds];
            let dir = self
                .root
                .join(name)
                .join(format!("sensor={}", escape_partition(sensor)))
                .join(format!("date={}", day_text(day)));
            std::fs::create_dir_all(&dir).map_err(|e| Self::err(&dir, e))?;
            let n = self.next.entry(dir.clone()).or_insert(0);
            let (file, tmp) = match &self.mode {
                Mode::Replace => {
                    let f = format!("part-{n}.parquet");
                    let t = format!(".{f}.v6watch-tmp");
                    (f, t)
                }
                Mode::Append(tag) => {
                    let f = format!("part-{tag}-{n}.parquet");
                    let t = format!("{f}.partial");
                    (f, t)
                }
            };
            *n += 1;
            let (path, tmp) = (dir.join(file), dir.join(tmp));
            let table = Table::new(&self.columns[ds]);
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL).map_err(|e| Self::err(&tmp, e))?))
                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
                .set_coerce_types(true)
                .set_created_by(format!("v6watch {}", env!("CARGO_PKG_VERSION")))
                // Values nearly unique per row gain nothing from a dictionary but its cost.
                .set_column_dictionary_enabled(ColumnPath::from("uid"), false)
                .set_column_dictionary_enabled(ColumnPath::from("ts"), false)
                .set_column_encoding(ColumnPath::from("ts"), Encoding::DELTA_BINARY_PACKED)
                .set_key_value_metadata(Some(metadata(name, Some(sensor))));
            // The facts' times and counts: nanoseconds near each other, which delta encoding
            // stores in a few bits where a dictionary of distinct values gains nothing.
            let props = super::facts::layout()
                .columns
                .iter()
                .filter(|(_, k)| ds == 0 && matches!(k, Kind::Int))
                .fold(props, |p, (n, _)| {
                    p.set_column_dictionary_enabled(ColumnPath::from(n.as_str()), false)
                        .set_column_encoding(ColumnPath::from(n.as_str()), Encoding::DELTA_BINARY_PACKED)
                })
                .build();
            let f = File::create(&tmp).map_err(|e| Self::err(&tmp, e))?;
            let writer = ArrowWriter::try_new(f, table.schema(), Some(props)).map_err(|e| Self::err(&tmp, e))?;
            self.ids += 1;
            let id = self.ids;
            self.open.insert(key, Part { table, id, tmp: tmp.clone(), path, used: 0 });
            self.send(Job::Open(id, tmp, Box::new(writer)))?;
        }
        let clock = self.clock;
        let p = self.open.get_mut(&look).expect("opened above");
        p.used = clock;
        Ok(p)
    }

    /// Appends a row to a partition, writing a batch out when enough rows are gathered.
    fn row<'a>(
        &mut self,
        ds: usize,
        sensor: &str,
        ts: i64,
        values: impl IntoIterator<Item = Value<'a>>,
    ) -> io::Result<()> {
        let p = self.part(ds, sensor, day_of(ts))?;
        p.table.push(values).map_err(|e| Self::err(&p.tmp, e))?;
        let full = if p.table.rows() >= BATCH_ROWS {
            Some((p.id, p.table.batch(BATCH_ROWS).map_err(|e| Self::err(&p.tmp, e))?))
        } else {
            None
        };
        if let Some((id, b)) = full {
            self.send(Job::Batch(id, b))?;
        }
        self.rows[ds] += 1;
        Ok(())
    }

    fn close(&mut self, mut p: Part) -> io::Result<()> {
        if p.table.rows() > 0 {
            let b = p.table.batch(BATCH_ROWS).map_err(|e| Self::err(&p.tmp, e))?;
            self.send(Job::Batch(p.id, b))?;
        }
        self.send(Job::Close(p.id))?;
        self.closed.push((p.tmp, p.path));
        Ok(())
    }

    /// `DIR/_schema/DATASET.parquet`: each dataset's columns in a file of no rows, so that a
    /// runner can give a query an empty table of the right types where no sensor wrote a part
    /// (engines infer a table's schema from its files, and an empty folder has none). The
    /// leading `_` keeps engines reading the whole folder from taking it for data.
    fn schemas(&self) -> io::Result<()> {
        let dir = self.root.join(super::SCHEMA_FOLDER);
        std::fs::create_dir_all(&dir).map_err(|e| Self::err(&dir, e))?;
        for (name, columns) in super::datasets().iter().zip(&self.columns) {
            let path = dir.join(format!("{name}.parquet"));
            if path.exists() {
                continue;
            }
            let tmp = dir.join(format!(".{name}.parquet.v6watch-tmp"));
            let props = WriterProperties::builder().set_key_value_metadata(Some(metadata(name, None))).build();
            let f = File::create(&tmp).map_err(|e| Self::err(&tmp, e))?;
            let w =
                ArrowWriter::try_new(f, Table::new(columns).schema(), Some(props)).map_err(|e| Self::err(&tmp, e))?;
            w.close().map_err(|e| Self::err(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Self::err(&path, e))?;
        }
        Ok(())
    }

    /// The IPv6-health analysis's attempts (one row per connection attempt, with the
    /// fallback that followed it) and findings, into `attempts/` and `findings/`.
    pub fn health(&mut self, h: &HealthReport) -> io::Result<()> {
        let ds = |name: &str| super::datasets().iter().position(|d| *d == name).expect("a dataset");
        let (attempts, findings) = (ds("attempts"), ds("findings"));
        // Uids are unique within a sensor's captures, not across sensors.
        let fallback: HashMap<(&str, &str), &'static str> =
            h.fallbacks.iter().map(|f| ((f.sensor.as_str(), f.v6_uid.as_str()), f.kind.name())).collect();
        for (si, a) in &h.attempt_list {
            let sensor = h.attempt_sensors.get(usize::from(*si)).map_or("", String::as_str);
            let service = engine::analyze::health::service_label(a.name.as_deref(), &a.server);
            let server = a.server.to_string();
            let icmp_from = a.icmp.map(|i| i.2.to_string());
            let row = [
                Value::Time(a.ts),
                Value::Word(&a.uid),
                Value::UInt(a.family.into()),
                Value::Text(&server),
                Value::UInt(a.port.into()),
                Value::Text(&service),
                Value::Word(a.outcome.name()),
                fallback.get(&(sensor, a.uid.as_str())).map_or(Value::Null, |k| Value::Word(k)),
                a.connect_ns().map_or(Value::Null, Value::Seconds),
                Value::UInt(a.syns.into()),
                Value::UInt(a.resp_bytes),
                a.error_ts.map_or(Value::Null, Value::Time),
                a.icmp.map_or(Value::Null, |i| Value::UInt(i.0.into())),
                a.icmp.map_or(Value::Null, |i| Value::UInt(i.1.into())),
                icmp_from.as_deref().map_or(Value::Null, Value::Text),
                Value::Bool(a.rst_injected),
            ];
            self.row(attempts, sensor, a.ts, row)?;
        }
        for f in &h.findings {
            let row = [
                Value::Time(f.first_ts),
                Value::Time(f.last_ts),
                Value::Word(f.severity.name()),
                Value::Word(f.note),
                Value::Word(f.alert),
                Value::Text(&f.msg),
                f.service.as_deref().map_or(Value::Null, Value::Text),
                f.family.map_or(Value::Null, |x| Value::UInt(x.into())),
                f.client.as_deref().map_or(Value::Null, Value::Text),
                Value::UInt(f.n),
                Value::Text(&f.identifier),
                Value::Strings(&f.uids),
                Value::Word(f.source),
                f.address.as_deref().map_or(Value::Null, Value::Text),
            ];
            self.row(findings, &f.sensor, f.first_ts, row)?;
        }
        Ok(())
    }
}

impl FlowSink for Writer {
    fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> io::Result<()> {
        let mut facts = std::mem::take(&mut self.facts);
        facts.clear();
        super::facts::leaves(&FlowFacts::of(sensor, rec), &mut facts).map_err(io::Error::other)?;
        let values = FLOW_COLUMNS
            .iter()
            .filter(|c| c.name != "sensor")
            .filter_map(|c| match c.json {
                InJson::Never => None,
                InJson::Always => Some((c.get)(rec, sensor)),
                InJson::When(t) => Some(if t(rec) { (c.get)(rec, sensor) } else { Value::Absent }),
            })
            .chain(facts.drain(..));
        let r = self.row(0, sensor, rec.ts, values);
        self.facts = facts;
        r
    }

    fn event(&mut self, sensor: &str, ev: &AppEvent) -> io::Result<()> {
        let ty = &EVENT_TYPES[ev.kind() as usize];
        let values = ty.all_columns().filter(|c| c.in_json() && c.name != "sensor").map(|c| (c.get)(ev, sensor));
        self.row(1 + ev.kind() as usize, sensor, ev.head().ts, values)
    }

    /// Every part closed and moved into place (see the module docs).
    fn finish(&mut self) -> io::Result<()> {
        let mut open: Vec<_> = self.open.drain().collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, p) in open {
            self.close(p)?;
        }
        // Every part encoded, synced and closed before any is moved into place.
        self.stop()?;
        if matches!(self.mode, Mode::Replace) {
            // The partitions written drop their earlier parts.
            let ours: hashbrown::HashSet<&PathBuf> = self.closed.iter().map(|c| &c.1).collect();
            for dir in self.next.keys() {
                let Ok(list) = std::fs::read_dir(dir) else { continue };
                for e in list.flatten() {
                    let p = e.path();
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    if name.starts_with("part-") && name.ends_with(".parquet") && !ours.contains(&p) {
                        std::fs::remove_file(&p).map_err(|e| Self::err(&p, e))?;
                    }
                }
            }
        }
        for (tmp, path) in &self.closed {
            std::fs::rename(tmp, path).map_err(|e| Self::err(path, e))?;
        }
        self.closed.clear();
        // Captures with no records still make a dataset (every folder, no part), which reads
        // back as no records: "nothing seen" stays distinct from "not exported".
        for name in super::datasets() {
            let dir = self.root.join(name);
            std::fs::create_dir_all(&dir).map_err(|e| Self::err(&dir, e))?;
        }
        self.schemas()?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for Writer {
    /// A run that did not finish leaves no temporary files behind.
    fn drop(&mut self) {
        let _ = self.stop();
        if !self.finished {
            for (tmp, _) in &self.closed {
                let _ = std::fs::remove_file(tmp);
            }
            for p in self.open.values() {
                let _ = std::fs::remove_file(&p.tmp);
            }
        }
    }
}

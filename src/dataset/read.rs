//! Reading a Parquet dataset back (`--records DIR`): every row of `flows/` (completed by its
//! facts) and of each event dataset is made the JSON object its JSON line would be and read by
//! the same column setters (`engine::schema`), so a dataset, a JSON Lines export and the
//! captures give one analysis. Batches are read one at a time: memory does not grow with the
//! files. A file that is not one of v6watch's (not Parquet, cut short, another schema version,
//! a column v6watch does not write) is an error naming it.

use super::{column_name, META_DATASET, META_SCHEMA, META_SENSOR, SCHEMA_VERSION};
use anyhow::{bail, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type,
    UInt8Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use engine::extract::EVENT_TYPES;
use engine::pipeline::FlowSink;
use engine::schema::{read_event_object, read_flow_object, FlowFacts, InJson, FLOW_COLUMNS};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};

/// The datasets `--records` reads (the others are made again from these).
fn record_datasets() -> Vec<&'static str> {
    let mut v = vec!["flows"];
    v.extend(EVENT_TYPES.iter().map(|t| t.name));
    v
}

/// Whether `dir` is the root of a dataset: it has one of the datasets' folders.
pub fn is_dataset(dir: &Path) -> bool {
    super::datasets().iter().any(|d| dir.join(d).is_dir())
}

/// The part files of dataset `name` under `root`, in path order: `sensor=*/date=*/*.parquet`.
/// Hidden and `_`-prefixed names (temporary files, `_SUCCESS`) and parts still being written
/// (`.partial`) are skipped, as the engines skip them.
fn parts(root: &Path, name: &str) -> Result<Vec<PathBuf>> {
    let dir = root.join(name);
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let list = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .with_context(|| format!("--records {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| !p.file_name().map(|n| n.to_string_lossy()).is_some_and(|n| n.starts_with(['.', '_'])))
            .collect();
        v.sort();
        Ok(v)
    };
    for s in list(&dir)? {
        if !s.is_dir() || !s.file_name().is_some_and(|n| n.to_string_lossy().starts_with("sensor=")) {
            bail!("{}: not a partition of a v6watch dataset (want {}/sensor=NAME/date=DAY/)", s.display(), name);
        }
        for d in list(&s)? {
            if !d.is_dir() || !d.file_name().is_some_and(|n| n.to_string_lossy().starts_with("date=")) {
                bail!("{}: not a partition of a v6watch dataset (want sensor=NAME/date=DAY/)", d.display());
            }
            for f in list(&d)? {
                let n = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if n.ends_with(".partial") {
                    continue;
                }
                if !n.ends_with(".parquet") || !f.is_file() {
                    bail!("{}: not a Parquet part file of a v6watch dataset", f.display());
                }
                out.push(f);
            }
        }
    }
    Ok(out)
}

/// One open part file: its sensor and its batches.
struct Part {
    sensor: String,
    batches: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
}

fn open(path: &Path, dataset: &str) -> Result<Part> {
    let f = std::fs::File::open(path).with_context(|| format!("--records {}", path.display()))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| anyhow::anyhow!("{}: not a readable Parquet file ({e})", path.display()))?;
    let kv = b.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
    let meta = |k: &str| kv.iter().find(|x| x.key == k).and_then(|x| x.value.clone());
    match meta(META_SCHEMA) {
        None => bail!("{}: not a v6watch dataset file (no {META_SCHEMA} in its metadata)", path.display()),
        Some(v) if v != SCHEMA_VERSION => bail!(
            "{}: dataset schema {v:?}, which this v6watch does not know (it reads {SCHEMA_VERSION}); \
             read it with the v6watch that wrote it",
            path.display()
        ),
        Some(_) => {}
    }
    if meta(META_DATASET).as_deref() != Some(dataset) {
        bail!("{}: a {:?} file in the {dataset} folder", path.display(), meta(META_DATASET).unwrap_or_default());
    }
    let Some(sensor) = meta(META_SENSOR) else { bail!("{}: no {META_SENSOR} in its metadata", path.display()) };
    let batches = b.with_batch_size(8192).build().with_context(|| format!("reading {}", path.display()))?;
    Ok(Part { sensor, batches })
}

/// A value of an Arrow array as its JSON line writes it (times as epoch seconds).
fn to_json(a: &dyn Array, i: usize) -> Result<Json, String> {
    if a.is_null(i) {
        return Ok(Json::Null);
    }
    let float = |x: f64| serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number);
    Ok(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i).into(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).into(),
        DataType::Boolean => a.as_boolean().value(i).into(),
        DataType::Int8 => a.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => a.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt8 => a.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i).into(),
        DataType::Float32 => float(a.as_primitive::<Float32Type>().value(i).into()),
        DataType::Float64 => float(a.as_primitive::<Float64Type>().value(i)),
        DataType::Timestamp(unit, _) => {
            let us = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(i).saturating_mul(1_000_000),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(i).saturating_mul(1000),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => super::table::micros(a.as_primitive::<TimestampNanosecondType>().value(i)),
            };
            float(us as f64 / 1e6)
        }
        DataType::List(_) => {
            let v = a.as_list::<i32>().value(i);
            Json::Array((0..v.len()).map(|j| to_json(&v, j)).collect::<Result<_, _>>()?)
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let mut m = Map::new();
            for (k, f) in fields.iter().enumerate() {
                m.insert(f.name().clone(), to_json(s.column(k), i)?);
            }
            Json::Object(m)
        }
        other => return Err(format!("a column of type {other}, which v6watch datasets do not have")),
    })
}

/// What a column of a part file sets.
#[derive(Clone, Copy)]
enum Col {
    /// A key of the record's JSON object.
    Key(&'static str),
    /// The flow's facts' value number N (see [`super::facts`]).
    Fact(usize),
}

/// For each column of `batch`, what it sets.
fn keys(batch: &RecordBatch, known: &[(String, &'static str)], facts: bool, path: &Path) -> Result<Vec<Col>> {
    let layout = &super::facts::layout().columns;
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| {
            if let Some((_, k)) = known.iter().find(|(n, _)| n == f.name()) {
                return Ok(Col::Key(k));
            }
            match layout.iter().position(|(n, _)| n == f.name()) {
                Some(i) if facts => Ok(Col::Fact(i)),
                _ => bail!("{}: column {:?} is not a column of this dataset", path.display(), f.name()),
            }
        })
        .collect()
}

/// Feeds the records of the dataset at `root` to `sink`: flows, then each event type;
/// `begin` is called with each sensor before its first record. Returns the records read.
pub fn run(
    root: &Path,
    sink: &mut dyn FlowSink,
    begin: &mut dyn FnMut(&mut dyn FlowSink, &str) -> Result<()>,
) -> Result<u64> {
    let mut n = 0u64;
    let flow_keys: Vec<(String, &'static str)> = FLOW_COLUMNS
        .iter()
        .filter(|c| !matches!(c.json, InJson::Never) && c.name != "sensor")
        .map(|c| (column_name(c.name), c.name))
        .collect();
    for name in record_datasets() {
        let ty = EVENT_TYPES.iter().find(|t| t.name == name);
        let known: Vec<(String, &'static str)> = match ty {
            None => flow_keys.clone(),
            Some(t) => t
                .all_columns()
                .filter(|c| c.in_json() && c.name != "sensor")
                .map(|c| (column_name(c.name), c.name))
                .collect(),
        };
        for path in parts(root, name)? {
            let mut part = open(&path, name)?;
            begin(sink, &part.sensor)?;
            let mut row = 0usize;
            for batch in &mut part.batches {
                let batch = batch.map_err(|e| anyhow::anyhow!("{}: row {}: {e}", path.display(), row + 1))?;
                let cols = keys(&batch, &known, ty.is_none(), &path)?;
                let has_facts = cols.iter().any(|c| matches!(c, Col::Fact(_)));
                let n_facts = super::facts::layout().columns.len();
                for i in 0..batch.num_rows() {
                    row += 1;
                    let at = || format!("{}: row {row}", path.display());
                    let mut obj = Map::new();
                    let mut facts = if has_facts { vec![Json::Null; n_facts] } else { Vec::new() };
                    for (j, col) in cols.iter().enumerate() {
                        let v = to_json(batch.column(j), i).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
                        match *col {
                            Col::Fact(n) => facts[n] = v,
                            // A flow line leaves out what it does not have; an event line has
                            // every column, null where the event has no value.
                            Col::Key(_) if v.is_null() && ty.is_none() => {}
                            Col::Key(k) => {
                                obj.insert(k.to_string(), v);
                            }
                        }
                    }
                    obj.insert("sensor".into(), part.sensor.clone().into());
                    match ty {
                        None => {
                            let (sensor, mut rec) =
                                read_flow_object(&obj).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
                            if has_facts {
                                let f = super::facts::rebuild(facts, &sensor, &rec.uid);
                                let f: FlowFacts = serde_json::from_value(f).map_err(|e| {
                                    anyhow::anyhow!("{}: facts_* columns: not a flow's facts ({e})", at())
                                })?;
                                f.apply(&mut rec).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
                            }
                            sink.flow(&sensor, &rec)?;
                        }
                        Some(t) => {
                            obj.insert("type".into(), t.name.into());
                            let (sensor, ev) = read_event_object(&obj).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
                            if sink.wants(ev.kind()) {
                                sink.event(&sensor, &ev)?;
                            }
                        }
                    }
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

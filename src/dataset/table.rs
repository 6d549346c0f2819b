//! The dataset's column types and the column buffers rows are gathered in before they become
//! an Arrow record batch: each column has one [`Kind`], and a value of another kind is an
//! error naming the column (a record type that changed without its dataset type).

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder, StructBuilder,
    TimestampMicrosecondBuilder, UInt16Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use engine::columns::Value;
use std::fmt::Write as _;
use std::sync::Arc;

/// The type of a dataset column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `TIMESTAMP(MICROS, UTC)`.
    Time,
    /// UTF-8 text (addresses too).
    Str,
    /// int64: counts and numbers.
    Int,
    /// uint16: ports.
    Port,
    /// float64: durations (seconds) and round-trip times (milliseconds, `rtt_ms`).
    Float,
    /// boolean.
    Bool,
    /// list of text.
    StrList,
    /// list of int64.
    IntList,
    /// list of {ts, version, icmp_type, code, from, mtu, count}: the ICMP errors quoting a flow.
    IcmpErrors,
    /// list of {section, name, rtype, ttl, data}: a DNS response's records.
    DnsAnswers,
}

/// The type of the record column `name` (flows and events; the JSON name, dots and all).
/// Every other column is text: `tests` check every column of every record type against
/// what its values are.
pub fn kind_of(name: &str) -> Kind {
    match name {
        "ts" | "response_ts" => Kind::Time,
        "id.orig_p" | "id.resp_p" | "server_port" => Kind::Port,
        "duration" | "rtt_ms" => Kind::Float,
        "orig_bytes" | "resp_bytes" | "missed_bytes" | "orig_pkts" | "orig_ip_bytes" | "resp_pkts"
        | "resp_ip_bytes" | "ip_proto" | "ip_version" | "vlan" | "orig_retransmits" | "resp_retransmits"
        | "orig_mss" | "resp_mss" | "trans_id" | "qtype" | "rcode" | "rtt_ns" | "request_body_len" | "status"
        | "cipher" | "last_reply" | "rcpt" | "messages" | "accepted" | "deferred" | "rejected" => Kind::Int,
        "tunnel_outer" | "anomalies" | "alpn" | "versions" | "mail_from" | "rcpt_domains" => Kind::StrList,
        "sizes" => Kind::IntList,
        "icmp_errors" => Kind::IcmpErrors,
        "answers" => Kind::DnsAnswers,
        "ech" | "starttls_offered" | "starttls" => Kind::Bool,
        _ => Kind::Str,
    }
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn icmp_fields() -> Fields {
    Fields::from(vec![
        Field::new("ts", utc_micros(), true),
        Field::new("version", DataType::Int64, true),
        Field::new("icmp_type", DataType::Int64, true),
        Field::new("code", DataType::Int64, true),
        Field::new("from", DataType::Utf8, true),
        Field::new("mtu", DataType::Int64, true),
        Field::new("count", DataType::Int64, true),
    ])
}

fn answer_fields() -> Fields {
    Fields::from(vec![
        Field::new("section", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("rtype", DataType::Utf8, true),
        Field::new("ttl", DataType::Int64, true),
        Field::new("data", DataType::Utf8, true),
    ])
}

/// To the nearest microsecond, as the JSON lines write times.
pub fn micros(ns: i64) -> i64 {
    ns.saturating_add(500).div_euclid(1000)
}

/// A count as int64 (see the module docs of `dataset`: no count reaches 2^63).
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

enum Buf {
    Time(TimestampMicrosecondBuilder),
    Str(StringBuilder),
    Int(Int64Builder),
    Port(UInt16Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    StrList(ListBuilder<StringBuilder>),
    IntList(ListBuilder<Int64Builder>),
    Icmp(ListBuilder<StructBuilder>),
    Answers(ListBuilder<StructBuilder>),
}

impl Buf {
    /// A builder for `kind`; scalar columns with room for `rows` (a busy partition's next
    /// batch is made without growing, copying and faulting its buffers row after row).
    fn new(kind: Kind, rows: usize) -> Buf {
        match kind {
            Kind::Time => Buf::Time(TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC")),
            Kind::Str => Buf::Str(StringBuilder::with_capacity(rows, rows * 16)),
            Kind::Int => Buf::Int(Int64Builder::with_capacity(rows)),
            Kind::Port => Buf::Port(UInt16Builder::with_capacity(rows)),
            Kind::Float => Buf::Float(Float64Builder::with_capacity(rows)),
            Kind::Bool => Buf::Bool(BooleanBuilder::with_capacity(rows)),
            Kind::StrList => Buf::StrList(ListBuilder::new(StringBuilder::new())),
            Kind::IntList => Buf::IntList(ListBuilder::new(Int64Builder::new())),
            Kind::IcmpErrors => {
                let b: Vec<Box<dyn ArrayBuilder>> = vec![
                    Box::new(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
                    Box::new(Int64Builder::new()),
                    Box::new(Int64Builder::new()),
                    Box::new(Int64Builder::new()),
                    Box::new(StringBuilder::new()),
                    Box::new(Int64Builder::new()),
                    Box::new(Int64Builder::new()),
                ];
                Buf::Icmp(ListBuilder::new(StructBuilder::new(icmp_fields(), b)))
            }
            Kind::DnsAnswers => {
                let b: Vec<Box<dyn ArrayBuilder>> = vec![
                    Box::new(StringBuilder::new()),
                    Box::new(StringBuilder::new()),
                    Box::new(StringBuilder::new()),
                    Box::new(Int64Builder::new()),
                    Box::new(StringBuilder::new()),
                ];
                Buf::Answers(ListBuilder::new(StructBuilder::new(answer_fields(), b)))
            }
        }
    }

    fn null(&mut self) {
        match self {
            Buf::Time(b) => b.append_null(),
            Buf::Str(b) => b.append_null(),
            Buf::Int(b) => b.append_null(),
            Buf::Port(b) => b.append_null(),
            Buf::Float(b) => b.append_null(),
            Buf::Bool(b) => b.append_null(),
            Buf::StrList(b) => b.append_null(),
            Buf::IntList(b) => b.append_null(),
            Buf::Icmp(b) | Buf::Answers(b) => b.append_null(),
        }
    }

    /// Appends `v`; `false` when it is not of the column's kind (nothing appended).
    fn push(&mut self, v: Value<'_>, scratch: &mut String) -> bool {
        // Addresses are formatted into one reused string, not a new one each.
        fn text<'s>(scratch: &'s mut String, a: &dyn std::fmt::Display) -> &'s str {
            scratch.clear();
            let _ = write!(scratch, "{a}");
            scratch
        }
        match (self, v) {
            (b, Value::Null | Value::Absent) => b.null(),
            (Buf::Time(b), Value::Time(ns)) => b.append_value(micros(ns)),
            (Buf::Float(b), Value::Seconds(ns)) => b.append_value(micros(ns) as f64 / 1e6),
            (Buf::Float(b), Value::Millis(ns)) => b.append_value(micros(ns) as f64 / 1e3),
            (Buf::Int(b), Value::UInt(n)) => b.append_value(count(n)),
            (Buf::Int(b), Value::Int(n)) => b.append_value(n),
            (Buf::Port(b), Value::UInt(n)) => match u16::try_from(n) {
                Ok(p) => b.append_value(p),
                Err(_) => return false,
            },
            (Buf::Str(b), Value::Word(s) | Value::Text(s) | Value::Sensor(s)) => b.append_value(s),
            (Buf::Str(b), Value::Addr(a)) => b.append_value(text(scratch, &a)),
            (Buf::Bool(b), Value::Bool(x)) => b.append_value(x),
            (Buf::StrList(b), Value::AddrPair(x, y)) => {
                b.values().append_value(text(scratch, &x));
                b.values().append_value(text(scratch, &y));
                b.append(true);
            }
            (Buf::StrList(b), Value::Names(list)) => {
                list.iter().for_each(|s| b.values().append_value(s));
                b.append(true);
            }
            (Buf::StrList(b), Value::Strings(list)) => {
                list.iter().for_each(|s| b.values().append_value(s));
                b.append(true);
            }
            (Buf::IntList(b), Value::UInts(list)) => {
                list.iter().for_each(|n| b.values().append_value(count(*n)));
                b.append(true);
            }
            (Buf::Icmp(b), Value::IcmpErrors(list)) => {
                let s = b.values();
                for e in list {
                    field::<TimestampMicrosecondBuilder>(s, 0).append_value(micros(e.ts));
                    field::<Int64Builder>(s, 1).append_value(e.version.into());
                    field::<Int64Builder>(s, 2).append_value(e.icmp_type.into());
                    field::<Int64Builder>(s, 3).append_value(e.code.into());
                    field::<StringBuilder>(s, 4).append_value(text(scratch, &e.from));
                    field::<Int64Builder>(s, 5).append_value(e.mtu.into());
                    field::<Int64Builder>(s, 6).append_value(e.count.into());
                    s.append(true);
                }
                b.append(true);
            }
            (Buf::Answers(b), Value::DnsAnswers(list)) => {
                let s = b.values();
                for a in list {
                    field::<StringBuilder>(s, 0).append_value(a.section);
                    field::<StringBuilder>(s, 1).append_value(&a.name);
                    field::<StringBuilder>(s, 2).append_value(&a.rtype);
                    field::<Int64Builder>(s, 3).append_value(a.ttl.into());
                    field::<StringBuilder>(s, 4).append_value(&a.data);
                    s.append(true);
                }
                b.append(true);
            }
            _ => return false,
        }
        true
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Buf::Time(b) => Arc::new(b.finish()),
            Buf::Str(b) => Arc::new(b.finish()),
            Buf::Int(b) => Arc::new(b.finish()),
            Buf::Port(b) => Arc::new(b.finish()),
            Buf::Float(b) => Arc::new(b.finish()),
            Buf::Bool(b) => Arc::new(b.finish()),
            Buf::StrList(b) => Arc::new(b.finish()),
            Buf::IntList(b) => Arc::new(b.finish()),
            Buf::Icmp(b) | Buf::Answers(b) => Arc::new(b.finish()),
        }
    }
}

/// The struct builder's field `i`, of the type [`Buf::new`] made it.
fn field<T: ArrayBuilder>(s: &mut StructBuilder, i: usize) -> &mut T {
    s.field_builder::<T>(i).expect("the struct's fields are made with these types")
}

/// The schema of columns `names` (dataset names) of `kinds`.
fn schema(names: &[String], kinds: &[Kind]) -> SchemaRef {
    let fields: Vec<Field> = names
        .iter()
        .zip(kinds)
        .map(|(n, k)| {
            // The arrays' own types, so that schema and batches agree by construction.
            let dt = Buf::new(*k, 0).finish().data_type().clone();
            Field::new(n, dt, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Rows being gathered for one file.
pub struct Table {
    names: Vec<String>,
    kinds: Vec<Kind>,
    bufs: Vec<Buf>,
    schema: SchemaRef,
    rows: usize,
    scratch: String,
}

impl Table {
    /// A table of columns `(dataset name, kind)`.
    pub fn new(columns: &[(String, Kind)]) -> Table {
        let names: Vec<String> = columns.iter().map(|c| c.0.clone()).collect();
        let kinds: Vec<Kind> = columns.iter().map(|c| c.1).collect();
        let bufs = kinds.iter().map(|k| Buf::new(*k, 0)).collect();
        Table { schema: schema(&names, &kinds), bufs, names, kinds, rows: 0, scratch: String::new() }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row, its values in column order. A value of another kind than its
    /// column's is an error naming the column; the row is then not appended.
    pub fn push<'a>(&mut self, row: impl IntoIterator<Item = Value<'a>>) -> Result<(), String> {
        let mut n = 0;
        for (i, v) in row.into_iter().enumerate() {
            let Some(b) = self.bufs.get_mut(i) else { return Err("more values than columns".into()) };
            if !b.push(v, &mut self.scratch) {
                // A record type changed without its dataset type: the run stops here (the
                // tests write every column of every record type).
                return Err(format!("column {}: a value of another type ({v:?})", self.names[i]));
            }
            n += 1;
        }
        if n != self.bufs.len() {
            return Err(format!("{n} values for {} columns", self.bufs.len()));
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows gathered as a batch; the table is empty again.
    /// A table that filled `full` rows gets room for as many in its next batch.
    pub fn batch(&mut self, full: usize) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let arrays: Vec<ArrayRef> = self.bufs.iter_mut().map(Buf::finish).collect();
        if self.rows >= full {
            self.bufs = self.kinds.iter().map(|k| Buf::new(*k, full)).collect();
        }
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}

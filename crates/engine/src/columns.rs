//! What every record writer and reader shares: the typed [`Value`] a column takes from a
//! record, the columns of application events ([`EventColumn`], the ones every event has in
//! [`EVENT_HEAD`]), and the checked conversions that read JSON values back. The columns
//! themselves are their record's: flows in `schema`, each event type in its extractor's file.

use crate::decode::Addr;
use crate::model::{AppEvent, DnsAnswer, IcmpError};
use serde_json::Value as Json;

/// One field of a record, typed: how each format writes it is the writer's business.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A point in time, ns since the epoch (written as epoch seconds with microseconds).
    Time(i64),
    /// A duration in ns written in seconds (6 decimals).
    Seconds(i64),
    /// A duration in ns written in milliseconds (3 decimals).
    Millis(i64),
    /// A count or a number.
    UInt(u64),
    /// A word of a fixed vocabulary, or an id made of letters and digits: needs no escaping.
    Word(&'a str),
    /// Text that may hold anything (from packets or the user): escaped by every writer.
    Text(&'a str),
    /// The sensor's name: text, the same for all of a sensor's records (a writer may escape
    /// it once for them all).
    Sensor(&'a str),
    /// An address.
    Addr(Addr),
    /// A pair of addresses (a tunnel's outer endpoints).
    AddrPair(Addr, Addr),
    /// The ICMP errors that quoted the flow.
    IcmpErrors(&'a [IcmpError]),
    /// Anomaly names.
    Names(&'a [&'static str]),
    /// A signed integer.
    Int(i64),
    /// True or false.
    Bool(bool),
    /// A list of strings (from packets).
    Strings(&'a [String]),
    /// A list of counts.
    UInts(&'a [u64]),
    /// A DNS response's resource records.
    DnsAnswers(&'a [DnsAnswer]),
    /// Not known: JSON writes `null`, CSV an empty cell (an event's fields are always there).
    Null,
    /// Not set: JSON leaves the key out, CSV leaves the cell empty.
    Absent,
}

/// How a JSON value sets a column of an event being read (`Err`: what was wrong). The event
/// is of the column's type (see [`EventType::empty`]).
pub type EventSetter = fn(&mut AppEvent, &Json) -> Result<(), &'static str>;

/// How the CSV form renders an event column.
#[derive(Clone, Copy)]
pub enum Csv {
    /// Not in CSV.
    No,
    /// Its [`Value`], as for flows.
    Value,
    /// A rendering of its own (a name for a number, a list as words), written as is.
    Cell(fn(&AppEvent) -> String),
    /// A rendering holding text from packets: escaped and formula-defused as text is.
    Text(fn(&AppEvent) -> String),
}

/// One column of an event type.
#[derive(Clone, Copy)]
pub struct EventColumn {
    /// Its name (JSON key and CSV header).
    pub name: &'static str,
    /// Its value in an event of sensor `sensor`.
    pub get: for<'a> fn(&'a AppEvent, &'a str) -> Value<'a>,
    /// Its CSV form.
    pub csv: Csv,
    /// How reading a JSON line sets it; `None`: JSON lines do not carry it (a CSV rendering,
    /// or the sensor, which every line ends with).
    pub set: Option<EventSetter>,
}

impl EventColumn {
    /// JSON lines carry it (and it is read back from them).
    pub fn in_json(&self) -> bool {
        self.set.is_some()
    }
}

/// What a setter says when given an event of another type (never, as readers make the event
/// from its type).
pub const OTHER_TYPE: &str = "another event type";

/// An event type: what `extract::EVENT_TYPES` lists for each protocol's events.
#[derive(Clone, Copy)]
pub struct EventType {
    /// Its name: the JSON lines' `type`, the command, the dataset file (`NAME.jsonl`).
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// The `service` names its extractors give flows (Zeek's names where Zeek has them).
    pub services: &'static [&'static str],
    /// The `name_source` its extractors give the names they find.
    pub name_sources: &'static [&'static str],
    /// Its own columns, after [`EVENT_HEAD`]'s.
    pub columns: &'static [EventColumn],
    /// An event of this type with nothing set, for reading a line into.
    pub empty: fn() -> AppEvent,
}

impl EventType {
    /// Every column in output order: the head's, then its own.
    pub fn all_columns(&self) -> impl Iterator<Item = &'static EventColumn> {
        EVENT_HEAD.iter().chain(self.columns)
    }
}

/// A DNS response's answer section as `TYPE DATA` words (how CSV and tables show
/// [`Value::DnsAnswers`]; JSON has every record).
pub fn answer_words(list: &[DnsAnswer]) -> String {
    let words: Vec<String> =
        list.iter().filter(|a| a.section == "answer").map(|a| format!("{} {}", a.rtype, a.data)).collect();
    words.join(" ")
}

/// Text that may be missing: `null` in JSON.
pub fn text_or_null(t: &Option<String>) -> Value<'_> {
    t.as_deref().map_or(Value::Null, Value::Text)
}

/// The accessors an event type's columns are written with, for `AppEvent::$variant($ty)`:
/// `on` (the event, if of this type), `on_mut` (to set, or [`OTHER_TYPE`]) and `get` (a
/// value of the event, or `Value::Absent`).
macro_rules! event_access {
    ($variant:ident, $ty:ty) => {
        fn on(e: &AppEvent) -> Option<&$ty> {
            match e {
                AppEvent::$variant(x) => Some(x),
                #[allow(unreachable_patterns)]
                _ => None,
            }
        }

        fn on_mut(e: &mut AppEvent) -> Result<&mut $ty, &'static str> {
            match e {
                AppEvent::$variant(x) => Ok(x),
                #[allow(unreachable_patterns)]
                _ => Err($crate::columns::OTHER_TYPE),
            }
        }

        fn get<'a>(e: &'a AppEvent, f: impl FnOnce(&'a $ty) -> Value<'a>) -> Value<'a> {
            on(e).map_or(Value::Absent, f)
        }
    };
}
pub(crate) use event_access;

/// The columns every event starts with (the sensor is CSV's third column; JSON lines end
/// with it).
pub const EVENT_HEAD: &[EventColumn] = &[
    EventColumn {
        name: "ts",
        get: |e, _| Value::Time(e.head().ts),
        csv: Csv::Value,
        set: Some(|e, v| {
            *e.head_mut().ts = secs_ns(v)?;
            Ok(())
        }),
    },
    EventColumn {
        name: "uid",
        get: |e, _| Value::Word(e.head().uid),
        csv: Csv::Value,
        set: Some(|e, v| {
            *e.head_mut().uid = uid(v)?;
            Ok(())
        }),
    },
    EventColumn { name: "sensor", get: |_, s| Value::Sensor(s), csv: Csv::Value, set: None },
    EventColumn {
        name: "client",
        get: |e, _| Value::Addr(e.head().client),
        csv: Csv::Value,
        set: Some(|e, v| {
            *e.head_mut().client = addr(v)?;
            Ok(())
        }),
    },
    EventColumn {
        name: "server",
        get: |e, _| Value::Addr(e.head().server),
        csv: Csv::Value,
        set: Some(|e, v| {
            *e.head_mut().server = addr(v)?;
            Ok(())
        }),
    },
    EventColumn {
        name: "server_port",
        get: |e, _| Value::UInt(e.head().server_port.into()),
        csv: Csv::Value,
        set: Some(|e, v| {
            *e.head_mut().server_port = int(v)?;
            Ok(())
        }),
    },
];

/// `v` if it is one of the `known` words (as the `'static` word).
pub fn intern(known: &[&'static str], s: &str) -> Option<&'static str> {
    known.iter().copied().find(|k| *k == s)
}

/// A string.
pub fn string(v: &Json) -> Result<String, &'static str> {
    v.as_str().map(str::to_string).ok_or("not a string")
}

/// A string or `null`.
pub fn opt_string(v: &Json) -> Result<Option<String>, &'static str> {
    opt(v, string)
}

/// `null` as `None`, else what `f` reads.
pub fn opt<T>(v: &Json, f: impl FnOnce(&Json) -> Result<T, &'static str>) -> Result<Option<T>, &'static str> {
    if v.is_null() {
        Ok(None)
    } else {
        f(v).map(Some)
    }
}

/// An unsigned integer that fits `T`.
pub fn int<T: TryFrom<u64>>(v: &Json) -> Result<T, &'static str> {
    v.as_u64().and_then(|n| T::try_from(n).ok()).ok_or("not an unsigned integer in range")
}

/// A list of strings.
pub fn strings(v: &Json) -> Result<Vec<String>, &'static str> {
    v.as_array().ok_or("not a list")?.iter().map(string).collect()
}

/// One of the `known` words.
pub fn word(v: &Json, known: &[&'static str]) -> Result<&'static str, &'static str> {
    intern(known, v.as_str().ok_or("not a string")?).ok_or("not a known value")
}

/// An IP address.
pub fn addr(v: &Json) -> Result<Addr, &'static str> {
    let s = v.as_str().ok_or("not a string")?;
    s.parse::<std::net::IpAddr>().map(Addr::from_ip).map_err(|_| "not an IP address")
}

/// Seconds (as written: six decimals at most) to ns.
pub fn secs_ns(v: &Json) -> Result<i64, &'static str> {
    v.as_f64().and_then(crate::model::epoch_ns).ok_or("not a number of seconds")
}

/// A flow uid. Uids are written unescaped: only letters and digits are taken.
pub fn uid(v: &Json) -> Result<String, &'static str> {
    let s = string(v)?;
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("not a flow uid");
    }
    Ok(s)
}

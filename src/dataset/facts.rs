//! A flow's facts (`engine::schema::FlowFacts`: handshake times, RSTs, stalls, what the
//! IPv6-health rules need beyond the flow line) as typed columns of the flows dataset, named
//! after their path with `facts_` before it (`facts_tcp_synack_ts_ns`,
//! `facts_tcp_orig_data_ns_0`): int64 nanoseconds and counts, booleans; null where the flow
//! has no such fact, every `facts_tcp_*` null for a flow that is not TCP.
//!
//! The columns come from the facts' own serialisation, walked against a template whose every
//! optional part is present, so a field added to the facts is a column without a second list
//! to keep (the test below fails when a template part is left out). As columns, the facts take
//! a third of the room they took as JSON text and can be queried by any engine.

use super::table::Kind;
use engine::columns::Value;
use engine::model::{Stall, TcpFacts};
use engine::schema::FlowFacts;
use serde_json::{Map, Value as Json};
use std::sync::OnceLock;

/// Keys of the facts the flow's own columns (and its partition) carry.
const OWN: [&str; 3] = ["facts", "sensor", "uid"];

/// The facts' columns and the shape they are read back into.
pub struct Layout {
    /// The template's shape: [`leaves`] walks it while the facts serialise, [`rebuild`]
    /// while they are read back.
    shape: Shape,
    /// Column names and kinds, in the order [`leaves`] gives values.
    pub columns: Vec<(String, Kind)>,
}

/// The template as a tree: each part's leaves (columns) in serialisation order.
enum Shape {
    /// A key the flow's own columns carry.
    Own,
    Leaf(Kind),
    /// A struct's fields (`keys`) or a tuple's items (no keys), and how many leaves they hold.
    Node {
        keys: Option<Vec<String>>,
        parts: Vec<Shape>,
        leaves: usize,
    },
}

impl Shape {
    fn of(t: &Json, top: bool) -> Shape {
        let node = |keys, parts: Vec<Shape>| {
            let leaves = parts.iter().map(Shape::leaves).sum();
            Shape::Node { keys, parts, leaves }
        };
        match t {
            Json::Object(m) => node(
                Some(m.keys().cloned().collect()),
                m.iter()
                    .map(|(k, v)| if top && OWN.contains(&k.as_str()) { Shape::Own } else { Shape::of(v, false) })
                    .collect(),
            ),
            Json::Array(a) => node(None, a.iter().map(|v| Shape::of(v, false)).collect()),
            Json::Bool(_) => Shape::Leaf(Kind::Bool),
            // A null leaf is a part the template left out (see the test).
            _ => Shape::Leaf(Kind::Int),
        }
    }

    fn leaves(&self) -> usize {
        match self {
            Shape::Own => 0,
            Shape::Leaf(_) => 1,
            Shape::Node { leaves, .. } => *leaves,
        }
    }

    /// The columns of the leaves under this part, named after their path from `path`.
    fn columns(&self, path: &str, out: &mut Vec<(String, Kind)>) {
        match self {
            Shape::Own => {}
            Shape::Leaf(k) => out.push((path.to_string(), *k)),
            Shape::Node { keys, parts, .. } => {
                for (i, part) in parts.iter().enumerate() {
                    let step = keys.as_ref().map_or_else(|| i.to_string(), |k| k[i].clone());
                    part.columns(&format!("{path}_{step}"), out);
                }
            }
        }
    }
}

/// The facts with every optional part present.
fn template() -> FlowFacts {
    let stall = Stall { recovered_ts: Some(0), ..Stall::default() };
    let tcp = TcpFacts {
        syn_ts: Some(0),
        synack_ts: Some(0),
        ack_ts: Some(0),
        orig_rst_ts: Some(0),
        resp_rst_ts: Some(0),
        orig_data: Some((0, 0)),
        resp_data: Some((0, 0)),
        orig_stall: stall,
        resp_stall: stall,
        ..TcpFacts::default()
    };
    FlowFacts {
        facts: 1,
        sensor: String::new(),
        uid: String::new(),
        ts_ns: 0,
        last_ts_ns: 0,
        rtt_synack_ns: Some(0),
        rtt_ack_ns: Some(0),
        missed_bytes: [0, 0],
        tcp: Some(tcp),
    }
}

/// The layout (made once).
pub fn layout() -> &'static Layout {
    static L: OnceLock<Layout> = OnceLock::new();
    L.get_or_init(|| {
        let shape = Shape::of(&serde_json::to_value(template()).expect("facts serialise"), true);
        let mut columns = Vec::new();
        shape.columns("facts", &mut columns);
        Layout { shape, columns }
    })
}

/// The facts of one flow as column values, in [`Layout::columns`] order. The facts'
/// own serialisation is walked against the template's shape (fields come in declaration
/// order): no JSON value is built, an absent part is as many nulls as it has leaves.
pub fn leaves(facts: &FlowFacts, out: &mut Vec<Value<'static>>) -> Result<(), Unsupported> {
    serde::Serialize::serialize(facts, Leaves { shape: &layout().shape, out })
}

/// A part of the facts the template does not foresee (a string where a number belongs...).
#[derive(Debug)]
pub struct Unsupported(String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a flow's facts as columns: {}", self.0)
    }
}

impl std::error::Error for Unsupported {}

impl serde::ser::Error for Unsupported {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

/// Serialises one part of the facts (of shape `shape`) as leaves.
struct Leaves<'a> {
    shape: &'a Shape,
    out: &'a mut Vec<Value<'static>>,
}

impl Leaves<'_> {
    fn leaf(self, v: Value<'static>) -> Result<(), Unsupported> {
        match self.shape {
            Shape::Leaf(_) => {
                self.out.push(v);
                Ok(())
            }
            Shape::Own => Ok(()),
            Shape::Node { .. } => Err(Unsupported("a value where the template has a struct".into())),
        }
    }

    fn int(self, n: i128) -> Result<(), Unsupported> {
        // Counts are u64 in the model; none reaches 2^63 (see the module docs of `dataset`).
        self.leaf(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
    }
}

/// The fields of a struct or the items of a tuple, one after the other.
struct Parts<'a> {
    shapes: &'a [Shape],
    at: usize,
    out: &'a mut Vec<Value<'static>>,
}

impl<'a> Parts<'a> {
    fn of(shape: &'a Shape, out: &'a mut Vec<Value<'static>>) -> Result<Self, Unsupported> {
        match shape {
            Shape::Node { parts, .. } => Ok(Parts { shapes: parts, at: 0, out }),
            _ => Err(Unsupported("a struct where the template has a value".into())),
        }
    }

    fn part<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
        let shape = self.shapes.get(self.at).ok_or_else(|| Unsupported("more parts than the template".into()))?;
        self.at += 1;
        v.serialize(Leaves { shape, out: self.out })
    }
}

/// Struct fields, tuple and sequence items: each the next part.
macro_rules! parts {
    ($($trait:ident :: $f:ident ($($key:ty)?);)*) => {$(
        impl serde::ser::$trait for Parts<'_> {
            type Ok = ();
            type Error = Unsupported;
            fn $f<T: serde::Serialize + ?Sized>(&mut self, $(_: $key,)? v: &T) -> Result<(), Unsupported> {
                self.part(v)
            }
            fn end(self) -> Result<(), Unsupported> {
                Ok(())
            }
        }
    )*};
}

parts! {
    SerializeStruct::serialize_field(&'static str);
    SerializeTuple::serialize_element();
    SerializeSeq::serialize_element();
}

macro_rules! unsupported {
    ($($f:ident($($t:ty),*) -> $r:ty;)*) => {$(
        fn $f(self, $(_: $t),*) -> Result<$r, Unsupported> {
            Err(Unsupported(concat!("a part serialised by ", stringify!($f)).into()))
        }
    )*};
}

impl<'a> serde::Serializer for Leaves<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Parts<'a>;
    type SerializeTuple = Parts<'a>;
    type SerializeTupleStruct = serde::ser::Impossible<(), Unsupported>;
    type SerializeTupleVariant = serde::ser::Impossible<(), Unsupported>;
    type SerializeMap = serde::ser::Impossible<(), Unsupported>;
    type SerializeStruct = Parts<'a>;
    type SerializeStructVariant = serde::ser::Impossible<(), Unsupported>;

    fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
        self.leaf(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<(), Unsupported> {
        self.int(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Unsupported> {
        self.int(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Unsupported> {
        self.int(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Unsupported> {
        self.int(v.into())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Unsupported> {
        self.int(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Unsupported> {
        self.int(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Unsupported> {
        self.int(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Unsupported> {
        self.int(v.into())
    }
    /// Only the flow's own keys (sensor, uid) are text; their columns are the flow's.
    fn serialize_str(self, _: &str) -> Result<(), Unsupported> {
        match self.shape {
            Shape::Own => Ok(()),
            _ => Err(Unsupported("text where the template has a number".into())),
        }
    }
    fn serialize_none(self) -> Result<(), Unsupported> {
        let n = self.shape.leaves();
        self.out.extend(std::iter::repeat_n(Value::Null, n));
        Ok(())
    }
    fn serialize_some<T: serde::Serialize + ?Sized>(self, v: &T) -> Result<(), Unsupported> {
        v.serialize(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Parts<'a>, Unsupported> {
        Parts::of(self.shape, self.out)
    }
    fn serialize_tuple(self, _: usize) -> Result<Parts<'a>, Unsupported> {
        Parts::of(self.shape, self.out)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Parts<'a>, Unsupported> {
        Parts::of(self.shape, self.out)
    }
    unsupported! {
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_char(char) -> ();
        serialize_bytes(&[u8]) -> ();
        serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
    fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Unsupported> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Unsupported> {
        Err(Unsupported("an enum".into()))
    }
}

/// The facts' JSON object from the column values (in [`Layout::columns`] order) of a flow
/// of `sensor` with `uid`: parts whose values are all null are left out (absent options).
pub fn rebuild(values: Vec<Json>, sensor: &str, uid: &str) -> Json {
    let mut it = values.into_iter();
    let mut obj = match shape(&layout().shape, &mut it) {
        Json::Object(m) => m,
        _ => Map::new(),
    };
    obj.insert("facts".into(), 1.into());
    obj.insert("sensor".into(), sensor.into());
    obj.insert("uid".into(), uid.into());
    Json::Object(obj)
}

/// The part of shape `s` from the values: null when all its values are (an absent option).
fn shape(s: &Shape, it: &mut impl Iterator<Item = Json>) -> Json {
    match s {
        Shape::Own => Json::Null,
        Shape::Leaf(_) => it.next().unwrap_or(Json::Null),
        Shape::Node { keys, parts, .. } => {
            let v: Vec<Json> = parts.iter().map(|p| shape(p, it)).collect();
            if v.iter().all(Json::is_null) {
                return Json::Null;
            }
            match keys {
                None => Json::Array(v),
                Some(keys) => Json::Object(keys.iter().cloned().zip(v).filter(|(_, x)| !x.is_null()).collect()),
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn leaves_of(t: &Json) -> Vec<&Json> {
        match t {
            Json::Object(m) => m.values().flat_map(leaves_of).collect(),
            Json::Array(a) => a.iter().flat_map(leaves_of).collect(),
            x => vec![x],
        }
    }

    #[test]
    fn the_template_has_every_part_and_facts_round_trip() {
        // A new optional field of the facts must be present in the template, or it would be
        // an int column of nulls.
        let l = layout();
        let t = serde_json::to_value(template()).unwrap();
        assert!(!leaves_of(&t).iter().any(|v| v.is_null()), "a part left out of the template");
        assert!(l.columns.iter().any(|c| c.0 == "facts_tcp_synack_ts_ns"));
        assert!(l.columns.iter().any(|c| c.0 == "facts_tcp_orig_data_ns_1"));
        assert!(l.columns.iter().all(|c| !c.0.starts_with("facts_uid") && !c.0.starts_with("facts_sensor")));

        let mut some = template();
        some.sensor = "s".into();
        some.uid = "C1".into();
        some.tcp.as_mut().unwrap().syn_ts = Some(1_307_491_200_000_009_000);
        some.tcp.as_mut().unwrap().ack_ts = None;
        let none = FlowFacts { tcp: None, rtt_synack_ns: None, ..some.clone() };
        for facts in [some, none] {
            let mut vals = Vec::new();
            leaves(&facts, &mut vals).unwrap();
            assert_eq!(vals.len(), l.columns.len());
            let json: Vec<Json> = vals
                .iter()
                .map(|v| match v {
                    Value::Int(n) => (*n).into(),
                    Value::Bool(b) => (*b).into(),
                    _ => Json::Null,
                })
                .collect();
            let back: FlowFacts = serde_json::from_value(rebuild(json, &facts.sensor, &facts.uid)).unwrap();
            assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&facts).unwrap());
        }
    }
}

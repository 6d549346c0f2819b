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
    template: Json,
    /// Column names and kinds, in the order [`leaves`] gives values.
    pub columns: Vec<(String, Kind)>,
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
        let template = serde_json::to_value(template()).expect("facts serialise");
        let mut columns = Vec::new();
        name(&template, "facts", true, &mut columns);
        Layout { template, columns }
    })
}

fn name(t: &Json, path: &str, top: bool, out: &mut Vec<(String, Kind)>) {
    match t {
        Json::Object(m) => {
            for (k, v) in m.iter().filter(|(k, _)| !top || !OWN.contains(&k.as_str())) {
                name(v, &format!("{path}_{k}"), false, out);
            }
        }
        Json::Array(a) => a.iter().enumerate().for_each(|(i, v)| name(v, &format!("{path}_{i}"), false, out)),
        Json::Bool(_) => out.push((path.to_string(), Kind::Bool)),
        // A null leaf is a part the template left out (see the test).
        _ => out.push((path.to_string(), Kind::Int)),
    }
}

/// The facts of one flow as column values, in [`Layout::columns`] order.
pub fn leaves(facts: &FlowFacts, out: &mut Vec<Value<'static>>) -> serde_json::Result<()> {
    let row = serde_json::to_value(facts)?;
    walk(&layout().template, &row, true, out);
    Ok(())
}

fn walk(t: &Json, r: &Json, top: bool, out: &mut Vec<Value<'static>>) {
    match t {
        Json::Object(m) => {
            for (k, v) in m.iter().filter(|(k, _)| !top || !OWN.contains(&k.as_str())) {
                walk(v, r.get(k).unwrap_or(&Json::Null), false, out);
            }
        }
        Json::Array(a) => a.iter().enumerate().for_each(|(i, v)| walk(v, r.get(i).unwrap_or(&Json::Null), false, out)),
        _ => out.push(match r {
            Json::Bool(b) => Value::Bool(*b),
            // Counts are u64 in the model; none reaches 2^63 (see the module docs of `dataset`).
            Json::Number(n) => Value::Int(n.as_i64().unwrap_or(i64::MAX)),
            _ => Value::Null,
        }),
    }
}

/// The facts' JSON object from the column values (in [`Layout::columns`] order) of a flow
/// of `sensor` with `uid`: parts whose values are all null are left out (absent options).
pub fn rebuild(values: Vec<Json>, sensor: &str, uid: &str) -> Json {
    let mut it = values.into_iter();
    let mut obj = match shape(&layout().template, &mut it, true) {
        Json::Object(m) => m,
        _ => Map::new(),
    };
    obj.insert("facts".into(), 1.into());
    obj.insert("sensor".into(), sensor.into());
    obj.insert("uid".into(), uid.into());
    Json::Object(obj)
}

fn shape(t: &Json, it: &mut impl Iterator<Item = Json>, top: bool) -> Json {
    match t {
        Json::Object(m) => {
            let mut o = Map::new();
            for (k, v) in m.iter().filter(|(k, _)| !top || !OWN.contains(&k.as_str())) {
                let x = shape(v, it, false);
                if !x.is_null() {
                    o.insert(k.clone(), x);
                }
            }
            if o.is_empty() && !top {
                Json::Null
            } else {
                Json::Object(o)
            }
        }
        Json::Array(a) => {
            let v: Vec<Json> = a.iter().map(|x| shape(x, it, false)).collect();
            if v.iter().all(Json::is_null) {
                Json::Null
            } else {
                Json::Array(v)
            }
        }
        _ => it.next().unwrap_or(Json::Null),
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
        assert!(!leaves_of(&l.template).iter().any(|v| v.is_null()), "a part left out of the template");
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

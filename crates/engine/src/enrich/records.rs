//! Naming records (the first enrichment): the sensor's addresses (given or inferred) decide each record's role and
//! which names (hosts files, DNS seen) it gets.

use crate::decode::Addr;
use crate::model::FlowRecord;
use crate::sensor::{self, SensorAddr};
use hashbrown::{HashMap, HashSet};

/// The addresses, as a set.
pub(crate) fn addrs_set(list: &[SensorAddr]) -> HashSet<Addr> {
    list.iter().map(|s| s.addr).collect()
}

/// Distinct addresses, sorted.
pub(crate) fn sorted_addrs(list: &[SensorAddr]) -> Vec<Addr> {
    let mut v: Vec<Addr> = list.iter().map(|s| s.addr).collect();
    v.sort();
    v.dedup();
    v
}

/// What completes a finished flow's record: the sensor's addresses (its role) and the names
/// learned from DNS so far or given in hosts files (its server name). Shared read-only with the
/// workers while they write the end of input's records (see [`EndPlan`]).
#[derive(Clone)]
pub(crate) struct Naming {
    pub(crate) names: crate::names::NameTable,
    pub(crate) hosts: std::sync::Arc<HashMap<Addr, String>>,
    pub(crate) sensor: HashSet<Addr>,
    /// The sensor's addresses in address order, for naming lookups (kept, not rebuilt per flow).
    pub(crate) sensor_sorted: Vec<Addr>,
}

impl Naming {
    /// Gives `rec` its server name (unless the flow named itself) and its role.
    pub(crate) fn complete(&self, rec: &mut FlowRecord) {
        if rec.server_name.is_none() {
            // The client's own answers first; then, when the client is the sensor, the
            // answers any of the sensor's addresses received (one host, several addresses:
            // DNS over IPv4 naming an IPv6 connection is the common case).
            let own = self.names.lookup(rec.orig_h, rec.resp_h, rec.ts);
            let name = own.or_else(|| {
                if !self.sensor.contains(&rec.orig_h) {
                    return None;
                }
                self.sensor_sorted.iter().find_map(|c| self.names.lookup(*c, rec.resp_h, rec.ts))
            });
            if let Some(n) = name {
                rec.server_name = Some(n.to_string());
                rec.name_source = Some("dns");
            } else if let Some(n) = self.hosts.get(&rec.resp_h) {
                rec.server_name = Some(n.clone());
                rec.name_source = Some("hosts");
            }
        }
        rec.role = sensor::role(rec, &self.sensor);
    }
}

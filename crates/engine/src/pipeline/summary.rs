//! The summary schema: what one sensor's run reports besides its records (volumes, talkers,
//! capture statistics), as `summary` and the analyses read it.

use crate::decode::{Addr, TunnelKind};
use crate::flow::TableStats;
use crate::model::Role;
use crate::sensor::SensorAddr;
use crate::source::FileSummary;
use serde::Serialize;

/// Counters of one family or direction bucket.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Volume {
    /// Packets.
    pub packets: u64,
    /// IP bytes.
    pub bytes: u64,
}

/// A remote (or any) address ranked by traffic.
#[derive(Debug, Clone, Serialize)]
pub struct Talker {
    /// Address.
    #[serde(serialize_with = "crate::model::ser_addr")]
    pub addr: Addr,
    /// Flows it took part in.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// IP bytes.
    pub bytes: u64,
}

/// Everything `summary` shows about one sensor.
#[derive(Debug, Clone, Serialize)]
pub struct SensorSummary {
    /// Sensor name.
    pub sensor: String,
    /// Input files.
    pub files: Vec<FileSummary>,
    /// Frames read.
    pub frames: u64,
    /// Captured bytes.
    pub captured_bytes: u64,
    /// Bytes on the wire (original lengths).
    pub wire_bytes: u64,
    /// First frame (ns since epoch).
    #[serde(serialize_with = "crate::model::epoch_opt")]
    pub first_ts: Option<i64>,
    /// Last frame.
    #[serde(serialize_with = "crate::model::epoch_opt")]
    pub last_ts: Option<i64>,
    /// Link types as (name, number, frames).
    pub linktypes: Vec<(String, u32, u64)>,
    /// Frames whose outermost network header is IPv4.
    pub outer_ipv4: u64,
    /// Frames whose outermost network header is IPv6.
    pub outer_ipv6: u64,
    /// Frames without IP.
    pub non_ip: u64,
    /// Frames whose innermost (flow) layer is IPv4.
    pub inner_ipv4: u64,
    /// Frames whose innermost (flow) layer is IPv6.
    pub inner_ipv6: u64,
    /// Tunnelled frames by encapsulation.
    pub tunnels: Vec<(TunnelKind, u64)>,
    /// VLAN-tagged frames.
    pub vlan_frames: u64,
    /// Fragments waiting for reassembly (not flow packets themselves).
    pub fragments: u64,
    /// Reassembled datagrams.
    pub reassembled: u64,
    /// Anomalies by name.
    pub anomalies: Vec<(&'static str, u64)>,
    /// Sensor addresses, with the reason for each.
    pub sensor_addrs: Vec<SensorAddr>,
    /// Whether they were inferred (not configured).
    pub sensor_addrs_inferred: bool,
    /// Flows by role.
    pub roles: Vec<(Role, u64)>,
    /// Volume by inner IP version: [IPv4, IPv6].
    pub by_family: [Volume; 2],
    /// Flow counts by protocol name.
    pub flows_by_proto: Vec<(&'static str, u64)>,
    /// Flow counts by conn_state.
    pub conn_states: Vec<(&'static str, u64)>,
    /// Flows written.
    pub flows: u64,
    /// Flow table statistics.
    pub table: TableStats,
    /// Top addresses other than the sensor's, by bytes.
    pub top_talkers: Vec<Talker>,
    /// Whether any file was damaged.
    pub damaged: bool,
}

//! Volume over time: IP bytes and packets per time bucket, per sensor, IP version, direction
//! (relative to the sensor), role and class, by capture time.
//!
//! Flows are the input, not packets: a flow's bytes are spread evenly over the span from its
//! first to its last packet, so a long download shows across the hours it lasted instead of
//! piling up at its start. Counts are kept per base bucket (60 s, or the requested bucket when
//! smaller) and regrouped at the end, so the bucket can be chosen after the whole capture was
//! seen. Memory grows with the observed time span and the number of series, never with packets.

use crate::model::{FlowRecord, Role};
use hashbrown::HashMap;
use serde::Serialize;

const MINUTE: i64 = 60_000_000_000;
/// A flow is spread over at most this many base buckets (beyond, the tail bucket takes the rest).
const MAX_SPREAD: i64 = 100_000;
/// Base cells kept at most; past it, flows land whole in their first bucket (hostile
/// timestamps could otherwise spread millions of flows over decades).
const MAX_CELLS: usize = 4_000_000;
/// Buckets in a finished timeline at most: a bucket the user asked for widens past it.
const MAX_BUCKETS: i64 = 100_000;

/// What one series counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SeriesKey {
    /// Sensor.
    pub sensor: String,
    /// 4 or 6.
    pub family: u8,
    /// `in` (received by the sensor), `out` (sent by it), `local` or `transit`.
    pub direction: &'static str,
    /// Role of the flows.
    pub role: &'static str,
    /// Class from the rules, empty when none matched.
    pub class: String,
}

/// A [`SeriesKey`] borrowed: hashes as the key does (same fields, same order; `&str` hashes as
/// `String`), so finding a flow's series allocates nothing.
#[derive(Hash)]
struct KeyRef<'a> {
    sensor: &'a str,
    family: u8,
    direction: &'static str,
    role: &'static str,
    class: &'a str,
}

impl hashbrown::Equivalent<SeriesKey> for KeyRef<'_> {
    fn equivalent(&self, k: &SeriesKey) -> bool {
        self.family == k.family
            && self.direction == k.direction
            && self.role == k.role
            && self.sensor == k.sensor
            && self.class == k.class
    }
}

/// One series over the timeline's buckets.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// What it counts.
    #[serde(flatten)]
    pub key: SeriesKey,
    /// IP bytes per bucket.
    pub bytes: Vec<u64>,
    /// Packets per bucket.
    pub packets: Vec<u64>,
    /// Flows that started in each bucket (counted once, on the originator's direction).
    pub flows: Vec<u64>,
}

/// One series' sums over a span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// IP bytes.
    pub bytes: u64,
    /// Packets.
    pub packets: u64,
    /// Flows that started in the span.
    pub flows: u64,
}

/// The bucketed result.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// Bucket width, ns.
    pub bucket_ns: i64,
    /// Start of the first bucket, ns since the epoch (`start` in JSON, in seconds).
    #[serde(rename = "start", serialize_with = "crate::model::epoch")]
    pub start_ns: i64,
    /// Number of buckets.
    pub buckets: usize,
    /// Series, ordered by key.
    pub series: Vec<Series>,
}

impl Timeline {
    /// Start time of bucket `i`.
    pub fn bucket_start(&self, i: usize) -> i64 {
        self.start_ns.saturating_add(self.bucket_ns.saturating_mul(i as i64))
    }
}

/// Bytes, packets (spread over a flow's span) and flow starts of one series in one base bucket.
#[derive(Clone, Copy, Default)]
struct Cell {
    bytes: f64,
    pkts: f64,
    flows: u64,
}

/// A cell with its place: (series, base bucket).
type Placed = ((u32, i64), Cell);

/// Accumulates flows.
#[derive(Clone)]
pub struct TimelineAcc {
    base_ns: i64,
    cells: HashMap<(u32, i64), Cell>,
    keys: Vec<SeriesKey>,
    index: HashMap<SeriesKey, u32>,
    first: Option<i64>,
    last: Option<i64>,
    /// The latest sensors and classes seen (at most [`RECENT`]), the one last used first.
    recent: Vec<Recent>,
}

/// Sensor and class pairs whose series are kept at hand.
const RECENT: usize = 8;

/// The series of one sensor and class, by family, role and side: a capture's flows share a few
/// such pairs, and finding a flow's series by hashing the key's strings was most of what a
/// flow cost the timeline.
#[derive(Clone)]
struct Recent {
    sensor: String,
    class: String,
    /// By [`Recent::slot`]; `u32::MAX`: not looked up yet.
    series: [u32; 16],
}

impl Recent {
    fn new(sensor: &str, class: &str) -> Recent {
        Recent { sensor: sensor.to_string(), class: class.to_string(), series: [u32::MAX; 16] }
    }

    /// Where a series is kept; `None` for a family other than 4 and 6 (not kept).
    fn slot(family: u8, role: Role, responder: bool) -> Option<usize> {
        let f = match family {
            4 => 0,
            6 => 1,
            _ => return None,
        };
        Some(f << 3 | (role as usize) << 1 | usize::from(responder))
    }
}

impl TimelineAcc {
    /// `bucket_ns`: the bucket the user asked for, when they did.
    pub fn new(bucket_ns: Option<i64>) -> TimelineAcc {
        let base_ns = bucket_ns.map_or(MINUTE, |b| b.clamp(1_000_000, MINUTE));
        TimelineAcc {
            base_ns,
            cells: HashMap::new(),
            keys: vec![],
            index: HashMap::new(),
            first: None,
            last: None,
            recent: Vec::new(),
        }
    }

    fn series(&mut self, key: KeyRef<'_>) -> u32 {
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let key = SeriesKey {
            sensor: key.sensor.to_string(),
            family: key.family,
            direction: key.direction,
            role: key.role,
            class: key.class.to_string(),
        };
        let i = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.index.insert(key, i);
        i
    }

    /// Adds one flow of `sensor`, tagged with `class` ("" for none).
    pub fn flow(&mut self, sensor: &str, rec: &FlowRecord, class: &str) {
        self.first = Some(self.first.map_or(rec.ts, |f| f.min(rec.ts)));
        self.last = Some(self.last.map_or(rec.last_ts, |l| l.max(rec.last_ts)));
        let (orig_dir, resp_dir) = match rec.role {
            Role::Outbound => ("out", "in"),
            Role::Inbound => ("in", "out"),
            Role::Local => ("local", "local"),
            Role::Transit => ("transit", "transit"),
        };
        let family = rec.ip_version();
        match self.recent.iter().position(|r| r.sensor == sensor && r.class == class) {
            Some(0) => {}
            Some(i) => self.recent[..=i].rotate_right(1),
            None => {
                self.recent.truncate(RECENT - 1);
                self.recent.insert(0, Recent::new(sensor, class));
            }
        }
        // The flow itself counts once: on the first side that sent anything.
        let mut flows = 1;
        for (responder, dir, side) in [(false, orig_dir, &rec.orig), (true, resp_dir, &rec.resp)] {
            if side.pkts == 0 {
                continue;
            }
            let key = KeyRef { sensor, family, direction: dir, role: rec.role.name(), class };
            let s = match Recent::slot(family, rec.role, responder) {
                Some(slot) if self.recent[0].series[slot] != u32::MAX => self.recent[0].series[slot],
                Some(slot) => {
                    let s = self.series(key);
                    self.recent[0].series[slot] = s;
                    s
                }
                None => self.series(key),
            };
            self.spread(s, rec.ts, rec.last_ts.max(rec.ts), side.ip_bytes as f64, side.pkts as f64, flows);
            flows = 0;
        }
    }

    /// Spreads `bytes` and `pkts` over [from, to]; `flows` (0 or 1) counts in the first bucket.
    fn spread(&mut self, s: u32, from: i64, to: i64, bytes: f64, pkts: f64, flows: u64) {
        let b0 = from.div_euclid(self.base_ns);
        let b1 = to.div_euclid(self.base_ns).min(b0.saturating_add(MAX_SPREAD));
        if b0 == b1 || to == from || self.cells.len() >= MAX_CELLS {
            let c = self.cells.entry((s, b0)).or_default();
            c.bytes += bytes;
            c.pkts += pkts;
            c.flows += flows;
            return;
        }
        let span = (i128::from(to) - i128::from(from)) as f64;
        for b in b0..=b1 {
            let lo = b.saturating_mul(self.base_ns).max(from);
            let hi = if b == b1 { to } else { (b + 1).saturating_mul(self.base_ns).min(to) };
            let share = (i128::from(hi) - i128::from(lo)).max(0) as f64 / span;
            let c = self.cells.entry((s, b)).or_default();
            c.bytes += bytes * share;
            c.pkts += pkts * share;
            if b == b0 {
                c.flows += flows;
            }
        }
    }

    /// Bytes, packets and flow starts per series over [from, to), at base-bucket precision (a
    /// base bucket counts when it starts inside the range).
    pub fn totals(&self, from: i64, to: i64) -> Vec<(SeriesKey, Totals)> {
        let mut sums = vec![Cell::default(); self.keys.len()];
        for (&(s, b), c) in &self.cells {
            let t = b.saturating_mul(self.base_ns);
            if t >= from && t < to {
                let sum = &mut sums[s as usize];
                sum.bytes += c.bytes;
                sum.pkts += c.pkts;
                sum.flows += c.flows;
            }
        }
        let mut v: Vec<(SeriesKey, Totals)> = self
            .keys
            .iter()
            .zip(sums)
            .map(|(k, c)| {
                (k.clone(), Totals { bytes: c.bytes.round() as u64, packets: c.pkts.round() as u64, flows: c.flows })
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// First and last capture time seen.
    pub fn span(&self) -> Option<(i64, i64)> {
        Some((self.first?, self.last?))
    }

    /// Regroups into buckets of `bucket_ns` (None: automatic, at most 150 buckets over the
    /// span) aligned on `origin_ns` (a bucket boundary, e.g. local midnight in the display zone).
    pub fn finish(&self, bucket_ns: Option<i64>, origin_ns: i64) -> Timeline {
        let Some(span) = self.span() else {
            return Timeline { bucket_ns: bucket_ns.unwrap_or(MINUTE), start_ns: 0, buckets: 0, series: vec![] };
        };
        let keys: Vec<u32> = (0..self.keys.len() as u32).collect();
        self.regroup(&keys, self.cells.iter().map(|(&k, c)| (k, *c)), span, bucket_ns, |_| origin_ns)
    }

    /// Each sensor's own timeline, over its own span with its own automatic bucket (None for
    /// a sensor whose bucket would be the whole timeline's): sensors whose captures cover
    /// different times, or spans of very different lengths, each get an axis that fits them.
    /// `origin`: the bucket boundary for a first capture time (local midnight).
    pub fn finish_per_sensor(&self, bucket_ns: i64, origin: impl Fn(i64) -> i64) -> Vec<(String, Timeline)> {
        let mut sensors: Vec<&str> = self.keys.iter().map(|k| k.sensor.as_str()).collect();
        sensors.sort_unstable();
        sensors.dedup();
        if sensors.len() < 2 {
            return vec![];
        }
        let mut cells: HashMap<&str, Vec<Placed>> = HashMap::new();
        for (&(s, b), c) in &self.cells {
            cells.entry(self.keys[s as usize].sensor.as_str()).or_default().push(((s, b), *c));
        }
        let mut out = vec![];
        for (sensor, cells) in cells {
            let first = cells.iter().map(|((_, b), _)| *b).min().unwrap_or(0).saturating_mul(self.base_ns);
            let last =
                cells.iter().map(|((_, b), _)| *b).max().unwrap_or(0).saturating_add(1).saturating_mul(self.base_ns)
                    - 1;
            let own = auto_bucket(last.saturating_sub(first).max(0)).max(self.base_ns);
            if own >= bucket_ns {
                continue;
            }
            let keys: Vec<u32> =
                (0..self.keys.len() as u32).filter(|&i| self.keys[i as usize].sensor == sensor).collect();
            let tl = self.regroup(&keys, cells.into_iter(), (first, last), Some(own), &origin);
            out.push((sensor.to_string(), tl));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The series `keys` (indices into `self.keys`) over `span`, from their base-bucket `cells`.
    fn regroup(
        &self,
        keys: &[u32],
        cells: impl Iterator<Item = Placed>,
        (first, last): (i64, i64),
        bucket_ns: Option<i64>,
        origin: impl Fn(i64) -> i64,
    ) -> Timeline {
        let origin_ns = origin(first);
        let span = last.saturating_sub(first).max(0);
        let bucket_ns = bucket_ns.unwrap_or_else(|| auto_bucket(span)).max(self.base_ns).max(span / MAX_BUCKETS + 1);
        // i128: capture times can sit anywhere in i64 (hostile timestamps); this cannot overflow.
        let align = |t: i64| {
            let (t, o, b) = (i128::from(t), i128::from(origin_ns), i128::from(bucket_ns));
            o + (t - o).div_euclid(b) * b
        };
        let start = align(first);
        let buckets =
            ((align(last) - start) / i128::from(bucket_ns) + 1).clamp(1, i128::from(MAX_BUCKETS) + 2) as usize;
        let start_ns = start.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        // Position of each series of `keys` in the result.
        let mut slot: HashMap<u32, usize> = HashMap::new();
        for (i, &k) in keys.iter().enumerate() {
            slot.insert(k, i);
        }
        let mut acc: Vec<Vec<Cell>> = vec![vec![Cell::default(); buckets]; keys.len()];
        for ((s, b), c) in cells {
            let Some(&k) = slot.get(&s) else { continue };
            let t = b.saturating_mul(self.base_ns);
            let i = ((align(t) - start) / i128::from(bucket_ns)).clamp(0, buckets as i128 - 1) as usize;
            let cell = &mut acc[k][i];
            cell.bytes += c.bytes;
            cell.pkts += c.pkts;
            cell.flows += c.flows;
        }
        let mut series: Vec<Series> = keys
            .iter()
            .zip(acc)
            .map(|(&k, cells)| Series {
                key: self.keys[k as usize].clone(),
                bytes: cells.iter().map(|c| c.bytes.round() as u64).collect(),
                packets: cells.iter().map(|c| c.pkts.round() as u64).collect(),
                flows: cells.iter().map(|c| c.flows).collect(),
            })
            .collect();
        series.sort_by(|a, b| a.key.cmp(&b.key));
        Timeline { bucket_ns, start_ns, buckets, series }
    }
}

/// The smallest round bucket that gives at most 150 buckets over `span_ns` (five days → hours).
pub fn auto_bucket(span_ns: i64) -> i64 {
    const CHOICES: [i64; 9] = [1, 5, 15, 30, 60, 180, 360, 720, 1440];
    for m in CHOICES {
        if span_ns / (m * MINUTE) <= 150 {
            return m * MINUTE;
        }
    }
    let days = span_ns / (1440 * MINUTE) / 150 + 1;
    days * 1440 * MINUTE
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::decode::Addr;
    use crate::model::SideCounters;

    fn rec(ts: i64, last: i64, role: Role, orig_bytes: u64, resp_bytes: u64) -> FlowRecord {
        FlowRecord {
            uid: "C1".into(),
            ts,
            last_ts: last,
            orig_h: Addr::from_ip("2001:db8::1".parse().unwrap()),
            orig_p: 1,
            resp_h: Addr::from_ip("2001:db8::2".parse().unwrap()),
            resp_p: 80,
            ip_proto: 6,
            conn_state: crate::model::ConnState::SF,
            orig: SideCounters { pkts: 10, ip_bytes: orig_bytes, ..Default::default() },
            resp: SideCounters { pkts: 20, ip_bytes: resp_bytes, ..Default::default() },
            role,
            ..FlowRecord::empty()
        }
    }

    #[test]
    fn long_flows_are_spread_over_their_span_and_directions_follow_the_role() {
        let hour = 60 * MINUTE;
        let mut t = TimelineAcc::new(None);
        // Two hours, 7200 bytes down: 3600 per hour.
        t.flow("hp", &rec(0, 2 * hour, Role::Outbound, 100, 7200), "");
        t.flow("hp", &rec(2 * hour + 1, 2 * hour + 2, Role::Inbound, 50, 0), "");
        let tl = t.finish(Some(hour), 0);
        assert_eq!(tl.buckets, 3);
        let get =
            |dir: &str, role: &str| tl.series.iter().find(|s| s.key.direction == dir && s.key.role == role).unwrap();
        assert_eq!(get("in", "outbound").bytes, vec![3600, 3600, 0]);
        assert_eq!(get("out", "outbound").bytes.iter().sum::<u64>(), 100);
        assert_eq!(get("in", "inbound").bytes, vec![0, 0, 50]);
        assert!(tl.series.iter().all(|s| s.key.family == 6));
        // Each flow counted once, where it started, on the side that opened it.
        assert_eq!(get("out", "outbound").flows, vec![1, 0, 0]);
        assert_eq!(get("in", "outbound").flows, vec![0, 0, 0]);
        assert_eq!(get("in", "inbound").flows, vec![0, 0, 1]);
    }

    #[test]
    fn a_sensor_with_a_short_span_gets_its_own_timeline() {
        let hour = 60 * MINUTE;
        let mut t = TimelineAcc::new(None);
        t.flow("long", &rec(0, 1, Role::Outbound, 1, 1), "");
        t.flow("long", &rec(120 * hour, 120 * hour + 1, Role::Outbound, 1, 1), "");
        for m in 0..10 {
            t.flow("short", &rec(50 * hour + m * MINUTE, 50 * hour + m * MINUTE + 1, Role::Outbound, 100, 0), "");
        }
        let whole = t.finish(None, 0);
        assert_eq!(whole.bucket_ns, hour);
        let own = t.finish_per_sensor(whole.bucket_ns, |_| 0);
        assert_eq!(own.len(), 1, "only the short one");
        let (name, tl) = &own[0];
        assert_eq!(name, "short");
        assert_eq!(tl.bucket_ns, MINUTE);
        assert_eq!(tl.start_ns, 50 * hour);
        assert_eq!(tl.buckets, 10);
        assert!(tl.series.iter().all(|s| s.key.sensor == "short"));
        let flows: u64 = tl.series.iter().flat_map(|s| &s.flows).sum();
        assert_eq!(flows, 10);
        assert_eq!(tl.series.iter().flat_map(|s| &s.bytes).sum::<u64>(), 1000);
    }

    /// Series found through the recent-pairs shortcut are the ones the key names, however
    /// sensors, classes, families and roles alternate (more pairs than the shortcut keeps).
    #[test]
    fn every_flow_lands_in_its_own_series() {
        let mut t = TimelineAcc::new(None);
        let mut want: std::collections::BTreeMap<(String, u8, &str, &str, String), u64> = Default::default();
        for i in 0..400u64 {
            // Runs of one pair, revisited after others pushed it out.
            let (sensor, class) = (format!("s{}", i / 13 % 3), format!("c{}", i / 7 % (RECENT as u64 + 3)));
            let role = Role::ALL[(i % 4) as usize];
            let mut r = rec(i as i64, i as i64, role, 1 + i, 1000 + i);
            if i % 3 == 0 {
                r.orig_h = Addr::v4([192, 0, 2, 1]);
                r.resp_h = Addr::v4([192, 0, 2, 2]);
            }
            let answered = i % 2 == 1;
            if !answered {
                r.resp.pkts = 0;
            }
            t.flow(&sensor, &r, &class);
            let (orig, resp) = match role {
                Role::Outbound => ("out", "in"),
                Role::Inbound => ("in", "out"),
                Role::Local => ("local", "local"),
                Role::Transit => ("transit", "transit"),
            };
            let key = |dir| (sensor.clone(), r.ip_version(), dir, role.name(), class.clone());
            *want.entry(key(orig)).or_default() += 1 + i;
            if answered {
                *want.entry(key(resp)).or_default() += 1000 + i;
            }
        }
        let tl = t.finish(None, 0);
        let got: std::collections::BTreeMap<_, u64> = tl
            .series
            .iter()
            .map(|s| {
                let k = &s.key;
                ((k.sensor.clone(), k.family, k.direction, k.role, k.class.clone()), s.bytes.iter().sum())
            })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn hostile_time_spans_stay_bounded() {
        let mut t = TimelineAcc::new(Some(MINUTE));
        t.flow("hp", &rec(0, 2_000_000_000_000_000_000, Role::Outbound, 1, 1), "");
        t.flow("hp", &rec(-5_000_000_000_000_000_000, -4_999_999_999_000_000_000, Role::Inbound, 1, 1), "");
        let tl = t.finish(Some(MINUTE), 0);
        assert!(tl.buckets as i64 <= MAX_BUCKETS + 2, "{}", tl.buckets);
        assert!(t.cells.len() as i64 <= 2 * MAX_SPREAD + 4);
    }

    #[test]
    fn buckets_align_on_the_origin_and_auto_choice_is_round() {
        let hour = 60 * MINUTE;
        let mut t = TimelineAcc::new(None);
        t.flow("hp", &rec(10 * hour + 5, 10 * hour + 6, Role::Outbound, 1, 1), "");
        // Day buckets aligned on 15:00 UTC (midnight in UTC+9).
        let tl = t.finish(Some(24 * hour), 15 * hour);
        assert_eq!(tl.start_ns, 15 * hour - 24 * hour);
        assert_eq!(auto_bucket(5 * 24 * hour), hour);
        assert_eq!(auto_bucket(2 * hour), MINUTE);
        assert_eq!(auto_bucket(400 * 24 * hour), 3 * 24 * hour);
    }
}

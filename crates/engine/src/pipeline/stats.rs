//! Counting while frames pass: the per-worker frame counters and flow tallies that become a
//! [`SensorSummary`], bounded (at most `MAX_TALKERS` talkers per sensor).

use super::merge::{uid_key, UidKey};
use super::summary::Volume;
use crate::decode::{Addr, AnomalyCounts, TunnelKind};
use crate::model::{FlowRecord, Role};
use crate::source::FrameMeta;
use hashbrown::{HashMap, HashSet};

/// Addresses tracked for top talkers at most (a scan must not grow memory).
pub(super) const MAX_TALKERS: usize = 100_000;

#[derive(Default)]
pub(super) struct Accumulator {
    pub(super) roles: HashMap<Role, u64>,
    pub(super) protos: HashMap<&'static str, u64>,
    pub(super) states: HashMap<&'static str, u64>,
    pub(super) talkers: HashMap<Addr, Talked>,
    pub(super) flows: u64,
    /// See [`Options::no_tally`].
    pub(super) no_tally: bool,
}

impl Accumulator {
    /// Counts a record (its role already assigned); `sensor`: the sensor's addresses.
    pub(super) fn add(&mut self, rec: &FlowRecord, sensor: &HashSet<Addr>) {
        self.flows += 1;
        if self.no_tally {
            return;
        }
        self.kinds(rec);
        for (_, a, add) in talkers_of(rec, sensor) {
            if let Some(t) = self.talkers.get_mut(&a) {
                bump(t, add);
            } else if self.talkers.len() < MAX_TALKERS {
                self.talkers.insert(a, add);
            }
        }
    }

    /// Counts a record's role, protocol and state.
    fn kinds(&mut self, rec: &FlowRecord) {
        *self.roles.entry(rec.role).or_default() += 1;
        *self.protos.entry(rec.proto_name()).or_default() += 1;
        *self.states.entry(rec.conn_state.name()).or_default() += 1;
    }

    /// Adds the workers' tallies of the end-of-input records, which follow every record
    /// counted so far: the sum one count in output order makes. Talkers new to the table are
    /// taken in the order they first appear in the output until it is full, as such a count
    /// takes them.
    pub(super) fn add_end(&mut self, parts: Vec<EndTally>) {
        let mut new: HashMap<Addr, (Appeared, Talked)> = HashMap::new();
        for p in parts {
            self.flows += p.counts.flows;
            for (k, n) in p.counts.roles {
                *self.roles.entry(k).or_default() += n;
            }
            for (k, n) in p.counts.protos {
                *self.protos.entry(k).or_default() += n;
            }
            for (k, n) in p.counts.states {
                *self.states.entry(k).or_default() += n;
            }
            for (a, (first, add)) in p.talkers {
                match self.talkers.get_mut(&a) {
                    Some(t) => bump(t, add),
                    None => {
                        let e = new.entry(a).or_insert((first, (0, 0, 0)));
                        e.0 = e.0.min(first);
                        bump(&mut e.1, add);
                    }
                }
            }
        }
        let mut new: Vec<_> = new.into_iter().collect();
        new.sort_unstable_by_key(|(_, (first, _))| *first);
        let room = MAX_TALKERS.saturating_sub(self.talkers.len());
        self.talkers.extend(new.into_iter().take(room).map(|(a, (_, t))| (a, t)));
    }
}

/// A talker's flows, packets and IP bytes.
type Talked = (u64, u64, u64);

fn bump(t: &mut Talked, (flows, pkts, bytes): Talked) {
    t.0 += flows;
    t.1 += pkts;
    t.2 += bytes;
}

/// The addresses of a record that count as talkers (not the sensor's, not multicast or
/// broadcast), by side (0: the originator), each with what the record adds to it.
fn talkers_of<'r>(rec: &'r FlowRecord, sensor: &'r HashSet<Addr>) -> impl Iterator<Item = (u8, Addr, Talked)> + 'r {
    let add = (1, rec.orig.pkts + rec.resp.pkts, rec.orig.ip_bytes + rec.resp.ip_bytes);
    [(0, rec.orig_h), (1, rec.resp_h)]
        .into_iter()
        .filter(|(_, a)| !sensor.contains(a) && !a.is_multicast_or_broadcast())
        .map(move |(side, a)| (side, a, add))
}

/// Where a talker first appears among the end-of-input records: their output order (start
/// time, uid), then the side (originator first).
type Appeared = (i64, UidKey, u8);

/// One worker's count of the end-of-input records it completed (see
/// [`super::merge::EndPlan::tally`]): as [`Accumulator`] counts them, every talker kept with
/// where it first appeared, for [`Accumulator::add_end`]. Holds at most two talkers per flow
/// the worker had left.
#[derive(Default)]
pub(super) struct EndTally {
    counts: Accumulator,
    talkers: HashMap<Addr, (Appeared, Talked)>,
}

impl EndTally {
    /// Counts a record, given in output order; `sensor`: the sensor's addresses.
    pub(super) fn add(&mut self, rec: &FlowRecord, sensor: &HashSet<Addr>) {
        self.counts.flows += 1;
        self.counts.kinds(rec);
        let uid = uid_key(&rec.uid);
        for (side, a, add) in talkers_of(rec, sensor) {
            bump(&mut self.talkers.entry(a).or_insert(((rec.ts, uid, side), (0, 0, 0))).1, add);
        }
    }
}

pub(super) fn sorted<K: Ord + Copy>(m: &HashMap<K, u64>) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = m.iter().map(|(k, n)| (*k, *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// Frame-level counters; each worker counts the frames whose index it owns, then they add up.
#[derive(Default)]
pub(super) struct FrameCounters {
    pub(super) frames: u64,
    pub(super) captured: u64,
    pub(super) wire: u64,
    pub(super) first_ts: Option<i64>,
    pub(super) last_ts: Option<i64>,
    pub(super) outer4: u64,
    pub(super) outer6: u64,
    pub(super) non_ip: u64,
    pub(super) inner4: u64,
    pub(super) inner6: u64,
    pub(super) vlan: u64,
    pub(super) frags: u64,
    pub(super) reasm: u64,
    pub(super) tunnels: HashMap<TunnelKind, u64>,
    pub(super) by_family: [Volume; 2],
    pub(super) anomalies: AnomalyCounts,
    pub(super) live: LiveSamples,
}

impl FrameCounters {
    pub(super) fn count(&mut self, f: &FrameMeta, d: &crate::decode::Decoded<'_>) {
        self.frames += 1;
        self.captured += f.len as u64;
        self.wire += u64::from(f.orig_len);
        self.first_ts = Some(self.first_ts.map_or(f.ts, |x| x.min(f.ts)));
        self.last_ts = Some(self.last_ts.map_or(f.ts, |x| x.max(f.ts)));
        self.anomalies.add_set(d.anomalies);
        match d.outer_version {
            4 => self.outer4 += 1,
            6 => self.outer6 += 1,
            _ => self.non_ip += 1,
        }
        if d.vlan_tags > 0 {
            self.vlan += 1;
        }
        if let Some(t) = d.tunnel {
            *self.tunnels.entry(t.kind).or_default() += 1;
        }
        if d.fragment_pending {
            self.frags += 1;
        }
        if let (Some(net), false) = (d.net, d.fragment_pending) {
            let fam = usize::from(net.src.version == 6);
            self.by_family[fam].packets += 1;
            self.by_family[fam].bytes += u64::from(net.ip_len);
            if net.src.version == 4 {
                self.inner4 += 1;
            } else {
                self.inner6 += 1;
            }
            if net.fragments > 0 {
                self.reasm += 1;
            }
        }
    }

    pub(super) fn merge(&mut self, o: FrameCounters) {
        self.live.add(&o.live);
        self.frames += o.frames;
        self.captured += o.captured;
        self.wire += o.wire;
        self.first_ts = match (self.first_ts, o.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ts = match (self.last_ts, o.last_ts) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.outer4 += o.outer4;
        self.outer6 += o.outer6;
        self.non_ip += o.non_ip;
        self.inner4 += o.inner4;
        self.inner6 += o.inner6;
        self.vlan += o.vlan;
        self.frags += o.frags;
        self.reasm += o.reasm;
        for (k, n) in o.tunnels {
            *self.tunnels.entry(k).or_default() += n;
        }
        for i in 0..2 {
            self.by_family[i].packets += o.by_family[i].packets;
            self.by_family[i].bytes += o.by_family[i].bytes;
        }
        self.anomalies.merge(&o.anomalies);
    }
}

/// Samples kept at most: when they fill, every other one is dropped and the spacing doubles, so
/// the peak is exact up to this many frames and sampled on a growing grid beyond.
const MAX_LIVE_SAMPLES: usize = 1 << 16;

/// One worker's live-flow count sampled at fixed frame indices (and at end of input). Every
/// worker sees every frame and expires flows at the same frames, so the workers' samples add up
/// to what one worker would count: the peak of the sum is the same for any number of threads,
/// where the sum of each worker's own peak depends on which flows the per-process hash seed
/// gave it. Bounded: at most [`MAX_LIVE_SAMPLES`] samples, every frame's at first.
#[derive(Debug)]
pub(super) struct LiveSamples {
    /// Frames between samples.
    every: u64,
    /// Frames until the next sample.
    left: u64,
    counts: Vec<u32>,
}

impl Default for LiveSamples {
    fn default() -> Self {
        LiveSamples { every: 1, left: 1, counts: Vec::new() }
    }
}

impl LiveSamples {
    /// After each frame: samples `live` when the frame is on the grid.
    #[inline]
    pub(super) fn frame(&mut self, live: usize) {
        self.left -= 1;
        if self.left == 0 {
            self.sample(live);
        }
    }

    /// Takes the sample of a frame on the grid (out of line: one frame in `every`).
    #[inline(never)]
    fn sample(&mut self, live: usize) {
        self.counts.push(u32::try_from(live).unwrap_or(u32::MAX));
        if self.counts.len() >= MAX_LIVE_SAMPLES {
            // Keep the samples on the doubled grid (every 2·every frames; the count is even, so
            // this one is on it), as every worker does at the same frame.
            let kept: Vec<u32> = self.counts.iter().skip(1).step_by(2).copied().collect();
            self.counts = kept;
            self.every *= 2;
        }
        self.left = self.every;
    }

    /// End of input, before the live flows are written.
    pub(super) fn end(&mut self, live: usize) {
        self.counts.push(u32::try_from(live).unwrap_or(u32::MAX));
    }

    /// Adds another worker's samples, sample by sample.
    pub(super) fn add(&mut self, o: &LiveSamples) {
        if self.counts.len() < o.counts.len() {
            self.counts.resize(o.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a = a.saturating_add(*b);
        }
    }

    /// The highest sample.
    pub(super) fn peak(&self) -> u64 {
        self.counts.iter().copied().max().map_or(0, u64::from)
    }
}

#[cfg(test)]
mod test {
    use super::LiveSamples;

    /// Two workers' samples add up to one worker's whatever the split, and the bound keeps the
    /// grid aligned.
    #[test]
    fn live_samples_add_up_across_workers_and_stay_bounded() {
        let total = |i: u64| (i * 7919 % 5000) as usize;
        let (mut one, mut a, mut b) = (LiveSamples::default(), LiveSamples::default(), LiveSamples::default());
        let frames = 5 * super::MAX_LIVE_SAMPLES as u64 + 3;
        for i in 0..frames {
            let t = total(i);
            let split = (i as usize * 31) % (t + 1);
            one.frame(t);
            a.frame(split);
            b.frame(t - split);
        }
        one.end(3);
        a.end(1);
        b.end(2);
        a.add(&b);
        assert_eq!(a.counts, one.counts);
        assert!(one.counts.len() < super::MAX_LIVE_SAMPLES);
        assert_eq!(one.peak(), a.peak());
        // Exact while the samples last: every frame's count is kept.
        let mut short = LiveSamples::default();
        for live in [1, 5, 2, 0] {
            short.frame(live);
        }
        short.end(0);
        assert_eq!(short.peak(), 5);
    }

    /// Workers' tallies of the end-of-input records add up to what one count of the same
    /// records in output order makes, the talkers table filling up among them included.
    #[test]
    fn end_tallies_add_up_to_one_count_in_output_order() {
        use super::{Accumulator, EndTally, MAX_TALKERS};
        use crate::decode::Addr;
        use crate::model::{FlowRecord, SideCounters};
        let addr = |i: u32| {
            Addr::v6(
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0]
                    .into_iter()
                    .chain(i.to_be_bytes())
                    .collect::<Vec<u8>>()
                    .try_into()
                    .unwrap(),
            )
        };
        // A table with room for three more talkers.
        let mut before = Accumulator::default();
        for i in 0..(MAX_TALKERS - 3) as u32 {
            before.talkers.insert(addr(1_000_000 + i), (1, 1, 1));
        }
        let sensor = hashbrown::HashSet::from([addr(0)]);
        // End records in output order (start time, uid); a talker seen before, the sensor,
        // and new talkers on both sides, some on both workers.
        let ends: Vec<FlowRecord> = [(1, 0, 7), (2, 7, 1_000_000), (3, 8, 9), (4, 9, 7), (5, 10, 11), (6, 12, 8)]
            .into_iter()
            .map(|(ts, o, r)| FlowRecord {
                uid: format!("C{ts:011}"),
                ts,
                orig_h: addr(o),
                resp_h: addr(r),
                ip_proto: 6,
                orig: SideCounters { pkts: ts as u64, ip_bytes: 100, ..Default::default() },
                resp: SideCounters { pkts: 1, ip_bytes: 10, ..Default::default() },
                ..FlowRecord::empty()
            })
            .collect();
        let mut one = Accumulator { talkers: before.talkers.clone(), ..Accumulator::default() };
        for r in &ends {
            one.add(r, &sensor);
        }
        // Two workers, each given its flows in output order.
        let mut parts = [EndTally::default(), EndTally::default()];
        for (i, r) in ends.iter().enumerate() {
            parts[[0, 1, 1, 0, 1, 0][i]].add(r, &sensor);
        }
        let mut split = before;
        split.add_end(parts.into());
        assert_eq!(split.flows, one.flows);
        assert_eq!(split.talkers.len(), MAX_TALKERS);
        assert_eq!(split.talkers, one.talkers);
        // The three that got in: 7, 8 and 9 (first seen by flows 1 and 3); 10, 11, 12 came too late.
        for (i, inside) in [(7, true), (8, true), (9, true), (10, false), (11, false), (12, false)] {
            assert_eq!(split.talkers.contains_key(&addr(i)), inside, "{i}");
        }
        assert_eq!(split.talkers[&addr(1_000_000)], (2, 4, 111));
    }
}

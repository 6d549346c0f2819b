//! Putting the workers' outputs back in one order: records and events are placed by capture
//! time and uid, so the output is identical for any number of threads.

use super::sink::{FlowSink, RecordFormat};
use super::stats::{Accumulator, EndTally, FrameCounters, MAX_TALKERS};
use super::threads::StartPlan;
use crate::enrich::records::{addrs_set, sorted_addrs, Naming};
use crate::flow::TableStats;
use crate::model::{AppEvent, EventKind, FlowRecord};
use crate::sensor::{self, Inference, SensorAddr};

/// What the engine hands to the merging side, in order.
pub(super) enum Output {
    /// A finished flow.
    Flow(Box<FlowRecord>),
    /// An end-of-input flow its worker already completed (names, roles) and, when the plan
    /// said so, counted (see [`EndPlan`]).
    Completed(Box<FlowRecord>),
    /// An application event.
    Event(AppEvent),
}

impl Output {
    /// Sort key within one frame: flows before events, then start time, then uid.
    pub(super) fn key(&self) -> RecKey<'_> {
        match self {
            Output::Flow(r) | Output::Completed(r) => (0, r.ts, r.uid.as_bytes()),
            Output::Event(e) => {
                let h = e.head();
                (1, h.ts, h.uid.as_bytes())
            }
        }
    }
}

/// Sort key of a record among those ending at the same frame (see [`Output::key`]).
pub(super) type RecKey<'a> = (u8, i64, &'a [u8]);

/// Where a record goes in the output: the index of the frame that ended it, then its key.
pub(super) type Place<'a> = (u64, RecKey<'a>);

/// A flow's uid as the merge compares it (uids are `C` and 11 base-62 digits).
pub(super) type UidKey = [u8; 12];

pub(super) fn uid_key(uid: &str) -> UidKey {
    let mut k = [0; 12];
    let n = uid.len().min(12);
    k[..n].copy_from_slice(&uid.as_bytes()[..n]);
    k
}

/// End-of-input flow records a worker completed and formatted, in canonical order: one buffer
/// per chunk instead of a boxed record each (the merging thread only copies bytes out).
#[derive(Default)]
pub(super) struct Lines {
    /// Per record: start time and uid (the merge key), and where its bytes end.
    pub(super) keys: Vec<(i64, UidKey, usize)>,
    pub(super) bytes: Vec<u8>,
    /// Records already written.
    pub(super) next: usize,
}

impl Lines {
    pub(super) fn front_key(&self) -> Option<Place<'_>> {
        self.keys.get(self.next).map(|(ts, uid, _)| (u64::MAX, (0, *ts, &uid[..])))
    }

    /// The next record's bytes.
    pub(super) fn pop(&mut self) -> Option<&[u8]> {
        let (_, _, end) = *self.keys.get(self.next)?;
        let start = if self.next == 0 { 0 } else { self.keys[self.next - 1].2 };
        self.next += 1;
        self.bytes.get(start..end)
    }

    pub(super) fn is_done(&self) -> bool {
        self.next >= self.keys.len()
    }
}

/// Orders records that ended at the same frame: by start time, then uid (both independent of
/// how flows were spread over workers), so output is identical for any thread count.
pub(super) fn canonical(recs: &mut [(u64, Output)]) {
    // Stable: events of one flow keep the order they were produced in.
    recs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.key().cmp(&b.1.key())));
}

/// How a worker hands over its end-of-input flow records: completed with the naming state as
/// it stands once every earlier record was written (no later record can change it: events
/// sort after the end's flows), and formatted for the sink when it formats records. Done by
/// the workers side by side, not by the merging thread one record after another.
#[derive(Clone)]
pub(super) struct EndPlan {
    pub(super) naming: std::sync::Arc<Naming>,
    /// The sink's record format, when it has one and nothing but the records is asked of it:
    /// the workers write the records' bytes.
    pub(super) format: Option<std::sync::Arc<dyn RecordFormat>>,
    /// The workers count the records in tallies of their own, added up at the end.
    pub(super) tally: bool,
}

/// The merging side's state: sensor addresses, records waiting for them, and the totals.
pub(super) struct Collector<'s> {
    pub(super) sink: &'s mut dyn FlowSink,
    pub(super) sensor: &'s str,
    pub(super) sensor_addrs: Vec<SensorAddr>,
    pub(super) decided: bool,
    /// Sensor-address evidence merged so far, and how many shares (one per worker) are still
    /// to come.
    pub(super) evidence: Option<Box<Inference>>,
    pub(super) shares_due: usize,
    pub(super) pending: Vec<Output>,
    pub(super) acc: Accumulator,
    /// The workers count their end-of-input records themselves (see [`EndPlan::tally`]).
    pub(super) end_tally: bool,
    /// Their counts, added once all are in ([`Accumulator::add_end`]).
    pub(super) end_tallies: Vec<EndTally>,
    pub(super) naming: std::sync::Arc<Naming>,
    pub(super) counters: FrameCounters,
    pub(super) table: TableStats,
    pub(super) expired_frags: u64,
}

impl Collector<'_> {
    /// One worker's share of the evidence; the last share decides the sensor's addresses.
    pub(super) fn evidence(&mut self, share: Box<Inference>) -> std::io::Result<()> {
        match &mut self.evidence {
            Some(e) => e.merge(*share),
            None => self.evidence = Some(share),
        }
        self.shares_due = self.shares_due.saturating_sub(1);
        if self.shares_due > 0 {
            return Ok(());
        }
        match self.evidence.take() {
            Some(e) => self.decision(e.decide()),
            None => Ok(()),
        }
    }

    /// Sensor addresses are known: assign roles to the records that waited for them.
    pub(super) fn decision(&mut self, addrs: Vec<SensorAddr>) -> std::io::Result<()> {
        if self.decided {
            return Ok(());
        }
        self.sensor_addrs = addrs;
        let (set, sorted) = (addrs_set(&self.sensor_addrs), sorted_addrs(&self.sensor_addrs));
        let naming = self.naming_mut();
        naming.sensor = set;
        naming.sensor_sorted = sorted;
        self.decided = true;
        for r in std::mem::take(&mut self.pending) {
            self.output(r)?;
        }
        Ok(())
    }

    /// One output in final order: to the sink once roles can be assigned, else it waits.
    pub(super) fn output(&mut self, o: Output) -> std::io::Result<()> {
        if !self.decided {
            self.pending.push(o);
            return Ok(());
        }
        match o {
            Output::Flow(mut rec) => {
                self.naming.complete(&mut rec);
                self.acc.add(&rec, &self.naming.sensor);
                self.sink.flow(self.sensor, &rec)
            }
            Output::Completed(rec) => {
                if !self.end_tally {
                    self.acc.add(&rec, &self.naming.sensor);
                }
                self.sink.flow(self.sensor, &rec)
            }
            Output::Event(ev) => {
                if let AppEvent::Dns(d) = &ev {
                    self.naming_mut().names.learn(d);
                }
                self.sink.event(self.sensor, &ev)
            }
        }
    }

    /// Per [`EventKind`]: whether events of that kind are passed on — those the sink reads
    /// (see [`FlowSink::wants`]), and DNS always: its answers name flows.
    pub(super) fn keep(&self) -> [bool; EventKind::ALL.len()] {
        let mut keep = EventKind::ALL.map(|k| self.sink.wants(k));
        keep[EventKind::Dns as usize] = true;
        keep
    }

    /// What the shards start with; `stream`: see [`FrameSource::is_stream`].
    pub(super) fn start_plan(&self, stream: bool) -> StartPlan {
        let window_span = if stream { sensor::INFER_SPAN } else { i64::MAX };
        StartPlan { configured: self.decided, keep: self.keep(), window_span }
    }

    /// A flow record a worker completed and formatted (see [`EndPlan`]), in final order.
    pub(super) fn line(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.acc.flows += 1;
        self.sink.formatted(bytes)
    }

    /// The naming state, to change it. Shared only while workers write the end of input's
    /// flows, and nothing changes it then (the events that teach names come after those
    /// flows), so this never copies; if it ever had to, the copy keeps it correct.
    pub(super) fn naming_mut(&mut self) -> &mut Naming {
        std::sync::Arc::make_mut(&mut self.naming)
    }

    /// How the workers hand over their end-of-input flows (`live` of them in all), once roles
    /// are known (see [`EndPlan`]).
    pub(super) fn end_plan(&mut self, live: u64) -> Option<EndPlan> {
        if !self.decided {
            return None;
        }
        let format = if self.acc.no_tally { self.sink.formatter(self.sensor).map(std::sync::Arc::from) } else { None };
        // The workers' tallies keep every talker of their flows (two a flow at most) until
        // they are added up: only when that stays within twice the talkers' own bound. A
        // full flow table (a flood) is counted here, as the records come, in the table's
        // bound.
        self.end_tally = !self.acc.no_tally && live <= MAX_TALKERS as u64;
        Some(EndPlan { naming: self.naming.clone(), format, tally: self.end_tally })
    }

    pub(super) fn done(&mut self, c: FrameCounters, tally: EndTally, t: TableStats, expired: u64) {
        self.counters.merge(c);
        self.end_tallies.push(tally);
        self.table.created += t.created;
        self.table.evicted += t.evicted;
        // The peak of the workers' summed samples, not the sum of their peaks (see LiveSamples).
        self.table.peak_live = self.counters.live.peak();
        self.table.packets += t.packets;
        self.table.icmp_errors_matched += t.icmp_errors_matched;
        self.expired_frags += expired;
    }
}

/// One worker's records waiting to be merged: the chunks it sent, consumed in place (appending
/// them to one queue copied every record and grew the queue into fresh pages, on the thread
/// that is the end of input's bottleneck).
#[derive(Default)]
pub(super) struct Received {
    /// Never holds an empty chunk.
    pub(super) chunks: std::collections::VecDeque<Chunk>,
}

pub(super) enum Chunk {
    Records(std::vec::IntoIter<(u64, Output)>),
    Lines(Lines),
}

impl Received {
    pub(super) fn push(&mut self, recs: Vec<(u64, Output)>) {
        if !recs.is_empty() {
            self.chunks.push_back(Chunk::Records(recs.into_iter()));
        }
    }

    pub(super) fn push_lines(&mut self, lines: Lines) {
        if !lines.is_done() {
            self.chunks.push_back(Chunk::Lines(lines));
        }
    }

    /// The next record's place: the index of the frame that ended it, and [`Output::key`].
    pub(super) fn front_key(&self) -> Option<Place<'_>> {
        match self.chunks.front()? {
            Chunk::Records(c) => c.as_slice().first().map(|(i, r)| (*i, r.key())),
            Chunk::Lines(l) => l.front_key(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Hands the next record to `col`.
    pub(super) fn write_front(&mut self, col: &mut Collector<'_>) -> std::io::Result<()> {
        let Some(chunk) = self.chunks.front_mut() else { return Ok(()) };
        let (result, done) = match chunk {
            Chunk::Records(c) => {
                let result = c.next().map_or(Ok(()), |(_, r)| col.output(r));
                (result, c.as_slice().is_empty())
            }
            Chunk::Lines(l) => {
                let result = l.pop().map_or(Ok(()), |b| col.line(b));
                (result, l.is_done())
            }
        };
        if done {
            self.chunks.pop_front();
        }
        result
    }
}

#[cfg(test)]
mod test {
    use super::{uid_key, Lines, Received};

    /// A worker's formatted end-of-input records come out one whole record at a time, each
    /// under its own merge key, and an empty chunk is never queued.
    #[test]
    fn lines_give_back_each_record_under_its_key() {
        let mut l = Lines::default();
        for (ts, uid, text) in [(5, "CaaaaaaaaaaA", "one\n"), (5, "CaaaaaaaaaaB", "two\n"), (7, "C0", "three\n")] {
            l.bytes.extend_from_slice(text.as_bytes());
            l.keys.push((ts, uid_key(uid), l.bytes.len()));
        }
        assert_eq!(l.front_key(), Some((u64::MAX, (0, 5, &b"CaaaaaaaaaaA"[..]))));
        assert_eq!(l.pop(), Some(&b"one\n"[..]));
        assert_eq!(l.front_key().map(|k| k.1 .2.to_vec()), Some(b"CaaaaaaaaaaB".to_vec()));
        assert_eq!(l.pop(), Some(&b"two\n"[..]));
        assert_eq!(l.front_key().map(|k| k.1 .1), Some(7));
        assert_eq!(l.pop(), Some(&b"three\n"[..]));
        assert!(l.is_done());
        assert_eq!(l.pop(), None);
        let mut q = Received::default();
        q.push_lines(Lines::default());
        assert!(q.is_empty(), "an empty chunk is not queued");
    }
}

//! Running the stages: one thread (`run_serial`), or workers that share the input and own the
//! flows their routing hash gives them (`run_threaded`), with their queues and end-of-input plan.

use super::batch::{run_batch, Batch, Feed};
use super::merge::{canonical, uid_key, Collector, EndPlan, Lines, Output, RecKey, Received, UidKey};
use super::route::ALL;
use super::sink::RecordFormat;
use super::stats::{EndTally, FrameCounters};
use super::Options;
use crate::decode::{Decoded, Decoder};
use crate::enrich::records::Naming;
use crate::extract::App;
use crate::flow::{FlowTable, KeyHasher, TableStats};
use crate::model::{AppEvent, EventKind, FlowRecord};
use crate::sensor::{self, Inference};
use crate::source::{FrameMeta, FrameSource, TICK};

/// What a worker tells the merging thread.
pub(super) enum WorkerMsg {
    /// Records emitted up to `upto`, tagged with the index of the frame that ended them
    /// (`u64::MAX`: the end of input), in canonical order.
    Records { worker: usize, upto: Upto, recs: Vec<(u64, Output)> },
    /// End-of-input flow records the worker completed and formatted itself (see [`EndPlan`]).
    Lines { worker: usize, upto: Upto, lines: Lines },
    /// The worker's share of the sensor-address evidence (once it passed the window).
    Evidence(Box<Inference>),
    /// The worker passed the last frame and sent everything before it (its evidence
    /// included), `live` flows are left; it waits for an [`EndPlan`]. Also sent by a worker
    /// that stops early, so the merging thread never waits for one that is gone.
    AtEnd { live: u64 },
    /// The worker finished; its counters, and its tally of end-of-input records (see
    /// [`EndPlan::tally`]).
    Done { counters: Box<FrameCounters>, tally: Box<EndTally>, table: TableStats, expired_frags: u64 },
}

/// What every shard is told before the first frame.
pub(super) struct StartPlan {
    /// The sensor's addresses are configured (nothing to infer).
    pub(super) configured: bool,
    /// See [`Shard::keep`].
    pub(super) keep: [bool; EventKind::ALL.len()],
    /// See [`Shard::window_span`].
    pub(super) window_span: i64,
}

/// One worker's share of the engine: decoder, inference and the flow table for the flows it
/// owns. Every shard sees every frame (so tunnels, fragments and ICMP quotes need no traffic
/// between shards); it counts frame statistics only for the frames whose index it owns.
pub(super) struct Shard {
    pub(super) me: u64,
    pub(super) n: u64,
    pub(super) table: FlowTable<App>,
    pub(super) decoder: Decoder,
    pub(super) events: Vec<AppEvent>,
    /// Sensor-address evidence from the frames this shard counts, until the window ends
    /// (`None` once handed over, or when the addresses are configured).
    pub(super) inference: Option<Box<Inference>>,
    /// The window is still open, and where it ends in capture time once its first frame came
    /// (see [`sensor::INFER_SPAN`]). Every shard sees every frame's time and index, so all close
    /// it at the same frame.
    pub(super) window_open: bool,
    pub(super) window_end: Option<i64>,
    /// The window's span in capture time (`i64::MAX`: frames only).
    pub(super) window_span: i64,
    pub(super) counters: FrameCounters,
    /// End-of-input records this shard completed and counted (see [`EndPlan::tally`]).
    pub(super) tally: EndTally,
    pub(super) out: Vec<FlowRecord>,
    /// Per [`EventKind`]: events of that kind are passed on (see [`Collector::keep`]).
    pub(super) keep: [bool; EventKind::ALL.len()],
}

impl Shard {
    pub(super) fn new(me: usize, n: usize, opts: &Options, plan: &StartPlan) -> Shard {
        let mut flow_cfg = opts.flow;
        flow_cfg.shard = me as u32;
        flow_cfg.shards = n as u32;
        flow_cfg.max_flows = opts.flow.max_flows.div_ceil(n).max(1);
        Shard {
            me: me as u64,
            n: n as u64,
            table: FlowTable::new(flow_cfg),
            decoder: Decoder::default(),
            events: Vec::new(),
            inference: (!plan.configured).then(Box::default),
            window_open: true,
            window_end: None,
            window_span: plan.window_span,
            counters: FrameCounters::default(),
            tally: EndTally::default(),
            out: Vec::new(),
            keep: plan.keep,
        }
    }

    /// Moves the events the flow table made to `self.events`, less those nobody reads.
    pub(super) fn drain_events(&mut self) {
        self.table.drain_events(&mut self.events);
        if !self.events.is_empty() && self.keep != [true; EventKind::ALL.len()] {
            let keep = self.keep;
            self.events.retain(|e| keep[e.kind() as usize]);
        }
    }

    /// Processes frame `index`; ended flows go to `emitted` in canonical order. Returns this
    /// shard's sensor-address evidence when `index` is the window's last frame.
    pub(super) fn frame(
        &mut self,
        index: u64,
        f: &FrameMeta,
        data: &[u8],
        route: u8,
        emitted: &mut Vec<(u64, Output)>,
    ) -> Option<Box<Inference>> {
        let tick = f.linktype == TICK;
        let mut closed = false;
        if self.window_open {
            let end = match self.window_end {
                Some(e) => e,
                None if tick => i64::MAX,
                None => *self.window_end.insert(f.ts.saturating_add(self.window_span)),
            };
            if f.ts >= end {
                self.window_open = false;
                closed = true;
            }
        }
        if tick {
            self.table.idle(f.ts, &mut self.out);
        } else if route != ALL && u64::from(route) != self.me {
            // Another worker owns this frame's flow. The clock still moves here, so flows expire
            // at the same frame as with one worker (output order does not depend on threads).
            self.table.tick(f.ts, &mut self.out);
        } else {
            let mut d = Decoded::default();
            self.decoder.decode_into(f.ts, f.linktype, data, &mut d);
            // Each frame is counted (statistics, sensor evidence) by exactly one shard.
            if route != ALL || index % self.n == self.me {
                self.counters.count(f, &d);
                if let (Some(inf), true) = (&mut self.inference, self.window_open) {
                    inf.observe(&d);
                }
            }
            self.table.tick(f.ts, &mut self.out);
            self.table.process(f.ts, &d, &mut self.out);
        }
        if self.window_open && index + 1 >= sensor::INFER_FRAMES {
            self.window_open = false;
            closed = true;
        }
        self.counters.live.frame(self.table.live());
        let evidence = if closed { self.inference.take() } else { None };
        self.emit(index, emitted);
        evidence
    }

    /// A frame another worker owns, once this shard gathers no sensor evidence (the window
    /// closed, or the addresses are configured): only the clock moves, as in [`Shard::frame`].
    /// False, having done nothing, for any other frame. With n workers, each passes n−1 of
    /// every n frames this way, so it is kept small and inlined.
    #[inline]
    pub(super) fn pass(&mut self, index: u64, f: &FrameMeta, route: u8, emitted: &mut Vec<(u64, Output)>) -> bool {
        // Tick frames are routed to every worker (`ALL`). While the window is open, `frame`
        // watches every frame for its end.
        if route == ALL || u64::from(route) == self.me || self.inference.is_some() {
            return false;
        }
        self.table.tick(f.ts, &mut self.out);
        self.counters.live.frame(self.table.live());
        // Events come only with records (a flow's end), and none are left from earlier frames.
        if !self.out.is_empty() {
            self.emit(index, emitted);
        }
        true
    }

    /// Moves the records and events frame `index` ended to `emitted`, in canonical order.
    fn emit(&mut self, index: u64, emitted: &mut Vec<(u64, Output)>) {
        self.drain_events();
        if !self.out.is_empty() || !self.events.is_empty() {
            let start = emitted.len();
            emitted.extend(self.out.drain(..).map(|r| (index, Output::Flow(Box::new(r)))));
            emitted.extend(self.events.drain(..).map(|e| (index, Output::Event(e))));
            canonical(&mut emitted[start..]);
        }
    }

    /// End of input: the records of the live flows at `slots`, in canonical order (see
    /// [`FlowTable::finish_order`]); completed (and counted, if it says so) following `plan`.
    pub(super) fn finish_flows(&mut self, slots: &[u32], plan: Option<&EndPlan>, emitted: &mut Vec<(u64, Output)>) {
        self.table.finish_some(slots, &mut self.out);
        emitted.reserve(self.out.len());
        let Some(plan) = plan else {
            emitted.extend(self.out.drain(..).map(|r| (u64::MAX, Output::Flow(Box::new(r)))));
            return;
        };
        for mut rec in self.out.drain(..) {
            plan.naming.complete(&mut rec);
            if plan.tally {
                self.tally.add(&rec, &plan.naming.sensor);
            }
            emitted.push((u64::MAX, Output::Completed(Box::new(rec))));
        }
    }

    /// End of input: the records of the live flows at `slots`, completed with `naming` and
    /// formatted, in canonical order.
    pub(super) fn finish_lines(
        &mut self,
        slots: &[u32],
        naming: &Naming,
        format: &dyn RecordFormat,
        lines: &mut Lines,
    ) {
        self.table.finish_some(slots, &mut self.out);
        lines.keys.reserve(self.out.len());
        for mut rec in self.out.drain(..) {
            naming.complete(&mut rec);
            format.format(&rec, &mut lines.bytes);
            lines.keys.push((rec.ts, uid_key(&rec.uid), lines.bytes.len()));
        }
    }

    /// Every frame is in: takes the last live-flow sample, and returns this shard's share of the
    /// sensor evidence if the window did not end before (taken before the live flows are
    /// written, so their roles are known and they need not wait for the decision).
    pub(super) fn evidence_at_end(&mut self) -> Option<Box<Inference>> {
        self.counters.live.end(self.table.live());
        self.inference.take()
    }

    /// End of input, after every flow was written: the events their ends produced and the
    /// counters. The flow table is left to be dropped with the shard (after the results are
    /// sent: freeing every flow takes a while).
    pub(super) fn finish_rest(
        &mut self,
        emitted: &mut Vec<(u64, Output)>,
    ) -> (FrameCounters, EndTally, TableStats, u64) {
        let expired = self.decoder.finish();
        self.drain_events();
        let start = emitted.len();
        emitted.extend(self.events.drain(..).map(|e| (u64::MAX, Output::Event(e))));
        canonical(&mut emitted[start..]);
        let expired = if self.me == 0 { expired } else { 0 };
        (std::mem::take(&mut self.counters), std::mem::take(&mut self.tally), self.table.stats(), expired)
    }
}

/// How far a worker's records go: everything before it has been sent to the merging thread.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Upto {
    /// The records of every frame before this index.
    Frame(u64),
    /// Every frame's records, and the end-of-input flow records up to this (start time, uid).
    EndFlows(i64, UidKey),
    /// Everything.
    All,
}

impl Upto {
    /// Whether a record with this frame index and key may still come after what was sent.
    pub(super) fn may_precede(&self, index: u64, key: RecKey<'_>) -> bool {
        match self {
            Upto::Frame(u) => *u <= index,
            Upto::EndFlows(ts, uid) => index == u64::MAX && (key.0 > 0 || (key.1, key.2) > (*ts, &uid[..])),
            Upto::All => false,
        }
    }
}

/// End-of-input records are made in chunks this size: the merging thread writes the first ones
/// while the workers still make the rest, and they are never all in memory at once.
pub(super) const END_CHUNK: usize = 512;

/// The batches the workers share. There is no reader thread: whichever worker first needs a
/// batch nobody has read yet reads it (on two cores a third busy thread only competes with the
/// workers, and whichever worker is ahead has time to spare). Every worker processes every
/// batch; a batch is recycled once all have passed it, and no worker runs more than [`AHEAD`]
/// batches ahead of the slowest, so memory stays bounded.
pub(super) struct Shared<'s> {
    pub(super) feed: std::sync::Mutex<Feed<'s>>,
    pub(super) queue: std::sync::Mutex<Queue>,
    /// Signalled whenever a worker moves on or a batch is added.
    pub(super) moved: std::sync::Condvar,
    pub(super) bytes_read: std::sync::atomic::AtomicU64,
    /// The source is a stream: reading may wait for frames that have not arrived, so nobody
    /// reads ahead of its own next batch (a worker would sit in the read holding a batch it
    /// has not processed, and the records it ends would wait for the next frames).
    pub(super) stream: bool,
    /// Per worker: records sent to the merging thread and not yet written (see [`IN_FLIGHT`]).
    pub(super) in_flight: Vec<std::sync::atomic::AtomicUsize>,
    /// Signalled when a worker's records in flight fall to [`IN_FLIGHT`], or the merging
    /// thread stopped (the flag: nobody will write them).
    pub(super) drained: (std::sync::Mutex<bool>, std::sync::Condvar),
}

pub(super) struct Queue {
    pub(super) batches: std::collections::VecDeque<std::sync::Arc<Batch>>,
    /// Sequence number of `batches[0]`.
    pub(super) base: u64,
    /// Per worker: the batch it is on (`u64::MAX` once it left).
    pub(super) cursor: Vec<u64>,
    /// The input ended after the last batch in `batches`.
    pub(super) end: bool,
    pub(super) spare: Vec<Batch>,
}

/// How many batches (of ~512 KiB) a worker may be ahead of the slowest one.
pub(super) const AHEAD: u64 = 24;

/// How many batches past its own a worker keeps read when it can.
pub(super) const READ_AHEAD: u64 = 4;

/// Records a worker may have sent that the merging thread has not written yet, before it waits
/// (it may go over by one batch's records). Without a bound, a flood whose every frame ends a
/// flow (the table full, each SYN evicting one) queued tens of thousands of records per worker
/// while the merging thread, running the analyses, fell behind: 2 workers peaked 60-75 MB
/// above 1 on 300k SYNs. Normal traffic ends a few hundred flows a batch and never waits.
pub(super) const IN_FLIGHT: usize = 8192;

impl<'s> Shared<'s> {
    pub(super) fn new(feed: Feed<'s>, workers: usize, stream: bool) -> Shared<'s> {
        Shared {
            feed: std::sync::Mutex::new(feed),
            queue: std::sync::Mutex::new(Queue {
                batches: Default::default(),
                base: 0,
                cursor: vec![0; workers],
                end: false,
                spare: Vec::new(),
            }),
            moved: std::sync::Condvar::new(),
            bytes_read: std::sync::atomic::AtomicU64::new(0),
            stream,
            in_flight: (0..workers).map(|_| std::sync::atomic::AtomicUsize::new(0)).collect(),
            drained: Default::default(),
        }
    }

    /// Worker `me` is sending `n` records (counted before they are sent, so the merging
    /// thread never writes one not yet counted).
    pub(super) fn sending(&self, me: usize, n: usize) {
        self.in_flight[me].fetch_add(n, std::sync::atomic::Ordering::AcqRel);
    }

    /// Worker `me` waits while more than [`IN_FLIGHT`] of its records are unwritten. Cannot
    /// deadlock: the merging thread holds back records only for a worker that has none queued,
    /// and such a worker is not waiting here.
    pub(super) fn wait_drained(&self, me: usize) {
        use std::sync::atomic::Ordering::Acquire;
        if self.in_flight[me].load(Acquire) <= IN_FLIGHT {
            return;
        }
        let (lock, cv) = &self.drained;
        let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !*g && self.in_flight[me].load(Acquire) > IN_FLIGHT {
            g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The merging thread stopped: no worker waits for it any more (their next send fails).
    pub(super) fn merge_stopped(&self) {
        *self.drained.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.drained.1.notify_all();
    }

    /// The merging thread wrote `n` of worker `w`'s records (counted per message, not per
    /// record: one atomic operation instead of one each).
    pub(super) fn written(&self, w: usize, n: usize) {
        let before = self.in_flight[w].fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
        if before > IN_FLIGHT && before - n <= IN_FLIGHT {
            // Under the lock: a worker that saw too many and is about to wait gets the signal.
            let _g = self.drained.0.lock().unwrap_or_else(|e| e.into_inner());
            self.drained.1.notify_all();
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A worker that panicked poisons the lock; the scope re-raises its panic anyway.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Worker `me` moves to batch `k` (having dropped the previous one): returns it, reading it
    /// if nobody has yet; `None` after the last batch.
    pub(super) fn get(&self, me: usize, k: u64) -> Option<std::sync::Arc<Batch>> {
        let mut q = self.lock();
        q.cursor[me] = k;
        let slowest = q.cursor.iter().copied().min().unwrap_or(k);
        while q.base < slowest && !q.batches.is_empty() {
            let b = q.batches.pop_front().expect("not empty");
            q.base += 1;
            // Every worker is past it, so this is the last reference.
            if let Ok(b) = std::sync::Arc::try_unwrap(b) {
                q.spare.push(b);
            }
        }
        self.moved.notify_all();
        loop {
            let produced = q.base + q.batches.len() as u64;
            if k < produced {
                let batch = q.batches[(k - q.base) as usize].clone();
                // Keep a few batches read ahead so the other workers rarely wait for a read;
                // only if nobody is reading right now (this worker then reads one).
                let slowest = q.cursor.iter().copied().min().unwrap_or(k);
                if !q.end && !self.stream && produced < k + READ_AHEAD && produced < slowest.saturating_add(AHEAD) {
                    if let Ok(mut feed) = self.feed.try_lock() {
                        let spare = q.spare.pop();
                        drop(q);
                        self.read(&mut feed, spare);
                    }
                }
                return Some(batch);
            }
            if q.end {
                return None;
            }
            let slowest = q.cursor.iter().copied().min().unwrap_or(k);
            if k >= slowest.saturating_add(AHEAD) {
                q = self.moved.wait(q).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Read batch `k`, with the queue unlocked so the others keep taking batches. If
            // another worker is reading, it is reading batch `k`: wait for it here rather than
            // queue for the feed (whoever reads next could take the feed again before this
            // worker woke, and on a stream every read waits for frames: this worker would
            // fall further behind with each).
            let mut feed = match self.feed.try_lock() {
                Ok(feed) => feed,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    q = self.moved.wait(q).unwrap_or_else(|e| e.into_inner());
                    continue;
                }
            };
            let spare = q.spare.pop();
            drop(q);
            self.read(&mut feed, spare);
            drop(feed);
            q = self.lock();
        }
    }

    /// Reads the next batch into the queue (the caller holds the feed, not the queue).
    pub(super) fn read(&self, feed: &mut Feed<'_>, spare: Option<Batch>) {
        let got = feed.next(spare);
        let mut q = self.lock();
        match got {
            Some(b) => {
                self.bytes_read.fetch_add(b.captured(), std::sync::atomic::Ordering::Relaxed);
                q.batches.push_back(std::sync::Arc::new(b));
            }
            None => q.end = true,
        }
        self.moved.notify_all();
    }

    /// Worker `me` is finished (or stopped): nobody waits for it any more.
    pub(super) fn leave(&self, me: usize) {
        self.lock().cursor[me] = u64::MAX;
        self.moved.notify_all();
    }
}

/// Calls [`Shared::leave`] however the worker ends.
pub(super) struct Leave<'a, 's>(pub(super) &'a Shared<'s>, pub(super) usize);

impl Drop for Leave<'_, '_> {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

/// Calls [`Shared::merge_stopped`] however the merging thread ends (an error or a panic
/// would otherwise leave workers waiting for it, and the scope waiting for them).
struct MergeStopped<'a, 's>(&'a Shared<'s>);

impl Drop for MergeStopped<'_, '_> {
    fn drop(&mut self) {
        self.0.merge_stopped();
    }
}

/// Sends [`WorkerMsg::AtEnd`] once, however the worker ends.
pub(super) struct AtEnd<'a> {
    pub(super) tx: &'a crossbeam_channel::Sender<WorkerMsg>,
    pub(super) sent: bool,
}

impl AtEnd<'_> {
    pub(super) fn send(&mut self, live: usize) -> bool {
        self.sent = true;
        self.tx.send(WorkerMsg::AtEnd { live: live as u64 }).is_ok()
    }
}

impl Drop for AtEnd<'_> {
    fn drop(&mut self) {
        if !self.sent {
            let _ = self.tx.send(WorkerMsg::AtEnd { live: 0 });
        }
    }
}

pub(super) fn worker(
    mut shard: Shard,
    shared: &Shared<'_>,
    tx: crossbeam_channel::Sender<WorkerMsg>,
    plan: crossbeam_channel::Receiver<Option<EndPlan>>,
) {
    let me = shard.me as usize;
    let _leave = Leave(shared, me);
    let mut at_end = AtEnd { tx: &tx, sent: false };
    let mut recs: Vec<(u64, Output)> = Vec::new();
    let mut k = 0u64;
    while let Some(batch) = shared.get(me, k) {
        let go = run_batch(&mut shard, &batch, &mut recs, |evidence, _| match evidence {
            Some(e) => tx.send(WorkerMsg::Evidence(e)).is_ok(),
            None => true,
        });
        if !go {
            return;
        }
        let upto = Upto::Frame(batch.first + batch.input.len() as u64);
        drop(batch);
        // The next batch's records start with room for as many as this one had: growing from
        // empty copied them several times (batches end similar numbers of flows and events).
        let room = recs.len() + recs.len() / 2;
        let full = std::mem::replace(&mut recs, Vec::with_capacity(room));
        shared.sending(me, full.len());
        if tx.send(WorkerMsg::Records { worker: me, upto, recs: full }).is_err() {
            return;
        }
        shared.wait_drained(me);
        k += 1;
    }
    if let Some(e) = shard.evidence_at_end() {
        if tx.send(WorkerMsg::Evidence(e)).is_err() {
            return;
        }
    }
    if !at_end.send(shard.table.live()) {
        return;
    }
    let plan = plan.recv().ok().flatten();
    let order = shard.table.finish_order();
    let mut room = 0;
    for chunk in order.chunks(END_CHUNK) {
        let msg = if let Some((plan, format)) = plan.as_ref().and_then(|p| Some((p, p.format.as_deref()?))) {
            let mut lines = Lines { bytes: Vec::with_capacity(room), ..Lines::default() };
            shard.finish_lines(chunk, &plan.naming, format, &mut lines);
            let Some((ts, uid, _)) = lines.keys.last() else { continue };
            let upto = Upto::EndFlows(*ts, *uid);
            room = lines.bytes.len() + lines.bytes.len() / 8;
            (lines.keys.len(), WorkerMsg::Lines { worker: me, upto, lines })
        } else {
            shard.finish_flows(chunk, plan.as_ref(), &mut recs);
            let upto = match recs.last() {
                Some((_, Output::Flow(r) | Output::Completed(r))) => Upto::EndFlows(r.ts, uid_key(&r.uid)),
                _ => continue,
            };
            (recs.len(), WorkerMsg::Records { worker: me, upto, recs: std::mem::take(&mut recs) })
        };
        shared.sending(me, msg.0);
        if tx.send(msg.1).is_err() {
            return;
        }
        shared.wait_drained(me);
    }
    // The naming state is the merging thread's again (it learns from the events that follow).
    drop(plan);
    let (counters, tally, table, expired_frags) = shard.finish_rest(&mut recs);
    shared.sending(me, recs.len());
    let _ = tx.send(WorkerMsg::Records { worker: me, upto: Upto::All, recs });
    let _ = tx.send(WorkerMsg::Done { counters: Box::new(counters), tally: Box::new(tally), table, expired_frags });
}

/// One thread does everything, in order: the fastest path on one core.
pub(super) fn run_serial(
    source: &mut dyn FrameSource,
    opts: &Options,
    col: &mut Collector<'_>,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<()> {
    let stream = source.is_stream();
    let mut shard = Shard::new(0, 1, opts, &col.start_plan(stream));
    let mut feed = Feed::new(source, KeyHasher::new(opts.flow.hash_seed), 1);
    let mut emitted: Vec<(u64, Output)> = Vec::new();
    let mut result = Ok(());
    let mut spare = None;
    while let Some(batch) = feed.next(spare.take()) {
        let go = run_batch(&mut shard, &batch, &mut emitted, |evidence, emitted| {
            if let Some(e) = evidence {
                result = col.evidence(e);
            }
            for (_, r) in emitted.drain(..) {
                if result.is_ok() {
                    result = col.output(r);
                }
            }
            result.is_ok()
        });
        if !go {
            return result;
        }
        if stream && result.is_ok() {
            result = col.sink.flush();
        }
        progress(batch.captured());
        spare = Some(batch);
    }
    if let (Some(e), true) = (shard.evidence_at_end(), result.is_ok()) {
        result = col.evidence(e);
    }
    // The live flows' records a chunk at a time, so they are never all in memory at once.
    let order = shard.table.finish_order();
    for chunk in order.chunks(END_CHUNK) {
        shard.finish_flows(chunk, None, &mut emitted);
        for (_, r) in emitted.drain(..) {
            if result.is_ok() {
                result = col.output(r);
            }
        }
    }
    let (c, tally, t, x) = shard.finish_rest(&mut emitted);
    for (_, r) in emitted.drain(..) {
        if result.is_ok() {
            result = col.output(r);
        }
    }
    col.done(c, tally, t, x);
    result
}

/// `n` workers sharing the flows (and the reading, see [`Shared`]) by a symmetric flow hash, and this thread
/// merging their records into the order a single thread would produce.
pub(super) fn run_threaded(
    source: &mut dyn FrameSource,
    n: usize,
    opts: &Options,
    col: &mut Collector<'_>,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<()> {
    let stream = source.is_stream();
    let plan = col.start_plan(stream);
    let shared = Shared::new(Feed::new(source, KeyHasher::new(opts.flow.hash_seed), n as u32), n, stream);
    let mut result: std::io::Result<()> = Ok(());
    // Whether every worker thread could be started (a container's or a user's task limit may
    // refuse them): only then do they start, else the input is read on this thread alone.
    let mut refused = None;
    std::thread::scope(|scope| {
        let (wtx, wrx) = crossbeam_channel::bounded::<WorkerMsg>(32 * n);
        let mut plans = Vec::with_capacity(n);
        let mut starts = Vec::with_capacity(n);
        for me in 0..n {
            let (wtx, shared) = (wtx.clone(), &shared);
            let (plan_tx, plan_rx) = crossbeam_channel::bounded::<Option<EndPlan>>(1);
            plans.push(plan_tx);
            let (start_tx, start_rx) = crossbeam_channel::bounded::<bool>(1);
            let shard = Shard::new(me, n, opts, &plan);
            // Named, so `top -H` and profilers tell the workers from the merging thread.
            let spawned = std::thread::Builder::new().name(format!("v6watch-w{me}")).spawn_scoped(scope, move || {
                if start_rx.recv() == Ok(true) {
                    worker(shard, shared, wtx, plan_rx);
                }
            });
            match spawned {
                Ok(_) => starts.push(start_tx),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        for s in &starts {
            let _ = s.send(refused.is_none());
        }
        if refused.is_some() {
            return;
        }
        drop(wtx);
        let _stopped = MergeStopped(&shared);
        let mut at_end = 0;
        // Flows the workers have left at the end of input.
        let mut live = 0u64;

        // Emit a record once every worker has processed past the frame that ended it.
        let mut queues: Vec<Received> = (0..n).map(|_| Received::default()).collect();
        let mut upto = vec![Upto::Frame(0); n];
        let mut reported = 0u64;
        let mut wrote = vec![0usize; n];
        for msg in wrx.iter() {
            match msg {
                WorkerMsg::Records { worker, upto: u, recs } => {
                    queues[worker].push(recs);
                    upto[worker] = u;
                }
                WorkerMsg::Lines { worker, upto: u, lines } => {
                    queues[worker].push_lines(lines);
                    upto[worker] = u;
                }
                WorkerMsg::Evidence(e) => result = col.evidence(e),
                WorkerMsg::AtEnd { live: l } => {
                    at_end += 1;
                    live += l;
                }
                WorkerMsg::Done { counters, tally, table, expired_frags } => {
                    col.done(*counters, *tally, table, expired_frags)
                }
            }
            while result.is_ok() {
                let best = (0..n).filter_map(|w| queues[w].front_key().map(|k| (w, k))).min_by(|a, b| a.1.cmp(&b.1));
                let Some((w, (idx, key))) = best else { break };
                if (0..n).any(|o| queues[o].is_empty() && upto[o].may_precede(idx, key)) {
                    break;
                }
                result = queues[w].write_front(col);
                wrote[w] += 1;
            }
            // Before waiting for the next message: a worker may be waiting for these.
            for (w, k) in wrote.iter_mut().enumerate().filter(|(_, k)| **k > 0) {
                shared.written(w, std::mem::take(k));
            }
            if stream && result.is_ok() && wrx.is_empty() {
                result = col.sink.flush();
            }
            if result.is_err() {
                break;
            }
            if at_end == n {
                // Every record before the end is written (all workers are past every frame),
                // so the names are final for the end's flows: the workers may write them.
                at_end += 1;
                let plan = col.end_plan(live);
                for p in &plans {
                    let _ = p.send(plan.clone());
                }
            }
            let now = shared.bytes_read.load(std::sync::atomic::Ordering::Relaxed);
            if now > reported {
                progress(now - reported);
                reported = now;
            }
        }
    });
    if let Some(e) = refused {
        // Nothing was read yet: the same output from one thread.
        log::warn!("cannot start {n} worker threads ({e}): reading on one thread");
        drop(shared);
        col.shares_due = 1;
        return run_serial(source, opts, col, progress);
    }
    result
}

#[cfg(test)]
mod test {
    use super::Upto;
    use crate::pipeline::merge::uid_key;

    /// The merging thread may write a record only when no worker can still send one that sorts
    /// before it; the watermark says what each worker may still send.
    #[test]
    fn watermarks_hold_back_only_what_may_still_come_first() {
        let end = u64::MAX;
        // Frame watermark: records of frames at or after it may still come.
        assert!(Upto::Frame(10).may_precede(10, (0, 5, b"Ca")));
        assert!(Upto::Frame(10).may_precede(end, (0, 5, b"Ca")));
        assert!(!Upto::Frame(11).may_precede(10, (1, 5, b"Ca")));
        // End-of-input flows sent up to (ts 5, uid "Cm"): later end flows and all end events
        // may still come, nothing of a frame.
        let w = Upto::EndFlows(5, uid_key("Cm"));
        assert!(!w.may_precede(10, (1, 9, b"Cz")));
        assert!(!w.may_precede(end, (0, 5, b"Ca")), "sorts before what was sent");
        assert!(!w.may_precede(end, (0, 4, b"Cz")));
        assert!(w.may_precede(end, (0, 5, b"Cz")), "a later flow of this worker may sort first");
        assert!(w.may_precede(end, (0, 6, b"Ca")));
        assert!(w.may_precede(end, (1, 0, b"Ca")), "end events follow every end flow");
        // Everything sent.
        assert!(!Upto::All.may_precede(end, (1, i64::MAX, b"Cz")));
    }
}

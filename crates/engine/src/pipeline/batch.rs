//! Frames in batches: a batch's decoded frames with their routing hashes, the feed that pulls
//! batches from a source, and the decode-and-track loop one worker runs over a batch.

use super::merge::Output;
use super::route::{route_hash, ALL};
use super::threads::Shard;
use crate::flow::KeyHasher;
use crate::sensor::Inference;
use crate::source::{FrameBatch, FrameSource, BATCH_FRAMES};

/// A [`FrameBatch`] as the workers share it, read-only: numbered, and each frame routed.
pub(super) struct Batch {
    /// Global index of the first frame.
    pub(super) first: u64,
    pub(super) input: FrameBatch,
    /// Per frame: the worker that owns its flow, or [`ALL`].
    pub(super) routes: Vec<u8>,
    /// Per frame: the flow-key hash when routed (for [`FlowTable::warm`]), else 0.
    pub(super) hashes: Vec<u64>,
}

/// Frames whose flow state is loaded together before they are processed.
pub(super) const WARM_GROUP: usize = 16;

impl Batch {
    pub(super) fn new() -> Batch {
        Batch {
            first: 0,
            input: FrameBatch::new(),
            routes: Vec::with_capacity(BATCH_FRAMES),
            hashes: Vec::with_capacity(BATCH_FRAMES),
        }
    }

    /// Captured bytes of its frames.
    pub(super) fn captured(&self) -> u64 {
        self.input.captured()
    }

    /// Computes every frame's route.
    pub(super) fn route(&mut self, hasher: &KeyHasher, shards: u32) {
        self.routes.clear();
        self.hashes.clear();
        for f in &self.input.frames {
            let hash = route_hash(hasher, f.linktype, &self.input.data[f.start..f.start + f.len]);
            self.routes.push(hash.map_or(ALL, |h| KeyHasher::shard(h, shards) as u8));
            self.hashes.push(hash.unwrap_or(0));
        }
    }
}

/// Cuts the input into [`Batch`]es: fills them from the source, numbers the frames and
/// computes each frame's route.
pub(super) struct Feed<'s> {
    pub(super) source: &'s mut dyn FrameSource,
    pub(super) hasher: KeyHasher,
    pub(super) shards: u32,
    /// Index of the next frame.
    pub(super) next: u64,
    pub(super) done: bool,
}

impl<'s> Feed<'s> {
    pub(super) fn new(source: &'s mut dyn FrameSource, hasher: KeyHasher, shards: u32) -> Feed<'s> {
        Feed { source, hasher, shards, next: 0, done: false }
    }

    /// The next batch (filled into `spare`, a used batch or a new one), or `None` at the end.
    pub(super) fn next(&mut self, spare: Option<Batch>) -> Option<Batch> {
        if self.done {
            return None;
        }
        let mut batch = spare.unwrap_or_else(Batch::new);
        if !self.source.fill(&mut batch.input) {
            self.done = true;
            return None;
        }
        batch.first = self.next;
        self.next += batch.input.len() as u64;
        batch.route(&self.hasher, self.shards);
        Some(batch)
    }
}

/// Runs `shard` over one batch: flow state for a group of frames is loaded first (see
/// [`FlowTable::warm`]), then the group is processed. `after` gets the shard's sensor-address
/// evidence (after the window's last frame) and the records emitted so far; it returns false
/// to stop.
pub(super) fn run_batch(
    shard: &mut Shard,
    batch: &Batch,
    emitted: &mut Vec<(u64, Output)>,
    mut after: impl FnMut(Option<Box<Inference>>, &mut Vec<(u64, Output)>) -> bool,
) -> bool {
    let me = shard.me as u8;
    let (frames, data) = (&batch.input.frames, &batch.input.data);
    for g in (0..frames.len()).step_by(WARM_GROUP) {
        let end = (g + WARM_GROUP).min(frames.len());
        for (i, f) in frames.iter().enumerate().take(end).skip(g) {
            let route = batch.routes[i];
            if route == me || route == ALL {
                // The headers (first two lines): with several workers another core's read put
                // them in memory, so they are not in this core's cache yet.
                let head = &data[f.start..f.start + f.len];
                crate::prefetch::bytes(head.as_ptr(), head.len().min(128));
            }
            if route == me {
                shard.table.warm(batch.hashes[i]);
            }
        }
        for (i, f) in frames.iter().enumerate().take(end).skip(g) {
            let (index, route) = (batch.first + i as u64, batch.routes[i]);
            let decided = if shard.pass(index, f, route, emitted) {
                None
            } else {
                shard.frame(index, f, &data[f.start..f.start + f.len], route, emitted)
            };
            if !after(decided, emitted) {
                return false;
            }
        }
    }
    true
}

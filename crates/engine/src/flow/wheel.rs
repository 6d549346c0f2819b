//! A hashed timer wheel on capture time with one-second slots. Entries are (slot, generation)
//! pairs; a flow is registered once and re-registered only when its slot comes up and its
//! deadline has moved on, so packets never touch the wheel (amortised O(1) expiry).

use std::collections::VecDeque;

/// Seconds the wheel spans; longer deadlines are parked at the far end and re-checked.
const SLOTS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub slot: u32,
    pub gen: u32,
}

pub(crate) struct Wheel {
    /// First in, first out within a second: eviction takes the oldest entry of the soonest
    /// second and drops the stale ones it meets, in O(1) each.
    buckets: Vec<VecDeque<Entry>>,
    /// The next second whose bucket has not been processed, or None before the first tick.
    next_s: Option<i64>,
    /// The first nanosecond of `next_s` (`i64::MIN` before the first tick): every frame moves
    /// the clock, on every worker, and nearly always within the same second; comparing with
    /// this skips the division.
    next_ns: i64,
}

impl Wheel {
    pub fn new() -> Self {
        Wheel { buckets: (0..SLOTS).map(|_| VecDeque::new()).collect(), next_s: None, next_ns: i64::MIN }
    }

    fn bucket(sec: i64) -> usize {
        sec.rem_euclid(SLOTS as i64) as usize
    }

    /// Registers `e` to be looked at once capture time reaches the second of `deadline_ns`.
    pub fn schedule(&mut self, e: Entry, deadline_ns: i64) {
        let sec = deadline_ns.div_euclid(1_000_000_000);
        let sec = match self.next_s {
            Some(next) => sec.clamp(next, next + SLOTS as i64 - 1),
            None => sec,
        };
        self.buckets[Self::bucket(sec)].push_back(e);
    }

    /// Moves time to `now_ns`, handing every entry of every second up to and including the
    /// current one to `due`, which returns `Some(deadline)` to keep the entry (it may be early:
    /// a bucket holds a whole second, and deadlines move while flows see packets).
    #[inline]
    pub fn advance(&mut self, now_ns: i64, due: impl FnMut(Entry) -> Option<i64>) {
        if now_ns >= self.next_ns {
            self.advance_to(now_ns, due);
        }
    }

    fn advance_to(&mut self, now_ns: i64, mut due: impl FnMut(Entry) -> Option<i64>) {
        let target = now_ns.div_euclid(1_000_000_000);
        let Some(mut cur) = self.next_s else {
            self.set_next(target);
            return;
        };
        if target < cur {
            return;
        }
        // A jump longer than the wheel visits each bucket once.
        if target - cur >= SLOTS as i64 {
            cur = target - SLOTS as i64 + 1;
        }
        let mut pending = VecDeque::new();
        while cur <= target {
            std::mem::swap(&mut pending, &mut self.buckets[Self::bucket(cur)]);
            cur += 1;
            self.set_next(cur);
            for e in pending.drain(..) {
                if let Some(d) = due(e) {
                    self.schedule(e, d);
                }
            }
        }
    }

    fn set_next(&mut self, sec: i64) {
        self.next_s = Some(sec);
        self.next_ns = sec.saturating_mul(1_000_000_000);
    }

    /// Takes the entry that comes up next and for which `live` holds, for eviction under
    /// pressure; the entries met before it whose flows are gone are dropped on the way. (Left in
    /// place, a flood's evicted flows made each eviction scan all the earlier ones: quadratic.)
    pub fn take_soonest(&mut self, mut live: impl FnMut(Entry) -> bool) -> Option<Entry> {
        let start = self.next_s.unwrap_or(0);
        for i in 0..SLOTS as i64 {
            let b = &mut self.buckets[Self::bucket(start + i)];
            while let Some(e) = b.pop_front() {
                if live(e) {
                    return Some(e);
                }
            }
        }
        None
    }

    /// Every entry (end of input).
    pub fn drain_all(&mut self) -> Vec<Entry> {
        let mut v = Vec::new();
        for b in &mut self.buckets {
            v.extend(b.drain(..));
        }
        v
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// Eviction under a flood: each gone entry is looked at once, not at every later eviction
    /// (a flood of one-packet flows made that quadratic), and live ones come out oldest first.
    #[test]
    fn eviction_looks_at_each_entry_once() {
        let mut w = Wheel::new();
        w.advance(0, |_| None);
        for slot in 0..10_000 {
            w.schedule(Entry { slot, gen: 0 }, 5_000_000_000);
        }
        let gone = |e: Entry| e.slot.is_multiple_of(2);
        let mut looked = 0;
        let mut taken = vec![];
        while let Some(e) = w.take_soonest(|e| {
            looked += 1;
            !gone(e)
        }) {
            taken.push(e.slot);
        }
        assert_eq!(looked, 10_000);
        assert_eq!(taken, (0..10_000).filter(|s: &u32| !s.is_multiple_of(2)).collect::<Vec<u32>>());
    }

    #[test]
    fn fires_after_deadline_and_reschedules() {
        let mut w = Wheel::new();
        let mut deadline = 2_500_000_000i64;
        w.advance(0, |_| None);
        w.schedule(Entry { slot: 1, gen: 0 }, deadline);
        let mut fired = vec![];
        let run = |w: &mut Wheel, now: i64, deadline: i64, fired: &mut Vec<i64>| {
            w.advance(now, |_| {
                if deadline > now {
                    Some(deadline)
                } else {
                    fired.push(now);
                    None
                }
            })
        };
        run(&mut w, 2_000_000_000, deadline, &mut fired);
        assert!(fired.is_empty());
        deadline = 10_000_000_000; // the flow saw a packet: its deadline moved
        run(&mut w, 3_100_000_000, deadline, &mut fired);
        assert!(fired.is_empty());
        run(&mut w, 9_000_000_000, deadline, &mut fired);
        assert!(fired.is_empty());
        run(&mut w, 10_000_000_001, deadline, &mut fired);
        assert_eq!(fired, vec![10_000_000_001]);
        // A huge jump still visits everything once.
        w.schedule(Entry { slot: 2, gen: 0 }, 11_000_000_000);
        run(&mut w, 5_000_000_000_000, 11_000_000_000, &mut fired);
        assert_eq!(fired.len(), 2);
    }
}

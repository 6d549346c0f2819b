//! A hashed timer wheel on capture time with one-second slots. Entries are (slot, generation)
//! pairs; a flow is registered once and re-registered only when its slot comes up and its
//! deadline has moved on, so packets never touch the wheel (amortised O(1) expiry).

/// Seconds the wheel spans; longer deadlines are parked at the far end and re-checked.
const SLOTS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub slot: u32,
    pub gen: u32,
}

pub(crate) struct Wheel {
    buckets: Vec<Vec<Entry>>,
    /// The next second whose bucket has not been processed, or None before the first tick.
    next_s: Option<i64>,
    /// The first nanosecond of `next_s` (`i64::MIN` before the first tick): every frame moves
    /// the clock, on every worker, and nearly always within the same second; comparing with
    /// this skips the division.
    next_ns: i64,
}

impl Wheel {
    pub fn new() -> Self {
        Wheel { buckets: (0..SLOTS).map(|_| Vec::new()).collect(), next_s: None, next_ns: i64::MIN }
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
        self.buckets[Self::bucket(sec)].push(e);
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
        let mut pending = Vec::new();
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

    /// The entries in the bucket that comes up next, for eviction under pressure.
    pub fn soonest(&self) -> impl Iterator<Item = Entry> + '_ {
        let start = self.next_s.unwrap_or(0);
        (0..SLOTS as i64).flat_map(move |i| self.buckets[Self::bucket(start + i)].iter().copied())
    }

    /// Every entry (end of input).
    pub fn drain_all(&mut self) -> Vec<Entry> {
        let mut v = Vec::new();
        for b in &mut self.buckets {
            v.append(b);
        }
        v
    }
}

#[cfg(test)]
mod test {
    use super::*;

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

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
    /// The second up to which buckets have been processed (exclusive), or None before the first tick.
    now_s: Option<i64>,
}

impl Wheel {
    pub fn new() -> Self {
        Wheel {
            buckets: (0..SLOTS).map(|_| Vec::new()).collect(),
            now_s: None,
        }
    }

    fn bucket(sec: i64) -> usize {
        sec.rem_euclid(SLOTS as i64) as usize
    }

    /// Registers `e` to be looked at when capture time reaches `deadline_ns`.
    pub fn schedule(&mut self, e: Entry, deadline_ns: i64) {
        let sec = deadline_ns.div_euclid(1_000_000_000) + 1;
        let sec = match self.now_s {
            Some(now) => sec.clamp(now, now + SLOTS as i64 - 1),
            None => sec,
        };
        self.buckets[Self::bucket(sec)].push(e);
    }

    /// Moves time to `now_ns`, handing every entry whose slot time has passed to `due`.
    /// `due` returns `Some(new_deadline)` to re-schedule the entry.
    pub fn advance(&mut self, now_ns: i64, mut due: impl FnMut(Entry) -> Option<i64>) {
        let target = now_ns.div_euclid(1_000_000_000);
        let Some(mut cur) = self.now_s else {
            self.now_s = Some(target);
            return;
        };
        if target <= cur {
            return;
        }
        // A jump longer than the wheel visits each bucket once.
        let steps = (target - cur).min(SLOTS as i64);
        let mut pending = Vec::new();
        for _ in 0..steps {
            let b = Self::bucket(cur);
            std::mem::swap(&mut pending, &mut self.buckets[b]);
            cur += 1;
            self.now_s = Some(cur);
            for e in pending.drain(..) {
                if let Some(d) = due(e) {
                    self.schedule(e, d);
                }
            }
        }
        self.now_s = Some(target);
    }

    /// The entries in the bucket that comes up next, for eviction under pressure.
    pub fn soonest(&self) -> impl Iterator<Item = Entry> + '_ {
        let start = self.now_s.unwrap_or(0);
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
        w.advance(0, |_| None);
        w.schedule(Entry { slot: 1, gen: 0 }, 2_500_000_000);
        let mut fired = vec![];
        w.advance(2_000_000_000, |e| {
            fired.push(e.slot);
            None
        });
        assert!(fired.is_empty());
        let mut again = true;
        w.advance(3_100_000_000, |e| {
            fired.push(e.slot);
            if again {
                again = false;
                Some(10_000_000_000)
            } else {
                None
            }
        });
        assert_eq!(fired, vec![1]);
        w.advance(5_000_000_000_000, |e| {
            fired.push(e.slot);
            None
        });
        assert_eq!(fired, vec![1, 1]);
    }
}

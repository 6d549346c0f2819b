//! IPv4 and IPv6 fragment reassembly with bounded memory and time.
//!
//! Bounds: at most [`Limits::max_datagrams`] datagrams in progress and [`Limits::max_bytes`]
//! buffered; a datagram older than [`Limits::timeout_ns`] of *capture* time is dropped. Overlaps
//! keep the first bytes received (the policy of most stacks since RFC 5722 forbids overlaps in
//! IPv6) and are counted, because differing overlaps are an evasion technique.

use super::anomaly::{Anomaly, AnomalySet};
use hashbrown::HashMap;

/// Reassembly limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Datagrams in progress at once.
    pub max_datagrams: usize,
    /// Bytes buffered across all datagrams.
    pub max_bytes: usize,
    /// How long a datagram may wait for its fragments (capture time).
    pub timeout_ns: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_datagrams: 4096, max_bytes: 32 << 20, timeout_ns: 60_000_000_000 }
    }
}

/// Identifies one datagram being reassembled (RFC 791 / RFC 8200: addresses, id, protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// 4 or 6.
    pub version: u8,
    /// Source address (IPv4 in the first four bytes).
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Identification.
    pub ident: u32,
    /// Upper-layer protocol (IPv4 only; IPv6 keys on addresses and id).
    pub proto: u8,
}

struct Pending {
    first_ts: i64,
    data: Vec<u8>,
    /// Covered byte ranges, sorted and merged.
    have: Vec<(u32, u32)>,
    total: Option<u32>,
    fragments: u32,
}

/// The outcome of adding a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// More fragments are needed.
    Pending,
    /// The datagram is complete and its payload is in the output buffer; `fragments` pieces.
    Complete {
        /// How many fragments made it.
        fragments: u32,
    },
    /// The fragment was refused (bounds or nonsense).
    Dropped,
}

/// One fragment's place in its datagram.
#[derive(Debug, Clone, Copy)]
pub struct Piece<'a> {
    /// Offset in bytes.
    pub offset: u32,
    /// The MF flag.
    pub more: bool,
    /// The fragment's bytes.
    pub data: &'a [u8],
}

/// A reassembly pool.
pub struct Defrag {
    limits: Limits,
    pending: HashMap<FragKey, Pending>,
    bytes: usize,
    last_sweep: i64,
    /// Datagrams that timed out (incomplete) since the last call to `take_expired`.
    expired: u64,
}

impl Defrag {
    /// An empty pool.
    pub fn new(limits: Limits) -> Self {
        Defrag { limits, pending: HashMap::new(), bytes: 0, last_sweep: i64::MIN, expired: 0 }
    }

    /// Datagrams in progress.
    pub fn in_progress(&self) -> usize {
        self.pending.len()
    }

    /// Incomplete datagrams dropped by timeout or at the end, since last asked.
    pub fn take_expired(&mut self) -> u64 {
        std::mem::take(&mut self.expired)
    }

    /// Drops everything in progress (end of input), counting it as incomplete.
    pub fn finish(&mut self) {
        self.expired += self.pending.len() as u64;
        self.pending.clear();
        self.bytes = 0;
    }

    fn sweep(&mut self, now: i64) {
        if now.saturating_sub(self.last_sweep) < 1_000_000_000 {
            return;
        }
        self.last_sweep = now;
        let timeout = self.limits.timeout_ns;
        let mut freed = 0;
        let mut n = 0;
        self.pending.retain(|_, p| {
            let keep = now.saturating_sub(p.first_ts) <= timeout;
            if !keep {
                freed += p.data.len();
                n += 1;
            }
            keep
        });
        self.bytes = self.bytes.saturating_sub(freed);
        self.expired += n;
    }

    /// Adds one fragment. On completion the whole payload is written to `out`.
    pub fn add(
        &mut self,
        ts: i64,
        key: FragKey,
        piece: Piece<'_>,
        out: &mut Vec<u8>,
        anomalies: &mut AnomalySet,
    ) -> Outcome {
        let Piece { offset, more, data } = piece;
        self.sweep(ts);
        let end = offset as usize + data.len();
        if end > 65_535 || (more && data.len() % 8 != 0) {
            anomalies.add(Anomaly::FragBad);
            return Outcome::Dropped;
        }
        let end = end as u32;
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= self.limits.max_datagrams {
                anomalies.add(Anomaly::FragDropped);
                return Outcome::Dropped;
            }
            self.pending
                .insert(key, Pending { first_ts: ts, data: Vec::new(), have: Vec::new(), total: None, fragments: 0 });
        }
        let p = self.pending.get_mut(&key).expect("inserted above");
        if !more {
            match p.total {
                Some(t) if t != end => {
                    anomalies.add(Anomaly::FragBad);
                    return Outcome::Dropped;
                }
                _ => p.total = Some(end),
            }
        }
        if p.total.is_some_and(|t| end > t) {
            anomalies.add(Anomaly::FragBad);
            return Outcome::Dropped;
        }
        let need = end as usize;
        if p.data.len() < need {
            let grow = need - p.data.len();
            if self.bytes + grow > self.limits.max_bytes {
                anomalies.add(Anomaly::FragDropped);
                return Outcome::Dropped;
            }
            self.bytes += grow;
            p.data.resize(need, 0);
        }
        p.fragments += 1;
        // Copy the parts not yet covered; compare the parts already covered.
        let (s, e) = (offset, end);
        let mut cursor = s;
        for &(hs, he) in &p.have {
            if he <= cursor || hs >= e {
                continue;
            }
            if hs > cursor {
                let (a, b) = (cursor as usize, hs as usize);
                p.data[a..b].copy_from_slice(&data[a - s as usize..b - s as usize]);
            }
            let (os, oe) = (hs.max(s) as usize, he.min(e) as usize);
            if p.data[os..oe] != data[os - s as usize..oe - s as usize] {
                anomalies.add(Anomaly::FragOverlap);
            }
            cursor = cursor.max(he);
        }
        if cursor < e {
            let (a, b) = (cursor as usize, e as usize);
            p.data[a..b].copy_from_slice(&data[a - s as usize..b - s as usize]);
        }
        // Merge [s, e) into the covered set.
        p.have.push((s, e));
        p.have.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(p.have.len());
        for &(a, b) in &p.have {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        p.have = merged;
        if let Some(t) = p.total {
            if p.have.len() == 1 && p.have[0] == (0, t) {
                let p = self.pending.remove(&key).expect("present");
                self.bytes -= p.data.len();
                out.clear();
                out.extend_from_slice(&p.data);
                return Outcome::Complete { fragments: p.fragments };
            }
        }
        Outcome::Pending
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn key() -> FragKey {
        FragKey { version: 6, src: [1; 16], dst: [2; 16], ident: 7, proto: 17 }
    }

    #[test]
    fn reassembles_out_of_order() {
        let mut d = Defrag::new(Limits::default());
        let mut out = vec![];
        let mut a = AnomalySet::default();
        let body: Vec<u8> = (0..40u8).collect();
        assert_eq!(
            d.add(0, key(), Piece { offset: 16, more: true, data: &body[16..32] }, &mut out, &mut a),
            Outcome::Pending
        );
        assert_eq!(
            d.add(1, key(), Piece { offset: 32, more: false, data: &body[32..] }, &mut out, &mut a),
            Outcome::Pending
        );
        assert_eq!(
            d.add(2, key(), Piece { offset: 0, more: true, data: &body[..16] }, &mut out, &mut a),
            Outcome::Complete { fragments: 3 }
        );
        assert_eq!(out, body);
        assert!(a.is_empty());
        assert_eq!(d.in_progress(), 0);
    }

    #[test]
    fn overlap_keeps_first_and_is_counted() {
        let mut d = Defrag::new(Limits::default());
        let mut out = vec![];
        let mut a = AnomalySet::default();
        d.add(0, key(), Piece { offset: 0, more: true, data: &[1; 16] }, &mut out, &mut a);
        d.add(0, key(), Piece { offset: 8, more: false, data: &[9; 16] }, &mut out, &mut a);
        assert!(a.has(Anomaly::FragOverlap));
        assert_eq!(&out[..16], &[1; 16]);
        assert_eq!(&out[16..], &[9; 8]);
    }

    #[test]
    fn bounds_and_timeout() {
        let mut d = Defrag::new(Limits { max_datagrams: 1, max_bytes: 64, timeout_ns: 10 });
        let mut out = vec![];
        let mut a = AnomalySet::default();
        assert_eq!(
            d.add(0, key(), Piece { offset: 65_528, more: false, data: &[0; 16] }, &mut out, &mut a),
            Outcome::Dropped
        );
        assert!(a.has(Anomaly::FragBad));
        assert_eq!(d.add(0, key(), Piece { offset: 0, more: true, data: &[0; 8] }, &mut out, &mut a), Outcome::Pending);
        let other = FragKey { ident: 8, ..key() };
        assert_eq!(d.add(0, other, Piece { offset: 0, more: true, data: &[0; 8] }, &mut out, &mut a), Outcome::Dropped);
        assert!(a.has(Anomaly::FragDropped));
        assert_eq!(
            d.add(5_000_000_000, other, Piece { offset: 64, more: true, data: &[0; 8] }, &mut out, &mut a),
            Outcome::Dropped
        );
        assert_eq!(d.take_expired(), 1);
        // Odd-length non-last fragment.
        assert_eq!(
            d.add(5_000_000_000, key(), Piece { offset: 0, more: true, data: &[0; 7] }, &mut out, &mut a),
            Outcome::Dropped
        );
    }
}

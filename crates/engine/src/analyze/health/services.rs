//! The per-service table: attempts, successes (with a Wilson lower bound), connect-time
//! quantiles, failures, fallbacks, black holes and unused AAAA answers per service and family.

use super::index::Index;
use super::*;

/// The table's rows, from per-service counts gathered once.
pub(super) fn rows(
    h: &Health,
    ix: &Index<'_>,
    r: &HealthReport,
    aaaa_span: &HashMap<(u16, &str), (i64, i64)>,
) -> Vec<ServiceRow> {
    let attempts = ix.attempts;
    let mut fb_count: HashMap<(&str, &str, u16, FallbackKind), u64> = HashMap::new();
    for f in &r.fallbacks {
        *fb_count.entry((f.sensor.as_str(), f.service.as_str(), f.port, f.kind)).or_default() += 1;
    }
    let mut bh_count: HashMap<(&str, &str, u16), u64> = HashMap::new();
    for b in r.pmtu.iter().filter(|b| matches!(b.state, PmtuState::Suspected | PmtuState::Stalled)) {
        *bh_count.entry((b.sensor.as_str(), b.service.as_str(), b.port)).or_default() += 1;
    }
    let mut unused_count: HashMap<(&str, &str), u64> = HashMap::new();
    for u in &r.aaaa_unused {
        *unused_count.entry((u.sensor.as_str(), u.name.as_str())).or_default() += 1;
    }
    // Room for a row per family of every service from the start: the table is built after
    // the input, on the critical path, and growing it copied tens of MB of rows (pages
    // reserved and not written are never touched).
    let mut rows = Vec::with_capacity(ix.service_count().saturating_mul(2).min(attempts.len()));
    // One pass over a service's attempts, into counters per family and reused buffers: the
    // table has a row per address a scan touched (tens of thousands), built after the input,
    // and each attempt read is a cache miss.
    let mut tallies = [Tally::default(), Tally::default()];
    for (key, idx) in ix.services() {
        let sensor = &h.sensors[usize::from(key.0)];
        let aaaa = aaaa_span.get(&(key.0, key.1.as_str())).copied();
        tallies.iter_mut().for_each(Tally::clear);
        for a in idx.iter().map(|&j| &attempts[j].1) {
            let t = match a.family {
                4 => &mut tallies[0],
                6 => &mut tallies[1],
                _ => continue,
            };
            t.n += 1;
            t.outcomes[a.outcome as usize] += 1;
            if a.ok() {
                t.ok += 1;
                t.ct.extend(a.connect_ns());
                t.first_ok.get_or_insert(a.ts);
            } else {
                t.last_failure = Some((a.outcome.name(), a.ts));
            }
            t.first.get_or_insert(a.ts);
        }
        for (fam, t) in [4u8, 6].into_iter().zip(&mut tallies) {
            let Tally { n, ok, outcomes, ref mut ct, first, first_ok, last_failure } = *t;
            if n == 0 {
                continue;
            }
            let (first_v6_attempt, first_v6_ok) = if fam == 6 { (first, first_ok) } else { (None, None) };
            ct.sort_unstable();
            let failures: Vec<(&'static str, u64)> = Outcome::ALL
                .iter()
                .filter(|o| **o != Outcome::Established && outcomes[**o as usize] > 0)
                .map(|o| (o.name(), outcomes[*o as usize]))
                .collect();
            let mut fallbacks = Vec::new();
            if fam == 6 {
                for k in FallbackKind::ALL {
                    let c = fb_count.get(&(sensor.as_str(), key.1.as_str(), key.2, k)).copied().unwrap_or(0);
                    if c > 0 {
                        fallbacks.push((k.name(), c));
                    }
                }
            }
            let blackholes = if fam == 6 {
                bh_count.get(&(sensor.as_str(), key.1.as_str(), key.2)).copied().unwrap_or(0)
            } else {
                0
            };
            let aaaa_unused =
                if fam == 4 { unused_count.get(&(sensor.as_str(), key.1.as_str())).copied().unwrap_or(0) } else { 0 };
            let (lo, _) = wilson(ok, n);
            rows.push(ServiceRow {
                sensor: sensor.clone(),
                service: key.1.clone(),
                port: key.2,
                family: fam,
                attempts: n,
                successes: ok,
                success_rate: ok as f64 / n as f64,
                success_lower: lo,
                connect_p50_ns: quantile(ct, 0.5),
                connect_p90_ns: quantile(ct, 0.9),
                failures,
                fallbacks,
                blackholes,
                aaaa_unused,
                aaaa,
                first_v6_attempt,
                first_v6_ok,
                last_failure,
            });
        }
    }
    rows
}

/// One service's attempts of one family, counted.
#[derive(Default)]
struct Tally {
    n: u64,
    ok: u64,
    outcomes: [u64; Outcome::ALL.len()],
    /// Connect times of the successes.
    ct: Vec<i64>,
    first: Option<i64>,
    first_ok: Option<i64>,
    last_failure: Option<(&'static str, i64)>,
}

impl Tally {
    /// Empties it, keeping the connect times' buffer.
    fn clear(&mut self) {
        self.ct.clear();
        *self = Tally { ct: std::mem::take(&mut self.ct), ..Tally::default() };
    }
}

//! Small statistics the analyses share: Wilson score interval, percentiles.

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval (lower, upper) at 95% for `k` successes out of `n`; (0, 1) when n = 0.
/// Used instead of the raw ratio so that a handful of attempts cannot page anyone.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n) = (k.min(n) as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = p + z2 / (2.0 * n);
    let margin = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let lo = if k == 0.0 { 0.0 } else { ((centre - margin) / denom).max(0.0) };
    let hi = if k == n { 1.0 } else { ((centre + margin) / denom).min(1.0) };
    (lo, hi)
}

/// The `q` quantile (0..=1) of sorted values, nearest rank; None when empty.
pub fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn wilson_matches_published_values() {
        // 8/10: Wilson 95% interval is (0.490, 0.943).
        let (lo, hi) = wilson(8, 10);
        assert!((lo - 0.4902).abs() < 1e-3, "{lo}");
        assert!((hi - 0.9433).abs() < 1e-3, "{hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        let (lo, _) = wilson(0, 12);
        assert_eq!(lo, 0.0);
        let (_, hi) = wilson(0, 12);
        assert!(hi < 0.25, "{hi}");
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(quantile(&v, 0.5), Some(50));
        assert_eq!(quantile(&v, 0.9), Some(90));
        assert_eq!(quantile(&v, 0.0), Some(10));
        assert_eq!(quantile(&[], 0.5), None);
    }
}

//! Request latencies: an HDR histogram in nanoseconds (two significant digits, so any percentile is
//! within 1 % of the true value from 100 ns to 60 s), with the exact count, sum and maximum beside
//! it. One per connection task, merged at the end, so no lock is taken per request.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

const LOWEST_NANOS: u64 = 100;
const HIGHEST_NANOS: u64 = 60_000_000_000;
/// Two digits keep a histogram near 25 KiB; three would be ten times that, times 1,000 connections.
const SIGNIFICANT_DIGITS: u8 = 2;

#[derive(Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
    count: u64,
    sum_nanos: u128,
    max: Duration,
}

/// Latency percentiles and extremes in milliseconds (0 when nothing was recorded).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    #[must_use]
    pub fn new() -> Self {
        let histogram = Histogram::new_with_bounds(LOWEST_NANOS, HIGHEST_NANOS, SIGNIFICANT_DIGITS)
            .expect("constant histogram bounds are valid");
        Self {
            histogram,
            count: 0,
            sum_nanos: 0,
            max: Duration::ZERO,
        }
    }

    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        // Beyond 60 s (only with a longer timeout) lands in the top bucket; the exact max keeps it.
        self.histogram
            .saturating_record(nanos.clamp(LOWEST_NANOS, HIGHEST_NANOS));
        self.count += 1;
        self.sum_nanos += latency.as_nanos();
        self.max = self.max.max(latency);
    }

    pub fn merge(&mut self, other: &Self) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms built with the same bounds add");
        self.count += other.count;
        self.sum_nanos += other.sum_nanos;
        self.max = self.max.max(other.max);
    }

    /// The latency at quantile `q` (0–1): the smallest recorded value with at least `q` of the
    /// samples at or below it, to within 1 %.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        // The bucket's highest value can exceed the true maximum by the bucket's width.
        let nanos = self.histogram.value_at_quantile(q);
        Duration::from_nanos(nanos).min(self.max)
    }

    #[must_use]
    pub fn summary(&self) -> LatencySummary {
        if self.count == 0 {
            return LatencySummary::default();
        }
        let mean_nanos = self.sum_nanos / u128::from(self.count);
        LatencySummary {
            p50: millis(self.quantile(0.50)),
            p90: millis(self.quantile(0.90)),
            p99: millis(self.quantile(0.99)),
            p999: millis(self.quantile(0.999)),
            max: millis(self.max),
            mean: millis(Duration::from_nanos(
                u64::try_from(mean_nanos).unwrap_or(u64::MAX),
            )),
        }
    }
}

/// Milliseconds rounded to the microsecond: finer digits are noise in a JSON report.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic latencies spread log-uniformly over 10 µs – 10 s.
    fn samples(n: usize, mut seed: u64) -> Vec<Duration> {
        (0..n)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let unit = (seed >> 11) as f64 / (1u64 << 53) as f64;
                let nanos = 10_000.0 * 1_000_000f64.powf(unit);
                Duration::from_nanos(nanos as u64)
            })
            .collect()
    }

    fn exact_quantile(sorted: &[Duration], q: f64) -> Duration {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    fn assert_close(got: Duration, want: Duration, what: &str) {
        let (got, want) = (got.as_secs_f64(), want.as_secs_f64());
        let error = (got - want).abs() / want;
        assert!(error <= 0.01, "{what}: {got} vs {want} ({error:.4})");
    }

    #[test]
    fn percentiles_are_within_one_percent_of_a_sorted_vector() {
        let mut values = samples(100_000, 7);
        let mut latencies = Latencies::new();
        for v in &values {
            latencies.record(*v);
        }
        values.sort();
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
            assert_close(
                latencies.quantile(q),
                exact_quantile(&values, q),
                &format!("q={q}"),
            );
        }
        assert_eq!(latencies.count, 100_000);
        assert_eq!(latencies.quantile(1.0), values[values.len() - 1]);
        let mean = values.iter().sum::<Duration>() / 100_000;
        let summary = latencies.summary();
        assert!((summary.mean - mean.as_secs_f64() * 1_000.0).abs() < 0.002);
    }

    #[test]
    fn merged_histograms_match_one_histogram_of_all_samples() {
        let values = samples(30_000, 11);
        let mut whole = Latencies::new();
        let mut parts = vec![Latencies::new(); 3];
        for (i, v) in values.iter().enumerate() {
            whole.record(*v);
            parts[i % 3].record(*v);
        }
        let mut merged = Latencies::new();
        for part in &parts {
            merged.merge(part);
        }
        assert_eq!(merged.count, whole.count);
        assert_eq!(merged.summary(), whole.summary());
    }

    #[test]
    fn small_and_huge_latencies_are_kept() {
        let mut latencies = Latencies::new();
        assert_eq!(latencies.summary(), LatencySummary::default());
        latencies.record(Duration::from_nanos(10));
        latencies.record(Duration::from_secs(90));
        let summary = latencies.summary();
        assert_eq!(summary.max, 90_000.0);
        assert!(summary.p50 <= 0.001);
        assert!(summary.p999 <= summary.max);
    }
}

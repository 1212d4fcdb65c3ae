//! A latency histogram that records without a lock.
//!
//! prometheus-client's `Histogram` takes a mutex on every `observe`; two
//! histograms are observed per protected request, so every worker thread
//! would meet on the same locks under load. This one keeps one atomic
//! counter per bucket and the sum in nanoseconds: recording is two
//! `fetch_add`s and a short bucket search, and scraping reads the atomics.
//! A scrape racing a request may see its bucket but not yet its sum, which
//! Prometheus tolerates (counts and buckets stay consistent: `_count` is
//! the buckets' total as read).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Cloning shares the counters (like prometheus-client's metrics).
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Upper bounds in seconds, ascending; `+Inf` is implied after them.
    bounds: Box<[f64]>,
    /// Observations per bucket (not cumulative); one more than `bounds`.
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    /// A histogram with the given ascending upper bounds, in seconds.
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> LatencyHistogram {
        let bounds: Box<[f64]> = bounds.into_iter().collect();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        LatencyHistogram {
            inner: Arc::new(Inner {
                bounds,
                counts,
                sum_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// Records one observation of `seconds`.
    pub fn observe(&self, seconds: f64) {
        let inner = &*self.inner;
        let bucket = inner
            .bounds
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(inner.bounds.len());
        inner.counts[bucket].fetch_add(1, Ordering::Relaxed);
        // `as` saturates: NaN and negatives count as 0, huge values as max.
        let nanos = (seconds * 1e9) as u64;
        inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = &*self.inner;
        let buckets: Vec<(f64, u64)> = inner
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(inner.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(
            sum,
            count,
            &buckets,
            None::<&HashMap<usize, Exemplar<NoLabelSet, f64>>>,
        )
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    #[test]
    fn encodes_like_a_prometheus_histogram() {
        let h = LatencyHistogram::new([0.001, 0.01]);
        for v in [0.0005, 0.001, 0.002, 5.0] {
            h.observe(v);
        }
        let mut registry = Registry::default();
        registry.register("lat_seconds", "latency", h.clone());
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            "# TYPE lat_seconds histogram",
            "lat_seconds_count 4",
            "lat_seconds_bucket{le=\"0.001\"} 2",
            "lat_seconds_bucket{le=\"0.01\"} 3",
            "lat_seconds_bucket{le=\"+Inf\"} 4",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("lat_seconds_sum "))
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 5.0035).abs() < 1e-6, "{sum}");
    }

    #[test]
    fn records_from_many_threads_without_loss() {
        let h = LatencyHistogram::new([0.001]);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..10_000).for_each(|_| h.observe(0.0001)));
            }
        });
        let total: u64 = h
            .inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum();
        assert_eq!(total, 40_000);
    }
}

//! The `/metrics` endpoint's counters, in Prometheus text format.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `landlock_webhook_admission_requests_total` | counter | `outcome`: `mutated`, `unchanged`, `denied`, `error` |
//! | `landlock_webhook_admission_duration_seconds` | histogram | |
//! | `landlock_webhook_registry_lookups_total` | counter | `result`: `resolved`, `failed` |
//! | `landlock_webhook_image_cache_hits_total` | counter | |
//! | `landlock_webhook_certificate_reloads_total` | counter | |

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use crate::review::Outcome;

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<OutcomeLabel, Counter>,
    duration: Histogram,
    lookups: Family<ResultLabel, Counter>,
    cache_hits: Counter,
    reloads: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("landlock_webhook");
        let requests = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission requests by outcome",
            requests.clone(),
        );
        // 0.5 ms .. ~4 s: a review is sub-millisecond; a cold registry lookup takes seconds.
        let duration = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "admission_duration_seconds",
            "Time to answer an admission request",
            duration.clone(),
        );
        let lookups = Family::<ResultLabel, Counter>::default();
        registry.register(
            "registry_lookups",
            "Image configuration lookups in a registry",
            lookups.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "image_cache_hits",
            "Image configurations served from the cache",
            cache_hits.clone(),
        );
        let reloads = Counter::default();
        registry.register(
            "certificate_reloads",
            "Serving certificates reloaded from disk",
            reloads.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            lookups,
            cache_hits,
            reloads,
        }
    }
}

impl Metrics {
    /// Counts one admission request and its duration.
    pub fn observe(&self, outcome: Outcome, seconds: f64) {
        self.requests.get_or_create(&OutcomeLabel { outcome }).inc();
        self.duration.observe(seconds);
    }

    /// Sets the registry counters to the totals the admission core reports.
    pub fn set_registry_totals(&self, resolved: u64, failed: u64, cache_hits: u64) {
        for (result, total) in [("resolved", resolved), ("failed", failed)] {
            let counter = self.lookups.get_or_create(&ResultLabel { result });
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        self.cache_hits
            .inc_by(cache_hits.saturating_sub(self.cache_hits.get()));
    }

    /// Counts one certificate reload.
    pub fn certificate_reloaded(&self) {
        self.reloads.inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_up_in_the_text_format() {
        let metrics = Metrics::default();
        metrics.observe(Outcome::Mutated, 0.001);
        metrics.observe(Outcome::Denied, 0.002);
        metrics.observe(Outcome::Mutated, 0.001);
        metrics.set_registry_totals(3, 1, 2);
        metrics.set_registry_totals(3, 1, 5);
        let text = metrics.render();
        for line in [
            "landlock_webhook_admission_requests_total{outcome=\"mutated\"} 2",
            "landlock_webhook_admission_requests_total{outcome=\"denied\"} 1",
            "landlock_webhook_admission_duration_seconds_count 3",
            "landlock_webhook_registry_lookups_total{result=\"resolved\"} 3",
            "landlock_webhook_image_cache_hits_total 5",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}

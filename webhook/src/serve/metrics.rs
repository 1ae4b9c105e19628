//! The `/metrics` endpoint's counters, in Prometheus text format.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `landlock_webhook_admission_requests_total` | counter | `outcome`: `mutated`, `unchanged`, `denied`, `error` |
//! | `landlock_webhook_admission_duration_seconds` | histogram | |
//! | `landlock_webhook_registry_lookups_total` | counter | `result`: `resolved`, `failed` |
//! | `landlock_webhook_image_cache_hits_total` | counter | |
//! | `landlock_webhook_certificate_reloads_total` | counter | |
//! | `landlock_webhook_certificate_expiry_seconds` | gauge | |
//!
//! The registry's counters belong to the registry reader and are registered here once, through
//! [`super::Admission::register_metrics`]; the certificate's belong to the certificate resolver
//! ([`super::certificate_metrics`]).

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

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<OutcomeLabel, Counter>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("landlock_webhook");
        let requests = Family::<OutcomeLabel, Counter>::default();
        // Every outcome exported from the start at 0: dashboards and rates see the series
        // before the first request of each kind.
        for outcome in [
            Outcome::Mutated,
            Outcome::Unchanged,
            Outcome::Denied,
            Outcome::Error,
        ] {
            drop(requests.get_or_create(&OutcomeLabel { outcome }));
        }
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
        Self {
            registry,
            requests,
            duration,
        }
    }
}

impl Metrics {
    /// Counts one admission request and its duration.
    pub fn observe(&self, outcome: Outcome, seconds: f64) {
        self.requests.get_or_create(&OutcomeLabel { outcome }).inc();
        self.duration.observe(seconds);
    }

    /// The registry, for metrics owned elsewhere to register themselves once, at start.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
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
        let mut metrics = Metrics::default();
        let registry = crate::registry::Counters::default();
        registry.register(metrics.registry_mut());
        metrics.observe(Outcome::Mutated, 0.001);
        metrics.observe(Outcome::Denied, 0.002);
        metrics.observe(Outcome::Mutated, 0.001);
        for ok in [true, true, false, true] {
            registry.lookup(ok);
        }
        registry.cache_hits.inc_by(5);
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

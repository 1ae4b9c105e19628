//! What `/metrics` says about the serving certificate: how often it was reloaded and how long
//! until it expires.
//!
//! | metric | type |
//! |---|---|
//! | `landlock_webhook_certificate_reloads_total` | counter: pairs loaded from disk after the first |
//! | `landlock_webhook_certificate_expiry_seconds` | gauge: seconds until the serving certificate's notAfter (negative once expired) |
//!
//! The notAfter is read when a pair is loaded (at start and at every reload); the seconds until
//! it are computed when `/metrics` is scraped, so the value keeps falling between reloads, which
//! is what an expiry alert needs.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use rustls::pki_types::CertificateDer;

/// The certificate's notAfter could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the certificate's notAfter: {0}")]
pub struct ExpiryError(String);

/// The leaf certificate's notAfter, in seconds since the Unix epoch.
pub fn not_after(leaf: &CertificateDer<'_>) -> Result<i64, ExpiryError> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| ExpiryError(e.to_string()))?;
    Ok(cert.validity().not_after.timestamp())
}

/// Seconds since the Unix epoch, now.
fn now() -> i64 {
    // A clock before 1970 reads as the epoch itself: the gauge then overstates, never panics.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The expiry gauge: holds the notAfter, reports the seconds until it at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Expiry {
    not_after: Arc<AtomicI64>,
}

impl Expiry {
    /// Records the notAfter (seconds since the epoch) of the certificate now served.
    pub fn set_not_after(&self, not_after: i64) {
        self.not_after.store(not_after, Ordering::Relaxed);
    }

    /// Seconds from `now` (seconds since the epoch) until the notAfter.
    pub fn seconds_until(&self, now: i64) -> i64 {
        self.not_after.load(Ordering::Relaxed).saturating_sub(now)
    }
}

impl TypedMetric for Expiry {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for Expiry {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.seconds_until(now()))
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The serving certificate's metrics, shared by the resolver (which updates them) and the
/// registry (which renders them).
#[derive(Debug, Clone, Default)]
pub struct CertificateMetrics {
    reloads: Counter,
    expiry: Expiry,
}

impl CertificateMetrics {
    /// Records the pair loaded at start.
    pub fn loaded(&self, not_after: i64) {
        self.expiry.set_not_after(not_after);
    }

    /// Records a pair that replaced the previous one.
    pub fn reloaded(&self, not_after: i64) {
        self.reloads.inc();
        self.expiry.set_not_after(not_after);
    }

    /// Reloads so far.
    pub fn reloads(&self) -> u64 {
        self.reloads.get()
    }

    /// The expiry gauge.
    pub fn expiry(&self) -> &Expiry {
        &self.expiry
    }

    /// Registers both metrics under `registry` (prefixed `landlock_webhook` by the caller).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "certificate_reloads",
            "Serving certificates reloaded from disk",
            self.reloads.clone(),
        );
        registry.register(
            "certificate_expiry_seconds",
            "Seconds until the serving certificate's notAfter (negative once expired)",
            self.expiry.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate whose notAfter is `not_after` (seconds since the epoch).
    fn certificate(not_after: i64) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["a.example".to_owned()]).expect("p");
        let seconds = u64::try_from(not_after).expect("after 1970");
        params.not_after = (UNIX_EPOCH + std::time::Duration::from_secs(seconds)).into();
        params.self_signed(&key).expect("cert").der().clone()
    }

    #[test]
    fn reads_the_not_after_of_a_certificate() {
        // 2031-05-08T07:08:09Z
        let known = 1_935_990_489;
        assert_eq!(not_after(&certificate(known)).expect("parse"), known);
        let err = not_after(&CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])).unwrap_err();
        assert!(err.to_string().contains("notAfter"), "{err}");
    }

    #[test]
    fn the_gauge_is_the_seconds_until_not_after_at_scrape_time() {
        let metrics = CertificateMetrics::default();
        let in_five_days = now() + 5 * 86_400;
        metrics.loaded(not_after(&certificate(in_five_days)).expect("parse"));
        assert_eq!(metrics.expiry().seconds_until(in_five_days - 100), 100);
        assert_eq!(metrics.expiry().seconds_until(in_five_days + 7), -7);

        let mut registry = Registry::with_prefix("landlock_webhook");
        metrics.register(&mut registry);
        let before = now();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        let after = now();
        let value: i64 = text
            .lines()
            .find_map(|l| l.strip_prefix("landlock_webhook_certificate_expiry_seconds "))
            .unwrap_or_else(|| panic!("no expiry sample in\n{text}"))
            .parse()
            .expect("integer");
        assert!(
            (in_five_days - after..=in_five_days - before).contains(&value),
            "{value}"
        );
        assert!(text.contains("# TYPE landlock_webhook_certificate_expiry_seconds gauge"));

        let in_ninety_days = now() + 90 * 86_400;
        metrics.reloaded(in_ninety_days);
        assert_eq!(metrics.reloads(), 1);
        assert_eq!(metrics.expiry().seconds_until(in_ninety_days), 0);
    }
}

//! The reporter's `/metrics`, in Prometheus text format.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `landlock_denials_total` | counter | `namespace`, `pod`, `container` (empty when not in a pod), `blocker` (one per blocked right); a deleted pod's series go [`FORGET_AFTER`] after it left the pod watch |
//! | `landlock_denials_unattributed_total` | counter | `reason`: `not-in-a-pod`, `process-gone`, `unknown-pod`, `pid-reused` |
//! | `landlock_denials_unparsed_records_total` | counter | |
//! | `landlock_denials_lost_records_total` | counter | (the socket overflowed: the kernel dropped records for this reader) |
//! | `landlock_denials_dropped_log_lines_total` | counter | `stream`: `stdout` (denial lines), `stderr` (the agent's log): lines dropped because the reader of that stream (the container runtime, a log shipper) stopped reading and the queue was full |
//! | `landlock_denials_kube_events_total` | counter | `result`: `applied`, `failed`, `dropped`, `suppressed` (a pod's new objects past its share of Events per window) |
//! | `landlock_denials_audit_enabled` | gauge | 1 on, 0 off, -1 unknown (no CAP_AUDIT_CONTROL to ask, no record seen yet) |
//! | `landlock_denials_kernel_lost_records` | gauge | the kernel's `lost` counter (every audit record it dropped since boot, mostly a full backlog; -1 unknown: asking needs CAP_AUDIT_CONTROL) |
//! | `landlock_denials_audit_backlog_limit` | gauge | the kernel's audit backlog limit (`auditctl -b`; -1 unknown) |
//! | `landlock_denials_initial_network_namespace` | gauge | 1 the agent is in the host's initial network namespace (records reach it), 0 it is not (none can), -1 unknown |
//! | `landlock_denials_pod_watch_up` | gauge | 1 the watch of this node's pods has listed them and is not failing, 0 not (denials are `unattributed`, no Event is posted); absent with `--no-kube` |

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::namespaces::NetworkNamespace;
use super::report::Unattributed;

/// Whether the kernel audits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditState {
    /// Auditing is on: denials produce records.
    Enabled,
    /// Auditing is off: the kernel produces no records at all.
    Disabled,
    /// Not known (asking needs CAP_AUDIT_CONTROL).
    Unknown,
}

/// The labels of `landlock_denials_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DenialLabels {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container.
    pub container: String,
    /// One blocked right.
    pub blocker: String,
}

/// How long a pod's `landlock_denials_total` series stay after the pod left this node's pod
/// watch: long enough for scrapes to read their last value, short enough that a node running
/// many short-lived pods (Jobs, CronJobs) does not keep a series per pod it ever ran.
pub const FORGET_AFTER: Duration = Duration::from_secs(10 * 60);

/// A pod's series of `landlock_denials_total` (container and blocker; namespace and pod are
/// the key), and since when the pod is gone.
#[derive(Debug, Default)]
struct PodSeries {
    labels: BTreeSet<(String, String)>,
    gone_since: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StreamLabel {
    stream: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Every metric of the reporter.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    denials: Family<DenialLabels, Counter>,
    /// The series of `denials` per pod (namespace, name), to forget them once it is gone.
    pod_series: Mutex<HashMap<(String, String), PodSeries>>,
    unattributed: Family<ReasonLabel, Counter>,
    unparsed: Counter,
    lost: Counter,
    dropped_lines: Family<StreamLabel, Counter>,
    kube_events: Family<ResultLabel, Counter>,
    audit_enabled: Gauge<i64, AtomicI64>,
    initial_network_namespace: Gauge<i64, AtomicI64>,
    kernel_lost: Gauge<i64, AtomicI64>,
    backlog_limit: Gauge<i64, AtomicI64>,
    pod_watch_up: Gauge<i64, AtomicI64>,
    /// Whether a pod watch runs at all (`--no-kube`: none, and readiness does not depend on it).
    pod_watch_wanted: std::sync::atomic::AtomicBool,
    /// The inode of the network namespace the agent runs in when it is not the initial one.
    other_network_namespace: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let denials = Family::<DenialLabels, Counter>::default();
        let unattributed = Family::<ReasonLabel, Counter>::default();
        let unparsed = Counter::default();
        let lost = Counter::default();
        let dropped_lines = Family::<StreamLabel, Counter>::default();
        let kube_events = Family::<ResultLabel, Counter>::default();
        let audit_enabled = Gauge::<i64, AtomicI64>::default();
        audit_enabled.set(-1);
        let initial_network_namespace = Gauge::<i64, AtomicI64>::default();
        initial_network_namespace.set(-1);
        let kernel_lost = Gauge::<i64, AtomicI64>::default();
        kernel_lost.set(-1);
        let backlog_limit = Gauge::<i64, AtomicI64>::default();
        backlog_limit.set(-1);
        let pod_watch_up = Gauge::<i64, AtomicI64>::default();
        // Full names (counters get `_total`): the first one is exactly `landlock_denials_total`.
        registry.register(
            "landlock_denials",
            "Landlock denials by pod, container and blocked right",
            denials.clone(),
        );
        registry.register(
            "landlock_denials_unattributed",
            "Denials that could not be mapped to a pod, by reason",
            unattributed.clone(),
        );
        registry.register(
            "landlock_denials_unparsed_records",
            "Audit records that could not be parsed",
            unparsed.clone(),
        );
        registry.register(
            "landlock_denials_lost_records",
            "Times the audit socket overflowed and the kernel dropped records for this reader",
            lost.clone(),
        );
        registry.register(
            "landlock_denials_dropped_log_lines",
            "Lines dropped because their stream's reader stopped reading, by stream (stdout: denial lines, stderr: the agent's log)",
            dropped_lines.clone(),
        );
        registry.register(
            "landlock_denials_kube_events",
            "Kubernetes Events by result",
            kube_events.clone(),
        );
        registry.register(
            "landlock_denials_audit_enabled",
            "Whether kernel auditing is on (1), off (0) or unknown (-1)",
            audit_enabled.clone(),
        );
        registry.register(
            "landlock_denials_initial_network_namespace",
            "Whether the agent is in the host's initial network namespace, where audit records are sent (1), not (0) or unknown (-1)",
            initial_network_namespace.clone(),
        );
        registry.register(
            "landlock_denials_kernel_lost_records",
            "The kernel's count of audit records it dropped since boot (a full backlog: auditctl -b), -1 unknown",
            kernel_lost.clone(),
        );
        registry.register(
            "landlock_denials_audit_backlog_limit",
            "The kernel's audit backlog limit (auditctl -b), -1 unknown",
            backlog_limit.clone(),
        );
        Self {
            registry,
            pod_watch_up,
            pod_watch_wanted: std::sync::atomic::AtomicBool::new(false),
            denials,
            pod_series: Mutex::default(),
            unattributed,
            unparsed,
            lost,
            dropped_lines,
            kube_events,
            audit_enabled,
            initial_network_namespace,
            kernel_lost,
            backlog_limit,
            other_network_namespace: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts one denial per blocked right.
    pub fn denial(&self, namespace: &str, pod: &str, container: &str, blockers: &[String]) {
        if !pod.is_empty() {
            let mut series = self
                .pod_series
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let entry = series
                .entry((namespace.to_owned(), pod.to_owned()))
                .or_default();
            entry.gone_since = None;
            for blocker in blockers {
                entry.labels.insert((container.to_owned(), blocker.clone()));
            }
        }
        for blocker in blockers {
            self.denials
                .get_or_create(&DenialLabels {
                    namespace: namespace.to_owned(),
                    pod: pod.to_owned(),
                    container: container.to_owned(),
                    blocker: blocker.clone(),
                })
                .inc();
        }
    }

    /// Forgets the `landlock_denials_total` series of pods that `present` has not known for
    /// [`FORGET_AFTER`] up to `now`; returns how many pods it forgot. Call it only while the
    /// pod watch works: a pod missing from a stale list is not gone.
    pub fn forget_gone_pods(&self, present: impl Fn(&str, &str) -> bool, now: Instant) -> usize {
        let mut series = self
            .pod_series
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut forgotten = 0;
        series.retain(|(namespace, pod), entry| {
            if present(namespace, pod) {
                entry.gone_since = None;
                return true;
            }
            let since = *entry.gone_since.get_or_insert(now);
            if now.saturating_duration_since(since) < FORGET_AFTER {
                return true;
            }
            for (container, blocker) in &entry.labels {
                self.denials.remove(&DenialLabels {
                    namespace: namespace.clone(),
                    pod: pod.clone(),
                    container: container.clone(),
                    blocker: blocker.clone(),
                });
            }
            forgotten += 1;
            false
        });
        forgotten
    }

    /// Pods with `landlock_denials_total` series.
    pub fn pods_with_series(&self) -> usize {
        self.pod_series
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// `landlock_denials_total` for these labels.
    pub fn denials(&self, labels: &DenialLabels) -> u64 {
        self.denials.get_or_create(labels).get()
    }

    /// Counts a denial that names no pod.
    pub fn unattributed(&self, reason: Unattributed) {
        self.unattributed
            .get_or_create(&ReasonLabel {
                reason: reason.name(),
            })
            .inc();
    }

    /// Counts an unparsable record.
    pub fn unparsed(&self) {
        self.unparsed.inc();
    }

    /// Unparsable records so far.
    pub fn unparsed_total(&self) -> u64 {
        self.unparsed.get()
    }

    /// Counts a socket overflow.
    pub fn lost(&self) {
        self.lost.inc();
    }

    /// Counts `count` more lines dropped on `stream` (`stdout` or `stderr`).
    pub fn dropped_log_lines(&self, stream: &'static str, count: u64) {
        self.dropped_lines
            .get_or_create(&StreamLabel { stream })
            .inc_by(count);
    }

    /// Counts a Kubernetes Event by result (`applied`, `failed`, `dropped`; `suppressed`: not
    /// posted, its pod opened its window's share of series, see [`crate::denials::fairness`]).
    pub fn kube_event(&self, result: &'static str) {
        self.kube_events
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// The Kubernetes Events counted with `result`.
    pub fn kube_events(&self, result: &'static str) -> u64 {
        self.kube_events
            .get_or_create(&ResultLabel { result })
            .get()
    }

    /// Records whether auditing is on.
    pub fn set_audit(&self, state: AuditState) {
        self.audit_enabled.set(match state {
            AuditState::Enabled => 1,
            AuditState::Disabled => 0,
            AuditState::Unknown => -1,
        });
    }

    /// Whether auditing is on, as last known.
    pub fn audit(&self) -> AuditState {
        match self.audit_enabled.get() {
            1 => AuditState::Enabled,
            0 => AuditState::Disabled,
            _ => AuditState::Unknown,
        }
    }

    /// Records where the agent's network namespace is.
    pub fn set_network_namespace(&self, placement: &NetworkNamespace) {
        self.initial_network_namespace.set(match placement {
            NetworkNamespace::Initial => 1,
            NetworkNamespace::Other(_) => 0,
            NetworkNamespace::Unknown(_) => -1,
        });
        let other = match placement {
            NetworkNamespace::Other(inode) => *inode,
            _ => 0,
        };
        self.other_network_namespace.store(other, Ordering::Relaxed);
    }

    /// The inode of the agent's network namespace when it is known not to be the initial one.
    pub fn outside_initial_network_namespace(&self) -> Option<u64> {
        match self.other_network_namespace.load(Ordering::Relaxed) {
            0 => None,
            inode => Some(inode),
        }
    }

    /// Records the kernel's `lost` counter and backlog limit (from `AUDIT_GET`).
    pub fn set_kernel_backlog(&self, lost: u32, backlog_limit: u32) {
        self.kernel_lost.set(i64::from(lost));
        self.backlog_limit.set(i64::from(backlog_limit));
    }

    /// The kernel's `lost` counter and backlog limit are no longer known (-1).
    pub fn forget_kernel_backlog(&self) {
        self.kernel_lost.set(-1);
        self.backlog_limit.set(-1);
    }

    /// Registers the pod watch's gauge (0 until [`Self::set_pod_watch_up`]); without this
    /// call (`--no-kube`) readiness does not depend on a pod watch.
    pub fn expect_pod_watch(&mut self) {
        self.pod_watch_wanted.store(true, Ordering::Relaxed);
        self.registry.register(
            "landlock_denials_pod_watch_up",
            "Whether the watch of this node's pods has listed them and is not failing (1) or not (0: denials are unattributed)",
            self.pod_watch_up.clone(),
        );
    }

    /// Records whether the pod watch works.
    pub fn set_pod_watch_up(&self, up: bool) {
        self.pod_watch_up.set(i64::from(up));
    }

    /// `false` while a pod watch is expected and does not work.
    pub fn pod_watch_ok(&self) -> bool {
        !self.pod_watch_wanted.load(Ordering::Relaxed) || self.pod_watch_up.get() == 1
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

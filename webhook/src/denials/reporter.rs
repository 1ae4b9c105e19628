//! The reporter's core, without sockets or clocks of its own: audit messages in, reports out
//! (a JSON line per denial, the metrics, the Kubernetes Events). The agent feeds it from the
//! netlink socket; tests feed it the same way and read what comes out.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Event;

use super::aggregate::Aggregator;
use super::cgroups::{self, Placement};
use super::domains::Domains;
use super::events::{self, EventKey};
use super::fairness::Budgets;
use super::identity::{self, Identity, Mismatch};
use super::joiner::{Denial, Joined, Joiner};
use super::metrics::{AuditState, Metrics};
use super::pods::PodDirectory;
use super::record::{self, Body, Stamp};
use super::report::{Attribution, DenialLine, Unattributed};

/// Limits and intervals; [`Settings::new`] has the defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The host's `/proc` (the agent runs with the host PID namespace).
    pub proc_root: PathBuf,
    /// This node's name (the Events' source).
    pub node: String,
    /// One Event update per container, right and object per window.
    pub event_window: Duration,
    /// Event series held at once.
    pub max_series: usize,
    /// Domains remembered at once.
    pub max_domains: usize,
    /// Incomplete audit events held at once.
    pub max_in_flight: usize,
    /// How long an event without a SYSCALL record is waited for.
    pub linger: Duration,
    /// How long a denial waits for its pod's container status (kubelet reports a container a
    /// moment after it starts; a denial at start can come first).
    pub pod_wait: Duration,
    /// Denials waiting for their pod at once.
    pub max_waiting: usize,
    /// New Event series one pod may open per window ([`crate::denials::fairness`]).
    pub new_series_per_pod: u32,
}

impl Settings {
    /// The defaults for node `node`.
    pub fn new(node: impl Into<String>) -> Self {
        Self {
            proc_root: PathBuf::from("/proc"),
            node: node.into(),
            event_window: Duration::from_secs(60),
            max_series: 4096,
            max_domains: 16384,
            max_in_flight: 4096,
            linger: Duration::from_secs(2),
            pod_wait: Duration::from_secs(10),
            max_waiting: 1024,
            new_series_per_pod: crate::denials::fairness::NEW_SERIES_PER_POD,
        }
    }
}

/// What the reporter produced.
#[derive(Debug, Default)]
pub struct Output {
    /// One line per denial.
    pub lines: Vec<DenialLine>,
    /// Events to create or update.
    pub events: Vec<Event>,
}

impl Output {
    fn extend(&mut self, other: Output) {
        self.lines.extend(other.lines);
        self.events.extend(other.events);
    }
}

/// How many entries each bounded structure holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Incomplete audit events.
    pub in_flight: usize,
    /// Remembered domains.
    pub domains: usize,
    /// Event series.
    pub series: usize,
    /// Denials waiting for their pod.
    pub waiting: usize,
}

struct Waiting {
    since: Instant,
    denial: Denial,
    placement: Placement,
}

/// Turns audit records into reports.
pub struct Reporter<P> {
    settings: Settings,
    pods: P,
    pods_learn: bool,
    metrics: Arc<Metrics>,
    joiner: Joiner,
    domains: Domains,
    series: Aggregator<EventKey>,
    budgets: Budgets,
    waiting: VecDeque<Waiting>,
    ticks_per_second: u64,
    /// When the metric series of gone pods were last looked for.
    swept: Option<Instant>,
}

/// How often the metric series of pods that left the node are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl<P: PodDirectory> Reporter<P> {
    /// A reporter looking pods up in `pods`; `pods_learn` says whether that list can gain a
    /// pod later (a watch), so that denials wait for it.
    pub fn new(settings: Settings, pods: P, pods_learn: bool, metrics: Arc<Metrics>) -> Self {
        Self {
            joiner: Joiner::new(settings.max_in_flight, settings.linger),
            domains: Domains::new(settings.max_domains),
            series: Aggregator::new(settings.event_window, settings.max_series),
            budgets: Budgets::new(
                settings.event_window,
                settings.new_series_per_pod,
                settings.max_series,
            ),
            waiting: VecDeque::new(),
            ticks_per_second: identity::ticks_per_second(),
            swept: None,
            settings,
            pods,
            pods_learn,
            metrics,
        }
    }

    /// The metrics it updates.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The sizes of its bounded structures.
    pub fn sizes(&self) -> Sizes {
        Sizes {
            in_flight: self.joiner.in_flight(),
            domains: self.domains.len(),
            series: self.series.len(),
            waiting: self.waiting.len(),
        }
    }

    /// Takes one audit message (netlink type and payload) received at `now`.
    pub fn handle(&mut self, record_type: u16, payload: &[u8], now: Instant) -> Output {
        if !matches!(
            record_type,
            record::AUDIT_SYSCALL
                | record::AUDIT_CONFIG_CHANGE
                | record::AUDIT_EOE
                | record::AUDIT_LANDLOCK_ACCESS
                | record::AUDIT_LANDLOCK_DOMAIN
        ) {
            return Output::default();
        }
        let record = match record::parse(record_type, payload) {
            Ok(record) => record,
            Err(e) => {
                self.metrics.unparsed();
                tracing::warn!(error = %e, record = %String::from_utf8_lossy(payload), "cannot parse an audit record; skipped");
                return Output::default();
            }
        };
        if matches!(record.body, Body::Access(_) | Body::DomainAllocated(_)) {
            self.metrics.set_audit(AuditState::Enabled);
        }
        let mut out = Output::default();
        for joined in self.joiner.push(record, now) {
            out.extend(self.joined(joined, now));
        }
        out
    }

    /// Reports what is due at `now`: events whose SYSCALL record never came, denials whose pod
    /// did not show up in time, Event counts whose window ended.
    pub fn tick(&mut self, now: Instant) -> Output {
        self.forget_gone_pods(now);
        let mut out = Output::default();
        for joined in self.joiner.expire(now) {
            out.extend(self.joined(joined, now));
        }
        let mut still = VecDeque::new();
        while let Some(waiting) = self.waiting.pop_front() {
            let expired = now.saturating_duration_since(waiting.since) >= self.settings.pod_wait;
            match self.attribute(&waiting.placement) {
                (attribution, None)
                    if attribution
                        .pod
                        .as_ref()
                        .is_some_and(|p| p.container.is_some())
                        || expired =>
                {
                    out.extend(self.report(&waiting.denial, attribution, None, now));
                }
                (attribution, unattributed) if expired => {
                    out.extend(self.report(&waiting.denial, attribution, unattributed, now));
                }
                _ => still.push_back(waiting),
            }
        }
        self.waiting = still;
        for emit in self.series.tick(now) {
            out.events.push(events::event(&emit, &self.settings.node));
        }
        out
    }

    fn joined(&mut self, joined: Joined, now: Instant) -> Output {
        match joined {
            Joined::Allocated(allocated, stamp) => {
                let origin = self.placement_of(allocated.pid, stamp);
                self.domains.remember(allocated.domain, origin);
                Output::default()
            }
            Joined::Released(domain) => {
                self.domains.forget(domain);
                Output::default()
            }
            Joined::AuditSwitched(on) => {
                let state = if on {
                    AuditState::Enabled
                } else {
                    AuditState::Disabled
                };
                if !on {
                    tracing::warn!(
                        "kernel auditing was switched off: no Landlock denial will be reported until it is on again"
                    );
                }
                self.metrics.set_audit(state);
                Output::default()
            }
            Joined::Denial(denial) => self.denial(denial, now),
        }
    }

    /// The placement of a denial: its domain's creator (captured at allocation), else the
    /// denied process itself.
    /// When the creator's pid was recycled, the denied process itself is tried.
    fn placement(&mut self, denial: &Denial) -> Placement {
        let known = self.domains.get(denial.access.domain).cloned();
        if let Some(origin) = &known
            && *origin != Placement::Reused
        {
            return origin.clone();
        }
        let Some(syscall) = denial.syscall.as_ref() else {
            return known.unwrap_or(Placement::Gone);
        };
        if !caller_is_subject(&denial.access.blockers, syscall.syscall) {
            return known.unwrap_or(Placement::Gone);
        }
        let placement = self.placement_of(syscall.pid, denial.stamp);
        self.domains
            .remember(denial.access.domain, placement.clone());
        placement
    }

    /// Where the process `pid` that the event `stamp` named runs, checked against pid reuse
    /// (see `identity`): a process at that pid that started after the event is another one,
    /// and so is one whose start time changes while its cgroup is read.
    fn placement_of(&self, pid: u32, stamp: Stamp) -> Placement {
        let proc_root = &self.settings.proc_root;
        let Some(identity) = Identity::read(proc_root, pid) else {
            return Placement::Gone;
        };
        if let Some(boot) = identity::boot_millis()
            && identity.started_after(stamp, boot, self.ticks_per_second)
        {
            return Placement::Reused;
        }
        let placement = cgroups::placement(proc_root, pid);
        match identity.check(proc_root) {
            Ok(()) => placement,
            Err(Mismatch::Gone) => Placement::Gone,
            Err(Mismatch::Reused { .. }) => Placement::Reused,
        }
    }

    fn attribute(&self, placement: &Placement) -> (Attribution, Option<Unattributed>) {
        match placement {
            Placement::Host => (Attribution::default(), Some(Unattributed::NotInAPod)),
            Placement::Gone => (Attribution::default(), Some(Unattributed::ProcessGone)),
            Placement::Reused => (Attribution::default(), Some(Unattributed::PidReused)),
            Placement::Container(container) => {
                let pod = self.pods.find(container);
                let unattributed = pod.is_none().then_some(Unattributed::UnknownPod);
                (
                    Attribution {
                        container: Some(container.clone()),
                        pod,
                    },
                    unattributed,
                )
            }
        }
    }

    fn denial(&mut self, denial: Denial, now: Instant) -> Output {
        let placement = self.placement(&denial);
        let (attribution, unattributed) = self.attribute(&placement);
        let complete = attribution
            .pod
            .as_ref()
            .is_some_and(|p| p.container.is_some());
        let in_container = matches!(placement, Placement::Container(_));
        if in_container
            && !complete
            && self.pods_learn
            && self.waiting.len() < self.settings.max_waiting
        {
            self.waiting.push_back(Waiting {
                since: now,
                denial,
                placement,
            });
            return Output::default();
        }
        self.report(&denial, attribution, unattributed, now)
    }

    /// Every [`SWEEP_EVERY`], while the pod watch works (a stale list would make running pods
    /// look gone): forgets the metric series of pods gone for [`super::metrics::FORGET_AFTER`].
    fn forget_gone_pods(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|at| now.saturating_duration_since(at) < SWEEP_EVERY)
        {
            return;
        }
        self.swept = Some(now);
        if !self.metrics.pod_watch_ok() {
            return;
        }
        let pods = &self.pods;
        // A directory that cannot tell (`--no-kube`) keeps every pod.
        let forgotten = self.metrics.forget_gone_pods(
            |namespace, name| pods.has_pod(namespace, name).unwrap_or(true),
            now,
        );
        if forgotten > 0 {
            tracing::debug!(
                pods = forgotten,
                "forgot the denial metrics of pods that left this node"
            );
        }
    }

    fn report(
        &mut self,
        denial: &Denial,
        attribution: Attribution,
        unattributed: Option<Unattributed>,
        now: Instant,
    ) -> Output {
        let line = DenialLine::new(denial, &attribution, unattributed);
        let mut out = Output::default();
        let (namespace, pod, container) = match &attribution.pod {
            Some(p) => (
                p.namespace.as_str(),
                p.pod.as_str(),
                p.container.as_deref().unwrap_or(""),
            ),
            None => ("", "", ""),
        };
        self.metrics
            .denial(namespace, pod, container, &denial.access.blockers);
        match unattributed {
            Some(reason) => self.metrics.unattributed(reason),
            None => {
                if let Some(pod) = attribution.pod {
                    let key = EventKey {
                        pod,
                        blockers: line.blockers.clone(),
                        object: denial.access.object.clone(),
                    };
                    let (namespace, name) = (&key.pod.namespace, &key.pod.pod);
                    if self.series.contains(&key) || self.budgets.take(namespace, name, now) {
                        for emit in self.series.record(key, denial.stamp, now) {
                            out.events.push(events::event(&emit, &self.settings.node));
                        }
                    } else {
                        self.metrics.kube_event("suppressed");
                    }
                }
            }
        }
        out.lines.push(line);
        out
    }
}

/// Whether the task of the SYSCALL record is the denied subject, so that where it runs says
/// where the denial comes from. Not always: Landlock logs a signal scoping denial for the task
/// that set a file's owner (`F_SETOWN`) while another task's I/O sends the SIGIO, and a
/// truncate or device ioctl through a descriptor for the domain that opened the file, whoever
/// calls it (a descriptor passed to another pod's process). Then only the signal syscalls,
/// and `truncate` by path, are the subject's own.
fn caller_is_subject(blockers: &[String], syscall: u32) -> bool {
    let syscall = libc::c_long::from(syscall);
    blockers.iter().all(|blocker| match blocker.as_str() {
        "scope.signal" => [
            libc::SYS_kill,
            libc::SYS_tkill,
            libc::SYS_tgkill,
            libc::SYS_rt_sigqueueinfo,
            libc::SYS_rt_tgsigqueueinfo,
            libc::SYS_pidfd_send_signal,
        ]
        .contains(&syscall),
        "fs.truncate" => syscall == libc::SYS_truncate,
        "fs.ioctl_dev" => false,
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::denials::pods::{NoPods, PodList};
    use std::process::Command;

    fn pod(namespace: &str, name: &str) -> k8s_openapi::api::core::v1::Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": namespace, "name": name, "uid": format!("uid-{name}")}
        }))
        .expect("a pod")
    }

    /// A pod's `landlock_denials_total` series stay while it runs and for
    /// [`super::super::metrics::FORGET_AFTER`] after it left the pod list, then go; other
    /// pods' stay. Without a pod directory (`--no-kube`) nothing is ever forgotten.
    #[test]
    fn the_denial_series_of_a_pod_that_left_go_after_a_while() {
        use super::super::metrics::FORGET_AFTER;
        let metrics = Arc::new(Metrics::default());
        let pods = PodList::default();
        pods.insert(pod("apps", "web-1"));
        pods.insert(pod("apps", "web-2"));
        let mut reporter =
            Reporter::new(Settings::new("node"), pods.clone(), true, metrics.clone());
        let blockers = ["fs.read_file".to_owned()];
        metrics.denial("apps", "web-1", "app", &blockers);
        metrics.denial("apps", "web-2", "app", &blockers);
        let series = |name: &str| metrics.encode().contains(&format!("pod=\"{name}\""));
        let start = Instant::now();
        reporter.tick(start);
        assert!(series("web-1") && series("web-2"), "both run");
        pods.remove("uid-web-1");
        let later = start + SWEEP_EVERY;
        reporter.tick(later);
        assert!(series("web-1"), "kept for scrapes right after it left");
        reporter.tick(later + FORGET_AFTER - SWEEP_EVERY);
        assert!(series("web-1"), "kept until FORGET_AFTER");
        reporter.tick(later + FORGET_AFTER);
        assert!(!series("web-1"), "forgotten: {}", metrics.encode());
        assert!(series("web-2"), "the running pod's series stay");
        assert_eq!(metrics.pods_with_series(), 1);

        let unknown = Arc::new(Metrics::default());
        let mut blind = Reporter::new(Settings::new("node"), NoPods, false, unknown.clone());
        unknown.denial("apps", "web-1", "app", &blockers);
        blind.tick(start);
        blind.tick(start + SWEEP_EVERY + FORGET_AFTER * 2);
        assert_eq!(
            unknown.pods_with_series(),
            1,
            "no directory: nothing is gone"
        );
    }

    /// While the pod watch is down its list may be stale: nothing is forgotten then, and a
    /// pod that shows up again (a StatefulSet's pod recreated) starts over.
    #[test]
    fn a_stale_pod_watch_forgets_nothing_and_a_returning_pod_starts_over() {
        use super::super::metrics::FORGET_AFTER;
        let mut watched = Metrics::default();
        watched.expect_pod_watch();
        let metrics = Arc::new(watched);
        let pods = PodList::default();
        let mut reporter =
            Reporter::new(Settings::new("node"), pods.clone(), true, metrics.clone());
        metrics.denial("apps", "db-0", "pg", &["fs.write_file".to_owned()]);
        let start = Instant::now();
        reporter.tick(start);
        reporter.tick(start + SWEEP_EVERY + FORGET_AFTER);
        assert_eq!(metrics.pods_with_series(), 1, "the watch is down: kept");
        metrics.set_pod_watch_up(true);
        let up = start + 2 * SWEEP_EVERY + FORGET_AFTER;
        reporter.tick(up);
        pods.insert(pod("apps", "db-0"));
        reporter.tick(up + FORGET_AFTER);
        assert_eq!(metrics.pods_with_series(), 1, "back before FORGET_AFTER");
        pods.remove("uid-db-0");
        reporter.tick(up + FORGET_AFTER + SWEEP_EVERY);
        reporter.tick(up + 2 * FORGET_AFTER);
        assert_eq!(
            metrics.pods_with_series(),
            1,
            "gone for less than FORGET_AFTER since it came back"
        );
        reporter.tick(up + 2 * FORGET_AFTER + SWEEP_EVERY);
        assert_eq!(metrics.pods_with_series(), 0);
    }

    /// A denial whose domain's creator is unknown is placed by its SYSCALL record's process
    /// only when that process is the denied subject: a signal scoping denial logged in a
    /// write(2) (the SIGIO of a file whose owner another task set) is not the writer's, so it
    /// is not placed where the writer runs (the writer could be any pod's process: a victim
    /// framed); the same denial in kill(2) is the killer's.
    #[test]
    fn a_denial_logged_in_another_tasks_syscall_is_not_placed_by_it() {
        let me = std::process::id();
        // A second ahead: this test process started before the event, whenever it started.
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
            + 1;
        let run = |domain: &str, syscall: i64| {
            let metrics = Arc::new(Metrics::default());
            let mut reporter = Reporter::new(Settings::new("node"), NoPods, false, metrics.clone());
            let records = [
                (
                    record::AUDIT_LANDLOCK_ACCESS,
                    format!(
                        "audit({now_s}.100:9): domain={domain} blockers=scope.signal opid=77 ocomm=\"x\""
                    ),
                ),
                (
                    record::AUDIT_SYSCALL,
                    format!(
                        "audit({now_s}.100:9): arch=c000003e syscall={syscall} success=yes exit=1 ppid=1 pid={me} comm=\"t\" exe=\"/t\""
                    ),
                ),
                (record::AUDIT_EOE, format!("audit({now_s}.100:9): ")),
            ];
            let mut out = Output::default();
            for (kind, text) in &records {
                out.extend(reporter.handle(*kind, text.as_bytes(), Instant::now()));
            }
            assert_eq!(out.lines.len(), 1, "{:?}", out.lines);
            out.lines[0].unattributed
        };
        // This test process runs outside any pod: placed by it, the denial is "not in a pod".
        assert_eq!(run("2e1", libc::SYS_write), Some(Unattributed::ProcessGone));
        assert_eq!(run("2e2", libc::SYS_kill), Some(Unattributed::NotInAPod));
    }

    /// A domain record naming the pid of a process that started after the event (what a
    /// recycled pid looks like to the agent): the denial is not attributed through it.
    #[test]
    fn a_creator_pid_held_by_a_younger_process_is_not_attributed() {
        let mut sleep = Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("sleep (coreutils) runs");
        let pid = sleep.id();
        // An event a minute ago: the sleep started after it, so it is not the creator.
        let then = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
            - 60;
        let metrics = Arc::new(Metrics::default());
        let mut reporter = Reporter::new(Settings::new("node"), NoPods, false, metrics.clone());
        let now = Instant::now();
        let records = [
            (
                record::AUDIT_LANDLOCK_ACCESS,
                format!(
                    "audit({then}.100:7): domain=1e4 blockers=fs.read_file path=\"/etc/shadow\" dev=\"vda\" ino=737"
                ),
            ),
            (
                record::AUDIT_LANDLOCK_DOMAIN,
                format!(
                    "audit({then}.100:7): domain=1e4 status=allocated mode=enforcing pid={pid} uid=0 exe=\"/bin/sleep\" comm=\"sleep\""
                ),
            ),
            (record::AUDIT_EOE, format!("audit({then}.100:7): ")),
        ];
        let mut out = Output::default();
        for (kind, text) in &records {
            out.extend(reporter.handle(*kind, text.as_bytes(), now));
        }
        sleep.kill().expect("kill");
        sleep.wait().expect("reap");
        assert_eq!(out.lines.len(), 1, "{:?}", out.lines);
        assert_eq!(out.lines[0].unattributed, Some(Unattributed::PidReused));
        assert!(out.events.is_empty());
        assert!(
            metrics
                .encode()
                .contains("landlock_denials_unattributed_total{reason=\"pid-reused\"} 1"),
            "{}",
            metrics.encode()
        );
    }
}

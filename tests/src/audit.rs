//! Kernel auditing for tests, and the denials reporter fed from the real audit multicast group.
//!
//! [`AuditGuard`] switches auditing on (with a backlog large enough for bursts of denials) and
//! puts back what it found when it drops, also when the test panics. Tests in several processes
//! may toggle auditing, so a guard holds an exclusive lock on [`LOCK_FILE`] while it lives.
//! [`Watch`] runs `webhook::denials`' reporter on records read from the kernel, as the node agent
//! does, with a [`PodList`] the test fills the way the pod watch would.

use std::fs::File;
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use webhook::denials::events::{EventSink, RecordedEvents};
use webhook::denials::metrics::Metrics;
use webhook::denials::netlink::{AuditReader, Received};
use webhook::denials::pods::PodList;
use webhook::denials::report::DenialLine;
use webhook::denials::reporter::{Output, Reporter, Settings, Sizes};

/// Held by whoever toggles kernel auditing in a test (on every checkout of this machine).
pub const LOCK_FILE: &str = "/run/lock/landlock-injector-audit.lock";

/// The shipped shim running `script` in busybox's shell on the host, sandboxed with the
/// `none` profile and busybox alone granted: each file it touches is a Landlock denial the
/// kernel records (with auditing on). Its output goes nowhere; stdin is the caller's to set.
pub fn denied_busybox_shell(script: &str) -> Command {
    let shim = crate::static_build::static_binary("init-shim", "landlock-shim").expect("shim");
    let mut command = Command::new(shim);
    command
        .args([
            "--profile",
            "none",
            "--rx",
            "/usr/bin/busybox",
            "--",
            "/usr/bin/busybox",
            "sh",
            "-c",
            script,
        ])
        .env("PATH", "/usr/bin")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// Debian's auditctl (package `auditd`).
pub const AUDITCTL: &str = "/usr/sbin/auditctl";

/// A backlog that holds a burst of ten thousand denials (four records each) while the readers
/// catch up; the kernel's default (64) drops records of such a burst.
const TEST_BACKLOG: u32 = 65536;

fn auditctl(args: &[&str]) -> String {
    assert!(
        std::path::Path::new(AUDITCTL).exists(),
        "{AUDITCTL} not found: apt-get install auditd (the tests switch kernel auditing on with it)"
    );
    let out = Command::new(AUDITCTL)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run auditctl {args:?}: {e}"));
    assert!(
        out.status.success(),
        "auditctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `auditctl -s` as (enabled, backlog_limit).
pub fn audit_status() -> (u32, u32) {
    let text = auditctl(&["-s"]);
    (
        status_field(&text, "enabled"),
        status_field(&text, "backlog_limit"),
    )
}

/// The kernel's count of audit records it dropped (`lost` in `auditctl -s`).
pub fn audit_lost() -> u32 {
    status_field(&auditctl(&["-s"]), "lost")
}

fn status_field(text: &str, name: &str) -> u32 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("auditctl -s has no {name}: {text}"))
}

/// Auditing on while it lives; the previous state back when it drops.
pub struct AuditGuard {
    previous: (u32, u32),
    _lock: File,
}

impl AuditGuard {
    /// Waits for the lock, then switches auditing on.
    pub fn enable() -> Self {
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK_FILE)
            .unwrap_or_else(|e| panic!("open {LOCK_FILE}: {e}"));
        lock.lock()
            .unwrap_or_else(|e| panic!("lock {LOCK_FILE}: {e}"));
        let previous = audit_status();
        let guard = Self {
            previous,
            _lock: lock,
        };
        // enabled=2 means locked on until reboot: nothing to switch.
        if previous.0 != 2 {
            auditctl(&["-e", "1"]);
        }
        if previous.1 < TEST_BACKLOG {
            auditctl(&["-b", &TEST_BACKLOG.to_string()]);
        }
        guard
    }

    /// Switches auditing off while the guard lives (it is restored on drop all the same).
    pub fn switch_off(&self) {
        auditctl(&["-e", "0"]);
    }
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        let (enabled, backlog) = self.previous;
        if enabled != 2 {
            let _ = Command::new(AUDITCTL)
                .args(["-e", &enabled.to_string()])
                .output();
        }
        let _ = Command::new(AUDITCTL)
            .args(["-b", &backlog.to_string()])
            .output();
    }
}

struct Seen {
    lines: Vec<DenialLine>,
    lost: u64,
}

/// The reporter, reading the audit multicast group on a background task.
pub struct Watch {
    reporter: Arc<Mutex<Reporter<PodList>>>,
    seen: Arc<Mutex<Seen>>,
    events: RecordedEvents,
    pods: PodList,
    metrics: Arc<Metrics>,
    task: tokio::task::JoinHandle<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Watch {
    /// Joins the multicast group now (so nothing after this call is missed) and starts the
    /// reporter with `settings` on the current Tokio runtime.
    pub fn start(settings: Settings) -> Self {
        let mut reader =
            AuditReader::open(64 * 1024 * 1024).expect("join the audit multicast group");
        let pods = PodList::default();
        let metrics = Arc::new(Metrics::default());
        let reporter = Arc::new(Mutex::new(Reporter::new(
            settings,
            pods.clone(),
            true,
            metrics.clone(),
        )));
        let seen = Arc::new(Mutex::new(Seen {
            lines: Vec::new(),
            lost: 0,
        }));
        let events = RecordedEvents::default();
        let (task_reporter, task_seen, task_events) =
            (reporter.clone(), seen.clone(), events.clone());
        let take_seen = seen.clone();
        let take = move |out: Output| {
            lock(&take_seen).lines.extend(out.lines);
            for event in out.events {
                task_events.send(event);
            }
        };
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tokio::select! {
                    received = reader.receive() => match received {
                        Ok(Received::Messages(messages)) => {
                            let now = Instant::now();
                            let mut reporter = lock(&task_reporter);
                            for (record_type, payload) in messages {
                                take(reporter.handle(record_type, &payload, now));
                            }
                        }
                        Ok(Received::Overrun) => lock(&task_seen).lost += 1,
                        Err(e) => return e.to_string(),
                    },
                    _ = tick.tick() => {
                        let out = lock(&task_reporter).tick(Instant::now());
                        take(out);
                    }
                }
            }
        });
        Self {
            reporter,
            seen,
            events,
            pods,
            metrics,
            task,
        }
    }

    /// The pod list the reporter looks pods up in (the pod watch's store).
    pub fn pods(&self) -> &PodList {
        &self.pods
    }

    /// The reporter's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<DenialLine> {
        lock(&self.seen).lines.clone()
    }

    /// Every Event so far.
    pub fn events(&self) -> Vec<k8s_openapi::api::core::v1::Event> {
        self.events.events()
    }

    /// Times the socket overflowed.
    pub fn overruns(&self) -> u64 {
        lock(&self.seen).lost
    }

    /// The reporter's bounded structures, now.
    pub fn sizes(&self) -> Sizes {
        lock(&self.reporter).sizes()
    }

    /// Runs the reporter's periodic work as if the clock read `now` (Event windows ending).
    pub fn tick_at(&self, now: Instant) {
        let out = lock(&self.reporter).tick(now);
        lock(&self.seen).lines.extend(out.lines);
        for event in out.events {
            self.events.send(event);
        }
    }

    /// Hands one raw message to the reporter, as if the kernel had sent it.
    pub fn inject(&self, record_type: u16, payload: &[u8]) {
        let out = lock(&self.reporter).handle(record_type, payload, Instant::now());
        lock(&self.seen).lines.extend(out.lines);
    }

    /// Whether the reader task still runs.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Waits (up to `limit`, a failure limit) until `done` holds for the lines so far.
    pub async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&[DenialLine]) -> bool,
    ) -> Vec<DenialLine> {
        let deadline = Instant::now() + limit;
        loop {
            let lines = self.lines();
            if done(&lines) {
                return lines;
            }
            assert!(
                self.is_running(),
                "the reader task stopped while waiting for {what}"
            );
            assert!(
                Instant::now() < deadline,
                "no {what} within {limit:?} (socket overruns: {}); lines so far:\n{}",
                self.overruns(),
                lines
                    .iter()
                    .map(DenialLine::to_json)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

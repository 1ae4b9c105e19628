//! `landlock-webhook denials`: the node agent that turns Landlock's audit records into a JSON
//! line per denial, the `landlock_denials_total` metric and `LandlockDenied` Events on pods.
//!
//! | module | decides |
//! |---|---|
//! | [`netlink`] | reading the audit multicast group; asking and switching whether the kernel audits |
//! | [`namespaces`] | whether the agent is in the initial network namespace, the only one audit records reach |
//! | [`record`] | what one audit record says (pure parser, fuzzed) |
//! | [`joiner`] | which records form one denial (records of one event, domain records) |
//! | [`cgroups`] | which pod UID and container ID a process's cgroup names |
//! | [`domains`] | where each Landlock domain came from (captured when it is first logged) |
//! | [`pods`] | which namespace, pod and container those IDs are (a watch of this node's pods) |
//! | [`blockers`] | which grant (annotation key) would have allowed a blocked right |
//! | [`backlog`] | whether the kernel dropped records (its `lost` counter), and what to say |
//! | [`aggregate`] | when to post an Event (one per container, right and object per window, with a count) |
//! | [`fairness`] | how many new Event series one pod may open per window |
//! | [`report`] | the JSON line of a denial |
//! | [`events`] | the Event object, and where it is sent |
//! | [`metrics`] | the `/metrics` counters |
//! | [`reporter`] | the pipeline: records in, lines, metrics and Events out |
//! | [`output`] | where lines and the log are written: never blocking the agent, dropped and counted past a queue |
//! | [`http`] | `/metrics`, `/healthz`, `/readyz` |

pub mod aggregate;
pub mod backlog;
pub mod blockers;
pub mod cgroups;
pub mod domains;
pub mod events;
pub mod fairness;
pub mod http;
pub mod identity;
pub mod joiner;
pub mod metrics;
pub mod namespaces;
pub mod netlink;
pub mod output;
pub mod pods;
pub mod record;
pub mod report;
pub mod reporter;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::{EventSink, KubeEvents};
use metrics::{AuditState, Metrics};
use namespaces::NetworkNamespace;
use netlink::{AuditReader, Received};
use output::Lines;
use pods::{NoPods, PodDirectory};
use reporter::{Output, Reporter, Settings};
use tracing_appender::non_blocking::ErrorCounter;

/// Options of `landlock-webhook denials`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Map nothing through the API server; post no Events.
    pub no_kube: bool,
    /// Switch kernel auditing on when it is off; raise a lower audit backlog limit to 8192.
    pub enable_audit: bool,
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub listen: SocketAddr,
    /// This node's name (required unless `no_kube`).
    pub node: Option<String>,
    /// The host's `/proc`.
    pub proc_root: PathBuf,
    /// The kubeconfig to reach the API server with (else in-cluster config or `KUBECONFIG`),
    /// for an agent that runs on the host beside a cluster's node containers (kind).
    pub kubeconfig: Option<PathBuf>,
    /// The count of log lines the non-blocking stderr writer dropped (see [`output`]), for
    /// `landlock_denials_dropped_log_lines_total{stream="stderr"}`.
    pub log_drops: Option<ErrorCounter>,
}

/// A client from `kubeconfig`, else the usual inference (in-cluster, `KUBECONFIG`, `~/.kube`).
async fn kube_client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client, String> {
    let Some(path) = kubeconfig else {
        return kube::Client::try_default().await.map_err(|e| e.to_string());
    };
    let file = kube::config::Kubeconfig::read_from(path)
        .map_err(|e| format!("--kubeconfig {}: {e}", path.display()))?;
    let config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| format!("--kubeconfig {}: {e}", path.display()))?;
    kube::Client::try_from(config).map_err(|e| format!("--kubeconfig {}: {e}", path.display()))
}

impl PodDirectory for Box<dyn PodDirectory> {
    fn find(&self, target: &cgroups::ContainerRef) -> Option<pods::PodRef> {
        self.as_ref().find(target)
    }

    fn has_pod(&self, namespace: &str, name: &str) -> Option<bool> {
        self.as_ref().has_pod(namespace, name)
    }
}

/// Receive buffer asked for: room for bursts of several thousand records.
const RECEIVE_BUFFER: usize = 32 * 1024 * 1024;

/// How often the kernel's audit status is asked for (lost records, backlog limit).
const STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// Asks the kernel for its audit status: records its `lost` counter and backlog limit, and warns
/// when records were lost since the last time.
pub async fn refresh_status(
    metrics: &Metrics,
    lost: &mut backlog::LostWatch,
) -> Result<(), netlink::NetlinkError> {
    let status = netlink::status().await?;
    metrics.set_kernel_backlog(status.lost, status.backlog_limit);
    let since = lost.observe(status.lost);
    if since > 0 {
        tracing::warn!(
            lost = status.lost,
            backlog_limit = status.backlog_limit,
            "{}",
            backlog::lost_message(since, status.backlog_limit)
        );
    }
    Ok(())
}

/// With `--enable-audit`: raises a kernel audit backlog limit below
/// [`backlog::ENABLE_AUDIT_BACKLOG`] to it (never lowers one); logs what it did. Not fatal:
/// without the right, records still flow and a full backlog is reported as it fills.
async fn raise_backlog() {
    let current = match netlink::status().await {
        Ok(status) => status.backlog_limit,
        Err(e) => {
            tracing::warn!(error = %e, "--enable-audit: cannot read the audit backlog limit; leaving it (set it on the node: auditctl -b {})", backlog::ENABLE_AUDIT_BACKLOG);
            return;
        }
    };
    let Some(limit) = backlog::raised_limit(current) else {
        tracing::info!(
            backlog_limit = current,
            "the kernel's audit backlog limit is large enough; left as it is"
        );
        return;
    };
    match netlink::set_backlog_limit(limit).await {
        Ok(()) => tracing::info!(
            backlog_limit = limit,
            previous = current,
            "raised the kernel's audit backlog limit from {current} to {limit} (--enable-audit), so bursts of denials are not dropped"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            backlog_limit = current,
            "--enable-audit: cannot raise the audit backlog limit to {limit}; bursts may be dropped (set it on the node: auditctl -b {limit})"
        ),
    }
}

/// Checks (and with `enable_audit` switches on) kernel auditing; logs what it found.
async fn check_audit(enable_audit: bool) -> Result<AuditState, String> {
    match netlink::status().await {
        Ok(status) if status.enabled != 0 => {
            tracing::info!(
                enabled = status.enabled,
                lost = status.lost,
                auditd_pid = status.auditd_pid,
                "kernel auditing is on"
            );
            Ok(AuditState::Enabled)
        }
        Ok(_) if enable_audit => {
            netlink::set_enabled(true)
                .await
                .map_err(|e| format!("--enable-audit: {e}"))?;
            tracing::info!("kernel auditing was off; switched it on (--enable-audit)");
            Ok(AuditState::Enabled)
        }
        Ok(_) => {
            tracing::warn!(
                "kernel auditing is off: the kernel reports no Landlock denial until it is on (`auditctl -e 1` on the node, or --enable-audit); /readyz fails until then"
            );
            Ok(AuditState::Disabled)
        }
        Err(e) if enable_audit => match netlink::set_enabled(true).await {
            Ok(()) => {
                tracing::info!(status_error = %e, "switched kernel auditing on (--enable-audit) without being able to ask first");
                Ok(AuditState::Enabled)
            }
            // Not fatal: auditing may be switched on by someone else, and records then flow.
            Err(set) => {
                tracing::error!(error = %set, status_error = %e, "--enable-audit: cannot switch kernel auditing on; denials are reported only if it is on");
                Ok(AuditState::Unknown)
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell whether kernel auditing is on; it is known once a record arrives");
            Ok(AuditState::Unknown)
        }
    }
}

fn emit(out: Output, lines: &mut Lines, sink: Option<&dyn EventSink>) {
    for line in out.lines {
        lines.write(&line.to_json());
    }
    if let Some(sink) = sink {
        for event in out.events {
            sink.send(event);
        }
    }
}

/// Lines dropped so far per stream, as last put into the metric.
#[derive(Default)]
struct Drops {
    stdout: usize,
    stderr: usize,
}

impl Drops {
    /// Adds what each stream dropped since the last call to its counter.
    fn count(&mut self, metrics: &Metrics, lines: &Lines, log: Option<&ErrorCounter>) {
        let now = lines.dropped().dropped_lines();
        if now > self.stdout {
            metrics.dropped_log_lines("stdout", (now - self.stdout) as u64);
            self.stdout = now;
        }
        if let Some(log) = log {
            let now = log.dropped_lines();
            if now > self.stderr {
                metrics.dropped_log_lines("stderr", (now - self.stderr) as u64);
                self.stderr = now;
            }
        }
    }
}

/// Runs the agent until SIGTERM or Ctrl-C.
pub fn run(options: Options) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(agent(options))
}

/// Finds out whether audit records can reach this agent at all; logs what it found.
fn check_namespaces(proc_root: &std::path::Path) -> NetworkNamespace {
    let placement = namespaces::network_namespace(proc_root);
    match &placement {
        NetworkNamespace::Initial => {
            tracing::info!("in the host's initial network namespace, where audit records are sent");
        }
        NetworkNamespace::Other(inode) => {
            tracing::error!("{}; /readyz fails", namespaces::not_initial_message(*inode));
        }
        NetworkNamespace::Unknown(why) => tracing::warn!(
            "cannot tell whether this agent is in the host's initial network namespace (the only one audit records reach): {why}"
        ),
    }
    if !namespaces::in_initial_pid_namespace() {
        tracing::warn!(
            "this agent is not in the host's pid namespace: audit records name host pids, so denials cannot be mapped to containers; run it with hostPID (the chart does) or on the host"
        );
    }
    placement
}

async fn agent(options: Options) -> Result<(), String> {
    let mut metrics = Metrics::default();
    if !options.no_kube {
        metrics.expect_pod_watch();
    }
    let metrics = Arc::new(metrics);
    // Before opening the audit socket, so the cause is logged whatever that does.
    metrics.set_network_namespace(&check_namespaces(&options.proc_root));
    let mut reader = AuditReader::open(RECEIVE_BUFFER).map_err(|e| e.to_string())?;
    metrics.set_audit(check_audit(options.enable_audit).await?);
    if options.enable_audit {
        raise_backlog().await;
    }
    let node = match (&options.node, options.no_kube) {
        (Some(node), _) => node.clone(),
        (None, true) => String::new(),
        (None, false) => {
            return Err("--node (or NODE_NAME) is required to watch this node's pods; use --no-kube on a plain host".to_owned());
        }
    };
    let (directory, sink): (Box<dyn PodDirectory>, Option<Box<dyn EventSink>>) = if options.no_kube
    {
        (Box::new(NoPods), None)
    } else {
        let client = kube_client(options.kubeconfig.as_deref())
            .await
            .map_err(|e| {
                format!("cannot reach the Kubernetes API (use --no-kube on a plain host): {e}")
            })?;
        let watch_metrics = metrics.clone();
        let (watched, driver) = pods::watch(client.clone(), &node, move |up| {
            watch_metrics.set_pod_watch_up(up);
        });
        tokio::spawn(driver);
        (
            Box::new(watched),
            Some(Box::new(KubeEvents::spawn(client, metrics.clone()))),
        )
    };
    let mut settings = Settings::new(node);
    settings.proc_root = options.proc_root.clone();
    let mut reporter = Reporter::new(settings, directory, !options.no_kube, metrics.clone());
    let server = tokio::spawn(http::serve(options.listen, metrics.clone()));
    tracing::info!(listen = %options.listen, kube = !options.no_kube, "reporting Landlock denials from the audit multicast group");
    let mut lines = Lines::stdout();
    let mut drops = Drops::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // The kernel's status, for records it dropped; asking needs CAP_AUDIT_CONTROL.
    let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
    let mut lost = backlog::LostWatch::default();
    let mut asking = backlog::StatusAsking::default();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    loop {
        tokio::select! {
            received = reader.receive() => match received.map_err(|e| e.to_string())? {
                Received::Messages(messages) => {
                    let now = Instant::now();
                    for (record_type, payload) in messages {
                        emit(reporter.handle(record_type, &payload, now), &mut lines, sink.as_deref());
                    }
                }
                Received::Overrun => {
                    metrics.lost();
                    tracing::warn!("the audit socket overflowed: the kernel dropped records for this reader (landlock_denials_lost_records_total)");
                }
            },
            _ = tick.tick() => {
                emit(reporter.tick(Instant::now()), &mut lines, sink.as_deref());
                drops.count(&metrics, &lines, options.log_drops.as_ref());
            }
            _ = status_tick.tick(), if asking.asking() => match refresh_status(&metrics, &mut lost).await {
                Ok(()) => {
                    if asking.answered() {
                        tracing::info!("the kernel answers for its audit status again");
                    }
                }
                Err(e) => match asking.failed(&e) {
                    backlog::Failed::Stop => {
                        metrics.forget_kernel_backlog();
                        tracing::info!(error = %e, "cannot ask the kernel for its audit status; records it drops are not reported (landlock_denials_kernel_lost_records is -1)");
                    }
                    // The last reading stays: it was true, and a -1 blip would hide a rise
                    // from the lost-records alert's window.
                    backlog::Failed::First => tracing::warn!(error = %e, "asking the kernel for its audit status failed; asking again every {}s (landlock_denials_kernel_lost_records keeps its last reading meanwhile)", STATUS_INTERVAL.as_secs()),
                    backlog::Failed::Again => {}
                },
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
        if server.is_finished() {
            return match server.await {
                Ok(Err(e)) => Err(e),
                _ => Err("the metrics server stopped".to_owned()),
            };
        }
    }
    Ok(())
}

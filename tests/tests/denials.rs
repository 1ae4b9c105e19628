//! The denials reporter on real audit records: pods go through the webhook's admission code,
//! run on runc with kubelet-style cgroup paths and the real static shim, make denied accesses,
//! and the reporter (fed from the kernel's audit multicast group, as the node agent is) must
//! report each one with the right pod, container, object and blocked right: the JSON line, the
//! metric and the Event it would post.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Pod};
use landlock_tests::admit::{Admitted, admit};
use landlock_tests::audit::{AuditGuard, Watch, audit_lost, audit_status};
use landlock_tests::pod_runner::{Cluster, PodRunner, Running, busybox_images};
use landlock_tests::scrape;
use serde_json::{Value, json};
use webhook::admission::config::Config;
use webhook::admission::resolve::Offline;
use webhook::denials::metrics::{AuditState, DenialLabels};
use webhook::denials::report::{DenialLine, Unattributed};
use webhook::denials::reporter::Settings;
use webhook::denials::{cgroups, http, netlink};

const LIMIT: Duration = Duration::from_secs(60);
/// Containers wait for this file (on their emptyDir) before they exit, so their processes are
/// alive while the reporter maps them, as a long-running program's would be.
const RELEASE: &str = "while [ ! -e /scratch/done ]; do sleep 0.05; done";

fn container(name: &str, script: &str) -> Value {
    json!({"name": name, "image": "busybox", "command": ["/bin/sh", "-c", format!("{script}; echo actions-done; {RELEASE}")],
           "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]})
}

async fn admitted(name: &str, annotations: Value, containers: Vec<Value>) -> Pod {
    let pod: Pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "apps", "annotations": annotations},
        "spec": {"volumes": [{"name": "scratch", "emptyDir": {}}], "containers": containers}}))
    .expect("pod");
    match admit(&pod, &Config::default(), &Offline).await {
        Admitted::Allowed(pod, _) => *pod,
        Admitted::Denied(message) => panic!("denied: {message}"),
    }
}

/// Starts the pod's containers and lists the pod (with its container IDs) where the reporter
/// looks pods up, as the pod watch would once kubelet reports them.
fn start(watch: &Watch, pod: Pod, names: &[&str]) -> (PodRunner, Vec<Running>) {
    let mut runner = PodRunner::new(pod, Cluster::default(), busybox_images()).expect("pod");
    runner.run_init(LIMIT).expect("init containers");
    let mut running = Vec::new();
    for name in names {
        running.push(runner.start(name).expect("start"));
    }
    watch.pods().insert(runner.reported());
    (runner, running)
}

/// Lets the containers exit and checks they did their part.
fn release(runner: &PodRunner, running: Vec<Running>) {
    let scratch = runner.volume_path("scratch").expect("scratch volume");
    std::fs::write(scratch.join("done"), "").expect("release the containers");
    for container in running {
        let done = container.wait(LIMIT).expect("container exits");
        assert!(done.stdout.contains("actions-done"), "{done:?}");
    }
}

fn of_pod<'a>(lines: &'a [DenialLine], pod: &Pod) -> Vec<&'a DenialLine> {
    let uid = pod.metadata.uid.as_deref();
    lines
        .iter()
        .filter(|l| l.pod_uid.as_deref() == uid)
        .collect()
}

fn labels(pod: &str, container: &str, blocker: &str) -> DenialLabels {
    DenialLabels {
        namespace: "apps".to_owned(),
        pod: pod.to_owned(),
        container: container.to_owned(),
        blocker: blocker.to_owned(),
    }
}

fn events_of(events: &[Event], pod: &str) -> Vec<Event> {
    events
        .iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(pod))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_read_write_exec_and_connect_in_runc_pods_are_reported_with_pod_container_and_right()
{
    let _audit = AuditGuard::enable();
    let watch = Watch::start(Settings::new("node-1"));
    let pod = admitted(
        "denied",
        json!({"landlock-injector.io/inject": "true", "landlock-injector.io/read": "/srv",
               "landlock-injector.io/client.connect-tcp": "5432"}),
        vec![
            container("app", "cat /etc/shadow; echo x >> /srv/index.html; cp /bin/busybox /scratch/bb && /scratch/bb true"),
            container("client", "nc 127.0.0.1 80 </dev/null"),
        ],
    )
    .await;
    let (runner, running) = start(&watch, pod, &["app", "client"]);
    let pod = runner.reported();
    let lines = watch
        .wait_for("the four denials of the pod", LIMIT, |lines| {
            of_pod(lines, &pod)
                .iter()
                .filter(|l| l.container.is_some())
                .count()
                >= 4
        })
        .await;
    release(&runner, running);

    let uid = pod.metadata.uid.clone().expect("uid");
    let expected = [
        ("app", "fs.read_file", "/etc/shadow", "read"),
        ("app", "fs.write_file", "/srv/index.html", "write"),
        ("app", "fs.execute", "/scratch/bb", "read-exec"),
        ("client", "net.connect_tcp", "80", "connect-tcp"),
    ];
    let reported = of_pod(&lines, &pod);
    for line in &reported {
        println!("{}", line.to_json());
    }
    assert_eq!(
        reported.len(),
        expected.len(),
        "one report per denial, nothing else"
    );
    for (container, blocker, object, grant) in expected {
        let matching: Vec<_> = reported
            .iter()
            .filter(|l| l.container.as_deref() == Some(container) && l.blockers == blocker)
            .collect();
        assert_eq!(matching.len(), 1, "{container} {blocker}: {reported:?}");
        let line = matching[0];
        let what = line.path.clone().or(line.port.map(|p| p.to_string()));
        assert_eq!(what.as_deref(), Some(object), "{line:?}");
        assert_eq!(line.namespace.as_deref(), Some("apps"));
        assert_eq!(line.pod.as_deref(), Some("denied"));
        assert_eq!(line.pod_uid.as_deref(), Some(uid.as_str()));
        assert_eq!(line.container_id.as_deref(), runner.container_id(container));
        assert_eq!(line.grant.as_deref(), Some(grant));
        assert_eq!(line.unattributed, None);
        assert!(
            line.pid.is_some_and(|p| p > 1),
            "the host pid of the denied process: {line:?}"
        );
        assert_eq!(
            watch
                .metrics()
                .denials(&labels("denied", container, blocker)),
            1,
            "{container} {blocker}"
        );

        let events: Vec<Event> = events_of(&watch.events(), "denied")
            .into_iter()
            .filter(|e| e.message.as_deref().is_some_and(|m| m.contains(blocker)))
            .collect();
        assert_eq!(events.len(), 1, "{container} {blocker}: {events:?}");
        let event = &events[0];
        assert_eq!(event.reason.as_deref(), Some("LandlockDenied"));
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(event.count, Some(1));
        assert_eq!(event.metadata.namespace.as_deref(), Some("apps"));
        assert_eq!(event.involved_object.kind.as_deref(), Some("Pod"));
        assert_eq!(event.involved_object.uid.as_deref(), Some(uid.as_str()));
        assert_eq!(
            event.involved_object.field_path.as_deref(),
            Some(format!("spec.containers{{{container}}}").as_str())
        );
        let message = event.message.clone().unwrap_or_default();
        assert!(
            message.contains(object) && message.contains(&format!("container {container:?}")),
            "{message}"
        );
        if grant != "connect-tcp" {
            assert!(
                message.contains(&format!(
                    "landlock-injector.io/{container}.{grant}: \"{object}\""
                )),
                "{message}"
            );
        }
    }
    assert_eq!(watch.sizes().waiting, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pod_runner_puts_containers_in_kubelet_cgroups_the_reporter_maps() {
    let pod = admitted("cgroups", json!({}), vec![container("app", "true")]).await;
    let mut runner = PodRunner::new(pod, Cluster::default(), busybox_images()).expect("pod");
    let mut app = runner.start("app").expect("start");
    app.wait_for_stdout("actions-done", LIMIT).expect("started");
    let pid = runner
        .container_pid("app")
        .expect("the container's host pid");
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    let found = cgroups::container_of(&text).expect("a kubelet cgroup path");
    assert_eq!(
        Some(found.pod_uid.as_str()),
        runner.pod().metadata.uid.as_deref(),
        "{text}"
    );
    assert_eq!(
        Some(found.container_id.as_str()),
        runner.container_id("app"),
        "{text}"
    );
    assert!(
        text.contains(&format!("/kubepods/besteffort/pod{}/", found.pod_uid)),
        "{text}"
    );
    release(&runner, vec![app]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denial_outside_any_pod_is_attributed_to_no_pod_and_nothing_breaks() {
    let _audit = AuditGuard::enable();
    let watch = Watch::start(Settings::new("node-1"));
    // A sandboxed host process: no pod, no container cgroup. It stays alive (reading its
    // stdin) until the report is in, as a long-running program would.
    let mut child =
        landlock_tests::audit::denied_busybox_shell("busybox cat /etc/shadow; read line || true")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("run the shim on the host");
    // Garbage from the kernel (or a future format) is counted, never fatal.
    watch.inject(1423, b"audit(1.2:3): domain=zz blockers=???");
    watch.inject(1424, b"not an audit record at all");
    let lines = watch
        .wait_for("the host denial", LIMIT, |lines| {
            lines.iter().any(|l| {
                l.path.as_deref() == Some("/etc/shadow")
                    && l.exe.as_deref() == Some("/usr/bin/busybox")
            })
        })
        .await;
    let line = lines
        .iter()
        .find(|l| {
            l.path.as_deref() == Some("/etc/shadow") && l.exe.as_deref() == Some("/usr/bin/busybox")
        })
        .expect("line");
    println!("{}", line.to_json());
    drop(child.stdin.take());
    assert!(child.wait().expect("the host process exits").success());
    assert_eq!(line.unattributed, Some(Unattributed::NotInAPod));
    assert_eq!(
        (
            line.namespace.as_ref(),
            line.pod.as_ref(),
            line.container.as_ref()
        ),
        (None, None, None)
    );
    assert_eq!(
        (line.pod_uid.as_ref(), line.container_id.as_ref()),
        (None, None)
    );
    assert_eq!(line.blockers, "fs.read_file");
    assert!(watch.events().iter().all(|e| {
        !e.message
            .clone()
            .unwrap_or_default()
            .contains("/etc/shadow")
    }));
    assert!(
        watch.metrics().denials(&DenialLabels {
            namespace: String::new(),
            pod: String::new(),
            container: String::new(),
            blocker: "fs.read_file".to_owned(),
        }) >= 1
    );
    assert_eq!(watch.metrics().unparsed_total(), 2);
    assert!(
        watch
            .metrics()
            .encode()
            .contains("landlock_denials_unattributed_total{reason=\"not-in-a-pod\"}")
    );
    assert!(watch.is_running(), "the reader survived");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_ten_thousand_denials_gives_an_exact_count_aggregated_events_and_bounded_memory()
{
    const BURST: u64 = 10_000;
    let _audit = AuditGuard::enable();
    let mut settings = Settings::new("node-1");
    // Small bounds, so the test shows they hold under load.
    settings.max_in_flight = 64;
    settings.max_series = 16;
    settings.max_domains = 16;
    settings.max_waiting = 16;
    let bounds = settings.clone();
    let watch = Watch::start(settings);
    let pod = admitted(
        "burst",
        json!({"landlock-injector.io/inject": "true"}),
        vec![container(
            "app",
            &format!(
                "i=0; while [ $i -lt {BURST} ]; do true < /etc/shadow; i=$((i+1)); done 2>/dev/null"
            ),
        )],
    )
    .await;
    let started = Instant::now();
    let (runner, running) = start(&watch, pod, &["app"]);
    let labels = labels("burst", "app", "fs.read_file");
    let mut peak = watch.sizes();
    let deadline = Instant::now() + Duration::from_secs(240);
    while watch.metrics().denials(&labels) < BURST {
        let sizes = watch.sizes();
        peak.in_flight = peak.in_flight.max(sizes.in_flight);
        peak.domains = peak.domains.max(sizes.domains);
        peak.series = peak.series.max(sizes.series);
        peak.waiting = peak.waiting.max(sizes.waiting);
        assert!(
            Instant::now() < deadline,
            "{} of {BURST} denials reported (socket overruns: {})",
            watch.metrics().denials(&labels),
            watch.overruns()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    release(&runner, running);
    let pod = runner.reported();
    assert_eq!(watch.metrics().denials(&labels), BURST, "exact count");
    assert_eq!(
        of_pod(&watch.lines(), &pod).len() as u64,
        BURST,
        "one line per denial"
    );
    assert_eq!(watch.overruns(), 0);
    assert!(peak.in_flight <= bounds.max_in_flight, "{peak:?}");
    assert!(
        peak.series <= bounds.max_series && peak.domains <= bounds.max_domains,
        "{peak:?}"
    );
    assert!(peak.waiting <= bounds.max_waiting, "{peak:?}");

    // Within the window: one Event, posted at the first denial.
    let events = events_of(&watch.events(), "burst");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].count, Some(1));
    // When the minute is over, one update of the same Event carries the whole count.
    watch.tick_at(started + Duration::from_secs(61) + started.elapsed());
    let events = events_of(&watch.events(), "burst");
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[1].metadata.name, events[0].metadata.name,
        "the same Event, updated"
    );
    assert_eq!(events[1].count, Some(BURST as i32));
    // And an idle key is dropped after another window: the structures shrink back.
    watch.tick_at(started + Duration::from_secs(200) + started.elapsed());
    assert_eq!(watch.sizes().series, 0);
    println!(
        "burst of {BURST}: peak {peak:?}, Event {:?}",
        events[1].message
    );
}

/// A program that is denied a new object at every iteration (here: executing 40 copies of
/// `true` it wrote into its writable /tmp) opens at most its share of Event series per window:
/// every denial is still counted and printed, but past the share no Event is posted (one per
/// iteration had been, an API write each, filling the node's one Event queue for every pod).
#[tokio::test(flavor = "multi_thread")]
async fn a_pod_denied_a_new_object_at_every_iteration_posts_a_bounded_number_of_events() {
    const COPIES: u64 = 40;
    let _audit = AuditGuard::enable();
    let settings = Settings::new("node-1");
    let share = u64::from(settings.new_series_per_pod);
    let watch = Watch::start(settings);
    let pod = admitted(
        "new-names",
        json!({"landlock-injector.io/inject": "true"}),
        vec![container(
            "app",
            &format!(
                "i=0; while [ $i -lt {COPIES} ]; do cp /bin/true /tmp/t$i; /tmp/t$i; i=$((i+1)); done 2>/dev/null"
            ),
        )],
    )
    .await;
    let (runner, running) = start(&watch, pod, &["app"]);
    let labels = labels("new-names", "app", "fs.execute");
    let deadline = Instant::now() + LIMIT;
    while watch.metrics().denials(&labels) < COPIES {
        assert!(
            Instant::now() < deadline,
            "{} of {COPIES} denials reported",
            watch.metrics().denials(&labels)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    release(&runner, running);
    let pod = runner.reported();
    assert_eq!(
        of_pod(&watch.lines(), &pod).len() as u64,
        COPIES,
        "a line each"
    );
    let events = events_of(&watch.events(), "new-names");
    assert_eq!(events.len() as u64, share, "{events:?}");
    assert_eq!(watch.metrics().kube_events("suppressed"), COPIES - share);
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_status_and_enable_audit_use_the_kernel_control_requests() {
    let audit = AuditGuard::enable();
    let status = netlink::status().await.expect("AUDIT_GET");
    assert_eq!(
        status.enabled,
        audit_status().0,
        "AUDIT_GET agrees with auditctl -s"
    );
    if status.enabled == 2 {
        return; // locked on until reboot: nothing to switch
    }
    audit.switch_off();
    assert_eq!(netlink::status().await.expect("AUDIT_GET").enabled, 0);
    let (code, text) = http::readiness(AuditState::Disabled, None);
    assert_eq!(code.as_u16(), 503);
    assert!(text.contains("--enable-audit"), "{text}");
    // What --enable-audit does.
    netlink::set_enabled(true).await.expect("AUDIT_SET");
    assert_eq!(audit_status().0, 1);
    assert_eq!(http::readiness(AuditState::Enabled, None).0.as_u16(), 200);
}

/// What the kernel dropped is on the agent's /metrics, as `AUDIT_GET` tells it (the same
/// numbers as `auditctl -s`): its `lost` counter and the backlog limit behind it.
#[tokio::test(flavor = "multi_thread")]
async fn the_kernels_lost_counter_and_backlog_limit_are_on_metrics() {
    let _audit = AuditGuard::enable();
    let metrics = webhook::denials::metrics::Metrics::default();
    let text = metrics.encode();
    assert_eq!(
        scrape::sample(&text, "landlock_denials_kernel_lost_records"),
        Some(-1.0),
        "unknown before asking: {text}"
    );
    let mut lost = webhook::denials::backlog::LostWatch::default();
    webhook::denials::refresh_status(&metrics, &mut lost)
        .await
        .expect("AUDIT_GET");
    let text = metrics.encode();
    let (_, backlog_limit) = audit_status();
    assert_eq!(
        scrape::sample(&text, "landlock_denials_audit_backlog_limit"),
        Some(f64::from(backlog_limit)),
        "{text}"
    );
    // Nothing is lost while the guard's large backlog holds: the two readings agree.
    assert_eq!(
        scrape::sample(&text, "landlock_denials_kernel_lost_records"),
        Some(f64::from(audit_lost())),
        "{text}"
    );
}

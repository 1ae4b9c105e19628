//! The webhook as the chart deploys it, without a cluster: the Deployment's pod template from
//! `helm template`, the TLS Secret the chart generated, and the `FROM scratch` image layout of
//! deploy/Dockerfile (only the static binary, user 65532, read-only root, no /etc/ssl, only the
//! runtime's /dev), run on runc by the pod runner with its self-sandbox on. curl, in the pod's
//! network namespace, talks HTTPS to it the way the API server does and verifies the
//! certificate against the chart's CA for the Service's DNS name. Registries for the lookups
//! run in the pod's network namespace too (see `landlock_tests::netns`). With kernel auditing
//! on, the webhook must cause no Landlock denial at all: its self-sandbox grants exactly what it
//! uses.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Pod;
use landlock_tests::admit::{Admitted, answered, review_body};
use landlock_tests::audit::AuditGuard;
use landlock_tests::chart::render;
use landlock_tests::netns;
use landlock_tests::pod_runner::bundle::ImageFacts;
use landlock_tests::pod_runner::{Cluster, Image, Images, PodRunner, Rootfs, Running, require};
use landlock_tests::registry::{FakeAnswer, FakeRegistry, TestRegistry, broken_token_answers};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(60);
/// The Service name the chart's webhook configuration calls.
const SERVICE: &str = "landlock-injector.landlock-injector.svc";

/// The chart's webhook Deployment as a pod, ready for the pod runner.
struct ChartWebhook {
    pod: Pod,
    cluster: Cluster,
    images: Images,
    /// The chart's CA (the webhook configuration's caBundle), as a file for curl.
    ca: tempfile::NamedTempFile,
}

/// Renders the chart with its defaults (self-signed TLS) plus `sets` and takes the Deployment's
/// pod.
fn chart_webhook(sets: &[&str]) -> ChartWebhook {
    let sets: Vec<&str> = ["tls.mode=selfSigned"]
        .into_iter()
        .chain(sets.iter().copied())
        .collect();
    let docs = render(&sets, false).expect("helm template");
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("Deployment");
    let secret = docs
        .iter()
        .find(|d| d["kind"] == "Secret")
        .expect("the generated TLS Secret");
    let secret_name = secret["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    let data: BTreeMap<String, Vec<u8>> = secret["data"]
        .as_object()
        .expect("data")
        .iter()
        .map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().expect("base64"))
                .expect("base64");
            (k.clone(), bytes)
        })
        .collect();

    let spec: Value = deployment["spec"]["template"]["spec"].clone();
    let webhook_image = spec["containers"][0]["image"]
        .as_str()
        .expect("image")
        .to_owned();
    let pod: Pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "webhook", "namespace": "landlock-injector"}, "spec": spec}))
    .expect("pod");

    let images = Images::from([(
        webhook_image,
        Image {
            rootfs: Rootfs::Webhook,
            facts: ImageFacts {
                entrypoint: vec!["/landlock-webhook".to_owned()],
                cmd: vec!["serve".to_owned()],
                env: vec![],
            },
        },
    )]);
    let ca = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(ca.path(), &data["ca.crt"]).expect("write CA");
    let cluster = Cluster {
        secrets: BTreeMap::from([(secret_name, data)]),
        ..Cluster::default()
    };
    ChartWebhook {
        pod,
        cluster,
        images,
        ca,
    }
}

/// What the API server does: HTTPS to the Service name in the pod's network, trusting the
/// chart's CA; POSTs `body` (a file) when given.
fn curl(netns: &Path, ca: &Path, path: &str, body: Option<&Path>) -> Output {
    require("/usr/bin/curl", "curl").unwrap_or_else(|e| panic!("{e}"));
    let mut command = Command::new("/usr/bin/nsenter");
    command
        .arg(format!("--net={}", netns.display()))
        .args(["--", "/usr/bin/curl", "-sS", "--max-time", "15", "--cacert"])
        .arg(ca);
    if let Some(body) = body {
        command
            .args(["-H", "Content-Type: application/json", "--data-binary"])
            .arg(format!("@{}", body.display()));
    }
    command
        .args(["--resolve", &format!("{SERVICE}:8443:127.0.0.1")])
        .arg(format!("https://{SERVICE}:8443{path}"))
        .output()
        .expect("run curl in the pod network")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits until `/healthz` answers `ok`.
fn wait_healthy(netns: &Path, ca: &Path, webhook: &Running) {
    let deadline = Instant::now() + LIMIT;
    let health = loop {
        let out = curl(netns, ca, "/healthz", None);
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        String::from_utf8_lossy(&health.stdout),
        "ok\n",
        "{}\nwebhook stderr: {}",
        String::from_utf8_lossy(&health.stderr),
        webhook.stderr()
    );
}

#[test]
fn the_chart_deployment_runs_the_scratch_webhook_image_sandboxed() {
    let chart = chart_webhook(&[]);
    let mut runner = PodRunner::new(chart.pod, chart.cluster, chart.images).expect("pod");
    let mut webhook = runner.start("webhook").expect("webhook");
    let (netns, ca) = (runner.netns(), chart.ca.path().to_path_buf());
    wait_healthy(&netns, &ca, &webhook);

    let fixture = landlock_tests::static_build::workspace_root()
        .join("webhook/tests/fixtures/review-annotated.json");
    let review =
        String::from_utf8_lossy(&curl(&netns, &ca, "/mutate", Some(&fixture)).stdout).into_owned();
    assert!(
        review.contains("\"allowed\":true") && review.contains("\"patchType\":\"JSONPatch\""),
        "{review}"
    );
    let metrics = String::from_utf8_lossy(&curl(&netns, &ca, "/metrics", None).stdout).into_owned();
    assert!(
        metrics.contains("landlock_webhook_admission_requests_total{outcome=\"mutated\"} 1"),
        "{metrics}"
    );
    assert!(webhook.is_running(), "still serving: {}", webhook.stderr());
    let log = webhook.stderr();
    assert!(
        log.contains("{\"landlock\":\"landlock-webhook")
            && log.contains("\"outcome\":\"enforced\""),
        "self-sandboxed: {log}"
    );
    assert!(
        log.contains("\"/etc/landlock-webhook/tls\":\"certificate\""),
        "the certificate directory is granted: {log}"
    );
    assert!(log.contains("\"tcp_bind\":[8443]"), "{log}");
    webhook.stop();
}

/// Where the test mounts the registry CA into the webhook container.
const REGISTRY_CA_DIR: &str = "/etc/landlock-webhook/registry-ca";
/// Ports of the fakes in the pod's (private) network namespace, fixed because the webhook's
/// `--insecure-registry` flags name them before they start.
const SILENT_PORT: u16 = 5002;
const BROKEN_TOKEN_PORT: u16 = 5003;
/// Nothing listens here.
const REFUSED_PORT: u16 = 5004;
/// How many times each lookup is repeated against the one server process.
const ROUNDS: usize = 3;

/// A pod the way users write most pods: no `command`, so the webhook reads the image's
/// ENTRYPOINT and CMD from its registry.
fn pod_without_command(image: &str) -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "app", "namespace": "apps",
            "annotations": {"landlock-injector.io/inject": "true"}},
        "spec": {"containers": [{"name": "app", "image": image}]}}))
    .expect("pod")
}

/// Sends `pod` to the webhook over HTTPS and returns what the API server makes of the answer;
/// no AdmissionReview back (the server died) fails the test with the webhook's stderr.
fn admit_over_https(netns: &Path, ca: &Path, pod: &Pod, webhook: &Running) -> Admitted {
    let scratch = tempfile::tempdir().expect("tempdir");
    let body = scratch.path().join("review.json");
    std::fs::write(&body, review_body(pod)).expect("write the review");
    let out = curl(netns, ca, "/mutate", Some(&body));
    let review: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not an AdmissionReview ({e}): {}\nwebhook stderr:\n{}",
            text(&out),
            webhook.stderr()
        )
    });
    answered(pod, &review["response"])
}

/// The configuration users run (chart defaults, `FROM scratch` layout, self-sandbox on) against
/// registries: a pod without `command` gets its image's ENTRYPOINT and CMD from a registry with a
/// private CA (`--registry-ca`); every kind of unreachable registry gets the documented denial;
/// each repeated against ONE server process, which must still serve afterwards. Before the fix
/// of issue 12 §1 the first lookup aborted the process (rand could not seed from /dev/random
/// under the sandbox; without /etc/ssl oci-client panicked).
#[test]
fn the_scratch_webhook_resolves_entrypoints_and_denies_unreachable_registries_without_dying() {
    // The registry CA the way users give it (the chart's registry.ca value: a Secret, mounted
    // read-only, passed as --registry-ca); everything else is the chart's.
    let insecure =
        format!("registry.insecure={{127.0.0.1:{SILENT_PORT},127.0.0.1:{BROKEN_TOKEN_PORT}}}");
    let mut chart = chart_webhook(&[
        "registry.ca.secretName=registry-ca",
        "registry.ca.key=ca.pem",
        &insecure,
    ]);
    let args = chart.pod.spec.as_ref().expect("spec").containers[0]
        .args
        .clone()
        .unwrap_or_default();
    assert!(
        args.contains(&format!("--registry-ca={REGISTRY_CA_DIR}/ca.pem"))
            && args.contains(&format!("--insecure-registry=127.0.0.1:{SILENT_PORT}")),
        "{args:?}"
    );
    chart.cluster.secrets.insert(
        "registry-ca".to_owned(),
        BTreeMap::from([("ca.pem".to_owned(), Vec::new())]),
    );
    let mut runner = PodRunner::new(chart.pod, chart.cluster, chart.images).expect("pod");
    let (netns, ca) = (runner.netns(), chart.ca.path().to_path_buf());

    // The registries live in the pod's network namespace, reachable on its loopback.
    let (registry, untrusted_registry, silent, broken_token, pushed) =
        netns::within(&netns, || {
            let registry = TestRegistry::start(None).expect("docker-registry");
            let untrusted = TestRegistry::start(None).expect("docker-registry");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let pushed = runtime.block_on(async {
                (
                    registry
                        .push(
                            "app:1",
                            &["/docker-entrypoint.sh"],
                            &["nginx", "-g", "daemon off;"],
                        )
                        .await
                        .expect("push"),
                    registry
                        .push_config("garbage:1", b"this is not JSON".to_vec())
                        .await
                        .expect("push"),
                    untrusted.push("app:1", &["/app"], &[]).await.expect("push"),
                )
            });
            let bind =
                |port| std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind in the pod");
            let silent =
                FakeRegistry::serve(bind(SILENT_PORT), |_| FakeAnswer::Silence).expect("fake");
            let broken_token = FakeRegistry::serve(
                bind(BROKEN_TOKEN_PORT),
                broken_token_answers(format!("127.0.0.1:{BROKEN_TOKEN_PORT}")),
            )
            .expect("fake");
            (registry, untrusted, silent, broken_token, pushed)
        })
        .expect("enter the pod network");
    let (app, garbage, untrusted) = pushed;
    runner
        .update_secret(
            "registry-ca",
            BTreeMap::from([(
                "ca.pem".to_owned(),
                std::fs::read(registry.ca_file()).expect("registry CA"),
            )]),
        )
        .expect("registry CA secret");

    // Every Landlock denial on the machine from here on; the webhook's are picked out by pid.
    let audit = LandlockRecords::start();
    let mut webhook = runner.start("webhook").expect("webhook");
    wait_healthy(&netns, &ca, &webhook);
    let webhook_pid = runner
        .container_pid("webhook")
        .expect("the running webhook's pid");

    let unreachable: [(String, &str); 7] = [
        (
            format!("127.0.0.1:{REFUSED_PORT}/app:1"),
            "Connection refused",
        ),
        // The pod's resolv.conf names a nameserver nothing answers on.
        ("registry.invalid/app:1".to_owned(), "dns error"),
        (untrusted, "invalid peer certificate"),
        (
            format!("{}/app:1", silent.host()),
            "took longer than its budget of 4s",
        ),
        (format!("{}/nope:1", registry.host()), "manifest unknown"),
        (garbage, "the image configuration is not valid JSON"),
        (
            format!("{}/app:1", broken_token.host()),
            "not a valid HTTP header value",
        ),
    ];
    for round in 0..ROUNDS {
        match admit_over_https(&netns, &ca, &pod_without_command(&app), &webhook) {
            Admitted::Allowed(pod, _) => {
                let container = &pod.spec.as_ref().expect("spec").containers[0];
                let command = container.command.clone().unwrap_or_default();
                let program = command
                    .iter()
                    .position(|a| a == "--")
                    .map(|at| command[at + 1..].to_vec());
                assert_eq!(
                    program.as_deref(),
                    Some(&["/docker-entrypoint.sh".to_owned()][..]),
                    "round {round}: {command:?}"
                );
                assert_eq!(
                    container.args.as_deref(),
                    Some(
                        &[
                            "nginx".to_owned(),
                            "-g".to_owned(),
                            "daemon off;".to_owned()
                        ][..]
                    )
                );
            }
            Admitted::Denied(message) => panic!(
                "round {round}: {app} was not resolved: {message}\nwebhook stderr: {}",
                webhook.stderr()
            ),
        }
        for (image, cause) in &unreachable {
            match admit_over_https(&netns, &ca, &pod_without_command(image), &webhook) {
                Admitted::Denied(message) => {
                    assert!(
                        message.starts_with(&format!(
                            "landlock-injector: container \"app\" (image \"{image}\"): "
                        )) && message.contains(cause)
                            && message.ends_with("set `command` in the container spec so the webhook does not need the image's configuration"),
                        "round {round}: {message}"
                    );
                }
                Admitted::Allowed(..) => panic!("round {round}: {image} was admitted"),
            }
        }
    }

    // Still the same process, still serving: health, another admission, the counters of all
    // of the above.
    assert!(
        webhook.is_running(),
        "the webhook died: {}",
        webhook.stderr()
    );
    wait_healthy(&netns, &ca, &webhook);
    let fixture = landlock_tests::static_build::workspace_root()
        .join("webhook/tests/fixtures/review-annotated.json");
    let review = text(&curl(&netns, &ca, "/mutate", Some(&fixture)));
    assert!(review.contains("\"allowed\":true"), "{review}");
    let metrics = text(&curl(&netns, &ca, "/metrics", None));
    for line in [
        format!(
            "landlock_webhook_admission_requests_total{{outcome=\"denied\"}} {}",
            ROUNDS * unreachable.len()
        ),
        format!(
            "landlock_webhook_admission_requests_total{{outcome=\"mutated\"}} {}",
            ROUNDS + 1
        ),
    ] {
        assert!(metrics.contains(&line), "missing {line:?} in\n{metrics}");
    }
    let denials = audit.finish(webhook_pid);
    assert!(
        denials.is_empty(),
        "the shipped configuration caused Landlock denials in the webhook (pid {webhook_pid}); grant what it needs or avoid the access:\n{}",
        denials.join("\n")
    );
    let log = webhook.stderr();
    assert!(!log.contains("panicked"), "{log}");
    let startup = log
        .lines()
        .find(|l| l.starts_with("{\"landlock\":"))
        .unwrap_or_default();
    assert!(
        !startup.contains(REGISTRY_CA_DIR) && !startup.contains("/etc/ssl"),
        "the sandbox grants no trust store (the registry CA was read before it): {startup}"
    );
    assert!(
        !startup.contains("/etc/resolv.conf") && !startup.contains("/etc/hosts"),
        "the sandbox grants no resolver file (read before it): {startup}"
    );
    webhook.stop();
    drop((registry, untrusted_registry, silent, broken_token));
}

/// Landlock's audit records (and the system calls they happened in), read from the audit
/// multicast group from [`LandlockRecords::start`] on, with kernel auditing switched on (and
/// back when done).
struct LandlockRecords {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    reader: std::thread::JoinHandle<Vec<(u16, Vec<u8>)>>,
    _audit: AuditGuard,
}

impl LandlockRecords {
    fn start() -> Self {
        use webhook::denials::netlink::{AuditReader, Received};
        let audit = AuditGuard::enable();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ready, started) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let reader = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut reader =
                    AuditReader::open(64 << 20).expect("join the audit multicast group");
                let _ = ready.send(());
                let mut records = Vec::new();
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    let received =
                        tokio::time::timeout(Duration::from_millis(100), reader.receive()).await;
                    match received {
                        Ok(Ok(Received::Messages(messages))) => records.extend(messages),
                        Ok(Ok(Received::Overrun)) => {
                            panic!("the audit socket overflowed: records were lost")
                        }
                        Ok(Err(e)) => panic!("reading audit records: {e}"),
                        Err(_) => {}
                    }
                }
                records
            })
        });
        started.recv().expect("the audit reader started");
        Self {
            stop,
            reader,
            _audit: audit,
        }
    }

    /// Stops reading (after the kernel had a moment to deliver the last records) and returns
    /// the denials of process `pid` (in the initial pid namespace): accesses in its system
    /// calls, or by a domain it created.
    fn finish(self, pid: u32) -> Vec<String> {
        use webhook::denials::record::{Body, parse};
        // kauditd delivers records asynchronously, typically within milliseconds; a second
        // covers a loaded machine (this is no measurement: a late record could only hide a
        // denial, never invent one).
        std::thread::sleep(Duration::from_secs(1));
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let records: Vec<_> = self
            .reader
            .join()
            .expect("the audit reader")
            .iter()
            .filter_map(|(kind, payload)| parse(*kind, payload).ok())
            .collect();
        let serials: std::collections::HashSet<u64> = records
            .iter()
            .filter_map(|r| match &r.body {
                Body::Syscall(call) if call.pid == pid => Some(r.stamp.serial),
                _ => None,
            })
            .collect();
        let domains: std::collections::HashSet<_> = records
            .iter()
            .filter_map(|r| match &r.body {
                Body::DomainAllocated(domain) if domain.pid == pid => Some(domain.domain),
                _ => None,
            })
            .collect();
        records
            .iter()
            .filter_map(|r| match &r.body {
                Body::Access(access)
                    if serials.contains(&r.stamp.serial) || domains.contains(&access.domain) =>
                {
                    Some(format!(
                        "{} denied ({})",
                        access.object,
                        access.blockers.join(",")
                    ))
                }
                _ => None,
            })
            .collect()
    }
}

/// The chart's `helm test` pod must pass when the webhook wrapped it and fail when it did not:
/// otherwise `helm test` would prove nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_helm_test_pod_passes_only_when_sandboxed() {
    use landlock_tests::admit::{Admitted, admit, shim_image};
    let docs = render(&[], true).expect("helm template with tests");
    // The helm test pod runs `kubectl run` for this opted-in pod, the one the webhook sees.
    let test_pod =
        landlock_tests::chart::helm_test_sandbox_pod(&docs).expect("the helm test's pod");
    let pod: Pod = serde_json::from_value(test_pod).expect("pod");
    let image = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers[0].image.clone())
        .expect("image");
    let images = || {
        Images::from([
            shim_image(),
            (
                image.clone(),
                Image {
                    rootfs: Rootfs::Busybox,
                    facts: ImageFacts::default(),
                },
            ),
        ])
    };

    let sandboxed = match admit(
        &pod,
        &webhook::admission::config::Config::default(),
        &webhook::admission::resolve::Offline,
    )
    .await
    {
        Admitted::Allowed(pod, _) => *pod,
        Admitted::Denied(m) => panic!("the webhook denied the helm test pod: {m}"),
    };
    let mut runner = PodRunner::new(sandboxed, Cluster::default(), images()).expect("pod");
    runner.run_init(LIMIT).expect("installer");
    let done = runner.run("check", LIMIT).expect("check");
    assert_eq!(done.exit_code, 0, "{done:?}");
    assert!(
        done.stdout
            .contains("ok: read of /etc/shadow denied by the sandbox"),
        "{done:?}"
    );

    let mut runner = PodRunner::new(pod, Cluster::default(), images()).expect("pod");
    let done = runner.run("check", LIMIT).expect("check");
    assert_eq!(
        done.exit_code, 1,
        "without the sandbox the test must fail: {done:?}"
    );
    assert!(
        done.stdout.contains("FAIL: /etc/shadow was readable"),
        "{done:?}"
    );
}

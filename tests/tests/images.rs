//! The webhook as the chart deploys it, without a cluster: the Deployment's pod template from
//! `helm template`, the TLS Secret the chart generated, and the `FROM scratch` image layout of
//! deploy/Dockerfile (only the static binary, user 65532, read-only root), run on runc by the
//! pod runner. curl, in the pod's network namespace, talks HTTPS to it and verifies the
//! certificate against the chart's CA for the Service's DNS name.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Pod;
use landlock_tests::chart::render;
use landlock_tests::pod_runner::bundle::ImageFacts;
use landlock_tests::pod_runner::{Cluster, Image, Images, PodRunner, Rootfs, require};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn the_chart_deployment_runs_the_scratch_webhook_image_sandboxed() {
    let docs = render(&["tls.mode=selfSigned"], false).expect("helm template");
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
    let mut runner = PodRunner::new(pod, cluster, images).expect("pod");
    let mut webhook = runner.start("webhook").expect("webhook");

    // What the API server does: HTTPS to the Service name, trusting the caBundle.
    require("/usr/bin/curl", "curl").unwrap_or_else(|e| panic!("{e}"));
    let name = "landlock-injector.landlock-injector.svc";
    let fixture = landlock_tests::static_build::workspace_root()
        .join("webhook/tests/fixtures/review-annotated.json");
    let curl = |path: &str, post: bool| {
        let mut command = Command::new("/usr/bin/nsenter");
        command
            .arg(format!("--net={}", runner.netns().display()))
            .args(["--", "/usr/bin/curl", "-sS", "--max-time", "5", "--cacert"])
            .arg(ca.path());
        if post {
            command
                .args(["-H", "Content-Type: application/json", "--data-binary"])
                .arg(format!("@{}", fixture.display()));
        }
        command
            .args(["--resolve", &format!("{name}:8443:127.0.0.1")])
            .arg(format!("https://{name}:8443{path}"))
            .output()
            .expect("run curl in the pod network")
    };
    let deadline = Instant::now() + LIMIT;
    let health = loop {
        let out = curl("/healthz", false);
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
    let review = String::from_utf8_lossy(&curl("/mutate", true).stdout).into_owned();
    assert!(
        review.contains("\"allowed\":true") && review.contains("\"patchType\":\"JSONPatch\""),
        "{review}"
    );
    let metrics = String::from_utf8_lossy(&curl("/metrics", false).stdout).into_owned();
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

/// The chart's `helm test` pod must pass when the webhook wrapped it and fail when it did not:
/// otherwise `helm test` would prove nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_helm_test_pod_passes_only_when_sandboxed() {
    use landlock_tests::admit::{Admitted, admit, shim_image};
    let docs = render(&[], true).expect("helm template with tests");
    let test_pod = docs
        .iter()
        .find(|d| d["kind"] == "Pod" && d["metadata"]["annotations"]["helm.sh/hook"] == "test")
        .expect("the helm test pod");
    let pod: Pod = serde_json::from_value(test_pod.clone()).expect("pod");
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
        &webhook::config::Config::default(),
        &webhook::resolve::Offline,
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

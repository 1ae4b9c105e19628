//! The kind end-to-end suite: against a real cluster with the chart installed, through the API
//! server. Not part of `cargo test --workspace` (each test is `#[ignore]`d, which cargo reports);
//! `tests/e2e/run` creates the cluster, installs the chart and runs them with
//! `LANDLOCK_E2E=1 cargo test -p landlock-tests --test e2e_kind -- --ignored --test-threads=1
//! --skip label_mode`, then upgrades the release to `webhook.optIn=label` and runs the
//! `label_mode` tests with `LANDLOCK_E2E_OPT_IN=label` as well.
//! With the switch on, a missing tool or cluster fails the test; nothing is skipped.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, LogParams, Patch, PatchParams, PostParams};
use landlock_tests::scrape;
use serde_json::{Value, json};

/// The release's namespace and Deployment name (tests/e2e/run installs it so).
const RELEASE_NAMESPACE: &str = "landlock-injector";
const RELEASE_DEPLOYMENT: &str = "landlock-injector";
const BUSYBOX: &str = "docker.io/library/busybox:1.36";
const INJECT: &str = "landlock-injector.io/inject";

async fn client() -> Client {
    assert_eq!(
        std::env::var("LANDLOCK_E2E").as_deref(),
        Ok("1"),
        "the e2e suite runs only with LANDLOCK_E2E=1 (tests/e2e/run sets it after creating the cluster)"
    );
    Client::try_default().await.unwrap_or_else(|e| {
        panic!("no cluster reachable from the kubeconfig (is the kind cluster up?): {e}")
    })
}

/// `prefix` and a suffix no earlier run used: a namespace (or pod) of a fixed name may still be
/// terminating from the last run, and the namespace controller then deletes what a new test
/// creates in it.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{:x}{:x}",
        nanos % 0xff_ffff,
        std::process::id() % 0xfff
    )
}

/// A fresh namespace for one test, named `prefix-<unique>`; deleted at the end by the caller.
async fn namespace(client: &Client, prefix: &str) -> String {
    labelled_namespace(client, prefix, json!({})).await
}

/// A fresh namespace with `labels`, named `prefix-<unique>`; deleted at the end by the caller.
async fn labelled_namespace(client: &Client, prefix: &str, labels: Value) -> String {
    let api: Api<Namespace> = Api::all(client.clone());
    let name = unique(prefix);
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
            .expect("namespace");
    api.create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("cannot create namespace {name}: {e}"));
    name
}

async fn drop_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
}

fn pod(name: &str, annotations: Value, script: &str, volumes: Value, mounts: Value) -> Pod {
    labelled_pod(name, json!({}), annotations, script, volumes, mounts)
}

fn labelled_pod(
    name: &str,
    labels: Value,
    annotations: Value,
    script: &str,
    volumes: Value,
    mounts: Value,
) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {
            "restartPolicy": "Never",
            "volumes": volumes,
            "containers": [{"name": "app", "image": BUSYBOX, "command": ["/bin/sh", "-c", script], "volumeMounts": mounts}],
        }
    }))
    .expect("pod")
}

/// Calls `check` every `every` until it gives its value; after `limit`, fails naming `what`
/// and the last state `check` reported. Every wait of the suite is one of these.
async fn eventually<T, Fut>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: impl FnMut() -> Fut,
) -> T
where
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        let state = match check().await {
            Ok(done) => return done,
            Err(state) => state,
        };
        assert!(
            Instant::now() < deadline,
            "{what}: not after {limit:?}: {state}"
        );
        tokio::time::sleep(every).await;
    }
}

async fn wait_done(api: &Api<Pod>, name: &str, limit: Duration) -> Pod {
    let what = format!("pod {name} done");
    eventually(&what, limit, Duration::from_secs(1), || async move {
        let pod = api.get(name).await.expect("get pod");
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        match phase.as_deref() {
            Some("Succeeded" | "Failed") => Ok(pod),
            _ => Err(format!("still {phase:?}: {:?}", pod.status)),
        }
    })
    .await
}

async fn logs(api: &Api<Pod>, name: &str) -> String {
    let what = format!("pod {name}: container app started");
    let limit = Duration::from_secs(60);
    eventually(&what, limit, Duration::from_secs(1), || async move {
        logs_so_far(api, name)
            .await
            .ok_or_else(|| "no log yet".to_owned())
    })
    .await
}

/// The app container's log, or None while it has not started yet: while a pod arrives the API
/// server answers 404 on `pods/log` (the pod is not bound yet), and 400 "is waiting to start:
/// PodInitializing" / "ContainerCreating" or "container ... is not available"; callers retry
/// until their own deadline.
async fn logs_so_far(api: &Api<Pod>, name: &str) -> Option<String> {
    let params = LogParams {
        container: Some("app".to_owned()),
        ..LogParams::default()
    };
    match api.logs(name, &params).await {
        Ok(log) => Some(log),
        Err(kube::Error::Api(e)) if not_started(e.code, &e.message) => None,
        Err(e) => panic!("logs of pod {name}: {e}"),
    }
}

/// Whether an API error on `pods/log` means "not started yet" rather than a failure.
fn not_started(code: u16, message: &str) -> bool {
    code == 404
        || (code == 400
            && [
                "waiting to start",
                "is not available",
                "ContainerCreating",
                "PodInitializing",
            ]
            .iter()
            .any(|m| message.contains(m)))
}

/// The pod as the API server stored it was wrapped by the webhook.
fn assert_wrapped(pod: &Pod) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("landlock-injector.io/status")
            .map(String::as_str),
        Some("injected"),
        "pod {name} was not wrapped: {annotations:?}"
    );
    let spec = pod.spec.clone().expect("spec");
    assert!(
        spec.containers[0].command.as_ref().expect("command")[0].ends_with("/landlock-shim"),
        "pod {name}: {:?}",
        spec.containers[0].command
    );
}

/// The pod as the API server stored it was not touched by the webhook.
fn assert_untouched(pod: &Pod) {
    let spec = pod.spec.clone().expect("spec");
    assert!(spec.init_containers.is_none(), "no init container added");
    assert_eq!(
        spec.containers[0].command.as_ref().expect("command")[0],
        "/bin/sh"
    );
}

/// Creates `pod` in `namespace` with kubectl, as a user would: Ok(the warnings kubectl
/// printed), or Err(its error output).
fn kubectl_create(namespace: &str, pod: &Pod) -> Result<String, String> {
    let mut child = Command::new("kubectl")
        .args(["create", "--namespace", namespace, "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("kubectl (required by the e2e suite): {e}"));
    let body = serde_json::to_vec(pod).expect("json");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&body)
        .expect("write the pod to kubectl");
    let out = child.wait_with_output().expect("kubectl");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(stderr)
    } else {
        Err(stderr)
    }
}

fn config_and_secret(ns: &str, version: &str) -> (ConfigMap, Secret) {
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "app", "namespace": ns},
        "data": {"app.yaml": format!("config-{version}")}}))
        .expect("configmap");
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("tls".to_owned()),
            namespace: Some(ns.to_owned()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "tls.crt".to_owned(),
            ByteString(format!("cert-{version}").into_bytes()),
        )])),
        ..Secret::default()
    };
    (cm, secret)
}

fn volumes() -> (Value, Value) {
    (
        json!([{"name": "config", "configMap": {"name": "app"}}, {"name": "tls", "secret": {"secretName": "tls"}}]),
        json!([{"name": "config", "mountPath": "/etc/app"}, {"name": "tls", "mountPath": "/etc/tls"}]),
    )
}

#[tokio::test]
#[ignore = "needs a kind cluster with the chart: run tests/e2e/run"]
async fn a_annotated_pod_is_mutated_and_its_reads_are_decided_by_the_sandbox() {
    let client = client().await;
    let ns = namespace(&client, "e2e-sandbox").await;
    let (cm, secret) = config_and_secret(&ns, "v1");
    Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &cm)
        .await
        .expect("configmap");
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let (vols, mounts) = volumes();
    let created = pods
        .create(
            &PostParams::default(),
            &pod(
                "sandboxed",
                json!({"landlock-injector.io/inject": "true"}),
                "cat /etc/app/app.yaml; echo; cat /etc/tls/tls.crt; echo; \
                 if cat /etc/shadow; then echo SHADOW-READ; exit 1; fi; echo shadow-denied",
                vols,
                mounts,
            ),
        )
        .await
        .expect("create");
    let annotations = created.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("landlock-injector.io/status")
            .map(String::as_str),
        Some("injected")
    );
    let spec = created.spec.clone().expect("spec");
    assert_eq!(
        spec.init_containers.as_ref().expect("init")[0].name,
        "landlock-shim-install"
    );
    assert!(spec.containers[0].command.as_ref().expect("command")[0].ends_with("/landlock-shim"));

    let done = wait_done(&pods, "sandboxed", Duration::from_secs(180)).await;
    let log = logs(&pods, "sandboxed").await;
    assert_eq!(
        done.status.and_then(|s| s.phase).as_deref(),
        Some("Succeeded"),
        "{log}"
    );
    assert!(
        log.contains("config-v1") && log.contains("cert-v1"),
        "{log}"
    );
    assert!(
        log.contains("shadow-denied") && log.contains("Permission denied"),
        "{log}"
    );
    assert!(
        log.contains("{\"landlock\":\"landlock-shim"),
        "the shim's startup line is in the logs: {log}"
    );
    drop_namespace(&client, &ns).await;
}

#[tokio::test]
#[ignore = "needs a kind cluster with the chart: run tests/e2e/run"]
async fn b_config_map_updates_and_secret_renewals_reach_a_running_sandboxed_pod() {
    let client = client().await;
    let ns = namespace(&client, "e2e-rotation").await;
    let (cm, secret) = config_and_secret(&ns, "v1");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("configmap");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let (vols, mounts) = volumes();
    let script = "last=; while true; do now=\"$(cat /etc/app/app.yaml 2>&1) $(cat /etc/tls/tls.crt 2>&1)\"; \
                  if [ \"$now\" != \"$last\" ]; then echo \"seen $now\"; last=$now; fi; \
                  [ \"$now\" = 'config-v2 cert-v2' ] && exit 0; sleep 1; done";
    pods.create(
        &PostParams::default(),
        &pod(
            "watcher",
            json!({"landlock-injector.io/inject": "true"}),
            script,
            vols,
            mounts,
        ),
    )
    .await
    .expect("create");
    let watched = &pods;
    let limit = Duration::from_secs(120);
    eventually(
        "the pod reads v1",
        limit,
        Duration::from_secs(1),
        || async move {
            match logs_so_far(watched, "watcher").await {
                Some(log) if log.contains("seen config-v1 cert-v1") => Ok(()),
                log => Err(format!("log {log:?}")),
            }
        },
    )
    .await;
    let patch = PatchParams::default();
    cms.patch(
        "app",
        &patch,
        &Patch::Merge(json!({"data": {"app.yaml": "config-v2"}})),
    )
    .await
    .expect("update configmap");
    secrets
        .patch(
            "tls",
            &patch,
            &Patch::Merge(json!({"stringData": {"tls.crt": "cert-v2"}})),
        )
        .await
        .expect("renew secret");
    let done = wait_done(&pods, "watcher", Duration::from_secs(240)).await;
    let log = logs(&pods, "watcher").await;
    assert_eq!(
        done.status.and_then(|s| s.phase).as_deref(),
        Some("Succeeded"),
        "{log}"
    );
    assert!(
        !log.contains("Permission denied"),
        "no denial across the swaps: {log}"
    );
    drop_namespace(&client, &ns).await;
}

#[tokio::test]
#[ignore = "needs a kind cluster with the chart: run tests/e2e/run"]
async fn c_unannotated_pods_are_untouched_and_bad_annotations_are_rejected() {
    let client = client().await;
    let ns = namespace(&client, "e2e-plain").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let plain = pods
        .create(
            &PostParams::default(),
            &pod(
                "plain",
                json!({}),
                "cat /etc/hostname",
                json!([]),
                json!([]),
            ),
        )
        .await
        .expect("create");
    assert_untouched(&plain);

    let err = pods
        .create(
            &PostParams::default(),
            &pod("bad", json!({"landlock-injector.io/inject": "true", "landlock-injector.io/app.read": "etc"}), "true", json!([]), json!([])),
        )
        .await
        .expect_err("a bad annotation is rejected");
    let message = err.to_string();
    assert!(
        message.contains("landlock-injector.io/app.read") && message.contains("\"etc\""),
        "{message}"
    );
    drop_namespace(&client, &ns).await;
}

async fn scale(client: &Client, replicas: i32) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), RELEASE_NAMESPACE);
    deployments
        .patch(
            RELEASE_DEPLOYMENT,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .expect("scale the webhook");
    let deployments = &deployments;
    let what = format!("the webhook at {replicas} replicas");
    let limit = Duration::from_secs(180);
    eventually(&what, limit, Duration::from_secs(1), || async move {
        let d = deployments
            .get(RELEASE_DEPLOYMENT)
            .await
            .expect("get deployment");
        let status = d.status.unwrap_or_default();
        let ready = status.ready_replicas.unwrap_or(0);
        let total = status.replicas.unwrap_or(0);
        if (replicas == 0 && total == 0) || (replicas > 0 && ready == replicas) {
            Ok(())
        } else {
            Err(format!("{ready} ready of {total}"))
        }
    })
    .await
}

#[tokio::test]
#[ignore = "needs a kind cluster with the chart: run tests/e2e/run"]
async fn d_with_the_webhook_down_plain_pods_start_and_opted_in_pods_are_rejected() {
    let client = client().await;
    let ns = namespace(&client, "e2e-outage").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    scale(&client, 0).await;
    let plain = pods
        .create(
            &PostParams::default(),
            &pod("plain", json!({}), "echo up", json!([]), json!([])),
        )
        .await;
    let opted_in = pods
        .create(
            &PostParams::default(),
            &pod(
                "opted-in",
                json!({"landlock-injector.io/inject": "true"}),
                "echo up",
                json!([]),
                json!([]),
            ),
        )
        .await;
    scale(&client, 2).await;
    assert!(
        plain.is_ok(),
        "an unannotated pod must not be blocked by the outage: {plain:?}"
    );
    let message = opted_in
        .expect_err("an opted-in pod must not run unsandboxed")
        .to_string();
    assert!(message.contains("did not wrap it"), "{message}");
    drop_namespace(&client, &ns).await;
}

/// The denials reporter beside kind: kind's node is a container with a network namespace of
/// its own, and the kernel multicasts audit records only in the initial one, so the chart's
/// DaemonSet receives nothing there (it says so in /readyz). `tests/e2e/run` runs the agent on
/// the host instead (`landlock-webhook denials --kubeconfig ... --node <cluster>-control-plane
/// --enable-audit`, its address in `LANDLOCK_E2E_DENIALS_AGENT`), where the records arrive with
/// host pids and the node container's cgroup in front of kubelet's. A denied read in a
/// sandboxed pod shows up in `kubectl get events --field-selector reason=LandlockDenied` and in
/// `landlock_denials_total` on the agent's /metrics.
#[tokio::test]
#[ignore = "needs a kind cluster with the chart: run tests/e2e/run"]
async fn e_a_denied_read_in_a_sandboxed_pod_appears_as_a_landlock_denied_event_and_metric() {
    let client = client().await;
    let agent: std::net::SocketAddr = std::env::var("LANDLOCK_E2E_DENIALS_AGENT")
        .expect("LANDLOCK_E2E_DENIALS_AGENT: the address of the denials agent tests/e2e/run starts on the host")
        .parse()
        .expect("LANDLOCK_E2E_DENIALS_AGENT is host:port");
    let what = format!(
        "the denials agent on {agent} ready (its log is in tests/e2e/run's work directory)"
    );
    let limit = Duration::from_secs(180);
    eventually(&what, limit, Duration::from_secs(2), || async move {
        match scrape::get(agent, "/readyz") {
            Some((200, _)) => Ok(()),
            answer => Err(format!("{answer:?}")),
        }
    })
    .await;
    let ns = namespace(&client, "e2e-denials").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let p = pod(
        "denied",
        json!({"landlock-injector.io/inject": "true"}),
        "cat /etc/shadow || echo shadow-denied; sleep 60",
        json!([]),
        json!([]),
    );
    pods.create(&PostParams::default(), &p)
        .await
        .expect("create pod");
    let ns_name = ns.as_str();
    let what = "a LandlockDenied Event for the pod's read of /etc/shadow in kubectl get events";
    let limit = Duration::from_secs(120);
    let event = eventually(what, limit, Duration::from_secs(2), || async move {
        let out = Command::new("kubectl")
            .args(["get", "events", "-n", ns_name])
            .args(["--field-selector", "reason=LandlockDenied", "-o", "json"])
            .output()
            .expect("run kubectl get events");
        assert!(
            out.status.success(),
            "kubectl get events: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed: Value = serde_json::from_slice(&out.stdout).expect("kubectl's JSON");
        let found = listed["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|e| {
                    e["involvedObject"]["name"] == "denied"
                        && e["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("/etc/shadow"))
                })
                .cloned()
        });
        found.ok_or_else(|| {
            format!(
                "{} LandlockDenied events",
                listed["items"].as_array().map_or(0, Vec::len)
            )
        })
    })
    .await;
    let message = event["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("fs.read_file") && message.contains("container \"app\""),
        "{message}"
    );
    assert_eq!(event["type"], "Warning");
    let (code, metrics) = scrape::get(agent, "/metrics").expect("the agent's /metrics");
    assert_eq!(code, 200);
    let series = format!(
        "landlock_denials_total{{namespace=\"{ns}\",pod=\"denied\",container=\"app\",blocker=\"fs.read_file\"}}"
    );
    let count = scrape::sample(&metrics, &series).unwrap_or(0.0);
    assert!(count >= 1.0, "{series} is {count}:\n{metrics}");
    drop_namespace(&client, &ns).await;
}

/// Runs `pod` to completion in `ns` and requires the sandbox's verdict in its log.
async fn runs_sandboxed(pods: &Api<Pod>, name: &str) {
    let done = wait_done(pods, name, Duration::from_secs(180)).await;
    let log = logs(pods, name).await;
    assert_eq!(
        done.status.and_then(|s| s.phase).as_deref(),
        Some("Succeeded"),
        "{log}"
    );
    assert!(
        log.contains("shadow-denied") && log.contains("Permission denied"),
        "{log}"
    );
}

/// A pod with only the label `landlock-injector.io/inject: "true"` is wrapped and sandboxed.
async fn labelled_pod_is_sandboxed(pods: &Api<Pod>) {
    let pod = labelled_pod(
        "labelled",
        json!({INJECT: "true"}),
        json!({}),
        SHADOW_CHECK,
        json!([]),
        json!([]),
    );
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("create");
    assert_wrapped(&created);
    runs_sandboxed(pods, "labelled").await;
}

const SHADOW_CHECK: &str =
    "if cat /etc/shadow; then echo SHADOW-READ; exit 1; fi; echo shadow-denied";

#[tokio::test]
#[ignore = "needs a kind cluster with the chart: run tests/e2e/run"]
async fn f_a_pod_label_alone_opts_in() {
    let client = client().await;
    let ns = namespace(&client, "e2e-pod-label").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    labelled_pod_is_sandboxed(&pods).await;
    drop_namespace(&client, &ns).await;
}

#[tokio::test]
#[ignore = "needs a kind cluster with the chart: run tests/e2e/run"]
async fn g_a_namespace_label_opts_in_every_pod_that_does_not_say_false() {
    let client = client().await;
    let ns = labelled_namespace(&client, "e2e-namespace-label", json!({INJECT: "true"})).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let created = pods
        .create(
            &PostParams::default(),
            &pod("plain", json!({}), SHADOW_CHECK, json!([]), json!([])),
        )
        .await
        .expect("create");
    assert_wrapped(&created);
    runs_sandboxed(&pods, "plain").await;

    for (name, labels, annotations) in [
        ("label-false", json!({INJECT: "false"}), json!({})),
        ("annotation-false", json!({}), json!({INJECT: "false"})),
    ] {
        let created = pods
            .create(
                &PostParams::default(),
                &labelled_pod(name, labels, annotations, "true", json!([]), json!([])),
            )
            .await
            .expect("create");
        assert_untouched(&created);
    }
    drop_namespace(&client, &ns).await;
}

#[tokio::test]
#[ignore = "needs a kind cluster with the chart: run tests/e2e/run"]
async fn h_an_opted_in_pod_the_webhook_never_sees_is_admitted_with_a_warning() {
    let client = client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NAMESPACE);
    let name = unique("e2e-never-seen");
    let name = name.as_str();
    let pod = labelled_pod(
        name,
        json!({INJECT: "true"}),
        json!({}),
        "true",
        json!([]),
        json!([]),
    );
    let warnings = kubectl_create(RELEASE_NAMESPACE, &pod)
        .unwrap_or_else(|e| panic!("the pod must be admitted: {e}"));
    assert!(
        warnings.contains("Warning:")
            && warnings.contains("runs UNSANDBOXED")
            && warnings.contains(&format!(
                "pods in namespace {RELEASE_NAMESPACE} are never mutated"
            )),
        "kubectl printed: {warnings}"
    );
    let stored = pods.get(name).await.expect("get");
    assert_untouched(&stored);
    let _ = pods.delete(name, &DeleteParams::default()).await;
}

/// The release runs with `webhook.optIn=label` (tests/e2e/run upgrades it for these tests).
async fn label_mode(client: &Client) {
    assert_eq!(
        std::env::var("LANDLOCK_E2E_OPT_IN").as_deref(),
        Ok("label"),
        "the label_mode tests run after tests/e2e/run upgrades the release to webhook.optIn=label"
    );
    let configs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let config = configs
        .get(RELEASE_DEPLOYMENT)
        .await
        .expect("the webhook configuration");
    let hooks = config.webhooks.unwrap_or_default();
    assert_eq!(hooks.len(), 2, "optIn label registers two webhook entries");
    assert!(
        hooks[0]
            .object_selector
            .as_ref()
            .and_then(|s| s.match_labels.as_ref())
            .is_some_and(|l| l.get(INJECT).map(String::as_str) == Some("true")),
        "{hooks:?}"
    );
}

#[tokio::test]
#[ignore = "needs a kind cluster with the chart: run tests/e2e/run"]
async fn i_label_mode_wraps_labelled_pods_and_namespaces_and_rejects_annotation_only_pods() {
    let client = client().await;
    label_mode(&client).await;
    let ns = namespace(&client, "e2e-label-mode").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);

    labelled_pod_is_sandboxed(&pods).await;

    let plain = pods
        .create(
            &PostParams::default(),
            &pod("plain", json!({}), "true", json!([]), json!([])),
        )
        .await
        .expect("a pod that does not opt in is created");
    assert_untouched(&plain);

    let message = pods
        .create(
            &PostParams::default(),
            &pod(
                "annotation-only",
                json!({INJECT: "true"}),
                "true",
                json!([]),
                json!([]),
            ),
        )
        .await
        .expect_err("an annotation alone never reaches the webhook: rejected")
        .to_string();
    assert!(
        message.contains(&format!("Add the label {INJECT}")),
        "{message}"
    );

    let labelled_ns =
        labelled_namespace(&client, "e2e-label-mode-ns", json!({INJECT: "true"})).await;
    let in_labelled: Api<Pod> = Api::namespaced(client.clone(), &labelled_ns);
    for (name, annotations) in [
        ("plain", json!({})),
        ("annotation-only", json!({INJECT: "true"})),
    ] {
        let created = in_labelled
            .create(
                &PostParams::default(),
                &pod(name, annotations, SHADOW_CHECK, json!([]), json!([])),
            )
            .await
            .expect("create in a labelled namespace");
        assert_wrapped(&created);
        runs_sandboxed(&in_labelled, name).await;
    }
    drop_namespace(&client, &labelled_ns).await;
    drop_namespace(&client, &ns).await;
}

// These two run in `cargo test --workspace` (no cluster needed): the suite's tolerance of a pod
// that is still arriving, and its names.

#[test]
fn pods_log_errors_while_a_pod_arrives_are_retried_and_others_are_failures() {
    for (code, message) in [
        (404, "pods \"watcher\" not found"),
        (
            400,
            "container \"app\" in pod \"watcher\" is waiting to start: ContainerCreating",
        ),
        (
            400,
            "container \"app\" in pod \"watcher\" is waiting to start: PodInitializing",
        ),
        (400, "container app is not available"),
    ] {
        assert!(not_started(code, message), "{code} {message}");
    }
    for (code, message) in [(403, "forbidden"), (400, "bad request"), (500, "internal")] {
        assert!(!not_started(code, message), "{code} {message}");
    }
}

#[test]
fn every_test_namespace_is_a_fresh_dns_label() {
    let a = unique("e2e-namespace-label");
    std::thread::sleep(Duration::from_millis(2));
    let b = unique("e2e-namespace-label");
    assert_ne!(a, b);
    for name in [a, b] {
        assert!(name.len() <= 63, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
    }
}

/// Creates the landlock-injector.io object `name` of `resource` with `spec` in `ns`; its API.
async fn create_custom(
    client: &Client,
    ns: &str,
    resource: &kube::core::ApiResource,
    name: &str,
    spec: Value,
) -> Api<kube::core::DynamicObject> {
    let api: Api<kube::core::DynamicObject> = Api::namespaced_with(client.clone(), ns, resource);
    let object: kube::core::DynamicObject = serde_json::from_value(json!({
        "apiVersion": resource.api_version, "kind": resource.kind,
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("an object");
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create {} {name} (is the chart's CRD installed?): {e}",
                resource.kind
            )
        });
    api
}

/// Polls the LandlockPolicy `name` until `done` holds for its status (or fails after a minute:
/// the writer counts every 5 s).
async fn wait_status(
    api: &Api<kube::core::DynamicObject>,
    name: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let done = &done;
    let what = format!("LandlockPolicy {name}: its status");
    let limit = Duration::from_secs(60);
    eventually(&what, limit, Duration::from_secs(2), || async move {
        let policy = api.get(name).await.expect("get the policy");
        let status = policy.data.get("status").cloned().unwrap_or(Value::Null);
        if done(&status) {
            Ok(status)
        } else {
            Err(format!("still {status}"))
        }
    })
    .await
}

#[tokio::test]
#[ignore = "needs a kind cluster with the chart: run tests/e2e/run"]
async fn j_a_pod_selected_by_a_landlock_policy_runs_it_and_its_status_counts_older_generations() {
    use webhook::admission::policy;
    let client = client().await;
    let ns = namespace(&client, "e2e-policy").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    // No profile grants /root: listing it works only under this policy.
    let policies = create_custom(
        &client,
        &ns,
        &policy::api_resource(),
        "web",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "default": {"list": ["/root"]}}),
    )
    .await;

    // The opt-in label and the policy's selector: no other annotation.
    let script = format!("ls -a /root >/dev/null && echo root-listed; {SHADOW_CHECK}");
    let pod = labelled_pod(
        "web-once",
        json!({INJECT: "true", "app": "web"}),
        json!({}),
        &script,
        json!([]),
        json!([]),
    );
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("create");
    assert_wrapped(&created);
    let key = "landlock-injector.io/applied-policy";
    let annotations = created.metadata.annotations.clone().unwrap_or_default();
    let policy_uid = policies
        .get("web")
        .await
        .expect("the policy")
        .metadata
        .uid
        .expect("a uid");
    assert_eq!(annotations.get(key), Some(&format!("web@1@{policy_uid}")));
    let labels = created.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get(key).map(String::as_str), Some("web"));
    runs_sandboxed(&pods, "web-once").await;
    let log = logs(&pods, "web-once").await;
    assert!(log.contains("root-listed"), "the policy's grant: {log}");

    // A running pod is counted; a finished one is not.
    let running = labelled_pod(
        "web-running",
        json!({INJECT: "true", "app": "web"}),
        json!({}),
        "sleep 3600",
        json!([]),
        json!([]),
    );
    pods.create(&PostParams::default(), &running)
        .await
        .expect("create");
    let status = wait_status(&policies, "web", |s| s["pods"] == 1).await;
    assert_eq!(
        status,
        json!({"observedGeneration": 1, "pods": 1, "outdatedPods": 0, "outdated": []})
    );

    // A changed policy: the running pod keeps what it was admitted with, and is listed.
    policies
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"default": {"list": ["/root"], "read": ["/srv"]}}})),
        )
        .await
        .expect("change the policy");
    let status = wait_status(&policies, "web", |s| s["observedGeneration"] == 2).await;
    assert_eq!(
        status,
        json!({"observedGeneration": 2, "pods": 1, "outdatedPods": 1, "outdated": ["web-running"]})
    );
    let table = Command::new("kubectl")
        .args(["get", "landlockpolicies", "--namespace", &ns])
        .output()
        .expect("kubectl (required by the e2e suite)");
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let column = |name: &str| {
        let at = header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} column: {table}"));
        // "POD ADDITIONS" is two header words and one (maybe empty) value: count from the end.
        row.get(row.len() + at - header.len()).copied()
    };
    assert_eq!(column("PODS"), Some("1"), "{table}");
    assert_eq!(column("OUTDATED"), Some("1"), "{table}");

    // The records are the webhook's: the keep-records policy refuses a pod author claiming the
    // new generation, or dropping the binding, and lets other edits through.
    for (what, patch) in [
        (
            "claim the new generation",
            json!({"metadata": {"annotations": {key: "web@2"}}}),
        ),
        (
            "drop the binding label",
            json!({"metadata": {"labels": {key: null}}}),
        ),
        (
            "add a recording",
            json!({"metadata": {"labels": {"landlock-injector.io/recording": "web"}}}),
        ),
    ] {
        let refused = pods
            .patch("web-running", &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect_err(what);
        let kube::Error::Api(response) = &refused else {
            panic!("{what}: {refused}");
        };
        assert!(
            response.code == 403
                && response
                    .message
                    .contains("cannot be added, changed or removed afterwards"),
            "{what}: {response:?}"
        );
    }
    // Nor may the shim installer's image change (kubelet reruns init containers when it
    // recreates the sandbox): a strategic merge patch of that init container is refused.
    let running = pods.get("web-running").await.expect("get");
    let installer = running
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .find(|c| {
            c.command.as_deref().is_some_and(|command| {
                command.first().map(String::as_str) == Some("/landlock-shim")
                    && command.get(1).map(String::as_str) == Some("install")
            })
        })
        .map(|c| c.name.clone())
        .expect("the shim installer");
    let swapped =
        json!({"spec": {"initContainers": [{"name": installer, "image": "busybox:1.36"}]}});
    let refused = pods
        .patch(
            "web-running",
            &PatchParams::default(),
            &Patch::Strategic(swapped),
        )
        .await
        .expect_err("the installer's image is the webhook's");
    let kube::Error::Api(response) = &refused else {
        panic!("installer image: {refused}");
    };
    assert!(
        response.code == 403
            && response.message.contains(
                "the image of the init container that installs landlock-shim cannot be changed"
            ),
        "installer image: {response:?}"
    );
    pods.patch(
        "web-running",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})),
    )
    .await
    .expect("another label is the pod author's");
    let kept = pods.get("web-running").await.expect("get");
    let annotations = kept.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations.get(key), Some(&format!("web@1@{policy_uid}")));
    drop_namespace(&client, &ns).await;
}

/// The running pods of `ns` labelled `app=APP`, once `count` of them run (or fails after
/// three minutes).
async fn running_pods(
    pods: &Api<Pod>,
    app: &str,
    count: usize,
    fit: impl Fn(&Pod) -> bool,
) -> Vec<Pod> {
    let fit = &fit;
    let what = format!("{count} running pods labelled app={app}");
    let limit = Duration::from_secs(180);
    eventually(&what, limit, Duration::from_secs(2), || async move {
        let list = pods
            .list(&kube::api::ListParams::default().labels(&format!("app={app}")))
            .await
            .expect("list pods");
        let running: Vec<Pod> = list
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter(|p| fit(p))
            .collect();
        if running.len() >= count {
            Ok(running)
        } else {
            Err(format!("{} running", running.len()))
        }
    })
    .await
}

#[tokio::test]
#[ignore = "needs a kind cluster with the chart: run tests/e2e/run"]
async fn k_a_recorded_deployment_gets_a_policy_that_runs_it_in_enforce_mode_with_no_denial() {
    use webhook::admission::{policy, recording};
    let client = client().await;
    let ns = namespace(&client, "e2e-recording").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let policies: Api<kube::core::DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &policy::api_resource());
    let recordings = create_custom(
        &client,
        &ns,
        &recording::api_resource(),
        "web-rec",
        json!({"podSelector": {"matchLabels": {"app": "rec-web"}}, "duration": "2m",
            "policy": "rec-web"}),
    )
    .await;
    // Listing /root is granted by no profile: only a recorded policy lets it work in enforce.
    let script = "while true; do ls /root >/dev/null && echo root-listed; sleep 5; done";
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "rec-web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "rec-web"}},
            "template": {"metadata": {"labels": {INJECT: "true", "app": "rec-web"}},
                "spec": {"containers": [{"name": "app", "image": BUSYBOX,
                    "command": ["/bin/sh", "-c", script]}]}}}
    }))
    .expect("a deployment");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create the deployment");
    let key = "landlock-injector.io/recording";
    let recorded = running_pods(&pods, "rec-web", 3, |_| true).await;
    for pod in &recorded {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get(key).map(String::as_str), Some("web-rec"));
        let command = pod.spec.as_ref().expect("spec").containers[0]
            .command
            .clone()
            .unwrap_or_default()
            .join(" ");
        assert!(command.contains("--mode learn"), "{command}");
    }
    // The controller writes the policy when the two minutes end.
    let recorded = &recordings;
    let limit = Duration::from_secs(300);
    let status = eventually(
        "the recording written",
        limit,
        Duration::from_secs(5),
        || async move {
            let now = recorded.get("web-rec").await.expect("get the recording");
            let status = now.data.get("status").cloned().unwrap_or(Value::Null);
            if status["phase"] == "Written" || status["phase"] == "Failed" {
                Ok(status)
            } else {
                Err(format!("still {status}"))
            }
        },
    )
    .await;
    assert_eq!(status["phase"], "Written", "{status}");
    assert_eq!(status["pods"], 3, "{status}");
    assert_eq!(status["policy"], "rec-web", "{status}");
    let written = policies.get("rec-web").await.expect("the written policy");
    assert_eq!(written.data["spec"]["default"]["mode"], "enforce");
    assert_eq!(
        written.data["spec"]["podSelector"],
        json!({"matchLabels": {"app": "rec-web"}})
    );
    let annotations = written.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("landlock-injector.io/recorded-by")
            .map(String::as_str),
        Some("web-rec")
    );
    let coverage: Value = serde_json::from_str(
        annotations
            .get("landlock-injector.io/coverage")
            .expect("the coverage annotation"),
    )
    .expect("JSON");
    assert_eq!(
        coverage["spec.default.list"]["/root"], "3 of 3",
        "{coverage}"
    );

    // Deleted, the recording goes (its finalizer removed); restarted, the Deployment runs the
    // policy in enforce mode, and what it does is allowed.
    recordings
        .delete("web-rec", &DeleteParams::default())
        .await
        .expect("delete the recording");
    deployments
        .patch(
            "rec-web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"metadata": {"annotations":
                {"kubectl.kubernetes.io/restartedAt": format!("{:?}", Instant::now())}}}}})),
        )
        .await
        .expect("restart the deployment");
    let enforced = running_pods(&pods, "rec-web", 3, |p| {
        p.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("landlock-injector.io/applied-policy"))
            .is_some_and(|v| v.starts_with("rec-web@1@"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    for pod in &enforced {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let command = pod.spec.as_ref().expect("spec").containers[0]
            .command
            .clone()
            .unwrap_or_default()
            .join(" ");
        assert!(command.contains("--mode enforce"), "{command}");
        let log = logs(&pods, &name).await;
        assert!(log.contains("root-listed"), "{name}: {log}");
        assert!(
            !log.contains("Permission denied"),
            "{name}: a denial under the recorded policy: {log}"
        );
    }
    assert!(
        recordings.get_opt("web-rec").await.expect("get").is_none(),
        "the recording's finalizer was removed"
    );
    drop_namespace(&client, &ns).await;
}

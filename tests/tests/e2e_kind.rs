//! The kind end-to-end suite: against a real cluster with the chart installed, through the API
//! server. Not part of `cargo test --workspace` (each test is `#[ignore]`d, which cargo reports);
//! `tests/e2e/run` creates the cluster, installs the chart and runs them with
//! `LANDLOCK_E2E=1 cargo test -p landlock-tests --test e2e_kind -- --ignored --test-threads=1`.
//! With the switch on, a missing tool or cluster fails the test; nothing is skipped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, LogParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// The release's namespace and Deployment name (tests/e2e/run installs it so).
const RELEASE_NAMESPACE: &str = "landlock-injector";
const RELEASE_DEPLOYMENT: &str = "landlock-injector";
const BUSYBOX: &str = "docker.io/library/busybox:1.36";

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

/// A fresh namespace for one test; deleted at the end by the caller.
async fn namespace(client: &Client, name: &str) -> String {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
    let _ = api.delete(name, &DeleteParams::default()).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => return name.to_owned(),
            // A namespace of the same name may still be terminating from an earlier run.
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_secs(1)).await,
            Err(e) => panic!("cannot create namespace {name}: {e}"),
        }
    }
}

async fn drop_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
}

fn pod(name: &str, annotations: Value, script: &str, volumes: Value, mounts: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "restartPolicy": "Never",
            "volumes": volumes,
            "containers": [{"name": "app", "image": BUSYBOX, "command": ["/bin/sh", "-c", script], "volumeMounts": mounts}],
        }
    }))
    .expect("pod")
}

async fn wait_done(api: &Api<Pod>, name: &str, limit: Duration) -> Pod {
    let deadline = Instant::now() + limit;
    loop {
        let pod = api.get(name).await.expect("get pod");
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            return pod;
        }
        assert!(
            Instant::now() < deadline,
            "pod {name} still {phase} after {limit:?}: {:?}",
            pod.status
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn logs(api: &Api<Pod>, name: &str) -> String {
    api.logs(
        name,
        &LogParams {
            container: Some("app".to_owned()),
            ..LogParams::default()
        },
    )
    .await
    .expect("logs")
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
    let deadline = Instant::now() + Duration::from_secs(120);
    while !logs(&pods, "watcher")
        .await
        .contains("seen config-v1 cert-v1")
    {
        assert!(Instant::now() < deadline, "the pod never read v1");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
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
    let spec = plain.spec.expect("spec");
    assert!(spec.init_containers.is_none(), "no init container added");
    assert_eq!(
        spec.containers[0].command.as_ref().expect("command")[0],
        "/bin/sh"
    );

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
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let d = deployments
            .get(RELEASE_DEPLOYMENT)
            .await
            .expect("get deployment");
        let status = d.status.unwrap_or_default();
        let ready = status.ready_replicas.unwrap_or(0);
        let total = status.replicas.unwrap_or(0);
        if (replicas == 0 && total == 0) || (replicas > 0 && ready == replicas) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook did not reach {replicas} replicas"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
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

/// The denials reporter runs as the chart's DaemonSet (tests/e2e/run installs it with
/// `denials.enabled=true`): a denied read in a sandboxed pod shows up as a `LandlockDenied`
/// Event on the pod, as `kubectl get events --field-selector reason=LandlockDenied` lists it.
/// Needs nodes whose host network namespace is the kernel's initial one (audit records are
/// multicast there only) and kernel auditing on (`auditctl -e 1` on the node).
#[tokio::test]
#[ignore = "needs a kind cluster with the chart: run tests/e2e/run"]
async fn e_a_denied_read_in_a_sandboxed_pod_appears_as_a_landlock_denied_event() {
    use k8s_openapi::api::apps::v1::DaemonSet;
    use k8s_openapi::api::core::v1::Event;
    use kube::api::ListParams;

    let client = client().await;
    let daemon_sets: Api<DaemonSet> = Api::namespaced(client.clone(), RELEASE_NAMESPACE);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let ds = daemon_sets
            .get(&format!("{RELEASE_DEPLOYMENT}-denials"))
            .await
            .expect("the denials DaemonSet (denials.enabled=true)");
        let status = ds.status.unwrap_or_default();
        if status.desired_number_scheduled > 0
            && status.number_ready == status.desired_number_scheduled
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reporter is not ready on every node (readiness fails while kernel auditing is off): {status:?}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
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
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let deadline = Instant::now() + Duration::from_secs(120);
    let event = loop {
        let listed = events
            .list(&ListParams::default().fields("reason=LandlockDenied"))
            .await
            .expect("list events");
        if let Some(event) = listed.items.into_iter().find(|e| {
            e.involved_object.name.as_deref() == Some("denied")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains("/etc/shadow"))
        }) {
            break event;
        }
        assert!(
            Instant::now() < deadline,
            "no LandlockDenied Event for the pod's read of /etc/shadow"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let message = event.message.unwrap_or_default();
    assert!(
        message.contains("fs.read_file") && message.contains("container \"app\""),
        "{message}"
    );
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    drop_namespace(&client, &ns).await;
}

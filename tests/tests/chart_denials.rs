//! The chart's denials reporter (`denials.enabled`): off by default; when on, a DaemonSet with
//! exactly the privileges the reporter needs (CAP_AUDIT_READ, CAP_AUDIT_CONTROL only with
//! `denials.enableAudit`, the host PID and network namespaces, no host mounts), RBAC limited to reading pods
//! and writing Events, and pods the webhook's Service never selects.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::rbac::v1::ClusterRole;
use landlock_tests::chart::{render, run_helm};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn typed<T: DeserializeOwned>(doc: &Value) -> T {
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}: {doc}"))
}

fn named<'a>(docs: &'a [Value], kind: &str, suffix: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| {
            d["kind"] == kind
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(suffix))
        })
        .collect()
}

fn daemon_set(sets: &[&str]) -> (DaemonSet, Vec<Value>) {
    let docs = render(sets, false).expect("render");
    let found = named(&docs, "DaemonSet", "-denials");
    assert_eq!(found.len(), 1, "one DaemonSet");
    (typed(found[0]), docs)
}

#[test]
fn off_by_default() {
    let docs = render(&[], false).expect("render");
    assert!(named(&docs, "DaemonSet", "").is_empty());
    assert!(named(&docs, "ClusterRole", "-denials").is_empty());
    assert!(named(&docs, "ServiceAccount", "-denials").is_empty());
}

#[test]
fn the_daemon_set_has_audit_read_the_host_pid_namespace_and_nothing_more() {
    let (ds, _) = daemon_set(&["denials.enabled=true"]);
    let pod = ds.spec.template.spec.expect("pod spec");
    assert_eq!(
        pod.host_pid,
        Some(true),
        "pids in audit records are host pids"
    );
    assert_eq!(
        pod.host_network,
        Some(true),
        "audit records are multicast in the host's network namespace only"
    );
    assert_eq!(pod.host_ipc, None);
    assert!(
        pod.volumes.is_none(),
        "no host mounts: /proc of the host PID namespace is enough"
    );
    assert_eq!(pod.containers.len(), 1);
    let c = &pod.containers[0];
    assert!(c.volume_mounts.is_none());
    assert_eq!(c.args.as_deref().unwrap_or_default()[0], "denials");
    assert!(
        !c.args
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|a| a == "--enable-audit")
    );
    assert!(
        !c.args
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|a| a == "--no-kube")
    );
    let sc = c.security_context.clone().expect("securityContext");
    assert_eq!(sc.privileged, Some(false));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    let caps = sc.capabilities.expect("capabilities");
    assert_eq!(caps.drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(caps.add, Some(vec!["AUDIT_READ".to_owned()]));
    let env = c.env.clone().unwrap_or_default();
    let node = env
        .iter()
        .find(|e| e.name == "NODE_NAME")
        .expect("NODE_NAME");
    let field = node
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .expect("fieldRef");
    assert_eq!(field.field_path, "spec.nodeName");
    let port = &c.ports.as_ref().expect("ports")[0];
    assert_eq!(
        (port.name.as_deref(), port.container_port),
        (Some("metrics"), 9464)
    );
    let readiness = c
        .readiness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("readiness");
    assert_eq!(readiness.path.as_deref(), Some("/readyz"));
}

/// `suggest` believes the pod a denial line names only in the agent's own log, which it knows
/// by the container name kubectl's prefix shows: the chart must name the container so.
#[test]
fn the_agent_container_is_the_one_suggest_believes() {
    let (ds, _) = daemon_set(&["denials.enabled=true"]);
    let pod = ds.spec.template.spec.expect("pod spec");
    let names: Vec<&str> = pod.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [webhook::suggest::input::AGENT]);
}

#[test]
fn enable_audit_adds_audit_control_and_the_flag() {
    let (ds, _) = daemon_set(&["denials.enabled=true", "denials.enableAudit=true"]);
    let c = ds.spec.template.spec.expect("pod").containers[0].clone();
    assert!(
        c.args
            .unwrap_or_default()
            .iter()
            .any(|a| a == "--enable-audit")
    );
    let caps = c
        .security_context
        .and_then(|s| s.capabilities)
        .expect("capabilities");
    assert_eq!(
        caps.add,
        Some(vec!["AUDIT_READ".to_owned(), "AUDIT_CONTROL".to_owned()])
    );
}

#[test]
fn rbac_reads_pods_and_writes_events_only() {
    let (_, docs) = daemon_set(&["denials.enabled=true"]);
    let role: ClusterRole = typed(named(&docs, "ClusterRole", "-denials")[0]);
    let rules: Vec<(Vec<String>, Vec<String>, Vec<String>)> = role
        .rules
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            (
                r.api_groups.unwrap_or_default(),
                r.resources.unwrap_or_default(),
                r.verbs,
            )
        })
        .collect();
    let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        rules,
        [
            (s(&[""]), s(&["pods"]), s(&["get", "list", "watch"])),
            (s(&[""]), s(&["events"]), s(&["create", "patch"])),
        ]
    );
    let binding = named(&docs, "ClusterRoleBinding", "-denials")[0];
    assert_eq!(binding["subjects"][0]["name"], binding["metadata"]["name"]);
    assert_eq!(named(&docs, "ServiceAccount", "-denials").len(), 1);
}

#[test]
fn the_webhook_service_never_selects_the_reporter_pods() {
    let (ds, docs) = daemon_set(&["denials.enabled=true"]);
    let labels = ds
        .spec
        .template
        .metadata
        .and_then(|m| m.labels)
        .unwrap_or_default();
    for doc in docs.iter().filter(|d| d["kind"] == "Service") {
        let service: Service = typed(doc);
        let selector = service.spec.and_then(|s| s.selector).unwrap_or_default();
        assert!(
            !selector.iter().all(|(k, v)| labels.get(k) == Some(v)),
            "Service {:?} selects the reporter pods",
            service.metadata.name
        );
    }
}

#[test]
fn lint_passes_and_the_schema_rejects_typos() {
    let chart = landlock_tests::chart::chart_dir().display().to_string();
    run_helm(&[
        "lint",
        "--strict",
        &chart,
        "--set",
        "denials.enabled=true,denials.enableAudit=true",
    ])
    .expect("lint");
    let typo = render(&["denials.enable=true"], false);
    assert!(typo.is_err(), "denials.enable (typo) must be rejected");
    let port = render(&["denials.metricsPort=0"], false);
    assert!(port.is_err(), "port 0 must be rejected");
}

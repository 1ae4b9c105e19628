//! The chart's monitoring objects (issue 22): ServiceMonitor, PodMonitor, PrometheusRule, the
//! Grafana dashboard ConfigMap and the webhook's NetworkPolicy are each off by default and
//! rendered when enabled; the Prometheus Operator objects fail clearly without its CRDs.

use landlock_tests::chart::{chart_dir, documents, render, run_helm};
use landlock_tests::schema::validate;
use serde_json::{Value, json};

const ALL_ON: [&str; 5] = [
    "metrics.serviceMonitor.enabled=true",
    "metrics.podMonitor.enabled=true",
    "metrics.prometheusRule.enabled=true",
    "metrics.dashboard.enabled=true",
    "networkPolicy.enabled=true",
];

/// `helm template` with `sets` and the monitoring.coreos.com/v1 API declared present.
fn render_with_crds(sets: &[&str]) -> Vec<Value> {
    let chart = chart_dir().display().to_string();
    let mut args = vec!["template", "r", chart.as_str(), "--skip-tests"];
    args.extend(["--api-versions", "monitoring.coreos.com/v1"]);
    for set in sets {
        args.extend(["--set", set]);
    }
    documents(&run_helm(&args).expect("helm template")).expect("documents")
}

fn kinds(docs: &[Value], kind: &str) -> usize {
    docs.iter().filter(|d| d["kind"] == kind).count()
}

#[test]
fn all_off_by_default() {
    let docs = render_with_crds(&[]);
    for kind in [
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
        "NetworkPolicy",
    ] {
        assert_eq!(kinds(&docs, kind), 0, "{kind} rendered by default");
    }
    assert!(
        docs.iter()
            .all(|d| d["metadata"]["labels"]["grafana_dashboard"].is_null())
    );
}

#[test]
fn each_renders_when_enabled() {
    let docs = render_with_crds(&ALL_ON);
    for kind in [
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
        "NetworkPolicy",
    ] {
        assert_eq!(kinds(&docs, kind), 1, "{kind}");
    }
    // The denials agent's series name the denied pods: Prometheus must keep those labels.
    let pod_monitor = docs
        .iter()
        .find(|d| d["kind"] == "PodMonitor")
        .expect("PodMonitor");
    assert_eq!(
        pod_monitor["spec"]["podMetricsEndpoints"][0]["honorLabels"],
        true
    );
    let dashboard = docs
        .iter()
        .find(|d| d["metadata"]["labels"]["grafana_dashboard"] == "1")
        .expect("dashboard ConfigMap");
    let json = dashboard["data"]["landlock-injector.json"]
        .as_str()
        .expect("dashboard JSON");
    let parsed: Value = serde_json::from_str(json).expect("dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() >= 6));
}

#[test]
fn one_enabled_renders_only_itself() {
    for (set, kind) in [
        ("metrics.serviceMonitor.enabled=true", "ServiceMonitor"),
        ("metrics.podMonitor.enabled=true", "PodMonitor"),
        ("metrics.prometheusRule.enabled=true", "PrometheusRule"),
        ("networkPolicy.enabled=true", "NetworkPolicy"),
    ] {
        let docs = render_with_crds(&[set]);
        for other in [
            "ServiceMonitor",
            "PodMonitor",
            "PrometheusRule",
            "NetworkPolicy",
        ] {
            assert_eq!(
                kinds(&docs, other),
                usize::from(other == kind),
                "{set}: {other}"
            );
        }
    }
}

#[test]
fn slow_alert_uses_the_webhook_timeout() {
    let docs = render_with_crds(&[
        "metrics.prometheusRule.enabled=true",
        "webhook.timeoutSeconds=7",
    ]);
    let rule = docs
        .iter()
        .find(|d| d["kind"] == "PrometheusRule")
        .expect("rule");
    let rules = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules");
    let slow = rules
        .iter()
        .find(|r| r["alert"] == "LandlockWebhookSlow")
        .expect("slow alert");
    assert!(
        slow["expr"].as_str().is_some_and(|e| e.ends_with("> 7")),
        "{slow}"
    );
    for r in rules {
        assert!(
            r["annotations"]["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
}

#[test]
fn operator_objects_without_the_crds_fail_naming_them() {
    for set in &ALL_ON[..3] {
        let err = render(&[set], false).expect_err(set);
        assert!(
            err.contains("monitoring.coreos.com/v1") && err.contains("Prometheus Operator"),
            "{set}: {err}"
        );
    }
    // The dashboard and the NetworkPolicy need no CRD.
    render(&ALL_ON[3..], false).expect("dashboard and network policy without CRDs");
}

/// The vendored schema of `kind` (tests/data/crds/, see its README).
fn schema(kind: &str) -> Value {
    let path = chart_dir()
        .join("../../tests/data/crds")
        .join(format!("{}.schema.json", kind.to_lowercase()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("schema JSON")
}

#[test]
fn operator_objects_validate_against_their_published_schemas() {
    let docs = render_with_crds(&[
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=kube-prometheus-stack",
        "metrics.serviceMonitor.relabelings[0].targetLabel=cluster",
        "metrics.serviceMonitor.relabelings[0].replacement=a",
        "metrics.podMonitor.enabled=true",
        "metrics.podMonitor.relabelings[0].action=drop",
        "metrics.podMonitor.relabelings[0].sourceLabels[0]=__meta_x",
        "metrics.prometheusRule.enabled=true",
    ]);
    for kind in ["ServiceMonitor", "PodMonitor", "PrometheusRule"] {
        let object = docs.iter().find(|d| d["kind"] == kind).expect(kind);
        let errors = validate(&schema(kind), object);
        assert!(errors.is_empty(), "{kind}:\n{}", errors.join("\n"));
    }
}

#[test]
fn the_schema_check_rejects_broken_objects() {
    let docs = render_with_crds(&["metrics.serviceMonitor.enabled=true"]);
    let good = docs
        .iter()
        .find(|d| d["kind"] == "ServiceMonitor")
        .expect("ServiceMonitor");
    let monitor = schema("ServiceMonitor");
    assert!(validate(&monitor, good).is_empty());

    let mut number = good.clone();
    number["spec"]["endpoints"][0]["interval"] = json!(30);
    let errors = validate(&monitor, &number).join("\n");
    assert!(errors.contains("$.spec.endpoints[0].interval"), "{errors}");

    let mut unit = good.clone();
    unit["spec"]["endpoints"][0]["interval"] = json!("30 seconds");
    let errors = validate(&monitor, &unit).join("\n");
    assert!(errors.contains("does not match"), "{errors}");

    let mut misspelt = good.clone();
    misspelt["spec"]["endpoints"][0]["tlsconfig"] = json!({});
    let errors = validate(&monitor, &misspelt).join("\n");
    assert!(errors.contains("tlsconfig: unknown field"), "{errors}");

    let mut no_endpoints = good.clone();
    no_endpoints["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("selector");
    let errors = validate(&monitor, &no_endpoints).join("\n");
    assert!(errors.contains("\"selector\" missing"), "{errors}");
}

fn network_policy(sets: &[&str]) -> Result<Value, String> {
    let mut all = vec!["networkPolicy.enabled=true"];
    all.extend_from_slice(sets);
    render(&all, false).map(|docs| {
        docs.into_iter()
            .find(|d| d["kind"] == "NetworkPolicy")
            .expect("NetworkPolicy")
    })
}

#[test]
fn the_network_policy_opens_the_shared_port_to_the_api_server_and_the_metrics_selector() {
    // Default: 8443 (reviews and /metrics) from every source.
    let open = network_policy(&[]).expect("render");
    let ingress = open["spec"]["ingress"].as_array().expect("ingress");
    assert_eq!(ingress.len(), 1, "{open}");
    assert_eq!(
        ingress[0]["ports"],
        json!([{"port": 8443, "protocol": "TCP"}])
    );
    assert!(ingress[0]["from"].is_null(), "{open}");

    let narrowed = network_policy(&[
        "networkPolicy.ingress.cidrs={10.0.0.1/32,10.0.0.2/32}",
        "networkPolicy.ingress.metricsFrom.namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring",
        "networkPolicy.ingress.metricsFrom.podSelector.matchLabels.app\\.kubernetes\\.io/name=prometheus",
    ])
    .expect("render");
    let ingress = narrowed["spec"]["ingress"].as_array().expect("ingress");
    assert_eq!(ingress.len(), 1, "one port, one rule: {narrowed}");
    assert_eq!(
        ingress[0]["from"],
        json!([
            {"ipBlock": {"cidr": "10.0.0.1/32"}},
            {"ipBlock": {"cidr": "10.0.0.2/32"}},
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}
            }
        ])
    );

    // Only the API server.
    let api_only = network_policy(&["networkPolicy.ingress.cidrs={10.0.0.1/32}"]).expect("render");
    assert_eq!(
        api_only["spec"]["ingress"][0]["from"],
        json!([{"ipBlock": {"cidr": "10.0.0.1/32"}}])
    );

    // A metrics selector without cidrs would change nothing (the port is open to all): refused.
    let err = network_policy(&["networkPolicy.ingress.metricsFrom.podSelector.matchLabels.a=b"])
        .expect_err("metricsFrom without cidrs");
    assert!(err.contains("networkPolicy.ingress.cidrs"), "{err}");
}

#[test]
fn lint_strict_passes_with_them_on() {
    // `helm lint` (3.18) has no --api-versions and lints with the built-in API list only; its
    // engine turns the chart's CRD check (`fail`) into an INFO line instead of an error, so it
    // checks the values of all five (values.schema.json) but renders none of the three
    // Prometheus Operator objects. Those are covered by rendering with --api-versions
    // monitoring.coreos.com/v1, the schema validation above and promtool
    // (tests/tests/chart_monitoring_metrics.rs).
    let chart = chart_dir().display().to_string();
    let mut args = vec!["lint", "--strict", chart.as_str()];
    for set in &ALL_ON {
        args.extend(["--set", set]);
    }
    args.extend([
        "--set",
        "networkPolicy.ingress.cidrs={10.0.0.1/32}",
        "--set",
        "networkPolicy.ingress.metricsFrom.podSelector.matchLabels.app=prometheus",
    ]);
    run_helm(&args).expect("helm lint --strict");
    // Lint does check their values: a wrong type fails it (the reason goes to stdout).
    let mut bad = args.clone();
    bad.extend(["--set-json", "metrics.serviceMonitor.interval=30"]);
    let err = run_helm(&bad).expect_err("lint with interval as a number");
    assert!(err.contains("1 chart(s) failed"), "{err}");
}

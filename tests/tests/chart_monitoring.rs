//! The chart's monitoring objects (issue 22): ServiceMonitor, PodMonitor, PrometheusRule, the
//! Grafana dashboard ConfigMap and the webhook's NetworkPolicy are each off by default and
//! rendered when enabled; the Prometheus Operator objects fail clearly without its CRDs.

use landlock_tests::chart::{chart_dir, documents, render, run_helm};
use serde_json::Value;

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

#[test]
fn lint_strict_passes_with_them_on() {
    // `helm lint` has no --api-versions, so the CRD-backed objects are covered by the render
    // tests above; lint checks the rest of the chart with the other two on.
    let chart = chart_dir().display().to_string();
    let mut args = vec!["lint", "--strict", chart.as_str()];
    for set in &ALL_ON[3..] {
        args.extend(["--set", set]);
    }
    run_helm(&args).expect("helm lint --strict");
}

//! The admission path's speed without the network: one AdmissionReview body, parsed, decided,
//! patched and serialised, for the load benchmark's realistic defaulted pod (3 containers with
//! probes, env and resources, 4 volumes, ~7.5 KB; `command` set, so no registry), annotated and
//! not opted in; and for pods built to amplify the work (pod-level paths repeated in every
//! container), which the admission limits deny (`webhook/src/admission/limits.rs`): their cost must stay
//! in the milliseconds. Run with `cargo bench -p webhook --bench review`; the whole server under
//! load, attacks included, is `webhook/benches/load/run`. And the annotated pod bound to one
//! of 1 or 200 LandlockPolicies of its namespace, beside the plain pod in the same namespace.

use criterion::{Criterion, criterion_group, criterion_main};
use webhook::admission::config::Config;
use webhook::admission::namespaces::{Known, With};
use webhook::admission::resolve::Offline;
use webhook::review;

fn body(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/benches/load/review-{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn review_path(c: &mut Criterion) {
    let config = Config::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    for (name, what) in [
        ("annotated", "review: annotated realistic pod (wrapped)"),
        ("plain", "review: realistic pod that does not opt in"),
    ] {
        let body = body(name);
        c.bench_function(what, |b| {
            b.to_async(&runtime).iter(|| async {
                let reviewed = review::review(&body, &config, &Offline).await;
                reviewed.map(|r| review::to_json(&r.review))
            });
        });
    }
}

/// A review of an opted-in pod with `paths` paths in its pod-level `read` annotation and
/// `containers` containers.
fn amplifying(paths: usize, containers: usize) -> Vec<u8> {
    let paths: Vec<String> = (0..paths).map(|n| format!("/data/p{n}")).collect();
    let containers: Vec<serde_json::Value> = (0..containers)
        .map(|n| serde_json::json!({"name": format!("c{n}"), "image": "x", "command": ["/x"]}))
        .collect();
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "apps", "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "amp", "annotations": {"landlock-injector.io/inject": "true",
                    "landlock-injector.io/read": paths.join(",")}},
                "spec": {"containers": containers}}}
    });
    serde_json::to_vec(&review).unwrap_or_else(|e| panic!("json: {e}"))
}

fn hostile_pods(c: &mut Criterion) {
    let config = Config::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    for (paths, containers, what) in [
        (
            10_000,
            300,
            "review: 10,000 paths x 300 containers (denied: paths per container)",
        ),
        (
            500,
            1000,
            "review: 500 paths x 1,000 containers (denied: bytes of commands)",
        ),
        (
            500,
            60,
            "review: 500 paths x 60 containers (admitted, near the limits)",
        ),
    ] {
        let body = amplifying(paths, containers);
        c.bench_function(what, |b| {
            b.to_async(&runtime).iter(|| async {
                let reviewed = review::review(&body, &config, &Offline).await;
                reviewed.map(|r| review::to_json(&r.review))
            });
        });
    }
}

/// `count` LandlockPolicies in the namespace `shop`: the last selects the annotated pod's `web`
/// component, the others other components (each is a selector the binding evaluates).
fn namespace_of_policies(count: usize) -> Known {
    let docs: Vec<serde_json::Value> = (0..count)
        .map(|n| {
            let component = if n + 1 == count {
                "web".to_owned()
            } else {
                format!("other-{n}")
            };
            serde_json::json!({"apiVersion": "landlock-injector.io/v1alpha1", "kind": "LandlockPolicy",
                "metadata": {"name": format!("policy-{n}"), "namespace": "shop", "generation": 1},
                "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/component": component}},
                    "default": {"read": ["/srv/shop", "/etc/shop"], "connectTcp": [5432]},
                    "containers": [{"name": "web", "bindTcp": [8080]}]}})
        })
        .collect();
    let mut known = Known::default();
    known.extend_from_docs(&docs);
    known
}

/// The annotated pod bound to a policy among many in its namespace (the cost a cluster's
/// policies add to every opted-in pod of a namespace), and the plain pod beside them (no
/// cost: only opted-in pods ask for policies).
fn policies(c: &mut Criterion) {
    let config = Config::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    for count in [1, 200] {
        let lookups = With {
            images: Offline,
            namespaces: namespace_of_policies(count),
        };
        for (name, what) in [("annotated", "wrapped, bound"), ("plain", "not opted in")] {
            let body = body(name);
            c.bench_function(
                &format!("review: {what}, {count} policies in its namespace"),
                |b| {
                    b.to_async(&runtime).iter(|| async {
                        let reviewed = review::review(&body, &config, &lookups).await;
                        reviewed.map(|r| review::to_json(&r.review))
                    });
                },
            );
        }
    }
}

criterion_group!(benches, review_path, hostile_pods, policies);
criterion_main!(benches);

//! The admission path's speed: one AdmissionReview with an annotated pod (three containers,
//! several volumes, `command` set, so no registry), parsed, decided, patched and serialised.
//! Run with `cargo bench -p webhook --bench review`.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use webhook::config::Config;
use webhook::resolve::Offline;
use webhook::review;

fn body() -> Vec<u8> {
    let container = |name: &str| {
        json!({"name": name, "image": format!("registry.example/{name}:1"), "command": [format!("/bin/{name}")],
               "args": ["--flag"], "volumeMounts": [
                   {"name": "config", "mountPath": "/etc/app"}, {"name": "tls", "mountPath": "/etc/tls"},
                   {"name": "scratch", "mountPath": "/scratch"}, {"name": "data", "mountPath": "/data"}]})
    };
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "bench", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "apps",
            "operation": "CREATE", "userInfo": {"username": "bench"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bench", "annotations": {
                "landlock-injector.io/inject": "true", "landlock-injector.io/read": "/srv/www,/opt/app",
                "landlock-injector.io/web.connect-tcp": "5432,443", "landlock-injector.io/mode": "enforce"}},
                "spec": {"volumes": [
                    {"name": "config", "configMap": {"name": "c"}}, {"name": "tls", "secret": {"secretName": "t"}},
                    {"name": "scratch", "emptyDir": {}}, {"name": "data", "persistentVolumeClaim": {"claimName": "d"}}],
                    "initContainers": [container("migrate")],
                    "containers": [container("web"), container("worker")]}}}
    }))
    .unwrap_or_default()
}

fn review_path(c: &mut Criterion) {
    let body = body();
    let config = Config::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    c.bench_function("review: annotated pod, 3 containers, 4 volumes", |b| {
        b.to_async(&runtime).iter(|| async {
            let reviewed = review::review(&body, &config, &Offline).await;
            reviewed.map(|r| review::to_json(&r.review))
        });
    });
}

criterion_group!(benches, review_path);
criterion_main!(benches);

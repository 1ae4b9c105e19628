//! The admission path's speed without the network: one AdmissionReview body, parsed, decided,
//! patched and serialised, for the load benchmark's realistic defaulted pod (3 containers with
//! probes, env and resources, 4 volumes, ~7.5 KB; `command` set, so no registry), annotated and
//! not opted in. Run with `cargo bench -p webhook --bench review`; the whole server under load
//! is `webhook/benches/load/run`.

use criterion::{Criterion, criterion_group, criterion_main};
use webhook::config::Config;
use webhook::resolve::Offline;
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

criterion_group!(benches, review_path);
criterion_main!(benches);

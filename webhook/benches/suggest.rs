//! `landlock-webhook suggest` on large inputs: three replicas of a learn line of N paths (half
//! read, half written, ten per directory), merged with coverage and rendered as YAML. A learn
//! line is bounded by what the shim records (and the recording controller takes lines up to
//! 1 MiB), so N reaches tens of thousands; the cost must stay near-linear in N (a scan per
//! path had made 50,000 paths take 38 s in a debug build). Run with
//! `cargo bench -p webhook --bench suggest`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use webhook::suggest::{self, Format};

fn replicas(n: usize) -> String {
    let paths: Vec<String> = (0..n)
        .map(|i| format!("\"/data/d{}/f{i}\"", i / 10))
        .collect();
    let (read, write) = paths.split_at(n / 2);
    let line = format!(
        r#"{{"landlock-learn":"landlock-shim 0.1.0","final":true,"program":"app","profile":"default","discover":true,"suggest":{{"read":[{}],"read-exec":[],"write":[{}],"write-exec":[],"bind-tcp":[],"connect-tcp":[]}}}}"#,
        read.join(","),
        write.join(",")
    );
    ["a", "b", "c"]
        .iter()
        .map(|pod| format!("[pod/{pod}/app] {line}\n"))
        .collect()
}

fn large_inputs(c: &mut Criterion) {
    let mut group = c.benchmark_group("suggest: 3 replicas of N paths, yaml");
    group.sample_size(10);
    for n in [1_000usize, 10_000, 50_000] {
        let text = replicas(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| suggest::suggest(&[("logs".to_owned(), text.clone())], Format::Yaml))
        });
    }
    group.finish();
}

criterion_group!(benches, large_inputs);
criterion_main!(benches);

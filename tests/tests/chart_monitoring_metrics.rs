//! The chart's alerts and dashboard query what the binaries really export (issue 22): a real
//! `landlock-webhook serve` and a real denials agent (`landlock-webhook denials --no-kube`) are
//! started, both `/metrics` are scraped, and every metric name in the rendered PrometheusRule's
//! expressions and in the Grafana dashboard's queries must be among them. The rendered rules
//! also pass `promtool check rules` (Debian's `prometheus` package).

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use landlock_tests::chart::{chart_dir, documents, run_helm};
use landlock_tests::scrape;
use landlock_tests::static_build::static_binary;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);
const CURL: &str = "/usr/bin/curl";
const PROMTOOL: &str = "/usr/bin/promtool";

/// Series Prometheus makes itself rather than scraping them.
const SYNTHESIZED: [&str; 1] = ["up"];

/// The rendered PrometheusRule.
fn prometheus_rule() -> Value {
    let chart = chart_dir().display().to_string();
    let out = run_helm(&[
        "template",
        "r",
        chart.as_str(),
        "--skip-tests",
        "--api-versions",
        "monitoring.coreos.com/v1",
        "--set",
        "metrics.prometheusRule.enabled=true",
    ])
    .expect("helm template");
    documents(&out)
        .expect("documents")
        .into_iter()
        .find(|d| d["kind"] == "PrometheusRule")
        .expect("a PrometheusRule")
}

/// Every alert expression of the rule and every panel query of the dashboard, with where it is.
fn queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for group in prometheus_rule()["spec"]["groups"]
        .as_array()
        .expect("groups")
    {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"].as_str().or(rule["record"].as_str());
            let expr = rule["expr"].as_str().expect("expr");
            out.push((format!("alert {}", name.unwrap_or("?")), expr.to_owned()));
        }
    }
    let path = chart_dir().join("dashboards/landlock-injector.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("JSON");
    fn panels(list: &Value, out: &mut Vec<(String, String)>) {
        for panel in list.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    let title = panel["title"].as_str().unwrap_or("?");
                    out.push((format!("panel {title:?}"), expr.to_owned()));
                }
            }
            panels(&panel["panels"], out);
        }
    }
    panels(&dashboard["panels"], &mut out);
    assert!(out.len() >= 10, "too few queries found: {out:?}");
    out
}

/// PromQL words that are not metric names: operators, modifiers, and the aggregation
/// operators, which may stand before `by (..)` rather than right before their `(`.
const KEYWORDS: [&str; 27] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
    "atan2",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "limitk",
];

/// The metric names a PromQL expression selects: identifiers outside strings, label matchers
/// `{..}`, ranges `[..]` and `by (..)` / `without (..)` / `on (..)` / `ignoring (..)` lists,
/// that are not function calls, keywords or numbers.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Blank out strings, matchers and ranges.
    let mut plain = String::with_capacity(expr.len());
    let mut closing: Option<char> = None;
    for c in expr.chars() {
        match closing {
            Some(end) => {
                if c == end {
                    closing = None;
                }
                plain.push(' ');
            }
            None => {
                closing = match c {
                    '"' | '\'' | '`' => Some(c),
                    '{' => Some('}'),
                    '[' => Some(']'),
                    _ => None,
                };
                plain.push(if closing.is_some() { ' ' } else { c });
            }
        }
    }
    let chars: Vec<char> = plain.chars().collect();
    let mut names = BTreeSet::new();
    let mut skip_list = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            let is_number_part = start > 0 && chars[start - 1].is_ascii_digit();
            if matches!(
                word.as_str(),
                "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
            ) {
                skip_list = true;
            } else if next == Some(&'(')
                || is_number_part
                || KEYWORDS.contains(&word.to_lowercase().as_str())
            {
                // A function call, a duration unit or exponent, or a keyword.
            } else {
                names.insert(word);
            }
            continue;
        }
        if c == '(' && skip_list {
            // Skip the label list.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            skip_list = false;
        } else if !c.is_whitespace() {
            skip_list = false;
        }
        i += 1;
    }
    names
}

/// The series names an exposition has samples of, plus the names a family declared by its
/// `# TYPE` line stands for (a labelled counter with no child yet has no sample line).
fn exported(exposition: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut samples = BTreeSet::new();
    let mut declared = BTreeSet::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                "summary" => &["", "_sum", "_count"],
                _ => &[""],
            };
            for suffix in suffixes {
                let full = if name.ends_with(suffix) {
                    name.to_owned()
                } else {
                    format!("{name}{suffix}")
                };
                declared.insert(full);
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            samples.insert(line[..end].to_owned());
        }
    }
    (samples, declared)
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary() -> std::path::PathBuf {
    static_binary("webhook", "landlock-webhook").expect("landlock-webhook")
}

/// `GET https://addr/metrics` with curl, trusting `ca`, until it answers.
fn scrape_https(addr: SocketAddr, ca: &Path, child: &mut Child) -> String {
    assert!(
        Path::new(CURL).exists(),
        "{CURL} not found: apt-get install curl"
    );
    let deadline = Instant::now() + LIMIT;
    loop {
        if ca.exists() {
            let out = Command::new(CURL)
                .args(["-sS", "--fail", "--cacert"])
                .arg(ca)
                .arg(format!("https://{addr}/metrics"))
                .output()
                .expect("run curl");
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("landlock-webhook serve exited: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the webhook never served /metrics"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `landlock-webhook serve` (self-signed) and scrapes its `/metrics`.
fn webhook_metrics() -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    let listen = free_port();
    let mut child = Command::new(binary())
        .args(["serve", "--listen", &listen.to_string(), "--ca-out"])
        .arg(&ca)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start landlock-webhook serve");
    let text = scrape_https(listen, &ca, &mut child);
    drop(Running(child));
    text
}

/// Starts the denials agent (`--no-kube`) and scrapes its `/metrics`.
fn agent_metrics() -> String {
    let listen = free_port();
    let child = Command::new(binary())
        .args(["denials", "--no-kube", "--listen", &listen.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start landlock-webhook denials");
    let mut running = Running(child);
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some((200, body)) = scrape::get(listen, "/metrics") {
            return body;
        }
        if let Ok(Some(status)) = running.0.try_wait() {
            panic!("landlock-webhook denials exited: {status}");
        }
        assert!(Instant::now() < deadline, "the agent never served /metrics");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_promql_reader_finds_metric_names_and_nothing_else() {
    assert_eq!(
        metric_names(
            "histogram_quantile(0.99, sum by (le) (rate(a_bucket{job=\"x\", le!=\"y\"}[5m]))) > 9"
        ),
        BTreeSet::from(["a_bucket".to_owned()])
    );
    assert_eq!(
        metric_names(
            "sum(rate(b_total{r=\"failed\"}[10m])) / sum without (pod) (c) < 7 * 86400 and on (ns) absent(up == 1) offset 1e3"
        ),
        BTreeSet::from(["b_total".to_owned(), "c".to_owned(), "up".to_owned()])
    );
}

#[test]
fn every_alert_and_panel_uses_metrics_the_binaries_export() {
    let webhook = webhook_metrics();
    let agent = agent_metrics();
    let (mut samples, mut declared) = exported(&webhook);
    let (agent_samples, agent_declared) = exported(&agent);
    samples.extend(agent_samples);
    declared.extend(agent_declared);
    // prometheus-client writes nothing for a labelled family without children, so the per-pod
    // denial counter is absent from a fresh agent's /metrics; the agent's own registry
    // (`webhook::denials::metrics::Metrics`, what `/metrics` encodes) after one denial shows
    // the name it will have. Counted as declared: only that counter may come from here.
    let after_a_denial = webhook::denials::metrics::Metrics::default();
    after_a_denial.denial("apps", "web", "app", &["fs.read_file".to_owned()]);
    let (denied_samples, _) = exported(&after_a_denial.encode());
    declared.extend(denied_samples);
    // The certificate gauge this test is here for, sampled from the start.
    assert!(
        samples.contains("landlock_webhook_certificate_expiry_seconds"),
        "{webhook}"
    );

    let mut missing = Vec::new();
    let mut only_declared = Vec::new();
    for (place, expr) in queries() {
        for name in metric_names(&expr) {
            if SYNTHESIZED.contains(&name.as_str()) || samples.contains(&name) {
                continue;
            }
            if declared.contains(&name) {
                only_declared.push(format!("{place}: {name}"));
            } else {
                missing.push(format!("{place}: {name} (in {expr:?})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "metric names neither landlock-webhook serve nor the denials agent exports:\n{}\n\nwebhook /metrics:\n{webhook}\nagent /metrics:\n{agent}",
        missing.join("\n")
    );
    // Only the per-pod denial counter may lack a sample before its first event: its labels
    // (namespace, pod, container, blocker) exist only once a denial names them.
    only_declared.sort();
    only_declared.dedup();
    for entry in &only_declared {
        assert!(
            entry.ends_with(": landlock_denials_total"),
            "declared but not sampled at start: {entry}"
        );
    }
}

#[test]
fn promtool_checks_the_rendered_rules() {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} not found: apt-get install prometheus (Debian's package ships promtool)"
    );
    let rule = prometheus_rule();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    let spec = serde_yaml::to_string(&rule["spec"]).expect("YAML");
    std::fs::write(&file, spec).expect("write rules");
    let out = Command::new(PROMTOOL)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check rules failed:\n{text}");
    let count = queries()
        .iter()
        .filter(|(place, _)| place.starts_with("alert "))
        .count();
    assert!(text.contains(&format!("{count} rules found")), "{text}");
}

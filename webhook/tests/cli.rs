//! `landlock-webhook review` and `inject` through the real binary, with AdmissionReview and
//! manifest fixtures.

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_landlock-webhook");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], stdin: &[u8]) -> Out {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn landlock-webhook");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The program may stop reading early on a bad body; a broken pipe is fine then.
        let _ = input.write_all(&data);
    });
    let output = child.wait_with_output().expect("wait");
    let _ = writer.join();
    Out {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture")
}

fn review(name: &str) -> Value {
    let out = run(&["review", "--offline"], &fixture(name));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    serde_json::from_str(&out.stdout).expect("JSON response")
}

#[test]
fn an_annotated_pod_gets_a_patch_that_wraps_it() {
    let response = review("review-annotated.json");
    let r = &response["response"];
    assert_eq!(r["uid"], "0b4f0a2c-1d5e-4c3a-9f00-000000000001");
    assert_eq!(r["allowed"], true);
    assert_eq!(r["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(r["patch"].as_str().expect("base64 patch"))
        .expect("base64");
    let patch: json_patch::Patch = serde_json::from_slice(&patch).expect("a JSONPatch");
    let review: Value = serde_json::from_slice(&fixture("review-annotated.json")).expect("fixture");
    let mut pod = review["request"]["object"].clone();
    json_patch::patch(&mut pod, &patch).expect("the patch applies to the request's pod");
    let command: Vec<&str> = pod["spec"]["containers"][0]["command"]
        .as_array()
        .expect("command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(command[0], "/landlock-injector/landlock-shim");
    let joined = command.join(" ");
    for part in [
        "--ro /srv/www",
        "--ro /etc/web",
        "--ro /etc/tls",
        "-- /usr/bin/web-server",
    ] {
        assert!(joined.contains(part), "{joined}");
    }
    assert_eq!(
        pod["spec"]["initContainers"][0]["name"],
        "landlock-shim-install"
    );
    assert_eq!(
        pod["metadata"]["annotations"]["landlock-injector.io/status"],
        "injected"
    );
}

#[test]
fn plain_pods_pass_unchanged_and_bad_annotations_are_denied() {
    let r = &review("review-plain.json")["response"];
    assert_eq!(r["allowed"], true);
    assert!(r.get("patch").is_none(), "{r}");

    let r = &review("review-bad-annotation.json")["response"];
    assert_eq!(r["allowed"], false);
    let message = r["status"]["message"].as_str().expect("message");
    assert!(
        message
            .contains("\"landlock-injector.io/web.read\" (container \"web\"): value \"etc/web\""),
        "{message}"
    );

    let r = &review("review-no-command.json")["response"];
    assert_eq!(r["allowed"], false);
    let message = r["status"]["message"].as_str().expect("message");
    assert!(
        message.contains("container \"web\" (image \"registry.example/web:1.0\")"),
        "{message}"
    );
    assert!(message.contains("set `command`"), "{message}");
}

#[test]
fn malformed_bodies_are_refused_cleanly() {
    let huge = {
        let mut body =
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"x":""#
                .to_vec();
        body.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
        body.extend(br#""}}"#);
        body
    };
    let cases: Vec<(&[u8], &str)> = vec![
        (b"not json", "not an AdmissionReview"),
        (
            br#"{"apiVersion":"v1","kind":"Pod"}"#,
            "expected kind AdmissionReview",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
            "has no request",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":1}}"#,
            "not an AdmissionReview",
        ),
        (&huge, "not an AdmissionReview"),
    ];
    for (body, message) in cases {
        let out = run(&["review", "--offline"], body);
        assert_eq!(out.code, Some(1), "{}", out.stderr);
        assert!(
            out.stderr.starts_with("landlock-webhook: "),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains(message), "{message}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn inject_mutates_workloads_and_passes_other_documents_through() {
    let path = format!("{FIXTURES}/deployment.yaml");
    let out = run(&["inject", "--offline", "-f", &path], b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&out.stdout)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(
        docs[0]["data"]["app.yaml"].as_str(),
        Some("greeting: hello")
    );
    let template = &docs[1]["spec"]["template"];
    assert_eq!(
        template["spec"]["initContainers"][0]["name"].as_str(),
        Some("landlock-shim-install")
    );
    assert_eq!(
        template["spec"]["containers"][0]["command"][0].as_str(),
        Some("/landlock-injector/landlock-shim")
    );

    // JSON in, JSON out, from stdin; a CronJob's template too.
    let cronjob = br#"{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"nightly"},
      "spec":{"schedule":"@daily","jobTemplate":{"spec":{"template":{
        "metadata":{"annotations":{"landlock-injector.io/inject":"true"}},
        "spec":{"restartPolicy":"Never","containers":[{"name":"job","image":"j","command":["/job"]}]}}}}}}"#;
    let out = run(&["inject", "--offline"], cronjob);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).expect("JSON out");
    assert_eq!(
        doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][0],
        "/landlock-injector/landlock-shim"
    );
}

#[test]
fn inject_prints_nothing_when_any_pod_cannot_be_wrapped() {
    let manifest = b"apiVersion: v1
kind: Pod
metadata:
  name: fine
  annotations: {landlock-injector.io/inject: \"true\"}
spec:
  containers: [{name: a, image: a, command: [/a]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: no-command
  annotations: {landlock-injector.io/inject: \"true\"}
spec:
  containers: [{name: b, image: registry.example/b:1}]
---
apiVersion: v1
kind: Pod
metadata:
  name: typo
  annotations: {landlock-injector.io/inject: \"yes\"}
spec:
  containers: [{name: c, image: c, command: [/c]}]
";
    let out = run(&["inject", "--offline"], manifest);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stdout.is_empty(),
        "nothing half-injected: {}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("document 2 (Pod no-command): landlock-injector: container \"b\""),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("document 3 (Pod typo)") && out.stderr.contains("\"yes\""),
        "{}",
        out.stderr
    );
}

/// A review of an opted-in pod whose name and namespace try to forge a log line and to
/// reach the operator's terminal.
fn forging_review() -> (String, Vec<u8>) {
    let name = "evil\nINFO webhook::review: pod wrapped uid=\"forged\"\x1b[2J\x1b]0;owned\x07";
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u\r\nforged", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "apps\n\x1b[31m", "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "annotations": {"landlock-injector.io/inject": "true"}},
                "spec": {"containers": [{"name": "web\x1b[1m", "image": "x", "command": ["/x"]}]}}}
    });
    (name.to_owned(), serde_json::to_vec(&review).expect("json"))
}

#[test]
fn pod_supplied_names_are_escaped_in_text_logs_and_exact_in_json_logs() {
    let (name, body) = forging_review();

    let text = run(&["--log-format", "text", "review", "--offline"], &body);
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(
        !text.stderr.contains('\x1b'),
        "an ESC reached the log: {:?}",
        text.stderr
    );
    assert!(!text.stderr.contains('\x07') && !text.stderr.contains('\r'));
    let lines: Vec<&str> = text.stderr.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.contains("pod wrapped")).count(),
        1,
        "one decision, one line: {lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.trim_start().starts_with("INFO webhook::review")),
        "a forged line: {lines:#?}"
    );
    assert!(
        text.stderr.contains(r#"pod="evil\nINFO webhook::review"#),
        "{}",
        text.stderr
    );

    let json = run(&["--log-format", "json", "review", "--offline"], &body);
    assert_eq!(json.code, Some(0), "{}", json.stderr);
    let records: Vec<Value> = json
        .stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON line: {l:?}: {e}"))
        })
        .collect();
    let wrapped: Vec<&Value> = records
        .iter()
        .filter(|r| r["fields"]["message"] == "pod wrapped")
        .collect();
    assert_eq!(wrapped.len(), 1, "{records:#?}");
    assert_eq!(wrapped[0]["fields"]["pod"], name.as_str());
    assert_eq!(wrapped[0]["fields"]["namespace"], "apps\n\x1b[31m");
    assert_eq!(wrapped[0]["fields"]["containers"], "web\x1b[1m");
}

/// `inject` binds the LandlockPolicy documents of its input (a Deployment selected by one) and
/// of `--namespaces` files (a pod naming one), and prints nothing when a pod names a policy
/// nobody gave it.
#[test]
fn inject_binds_landlock_policies_from_its_input_and_namespaces_files() {
    let policy = "apiVersion: landlock-injector.io/v1alpha1
kind: LandlockPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  allowPodAdditions: false
  default: {mode: enforce, read: [/srv], bindTcp: [8080]}
  containers:
    - {name: web, write: [/var/cache/web]}
";
    let deployment = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web, landlock-injector.io/inject: \"true\"}
    spec:
      containers:
        - {name: web, image: python, command: [python3, -m, http.server, \"8080\"]}
";
    let manifest = format!("{policy}---\n{deployment}");
    let out = run(&["inject", "--offline"], manifest.as_bytes());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&out.stdout)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
        .collect();
    assert_eq!(docs[0]["kind"].as_str(), Some("LandlockPolicy"));
    let template = &docs[1]["spec"]["template"];
    assert_eq!(
        template["metadata"]["annotations"]["landlock-injector.io/applied-policy"].as_str(),
        Some("web@0")
    );
    let command: Vec<String> =
        serde_yaml::from_value(template["spec"]["containers"][0]["command"].clone())
            .expect("command");
    let flags = command.join(" ");
    for expected in [
        "--ro /srv",
        "--rw /var/cache/web",
        "--bind-tcp 8080",
        "--mode enforce",
    ] {
        assert!(flags.contains(expected), "{expected}: {flags}");
    }

    // The policy from a --namespaces file, a pod that names it.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("policies.yaml");
    std::fs::write(&file, policy).expect("write");
    let file = file.display().to_string();
    let pod = b"apiVersion: v1
kind: Pod
metadata:
  name: named
  namespace: shop
  annotations: {landlock-injector.io/policy: web}
spec:
  containers: [{name: web, image: python, command: [/srv/app]}]
";
    let out = run(&["inject", "--offline", "--namespaces", &file], pod);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("landlock-injector.io/applied-policy: web@0")
            && out.stdout.contains("/var/cache/web"),
        "{}",
        out.stdout
    );

    // Without the file the named policy is missing; a closed policy refuses the pod's own
    // annotations. Either way nothing is printed.
    let out = run(&["inject", "--offline"], pod);
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains(
            r#"the pod names LandlockPolicy "web", which namespace "shop" does not have (it has none)"#
        ),
        "{}",
        out.stderr
    );
    let annotated = String::from_utf8_lossy(pod).replace(
        "annotations: {landlock-injector.io/policy: web}",
        "annotations: {landlock-injector.io/policy: web, landlock-injector.io/read: /etc}",
    );
    let out = run(
        &["inject", "--offline", "--namespaces", &file],
        annotated.as_bytes(),
    );
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stderr.contains(
            r#"LandlockPolicy "web" applies to this pod and has allowPodAdditions: false, so the pod's own annotations "landlock-injector.io/read" are refused"#
        ),
        "{}",
        out.stderr
    );
}

/// `inject` reads LandlockRecording documents too: the pods a recording selects are written
/// in learn mode, over their policy's mode, with the recording's name as annotation and label.
#[test]
fn inject_admits_the_pods_a_landlock_recording_selects_in_learn_mode() {
    let manifest = "apiVersion: landlock-injector.io/v1alpha1
kind: LandlockPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  default: {mode: enforce, read: [/srv]}
---
apiVersion: landlock-injector.io/v1alpha1
kind: LandlockRecording
metadata: {name: web-rec, namespace: shop}
spec: {podSelector: {matchLabels: {app: web}}, policy: web}
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels: {app: web, landlock-injector.io/inject: \"true\"}
spec:
  containers:
    - {name: web, image: python, command: [python3, -m, http.server]}
";
    let out = run(&["inject", "--offline"], manifest.as_bytes());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&out.stdout)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
        .collect();
    let pod = &docs[2];
    let key = "landlock-injector.io/recording";
    assert_eq!(
        pod["metadata"]["annotations"][key].as_str(),
        Some("web-rec")
    );
    assert_eq!(pod["metadata"]["labels"][key].as_str(), Some("web-rec"));
    let command: Vec<String> =
        serde_yaml::from_value(pod["spec"]["containers"][0]["command"].clone()).expect("command");
    let flags = command.join(" ");
    assert!(
        flags.contains("--mode learn") && flags.contains("--ro /srv"),
        "{flags}"
    );
    assert!(
        out.stderr.contains("NOT sandboxed while learning"),
        "{}",
        out.stderr
    );
}

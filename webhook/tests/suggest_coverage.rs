//! `landlock-webhook suggest` over several replicas' learn lines through the real binary:
//! coverage per path (`N of M`), `--min-coverage K` and its errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_landlock-webhook");

fn suggest(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("suggest")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn landlock-webhook");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A final learn line suggesting `read` and `write` paths and bind ports.
fn learn(read: &[&str], write: &[&str], bind: &[u16]) -> String {
    let list = |items: &[&str]| {
        items
            .iter()
            .map(|i| format!("\"{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    };
    let ports = bind
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"{{"landlock-learn":"landlock-shim 0.1.0","final":true,"program":"app","profile":"default","discover":true,"suggest":{{"read":[{}],"read-exec":[],"write":[{}],"write-exec":[],"bind-tcp":[{ports}],"connect-tcp":[]}}}}"#,
        list(read),
        list(write)
    )
}

/// Three pods of one Deployment as `kubectl logs --prefix` prints them: every pod reads
/// /srv and binds 8080; two also write /var/cache/app; one writes /data too.
fn three_pods() -> String {
    [
        format!(
            "[pod/web-a/app] hello\n[pod/web-a/app] {}\n",
            learn(&["/srv"], &["/var/cache/app"], &[8080])
        ),
        format!(
            "[pod/web-b/app] {}\n",
            learn(&["/srv"], &["/var/cache/app", "/data"], &[8080])
        ),
        format!("[pod/web-c/app] {}\n", learn(&["/srv"], &[], &[8080])),
    ]
    .concat()
}

#[test]
fn each_suggested_path_says_in_how_many_replicas_it_was_needed() {
    let out = suggest(&[], &three_pods());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "    # write /data: coverage: 1 of 3\n    # write /var/cache/app: coverage: 2 of 3\n    landlock-injector.io/write: /data,/var/cache/app\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("    # read /srv: coverage: 3 of 3\n    landlock-injector.io/read: /srv\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("    # bind-tcp 8080: coverage: 3 of 3\n"),
        "{stdout}"
    );

    let out = suggest(&["--format", "json"], &three_pods());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let app = &json["containers"][0];
    assert_eq!(app["replicas"], 3, "{json}");
    assert!(
        app["paths"]
            .as_array()
            .expect("paths")
            .contains(&serde_json::json!({"right":"write","path":"/var/cache/app","coverage":2})),
        "{json}"
    );
    assert_eq!(
        app["bind-tcp"][0],
        serde_json::json!({"port":8080,"coverage":3})
    );
    assert_eq!(json["dropped"], serde_json::json!([]));
}

#[test]
fn min_coverage_drops_what_fewer_replicas_needed_and_says_so() {
    let out = suggest(&["--min-coverage", "3"], &three_pods());
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains("/var/cache/app"), "{stdout}");
    assert!(!stdout.contains("/data"), "{stdout}");
    assert!(
        stdout.contains("landlock-injector.io/read: /srv\n"),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "landlock-webhook: suggest: dropped (--min-coverage 3): container \"app\": write /var/cache/app (needed by 2 of 3 replicas: pod web-a, pod web-b)\n"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("dropped (--min-coverage 3): container \"app\": write /data (needed by 1 of 3 replicas: pod web-b)"),
        "{stderr}"
    );

    let out = suggest(&["--min-coverage", "2", "--format", "json"], &three_pods());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        json["dropped"],
        serde_json::json!([{"container":"app","right":"write","value":"/data","kept":null,"coverage":1,"replicas":3,"by":["pod web-b"]}]),
        "{json}"
    );
    assert_eq!(
        json["annotations"]["landlock-injector.io/write"], "/var/cache/app",
        "{json}"
    );
}

#[test]
fn a_write_one_replica_needed_is_weakened_to_the_read_all_needed() {
    let input = [
        learn(&[], &["/data"], &[]),
        learn(&["/data"], &[], &[]),
        learn(&["/data/sub"], &[], &[]),
    ]
    .join("\n");
    // No pod prefix: each run (ended by its final line) is one replica.
    let out = suggest(&["--min-coverage", "3"], &input);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("landlock-injector.io/read: /data\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("write"), "{stdout}");
    assert!(
        stderr.contains("the program: write /data (needed by 1 of 3 replicas: stdin run 1); read kept, which enough replicas needed"),
        "{stderr}"
    );
}

#[test]
fn replicas_in_separate_files_are_counted_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    std::fs::write(&a, learn(&["/srv"], &[], &[])).expect("write");
    std::fs::write(&b, learn(&["/srv", "/opt/x"], &[], &[])).expect("write");
    let out = suggest(
        &[a.to_str().expect("utf-8"), b.to_str().expect("utf-8")],
        "",
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("# read /opt/x: coverage: 1 of 2\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("# read /srv: coverage: 2 of 2\n"),
        "{stdout}"
    );
}

#[test]
fn bad_min_coverage_values_are_refused_clearly() {
    let out = suggest(&["--min-coverage", "0"], &three_pods());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--min-coverage 0: must be at least 1"),
        "{}",
        text(&out.stderr)
    );
    let out = suggest(&["--min-coverage", "4"], &three_pods());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(
            "--min-coverage 4: container \"app\" has only 3 replica(s) in the input, so nothing could be kept; pass at most 3"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = suggest(&["--min-coverage", "two"], &three_pods());
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--min-coverage")
            && stderr.contains("\"two\" is not a number of replicas (a whole number, at least 1)"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// `--format policy`: the LandlockPolicy a recording would write carries the coverage in its
/// `landlock-injector.io/coverage` annotation, keyed by the fields the webhook's errors name;
/// the object binds as it is (the webhook compiles it); `--min-coverage` drops from both.
#[test]
fn the_policy_format_carries_the_coverage_as_an_annotation() {
    let coverage_of = |args: &[&str]| -> (serde_json::Value, serde_json::Value) {
        let out = suggest(args, &three_pods());
        assert!(out.status.success(), "{}", text(&out.stderr));
        let object: serde_json::Value =
            serde_yaml::from_str(&text(&out.stdout)).expect("a YAML object");
        let dynamic: kube::core::DynamicObject =
            serde_json::from_value(object.clone()).expect("an object");
        webhook::admission::policy::compile(&dynamic).expect("the suggestion binds");
        let annotation = object["metadata"]["annotations"]["landlock-injector.io/coverage"]
            .as_str()
            .expect("the coverage annotation")
            .to_owned();
        (
            serde_json::from_str(&annotation).expect("JSON"),
            object["spec"].clone(),
        )
    };
    let (coverage, spec) = coverage_of(&["--format", "policy"]);
    assert_eq!(
        coverage,
        serde_json::json!({
            "spec.default.read": {"/srv": "3 of 3"},
            "spec.default.write": {"/data": "1 of 3", "/var/cache/app": "2 of 3"},
            "spec.default.bindTcp": {"8080": "3 of 3"},
        })
    );
    assert_eq!(
        spec["default"]["write"],
        serde_json::json!(["/data", "/var/cache/app"])
    );
    let (coverage, spec) = coverage_of(&["--format", "policy", "--min-coverage", "2"]);
    assert_eq!(
        coverage["spec.default.write"],
        serde_json::json!({"/var/cache/app": "2 of 3"})
    );
    assert_eq!(
        spec["default"]["write"],
        serde_json::json!(["/var/cache/app"])
    );
    // One replica: nothing to count, no annotation.
    let one = suggest(&["--format", "policy"], &learn(&["/srv"], &[], &[8080]));
    let object: serde_json::Value = serde_yaml::from_str(&text(&one.stdout)).expect("YAML");
    assert!(object["metadata"].get("annotations").is_none(), "{object}");
}

//! Entrypoint lookups against a real registry (Debian's docker-registry over HTTPS on
//! loopback): what the webhook does for containers without `command`, including every way the
//! registry can fail to answer.

use std::time::Duration;

use base64::Engine as _;
use landlock_tests::registry::{FakeAnswer, FakeRegistry, TestRegistry, broken_token_answers};
use serde_json::{Value, json};
use webhook::config::Config;
use webhook::registry::pull_secrets::{Fixed, PullSecret};
use webhook::registry::{Registry, RegistryOptions};
use webhook::review;

fn admission_review(image: &str, args: Option<&[&str]>) -> Vec<u8> {
    let mut container = json!({"name": "app", "image": image});
    if let Some(args) = args {
        container["args"] = json!(args);
    }
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "5d3c1f7e-0000-4000-8000-000000000001",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "apps", "operation": "CREATE",
            "userInfo": {"username": "test"},
            "object": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "annotations": {"landlock-injector.io/inject": "true"}},
                "spec": {"containers": [container]}},
        }
    }))
    .expect("JSON")
}

fn options(registry: &TestRegistry) -> RegistryOptions {
    RegistryOptions {
        extra_roots: vec![registry.ca_file()],
        ..RegistryOptions::default()
    }
}

/// The response, and the container as the patch makes it.
async fn review_with(body: &[u8], resolver: &Registry<Fixed>) -> (Value, Option<Value>) {
    let config = Config::default();
    let reviewed = review::review(body, &config, resolver)
        .await
        .expect("a usable review");
    let response: Value =
        serde_json::from_slice(&review::to_json(&reviewed.review).expect("JSON")).expect("JSON");
    let response = response["response"].clone();
    let container = response["patch"].as_str().map(|patch| {
        let patch: json_patch::Patch = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(patch)
                .expect("base64"),
        )
        .expect("patch");
        let request: Value = serde_json::from_slice(body).expect("JSON");
        let mut pod = request["request"]["object"].clone();
        json_patch::patch(&mut pod, &patch).expect("applies");
        pod["spec"]["containers"][0].clone()
    });
    (response, container)
}

fn tail_after_separator(command: &Value) -> Vec<String> {
    let command: Vec<String> = serde_json::from_value(command.clone()).expect("command");
    let at = command.iter().position(|a| a == "--").expect("--");
    command[at + 1..].to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_without_command_get_the_image_entrypoint_and_cmd_and_the_cache_is_used() {
    let registry = TestRegistry::start(None).expect("docker-registry");
    let image = registry
        .push(
            "app:1",
            &["/docker-entrypoint.sh"],
            &["nginx", "-g", "daemon off;"],
        )
        .await
        .expect("push");
    let resolver = Registry::new(options(&registry), Fixed::default()).expect("resolver");

    let (response, container) = review_with(&admission_review(&image, None), &resolver).await;
    assert_eq!(response["allowed"], true, "{response}");
    let container = container.expect("patched");
    assert_eq!(
        tail_after_separator(&container["command"]),
        ["/docker-entrypoint.sh"]
    );
    assert_eq!(container["args"], json!(["nginx", "-g", "daemon off;"]));
    assert_eq!(resolver.counters.resolved(), 1);

    // spec.args replaces CMD; the same image again comes from the cache.
    let (_, container) = review_with(&admission_review(&image, Some(&["-v"])), &resolver).await;
    let container = container.expect("patched");
    assert_eq!(
        tail_after_separator(&container["command"]),
        ["/docker-entrypoint.sh"]
    );
    assert_eq!(container["args"], json!(["-v"]));
    assert_eq!(
        resolver.counters.cache_hits.get(),
        1,
        "the second lookup hit the cache"
    );

    // A missing image: a denial naming container, image and cause.
    let missing = format!("{}/nope:1", registry.host());
    let (response, _) = review_with(&admission_review(&missing, None), &resolver).await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().expect("message");
    assert!(
        message.contains(&format!("container \"app\" (image \"{missing}\")")),
        "{message}"
    );
    assert!(message.contains("set `command`"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_image_is_read_with_the_pull_secret_and_refused_without() {
    let registry = TestRegistry::start(Some(("alice", "s3cret"))).expect("docker-registry");
    let image = registry
        .push("private:1", &["/private"], &[])
        .await
        .expect("push");
    let secret = |user: &str, password: &str| {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        PullSecret::parse(
            "regcred",
            json!({"auths": {registry.host(): {"auth": auth}}})
                .to_string()
                .as_bytes(),
        )
        .expect("secret")
    };

    let with_secret = Registry::new(options(&registry), Fixed(vec![secret("alice", "s3cret")]))
        .expect("resolver");
    let (response, container) = review_with(&admission_review(&image, None), &with_secret).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        tail_after_separator(&container.expect("patched")["command"]),
        ["/private"]
    );

    for resolver in [
        Registry::new(options(&registry), Fixed::default()).expect("resolver"),
        Registry::new(options(&registry), Fixed(vec![secret("alice", "wrong")])).expect("resolver"),
    ] {
        let (response, _) = review_with(&admission_review(&image, None), &resolver).await;
        assert_eq!(response["allowed"], false, "{response}");
        let message = response["status"]["message"].as_str().expect("message");
        assert!(
            message.contains(&format!("registry {}", registry.host())),
            "{message}"
        );
        assert_eq!(resolver.counters.failed(), 1);
    }
}

/// The documented answer when an image's configuration cannot be read: a denial naming the
/// container, the image and the cause, and telling the user how to avoid the lookup.
fn assert_denied_naming(response: &Value, image: &str, cause: &[&str]) {
    assert_eq!(response["allowed"], false, "{response}");
    let message = response["status"]["message"].as_str().expect("message");
    assert!(
        message.starts_with(&format!(
            "landlock-injector: container \"app\" (image \"{image}\"): "
        )),
        "{message}"
    );
    assert!(
        cause.iter().any(|c| message.contains(c)),
        "the cause ({cause:?}) is named: {message}"
    );
    assert!(
        message.ends_with(
            "set `command` in the container spec so the webhook does not need the image's configuration"
        ),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_way_a_registry_fails_is_a_denial_naming_container_image_and_cause() {
    let registry = TestRegistry::start(None).expect("docker-registry");
    let other_ca = TestRegistry::start(None).expect("docker-registry");
    let untrusted = other_ca.push("app:1", &["/app"], &[]).await.expect("push");
    let garbage = registry
        .push_config("garbage:1", b"this is not JSON".to_vec())
        .await
        .expect("push");
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("{}/app:1", listener.local_addr().expect("addr"))
    };
    let silent = FakeRegistry::start(|_| FakeAnswer::Silence).expect("fake");
    let token_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let token_host = format!("{}", token_listener.local_addr().expect("addr"));
    let broken_token =
        FakeRegistry::serve(token_listener, broken_token_answers(token_host.clone()))
            .expect("fake");

    let resolver = Registry::new(
        RegistryOptions {
            budget: Duration::from_secs(2),
            insecure: vec![silent.host(), broken_token.host()],
            ..options(&registry)
        },
        Fixed::default(),
    )
    .expect("resolver");
    let cases: [(String, &[&str]); 7] = [
        (refused, &["Connection refused"]),
        // Where DNS answers, NXDOMAIN; where no nameserver answers, the budget runs out.
        (
            "registry.invalid/app:1".to_owned(),
            &["dns error", "budget"],
        ),
        // Both test CAs have an empty subject, so rustls reports BadSignature rather than
        // UnknownIssuer: either way the certificate is not trusted.
        (untrusted, &["invalid peer certificate"]),
        (
            format!("{}/app:1", silent.host()),
            &["took longer than its budget of 2s"],
        ),
        (format!("{}/nope:1", registry.host()), &["manifest unknown"]),
        (garbage, &["the image configuration is not valid JSON"]),
        (
            format!("{}/app:1", broken_token.host()),
            &["not a valid HTTP header value"],
        ),
    ];
    // Twice: the second round must not be answered from a cache of failures, and the process
    // (this test) must still be here after the first.
    for round in 0..2 {
        for (image, cause) in &cases {
            let (response, _) = review_with(&admission_review(image, None), &resolver).await;
            assert_denied_naming(&response, image, cause);
        }
        assert_eq!(resolver.counters.failed(), 7 * (round + 1));
    }
}

/// Set in the child process of the test below.
const NO_TRUST_STORE: &str = "LANDLOCK_TESTS_NO_TRUST_STORE";

/// A machine (or a `FROM scratch` image) without a CA bundle: oci-client's "fallible"
/// constructor used to panic there. The lookup runs in a child process whose rustls sees no
/// system certificates at all (`SSL_CERT_FILE`/`SSL_CERT_DIR` name an empty directory), because
/// the environment is process-wide.
#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_needs_no_system_trust_store() {
    let registry = TestRegistry::start(None).expect("docker-registry");
    let image = registry
        .push("app:1", &["/app"], &["run"])
        .await
        .expect("push");
    if std::env::var_os(NO_TRUST_STORE).is_some() {
        let resolver = Registry::new(options(&registry), Fixed::default()).expect("resolver");
        let (response, container) = review_with(&admission_review(&image, None), &resolver).await;
        assert_eq!(response["allowed"], true, "{response}");
        assert_eq!(
            tail_after_separator(&container.expect("patched")["command"]),
            ["/app"]
        );
        return;
    }
    let empty = tempfile::tempdir().expect("tempdir");
    let child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_lookup_needs_no_system_trust_store",
            "--nocapture",
        ])
        .env(NO_TRUST_STORE, "1")
        .env("SSL_CERT_FILE", empty.path().join("none.pem"))
        .env("SSL_CERT_DIR", empty.path())
        .output()
        .expect("run the test binary");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(
        child.status.success() && output.contains("1 passed"),
        "the lookup without a trust store failed:\n{output}"
    );
}

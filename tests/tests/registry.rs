//! Entrypoint lookups against a real registry (Debian's docker-registry over HTTPS on
//! loopback): what the webhook does for containers without `command`, including every way the
//! registry can fail to answer.

use std::time::Duration;

use base64::Engine as _;
use landlock_tests::registry::{FakeAnswer, FakeRegistry, TestRegistry, broken_token_answers};
use serde_json::{Value, json};
use webhook::admission::config::Config;
use webhook::registry::pull_secrets::{Fixed, PullSecret, PullSecretError, PullSecrets};
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
async fn review_with<S: PullSecrets>(
    body: &[u8],
    resolver: &Registry<S>,
) -> (Value, Option<Value>) {
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

/// A pull secret `name` holding `user:password` for the registry `location`.
fn pull_secret(name: &str, location: &str, user: &str, password: &str) -> PullSecret {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let json = json!({"auths": {location: {"auth": auth}}}).to_string();
    PullSecret::parse(name, json.as_bytes()).expect("secret")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_image_is_read_with_the_pull_secret_and_refused_without() {
    let registry = TestRegistry::start(Some(("alice", "s3cret"))).expect("docker-registry");
    let image = registry
        .push("private:1", &["/private"], &[])
        .await
        .expect("push");
    let secret =
        |user: &str, password: &str| pull_secret("regcred", &registry.host(), user, password);

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

/// The credentials kubelet would pull with, in its order, each tried in turn: a key for the
/// image's repository (the most specific) comes first even with a stale password, and the next
/// one that works reads the image; a key whose host parts are globs matches; when every
/// credential fails, the denial names each secret and user and why it failed. (The webhook had
/// compared hosts only and used the first match: the stale repository key failed the pod, and
/// the glob key was never used.)
#[tokio::test(flavor = "multi_thread")]
async fn pull_secrets_are_matched_and_tried_as_kubelet_does() {
    let registry = TestRegistry::start(Some(("alice", "s3cret"))).expect("docker-registry");
    let image = registry
        .push("team/private:1", &["/private"], &[])
        .await
        .expect("push");
    let host = registry.host();
    let secret =
        |name: &str, location: &str, password: &str| pull_secret(name, location, "alice", password);
    let reviewed = |secrets: Vec<PullSecret>| {
        let registry = &registry;
        let image = &image;
        async move {
            let resolver = Registry::new(options(registry), Fixed(secrets)).expect("resolver");
            review_with(&admission_review(image, None), &resolver).await
        }
    };

    let (response, container) = reviewed(vec![
        secret("default/stale", &format!("{host}/team"), "expired-pw"),
        secret("default/current", &format!("https://{host}/v2/"), "s3cret"),
    ])
    .await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        tail_after_separator(&container.expect("patched")["command"]),
        ["/private"]
    );

    let port = host.rsplit_once(':').expect("port").1;
    let (response, _) = reviewed(vec![secret(
        "default/glob",
        &format!("127.0.0.*:{port}"),
        "s3cret",
    )])
    .await;
    assert_eq!(response["allowed"], true, "{response}");

    let (response, _) = reviewed(vec![
        secret("default/stale", &format!("{host}/team"), "expired-pw"),
        secret("default/wrong", &host, "wrong"),
    ])
    .await;
    assert_eq!(response["allowed"], false, "{response}");
    let message = response["status"]["message"].as_str().expect("message");
    for part in [
        format!(
            "none of the 2 credentials the pod's pull secrets hold for {host}/team/private worked"
        ),
        "default/stale (user \"alice\"): ".to_owned(),
        "; default/wrong (user \"alice\"): ".to_owned(),
    ] {
        assert!(message.contains(&part), "{part:?} in {message}");
    }
    assert!(
        !message.contains("s3cret") && !message.contains("expired-pw"),
        "{message}"
    );
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
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"));
    child
        .args([
            "--exact",
            "a_lookup_needs_no_system_trust_store",
            "--nocapture",
        ])
        .env(NO_TRUST_STORE, "1")
        .env("SSL_CERT_FILE", empty.path().join("none.pem"))
        .env("SSL_CERT_DIR", empty.path());
    assert_child_test_passed(child, "the lookup without a trust store failed");
}

/// Runs `child` (this test binary running one test) and asserts that the test passed in it.
fn assert_child_test_passed(mut child: std::process::Command, failure: &str) {
    let child = child.output().expect("run the test binary");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(
        child.status.success() && output.contains("1 passed"),
        "{failure}:\n{output}"
    );
}

/// What a lookup may read of one registry answer (webhook::registry's limits).
const MANIFEST_LIMIT: u64 = webhook::registry::MAX_MANIFEST_BYTES as u64;
const CONFIG_LIMIT: u64 = webhook::registry::MAX_CONFIG_BYTES as u64;
/// The size of the hostile answers: far beyond either limit.
const HUGE: u64 = 64 << 20;
/// Room for what the two kernels' socket buffers take in before the client hangs up.
const SOCKET_SLACK: u64 = 16 << 20;

/// An image manifest whose configuration blob is `config_digest`, said to be 1 KiB.
fn manifest_pointing_at(config_digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest, "size": 1024},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{}", "1".repeat(64)), "size": 1}],
    }))
    .expect("JSON")
}

/// A hostile or broken registry (HTTPS, trusted through `--registry-ca`) answering each
/// lookup with more than the webhook may buffer: (a) a 64 MiB manifest announced by its
/// Content-Length, (b) a configuration blob sent chunked without end, (c) a manifest whose
/// Content-Length is smaller than what follows. Each is a denial naming the container, the image
/// and the limit; the client stops reading at the limit (the fake counts what it could send);
/// the same resolver then still resolves an image from a real registry.
#[tokio::test(flavor = "multi_thread")]
async fn registry_answers_larger_than_the_limits_are_denied_and_never_buffered() {
    let config_digest = format!("sha256:{}", "c".repeat(64));
    let blob_path = format!("/v2/endless/blobs/{config_digest}");
    let manifest = manifest_pointing_at(&config_digest);
    let fake = FakeRegistry::start_tls(move |path| match path {
        "/v2/big/manifests/1" => FakeAnswer::Flood {
            content_length: Some(HUGE),
            bytes: Some(HUGE),
        },
        "/v2/endless/manifests/1" => FakeAnswer::Reply {
            status: 200,
            headers: vec!["Content-Type: application/vnd.oci.image.manifest.v1+json".to_owned()],
            body: manifest.clone(),
        },
        p if p == blob_path => FakeAnswer::Flood {
            content_length: None,
            bytes: None,
        },
        "/v2/liar/manifests/1" => FakeAnswer::Flood {
            content_length: Some(1024),
            bytes: Some(HUGE),
        },
        _ => FakeAnswer::Reply {
            status: if path == "/v2/" { 200 } else { 404 },
            headers: Vec::new(),
            body: Vec::new(),
        },
    })
    .expect("HTTPS fake");
    let registry = TestRegistry::start(None).expect("docker-registry");
    let good = registry
        .push("app:1", &["/app"], &["run"])
        .await
        .expect("push");
    let resolver = Registry::new(
        RegistryOptions {
            // Generous: reading up to a limit must end by the limit, not by the budget.
            budget: Duration::from_secs(60),
            extra_roots: vec![fake.ca_file().expect("HTTPS"), registry.ca_file()],
            ..RegistryOptions::default()
        },
        Fixed::default(),
    )
    .expect("resolver");

    let cases: [(&str, &[&str], u64); 3] = [
        (
            "big:1",
            &["registry answer larger than 4194304 bytes"],
            MANIFEST_LIMIT,
        ),
        (
            "endless:1",
            &["registry answer larger than 8388608 bytes"],
            CONFIG_LIMIT,
        ),
        // The client reads what the Content-Length says and no further: 1 KiB of spaces is
        // no manifest.
        ("liar:1", &["Failed to parse manifest"], 1024),
    ];
    for (name, cause, limit) in cases {
        let image = format!("{}/{name}", fake.host());
        let before = fake.served();
        let (response, _) = review_with(&admission_review(&image, None), &resolver).await;
        assert_denied_naming(&response, &image, cause);
        let served = fake.served() - before;
        assert!(
            served <= limit + SOCKET_SLACK && served < HUGE / 2,
            "{name}: the client took {served} bytes, more than the limit of {limit} plus socket buffers"
        );
    }
    let (response, container) = review_with(&admission_review(&good, None), &resolver).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        tail_after_separator(&container.expect("patched")["command"]),
        ["/app"]
    );
}

/// A registry (HTTPS, trusted) that redirects its manifest requests elsewhere: to a plain-HTTP
/// service (a downgrade, here an "internal" fake whose answer must not reach the pod author),
/// or to the cloud metadata address. Neither redirect is followed: the pod is denied naming
/// why, and the internal service is never asked (reqwest's default followed both, and a
/// non-2xx body came back in the denial).
#[tokio::test(flavor = "multi_thread")]
async fn redirects_to_plain_http_or_the_metadata_address_are_not_followed() {
    let internal = FakeRegistry::start(|_| FakeAnswer::Reply {
        status: 403,
        headers: Vec::new(),
        body: b"INTERNAL-SECRET".to_vec(),
    })
    .expect("plain fake");
    let to_internal = format!("Location: http://{}/latest/meta-data/", internal.host());
    let fake = FakeRegistry::start_tls(move |path| match path {
        "/v2/downgrade/manifests/1" => FakeAnswer::Reply {
            status: 302,
            headers: vec![to_internal.clone()],
            body: Vec::new(),
        },
        "/v2/metadata/manifests/1" => FakeAnswer::Reply {
            status: 302,
            headers: vec!["Location: https://169.254.169.254/latest/meta-data/".to_owned()],
            body: Vec::new(),
        },
        _ => FakeAnswer::Reply {
            status: if path == "/v2/" { 200 } else { 404 },
            headers: Vec::new(),
            body: Vec::new(),
        },
    })
    .expect("HTTPS fake");
    let resolver = Registry::new(
        RegistryOptions {
            extra_roots: vec![fake.ca_file().expect("HTTPS")],
            ..RegistryOptions::default()
        },
        Fixed::default(),
    )
    .expect("resolver");
    for (name, cause) in [
        (
            "downgrade:1",
            "a redirect from HTTPS to plain HTTP (127.0.0.1) is not followed",
        ),
        (
            "metadata:1",
            "a redirect to 169.254.169.254 is not followed",
        ),
    ] {
        let image = format!("{}/{name}", fake.host());
        let (response, _) = review_with(&admission_review(&image, None), &resolver).await;
        assert_denied_naming(&response, &image, &[cause]);
        assert!(
            !response.to_string().contains("INTERNAL-SECRET"),
            "{response}"
        );
    }
    assert_eq!(internal.served(), 0, "the internal service was never asked");
}

/// A registry (HTTPS, trusted) whose token challenge names a realm the webhook must not ask:
/// plain HTTP (the pull secret's password would travel in clear, to an "internal" fake), or the
/// cloud metadata address; and an image whose registry is written as a link-local address (never
/// resolved, so the resolver's check does not see it). Each is a denial naming why, and the
/// internal service is never asked (oci-client asked any realm, with the credentials). A realm
/// on HTTPS is still asked: the control fake's token server is (its refusal then leaves the
/// lookup anonymous, as oci-client does, and the registry says "Not authorized").
#[tokio::test(flavor = "multi_thread")]
async fn token_realms_are_checked_as_redirects_are() {
    let internal = FakeRegistry::start(|_| FakeAnswer::Reply {
        status: 403,
        headers: Vec::new(),
        body: b"INTERNAL-SECRET".to_vec(),
    })
    .expect("plain fake");
    let challenging = |realm: String| {
        move |path: &str| FakeAnswer::Reply {
            status: if path.starts_with("/token") { 403 } else { 401 },
            headers: vec![format!(
                "WWW-Authenticate: Bearer realm=\"{realm}\",service=\"fake\""
            )],
            body: if path.starts_with("/token") {
                b"TOKEN-SERVER-ASKED".to_vec()
            } else {
                Vec::new()
            },
        }
    };
    let downgrade =
        FakeRegistry::start_tls(challenging(format!("http://{}/token", internal.host())))
            .expect("HTTPS fake");
    let metadata = FakeRegistry::start_tls(challenging(
        "https://169.254.169.254/latest/meta-data/".to_owned(),
    ))
    .expect("HTTPS fake");
    // Its realm is itself, on HTTPS: the port is known once it listens.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let own = format!("https://{}/token", listener.local_addr().expect("addr"));
    let control = FakeRegistry::serve_tls(listener, challenging(own)).expect("HTTPS fake");
    let secrets = Fixed(
        [&downgrade, &metadata, &control]
            .iter()
            .map(|fake| pull_secret("registry", &fake.host(), "alice", "in-the-clear"))
            .collect(),
    );
    let resolver = Registry::new(
        RegistryOptions {
            extra_roots: [&downgrade, &metadata, &control]
                .iter()
                .map(|fake| fake.ca_file().expect("HTTPS"))
                .collect(),
            ..RegistryOptions::default()
        },
        secrets,
    )
    .expect("resolver");
    let cases = [
        (
            format!("{}/app:1", downgrade.host()),
            format!(
                "the token realm http://{}/token from HTTPS to plain HTTP (127.0.0.1) is not followed",
                internal.host()
            ),
        ),
        (
            format!("{}/app:1", metadata.host()),
            "the token realm https://169.254.169.254/latest/meta-data/ to 169.254.169.254 is not followed".to_owned(),
        ),
        (
            "169.254.169.254:443/app:1".to_owned(),
            "registry 169.254.169.254:443: 169.254.169.254 is not asked: no registry is at a link-local".to_owned(),
        ),
        (
            "0.0.0.0:5000/app:1".to_owned(),
            "0.0.0.0 is not asked".to_owned(),
        ),
        // Numeric hosts the URL parser reads as 169.254.169.254 (a port makes them a registry,
        // not a Docker Hub repository).
        (
            "2852039166:443/app:1".to_owned(),
            "169.254.169.254 is not asked".to_owned(),
        ),
        (
            "0xa9fea9fe:443/app:1".to_owned(),
            "169.254.169.254 is not asked".to_owned(),
        ),
        (
            format!("{}/app:1", control.host()),
            "Not authorized".to_owned(),
        ),
    ];
    for (image, cause) in &cases {
        let (response, _) = review_with(&admission_review(image, None), &resolver).await;
        assert_denied_naming(&response, image, &[cause]);
        assert!(
            !response.to_string().contains("INTERNAL-SECRET"),
            "{response}"
        );
    }
    assert_eq!(internal.served(), 0, "the internal service was never asked");
    assert!(
        control.served() >= b"TOKEN-SERVER-ASKED".len() as u64,
        "the HTTPS realm was asked"
    );
}

/// N+4 lookups at once against a registry that never answers: at most N reach it
/// (`--registry-concurrency`), every pod gets a denial within its budget, and those that never
/// got a slot say so instead of waiting for ever.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_lookups_are_bounded_and_those_without_a_slot_are_denied() {
    const N: u16 = 2;
    let stalled = FakeRegistry::start_tls(|_| FakeAnswer::Silence).expect("HTTPS fake");
    let resolver = Registry::new(
        RegistryOptions {
            budget: Duration::from_secs(3),
            concurrency: N,
            extra_roots: vec![stalled.ca_file().expect("HTTPS")],
            ..RegistryOptions::default()
        },
        Fixed::default(),
    )
    .expect("resolver");
    let images: Vec<String> = (0..usize::from(N) + 4)
        .map(|i| format!("{}/app{i}:1", stalled.host()))
        .collect();
    let reviews = images
        .iter()
        .map(|image| review_with_owned(admission_review(image, None), &resolver));
    let responses = futures::future::join_all(reviews).await;
    let mut without_slot = 0;
    for (image, (response, _)) in images.iter().zip(&responses) {
        assert_denied_naming(
            response,
            image,
            &[
                "--registry-concurrency",
                "took longer than its budget of 3s",
            ],
        );
        let message = response["status"]["message"].as_str().unwrap_or_default();
        if message.contains("--registry-concurrency") {
            without_slot += 1;
            assert!(
                message.contains(&format!("all {N} registry lookup slots")),
                "{message}"
            );
        }
    }
    assert!(
        stalled.most_held() <= usize::from(N),
        "{} lookups reached the registry at once, more than --registry-concurrency {N}",
        stalled.most_held()
    );
    assert!(stalled.most_held() > 0, "the lookups reached the registry");
    assert!(
        without_slot >= 1,
        "some lookups waited for a slot: {responses:?}"
    );
}

/// A review of a pod in `namespace` whose containers `c0`, `c1`, ... run `images`, none with a
/// `command`.
fn admission_review_of(namespace: &str, images: &[String]) -> Vec<u8> {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "5d3c1f7e-0000-4000-8000-000000000002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace, "operation": "CREATE",
            "userInfo": {"username": "test"},
            "object": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "annotations": {"landlock-injector.io/inject": "true"}},
                "spec": {"containers": containers}},
        }
    }))
    .expect("JSON")
}

/// A pod's images are looked up at once, so its lookups together take one budget: three
/// images at a registry that never answers are all in flight together and the pod is denied
/// naming the budget. One after the other they took three budgets, past the review's own
/// deadline (9 s), and the API server applied its failurePolicy instead of reading a denial.
#[tokio::test(flavor = "multi_thread")]
async fn a_pods_images_are_looked_up_at_once() {
    let stalled = FakeRegistry::start_tls(|_| FakeAnswer::Silence).expect("HTTPS fake");
    let resolver = Registry::new(
        RegistryOptions {
            budget: Duration::from_secs(2),
            extra_roots: vec![stalled.ca_file().expect("HTTPS")],
            ..RegistryOptions::default()
        },
        Fixed::default(),
    )
    .expect("resolver");
    let images: Vec<String> = (0..3)
        .map(|i| format!("{}/app{i}:1", stalled.host()))
        .collect();
    let (response, _) = review_with(&admission_review_of("apps", &images), &resolver).await;
    assert_eq!(response["allowed"], false, "{response}");
    let message = response["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("took longer than its budget of 2s"),
        "{message}"
    );
    assert_eq!(
        stalled.most_held(),
        3,
        "the pod's three lookups were in flight at once"
    );
    assert_eq!(resolver.counters.failed(), 3, "each lookup was made once");
}

/// Pull secrets that count how often they are asked for.
#[derive(Default, Clone)]
struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl PullSecrets for Counted {
    async fn for_pod(
        &self,
        _pod: &k8s_openapi::api::core::v1::Pod,
        _namespace: Option<&str>,
    ) -> Result<Vec<PullSecret>, PullSecretError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Vec::new())
    }
}

/// A pod's pull secrets are read once per review, not once per image: in a cluster each read
/// is an API call per secret, and a pod of many images multiplied them.
#[tokio::test(flavor = "multi_thread")]
async fn a_pods_pull_secrets_are_read_once_for_all_its_images() {
    let registry = TestRegistry::start(None).expect("docker-registry");
    let mut images = Vec::new();
    for i in 0..3 {
        let name = format!("app{i}:1");
        images.push(registry.push(&name, &["/app"], &[]).await.expect("push"));
    }
    let asked = Counted::default();
    let resolver = Registry::new(options(&registry), asked.clone()).expect("resolver");
    let (response, _) = review_with(&admission_review_of("apps", &images), &resolver).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(asked.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(resolver.counters.failed(), 0);
}

/// One namespace holds at most `--registry-concurrency-per-namespace` of the slots: a pod with
/// six images at a registry that never answers takes two of four, and a pod of another
/// namespace, reviewed meanwhile, still reaches the registry (it is denied for the registry's
/// silence, not for want of a slot). Counted a second in, before any lookup's budget of 3 s
/// ends and frees a slot for a waiter. (Which waiter a freed slot goes to at the deadline is
/// the timer's: the denial naming the share is checked in `registry::slots`' unit tests.)
#[tokio::test(flavor = "multi_thread")]
async fn one_namespace_cannot_take_every_registry_slot() {
    let stalled = FakeRegistry::start_tls(|_| FakeAnswer::Silence).expect("HTTPS fake");
    let resolver = Registry::new(
        RegistryOptions {
            budget: Duration::from_secs(3),
            concurrency: 4,
            concurrency_per_namespace: 2,
            extra_roots: vec![stalled.ca_file().expect("HTTPS")],
            ..RegistryOptions::default()
        },
        Fixed::default(),
    )
    .expect("resolver");
    let greedy: Vec<String> = (0..6)
        .map(|i| format!("{}/greedy{i}:1", stalled.host()))
        .collect();
    let other = vec![format!("{}/other:1", stalled.host())];
    let greedy_review = admission_review_of("greedy", &greedy);
    let other_review = admission_review_of("other", &other);
    let ((greedy_answer, _), (other_answer, _), held_at_once) = tokio::join!(
        review_with(&greedy_review, &resolver),
        async {
            // The greedy pod's lookups are queued first.
            tokio::time::sleep(Duration::from_millis(300)).await;
            review_with(&other_review, &resolver).await
        },
        async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stalled.most_held()
        }
    );
    assert_eq!(
        held_at_once, 3,
        "two of the greedy namespace's lookups and the other's one reached the registry"
    );
    let other_message = other_answer["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        other_message.contains("took longer than its budget of 3s"),
        "the other namespace's lookup got a slot: {other_message}"
    );
    assert_eq!(greedy_answer["allowed"], false, "{greedy_answer}");
}

async fn review_with_owned(body: Vec<u8>, resolver: &Registry<Fixed>) -> (Value, Option<Value>) {
    review_with(&body, resolver).await
}

/// Set in the child process of the test below.
const EMPTY_RESOLV_CONF: &str = "LANDLOCK_TESTS_EMPTY_RESOLV_CONF";

/// hickory, as reqwest sets it up, resolves with Google's public nameservers when
/// /etc/resolv.conf is missing, unreadable or names none: every image name would leak to the
/// internet. The registry reader refuses to start instead, naming the file. The child process
/// sees an empty /etc/resolv.conf (a bind mount in its own mount namespace).
#[test]
fn without_nameservers_in_resolv_conf_lookups_refuse_to_start_instead_of_asking_public_ones() {
    if std::env::var_os(EMPTY_RESOLV_CONF).is_some() {
        let refused = Registry::new(RegistryOptions::default(), Fixed::default())
            .err()
            .expect("no registry reader without nameservers");
        let message = refused.to_string();
        assert!(
            message.contains("/etc/resolv.conf") && message.contains("never with public ones"),
            "{message}"
        );
        return;
    }
    let empty = tempfile::NamedTempFile::new().expect("temp file");
    let test =
        "without_nameservers_in_resolv_conf_lookups_refuse_to_start_instead_of_asking_public_ones";
    let mut child = std::process::Command::new("/usr/bin/unshare");
    child
        .args(["--mount", "--propagation", "private", "/bin/sh", "-c"])
        .arg(format!(
            "mount --bind '{}' /etc/resolv.conf && exec \"$0\" --exact {test} --nocapture",
            empty.path().display()
        ))
        .arg(std::env::current_exe().expect("test binary"))
        .env(EMPTY_RESOLV_CONF, "1");
    assert_child_test_passed(
        child,
        "with an empty /etc/resolv.conf the registry reader still started",
    );
}

//! `landlock-webhook serve` over real HTTPS on loopback: the admission endpoint, health and
//! metrics, certificate rotation under load, malformed requests, graceful shutdown and the
//! server's own sandbox.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn admission_health_and_metrics_over_https() {
    let (_ca, _dir, _certs, server) = serving(&[]);
    let port = server.port;

    let (status, body, _) = request(port, &server.ca, "GET", "/healthz", "text/plain", b"")
        .await
        .expect("healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _, _) = request(port, &server.ca, "GET", "/readyz", "text/plain", b"")
        .await
        .expect("readyz");
    assert_eq!(status, 200);

    let (status, body, _) = request(
        port,
        &server.ca,
        "POST",
        "/mutate",
        "application/json",
        &fixture("review-annotated.json"),
    )
    .await
    .expect("mutate");
    assert_eq!(status, 200, "{body}");
    let review: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(review["response"]["allowed"], true);
    assert_eq!(review["response"]["patchType"], "JSONPatch");

    let (status, body, _) = request(
        port,
        &server.ca,
        "POST",
        "/mutate",
        "application/json",
        &fixture("review-plain.json"),
    )
    .await
    .expect("mutate");
    assert_eq!(status, 200);
    assert!(!body.contains("\"patch\""), "{body}");

    let (status, body, _) = request(
        port,
        &server.ca,
        "POST",
        "/mutate",
        "application/json",
        &fixture("review-bad-annotation.json"),
    )
    .await
    .expect("mutate");
    assert_eq!(status, 200);
    assert!(
        body.contains("\"allowed\":false") && body.contains("landlock-injector.io/web.read"),
        "{body}"
    );
    // Denials carry 403 Forbidden, as the API server's own policy denials do.
    let review: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(review["response"]["status"]["code"], 403, "{body}");
    assert_eq!(
        review["response"]["status"]["reason"], "Forbidden",
        "{body}"
    );

    let (status, metrics, _) = request(port, &server.ca, "GET", "/metrics", "text/plain", b"")
        .await
        .expect("metrics");
    assert_eq!(status, 200);
    for line in [
        "landlock_webhook_admission_requests_total{outcome=\"mutated\"} 1",
        "landlock_webhook_admission_requests_total{outcome=\"unchanged\"} 1",
        "landlock_webhook_admission_requests_total{outcome=\"denied\"} 1",
        "landlock_webhook_admission_duration_seconds_count 3",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    // The server sandboxed itself and said so in one line.
    assert!(
        server.log().contains("{\"landlock\":\"landlock-webhook"),
        "{}",
        server.log()
    );
    // It restricted itself before starting any thread: below ABI 8 (no TSYNC) Landlock
    // restricts only the calling thread, so there must have been no other.
    assert!(
        server.log().contains("\"threads_at_restriction\":1,"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_rotation_under_load_fails_no_request() {
    let (ca, _dir, certs, server) = serving(&[]);
    let (port, ca_pem) = (server.port, server.ca.clone());

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let client = {
        let (stop, ok, failed, ca_pem) = (stop.clone(), ok.clone(), failed.clone(), ca_pem.clone());
        tokio::spawn(async move {
            let body = fixture("review-annotated.json");
            while !stop.load(Ordering::Relaxed) {
                match request(port, &ca_pem, "POST", "/mutate", "application/json", &body).await {
                    Ok((200, _, _)) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((status, body, _)) => failed
                        .lock()
                        .expect("lock")
                        .push(format!("{status}: {body}")),
                    Err(e) => failed.lock().expect("lock").push(e.to_string()),
                }
            }
        })
    };
    let mut last_der = Vec::new();
    for generation in 2..=4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (cert, key, der) = ca.leaf(generation);
        publish(
            &certs,
            &format!("..2026_11_23_00_00_0{generation}.{generation}"),
            &cert,
            &key,
        );
        last_der = der;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::Relaxed);
    client.await.expect("client");
    let failed = failed.lock().expect("lock").clone();
    assert!(
        failed.is_empty(),
        "failed requests during rotation: {failed:?}"
    );
    assert!(ok.load(Ordering::Relaxed) > 10, "the client kept sending");
    let (_, _, served) = request(port, &ca_pem, "GET", "/healthz", "text/plain", b"")
        .await
        .expect("healthz");
    assert_eq!(served, last_der, "the newest certificate is served");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_clean_4xx_and_the_server_keeps_serving() {
    let (_ca, _dir, _certs, server) = serving(&[]);
    let (port, ca_pem) = (server.port, server.ca.clone());
    let huge = vec![b'{'; 10 * 1024 * 1024];
    let cases: Vec<(&str, &str, &[u8], u16)> = vec![
        ("POST", "application/json", b"not json", 400),
        (
            "POST",
            "application/json",
            br#"{"apiVersion":"v1","kind":"Pod"}"#,
            400,
        ),
        (
            "POST",
            "application/json",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
            400,
        ),
        ("POST", "application/json", &huge, 413),
        ("POST", "text/plain", b"{}", 415),
        ("GET", "application/json", b"", 405),
    ];
    for (method, content_type, body, want) in cases {
        let (status, text, _) = request(port, &ca_pem, method, "/mutate", content_type, body)
            .await
            .expect("request");
        assert_eq!(status, want, "{method} {content_type}: {text}");
    }
    let (status, _, _) = request(port, &ca_pem, "GET", "/healthz", "text/plain", b"")
        .await
        .expect("healthz");
    assert_eq!(status, 200);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_request_in_flight_finish() {
    // A "registry" that accepts connections and never answers: the review waits for its
    // lookup budget (2s), long enough to send SIGTERM in the middle.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let registry = black_hole.local_addr().expect("addr");
    let review = String::from_utf8(fixture("review-no-command.json"))
        .expect("UTF-8")
        .replace("registry.example/web:1.0", &format!("{registry}/web:1.0"));

    let (_ca, _dir, _certs, mut server) = serving(&[]);
    let (port, ca_pem) = (server.port, server.ca.clone());
    let in_flight = tokio::spawn(async move {
        request(
            port,
            &ca_pem,
            "POST",
            "/mutate",
            "application/json",
            review.as_bytes(),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, server.log())
    })
    .await
    .expect("terminate");
    let (status, log) = status;
    let (code, body, _) = in_flight
        .await
        .expect("task")
        .expect("the request completes");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("budget"), "{body}");
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(black_hole);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_self_sandbox_confines_certificate_reads_to_the_certificate_directory() {
    for sandboxed in [true, false] {
        let ca = Ca::new();
        let (dir, certs) = cert_dir();
        let (cert, key, first) = ca.leaf(1);
        publish(&certs, "..2026_11_23_00_00_00.1", &cert, &key);
        let mut extra = file_args(&certs);
        if !sandboxed {
            extra.push("--no-self-sandbox".into());
        }
        let server = Server::start(&args(&extra), ca.pem.clone());
        // A renewal whose payload lies OUTSIDE the certificate directory (not what kubelet
        // does): only a sandboxed server is stopped from reading it.
        std::fs::create_dir_all(dir.path().join("elsewhere")).expect("mkdir");
        let (cert, key, second) = ca.leaf(2);
        publish(&certs, "../elsewhere", &cert, &key);
        tokio::time::sleep(Duration::from_millis(800)).await;
        let (_, _, served) = request(
            server.port,
            &server.ca,
            "GET",
            "/healthz",
            "text/plain",
            b"",
        )
        .await
        .expect("healthz");
        if sandboxed {
            assert_eq!(
                served, first,
                "the sandboxed server kept the old certificate"
            );
            assert!(
                server.log().contains("Permission denied"),
                "{}",
                server.log()
            );
        } else {
            assert_eq!(served, second, "without the sandbox the new files are read");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_certificate_files_it_serves_a_self_signed_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_out = dir.path().join("ca.pem");
    let mut child = Command::new(BIN)
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ca-out",
        ])
        .arg(&ca_out)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut port = None;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Some(addr) = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["fields"]["address"].as_str().map(str::to_owned))
        {
            port = addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
            break;
        }
    }
    let port = port.expect("the server printed its address");
    let ca = std::fs::read_to_string(&ca_out).expect("the CA bundle was written");
    let (status, _, _) = request(port, &ca, "GET", "/healthz", "text/plain", b"")
        .await
        .expect("trusting the CA works");
    assert_eq!(status, 200);
    let _ = child.kill();
    let _ = child.wait();
}

/// `review-plain.json` moved to `namespace` with `labels`, `annotations` and an env value.
fn plain_review(namespace: &str, uid: &str, labels: serde_json::Value) -> Vec<u8> {
    let mut review: serde_json::Value =
        serde_json::from_slice(&fixture("review-plain.json")).expect("fixture");
    review["request"]["uid"] = serde_json::json!(uid);
    review["request"]["namespace"] = serde_json::json!(namespace);
    let object = &mut review["request"]["object"];
    object["metadata"]["namespace"] = serde_json::json!(namespace);
    object["metadata"]["labels"] = labels;
    object["spec"]["containers"][0]["env"] =
        serde_json::json!([{"name": "DB_PASSWORD", "value": "hunter2-secret"}]);
    serde_json::to_vec(&review).expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn label_and_namespace_opt_in_over_https_with_one_log_line_per_decision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let namespaces = dir.path().join("namespaces.yaml");
    std::fs::write(
        &namespaces,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: sandboxed\n  labels:\n    landlock-injector.io/inject: \"true\"\n  annotations:\n    landlock-injector.io/profile: minimal\n",
    )
    .expect("write");
    let namespaces = namespaces.display().to_string();
    let (_ca, _dir, _certs, server) = serving(&["--namespaces", &namespaces]);
    let post = |body: Vec<u8>| {
        let (port, ca) = (server.port, server.ca.clone());
        async move {
            let (status, body, _) =
                request(port, &ca, "POST", "/mutate", "application/json", &body)
                    .await
                    .expect("mutate");
            assert_eq!(status, 200, "{body}");
            let review: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            review["response"].clone()
        }
    };
    let label = serde_json::json!({"landlock-injector.io/inject": "true"});

    // The pod label opts in.
    let response = post(plain_review("apps", "uid-label", label.clone())).await;
    assert_eq!(response["patchType"], "JSONPatch", "{response}");
    // The namespace label opts in a pod that says nothing, with the namespace's profile.
    let response = post(plain_review(
        "sandboxed",
        "uid-namespace",
        serde_json::json!({}),
    ))
    .await;
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().expect("a patch"))
        .expect("base64");
    assert!(
        String::from_utf8_lossy(&patch).contains("\"--profile\",\"minimal\""),
        "{}",
        String::from_utf8_lossy(&patch)
    );
    // "false" on the pod overrides the namespace; other namespaces are left alone.
    let out = serde_json::json!({"landlock-injector.io/inject": "false"});
    let response = post(plain_review("sandboxed", "uid-out", out)).await;
    assert!(response.get("patch").is_none(), "{response}");
    let response = post(plain_review("apps", "uid-plain", serde_json::json!({}))).await;
    assert!(response.get("patch").is_none(), "{response}");
    // Any other value is denied with 403, naming the label and the value.
    let bad = serde_json::json!({"landlock-injector.io/inject": "yes"});
    let response = post(plain_review("apps", "uid-bad", bad)).await;
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    let message = response["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("pod label \"landlock-injector.io/inject\": value \"yes\""),
        "{message}"
    );

    // One info line per mutated or denied pod with the request uid, never the pod's contents.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.log();
    for (uid, message) in [
        ("uid-label", "pod wrapped"),
        ("uid-namespace", "pod wrapped"),
        ("uid-bad", "pod denied"),
    ] {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(uid) && l.contains(message))
            .collect();
        assert_eq!(lines.len(), 1, "{uid}: {lines:?}\n{log}");
        assert!(lines[0].contains("\"level\":\"INFO\""), "{}", lines[0]);
    }
    assert!(log.contains("\"containers\":\"web\""), "{log}");
    assert!(log.contains("\"profile\":\"minimal\""), "{log}");
    assert!(
        !log.contains("hunter2"),
        "the log shows pod contents:\n{log}"
    );
}

//! `landlock-webhook serve` (the binary, default flags but for the ones named) attacked the way
//! a client inside the cluster could: headers and bodies sent a byte at a time, more idle
//! connections than the cap, a pod built to amplify the work, a low descriptor limit. Each test
//! checks that the attack is cut off and that good requests are still answered meanwhile. How
//! fast and at what memory is the load benchmark's hostile leg (`webhook/benches/load/run`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use support::*;

async fn tls(port: u16, ca_pem: &str) -> TlsStream<TcpStream> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake")
}

/// A plain review of a pod that does not opt in.
fn plain_review() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/review-plain.json"
    ))
    .expect("fixture")
}

fn review_of(pod: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "apps", "operation": "CREATE", "object": pod}
    }))
    .expect("json")
}

/// A good request and a health check, each on a new connection, must be answered.
async fn good_requests_are_served(server: &Server) {
    let (status, body, _) = request(
        server.port,
        &server.ca,
        "GET",
        "/healthz",
        "text/plain",
        b"",
    )
    .await
    .expect("healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body, _) = request(
        server.port,
        &server.ca,
        "POST",
        "/mutate",
        "application/json",
        &plain_review(),
    )
    .await
    .expect("review");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"allowed\":true"), "{body}");
}

async fn metric(server: &Server, name: &str) -> f64 {
    let (status, text, _) = request(
        server.port,
        &server.ca,
        "GET",
        "/metrics",
        "text/plain",
        b"",
    )
    .await
    .expect("metrics");
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Reads until the server closes or answers; the answer's text (empty when it just closed).
async fn until_closed(stream: &mut TlsStream<TcpStream>) -> String {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut got)).await;
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_and_bodies_sent_a_byte_at_a_time_are_cut_at_the_read_timeout() {
    let (_ca, _dir, _certs, server) = serving(&["--read-timeout", "1s"]);

    // Headers, one byte every 100 ms: never complete.
    let mut slow_head = tls(server.port, &server.ca).await;
    let head =
        b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Slow: ";
    let dripper = tokio::spawn(async move {
        let mut sent = 0usize;
        for byte in head.iter().cycle().take(400) {
            if slow_head.write_all(&[*byte]).await.is_err() || slow_head.flush().await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (sent, until_closed(&mut slow_head).await)
    });

    // A body announced as 3,000,000 bytes, sent a byte every 100 ms.
    let mut slow_body = tls(server.port, &server.ca).await;
    slow_body
        .write_all(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 3000000\r\n\r\n{")
        .await
        .expect("head");
    let body_dripper = tokio::spawn(async move {
        for _ in 0..400 {
            if slow_body.write_all(b" ").await.is_err() || slow_body.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            // The server answers at the deadline; stop when it did.
            let mut probe = [0u8; 1];
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(1), slow_body.read(&mut probe)).await
            {
                let rest = until_closed(&mut slow_body).await;
                return format!("{}{rest}", String::from_utf8_lossy(&probe[..n]));
            }
        }
        until_closed(&mut slow_body).await
    });

    good_requests_are_served(&server).await;
    let (sent, answer) = dripper.await.expect("dripper");
    assert!(
        sent < 400,
        "the connection was never closed ({sent} bytes sent)"
    );
    assert!(answer.is_empty() || answer.contains("408"), "{answer}");
    let answer = body_dripper.await.expect("body dripper");
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("did not arrive within 1.0 s"),
        "{answer}"
    );
    assert!(
        metric(
            &server,
            "landlock_webhook_connections_closed_total{reason=\"request_timeout\"}"
        )
        .await
            >= 1.0
    );
    good_requests_are_served(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_past_the_cap_make_room_for_good_ones_and_kept_alive_ones_stay() {
    let (_ca, _dir, _certs, server) = serving(&["--max-connections", "32"]);

    // One kept-alive connection that completed a request: the API server's, say.
    let mut kept = tls(server.port, &server.ca).await;
    let review = plain_review();
    let ask = |body: &[u8]| {
        let mut out = format!(
            "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    };
    let read_answer = async |stream: &mut TlsStream<TcpStream>| {
        let mut buf = vec![0u8; 64 * 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("answered in time")
            .expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    kept.write_all(&ask(&review)).await.expect("write");
    assert!(read_answer(&mut kept).await.starts_with("HTTP/1.1 200"));

    // 300 idle TCP connections, never a byte: ten times the cap.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(
            TcpStream::connect(("127.0.0.1", server.port))
                .await
                .expect("connect"),
        );
    }
    // New connections are served at the cap, each at the cost of an idle one.
    for _ in 0..5 {
        good_requests_are_served(&server).await;
    }
    // The kept-alive connection was not among those closed.
    kept.write_all(&ask(&review)).await.expect("write");
    assert!(read_answer(&mut kept).await.starts_with("HTTP/1.1 200"));
    let evicted = metric(
        &server,
        "landlock_webhook_connections_closed_total{reason=\"idle_evicted\"}",
    )
    .await;
    assert!(evicted >= 268.0, "{evicted} idle connections closed");
    let open = metric(&server, "landlock_webhook_connections").await;
    assert!(open <= 32.0, "{open} open");
    drop(idle);
}

#[tokio::test(flavor = "multi_thread")]
async fn amplifying_pods_are_denied_naming_the_limit_while_health_is_served() {
    let (_ca, _dir, _certs, server) = serving(&[]);
    let paths: Vec<String> = (0..10_000).map(|n| format!("/data/p{n}")).collect();
    let containers: Vec<Value> = (0..300)
        .map(|n| json!({"name": format!("c{n}"), "image": "x", "command": ["/x"]}))
        .collect();
    let wide = review_of(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "amp", "annotations": {"landlock-injector.io/inject": "true",
            "landlock-injector.io/read": paths.join(",")}},
        "spec": {"containers": containers},
    }));
    let paths: Vec<String> = (0..500).map(|n| format!("/data/p{n}")).collect();
    let containers: Vec<Value> = (0..1000)
        .map(|n| json!({"name": format!("c{n}"), "image": "x", "command": ["/x"]}))
        .collect();
    let repeated = review_of(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "amp2", "annotations": {"landlock-injector.io/inject": "true",
            "landlock-injector.io/read": paths.join(",")}},
        "spec": {"containers": containers},
    }));
    let send = |body: Vec<u8>| {
        let (port, ca) = (server.port, server.ca.clone());
        tokio::spawn(async move {
            request(port, &ca, "POST", "/mutate", "application/json", &body)
                .await
                .expect("review")
        })
    };
    let attacks = [
        send(wide.clone()),
        send(repeated.clone()),
        send(wide),
        send(repeated),
    ];
    good_requests_are_served(&server).await;
    let mut answers = Vec::new();
    for attack in attacks {
        let (status, body, _) = attack.await.expect("attack");
        assert_eq!(status, 200, "{body}");
        let review: Value = serde_json::from_str(&body).expect("an AdmissionReview");
        assert_eq!(review["response"]["allowed"], false, "{body}");
        assert!(
            body.len() < 4096,
            "a short answer, not {} bytes",
            body.len()
        );
        answers.push(
            review["response"]["status"]["message"]
                .as_str()
                .map(str::to_owned),
        );
    }
    let messages: Vec<String> = answers.into_iter().flatten().collect();
    assert!(
        messages[0].contains("annotation \"landlock-injector.io/read\"")
            && messages[0].contains("lists 10000 paths; at most 512 paths per container"),
        "{messages:?}"
    );
    assert!(
        messages[1].contains("more than 1048576 bytes of wrapped commands"),
        "{messages:?}"
    );
    good_requests_are_served(&server).await;
}

#[test]
fn the_descriptor_soft_limit_is_raised_to_the_hard_one() {
    let (_ca, _dir, certs, _first) = serving(&[]);
    // A second server started under a soft limit of 256.
    let ca = Ca::new();
    let (cert, key, _) = ca.leaf(1);
    publish(&certs, "..2026_12_02_00_00_00.1", &cert, &key);
    let script = format!(
        "ulimit -Sn 256 && exec {BIN} --log-format json serve --listen 127.0.0.1:0 --tls-cert {c} --tls-key {k}",
        c = certs.join("tls.crt").display(),
        k = certs.join("tls.key").display()
    );
    let mut child = std::process::Command::new("sh")
        .args(["-c", &script])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("serving HTTPS") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("started");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).expect("limits");
    let _ = child.kill();
    let _ = child.wait();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers.len(), 2, "{line}");
    assert_eq!(numbers[0], numbers[1], "soft = hard: {line}");
    assert_ne!(numbers[0], "256", "{line}");
}

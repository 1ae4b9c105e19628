//! A panic in the review path fails that request only: HTTP 500 and a log line, and the server
//! keeps serving. A review stuck in CPU-bound work gets its 503 at the deadline, while
//! `/healthz` and other reviews are answered. Runs the server's real HTTPS stack (`serve::serve_on`: rustls, the router,
//! the connection handling) in-process with an admission that panics on request.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webhook::serve::metrics::Outcome;
use webhook::serve::{self, Admission, Answer, ServeOptions, self_signed, tls_reload};

/// Panics when the body says so, the way a bug deep in the review path would.
struct PanicsOnRequest;

impl Admission for PanicsOnRequest {
    async fn review(&self, body: Bytes) -> Answer {
        if body.as_ref() == b"panic" {
            panic!("a bug in the review path");
        }
        if body.as_ref() == b"busy" {
            // Large CPU-bound work, where the webhook puts it: off the async workers.
            webhook::offload::blocking(|| std::thread::sleep(Duration::from_secs(5)));
        }
        Answer {
            status: StatusCode::OK,
            body: b"{}".to_vec(),
            outcome: Outcome::Unchanged,
        }
    }
}

/// One request on a new TLS connection: (status, body).
async fn request(port: u16, ca_pem: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(tls_reload::provider())
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.expect("write");
    tls.write_all(body).await.expect("write");
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_in_the_review_fails_only_that_request_with_500() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let generated = self_signed::generate(&[]).expect("certificate");
    let options = ServeOptions {
        listen: listener.local_addr().expect("addr"),
        ..ServeOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve::serve_on(
            listener,
            tls_reload::ReloadingCert::new(generated.certified).expect("certificate"),
            PanicsOnRequest,
            &options,
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    let ca = generated.ca_pem;

    for _ in 0..5 {
        let (status, body) = request(port, &ca, "POST", "/mutate", b"panic").await;
        assert_eq!(status, 500, "{body}");
        assert!(
            body.contains("the webhook failed on this request (a bug, logged)"),
            "{body}"
        );
        let (status, body) = request(port, &ca, "GET", "/healthz", b"").await;
        assert_eq!((status, body.as_str()), (200, "ok\n"));
        let (status, body) = request(port, &ca, "POST", "/mutate", b"{}").await;
        assert_eq!((status, body.as_str()), (200, "{}"));
    }
    let (_, metrics) = request(port, &ca, "GET", "/metrics", b"").await;
    for line in [
        "landlock_webhook_admission_requests_total{outcome=\"error\"} 5",
        "landlock_webhook_admission_requests_total{outcome=\"unchanged\"} 5",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops")
        .expect("the server task did not panic")
        .expect("the server ends cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_stuck_in_cpu_bound_work_gets_503_at_its_deadline_and_others_are_served() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let generated = self_signed::generate(&[]).expect("certificate");
    let options = ServeOptions {
        listen: listener.local_addr().expect("addr"),
        request_timeout: Duration::from_millis(500),
        ..ServeOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve::serve_on(
            listener,
            tls_reload::ReloadingCert::new(generated.certified).expect("certificate"),
            PanicsOnRequest,
            &options,
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    let ca = generated.ca_pem;
    // Two stuck reviews: as many as there are async workers.
    let stuck: Vec<_> = (0..2)
        .map(|_| {
            let ca = ca.clone();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let answer = request(port, &ca, "POST", "/mutate", b"busy").await;
                (answer, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = request(port, &ca, "GET", "/healthz", b"").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = request(port, &ca, "POST", "/mutate", b"{}").await;
    assert_eq!((status, body.as_str()), (200, "{}"));
    for answer in stuck {
        let ((status, body), took) = answer.await.expect("client");
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("took longer than 500ms"), "{body}");
        // Answered at the deadline, not when the work ended (5 s).
        assert!(took < Duration::from_secs(4), "answered after {took:?}");
    }
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), server).await;
}

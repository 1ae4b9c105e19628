//! The load benchmark's floor: the cheapest admission server that can be built from the
//! webhook's own crates (axum on hyper, rustls with ring, serde_json). It parses the body as JSON
//! and answers `allowed` for the request's uid, nothing else, so `webhook/benches/load/run`
//! can say how far the real request path is from what TLS + HTTP + JSON cost anyway.
//!
//! ```text
//! echo-floor cert DIR                  write DIR/tls.crt and DIR/tls.key for localhost
//! echo-floor serve ADDR CERT KEY       serve /mutate on ADDR
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

async fn mutate(body: Bytes) -> impl IntoResponse {
    let uid = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.pointer("/request/uid").cloned())
        .unwrap_or(Value::Null);
    let answer = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                        "response": {"uid": uid, "allowed": true}});
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&answer).unwrap_or_default(),
    )
}

fn cert(dir: &str) -> Result<(), String> {
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    std::fs::write(format!("{dir}/tls.crt"), cert.pem()).map_err(|e| e.to_string())?;
    std::fs::write(format!("{dir}/tls.key"), key.serialize_pem()).map_err(|e| e.to_string())
}

fn serve(addr: &str, cert: &str, key: &str) -> Result<(), String> {
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("{cert}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| e.to_string())?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let app = Router::new().route("/mutate", post(mutate));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            eprintln!("echo-floor serving on {addr}");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, service) = (acceptor.clone(), TowerToHyperService::new(app.clone()));
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    }
                });
            }
        })
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["cert", dir] => cert(dir),
        ["serve", addr, cert, key] => serve(addr, cert, key),
        _ => Err("usage: echo-floor cert DIR | echo-floor serve ADDR CERT KEY".to_owned()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo-floor: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! What the tests of `landlock-webhook serve` share: a CA, kubelet-style certificate
//! directories, the server process, and one HTTPS request.

#![allow(dead_code, missing_docs)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const BIN: &str = env!("CARGO_BIN_EXE_landlock-webhook");
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// A CA that signs serving certificates, one generation at a time.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate.
    pub pem: String,
}

impl Ca {
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "test CA");
        let cert = params.self_signed(&key).expect("CA");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A serving pair for localhost: (cert PEM, key PEM, cert DER).
    pub fn leaf(&self, generation: u32) -> (String, String, Vec<u8>) {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("generation {generation}"));
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }
}

/// Writes a generation into `dir` the way kubelet updates a Secret volume; `payload_dir` may
/// point outside `dir` (to show what the sandbox refuses).
pub fn publish(dir: &Path, payload_dir: &str, cert: &str, key: &str) {
    let payload = dir.join(payload_dir);
    std::fs::create_dir_all(&payload).expect("payload dir");
    std::fs::write(payload.join("tls.crt"), cert).expect("write");
    std::fs::write(payload.join("tls.key"), key).expect("write");
    let _ = std::fs::remove_file(dir.join("..data_tmp"));
    symlink(payload_dir, dir.join("..data_tmp")).expect("symlink");
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap ..data");
    for name in ["tls.crt", "tls.key"] {
        if std::fs::symlink_metadata(dir.join(name)).is_err() {
            symlink(format!("..data/{name}"), dir.join(name)).expect("key symlink");
        }
    }
}

/// A running server.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its port.
    pub port: u16,
    /// The CA its certificate chains to.
    pub ca: String,
    /// Its stderr lines so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(args: &[&str], ca: String) -> Self {
        let mut child = Command::new(BIN)
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn landlock-webhook serve");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v["fields"]["address"].as_str().map(str::to_owned))
                {
                    let _ = tx.send(addr);
                }
                sink.lock().expect("log").push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the server did not start: {:?}", log.lock().expect("log")));
        let port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        Self {
            child,
            port,
            ca,
            log,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTPS request on a new connection: (status, body, served leaf certificate DER).
pub async fn request(
    server_port: u16,
    ca_pem: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server_port)).await?;
    let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    let mut tls = connector.connect(name, tcp).await?;
    let served = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await?;
    // A server may answer (413) before reading a large body; stop writing then.
    let _ = tls.write_all(body).await;
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body, served))
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture")
}

pub fn cert_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("mkdir");
    (dir, certs)
}

pub fn file_args(certs: &Path) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        certs.join("tls.crt").display().to_string(),
        "--tls-key".into(),
        certs.join("tls.key").display().to_string(),
        "--tls-reload-interval".into(),
        "100ms".into(),
        "--registry-timeout".into(),
        "2s".into(),
    ]
}

/// A CA, a kubelet-style certificate directory with generation 1 published, and a server
/// serving from it with `extra` flags.
pub fn serving(extra: &[&str]) -> (Ca, tempfile::TempDir, PathBuf, Server) {
    let ca = Ca::new();
    let (dir, certs) = cert_dir();
    let (cert, key, _) = ca.leaf(1);
    publish(&certs, "..2026_11_23_00_00_00.1", &cert, &key);
    let mut flags = file_args(&certs);
    flags.extend(extra.iter().map(|s| (*s).to_owned()));
    let server = Server::start(&args(&flags), ca.pem.clone());
    (ca, dir, certs, server)
}

pub fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

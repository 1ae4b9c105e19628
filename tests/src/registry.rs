//! A real image registry on loopback for tests: Debian's `docker-registry` (distribution 2.8)
//! over HTTPS with a CA made for the test, optionally behind htpasswd basic auth, plus a way to
//! push a small image with a given ENTRYPOINT and CMD (or any configuration blob) using
//! `oci-client`. And [`FakeRegistry`], for the answers a real registry never gives (a token
//! server handing out a broken token, a server that never answers, bodies without end), over
//! plain HTTP or HTTPS, counting what it served and how many requests it held at once.
//!
//! ```no_run
//! # async fn demo() {
//! use landlock_tests::registry::TestRegistry;
//! let registry = TestRegistry::start(Some(("alice", "s3cret"))).expect("registry");
//! registry.push("app:1", &["/entry"], &["serve"]).await.expect("push");
//! // registry.host() is "127.0.0.1:PORT"; trust registry.ca_file().
//! # }
//! ```

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

/// Where Debian installs the registry.
pub const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";

/// Why the registry could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The binary is missing.
    #[error("{DOCKER_REGISTRY} not found: install the Debian package docker-registry")]
    Missing,
    /// Setting up files or the process failed.
    #[error("cannot start docker-registry: {0}")]
    Start(String),
    /// The registry refused a push.
    #[error("push {reference}: {message}")]
    Push {
        /// The image.
        reference: String,
        /// What oci-client said.
        message: String,
    },
}

/// Writes a CA made for the test (`ca.pem`) and a certificate it signed for 127.0.0.1 and
/// localhost (`cert.pem`, `key.pem`) into `dir`.
fn write_certificates(dir: &Path) -> Result<(), RegistryError> {
    let ca_key = rcgen::KeyPair::generate().map_err(start_error)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(start_error)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).map_err(start_error)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().map_err(start_error)?;
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(start_error)?
        .signed_by(&key, &issuer)
        .map_err(start_error)?;
    for (name, data) in [
        ("ca.pem", ca.pem()),
        ("cert.pem", leaf.pem()),
        ("key.pem", key.serialize_pem()),
    ] {
        std::fs::write(dir.join(name), data).map_err(start_error)?;
    }
    Ok(())
}

/// A running registry; stopped and removed on drop.
pub struct TestRegistry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    auth: Option<(String, String)>,
}

fn start_error(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Start(e.to_string())
}

impl TestRegistry {
    /// Starts a registry; with `auth`, only that user may pull or push.
    pub fn start(auth: Option<(&str, &str)>) -> Result<Self, RegistryError> {
        if !Path::new(DOCKER_REGISTRY).exists() {
            return Err(RegistryError::Missing);
        }
        let dir = tempfile::tempdir().map_err(start_error)?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(start_error)?
            .port();

        write_certificates(dir.path())?;
        let write = |name: &str, data: &str| {
            std::fs::write(dir.path().join(name), data).map_err(start_error)
        };

        let root = dir.path().display();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n\
             http:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {root}/cert.pem\n    key: {root}/key.pem\n"
        );
        if let Some((user, password)) = auth {
            let hash = bcrypt::hash(password, 4).map_err(start_error)?;
            write("htpasswd", &format!("{user}:{hash}\n"))?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {root}/htpasswd\n"
            ));
        }
        write("config.yml", &config)?;
        let child = Command::new(DOCKER_REGISTRY)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(start_error)?;
        let registry = Self {
            child,
            dir,
            port,
            auth: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(RegistryError::Start(format!(
                    "nothing listens on port {port} after 15s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(registry)
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The CA certificate (PEM) that signed the registry's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Pushes `name` (e.g. `app:1`) with one small layer and this ENTRYPOINT and CMD.
    pub async fn push(
        &self,
        name: &str,
        entrypoint: &[&str],
        cmd: &[&str],
    ) -> Result<String, RegistryError> {
        let config_json = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Entrypoint": entrypoint, "Cmd": cmd},
            "rootfs": {"type": "layers", "diff_ids": []},
        });
        self.push_config(name, config_json.to_string().into_bytes())
            .await
    }

    /// Pushes `name` with one small layer and `config` as its configuration blob, whatever it
    /// holds (the registry does not look inside).
    pub async fn push_config(&self, name: &str, config: Vec<u8>) -> Result<String, RegistryError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let reference_text = format!("{}/{name}", self.host());
        let fail = |message: String| RegistryError::Push {
            reference: reference_text.clone(),
            message,
        };
        let reference =
            Reference::try_from(reference_text.as_str()).map_err(|e| fail(e.to_string()))?;
        let ca = std::fs::read(self.ca_file()).map_err(|e| fail(e.to_string()))?;
        let client = Client::new(ClientConfig {
            extra_root_certificates: vec![Certificate {
                encoding: CertificateEncoding::Pem,
                data: ca,
            }],
            ..ClientConfig::default()
        });
        let layer = ImageLayer::new(
            format!("layer of {name}").into_bytes(),
            "application/vnd.oci.image.layer.v1.tar".to_owned(),
            None,
        );
        let config = Config::new(
            config,
            "application/vnd.oci.image.config.v1+json".to_owned(),
            None,
        );
        let auth = self
            .auth
            .as_ref()
            .map_or(RegistryAuth::Anonymous, |(u, p)| {
                RegistryAuth::Basic(u.clone(), p.clone())
            });
        client
            .push(&reference, &[layer], config, &auth, None)
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(reference_text)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a [`FakeRegistry`] does with one request.
#[derive(Debug, Clone)]
pub enum FakeAnswer {
    /// Answer with this status, extra header lines (`Name: value`) and body.
    Reply {
        /// The HTTP status code.
        status: u16,
        /// Extra header lines.
        headers: Vec<String>,
        /// The body.
        body: Vec<u8>,
    },
    /// A 200 whose body is `bytes` spaces (valid JSON whitespace), or spaces without end
    /// when `None`: announced as `content_length` when given (which may lie), else sent
    /// chunked. Stops when the client stops reading.
    Flood {
        /// The `Content-Length` header, if any.
        content_length: Option<u64>,
        /// How many bytes to send; `None`: until the client hangs up.
        bytes: Option<u64>,
    },
    /// Never answer: the connection is held until the client hangs up or the fake is dropped
    /// (counted in [`FakeRegistry::most_held`] meanwhile).
    Silence,
}

/// A plain-HTTP or HTTPS server on a listener the test made, answering each request by its
/// path with a function of the test's: what no real registry answers, for the webhook's error
/// paths. Reach it with `--insecure-registry`, or trust [`FakeRegistry::ca_file`]. Stops on
/// drop.
pub struct FakeRegistry {
    port: u16,
    state: std::sync::Arc<FakeState>,
    /// The CA of an HTTPS fake.
    certificates: Option<tempfile::TempDir>,
}

/// What the fake's threads share.
#[derive(Default)]
struct FakeState {
    stop: std::sync::atomic::AtomicBool,
    /// Connections held by [`FakeAnswer::Silence`], shut down on drop.
    held: std::sync::Mutex<Vec<std::net::TcpStream>>,
    /// Body bytes the clients accepted.
    served: std::sync::atomic::AtomicU64,
    /// Requests being held now, and the most held at once.
    holding: std::sync::atomic::AtomicUsize,
    most_held: std::sync::atomic::AtomicUsize,
}

type Answers = dyn Fn(&str) -> FakeAnswer + Send + Sync;

/// A connection as the fake reads and writes it: plain or TLS.
trait Connection: Read + Write {}
impl<T: Read + Write> Connection for T {}

impl FakeRegistry {
    /// Serves `answer(path)` over plain HTTP on a new listener on 127.0.0.1.
    pub fn start(
        answer: impl Fn(&str) -> FakeAnswer + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        Self::serve(TcpListener::bind("127.0.0.1:0")?, answer)
    }

    /// Serves `answer(path)` over HTTPS on a new listener on 127.0.0.1, with a certificate
    /// for 127.0.0.1 from a CA made for it ([`FakeRegistry::ca_file`]).
    pub fn start_tls(
        answer: impl Fn(&str) -> FakeAnswer + Send + Sync + 'static,
    ) -> Result<Self, RegistryError> {
        Self::serve_tls(
            TcpListener::bind("127.0.0.1:0").map_err(start_error)?,
            answer,
        )
    }

    /// As [`FakeRegistry::start_tls`], on `listener` (on 127.0.0.1: an answer may name its
    /// own address).
    pub fn serve_tls(
        listener: TcpListener,
        answer: impl Fn(&str) -> FakeAnswer + Send + Sync + 'static,
    ) -> Result<Self, RegistryError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().map_err(start_error)?;
        write_certificates(dir.path())?;
        let read = |name: &str| std::fs::read(dir.path().join(name)).map_err(start_error);
        let chain = rustls::pki_types::pem::PemObject::pem_slice_iter(&read("cert.pem")?)
            .collect::<Result<Vec<rustls::pki_types::CertificateDer<'static>>, _>>()
            .map_err(start_error)?;
        let key: rustls::pki_types::PrivateKeyDer<'static> =
            rustls::pki_types::pem::PemObject::from_pem_slice(&read("key.pem")?)
                .map_err(start_error)?;
        let config = std::sync::Arc::new(
            rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(start_error)?,
        );
        let mut fake = Self::listen(listener, answer, Some(config)).map_err(start_error)?;
        fake.certificates = Some(dir);
        Ok(fake)
    }

    /// Serves `answer(path)` over plain HTTP on `listener` (which may belong to another network
    /// namespace).
    pub fn serve(
        listener: TcpListener,
        answer: impl Fn(&str) -> FakeAnswer + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        Self::listen(listener, answer, None)
    }

    fn listen(
        listener: TcpListener,
        answer: impl Fn(&str) -> FakeAnswer + Send + Sync + 'static,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let state = std::sync::Arc::new(FakeState::default());
        let answer: std::sync::Arc<Answers> = std::sync::Arc::new(answer);
        let shared = state.clone();
        std::thread::spawn(move || {
            while !shared.stop.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (answer, state, tls) = (answer.clone(), shared.clone(), tls.clone());
                        std::thread::spawn(move || Self::accepted(stream, &*answer, &state, tls));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(Self {
            port,
            state,
            certificates: None,
        })
    }

    fn accepted(
        stream: std::net::TcpStream,
        answer: &Answers,
        state: &FakeState,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let Ok(raw) = stream.try_clone() else {
            return;
        };
        match tls.map(rustls::ServerConnection::new) {
            None => Self::connection(stream, raw, answer, state),
            Some(Ok(server)) => {
                Self::connection(rustls::StreamOwned::new(server, stream), raw, answer, state);
            }
            Some(Err(_)) => {}
        }
    }

    /// Answers the requests of one keep-alive connection; `raw` is its socket.
    fn connection(
        mut stream: impl Connection,
        raw: std::net::TcpStream,
        answer: &Answers,
        state: &FakeState,
    ) {
        let mut buffer = Vec::new();
        let mut chunk = [0_u8; 4096];
        loop {
            let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
                continue;
            };
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            buffer.drain(..end + 4);
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let sent = match answer(&path) {
                FakeAnswer::Silence => return Self::hold(stream, raw, state),
                FakeAnswer::Reply {
                    status,
                    headers,
                    body,
                } => {
                    let mut reply = format!(
                        "HTTP/1.1 {status} Fake\r\nContent-Length: {}\r\n",
                        body.len()
                    );
                    for header in headers {
                        reply.push_str(&header);
                        reply.push_str("\r\n");
                    }
                    reply.push_str("\r\n");
                    stream
                        .write_all(reply.as_bytes())
                        .and_then(|()| stream.write_all(&body))
                        .and_then(|()| stream.flush())
                        .map(|()| body.len() as u64)
                }
                FakeAnswer::Flood {
                    content_length,
                    bytes,
                } => Self::flood(&mut stream, content_length, bytes, state),
            };
            match sent {
                Ok(n) => {
                    state
                        .served
                        .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                }
                Err(_) => return,
            }
        }
    }

    /// Sends a [`FakeAnswer::Flood`]; counts what the client took even when it hangs up.
    fn flood(
        stream: &mut impl Connection,
        content_length: Option<u64>,
        bytes: Option<u64>,
        state: &FakeState,
    ) -> std::io::Result<u64> {
        let framing = content_length.map_or_else(
            || "Transfer-Encoding: chunked".to_owned(),
            |length| format!("Content-Length: {length}"),
        );
        stream.write_all(
            format!("HTTP/1.1 200 Fake\r\nContent-Type: application/json\r\n{framing}\r\n\r\n")
                .as_bytes(),
        )?;
        const PIECE: usize = 64 * 1024;
        let spaces = [b' '; PIECE];
        let mut left = bytes.unwrap_or(u64::MAX);
        while left > 0 {
            let n = usize::try_from(left.min(PIECE as u64)).unwrap_or(PIECE);
            let piece = &spaces[..n];
            let written = if content_length.is_some() {
                stream.write_all(piece)
            } else {
                stream
                    .write_all(format!("{n:x}\r\n").as_bytes())
                    .and_then(|()| stream.write_all(piece))
                    .and_then(|()| stream.write_all(b"\r\n"))
            };
            written.and_then(|()| stream.flush())?;
            state
                .served
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            left -= n as u64;
        }
        if content_length.is_none() {
            stream.write_all(b"0\r\n\r\n")?;
        }
        stream.flush()?;
        Ok(0)
    }

    /// Holds a request unanswered until the client hangs up (or the fake is dropped).
    fn hold(mut stream: impl Connection, raw: std::net::TcpStream, state: &FakeState) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Ok(clone) = raw.try_clone() {
            state
                .held
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(clone);
        }
        let now = state.holding.fetch_add(1, Relaxed) + 1;
        state.most_held.fetch_max(now, Relaxed);
        let mut sink = [0_u8; 512];
        loop {
            match stream.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) && !state.stop.load(Relaxed) => {}
                Err(_) => break,
            }
        }
        state.holding.fetch_sub(1, Relaxed);
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The CA certificate (PEM) of an HTTPS fake ([`FakeRegistry::start_tls`]).
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.certificates.as_ref().map(|d| d.path().join("ca.pem"))
    }

    /// Body bytes the clients took so far (a flood counts up to where the client stopped).
    pub fn served(&self) -> u64 {
        self.state.served.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most requests held unanswered at the same time so far.
    pub fn most_held(&self) -> usize {
        self.state
            .most_held
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.state
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        for stream in self
            .state
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// A registry whose token server hands out a token with a newline in it (a header cannot carry
/// one): what oci-client used to `unwrap` into a panic.
pub fn broken_token_answers(host: String) -> impl Fn(&str) -> FakeAnswer + Send + Sync + 'static {
    move |path: &str| {
        if path == "/v2/" {
            FakeAnswer::Reply {
                status: 401,
                headers: vec![format!(
                    "WWW-Authenticate: Bearer realm=\"http://{host}/token\",service=\"fake\""
                )],
                body: Vec::new(),
            }
        } else if path.starts_with("/token") {
            FakeAnswer::Reply {
                status: 200,
                headers: vec!["Content-Type: application/json".to_owned()],
                body: br#"{"token": "forged\nX-Injected: yes"}"#.to_vec(),
            }
        } else {
            FakeAnswer::Reply {
                status: 404,
                headers: Vec::new(),
                body: Vec::new(),
            }
        }
    }
}

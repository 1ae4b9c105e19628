//! A real image registry on loopback for tests: Debian's `docker-registry` (distribution 2.8)
//! over HTTPS with a CA made for the test, optionally behind htpasswd basic auth, plus a way to
//! push a small image with a given ENTRYPOINT and CMD (or any configuration blob) using
//! `oci-client`. And [`FakeRegistry`], for the answers a real registry never gives (a token
//! server handing out a broken token, a server that never answers).
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

        let ca_key = rcgen::KeyPair::generate().map_err(start_error)?;
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(start_error)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).map_err(start_error)?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().map_err(start_error)?;
        let leaf =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(start_error)?
                .signed_by(&key, &issuer)
                .map_err(start_error)?;
        let write = |name: &str, data: &str| {
            std::fs::write(dir.path().join(name), data).map_err(start_error)
        };
        write("ca.pem", &ca.pem())?;
        write("cert.pem", &leaf.pem())?;
        write("key.pem", &key.serialize_pem())?;

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
    /// Never answer (the connection stays open until the fake is dropped).
    Silence,
}

/// A plain-HTTP server on a listener the test made, answering each request by its path with a
/// function of the test's: what no real registry answers, for the webhook's error paths. Reach
/// it with `--insecure-registry`. Stops on drop.
pub struct FakeRegistry {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    held: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

type Answers = dyn Fn(&str) -> FakeAnswer + Send + Sync;

impl FakeRegistry {
    /// Serves `answer(path)` on a new listener on 127.0.0.1.
    pub fn start(
        answer: impl Fn(&str) -> FakeAnswer + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        Self::serve(TcpListener::bind("127.0.0.1:0")?, answer)
    }

    /// Serves `answer(path)` on `listener` (which may belong to another network namespace).
    pub fn serve(
        listener: TcpListener,
        answer: impl Fn(&str) -> FakeAnswer + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let answer: std::sync::Arc<Answers> = std::sync::Arc::new(answer);
        let (stop_flag, held_streams) = (stop.clone(), held.clone());
        std::thread::spawn(move || {
            while !stop_flag.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let answer = answer.clone();
                        let held = held_streams.clone();
                        std::thread::spawn(move || Self::connection(stream, &*answer, &held));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(Self { port, stop, held })
    }

    /// Answers the requests of one keep-alive connection.
    fn connection(
        mut stream: std::net::TcpStream,
        answer: &Answers,
        held: &std::sync::Mutex<Vec<std::net::TcpStream>>,
    ) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
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
            match answer(&path) {
                FakeAnswer::Silence => {
                    if let Ok(clone) = stream.try_clone() {
                        held.lock().unwrap_or_else(|p| p.into_inner()).push(clone);
                    }
                    return;
                }
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
                    let mut bytes = reply.into_bytes();
                    bytes.extend_from_slice(&body);
                    if stream.write_all(&bytes).is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for stream in self
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

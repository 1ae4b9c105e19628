//! `landlock-webhook serve`: HTTPS with a certificate that reloads itself, the admission
//! endpoint, health and metrics, graceful shutdown, and a Landlock sandbox around it all.
//!
//! | module | decides |
//! |---|---|
//! | [`tls_reload`] | which certificate new handshakes get, reloaded from disk |
//! | [`self_signed`] | the certificate used when none is configured |
//! | [`self_sandbox`] | what the server may still touch once it is running |
//! | [`routes`] | the HTTP endpoints |
//! | [`connections`] | accepting TLS connections, timeouts, draining on shutdown |
//! | [`metrics`] | the Prometheus counters |

pub mod connections;
pub mod metrics;
pub mod routes;
pub mod self_sandbox;
pub mod self_signed;
pub mod tls_reload;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::ResolvesServerCert;

pub use routes::{Admission, Answer};

/// Where the serving certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// PEM files, reloaded when they change.
    Files(tls_reload::CertFiles),
    /// Generated at start; the CA bundle is written to `ca_out`.
    SelfSigned {
        /// Where to write the CA bundle.
        ca_out: PathBuf,
        /// Extra subject alternative names besides localhost, 127.0.0.1 and ::1.
        names: Vec<String>,
    },
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The certificate.
    pub tls: TlsSource,
    /// Largest accepted `/mutate` body in bytes.
    pub body_limit: usize,
    /// Longest a review may take.
    pub request_timeout: Duration,
    /// Longest a TLS handshake or a request's headers may take, and longest an idle
    /// keep-alive connection is kept.
    pub io_timeout: Duration,
    /// How often certificate files are checked for changes.
    pub reload_interval: Duration,
    /// How long in-flight requests get to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// Whether the server sandboxes itself (strongly recommended).
    pub self_sandbox: bool,
    /// Further files the admission logic reads after start (registry CA files, ...).
    pub reads: Vec<PathBuf>,
}

impl ServeOptions {
    /// Defaults for everything but the address and the certificate.
    pub fn new(listen: SocketAddr, tls: TlsSource) -> Self {
        Self {
            listen,
            tls,
            body_limit: 3 * 1024 * 1024,
            request_timeout: Duration::from_secs(9),
            io_timeout: Duration::from_secs(30),
            reload_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(20),
            self_sandbox: true,
            reads: Vec::new(),
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The certificate files are unusable.
    #[error("serving certificate: {0}")]
    Tls(#[from] tls_reload::TlsError),
    /// The self-signed certificate could not be made.
    #[error(transparent)]
    SelfSigned(#[from] self_signed::SelfSignedError),
    /// The sandbox could not be applied.
    #[error("self-sandbox: {0} (use --no-self-sandbox to run without one, not recommended)")]
    Sandbox(#[from] self_sandbox::SelfSandboxError),
    /// The runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The admission logic could not be set up.
    #[error("{0}")]
    Admission(String),
}

/// Runs the server until SIGTERM or SIGINT. `admission` is built after the sandbox is applied,
/// inside the runtime, so anything it reads at start must be listed in `options.reads`.
///
/// Order matters: bind and generate certificates first (they need the filesystem and a
/// privileged bind may need capabilities), then sandbox the main thread, then start the runtime,
/// whose threads inherit the sandbox (Landlock restricts the calling thread and its future
/// children only).
pub fn run<A, F, E>(options: ServeOptions, make_admission: F) -> Result<(), ServeError>
where
    A: Admission,
    F: FnOnce() -> Result<A, E>,
    E: std::fmt::Display,
{
    let listener =
        std::net::TcpListener::bind(options.listen).map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: options.listen,
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;

    let generated = match &options.tls {
        TlsSource::SelfSigned { ca_out, names } => {
            let generated = self_signed::generate(names)?;
            self_signed::write_ca(ca_out, &generated.ca_pem)?;
            tracing::info!(ca_bundle = %ca_out.display(), "no --tls-cert given: serving a self-signed certificate; trust the CA bundle written to {}", ca_out.display());
            Some(generated.certified)
        }
        TlsSource::Files(_) => None,
    };

    // Tokio sizes its pool from available_parallelism, which reads the cgroup's CPU quota
    // (cpu.max): ask now, while those files are still readable, so the sandbox need not grant
    // them and a CPU-limited pod does not get a thread per node CPU.
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);

    if options.self_sandbox {
        let cert_dirs = match &options.tls {
            TlsSource::Files(files) => [&files.cert, &files.key]
                .iter()
                .map(|p| {
                    p.parent()
                        .filter(|d| !d.as_os_str().is_empty())
                        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf)
                })
                .collect(),
            TlsSource::SelfSigned { .. } => Vec::new(),
        };
        let needs = self_sandbox::Needs {
            cert_dirs,
            reads: options.reads.clone(),
            listen_port: local.port(),
        };
        let (outcome, line) = self_sandbox::apply(&needs)?;
        eprintln!("{line}");
        tracing::info!(outcome = outcome.name(), "self-sandbox applied");
    } else {
        tracing::warn!(
            "--no-self-sandbox: the webhook runs WITHOUT its Landlock sandbox (not recommended)"
        );
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        let (resolver, reload_task): (Arc<dyn ResolvesServerCert>, _) =
            match (&options.tls, generated) {
                (TlsSource::Files(files), _) => {
                    let (resolver, task) =
                        tls_reload::watch(files.clone(), options.reload_interval)?;
                    (resolver, Some(task))
                }
                (TlsSource::SelfSigned { .. }, Some(certified)) => {
                    (tls_reload::ReloadingCert::new(certified), None)
                }
                (TlsSource::SelfSigned { .. }, None) => {
                    return Err(ServeError::Admission(
                        "self-signed certificate missing".to_owned(),
                    ));
                }
            };
        let admission = make_admission().map_err(|e| ServeError::Admission(e.to_string()))?;
        let served = serve_on(listener, resolver, admission, &options, shutdown_signal()).await;
        if let Some(task) = reload_task {
            task.abort();
        }
        served
    })
}

/// Serves `admission` over HTTPS on `listener` (bound, non-blocking) with the certificate
/// `resolver` gives, until `shutdown` resolves, then drains: everything [`run`] does once the
/// process is set up (no sandbox, no signals), so tests can run the real stack in-process.
pub async fn serve_on<A: Admission>(
    listener: std::net::TcpListener,
    resolver: Arc<dyn ResolvesServerCert>,
    admission: A,
    options: &ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let mut tls = ServerConfig::builder_with_provider(tls_reload::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Admission(format!("TLS configuration: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];

    let draining = Arc::new(AtomicBool::new(false));
    let mut metrics = metrics::Metrics::default();
    admission.register_metrics(metrics.registry_mut());
    let state = Arc::new(routes::AppState {
        admission,
        metrics: Arc::new(metrics),
        draining: draining.clone(),
        request_timeout: options.request_timeout,
    });
    let app = routes::router(state, options.body_limit);
    let bind_error = |source| ServeError::Bind {
        addr: options.listen,
        source,
    };
    let local = listener.local_addr().map_err(bind_error)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_error)?;
    tracing::info!(address = %local, "landlock-webhook serving HTTPS");
    connections::serve(
        listener,
        Arc::new(tls),
        app,
        connections::Timeouts {
            io: options.io_timeout,
            grace: options.shutdown_grace,
        },
        draining,
        shutdown,
    )
    .await;
    tracing::info!("landlock-webhook stopped");
    Ok(())
}

/// Resolves on SIGTERM (what kubelet sends) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = int.recv() => tracing::info!("SIGINT: draining"),
    }
}

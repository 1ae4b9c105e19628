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
//! | [`connection_table`] | how many connections may be open, and which idle one closes at the cap |
//! | [`request_body`] | reading a body whole by its deadline, within its size limit |
//! | [`descriptors`] | the descriptor limit the server runs with |
//! | [`metrics`] | the Prometheus counters |
//! | [`certificate_metrics`] | the serving certificate's reload count and expiry |

pub mod certificate_metrics;
pub mod connection_table;
pub mod connections;
pub mod descriptors;
pub mod metrics;
pub mod request_body;
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

/// How to serve: the `serve` flags. The defaults are defined once, in the clap attributes
/// ([`ServeOptions::default`] parses an empty command line); the fields without a flag are
/// `skip`ped with their value.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeOptions {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Serving certificate chain (PEM), reloaded when it changes; with --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Serving key (PEM); with --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Without --tls-cert: where to write the generated CA bundle.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("landlock-webhook-ca.pem"))]
    pub ca_out: PathBuf,
    /// Without --tls-cert: extra DNS name or IP for the generated certificate; repeatable.
    #[arg(long = "tls-san")]
    pub tls_san: Vec<String>,
    /// Largest accepted AdmissionReview body.
    #[arg(long = "max-body-bytes", default_value_t = 3 * 1024 * 1024)]
    pub body_limit: usize,
    /// How often the certificate files are checked for changes.
    #[arg(long = "tls-reload-interval", default_value = "1s", value_parser = humantime::parse_duration)]
    pub reload_interval: Duration,
    /// Run without the server's own Landlock sandbox (not recommended).
    #[arg(long = "no-self-sandbox", action = clap::ArgAction::SetFalse)]
    pub self_sandbox: bool,
    /// Most client connections open at once; at the cap the longest-idle one is closed to make
    /// room (one that never completed a request first), and a new one is refused only when every
    /// connection has a request in flight.
    #[arg(long = "max-connections", default_value_t = 2048)]
    pub max_connections: usize,
    /// Longest a TLS handshake may take, and a request from its first byte to its last (the API
    /// server sends each AdmissionReview whole).
    #[arg(long = "read-timeout", default_value = "5s", value_parser = humantime::parse_duration)]
    pub read_timeout: Duration,
    /// Longest a connection is kept while it waits for its next request.
    #[arg(long = "idle-timeout", default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// Write each LandlockPolicy's status: its running pods, and those admitted with an older
    /// generation (needs list/watch on pods and patch on landlockpolicies/status).
    #[arg(long = "policy-status")]
    pub policy_status: bool,
    /// Run the LandlockRecording controller: follow the logs of the pods a recording admitted
    /// in learn mode and write its LandlockPolicy when it ends (needs get on pods/log,
    /// list/watch on pods, patch on landlockrecordings and their status, create/patch on
    /// landlockpolicies).
    #[arg(long = "recordings")]
    pub recordings: bool,
    /// Longest a review may take.
    #[arg(skip = Duration::from_secs(9))]
    pub request_timeout: Duration,
    /// How long in-flight requests get to finish after SIGTERM.
    #[arg(skip = Duration::from_secs(20))]
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        crate::admission::config::defaults()
    }
}

impl ServeOptions {
    /// Where the serving certificate comes from: the `--tls-cert`/`--tls-key` files, else a
    /// generated one.
    pub fn tls(&self) -> TlsSource {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => TlsSource::Files(tls_reload::CertFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => TlsSource::SelfSigned {
                ca_out: self.ca_out.clone(),
                names: self.tls_san.clone(),
            },
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
/// inside the runtime, so whatever it needs from disk must be read before (as `serve` reads the
/// registry CAs and the resolver configuration).
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
    // Descriptors first: every connection holds one, and the soft limit is often far below
    // the hard one.
    let mut options = options;
    match descriptors::raise_to_hard_limit() {
        Ok(limit) => {
            let fits = descriptors::connections_that_fit(limit);
            if options.max_connections > fits {
                tracing::warn!(
                    descriptors = limit,
                    max_connections = fits,
                    "--max-connections {} does not fit the descriptor limit {limit}; at most {fits} connections are kept open",
                    options.max_connections
                );
                options.max_connections = fits;
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot read or raise the descriptor limit"),
    }
    let listener = bind(options.listen)?;
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

    let tls = options.tls();
    let generated = match &tls {
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
        let cert_dirs = match &tls {
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
        let (resolver, reload_task) = match (&tls, generated) {
            (TlsSource::Files(files), _) => {
                let (resolver, task) = tls_reload::watch(files.clone(), options.reload_interval)?;
                (resolver, Some(task))
            }
            (TlsSource::SelfSigned { .. }, Some(certified)) => {
                (tls_reload::ReloadingCert::new(certified)?, None)
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
    resolver: Arc<tls_reload::ReloadingCert>,
    admission: A,
    options: &ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let mut metrics = metrics::Metrics::default();
    resolver.metrics().register(metrics.registry_mut());
    let mut tls = ServerConfig::builder_with_provider(tls_reload::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Admission(format!("TLS configuration: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];

    let draining = Arc::new(AtomicBool::new(false));
    admission.register_metrics(metrics.registry_mut());
    let table = connection_table::ConnectionTable::new(options.max_connections);
    table.register_metrics(metrics.registry_mut());
    let state = Arc::new(routes::AppState {
        admission,
        metrics: Arc::new(metrics),
        draining: draining.clone(),
        request_timeout: options.request_timeout,
        body_limit: options.body_limit,
        read_timeout: options.read_timeout,
    });
    let app = routes::router(state);
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
        connections::Limits {
            max_connections: options.max_connections,
            read_timeout: options.read_timeout,
            idle_timeout: options.idle_timeout,
            grace: options.shutdown_grace,
        },
        table,
        draining,
        shutdown,
    )
    .await;
    tracing::info!("landlock-webhook stopped");
    Ok(())
}

/// The kernel's queue of connections not accepted yet: std's 128 overflowed under a burst of
/// connections, and the API server's SYNs were then dropped and retried a second later. The
/// kernel caps it at `net.core.somaxconn` (4096 by default).
const LISTEN_BACKLOG: i32 = 4096;

/// A non-blocking listener on `addr` with [`LISTEN_BACKLOG`].
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ServeError> {
    let fail = |source| ServeError::Bind { addr, source };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(fail)?;
    socket.set_reuse_address(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(LISTEN_BACKLOG).map_err(fail)?;
    Ok(socket.into())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> ServeOptions {
        crate::admission::config::from_args(args).expect("parses")
    }

    #[test]
    fn the_serve_flags_are_the_options_and_define_their_defaults_once() {
        let defaults = ServeOptions::default();
        assert_eq!(defaults.listen, "0.0.0.0:8443".parse().expect("address"));
        assert_eq!(defaults.body_limit, 3 * 1024 * 1024);
        assert_eq!(defaults.reload_interval, Duration::from_secs(1));
        assert!(defaults.self_sandbox);
        assert_eq!(
            (
                defaults.request_timeout,
                defaults.read_timeout,
                defaults.idle_timeout,
                defaults.shutdown_grace
            ),
            (
                Duration::from_secs(9),
                Duration::from_secs(5),
                Duration::from_secs(60),
                Duration::from_secs(20)
            )
        );
        assert_eq!(defaults.max_connections, 2048);
        assert!(matches!(defaults.tls(), TlsSource::SelfSigned { .. }));

        let set = parse(&[
            "--max-body-bytes=1024",
            "--tls-reload-interval=5s",
            "--no-self-sandbox",
            "--tls-cert=/certs/tls.crt",
            "--tls-key=/certs/tls.key",
        ]);
        assert_eq!(
            (set.body_limit, set.reload_interval, set.self_sandbox),
            (1024, Duration::from_secs(5), false)
        );
        match set.tls() {
            TlsSource::Files(files) => assert_eq!(
                (files.cert, files.key),
                (
                    PathBuf::from("/certs/tls.crt"),
                    PathBuf::from("/certs/tls.key")
                )
            ),
            other => panic!("{other:?}"),
        }
    }
}

//! Reading an image's ENTRYPOINT and CMD from its registry with `oci-client`, for containers
//! whose spec has no `command`.
//!
//! Credentials come from the pod's pull secrets ([`pull_secrets`]); results are cached
//! ([`cache`]); registry TLS trusts compiled-in roots plus `--registry-ca` ([`trust`]); the whole
//! lookup has a time budget well under the API server's webhook timeout, so a slow registry
//! produces a clear denial instead of a timed-out admission. Every failure, including a panic
//! inside the registry client, comes back as the cause of a denial, never as a dead process.

pub mod cache;
pub mod cluster_secrets;
pub mod pull_secrets;
pub mod trust;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use oci_client::client::{Certificate, ClientConfig, ClientProtocol};
use oci_client::manifest::ImageIndexEntry;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Deserialize;

use crate::entrypoint::ImageConfig;
use crate::panic_guard;
use crate::resolve::ImageResolver;
use cache::Cache;
use pull_secrets::PullSecrets;

// hickory (the registry client's DNS resolver) draws its query ids from rand's ThreadRng, which
// asks getrandom 0.4 for its seed. getrandom finds the getrandom(2) wrapper through dlsym, which
// a static glibc binary does not have, and then falls back to polling /dev/random and reading
// /dev/urandom: the self-sandbox denies both (and a FROM scratch image may lack them), and rand
// panics. The static build therefore selects the syscall backend; this makes forgetting it a
// build error instead of a crash on the first registry lookup.
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    target_feature = "crt-static",
    not(getrandom_backend = "linux_getrandom")
))]
compile_error!(
    "static builds of the webhook need RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\"' (see the README, *Static build*)"
);

/// How to reach registries. The defaults are defined once, in the clap attributes.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryOptions {
    /// Time budget of one image lookup, authentication included (e.g. 4s, 500ms).
    #[arg(long = "registry-timeout", value_name = "DURATION", default_value = "4s", value_parser = humantime::parse_duration)]
    pub budget: Duration,
    /// Extra CA certificate (PEM) for registries with a private CA; repeatable.
    #[arg(long = "registry-ca")]
    pub extra_roots: Vec<PathBuf>,
    /// Registry reached over plain HTTP (host or host:port); repeatable.
    #[arg(long = "insecure-registry")]
    pub insecure: Vec<String>,
    /// Platform picked from multi-platform images, os/arch.
    #[arg(long, default_value = "linux/amd64")]
    pub platform: String,
    /// Image references kept in the lookup cache.
    #[arg(long = "image-cache-size", value_name = "N", default_value_t = 512)]
    pub cache_size: usize,
    /// How long a tag → digest resolution is trusted.
    #[arg(long = "image-cache-ttl", value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub cache_ttl: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        crate::config::defaults()
    }
}

/// Why the registry client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RegistrySetupError {
    /// A `--registry-ca` file is unusable.
    #[error(transparent)]
    Trust(#[from] trust::TrustError),
    /// The platform is not `os/arch`.
    #[error("--platform {0:?}: expected os/arch, e.g. linux/amd64")]
    Platform(String),
    /// The HTTP client cannot be built with these options.
    #[error("cannot set up the registry client: {0}")]
    Client(String),
}

/// The longest cause a denial quotes: registries answer errors with whole HTML pages.
const MAX_CAUSE_CHARS: usize = 600;

/// `err` and its sources, `: `-separated, each said once (many errors repeat their source in
/// their own message), without control characters and cut to a length a denial can carry.
pub fn causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    quote(&text)
}

/// `text` as a denial may quote it: control characters blanked, cut to [`MAX_CAUSE_CHARS`].
fn quote(text: &str) -> String {
    let mut clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_CAUSE_CHARS)
        .collect();
    if text.chars().count() > MAX_CAUSE_CHARS {
        clean.push('…');
    }
    clean
}

/// Lookup counters for `/metrics`: prometheus-client counters the server registers once
/// ([`Counters::register`]).
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Lookups by result: `resolved` (answered by the registry), `failed`.
    pub lookups: Family<[(&'static str, &'static str); 1], Counter>,
    /// Lookups answered from the cache.
    pub cache_hits: Counter,
}

impl Counters {
    /// Counts one lookup the registry answered (`ok`) or that failed.
    pub fn lookup(&self, ok: bool) {
        let result = if ok { "resolved" } else { "failed" };
        self.lookups.get_or_create(&[("result", result)]).inc();
    }

    /// Lookups answered by the registry so far.
    pub fn resolved(&self) -> u64 {
        self.lookups.get_or_create(&[("result", "resolved")]).get()
    }

    /// Lookups that failed so far.
    pub fn failed(&self) -> u64 {
        self.lookups.get_or_create(&[("result", "failed")]).get()
    }

    /// Registers the counters as `registry_lookups{result}` and `image_cache_hits`.
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "registry_lookups",
            "Image configuration lookups in a registry",
            self.lookups.clone(),
        );
        registry.register(
            "image_cache_hits",
            "Image configurations served from the cache",
            self.cache_hits.clone(),
        );
    }
}

/// Reads image configurations from registries.
pub struct Registry<S> {
    options: RegistryOptions,
    roots: Vec<Certificate>,
    os: String,
    arch: String,
    secrets: S,
    cache: Cache,
    /// The counters.
    pub counters: Counters,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    config: Option<ContainerConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
}

/// Parses the entrypoint and CMD out of an image configuration blob.
pub fn parse_config(json: &str) -> Result<ImageConfig, String> {
    let file: ConfigFile = serde_json::from_str(json)
        .map_err(|e| format!("the image configuration is not valid JSON: {e}"))?;
    let config = file.config.unwrap_or(ContainerConfig {
        entrypoint: None,
        cmd: None,
    });
    Ok(ImageConfig {
        entrypoint: config.entrypoint.unwrap_or_default(),
        cmd: config.cmd.unwrap_or_default(),
    })
}

/// Installs ring as the process's rustls provider (reqwest and kube's client are built without
/// one, and panic when none is installed). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl<S: PullSecrets> Registry<S> {
    /// A registry reader using `secrets` for credentials; reads the `--registry-ca` files.
    pub fn new(options: RegistryOptions, secrets: S) -> Result<Self, RegistrySetupError> {
        let roots = trust::roots(&options.extra_roots)?;
        Self::with_roots(options, roots, secrets)
    }

    /// A registry reader trusting `roots` (from [`trust::roots`], read earlier: `serve` reads
    /// them before it sandboxes itself, so the sandbox needs no grant for them).
    pub fn with_roots(
        options: RegistryOptions,
        roots: Vec<Certificate>,
        secrets: S,
    ) -> Result<Self, RegistrySetupError> {
        install_crypto_provider();
        let (os, arch) = options
            .platform
            .split_once('/')
            .filter(|(o, a)| !o.is_empty() && !a.is_empty())
            .map(|(o, a)| (o.to_owned(), a.to_owned()))
            .ok_or_else(|| RegistrySetupError::Platform(options.platform.clone()))?;
        let registry = Self {
            cache: Cache::new(options.cache_size, options.cache_ttl),
            options,
            roots,
            os,
            arch,
            secrets,
            counters: Counters::default(),
        };
        // Build one client now, so options it cannot work with fail at start, not per pod.
        registry.client().map_err(RegistrySetupError::Client)?;
        Ok(registry)
    }

    fn client(&self) -> Result<Client, String> {
        let (os, arch) = (self.os.clone(), self.arch.clone());
        let resolver = move |entries: &[ImageIndexEntry]| {
            entries
                .iter()
                .find(|e| {
                    e.platform.as_ref().is_some_and(|p| {
                        serde_json::to_value(&p.os)
                            .ok()
                            .as_ref()
                            .and_then(|v| v.as_str())
                            == Some(os.as_str())
                            && serde_json::to_value(&p.architecture)
                                .ok()
                                .as_ref()
                                .and_then(|v| v.as_str())
                                == Some(arch.as_str())
                    })
                })
                .map(|e| e.digest.clone())
        };
        // A client per lookup: oci-client remembers the first credentials per registry, and
        // two pods may use different credentials for the same registry. `try_from`, because
        // `Client::new` falls back to reqwest's default client on error, which panics where
        // the system has no trust store. `tls_certs_only`: the roots of [`trust`], never the
        // system's.
        Client::try_from(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(self.options.insecure.clone()),
            tls_certs_only: self.roots.clone(),
            platform_resolver: Some(Box::new(resolver)),
            connect_timeout: Some(self.options.budget),
            read_timeout: Some(self.options.budget),
            ..ClientConfig::default()
        })
        .map_err(|e| causes(&e))
    }

    async fn lookup(
        &self,
        image: &str,
        pod: &Pod,
        namespace: Option<&str>,
    ) -> Result<ImageConfig, String> {
        let reference =
            Reference::try_from(image).map_err(|e| format!("not a valid image reference: {e}"))?;
        let secrets = self
            .secrets
            .for_pod(pod, namespace)
            .await
            .map_err(|e| e.to_string())?;
        let registry = reference.resolve_registry().to_owned();
        let credentials = secrets
            .iter()
            .find_map(|s| s.for_registry(&registry))
            .cloned();
        let identity = credentials.as_ref().map_or("", |c| c.username.as_str());
        let key = format!("{identity}@{}", reference.whole());
        if let Some((_, config)) = self.cache.get(&key, Instant::now()) {
            self.counters.cache_hits.inc();
            return Ok(config);
        }
        let auth = credentials.map_or(RegistryAuth::Anonymous, |c| {
            RegistryAuth::Basic(c.username, c.password)
        });
        let (_, digest, config) = self
            .client()
            .map_err(|e| format!("cannot set up the registry client: {e}"))?
            .pull_manifest_and_config(&reference, &auth)
            .await
            .map_err(|e| format!("registry {registry}: {}", causes(&e)))?;
        let config = parse_config(&config)?;
        self.cache
            .put(&key, &digest, config.clone(), Instant::now());
        Ok(config)
    }
}

impl<S: PullSecrets> ImageResolver for Registry<S> {
    async fn resolve(
        &self,
        image: &str,
        pod: &Pod,
        namespace: Option<&str>,
    ) -> Result<ImageConfig, String> {
        let budget = self.options.budget;
        let lookup = panic_guard::catch(self.lookup(image, pod, namespace));
        let result = match tokio::time::timeout(budget, lookup).await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => {
                tracing::error!(image, panic = %panic, "the registry client panicked during a lookup; the pod is denied");
                Err(format!(
                    "the registry client failed unexpectedly (it panicked: {})",
                    quote(&panic)
                ))
            }
            Err(_) => Err(format!(
                "the registry lookup took longer than its budget of {}",
                humantime::format_duration(budget)
            )),
        };
        self.counters.lookup(result.is_ok());
        result
    }
}

/// The pull secrets a registry reader uses: the cluster's (serve), or fixed files (inject,
/// review).
#[derive(Clone)]
pub enum Secrets {
    /// Read per pod through the Kubernetes API.
    Cluster(cluster_secrets::ClusterSecrets),
    /// The same for every pod.
    Fixed(pull_secrets::Fixed),
}

impl PullSecrets for Secrets {
    async fn for_pod(
        &self,
        pod: &Pod,
        namespace: Option<&str>,
    ) -> Result<Vec<pull_secrets::PullSecret>, pull_secrets::PullSecretError> {
        match self {
            Secrets::Cluster(c) => c.for_pod(pod, namespace).await,
            Secrets::Fixed(f) => f.for_pod(pod, namespace).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_blobs_with_and_without_entrypoint() {
        let c =
            parse_config(r#"{"config": {"Entrypoint": ["/e"], "Cmd": ["a", "b"]}, "rootfs": {}}"#)
                .expect("ok");
        assert_eq!(
            (c.entrypoint, c.cmd),
            (vec!["/e".to_owned()], vec!["a".to_owned(), "b".to_owned()])
        );
        let c = parse_config(r#"{"config": {"Cmd": null}}"#).expect("ok");
        assert_eq!(c, ImageConfig::default());
        assert!(parse_config("{").unwrap_err().contains("not valid JSON"));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Chain {
        text: String,
        #[source]
        source: Option<Box<Chain>>,
    }

    fn chain(texts: &[&str]) -> Chain {
        texts
            .iter()
            .rev()
            .fold(None, |source, text| {
                Some(Chain {
                    text: (*text).to_owned(),
                    source: source.map(Box::new),
                })
            })
            .expect("at least one")
    }

    #[test]
    fn causes_name_each_source_once_on_one_bounded_line() {
        let err = chain(&[
            "error sending request",
            "client error (Connect)",
            "tcp connect error",
            "tcp connect error",
            "Connection refused (os error 111)",
        ]);
        assert_eq!(
            causes(&err),
            "error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)"
        );
        let page = format!("<html>\n{}</html>", "x".repeat(5000));
        let quoted = causes(&chain(&["server error", &page]));
        assert!(!quoted.contains('\n'), "{quoted}");
        assert_eq!(
            quoted.chars().count(),
            MAX_CAUSE_CHARS + 1,
            "cut, with an ellipsis"
        );
        assert!(quoted.ends_with('…'));
    }
}

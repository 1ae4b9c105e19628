//! Reading an image's ENTRYPOINT and CMD from its registry with `oci-client`, for containers
//! whose spec has no `command`.
//!
//! Credentials come from the pod's pull secrets ([`pull_secrets`]); results are cached
//! ([`cache`]); the whole lookup has a time budget well under the API server's webhook timeout,
//! so a slow registry produces a clear denial instead of a timed-out admission.

pub mod cache;
pub mod cluster_secrets;
pub mod pull_secrets;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::manifest::ImageIndexEntry;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Deserialize;

use crate::entrypoint::ImageConfig;
use crate::resolve::ImageResolver;
use cache::Cache;
use pull_secrets::PullSecrets;

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// The whole lookup of one image, including authentication.
    pub budget: Duration,
    /// Extra CA certificates (PEM files) for registries with a private CA.
    pub extra_roots: Vec<PathBuf>,
    /// Registries (`host` or `host:port`) reached over plain HTTP.
    pub insecure: Vec<String>,
    /// The platform picked from multi-platform images, `os/arch`.
    pub platform: String,
    /// How many image references the cache holds.
    pub cache_size: usize,
    /// How long a reference → digest resolution is trusted.
    pub cache_ttl: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(4),
            extra_roots: Vec::new(),
            insecure: Vec::new(),
            platform: "linux/amd64".to_owned(),
            cache_size: 512,
            cache_ttl: Duration::from_secs(300),
        }
    }
}

/// Why the registry client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RegistrySetupError {
    /// A CA file could not be read.
    #[error("--registry-ca {path}: {source}")]
    Ca {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The platform is not `os/arch`.
    #[error("--platform {0:?}: expected os/arch, e.g. linux/amd64")]
    Platform(String),
}

/// Lookup counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Lookups answered by the registry.
    pub resolved: AtomicU64,
    /// Lookups that failed.
    pub failed: AtomicU64,
    /// Lookups answered from the cache.
    pub cache_hits: AtomicU64,
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

/// Installs ring as the process's rustls provider (reqwest is built without one). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl<S: PullSecrets> Registry<S> {
    /// A registry reader using `secrets` for credentials.
    pub fn new(options: RegistryOptions, secrets: S) -> Result<Self, RegistrySetupError> {
        install_crypto_provider();
        let (os, arch) = options
            .platform
            .split_once('/')
            .filter(|(o, a)| !o.is_empty() && !a.is_empty())
            .map(|(o, a)| (o.to_owned(), a.to_owned()))
            .ok_or_else(|| RegistrySetupError::Platform(options.platform.clone()))?;
        let mut roots = Vec::new();
        for path in &options.extra_roots {
            let data = std::fs::read(path).map_err(|source| RegistrySetupError::Ca {
                path: path.clone(),
                source,
            })?;
            roots.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        Ok(Self {
            cache: Cache::new(options.cache_size, options.cache_ttl),
            options,
            roots,
            os,
            arch,
            secrets,
            counters: Counters::default(),
        })
    }

    fn client(&self) -> Client {
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
        // two pods may use different credentials for the same registry.
        Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(self.options.insecure.clone()),
            extra_root_certificates: self.roots.clone(),
            platform_resolver: Some(Box::new(resolver)),
            connect_timeout: Some(self.options.budget),
            read_timeout: Some(self.options.budget),
            ..ClientConfig::default()
        })
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
            self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(config);
        }
        let auth = credentials.map_or(RegistryAuth::Anonymous, |c| {
            RegistryAuth::Basic(c.username, c.password)
        });
        let (_, digest, config) = self
            .client()
            .pull_manifest_and_config(&reference, &auth)
            .await
            .map_err(|e| format!("registry {registry}: {e}"))?;
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
        let result = tokio::time::timeout(budget, self.lookup(image, pod, namespace))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the registry lookup took longer than its budget of {budget:?}"
                ))
            });
        let counter = if result.is_ok() {
            &self.counters.resolved
        } else {
            &self.counters.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
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
}

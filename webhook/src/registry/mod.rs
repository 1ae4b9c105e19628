//! Reading an image's ENTRYPOINT and CMD from its registry with `oci-client`, for containers
//! whose spec has no `command`.
//!
//! Credentials come from the pod's pull secrets ([`pull_secrets`]); results are cached
//! ([`cache`]); registry TLS trusts compiled-in roots plus `--registry-ca` ([`trust`]); registry
//! hosts are resolved with the nameservers of /etc/resolv.conf only ([`dns`]); where a lookup
//! may go (the image's registry, redirects, token realms) is checked ([`destination`]); the whole
//! lookup has a time budget well under the API server's webhook timeout, so a slow registry
//! produces a clear denial instead of a timed-out admission. What one lookup may cost is
//! bounded: the bodies it buffers ([`MAX_MANIFEST_BYTES`], [`MAX_CONFIG_BYTES`]) and the lookups
//! in flight at once (`--registry-concurrency`, of which one namespace holds at most
//! `--registry-concurrency-per-namespace`: [`slots`]). Every failure, including a panic inside the
//! registry client, comes back as the cause of a denial, never as a dead process.

pub mod cache;
pub mod cluster_secrets;
pub mod destination;
pub mod dns;
pub mod pull_secrets;
pub mod slots;
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

use crate::admission::entrypoint::ImageConfig;
use crate::admission::resolve::ImageResolver;
use crate::panic_guard;
use cache::Cache;
use dns::Dns;
use pull_secrets::{Credentials, PullSecret, PullSecrets};

/// The largest token response, manifest or image index (and error body) a lookup reads: 4 MiB.
/// The OCI distribution spec asks registries and clients to support manifests of at least
/// 4 MB, and distribution (the reference registry) refuses to serve larger ones; real manifests
/// are a few KiB, and an index of every platform some tens of KiB.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// The largest image configuration blob a lookup reads: 8 MiB. No spec bounds it; it carries
/// the environment, labels and one history entry (the Dockerfile line) per layer, so it is a few
/// KiB usually and some hundred KiB for images with hundreds of layers or very long `RUN` lines,
/// and can outgrow its manifest: twice the manifest limit leaves room for those.
pub const MAX_CONFIG_BYTES: usize = 8 << 20;

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
    /// Registry lookups in flight at once; a review that gets no slot within
    /// --registry-timeout is denied.
    #[arg(long = "registry-concurrency", value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Of those, lookups one namespace may have in flight (at most --registry-concurrency), so
    /// that one tenant's pods cannot take every slot.
    #[arg(long = "registry-concurrency-per-namespace", value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency_per_namespace: u16,
    /// Platform picked from multi-platform images, os/arch[/variant].
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
        crate::admission::config::defaults()
    }
}

/// Why the registry client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RegistrySetupError {
    /// A `--registry-ca` file is unusable.
    #[error(transparent)]
    Trust(#[from] trust::TrustError),
    /// The platform is not `os/arch` or `os/arch/variant`.
    #[error(
        "--platform {0:?}: expected os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm/v7"
    )]
    Platform(String),
    /// The HTTP client cannot be built with these options.
    #[error("cannot set up the registry client: {0}")]
    Client(String),
    /// No resolver for registry hosts.
    #[error("registry lookups: {0}")]
    Dns(#[from] dns::DnsError),
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
        // Both results exported from the start at 0, so a failure ratio is defined before the
        // first failure and the alert's series exist.
        for result in ["resolved", "failed"] {
            drop(self.lookups.get_or_create(&[("result", result)]));
        }
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
    dns: Dns,
    /// One permit per lookup in flight (`--registry-concurrency`), and per namespace.
    slots: slots::Slots,
    os: String,
    arch: String,
    /// The platform's variant (`v7` of `linux/arm/v7`), when it names one.
    variant: Option<String>,
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
    #[serde(default, deserialize_with = "bounded_arguments")]
    entrypoint: Option<Vec<String>>,
    #[serde(default, deserialize_with = "bounded_arguments")]
    cmd: Option<Vec<String>>,
}

/// The most arguments an image's ENTRYPOINT or CMD may have: real ones have a handful. The
/// configuration blob is bounded in bytes, but an argument costs far more parsed than written
/// (`""` is 3 bytes of JSON and a 24-byte `String`): 8 MiB of empty arguments became some
/// 100 MB per lookup, held by the review, the cache and the edit.
pub const MAX_IMAGE_ARGUMENTS: usize = 4096;

/// An argument list, refused while it is read once it has more than [`MAX_IMAGE_ARGUMENTS`].
fn bounded_arguments<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    struct Arguments;
    impl<'de> serde::de::Visitor<'de> for Arguments {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "null or a list of at most {MAX_IMAGE_ARGUMENTS} strings")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(argument) = seq.next_element::<String>()? {
                if out.len() == MAX_IMAGE_ARGUMENTS {
                    return Err(serde::de::Error::custom(format!(
                        "more than {MAX_IMAGE_ARGUMENTS} arguments"
                    )));
                }
                out.push(argument);
            }
            Ok(Some(out))
        }
    }
    deserializer.deserialize_option(Arguments)
}

/// `os/arch` or `os/arch/variant`, each part non-empty.
fn parse_platform(text: &str) -> Option<(String, String, Option<String>)> {
    let mut parts = text.split('/');
    let (os, arch, variant) = (parts.next()?, parts.next()?, parts.next());
    let nonempty = |p: &str| !p.is_empty();
    (nonempty(os) && nonempty(arch) && variant.is_none_or(nonempty) && parts.next().is_none())
        .then(|| (os.to_owned(), arch.to_owned(), variant.map(str::to_owned)))
}

/// The digest of the entry of a multi-platform image for `os`/`arch` (and `variant`, when
/// given: `linux/arm/v7` is not `linux/arm/v6`; without one, the first entry of the
/// architecture).
fn pick(
    entries: &[ImageIndexEntry],
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> Option<String> {
    let text = |value: serde_json::Result<serde_json::Value>| {
        value.ok().and_then(|v| v.as_str().map(str::to_owned))
    };
    entries
        .iter()
        .find(|e| {
            e.platform.as_ref().is_some_and(|p| {
                text(serde_json::to_value(&p.os)).as_deref() == Some(os)
                    && text(serde_json::to_value(&p.architecture)).as_deref() == Some(arch)
                    && variant.is_none_or(|v| p.variant.as_deref() == Some(v))
            })
        })
        .map(|e| e.digest.clone())
}

/// The most redirects one registry request follows.
const MAX_REDIRECTS: usize = 5;

/// Makes the redirect policy of registry requests: each redirect is checked as every
/// destination of a lookup is ([`destination`]), and at most [`MAX_REDIRECTS`] are followed.
fn redirects(insecure: Vec<String>) -> Box<dyn Fn() -> reqwest::redirect::Policy + Send + Sync> {
    Box::new(move || {
        let insecure = insecure.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match destination::check(attempt.previous(), attempt.url(), &insecure) {
                Ok(()) => attempt.follow(),
                Err(refusal) => attempt.error(refusal.describe("a redirect")),
            }
        })
    })
}

/// Makes the check of a registry's token realm (the URL its `WWW-Authenticate` challenge
/// names, which the client asks with the pull secret's password): as a redirect's.
fn realm_check(insecure: Vec<String>) -> oci_client::client::RealmCheck {
    std::sync::Arc::new(move |from: &reqwest::Url, realm: &reqwest::Url| {
        destination::check([from], realm, &insecure)
            .map_err(|refusal| refusal.describe(&format!("the token realm {realm}")))
    })
}

/// A stable, one-way name for a credential (SHA-256 of user name and password), for cache keys.
fn credential_id(username: &str, password: &str) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(username.as_bytes());
    hasher.update([0u8]);
    hasher.update(password.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    /// A registry reader using `secrets` for credentials; reads the `--registry-ca` files and
    /// the system's resolver configuration.
    pub fn new(options: RegistryOptions, secrets: S) -> Result<Self, RegistrySetupError> {
        let roots = trust::roots(&options.extra_roots)?;
        Self::with_roots(options, roots, Dns::system()?, secrets)
    }

    /// A registry reader trusting `roots` (from [`trust::roots`]) and resolving with `dns`,
    /// both read earlier: `serve` reads them before it sandboxes itself, so the sandbox needs
    /// no grant for them.
    pub fn with_roots(
        options: RegistryOptions,
        roots: Vec<Certificate>,
        dns: Dns,
        secrets: S,
    ) -> Result<Self, RegistrySetupError> {
        install_crypto_provider();
        let (os, arch, variant) = parse_platform(&options.platform)
            .ok_or_else(|| RegistrySetupError::Platform(options.platform.clone()))?;
        let registry = Self {
            cache: Cache::new(options.cache_size, options.cache_ttl),
            slots: slots::Slots::new(
                usize::from(options.concurrency),
                usize::from(options.concurrency_per_namespace),
            ),
            options,
            roots,
            dns,
            os,
            arch,
            variant,
            secrets,
            counters: Counters::default(),
        };
        // Build one client now, so options it cannot work with fail at start, not per pod.
        registry.client().map_err(RegistrySetupError::Client)?;
        Ok(registry)
    }

    fn client(&self) -> Result<Client, String> {
        let (os, arch, variant) = (self.os.clone(), self.arch.clone(), self.variant.clone());
        let resolver =
            move |entries: &[ImageIndexEntry]| pick(entries, &os, &arch, variant.as_deref());
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
            max_response_bytes: Some(MAX_MANIFEST_BYTES),
            max_config_bytes: Some(MAX_CONFIG_BYTES),
            dns_resolver: Some(self.dns.for_client()),
            redirect_policy: Some(redirects(self.options.insecure.clone())),
            realm_check: Some(realm_check(self.options.insecure.clone())),
            ..ClientConfig::default()
        })
        .map_err(|e| causes(&e))
    }

    /// Why a lookup that waited for a slot until its deadline is denied.
    fn no_slot(&self) -> String {
        format!(
            "all {n} registry lookup slots stayed busy for the lookup's whole budget of {} (--registry-concurrency {n}): registries answer slowly or the webhook is overloaded",
            humantime::format_duration(self.options.budget),
            n = self.options.concurrency,
        )
    }

    /// Why a lookup that waited for its namespace's share of slots until its deadline is
    /// denied.
    fn no_share(&self, namespace: &str) -> String {
        format!(
            "namespace {namespace:?} already had its {n} registry lookups in flight (--registry-concurrency-per-namespace {n}) for this lookup's whole budget of {}: its pods look up many images at once or its registries answer slowly",
            humantime::format_duration(self.options.budget),
            n = self.slots.share(),
        )
    }

    /// Reads `image`'s configuration by `deadline`; `progress` says how far it got in taking
    /// its slots (cache hits need none).
    async fn lookup(
        &self,
        image: &str,
        secrets: &[PullSecret],
        namespace: Option<&str>,
        deadline: tokio::time::Instant,
        progress: &slots::Progress,
    ) -> Result<ImageConfig, String> {
        let reference =
            Reference::try_from(image).map_err(|e| format!("not a valid image reference: {e}"))?;
        let registry = reference.resolve_registry().to_owned();
        // An address written in the reference is never resolved, so the resolver's check
        // ([`dns`]) does not see it.
        if let Some(ip) = destination::refused_registry(&registry) {
            return Err(format!(
                "registry {registry}: {ip} is not asked: {}",
                destination::NO_REGISTRY_THERE
            ));
        }
        // The credentials kubelet will pull with, in its order; none: an anonymous pull.
        let target = format!("{}/{}", reference.registry(), reference.repository());
        let candidates = pull_secrets::credentials_for(secrets, &target);
        // Each credential to try, with its cache key: whose view of the registry this is, the
        // whole credential, not the user name alone (ECR's is always `AWS`, GCR's
        // `_json_key`): a pod with a made-up secret must not get what another namespace's
        // real one read. Any of the pod's credentials that read the image before will do, as
        // kubelet would pull with it.
        let key = |identity: &str| format!("{identity}@{}", reference.whole());
        let tries: Vec<(String, RegistryAuth)> = if candidates.is_empty() {
            vec![(key(""), RegistryAuth::Anonymous)]
        } else {
            candidates
                .iter()
                .map(|c| {
                    let Credentials { username, password } = c.credentials.clone();
                    (
                        key(&credential_id(&username, &password)),
                        RegistryAuth::Basic(username, password),
                    )
                })
                .collect()
        };
        for (key, _) in &tries {
            if let Some((_, config)) = self.cache.get(key, Instant::now()) {
                self.counters.cache_hits.inc();
                return Ok(config);
            }
        }
        // Released when the lookup ends or is dropped (budget exceeded).
        let namespace = namespace.unwrap_or_default();
        let _slot = match self.slots.acquire(namespace, deadline, progress).await {
            Ok(held) => held,
            Err(slots::NoSlot::NamespaceShare) => return Err(self.no_share(namespace)),
            Err(slots::NoSlot::Slots) => return Err(self.no_slot()),
            Err(slots::NoSlot::Closed) => {
                return Err("the registry client is shutting down".to_owned());
            }
        };
        // As kubelet pulls: each credential in turn until one works, on any failure (a
        // registry may answer 404 instead of 401 for what a credential may not see).
        let mut failures = Vec::new();
        for (key, auth) in &tries {
            let pulled = self
                .client()
                .map_err(|e| format!("cannot set up the registry client: {e}"))?
                .pull_manifest_and_config(&reference, auth)
                .await;
            match pulled {
                Ok((_, digest, config)) => {
                    let config = parse_config(&config)?;
                    self.cache.put(key, &digest, config.clone(), Instant::now());
                    return Ok(config);
                }
                Err(e) => failures.push(causes(&e)),
            }
        }
        if candidates.len() < 2 {
            return Err(format!("registry {registry}: {}", failures.join("; ")));
        }
        let each: Vec<String> = candidates
            .iter()
            .zip(&failures)
            .map(|(c, failure)| {
                format!(
                    "{} (user {:?}): {failure}",
                    c.secret, c.credentials.username
                )
            })
            .collect();
        Err(format!(
            "registry {registry}: none of the {} credentials the pod's pull secrets hold for {target} worked (each was tried, as kubelet tries them): {}",
            candidates.len(),
            each.join("; ")
        ))
    }

    /// Looks `image` up with `secrets` by `deadline`: a panic, a lookup past its deadline and
    /// a lookup that found no slot come back as its denial.
    async fn resolve_by(
        &self,
        image: &str,
        secrets: &[PullSecret],
        namespace: Option<&str>,
        deadline: tokio::time::Instant,
    ) -> Result<ImageConfig, String> {
        let progress = slots::Progress::default();
        let lookup =
            panic_guard::catch(self.lookup(image, secrets, namespace, deadline, &progress));
        let result = match tokio::time::timeout_at(deadline, lookup).await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => {
                tracing::error!(
                    image,
                    panic = panic.as_str(),
                    "the registry client panicked during a lookup; the pod is denied"
                );
                Err(format!(
                    "the registry client failed unexpectedly (it panicked: {})",
                    quote(&panic)
                ))
            }
            Err(_) => match progress.waited() {
                slots::Waited::ForNamespaceShare => {
                    Err(self.no_share(namespace.unwrap_or_default()))
                }
                slots::Waited::ForSlot => Err(self.no_slot()),
                slots::Waited::Nowhere => Err(format!(
                    "the registry lookup took longer than its budget of {}",
                    humantime::format_duration(self.options.budget)
                )),
            },
        };
        self.counters.lookup(result.is_ok());
        result
    }

    /// `why` for each of `images`, each counted as a failed lookup.
    fn every_lookup_fails(&self, images: &[String], why: &str) -> Vec<Result<ImageConfig, String>> {
        images
            .iter()
            .map(|_| {
                self.counters.lookup(false);
                Err(why.to_owned())
            })
            .collect()
    }
}

impl<S: PullSecrets> ImageResolver for Registry<S> {
    async fn resolve(
        &self,
        images: &[String],
        pod: &Pod,
        namespace: Option<&str>,
    ) -> Vec<Result<ImageConfig, String>> {
        let budget = self.options.budget;
        let deadline = tokio::time::Instant::now() + budget;
        // The pod's pull secrets are read once for all its images, within their budget: read
        // per image, a pod of many images made as many reads of the same secrets.
        let secrets =
            match tokio::time::timeout_at(deadline, self.secrets.for_pod(pod, namespace)).await {
                Ok(Ok(secrets)) => secrets,
                Ok(Err(e)) => return self.every_lookup_fails(images, &e.to_string()),
                Err(_) => {
                    let why = format!(
                        "the pod's pull secrets were not read within the lookup's budget of {}",
                        humantime::format_duration(budget)
                    );
                    return self.every_lookup_fails(images, &why);
                }
            };
        futures::future::join_all(
            images
                .iter()
                .map(|image| self.resolve_by(image, &secrets, namespace, deadline)),
        )
        .await
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

    /// An 8 MiB configuration of empty arguments (about 2.8 million) is refused while it is
    /// read, with a message naming the limit; one at the limit is read.
    #[test]
    fn a_configuration_with_too_many_arguments_is_refused_while_read() {
        let arguments = |n: usize| vec!["\"\""; n].join(",");
        let huge = format!(r#"{{"config": {{"Cmd": [{}]}}}}"#, arguments((8 << 20) / 3));
        let error = parse_config(&huge).expect_err("refused");
        assert!(
            error.contains(&format!("more than {MAX_IMAGE_ARGUMENTS} arguments")),
            "{error}"
        );
        let at_limit = format!(
            r#"{{"config": {{"Entrypoint": [{}]}}}}"#,
            arguments(MAX_IMAGE_ARGUMENTS)
        );
        let config = parse_config(&at_limit).expect("at the limit");
        assert_eq!(config.entrypoint.len(), MAX_IMAGE_ARGUMENTS);
    }

    /// `--platform` takes a variant, and an index entry is picked by it: `linux/arm/v7` is not
    /// the `v6` entry listed first (the variant had been taken as part of the architecture,
    /// so no entry ever matched).
    #[test]
    fn a_platform_variant_is_parsed_and_picks_its_entry() {
        assert_eq!(
            parse_platform("linux/arm/v7"),
            Some(("linux".into(), "arm".into(), Some("v7".into())))
        );
        assert_eq!(
            parse_platform("linux/amd64"),
            Some(("linux".into(), "amd64".into(), None))
        );
        for bad in ["linux", "linux/", "/amd64", "linux/arm/", "linux/arm/v7/x"] {
            assert_eq!(parse_platform(bad), None, "{bad}");
        }
        let entries: Vec<ImageIndexEntry> = serde_json::from_value(serde_json::json!([
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
             "digest": "sha256:v6", "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
             "digest": "sha256:v7", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
             "digest": "sha256:amd64", "platform": {"os": "linux", "architecture": "amd64"}},
        ]))
        .expect("index entries");
        assert_eq!(
            pick(&entries, "linux", "arm", Some("v7")).as_deref(),
            Some("sha256:v7")
        );
        assert_eq!(
            pick(&entries, "linux", "arm", None).as_deref(),
            Some("sha256:v6")
        );
        assert_eq!(
            pick(&entries, "linux", "amd64", None).as_deref(),
            Some("sha256:amd64")
        );
        assert_eq!(pick(&entries, "linux", "arm", Some("v8")), None);
    }

    /// The cache's key names the whole credential: the same user name with another password
    /// (ECR's user is always `AWS`) is another view of the registry.
    #[test]
    fn credentials_with_one_user_name_are_told_apart() {
        let real = credential_id("AWS", "eyJwYXlsb2FkIjoi...");
        assert_ne!(real, credential_id("AWS", "made-up"));
        assert_eq!(real, credential_id("AWS", "eyJwYXlsb2FkIjoi..."));
        assert_ne!(credential_id("a", "bc"), credential_id("ab", "c"));
        assert_eq!(real.len(), 64);
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

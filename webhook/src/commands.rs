//! The three subcommands, given parsed options: each sets up what it needs and calls the
//! library. Errors come back as text for `main` to print with the program name.

use std::io::{Read, Write};
use std::path::PathBuf;

use crate::endpoint::Endpoint;
use webhook::admission::config::Config;
use webhook::admission::namespace_watch::ClusterNamespaces;
use webhook::admission::namespaces::{Both, Fallback, Known, With};
use webhook::admission::policy_watch::ClusterPolicies;
use webhook::inject;
use webhook::registry::{
    Registry, RegistryOptions, Secrets, cluster_secrets::ClusterSecrets, dns::Dns,
    install_crypto_provider, pull_secrets::Fixed, trust,
};
use webhook::review;
use webhook::serve::{self, ServeOptions};

/// Options shared by every subcommand.
#[derive(Debug, Clone)]
pub struct Common {
    /// The admission configuration.
    pub config: Config,
    /// How to reach registries.
    pub registry: RegistryOptions,
    /// Files with Namespace and LandlockPolicy documents standing in for (or besides) the
    /// cluster's.
    pub namespaces: Vec<PathBuf>,
}

/// Options of `inject` and `review`, which run without a cluster.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Lookup {
    /// dockerconfigjson file with registry credentials, used for every image; repeatable.
    #[arg(long = "pull-secret")]
    pub pull_secrets: Vec<PathBuf>,
    /// Do not contact registries: containers without `command` cannot be wrapped.
    #[arg(long)]
    pub offline: bool,
}

/// The Namespace and LandlockPolicy documents of the `--namespaces` files.
fn known_namespaces(common: &Common) -> Result<Known, String> {
    let mut known = Known::default();
    for path in &common.namespaces {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--namespaces {}: {e}", path.display()))?;
        let (docs, _) =
            inject::parse(&text).map_err(|e| format!("--namespaces {}: {e}", path.display()))?;
        known.extend_from_docs(&docs);
    }
    Ok(known)
}

/// A registry reader, or none with `--offline` (containers without `command` are then denied).
fn resolver(common: &Common, lookup: &Lookup) -> Result<Option<Registry<Secrets>>, String> {
    if lookup.offline {
        return Ok(None);
    }
    let secrets = Fixed::from_files(&lookup.pull_secrets).map_err(|e| e.to_string())?;
    let registry = Registry::new(common.registry.clone(), Secrets::Fixed(secrets))
        .map_err(|e| e.to_string())?;
    Ok(Some(registry))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn read_input(file: Option<&PathBuf>) -> Result<String, String> {
    let mut input = String::new();
    match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => {
            input =
                std::fs::read_to_string(path).map_err(|e| format!("-f {}: {e}", path.display()))?;
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
        }
    }
    Ok(input)
}

/// `landlock-webhook inject [-f FILE]`: prints the mutated manifest; warnings on stderr.
pub fn inject(common: &Common, lookup: &Lookup, file: Option<&PathBuf>) -> Result<(), String> {
    let input = read_input(file)?;
    let lookups = With {
        images: resolver(common, lookup)?,
        namespaces: known_namespaces(common)?,
    };
    let injected = runtime()?.block_on(inject::inject(&input, &common.config, &lookups));
    let injected = injected.map_err(|e| format!("nothing was printed, because:\n{e}"))?;
    for warning in &injected.warnings {
        eprintln!("landlock-webhook: warning: {warning}");
    }
    std::io::stdout()
        .write_all(injected.output.as_bytes())
        .map_err(|e| format!("cannot write the output: {e}"))
}

/// `landlock-webhook review`: AdmissionReview on stdin, the response on stdout.
pub fn review(common: &Common, lookup: &Lookup) -> Result<(), String> {
    let input = read_input(None)?;
    let lookups = With {
        images: resolver(common, lookup)?,
        namespaces: known_namespaces(common)?,
    };
    let reviewed = runtime()?
        .block_on(review::review(input.as_bytes(), &common.config, &lookups))
        .map_err(|e| e.to_string())?;
    let mut body = review::to_json(&reviewed.review)
        .map_err(|e| format!("cannot serialise the response: {e}"))?;
    body.push(b'\n');
    std::io::stdout()
        .write_all(&body)
        .map_err(|e| format!("cannot write the output: {e}"))
}

/// `landlock-webhook serve`.
pub fn serve(common: Common, options: ServeOptions) -> Result<(), String> {
    // The registry CAs and the resolver configuration are read now, before the server
    // sandboxes itself, so its sandbox grants no trust-store or resolver file at all (the rest
    // of the roots is compiled in, see registry::trust; registry::dns says what else it spares).
    let roots = trust::roots(&common.registry.extra_roots).map_err(|e| e.to_string())?;
    let dns = Dns::system().map_err(|e| format!("registry lookups: {e}"))?;
    let known = known_namespaces(&common)?;
    let policy_status = options.policy_status;
    let recordings = options.recordings;
    serve::run(options, move || -> Result<Endpoint<Secrets>, String> {
        install_crypto_provider();
        let client = cluster_client();
        let secrets = match &client {
            Some(client) => Secrets::Cluster(ClusterSecrets::new(client.clone())),
            None => Secrets::Fixed(Fixed::default()),
        };
        let registry = Registry::with_roots(common.registry.clone(), roots, dns, secrets)
            .map_err(|e| e.to_string())?;
        Ok(Endpoint {
            config: common.config.clone(),
            registry,
            namespaces: Fallback {
                first: known,
                then: client.map(|client| {
                    let policies = ClusterPolicies::start(client.clone());
                    if policy_status {
                        webhook::policy_status::writer::start(
                            client.clone(),
                            policies.store(),
                            policies.policy_health(),
                        );
                    }
                    if recordings {
                        webhook::recording::controller::start(
                            client.clone(),
                            policies.recording_store(),
                        );
                    }
                    Both {
                        namespaces: ClusterNamespaces::start(client),
                        policies,
                    }
                }),
            },
        })
    })
    .map_err(|e| e.to_string())
}

/// A Kubernetes client from the in-cluster configuration, if the server runs in a pod.
fn cluster_client() -> Option<kube::Client> {
    match kube::Config::incluster() {
        Ok(config) => match kube::Client::try_from(config) {
            Ok(client) => Some(client),
            Err(e) => {
                tracing::warn!(error = %e, "cannot build the Kubernetes client: pull secrets and namespaces are not read");
                None
            }
        },
        Err(_) => {
            tracing::warn!(
                "not running in a cluster: image lookups use no pull secrets; only --namespaces files give namespace opt-in"
            );
            None
        }
    }
}

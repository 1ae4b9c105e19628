//! Which nameservers registry hosts are resolved with: exactly those of `/etc/resolv.conf`
//! (kubelet writes the cluster's into every pod), read once at start.
//!
//! reqwest's own hickory resolver quietly falls back to Google's public nameservers when
//! resolv.conf is missing, unreadable or names none, which would send every image name the
//! webhook looks up to the internet. Here that is an error at start, naming the file.
//!
//! Reading the configuration and building the resolver at start (before `serve` sandboxes
//! itself) also keeps lookups from touching files later: hickory's resolv.conf parser reads
//! `/proc/sys/kernel/hostname` when resolv.conf has no `domain` line (kubelet's has none), and
//! its response cache sizes itself from `available_parallelism`, which reads
//! `/proc/self/cgroup` and the cgroup's `cpu.max`; built once, neither happens per lookup.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_resolver::config::{LookupIpStrategy, ResolveHosts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Hosts, TokioResolver};

/// Where the nameservers come from.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// Static host names, consulted before the nameservers (as glibc does).
pub const HOSTS: &str = "/etc/hosts";

/// Why no resolver could be set up.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The resolver configuration cannot be read.
    #[error(
        "cannot read {path}: {source} (registry hosts are resolved only with the nameservers it names, never with public ones; use --offline to run without registry lookups)"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The resolver configuration is unusable.
    #[error(
        "{path}: {reason} (registry hosts are resolved only with the nameservers it names, never with public ones; use --offline to run without registry lookups)"
    )]
    Unusable {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// A DNS resolver for registry hosts, shared by every lookup (and so is its cache).
#[derive(Clone)]
pub struct Dns {
    resolver: Arc<TokioResolver>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dns")
    }
}

impl Dns {
    /// The system's resolver: [`RESOLV_CONF`] and [`HOSTS`].
    pub fn system() -> Result<Self, DnsError> {
        Self::from_files(Path::new(RESOLV_CONF), Path::new(HOSTS))
    }

    /// A resolver with the nameservers of `resolv_conf` and the names of `hosts` (which may be
    /// absent: a container without /etc/hosts resolves everything through DNS).
    pub fn from_files(resolv_conf: &Path, hosts: &Path) -> Result<Self, DnsError> {
        let data = std::fs::read(resolv_conf).map_err(|source| DnsError::Read {
            path: resolv_conf.to_owned(),
            source,
        })?;
        let unusable = |reason: String| DnsError::Unusable {
            path: resolv_conf.to_owned(),
            reason,
        };
        let (config, mut options) = hickory_resolver::system_conf::parse_resolv_conf(&data)
            .map_err(|e| unusable(e.to_string()))?;
        if config.name_servers().is_empty() {
            return Err(unusable("names no nameserver".to_owned()));
        }
        // Both address families, for happy eyeballs (what reqwest's resolver does too).
        options.ip_strategy = LookupIpStrategy::Ipv6AndIpv4;
        // The hosts file is read here, not by the builder, so its path is ours.
        options.use_hosts_file = ResolveHosts::Never;
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        *builder.options_mut() = options;
        let mut resolver = builder.build().map_err(|e| unusable(e.to_string()))?;
        let hosts = match std::fs::File::open(hosts) {
            Ok(file) => {
                let mut table = Hosts::default();
                table
                    .read_hosts_conf(file)
                    .map_err(|source| DnsError::Read {
                        path: hosts.to_owned(),
                        source,
                    })?;
                table
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Hosts::default(),
            Err(source) => {
                return Err(DnsError::Read {
                    path: hosts.to_owned(),
                    source,
                });
            }
        };
        resolver.set_hosts(Arc::new(hosts));
        Ok(Self {
            resolver: Arc::new(resolver),
        })
    }

    /// The resolver as the registry client's HTTP client takes it.
    pub fn for_client(&self) -> Arc<dyn reqwest::dns::Resolve> {
        Arc::new(self.clone())
    }
}

/// Whether the webhook refuses to connect to `ip` for a registry: an address no registry has
/// but that reaches what the webhook must not fetch for a pod author (link-local: the cloud
/// metadata service at 169.254.169.254 or fd00:ec2::254 behind fe80::/10 routing; unspecified;
/// multicast and broadcast). Loopback and private addresses stay allowed: in-cluster and
/// loopback registries are real (restrict those with the chart's NetworkPolicy).
pub fn refused(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            v4.is_link_local() || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()
        }
        std::net::IpAddr::V6(v6) => {
            let mapped = v6.to_ipv4_mapped().map(std::net::IpAddr::V4);
            v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unicast_link_local()
                || v6 == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
                || mapped.is_some_and(refused)
        }
    }
}

impl reqwest::dns::Resolve for Dns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.resolver.clone();
        Box::pin(async move {
            let lookup = resolver.lookup_ip(name.as_str()).await?;
            let allowed: Vec<SocketAddr> = lookup
                .iter()
                .filter(|ip| !refused(*ip))
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{} resolves only to addresses no registry has (link-local, such as the cloud metadata service, unspecified or multicast): refused",
                    name.as_str()
                )
                .into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Link-local (the metadata services), unspecified, multicast and broadcast addresses are
    /// refused, also as IPv4-mapped IPv6; loopback, private and public ones are not.
    #[test]
    fn addresses_no_registry_has_are_refused() {
        for ip in [
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "fe80::1",
            "::",
            "ff02::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
        ] {
            assert!(refused(ip.parse().expect("an address")), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.96.0.10",
            "192.168.1.5",
            "8.8.8.8",
            "::1",
            "2001:db8::1",
        ] {
            assert!(!refused(ip.parse().expect("an address")), "{ip}");
        }
    }

    #[test]
    fn a_missing_or_empty_resolv_conf_is_an_error_naming_it_never_a_fallback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("resolv.conf");
        let hosts = dir.path().join("hosts");
        let err = Dns::from_files(&missing, &hosts).expect_err("no file");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read {}: ", missing.display())),
            "{err}"
        );
        std::fs::write(&missing, "search cluster.local\n").expect("write");
        let err = Dns::from_files(&missing, &hosts).expect_err("no nameserver");
        assert!(
            err.to_string().contains(&missing.display().to_string())
                && err.to_string().contains("never with public ones"),
            "{err}"
        );
        std::fs::write(
            &missing,
            "nameserver 10.96.0.10\nsearch svc.cluster.local\n",
        )
        .expect("write");
        Dns::from_files(&missing, &hosts).expect("a usable resolv.conf, no hosts file");
    }
}

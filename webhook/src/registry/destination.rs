//! Where a lookup may send the webhook. The registry is chosen by whoever writes the image
//! reference, and the registry chooses where its redirects and its token server (the `realm` of
//! its `WWW-Authenticate` challenge) send the client next. Every URL a lookup asks comes from one
//! of those three, so each is checked here before it is asked:
//!
//! - no address a registry never has: link-local (the cloud metadata service at
//!   169.254.169.254), unspecified, multicast ([`dns::refused`]). Names are checked when they
//!   resolve ([`dns`]); an address written in the URL is never resolved, so it is checked here.
//! - no step from HTTPS down to plain HTTP, unless the new host is an `--insecure-registry`:
//!   a token request carries the pod's pull-secret password, and a redirected answer would reach
//!   the pod author from a service they could not ask themselves.

use std::net::IpAddr;

use super::dns;

/// Why an address is refused, as denials say it.
pub const NO_REGISTRY_THERE: &str =
    "no registry is at a link-local, unspecified or multicast address";

/// Why the webhook does not go to a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// From HTTPS to plain HTTP, to this host (not an `--insecure-registry`).
    Downgrade(String),
    /// To an address no registry has.
    Address(IpAddr),
}

impl Refusal {
    /// The refusal of going to `what` (`a redirect`, `the token realm URL`) as a denial says it.
    pub fn describe(&self, what: &str) -> String {
        match self {
            Refusal::Downgrade(host) => {
                format!("{what} from HTTPS to plain HTTP ({host}) is not followed")
            }
            Refusal::Address(ip) => format!("{what} to {ip} is not followed: {NO_REGISTRY_THERE}"),
        }
    }
}

/// The address `host` (of a URL or an image reference, with or without its IPv6 brackets)
/// names when it is one and no registry can have it.
pub fn refused_address(host: &str) -> Option<IpAddr> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    literal
        .parse::<IpAddr>()
        .ok()
        .filter(|ip| dns::refused(*ip))
}

/// The address no registry has that the registry of an image reference (`host`, `host:port`)
/// names, as the HTTP client will read it. The URL parser turns numeric hosts such as
/// `2852039166` or `0xa9fea9fe` into the address they encode (169.254.169.254) and the client
/// connects to that without resolving anything, so the host is compared after that parser.
pub fn refused_registry(registry: &str) -> Option<IpAddr> {
    let url = reqwest::Url::parse(&format!("https://{registry}/")).ok()?;
    refused_address(url.host_str()?)
}

/// Whether the client may go to `to` after `from` (or after any of `from`, for a chain of
/// redirects) when `insecure` lists the `--insecure-registry` hosts (`host` or `host:port`).
pub fn check<'a>(
    from: impl IntoIterator<Item = &'a reqwest::Url>,
    to: &reqwest::Url,
    insecure: &[String],
) -> Result<(), Refusal> {
    let host = to.host_str().unwrap_or_default().to_owned();
    let with_port = match to.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    let downgrade = to.scheme() == "http" && from.into_iter().any(|u| u.scheme() == "https");
    if downgrade && !insecure.iter().any(|h| *h == host || *h == with_port) {
        return Err(Refusal::Downgrade(host));
    }
    match refused_address(&host) {
        Some(ip) => Err(Refusal::Address(ip)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        text.parse().expect("URL")
    }

    /// HTTPS to HTTPS anywhere a registry may be, and plain HTTP after plain HTTP, are fine;
    /// HTTPS to plain HTTP only to an insecure registry (by host, or host and port); an address
    /// no registry has, never: IPv4, IPv6, IPv4-mapped, whatever the scheme.
    #[test]
    fn downgrades_and_addresses_no_registry_has_are_refused() {
        let secure = url("https://registry.example/v2/");
        let plain = url("http://registry.local:5000/v2/");
        let insecure = ["insecure.local".to_owned(), "10.0.0.5:5000".to_owned()];
        for (from, to) in [
            (&secure, "https://auth.example/token"),
            (&secure, "https://10.0.0.9/token"),
            (&secure, "https://[::1]:8443/token"),
            (&plain, "http://registry.local:5000/token"),
            (&secure, "http://insecure.local:8080/token"),
            (&secure, "http://10.0.0.5:5000/token"),
        ] {
            assert_eq!(check([from], &url(to), &insecure), Ok(()), "{from} -> {to}");
        }
        for (from, to, refusal) in [
            (
                &secure,
                "http://auth.example/token",
                Refusal::Downgrade("auth.example".to_owned()),
            ),
            (
                &secure,
                "http://10.0.0.5:5001/token",
                Refusal::Downgrade("10.0.0.5".to_owned()),
            ),
            (
                &plain,
                "http://169.254.169.254/latest/meta-data/",
                Refusal::Address("169.254.169.254".parse().expect("IP")),
            ),
            (
                &secure,
                "https://[fd00:ec2::254]/",
                Refusal::Address("fd00:ec2::254".parse().expect("IP")),
            ),
            (
                &secure,
                "https://[::ffff:169.254.169.254]/",
                Refusal::Address("::ffff:169.254.169.254".parse().expect("IP")),
            ),
            (
                &secure,
                "https://0.0.0.0/",
                Refusal::Address("0.0.0.0".parse().expect("IP")),
            ),
        ] {
            assert_eq!(
                check([from], &url(to), &insecure),
                Err(refusal),
                "{from} -> {to}"
            );
        }
        assert_eq!(
            refused_address("169.254.169.254:80"),
            None,
            "a host, not host:port"
        );
        for registry in [
            "169.254.169.254:80",
            "2852039166",
            "0xa9fea9fe:443",
            "169.254.43518",
            "[fe80::1]:5000",
            "0.0.0.0",
        ] {
            assert!(refused_registry(registry).is_some(), "{registry}");
        }
        for registry in [
            "registry.example:5000",
            "10.0.0.5",
            "[::1]:5000",
            "127.0.0.1",
        ] {
            assert_eq!(refused_registry(registry), None, "{registry}");
        }
        assert!(refused_address("[fe80::1]").is_some());
        assert!(refused_address("registry.example").is_none());
    }
}

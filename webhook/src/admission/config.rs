//! What the admission logic needs to know besides the pod: shared by `serve`, `inject` and
//! `review`. Each default is defined once, in the clap attributes; [`Default`] asks clap.

use clap::{Args, FromArgMatches};

/// The shim image's default tag follows this crate's version.
pub fn default_shim_image() -> String {
    format!(
        "ghcr.io/landlock-injector/landlock-shim:{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The webhook's own namespace by default: `$POD_NAMESPACE` (the chart sets it from the
/// downward API), else `landlock-injector`.
pub fn default_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "landlock-injector".to_owned())
}

/// Default name of the injected emptyDir volume.
pub const VOLUME: &str = "landlock-shim";
/// Default name of the injected init container.
pub const INSTALLER: &str = "landlock-shim-install";
/// Default directory the volume is mounted at; the shim is `<dir>/landlock-shim`.
pub const MOUNT_DIR: &str = "/landlock-injector";
/// Namespaces never mutated, besides the webhook's own.
pub const EXEMPT_NAMESPACES: &[&str] = &["kube-system"];

/// The admission configuration.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Config {
    /// Image of the injected init container (a digest, `...@sha256:...`, pins it: only that
    /// image then counts as an earlier injection's installer).
    #[arg(long, default_value_t = default_shim_image())]
    pub shim_image: String,
    /// The webhook's own namespace, never mutated.
    #[arg(long, default_value_t = default_namespace())]
    pub namespace: String,
}

impl Default for Config {
    fn default() -> Self {
        defaults()
    }
}

impl Config {
    /// Whether pods in `namespace` are never mutated.
    pub fn exempt(&self, namespace: &str) -> bool {
        namespace == self.namespace || EXEMPT_NAMESPACES.contains(&namespace)
    }
}

/// The options `T` parsed from `args` (flags only, no program name), as clap parses them.
pub fn from_args<T, I>(args: I) -> Result<T, clap::Error>
where
    T: Args + FromArgMatches,
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString> + Clone,
{
    let command = T::augment_args(clap::Command::new("options").no_binary_name(true));
    T::from_arg_matches(&command.try_get_matches_from(args)?)
}

/// The options `T` has when no argument is given: the defaults its clap attributes define.
/// Only for option structs whose every argument has a default that parses.
pub fn defaults<T: Args + FromArgMatches>() -> T {
    match from_args(std::iter::empty::<String>()) {
        Ok(options) => options,
        // The defaults are constants of this crate: a failure is a bug, caught by the tests.
        Err(e) => unreachable!("the built-in defaults do not parse: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_command_line_definition() {
        let config = Config::default();
        assert_eq!(config.shim_image, default_shim_image());
        assert_eq!(config.namespace, default_namespace());
        let registry = crate::registry::RegistryOptions::default();
        assert_eq!(registry.budget, std::time::Duration::from_secs(4));
        assert_eq!(registry.cache_ttl, std::time::Duration::from_secs(300));
        assert_eq!(
            (registry.cache_size, registry.platform.as_str()),
            (512, "linux/amd64")
        );
    }
}

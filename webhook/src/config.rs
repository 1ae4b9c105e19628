//! What the admission logic needs to know besides the pod: shared by `serve`, `inject` and
//! `review`.

/// The shim image's default tag follows this crate's version.
pub fn default_shim_image() -> String {
    format!(
        "ghcr.io/landlock-injector/landlock-shim:{}",
        env!("CARGO_PKG_VERSION")
    )
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The image the installer init container runs.
    pub shim_image: String,
    /// The webhook's own namespace (never mutated).
    pub namespace: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            shim_image: default_shim_image(),
            namespace: std::env::var("POD_NAMESPACE")
                .ok()
                .filter(|ns| !ns.is_empty())
                .unwrap_or_else(|| "landlock-injector".to_owned()),
        }
    }
}

impl Config {
    /// Whether pods in `namespace` are never mutated.
    pub fn exempt(&self, namespace: &str) -> bool {
        namespace == self.namespace || EXEMPT_NAMESPACES.contains(&namespace)
    }
}

//! A small kubelet for tests: runs a Pod (as the webhook returned it) on a real OCI runtime
//! (`runc`), with its volumes materialised the way kubelet does, so tests can assert what the
//! sandboxed processes actually did. See `tests/README.md` for what it emulates and what not.
//!
//! | module | does what kubelet does for |
//! |---|---|
//! | [`rootfs`] | container images: root filesystems built from Debian's packages, cached |
//! | [`volumes`] | emptyDir, and configMap/secret/projected/downwardAPI with the atomic writer |
//! | [`bundle`] | the OCI runtime spec of one container (args, env, user, mounts, capabilities) |
//! | [`runc`] | running a bundle, capturing its output, killing it on timeout |
//! | [`pod`] | a whole pod: network namespace, init containers in order, sidecars, containers |

pub mod bundle;
pub mod pod;
pub mod rootfs;
pub mod runc;
pub mod volumes;

pub use pod::{Cluster, Finished, Image, Images, PodRunner};
pub use rootfs::Rootfs;
pub use runc::Running;
pub use volumes::Objects;

/// The images the pod tests run: `busybox` (Debian's static busybox, no ENTRYPOINT or CMD)
/// and the shim image the webhook's init container names.
pub fn busybox_images() -> Images {
    Images::from([
        crate::admit::shim_image(),
        (
            "busybox".to_owned(),
            Image {
                rootfs: Rootfs::Busybox,
                facts: bundle::ImageFacts::default(),
            },
        ),
    ])
}

/// Why the harness could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A tool the harness needs is missing.
    #[error("{tool} not found: apt-get install {package}")]
    Missing {
        /// The path looked for.
        tool: String,
        /// The Debian package that provides it.
        package: String,
    },
    /// A file-system or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The pod cannot run as specified (like kubelet's CreateContainerConfigError).
    #[error("pod: {0}")]
    Pod(String),
    /// A container did not finish in time; it was killed.
    #[error(
        "container {name} did not finish within {seconds}s; output so far:\nstdout: {stdout}\nstderr: {stderr}"
    )]
    Timeout {
        /// The container.
        name: String,
        /// The limit.
        seconds: u64,
        /// Its stdout so far.
        stdout: String,
        /// Its stderr so far.
        stderr: String,
    },
}

/// Shorthand for an I/O error with context.
pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}

/// Fails with the package to install when `path` is missing.
pub fn require(path: &str, package: &str) -> Result<(), HarnessError> {
    if std::path::Path::new(path).exists() {
        Ok(())
    } else {
        Err(HarnessError::Missing {
            tool: path.to_owned(),
            package: package.to_owned(),
        })
    }
}

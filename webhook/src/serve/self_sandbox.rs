//! The server sandboxes itself once it has loaded its configuration, the way Ory Kratos' `kratos
//! serve` does: whatever a bug or an attacker makes it do afterwards, it can read only its
//! certificate directories and the few files name resolution and the Kubernetes client need
//! ([`RUNTIME_READS`]), write nothing on disk, and bind only its own port.
//!
//! The certificate is granted as its *directory*: cert-manager renewals arrive by a `..data`
//! symlink swap inside it, and a grant on the file would pin the old inode.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use init_shim::compat::Kernel;
use init_shim::plan::{Plan, RealFs, Request, Source, Tcp};
use init_shim::ruleset::{self, Outcome, SandboxError};
use init_shim::startup_line::{self, Verdict};
use init_shim::{Access, Mode, Policy, PolicyPath, Port, Profile};

/// Files the server may read after start, when they exist, each for a reason:
///
/// - `/var/run/secrets/kubernetes.io/serviceaccount`: the Kubernetes client (pull secrets) re-reads
///   its token there when kubelet rotates it, by a `..data` swap, hence the directory.
///
/// Nothing else: no trust store (registry roots are compiled in, see
/// [`crate::registry::trust`], and `--registry-ca` files are read before the sandbox), no
/// `/dev/*random` (randomness comes from the getrandom syscall), no resolver files:
/// `/etc/resolv.conf` and `/etc/hosts` are read, and the DNS resolver built, before the sandbox
/// ([`crate::registry::dns`]), which also spares `/proc/sys/kernel/hostname` (hickory derives a
/// search domain from it when resolv.conf has no `domain` line, as kubelet's has not) and
/// `/proc/self/cgroup` with the cgroup's `cpu.max` (read by `available_parallelism`, which
/// sizes both the runtime's thread pool, computed before the sandbox too, and hickory's
/// response cache); no glibc resolver files (`nsswitch.conf`, `gai.conf`: nothing calls
/// getaddrinfo; the API server is reached by IP).
const RUNTIME_READS: &[&str] = &["/var/run/secrets/kubernetes.io/serviceaccount"];

/// Why the self-sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SelfSandboxError {
    /// A path the server must keep reading cannot be expressed as a grant.
    #[error("cannot grant {path}: {reason}")]
    Path {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// Landlock refused.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

/// What the server needs after it sandboxed itself.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    /// Directories holding the serving certificate and key (granted read-only as directories).
    pub cert_dirs: Vec<PathBuf>,
    /// The port the server listens on: the only one it may bind.
    pub listen_port: u16,
}

/// A grantable form of `path`: absolute, symlinks in its directories resolved.
fn grantable(path: &Path) -> Result<PolicyPath, SelfSandboxError> {
    let fail = |reason: String| SelfSandboxError::Path {
        path: path.display().to_string(),
        reason,
    };
    let resolved = std::fs::canonicalize(path).map_err(|e| fail(e.to_string()))?;
    let text = resolved
        .to_str()
        .ok_or_else(|| fail("not valid UTF-8".to_owned()))?;
    PolicyPath::parse(text).map_err(|e| fail(e.to_string()))
}

/// The plan for `needs` on `kernel`.
pub fn plan(needs: &Needs, kernel: Kernel) -> Result<Plan, SelfSandboxError> {
    let mut requests = Vec::new();
    for dir in &needs.cert_dirs {
        requests.push(Request {
            path: grantable(dir)?,
            access: Access::Ro,
            source: Source::Program("certificate".to_owned()),
            optional: false,
        });
    }
    for path in RUNTIME_READS {
        if let Ok(path) = PolicyPath::parse(path) {
            requests.push(Request {
                path,
                access: Access::Ro,
                source: Source::Program("runtime".to_owned()),
                optional: true,
            });
        }
    }
    let port = Port::parse(&needs.listen_port.to_string()).map_err(|e| SelfSandboxError::Path {
        path: format!("port {}", needs.listen_port),
        reason: e.to_string(),
    })?;
    // Bind only our own port. Connect stays open: registries and the API server are reached
    // on ports that are only known per request.
    let tcp = Tcp {
        bind: Some(BTreeSet::from([port])),
        connect: None,
    };
    let policy = Policy {
        mode: Mode::BestEffort,
        profile: Profile::None,
        discover: false,
        ..Policy::default()
    };
    Ok(Plan::with_tcp(&policy, requests, tcp, kernel, &RealFs))
}

/// Applies the sandbox to the whole process (every thread: Landlock's restrict_self applies to
/// the calling thread, so call this before the runtime starts its worker threads) and returns
/// the startup line.
pub fn apply(needs: &Needs) -> Result<(Outcome, String), SelfSandboxError> {
    let plan = plan(needs, Kernel::detect())?;
    let outcome = ruleset::apply(&plan)?;
    let line = startup_line::render(
        &crate::component(),
        &plan,
        &Verdict::Applied(outcome),
        None,
        None,
    );
    Ok((outcome, line))
}

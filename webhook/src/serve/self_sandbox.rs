//! The server sandboxes itself once it has loaded its configuration, the way Ory Kratos' `kratos
//! serve` does: whatever a bug or an attacker makes it do afterwards, it can read only its
//! certificate directories and the few files name resolution and the Kubernetes client need
//! ([`RUNTIME_READS`]), write nothing on disk, and bind only its own port.
//!
//! **Every thread.** Landlock restricts the calling thread (and what it starts later); only ABI 8
//! restricts all threads at once (`LANDLOCK_RESTRICT_SELF_TSYNC`, which [`ruleset::apply`]
//! asks for). So the server restricts itself before it starts any thread (the Tokio runtime is
//! built afterwards), and [`apply`] counts the threads in `/proc/self/task` at that moment:
//! the count is written into the startup line (`"threads_at_restriction"`), and more than one
//! on a kernel without TSYNC is an error rather than a sandbox with holes.
//!
//! The certificate is granted as its *directory*: cert-manager renewals arrive by a `..data`
//! symlink swap inside it, and a grant on the file would pin the old inode.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use init_shim::compat::{self, Kernel};
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
    /// Other threads exist, and the kernel cannot restrict them (no TSYNC, ABI < 8).
    #[error(
        "{threads} threads exist at restriction time and this kernel (Landlock ABI {abi}) restricts only the calling one (restricting every thread needs ABI 8); the sandbox must be applied before any thread starts"
    )]
    Threads {
        /// How many threads `/proc/self/task` listed.
        threads: usize,
        /// The kernel's ABI.
        abi: i32,
    },
    /// `/proc/self/task` could not be read.
    #[error("cannot count this process's threads in /proc/self/task: {0}")]
    CountThreads(std::io::Error),
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

/// How many threads this process has now (entries of `/proc/self/task`).
pub fn threads() -> std::io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Whether restricting with `threads` threads running covers them all on `kernel`: with one
/// thread always; with more only where the kernel restricts every thread (TSYNC, ABI 8).
pub fn covers_every_thread(kernel: Kernel, threads: usize) -> bool {
    threads <= 1 || kernel.has(compat::TSYNC)
}

/// Applies the sandbox to the whole process and returns the startup line. Call it before the
/// runtime starts its worker threads: below ABI 8 Landlock's restrict_self applies to the
/// calling thread only, so other threads would stay unconfined (refused here, see
/// [`SelfSandboxError::Threads`]).
pub fn apply(needs: &Needs) -> Result<(Outcome, String), SelfSandboxError> {
    let kernel = Kernel::detect();
    let plan = plan(needs, kernel)?;
    let threads = threads().map_err(SelfSandboxError::CountThreads)?;
    if kernel.has_landlock() && !covers_every_thread(kernel, threads) {
        return Err(SelfSandboxError::Threads {
            threads,
            abi: kernel.version,
        });
    }
    let outcome = ruleset::apply(&plan)?;
    let line = startup_line::render(
        &crate::component(),
        &plan,
        &Verdict::Applied(outcome),
        None,
        None,
    );
    Ok((outcome, with_threads(&line, threads, kernel)))
}

/// The startup line with the thread count at restriction time and whether TSYNC restricted
/// them all, appended as two more keys.
fn with_threads(line: &str, threads: usize, kernel: Kernel) -> String {
    let Some(body) = line.strip_suffix('}') else {
        return line.to_owned();
    };
    format!(
        "{body},\"threads_at_restriction\":{threads},\"all_threads\":{}}}",
        kernel.has(compat::TSYNC)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_is_always_covered_more_only_with_tsync() {
        for abi in 0..=10 {
            let kernel = Kernel::with_version(abi);
            assert!(covers_every_thread(kernel, 1), "ABI {abi}");
            assert_eq!(covers_every_thread(kernel, 2), abi >= 8, "ABI {abi}");
        }
    }

    #[test]
    fn the_line_carries_the_thread_count() -> Result<(), serde_json::Error> {
        let line = with_threads(r#"{"landlock":"x 1","abi":7}"#, 1, Kernel::with_version(7));
        let json: serde_json::Value = serde_json::from_str(&line)?;
        assert_eq!(json["threads_at_restriction"], 1);
        assert_eq!(json["all_threads"], false);
        Ok(())
    }

    /// The webhook's own line on an ABI 2 kernel (Debian 12's 6.1): no claim of the bind port,
    /// which is in `dropped`.
    #[test]
    fn on_abi_2_the_line_claims_no_bind_port() -> Result<(), Box<dyn std::error::Error>> {
        let needs = Needs {
            cert_dirs: vec![],
            listen_port: 8443,
        };
        for (abi, claimed) in [(2, false), (3, false), (4, true), (7, true)] {
            let plan = plan(&needs, Kernel::with_version(abi))?;
            let line = startup_line::render(
                "w 1",
                &plan,
                &Verdict::Applied(Outcome::Enforced),
                None,
                None,
            );
            let json: serde_json::Value = serde_json::from_str(&line)?;
            let want = if claimed {
                serde_json::json!([8443])
            } else {
                serde_json::json!("unrestricted")
            };
            assert_eq!(json["tcp_bind"], want, "ABI {abi}: {line}");
            assert_eq!(
                json["dropped"].to_string().contains("TCP"),
                !claimed,
                "ABI {abi}: {line}"
            );
            assert_eq!(
                json["scoped"].as_array().map(Vec::len),
                Some(if abi >= 6 { 2 } else { 0 })
            );
        }
        Ok(())
    }
}

//! What the running kernel's Landlock can enforce, and what that means for a policy.
//!
//! Every decision about older kernels lives here. What each Landlock ABI adds, and what the
//! shim does with it:
//!
//! | ABI | Linux | adds                                            | the shim                                  |
//! |-----|-------|-------------------------------------------------|-------------------------------------------|
//! | 1   | 5.13  | fs: execute, read/write files, list dirs, create/remove | **required** for any sandbox        |
//! | 2   | 5.19  | fs: refer (rename/link across directories)      | **required** (`rw` promises renames)      |
//! | 3   | 6.2   | fs: truncate                                    | **required** (`ro` promises no truncation)|
//! | 4   | 6.7   | net: TCP bind, TCP connect                      | **required** when a port flag is given    |
//! | 5   | 6.10  | fs: ioctl on device files                       | hardening: used when present              |
//! | 6   | 6.12  | scopes: signals, abstract UNIX sockets          | **required** unless `--no-scope`          |
//! | 7   | 6.15  | audit logging flags                             | used when present: denials after exec are logged |
//! | 8   | 7.0   | restrict all threads                            | not needed (the shim is single-threaded)  |
//! | 9   | 7.1   | fs: connect to pathname UNIX sockets            | hardening: used when present              |
//! | 10  | 7.2   | net: UDP                                        | not used (the policy has no UDP vocabulary) |
//!
//! Besides Landlock, TCP rules need seccomp filters: Landlock's TCP rules do not cover MPTCP
//! sockets, so [`crate::tcp_guard`] denies creating them whenever a TCP rule is in force.
//!
//! "Required" rights are what the policy names: in `enforce` mode the shim refuses to run when
//! the kernel lacks one, in `best-effort` mode it runs and lists it as dropped. Hardening rights
//! are handled whenever the kernel has them and listed as not available otherwise; they never
//! make `enforce` refuse, because no policy word promises them.

use std::fmt;

use landlock::ABI;
use serde::Serialize;

use crate::seccomp;

/// The newest ABI this build knows; the ruleset asks for everything up to it, best effort.
pub const NEWEST_KNOWN: ABI = ABI::V10;
/// The ABI that makes the filesystem vocabulary (ro/rx/rw/rwx) mean what it says.
pub const FS_VOCABULARY: ABI = ABI::V3;
/// The ABI that brings TCP port rules.
pub const TCP: ABI = ABI::V4;
/// The ABI that brings signal and abstract-UNIX-socket scoping.
pub const SCOPES: ABI = ABI::V6;
/// The ABI that brings audit-log control (logging denials after `execve`).
pub const AUDIT_LOG: ABI = ABI::V7;

/// Hardening rights: added by later ABIs, used when present, never required.
const HARDENING: &[(&str, ABI)] = &[("ioctl_dev", ABI::V5), ("resolve_unix", ABI::V9)];

/// The Landlock support of a kernel, as the shim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel {
    /// The ABI version the kernel reports (0 when Landlock is missing or disabled).
    pub version: i32,
    /// Whether seccomp filters can be installed (the kernel has them and the `seccomp` syscall
    /// is not blocked by a container's own profile).
    pub seccomp_filter: bool,
}

impl Kernel {
    /// Asks the running kernel.
    pub fn detect() -> Self {
        // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only returns
        // the ABI version (or -1 with ENOSYS/EOPNOTSUPP); it reads no memory and creates no fd.
        // The landlock crate keeps its own detection private, and the startup line and enforce
        // decisions need the version before any ruleset exists.
        let version = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                1u32, // LANDLOCK_CREATE_RULESET_VERSION
            )
        };
        Self {
            seccomp_filter: seccomp::action_available(seccomp::Action::Errno(libc::EPERM)),
            ..Self::with_version(i32::try_from(version).unwrap_or(0).max(0))
        }
    }

    /// A kernel reporting `version` (0 = no Landlock), with seccomp filters; lets tests
    /// simulate old kernels.
    pub fn with_version(version: i32) -> Self {
        Self {
            version: version.max(0),
            seccomp_filter: true,
        }
    }

    /// The ABI, clamped to what this build knows.
    pub fn abi(self) -> ABI {
        ABI::from(self.version)
    }

    /// Whether Landlock is available at all.
    pub fn has_landlock(self) -> bool {
        self.version > 0
    }

    /// Whether the kernel has everything `abi` brings.
    pub fn has(self, abi: ABI) -> bool {
        self.version >= abi as i32
    }

    /// Hardening rights this kernel does not have, as `name (ABI n)`.
    pub fn missing_hardening(self) -> Vec<String> {
        HARDENING
            .iter()
            .filter(|(_, abi)| !self.has(*abi))
            .map(|(name, abi)| format!("{name} (ABI {})", *abi as i32))
            .collect()
    }
}

/// Something the policy asks for that this kernel cannot enforce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shortfall {
    /// What cannot be enforced, in the words of the policy.
    pub what: String,
    /// What it needs: `Landlock ABI N`, or `seccomp filters`.
    pub needs: String,
}

impl Shortfall {
    fn abi(what: &str, abi: ABI) -> Self {
        Self {
            what: what.to_owned(),
            needs: format!("Landlock ABI {}", abi as i32),
        }
    }
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (needs {})", self.what, self.needs)
    }
}

/// What a policy asks the kernel for, in the terms of the table above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// TCP ports are restricted (any port flag).
    pub tcp: bool,
    /// Signals and abstract UNIX sockets are scoped.
    pub scope: bool,
}

/// The requested things this kernel cannot enforce (empty when everything is enforceable).
pub fn shortfalls(kernel: Kernel, request: Request) -> Vec<Shortfall> {
    let mut out = Vec::new();
    let mut need = |wanted: bool, what: &str, abi: ABI| {
        if wanted && !kernel.has(abi) {
            out.push(Shortfall::abi(what, abi));
        }
    };
    if !kernel.has_landlock() {
        need(
            true,
            "filesystem restrictions (Landlock is not available in this kernel)",
            ABI::V1,
        );
    } else {
        need(true, "rename and link across directories (refer)", ABI::V2);
        need(true, "truncate restrictions", FS_VOCABULARY);
    }
    need(request.tcp, "TCP bind/connect port restrictions", TCP);
    need(
        request.scope,
        "signal and abstract UNIX socket scoping",
        SCOPES,
    );
    if request.tcp && kernel.has(TCP) && !(kernel.seccomp_filter && tcp_guard_known()) {
        out.push(Shortfall {
            what: "denying MPTCP sockets, which Landlock's TCP rules do not cover".to_owned(),
            needs: "seccomp filters".to_owned(),
        });
    }
    out
}

/// Whether this build knows the syscall numbers the TCP guard filters.
fn tcp_guard_known() -> bool {
    crate::tcp_guard::filter().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Request = Request {
        tcp: true,
        scope: true,
    };

    #[test]
    fn abi_7_enforces_every_requested_thing_but_lacks_resolve_unix() {
        let kernel = Kernel::with_version(7);
        assert!(shortfalls(kernel, ALL).is_empty());
        assert_eq!(kernel.missing_hardening(), ["resolve_unix (ABI 9)"]);
        assert_eq!(kernel.abi(), ABI::V7);
    }

    #[test]
    fn old_kernels_fall_short_in_the_documented_ways() {
        let abi3 = shortfalls(Kernel::with_version(3), ALL);
        let needs: Vec<_> = abi3.iter().map(|s| s.needs.as_str()).collect();
        assert_eq!(needs, ["Landlock ABI 4", "Landlock ABI 6"]);
        assert!(abi3[0].what.contains("TCP"));

        let abi3_fs_only = Request {
            tcp: false,
            scope: false,
        };
        assert!(shortfalls(Kernel::with_version(3), abi3_fs_only).is_empty());
        let abi2 = shortfalls(Kernel::with_version(2), abi3_fs_only);
        assert_eq!(abi2.len(), 1);
        assert!(abi2[0].to_string().contains("truncate"), "{}", abi2[0]);
        assert_eq!(shortfalls(Kernel::with_version(1), abi3_fs_only).len(), 2);
    }

    #[test]
    fn no_landlock_falls_short_of_everything() {
        let none = shortfalls(Kernel::with_version(0), ALL);
        assert!(none[0].what.contains("not available"));
        assert_eq!(none.len(), 3);
        assert!(!Kernel::with_version(-38).has_landlock());
    }

    #[test]
    fn tcp_rules_without_seccomp_filters_fall_short_of_the_mptcp_guard() {
        let kernel = Kernel {
            seccomp_filter: false,
            ..Kernel::with_version(7)
        };
        let short = shortfalls(kernel, ALL);
        assert_eq!(short.len(), 1, "{short:?}");
        assert_eq!(
            short[0].to_string(),
            "denying MPTCP sockets, which Landlock's TCP rules do not cover (needs seccomp filters)"
        );
        let no_tcp = Request {
            tcp: false,
            scope: true,
        };
        assert!(shortfalls(kernel, no_tcp).is_empty());
    }

    #[test]
    fn newer_kernels_than_this_build_clamp_to_the_newest_known_abi() {
        let kernel = Kernel::with_version(42);
        assert_eq!(kernel.abi(), NEWEST_KNOWN);
        assert!(kernel.missing_hardening().is_empty());
    }

    #[test]
    fn detects_this_machines_kernel() {
        // The project's CI machines run kernels with Landlock; a zero here means the tests below
        // this one cannot show anything, so say so plainly.
        let kernel = Kernel::detect();
        assert!(
            kernel.has_landlock(),
            "this kernel has no Landlock (enable CONFIG_SECURITY_LANDLOCK and lsm=landlock)"
        );
        assert!(kernel.seccomp_filter, "this kernel has no seccomp filters");
    }
}

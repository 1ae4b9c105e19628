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
//! | 4   | 6.7   | net: TCP bind, TCP connect                      | **required** when a TCP port flag is given |
//! | 5   | 6.10  | fs: ioctl on device files                       | hardening: used when present              |
//! | 6   | 6.12  | scopes: signals, abstract UNIX sockets          | hardening by default (`--scope available`); **required** with `--scope required`; not asked with `--scope off` |
//! | 7   | 6.15  | audit logging flags                             | used when present: denials after exec are logged |
//! | 8   | 7.0   | restrict all threads (TSYNC)                    | used when present (the webhook's self-sandbox); the shim is single-threaded |
//! | 9   | 7.1   | fs: connect to pathname UNIX sockets            | hardening: used when present (`rw` grants it) |
//! | 10  | 7.2   | net: UDP bind, UDP connect/send                 | **required** when a UDP port flag is given |
//!
//! What `enforce` promises: every path and port rule asked for is enforced (ABI 3 for the
//! filesystem vocabulary, 4 for TCP, 10 for UDP), or the program does not run. Hardening is
//! applied where the kernel has it and listed in `dropped` where it has not; it never makes
//! `enforce` refuse, except scoping with `--scope required`. [`assess`] is the one place this
//! is decided: a pure function of the request and the ABI.
//!
//! Besides Landlock, port rules need seccomp filters: Landlock's TCP rules do not cover MPTCP
//! sockets (nor its UDP rules UDP-Lite), so [`crate::tcp_guard`] denies creating them whenever a
//! port rule is in force.
//!
//! "Required" rights are what the policy names: in `enforce` mode the shim refuses to run when
//! the kernel lacks one, in `best-effort` mode it runs and lists it as dropped. Hardening rights
//! are handled whenever the kernel has them and listed as not available otherwise; they never
//! make `enforce` refuse, because no policy word promises them.

use std::fmt;

use landlock::ABI;
use serde::Serialize;

use crate::seccomp;
use crate::values::Scoping;

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
/// The ABI that restricts every thread of the process at once (`LANDLOCK_RESTRICT_SELF_TSYNC`).
pub const TSYNC: ABI = ABI::V8;
/// The ABI that brings rules on connecting to pathname UNIX sockets (`resolve_unix`).
pub const RESOLVE_UNIX: ABI = ABI::V9;
/// The ABI that brings UDP port rules.
pub const UDP: ABI = ABI::V10;

/// Hardening rights: added by later ABIs, used when present, never required.
const HARDENING: &[(&str, ABI)] = &[
    ("device ioctl restrictions (ioctl_dev)", ABI::V5),
    (
        "connecting to pathname UNIX sockets only under write grants (resolve_unix)",
        RESOLVE_UNIX,
    ),
];

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

    /// Hardening rights this kernel does not have (listed as dropped, never refused).
    pub fn missing_hardening(self) -> Vec<Shortfall> {
        HARDENING
            .iter()
            .filter(|(_, abi)| !self.has(*abi))
            .map(|(name, abi)| Shortfall::abi(name, *abi))
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
    /// TCP ports are restricted (any TCP port flag).
    pub tcp: bool,
    /// UDP ports are restricted (any UDP port flag).
    pub udp: bool,
    /// Whether signals and abstract UNIX sockets are scoped, and whether it is required.
    pub scope: Scoping,
}

/// What is in force for a request on a kernel: what the startup line may claim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InForce {
    /// Landlock restricts the filesystem at all.
    pub landlock: bool,
    /// The TCP port rules are enforced.
    pub tcp: bool,
    /// The UDP port rules are enforced.
    pub udp: bool,
    /// Signals and abstract UNIX sockets are scoped.
    pub scope: bool,
}

/// What a kernel makes of a request ([`assess`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// What is enforced.
    pub in_force: InForce,
    /// What the policy promises and the kernel cannot enforce: `enforce` refuses, `best-effort`
    /// runs and lists it as dropped.
    pub shortfalls: Vec<Shortfall>,
    /// Hardening asked for (or implied) that the kernel lacks: listed as dropped, never refused.
    pub hardening: Vec<Shortfall>,
}

impl Assessment {
    /// Everything requested and not enforced, one sentence each: the startup line's `dropped`.
    pub fn dropped(&self) -> impl Iterator<Item = String> + '_ {
        self.shortfalls
            .iter()
            .chain(&self.hardening)
            .map(ToString::to_string)
    }
}

/// What `kernel` enforces of `request`, and what it does not: a pure function of the two,
/// which the plan, the ruleset and the startup line all follow.
pub fn assess(kernel: Kernel, request: Request) -> Assessment {
    let mut shortfalls = Vec::new();
    let mut need = |wanted: bool, what: &str, abi: ABI| {
        if wanted && !kernel.has(abi) {
            shortfalls.push(Shortfall::abi(what, abi));
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
    need(request.udp, "UDP bind/connect/send port restrictions", UDP);
    need(
        request.scope == Scoping::Required,
        "signal and abstract UNIX socket scoping (--scope required)",
        SCOPES,
    );
    let in_force = InForce {
        landlock: kernel.has_landlock(),
        tcp: request.tcp && kernel.has(TCP),
        udp: request.udp && kernel.has(UDP),
        scope: request.scope.wanted() && kernel.has(SCOPES),
    };
    if (in_force.tcp || in_force.udp) && !(kernel.seccomp_filter && tcp_guard_known()) {
        shortfalls.push(Shortfall {
            what: "denying MPTCP and UDP-Lite sockets, which Landlock's port rules do not cover"
                .to_owned(),
            needs: "seccomp filters".to_owned(),
        });
    }
    let mut hardening = Vec::new();
    if request.scope == Scoping::Available && !kernel.has(SCOPES) {
        hardening.push(Shortfall::abi(
            "signal and abstract UNIX socket scoping",
            SCOPES,
        ));
    }
    if kernel.has_landlock() {
        hardening.extend(kernel.missing_hardening());
    }
    Assessment {
        in_force,
        shortfalls,
        hardening,
    }
}

/// The requested things this kernel cannot enforce and `enforce` refuses over (empty when
/// everything promised is enforceable); see [`assess`].
pub fn shortfalls(kernel: Kernel, request: Request) -> Vec<Shortfall> {
    assess(kernel, request).shortfalls
}

/// Whether this build knows the syscall numbers the TCP guard filters.
fn tcp_guard_known() -> bool {
    crate::tcp_guard::filter(false).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Request = Request {
        tcp: true,
        udp: false,
        scope: Scoping::Available,
    };

    fn needs(short: &[Shortfall]) -> Vec<&str> {
        short.iter().map(|s| s.needs.as_str()).collect()
    }

    #[test]
    fn abi_7_enforces_every_requested_thing_but_lacks_resolve_unix() {
        let kernel = Kernel::with_version(7);
        assert!(shortfalls(kernel, ALL).is_empty());
        let hardening = kernel.missing_hardening();
        assert_eq!(needs(&hardening), ["Landlock ABI 9"]);
        assert!(hardening[0].what.contains("resolve_unix"));
        assert_eq!(kernel.abi(), ABI::V7);
    }

    #[test]
    fn old_kernels_fall_short_in_the_documented_ways() {
        let abi3 = shortfalls(Kernel::with_version(3), ALL);
        assert_eq!(needs(&abi3), ["Landlock ABI 4"]);
        assert!(abi3[0].what.contains("TCP"));

        let abi3_fs_only = Request {
            tcp: false,
            udp: false,
            scope: Scoping::Off,
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
        assert_eq!(none.len(), 2, "{none:?}");
        assert!(!Kernel::with_version(-38).has_landlock());
    }

    #[test]
    fn port_rules_without_seccomp_filters_fall_short_of_the_guard() {
        let kernel = Kernel {
            seccomp_filter: false,
            ..Kernel::with_version(7)
        };
        let short = shortfalls(kernel, ALL);
        assert_eq!(short.len(), 1, "{short:?}");
        assert_eq!(
            short[0].to_string(),
            "denying MPTCP and UDP-Lite sockets, which Landlock's port rules do not cover (needs seccomp filters)"
        );
        let no_tcp = Request { tcp: false, ..ALL };
        assert!(shortfalls(kernel, no_tcp).is_empty());
    }

    #[test]
    fn newer_kernels_than_this_build_clamp_to_the_newest_known_abi() {
        let kernel = Kernel::with_version(42);
        assert_eq!(kernel.abi(), NEWEST_KNOWN);
        assert!(kernel.missing_hardening().is_empty());
    }

    /// The startup line's claims, ABI by ABI: with everything asked for, what is in force and
    /// what is dropped (and whether `enforce` refuses) follow the table in the module docs.
    #[test]
    fn in_force_and_dropped_for_every_abi() {
        let everything = Request {
            tcp: true,
            udp: true,
            scope: Scoping::Available,
        };
        for abi in 0..=10 {
            let kernel = Kernel::with_version(abi);
            let assessed = assess(kernel, everything);
            let dropped: Vec<String> = assessed.dropped().collect();
            let has = |text: &str| dropped.iter().any(|d| d.contains(text));
            let in_force = assessed.in_force;
            assert_eq!(in_force.landlock, abi >= 1, "ABI {abi}");
            assert_eq!(in_force.tcp, abi >= 4, "ABI {abi}");
            assert_eq!(in_force.udp, abi >= 10, "ABI {abi}");
            assert_eq!(in_force.scope, abi >= 6, "ABI {abi}");
            // Each thing is either in force or dropped, never both, never neither.
            assert_eq!(has("TCP"), !in_force.tcp, "ABI {abi}: {dropped:?}");
            assert_eq!(has("UDP bind"), !in_force.udp, "ABI {abi}: {dropped:?}");
            assert_eq!(has("scoping"), !in_force.scope, "ABI {abi}: {dropped:?}");
            if abi >= 1 {
                assert_eq!(has("(refer)"), abi < 2, "ABI {abi}: {dropped:?}");
                assert_eq!(has("truncate"), abi < 3, "ABI {abi}: {dropped:?}");
                assert_eq!(has("ioctl_dev"), abi < 5, "ABI {abi}: {dropped:?}");
                assert_eq!(has("resolve_unix"), abi < 9, "ABI {abi}: {dropped:?}");
            } else {
                assert!(has("Landlock is not available"), "{dropped:?}");
            }
            // Scoping is hardening by default: it never makes enforce refuse.
            assert!(
                !assessed
                    .shortfalls
                    .iter()
                    .any(|s| s.what.contains("scoping")),
                "ABI {abi}"
            );
            // enforce refuses exactly when a path or port rule cannot be enforced.
            assert_eq!(assessed.shortfalls.is_empty(), abi >= 10, "ABI {abi}");
            let without_udp = assess(
                kernel,
                Request {
                    udp: false,
                    ..everything
                },
            );
            assert_eq!(without_udp.shortfalls.is_empty(), abi >= 4, "ABI {abi}");
            let fs_only = assess(
                kernel,
                Request {
                    tcp: false,
                    udp: false,
                    ..everything
                },
            );
            assert_eq!(fs_only.shortfalls.is_empty(), abi >= 3, "ABI {abi}");
        }
    }

    #[test]
    fn required_scoping_is_a_shortfall_below_abi_6_and_off_is_never_dropped() {
        let required = Request {
            tcp: false,
            udp: false,
            scope: Scoping::Required,
        };
        for abi in 3..=5 {
            let short = shortfalls(Kernel::with_version(abi), required);
            assert_eq!(needs(&short), ["Landlock ABI 6"], "ABI {abi}");
            assert!(short[0].what.contains("--scope required"), "{}", short[0]);
        }
        assert!(shortfalls(Kernel::with_version(6), required).is_empty());
        let off = Request {
            scope: Scoping::Off,
            ..required
        };
        for abi in 0..=10 {
            let assessed = assess(Kernel::with_version(abi), off);
            assert!(!assessed.in_force.scope);
            assert!(
                !assessed.dropped().any(|d| d.contains("scoping")),
                "ABI {abi}"
            );
        }
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

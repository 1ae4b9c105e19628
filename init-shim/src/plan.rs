//! The plan: every path the sandbox will grant, with its merged access set and where each grant
//! came from, what is skipped and why, and what the kernel cannot enforce.
//!
//! Planning reads the file system (does a path exist, is it a directory) but changes nothing;
//! applying the plan is the ruleset module's job. The lookup opens each path (`O_PATH`) and the
//! plan keeps it open, so the rule is added from the same open file: one lookup by name per
//! path, on every program start. Keeping the two apart lets `dry-run` print
//! exactly what `enforce` would do, and lets tests plan against simulated kernels.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::access::Access;
use crate::compat::{self, InForce, Kernel, Shortfall};
use crate::discovery::Findings;
use crate::policy::{BroadGrant, Covers, Policy};
use crate::profiles::{ProcView, Profile};
use crate::values::{Mode, PolicyPath, Port, Scoping};

/// Where a grant came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path of the base profile.
    Profile(Profile),
    /// A path flag (`--ro` ...), which is where the webhook's annotations and static discovery
    /// arrive.
    Flag,
    /// A volume the shim discovered in its mount table.
    Discovered(String),
    /// A path the embedding program (e.g. the webhook sandboxing itself) asked for.
    Program(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Profile(profile) => write!(f, "profile:{profile}"),
            Source::Flag => f.write_str("flag"),
            Source::Discovered(what) => write!(f, "discovered:{what}"),
            Source::Program(what) => write!(f, "{what}"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One path the plan was asked to grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The path.
    pub path: PolicyPath,
    /// The access set.
    pub access: Access,
    /// Where the request came from.
    pub source: Source,
    /// Whether a missing path is normal (profile paths) rather than an error.
    pub optional: bool,
}

/// The requests a shim invocation makes: profile paths (optional; `/proc/self` as `procs`
/// says), flag paths, discovered volumes (both required).
pub fn requests(policy: &Policy, findings: &Findings, procs: ProcView) -> Vec<Request> {
    let profile = policy
        .profile
        .paths()
        .into_iter()
        .filter_map(|(path, access)| {
            PolicyPath::parse(procs.profile_path(path))
                .ok()
                .map(|path| Request {
                    path,
                    access,
                    source: Source::Profile(policy.profile),
                    optional: true,
                })
        });
    let flags = policy.paths.iter().map(|grant| Request {
        path: grant.path.clone(),
        access: grant.access,
        source: Source::Flag,
        optional: false,
    });
    let discovered = findings.volumes.iter().map(|found| Request {
        path: found.path.clone(),
        access: Access::Ro,
        source: Source::Discovered(found.what.clone()),
        optional: false,
    });
    profile.chain(flags).chain(discovered).collect()
}

/// Whether a granted path is a directory (its grant covers everything beneath) or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A directory.
    Dir,
    /// Anything else (regular file, device, socket...).
    File,
}

impl Target {
    fn of(metadata: &std::fs::Metadata) -> Self {
        if metadata.is_dir() {
            Target::Dir
        } else {
            Target::File
        }
    }
}

/// A path the file system has: what it is, and the path opened, when the lookup opened it.
#[derive(Debug)]
pub struct Found {
    /// Directory or file.
    pub target: Target,
    /// The path opened with `O_PATH`, for the rule.
    pub fd: Option<OwnedFd>,
}

/// What the file system says about a path.
pub trait Stat {
    /// Looks `path` up, following symlinks, as the path's rule will.
    fn look_up(&self, path: &Path) -> io::Result<Found>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl Stat for RealFs {
    /// Opens the path with `O_PATH` ([`crate::path_fd`]: it reads nothing, never blocks and
    /// needs no permission on the file itself, like a Landlock rule) and asks the open file what
    /// it is: one lookup by name serves both the plan and the rule.
    fn look_up(&self, path: &Path) -> io::Result<Found> {
        match crate::path_fd::open(path) {
            Ok(fd) => {
                let file = std::fs::File::from(fd);
                Ok(Found {
                    target: Target::of(&file.metadata()?),
                    fd: Some(file.into()),
                })
            }
            // Out of descriptors: the path is still there; the rule opens it again later.
            Err(err) if matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                Ok(Found {
                    target: Target::of(&std::fs::metadata(path)?),
                    fd: None,
                })
            }
            Err(err) => Err(err),
        }
    }
}

/// How many granted paths a plan keeps open for their rules; the rest are opened again, one at
/// a time, when the rules are added. Bounds the descriptors a policy with many paths holds (they
/// are close-on-exec: the program never sees them).
pub const MAX_HELD: usize = 256;

/// The open file a grant was looked up through (see [`Grant::opened`]). Grants compare equal
/// whatever descriptors they hold: the descriptor is how the grant names its path, not what it
/// grants.
#[derive(Debug, Clone, Default)]
pub struct Opened(Option<Arc<OwnedFd>>);

impl Opened {
    /// The descriptor, if the plan kept one.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.0.as_deref().map(AsFd::as_fd)
    }
}

impl PartialEq for Opened {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Opened {}

/// A path the plan grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The path.
    pub path: PolicyPath,
    /// The union of every access set requested for it.
    pub access: Access,
    /// Every source that asked for it.
    pub sources: Vec<Source>,
    /// Directory or file.
    pub target: Target,
    /// The path, still open from the plan's lookup (up to [`MAX_HELD`] grants), so the rule
    /// needs no second lookup.
    #[serde(skip)]
    pub opened: Opened,
}

impl Grant {
    /// Adds another request for the same path: the union of the access sets, every source once.
    fn merge(&mut self, request: Request) {
        self.access = self.access.union(request.access);
        if !self.sources.contains(&request.source) {
            self.sources.push(request.source);
        }
    }
}

/// A requested path the plan does not grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The path.
    pub path: PolicyPath,
    /// The access set that was requested.
    pub access: Access,
    /// Who asked for it.
    pub source: Source,
    /// Why it is skipped (the OS error).
    pub reason: String,
}

/// Port rules of one protocol: `None` leaves that direction unrestricted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tcp {
    /// Ports that may be bound, when binding is restricted.
    pub bind: Option<BTreeSet<Port>>,
    /// Ports that may be connected to, when connecting is restricted.
    pub connect: Option<BTreeSet<Port>>,
}

impl Tcp {
    /// Whether any TCP right is restricted.
    pub fn restricted(&self) -> bool {
        self.bind.is_some() || self.connect.is_some()
    }

    /// Both directions restricted to these ports when any is listed, else unrestricted: what
    /// the port flags of one protocol mean.
    fn from_flags(bind: &BTreeSet<Port>, connect: &BTreeSet<Port>) -> Self {
        if bind.is_empty() && connect.is_empty() {
            Self::default()
        } else {
            Self {
                bind: Some(bind.clone()),
                connect: Some(connect.clone()),
            }
        }
    }
}

/// UDP port rules (`connect` covers connect and sendto); the same shape as TCP's.
pub type Udp = Tcp;

impl Udp {
    /// What the UDP port flags mean: each direction is restricted when its flag is given, apart
    /// from the other (unlike TCP). A server listed with `--bind-udp 53` answers clients on
    /// whatever port they sent from, which a send rule could not list; a client listed with
    /// `--connect-udp 53` needs no bind rule.
    pub fn per_direction(bind: &BTreeSet<Port>, connect: &BTreeSet<Port>) -> Self {
        Self {
            bind: (!bind.is_empty()).then(|| bind.clone()),
            connect: (!connect.is_empty()).then(|| connect.clone()),
        }
    }
}

/// Everything the sandbox will do, before it does it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The kernel planned for.
    pub kernel: Kernel,
    /// The mode.
    pub mode: Mode,
    /// The base profile.
    pub profile: Profile,
    /// Granted paths, sorted by path.
    pub grants: Vec<Grant>,
    /// Optional (profile) paths that are not there: normal, listed for completeness.
    pub absent: Vec<Skipped>,
    /// Required paths that cannot be granted: dropped in best-effort, refused in enforce.
    pub missing: Vec<Skipped>,
    /// TCP rules.
    pub tcp: Tcp,
    /// Whether signals and abstract UNIX sockets are scoped: asked for and the kernel has it.
    pub scope: bool,
    /// Requested things this kernel cannot enforce (`enforce` refuses them).
    pub shortfalls: Vec<Shortfall>,
    /// Whether the TCP guard's seccomp filter goes with the TCP rules (see [`crate::tcp_guard`]):
    /// when TCP rules are in force and the kernel can filter syscalls.
    pub tcp_guard: bool,
    /// UDP rules (ABI 10).
    pub udp: Udp,
    /// What was asked of scoping (`scope` says whether it is applied).
    pub scoping: Scoping,
    /// What is in force, as [`compat::assess`] decided: the startup line claims only this.
    pub in_force: InForce,
    /// Hardening the kernel lacks: listed as dropped, never refused.
    pub hardening: Vec<Shortfall>,
}

impl Plan {
    /// Plans `requests` for `kernel` with the policy's mode, profile, ports and scoping.
    pub fn new(policy: &Policy, requests: Vec<Request>, kernel: Kernel, fs: &impl Stat) -> Self {
        let tcp = Tcp::from_flags(&policy.bind_tcp, &policy.connect_tcp);
        Self::with_tcp(policy, requests, tcp, kernel, fs)
    }

    /// Like [`Plan::new`], with TCP rules given directly (the policy's flags always restrict bind
    /// and connect together; a program sandboxing itself may restrict only one).
    pub fn with_tcp(
        policy: &Policy,
        requests: Vec<Request>,
        tcp: Tcp,
        kernel: Kernel,
        fs: &impl Stat,
    ) -> Self {
        let mut grants: BTreeMap<PolicyPath, Grant> = BTreeMap::new();
        let mut absent = Vec::new();
        let mut missing = Vec::new();
        let mut held = 0;
        for request in requests {
            // A path asked for again is already looked up: merge the request.
            if let Some(grant) = grants.get_mut(&request.path) {
                grant.merge(request);
                continue;
            }
            let found = match fs.look_up(request.path.as_path()) {
                Ok(found) => found,
                Err(err) => {
                    let skipped = Skipped {
                        path: request.path,
                        access: request.access,
                        source: request.source,
                        reason: err.to_string(),
                    };
                    if request.optional {
                        absent.push(skipped);
                    } else {
                        missing.push(skipped);
                    }
                    continue;
                }
            };
            let fd = found.fd.filter(|_| held < MAX_HELD);
            held += usize::from(fd.is_some());
            grants.insert(
                request.path.clone(),
                Grant {
                    path: request.path,
                    access: request.access,
                    sources: vec![request.source],
                    target: found.target,
                    opened: Opened(fd.map(Arc::new)),
                },
            );
        }
        let udp = Udp::per_direction(&policy.bind_udp, &policy.connect_udp);
        let assessed = compat::assess(
            kernel,
            compat::Request {
                tcp: tcp.restricted(),
                udp: udp.restricted(),
                scope: policy.scope,
            },
        );
        let in_force = assessed.in_force;
        let tcp_guard = (in_force.tcp || in_force.udp)
            && kernel.seccomp_filter
            && crate::tcp_guard::filter(in_force.udp).is_some();
        Self {
            kernel,
            mode: policy.mode,
            profile: policy.profile,
            grants: grants.into_values().collect(),
            absent,
            missing,
            tcp,
            scope: in_force.scope,
            shortfalls: assessed.shortfalls,
            tcp_guard,
            udp,
            scoping: policy.scope,
            in_force,
            hardening: assessed.hardening,
        }
    }

    /// Why `enforce` must refuse this plan, if it must: every requested thing the kernel cannot
    /// enforce and every required path that is not there.
    pub fn refusal_reasons(&self) -> Vec<String> {
        self.shortfalls
            .iter()
            .map(|s| format!("cannot enforce {s}"))
            .chain(
                self.missing
                    .iter()
                    .map(|m| format!("cannot grant {} ({}): {}", m.path, m.source, m.reason)),
            )
            .collect()
    }

    /// The flag grants of `policy` that cover a broad directory ([`crate::values::BROAD_DIRS`])
    /// although their path does not say so (a symlink to `/`, a bind mount of `/etc`), as the
    /// file system resolves them now: what only the shim, on the container's file system, can
    /// see. The grants [`Policy::broad_grants`] names already are left out.
    pub fn hidden_broad<'a>(&self, policy: &'a Policy) -> Vec<BroadGrant<'a>> {
        use std::os::unix::fs::MetadataExt;
        /// A file's identity: device and inode.
        type Identity = Option<(u64, u64)>;
        let identity =
            |path: &Path| -> Identity { std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino())) };
        let mut broad_dirs: Option<Vec<(&str, Identity)>> = None;
        let mut out = Vec::new();
        for grant in &policy.paths {
            let planned = self.grants.iter().find(|g| g.path == grant.path);
            if grant.path.is_broad() || planned.is_none_or(|g| g.target != Target::Dir) {
                continue;
            }
            let Some(id) = identity(grant.path.as_path()) else {
                continue;
            };
            let dirs = broad_dirs.get_or_insert_with(|| {
                crate::values::BROAD_DIRS
                    .iter()
                    .map(|dir| (*dir, identity(Path::new(dir))))
                    .collect()
            });
            if let Some((dir, _)) = dirs.iter().find(|(_, d)| *d == Some(id))
                && let Ok(dir) = PolicyPath::parse(dir)
            {
                out.push(BroadGrant {
                    grant,
                    covers: Covers::Dir(dir),
                });
            }
        }
        out
    }

    /// Whether everything requested will be enforced.
    pub fn is_complete(&self) -> bool {
        self.shortfalls.is_empty() && self.missing.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::Discovered;
    use std::collections::HashMap;

    struct Fake(HashMap<&'static str, Target>);

    impl Stat for Fake {
        fn look_up(&self, path: &Path) -> io::Result<Found> {
            path.to_str()
                .and_then(|p| self.0.get(p).copied())
                .map(|target| Found { target, fd: None })
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
    }

    fn path(p: &str) -> PolicyPath {
        PolicyPath::parse(p).expect("valid test path")
    }

    fn fs() -> Fake {
        Fake(HashMap::from([
            ("/usr", Target::Dir),
            ("/tmp", Target::Dir),
            ("/dev/null", Target::File),
            ("/data", Target::Dir),
            ("/etc/app", Target::Dir),
        ]))
    }

    #[test]
    fn merges_duplicate_paths_into_the_union_with_every_source() {
        let mut policy = Policy {
            profile: Profile::Minimal,
            ..Policy::default()
        };
        policy.grant(path("/tmp"), Access::Rx);
        let findings = Findings {
            volumes: vec![Discovered {
                path: path("/etc/app"),
                what: "configmap".into(),
            }],
            passed: vec![],
        };
        let plan = Plan::new(
            &policy,
            requests(&policy, &findings, ProcView::Shared),
            Kernel::with_version(7),
            &fs(),
        );
        let tmp = plan
            .grants
            .iter()
            .find(|g| g.path.as_str() == "/tmp")
            .expect("/tmp granted");
        assert_eq!(tmp.access, Access::Rwx);
        assert_eq!(
            tmp.sources,
            [Source::Profile(Profile::Minimal), Source::Flag]
        );
        let app = plan
            .grants
            .iter()
            .find(|g| g.path.as_str() == "/etc/app")
            .expect("granted");
        assert_eq!(app.sources[0].to_string(), "discovered:configmap");
        assert_eq!(app.access, Access::Ro);
        let null = plan
            .grants
            .iter()
            .find(|g| g.path.as_str() == "/dev/null")
            .expect("granted");
        assert_eq!(null.target, Target::File);
        assert!(plan.is_complete(), "{:?}", plan.refusal_reasons());
    }

    #[test]
    fn absent_profile_paths_are_normal_but_missing_flag_paths_are_not() {
        let mut policy = Policy::default();
        policy.grant(path("/nonexistent"), Access::Ro);
        let plan = Plan::new(
            &policy,
            requests(&policy, &Findings::default(), ProcView::Shared),
            Kernel::with_version(7),
            &fs(),
        );
        assert!(
            plan.absent
                .iter()
                .any(|a| a.path.as_str() == "/etc/ssl/certs")
        );
        assert_eq!(plan.missing.len(), 1);
        assert_eq!(plan.missing[0].source, Source::Flag);
        let reasons = plan.refusal_reasons();
        assert_eq!(reasons.len(), 1);
        assert!(
            reasons[0].starts_with("cannot grant /nonexistent (flag): "),
            "{reasons:?}"
        );
    }

    #[test]
    fn ports_on_an_abi_3_kernel_are_a_shortfall_enforce_refuses() -> Result<(), crate::ValueError> {
        let mut policy = Policy {
            profile: Profile::None,
            mode: Mode::Enforce,
            ..Policy::default()
        };
        policy.bind_tcp.insert(Port::parse("8080")?);
        let plan = Plan::new(&policy, vec![], Kernel::with_version(3), &fs());
        assert_eq!(plan.tcp.bind.as_ref().map(BTreeSet::len), Some(1));
        assert_eq!(plan.tcp.connect.as_ref().map(BTreeSet::len), Some(0));
        let reasons = plan.refusal_reasons();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("TCP") && r.contains("ABI 4")),
            "{reasons:?}"
        );
        // Scoping is hardening unless required: ABI 3 lacks it, enforce does not refuse over it.
        assert!(
            !reasons.iter().any(|r| r.contains("scoping")),
            "{reasons:?}"
        );

        let plan = Plan::new(
            &Policy {
                scope: Scoping::Off,
                ..policy.clone()
            },
            vec![],
            Kernel::with_version(4),
            &fs(),
        );
        assert!(plan.is_complete(), "{:?}", plan.refusal_reasons());
        Ok(())
    }

    #[test]
    fn a_kernel_without_landlock_is_refused_in_enforce_and_tolerated_in_best_effort() {
        let enforce = Policy {
            profile: Profile::None,
            mode: Mode::Enforce,
            ..Policy::default()
        };
        let plan = Plan::new(&enforce, vec![], Kernel::with_version(0), &fs());
        assert!(!plan.is_complete());
        let reasons = plan.refusal_reasons();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("Landlock is not available")),
            "{reasons:?}"
        );
        let best_effort = Policy {
            mode: Mode::BestEffort,
            ..enforce
        };
        let plan = Plan::new(&best_effort, vec![], Kernel::with_version(0), &fs());
        assert_eq!(plan.mode, Mode::BestEffort);
        assert!(
            !plan.refusal_reasons().is_empty(),
            "best-effort reports the shortfall too"
        );
    }

    #[test]
    fn tcp_is_unrestricted_without_port_flags() {
        let plan = Plan::new(&Policy::default(), vec![], Kernel::with_version(7), &fs());
        assert!(!plan.tcp.restricted());
        assert!(!plan.tcp_guard, "no TCP rule, no guard");
    }

    #[test]
    fn tcp_rules_bring_the_mptcp_guard_where_they_are_enforced() -> Result<(), crate::ValueError> {
        let mut policy = Policy::default();
        policy.connect_tcp.insert(Port::parse("5432")?);
        let plan = Plan::new(&policy, vec![], Kernel::with_version(7), &fs());
        assert!(plan.tcp_guard);
        // No TCP rules on an ABI 3 kernel, so nothing to guard (the TCP shortfall is reported).
        let plan = Plan::new(&policy, vec![], Kernel::with_version(3), &fs());
        assert!(!plan.tcp_guard);
        Ok(())
    }

    /// Ubuntu 24.04 (ABI 4) and the ABIs around it: enforce runs every path and port rule it
    /// can enforce there, with scoping reported as dropped, unless scoping is required.
    #[test]
    fn enforce_runs_on_abi_3_to_5_with_scoping_dropped_unless_required()
    -> Result<(), crate::ValueError> {
        let mut policy = Policy {
            mode: Mode::Enforce,
            ..Policy::default()
        };
        policy.grant(path("/data"), Access::Rw);
        for abi in 3..=5 {
            let mut asked = policy.clone();
            if abi >= 4 {
                asked.connect_tcp.insert(Port::parse("443")?);
            }
            let plan = Plan::new(&asked, vec![], Kernel::with_version(abi), &fs());
            assert!(
                plan.is_complete(),
                "ABI {abi}: {:?}",
                plan.refusal_reasons()
            );
            assert!(!plan.scope, "ABI {abi} cannot scope");
            assert_eq!(plan.in_force.tcp, abi >= 4);
            let dropped = crate::startup_line::dropped(&plan);
            assert!(
                dropped
                    .iter()
                    .any(|d| d == "signal and abstract UNIX socket scoping (needs Landlock ABI 6)"),
                "ABI {abi}: {dropped:?}"
            );

            let required = Plan::new(
                &Policy {
                    scope: Scoping::Required,
                    ..asked.clone()
                },
                vec![],
                Kernel::with_version(abi),
                &fs(),
            );
            assert_eq!(
                required.refusal_reasons(),
                [
                    "cannot enforce signal and abstract UNIX socket scoping (--scope required) (needs Landlock ABI 6)"
                ],
                "ABI {abi}"
            );
        }
        let six = Plan::new(
            &Policy {
                scope: Scoping::Required,
                ..policy.clone()
            },
            vec![],
            Kernel::with_version(6),
            &fs(),
        );
        assert!(six.is_complete() && six.scope);
        // Below ABI 3 the filesystem vocabulary itself is not enforceable: enforce refuses.
        let two = Plan::new(&policy, vec![], Kernel::with_version(2), &fs());
        assert!(
            two.refusal_reasons()
                .iter()
                .any(|r| r.contains("truncate") && r.contains("ABI 3")),
            "{:?}",
            two.refusal_reasons()
        );
        Ok(())
    }

    /// UDP rules need ABI 10: on this machine's ABI 7, enforce refuses naming it and best effort
    /// drops the UDP rules (and claims none).
    #[test]
    fn udp_rules_on_abi_7_are_refused_by_enforce_and_dropped_by_best_effort()
    -> Result<(), crate::ValueError> {
        let mut policy = Policy {
            mode: Mode::Enforce,
            ..Policy::default()
        };
        policy.connect_udp.insert(Port::parse("53")?);
        let plan = Plan::new(&policy, vec![], Kernel::with_version(7), &fs());
        assert_eq!(
            plan.refusal_reasons(),
            ["cannot enforce UDP bind/connect/send port restrictions (needs Landlock ABI 10)"]
        );
        assert_eq!(plan.udp.connect.as_ref().map(BTreeSet::len), Some(1));
        assert_eq!(plan.udp.bind, None, "UDP directions are restricted apart");
        assert!(!plan.in_force.udp && !plan.tcp.restricted() && !plan.tcp_guard);

        let best_effort = Plan::new(
            &Policy {
                mode: Mode::BestEffort,
                ..policy.clone()
            },
            vec![],
            Kernel::with_version(7),
            &fs(),
        );
        assert!(
            crate::startup_line::promised_and_dropped(&best_effort)
                .iter()
                .any(|d| d.contains("UDP") && d.contains("ABI 10"))
        );
        let ten = Plan::new(&policy, vec![], Kernel::with_version(10), &fs());
        assert!(ten.is_complete() && ten.in_force.udp && ten.tcp_guard);
        Ok(())
    }
}

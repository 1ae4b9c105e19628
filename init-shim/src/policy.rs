//! The policy a shim invocation carries: what the flags (and so the pod annotations) ask for.
//!
//! This is the request, before the profile and runtime discovery add their paths and before the
//! kernel says what it can enforce; those steps produce their own types and keep this one intact,
//! so that `flags::render(flags::parse(x))` is the identity and the webhook can write exactly
//! what the shim will read.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;

use crate::access::Access;
use crate::profiles::Profile;
use crate::values::{Interval, Mode, PolicyPath, Port, Reach, Scoping};

/// One path and the access set requested for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PathGrant {
    /// The path (a directory grants everything beneath it).
    pub path: PolicyPath,
    /// The requested access set.
    pub access: Access,
}

/// A grant that covers a broad directory whole (see [`Policy::broad_grants`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadGrant<'a> {
    /// The grant as asked.
    pub grant: &'a PathGrant,
    /// What it covers.
    pub covers: Covers,
}

/// What a broad grant covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Covers {
    /// This broad directory (the path itself, or where its magic links or symlinks lead).
    Dir(PolicyPath),
    /// Whatever a process's working directory or descriptor is when the shim runs.
    Unknown,
}

impl BroadGrant<'_> {
    /// The warning the shim and the webhook print, after their own prefix.
    pub fn warning(&self) -> String {
        let (flag, path) = (self.grant.access.flag(), &self.grant.path);
        let what = match &self.covers {
            Covers::Dir(dir) if dir == path => format!("all of {dir}"),
            Covers::Dir(dir) => format!(
                "all of {dir} (that is where {path} leads: /proc/PID/root is a link to the process's root directory, and symlinks are followed)"
            ),
            Covers::Unknown => format!(
                "whatever {path} leads to when the program starts (a working directory or an open descriptor: in most containers all of /)"
            ),
        };
        format!(
            "{flag} {path} grants {what} (everything beneath it, e.g. /etc/shadow under /etc); name the narrower paths the program needs"
        )
    }
}

/// Everything one shim invocation is asked to enforce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Paths and their access sets, in the order given.
    pub paths: Vec<PathGrant>,
    /// TCP ports the program may bind.
    pub bind_tcp: BTreeSet<Port>,
    /// TCP ports the program may connect to.
    pub connect_tcp: BTreeSet<Port>,
    /// What to do when the kernel cannot enforce everything.
    pub mode: Mode,
    /// The base profile.
    pub profile: Profile,
    /// Whether the shim discovers kubelet-written volumes from its mount table.
    pub discover: bool,
    /// Whether to scope signals and abstract UNIX sockets to the sandbox (ABI 6), and whether
    /// `enforce` requires it (`--scope`).
    pub scope: Scoping,
    /// How often learn mode prints what it learned (`--learn-interval`; only with `learn`).
    #[serde(skip)]
    pub learn_interval: Option<Interval>,
    /// `--quiet`: no startup line (nor the warnings every start repeats) unless the sandbox
    /// fails or something requested is dropped. For exec probes and lifecycle hooks, whose
    /// output kubelet keeps only as an event: the program's own error must come first there,
    /// and the container's start has already said what the sandbox allows.
    #[serde(skip)]
    pub quiet: bool,
    /// UDP ports the program may bind (Landlock ABI 10).
    pub bind_udp: BTreeSet<Port>,
    /// UDP ports the program may connect or send datagrams to (Landlock ABI 10).
    pub connect_udp: BTreeSet<Port>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            bind_tcp: BTreeSet::new(),
            connect_tcp: BTreeSet::new(),
            mode: Mode::default(),
            profile: Profile::default(),
            discover: true,
            scope: Scoping::Available,
            learn_interval: None,
            quiet: false,
            bind_udp: BTreeSet::new(),
            connect_udp: BTreeSet::new(),
        }
    }
}

impl Policy {
    /// Adds a path grant unless the very same grant is already there. Linear in the grants
    /// held: to add many, use [`Policy::grant_all`].
    pub fn grant(&mut self, path: PolicyPath, access: Access) {
        let grant = PathGrant { path, access };
        if !self.paths.contains(&grant) {
            self.paths.push(grant);
        }
    }

    /// Adds every grant of `grants` that is not already there, in order: one set lookup per
    /// grant, so that the cost stays linear in the number of grants (the webhook adds pod-level
    /// annotation paths, which a hostile pod may make many, to every container).
    pub fn grant_all(&mut self, grants: impl IntoIterator<Item = (PolicyPath, Access)>) {
        let mut seen: HashSet<PathGrant> = self.paths.iter().cloned().collect();
        for (path, access) in grants {
            let grant = PathGrant { path, access };
            if seen.insert(grant.clone()) {
                self.paths.push(grant);
            }
        }
    }

    /// The grants that cover a broad directory whole (see [`PolicyPath::is_broad`]), magic
    /// links followed (`--rx /proc/self/root` is all of `/`): allowed, but almost never meant
    /// (`--ro /` makes `/etc/shadow` readable), so both the shim and the webhook warn about each
    /// one, with [`BroadGrant::warning`].
    pub fn broad_grants(&self) -> impl Iterator<Item = BroadGrant<'_>> {
        self.paths.iter().filter_map(|grant| {
            if !grant.path.is_broad() {
                return None;
            }
            let covers = match grant.path.reach() {
                Reach::Path(path) => Covers::Dir(path),
                Reach::Unknown => Covers::Unknown,
            };
            Some(BroadGrant { grant, covers })
        })
    }

    /// Whether TCP is restricted at all: with no port listed, the network is left alone;
    /// with any port listed, only the listed ports may be bound or connected to.
    pub fn restricts_tcp(&self) -> bool {
        !self.bind_tcp.is_empty() || !self.connect_tcp.is_empty()
    }

    /// Whether UDP is restricted, decided apart from TCP the same way: with no UDP port listed,
    /// UDP is left alone (a TCP rule does not take DNS away); with any, only the listed ports
    /// may be bound, connected or sent to.
    pub fn restricts_udp(&self) -> bool {
        !self.bind_udp.is_empty() || !self.connect_udp.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_best_effort_default_profile_with_discovery_and_scoping() {
        let policy = Policy::default();
        assert_eq!(policy.mode, Mode::BestEffort);
        assert_eq!(policy.profile, Profile::Default);
        assert!(policy.discover && policy.scope == Scoping::Available && !policy.restricts_tcp());
        assert!(!policy.restricts_udp());
    }

    #[test]
    fn grant_keeps_order_and_drops_exact_repeats() -> Result<(), crate::values::ValueError> {
        let mut policy = Policy::default();
        policy.grant(PolicyPath::parse("/b")?, Access::Ro);
        policy.grant(PolicyPath::parse("/a")?, Access::Rw);
        policy.grant(PolicyPath::parse("/b")?, Access::Ro);
        policy.grant(PolicyPath::parse("/b")?, Access::Rx);
        let got: Vec<_> = policy
            .paths
            .iter()
            .map(|g| (g.path.as_str(), g.access))
            .collect();
        assert_eq!(
            got,
            [("/b", Access::Ro), ("/a", Access::Rw), ("/b", Access::Rx)]
        );
        Ok(())
    }

    #[test]
    fn grant_all_matches_grant_one_by_one() -> Result<(), crate::values::ValueError> {
        let list = [
            ("/b", Access::Ro),
            ("/a", Access::Rw),
            ("/b", Access::Ro),
            ("/b", Access::Rx),
        ];
        let mut one = Policy::default();
        let mut all = Policy::default();
        all.grant(PolicyPath::parse("/a")?, Access::Rw);
        one.grant(PolicyPath::parse("/a")?, Access::Rw);
        for (path, access) in list {
            one.grant(PolicyPath::parse(path)?, access);
        }
        let parsed: Result<Vec<_>, _> = list
            .iter()
            .map(|(p, a)| PolicyPath::parse(p).map(|p| (p, *a)))
            .collect();
        all.grant_all(parsed?);
        assert_eq!(one.paths, all.paths);
        assert_eq!(all.paths.len(), 3);
        Ok(())
    }

    #[test]
    fn broad_grants_are_the_whole_tree_ones() -> Result<(), crate::values::ValueError> {
        let mut policy = Policy::default();
        for path in ["/", "/etc/ssl/certs", "/etc", "/srv"] {
            policy.grant(PolicyPath::parse(path)?, Access::Ro);
        }
        let broad: Vec<_> = policy
            .broad_grants()
            .map(|g| g.grant.path.as_str())
            .collect();
        assert_eq!(broad, ["/", "/etc"]);
        Ok(())
    }

    #[test]
    fn magic_links_to_everything_are_broad_and_say_what_they_cover()
    -> Result<(), crate::values::ValueError> {
        let mut policy = Policy::default();
        for path in [
            "/proc/self/root",
            "/proc/thread-self/root/etc",
            "/proc/self/cwd",
            "/proc/self/root/srv",
            "/etc",
        ] {
            policy.grant(PolicyPath::parse(path)?, Access::Rx);
        }
        let warnings: Vec<String> = policy.broad_grants().map(|b| b.warning()).collect();
        assert_eq!(warnings.len(), 4, "{warnings:#?}");
        assert!(
            warnings[0].starts_with("--rx /proc/self/root grants all of / (that is where"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[1].starts_with("--rx /proc/thread-self/root/etc grants all of /etc ("),
            "{}",
            warnings[1]
        );
        assert!(
            warnings[2].starts_with("--rx /proc/self/cwd grants whatever /proc/self/cwd leads to"),
            "{}",
            warnings[2]
        );
        assert!(
            warnings[3].starts_with("--rx /etc grants all of /etc (everything beneath it"),
            "{}",
            warnings[3]
        );
        Ok(())
    }

    #[test]
    fn any_port_turns_on_tcp_restriction() -> Result<(), crate::values::ValueError> {
        let mut policy = Policy::default();
        policy.connect_tcp.insert(Port::parse("443")?);
        assert!(policy.restricts_tcp());
        Ok(())
    }
}

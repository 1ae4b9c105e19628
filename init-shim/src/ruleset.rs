//! Applies a [`Plan`] to the calling process with Landlock: build the ruleset, add the rules,
//! set `no_new_privs`, restrict self. After [`apply`] returns `Ok`, the process and everything
//! it executes are confined; there is no undo.
//!
//! The ruleset handles every filesystem right of the newest ABI this build knows, best effort,
//! so the kernel's own ABI decides what is handled; in `enforce` mode the rights the policy
//! names (see [`crate::compat`]) are a hard requirement, a second line of defence behind the
//! plan's own check.
//!
//! When TCP rules are in force, the [`crate::tcp_guard`] seccomp filter is installed with them
//! (Landlock's TCP rules do not cover MPTCP sockets).

use std::collections::BTreeSet;
use std::io;
use std::os::fd::AsFd;

use landlock::{
    Access as _, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath,
    RestrictSelfAttr as _, RestrictionStatus, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetError, RulesetStatus, Scope,
};
use serde::Serialize;

use crate::compat;
use crate::path_fd;
use crate::plan::{Plan, Target};
use crate::values::{Mode, Port, Scoping};
use crate::{seccomp, tcp_guard};

/// What applying the plan did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Everything the policy asks for is enforced.
    Enforced,
    /// The sandbox is on, but some requested things are not enforced (listed in the plan).
    PartiallyEnforced,
    /// The kernel has no Landlock: nothing is restricted.
    NotEnforced,
    /// Dry run: nothing was restricted on purpose.
    DryRun,
    /// Learn mode: nothing is restricted; what the program uses is recorded.
    Learning,
}

impl Outcome {
    /// The words used in the startup line.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Enforced => "enforced",
            Outcome::PartiallyEnforced => "partially-enforced",
            Outcome::NotEnforced => "not-enforced",
            Outcome::DryRun => "dry-run",
            Outcome::Learning => "learning",
        }
    }
}

/// Why the sandbox could not be applied. The process is unchanged unless it says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A granted path could not be opened for its rule (it vanished since planning).
    #[error("cannot open {path} for its rule: {source}")]
    Open {
        /// The path.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// Landlock refused the ruleset.
    #[error("landlock: {0}")]
    Landlock(#[from] RulesetError),
    /// The TCP guard's seccomp filter could not be installed.
    #[error("TCP guard (denies MPTCP sockets, which TCP rules do not cover): {0}")]
    TcpGuard(#[from] crate::seccomp::SeccompError),
    /// The kernel enforced less than the plan expected.
    #[error("the kernel reported the ruleset as {status:?} although the plan expected it enforced")]
    Unexpected {
        /// What the landlock crate reported.
        status: String,
    },
}

/// Applies `plan` to the calling process (nothing in dry-run mode).
pub fn apply(plan: &Plan) -> Result<Outcome, SandboxError> {
    match plan.mode {
        Mode::DryRun => return Ok(Outcome::DryRun),
        Mode::Learn => return Ok(Outcome::Learning),
        Mode::Enforce | Mode::BestEffort => {}
    }
    // What the policy names is a hard requirement in enforce mode; the rest is best effort.
    let required = if plan.mode == Mode::Enforce {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    };

    let mut ruleset = Ruleset::default()
        .set_compatibility(required)
        .handle_access(AccessFs::from_all(compat::FS_VOCABULARY))?
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(compat::NEWEST_KNOWN))?
        .set_compatibility(required);
    let mut net = BitFlags::<AccessNet>::EMPTY;
    if plan.tcp.bind.is_some() {
        net |= AccessNet::BindTcp;
    }
    if plan.tcp.connect.is_some() {
        net |= AccessNet::ConnectTcp;
    }
    if !net.is_empty() {
        ruleset = ruleset.handle_access(net)?;
    }
    let mut udp = BitFlags::<AccessNet>::EMPTY;
    if plan.udp.bind.is_some() {
        udp |= AccessNet::BindUdp;
    }
    if plan.udp.connect.is_some() {
        udp |= AccessNet::ConnectSendUdp;
    }
    if !udp.is_empty() {
        ruleset = ruleset.handle_access(udp)?;
    }
    if plan.scope {
        // Scoping is hardening unless `--scope required` (see crate::compat): only then does
        // enforce make it a hard requirement.
        let level = if plan.scoping == Scoping::Required {
            required
        } else {
            CompatLevel::BestEffort
        };
        ruleset = ruleset
            .set_compatibility(level)
            .scope(Scope::Signal | Scope::AbstractUnixSocket)?
            .set_compatibility(required);
    }

    let mut created = ruleset
        .create()?
        .set_compatibility(CompatLevel::BestEffort)
        // Denials by the program the shim executes go to the audit log (ABI 7), where
        // troubleshooting starts; by default Landlock only logs the same executable.
        .log_new_exec(true)?
        // Every thread of the process (ABI 8, TSYNC), for a program that sandboxes itself after
        // starting threads; below ABI 8 only the calling thread is restricted, which is why the
        // webhook restricts itself before it starts any (see its self_sandbox module).
        .all_threads(true)?
        .no_new_privs(true);

    for grant in &plan.grants {
        // The plan keeps most paths open from its lookup; the others are opened here, with
        // `O_PATH` too (not the landlock crate's `PathFd::new`: see crate::path_fd).
        let reopened;
        let fd = match grant.opened.fd() {
            Some(fd) => fd,
            None => {
                reopened =
                    path_fd::open(grant.path.as_path()).map_err(|source| SandboxError::Open {
                        path: grant.path.to_string(),
                        source,
                    })?;
                reopened.as_fd()
            }
        };
        let mut rights = grant.access.rights(compat::NEWEST_KNOWN);
        if grant.target == Target::File {
            rights &= AccessFs::from_file(compat::NEWEST_KNOWN);
        }
        // `list` on a file grants nothing (listing is a directory right): no rule to add.
        if rights.is_empty() {
            continue;
        }
        created = created.add_rule(PathBeneath::new(fd, rights))?;
    }
    for (ports, right) in [
        (&plan.tcp.bind, AccessNet::BindTcp),
        (&plan.tcp.connect, AccessNet::ConnectTcp),
    ] {
        for port in ports.iter().flat_map(BTreeSet::iter) {
            created = created.add_rule(NetPort::new(Port::get(*port), right))?;
        }
    }
    for port in udp_rules(plan) {
        created = created.add_rule(port)?;
    }

    let status = created.restrict_self()?;
    let outcome = outcome(plan, &status)?;
    // After restrict_self, which set no_new_privs; on every thread, for programs that sandbox
    // themselves after starting threads.
    if plan.tcp_guard
        && let Some(filter) = tcp_guard::filter(plan.in_force.udp)
    {
        seccomp::install(&filter, seccomp::Install::AllThreads)?;
    }
    Ok(outcome)
}

/// The UDP port rules of `plan`. When both directions are restricted, binding port 0 is allowed
/// too: the kernel binds an unbound socket to an ephemeral port on its first `connect` or
/// `sendto`, and Landlock checks that bind as a bind of port 0 (no fixed port can be taken that
/// way), so a client listed with `--connect-udp 53` keeps resolving.
fn udp_rules(plan: &Plan) -> Vec<NetPort> {
    let mut out = Vec::new();
    if let Some(bind) = &plan.udp.bind {
        for port in bind {
            out.push(NetPort::new(Port::get(*port), AccessNet::BindUdp));
        }
        if plan.udp.connect.is_some() {
            out.push(NetPort::new(0, AccessNet::BindUdp));
        }
    }
    if let Some(connect) = &plan.udp.connect {
        for port in connect {
            out.push(NetPort::new(Port::get(*port), AccessNet::ConnectSendUdp));
        }
    }
    out
}

/// Reconciles what the kernel did with what the plan expected.
fn outcome(plan: &Plan, status: &RestrictionStatus) -> Result<Outcome, SandboxError> {
    match status.ruleset {
        RulesetStatus::NotEnforced if !plan.kernel.has_landlock() => Ok(Outcome::NotEnforced),
        RulesetStatus::NotEnforced => Err(SandboxError::Unexpected {
            status: format!("{:?}", status.ruleset),
        }),
        // Partially is the norm: the ruleset asks for rights of ABIs newer than the kernel.
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => {
            if !status.no_new_privs {
                return Err(SandboxError::Unexpected {
                    status: "no_new_privs not set".to_owned(),
                });
            }
            Ok(if plan.is_complete() {
                Outcome::Enforced
            } else {
                Outcome::PartiallyEnforced
            })
        }
    }
}

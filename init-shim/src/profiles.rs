//! Base profiles: the paths an ordinary program needs before it reads anything of its own.
//!
//! A profile's paths are *optional*: images differ (`/lib64` exists on some, `/etc/localtime`
//! on others), so a profile path that does not exist is listed as absent in the startup line,
//! never an error, in every mode. Paths the user names are never optional.
//!
//! `/etc` is never granted as a whole: `/etc/shadow`, `/etc/ssl/private` and application
//! secrets under `/etc` stay unreadable.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::access::Access;
use crate::values::ValueError;

/// A named base profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// A dynamically linked program in a distribution image: loader, libraries, system binaries,
    /// name-service and DNS files, CA certificates, time zones, the usual devices, `/tmp`.
    #[default]
    Default,
    /// A static binary: DNS and name-service files, CA certificates, time zones, the usual
    /// devices, `/tmp`; no libraries, no system binaries.
    Minimal,
    /// Nothing at all: only already-open file descriptors keep working.
    None,
}

/// The profiles' grant of the program's own `/proc` entry.
pub const PROC_SELF: &str = "/proc/self";

/// What `/proc` shows the program, which decides what the profiles' [`PROC_SELF`] grant
/// becomes. A Landlock rule is tied to the directory opened, and `/proc/self` opened by the
/// shim is the shim's `/proc/PID` (the program's first process keeps that pid after exec):
/// every child has another one. Only a rule on `/proc` itself covers the `/proc/PID` of
/// processes that do not exist yet, and it covers every process `/proc` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcView {
    /// The shim is PID 1 of its PID namespace, `/proc` is that namespace's (`/proc/self` is
    /// `1`), and no other process is in it: as in a container with its own PID namespace,
    /// Kubernetes' default. Every process `/proc` will list descends from the program (orphans
    /// are reparented to PID 1), except processes that enter the namespace from outside
    /// (`kubectl exec`), whose memory, environment and descriptors Landlock keeps from the
    /// sandbox anyway (a sandboxed process cannot ptrace-read a process outside its domain).
    /// [`PROC_SELF`] becomes `/proc`, read-only: every process reads its own `/proc/self`.
    OwnPidNamespace,
    /// Anything else (a pod with `shareProcessNamespace`, a shim run on a node): `/proc` shows
    /// processes that are not the program's, so [`PROC_SELF`] stays the first process's.
    #[default]
    Shared,
}

impl ProcView {
    /// Looks at this process and `/proc` (see [`ProcView::OwnPidNamespace`]).
    pub fn detect() -> Self {
        if std::process::id() != 1 {
            return ProcView::Shared;
        }
        let own_proc = std::fs::read_link("/proc/self").is_ok_and(|p| p.as_os_str() == "1");
        let alone = std::fs::read_dir("/proc").is_ok_and(|entries| {
            entries.flatten().all(|entry| {
                let name = entry.file_name();
                let name = name.as_encoded_bytes();
                name == b"1" || !name.iter().all(u8::is_ascii_digit)
            })
        });
        if own_proc && alone {
            ProcView::OwnPidNamespace
        } else {
            ProcView::Shared
        }
    }

    /// The path a profile path is granted as: [`PROC_SELF`] becomes `/proc` in a PID
    /// namespace of the shim's own, everything else stays.
    pub fn profile_path(self, path: &'static str) -> &'static str {
        match self {
            ProcView::OwnPidNamespace if path == PROC_SELF => "/proc",
            _ => path,
        }
    }
}

/// Files a resolver, TLS client or clock needs; shared by `default` and `minimal`.
const NAME_SERVICE_AND_TRUST: &[(&str, Access)] = &[
    ("/etc/resolv.conf", Access::Ro),
    ("/etc/hosts", Access::Ro),
    ("/etc/hostname", Access::Ro),
    ("/etc/nsswitch.conf", Access::Ro),
    ("/etc/host.conf", Access::Ro),
    ("/etc/gai.conf", Access::Ro),
    ("/etc/services", Access::Ro),
    ("/etc/protocols", Access::Ro),
    ("/etc/passwd", Access::Ro),
    ("/etc/group", Access::Ro),
    ("/etc/localtime", Access::Ro),
    ("/etc/timezone", Access::Ro),
    ("/usr/share/zoneinfo", Access::Ro),
    ("/etc/ssl/certs", Access::Ro),
    ("/etc/ssl/cert.pem", Access::Ro),
    ("/etc/ca-certificates", Access::Ro),
    ("/usr/share/ca-certificates", Access::Ro),
    ("/etc/pki/tls/certs", Access::Ro),
    ("/etc/pki/ca-trust", Access::Ro),
    ("/dev/null", Access::Rw),
    ("/dev/zero", Access::Rw),
    ("/dev/full", Access::Rw),
    ("/dev/random", Access::Ro),
    ("/dev/urandom", Access::Ro),
    // Resolves to /proc/<pid> of the shim, which is the pid the program keeps after exec; in a
    // PID namespace of the shim's own, every process's (see ProcView).
    (PROC_SELF, Access::Ro),
    ("/tmp", Access::Rw),
];

/// What `default` adds to [`NAME_SERVICE_AND_TRUST`].
const DISTRIBUTION: &[(&str, Access)] = &[
    ("/usr", Access::Rx),
    ("/bin", Access::Rx),
    ("/sbin", Access::Rx),
    ("/lib", Access::Rx),
    ("/lib64", Access::Rx),
    ("/lib32", Access::Rx),
    ("/libx32", Access::Rx),
    ("/etc/ld.so.cache", Access::Ro),
    ("/etc/ld.so.conf", Access::Ro),
    ("/etc/ld.so.conf.d", Access::Ro),
    ("/etc/ld.so.preload", Access::Ro),
    ("/etc/alternatives", Access::Ro),
    ("/etc/os-release", Access::Ro),
    ("/etc/mime.types", Access::Ro),
    ("/etc/ssl/openssl.cnf", Access::Ro),
    ("/proc/cpuinfo", Access::Ro),
    ("/proc/meminfo", Access::Ro),
    ("/proc/stat", Access::Ro),
    ("/proc/sys/vm/overcommit_memory", Access::Ro),
    ("/sys/devices/system/cpu", Access::Ro),
    ("/sys/fs/cgroup", Access::Ro),
    ("/dev/shm", Access::Rw),
];

impl Profile {
    /// Every profile, in documentation order.
    pub const ALL: [Profile; 3] = [Profile::Default, Profile::Minimal, Profile::None];

    /// The name used in flags and annotations.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Minimal => "minimal",
            Profile::None => "none",
        }
    }

    /// Parses a profile name.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|profile| profile.name() == value)
            .ok_or_else(|| {
                ValueError::new(value, "unknown profile (expected default, minimal or none)")
            })
    }

    /// The profile's paths and their access sets. Every path is optional (see the module doc).
    pub fn paths(self) -> Vec<(&'static str, Access)> {
        match self {
            Profile::Default => [NAME_SERVICE_AND_TRUST, DISTRIBUTION].concat(),
            Profile::Minimal => NAME_SERVICE_AND_TRUST.to_vec(),
            Profile::None => Vec::new(),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::PolicyPath;

    #[test]
    fn profile_paths_are_valid_policy_paths() {
        for profile in Profile::ALL {
            for (path, _) in profile.paths() {
                assert!(PolicyPath::parse(path).is_ok(), "{profile}: {path}");
            }
        }
    }

    #[test]
    fn no_profile_grants_etc_as_a_whole_or_anything_secret() {
        for profile in Profile::ALL {
            for (path, _) in profile.paths() {
                assert_ne!(path, "/etc", "{profile}");
                assert_ne!(path, "/", "{profile}");
                assert!(!path.starts_with("/etc/shadow"), "{profile}: {path}");
                assert!(!path.starts_with("/etc/ssl/private"), "{profile}: {path}");
                assert!(!path.starts_with("/root"), "{profile}: {path}");
            }
        }
    }

    #[test]
    fn minimal_has_no_executables_and_none_is_empty() {
        assert!(Profile::Minimal.paths().iter().all(|(_, a)| !a.executes()));
        assert!(Profile::None.paths().is_empty());
        assert!(Profile::Default.paths().contains(&("/usr", Access::Rx)));
    }

    #[test]
    fn names_parse_back_and_unknown_names_are_refused() {
        for profile in Profile::ALL {
            assert_eq!(Profile::parse(profile.name()), Ok(profile));
        }
        let err = Profile::parse("strict").expect_err("unknown");
        assert_eq!(err.value, "strict");
        assert!(err.problem.contains("default, minimal or none"));
    }
}

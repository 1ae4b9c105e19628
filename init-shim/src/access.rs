//! The named access sets, `list`, `ro`, `rx`, `rw` and `rwx`: the only filesystem vocabulary of
//! the project. Flags, annotations, profiles and discovery all speak in these names; this module
//! is the one place that says which Landlock rights each name stands for.
//!
//! | set   | rights                                                                  |
//! |-------|-------------------------------------------------------------------------|
//! | `list`| list directories (and their subdirectories) without reading any file     |
//! | `ro`  | read files, list directories                                            |
//! | `rx`  | `ro` + execute                                                          |
//! | `rw`  | `ro` + every write right of the ABI (write, create, remove, rename across directories (refer), truncate, device ioctl, ...) |
//! | `rwx` | `rw` + execute                                                          |
//!
//! A grant on a directory covers everything beneath it; a grant on a file covers that file only
//! (and only the rights that make sense on a file).

use std::fmt;
use std::str::FromStr;

use landlock::{ABI, Access as _, AccessFs, BitFlags};
use serde::Serialize;

use crate::values::ValueError;

/// A named filesystem access set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// List directories only (Landlock `READ_DIR` without `READ_FILE`): names are visible,
    /// contents are not.
    List,
    /// Read files and list directories.
    Ro,
    /// [`Access::Ro`] plus execute.
    Rx,
    /// [`Access::Ro`] plus every write right.
    Rw,
    /// [`Access::Rw`] plus execute.
    Rwx,
}

impl Access {
    /// Every access set, from least to most.
    pub const ALL: [Access; 5] = [
        Access::List,
        Access::Ro,
        Access::Rx,
        Access::Rw,
        Access::Rwx,
    ];

    /// The short name (`list`, `ro`, `rx`, `rw`, `rwx`).
    pub fn name(self) -> &'static str {
        match self {
            Access::List => "list",
            Access::Ro => "ro",
            Access::Rx => "rx",
            Access::Rw => "rw",
            Access::Rwx => "rwx",
        }
    }

    /// The shim flag that grants this set (`--ro`, ...).
    pub fn flag(self) -> &'static str {
        match self {
            Access::List => "--list",
            Access::Ro => "--ro",
            Access::Rx => "--rx",
            Access::Rw => "--rw",
            Access::Rwx => "--rwx",
        }
    }

    /// The annotation key (after the `landlock-injector.io/` prefix) that grants this set.
    pub fn annotation_key(self) -> &'static str {
        match self {
            Access::List => "list",
            Access::Ro => "read",
            Access::Rx => "read-exec",
            Access::Rw => "write",
            Access::Rwx => "write-exec",
        }
    }

    /// The field of a LandlockPolicy's rules that grants this set (the annotation key in
    /// camelCase, as Kubernetes objects spell fields).
    pub fn policy_field(self) -> &'static str {
        match self {
            Access::List => "list",
            Access::Ro => "read",
            Access::Rx => "readExec",
            Access::Rw => "write",
            Access::Rwx => "writeExec",
        }
    }

    /// Parses a short name (`ro`, `rx`, `rw`, `rwx`).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|access| access.name() == value)
            .ok_or_else(|| {
                ValueError::new(
                    value,
                    "unknown access set (expected list, ro, rx, rw or rwx)",
                )
            })
    }

    /// Whether this set may execute.
    pub fn executes(self) -> bool {
        matches!(self, Access::Rx | Access::Rwx)
    }

    /// Whether this set may write.
    pub fn writes(self) -> bool {
        matches!(self, Access::Rw | Access::Rwx)
    }

    /// Whether this set may read files (every set but [`Access::List`]).
    pub fn reads_files(self) -> bool {
        self != Access::List
    }

    /// The smallest set that includes both `self` and `other` (`rx` and `rw` give `rwx`,
    /// `list` and anything give the other).
    pub fn union(self, other: Access) -> Access {
        if self == Access::List {
            return other;
        }
        if other == Access::List {
            return self;
        }
        match (
            self.writes() || other.writes(),
            self.executes() || other.executes(),
        ) {
            (false, false) => Access::Ro,
            (false, true) => Access::Rx,
            (true, false) => Access::Rw,
            (true, true) => Access::Rwx,
        }
    }

    /// Whether every right of `other` is also in `self`.
    pub fn includes(self, other: Access) -> bool {
        self.union(other) == self
    }

    /// The Landlock filesystem rights this set stands for at `abi`. Rights `abi` does not
    /// know are left out; which those are is the business of the compat module.
    pub fn rights(self, abi: ABI) -> BitFlags<AccessFs> {
        if self == Access::List {
            return BitFlags::from(AccessFs::ReadDir) & AccessFs::from_all(abi);
        }
        let mut rights = AccessFs::ReadFile | AccessFs::ReadDir;
        if self.executes() {
            rights |= AccessFs::Execute;
        }
        if self.writes() {
            rights |= AccessFs::from_write(abi);
        }
        rights & AccessFs::from_all(abi)
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Access {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_and_includes_follow_the_lattice() {
        use Access::*;
        assert_eq!(Rx.union(Rw), Rwx);
        assert_eq!(Ro.union(Rx), Rx);
        assert_eq!(Ro.union(Ro), Ro);
        assert!(Rwx.includes(Rx) && Rwx.includes(Rw) && Rw.includes(Ro));
        assert!(!Rx.includes(Rw) && !Rw.includes(Rx) && !Ro.includes(Rx));
        assert_eq!(List.union(List), List);
        assert_eq!(List.union(Rw), Rw);
        assert_eq!(Rx.union(List), Rx);
        assert!(Ro.includes(List) && !List.includes(Ro));
    }

    #[test]
    fn list_is_read_dir_alone() {
        assert_eq!(Access::List.rights(ABI::V7), AccessFs::ReadDir);
        assert!(!Access::List.reads_files());
        assert_eq!(Access::parse("list"), Ok(Access::List));
        assert_eq!(Access::List.annotation_key(), "list");
    }

    #[test]
    fn rights_per_set_at_abi_7() {
        let abi = ABI::V7;
        let ro = Access::Ro.rights(abi);
        assert_eq!(ro, AccessFs::ReadFile | AccessFs::ReadDir);
        assert_eq!(Access::Rx.rights(abi), ro | AccessFs::Execute);
        let rw = Access::Rw.rights(abi);
        for right in [
            AccessFs::WriteFile,
            AccessFs::MakeReg,
            AccessFs::RemoveFile,
            AccessFs::Refer,
            AccessFs::Truncate,
            AccessFs::IoctlDev,
        ] {
            assert!(rw.contains(right), "{right:?}");
        }
        assert!(!rw.contains(AccessFs::Execute));
        assert_eq!(Access::Rwx.rights(abi), rw | AccessFs::Execute);
        assert_eq!(Access::Rwx.rights(abi), AccessFs::from_all(abi));
    }

    #[test]
    fn rights_never_exceed_what_the_abi_knows() {
        for access in Access::ALL {
            assert!(!Access::Rw.rights(ABI::V1).contains(AccessFs::Truncate));
            assert!(AccessFs::from_all(ABI::V2).contains(access.rights(ABI::V2)));
            assert!(access.rights(ABI::Unsupported).is_empty());
        }
    }

    #[test]
    fn names_flags_and_annotation_keys_are_distinct_and_parse_back() {
        for access in Access::ALL {
            assert_eq!(Access::parse(access.name()), Ok(access));
            assert_eq!(access.flag(), format!("--{}", access.name()));
        }
        let keys: std::collections::BTreeSet<_> =
            Access::ALL.iter().map(|a| a.annotation_key()).collect();
        assert_eq!(keys.len(), Access::ALL.len());
    }
}

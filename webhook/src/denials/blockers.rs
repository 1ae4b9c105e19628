//! What grant would have allowed a denial: the kernel's blocker names (`fs.read_file`,
//! `net.connect_tcp`, ...) read in the project's vocabulary. Filesystem rights map to the smallest
//! named access set (`init_shim::Access`) whose rights include them, so the table of what `ro`,
//! `rx`, `rw` and `rwx` hold stays in init-shim alone.

use init_shim::Access;
use init_shim::compat::NEWEST_KNOWN;
use landlock::AccessFs;

use crate::admission::annotations::{BIND_TCP, BIND_UDP, CONNECT_TCP, CONNECT_UDP};

/// The grant a blocker asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grant {
    /// A path grant with at least this access set.
    Path(Access),
    /// `bind-tcp` on the port.
    BindTcp,
    /// `connect-tcp` on the port.
    ConnectTcp,
    /// `bind-udp` on the port (Landlock ABI 10).
    BindUdp,
    /// `connect-udp` on the port: connecting or sending a datagram to it (Landlock ABI 10).
    ConnectUdp,
    /// Scoping (signals, abstract UNIX sockets) or a right with no per-object grant: nothing
    /// an annotation can allow.
    NotGrantable,
}

impl Grant {
    /// The annotation key (after `landlock-injector.io/`) that grants it, if any.
    pub fn annotation_key(self) -> Option<&'static str> {
        match self {
            Grant::Path(access) => Some(access.annotation_key()),
            Grant::BindTcp => Some(BIND_TCP),
            Grant::ConnectTcp => Some(CONNECT_TCP),
            Grant::BindUdp => Some(BIND_UDP),
            Grant::ConnectUdp => Some(CONNECT_UDP),
            Grant::NotGrantable => None,
        }
    }
}

/// The Landlock filesystem right a `fs.*` blocker names (the kernel's `fs_access_strings`).
pub fn fs_right(blocker: &str) -> Option<AccessFs> {
    Some(match blocker.strip_prefix("fs.")? {
        "execute" => AccessFs::Execute,
        "write_file" => AccessFs::WriteFile,
        "read_file" => AccessFs::ReadFile,
        "read_dir" => AccessFs::ReadDir,
        "remove_dir" => AccessFs::RemoveDir,
        "remove_file" => AccessFs::RemoveFile,
        "make_char" => AccessFs::MakeChar,
        "make_dir" => AccessFs::MakeDir,
        "make_reg" => AccessFs::MakeReg,
        "make_sock" => AccessFs::MakeSock,
        "make_fifo" => AccessFs::MakeFifo,
        "make_block" => AccessFs::MakeBlock,
        "make_sym" => AccessFs::MakeSym,
        "refer" => AccessFs::Refer,
        "truncate" => AccessFs::Truncate,
        "ioctl_dev" => AccessFs::IoctlDev,
        // Connecting to a pathname UNIX socket (ABI 9): a `write` grant holds it.
        "resolve_unix" => AccessFs::ResolveUnix,
        _ => return None,
    })
}

/// The grant one blocker asks for.
pub fn grant(blocker: &str) -> Grant {
    match blocker {
        "net.bind_tcp" => return Grant::BindTcp,
        "net.connect_tcp" => return Grant::ConnectTcp,
        "net.bind_udp" => return Grant::BindUdp,
        "net.connect_send_udp" => return Grant::ConnectUdp,
        _ => {}
    }
    fs_right(blocker)
        .and_then(|right| {
            Access::ALL
                .into_iter()
                .find(|access| access.rights(NEWEST_KNOWN).contains(right))
        })
        .map_or(Grant::NotGrantable, Grant::Path)
}

/// The grant that allows every blocker of one denial (`fs.execute,fs.read_file` needs `rx`);
/// `None` when a blocker cannot be granted.
pub fn grant_all(blockers: &[String]) -> Option<Grant> {
    let mut grants = blockers.iter().map(|b| grant(b));
    let first = grants.next()?;
    grants
        .try_fold(first, |joined, next| match (joined, next) {
            (Grant::Path(a), Grant::Path(b)) => Some(Grant::Path(a.union(b))),
            (a, b) if a == b && a != Grant::NotGrantable => Some(a),
            _ => None,
        })
        .filter(|g| *g != Grant::NotGrantable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blockers_map_to_the_smallest_access_set() {
        assert_eq!(grant("fs.read_file"), Grant::Path(Access::Ro));
        // Listing needs no file read: `list`, not `read`.
        assert_eq!(grant("fs.read_dir"), Grant::Path(Access::List));
        assert_eq!(grant("fs.execute"), Grant::Path(Access::Rx));
        for write in [
            "fs.write_file",
            "fs.make_reg",
            "fs.remove_file",
            "fs.refer",
            "fs.truncate",
            "fs.ioctl_dev",
        ] {
            assert_eq!(grant(write), Grant::Path(Access::Rw), "{write}");
        }
        assert_eq!(grant("net.bind_tcp"), Grant::BindTcp);
        assert_eq!(grant("net.connect_tcp"), Grant::ConnectTcp);
        // Kernel 7.2's names (the strings of its image) for ABI 9 and 10's rights.
        assert_eq!(grant("net.bind_udp"), Grant::BindUdp);
        assert_eq!(grant("net.connect_send_udp"), Grant::ConnectUdp);
        assert_eq!(grant("fs.resolve_unix"), Grant::Path(Access::Rw));
        assert_eq!(Grant::BindUdp.annotation_key(), Some("bind-udp"));
        assert_eq!(Grant::ConnectUdp.annotation_key(), Some("connect-udp"));
        assert_eq!(grant("scope.signal"), Grant::NotGrantable);
        assert_eq!(grant("fs.something_new"), Grant::NotGrantable);
    }

    #[test]
    fn several_blockers_join() {
        let b = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            grant_all(&b(&["fs.execute", "fs.read_file"])),
            Some(Grant::Path(Access::Rx))
        );
        assert_eq!(
            grant_all(&b(&["fs.make_reg", "fs.refer"])),
            Some(Grant::Path(Access::Rw))
        );
        assert_eq!(
            grant_all(&b(&["fs.execute", "fs.write_file"])),
            Some(Grant::Path(Access::Rwx))
        );
        assert_eq!(grant_all(&b(&["scope.signal"])), None);
        assert_eq!(grant_all(&b(&[])), None);
        assert_eq!(Grant::Path(Access::Rx).annotation_key(), Some("read-exec"));
        assert_eq!(Grant::ConnectTcp.annotation_key(), Some("connect-tcp"));
    }
}

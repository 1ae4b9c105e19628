//! Whether the agent runs where the kernel's audit records reach it: the kernel multicasts
//! them only to sockets in the initial network namespace (`kernel/audit.c` sends on
//! `init_net`'s audit socket), so an agent in any other network namespace (a pod without
//! `hostNetwork`, a kind node, which is a container) receives nothing, however privileged.
//!
//! The initial namespaces have fixed inode numbers (`include/uapi/linux/nsfs.h`): the pid
//! namespace's `0xEFFFFFFC` since Linux 3.8, the network namespace's `0xEFFFFFF9`
//! (`NET_NS_INIT_INO`, shown as `net:[4026531833]`) since 6.17. On older kernels the initial
//! network namespace is numbered like any other, so the agent compares its namespace with pid
//! 1's, which is the host's init (in the initial network namespace) only when the agent sees
//! the host's pids; otherwise it cannot tell and says so.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

/// `NET_NS_INIT_INO`: the initial network namespace's inode (Linux >= 6.17).
pub const NET_NS_INIT_INO: u64 = 0xEFFF_FFF9;
/// `PID_NS_INIT_INO`: the initial pid namespace's inode (Linux >= 3.8).
pub const PID_NS_INIT_INO: u64 = 0xEFFF_FFFC;
/// The first kernel whose initial network namespace has the fixed inode.
pub const FIXED_NET_INODE_SINCE: (u32, u32) = (6, 17);

/// Where the agent's network namespace is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkNamespace {
    /// The initial one: audit records reach the agent.
    Initial,
    /// Another one (its inode): no audit record reaches the agent.
    Other(u64),
    /// Not known (why).
    Unknown(String),
}

/// What the kernel and `/proc` tell about the agent's namespaces; [`decide`] reads only this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The kernel release (`/proc/sys/kernel/osrelease`).
    pub release: String,
    /// The inode of the calling thread's network namespace.
    pub own_net: u64,
    /// The inode of the calling thread's pid namespace.
    pub own_pid: u64,
    /// The inode of pid 1's network namespace, as the agent's `/proc` shows it.
    pub init_net: Option<u64>,
}

/// Decides where `observed` places the agent.
pub fn decide(observed: &Observed) -> NetworkNamespace {
    if observed.own_net == NET_NS_INIT_INO {
        // Dynamic inodes start at 0xF0000000: the fixed number is never a dynamic one.
        return NetworkNamespace::Initial;
    }
    match kernel_version(&observed.release) {
        Some(version) if version >= FIXED_NET_INODE_SINCE => {
            return NetworkNamespace::Other(observed.own_net);
        }
        Some(_) => {}
        None => {
            return NetworkNamespace::Unknown(format!(
                "cannot read the kernel version {:?}",
                observed.release
            ));
        }
    }
    // An older kernel: pid 1 is the host's init only in the initial pid namespace.
    if observed.own_pid != PID_NS_INIT_INO {
        return NetworkNamespace::Unknown(format!(
            "Linux {} numbers the initial network namespace like any other, and this agent is not in the host's pid namespace to compare with the host's init",
            observed.release
        ));
    }
    match observed.init_net {
        Some(init) if init == observed.own_net => NetworkNamespace::Initial,
        Some(_) => NetworkNamespace::Other(observed.own_net),
        None => NetworkNamespace::Unknown(format!(
            "Linux {} numbers the initial network namespace like any other, and pid 1's network namespace cannot be read",
            observed.release
        )),
    }
}

/// `major.minor` of a kernel release (`6.18.44-fc`).
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Observes the calling thread's namespaces (`/proc/thread-self`: namespaces are per thread)
/// and pid 1's network namespace under `proc_root`.
pub fn observe(proc_root: &Path) -> std::io::Result<Observed> {
    let inode = |path: &Path| std::fs::metadata(path).map(|m| m.ino());
    Ok(Observed {
        release: std::fs::read_to_string("/proc/sys/kernel/osrelease")?,
        own_net: inode(Path::new("/proc/thread-self/ns/net"))?,
        own_pid: inode(Path::new("/proc/thread-self/ns/pid"))?,
        init_net: inode(&proc_root.join("1/ns/net")).ok(),
    })
}

/// Where the calling thread's network namespace is.
pub fn network_namespace(proc_root: &Path) -> NetworkNamespace {
    match observe(proc_root) {
        Ok(observed) => decide(&observed),
        Err(e) => NetworkNamespace::Unknown(format!("cannot read /proc: {e}")),
    }
}

/// Whether the agent sees the host's pids (the pids audit records name).
pub fn in_initial_pid_namespace() -> bool {
    std::fs::metadata("/proc/thread-self/ns/pid").is_ok_and(|m| m.ino() == PID_NS_INIT_INO)
}

/// Why no record reaches an agent in another network namespace, and what to do.
pub fn not_initial_message(inode: u64) -> String {
    format!(
        "this agent is not in the host's initial network namespace (net:[{inode}]): the kernel sends audit records only there, so no denial can be reported; run it with hostNetwork (as the chart's DaemonSet does) on nodes that are VMs or machines, not kind-style nodes (containers with a network namespace of their own), or run `landlock-webhook denials --kubeconfig FILE --node NODE` on the host that runs such nodes"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(release: &str, own_net: u64, own_pid: u64, init_net: Option<u64>) -> Observed {
        Observed {
            release: release.to_owned(),
            own_net,
            own_pid,
            init_net,
        }
    }

    #[test]
    fn the_fixed_inode_decides_on_kernels_that_have_it() {
        let other = 0xF000_0098;
        assert_eq!(
            decide(&observed("6.18.44-fc\n", NET_NS_INIT_INO, 1, None)),
            NetworkNamespace::Initial
        );
        assert_eq!(
            decide(&observed("6.17.0", other, PID_NS_INIT_INO, Some(other))),
            NetworkNamespace::Other(other)
        );
        assert_eq!(
            decide(&observed("7.0-rc1", other, 1, None)),
            NetworkNamespace::Other(other)
        );
    }

    #[test]
    fn older_kernels_compare_with_the_host_init_when_they_see_it() {
        let (mine, hosts) = (0xF000_0098, 0xF000_0010);
        assert_eq!(
            decide(&observed(
                "6.1.0-25-amd64",
                mine,
                PID_NS_INIT_INO,
                Some(mine)
            )),
            NetworkNamespace::Initial
        );
        assert_eq!(
            decide(&observed("5.15.0", mine, PID_NS_INIT_INO, Some(hosts))),
            NetworkNamespace::Other(mine)
        );
        for unknown in [
            observed("6.6.8", mine, 0xF000_0200, Some(mine)),
            observed("6.6.8", mine, PID_NS_INIT_INO, None),
            observed("garbage", mine, PID_NS_INIT_INO, Some(mine)),
        ] {
            assert!(
                matches!(decide(&unknown), NetworkNamespace::Unknown(_)),
                "{unknown:?}"
            );
        }
    }
}

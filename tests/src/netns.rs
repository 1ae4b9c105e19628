//! Running part of the test process inside a pod's network namespace, the way a process of
//! another container of the pod would be: a thread joins the namespace with `setns(2)` (the
//! network namespace is per thread) and runs the closure there. Sockets it creates and
//! processes it starts stay in that namespace for their whole life, so a registry started this
//! way is reachable on the pod's loopback, like a sidecar, and nowhere else.

use std::os::fd::AsRawFd;
use std::path::Path;

/// Runs `work` on a thread inside the network namespace `netns` (e.g. `/proc/PID/ns/net`).
pub fn within<T: Send>(netns: &Path, work: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    let namespace = std::fs::File::open(netns)?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: `namespace` is an open namespace file for the whole call; setns with
                // CLONE_NEWNET changes only the calling thread's network namespace, and this
                // thread ends when `work` returns.
                let joined = unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) };
                if joined != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(work())
            })
            .join()
            .map_err(|_| {
                std::io::Error::other("the work in the pod's network namespace panicked")
            })?
    })
}

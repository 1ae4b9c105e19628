//! Reading what a stopped caller passed: strings and socket addresses from its memory
//! (`process_vm_readv`, which needs the same ptrace access mode as reading `/proc/PID/mem`: a
//! parent watching its own child under `no_new_privs` has it), its descriptors and working
//! directory (`/proc/TID/fd`, `/proc/TID/cwd`), and what kind of socket a descriptor is (a
//! duplicate of it through `pidfd_getfd`).
//!
//! Everything read here may change the moment after (see the TOCTOU note in [`crate::learn`]).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

/// Longest path the kernel accepts (`PATH_MAX`, with its NUL).
const PATH_MAX: usize = 4096;
/// Reads never cross a page boundary in one go: the next page may not be mapped.
const PAGE: u64 = 4096;

/// A thread stopped in a watched syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Its thread id (what the notification reports).
    pub tid: u32,
}

/// The kind of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketKind {
    /// `AF_*`.
    pub domain: i32,
    /// `SOCK_*`.
    pub kind: i32,
    /// `IPPROTO_*`.
    pub protocol: i32,
}

impl SocketKind {
    /// Whether Landlock's TCP rules apply (MPTCP included: under TCP rules the TCP guard makes
    /// programs fall back to plain TCP on the same ports).
    pub fn is_tcp(self) -> bool {
        matches!(self.domain, libc::AF_INET | libc::AF_INET6)
            && self.kind == libc::SOCK_STREAM
            && matches!(self.protocol, 0 | libc::IPPROTO_TCP | libc::IPPROTO_MPTCP)
    }

    /// Whether Landlock's UDP rules apply (UDP-Lite included: under UDP rules the port guard
    /// refuses it, so programs use plain UDP on the same ports).
    pub fn is_udp(self) -> bool {
        matches!(self.domain, libc::AF_INET | libc::AF_INET6)
            && self.kind == libc::SOCK_DGRAM
            && matches!(self.protocol, 0 | libc::IPPROTO_UDP | libc::IPPROTO_UDPLITE)
    }
}

impl Caller {
    /// Reads up to `len` bytes at `addr` (fewer if the mapping ends).
    pub fn read(&self, addr: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: len,
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: len,
        };
        // SAFETY: process_vm_readv writes at most `len` bytes into `buf` (described by `local`)
        // and only reads the other process's memory; both iovecs live for the call.
        let n =
            unsafe { libc::process_vm_readv(self.tid as libc::pid_t, &local, 1, &remote, 1, 0) };
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Reads the NUL-terminated string at `addr` (a path: at most `PATH_MAX` bytes).
    pub fn read_path(&self, addr: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < PATH_MAX {
            let chunk = usize::try_from(PAGE - at % PAGE).unwrap_or(1);
            let bytes = self.read(at, chunk)?;
            if bytes.is_empty() {
                return Err(io::Error::from_raw_os_error(libc::EFAULT));
            }
            let nul = bytes.iter().position(|b| *b == 0);
            out.extend_from_slice(&bytes[..nul.unwrap_or(bytes.len())]);
            // The kernel refuses a path of PATH_MAX bytes or more (with its NUL, at most
            // PATH_MAX): so is it here, however the string lies across pages.
            if out.len() >= PATH_MAX {
                break;
            }
            if nul.is_some() {
                return Ok(out);
            }
            at += bytes.len() as u64;
        }
        Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG))
    }

    /// What descriptor `fd` of the caller refers to (`/proc/TID/fd/FD`).
    pub fn fd_target(&self, fd: i32) -> io::Result<PathBuf> {
        std::fs::read_link(format!("/proc/{}/fd/{fd}", self.tid))
    }

    /// The caller's working directory.
    pub fn cwd(&self) -> io::Result<PathBuf> {
        std::fs::read_link(format!("/proc/{}/cwd", self.tid))
    }

    /// The caller's process (thread group) id.
    pub fn tgid(&self) -> io::Result<u32> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.tid))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("Tgid:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| io::Error::other("no Tgid in /proc/TID/status"))
    }

    /// The kind of socket descriptor `fd` is, from a duplicate of it, taken through the
    /// calling thread (Linux 6.9's `PIDFD_THREAD`): the process's leader may have exited while
    /// its other threads run on (its descriptor table is then gone, EBADF), or the thread may
    /// have a table of its own (`unshare(CLONE_FILES)`). Older kernels: through the process.
    pub fn socket(&self, tgid: u32, fd: i32) -> io::Result<SocketKind> {
        let dup = match take_descriptor_with(self.tid, PIDFD_THREAD, fd) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => take_descriptor(tgid, fd)?,
            other => other?,
        };
        let option = |name: libc::c_int| -> io::Result<i32> {
            let mut value: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: getsockopt writes at most `len` bytes into `value`, both alive here.
            let ret = unsafe {
                libc::getsockopt(
                    dup.as_raw_fd(),
                    libc::SOL_SOCKET,
                    name,
                    (&mut value as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            if ret == 0 {
                Ok(value)
            } else {
                Err(io::Error::last_os_error())
            }
        };
        Ok(SocketKind {
            domain: option(libc::SO_DOMAIN)?,
            kind: option(libc::SO_TYPE)?,
            protocol: option(libc::SO_PROTOCOL)?,
        })
    }
}

/// A duplicate of descriptor `fd` of process `pid` (`pidfd_open` + `pidfd_getfd`; needs ptrace
/// access to it, which a parent has to its own child).
pub fn take_descriptor(pid: u32, fd: i32) -> io::Result<OwnedFd> {
    take_descriptor_with(pid, 0, fd)
}

/// `pidfd_open`'s flag for a thread's pidfd (Linux 6.9; `O_EXCL`). Older kernels refuse it,
/// and a thread id without it, with EINVAL.
const PIDFD_THREAD: u32 = libc::O_EXCL as u32;

/// [`take_descriptor`] with `pidfd_open` `flags`.
fn take_descriptor_with(pid: u32, flags: u32, fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes no pointers; the fd it returns is owned right below.
    let pidfd = owned(unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, flags) })?;
    // SAFETY: pidfd_getfd takes no pointers; the duplicate it returns is owned right below.
    owned(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0u32) })
}

/// The descriptor a syscall returned (negative: the error in errno).
pub fn owned(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(ret)
        .ok()
        .filter(|fd| *fd >= 0)
        .ok_or_else(io::Error::last_os_error)?;
    // SAFETY: the kernel just returned this new descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The TCP port of a `sockaddr_in`/`sockaddr_in6` (`None` for other families).
pub fn tcp_port(sockaddr: &[u8]) -> Option<u16> {
    let family = u16::from_ne_bytes([*sockaddr.first()?, *sockaddr.get(1)?]);
    if i32::from(family) != libc::AF_INET && i32::from(family) != libc::AF_INET6 {
        return None;
    }
    Some(u16::from_be_bytes([*sockaddr.get(2)?, *sockaddr.get(3)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_memory_across_pages() -> io::Result<()> {
        // A string that starts 3 bytes before a page boundary of a two-page buffer.
        let mut buf = vec![b'x'; 2 * PAGE as usize];
        let start = (PAGE - buf.as_ptr() as u64 % PAGE) as usize - 3 + PAGE as usize / 2;
        let start = start % (PAGE as usize);
        buf[start + 10] = 0;
        let me = Caller {
            tid: std::process::id(),
        };
        let got = me.read_path(buf.as_ptr() as u64 + start as u64)?;
        assert_eq!(got, vec![b'x'; 10]);
        Ok(())
    }

    #[test]
    fn ports_come_from_inet_addresses_only() {
        let mut v4 = [0u8; 16];
        v4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&8080u16.to_be_bytes());
        assert_eq!(tcp_port(&v4), Some(8080));
        let mut unix = [0u8; 16];
        unix[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        assert_eq!(tcp_port(&unix), None);
        assert_eq!(tcp_port(&[2]), None);
    }
}

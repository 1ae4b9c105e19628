//! Opening a path only to name it (for a Landlock rule, or to ask what it is): `O_PATH |
//! O_CLOEXEC`, through `open(2)` itself, with the flags passed unchanged.
//!
//! Why not std: `OpenOptions::custom_flags` masks the custom flags with `!O_ACCMODE`, and
//! musl's `O_ACCMODE` is `03 | O_SEARCH` with `O_SEARCH == O_PATH`, so on musl (which the shim
//! is built for) `O_PATH` is silently dropped and the path is opened for reading. The landlock
//! crate's `PathFd::new` opens the same way, so it is not used either. An `O_PATH` open reads
//! nothing, needs no permission on the file itself (only search on the directories above it,
//! as a Landlock rule does), never blocks and runs no driver code: a read open of a FIFO blocks
//! until a writer comes, a file the user may only write (0622) or a directory it may only
//! traverse (0711) fails with EACCES, `/dev/tty` without a controlling terminal fails with
//! ENXIO, and a device node's driver is opened for real.

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The flags of every open made here.
pub const FLAGS: libc::c_int = libc::O_PATH | libc::O_CLOEXEC;

/// Opens `path` with [`FLAGS`], following symlinks (as a rule for the path would).
pub fn open(path: &Path) -> io::Result<OwnedFd> {
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call; open takes
    // no other pointer, and the descriptor it returns is owned right below.
    let fd = unsafe { libc::open(path.as_ptr(), FLAGS) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this new descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// The flags the kernel reports for an open descriptor.
    fn status_flags(fd: &OwnedFd) -> libc::c_int {
        // SAFETY: F_GETFL takes no pointer.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) }
    }

    #[test]
    fn opens_with_o_path_and_close_on_exec() -> io::Result<()> {
        let fd = open(Path::new("/"))?;
        assert_ne!(status_flags(&fd) & libc::O_PATH, 0, "opened O_PATH");
        // SAFETY: F_GETFD takes no pointer.
        let fd_flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert_ne!(fd_flags & libc::FD_CLOEXEC, 0, "close-on-exec");
        Ok(())
    }

    #[test]
    fn a_fifo_opens_without_blocking() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let fifo = dir.path().join("fifo");
        let name = CString::new(fifo.as_os_str().as_bytes())?;
        // SAFETY: `name` is a valid NUL-terminated string; mkfifo takes no other pointer.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        // A read open would wait for a writer forever; O_PATH returns at once.
        let fd = open(&fifo)?;
        assert_ne!(status_flags(&fd) & libc::O_PATH, 0);
        Ok(())
    }
}

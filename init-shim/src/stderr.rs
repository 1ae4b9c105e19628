//! Lines to stderr, each in one write and never a panic.
//!
//! The shim shares stderr with the program it runs, and in learn mode keeps writing to it
//! while the program runs. std's `eprintln!` is wrong for that twice over: it writes a line
//! and its newline separately (another writer's output lands between them, and the learn line
//! no longer parses), and it panics on any write error but EBADF, which the shim's
//! `panic = "abort"` turns into the supervisor's death (a program that set `O_NONBLOCK` on
//! the stderr it shares, a full disk). Here a line is one `write` where the kernel allows it
//! (a pipe keeps writes of up to `PIPE_BUF` whole; longer ones are whole unless another
//! writer writes while the pipe is full), interrupted writes are retried, a full
//! non-blocking stderr is waited for up to [`PATIENCE`], and other errors drop the line.

use std::io::{self, Write};
use std::time::{Duration, Instant};

/// How long a line waits for a full non-blocking stderr before it is dropped: the supervisor
/// answers no stopped syscall meanwhile.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// `eprintln!` as the shim needs it: formats, then writes with [`line`].
#[macro_export]
macro_rules! eline {
    ($($arg:tt)*) => {
        $crate::stderr::line(&format!($($arg)*))
    };
}

/// Writes `line` and a newline to stderr (see the module doc).
pub fn line(line: &str) {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let _ = write_whole(&mut io::stderr(), &bytes, 2, PATIENCE);
}

/// Writes all of `bytes` to `out` (whose descriptor is `fd`), retrying interrupted writes and
/// waiting, up to `patience` in all, while a non-blocking `out` is full.
pub fn write_whole(
    out: &mut impl Write,
    mut bytes: &[u8],
    fd: libc::c_int,
    patience: Duration,
) -> io::Result<()> {
    let deadline = Instant::now() + patience;
    while !bytes.is_empty() {
        match out.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(e);
                }
                let mut poll = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
                // SAFETY: poll reads and writes one pollfd we own.
                unsafe { libc::poll(&mut poll, 1, ms) };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    fn pipe() -> (std::fs::File, std::fs::File) {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors, which we own from here on.
        let ret = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        assert_eq!(ret, 0, "pipe2: {}", io::Error::last_os_error());
        // SAFETY: both descriptors were just created and are not owned elsewhere.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        (read.into(), write.into())
    }

    /// A line larger than the free space of a non-blocking pipe is written whole once the
    /// reader drains it, not dropped half-way and not a panic; with nobody reading, the write
    /// gives up after its patience with an error.
    #[test]
    fn a_full_non_blocking_pipe_is_waited_for_then_given_up() {
        use std::io::Read as _;
        let (mut read, mut write) = pipe();
        let line = vec![b'x'; 200_000];
        let fd = write.as_raw_fd();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut chunk = [0u8; 65536];
            while got.len() < 200_000 {
                match read.read(&mut chunk) {
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("read: {e}"),
                }
            }
            got.len()
        });
        write_whole(&mut write, &line, fd, Duration::from_secs(10)).expect("written whole");
        assert_eq!(reader.join().expect("reader"), 200_000);

        let (_unread, mut write) = pipe();
        let fd = write.as_raw_fd();
        let error = write_whole(&mut write, &line, fd, Duration::from_millis(200))
            .expect_err("nobody reads");
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    }
}

//! A signal to a program stopped in learn mode, on the real kernel: once the supervisor has
//! received the stop, a signal whose handler was installed without `SA_RESTART` (an interval
//! timer, SIGCHLD) waits for the answer instead of failing the stopped call with EINTR, which an
//! open of a file never does unwatched (`SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`). Without the
//! flag, 4304 of 20000 opens of a program under a 100 µs SIGALRM failed so.
//!
//! Its own test binary: the handler is process-wide.

use std::ffi::CString;
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::os::unix::thread::JoinHandleExt as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use init_shim::seccomp::{self, Action, ArchRules, Filter, Install, Listener, Rule};

static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn handler(_signal: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_signal_after_the_supervisor_received_the_stop_does_not_fail_the_call_with_eintr() {
    // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = 0; // no SA_RESTART: an interrupted call would fail with EINTR
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }
    let (send, receive) = mpsc::channel();
    let (go_send, go) = mpsc::channel::<()>();
    let path = CString::new("/etc/hostname").expect("path");
    // The filter is on this one thread only (no TSYNC), as the shim's is on the program.
    let watched = std::thread::spawn(move || {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes no pointer; it is this thread's, for good.
        assert_eq!(
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
            0
        );
        let filter = Filter {
            arches: vec![ArchRules {
                arch: seccomp::arch::NATIVE,
                rules: vec![Rule::always(libc::SYS_openat as u32, Action::Notify)],
            }],
        };
        let listener = seccomp::install(&filter, Install::WithListener)
            .expect("install the filter")
            .expect("a listener");
        send.send(listener).expect("hand the listener over");
        go.recv().expect("go");
        // SAFETY: a NUL-terminated path; the fd, if any, is owned below.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        let error = std::io::Error::last_os_error();
        if fd >= 0 {
            // SAFETY: open just returned it to us.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        (fd, error.raw_os_error())
    });
    let listener: OwnedFd = receive.recv().expect("the listener");
    let listener = Listener::new(listener);
    go_send.send(()).expect("start");
    let stop = listener.recv().expect("the stopped open");
    assert_eq!(i64::from(stop.nr), libc::SYS_openat);
    // SAFETY: the thread is alive (it is stopped in the open until we answer).
    assert_eq!(
        unsafe { libc::pthread_kill(watched.as_pthread_t(), libc::SIGUSR1) },
        0
    );
    // Time for the signal to interrupt the wait, were it interruptible.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        listener.still_waiting(stop.id),
        "the signal ended the stop before the answer (the call failed with EINTR)"
    );
    listener.resume(stop.id).expect("resume");
    let (fd, errno) = watched.join().expect("the watched thread");
    assert!(
        fd >= 0,
        "the stopped open failed: errno {errno:?} (EINTR is {})",
        libc::EINTR
    );
    assert_eq!(
        HANDLED.load(Ordering::SeqCst),
        1,
        "the signal was delivered once the call returned"
    );
}

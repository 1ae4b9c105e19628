//! The floor under learn mode's cost on this machine: what one seccomp user-notification round
//! trip costs when the supervisor does nothing but answer (`recv` + `CONTINUE`), against the
//! same `openat` + `close` unfiltered. A thread installs a filter that stops `openat` (on itself
//! only) and hands the listener to a second thread of the process, which answers at once; legs
//! alternate (plain, notified, plain, notified) so that machine noise hits both; once back to
//! back, once with the caller sleeping 1 ms before each call (so the supervisor sleeps too when
//! the stop comes, as between a backend's opens). If the learn
//! supervisor's extra cost per stop (see init-shim/README.md, *Learn mode's cost*) is near this
//! floor, no work the supervisor saves can bring the overhead much lower.
//!
//!   cargo run --release -p init-shim --example notify_floor [ROUNDS] [CALLS]

use std::ffi::CString;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::time::{Duration, Instant};

use init_shim::seccomp::{self, Action, ArchRules, Filter, Install, Listener, Rule, arch};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(Ok(4), |a| a.parse())?;
    let calls: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let path = CString::new("/etc/hostname")?;
    // Back to back, and with 1 ms between calls (the supervisor asleep when a stop comes).
    for (what, gap, calls) in [
        ("back to back", None, calls),
        ("1 ms apart", Some(Duration::from_millis(1)), calls / 20),
    ] {
        let mut plain = Vec::new();
        let mut notified = Vec::new();
        for _ in 0..rounds {
            plain.push(per_call(&path, calls, gap));
            notified.push(notified_per_call(&path, calls, gap)?);
        }
        for (i, (a, b)) in plain.iter().zip(&notified).enumerate() {
            println!(
                "{what}, round {}: plain {:.2} us, notified {:.2} us per openat+close: {:.2} us per stop",
                i + 1,
                micros(*a),
                micros(*b),
                micros(*b) - micros(*a)
            );
        }
        plain.sort();
        notified.sort();
        let (a, b) = (plain[plain.len() / 2], notified[notified.len() / 2]);
        println!(
            "{what}, median: plain {:.2} us, notified {:.2} us: one stop costs {:.2} us here",
            micros(a),
            micros(b),
            micros(b) - micros(a)
        );
    }
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The mean time of one `openat` + `close` of `path`, `calls` times; with `gap`, the caller
/// sleeps that long before each call (not counted), as a program that opens a file now and
/// then, so the supervisor has gone to sleep when the stop comes.
fn per_call(path: &CString, calls: usize, gap: Option<Duration>) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..calls {
        if let Some(gap) = gap {
            std::thread::sleep(gap);
        }
        let start = Instant::now();
        // SAFETY: openat reads the NUL-terminated path; the fd it returns is closed at once.
        let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY) };
        if fd >= 0 {
            // SAFETY: fd was just opened by this thread and is not used again.
            unsafe { libc::close(fd) };
        }
        total += start.elapsed();
    }
    total / u32::try_from(calls).unwrap_or(u32::MAX)
}

/// [`per_call`] on a thread whose `openat` stops for a supervisor thread that answers at once.
fn notified_per_call(
    path: &CString,
    calls: usize,
    gap: Option<Duration>,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let (send, receive) = std::sync::mpsc::channel::<OwnedFd>();
    let path = path.clone();
    let caller = std::thread::spawn(move || -> Result<Duration, String> {
        seccomp::set_no_new_privs().map_err(|e| e.to_string())?;
        let filter = Filter {
            arches: vec![ArchRules {
                arch: arch::NATIVE,
                rules: vec![Rule::always(libc::SYS_openat as u32, Action::Notify)],
            }],
        };
        let listener = seccomp::install(&filter, Install::WithListener)
            .map_err(|e| e.to_string())?
            .ok_or("no listener")?;
        send.send(listener).map_err(|e| e.to_string())?;
        // The filter stays on this thread, which ends with the leg.
        Ok(per_call(&path, calls, gap))
    });
    let listener = Listener::new(receive.recv()?);
    let fd = listener.fd().as_raw_fd();
    let supervisor = std::thread::spawn(move || {
        loop {
            let mut ready = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll reads and writes one pollfd.
            let n = unsafe { libc::poll(&mut ready, 1, 1000) };
            if n < 0 || ready.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                return;
            }
            if ready.revents & libc::POLLIN != 0
                && let Ok(stop) = listener.recv()
            {
                let _ = listener.resume(stop.id);
            }
            if n == 0 {
                return; // the caller is done (its thread, and with it the filter, is gone)
            }
        }
    });
    let mean = caller.join().map_err(|_| "the caller panicked")??;
    let _ = supervisor.join();
    Ok(mean)
}

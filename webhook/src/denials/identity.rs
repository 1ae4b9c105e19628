//! Which process a pid names: its start time, so a pid the kernel recycled is not taken for
//! the process an audit record named.
//!
//! A Landlock domain record carries only its creator's pid (and uid, exe, comm), logged with
//! the domain's first denial, which may come long after the domain was created; the agent then
//! reads the creator's cgroup from `/proc/PID`. If the creator exited and its pid was reused,
//! that read names another process, perhaps another pod's. A pidfd would pin the process, but
//! one cannot be opened for a pid that has already gone by the time the record is read, so the
//! identity used is the start time (`/proc/PID/stat` field 22, clock ticks since boot), which
//! does not change while a process lives and differs for the process that reuses its pid. The
//! creator existed when the event happened, so a process at that pid that started later is
//! not it; and the start time is read again after the cgroup, so a reuse in between is caught.

use std::path::Path;

use super::record::Stamp;

/// A process as the kernel knows it: its pid and when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The pid (in the PID namespace of the `/proc` it was read from).
    pub pid: u32,
    /// `/proc/PID/stat` field 22: clock ticks after boot.
    pub start_ticks: u64,
}

/// Why a pid does not name the process recorded for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// No process has the pid (or its `/proc` entry cannot be read).
    Gone,
    /// Another process has it (started at `now_ticks`).
    Reused {
        /// The start time of the process that has the pid now.
        now_ticks: u64,
    },
}

/// Field 22 (`starttime`) of a `/proc/PID/stat` text. Field 2 is the command name in
/// parentheses, which may itself hold `)`, spaces and `(`: the fields after it are counted
/// from the LAST `)`.
pub fn start_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the comm come field 3 (state) onwards, so field 22 is the 20th.
    after_comm.split_ascii_whitespace().nth(19)?.parse().ok()
}

impl Identity {
    /// Reads the identity of the process that has `pid` now under `proc_root`.
    pub fn read(proc_root: &Path, pid: u32) -> Option<Identity> {
        let stat = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
        Some(Identity {
            pid,
            start_ticks: start_ticks(&stat)?,
        })
    }

    /// Whether `pid` still names this process (the check made before attributing).
    pub fn check(&self, proc_root: &Path) -> Result<(), Mismatch> {
        match Identity::read(proc_root, self.pid) {
            None => Err(Mismatch::Gone),
            Some(now) if now.start_ticks == self.start_ticks => Ok(()),
            Some(now) => Err(Mismatch::Reused {
                now_ticks: now.start_ticks,
            }),
        }
    }

    /// Whether this process started after the audit event `stamp`, so it cannot be the one the
    /// event named. `boot_millis` is when the system booted, in milliseconds since the epoch
    /// ([`boot_millis`]); a margin of [`START_MARGIN_MILLIS`] covers the tick's resolution and
    /// rounding, so only a process clearly younger than the event is refused.
    pub fn started_after(&self, stamp: Stamp, boot_millis: u64, ticks_per_second: u64) -> bool {
        let started = boot_millis
            .saturating_add(self.start_ticks.saturating_mul(1000) / ticks_per_second.max(1));
        let event = stamp
            .seconds
            .saturating_mul(1000)
            .saturating_add(u64::from(stamp.millis));
        started > event.saturating_add(START_MARGIN_MILLIS)
    }
}

/// How much younger than the event a process may look and still be taken for the one the
/// event named: clock ticks are 10 ms, the audit stamp's milliseconds are truncated.
pub const START_MARGIN_MILLIS: u64 = 50;

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, the unit of the stat start time).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf takes no pointer; it answers -1 for an unknown name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// When the system booted, in milliseconds since the epoch: the wall clock minus the time
/// since boot (`CLOCK_BOOTTIME`, the clock the stat start time counts in).
pub fn boot_millis() -> Option<u64> {
    let millis = |clock| {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec to the pointer, which is valid.
        let rc = unsafe { libc::clock_gettime(clock, &mut now) };
        (rc == 0).then(|| {
            u64::try_from(now.tv_sec).unwrap_or(0) * 1000
                + u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000_000
        })
    };
    Some(millis(libc::CLOCK_REALTIME)?.saturating_sub(millis(libc::CLOCK_BOOTTIME)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn start_time_is_counted_after_the_last_parenthesis() {
        let stat = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        assert_eq!(start_ticks(stat), Some(987_654));
        assert_eq!(start_ticks("1 (sh) S 0 1"), None, "too few fields");
        assert_eq!(start_ticks("no parenthesis"), None);
    }

    #[test]
    fn a_dead_pid_and_a_pid_of_another_start_time_are_refused() {
        let proc_root = Path::new("/proc");
        let mut sleep = Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("sleep (coreutils) runs");
        let pid = sleep.id();
        let identity = Identity::read(proc_root, pid).expect("a live sleep has a stat");
        assert_eq!(identity.check(proc_root), Ok(()));
        sleep.kill().expect("kill sleep");
        sleep.wait().expect("reap sleep");
        // Reaped: the pid is free; it names nothing, or (reused meanwhile) another process.
        match identity.check(proc_root) {
            Err(Mismatch::Gone) => {}
            Err(Mismatch::Reused { now_ticks }) => assert_ne!(now_ticks, identity.start_ticks),
            Ok(()) => panic!("the dead sleep's pid {pid} still passes as the sleep"),
        }

        // A live process whose start time is not the recorded one: what a recycled pid looks
        // like (this test's own process, recorded as having started one tick later).
        let me = Identity::read(proc_root, std::process::id()).expect("own stat");
        let recorded = Identity {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert_eq!(
            recorded.check(proc_root),
            Err(Mismatch::Reused {
                now_ticks: me.start_ticks
            })
        );
    }

    #[test]
    fn a_process_younger_than_the_event_is_not_its_creator() {
        let boot = boot_millis().expect("clocks");
        let ticks = ticks_per_second();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970");
        let stamp = |millis: u128| Stamp {
            seconds: (millis / 1000) as u64,
            millis: (millis % 1000) as u32,
            serial: 1,
        };
        let mut sleep = Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("sleep (coreutils) runs");
        let identity = Identity::read(Path::new("/proc"), sleep.id()).expect("stat");
        sleep.kill().expect("kill");
        sleep.wait().expect("reap");
        // An event a minute before the sleep started: the sleep cannot have made it.
        let before = stamp(now.as_millis() - 60_000);
        assert!(identity.started_after(before, boot, ticks));
        // An event a minute after: it may have.
        let after = stamp(now.as_millis() + 60_000);
        assert!(!identity.started_after(after, boot, ticks));
    }
}

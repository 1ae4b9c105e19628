//! The supervisor: start the program under the learn filter, stay its parent, and answer every
//! stopped syscall after recording what it needs.
//!
//! As a parent the shim behaves the way the program would without it: signals it receives are
//! forwarded to the program (a signalfd, so nothing is lost while a syscall is being handled),
//! it reaps every child that ends (it may be PID 1 of a container; it is a child subreaper
//! otherwise), and it ends with the program's status (128+N for signal N). When the program
//! exits, a shim that is PID 1 ends too (the kernel then ends the container's other processes,
//! as it would without the shim); otherwise it keeps supervising the processes the program left
//! running until they end, because their watched syscalls would fail (ENOSYS) without it.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::access::Access;
use crate::exec;
use crate::grants::{Grants, Scope};
use crate::learn::caller::{Caller, owned, take_descriptor, tcp_port};
use crate::learn::fold::fold;
use crate::learn::interpreter::executes;
use crate::learn::line::LearnLine;
use crate::learn::record::{Need, Record};
use crate::learn::resolve::{RealDirs, Whose, resolve, resolve_cached};
use crate::learn::watched::{self, AT_FDCWD, OpenFlags, Operation, PathArg};
use crate::plan::{Plan, Source, Target};
use crate::policy::Policy;
use crate::seccomp::{self, Action, Listener};
use crate::values::{Interval, PolicyPath};

/// Exit status when learning is impossible (nothing would be learned, so nothing runs).
pub const CANNOT_OBSERVE: u8 = 1;

/// Signals forwarded to the program: everything a runtime or a person sends a process, not the
/// synchronous faults, not job control, not SIGCHLD (which the shim handles).
const FORWARDED: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGALRM,
    libc::SIGURG,
    libc::SIGPWR,
    libc::SIGIO,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGVTALRM,
    libc::SIGPROF,
];

/// Why learning could not start.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// The kernel (or the container's seccomp profile) offers no user notification.
    #[error(
        "this kernel does not offer seccomp user notification (Linux 5.5 or later with seccomp filters), or the container's seccomp profile blocks the seccomp syscall"
    )]
    Unsupported,
    /// Setting up the supervisor failed.
    #[error("{what}: {source}")]
    Setup {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
}

fn setup(what: &'static str) -> impl FnOnce(io::Error) -> LearnError {
    move |source| LearnError::Setup { what, source }
}

/// Runs `program` under learn mode and returns the shim's exit status (the program's).
pub fn run(plan: &Plan, policy: &Policy, program: &OsStr, args: &[OsString]) -> u8 {
    let name = program.to_string_lossy().into_owned();
    match start(program, args) {
        Ok(started) => {
            let interval = policy.learn_interval.unwrap_or(Interval::DEFAULT).get();
            let record = Record::new(plan, started.pid as u32);
            let mut session = Session {
                name,
                program_path: exec::resolve(program).map(|p| p.to_string_lossy().into_owned()),
                cwd: std::env::current_dir()
                    .ok()
                    .and_then(|d| PolicyPath::parse(&d.to_string_lossy()).ok()),
                carried: carried(plan, policy),
                policy,
                record,
                inherited: started.inherited,
                listener: Some(started.listener),
                signals: started.signals,
                main: started.pid,
                main_status: None,
                pid1: std::process::id() == 1,
                orphans_announced: false,
                last_line: None,
                dirs: RealDirs::default(),
                other_users: (0, BTreeSet::new()),
                compat_calls: 0,
            };
            session.supervise(interval)
        }
        Err(err) => {
            crate::eline!(
                "landlock-shim: learn mode cannot observe {name:?}, so it is not run (a learning run that learns nothing must not look like success): {err}"
            );
            CANNOT_OBSERVE
        }
    }
}

struct Started {
    pid: libc::pid_t,
    listener: Listener,
    signals: OwnedFd,
    inherited: Vec<String>,
}

/// The path flags the suggestion keeps: all of them (they are the pod's annotations and the
/// webhook's volume grants), except those the profile or a volume the shim discovered grants
/// anyway. Paths are compared after resolving symlinks on both sides: in a Debian image the
/// webhook grants the token at `/var/run/secrets/...`, which the mount table calls
/// `/run/secrets/...` (`/var/run` is a link to `/run`).
fn carried(plan: &Plan, policy: &Policy) -> Vec<(PolicyPath, Access)> {
    let automatic: Vec<(PathBuf, Access, Target)> = plan
        .grants
        .iter()
        .filter(|g| {
            g.sources
                .iter()
                .any(|s| matches!(s, Source::Discovered(_) | Source::Profile(_)))
        })
        .map(|g| (resolved(&g.path), g.access, g.target))
        .collect();
    policy
        .paths
        .iter()
        .filter(|flag| {
            let path = resolved(&flag.path);
            !automatic.iter().any(|(granted, access, target)| {
                access.includes(flag.access)
                    && match target {
                        Target::Dir => path.starts_with(granted),
                        Target::File => path == *granted,
                    }
            })
        })
        .map(|flag| (flag.path.clone(), flag.access))
        .collect()
}

/// `path` with its symlinks resolved (as written when it does not exist; `/proc/self` stays
/// itself, the program's own).
fn resolved(path: &PolicyPath) -> PathBuf {
    if path.as_str().starts_with("/proc/self") {
        return path.as_path().to_path_buf();
    }
    std::fs::canonicalize(path.as_path()).unwrap_or_else(|_| path.as_path().to_path_buf())
}

/// Checks, blocks the forwarded signals into a signalfd, forks the program under the filter and
/// takes the filter's listener from it.
fn start(program: &OsStr, args: &[OsString]) -> Result<Started, LearnError> {
    if !seccomp::action_available(Action::Notify) {
        return Err(LearnError::Unsupported);
    }
    let inherited = inherited_descriptors();
    // SAFETY: an all-zero sigset_t is valid storage; sigemptyset/sigaddset initialise it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid for writes.
    unsafe { libc::sigemptyset(&mut set) };
    for signal in FORWARDED.iter().chain(&[libc::SIGCHLD]) {
        // SAFETY: `set` was initialised by sigemptyset.
        unsafe { libc::sigaddset(&mut set, *signal) };
    }
    // SAFETY: sigprocmask reads `set`; the old mask is not needed (the child's exec resets it).
    if unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
        return Err(setup("blocking signals")(io::Error::last_os_error()));
    }
    // SAFETY: signalfd reads `set` and returns a new descriptor, owned right below.
    let signals = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    let signals = owned(signals.into()).map_err(setup("creating a signalfd"))?;
    if std::process::id() != 1 {
        // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) takes no pointers.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }

    let (mut reader, writer) = io::pipe().map_err(setup("creating a pipe"))?;
    // SAFETY: the shim is single-threaded (nothing has started a thread), so the child may run
    // any code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(setup("fork")(io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(reader);
        child(writer, program, args);
    }
    drop(writer);
    // The supervisor's learn lines go to the stderr it shares with the program: a reader that
    // went away (`2>&1 | head`) must fail that write (EPIPE, the line dropped), not kill the
    // supervisor and with it every watched syscall of the program. The program keeps the
    // default: it was forked before this.
    // SAFETY: signal takes no pointers; SIG_IGN is a valid disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let mut report = [0u8; 8];
    let read = reader.read_exact(&mut report);
    let (tag, value) = report.split_at(4);
    let value = i32::from_ne_bytes(value.try_into().unwrap_or_default());
    match (read, tag) {
        (Ok(()), b"lstn") => {}
        (Ok(()), _) => {
            reap(pid);
            return Err(setup(
                "installing the seccomp filter in the program's process",
            )(io::Error::from_raw_os_error(value)));
        }
        (Err(err), _) => {
            reap(pid);
            return Err(setup("starting the program's process")(err));
        }
    }
    let listener = take_descriptor(pid as u32, value).map_err(|err| {
        // SAFETY: kill takes no pointers; pid is our child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        reap(pid);
        setup("taking the filter's listener from the program's process (learn mode needs ptrace access to its own child: same user, not blocked by Yama)")(err)
    })?;
    let listener = Listener::new(listener);
    // No SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6): it keeps the stopped caller and the
    // supervisor on one CPU, and on a quiet 2-core machine that cost more than the wake-up it
    // saves (pgbench -C -S, A/B in one run: 36 % overhead with it, 24 % without; README
    // "Learn mode's cost").
    Ok(Started {
        pid,
        listener,
        signals,
        inherited,
    })
}

/// In the forked child: filter, report the listener's number, execute (the exec is the first
/// stopped syscall). Never returns.
fn child(mut writer: io::PipeWriter, program: &OsStr, args: &[OsString]) -> ! {
    let mut report = |tag: &[u8; 4], value: i32| {
        let mut msg = tag.to_vec();
        msg.extend_from_slice(&value.to_ne_bytes());
        let _ = writer.write_all(&msg);
    };
    let installed = seccomp::set_no_new_privs()
        .map_err(seccomp::SeccompError)
        .and_then(|()| seccomp::install(&watched::filter(), seccomp::Install::WithListener));
    // The listener stays open (close-on-exec) until the program replaces this process.
    let _listener = match installed {
        Ok(Some(listener)) => {
            report(b"lstn", listener.as_raw_fd());
            listener
        }
        Ok(None) => {
            report(b"fail", libc::EINVAL);
            std::process::exit(CANNOT_OBSERVE.into())
        }
        Err(seccomp::SeccompError(err)) => {
            report(b"fail", err.raw_os_error().unwrap_or(libc::EINVAL));
            std::process::exit(CANNOT_OBSERVE.into())
        }
    };
    // The program starts with no signal blocked (the shim blocked the forwarded ones for its
    // signalfd, and a blocked mask survives exec).
    // SAFETY: an all-zero sigset_t is valid storage; sigemptyset initialises it, and
    // sigprocmask only reads it.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    let err = exec::exec(program, args);
    crate::eline!("landlock-shim: {err}");
    std::process::exit(err.exit_status().into())
}

fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waitpid writes the status into `status`.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// The shim's open descriptors the program inherits (those not close-on-exec): `0 (/dev/null)`,
/// `1 (pipe)`.
fn inherited_descriptors() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let mut out: Vec<(u32, String)> = dir
        .flatten()
        .filter_map(|entry| {
            let fd: u32 = entry.file_name().to_str()?.parse().ok()?;
            // SAFETY: F_GETFD takes no pointer; an fd that is gone answers -1.
            let fd_flags = unsafe { libc::fcntl(fd as libc::c_int, libc::F_GETFD) };
            if fd_flags < 0 || fd_flags & libc::FD_CLOEXEC != 0 {
                return None; // the shim's own (the plan's paths, ...): exec closes them
            }
            let target = std::fs::read_link(entry.path()).ok()?;
            let text = target.to_string_lossy();
            if text.starts_with("/proc/") && text.ends_with("/fd") {
                return None; // the directory being listed
            }
            let what = text.split(':').next().filter(|_| !text.starts_with('/'));
            Some((fd, what.map_or_else(|| text.to_string(), str::to_owned)))
        })
        .collect();
    out.sort();
    out.into_iter()
        .map(|(fd, what)| format!("{fd} ({what})"))
        .collect()
}

/// What one stop is about, once read.
enum Observed {
    Need(Need),
    Port { bind: bool, port: u16 },
    UdpPort { bind: bool, port: u16 },
    Foreign(PathBuf),
}

struct Session<'a> {
    name: String,
    /// The file `name` resolves to through `PATH`.
    program_path: Option<String>,
    /// The working directory the program starts in (the shim's).
    cwd: Option<PolicyPath>,
    /// The path flags the suggestion keeps (see [`carried`]).
    carried: Vec<(PolicyPath, Access)>,
    policy: &'a Policy,
    record: Record,
    inherited: Vec<String>,
    listener: Option<Listener>,
    signals: OwnedFd,
    main: libc::pid_t,
    main_status: Option<u8>,
    pid1: bool,
    orphans_announced: bool,
    last_line: Option<String>,
    dirs: RealDirs,
    /// Syscalls of processes the supervisor may not read (another user, or not dumpable), and
    /// some of their process ids.
    other_users: (u64, BTreeSet<u32>),
    /// File calls made through the 32-bit table by 64-bit programs (not decoded).
    compat_calls: u64,
}

impl Session<'_> {
    fn supervise(&mut self, interval: Duration) -> u8 {
        let mut next = Instant::now() + interval;
        loop {
            let timeout = next.saturating_duration_since(Instant::now());
            let timeout = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
            let listener_fd = self.listener.as_ref().map_or(-1, |l| l.fd().as_raw_fd());
            let mut fds = [
                libc::pollfd {
                    fd: listener_fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.signals.as_fd().as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: poll reads and writes the two pollfd structs of `fds` (a negative fd is
            // ignored).
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
            if ready > 0 {
                if fds[0].revents & libc::POLLIN != 0 {
                    self.on_stop();
                } else if fds[0].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                    // Every filtered process has exited.
                    self.listener = None;
                }
                if fds[1].revents & libc::POLLIN != 0 {
                    self.on_signals();
                }
            }
            if Instant::now() >= next {
                if self.record.take_changed() {
                    self.print(false);
                }
                next = Instant::now() + interval;
            }
            if let Some(status) = self.main_status {
                if self.pid1 || self.no_children_left() {
                    self.print(true);
                    return status;
                }
                if !self.orphans_announced {
                    self.orphans_announced = true;
                    crate::eline!(
                        "landlock-shim: {:?} exited; learn mode goes on while the processes it left running end (their watched syscalls would fail without it)",
                        self.name
                    );
                }
            }
        }
    }

    fn no_children_left(&mut self) -> bool {
        self.reap();
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG writes at most the status.
        let ret = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
    }

    fn on_signals(&mut self) {
        // SAFETY: signalfd_siginfo is plain data.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // One signal per poll round (the signalfd is blocking; poll said one is there).
        // SAFETY: read writes at most `size` bytes into `info`.
        let n = unsafe {
            libc::read(
                self.signals.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        if usize::try_from(n).ok() != Some(size) {
            return;
        }
        let signal = info.ssi_signo as libc::c_int;
        if signal == libc::SIGCHLD {
            self.reap();
        } else if self.main_status.is_none() {
            // SAFETY: kill takes no pointers.
            unsafe { libc::kill(self.main, signal) };
        } else {
            // The program has exited and the shim waits for what it left running (they are the
            // shim's children: it is their subreaper): they get the signal, so that a stop
            // request still ends the run (and its final line) instead of being dropped.
            for pid in own_children() {
                // SAFETY: kill takes no pointers; pid is a child of this process.
                unsafe { libc::kill(pid, signal) };
            }
        }
    }

    fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with WNOHANG writes at most the status.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            if pid == self.main {
                self.main_status = Some(if libc::WIFEXITED(status) {
                    u8::try_from(libc::WEXITSTATUS(status)).unwrap_or(u8::MAX)
                } else {
                    u8::try_from(128 + libc::WTERMSIG(status)).unwrap_or(u8::MAX)
                });
            }
        }
    }

    /// One stopped syscall: read what it asks for, check the caller is still the one that
    /// stopped, let it go on, record.
    fn on_stop(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        let Ok(stop) = listener.recv() else {
            return; // the caller died before we could receive it
        };
        self.record.counts.syscalls += 1;
        if stop.arch != crate::seccomp::arch::NATIVE {
            // A 64-bit program's `int 0x80` file call: counted, not decoded (see `watched`).
            self.compat_calls += 1;
            let _ = listener.resume(stop.id);
            return;
        }
        let operation = watched::decode(stop.nr, stop.args);
        if operation == Some(Operation::IoUringSetup) {
            self.record.counts.io_uring_refused += 1;
            let _ = listener.fail(stop.id, libc::ENOSYS);
            return;
        }
        let caller = Caller { tid: stop.pid };
        let observed = operation.map(|op| observe(&caller, op, &mut self.dirs));
        let valid = listener.still_waiting(stop.id);
        let _ = listener.resume(stop.id);
        if !valid {
            return;
        }
        match observed {
            Some(Ok((observed, caller))) => {
                for item in observed {
                    match item {
                        Observed::Need(need) => self.record.need_by(need, caller),
                        Observed::Port { bind, port } => self.record.port(bind, port),
                        Observed::UdpPort { bind, port } => self.record.udp_port(bind, port),
                        Observed::Foreign(path) => self.record.foreign(&path),
                    }
                }
            }
            Some(Err(e)) => {
                self.record.counts.unreadable += 1;
                // EPERM / EACCES: ptrace access to the caller is refused, because it changed
                // its credentials (setuid: gosu, su-exec, a server's workers) or is not
                // dumpable; without CAP_SYS_PTRACE none of its syscalls can be read.
                if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
                    let (count, pids) = &mut self.other_users;
                    *count += 1;
                    if pids.len() < OTHER_USER_PIDS_KEPT {
                        pids.insert(stop.pid);
                    }
                }
            }
            None => {}
        }
    }

    fn print(&mut self, is_final: bool) {
        let line = self.line(is_final).render();
        if is_final || self.last_line.as_ref() != Some(&line) {
            crate::stderr::line(&line);
        }
        self.last_line = Some(line);
    }

    fn line(&self, is_final: bool) -> LearnLine {
        let folded = fold(&self.record);
        let mut suggest = Grants::default();
        for (path, access) in &self.carried {
            suggest.grant(path.clone(), *access);
        }
        suggest
            .bind_tcp
            .extend(self.policy.bind_tcp.iter().copied());
        suggest
            .connect_tcp
            .extend(self.policy.connect_tcp.iter().copied());
        suggest
            .bind_udp
            .extend(self.policy.bind_udp.iter().copied());
        suggest
            .connect_udp
            .extend(self.policy.connect_udp.iter().copied());
        suggest.extend(&folded.grants);
        suggest.minimise(|p| {
            if p.as_path().is_dir() {
                Scope::Tree
            } else {
                Scope::Itself
            }
        });
        let counts = self.record.counts;
        let mut cannot_see = vec![
            format!(
                "io_uring: io_uring_setup is refused while learning (ENOSYS) so that programs use the syscalls learn mode sees ({} refused)",
                counts.io_uring_refused
            ),
            format!(
                "descriptors open before the program started ({}) and those received over UNIX sockets: Landlock does not check them either",
                self.inherited.join(", ")
            ),
            "reads, writes and memory-mapped I/O on open descriptors: only the open that created a descriptor is seen (it is what Landlock checks)".to_owned(),
            "signals sent and abstract UNIX sockets connected to: not recorded; in enforce mode scoping (--scope, ABI 6) refuses those that leave the sandbox, such as a sidecar's abstract socket (--scope off allows them)".to_owned(),
        ];
        if !self.record.foreign_programs.is_empty() {
            let list: Vec<&str> = self
                .record
                .foreign_programs
                .iter()
                .map(String::as_str)
                .collect();
            cannot_see.push(format!(
                "32-bit programs, whose syscalls are not observed: {}",
                list.join(", ")
            ));
        }
        if counts.not_recorded > 0 {
            cannot_see.push(format!(
                "{} needs not recorded, so not suggested: the record is full (it keeps {} directories, {} unsuggestable paths, {} 32-bit programs, so that neither the supervisor's memory nor this line grow without bound)",
                counts.not_recorded,
                crate::learn::record::DIRS_KEPT,
                crate::learn::record::NOT_SUGGESTABLE_KEPT,
                crate::learn::record::FOREIGN_KEPT,
            ));
        }
        if counts.unreadable > 0 {
            cannot_see.push(format!(
                "{} syscalls whose arguments could not be read (the caller's memory or descriptors were gone or unreadable)",
                counts.unreadable
            ));
        }
        if self.compat_calls > 0 {
            cannot_see.push(format!(
                "{} file calls (open, exec) made through the 32-bit syscall table (32-bit programs, or int 0x80 in a 64-bit one): counted, not decoded, so what they opened is not suggested",
                self.compat_calls
            ));
        }
        let mut warnings = suggest.warnings(self.cwd.as_ref());
        let (other_users, pids) = &self.other_users;
        if *other_users > 0 {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            cannot_see.push(format!(
                "{other_users} syscalls of processes that run as another user than the shim or are not dumpable (a setuid, gosu or su-exec entrypoint, a server's workers dropping privileges; process ids {}): reading another user's process needs CAP_SYS_PTRACE",
                pids.join(", ")
            ));
            warnings.push(format!(
                "learn mode could not observe {other_users} syscalls of processes that changed user: what they use is missing from this suggestion (learn with CAP_SYS_PTRACE, or as the user the program runs as)"
            ));
        }
        LearnLine {
            component: crate::launch::component(),
            is_final,
            program: self.name.clone(),
            program_path: self.program_path.clone(),
            cwd: self.cwd.as_ref().map(ToString::to_string),
            warnings,
            profile: self.policy.profile.name().to_owned(),
            discover: self.policy.discover,
            suggest,
            evidence: folded
                .evidence
                .into_iter()
                .map(|(path, evidence)| (path.to_string(), evidence))
                .collect(),
            not_suggested: folded.not_suggested,
            cannot_see,
            counts,
        }
    }
}

/// Reads and resolves what `operation` asks for, while the caller is stopped; with the
/// caller's pid, whose own `/proc/PID` is its `/proc/self`.
fn observe(
    caller: &Caller,
    operation: Operation,
    dirs: &mut RealDirs,
) -> io::Result<(Vec<Observed>, u32)> {
    let mut whose = Lazy::new(caller, dirs);
    let observed = observe_as(caller, operation, &mut whose)?;
    // Known when a path went through /proc or /dev; otherwise no pid matters (a thread's id is
    // its process's for single-threaded callers, the common case).
    let pid = whose.whose.map_or(caller.tid, |w| w.tgid);
    Ok((observed, pid))
}

fn observe_as(
    caller: &Caller,
    operation: Operation,
    whose: &mut Lazy<'_>,
) -> io::Result<Vec<Observed>> {
    let mut out = Vec::new();
    match operation {
        Operation::Open { mut path, flags } => {
            let (flags, resolve) = match flags {
                OpenFlags::Given(flags) => (flags, 0),
                OpenFlags::InMemory(how) => {
                    // struct open_how: flags, mode, resolve (u64 each).
                    let raw = caller.read(how, 24)?;
                    let field = |at: usize| {
                        raw.get(at..at + 8)
                            .and_then(|b| b.try_into().ok())
                            .map(u64::from_ne_bytes)
                            .ok_or_else(efault)
                    };
                    (field(0)?, field(16)?)
                }
            };
            let flags = flags as u32 as i32;
            if flags & libc::O_PATH != 0 {
                return Ok(out); // no access right is checked for O_PATH
            }
            // The final symlink is not followed with O_NOFOLLOW (the open fails with ELOOP)
            // nor with O_CREAT|O_EXCL (EEXIST): its target is not what the program opened.
            let exclusive = flags & (libc::O_CREAT | libc::O_EXCL) == libc::O_CREAT | libc::O_EXCL;
            if flags & libc::O_NOFOLLOW != 0 || exclusive {
                path.follow = false;
            }
            path.in_root = resolve & RESOLVE_IN_ROOT != 0;
            let Some(target) = path_of(caller, path, whose)? else {
                return Ok(out);
            };
            if !path.follow
                && std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink())
            {
                return Ok(out); // the open fails: nothing is needed
            }
            let meta = std::fs::metadata(&target);
            if exclusive && meta.is_ok() {
                return Ok(out); // EEXIST
            }
            if flags & libc::O_TMPFILE == libc::O_TMPFILE {
                // Only a directory takes an unnamed file (ENOENT, ENOTDIR otherwise).
                if meta.is_ok_and(|m| m.is_dir()) {
                    out.push(Observed::Need(Need::Change(target)));
                }
            } else if meta.is_err() {
                if flags & libc::O_CREAT != 0 && existing_parent(&target).is_some() {
                    out.push(Observed::Need(Need::Made(target)));
                }
            } else if meta.is_ok_and(|m| m.is_dir()) {
                out.push(Observed::Need(Need::List(target)));
            } else {
                let writes =
                    flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
                let access = if writes {
                    crate::Access::Rw
                } else {
                    crate::Access::Ro
                };
                out.push(Observed::Need(Need::Entry(target, access)));
            }
        }
        Operation::Exec(path) => {
            let Some(target) = path_of(caller, path, whose)? else {
                return Ok(out);
            };
            if !target.is_file() {
                return Ok(out);
            }
            let cwd = caller.cwd().ok();
            let header = executes(&target, cwd.as_deref());
            if header.thirty_two_bit {
                out.push(Observed::Foreign(target.clone()));
            }
            out.push(Observed::Need(Need::Entry(target, crate::Access::Rx)));
            for interpreter in header.interpreters {
                if let Some(resolved) = resolve(&interpreter, whose.get()?, true)
                    && resolved.is_file()
                {
                    out.push(Observed::Need(Need::Entry(resolved, crate::Access::Rx)));
                }
            }
        }
        Operation::Make(path) => {
            // An entry that exists already fails with EEXIST before Landlock is asked
            // (`mkdir -p` tries every parent): nothing is needed.
            if let Some(target) = path_of(caller, path, whose)?
                && std::fs::symlink_metadata(&target).is_err()
                && existing_parent(&target).is_some()
            {
                out.push(Observed::Need(Need::Made(target)));
            }
        }
        Operation::Remove(path) => {
            // Removing what does not exist fails with ENOENT before Landlock is asked
            // (`rm -f stale.pid`): nothing is needed.
            if let Some(target) = path_of(caller, path, whose)?
                && std::fs::symlink_metadata(&target).is_ok()
            {
                out.push(Observed::Need(Need::Made(target)));
            }
        }
        Operation::Move { from, to } => {
            let Some(source) = path_of(caller, from, whose)? else {
                return Ok(out);
            };
            if std::fs::symlink_metadata(&source).is_err() {
                return Ok(out); // ENOENT: nothing moves
            }
            out.push(Observed::Need(Need::Made(source)));
            if let Some(target) = path_of(caller, to, whose)?
                && existing_parent(&target).is_some()
            {
                out.push(Observed::Need(Need::Made(target)));
            }
        }
        Operation::Truncate(path) => {
            if let Some(target) = path_of(caller, path, whose)?
                && target.is_file()
            {
                out.push(Observed::Need(Need::Entry(target, crate::Access::Rw)));
            }
        }
        Operation::Net {
            fd,
            addr,
            len,
            bind,
        } => net(caller, fd, (addr, len), Net::from(bind), whose, &mut out)?,
        Operation::SendTo { fd, addr, len } if addr != 0 => {
            net(caller, fd, (addr, len), Net::Send, whose, &mut out)?;
        }
        Operation::SendTo { .. } => {}
        Operation::SendMsg { fd, msghdr, count } => {
            // struct mmsghdr is a msghdr (msg_name at 0, msg_namelen at 8) and a u32, padded
            // to 64 bytes on 64-bit; sendmsg is one of them without the stride mattering.
            for i in 0..count {
                let header = caller.read(msghdr + i * 64, 12)?;
                let (Some(name), Some(len)) = (header.get(0..8), header.get(8..12)) else {
                    break;
                };
                let name = u64::from_ne_bytes(name.try_into().unwrap_or_default());
                let len = u32::from_ne_bytes(len.try_into().unwrap_or_default());
                if name != 0 {
                    net(
                        caller,
                        fd,
                        (name, u64::from(len)),
                        Net::Send,
                        whose,
                        &mut out,
                    )?;
                }
            }
        }
        Operation::IoUringSetup => {}
    }
    Ok(out)
}

/// A socket address the caller binds, connects or sends to: TCP and UDP ports, and the paths
/// of pathname UNIX sockets (connecting needs `resolve_unix` from ABI 9, which `write`
/// grants; binding creates the socket file in its directory).
fn net(
    caller: &Caller,
    fd: i32,
    (addr, len): (u64, u64),
    how: Net,
    whose: &mut Lazy<'_>,
    out: &mut Vec<Observed>,
) -> io::Result<()> {
    let bind = how == Net::Bind;
    // sizeof(struct sockaddr_un): the largest address recorded.
    let len = usize::try_from(len.min(110)).unwrap_or(0);
    let sockaddr = caller.read(addr, len)?;
    if let Some(path) = unix_path(&sockaddr) {
        let given = if path.is_absolute() {
            path
        } else {
            caller.cwd()?.join(path)
        };
        // Resolved as paths of files are (`./app.sock`, a symlinked `/var/run`): connecting
        // follows a final symlink, binding creates the name itself.
        let Some(full) = kernel_path(caller, &given, !bind, whose)? else {
            return Ok(());
        };
        if bind {
            if let Some(parent) = existing_parent(&full) {
                out.push(Observed::Need(Need::Change(parent)));
            }
        } else {
            out.push(Observed::Need(Need::Entry(full, crate::Access::Rw)));
        }
        return Ok(());
    }
    let Some(port) = tcp_port(&sockaddr) else {
        return Ok(());
    };
    let kind = caller.socket(whose.get()?.tgid, fd)?;
    // A TCP socket ignores a send's address (it is connected), so only UDP sends count.
    if kind.is_tcp() && how != Net::Send {
        out.push(Observed::Port { bind, port });
    } else if kind.is_udp() {
        out.push(Observed::UdpPort { bind, port });
    }
    Ok(())
}

/// What a socket address is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    Bind,
    Connect,
    Send,
}

impl From<bool> for Net {
    fn from(bind: bool) -> Self {
        if bind { Net::Bind } else { Net::Connect }
    }
}

/// The path of a pathname `sockaddr_un` (`None` for other families, unnamed and abstract
/// sockets, which scoping covers instead).
fn unix_path(sockaddr: &[u8]) -> Option<PathBuf> {
    let family = u16::from_ne_bytes([*sockaddr.first()?, *sockaddr.get(1)?]);
    if i32::from(family) != libc::AF_UNIX {
        return None;
    }
    let path = sockaddr.get(2..)?;
    let end = path.iter().position(|b| *b == 0).unwrap_or(path.len());
    (end > 0).then(|| PathBuf::from(OsStr::from_bytes(&path[..end])))
}

/// The caller's identity, read from /proc only when a path needs it (`/proc/self`), and the
/// session's [`RealDirs`] its paths are resolved with.
struct Lazy<'a> {
    caller: &'a Caller,
    whose: Option<Whose>,
    dirs: &'a mut RealDirs,
}

impl<'a> Lazy<'a> {
    fn new(caller: &'a Caller, dirs: &'a mut RealDirs) -> Self {
        Self {
            caller,
            whose: None,
            dirs,
        }
    }

    fn get(&mut self) -> io::Result<Whose> {
        if let Some(whose) = self.whose {
            return Ok(whose);
        }
        let whose = Whose {
            tgid: self.caller.tgid()?,
            tid: self.caller.tid,
        };
        self.whose = Some(whose);
        Ok(whose)
    }
}

/// This process's children (`/proc/self/task/TID/children`; the shim has one thread).
fn own_children() -> Vec<libc::pid_t> {
    let path = format!("/proc/self/task/{}/children", std::process::id());
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

/// Process ids of [`Session::other_users`] named in the learn line.
const OTHER_USER_PIDS_KEPT: usize = 8;

/// The longest file name the kernel accepts.
const NAME_MAX: usize = 255;
/// openat2's `RESOLVE_IN_ROOT`: absolute paths (and `..`) stay under the directory descriptor.
const RESOLVE_IN_ROOT: u64 = 0x10;

/// The resolved path a path argument names, `None` when it names nothing on the file system.
fn path_of(caller: &Caller, arg: PathArg, lazy: &mut Lazy<'_>) -> io::Result<Option<PathBuf>> {
    let raw = if arg.addr == 0 {
        Vec::new()
    } else {
        caller.read_path(arg.addr)?
    };
    // A component longer than NAME_MAX fails with ENAMETOOLONG: nothing is opened.
    if raw.split(|b| *b == b'/').any(|name| name.len() > NAME_MAX) {
        return Ok(None);
    }
    // Where a relative path starts (and, under RESOLVE_IN_ROOT, an absolute one).
    let start = || {
        if arg.dirfd == AT_FDCWD {
            caller.cwd()
        } else {
            caller.fd_target(arg.dirfd)
        }
    };
    let full = if raw.is_empty() {
        if !arg.empty_is_fd {
            return Ok(None);
        }
        caller.fd_target(arg.dirfd)?
    } else {
        let given = Path::new(OsStr::from_bytes(&raw));
        match given.strip_prefix("/") {
            // openat2's RESOLVE_IN_ROOT: "/" is the directory descriptor.
            Ok(inside) if arg.in_root => start()?.join(inside),
            Ok(_) => given.to_path_buf(),
            Err(_) => start()?.join(given),
        }
    };
    if !full.is_absolute() {
        return Ok(None); // a pipe, socket or anonymous inode
    }
    kernel_path(caller, &full, arg.follow, lazy)
}

/// `full` (absolute) as the kernel resolves it: symlinks, `.` and `..`, and `/proc/self`.
fn kernel_path(
    caller: &Caller,
    full: &Path,
    follow: bool,
    lazy: &mut Lazy<'_>,
) -> io::Result<Option<PathBuf>> {
    let needs_whose = full.starts_with("/proc") || full.starts_with("/dev");
    let whose = if needs_whose {
        lazy.get()?
    } else {
        Whose {
            tgid: caller.tid,
            tid: caller.tid,
        }
    };
    Ok(resolve_cached(full, whose, follow, lazy.dirs))
}

fn existing_parent(path: &Path) -> Option<PathBuf> {
    let parent = path.parent()?;
    parent.is_dir().then(|| parent.to_path_buf())
}

fn efault() -> io::Error {
    io::Error::from_raw_os_error(libc::EFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::Kernel;
    use crate::discovery::{Discovered, Findings};
    use crate::plan::{RealFs, requests};
    use crate::profiles::{ProcView, Profile};

    #[test]
    fn a_flag_is_dropped_when_a_discovered_volume_grants_it_under_another_name()
    -> Result<(), Box<dyn std::error::Error>> {
        // As in a Debian image: /var/run -> /run, the webhook grants the token under the
        // name of its mountPath, the mount table names where it really is.
        let dir = tempfile::tempdir()?;
        let root = std::fs::canonicalize(dir.path())?;
        let token = root.join("run/secrets/kubernetes.io/serviceaccount");
        std::fs::create_dir_all(&token)?;
        std::fs::create_dir_all(root.join("var"))?;
        std::os::unix::fs::symlink(root.join("run"), root.join("var/run"))?;
        let p = |path: std::path::PathBuf| PolicyPath::parse(&path.to_string_lossy());
        let mut policy = Policy {
            profile: Profile::None,
            mode: crate::Mode::Learn,
            ..Policy::default()
        };
        let by_link = p(root.join("var/run/secrets/kubernetes.io/serviceaccount"))?;
        let own = p(root.join("app"))?;
        policy.grant(by_link, Access::Ro);
        policy.grant(own.clone(), Access::Ro);
        let findings = Findings {
            volumes: vec![Discovered {
                path: p(token)?,
                what: "projected".into(),
            }],
            passed: vec![],
        };
        let plan = Plan::new(
            &policy,
            requests(&policy, &findings, ProcView::Shared),
            Kernel::with_version(7),
            &RealFs,
        );
        assert_eq!(carried(&plan, &policy), [(own, Access::Ro)]);
        Ok(())
    }
}

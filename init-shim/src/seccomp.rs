//! Seccomp filters, hand-written in classic BPF: a small rule table compiled to a program,
//! installed on the calling process, plus the kernel's user-notification interface that learn
//! mode supervises programs with.
//!
//! A [`Filter`] lists, per architecture, syscalls (optionally with one argument's low 32 bits)
//! and what happens to them; everything else is allowed. Architectures matter because a 64-bit
//! x86 process can still make 32-bit (`int 0x80`) and x32 syscalls, whose numbers differ: a
//! filter that only knew the native numbers could be walked around.
//!
//! The compiled program is linear (one short block per rule), so every conditional jump is a
//! few instructions long and fits BPF's 8-bit offsets whatever the number of rules.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// What a filter does with a matching syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Let it run.
    Allow,
    /// Fail it with this errno, without running it.
    Errno(i32),
    /// Stop the caller and ask the supervisor holding the listener (learn mode).
    Notify,
}

impl Action {
    fn ret(self) -> u32 {
        match self {
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::Errno(errno) => {
                libc::SECCOMP_RET_ERRNO
                    | (u32::try_from(errno).unwrap_or(0) & libc::SECCOMP_RET_DATA)
            }
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
        }
    }
}

/// Compares the low 32 bits of one syscall argument (what the kernel reads for `int` arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgEq {
    /// Argument index, 0 to 5.
    pub index: u8,
    /// The value it must have.
    pub value: u32,
}

/// One syscall (with an optional argument condition) and its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The syscall number in the architecture's table.
    pub nr: u32,
    /// Only when this argument has this value.
    pub arg: Option<ArgEq>,
    /// What happens.
    pub action: Action,
}

impl Rule {
    /// A rule for every call of `nr`.
    pub const fn always(nr: u32, action: Action) -> Self {
        Self {
            nr,
            arg: None,
            action,
        }
    }

    /// A rule for calls of `nr` whose argument `index` is `value`.
    pub const fn when(nr: u32, index: u8, value: u32, action: Action) -> Self {
        Self {
            nr,
            arg: Some(ArgEq { index, value }),
            action,
        }
    }
}

/// The rules for one architecture (an `AUDIT_ARCH_*` value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchRules {
    /// The `AUDIT_ARCH_*` value the kernel reports in `seccomp_data.arch`.
    pub arch: u32,
    /// The rules, first match wins.
    pub rules: Vec<Rule>,
}

/// A seccomp filter: rules per architecture; anything unmatched is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Rules for each architecture the process might use.
    pub arches: Vec<ArchRules>,
}

/// The `AUDIT_ARCH_*` values of the architectures this build knows syscall numbers for.
pub mod arch {
    /// 64-bit x86 (x32 syscalls also report this, with bit 30 set in the number).
    pub const X86_64: u32 = 0xC000_003E;
    /// 32-bit x86 (`int 0x80` from any x86 process).
    pub const I386: u32 = 0x4000_0003;
    /// 64-bit ARM.
    pub const AARCH64: u32 = 0xC000_00B7;
    /// 32-bit ARM (compat mode on arm64).
    pub const ARM: u32 = 0x4000_0028;
    /// The bit x32 syscalls carry in their number.
    pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

    /// This build's own architecture.
    #[cfg(target_arch = "x86_64")]
    pub const NATIVE: u32 = X86_64;
    /// This build's own architecture.
    #[cfg(target_arch = "aarch64")]
    pub const NATIVE: u32 = AARCH64;
}

// Classic BPF opcodes (linux/bpf_common.h) and the layout of struct seccomp_data.
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const RET_K: u16 = 0x06; // BPF_RET | BPF_K
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const fn offset_arg_low(index: u8) -> u32 {
    // args[i] is a u64 at 16 + 8 * i; its low half comes first on little-endian machines.
    16 + 8 * index as u32 + if cfg!(target_endian = "big") { 4 } else { 0 }
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

impl Filter {
    /// Compiles the filter to a BPF program.
    pub fn program(&self) -> Vec<libc::sock_filter> {
        let mut out = vec![stmt(LD_W_ABS, OFFSET_ARCH)];
        for arch in &self.arches {
            let mut block = vec![stmt(LD_W_ABS, OFFSET_NR)];
            for rule in &arch.rules {
                match rule.arg {
                    None => {
                        block.push(jump(JEQ_K, rule.nr, 0, 1));
                        block.push(stmt(RET_K, rule.action.ret()));
                    }
                    Some(arg) => {
                        // nr? -> load arg -> value? -> return; otherwise reload nr and go on.
                        block.push(jump(JEQ_K, rule.nr, 0, 4));
                        block.push(stmt(LD_W_ABS, offset_arg_low(arg.index)));
                        block.push(jump(JEQ_K, arg.value, 0, 1));
                        block.push(stmt(RET_K, rule.action.ret()));
                        block.push(stmt(LD_W_ABS, OFFSET_NR));
                    }
                }
            }
            block.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
            // Not this arch: jump over the block (ja has a 32-bit offset), with A still the arch.
            out.push(jump(JEQ_K, arch.arch, 1, 0));
            out.push(stmt(JA, u32::try_from(block.len()).unwrap_or(u32::MAX)));
            out.extend(block);
        }
        out.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
        out
    }
}

/// Why a filter could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the seccomp filter: {0}")]
pub struct SeccompError(#[from] pub io::Error);

/// How to install a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Install {
    /// On every thread of the process (`SECCOMP_FILTER_FLAG_TSYNC`).
    AllThreads,
    /// On the calling thread, returning the user-notification listener
    /// (`SECCOMP_FILTER_FLAG_NEW_LISTENER`; only for a single-threaded caller).
    WithListener,
}

/// Installs `filter` on the calling process. The caller must have set `no_new_privs` (or hold
/// CAP_SYS_ADMIN). Returns the listener for [`Install::WithListener`].
pub fn install(filter: &Filter, how: Install) -> Result<Option<OwnedFd>, SeccompError> {
    let program = filter.program();
    let prog = libc::sock_fprog {
        len: u16::try_from(program.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "filter too long"))?,
        filter: program.as_ptr().cast_mut(),
    };
    let set = |flags: libc::c_ulong| {
        // SAFETY: seccomp(SECCOMP_SET_MODE_FILTER) reads `prog` and the `program` buffer it
        // points to, both alive for the call; it creates at most one fd (the listener), owned
        // below.
        unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        }
    };
    let ret = match how {
        Install::AllThreads => set(libc::SECCOMP_FILTER_FLAG_TSYNC),
        // WAIT_KILLABLE_RECV: once the supervisor has received a stop, the program's thread
        // ignores non-fatal signals until the answer. Without it, a signal to a handler
        // installed without SA_RESTART (an interval timer, SIGCHLD) made the stopped call fail
        // with EINTR, which an open of a file never does unwatched: 4304 of 20000 opens under
        // a 100 µs SIGALRM failed so in learn mode, none in enforce mode. A signal before the
        // supervisor receives the stop still interrupts it (the kernel's rule): 1708 to 3804
        // with the flag. Kernels before 5.19 refuse the flag (EINVAL): installed without it.
        Install::WithListener => {
            let ret = set(libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
                | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
            if ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
                set(libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)
            } else {
                ret
            }
        }
    };
    if ret < 0 {
        return Err(io::Error::last_os_error().into());
    }
    Ok(match how {
        // With TSYNC a positive return is the id of a thread that could not be synchronised.
        Install::AllThreads if ret > 0 => {
            return Err(io::Error::other(format!(
                "thread {ret} has a different seccomp filter and cannot be synchronised"
            ))
            .into());
        }
        Install::AllThreads => None,
        Install::WithListener => {
            let fd = i32::try_from(ret)
                .map_err(|_| io::Error::other("seccomp returned an invalid listener"))?;
            // SAFETY: the kernel just created this fd for us and nothing else owns it.
            Some(unsafe { OwnedFd::from_raw_fd(fd) })
        }
    })
}

/// Whether the kernel supports `action` (`SECCOMP_GET_ACTION_AVAIL`); false when seccomp
/// filters are missing or the `seccomp` syscall itself is blocked (a container's own profile).
pub fn action_available(action: Action) -> bool {
    let value: u32 = action.ret() & libc::SECCOMP_RET_ACTION_FULL;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 from the pointer, which is valid.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0u32,
            &value as *const u32,
        )
    };
    ret == 0
}

/// Sets `no_new_privs` on the calling thread (what installing a filter without CAP_SYS_ADMIN
/// needs; execve then cannot grant privileges, which Landlock requires as well).
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) takes no pointers.
    let ret = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One stopped syscall, as the kernel reports it to the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// The kernel's cookie for this stop; valid until answered or the caller dies.
    pub id: u64,
    /// The calling thread's id (in the supervisor's pid namespace).
    pub pid: u32,
    /// The syscall number.
    pub nr: i32,
    /// The `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    /// The raw arguments.
    pub args: [u64; 6],
}

/// The supervisor's end of a user-notification filter (see seccomp_unotify(2)).
#[derive(Debug)]
pub struct Listener(OwnedFd);

impl Listener {
    /// Wraps a listener fd returned by [`install`] (or fetched from the filtered process).
    pub fn new(fd: OwnedFd) -> Self {
        Self(fd)
    }

    /// The fd, for poll(2).
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.0.as_fd()
    }

    /// Receives the next stopped syscall (blocks; poll first). `ENOENT` means the caller died
    /// before it could be received.
    pub fn recv(&self) -> io::Result<Notification> {
        use std::os::fd::AsRawFd;
        // SAFETY: seccomp_notif is plain data; the kernel wants it zeroed.
        let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: NOTIF_RECV writes one struct seccomp_notif (the size the ioctl number encodes)
        // into `notif`, which lives for the call.
        let ret = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV as _,
                &mut notif as *mut libc::seccomp_notif,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Notification {
            id: notif.id,
            pid: notif.pid,
            nr: notif.data.nr,
            arch: notif.data.arch,
            args: notif.data.args,
        })
    }

    /// Whether the stopped caller of `id` is still waiting: checked after reading its memory,
    /// so that what was read belonged to that caller and not to a process that reused its pid.
    pub fn still_waiting(&self, id: u64) -> bool {
        use std::os::fd::AsRawFd;
        // SAFETY: NOTIF_ID_VALID reads one u64 from the pointer.
        let ret = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _,
                &id as *const u64,
            )
        };
        ret == 0
    }

    /// Fails the stopped syscall with `errno` without running it. `ENOENT`: the caller is gone.
    pub fn fail(&self, id: u64, errno: i32) -> io::Result<()> {
        self.answer(libc::seccomp_notif_resp {
            id,
            val: 0,
            error: -errno,
            flags: 0,
        })
    }

    /// Lets the stopped syscall run as if no filter had stopped it
    /// (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`). `ENOENT`: the caller is gone, nothing to do.
    pub fn resume(&self, id: u64) -> io::Result<()> {
        self.answer(libc::seccomp_notif_resp {
            id,
            val: 0,
            error: 0,
            flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        })
    }

    fn answer(&self, mut resp: libc::seccomp_notif_resp) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: NOTIF_SEND reads one struct seccomp_notif_resp from the pointer.
        let ret = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND as _,
                &mut resp as *mut libc::seccomp_notif_resp,
            )
        };
        if ret < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ENOENT) {
                return Err(err);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `program` on a seccomp_data the way the kernel would (a tiny interpreter of the
    /// four opcodes the compiler emits), so the layout is checked without installing anything.
    fn run(program: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, arg) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_ne_bytes());
        }
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let insn = program[pc];
            match insn.code {
                LD_W_ABS => {
                    let k = insn.k as usize;
                    a = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
                    pc += 1;
                }
                JEQ_K => pc += 1 + usize::from(if a == insn.k { insn.jt } else { insn.jf }),
                JA => pc += 1 + insn.k as usize,
                RET_K => return insn.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn rules_match_by_arch_number_and_argument() {
        let filter = Filter {
            arches: vec![
                ArchRules {
                    arch: 1,
                    rules: vec![
                        Rule::when(41, 2, 262, Action::Errno(libc::EPROTONOSUPPORT)),
                        Rule::always(425, Action::Errno(libc::ENOSYS)),
                        Rule::always(2, Action::Notify),
                    ],
                },
                ArchRules {
                    arch: 2,
                    rules: vec![Rule::when(102, 0, 1, Action::Errno(libc::ENOSYS))],
                },
            ],
        };
        let p = filter.program();
        let errno = |e: i32| libc::SECCOMP_RET_ERRNO | e as u32;
        assert_eq!(
            run(&p, 1, 41, [2, 1, 262, 0, 0, 0]),
            errno(libc::EPROTONOSUPPORT)
        );
        // Only the low 32 bits count, as for the kernel's `int protocol`.
        assert_eq!(
            run(&p, 1, 41, [2, 1, (7 << 32) | 262, 0, 0, 0]),
            errno(libc::EPROTONOSUPPORT)
        );
        assert_eq!(run(&p, 1, 41, [2, 1, 6, 0, 0, 0]), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run(&p, 1, 425, [0; 6]), errno(libc::ENOSYS));
        assert_eq!(run(&p, 1, 2, [0; 6]), libc::SECCOMP_RET_USER_NOTIF);
        assert_eq!(run(&p, 1, 3, [0; 6]), libc::SECCOMP_RET_ALLOW);
        // The same numbers on another arch mean other syscalls.
        assert_eq!(
            run(&p, 2, 41, [2, 1, 262, 0, 0, 0]),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(run(&p, 2, 102, [1, 0, 0, 0, 0, 0]), errno(libc::ENOSYS));
        assert_eq!(run(&p, 2, 102, [3, 0, 0, 0, 0, 0]), libc::SECCOMP_RET_ALLOW);
        assert_eq!(
            run(&p, 3, 41, [2, 1, 262, 0, 0, 0]),
            libc::SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn this_kernel_offers_errno_and_user_notification() {
        assert!(action_available(Action::Errno(1)));
        assert!(action_available(Action::Notify));
    }
}

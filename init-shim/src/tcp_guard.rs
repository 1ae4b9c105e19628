//! The syscalls a process under TCP port rules must not make, because Landlock's TCP rules
//! would not see what they do.
//!
//! Landlock's `bind`/`connect` rules match only `IPPROTO_TCP` sockets. A Multipath TCP socket
//! (`socket(AF_INET or AF_INET6, SOCK_STREAM, IPPROTO_MPTCP)`) speaks TCP on the wire but is not
//! checked, so `--connect-tcp 5432` alone would let a program connect and bind anywhere. When any
//! TCP rule is in force the sandbox therefore also installs a seccomp filter that fails:
//!
//! | syscall | errno | why that errno |
//! |---|---|---|
//! | `socket(.., .., IPPROTO_MPTCP)` | `EPROTONOSUPPORT` | what a kernel without MPTCP answers: Go's net package (1.21+, which listens with MPTCP by default from 1.24) records "MPTCP unavailable" on exactly this errno and uses plain TCP; curl `--mptcp`, mptcpize and other clients fall back on any error |
//! | `io_uring_setup` | `ENOSYS` | io_uring's `IORING_OP_SOCKET`/`CONNECT`/`BIND` create and connect sockets without the `socket` syscall, so seccomp cannot inspect them; ENOSYS is what a kernel without io_uring answers, and libraries (liburing users, libuv) fall back to plain syscalls (container runtimes' default seccomp profiles block io_uring too) |
//! | 32-bit x86 `socketcall(SYS_SOCKET, ..)` | `ENOSYS` | its arguments are behind a pointer seccomp cannot read; 32-bit programs must use the direct `socket` syscall (musl does, and falls back to it on ENOSYS; glibc built for kernels before 4.3 does not) |
//!
//! **UDP rules (ABI 10)** were checked against the same reasoning; they need one more rule:
//!
//! | case | covered by Landlock? | the guard |
//! |---|---|---|
//! | `sendto`, `sendmsg` with `msg_name` | yes: `connect-udp` is Landlock's `CONNECT_SEND_UDP`, checked on every send that names an address, as on `connect` | nothing to add |
//! | `sendmmsg` | yes: the kernel sends each message through the same `sendmsg` path and its LSM hook | nothing to add |
//! | `send`/`write` on a connected socket | the address was checked at `connect` | nothing to add |
//! | UDP-Lite, `socket(.., SOCK_DGRAM, IPPROTO_UDPLITE)` | not documented to be: Landlock's UDP rules are for `IPPROTO_UDP` sockets, and UDP-Lite is a protocol of its own (deprecated in Linux) | `socket(IPPROTO_UDPLITE)` fails with `EPROTONOSUPPORT` when UDP rules are in force |
//! | io_uring (`IORING_OP_SOCKET` would create a UDP-Lite socket unseen by seccomp) | | `io_uring_setup` denied, as for TCP |
//! | 32-bit `socketcall` | | denied, as for TCP |
//!
//! So the guard is installed whenever a TCP or a UDP rule is in force, with the UDP-Lite rule
//! only when UDP rules are (a TCP-only policy leaves all datagram sockets unrestricted anyway).
//!
//! The same checks apply to every syscall table a process can reach (x86_64, x32, i386 on x86;
//! arm64 and arm on ARM), since a 64-bit process can make 32-bit syscalls too.

use crate::seccomp::{Action, ArchRules, Filter, Rule, arch};

/// `IPPROTO_MPTCP`.
const MPTCP: u32 = 262;
/// `IPPROTO_UDPLITE`.
const UDPLITE: u32 = 136;
/// `SYS_SOCKET`, socketcall's first argument for socket().
const SOCKETCALL_SOCKET: u32 = 1;

/// What the guard denies, as the startup line lists it.
pub const DENIES: &[&str] = &[
    "socket(IPPROTO_MPTCP): EPROTONOSUPPORT",
    "io_uring_setup: ENOSYS",
    "i386 socketcall(SYS_SOCKET): ENOSYS",
];

fn mptcp(socket: u32) -> Rule {
    Rule::when(socket, 2, MPTCP, Action::Errno(libc::EPROTONOSUPPORT))
}

/// What the guard denies besides [`DENIES`] when UDP rules are in force.
pub const DENIES_WITH_UDP: &[&str] = &["socket(IPPROTO_UDPLITE): EPROTONOSUPPORT"];

fn udplite(socket: u32) -> Rule {
    Rule::when(socket, 2, UDPLITE, Action::Errno(libc::EPROTONOSUPPORT))
}

fn no_io_uring(io_uring_setup: u32) -> Rule {
    Rule::always(io_uring_setup, Action::Errno(libc::ENOSYS))
}

/// The guard's filter for this build's architecture (with the UDP-Lite rule when `udp` rules
/// are in force), or `None` where this build does not know the syscall numbers (the plan then
/// reports the guard as not enforceable).
pub fn filter(udp: bool) -> Option<Filter> {
    // One socket rule set per syscall number of socket(): MPTCP always, UDP-Lite with UDP rules.
    let socket = |nr: u32| {
        let mut rules = vec![mptcp(nr)];
        if udp {
            rules.push(udplite(nr));
        }
        rules
    };
    if cfg!(target_arch = "x86_64") {
        let x32 = arch::X32_SYSCALL_BIT;
        let mut x86_64 = socket(41);
        x86_64.push(no_io_uring(425));
        x86_64.extend(socket(x32 | 41));
        x86_64.push(no_io_uring(x32 | 425));
        let mut i386 = socket(359);
        i386.push(no_io_uring(425));
        i386.push(Rule::when(
            102,
            0,
            SOCKETCALL_SOCKET,
            Action::Errno(libc::ENOSYS),
        ));
        Some(Filter {
            arches: vec![
                ArchRules {
                    arch: arch::X86_64,
                    rules: x86_64,
                },
                ArchRules {
                    arch: arch::I386,
                    rules: i386,
                },
            ],
        })
    } else if cfg!(target_arch = "aarch64") {
        let mut aarch64 = socket(198);
        aarch64.push(no_io_uring(425));
        let mut arm = socket(281);
        arm.push(no_io_uring(425));
        Some(Filter {
            arches: vec![
                ArchRules {
                    arch: arch::AARCH64,
                    rules: aarch64,
                },
                ArchRules {
                    arch: arch::ARM,
                    rules: arm,
                },
            ],
        })
    } else {
        None
    }
}

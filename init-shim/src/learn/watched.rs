//! The syscalls learn mode stops, and what each one asks of the file system or the network.
//!
//! | syscalls | what Landlock would check | recorded as |
//! |---|---|---|
//! | `open`, `openat`, `openat2`, `creat` | read / write / truncate the file, list a directory, create in the parent | the file (`read`, `write`), the directory listed, or the parent changed |
//! | `execve`, `execveat` | execute the file (and its `#!` or ELF interpreter) | `read-exec` |
//! | `mkdir*`, `mknod*`, `symlink*`, `link*`, `rename*`, `unlink*`, `rmdir` | create, remove or move entries of the parent directory | the parent changed (`write`) |
//! | `truncate`, `ftruncate` | truncate the file | `write` |
//! | `bind`, `connect` | TCP port (IPv4, IPv6) | `bind-tcp`, `connect-tcp` |
//! | `bind`, `connect`, `sendto`, `sendmsg`, `sendmmsg` | UDP port (ABI 10) | `bind-udp`, `connect-udp` |
//! | `connect` to a pathname UNIX socket | `resolve_unix` (ABI 9) | the socket, `write` |
//! | `bind` of a pathname UNIX socket | create the socket file | the parent changed (`write`) |
//!
//! `sendto` is stopped only when it names an address (its fifth argument is not NULL, judged
//! by the low 32 bits as seccomp compares them), so a plain `send` on a connected socket runs
//! unobserved; `sendmsg`/`sendmmsg` are stopped always (the address is behind a pointer) and
//! the first 16 messages of a `sendmmsg` are read.
//! | `io_uring_setup` | nothing: refused with ENOSYS while learning, so programs use plain syscalls | counted in `cannot_see` |
//!
//! Only the native syscall table is watched; a 32-bit program is reported, not observed.

use crate::seccomp::{Action, ArchRules, Filter, Rule, arch};

/// `AT_FDCWD`.
pub const AT_FDCWD: i32 = -100;
const AT_EMPTY_PATH: u64 = 0x1000;
const AT_SYMLINK_FOLLOW: u64 = 0x400;

/// A path argument: a string in the caller's memory, relative to a directory descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathArg {
    /// The directory descriptor relative paths start from (`AT_FDCWD`: the working directory).
    pub dirfd: i32,
    /// Where the NUL-terminated path is in the caller's memory.
    pub addr: u64,
    /// Whether an empty path means the descriptor itself (`AT_EMPTY_PATH`).
    pub empty_is_fd: bool,
    /// Whether a symlink in the last component is followed.
    pub follow: bool,
    /// Whether an absolute path starts at the directory descriptor, not at `/` (openat2's
    /// `RESOLVE_IN_ROOT`; set when the flags are read).
    pub in_root: bool,
}

impl PathArg {
    fn at(dirfd: u64, addr: u64) -> Self {
        Self {
            dirfd: low32(dirfd),
            addr,
            empty_is_fd: false,
            follow: true,
            in_root: false,
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn cwd(addr: u64) -> Self {
        Self::at(AT_FDCWD as u64, addr)
    }

    fn entry(self) -> Self {
        Self {
            follow: false,
            ..self
        }
    }
}

/// The flags of an open: given in a register, or in `struct open_how` in memory (openat2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFlags {
    /// The flags.
    Given(u64),
    /// The address of `struct open_how`, whose first field is the flags.
    InMemory(u64),
}

/// What one watched syscall asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Open (or create) a file or directory.
    Open {
        /// The path.
        path: PathArg,
        /// Its flags.
        flags: OpenFlags,
    },
    /// Execute a file.
    Exec(PathArg),
    /// Make a new entry (directory, node, symlink) in the path's parent directory.
    Make(PathArg),
    /// Remove the entry from its parent directory.
    Remove(PathArg),
    /// Move or link an entry from one directory to another.
    Move {
        /// The existing entry.
        from: PathArg,
        /// The new name.
        to: PathArg,
    },
    /// Truncate a file.
    Truncate(PathArg),
    /// Bind or connect a socket.
    Net {
        /// The socket descriptor.
        fd: i32,
        /// Where the socket address is in the caller's memory.
        addr: u64,
        /// Its length.
        len: u64,
        /// Bind (true) or connect (false).
        bind: bool,
    },
    /// Send a datagram to an address (`sendto`).
    SendTo {
        /// The socket descriptor.
        fd: i32,
        /// Where the socket address is in the caller's memory (0: none).
        addr: u64,
        /// Its length.
        len: u64,
    },
    /// Send messages that may name an address (`sendmsg`: one, `sendmmsg`: `count`).
    SendMsg {
        /// The socket descriptor.
        fd: i32,
        /// Where the first `msghdr` (or `mmsghdr`) is in the caller's memory.
        msghdr: u64,
        /// How many headers to read.
        count: u64,
    },
    /// Set up an io_uring (refused while learning).
    IoUringSetup,
}

fn low32(value: u64) -> i32 {
    value as u32 as i32
}

fn nr(number: libc::c_long) -> u32 {
    u32::try_from(number).unwrap_or(u32::MAX)
}

/// The native syscall numbers learn mode stops.
pub fn numbers() -> Vec<libc::c_long> {
    let mut out = vec![
        libc::SYS_openat,
        libc::SYS_openat2,
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_mkdirat,
        libc::SYS_mknodat,
        libc::SYS_symlinkat,
        libc::SYS_linkat,
        libc::SYS_renameat2,
        libc::SYS_unlinkat,
        libc::SYS_truncate,
        libc::SYS_ftruncate,
        libc::SYS_bind,
        libc::SYS_connect,
        libc::SYS_io_uring_setup,
        libc::SYS_sendto,
        libc::SYS_sendmsg,
        libc::SYS_sendmmsg,
    ];
    #[cfg(target_arch = "x86_64")]
    out.extend([
        libc::SYS_open,
        libc::SYS_creat,
        libc::SYS_mkdir,
        libc::SYS_mknod,
        libc::SYS_symlink,
        libc::SYS_link,
        libc::SYS_rename,
        libc::SYS_renameat,
        libc::SYS_unlink,
        libc::SYS_rmdir,
    ]);
    out
}

/// The 32-bit x86 table's numbers of the calls that open, execute or create files
/// (`open`, `creat`, `execve`, `openat`, `execveat`, `openat2`): made through `int 0x80` by a
/// 64-bit program, they are stopped only to be counted (their arguments are 32-bit values of
/// another table, which learn mode does not decode), so that `cannot_see` says they happened.
#[cfg(target_arch = "x86_64")]
pub const COMPAT_COUNTED: [u32; 6] = [5, 8, 11, 295, 358, 437];
/// `io_uring_setup` in the 32-bit x86 table: refused as in the native one.
#[cfg(target_arch = "x86_64")]
const COMPAT_IO_URING_SETUP: u32 = 425;

/// The learn filter: stop every watched syscall of the native table, allow everything else
/// (on x86_64, the 32-bit table's file calls are stopped to be counted, and its io_uring
/// refused).
pub fn filter() -> Filter {
    let native = ArchRules {
        arch: arch::NATIVE,
        // A sendto without an address (a plain send) runs unstopped; first match wins.
        rules: std::iter::once(Rule::when(nr(libc::SYS_sendto), 4, 0, Action::Allow))
            .chain(
                numbers()
                    .into_iter()
                    .map(|number| Rule::always(nr(number), Action::Notify)),
            )
            .collect(),
    };
    #[cfg(target_arch = "x86_64")]
    let arches = vec![
        native,
        ArchRules {
            arch: arch::I386,
            rules: std::iter::once(Rule::always(
                COMPAT_IO_URING_SETUP,
                Action::Errno(libc::ENOSYS),
            ))
            .chain(
                COMPAT_COUNTED
                    .into_iter()
                    .map(|number| Rule::always(number, Action::Notify)),
            )
            .collect(),
        },
    ];
    #[cfg(not(target_arch = "x86_64"))]
    let arches = vec![native];
    Filter { arches }
}

/// What syscall `number` with `args` asks for (`None` for a syscall learn mode does not watch).
pub fn decode(number: i32, a: [u64; 6]) -> Option<Operation> {
    let number = libc::c_long::from(number);
    #[cfg(target_arch = "x86_64")]
    {
        let legacy = match number {
            libc::SYS_open => Some(Operation::Open {
                path: PathArg::cwd(a[0]),
                flags: OpenFlags::Given(a[1]),
            }),
            libc::SYS_creat => Some(Operation::Open {
                path: PathArg::cwd(a[0]),
                flags: OpenFlags::Given((libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64),
            }),
            libc::SYS_mkdir | libc::SYS_mknod => Some(Operation::Make(PathArg::cwd(a[0]).entry())),
            libc::SYS_symlink => Some(Operation::Make(PathArg::cwd(a[1]).entry())),
            libc::SYS_link | libc::SYS_rename => Some(Operation::Move {
                from: PathArg::cwd(a[0]).entry(),
                to: PathArg::cwd(a[1]).entry(),
            }),
            libc::SYS_renameat => Some(Operation::Move {
                from: PathArg::at(a[0], a[1]).entry(),
                to: PathArg::at(a[2], a[3]).entry(),
            }),
            libc::SYS_unlink | libc::SYS_rmdir => {
                Some(Operation::Remove(PathArg::cwd(a[0]).entry()))
            }
            _ => None,
        };
        if legacy.is_some() {
            return legacy;
        }
    }
    Some(match number {
        libc::SYS_openat => Operation::Open {
            path: PathArg::at(a[0], a[1]),
            flags: OpenFlags::Given(a[2]),
        },
        libc::SYS_openat2 => Operation::Open {
            path: PathArg::at(a[0], a[1]),
            flags: OpenFlags::InMemory(a[2]),
        },
        libc::SYS_execve => Operation::Exec(PathArg::at(AT_FDCWD as u64, a[0])),
        libc::SYS_execveat => Operation::Exec(PathArg {
            empty_is_fd: a[4] & AT_EMPTY_PATH != 0,
            ..PathArg::at(a[0], a[1])
        }),
        libc::SYS_mkdirat | libc::SYS_mknodat => Operation::Make(PathArg::at(a[0], a[1]).entry()),
        libc::SYS_symlinkat => Operation::Make(PathArg::at(a[1], a[2]).entry()),
        libc::SYS_linkat => Operation::Move {
            from: PathArg {
                empty_is_fd: a[4] & AT_EMPTY_PATH != 0,
                follow: a[4] & AT_SYMLINK_FOLLOW != 0,
                ..PathArg::at(a[0], a[1])
            },
            to: PathArg::at(a[2], a[3]).entry(),
        },
        libc::SYS_renameat2 => Operation::Move {
            from: PathArg::at(a[0], a[1]).entry(),
            to: PathArg::at(a[2], a[3]).entry(),
        },
        libc::SYS_unlinkat => Operation::Remove(PathArg::at(a[0], a[1]).entry()),
        libc::SYS_truncate => Operation::Truncate(PathArg::at(AT_FDCWD as u64, a[0])),
        libc::SYS_ftruncate => Operation::Truncate(PathArg {
            empty_is_fd: true,
            ..PathArg::at(a[0], 0)
        }),
        libc::SYS_bind | libc::SYS_connect => Operation::Net {
            fd: low32(a[0]),
            addr: a[1],
            len: a[2],
            bind: number == libc::SYS_bind,
        },
        libc::SYS_sendto => Operation::SendTo {
            fd: low32(a[0]),
            addr: a[4],
            len: a[5],
        },
        libc::SYS_sendmsg => Operation::SendMsg {
            fd: low32(a[0]),
            msghdr: a[1],
            count: 1,
        },
        libc::SYS_sendmmsg => Operation::SendMsg {
            fd: low32(a[0]),
            msghdr: a[1],
            count: a[2].min(16),
        },
        libc::SYS_io_uring_setup => Operation::IoUringSetup,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_watched_number_decodes() {
        for number in numbers() {
            let number = i32::try_from(number).expect("small syscall number");
            assert!(decode(number, [0; 6]).is_some(), "syscall {number}");
        }
        assert_eq!(decode(libc::SYS_read as i32, [0; 6]), None);
    }

    #[test]
    fn dirfds_are_the_low_32_bits_and_entries_do_not_follow() {
        let op = decode(
            libc::SYS_unlinkat as i32,
            [0xffff_ffff_ffff_ff9c, 0x1000, 0, 0, 0, 0],
        );
        assert_eq!(
            op,
            Some(Operation::Remove(PathArg {
                dirfd: AT_FDCWD,
                addr: 0x1000,
                empty_is_fd: false,
                follow: false,
                in_root: false,
            }))
        );
        let op = decode(libc::SYS_ftruncate as i32, [7, 0, 0, 0, 0, 0]);
        assert!(matches!(
            op,
            Some(Operation::Truncate(PathArg {
                dirfd: 7,
                empty_is_fd: true,
                ..
            }))
        ));
    }

    #[test]
    fn sends_decode_with_their_address_and_message_count() {
        assert_eq!(
            decode(libc::SYS_sendto as i32, [5, 0x10, 1, 0, 0x2000, 16]),
            Some(Operation::SendTo {
                fd: 5,
                addr: 0x2000,
                len: 16
            })
        );
        assert_eq!(
            decode(libc::SYS_sendmsg as i32, [5, 0x3000, 0, 0, 0, 0]),
            Some(Operation::SendMsg {
                fd: 5,
                msghdr: 0x3000,
                count: 1
            })
        );
        // sendmmsg: at most 16 headers are read.
        assert_eq!(
            decode(libc::SYS_sendmmsg as i32, [5, 0x3000, 1024, 0, 0, 0]),
            Some(Operation::SendMsg {
                fd: 5,
                msghdr: 0x3000,
                count: 16
            })
        );
        // A plain send (sendto without an address) is let through by the filter's first rule.
        let rules = &filter().arches[0].rules;
        assert_eq!(
            rules[0],
            Rule::when(nr(libc::SYS_sendto), 4, 0, Action::Allow)
        );
    }
}

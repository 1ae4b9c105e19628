//! Learn mode (`landlock-shim --mode learn`): run the program with nothing denied, observe every
//! operation Landlock would need a right for, and print the policy that lets it run.
//!
//! How: the shim forks; the child sets `no_new_privs`, installs a seccomp filter that stops the
//! watched syscalls ([`watched`]) with `SECCOMP_RET_USER_NOTIF`, and executes the program; the
//! shim stays the parent and supervises ([`supervise`]): for each stop it reads the syscall's
//! path or address from the caller's memory ([`caller`]), resolves it the way the kernel will
//! ([`resolve`]), records what it needs unless the profile, a flag or a discovered volume already
//! grants it ([`record`]), and lets the syscall run unchanged (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
//! No capability beyond `no_new_privs` is needed (it works as a non-root user in a `restricted`
//! pod), and it is not ptrace: the program is never stopped except inside the watched syscalls.
//! The filter is inherited, so threads and child processes are observed too.
//!
//! Every `--learn-interval` (and at exit) the shim folds what it recorded into a suggestion
//! ([`fold`]) and prints it, when it changed, as one JSON line ([`line`]).
//!
//! **Best effort, by design.** Learn mode observes; it does not enforce. The path a syscall
//! uses is read from the caller's memory before the kernel reads it, so another thread of the
//! program could change it in between (time of check to time of use): a recorded path is what
//! the program most likely used, which is what a suggestion needs, never a security decision.
//! What learn mode cannot see (io_uring, already-open descriptors, memory-mapped I/O, 32-bit
//! programs) is listed in the learn line's `cannot_see`.

pub mod caller;
pub mod fold;
pub mod interpreter;
pub mod line;
pub mod record;
pub mod resolve;
pub mod supervise;
pub mod watched;

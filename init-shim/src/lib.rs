//! The Landlock policy model of landlock-injector, shared by the webhook (which renders it into
//! shim flags) and `landlock-shim` (which parses the flags, adds its profile and the volumes it
//! discovers, and applies the result with Landlock before it runs the program).
//!
//! | module       | decides                                                        |
//! |--------------|----------------------------------------------------------------|
//! | [`values`]   | what a valid path, port or mode is                             |
//! | [`access`]   | what `ro` / `rx` / `rw` / `rwx` mean in Landlock rights        |
//! | [`profiles`] | which paths the base profiles grant                            |
//! | [`policy`]   | what one shim invocation asks for                              |
//! | [`flags`]    | how a policy is written on, and read from, the command line    |
//! | [`compat`]   | what the kernel's Landlock ABI can enforce (the ABI table)     |
//! | [`discovery`]| which mounts are kubelet-written volumes (`/proc/self/mountinfo`) |
//! | [`grants`]   | a policy in the annotation vocabulary (what learn mode suggests) |
//! | [`path_fd`]  | opening a path only to name it (`O_PATH`, flags unchanged on musl) |
//! | [`path_text`]| path bytes as text that round-trips (`\xHH` escapes)          |
//! | [`plan`]     | the merged grants with their sources, what is skipped, dropped |
//! | [`ruleset`]  | applying a plan with Landlock (no_new_privs, restrict self)    |
//! | [`seccomp`]  | classic-BPF seccomp filters: rules, install, availability      |
//! | [`tcp_guard`]| the syscalls denied alongside TCP rules (MPTCP, io_uring)      |
//! | [`startup_line`] | the one JSON line that says what the sandbox allows        |
//! | [`stderr`]   | lines to stderr, each in one write, never a panic              |
//! | [`exec`]     | replacing the shim with the program (exit 126 / 127)           |
//! | [`install`]  | `landlock-shim install DIR`                                    |
//! | [`launch`]   | the steps of `landlock-shim -- PROGRAM`, in order              |
//! | [`learn`]    | `--mode learn`: observe the program, suggest its policy        |
//!
//! A program that wants to sandbox itself (the webhook does) builds a [`Policy`], turns it into
//! [`plan::Request`]s and a [`plan::Plan`] for [`compat::Kernel::detect`], applies it with
//! [`ruleset::apply`] and logs [`startup_line::render`].

pub mod access;
pub mod compat;
pub mod discovery;
pub mod exec;
pub mod flags;
pub mod grants;
pub mod install;
pub mod launch;
pub mod learn;
pub mod path_fd;
pub mod path_text;
pub mod plan;
pub mod policy;
pub mod profiles;
pub mod ruleset;
pub mod seccomp;
pub mod startup_line;
pub mod stderr;
pub mod tcp_guard;
pub mod values;

pub use access::Access;
pub use policy::{BroadGrant, Covers, PathGrant, Policy};
pub use profiles::Profile;
pub use values::{Mode, PolicyPath, Port, Reach, Scoping, ValueError};

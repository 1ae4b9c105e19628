//! `landlock-shim`: sandboxes itself with Landlock, then executes the program it wraps.
//! Argument parsing and the steps live in the library; this file only connects them.
//!
//! `no_main`: the shim runs before every program of a sandboxed container and then executes
//! it, so Rust's runtime set-up (a stack guard read from /proc/self/maps, an alternate signal
//! stack and handlers, all discarded by the exec a moment later) is skipped. The arguments are
//! read from `main`'s own `argc`/`argv`, not `std::env::args_os`: std fills that from glibc's
//! init array, which musl does not offer, and the shim is built for musl (it starts faster:
//! no `cpuid` probing at start-up; see the README's *Speed*).
#![no_main]

use init_shim::flags::{self, Command};
use init_shim::{install, launch};

/// Exit status for a command line the shim cannot accept.
const USAGE_ERROR: u8 = 2;

/// The C entry point (see the module doc for why not Rust's `fn main`).
#[unsafe(no_mangle)]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    let status = run(arguments(argc, argv));
    // Rust's stdout buffer is not flushed by the C exit path.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::ffi::c_int::from(status)
}

/// The command line as the C runtime handed it to `main`.
fn arguments(
    argc: std::ffi::c_int,
    argv: *const *const std::ffi::c_char,
) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    let count = usize::try_from(argc).unwrap_or(0);
    (0..count)
        .map(|i| {
            // SAFETY: the C runtime passes `argc` valid, NUL-terminated strings in `argv`,
            // alive for the whole process; each is copied before `main` returns.
            let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
            std::ffi::OsStr::from_bytes(arg.to_bytes()).to_owned()
        })
        .collect()
}

fn run(args: Vec<std::ffi::OsString>) -> u8 {
    let command = match flags::parse(args.into_iter().skip(1)) {
        Ok(command) => command,
        Err(err) => {
            init_shim::eline!("landlock-shim: {err}");
            init_shim::eline!(
                "usage: landlock-shim [FLAGS] -- PROGRAM [ARG]... (see landlock-shim --help)"
            );
            return USAGE_ERROR;
        }
    };
    match command {
        Command::Help => {
            print!("{}", flags::USAGE);
            0
        }
        Command::Version => {
            println!("{}", launch::component());
            0
        }
        Command::Install { dir } => match install::install(&dir) {
            Ok(path) => {
                init_shim::eline!("landlock-shim: installed {}", path.display());
                0
            }
            Err(err) => {
                init_shim::eline!("landlock-shim: install: {err}");
                1
            }
        },
        Command::Run {
            policy,
            program,
            args,
        } => launch::run(&policy, &program, &args),
    }
}

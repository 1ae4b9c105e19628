//! `landlock-shim`: sandboxes itself with Landlock, then executes the program it wraps.
//! Argument parsing and the steps live in the library; this file only connects them.

use std::process::ExitCode;

use init_shim::flags::{self, Command};
use init_shim::{install, launch};

/// Exit status for a command line the shim cannot accept.
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let command = match flags::parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("landlock-shim: {err}");
            eprintln!(
                "usage: landlock-shim [FLAGS] -- PROGRAM [ARG]... (see landlock-shim --help)"
            );
            return ExitCode::from(USAGE_ERROR);
        }
    };
    match command {
        Command::Help => {
            print!("{}", flags::USAGE);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("{}", launch::component());
            ExitCode::SUCCESS
        }
        Command::Install { dir } => match install::install(&dir) {
            Ok(path) => {
                eprintln!("landlock-shim: installed {}", path.display());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("landlock-shim: install: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Run {
            policy,
            program,
            args,
        } => ExitCode::from(launch::run(&policy, &program, &args)),
    }
}

//! Replacing the shim with the program, with the shell's exit-status conventions: 127 when the
//! program is not found, 126 when it is found but cannot be executed.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Exit status when the program is not found (as in POSIX shells).
pub const NOT_FOUND: u8 = 127;
/// Exit status when the program cannot be executed (as in POSIX shells).
pub const NOT_EXECUTABLE: u8 = 126;

/// Why the program could not be executed.
#[derive(Debug, thiserror::Error)]
#[error("cannot execute {program:?}: {source}{hint}")]
pub struct ExecError {
    /// The program as given.
    pub program: String,
    /// The error from execve.
    pub source: io::Error,
    hint: &'static str,
}

impl ExecError {
    /// The exit status the shim ends with.
    pub fn exit_status(&self) -> u8 {
        match self.source.kind() {
            io::ErrorKind::NotFound => NOT_FOUND,
            _ => NOT_EXECUTABLE,
        }
    }
}

/// Executes `program` with `args`, looking it up in `PATH` like `execvp`. Returns only on
/// failure.
pub fn exec(program: &OsStr, args: &[OsString]) -> ExecError {
    let source = Command::new(program).args(args).exec();
    let hint = if source.kind() == io::ErrorKind::PermissionDenied {
        " (is the program, or its directory, granted with --rx or --rwx?)"
    } else {
        ""
    };
    ExecError {
        program: program.to_string_lossy().into_owned(),
        source,
        hint,
    }
}

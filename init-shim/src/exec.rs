//! Replacing the shim with the program, with the shell's exit-status conventions: 127 when the
//! program is not found, 126 when it is found but cannot be executed.
//!
//! The `PATH` lookup is the shim's own rather than `execvp`'s: `execvp` silently goes on to
//! the next `PATH` entry when one cannot be executed (`EACCES`), so a sandbox that denies a
//! version manager's shim script (pyenv, asdf) would run, and learn mode observe, another
//! interpreter than the one the user runs. The shim tries the same entries in the same order,
//! but says which file it runs ([`resolve`], in the startup and learn lines) and warns on every
//! entry it falls through.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Exit status when the program is not found (as in POSIX shells).
pub const NOT_FOUND: u8 = 127;
/// Exit status when the program cannot be executed (as in POSIX shells).
pub const NOT_EXECUTABLE: u8 = 126;

/// `PATH` when the environment has none (glibc's and musl's `execvp` default).
const DEFAULT_PATH: &str = "/usr/local/bin:/bin:/usr/bin";

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

/// The files `program` may be executed as, in the order `execvp` tries them: `program` itself
/// when it contains a `/`, else each `PATH` entry joined with it.
pub fn candidates(program: &OsStr) -> Vec<PathBuf> {
    if program.as_bytes().contains(&b'/') || program.is_empty() {
        return vec![PathBuf::from(program)];
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    std::env::split_paths(&path)
        .map(|dir| {
            // An empty PATH element means the working directory.
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            dir.join(program)
        })
        .collect()
}

/// The file `program` resolves to: the first candidate that is a regular file with an execute
/// bit (what `command -v` prints), made absolute against the working directory.
pub fn resolve(program: &OsStr) -> Option<PathBuf> {
    candidates(program).into_iter().find_map(|candidate| {
        let meta = std::fs::metadata(&candidate).ok()?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return None;
        }
        std::path::absolute(&candidate).ok()
    })
}

/// Executes `program` with `args`, looking it up in `PATH` like `execvp` (argv\[0\] stays
/// `program` as given). An entry that exists but cannot be executed is said in a
/// `landlock-shim: warning:` line before the next is tried. Returns only on failure.
pub fn exec(program: &OsStr, args: &[OsString]) -> ExecError {
    let candidates = candidates(program);
    let mut denied: Option<io::Error> = None;
    let mut last = io::Error::from(io::ErrorKind::NotFound);
    for (index, candidate) in candidates.iter().enumerate() {
        let err = Command::new(candidate).arg0(program).args(args).exec();
        let more = index + 1 < candidates.len();
        match err.raw_os_error() {
            // Not there: the next entry, as execvp does, without a word.
            Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG | libc::ELOOP) => {}
            Some(libc::EACCES) => {
                if more {
                    crate::eline!(
                        "landlock-shim: warning: {} cannot be executed ({err}); trying the next PATH entry, as execvp does: the program that runs is not the first one in PATH",
                        display(candidate)
                    );
                }
                denied.get_or_insert(err);
                continue;
            }
            _ => {
                last = err;
                break;
            }
        }
        last = err;
    }
    // execvp reports EACCES when an entry was denied and none ran.
    let source = match denied {
        Some(denied) if last.kind() == io::ErrorKind::NotFound => denied,
        _ => last,
    };
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

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_with_a_slash_is_its_own_only_candidate() {
        assert_eq!(
            candidates(OsStr::new("./run")),
            vec![PathBuf::from("./run")]
        );
        assert_eq!(
            candidates(OsStr::new("/bin/sh")),
            vec![PathBuf::from("/bin/sh")]
        );
    }

    #[test]
    fn resolves_through_path_to_an_executable_file() {
        let sh = resolve(OsStr::new("sh")).expect("sh is in PATH");
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{sh:?}");
        assert_eq!(resolve(OsStr::new("no-such-program-here")), None);
    }
}

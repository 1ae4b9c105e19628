//! `landlock-shim install DIR`: copies the running binary into DIR, so an init container can
//! deliver the shim to the pod's other containers without a shell or `cp` in its image.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The file name the shim is installed under.
pub const FILE_NAME: &str = "landlock-shim";

/// Why the shim could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The target directory does not exist or is not a directory.
    #[error(
        "{dir}: not a directory ({source}); the init container must mount the shim volume there"
    )]
    NotADirectory {
        /// The directory.
        dir: String,
        /// The error.
        source: io::Error,
    },
    /// Reading the running binary or writing the copy failed.
    #[error("cannot {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: String,
        /// The error.
        source: io::Error,
    },
}

/// Copies the running executable into `dir` as [`FILE_NAME`] with mode 0755, atomically: the
/// copy is written and synced under a temporary name, then renamed, so a container never sees a
/// half-written shim.
pub fn install(dir: &Path) -> Result<PathBuf, InstallError> {
    let metadata = fs::metadata(dir).and_then(|m| {
        if m.is_dir() {
            Ok(m)
        } else {
            Err(io::Error::from(io::ErrorKind::NotADirectory))
        }
    });
    if let Err(source) = metadata {
        return Err(InstallError::NotADirectory {
            dir: dir.display().to_string(),
            source,
        });
    }
    let io = |what: &'static str, path: &Path| {
        let path = path.display().to_string();
        move |source| InstallError::Io { what, path, source }
    };
    let source = Path::new("/proc/self/exe");
    let target = dir.join(FILE_NAME);
    let temporary = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));

    let mut input = File::open(source).map_err(io("read", source))?;
    let mut output = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(&temporary)
        .map_err(io("create", &temporary))?;
    let copied = io::copy(&mut input, &mut output)
        .and_then(|_| output.sync_all())
        // The umask may have narrowed the mode given at creation.
        .and_then(|()| {
            fs::set_permissions(
                &temporary,
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
        })
        .map_err(io("write", &temporary))
        .and_then(|()| fs::rename(&temporary, &target).map_err(io("rename into", &target)));
    if let Err(err) = copied {
        // Best effort: leave no temporary file behind; the original error is what matters.
        let _ = fs::remove_file(&temporary);
        return Err(err);
    }
    Ok(target)
}

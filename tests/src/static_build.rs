//! Builds the fully static release binaries that harnesses copy into containers, with the same
//! command the README documents:
//!
//! ```text
//! RUSTFLAGS="-C target-feature=+crt-static" \
//!   cargo build --release --locked --target x86_64-unknown-linux-gnu -p PACKAGE --bin BIN
//! ```
//!
//! The explicit `--target` keeps the static flag away from build scripts and proc macros, which
//! must stay dynamic. Cargo's own lock serialises concurrent builds from several test processes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The only Rust target the project builds static binaries for.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Why a static build could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `cargo` could not be started.
    #[error("cannot run {cargo:?}: {source}")]
    Spawn {
        /// The cargo executable tried.
        cargo: String,
        /// The error from the OS.
        source: std::io::Error,
    },
    /// `cargo build` failed; its output went to the test's stderr.
    #[error("static build of {package}/{bin} failed ({status}); the cargo output above says why")]
    Failed {
        /// The package.
        package: String,
        /// The binary.
        bin: String,
        /// Cargo's exit status.
        status: std::process::ExitStatus,
    },
    /// The build said it succeeded but the binary is not where it should be.
    #[error("static build reported success but {0} does not exist")]
    Missing(PathBuf),
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The target directory cargo uses for this workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Builds (or finds up to date) the static release binary `bin` of `package` and returns its path.
pub fn static_binary(package: &str, bin: &str) -> Result<PathBuf, BuildError> {
    // One build at a time within a test process; cargo serialises across processes.
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .current_dir(workspace_root())
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args(["build", "--release", "--locked", "--target", STATIC_TARGET])
        .args(["-p", package, "--bin", bin])
        .status()
        .map_err(|source| BuildError::Spawn {
            cargo: cargo.clone(),
            source,
        })?;
    if !status.success() {
        return Err(BuildError::Failed {
            package: package.to_owned(),
            bin: bin.to_owned(),
            status,
        });
    }
    let path = target_dir().join(STATIC_TARGET).join("release").join(bin);
    if path.is_file() {
        Ok(path)
    } else {
        Err(BuildError::Missing(path))
    }
}

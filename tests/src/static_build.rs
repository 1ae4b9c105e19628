//! Builds the fully static release binaries that harnesses copy into containers, with the same
//! commands the README documents:
//!
//! ```text
//! RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom" -C relocation-model=static' \
//!   cargo build --profile shim --locked --target x86_64-unknown-linux-musl -p init-shim --bin landlock-shim
//! RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"' \
//!   cargo build --release --locked --target x86_64-unknown-linux-gnu -p webhook --bin landlock-webhook
//! ```
//!
//! The explicit `--target` keeps the static flag away from build scripts and proc macros, which
//! must stay dynamic. The `getrandom_backend` cfg makes randomness come from the getrandom
//! syscall (a static glibc binary cannot find glibc's wrapper, and getrandom would otherwise
//! fall back to `/dev/urandom`, which the webhook's sandbox denies). The shim is linked at a
//! fixed address (`relocation-model=static`: `static`, not `static-pie`), so it has nothing to
//! relocate at each of its many short starts; the webhook, a long-running server, keeps
//! `static-pie` and its address randomisation. The shim is linked against musl: glibc's static
//! start-up probes the CPU with `cpuid`, which traps to the hypervisor on virtual machines and
//! cost the shim ~0.1 ms at every exec (README *Speed*); the webhook, which starts once, stays on
//! glibc (musl's allocator is slower for a busy multi-threaded server). The shim's profile aborts
//! on panic; the webhook's (release) unwinds, so a panic fails one request, not the server.
//! Cargo's own lock serialises concurrent builds from several test processes.
//!
//! This file is the one owner of those commands for every test: `tests/` uses it as a module
//! of its library, and the shim's own integration tests include the same file
//! (`init-shim/tests/support/mod.rs`), so that every sandbox, learn and discovery test runs
//! the binary that ships. A test process builds each binary once (the path is cached); the
//! test binaries after the first find cargo's build up to date.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The Rust target of the static webhook.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The Rust target of the static shim (see the module doc); `rustup target add` installs it.
pub const SHIM_TARGET: &str = "x86_64-unknown-linux-musl";

/// The Rust target `bin` is built for.
pub fn target(bin: &str) -> &'static str {
    if bin == "landlock-shim" {
        SHIM_TARGET
    } else {
        STATIC_TARGET
    }
}

/// The RUSTFLAGS of every static build.
pub const STATIC_RUSTFLAGS: &str =
    "-C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\"";

/// Added to [`STATIC_RUSTFLAGS`] for the shim: a non-PIE static executable (see the module doc).
pub const SHIM_RUSTFLAGS: &str = "-C relocation-model=static";

/// The RUSTFLAGS `bin` is built with.
pub fn rustflags(bin: &str) -> String {
    if bin == "landlock-shim" {
        format!("{STATIC_RUSTFLAGS} {SHIM_RUSTFLAGS}")
    } else {
        STATIC_RUSTFLAGS.to_owned()
    }
}

/// The Cargo profile `bin` is built with: its own for the shim (panics abort), release
/// (panics unwind) for everything else.
pub fn profile(bin: &str) -> &'static str {
    if bin == "landlock-shim" {
        "shim"
    } else {
        "release"
    }
}

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
    #[error(
        "static build of {package}/{bin} for {target} failed ({status}); the cargo output above says why (a missing target installs with `rustup target add {target}`)"
    )]
    Failed {
        /// The package.
        package: String,
        /// The binary.
        bin: String,
        /// The Rust target.
        target: &'static str,
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

/// Builds (or finds up to date) the static release binary `bin` of `package` and returns its
/// path; once per test process (later calls return the first build's path).
pub fn static_binary(package: &str, bin: &str) -> Result<PathBuf, BuildError> {
    // One build at a time within a test process; cargo serialises across processes.
    static BUILT: Mutex<BTreeMap<(String, String), PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = (package.to_owned(), bin.to_owned());
    if let Some(path) = built.get(&key) {
        return Ok(path.clone());
    }
    let path = build(package, bin)?;
    built.insert(key, path.clone());
    Ok(path)
}

/// Runs the build command of `bin` (see the module doc).
fn build(package: &str, bin: &str) -> Result<PathBuf, BuildError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .current_dir(workspace_root())
        .env("RUSTFLAGS", rustflags(bin))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args(["build", "--profile", profile(bin), "--locked"])
        .args(["--target", target(bin)])
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
            target: target(bin),
            status,
        });
    }
    let path = target_dir().join(target(bin)).join(profile(bin)).join(bin);
    if path.is_file() {
        Ok(path)
    } else {
        Err(BuildError::Missing(path))
    }
}

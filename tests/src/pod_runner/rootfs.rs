//! Container root filesystems, built from what Debian's packages installed on this machine
//! (never pulled from a registry), cached under `target/pod-runner/` between tests and test
//! processes. A cache entry is built in a temporary directory and renamed into place, so
//! parallel test processes never see a half-built one.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{HarnessError, io, require};
use crate::static_build;

/// Debian's busybox-static.
pub const BUSYBOX: &str = "/usr/bin/busybox";

/// The kinds of root filesystem the harness can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rootfs {
    /// busybox (static) with its applets in /bin, /etc/passwd, /etc/group, an /etc/shadow
    /// (readable by mode, so only a sandbox can deny it), /tmp, /root, /srv.
    Busybox,
    /// `FROM scratch` + the static `landlock-shim` at `/landlock-shim`: the shim image.
    Shim,
    /// `FROM scratch` + the static `landlock-webhook` at `/landlock-webhook`: the webhook image.
    Webhook,
}

fn write(path: &Path, contents: &str, mode: u32) -> Result<(), HarnessError> {
    std::fs::write(path, contents).map_err(io(format!("write {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("chmod {}", path.display())))
}

fn mkdirs(root: &Path, dirs: &[&str]) -> Result<(), HarnessError> {
    for dir in dirs {
        let path = root.join(dir);
        std::fs::create_dir_all(&path).map_err(io(format!("mkdir {}", path.display())))?;
    }
    Ok(())
}

fn build_busybox(root: &Path) -> Result<(), HarnessError> {
    mkdirs(
        root,
        &[
            "bin", "etc", "tmp", "root", "srv", "proc", "sys", "dev", "home/app",
        ],
    )?;
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
        .map_err(io("chmod /tmp"))?;
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).map_err(io("copy busybox"))?;
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .map_err(io("busybox --list"))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = symlink("busybox", root.join("bin").join(applet));
        }
    }
    symlink("bin", root.join("sbin")).map_err(io("symlink /sbin"))?;
    mkdirs(root, &["usr"])?;
    symlink("../bin", root.join("usr/bin")).map_err(io("symlink /usr/bin"))?;
    write(
        &root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:65532:65532:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        0o644,
    )?;
    write(
        &root.join("etc/group"),
        "root:x:0:\napp:x:65532:\nnogroup:x:65534:\n",
        0o644,
    )?;
    // Mode 0644 on purpose: any denial of this file in a test comes from the sandbox.
    write(
        &root.join("etc/shadow"),
        "root:$6$harness$NOT-A-REAL-HASH-but-secret:19000:0:99999:7:::\n",
        0o644,
    )?;
    write(&root.join("srv/index.html"), "hello from /srv\n", 0o644)?;
    Ok(())
}

/// The static binary of a `FROM scratch` image: (package, binary).
fn scratch_binary(kind: Rootfs) -> Option<(&'static str, &'static str)> {
    match kind {
        Rootfs::Busybox => None,
        Rootfs::Shim => Some(("init-shim", "landlock-shim")),
        Rootfs::Webhook => Some(("webhook", "landlock-webhook")),
    }
}

fn static_binary(package: &str, bin: &str) -> Result<PathBuf, HarnessError> {
    static_build::static_binary(package, bin)
        .map_err(|e| HarnessError::Pod(format!("static {bin}: {e}")))
}

/// Like deploy/Dockerfile's `FROM scratch` stages: the binary at `/<bin>`, nothing else (the
/// empty directories are mount points runc would create anyway).
fn build_scratch(root: &Path, package: &str, bin: &str) -> Result<(), HarnessError> {
    let binary = static_binary(package, bin)?;
    mkdirs(root, &["proc", "sys", "dev"])?;
    let dest = root.join(bin);
    std::fs::copy(&binary, &dest).map_err(io(format!("copy {bin}")))?;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
        .map_err(io(format!("chmod {bin}")))
}

/// A fingerprint of the inputs, so a changed busybox or shim makes a new cache entry.
fn inputs_key(kind: Rootfs) -> Result<String, HarnessError> {
    let input = match scratch_binary(kind) {
        None => PathBuf::from(BUSYBOX),
        Some((package, bin)) => static_binary(package, bin)?,
    };
    let meta = std::fs::metadata(&input).map_err(io(format!("stat {}", input.display())))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!("{kind:?}-{}-{modified}", meta.len()).to_lowercase())
}

impl Rootfs {
    /// The cached root filesystem of this kind, built first if needed.
    pub fn path(self) -> Result<PathBuf, HarnessError> {
        require(BUSYBOX, "busybox-static")?;
        let cache = static_build::target_dir().join("pod-runner");
        std::fs::create_dir_all(&cache).map_err(io("create target/pod-runner"))?;
        let path = cache.join(format!("rootfs-{}", inputs_key(self)?));
        if path.is_dir() {
            return Ok(path);
        }
        let building = tempfile::Builder::new()
            .prefix(".building-")
            .tempdir_in(&cache)
            .map_err(io("create a build directory"))?;
        match scratch_binary(self) {
            None => build_busybox(building.path())?,
            Some((package, bin)) => build_scratch(building.path(), package, bin)?,
        }
        let built = building.keep();
        if std::fs::rename(&built, &path).is_err() {
            // Another process won the race; its entry is as good as ours.
            let _ = std::fs::remove_dir_all(&built);
        }
        Ok(path)
    }

    /// A private copy for one container (so containers never share a writable root).
    pub fn copy_to(self, dest: &Path) -> Result<(), HarnessError> {
        let source = self.path()?;
        let status = Command::new("cp")
            .arg("-a")
            .arg(&source)
            .arg(dest)
            .status()
            .map_err(io("cp -a rootfs"))?;
        if status.success() {
            Ok(())
        } else {
            Err(HarnessError::Pod(format!(
                "cp -a {} {} failed",
                source.display(),
                dest.display()
            )))
        }
    }
}

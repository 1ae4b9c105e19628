//! Resolving a path the way the kernel will for the caller: component by component, following
//! symlinks (Landlock checks the file a path *resolves to*, so a grant must name the target:
//! `/etc/localtime` needs `/usr/share/zoneinfo/...`), with `/proc/self` and `/proc/thread-self`
//! meaning the caller's, not the supervisor's. The supervisor shares the program's mount
//! namespace and root, so its view of the file system is the program's (a program that changes
//! its root with chroot is not followed there).

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed before giving up (the kernel's limit).
const MAX_LINKS: usize = 40;
/// Directories [`RealDirs`] remembers before it starts over.
const MAX_REAL_DIRS: usize = 16_384;

/// Directories already seen to be real directories (not symlinks), so that a path under them
/// is resolved with one `lstat` for its last component instead of one per component: a
/// PostgreSQL backend opens its relation files by paths six or seven components deep, and the
/// caller waits for every `lstat` (it was most of the supervisor's syscalls under `pgbench -C`).
/// A directory replaced by a symlink during the run is still taken as the directory: the
/// suggestion then names the old path, and enforcing it shows the denial (the TOCTOU note of
/// [`crate::learn`] says the same of every reading). `/proc` and `/dev` are never remembered
/// (pids and devices come and go).
#[derive(Debug, Default)]
pub struct RealDirs(HashSet<PathBuf>);

impl RealDirs {
    fn contains(&self, dir: &Path) -> bool {
        self.0.contains(dir)
    }

    fn insert(&mut self, dir: &Path) {
        if dir.starts_with("/proc") || dir.starts_with("/dev") {
            return;
        }
        if self.0.len() >= MAX_REAL_DIRS {
            self.0.clear();
        }
        self.0.insert(dir.to_path_buf());
    }
}

/// Whose `/proc/self` a path means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whose {
    /// The process id.
    pub tgid: u32,
    /// The thread id.
    pub tid: u32,
}

/// Resolves absolute `path`, following symlinks in every component, and in the last one only
/// when `follow_last`. A missing component ends the following (the rest is taken as written:
/// a file about to be created). `None` when the path leads out of the file system (a
/// descriptor link to a pipe, socket or anonymous inode, a deleted file) or loops.
pub fn resolve(path: &Path, whose: Whose, follow_last: bool) -> Option<PathBuf> {
    resolve_cached(path, whose, follow_last, &mut RealDirs::default())
}

/// [`resolve`], skipping the `lstat` of directories `dirs` already knows and adding the ones
/// it finds.
pub fn resolve_cached(
    path: &Path,
    whose: Whose,
    follow_last: bool,
    dirs: &mut RealDirs,
) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    let mut rest: Vec<OsString> = components(path);
    rest.reverse();
    let mut links = 0;
    let mut exists = true;
    while let Some(name) = rest.pop() {
        if name == ".." {
            out.pop();
            continue;
        }
        let last = rest.is_empty();
        if out == Path::new("/proc") && exists {
            if name == "self" {
                out.push(whose.tgid.to_string());
                continue;
            }
            if name == "thread-self" {
                out.push(format!("{}/task/{}", whose.tgid, whose.tid));
                continue;
            }
        }
        out.push(&name);
        if !exists || (last && !follow_last) || (!last && dirs.contains(&out)) {
            continue;
        }
        match std::fs::symlink_metadata(&out) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                let target = std::fs::read_link(&out).ok()?;
                // /proc/PID/fd/N of a pipe or socket ("pipe:[123]"), or a deleted file.
                let text = target.to_string_lossy();
                let magic = out.starts_with("/proc");
                if magic && (!target.is_absolute() || text.ends_with(" (deleted)")) {
                    return None;
                }
                out.pop();
                if target.is_absolute() {
                    out = PathBuf::from("/");
                }
                let mut more = components(&target);
                more.reverse();
                rest.extend(more);
            }
            Ok(meta) if meta.is_dir() => dirs.insert(&out),
            Ok(_) => {}
            Err(_) => exists = false,
        }
    }
    Some(out)
}

fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn me() -> Whose {
        Whose {
            tgid: 4242,
            tid: 4243,
        }
    }

    #[test]
    fn follows_symlinks_like_the_kernel() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = std::fs::canonicalize(dir.path())?;
        std::fs::create_dir_all(root.join("real/sub"))?;
        std::fs::write(root.join("real/sub/file"), "x")?;
        symlink("real", root.join("rel"))?;
        symlink(root.join("real/sub/file"), root.join("abs"))?;
        let r = |p: PathBuf, follow| resolve(&p, me(), follow);
        assert_eq!(
            r(root.join("rel/sub/file"), true),
            Some(root.join("real/sub/file"))
        );
        assert_eq!(r(root.join("abs"), true), Some(root.join("real/sub/file")));
        assert_eq!(r(root.join("abs"), false), Some(root.join("abs")));
        assert_eq!(
            r(root.join("rel/./sub/../sub/new"), true),
            Some(root.join("real/sub/new"))
        );
        assert_eq!(
            r(root.join("rel/missing/x"), true),
            Some(root.join("real/missing/x"))
        );
        symlink("loop", root.join("loop"))?;
        assert_eq!(r(root.join("loop"), true), None);
        Ok(())
    }

    #[test]
    fn remembered_directories_resolve_as_the_uncached_walk_does() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = std::fs::canonicalize(dir.path())?;
        std::fs::create_dir_all(root.join("real/sub"))?;
        std::fs::write(root.join("real/sub/file"), "x")?;
        symlink("real", root.join("rel"))?;
        symlink("file", root.join("real/sub/link"))?;
        let mut dirs = RealDirs::default();
        for _ in 0..2 {
            for (path, follow) in [
                ("rel/sub/file", true),
                ("real/sub/link", true),
                ("real/sub/link", false),
                ("rel/sub/missing/x", true),
            ] {
                let path = root.join(path);
                assert_eq!(
                    resolve_cached(&path, me(), follow, &mut dirs),
                    resolve(&path, me(), follow),
                    "{path:?}"
                );
            }
        }
        // Real directories are remembered, the symlink to one is not, nor is /proc.
        assert!(dirs.contains(&root.join("real/sub")));
        assert!(!dirs.contains(&root.join("rel")));
        let _ = resolve_cached(Path::new("/proc/self/status"), me(), true, &mut dirs);
        assert!(!dirs.contains(Path::new("/proc/4242")));
        assert!(!dirs.contains(Path::new("/proc")));
        Ok(())
    }

    #[test]
    fn proc_self_is_the_callers() {
        assert_eq!(
            resolve(Path::new("/proc/self/status"), me(), true),
            Some(PathBuf::from("/proc/4242/status"))
        );
        assert_eq!(
            resolve(Path::new("/proc/thread-self/comm"), me(), true),
            Some(PathBuf::from("/proc/4242/task/4243/comm"))
        );
    }

    #[test]
    fn descriptor_links_to_pipes_are_not_files() -> std::io::Result<()> {
        let (reader, _writer) = std::io::pipe()?;
        use std::os::fd::AsRawFd;
        let here = Whose {
            tgid: std::process::id(),
            tid: std::process::id(),
        };
        let path = PathBuf::from(format!("/proc/self/fd/{}", reader.as_raw_fd()));
        assert_eq!(resolve(&path, here, true), None);
        Ok(())
    }
}

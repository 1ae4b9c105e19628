//! Runtime discovery: which of the container's mounts are volumes kubelet wrote with its atomic
//! writer (ConfigMap, Secret, projected, downwardAPI, the service-account token, cert-manager's
//! CSI driver), read from `/proc/self/mountinfo`.
//!
//! kubelet's atomic writer fills a volume with a timestamped directory
//! (`..2026_11_22_21_47_00.123456789`), a `..data` symlink to it and one symlink per key into
//! `..data`; an update (a ConfigMap edit, a certificate renewal) writes a new timestamped
//! directory and renames a new `..data` over the old one. So:
//!
//! - a mount point that holds a `..data` symlink is granted read-only **as a directory**: the
//!   grant covers whatever `..data` points to after any number of swaps;
//! - a single-file (or single-directory) mount whose source lies inside such a timestamped
//!   directory is a `subPath` mount; kubelet bind-mounted the resolved file, which never changes
//!   afterwards, so exactly that mount point is granted read-only;
//! - every other mount (the root, /proc, /sys, emptyDir, PVCs, /etc/hosts and kubelet's other
//!   per-container files) is left to the profile and the flags;
//! - kubelet's own, host-side mounts of every pod's volumes (`<kubelet root>/pods/<uid>/volumes/
//!   kubernetes.io~secret/<name>`, its `volume-subpaths` and CSI `plugins/kubernetes.io/...`
//!   mounts, whatever the kubelet root directory) are never granted: they are seen by a shim
//!   run on a node, or in a container that mounts kubelet's directory, and they belong to
//!   other pods. Discovery grants only volumes mounted into the shim's own container, where the
//!   mount point is the pod spec's `mountPath`.

use std::io::{self, Read as _};
use std::path::Path;

use serde::Serialize;

use crate::values::PolicyPath;

/// Where mount information is read from.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One line of mountinfo, with the fields discovery needs (escapes decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The path, inside the source file system, of what is mounted (field 4).
    pub root: String,
    /// Where it is mounted (field 5).
    pub mount_point: String,
    /// The file-system type (after the ` - ` separator).
    pub fstype: String,
}

/// A mountinfo line that does not have the documented shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mountinfo line {line}: {problem}: {text:?}")]
pub struct MountinfoError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub problem: &'static str,
    /// The line.
    pub text: String,
}

/// Parses the text of `/proc/<pid>/mountinfo` (see proc(5)).
pub fn parse_mountinfo(text: &str) -> Result<Vec<Mount>, MountinfoError> {
    let mut mounts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let error = |problem| MountinfoError {
            line: index + 1,
            problem,
            text: line.to_owned(),
        };
        let fields: Vec<&str> = line.split(' ').collect();
        // id, parent, major:minor, root, mount point, options, optional fields..., "-", fstype, source, super options
        let separator = fields
            .iter()
            .skip(6)
            .position(|f| *f == "-")
            .map(|p| p + 6)
            .ok_or_else(|| error("no \" - \" separator after the optional fields"))?;
        let fstype = fields
            .get(separator + 1)
            .ok_or_else(|| error("no file-system type after the separator"))?;
        mounts.push(Mount {
            root: unescape(fields[3]),
            mount_point: unescape(fields[4]),
            fstype: unescape(fstype),
        });
    }
    Ok(mounts)
}

/// Decodes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')));
        match octal.and_then(|n| u8::try_from(n).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the file system says about a mount point.
pub trait Probe {
    /// Whether `dir` is a directory holding a `..data` symlink.
    fn has_data_link(&self, dir: &Path) -> bool;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl Probe for RealFs {
    fn has_data_link(&self, dir: &Path) -> bool {
        std::fs::symlink_metadata(dir.join("..data")).is_ok_and(|m| m.file_type().is_symlink())
    }
}

/// A volume discovery found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discovered {
    /// The mount point to grant read-only.
    pub path: PolicyPath,
    /// What it is, for the startup line (`configmap`, `secret subPath`, ...).
    pub what: String,
}

/// A mount discovery recognised but could not grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Passed {
    /// The mount point as mountinfo gives it.
    pub mount_point: String,
    /// Why it was not granted.
    pub reason: String,
}

/// Everything discovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Findings {
    /// Volumes to grant read-only.
    pub volumes: Vec<Discovered>,
    /// kubelet volumes that could not be granted (a mount point that is not a valid policy
    /// path); listed so nothing is skipped silently.
    pub passed: Vec<Passed>,
}

/// File systems that never hold a kubelet volume: their mount points are not probed for
/// `..data` (a container has a dozen of them; each probe is a syscall on every start).
const PSEUDO_FS: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "devtmpfs",
    "securityfs",
    "debugfs",
    "tracefs",
    "bpf",
    "pstore",
    "hugetlbfs",
    "fusectl",
    "configfs",
    "binfmt_misc",
    "autofs",
    "nsfs",
];

/// Whether `mount` can be a kubelet volume directory, so its mount point is worth probing for
/// `..data` (each probe is a path lookup on every program start): not the container's root (its
/// image, never a volume; a grant of it would grant everything) and not a pseudo file system.
fn may_be_volume(mount: &Mount) -> bool {
    mount.mount_point != "/" && !PSEUDO_FS.contains(&mount.fstype.as_str())
}

/// Where `mount_point` lies in kubelet's own directory: the directory above its `pods` (or
/// `plugins`) element, when the mount point is kubelet's host-side mount of a pod's volume
/// (`<root>/pods/<uid>/volumes/<plugin>/...`, `<root>/pods/<uid>/volume-subpaths/...`) or of a
/// CSI volume (`<root>/plugins/kubernetes.io/...`). Decided by the shape of the path, so any
/// kubelet root directory (`--root-dir`) is recognised.
fn kubelet_host_side(mount_point: &str) -> Option<String> {
    let elements: Vec<&str> = mount_point.split('/').collect();
    (0..elements.len()).find_map(|i| {
        let at = |k: usize| elements.get(i + k).copied().unwrap_or_default();
        let pod_volume = at(0) == "pods"
            && !at(1).is_empty()
            && (at(2) == "volume-subpaths" || (at(2) == "volumes" && at(3).contains('~')));
        let plugin = at(0) == "plugins" && at(1) == "kubernetes.io";
        (pod_volume || plugin).then(|| elements[..i].join("/"))
    })
}

/// Finds kubelet atomic-writer volumes and their subPath mounts in `mountinfo`.
pub fn discover(mountinfo: &str, fs: &impl Probe) -> Result<Findings, MountinfoError> {
    let mounts = parse_mountinfo(mountinfo)?;
    let mut findings = Findings::default();
    // kubelet's host-side mounts, counted per kubelet directory (one warning, not one per pod).
    let mut host_side: Vec<(String, usize)> = Vec::new();
    for (index, mount) in mounts.iter().enumerate() {
        // A later mount on the same point hides this one.
        if mounts[index + 1..]
            .iter()
            .any(|m| m.mount_point == mount.mount_point)
        {
            continue;
        }
        if let Some(kubelet) = kubelet_host_side(&mount.mount_point) {
            match host_side.iter_mut().find(|(dir, _)| *dir == kubelet) {
                Some((_, count)) => *count += 1,
                None => host_side.push((kubelet, 1)),
            }
            continue;
        }
        let what = if in_timestamped_dir(&mount.root) {
            format!("{} subPath", kind(mount))
        } else if may_be_volume(mount) && fs.has_data_link(Path::new(&mount.mount_point)) {
            kind(mount).to_owned()
        } else {
            continue;
        };
        // The mount point is bytes, not escaped text (a backslash in it is a backslash).
        match PolicyPath::parse(&crate::path_text::encode(mount.mount_point.as_bytes())) {
            Ok(path) => findings.volumes.push(Discovered { path, what }),
            Err(err) => findings.passed.push(Passed {
                mount_point: mount.mount_point.clone(),
                reason: format!("{what} not granted: {}", err.problem),
            }),
        }
    }
    for (kubelet, count) in host_side {
        findings.passed.push(Passed {
            mount_point: format!("{kubelet}/pods"),
            reason: format!(
                "{count} mount(s) of kubelet's own, host-side pod volume directories, not granted: discovery grants only volumes mounted into this container (this shim runs on a node, or sees kubelet's directory through a mount); grant a path by flag if it is meant"
            ),
        });
    }
    Ok(findings)
}

/// Reads this process's mount table and discovers its kubelet volumes.
pub fn discover_here() -> Result<Findings, DiscoveryError> {
    let read = |source| DiscoveryError::Read {
        path: MOUNTINFO,
        source,
    };
    // Through `Take`: `File`'s own read_to_end first asks for the size (a statx and an lseek),
    // which a proc file reports as 0.
    let mut bytes = Vec::with_capacity(64 * 1024);
    std::fs::File::open(MOUNTINFO)
        .and_then(|file| io::Read::take(file, u64::MAX).read_to_end(&mut bytes))
        .map_err(read)?;
    let text = String::from_utf8(bytes)
        .map_err(|err| read(io::Error::new(io::ErrorKind::InvalidData, err)))?;
    Ok(discover(&text, &RealFs)?)
}

/// Why runtime discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The mount table could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The mount table has a line discovery does not understand.
    #[error(transparent)]
    Parse(#[from] MountinfoError),
}

/// Whether a path has an element shaped like kubelet's timestamped payload directory,
/// `..YYYY_MM_DD_hh_mm_ss.<digits>`.
fn in_timestamped_dir(root: &str) -> bool {
    root.split('/').any(|element| {
        let Some(stamp) = element.strip_prefix("..") else {
            return false;
        };
        let Some((time, suffix)) = stamp.split_once('.') else {
            return false;
        };
        let parts: Vec<&str> = time.split('_').collect();
        let widths = [4, 2, 2, 2, 2, 2];
        parts.len() == widths.len()
            && parts
                .iter()
                .zip(widths)
                .all(|(p, w)| p.len() == w && p.bytes().all(|b| b.is_ascii_digit()))
            && !suffix.is_empty()
            && suffix.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A name for the kind of volume, from what the mount source reveals.
fn kind(mount: &Mount) -> &'static str {
    const PLUGINS: &[(&str, &str)] = &[
        ("kubernetes.io~configmap", "configmap"),
        ("kubernetes.io~secret", "secret"),
        ("kubernetes.io~projected", "projected"),
        ("kubernetes.io~downward-api", "downwardAPI"),
        ("kubernetes.io~csi", "csi"),
    ];
    if let Some((_, name)) = PLUGINS
        .iter()
        .find(|(plugin, _)| mount.root.split('/').any(|e| e == *plugin))
    {
        return name;
    }
    if mount.mount_point == "/var/run/secrets/kubernetes.io/serviceaccount"
        || mount.mount_point == "/run/secrets/kubernetes.io/serviceaccount"
    {
        "service-account token"
    } else {
        "kubelet volume"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Mount points that hold a `..data` link, as the fixture's container would see them.
    struct Fixture(HashSet<&'static str>);

    impl Probe for Fixture {
        fn has_data_link(&self, dir: &Path) -> bool {
            dir.to_str().is_some_and(|d| self.0.contains(d))
        }
    }

    /// A container of a pod on containerd with a ConfigMap volume, a Secret volume (tmpfs), a
    /// subPath of the ConfigMap, an emptyDir, a PVC, the projected service-account token and a
    /// cert-manager CSI volume, as kubelet and containerd lay them out.
    const KUBELET_MOUNTINFO: &str = "\
2051 1828 0:244 / / rw,relatime master:713 - overlay overlay rw,lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/41/fs,upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/42/fs,workdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/42/work
2052 2051 0:247 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
2053 2051 0:248 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64
2054 2053 0:249 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666
2055 2053 0:231 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw
2056 2051 0:235 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
2057 2056 0:29 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot
2058 2051 0:240 / /etc/tls ro,relatime - tmpfs tmpfs rw,size=7853980k,inode64
2059 2051 254:1 /var/lib/kubelet/pods/5b8f0c1e-4a8e-4d5c-9a51-2f0c7c1f3e11/volumes/kubernetes.io~configmap/config /etc/app ro,relatime - ext4 /dev/vda1 rw
2060 2051 254:1 /var/lib/kubelet/pods/5b8f0c1e-4a8e-4d5c-9a51-2f0c7c1f3e11/volumes/kubernetes.io~empty-dir/scratch /scratch rw,relatime - ext4 /dev/vda1 rw
2061 2051 254:1 /var/lib/kubelet/pods/5b8f0c1e-4a8e-4d5c-9a51-2f0c7c1f3e11/etc-hosts /etc/hosts rw,relatime - ext4 /dev/vda1 rw
2062 2051 254:1 /var/lib/kubelet/pods/5b8f0c1e-4a8e-4d5c-9a51-2f0c7c1f3e11/containers/app/8a1b2c3d /dev/termination-log rw,relatime - ext4 /dev/vda1 rw
2063 2051 254:1 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/9f2e/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw
2064 2051 254:1 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/9f2e/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw
2065 2053 0:230 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k,inode64
2066 2051 0:241 / /var/run/secrets/kubernetes.io/serviceaccount ro,relatime - tmpfs tmpfs rw,size=7853980k,inode64
2067 2051 254:1 /var/lib/kubelet/pods/5b8f0c1e-4a8e-4d5c-9a51-2f0c7c1f3e11/volumes/kubernetes.io~configmap/config/..2026_11_22_10_00_00.1234567890/app.yaml /etc/app.yaml ro,relatime - ext4 /dev/vda1 rw
2068 2051 254:1 /var/lib/kubelet/pods/5b8f0c1e-4a8e-4d5c-9a51-2f0c7c1f3e11/volumes/kubernetes.io~csi/tls/mount /var/run/certs ro,relatime - ext4 /dev/vda1 rw
2069 2051 8:16 /var/lib/kubelet/pods/5b8f0c1e-4a8e-4d5c-9a51-2f0c7c1f3e11/volumes/kubernetes.io~csi/pvc-123/mount /data rw,relatime - ext4 /dev/sdb rw
2070 2051 0:240 /..2026_11_22_10_00_00.987654321/ca.crt /etc/ca\\040bundle/ca.crt ro,relatime - tmpfs tmpfs rw,size=7853980k,inode64
2071 2051 0:242 / /etc/secret ro,relatime - tmpfs tmpfs rw
2072 2051 0:243 / /etc/secret ro,relatime - tmpfs tmpfs rw
";

    fn fixture() -> Fixture {
        // What holds `..data` inside the container: the ConfigMap, the Secret, the token, the
        // cert-manager CSI volume and the remount of /etc/secret (only the top mount counts).
        Fixture(HashSet::from([
            "/etc/app",
            "/etc/tls",
            "/var/run/secrets/kubernetes.io/serviceaccount",
            "/var/run/certs",
            "/etc/secret",
        ]))
    }

    #[test]
    fn finds_atomic_writer_volumes_and_subpaths_only() -> Result<(), MountinfoError> {
        let findings = discover(KUBELET_MOUNTINFO, &fixture())?;
        let got: Vec<(&str, &str)> = findings
            .volumes
            .iter()
            .map(|d| (d.path.as_str(), d.what.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/etc/tls", "kubelet volume"),
                ("/etc/app", "configmap"),
                (
                    "/var/run/secrets/kubernetes.io/serviceaccount",
                    "service-account token"
                ),
                ("/etc/app.yaml", "configmap subPath"),
                ("/var/run/certs", "csi"),
                ("/etc/ca bundle/ca.crt", "kubelet volume subPath"),
                ("/etc/secret", "kubelet volume"),
            ]
        );
        assert!(findings.passed.is_empty());
        Ok(())
    }

    #[test]
    fn kubelet_per_container_files_and_ordinary_mounts_are_not_discovered()
    -> Result<(), MountinfoError> {
        let findings = discover(KUBELET_MOUNTINFO, &fixture())?;
        for not in [
            "/",
            "/proc",
            "/dev",
            "/sys",
            "/scratch",
            "/data",
            "/etc/hosts",
            "/etc/hostname",
            "/etc/resolv.conf",
            "/dev/termination-log",
            "/dev/shm",
        ] {
            assert!(
                findings.volumes.iter().all(|d| d.path.as_str() != not),
                "{not} must not be discovered"
            );
        }
        Ok(())
    }

    /// Answers no to every probe and records the mount points probed.
    #[derive(Default)]
    struct Recording(std::cell::RefCell<Vec<String>>);

    impl Probe for Recording {
        fn has_data_link(&self, dir: &Path) -> bool {
            self.0.borrow_mut().push(dir.to_string_lossy().into_owned());
            false
        }
    }

    #[test]
    fn only_mounts_that_can_be_volume_directories_are_probed() -> Result<(), MountinfoError> {
        let probes = Recording::default();
        discover(KUBELET_MOUNTINFO, &probes)?;
        // Not the root, pseudo file systems, subPath mounts (recognised by their source) or the
        // hidden first mount on /etc/secret.
        assert_eq!(
            probes.0.into_inner(),
            [
                "/dev",
                "/etc/tls",
                "/etc/app",
                "/scratch",
                "/etc/hosts",
                "/dev/termination-log",
                "/etc/hostname",
                "/etc/resolv.conf",
                "/dev/shm",
                "/var/run/secrets/kubernetes.io/serviceaccount",
                "/var/run/certs",
                "/data",
                "/etc/secret",
            ]
        );
        Ok(())
    }

    /// A node's own mount table with a running kubelet (root directory moved with
    /// `--root-dir`): tmpfs mounts of two pods' Secret and projected volumes, a subPath bind
    /// mount, a CSI global mount; all hold `..data`.
    const NODE_MOUNTINFO: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
301 22 0:60 / /data/kubelet/pods/5b8f0c1e-4a8e-4d5c-9a51-2f0c7c1f3e11/volumes/kubernetes.io~secret/tls rw,relatime shared:150 - tmpfs tmpfs rw,size=7853980k
302 22 0:61 / /data/kubelet/pods/5b8f0c1e-4a8e-4d5c-9a51-2f0c7c1f3e11/volumes/kubernetes.io~projected/kube-api-access-x7k2p rw,relatime shared:151 - tmpfs tmpfs rw
303 22 0:62 / /data/kubelet/pods/0c6d1f0e-1111-4d5c-9a51-2f0c7c1f3e11/volumes/kubernetes.io~secret/db rw,relatime shared:152 - tmpfs tmpfs rw
304 22 254:1 /data/kubelet/pods/0c6d1f0e-1111-4d5c-9a51-2f0c7c1f3e11/volumes/kubernetes.io~configmap/cfg/..2026_11_22_10_00_00.1/app.yaml /data/kubelet/pods/0c6d1f0e-1111-4d5c-9a51-2f0c7c1f3e11/volume-subpaths/cfg/app/0 rw,relatime shared:1 - ext4 /dev/vda1 rw
305 22 0:63 / /data/kubelet/plugins/kubernetes.io/csi/csi.cert-manager.io/4f1e/globalmount rw,relatime shared:153 - tmpfs tmpfs rw
306 22 0:64 / /etc/app rw,relatime shared:154 - tmpfs tmpfs rw
";

    #[test]
    fn kubelets_host_side_mounts_are_never_discovered_whatever_its_root_directory()
    -> Result<(), MountinfoError> {
        let everything = |_: &Path| true;
        struct Yes<F>(F);
        impl<F: Fn(&Path) -> bool> Probe for Yes<F> {
            fn has_data_link(&self, dir: &Path) -> bool {
                (self.0)(dir)
            }
        }
        let findings = discover(NODE_MOUNTINFO, &Yes(everything))?;
        // Only the volume mounted where this "container" uses it.
        let got: Vec<&str> = findings.volumes.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(got, ["/etc/app"]);
        assert_eq!(findings.passed.len(), 1, "{:?}", findings.passed);
        assert_eq!(findings.passed[0].mount_point, "/data/kubelet/pods");
        assert!(
            findings.passed[0]
                .reason
                .starts_with("5 mount(s) of kubelet's own"),
            "{:?}",
            findings.passed
        );
        // The container fixture, whose kubelet paths are only mount *sources*, is unchanged.
        assert!(discover(KUBELET_MOUNTINFO, &fixture())?.passed.is_empty());
        assert_eq!(
            kubelet_host_side("/var/lib/kubelet/pods/u/volumes/kubernetes.io~secret/s"),
            Some("/var/lib/kubelet".to_owned())
        );
        for not in [
            "/etc/pods/x/volumes/data",
            "/srv/pods",
            "/srv/plugins/other",
            "/pods/u",
        ] {
            assert_eq!(kubelet_host_side(not), None, "{not}");
        }
        Ok(())
    }

    #[test]
    fn optional_fields_and_escapes_are_parsed() -> Result<(), MountinfoError> {
        let mounts = parse_mountinfo(
            "36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 shared:2 - ext3 /dev/root rw\n",
        )?;
        assert_eq!(
            mounts,
            [Mount {
                root: "/mnt1".into(),
                mount_point: "/mnt 2".into(),
                fstype: "ext3".into()
            }]
        );
        assert_eq!(unescape("a\\134b\\011c\\12"), "a\\b\tc\\12");
        Ok(())
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number() {
        let err = parse_mountinfo("36 35 98:0 / / rw - ext4 x rw\n1 2 3\n").expect_err("bad");
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("separator"), "{err}");
    }

    #[test]
    fn relative_looking_mount_points_are_passed_with_a_reason() -> Result<(), MountinfoError> {
        let text = "1 0 0:1 /..2026_01_01_00_00_00.1/k /a/../b ro - tmpfs tmpfs rw\n";
        let findings = discover(text, &Fixture(HashSet::new()))?;
        assert!(findings.volumes.is_empty());
        assert_eq!(findings.passed.len(), 1);
        assert!(findings.passed[0].reason.contains("'..'"));
        Ok(())
    }

    #[test]
    fn timestamped_directory_shape() {
        assert!(in_timestamped_dir(
            "/x/..2026_11_22_10_00_00.1234567890/key"
        ));
        assert!(!in_timestamped_dir("/x/..data/key"));
        assert!(!in_timestamped_dir("/x/..2026_11_22_10_00_00./key"));
        assert!(!in_timestamped_dir("/x/..2026_11_22_10_00.1/key"));
        assert!(!in_timestamped_dir("/x/2026_11_22_10_00_00.1/key"));
    }
}

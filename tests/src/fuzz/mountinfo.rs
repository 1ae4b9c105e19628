//! `/proc/self/mountinfo` as the shim reads it at start, through
//! `init_shim::discovery::discover`: kubelet-like lines built field by field (octal escapes,
//! optional fields, timestamped atomic-writer roots, subPath bind mounts), or any text.

use std::collections::BTreeSet;
use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use init_shim::discovery::{Probe, discover, parse_mountinfo};

use super::Word;

/// Mount points and roots kubelet produces, and the escapes mountinfo uses.
const PATHS: &[&str] = &[
    "/",
    "/etc/config",
    "/etc/tls",
    "/var/run/secrets/kubernetes.io/serviceaccount",
    "/etc/app/settings.yaml",
    "/..2026_11_23_10_00_00.123456789/settings.yaml",
    "/..data/tls.crt",
    "/var/lib/kubelet/pods/0b4f0a2c/volumes/kubernetes.io~configmap/config",
    "/var/lib/kubelet/pods/0b4f0a2c/volumes/kubernetes.io~secret/tls",
    "/var/lib/kubelet/pods/0b4f0a2c/volumes/kubernetes.io~projected/kube-api-access-x",
    "/var/lib/kubelet/pods/0b4f0a2c/volumes/kubernetes.io~csi/cert/mount",
    "/with\\040space",
    "/tab\\011and\\012newline",
    "/back\\134slash",
    "/bad\\777escape",
    "/trailing\\",
    "/etc/../etc/passwd",
    "//double",
    "relative/path",
    "/proc",
    "/dev/shm",
];
const FSTYPES: &[&str] = &[
    "tmpfs", "ext4", "overlay", "proc", "sysfs", "cgroup2", "nfs4", "fuse.csi",
];
const SOURCES: &[&str] = &["tmpfs", "/dev/vda1", "overlay", "csi-driver", "none"];
const OPTIONS: &[&str] = &["rw,relatime", "ro,relatime", "rw,nosuid,nodev", "ro"];
const OPTIONAL: &[&str] = &[
    "shared:1",
    "master:2",
    "propagate_from:3",
    "unbindable",
    "-",
];

#[derive(Arbitrary, Debug)]
struct Line {
    id: u16,
    parent: u16,
    major_minor: (u8, u8),
    root: Word,
    mount_point: Word,
    options: Word,
    optional: Vec<Word>,
    separator: bool,
    fstype: Word,
    source: Word,
    super_options: Word,
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// Any text.
    Text(String),
    /// Lines in mountinfo's shape; the bytes say which mount points hold a `..data` link.
    Lines(Vec<Line>, Vec<u8>),
}

/// Mount points holding `..data`: the ones whose (string) hash is in the input's set.
struct Links(BTreeSet<u8>);

impl Probe for Links {
    fn has_data_link(&self, dir: &Path) -> bool {
        let byte = dir
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .fold(0_u8, |h, b| h.wrapping_mul(31).wrapping_add(*b));
        self.0.contains(&byte)
    }
}

fn render(line: &Line) -> String {
    let mut fields = vec![
        line.id.to_string(),
        line.parent.to_string(),
        format!("{}:{}", line.major_minor.0, line.major_minor.1),
        line.root.pick(PATHS),
        line.mount_point.pick(PATHS),
        line.options.pick(OPTIONS),
    ];
    fields.extend(line.optional.iter().map(|w| w.pick(OPTIONAL)));
    if line.separator {
        fields.push("-".to_owned());
    }
    fields.push(line.fstype.pick(FSTYPES));
    fields.push(line.source.pick(SOURCES));
    fields.push(line.super_options.pick(OPTIONS));
    fields.join(" ")
}

/// The target.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let (text, links) = match input {
        Input::Text(text) => (text, Links(BTreeSet::new())),
        Input::Lines(lines, links) => (
            lines.iter().map(render).collect::<Vec<_>>().join("\n"),
            Links(links.into_iter().collect()),
        ),
    };
    let Ok(findings) = discover(&text, &links) else {
        return;
    };
    let mount_points: BTreeSet<std::path::PathBuf> = parse_mountinfo(&text)
        .expect("discover parsed it")
        .into_iter()
        .map(|m| std::path::PathBuf::from(m.mount_point))
        .collect();
    // Compared as bytes: a policy path's text escapes odd bytes and `\` (`init_shim::path_text`).
    for volume in &findings.volumes {
        assert!(
            mount_points.contains(volume.path.as_path()),
            "granted {} which is no mount point of\n{text}",
            volume.path.as_str()
        );
    }
}

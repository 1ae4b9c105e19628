//! The injected parts: the emptyDir volume, the installer init container that runs
//! `landlock-shim install DIR` from the shim image, and the read-only mount of the volume in
//! every wrapped container; their names, and how an earlier injection is recognised.
//!
//! Names the pod already uses are never reused: `landlock-shim` becomes `landlock-shim-1`, and
//! so on, deterministically. Only an init container from the configured shim image (with its
//! digest, when the configuration gives one), running exactly `/landlock-shim install DIR` with
//! an emptyDir mounted at DIR, counts as an earlier injection: anything else that merely looks
//! like it is one of the pod's own containers and gets wrapped like the others.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use init_shim::flags::names::INSTALL;
use init_shim::install::FILE_NAME;
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, ResourceRequirements, SeccompProfile,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::admission::config::{self, Config};
use crate::admission::pod_spec::{ContainerView, SpecView};

/// The names one injection uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The emptyDir volume.
    pub volume: String,
    /// The installer init container.
    pub installer: String,
    /// The directory the volume is mounted at.
    pub dir: String,
}

impl Names {
    /// The shim's path inside wrapped containers.
    pub fn shim(&self) -> String {
        format!("{}/{FILE_NAME}", self.dir)
    }
}

/// Where the shim binary sits in its own image (`FROM scratch` + the binary).
pub fn shim_in_image() -> String {
    format!("/{FILE_NAME}")
}

/// Every container of the spec, init containers first.
pub fn all_containers(spec: &SpecView) -> impl Iterator<Item = &ContainerView> {
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
}

/// Most suffixes tried before giving up: a mount at `/` (or an empty mountPath, which
/// admission sees before validation) overlaps every candidate directory, and an unbounded
/// search then never ends (found by tests/fuzz's `review` target).
const MAX_SUFFIX: u32 = 1024;

/// The first of `base`, `base-1`, `base-2`, ... that `taken` does not reject; `base` when the
/// first [`MAX_SUFFIX`] are all taken.
fn free(base: &str, taken: impl Fn(&str) -> bool) -> String {
    (0..=MAX_SUFFIX)
        .map(|n| {
            if n == 0 {
                base.to_owned()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|name| !taken(name))
        .unwrap_or_else(|| base.to_owned())
}

/// Whether `a` and `b` are the same path or one contains the other.
pub fn overlaps(a: &str, b: &str) -> bool {
    let within = |inner: &str, outer: &str| {
        inner == outer
            || inner
                .strip_prefix(outer.trim_end_matches('/'))
                .is_some_and(|rest| rest.starts_with('/'))
    };
    within(a, b) || within(b, a)
}

/// Mount paths, normalised (no trailing `/`), for overlap queries in logarithmic time: a pod
/// may have tens of thousands of mounts, and each candidate directory is checked against all.
struct MountPaths(BTreeSet<String>);

impl MountPaths {
    fn new<'a>(paths: impl Iterator<Item = &'a str>) -> Self {
        let normalised = paths.map(|p| {
            let trimmed = p.trim_end_matches('/');
            if trimmed.is_empty() && p.starts_with('/') {
                "/".to_owned()
            } else {
                trimmed.to_owned()
            }
        });
        Self(normalised.collect())
    }

    /// Whether a mount is at `dir`, beneath it, or at one of its ancestors.
    fn overlap(&self, dir: &str) -> bool {
        let set = &self.0;
        // Beneath: paths starting with "dir/", i.e. from "dir/" up to "dir0" ('0' follows '/').
        let beneath = set
            .range(format!("{dir}/")..format!("{dir}0"))
            .next()
            .is_some();
        let ancestors = dir
            .match_indices('/')
            .map(|(i, _)| if i == 0 { "/" } else { &dir[..i] });
        beneath || set.contains(dir) || ancestors.into_iter().any(|a| set.contains(a))
    }
}

/// Names that collide with nothing in `spec`.
pub fn choose_names(spec: &SpecView) -> Names {
    let volumes: HashSet<&str> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    let containers: HashSet<&str> = all_containers(spec).map(|c| c.name.as_str()).collect();
    let mounts = MountPaths::new(
        all_containers(spec)
            .flat_map(|c| c.volume_mounts.iter().flatten())
            .map(|m| m.mount_path.as_str()),
    );
    Names {
        volume: free(config::VOLUME, |n| volumes.contains(n)),
        installer: free(config::INSTALLER, |n| containers.contains(n)),
        dir: free(config::MOUNT_DIR, |d| mounts.overlap(d)),
    }
}

/// Splits an image reference into the part before `@` and the digest, if any.
fn split_digest(image: &str) -> (&str, Option<&str>) {
    match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    }
}

/// Whether `image` is the configured shim image: the same repository and tag, and the same
/// digest when the configuration pins one. Without a pinned digest a digest added to the
/// configured reference is accepted (digest-pinning admission controllers rewrite images so);
/// the registry serves that digest from the shim's own repository only.
pub fn is_shim_image(image: &str, configured: &str) -> bool {
    let (name, digest) = split_digest(image);
    let (want_name, want_digest) = split_digest(configured);
    match want_digest {
        Some(want) => digest == Some(want) && name == want_name,
        None => name == want_name,
    }
}

/// The names of an earlier injection into this spec, found through its installer: an init
/// container of the configured shim image running exactly `/landlock-shim install DIR`, whose
/// only mount is an emptyDir volume at DIR (a second mount, say a file over its own
/// `/landlock-shim`, would replace the binary that fills the volume).
///
/// Returns the names and the installer's index in `initContainers`.
pub fn existing_names(spec: &SpecView, config: &Config) -> Option<(Names, usize)> {
    let shim = shim_in_image();
    let empty_dirs: HashSet<&str> = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| v.empty_dir.is_some())
        .map(|v| v.name.as_str())
        .collect();
    spec.init_containers
        .iter()
        .flatten()
        .enumerate()
        .find_map(|(index, c)| {
            if !c
                .image
                .as_deref()
                .is_some_and(|i| is_shim_image(i, &config.shim_image))
            {
                return None;
            }
            let [program, install, dir] = c.command.as_deref()? else {
                return None;
            };
            if *program != shim
                || install != INSTALL
                || c.args.as_ref().is_some_and(|a| !a.is_empty())
            {
                return None;
            }
            let [mount] = c.volume_mounts.as_deref()? else {
                return None;
            };
            let devices = c.volume_devices.as_ref().is_some_and(|d| !d.is_empty());
            let plain = &mount.mount_path == dir
                && mount.sub_path.as_deref().unwrap_or("").is_empty()
                && mount.sub_path_expr.as_deref().unwrap_or("").is_empty();
            (plain && !devices && empty_dirs.contains(mount.name.as_str())).then(|| {
                let names = Names {
                    volume: mount.name.clone(),
                    installer: c.name.clone(),
                    dir: dir.clone(),
                };
                (names, index)
            })
        })
}

fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpu.to_owned())),
        ("memory".to_owned(), Quantity(memory.to_owned())),
    ])
}

/// The installer init container: Pod Security Standard `restricted`, no shell needed.
pub fn installer(config: &Config, names: &Names) -> Container {
    Container {
        name: names.installer.clone(),
        image: Some(config.shim_image.clone()),
        command: Some(vec![shim_in_image(), INSTALL.to_owned(), names.dir.clone()]),
        volume_mounts: Some(vec![VolumeMount {
            name: names.volume.clone(),
            mount_path: names.dir.clone(),
            ..VolumeMount::default()
        }]),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65532),
            run_as_group: Some(65532),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            privileged: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: None,
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                localhost_profile: None,
            }),
            ..SecurityContext::default()
        }),
        resources: Some(ResourceRequirements {
            requests: Some(quantities("10m", "16Mi")),
            limits: Some(quantities("100m", "32Mi")),
            ..ResourceRequirements::default()
        }),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Container::default()
    }
}

/// The injected volume.
pub fn volume(names: &Names) -> Volume {
    Volume {
        name: names.volume.clone(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity("16Mi".to_owned())),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// The read-only mount of the volume in a wrapped container.
pub fn mount(names: &Names) -> VolumeMount {
    VolumeMount {
        name: names.volume.clone(),
        mount_path: names.dir.clone(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> SpecView {
        serde_json::from_value(value).expect("spec")
    }

    fn config() -> Config {
        Config {
            shim_image: "registry.example/shim:1".to_owned(),
            namespace: "landlock-injector".to_owned(),
        }
    }

    #[test]
    fn default_names_on_a_plain_pod() {
        let names = choose_names(&spec(json!({"containers": [{"name": "app"}]})));
        assert_eq!(
            names,
            Names {
                volume: "landlock-shim".into(),
                installer: "landlock-shim-install".into(),
                dir: "/landlock-injector".into()
            }
        );
        assert_eq!(names.shim(), "/landlock-injector/landlock-shim");
    }

    #[test]
    fn collisions_get_the_next_free_suffix() {
        let names = choose_names(&spec(json!({
            "volumes": [{"name": "landlock-shim"}, {"name": "landlock-shim-1"}],
            "initContainers": [{"name": "landlock-shim-install"}],
            "containers": [{"name": "app", "volumeMounts": [
                {"name": "x", "mountPath": "/landlock-injector/sub"},
            ]}],
        })));
        assert_eq!(names.volume, "landlock-shim-2");
        assert_eq!(names.installer, "landlock-shim-install-1");
        assert_eq!(names.dir, "/landlock-injector-1");
        // A mount at an ancestor (here `/`) collides with every candidate: the first is kept
        // (and the injection check then denies the pod, naming that mount).
        let root = choose_names(&spec(
            json!({"containers": [{"name": "app", "volumeMounts": [{"name": "x", "mountPath": "/"}]}]}),
        ));
        assert_eq!(root.dir, "/landlock-injector");
        let deep = choose_names(&spec(
            json!({"containers": [{"name": "app", "volumeMounts": [
            {"name": "x", "mountPath": "/landlock-injector/"},
            {"name": "y", "mountPath": "/landlock-injector-1/a/b"},
            {"name": "z", "mountPath": "/landlock-injector-2-data"}]}]}),
        ));
        assert_eq!(deep.dir, "/landlock-injector-2");
        // A mount that merely shares a prefix is not a collision.
        let names = choose_names(&spec(
            json!({"containers": [{"name": "app", "volumeMounts": [
            {"name": "x", "mountPath": "/landlock-injector-data"}]}]}),
        ));
        assert_eq!(names.dir, "/landlock-injector");
    }

    #[test]
    fn the_installer_passes_the_restricted_pod_security_standard() {
        let names = choose_names(&spec(json!({"containers": [{"name": "app"}]})));
        let c = installer(&Config::default(), &names);
        let sc = c.security_context.expect("securityContext");
        assert_eq!(sc.run_as_non_root, Some(true));
        assert!(sc.run_as_user.is_some_and(|u| u != 0));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            sc.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_owned()])
        );
        assert_eq!(
            sc.seccomp_profile.map(|s| s.type_),
            Some("RuntimeDefault".to_owned())
        );
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert!(c.resources.and_then(|r| r.limits).is_some());
        assert_eq!(
            c.command,
            Some(vec![
                "/landlock-shim".into(),
                "install".into(),
                "/landlock-injector".into()
            ])
        );
    }

    fn with_installer(image: &str, volume: serde_json::Value) -> SpecView {
        spec(json!({
            "volumes": [volume],
            "initContainers": [{"name": "landlock-shim-install", "image": image,
                "command": ["/landlock-shim", "install", "/landlock-injector"],
                "volumeMounts": [{"name": "landlock-shim", "mountPath": "/landlock-injector"}]}],
            "containers": [{"name": "app"}],
        }))
    }

    #[test]
    fn only_the_configured_image_with_an_empty_dir_is_an_earlier_injection() {
        let empty_dir = json!({"name": "landlock-shim", "emptyDir": {}});
        let ours = existing_names(
            &with_installer("registry.example/shim:1", empty_dir.clone()),
            &config(),
        );
        assert_eq!(
            ours.map(|(n, index)| (n.dir, index)),
            Some(("/landlock-injector".to_owned(), 0))
        );
        for forged in [
            with_installer("evil.example/landlock-shim:1", empty_dir.clone()),
            with_installer("registry.example/shim:2", empty_dir.clone()),
            with_installer(
                "registry.example/shim:1",
                json!({"name": "landlock-shim", "hostPath": {"path": "/tmp"}}),
            ),
        ] {
            assert_eq!(existing_names(&forged, &config()), None, "{forged:?}");
        }
        // An installer with a second mount (a file over its own /landlock-shim) is not ours.
        let mut two_mounts = with_installer("registry.example/shim:1", empty_dir.clone());
        if let Some(c) = two_mounts
            .init_containers
            .as_mut()
            .and_then(|i| i.first_mut())
        {
            c.volume_mounts.get_or_insert_default().push(VolumeMount {
                name: "evil".into(),
                mount_path: "/landlock-shim".into(),
                sub_path: Some("bin".into()),
                ..VolumeMount::default()
            });
        }
        assert_eq!(
            existing_names(&two_mounts, &config()),
            None,
            "{two_mounts:?}"
        );
    }

    #[test]
    fn digests_pin_the_shim_image() {
        let d = "sha256:aaaa";
        assert!(is_shim_image("r/shim:1", "r/shim:1"));
        assert!(is_shim_image(&format!("r/shim:1@{d}"), "r/shim:1"));
        assert!(!is_shim_image("r/shim:1", &format!("r/shim:1@{d}")));
        assert!(is_shim_image(
            &format!("r/shim:1@{d}"),
            &format!("r/shim:1@{d}")
        ));
        assert!(!is_shim_image(
            "r/shim:1@sha256:bbbb",
            &format!("r/shim:1@{d}")
        ));
        assert!(!is_shim_image(
            &format!("x/shim:1@{d}"),
            &format!("r/shim:1@{d}")
        ));
    }
}

//! The pod edits an injection makes, and the JSONPatch that expresses them.
//!
//! Edits: one emptyDir volume; one init container, placed first, that runs
//! `landlock-shim install <dir>` from the shim image; a read-only mount of the volume and a
//! rewritten command/args in every wrapped container; the `status: injected` annotation.
//! Names the pod already uses are never reused: `landlock-shim` becomes `landlock-shim-1`, and
//! so on, deterministically.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, Pod, PodSpec, ResourceRequirements,
    SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::annotations::{PREFIX, STATUS, STATUS_INJECTED};
use crate::config::{self, Config};

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
        format!("{}/landlock-shim", self.dir)
    }
}

/// Every container of the spec, init containers first.
pub fn all_containers(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
}

/// The first of `base`, `base-1`, `base-2`, ... that `taken` does not reject.
fn free(base: &str, taken: impl Fn(&str) -> bool) -> String {
    (0..)
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
fn overlaps(a: &str, b: &str) -> bool {
    let within = |inner: &str, outer: &str| {
        inner == outer || inner.starts_with(&format!("{}/", outer.trim_end_matches('/')))
    };
    within(a, b) || within(b, a)
}

/// Names that collide with nothing in `spec`.
pub fn choose_names(spec: &PodSpec) -> Names {
    let volumes: Vec<&str> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    let containers: Vec<&str> = all_containers(spec).map(|c| c.name.as_str()).collect();
    let mounts: Vec<&str> = all_containers(spec)
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .map(|m| m.mount_path.as_str())
        .collect();
    Names {
        volume: free(config::VOLUME, |n| volumes.contains(&n)),
        installer: free(config::INSTALLER, |n| containers.contains(&n)),
        dir: free(config::MOUNT_DIR, |d| mounts.iter().any(|m| overlaps(m, d))),
    }
}

/// The names of an earlier injection into this spec, found through its installer.
pub fn existing_names(spec: &PodSpec) -> Option<Names> {
    spec.init_containers.iter().flatten().find_map(|c| {
        let command = c.command.as_ref()?;
        match command.as_slice() {
            [shim, install, dir] if shim.ends_with("landlock-shim") && install == "install" => {
                let volume = c
                    .volume_mounts
                    .iter()
                    .flatten()
                    .find(|m| &m.mount_path == dir)?;
                Some(Names {
                    volume: volume.name.clone(),
                    installer: c.name.clone(),
                    dir: dir.clone(),
                })
            }
            _ => None,
        }
    })
}

/// Whether `container` already runs through the shim of `names`.
pub fn is_wrapped(container: &Container, names: &Names) -> bool {
    container
        .command
        .as_ref()
        .and_then(|c| c.first())
        .is_some_and(|first| *first == names.shim())
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
        command: Some(vec![
            config::SHIM_IN_IMAGE.to_owned(),
            "install".to_owned(),
            names.dir.clone(),
        ]),
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

/// Adds the volume, the installer (first) and the status annotation, unless present.
pub fn add_installer(pod: &mut Pod, config: &Config, names: &Names) {
    let annotations = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(format!("{PREFIX}{STATUS}"), STATUS_INJECTED.to_owned());
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    if !volumes.iter().any(|v| v.name == names.volume) {
        volumes.push(volume(names));
    }
    let inits = spec.init_containers.get_or_insert_with(Vec::new);
    if !inits.iter().any(|c| c.name == names.installer) {
        inits.insert(0, installer(config, names));
    }
}

/// Why a JSONPatch could not be produced.
#[derive(Debug, thiserror::Error)]
#[error("cannot serialise the pod for the patch: {0}")]
pub struct PatchError(#[from] serde_json::Error);

/// The JSONPatch that turns `before` into `after`.
pub fn diff(before: &Pod, after: &Pod) -> Result<json_patch::Patch, PatchError> {
    Ok(json_patch::diff(
        &serde_json::to_value(before)?,
        &serde_json::to_value(after)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> PodSpec {
        serde_json::from_value(value).expect("spec")
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
}

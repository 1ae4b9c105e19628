//! Static discovery: the grants a container's volume mounts imply, read from the pod spec.
//!
//! | volume | grant on the mount path |
//! |---|---|
//! | configMap, secret, projected, downwardAPI | ro (a subPath mount: the file) |
//! | CSI with driver `csi.cert-manager.io` | ro |
//! | emptyDir | rw (ro if the mount is readOnly) |
//! | persistentVolumeClaim | rw (ro if the mount or the claim source is readOnly) |
//! | hostPath | nothing unless an annotation grants it; a warning says so |
//! | anything else | nothing; a warning names it |
//!
//! This runs in the webhook and is switched off by `discover: "false"`. The shim discovers
//! kubelet-written volumes again at runtime (that catches volumes other webhooks add later).

use std::collections::HashMap;

use crate::admission::pod_spec::{ContainerView, VolumeView};
use init_shim::{Access, PolicyPath};

/// The pod's volumes by name, built once per pod: every container's mounts are looked up in
/// it (a linear search per mount made a pod of many volumes and mounts quadratic).
#[derive(Debug, Default)]
pub struct Volumes<'a>(HashMap<&'a str, &'a VolumeView>);

impl<'a> Volumes<'a> {
    /// Indexes `volumes`; of two volumes with one name (the API server rejects the pod later)
    /// the first counts, as a linear search would have found it.
    pub fn new(volumes: &'a [VolumeView]) -> Self {
        let mut index = HashMap::with_capacity(volumes.len());
        for volume in volumes {
            index.entry(volume.name.as_str()).or_insert(volume);
        }
        Self(index)
    }

    fn get(&self, name: &str) -> Option<&'a VolumeView> {
        self.0.get(name).copied()
    }
}

/// cert-manager's CSI driver.
pub const CERT_MANAGER_CSI: &str = "csi.cert-manager.io";

/// One grant found in the spec, with the volume it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The access set.
    pub access: Access,
    /// The mount path.
    pub path: PolicyPath,
    /// The volume's name.
    pub volume: String,
}

/// What discovery found for one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    /// The grants.
    pub grants: Vec<Found>,
    /// Mounts that were not granted, said in words for AdmissionResponse warnings.
    pub warnings: Vec<String>,
}

/// A mount path the policy model cannot express (relative, `..`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("container {container:?}: volumeMount {volume:?} at {mount_path:?}: {problem}")]
pub struct MountPathError {
    /// The container.
    pub container: String,
    /// The volume.
    pub volume: String,
    /// The mount path as written.
    pub mount_path: String,
    /// What is wrong.
    pub problem: String,
}

/// The grants `container`'s mounts of `volumes` imply. `annotated` tells whether a path is
/// already granted by an annotation (hostPath mounts are granted only that way). The volume
/// named `shim` (the injection's own, once injected) is never a grant: the program does not
/// need the shim once it runs.
pub fn discover(
    container: &ContainerView,
    volumes: &Volumes<'_>,
    shim: &str,
    annotated: impl Fn(&PolicyPath) -> bool,
) -> Result<Discovered, MountPathError> {
    let mut out = Discovered::default();
    for mount in container.volume_mounts.iter().flatten() {
        if mount.name == shim {
            continue;
        }
        let fail = |problem: String| MountPathError {
            container: container.name.clone(),
            volume: mount.name.clone(),
            mount_path: mount.mount_path.clone(),
            problem,
        };
        let Some(volume) = volumes.get(&mount.name) else {
            return Err(fail("the pod has no volume of that name".to_owned()));
        };
        // Kubernetes accepts a trailing slash on mount paths; the policy model does not.
        let trimmed = mount.mount_path.trim_end_matches('/');
        // A mountPath is plain text (a backslash in it is a backslash), so it is escaped first.
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let path = PolicyPath::parse(&init_shim::path_text::encode(trimmed.as_bytes()))
            .map_err(|e| fail(e.to_string()))?;
        let read_only = mount.read_only == Some(true);
        let writable = |claim_read_only: bool| {
            if read_only || claim_read_only {
                Access::Ro
            } else {
                Access::Rw
            }
        };
        let access = if volume.config_map.is_some()
            || volume.secret.is_some()
            || volume.projected.is_some()
            || volume.downward_api.is_some()
        {
            Some(Access::Ro)
        } else if let Some(csi) = &volume.csi {
            if csi.driver == CERT_MANAGER_CSI {
                Some(Access::Ro)
            } else {
                out.warnings.push(format!(
                    "container {:?}: CSI volume {:?} (driver {}) at {} is not granted; grant it with a landlock-injector.io/read or write annotation",
                    container.name, volume.name, csi.driver, mount.mount_path
                ));
                None
            }
        } else if volume.empty_dir.is_some() {
            Some(writable(false))
        } else if let Some(claim) = &volume.persistent_volume_claim {
            Some(writable(claim.read_only == Some(true)))
        } else if volume.host_path.is_some() {
            if !annotated(&path) {
                out.warnings.push(format!(
                    "container {:?}: hostPath volume {:?} at {} is not granted; grant it explicitly with a landlock-injector.io/read or write annotation if the program needs it",
                    container.name, volume.name, mount.mount_path
                ));
            }
            None
        } else {
            out.warnings.push(format!(
                "container {:?}: volume {:?} at {} is of a type the webhook does not grant automatically; grant it with a landlock-injector.io/read or write annotation",
                container.name, volume.name, mount.mount_path
            ));
            None
        };
        if let Some(access) = access {
            out.grants.push(Found {
                access,
                path,
                volume: volume.name.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_parts(
        volumes: serde_json::Value,
        mounts: serde_json::Value,
    ) -> (ContainerView, Vec<VolumeView>) {
        let container: ContainerView =
            serde_json::from_value(json!({"name": "app", "image": "x", "volumeMounts": mounts}))
                .expect("container");
        let volumes: Vec<VolumeView> = serde_json::from_value(volumes).expect("volumes");
        (container, volumes)
    }

    fn grants(found: &Discovered) -> Vec<String> {
        found
            .grants
            .iter()
            .map(|f| format!("{}:{}", f.access.name(), f.path.as_str()))
            .collect()
    }

    #[test]
    fn each_volume_type_gets_its_grant() {
        let (container, volumes) = pod_parts(
            json!([
                {"name": "cm", "configMap": {"name": "app"}},
                {"name": "sec", "secret": {"secretName": "tls"}},
                {"name": "proj", "projected": {"sources": []}},
                {"name": "down", "downwardAPI": {"items": []}},
                {"name": "cert", "csi": {"driver": "csi.cert-manager.io", "readOnly": true}},
                {"name": "scratch", "emptyDir": {}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "ro-claim", "persistentVolumeClaim": {"claimName": "x", "readOnly": true}},
            ]),
            json!([
                {"name": "cm", "mountPath": "/etc/app"},
                {"name": "cm", "mountPath": "/etc/app.yaml", "subPath": "app.yaml"},
                {"name": "sec", "mountPath": "/etc/tls/"},
                {"name": "proj", "mountPath": "/var/run/projected"},
                {"name": "down", "mountPath": "/etc/podinfo"},
                {"name": "cert", "mountPath": "/var/run/certs"},
                {"name": "scratch", "mountPath": "/scratch"},
                {"name": "scratch", "mountPath": "/cache", "readOnly": true},
                {"name": "data", "mountPath": "/data"},
                {"name": "ro-claim", "mountPath": "/ref"},
            ]),
        );
        let found = discover(&container, &Volumes::new(&volumes), "landlock-shim", |_| {
            false
        })
        .expect("valid");
        assert_eq!(
            grants(&found),
            [
                "ro:/etc/app",
                "ro:/etc/app.yaml",
                "ro:/etc/tls",
                "ro:/var/run/projected",
                "ro:/etc/podinfo",
                "ro:/var/run/certs",
                "rw:/scratch",
                "ro:/cache",
                "rw:/data",
                "ro:/ref",
            ]
        );
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
    }

    #[test]
    fn host_paths_other_csi_drivers_and_unknown_types_warn() {
        let (container, volumes) = pod_parts(
            json!([
                {"name": "logs", "hostPath": {"path": "/var/log"}},
                {"name": "granted", "hostPath": {"path": "/opt"}},
                {"name": "secrets-store", "csi": {"driver": "secrets-store.csi.k8s.io"}},
                {"name": "nfs", "nfs": {"server": "nfs", "path": "/"}},
            ]),
            json!([
                {"name": "logs", "mountPath": "/host/logs"},
                {"name": "granted", "mountPath": "/host/opt"},
                {"name": "secrets-store", "mountPath": "/mnt/secrets"},
                {"name": "nfs", "mountPath": "/mnt/nfs"},
            ]),
        );
        let found = discover(&container, &Volumes::new(&volumes), "landlock-shim", |p| {
            p.as_str() == "/host/opt"
        })
        .expect("valid");
        assert!(found.grants.is_empty());
        assert_eq!(found.warnings.len(), 3, "{:?}", found.warnings);
        assert!(
            found.warnings[0].contains("hostPath volume \"logs\" at /host/logs is not granted")
        );
        assert!(found.warnings[1].contains("secrets-store.csi.k8s.io"));
        assert!(found.warnings[2].contains("\"nfs\""));
    }

    #[test]
    fn unusable_mount_paths_and_unknown_volumes_are_errors() {
        let (container, volumes) = pod_parts(
            json!([{"name": "cm", "configMap": {"name": "app"}}]),
            json!([{"name": "cm", "mountPath": "/etc/../app"}]),
        );
        let err = discover(&container, &Volumes::new(&volumes), "landlock-shim", |_| {
            false
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("volumeMount \"cm\" at \"/etc/../app\""),
            "{err}"
        );
        let (container, volumes) =
            pod_parts(json!([]), json!([{"name": "gone", "mountPath": "/x"}]));
        let err = discover(&container, &Volumes::new(&volumes), "landlock-shim", |_| {
            false
        })
        .unwrap_err();
        assert!(err.to_string().contains("no volume of that name"), "{err}");
    }
}

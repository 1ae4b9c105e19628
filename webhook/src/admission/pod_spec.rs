//! The parts of a pod the decision reads, parsed from the submitted JSON without the rest.
//!
//! A defaulted pod is mostly env, resources, ports, probes' timings, security contexts and
//! tolerations, none of which the webhook reads; building k8s-openapi's whole `Pod` allocated
//! every one of those strings and was most of a review's cost (the load benchmark's profile).
//! These views keep k8s-openapi's types where they are small (`VolumeMount`, `ExecAction`) and
//! skip everything else while parsing. The full `Pod` is built only for registry lookups (its
//! pull secrets), for containers without `command`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ExecAction, VolumeMount};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// A pod: the annotations and the spec.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodView {
    /// `metadata` (annotations only).
    #[serde(default)]
    pub metadata: MetaView,
    /// `spec`.
    #[serde(default)]
    pub spec: Option<SpecView>,
}

/// `metadata.annotations`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetaView {
    /// `metadata.annotations`.
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The pod spec's containers and volumes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecView {
    /// `spec.containers`.
    #[serde(default)]
    pub containers: Vec<ContainerView>,
    /// `spec.initContainers` (native sidecars included).
    #[serde(default)]
    pub init_containers: Option<Vec<ContainerView>>,
    /// `spec.volumes`.
    #[serde(default)]
    pub volumes: Option<Vec<VolumeView>>,
}

/// What the webhook reads of a container.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerView {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `image`.
    #[serde(default)]
    pub image: Option<String>,
    /// `command`.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// `args`.
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// `volumeMounts`.
    #[serde(default)]
    pub volume_mounts: Option<Vec<VolumeMount>>,
    /// `volumeDevices` (a device placed in the shim directory would cover the shim).
    #[serde(default)]
    pub volume_devices: Option<Vec<DeviceView>>,
    /// `livenessProbe`.
    #[serde(default)]
    pub liveness_probe: Option<Handler>,
    /// `readinessProbe`.
    #[serde(default)]
    pub readiness_probe: Option<Handler>,
    /// `startupProbe`.
    #[serde(default)]
    pub startup_probe: Option<Handler>,
    /// `lifecycle`.
    #[serde(default)]
    pub lifecycle: Option<LifecycleView>,
}

/// A raw block device of a container: `volumeDevices[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `devicePath`.
    #[serde(default)]
    pub device_path: String,
}

/// A probe or lifecycle handler: only its `exec`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Handler {
    /// `exec`.
    #[serde(default)]
    pub exec: Option<ExecAction>,
}

/// `lifecycle`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleView {
    /// `postStart`.
    #[serde(default)]
    pub post_start: Option<Handler>,
    /// `preStop`.
    #[serde(default)]
    pub pre_stop: Option<Handler>,
}

/// What the webhook reads of a volume: its name and which source it has.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeView {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `configMap`.
    #[serde(default)]
    pub config_map: Option<IgnoredAny>,
    /// `secret`.
    #[serde(default)]
    pub secret: Option<IgnoredAny>,
    /// `projected`.
    #[serde(default)]
    pub projected: Option<IgnoredAny>,
    /// `downwardAPI`.
    #[serde(default, rename = "downwardAPI")]
    pub downward_api: Option<IgnoredAny>,
    /// `emptyDir`.
    #[serde(default)]
    pub empty_dir: Option<IgnoredAny>,
    /// `hostPath`.
    #[serde(default)]
    pub host_path: Option<IgnoredAny>,
    /// `csi`: its driver.
    #[serde(default)]
    pub csi: Option<CsiView>,
    /// `persistentVolumeClaim`: whether it is read-only.
    #[serde(default)]
    pub persistent_volume_claim: Option<ClaimView>,
}

/// `csi`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CsiView {
    /// `driver`.
    #[serde(default)]
    pub driver: String,
}

/// `persistentVolumeClaim`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimView {
    /// `readOnly`.
    #[serde(default)]
    pub read_only: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_the_decision_needs_and_skips_the_rest() {
        let pod: PodView = serde_json::from_value(json!({
            "metadata": {"name": "p", "annotations": {"a": "b"}, "labels": {"x": "y"}},
            "spec": {
                "volumes": [
                    {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}},
                    {"name": "claim", "persistentVolumeClaim": {"claimName": "d", "readOnly": true}},
                    {"name": "certs", "csi": {"driver": "csi.cert-manager.io", "volumeAttributes": {}}},
                    {"name": "gone", "configMap": null},
                ],
                "containers": [{"name": "web", "image": "x", "env": [{"name": "A", "value": "1"}],
                    "resources": {"limits": {"cpu": "1"}}, "futureField": {"deep": [1, 2]},
                    "livenessProbe": {"exec": {"command": ["/check"]}, "periodSeconds": 3},
                    "lifecycle": {"preStop": {"httpGet": {"port": 80}}}}],
            },
        }))
        .expect("parses");
        let spec = pod.spec.expect("spec");
        let volumes = spec.volumes.expect("volumes");
        assert!(volumes[0].config_map.is_some() && volumes[0].secret.is_none());
        assert_eq!(
            volumes[1]
                .persistent_volume_claim
                .as_ref()
                .and_then(|c| c.read_only),
            Some(true)
        );
        assert_eq!(
            volumes[2].csi.as_ref().map(|c| c.driver.as_str()),
            Some("csi.cert-manager.io")
        );
        assert!(volumes[3].config_map.is_none());
        let web = &spec.containers[0];
        assert_eq!(
            web.liveness_probe
                .as_ref()
                .and_then(|p| p.exec.as_ref())
                .and_then(|e| e.command.clone()),
            Some(vec!["/check".to_owned()])
        );
        assert!(
            web.lifecycle
                .as_ref()
                .and_then(|l| l.pre_stop.as_ref())
                .is_some_and(|h| h.exec.is_none())
        );
        assert_eq!(pod.metadata.annotations.map(|a| a.len()), Some(1));
    }
}

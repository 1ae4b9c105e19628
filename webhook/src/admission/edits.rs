//! What an injection changes in a pod, as typed edits addressed to the pod the API server sent:
//! every index is an index into the submitted object's arrays, and every "exists" flag says
//! whether the submitted object has that member. [`crate::admission::patch`] turns them into JSONPatch
//! operations; nothing here is a copy of the whole pod, so fields the typed model does not know
//! are never touched.

use init_shim::{Mode, Profile};
use k8s_openapi::api::core::v1::{Container, Volume, VolumeMount};

use crate::admission::pod_spec::{ContainerView, Handler};

/// Which container list of the pod spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerList {
    /// `spec.initContainers` (native sidecars included).
    Init,
    /// `spec.containers`.
    App,
}

impl ContainerList {
    /// The field name in the pod spec.
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::Init => "initContainers",
            ContainerList::App => "containers",
        }
    }
}

/// A command a container runs besides its program: exec probes and exec lifecycle hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecHook {
    /// `livenessProbe.exec.command`.
    Liveness,
    /// `readinessProbe.exec.command`.
    Readiness,
    /// `startupProbe.exec.command`.
    Startup,
    /// `lifecycle.postStart.exec.command`.
    PostStart,
    /// `lifecycle.preStop.exec.command`.
    PreStop,
}

impl ExecHook {
    /// Every hook.
    pub const ALL: [ExecHook; 5] = [
        ExecHook::Liveness,
        ExecHook::Readiness,
        ExecHook::Startup,
        ExecHook::PostStart,
        ExecHook::PreStop,
    ];

    /// The path of its command inside the container object.
    pub fn path(self) -> &'static [&'static str] {
        match self {
            ExecHook::Liveness => &["livenessProbe", "exec", "command"],
            ExecHook::Readiness => &["readinessProbe", "exec", "command"],
            ExecHook::Startup => &["startupProbe", "exec", "command"],
            ExecHook::PostStart => &["lifecycle", "postStart", "exec", "command"],
            ExecHook::PreStop => &["lifecycle", "preStop", "exec", "command"],
        }
    }

    /// Its command in `container`, if it is an exec hook with a command.
    pub fn command(self, container: &ContainerView) -> Option<&Vec<String>> {
        let lifecycle = container.lifecycle.as_ref();
        let handler: Option<&Handler> = match self {
            ExecHook::Liveness => container.liveness_probe.as_ref(),
            ExecHook::Readiness => container.readiness_probe.as_ref(),
            ExecHook::Startup => container.startup_probe.as_ref(),
            ExecHook::PostStart => lifecycle.and_then(|l| l.post_start.as_ref()),
            ExecHook::PreStop => lifecycle.and_then(|l| l.pre_stop.as_ref()),
        };
        handler?
            .exec
            .as_ref()?
            .command
            .as_ref()
            .filter(|c| !c.is_empty())
    }
}

/// The edits to one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerEdit {
    /// The list it is in.
    pub list: ContainerList,
    /// Its index in that list of the submitted pod.
    pub index: usize,
    /// The wrapped command (set whether or not the container had one), when it changes.
    pub command: Option<Vec<String>>,
    /// The args to set, when they change (the image's CMD carried into the spec).
    pub args: Option<Vec<String>>,
    /// The shim volume's mount, when the container does not have it yet.
    pub mount: Option<VolumeMount>,
    /// Whether the container has a `volumeMounts` list to append to.
    pub mounts_exist: bool,
    /// Exec probes and hooks, with their wrapped commands.
    pub exec: Vec<(ExecHook, Vec<String>)>,
}

impl ContainerEdit {
    /// Whether the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.command.is_none()
            && self.args.is_none()
            && self.mount.is_none()
            && self.exec.is_empty()
    }

    /// The bytes of commands and args it writes (see [`crate::admission::limits::MAX_PATCH_BYTES`]).
    pub fn bytes(&self) -> usize {
        let list =
            |l: &Option<Vec<String>>| l.as_deref().map_or(0, crate::admission::limits::json_bytes);
        list(&self.command)
            + list(&self.args)
            + self
                .exec
                .iter()
                .map(|(_, c)| crate::admission::limits::json_bytes(c))
                .sum::<usize>()
    }
}

/// What became of one wrapped container, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedContainer {
    /// The container's name.
    pub name: String,
    /// Its sandbox mode.
    pub mode: Mode,
    /// Its base profile.
    pub profile: Profile,
}

/// Every edit of one injection.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Edits {
    /// Container edits, addressed by their index in the submitted pod.
    pub containers: Vec<ContainerEdit>,
    /// The shim volume, when the pod does not have it yet.
    pub volume: Option<Volume>,
    /// Whether the pod has a `spec.volumes` list to append to.
    pub volumes_exist: bool,
    /// The installer, placed first, when the pod does not have it yet.
    pub installer: Option<Container>,
    /// Whether the pod has a `spec.initContainers` list to insert into.
    pub init_containers_exist: bool,
    /// The annotations the webhook writes, keys and values: `status` first, then the applied
    /// policy's record when a LandlockPolicy is bound.
    pub annotations: Vec<(String, String)>,
    /// The labels the webhook writes: the applied policy's name when a LandlockPolicy is bound
    /// (so that its status writer can select the pods that run it).
    pub labels: Vec<(String, String)>,
    /// Whether the pod has `metadata.labels`.
    pub labels_exist: bool,
    /// Whether the pod has `metadata`.
    pub metadata_exists: bool,
    /// Whether the pod has `metadata.annotations`.
    pub annotations_exist: bool,
    /// The wrapped containers, in pod order.
    pub wrapped: Vec<WrappedContainer>,
    /// Things the user should know (returned as kubectl warnings).
    pub warnings: Vec<String>,
}

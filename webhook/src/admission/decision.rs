//! The admission decision for one pod, pure (no I/O, no clock), in two phases:
//!
//! 1. [`decide`]: from the pod's metadata and its namespace's ([`crate::admission::opt_in`]), then, for a
//!    pod that opted in, from its spec: [`Decision::Skip`] (with the reason and warnings) or
//!    [`Decision::Wrap`] with an [`Injection`], whose [`Injection::images`] says which image
//!    configurations the entrypoint rules need (containers without `command`).
//! 2. [`Injection::apply`], given those image configurations: the typed [`Edits`], addressed to
//!    the submitted object, that [`crate::admission::patch`] turns into JSONPatch operations.
//!
//! Between the two the caller looks the images up (see [`crate::review`]).
//!
//! Every container but the installer is compared with what the webhook would write for it
//! ([`crate::admission::injected`]): one that already runs the shim with exactly the flags its annotations
//! ask for is left alone (a reinvocation changes nothing), anything else is wrapped or
//! re-wrapped, and a pod with nothing left to change is [`Decision::Skip`]ped by the caller.
//! Both phases are linear in the size of the pod and bounded by [`crate::admission::limits`].

use std::collections::{BTreeMap, BTreeSet};

use init_shim::{Mode, Policy, PolicyPath};
use k8s_openapi::api::core::v1::Container;

use crate::admission::annotations::{
    self, APPLIED_POLICY, AnnotationError, Annotations, Defaults, POLICY, PREFIX, RECORDING,
    STATUS, STATUS_INJECTED, Settings,
};
use crate::admission::binding::{self, BindError, Objects};
use crate::admission::config::Config;
use crate::admission::discovery::{self, MountPathError, Volumes};
use crate::admission::edits::{ContainerEdit, ContainerList, Edits, ExecHook, WrappedContainer};
use crate::admission::entrypoint::{self, EntrypointError, ImageConfig};
use crate::admission::injected::{self, InjectedError};
use crate::admission::installer::{self, Names};
use crate::admission::limits::{self, LimitError, MAX_PATCH_BYTES, MAX_PATHS_PER_CONTAINER};
use crate::admission::opt_in::{self, NamespaceMeta, OptIn, OptInError, PodHead, PodMeta};
use crate::admission::patch::PatchError;
use crate::admission::pod_spec::{ContainerView, PodView, SpecView};
use crate::admission::recording::{self, SelectError};

/// Image configurations by image reference, or why the lookup failed.
pub type Images = BTreeMap<String, Result<ImageConfig, String>>;

/// What to do with a pod: leave it, or wrap it (`T` is an [`Injection`] before the image
/// lookups and the [`Edits`] after).
#[derive(Debug, Clone)]
pub enum Decision<T = Injection> {
    /// Allowed unchanged.
    Skip(Skip),
    /// Wrapped.
    Wrap(T),
}

/// Why a pod is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// Why nothing is done (for logs).
    pub reason: String,
    /// Things the user should know (kubectl warnings).
    pub warnings: Vec<String>,
}

/// Why a pod is refused. Every variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum Denial {
    /// A bad opt-in switch or namespace default.
    #[error("landlock-injector: {0}")]
    OptIn(#[from] OptInError),
    /// A bad annotation.
    #[error("landlock-injector: {0}")]
    Annotation(#[from] AnnotationError),
    /// A mount path the sandbox cannot express.
    #[error("landlock-injector: {0}")]
    MountPath(#[from] MountPathError),
    /// The entrypoint could not be determined.
    #[error(
        "landlock-injector: container {container:?} (image {image:?}): {cause}; set `command` in the container spec so the webhook does not need the image's configuration"
    )]
    Entrypoint {
        /// The container.
        container: String,
        /// Its image.
        image: String,
        /// Why.
        cause: String,
    },
    /// The object is not a Pod the typed model can read.
    #[error("landlock-injector: the object is not a valid Pod: {0}")]
    NotAPod(String),
    /// The pod has no spec.
    #[error("landlock-injector: the pod has no spec")]
    NoSpec,
    /// The patch could not be produced.
    #[error("landlock-injector: {0}")]
    Patch(#[from] PatchError),
    /// What the pod says about an earlier injection does not hold.
    #[error("landlock-injector: {0}")]
    Injected(#[from] InjectedError),
    /// The pod exceeds an admission limit.
    #[error("landlock-injector: {0}")]
    Limit(#[from] LimitError),
    /// No LandlockPolicy, or not the one it asks for, can be bound to the pod.
    #[error("landlock-injector: {0}")]
    Binding(#[from] BindError),
    /// The pod carries a record only the webhook writes, for a binding that does not hold.
    #[error(
        "landlock-injector: {place} \"{PREFIX}{key}\" is written by the webhook for pods {what}, and none does this one: remove it (it was copied from another pod, or set by hand)"
    )]
    ForeignRecord {
        /// `label` or `annotation`.
        place: &'static str,
        /// The key after the prefix.
        key: &'static str,
        /// For which pods the webhook writes it.
        what: &'static str,
    },
    /// A record of the webhook's own earlier pass (a reinvocation) whose binding no longer
    /// holds: the policy or recording changed meanwhile.
    #[error(
        "landlock-injector: an earlier admission pass of this pod recorded {place} \"{PREFIX}{key}\" for {what}, and none does now (the policy was changed or deleted, or the recording ended, between the passes): create the pod again"
    )]
    RecordGone {
        /// `label` or `annotation`.
        place: &'static str,
        /// The key after the prefix.
        key: &'static str,
        /// What it was written for.
        what: &'static str,
    },
    /// No recording can be chosen for the pod.
    #[error("landlock-injector: {0}")]
    Recording(#[from] SelectError),
}

/// A pod that will be wrapped, before its image configurations are known.
#[derive(Debug, Clone)]
pub struct Injection {
    pod: PodView,
    annotations: Annotations,
    defaults: Defaults,
    names: Names,
    installer: Option<Container>,
    targets: Vec<(ContainerList, usize)>,
    metadata_exists: bool,
    /// The bound policy's name, generation and uid (what [`APPLIED_POLICY`] records).
    applied_policy: Option<(String, i64, Option<String>)>,
    /// Whether the pod has `metadata.labels` (where the applied policy's label goes).
    labels_exist: bool,
    /// The LandlockRecording that admits the pod in `mode: learn` (what [`RECORDING`] records).
    recording: Option<String>,
}

/// Decides what happens to the pod `object` (its JSON text; `head` is its parsed metadata),
/// created in `namespace`, whose metadata `ns` is, when it was looked up, and whose
/// LandlockPolicies are `policies`.
pub fn decide(
    object: &str,
    head: &PodHead,
    namespace: &str,
    ns: Option<&NamespaceMeta>,
    objects: Objects<'_>,
    config: &Config,
) -> Result<Decision, Denial> {
    let opted = opt_in::decide(head.meta(), namespace, ns, config)?;
    decide_opted(object, head, namespace, opted, objects, config)
}

/// The records are the webhook's: a pod that carries one it would not write (copied from
/// another pod, or forged to be counted as a policy's pod or to pass the
/// ValidatingAdmissionPolicy's mode check) is refused, whether it opts in or not.
///
/// On a reinvocation (the pod carries the webhook's own `status: injected`), a record of the
/// first pass whose binding no longer holds is refused too, saying so.
fn check_records(meta: &PodMeta, bound: bool, recorded: bool) -> Result<(), Denial> {
    let reinvoked = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(&format!("{PREFIX}{STATUS}")))
        .is_some_and(|v| v == STATUS_INJECTED);
    for (key, written, what, was) in [
        (
            APPLIED_POLICY,
            bound,
            "a LandlockPolicy binds",
            "a LandlockPolicy",
        ),
        (
            RECORDING,
            recorded,
            "an active LandlockRecording selects",
            "a LandlockRecording",
        ),
    ] {
        let full = format!("{PREFIX}{key}");
        for (place, map) in [("annotation", &meta.annotations), ("label", &meta.labels)] {
            if !written && map.as_ref().is_some_and(|m| m.contains_key(&full)) {
                return Err(if reinvoked {
                    Denial::RecordGone {
                        place,
                        key,
                        what: was,
                    }
                } else {
                    Denial::ForeignRecord { place, key, what }
                });
            }
        }
    }
    Ok(())
}

/// [`decide`] for a pod whose opt-in (`opted`) the caller already decided: the review decides
/// it first, to read policies only for the pods that opt in.
pub fn decide_opted(
    object: &str,
    head: &PodHead,
    namespace: &str,
    opted: OptIn,
    objects: Objects<'_>,
    config: &Config,
) -> Result<Decision, Denial> {
    let defaults = match opted {
        OptIn::Out {
            reason,
            by_pod,
            mut warnings,
        } => {
            if by_pod {
                let meta = head.meta();
                let labels = meta.labels.clone().unwrap_or_default();
                let named = meta
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(&format!("{PREFIX}{POLICY}")))
                    .map(String::as_str);
                let unchecked =
                    binding::check_opt_out(&labels, named, namespace, objects.policies)?;
                warnings.extend(unchecked);
            }
            if !config.exempt(namespace) {
                check_records(head.meta(), false, false)?;
            }
            return Ok(Decision::Skip(Skip { reason, warnings }));
        }
        OptIn::In { defaults, .. } => defaults,
    };
    let pod: PodView = serde_json::from_str(object).map_err(|e| Denial::NotAPod(e.to_string()))?;
    let spec = pod.spec.as_ref().ok_or(Denial::NoSpec)?;
    let names: Vec<&str> = installer::all_containers(spec)
        .map(|c| c.name.as_str())
        .collect();
    let raw = pod.metadata.annotations.clone().unwrap_or_default();
    let mut annotations = annotations::parse(&raw, &names)?;
    let labels = head.meta().labels.clone().unwrap_or_default();
    let bound = binding::bind(
        &labels,
        annotations.policy_name.as_deref(),
        namespace,
        objects.policies,
    )?;
    let applied_policy = match bound {
        Some(policy) => {
            binding::check_additions(&policy, &raw)?;
            annotations.policy = Some(policy.layer);
            Some((policy.name, policy.generation, policy.uid))
        }
        None => None,
    };
    let recording = match objects.recordings {
        Ok(recordings) => recording::select(&labels, recordings, objects.now)?,
        Err(cause) => {
            return Err(SelectError::Unavailable {
                namespace: namespace.to_owned(),
                cause: cause.to_owned(),
            }
            .into());
        }
    };
    check_records(head.meta(), applied_policy.is_some(), recording.is_some())?;
    if recording.is_some() {
        annotations.recording = Some(Settings {
            mode: Some(Mode::Learn),
            ..Settings::default()
        });
    }
    let (names, installer, existing) = match installer::existing_names(spec, config) {
        Some((names, index)) => (names, None, Some(index)),
        None => {
            let names = installer::choose_names(spec);
            let installer = installer::installer(config, &names);
            (names, Some(installer), None)
        }
    };
    // Every container but an earlier injection's installer (found by its place, not its name:
    // admission runs before validation rejects duplicate names) is checked and then compared
    // with what the webhook writes.
    let mut targets = Vec::new();
    for (list, index, container) in containers(spec) {
        if list == ContainerList::Init && Some(index) == existing {
            continue;
        }
        injected::check_mounts(container, &names)?;
        targets.push((list, index));
    }
    Ok(Decision::Wrap(Injection {
        metadata_exists: head.metadata.is_some(),
        pod,
        annotations,
        defaults,
        names,
        installer,
        targets,
        applied_policy,
        labels_exist: head.meta().labels.is_some(),
        recording,
    }))
}

/// Every container with its list and index, init containers first.
fn containers(spec: &SpecView) -> impl Iterator<Item = (ContainerList, usize, &ContainerView)> {
    let inits = spec.init_containers.iter().flatten().enumerate();
    let apps = spec.containers.iter().enumerate();
    inits
        .map(|(i, c)| (ContainerList::Init, i, c))
        .chain(apps.map(|(i, c)| (ContainerList::App, i, c)))
}

impl Injection {
    fn spec(&self) -> Option<&SpecView> {
        self.pod.spec.as_ref()
    }

    fn target(&self, list: ContainerList, index: usize) -> Option<&ContainerView> {
        let spec = self.spec()?;
        match list {
            ContainerList::Init => spec.init_containers.as_ref()?.get(index),
            ContainerList::App => spec.containers.get(index),
        }
    }

    /// About how many bytes of commands [`Injection::apply`] would write: every target's path
    /// annotations (pod level and its own), repeated in its command and exec hooks. Cheap,
    /// before any is rendered; [`crate::offload`] decides by it where the work runs.
    pub fn estimated_output(&self) -> usize {
        self.targets
            .iter()
            .filter_map(|(list, index)| self.target(*list, *index))
            .map(|c| {
                let paths = self.annotations.path_bytes(&c.name);
                let hooks = ExecHook::ALL
                    .iter()
                    .filter(|h| h.command(c).is_some())
                    .count();
                (paths + 100) * (1 + hooks)
            })
            .sum()
    }

    /// The images whose configuration [`Injection::apply`] needs: those of the containers to
    /// wrap that have no `command`.
    pub fn images(&self) -> BTreeSet<String> {
        self.targets
            .iter()
            .filter_map(|(list, index)| self.target(*list, *index))
            .filter(|c| entrypoint::needs_image(c.command.as_ref()))
            .map(|c| c.image.clone().unwrap_or_default())
            .collect()
    }

    /// The edits that wrap every container that does not run the shim as the webhook writes
    /// it, given the image configurations; [`Decision::Skip`] when no container needs one (a
    /// reinvocation or a review of an injected pod, or a pod without containers).
    pub fn apply(&self, images: &Images) -> Result<Decision<Edits>, Denial> {
        let edits = self.edits(images)?;
        if edits.containers.is_empty() {
            let reason = if self.installer.is_none() {
                "already injected"
            } else {
                "no container to wrap"
            };
            return Ok(Decision::Skip(Skip {
                reason: reason.to_owned(),
                warnings: edits.warnings,
            }));
        }
        Ok(Decision::Wrap(edits))
    }

    fn edits(&self, images: &Images) -> Result<Edits, Denial> {
        let spec = self.spec().ok_or(Denial::NoSpec)?;
        let mut edits = Edits {
            volume: self
                .installer
                .as_ref()
                .map(|_| installer::volume(&self.names)),
            volumes_exist: spec.volumes.is_some(),
            installer: self.installer.clone(),
            init_containers_exist: spec.init_containers.is_some(),
            annotations: std::iter::once((format!("{PREFIX}{STATUS}"), STATUS_INJECTED.to_owned()))
                .chain(self.applied_policy.iter().map(|(name, generation, uid)| {
                    (
                        format!("{PREFIX}{APPLIED_POLICY}"),
                        crate::policy_status::record(name, *generation, uid.as_deref()),
                    )
                }))
                .chain(self.recording_record())
                .collect(),
            labels: self
                .applied_policy
                .iter()
                .map(|(name, ..)| (format!("{PREFIX}{APPLIED_POLICY}"), name.clone()))
                .chain(self.recording_record())
                .collect(),
            labels_exist: self.labels_exist,
            metadata_exists: self.metadata_exists,
            annotations_exist: self.pod.metadata.annotations.is_some(),
            ..Edits::default()
        };
        let volumes = Volumes::new(spec.volumes.as_deref().unwrap_or_default());
        let mut written = 0usize;
        for (n, (list, index)) in self.targets.iter().enumerate() {
            let Some(container) = self.target(*list, *index) else {
                continue;
            };
            let Some(edit) = self.wrap(container, *list, *index, images, &volumes, &mut edits)?
            else {
                continue;
            };
            written += edit.bytes();
            if written > MAX_PATCH_BYTES {
                return Err(LimitError::Patch {
                    max: MAX_PATCH_BYTES,
                    container: container.name.clone(),
                    wrapped: n,
                    containers: self.targets.len(),
                    keys: self.pod_path_keys(),
                }
                .into());
            }
            edits.containers.push(edit);
        }
        Ok(edits)
    }

    /// The record of the recording that admits the pod, as annotation and label: key, name.
    fn recording_record(&self) -> Option<(String, String)> {
        let name = self.recording.clone()?;
        Some((format!("{PREFIX}{RECORDING}"), name))
    }

    /// The pod-level path annotations, for messages about what every container repeats.
    fn pod_path_keys(&self) -> String {
        let keys = init_shim::Access::ALL
            .iter()
            .filter(|a| self.annotations.pod.paths.iter().any(|(b, _)| b == *a))
            .map(|a| format!("{PREFIX}{}", a.annotation_key()));
        let listed = limits::listed(keys, 8);
        if listed.is_empty() {
            "none".to_owned()
        } else {
            listed
        }
    }

    /// The path annotations (and the LandlockPolicy) that apply to `container`, for messages
    /// about its policy.
    fn path_keys(&self, container: &str) -> String {
        let keys = self.annotation_path_keys(container);
        let from_policy = self.annotations.policy.as_ref().is_some_and(|layer| {
            !layer.default.paths.is_empty()
                || layer
                    .containers
                    .get(container)
                    .is_some_and(|s| !s.paths.is_empty())
        });
        match (&self.applied_policy, from_policy) {
            (Some((name, ..)), true) => {
                format!("{keys} and the LandlockPolicy {}", limits::quoted(name))
            }
            _ => keys,
        }
    }

    fn annotation_path_keys(&self, container: &str) -> String {
        let own = self.annotations.containers.get(container);
        let keys = init_shim::Access::ALL.iter().flat_map(|a| {
            let pod = self.annotations.pod.paths.iter().any(|(b, _)| b == a);
            let mine = own.is_some_and(|s| s.paths.iter().any(|(b, _)| b == a));
            let key = a.annotation_key();
            [
                pod.then(|| format!("{PREFIX}{key}")),
                mine.then(|| format!("{PREFIX}{container}.{key}")),
            ]
            .into_iter()
            .flatten()
        });
        let listed = limits::listed(keys, 8);
        if listed.is_empty() {
            "none".to_owned()
        } else {
            listed
        }
    }

    /// The policy for one container (annotations, plus what its mounts imply) and whether its
    /// exec probes and hooks are wrapped.
    fn policy(
        &self,
        container: &ContainerView,
        volumes: &Volumes<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<(Policy, bool), Denial> {
        let settings = self.annotations.effective(&container.name, &self.defaults);
        let mut policy = Policy {
            mode: settings.mode,
            profile: settings.profile,
            bind_tcp: settings.bind_tcp,
            connect_tcp: settings.connect_tcp,
            discover: settings.discover.mounts,
            bind_udp: settings.bind_udp,
            connect_udp: settings.connect_udp,
            scope: settings.scope,
            ..Policy::default()
        };
        policy.grant_all(settings.paths.iter().map(|(a, p)| (p.clone(), *a)));
        if settings.discover.spec {
            let annotated =
                |path: &PolicyPath| settings.paths.iter().any(|(_, p)| path.is_within(p));
            let found = discovery::discover(container, volumes, &self.names.volume, annotated)?;
            // An annotation that already covers the path with at least these rights wins.
            let uncovered = found.grants.into_iter().filter(|grant| {
                !settings
                    .paths
                    .iter()
                    .any(|(a, p)| grant.path.is_within(p) && a.includes(grant.access))
            });
            policy.grant_all(uncovered.map(|g| (g.path, g.access)));
            warnings.extend(found.warnings);
        }
        if policy.paths.len() > MAX_PATHS_PER_CONTAINER {
            return Err(LimitError::ContainerPaths {
                container: container.name.clone(),
                count: policy.paths.len(),
                keys: self.path_keys(&container.name),
                max: MAX_PATHS_PER_CONTAINER,
            }
            .into());
        }
        if policy.mode == Mode::Learn {
            warnings.push(format!(
                "landlock-injector: container {:?}: mode learn: the container is NOT sandboxed while learning; it runs unrestricted and logs {{\"landlock-learn\":...}} lines for `landlock-webhook suggest`",
                container.name
            ));
        }
        for broad in policy.broad_grants() {
            warnings.push(format!(
                "landlock-injector: container {:?}: {}",
                container.name,
                broad.warning()
            ));
        }
        Ok((policy, settings.wrap_exec))
    }

    /// The edit that makes `container` run the shim with its policy, or `None` when it already
    /// does exactly that (an earlier injection).
    fn wrap(
        &self,
        container: &ContainerView,
        list: ContainerList,
        index: usize,
        images: &Images,
        volumes: &Volumes<'_>,
        edits: &mut Edits,
    ) -> Result<Option<ContainerEdit>, Denial> {
        let (policy, wrap_exec) = self.policy(container, volumes, &mut edits.warnings)?;
        let shim = self.names.shim();
        let name = container.name.as_str();
        let (command, args) = match injected::unwrap(
            container.command.as_ref(),
            container.args.as_ref(),
            &self.names,
            name,
            "command",
        )? {
            // Already through the shim: re-rendered from the annotations; the pod's own
            // flags never survive.
            Some(program) => {
                let expected = init_shim::flags::render_command(&shim, &policy, &program);
                let changed = container.command.as_ref() != Some(&expected);
                (changed.then_some(expected), None)
            }
            None => {
                let wrapped = self.wrap_entrypoint(container, &policy, images)?;
                let spec_args = container.args.clone().unwrap_or_default();
                let args = (wrapped.args != spec_args).then_some(wrapped.args);
                (Some(wrapped.command), args)
            }
        };
        let has_mount = container
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == self.names.volume && m.mount_path == self.names.dir);
        // Probes and hooks run quiet: kubelet keeps their output only as an event, which must
        // start with the program's own error, not the startup line the container printed.
        let hook_policy = Policy {
            quiet: true,
            ..policy.clone()
        };
        let mut exec = Vec::new();
        for hook in ExecHook::ALL {
            let Some(hook_command) = hook.command(container) else {
                continue;
            };
            let field = hook.path().join(".");
            let wanted =
                match injected::unwrap(Some(hook_command), None, &self.names, name, &field)? {
                    Some(program) => Some(program),
                    None => wrap_exec.then(|| hook_command.clone()),
                };
            if let Some(program) = wanted {
                let expected = init_shim::flags::render_command(&shim, &hook_policy, &program);
                if expected != *hook_command {
                    exec.push((hook, expected));
                }
            }
        }
        let edit = ContainerEdit {
            list,
            index,
            command,
            args,
            mount: (!has_mount).then(|| installer::mount(&self.names)),
            mounts_exist: container.volume_mounts.is_some(),
            exec,
        };
        if edit.is_empty() {
            return Ok(None);
        }
        edits.wrapped.push(WrappedContainer {
            name: container.name.clone(),
            mode: policy.mode,
            profile: policy.profile,
        });
        Ok(Some(edit))
    }

    /// The wrapped command and args of a container that does not run the shim yet, following
    /// Kubernetes' entrypoint rules ([`entrypoint`]).
    fn wrap_entrypoint(
        &self,
        container: &ContainerView,
        policy: &Policy,
        images: &Images,
    ) -> Result<entrypoint::Wrapped, Denial> {
        let image_ref = container.image.clone().unwrap_or_default();
        let fail = |cause: String| Denial::Entrypoint {
            container: container.name.clone(),
            image: image_ref.clone(),
            cause,
        };
        let image = match images.get(&image_ref) {
            Some(Ok(config)) => Some(config),
            Some(Err(cause)) if entrypoint::needs_image(container.command.as_ref()) => {
                return Err(fail(cause.clone()));
            }
            _ => None,
        };
        entrypoint::wrap(
            &self.names.shim(),
            policy,
            container.command.as_ref(),
            container.args.as_ref(),
            image,
        )
        .map_err(|e| {
            fail(match e {
                EntrypointError::NeedImage => {
                    "the spec has no command and the image configuration was not looked up"
                        .to_owned()
                }
                other => other.to_string(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::edits::WrappedContainer;
    use init_shim::{Mode, Profile};
    use serde_json::{Value, json};

    fn pod(annotations: Value, spec: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "demo", "namespace": "apps", "annotations": annotations},
            "spec": spec,
        })
    }

    fn demo() -> Value {
        pod(
            json!({"landlock-injector.io/inject": "true", "landlock-injector.io/read": "/srv",
                   "landlock-injector.io/web.connect-tcp": "5432"}),
            json!({
                "volumes": [{"name": "cfg", "configMap": {"name": "app"}}, {"name": "scratch", "emptyDir": {}}],
                "initContainers": [
                    {"name": "migrate", "image": "app:1", "command": ["/app/migrate"]},
                    {"name": "proxy", "image": "proxy:1", "command": ["/proxy"], "restartPolicy": "Always"},
                ],
                "containers": [{"name": "web", "image": "app:1", "command": ["/app/server"], "args": ["--port", "8080"],
                    "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}, {"name": "scratch", "mountPath": "/scratch"}],
                    "readinessProbe": {"exec": {"command": ["/bin/ready"]}},
                    "lifecycle": {"postStart": {"exec": {"command": ["/bin/warm"]}}, "preStop": {"httpGet": {"port": 80}}}}],
            }),
        )
    }

    fn config() -> Config {
        Config {
            shim_image: "shim:test".to_owned(),
            namespace: "landlock-injector".to_owned(),
        }
    }

    /// The decision for `pod` in namespace `apps` beside `objects`, before images are read.
    fn decided(pod: &Value, objects: Objects<'_>) -> Result<Decision, Denial> {
        let object = pod.to_string();
        let head: PodHead = serde_json::from_str(&object).expect("head");
        decide(&object, &head, "apps", None, objects, &config())
    }

    /// The decision for `pod` in namespace `apps`, applied with `images`: the patched pod and
    /// the edits, or the skip.
    fn run(pod: &Value, images: &Images) -> Result<Result<(Value, Edits), Skip>, Denial> {
        run_applied(pod, images, Objects::policies(Ok(&[])))
    }

    /// [`run`] beside `objects`.
    fn run_applied(
        pod: &Value,
        images: &Images,
        objects: Objects<'_>,
    ) -> Result<Result<(Value, Edits), Skip>, Denial> {
        match decided(pod, objects)? {
            Decision::Skip(skip) => Ok(Err(skip)),
            Decision::Wrap(injection) => {
                let edits = match injection.apply(images)? {
                    Decision::Wrap(edits) => edits,
                    Decision::Skip(skip) => return Ok(Err(skip)),
                };
                let patch = crate::admission::patch::operations(&edits)?;
                let mut patched = pod.clone();
                json_patch::patch(&mut patched, &patch).expect("the patch applies");
                Ok(Ok((patched, edits)))
            }
        }
    }

    fn wrapped(pod: &Value) -> (Value, Edits) {
        match run(pod, &Images::new()).expect("allowed") {
            Ok(done) => done,
            Err(skip) => panic!("skipped: {skip:?}"),
        }
    }

    fn strings(v: &Value) -> Vec<String> {
        serde_json::from_value(v.clone()).expect("strings")
    }

    fn policy_object(spec: Value) -> std::sync::Arc<kube::core::DynamicObject> {
        std::sync::Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "landlock-injector.io/v1alpha1", "kind": "LandlockPolicy",
                "metadata": {"name": "web", "namespace": "apps", "generation": 4},
                "spec": spec,
            }))
            .expect("a policy"),
        )
    }

    /// A pod opted in by its label only, `app: web`, with `annotations`.
    fn labelled(annotations: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "demo", "namespace": "apps", "annotations": annotations,
                "labels": {"landlock-injector.io/inject": "true", "app": "web"}},
            "spec": {"containers": [
                {"name": "web", "image": "app:1", "command": ["/app/server"]},
                {"name": "log", "image": "log:1", "command": ["/log"]},
            ]},
        })
    }

    fn run_bound(
        pod: &Value,
        policies: &[std::sync::Arc<kube::core::DynamicObject>],
    ) -> Result<Result<(Value, Edits), Skip>, Denial> {
        run_with(pod, Objects::policies(Ok(policies)))
    }

    fn run_with(pod: &Value, objects: Objects<'_>) -> Result<Result<(Value, Edits), Skip>, Denial> {
        run_applied(pod, &Images::new(), objects)
    }

    fn web_policy(allow_pod_additions: bool) -> std::sync::Arc<kube::core::DynamicObject> {
        policy_object(json!({
            "podSelector": {"matchLabels": {"app": "web"}},
            "allowPodAdditions": allow_pod_additions,
            "default": {"read": ["/srv/static"], "connectTcp": [5432], "mode": "enforce"},
            "containers": [{"name": "web", "write": ["/data"], "profile": "minimal"}],
        }))
    }

    fn recording_object(name: &str, spec: Value) -> std::sync::Arc<kube::core::DynamicObject> {
        std::sync::Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "landlock-injector.io/v1alpha1", "kind": "LandlockRecording",
                "metadata": {"name": name, "namespace": "apps",
                    "creationTimestamp": "2026-12-03T10:00:00Z"},
                "spec": spec,
            }))
            .expect("a recording"),
        )
    }

    /// Ten minutes into the recordings of [`recording_object`].
    fn during() -> std::time::SystemTime {
        let t: k8s_openapi::jiff::Timestamp = "2026-12-03T10:10:00Z".parse().expect("time");
        std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(t.as_second()).expect("after 1970"))
    }

    /// A pod an active recording selects runs in learn mode whatever its policy and its own
    /// annotations say (the rest of both still apply), and records the recording's name in an
    /// annotation and a label; a recording that ended, or selects other pods, changes nothing.
    #[test]
    fn a_pod_selected_by_an_active_recording_learns_under_its_policys_rules() {
        let pod = labelled(json!({"landlock-injector.io/mode": "dry-run"}));
        let policies = [web_policy(true)];
        let recordings = [
            recording_object(
                "web",
                json!({"podSelector": {"matchLabels": {"app": "web"}}, "duration": "1h"}),
            ),
            recording_object("db", json!({"podSelector": {"matchLabels": {"app": "db"}}})),
            recording_object("over", json!({"podSelector": {}, "duration": "5m"})),
        ];
        let objects = Objects {
            policies: Ok(&policies),
            recordings: Ok(&recordings),
            now: during(),
        };
        let (patched, _) = run_with(&pod, objects).expect("allowed").expect("wrapped");
        let key = "landlock-injector.io/recording";
        assert_eq!(patched["metadata"]["annotations"][key], "web");
        assert_eq!(patched["metadata"]["labels"][key], "web");
        for container in [0, 1] {
            let flags = strings(&patched["spec"]["containers"][container]["command"]).join(" ");
            assert!(flags.contains("--mode learn"), "{flags}");
            assert!(
                flags.contains("--ro /srv/static"),
                "the policy's rules: {flags}"
            );
        }
        // After its hour, the pod runs as its policy and annotations say.
        let later = Objects {
            now: during() + std::time::Duration::from_secs(3600),
            ..objects
        };
        let (patched, _) = run_with(&pod, later).expect("allowed").expect("wrapped");
        assert!(patched["metadata"]["labels"].get(key).is_none());
        let flags = strings(&patched["spec"]["containers"][0]["command"]).join(" ");
        assert!(flags.contains("--mode dry-run"), "{flags}");
    }

    /// A record the webhook did not write (copied, or forged to pass the policy's mode check)
    /// is refused; the webhook's own, on a reinvocation, is not.
    #[test]
    fn records_only_the_webhook_writes_are_refused_on_other_pods() {
        for key in ["applied-policy", "recording"] {
            let pod = labelled(json!({format!("landlock-injector.io/{key}"): "web@1"}));
            let message = run_bound(&pod, &[]).expect_err("refused").to_string();
            assert!(
                message.starts_with(&format!(
                    "landlock-injector: annotation \"landlock-injector.io/{key}\" is written by the webhook"
                )),
                "{message}"
            );
            // As a label, and on a pod that does not opt in (the policy's status would count
            // it, and `kubectl get pods -l` list it, as the policy's pod).
            let mut forged_label = labelled(json!({}));
            forged_label["metadata"]["labels"][format!("landlock-injector.io/{key}")] =
                json!("web");
            let mut not_opted = forged_label.clone();
            not_opted["metadata"]["labels"]["landlock-injector.io/inject"] = json!("false");
            for pod in [forged_label, not_opted] {
                let message = run_bound(&pod, &[]).expect_err("refused").to_string();
                assert!(
                    message.starts_with(&format!(
                        "landlock-injector: label \"landlock-injector.io/{key}\" is written by the webhook"
                    )),
                    "{message}"
                );
            }
        }
        let (patched, _) = run_bound(&labelled(json!({})), &[web_policy(true)])
            .expect("allowed")
            .expect("wrapped");
        let again =
            run_bound(&patched, &[web_policy(true)]).expect("the webhook's own record passes");
        assert!(matches!(again, Err(Skip { .. })), "unchanged: {again:?}");
        // A reinvocation after the policy went away: refused, saying what happened.
        let message = run_bound(&patched, &[])
            .expect_err("the binding no longer holds")
            .to_string();
        assert!(
            message.starts_with(
                "landlock-injector: an earlier admission pass of this pod recorded annotation \"landlock-injector.io/applied-policy\" for a LandlockPolicy, and none does now"
            ),
            "{message}"
        );
    }

    #[test]
    fn unreadable_or_conflicting_recordings_refuse_the_pod_naming_them() {
        let pod = labelled(json!({}));
        let unreadable = Objects {
            recordings: Err("the LandlockRecording watch has not listed them yet"),
            ..Objects::policies(Ok(&[]))
        };
        let message = run_with(&pod, unreadable).expect_err("refused").to_string();
        assert!(
            message.starts_with("landlock-injector: cannot read the LandlockRecordings of namespace \"apps\" (the LandlockRecording watch has not listed them yet)"),
            "{message}"
        );
        let two = [
            recording_object("a", json!({"podSelector": {}})),
            recording_object("b", json!({"podSelector": {"matchLabels": {"app": "web"}}})),
        ];
        let objects = Objects {
            recordings: Ok(&two),
            now: during(),
            ..Objects::policies(Ok(&[]))
        };
        let message = run_with(&pod, objects).expect_err("refused").to_string();
        assert!(
            message.contains(r#"LandlockRecordings "a", "b" select this pod"#),
            "{message}"
        );
        // A plain pod is never asked about: it does not opt in.
        let mut plain = pod.clone();
        plain["metadata"]["labels"] = json!({"app": "web"});
        assert!(matches!(run_with(&plain, objects), Ok(Err(_))));
    }

    /// A pod whose only annotation-free switch is its label runs the policy that selects it:
    /// the default for every container, the container's own rules on top, the record of the
    /// policy and its generation, and flags the shim parses back.
    #[test]
    fn a_pod_selected_by_a_policy_runs_its_rules_with_only_the_opt_in_label() {
        let (patched, _) = run_bound(&labelled(json!({})), &[web_policy(true)])
            .expect("allowed")
            .expect("wrapped");
        assert_eq!(
            patched["metadata"]["annotations"]["landlock-injector.io/applied-policy"],
            "web@4"
        );
        // In a cluster the policy has a uid, and the record carries it (a policy deleted and
        // created again counts its generations from 1 again).
        let mut with_uid = (*web_policy(true)).clone();
        with_uid.metadata.uid = Some("0c5f-uid".into());
        let (recorded, _) = run_bound(&labelled(json!({})), &[std::sync::Arc::new(with_uid)])
            .expect("allowed")
            .expect("wrapped");
        assert_eq!(
            recorded["metadata"]["annotations"]["landlock-injector.io/applied-policy"],
            "web@4@0c5f-uid"
        );
        // The label its status writer selects by, beside the pod's own.
        assert_eq!(
            patched["metadata"]["labels"]["landlock-injector.io/applied-policy"],
            "web"
        );
        assert_eq!(patched["metadata"]["labels"]["app"], "web");
        let web = strings(&patched["spec"]["containers"][0]["command"]);
        let log = strings(&patched["spec"]["containers"][1]["command"]).join(" ");
        let flags = web.join(" ");
        for expected in [
            "--ro /srv/static",
            "--rw /data",
            "--connect-tcp 5432",
            "--mode enforce",
            "--profile minimal",
        ] {
            assert!(flags.contains(expected), "{expected}: {flags}");
        }
        assert!(
            log.contains("--ro /srv/static") && !log.contains("/data") && !log.contains("minimal"),
            "{log}"
        );
        let Ok(init_shim::flags::Command::Run { policy, .. }) =
            init_shim::flags::parse(web[1..].iter().map(std::ffi::OsString::from))
        else {
            panic!("the shim accepts what the webhook writes: {flags}");
        };
        assert_eq!(policy.mode, Mode::Enforce);
        // A reinvocation of the patched pod changes nothing.
        let again = run_bound(&patched, &[web_policy(true)]).expect("allowed");
        assert!(
            matches!(again, Err(ref skip) if skip.reason == "already injected"),
            "{again:?}"
        );
    }

    /// The pod's own annotations add paths and ports and override single values, level by
    /// level, unless the policy says allowPodAdditions: false.
    #[test]
    fn pod_annotations_add_to_an_open_policy_and_are_refused_by_a_closed_one() {
        let pod = labelled(json!({
            "landlock-injector.io/read": "/extra",
            "landlock-injector.io/web.mode": "dry-run",
        }));
        let (patched, _) = run_bound(&pod, &[web_policy(true)])
            .expect("allowed")
            .expect("wrapped");
        let web = strings(&patched["spec"]["containers"][0]["command"]).join(" ");
        let log = strings(&patched["spec"]["containers"][1]["command"]).join(" ");
        assert!(
            web.contains("--ro /extra")
                && web.contains("--ro /srv/static")
                && web.contains("--mode dry-run"),
            "{web}"
        );
        assert!(
            log.contains("--ro /extra") && log.contains("--mode enforce"),
            "{log}"
        );
        let denied = run_bound(&pod, &[web_policy(false)]).expect_err("closed policy");
        let message = denied.to_string();
        assert!(
            message.contains(
                r#"LandlockPolicy "web" applies to this pod and has allowPodAdditions: false"#
            ) && message.contains(r#""landlock-injector.io/read""#)
                && message.contains(r#""landlock-injector.io/web.mode""#),
            "{message}"
        );
        // Without additions, the closed policy admits the pod.
        assert!(run_bound(&labelled(json!({})), &[web_policy(false)]).is_ok());
    }

    /// A pod cannot opt itself out of a closed policy that selects it or that it names: the
    /// platform owns whether it runs sandboxed. It may opt out of an open one, or of none;
    /// when the policies cannot be read it is admitted as it asked, with a warning.
    #[test]
    fn a_pod_cannot_opt_out_of_a_closed_policy_that_applies_to_it() {
        let opted_out = |labels: Value, annotations: Value| {
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "demo", "namespace": "apps",
                    "labels": labels, "annotations": annotations},
                "spec": {"containers": [{"name": "web", "image": "app:1", "command": ["/s"]}]},
            })
        };
        let by_label = opted_out(
            json!({"landlock-injector.io/inject": "false", "app": "web"}),
            json!({}),
        );
        let by_annotation = opted_out(
            json!({"app": "other"}),
            json!({"landlock-injector.io/inject": "false", "landlock-injector.io/policy": "web"}),
        );
        for (pod, how) in [
            (&by_label, "its podSelector matches"),
            (&by_annotation, "named by the pod"),
        ] {
            let message = run_bound(pod, &[web_policy(false)])
                .expect_err("a closed policy applies")
                .to_string();
            assert!(
                message.contains(&format!(
                    r#"LandlockPolicy "web" applies to this pod ({how}) and has allowPodAdditions: false, so the pod cannot opt out of it"#
                )),
                "{message}"
            );
            let skipped = run_bound(pod, &[web_policy(true)]).expect("an open policy");
            assert!(
                matches!(skipped, Err(ref skip) if skip.reason == "opted out"),
                "{skipped:?}"
            );
        }
        let elsewhere = opted_out(
            json!({"landlock-injector.io/inject": "false", "app": "shop"}),
            json!({}),
        );
        let skipped = run_bound(&elsewhere, &[web_policy(false)]).expect("not selected");
        assert!(matches!(skipped, Err(ref skip) if skip.warnings.is_empty()));
        let unread = run_with(&by_label, Objects::policies(Err("not listed yet")))
            .expect("admitted as it asked");
        assert!(
            matches!(unread, Err(ref skip) if skip.warnings.iter().any(|w| w.contains(
                "cannot read the LandlockPolicies of namespace \"apps\" (not listed yet): a policy with allowPodAdditions: false that applies to this pod was not checked"
            ))),
            "{unread:?}"
        );
    }

    /// The per-container path limit counts the policy's paths with the pod's, and says so.
    #[test]
    fn the_path_limit_counts_the_policy_with_the_annotations() {
        let many: Vec<String> = (0..400).map(|i| format!("/p/{i}")).collect();
        let policy = policy_object(json!({
            "podSelector": {"matchLabels": {"app": "web"}},
            "default": {"read": many},
        }));
        let more: Vec<String> = (0..200).map(|i| format!("/q/{i}")).collect();
        let pod = labelled(json!({"landlock-injector.io/web.read": more.join(",")}));
        let message = run_bound(&pod, &[policy])
            .expect_err("too many")
            .to_string();
        assert!(
            message.contains(r#"container "web": 600 paths (the path annotations "landlock-injector.io/web.read" and the LandlockPolicy "web" plus"#),
            "{message}"
        );
    }

    /// The binding's denials reach the pod: a missing named policy, and policies that cannot
    /// be read.
    #[test]
    fn a_missing_policy_or_unreadable_policies_refuse_the_pod() {
        let pod = labelled(json!({"landlock-injector.io/policy": "other"}));
        let message = run_bound(&pod, &[web_policy(true)])
            .expect_err("missing")
            .to_string();
        assert!(
            message.starts_with("landlock-injector: annotation \"landlock-injector.io/policy\": the pod names LandlockPolicy \"other\""),
            "{message}"
        );
        let message = decided(&labelled(json!({})), Objects::policies(Err("starting")))
            .expect_err("unreadable")
            .to_string();
        assert!(
            message.contains("cannot read the LandlockPolicies"),
            "{message}"
        );
        // A pod that opted out is answered without its policies.
        let mut opted_out = labelled(json!({}));
        opted_out["metadata"]["labels"]["landlock-injector.io/inject"] = json!("false");
        assert!(matches!(
            decided(&opted_out, Objects::policies(Err("starting"))),
            Ok(Decision::Skip(_))
        ));
        let bad = labelled(json!({"landlock-injector.io/policy": "Not_A_Name"}));
        let message = run_bound(&bad, &[]).expect_err("bad name").to_string();
        assert!(message.contains("not a LandlockPolicy name"), "{message}");
    }

    /// The UDP and scope annotations reach the shim as its own flags, which parse back.
    #[test]
    fn udp_and_scope_annotations_render_as_shim_flags() {
        let mut pod = demo();
        let annotations = &mut pod["metadata"]["annotations"];
        annotations["landlock-injector.io/connect-udp"] = json!("53");
        annotations["landlock-injector.io/web.bind-udp"] = json!("5353");
        annotations["landlock-injector.io/web.scope"] = json!("required");
        let (p, _) = wrapped(&pod);
        let command = strings(&p["spec"]["containers"][0]["command"]);
        let flags = command.join(" ");
        for expected in ["--bind-udp 5353", "--connect-udp 53", "--scope required"] {
            assert!(flags.contains(expected), "{flags}");
        }
        let Ok(init_shim::flags::Command::Run { policy, .. }) =
            init_shim::flags::parse(command[1..].iter().map(std::ffi::OsString::from))
        else {
            panic!("the shim accepts what the webhook writes: {flags}");
        };
        assert_eq!(policy.scope, init_shim::Scoping::Required);
        assert_eq!(policy.connect_udp.len(), 1);
        let migrate = strings(&p["spec"]["initContainers"][1]["command"]).join(" ");
        assert!(
            migrate.contains("--connect-udp 53") && !migrate.contains("--scope"),
            "{migrate}"
        );
    }

    #[test]
    fn wraps_every_container_init_container_sidecar_and_exec_hook() {
        let (p, edits) = wrapped(&demo());
        let names: Vec<&str> = edits.wrapped.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["migrate", "proxy", "web"]);
        assert_eq!(
            edits.wrapped[0],
            WrappedContainer {
                name: "migrate".into(),
                mode: Mode::BestEffort,
                profile: Profile::Default
            }
        );
        let inits = &p["spec"]["initContainers"];
        assert_eq!(inits[0]["name"], "landlock-shim-install");
        assert_eq!(inits[0]["image"], "shim:test");
        let web = &p["spec"]["containers"][0];
        let command = strings(&web["command"]);
        let split = command.iter().position(|a| a == "--").expect("--");
        let (shim, program) = command.split_at(split);
        assert_eq!(shim[0], "/landlock-injector/landlock-shim");
        let flags = shim[1..].join(" ");
        for expected in [
            "--ro /srv",
            "--ro /etc/app",
            "--rw /scratch",
            "--connect-tcp 5432",
            "--mode best-effort",
        ] {
            assert!(flags.contains(expected), "{flags}");
        }
        assert_eq!(program, ["--", "/app/server"]);
        assert_eq!(strings(&web["args"]), ["--port", "8080"]);
        // The flags parse back into the policy with the shim's own parser.
        let parsed = init_shim::flags::parse(command[1..].iter().map(std::ffi::OsString::from))
            .expect("the shim accepts what the webhook writes");
        assert!(matches!(parsed, init_shim::flags::Command::Run { .. }));
        // Exec probes and hooks run through the shim with the container's policy, quiet.
        let ready = strings(&web["readinessProbe"]["exec"]["command"]);
        assert_eq!(ready[..split], command[..split]);
        assert_eq!(ready[split..], ["--quiet", "--", "/bin/ready"]);
        assert!(!command.contains(&"--quiet".to_owned()), "{command:?}");
        let warm = strings(&web["lifecycle"]["postStart"]["exec"]["command"]);
        assert_eq!(warm.last().map(String::as_str), Some("/bin/warm"));
        assert_eq!(warm[0], "/landlock-injector/landlock-shim");
        assert_eq!(
            web["lifecycle"]["preStop"],
            json!({"httpGet": {"port": 80}})
        );
        // The sidecar's flags do not carry web's port.
        assert!(!strings(&inits[2]["command"]).contains(&"5432".to_owned()));
        let mount = web["volumeMounts"]
            .as_array()
            .and_then(|m| m.last())
            .expect("mount");
        assert_eq!(mount["mountPath"], "/landlock-injector");
        assert_eq!(mount["readOnly"], true);
        assert_eq!(
            p["metadata"]["annotations"]["landlock-injector.io/status"],
            "injected"
        );
    }

    #[test]
    fn wrap_exec_false_leaves_probes_and_hooks_alone() {
        let mut p = demo();
        p["metadata"]["annotations"]["landlock-injector.io/web.wrap-exec"] = json!("false");
        let (patched, _) = wrapped(&p);
        let web = &patched["spec"]["containers"][0];
        assert_eq!(
            strings(&web["readinessProbe"]["exec"]["command"]),
            ["/bin/ready"]
        );
        assert_eq!(
            strings(&web["lifecycle"]["postStart"]["exec"]["command"]),
            ["/bin/warm"]
        );
    }

    #[test]
    fn reviewing_an_injected_pod_changes_nothing_but_wraps_a_container_added_later() {
        let (first, _) = wrapped(&demo());
        match run(&first, &Images::new()).expect("allowed") {
            Err(skip) => assert_eq!(skip.reason, "already injected"),
            Ok(done) => panic!("changed again: {done:?}"),
        }
        // Another webhook (reinvocationPolicy: IfNeeded) added a container after us.
        let mut later = first.clone();
        later["spec"]["containers"]
            .as_array_mut()
            .expect("containers")
            .push(json!({"name": "logger", "image": "log:1", "command": ["/log"]}));
        let (again, edits) = wrapped(&later);
        let names: Vec<&str> = edits.wrapped.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["logger"]);
        let installers = again["spec"]["initContainers"]
            .as_array()
            .expect("inits")
            .iter()
            .filter(|c| c["image"] == "shim:test")
            .count();
        assert_eq!(installers, 1);
    }

    #[test]
    fn a_forged_installer_gets_a_real_one_under_fresh_names() {
        let mut p = demo();
        let spec = &mut p["spec"];
        spec["volumes"]
            .as_array_mut()
            .expect("volumes")
            .push(json!({"name": "landlock-shim", "emptyDir": {}}));
        spec["initContainers"]
            .as_array_mut()
            .expect("inits")
            .insert(
                0,
                json!({"name": "landlock-shim-install", "image": "evil.example/landlock-shim:1",
                   "command": ["/landlock-shim", "install", "/landlock-injector"],
                   "volumeMounts": [{"name": "landlock-shim", "mountPath": "/landlock-injector"}]}),
            );
        // The app already "runs through the shim" of the forged installer.
        spec["containers"][0]["command"] =
            json!(["/landlock-injector/landlock-shim", "--", "/app/server"]);
        let (patched, edits) = wrapped(&p);
        let inits = &patched["spec"]["initContainers"];
        assert_eq!(inits[0]["image"], "shim:test");
        assert_eq!(inits[0]["name"], "landlock-shim-install-1");
        assert_eq!(
            strings(&inits[0]["command"]),
            ["/landlock-shim", "install", "/landlock-injector-1"]
        );
        let names: Vec<&str> = edits.wrapped.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["landlock-shim-install", "migrate", "proxy", "web"]);
        let web = strings(&patched["spec"]["containers"][0]["command"]);
        assert_eq!(web[0], "/landlock-injector-1/landlock-shim");
    }

    fn enforce_pod(spec: Value) -> Value {
        pod(
            json!({"landlock-injector.io/inject": "true", "landlock-injector.io/mode": "enforce"}),
            spec,
        )
    }

    fn mode_of(command: &[String]) -> &str {
        let at = command.iter().position(|a| a == "--mode").expect("--mode");
        &command[at + 1]
    }

    #[test]
    fn a_command_that_already_runs_the_shim_is_rewrapped_from_the_annotations() {
        // No installer: the pod's own "wrap" in dry-run must not survive.
        let p = enforce_pod(json!({"containers": [{"name": "web", "image": "app:1",
            "command": ["/landlock-injector/landlock-shim", "--mode", "dry-run", "--", "/usr/bin/web-server"],
            "args": ["--port", "80"]}]}));
        let (patched, edits) = wrapped(&p);
        let web = &patched["spec"]["containers"][0];
        let command = strings(&web["command"]);
        assert_eq!(command[0], "/landlock-injector/landlock-shim");
        assert_eq!(mode_of(&command), "enforce");
        assert_eq!(
            command.last().map(String::as_str),
            Some("/usr/bin/web-server")
        );
        assert_eq!(
            command.iter().filter(|a| *a == "--").count(),
            1,
            "{command:?}"
        );
        assert_eq!(strings(&web["args"]), ["--port", "80"]);
        assert_eq!(web["volumeMounts"][0]["readOnly"], true);
        assert_eq!(patched["spec"]["initContainers"][0]["image"], "shim:test");
        assert_eq!(edits.wrapped.len(), 1);
        // A pre-wrapped exec probe is re-rendered too.
        let p = enforce_pod(
            json!({"containers": [{"name": "web", "image": "app:1", "command": ["/srv/web"],
            "livenessProbe": {"exec": {"command": ["/landlock-injector/landlock-shim", "--mode", "dry-run", "--", "/bin/check"]}}}]}),
        );
        let (patched, _) = wrapped(&p);
        let probe = strings(&patched["spec"]["containers"][0]["livenessProbe"]["exec"]["command"]);
        assert_eq!(mode_of(&probe), "enforce");
        // What the shim cannot run is denied, naming the container and the field.
        let p = enforce_pod(json!({"containers": [{"name": "web", "image": "app:1",
            "command": ["/landlock-injector/landlock-shim", "--frobnicate", "--", "/x"]}]}));
        let err = run(&p, &Images::new()).expect_err("denied").to_string();
        assert!(
            err.contains("container \"web\": command starts with /landlock-injector/landlock-shim"),
            "{err}"
        );
    }

    /// A user-written "earlier injection": the configured installer, the shim volume, and an
    /// app container pre-wrapped in dry-run.
    fn forged_injection() -> Value {
        let mut p = enforce_pod(json!({
            "volumes": [{"name": "landlock-shim", "emptyDir": {}}],
            "initContainers": [{"name": "landlock-shim-install", "image": "shim:test",
                "command": ["/landlock-shim", "install", "/landlock-injector"],
                "volumeMounts": [{"name": "landlock-shim", "mountPath": "/landlock-injector"}]}],
            "containers": [{"name": "web", "image": "app:1",
                "command": ["/landlock-injector/landlock-shim", "--mode", "dry-run", "--", "/usr/bin/web-server"],
                "volumeMounts": [{"name": "landlock-shim", "mountPath": "/landlock-injector", "readOnly": true}]}],
        }));
        p["metadata"]["annotations"]["landlock-injector.io/status"] = json!("injected");
        p
    }

    #[test]
    fn a_forged_earlier_injection_is_rewrapped_and_a_second_writer_of_the_shim_is_denied() {
        let (patched, edits) = wrapped(&forged_injection());
        let command = strings(&patched["spec"]["containers"][0]["command"]);
        assert_eq!(mode_of(&command), "enforce");
        assert_eq!(
            command.last().map(String::as_str),
            Some("/usr/bin/web-server")
        );
        assert!(
            edits.installer.is_none(),
            "the installer is the configured one"
        );
        // Re-reviewing the result changes nothing.
        match run(&patched, &Images::new()).expect("allowed") {
            Err(skip) => assert_eq!(skip.reason, "already injected"),
            Ok(done) => panic!("changed again: {done:?}"),
        }

        // One more init container that mounts the shim volume writable could replace the
        // shim every later container runs.
        let mut p = forged_injection();
        p["spec"]["initContainers"]
            .as_array_mut()
            .expect("inits")
            .push(json!({"name": "swap", "image": "evil:1", "command": ["/bin/cp", "/evil", "/landlock-injector/landlock-shim"],
                "volumeMounts": [{"name": "landlock-shim", "mountPath": "/landlock-injector"}]}));
        let err = run(&p, &Images::new()).expect_err("denied").to_string();
        assert!(
            err.contains("container \"swap\": mounts the shim volume \"landlock-shim\" at \"/landlock-injector\" writable"),
            "{err}"
        );
        // A file mounted over the shim in a wrapped container is denied as well.
        let mut p = forged_injection();
        p["spec"]["containers"][0]["volumeMounts"]
            .as_array_mut()
            .expect("mounts")
            .push(json!({"name": "evil", "mountPath": "/landlock-injector/landlock-shim", "subPath": "bin"}));
        p["spec"]["volumes"]
            .as_array_mut()
            .expect("volumes")
            .push(json!({"name": "evil", "configMap": {"name": "evil"}}));
        let err = run(&p, &Images::new()).expect_err("denied").to_string();
        assert!(err.contains("covers the shim directory"), "{err}");
        // So is a second installer-looking container with a mount over its own binary: it is
        // then no earlier injection, and the webhook injects its own installer beside it.
        let mut p = forged_injection();
        p["spec"]["initContainers"][0]["volumeMounts"]
            .as_array_mut()
            .expect("mounts")
            .push(json!({"name": "evil", "mountPath": "/landlock-shim", "subPath": "bin"}));
        p["spec"]["volumes"]
            .as_array_mut()
            .expect("volumes")
            .push(json!({"name": "evil", "configMap": {"name": "evil"}}));
        let (patched, _) = wrapped(&p);
        let inits = &patched["spec"]["initContainers"];
        assert_eq!(inits[0]["name"], "landlock-shim-install-1");
        let web = strings(&patched["spec"]["containers"][0]["command"]);
        assert_eq!(web[0], "/landlock-injector-1/landlock-shim");
    }

    #[test]
    fn amplifying_pods_are_denied_naming_the_limit() {
        let paths: Vec<String> = (0..10_000).map(|n| format!("/data/p{n}")).collect();
        let containers: Vec<Value> = (0..300)
            .map(|n| json!({"name": format!("c{n}"), "image": "x", "command": ["/x"]}))
            .collect();
        let p = pod(
            json!({"landlock-injector.io/inject": "true", "landlock-injector.io/read": paths.join(",")}),
            json!({"containers": containers}),
        );
        let err = run(&p, &Images::new()).expect_err("denied").to_string();
        assert!(
            err.contains("annotation \"landlock-injector.io/read\"")
                && err.contains("lists 10000 paths; at most 512 paths per container"),
            "{err}"
        );
        assert!(
            err.len() < 1000,
            "the message does not echo the value: {}",
            err.len()
        );

        // Under the per-container limit, repeated in 1,000 containers: the patch limit.
        let paths: Vec<String> = (0..500).map(|n| format!("/data/p{n}")).collect();
        let containers: Vec<Value> = (0..1000)
            .map(|n| json!({"name": format!("c{n}"), "image": "x", "command": ["/x"]}))
            .collect();
        let p = pod(
            json!({"landlock-injector.io/inject": "true", "landlock-injector.io/read": paths.join(",")}),
            json!({"containers": containers}),
        );
        let err = run(&p, &Images::new()).expect_err("denied").to_string();
        assert!(
            err.contains("more than 1048576 bytes of wrapped commands")
                && err.contains("of 1000 wrapped so far")
                && err.contains("(\"landlock-injector.io/read\")"),
            "{err}"
        );

        // Pod level plus container level plus discovered mounts over the limit, in one container.
        let pod_paths: Vec<String> = (0..300).map(|n| format!("/a/p{n}")).collect();
        let own_paths: Vec<String> = (0..300).map(|n| format!("/b/p{n}")).collect();
        let p = pod(
            json!({"landlock-injector.io/inject": "true", "landlock-injector.io/read": pod_paths.join(","),
                   "landlock-injector.io/web.write": own_paths.join(",")}),
            json!({"containers": [{"name": "web", "image": "x", "command": ["/x"]}]}),
        );
        let err = run(&p, &Images::new()).expect_err("denied").to_string();
        assert!(
            err.contains("container \"web\": 600 paths (the path annotations \"landlock-injector.io/read\", \"landlock-injector.io/web.write\"")
                && err.contains("at most 512"),
            "{err}"
        );
    }

    #[test]
    fn large_injections_are_estimated_large_before_any_is_rendered() {
        let estimate = |p: &Value| match decided(p, Objects::policies(Ok(&[]))).expect("decided") {
            Decision::Wrap(injection) => injection.estimated_output(),
            Decision::Skip(skip) => panic!("{skip:?}"),
        };
        assert!(estimate(&demo()) < crate::offload::LARGE);
        let paths: Vec<String> = (0..500).map(|n| format!("/data/p{n}")).collect();
        let containers: Vec<Value> = (0..100)
            .map(|n| json!({"name": format!("c{n}"), "image": "x", "command": ["/x"]}))
            .collect();
        let p = pod(
            json!({"landlock-injector.io/inject": "true", "landlock-injector.io/read": paths.join(",")}),
            json!({"containers": containers}),
        );
        assert!(estimate(&p) > crate::offload::LARGE);
    }

    #[tokio::test]
    async fn warnings_are_capped_with_a_count() {
        let mounts: Vec<Value> = (0..100)
            .map(|n| json!({"name": format!("h{n}"), "mountPath": format!("/h{n}")}))
            .collect();
        let volumes: Vec<Value> = (0..100)
            .map(|n| json!({"name": format!("h{n}"), "hostPath": {"path": format!("/h{n}")}}))
            .collect();
        let p = pod(
            json!({"landlock-injector.io/inject": "true"}),
            json!({"volumes": volumes, "containers": [{"name": "a", "image": "x", "command": ["/x"], "volumeMounts": mounts}]}),
        );
        let object = p.to_string();
        let head: PodHead = serde_json::from_str(&object).expect("head");
        let admitted = crate::review::admit_parsed(
            &object,
            &head,
            Some("apps"),
            &config(),
            &crate::admission::resolve::Offline,
        )
        .await
        .expect("allowed");
        match admitted.decision {
            Decision::Wrap(edits) => {
                assert_eq!(edits.warnings.len(), limits::MAX_WARNINGS);
                assert!(
                    edits.warnings[limits::MAX_WARNINGS - 1].contains("69 more warnings left out")
                );
            }
            Decision::Skip(skip) => panic!("{skip:?}"),
        }
    }

    #[test]
    fn unannotated_pods_are_unchanged_and_opted_out_ones_warn() {
        let plain = pod(
            json!({}),
            json!({"containers": [{"name": "a", "image": "x"}]}),
        );
        assert!(matches!(run(&plain, &Images::new()), Ok(Err(_))));
        let not_in = pod(
            json!({"landlock-injector.io/inject": "false", "landlock-injector.io/read": "/srv"}),
            json!({"containers": [{"name": "a", "image": "x"}]}),
        );
        match run(&not_in, &Images::new()) {
            Ok(Err(skip)) => assert!(skip.warnings[0].contains("NOT sandboxed"), "{skip:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_annotations_and_unresolvable_images_are_denied_with_the_cause() {
        let bad = pod(
            json!({"landlock-injector.io/inject": "true", "landlock-injector.io/web.read": "etc"}),
            json!({"containers": [{"name": "web", "image": "x", "command": ["/x"]}]}),
        );
        let err = run(&bad, &Images::new()).expect_err("denied").to_string();
        assert!(
            err.contains("landlock-injector.io/web.read") && err.contains("\"etc\""),
            "{err}"
        );

        let no_command = pod(
            json!({"landlock-injector.io/inject": "true"}),
            json!({"containers": [{"name": "web", "image": "registry.local/app:1"}]}),
        );
        match decided(&no_command, Objects::policies(Ok(&[]))).expect("decided") {
            Decision::Wrap(injection) => assert_eq!(
                injection.images(),
                BTreeSet::from(["registry.local/app:1".to_owned()])
            ),
            Decision::Skip(skip) => panic!("{skip:?}"),
        }
        let images = Images::from([(
            "registry.local/app:1".to_owned(),
            Err("manifest unknown".to_owned()),
        )]);
        let err = run(&no_command, &images).expect_err("denied").to_string();
        assert!(
            err.contains("container \"web\" (image \"registry.local/app:1\"): manifest unknown"),
            "{err}"
        );
        assert!(err.contains("set `command`"), "{err}");

        // With the image known, the entrypoint and CMD are carried into the spec.
        let images = Images::from([(
            "registry.local/app:1".to_owned(),
            Ok(ImageConfig {
                entrypoint: vec!["/entry".into()],
                cmd: vec!["serve".into()],
            }),
        )]);
        let (p, _) = match run(&no_command, &images).expect("allowed") {
            Ok(done) => done,
            Err(skip) => panic!("{skip:?}"),
        };
        let web = &p["spec"]["containers"][0];
        assert_eq!(
            strings(&web["command"]).last().map(String::as_str),
            Some("/entry")
        );
        assert_eq!(strings(&web["args"]), ["serve"]);
    }

    #[test]
    fn discovery_switches_host_paths_and_broad_grants() {
        let spec = json!({"volumes": [{"name": "cfg", "configMap": {"name": "c"}}],
            "containers": [{"name": "a", "image": "x", "command": ["/x"], "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}]}]});
        let with = |discover: &str| {
            let p = pod(
                json!({"landlock-injector.io/inject": "true", "landlock-injector.io/discover": discover}),
                spec.clone(),
            );
            strings(&wrapped(&p).0["spec"]["containers"][0]["command"])
        };
        for (value, spec_grant, no_discover) in [
            ("true", true, false),
            ("false", false, true),
            ("spec", true, true),
            ("mounts", false, false),
        ] {
            let command = with(value);
            assert_eq!(
                command.contains(&"/etc/app".to_owned()),
                spec_grant,
                "{value}: {command:?}"
            );
            assert_eq!(
                command.contains(&"--no-discover".to_owned()),
                no_discover,
                "{value}: {command:?}"
            );
        }

        let p = pod(
            json!({"landlock-injector.io/inject": "true", "landlock-injector.io/read": "/etc"}),
            json!({"volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}],
                   "containers": [{"name": "a", "image": "x", "command": ["/x"], "volumeMounts": [{"name": "logs", "mountPath": "/logs"}]}]}),
        );
        let (_, edits) = wrapped(&p);
        assert!(
            edits
                .warnings
                .iter()
                .any(|w| w.contains("hostPath volume \"logs\"")),
            "{:?}",
            edits.warnings
        );
        assert!(
            edits
                .warnings
                .iter()
                .any(|w| w.contains("container \"a\": --ro /etc grants all of /etc")),
            "{:?}",
            edits.warnings
        );
        // A magic link to the root is as broad as the root.
        let p = pod(
            json!({"landlock-injector.io/inject": "true", "landlock-injector.io/read-exec": "/proc/self/root"}),
            json!({"containers": [{"name": "a", "image": "x", "command": ["/x"]}]}),
        );
        let (_, edits) = wrapped(&p);
        assert!(
            edits
                .warnings
                .iter()
                .any(|w| w.contains("container \"a\": --rx /proc/self/root grants all of / (")),
            "{:?}",
            edits.warnings
        );
    }
}

//! The admission decision for one pod, pure (no I/O, no clock), in two phases:
//!
//! 1. [`decide`]: from the pod's metadata and its namespace's ([`crate::opt_in`]), then, for a
//!    pod that opted in, from its spec: [`Decision::Skip`] (with the reason and warnings) or
//!    [`Decision::Wrap`] with an [`Injection`], whose [`Injection::images`] says which image
//!    configurations the entrypoint rules need (containers without `command`).
//! 2. [`Injection::apply`], given those image configurations: the typed [`Edits`], addressed to
//!    the submitted object, that [`crate::patch`] turns into JSONPatch operations.
//!
//! Between the two the caller looks the images up (see [`crate::review`]).

use std::collections::{BTreeMap, BTreeSet};

use init_shim::{Mode, Policy, PolicyPath};
use k8s_openapi::api::core::v1::Container;

use crate::annotations::{
    self, AnnotationError, Annotations, Defaults, PREFIX, STATUS, STATUS_INJECTED,
};
use crate::config::Config;
use crate::discovery::{self, MountPathError};
use crate::edits::{ContainerEdit, ContainerList, Edits, ExecHook, WrappedContainer};
use crate::entrypoint::{self, EntrypointError, ImageConfig};
use crate::installer::{self, Names};
use crate::opt_in::{self, NamespaceMeta, OptIn, OptInError, PodHead};
use crate::patch::PatchError;
use crate::pod_spec::{ContainerView, PodView, SpecView};

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
}

/// Decides what happens to the pod `object` (its JSON text; `head` is its parsed metadata),
/// created in `namespace`, whose metadata `ns` is, when it was looked up.
pub fn decide(
    object: &str,
    head: &PodHead,
    namespace: &str,
    ns: Option<&NamespaceMeta>,
    config: &Config,
) -> Result<Decision, Denial> {
    let defaults = match opt_in::decide(head.meta(), namespace, ns, config)? {
        OptIn::Out { reason, warnings } => return Ok(Decision::Skip(Skip { reason, warnings })),
        OptIn::In { defaults, .. } => defaults,
    };
    let pod: PodView = serde_json::from_str(object).map_err(|e| Denial::NotAPod(e.to_string()))?;
    let spec = pod.spec.as_ref().ok_or(Denial::NoSpec)?;
    let names: Vec<&str> = installer::all_containers(spec)
        .map(|c| c.name.as_str())
        .collect();
    let raw = pod.metadata.annotations.clone().unwrap_or_default();
    let annotations = annotations::parse(&raw, &names)?;
    let (names, installer) = match installer::existing_names(spec, config) {
        Some(names) => (names, None),
        None => {
            let names = installer::choose_names(spec);
            let installer = installer::installer(config, &names);
            (names, Some(installer))
        }
    };
    let targets: Vec<(ContainerList, usize)> = containers(spec)
        .filter(|(_, _, c)| installer.is_some() || c.name != names.installer)
        .filter(|(_, _, c)| !installer::is_wrapped(c.command.as_ref(), &names))
        .map(|(list, index, _)| (list, index))
        .collect();
    if targets.is_empty() {
        return Ok(Decision::Skip(Skip {
            reason: "already injected".to_owned(),
            warnings: vec![],
        }));
    }
    Ok(Decision::Wrap(Injection {
        metadata_exists: head.metadata.is_some(),
        pod,
        annotations,
        defaults,
        names,
        installer,
        targets,
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

    /// The edits that wrap every target container, given the image configurations.
    pub fn apply(&self, images: &Images) -> Result<Edits, Denial> {
        let spec = self.spec().ok_or(Denial::NoSpec)?;
        let mut edits = Edits {
            volume: self
                .installer
                .as_ref()
                .map(|_| installer::volume(&self.names)),
            volumes_exist: spec.volumes.is_some(),
            installer: self.installer.clone(),
            init_containers_exist: spec.init_containers.is_some(),
            status: (format!("{PREFIX}{STATUS}"), STATUS_INJECTED.to_owned()),
            metadata_exists: self.metadata_exists,
            annotations_exist: self.pod.metadata.annotations.is_some(),
            ..Edits::default()
        };
        for (list, index) in &self.targets {
            let Some(container) = self.target(*list, *index) else {
                continue;
            };
            let edit = self.wrap(container, *list, *index, images, &mut edits)?;
            edits.containers.push(edit);
        }
        Ok(edits)
    }

    /// The policy for one container (annotations, plus what its mounts imply) and whether its
    /// exec probes and hooks are wrapped.
    fn policy(
        &self,
        container: &ContainerView,
        warnings: &mut Vec<String>,
    ) -> Result<(Policy, bool), Denial> {
        let settings = self.annotations.effective(&container.name, &self.defaults);
        let mut policy = Policy {
            mode: settings.mode,
            profile: settings.profile,
            bind_tcp: settings.bind_tcp,
            connect_tcp: settings.connect_tcp,
            discover: settings.discover.mounts,
            ..Policy::default()
        };
        for (access, path) in &settings.paths {
            policy.grant(path.clone(), *access);
        }
        if settings.discover.spec {
            let volumes = self
                .spec()
                .and_then(|s| s.volumes.as_deref())
                .unwrap_or_default();
            let annotated =
                |path: &PolicyPath| settings.paths.iter().any(|(_, p)| path.is_within(p));
            let found = discovery::discover(container, volumes, annotated)?;
            for grant in found.grants {
                // An annotation that already covers the path with at least these rights wins.
                let covered = settings
                    .paths
                    .iter()
                    .any(|(a, p)| grant.path.is_within(p) && a.includes(grant.access));
                if !covered {
                    policy.grant(grant.path, grant.access);
                }
            }
            warnings.extend(found.warnings);
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

    fn wrap(
        &self,
        container: &ContainerView,
        list: ContainerList,
        index: usize,
        images: &Images,
        edits: &mut Edits,
    ) -> Result<ContainerEdit, Denial> {
        let (policy, wrap_exec) = self.policy(container, &mut edits.warnings)?;
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
        let shim = self.names.shim();
        let wrapped = entrypoint::wrap(
            &shim,
            &policy,
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
        })?;
        let spec_args = container.args.clone().unwrap_or_default();
        let has_mount = container
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == self.names.volume && m.mount_path == self.names.dir);
        // Probes and hooks run quiet: kubelet keeps their output only as an event, which must
        // start with the program's own error, not the startup line the container printed.
        let hook_policy = init_shim::Policy {
            quiet: true,
            ..policy.clone()
        };
        let exec = if wrap_exec {
            ExecHook::ALL
                .into_iter()
                .filter_map(|hook| {
                    let command = hook.command(container)?;
                    (!installer::is_wrapped(Some(command), &self.names)).then(|| {
                        (
                            hook,
                            init_shim::flags::render_command(&shim, &hook_policy, command),
                        )
                    })
                })
                .collect()
        } else {
            vec![]
        };
        edits.wrapped.push(WrappedContainer {
            name: container.name.clone(),
            mode: policy.mode,
            profile: policy.profile,
        });
        Ok(ContainerEdit {
            list,
            index,
            command: wrapped.command,
            args: (wrapped.args != spec_args).then_some(wrapped.args),
            mount: (!has_mount).then(|| installer::mount(&self.names)),
            mounts_exist: container.volume_mounts.is_some(),
            exec,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edits::WrappedContainer;
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

    /// The decision for `pod` in namespace `apps`, applied with `images`: the patched pod and
    /// the edits, or the skip.
    fn run(pod: &Value, images: &Images) -> Result<Result<(Value, Edits), Skip>, Denial> {
        let object = pod.to_string();
        let head: PodHead = serde_json::from_str(&object).expect("head");
        match decide(&object, &head, "apps", None, &config())? {
            Decision::Skip(skip) => Ok(Err(skip)),
            Decision::Wrap(injection) => {
                let edits = injection.apply(images)?;
                let patch = crate::patch::operations(&edits)?;
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
        let object = no_command.to_string();
        let head: PodHead = serde_json::from_str(&object).expect("head");
        match decide(&object, &head, "apps", None, &config()).expect("decided") {
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

//! The admission decision for one pod: pure (no I/O, no clock), so every rule is unit-tested.
//! Image configurations the entrypoint rules need are looked up beforehand by the caller
//! ([`images_to_resolve`] says which) and passed in.

use std::collections::BTreeMap;

use init_shim::{Policy, PolicyPath};
use k8s_openapi::api::core::v1::{Container, Pod};

use crate::annotations::{self, AnnotationError, Annotations, PREFIX};
use crate::config::Config;
use crate::discovery::{self, MountPathError};
use crate::entrypoint::{self, EntrypointError, ImageConfig};
use crate::patch::{self, Names, PatchError};

/// Image configurations by image reference, or why the lookup failed.
pub type Images = BTreeMap<String, Result<ImageConfig, String>>;

/// What the decision needs besides the pod.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The namespace the pod is created in (from the request; the pod's own field may be empty).
    pub namespace: Option<&'a str>,
    /// Image configurations for the containers without `command`.
    pub images: &'a Images,
}

/// An allowed pod.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Allowed as it is.
    Unchanged {
        /// Why nothing was done.
        reason: String,
        /// Things the user should know.
        warnings: Vec<String>,
    },
    /// Allowed with changes.
    Mutated(Box<Mutation>),
}

/// A wrapped pod.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// The pod as it will be created.
    pub pod: Pod,
    /// The JSONPatch from the input pod to `pod`.
    pub patch: json_patch::Patch,
    /// The containers wrapped by this mutation.
    pub wrapped: Vec<String>,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

/// Why a pod is refused. Every variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum Denial {
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
    /// The pod has no spec.
    #[error("landlock-injector: the pod has no spec")]
    NoSpec,
    /// The patch could not be produced.
    #[error("landlock-injector: {0}")]
    Patch(#[from] PatchError),
}

/// The containers to wrap, with the names of this injection; None when the pod is not to be
/// touched (with the reason).
struct Plan {
    annotations: Annotations,
    names: Names,
    warnings: Vec<String>,
}

fn plan(pod: &Pod, ctx: &Context<'_>) -> Result<Result<Plan, (String, Vec<String>)>, Denial> {
    let namespace = ctx
        .namespace
        .or(pod.metadata.namespace.as_deref())
        .unwrap_or("default");
    let raw = pod.metadata.annotations.clone().unwrap_or_default();
    if !raw.keys().any(|k| k.starts_with(PREFIX)) {
        return Ok(Err(("not opted in".to_owned(), vec![])));
    }
    if ctx.config.exempt(namespace) {
        return Ok(Err((
            format!("namespace {namespace:?} is never mutated"),
            vec![format!(
                "landlock-injector: pods in namespace {namespace:?} are never sandboxed; the annotations are ignored"
            )],
        )));
    }
    let spec = pod.spec.as_ref().ok_or(Denial::NoSpec)?;
    let names: Vec<&str> = patch::all_containers(spec)
        .map(|c| c.name.as_str())
        .collect();
    let parsed = annotations::parse(&raw, &names)?;
    if !parsed.inject {
        return Ok(Err((
            "not opted in".to_owned(),
            vec![format!(
                "landlock-injector: {PREFIX}inject is not \"true\", so the other {PREFIX}* annotations have no effect and the pod is NOT sandboxed"
            )],
        )));
    }
    let names = patch::existing_names(spec).unwrap_or_else(|| patch::choose_names(spec));
    Ok(Ok(Plan {
        annotations: parsed,
        names,
        warnings: vec![],
    }))
}

/// `(container, image)` of every container the mutation will need an image configuration for.
pub fn images_to_resolve(
    pod: &Pod,
    config: &Config,
    namespace: Option<&str>,
) -> Vec<(String, String)> {
    let empty = Images::new();
    let ctx = Context {
        config,
        namespace,
        images: &empty,
    };
    let (Ok(Ok(plan)), Some(spec)) = (plan(pod, &ctx), pod.spec.as_ref()) else {
        return vec![];
    };
    patch::all_containers(spec)
        .filter(|c| !patch::is_wrapped(c, &plan.names) && c.name != plan.names.installer)
        .filter(|c| entrypoint::needs_image(c.command.as_ref()))
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect()
}

/// The policy for one container: annotations, plus what its mounts imply.
fn policy(
    container: &Container,
    pod: &Pod,
    annotations: &Annotations,
    warnings: &mut Vec<String>,
) -> Result<Policy, Denial> {
    let settings = annotations.effective(&container.name);
    let mut policy = Policy {
        mode: settings.mode,
        profile: settings.profile,
        bind_tcp: settings.bind_tcp,
        connect_tcp: settings.connect_tcp,
        ..Policy::default()
    };
    for (access, path) in &settings.paths {
        policy.grant(path.clone(), *access);
    }
    if settings.discover {
        let volumes = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default();
        let annotated = |path: &PolicyPath| settings.paths.iter().any(|(_, p)| path.is_within(p));
        let found = discovery::discover(container, &volumes, annotated)?;
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
    Ok(policy)
}

fn wrap_container(
    container: &mut Container,
    pod: &Pod,
    plan: &Plan,
    ctx: &Context<'_>,
    warnings: &mut Vec<String>,
) -> Result<(), Denial> {
    let policy = policy(container, pod, &plan.annotations, warnings)?;
    let image_ref = container.image.clone().unwrap_or_default();
    let looked_up = ctx.images.get(&image_ref);
    let image = match looked_up {
        Some(Ok(config)) => Some(config),
        Some(Err(cause)) if entrypoint::needs_image(container.command.as_ref()) => {
            return Err(Denial::Entrypoint {
                container: container.name.clone(),
                image: image_ref,
                cause: cause.clone(),
            });
        }
        _ => None,
    };
    let wrapped = entrypoint::wrap(
        &plan.names.shim(),
        &policy,
        container.command.as_ref(),
        container.args.as_ref(),
        image,
    )
    .map_err(|e| Denial::Entrypoint {
        container: container.name.clone(),
        image: image_ref.clone(),
        cause: match e {
            EntrypointError::NeedImage => {
                "the spec has no command and the image configuration was not looked up".to_owned()
            }
            other => other.to_string(),
        },
    })?;
    container.command = Some(wrapped.command);
    container.args = (!wrapped.args.is_empty()).then_some(wrapped.args);
    let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
    if !mounts.iter().any(|m| m.name == plan.names.volume) {
        mounts.push(patch::mount(&plan.names));
    }
    Ok(())
}

/// Decides what happens to `pod`.
pub fn mutate(pod: &Pod, ctx: &Context<'_>) -> Result<Verdict, Denial> {
    let mut plan = match plan(pod, ctx)? {
        Ok(plan) => plan,
        Err((reason, warnings)) => return Ok(Verdict::Unchanged { reason, warnings }),
    };
    let mut warnings = std::mem::take(&mut plan.warnings);
    let mut out = pod.clone();
    let spec = out.spec.as_mut().ok_or(Denial::NoSpec)?;
    let mut wrapped = Vec::new();
    let inits = spec.init_containers.iter_mut().flatten();
    let containers = spec.containers.iter_mut();
    for container in inits.chain(containers) {
        if container.name == plan.names.installer || patch::is_wrapped(container, &plan.names) {
            continue;
        }
        wrap_container(container, pod, &plan, ctx, &mut warnings)?;
        wrapped.push(container.name.clone());
    }
    if wrapped.is_empty() {
        return Ok(Verdict::Unchanged {
            reason: "already injected".to_owned(),
            warnings,
        });
    }
    patch::add_installer(&mut out, ctx.config, &plan.names);
    let patch = patch::diff(pod, &out)?;
    Ok(Verdict::Mutated(Box::new(Mutation {
        pod: out,
        patch,
        wrapped,
        warnings,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(annotations: serde_json::Value, spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "demo", "namespace": "apps", "annotations": annotations},
            "spec": spec,
        }))
        .expect("pod")
    }

    fn demo() -> Pod {
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
                    "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}, {"name": "scratch", "mountPath": "/scratch"}]}],
            }),
        )
    }

    fn decide(pod: &Pod, images: &Images) -> Result<Verdict, Denial> {
        let config = Config {
            shim_image: "shim:test".to_owned(),
            namespace: "landlock-injector".to_owned(),
        };
        mutate(
            pod,
            &Context {
                config: &config,
                namespace: Some("apps"),
                images,
            },
        )
    }

    fn mutated(pod: &Pod) -> Mutation {
        match decide(pod, &Images::new()).expect("allowed") {
            Verdict::Mutated(m) => *m,
            Verdict::Unchanged { reason, .. } => panic!("unchanged: {reason}"),
        }
    }

    #[test]
    fn wraps_every_container_init_container_and_sidecar() {
        let m = mutated(&demo());
        assert_eq!(m.wrapped, ["migrate", "proxy", "web"]);
        let spec = m.pod.spec.as_ref().expect("spec");
        let inits = spec.init_containers.as_ref().expect("inits");
        assert_eq!(inits[0].name, "landlock-shim-install");
        assert_eq!(inits[0].image.as_deref(), Some("shim:test"));
        let web = &spec.containers[0];
        let command = web.command.as_ref().expect("command");
        let (shim, program) = command.split_at(command.iter().position(|a| a == "--").expect("--"));
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
        assert_eq!(
            web.args.as_deref(),
            Some(&["--port".to_owned(), "8080".to_owned()][..])
        );
        // The flags parse back into the policy with the shim's own parser.
        let parsed = init_shim::flags::parse(command[1..].iter().map(std::ffi::OsString::from))
            .expect("the shim accepts what the webhook writes");
        assert!(matches!(parsed, init_shim::flags::Command::Run { .. }));
        // The sidecar's flags do not carry web's port.
        let proxy = &inits[2];
        assert!(
            !proxy
                .command
                .as_ref()
                .expect("command")
                .contains(&"5432".to_owned())
        );
        let mount = web
            .volume_mounts
            .as_ref()
            .expect("mounts")
            .last()
            .expect("mount")
            .clone();
        assert_eq!(
            (mount.mount_path.as_str(), mount.read_only),
            ("/landlock-injector", Some(true))
        );
        assert_eq!(
            m.pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("landlock-injector.io/status"))
                .map(String::as_str),
            Some("injected")
        );
    }

    #[test]
    fn the_patch_applied_to_the_input_gives_exactly_the_mutated_pod() {
        let input = demo();
        let m = mutated(&input);
        let mut doc = serde_json::to_value(&input).expect("json");
        json_patch::patch(&mut doc, &m.patch).expect("the patch applies");
        assert_eq!(doc, serde_json::to_value(&m.pod).expect("json"));
    }

    #[test]
    fn reviewing_an_injected_pod_changes_nothing_but_wraps_a_container_added_later() {
        let first = mutated(&demo());
        let again = decide(&first.pod, &Images::new()).expect("allowed");
        assert!(
            matches!(again, Verdict::Unchanged { ref reason, .. } if reason == "already injected"),
            "{again:?}"
        );

        // Another webhook (reinvocationPolicy: IfNeeded) added a container after us.
        let mut later = first.pod.clone();
        let spec = later.spec.as_mut().expect("spec");
        spec.containers.push(
            serde_json::from_value(
                json!({"name": "logger", "image": "log:1", "command": ["/log"]}),
            )
            .expect("c"),
        );
        let m = mutated(&later);
        assert_eq!(m.wrapped, ["logger"]);
        let inits = m
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .expect("inits");
        assert_eq!(
            inits
                .iter()
                .filter(|c| c.name.starts_with("landlock-shim-install"))
                .count(),
            1
        );
    }

    #[test]
    fn unannotated_pods_and_exempt_namespaces_are_unchanged() {
        let plain = pod(
            json!({}),
            json!({"containers": [{"name": "a", "image": "x"}]}),
        );
        assert!(matches!(
            decide(&plain, &Images::new()),
            Ok(Verdict::Unchanged { .. })
        ));

        let config = Config {
            shim_image: "s".into(),
            namespace: "landlock-injector".into(),
        };
        for ns in ["kube-system", "landlock-injector"] {
            let verdict = mutate(
                &demo(),
                &Context {
                    config: &config,
                    namespace: Some(ns),
                    images: &Images::new(),
                },
            );
            assert!(
                matches!(verdict, Ok(Verdict::Unchanged { .. })),
                "{ns}: {verdict:?}"
            );
        }

        let not_in = pod(
            json!({"landlock-injector.io/inject": "false", "landlock-injector.io/read": "/srv"}),
            json!({"containers": [{"name": "a", "image": "x"}]}),
        );
        match decide(&not_in, &Images::new()) {
            Ok(Verdict::Unchanged { warnings, .. }) => {
                assert!(warnings[0].contains("NOT sandboxed"), "{warnings:?}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_annotations_and_unresolvable_images_are_denied_with_the_cause() {
        let bad = pod(
            json!({"landlock-injector.io/inject": "true", "landlock-injector.io/web.read": "etc"}),
            json!({"containers": [{"name": "web", "image": "x", "command": ["/x"]}]}),
        );
        let err = decide(&bad, &Images::new()).unwrap_err().to_string();
        assert!(
            err.contains("landlock-injector.io/web.read") && err.contains("\"etc\""),
            "{err}"
        );

        let no_command = pod(
            json!({"landlock-injector.io/inject": "true"}),
            json!({"containers": [{"name": "web", "image": "registry.local/app:1"}]}),
        );
        let images = Images::from([(
            "registry.local/app:1".to_owned(),
            Err("manifest unknown".to_owned()),
        )]);
        let err = decide(&no_command, &images).unwrap_err().to_string();
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
        let m = match decide(&no_command, &images).expect("allowed") {
            Verdict::Mutated(m) => m,
            v => panic!("{v:?}"),
        };
        let web = &m.pod.spec.as_ref().expect("spec").containers[0];
        assert_eq!(
            web.command
                .as_ref()
                .and_then(|c| c.last())
                .map(String::as_str),
            Some("/entry")
        );
        assert_eq!(web.args.as_deref(), Some(&["serve".to_owned()][..]));
        assert_eq!(
            images_to_resolve(&no_command, &Config::default(), Some("apps")),
            [("web".to_owned(), "registry.local/app:1".to_owned())]
        );
    }

    #[test]
    fn discovery_can_be_switched_off_and_host_paths_warn() {
        let p = pod(
            json!({"landlock-injector.io/inject": "true", "landlock-injector.io/discover": "false"}),
            json!({"volumes": [{"name": "cfg", "configMap": {"name": "c"}}],
                   "containers": [{"name": "a", "image": "x", "command": ["/x"], "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}]}]}),
        );
        let m = mutated(&p);
        let command = m.pod.spec.as_ref().expect("spec").containers[0]
            .command
            .clone()
            .expect("command");
        assert!(!command.contains(&"/etc/app".to_owned()), "{command:?}");

        let p = pod(
            json!({"landlock-injector.io/inject": "true"}),
            json!({"volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}],
                   "containers": [{"name": "a", "image": "x", "command": ["/x"], "volumeMounts": [{"name": "logs", "mountPath": "/logs"}]}]}),
        );
        let m = mutated(&p);
        assert!(
            m.warnings
                .iter()
                .any(|w| w.contains("hostPath volume \"logs\"")),
            "{:?}",
            m.warnings
        );
    }
}

//! The `landlock-injector.io/*` annotations: the whole user interface of the webhook.
//!
//! Pod-level keys apply to every container; `<container>.<key>` applies to one. Merge rule:
//! paths and ports add up (a bound LandlockPolicy's default and container rules, the pod level,
//! the container level); `mode`, `profile`, `discover`, `scope` and `wrap-exec` at container
//! level replace the pod level, which replaces the policy's container rules, which replace the
//! policy's default, which replaces the namespace's defaults ([`Defaults`]). Every value is
//! checked with the init-shim library's own parsers, so the webhook accepts exactly what the
//! shim accepts.
//!
//! Anything doubtful is refused rather than ignored: an unknown key under the prefix, a
//! per-container key for a container the pod does not have, a user-written `status`. Whether
//! the pod opted in (`inject`, label or annotation) is decided by [`crate::admission::opt_in`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use init_shim::{Access, Mode, PolicyPath, Port, Profile, Scoping, ValueError};

use crate::admission::limits::{self, MAX_PATHS_PER_CONTAINER};

/// The annotation prefix.
pub const PREFIX: &str = "landlock-injector.io/";
/// Opts a pod in.
pub const INJECT: &str = "inject";
/// Written by the webhook once it wrapped the pod.
pub const STATUS: &str = "status";
/// The only value of [`STATUS`].
pub const STATUS_INJECTED: &str = "injected";
/// Ports the program may bind.
pub const BIND_TCP: &str = "bind-tcp";
/// Ports the program may connect to.
pub const CONNECT_TCP: &str = "connect-tcp";
/// `enforce`, `best-effort`, `dry-run`.
pub const MODE: &str = "mode";
/// The base profile.
pub const PROFILE: &str = "profile";
/// Volume discovery: `true` (default), `false`, `spec` (the webhook's, from the pod spec, only)
/// or `mounts` (the shim's, from its mount table, only).
pub const DISCOVER: &str = "discover";
/// `"false"` leaves exec probes and exec lifecycle hooks outside the sandbox.
pub const WRAP_EXEC: &str = "wrap-exec";
/// UDP ports the program may bind (Landlock ABI 10).
pub const BIND_UDP: &str = "bind-udp";
/// UDP ports the program may connect or send datagrams to (Landlock ABI 10).
pub const CONNECT_UDP: &str = "connect-udp";
/// Signal and abstract-UNIX-socket scoping: `available` (default), `required`, `off`.
pub const SCOPE: &str = "scope";
/// Names the pod's LandlockPolicy (in its namespace; see [`crate::admission::binding`]).
pub const POLICY: &str = "policy";
/// Written by the webhook: the LandlockPolicy it applied, its generation and uid,
/// `NAME@GENERATION@UID` ([`crate::policy_status::record`]; replaced on every injection, never
/// read as a setting).
pub const APPLIED_POLICY: &str = "applied-policy";
/// Written by the webhook (annotation and label): the LandlockRecording that admitted the pod
/// in `mode: learn` (never read as a setting).
pub const RECORDING: &str = "recording";

/// Which volume discovery runs: the webhook's (volumes in the pod spec) and the shim's
/// (kubelet-written volumes in its mount table, which catches volumes added after the webhook).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discover {
    /// The webhook grants the volumes mounted in the pod spec.
    pub spec: bool,
    /// The shim grants the kubelet-written volumes it finds at start (`--no-discover` if not).
    pub mounts: bool,
}

impl Discover {
    /// Both, the default.
    pub const ALL: Discover = Discover {
        spec: true,
        mounts: true,
    };

    fn parse(value: &str) -> Result<Self, String> {
        let (spec, mounts) = match value {
            "true" => (true, true),
            "false" => (false, false),
            "spec" => (true, false),
            "mounts" => (false, true),
            _ => {
                return Err(
                    "expected \"true\", \"false\", \"spec\" (pod-spec volumes only) or \"mounts\" (the shim's mount-table discovery only)"
                        .to_owned(),
                );
            }
        };
        Ok(Discover { spec, mounts })
    }
}

/// Settings a namespace gives its pods (namespace annotations `mode` and `profile`); the pod's
/// own annotations override them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Defaults {
    /// The namespace's mode.
    pub mode: Option<Mode>,
    /// The namespace's profile.
    pub profile: Option<Profile>,
}

/// A refused annotation: the key, the container it concerns (if one) and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AnnotationError {
    /// The full annotation key.
    pub key: String,
    /// The container a per-container key names.
    pub container: Option<String>,
    /// The offending value.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for AnnotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "annotation {:?}", self.key)?;
        if let Some(container) = &self.container {
            write!(f, " (container {container:?})")?;
        }
        // The value may be a 256 KiB annotation: quote enough of it to find it.
        write!(
            f,
            ": value {}: {}",
            limits::quoted(&self.value),
            self.problem
        )
    }
}

/// The settings of one level (pod or container).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Paths with their access sets, in annotation order.
    pub paths: Vec<(Access, PolicyPath)>,
    /// Ports to bind.
    pub bind_tcp: BTreeSet<Port>,
    /// Ports to connect to.
    pub connect_tcp: BTreeSet<Port>,
    /// The mode, if set at this level.
    pub mode: Option<Mode>,
    /// The profile, if set at this level.
    pub profile: Option<Profile>,
    /// Discovery, if set at this level.
    pub discover: Option<Discover>,
    /// Whether exec probes and hooks are wrapped, if set at this level.
    pub wrap_exec: Option<bool>,
    /// UDP ports to bind.
    pub bind_udp: BTreeSet<Port>,
    /// UDP ports to connect or send to.
    pub connect_udp: BTreeSet<Port>,
    /// Scoping, if set at this level.
    pub scope: Option<Scoping>,
}

/// The parsed annotations of one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// Whether the webhook already wrapped it.
    pub injected: bool,
    /// The LandlockPolicy the pod names (`landlock-injector.io/policy`), if it names one.
    pub policy_name: Option<String>,
    /// Pod-level settings.
    pub pod: Settings,
    /// Per-container settings.
    pub containers: BTreeMap<String, Settings>,
    /// The rules of the LandlockPolicy bound to the pod, beneath both levels.
    pub policy: Option<Layer>,
    /// What an active LandlockRecording imposes (`mode: learn`), above every other level.
    pub recording: Option<Settings>,
}

/// The settings a LandlockPolicy gives: a default for every container and some by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    /// For every container.
    pub default: Settings,
    /// By container name (names the pod does not have are not used).
    pub containers: BTreeMap<String, Settings>,
}

/// The value of the highest level that sets it.
fn top<T: Copy>(levels: &[&Settings], get: impl Fn(&Settings) -> Option<T>) -> Option<T> {
    levels.iter().rev().find_map(|s| get(s))
}

/// The merged settings for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Paths from both levels.
    pub paths: Vec<(Access, PolicyPath)>,
    /// Ports to bind from both levels.
    pub bind_tcp: BTreeSet<Port>,
    /// Ports to connect to from both levels.
    pub connect_tcp: BTreeSet<Port>,
    /// Container level, else pod level, else the default.
    pub mode: Mode,
    /// Container level, else pod level, else the default.
    pub profile: Profile,
    /// Container level, else pod level, else both on.
    pub discover: Discover,
    /// Container level, else pod level, else on.
    pub wrap_exec: bool,
    /// UDP ports to bind from both levels.
    pub bind_udp: BTreeSet<Port>,
    /// UDP ports to connect or send to from both levels.
    pub connect_udp: BTreeSet<Port>,
    /// Container level, else pod level, else `available`.
    pub scope: Scoping,
}

impl Annotations {
    /// The levels that apply to `container`, from the lowest: the policy's default, the
    /// policy's rules for the container, the pod level, the container level, a recording's.
    fn levels(&self, container: &str) -> Vec<&Settings> {
        let policy = self.policy.iter().flat_map(|layer| {
            std::iter::once(&layer.default).chain(layer.containers.get(container))
        });
        policy
            .chain(std::iter::once(&self.pod))
            .chain(self.containers.get(container))
            .chain(self.recording.as_ref())
            .collect()
    }

    /// The settings for `container`, merged as the module documentation says.
    pub fn effective(&self, container: &str, defaults: &Defaults) -> Effective {
        let levels = self.levels(container);
        let mut paths = Vec::new();
        let mut bind_tcp = BTreeSet::new();
        let mut connect_tcp = BTreeSet::new();
        let mut bind_udp = BTreeSet::new();
        let mut connect_udp = BTreeSet::new();
        for level in &levels {
            paths.extend(level.paths.iter().cloned());
            bind_tcp.extend(level.bind_tcp.iter().copied());
            connect_tcp.extend(level.connect_tcp.iter().copied());
            bind_udp.extend(level.bind_udp.iter().copied());
            connect_udp.extend(level.connect_udp.iter().copied());
        }
        Effective {
            paths,
            bind_tcp,
            connect_tcp,
            mode: top(&levels, |s| s.mode)
                .or(defaults.mode)
                .unwrap_or_default(),
            profile: top(&levels, |s| s.profile)
                .or(defaults.profile)
                .unwrap_or_default(),
            discover: top(&levels, |s| s.discover).unwrap_or(Discover::ALL),
            wrap_exec: top(&levels, |s| s.wrap_exec).unwrap_or(true),
            bind_udp,
            connect_udp,
            scope: top(&levels, |s| s.scope).unwrap_or_default(),
        }
    }

    /// The path count and text bytes of every level that applies to `container` (what
    /// [`crate::admission::decision::Injection::estimated_output`] weighs).
    pub fn path_bytes(&self, container: &str) -> usize {
        self.levels(container)
            .iter()
            .flat_map(|s| s.paths.iter())
            .map(|(_, p)| p.as_str().len() + 10)
            .sum()
    }
}

/// Parses every annotation under the prefix. `containers` are the names of all the pod's
/// containers (init and regular), to check per-container keys against.
pub fn parse(
    annotations: &BTreeMap<String, String>,
    containers: &[&str],
) -> Result<Annotations, AnnotationError> {
    let mut parsed = Annotations::default();
    let known: HashSet<&str> = containers.iter().copied().collect();
    for (key, value) in annotations {
        let Some(name) = key.strip_prefix(PREFIX) else {
            continue;
        };
        let fail = |container: Option<&str>, problem: String| AnnotationError {
            key: key.clone(),
            container: container.map(str::to_owned),
            value: value.clone(),
            problem,
        };
        match name {
            // Checked by `opt_in`, which decided that this pod is wrapped at all; the record
            // of an applied policy is the webhook's own, replaced when it wraps the pod.
            INJECT | APPLIED_POLICY | RECORDING => {}
            POLICY => {
                if let Err(problem) = crate::admission::policy::check_name(value) {
                    return Err(fail(None, problem));
                }
                parsed.policy_name = Some(value.clone());
            }
            STATUS => {
                if value != STATUS_INJECTED {
                    return Err(fail(
                        None,
                        format!("written by the webhook only (\"{STATUS_INJECTED}\"); remove it"),
                    ));
                }
                parsed.injected = true;
            }
            _ => {
                let (container, setting) = match name.split_once('.') {
                    Some((container, setting)) => (Some(container), setting),
                    None => (None, name),
                };
                if let Some(container) = container.filter(|c| !known.contains(c)) {
                    return Err(fail(
                        Some(container),
                        format!(
                            "the pod has no container {} (it has {})",
                            limits::quoted(container),
                            limits::listed(containers, 20)
                        ),
                    ));
                }
                let settings = match container {
                    Some(c) => parsed.containers.entry(c.to_owned()).or_default(),
                    None => &mut parsed.pod,
                };
                apply(settings, setting, value).map_err(|problem| fail(container, problem))?;
            }
        }
    }
    Ok(parsed)
}

/// The keys `apply` understands, for the "unknown key" message.
fn known_keys() -> String {
    let mut keys: Vec<&str> = Access::ALL.iter().map(|a| a.annotation_key()).collect();
    keys.extend([BIND_TCP, CONNECT_TCP, MODE, PROFILE, DISCOVER, WRAP_EXEC]);
    keys.extend([BIND_UDP, CONNECT_UDP, SCOPE]);
    keys.join(", ")
}

/// Applies one setting; the error is the problem with the value.
fn apply(settings: &mut Settings, setting: &str, value: &str) -> Result<(), String> {
    if let Some(access) = Access::ALL.iter().find(|a| a.annotation_key() == setting) {
        let elements = elements(value)?;
        if elements.len() > MAX_PATHS_PER_CONTAINER {
            return Err(too_many_paths(elements.len()));
        }
        for element in elements {
            add_path(settings, *access, element)?;
        }
        return Ok(());
    }
    match setting {
        BIND_TCP | CONNECT_TCP | BIND_UDP | CONNECT_UDP => {
            for element in elements(value)? {
                add_port(settings, setting, element)?;
            }
            Ok(())
        }
        MODE | PROFILE | DISCOVER | WRAP_EXEC | SCOPE => set(settings, setting, value),
        INJECT | STATUS | POLICY | APPLIED_POLICY | RECORDING => Err(format!(
            "{setting:?} is a pod-level key; it has no per-container form"
        )),
        _ => Err(format!(
            "unknown key {setting:?} under {PREFIX} (known: {}, and {INJECT}, {POLICY}, {STATUS})",
            known_keys()
        )),
    }
}

/// The problem with a list of `count` paths for one container level.
pub fn too_many_paths(count: usize) -> String {
    format!(
        "lists {count} paths; at most {MAX_PATHS_PER_CONTAINER} paths per container are accepted (annotations, policy and discovered volume mounts together); grant a directory instead of its files"
    )
}

/// Adds one path with `access` (one element of a path annotation, or of a LandlockPolicy's
/// list); the error is the problem with the value.
pub fn add_path(settings: &mut Settings, access: Access, element: &str) -> Result<(), String> {
    let path = PolicyPath::parse(element).map_err(|e| e.to_string())?;
    settings.paths.push((access, path));
    Ok(())
}

/// Adds one port to the set `key` names ([`BIND_TCP`], [`CONNECT_TCP`], [`BIND_UDP`],
/// [`CONNECT_UDP`]).
pub fn add_port(settings: &mut Settings, key: &str, element: &str) -> Result<(), String> {
    let port = Port::parse(element).map_err(|e| e.to_string())?;
    let set = match key {
        BIND_TCP => &mut settings.bind_tcp,
        CONNECT_TCP => &mut settings.connect_tcp,
        BIND_UDP => &mut settings.bind_udp,
        CONNECT_UDP => &mut settings.connect_udp,
        _ => return Err(format!("{key:?} is not a port key")),
    };
    set.insert(port);
    Ok(())
}

/// Sets the single-valued setting `key` names ([`MODE`], [`PROFILE`], [`DISCOVER`],
/// [`WRAP_EXEC`], [`SCOPE`]).
pub fn set(settings: &mut Settings, key: &str, value: &str) -> Result<(), String> {
    let problem = |e: ValueError| e.to_string();
    match key {
        SCOPE => settings.scope = Some(Scoping::parse(value).map_err(problem)?),
        MODE => settings.mode = Some(Mode::parse(value).map_err(problem)?),
        PROFILE => settings.profile = Some(Profile::parse(value).map_err(problem)?),
        DISCOVER => settings.discover = Some(Discover::parse(value)?),
        WRAP_EXEC => {
            settings.wrap_exec = Some(match value {
                "true" => true,
                "false" => false,
                _ => return Err("expected \"true\" or \"false\"".to_owned()),
            });
        }
        _ => return Err(format!("{key:?} is not a single-valued key")),
    }
    Ok(())
}

/// The comma-separated elements of a list value; empty elements are an error.
fn elements(value: &str) -> Result<Vec<&str>, String> {
    let elements: Vec<&str> = value.split(',').map(str::trim).collect();
    if elements.iter().any(|e| e.is_empty()) {
        return Err("empty element in the comma-separated list".to_owned());
    }
    Ok(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), (*v).to_owned()))
            .collect()
    }

    const CONTAINERS: &[&str] = &["web", "sidecar"];

    fn error(pairs: &[(&str, &str)]) -> String {
        parse(&annotations(pairs), CONTAINERS)
            .expect_err("should be refused")
            .to_string()
    }

    #[test]
    fn pod_and_container_levels_merge() {
        let parsed = parse(
            &annotations(&[
                ("inject", "true"),
                ("read", "/etc/app, /srv"),
                ("write", "/data"),
                ("connect-tcp", "443"),
                ("mode", "enforce"),
                ("web.read-exec", "/opt/tools"),
                ("web.connect-tcp", "5432"),
                ("web.mode", "dry-run"),
                ("sidecar.profile", "minimal"),
                ("sidecar.discover", "false"),
                ("connect-udp", "53"),
                ("web.connect-udp", "123"),
                ("web.bind-udp", "5353"),
                ("scope", "required"),
                ("sidecar.scope", "off"),
            ]),
            CONTAINERS,
        )
        .expect("valid");
        let web = parsed.effective("web", &Defaults::default());
        let paths: Vec<_> = web
            .paths
            .iter()
            .map(|(a, p)| format!("{}:{}", a.name(), p.as_str()))
            .collect();
        assert_eq!(
            paths,
            ["ro:/etc/app", "ro:/srv", "rw:/data", "rx:/opt/tools"]
        );
        assert_eq!(web.connect_tcp.len(), 2);
        let ports = |set: &BTreeSet<Port>| set.iter().map(|p| p.get()).collect::<Vec<_>>();
        assert_eq!(ports(&web.connect_udp), [53, 123]);
        assert_eq!(ports(&web.bind_udp), [5353]);
        assert_eq!(web.scope, Scoping::Required);
        assert_eq!(web.mode, Mode::DryRun);
        assert_eq!(web.profile, Profile::Default);
        assert_eq!(web.discover, Discover::ALL);
        assert!(web.wrap_exec);
        let sidecar = parsed.effective("sidecar", &Defaults::default());
        assert_eq!(sidecar.scope, Scoping::Off);
        assert_eq!(ports(&sidecar.connect_udp), [53]);
        assert!(sidecar.bind_udp.is_empty());
        assert_eq!(sidecar.mode, Mode::Enforce);
        assert_eq!(sidecar.profile, Profile::Minimal);
        assert_eq!(
            sidecar.discover,
            Discover {
                spec: false,
                mounts: false
            }
        );
        assert_eq!(sidecar.paths.len(), 3);
    }

    #[test]
    fn every_bad_input_is_refused_naming_key_container_and_value() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("read", "etc/app")],
                r#"annotation "landlock-injector.io/read": value "etc/app": "etc/app": path must be absolute"#,
            ),
            (
                &[("web.write", "/data/../etc")],
                r#"annotation "landlock-injector.io/web.write" (container "web"): value "/data/../etc": "/data/../etc": path has a '..' element"#,
            ),
            (
                &[("read", "/a,,/b")],
                r#"annotation "landlock-injector.io/read": value "/a,,/b": empty element in the comma-separated list"#,
            ),
            (&[("read", "/a/")], "path has an empty element"),
            (&[("bind-tcp", "0")], r#"value "0": "0": port out of range"#),
            (
                &[("connect-tcp", "70000")],
                r#"value "70000": "70000": port out of range"#,
            ),
            (
                &[("bind-udp", "0")],
                r#"annotation "landlock-injector.io/bind-udp": value "0": "0": port out of range"#,
            ),
            (
                &[("web.connect-udp", "53,dns")],
                r#"annotation "landlock-injector.io/web.connect-udp" (container "web"): value "53,dns": "dns": not a port number"#,
            ),
            (
                &[("scope", "always")],
                r#"annotation "landlock-injector.io/scope": value "always": "always": unknown scope (expected available, required or off)"#,
            ),
            (
                &[("mode", "strict")],
                r#"value "strict": "strict": unknown mode"#,
            ),
            (
                &[("web.profile", "fat")],
                r#"(container "web"): value "fat": "fat": unknown profile"#,
            ),
            (
                &[("discover", "no")],
                r#"value "no": expected "true", "false", "spec""#,
            ),
            (
                &[("web.wrap-exec", "off")],
                r#"(container "web"): value "off": expected "true" or "false""#,
            ),
            (&[("status", "skip")], "written by the webhook only"),
            (&[("reads", "/etc")], r#"unknown key "reads""#),
            (&[("web.inject", "true")], "pod-level key"),
            (
                &[("db.read", "/var/lib/db")],
                r#"annotation "landlock-injector.io/db.read" (container "db"): value "/var/lib/db": the pod has no container "db" (it has "web", "sidecar")"#,
            ),
        ];
        for (pairs, expected) in cases {
            let message = error(pairs);
            assert!(
                message.contains(expected),
                "{pairs:?}:\n  got      {message}\n  expected {expected}"
            );
        }
    }

    #[test]
    fn list_is_a_path_key_rendered_as_the_shim_s_list_flag_and_checked_like_read() {
        let parsed = parse(
            &annotations(&[("list", "/srv/app"), ("web.list", "/var/www")]),
            CONTAINERS,
        )
        .expect("valid");
        let web = parsed.effective("web", &Defaults::default());
        let mut policy = init_shim::Policy::default();
        policy.grant_all(web.paths.iter().map(|(a, p)| (p.clone(), *a)));
        let flags = init_shim::flags::render(&policy).join(" ");
        assert!(
            flags.starts_with("--list /srv/app --list /var/www --mode"),
            "{flags}"
        );
        for (value, problem) in [
            ("srv", "path must be absolute"),
            ("/srv/../etc", "'..' element"),
            ("/a,,/b", "empty element"),
            ("/srv/", "empty element"),
        ] {
            let message = error(&[("web.list", value)]);
            assert!(
                message.contains(r#"annotation "landlock-injector.io/web.list" (container "web")"#)
                    && message.contains(problem),
                "{value}: {message}"
            );
        }
    }

    #[test]
    fn other_prefixes_are_ignored_and_namespace_defaults_yield_to_the_pod() {
        let mut map = annotations(&[
            ("read", "/srv"),
            ("web.profile", "none"),
            ("discover", "mounts"),
        ]);
        map.insert("example.com/read".to_owned(), "anything".to_owned());
        let parsed = parse(&map, CONTAINERS).expect("valid");
        let defaults = Defaults {
            mode: Some(Mode::Enforce),
            profile: Some(Profile::Minimal),
        };
        let web = parsed.effective("web", &defaults);
        assert_eq!((web.mode, web.profile), (Mode::Enforce, Profile::None));
        assert_eq!(
            parsed.effective("sidecar", &defaults).profile,
            Profile::Minimal
        );
        assert_eq!(
            web.discover,
            Discover {
                spec: false,
                mounts: true
            }
        );
    }
}

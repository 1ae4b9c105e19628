//! The `LandlockPolicy` custom resource (`landlock-injector.io/v1alpha1`, namespaced): a
//! platform team's rules for the pods it selects or that name it, in the annotations'
//! vocabulary, spelled in camelCase:
//!
//! ```yaml
//! apiVersion: landlock-injector.io/v1alpha1
//! kind: LandlockPolicy
//! metadata: {name: web, namespace: shop}
//! spec:
//!   podSelector: {matchLabels: {app: web}}   # or pods name it: landlock-injector.io/policy: web
//!   allowPodAdditions: false                 # the pods' own path/port annotations are refused
//!   default: {mode: enforce, read: [/srv/static], connectTcp: [5432]}
//!   containers:
//!     - {name: nginx, write: [/var/cache/nginx], bindTcp: [8080]}
//! ```
//!
//! A policy is read ([`compile`]) with the annotation parser's own per-value functions
//! ([`crate::admission::annotations::add_path`] and its neighbours), so it accepts exactly what
//! the annotations accept and its errors name the field (`spec.containers[nginx].write[0]`) and
//! the value. Which policy a pod gets is [`crate::admission::binding`]'s decision; the chart's
//! CustomResourceDefinition carries the same rules as CEL, for `kubectl apply` to refuse early.

use std::collections::BTreeMap;
use std::fmt;

use init_shim::Access;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{DynamicObject, Selector};
use kube::discovery::ApiResource;
use serde::Deserialize;
use serde_json::Value;

use crate::admission::annotations::{
    self, BIND_TCP, BIND_UDP, CONNECT_TCP, CONNECT_UDP, DISCOVER, Layer, MODE, PROFILE, SCOPE,
    Settings, WRAP_EXEC,
};
use crate::admission::limits::{self, MAX_PATHS_PER_CONTAINER};

/// The API group.
pub const GROUP: &str = "landlock-injector.io";
/// The served version.
pub const VERSION: &str = "v1alpha1";
/// The kind.
pub const KIND: &str = "LandlockPolicy";
/// The resource (plural) name.
pub const PLURAL: &str = "landlockpolicies";
/// Containers a policy may name (its `default` covers the rest); the CustomResourceDefinition
/// says the same (`maxItems`), which keeps its CEL rules within the API server's cost budget.
pub const MAX_CONTAINERS: usize = 16;

/// The resource, for a dynamic client and watch.
pub fn api_resource() -> ApiResource {
    resource(KIND, PLURAL)
}

/// A `landlock-injector.io/v1alpha1` resource of `kind`, named `plural`.
pub fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: GROUP.to_owned(),
        version: VERSION.to_owned(),
        api_version: format!("{GROUP}/{VERSION}"),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}

/// The longest LandlockPolicy name: a bound pod carries it in the label
/// `landlock-injector.io/applied-policy`, and label values are at most 63 characters.
pub const MAX_NAME: usize = 63;

/// Whether `value` can name a LandlockPolicy (a DNS subdomain, as every object name, of at
/// most [`MAX_NAME`] characters); the error is the problem with it.
pub fn check_name(value: &str) -> Result<(), String> {
    if value.is_empty() || !value.split('.').all(super::selector::is_dns_label) {
        return Err(
            "not a LandlockPolicy name (lowercase letters, digits, '-' and '.')".to_owned(),
        );
    }
    if value.len() > MAX_NAME {
        return Err(format!(
            "a LandlockPolicy name is at most {MAX_NAME} characters (bound pods carry it in the label landlock-injector.io/applied-policy)"
        ));
    }
    Ok(())
}

/// A policy as the webhook uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.generation` (0 for a document that has none, as offline files).
    pub generation: i64,
    /// `metadata.uid` (none in offline files): tells a policy deleted and created again under
    /// the same name, whose generations count from 1 again, from the one before.
    pub uid: Option<String>,
    /// `spec.podSelector`, when it has one (a policy without one binds by name only).
    pub selector: Option<Selector>,
    /// `spec.allowPodAdditions` (default true).
    pub allow_pod_additions: bool,
    /// The rules.
    pub layer: Layer,
}

/// A policy that cannot be used: the policy, the field, the value and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The policy's name.
    pub policy: String,
    /// The field (`spec.containers[web].read[2]`).
    pub field: String,
    /// The offending value, as JSON.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LandlockPolicy {:?}: {}: value {}: {}",
            self.policy,
            self.field,
            limits::quoted(&self.value),
            self.problem
        )
    }
}

/// The rules of one level, as written (checked by [`compile`]).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rules {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    read_exec: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
    #[serde(default)]
    write_exec: Vec<String>,
    #[serde(default)]
    list: Vec<String>,
    #[serde(default)]
    bind_tcp: Vec<i64>,
    #[serde(default)]
    connect_tcp: Vec<i64>,
    #[serde(default)]
    bind_udp: Vec<i64>,
    #[serde(default)]
    connect_udp: Vec<i64>,
    mode: Option<String>,
    profile: Option<String>,
    discover: Option<String>,
    wrap_exec: Option<bool>,
    scope: Option<String>,
}

impl Rules {
    fn paths(&self, access: Access) -> &[String] {
        match access {
            Access::List => &self.list,
            Access::Ro => &self.read,
            Access::Rx => &self.read_exec,
            Access::Rw => &self.write,
            Access::Rwx => &self.write_exec,
        }
    }
}

/// The spec, as written.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    pod_selector: Option<LabelSelector>,
    allow_pod_additions: Option<bool>,
    default: Option<Value>,
    #[serde(default)]
    containers: Vec<Value>,
}

/// Reads the policy object `object` (metadata and spec) into what the webhook uses.
pub fn compile(object: &DynamicObject) -> Result<Compiled, PolicyError> {
    let name = object.metadata.name.clone().unwrap_or_default();
    let fail = |field: &str, value: &Value, problem: String| PolicyError {
        policy: name.clone(),
        field: field.to_owned(),
        value: value.to_string(),
        problem,
    };
    check_name(&name)
        .map_err(|problem| fail("metadata.name", &Value::from(name.clone()), problem))?;
    let spec_value = object.data.get("spec").cloned().unwrap_or(Value::Null);
    if !spec_value.is_object() {
        return Err(fail("spec", &spec_value, "expected an object".to_owned()));
    }
    let spec: Spec = serde_json::from_value(spec_value.clone())
        .map_err(|e| fail("spec", &spec_value, e.to_string()))?;
    let selector = spec
        .pod_selector
        .map(|s| {
            super::selector::compile(&s).map_err(|e| {
                fail(
                    "spec.podSelector",
                    &serde_json::to_value(&s).unwrap_or_default(),
                    e.to_string(),
                )
            })
        })
        .transpose()?;
    let mut layer = Layer::default();
    if let Some(default) = &spec.default {
        let rules: Rules = serde_json::from_value(default.clone())
            .map_err(|e| fail("spec.default", default, e.to_string()))?;
        layer.default = level(&rules, "spec.default", &fail)?;
    }
    if spec.containers.len() > MAX_CONTAINERS {
        return Err(fail(
            "spec.containers",
            &Value::from(spec.containers.len()),
            format!(
                "lists more than {MAX_CONTAINERS} containers; rules common to several belong in spec.default"
            ),
        ));
    }
    for (i, entry) in spec.containers.iter().enumerate() {
        let mut entry = entry.clone();
        let name = match entry.as_object_mut().and_then(|m| m.remove("name")) {
            Some(Value::String(name)) if !name.is_empty() => name,
            other => {
                return Err(fail(
                    &format!("spec.containers[{i}].name"),
                    &other.unwrap_or(Value::Null),
                    "every entry of spec.containers names its container".to_owned(),
                ));
            }
        };
        let field = format!("spec.containers[{name}]");
        if layer.containers.contains_key(&name) {
            return Err(fail(
                &field,
                &Value::String(name.clone()),
                "the container is listed twice".to_owned(),
            ));
        }
        let rules: Rules = serde_json::from_value(entry.clone())
            .map_err(|e| fail(&field, &entry, e.to_string()))?;
        let settings = level(&rules, &field, &fail)?;
        layer.containers.insert(name, settings);
    }
    Ok(Compiled {
        generation: object.metadata.generation.unwrap_or(0),
        uid: object.metadata.uid.clone(),
        name: name.clone(),
        selector,
        allow_pod_additions: spec.allow_pod_additions.unwrap_or(true),
        layer,
    })
}

/// One level's settings, every value checked as the annotation of the same name is.
fn level(
    rules: &Rules,
    at: &str,
    fail: &impl Fn(&str, &Value, String) -> PolicyError,
) -> Result<Settings, PolicyError> {
    let mut settings = Settings::default();
    let count: usize = Access::ALL.iter().map(|a| rules.paths(*a).len()).sum();
    if count > MAX_PATHS_PER_CONTAINER {
        return Err(fail(
            at,
            &Value::from(count),
            annotations::too_many_paths(count),
        ));
    }
    for access in Access::ALL {
        for (i, path) in rules.paths(access).iter().enumerate() {
            annotations::add_path(&mut settings, access, path).map_err(|problem| {
                fail(
                    &format!("{at}.{}[{i}]", access.policy_field()),
                    &Value::String(path.clone()),
                    problem,
                )
            })?;
        }
    }
    let ports = [
        ("bindTcp", BIND_TCP, &rules.bind_tcp),
        ("connectTcp", CONNECT_TCP, &rules.connect_tcp),
        ("bindUdp", BIND_UDP, &rules.bind_udp),
        ("connectUdp", CONNECT_UDP, &rules.connect_udp),
    ];
    for (field, key, list) in ports {
        for (i, port) in list.iter().enumerate() {
            // A negative number is a number out of range here, not "not a port number".
            let added = if *port < 0 {
                Err(init_shim::ValueError::new(
                    port.to_string(),
                    "port out of range (expected 1-65535)",
                )
                .to_string())
            } else {
                annotations::add_port(&mut settings, key, &port.to_string())
            };
            added.map_err(|problem| {
                fail(&format!("{at}.{field}[{i}]"), &Value::from(*port), problem)
            })?;
        }
    }
    let wrap_exec = rules.wrap_exec.map(|b| b.to_string());
    let scalars = [
        ("mode", MODE, rules.mode.as_ref()),
        ("profile", PROFILE, rules.profile.as_ref()),
        ("discover", DISCOVER, rules.discover.as_ref()),
        ("wrapExec", WRAP_EXEC, wrap_exec.as_ref()),
        ("scope", SCOPE, rules.scope.as_ref()),
    ];
    for (field, key, value) in scalars {
        if let Some(value) = value {
            annotations::set(&mut settings, key, value).map_err(|problem| {
                let shown = match field {
                    "wrapExec" => Value::Bool(value == "true"),
                    _ => Value::String(value.clone()),
                };
                fail(&format!("{at}.{field}"), &shown, problem)
            })?;
        }
    }
    Ok(settings)
}

/// Policies given as documents (offline `inject` and `review`), by namespace: every
/// `landlock-injector.io/v1alpha1` LandlockPolicy among `docs`; a policy without a namespace
/// counts for `default`, as `kubectl apply` would put it.
pub fn from_docs(docs: &[Value]) -> BTreeMap<String, Vec<DynamicObject>> {
    docs_of_kind(docs, KIND)
}

/// The `landlock-injector.io/v1alpha1` documents of `kind` among `docs`, by namespace.
pub fn docs_of_kind(docs: &[Value], kind: &str) -> BTreeMap<String, Vec<DynamicObject>> {
    let mut out: BTreeMap<String, Vec<DynamicObject>> = BTreeMap::new();
    let api_version = format!("{GROUP}/{VERSION}");
    for doc in docs {
        let is_policy = doc.get("kind").and_then(Value::as_str) == Some(kind)
            && doc.get("apiVersion").and_then(Value::as_str) == Some(api_version.as_str());
        if !is_policy {
            continue;
        }
        let Ok(object) = serde_json::from_value::<DynamicObject>(doc.clone()) else {
            continue;
        };
        let namespace = object
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        out.entry(namespace).or_default().push(object);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(spec: Value) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "landlock-injector.io/v1alpha1",
            "kind": "LandlockPolicy",
            "metadata": {"name": "web", "namespace": "shop", "generation": 3},
            "spec": spec,
        }))
        .expect("an object")
    }

    #[test]
    fn every_field_of_the_vocabulary_becomes_the_setting_of_its_annotation() {
        let compiled = compile(&object(serde_json::json!({
            "podSelector": {"matchLabels": {"app": "web"}},
            "allowPodAdditions": false,
            "default": {
                "read": ["/srv"], "readExec": ["/opt/tools"], "write": ["/data"],
                "writeExec": ["/scratch"], "list": ["/srv/www"],
                "bindTcp": [8080], "connectTcp": [5432], "bindUdp": [5353], "connectUdp": [53],
                "mode": "enforce", "profile": "minimal", "discover": "spec", "wrapExec": false,
                "scope": "required"
            },
            "containers": [{"name": "nginx", "write": ["/var/cache/nginx"], "mode": "dry-run"}]
        })))
        .expect("valid");
        assert_eq!((compiled.name.as_str(), compiled.generation), ("web", 3));
        assert!(!compiled.allow_pod_additions);
        assert!(compiled.selector.is_some());
        let d = &compiled.layer.default;
        let paths: Vec<_> = d
            .paths
            .iter()
            .map(|(a, p)| format!("{}:{}", a.name(), p.as_str()))
            .collect();
        assert_eq!(
            paths,
            [
                "list:/srv/www",
                "ro:/srv",
                "rx:/opt/tools",
                "rw:/data",
                "rwx:/scratch"
            ]
        );
        let ports = |s: &std::collections::BTreeSet<init_shim::Port>| {
            s.iter().map(|p| p.get()).collect::<Vec<_>>()
        };
        assert_eq!(ports(&d.bind_tcp), [8080]);
        assert_eq!(ports(&d.connect_tcp), [5432]);
        assert_eq!(ports(&d.bind_udp), [5353]);
        assert_eq!(ports(&d.connect_udp), [53]);
        assert_eq!(d.mode, Some(init_shim::Mode::Enforce));
        assert_eq!(d.profile, Some(init_shim::Profile::Minimal));
        assert_eq!(d.wrap_exec, Some(false));
        assert_eq!(d.scope, Some(init_shim::Scoping::Required));
        let nginx = &compiled.layer.containers["nginx"];
        assert_eq!(nginx.mode, Some(init_shim::Mode::DryRun));
        assert_eq!(nginx.paths.len(), 1);
    }

    #[test]
    fn every_bad_value_is_refused_naming_the_policy_the_field_and_the_value() {
        let cases = [
            (
                serde_json::json!({"default": {"read": ["/srv", "etc/app"]}}),
                r#"LandlockPolicy "web": spec.default.read[1]: value "\"etc/app\"": "etc/app": path must be absolute"#,
            ),
            (
                serde_json::json!({"containers": [{"name": "nginx", "writeExec": ["/a/../b"]}]}),
                r#"spec.containers[nginx].writeExec[0]: value "\"/a/../b\"": "/a/../b": path has a '..' element"#,
            ),
            (
                serde_json::json!({"default": {"list": ["/srv/"]}}),
                "spec.default.list[0]",
            ),
            (
                serde_json::json!({"default": {"connectTcp": [443, 70000]}}),
                r#"spec.default.connectTcp[1]: value "70000": "70000": port out of range"#,
            ),
            (
                serde_json::json!({"default": {"bindUdp": [0]}}),
                r#"spec.default.bindUdp[0]: value "0": "0": port out of range"#,
            ),
            (
                serde_json::json!({"default": {"mode": "strict"}}),
                r#"spec.default.mode: value "\"strict\"": "strict": unknown mode"#,
            ),
            (
                serde_json::json!({"default": {"profile": "fat"}}),
                "unknown profile",
            ),
            (
                serde_json::json!({"default": {"discover": "no"}}),
                r#"spec.default.discover: value "\"no\"": expected "true", "false", "spec""#,
            ),
            (
                serde_json::json!({"default": {"scope": "always"}}),
                "unknown scope",
            ),
            (
                serde_json::json!({"default": {"reads": ["/etc"]}}),
                r#"spec.default: value "{\"reads\":[\"/etc\"]}": unknown field `reads`, expected one of `read`"#,
            ),
            (
                serde_json::json!({"containers": [{"write": ["/data"]}]}),
                "spec.containers[0].name: value \"null\": every entry of spec.containers names its container",
            ),
            (
                serde_json::json!({"containers": [{"name": "a"}, {"name": "a"}]}),
                "spec.containers[a]: value \"\\\"a\\\"\": the container is listed twice",
            ),
            (
                serde_json::json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "Sometimes"}]}}),
                "spec.podSelector",
            ),
        ];
        for (spec, expected) in cases {
            let message = compile(&object(spec.clone()))
                .expect_err("should be refused")
                .to_string();
            assert!(
                message.contains(expected),
                "{spec}:\n  got      {message}\n  expected {expected}"
            );
        }
        let many: Vec<String> = (0..=MAX_PATHS_PER_CONTAINER)
            .map(|i| format!("/p{i}"))
            .collect();
        let message = compile(&object(serde_json::json!({"default": {"read": many}})))
            .expect_err("too many")
            .to_string();
        assert!(message.contains("paths per container"), "{message}");
        // One entry over the CRD's maxItems: the webhook refuses it too (a policy written
        // while the CRD was older, or offline documents, never reach the API server's check).
        let entries: Vec<_> = (0..=MAX_CONTAINERS)
            .map(|i| serde_json::json!({"name": format!("c{i}"), "read": ["/srv"]}))
            .collect();
        let message = compile(&object(serde_json::json!({"containers": entries})))
            .expect_err("too many containers")
            .to_string();
        assert!(
            message.contains(&format!(
                "spec.containers: value \"{}\": lists more than {MAX_CONTAINERS} containers",
                MAX_CONTAINERS + 1
            )),
            "{message}"
        );
        let entries: Vec<_> = (0..MAX_CONTAINERS)
            .map(|i| serde_json::json!({"name": format!("c{i}")}))
            .collect();
        assert!(compile(&object(serde_json::json!({"containers": entries}))).is_ok());
    }

    #[test]
    fn names_are_checked_as_object_names() {
        for good in ["web", "web-1.prod", "a"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        assert_eq!(check_name(&"x".repeat(MAX_NAME)), Ok(()));
        for bad in [
            "",
            "Web",
            "-web",
            "web_1",
            "a..b",
            &"x".repeat(MAX_NAME + 1),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let mut long = object(serde_json::json!({}));
        long.metadata.name = Some("x".repeat(MAX_NAME + 1));
        let message = compile(&long).expect_err("too long").to_string();
        assert!(
            message.contains("metadata.name: value") && message.contains("at most 63 characters"),
            "{message}"
        );
    }

    #[test]
    fn documents_are_grouped_by_namespace_and_other_kinds_ignored() {
        let docs = vec![
            serde_json::json!({"apiVersion": "landlock-injector.io/v1alpha1", "kind": "LandlockPolicy",
                "metadata": {"name": "a", "namespace": "shop"}, "spec": {}}),
            serde_json::json!({"apiVersion": "landlock-injector.io/v1alpha1", "kind": "LandlockPolicy",
                "metadata": {"name": "b"}, "spec": {}}),
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        ];
        let by_namespace = from_docs(&docs);
        assert_eq!(by_namespace["shop"].len(), 1);
        assert_eq!(by_namespace["default"].len(), 1);
        assert_eq!(by_namespace.len(), 2);
    }
}

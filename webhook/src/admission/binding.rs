//! Which LandlockPolicy an opted-in pod gets, pure (the policies of its namespace are given):
//!
//! | the pod | policies of its namespace | result |
//! |---|---|---|
//! | names none (`landlock-injector.io/policy`) | none selects it (`spec.podSelector`) | no policy: its annotations only |
//! | names none | one selects it | that one |
//! | names `P` | `P` exists; no other selects it | `P` |
//! | names `P` | `P` does not exist | denied, naming `P` and the namespace |
//! | either | two or more apply (by name or selector) | denied, naming them all |
//! | either | the policies could not be read | denied (the webhook cannot know which applies) |
//! | either | an applying policy, or a selector that cannot be evaluated, is invalid | denied with the policy's error |
//!
//! A bound policy with `allowPodAdditions: false` refuses every setting annotation of the pod
//! (paths, ports, mode, profile, discover, scope, wrap-exec, at pod or container level),
//! naming the policy and the keys: the platform owns the rules, and a pod-level `mode:
//! dry-run` would undo them as surely as a path would widen them.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::core::{DynamicObject, SelectorExt as _};

use crate::admission::annotations::{APPLIED_POLICY, INJECT, POLICY, PREFIX, RECORDING, STATUS};
use crate::admission::limits;
use crate::admission::policy::{self, Compiled, PolicyError};

/// The LandlockPolicies (or LandlockRecordings) of a namespace, or why they could not be read.
pub type Policies<'a> = Result<&'a [Arc<DynamicObject>], &'a str>;

/// What a namespace holds that binds its pods, as the decision gets it.
#[derive(Debug, Clone, Copy)]
pub struct Objects<'a> {
    /// Its LandlockPolicies.
    pub policies: Policies<'a>,
    /// Its LandlockRecordings.
    pub recordings: Policies<'a>,
    /// The time recordings are judged active at.
    pub now: std::time::SystemTime,
}

impl<'a> Objects<'a> {
    /// `policies`, no recordings, now.
    pub fn policies(policies: Policies<'a>) -> Self {
        Self {
            policies,
            recordings: Ok(&[]),
            now: std::time::SystemTime::now(),
        }
    }
}

/// Why a pod cannot be bound. Every variant names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// The namespace's policies could not be read.
    #[error(
        "cannot read the LandlockPolicies of namespace {namespace:?} ({cause}), so the webhook cannot tell which applies to this pod; it is refused rather than admitted without one: create it again in a moment"
    )]
    Unavailable {
        /// The namespace.
        namespace: String,
        /// Why.
        cause: String,
    },
    /// The pod names a policy the namespace does not have.
    #[error(
        "annotation \"{PREFIX}{POLICY}\": the pod names LandlockPolicy {name:?}, which namespace {namespace:?} does not have (it has {known}); create the policy first or correct the name"
    )]
    Missing {
        /// The name.
        name: String,
        /// The namespace.
        namespace: String,
        /// The policies it has.
        known: String,
    },
    /// More than one policy applies.
    #[error(
        "{} apply to this pod (a pod gets at most one LandlockPolicy); narrow their spec.podSelector or remove the {PREFIX}{POLICY} annotation", describe(.0)
    )]
    Conflict(Vec<(String, &'static str)>),
    /// An applying policy cannot be used.
    #[error("{0}; pods it applies to are refused until it is corrected")]
    Invalid(PolicyError),
    /// The pod opts out of a policy that does not allow it.
    #[error(
        "LandlockPolicy {policy:?} applies to this pod ({how}) and has allowPodAdditions: false, so the pod cannot opt out of it with {PREFIX}{INJECT}: \"false\": remove the opt-out, or ask the policy's owners to narrow its spec.podSelector"
    )]
    OptedOut {
        /// The policy.
        policy: String,
        /// How it applies: named by the pod, or its selector.
        how: &'static str,
    },
    /// The policy refuses the pod's own settings.
    #[error(
        "LandlockPolicy {policy:?} applies to this pod and has allowPodAdditions: false, so the pod's own {keys} are refused: remove them, or ask the policy's owners to add what the pod needs"
    )]
    Additions {
        /// The policy.
        policy: String,
        /// The annotation keys.
        keys: String,
    },
}

fn describe(applying: &[(String, &'static str)]) -> String {
    let names: Vec<String> = applying
        .iter()
        .take(8)
        .map(|(name, how)| format!("LandlockPolicy {} ({how})", limits::quoted(name)))
        .collect();
    let more = applying.len().saturating_sub(8);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{}{more}", names.join(", "))
}

/// The policy for a pod with `labels` that names `named`, in `namespace` whose policies are
/// `policies`; `None` when none applies.
pub fn bind(
    labels: &BTreeMap<String, String>,
    named: Option<&str>,
    namespace: &str,
    policies: Policies<'_>,
) -> Result<Option<Compiled>, BindError> {
    let policies = policies.map_err(|cause| BindError::Unavailable {
        namespace: namespace.to_owned(),
        cause: cause.to_owned(),
    })?;
    let in_namespace: Vec<&DynamicObject> = policies
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == namespace)
        .collect();
    let mut applying: Vec<(&DynamicObject, &'static str)> = Vec::new();
    let mut found_named = false;
    for &object in &in_namespace {
        let name = object.metadata.name.as_deref().unwrap_or_default();
        if Some(name) == named {
            found_named = true;
            applying.push((object, "named by the pod"));
        } else if selects(object, labels)? {
            applying.push((object, "its podSelector matches"));
        }
    }
    if let Some(name) = named
        && !found_named
    {
        let known = in_namespace.iter().filter_map(|p| p.metadata.name.clone());
        let known = limits::listed(known, 10);
        return Err(BindError::Missing {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            known: if known.is_empty() {
                "none".to_owned()
            } else {
                known
            },
        });
    }
    match applying.as_slice() {
        [] => Ok(None),
        [(object, _)] => policy::compile(object)
            .map(Some)
            .map_err(BindError::Invalid),
        _ => Err(BindError::Conflict(
            applying
                .iter()
                .map(|(o, how)| (o.metadata.name.clone().unwrap_or_default(), *how))
                .collect(),
        )),
    }
}

/// Refuses a pod that opted out itself (`inject: "false"`) when a policy that does not allow
/// additions applies to it: the platform that owns the policy, not the pod, decides whether
/// it runs sandboxed. Policies that allow additions are not looked at (a pod may opt out of
/// those); when the policies cannot be read, the pod is admitted as it asked, with a warning.
pub fn check_opt_out(
    labels: &BTreeMap<String, String>,
    named: Option<&str>,
    namespace: &str,
    policies: Policies<'_>,
) -> Result<Option<String>, BindError> {
    let policies = match policies {
        Ok(policies) => policies,
        Err(cause) => {
            return Ok(Some(format!(
                "landlock-injector: cannot read the LandlockPolicies of namespace {namespace:?} ({cause}): a policy with allowPodAdditions: false that applies to this pod was not checked"
            )));
        }
    };
    for object in policies.iter().map(|p| p.as_ref()) {
        if object.metadata.namespace.as_deref().unwrap_or("default") != namespace
            || object.data.pointer("/spec/allowPodAdditions")
                != Some(&serde_json::Value::Bool(false))
        {
            continue;
        }
        let name = object.metadata.name.as_deref().unwrap_or_default();
        let how = if Some(name) == named {
            "named by the pod"
        } else if selects(object, labels)? {
            "its podSelector matches"
        } else {
            continue;
        };
        return Err(BindError::OptedOut {
            policy: name.to_owned(),
            how,
        });
    }
    Ok(None)
}

/// Whether `object`'s `spec.podSelector` selects pods with `labels` (a policy without one
/// selects nothing; `{}` selects every pod of the namespace, as for NetworkPolicies).
fn selects(object: &DynamicObject, labels: &BTreeMap<String, String>) -> Result<bool, BindError> {
    let Some(selector) = object.data.pointer("/spec/podSelector") else {
        return Ok(false);
    };
    if selector.is_null() {
        return Ok(false);
    }
    let invalid = |problem: String| {
        BindError::Invalid(PolicyError {
            policy: object.metadata.name.clone().unwrap_or_default(),
            field: "spec.podSelector".to_owned(),
            value: selector.to_string(),
            problem,
        })
    };
    let parsed: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector =
        serde_json::from_value(selector.clone()).map_err(|e| invalid(e.to_string()))?;
    let selector = super::selector::compile(&parsed).map_err(|e| invalid(e.to_string()))?;
    Ok(selector.matches(labels))
}

/// Refuses the pod's own settings when `policy` does not allow additions.
pub fn check_additions(
    policy: &Compiled,
    annotations: &BTreeMap<String, String>,
) -> Result<(), BindError> {
    if policy.allow_pod_additions {
        return Ok(());
    }
    let own: Vec<&str> = annotations
        .keys()
        .filter(|k| {
            k.strip_prefix(PREFIX).is_some_and(|rest| {
                ![INJECT, STATUS, POLICY, APPLIED_POLICY, RECORDING].contains(&rest)
            })
        })
        .map(String::as_str)
        .collect();
    if own.is_empty() {
        return Ok(());
    }
    Err(BindError::Additions {
        policy: policy.name.clone(),
        keys: format!("annotations {}", limits::listed(own, 8)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(name: &str, namespace: &str, spec: serde_json::Value) -> Arc<DynamicObject> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "landlock-injector.io/v1alpha1",
                "kind": "LandlockPolicy",
                "metadata": {"name": name, "namespace": namespace, "generation": 2},
                "spec": spec,
            }))
            .expect("an object"),
        )
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn web_policies() -> Vec<Arc<DynamicObject>> {
        vec![
            policy(
                "web",
                "shop",
                json!({"podSelector": {"matchLabels": {"app": "web"}}, "default": {"read": ["/srv"]}}),
            ),
            policy("by-name", "shop", json!({"default": {"write": ["/data"]}})),
            policy(
                "elsewhere",
                "other",
                json!({"podSelector": {}, "default": {"read": ["/x"]}}),
            ),
        ]
    }

    fn bound(
        pod: &[(&str, &str)],
        named: Option<&str>,
        policies: &[Arc<DynamicObject>],
    ) -> Result<Option<String>, String> {
        bind(&labels(pod), named, "shop", Ok(policies))
            .map(|p| p.map(|p| format!("{}@{}", p.name, p.generation)))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_pod_gets_the_policy_that_selects_it_or_the_one_it_names() {
        let policies = web_policies();
        assert_eq!(
            bound(&[("app", "web")], None, &policies),
            Ok(Some("web@2".to_owned()))
        );
        assert_eq!(
            bound(&[("app", "db")], Some("by-name"), &policies),
            Ok(Some("by-name@2".to_owned()))
        );
        // Naming the policy that also selects the pod is one policy, not two.
        assert_eq!(
            bound(&[("app", "web")], Some("web"), &policies),
            Ok(Some("web@2".to_owned()))
        );
        // Nothing selects it, and another namespace's `{}` selector does not reach here.
        assert_eq!(bound(&[("app", "db")], None, &policies), Ok(None));
        // A policy without a podSelector binds by name only.
        assert_eq!(bound(&[], None, &policies), Ok(None));
    }

    #[test]
    fn an_empty_selector_selects_every_pod_of_its_namespace() {
        let policies = vec![policy("all", "shop", json!({"podSelector": {}}))];
        assert_eq!(
            bound(&[("any", "thing")], None, &policies),
            Ok(Some("all@2".to_owned()))
        );
    }

    #[test]
    fn missing_conflicting_unreadable_and_invalid_policies_are_denials_that_name_them() {
        let policies = web_policies();
        let missing = bound(&[], Some("nope"), &policies).expect_err("missing");
        assert!(
            missing.contains(r#"names LandlockPolicy "nope", which namespace "shop" does not have (it has "web", "by-name")"#),
            "{missing}"
        );
        let two = bound(&[("app", "web")], Some("by-name"), &policies).expect_err("two");
        assert!(
            two.contains(r#"LandlockPolicy "web" (its podSelector matches)"#)
                && two.contains(r#"LandlockPolicy "by-name" (named by the pod)"#),
            "{two}"
        );
        let mut overlapping = web_policies();
        overlapping.push(policy(
            "web-too",
            "shop",
            json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}}),
        ));
        let two = bound(&[("app", "web")], None, &overlapping).expect_err("two select");
        assert!(
            two.contains(r#""web" (its podSelector matches)"#) && two.contains(r#""web-too""#),
            "{two}"
        );
        let unreadable = bind(&labels(&[]), None, "shop", Err("the watch is starting"))
            .expect_err("unreadable")
            .to_string();
        assert!(
            unreadable.contains(
                r#"cannot read the LandlockPolicies of namespace "shop" (the watch is starting)"#
            ),
            "{unreadable}"
        );
        let broken = vec![policy(
            "broken",
            "shop",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "default": {"read": ["srv"]}}),
        )];
        let invalid = bound(&[("app", "web")], None, &broken).expect_err("invalid");
        assert!(
            invalid.contains(r#"LandlockPolicy "broken": spec.default.read[0]: value "\"srv\"""#)
                && invalid.contains("refused until it is corrected"),
            "{invalid}"
        );
        // A policy whose selector cannot be evaluated may select the pod: refused too.
        let bad_selector = vec![policy(
            "odd",
            "shop",
            json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "Sometimes"}]}}),
        )];
        let invalid = bound(&[("app", "web")], None, &bad_selector).expect_err("selector");
        assert!(
            invalid.contains(r#"LandlockPolicy "odd": spec.podSelector"#),
            "{invalid}"
        );
    }

    #[test]
    fn a_closed_policy_refuses_every_setting_annotation_and_nothing_else() {
        let closed = policy::compile(&policy(
            "web",
            "shop",
            json!({"allowPodAdditions": false, "default": {"read": ["/srv"]}}),
        ))
        .expect("valid");
        let annotations = |keys: &[&str]| -> BTreeMap<String, String> {
            keys.iter()
                .map(|k| (format!("{PREFIX}{k}"), "x".to_owned()))
                .collect()
        };
        for allowed in [&["inject", "status", "policy", "applied-policy"][..], &[]] {
            assert_eq!(check_additions(&closed, &annotations(allowed)), Ok(()));
        }
        for refused in ["read", "web.write", "mode", "connect-tcp", "web.profile"] {
            let message = check_additions(&closed, &annotations(&["inject", refused]))
                .expect_err("refused")
                .to_string();
            assert!(
                message.contains(
                    r#"LandlockPolicy "web" applies to this pod and has allowPodAdditions: false"#
                ) && message.contains(&format!("\"{PREFIX}{refused}\"")),
                "{refused}: {message}"
            );
        }
        let open = policy::compile(&policy("web", "shop", json!({}))).expect("valid");
        assert_eq!(check_additions(&open, &annotations(&["read"])), Ok(()));
    }
}

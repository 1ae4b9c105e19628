//! Whether a pod is wrapped at all, decided from its metadata and its namespace's only, so a
//! pod that did not opt in is answered without reading its spec.
//!
//! | switch | `"true"` | `"false"` | anything else |
//! |---|---|---|---|
//! | pod label `landlock-injector.io/inject` | opts in | opts out (overrides the namespace) | denied, naming it |
//! | pod annotation `landlock-injector.io/inject` | opts in | opts out (overrides the namespace) | denied, naming it |
//! | namespace label `landlock-injector.io/inject` | opts in every pod that does not say `"false"` | nothing | denied, naming it |
//!
//! A pod that names a LandlockPolicy (annotation `landlock-injector.io/policy`) asks for the
//! sandbox too: it is opted in unless its own label or annotation says `"false"`.
//!
//! A pod label and annotation that disagree are denied, naming both. The namespace annotations
//! `landlock-injector.io/mode` and `landlock-injector.io/profile` are the defaults of its pods
//! (their own annotations override them). Pods in exempt namespaces are never wrapped; when
//! they ask to be, the answer carries a warning.

use std::collections::BTreeMap;

use init_shim::{Mode, Profile};
use serde::Deserialize;

use crate::admission::annotations::{Defaults, INJECT, MODE, POLICY, PREFIX, PROFILE, STATUS};
use crate::admission::config::Config;

/// The pod's metadata: all the opt-in decision reads (the spec is skipped while parsing).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMeta {
    /// `metadata.name` (empty for pods created with `generateName`).
    #[serde(default)]
    pub name: Option<String>,
    /// `metadata.generateName`.
    #[serde(default)]
    pub generate_name: Option<String>,
    /// `metadata.namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `metadata.uid` (set by the API server before admission).
    #[serde(default)]
    pub uid: Option<String>,
    /// `metadata.labels`.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// `metadata.annotations`.
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A pod object with only its metadata parsed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodHead {
    /// `metadata`, when the object has it.
    #[serde(default)]
    pub metadata: Option<PodMeta>,
}

impl PodHead {
    /// The pod's name, or its `generateName` followed by `*`, for log lines.
    pub fn name(&self) -> String {
        let meta = self.meta();
        match (&meta.name, &meta.generate_name) {
            (Some(name), _) if !name.is_empty() => name.clone(),
            (_, Some(generate)) => format!("{generate}*"),
            _ => String::new(),
        }
    }

    /// The metadata, or empty metadata.
    pub fn meta(&self) -> &PodMeta {
        static EMPTY: PodMeta = PodMeta {
            name: None,
            generate_name: None,
            namespace: None,
            uid: None,
            labels: None,
            annotations: None,
        };
        self.metadata.as_ref().unwrap_or(&EMPTY)
    }
}

/// A namespace's labels and annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceMeta {
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// Which switch opted a pod in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// The pod label.
    PodLabel,
    /// The pod annotation.
    PodAnnotation,
    /// The namespace label.
    Namespace,
    /// The pod names a LandlockPolicy.
    PolicyAnnotation,
}

/// The opt-in decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptIn {
    /// Wrap the pod, with the namespace's defaults.
    In {
        /// What opted it in.
        by: Switch,
        /// The namespace's mode and profile.
        defaults: Defaults,
    },
    /// Leave the pod unchanged.
    Out {
        /// Why.
        reason: String,
        /// The pod itself said `"false"` (a LandlockPolicy with `allowPodAdditions: false`
        /// that applies to it refuses that).
        by_pod: bool,
        /// Things the user should know.
        warnings: Vec<String>,
    },
}

/// A switch with a value other than `"true"`/`"false"`, or two that disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptInError {
    /// A pod or namespace switch with a value that is neither `"true"` nor `"false"`.
    #[error(
        "{what} {key:?}: value {value:?}: expected \"true\" or \"false\"; the pod is not injected with any other value"
    )]
    Value {
        /// `pod label`, `pod annotation`, `namespace label`, `namespace annotation`.
        what: &'static str,
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// The pod label and annotation disagree.
    #[error(
        "pod label {key:?} is {label:?} but pod annotation {key:?} is {annotation:?}: make them agree or remove one"
    )]
    Disagree {
        /// The key (the same for both).
        key: String,
        /// The label's value.
        label: String,
        /// The annotation's value.
        annotation: String,
    },
    /// A namespace default that the shim would not accept.
    #[error("namespace {namespace:?}: annotation {key:?}: {problem}")]
    Default {
        /// The namespace.
        namespace: String,
        /// The annotation key.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// The switch key, for labels and annotations alike.
pub fn switch_key() -> String {
    format!("{PREFIX}{INJECT}")
}

fn switch(
    map: Option<&BTreeMap<String, String>>,
    what: &'static str,
) -> Result<Option<bool>, OptInError> {
    let key = switch_key();
    match map.and_then(|m| m.get(&key)).map(String::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(value) => Err(OptInError::Value {
            what,
            key,
            value: value.to_owned(),
        }),
    }
}

/// What the pod itself says: `Some(true)` in, `Some(false)` out, `None` silent (the namespace
/// decides), with the switch that said it.
pub fn pod_switch(meta: &PodMeta) -> Result<Option<(bool, Switch)>, OptInError> {
    let label = switch(meta.labels.as_ref(), "pod label")?;
    let annotation = switch(meta.annotations.as_ref(), "pod annotation")?;
    match (label, annotation) {
        (Some(l), Some(a)) if l != a => Err(OptInError::Disagree {
            key: switch_key(),
            label: l.to_string(),
            annotation: a.to_string(),
        }),
        (Some(l), _) => Ok(Some((l, Switch::PodLabel))),
        (None, Some(a)) => Ok(Some((a, Switch::PodAnnotation))),
        (None, None) => Ok(None),
    }
}

/// Whether the pod's namespace must be looked up to decide: unless the pod opted out itself or
/// the namespace is exempt.
pub fn needs_namespace(meta: &PodMeta, namespace: &str, config: &Config) -> bool {
    !config.exempt(namespace) && !matches!(pod_switch(meta), Ok(Some((false, _))) | Err(_))
}

/// Whether the pod names a LandlockPolicy.
fn names_policy(meta: &PodMeta) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(&format!("{PREFIX}{POLICY}")))
}

/// Whether the pod carries settings under the prefix besides the switch and the status.
fn has_settings(meta: &PodMeta) -> bool {
    meta.annotations.iter().flatten().any(|(k, _)| {
        k.strip_prefix(PREFIX)
            .is_some_and(|rest| rest != INJECT && rest != STATUS)
    })
}

fn defaults(namespace: &str, ns: &NamespaceMeta) -> Result<Defaults, OptInError> {
    let get = |key: &str| ns.annotations.get(&format!("{PREFIX}{key}"));
    let fail = |key: &str, problem: String| OptInError::Default {
        namespace: namespace.to_owned(),
        key: format!("{PREFIX}{key}"),
        problem,
    };
    Ok(Defaults {
        mode: get(MODE)
            .map(|v| Mode::parse(v).map_err(|e| fail(MODE, e.to_string())))
            .transpose()?,
        profile: get(PROFILE)
            .map(|v| Profile::parse(v).map_err(|e| fail(PROFILE, e.to_string())))
            .transpose()?,
    })
}

/// Decides from the pod's metadata, its namespace's name and (when looked up; `None` when it
/// could not be) the namespace's metadata.
pub fn decide(
    meta: &PodMeta,
    namespace: &str,
    ns: Option<&NamespaceMeta>,
    config: &Config,
) -> Result<OptIn, OptInError> {
    let pod = pod_switch(meta)?;
    let out = |reason: &str, by_pod: bool, warnings: Vec<String>| {
        Ok(OptIn::Out {
            reason: reason.to_owned(),
            by_pod,
            warnings,
        })
    };
    if config.exempt(namespace) {
        let warnings = if matches!(pod, Some((true, _))) || has_settings(meta) {
            vec![format!(
                "landlock-injector: pods in namespace {namespace:?} are never sandboxed; the {PREFIX}* label and annotations are ignored"
            )]
        } else {
            vec![]
        };
        return out("exempt namespace", false, warnings);
    }
    let by = match pod {
        Some((true, by)) => by,
        Some((false, _)) => {
            let warnings = if has_settings(meta) {
                vec![format!(
                    "landlock-injector: {} is \"false\", so the other {PREFIX}* annotations have no effect and the pod is NOT sandboxed",
                    switch_key()
                )]
            } else {
                vec![]
            };
            return out("opted out", true, warnings);
        }
        None if names_policy(meta) => Switch::PolicyAnnotation,
        None => match switch(ns.map(|n| &n.labels), "namespace label")? {
            Some(true) => Switch::Namespace,
            _ => {
                let warnings = if has_settings(meta) {
                    vec![format!(
                        "landlock-injector: neither the pod (label or annotation {key}) nor its namespace (label {key}) opts in, so the other {PREFIX}* annotations have no effect and the pod is NOT sandboxed",
                        key = switch_key()
                    )]
                } else {
                    vec![]
                };
                return out("not opted in", false, warnings);
            }
        },
    };
    let defaults = match ns {
        Some(ns) => defaults(namespace, ns)?,
        None => Defaults::default(),
    };
    Ok(OptIn::In { by, defaults })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> PodMeta {
        let map = |pairs: &[(&str, &str)]| {
            (!pairs.is_empty()).then(|| {
                pairs
                    .iter()
                    .map(|(k, v)| (format!("{PREFIX}{k}"), (*v).to_owned()))
                    .collect()
            })
        };
        PodMeta {
            labels: map(labels),
            annotations: map(annotations),
            ..PodMeta::default()
        }
    }

    fn ns(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> NamespaceMeta {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (format!("{PREFIX}{k}"), (*v).to_owned()))
                .collect()
        };
        NamespaceMeta {
            labels: map(labels),
            annotations: map(annotations),
        }
    }

    fn config() -> Config {
        Config {
            shim_image: "shim".into(),
            namespace: "landlock-injector".into(),
        }
    }

    fn by(result: Result<OptIn, OptInError>) -> Option<Switch> {
        match result.expect("decided") {
            OptIn::In { by, .. } => Some(by),
            OptIn::Out { .. } => None,
        }
    }

    #[test]
    fn each_switch_opts_in_and_false_overrides_the_namespace() {
        let plain = NamespaceMeta::default();
        let opted = ns(&[("inject", "true")], &[]);
        let cases = [
            (
                meta(&[("inject", "true")], &[]),
                &plain,
                Some(Switch::PodLabel),
            ),
            (
                meta(&[], &[("inject", "true")]),
                &plain,
                Some(Switch::PodAnnotation),
            ),
            (
                meta(&[("inject", "true")], &[("inject", "true")]),
                &plain,
                Some(Switch::PodLabel),
            ),
            (meta(&[], &[]), &opted, Some(Switch::Namespace)),
            (
                meta(&[], &[("policy", "web")]),
                &plain,
                Some(Switch::PolicyAnnotation),
            ),
            (
                meta(&[("inject", "false")], &[("policy", "web")]),
                &opted,
                None,
            ),
            (meta(&[("inject", "false")], &[]), &opted, None),
            (meta(&[], &[("inject", "false")]), &opted, None),
            (meta(&[], &[]), &plain, None),
        ];
        for (pod, namespace, want) in cases {
            assert_eq!(
                by(decide(&pod, "apps", Some(namespace), &config())),
                want,
                "{pod:?} in {namespace:?}"
            );
        }
        // Without namespace information only the pod's own switches count.
        assert_eq!(by(decide(&meta(&[], &[]), "apps", None, &config())), None);
    }

    #[test]
    fn bad_values_and_disagreements_are_denied_naming_them() {
        let cases = [
            (
                meta(&[("inject", "yes")], &[]),
                NamespaceMeta::default(),
                r#"pod label "landlock-injector.io/inject": value "yes": expected "true" or "false""#,
            ),
            (
                meta(&[], &[("inject", "enabled")]),
                NamespaceMeta::default(),
                r#"pod annotation "landlock-injector.io/inject": value "enabled""#,
            ),
            (
                meta(&[("inject", "true")], &[("inject", "false")]),
                NamespaceMeta::default(),
                r#"pod label "landlock-injector.io/inject" is "true" but pod annotation "landlock-injector.io/inject" is "false""#,
            ),
            (
                meta(&[], &[]),
                ns(&[("inject", "on")], &[]),
                r#"namespace label "landlock-injector.io/inject": value "on""#,
            ),
            (
                meta(&[("inject", "true")], &[]),
                ns(&[], &[("profile", "fat")]),
                r#"namespace "apps": annotation "landlock-injector.io/profile": "fat": unknown profile"#,
            ),
        ];
        for (pod, namespace, want) in cases {
            let err = decide(&pod, "apps", Some(&namespace), &config())
                .expect_err("denied")
                .to_string();
            assert!(err.contains(want), "got {err}\nwant {want}");
        }
    }

    #[test]
    fn namespace_defaults_and_exempt_namespaces() {
        let namespace = ns(
            &[("inject", "true")],
            &[("mode", "enforce"), ("profile", "minimal")],
        );
        match decide(&meta(&[], &[]), "apps", Some(&namespace), &config()) {
            Ok(OptIn::In { defaults, .. }) => assert_eq!(
                defaults,
                Defaults {
                    mode: Some(Mode::Enforce),
                    profile: Some(Profile::Minimal)
                }
            ),
            other => panic!("{other:?}"),
        }
        for exempt in ["kube-system", "landlock-injector"] {
            match decide(&meta(&[("inject", "true")], &[]), exempt, None, &config()) {
                Ok(OptIn::Out { warnings, .. }) => {
                    assert!(warnings[0].contains("never sandboxed"), "{warnings:?}")
                }
                other => panic!("{other:?}"),
            }
            assert!(!needs_namespace(&meta(&[], &[]), exempt, &config()));
        }
        assert!(needs_namespace(&meta(&[], &[]), "apps", &config()));
        assert!(!needs_namespace(
            &meta(&[("inject", "false")], &[]),
            "apps",
            &config()
        ));
        match decide(&meta(&[], &[("read", "/srv")]), "apps", None, &config()) {
            Ok(OptIn::Out { warnings, .. }) => {
                assert!(warnings[0].contains("NOT sandboxed"), "{warnings:?}")
            }
            other => panic!("{other:?}"),
        }
    }
}

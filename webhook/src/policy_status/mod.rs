//! The status of each LandlockPolicy: how many running pods were admitted with it, and which of
//! them run an older generation (their sandbox is the policy as it was when they started:
//! nothing restarts on its own, see docs/policies.md *Rolling out a changed policy*).
//!
//! A bound pod says what it runs with what the webhook wrote at admission: the label
//! `landlock-injector.io/applied-policy: NAME` (what [`writer`] selects by) and the annotation
//! `landlock-injector.io/applied-policy: NAME@GENERATION`. This module is the pure part, the
//! counting; [`writer`] keeps the pods and the policies in memory and writes what changed.

pub mod writer;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;
use serde_json::Value;

use crate::admission::annotations::{APPLIED_POLICY, PREFIX};

/// At most this many pod names in `status.outdated` (the CRD's `maxItems`); the count is
/// always whole.
pub const MAX_OUTDATED_NAMES: usize = 100;

/// The label (and annotation) key the webhook records a bound pod's policy under.
pub fn key() -> String {
    format!("{PREFIX}{APPLIED_POLICY}")
}

/// A running pod's record of the policy it was admitted with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// The pod's namespace (the policy's: binding is within a namespace).
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The policy's name.
    pub policy: String,
    /// The policy's generation the pod was admitted with.
    pub generation: i64,
}

/// What `pod` records, when it runs (pods that finished, or that the webhook did not bind, are
/// not counted: a label or annotation the webhook did not write both, agreeing, is not its
/// record).
pub fn bound(pod: &Pod) -> Option<Bound> {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return None;
    }
    let key = key();
    let meta = &pod.metadata;
    let label = meta.labels.as_ref()?.get(&key)?;
    let (name, generation) = meta.annotations.as_ref()?.get(&key)?.rsplit_once('@')?;
    if name != label {
        return None;
    }
    Some(Bound {
        namespace: meta.namespace.clone()?,
        pod: meta.name.clone()?,
        policy: name.to_owned(),
        generation: generation.parse().ok()?,
    })
}

/// A LandlockPolicy's `status`, as written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The generation counted against.
    pub observed_generation: i64,
    /// Running pods admitted with any generation of the policy.
    pub pods: usize,
    /// Those admitted with another generation than `observed_generation`.
    pub outdated_pods: usize,
    /// Their names, sorted, at most [`MAX_OUTDATED_NAMES`].
    pub outdated: Vec<String>,
}

/// A policy's identity: namespace, name.
pub type PolicyKey = (String, String);

/// The status of every policy in `policies` (key and current generation) from the `pods` that
/// record one; a policy no pod runs has a zero status. Pods recording a policy that no longer
/// exists are not counted anywhere.
pub fn compute(policies: &[(PolicyKey, i64)], pods: &[Bound]) -> BTreeMap<PolicyKey, Status> {
    let mut statuses: BTreeMap<PolicyKey, Status> = policies
        .iter()
        .map(|(key, generation)| {
            (
                key.clone(),
                Status {
                    observed_generation: *generation,
                    ..Status::default()
                },
            )
        })
        .collect();
    for pod in pods {
        let Some(status) = statuses.get_mut(&(pod.namespace.clone(), pod.policy.clone())) else {
            continue;
        };
        status.pods += 1;
        // Another generation, older or (a policy deleted and created again) newer.
        if pod.generation != status.observed_generation {
            status.outdated_pods += 1;
            status.outdated.push(pod.pod.clone());
        }
    }
    for status in statuses.values_mut() {
        status.outdated.sort();
        status.outdated.truncate(MAX_OUTDATED_NAMES);
    }
    statuses
}

/// Whether `current` (the policy's `status` as stored, if any) differs from `wanted`: only then
/// is it written, so that several webhook replicas computing the same status write it once.
pub fn needs_write(current: Option<&Value>, wanted: &Status) -> bool {
    let wanted = serde_json::to_value(wanted).unwrap_or(Value::Null);
    current != Some(&wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, labels: Value, annotations: Value, phase: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop", "labels": labels,
                "annotations": annotations},
            "status": {"phase": phase}
        }))
        .expect("a pod")
    }

    fn recorded(name: &str, policy: &str, generation: i64) -> Pod {
        pod(
            name,
            json!({"landlock-injector.io/applied-policy": policy}),
            json!({"landlock-injector.io/applied-policy": format!("{policy}@{generation}")}),
            "Running",
        )
    }

    #[test]
    fn a_running_pod_records_its_policy_and_generation() {
        assert_eq!(
            bound(&recorded("web-1", "web", 3)),
            Some(Bound {
                namespace: "shop".into(),
                pod: "web-1".into(),
                policy: "web".into(),
                generation: 3,
            })
        );
        // A policy name with '@' cannot exist; the generation is what follows the last one.
        assert_eq!(
            bound(&recorded("p", "web", 12)).map(|b| b.generation),
            Some(12)
        );
    }

    #[test]
    fn finished_pods_and_records_the_webhook_did_not_write_are_not_counted() {
        let key = "landlock-injector.io/applied-policy";
        let cases = [
            pod(
                "done",
                json!({key: "web"}),
                json!({key: "web@1"}),
                "Succeeded",
            ),
            pod(
                "failed",
                json!({key: "web"}),
                json!({key: "web@1"}),
                "Failed",
            ),
            pod("no-annotation", json!({key: "web"}), json!({}), "Running"),
            pod("no-label", json!({}), json!({key: "web@1"}), "Running"),
            pod(
                "disagree",
                json!({key: "web"}),
                json!({key: "db@1"}),
                "Running",
            ),
            pod(
                "no-generation",
                json!({key: "web"}),
                json!({key: "web"}),
                "Running",
            ),
            pod(
                "bad-generation",
                json!({key: "web"}),
                json!({key: "web@x"}),
                "Running",
            ),
        ];
        for case in cases {
            assert_eq!(bound(&case), None, "{:?}", case.metadata.name);
        }
        // Pending pods run (or are about to run) the sandbox they were admitted with.
        let pending = pod("p", json!({key: "web"}), json!({key: "web@1"}), "Pending");
        assert!(bound(&pending).is_some());
    }

    #[test]
    fn pods_on_another_generation_are_outdated_and_listed_sorted() {
        let policies = [
            (("shop".to_owned(), "web".to_owned()), 3),
            (("shop".to_owned(), "idle".to_owned()), 1),
        ];
        let pods: Vec<Bound> = [
            ("web-c", "web", 3),
            ("web-b", "web", 2),
            ("web-a", "web", 1),
            ("web-d", "web", 5),
            ("gone-1", "deleted", 1),
        ]
        .iter()
        .map(|(pod, policy, generation)| Bound {
            namespace: "shop".into(),
            pod: (*pod).into(),
            policy: (*policy).into(),
            generation: *generation,
        })
        .collect();
        let statuses = compute(&policies, &pods);
        assert_eq!(
            statuses[&("shop".into(), "web".into())],
            Status {
                observed_generation: 3,
                pods: 4,
                outdated_pods: 3,
                outdated: vec!["web-a".into(), "web-b".into(), "web-d".into()],
            }
        );
        assert_eq!(
            statuses[&("shop".into(), "idle".into())],
            Status {
                observed_generation: 1,
                ..Status::default()
            }
        );
        assert_eq!(statuses.len(), 2, "a deleted policy gets no status");
        // The same name in another namespace is another policy.
        let elsewhere = Bound {
            namespace: "other".into(),
            ..pods[0].clone()
        };
        assert_eq!(
            compute(&policies, &[elsewhere])[&("shop".into(), "web".into())].pods,
            0
        );
    }

    #[test]
    fn the_names_are_capped_and_the_count_is_whole() {
        let policies = [(("shop".to_owned(), "web".to_owned()), 2)];
        let pods: Vec<Bound> = (0..MAX_OUTDATED_NAMES + 50)
            .map(|n| Bound {
                namespace: "shop".into(),
                pod: format!("web-{n:04}"),
                policy: "web".into(),
                generation: 1,
            })
            .collect();
        let status = &compute(&policies, &pods)[&("shop".into(), "web".into())];
        assert_eq!(status.outdated_pods, MAX_OUTDATED_NAMES + 50);
        assert_eq!(status.outdated.len(), MAX_OUTDATED_NAMES);
        assert_eq!(status.outdated[0], "web-0000");
    }

    #[test]
    fn only_a_changed_status_is_written() {
        let wanted = Status {
            observed_generation: 2,
            pods: 1,
            outdated_pods: 1,
            outdated: vec!["web-a".into()],
        };
        let stored = json!({"observedGeneration": 2, "pods": 1, "outdatedPods": 1,
            "outdated": ["web-a"]});
        assert!(!needs_write(Some(&stored), &wanted));
        assert!(needs_write(None, &wanted), "never written");
        let older = json!({"observedGeneration": 1, "pods": 1, "outdatedPods": 0,
            "outdated": []});
        assert!(needs_write(Some(&older), &wanted));
    }
}

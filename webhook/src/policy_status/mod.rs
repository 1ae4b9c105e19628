//! The status of each LandlockPolicy: how many running pods were admitted with it, and which of
//! them run an older generation (their sandbox is the policy as it was when they started:
//! nothing restarts on its own, see docs/policies.md *Rolling out a changed policy*).
//!
//! A bound pod says what it runs with what the webhook wrote at admission: the label
//! `landlock-injector.io/applied-policy: NAME` (what [`writer`] selects by) and the annotation
//! `landlock-injector.io/applied-policy: NAME@GENERATION@UID` ([`record`]). This module is the pure part, the
//! counting; [`writer`] keeps the pods and the policies in memory and writes what changed.

pub mod writer;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
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

/// The annotation value recording a bound policy: `NAME@GENERATION`, then `@UID` when the
/// policy has one (a cluster's objects do; offline documents do not).
pub fn record(name: &str, generation: i64, uid: Option<&str>) -> String {
    match uid {
        Some(uid) => format!("{name}@{generation}@{uid}"),
        None => format!("{name}@{generation}"),
    }
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
    /// The policy's uid, when the record has one.
    pub uid: Option<String>,
    /// When the pod was created (admitted).
    pub created: Option<Time>,
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
    let value = meta.annotations.as_ref()?.get(&key)?;
    let mut parts = value.splitn(3, '@');
    let (name, generation, uid) = (parts.next()?, parts.next()?, parts.next());
    if name != label {
        return None;
    }
    Some(Bound {
        namespace: meta.namespace.clone()?,
        pod: meta.name.clone()?,
        policy: name.to_owned(),
        generation: generation.parse().ok()?,
        uid: uid.map(str::to_owned),
        created: meta.creation_timestamp.clone(),
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

/// A policy as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// Its namespace and name.
    pub key: PolicyKey,
    /// `metadata.generation`.
    pub generation: i64,
    /// `metadata.creationTimestamp`.
    pub created: Option<Time>,
    /// `metadata.uid`.
    pub uid: Option<String>,
}

impl Current {
    /// What `policy` is now, when it has a namespace and a name.
    pub fn of(policy: &kube::core::DynamicObject) -> Option<Self> {
        let meta = &policy.metadata;
        Some(Self {
            key: (meta.namespace.clone()?, meta.name.clone()?),
            generation: meta.generation.unwrap_or(0),
            created: meta.creation_timestamp.clone(),
            uid: meta.uid.clone(),
        })
    }
}

/// The status of every policy in `policies` from the `pods` that record one; a policy no pod
/// runs has a zero status. Pods recording a policy that no longer exists are not counted
/// anywhere.
pub fn compute(policies: &[Current], pods: &[Bound]) -> BTreeMap<PolicyKey, Status> {
    let mut statuses: BTreeMap<PolicyKey, (Status, &Current)> = policies
        .iter()
        .map(|policy| {
            let status = Status {
                observed_generation: policy.generation,
                ..Status::default()
            };
            (policy.key.clone(), (status, policy))
        })
        .collect();
    for pod in pods {
        let Some((status, policy)) = statuses.get_mut(&(pod.namespace.clone(), pod.policy.clone()))
        else {
            continue;
        };
        status.pods += 1;
        // Admitted under an earlier policy of that name, deleted since (its generation, counted
        // again from 1, says nothing): the uid the pod recorded is another, or, for a record
        // without one, the pod was created before the policy.
        let earlier_policy = match (&pod.uid, &policy.uid) {
            (Some(pod), Some(policy)) => pod != policy,
            _ => matches!(
                (&pod.created, &policy.created),
                (Some(pod), Some(policy)) if pod < policy
            ),
        };
        // Another generation, older or (a policy deleted and created again) newer.
        if pod.generation != status.observed_generation || earlier_policy {
            status.outdated_pods += 1;
            status.outdated.push(pod.pod.clone());
        }
    }
    statuses
        .into_iter()
        .map(|(key, (mut status, _))| {
            status.outdated.sort();
            status.outdated.truncate(MAX_OUTDATED_NAMES);
            (key, status)
        })
        .collect()
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
                uid: None,
                created: None,
            })
        );
        assert_eq!(
            bound(&recorded("p", "web", 12)).map(|b| b.generation),
            Some(12)
        );
        // With the policy's uid after the generation (what the webhook writes in a cluster).
        let key = "landlock-injector.io/applied-policy";
        let with_uid = pod(
            "web-2",
            json!({key: "web"}),
            json!({key: record("web", 4, Some("0c5f-uid"))}),
            "Running",
        );
        let bound_with_uid = bound(&with_uid).expect("counted");
        assert_eq!(
            (bound_with_uid.generation, bound_with_uid.uid.as_deref()),
            (4, Some("0c5f-uid"))
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
        let policies = [current("web", 3), current("idle", 1)];
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
            uid: None,
            created: None,
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
        let policies = [current("web", 2)];
        let pods: Vec<Bound> = (0..MAX_OUTDATED_NAMES + 50)
            .map(|n| Bound {
                namespace: "shop".into(),
                pod: format!("web-{n:04}"),
                policy: "web".into(),
                generation: 1,
                uid: None,
                created: None,
            })
            .collect();
        let status = &compute(&policies, &pods)[&("shop".into(), "web".into())];
        assert_eq!(status.outdated_pods, MAX_OUTDATED_NAMES + 50);
        assert_eq!(status.outdated.len(), MAX_OUTDATED_NAMES);
        assert_eq!(status.outdated[0], "web-0000");
    }

    fn current(name: &str, generation: i64) -> Current {
        Current {
            key: ("shop".to_owned(), name.to_owned()),
            generation,
            created: None,
            uid: None,
        }
    }

    fn policy_created_at(rfc3339: &str) -> Current {
        Current {
            created: time(rfc3339),
            ..current("web", 1)
        }
    }

    fn time(rfc3339: &str) -> Option<Time> {
        Some(Time(rfc3339.parse().expect("a time")))
    }

    /// A policy deleted and created again counts its generations from 1: a pod admitted under
    /// the deleted one, with the same generation number, runs other rules and is outdated.
    #[test]
    fn pods_older_than_a_recreated_policy_are_outdated_whatever_their_generation() {
        let policy = Current {
            created: time("2026-12-03T10:00:00Z"),
            ..current("web", 1)
        };
        let pod = |name: &str, created: &str| Bound {
            namespace: "shop".into(),
            pod: name.into(),
            policy: "web".into(),
            generation: 1,
            uid: None,
            created: time(created),
        };
        let pods = [
            pod("before", "2026-12-03T09:59:59Z"),
            pod("same-second", "2026-12-03T10:00:00Z"),
            pod("after", "2026-12-03T10:05:00Z"),
        ];
        let status = &compute(&[policy], &pods)[&("shop".into(), "web".into())];
        assert_eq!((status.pods, status.outdated_pods), (3, 1));
        assert_eq!(status.outdated, ["before"]);
        // With uids recorded, the uid decides, whatever the times say: a pod admitted from a
        // cache that still held the deleted policy, created after the new one (or in the same
        // second), is outdated; one admitted under the current policy is not.
        let policy = Current {
            uid: Some("new".into()),
            ..policy_created_at("2026-12-03T10:00:00Z")
        };
        let with = |name: &str, uid: &str| Bound {
            uid: Some(uid.into()),
            ..pod(name, "2026-12-03T10:00:00Z")
        };
        let pods = [with("lagging", "old"), with("current", "new")];
        let status = &compute(&[policy], &pods)[&("shop".into(), "web".into())];
        assert_eq!(status.outdated, ["lagging"]);
        // The time comes from the pod's own metadata.
        let mut recorded = recorded("web-1", "web", 1);
        recorded.metadata.creation_timestamp = time("2026-12-03T09:00:00Z");
        assert_eq!(
            bound(&recorded).and_then(|b| b.created),
            time("2026-12-03T09:00:00Z")
        );
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

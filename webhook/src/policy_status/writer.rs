//! The loop of `serve --policy-status`: a watch of the pods that record a policy (selected by
//! the label the webhook writes, so the cluster's other pods are never listed), the webhook's
//! own LandlockPolicy cache, and every few seconds a merge patch of each policy's `status`
//! subresource whose counted status differs from the stored one. Several webhook replicas
//! compute the same status from the same objects, so after one has written it the others see
//! nothing to write; a replica whose pod watch is failing does not count. Needs `list`/`watch` on pods and `patch` on `landlockpolicies/status`.

use std::time::Duration;

use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::core::DynamicObject;
use kube::runtime::reflector::Store;

use crate::admission::policy;
use crate::pod_watch::Labelled;
use crate::policy_status::{self, Current, Status};
use crate::watch_health::Health;

/// How often the statuses are counted (and the changed ones written).
pub const PERIOD: Duration = Duration::from_secs(5);
/// The longest one status write may take: a server that accepts the request and never answers
/// must not stop every later count.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the pod watch and the writing loop on the current tokio runtime; both run for as
/// long as the process does, retrying what fails.
pub fn start(client: kube::Client, policies: Store<DynamicObject>, policy_health: Health) {
    // Only the record, the creation time and the phase are counted: the rest (the pod's other
    // labels and annotations among it) is not kept in memory.
    let pods = crate::pod_watch::labelled(
        client.clone(),
        &policy_status::key(),
        "LandlockPolicy status",
        |pod| {
            pod.spec = None;
            let key = policy_status::key();
            let only_the_record = |map: &mut Option<std::collections::BTreeMap<String, String>>| {
                if let Some(map) = map.as_mut() {
                    map.retain(|k, _| *k == key);
                }
            };
            only_the_record(&mut pod.metadata.labels);
            only_the_record(&mut pod.metadata.annotations);
            pod.metadata.owner_references = None;
            if let Some(status) = pod.status.as_mut() {
                *status = k8s_openapi::api::core::v1::PodStatus {
                    phase: status.phase.take(),
                    ..Default::default()
                };
            }
        },
    );
    crate::background::spawn(
        "the LandlockPolicy status writer",
        write_loop(client, policies, policy_health, pods),
    );
}

async fn write_loop(
    client: kube::Client,
    policies: Store<DynamicObject>,
    policy_health: Health,
    watch: Labelled,
) {
    let pods = &watch.store;
    // Counting before both lists arrived would write zeros over true statuses.
    let (Ok(()), Ok(())) = (
        policies.wait_until_ready().await,
        pods.wait_until_ready().await,
    ) else {
        tracing::warn!("LandlockPolicy status: a watch ended before its first list; not writing");
        return;
    };
    let resource = policy::api_resource();
    let mut skipping = false;
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // A replica whose pod or policy watch is behind counts from a cache that may be
        // stale, and would overwrite what a replica with a current one wrote, back and forth.
        let now = std::time::Instant::now();
        let behind = [("pod", &watch.health), ("LandlockPolicy", &policy_health)]
            .into_iter()
            .find(|(_, health)| health.behind(now));
        if let Some((which, _)) = behind {
            if !skipping {
                tracing::info!(
                    "LandlockPolicy status: the {which} watch is failing or relisting; not counting until it is current"
                );
            }
            skipping = true;
            continue;
        }
        skipping = false;
        let current = policies.state();
        let keys: Vec<Current> = current.iter().filter_map(|p| Current::of(p)).collect();
        let bound: Vec<_> = pods
            .state()
            .iter()
            .filter_map(|pod| policy_status::bound(pod))
            .collect();
        let statuses = policy_status::compute(&keys, &bound);
        for object in &current {
            let (Some(namespace), Some(name)) = (&object.metadata.namespace, &object.metadata.name)
            else {
                continue;
            };
            let Some(wanted) = statuses.get(&(namespace.clone(), name.clone())) else {
                continue;
            };
            if !policy_status::needs_write(object.data.get("status"), wanted) {
                continue;
            }
            let version = object.metadata.resource_version.as_deref();
            write(&client, &resource, namespace, name, version, wanted).await;
        }
    }
}

async fn write(
    client: &kube::Client,
    resource: &kube::core::ApiResource,
    namespace: &str,
    name: &str,
    resource_version: Option<&str>,
    wanted: &Status,
) {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    let patch = Patch::Merge(status_patch(resource_version, wanted));
    let params = PatchParams::default();
    let written = tokio::time::timeout(WRITE_TIMEOUT, api.patch_status(name, &params, &patch));
    match written.await {
        Err(_) => tracing::warn!(
            namespace,
            policy = name,
            "the API server did not answer the LandlockPolicy status write in {WRITE_TIMEOUT:?}; counting again at the next round"
        ),
        Ok(Ok(_)) => tracing::info!(
            namespace,
            policy = name,
            pods = wanted.pods,
            outdated = wanted.outdated_pods,
            "LandlockPolicy status written"
        ),
        // Changed since this replica's cache saw it (another replica wrote, or the spec
        // moved): its cache brings the change, and the next round counts against it.
        Ok(Err(kube::Error::Api(status))) if status.code == 409 => tracing::debug!(
            namespace,
            policy = name,
            "LandlockPolicy changed since it was counted; counting again at the next round"
        ),
        // Deleted meanwhile, or no RBAC: said, and tried again at the next count.
        Ok(Err(e)) => {
            tracing::warn!(namespace, policy = name, error = %e, "cannot write the LandlockPolicy status")
        }
    }
}

/// The merge patch of a policy's status, conditional on `resource_version` (the version the
/// status was counted against): the API server refuses it with 409 when the policy changed
/// since, so a replica whose cache is behind cannot write an older generation's count over a
/// newer one.
fn status_patch(resource_version: Option<&str>, wanted: &Status) -> serde_json::Value {
    let mut patch = serde_json::json!({ "status": wanted });
    if let Some(version) = resource_version {
        patch["metadata"] = serde_json::json!({ "resourceVersion": version });
    }
    patch
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The write carries the version it was counted against (optimistic concurrency, as
    /// controller-runtime's `MergeFromWithOptimisticLock`).
    #[test]
    fn a_status_write_is_conditional_on_the_version_it_counted() {
        let wanted = Status::default();
        let patch = status_patch(Some("4711"), &wanted);
        assert_eq!(patch["metadata"]["resourceVersion"], "4711");
        assert_eq!(
            patch["status"],
            serde_json::to_value(&wanted).expect("json")
        );
        assert!(status_patch(None, &wanted).get("metadata").is_none());
    }
}

//! A cached watch of the pods that carry one label (the records the webhook writes on pods it
//! bound or recorded), each pod trimmed to what its reader needs, so the cluster's other pods
//! are never listed and the kept ones stay small.

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};

/// Starts, on the current tokio runtime, a watch of every pod labelled `label` (any value),
/// keeping each as `trim` leaves it (its managed fields always dropped); it retries with
/// backoff for as long as the process runs, logging failures with `what`.
pub fn labelled(
    client: kube::Client,
    label: &str,
    what: &'static str,
    trim: fn(&mut Pod),
) -> Store<Pod> {
    let (store, writer) = reflector::store();
    let watch = watcher::watcher(
        Api::<Pod>::all(client),
        watcher::Config::default().labels(label),
    )
    .modify(move |pod| {
        pod.metadata.managed_fields = None;
        trim(pod);
    })
    .default_backoff()
    .reflect(writer)
    .for_each(move |event| async move {
        if let Err(e) = event {
            tracing::warn!(error = %e, what, "pod watch: retrying");
        }
    });
    tokio::spawn(watch);
    store
}

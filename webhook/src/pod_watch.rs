//! A cached watch of the pods that carry one label (the records the webhook writes on pods it
//! bound or recorded), each pod trimmed to what its reader needs, so the cluster's other pods
//! are never listed and the kept ones stay small.

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};

use crate::watch_health::Health;

/// A started watch: its cache, and whether that may be behind.
#[derive(Clone)]
pub struct Labelled {
    /// The pods, as trimmed.
    pub store: Store<Pod>,
    /// Whether the cache may be behind ([`crate::watch_health`]): what is counted from it may
    /// be wrong meanwhile.
    pub health: Health,
}

/// Starts, on the current tokio runtime, a watch of every pod labelled `label` (any value),
/// keeping each as `trim` leaves it (its managed fields always dropped); it retries with
/// backoff for as long as the process runs, logging failures with `what`.
pub fn labelled(
    client: kube::Client,
    label: &str,
    what: &'static str,
    trim: fn(&mut Pod),
) -> Labelled {
    let (store, writer) = reflector::store();
    let health = Health::default();
    let observer = health.clone();
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
    .for_each(move |event| {
        observer.observe(&event, std::time::Instant::now());
        async move {
            if let Err(e) = event {
                tracing::warn!(error = %e, what, "pod watch: retrying");
            }
        }
    });
    crate::background::spawn(what, watch);
    Labelled { store, health }
}

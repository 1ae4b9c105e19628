//! A cached watch of the pods that carry one label (the records the webhook writes on pods it
//! bound or recorded), each pod trimmed to what its reader needs, so the cluster's other pods
//! are never listed and the kept ones stay small.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};

/// A started watch: its cache, and whether its last event was a failure.
#[derive(Clone)]
pub struct Labelled {
    /// The pods, as trimmed.
    pub store: Store<Pod>,
    failing: Arc<AtomicBool>,
}

impl Labelled {
    /// Whether the watch's last event was an error (it is retrying): the cache may be behind,
    /// and what is counted from it may be wrong until the next event arrives.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
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
    let failing = Arc::new(AtomicBool::new(false));
    let flag = failing.clone();
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
        flag.store(event.is_err(), Ordering::Relaxed);
        async move {
            if let Err(e) = event {
                tracing::warn!(error = %e, what, "pod watch: retrying");
            }
        }
    });
    crate::background::spawn(what, watch);
    Labelled { store, failing }
}

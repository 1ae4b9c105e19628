//! Which pod and container a cgroup's pod UID and container ID belong to: looked up in the pods
//! of this node, kept current by a kube-rs watch (a reflector store, so a lookup is a memory
//! read). `--no-kube` uses [`NoPods`]; tests use a [`PodList`] they fill as kubelet would report.

use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client};

use super::cgroups::ContainerRef;

/// A container of a pod, by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodRef {
    /// The namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The pod's UID.
    pub uid: String,
    /// The container's name; `None` while its status does not list the container ID yet
    /// (a denial right at start can come before kubelet reports the container).
    pub container: Option<String>,
}

/// Finds pods by the IDs in a cgroup path.
pub trait PodDirectory: Send + Sync {
    /// The pod and container `target` names, if the pod is known.
    fn find(&self, target: &ContainerRef) -> Option<PodRef>;
}

/// No pods at all (`--no-kube`).
pub struct NoPods;

impl PodDirectory for NoPods {
    fn find(&self, _: &ContainerRef) -> Option<PodRef> {
        None
    }
}

/// A list of pods (as the API server would list them, with their statuses), shared by clones.
#[derive(Clone, Default)]
pub struct PodList(Arc<RwLock<Vec<Pod>>>);

impl PodList {
    /// Adds `pod`, or replaces the pod with its UID.
    pub fn insert(&self, pod: Pod) {
        let mut pods = self.0.write().unwrap_or_else(PoisonError::into_inner);
        pods.retain(|p| p.metadata.uid != pod.metadata.uid);
        pods.push(pod);
    }
}

impl PodDirectory for PodList {
    fn find(&self, target: &ContainerRef) -> Option<PodRef> {
        find_in(
            self.0.read().unwrap_or_else(PoisonError::into_inner).iter(),
            target,
        )
    }
}

/// The pods of this node, as the watch last saw them.
#[derive(Clone)]
pub struct WatchedPods(Store<Pod>);

impl PodDirectory for WatchedPods {
    fn find(&self, target: &ContainerRef) -> Option<PodRef> {
        let pods = self.0.state();
        find_in(pods.iter().map(|p| p.as_ref()), target)
    }
}

/// The pod with `target`'s UID in `pods`, and the container whose status has its ID.
pub fn find_in<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    target: &ContainerRef,
) -> Option<PodRef> {
    let pod = pods
        .into_iter()
        .find(|p| p.metadata.uid.as_deref() == Some(target.pod_uid.as_str()))?;
    let status = pod.status.as_ref();
    let statuses: Vec<&ContainerStatus> = status
        .into_iter()
        .flat_map(|s| {
            [
                s.container_statuses.as_deref(),
                s.init_container_statuses.as_deref(),
                s.ephemeral_container_statuses.as_deref(),
            ]
        })
        .flatten()
        .flatten()
        .collect();
    let container = statuses
        .iter()
        .find(|s| {
            s.container_id
                .as_deref()
                .and_then(|id| id.split_once("://").map(|(_, id)| id))
                .is_some_and(|id| id.eq_ignore_ascii_case(&target.container_id))
        })
        .map(|s| s.name.clone());
    Some(PodRef {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        pod: pod.metadata.name.clone().unwrap_or_default(),
        uid: target.pod_uid.clone(),
        container,
    })
}

/// Watches the pods of node `node`; the future keeps the store current (it retries with
/// backoff when the API server is unreachable) and never ends.
pub fn watch(
    client: Client,
    node: &str,
) -> (WatchedPods, impl Future<Output = ()> + Send + 'static) {
    let api: Api<Pod> = Api::all(client);
    let (reader, writer) = reflector::store();
    let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
    let driver = async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            if let Err(e) = event {
                tracing::warn!(error = %e, "watching this node's pods failed; retrying");
            }
        }
    };
    (WatchedPods(reader), driver)
}

//! Which pod and container a cgroup's pod UID and container ID belong to: looked up in the pods
//! of this node, kept current by a kube-rs watch (a reflector store, so a lookup is a memory
//! read). `--no-kube` uses [`NoPods`]; tests use a [`PodList`] they fill as kubelet would report.

use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

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

    /// Whether a pod `name` in `namespace` runs on this node; `None` when this directory cannot
    /// tell (no pods are known at all).
    fn has_pod(&self, namespace: &str, name: &str) -> Option<bool>;
}

/// Whether `pods` hold a pod `name` in `namespace`.
fn holds<'a>(pods: impl IntoIterator<Item = &'a Pod>, namespace: &str, name: &str) -> bool {
    pods.into_iter().any(|p| {
        p.metadata.namespace.as_deref() == Some(namespace)
            && p.metadata.name.as_deref() == Some(name)
    })
}

/// No pods at all (`--no-kube`).
pub struct NoPods;

impl PodDirectory for NoPods {
    fn find(&self, _: &ContainerRef) -> Option<PodRef> {
        None
    }

    fn has_pod(&self, _: &str, _: &str) -> Option<bool> {
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

    fn has_pod(&self, namespace: &str, name: &str) -> Option<bool> {
        let pods = self.0.read().unwrap_or_else(PoisonError::into_inner);
        Some(holds(pods.iter(), namespace, name))
    }
}

impl PodList {
    /// Removes the pod with `uid`, as a deletion would.
    pub fn remove(&self, uid: &str) {
        let mut pods = self.0.write().unwrap_or_else(PoisonError::into_inner);
        pods.retain(|p| p.metadata.uid.as_deref() != Some(uid));
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

    fn has_pod(&self, namespace: &str, name: &str) -> Option<bool> {
        let pods = self.0.state();
        Some(holds(pods.iter().map(|p| p.as_ref()), namespace, name))
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

/// How long after its last error a failing watch counts as working again when nothing else
/// says so: a watch that resumes quietly yields no event, while a failing one errs again
/// within its backoff's ceiling (30 s) plus a connect timeout.
pub const RECOVERED_AFTER: Duration = Duration::from_secs(90);

/// Whether the watch works, from what its stream yields.
#[derive(Debug, Default)]
pub struct WatchHealth {
    listed: bool,
    failing: bool,
}

impl WatchHealth {
    /// Takes one item of the watch; whether the watch works now.
    pub fn observe<T, E>(&mut self, event: &Result<watcher::Event<T>, E>) -> bool {
        match event {
            Err(_) => self.failing = true,
            // The first complete list: lookups can find this node's pods from now on.
            Ok(watcher::Event::InitDone) => {
                self.listed = true;
                self.failing = false;
            }
            // A (re)list in progress says nothing yet; any other event is the API server talking.
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
            Ok(_) => self.failing = false,
        }
        self.up()
    }

    /// No error for [`RECOVERED_AFTER`]: the retried watch works.
    pub fn quiet(&mut self) -> bool {
        self.failing = false;
        self.up()
    }

    /// Listed once and not failing now.
    pub fn up(&self) -> bool {
        self.listed && !self.failing
    }
}

/// Watches the pods of node `node`; the future keeps the store current (it retries with
/// backoff when the API server is unreachable), calls `up` with whether the watch works
/// whenever that may have changed, and never ends.
pub fn watch(
    client: Client,
    node: &str,
    up: impl Fn(bool) + Send + 'static,
) -> (WatchedPods, impl Future<Output = ()> + Send + 'static) {
    let api: Api<Pod> = Api::all(client);
    let (reader, writer) = reflector::store();
    let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
    let driver = async move {
        futures::pin_mut!(stream);
        let mut health = WatchHealth::default();
        up(false);
        loop {
            let event = if health.up() {
                stream.next().await
            } else {
                match tokio::time::timeout(RECOVERED_AFTER, stream.next()).await {
                    Ok(event) => event,
                    Err(_) => {
                        up(health.quiet());
                        continue;
                    }
                }
            };
            let Some(event) = event else { break };
            if let Err(e) = &event {
                tracing::warn!(error = %e, "watching this node's pods failed; retrying (denials are `unattributed` and /readyz fails until it works)");
            }
            let was = health.up();
            let now = health.observe(&event);
            if now != was {
                if now {
                    tracing::info!("watching this node's pods: listed them");
                }
                up(now);
            }
        }
    };
    (WatchedPods(reader), driver)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Item = Result<watcher::Event<Pod>, &'static str>;

    #[test]
    fn the_watch_is_up_once_listed_and_down_while_it_fails() {
        let mut health = WatchHealth::default();
        assert!(!health.observe(&Item::Err("connect")), "never listed");
        assert!(!health.observe(&Item::Ok(watcher::Event::Init)));
        assert!(health.observe(&Item::Ok(watcher::Event::InitDone)));
        assert!(!health.observe(&Item::Err("connect")), "failing");
        assert!(health.quiet(), "quiet after an error: the retry works");
        assert!(!health.observe(&Item::Err("connect")));
        assert!(health.observe(&Item::Ok(watcher::Event::Delete(Pod::default()))));
    }

    #[test]
    fn a_watch_that_never_listed_is_not_up_when_quiet() {
        let mut health = WatchHealth::default();
        assert!(!health.observe(&Item::Err("connect")));
        assert!(!health.quiet());
    }
}

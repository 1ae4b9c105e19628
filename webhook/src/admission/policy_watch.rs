//! The cluster's LandlockPolicies and LandlockRecordings for `serve`: a kube-rs reflector per
//! kind keeps them in memory, so a review binds a pod without a request to the API server.
//! Until a kind's first list has arrived (the watch starting, or failing: the
//! CustomResourceDefinition missing, RBAC), its objects are unknown and opted-in pods are
//! refused ([`crate::admission::binding`], [`crate::admission::recording`]) rather than
//! admitted without the policy that may select them, or unrecorded; after it, a failing watch
//! is logged and retried while the last list serves, as for Namespaces. Needs `list` and
//! `watch` on `landlockpolicies` and `landlockrecordings`.

use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use kube::Api;
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};

use crate::admission::namespaces::PolicySource;
use crate::admission::{policy, recording};
use crate::watch_health::Health;

/// One kind's cached objects, why they are unknown until its first list, and whether they
/// may be behind after it.
#[derive(Clone)]
struct Watched {
    store: Store<DynamicObject>,
    /// Why the objects are unknown: `None` once a first list has arrived.
    problem: Arc<Mutex<Option<String>>>,
    health: Health,
}

impl Watched {
    fn start(client: kube::Client, resource: ApiResource) -> Self {
        let api: Api<DynamicObject> = Api::all_with(client, &resource);
        let kind = resource.kind.clone();
        let writer = reflector::store::Writer::new(resource);
        let store = writer.as_reader();
        let problem = Arc::new(Mutex::new(Some(format!(
            "the {kind} watch has not listed them yet"
        ))));
        let state = problem.clone();
        let health = Health::default();
        let observer = health.clone();
        // Managed fields are most of a small object, and nothing here reads them.
        let objects = watcher::watcher(api, watcher::Config::default())
            .modify(|object| object.metadata.managed_fields = None);
        let watch = reflector::reflector(writer, objects)
            .default_backoff()
            .for_each(move |event| {
                observer.observe(&event, std::time::Instant::now());
                let state = state.clone();
                let kind = kind.clone();
                async move {
                    let mut problem = state.lock().unwrap_or_else(|e| e.into_inner());
                    match event {
                        Ok(watcher::Event::InitDone) => *problem = None,
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, kind, "watch: retrying");
                            if problem.is_some() {
                                *problem =
                                    Some(format!("the {kind} watch has not listed them yet: {e}"));
                            }
                        }
                    }
                }
            });
        crate::background::spawn("a LandlockPolicy or LandlockRecording watch", watch);
        Self {
            store,
            problem,
            health,
        }
    }

    fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn in_namespace(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        if let Some(problem) = self.problem() {
            return Err(problem);
        }
        Ok(self
            .store
            .state()
            .into_iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
            .collect())
    }
}

/// The cached LandlockPolicies and LandlockRecordings.
#[derive(Clone)]
pub struct ClusterPolicies {
    policies: Watched,
    recordings: Watched,
}

impl ClusterPolicies {
    /// Starts both watches on the current tokio runtime; they retry with backoff for as long
    /// as the process runs.
    pub fn start(client: kube::Client) -> Self {
        Self {
            policies: Watched::start(client.clone(), policy::api_resource()),
            recordings: Watched::start(client, recording::api_resource()),
        }
    }

    /// The policy cache itself (the status writer counts against it).
    pub fn store(&self) -> Store<DynamicObject> {
        self.policies.store.clone()
    }

    /// Whether the policy cache may be behind ([`crate::watch_health`]).
    pub fn policy_health(&self) -> Health {
        self.policies.health.clone()
    }

    /// The recording cache itself (the recording controller works from it).
    pub fn recording_store(&self) -> Store<DynamicObject> {
        self.recordings.store.clone()
    }

    /// Why the policies or recordings are unknown, until both first lists have arrived
    /// (`/readyz` fails with it, so the Service sends no review to a webhook that would refuse
    /// every opted-in pod).
    pub fn problem(&self) -> Option<String> {
        self.policies
            .problem()
            .or_else(|| self.recordings.problem())
    }
}

impl PolicySource for ClusterPolicies {
    fn policies(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        self.policies.in_namespace(namespace)
    }

    fn recordings(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        self.recordings.in_namespace(namespace)
    }
}

//! The cluster's LandlockPolicies for `serve`: a kube-rs reflector keeps them in memory, so a
//! review binds a pod without a request to the API server. Until the first list has arrived
//! (the watch starting, or failing: the CustomResourceDefinition missing, RBAC), the policies
//! are unknown and [`crate::admission::binding`] refuses opted-in pods rather than admit one
//! without the policy that may select it; after it, a failing watch is logged and retried
//! while the last list serves, as for Namespaces. Needs `list` and `watch` on
//! `landlockpolicies`.

use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use kube::Api;
use kube::core::DynamicObject;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};

use crate::admission::namespaces::PolicySource;
use crate::admission::policy;

/// The cached LandlockPolicies.
#[derive(Clone)]
pub struct ClusterPolicies {
    store: Store<DynamicObject>,
    /// Why the policies are unknown: `None` once a first list has arrived.
    problem: Arc<Mutex<Option<String>>>,
}

impl ClusterPolicies {
    /// Starts the watch on the current tokio runtime; it retries with backoff for as long as
    /// the process runs.
    pub fn start(client: kube::Client) -> Self {
        let resource = policy::api_resource();
        let api: Api<DynamicObject> = Api::all_with(client, &resource);
        let writer = reflector::store::Writer::new(resource);
        let store = writer.as_reader();
        let problem = Arc::new(Mutex::new(Some(
            "the LandlockPolicy watch has not listed them yet".to_owned(),
        )));
        let state = problem.clone();
        let watch = reflector::reflector(writer, watcher::watcher(api, watcher::Config::default()))
            .default_backoff()
            .for_each(move |event| {
                let state = state.clone();
                async move {
                    let mut problem = state.lock().unwrap_or_else(|e| e.into_inner());
                    match event {
                        Ok(watcher::Event::InitDone) => *problem = None,
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "LandlockPolicy watch: retrying");
                            if problem.is_some() {
                                *problem = Some(format!(
                                    "the LandlockPolicy watch has not listed them yet: {e}"
                                ));
                            }
                        }
                    }
                }
            });
        tokio::spawn(watch);
        Self { store, problem }
    }
}

impl ClusterPolicies {
    /// The cache itself (the status writer counts against it).
    pub fn store(&self) -> Store<DynamicObject> {
        self.store.clone()
    }

    /// Why the policies are unknown, until the first list has arrived (`/readyz` fails with
    /// it, so the Service sends no review to a webhook that would refuse every opted-in pod).
    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl PolicySource for ClusterPolicies {
    fn policies(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        let problem = self.problem.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(problem) = problem.as_ref() {
            return Err(problem.clone());
        }
        Ok(self
            .store
            .state()
            .into_iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
            .collect())
    }
}

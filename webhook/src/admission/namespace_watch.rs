//! The cluster's Namespaces for `serve`: a kube-rs reflector keeps their metadata (labels and
//! annotations only) in memory, so a review reads a namespace without a request to the API
//! server. A namespace the cache does not hold yet (the watch is still starting, or the namespace
//! was created a moment ago) is read with one GET. Needs `get`, `list` and `watch` on
//! `namespaces`.

use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};

use crate::admission::namespaces::NamespaceSource;
use crate::admission::opt_in::NamespaceMeta;

/// How long the GET of a namespace missing from the cache may take: well within the review's
/// own time budget.
const GET_BUDGET: Duration = Duration::from_secs(2);

/// The cached Namespaces.
#[derive(Clone)]
pub struct ClusterNamespaces {
    store: Store<PartialObjectMeta<Namespace>>,
    api: Api<Namespace>,
}

fn meta(ns: &PartialObjectMeta<Namespace>) -> NamespaceMeta {
    NamespaceMeta {
        labels: ns.metadata.labels.clone().unwrap_or_default(),
        annotations: ns.metadata.annotations.clone().unwrap_or_default(),
    }
}

impl ClusterNamespaces {
    /// Starts the watch on the current tokio runtime; it retries with backoff for as long as
    /// the process runs.
    pub fn start(client: kube::Client) -> Self {
        let api: Api<Namespace> = Api::all(client.clone());
        // An Api of PartialObjectMeta lists and watches metadata only.
        let metadata: Api<PartialObjectMeta<Namespace>> = Api::all(client);
        let (store, writer) = reflector::store();
        let watch = reflector::reflector(
            writer,
            watcher::watcher(metadata, watcher::Config::default()),
        )
        .default_backoff()
        .for_each(|event| async move {
            if let Err(e) = event {
                tracing::warn!(error = %e, "namespace watch: retrying");
            }
        });
        crate::background::spawn("the Namespace watch", watch);
        Self { store, api }
    }
}

impl NamespaceSource for ClusterNamespaces {
    async fn namespace(&self, name: &str) -> Result<Option<NamespaceMeta>, String> {
        if let Some(ns) = self.store.get(&ObjectRef::new(name)) {
            return Ok(Some(meta(&ns)));
        }
        match tokio::time::timeout(GET_BUDGET, self.api.get_metadata_opt(name)).await {
            Ok(Ok(found)) => Ok(found.as_ref().map(meta)),
            Ok(Err(e)) => Err(format!("reading namespace {name:?}: {e}")),
            Err(_) => Err(format!(
                "reading namespace {name:?} took longer than {GET_BUDGET:?}"
            )),
        }
    }
}

impl<T: NamespaceSource> NamespaceSource for Option<T> {
    async fn namespace(&self, name: &str) -> Result<Option<NamespaceMeta>, String> {
        match self {
            Some(source) => source.namespace(name).await,
            None => Ok(None),
        }
    }
}

//! Where a namespace's labels and annotations come from (the namespace opt-in and its
//! defaults, see [`crate::admission::opt_in`]): a cached watch of the cluster's Namespaces in `serve`; Namespace documents given to `inject` and `review` offline ([`Known`]); or
//! nowhere, when only the pods' own switches count.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::admission::opt_in::NamespaceMeta;
use crate::admission::resolve::{ImageResolver, Offline};
use crate::registry::Registry;

/// Looks up a namespace's metadata by name.
pub trait NamespaceSource: Send + Sync {
    /// `Ok(None)`: no such namespace known (only the pod's own switches count); `Err`: it could
    /// not be read (said in a warning; the pod's own switches still count).
    fn namespace(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<NamespaceMeta>, String>> + Send;
}

/// Everything a review looks up besides the request: image configurations and namespaces.
pub trait Lookups: ImageResolver + NamespaceSource {}
impl<T: ImageResolver + NamespaceSource> Lookups for T {}

/// Namespaces given as documents (offline `inject` and `review`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known(pub BTreeMap<String, NamespaceMeta>);

impl Known {
    /// Adds every `v1` Namespace among `docs`; other documents are ignored.
    pub fn extend_from_docs(&mut self, docs: &[Value]) {
        for doc in docs {
            let is_namespace = doc.get("kind").and_then(Value::as_str) == Some("Namespace")
                && doc.get("apiVersion").and_then(Value::as_str) == Some("v1");
            let Some(name) = doc.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            if !is_namespace {
                continue;
            }
            let map = |field: &str| -> BTreeMap<String, String> {
                doc.pointer(&format!("/metadata/{field}"))
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            self.0.insert(
                name.to_owned(),
                NamespaceMeta {
                    labels: map("labels"),
                    annotations: map("annotations"),
                },
            );
        }
    }
}

impl NamespaceSource for Known {
    async fn namespace(&self, name: &str) -> Result<Option<NamespaceMeta>, String> {
        Ok(self.0.get(name).cloned())
    }
}

impl NamespaceSource for Offline {
    async fn namespace(&self, _name: &str) -> Result<Option<NamespaceMeta>, String> {
        Ok(None)
    }
}

impl<S: Send + Sync> NamespaceSource for Registry<S> {
    async fn namespace(&self, _name: &str) -> Result<Option<NamespaceMeta>, String> {
        Ok(None)
    }
}

/// An image resolver together with a namespace source.
pub struct With<R, N> {
    /// Image configurations.
    pub images: R,
    /// Namespaces.
    pub namespaces: N,
}

impl<R: ImageResolver, N: Send + Sync> ImageResolver for With<R, N> {
    async fn resolve(
        &self,
        image: &str,
        pod: &k8s_openapi::api::core::v1::Pod,
        namespace: Option<&str>,
    ) -> Result<crate::admission::entrypoint::ImageConfig, String> {
        self.images.resolve(image, pod, namespace).await
    }
}

impl<R: Send + Sync, N: NamespaceSource> NamespaceSource for With<R, N> {
    async fn namespace(&self, name: &str) -> Result<Option<NamespaceMeta>, String> {
        self.namespaces.namespace(name).await
    }
}

/// Asks `first`, then `then` for namespaces `first` does not know.
pub struct Fallback<A, B> {
    /// Asked first.
    pub first: A,
    /// Asked when `first` knows nothing of the namespace.
    pub then: B,
}

impl<A: NamespaceSource, B: NamespaceSource> NamespaceSource for Fallback<A, B> {
    async fn namespace(&self, name: &str) -> Result<Option<NamespaceMeta>, String> {
        match self.first.namespace(name).await? {
            Some(found) => Ok(Some(found)),
            None => self.then.namespace(name).await,
        }
    }
}

impl<T: NamespaceSource> NamespaceSource for &T {
    async fn namespace(&self, name: &str) -> Result<Option<NamespaceMeta>, String> {
        (**self).namespace(name).await
    }
}

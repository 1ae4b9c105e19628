//! Where what a namespace holds comes from: its labels and annotations (the namespace opt-in
//! and its defaults, see [`crate::admission::opt_in`]) and its LandlockPolicies (see
//! [`crate::admission::binding`]): cached watches of the cluster's in `serve`; Namespace and
//! LandlockPolicy documents given to `inject` and `review` offline ([`Known`]); or nowhere,
//! when only the pods' own switches and annotations count.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::core::DynamicObject;
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

/// Looks up the LandlockPolicies of a namespace (from memory: never a request per review).
pub trait PolicySource: Send + Sync {
    /// Every policy of `namespace` (empty when it has none or none are known); `Err`: they
    /// could not be read, so no pod of it can be bound.
    fn policies(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String>;

    /// Every LandlockRecording of `namespace`, as [`Self::policies`]; a source that holds none
    /// has none.
    fn recordings(&self, _namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        Ok(Vec::new())
    }
}

/// Everything a review looks up besides the request: image configurations, namespaces and
/// their policies.
pub trait Lookups: ImageResolver + NamespaceSource + PolicySource {}
impl<T: ImageResolver + NamespaceSource + PolicySource> Lookups for T {}

/// Adds `found` to `objects`, each replacing one of the same name.
fn upsert(objects: &mut Vec<Arc<DynamicObject>>, found: Vec<DynamicObject>) {
    for object in found {
        let name = object.metadata.name.clone();
        objects.retain(|o| o.metadata.name != name);
        objects.push(Arc::new(object));
    }
}

/// Namespaces and LandlockPolicies given as documents (offline `inject` and `review`).
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Namespaces by name.
    pub namespaces: BTreeMap<String, NamespaceMeta>,
    /// Policies by namespace.
    pub policies: BTreeMap<String, Vec<Arc<DynamicObject>>>,
    /// Recordings by namespace.
    pub recordings: BTreeMap<String, Vec<Arc<DynamicObject>>>,
}

impl Known {
    /// Adds every `v1` Namespace and `landlock-injector.io/v1alpha1` LandlockPolicy and
    /// LandlockRecording among `docs`; other documents are ignored.
    ///
    /// An object given again (by namespace and name, in one input or across several) replaces
    /// the earlier one, as `kubectl apply` of both would leave one object.
    pub fn extend_from_docs(&mut self, docs: &[Value]) {
        for (namespace, found) in crate::admission::policy::from_docs(docs) {
            upsert(self.policies.entry(namespace).or_default(), found);
        }
        for (namespace, found) in crate::admission::recording::from_docs(docs) {
            upsert(self.recordings.entry(namespace).or_default(), found);
        }
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
            self.namespaces.insert(
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
        Ok(self.namespaces.get(name).cloned())
    }
}

impl PolicySource for Known {
    fn policies(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        Ok(self.policies.get(namespace).cloned().unwrap_or_default())
    }

    fn recordings(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        Ok(self.recordings.get(namespace).cloned().unwrap_or_default())
    }
}

impl PolicySource for Offline {
    fn policies(&self, _namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        Ok(Vec::new())
    }
}

impl<S: Send + Sync> PolicySource for Registry<S> {
    fn policies(&self, _namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        Ok(Vec::new())
    }
}

impl<T: PolicySource> PolicySource for Option<T> {
    fn policies(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        match self {
            Some(source) => source.policies(namespace),
            None => Ok(Vec::new()),
        }
    }

    fn recordings(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        match self {
            Some(source) => source.recordings(namespace),
            None => Ok(Vec::new()),
        }
    }
}

impl<T: PolicySource> PolicySource for &T {
    fn policies(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        (**self).policies(namespace)
    }

    fn recordings(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        (**self).recordings(namespace)
    }
}

/// Namespaces from one source and their policies from another (the two watches of `serve`).
pub struct Both<N, P> {
    /// Namespaces.
    pub namespaces: N,
    /// Policies.
    pub policies: P,
}

impl<N: NamespaceSource, P: Send + Sync> NamespaceSource for Both<N, P> {
    async fn namespace(&self, name: &str) -> Result<Option<NamespaceMeta>, String> {
        self.namespaces.namespace(name).await
    }
}

impl<N: Send + Sync, P: PolicySource> PolicySource for Both<N, P> {
    fn policies(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        self.policies.policies(namespace)
    }

    fn recordings(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        self.policies.recordings(namespace)
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

/// An image resolver together with a source of namespaces and their policies.
pub struct With<R, N> {
    /// Image configurations.
    pub images: R,
    /// Namespaces and their policies.
    pub namespaces: N,
}

impl<R: Send + Sync, N: PolicySource> PolicySource for With<R, N> {
    fn policies(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        self.namespaces.policies(namespace)
    }

    fn recordings(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        self.namespaces.recordings(namespace)
    }
}

impl<R: ImageResolver, N: Send + Sync> ImageResolver for With<R, N> {
    async fn resolve(
        &self,
        images: &[String],
        pod: &k8s_openapi::api::core::v1::Pod,
        namespace: Option<&str>,
    ) -> Vec<Result<crate::admission::entrypoint::ImageConfig, String>> {
        self.images.resolve(images, pod, namespace).await
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

impl<A: PolicySource, B: PolicySource> PolicySource for Fallback<A, B> {
    fn policies(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        let first = self.first.policies(namespace)?;
        if first.is_empty() {
            self.then.policies(namespace)
        } else {
            Ok(first)
        }
    }

    fn recordings(&self, namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
        let first = self.first.recordings(namespace)?;
        if first.is_empty() {
            self.then.recordings(namespace)
        } else {
            Ok(first)
        }
    }
}

impl<T: NamespaceSource> NamespaceSource for &T {
    async fn namespace(&self, name: &str) -> Result<Option<NamespaceMeta>, String> {
        (**self).namespace(name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A policy given twice (in one manifest, or in it and in `--namespaces`) is one object,
    /// the last given, as `kubectl apply` leaves it: it does not conflict with itself.
    #[test]
    fn a_policy_given_twice_is_one_policy_the_last_given() {
        let policy = |read: &str| {
            json!({
                "apiVersion": "landlock-injector.io/v1alpha1", "kind": "LandlockPolicy",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"default": {"read": [read]}},
            })
        };
        let mut known = Known::default();
        known.extend_from_docs(&[policy("/a"), policy("/b")]);
        known.extend_from_docs(&[policy("/c")]);
        let policies = &known.policies["shop"];
        assert_eq!(policies.len(), 1);
        assert_eq!(policies[0].data["spec"]["default"]["read"], json!(["/c"]));
        let bound = crate::admission::binding::bind(
            &BTreeMap::new(),
            Some("web"),
            "shop",
            Ok(policies.as_slice()),
        )
        .expect("one policy");
        assert_eq!(bound.map(|p| p.name), Some("web".to_owned()));
    }
}

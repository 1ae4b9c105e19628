//! Pull secrets read from the cluster: the pod's `imagePullSecrets`, as kubelet reads them
//! (`getPullSecretsForPod` uses `pod.spec.imagePullSecrets` only). The service account's
//! secrets are not read: the ServiceAccount admission plugin, which runs before every mutating
//! webhook, has already copied them into a pod that lists none, and kubelet never uses them for
//! a pod that lists its own. A secret that does not exist is skipped (kubelet does the same);
//! one that cannot be read is an error, so the denial says why.

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;

use super::pull_secrets::{PullSecret, PullSecretError, PullSecrets};
use crate::admission::selector::is_dns_subdomain;

/// The most pull secrets read for one pod (each name once): real pods name a few; each is an
/// API call the pod's author could otherwise multiply.
pub const MAX_PULL_SECRETS: usize = 64;

/// Reads pull secrets through the Kubernetes API.
#[derive(Clone)]
pub struct ClusterSecrets {
    client: kube::Client,
}

impl ClusterSecrets {
    /// Uses `client` (in-cluster config in a pod, the kubeconfig elsewhere).
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }
}

fn unreadable(name: &str, e: impl std::fmt::Display) -> PullSecretError {
    PullSecretError::Unreadable {
        name: name.to_owned(),
        problem: e.to_string(),
    }
}

/// The secret names worth reading for `pod`: its own list, each name once, without the names
/// no secret can have. The API server accepts any string in `imagePullSecrets[].name` (an
/// empty one included) and kubelet skips the empty ones; a name that is not a DNS subdomain
/// names no secret either, so it is skipped without an API call rather than put into a request
/// path (an empty name would make the read a list; `a/../b` another path).
fn names_to_read(pod: &Pod) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    pod.spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.as_ref())
        .into_iter()
        .flatten()
        .map(|r| r.name.as_str())
        .filter(|name| is_dns_subdomain(name) && seen.insert(*name))
        .map(str::to_owned)
        .collect()
}

impl PullSecrets for ClusterSecrets {
    async fn for_pod(
        &self,
        pod: &Pod,
        namespace: Option<&str>,
    ) -> Result<Vec<PullSecret>, PullSecretError> {
        let namespace = namespace
            .or(pod.metadata.namespace.as_deref())
            .unwrap_or("default");
        // A bounded number of reads: the names are the pod author's, and each is an API call.
        let names = names_to_read(pod);
        if names.len() > MAX_PULL_SECRETS {
            return Err(PullSecretError::TooMany {
                namespace: namespace.to_owned(),
                count: names.len(),
                max: MAX_PULL_SECRETS,
            });
        }
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let mut out = Vec::new();
        for name in names {
            let qualified = format!("{namespace}/{name}");
            let Some(secret) = secrets
                .get_opt(&name)
                .await
                .map_err(|e| unreadable(&qualified, e))?
            else {
                continue;
            };
            // As kubelet's MakeDockerKeyring: a secret counts only with the key its type
            // names (an Opaque secret holding `.dockerconfigjson` is not a pull secret to it).
            let key = match secret.type_.as_deref() {
                Some("kubernetes.io/dockerconfigjson") => ".dockerconfigjson",
                Some("kubernetes.io/dockercfg") => ".dockercfg",
                _ => continue,
            };
            if let Some(bytes) = secret.data.as_ref().and_then(|data| data.get(key))
                && !bytes.0.is_empty()
            {
                out.push(PullSecret::parse(&qualified, &bytes.0)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use base64::Engine as _;
    use http_body_util::Full;
    use hyper::body::Bytes;
    use serde_json::json;

    use super::*;

    /// A Kubernetes client whose API answers from `answer` (by request path) and records the
    /// paths asked: what `for_pod` asks the API server, without one.
    fn client(
        answer: fn(&str) -> (u16, serde_json::Value),
    ) -> (kube::Client, Arc<Mutex<Vec<String>>>) {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let service = tower::service_fn(move |request: axum::http::Request<kube::client::Body>| {
            let path = request.uri().path().to_owned();
            log.lock().expect("log").push(path.clone());
            let (status, body) = answer(&path);
            async move {
                axum::http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body.to_string())))
            }
        });
        (kube::Client::new(service, "default"), asked)
    }

    fn answer(path: &str) -> (u16, serde_json::Value) {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:pw");
        let config = json!({"auths": {"registry.local": {"auth": auth}}}).to_string();
        let data = base64::engine::general_purpose::STANDARD.encode(config);
        match path.rsplit_once('/') {
            Some(("/api/v1/namespaces/team/serviceaccounts", _)) => {
                panic!("the service account is read: {path}")
            }
            Some(("/api/v1/namespaces/team/secrets", name))
                if ["a", "b", "opaque"].contains(&name) =>
            {
                (
                    200,
                    json!({"apiVersion": "v1", "kind": "Secret",
                           "type": if name == "opaque" { "Opaque" } else { "kubernetes.io/dockerconfigjson" },
                           "metadata": {"name": name, "namespace": "team"},
                           "data": {".dockerconfigjson": data}}),
                )
            }
            _ => (
                404,
                json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                       "reason": "NotFound", "code": 404, "message": "not found"}),
            ),
        }
    }

    fn pod(secrets: &[String]) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "team"},
            "spec": {"serviceAccountName": "builder", "containers": [{"name": "app"}],
                     "imagePullSecrets": secrets.iter().map(|name| json!({"name": name})).collect::<Vec<_>>()},
        }))
        .expect("pod")
    }

    /// Each name is read once, missing ones are skipped (as kubelet skips them), a secret
    /// whose type is not a pull secret's is no pull secret (as for kubelet), names no secret
    /// can have are not asked for (an empty one would be a list), and the service account is
    /// not read (`answer` panics if it is).
    #[tokio::test]
    async fn each_named_secret_is_read_once() {
        let (client, asked) = client(answer);
        let names = [
            "a",
            "a",
            "",
            "missing",
            "opaque",
            "b",
            "a",
            "a/../b",
            "B",
            "../secrets",
        ]
        .map(str::to_owned);
        let secrets = ClusterSecrets::new(client)
            .for_pod(&pod(&names), Some("team"))
            .await
            .expect("read");
        assert_eq!(secrets.len(), 2, "a, b");
        let asked = asked.lock().expect("log").clone();
        assert_eq!(
            asked,
            [
                "/api/v1/namespaces/team/secrets/a",
                "/api/v1/namespaces/team/secrets/missing",
                "/api/v1/namespaces/team/secrets/opaque",
                "/api/v1/namespaces/team/secrets/b",
            ]
        );
    }

    /// A pod that lists none reads none (the ServiceAccount plugin would have copied its
    /// account's into it).
    #[tokio::test]
    async fn a_pod_listing_no_secrets_reads_none() {
        let (client, asked) = client(answer);
        let secrets = ClusterSecrets::new(client)
            .for_pod(&pod(&[]), Some("team"))
            .await
            .expect("read");
        assert!(secrets.is_empty());
        assert!(asked.lock().expect("log").is_empty());
    }

    /// A pod naming more secrets than the limit is refused before any secret is read: its
    /// author cannot turn one review into thousands of API calls.
    #[tokio::test]
    async fn a_pod_naming_too_many_secrets_is_refused_before_reading_them() {
        let (client, asked) = client(answer);
        let names: Vec<String> = (0..=MAX_PULL_SECRETS).map(|i| format!("s{i}")).collect();
        let err = ClusterSecrets::new(client)
            .for_pod(&pod(&names), Some("team"))
            .await
            .expect_err("too many");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "spec.imagePullSecrets of a pod in namespace team names {} distinct pull secrets; the webhook reads at most {MAX_PULL_SECRETS}",
                MAX_PULL_SECRETS + 1
            )),
            "{message}"
        );
        assert!(asked.lock().expect("log").is_empty());
    }
}

//! Pull secrets read from the cluster: the pod's `imagePullSecrets` and its service account's,
//! like kubelet. A secret that does not exist is skipped (kubelet does the same); one that
//! cannot be read is an error, so the denial says why.

use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::Api;

use super::pull_secrets::{PullSecret, PullSecretError, PullSecrets};

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

impl PullSecrets for ClusterSecrets {
    async fn for_pod(
        &self,
        pod: &Pod,
        namespace: Option<&str>,
    ) -> Result<Vec<PullSecret>, PullSecretError> {
        let namespace = namespace
            .or(pod.metadata.namespace.as_deref())
            .unwrap_or("default");
        let spec = pod.spec.as_ref();
        let mut names: Vec<String> = spec
            .and_then(|s| s.image_pull_secrets.as_ref())
            .into_iter()
            .flatten()
            .map(|r| r.name.clone())
            .collect();
        let account = spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".to_owned());
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        if let Some(sa) = accounts
            .get_opt(&account)
            .await
            .map_err(|e| unreadable(&format!("serviceaccount {namespace}/{account}"), e))?
        {
            names.extend(sa.image_pull_secrets.into_iter().flatten().map(|r| r.name));
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
            let data = secret.data.unwrap_or_default();
            if let Some(bytes) = data
                .get(".dockerconfigjson")
                .or_else(|| data.get(".dockercfg"))
            {
                out.push(PullSecret::parse(&qualified, &bytes.0)?);
            }
        }
        Ok(out)
    }
}

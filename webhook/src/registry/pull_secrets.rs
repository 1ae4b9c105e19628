//! Registry credentials from Kubernetes pull secrets (`kubernetes.io/dockerconfigjson` and the
//! legacy `kubernetes.io/dockercfg`), matched to a registry host the way kubelet does.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why a pull secret could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullSecretError {
    /// The secret's JSON is unusable.
    #[error("pull secret {name}: {problem}")]
    Malformed {
        /// The secret (or file) name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// The secret could not be read.
    #[error("pull secret {name}: {problem}")]
    Unreadable {
        /// The secret (or file) name.
        name: String,
        /// Why.
        problem: String,
    },
}

#[derive(Deserialize)]
struct DockerConfigJson {
    auths: BTreeMap<String, Entry>,
}

#[derive(Deserialize, Default)]
struct Entry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The credentials of one pull secret, by registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullSecret {
    entries: Vec<(String, Credentials)>,
}

/// `https://index.docker.io/v1/` → `index.docker.io`; Docker Hub's aliases become `docker.io`.
fn host_of(key: &str) -> String {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        _ => host,
    }
}

impl PullSecret {
    /// Parses a `.dockerconfigjson` (with `auths`) or a legacy `.dockercfg` (without) document.
    pub fn parse(name: &str, json: &[u8]) -> Result<Self, PullSecretError> {
        let malformed = |problem: String| PullSecretError::Malformed {
            name: name.to_owned(),
            problem,
        };
        let auths = match serde_json::from_slice::<DockerConfigJson>(json) {
            Ok(config) => config.auths,
            Err(_) => serde_json::from_slice::<BTreeMap<String, Entry>>(json).map_err(|e| {
                malformed(format!("not a dockerconfigjson or dockercfg document: {e}"))
            })?,
        };
        let mut entries = Vec::new();
        for (key, entry) in auths {
            // As kubelet reads an entry: `auth` (base64 user:password) when present, else
            // `username` and `password`; an entry with neither (`{}`, as Docker Desktop writes
            // for a credential helper) holds no credentials and is passed over, not an error
            // that would fail every lookup of the pod.
            let auth = entry.auth.filter(|a| !a.trim().is_empty());
            let credentials = match (auth, entry.username, entry.password) {
                (None, Some(username), Some(password)) => Credentials { username, password },
                (Some(auth), _, _) => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth.trim())
                        .map_err(|e| malformed(format!("{key}: auth is not base64: {e}")))?;
                    let text = String::from_utf8(decoded)
                        .map_err(|_| malformed(format!("{key}: auth is not UTF-8")))?;
                    let (username, password) = text
                        .split_once(':')
                        .ok_or_else(|| malformed(format!("{key}: auth is not user:password")))?;
                    Credentials {
                        username: username.to_owned(),
                        password: password.to_owned(),
                    }
                }
                (None, _, _) => continue,
            };
            entries.push((host_of(&key), credentials));
        }
        Ok(Self { entries })
    }

    /// The credentials for `registry` (a host, with port if any).
    pub fn for_registry(&self, registry: &str) -> Option<&Credentials> {
        let wanted = host_of(registry);
        self.entries
            .iter()
            .find(|(host, _)| *host == wanted)
            .map(|(_, c)| c)
    }
}

/// Where the pull secrets of a pod come from.
pub trait PullSecrets: Send + Sync {
    /// The pull secrets `pod` may use in `namespace`: its own `imagePullSecrets`, then its
    /// service account's.
    fn for_pod(
        &self,
        pod: &Pod,
        namespace: Option<&str>,
    ) -> impl Future<Output = Result<Vec<PullSecret>, PullSecretError>> + Send;
}

/// Fixed pull secrets for every pod (`inject --pull-secret FILE`, `review --pull-secret FILE`).
#[derive(Debug, Clone, Default)]
pub struct Fixed(pub Vec<PullSecret>);

impl Fixed {
    /// Reads dockerconfigjson files.
    pub fn from_files(paths: &[std::path::PathBuf]) -> Result<Self, PullSecretError> {
        let mut secrets = Vec::new();
        for path in paths {
            let name = path.display().to_string();
            let bytes = std::fs::read(path).map_err(|e| PullSecretError::Unreadable {
                name: name.clone(),
                problem: e.to_string(),
            })?;
            secrets.push(PullSecret::parse(&name, &bytes)?);
        }
        Ok(Self(secrets))
    }
}

impl PullSecrets for Fixed {
    async fn for_pod(
        &self,
        _pod: &Pod,
        _ns: Option<&str>,
    ) -> Result<Vec<PullSecret>, PullSecretError> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerconfigjson_and_dockercfg_with_auth_or_user_password() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        let json = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}},
                 "registry.local:5000": {{"username": "bob", "password": "pw"}}}}}}"#
        );
        let secret = PullSecret::parse("regcred", json.as_bytes()).expect("parses");
        assert_eq!(
            secret
                .for_registry("docker.io")
                .map(|c| c.username.as_str()),
            Some("alice")
        );
        assert_eq!(
            secret
                .for_registry("registry.local:5000")
                .map(|c| c.password.as_str()),
            Some("pw")
        );
        assert!(secret.for_registry("registry.local").is_none());

        let legacy = format!(r#"{{"quay.io": {{"auth": "{auth}"}}}}"#);
        let secret = PullSecret::parse("old", legacy.as_bytes()).expect("parses");
        assert!(secret.for_registry("quay.io").is_some());
        assert!(
            !format!("{secret:?}").contains("s3cret"),
            "passwords are never printed"
        );
    }

    #[test]
    fn malformed_secrets_name_the_secret_and_the_problem() {
        let err = PullSecret::parse("regcred", b"not json")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("pull secret regcred: "), "{err}");
        let err = PullSecret::parse("regcred", br#"{"auths": {"r": {"auth": "!!"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("r: auth is not base64"), "{err}");
    }

    /// As kubelet reads entries: `auth` wins over `username`/`password`, and an entry with
    /// neither (Docker Desktop's `{}` for a credential helper) is passed over, leaving the
    /// others usable (it had failed every lookup of the pod, public images included).
    #[test]
    fn auth_wins_and_an_empty_entry_is_passed_over() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        let json = format!(
            r#"{{"auths": {{"registry.local": {{"auth": "{auth}", "username": "bob", "password": "pw"}},
                 "https://index.docker.io/v1/": {{}}}}}}"#
        );
        let secret = PullSecret::parse("regcred", json.as_bytes()).expect("parses");
        assert_eq!(
            secret
                .for_registry("registry.local")
                .map(|c| c.username.as_str()),
            Some("alice")
        );
        assert!(secret.for_registry("docker.io").is_none());
    }
}

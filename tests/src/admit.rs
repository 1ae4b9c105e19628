//! Sending a pod through the webhook's real admission code path (`webhook::review::review`,
//! the function behind `/mutate`), and getting back the pod the API server would store.

use base64::Engine as _;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use webhook::admission::config::Config;
use webhook::admission::namespaces::Lookups;

use crate::pod_runner::bundle::ImageFacts;
use crate::pod_runner::{Image, Rootfs};

/// What the webhook answered.
#[derive(Debug)]
pub enum Admitted {
    /// Allowed; the pod after the patch (unchanged without one), and the warnings.
    Allowed(Box<Pod>, Vec<String>),
    /// Denied, with the message the user would see.
    Denied(String),
}

/// Reviews `pod` (created in its namespace) with `config` and `resolver`.
pub async fn admit(pod: &Pod, config: &Config, resolver: &impl Lookups) -> Admitted {
    let body = review_body(pod);
    let reviewed = match webhook::review::review(&body, config, resolver).await {
        Ok(reviewed) => reviewed,
        Err(e) => return Admitted::Denied(format!("unusable review: {e}")),
    };
    let response = webhook::review::to_json(&reviewed.review)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .map(|v| v["response"].clone())
        .unwrap_or(Value::Null);
    answered(pod, &response)
}

/// The AdmissionReview the API server sends for creating `pod` in its namespace.
pub fn review_body(pod: &Pod) -> Vec<u8> {
    let object = serde_json::to_value(pod).unwrap_or(Value::Null);
    let body = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "00000000-0000-4000-8000-00000000a0a0",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": pod.metadata.namespace.clone().unwrap_or_else(|| "default".to_owned()),
            "operation": "CREATE", "userInfo": {"username": "pod-runner"},
            "object": object,
        }
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// What the API server makes of the webhook's `response` to creating `pod`.
pub fn answered(pod: &Pod, response: &Value) -> Admitted {
    if response["allowed"] != true {
        return Admitted::Denied(
            response["status"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let warnings = serde_json::from_value(response["warnings"].clone()).unwrap_or_default();
    let mut pod_json = serde_json::to_value(pod).unwrap_or(Value::Null);
    if let Some(patch) = response["patch"].as_str() {
        let patch: json_patch::Patch = match base64::engine::general_purpose::STANDARD
            .decode(patch)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(patch) => patch,
            None => return Admitted::Denied("the webhook sent an unreadable patch".to_owned()),
        };
        if let Err(e) = json_patch::patch(&mut pod_json, &patch) {
            return Admitted::Denied(format!("the webhook's patch does not apply: {e}"));
        }
    }
    match serde_json::from_value(pod_json) {
        Ok(pod) => Admitted::Allowed(Box::new(pod), warnings),
        Err(e) => Admitted::Denied(format!("the patched pod is not a Pod: {e}")),
    }
}

/// The shim image as the harness runs it: `FROM scratch` + `/landlock-shim`.
pub fn shim_image() -> (String, Image) {
    (
        webhook::admission::config::default_shim_image(),
        Image {
            rootfs: Rootfs::Shim,
            facts: ImageFacts {
                entrypoint: vec!["/landlock-shim".to_owned()],
                cmd: vec![],
                env: vec![],
            },
        },
    )
}

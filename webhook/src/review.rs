//! AdmissionReview v1 in, AdmissionReview v1 out: the one code path behind `/mutate` and
//! `landlock-webhook review`. This module handles the envelope only; what happens to the pod is
//! [`crate::admission::decision`]'s, and [`admit`] is the sequence both the envelope and `inject` run.
//!
//! The body is read once, borrowing: the envelope's fields are parsed, the object is kept as
//! raw JSON, and a pod that does not opt in is answered from its metadata alone (the spec is
//! skipped, never built). One log line per decision carries the request uid and what was done,
//! never the pod's contents (env may hold secrets).
//!
//! Every string a pod (or a client of `/mutate`) supplies is logged as a string field, never
//! with `%` (Display): the text format then writes it quoted and escaped, so a pod name with a
//! newline cannot forge a log line nor an ESC sequence reach the operator's terminal, and the
//! JSON format writes it as a JSON string, exactly.

use std::borrow::Cow;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use std::sync::Arc;

use kube::core::DynamicObject;

use crate::admission::binding::{self, Objects};
use crate::admission::config::Config;
use crate::admission::decision::{self, Decision, Denial, Images, Skip};
use crate::admission::edits::Edits;
use crate::admission::limits;
use crate::admission::namespaces::Lookups;
use crate::admission::opt_in::{self, PodHead};
use crate::admission::patch;
use crate::offload;

/// A body that is not a usable AdmissionReview: answered with HTTP 400 (`review` exits 1).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Not JSON, or not shaped like an AdmissionReview.
    #[error("the body is not an AdmissionReview: {0}")]
    Malformed(String),
    /// Another kind or API version.
    #[error(
        "expected kind AdmissionReview, apiVersion admission.k8s.io/v1; got kind {kind:?}, apiVersion {api_version:?}"
    )]
    WrongKind {
        /// The kind sent.
        kind: String,
        /// The apiVersion sent.
        api_version: String,
    },
    /// The review has no `request`.
    #[error("the AdmissionReview has no request")]
    MissingRequest,
}

/// What became of one admission request, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Allowed with a patch.
    Mutated,
    /// Allowed without a patch (not opted in, exempt namespace, already injected).
    Unchanged,
    /// Denied (bad annotations, unresolvable entrypoint).
    Denied,
    /// The request itself was unusable (answered with a 4xx).
    Error,
}

impl Outcome {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Mutated => "mutated",
            Outcome::Unchanged => "unchanged",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

const API_VERSION: &str = "admission.k8s.io/v1";
const KIND: &str = "AdmissionReview";

#[derive(Deserialize)]
struct ReviewIn<'a> {
    #[serde(default, rename = "apiVersion", borrow)]
    api_version: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    request: Option<RequestIn<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn<'a> {
    #[serde(borrow)]
    uid: Cow<'a, str>,
    #[serde(borrow)]
    kind: KindIn<'a>,
    #[serde(default, borrow)]
    sub_resource: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow)]
    operation: Cow<'a, str>,
    #[serde(default, borrow)]
    object: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct KindIn<'a> {
    #[serde(default, borrow)]
    group: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

/// The response AdmissionReview.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewOut {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    /// The response.
    pub response: Response,
}

/// `response` of an AdmissionReview.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The request's uid.
    pub uid: String,
    /// Whether the pod is admitted.
    pub allowed: bool,
    /// Why not, for denials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The JSONPatch, base64 (Go's `[]byte`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// `JSONPatch` with a patch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    /// kubectl warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A denial's `metav1.Status`: code 403, reason `Forbidden`, like the policy's denials.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// `Failure`.
    pub status: &'static str,
    /// The denial message.
    pub message: String,
    /// `Forbidden`.
    pub reason: &'static str,
    /// 403.
    pub code: u16,
}

/// An answered review.
#[derive(Debug)]
pub struct Reviewed {
    /// The response review.
    pub review: ReviewOut,
    /// What happened.
    pub outcome: Outcome,
}

/// The response as JSON bytes.
pub fn to_json(review: &ReviewOut) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(review)
}

/// What was decided for one pod object, with its patch.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// Unchanged, or wrapped with these edits.
    pub decision: Decision<Edits>,
    /// The JSONPatch of the edits (empty when unchanged).
    pub patch: json_patch::Patch,
    /// The pod's name (or `generateName*`), for log lines.
    pub pod: String,
    /// The pod's uid, for log lines.
    pub pod_uid: String,
}

/// The whole admission of one pod object (JSON text) created in `namespace`: opt-in from its
/// metadata, namespace lookup, decision, image lookups, edits and their patch. `/mutate`,
/// `review` and `inject` all run this.
pub async fn admit(
    object: &str,
    namespace: Option<&str>,
    config: &Config,
    lookups: &impl Lookups,
) -> Result<Admitted, Denial> {
    admit_parsed(object, &parse_head(object)?, namespace, config, lookups).await
}

/// The metadata of the pod `object`.
pub fn parse_head(object: &str) -> Result<PodHead, Denial> {
    serde_json::from_str(object).map_err(|e| Denial::NotAPod(e.to_string()))
}

/// A lookup's objects as the decision takes them.
fn borrowed(found: &Result<Vec<Arc<DynamicObject>>, String>) -> binding::Policies<'_> {
    match found {
        Ok(found) => Ok(found.as_slice()),
        Err(e) => Err(e.as_str()),
    }
}

/// [`admit`] for a pod whose metadata the caller already parsed.
pub async fn admit_parsed(
    object: &str,
    head: &PodHead,
    namespace: Option<&str>,
    config: &Config,
    lookups: &impl Lookups,
) -> Result<Admitted, Denial> {
    let namespace = namespace
        .filter(|n| !n.is_empty())
        .or(head.meta().namespace.as_deref())
        .unwrap_or("default");
    let mut warnings = Vec::new();
    let ns = if opt_in::needs_namespace(head.meta(), namespace, config) {
        match lookups.namespace(namespace).await {
            Ok(ns) => ns,
            Err(e) => {
                tracing::warn!(
                    namespace,
                    error = e.as_str(),
                    "cannot read the namespace; only the pod's own switches count"
                );
                warnings.push(format!(
                    "landlock-injector: cannot read namespace {namespace:?} ({e}); only the pod's own {} label or annotation was considered",
                    opt_in::switch_key()
                ));
                None
            }
        }
    } else {
        None
    };
    let unchanged = |mut skip: Skip, mut warnings: Vec<String>| {
        warnings.append(&mut skip.warnings);
        skip.warnings = limits::cap_warnings(warnings);
        Admitted {
            decision: Decision::Skip(skip),
            patch: json_patch::Patch(vec![]),
            pod: String::new(),
            pod_uid: String::new(),
        }
    };
    // From memory (a cache in `serve`, documents offline): no request per review; and only for
    // a pod that opts in (or out, which a closed policy refuses), so that the cluster's other
    // pods cost no walk over its policies.
    let opted = opt_in::decide(head.meta(), namespace, ns.as_ref(), config)?;
    let (policies, recordings) = match opted {
        opt_in::OptIn::In { .. } => (lookups.policies(namespace), lookups.recordings(namespace)),
        opt_in::OptIn::Out { by_pod: true, .. } => (lookups.policies(namespace), Ok(Vec::new())),
        opt_in::OptIn::Out { .. } => (Ok(Vec::new()), Ok(Vec::new())),
    };
    let objects = Objects {
        policies: borrowed(&policies),
        recordings: borrowed(&recordings),
        now: std::time::SystemTime::now(),
    };
    let decided = offload::if_large(object.len(), || {
        decision::decide_opted(object, head, namespace, opted, objects, config)
    });
    let injection = match decided? {
        Decision::Skip(skip) => return Ok(unchanged(skip, warnings)),
        Decision::Wrap(injection) => injection,
    };
    let mut images = Images::new();
    let wanted = injection.images();
    if !wanted.is_empty() {
        // The registry reader needs the whole pod (its pull secrets).
        let pod: Pod = serde_json::from_str(object).map_err(|e| Denial::NotAPod(e.to_string()))?;
        // All at once (see `ImageResolver::resolve`): three slow images one after the other passed the
        // review's own deadline, and the API server applied its failurePolicy instead of
        // reading a denial that names the image. The slots bound what they hold.
        let wanted: Vec<String> = wanted.into_iter().collect();
        let found = lookups.resolve(&wanted, &pod, Some(namespace)).await;
        images.extend(wanted.into_iter().zip(found));
    }
    let work = object.len().max(injection.estimated_output());
    let applied = offload::if_large(work, || {
        let edits = match injection.apply(&images)? {
            Decision::Wrap(edits) => edits,
            Decision::Skip(skip) => return Ok(Err(skip)),
        };
        let patch = patch::operations(&edits)?;
        Ok::<_, Denial>(Ok((edits, patch)))
    })?;
    let (mut edits, patch) = match applied {
        Ok(done) => done,
        Err(skip) => return Ok(unchanged(skip, warnings)),
    };
    warnings.append(&mut edits.warnings);
    edits.warnings = limits::cap_warnings(warnings);
    Ok(Admitted {
        decision: Decision::Wrap(edits),
        patch,
        pod: head.name(),
        pod_uid: head.meta().uid.clone().unwrap_or_default(),
    })
}

/// Reviews one AdmissionReview body.
pub async fn review(
    body: &[u8],
    config: &Config,
    lookups: &impl Lookups,
) -> Result<Reviewed, ReviewError> {
    // A large body (a pod that opted in, or an attack) is parsed off the async workers.
    let parse = || serde_json::from_slice(body).map_err(|e| ReviewError::Malformed(e.to_string()));
    let review: ReviewIn<'_> = offload::if_large(body.len(), parse)?;
    let kind = review.kind.as_deref().unwrap_or_default();
    let api_version = review.api_version.as_deref().unwrap_or_default();
    if kind != KIND || api_version != API_VERSION {
        return Err(ReviewError::WrongKind {
            kind: kind.to_owned(),
            api_version: api_version.to_owned(),
        });
    }
    let request = review.request.ok_or(ReviewError::MissingRequest)?;
    let (response, outcome) = respond(&request, config, lookups).await;
    Ok(Reviewed {
        review: ReviewOut {
            api_version: API_VERSION,
            kind: KIND,
            response,
        },
        outcome,
    })
}

fn allowed(uid: &str, warnings: Vec<String>) -> Response {
    Response {
        uid: uid.to_owned(),
        allowed: true,
        status: None,
        patch: None,
        patch_type: None,
        warnings,
    }
}

fn denied(uid: &str, message: String) -> Response {
    Response {
        status: Some(Status {
            status: "Failure",
            message,
            reason: "Forbidden",
            code: 403,
        }),
        allowed: false,
        ..allowed(uid, vec![])
    }
}

async fn respond(
    request: &RequestIn<'_>,
    config: &Config,
    lookups: &impl Lookups,
) -> (Response, Outcome) {
    let uid = request.uid.as_ref();
    let is_pod = request.kind.group.is_empty() && request.kind.kind == "Pod";
    if !is_pod || request.operation != "CREATE" || request.sub_resource.is_some() {
        return (allowed(uid, vec![]), Outcome::Unchanged);
    }
    let Some(object) = request.object else {
        let message = "landlock-injector: the request has no object".to_owned();
        tracing::info!(uid, denial = message.as_str(), "pod denied");
        return (denied(uid, message), Outcome::Denied);
    };
    let namespace = request.namespace.as_deref();
    let admitted = match parse_head(object.get()) {
        Ok(head) => admit_parsed(object.get(), &head, namespace, config, lookups)
            .await
            .map_err(|denial| (denial, head)),
        Err(denial) => Err((denial, PodHead::default())),
    };
    match admitted {
        Ok(Admitted {
            decision: Decision::Skip(skip),
            ..
        }) => {
            tracing::debug!(
                uid,
                namespace,
                reason = skip.reason.as_str(),
                "pod unchanged"
            );
            (allowed(uid, skip.warnings), Outcome::Unchanged)
        }
        Ok(Admitted {
            decision: Decision::Wrap(edits),
            patch,
            pod,
            pod_uid,
        }) => match offload::if_large(
            edits
                .containers
                .iter()
                .map(crate::admission::edits::ContainerEdit::bytes)
                .sum(),
            || serde_json::to_vec(&patch),
        ) {
            Ok(bytes) => {
                let names = |f: fn(&crate::admission::edits::WrappedContainer) -> String| {
                    let mut v: Vec<String> = edits.wrapped.iter().map(f).collect();
                    v.dedup();
                    v.join(",")
                };
                tracing::info!(
                    uid,
                    namespace,
                    pod = pod.as_str(),
                    pod_uid = pod_uid.as_str(),
                    containers = names(|w| w.name.clone()).as_str(),
                    mode = names(|w| w.mode.name().to_owned()).as_str(),
                    profile = names(|w| w.profile.name().to_owned()).as_str(),
                    warnings = edits.warnings.len(),
                    "pod wrapped"
                );
                let mut response = allowed(uid, edits.warnings);
                response.patch = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
                response.patch_type = Some("JSONPatch");
                (response, Outcome::Mutated)
            }
            Err(e) => {
                let message = format!("landlock-injector: cannot serialise the patch: {e}");
                tracing::error!(uid, namespace, denial = message.as_str(), "pod denied");
                (denied(uid, message), Outcome::Denied)
            }
        },
        Err((denial, head)) => {
            let message = denial.to_string();
            let pod_uid = head.meta().uid.as_deref().unwrap_or_default();
            let pod = head.name();
            tracing::info!(
                uid,
                namespace,
                pod = pod.as_str(),
                pod_uid,
                denial = message.as_str(),
                "pod denied"
            );
            (denied(uid, message), Outcome::Denied)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kube::core::DynamicObject;

    use super::*;
    use crate::admission::namespaces::{Both, PolicySource, With};
    use crate::admission::resolve::Offline;

    /// A policy source that cannot read anything and counts how often it was asked.
    #[derive(Default)]
    struct Unreadable(AtomicUsize);

    impl PolicySource for Unreadable {
        fn policies(&self, _namespace: &str) -> Result<Vec<Arc<DynamicObject>>, String> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Err("the watch has not listed yet".to_owned())
        }
    }

    fn pod(annotations: serde_json::Value) -> String {
        serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "annotations": annotations},
            "spec": {"containers": [{"name": "app", "image": "busybox", "command": ["sleep", "1"]}]}})
        .to_string()
    }

    /// A pod that does not opt in never costs a walk over the namespace's policies, so that
    /// the cluster's other pods are admitted even while the policies cannot be read; an
    /// opted-in one asks, and is refused with the reason.
    #[tokio::test]
    async fn only_opted_in_pods_ask_for_policies() {
        let lookups = With {
            images: Offline,
            namespaces: Both {
                namespaces: Offline,
                policies: Unreadable::default(),
            },
        };
        let config = Config {
            shim_image: "registry.example/shim:1".to_owned(),
            namespace: "landlock-injector".to_owned(),
        };
        let plain = admit(&pod(serde_json::json!({})), Some("shop"), &config, &lookups)
            .await
            .expect("a plain pod is admitted");
        assert!(matches!(plain.decision, Decision::Skip(_)));
        assert_eq!(lookups.namespaces.policies.0.load(Ordering::Relaxed), 0);
        let opted = pod(serde_json::json!({"landlock-injector.io/inject": "true"}));
        let Err(denial) = admit(&opted, Some("shop"), &config, &lookups).await else {
            panic!("an opted-in pod is refused without its policies");
        };
        let denial = denial.to_string();
        assert!(denial.contains("the watch has not listed yet"), "{denial}");
        assert_eq!(lookups.namespaces.policies.0.load(Ordering::Relaxed), 1);
    }
}

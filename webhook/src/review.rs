//! AdmissionReview v1 in, AdmissionReview v1 out: the one code path behind `/mutate` and
//! `landlock-webhook review`.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};

use crate::config::Config;
use crate::mutation::{self, Context, Images, Verdict};
use crate::resolve::ImageResolver;
use crate::serve::metrics::Outcome;

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

/// An answered review.
#[derive(Debug)]
pub struct Reviewed {
    /// The response review.
    pub review: AdmissionReview<DynamicObject>,
    /// What happened, for metrics and logs.
    pub outcome: Outcome,
}

/// Reviews one AdmissionReview body.
pub async fn review(
    body: &[u8],
    config: &Config,
    resolver: &impl ImageResolver,
) -> Result<Reviewed, ReviewError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ReviewError::Malformed(e.to_string()))?;
    let kind = value
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let api_version = value
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if kind != "AdmissionReview" || api_version != "admission.k8s.io/v1" {
        return Err(ReviewError::WrongKind {
            kind: kind.to_owned(),
            api_version: api_version.to_owned(),
        });
    }
    if value.get("request").is_none_or(serde_json::Value::is_null) {
        return Err(ReviewError::MissingRequest);
    }
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_value(value).map_err(|e| ReviewError::Malformed(e.to_string()))?;
    let request: AdmissionRequest<DynamicObject> =
        review.try_into().map_err(|_| ReviewError::MissingRequest)?;
    let (response, outcome) = respond(&request, config, resolver).await;
    Ok(Reviewed {
        review: response.into_review(),
        outcome,
    })
}

async fn respond(
    request: &AdmissionRequest<DynamicObject>,
    config: &Config,
    resolver: &impl ImageResolver,
) -> (AdmissionResponse, Outcome) {
    let allowed = AdmissionResponse::from(request);
    let is_pod = request.kind.group.is_empty() && request.kind.kind == "Pod";
    if !is_pod || request.operation != Operation::Create || request.sub_resource.is_some() {
        return (allowed, Outcome::Unchanged);
    }
    let Some(object) = &request.object else {
        return (
            allowed.deny("landlock-injector: the request has no object"),
            Outcome::Denied,
        );
    };
    let pod: Pod = match serde_json::to_value(object).and_then(serde_json::from_value) {
        Ok(pod) => pod,
        Err(e) => {
            return (
                allowed.deny(format!(
                    "landlock-injector: the object is not a valid Pod: {e}"
                )),
                Outcome::Denied,
            );
        }
    };
    match decide(&pod, request.namespace.as_deref(), config, resolver).await {
        Ok(Verdict::Unchanged { warnings, .. }) => {
            (with_warnings(allowed, warnings), Outcome::Unchanged)
        }
        Ok(Verdict::Mutated(mutation)) => match allowed.clone().with_patch(mutation.patch) {
            Ok(response) => (with_warnings(response, mutation.warnings), Outcome::Mutated),
            Err(e) => (
                allowed.deny(format!(
                    "landlock-injector: cannot serialise the patch: {e}"
                )),
                Outcome::Denied,
            ),
        },
        Err(denial) => (allowed.deny(denial), Outcome::Denied),
    }
}

/// Looks up the images `pod` needs, then decides: the whole admission decision for one pod.
pub async fn decide(
    pod: &Pod,
    namespace: Option<&str>,
    config: &Config,
    resolver: &impl ImageResolver,
) -> Result<Verdict, mutation::Denial> {
    let images = lookup(pod, config, namespace, resolver).await;
    let ctx = Context {
        config,
        namespace,
        images: &images,
    };
    mutation::mutate(pod, &ctx)
}

/// Looks up the image configuration of every container that needs one.
pub async fn lookup(
    pod: &Pod,
    config: &Config,
    namespace: Option<&str>,
    resolver: &impl ImageResolver,
) -> Images {
    let mut images = Images::new();
    let wanted: BTreeSet<String> = mutation::images_to_resolve(pod, config, namespace)
        .into_iter()
        .map(|(_, image)| image)
        .collect();
    for image in wanted {
        let result = resolver.resolve(&image, pod, namespace).await;
        images.insert(image, result);
    }
    images
}

/// The response as JSON bytes, with the patch base64-encoded as the API server's Go types
/// expect for `[]byte` (kube-core serialises it as an array of numbers).
pub fn to_json(review: &AdmissionReview<DynamicObject>) -> Result<Vec<u8>, serde_json::Error> {
    use base64::Engine as _;
    let mut value = serde_json::to_value(review)?;
    if let Some(patch) = value.pointer_mut("/response/patch") {
        let bytes: Vec<u8> = serde_json::from_value(patch.take())?;
        *patch = serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    serde_json::to_vec(&value)
}

fn with_warnings(mut response: AdmissionResponse, warnings: Vec<String>) -> AdmissionResponse {
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    response
}

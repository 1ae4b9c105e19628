//! The HTTP surface: `/mutate`, `/healthz`, `/readyz`, `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::metrics::{Metrics, Outcome};
use crate::panic_guard;

/// The answer to one `/mutate` body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status: 200 for every AdmissionReview answer (allowed or denied), 4xx for requests
    /// that are not a usable AdmissionReview.
    pub status: StatusCode,
    /// The response body (an AdmissionReview, or a one-line error for 4xx).
    pub body: Vec<u8>,
    /// What happened, for the metrics.
    pub outcome: Outcome,
}

/// The admission logic behind `/mutate`: the same code path as `landlock-webhook review`.
pub trait Admission: Send + Sync + 'static {
    /// Reviews one AdmissionReview body.
    fn review(&self, body: Bytes) -> impl Future<Output = Answer> + Send;

    /// Registers the metrics the admission logic owns (once, before serving).
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
}

/// Shared by every request.
pub struct AppState<A> {
    /// The admission logic.
    pub admission: A,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Set when shutdown starts: `/readyz` turns 503 so the Service stops sending traffic.
    pub draining: Arc<AtomicBool>,
    /// Longest time one review may take before the server answers 503.
    pub request_timeout: Duration,
}

/// The router; `body_limit` bytes is the largest `/mutate` body accepted (413 above).
pub fn router<A: Admission>(state: Arc<AppState<A>>, body_limit: usize) -> Router {
    Router::new()
        .route("/mutate", post(mutate::<A>))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready::<A>))
        .route("/metrics", get(metrics::<A>))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

async fn mutate<A: Admission>(
    State(state): State<Arc<AppState<A>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let answer = if !is_json(&headers) {
        Answer {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            body: b"/mutate takes an AdmissionReview as Content-Type: application/json\n".to_vec(),
            outcome: Outcome::Error,
        }
    } else {
        let review = panic_guard::catch(state.admission.review(body));
        match tokio::time::timeout(state.request_timeout, review).await {
            Ok(Ok(answer)) => answer,
            // A bug, not the request's fault: fail this request only, say so, keep serving.
            Ok(Err(panic)) => {
                tracing::error!(panic = %panic, "the review panicked; answered 500, still serving");
                Answer {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    body: b"the webhook failed on this request (a bug, logged); the API server applies the webhook's failurePolicy\n".to_vec(),
                    outcome: Outcome::Error,
                }
            }
            Err(_) => Answer {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: format!(
                    "the review took longer than {:?}; the API server applies the webhook's failurePolicy\n",
                    state.request_timeout
                )
                .into_bytes(),
                outcome: Outcome::Error,
            },
        }
    };
    state
        .metrics
        .observe(answer.outcome, started.elapsed().as_secs_f64());
    let content_type = if answer.status == StatusCode::OK {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    (
        answer.status,
        [(header::CONTENT_TYPE, content_type)],
        answer.body,
    )
        .into_response()
}

async fn ready<A: Admission>(State(state): State<Arc<AppState<A>>>) -> Response {
    if state.draining.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        "ready\n".into_response()
    }
}

async fn metrics<A: Admission>(State(state): State<Arc<AppState<A>>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

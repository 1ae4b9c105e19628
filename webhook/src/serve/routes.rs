//! The HTTP surface: `/mutate`, `/healthz`, `/readyz`, `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::connections::RequestDeadline;
use super::metrics::{Metrics, Outcome};
use super::request_body::{self, BodyError};
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

    /// Why reviews cannot be answered yet (`/readyz` fails with it), if they cannot: the
    /// cluster's LandlockPolicies not listed yet.
    fn not_ready(&self) -> Option<String> {
        None
    }
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
    /// The largest `/mutate` body accepted (413 above).
    pub body_limit: usize,
    /// Longest a request may take to arrive when the connection did not time it (tests that
    /// call the router directly); the connection's [`RequestDeadline`] otherwise.
    pub read_timeout: Duration,
}

/// The router.
pub fn router<A: Admission>(state: Arc<AppState<A>>) -> Router {
    Router::new()
        .route("/mutate", post(mutate::<A>))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready::<A>))
        .route("/metrics", get(metrics::<A>))
        .with_state(state)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn plain(status: StatusCode, text: String) -> Answer {
    Answer {
        status,
        body: text.into_bytes(),
        outcome: Outcome::Error,
    }
}

/// The announced Content-Length, if any and well-formed.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

async fn mutate<A: Admission>(State(state): State<Arc<AppState<A>>>, request: Request) -> Response {
    let started = Instant::now();
    let answer = answer(&state, request).await;
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

async fn answer<A: Admission>(state: &Arc<AppState<A>>, request: Request) -> Answer {
    if !is_json(request.headers()) {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "/mutate takes an AdmissionReview as Content-Type: application/json\n".to_owned(),
        );
    }
    let deadline = request
        .extensions()
        .get::<RequestDeadline>()
        .copied()
        .unwrap_or_else(|| RequestDeadline {
            at: tokio::time::Instant::now() + state.read_timeout,
            allowed: state.read_timeout,
        });
    let announced = content_length(request.headers());
    let body = request.into_body();
    let body = match request_body::read(
        body,
        announced,
        state.body_limit,
        deadline.at,
        deadline.allowed,
    )
    .await
    {
        Ok(body) => Bytes::from(body),
        Err(err) => {
            let status = match err {
                BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                BodyError::TooSlow { .. } => StatusCode::REQUEST_TIMEOUT,
                BodyError::Read(_) => StatusCode::BAD_REQUEST,
            };
            return plain(status, format!("{err}\n"));
        }
    };
    // The review runs as a task of its own: its CPU-bound parts run off the async workers
    // (crate::offload), and this deadline fires while they do.
    let reviewing = state.clone();
    let task =
        tokio::spawn(async move { panic_guard::catch(reviewing.admission.review(body)).await });
    let abort = task.abort_handle();
    match tokio::time::timeout(state.request_timeout, task).await {
        Ok(Ok(Ok(answer))) => answer,
        // A bug, not the request's fault: fail this request only, say so, keep serving.
        Ok(Ok(Err(panic))) => {
            tracing::error!(
                panic = panic.as_str(),
                "the review panicked; answered 500, still serving"
            );
            panicked()
        }
        Ok(Err(join)) => {
            tracing::error!(error = %join, "the review task failed; answered 500, still serving");
            panicked()
        }
        Err(_) => {
            abort.abort();
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the review took longer than {:?}; the API server applies the webhook's failurePolicy\n",
                    state.request_timeout
                ),
            )
        }
    }
}

fn panicked() -> Answer {
    plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the webhook failed on this request (a bug, logged); the API server applies the webhook's failurePolicy\n".to_owned(),
    )
}

async fn ready<A: Admission>(State(state): State<Arc<AppState<A>>>) -> Response {
    if state.draining.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else if let Some(why) = state.admission.not_ready() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response()
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

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    struct Starting(Option<String>);

    impl Admission for Starting {
        async fn review(&self, _body: Bytes) -> Answer {
            plain(StatusCode::OK, String::new())
        }

        fn not_ready(&self) -> Option<String> {
            self.0.clone()
        }
    }

    async fn readyz(not_ready: Option<&str>) -> (StatusCode, String) {
        let state = Arc::new(AppState {
            admission: Starting(not_ready.map(str::to_owned)),
            metrics: Arc::new(Metrics::default()),
            draining: Arc::new(AtomicBool::new(false)),
            request_timeout: Duration::from_secs(1),
            body_limit: 1024,
            read_timeout: Duration::from_secs(1),
        });
        let request = axum::http::Request::get("/readyz")
            .body(axum::body::Body::empty())
            .expect("request");
        let response = router(state).oneshot(request).await.expect("answered");
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// `/readyz` fails, saying why, while the admission logic cannot answer (the
    /// LandlockPolicies not listed yet), so the Service sends the pod no review.
    #[tokio::test]
    async fn readyz_fails_while_the_admission_logic_is_not_ready() {
        assert_eq!(readyz(None).await, (StatusCode::OK, "ready\n".to_owned()));
        assert_eq!(
            readyz(Some("the LandlockPolicy watch has not listed them yet")).await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the LandlockPolicy watch has not listed them yet\n".to_owned()
            )
        );
    }
}

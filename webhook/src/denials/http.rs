//! The reporter's HTTP surface (plain HTTP, for the kubelet's probes and Prometheus):
//! `/metrics`, `/healthz`, and `/readyz`, which fails while kernel auditing is known to be off
//! or the agent is known to be outside the host's initial network namespace (no denial can be
//! reported then), or while the watch of this node's pods has not listed them or is failing
//! (denials cannot be attributed to pods nor posted as Events then), and says why.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::metrics::{AuditState, Metrics};
use super::namespaces;

/// The readiness answer for an audit state and, when the agent is outside the initial network
/// namespace, that namespace's inode.
pub fn readiness(
    state: AuditState,
    outside_network_namespace: Option<u64>,
) -> (StatusCode, String) {
    if let Some(inode) = outside_network_namespace {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}\n", namespaces::not_initial_message(inode)),
        );
    }
    let (code, text) = match state {
        AuditState::Enabled => (StatusCode::OK, "ok: kernel auditing is on\n"),
        AuditState::Unknown => (
            StatusCode::OK,
            "ok: whether kernel auditing is on is not known yet (asking needs CAP_AUDIT_CONTROL; it is known once a Landlock record arrives)\n",
        ),
        AuditState::Disabled => (
            StatusCode::SERVICE_UNAVAILABLE,
            "kernel auditing is off: the kernel reports no Landlock denial; run `auditctl -e 1` on the node or start the reporter with --enable-audit (chart: denials.enableAudit=true)\n",
        ),
    };
    (code, text.to_owned())
}

/// The readiness answer while the pod watch does not work.
pub const POD_WATCH_DOWN: &str = "the watch of this node's pods has not listed them or is failing (is the API server reachable? NetworkPolicy egress to it, RBAC list/watch pods): denials are reported `unattributed` and no Event is posted until it works (landlock_denials_pod_watch_up, and the agent's log: `watching this node's pods failed`)\n";

/// The readiness answer for everything `metrics` knows: [`readiness`], then the pod watch.
pub fn readiness_of(metrics: &Metrics) -> (StatusCode, String) {
    let (code, text) = readiness(metrics.audit(), metrics.outside_initial_network_namespace());
    if code.is_success() && !metrics.pod_watch_ok() {
        return (StatusCode::SERVICE_UNAVAILABLE, POD_WATCH_DOWN.to_owned());
    }
    (code, text)
}

/// The routes.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|State(m): State<Arc<Metrics>>| async move { readiness_of(&m) }),
        )
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    m.encode(),
                )
                    .into_response()
            }),
        )
        .with_state(metrics)
}

/// Serves the routes on `listen` until the task is dropped.
pub async fn serve(listen: SocketAddr, metrics: Arc<Metrics>) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    axum::serve(listener, router(metrics))
        .await
        .map_err(|e| format!("metrics server on {listen}: {e}"))
}

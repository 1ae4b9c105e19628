//! `/mutate`: [`webhook::review::review`] behind the server's [`Admission`] trait, so the HTTPS
//! path and `landlock-webhook review` run the very same code.

use axum::body::Bytes;
use axum::http::StatusCode;

use webhook::admission::config::Config;
use webhook::admission::namespace_watch::ClusterNamespaces;
use webhook::admission::namespaces::{Both, Fallback, Known, With};
use webhook::admission::policy_watch::ClusterPolicies;
use webhook::registry::{Registry, pull_secrets::PullSecrets};
use webhook::review::{self, Outcome};
use webhook::serve::{Admission, Answer};

/// The admission logic the server runs.
pub struct Endpoint<S> {
    /// The configuration.
    pub config: Config,
    /// The image configuration reader.
    pub registry: Registry<S>,
    /// Namespaces and LandlockPolicies given by `--namespaces`, then the cluster's (when
    /// running in one).
    pub namespaces: Fallback<Known, Option<Both<ClusterNamespaces, ClusterPolicies>>>,
}

impl<S: PullSecrets + 'static> Admission for Endpoint<S> {
    async fn review(&self, body: Bytes) -> Answer {
        let lookups = With {
            images: &self.registry,
            namespaces: &self.namespaces,
        };
        match review::review(&body, &self.config, &lookups).await {
            Ok(reviewed) => match review::to_json(&reviewed.review) {
                Ok(body) => Answer {
                    status: StatusCode::OK,
                    body,
                    outcome: reviewed.outcome,
                },
                Err(e) => Answer {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    body: format!("cannot serialise the response: {e}\n").into_bytes(),
                    outcome: Outcome::Error,
                },
            },
            Err(err) => Answer {
                status: StatusCode::BAD_REQUEST,
                body: format!("{err}\n").into_bytes(),
                outcome: Outcome::Error,
            },
        }
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.registry.counters.register(registry);
    }

    fn not_ready(&self) -> Option<String> {
        self.namespaces
            .then
            .as_ref()
            .and_then(|cluster| cluster.policies.problem())
    }
}

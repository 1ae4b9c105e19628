//! landlock-webhook: the admission logic and the server that wraps opted-in containers in
//! `landlock-shim`.
//!
//! The crate's top level is its programs over one shared core, [`admission`]:
//!
//! | module | is |
//! |---|---|
//! | [`admission`] | the core: opt-in, decision, annotations, discovery, entrypoint, installer, edits, patch |
//! | [`review`] | the AdmissionReview envelope in and out, and [`review::admit`]: the sequence for one pod |
//! | [`serve`] | `landlock-webhook serve` (the binary puts the review behind its `/mutate`) |
//! | [`inject`] | `landlock-webhook inject`: manifests in, injected manifests out |
//! | [`denials`] | `landlock-webhook denials`: the node agent reporting Landlock denials |
//! | [`pod_watch`] | a cached watch of the pods carrying one of the webhook's labels |
//! | [`watch_health`] | whether a watch's cache may be behind, from its events |
//! | [`policy_status`] | `serve --policy-status`: each LandlockPolicy's pods, and those on an older generation, in its status |
//! | [`recording`] | `serve --recordings`: LandlockRecordings' learn lines, from pod logs, into LandlockPolicies |
//! | [`suggest`] | `landlock-webhook suggest`: shim output and denial lines in, the policy that lets it run out |
//! | [`registry`] | the registry client that image configurations come from |
//! | [`offload`] | where CPU-bound admission work runs: off the async workers |
//! | [`panic_guard`] | what a panic becomes: a failed request or lookup, not a dead process |
//! | [`background`] | the watches and loops behind `serve`: one that ends ends the process |

pub mod admission;
pub mod background;
pub mod denials;
pub mod inject;
pub mod offload;
pub mod panic_guard;
pub mod pod_watch;
pub mod policy_status;
pub mod recording;
pub mod registry;
pub mod review;
pub mod serve;
pub mod suggest;
pub mod watch_health;

/// This program's name and version, as logs and startup lines show it.
pub fn component() -> String {
    format!("landlock-webhook {}", env!("CARGO_PKG_VERSION"))
}

//! landlock-webhook: the admission logic and the server that wraps opted-in containers in
//! `landlock-shim`.
//!
//! The request path, in order:
//!
//! | module | decides |
//! |---|---|
//! | [`review`] | the AdmissionReview envelope in and out, and [`review::admit`]: the sequence for one pod |
//! | [`opt_in`] | whether a pod is wrapped at all (pod label, pod annotation, namespace label) |
//! | [`namespaces`], [`namespace_watch`] | where a namespace's labels and annotations come from |
//! | [`decision`] | what happens to an opted-in pod: skip, or an injection and then its edits (pure) |
//! | [`pod_spec`] | the parts of a pod the decision reads, parsed without the rest |
//! | [`annotations`] | what the `landlock-injector.io/*` annotations ask for |
//! | [`discovery`] | which grants a container's volume mounts imply |
//! | [`entrypoint`] | what a wrapped container runs (command, args, image ENTRYPOINT/CMD) |
//! | [`installer`] | the injected volume, installer and mount; their names; an earlier injection |
//! | [`injected`] | what a pod says about an earlier injection, checked against what the webhook writes |
//! | [`limits`] | what one pod may cost: paths per container, bytes of commands, warnings |
//! | [`edits`] | the typed edits of an injection, addressed to the submitted pod |
//! | [`patch`] | the JSONPatch operations of the edits |
//! | [`resolve`], [`registry`] | where image configurations come from |
//! | [`inject`] | `landlock-webhook inject`: manifests in, injected manifests out |
//! | [`config`] | the admission configuration |
//! | [`serve`] | `landlock-webhook serve` (the binary puts the review behind its `/mutate`) |
//! | [`offload`] | where CPU-bound admission work runs: off the async workers |
//! | [`panic_guard`] | what a panic becomes: a failed request or lookup, not a dead process |
//! | [`denials`] | `landlock-webhook denials`: the node agent reporting Landlock denials |
//! | [`suggest`] | `landlock-webhook suggest`: shim output and denial lines in, the policy that lets it run out |

pub mod annotations;
pub mod config;
pub mod decision;
pub mod denials;
pub mod discovery;
pub mod edits;
pub mod entrypoint;
pub mod inject;
pub mod injected;
pub mod installer;
pub mod limits;
pub mod namespace_watch;
pub mod namespaces;
pub mod offload;
pub mod opt_in;
pub mod panic_guard;
pub mod patch;
pub mod pod_spec;
pub mod registry;
pub mod resolve;
pub mod review;
pub mod serve;
pub mod suggest;

/// This program's name and version, as logs and startup lines show it.
pub fn component() -> String {
    format!("landlock-webhook {}", env!("CARGO_PKG_VERSION"))
}

//! landlock-webhook: the admission logic and the server that wraps opted-in containers in
//! `landlock-shim`.
//!
//! | module | decides |
//! |---|---|
//! | [`annotations`] | what the `landlock-injector.io/*` annotations ask for |
//! | [`discovery`] | which grants a container's volume mounts imply |
//! | [`entrypoint`] | what a wrapped container runs (command, args, image ENTRYPOINT/CMD) |
//! | [`patch`] | the pod edits of an injection and their JSONPatch |
//! | [`mutation`] | the admission decision for one pod (pure) |
//! | [`config`] | the admission configuration |
//! | [`serve`] | `landlock-webhook serve` |

pub mod annotations;
pub mod commands;
pub mod config;
pub mod discovery;
pub mod endpoint;
pub mod entrypoint;
pub mod inject;
pub mod mutation;
pub mod patch;
pub mod registry;
pub mod resolve;
pub mod review;
pub mod serve;

/// This program's name and version, as logs and startup lines show it.
pub fn component() -> String {
    format!("landlock-webhook {}", env!("CARGO_PKG_VERSION"))
}

//! landlock-webhook: the admission logic and the server that wraps opted-in containers in
//! `landlock-shim`.

pub mod serve;

/// This program's name and version, as logs and startup lines show it.
pub fn component() -> String {
    format!("landlock-webhook {}", env!("CARGO_PKG_VERSION"))
}

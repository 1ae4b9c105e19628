//! landlock-webhook: the admission logic and the server that wraps opted-in containers in
//! `landlock-shim`.

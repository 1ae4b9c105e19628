//! What a panic becomes: an error for the one request or lookup that hit it, never the end of
//! the process. No code path is meant to panic (see the fuzz targets under `tests/fuzz/`); this
//! is the net under code we do not control (dependencies' `unwrap`s on what a registry sends)
//! and under our own mistakes. It needs `panic = "unwind"`, which the release profile keeps
//! (the shim's profile aborts instead: it has nothing to recover into).
//!
//! Catching is sound at the two places it is used because nothing a half-finished request
//! touched outlives it in a broken state: the per-lookup registry client is dropped, the image
//! cache's lock ignores poisoning, and counters are atomics.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;

/// Runs `future`; a panic inside it comes back as `Err` with the panic's message.
pub async fn catch<F: Future>(future: F) -> Result<F::Output, String> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|payload| message(payload.as_ref()))
}

/// The text a panic was raised with (`panic!("...")`, `expect("...")`, `unwrap()` on an error).
pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_with_its_message() {
        assert_eq!(catch(async { 7 }).await, Ok(7));
        let caught = catch(async {
            let parsed: Result<u8, _> = "x".parse();
            #[allow(clippy::unwrap_used)]
            parsed.unwrap()
        })
        .await;
        assert!(
            caught.as_ref().is_err_and(|m| m.contains("InvalidDigit")),
            "{caught:?}"
        );
        let caught = catch(async { std::panic::panic_any(3_u8) }).await;
        assert_eq!(caught, Err("a panic without a message".to_owned()));
    }
}

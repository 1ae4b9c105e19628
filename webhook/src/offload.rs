//! Where CPU-bound admission work runs: off the async workers when it is large, so that one
//! large review cannot starve the accept loop, `/healthz` and the other reviews (an amplifying
//! pod once kept both workers of a 2-core node busy for 40 s, and TLS handshakes for `/healthz`
//! timed out). Small work (a usual pod: tens of microseconds) stays where it is: handing it
//! over costs more than doing it, and halved the benchmark's throughput when every review did.
//!
//! The work borrows the request body, so it cannot move to `spawn_blocking` (which needs
//! `'static`); `block_in_place` runs it on this thread and hands the worker's other tasks to
//! another thread first. The server runs each review in a task of its own, so its deadline
//! fires while the work runs ([`crate::serve::routes`]). Outside a multi-threaded runtime
//! (`review`, `inject`, unit tests) the work simply runs.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Bytes of input (a body, a pod) or of output (wrapped commands) past which work counts as
/// large: a usual pod is under 10 KB; the admission limits bound the largest work at about
/// the body limit plus [`crate::admission::limits::MAX_PATCH_BYTES`].
pub const LARGE: usize = 64 * 1024;

/// Runs `work`, off the async workers when `size` (its input or output, in bytes) is
/// [`LARGE`] and there are async workers.
pub fn if_large<T>(size: usize, work: impl FnOnce() -> T) -> T {
    if size > LARGE { blocking(work) } else { work() }
}

/// Runs `work`, off the async workers when there are any.
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_everywhere() {
        assert_eq!(blocking(|| 1), 1);
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        assert_eq!(current.block_on(async { blocking(|| 2) }), 2);
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("runtime");
        assert_eq!(
            multi.block_on(async { tokio::spawn(async { blocking(|| 3) }).await.ok() }),
            Some(3)
        );
    }
}

//! The webhook's background tasks (the watches behind its caches, the status writer, the
//! recording controller). Each is meant to run for as long as the process does, retrying what
//! fails; one that ends anyway (a panic in it or in a dependency) would leave its cache frozen
//! while `/readyz` still answers, so the process ends with it, naming it, and Kubernetes starts
//! a fresh one.

use std::future::Future;

use crate::panic_guard;

/// Spawns `task` (named `what` in the log) on the current tokio runtime; if it ever ends, the
/// process exits with status 70.
pub fn spawn(what: &'static str, task: impl Future<Output = ()> + Send + 'static) {
    spawn_then(what, task, move |why| {
        tracing::error!(
            task = what,
            why,
            "a background task ended; exiting so that the webhook is restarted"
        );
        std::process::exit(70);
    });
}

/// [`spawn`] with what happens when the task ends: `ended` gets why (its panic's message).
pub fn spawn_then(
    what: &'static str,
    task: impl Future<Output = ()> + Send + 'static,
    ended: impl FnOnce(String) + Send + 'static,
) {
    let handle = tokio::spawn(task);
    tokio::spawn(async move {
        let why = match handle.await {
            Ok(()) => format!("{what} returned"),
            Err(e) if e.is_panic() => {
                format!(
                    "{what} panicked: {}",
                    panic_guard::message(e.into_panic().as_ref())
                )
            }
            Err(e) => format!("{what} was cancelled: {e}"),
        };
        ended(why);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poisoned(yes: bool) {
        assert!(!yes, "store poisoned");
    }

    #[tokio::test]
    async fn a_task_that_panics_or_returns_is_reported_with_its_name() {
        for (task, expected) in [
            (
                Box::pin(async { poisoned(true) })
                    as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
                "pod watch panicked: store poisoned",
            ),
            (Box::pin(async {}), "pod watch returned"),
        ] {
            let (tx, rx) = tokio::sync::oneshot::channel();
            spawn_then("pod watch", task, move |why| {
                let _ = tx.send(why);
            });
            assert_eq!(rx.await.expect("reported"), expected);
        }
    }
}

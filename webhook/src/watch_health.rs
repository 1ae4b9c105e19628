//! Whether a kube-rs watch's cache can be trusted to be current, from the events it yields.
//!
//! A watch's last event alone does not say it: kube-runtime's watcher reports a failed watch
//! request as an error, but the retry that succeeds yields nothing (it resumes watching
//! quietly), so "the last event was an error" stays true after a recovery until some object
//! changes; and after a relist starts (`Init`, e.g. on a 410) the cache is swapped only at
//! `InitDone`, so a healthy-looking `Init` still serves the old list. Here a watch is behind
//! from an error until an object event or the end of a relist says otherwise, or until
//! [`QUIET`] passes with no further error (a watch that keeps failing retries, and fails
//! again, well within it: the default backoff waits at most 30 s); and from `Init` until
//! `InitDone`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::runtime::watcher;

/// How long after its last error, with no other error, a watch is taken to have recovered.
pub const QUIET: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct State {
    last_error: Option<Instant>,
    relisting: bool,
}

/// A watch's health, shared between the stream that observes it and its readers.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Mutex<State>>);

impl Health {
    /// Takes account of one event of the watch, seen at `now`.
    pub fn observe<K>(&self, event: &Result<watcher::Event<K>, watcher::Error>, now: Instant) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Err(_) => state.last_error = Some(now),
            Ok(watcher::Event::Init) => state.relisting = true,
            Ok(watcher::Event::InitApply(_)) => {}
            Ok(watcher::Event::InitDone) => {
                state.relisting = false;
                state.last_error = None;
            }
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => state.last_error = None,
        }
    }

    /// Whether the cache may be behind at `now`: the watch is relisting, or failed less than
    /// [`QUIET`] ago with no event since.
    pub fn behind(&self, now: Instant) -> bool {
        let state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        state.relisting
            || state
                .last_error
                .is_some_and(|at| now.saturating_duration_since(at) < QUIET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Event = Result<watcher::Event<()>, watcher::Error>;

    fn error() -> Event {
        Err(watcher::Error::NoResourceVersion)
    }

    /// An error makes the cache suspect until an object event, the end of a relist, or a quiet
    /// [`QUIET`] (the watcher's silent recovery); a relist makes it suspect until it is done.
    #[test]
    fn a_watch_is_behind_from_an_error_or_a_relist_until_it_shows_it_is_not() {
        let start = Instant::now();
        let health = Health::default();
        assert!(!health.behind(start));

        health.observe(&error(), start);
        assert!(health.behind(start + Duration::from_secs(59)));
        health.observe(
            &Ok(watcher::Event::Apply(())),
            start + Duration::from_secs(1),
        );
        assert!(!health.behind(start + Duration::from_secs(2)), "an event");

        health.observe(&error(), start);
        health.observe(&error(), start + Duration::from_secs(30));
        assert!(
            health.behind(start + Duration::from_secs(80)),
            "still failing"
        );
        assert!(
            !health.behind(start + Duration::from_secs(91)),
            "recovered quietly: no error for a minute"
        );

        let later = start + Duration::from_secs(200);
        health.observe::<()>(&Ok(watcher::Event::Init), later);
        health.observe(&Ok(watcher::Event::InitApply(())), later);
        assert!(health.behind(later + Duration::from_secs(600)), "relisting");
        health.observe::<()>(&Ok(watcher::Event::InitDone), later);
        assert!(!health.behind(later));

        health.observe(&error(), later);
        health.observe(&Ok(watcher::Event::Delete(())), later);
        assert!(!health.behind(later), "a delete is an event too");
    }
}

//! Image configurations already read: image reference → manifest digest (expires after a TTL,
//! because tags move) and digest → configuration (content-addressed). Bounded in size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::entrypoint::ImageConfig;

/// A bounded cache with a time-to-live.
#[derive(Debug)]
pub struct Cache {
    capacity: usize,
    ttl: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// (registry identity, reference) → (digest, when resolved).
    references: HashMap<String, (String, Instant)>,
    /// digest → configuration.
    configs: HashMap<String, ImageConfig>,
}

impl Cache {
    /// A cache holding at most `capacity` references, each for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            capacity,
            ttl,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The configuration cached for `key`, if fresh at `now`.
    pub fn get(&self, key: &str, now: Instant) -> Option<(String, ImageConfig)> {
        let inner = self.lock();
        let (digest, at) = inner.references.get(key)?;
        if now.duration_since(*at) > self.ttl {
            return None;
        }
        inner
            .configs
            .get(digest)
            .map(|c| (digest.clone(), c.clone()))
    }

    /// Remembers `config` for `key` at `digest`.
    pub fn put(&self, key: &str, digest: &str, config: ImageConfig, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        inner
            .references
            .retain(|_, (_, at)| now.duration_since(*at) <= self.ttl);
        while inner.references.len() >= self.capacity {
            let Some(oldest) = inner
                .references
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            inner.references.remove(&oldest);
        }
        inner
            .references
            .insert(key.to_owned(), (digest.to_owned(), now));
        inner.configs.insert(digest.to_owned(), config);
        let live: std::collections::HashSet<String> =
            inner.references.values().map(|(d, _)| d.clone()).collect();
        inner.configs.retain(|d, _| live.contains(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str) -> ImageConfig {
        ImageConfig {
            entrypoint: vec![name.to_owned()],
            cmd: vec![],
        }
    }

    #[test]
    fn entries_expire_and_the_oldest_goes_first() {
        let cache = Cache::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        cache.put("a", "sha256:a", config("a"), t0);
        cache.put("b", "sha256:b", config("b"), t0 + Duration::from_secs(1));
        assert!(cache.get("a", t0 + Duration::from_secs(2)).is_some());
        cache.put("c", "sha256:c", config("c"), t0 + Duration::from_secs(2));
        assert!(
            cache.get("a", t0 + Duration::from_secs(3)).is_none(),
            "evicted"
        );
        assert!(cache.get("b", t0 + Duration::from_secs(3)).is_some());
        assert!(
            cache.get("b", t0 + Duration::from_secs(62)).is_none(),
            "expired"
        );
    }
}

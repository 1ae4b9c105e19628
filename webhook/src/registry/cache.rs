//! Image configurations already read: image reference → manifest digest (expires after a TTL,
//! because tags move) and digest → configuration (content-addressed). Bounded in size: at most
//! `capacity` references, and no configuration whose ENTRYPOINT plus CMD exceed
//! [`MAX_CACHED_COMMAND_BYTES`] (such an image is still admitted, only looked up again next time:
//! a registry must not be able to fill the webhook's memory through the cache).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::admission::entrypoint::ImageConfig;

/// The most bytes of ENTRYPOINT plus CMD (all their arguments, each with its `String`) a cached
/// configuration may hold: real commands are well under 1 KiB; 512 entries at this size stay
/// under 32 MiB.
pub const MAX_CACHED_COMMAND_BYTES: usize = 64 * 1024;

/// The memory `config`'s ENTRYPOINT and CMD take: each argument's bytes and its `String` (an
/// empty argument is not free).
fn command_bytes(config: &ImageConfig) -> usize {
    config
        .entrypoint
        .iter()
        .chain(&config.cmd)
        .map(|a| a.len() + std::mem::size_of::<String>())
        .sum()
}

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

    /// Remembers `config` for `key` at `digest`, unless it is larger than
    /// [`MAX_CACHED_COMMAND_BYTES`].
    pub fn put(&self, key: &str, digest: &str, config: ImageConfig, now: Instant) {
        if self.capacity == 0 || command_bytes(&config) > MAX_CACHED_COMMAND_BYTES {
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
    fn configurations_with_huge_commands_are_not_kept() {
        let cache = Cache::new(8, Duration::from_secs(60));
        let t0 = Instant::now();
        let string = std::mem::size_of::<String>();
        let half = "x".repeat(MAX_CACHED_COMMAND_BYTES / 2 - string);
        let at_limit = ImageConfig {
            entrypoint: vec![half.clone()],
            cmd: vec![half.clone()],
        };
        cache.put("fits", "sha256:a", at_limit, t0);
        assert!(cache.get("fits", t0).is_some(), "at the limit: kept");
        let over = ImageConfig {
            entrypoint: vec![half.clone()],
            cmd: vec![half, "y".to_owned()],
        };
        cache.put("huge", "sha256:b", over, t0);
        assert!(cache.get("huge", t0).is_none(), "over the limit: not kept");
        // Empty arguments cost their `String`: 100,000 of them are 2.4 MB, not 0 bytes.
        let empty = ImageConfig {
            entrypoint: vec![],
            cmd: vec![String::new(); 100_000],
        };
        cache.put("empty", "sha256:c", empty, t0);
        assert!(cache.get("empty", t0).is_none(), "counted, and not kept");
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

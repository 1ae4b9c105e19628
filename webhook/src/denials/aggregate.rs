//! Aggregation and rate limiting of Kubernetes Events: a denial of a new key (container, right,
//! object) is reported at once; repeats within the window are counted, and the count is
//! reported at most once per window (`count` grows, like kubelet's own event series). A key
//! idle for a whole window is dropped. At most `capacity` keys are held: a new key past that
//! first reports and drops the key that was updated longest ago.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::record::Stamp;

/// One Event to create or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emit<K> {
    /// What is counted.
    pub key: K,
    /// The series' number, stable while the key is held (names its Event).
    pub series: u64,
    /// Denials of this key since the series started.
    pub count: u64,
    /// The first denial's stamp.
    pub first: Stamp,
    /// The latest denial's stamp.
    pub last: Stamp,
}

struct Series {
    number: u64,
    opened: Instant,
    count: u64,
    reported: u64,
    first: Stamp,
    last: Stamp,
}

/// Counts denials per key and says when to report them.
pub struct Aggregator<K> {
    series: HashMap<K, Series>,
    window: Duration,
    capacity: usize,
    next_number: u64,
}

impl<K: Clone + Eq + Hash> Aggregator<K> {
    /// At most one report per key per `window`, at most `capacity` keys.
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self {
            series: HashMap::new(),
            window,
            capacity: capacity.max(1),
            next_number: 0,
        }
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether `key` has a series open.
    pub fn contains(&self, key: &K) -> bool {
        self.series.contains_key(key)
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Counts one denial of `key` seen at `now`; returns what to report now.
    pub fn record(&mut self, key: K, stamp: Stamp, now: Instant) -> Vec<Emit<K>> {
        let mut out = Vec::new();
        if let Some(series) = self.series.get_mut(&key) {
            series.count += 1;
            series.last = stamp;
            if now.saturating_duration_since(series.opened) >= self.window {
                out.push(Self::report(&key, series, now));
            }
            return out;
        }
        if self.series.len() >= self.capacity
            && let Some(oldest) = self
                .series
                .iter()
                .min_by_key(|(_, s)| s.opened)
                .map(|(k, _)| k.clone())
            && let Some(mut series) = self.series.remove(&oldest)
            && series.count > series.reported
        {
            out.push(Self::report(&oldest, &mut series, now));
        }
        let mut series = Series {
            number: self.next_number,
            opened: now,
            count: 1,
            reported: 0,
            first: stamp,
            last: stamp,
        };
        self.next_number += 1;
        out.push(Self::report(&key, &mut series, now));
        self.series.insert(key, series);
        out
    }

    /// Reports the counts whose window ended by `now`; drops keys idle for a whole window.
    pub fn tick(&mut self, now: Instant) -> Vec<Emit<K>> {
        let mut out = Vec::new();
        let window = self.window;
        self.series.retain(|key, series| {
            if now.saturating_duration_since(series.opened) < window {
                return true;
            }
            if series.count > series.reported {
                out.push(Self::report(key, series, now));
                true
            } else {
                false
            }
        });
        out
    }

    fn report(key: &K, series: &mut Series, now: Instant) -> Emit<K> {
        series.opened = now;
        series.reported = series.count;
        Emit {
            key: key.clone(),
            series: series.number,
            count: series.count,
            first: series.first,
            last: series.last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(serial: u64) -> Stamp {
        Stamp {
            seconds: 1,
            millis: 0,
            serial,
        }
    }

    #[test]
    fn one_report_at_once_then_one_per_window_with_the_count() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut agg = Aggregator::new(minute, 10);
        assert_eq!(agg.record("a", stamp(1), start)[0].count, 1);
        for i in 2..=100 {
            assert!(
                agg.record("a", stamp(i), start + Duration::from_secs(1))
                    .is_empty()
            );
        }
        assert!(agg.tick(start + Duration::from_secs(59)).is_empty());
        let emitted = agg.tick(start + minute);
        assert_eq!(emitted.len(), 1);
        assert_eq!((emitted[0].count, emitted[0].last.serial), (100, 100));
        // Idle for a whole window: dropped, nothing reported.
        assert!(agg.tick(start + 2 * minute).is_empty());
        assert!(agg.is_empty());
    }

    #[test]
    fn bounded_keys() {
        let now = Instant::now();
        let mut agg = Aggregator::new(Duration::from_secs(60), 3);
        for key in 0..10 {
            agg.record(key, stamp(key), now + Duration::from_millis(key));
            agg.record(key, stamp(key), now + Duration::from_millis(key));
        }
        assert_eq!(agg.len(), 3);
    }
}

//! How many new Event series one pod may open per window: each distinct object a container is
//! denied (a path, a port, a target) is its own Event, so a program looping over new names
//! would make the agent post an Event per iteration, loading the API server and etcd and
//! filling the node's one Event queue, so that other pods' first Events were dropped. Past the
//! budget a pod's new objects are still counted (metrics, JSON lines), not posted; the series
//! already open go on being updated.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// New Event series a pod may open per window.
pub const NEW_SERIES_PER_POD: u32 = 16;

/// The per-pod budgets of new series.
#[derive(Debug)]
pub struct Budgets {
    window: Duration,
    per_pod: u32,
    capacity: usize,
    /// (namespace, pod) → when its window started, series opened in it.
    pods: HashMap<(String, String), (Instant, u32)>,
}

impl Budgets {
    /// `per_pod` new series per `window`, for at most `capacity` pods at once (beyond, pods
    /// whose window ended are forgotten; if none has, a new pod shares no budget: it is
    /// refused, which only an agent already holding `capacity` busy pods sees).
    pub fn new(window: Duration, per_pod: u32, capacity: usize) -> Self {
        Self {
            window,
            per_pod,
            capacity,
            pods: HashMap::new(),
        }
    }

    /// Whether pod `namespace/pod` may open one more series at `now` (and counts it).
    pub fn take(&mut self, namespace: &str, pod: &str, now: Instant) -> bool {
        let key = (namespace.to_owned(), pod.to_owned());
        if !self.pods.contains_key(&key) && self.pods.len() >= self.capacity {
            let window = self.window;
            self.pods
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
            if self.pods.len() >= self.capacity {
                return false;
            }
        }
        let (start, opened) = self.pods.entry(key).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= self.window {
            *start = now;
            *opened = 0;
        }
        if *opened >= self.per_pod {
            return false;
        }
        *opened += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod gets its budget per window, another pod its own; the next window starts afresh.
    #[test]
    fn each_pod_opens_a_bounded_number_of_series_per_window() {
        let start = Instant::now();
        let mut budgets = Budgets::new(Duration::from_secs(60), 3, 100);
        let taken = (0..10)
            .filter(|_| budgets.take("shop", "flood", start))
            .count();
        assert_eq!(taken, 3);
        assert!(
            budgets.take("shop", "quiet", start),
            "another pod's own budget"
        );
        let later = start + Duration::from_secs(61);
        assert!(budgets.take("shop", "flood", later), "a new window");
    }

    /// At capacity, pods whose window ended make room; busy ones are kept.
    #[test]
    fn the_table_is_bounded() {
        let start = Instant::now();
        let mut budgets = Budgets::new(Duration::from_secs(60), 1, 2);
        assert!(budgets.take("a", "1", start));
        assert!(budgets.take("a", "2", start));
        assert!(!budgets.take("a", "3", start), "full, nothing expired");
        assert!(budgets.take("a", "3", start + Duration::from_secs(61)));
        assert!(budgets.pods.len() <= 2);
    }
}

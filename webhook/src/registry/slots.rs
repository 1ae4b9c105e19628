//! Who may hold a registry connection: at most `--registry-concurrency` lookups in flight, and
//! at most `--registry-concurrency-per-namespace` of them for one namespace, so that one
//! tenant's pods (many images each, at a registry that never answers) cannot take every slot
//! and leave the other namespaces' pods denied for want of one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Namespaces whose share is kept while idle; past this many, idle ones are forgotten.
const KEPT_IDLE_SHARES: usize = 256;

/// How far a lookup got in taking its slots, for the denial when its time runs out.
#[derive(Debug, Default)]
pub struct Progress(AtomicU8);

/// Where a lookup waited when its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// For one of its namespace's share of slots.
    ForNamespaceShare,
    /// For one of the webhook's slots.
    ForSlot,
    /// It held its slots: the registry was slow.
    Nowhere,
}

impl Progress {
    /// Where the lookup was waiting, or that it was not.
    pub fn waited(&self) -> Waited {
        match self.0.load(Ordering::Relaxed) {
            0 => Waited::ForNamespaceShare,
            1 => Waited::ForSlot,
            _ => Waited::Nowhere,
        }
    }

    fn reached(&self, step: u8) {
        self.0.store(step, Ordering::Relaxed);
    }
}

/// Why a lookup got no slot by its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSlot {
    /// Its namespace's share stayed taken.
    NamespaceShare,
    /// The webhook's slots stayed taken.
    Slots,
    /// The slots are closed (shutting down).
    Closed,
}

/// The two permits a lookup holds while it talks to a registry; released when dropped.
#[derive(Debug)]
pub struct Held {
    _share: Option<OwnedSemaphorePermit>,
    _slot: OwnedSemaphorePermit,
}

/// The webhook's slots and each namespace's share of them.
#[derive(Debug)]
pub struct Slots {
    all: Arc<Semaphore>,
    /// Slots one namespace may hold; a share of all of them is no share: no wait for it.
    share: usize,
    total: usize,
    shares: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Slots {
    /// `total` slots, of which one namespace may hold `per_namespace` (at most `total`).
    pub fn new(total: usize, per_namespace: usize) -> Self {
        Self {
            all: Arc::new(Semaphore::new(total)),
            share: per_namespace.clamp(1, total.max(1)),
            total,
            shares: Mutex::new(HashMap::new()),
        }
    }

    /// Slots one namespace may hold (all of them: no share is kept).
    pub fn share(&self) -> usize {
        self.share
    }

    /// Waits for a slot of `namespace`'s share, then for one of the webhook's (in that order,
    /// so a namespace over its share holds none of the others' slots while it waits), each by
    /// `deadline`; records in `progress` how far it got. A permit freed by a lookup whose time
    /// ran out goes to the next waiter in the same instant, when that one's time is up too: a
    /// permit got at the deadline counts as not got.
    pub async fn acquire(
        &self,
        namespace: &str,
        deadline: Instant,
        progress: &Progress,
    ) -> Result<Held, NoSlot> {
        let by_deadline = |semaphore: Arc<Semaphore>, missing: NoSlot| async move {
            match tokio::time::timeout_at(deadline, semaphore.acquire_owned()).await {
                Ok(Ok(_)) if Instant::now() >= deadline => Err(missing),
                Ok(Ok(permit)) => Ok(permit),
                Ok(Err(_)) => Err(NoSlot::Closed),
                Err(_) => Err(missing),
            }
        };
        let share = match self.share_of(namespace) {
            Some(semaphore) => Some(by_deadline(semaphore, NoSlot::NamespaceShare).await?),
            None => None,
        };
        progress.reached(1);
        let slot = by_deadline(self.all.clone(), NoSlot::Slots).await?;
        progress.reached(2);
        Ok(Held {
            _share: share,
            _slot: slot,
        })
    }

    fn share_of(&self, namespace: &str) -> Option<Arc<Semaphore>> {
        if self.share >= self.total {
            return None;
        }
        // A poisoned lock only means another lookup panicked while holding it (caught by the
        // panic guard); the map itself is whole.
        let mut shares = self
            .shares
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) = shares.get(namespace) {
            return Some(found.clone());
        }
        if shares.len() >= KEPT_IDLE_SHARES {
            // Only the map holds an idle share: no lookup waits on it or holds its permit.
            shares.retain(|_, s| Arc::strong_count(s) > 1);
        }
        let made = Arc::new(Semaphore::new(self.share));
        shares.insert(namespace.to_owned(), made.clone());
        Some(made)
    }

    /// Namespaces whose share is currently remembered (for tests of the bound).
    pub fn remembered(&self) -> usize {
        self.shares
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later() -> Instant {
        Instant::now() + std::time::Duration::from_secs(60)
    }

    /// Past its deadline a lookup over its share is refused for the share, one within it for
    /// the webhook's slots.
    #[tokio::test]
    async fn by_the_deadline_each_wait_names_what_it_waited_for() {
        let slots = Slots::new(2, 1);
        let progress = Progress::default();
        let _a = slots.acquire("a", later(), &progress).await.expect("open");
        let soon = Instant::now() + std::time::Duration::from_millis(20);
        let over = slots.acquire("a", soon, &progress).await.expect_err("over");
        assert_eq!(over, NoSlot::NamespaceShare);
        let _b = slots.acquire("b", later(), &progress).await.expect("open");
        let soon = Instant::now() + std::time::Duration::from_millis(20);
        let full = slots.acquire("c", soon, &progress).await.expect_err("full");
        assert_eq!(full, NoSlot::Slots);
        let past = Instant::now();
        let late = slots.acquire("d", past, &progress).await.expect_err("late");
        assert_eq!(
            late,
            NoSlot::NamespaceShare,
            "a permit got at the deadline counts as not got"
        );
    }

    /// A namespace holds at most its share; another namespace still gets a slot meanwhile, and
    /// a lookup over its share waits there, not for one of the webhook's slots.
    #[tokio::test]
    async fn a_namespace_holds_at_most_its_share_and_others_still_get_slots() {
        let slots = Slots::new(4, 2);
        let (p1, p2, p3, p4) = Default::default();
        let a1 = slots.acquire("a", later(), &p1).await.expect("open");
        let a2 = slots.acquire("a", later(), &p2).await.expect("open");
        let waiting = slots.acquire("a", later(), &p3);
        tokio::pin!(waiting);
        assert!(
            futures::poll!(&mut waiting).is_pending(),
            "a third lookup of namespace a waits"
        );
        assert_eq!(p3.waited(), Waited::ForNamespaceShare);
        let b = slots
            .acquire("b", later(), &p4)
            .await
            .expect("namespace b gets a slot");
        assert_eq!(p4.waited(), Waited::Nowhere);
        drop(a1);
        let a3 = waiting.await.expect("a slot of a's share was freed");
        assert_eq!(p3.waited(), Waited::Nowhere);
        drop((a2, a3, b));
    }

    /// A lookup inside its share waits for the webhook's slots when all are taken, and says so.
    #[tokio::test]
    async fn a_lookup_within_its_share_waits_for_the_webhooks_slots() {
        let slots = Slots::new(2, 2);
        let (p1, p2, p3) = Default::default();
        let held = (
            slots.acquire("a", later(), &p1).await.expect("open"),
            slots.acquire("b", later(), &p2).await.expect("open"),
        );
        let waiting = slots.acquire("c", later(), &p3);
        tokio::pin!(waiting);
        assert!(futures::poll!(&mut waiting).is_pending());
        assert_eq!(p3.waited(), Waited::ForSlot);
        drop(held);
        waiting.await.expect("freed");
    }

    /// The share is at most the whole, at least one.
    #[test]
    fn the_share_is_clamped_to_the_slots() {
        assert_eq!(Slots::new(2, 8).share(), 2);
        assert_eq!(Slots::new(8, 0).share(), 1);
    }

    /// A share of every slot is no share: a lookup waiting for a slot says the slots were busy.
    #[tokio::test]
    async fn a_share_of_every_slot_is_none() {
        let slots = Slots::new(1, 4);
        let progress = Progress::default();
        let _a = slots.acquire("a", later(), &progress).await.expect("open");
        let soon = Instant::now() + std::time::Duration::from_millis(20);
        let full = slots.acquire("a", soon, &progress).await.expect_err("full");
        assert_eq!(full, NoSlot::Slots);
        assert_eq!(slots.remembered(), 0);
    }

    /// Idle namespaces are forgotten once many were seen; busy ones are kept.
    #[tokio::test]
    async fn idle_shares_are_forgotten_and_busy_ones_kept() {
        let slots = Slots::new(8, 1);
        let progress = Progress::default();
        let busy = slots
            .acquire("busy", later(), &progress)
            .await
            .expect("open");
        for i in 0..KEPT_IDLE_SHARES * 3 {
            drop(slots.acquire(&format!("ns{i}"), later(), &progress).await);
        }
        assert!(
            slots.remembered() <= KEPT_IDLE_SHARES + 1,
            "{}",
            slots.remembered()
        );
        let other = Progress::default();
        let second = slots.acquire("busy", later(), &other);
        tokio::pin!(second);
        assert!(
            futures::poll!(&mut second).is_pending(),
            "the busy namespace's share was kept: its only slot is still held"
        );
        drop(busy);
        second.await.expect("freed");
    }
}

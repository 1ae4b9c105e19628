//! The open connections, capped, and which one to close when a new one arrives at the cap.
//!
//! Every connection costs a descriptor and some memory, and a client can open connections for
//! nothing (20,000 idle TCP connections once exhausted the process's descriptors, and the API
//! server's connections then waited in the kernel's backlog for seconds). So the table holds at
//! most `max` connections; at the cap a new connection closes the idle connection that has been
//! idle longest, preferring one that never completed a request (a TLS handshake that never
//! finished, a request that never arrived) over a kept-alive one that did (the API server's
//! pool). A connection with a request in flight is never closed for another; when every
//! connection is busy, the new one is refused. `/healthz` probes (a fresh connection each) and
//! the API server's requests are served at the cap, at the cost of the oldest idle connection.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::Notify;

/// Which idle connections go first: `Fresh` ones (no request completed) before `KeptAlive` ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Fresh,
    KeptAlive,
}

/// Why a connection was closed by the server rather than by its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Closed {
    /// Closed to make room at the cap (it was idle).
    Evicted,
    /// Refused at the cap (every connection had a request in flight).
    Refused,
    /// The TLS handshake did not finish in time.
    HandshakeTimeout,
    /// The request did not arrive complete in time after its first byte.
    RequestTimeout,
}

impl Closed {
    fn name(self) -> &'static str {
        match self {
            Closed::Evicted => "idle_evicted",
            Closed::Refused => "refused_at_cap",
            Closed::HandshakeTimeout => "handshake_timeout",
            Closed::RequestTimeout => "request_timeout",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

struct Entry {
    /// Its key in the idle set, while idle.
    idle: Option<(Class, u64)>,
    close: Arc<Notify>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    open: HashMap<u64, Entry>,
    /// (class, idle since (sequence), id): the first element goes first.
    idle: BTreeSet<(Class, u64, u64)>,
}

/// The open connections (see the module documentation).
pub struct ConnectionTable {
    max: usize,
    inner: Mutex<Inner>,
    open: Gauge,
    closed: Family<ReasonLabel, Counter>,
}

impl ConnectionTable {
    /// A table of at most `max` connections (at least 1).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            inner: Mutex::new(Inner::default()),
            open: Gauge::default(),
            closed: Family::default(),
        })
    }

    /// Registers `landlock_webhook_connections` and `landlock_webhook_connections_closed_total`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register("connections", "Open client connections", self.open.clone());
        registry.register(
            "connections_closed",
            "Connections closed by the server: idle_evicted, refused_at_cap, handshake_timeout, request_timeout",
            self.closed.clone(),
        );
    }

    /// Counts a connection the server closed.
    pub fn count_closed(&self, reason: Closed) {
        self.closed
            .get_or_create(&ReasonLabel {
                reason: reason.name(),
            })
            .inc();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing here panics while holding the lock; a poisoned table is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a newly accepted connection in, closing the longest-idle one at the cap; `None`
    /// when the cap is reached and every connection has a request in flight (refused).
    pub fn admit(self: &Arc<Self>) -> Option<Connection> {
        let mut inner = self.lock();
        if inner.open.len() >= self.max {
            let Some(victim) = inner.idle.pop_first() else {
                drop(inner);
                self.count_closed(Closed::Refused);
                return None;
            };
            if let Some(entry) = inner.open.remove(&victim.2) {
                entry.close.notify_one();
            }
            self.count_closed(Closed::Evicted);
        }
        let id = inner.next;
        inner.next += 1;
        let close = Arc::new(Notify::new());
        let key = (Class::Fresh, id);
        inner.open.insert(
            id,
            Entry {
                idle: Some(key),
                close: close.clone(),
            },
        );
        inner.idle.insert((key.0, key.1, id));
        self.open.set(inner.open.len() as i64);
        Some(Connection {
            table: self.clone(),
            id,
            close,
        })
    }

    fn busy(&self, id: u64) {
        let mut inner = self.lock();
        let key = inner.open.get_mut(&id).and_then(|e| e.idle.take());
        if let Some((class, seq)) = key {
            inner.idle.remove(&(class, seq, id));
        }
    }

    fn idle(&self, id: u64) {
        let mut inner = self.lock();
        let seq = inner.next;
        inner.next += 1;
        let Some(entry) = inner.open.get_mut(&id) else {
            return;
        };
        // It completed a request: kept alive, closed after the never-served ones.
        let class = Class::KeptAlive;
        if entry.idle.is_none() {
            entry.idle = Some((class, seq));
            inner.idle.insert((class, seq, id));
        }
    }

    fn remove(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(entry) = inner.open.remove(&id)
            && let Some((class, seq)) = entry.idle
        {
            inner.idle.remove(&(class, seq, id));
        }
        self.open.set(inner.open.len() as i64);
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One admitted connection; dropping it takes it out of the table.
pub struct Connection {
    table: Arc<ConnectionTable>,
    id: u64,
    close: Arc<Notify>,
}

impl Connection {
    /// A request arrived on it: it cannot be evicted until [`Connection::finished`].
    pub fn started(&self) {
        self.table.busy(self.id);
    }

    /// Its request was answered: it is idle (and kept alive) again.
    pub fn finished(&self) {
        self.table.idle(self.id);
    }

    /// Resolves when the table closes this connection to make room.
    pub async fn evicted(&self) {
        self.close.notified().await;
    }

    /// The table, to count why the connection was closed.
    pub fn table(&self) -> &ConnectionTable {
        &self.table
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.table.remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn is_evicted(c: &Connection) -> bool {
        tokio::time::timeout(Duration::from_millis(20), c.evicted())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn at_the_cap_the_oldest_never_served_connection_goes_first() {
        let table = ConnectionTable::new(3);
        let served = table.admit().expect("room");
        served.started();
        served.finished();
        let fresh_old = table.admit().expect("room");
        let busy = table.admit().expect("room");
        busy.started();
        assert_eq!(table.len(), 3);

        // Full: the never-served idle connection goes, not the kept-alive one or the busy one.
        let newcomer = table.admit().expect("an idle one makes room");
        assert!(is_evicted(&fresh_old).await);
        assert!(!is_evicted(&served).await && !is_evicted(&busy).await);
        assert_eq!(table.len(), 3);
        drop(fresh_old);
        assert_eq!(
            table.len(),
            3,
            "an evicted connection was already taken out"
        );

        // Next: the newcomer (never served) before the kept-alive one.
        let second = table.admit().expect("room");
        assert!(is_evicted(&newcomer).await && !is_evicted(&served).await);
        // Then the kept-alive one; the busy one never.
        second.started();
        let third = table.admit().expect("room");
        assert!(is_evicted(&served).await);
        third.started();
        assert!(table.admit().is_none(), "every connection busy: refused");
        busy.finished();
        assert!(table.admit().is_some());
        assert!(is_evicted(&busy).await);
    }

    #[tokio::test]
    async fn dropping_connections_frees_their_places() {
        let table = ConnectionTable::new(2);
        let a = table.admit().expect("room");
        let b = table.admit().expect("room");
        drop(a);
        drop(b);
        assert!(table.is_empty());
        let mut text = String::new();
        let mut registry = Registry::default();
        table.register_metrics(&mut registry);
        let c = table.admit().expect("room");
        c.started();
        let _d = table.admit().expect("room");
        let _e = table.admit().expect("an idle one makes room");
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        assert!(text.contains("connections 2"), "{text}");
        assert!(
            text.contains("connections_closed_total{reason=\"idle_evicted\"} 1"),
            "{text}"
        );
    }
}

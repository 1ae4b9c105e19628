//! Joins the records of one audit event: a denial is reported once its event is complete (the
//! `SYSCALL` record that follows the Landlock records names the process that was denied), or
//! after a short linger for events that have no system call. Domain records are passed on at
//! once, so the domain's creator is looked up while it most likely still runs.
//!
//! Bounded: at most `max_in_flight` incomplete events are held; past that the oldest is
//! reported without its `SYSCALL` record.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::record::{Access, Allocated, Body, DomainId, Record, Stamp, Syscall};

/// What the joiner hands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// A domain was logged for the first time (with its first denial), in the event `Stamp`.
    Allocated(Allocated, Stamp),
    /// A domain was released; its ID never comes back.
    Released(DomainId),
    /// One denied access, with the system call it happened in when the event had one.
    Denial(Denial),
    /// Auditing was switched on (`true`) or off.
    AuditSwitched(bool),
}

/// One denied access and its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The event's time and serial.
    pub stamp: Stamp,
    /// The denied access.
    pub access: Access,
    /// The system call, with the denied process's pid, comm and exe.
    pub syscall: Option<Syscall>,
}

struct Pending {
    since: Instant,
    stamp: Stamp,
    accesses: Vec<Access>,
}

/// Joins records into denials.
pub struct Joiner {
    in_flight: BTreeMap<u64, Pending>,
    max_in_flight: usize,
    linger: Duration,
}

impl Joiner {
    /// A joiner holding at most `max_in_flight` events, each at most `linger` long.
    pub fn new(max_in_flight: usize, linger: Duration) -> Self {
        Self {
            in_flight: BTreeMap::new(),
            max_in_flight: max_in_flight.max(1),
            linger,
        }
    }

    /// Incomplete events held now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Takes one record received at `now`.
    pub fn push(&mut self, record: Record, now: Instant) -> Vec<Joined> {
        let serial = record.stamp.serial;
        match record.body {
            Body::Access(access) => {
                let mut out = Vec::new();
                if !self.in_flight.contains_key(&serial)
                    && self.in_flight.len() >= self.max_in_flight
                    && let Some((&oldest, _)) = self.in_flight.iter().min_by_key(|(_, p)| p.since)
                {
                    out.extend(self.complete(oldest, None));
                }
                self.in_flight
                    .entry(serial)
                    .or_insert_with(|| Pending {
                        since: now,
                        stamp: record.stamp,
                        accesses: Vec::new(),
                    })
                    .accesses
                    .push(access);
                out
            }
            Body::Syscall(syscall) => self.complete(serial, Some(syscall)),
            Body::EndOfEvent => self.complete(serial, None),
            Body::DomainAllocated(allocated) => {
                vec![Joined::Allocated(allocated, record.stamp)]
            }
            Body::DomainReleased { domain, .. } => vec![Joined::Released(domain)],
            Body::ConfigChange {
                audit_enabled: Some(enabled),
            } => vec![Joined::AuditSwitched(enabled != 0)],
            Body::ConfigChange { .. } | Body::Other(_) => Vec::new(),
        }
    }

    /// Reports the events that waited longer than the linger.
    pub fn expire(&mut self, now: Instant) -> Vec<Joined> {
        let old: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.since) >= self.linger)
            .map(|(serial, _)| *serial)
            .collect();
        old.into_iter()
            .flat_map(|serial| self.complete(serial, None))
            .collect()
    }

    fn complete(&mut self, serial: u64, syscall: Option<Syscall>) -> Vec<Joined> {
        let Some(pending) = self.in_flight.remove(&serial) else {
            return Vec::new();
        };
        pending
            .accesses
            .into_iter()
            .map(|access| {
                Joined::Denial(Denial {
                    stamp: pending.stamp,
                    access,
                    syscall: syscall.clone(),
                })
            })
            .collect()
    }
}

//! Remembers where each Landlock domain came from: the container of the process that created
//! it, captured when the domain is first logged (its creator may exit before a later denial),
//! forgotten when the kernel releases the domain. Bounded: the oldest entries go first.

use std::collections::{HashMap, VecDeque};

use super::cgroups::Placement;
use super::record::DomainId;

/// The domains seen, and where each came from.
pub struct Domains {
    origins: HashMap<DomainId, Placement>,
    order: VecDeque<DomainId>,
    capacity: usize,
}

impl Domains {
    /// A table of at most `capacity` domains.
    pub fn new(capacity: usize) -> Self {
        Self {
            origins: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Domains remembered now.
    pub fn len(&self) -> usize {
        self.origins.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// Where `domain` came from, if known.
    pub fn get(&self, domain: DomainId) -> Option<&Placement> {
        self.origins.get(&domain)
    }

    /// Remembers `domain`'s origin (a `Gone` origin is not worth remembering; a `Reused` one
    /// is, so the domain's denials are never attributed through its creator's recycled pid).
    pub fn remember(&mut self, domain: DomainId, origin: Placement) {
        if origin == Placement::Gone {
            return;
        }
        if self.origins.insert(domain, origin).is_none() {
            self.order.push_back(domain);
        }
        while self.origins.len() > self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.origins.remove(&oldest);
                }
                None => break,
            }
        }
    }

    /// Forgets a released domain.
    pub fn forget(&mut self, domain: DomainId) {
        if self.origins.remove(&domain).is_some() {
            self.order.retain(|d| *d != domain);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_forgets_released_domains() {
        let mut domains = Domains::new(3);
        for id in 0..10 {
            domains.remember(DomainId(id), Placement::Host);
        }
        assert_eq!(domains.len(), 3);
        assert!(domains.get(DomainId(9)).is_some() && domains.get(DomainId(6)).is_none());
        domains.forget(DomainId(9));
        assert_eq!(domains.len(), 2);
        domains.remember(DomainId(11), Placement::Gone);
        assert_eq!(domains.len(), 2);
    }
}

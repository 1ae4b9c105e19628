//! A policy in the annotation vocabulary: paths under `list`, `read`, `read-exec`, `write`,
//! `write-exec` and ports under `bind-tcp`, `connect-tcp`. It is what learn mode suggests (the
//! `suggest` object of the learn line), what `landlock-webhook suggest` merges across
//! containers and replicas, and what any other source of observations (denial reports) speaks.
//!
//! Paths are kept minimal: a path covered by a directory already in the set with at least the
//! same rights is not added again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::access::Access;
use crate::values::{PolicyPath, Port};

/// The annotation key (after the `landlock-injector.io/` prefix) for ports that may be bound.
pub const BIND_TCP: &str = "bind-tcp";
/// The annotation key for ports that may be connected to.
pub const CONNECT_TCP: &str = "connect-tcp";

/// Whether a path is granted as a directory (everything beneath) or as itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The directory and everything beneath it.
    Tree,
    /// Only this path.
    Itself,
}

/// Paths and ports in the annotation vocabulary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Each path with its access set.
    pub paths: BTreeMap<PolicyPath, Access>,
    /// Ports that may be bound.
    pub bind_tcp: BTreeSet<Port>,
    /// Ports that may be connected to.
    pub connect_tcp: BTreeSet<Port>,
}

impl Grants {
    /// Adds `path` with `access`, merging with what is there (the union of rights).
    pub fn grant(&mut self, path: PolicyPath, access: Access) {
        let entry = self.paths.entry(path).or_insert(access);
        *entry = entry.union(access);
    }

    /// Adds everything in `other`.
    pub fn extend(&mut self, other: &Grants) {
        for (path, access) in &other.paths {
            self.grant(path.clone(), *access);
        }
        self.bind_tcp.extend(other.bind_tcp.iter().copied());
        self.connect_tcp.extend(other.connect_tcp.iter().copied());
    }

    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.bind_tcp.is_empty() && self.connect_tcp.is_empty()
    }

    /// The paths granted with exactly `access`, sorted.
    pub fn with_access(&self, access: Access) -> Vec<&PolicyPath> {
        self.paths
            .iter()
            .filter(|(_, a)| **a == access)
            .map(|(p, _)| p)
            .collect()
    }

    /// What `self` grants that `other` does not (paths by exact entry and rights, ports).
    pub fn difference(&self, other: &Grants) -> Grants {
        let mut out = Grants::default();
        for (path, access) in &self.paths {
            match other.paths.get(path) {
                Some(theirs) if theirs.includes(*access) => {}
                _ => out.grant(path.clone(), *access),
            }
        }
        out.bind_tcp = self.bind_tcp.difference(&other.bind_tcp).copied().collect();
        out.connect_tcp = self
            .connect_tcp
            .difference(&other.connect_tcp)
            .copied()
            .collect();
        out
    }

    /// Drops every path that a directory of the set already covers with at least its rights
    /// (directories are the paths whose scope `scope_of` says is [`Scope::Tree`]).
    pub fn minimise(&mut self, scope_of: impl Fn(&PolicyPath) -> Scope) {
        let dirs: Vec<(PolicyPath, Access)> = self
            .paths
            .iter()
            .filter(|(p, _)| scope_of(p) == Scope::Tree)
            .map(|(p, a)| (p.clone(), *a))
            .collect();
        self.paths.retain(|path, access| {
            !dirs
                .iter()
                .any(|(dir, rights)| dir != path && path.is_within(dir) && rights.includes(*access))
        });
    }
}

impl fmt::Display for Grants {
    /// `read=/a,/b write=/c bind-tcp=8080`, for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for access in Access::ALL {
            let paths = self.with_access(access);
            if !paths.is_empty() {
                let list: Vec<&str> = paths.iter().map(|p| p.as_str()).collect();
                parts.push(format!("{}={}", access.annotation_key(), list.join(",")));
            }
        }
        for (key, ports) in [(BIND_TCP, &self.bind_tcp), (CONNECT_TCP, &self.connect_tcp)] {
            if !ports.is_empty() {
                let list: Vec<String> = ports.iter().map(ToString::to_string).collect();
                parts.push(format!("{key}={}", list.join(",")));
            }
        }
        f.write_str(&parts.join(" "))
    }
}

impl Serialize for Grants {
    /// `{"list":[...],"read":[...],"read-exec":[...],"write":[...],"write-exec":[...],
    /// "bind-tcp":[...],"connect-tcp":[...]}`, every key present.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(Access::ALL.len() + 2))?;
        for access in Access::ALL {
            map.serialize_entry(access.annotation_key(), &self.with_access(access))?;
        }
        map.serialize_entry(BIND_TCP, &self.bind_tcp)?;
        map.serialize_entry(CONNECT_TCP, &self.connect_tcp)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Grants {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, Vec<serde_json::Value>>::deserialize(deserializer)?;
        let mut grants = Grants::default();
        for (key, values) in raw {
            let access = Access::ALL.into_iter().find(|a| a.annotation_key() == key);
            for value in values {
                let text = match &value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let bad = |e: crate::ValueError| D::Error::custom(format!("{key}: {e}"));
                match (access, key.as_str()) {
                    (Some(access), _) => {
                        grants.grant(PolicyPath::parse(&text).map_err(bad)?, access)
                    }
                    (None, BIND_TCP) => {
                        grants.bind_tcp.insert(Port::parse(&text).map_err(bad)?);
                    }
                    (None, CONNECT_TCP) => {
                        grants.connect_tcp.insert(Port::parse(&text).map_err(bad)?);
                    }
                    (None, other) => {
                        return Err(D::Error::custom(format!(
                            "unknown key {other:?} (expected list, read, read-exec, write, write-exec, bind-tcp or connect-tcp)"
                        )));
                    }
                }
            }
        }
        Ok(grants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PolicyPath {
        PolicyPath::parse(s).expect("valid")
    }

    #[test]
    fn serialises_in_the_annotation_vocabulary_and_parses_back() -> Result<(), serde_json::Error> {
        let mut g = Grants::default();
        g.grant(p("/srv"), Access::Ro);
        g.grant(p("/srv"), Access::Rx);
        g.grant(p("/var/cache/app"), Access::Rw);
        g.bind_tcp.insert(Port::parse("8080").expect("port"));
        let json = serde_json::to_string(&g)?;
        assert_eq!(
            json,
            r#"{"list":[],"read":[],"read-exec":["/srv"],"write":["/var/cache/app"],"write-exec":[],"bind-tcp":[8080],"connect-tcp":[]}"#
        );
        assert_eq!(serde_json::from_str::<Grants>(&json)?, g);
        assert_eq!(
            g.to_string(),
            "read-exec=/srv write=/var/cache/app bind-tcp=8080"
        );
        let err = serde_json::from_str::<Grants>(r#"{"read":["etc"]}"#).expect_err("relative");
        assert!(
            err.to_string()
                .contains("read: \"etc\": path must be absolute"),
            "{err}"
        );
        let err = serde_json::from_str::<Grants>(r#"{"exec":["/x"]}"#).expect_err("unknown");
        assert!(err.to_string().contains("unknown key \"exec\""), "{err}");
        Ok(())
    }

    #[test]
    fn minimise_drops_what_a_directory_covers_with_enough_rights() {
        let mut g = Grants::default();
        g.grant(p("/srv"), Access::Rw);
        g.grant(p("/srv/a"), Access::Ro);
        g.grant(p("/srv/bin/x"), Access::Rx);
        g.grant(p("/srvx"), Access::Ro);
        g.minimise(|path| {
            if path.as_str() == "/srv" {
                Scope::Tree
            } else {
                Scope::Itself
            }
        });
        let kept: Vec<&str> = g.paths.keys().map(PolicyPath::as_str).collect();
        assert_eq!(kept, ["/srv", "/srv/bin/x", "/srvx"]);
    }

    #[test]
    fn difference_keeps_what_the_other_lacks() {
        let mut a = Grants::default();
        a.grant(p("/a"), Access::Rw);
        a.grant(p("/b"), Access::Ro);
        let mut b = Grants::default();
        b.grant(p("/a"), Access::Ro);
        b.grant(p("/b"), Access::Ro);
        let d = a.difference(&b);
        assert_eq!(d.paths.len(), 1);
        assert_eq!(d.paths.get(&p("/a")), Some(&Access::Rw));
    }
}

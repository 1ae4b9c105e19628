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
/// The annotation key for UDP ports that may be bound.
pub const BIND_UDP: &str = "bind-udp";
/// The annotation key for UDP ports that may be connected or sent to.
pub const CONNECT_UDP: &str = "connect-udp";

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
    /// UDP ports that may be bound.
    pub bind_udp: BTreeSet<Port>,
    /// UDP ports that may be connected or sent to.
    pub connect_udp: BTreeSet<Port>,
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
        self.bind_udp.extend(other.bind_udp.iter().copied());
        self.connect_udp.extend(other.connect_udp.iter().copied());
    }

    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
            && self.bind_tcp.is_empty()
            && self.connect_tcp.is_empty()
            && self.bind_udp.is_empty()
            && self.connect_udp.is_empty()
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
        out.bind_udp = self.bind_udp.difference(&other.bind_udp).copied().collect();
        out.connect_udp = self
            .connect_udp
            .difference(&other.connect_udp)
            .copied()
            .collect();
        out
    }

    /// Drops every path that a directory of the set already covers with at least its rights
    /// (directories are the paths whose scope `scope_of` says is [`Scope::Tree`]).
    ///
    /// A lookup per directory above each path, not a scan of every directory per path: a
    /// learn line of a hundred thousand paths had made this quadratic.
    pub fn minimise(&mut self, scope_of: impl Fn(&PolicyPath) -> Scope) {
        let covered: Vec<PolicyPath> = self
            .paths
            .iter()
            .filter(|(path, access)| {
                path.ancestors().any(|dir| {
                    self.paths.get(&dir).is_some_and(|rights| {
                        rights.includes(**access) && scope_of(&dir) == Scope::Tree
                    })
                })
            })
            .map(|(path, _)| path.clone())
            .collect();
        for path in covered {
            self.paths.remove(&path);
        }
    }

    /// The grants of `path` itself, of the directories above it and of the paths beneath it
    /// (what overlaps it): lookups and a range, not a scan of every grant.
    pub fn overlapping<'a>(
        &'a self,
        path: &'a PolicyPath,
    ) -> impl Iterator<Item = (&'a PolicyPath, &'a Access)> + 'a {
        let (low, high) = path.beneath_bounds();
        let own = self.paths.get_key_value(path);
        let above = path
            .ancestors()
            .filter_map(move |dir| self.paths.get_key_value(&dir));
        own.into_iter()
            .chain(above)
            .chain(self.paths.range(low..high).filter(move |(q, _)| *q != path))
    }
}

/// Whether `path` is a home directory: `/root`, `/home`, or `/home/NAME`.
pub fn is_home(path: &PolicyPath) -> bool {
    let text = path.as_str();
    text == "/root"
        || text == "/home"
        || text
            .strip_prefix("/home/")
            .is_some_and(|name| !name.contains('/'))
}

impl Grants {
    /// The warnings a reviewer must see before signing these grants: every grant the webhook
    /// warns about in annotations (a broad directory whole, see
    /// [`crate::policy::BroadGrant::warning`]), every home directory granted whole (it holds
    /// credentials: SSH keys, cloud and kube configs, shell history), and, when the program's
    /// working directory `cwd` was `/` or a home directory, a grant of it.
    pub fn warnings(&self, cwd: Option<&PolicyPath>) -> Vec<String> {
        let mut policy = crate::policy::Policy::default();
        policy.grant_all(self.paths.iter().map(|(p, a)| (p.clone(), *a)));
        let mut out: Vec<String> = policy.broad_grants().map(|b| b.warning()).collect();
        let cwd = cwd.filter(|c| c.as_str() == "/" || is_home(c));
        for (path, access) in &self.paths {
            let key = access.annotation_key();
            if cwd == Some(path) {
                out.push(format!(
                    "{key}: {path} is the working directory the program started in, and a working directory of / or a home directory holds far more than the program: start it in a directory of its own (WORKDIR), then learn again"
                ));
            } else if is_home(path) {
                out.push(format!(
                    "{key}: {path} is a home directory, which holds credentials (SSH keys, cloud and kube configs, shell history): name the files the program needs instead"
                ));
            }
        }
        out
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
        for (key, ports) in [
            (BIND_TCP, &self.bind_tcp),
            (CONNECT_TCP, &self.connect_tcp),
            (BIND_UDP, &self.bind_udp),
            (CONNECT_UDP, &self.connect_udp),
        ] {
            if !ports.is_empty() {
                let list: Vec<String> = ports.iter().map(ToString::to_string).collect();
                parts.push(format!("{key}={}", list.join(",")));
            }
        }
        f.write_str(&parts.join(" "))
    }
}

impl Serialize for Grants {
    /// `{"list":[...],"read":[...],"read-exec":[...],"write":[...],"write-exec":[...],"bind-tcp":[...],
    /// "connect-tcp":[...]}`, every key present; `"bind-udp"` and `"connect-udp"` too when they
    /// list a port (lines without UDP read as before).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for access in Access::ALL {
            map.serialize_entry(access.annotation_key(), &self.with_access(access))?;
        }
        map.serialize_entry(BIND_TCP, &self.bind_tcp)?;
        map.serialize_entry(CONNECT_TCP, &self.connect_tcp)?;
        for (key, ports) in [(BIND_UDP, &self.bind_udp), (CONNECT_UDP, &self.connect_udp)] {
            if !ports.is_empty() {
                map.serialize_entry(key, ports)?;
            }
        }
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
                    (None, BIND_UDP) => {
                        grants.bind_udp.insert(Port::parse(&text).map_err(bad)?);
                    }
                    (None, CONNECT_UDP) => {
                        grants.connect_udp.insert(Port::parse(&text).map_err(bad)?);
                    }
                    (None, other) => {
                        return Err(D::Error::custom(format!(
                            "unknown key {other:?} (expected list, read, read-exec, write, write-exec, bind-tcp, connect-tcp, bind-udp or connect-udp)"
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

    /// What overlaps a path, found by lookups and a range, is what a scan of every grant finds
    /// (`is_within` either way), on neighbours that share a prefix without being beneath
    /// (`/srv-old`, `/srv.d`), the root, escaped names, and the path itself.
    #[test]
    fn overlapping_grants_are_those_a_scan_finds() {
        let all = [
            "/",
            "/srv",
            "/srv/a",
            "/srv/a/b",
            "/srv-old",
            "/srv.d",
            "/srv0",
            "/srva",
            "/srv/a\\x2cb",
            "/srv/a b",
            "/etc",
            "/etc/ssl/certs",
        ];
        let mut g = Grants::default();
        for path in all {
            g.grant(p(path), Access::Ro);
        }
        for query in [
            "/",
            "/srv",
            "/srv/a",
            "/srv/a/b/c",
            "/srv-old",
            "/etc/ssl",
            "/nothing",
        ] {
            let query = p(query);
            let mut fast: Vec<&str> = g.overlapping(&query).map(|(q, _)| q.as_str()).collect();
            fast.sort_unstable();
            let mut scan: Vec<&str> = g
                .paths
                .keys()
                .filter(|q| q.is_within(&query) || query.is_within(q))
                .map(PolicyPath::as_str)
                .collect();
            scan.sort_unstable();
            assert_eq!(fast, scan, "{query}");
        }
        let above: Vec<String> = p("/srv/a/b").ancestors().map(|a| a.to_string()).collect();
        assert_eq!(above, ["/srv/a", "/srv", "/"]);
        assert_eq!(p("/").ancestors().count(), 0);
    }

    /// Minimising keeps what no directory above covers with at least its rights.
    #[test]
    fn minimise_drops_only_what_a_directory_above_covers() {
        let mut g = Grants::default();
        g.grant(p("/srv"), Access::Ro);
        g.grant(p("/srv/static/app.css"), Access::Ro);
        g.grant(p("/srv/data"), Access::Rw);
        g.grant(p("/srv-old/x"), Access::Ro);
        g.minimise(|_| Scope::Tree);
        let kept: Vec<&str> = g.paths.keys().map(PolicyPath::as_str).collect();
        assert_eq!(kept, ["/srv", "/srv-old/x", "/srv/data"]);
    }

    #[test]
    fn home_directories_and_a_broad_working_directory_are_warned_about() {
        let mut g = Grants::default();
        g.grant(p("/root"), Access::List);
        g.grant(p("/home/alice"), Access::Ro);
        g.grant(p("/home/alice/.cache/app"), Access::Rw);
        g.grant(p("/srv/app"), Access::Ro);
        g.grant(p("/etc"), Access::Ro);
        let warnings = g.warnings(Some(&p("/root")));
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("--ro /etc grants all of /etc"))
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("list: /root is the working directory"))
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("read: /home/alice is a home directory"))
        );
        // A working directory of its own is no warning.
        let mut g = Grants::default();
        g.grant(p("/srv/app"), Access::List);
        assert!(g.warnings(Some(&p("/srv/app"))).is_empty());
        assert!(is_home(&p("/home")) && !is_home(&p("/home/a/b")) && !is_home(&p("/rooted")));
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
        g.connect_udp.insert(Port::parse("53").expect("port"));
        let json = serde_json::to_string(&g)?;
        assert!(
            json.ends_with(r#""connect-tcp":[],"connect-udp":[53]}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Grants>(&json)?, g);
        assert!(
            g.to_string().ends_with("bind-tcp=8080 connect-udp=53"),
            "{g}"
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

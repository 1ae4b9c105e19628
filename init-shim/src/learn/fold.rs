//! Folding what was recorded into a suggestion a person would write.
//!
//! Rules, in order:
//!
//! 1. A directory whose entries were created, renamed or removed is suggested whole, `write`:
//!    names made at run time (temporary files, caches, logs) cannot be known in advance.
//! 2. A directory that was listed is suggested whole (at least `read`).
//! 3. A directory of which at least [`FOLD_ENTRIES`] entries needed the same rights is
//!    suggested whole with those rights; otherwise each file is suggested as itself.
//! 4. Then, repeatedly: when at least [`FOLD_SIBLINGS`] suggested paths with the same rights
//!    share a parent directory, the parent is suggested instead.
//! 5. `/`, `/etc`, `/proc`, `/sys` and `/dev` ([`crate::values::BROAD_DIRS`]) are never
//!    suggested whole: their entries stay as they are, and `not_suggested` says why.
//! 6. A path beneath a suggested directory that grants at least its rights is dropped.
//!
//! The thresholds come from real programs (Debian bookworm): the files a program names one by
//! one come alone or in pairs (a config file and its override, a CA bundle, a pid file next to
//! a log), while a directory read entry by entry (python importing a package, a web server's
//! assets, `run-parts`, a `conf.d` of fragments) shows three or more on the first run and more
//! on the next: with 3, a second run of the same workload needs nothing new.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::access::Access;
use crate::grants::{Grants, Scope};
use crate::learn::record::Record;
use crate::values::PolicyPath;

/// Entries of one directory, with the same rights, that make the directory the suggestion.
pub const FOLD_ENTRIES: u64 = 3;
/// Suggested siblings, with the same rights, that make their parent the suggestion.
pub const FOLD_SIBLINGS: usize = 3;
/// Examples kept per folded directory.
pub const EXAMPLES: usize = 3;

/// Why a directory is suggested whole, and what was seen in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Why the directory and not its entries.
    pub why: String,
    /// How many distinct paths were used in it.
    pub seen: u64,
    /// A few of them.
    pub examples: Vec<String>,
}

/// A path that is not suggested although it was used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotSuggested {
    /// The path.
    pub path: String,
    /// Why.
    pub why: String,
}

/// The folded suggestion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// What to grant.
    pub grants: Grants,
    /// For each directory suggested whole: why, and what was seen.
    pub evidence: BTreeMap<PolicyPath, Evidence>,
    /// What was used but is not suggested.
    pub not_suggested: Vec<NotSuggested>,
}

/// Folds `record` (see the module doc for the rules).
pub fn fold(record: &Record) -> Folded {
    let mut out = Folded::default();
    let mut trees: BTreeSet<PolicyPath> = BTreeSet::new();
    for (dir, r) in &record.dirs {
        let mut whole: Option<Access> = None;
        let mut why = Vec::new();
        if r.changed {
            whole = Some(Access::Rw);
            why.push("entries created, renamed or removed".to_owned());
        }
        if r.listed {
            whole = Some(whole.map_or(Access::Ro, |a| a.union(Access::Ro)));
            why.push("listed".to_owned());
        }
        let mut per_access: BTreeMap<Access, u64> = BTreeMap::new();
        for access in r.entries.values() {
            *per_access.entry(*access).or_default() += 1;
        }
        if let Some((more, access)) = r.more {
            *per_access.entry(access).or_default() += more;
        }
        for (access, count) in &per_access {
            if *count >= FOLD_ENTRIES {
                whole = Some(whole.map_or(*access, |a| a.union(*access)));
                why.push(format!(
                    "{count} entries used ({})",
                    access.annotation_key()
                ));
            }
        }
        let examples: Vec<String> = r
            .entries
            .keys()
            .take(EXAMPLES)
            .map(|name| join(dir, name))
            .collect();
        match whole {
            Some(access) if dir.is_broad() => out.not_suggested.push(NotSuggested {
                path: dir.to_string(),
                why: format!(
                    "{}: {} whole is never suggested ({} would be {}); its entries are suggested one by one where possible",
                    why.join(", "),
                    dir,
                    access.annotation_key(),
                    if dir.as_str() == "/" { "everything" } else { "far more than any program needs" }
                ),
            }),
            Some(access) => {
                out.grants.grant(dir.clone(), access);
                trees.insert(dir.clone());
                out.evidence.insert(
                    dir.clone(),
                    Evidence {
                        why: why.join(", "),
                        seen: r.seen(),
                        examples,
                    },
                );
            }
            None => {}
        }
        let folded = whole.filter(|_| !dir.is_broad());
        for (name, access) in &r.entries {
            if folded.is_some_and(|a| a.includes(*access)) {
                continue;
            }
            if let Ok(path) = PolicyPath::parse(&join(dir, name)) {
                out.grants.grant(path, *access);
            }
        }
    }
    fold_siblings(&mut out, &mut trees);
    out.grants.minimise(|p| {
        if trees.contains(p) {
            Scope::Tree
        } else {
            Scope::Itself
        }
    });
    out.evidence
        .retain(|dir, _| out.grants.paths.contains_key(dir));
    out.grants.bind_tcp = record.bind_tcp.clone();
    out.grants.connect_tcp = record.connect_tcp.clone();
    if record.ephemeral_bind {
        // One port flag restricts all TCP, and port 0 cannot be listed: suggesting ports
        // would break the program's ephemeral bind.
        out.not_suggested.push(NotSuggested {
            path: "bind-tcp 0".to_owned(),
            why: "the program binds ephemeral ports (port 0), which TCP rules cannot allow; no TCP ports are suggested, so TCP stays unrestricted".to_owned(),
        });
        out.grants.bind_tcp.clear();
        out.grants.connect_tcp.clear();
    }
    // UDP ports are restricted apart from TCP, each direction on its own, so an ephemeral TCP
    // bind does not hold them back.
    out.grants.bind_udp = record.bind_udp.clone();
    out.grants.connect_udp = record.connect_udp.clone();
    for (path, why) in &record.not_suggestable {
        out.not_suggested.push(NotSuggested {
            path: path.clone(),
            why: why.clone(),
        });
    }
    out
}

/// Rule 4: same-rights siblings fold into their parent, repeatedly.
fn fold_siblings(out: &mut Folded, trees: &mut BTreeSet<PolicyPath>) {
    let mut refused: BTreeSet<PolicyPath> = BTreeSet::new();
    loop {
        let mut groups: BTreeMap<(PolicyPath, Access), Vec<PolicyPath>> = BTreeMap::new();
        for (path, access) in &out.grants.paths {
            if let Some(parent) = parent(path) {
                groups
                    .entry((parent, *access))
                    .or_default()
                    .push(path.clone());
            }
        }
        let Some(((dir, access), members)) = groups
            .into_iter()
            .find(|((dir, _), members)| members.len() >= FOLD_SIBLINGS && !refused.contains(dir))
        else {
            return;
        };
        if dir.is_broad() {
            out.not_suggested.push(NotSuggested {
                path: dir.to_string(),
                why: format!(
                    "{} entries of it were used ({}): {} whole is never suggested, so they are suggested one by one",
                    members.len(),
                    access.annotation_key(),
                    dir
                ),
            });
            refused.insert(dir);
            continue;
        }
        let mut seen = 0;
        let mut examples = Vec::new();
        for member in &members {
            out.grants.paths.remove(member);
            let evidence = out.evidence.remove(member);
            seen += evidence.as_ref().map_or(1, |e| e.seen);
            if examples.len() < EXAMPLES {
                examples.push(member.to_string());
            }
        }
        out.grants.grant(dir.clone(), access);
        trees.insert(dir.clone());
        out.evidence.insert(
            dir,
            Evidence {
                why: format!(
                    "{} subpaths used ({})",
                    members.len(),
                    access.annotation_key()
                ),
                seen,
                examples,
            },
        );
    }
}

fn parent(path: &PolicyPath) -> Option<PolicyPath> {
    let parent = path.as_path().parent()?;
    PolicyPath::from_path(parent).ok()
}

fn join(dir: &PolicyPath, name: &str) -> String {
    if dir.as_str() == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::Kernel;
    use crate::discovery::Findings;
    use crate::learn::record::Need;
    use crate::plan::{Plan, RealFs, requests};
    use crate::policy::Policy;
    use crate::profiles::{ProcView, Profile};

    fn record() -> Record {
        let policy = Policy {
            profile: Profile::None,
            discover: false,
            ..Policy::default()
        };
        let plan = Plan::new(
            &policy,
            requests(&policy, &Findings::default(), ProcView::Shared),
            Kernel::with_version(7),
            &RealFs,
        );
        Record::new(&plan, 1)
    }

    fn suggested(f: &Folded) -> Vec<(String, Access)> {
        f.grants
            .paths
            .iter()
            .map(|(p, a)| (p.to_string(), *a))
            .collect()
    }

    #[test]
    fn files_stay_files_until_three_and_changes_suggest_the_directory() {
        let mut r = record();
        r.need(Need::Entry("/srv/app/config.yaml".into(), Access::Ro));
        r.need(Need::Entry("/srv/app/extra.yaml".into(), Access::Ro));
        for name in ["a.html", "b.css", "c.js"] {
            r.need(Need::Entry(format!("/srv/www/{name}").into(), Access::Ro));
        }
        r.need(Need::Change("/var/cache/app".into()));
        r.need(Need::Entry("/var/cache/app/x".into(), Access::Rw));
        r.need(Need::Entry("/opt/tool/bin/helper".into(), Access::Rx));
        let f = fold(&r);
        assert_eq!(
            suggested(&f),
            [
                ("/opt/tool/bin/helper".to_owned(), Access::Rx),
                ("/srv/app/config.yaml".to_owned(), Access::Ro),
                ("/srv/app/extra.yaml".to_owned(), Access::Ro),
                ("/srv/www".to_owned(), Access::Ro),
                ("/var/cache/app".to_owned(), Access::Rw),
            ]
        );
        let www = &f.evidence[&PolicyPath::parse("/srv/www").expect("path")];
        assert_eq!((www.seen, www.examples.len()), (3, 3));
        assert!(www.why.contains("3 entries used (read)"), "{www:?}");
        assert!(
            f.evidence[&PolicyPath::parse("/var/cache/app").expect("path")]
                .why
                .contains("created")
        );
    }

    #[test]
    fn broad_directories_are_never_suggested_whole() {
        let mut r = record();
        for name in ["passwd", "group", "app.conf", "other.conf"] {
            r.need(Need::Entry(format!("/etc/{name}").into(), Access::Ro));
        }
        r.need(Need::List("/proc".into()));
        let f = fold(&r);
        assert!(
            f.grants.paths.keys().all(|p| !p.is_broad()),
            "{:?}",
            f.grants
        );
        assert_eq!(f.grants.paths.len(), 4);
        let why: Vec<&str> = f.not_suggested.iter().map(|n| n.path.as_str()).collect();
        assert!(
            why.contains(&"/etc") && why.contains(&"/proc"),
            "{:?}",
            f.not_suggested
        );
    }

    #[test]
    fn siblings_fold_into_their_parent_with_the_same_rights_only() {
        let mut r = record();
        for sub in ["css", "js", "img"] {
            r.need(Need::List(format!("/srv/site/{sub}").into()));
        }
        r.need(Need::Entry("/srv/site/bin/run".into(), Access::Rx));
        let f = fold(&r);
        assert_eq!(
            suggested(&f),
            [
                ("/srv/site".to_owned(), Access::Ro),
                ("/srv/site/bin/run".to_owned(), Access::Rx)
            ]
        );
    }

    #[test]
    fn ephemeral_binds_suppress_port_suggestions() {
        let mut r = record();
        r.port(false, 5432);
        r.port(true, 0);
        let f = fold(&r);
        assert!(f.grants.connect_tcp.is_empty());
        assert!(f.not_suggested.iter().any(|n| n.why.contains("ephemeral")));
    }
}

//! Folding what was recorded into a suggestion a person would write.
//!
//! Rules, in order:
//!
//! 1. A directory whose entries were created, renamed or removed is suggested whole, `write`:
//!    names made at run time (temporary files, caches, logs) cannot be known in advance.
//! 2. A directory that was listed is suggested whole, `list` (names only: listing a directory
//!    is no reason to read its files).
//! 3. A directory of which at least [`FOLD_ENTRIES`] entries needed the same rights is
//!    suggested whole with those rights; otherwise each file is suggested as itself.
//! 4. Then, repeatedly: when at least [`FOLD_SIBLINGS`] suggested paths with the same rights
//!    share a parent directory, the parent is suggested instead.
//! 5. `/`, `/etc`, `/proc`, `/sys` and `/dev` ([`crate::values::BROAD_DIRS`]) are never
//!    suggested whole: their entries stay as they are, and `not_suggested` says why.
//! 6. A path beneath a suggested directory that grants at least its rights is dropped.
//!
//! **Write rights never climb** (rules 1, 3 and 4 with `write` or `write-exec`): a directory
//! is suggested whole with a write right only when every entry in it was written, created,
//! renamed or removed by the program ([`Disk`] says what is in it now). A directory that also
//! holds entries the program only read, or did not touch (nginx's `conf/` beside `logs/`,
//! `run/` and `temp/` under its prefix; `redis.conf` in redis's working directory), is never
//! made writable: write is suggested on the written entries themselves, and `not_suggested`
//! says that creating further entries there needs the directory.
//!
//! The thresholds come from real programs (Debian bookworm): the files a program names one by
//! one come alone or in pairs (a config file and its override, a CA bundle, a pid file next to
//! a log), while a directory read entry by entry (python importing a package, a web server's
//! assets, `run-parts`, a `conf.d` of fragments) shows three or more on the first run and more
//! on the next: with 3, a second run of the same workload needs nothing new.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt as _;

use serde::{Deserialize, Serialize};

use crate::access::Access;
use crate::grants::{Grants, Scope};
use crate::learn::record::{DirRecord, Record};
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

/// What folding may know of what is in a directory now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disk {
    /// The file system the program ran on (learn mode: the supervisor shares its view).
    Real,
    /// Not this machine's (`landlock-webhook suggest` reading denial lines): only what was
    /// recorded is known, so write grants fold only where the record alone allows it, and
    /// never into a parent (rule 4).
    Unknown,
}

impl Disk {
    /// Up to `enough` names in `dir` that are not in `known`, and whether there were more;
    /// `None` when they cannot be known.
    fn names_not_in(
        self,
        dir: &PolicyPath,
        known: &BTreeSet<String>,
        enough: usize,
    ) -> Option<(Vec<String>, bool)> {
        match self {
            Disk::Unknown => None,
            Disk::Real => match std::fs::read_dir(dir.as_path()) {
                Ok(entries) => {
                    let mut names = Vec::new();
                    for entry in entries.flatten() {
                        // Escaped as the record keeps names (`path_text`).
                        let name = crate::path_text::encode(entry.file_name().as_bytes());
                        if known.contains(&name) {
                            continue;
                        }
                        if names.len() == enough {
                            return Some((names, true));
                        }
                        names.push(name);
                    }
                    Some((names, false))
                }
                // Gone: nothing in it is left to protect.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Some((Vec::new(), false)),
                Err(_) => None,
            },
        }
    }

    /// The entries of `dir` that a write grant on the whole of it would expose although the
    /// program did not write them: recorded entries that were only read, and (on a real disk)
    /// names in it that are not in `written`. `None` when nothing stands in the way.
    fn write_blockers(
        self,
        dir: &PolicyPath,
        record: Option<&DirRecord>,
        written: &BTreeSet<String>,
        unknown_blocks: bool,
    ) -> Option<Vec<String>> {
        let mut blockers: BTreeSet<String> = BTreeSet::new();
        let mut unwritten_more = 0;
        if let Some(r) = record {
            blockers.extend(
                r.entries
                    .iter()
                    .filter(|(_, a)| !a.writes())
                    .map(|(n, _)| n.clone()),
            );
            match r.more {
                Some((_, access)) if !access.writes() => {
                    blockers.insert(format!("(more entries read in {dir})"));
                }
                Some((count, _)) => unwritten_more = count,
                None => {}
            }
        }
        // Written entries beyond those the record keeps by name are not known by name: as
        // many unknown names as there were may be theirs. Reading stops once that many and a
        // few examples are found (a directory of a million files is not read whole at every
        // interval: a blocker is a blocker).
        let enough = usize::try_from(unwritten_more)
            .unwrap_or(usize::MAX)
            .saturating_add(EXAMPLES + 1);
        match self.names_not_in(dir, written, enough) {
            Some((unknown, cut)) if unknown.len() as u64 > unwritten_more => {
                blockers.extend(unknown);
                if cut {
                    blockers.insert("(more entries, not read)".to_owned());
                }
            }
            Some(_) => {}
            None if unknown_blocks => {
                blockers.insert("(what else is in it is not known)".to_owned());
            }
            None => {}
        }
        (!blockers.is_empty()).then(|| blockers.into_iter().collect())
    }
}

/// Folds `record` against the real file system (see the module doc for the rules).
pub fn fold(record: &Record) -> Folded {
    fold_on(record, Disk::Real)
}

/// Folds `record`, knowing of directories' contents what `disk` says.
pub fn fold_on(record: &Record, disk: Disk) -> Folded {
    let mut out = Folded::default();
    let mut trees: BTreeSet<PolicyPath> = BTreeSet::new();
    for (dir, r) in &record.dirs {
        let mut whole: Option<Access> = None;
        let mut why = Vec::new();
        let written: BTreeSet<String> = r
            .entries
            .iter()
            .filter(|(_, a)| a.writes())
            .map(|(n, _)| n.clone())
            .collect();
        // Asked up to once per right the directory's entries were used with: read it once.
        let known_blockers = std::cell::OnceCell::new();
        let blockers = || {
            known_blockers
                .get_or_init(|| disk.write_blockers(dir, Some(r), &written, false))
                .clone()
        };
        if r.changed {
            match blockers() {
                None => {
                    whole = Some(Access::Rw);
                    why.push("entries created, renamed or removed".to_owned());
                }
                Some(blockers) if !dir.is_broad() => out.not_suggested.push(NotSuggested {
                    path: dir.to_string(),
                    why: format!(
                        "entries created, renamed or removed ({}), but it also holds entries the program only read or did not touch ({}): write on {dir} would let the program rewrite them, so write is suggested on the entries it wrote that exist now; creating, renaming or removing entries in it needs write on {dir} (Landlock checks those on the directory): give the written files a directory of their own, or create them before the program starts",
                        examples_of(&written),
                        examples_of(&blockers),
                    ),
                }),
                Some(_) => {}
            }
        }
        if r.listed {
            whole = Some(whole.map_or(Access::List, |a| a.union(Access::List)));
            why.push(if r.entries.values().any(|a| a.reads_files()) {
                "listed".to_owned()
            } else {
                "listed, no file in it read".to_owned()
            });
        }
        let mut per_access: BTreeMap<Access, u64> = BTreeMap::new();
        for access in r.entries.values() {
            *per_access.entry(*access).or_default() += 1;
        }
        if let Some((more, access)) = r.more {
            *per_access.entry(access).or_default() += more;
        }
        for (access, count) in &per_access {
            if *count >= FOLD_ENTRIES && (!access.writes() || blockers().is_none()) {
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
            let Ok(path) = PolicyPath::parse(&join(dir, name)) else {
                continue;
            };
            // A written entry that is gone (a temporary file, the old name of a rename) is
            // nothing to grant: the shim would refuse a flag for a missing path.
            if access.writes() && disk == Disk::Real && std::fs::symlink_metadata(&path).is_err() {
                continue;
            }
            out.grants.grant(path, *access);
        }
    }
    fold_siblings(record, disk, &mut out, &mut trees);
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

/// Up to [`EXAMPLES`] names, and how many more.
fn examples_of<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    let names: Vec<&String> = names.into_iter().collect();
    let shown: Vec<&str> = names.iter().take(EXAMPLES).map(|n| n.as_str()).collect();
    match names.len().saturating_sub(EXAMPLES) {
        0 => shown.join(", "),
        more => format!("{}, and {more} more", shown.join(", ")),
    }
}

/// Rule 4: same-rights siblings fold into their parent, repeatedly; write rights only into a
/// parent that holds nothing else (see the module doc).
///
/// In rounds: each round groups the grants once and folds every group that qualifies, deepest
/// first (a folded directory joins its own siblings in the next round), so a fold costs rounds
/// as deep as the tree, not one pass over every grant per directory folded or refused.
fn fold_siblings(record: &Record, disk: Disk, out: &mut Folded, trees: &mut BTreeSet<PolicyPath>) {
    let mut refused: BTreeSet<(PolicyPath, Access)> = BTreeSet::new();
    loop {
        let mut groups: BTreeMap<(PolicyPath, Access), Vec<PolicyPath>> = BTreeMap::new();
        for (path, access) in &out.grants.paths {
            if let Some(parent) = path.parent() {
                groups
                    .entry((parent, *access))
                    .or_default()
                    .push(path.clone());
            }
        }
        let mut due: Vec<((PolicyPath, Access), Vec<PolicyPath>)> = groups
            .into_iter()
            .filter(|(key, members)| members.len() >= FOLD_SIBLINGS && !refused.contains(key))
            .collect();
        if due.is_empty() {
            return;
        }
        due.sort_by_key(|((dir, _), _)| std::cmp::Reverse(dir.as_path().components().count()));
        for ((dir, access), members) in due {
            fold_group(record, disk, out, trees, &mut refused, dir, access, members);
        }
    }
}

/// One group of [`fold_siblings`]: folded into `dir`, or refused (and noted).
#[allow(clippy::too_many_arguments)]
fn fold_group(
    record: &Record,
    disk: Disk,
    out: &mut Folded,
    trees: &mut BTreeSet<PolicyPath>,
    refused: &mut BTreeSet<(PolicyPath, Access)>,
    dir: PolicyPath,
    access: Access,
    members: Vec<PolicyPath>,
) {
    // A member folded away by a deeper group of the same round is no longer granted.
    let members: Vec<PolicyPath> = members
        .into_iter()
        .filter(|m| out.grants.paths.get(m) == Some(&access))
        .collect();
    if members.len() < FOLD_SIBLINGS {
        return;
    }
    if dir.is_broad() {
        // One note per directory: rule 5 may have said why already.
        if !out.not_suggested.iter().any(|n| n.path == dir.as_str()) {
            out.not_suggested.push(NotSuggested {
                path: dir.to_string(),
                why: format!(
                    "{} entries of it were used ({}): {} whole is never suggested, so they are suggested one by one",
                    members.len(),
                    access.annotation_key(),
                    dir
                ),
            });
        }
        refused.insert((dir, access));
        return;
    }
    if access.writes() {
        let written: BTreeSet<String> = members
            .iter()
            .filter_map(|m| m.as_path().file_name())
            .map(|n| crate::path_text::encode(n.as_bytes()))
            .collect();
        if disk
            .write_blockers(&dir, record.dirs.get(&dir), &written, true)
            .is_some()
        {
            refused.insert((dir, access));
            return;
        }
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
                ("/srv/site".to_owned(), Access::List),
                ("/srv/site/bin/run".to_owned(), Access::Rx)
            ]
        );
    }

    fn tree(files: &[&str]) -> std::io::Result<(tempfile::TempDir, String)> {
        let dir = tempfile::tempdir()?;
        let root = std::fs::canonicalize(dir.path())?;
        for file in files {
            let path = root.join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if !file.ends_with('/') {
                std::fs::write(&path, "x")?;
            }
        }
        Ok((dir, root.to_string_lossy().into_owned()))
    }

    #[test]
    fn nginx_write_rights_stop_at_the_written_directories() -> std::io::Result<()> {
        // nginx's prefix layout after a run: it read conf/nginx.conf and created the rest.
        let (_dir, prefix) = tree(&[
            "conf/nginx.conf",
            "conf/mime.types",
            "logs/access.log",
            "logs/error.log",
            "run/nginx.pid",
            "tmp/client_body/",
        ])?;
        let mut r = record();
        r.need(Need::Entry(
            format!("{prefix}/conf/nginx.conf").into(),
            Access::Ro,
        ));
        for made in [
            "logs/access.log",
            "logs/error.log",
            "run/nginx.pid",
            "tmp/client_body",
        ] {
            r.need(Need::Made(format!("{prefix}/{made}").into()));
        }
        let f = fold(&r);
        assert_eq!(
            suggested(&f),
            [
                (format!("{prefix}/conf/nginx.conf"), Access::Ro),
                (format!("{prefix}/logs"), Access::Rw),
                (format!("{prefix}/run"), Access::Rw),
                (format!("{prefix}/tmp"), Access::Rw),
            ]
        );
        // The created entries are the evidence, counted and named.
        let logs = &f.evidence[&PolicyPath::parse(&format!("{prefix}/logs")).expect("path")];
        assert_eq!(logs.seen, 2, "{logs:?}");
        assert_eq!(
            logs.examples,
            [
                format!("{prefix}/logs/access.log"),
                format!("{prefix}/logs/error.log")
            ]
        );
        Ok(())
    }

    /// A build tree's shape at the record's limit: thousands of directories, each with files
    /// written beside one only read. Every write stays on the files (each directory holds
    /// what the program did not write), none climbs, and the whole tree is folded in rounds
    /// (one pass over the grants per level, not one per refused directory, which took tens of
    /// seconds on the supervisor's only thread while every watched syscall waited).
    #[test]
    fn a_record_of_thousands_of_written_directories_folds_to_their_files() -> std::io::Result<()> {
        let dirs = crate::learn::record::DIRS_KEPT / 2;
        let names: Vec<String> = (0..dirs)
            .flat_map(|d| ["a.o", "b.o", "c.o", "src.c"].map(|f| format!("d{}/s{d}/{f}", d % 64)))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let (_dir, root) = tree(&names)?;
        let mut r = record();
        for d in 0..dirs {
            let at = format!("{root}/d{}/s{d}", d % 64);
            r.need(Need::Entry(format!("{at}/src.c").into(), Access::Ro));
            for object in ["a.o", "b.o", "c.o"] {
                r.need(Need::Entry(format!("{at}/{object}").into(), Access::Rw));
            }
        }
        let f = fold(&r);
        let writes: Vec<String> = suggested(&f)
            .into_iter()
            .filter(|(_, a)| a.writes())
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            writes.len(),
            dirs * 3,
            "every written file, and nothing above"
        );
        assert!(
            writes.iter().all(|p| p.ends_with(".o")),
            "{:?}",
            &writes[..3]
        );
        let reads = suggested(&f).into_iter().filter(|(_, a)| *a == Access::Ro);
        assert_eq!(
            reads.count(),
            dirs,
            "one source file read in each directory"
        );
        Ok(())
    }

    #[test]
    fn redis_writes_its_log_file_but_never_its_config_beside_it() -> std::io::Result<()> {
        // redis's working directory: redis.conf read, redis.log created, an untouched file.
        let (_dir, data) = tree(&["redis.conf", "redis.log", "README"])?;
        let mut r = record();
        r.need(Need::Entry(format!("{data}/redis.conf").into(), Access::Ro));
        r.need(Need::Made(format!("{data}/redis.log").into()));
        r.need(Need::Entry(format!("{data}/redis.log").into(), Access::Rw));
        // A temporary file created and renamed away is not there to grant.
        r.need(Need::Made(format!("{data}/temp-1.rdb").into()));
        let f = fold(&r);
        assert_eq!(
            suggested(&f),
            [
                (format!("{data}/redis.conf"), Access::Ro),
                (format!("{data}/redis.log"), Access::Rw),
            ]
        );
        let note = f
            .not_suggested
            .iter()
            .find(|n| n.path == data)
            .expect("the directory's note");
        assert!(
            note.why.contains("redis.conf") && note.why.contains("README"),
            "{note:?}"
        );
        // With nothing else in it, the directory itself is suggested.
        let (_dir, own) = tree(&["redis.log"])?;
        let mut r = record();
        r.need(Need::Made(format!("{own}/redis.log").into()));
        assert_eq!(suggested(&fold(&r)), [(own, Access::Rw)]);
        Ok(())
    }

    #[test]
    fn listed_directories_whose_files_were_not_read_are_list_only() -> std::io::Result<()> {
        let (_dir, cwd) = tree(&["app.py", "secret.key"])?;
        let mut r = record();
        r.need(Need::List(cwd.clone().into()));
        r.need(Need::Entry(format!("{cwd}/app.py").into(), Access::Ro));
        let f = fold(&r);
        assert_eq!(
            suggested(&f),
            [
                (cwd.clone(), Access::List),
                (format!("{cwd}/app.py"), Access::Ro)
            ]
        );
        assert!(
            f.evidence[&PolicyPath::parse(&cwd).expect("path")]
                .why
                .contains("listed"),
        );
        Ok(())
    }

    #[test]
    fn a_broad_directory_is_noted_once() {
        let mut r = record();
        r.need(Need::List("/etc".into()));
        for name in ["a.conf", "b.conf", "c.conf"] {
            r.need(Need::Entry(format!("/etc/x/{name}").into(), Access::Ro));
            r.need(Need::Entry(format!("/etc/{name}").into(), Access::Ro));
        }
        let f = fold(&r);
        let etc = f.not_suggested.iter().filter(|n| n.path == "/etc").count();
        assert_eq!(etc, 1, "{:?}", f.not_suggested);
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

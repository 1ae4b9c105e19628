//! What the program used, minus what the sandbox would already grant: per directory, the
//! entries used with the rights they needed, whether the directory was listed, and whether its
//! entries were created, renamed or removed; TCP ports bound and connected to; and what could
//! not be observed or suggested, with the reason.
//!
//! Memory, and the learn line, stay bounded whatever the program does: a directory keeps at
//! most [`ENTRIES_KEPT`] entry names, then only counts (folding needs far fewer, see
//! [`crate::learn::fold`]); at most [`DIRS_KEPT`] directories and [`BYTES_KEPT`] bytes of their
//! paths and names, [`NOT_SUGGESTABLE_KEPT`]
//! unsuggestable paths and [`FOREIGN_KEPT`] 32-bit programs are kept, and what did not fit is
//! counted ([`Counts::not_recorded`]) and reported in the line. Each process's own `/proc/PID`
//! is recorded as `/proc/self`, so 20,000 children reading their own `/proc/self` are one
//! entry, not 20,000.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::access::Access;
use crate::learn::line::Counts;
use crate::path_text;
use crate::plan::{Plan, Target};
use crate::profiles::PROC_SELF;
use crate::values::{PolicyPath, Port};

/// Entry names kept per directory.
pub const ENTRIES_KEPT: usize = 64;
/// Directories kept; needs in further directories are counted, not recorded.
pub const DIRS_KEPT: usize = 4096;
/// Unsuggestable paths kept (with their reasons); further ones are counted.
pub const NOT_SUGGESTABLE_KEPT: usize = 256;
/// 32-bit programs named; further ones are counted.
pub const FOREIGN_KEPT: usize = 64;
/// Bytes of directory paths and entry names kept: the counts above bound entries, this bounds
/// their size (a name may be 255 bytes, a path 4095, each escaped up to four times longer), so
/// that a program cannot make the supervisor hold gigabytes. Beyond it, new directories are
/// counted as not recorded and new names only counted.
pub const BYTES_KEPT: usize = 16 * 1024 * 1024;

/// The `not_suggested` key under which child processes reading their own `/proc/self` are
/// noted, when the plan grants only the first process's.
pub const CHILDREN_PROC_SELF: &str = "/proc/self (of the program's child processes)";

/// What a resolved operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// A file (or directory opened as a file) with these rights.
    Entry(PathBuf, Access),
    /// A directory opened for listing.
    List(PathBuf),
    /// A directory whose entries are created, renamed or removed (the entry unknown).
    Change(PathBuf),
    /// An entry created, renamed (from or to) or removed: its directory changes, and the
    /// entry is recorded as written (so the evidence names it, and folding knows which entries
    /// of the directory the program wrote).
    Made(PathBuf),
}

/// One directory's record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirRecord {
    /// Entries used (at most [`ENTRIES_KEPT`]) and the rights each needed.
    pub entries: BTreeMap<String, Access>,
    /// Entries used beyond those kept, and the union of their rights.
    pub more: Option<(u64, Access)>,
    /// The directory itself was opened for listing.
    pub listed: bool,
    /// Entries were created, renamed or removed.
    pub changed: bool,
}

impl DirRecord {
    /// How many distinct entries were used.
    pub fn seen(&self) -> u64 {
        self.entries.len() as u64 + self.more.map_or(0, |(n, _)| n)
    }
}

/// What the sandbox would grant anyway, as the kernel resolves it.
#[derive(Debug, Clone, Default)]
struct Granted(Vec<(PathBuf, Access, Target)>);

impl Granted {
    /// Whether every process's `/proc/self` is granted (the plan grants `/proc` itself, as in
    /// a PID namespace of the shim's own), not only the first process's.
    fn every_proc_self(&self) -> bool {
        self.covers(Path::new("/proc/1"), Access::Ro, true)
    }
}

impl Granted {
    fn from_plan(plan: &Plan) -> Self {
        Self(
            plan.grants
                .iter()
                .map(|g| {
                    // /proc/self means the program's own /proc entry, which learn mode records
                    // as /proc/self too; everything else is compared by what it resolves to.
                    let path = if g.path.as_str().starts_with("/proc/self") {
                        g.path.as_path().to_path_buf()
                    } else {
                        std::fs::canonicalize(g.path.as_path())
                            .unwrap_or_else(|_| g.path.as_path().to_path_buf())
                    };
                    (path, g.access, g.target)
                })
                .collect(),
        )
    }

    fn covers(&self, path: &Path, access: Access, dir_only: bool) -> bool {
        self.0.iter().any(|(granted, rights, target)| {
            rights.includes(access)
                && match target {
                    Target::Dir => path.starts_with(granted),
                    Target::File => !dir_only && path == granted,
                }
        })
    }
}

/// Everything recorded so far.
#[derive(Debug, Clone, Default)]
pub struct Record {
    granted: Granted,
    main_pid: u32,
    /// Directories and what was used in them, keyed by the directory.
    pub dirs: BTreeMap<PolicyPath, DirRecord>,
    /// TCP ports bound.
    pub bind_tcp: BTreeSet<Port>,
    /// TCP ports connected to.
    pub connect_tcp: BTreeSet<Port>,
    /// A bind to port 0 (an ephemeral port) was seen: the vocabulary cannot allow it.
    pub ephemeral_bind: bool,
    /// UDP ports bound.
    pub bind_udp: BTreeSet<Port>,
    /// UDP ports connected or sent to (`connect`, `sendto`, `sendmsg`, `sendmmsg`).
    pub connect_udp: BTreeSet<Port>,
    /// Paths that cannot be suggested, with the reason.
    pub not_suggestable: BTreeMap<String, String>,
    /// 32-bit programs executed (their syscalls are not observed).
    pub foreign_programs: BTreeSet<String>,
    /// Counters.
    pub counts: Counts,
    changed: bool,
    /// Bytes of directory paths and entry names kept (at most [`BYTES_KEPT`]).
    bytes: usize,
}

impl Record {
    /// An empty record for the program started as `main_pid`, subtracting what `plan` grants.
    pub fn new(plan: &Plan, main_pid: u32) -> Self {
        Self {
            granted: Granted::from_plan(plan),
            main_pid,
            ..Self::default()
        }
    }

    /// Whether anything new was recorded since the last call (then resets).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Records one need of the program's first process.
    pub fn need(&mut self, need: Need) {
        self.need_by(need, self.main_pid);
    }

    /// Records one need of process `caller` (its pid: its own `/proc/PID` is `/proc/self`).
    pub fn need_by(&mut self, need: Need, caller: u32) {
        let (path, access, dir_only) = match &need {
            Need::Entry(path, access) => (path.as_path(), *access, false),
            Need::List(dir) => (dir.as_path(), Access::List, true),
            Need::Change(dir) => (dir.as_path(), Access::Rw, true),
            Need::Made(entry) => (entry.as_path(), Access::Rw, true),
        };
        let Some(path) = self.suggestable(path, caller) else {
            return;
        };
        // A made entry needs its directory's write rights, which a grant of the entry alone
        // cannot give (Landlock checks creation and removal on the directory).
        let covered_at = match &need {
            Need::Made(_) => path.parent().unwrap_or_else(|| path.clone()),
            _ => path.clone(),
        };
        if self.granted.covers(covered_at.as_path(), access, dir_only) {
            self.counts.covered += 1;
            return;
        }
        match need {
            Need::List(_) => self.dir(&path, |d, _| !std::mem::replace(&mut d.listed, true)),
            Need::Change(_) => self.dir(&path, |d, _| !std::mem::replace(&mut d.changed, true)),
            Need::Made(_) => {
                let (Some(parent), Some(name)) = (path.parent(), path.as_path().file_name()) else {
                    return;
                };
                // Exact bytes, escaped, as for entries below.
                let name = path_text::encode(name.as_bytes());
                self.dir(&parent, |d, room| {
                    let changed = !std::mem::replace(&mut d.changed, true);
                    add_entry(d, name, Access::Rw, room) || changed
                });
            }
            Need::Entry(..) => {
                let (Some(parent), Some(name)) = (path.parent(), path.as_path().file_name()) else {
                    // "/" itself as an entry: recorded as listing the root.
                    self.dir(&path, |d, _| !std::mem::replace(&mut d.listed, true));
                    return;
                };
                // Exact bytes, escaped (see `path_text`): a lossy name would be another file.
                let name = path_text::encode(name.as_bytes());
                self.dir(&parent, |d, room| add_entry(d, name, access, room));
            }
        }
    }

    /// Records a port.
    pub fn port(&mut self, bind: bool, port: u16) {
        let Ok(port) = Port::parse(&port.to_string()) else {
            if bind && !self.ephemeral_bind {
                self.ephemeral_bind = true;
                self.changed = true;
            }
            return;
        };
        let set = if bind {
            &mut self.bind_tcp
        } else {
            &mut self.connect_tcp
        };
        self.changed |= set.insert(port);
    }

    /// Records a UDP port. A bind to port 0 needs no rule (ephemeral binds stay allowed, see
    /// the shim's ruleset), so it is not recorded.
    pub fn udp_port(&mut self, bind: bool, port: u16) {
        let Ok(port) = Port::parse(&port.to_string()) else {
            return;
        };
        let set = if bind {
            &mut self.bind_udp
        } else {
            &mut self.connect_udp
        };
        self.changed |= set.insert(port);
    }

    /// Records that a 32-bit program was executed.
    pub fn foreign(&mut self, program: &Path) {
        let program = path_text::encode(program.as_os_str().as_bytes());
        if self.foreign_programs.len() >= FOREIGN_KEPT && !self.foreign_programs.contains(&program)
        {
            self.not_recorded();
            return;
        }
        self.changed |= self.foreign_programs.insert(program);
    }

    /// Updates the record of `dir`; `update` is given the bytes new names may take, and takes
    /// what it adds from them.
    fn dir(&mut self, dir: &PolicyPath, update: impl FnOnce(&mut DirRecord, &mut usize) -> bool) {
        let cost = dir.as_str().len();
        if !self.dirs.contains_key(dir) {
            if self.dirs.len() >= DIRS_KEPT || self.bytes + cost > BYTES_KEPT {
                self.not_recorded();
                return;
            }
            self.bytes += cost;
        }
        let mut room = BYTES_KEPT.saturating_sub(self.bytes);
        let record = self.dirs.entry(dir.clone()).or_default();
        self.changed |= update(record, &mut room);
        self.bytes = BYTES_KEPT - room;
    }

    /// Counts a need the bounded record had no room for (said in the learn line).
    fn not_recorded(&mut self) {
        if self.counts.not_recorded == 0 {
            self.changed = true;
        }
        self.counts.not_recorded += 1;
    }

    /// The policy path to record for `path`, used by process `caller`, or `None` (noted in
    /// `not_suggestable`): the caller's own `/proc/PID` and the first process's become
    /// `/proc/self` (which the profiles grant; threads' `/proc/self/task/TID` are within it);
    /// another process's `/proc/PID` cannot be granted ahead of time (pids change every run).
    fn suggestable(&mut self, path: &Path, caller: u32) -> Option<PolicyPath> {
        let text = path_text::encode(path.as_os_str().as_bytes());
        let mut normalised = text.clone();
        if let Some(rest) = text.strip_prefix("/proc/") {
            let (pid, tail) = rest.split_once('/').unwrap_or((rest, ""));
            if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                let pid: Option<u32> = pid.parse().ok();
                if pid == Some(self.main_pid) || pid == Some(caller) {
                    if pid != Some(self.main_pid) && !self.granted.every_proc_self() {
                        self.unsuggestable(
                            CHILDREN_PROC_SELF,
                            "a child process read its own /proc/self, which is granted to every process of the program only when the shim is PID 1 of its PID namespace (a container's default, see init-shim/README.md, *Profiles*); here only the first process's is, and nothing else can be suggested",
                        );
                    }
                    normalised = if tail.is_empty() || tail.starts_with("task/") || tail == "task" {
                        PROC_SELF.to_owned()
                    } else {
                        format!("{PROC_SELF}/{tail}")
                    };
                } else {
                    return self.unsuggestable(
                        &text,
                        "another process's /proc entry: pids change every run, and only the program's own /proc/self can be granted",
                    );
                }
            }
        }
        match PolicyPath::parse(&normalised) {
            Ok(path) => Some(path),
            Err(err) => self.unsuggestable(&text, &err.problem),
        }
    }

    fn unsuggestable(&mut self, path: &str, why: &str) -> Option<PolicyPath> {
        if self.not_suggestable.contains_key(path) {
            return None;
        }
        if self.not_suggestable.len() >= NOT_SUGGESTABLE_KEPT {
            self.not_recorded();
            return None;
        }
        self.not_suggestable.insert(path.to_owned(), why.to_owned());
        self.changed = true;
        None
    }
}

/// Adds `name` to `dir` with `access`: by name while the directory keeps fewer than
/// [`ENTRIES_KEPT`] and the name fits in `room` bytes (which it then takes), else only counted.
fn add_entry(dir: &mut DirRecord, name: String, access: Access, room: &mut usize) -> bool {
    if let Some(known) = dir.entries.get_mut(&name) {
        let before = *known;
        *known = known.union(access);
        return *known != before;
    }
    if dir.entries.len() < ENTRIES_KEPT && name.len() <= *room {
        *room -= name.len();
        dir.entries.insert(name, access);
    } else {
        let (count, rights) = dir.more.get_or_insert((0, access));
        *count += 1;
        *rights = rights.union(access);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::Kernel;
    use crate::discovery::Findings;
    use crate::plan::{RealFs, requests};
    use crate::policy::Policy;
    use crate::profiles::{ProcView, Profile};

    fn record(profile: Profile) -> Record {
        let policy = Policy {
            profile,
            discover: false,
            ..Policy::default()
        };
        let plan = Plan::new(
            &policy,
            requests(&policy, &Findings::default(), ProcView::Shared),
            Kernel::with_version(7),
            &RealFs,
        );
        Record::new(&plan, 4242)
    }

    #[test]
    fn what_the_profile_grants_is_counted_not_recorded() {
        let mut r = record(Profile::Default);
        r.need(Need::Entry("/usr/bin/env".into(), Access::Rx));
        r.need(Need::Entry("/etc/hosts".into(), Access::Ro));
        r.need(Need::Change("/tmp".into()));
        assert_eq!(r.counts.covered, 3);
        assert!(r.dirs.is_empty());
        // Writing /etc/hosts is more than the profile grants.
        r.need(Need::Entry("/etc/hosts".into(), Access::Rw));
        assert_eq!(
            r.dirs[&PolicyPath::parse("/etc").expect("path")].entries["hosts"],
            Access::Rw
        );
        assert!(r.take_changed());
        assert!(!r.take_changed());
    }

    #[test]
    fn proc_entries_become_proc_self_or_are_refused() {
        let mut r = record(Profile::None);
        r.need(Need::Entry("/proc/4242/status".into(), Access::Ro));
        r.need(Need::Entry("/proc/4242/task/4250/comm".into(), Access::Ro));
        r.need(Need::Entry("/proc/99/status".into(), Access::Ro));
        let proc_dir = &r.dirs[&PolicyPath::parse("/proc/self").expect("path")];
        assert_eq!(proc_dir.entries.keys().collect::<Vec<_>>(), ["status"]);
        assert!(
            r.dirs[&PolicyPath::parse("/proc").expect("path")]
                .entries
                .contains_key("self")
        );
        assert!(r.not_suggestable["/proc/99/status"].contains("pids change"));
    }

    #[test]
    fn each_process_reads_its_own_proc_self_and_twenty_thousand_are_one_entry() {
        let mut r = record(Profile::None);
        for child in 5000..25_000u32 {
            r.need_by(
                Need::Entry(format!("/proc/{child}/status").into(), Access::Ro),
                child,
            );
        }
        let proc_self = &r.dirs[&PolicyPath::parse("/proc/self").expect("path")];
        assert_eq!(proc_self.entries.keys().collect::<Vec<_>>(), ["status"]);
        assert_eq!(r.dirs.len(), 1, "{:?}", r.dirs.keys());
        // Not another process's entry; said once, because only the first process's is granted
        // outside a PID namespace of the shim's own.
        assert_eq!(
            r.not_suggestable.keys().collect::<Vec<_>>(),
            [CHILDREN_PROC_SELF]
        );
        assert_eq!(r.counts.not_recorded, 0);
    }

    /// Long names the kernel accepts (255 bytes, escaped four times longer), 8 in every kept
    /// directory, would be some 33 MB (64 of them, 270 MB): the record keeps at most [`BYTES_KEPT`] of them and
    /// counts the rest, by directory, as entries not kept by name.
    #[test]
    fn the_record_bounds_the_bytes_it_keeps() {
        use std::os::unix::ffi::OsStringExt as _;
        let mut r = record(Profile::None);
        for d in 0..DIRS_KEPT {
            for n in 0..8 {
                let mut name = vec![1u8; 250];
                name.extend_from_slice(format!("{n:04}").as_bytes());
                let mut path = format!("/data/d{d}/").into_bytes();
                path.extend_from_slice(&name);
                r.need(Need::Made(std::ffi::OsString::from_vec(path).into()));
            }
        }
        let kept: usize = r
            .dirs
            .iter()
            .map(|(dir, d)| dir.as_str().len() + d.entries.keys().map(String::len).sum::<usize>())
            .sum();
        assert!(kept <= BYTES_KEPT, "{kept} bytes kept");
        assert!(kept > BYTES_KEPT - 4096, "the budget is used: {kept}");
        let counted: u64 = r.dirs.values().filter_map(|d| d.more.map(|(n, _)| n)).sum();
        assert!(counted > 0, "names beyond the budget are counted");
    }

    #[test]
    fn the_record_is_bounded_and_counts_what_did_not_fit() {
        let mut r = record(Profile::None);
        // Another process's /proc entries, 20,000 of them (each child reading its parent's).
        for other in 5000..25_000u32 {
            r.need_by(
                Need::Entry(format!("/proc/{other}/status").into(), Access::Ro),
                other + 1,
            );
        }
        assert_eq!(r.not_suggestable.len(), NOT_SUGGESTABLE_KEPT);
        // 20,000 directories.
        for i in 0..20_000 {
            r.need(Need::Change(format!("/data/d{i}").into()));
        }
        assert_eq!(r.dirs.len(), DIRS_KEPT);
        assert_eq!(
            r.counts.not_recorded,
            (20_000 - NOT_SUGGESTABLE_KEPT + 20_000 - DIRS_KEPT) as u64
        );
        // What is already recorded is still updated.
        r.need(Need::List("/data/d0".into()));
        assert!(r.dirs[&PolicyPath::parse("/data/d0").expect("path")].listed);
    }

    #[test]
    fn entries_are_bounded_per_directory() {
        let mut r = record(Profile::None);
        for i in 0..100 {
            r.need(Need::Entry(format!("/data/f{i}").into(), Access::Ro));
        }
        let d = &r.dirs[&PolicyPath::parse("/data").expect("path")];
        assert_eq!(d.entries.len(), ENTRIES_KEPT);
        assert_eq!(d.seen(), 100);
    }

    #[test]
    fn port_zero_binds_are_flagged() {
        let mut r = record(Profile::None);
        r.port(true, 0);
        r.port(false, 443);
        assert!(r.ephemeral_bind);
        assert_eq!(r.connect_tcp.len(), 1);
    }
}

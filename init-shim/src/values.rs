//! The validated scalar values of a policy: paths, TCP ports and modes.
//!
//! Every value that reaches the policy from outside (a shim flag, a pod annotation) is parsed
//! here, so the rules and the wording of the errors exist once. An error names the offending
//! value and what is wrong with it; callers add where the value came from (the flag, or the
//! annotation and container).

use std::ffi::OsString;
use std::fmt;
use std::num::NonZeroU16;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::path_text;

/// A value that failed validation: the value as given and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?}: {problem}")]
pub struct ValueError {
    /// The offending value, exactly as it was given.
    pub value: String,
    /// What is wrong with it, phrased so it can follow the value.
    pub problem: String,
}

impl ValueError {
    /// A validation error for `value`.
    pub fn new(value: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            problem: problem.into(),
        }
    }
}

/// Directories whose whole-tree grant exposes far more than any program needs: `/` is
/// everything, `/etc` holds `/etc/shadow` and application secrets, `/proc` other processes'
/// memory maps and environments, `/sys` and `/dev` the machine's devices.
pub const BROAD_DIRS: &[&str] = &["/", "/etc", "/proc", "/sys", "/dev"];

/// An absolute, normalised path: starts with `/`, has no `.` or `..` element, no empty element
/// (`//` or a trailing `/`), and no NUL byte.
///
/// Normalised form matters because Landlock rules are attached to what the path resolves to when
/// the shim opens it: a path that says `..` or `.` would make the grant in a pod spec read
/// differently from what it grants.
///
/// A path is any bytes, so its text (in flags, annotations, lines) is the escape form of
/// [`crate::path_text`]: `\xHH` for a byte that is not printable UTF-8 and for the backslash.
/// [`PolicyPath::as_str`] is that text, in canonical form (what [`crate::path_text::encode`]
/// writes); [`PolicyPath::as_path`] the exact bytes, which is what the shim opens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyPath {
    /// The canonical escaped text (compared, ordered and hashed: it determines the bytes).
    text: String,
    /// The decoded bytes.
    path: PathBuf,
}

impl Serialize for PolicyPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for PolicyPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PolicyPath::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl PolicyPath {
    /// Validates `value`, a path in the escape form of [`crate::path_text`], as a policy path.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let bytes = path_text::decode(value).map_err(|e| ValueError::new(value, e.to_string()))?;
        let problem = if bytes.is_empty() {
            Some("empty path")
        } else if bytes.contains(&0) {
            Some("path contains a NUL byte")
        } else if bytes[0] != b'/' {
            Some("path must be absolute (start with '/')")
        } else if bytes == b"/" {
            None
        } else {
            bytes[1..]
                .split(|&b| b == b'/')
                .find_map(|element| match element {
                    b"" => Some("path has an empty element (a doubled or trailing '/')"),
                    b"." => Some("path has a '.' element; write the path without it"),
                    b".." => Some("path has a '..' element; write the path it resolves to"),
                    _ => None,
                })
        };
        match problem {
            Some(problem) => Err(ValueError::new(value, problem)),
            None => Ok(Self {
                text: path_text::encode(&bytes),
                path: PathBuf::from(OsString::from_vec(bytes)),
            }),
        }
    }

    /// Validates the exact bytes of `path` as a policy path (what learn mode records).
    pub fn from_path(path: &Path) -> Result<Self, ValueError> {
        Self::parse(&path_text::encode(path.as_os_str().as_bytes()))
    }

    /// A path from canonical text known to be valid (a part of a valid path's text cut at a
    /// `/`, which never splits an escape).
    fn from_valid_text(text: String) -> Self {
        let path = match path_text::decode_os(&text) {
            Ok(bytes) => PathBuf::from(bytes),
            Err(_) => PathBuf::from(&text),
        };
        Self { text, path }
    }

    /// The path as text, in the escape form (what flags, annotations and lines carry).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path's exact bytes, as a [`Path`] (what is opened).
    pub fn as_path(&self) -> &Path {
        &self.path
    }

    /// Whether granting this path whole is almost never what a person means: what it reaches
    /// ([`PolicyPath::reach`]) is `/`, `/etc`, `/proc`, `/sys` or `/dev` (see [`BROAD_DIRS`]),
    /// or a directory only known when the program runs. Such grants are allowed, but the
    /// webhook warns about them, the shim prints a warning, and learn mode never suggests them.
    pub fn is_broad(&self) -> bool {
        match self.reach() {
            Reach::Path(path) => BROAD_DIRS.contains(&path.as_str()),
            Reach::Unknown => true,
        }
    }

    /// What a grant of this path really covers once `/proc`'s magic links in it are followed,
    /// as the kernel follows them when the shim opens the path: `/proc/self/root` (also
    /// `/proc/thread-self/root`, `/proc/PID/root`, `/proc/PID/task/TID/root`) is a link to the
    /// process's root directory, so `/proc/self/root/etc` reaches `/etc` and `/proc/self/root`
    /// all of `/`; `/proc/self/cwd` and `/proc/self/fd/N` lead wherever the process's working
    /// directory or descriptor is when the shim runs ([`Reach::Unknown`]). Decided from the
    /// path alone, so the webhook, which cannot look into the container, decides the same.
    pub fn reach(&self) -> Reach {
        let mut path = self.clone();
        // Each step removes a `/proc/.../root` prefix, so a path of N elements takes < N steps.
        loop {
            let elements: Vec<&str> = path.text.split('/').skip(1).collect();
            let Some(link) = proc_magic_link(&elements) else {
                return Reach::Path(path);
            };
            match elements[link] {
                "root" => {
                    let rest = elements[link + 1..].join("/");
                    path = PolicyPath::from_valid_text(format!("/{rest}"));
                }
                _ => return Reach::Unknown,
            }
        }
    }

    /// The directories above this path, nearest first (none for `/`): a lookup per level, for
    /// what is granted above a path without a scan of every grant.
    pub fn ancestors(&self) -> impl Iterator<Item = PolicyPath> + '_ {
        let mut text = self.text.as_str();
        std::iter::from_fn(move || {
            if text == "/" {
                return None;
            }
            let cut = text.rfind('/')?;
            text = if cut == 0 { "/" } else { &text[..cut] };
            Some(PolicyPath::from_valid_text(text.to_owned()))
        })
    }

    /// The directory this path is in (`None` for `/`).
    pub fn parent(&self) -> Option<PolicyPath> {
        self.ancestors().next()
    }

    /// Bounds between which, in the order of policy paths, lie the paths beneath this one
    /// (`TEXT/` up to `TEXT0`: `0` follows `/`); for `/`, every path, `/` itself included.
    pub fn beneath_bounds(&self) -> (PolicyPath, PolicyPath) {
        let base = if self.text == "/" {
            ""
        } else {
            self.text.as_str()
        };
        (
            PolicyPath::from_valid_text(format!("{base}/")),
            PolicyPath::from_valid_text(format!("{base}0")),
        )
    }

    /// Whether `self` is `other` or lies beneath it.
    pub fn is_within(&self, other: &PolicyPath) -> bool {
        other.text == "/"
            || self.text == other.text
            || (self.text.starts_with(&other.text)
                && self.text.as_bytes().get(other.text.len()) == Some(&b'/'))
    }
}

/// What a grant of a path covers (see [`PolicyPath::reach`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// This path: the granted path itself, or where its `/proc/.../root` links lead.
    Path(PolicyPath),
    /// A process's working directory or one of its descriptors (`/proc/self/cwd`,
    /// `/proc/self/fd/N`, or beneath them): known only when the shim runs, and `/` in many
    /// containers.
    Unknown,
}

/// The index, in `elements` (a path's elements after the leading `/`), of a `/proc` magic link
/// to a directory (`root`, `cwd`, `fd/N`) of some process or thread, if the path goes through
/// one: `proc/{self,thread-self,PID}[/task/TID]/{root,cwd,fd/N}`.
fn proc_magic_link(elements: &[&str]) -> Option<usize> {
    let number = |e: &str| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit());
    if elements.first() != Some(&"proc") {
        return None;
    }
    let who = *elements.get(1)?;
    let mut at = 2;
    if who != "thread-self" {
        if who != "self" && !number(who) {
            return None;
        }
        if elements.get(2) == Some(&"task") && elements.get(3).is_some_and(|e| number(e)) {
            at = 4;
        }
    }
    match *elements.get(at)? {
        "root" | "cwd" => Some(at),
        // `fd` itself is a directory of links; `fd/N` is one of them.
        "fd" if elements.len() > at + 1 => Some(at),
        _ => None,
    }
}

impl fmt::Display for PolicyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for PolicyPath {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<Path> for PolicyPath {
    fn as_ref(&self) -> &Path {
        self.as_path()
    }
}

/// A TCP port, 1 to 65535. Port 0 is refused: to Landlock it means "any ephemeral port", which is
/// never what a person listing ports means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Port(NonZeroU16);

impl Port {
    /// Validates `value` as a port number.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let number: u32 = value
            .parse()
            .map_err(|_| ValueError::new(value, "not a port number (expected 1-65535)"))?;
        let port = u16::try_from(number)
            .ok()
            .and_then(NonZeroU16::new)
            .ok_or_else(|| ValueError::new(value, "port out of range (expected 1-65535)"))?;
        Ok(Self(port))
    }

    /// The port number.
    pub fn get(self) -> u16 {
        self.0.get()
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Port {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What the shim does when the kernel cannot enforce everything the policy asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Refuse to start the program unless every requested right is enforced.
    Enforce,
    /// Enforce what the kernel supports and say what was dropped.
    #[default]
    BestEffort,
    /// Compute and log the policy, then run the program without restricting it.
    DryRun,
    /// Run the program without restricting it, record what it uses, and print the policy that
    /// would let it run (see [`crate::learn`]). Nothing is sandboxed.
    Learn,
}

impl Mode {
    /// Every mode, in the order the documentation lists them.
    pub const ALL: [Mode; 4] = [Mode::Enforce, Mode::BestEffort, Mode::DryRun, Mode::Learn];

    /// The name used in flags and annotations.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::BestEffort => "best-effort",
            Mode::DryRun => "dry-run",
            Mode::Learn => "learn",
        }
    }

    /// Whether the program runs without a sandbox in this mode.
    pub fn restricts(self) -> bool {
        matches!(self, Mode::Enforce | Mode::BestEffort)
    }

    /// Parses a mode name.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.name() == value)
            .ok_or_else(|| {
                ValueError::new(
                    value,
                    "unknown mode (expected enforce, best-effort, dry-run or learn)",
                )
            })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// How often learn mode prints what it learned when it changed (`--learn-interval`): a whole
/// number with a unit, `ms`, `s`, `m` or `h` (`30s`, `5m`), from 100ms to 24h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(Duration);

impl Interval {
    /// The default: 30 seconds (pods run for days; a line every 30s at most is cheap).
    pub const DEFAULT: Interval = Interval(Duration::from_secs(30));

    /// Parses `30s`, `500ms`, `5m`, `1h`.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let digits = value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len());
        let (number, unit) = value.split_at(digits);
        let number: u64 = number.parse().map_err(|_| {
            ValueError::new(
                value,
                "not a duration (expected a number and a unit: 500ms, 30s, 5m, 1h)",
            )
        })?;
        let duration = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            _ => {
                return Err(ValueError::new(
                    value,
                    "unknown unit (expected ms, s, m or h, e.g. 30s)",
                ));
            }
        };
        if duration < Duration::from_millis(100) || duration > Duration::from_secs(24 * 3600) {
            return Err(ValueError::new(
                value,
                "out of range (expected 100ms to 24h)",
            ));
        }
        Ok(Self(duration))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis.is_multiple_of(1000) {
            write!(f, "{}s", millis / 1000)
        } else {
            write!(f, "{millis}ms")
        }
    }
}

/// Whether signals and abstract UNIX sockets are scoped to the sandbox (Landlock ABI 6):
/// `--scope` and the `scope` annotation.
///
/// Scoping is hardening no path or port rule depends on, so by default it is applied where the
/// kernel has it and reported as dropped where it has not, in every mode, `enforce` included;
/// `required` makes `enforce` refuse a kernel without it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scoping {
    /// Scope where the kernel can (ABI 6+); below that, listed as dropped.
    #[default]
    Available,
    /// Scope, and count a kernel without scoping as a shortfall (`enforce` refuses it).
    Required,
    /// Do not scope.
    Off,
}

impl Scoping {
    /// Every value, in the order the documentation lists them.
    pub const ALL: [Scoping; 3] = [Scoping::Available, Scoping::Required, Scoping::Off];

    /// The name used in flags and annotations.
    pub fn name(self) -> &'static str {
        match self {
            Scoping::Available => "available",
            Scoping::Required => "required",
            Scoping::Off => "off",
        }
    }

    /// Whether scoping is asked for at all.
    pub fn wanted(self) -> bool {
        self != Scoping::Off
    }

    /// Parses a scoping name.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|scoping| scoping.name() == value)
            .ok_or_else(|| {
                ValueError::new(value, "unknown scope (expected available, required or off)")
            })
    }
}

impl fmt::Display for Scoping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_absolute_normalised_paths() {
        for ok in [
            "/",
            "/etc",
            "/etc/ssl/certs",
            "/data/..hidden",
            "/a b",
            "/x.y",
        ] {
            assert_eq!(
                PolicyPath::parse(ok).map(|p| p.text),
                Ok(ok.to_owned()),
                "{ok}"
            );
        }
    }

    #[test]
    fn rejects_paths_with_a_reason_naming_the_value() {
        let cases = [
            ("", "empty path"),
            ("etc/passwd", "must be absolute"),
            ("./etc", "must be absolute"),
            ("/etc/../root", "'..'"),
            ("/..", "'..'"),
            ("/etc/./x", "'.'"),
            ("/etc//x", "empty element"),
            ("/etc/", "empty element"),
            ("/etc/\0x", "NUL"),
        ];
        for (bad, reason) in cases {
            let err = PolicyPath::parse(bad).expect_err(bad);
            assert_eq!(err.value, bad);
            assert!(err.problem.contains(reason), "{bad}: {err}");
            assert!(err.to_string().starts_with(&format!("{bad:?}: ")), "{err}");
        }
    }

    #[test]
    fn escaped_paths_name_their_exact_bytes() {
        let odd = PolicyPath::parse("/srv/\\xff\\x5cname").expect("valid");
        assert_eq!(odd.as_path().as_os_str().as_bytes(), b"/srv/\xff\\name");
        assert_eq!(odd.as_str(), "/srv/\\xff\\x5cname");
        assert_eq!(
            PolicyPath::from_path(odd.as_path()).as_ref(),
            Ok(&odd),
            "bytes to text and back"
        );
        // Escapes of plain characters mean those characters: one path, one canonical text.
        assert_eq!(
            PolicyPath::parse("/\\x73rv").map(|p| p.text),
            Ok("/srv".into())
        );
        // Validation is of the bytes, so an escaped `..` or NUL is refused like a plain one.
        for (bad, reason) in [
            ("/a/\\x2e\\x2e", "'..'"),
            ("/a\\x00b", "NUL"),
            ("/a\\x2f/b", "empty element"),
            ("/a\\b", "bad escape"),
        ] {
            let err = PolicyPath::parse(bad).expect_err(bad);
            assert_eq!(err.value, bad);
            assert!(err.problem.contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn within_is_by_element_not_by_prefix() {
        let p = |s| PolicyPath::parse(s).expect("valid");
        assert!(p("/etc/ssl").is_within(&p("/etc")));
        assert!(p("/etc").is_within(&p("/etc")));
        assert!(p("/etc").is_within(&p("/")));
        assert!(!p("/etcetera").is_within(&p("/etc")));
        assert!(!p("/etc").is_within(&p("/etc/ssl")));
    }

    #[test]
    fn broad_directories_are_exactly_the_listed_trees() {
        let p = |s| PolicyPath::parse(s).expect("valid");
        for broad in BROAD_DIRS {
            assert!(p(broad).is_broad(), "{broad}");
        }
        for narrow in [
            "/etc/ssl/certs",
            "/proc/self",
            "/dev/null",
            "/srv",
            "/etcetera",
        ] {
            assert!(!p(narrow).is_broad(), "{narrow}");
        }
    }

    #[test]
    fn magic_links_are_followed_before_deciding_what_is_broad() {
        let p = |s| PolicyPath::parse(s).expect("valid");
        let reach = |s| p(s).reach();
        for (path, reaches) in [
            ("/proc/self/root", "/"),
            ("/proc/thread-self/root", "/"),
            ("/proc/1/root", "/"),
            ("/proc/self/task/7/root/etc", "/etc"),
            ("/proc/self/root/proc/self/root/etc", "/etc"),
            ("/proc/self/root/srv/www", "/srv/www"),
            ("/proc/self", "/proc/self"),
            ("/proc/self/fd", "/proc/self/fd"),
            ("/proc/self/exe", "/proc/self/exe"),
            ("/proc/rootish/root", "/proc/rootish/root"),
            ("/srv/proc/self/root", "/srv/proc/self/root"),
        ] {
            assert_eq!(reach(path), Reach::Path(p(reaches)), "{path}");
        }
        for unknown in [
            "/proc/self/cwd",
            "/proc/thread-self/cwd",
            "/proc/self/cwd/data",
            "/proc/self/fd/3",
            "/proc/42/task/42/fd/0",
            "/proc/self/root/proc/self/cwd",
        ] {
            assert_eq!(reach(unknown), Reach::Unknown, "{unknown}");
        }
        for broad in [
            "/proc/self/root",
            "/proc/thread-self/root",
            "/proc/self/cwd",
            "/proc/self/root/etc",
            "/proc/self/fd/5",
        ] {
            assert!(p(broad).is_broad(), "{broad}");
        }
        for narrow in ["/proc/self/root/srv", "/proc/self/fd", "/proc/self/exe"] {
            assert!(!p(narrow).is_broad(), "{narrow}");
        }
    }

    #[test]
    fn ports_are_1_to_65535() {
        assert_eq!(Port::parse("1").map(Port::get), Ok(1));
        assert_eq!(Port::parse("65535").map(Port::get), Ok(65535));
        for bad in ["0", "65536", "70000", "-1", "", "http", "80 ", "4294967296"] {
            let err = Port::parse(bad).expect_err(bad);
            assert_eq!(err.value, bad);
            assert!(err.problem.contains("1-65535"), "{err}");
        }
    }

    #[test]
    fn intervals_have_a_unit_and_a_sane_range() {
        assert_eq!(
            Interval::parse("30s").map(Interval::get),
            Ok(Duration::from_secs(30))
        );
        assert_eq!(
            Interval::parse("5m").map(Interval::get),
            Ok(Duration::from_secs(300))
        );
        assert_eq!(
            Interval::parse("250ms").map(|i| i.to_string()),
            Ok("250ms".into())
        );
        assert_eq!(
            Interval::parse("2m").map(|i| i.to_string()),
            Ok("120s".into())
        );
        for bad in ["", "30", "s", "1d", "50ms", "25h", "-1s", "1.5s"] {
            let err = Interval::parse(bad).expect_err(bad);
            assert_eq!(err.value, bad);
        }
    }

    #[test]
    fn modes_round_trip_through_their_names() {
        for mode in Mode::ALL {
            assert_eq!(Mode::parse(mode.name()), Ok(mode));
        }
        let err = Mode::parse("strict").expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "\"strict\": unknown mode (expected enforce, best-effort, dry-run or learn)"
        );
    }

    #[test]
    fn scopings_round_trip_and_bad_values_name_the_value() {
        for scoping in Scoping::ALL {
            assert_eq!(Scoping::parse(scoping.name()), Ok(scoping));
        }
        assert_eq!(
            Scoping::parse("yes").map_err(|e| e.to_string()),
            Err("\"yes\": unknown scope (expected available, required or off)".to_owned())
        );
        assert_eq!(Scoping::default(), Scoping::Available);
    }
}

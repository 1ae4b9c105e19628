//! The bodies of the fuzz targets: each takes the fuzzer's bytes, builds a structured input
//! from them with `arbitrary`, runs the code under test and checks what must hold besides "no
//! panic". The libFuzzer binaries under `tests/fuzz/fuzz_targets/` are one-line wrappers around
//! these, and `tests/tests/fuzz_corpora.rs` replays the committed corpora
//! (`tests/fuzz/corpus/<target>/`) through them in every `cargo test`, so a target that stops
//! compiling, or an input that stops passing, fails CI.
//!
//! | target | feeds | checks besides "no panic, no hang" |
//! |---|---|---|
//! | [`review`] | AdmissionReviews: real defaulted pods with structured edits, through `webhook::review::review` | an allowed patch applies to the object; the result is a Pod; every shim command in it parses with the shim's own parser; reviewing the result again changes nothing |
//! | [`annotations`] | `landlock-injector.io/*` annotation maps, through `webhook::admission::annotations::parse` | every container's effective settings can be computed |
//! | [`shim_flags`] | shim command lines (UTF-8 or not), through `init_shim::flags::parse` | a parsed policy renders to flags that parse back to the same command |
//! | [`mountinfo`] | `/proc/self/mountinfo` texts, through `init_shim::discovery::discover` | every mount it grants is a mount point of the input |
//! | [`audit_record`] | audit record lines (seeded with real Landlock records), through `webhook::denials::record::parse_line` and the `Joiner` | strings bounded by the line; a parsed record written back in the kernel's format parses to the same record; the joiner stays within its bound and hands on every denied access once |
//!
//! Adding a target: a module here with `pub fn run(data: &[u8])`, a row in [`TARGETS`], a
//! wrapper in `tests/fuzz/fuzz_targets/` with its `[[bin]]` in `tests/fuzz/Cargo.toml`, and a
//! seed corpus directory; `tests/fuzz/run` picks it up from `cargo fuzz list`.

pub mod annotations;
pub mod audit_record;
pub mod mountinfo;
pub mod review;
pub mod shim_flags;

use arbitrary::Arbitrary;

/// A fuzz target: the fuzzer's bytes in, a panic on failure.
pub type Target = fn(&[u8]);

/// Every target by the name of its libFuzzer binary and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("review", review::run),
    ("annotations", annotations::run),
    ("shim_flags", shim_flags::run),
    ("mountinfo", mountinfo::run),
    ("audit_record", audit_record::run),
];

/// The annotation settings (after `landlock-injector.io/`, or `<container>.`), and one no
/// setting has: the vocabulary of the `annotations` and `review` targets.
pub const SETTINGS: &[&str] = &[
    "inject",
    "status",
    "read",
    "read-exec",
    "write",
    "write-exec",
    "bind-tcp",
    "connect-tcp",
    "mode",
    "profile",
    "discover",
    "wrap-exec",
    "unknown",
];

/// Values the settings take (and near misses): the vocabulary of the `annotations` and
/// `review` targets.
pub const VALUES: &[&str] = &[
    "true",
    "false",
    "injected",
    "spec",
    "mounts",
    "enforce",
    "best-effort",
    "dry-run",
    "learn",
    "default",
    "minimal",
    "none",
    "/srv",
    "/etc/app",
    "/",
    "/etc",
    "/data/../etc",
    "//x",
    "/x/",
    "relative",
    "",
    " /srv",
    "8080",
    "0",
    "65535",
    "65536",
    "5432,443",
    "-1",
];

/// A string the fuzzer builds: mostly words that mean something to the code under test (so
/// inputs get past the first check), sometimes anything at all.
#[derive(Arbitrary, Debug, Clone)]
pub enum Word {
    /// A word of the target's vocabulary (index modulo its length).
    Known(u8),
    /// Any string.
    Any(String),
    /// Several words joined with `,` (annotation lists).
    List(Vec<u8>),
}

impl Word {
    /// The string, with `vocabulary` giving the known words.
    pub fn pick(&self, vocabulary: &[&str]) -> String {
        let known = |i: u8| {
            vocabulary
                .get(usize::from(i) % vocabulary.len().max(1))
                .copied()
                .unwrap_or_default()
        };
        match self {
            Word::Known(i) => known(*i).to_owned(),
            Word::Any(text) => text.clone(),
            Word::List(items) => items
                .iter()
                .map(|i| known(*i))
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

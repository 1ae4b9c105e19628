//! The learn line: one JSON line on stderr, printed when what was learned changed (every
//! `--learn-interval`) and at exit, easy to grep out of `kubectl logs`:
//!
//! ```json
//! {"landlock-learn":"landlock-shim 0.1.0","final":true,"program":"python3",
//!  "program_path":"/usr/bin/python3","cwd":"/srv","profile":"default",
//!  "discover":true,"suggest":{"list":[],"read":["/srv/www"],"read-exec":[],"write":["/var/cache/app"],
//!  "write-exec":[],"bind-tcp":[8000],"connect-tcp":[]},
//!  "evidence":{"/srv/www":{"why":"listed","seen":12,"examples":["/srv/www/index.html"]}},
//!  "not_suggested":[{"path":"/etc","why":"..."}],
//!  "cannot_see":["..."],"warnings":[],"counts":{"syscalls":812,"covered":790,"unreadable":0,"io_uring_refused":0,
//!  "not_recorded":0}}
//! ```
//!
//! (on one line). `suggest` is the policy in the annotation vocabulary: the path and port flags
//! the shim ran with plus what the program needed beyond them, minus what the profile and the
//! discovered volumes already grant. `landlock-webhook suggest` reads these lines back with
//! [`parse`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::grants::Grants;
use crate::learn::fold::{Evidence, NotSuggested};

/// The top-level key that marks a learn line.
pub const KEY: &str = "landlock-learn";

/// Counters of one learning run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Syscalls observed.
    pub syscalls: u64,
    /// Of those, needs the profile, a flag or a discovered volume already grants.
    pub covered: u64,
    /// Syscalls whose arguments could not be read.
    pub unreadable: u64,
    /// io_uring setups refused (ENOSYS) so that the program used plain syscalls.
    pub io_uring_refused: u64,
    /// Needs the bounded record had no room for (see [`crate::learn::record`]): not in the
    /// suggestion, said in `cannot_see`.
    #[serde(default)]
    pub not_recorded: u64,
}

/// One learn line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnLine {
    /// The component (`landlock-shim 0.1.0`), under the key that marks the line.
    #[serde(rename = "landlock-learn")]
    pub component: String,
    /// Whether this is the line printed at exit.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The program as given.
    pub program: String,
    /// The file the program resolved to through `PATH` (what ran, e.g. `/usr/bin/python3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_path: Option<String>,
    /// The working directory the program started in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The base profile the suggestion assumes.
    pub profile: String,
    /// Whether volume discovery was on (the suggestion assumes the same).
    pub discover: bool,
    /// What to grant, in the annotation vocabulary.
    pub suggest: Grants,
    /// For each directory suggested whole: why, and what was seen in it.
    #[serde(default)]
    pub evidence: BTreeMap<String, Evidence>,
    /// What was used but is not suggested, and why.
    #[serde(default)]
    pub not_suggested: Vec<NotSuggested>,
    /// What learn mode could not observe in this run.
    #[serde(default)]
    pub cannot_see: Vec<String>,
    /// Grants of `suggest` a reviewer must look at twice (see [`Grants::warnings`]).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Counters.
    #[serde(default)]
    pub counts: Counts,
}

impl LearnLine {
    /// The line as printed (one line of JSON).
    pub fn render(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| format!("{{\"{KEY}\":\"{err}\"}}"))
    }
}

/// Recognises a learn line: `None` when `line` is not one (it does not start with
/// `{"landlock-learn"`), `Some(Err)` when it is one but malformed.
pub fn parse(line: &str) -> Option<Result<LearnLine, serde_json::Error>> {
    let line = line.trim();
    let rest = line.strip_prefix('{')?.trim_start();
    rest.strip_prefix(&format!("\"{KEY}\""))?;
    Some(serde_json::from_str(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_line_and_parses_back() -> Result<(), serde_json::Error> {
        let line = LearnLine {
            component: "landlock-shim 0.1.0".into(),
            is_final: true,
            program: "app".into(),
            program_path: Some("/usr/bin/app".into()),
            cwd: Some("/srv".into()),
            profile: "default".into(),
            discover: true,
            suggest: Grants::default(),
            evidence: BTreeMap::new(),
            not_suggested: vec![],
            cannot_see: vec!["io_uring".into()],
            warnings: vec![],
            counts: Counts::default(),
        };
        let text = line.render();
        assert!(
            text.starts_with(r#"{"landlock-learn":"landlock-shim 0.1.0","final":true"#),
            "{text}"
        );
        assert!(!text.contains('\n'));
        assert_eq!(parse(&text).transpose()?, Some(line));
        assert!(parse(r#"{"landlock":"landlock-shim 0.1.0"}"#).is_none());
        assert!(parse("hello").is_none());
        assert!(matches!(parse(r#"{"landlock-learn": 3"#), Some(Err(_))));
        Ok(())
    }
}

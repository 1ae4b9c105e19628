//! `--help` says what the docs say (issue 21): the flags `landlock-shim --help` lists (the
//! shipped static build) are exactly the flags of the `| \`landlock-shim\` flag |` table in
//! `init-shim/README.md`, both ways.

mod support;

use std::collections::{BTreeMap, BTreeSet};

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");

/// Long flags (`--name`) in `text`, at the start of a word.
fn long_flags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("--") {
        let starts_word = rest[..i]
            .chars()
            .last()
            .is_none_or(|c| !c.is_alphanumeric() && c != '-');
        let name: String = rest[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        if starts_word && name.starts_with(|c: char| c.is_ascii_lowercase()) {
            out.push(format!("--{name}"));
        }
        rest = &rest[i + 2 + name.len()..];
    }
    out
}

/// The flags a `--help` text defines: its option lines (they start with `-`), up to where the
/// description starts (two spaces), without `--help` and `--version`.
fn help_flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| long_flags(l.split("  ").next().unwrap_or(l)))
        .filter(|f| f != "--help" && f != "--version")
        .collect()
}

/// The flags a README documents per program or subcommand: every table whose header's first
/// cell ends with `flag` names, in backticks, what it is for (`serve`, `inject`, ...); each
/// row's first cell holds the flags.
fn documented_flags(readme: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Vec<String> = Vec::new();
    for line in readme.lines() {
        if !line.starts_with('|') {
            current.clear();
            continue;
        }
        let first = line
            .trim_start_matches('|')
            .split(" | ")
            .next()
            .unwrap_or("")
            .trim();
        if current.is_empty() && first.ends_with(" flag") {
            current = first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            for name in &current {
                out.entry(name.clone()).or_default();
            }
            continue;
        }
        for name in &current {
            let flags = out.entry(name.clone()).or_default();
            flags.extend(
                long_flags(first)
                    .into_iter()
                    .filter(|f| f != "--help" && f != "--version"),
            );
        }
    }
    out
}

/// What differs between a program's `--help` and its README, both ways.
fn differences(what: &str, help: &BTreeSet<String>, docs: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for flag in help.difference(docs) {
        out.push(format!(
            "{what}: --help has {flag}, the README does not document it"
        ));
    }
    for flag in docs.difference(help) {
        out.push(format!(
            "{what}: the README documents {flag}, --help does not have it"
        ));
    }
    out
}

#[test]
fn help_lists_the_flags_the_readme_documents() {
    let run = support::shim(&["--help"]);
    assert_eq!(run.code, Some(0), "landlock-shim --help: {}", run.stderr);
    let flags = help_flags(&run.stdout);
    assert!(flags.len() >= 10, "landlock-shim --help lists {flags:?}");
    let readme = std::fs::read_to_string(README).expect("init-shim/README.md");
    let documented = documented_flags(&readme);
    let docs = documented
        .get("landlock-shim")
        .expect("init-shim/README.md has a `| `landlock-shim` flag |` table");
    let problems = differences("landlock-shim", &flags, docs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

//! `--help` says what the docs say (issue 21): the flags each subcommand's `--help` lists are
//! exactly the flags `webhook/README.md` documents for it, in its `| \`SUBCOMMAND\` flag |`
//! tables, both ways. A flag added without documentation, or documented and gone, fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_landlock-webhook");
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--help")
        .output()
        .expect("run landlock-webhook --help");
    assert!(
        out.status.success(),
        "landlock-webhook {args:?} --help failed"
    );
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// The subcommands the top-level `--help` lists (but `help`).
fn subcommands() -> Vec<String> {
    let top = help(&[]);
    let commands = top
        .split("Commands:\n")
        .nth(1)
        .expect("landlock-webhook --help lists its commands");
    commands
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

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
fn every_subcommands_help_lists_the_flags_the_readme_documents() {
    let readme = std::fs::read_to_string(README).expect("webhook/README.md");
    let documented = documented_flags(&readme);
    let subcommands = subcommands();
    assert!(subcommands.len() >= 5, "subcommands: {subcommands:?}");
    let mut problems = Vec::new();
    for sub in &subcommands {
        let flags = help_flags(&help(&[sub]));
        assert!(
            !flags.is_empty(),
            "landlock-webhook {sub} --help lists no flag"
        );
        match documented.get(sub) {
            None => problems.push(format!(
                "webhook/README.md has no `| `{sub}` flag |` table for landlock-webhook {sub}"
            )),
            Some(docs) => problems.extend(differences(
                &format!("landlock-webhook {sub}"),
                &flags,
                docs,
            )),
        }
    }
    for name in documented.keys() {
        if !subcommands.contains(name) {
            problems.push(format!(
                "webhook/README.md documents flags of `{name}`, which is no subcommand"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn help_option_lines_and_doc_tables_are_read_as_flags() {
    let help = "Options:\n  -f, --filename <FILE>  The manifest; see --other\n      --listen <LISTEN>\n          Address, not --this\n  -h, --help  Print help\n";
    assert_eq!(
        help_flags(help).into_iter().collect::<Vec<_>>(),
        ["--filename", "--listen"]
    );
    let readme = "| `a`, `b` flag | default | meaning |\n|---|---|---|\n| `--x N`, `--y-z` | | uses --not-this |\n\n| key | value |\n| `--no` | |\n";
    let docs = documented_flags(readme);
    assert_eq!(docs["a"].iter().collect::<Vec<_>>(), ["--x", "--y-z"]);
    assert_eq!(docs["a"], docs["b"]);
    assert_eq!(docs.len(), 2);
}

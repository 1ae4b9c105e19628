//! The documentation stays honest (issue 21):
//! - every shell command shown in a `sh`/`bash`/`console` block of a Markdown file is either run
//!   by a named test (or by `.ci/run`), listed in [`RUN_BY`], or marked on its line (or by a
//!   comment line at the top of its block) as not run here: `# needs ...` (a cluster, Docker,
//!   root on a node) or `# manual: ...` (a benchmark, a fuzzing campaign);
//! - nothing the old single README documented is lost: every row of `docs/moved.md` (an old
//!   heading or bold-titled paragraph) is found in the file it names.

use std::fs;
use std::path::{Path, PathBuf};

/// Commands shown in the docs and what runs them: (the command as shown, with its trailing
/// comment removed and its whitespace collapsed; the file that runs it; a string of that file
/// that is the test or the step running it).
const RUN_BY: &[(&str, &str, &str)] = &[
    (
        "cargo run -p webhook --bin landlock-webhook -- serve --listen 127.0.0.1:8443",
        "webhook/tests/serve.rs",
        "fn without_certificate_files_it_serves_a_self_signed_one",
    ),
    (
        "curl --cacert /tmp/landlock-webhook-ca.pem -H 'Content-Type: application/json' --data-binary @webhook/tests/fixtures/review-annotated.json https://localhost:8443/mutate",
        "webhook/tests/serve.rs",
        "fn admission_health_and_metrics_over_https",
    ),
    (
        "cargo run -p webhook --bin landlock-webhook -- inject --offline -f webhook/tests/fixtures/deployment.yaml",
        "webhook/tests/cli.rs",
        "fn inject_mutates_workloads_and_passes_other_documents_through",
    ),
    (
        "landlock-webhook inject --offline -f webhook/tests/fixtures/deployment.yaml",
        "webhook/tests/cli.rs",
        "fn inject_mutates_workloads_and_passes_other_documents_through",
    ),
    // `cargo test --workspace` builds every crate, the shim's debug build included.
    (
        "cargo build -p init-shim",
        ".ci/run",
        "cargo test --workspace",
    ),
    (
        "cd /srv && /path/to/checkout/target/debug/landlock-shim --ro /srv -- python3 -m http.server",
        "tests/tests/learn_round_trip.rs",
        "fn python_http_server_serving_a_directory",
    ),
    (
        "cargo test --workspace",
        ".ci/run",
        "cargo test --workspace",
    ),
    // Parts of `cargo test --workspace`.
    (
        "cargo test -p init-shim",
        ".ci/run",
        "cargo test --workspace",
    ),
    ("cargo test -p webhook", ".ci/run", "cargo test --workspace"),
    (
        "cargo test -p landlock-tests --test pod_scenarios",
        ".ci/run",
        "cargo test --workspace",
    ),
    (
        "cargo test -p landlock-tests --test pod_runner --test pod_scenarios",
        ".ci/run",
        "cargo test --workspace",
    ),
    (
        "cargo test -p landlock-tests --test fuzz_corpora",
        ".ci/run",
        "cargo test --workspace",
    ),
    (
        "rustup target add x86_64-unknown-linux-musl",
        ".ci/run",
        "rustup target add x86_64-unknown-linux-musl",
    ),
    // The static builds: tests/src/static_build.rs runs these commands for every shim test.
    (
        "export RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\"'",
        "tests/src/static_build.rs",
        "-C target-feature=+crt-static --cfg getrandom_backend=\\\"linux_getrandom\\\"",
    ),
    (
        "RUSTFLAGS=\"$RUSTFLAGS -C relocation-model=static\" cargo build --profile shim --locked --target x86_64-unknown-linux-musl -p init-shim --bin landlock-shim",
        "tests/src/static_build.rs",
        "-C relocation-model=static",
    ),
    (
        "cargo build --release --locked --target x86_64-unknown-linux-gnu -p webhook --bin landlock-webhook",
        "tests/src/static_build.rs",
        "\"--locked\"",
    ),
    (
        "file target/x86_64-unknown-linux-musl/shim/landlock-shim",
        "tests/tests/static_shim.rs",
        "fn the_release_shim_is_static_small_and_sandboxes",
    ),
    (
        "ldd target/x86_64-unknown-linux-musl/shim/landlock-shim",
        "tests/tests/static_shim.rs",
        "fn the_release_shim_is_static_small_and_sandboxes",
    ),
    // The learn walkthrough: learn, exercise, suggest, enforce with python's http.server.
    (
        "landlock-shim --mode learn -- python3 /srv/serve.py 2> learn.log &",
        "tests/tests/learn_round_trip.rs",
        "fn python_http_server_serving_a_directory",
    ),
    (
        "curl -s http://127.0.0.1:8000/; curl -s http://127.0.0.1:8000/css/site.css",
        "tests/tests/learn_round_trip.rs",
        "fn python_http_server_serving_a_directory",
    ),
    (
        "grep '^{\"landlock-learn\"' learn.log",
        "tests/tests/learn_round_trip.rs",
        "fn python_http_server_serving_a_directory",
    ),
    (
        "landlock-webhook suggest learn.log",
        "tests/tests/learn_round_trip.rs",
        "fn a_pod_learns_then_runs_enforced_with_the_suggested_annotations",
    ),
    (
        "landlock-webhook suggest --format flags learn.log",
        "tests/tests/learn_round_trip.rs",
        "fn python_http_server_serving_a_directory",
    ),
    (
        "landlock-shim --list /srv --ro /etc/locale.alias --ro /srv/serve.py --ro /srv/site/css/site.css --ro /srv/site/index.html --bind-tcp 8000 --mode enforce --profile default -- python3 /srv/serve.py &",
        "tests/tests/learn_round_trip.rs",
        "fn python_http_server_serving_a_directory",
    ),
    (
        "landlock-webhook suggest denials.log",
        "webhook/tests/suggest_denials.rs",
        "fn denial_and_learn_files_merge_and_a_malformed_denial_line_fails_naming_it",
    ),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Every Markdown file of the project (not the build output, git's files or vendored crates).
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | ".git" | "vendor" | "node_modules") {
                markdown_files(&path, out);
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// A command shown in the docs.
#[derive(Debug)]
struct Shown {
    /// `file:line`, for messages.
    at: String,
    /// The command without its trailing comment, whitespace collapsed.
    command: String,
    /// Marked `# needs ...` or `# manual: ...` (on its line or atop its block).
    marked: bool,
}

/// Splits a shell line into the command and its trailing comment (a `#` after whitespace,
/// outside quotes).
fn split_comment(line: &str) -> (&str, Option<&str>) {
    let (mut single, mut double, mut prev_space) = (false, false, true);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev_space => {
                return (line[..i].trim_end(), Some(line[i + 1..].trim()));
            }
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    (line, None)
}

fn is_marker(comment: &str) -> bool {
    comment.starts_with("needs ") || comment.starts_with("manual:")
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The commands of one Markdown file's `sh`, `bash`, `shell` and `console` blocks.
fn commands(path: &Path, text: &str) -> Vec<Shown> {
    let name = path
        .strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string();
    let mut out = Vec::new();
    // (language, marked by a comment on its first line, a line seen)
    let mut block: Option<(String, bool, bool)> = None;
    let mut pending: Option<(usize, String, bool)> = None; // a command continued with `\`
    for (n, line) in text.lines().enumerate() {
        if let Some(fence) = line.trim_start().strip_prefix("```") {
            block = match block {
                None => Some((fence.trim().to_owned(), false, false)),
                Some(_) => None,
            };
            continue;
        }
        let Some((lang, block_marked, seen)) = block.as_mut() else {
            continue;
        };
        if !matches!(lang.as_str(), "sh" | "bash" | "shell" | "console") {
            continue;
        }
        let first = !*seen && !line.trim().is_empty();
        *seen |= !line.trim().is_empty();
        let body = if let Some((start, so_far, marked)) = pending.take() {
            Some((start, format!("{so_far} {}", line.trim()), marked))
        } else if lang == "console" {
            line.strip_prefix("$ ").map(|c| (n, c.to_owned(), false))
        } else if let Some(comment) = line.trim().strip_prefix('#') {
            // A marker on the block's first line marks all of it.
            *block_marked |= first && is_marker(comment.trim());
            None
        } else if line.trim().is_empty() {
            None
        } else {
            Some((n, line.to_owned(), false))
        };
        let Some((start, so_far, marked)) = body else {
            continue;
        };
        let (command, comment) = split_comment(&so_far);
        let marked = marked || comment.is_some_and(is_marker);
        if let Some(open) = command.strip_suffix('\\') {
            pending = Some((start, open.trim_end().to_owned(), marked));
            continue;
        }
        out.push(Shown {
            at: format!("{name}:{}", start + 1),
            command: collapse(command),
            marked: marked || *block_marked,
        });
    }
    out
}

#[test]
fn every_command_in_the_docs_is_run_by_a_test_or_marked() {
    let root = repo();
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("README.md")),
        "no README.md under {}",
        root.display()
    );
    let shown: Vec<Shown> = files
        .iter()
        .flat_map(|f| {
            let text = fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            commands(f, &text)
        })
        .collect();
    assert!(shown.len() > 20, "too few commands found: {shown:?}");

    let mut problems = Vec::new();
    for s in shown.iter().filter(|s| !s.marked) {
        if !RUN_BY.iter().any(|(c, _, _)| collapse(c) == s.command) {
            problems.push(format!(
                "{}: `{}` is neither run by a test listed in tests/tests/docs.rs RUN_BY nor marked `# needs ...` / `# manual: ...`",
                s.at, s.command
            ));
        }
    }
    for (command, file, needle) in RUN_BY {
        if !shown.iter().any(|s| s.command == collapse(command)) {
            problems.push(format!(
                "RUN_BY lists `{command}`, which no doc shows any more"
            ));
        }
        let text = fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("RUN_BY names {file} for `{command}`: {e}"));
        if !text.contains(needle) {
            problems.push(format!(
                "RUN_BY: {file} has no `{needle}` (for `{command}`)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_command_extractor_joins_continuations_and_reads_markers() {
    let text = "```sh\n# needs a cluster\nkubectl get pods\n```\n\n```sh\nfoo --a \\\n  --b   # why\nbar # needs Docker\n# a comment\n```\n\n```console\n$ baz 'x # y'\noutput\n```\n\n```yaml\nnot: a command\n```\n";
    let shown = commands(Path::new("x.md"), text);
    let summary: Vec<(&str, bool)> = shown
        .iter()
        .map(|s| (s.command.as_str(), s.marked))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("kubectl get pods", true),
            ("foo --a --b", false),
            ("bar", true),
            ("baz 'x # y'", false),
        ]
    );
}

/// The rows of docs/moved.md: (kind, old section, new home).
fn moved_rows(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter(|l| l.starts_with("| heading |") || l.starts_with("| paragraph |"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 3, "docs/moved.md: row {l:?} needs 3 cells");
            (
                cells[0].to_owned(),
                cells[1].to_owned(),
                cells[2].trim_matches('`').to_owned(),
            )
        })
        .collect()
}

/// The `#`-headings of a Markdown text (outside code blocks), without their `#`s.
fn headings(text: &str) -> Vec<String> {
    let mut fence = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
        } else if !fence && line.starts_with('#') {
            out.push(line.trim_start_matches('#').trim().to_owned());
        }
    }
    out
}

#[test]
fn every_section_of_the_old_readme_has_a_new_home() {
    let root = repo();
    let moved = fs::read_to_string(root.join("docs/moved.md")).expect("docs/moved.md");
    let rows = moved_rows(&moved);
    // The old README had 26 headings and 54 bold-titled paragraphs that start a line.
    assert!(
        rows.len() >= 80,
        "docs/moved.md lists only {} sections",
        rows.len()
    );
    let mut problems = Vec::new();
    for (kind, section, home) in &rows {
        let text = fs::read_to_string(root.join(home))
            .unwrap_or_else(|e| panic!("docs/moved.md names {home} for {section:?}: {e}"));
        let found = match kind.as_str() {
            "heading" => headings(&text).iter().any(|h| h == section),
            _ => text.contains(&format!("**{section}**")),
        };
        if !found {
            problems.push(format!("{kind} {section:?} is not in {home}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_readme_is_short_and_links_to_every_doc_and_troubleshooting() {
    let root = repo();
    let readme = fs::read_to_string(root.join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines; at most about 300"
    );
    for doc in [
        "charts/landlock-injector/README.md",
        "init-shim/README.md",
        "webhook/README.md",
        "tests/README.md",
        "docs/troubleshooting.md",
    ] {
        assert!(
            readme.contains(&format!("]({doc}")),
            "README.md does not link to {doc}"
        );
        assert!(root.join(doc).is_file(), "{doc} is missing");
    }
    let trouble =
        fs::read_to_string(root.join("docs/troubleshooting.md")).expect("troubleshooting");
    let symptoms: Vec<String> = headings(&trouble).into_iter().skip(1).collect();
    assert_eq!(
        symptoms,
        [
            "The pod was refused",
            "The pod crash-loops with EACCES (or another errno)",
            "Denials are not showing",
            "The webhook is unreachable or does not start",
        ],
        "docs/troubleshooting.md is ordered by symptom"
    );
}

/// The learn lines the docs show, each with where it starts (`file:line`): a line starting
/// `{"landlock-learn"`, with the lines after it when it spans several (until the text is JSON).
fn shown_learn_lines(path: &Path, text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with("{\"landlock-learn\"") {
            continue;
        }
        let mut json = String::new();
        for next in &lines[i..] {
            if next.starts_with("```") {
                break;
            }
            json.push_str(next);
            if serde_json::from_str::<serde_json::Value>(&json).is_ok() {
                break;
            }
        }
        out.push((format!("{}:{}", path.display(), i + 1), json));
    }
    out
}

/// Every learn line the docs show is one the shim writes today: it parses, and written back it
/// is the same JSON, so a field the shim added since (or renamed) shows as a difference.
#[test]
fn every_learn_line_in_the_docs_has_the_fields_the_shim_writes() {
    let root = repo();
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    let mut shown = Vec::new();
    for path in &files {
        let text = fs::read_to_string(path).expect("markdown");
        let relative = path.strip_prefix(&root).unwrap_or(path);
        shown.extend(shown_learn_lines(relative, &text));
    }
    assert!(
        shown.len() >= 2,
        "the learn lines of init-shim/README.md and webhook/README.md: {shown:?}"
    );
    for (at, json) in shown {
        let line = match init_shim::learn::line::parse(&json) {
            Some(Ok(line)) => line,
            other => panic!("{at}: not a learn line the shim writes: {other:?}\n{json}"),
        };
        let written = serde_json::to_value(&line).expect("serialise");
        let shown: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(
            written, shown,
            "{at}: the shown learn line differs from what the shim writes for it"
        );
    }
}

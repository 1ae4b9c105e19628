//! `landlock-webhook suggest` through the real binary, fed learn lines: the `list` right in
//! every format, and the warnings a reviewer must read on stderr.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_landlock-webhook");

/// A learn line of python started in /root: it listed /root and read /srv/app/app.py.
const LEARN: &str = r#"{"landlock-learn":"landlock-shim 0.1.0","final":true,"program":"python3","program_path":"/usr/bin/python3","cwd":"/root","profile":"default","discover":true,"suggest":{"list":["/root","/srv/app"],"read":["/home/alice","/srv/app/app.py"],"read-exec":[],"write":["/srv/app/logs"],"write-exec":[],"bind-tcp":[],"connect-tcp":[]},"warnings":["list: /root is the working directory the program started in, and a working directory of / or a home directory holds far more than the program: start it in a directory of its own (WORKDIR), then learn again"]}"#;

fn suggest(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("suggest")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn landlock-webhook");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn list_is_suggested_in_every_format_and_broad_grants_are_warned_about() {
    let yaml = suggest(&[], &format!("{LEARN}\n"));
    assert_eq!(yaml.status.code(), Some(0), "{}", text(&yaml.stderr));
    assert!(
        text(&yaml.stdout).contains("    landlock-injector.io/list: /root,/srv/app\n"),
        "{}",
        text(&yaml.stdout)
    );
    let kubectl = suggest(&["--format", "kubectl"], &format!("{LEARN}\n"));
    assert!(
        text(&kubectl.stdout).contains("landlock-injector.io/list=/root,/srv/app"),
        "{}",
        text(&kubectl.stdout)
    );
    let flags = suggest(&["--format", "flags"], &format!("{LEARN}\n"));
    assert_eq!(
        text(&flags.stdout),
        "--list /root --list /srv/app --ro /home/alice --ro /srv/app/app.py --rw /srv/app/logs --mode enforce --profile default\n"
    );
    // The learn line's warning about the working directory, and the home directory the
    // merged policy grants, each once; nothing about the narrow grants.
    let stderr = text(&flags.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("landlock-webhook: suggest: warning: "))
        .collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].contains("list: /root is the working directory"),
        "{stderr}"
    );
    assert!(
        warnings[1].contains("read: /home/alice is a home directory"),
        "{stderr}"
    );
}

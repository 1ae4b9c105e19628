//! `landlock-webhook suggest` through the real binary, fed what `landlock-webhook denials`
//! printed (`kubectl logs` of the DaemonSet), alone and with learn lines.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_landlock-webhook");
const DENIALS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/denial-lines.log"
);

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
fn denial_lines_on_stdin_give_each_containers_annotations_and_name_what_none_can_allow() {
    let logs = std::fs::read_to_string(DENIALS).expect("fixture");
    let signal = r#"[pod/landlock-denials-x7k2p/denials] {"landlock-denial":"scope.signal","target_pid":1,"target_comm":"process_api","namespace":"apps","pod":"denied","container":"app","domain":"1e41bc3a9","audit":"1795461112.240:90361"}"#;
    let out = suggest(&[], &format!("{logs}{signal}\n"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "metadata:\n  annotations:\n    landlock-injector.io/mode: enforce\n    landlock-injector.io/app.read: /etc/shadow\n    landlock-injector.io/app.read-exec: /scratch/bb\n    landlock-injector.io/app.write: /srv/index.html\n    landlock-injector.io/client.connect-tcp: '80'\n"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("landlock-webhook: suggest: container \"app\" of pod apps/denied: scope.signal denied (a signal to pid 1 (process_api)): no annotation can allow this; the program must do without it\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("landlock-webhook: suggest: container \"client\": from denial lines only: add these grants to its current annotations or flags, do not replace them"),
        "{stderr}"
    );
}

#[test]
fn denial_and_learn_files_merge_and_a_malformed_denial_line_fails_naming_it() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let learn = dir.path().join("learn.log");
    std::fs::write(
        &learn,
        "[pod/denied/app] {\"landlock-learn\":\"landlock-shim 0.1.0\",\"final\":true,\"program\":\"app\",\"profile\":\"default\",\"discover\":true,\"suggest\":{\"read\":[\"/srv\"],\"read-exec\":[],\"write\":[],\"write-exec\":[],\"bind-tcp\":[8080],\"connect-tcp\":[]}}\n",
    )
    .expect("write learn lines");
    let learn = learn.to_str().expect("utf-8 path");
    let out = suggest(&["--format", "flags", learn, DENIALS], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "app: --ro /etc/shadow --ro /srv --rx /scratch/bb --rw /srv/index.html --bind-tcp 8080 --mode enforce --profile default\nclient: --connect-tcp 80 --mode enforce --profile default\n"
    );
    // The learn line makes app's suggestion complete; client's comes from denials alone.
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains("container \"app\": from denial lines only"),
        "{stderr}"
    );
    assert!(
        stderr.contains("container \"client\": from denial lines only"),
        "{stderr}"
    );

    let bad = dir.path().join("bad.log");
    std::fs::write(
        &bad,
        "starting\n{\"landlock-denial\":\"fs.read_file\",\"domain\":\"1\",\"audit\":\"1.2:3\"}\n",
    )
    .expect("write bad lines");
    let bad = bad.to_str().expect("utf-8 path");
    let out = suggest(&[bad], "");
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains(&format!(
            "{bad}: line 2: malformed denial line: fs.read_file without a path"
        )),
        "{}",
        text(&out.stderr)
    );
}

//! How the shipped shim opens the paths it grants: with `O_PATH | O_CLOEXEC`, which reads
//! nothing, never blocks and needs no permission on the file itself. The musl build once opened
//! every grant for reading (std's `custom_flags` masks `O_PATH` away on musl): a FIFO hung the
//! shim, a file a user may only write could not be granted, `/dev/tty` without a controlling
//! terminal failed with ENXIO, and a shim inside a sandbox could not open `/`. Each is run here
//! against the shipped binary.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use support::{SHIM, bounded, require, s, scratch, shim, shim_command, write};

/// Far beyond what any of these runs takes; only a hang reaches it.
const HANG: Duration = Duration::from_secs(60);

fn mkfifo(path: &Path) {
    let name = std::ffi::CString::new(s(path)).expect("no NUL");
    // SAFETY: `name` is a valid NUL-terminated string; mkfifo takes no other pointer.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0, "mkfifo");
}

#[test]
fn every_granted_path_is_opened_o_path() {
    require("/usr/bin/strace", "strace");
    let dir = scratch();
    let file = write(&dir.path().join("f"), "x");
    let log = dir.path().join("strace.log");
    let run = support::Run::from(
        std::process::Command::new("/usr/bin/strace")
            .args(["-f", "-e", "trace=open,openat,openat2", "-o", s(&log)])
            .args([SHIM.as_str(), "--no-discover", "--ro", s(dir.path())])
            .args(["--rw", s(&file), "--", "/bin/true"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run strace (apt-get install strace)"),
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    let trace = std::fs::read_to_string(&log).expect("the trace");
    // Every path of the profile and the flags, up to the exec of the program.
    let opens: Vec<&str> = trace
        .lines()
        .take_while(|l| !l.contains("execve("))
        .filter(|l| l.contains("open"))
        .collect();
    for granted in [
        s(dir.path()),
        s(&file),
        "/usr",
        "/tmp",
        "/dev/null",
        "/etc/hosts",
    ] {
        let open = opens
            .iter()
            .find(|l| l.contains(&format!("\"{granted}\"")))
            .unwrap_or_else(|| panic!("no open of {granted} in:\n{trace}"));
        assert!(
            open.contains("O_PATH") && open.contains("O_CLOEXEC"),
            "{granted} must be opened O_PATH|O_CLOEXEC: {open}"
        );
    }
}

#[test]
fn a_granted_fifo_does_not_hang_the_shim_in_any_mode() {
    let dir = scratch();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    for mode in ["enforce", "best-effort", "dry-run", "learn"] {
        let run = bounded(
            shim_command(&[
                "--no-discover",
                "--mode",
                mode,
                "--ro",
                s(&fifo),
                "--",
                "/bin/echo",
                "ran",
            ]),
            HANG,
        );
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (Some(0), "ran\n"),
            "{mode}: {run:#?}"
        );
        let line = run.startup_line();
        assert_eq!(line["ro"][s(&fifo)], "flag", "{mode}: {line}");
    }
}

#[test]
fn a_user_can_be_granted_a_file_it_may_only_write_and_a_directory_it_may_only_traverse() {
    support::require_root("runs the shim as another user");
    // World-traversable, wherever the checkout lives: /var/tmp, with the shim copied in.
    let dir = tempfile::Builder::new()
        .prefix("shim-test-")
        .tempdir_in("/var/tmp")
        .expect("a directory in /var/tmp");
    let root = dir.path();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let shim = root.join("landlock-shim");
    std::fs::copy(SHIM.as_str(), &shim).expect("copy the shim");
    // A log the user may append to but not read; a directory it may enter but not list, with
    // a program in it.
    let log = write(&root.join("log"), "");
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o622)).expect("chmod");
    let tools = root.join("tools");
    let tool = support::script(&tools.join("tool"), "echo tool ran");
    std::fs::set_permissions(&tools, std::fs::Permissions::from_mode(0o711)).expect("chmod");

    let body = format!("echo appended >> {}; {}", s(&log), s(&tool));
    let out = std::process::Command::new(&shim)
        .args(["--no-discover", "--mode", "enforce", "--rw", s(&log)])
        .args(["--rx", s(&tools), "--", "/bin/sh", "-c", &body])
        .uid(65534)
        .gid(65534)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the shim as nobody");
    let run = support::Run::from(out);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "tool ran\n"),
        "{run:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(&log).expect("read as root"),
        "appended\n"
    );
    let line = run.startup_line();
    assert_eq!(line["outcome"], "enforced", "{line}");
}

#[test]
fn dev_tty_can_be_granted_without_a_controlling_terminal() {
    require("/usr/bin/setsid", "util-linux");
    // A new session has no controlling terminal, like every container: opening /dev/tty for
    // reading fails there with ENXIO, naming it O_PATH does not.
    let run = support::Run::from(
        std::process::Command::new("/usr/bin/setsid")
            .args([
                "--wait",
                SHIM.as_str(),
                "--no-discover",
                "--mode",
                "enforce",
            ])
            .args(["--rw", "/dev/tty", "--", "/bin/echo", "ran"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run setsid"),
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "ran\n"),
        "{run:#?}"
    );
    assert_eq!(run.startup_line()["rw"]["/dev/tty"], "flag");
}

#[test]
fn a_shim_inside_a_sandbox_can_name_paths_the_sandbox_does_not_let_it_read() {
    // The outer sandbox grants the inner shim its binary and the default profile, not `/`
    // itself: the inner shim can still name `/` (and everything else) in its own rules, and
    // Landlock keeps the intersection, so the inner program may read no more than before.
    let dir = scratch();
    let secret = write(&dir.path().join("secret"), "secret");
    let run = shim(&[
        "--no-discover",
        "--rx",
        SHIM.as_str(),
        "--",
        SHIM.as_str(),
        "--no-discover",
        "--mode",
        "enforce",
        "--ro",
        "/",
        "--",
        "/bin/sh",
        "-c",
        &format!(
            "ls / > /dev/null && echo listed; cat {} || echo denied",
            s(&secret)
        ),
    ]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stdout, "denied\n", "{run:#?}");
    let inner = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("{\"landlock\":"))
        .nth(1)
        .unwrap_or_else(|| panic!("no startup line of the inner shim:\n{run:#?}"));
    let inner: serde_json::Value = serde_json::from_str(inner).expect("JSON");
    assert_eq!(inner["outcome"], "enforced", "{inner}");
    assert_eq!(inner["ro"]["/"], "flag", "{inner}");
}

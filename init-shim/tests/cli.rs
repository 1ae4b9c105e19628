//! The command line as users and the webhook see it: exit statuses, messages, install, modes and
//! the `none` profile, all through the real binary.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use support::{BUSYBOX, require, s, scratch, script, shim, write};

#[test]
fn bad_flags_exit_2_naming_the_flag_and_the_value() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--ro", "relative/path"],
            "--ro \"relative/path\": path must be absolute",
        ),
        (
            &["--rw", "/srv/../etc"],
            "--rw \"/srv/../etc\": path has a '..' element",
        ),
        (
            &["--rx", "/srv//bin"],
            "--rx \"/srv//bin\": path has an empty element",
        ),
        (&["--bind-tcp", "0"], "--bind-tcp \"0\": port out of range"),
        (
            &["--connect-tcp", "70000"],
            "--connect-tcp \"70000\": port out of range",
        ),
        (&["--connect-tcp", "http"], "--connect-tcp \"http\""),
        (&["--mode", "strict"], "--mode \"strict\": unknown mode"),
        (&["--profile", "fat"], "--profile \"fat\": unknown profile"),
        (&["--frobnicate"], "unknown flag \"--frobnicate\""),
    ];
    for (flags, message) in cases {
        let mut args = flags.to_vec();
        args.extend(["--", "/bin/true"]);
        let run = shim(&args);
        assert_eq!(run.code, Some(2), "{flags:?}\n{run:#?}");
        assert!(
            run.stderr.starts_with(&format!("landlock-shim: {message}")),
            "{flags:?} should say {message:?}\n{run:#?}"
        );
        assert!(run.stdout.is_empty(), "nothing ran: {run:#?}");
    }
    for args in [&["--ro", "/srv"][..], &["--ro"], &[]] {
        let run = shim(args);
        assert_eq!(run.code, Some(2), "{args:?}\n{run:#?}");
        assert!(run.stderr.starts_with("landlock-shim: "), "{run:#?}");
    }
}

#[test]
fn version_and_help() {
    let run = shim(&["--version"]);
    assert_eq!(run.code, Some(0));
    assert_eq!(
        run.stdout.trim(),
        format!("landlock-shim {}", env!("CARGO_PKG_VERSION"))
    );
    let run = shim(&["--help"]);
    assert_eq!(run.code, Some(0));
    for flag in [
        "--ro",
        "--rx",
        "--rw",
        "--rwx",
        "--bind-tcp",
        "--connect-tcp",
        "--mode",
    ] {
        assert!(run.stdout.contains(flag), "--help documents {flag}");
    }
}

#[test]
fn exec_failures_exit_127_and_126() {
    let dir = scratch();
    let run = shim(&["--no-discover", "--", "/nonexistent/program"]);
    assert_eq!(run.code, Some(127), "{run:#?}");
    assert!(run.stderr.contains("landlock-shim: ") && run.stderr.contains("/nonexistent/program"));

    let not_executable = write(&dir.path().join("data.txt"), "not a program");
    let run = shim(&[
        "--no-discover",
        "--ro",
        s(dir.path()),
        "--",
        s(&not_executable),
    ]);
    assert_eq!(run.code, Some(126), "{run:#?}");

    // Executable on disk, but granted ro (not rx): the kernel refuses the exec.
    let tool = script(&dir.path().join("tool"), "echo ran");
    let run = shim(&["--no-discover", "--ro", s(dir.path()), "--", s(&tool)]);
    assert_eq!(run.code, Some(126), "{run:#?}");
    assert!(!run.stdout.contains("ran"));
    let run = shim(&["--no-discover", "--rx", s(dir.path()), "--", s(&tool)]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "ran\n"),
        "{run:#?}"
    );
}

#[test]
fn install_copies_the_binary_atomically_with_mode_0755() {
    let dir = scratch();
    let run = shim(&["install", s(dir.path())]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let installed = dir.path().join("landlock-shim");
    let meta = std::fs::metadata(&installed).expect("installed");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(support::SHIM.as_str()).unwrap(),
        "a byte-for-byte copy"
    );
    // Nothing but the binary is left behind (no temporary file).
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["landlock-shim"]);
    // The copy works, and installing again replaces it.
    let out = Command::new(&installed).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("landlock-shim "));
    assert_eq!(shim(&["install", s(dir.path())]).code, Some(0));

    let run = shim(&["install", "/nonexistent/dir"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.starts_with("landlock-shim: install: "),
        "{run:#?}"
    );
    assert!(run.stderr.contains("/nonexistent/dir"), "{run:#?}");
    let run = shim(&["install"]);
    assert_eq!(run.code, Some(2), "{run:#?}");
}

#[test]
fn dry_run_logs_the_policy_but_does_not_restrict() {
    let dir = scratch();
    let secret = write(&dir.path().join("outside"), "readable");
    let run = shim(&[
        "--no-discover",
        "--mode",
        "dry-run",
        "--profile",
        "none",
        "--",
        "/bin/cat",
        s(&secret),
    ]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stdout, "readable");
    let line = run.startup_line();
    assert_eq!(line["outcome"], "dry-run", "{line}");
    assert_eq!(line["mode"], "dry-run");
    // Without dry-run the sandbox is real: with the default profile cat runs, but the file
    // outside the grants is denied; with `none` not even cat can be executed.
    let run = shim(&["--no-discover", "--", "/bin/cat", s(&secret)]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("Permission denied"), "{run:#?}");
    assert!(run.stdout.is_empty());
    let run = shim(&[
        "--no-discover",
        "--profile",
        "none",
        "--",
        "/bin/cat",
        s(&secret),
    ]);
    assert_eq!(run.code, Some(126), "{run:#?}");
}

#[test]
fn enforce_refuses_to_run_when_a_requested_path_is_missing() {
    let dir = scratch();
    let marker = dir.path().join("ran");
    let run = shim(&[
        "--no-discover",
        "--mode",
        "enforce",
        "--ro",
        "/nonexistent/config",
        "--rw",
        s(dir.path()),
        "--",
        "/usr/bin/touch",
        s(&marker),
    ]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(!marker.exists(), "the program must not run");
    assert!(
        run.stderr.contains("refusing to run") && run.stderr.contains("/nonexistent/config"),
        "{run:#?}"
    );
    assert_eq!(run.startup_line()["outcome"], "refused");

    // Best-effort skips the missing path with a warning and runs.
    let run = shim(&[
        "--no-discover",
        "--ro",
        "/nonexistent/config",
        "--rw",
        s(dir.path()),
        "--",
        "/usr/bin/touch",
        s(&marker),
    ]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(marker.exists());
    assert!(
        run.stderr.contains("landlock-shim: warning:")
            && run.stderr.contains("/nonexistent/config"),
        "{run:#?}"
    );
}

#[test]
fn enforce_runs_when_everything_is_enforced() {
    let run = shim(&[
        "--no-discover",
        "--mode",
        "enforce",
        "--",
        "/bin/echo",
        "hello",
    ]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "hello\n"),
        "{run:#?}"
    );
    assert_eq!(run.startup_line()["outcome"], "enforced");
}

#[test]
fn the_none_profile_keeps_inherited_descriptors_but_opens_nothing() {
    require(BUSYBOX, "busybox-static");
    let dir = scratch();
    let out_path = dir.path().join("stdout.txt");
    let out = std::fs::File::create(&out_path).unwrap();
    // busybox is static, so the only grant needed is the program itself.
    let status = Command::new(support::SHIM.as_str())
        .args(["--no-discover", "--profile", "none", "--rx", BUSYBOX, "--", BUSYBOX, "sh", "-c"])
        .arg("echo written-to-inherited-stdout; cat /etc/hostname || echo cat-failed; ls / || echo ls-failed")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(
        stdout,
        "written-to-inherited-stdout\ncat-failed\nls-failed\n",
        "stderr: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(stderr.contains("Permission denied"), "{stderr}");
}

#[test]
fn a_grant_of_a_whole_broad_directory_warns_but_is_applied() {
    let run = shim(&[
        "--no-discover",
        "--ro",
        "/etc",
        "--",
        "/bin/cat",
        "/etc/shadow",
    ]);
    assert_eq!(run.code, Some(0), "the grant is applied as asked: {run:#?}");
    assert!(
        run.stderr
            .contains("landlock-shim: warning: --ro /etc grants all of /etc"),
        "{run:#?}"
    );
    let run = shim(&["--no-discover", "--ro", "/etc/hostname", "--", "/bin/true"]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(!run.stderr.contains("warning"), "{run:#?}");
}

#[test]
fn quiet_runs_print_the_startup_line_only_when_something_is_dropped_or_refused() {
    // An exec probe that fails: its output (kubelet's event) starts with the program's error.
    let run = shim(&[
        "--no-discover",
        "--quiet",
        "--ro",
        "/etc",
        "--",
        "/bin/sh",
        "-c",
        "cat /nonexistent/ready",
    ]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr
            .starts_with("cat: /nonexistent/ready: No such file or directory"),
        "the program's error comes first: {run:#?}"
    );
    assert!(!run.stderr.contains("{\"landlock\""), "{run:#?}");
    assert!(!run.stderr.contains("warning"), "{run:#?}");
    // Something requested and dropped: said, with the line, as without --quiet.
    let run = shim(&[
        "--no-discover",
        "--quiet",
        "--ro",
        "/nonexistent/config",
        "--",
        "/bin/true",
    ]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("warning: not enforced"), "{run:#?}");
    assert_eq!(run.startup_line()["outcome"], "partially-enforced");
    // A refusal is always said.
    let run = shim(&[
        "--no-discover",
        "--quiet",
        "--mode",
        "enforce",
        "--ro",
        "/nonexistent/config",
        "--",
        "/bin/true",
    ]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.startup_line()["outcome"], "refused");
    assert!(run.stderr.contains("refusing to run"), "{run:#?}");
}

#[test]
fn grants_that_reach_everything_through_a_link_warn_like_the_directory_itself() {
    let dir = scratch();
    let to_root = dir.path().join("to-root");
    std::os::unix::fs::symlink("/", &to_root).unwrap();
    for (flag, path, covers) in [
        ("--rx", "/proc/self/root", "all of / ("),
        ("--rx", "/proc/thread-self/root", "all of / ("),
        ("--ro", "/proc/self/root/etc", "all of /etc ("),
        ("--ro", "/proc/self/cwd", "whatever /proc/self/cwd leads to"),
        ("--ro", s(&to_root), "all of / ("),
    ] {
        // Started in /, as most containers are.
        let mut command = support::shim_command(&[
            "--no-discover",
            flag,
            path,
            "--",
            "/bin/sh",
            "-c",
            "cat /etc/shadow > /dev/null && echo read",
        ]);
        command.current_dir("/");
        let run = support::bounded(command, std::time::Duration::from_secs(60));
        assert_eq!(run.code, Some(0), "{path}: {run:#?}");
        // The grant is applied as asked (it really covers /etc/shadow), and said.
        assert_eq!(run.stdout, "read\n", "{path}: {run:#?}");
        let warning = format!("landlock-shim: warning: {flag} {path} grants {covers}");
        assert!(run.stderr.contains(&warning), "{warning}: {run:#?}");
    }
    // A narrow path through the same link is not broad.
    let run = shim(&[
        "--no-discover",
        "--ro",
        "/proc/self/root/usr",
        "--",
        "/bin/true",
    ]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(!run.stderr.contains("warning"), "{run:#?}");
}

/// UDP rules need Landlock ABI 10. Below it (this machine: ABI 7) enforce refuses, naming the
/// ABI, and best effort runs with the UDP rules in `dropped`, claiming no UDP port.
#[test]
fn udp_rules_below_abi_10_are_refused_by_enforce_and_dropped_by_best_effort() {
    let enforce = shim(&[
        "--no-discover",
        "--mode",
        "enforce",
        "--connect-udp",
        "53",
        "--",
        "/bin/true",
    ]);
    let line = enforce.startup_line();
    let abi = line["abi"].as_i64().expect("abi in the line");
    if abi >= 10 {
        assert_eq!(enforce.code, Some(0), "{enforce:#?}");
        assert_eq!(line["udp_connect"], serde_json::json!([53]));
        return;
    }
    assert_eq!(enforce.code, Some(1), "{enforce:#?}");
    assert_eq!(line["outcome"], "refused");
    assert!(
        enforce.stderr.contains(
            "refusing to run \"/bin/true\" in enforce mode: cannot enforce UDP bind/connect/send port restrictions (needs Landlock ABI 10)"
        ),
        "{enforce:#?}"
    );

    let best_effort = shim(&[
        "--no-discover",
        "--bind-udp",
        "5353",
        "--connect-udp",
        "53",
        "--",
        "/bin/true",
    ]);
    assert_eq!(best_effort.code, Some(0), "{best_effort:#?}");
    let line = best_effort.startup_line();
    assert_eq!(line["outcome"], "partially-enforced");
    assert_eq!(line["udp_bind"], "unrestricted");
    assert_eq!(line["udp_connect"], "unrestricted");
    assert!(
        line["dropped"]
            .to_string()
            .contains("UDP bind/connect/send port restrictions (needs Landlock ABI 10)"),
        "{line}"
    );
    assert!(
        best_effort
            .stderr
            .contains("warning: not enforced: UDP bind/connect/send port restrictions"),
        "{best_effort:#?}"
    );
}

/// Scoping is hardening by default: `--scope required` makes it a promise, which a kernel
/// without it (ABI < 6) fails; here (ABI 6+) it is enforced and in `scoped`, and `--scope off`
/// leaves it out of both `scoped` and `dropped`.
#[test]
fn scope_required_is_enforced_here_and_scope_off_claims_nothing() {
    let run = shim(&[
        "--no-discover",
        "--mode",
        "enforce",
        "--scope",
        "required",
        "--",
        "/bin/true",
    ]);
    let line = run.startup_line();
    if line["abi"].as_i64() < Some(6) {
        assert_eq!(run.code, Some(1), "{run:#?}");
        assert!(
            run.stderr
                .contains("--scope required) (needs Landlock ABI 6)"),
            "{run:#?}"
        );
        return;
    }
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(line["outcome"], "enforced");
    assert_eq!(
        line["scoped"],
        serde_json::json!(["signal", "abstract-unix-socket"])
    );
    let off = shim(&["--no-discover", "--scope", "off", "--", "/bin/true"]);
    let line = off.startup_line();
    assert_eq!(line["scoped"], serde_json::json!([]));
    assert!(!line["dropped"].to_string().contains("scoping"), "{line}");
}

#[test]
fn a_path_entry_that_cannot_be_executed_is_a_warning_and_the_startup_line_names_the_file() {
    let dir = support::scratch();
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    // Like a version manager's shim first in PATH: executable, but not granted.
    support::script(&root.join("first/tool"), "echo first");
    support::script(&root.join("second/tool"), "echo second");
    let path = format!(
        "{}:{}:/usr/bin:/bin",
        s(&root.join("first")),
        s(&root.join("second"))
    );
    let second = s(&root.join("second")).to_owned();
    let run: support::Run = std::process::Command::new(support::SHIM.as_str())
        .args(["--no-discover", "--rx", &second, "--", "tool"])
        .env("PATH", &path)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run landlock-shim")
        .into();
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "second\n"),
        "{run:#?}"
    );
    let first = s(&root.join("first/tool")).to_owned();
    let warning = format!("landlock-shim: warning: {first} cannot be executed");
    assert!(
        run.stderr.lines().any(|l| l.starts_with(&warning)),
        "{run:#?}"
    );
    let line = run.startup_line();
    assert_eq!(line["exec"], "tool");
    assert_eq!(line["exec_path"], first.as_str());
    // A program found first time says nothing more than its path.
    let echo = shim(&["--no-discover", "--", "echo", "hi"]);
    assert!(!echo.stderr.contains("cannot be executed"), "{echo:#?}");
    let exec_path = echo.startup_line()["exec_path"].clone();
    assert!(
        exec_path
            .as_str()
            .is_some_and(|p| p.ends_with("/echo") && p.starts_with('/')),
        "{exec_path}"
    );
}

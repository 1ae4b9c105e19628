//! `/proc/self` for every process of the program, and no other process's `/proc/PID`: the
//! shipped shim as PID 1 of a PID namespace of its own (a container's default, made here with
//! `unshare --pid --fork --mount-proc`), next to a process of another "container" (a sidecar
//! with `shareProcessNamespace`), and as a plain process on the host.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Run, SHIM, require, s, scratch};

fn require_root() {
    require("/usr/bin/unshare", "util-linux");
    support::require_root("makes PID namespaces");
}

/// `unshare --pid --fork --mount-proc sh -c SCRIPT`: SCRIPT runs as PID 1 of a new PID
/// namespace with its own /proc, like a container's entrypoint.
fn in_pid_namespace(script: &str) -> Run {
    let mut command = Command::new("/usr/bin/unshare");
    command
        .args(["--pid", "--fork", "--mount-proc", "/bin/sh", "-c", script])
        .stdin(Stdio::null());
    let output = command.output().expect("run unshare");
    Run::from(output)
}

/// The shim's command line, for a shell script.
fn shim_line(flags: &str, program: &str) -> String {
    format!("{} --no-discover {flags} -- {program}", SHIM.as_str())
}

#[test]
fn every_process_of_the_program_reads_its_own_proc_self_as_pid_1() {
    require_root();
    require(support::PYTHON, "python3");
    // The exact command of issue 17 first, then what it names: a shell's subshell, grep over
    // /proc/self/maps, a forked python child reading /proc/self/smaps.
    let run = in_pid_namespace(&format!(
        "exec {}",
        shim_line("--mode enforce", "sh -c 'head -1 /proc/self/status'")
    ));
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "Name:\thead\n"),
        "{run:#?}"
    );
    let dir = scratch();
    let script = support::script(
        &dir.path().join("children.sh"),
        &format!(
            "(grep -c . /proc/self/maps > /dev/null && echo subshell-ok)\n{} -c '{}'",
            support::PYTHON,
            "import os\npid = os.fork()\nif pid == 0:\n    open(\"/proc/self/smaps\").read(); print(\"fork-child-ok\", flush=True); os._exit(0)\nos.waitpid(pid, 0)"
        ),
    );
    let run = in_pid_namespace(&format!(
        "exec {}",
        shim_line(
            &format!("--mode enforce --rx {}", s(dir.path())),
            s(&script)
        )
    ));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stdout, "subshell-ok\nfork-child-ok\n", "{run:#?}");
    let line = run.startup_line();
    assert_eq!(line["outcome"], "enforced", "{line}");
    assert_eq!(line["ro"]["/proc"], "profile:default", "{line}");
    assert!(line["ro"].get("/proc/self").is_none(), "{line}");
}

#[test]
fn another_process_in_the_pid_namespace_keeps_its_proc_entry() {
    require_root();
    // A sidecar (shareProcessNamespace): another process is in the namespace before the shim
    // starts, and PID 1 is not the shim. Its /proc/PID stays denied, and so (Landlock cannot
    // tell the two apart) does a child's own /proc/self; the first process keeps its own.
    let probe = "/bin/sh -c 'cat /proc/2/status > /dev/null 2>&1 && echo sidecar-read || echo sidecar-denied; head -1 /proc/self/status 2>&1 | grep -q Name && echo child-ok || echo child-denied'";
    for (what, script) in [
        (
            "shim not PID 1",
            format!("sleep 30 & {}; kill $!", shim_line("", probe)),
        ),
        (
            "PID 1 but not alone",
            format!("sleep 30 & exec {}", shim_line("", probe)),
        ),
    ] {
        let run = in_pid_namespace(&script);
        assert_eq!(run.code, Some(0), "{what}: {run:#?}");
        assert_eq!(
            run.stdout, "sidecar-denied\nchild-denied\n",
            "{what}: {run:#?}"
        );
        let line = run.startup_line();
        assert_eq!(
            line["ro"]["/proc/self"], "profile:default",
            "{what}: {line}"
        );
        assert!(line["ro"].get("/proc").is_none(), "{what}: {line}");
    }
    // On the host (no namespace of its own), the host's processes stay denied.
    let run = support::shim(&[
        "--no-discover",
        "--",
        "/bin/sh",
        "-c",
        "cat /proc/1/status > /dev/null 2>&1 && echo host-read || echo host-denied",
    ]);
    assert_eq!(run.stdout, "host-denied\n", "{run:#?}");
}

#[test]
fn a_process_that_enters_the_namespace_from_outside_keeps_its_environment_and_descriptors() {
    require_root();
    require("/usr/bin/nsenter", "util-linux");
    require("/usr/bin/setpriv", "util-linux");
    // `kubectl exec` joins the container's namespaces without being the program's: /proc lists
    // it, but Landlock keeps a sandboxed process (without CAP_SYS_PTRACE, which containers do
    // not have by default) from ptrace-reading a process outside its domain, which is what
    // /proc/PID/environ, maps, mem and the fd/ links ask. Both run as the same non-root user,
    // so that without Landlock nothing would stop the read.
    let dir = tempfile::Builder::new()
        .prefix("shim-test-")
        .tempdir_in("/var/tmp")
        .expect("a directory in /var/tmp");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let shim = dir.path().join("landlock-shim");
    std::fs::copy(SHIM.as_str(), &shim).expect("copy the shim");
    let pid_file = dir.path().join("joined.pid");
    let nobody = "/usr/bin/setpriv --reuid 65534 --regid 65534 --clear-groups";
    let program = format!(
        "/bin/sh -c 'echo ready; while [ ! -s {f} ]; do sleep 0.05; done; p=$(cat {f}); head -1 /proc/$p/status; cat /proc/$p/environ > /dev/null 2>&1 && echo environ-read || echo environ-denied; readlink /proc/$p/fd/1 > /dev/null 2>&1 && echo fd-read || echo fd-denied'",
        f = s(&pid_file)
    );
    let script = format!(
        "exec {nobody} {} --no-discover --ro {} -- {program}",
        s(&shim),
        s(dir.path())
    );
    let mut run = Command::new("/usr/bin/unshare")
        .args(["--pid", "--fork", "--mount-proc", "/bin/sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run unshare");
    let mut stdout = run.stdout.take().expect("stdout");
    support::read_until(&mut stdout, "ready");
    // The namespace's PID 1 on the host: unshare's forked child.
    let unshare = run.id();
    let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
        .expect("unshare's children");
    let pid1: u32 = children.trim().parse().expect("one child");
    let mut joined = Command::new("/usr/bin/nsenter")
        .args(["--target", &pid1.to_string(), "--pid", "--mount", "--"])
        .args(nobody.split(' '))
        .args(["/bin/sh", "-c"])
        .arg(format!(
            "echo $$ > {0}.tmp && mv {0}.tmp {0} && exec sleep 10",
            s(&pid_file)
        ))
        .env("JOINED_SECRET", "from-outside")
        .stdin(Stdio::null())
        .spawn()
        .expect("nsenter");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
        let _ = tx.send(rest);
    });
    let rest = rx.recv_timeout(Duration::from_secs(60));
    let _ = joined.kill();
    let _ = joined.wait();
    if rest.is_err() {
        let _ = run.kill();
    }
    let out = run.wait_with_output().expect("wait");
    let rest = rest.expect("the program ended");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}\n{rest}\n{stderr}");
    assert!(
        stderr.contains("\"/proc\":\"profile:default\""),
        "PID 1 alone: /proc is granted: {stderr}"
    );
    // Its name and state are world-readable, as without a sandbox: not what ptrace guards.
    let lines: Vec<&str> = rest.trim_start().lines().collect();
    assert_eq!(lines.len(), 3, "{rest}\n{stderr}");
    assert!(lines[0].starts_with("Name:"), "{rest}");
    assert_eq!(lines[1..], ["environ-denied", "fd-denied"], "{rest}");
}

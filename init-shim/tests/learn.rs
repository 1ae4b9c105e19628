//! Learn mode on the real kernel with real programs: what it records and suggests, how it
//! behaves as the program's parent (signals, exit statuses, children left running, threads),
//! what it reports it cannot see, and that it refuses to run when it cannot observe.

mod support;

use std::net::TcpListener;
use std::process::{Command, Stdio};

use init_shim::learn::line::{self, LearnLine};
use support::{PROBE, PYTHON, Run, SHIM, require, s, scratch, script, shim, write};

/// Every learn line of a run, parsed, in order.
fn learn_lines(run: &Run) -> Vec<LearnLine> {
    lines_in(&run.stderr)
}

/// Every learn line in `text` (a run's stderr, however it was captured), parsed, in order.
fn lines_in(text: &str) -> Vec<LearnLine> {
    text.lines()
        .filter_map(line::parse)
        .map(|parsed| parsed.expect("a well-formed learn line"))
        .collect()
}

/// The last learn line in `text`.
fn last_in(text: &str) -> LearnLine {
    lines_in(text)
        .pop()
        .unwrap_or_else(|| panic!("no learn line: {text}"))
}

/// The final learn line.
fn final_line(run: &Run) -> LearnLine {
    let lines = learn_lines(run);
    let last = lines
        .last()
        .unwrap_or_else(|| panic!("no learn line:\n{run:#?}"))
        .clone();
    assert!(last.is_final, "the last line is the final one: {run:#?}");
    last
}

/// The suggested paths under `key` that lie in `root` (the test's own files: the programs also
/// need things the test does not control, such as /etc/locale.alias for glibc's locale).
fn paths_in(line: &LearnLine, key: &str, root: &std::path::Path) -> Vec<String> {
    paths(line, key)
        .into_iter()
        .filter(|p| std::path::Path::new(p).starts_with(root))
        .collect()
}

fn paths(line: &LearnLine, key: &str) -> Vec<String> {
    let json = serde_json::to_value(&line.suggest).expect("serialisable");
    json[key]
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect()
}

fn learn(flags: &[&str], program: &[&str]) -> Run {
    let mut args = vec!["--mode", "learn", "--no-discover"];
    args.extend(flags);
    args.push("--");
    args.extend(program);
    shim(&args)
}

#[test]
fn a_scripted_workload_is_suggested_with_the_right_rights_and_nothing_already_granted() {
    require(PYTHON, "python3");
    let dir = scratch();
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    let p = |rel: &str| s(&root.join(rel)).to_owned();
    for name in ["a.conf", "b.conf", "c.conf"] {
        write(&root.join("config").join(name), "setting\n");
    }
    write(&root.join("single/only.conf"), "x\n");
    write(&root.join("listed/entry"), "x\n");
    std::fs::create_dir_all(root.join("cache")).expect("mkdir");
    std::fs::create_dir_all(root.join("spool")).expect("mkdir");
    script(&root.join("helpers/helper"), "exit 0");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let connect_port = listener.local_addr().expect("addr").port().to_string();
    let bind_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
        .to_string();
    let ops = [
        "read",
        &p("config/a.conf"),
        "read",
        &p("config/b.conf"),
        "read",
        &p("config/c.conf"),
        "read",
        &p("single/only.conf"),
        "list",
        &p("listed"),
        "write",
        &p("cache/data"),
        "create",
        &p("spool/tmp.1"),
        "rename",
        &p("spool/tmp.1"),
        &p("spool/final"),
        "exec",
        &p("helpers/helper"),
        "read",
        "/etc/hostname",
        "write",
        "/tmp/landlock-learn-test-scratch",
        "bind",
        &bind_port,
        "connect",
        &connect_port,
    ];
    let mut program = vec![PYTHON, "-c", PROBE];
    program.extend(ops);
    let run = learn(&[], &program);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        !run.stdout.contains("EACCES"),
        "learn mode denies nothing: {run:#?}"
    );
    let _ = std::fs::remove_file("/tmp/landlock-learn-test-scratch");
    let line = final_line(&run);
    assert_eq!(
        paths_in(&line, "read", &root),
        [p("config"), p("single/only.conf")],
        "{line:#?}"
    );
    // Listed, but no file in it read: names only.
    assert_eq!(paths_in(&line, "list", &root), [p("listed")], "{line:#?}");
    assert_eq!(
        paths_in(&line, "write", &root),
        [p("cache"), p("spool")],
        "{line:#?}"
    );
    assert_eq!(
        paths_in(&line, "read-exec", &root),
        [p("helpers/helper")],
        "{line:#?}"
    );
    assert!(paths_in(&line, "write-exec", &root).is_empty(), "{line:#?}");
    assert_eq!(paths(&line, "bind-tcp"), std::slice::from_ref(&bind_port));
    assert_eq!(
        paths(&line, "connect-tcp"),
        std::slice::from_ref(&connect_port)
    );
    // The profile grants python, its libraries, /etc/hostname and /tmp: none of it is suggested.
    let all = serde_json::to_string(&line.suggest).expect("json");
    for granted in ["/usr", "/etc/hostname", "/tmp", "/lib"] {
        assert!(
            !all.contains(&format!("\"{granted}")),
            "{granted} is granted already: {all}"
        );
    }
    let config = &line.evidence[&p("config")];
    assert_eq!(config.seen, 3, "{config:?}");
    assert!(config.why.contains("3 entries used (read)"), "{config:?}");
    // Created entries are the evidence of a written directory, by name.
    let spool = &line.evidence[&p("spool")];
    assert_eq!(
        (spool.seen, spool.examples.clone()),
        (2, vec![p("spool/final"), p("spool/tmp.1")]),
        "{spool:?}"
    );
    assert!(line.counts.covered > 0 && line.counts.syscalls > line.counts.covered);
    // The startup line says nothing is enforced.
    assert_eq!(run.startup_line()["outcome"], "learning");
}

#[test]
fn the_program_s_exit_status_and_signals_come_through() {
    let run = learn(&[], &["/bin/sh", "-c", "exit 7"]);
    assert_eq!(run.code, Some(7), "{run:#?}");
    final_line(&run);
    let run = learn(&[], &["/bin/sh", "-c", "kill -TERM $$"]);
    assert_eq!(run.code, Some(128 + 15), "{run:#?}");
    final_line(&run);
    let run = learn(&[], &["/nonexistent/program"]);
    assert_eq!(run.code, Some(127), "{run:#?}");

    // A signal sent to the shim reaches the program, which handles it and exits 0.
    require(PYTHON, "python3");
    let handler = "import signal, sys, time\n\
        signal.signal(signal.SIGTERM, lambda *_: (print('got', signal.SIGTERM.value, flush=True), sys.exit(0)))\n\
        print('ready', flush=True)\n\
        time.sleep(30)\n\
        sys.exit(1)";
    let mut child = Command::new(SHIM.as_str())
        .args([
            "--mode",
            "learn",
            "--no-discover",
            "--",
            PYTHON,
            "-c",
            handler,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the shim");
    let mut stdout = child.stdout.take().expect("stdout");
    let seen = support::read_until(&mut stdout, "ready");
    // SAFETY: kill takes no pointers; the pid is our child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read the rest");
    let out = child.wait_with_output().expect("wait");
    assert!(rest.contains("got 15"), "{seen}{rest}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Run::from(out);
    final_line(&run);
}

#[test]
fn children_left_running_are_observed_until_they_end_and_threads_too() {
    require(PYTHON, "python3");
    let dir = scratch();
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    let late = write(&root.join("late/read-by-orphan"), "late\n");
    let marker = root.join("out/done");
    std::fs::create_dir_all(root.join("out")).expect("mkdir");
    // The program exits at once; its child reads a file half a second later.
    let body = format!("( sleep 0.5; cat {} > {} ) & exit 0", s(&late), s(&marker));
    let run = learn(&[], &["/bin/sh", "-c", &body]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(marker.exists(), "the child ran to its end");
    let line = final_line(&run);
    assert!(
        paths(&line, "read").contains(&s(&late).to_owned()),
        "{line:#?}"
    );
    assert!(
        paths(&line, "write").contains(&s(&root.join("out")).to_owned()),
        "{line:#?}"
    );

    // Four threads each open their own file of one directory.
    for i in 0..4 {
        write(&root.join(format!("threads/f{i}")), "x");
    }
    let threads = format!(
        "import threading\n\
         def work(i): open('{}/threads/f%d' % i).read()\n\
         ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]\n\
         [t.start() for t in ts]; [t.join() for t in ts]",
        s(&root)
    );
    let run = learn(&[], &[PYTHON, "-c", &threads]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let line = final_line(&run);
    // Four entries of one directory, same rights: the directory is suggested.
    assert_eq!(
        paths_in(&line, "read", &root),
        [s(&root.join("threads")).to_owned()],
        "{line:#?}"
    );
    assert_eq!(line.evidence[s(&root.join("threads"))].seen, 4);
}

#[test]
fn what_learn_mode_cannot_see_is_reported() {
    require(PYTHON, "python3");
    let run = learn(&[], &[PYTHON, "-c", PROBE, "io_uring_setup"]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    // io_uring is refused while learning, so the program falls back to plain syscalls.
    assert_eq!(run.result("io_uring_setup"), "ENOSYS", "{run:#?}");
    let line = final_line(&run);
    assert_eq!(line.counts.io_uring_refused, 1);
    let cannot = line.cannot_see.join("\n");
    assert!(
        cannot.contains("io_uring") && cannot.contains("(1 refused)"),
        "{cannot}"
    );
    assert!(
        cannot.contains("descriptors open before the program started (0 ("),
        "{cannot}"
    );
    assert!(cannot.contains("memory-mapped"), "{cannot}");
}

#[test]
fn the_line_is_printed_every_interval_when_it_changed() {
    let dir = scratch();
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    let first = write(&root.join("first/f"), "1");
    let second = write(&root.join("second/f"), "2");
    let body = format!(
        "cat {} >/dev/null; sleep 1; cat {} >/dev/null; sleep 1",
        s(&first),
        s(&second)
    );
    let run = learn(&["--learn-interval", "200ms"], &["/bin/sh", "-c", &body]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let lines = learn_lines(&run);
    let early = lines
        .iter()
        .find(|l| !l.is_final && paths(l, "read").contains(&s(&first).to_owned()))
        .unwrap_or_else(|| panic!("an interval line with the first file: {lines:#?}"));
    assert!(!paths(early, "read").contains(&s(&second).to_owned()));
    // Unchanged intervals print nothing: far fewer lines than the 10 intervals.
    assert!(lines.len() <= 5, "{} lines", lines.len());
    let last = final_line(&run);
    assert!(paths(&last, "read").contains(&s(&second).to_owned()));
}

/// The program fills the stderr it shares with the shim, a pipe its reader drains late, and
/// sets it non-blocking (as Node and Bun leave it): the learn line printed meanwhile waits
/// for room and arrives whole, on a line of its own (`eprintln!` panicked on the full pipe,
/// and the shim's `panic = "abort"` ended the supervisor: exit 134, the program's next
/// watched syscall ENOSYS).
#[test]
fn a_full_non_blocking_stderr_delays_the_learn_line_and_loses_nothing() {
    require(PYTHON, "python3");
    let dir = scratch();
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    let first = write(&root.join("first/f"), "1");
    let second = write(&root.join("second/f"), "2");
    let body = format!(
        r#"
import fcntl, os, time
fcntl.fcntl(2, fcntl.F_SETFL, fcntl.fcntl(2, fcntl.F_GETFL) | os.O_NONBLOCK)
while True:
    try:
        os.write(2, b"x" * 4095 + b"\n")
    except BlockingIOError:
        break
open("{first}").read()
time.sleep(0.6)
open("{second}").read()
"#,
        first = s(&first),
        second = s(&second)
    );
    let status = root.join("status");
    let output = Command::new("/bin/sh")
        .args([
            "-c",
            r#"("$0" --mode learn --no-discover --learn-interval 200ms -- "$1" -c "$2"; echo $? > "$3") 2>&1 >/dev/null | (sleep 2; cat)"#,
            SHIM.as_str(),
            PYTHON,
            &body,
            s(&status),
        ])
        .output()
        .expect("sh");
    let text = String::from_utf8_lossy(&output.stdout);
    let code = std::fs::read_to_string(&status).expect("the shim's status");
    assert_eq!(
        code.trim(),
        "0",
        "{:.2000}",
        text.replace(&"x".repeat(4095), "x…")
    );
    let last = last_in(&text);
    assert!(last.is_final);
    for file in [&first, &second] {
        assert!(
            paths(&last, "read").contains(&s(file).to_owned()),
            "{:?}",
            paths(&last, "read")
        );
    }
}

/// What the kernel refuses before Landlock is asked is not a need: an unnamed file in a
/// missing directory, an exclusive create or a no-follow open on a symlink, removing what does
/// not exist, a name longer than NAME_MAX. And the path recorded is the one the kernel opens:
/// under openat2's RESOLVE_IN_ROOT, and in a directory whose name holds a backslash.
#[test]
fn failed_calls_are_not_needs_and_recorded_paths_are_the_kernels() {
    use init_shim::PolicyPath;
    require(PYTHON, "python3");
    let dir = scratch();
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    for sub in ["empty", "ro", "jail/etc", "long", "secret"] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
    }
    write(&root.join("ro/config"), "c");
    write(&root.join("jail/etc/passwd"), "jailed");
    write(&root.join("secret/file"), "s");
    let odd = root.join("a\\x2db");
    std::fs::create_dir_all(&odd).expect("mkdir");
    std::os::unix::fs::symlink(root.join("empty/x"), root.join("dangling")).expect("symlink");
    std::os::unix::fs::symlink(root.join("secret/file"), root.join("link")).expect("symlink");
    let body = format!(
        r#"
import ctypes, os
r = "{root}"
def attempt(f):
    try:
        f()
    except OSError:
        pass
attempt(lambda: os.open(r + "/missing", os.O_TMPFILE | os.O_RDWR))
attempt(lambda: os.open(r + "/dangling", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
attempt(lambda: os.open(r + "/link", os.O_RDONLY | os.O_NOFOLLOW))
attempt(lambda: os.unlink(r + "/ro/stale.pid"))
attempt(lambda: os.open(r + "/long/" + "n" * 300, os.O_CREAT | os.O_WRONLY))
open(r + "/ro/config").read()
open(r + "/a\\x2db/made", "w").write("x")
jail = os.open(r + "/jail", os.O_RDONLY | os.O_DIRECTORY)
how = (ctypes.c_uint64 * 3)(os.O_RDONLY, 0, 0x10)
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(437, jail, b"/etc/passwd", ctypes.byref(how), ctypes.sizeof(how))
assert fd >= 0, ctypes.get_errno()
assert os.read(fd, 100) == b"jailed"
"#,
        root = s(&root)
    );
    let run = learn(&[], &[PYTHON, "-c", &body]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let last = final_line(&run);
    let decoded = |key: &str| -> Vec<std::path::PathBuf> {
        paths(&last, key)
            .iter()
            .filter_map(|p| PolicyPath::parse(p).ok())
            .map(|p| p.as_path().to_path_buf())
            .collect()
    };
    let (read, write) = (decoded("read"), decoded("write"));
    let written = |path: &std::path::Path| write.iter().any(|w| path.starts_with(w));
    for refused in ["missing", "empty", "ro", "long", "a-b"] {
        assert!(
            !written(&root.join(refused)),
            "{refused} suggested writable: {write:?}"
        );
    }
    assert!(
        written(&odd.join("made")),
        "the directory as it is named: {write:?}"
    );
    let readable = |path: &std::path::Path| read.iter().any(|r| path.starts_with(r));
    assert!(!readable(&root.join("secret/file")), "{read:?}");
    assert!(readable(&root.join("jail/etc/passwd")), "{read:?}");
}

/// A program that drops to another user (as gosu, su-exec and servers' workers do) can no
/// longer be read by a supervisor without CAP_SYS_PTRACE: the learn line says so in
/// `cannot_see` and `warnings`, naming the count, instead of a bare "unreadable" count.
#[test]
fn processes_that_change_user_are_named_as_not_observed() {
    let setpriv = "/usr/bin/setpriv";
    require(setpriv, "util-linux (setpriv)");
    let dir = scratch();
    let file = write(&dir.path().join("after-the-drop"), "x");
    let output = Command::new(setpriv)
        .args(["--bounding-set=-sys_ptrace", "--", SHIM.as_str()])
        .args(["--mode", "learn", "--no-discover", "--", setpriv])
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(["/bin/cat", s(&file)])
        .stdout(Stdio::null())
        .output()
        .expect("setpriv");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let last = last_in(&stderr);
    assert!(
        last.cannot_see
            .iter()
            .any(|c| c.contains("syscalls of processes that run as another user than the shim")),
        "{:#?}",
        last.cannot_see
    );
    assert!(
        last.warnings
            .iter()
            .any(|w| w.contains("could not observe") && w.contains("processes that changed user")),
        "{:#?}",
        last.warnings
    );
}

/// The reader of the shared stderr goes away (`2>&1 | head -c1`): the supervisor's next learn
/// line fails with EPIPE instead of a SIGPIPE that ended it (and with it every watched syscall
/// of the program: ENOSYS); the program itself still has the default SIGPIPE.
#[test]
fn a_closed_stderr_reader_does_not_end_the_supervisor() {
    let dir = scratch();
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    let (program, shim) = (root.join("program"), root.join("shim"));
    let status = Command::new("/bin/sh")
        .args([
            "-c",
            r#"("$0" --mode learn --no-discover --learn-interval 100ms -- /bin/sh -c 'sleep 1; cat /etc/hostname >/dev/null; echo "rc=$? pipe=$(grep SigIgn /proc/self/status)" > "$1"' sh "$1"; echo $? > "$2") 2>&1 >/dev/null | head -c1 >/dev/null"#,
            SHIM.as_str(),
            s(&program),
            s(&shim),
        ])
        .status()
        .expect("sh");
    assert!(status.success());
    let shim_status = std::fs::read_to_string(&shim).expect("the shim's status");
    let program_said = std::fs::read_to_string(&program).expect("the program ran to its end");
    assert_eq!(shim_status.trim(), "0", "program: {program_said}");
    assert!(program_said.starts_with("rc=0 "), "{program_said}");
    // SIGPIPE is signal 13: bit 12 of the ignored mask, which the program must not have.
    let ignored = program_said
        .rsplit('\t')
        .next()
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .expect("a SigIgn mask");
    assert_eq!(ignored & (1 << 12), 0, "{program_said}");
}

/// The program exited and left a process running; the shim (not PID 1) waits for it, and a
/// SIGTERM to the shim reaches it, so the run ends with its final line (the signal had been
/// dropped once the program was gone, and the shim waited for ever).
#[test]
fn a_stop_request_after_the_program_exited_reaches_what_it_left_running() {
    let mut child = Command::new(SHIM.as_str())
        .args(["--mode", "learn", "--no-discover", "--"])
        .args(["/bin/sh", "-c", "sleep 1000 & exit 0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the shim");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    // SAFETY: kill takes no pointers; pid is our child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the shim still waits 10 s after SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = last_in(&stderr);
    assert!(last.is_final, "{stderr}");
    assert_eq!(
        output.status.code(),
        Some(0),
        "the program's status: {stderr}"
    );
}

/// A UNIX socket named relatively (`./app.sock`) or through a symlinked directory is recorded
/// as the socket the kernel connects to: once, by its real path (`/srv/./app.sock` could not
/// be suggested, and a `/var/run`-style link escaped what the profile or a volume grants).
#[test]
fn unix_socket_paths_are_resolved_as_file_paths_are() {
    require(PYTHON, "python3");
    let dir = scratch();
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    std::fs::create_dir_all(root.join("srv")).expect("mkdir");
    std::os::unix::fs::symlink(root.join("srv"), root.join("link")).expect("symlink");
    let socket = root.join("srv/app.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let body = format!(
        r#"
import os, socket
os.chdir("{root}/srv")
for name in ["./app.sock", "{root}/link/app.sock"]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(name)
    s.close()
"#,
        root = s(&root)
    );
    let run = learn(&[], &[PYTHON, "-c", &body]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let last = final_line(&run);
    assert_eq!(
        paths_in(&last, "write", &root),
        [s(&socket)],
        "{:#?}",
        last.not_suggested
    );
}

/// `source` built with the machine's C compiler and `flags`, beside it (same name, no `.c`).
fn compile_c(source: &std::path::Path, flags: &[&str]) -> std::path::PathBuf {
    let program = source.with_extension("");
    let built = Command::new("/usr/bin/cc")
        .args(flags)
        .arg("-o")
        .arg(&program)
        .arg(source)
        .output()
        .expect("cc");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    program
}

/// A 64-bit program that opens a file through the 32-bit table (`int 0x80`) is not decoded,
/// but counted and said in `cannot_see`; its 32-bit `io_uring_setup` is refused as the native
/// one is (it had run unwatched, and the README's "io_uring_setup is refused" held only for
/// the native table).
#[test]
#[cfg(target_arch = "x86_64")]
fn calls_through_the_32_bit_table_are_counted_and_their_io_uring_refused() {
    let cc = "/usr/bin/cc";
    require(cc, "a C compiler (gcc)");
    let dir = scratch();
    let source = write(
        &dir.path().join("compat.c"),
        r#"
#include <stdio.h>
static const char path[] = "/etc/hostname";
static long compat(long nr, long a, long b) {
    long ret;
    __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory");
    return ret;
}
int main(void) {
    long fd = compat(5, (long)path, 0);            /* open(path, O_RDONLY) */
    long uring = compat(425, 8, 0);                /* io_uring_setup(8, NULL) */
    printf("open=%s uring=%ld\n", fd >= 0 ? "ok" : "failed", uring);
    return 0;
}
"#,
    );
    let program = compile_c(&source, &["-O0", "-no-pie"]);
    let run = learn(&[], &[s(&program)]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout
            .contains(&format!("open=ok uring={}", -libc::ENOSYS)),
        "{run:#?}"
    );
    let last = final_line(&run);
    assert!(
        last.cannot_see.iter().any(|c| {
            c.starts_with("1 file calls (open, exec) made through the 32-bit syscall table")
        }),
        "one open, counted (io_uring_setup is refused, not stopped): {:#?}",
        last.cannot_see
    );
}

/// The main thread exits (`pthread_exit`) and another one binds a TCP port: the port is
/// learned (the socket's kind was read through the process's leader, whose descriptor table
/// was gone: the bind counted as unreadable and its port was lost).
#[test]
fn a_port_bound_after_the_main_thread_exited_is_learned() {
    let cc = "/usr/bin/cc";
    require(cc, "a C compiler (gcc)");
    let dir = scratch();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let source = write(
        &dir.path().join("late_bind.c"),
        &format!(
            r#"
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
static void *serve(void *unused) {{
    (void)unused;
    usleep(200000);                      /* the main thread is gone by now */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {{ .sin_family = AF_INET, .sin_port = htons({port}) }};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    exit(bind(s, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : 3);
}}
int main(void) {{
    pthread_t t;
    pthread_create(&t, NULL, serve, NULL);
    pthread_exit(NULL);
}}
"#
        ),
    );
    let program = compile_c(&source, &["-O0", "-pthread"]);
    let run = learn(&[], &[s(&program)]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let last = final_line(&run);
    assert_eq!(last.counts.unreadable, 0, "{:#?}", last.cannot_see);
    let bound = serde_json::to_value(&last.suggest).expect("json")["bind-tcp"].clone();
    assert_eq!(bound, serde_json::json!([port]), "{:#?}", last.suggest);
}

#[test]
fn learn_mode_refuses_to_run_when_it_cannot_observe() {
    // A container whose seccomp profile blocks the seccomp syscall (ENOSYS): learn mode must
    // say so and not run the program (a learning run that learns nothing must not look like
    // success). python installs that filter, then executes the shim.
    require(PYTHON, "python3");
    let dir = scratch();
    let marker = dir.path().join("ran");
    let blocker = format!(
        "import ctypes, os, struct, sys\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4\n\
         insns = [(0x20, 0, 0, 0), (0x15, 0, 1, {nr}), (0x06, 0, 0, 0x50000 | {enosys}), (0x06, 0, 0, 0x7fff0000)]\n\
         code = ctypes.create_string_buffer(b''.join(struct.pack('HBBI', *i) for i in insns))\n\
         prog = ctypes.create_string_buffer(struct.pack('H6xQ', len(insns), ctypes.addressof(code)))\n\
         assert libc.prctl(38, 1, 0, 0, 0) == 0\n\
         assert libc.prctl(22, 2, ctypes.addressof(prog), 0, 0) == 0\n\
         os.execv(sys.argv[1], sys.argv[1:])",
        nr = libc::SYS_seccomp,
        enosys = libc::ENOSYS,
    );
    let run = Run::from(
        Command::new(PYTHON)
            .args([
                "-c",
                &blocker,
                SHIM.as_str(),
                "--mode",
                "learn",
                "--no-discover",
                "--",
            ])
            .args(["/usr/bin/touch", s(&marker)])
            .stdin(Stdio::null())
            .output()
            .expect("run"),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(!marker.exists(), "the program must not run");
    assert!(
        run.stderr
            .contains("landlock-shim: learn mode cannot observe \"/usr/bin/touch\""),
        "{run:#?}"
    );
    assert!(run.stderr.contains("seccomp user notification"), "{run:#?}");
    assert!(learn_lines(&run).is_empty(), "{run:#?}");
}

#[test]
fn a_script_whose_interpreter_is_a_fifo_cannot_stall_the_supervisor() {
    let dir = scratch();
    let fifo = dir.path().join("interpreter");
    let name = std::ffi::CString::new(s(&fifo)).expect("no NUL");
    // SAFETY: `name` is a valid NUL-terminated string; mkfifo takes no other pointer.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o755) }, 0, "mkfifo");
    let script = dir.path().join("script");
    write(&script, &format!("#!{}\n", s(&fifo)));
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    // The kernel refuses to execute it (a FIFO is no interpreter); the supervisor reads the
    // `#!` chain while the program waits in execve, and must not wait on the FIFO itself.
    let body = format!("{}; echo exec-failed $?; exec sleep 60", s(&script));
    let mut child = support::shim_command(&[
        "--mode",
        "learn",
        "--no-discover",
        "--",
        "/bin/sh",
        "-c",
        &body,
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start the shim");
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().expect("stdout");
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        let mut buf = [0u8; 64];
        while !seen.contains('\n') {
            match std::io::Read::read(&mut stdout, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        let _ = seen_tx.send(seen);
    });
    let seen = seen_rx.recv_timeout(std::time::Duration::from_secs(60));
    // Signals keep working: SIGTERM to the shim reaches the program, and the shim ends.
    // SAFETY: kill takes no pointers; the pid is our child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    let ended = done_rx.recv_timeout(std::time::Duration::from_secs(60));
    if ended.is_err() {
        // SAFETY: kill takes no pointers; the group is the one the shim leads.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let seen = seen.expect("the program went on past the failed exec (the supervisor stalled)");
    assert!(seen.starts_with("exec-failed 126"), "{seen}");
    let out = ended
        .expect("the shim ended on SIGTERM")
        .expect("wait for the shim");
    assert_eq!(out.status.code(), Some(128 + 15), "{out:?}");
    final_line(&Run::from(out));
}

#[test]
fn children_reading_their_own_proc_self_are_one_bounded_entry() {
    // 2,000 subshells, each reading its own /proc/self: each was once "another process's /proc
    // entry" of its own, and the final line grew by ~140 bytes per child (2.85 MB at 20,000).
    let body = "i=0; while [ $i -lt 2000 ]; do ( read x < /proc/self/stat ); i=$((i+1)); done";
    let run = learn(&[], &["/bin/sh", "-c", body]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let last = run
        .stderr
        .lines()
        .rfind(|l| l.starts_with("{\"landlock-learn\""))
        .expect("a learn line");
    assert!(last.len() < 16 * 1024, "{} bytes: {last}", last.len());
    let line = final_line(&run);
    assert!(
        line.not_suggested
            .iter()
            .all(|n| !n.why.contains("another process's")),
        "{:#?}",
        line.not_suggested
    );
    // Outside a PID namespace of its own, only the first process's /proc/self is granted:
    // said once, not suggested.
    assert!(
        line.not_suggested
            .iter()
            .any(|n| n.path == init_shim::learn::record::CHILDREN_PROC_SELF),
        "{:#?}",
        line.not_suggested
    );
    assert_eq!(line.counts.not_recorded, 0);
}

#[test]
fn a_listed_working_directory_is_list_only_and_a_home_one_is_a_warning() {
    require(PYTHON, "python3");
    let dir = scratch();
    let cwd = std::fs::canonicalize(dir.path()).expect("canonical");
    write(&cwd.join("app.py"), "import os\nos.listdir('.')\n");
    write(&cwd.join("secret.key"), "never read\n");
    let run: Run = Command::new(support::SHIM.as_str())
        .args([
            "--mode",
            "learn",
            "--no-discover",
            "--",
            "python3",
            "app.py",
        ])
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run landlock-shim")
        .into();
    assert_eq!(run.code, Some(0), "{run:#?}");
    let line = final_line(&run);
    let here = s(&cwd).to_owned();
    assert_eq!(
        paths_in(&line, "list", &cwd),
        std::slice::from_ref(&here),
        "{line:#?}"
    );
    assert!(!paths(&line, "read").contains(&here), "{line:#?}");
    assert!(
        paths(&line, "read").contains(&format!("{here}/app.py")),
        "{line:#?}"
    );
    // What ran, not only what was typed; and where.
    assert_eq!(line.program, "python3");
    let ran = line.program_path.clone().expect("program_path");
    assert!(ran.starts_with('/') && ran.ends_with("/python3"), "{ran}");
    assert_eq!(line.cwd.as_deref(), Some(here.as_str()));
    assert!(
        !line.warnings.iter().any(|w| w.contains(&here)),
        "{:?}",
        line.warnings
    );
    // Only the program's descriptors (stdin, stdout, stderr, and whatever the test runner
    // itself passes on), not the shim's own: it holds the profile's paths open (/usr, /etc/...)
    // close-on-exec while it builds the plan.
    let descriptors = line
        .cannot_see
        .iter()
        .find(|c| c.starts_with("descriptors open before the program started"))
        .expect("the descriptors entry");
    assert!(
        descriptors.contains("(0 (/dev/null), 1 (pipe), 2 (pipe)"),
        "{descriptors}"
    );
    for profile_path in ["(/usr", "(/etc", "(/lib", "(/proc/"] {
        assert!(!descriptors.contains(profile_path), "{descriptors}");
    }

    // Started from a home directory, listing it is suggested with a warning.
    let run: Run = Command::new(support::SHIM.as_str())
        .args(["--mode", "learn", "--no-discover", "--", "/bin/ls"])
        .current_dir("/root")
        .stdin(Stdio::null())
        .output()
        .expect("run landlock-shim")
        .into();
    let line = final_line(&run);
    assert!(
        paths(&line, "list").contains(&"/root".to_owned()),
        "{line:#?}"
    );
    assert!(
        line.warnings
            .iter()
            .any(|w| w.starts_with("list: /root is the working directory")),
        "{:?}",
        line.warnings
    );
}

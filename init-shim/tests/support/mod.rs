//! Shared by the shim's integration tests: run the real `landlock-shim` binary around a probe
//! that performs real syscalls and prints the errno of each, so tests assert what the kernel did.
//!
//! The binary is the one that ships: the static musl build, made with the README's command by
//! the same code the cross-crate tests use ([`static_build`]), not cargo's debug build of the
//! host target (musl and glibc differ where it matters: musl's `O_ACCMODE` swallowed `O_PATH`).

#![allow(dead_code)] // Each test file uses a different part.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::LazyLock;

/// The build commands of the shipped binaries: one file, owned by the cross-crate tests and
/// included here, so the command exists once.
#[path = "../../../tests/src/static_build.rs"]
pub mod static_build;

/// The shim under test: the shipped static musl build, built once per test process.
pub static SHIM: LazyLock<String> = LazyLock::new(|| {
    let path = static_build::static_binary("init-shim", "landlock-shim")
        .unwrap_or_else(|err| panic!("the shipped shim must build for the tests: {err}"));
    path.to_str()
        .unwrap_or_else(|| panic!("target path {path:?} is not UTF-8"))
        .to_owned()
});

/// Debian's python3 (not a pyenv shim under /root, which the default profile does not grant).
pub const PYTHON: &str = "/usr/bin/python3";

/// Debian's busybox-static: a static binary, for the profiles that grant no libraries.
pub const BUSYBOX: &str = "/usr/bin/busybox";

/// The probe: each operation is performed for real and printed as `op args: ok` or
/// `op args: ERRNO`.
pub const PROBE: &str = r#"
import ctypes, errno, os, socket, sys, time
ARITY = {"read": 1, "list": 1, "write": 1, "create": 1, "mkdir": 1, "remove": 1,
         "truncate": 1, "exec": 1, "bind": 1, "connect": 1, "rename": 2, "poll": 2,
         "bind6": 1, "connect6": 1, "mptcp-bind": 1, "mptcp-connect": 1,
         "mptcp6-bind": 1, "mptcp6-connect": 1, "io_uring_setup": 0,
         "i386-mptcp-socket": 0, "i386-mptcp-socketcall": 0}
IPPROTO_MPTCP = 262
def sock(family, proto, op, port):
    s = socket.socket(family, socket.SOCK_STREAM, proto)
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    try:
        if op == "bind":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        else:
            s.settimeout(5)
            s.connect((host, port))
    finally:
        s.close()
def int80(eax, ebx, ecx, edx):
    # A 64-bit process making a 32-bit syscall (int 0x80), from a page below 4 GiB.
    import mmap, struct
    m = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x40,
                  prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    m[64:76] = struct.pack("<III", socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP)
    if ecx is None:
        ecx = addr + 64
    m[0:25] = (b"\x53\xb8" + struct.pack("<I", eax) + b"\xbb" + struct.pack("<I", ebx)
               + b"\xb9" + struct.pack("<I", ecx) + b"\xba" + struct.pack("<I", edx)
               + b"\xcd\x80\x5b\xc3")
    r = ctypes.CFUNCTYPE(ctypes.c_int)(addr)()
    if r < 0:
        raise OSError(-r, "int 0x80")
    os.close(r)
def perform(op, args):
    if op == "read":
        open(args[0], "rb").read()
    elif op == "list":
        os.listdir(args[0])
    elif op == "write":
        with open(args[0], "ab") as f:
            f.write(b"x")
    elif op == "create":
        os.close(os.open(args[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    elif op == "mkdir":
        os.mkdir(args[0])
    elif op == "remove":
        os.unlink(args[0])
    elif op == "truncate":
        os.truncate(args[0], 0)
    elif op == "exec":
        pid = os.posix_spawn(args[0], [args[0]], {})
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise OSError(0, "exit status %d" % os.waitstatus_to_exitcode(status))
    elif op == "bind":
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(args[0])))
        s.close()
    elif op == "connect":
        s = socket.create_connection(("127.0.0.1", int(args[0])), timeout=5)
        s.close()
    elif op == "rename":
        os.rename(args[0], args[1])
    elif op in ("bind6", "connect6"):
        sock(socket.AF_INET6, 0, op[:-1], int(args[0]))
    elif op.startswith("mptcp"):
        family = socket.AF_INET6 if op.startswith("mptcp6") else socket.AF_INET
        sock(family, IPPROTO_MPTCP, op.split("-")[1], int(args[0]))
    elif op == "i386-mptcp-socket":
        int80(359, socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP)
    elif op == "i386-mptcp-socketcall":
        int80(102, 1, None, 0)
    elif op == "io_uring_setup":
        libc = ctypes.CDLL(None, use_errno=True)
        params = ctypes.create_string_buffer(120)
        fd = libc.syscall(425, 4, params)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "io_uring_setup")
        os.close(fd)
    elif op == "poll":
        deadline, last = time.monotonic() + float(args[1]), None
        while time.monotonic() < deadline:
            try:
                now = open(args[0]).read().strip()
            except OSError as e:
                now = "error " + errno.errorcode.get(e.errno, str(e.errno))
            if now != last:
                print("seen " + now, flush=True)
                last = now
            time.sleep(0.01)
argv = sys.argv[1:]
while argv:
    op, args, argv = argv[0], argv[1:1 + ARITY[argv[0]]], argv[1 + ARITY[argv[0]]:]
    try:
        perform(op, args)
        result = "ok"
    except OSError as e:
        result = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else e.strerror
    print(" ".join([op] + args) + ":", result, flush=True)
"#;

/// A scratch directory for one test, outside everything a base profile grants, so that denials
/// inside it are real wherever the checkout lives: the default profile grants `/tmp`, so a
/// target directory under `/tmp` cannot hold it. Tries the target's tmp directory, then
/// `/var/tmp`, then `$HOME`.
pub fn scratch() -> tempfile::TempDir {
    let candidates = [
        Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR"))),
        Some(PathBuf::from("/var/tmp")),
        std::env::var_os("HOME").map(PathBuf::from),
    ];
    let mut tried = Vec::new();
    for base in candidates.into_iter().flatten() {
        let usable = std::fs::create_dir_all(&base).is_ok()
            && std::fs::canonicalize(&base).is_ok_and(|real| !granted_by_a_profile(&real));
        if usable
            && let Ok(dir) = tempfile::Builder::new()
                .prefix("shim-test-")
                .tempdir_in(&base)
        {
            return dir;
        }
        tried.push(base);
    }
    panic!("no writable scratch directory outside the base profiles' grants (tried {tried:?})")
}

/// Whether any base profile grants `path` (already canonical) or a directory above it.
fn granted_by_a_profile(path: &Path) -> bool {
    init_shim::Profile::ALL
        .iter()
        .flat_map(|profile| profile.paths())
        .filter_map(|(granted, _)| std::fs::canonicalize(granted).ok())
        .any(|granted| path.starts_with(granted))
}

/// The shim's stderr and stdout as text, with its exit status.
#[derive(Debug)]
pub struct Run {
    /// Exit status (None if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The result the probe printed for `op_line` (e.g. `read /x`).
    pub fn result(&self, op_line: &str) -> &str {
        let prefix = format!("{op_line}: ");
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("probe printed no result for {op_line:?}:\n{self:#?}"))
    }

    /// The startup line, parsed.
    pub fn startup_line(&self) -> serde_json::Value {
        let line = self
            .stderr
            .lines()
            .find(|l| l.starts_with("{\"landlock\":"))
            .unwrap_or_else(|| panic!("no startup line:\n{self:#?}"));
        serde_json::from_str(line).expect("the startup line is JSON")
    }
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs the shim with `args` and waits.
pub fn shim(args: &[&str]) -> Run {
    Command::new(SHIM.as_str())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run landlock-shim")
        .into()
}

/// Runs the probe under the shim with `flags` (discovery off, so the host's mounts don't
/// matter), performing `ops`.
pub fn probe(flags: &[&str], ops: &[&str]) -> Run {
    require(PYTHON, "python3");
    let mut args: Vec<&str> = vec!["--no-discover"];
    args.extend(flags);
    args.extend(["--", PYTHON, "-c", PROBE]);
    args.extend(ops);
    shim(&args)
}

/// Fails the test, naming the Debian package, when a tool it needs is missing.
pub fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} not found: this test needs it (apt-get install {package})"
    );
}

/// `path` as &str (test paths are UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 test path")
}

/// Writes `contents` to `path`, creating parents.
pub fn write(path: &Path, contents: &str) -> PathBuf {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent");
    }
    std::fs::write(path, contents).expect("write test file");
    path.to_path_buf()
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    write(path, &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_path_buf()
}

/// The shim as a command with `args`, stdin from /dev/null, in a process group of its own (so
/// [`bounded`] can end everything it started).
pub fn shim_command(args: &[&str]) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(SHIM.as_str());
    command.args(args).stdin(Stdio::null()).process_group(0);
    command
}

/// Runs `command` (made by [`shim_command`]) and waits at most `limit`: a run that has not
/// ended by then is killed with its whole process group, and the test fails naming what hung
/// and what it printed. Not a speed check: the limit only keeps a hang from stalling the suite.
pub fn bounded(mut command: Command, limit: std::time::Duration) -> Run {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the shim");
    let group = child.id() as libc::pid_t;
    let (done, wait) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let output = child.wait_with_output();
        let _ = done.send(());
        output
    });
    let hung = wait.recv_timeout(limit).is_err();
    if hung {
        // SAFETY: kill takes no pointers; the group is the one the child leads.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
    let run = Run::from(
        waiter
            .join()
            .expect("the waiting thread")
            .expect("wait for the shim"),
    );
    assert!(
        !hung,
        "{command:?} did not end within {limit:?} (killed):\n{run:#?}"
    );
    run
}

/// Fails the test unless it runs as root, saying `why` it needs to.
pub fn require_root(why: &str) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "this test {why}: run it as root (CI does)");
}

/// Reads `stdout` until what was read contains `needle`, and returns it; fails the test if
/// the stream ends first.
pub fn read_until(stdout: &mut impl std::io::Read, needle: &str) -> String {
    let mut seen = String::new();
    let mut buf = [0u8; 64];
    while !seen.contains(needle) {
        let n = stdout.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "the program ended before printing {needle:?}: {seen}"
        );
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    seen
}

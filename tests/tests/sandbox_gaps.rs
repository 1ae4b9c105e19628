//! What Landlock (ABI 7) does not stop, as init-shim/README.md's *What the sandbox does not stop* says:
//! a program under the shipped static shim, `--mode enforce --profile minimal`, connects to a
//! pathname UNIX socket under a directory it was never granted, and executes code it wrote into
//! a memfd. When a kernel or shim change closes a gap, this test fails and init-shim/README.md must change.

use std::os::unix::net::UnixListener;
use std::process::Command;

use landlock_tests::static_build::static_binary;

const PYTHON: &str = "/usr/bin/python3";

fn sandboxed_python(program: &str) -> (bool, String) {
    assert!(
        std::path::Path::new(PYTHON).exists(),
        "{PYTHON} not found: apt-get install python3"
    );
    let shim = static_binary("init-shim", "landlock-shim").expect("static build");
    let out = Command::new(shim)
        .args([
            "--mode",
            "enforce",
            "--profile",
            "minimal",
            "--rx",
            "/usr",
            "--",
        ])
        .args([PYTHON, "-S", "-c", program])
        .output()
        .expect("run the shim");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_sandboxed_program_connects_to_a_unix_socket_under_a_path_it_was_not_granted() {
    // Not /tmp, which profiles grant.
    let dir = tempfile::tempdir_in("/var/tmp").expect("tempdir");
    let path = dir.path().join("daemon.sock");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "x").expect("write a file beside the socket");
    let listener = UnixListener::bind(&path).expect("bind the socket");
    let program = format!(
        "import socket\ntry:\n    open({:?})\nexcept PermissionError:\n    print('read denied')\ns = socket.socket(socket.AF_UNIX)\ns.connect({:?})\nprint('connected')",
        secret.to_str().expect("UTF-8 path"),
        path.to_str().expect("UTF-8 path")
    );
    let accept = std::thread::spawn(move || listener.accept().map(|_| ()));
    let (ok, output) = sandboxed_python(&program);
    assert!(
        ok && output.contains("read denied") && output.contains("connected"),
        "the directory is not granted (a read is denied), the socket in it connects: {output}"
    );
    accept.join().expect("accept thread").expect("accepted");
}

#[test]
fn a_sandboxed_program_executes_code_it_wrote_into_a_memfd() {
    let program = "import os\nfd = os.memfd_create('x')\nos.write(fd, open('/usr/bin/echo', 'rb').read())\nos.execve(fd, ['echo', 'from-memfd'], {})";
    let (ok, output) = sandboxed_python(program);
    assert!(ok && output.contains("from-memfd"), "{output}");
}

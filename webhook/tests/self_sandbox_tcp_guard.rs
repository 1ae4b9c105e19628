//! The webhook's own sandbox carries the TCP guard: once `serve::self_sandbox::apply` ran (it
//! restricts bind to the listening port), MPTCP sockets cannot be created, so the bind rule
//! cannot be walked around, while plain TCP follows the rules.
//!
//! The sandbox is irreversible, so the test re-runs this binary as a child that sandboxes itself
//! and reports what the kernel answered (`harness = false`: a plain `main`).

use std::net::TcpListener;
use std::process::{Command, ExitCode};

use webhook::serve::self_sandbox::{self, Needs};

const CHILD: &str = "LANDLOCK_WEBHOOK_TCP_GUARD_CHILD";
const MPTCP: i32 = 262;

/// The errno name of creating a stream socket of `family` with `protocol`, or `ok`.
fn socket(family: i32, protocol: i32) -> String {
    // SAFETY: socket(2) takes no pointers; the fd it returns is closed right away.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM, protocol) };
    if fd < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        return match errno {
            libc::EPROTONOSUPPORT => "EPROTONOSUPPORT".to_owned(),
            other => format!("errno {other}"),
        };
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    "ok".to_owned()
}

fn result<T>(r: std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => "EACCES".to_owned(),
        Err(e) => e.to_string(),
    }
}

/// In the child: sandbox as `serve` does, then try every door.
fn child(listen_port: u16, other_port: u16, peer_port: u16) {
    let needs = Needs {
        listen_port,
        ..Needs::default()
    };
    let (_outcome, line) = self_sandbox::apply(&needs).expect("self-sandbox applies");
    println!("startup {line}");
    println!("mptcp4 {}", socket(libc::AF_INET, MPTCP));
    println!("mptcp6 {}", socket(libc::AF_INET6, MPTCP));
    println!("tcp4 {}", socket(libc::AF_INET, 0));
    println!(
        "bind-listen {}",
        result(TcpListener::bind(("127.0.0.1", listen_port)))
    );
    println!(
        "bind-other {}",
        result(TcpListener::bind(("127.0.0.1", other_port)))
    );
    println!(
        "connect {}",
        result(std::net::TcpStream::connect(("127.0.0.1", peer_port)))
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if std::env::var_os(CHILD).is_some() {
        let port = |i: usize| {
            args.get(i)
                .and_then(|p| p.parse().ok())
                .expect("port argument")
        };
        child(port(1), port(2), port(3));
        return ExitCode::SUCCESS;
    }

    let peer = TcpListener::bind("127.0.0.1:0").expect("listen");
    let peer_port = peer.local_addr().expect("address").port();
    let (listen_port, other_port) = (free_port(), free_port());
    let out = Command::new(&args[0])
        .env(CHILD, "1")
        .args([listen_port, other_port, peer_port].map(|p| p.to_string()))
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let get = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| {
                panic!(
                    "child printed no {key}: {stdout}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
            .to_owned()
    };
    assert_eq!(get("mptcp4"), "EPROTONOSUPPORT", "{stdout}");
    assert_eq!(get("mptcp6"), "EPROTONOSUPPORT", "{stdout}");
    assert_eq!(get("tcp4"), "ok", "{stdout}");
    assert_eq!(get("bind-listen"), "ok", "{stdout}");
    assert_eq!(get("bind-other"), "EACCES", "{stdout}");
    assert_eq!(get("connect"), "ok", "connect stays unrestricted: {stdout}");
    let line: serde_json::Value =
        serde_json::from_str(&get("startup")).expect("the startup line is JSON");
    assert!(
        line["syscalls_denied"]
            .to_string()
            .contains("socket(IPPROTO_MPTCP): EPROTONOSUPPORT"),
        "{line}"
    );
    println!("1 passed, 0 failed");
    ExitCode::SUCCESS
}

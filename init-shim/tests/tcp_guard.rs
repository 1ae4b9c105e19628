//! The TCP guard on the real kernel: with a TCP rule in force, MPTCP sockets (which Landlock's
//! TCP rules do not cover) cannot be created by any door (IPv4, IPv6, 32-bit syscalls,
//! io_uring), while plain TCP on the listed ports keeps working.

mod support;

use std::net::TcpListener;
use support::probe;

fn listen(addr: &str) -> (TcpListener, String) {
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("listen on {addr}: {e}"));
    let port = listener
        .local_addr()
        .expect("local address")
        .port()
        .to_string();
    (listener, port)
}

fn free_port() -> String {
    listen("127.0.0.1:0").1
}

#[test]
fn without_tcp_rules_mptcp_works_on_this_kernel() {
    // The walk-around the guard closes is real here: an unrestricted program gets MPTCP sockets
    // from every door. If this fails the kernel has no MPTCP, and the tests below prove nothing.
    let (_v4, port) = listen("127.0.0.1:0");
    let (_v6, port6) = listen("[::1]:0");
    let run = probe(
        &[],
        &[
            "mptcp-connect",
            &port,
            "mptcp6-connect",
            &port6,
            "i386-mptcp-socket",
            "i386-mptcp-socketcall",
        ],
    );
    for line in [
        format!("mptcp-connect {port}"),
        format!("mptcp6-connect {port6}"),
        "i386-mptcp-socket".to_owned(),
        "i386-mptcp-socketcall".to_owned(),
    ] {
        assert_eq!(
            run.result(&line),
            "ok",
            "{line}: MPTCP must work without TCP rules (sysctl net.mptcp.enabled=1, IA32 emulation)\n{run:#?}"
        );
    }
    assert_eq!(run.startup_line()["syscalls_denied"], serde_json::json!([]));
}

#[test]
fn with_tcp_rules_mptcp_sockets_fail_and_plain_tcp_follows_the_rules() {
    let (_allowed, allowed) = listen("127.0.0.1:0");
    let (_denied, denied) = listen("127.0.0.1:0");
    let (_allowed6, allowed6) = listen("[::1]:0");
    let (bind_ok, bind_other) = (free_port(), free_port());
    let run = probe(
        &[
            "--connect-tcp",
            &allowed,
            "--connect-tcp",
            &allowed6,
            "--bind-tcp",
            &bind_ok,
        ],
        &[
            // Every MPTCP door fails with the errno of a kernel without MPTCP...
            "mptcp-connect",
            &denied,
            "mptcp-connect",
            &allowed,
            "mptcp-bind",
            &bind_other,
            "mptcp6-connect",
            &allowed6,
            "mptcp6-bind",
            &bind_other,
            "i386-mptcp-socket",
            "i386-mptcp-socketcall",
            "io_uring_setup",
            // ...and the plain TCP a program falls back to is judged by the rules.
            "connect",
            &allowed,
            "connect6",
            &allowed6,
            "connect",
            &denied,
            "bind",
            &bind_ok,
            "bind",
            &bind_other,
            "bind6",
            &bind_other,
        ],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    for line in [
        format!("mptcp-connect {denied}"),
        format!("mptcp-connect {allowed}"),
        format!("mptcp-bind {bind_other}"),
        format!("mptcp6-connect {allowed6}"),
        format!("mptcp6-bind {bind_other}"),
        "i386-mptcp-socket".to_owned(),
    ] {
        assert_eq!(run.result(&line), "EPROTONOSUPPORT", "{line}\n{run:#?}");
    }
    assert_eq!(run.result("i386-mptcp-socketcall"), "ENOSYS", "{run:#?}");
    assert_eq!(run.result("io_uring_setup"), "ENOSYS", "{run:#?}");
    assert_eq!(run.result(&format!("connect {allowed}")), "ok", "{run:#?}");
    assert_eq!(
        run.result(&format!("connect6 {allowed6}")),
        "ok",
        "{run:#?}"
    );
    assert_eq!(
        run.result(&format!("connect {denied}")),
        "EACCES",
        "{run:#?}"
    );
    assert_eq!(run.result(&format!("bind {bind_ok}")), "ok", "{run:#?}");
    assert_eq!(
        run.result(&format!("bind {bind_other}")),
        "EACCES",
        "{run:#?}"
    );
    assert_eq!(
        run.result(&format!("bind6 {bind_other}")),
        "EACCES",
        "{run:#?}"
    );

    let denies = run.startup_line()["syscalls_denied"].to_string();
    for what in [
        "socket(IPPROTO_MPTCP): EPROTONOSUPPORT",
        "io_uring_setup: ENOSYS",
    ] {
        assert!(
            denies.contains(what),
            "the startup line lists {what}: {denies}"
        );
    }
}

#[test]
fn dry_run_lists_the_guard_but_installs_nothing() {
    let (_listener, port) = listen("127.0.0.1:0");
    let run = probe(
        &["--mode", "dry-run", "--connect-tcp", "1"],
        &["mptcp-connect", &port],
    );
    assert_eq!(
        run.result(&format!("mptcp-connect {port}")),
        "ok",
        "{run:#?}"
    );
    assert_ne!(run.startup_line()["syscalls_denied"], serde_json::json!([]));
}

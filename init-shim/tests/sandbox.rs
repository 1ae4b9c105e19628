//! The sandbox as the kernel enforces it: a real `landlock-shim` runs a probe that performs real
//! syscalls, and each test asserts the errno the kernel returned.

mod support;

use std::net::TcpListener;
use support::{probe, s, scratch, script, write};

/// A scratch tree: `ro/` (granted --ro), `rx/` (--rx), `rw/` (--rw), `rwx/` (--rwx) and
/// `outside/` (not granted), each with a file `f` and an executable `run`.
struct Tree {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
}

impl Tree {
    fn new() -> Self {
        let dir = scratch();
        let root = dir.path().to_path_buf();
        for sub in ["ro", "rx", "rw", "rwx", "outside"] {
            write(&root.join(sub).join("f"), "content\n");
            script(&root.join(sub).join("run"), "exit 0");
        }
        Self { _dir: dir, root }
    }

    fn path(&self, rel: &str) -> String {
        s(&self.root.join(rel)).to_owned()
    }

    /// The four grants as shim flags.
    fn flags(&self) -> Vec<String> {
        ["ro", "rx", "rw", "rwx"]
            .iter()
            .flat_map(|sub| [format!("--{sub}"), self.path(sub)])
            .collect()
    }

    fn run(&self, ops: &[String]) -> support::Run {
        let flags = self.flags();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let ops: Vec<&str> = ops.iter().map(String::as_str).collect();
        probe(&flags, &ops)
    }
}

fn ops(list: &[&[&str]]) -> Vec<String> {
    list.iter()
        .flat_map(|op| op.iter().map(|a| (*a).to_owned()))
        .collect()
}

#[test]
fn granted_reads_lists_execs_and_writes_succeed() {
    let t = Tree::new();
    let (ro_f, rx_run, rw_f, rw_new, rw_dir) = (
        t.path("ro/f"),
        t.path("rx/run"),
        t.path("rw/f"),
        t.path("rw/new"),
        t.path("rw/sub"),
    );
    let (rwx_run, ro_dir, rw_moved) = (t.path("rwx/run"), t.path("ro"), t.path("rw/moved"));
    let run = t.run(&ops(&[
        &["read", &ro_f],
        &["list", &ro_dir],
        &["exec", &rx_run],
        &["exec", &rwx_run],
        &["write", &rw_f],
        &["create", &rw_new],
        &["mkdir", &rw_dir],
        &["rename", &rw_new, &rw_moved],
        &["truncate", &rw_f],
        &["remove", &rw_moved],
    ]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    for line in [
        format!("read {ro_f}"),
        format!("list {ro_dir}"),
        format!("exec {rx_run}"),
        format!("exec {rwx_run}"),
        format!("write {rw_f}"),
        format!("create {rw_new}"),
        format!("mkdir {rw_dir}"),
        format!("rename {rw_new} {rw_moved}"),
        format!("truncate {rw_f}"),
        format!("remove {rw_moved}"),
    ] {
        assert_eq!(run.result(&line), "ok", "{line}\n{run:#?}");
    }
}

#[test]
fn everything_outside_the_grants_is_denied_by_the_kernel() {
    let t = Tree::new();
    let outside_f = t.path("outside/f");
    let (ro_f, ro_new, ro_run, ro_dir) = (
        t.path("ro/f"),
        t.path("ro/new"),
        t.path("ro/run"),
        t.path("ro/sub"),
    );
    let run = t.run(&ops(&[
        &["read", &outside_f],
        &["list", "/"],
        &["read", "/etc/shadow"],
        &["write", &ro_f],
        &["create", &ro_new],
        &["mkdir", &ro_dir],
        &["truncate", &ro_f],
        &["remove", &ro_f],
        &["exec", &ro_run],
    ]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    for line in [
        format!("read {outside_f}"),
        "list /".to_owned(),
        "read /etc/shadow".to_owned(),
        format!("write {ro_f}"),
        format!("create {ro_new}"),
        format!("mkdir {ro_dir}"),
        format!("truncate {ro_f}"),
        format!("remove {ro_f}"),
        format!("exec {ro_run}"),
    ] {
        assert_eq!(run.result(&line), "EACCES", "{line}\n{run:#?}");
    }
    // The files are untouched: nothing the probe tried got through.
    assert_eq!(
        std::fs::read_to_string(t.root.join("ro/f")).unwrap(),
        "content\n"
    );
    assert!(!t.root.join("ro/new").exists());
}

#[test]
fn renaming_out_of_a_rw_directory_is_limited_by_refer() {
    let t = Tree::new();
    let (a, b, c, d) = (
        t.path("rw/a"),
        t.path("rw/b"),
        t.path("rw/c"),
        t.path("rw/d"),
    );
    for f in [&a, &b, &c, &d] {
        write(std::path::Path::new(f), "x");
    }
    let (to_ro, to_outside, to_rwx, within) = (
        t.path("ro/a"),
        t.path("outside/b"),
        t.path("rwx/c"),
        t.path("rw/d2"),
    );
    let run = t.run(&ops(&[
        &["rename", &a, &to_ro],
        &["rename", &b, &to_outside],
        &["rename", &c, &to_rwx],
        &["rename", &d, &within],
    ]));
    assert_eq!(run.code, Some(0), "{run:#?}");
    // Into a directory without write rights: plain EACCES.
    assert_eq!(run.result(&format!("rename {a} {to_ro}")), "EACCES");
    assert_eq!(run.result(&format!("rename {b} {to_outside}")), "EACCES");
    // Into a directory that would give the file more rights (execute): Landlock's REFER check
    // answers EXDEV, so `mv` falls back to copy+delete, which the rules then judge one by one.
    assert_eq!(run.result(&format!("rename {c} {to_rwx}")), "EXDEV");
    assert_eq!(run.result(&format!("rename {d} {within}")), "ok");
    assert!(t.root.join("rw/a").exists() && t.root.join("rw/b").exists());
}

#[test]
fn tcp_bind_and_connect_are_limited_to_the_listed_ports() {
    // Two real listeners, started outside the sandbox: one port allowed, one not.
    let allowed = TcpListener::bind("127.0.0.1:0").expect("listen");
    let denied = TcpListener::bind("127.0.0.1:0").expect("listen");
    let (allowed_port, denied_port) = (
        allowed.local_addr().unwrap().port().to_string(),
        denied.local_addr().unwrap().port().to_string(),
    );
    // Free ports for bind: take one from the kernel and release it.
    let free = |_: u8| {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port()
            .to_string()
    };
    let (bind_ok, bind_denied) = (free(0), free(1));
    let run = probe(
        &["--bind-tcp", &bind_ok, "--connect-tcp", &allowed_port],
        &[
            "connect",
            &allowed_port,
            "connect",
            &denied_port,
            "bind",
            &bind_ok,
            "bind",
            &bind_denied,
        ],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.result(&format!("connect {allowed_port}")), "ok");
    assert_eq!(run.result(&format!("connect {denied_port}")), "EACCES");
    assert_eq!(run.result(&format!("bind {bind_ok}")), "ok");
    assert_eq!(run.result(&format!("bind {bind_denied}")), "EACCES");
    let line = run.startup_line();
    assert_eq!(
        line["tcp_bind"],
        serde_json::json!([bind_ok.parse::<u16>().unwrap()])
    );
}

#[test]
fn without_port_flags_tcp_is_not_restricted() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().unwrap().port().to_string();
    let run = probe(&[], &["connect", &port]);
    assert_eq!(run.result(&format!("connect {port}")), "ok", "{run:#?}");
    assert_eq!(run.startup_line()["tcp_connect"], "unrestricted");
}

#[test]
fn the_startup_line_names_every_grant_its_right_and_its_source() {
    let t = Tree::new();
    let run = t.run(&[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let line = run.startup_line();
    assert_eq!(line["outcome"], "enforced", "{line}");
    assert_eq!(line["profile"], "default");
    assert!(line["abi"].as_u64().unwrap() >= 4, "{line}");
    for (right, sub) in [("ro", "ro"), ("rx", "rx"), ("rw", "rw"), ("rwx", "rwx")] {
        assert_eq!(line[right][t.path(sub)], "flag", "{line}");
    }
    assert_eq!(line["rx"]["/usr"], "profile:default", "{line}");
    assert_eq!(line["rw"]["/tmp"], "profile:default", "{line}");
}

#[test]
fn list_lets_a_directory_be_listed_but_not_its_files_read() {
    let dir = scratch();
    let listed = std::fs::canonicalize(dir.path()).expect("canonical");
    write(&listed.join("unread"), "secret\n");
    write(&listed.join("sub/deeper"), "secret\n");
    let listed = s(&listed).to_owned();
    let run = |program: &[&str]| {
        let mut args = vec![
            "--no-discover",
            "--mode",
            "enforce",
            "--list",
            &listed,
            "--",
        ];
        args.extend(program);
        support::shim(&args)
    };
    let ls = run(&["/bin/ls", &listed]);
    assert_eq!(
        (ls.code, ls.stdout.as_str()),
        (Some(0), "sub\nunread\n"),
        "{ls:#?}"
    );
    assert_eq!(ls.startup_line()["outcome"], "enforced", "{ls:#?}");
    assert_eq!(ls.startup_line()["list"][&listed], "flag", "{ls:#?}");
    // Subdirectories are listed too: the right covers everything beneath.
    let sub = run(&["/bin/ls", &format!("{listed}/sub")]);
    assert_eq!(
        (sub.code, sub.stdout.as_str()),
        (Some(0), "deeper\n"),
        "{sub:#?}"
    );
    let cat = run(&["/bin/cat", &format!("{listed}/unread")]);
    assert_eq!(cat.code, Some(1), "{cat:#?}");
    assert!(cat.stderr.contains("Permission denied"), "{cat:#?}");
    assert!(cat.stdout.is_empty(), "{cat:#?}");
}

//! The learn round trip on real server programs from Debian packages with the shipped (musl)
//! shim: PostgreSQL (initdb + pgbench, as a non-root user), nginx with its prefix layout, redis
//! (AOF + BGSAVE), python started from a directory holding a file it never reads, and git. Each
//! is learned while the test exercises it, `suggest --format flags` turns the learn line into
//! flags, and the same exercise under those flags in enforce mode gives the same output and no
//! permission error. Then a control per program shows what the suggestion does not open.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use landlock_tests::pod_runner::require;
use landlock_tests::static_build::static_binary;
use webhook::suggest::{Format, suggest};

const LIMIT: Duration = Duration::from_secs(60);
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn shim() -> PathBuf {
    static_binary("init-shim", "landlock-shim").expect("the static shim builds")
}

/// A scratch directory outside what the default profile grants (not under /tmp).
fn scratch() -> tempfile::TempDir {
    std::fs::create_dir_all("/var/tmp").expect("/var/tmp");
    tempfile::Builder::new()
        .prefix("learn-real-")
        .tempdir_in("/var/tmp")
        .expect("scratch directory")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Waits until something listens on 127.0.0.1:`port` (from /proc/net/tcp).
fn wait_for_port(port: u16) {
    let local = format!("0100007F:{port:04X}");
    let deadline = Instant::now() + LIMIT;
    loop {
        let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
        if table.lines().any(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"0A")
        }) {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One program: `program` runs under the shim in `cwd`; `drive` exercises it from outside
/// and returns what it saw.
struct Workload<'a> {
    name: &'a str,
    program: Vec<String>,
    cwd: &'a Path,
    drive: &'a dyn Fn() -> String,
}

fn run(workload: &Workload<'_>, flags: &[String]) -> (Output, String) {
    require("/usr/bin/setsid", "util-linux").expect("setsid");
    let child: Child = Command::new("/usr/bin/setsid")
        .arg(shim())
        .args(flags)
        .arg("--")
        .args(&workload.program)
        .current_dir(workload.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the shim");
    let seen = (workload.drive)();
    let output = child.wait_with_output().expect("wait");
    (output, seen)
}

/// learn -> suggest -> enforce: same output, exit 0, no permission error. Returns the flags.
fn round_trip(workload: &Workload<'_>) -> Vec<String> {
    let learn_flags: Vec<String> = ["--mode", "learn", "--no-discover"]
        .map(str::to_owned)
        .to_vec();
    let (learned, seen_learning) = run(workload, &learn_flags);
    let (learn_out, learn_err) = text(&learned);
    assert_eq!(
        learned.status.code(),
        Some(0),
        "{}: learn run: {learn_out}\n{learn_err}",
        workload.name
    );
    let suggestion = suggest(&[("stderr".to_owned(), learn_err.clone())], Format::Flags)
        .unwrap_or_else(|e| panic!("{}: suggest: {e}\n{learn_err}", workload.name));
    let line = suggestion.output.trim().to_owned();
    eprintln!("{}: suggested: {line}", workload.name);
    for note in &suggestion.notes {
        eprintln!("{}: note: {note}", workload.name);
    }
    // Read as the shell the README pastes it into reads it (words are quoted where needed).
    let mut flags: Vec<String> = landlock_tests::shell::words(&line);
    assert!(flags.contains(&"enforce".to_owned()), "{line}");
    flags.push("--no-discover".to_owned());

    let (enforced, seen_enforced) = run(workload, &flags);
    let (enforce_out, enforce_err) = text(&enforced);
    assert_eq!(
        enforced.status.code(),
        Some(0),
        "{}: enforce run with {line}:\n{enforce_out}\n{enforce_err}",
        workload.name
    );
    assert_eq!(enforce_out, learn_out, "{}: same output", workload.name);
    assert_eq!(
        seen_enforced, seen_learning,
        "{}: same output seen",
        workload.name
    );
    for denial in [
        "Permission denied",
        "EACCES",
        "EPERM",
        "Operation not permitted",
    ] {
        assert!(
            !enforce_err.contains(denial) && !enforce_out.contains(denial),
            "{}: {denial} under {line}:\n{enforce_err}",
            workload.name
        );
    }
    assert!(
        enforce_err.contains("\"outcome\":\"enforced\""),
        "{}: {enforce_err}",
        workload.name
    );
    flags
}

/// Runs `sh -c SCRIPT` under `flags` and asserts it is denied (non-zero exit, EACCES).
fn denied(flags: &[String], what: &str, script: &str) {
    let out = Command::new(shim())
        .args(flags)
        .args(["--", "/bin/sh", "-c", script])
        .stdin(Stdio::null())
        .output()
        .expect("shim");
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success() && stderr.contains("Permission denied"),
        "{what} is allowed under {}: exit {:?}\n{stdout}\n{stderr}",
        flags.join(" "),
        out.status.code()
    );
}

fn shadow_stays_unreadable(flags: &[String]) {
    denied(flags, "reading /etc/shadow", "cat /etc/shadow");
}

fn chown_to(path: &Path, user: &str) {
    let status = Command::new("/bin/chown")
        .args(["-R", user])
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success(), "chown {user} {}", path.display());
}

#[test]
fn postgresql_initdb_and_pgbench_as_a_non_root_user() {
    require(&format!("{PG_BIN}/initdb"), "postgresql").expect("initdb");
    require(&format!("{PG_BIN}/pgbench"), "postgresql-contrib").expect("pgbench");
    require("/usr/bin/setpriv", "util-linux").expect("setpriv");
    let dir = scratch();
    let root = dir.path().canonicalize().expect("canonical");
    chown_to(&root, "postgres:postgres");
    let port = free_port();
    // Own data directory, socket directory and port: the package's cluster (if any) is not
    // used. Output that varies (tps, timings) goes to /dev/null; the server log to stderr.
    let script = format!(
        "set -e\ncd {root}\nrm -rf data sock; mkdir sock\n\
         {PG_BIN}/initdb -D data -A trust -U postgres >/dev/null\n\
         {PG_BIN}/pg_ctl -D data -l pg.log -w -o \"-p {port} -k {root}/sock -c listen_addresses=''\" start >/dev/null\n\
         {PG_BIN}/pgbench -h {root}/sock -p {port} -U postgres -i -s 1 -q postgres >/dev/null 2>&1\n\
         {PG_BIN}/pgbench -h {root}/sock -p {port} -U postgres -C -S -t 30 postgres >/dev/null\n\
         {PG_BIN}/psql -h {root}/sock -p {port} -U postgres -Atc 'select count(*) from pgbench_accounts' postgres\n\
         {PG_BIN}/pg_ctl -D data -w stop >/dev/null\n\
         cat pg.log >&2\n",
        root = root.display()
    );
    let none = String::new;
    let workload = Workload {
        name: "postgresql",
        program: [
            "/usr/bin/setpriv",
            "--reuid=postgres",
            "--regid=postgres",
            "--clear-groups",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain(["/bin/sh".to_owned(), "-c".to_owned(), script])
        .collect(),
        cwd: &root,
        drive: &none,
    };
    let flags = round_trip(&workload);
    shadow_stays_unreadable(&flags);
}

fn nginx_prefix(root: &Path, port: u16) {
    for sub in ["conf", "logs", "run", "temp", "html"] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
    }
    std::fs::write(root.join("html/index.html"), "<h1>nginx</h1>\n").expect("write");
    std::fs::write(root.join("html/about.html"), "about\n").expect("write");
    std::fs::write(
        root.join("conf/nginx.conf"),
        format!(
            "daemon off;\nmaster_process off;\nerror_log logs/error.log;\npid run/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log logs/access.log;\n  client_body_temp_path temp/client_body;\n\
               proxy_temp_path temp/proxy;\n  fastcgi_temp_path temp/fastcgi;\n\
               uwsgi_temp_path temp/uwsgi;\n  scgi_temp_path temp/scgi;\n\
               server {{ listen 127.0.0.1:{port}; root html; }}\n}}\n"
        ),
    )
    .expect("nginx.conf");
}

fn curl(url: &str) -> String {
    let out = Command::new("/usr/bin/curl")
        .args(["-sS", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stops a program that wrote its pid to `pid_file` with `signal`.
fn signal_pid_file(pid_file: &Path, signal: &str) {
    let deadline = Instant::now() + LIMIT;
    let pid = loop {
        if let Ok(pid) = std::fs::read_to_string(pid_file)
            && !pid.trim().is_empty()
        {
            break pid.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "no {}", pid_file.display());
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = Command::new("/bin/kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

#[test]
fn nginx_with_its_prefix_layout() {
    require("/usr/sbin/nginx", "nginx-light").expect("nginx");
    require("/usr/bin/curl", "curl").expect("curl");
    let dir = scratch();
    let root = dir.path().canonicalize().expect("canonical");
    let port = free_port();
    nginx_prefix(&root, port);
    let pid_file = root.join("run/nginx.pid");
    let drive = || {
        wait_for_port(port);
        let seen = ["/", "/about.html", "/missing"]
            .iter()
            .map(|p| curl(&format!("http://127.0.0.1:{port}{p}")))
            .collect::<Vec<_>>()
            .join("");
        signal_pid_file(&pid_file, "QUIT");
        seen
    };
    let prefix = root.display().to_string();
    let workload = Workload {
        name: "nginx",
        program: [
            "/usr/sbin/nginx",
            "-p",
            &prefix,
            "-e",
            "logs/error.log",
            "-c",
            "conf/nginx.conf",
        ]
        .map(str::to_owned)
        .to_vec(),
        cwd: &root,
        drive: &drive,
    };
    let flags = round_trip(&workload);
    let _ = std::fs::remove_file(&pid_file);
    shadow_stays_unreadable(&flags);
}

#[test]
fn nginx_suggestion_keeps_its_conf_directory_read_only() {
    require("/usr/sbin/nginx", "nginx-light").expect("nginx");
    let dir = scratch();
    let root = dir.path().canonicalize().expect("canonical");
    let port = free_port();
    nginx_prefix(&root, port);
    let pid_file = root.join("run/nginx.pid");
    let drive = || {
        wait_for_port(port);
        let seen = curl(&format!("http://127.0.0.1:{port}/"));
        signal_pid_file(&pid_file, "QUIT");
        seen
    };
    let prefix = root.display().to_string();
    let workload = Workload {
        name: "nginx (conf control)",
        program: [
            "/usr/sbin/nginx",
            "-p",
            &prefix,
            "-e",
            "logs/error.log",
            "-c",
            "conf/nginx.conf",
        ]
        .map(str::to_owned)
        .to_vec(),
        cwd: &root,
        drive: &drive,
    };
    let flags = round_trip(&workload);
    denied(
        &flags,
        "writing into nginx's conf/",
        &format!("echo x > {}/conf/injected.conf", root.display()),
    );
}

#[test]
fn redis_with_aof_and_bgsave() {
    require("/usr/bin/redis-server", "redis-server").expect("redis-server");
    require("/usr/bin/redis-cli", "redis-tools").expect("redis-cli");
    let dir = scratch();
    let root = dir.path().canonicalize().expect("canonical");
    let port = free_port();
    let data = root.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let conf = root.join("redis.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {data}\nappendonly yes\n\
             logfile {root}/redis.log\nsave \"\"\n",
            data = data.display(),
            root = root.display()
        ),
    )
    .expect("redis.conf");
    let cli = move |args: &[&str]| {
        let out = Command::new("/usr/bin/redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let drive = || {
        wait_for_port(port);
        let mut seen = String::new();
        for args in [
            &["FLUSHALL"][..],
            &["SET", "greeting", "hello"],
            &["INCR", "visits"],
        ] {
            seen.push_str(&cli(args));
        }
        seen.push_str(&cli(&["BGSAVE"]).replace("Background saving started", "OK"));
        let deadline = Instant::now() + LIMIT;
        while !cli(&["INFO", "persistence"]).contains("rdb_bgsave_in_progress:0") {
            assert!(Instant::now() < deadline, "BGSAVE did not finish");
            std::thread::sleep(Duration::from_millis(50));
        }
        seen.push_str(&cli(&["GET", "greeting"]));
        seen.push_str(&cli(&["SHUTDOWN"]));
        seen
    };
    let workload = Workload {
        name: "redis",
        program: vec![
            "/usr/bin/redis-server".to_owned(),
            conf.display().to_string(),
        ],
        cwd: &root,
        drive: &drive,
    };
    let flags = round_trip(&workload);
    assert!(data.join("dump.rdb").exists(), "BGSAVE wrote no dump.rdb");
    shadow_stays_unreadable(&flags);
    // CONFIG REWRITE's way in: the log file beside redis.conf must not make it writable.
    denied(
        &flags,
        "rewriting redis.conf",
        &format!("echo x >> {}", conf.display()),
    );
}

/// python run from a directory that holds a file it never reads.
fn python_in_a_directory_with_an_unread_file() -> (tempfile::TempDir, PathBuf, Vec<String>) {
    require("/usr/bin/python3", "python3").expect("python3");
    let dir = scratch();
    let root = dir.path().canonicalize().expect("canonical");
    std::fs::write(root.join("unread.txt"), "not for the program\n").expect("write");
    std::fs::write(root.join("input.json"), "{\"n\": [1, 2, 3]}\n").expect("write");
    let none = String::new;
    let workload = Workload {
        name: "python3 in a working directory",
        program: [
            "/usr/bin/python3",
            "-c",
            "import json\nprint(sum(json.load(open('input.json'))['n']))",
        ]
        .map(str::to_owned)
        .to_vec(),
        cwd: &root,
        drive: &none,
    };
    let flags = round_trip(&workload);
    (dir, root, flags)
}

#[test]
fn python_from_a_working_directory() {
    let (_dir, _root, flags) = python_in_a_directory_with_an_unread_file();
    shadow_stays_unreadable(&flags);
}

#[test]
fn python_suggestion_keeps_the_unread_file_unreadable() {
    let (_dir, root, flags) = python_in_a_directory_with_an_unread_file();
    denied(
        &flags,
        "reading the file python never read",
        &format!("cat {}/unread.txt", root.display()),
    );
}

#[test]
fn git_init_clone_commit_log() {
    require("/usr/bin/git", "git").expect("git");
    let dir = scratch();
    let root = dir.path().canonicalize().expect("canonical");
    std::fs::create_dir_all(root.join("home")).expect("mkdir");
    // The repositories live in a directory of their own, as a checkout's parent does: creating
    // entries beside `home/` would need write on the scratch root, which learn mode never
    // suggests (write rights stop at the directories actually written).
    std::fs::create_dir_all(root.join("work")).expect("mkdir");
    // Its own HOME and no system config: the test's git setup is not the machine's.
    let script = format!(
        "set -e\ncd {root}/work\nexport HOME={root}/home GIT_CONFIG_NOSYSTEM=1\n\
         export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com\n\
         rm -rf origin clone\n\
         /usr/bin/git init -q -b main origin\n\
         echo one > origin/a.txt\n\
         /usr/bin/git -C origin add a.txt\n\
         /usr/bin/git -C origin commit -q -m first\n\
         /usr/bin/git clone -q origin clone\n\
         echo two >> clone/a.txt\n\
         /usr/bin/git -C clone commit -q -am second\n\
         /usr/bin/git -C clone log --format=%s\n\
         /usr/bin/git -C clone status --short --branch\n",
        root = root.display()
    );
    let none = String::new;
    let workload = Workload {
        name: "git",
        program: vec!["/bin/sh".to_owned(), "-c".to_owned(), script],
        cwd: &root,
        drive: &none,
    };
    let flags = round_trip(&workload);
    shadow_stays_unreadable(&flags);
}

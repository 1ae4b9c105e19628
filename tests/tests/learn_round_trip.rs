//! The learn round trip, with real programs from Debian packages and the real static shim:
//! run the workload in learn mode, feed its output to `landlock-webhook suggest`, run the same
//! workload in enforce mode with what was suggested, and get the same output, exit 0, and no
//! permission error anywhere. Then the same through the webhook and a pod on runc.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use landlock_tests::admit::{Admitted, admit};
use landlock_tests::pod_runner::{Cluster, PodRunner, busybox_images, require};
use landlock_tests::static_build::static_binary;
use serde_json::{Value, json};
use webhook::admission::config::Config;
use webhook::admission::resolve::Offline;
use webhook::suggest::{Format, suggest};

const PYTHON: &str = "/usr/bin/python3";
const LIMIT: Duration = Duration::from_secs(30);

fn shim() -> PathBuf {
    static_binary("init-shim", "landlock-shim").expect("the static shim builds")
}

/// A scratch directory outside what the default profile grants (not under /tmp).
fn scratch() -> tempfile::TempDir {
    std::fs::create_dir_all("/var/tmp").expect("/var/tmp");
    tempfile::Builder::new()
        .prefix("learn-round-trip-")
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
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Waits until something listens on 127.0.0.1:`port`, looking at /proc/net/tcp (connecting
/// would be a request the server answers).
fn wait_for_port(port: u16) {
    let local = format!("0100007F:{port:04X}");
    let deadline = Instant::now() + LIMIT;
    loop {
        let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
        let listening = table.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A")
        });
        if listening {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A workload: started by `start` under the shim with the given flags; `drive` then exercises
/// it from outside and returns what the outside saw.
struct Workload<'a> {
    name: &'a str,
    program: Vec<String>,
    drive: &'a dyn Fn() -> String,
}

/// Runs `workload` under `landlock-shim FLAGS -- PROGRAM`, drives it, waits for it. Like in a
/// pod, the shim runs without a controlling terminal (`setsid`): bash, for one, opens
/// `/dev/tty` at start, which then fails with ENXIO, and learn mode records it.
fn run(workload: &Workload<'_>, flags: &[String]) -> (Output, String) {
    require("/usr/bin/setsid", "util-linux").expect("setsid");
    let child: Child = Command::new("/usr/bin/setsid")
        .arg(shim())
        .args(flags)
        .arg("--")
        .args(&workload.program)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the shim");
    let seen = (workload.drive)();
    let output = child.wait_with_output().expect("wait");
    (output, seen)
}

/// learn -> suggest --format flags -> enforce with those flags: same output, exit 0, clean.
fn round_trip(workload: &Workload<'_>) -> String {
    let learn_flags: Vec<String> = ["--mode", "learn", "--no-discover"]
        .map(str::to_owned)
        .to_vec();
    let (learned, seen_learning) = run(workload, &learn_flags);
    let (learn_out, learn_err) = text(&learned);
    assert_eq!(
        learned.status.code(),
        Some(0),
        "{}: learn run: {learn_err}",
        workload.name
    );
    let suggestion = suggest(&[("stderr".to_owned(), learn_err.clone())], Format::Flags)
        .unwrap_or_else(|e| panic!("{}: suggest: {e}\n{learn_err}", workload.name));
    let line = suggestion.output.trim().to_owned();
    // Read as the shell the README pastes it into reads it (words are quoted where needed).
    let mut flags: Vec<String> = landlock_tests::shell::words(&line);
    assert!(flags.contains(&"enforce".to_owned()), "{line}");
    flags.push("--no-discover".to_owned());

    let (enforced, seen_enforced) = run(workload, &flags);
    let (enforce_out, enforce_err) = text(&enforced);
    assert_eq!(
        enforced.status.code(),
        Some(0),
        "{}: enforce run with {line}:\n{enforce_err}",
        workload.name
    );
    assert_eq!(enforce_out, learn_out, "{}: same output", workload.name);
    assert_eq!(
        seen_enforced, seen_learning,
        "{}: same output seen outside",
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
    let startup = enforce_err
        .lines()
        .find(|l| l.starts_with("{\"landlock\":"))
        .expect("startup line");
    assert!(startup.contains("\"outcome\":\"enforced\""), "{startup}");
    line
}

#[test]
fn python_http_server_serving_a_directory() {
    require(PYTHON, "python3").expect("python3");
    require("/usr/bin/curl", "curl").expect("curl");
    let dir = scratch();
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("css")).expect("mkdir");
    std::fs::write(site.join("index.html"), "<h1>hello</h1>\n").expect("write");
    std::fs::write(site.join("css/site.css"), "body {}\n").expect("write");
    let port = free_port();
    let server = format!(
        "import functools, http.server, socketserver\n\
         socketserver.TCPServer.allow_reuse_address = True\n\
         handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory={site:?})\n\
         with socketserver.TCPServer(('127.0.0.1', {port}), handler) as s:\n\
         \x20   for _ in range(3): s.handle_request()",
        site = site.display().to_string()
    );
    let drive = || {
        wait_for_port(port);
        ["/", "/css/site.css", "/css/"]
            .iter()
            .map(|path| {
                let out = Command::new("/usr/bin/curl")
                    .args(["-sS", &format!("http://127.0.0.1:{port}{path}")])
                    .output()
                    .expect("curl");
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
            .collect::<Vec<_>>()
            .join("")
    };
    let workload = Workload {
        name: "python3 -m http.server",
        program: vec![PYTHON.to_owned(), "-c".to_owned(), server],
        drive: &drive,
    };
    let flags = round_trip(&workload);
    assert!(flags.contains(&format!("--bind-tcp {port}")), "{flags}");
    assert!(flags.contains("--ro "), "{flags}");
}

#[test]
fn curl_over_tls_reading_its_ca_bundle() {
    require(PYTHON, "python3").expect("python3");
    require("/usr/bin/curl", "curl").expect("curl");
    require("/usr/bin/openssl", "openssl").expect("openssl");
    let dir = scratch();
    let root = dir.path();
    let status = Command::new("/usr/bin/openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .arg("-keyout")
        .arg(root.join("key.pem"))
        .arg("-out")
        .arg(root.join("ca.pem"))
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    std::fs::create_dir_all(root.join("www")).expect("mkdir");
    std::fs::write(root.join("www/data.txt"), "secret-free data\n").expect("write");
    // The HTTPS server runs outside the sandbox; only the client is learned.
    let port = free_port();
    let server = format!(
        "import functools, http.server, ssl\n\
         h = functools.partial(http.server.SimpleHTTPRequestHandler, directory={www:?})\n\
         s = http.server.HTTPServer(('127.0.0.1', {port}), h)\n\
         c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain({cert:?}, {key:?})\n\
         s.socket = c.wrap_socket(s.socket, server_side=True)\n\
         s.serve_forever()",
        www = root.join("www").display().to_string(),
        cert = root.join("ca.pem").display().to_string(),
        key = root.join("key.pem").display().to_string(),
    );
    let mut https = Command::new(PYTHON)
        .args(["-c", &server])
        .stderr(Stdio::null())
        .spawn()
        .expect("https server");
    wait_for_port(port);
    let none = String::new;
    let workload = Workload {
        name: "curl --cacert",
        program: vec![
            "/usr/bin/curl".to_owned(),
            "-sS".to_owned(),
            "--cacert".to_owned(),
            root.join("ca.pem").display().to_string(),
            "--resolve".to_owned(),
            format!("localhost:{port}:127.0.0.1"),
            format!("https://localhost:{port}/data.txt"),
        ],
        drive: &none,
    };
    let flags = round_trip(&workload);
    let _ = https.kill();
    let _ = https.wait();
    let ca = root.join("ca.pem").canonicalize().expect("ca");
    assert!(flags.contains(&format!("--ro {}", ca.display())), "{flags}");
    assert!(flags.contains(&format!("--connect-tcp {port}")), "{flags}");
}

#[test]
fn a_shell_script_using_several_utilities() {
    let dir = scratch();
    let root = dir.path().canonicalize().expect("canonical");
    for (name, body) in [
        ("a.conf", "beta\nalpha\n"),
        ("b.conf", "gamma\nalpha\n"),
        ("c.conf", "delta\n"),
    ] {
        std::fs::create_dir_all(root.join("conf.d")).expect("mkdir");
        std::fs::write(root.join("conf.d").join(name), body).expect("write");
    }
    std::fs::create_dir_all(root.join("data")).expect("mkdir");
    std::fs::write(root.join("data/numbers.csv"), "1,2\n3,4\n").expect("write");
    std::fs::create_dir_all(root.join("out")).expect("mkdir");
    let script = root.join("report.sh");
    let mut f = std::fs::File::create(&script).expect("script");
    writeln!(
        f,
        "#!/bin/sh\nset -e\ncd {root}\n\
         cat conf.d/*.conf | sort | uniq -c | tee out/words.txt\n\
         wc -l < data/numbers.csv\n\
         awk -F, '{{s+=$2}} END {{print s}}' data/numbers.csv\n\
         mkdir -p out/archive\n\
         cp out/words.txt out/archive/words.1 && mv out/archive/words.1 out/archive/words.old\n\
         rm -f out/archive/words.old\n\
         ls out | sort",
        root = root.display()
    )
    .expect("write script");
    drop(f);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let none = String::new;
    let workload = Workload {
        name: "a shell script",
        program: vec![script.display().to_string()],
        drive: &none,
    };
    let flags = round_trip(&workload);
    assert!(
        flags.contains(&format!("--rx {}", script.display())),
        "{flags}"
    );
    assert!(
        flags.contains(&format!("--rw {}", root.join("out").display())),
        "{flags}"
    );
}

#[test]
fn a_bash_script_entrypoint() {
    require("/bin/bash", "bash").expect("bash");
    let dir = scratch();
    let root = dir.path().canonicalize().expect("canonical");
    for (name, body) in [
        ("conf/settings.sh", "GREETING='hello from bash'\n"),
        ("data/words.txt", "b a c a b\n"),
    ] {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, body).expect("write");
    }
    std::fs::create_dir_all(root.join("out")).expect("mkdir");
    let script = root.join("entrypoint.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\nset -euo pipefail\ncd {root}\n\
             source conf/settings.sh\n\
             words=$(tr ' ' '\\n' < data/words.txt | sort -u | wc -l)\n\
             echo \"words: $words\"\n\
             printf '%s\\n' \"$GREETING\" > out/greeting.txt\n\
             while read -r line; do echo \"read: $line\"; done < out/greeting.txt\n",
            root = root.display()
        ),
    )
    .expect("write script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let none = String::new;
    let workload = Workload {
        name: "a bash script",
        program: vec![script.display().to_string()],
        drive: &none,
    };
    let flags = round_trip(&workload);
    // bash opened /dev/tty (ENXIO without a terminal): the suggestion grants it, and the
    // shipped shim can name it (O_PATH) where a read open fails.
    assert!(flags.contains("--rw /dev/tty"), "{flags}");
}

fn learn_pod(annotations: &BTreeMap<String, String>) -> Pod {
    let script =
        "cat /etc/app/app.yaml /srv/index.html; ls /srv; echo note > /scratch/n; cat /scratch/n";
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "learner", "namespace": "apps", "annotations": annotations},
        "spec": {
            "volumes": [
                {"name": "config", "configMap": {"name": "app"}},
                {"name": "scratch", "emptyDir": {}}],
            "containers": [{
                "name": "app", "image": "busybox", "command": ["/bin/sh", "-c", script],
                "volumeMounts": [
                    {"name": "config", "mountPath": "/etc/app"},
                    {"name": "scratch", "mountPath": "/scratch"}]}]}
    }))
    .expect("pod")
}

fn run_pod(pod: Pod) -> landlock_tests::pod_runner::Finished {
    let cluster = Cluster {
        config_maps: BTreeMap::from([(
            "app".to_owned(),
            BTreeMap::from([("app.yaml".to_owned(), "greeting: hello\n".to_owned())]),
        )]),
        secrets: BTreeMap::new(),
    };
    let mut runner = PodRunner::new(pod, cluster, busybox_images()).expect("pod");
    runner.run_init(LIMIT).expect("init containers");
    runner.run("app", LIMIT).expect("container")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_learns_then_runs_enforced_with_the_suggested_annotations() {
    let mut annotations = BTreeMap::from([
        ("landlock-injector.io/inject".to_owned(), "true".to_owned()),
        ("landlock-injector.io/mode".to_owned(), "learn".to_owned()),
    ]);
    let (pod, warnings) = match admit(&learn_pod(&annotations), &Config::default(), &Offline).await
    {
        Admitted::Allowed(pod, warnings) => (*pod, warnings),
        Admitted::Denied(message) => panic!("denied: {message}"),
    };
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("NOT sandboxed while learning")),
        "{warnings:?}"
    );
    let learned = run_pod(pod);
    assert_eq!(learned.exit_code, 0, "{learned:?}");
    // What `kubectl logs learner --all-containers --prefix` shows.
    let logs: String = learned
        .stderr
        .lines()
        .map(|l| format!("[pod/learner/app] {l}\n"))
        .collect();
    let suggestion = suggest(&[("logs".to_owned(), logs.clone())], Format::Yaml)
        .unwrap_or_else(|e| panic!("suggest: {e}\n{logs}"));
    let yaml: Value = serde_yaml::from_str(&suggestion.output).expect("YAML");
    let suggested = yaml["metadata"]["annotations"]
        .as_object()
        .expect("annotations")
        .clone();
    assert_eq!(
        suggested["landlock-injector.io/mode"], "enforce",
        "{}",
        suggestion.output
    );
    // The ConfigMap is discovered at runtime and the profile covers the shell: only /srv is new;
    // the emptyDir's grant (the webhook's own discovery, passed as a flag) is kept.
    let read = suggested["landlock-injector.io/read"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(read, "/srv/index.html", "{}", suggestion.output);
    // `ls /srv` lists it: names only, its other files stay unreadable.
    assert_eq!(
        suggested["landlock-injector.io/list"], "/srv",
        "{}",
        suggestion.output
    );
    assert!(
        !suggestion.output.contains("/etc/app"),
        "{}",
        suggestion.output
    );

    annotations.remove("landlock-injector.io/mode");
    for (key, value) in &suggested {
        annotations.insert(key.clone(), value.as_str().unwrap_or_default().to_owned());
    }
    let pod = match admit(&learn_pod(&annotations), &Config::default(), &Offline).await {
        Admitted::Allowed(pod, _) => *pod,
        Admitted::Denied(message) => panic!("denied: {message}"),
    };
    let enforced = run_pod(pod);
    assert_eq!(enforced.exit_code, 0, "{enforced:?}");
    assert_eq!(enforced.stdout, learned.stdout);
    assert!(
        !enforced.stderr.contains("Permission denied"),
        "{enforced:?}"
    );
    assert!(
        enforced.stderr.contains("\"outcome\":\"enforced\""),
        "{}",
        enforced.stderr
    );
}

/// Learn mode records a UDP sendto (127.0.0.1:5353), a UDP connect (port 5354) and a connect to
/// a pathname UNIX socket; `suggest` prints them as `--connect-udp` and as a `--rw` grant of
/// the socket (connecting to a pathname socket is a write right, `resolve_unix` from ABI 9).
/// Only learn and suggest here: enforcing UDP rules needs ABI 10 (the kernel matrix).
#[test]
fn udp_sends_and_unix_socket_connects_are_learned_and_suggested() {
    require(PYTHON, "python3").expect("python3");
    let dir = scratch();
    let socket = dir.path().join("app.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind the socket");
    let program = "import socket, sys\n\
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        u.sendto(b'q', ('127.0.0.1', 5353))\n\
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        c.connect(('127.0.0.1', 5354))\n\
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n\
        s.connect(sys.argv[1])\n\
        print('sent')\n";
    let output = Command::new(shim())
        .args([
            "--mode",
            "learn",
            "--no-discover",
            "--",
            PYTHON,
            "-c",
            program,
        ])
        .arg(&socket)
        .stdin(Stdio::null())
        .output()
        .expect("run the shim");
    drop(listener);
    let (out, err) = text(&output);
    assert_eq!(
        (output.status.code(), out.as_str()),
        (Some(0), "sent\n"),
        "{err}"
    );
    let learned = err
        .lines()
        .rfind(|l| l.starts_with("{\"landlock-learn\""))
        .unwrap_or_else(|| panic!("no learn line: {err}"));
    let json: serde_json::Value = serde_json::from_str(learned).expect("JSON");
    assert_eq!(
        json["suggest"]["connect-udp"],
        serde_json::json!([5353, 5354]),
        "{learned}"
    );
    let socket = socket.to_str().expect("UTF-8 path");
    assert!(
        json["suggest"]["write"]
            .as_array()
            .is_some_and(|w| w.iter().any(|p| p == socket)),
        "{learned}"
    );

    let suggestion = suggest(&[("stderr".to_owned(), err.clone())], Format::Flags)
        .unwrap_or_else(|e| panic!("suggest: {e}\n{err}"));
    let flags = suggestion.output.trim();
    assert!(
        flags.contains("--connect-udp 5353 --connect-udp 5354"),
        "{flags}"
    );
    assert!(flags.contains(&format!("--rw {socket}")), "{flags}");
    let yaml = suggest(&[("stderr".to_owned(), err.clone())], Format::Yaml)
        .unwrap_or_else(|e| panic!("suggest: {e}\n{err}"));
    assert!(
        yaml.output
            .lines()
            .any(|l| l.contains("landlock-injector.io/connect-udp: ") && l.contains("5353,5354")),
        "{}",
        yaml.output
    );
}

/// A file whose name is not UTF-8 (byte 0xff): learn mode records its exact bytes (escaped as
/// `\xff`, see `init_shim::path_text`), `suggest` passes them on, and the shim in enforce mode
/// opens exactly that file: it is readable, and its sibling is not.
#[test]
fn a_file_name_that_is_not_utf8_is_learned_suggested_and_granted_exactly() {
    use std::os::unix::ffi::OsStrExt;
    require(PYTHON, "python3").expect("python3");
    let dir = scratch();
    let odd = dir.path().join(std::ffi::OsStr::from_bytes(b"data-\xff"));
    std::fs::write(&odd, "odd bytes\n").expect("write the odd file");
    // What a lossy decoding would name (U+FFFD), and a plain sibling: neither may be granted.
    let lossy = dir.path().join("data-\u{fffd}");
    std::fs::write(&lossy, "lossy\n").expect("write");
    let sibling = dir.path().join("data-plain");
    std::fs::write(&sibling, "sibling\n").expect("write");
    let hex = |path: &std::path::Path| {
        path.as_os_str()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let reader = |path: &std::path::Path| {
        vec![
            PYTHON.to_owned(),
            "-c".to_owned(),
            format!(
                "import sys; sys.stdout.write(open(bytes.fromhex('{}'), 'rb').read().decode())",
                hex(path)
            ),
        ]
    };
    let nothing = String::new;
    let workload = Workload {
        name: "python3 reading a file named with byte 0xff",
        program: reader(&odd),
        drive: &nothing,
    };
    let flags = round_trip(&workload);
    // The escape form's backslash makes the shell quote the word.
    let escaped = format!("{}/data-\\xff", dir.path().display());
    let words = landlock_tests::shell::words(&flags);
    assert!(
        words.windows(2).any(|w| w[0] == "--ro" && w[1] == escaped),
        "the exact bytes are suggested as --ro {escaped}: {flags}"
    );
    assert!(!flags.contains('\u{fffd}'), "{flags}");

    let mut enforce: Vec<String> = words;
    enforce.push("--no-discover".to_owned());
    for denied in [&lossy, &sibling] {
        let other = Workload {
            name: "python3 reading a sibling",
            program: reader(denied),
            drive: &nothing,
        };
        let (output, _) = run(&other, &enforce);
        let (_, err) = text(&output);
        assert_ne!(
            output.status.code(),
            Some(0),
            "{denied:?} was readable: {err}"
        );
        assert!(err.contains("PermissionError"), "{denied:?}: {err}");
    }
}

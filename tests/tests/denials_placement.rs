//! Where the denials agent can run, on the real kernel: in a network namespace of its own (a
//! kind node is one) it receives no audit record and says so in its log, its `/readyz` and its
//! metrics; on the host it maps a process in a kind-style nested cgroup (the node container's
//! cgroup in front of kubelet's path) to its pod and container. Its `/readyz` follows its watch
//! of this node's pods (an unreachable API server, an API server that lists and then goes away),
//! and `--enable-audit` raises a small kernel audit backlog limit. A stdout nobody reads does not
//! stop it.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use landlock_tests::audit::{AuditGuard, audit_status, denied_busybox_shell};
use landlock_tests::static_build::static_binary;
use landlock_tests::{netns, scrape};
use webhook::denials::cgroups::{self, ContainerRef, Placement};

const LIMIT: Duration = Duration::from_secs(60);
const IP: &str = "/usr/sbin/ip";

/// `landlock-webhook denials` (`--no-kube` unless told otherwise), killed when dropped; its
/// stderr goes to a file.
struct Agent {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// Starts the agent with `listen` and `--no-kube`, in a new network namespace when `own_netns`.
    fn start(listen: SocketAddr, own_netns: bool) -> Self {
        Self::start_with(listen, own_netns, &["--no-kube"])
    }

    /// Starts the agent with `listen` and `args`, in a new network namespace when `own_netns`.
    fn start_with(listen: SocketAddr, own_netns: bool, args: &[&str]) -> Self {
        Self::spawn(listen, own_netns, args, Stdio::null())
    }

    /// Starts the agent with `listen`, `args` and `stdout` for its denial lines.
    fn spawn(listen: SocketAddr, own_netns: bool, args: &[&str], stdout: Stdio) -> Self {
        let binary = static_binary("webhook", "landlock-webhook").expect("landlock-webhook");
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("agent.log");
        let stderr = std::fs::File::create(&log).expect("log file");
        let listen = listen.to_string();
        let agent: Vec<String> = [binary.to_str().expect("UTF-8 path"), "denials"]
            .into_iter()
            .chain(args.iter().copied())
            .chain(["--listen", &listen])
            .map(str::to_owned)
            .collect();
        let mut command = if own_netns {
            assert!(
                Path::new(IP).exists(),
                "{IP} not found: apt-get install iproute2 (brings up loopback in the test's network namespace)"
            );
            // `unshare` without --fork execs: the agent keeps the child's pid.
            let mut c = Command::new("unshare");
            c.args([
                "--net",
                "sh",
                "-c",
                "ip link set lo up && exec \"$@\"",
                "sh",
            ])
            .args(&agent);
            c
        } else {
            let mut c = Command::new(&agent[0]);
            c.args(&agent[1..]);
            c
        };
        let child = command
            .stdout(stdout)
            .stderr(stderr)
            .env("NO_COLOR", "1")
            .spawn()
            .expect("start the agent");
        Self {
            child,
            log,
            _dir: dir,
        }
    }

    /// The agent's network namespace, once `unshare` has made it (until then the child is in
    /// the test's).
    fn netns(&self) -> PathBuf {
        let ours = std::fs::metadata("/proc/self/ns/net")
            .expect("own netns")
            .ino();
        let theirs = PathBuf::from(format!("/proc/{}/ns/net", self.child.id()));
        let deadline = Instant::now() + LIMIT;
        while std::fs::metadata(&theirs).map(|m| m.ino()).ok() == Some(ours) {
            assert!(
                Instant::now() < deadline,
                "unshare --net did not take effect"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        theirs
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the agent's log contains `words`.
    fn wait_for_log(&self, words: &str) {
        let deadline = Instant::now() + LIMIT;
        while !self.log().contains(words) {
            assert!(
                Instant::now() < deadline,
                "the agent never logged {words:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET path` until its status is `code` (the agent changes its mind as its watch goes).
    fn get_until(&mut self, listen: SocketAddr, path: &str, code: u16) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let (got, body) = self.get(listen, path);
            if got == code {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{path} stays {got} ({body}), not {code}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET path` once the agent answers (from the calling thread's network namespace).
    fn get(&mut self, listen: SocketAddr, path: &str) -> (u16, String) {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the agent exited ({status}): {}", self.log());
            }
            if let Some(answer) = scrape::get(listen, path) {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "the agent does not answer on {listen}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn in_a_network_namespace_of_its_own_the_agent_says_it_receives_nothing() {
    let listen: SocketAddr = "127.0.0.1:9464".parse().expect("address");
    let mut agent = Agent::start(listen, true);
    let netns = agent.netns();
    let (ready, metrics) = netns::within(&netns, || {
        (agent.get(listen, "/readyz"), agent.get(listen, "/metrics"))
    })
    .expect("join the agent's network namespace");
    assert_eq!(ready.0, 503, "/readyz: {}", ready.1);
    for words in ["not in the host's initial network namespace", "on the host"] {
        assert!(ready.1.contains(words), "/readyz: {}", ready.1);
    }
    assert_eq!(
        scrape::sample(&metrics.1, "landlock_denials_initial_network_namespace"),
        Some(0.0),
        "{}",
        metrics.1
    );
    let log = agent.log();
    assert!(
        log.contains("not in the host's initial network namespace")
            && log.contains("VMs or machines"),
        "log: {log}"
    );
}

#[test]
fn in_the_initial_network_namespace_the_agent_does_not_complain() {
    let listen = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let mut agent = Agent::start(listen, false);
    let (_, ready) = agent.get(listen, "/readyz");
    assert!(!ready.contains("network namespace"), "/readyz: {ready}");
    let (_, metrics) = agent.get(listen, "/metrics");
    assert_eq!(
        scrape::sample(&metrics, "landlock_denials_initial_network_namespace"),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        !agent
            .log()
            .contains("not in the host's initial network namespace"),
        "{}",
        agent.log()
    );
}

/// The cgroup v2 hierarchy: `/sys/fs/cgroup` on a unified host, `/sys/fs/cgroup/unified` on a
/// hybrid one.
fn cgroup2_root() -> PathBuf {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    mountinfo
        .lines()
        .find_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let point = mount.split(' ').nth(4)?;
            fs.starts_with("cgroup2 ").then(|| PathBuf::from(point))
        })
        .expect("a cgroup2 mount (the agent reads /proc/PID/cgroup, which needs one or v1)")
}

/// A cgroup tree made for the test, removed (deepest first) when dropped.
struct NestedCgroup {
    top: PathBuf,
    leaf: PathBuf,
}

impl NestedCgroup {
    fn create(root: &Path, path: &str) -> Self {
        let top = root.join(format!("landlock-test-{}", std::process::id()));
        let leaf = top.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(&leaf)
            .unwrap_or_else(|e| panic!("create cgroup {}: {e}", leaf.display()));
        Self { top, leaf }
    }
}

impl Drop for NestedCgroup {
    fn drop(&mut self) {
        let mut dir = self.leaf.clone();
        while dir.starts_with(&self.top) {
            let _ = std::fs::remove_dir(&dir);
            if !dir.pop() {
                break;
            }
        }
    }
}

#[test]
fn a_process_in_a_kind_node_cgroup_seen_from_the_host_maps_to_its_pod_and_container() {
    let root = cgroup2_root();
    let node = "a1".repeat(32);
    let id = "4c5a2b81f0e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f";
    let uid = "0e8f2c1a-5b3d-4e6f-8a9b-1c2d3e4f5a6b";
    let u = uid.replace('-', "_");
    for layout in [
        // kind on a systemd host: the node container's scope, then kubelet's systemd slices.
        format!(
            "system.slice/docker-{node}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{u}.slice/cri-containerd-{id}.scope"
        ),
        // The cgroupfs driver: the node container's cgroup, then kubelet's cgroupfs path.
        format!("docker/{node}/kubepods/besteffort/pod{uid}/{id}"),
    ] {
        let cgroup = NestedCgroup::create(&root, &layout);
        let mut sleeper = Command::new("sleep").arg("600").spawn().expect("sleep");
        let moved = std::fs::write(cgroup.leaf.join("cgroup.procs"), sleeper.id().to_string());
        let placement = cgroups::placement(Path::new("/proc"), sleeper.id());
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        moved.unwrap_or_else(|e| panic!("move into {}: {e}", cgroup.leaf.display()));
        assert_eq!(
            placement,
            Placement::Container(ContainerRef {
                pod_uid: uid.to_owned(),
                container_id: id.to_owned(),
            }),
            "{layout}"
        );
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// A kubeconfig for the API server at `server` (a token user: nothing checks it).
fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
    );
    std::fs::write(&path, text).expect("write the kubeconfig");
    path
}

/// The agent, in this network namespace, watching node-a's pods through `config`.
fn agent_watching_pods(listen: SocketAddr, config: &Path) -> Agent {
    Agent::start_with(
        listen,
        false,
        &[
            "--kubeconfig",
            config.to_str().expect("UTF-8 path"),
            "--node",
            "node-a",
        ],
    )
}

#[test]
fn an_agent_that_cannot_reach_the_api_server_is_not_ready_and_says_why() {
    let _audit = AuditGuard::enable();
    let dir = tempfile::tempdir().expect("tempdir");
    // Bound and released: nothing listens there.
    let closed = free_port();
    let config = kubeconfig(dir.path(), &format!("https://{closed}"));
    let listen = free_port();
    let mut agent = agent_watching_pods(listen, &config);
    agent.wait_for_log("watching this node's pods failed");
    let (code, ready) = agent.get(listen, "/readyz");
    assert_eq!(code, 503, "/readyz: {ready}");
    for words in ["watch of this node's pods", "unattributed", "NetworkPolicy"] {
        assert!(ready.contains(words), "/readyz: {ready}");
    }
    let (_, metrics) = agent.get(listen, "/metrics");
    assert_eq!(
        scrape::sample(&metrics, "landlock_denials_pod_watch_up"),
        Some(0.0),
        "{metrics}"
    );
}

/// An API server on loopback (plain HTTP) that lists no pods and holds watches open, until
/// it is stopped: then it closes every connection and listens no more.
struct FakeApiServer {
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeApiServer {
    fn start() -> Self {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake API server");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut open = Vec::new();
            while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                stream.set_nonblocking(false).expect("blocking");
                open.push(stream.try_clone().expect("clone the connection"));
                let stopping = stopping.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut stream = stream;
                    loop {
                        let mut request = String::new();
                        if reader.read_line(&mut request).unwrap_or(0) == 0 {
                            return;
                        }
                        // The headers (a GET has no body).
                        let mut line = String::new();
                        while reader.read_line(&mut line).unwrap_or(0) > 2 {
                            line.clear();
                        }
                        if request.contains("watch=true") {
                            // Headers, no event: the watch stays open until the server stops.
                            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
                            while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            return;
                        }
                        let body = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}"#;
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                    }
                });
            }
            drop(listener);
            for stream in open {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn an_agent_whose_pod_watch_lists_is_ready_and_not_once_the_api_server_is_gone() {
    let _audit = AuditGuard::enable();
    let mut server = FakeApiServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = kubeconfig(dir.path(), &format!("http://{}", server.addr));
    let listen = free_port();
    let mut agent = agent_watching_pods(listen, &config);
    let ready = agent.get_until(listen, "/readyz", 200);
    assert!(ready.starts_with("ok"), "/readyz: {ready}");
    let (_, metrics) = agent.get(listen, "/metrics");
    assert_eq!(
        scrape::sample(&metrics, "landlock_denials_pod_watch_up"),
        Some(1.0),
        "{metrics}"
    );
    server.stop();
    let ready = agent.get_until(listen, "/readyz", 503);
    assert!(
        ready.contains("watch of this node's pods"),
        "/readyz: {ready}"
    );
    let (_, metrics) = agent.get(listen, "/metrics");
    assert_eq!(
        scrape::sample(&metrics, "landlock_denials_pod_watch_up"),
        Some(0.0),
        "{metrics}"
    );
}

#[test]
fn enable_audit_raises_a_small_audit_backlog_limit_to_8192_and_leaves_a_larger_one() {
    // The guard puts back the enabled state and backlog limit it found when it drops.
    let _audit = AuditGuard::enable();
    let set = |limit: &str| {
        let out = Command::new(landlock_tests::audit::AUDITCTL)
            .args(["-b", limit])
            .output()
            .expect("auditctl -b");
        assert!(out.status.success(), "auditctl -b {limit}");
    };
    set("64");
    let listen = free_port();
    let agent = Agent::start_with(listen, false, &["--no-kube", "--enable-audit"]);
    agent.wait_for_log("raised the kernel's audit backlog limit from 64 to 8192");
    assert_eq!(audit_status().1, 8192, "auditctl -s backlog_limit");
    drop(agent);
    set("16384");
    let agent = Agent::start_with(listen, false, &["--no-kube", "--enable-audit"]);
    agent.wait_for_log("large enough; left as it is");
    assert_eq!(audit_status().1, 16384, "a larger limit is left alone");
}

/// A log pipeline that stops reading (here: a stdout pipe the test never reads, full after 64
/// KiB) must not stop the agent: it keeps reading the audit socket, counting every denial and
/// answering its probes, and counts the lines it had to drop. Written from its one thread, the
/// first full pipe had stopped all of it, probes included, and the kernel dropped what followed.
#[test]
fn a_stdout_nobody_reads_does_not_stop_the_agent_and_dropped_lines_are_counted() {
    const BURST: u64 = 10_000;
    let _audit = AuditGuard::enable();
    let listen = free_port();
    let mut agent = Agent::spawn(listen, false, &["--no-kube"], Stdio::piped());
    agent.wait_for_log("reporting Landlock denials");
    // One shell denied in a loop (a redirect, no fork): thousands of denials in seconds. Its
    // stderr is already open (/dev/null is not granted under `--profile none`).
    let script = format!("i=0; while [ $i -lt {BURST} ]; do true < /etc/shadow; i=$((i+1)); done");
    let status = denied_busybox_shell(&script)
        .status()
        .expect("run the shim on the host");
    assert!(status.success(), "the denied loop: {status}");
    let sample =
        r#"landlock_denials_total{namespace="",pod="",container="",blocker="fs.read_file"}"#;
    let deadline = Instant::now() + Duration::from_secs(120);
    let metrics = loop {
        let (_, metrics) = agent.get(listen, "/metrics");
        if scrape::sample(&metrics, sample).unwrap_or(0.0) >= BURST as f64
            && scrape::sample(
                &metrics,
                r#"landlock_denials_dropped_log_lines_total{stream="stdout"}"#,
            )
            .unwrap_or(0.0)
                > 0.0
        {
            break metrics;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not count {BURST} denials and its dropped lines: {metrics}\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        scrape::sample(&metrics, sample),
        Some(BURST as f64),
        "{metrics}"
    );
    let dropped = scrape::sample(
        &metrics,
        r#"landlock_denials_dropped_log_lines_total{stream="stdout"}"#,
    )
    .expect("dropped stdout lines");
    // The pipe holds ~128 lines and the queue 4096: the rest were dropped, not waited for.
    assert!(
        dropped >= (BURST - 4096 - 1024) as f64 && dropped < BURST as f64,
        "dropped {dropped} of {BURST}"
    );
    let (code, body) = agent.get(listen, "/healthz");
    assert_eq!(code, 200, "/healthz: {body}");
    assert_eq!(
        scrape::sample(&metrics, "landlock_denials_lost_records_total"),
        Some(0.0),
        "{metrics}"
    );
    println!("{BURST} denials counted with stdout unread; {dropped} lines dropped");
}

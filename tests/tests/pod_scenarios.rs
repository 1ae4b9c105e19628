//! End to end without a cluster: pods go through the webhook's real admission code path, then
//! run on runc with the real static shim (delivered by the injected init container), and each
//! scenario asserts what the processes actually did.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use landlock_tests::admit::{Admitted, admit};
use landlock_tests::pod_runner::bundle::ImageFacts;
use landlock_tests::pod_runner::{
    Cluster, Finished, Image, Images, PodRunner, Rootfs, busybox_images,
};
use landlock_tests::registry::TestRegistry;
use serde_json::{Value, json};
use webhook::admission::config::Config;
use webhook::admission::resolve::Offline;
use webhook::registry::pull_secrets::Fixed;
use webhook::registry::{Registry, RegistryOptions};

const LIMIT: Duration = Duration::from_secs(30);

fn cluster() -> Cluster {
    Cluster {
        config_maps: BTreeMap::from([(
            "app".to_owned(),
            BTreeMap::from([
                ("app.yaml".to_owned(), "greeting: hello\n".to_owned()),
                (
                    "tool.sh".to_owned(),
                    "#!/bin/sh\necho tool-ran\n".to_owned(),
                ),
            ]),
        )]),
        secrets: BTreeMap::from([(
            "tls".to_owned(),
            BTreeMap::from([("tls.crt".to_owned(), b"cert-v1".to_vec())]),
        )]),
    }
}

fn pod(annotations: Value, spec: Value) -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "scenario", "namespace": "apps", "annotations": annotations}, "spec": spec}))
    .expect("pod")
}

fn sh(name: &str, script: &str) -> Value {
    json!({"name": name, "image": "busybox", "command": ["/bin/sh", "-c", script]})
}

/// The pod the webhook admitted (offline: every container here sets `command`).
async fn admitted(pod: &Pod) -> Pod {
    match admit(pod, &Config::default(), &Offline).await {
        Admitted::Allowed(pod, _) => *pod,
        Admitted::Denied(message) => panic!("denied: {message}"),
    }
}

/// Runs the init containers (the installer first), then `container`.
fn run(pod: Pod, cluster: Cluster, images: Images, container: &str) -> (PodRunner, Finished) {
    let mut runner = PodRunner::new(pod, cluster, images).expect("pod");
    runner.run_init(LIMIT).expect("init containers");
    let done = runner.run(container, LIMIT).expect("container");
    (runner, done)
}

fn app_pod(extra_annotations: &[(&str, &str)], script: &str) -> Pod {
    let mut annotations =
        json!({"landlock-injector.io/inject": "true", "landlock-injector.io/read": "/srv"});
    for (k, v) in extra_annotations {
        annotations[format!("landlock-injector.io/{k}")] = json!(v);
    }
    let mut app = sh("app", script);
    app["volumeMounts"] = json!([
        {"name": "config", "mountPath": "/etc/app"},
        {"name": "tls", "mountPath": "/etc/tls"},
        {"name": "scratch", "mountPath": "/scratch"},
        {"name": "host", "mountPath": "/host"}]);
    pod(
        annotations,
        json!({
            "volumes": [
                {"name": "config", "configMap": {"name": "app", "defaultMode": 0o755}},
                {"name": "tls", "secret": {"secretName": "tls"}},
                {"name": "scratch", "emptyDir": {}},
                {"name": "host", "hostPath": {"path": host_dir()}}],
            "containers": [app],
        }),
    )
}

/// A node directory mounted as a hostPath volume (not annotated, so not granted).
fn host_dir() -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("scenario-host-path");
    std::fs::create_dir_all(&dir).expect("host dir");
    std::fs::write(dir.join("data.txt"), "host data\n").expect("host file");
    dir.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn s1_an_opted_in_pod_reads_its_paths_and_volumes_and_writes_its_empty_dir() {
    let p = admitted(&app_pod(&[], "cat /srv/index.html /etc/app/app.yaml /etc/tls/tls.crt; echo; echo note > /scratch/n && cat /scratch/n")).await;
    let (_, done) = run(p, cluster(), busybox_images(), "app");
    assert_eq!(done.exit_code, 0, "{done:?}");
    assert_eq!(
        done.stdout, "hello from /srv\ngreeting: hello\ncert-v1\nnote\n",
        "{done:?}"
    );
    assert!(
        done.stderr.contains("\"outcome\":\"enforced\""),
        "the shim's startup line: {}",
        done.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s2_everything_outside_the_grants_is_denied() {
    let script = "cat /etc/shadow || echo shadow-denied; \
                  cat /host/data.txt || echo host-denied; \
                  echo x > /etc/app/new || echo configmap-write-denied; \
                  /etc/app/tool.sh || echo exec-denied; \
                  ls / || echo list-root-denied";
    let p = admitted(&app_pod(&[], script)).await;
    let (_, done) = run(p, cluster(), busybox_images(), "app");
    assert_eq!(done.exit_code, 0, "{done:?}");
    assert_eq!(
        done.stdout,
        "shadow-denied\nhost-denied\nconfigmap-write-denied\nexec-denied\nlist-root-denied\n",
        "{done:?}"
    );
    assert_eq!(
        done.stderr.matches("Permission denied").count(),
        5,
        "{}",
        done.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_a_certificate_renewal_is_seen_without_a_denial() {
    let script = "last=; i=0; while [ $i -lt 400 ]; do now=$(cat /etc/tls/tls.crt 2>&1); \
                  if [ \"$now\" != \"$last\" ]; then echo \"seen $now\"; last=$now; fi; \
                  [ \"$now\" = cert-v3 ] && exit 0; sleep 0.05; i=$((i+1)); done; exit 1";
    let p = admitted(&app_pod(&[], script)).await;
    let mut runner = PodRunner::new(p, cluster(), busybox_images()).expect("pod");
    runner.run_init(LIMIT).expect("init");
    let mut app = runner.start("app").expect("start");
    app.wait_for_stdout("seen cert-v1", LIMIT).expect("v1");
    for version in ["cert-v2", "cert-v3"] {
        runner
            .update_secret(
                "tls",
                BTreeMap::from([("tls.crt".to_owned(), version.as_bytes().to_vec())]),
            )
            .expect("renewal");
        app.wait_for_stdout(&format!("seen {version}"), LIMIT)
            .expect("renewed");
    }
    let done = app.wait(LIMIT).expect("exits");
    assert_eq!(done.exit_code, 0, "{done:?}");
    assert_eq!(
        done.stdout, "seen cert-v1\nseen cert-v2\nseen cert-v3\n",
        "no denial in between: {done:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s4_the_image_entrypoint_read_from_a_real_registry_runs_with_its_cmd() {
    let registry = TestRegistry::start(None).expect("docker-registry");
    let image = registry
        .push(
            "greeter:1",
            &["/bin/echo", "from-entrypoint"],
            &["from-cmd"],
        )
        .await
        .expect("push");
    let resolver = Registry::new(
        RegistryOptions {
            extra_roots: vec![registry.ca_file()],
            ..RegistryOptions::default()
        },
        Fixed::default(),
    )
    .expect("resolver");
    let p = pod(
        json!({"landlock-injector.io/inject": "true"}),
        json!({"containers": [{"name": "app", "image": image}]}),
    );
    let p = match admit(&p, &Config::default(), &resolver).await {
        Admitted::Allowed(p, _) => *p,
        Admitted::Denied(m) => panic!("denied: {m}"),
    };
    let mut imgs = busybox_images();
    imgs.insert(
        image.clone(),
        Image {
            rootfs: Rootfs::Busybox,
            facts: ImageFacts {
                entrypoint: vec!["/bin/echo".into(), "from-entrypoint".into()],
                cmd: vec!["from-cmd".into()],
                env: vec![],
            },
        },
    );
    let (_, done) = run(p, cluster(), imgs, "app");
    assert_eq!(done.exit_code, 0, "{done:?}");
    assert_eq!(done.stdout, "from-entrypoint from-cmd\n");
    assert!(
        done.stderr.contains("\"exec\":\"/bin/echo\""),
        "it ran through the shim: {}",
        done.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s5_connect_tcp_allows_the_listed_port_only() {
    let server = sh(
        "server",
        "nc -l -p 7071 -e echo one & nc -l -p 7072 -e echo two & wait",
    );
    let client = sh(
        "client",
        "i=0; until nc 127.0.0.1 7071 </dev/null; do i=$((i+1)); [ $i -gt 100 ] && break; sleep 0.05; done; \
         nc 127.0.0.1 7072 </dev/null || echo second-denied",
    );
    let p = admitted(&pod(
        json!({"landlock-injector.io/inject": "true",
               "landlock-injector.io/server.bind-tcp": "7071,7072",
               "landlock-injector.io/client.connect-tcp": "7071"}),
        json!({"containers": [server, client]}),
    ))
    .await;
    let mut runner = PodRunner::new(p, cluster(), busybox_images()).expect("pod");
    runner.run_init(LIMIT).expect("init");
    let _server = runner.start("server").expect("server");
    let done = runner.run("client", LIMIT).expect("client");
    assert_eq!(done.stdout, "one\nsecond-denied\n", "{done:?}");
    assert!(done.stderr.contains("Permission denied"), "{}", done.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn s6_enforce_dry_run_and_the_none_profile() {
    // enforce: a requested path that does not exist -> the program never runs.
    let p = admitted(&app_pod(
        &[("mode", "enforce"), ("app.read", "/nonexistent")],
        "echo ran",
    ))
    .await;
    let (_, done) = run(p, cluster(), busybox_images(), "app");
    assert_eq!(done.exit_code, 1, "{done:?}");
    assert!(!done.stdout.contains("ran"), "{done:?}");
    assert!(
        done.stderr.contains("refusing to run") && done.stderr.contains("/nonexistent"),
        "{}",
        done.stderr
    );

    // dry-run: logged, not restricted.
    let p = admitted(&app_pod(&[("mode", "dry-run")], "cat /etc/shadow")).await;
    let (_, done) = run(p, cluster(), busybox_images(), "app");
    assert_eq!(done.exit_code, 0, "{done:?}");
    assert!(done.stdout.contains("NOT-A-REAL-HASH"), "{done:?}");
    assert!(
        done.stderr.contains("\"outcome\":\"dry-run\""),
        "{}",
        done.stderr
    );

    // none: only stdout works (busybox is static; it needs only itself).
    let p = admitted(&pod(
        json!({"landlock-injector.io/inject": "true", "landlock-injector.io/profile": "none",
               "landlock-injector.io/read-exec": "/bin/busybox"}),
        json!({"containers": [sh("app", "echo to-stdout; cat /etc/passwd || echo passwd-denied")]}),
    ))
    .await;
    let (_, done) = run(p, cluster(), busybox_images(), "app");
    assert_eq!(done.stdout, "to-stdout\npasswd-denied\n", "{done:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_unannotated_pods_run_unchanged_and_bad_annotations_never_run() {
    let plain = pod(
        json!({}),
        json!({"containers": [sh("app", "cat /etc/shadow")]}),
    );
    let admitted_plain = admitted(&plain).await;
    assert_eq!(
        serde_json::to_value(&admitted_plain).ok(),
        serde_json::to_value(&plain).ok(),
        "unchanged"
    );
    let (_, done) = run(admitted_plain, cluster(), busybox_images(), "app");
    assert!(
        done.stdout.contains("NOT-A-REAL-HASH"),
        "unsandboxed, the file is readable: {done:?}"
    );

    let bad = pod(
        json!({"landlock-injector.io/inject": "true", "landlock-injector.io/app.write": "tmp"}),
        json!({"containers": [sh("app", "echo ran")]}),
    );
    match admit(&bad, &Config::default(), &Offline).await {
        Admitted::Denied(message) => {
            assert!(
                message.contains("landlock-injector.io/app.write") && message.contains("\"tmp\""),
                "{message}"
            )
        }
        Admitted::Allowed(..) => panic!("a bad annotation must be denied, so the pod never runs"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s8_init_containers_and_native_sidecars_are_sandboxed_too() {
    let mut sidecar = sh(
        "proxy",
        "cat /etc/shadow || echo sidecar-denied; sleep 1000",
    );
    sidecar["restartPolicy"] = json!("Always");
    let p = admitted(&pod(
        json!({"landlock-injector.io/inject": "true"}),
        json!({"initContainers": [sh("migrate", "cat /etc/shadow || echo init-denied"), sidecar],
               "containers": [sh("app", "cat /etc/shadow || echo app-denied")]}),
    ))
    .await;
    let inits = p
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .expect("inits");
    assert_eq!(inits[0].name, "landlock-shim-install");
    let mut runner = PodRunner::new(p, cluster(), busybox_images()).expect("pod");
    let finished = runner.run_init(LIMIT).expect("init");
    let migrate = finished
        .iter()
        .find(|f| f.name == "migrate")
        .expect("migrate ran");
    assert_eq!(migrate.stdout, "init-denied\n", "{migrate:?}");
    runner
        .sidecar("proxy")
        .expect("sidecar running")
        .wait_for_stdout("sidecar-denied", LIMIT)
        .expect("sidecar denied");
    let done = runner.run("app", LIMIT).expect("app");
    assert_eq!(done.stdout, "app-denied\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn s9_every_process_of_the_container_reads_its_own_proc_self() {
    // A container has its own PID namespace: the shim is PID 1 and grants /proc, so a
    // subshell (another process) reads its own /proc/self, in enforce mode.
    let script =
        "(head -1 /proc/self/status); (grep -c . /proc/self/maps > /dev/null && echo maps-ok)";
    let p = admitted(&app_pod(&[("mode", "enforce")], script)).await;
    let (_, done) = run(p, cluster(), busybox_images(), "app");
    assert_eq!(done.exit_code, 0, "{done:?}");
    assert_eq!(done.stdout, "Name:\thead\nmaps-ok\n", "{done:?}");
    assert!(
        done.stderr.contains("\"/proc\":\"profile:default\""),
        "{}",
        done.stderr
    );
}

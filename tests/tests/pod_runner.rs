//! The pod runner itself, on real runc: what kubelet does with a pod, before any sandbox.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use landlock_tests::pod_runner::bundle::ImageFacts;
use landlock_tests::pod_runner::{Cluster, HarnessError, Image, Images, PodRunner, Rootfs};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(20);

fn images() -> Images {
    Images::from([(
        "busybox".to_owned(),
        Image {
            rootfs: Rootfs::Busybox,
            facts: ImageFacts {
                entrypoint: vec!["/bin/echo".to_owned(), "entrypoint".to_owned()],
                cmd: vec!["cmd".to_owned()],
                env: vec![],
            },
        },
    )])
}

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "harness", "namespace": "apps"}, "spec": spec}))
    .expect("pod")
}

fn cluster() -> Cluster {
    Cluster {
        config_maps: BTreeMap::from([(
            "app".to_owned(),
            BTreeMap::from([
                ("app.yaml".to_owned(), "v: 1\n".to_owned()),
                ("other".to_owned(), "x\n".to_owned()),
            ]),
        )]),
        secrets: BTreeMap::from([(
            "tls".to_owned(),
            BTreeMap::from([("tls.crt".to_owned(), b"cert-1\n".to_vec())]),
        )]),
    }
}

fn sh(name: &str, script: &str) -> serde_json::Value {
    json!({"name": name, "image": "busybox", "command": ["/bin/sh", "-c", script]})
}

#[test]
fn init_containers_share_an_empty_dir_with_containers_and_args_follow_kubernetes_rules() {
    let mut c1 = sh("reader", "cat /shared/greeting");
    c1["volumeMounts"] = json!([{"name": "shared", "mountPath": "/shared"}]);
    let mut init = sh("writer", "echo hello > /shared/greeting");
    init["volumeMounts"] = json!([{"name": "shared", "mountPath": "/shared"}]);
    let p = pod(json!({
        "volumes": [{"name": "shared", "emptyDir": {}}],
        "initContainers": [init],
        "containers": [c1,
            {"name": "both", "image": "busybox", "command": ["/bin/echo", "command"], "args": ["args"]},
            {"name": "command-only", "image": "busybox", "command": ["/bin/echo", "command"]},
            {"name": "args-only", "image": "busybox", "args": ["args"]},
            {"name": "neither", "image": "busybox"}],
    }));
    let mut runner = PodRunner::new(p, cluster(), images()).expect("pod");
    let done = runner.run_to_completion(LIMIT).expect("runs");
    let out: BTreeMap<&str, &str> = done
        .iter()
        .map(|f| (f.name.as_str(), f.stdout.as_str()))
        .collect();
    assert_eq!(out["reader"], "hello\n");
    assert_eq!(out["both"], "command args\n");
    assert_eq!(out["command-only"], "command\n");
    assert_eq!(out["args-only"], "entrypoint args\n");
    assert_eq!(out["neither"], "entrypoint cmd\n");
}

#[test]
fn config_map_and_secret_volumes_have_the_atomic_writer_layout_and_updates_arrive() {
    let mut c = sh(
        "app",
        "ls -a /etc/app; readlink /etc/app/..data; stat -c %a /etc/app/..data/app.yaml /etc/tls/..data/crt; \
         cat /etc/app.yaml; echo x > /etc/app/new 2>&1 || echo write-refused; \
         i=0; while [ $i -lt 200 ]; do if grep -q 'v: 2' /etc/app/app.yaml; then echo updated; break; fi; sleep 0.05; i=$((i+1)); done; \
         cat /etc/app.yaml",
    );
    c["volumeMounts"] = json!([
        {"name": "config", "mountPath": "/etc/app", "readOnly": true},
        {"name": "config", "mountPath": "/etc/app.yaml", "subPath": "app.yaml"},
        {"name": "tls", "mountPath": "/etc/tls"}]);
    let p = pod(json!({
        "volumes": [{"name": "config", "configMap": {"name": "app", "defaultMode": 0o440}},
                    {"name": "tls", "secret": {"secretName": "tls", "items": [{"key": "tls.crt", "path": "crt", "mode": 0o400}]}}],
        "containers": [c],
    }));
    let mut runner = PodRunner::new(p, cluster(), images()).expect("pod");
    let mut app = runner.start("app").expect("start");
    app.wait_for_stdout("v: 1", LIMIT).expect("first read");
    runner
        .update_config_map(
            "app",
            BTreeMap::from([("app.yaml".to_owned(), "v: 2\n".to_owned())]),
        )
        .expect("update");
    let done = app.wait(LIMIT).expect("finishes");
    assert_eq!(done.exit_code, 0, "{done:?}");
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert!(
        lines.contains(&"..data") && lines.contains(&"app.yaml") && lines.contains(&"other"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("..20")),
        "a timestamped payload dir: {lines:?}"
    );
    assert!(
        lines.contains(&"440") && lines.contains(&"400"),
        "modes: {lines:?}"
    );
    assert!(
        done.stdout.contains("write-refused") && done.stderr.contains("Read-only file system"),
        "{done:?}"
    );
    assert!(
        done.stdout.contains("updated"),
        "the full mount sees the update: {done:?}"
    );
    assert_eq!(
        lines.last(),
        Some(&"v: 1"),
        "the subPath mount does not: {done:?}"
    );
}

#[test]
fn user_no_new_privileges_and_loopback_between_containers() {
    let mut server = sh("server", "echo pong | nc -l -p 7070");
    server["securityContext"] = json!({"runAsUser": 65532, "allowPrivilegeEscalation": false});
    let client = sh(
        "client",
        "id -u; grep NoNewPrivs /proc/self/status; i=0; until nc 127.0.0.1 7070 </dev/null; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.05; done",
    );
    let p = pod(json!({"containers": [server, client]}));
    let mut runner = PodRunner::new(p, cluster(), images()).expect("pod");
    let server = runner.start("server").expect("server");
    let client = runner.run("client", LIMIT).expect("client");
    let server = server.wait(LIMIT).expect("server ends");
    assert_eq!(client.exit_code, 0, "{client:?}");
    assert!(
        client.stdout.starts_with("0\nNoNewPrivs:\t0\n"),
        "{client:?}"
    );
    assert!(client.stdout.contains("pong"), "{client:?}");
    assert_eq!(server.exit_code, 0, "{server:?}");

    let mut who = sh("who", "id -u; grep NoNewPrivs /proc/self/status");
    who["securityContext"] = json!({"runAsUser": 65532, "allowPrivilegeEscalation": false});
    let mut runner =
        PodRunner::new(pod(json!({"containers": [who]})), cluster(), images()).expect("pod");
    let done = runner.run("who", LIMIT).expect("runs");
    assert_eq!(done.stdout, "65532\nNoNewPrivs:\t1\n");
}

#[test]
fn a_failing_init_container_stops_the_pod_and_a_stuck_one_times_out() {
    let p = pod(
        json!({"initContainers": [sh("fails", "echo bad >&2; exit 3")], "containers": [sh("never", "echo ran")]}),
    );
    let mut runner = PodRunner::new(p, cluster(), images()).expect("pod");
    let err = runner.run_to_completion(LIMIT).unwrap_err().to_string();
    assert!(
        err.contains("init container fails exited 3") && err.contains("bad"),
        "{err}"
    );

    let p = pod(json!({"containers": [sh("stuck", "echo started; sleep 1000")]}));
    let mut runner = PodRunner::new(p, cluster(), images()).expect("pod");
    let err = runner.run("stuck", Duration::from_secs(2)).unwrap_err();
    assert!(
        matches!(err, HarnessError::Timeout { ref stdout, .. } if stdout == "started\n"),
        "{err}"
    );
}

//! Runtime discovery against real mounts: the test bind-mounts kubelet-shaped volumes in a
//! private mount namespace (so the host is untouched) and runs the shim inside it, with
//! discovery on and nothing granted by flag.

mod support;

use std::process::{Command, Stdio};
use support::{Run, SHIM, require, require_root, s, scratch, write};

fn require_mount_namespaces() {
    require("/usr/bin/unshare", "util-linux");
    require("/bin/mount", "mount");
    require_root("makes mount namespaces");
}

/// Runs the shell `script` in a private mount namespace (its mounts never reach the host).
fn in_private_mount_namespace(script: &str) -> Run {
    Command::new("/usr/bin/unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            script,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run unshare")
        .into()
}

#[test]
fn bind_mounted_kubelet_volumes_are_discovered_and_plain_mounts_are_not() {
    require_mount_namespaces();

    let dir = scratch();
    let root = dir.path();
    // The kubelet side: a ConfigMap volume written by the atomic writer.
    let volumes = root.join("kubelet/pods/0f0e/volumes");
    let config = volumes.join("kubernetes.io~configmap/config");
    let payload = "..2026_11_23_10_00_00.123456789";
    write(&config.join(payload).join("app.yaml"), "app: yes\n");
    std::os::unix::fs::symlink(payload, config.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/app.yaml", config.join("app.yaml")).unwrap();
    // A plain directory, mounted too, but not written by kubelet: never discovered.
    write(&root.join("plain-src/f"), "plain\n");
    // The container side.
    for target in ["ctr/etc/app", "ctr/plain"] {
        std::fs::create_dir_all(root.join(target)).unwrap();
    }
    write(&root.join("ctr/app.yaml"), "");

    let ctr = root.join("ctr");
    let script = format!(
        "set -e
mount --bind {config} {ctr}/etc/app
mount --bind {config}/{payload}/app.yaml {ctr}/app.yaml
mount --bind {plain} {ctr}/plain
exec {shim} --mode enforce -- /bin/sh -c 'cat {ctr}/etc/app/app.yaml; cat {ctr}/app.yaml; cat {ctr}/plain/f || echo plain-denied'",
        config = s(&config),
        plain = s(&root.join("plain-src")),
        ctr = s(&ctr),
        shim = SHIM.as_str(),
    );
    let run = in_private_mount_namespace(&script);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stdout, "app: yes\napp: yes\nplain-denied\n", "{run:#?}");
    let line = run.startup_line();
    assert_eq!(line["outcome"], "enforced", "{line}");
    let volume_dir = format!("{}/etc/app", s(&ctr));
    let sub_path = format!("{}/app.yaml", s(&ctr));
    assert_eq!(line["ro"][&volume_dir], "discovered:configmap", "{line}");
    assert_eq!(
        line["ro"][&sub_path], "discovered:configmap subPath",
        "{line}"
    );
    assert!(
        line["ro"].get(format!("{}/plain", s(&ctr))).is_none(),
        "{line}"
    );
}

#[test]
fn on_a_node_kubelets_host_side_volume_mounts_are_not_discovered() {
    require_mount_namespaces();

    // A node as kubelet (with a root directory of its own choosing) lays it out: each pod's
    // Secret volume is a tmpfs mounted in kubelet's directory and filled by the atomic writer.
    // One of them is also mounted into "our container" (ctr/etc/tls).
    let dir = scratch();
    let root = dir.path();
    let other = root.join(
        "kubelet-root/pods/0c6d1f0e-1111-4d5c-9a51-2f0c7c1f3e11/volumes/kubernetes.io~secret/db",
    );
    let ours = root.join(
        "kubelet-root/pods/5b8f0c1e-4a8e-4d5c-9a51-2f0c7c1f3e11/volumes/kubernetes.io~secret/tls",
    );
    let in_ctr = root.join("ctr/etc/tls");
    for d in [&other, &ours, &in_ctr] {
        std::fs::create_dir_all(d).unwrap();
    }
    let payload = "..2026_11_23_10_00_00.123456789";
    let fill = |volume: &std::path::Path, key: &str| {
        format!(
            "mount -t tmpfs tmpfs {v}\nmkdir {v}/{payload}\necho {key} > {v}/{payload}/{key}\nln -s {payload} {v}/..data\nln -s ..data/{key} {v}/{key}\n",
            v = s(volume)
        )
    };
    let script = format!(
        "set -e\n{}{}mount --bind {ours} {ctr}\nexec {shim} --mode enforce -- /bin/sh -c 'cat {ctr}/tls.key; cat {other}/db.key || echo other-pod-denied'",
        fill(&other, "db.key"),
        fill(&ours, "tls.key"),
        ours = s(&ours),
        ctr = s(&in_ctr),
        other = s(&other),
        shim = SHIM.as_str(),
    );
    let run = in_private_mount_namespace(&script);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stdout, "tls.key\nother-pod-denied\n", "{run:#?}");
    let line = run.startup_line();
    // A tmpfs bind mount shows no plugin in its source: a "kubelet volume".
    assert_eq!(
        line["ro"][s(&in_ctr)],
        "discovered:kubelet volume",
        "{line}"
    );
    for host_side in [&other, &ours] {
        assert!(line["ro"].get(s(host_side)).is_none(), "{line}");
    }
    let kubelet_pods = format!("{}/kubelet-root/pods", s(root));
    assert!(
        run.stderr.contains(&format!(
            "landlock-shim: warning: {kubelet_pods}: 2 mount(s) of kubelet's own"
        )),
        "{run:#?}"
    );
}

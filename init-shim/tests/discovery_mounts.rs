//! Runtime discovery against real mounts: the test bind-mounts kubelet-shaped volumes in a
//! private mount namespace (so the host is untouched) and runs the shim inside it, with
//! discovery on and nothing granted by flag.

mod support;

use std::process::{Command, Stdio};
use support::{Run, SHIM, require, s, scratch, write};

#[test]
fn bind_mounted_kubelet_volumes_are_discovered_and_plain_mounts_are_not() {
    require("/usr/bin/unshare", "util-linux");
    require("/bin/mount", "mount");
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test makes mount namespaces: run it as root (CI does)"
    );

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
    let run: Run = Command::new("/usr/bin/unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            &script,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run unshare")
        .into();
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

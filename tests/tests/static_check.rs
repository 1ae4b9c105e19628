//! `deploy/check-static`, the check deploy/Dockerfile runs on both binaries before copying them
//! into `FROM scratch` images: it must fail when any one of them is dynamically linked (the
//! pipeline it replaced, `file /out/* | grep -v "dynamically linked"`, passed as long as one
//! line was not dynamic).

use std::process::{Command, Output};

use landlock_tests::pod_runner::require;
use landlock_tests::static_build::workspace_root;

fn check_static(binaries: &[&str]) -> Output {
    require("/usr/bin/file", "file").unwrap_or_else(|e| panic!("{e}"));
    Command::new(workspace_root().join("deploy/check-static"))
        .args(binaries)
        .output()
        .expect("run deploy/check-static")
}

#[test]
fn every_binary_must_be_static() {
    require("/bin/busybox", "busybox-static").unwrap_or_else(|e| panic!("{e}"));
    let this_test = std::env::current_exe().expect("the test binary");
    let dynamic = this_test.to_str().expect("utf-8 path");
    let file = String::from_utf8_lossy(
        &Command::new("/usr/bin/file")
            .arg(dynamic)
            .output()
            .expect("file")
            .stdout,
    )
    .into_owned();
    assert!(
        file.contains("dynamically linked"),
        "the test binary is the dynamic example: {file}"
    );

    let out = check_static(&["/bin/busybox"]);
    assert!(out.status.success(), "{out:?}");

    for binaries in [
        vec!["/bin/busybox", dynamic],
        vec![dynamic, "/bin/busybox"],
        vec![dynamic],
    ] {
        let out = check_static(&binaries);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{binaries:?}: {out:?}");
        assert!(
            stderr.contains(&format!("{dynamic} is not statically linked")),
            "{stderr}"
        );
    }

    let missing = check_static(&["/nonexistent/landlock-webhook"]);
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert_eq!(check_static(&[]).status.code(), Some(2));
}

#[test]
fn the_dockerfile_checks_both_binaries() {
    let dockerfile = std::fs::read_to_string(workspace_root().join("deploy/Dockerfile"))
        .expect("deploy/Dockerfile");
    assert!(
        dockerfile.contains("deploy/check-static /out/landlock-shim /out/landlock-webhook"),
        "deploy/Dockerfile must run deploy/check-static on both binaries"
    );
}

//! The release shim is what every pod runs first: it must be fully static (the container image
//! may have no libc at all, or a different one) and small (it is copied into every pod).

use landlock_tests::static_build::static_binary;
use std::process::Command;

/// Size budget for the release shim (1.5 MiB, issue 11). init-shim/README.md reports the measured size.
const MAX_BYTES: u64 = 3 * 512 * 1024;

fn output(program: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (apt-get install file / libc-bin): {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[test]
fn the_release_shim_is_static_small_and_sandboxes() {
    let shim = static_binary("init-shim", "landlock-shim").expect("static build");
    let shim = shim.to_str().expect("UTF-8 target path");

    let (_, file) = output("file", &[shim]);
    // Not `static-pie`: the shim is linked at a fixed address, nothing to relocate at start.
    assert!(
        file.contains("statically linked"),
        "`file` must call it static (not static-pie): {file}"
    );
    // musl, not glibc (whose static binaries `file` tags "for GNU/Linux"): glibc's start-up
    // probes the CPU, which costs every sandboxed exec ~0.1 ms on virtual machines.
    assert!(
        !file.contains("GNU/Linux"),
        "the shim must be built for x86_64-unknown-linux-musl, not glibc: {file}"
    );
    let (_, ldd) = output("ldd", &[shim]);
    assert!(
        ldd.contains("statically linked") || ldd.contains("not a dynamic executable"),
        "`ldd` must find no shared libraries: {ldd}"
    );

    let size = std::fs::metadata(shim).expect("stat the shim").len();
    assert!(
        size <= MAX_BYTES,
        "the shim is {size} bytes, budget {MAX_BYTES}"
    );
    eprintln!("static landlock-shim: {size} bytes");

    // The static binary sandboxes for real: /etc/shadow is denied, /etc/hostname (in the
    // minimal profile) is allowed.
    let busybox = "/usr/bin/busybox";
    assert!(
        std::path::Path::new(busybox).exists(),
        "{busybox} not found (apt-get install busybox-static)"
    );
    let (code, text) = output(
        shim,
        &[
            "--no-discover",
            "--profile",
            "minimal",
            "--rx",
            busybox,
            "--",
            busybox,
            "cat",
            "/etc/shadow",
        ],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
    let (code, text) = output(
        shim,
        &[
            "--no-discover",
            "--profile",
            "minimal",
            "--rx",
            busybox,
            "--",
            busybox,
            "cat",
            "/etc/hostname",
        ],
    );
    assert_eq!(code, Some(0), "{text}");
}

//! A command line as a POSIX shell reads it (`suggest --format flags` prints one to paste).

/// The words `/bin/sh` makes of `line` (no command runs: they are only printed back).
pub fn words(line: &str) -> Vec<String> {
    let output = std::process::Command::new("/bin/sh")
        .args(["-c", &format!("printf '%s\\0' {line}")])
        .output()
        .unwrap_or_else(|e| panic!("/bin/sh (required): {e}"));
    assert!(output.status.success(), "sh could not read {line:?}");
    output
        .stdout
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

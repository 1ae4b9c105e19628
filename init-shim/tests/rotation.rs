//! Certificate and ConfigMap rotation: kubelet's atomic writer swaps a `..data` symlink to a new
//! timestamped directory. A sandboxed program must keep reading through the swap, which is why
//! the shim grants the volume's directory and never the resolved leaf file.

mod support;

use std::io::{BufRead, BufReader, Lines};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::{PROBE, PYTHON, SHIM, require, s, scratch, write};

/// Writes a new payload directory the way kubelet's atomic writer does: a fresh
/// `..<timestamp>` directory, a `..data_tmp` symlink to it, renamed over `..data`, then the old
/// payload directory removed.
fn kubelet_write(volume: &Path, generation: u32, content: &str) {
    let payload = format!("..2026_11_23_10_00_0{generation}.{}", 1000 + generation);
    write(&volume.join(&payload).join("tls.crt"), content);
    let old = std::fs::read_link(volume.join("..data")).ok();
    symlink(&payload, volume.join("..data_tmp")).expect("symlink ..data_tmp");
    std::fs::rename(volume.join("..data_tmp"), volume.join("..data")).expect("swap ..data");
    if !volume.join("tls.crt").exists() {
        symlink("..data/tls.crt", volume.join("tls.crt")).expect("user-visible symlink");
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(volume.join(old)).expect("remove the old payload");
    }
}

/// A sandboxed probe polling a file for up to 20 seconds, printing each new content it sees.
struct Poller {
    child: Child,
    seen: mpsc::Receiver<String>,
}

impl Poller {
    fn start(grant: &str, file: &str) -> Self {
        require(PYTHON, "python3");
        let mut child = Command::new(SHIM.as_str())
            .args([
                "--no-discover",
                "--ro",
                grant,
                "--",
                PYTHON,
                "-c",
                PROBE,
                "poll",
                file,
                "20",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn landlock-shim");
        let lines: Lines<BufReader<ChildStdout>> =
            BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let (tx, seen) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, seen }
    }

    /// Waits until the probe reports `expected` (e.g. `seen v2`), failing after 10 seconds.
    fn expect(&mut self, expected: &str) {
        let mut got = Vec::new();
        loop {
            match self.seen.recv_timeout(Duration::from_secs(10)) {
                Ok(line) if line == expected => return,
                Ok(line) => got.push(line),
                Err(_) => {
                    let _ = self.child.kill();
                    let mut stderr = String::new();
                    if let Some(mut pipe) = self.child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                    }
                    panic!("the probe never printed {expected:?}; it printed {got:?}\n{stderr}");
                }
            }
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_directory_grant_keeps_working_across_data_swaps() {
    let dir = scratch();
    let volume = dir.path().join("tls");
    kubelet_write(&volume, 1, "v1");
    let file = volume.join("tls.crt");
    let mut poller = Poller::start(s(&volume), s(&file));
    poller.expect("seen v1");
    kubelet_write(&volume, 2, "v2");
    poller.expect("seen v2");
    kubelet_write(&volume, 3, "v3");
    poller.expect("seen v3");
}

#[test]
fn a_leaf_file_grant_breaks_after_the_first_swap() {
    let dir = scratch();
    let volume = dir.path().join("tls");
    kubelet_write(&volume, 1, "v1");
    let file = volume.join("tls.crt");
    // Granting the file follows the symlinks to the payload's inode: the old generation.
    let mut poller = Poller::start(s(&file), s(&file));
    poller.expect("seen v1");
    kubelet_write(&volume, 2, "v2");
    poller.expect("seen error EACCES");
}

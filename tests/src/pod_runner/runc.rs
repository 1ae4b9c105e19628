//! Running one OCI bundle with `runc run` (foreground, no terminal), capturing stdout and
//! stderr separately, with a time limit, and always cleaning up (`runc delete --force`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{HarnessError, io, require};

/// Debian's runc.
pub const RUNC: &str = "/usr/sbin/runc";

/// Debian's runc where it is (`/usr/sbin`, or `/usr/bin` on other systems).
pub fn binary() -> &'static str {
    if Path::new(RUNC).exists() {
        RUNC
    } else {
        "/usr/bin/runc"
    }
}

/// A container that finished.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The container's name.
    pub name: String,
    /// Its exit status (128 + signal when killed by one).
    pub exit_code: i32,
    /// What it wrote to stdout.
    pub stdout: String,
    /// What it wrote to stderr.
    pub stderr: String,
}

/// A running container.
pub struct Running {
    /// The container's name in the pod.
    pub name: String,
    id: String,
    state_root: PathBuf,
    child: Option<Child>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn pump(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(&buf[..n]);
        }
    })
}

fn text(buf: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(
        &buf.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned()
}

impl Running {
    /// Starts the bundle at `bundle` as container `id`.
    pub fn start(
        name: &str,
        id: &str,
        bundle: &Path,
        state_root: &Path,
    ) -> Result<Self, HarnessError> {
        let runc = binary();
        require(runc, "runc")?;
        let mut child = Command::new(runc)
            .arg("--root")
            .arg(state_root)
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io(format!("start runc for {name}")))?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(pump(out, stdout.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(pump(err, stderr.clone()));
        }
        Ok(Self {
            name: name.to_owned(),
            id: id.to_owned(),
            state_root: state_root.to_path_buf(),
            child: Some(child),
            stdout,
            stderr,
            readers,
        })
    }

    /// Stdout so far.
    pub fn stdout(&self) -> String {
        text(&self.stdout)
    }

    /// Stderr so far.
    pub fn stderr(&self) -> String {
        text(&self.stderr)
    }

    /// Waits until stdout contains `needle`; fails (and stops the container) after `limit`.
    pub fn wait_for_stdout(&mut self, needle: &str, limit: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + limit;
        while !self.stdout().contains(needle) {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some();
            if exited || Instant::now() > deadline {
                let (stdout, stderr) = (self.stdout(), self.stderr());
                self.stop();
                return Err(HarnessError::Pod(format!(
                    "container {} never printed {needle:?}{}\nstdout: {stdout}\nstderr: {stderr}",
                    self.name,
                    if exited { " (it exited)" } else { "" }
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Whether the container is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits for the container to exit; kills it and fails after `limit`.
    pub fn wait(mut self, limit: Duration) -> Result<Finished, HarnessError> {
        let deadline = Instant::now() + limit;
        let status = loop {
            let Some(child) = self.child.as_mut() else {
                return Err(HarnessError::Pod(format!(
                    "container {} was already stopped",
                    self.name
                )));
            };
            if let Some(status) = child.try_wait().map_err(io("wait for runc"))? {
                break status;
            }
            if Instant::now() > deadline {
                let (stdout, stderr) = (self.stdout(), self.stderr());
                self.stop();
                return Err(HarnessError::Timeout {
                    name: self.name.clone(),
                    seconds: limit.as_secs(),
                    stdout,
                    stderr,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.child = None;
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let exit_code = status
            .code()
            .or_else(|| std::os::unix::process::ExitStatusExt::signal(&status).map(|s| 128 + s))
            .unwrap_or(-1);
        Ok(Finished {
            name: self.name.clone(),
            exit_code,
            stdout: self.stdout(),
            stderr: self.stderr(),
        })
    }

    /// Kills the container and removes it from runc's state.
    pub fn stop(&mut self) {
        let runc = binary();
        let state = self.state_root.clone();
        let _ = Command::new(runc)
            .arg("--root")
            .arg(&state)
            .args(["kill", &self.id, "KILL"])
            .output();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new(runc)
            .arg("--root")
            .arg(&state)
            .args(["delete", "--force", &self.id])
            .output();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

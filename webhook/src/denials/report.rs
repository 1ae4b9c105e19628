//! The JSON line printed for each denial: what was denied, the blocked rights, the process,
//! and the pod and container when the denial could be mapped to one. Its first key,
//! `"landlock-denial"`, names the line (as `"landlock"` names the shim's startup line), and its
//! value is the kernel's `blockers` field.

use serde::{Deserialize, Serialize};

use super::blockers;
use super::cgroups::ContainerRef;
use super::joiner::Denial;
use super::pods::PodRef;
use super::record::Object;

/// The first key of a denial line (the `rename` of [`DenialLine::blockers`]).
pub const KEY: &str = "landlock-denial";

/// Why a denial names no pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unattributed {
    /// The process runs outside any pod's container (a host process).
    NotInAPod,
    /// The process exited before it could be looked up, and its domain was not seen before.
    ProcessGone,
    /// The cgroup names a pod this node's pod list does not have (or `--no-kube`).
    UnknownPod,
    /// The pid the record names belongs to another process now (one started after the event:
    /// the pid was recycled), so its cgroup says nothing about who was denied.
    PidReused,
}

impl Unattributed {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Unattributed::NotInAPod => "not-in-a-pod",
            Unattributed::ProcessGone => "process-gone",
            Unattributed::UnknownPod => "unknown-pod",
            Unattributed::PidReused => "pid-reused",
        }
    }
}

/// Where a denial happened, as far as it could be mapped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    /// The container, from the cgroup path.
    pub container: Option<ContainerRef>,
    /// The pod (and container name), from the pod list.
    pub pod: Option<PodRef>,
}

/// One denial, as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialLine {
    /// The blocked rights, as the kernel names them (`fs.read_file`, `net.connect_tcp`, ...).
    #[serde(rename = "landlock-denial")]
    pub blockers: String,
    /// The denied path (filesystem rights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The denied TCP port (network rights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The address with the port, when the kernel gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// The UNIX socket (abstract names start with `@`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    /// The process a signal was meant for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_pid: Option<u32>,
    /// Its command name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_comm: Option<String>,
    /// The annotation key that would allow it (`read`, `write`, `connect-tcp`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// The namespace of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Why no pod is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unattributed: Option<Unattributed>,
    /// The denied process (initial PID namespace), when the event named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Its command name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
    /// Its executable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// The Landlock domain (hexadecimal, as in the audit log).
    pub domain: String,
    /// The pod UID from the cgroup path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    /// The container ID from the cgroup path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// The audit event: `SECONDS.MILLIS:SERIAL`.
    pub audit: String,
}

impl DenialLine {
    /// The line for `denial`, attributed as far as it was.
    pub fn new(
        denial: &Denial,
        attribution: &Attribution,
        unattributed: Option<Unattributed>,
    ) -> Self {
        let access = &denial.access;
        let mut line = DenialLine {
            blockers: access.blockers.join(","),
            path: None,
            port: None,
            addr: None,
            socket: None,
            target_pid: None,
            target_comm: None,
            grant: blockers::grant_all(&access.blockers)
                .and_then(|g| g.annotation_key())
                .map(str::to_owned),
            namespace: attribution.pod.as_ref().map(|p| p.namespace.clone()),
            pod: attribution.pod.as_ref().map(|p| p.pod.clone()),
            container: attribution.pod.as_ref().and_then(|p| p.container.clone()),
            unattributed,
            pid: denial.syscall.as_ref().map(|s| s.pid),
            comm: denial.syscall.as_ref().map(|s| s.comm.clone()),
            exe: denial.syscall.as_ref().map(|s| s.exe.clone()),
            domain: access.domain.to_string(),
            pod_uid: attribution.container.as_ref().map(|c| c.pod_uid.clone()),
            container_id: attribution
                .container
                .as_ref()
                .map(|c| c.container_id.clone()),
            audit: format!(
                "{}.{:03}:{}",
                denial.stamp.seconds, denial.stamp.millis, denial.stamp.serial
            ),
        };
        match &access.object {
            Object::Path { path, .. } => line.path = Some(path.clone()),
            Object::Port { port, addr, .. } => {
                line.port = Some(*port);
                line.addr = addr.clone();
            }
            Object::Socket { name } => line.socket = Some(name.clone()),
            Object::Process { pid, comm } => {
                line.target_pid = Some(*pid);
                line.target_comm = Some(comm.clone());
            }
            Object::None => {}
        }
        line
    }

    /// The line as JSON (one line, no newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Recognises a denial line: `None` when `line` is not one (it does not start with
    /// `{"landlock-denial"`), `Some(Err)` when it is one but malformed.
    pub fn parse(line: &str) -> Option<Result<Self, serde_json::Error>> {
        let line = line.trim();
        let rest = line.strip_prefix('{')?.trim_start();
        rest.strip_prefix(&format!("\"{KEY}\""))?;
        Some(serde_json::from_str(line))
    }
}

//! The OCI runtime spec (`config.json`) of one container, from its spec, its image and the
//! pod's volumes, following what kubelet and containerd do.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

use super::HarnessError;
use super::volumes::Volumes;

/// containerd's default capability set for containers.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// What the harness knows of an image (what a registry's image config would say).
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    /// ENTRYPOINT.
    pub entrypoint: Vec<String>,
    /// CMD.
    pub cmd: Vec<String>,
    /// ENV.
    pub env: Vec<(String, String)>,
}

/// Kubernetes' rules: `command` replaces ENTRYPOINT and drops CMD; `args` replaces CMD.
pub fn process_args(container: &Container, image: &ImageFacts) -> Vec<String> {
    let command = container.command.clone().filter(|c| !c.is_empty());
    let args = container.args.clone().filter(|a| !a.is_empty());
    match (command, args) {
        (Some(command), Some(args)) => command.into_iter().chain(args).collect(),
        (Some(command), None) => command,
        (None, Some(args)) => image.entrypoint.iter().cloned().chain(args).collect(),
        (None, None) => image
            .entrypoint
            .iter()
            .cloned()
            .chain(image.cmd.iter().cloned())
            .collect(),
    }
}

fn env(container: &Container, pod: &Pod, image: &ImageFacts) -> Result<Vec<String>, HarnessError> {
    let mut vars: Vec<(String, String)> = vec![(
        "PATH".to_owned(),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
    )];
    vars.extend(image.env.iter().cloned());
    vars.push((
        "HOSTNAME".to_owned(),
        pod.metadata.name.clone().unwrap_or_default(),
    ));
    for var in container.env.iter().flatten() {
        let value = if let Some(value) = &var.value {
            value.clone()
        } else if let Some(field) = var.value_from.as_ref().and_then(|f| f.field_ref.as_ref()) {
            match field.field_path.as_str() {
                "metadata.name" => pod.metadata.name.clone().unwrap_or_default(),
                "metadata.namespace" => pod.metadata.namespace.clone().unwrap_or_default(),
                other => {
                    return Err(HarnessError::Pod(format!(
                        "env {}: fieldRef {other} is not emulated",
                        var.name
                    )));
                }
            }
        } else {
            return Err(HarnessError::Pod(format!(
                "env {}: only value and fieldRef are emulated",
                var.name
            )));
        };
        vars.retain(|(k, _)| *k != var.name);
        vars.push((var.name.clone(), value));
    }
    Ok(vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

/// Host files kubelet bind-mounts into every container.
#[derive(Debug, Clone)]
pub struct PodFiles {
    /// `/etc/hosts`.
    pub hosts: PathBuf,
    /// `/etc/hostname`.
    pub hostname: PathBuf,
    /// `/etc/resolv.conf`.
    pub resolv: PathBuf,
    /// The pod's network namespace (`/proc/PID/ns/net` of its holder process).
    pub netns: PathBuf,
}

fn bind(destination: &str, source: &Path, read_only: bool) -> Value {
    let mut options = vec!["rbind", "rprivate"];
    if read_only {
        options.push("ro");
    }
    json!({"destination": destination, "type": "bind", "source": source, "options": options})
}

fn mounts(
    container: &Container,
    volumes: &Volumes,
    files: &PodFiles,
) -> Result<Vec<Value>, HarnessError> {
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        bind("/etc/hosts", &files.hosts, false),
        bind("/etc/hostname", &files.hostname, false),
        bind("/etc/resolv.conf", &files.resolv, false),
    ];
    for mount in container.volume_mounts.iter().flatten() {
        let source = volumes.paths.get(&mount.name).ok_or_else(|| {
            HarnessError::Pod(format!(
                "container {}: no volume {:?}",
                container.name, mount.name
            ))
        })?;
        let source = match mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
            // kubelet bind-mounts what the subPath resolves to at start: later swaps of
            // `..data` are not seen through it.
            Some(sub) => {
                let path = source.join(sub);
                if !path.exists() {
                    std::fs::create_dir_all(&path).map_err(super::io("create subPath"))?;
                }
                std::fs::canonicalize(&path).map_err(super::io(format!("resolve subPath {sub}")))?
            }
            None => source.clone(),
        };
        mounts.push(bind(
            &mount.mount_path,
            &source,
            mount.read_only == Some(true),
        ));
    }
    Ok(mounts)
}

fn capabilities(container: &Container) -> Vec<String> {
    let caps = container
        .security_context
        .as_ref()
        .and_then(|s| s.capabilities.as_ref());
    let drop: Vec<String> = caps.and_then(|c| c.drop.clone()).unwrap_or_default();
    let add: Vec<String> = caps.and_then(|c| c.add.clone()).unwrap_or_default();
    let norm = |c: &str| format!("CAP_{}", c.trim_start_matches("CAP_").to_uppercase());
    let mut set: Vec<String> = if drop.iter().any(|d| d.eq_ignore_ascii_case("ALL")) {
        vec![]
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .map(|c| (*c).to_owned())
            .filter(|c| !drop.iter().any(|d| norm(d) == *c))
            .collect()
    };
    set.extend(add.iter().map(|a| norm(a)));
    set
}

/// The `config.json` for `container` of `pod`; its root filesystem is `rootfs` (relative to the
/// bundle).
pub fn config(
    pod: &Pod,
    container: &Container,
    image: &ImageFacts,
    volumes: &Volumes,
    files: &PodFiles,
) -> Result<Value, HarnessError> {
    let pod_sc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let sc = container.security_context.as_ref();
    let uid = sc
        .and_then(|s| s.run_as_user)
        .or(pod_sc.and_then(|s| s.run_as_user))
        .unwrap_or(0);
    let gid = sc
        .and_then(|s| s.run_as_group)
        .or(pod_sc.and_then(|s| s.run_as_group))
        .unwrap_or(0);
    if sc
        .and_then(|s| s.run_as_non_root)
        .or(pod_sc.and_then(|s| s.run_as_non_root))
        == Some(true)
        && uid == 0
    {
        return Err(HarnessError::Pod(format!(
            "container {}: runAsNonRoot and the user is root (kubelet refuses to start it)",
            container.name
        )));
    }
    let caps = capabilities(container);
    let args = process_args(container, image);
    if args.is_empty() {
        return Err(HarnessError::Pod(format!(
            "container {}: nothing to run",
            container.name
        )));
    }
    Ok(json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": uid, "gid": gid},
            "args": args,
            "env": env(container, pod, image)?,
            "cwd": container.working_dir.clone().unwrap_or_else(|| "/".to_owned()),
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
        },
        "root": {"path": "rootfs", "readonly": sc.and_then(|s| s.read_only_root_filesystem) == Some(true)},
        "hostname": pod.metadata.name.clone().unwrap_or_default(),
        "mounts": mounts(container, volumes, files)?,
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                {"type": "network", "path": files.netns},
            ],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(command: Option<&[&str]>, args: Option<&[&str]>) -> Container {
        Container {
            name: "c".to_owned(),
            command: command.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
            args: args.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
            ..Container::default()
        }
    }

    #[test]
    fn kubernetes_args_rules() {
        let image = ImageFacts {
            entrypoint: vec!["/entry".to_owned()],
            cmd: vec!["cmd".to_owned()],
            env: vec![],
        };
        assert_eq!(
            process_args(&container(Some(&["/c"]), Some(&["a"])), &image),
            ["/c", "a"]
        );
        assert_eq!(
            process_args(&container(Some(&["/c"]), None), &image),
            ["/c"]
        );
        assert_eq!(
            process_args(&container(None, Some(&["a"])), &image),
            ["/entry", "a"]
        );
        assert_eq!(
            process_args(&container(None, None), &image),
            ["/entry", "cmd"]
        );
    }
}

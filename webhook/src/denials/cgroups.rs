//! Which container a process runs in, from its `/proc/PID/cgroup`: the pod UID and the
//! container ID that kubelet and the container runtime put in the cgroup path.
//!
//! | driver / runtime | path (v1 controller lines and the v2 `0::` line alike) |
//! |---|---|
//! | cgroupfs, containerd | `/kubepods/besteffort/pod<uid>/<id>` (`/kubepods/pod<uid>/<id>` for Guaranteed) |
//! | cgroupfs, CRI-O | `/kubepods/burstable/pod<uid>/crio-<id>` |
//! | systemd, containerd | `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<u_i_d>.slice/cri-containerd-<id>.scope` |
//! | systemd, CRI-O | `.../kubepods-burstable-pod<u_i_d>.slice/crio-<id>.scope` (and `.../crio-<id>.scope/container`) |
//! | systemd, cri-dockerd | `.../docker-<id>.scope` |
//!
//! Prefixes before `kubepods` (kind's `/kubelet.slice/kubelet-kubepods.slice`, a node
//! container's own cgroup, `..` components when read from another cgroup namespace) do not
//! matter: the pod component and the container component after it are found wherever they are.
//! So an agent on the host that runs kind's node containers maps the host's view of a pod's
//! process too: `/system.slice/docker-<node>.scope/kubelet.slice/kubelet-kubepods.slice/...`
//! (systemd) or `/docker/<node>/kubepods/besteffort/pod<uid>/<id>` (cgroupfs), the node
//! container's cgroup in front of kubelet's path.

use std::path::Path;

/// A container as the cgroup path names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerRef {
    /// The pod's UID (`metadata.uid`, with dashes).
    pub pod_uid: String,
    /// The container ID (64 hex digits, as in `status.containerStatuses[].containerID`).
    pub container_id: String,
}

/// The container of a `/proc/PID/cgroup` text, if the process runs in a pod's container.
pub fn container_of(cgroup_file: &str) -> Option<ContainerRef> {
    // The unified (v2) line first, then the v1 controller lines: on hybrid hosts any of them
    // may carry kubelet's path.
    let mut lines: Vec<&str> = cgroup_file.lines().collect();
    lines.sort_by_key(|line| !line.starts_with("0::"));
    lines.into_iter().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        container_of_path(path)
    })
}

fn container_of_path(path: &str) -> Option<ContainerRef> {
    let components: Vec<&str> = path.split('/').collect();
    let (at, pod_uid) = components
        .iter()
        .enumerate()
        .find_map(|(i, c)| pod_uid(c).map(|uid| (i, uid)))?;
    let container_id = components[at + 1..].iter().find_map(|c| container_id(c))?;
    Some(ContainerRef {
        pod_uid,
        container_id,
    })
}

/// `pod<uuid>` (cgroupfs) or `...-pod<u_u_i_d>.slice` (systemd), as a dashed UID.
fn pod_uid(component: &str) -> Option<String> {
    let name = component.strip_suffix(".slice").unwrap_or(component);
    let start = name.rfind("pod")? + 3;
    if start != 3 && !name[..start - 3].ends_with('-') {
        return None;
    }
    let uid = name[start..].replace('_', "-");
    let is_uuid = uid.len() == 36
        && uid.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    is_uuid.then_some(uid)
}

/// `<id>`, `crio-<id>`, `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`.
fn container_id(component: &str) -> Option<String> {
    let name = component.strip_suffix(".scope").unwrap_or(component);
    if name.starts_with("crio-conmon-") {
        return None;
    }
    let id = ["cri-containerd-", "crio-", "docker-", "cri-dockerd-"]
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))
        .unwrap_or(name);
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

/// What reading a process's cgroup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// It runs in this container.
    Container(ContainerRef),
    /// It runs, but not in a pod's container (a host process).
    Host,
    /// It is gone (or its `/proc` entry cannot be read).
    Gone,
    /// The pid names another process than the record's: one that started after the event, or
    /// whose start time changed while its cgroup was read (see `identity`).
    Reused,
}

/// Reads `PROC/PID/cgroup` (`proc_root` is `/proc` on a node, with the host's PID namespace).
pub fn placement(proc_root: &Path, pid: u32) -> Placement {
    match std::fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")) {
        Ok(text) => container_of(&text).map_or(Placement::Host, Placement::Container),
        Err(_) => Placement::Gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4c5a2b81f0e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f";
    const UID: &str = "0e8f2c1a-5b3d-4e6f-8a9b-1c2d3e4f5a6b";

    fn expected() -> Option<ContainerRef> {
        Some(ContainerRef {
            pod_uid: UID.to_owned(),
            container_id: ID.to_owned(),
        })
    }

    #[test]
    fn cgroupfs_and_systemd_layouts_v1_and_v2() {
        let u = UID.replace('-', "_");
        for text in [
            format!("0::/kubepods/besteffort/pod{UID}/{ID}\n"),
            format!("0::/kubepods/pod{UID}/{ID}\n"),
            format!("0::/kubepods/burstable/pod{UID}/crio-{ID}\n"),
            format!(
                "12:memory:/kubepods/burstable/pod{UID}/{ID}\n11:cpu:/kubepods/burstable/pod{UID}/{ID}\n0::/\n"
            ),
            format!(
                "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/cri-containerd-{ID}.scope\n"
            ),
            format!("0::/kubepods.slice/kubepods-pod{u}.slice/crio-{ID}.scope/container\n"),
            format!(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/docker-{ID}.scope\n"
            ),
            format!(
                "1:name=systemd:/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{u}.slice/cri-containerd-{ID}.scope\n0::/\n"
            ),
            format!("0::/../../kubepods-besteffort-pod{u}.slice/cri-containerd-{ID}.scope\n"),
            format!(
                "0::/system.slice/docker-{}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod{u}.slice/cri-containerd-{ID}.scope\n",
                "a".repeat(64)
            ),
        ] {
            assert_eq!(container_of(&text), expected(), "{text}");
        }
    }

    /// The host's view of a pod's process in a kind node (a container): the node's cgroup,
    /// then kubelet's path inside it, for both cgroup drivers and cgroup versions.
    #[test]
    fn node_container_prefixes_as_seen_from_the_host() {
        let u = UID.replace('-', "_");
        let node = "b".repeat(64);
        for text in [
            format!(
                "0::/system.slice/docker-{node}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{u}.slice/cri-containerd-{ID}.scope\n"
            ),
            format!(
                "0::/system.slice/docker-{node}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod{u}.slice/crio-{ID}.scope/container\n"
            ),
            format!("0::/docker/{node}/kubepods/besteffort/pod{UID}/{ID}\n"),
            format!("0::/docker/{node}/kubelet/kubepods/burstable/pod{UID}/crio-{ID}\n"),
            format!(
                "12:pids:/docker/{node}/kubepods/pod{UID}/{ID}\n1:name=systemd:/docker/{node}/kubepods/pod{UID}/{ID}\n0::/system.slice/containerd.service\n"
            ),
        ] {
            assert_eq!(container_of(&text), expected(), "{text}");
        }
    }

    #[test]
    fn host_processes_and_sandboxes_belong_to_no_container() {
        let u = UID.replace('-', "_");
        for text in [
            "0::/\n".to_owned(),
            "0::/user.slice/user-0.slice/session-1.scope\n".to_owned(),
            "4:memory:/process_api/11de82b61e30f9db66ace991f4521f51\n0::/\n".to_owned(),
            format!("0::/kubepods/besteffort/pod{UID}\n"),
            format!("0::/kubepods.slice/kubepods-pod{u}.slice/crio-conmon-{ID}.scope\n"),
            format!("0::/kubepods/besteffort/podnot-a-uid/{ID}\n"),
            format!("0::/kubepods/besteffort/pod{UID}/{}\n", &ID[..12]),
            String::new(),
            "garbage".to_owned(),
        ] {
            assert_eq!(container_of(&text), None, "{text}");
        }
    }
}

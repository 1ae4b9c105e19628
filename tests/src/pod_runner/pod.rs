//! A whole pod: one network namespace shared by its containers (loopback works between them),
//! its volumes, the init containers in order (each must exit 0), native sidecars (init
//! containers with `restartPolicy: Always`) started and kept running, then the containers.
//! Everything is stopped and removed on drop, even when a test panics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, PodStatus};

use super::bundle::{self, ImageFacts, PodFiles};
use super::rootfs::{BUSYBOX, Rootfs};
use super::runc::Running;
use super::volumes::{Objects, Volumes};
use super::{HarnessError, io, require};

pub use super::runc::Finished;

/// An image the harness can run: a root filesystem and its configuration.
#[derive(Debug, Clone)]
pub struct Image {
    /// The root filesystem.
    pub rootfs: Rootfs,
    /// ENTRYPOINT, CMD, ENV.
    pub facts: ImageFacts,
}

/// Images by reference (what `image:` in a container spec names).
pub type Images = BTreeMap<String, Image>;

/// The ConfigMaps and Secrets a pod's volumes read.
pub type Cluster = Objects;

/// The pod's network namespace, held by a sleeping process.
struct NetNs {
    holder: Child,
}

impl NetNs {
    fn new() -> Result<Self, HarnessError> {
        require("/usr/bin/unshare", "util-linux")?;
        require("/usr/bin/nsenter", "util-linux")?;
        let holder = Command::new("/usr/bin/unshare")
            .args(["--net", "--", BUSYBOX, "sleep", "100000"])
            .stdin(Stdio::null())
            .spawn()
            .map_err(io("unshare --net"))?;
        let netns = Self { holder };
        let ns = netns.path();
        // Wait until the holder has entered its namespace, then bring loopback up in it.
        for _ in 0..200 {
            let mine = std::fs::read_link("/proc/self/ns/net").ok();
            if std::fs::read_link(&ns)
                .ok()
                .is_some_and(|theirs| Some(theirs) != mine)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = Command::new("/usr/bin/nsenter")
            .arg(format!("--net={}", ns.display()))
            .args(["--", BUSYBOX, "ip", "link", "set", "lo", "up"])
            .status()
            .map_err(io("bring up lo in the pod network"))?;
        if !status.success() {
            return Err(HarnessError::Pod(
                "cannot bring up loopback in the pod network".to_owned(),
            ));
        }
        Ok(netns)
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.holder.id()))
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// kubelet's cgroup parent of a BestEffort pod (cgroupfs driver); every hierarchy of the host
/// (v1 controllers and the v2 tree alike) gets `kubepods/besteffort/pod<UID>/<container ID>`.
pub const POD_CGROUP_PARENT: &str = "kubepods/besteffort";

/// Random bytes as lower-case hex (container IDs look like containerd's: 64 hex digits).
fn random_hex(bytes: usize) -> Result<String, HarnessError> {
    use std::io::Read as _;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(io("read /dev/urandom"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Runs one pod.
pub struct PodRunner {
    pod: Pod,
    /// Container name → the ID of its latest start (what containerStatuses[].containerID says).
    container_ids: BTreeMap<String, String>,
    objects: Objects,
    images: Images,
    volumes: Volumes,
    files: PodFiles,
    /// Sidecars and containers started and not yet waited for.
    running: Vec<Running>,
    state_root: PathBuf,
    netns: NetNs,
    // Last, so it is removed after every container is gone.
    dir: tempfile::TempDir,
}

fn all_containers(pod: &Pod) -> Vec<Container> {
    let spec = pod.spec.clone().unwrap_or_default();
    spec.init_containers
        .unwrap_or_default()
        .into_iter()
        .chain(spec.containers)
        .collect()
}

impl PodRunner {
    /// Prepares `pod`: network namespace, volumes from `objects`, `/etc/hosts` and friends.
    pub fn new(mut pod: Pod, objects: Objects, images: Images) -> Result<Self, HarnessError> {
        require(BUSYBOX, "busybox-static")?;
        if pod.metadata.uid.is_none() {
            // The API server assigns a UUID; kubelet puts it in the pod's cgroup path.
            let hex = random_hex(16)?;
            pod.metadata.uid = Some(format!(
                "{}-{}-4{}-a{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[13..16],
                &hex[17..20],
                &hex[20..32]
            ));
        }
        let base = crate::static_build::target_dir().join("pod-runner");
        std::fs::create_dir_all(&base).map_err(io("create target/pod-runner"))?;
        let dir = tempfile::Builder::new()
            .prefix("pod-")
            .tempdir_in(&base)
            .map_err(io("create the pod directory"))?;
        let name = pod
            .metadata
            .name
            .clone()
            .unwrap_or_else(|| "pod".to_owned());
        let write = |file: &str, text: String| -> Result<PathBuf, HarnessError> {
            let path = dir.path().join(file);
            std::fs::write(&path, text).map_err(io(format!("write {file}")))?;
            Ok(path)
        };
        let netns = NetNs::new()?;
        let files = PodFiles {
            hosts: write(
                "hosts",
                format!("127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t{name}\n"),
            )?,
            hostname: write("hostname", format!("{name}\n"))?,
            resolv: write(
                "resolv.conf",
                "nameserver 127.0.0.1\noptions ndots:5\n".to_owned(),
            )?,
            netns: netns.path(),
        };
        let volumes = Volumes::materialise(&pod, &objects, &dir.path().join("volumes"))?;
        let state_root = dir.path().join("runc");
        std::fs::create_dir_all(&state_root).map_err(io("create runc state dir"))?;
        Ok(Self {
            pod,
            container_ids: BTreeMap::new(),
            objects,
            images,
            volumes,
            files,
            running: Vec::new(),
            state_root,
            netns,
            dir,
        })
    }

    /// The pod being run.
    pub fn pod(&self) -> &Pod {
        &self.pod
    }

    /// Where volume `name` lives on the "node".
    pub fn volume_path(&self, name: &str) -> Option<&Path> {
        self.volumes.paths.get(name).map(PathBuf::as_path)
    }

    fn container(&self, name: &str) -> Result<Container, HarnessError> {
        all_containers(&self.pod)
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| HarnessError::Pod(format!("the pod has no container {name:?}")))
    }

    /// Starts container `name` (init or regular).
    pub fn start(&mut self, name: &str) -> Result<Running, HarnessError> {
        let container = self.container(name)?;
        let image_ref = container.image.clone().unwrap_or_default();
        let image = self
            .images
            .get(&image_ref)
            .ok_or_else(|| HarnessError::Pod(format!("container {name}: image {image_ref:?} is not known to the harness (ErrImagePull)")))?
            .clone();
        let bundle = self.dir.path().join("bundles").join(name);
        std::fs::create_dir_all(&bundle).map_err(io("create bundle dir"))?;
        let rootfs = bundle.join("rootfs");
        if !rootfs.exists() {
            image.rootfs.copy_to(&rootfs)?;
        }
        let mut config = bundle::config(
            &self.pod,
            &container,
            &image.facts,
            &self.volumes,
            &self.files,
        )?;
        // Like containerd, the container ID is 64 hex digits and names the container's cgroup,
        // under kubelet's pod cgroup (cgroupfs driver layout).
        let id = random_hex(32)?;
        config["linux"]["cgroupsPath"] = serde_json::json!(format!("/{}/{id}", self.pod_cgroup()));
        let json =
            serde_json::to_vec_pretty(&config).map_err(|e| HarnessError::Pod(e.to_string()))?;
        std::fs::write(bundle.join("config.json"), json).map_err(io("write config.json"))?;
        let running = Running::start(name, &id, &bundle, &self.state_root)?;
        self.container_ids.insert(name.to_owned(), id);
        Ok(running)
    }

    /// The pod's cgroup below each hierarchy's root (`kubepods/besteffort/pod<UID>`).
    pub fn pod_cgroup(&self) -> String {
        format!(
            "{POD_CGROUP_PARENT}/pod{}",
            self.pod.metadata.uid.as_deref().unwrap_or_default()
        )
    }

    /// The host pid of container `name`'s first process (`runc state`), while it runs.
    pub fn container_pid(&self, name: &str) -> Option<u32> {
        let id = self.container_ids.get(name)?;
        let out = Command::new(super::runc::binary())
            .arg("--root")
            .arg(&self.state_root)
            .args(["state", id])
            .output()
            .ok()?;
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        state["pid"]
            .as_u64()
            .and_then(|pid| u32::try_from(pid).ok())
    }

    /// The ID of container `name`'s latest start.
    pub fn container_id(&self, name: &str) -> Option<&str> {
        self.container_ids.get(name).map(String::as_str)
    }

    /// The pod as the API server would show it once kubelet reported its containers:
    /// `status.containerStatuses` / `initContainerStatuses` with `containerd://<ID>`.
    pub fn reported(&self) -> Pod {
        let mut pod = self.pod.clone();
        let spec = pod.spec.clone().unwrap_or_default();
        let statuses = |containers: &[Container]| -> Option<Vec<ContainerStatus>> {
            let list: Vec<ContainerStatus> = containers
                .iter()
                .filter_map(|c| {
                    self.container_ids.get(&c.name).map(|id| ContainerStatus {
                        name: c.name.clone(),
                        container_id: Some(format!("containerd://{id}")),
                        image: c.image.clone().unwrap_or_default(),
                        ..ContainerStatus::default()
                    })
                })
                .collect();
            (!list.is_empty()).then_some(list)
        };
        pod.status = Some(PodStatus {
            container_statuses: statuses(&spec.containers),
            init_container_statuses: statuses(spec.init_containers.as_deref().unwrap_or_default()),
            qos_class: Some("BestEffort".to_owned()),
            ..PodStatus::default()
        });
        pod
    }

    /// Starts `name` and waits for it.
    pub fn run(&mut self, name: &str, limit: Duration) -> Result<Finished, HarnessError> {
        self.start(name)?.wait(limit)
    }

    /// Runs the init containers in order, like kubelet: each must exit 0 before the next
    /// starts (a failure fails the pod); native sidecars are started and kept running. Returns
    /// the finished ones.
    pub fn run_init(&mut self, limit: Duration) -> Result<Vec<Finished>, HarnessError> {
        let inits = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.clone())
            .unwrap_or_default();
        let mut finished = Vec::new();
        for init in inits {
            if init.restart_policy.as_deref() == Some("Always") {
                let sidecar = self.start(&init.name)?;
                self.running.push(sidecar);
                continue;
            }
            let done = self.run(&init.name, limit)?;
            if done.exit_code != 0 {
                return Err(HarnessError::Pod(format!(
                    "init container {} exited {}; the pod does not start (Init:Error)\nstdout: {}\nstderr: {}",
                    done.name, done.exit_code, done.stdout, done.stderr
                )));
            }
            finished.push(done);
        }
        Ok(finished)
    }

    /// A running sidecar started by [`run_init`](Self::run_init).
    pub fn sidecar(&mut self, name: &str) -> Option<&mut Running> {
        self.running.iter_mut().find(|r| r.name == name)
    }

    /// Runs the init containers, then every container to completion; returns them all.
    pub fn run_to_completion(&mut self, limit: Duration) -> Result<Vec<Finished>, HarnessError> {
        let mut all = self.run_init(limit)?;
        let names: Vec<String> = self
            .pod
            .spec
            .as_ref()
            .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        let started: Vec<Running> = names
            .iter()
            .map(|n| self.start(n))
            .collect::<Result<_, _>>()?;
        for running in started {
            all.push(running.wait(limit)?);
        }
        Ok(all)
    }

    /// Changes a ConfigMap and rewrites the volumes that use it, as kubelet's sync does.
    pub fn update_config_map(
        &mut self,
        name: &str,
        data: BTreeMap<String, String>,
    ) -> Result<(), HarnessError> {
        self.objects.config_maps.insert(name.to_owned(), data);
        self.volumes.refresh(&self.pod, &self.objects)
    }

    /// Changes a Secret and rewrites the volumes that use it (a cert-manager renewal).
    pub fn update_secret(
        &mut self,
        name: &str,
        data: BTreeMap<String, Vec<u8>>,
    ) -> Result<(), HarnessError> {
        self.objects.secrets.insert(name.to_owned(), data);
        self.volumes.refresh(&self.pod, &self.objects)
    }

    /// The network namespace path (for diagnostics).
    pub fn netns(&self) -> PathBuf {
        self.netns.path()
    }
}

impl Drop for PodRunner {
    fn drop(&mut self) {
        for mut running in self.running.drain(..) {
            running.stop();
        }
        // runc removes each container's cgroup; the pod's own is kubelet's to remove.
        if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
            let pod = self.pod_cgroup();
            for hierarchy in hierarchies.flatten() {
                let _ = std::fs::remove_dir(hierarchy.path().join(&pod));
            }
            let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(&pod));
        }
    }
}

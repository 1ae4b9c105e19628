//! Volumes, as kubelet lays them out on the node.
//!
//! configMap, secret, projected and downwardAPI volumes are written with kubelet's atomic
//! writer: the payload goes into a fresh `..YYYY_MM_DD_hh_mm_ss.N` directory, a `..data_tmp`
//! symlink to it is renamed over `..data`, each top-level entry is a symlink `name ->
//! ..data/name`, and the previous payload directory is removed. An update repeats exactly that,
//! so a container sees the new contents through its mount while it runs.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use k8s_openapi::api::core::v1::{
    ConfigMapProjection, DownwardAPIVolumeFile, KeyToPath, Pod, SecretProjection, Volume,
};

use super::{HarnessError, io};

/// File path inside the volume → (contents, mode).
pub type Payload = BTreeMap<String, (Vec<u8>, u32)>;

/// The ConfigMaps and Secrets of the namespace the pod runs in, by name, then key.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    /// ConfigMap data.
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// Secret data.
    pub secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

/// A payload directory name kubelet would use; unique within this process.
fn timestamped() -> String {
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "..{year:04}_{month:02}_{day:02}_{:02}_{:02}_{:02}.{}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        u64::from(now.subsec_nanos()) * 1000 + u64::from(SEQUENCE.fetch_add(1, Ordering::Relaxed))
    )
}

/// Writes `payload` into `dir` with the atomic writer's steps.
pub fn atomic_write(dir: &Path, payload: &Payload) -> Result<(), HarnessError> {
    std::fs::create_dir_all(dir).map_err(io(format!("mkdir {}", dir.display())))?;
    let old = std::fs::read_link(dir.join("..data")).ok();
    let generation = timestamped();
    let target = dir.join(&generation);
    for (path, (contents, mode)) in payload {
        let file = target.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(io(format!("mkdir {}", parent.display())))?;
        }
        std::fs::write(&file, contents).map_err(io(format!("write {}", file.display())))?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(*mode))
            .map_err(io(format!("chmod {}", file.display())))?;
    }
    std::fs::create_dir_all(&target).map_err(io("mkdir payload"))?;
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(&generation, &tmp).map_err(io("symlink ..data_tmp"))?;
    std::fs::rename(&tmp, dir.join("..data")).map_err(io("rename ..data_tmp over ..data"))?;
    let top: BTreeSet<String> = payload
        .keys()
        .filter_map(|p| p.split('/').next().map(str::to_owned))
        .collect();
    for name in &top {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{name}"), &link).map_err(io(format!("symlink {name}")))?;
        }
    }
    // Keys that disappeared lose their symlink.
    for entry in std::fs::read_dir(dir)
        .map_err(io("read volume dir"))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !top.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    if let Some(old) = old.filter(|o| o.as_os_str() != generation.as_str()) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(())
}

fn items_or_all(
    keys: Keys,
    items: Option<&Vec<KeyToPath>>,
    default_mode: u32,
    what: &str,
    optional: bool,
    out: &mut Payload,
) -> Result<(), HarnessError> {
    match items {
        None => {
            for (key, value) in keys {
                out.insert(key, (value, default_mode));
            }
        }
        Some(items) => {
            for item in items {
                match keys.iter().find(|(k, _)| *k == item.key) {
                    Some((_, value)) => {
                        let mode = item.mode.map_or(default_mode, |m| m as u32);
                        out.insert(item.path.clone(), (value.clone(), mode));
                    }
                    None if optional => {}
                    None => {
                        return Err(HarnessError::Pod(format!(
                            "{what} has no key {:?}",
                            item.key
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// An object's keys and values.
type Keys = Vec<(String, Vec<u8>)>;

/// Which kind of object a volume source reads.
#[derive(Clone, Copy)]
enum Kind {
    ConfigMap,
    Secret,
}

/// A ConfigMap's or Secret's keys as files (all of them, or `items`).
fn keyed(
    objects: &Objects,
    kind: Kind,
    name: &str,
    items: Option<&Vec<KeyToPath>>,
    mode: u32,
    optional: bool,
    out: &mut Payload,
) -> Result<(), HarnessError> {
    let (what, data): (String, Option<Keys>) = match kind {
        Kind::ConfigMap => (
            format!("configmap {name:?}"),
            objects.config_maps.get(name).map(|d| {
                d.iter()
                    .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                    .collect()
            }),
        ),
        Kind::Secret => (
            format!("secret {name:?}"),
            objects
                .secrets
                .get(name)
                .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        ),
    };
    match data {
        Some(keys) => items_or_all(keys, items, mode, &what, optional, out),
        None if optional => Ok(()),
        None => Err(HarnessError::Pod(format!("{what} not found"))),
    }
}

fn downward(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    mode: u32,
    out: &mut Payload,
) -> Result<(), HarnessError> {
    for item in items {
        let field = item
            .field_ref
            .as_ref()
            .map(|f| f.field_path.as_str())
            .unwrap_or_default();
        let meta = &pod.metadata;
        let text = |map: &Option<BTreeMap<String, String>>| {
            map.iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v:?}\n"))
                .collect::<String>()
        };
        let value = match field {
            "metadata.name" => meta.name.clone().unwrap_or_default(),
            "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
            "metadata.uid" => meta.uid.clone().unwrap_or_default(),
            "metadata.labels" => text(&meta.labels),
            "metadata.annotations" => text(&meta.annotations),
            other => {
                return Err(HarnessError::Pod(format!(
                    "downwardAPI field {other:?} is not emulated"
                )));
            }
        };
        out.insert(
            item.path.clone(),
            (value.into_bytes(), item.mode.map_or(mode, |m| m as u32)),
        );
    }
    Ok(())
}

/// The files kubelet would write for `volume`, or None if it is not an atomic-writer volume.
pub fn payload(
    volume: &Volume,
    pod: &Pod,
    objects: &Objects,
) -> Result<Option<Payload>, HarnessError> {
    let mode = |m: Option<i32>| m.map_or(0o644, |m| m as u32);
    let mut out = Payload::new();
    if let Some(cm) = &volume.config_map {
        keyed(
            objects,
            Kind::ConfigMap,
            &cm.name,
            cm.items.as_ref(),
            mode(cm.default_mode),
            cm.optional == Some(true),
            &mut out,
        )?;
    } else if let Some(s) = &volume.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        keyed(
            objects,
            Kind::Secret,
            &name,
            s.items.as_ref(),
            mode(s.default_mode),
            s.optional == Some(true),
            &mut out,
        )?;
    } else if let Some(d) = &volume.downward_api {
        downward(
            pod,
            d.items.as_deref().unwrap_or_default(),
            mode(d.default_mode),
            &mut out,
        )?;
    } else if let Some(p) = &volume.projected {
        let default = mode(p.default_mode);
        for source in p.sources.iter().flatten() {
            if let Some(ConfigMapProjection {
                name,
                items,
                optional,
            }) = &source.config_map
            {
                keyed(
                    objects,
                    Kind::ConfigMap,
                    name,
                    items.as_ref(),
                    default,
                    *optional == Some(true),
                    &mut out,
                )?;
            }
            if let Some(SecretProjection {
                name,
                items,
                optional,
            }) = &source.secret
            {
                keyed(
                    objects,
                    Kind::Secret,
                    name,
                    items.as_ref(),
                    default,
                    *optional == Some(true),
                    &mut out,
                )?;
            }
            if let Some(d) = &source.downward_api {
                downward(
                    pod,
                    d.items.as_deref().unwrap_or_default(),
                    default,
                    &mut out,
                )?;
            }
            if let Some(token) = &source.service_account_token {
                out.insert(
                    token.path.clone(),
                    (b"harness-service-account-token".to_vec(), default),
                );
            }
        }
    } else {
        return Ok(None);
    }
    Ok(Some(out))
}

/// Where each of a pod's volumes lives on the "node".
#[derive(Debug, Clone, Default)]
pub struct Volumes {
    /// Volume name → host directory (or file).
    pub paths: BTreeMap<String, PathBuf>,
}

impl Volumes {
    /// Materialises every volume of `pod` under `root`.
    pub fn materialise(pod: &Pod, objects: &Objects, root: &Path) -> Result<Self, HarnessError> {
        let mut paths = BTreeMap::new();
        for volume in pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .into_iter()
            .flatten()
        {
            let dir = root.join(&volume.name);
            if let Some(payload) = payload(volume, pod, objects)? {
                atomic_write(&dir, &payload)?;
            } else if volume.empty_dir.is_some() || volume.persistent_volume_claim.is_some() {
                std::fs::create_dir_all(&dir).map_err(io("mkdir emptyDir"))?;
                // kubelet creates emptyDir world-writable, so any runAsUser can use it.
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                    .map_err(io("chmod emptyDir"))?;
            } else if let Some(host) = &volume.host_path {
                paths.insert(volume.name.clone(), PathBuf::from(&host.path));
                continue;
            } else {
                return Err(HarnessError::Pod(format!(
                    "volume {:?}: this type is not emulated",
                    volume.name
                )));
            }
            paths.insert(volume.name.clone(), dir);
        }
        Ok(Self { paths })
    }

    /// Rewrites every atomic-writer volume (after a ConfigMap or Secret changed), like kubelet's
    /// periodic sync.
    pub fn refresh(&self, pod: &Pod, objects: &Objects) -> Result<(), HarnessError> {
        for volume in pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .into_iter()
            .flatten()
        {
            if let (Some(payload), Some(dir)) =
                (payload(volume, pod, objects)?, self.paths.get(&volume.name))
            {
                atomic_write(dir, &payload)?;
            }
        }
        Ok(())
    }
}

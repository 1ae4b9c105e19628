//! One policy per container: the union of every line of every replica, and notes where the
//! replicas disagree (a path one pod used and another did not is kept, and named). Each
//! suggestion carries its coverage (in how many replicas it was needed); with a minimum
//! coverage, what fewer replicas needed is left out (a right weakened to what enough replicas
//! needed) and reported.

use std::collections::{BTreeMap, BTreeSet};

use init_shim::grants::{self, Grants, Scope};
use init_shim::{Access, PolicyPath, Port, Profile};

use crate::suggest::input::Observation;

/// One container's merged policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    /// The container's name (`None` for a shim run outside a pod).
    pub name: Option<String>,
    /// What it needs.
    pub grants: Grants,
    /// The base profile the grants assume.
    pub profile: Profile,
    /// In how many of its replicas each suggested path and port was needed.
    pub coverage: Coverage,
}

/// In how many replicas (runs, see [`crate::suggest::input`]) each suggestion was needed: a
/// replica counts for a path when it needed that path, one beneath it or a directory above it,
/// with at least the suggested right.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// How many replicas the container has in the input.
    pub replicas: usize,
    /// Per suggested path.
    pub paths: BTreeMap<PolicyPath, usize>,
    /// Per port that may be bound.
    pub bind_tcp: BTreeMap<Port, usize>,
    /// Per port that may be connected to.
    pub connect_tcp: BTreeMap<Port, usize>,
}

/// A need `--min-coverage` left out: fewer replicas than asked needed it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dropped {
    /// The container (`None` outside a pod).
    pub container: Option<String>,
    /// The annotation key (`read`, `write`, `bind-tcp`, ...).
    pub key: String,
    /// The path or port.
    pub value: String,
    /// The weaker right kept instead, when enough replicas needed that (`read` for a `write`
    /// one replica needed).
    pub kept: Option<String>,
    /// In how many replicas it was needed.
    pub seen: usize,
    /// Of how many.
    pub replicas: usize,
    /// Which replicas needed it.
    pub by: Vec<String>,
}

impl std::fmt::Display for Dropped {
    /// `container "app": write /data (needed by 1 of 3 replicas: pod web-1; kept read)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = self
            .container
            .as_deref()
            .map_or_else(|| "the program".to_owned(), |n| format!("container {n:?}"));
        write!(
            f,
            "{label}: {} {} (needed by {} of {} replicas: {})",
            self.key,
            self.value,
            self.seen,
            self.replicas,
            self.by.join(", ")
        )?;
        if let Some(kept) = &self.kept {
            write!(f, "; {kept} kept, which enough replicas needed")?;
        }
        Ok(())
    }
}

/// A `--min-coverage` that cannot apply to the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoverageError {
    /// `--min-coverage 0`.
    #[error("--min-coverage 0: must be at least 1 (the number of replicas that must need a path)")]
    Zero,
    /// More than a container has replicas.
    #[error(
        "--min-coverage {asked}: {label} has only {replicas} replica(s) in the input, so nothing could be kept; pass at most {replicas}"
    )]
    MoreThanReplicas {
        /// K.
        asked: usize,
        /// `container "app"` or `the program`.
        label: String,
        /// M.
        replicas: usize,
    },
}

/// Every container, and what the user should know about the merge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    /// Containers, by name (the unnamed one first).
    pub containers: Vec<Container>,
    /// Replica differences and profile conflicts.
    pub notes: Vec<String>,
    /// What `--min-coverage` left out.
    pub dropped: Vec<Dropped>,
}

/// One container's observations, by replica: what each replica's lines needed, and its profile.
type PerReplica = BTreeMap<String, (Grants, Option<Profile>)>;

fn label_of(name: Option<&str>) -> String {
    name.map_or_else(|| "the program".to_owned(), |n| format!("container {n:?}"))
}

/// Merges observations by container, across replicas (every need kept).
pub fn merge(observations: &[Observation]) -> Merged {
    let by_container = group(observations);
    let mut merged = Merged::default();
    for (name, replicas) in by_container {
        merge_container(&mut merged, name, &replicas, None);
    }
    merged
}

/// Merges observations by container, across replicas, keeping only what at least
/// `min_coverage` replicas of the container needed (the rest is in [`Merged::dropped`]).
pub fn merge_with_min_coverage(
    observations: &[Observation],
    min_coverage: usize,
) -> Result<Merged, CoverageError> {
    if min_coverage == 0 {
        return Err(CoverageError::Zero);
    }
    let by_container = group(observations);
    for (name, replicas) in &by_container {
        if min_coverage > replicas.len() {
            return Err(CoverageError::MoreThanReplicas {
                asked: min_coverage,
                label: label_of(name.as_deref()),
                replicas: replicas.len(),
            });
        }
    }
    let mut merged = Merged::default();
    for (name, replicas) in by_container {
        merge_container(&mut merged, name, &replicas, Some(min_coverage));
    }
    merged.dropped.sort();
    Ok(merged)
}

/// container -> replica -> (grants, profile)
fn group(observations: &[Observation]) -> BTreeMap<Option<String>, PerReplica> {
    let mut by_container: BTreeMap<Option<String>, PerReplica> = BTreeMap::new();
    for observation in observations {
        let replicas = by_container
            .entry(observation.source.container.clone())
            .or_default();
        let (grants, profile) = replicas.entry(observation.replica.clone()).or_default();
        grants.extend(&observation.grants);
        if profile.is_none() {
            *profile = observation.profile;
        }
    }
    by_container
}

/// The replicas that needed `path` (or a path overlapping it) with at least `access`.
fn needing_path<'a>(replicas: &'a PerReplica, path: &PolicyPath, access: Access) -> Vec<&'a str> {
    replicas
        .iter()
        .filter(|(_, (grants, _))| grants.overlapping(path).any(|(_, b)| b.includes(access)))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// The replicas whose ports (from `ports_of`) hold `port`.
fn needing_port(
    replicas: &PerReplica,
    port: Port,
    ports_of: impl Fn(&Grants) -> &BTreeSet<Port>,
) -> Vec<&str> {
    replicas
        .iter()
        .filter(|(_, (grants, _))| ports_of(grants).contains(&port))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// The strongest access weaker than `access` that `replicas` support at `path`.
fn strongest_supported(
    replicas: &PerReplica,
    path: &PolicyPath,
    access: Access,
    min: usize,
) -> Option<Access> {
    let strength = |a: Access| Access::ALL.iter().filter(|b| a.includes(**b)).count();
    let mut weaker: Vec<Access> = Access::ALL
        .into_iter()
        .filter(|c| *c != access && access.includes(*c))
        .collect();
    weaker.sort_by_key(|c| std::cmp::Reverse(strength(*c)));
    weaker
        .into_iter()
        .find(|c| needing_path(replicas, path, *c).len() >= min)
}

/// Each replica's grants with what fewer than `min` replicas needed taken out (or weakened).
fn keep_covered(
    replicas: &PerReplica,
    name: Option<&str>,
    min: usize,
    dropped: &mut Vec<Dropped>,
) -> PerReplica {
    let total = replicas.len();
    let mut kept = PerReplica::new();
    for (replica, (grants, profile)) in replicas {
        let mut own = Grants::default();
        for (path, access) in &grants.paths {
            let by = needing_path(replicas, path, *access);
            if by.len() >= min {
                own.grant(path.clone(), *access);
                continue;
            }
            let weaker = strongest_supported(replicas, path, *access, min);
            if let Some(weaker) = weaker {
                own.grant(path.clone(), weaker);
            }
            dropped.push(Dropped {
                container: name.map(str::to_owned),
                key: access.annotation_key().to_owned(),
                value: path.to_string(),
                kept: weaker.map(|w| w.annotation_key().to_owned()),
                seen: by.len(),
                replicas: total,
                by: by.into_iter().map(str::to_owned).collect(),
            });
        }
        for (key, ports, kept_ports) in [
            (grants::BIND_TCP, &grants.bind_tcp, &mut own.bind_tcp),
            (
                grants::CONNECT_TCP,
                &grants.connect_tcp,
                &mut own.connect_tcp,
            ),
        ] {
            for port in ports {
                let by = needing_port(replicas, *port, |g| {
                    if key == grants::BIND_TCP {
                        &g.bind_tcp
                    } else {
                        &g.connect_tcp
                    }
                });
                if by.len() >= min {
                    kept_ports.insert(*port);
                } else {
                    dropped.push(Dropped {
                        container: name.map(str::to_owned),
                        key: key.to_owned(),
                        value: port.to_string(),
                        kept: None,
                        seen: by.len(),
                        replicas: total,
                        by: by.into_iter().map(str::to_owned).collect(),
                    });
                }
            }
        }
        kept.insert(replica.clone(), (own, *profile));
    }
    dropped.dedup();
    kept
}

fn coverage(grants: &Grants, replicas: &PerReplica) -> Coverage {
    Coverage {
        replicas: replicas.len(),
        paths: grants
            .paths
            .iter()
            .map(|(p, a)| (p.clone(), needing_path(replicas, p, *a).len()))
            .collect(),
        bind_tcp: grants
            .bind_tcp
            .iter()
            .map(|p| (*p, needing_port(replicas, *p, |g| &g.bind_tcp).len()))
            .collect(),
        connect_tcp: grants
            .connect_tcp
            .iter()
            .map(|p| (*p, needing_port(replicas, *p, |g| &g.connect_tcp).len()))
            .collect(),
    }
}

fn merge_container(
    merged: &mut Merged,
    name: Option<String>,
    replicas: &PerReplica,
    min_coverage: Option<usize>,
) {
    let label = label_of(name.as_deref());
    let mut grants = Grants::default();
    let kept;
    let used = match min_coverage {
        Some(min) => {
            kept = keep_covered(replicas, name.as_deref(), min, &mut merged.dropped);
            &kept
        }
        None => replicas,
    };
    for (replica_grants, _) in used.values() {
        grants.extend(replica_grants);
    }
    // A path with another beneath it is a directory: the one beneath adds nothing when the
    // directory grants as much.
    grants.minimise(|_| Scope::Tree);
    if replicas.len() > 1 {
        for (replica, (replica_grants, _)) in used {
            let missing = grants.difference(replica_grants);
            if !missing.is_empty() {
                merged.notes.push(format!(
                    "replicas of {label} disagree (merged: the union is suggested): {replica} did not use {missing}"
                ));
            }
        }
    }
    let mut profiles: Vec<Profile> = replicas.values().filter_map(|(_, p)| *p).collect();
    profiles.dedup();
    if profiles.len() > 1 {
        let names: Vec<&str> = profiles.iter().map(|p| p.name()).collect();
        merged.notes.push(format!(
            "replicas of {label} ran with different profiles ({}); the suggestion assumes {}",
            names.join(", "),
            names[0]
        ));
    }
    let coverage = coverage(&grants, replicas);
    merged.containers.push(Container {
        name,
        grants,
        profile: profiles.first().copied().unwrap_or_default(),
        coverage,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suggest::input::Source;

    fn observation(pod: &str, container: &str, paths: &[(&str, Access)]) -> Observation {
        let mut grants = Grants::default();
        for (path, access) in paths {
            grants.grant(PolicyPath::parse(path).expect("path"), *access);
        }
        Observation {
            source: Source {
                pod: Some(pod.into()),
                container: Some(container.into()),
            },
            grants,
            profile: Some(Profile::Default),
            notes: vec![],
            uses: vec![],
            replica: format!("pod {pod}"),
        }
    }

    #[test]
    fn replicas_are_united_and_their_differences_named() {
        let merged = merge(&[
            observation(
                "web-1",
                "app",
                &[("/srv", Access::Ro), ("/data", Access::Rw)],
            ),
            observation(
                "web-2",
                "app",
                &[("/srv", Access::Ro), ("/srv/x", Access::Ro)],
            ),
            observation("web-2", "sidecar", &[("/etc/proxy.conf", Access::Ro)]),
        ]);
        assert_eq!(merged.containers.len(), 2);
        assert_eq!(
            merged.containers[0].grants.to_string(),
            "read=/srv write=/data"
        );
        assert_eq!(merged.notes.len(), 1, "{:?}", merged.notes);
        assert!(
            merged.notes[0].contains("pod web-2 did not use write=/data"),
            "{:?}",
            merged.notes
        );
    }
}

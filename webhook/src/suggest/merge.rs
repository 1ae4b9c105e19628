//! One policy per container: the union of every line of every replica, and notes where the
//! replicas disagree (a path one pod used and another did not is kept, and named).

use std::collections::BTreeMap;

use init_shim::Profile;
use init_shim::grants::{Grants, Scope};

use crate::suggest::input::Observation;

/// One container's merged policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The container's name (`None` for a shim run outside a pod).
    pub name: Option<String>,
    /// What it needs.
    pub grants: Grants,
    /// The base profile the grants assume.
    pub profile: Profile,
}

/// Every container, and what the user should know about the merge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    /// Containers, by name (the unnamed one first).
    pub containers: Vec<Container>,
    /// Replica differences and profile conflicts.
    pub notes: Vec<String>,
}

/// One container's observations, by pod: what each pod's lines needed, and its profile.
type PerPod = BTreeMap<Option<String>, (Grants, Option<Profile>)>;

/// Merges observations by container, across pods.
pub fn merge(observations: &[Observation]) -> Merged {
    // container -> pod -> (grants, profile)
    let mut by_container: BTreeMap<Option<String>, PerPod> = BTreeMap::new();
    for observation in observations {
        let pods = by_container
            .entry(observation.source.container.clone())
            .or_default();
        let (grants, profile) = pods.entry(observation.source.pod.clone()).or_default();
        grants.extend(&observation.grants);
        if profile.is_none() {
            *profile = observation.profile;
        }
    }
    let mut merged = Merged::default();
    for (name, pods) in by_container {
        let label = name
            .as_deref()
            .map_or_else(|| "the program".to_owned(), |n| format!("container {n:?}"));
        let mut grants = Grants::default();
        for (pod_grants, _) in pods.values() {
            grants.extend(pod_grants);
        }
        // A path with another beneath it is a directory: the one beneath adds nothing when the
        // directory grants as much.
        grants.minimise(|_| Scope::Tree);
        if pods.len() > 1 {
            for (pod, (pod_grants, _)) in &pods {
                let missing = grants.difference(pod_grants);
                if !missing.is_empty() {
                    merged.notes.push(format!(
                        "replicas of {label} disagree (merged: the union is suggested): pod {} did not use {missing}",
                        pod.as_deref().unwrap_or("(unnamed)")
                    ));
                }
            }
        }
        let mut profiles: Vec<Profile> = pods.values().filter_map(|(_, p)| *p).collect();
        profiles.dedup();
        if profiles.len() > 1 {
            let names: Vec<&str> = profiles.iter().map(|p| p.name()).collect();
            merged.notes.push(format!(
                "replicas of {label} ran with different profiles ({}); the suggestion assumes {}",
                names.join(", "),
                names[0]
            ));
        }
        merged.containers.push(Container {
            name,
            grants,
            profile: profiles.first().copied().unwrap_or_default(),
        });
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suggest::input::Source;
    use init_shim::{Access, PolicyPath};

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

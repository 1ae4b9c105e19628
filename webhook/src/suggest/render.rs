//! The suggestion as the user pastes it: `yaml` (the `metadata.annotations` of the pod or pod
//! template: pod-level keys for what every container needs, `<container>.<key>` for the rest,
//! `mode: enforce`), `kubectl` (the `kubectl annotate` command for a pod manifest) or `flags`
//! (the shim's flags, `NAME: FLAGS...` per container, or just `FLAGS...` outside a pod),
//! `policy` (the same rules as a LandlockPolicy object, `spec.default` for what every container
//! needs and `spec.containers` for the rest) or `json` (all of it, with coverage). When the input holds more than one replica of a
//! container, the YAML says above each key in how many replicas each value was needed
//! (`# read /srv: coverage: 2 of 3`).

use std::collections::BTreeSet;

use init_shim::grants::{self, Grants};
use init_shim::{Access, Mode, Policy, PolicyPath, Port, Profile, flags};

use crate::admission::annotations::{MODE, PREFIX, PROFILE};
use crate::suggest::merge::{Container, Merged};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// `metadata.annotations` to paste into the pod (template).
    #[default]
    Yaml,
    /// A `kubectl annotate` command.
    Kubectl,
    /// landlock-shim flags.
    Flags,
    /// JSON: the annotations, each container's grants with their coverage, and what
    /// `--min-coverage` dropped.
    Json,
    /// A LandlockPolicy object (docs/policies.md) holding the same rules as the annotations.
    Policy,
}

/// Renders `merged` in `format`.
pub fn render(merged: &Merged, format: Format) -> String {
    match format {
        Format::Yaml => with_coverage_comments(yaml(&annotations(merged)), merged),
        Format::Json => json(merged),
        Format::Policy => policy_object(&annotations(merged), &coverage(merged)),
        Format::Kubectl => kubectl(&annotations(merged)),
        Format::Flags => merged
            .containers
            .iter()
            .map(|c| {
                let words: Vec<String> = flags::render(&policy(c))
                    .iter()
                    .map(|w| shell_word(w))
                    .collect();
                let line = words.join(" ");
                match &c.name {
                    Some(name) => format!("{}: {line}\n", shell_word(name)),
                    None => format!("{line}\n"),
                }
            })
            .collect(),
    }
}

/// `word` as a POSIX shell reads it back as one word: as it is when it holds only characters
/// no shell treats specially, else in single quotes (the flags line is pasted into a command:
/// a path holding `$(...)`, `;` or a space must not run or split).
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=,@%+".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The shim policy of one container, in enforce mode.
pub fn policy(container: &Container) -> Policy {
    let mut policy = Policy {
        mode: Mode::Enforce,
        profile: container.profile,
        ..Policy::default()
    };
    for access in Access::ALL {
        for path in container.grants.with_access(access) {
            policy.grant(path.clone(), access);
        }
    }
    policy.bind_tcp = container.grants.bind_tcp.clone();
    policy.connect_tcp = container.grants.connect_tcp.clone();
    policy.bind_udp = container.grants.bind_udp.clone();
    policy.connect_udp = container.grants.connect_udp.clone();
    policy
}

/// Annotation settings (keys after the prefix) and their values, in the vocabulary's order.
type Settings = Vec<(String, BTreeSet<String>)>;

/// Each annotation setting (key after the prefix) with the comma-separated values of `grants`.
fn settings(grants: &Grants) -> Settings {
    let mut out: Vec<(String, BTreeSet<String>)> = Access::ALL
        .iter()
        .map(|a| {
            let paths = grants.with_access(*a).into_iter().map(ToString::to_string);
            (a.annotation_key().to_owned(), paths.collect())
        })
        .collect();
    for (key, ports) in [
        (grants::BIND_TCP, &grants.bind_tcp),
        (grants::CONNECT_TCP, &grants.connect_tcp),
        (grants::BIND_UDP, &grants.bind_udp),
        (grants::CONNECT_UDP, &grants.connect_udp),
    ] {
        out.push((
            key.to_owned(),
            ports.iter().map(ToString::to_string).collect(),
        ));
    }
    out
}

/// The annotations (full keys, in order) for every container.
pub fn annotations(merged: &Merged) -> Vec<(String, String)> {
    let mut out = vec![(format!("{PREFIX}{MODE}"), Mode::Enforce.name().to_owned())];
    let named = merged.containers.iter().all(|c| c.name.is_some()) && merged.containers.len() > 1;
    let per_container: Vec<(Option<&str>, Settings)> = merged
        .containers
        .iter()
        .map(|c| (c.name.as_deref().filter(|_| named), settings(&c.grants)))
        .collect();
    // What every container needs goes to the pod level.
    let keys = settings(&Grants::default());
    let mut common: Vec<BTreeSet<String>> = Vec::new();
    for (index, _) in keys.iter().enumerate() {
        let mut sets = per_container.iter().map(|(_, s)| s[index].1.clone());
        let first = sets.next().unwrap_or_default();
        common.push(sets.fold(first, |acc, s| acc.intersection(&s).cloned().collect()));
    }
    let first_profile = merged.containers.first().map(|c| c.profile);
    let shared_profile =
        first_profile.filter(|first| merged.containers.iter().all(|c| c.profile == *first));
    if let Some(profile) = shared_profile.filter(|p| *p != Profile::default()) {
        out.push((format!("{PREFIX}{PROFILE}"), profile.name().to_owned()));
    }
    for ((key, _), values) in keys.iter().zip(&common) {
        if !values.is_empty() {
            out.push((format!("{PREFIX}{key}"), join(values)));
        }
    }
    for ((name, settings), container) in per_container.iter().zip(&merged.containers) {
        let Some(name) = name else {
            continue;
        };
        if shared_profile.is_none() {
            out.push((
                format!("{PREFIX}{name}.{PROFILE}"),
                container.profile.name().to_owned(),
            ));
        }
        for ((key, values), shared) in settings.iter().zip(&common) {
            let own: BTreeSet<String> = values.difference(shared).cloned().collect();
            if !own.is_empty() {
                out.push((format!("{PREFIX}{name}.{key}"), join(&own)));
            }
        }
    }
    out
}

/// The annotation of a suggested LandlockPolicy that holds its [`Coverage`]: a JSON object
/// from each field (`spec.default.read`, `spec.containers[web].write`, as the webhook's errors
/// name them) to each value's `N of M`.
pub const COVERAGE_ANNOTATION: &str = "landlock-injector.io/coverage";

/// The LandlockPolicy holding `annotations` (what [`annotations`] suggests): pod-level keys
/// become `spec.default`, `NAME.KEY` keys `spec.containers[NAME]`, each key its camelCase
/// field, ports numbers; with several replicas, their `coverage` in [`COVERAGE_ANNOTATION`].
/// Named `suggested`; rename it and set `spec.podSelector` to bind it.
fn policy_object(annotations: &[(String, String)], coverage: &Coverage) -> String {
    use serde_json::{Map, Value, json};
    let field = |key: &str| -> Option<&'static str> {
        if let Some(access) = Access::ALL.iter().find(|a| a.annotation_key() == key) {
            return Some(access.policy_field());
        }
        Some(match key {
            grants::BIND_TCP => "bindTcp",
            grants::CONNECT_TCP => "connectTcp",
            grants::BIND_UDP => "bindUdp",
            grants::CONNECT_UDP => "connectUdp",
            MODE => "mode",
            PROFILE => "profile",
            _ => return None,
        })
    };
    let mut default = Map::new();
    let mut containers: Vec<(String, Map<String, Value>)> = Vec::new();
    let mut covered = Map::new();
    for (full_key, value) in annotations {
        let Some(key) = full_key.strip_prefix(PREFIX) else {
            continue;
        };
        let (container, key) = match key.split_once('.') {
            Some((name, key)) => (Some(name), key),
            None => (None, key),
        };
        let Some(name) = field(key) else {
            continue;
        };
        let is_port = name.ends_with("Tcp") || name.ends_with("Udp");
        let is_list = is_port || Access::ALL.iter().any(|a| a.policy_field() == name);
        let rendered = if !is_list {
            Value::String(value.clone())
        } else if is_port {
            value
                .split(',')
                .filter_map(|p| p.parse::<u16>().ok())
                .map(Value::from)
                .collect()
        } else {
            value
                .split(',')
                .map(|p| Value::String(p.to_owned()))
                .collect()
        };
        let level = match container {
            None => &mut default,
            Some(container) => {
                let at = match containers.iter().position(|(n, _)| n == container) {
                    Some(at) => at,
                    None => {
                        containers.push((container.to_owned(), Map::new()));
                        containers.len() - 1
                    }
                };
                &mut containers[at].1
            }
        };
        level.insert(name.to_owned(), rendered);
        let counted = coverage
            .iter()
            .find(|(k, items)| k == full_key && !items.is_empty());
        if let Some((_, items)) = counted {
            let field = match container {
                None => format!("spec.default.{name}"),
                Some(container) => format!("spec.containers[{container}].{name}"),
            };
            let items = items
                .iter()
                .map(|(item, counts)| (item.clone(), Value::String(counts.clone())));
            covered.insert(field, Value::Object(items.collect()));
        }
    }
    let mut spec = Map::new();
    spec.insert("default".to_owned(), Value::Object(default));
    if !containers.is_empty() {
        let entries = containers.into_iter().map(|(name, mut rules)| {
            let mut entry = Map::new();
            entry.insert("name".to_owned(), Value::String(name));
            entry.append(&mut rules);
            Value::Object(entry)
        });
        spec.insert("containers".to_owned(), entries.collect());
    }
    let mut metadata = Map::new();
    metadata.insert("name".to_owned(), Value::String("suggested".to_owned()));
    if !covered.is_empty() {
        let text = Value::Object(covered).to_string();
        metadata.insert(
            "annotations".to_owned(),
            json!({ COVERAGE_ANNOTATION: text }),
        );
    }
    let object = json!({
        "apiVersion": format!("{}/{}", crate::admission::policy::GROUP, crate::admission::policy::VERSION),
        "kind": crate::admission::policy::KIND,
        "metadata": metadata,
        "spec": spec,
    });
    serde_yaml::to_string(&object).unwrap_or_default()
}

fn join(values: &BTreeSet<String>) -> String {
    values.iter().cloned().collect::<Vec<_>>().join(",")
}

fn yaml(annotations: &[(String, String)]) -> String {
    let mut map = serde_yaml::Mapping::new();
    for (key, value) in annotations {
        map.insert(key.clone().into(), value.clone().into());
    }
    let mut metadata = serde_yaml::Mapping::new();
    metadata.insert("annotations".into(), map.into());
    let mut root = serde_yaml::Mapping::new();
    root.insert("metadata".into(), metadata.into());
    serde_yaml::to_string(&root).unwrap_or_default()
}

/// The coverage of `value` under the setting `key` in `container`.
fn coverage_of(container: &Container, key: &str, value: &str) -> Option<usize> {
    // Lookups, not scans: a suggestion of many paths had made rendering quadratic.
    let coverage = &container.coverage;
    if key == grants::BIND_TCP {
        return coverage.bind_tcp.get(&Port::parse(value).ok()?).copied();
    }
    if key == grants::CONNECT_TCP {
        return coverage.connect_tcp.get(&Port::parse(value).ok()?).copied();
    }
    coverage.paths.get(&PolicyPath::parse(value).ok()?).copied()
}

/// Per suggested annotation (full key, in order), each of its values with its coverage (`N of
/// M`, per container with its name when the key is every container's), when some container
/// has more than one replica in the input; empty otherwise.
pub type Coverage = Vec<(String, Vec<(String, String)>)>;

/// The [`Coverage`] of `merged`.
fn coverage(merged: &Merged) -> Coverage {
    if merged.containers.iter().all(|c| c.coverage.replicas <= 1) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (full_key, value) in annotations(merged) {
        let Some(key) = full_key.strip_prefix(PREFIX) else {
            continue;
        };
        // `NAME.KEY` is one container's; a plain key is every container's.
        let (containers, setting): (Vec<&Container>, &str) = match key.split_once('.') {
            Some((name, setting)) => (
                merged
                    .containers
                    .iter()
                    .filter(|c| c.name.as_deref() == Some(name))
                    .collect(),
                setting,
            ),
            None => (merged.containers.iter().collect(), key),
        };
        let mut items = Vec::new();
        for item in value.split(',') {
            let counts: Vec<String> = containers
                .iter()
                .filter_map(|c| {
                    let n = coverage_of(c, setting, item)?;
                    let of = format!("{n} of {}", c.coverage.replicas);
                    Some(match (&c.name, containers.len() > 1) {
                        (Some(name), true) => format!("{of} ({name})"),
                        _ => of,
                    })
                })
                .collect();
            if !counts.is_empty() {
                items.push((item.to_owned(), counts.join(", ")));
            }
        }
        out.push((full_key, items));
    }
    out
}

/// `# KEY VALUE: coverage: N of M` lines above each annotation, when some container has more
/// than one replica in the input.
fn with_coverage_comments(text: String, merged: &Merged) -> String {
    let comments: Vec<(String, Vec<String>)> = coverage(merged)
        .into_iter()
        .map(|(full_key, items)| {
            let setting = full_key
                .strip_prefix(PREFIX)
                .map(|k| k.split_once('.').map_or(k, |(_, s)| s))
                .unwrap_or_default()
                .to_owned();
            let lines = items
                .iter()
                .map(|(item, counts)| format!("# {setting} {item}: coverage: {counts}"))
                .collect();
            (full_key, lines)
        })
        .collect();
    if comments.is_empty() {
        return text;
    }
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some((_, lines)) = comments.iter().find(|(key, _)| {
            trimmed
                .strip_prefix(key.as_str())
                .is_some_and(|r| r.starts_with(':'))
        }) {
            for comment in lines {
                out.push_str(&format!("{indent}{comment}\n"));
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The JSON format: one object with `annotations`, `containers` (grants with coverage) and
/// `dropped`.
fn json(merged: &Merged) -> String {
    use serde_json::{Map, Value, json};
    let annotations: Map<String, Value> = annotations(merged)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let containers: Vec<Value> = merged
        .containers
        .iter()
        .map(|c| {
            let paths: Vec<Value> = c
                .grants
                .paths
                .iter()
                .map(|(path, access)| {
                    json!({
                        "right": access.annotation_key(),
                        "path": path.as_str(),
                        "coverage": c.coverage.paths.get(path).copied().unwrap_or_default(),
                    })
                })
                .collect();
            let ports =
                |counts: &std::collections::BTreeMap<init_shim::Port, usize>| -> Vec<Value> {
                    counts
                        .iter()
                        .map(|(port, n)| json!({"port": port.get(), "coverage": n}))
                        .collect()
                };
            json!({
                "name": c.name,
                "profile": c.profile.name(),
                "replicas": c.coverage.replicas,
                "paths": paths,
                grants::BIND_TCP: ports(&c.coverage.bind_tcp),
                grants::CONNECT_TCP: ports(&c.coverage.connect_tcp),
            })
        })
        .collect();
    let dropped: Vec<Value> = merged
        .dropped
        .iter()
        .map(|d| {
            json!({
                "container": d.container,
                "right": d.key,
                "value": d.value,
                "kept": d.kept,
                "coverage": d.seen,
                "replicas": d.replicas,
                "by": d.by,
            })
        })
        .collect();
    let root = json!({
        "annotations": annotations,
        "containers": containers,
        "dropped": dropped,
    });
    format!("{root}\n")
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn kubectl(annotations: &[(String, String)]) -> String {
    let mut out = String::from(
        "# Annotations take effect when a pod is created: annotate the pod's manifest and re-create the pod.\n\
         # For a Deployment or other workload, put them under spec.template.metadata.annotations (--format yaml).\n\
         kubectl annotate --local --overwrite -o yaml -f POD.yaml \\\n",
    );
    for (key, value) in annotations {
        out.push_str(&format!("  {} \\\n", quote(&format!("{key}={value}"))));
    }
    out.push_str("  | kubectl replace --force -f -\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use init_shim::{PolicyPath, Port};

    fn container(name: Option<&str>, paths: &[(&str, Access)], bind: &[&str]) -> Container {
        let mut grants = Grants::default();
        for (path, access) in paths {
            grants.grant(PolicyPath::parse(path).expect("path"), *access);
        }
        grants.bind_tcp = bind.iter().map(|p| Port::parse(p).expect("port")).collect();
        Container {
            name: name.map(str::to_owned),
            grants,
            profile: Profile::Default,
            coverage: Default::default(),
        }
    }

    /// `app` reads /etc/app, writes /cache, binds 8080; `sidecar` reads /etc/app.
    fn app_and_sidecar() -> Merged {
        Merged {
            containers: vec![
                container(
                    Some("app"),
                    &[("/etc/app", Access::Ro), ("/cache", Access::Rw)],
                    &["8080"],
                ),
                container(Some("sidecar"), &[("/etc/app", Access::Ro)], &[]),
            ],
            notes: vec![],
            dropped: vec![],
        }
    }

    #[test]
    fn pod_level_keys_hold_what_every_container_needs() {
        let merged = app_and_sidecar();
        let got = render(&merged, Format::Yaml);
        assert_eq!(
            got,
            "metadata:\n  annotations:\n    landlock-injector.io/mode: enforce\n    landlock-injector.io/read: /etc/app\n    landlock-injector.io/app.write: /cache\n    landlock-injector.io/app.bind-tcp: '8080'\n"
        );
        let flags = render(&merged, Format::Flags);
        assert_eq!(
            flags,
            "app: --ro /etc/app --rw /cache --bind-tcp 8080 --mode enforce --profile default\nsidecar: --ro /etc/app --mode enforce --profile default\n"
        );
        let kubectl = render(&merged, Format::Kubectl);
        assert!(
            kubectl.contains("  'landlock-injector.io/app.write=/cache' \\\n"),
            "{kubectl}"
        );
    }

    /// The policy format holds what the annotations hold, and the webhook, bound to it, writes
    /// the same shim flags as `--format flags` says.
    #[test]
    fn the_policy_format_binds_to_the_same_flags() {
        use crate::admission::decision::{Decision, Images, decide};
        let merged = app_and_sidecar();
        let text = render(&merged, Format::Policy);
        assert_eq!(
            text,
            "apiVersion: landlock-injector.io/v1alpha1\nkind: LandlockPolicy\nmetadata:\n  name: suggested\nspec:\n  containers:\n  - bindTcp:\n    - 8080\n    name: app\n    write:\n    - /cache\n  default:\n    mode: enforce\n    read:\n    - /etc/app\n"
        );
        let mut object: serde_json::Value = serde_yaml::from_str(&text).expect("YAML");
        object["metadata"]["namespace"] = "apps".into();
        object["spec"]["podSelector"] = serde_json::json!({});
        let object = std::sync::Arc::new(serde_json::from_value(object).expect("a policy"));
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "apps",
                "labels": {"landlock-injector.io/inject": "true"}},
            "spec": {"containers": [
                {"name": "app", "image": "a", "command": ["/app"]},
                {"name": "sidecar", "image": "s", "command": ["/sidecar"]},
            ]},
        });
        let text = pod.to_string();
        let head = serde_json::from_str(&text).expect("head");
        let config = crate::admission::config::Config::default();
        let Ok(Decision::Wrap(injection)) = decide(
            &text,
            &head,
            "apps",
            None,
            crate::admission::binding::Objects::policies(Ok(&[object])),
            &config,
        ) else {
            panic!("the pod is wrapped");
        };
        let Ok(Decision::Wrap(edits)) = injection.apply(&Images::new()) else {
            panic!("edits");
        };
        let patch = crate::admission::patch::operations(&edits).expect("patch");
        let mut patched = pod.clone();
        json_patch::patch(&mut patched, &patch).expect("applies");
        for (i, line) in render(&merged, Format::Flags).lines().enumerate() {
            let (_, flags) = line.split_once(": ").expect("NAME: FLAGS");
            let command: Vec<String> =
                serde_json::from_value(patched["spec"]["containers"][i]["command"].clone())
                    .expect("command");
            let written = command.join(" ");
            assert!(written.contains(flags), "{flags}\n  in {written}");
        }
    }

    #[test]
    fn a_run_outside_a_pod_gets_plain_flags_and_pod_level_keys() {
        let merged = Merged {
            containers: vec![container(None, &[("/srv", Access::Ro)], &[])],
            notes: vec![],
            dropped: vec![],
        };
        assert_eq!(
            render(&merged, Format::Flags),
            "--ro /srv --mode enforce --profile default\n"
        );
        assert!(render(&merged, Format::Yaml).contains("landlock-injector.io/read: /srv\n"));
    }
}

#[cfg(test)]
mod shell_tests {
    use super::shell_word;

    /// The flags line is pasted into a shell: every word reads back as itself, and none runs.
    #[test]
    fn flag_words_are_quoted_where_a_shell_would_read_them_otherwise() {
        assert_eq!(shell_word("--ro"), "--ro");
        assert_eq!(shell_word("/srv/static"), "/srv/static");
        assert_eq!(shell_word("/srv/a b"), "'/srv/a b'");
        assert_eq!(shell_word("/tmp/$(id)"), "'/tmp/$(id)'");
        assert_eq!(shell_word("/tmp/it's;x"), "'/tmp/it'\\''s;x'");
        assert_eq!(shell_word(""), "''");
        let words = ["/tmp/$(touch x)", "/a b", "/it's", "/\\x0a"];
        let line: Vec<String> = words.iter().map(|w| shell_word(w)).collect();
        let echoed = std::process::Command::new("/bin/sh")
            .args(["-c", &format!("printf '%s\\n' {}", line.join(" "))])
            .output()
            .expect("sh");
        let back: Vec<String> = String::from_utf8_lossy(&echoed.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(back, words);
    }
}

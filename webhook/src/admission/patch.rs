//! Edits in, JSONPatch (RFC 6902) operations out: explicit `add` operations addressed to the
//! object the API server holds, never a diff of two typed round-trips (which would move fields
//! the typed model does not know onto the wrong array element). Keys are escaped per RFC 6901
//! (`/` as `~1`, `~` as `~0`), which annotation keys need.
//!
//! Order matters because operations apply one after another: container edits first, while every
//! index still means what it meant in the submitted pod, then the volume, then the installer at
//! the front of `initContainers` (which shifts the others), then the annotation.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use serde::Serialize;
use serde_json::Value;

use crate::admission::edits::{ContainerEdit, Edits};

/// Why an edit could not be written as JSON (a typed value failed to serialise).
#[derive(Debug, thiserror::Error)]
#[error("cannot serialise the {what} for the patch: {source}")]
pub struct PatchError {
    what: &'static str,
    source: serde_json::Error,
}

fn json(what: &'static str, value: &impl Serialize) -> Result<Value, PatchError> {
    serde_json::to_value(value).map_err(|source| PatchError { what, source })
}

fn add<'t>(path: impl IntoIterator<Item = &'t str>, value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(path),
        value,
    })
}

/// Appends `value` to the array at `path`, or creates the array when it does not exist.
fn append(path: &[&str], exists: bool, value: Value) -> PatchOperation {
    if exists {
        add(path.iter().copied().chain(["-"]), value)
    } else {
        add(path.iter().copied(), Value::Array(vec![value]))
    }
}

fn container_ops(edit: &ContainerEdit, ops: &mut Vec<PatchOperation>) -> Result<(), PatchError> {
    let index = edit.index.to_string();
    let at = ["spec", edit.list.field(), index.as_str()];
    let under = |field: &'static [&'static str]| at.iter().copied().chain(field.iter().copied());
    if let Some(command) = &edit.command {
        ops.push(add(under(&["command"]), json("command", command)?));
    }
    if let Some(args) = &edit.args {
        ops.push(add(under(&["args"]), json("args", args)?));
    }
    if let Some(mount) = &edit.mount {
        let path: Vec<&str> = under(&["volumeMounts"]).collect();
        ops.push(append(
            &path,
            edit.mounts_exist,
            json("volume mount", mount)?,
        ));
    }
    for (hook, command) in &edit.exec {
        ops.push(add(under(hook.path()), json("exec command", command)?));
    }
    Ok(())
}

/// The operations that apply `edits` to the pod they were computed from.
pub fn operations(edits: &Edits) -> Result<Patch, PatchError> {
    let mut ops = Vec::new();
    for edit in &edits.containers {
        container_ops(edit, &mut ops)?;
    }
    if let Some(volume) = &edits.volume {
        ops.push(append(
            &["spec", "volumes"],
            edits.volumes_exist,
            json("volume", volume)?,
        ));
    }
    if let Some(installer) = &edits.installer {
        let installer = json("installer", installer)?;
        ops.push(if edits.init_containers_exist {
            add(["spec", "initContainers", "0"], installer)
        } else {
            add(["spec", "initContainers"], Value::Array(vec![installer]))
        });
    }
    let map = |pairs: &[(String, String)]| -> serde_json::Map<String, Value> {
        pairs
            .iter()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect()
    };
    if !edits.metadata_exists {
        let mut metadata = serde_json::Map::new();
        metadata.insert(
            "annotations".to_owned(),
            Value::Object(map(&edits.annotations)),
        );
        if !edits.labels.is_empty() {
            metadata.insert("labels".to_owned(), Value::Object(map(&edits.labels)));
        }
        ops.push(add(["metadata"], Value::Object(metadata)));
        return Ok(Patch(ops));
    }
    for (field, pairs, exists) in [
        ("annotations", &edits.annotations, edits.annotations_exist),
        ("labels", &edits.labels, edits.labels_exist),
    ] {
        if pairs.is_empty() {
            continue;
        }
        if exists {
            // `add` of an existing member replaces it: an earlier injection's record is renewed.
            ops.extend(pairs.iter().map(|(key, value)| {
                add(
                    ["metadata", field, key.as_str()],
                    Value::String(value.clone()),
                )
            }));
        } else {
            ops.push(add(["metadata", field], Value::Object(map(pairs))));
        }
    }
    Ok(Patch(ops))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::edits::{ContainerList, ExecHook};
    use serde_json::json;

    fn paths(patch: &Patch) -> Vec<String> {
        patch.0.iter().map(|op| op.path().to_string()).collect()
    }

    #[test]
    fn keys_are_escaped_and_missing_parents_are_created() {
        let edits = Edits {
            containers: vec![ContainerEdit {
                list: ContainerList::Init,
                index: 1,
                command: Some(vec!["/shim".into()]),
                args: None,
                mount: Some(Default::default()),
                mounts_exist: false,
                exec: vec![(ExecHook::PreStop, vec!["/shim".into()])],
            }],
            volume: Some(Default::default()),
            volumes_exist: true,
            installer: Some(Default::default()),
            init_containers_exist: true,
            annotations: vec![("landlock-injector.io/status".into(), "injected".into())],
            metadata_exists: true,
            annotations_exist: true,
            ..Edits::default()
        };
        let patch = operations(&edits).expect("patch");
        assert_eq!(
            paths(&patch),
            [
                "/spec/initContainers/1/command",
                "/spec/initContainers/1/volumeMounts",
                "/spec/initContainers/1/lifecycle/preStop/exec/command",
                "/spec/volumes/-",
                "/spec/initContainers/0",
                "/metadata/annotations/landlock-injector.io~1status",
            ]
        );
        let bare = Edits {
            installer: Some(Default::default()),
            annotations: vec![("a~b/c".into(), "v".into())],
            ..Edits::default()
        };
        let patch = operations(&bare).expect("patch");
        assert_eq!(paths(&patch), ["/spec/initContainers", "/metadata"]);
        let mut doc = json!({"spec": {}});
        json_patch::patch(&mut doc, &patch).expect("applies");
        assert_eq!(doc["metadata"]["annotations"]["a~b/c"], "v");
    }

    #[test]
    fn the_applied_policy_label_is_added_beside_existing_labels_or_creates_them() {
        let label = (
            "landlock-injector.io/applied-policy".to_owned(),
            "web".to_owned(),
        );
        let status = (
            "landlock-injector.io/status".to_owned(),
            "injected".to_owned(),
        );
        for (metadata_exists, labels_exist, before) in [
            (
                true,
                true,
                json!({"metadata": {"labels": {"app": "web"}, "annotations": {}}}),
            ),
            (true, false, json!({"metadata": {"annotations": {}}})),
            (false, false, json!({})),
        ] {
            let edits = Edits {
                annotations: vec![status.clone()],
                annotations_exist: metadata_exists,
                labels: vec![label.clone()],
                labels_exist,
                metadata_exists,
                ..Edits::default()
            };
            let mut doc = before.clone();
            json_patch::patch(&mut doc, &operations(&edits).expect("patch")).expect("applies");
            assert_eq!(doc["metadata"]["labels"][&label.0], "web", "{before}");
            assert_eq!(
                doc["metadata"]["annotations"][&status.0], "injected",
                "{before}"
            );
            if labels_exist {
                assert_eq!(doc["metadata"]["labels"]["app"], "web", "kept");
            }
        }
    }
}

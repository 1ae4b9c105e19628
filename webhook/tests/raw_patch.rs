//! The JSONPatch the webhook answers with, applied (with the `json-patch` crate) to the raw pod
//! the API server holds, which carries fields the typed model does not know: nothing may move
//! to another element or be lost, and only the injection's own edits may appear.

use base64::Engine as _;
use serde_json::{Value, json};
use webhook::admission::config::Config;
use webhook::admission::resolve::Offline;

/// Reviews `pod` (raw JSON) and returns the pod with the answered patch applied.
fn admit(pod: &Value) -> Value {
    let body = serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "raw", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "apps",
            "operation": "CREATE", "userInfo": {"username": "test"}, "object": pod}
    }))
    .expect("body");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let config = Config {
        shim_image: "registry.example/shim:1".to_owned(),
        namespace: "landlock-injector".to_owned(),
    };
    let reviewed = runtime
        .block_on(webhook::review::review(&body, &config, &Offline))
        .expect("a usable review");
    let response: Value =
        serde_json::from_slice(&webhook::review::to_json(&reviewed.review).expect("json"))
            .expect("json");
    let response = &response["response"];
    assert_eq!(response["allowed"], true, "{response}");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().expect("a patch"))
        .expect("base64");
    let patch: json_patch::Patch = serde_json::from_slice(&patch).expect("a JSONPatch");
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch).expect("the patch applies to the raw pod");
    patched
}

/// `list` of `pod` by container name.
fn by_name<'a>(pod: &'a Value, list: &str) -> Vec<(&'a str, &'a Value)> {
    pod["spec"][list]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|c| (c["name"].as_str().unwrap_or_default(), c))
                .collect()
        })
        .unwrap_or_default()
}

/// Every field of every original container is still on the container of the same name, except
/// what wrapping rewrites; the original mounts come first and unchanged.
fn assert_containers_kept(before: &Value, after: &Value, list: &str) {
    let after_items = by_name(after, list);
    for (name, original) in by_name(before, list) {
        let (_, now) = after_items
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{list} {name:?} is gone: {after}"));
        for (key, value) in original.as_object().expect("object") {
            match key.as_str() {
                "command" | "args" => {}
                "volumeMounts" => {
                    let mounts = value.as_array().expect("mounts");
                    assert_eq!(
                        &now[key].as_array().expect("mounts")[..mounts.len()],
                        &mounts[..],
                        "{list} {name:?}: mounts moved"
                    );
                }
                "livenessProbe" | "lifecycle" => {
                    // Exec commands are wrapped; everything else stays.
                    let mut a = value.clone();
                    let mut b = now[key].clone();
                    for v in [&mut a, &mut b] {
                        strip_exec(v);
                    }
                    assert_eq!(
                        a, b,
                        "{list} {name:?}: {key} changed beyond its exec command"
                    );
                }
                _ => assert_eq!(&now[key], value, "{list} {name:?}: {key} moved or was lost"),
            }
        }
    }
}

fn strip_exec(value: &mut Value) {
    if let Some(object) = value.as_object_mut() {
        if let Some(exec) = object.get_mut("exec").and_then(Value::as_object_mut) {
            exec.remove("command");
        }
        for (_, v) in object.iter_mut() {
            strip_exec(v);
        }
    }
}

fn future_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "future", "namespace": "apps", "futureMeta": {"a": 1},
            "annotations": {"landlock-injector.io/inject": "true", "example.com/a~b": "x"}},
        "spec": {
            "futurePodField": {"enabled": true},
            "volumes": [
                {"name": "cfg", "configMap": {"name": "app"}, "futureVolumeField": "v1"},
                {"name": "scratch", "emptyDir": {}, "futureVolumeField": "v2"},
            ],
            "initContainers": [
                {"name": "migrate", "image": "app:1", "command": ["/app/migrate"], "futureField": "migrate's"},
                {"name": "proxy", "image": "proxy:1", "command": ["/proxy"], "restartPolicy": "Always",
                 "futureField": "proxy's", "volumeMounts": [{"name": "cfg", "mountPath": "/etc/proxy", "futureMountField": 1}]},
            ],
            "containers": [
                {"name": "web", "image": "app:1", "command": ["/app/server"], "args": ["--port", "8080"],
                 "futureField": "web's",
                 "livenessProbe": {"exec": {"command": ["/bin/check"]}, "periodSeconds": 5, "futureProbeField": true},
                 "lifecycle": {"preStop": {"exec": {"command": ["/bin/drain"]}}, "futureHook": {}},
                 "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}, {"name": "scratch", "mountPath": "/scratch"}]},
                {"name": "worker", "image": "app:1", "command": ["/app/worker"], "futureField": "worker's"},
            ],
        },
    })
}

#[test]
fn unknown_fields_stay_where_they_were_in_every_position() {
    let before = future_pod();
    let after = admit(&before);
    for list in ["initContainers", "containers"] {
        assert_containers_kept(&before, &after, list);
    }
    // The installer is first and carries nothing of the user's first init container.
    let installer = &after["spec"]["initContainers"][0];
    assert_eq!(installer["image"], "registry.example/shim:1");
    assert!(installer.get("futureField").is_none(), "{installer}");
    assert_eq!(
        after["spec"]["initContainers"][1]["futureField"],
        "migrate's"
    );
    assert_eq!(after["spec"]["initContainers"][2]["futureField"], "proxy's");
    // Volumes: the user's first and unchanged, the shim's appended.
    let volumes = after["spec"]["volumes"].as_array().expect("volumes");
    assert_eq!(
        &volumes[..2],
        before["spec"]["volumes"].as_array().expect("v").as_slice()
    );
    assert_eq!(volumes.len(), 3);
    // Pod-level and metadata fields untouched; the annotation added next to the others.
    assert_eq!(
        after["spec"]["futurePodField"],
        before["spec"]["futurePodField"]
    );
    assert_eq!(
        after["metadata"]["futureMeta"],
        before["metadata"]["futureMeta"]
    );
    assert_eq!(after["metadata"]["annotations"]["example.com/a~b"], "x");
    assert_eq!(
        after["metadata"]["annotations"]["landlock-injector.io/status"],
        "injected"
    );
    // Only the expected members changed anywhere: remove them and the rest is the input.
    let mut rest = after.clone();
    rest["spec"]["initContainers"]
        .as_array_mut()
        .expect("inits")
        .remove(0);
    rest["spec"]["volumes"]
        .as_array_mut()
        .expect("volumes")
        .pop();
    rest["metadata"]["annotations"]
        .as_object_mut()
        .expect("annotations")
        .remove("landlock-injector.io/status");
    for list in ["initContainers", "containers"] {
        for (i, c) in rest["spec"][list]
            .as_array_mut()
            .expect("list")
            .iter_mut()
            .enumerate()
        {
            let original = &before["spec"][list][i];
            let c = c.as_object_mut().expect("container");
            c.insert("command".into(), original["command"].clone());
            if let Some(mounts) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                mounts.pop();
                if mounts.is_empty() && original.get("volumeMounts").is_none() {
                    c.remove("volumeMounts");
                }
            }
            for key in ["livenessProbe", "lifecycle"] {
                if let (Some(now), Some(was)) = (c.get_mut(key), original.get(key)) {
                    *now = was.clone();
                }
            }
        }
    }
    assert_eq!(rest, before, "something besides the injection changed");
}

#[test]
fn missing_lists_and_maps_are_created_not_assumed() {
    let before = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "bare", "labels": {"landlock-injector.io/inject": "true"}},
        "spec": {"containers": [{"name": "app", "image": "x", "command": ["/x"], "futureField": 1}]},
    });
    let after = admit(&before);
    assert_eq!(
        after["spec"]["initContainers"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(after["spec"]["volumes"].as_array().map(Vec::len), Some(1));
    assert_eq!(after["spec"]["containers"][0]["futureField"], 1);
    assert_eq!(
        after["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
        "/landlock-injector"
    );
    assert_eq!(
        after["metadata"]["annotations"]["landlock-injector.io/status"],
        "injected"
    );
    assert_eq!(after["metadata"]["labels"], before["metadata"]["labels"]);
}

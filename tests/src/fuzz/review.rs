//! AdmissionReviews through `webhook::review::review`, the function behind `/mutate`. Inputs
//! are real reviews (the fixtures, the load benchmark's defaulted pods, and
//! `tests/fuzz/bases/review-defaulted-no-command.json`: what the API server sends for a
//! Deployment's pod, every default filled in) with a sequence of structured edits: annotations
//! and labels from the real vocabulary, containers, mounts and volumes of every kind, namespace,
//! operation and kind, and anything-at-any-path replacements and removals. Image configurations
//! and namespaces come from an in-process resolver (no network).
//!
//! Besides not panicking: an allowed patch applies to the submitted object and, when that was
//! a valid Pod, gives a valid Pod;
//! every shim command line the patch wrote (command, then args, as the container runs them)
//! parses with the shim's own parser; and reviewing that Pod again changes nothing (the
//! webhook is reinvoked on its own output).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use webhook::admission::annotations::PREFIX;
use webhook::admission::config::Config;
use webhook::admission::entrypoint::ImageConfig;
use webhook::admission::namespaces::{NamespaceSource, PolicySource};
use webhook::admission::opt_in::NamespaceMeta;
use webhook::admission::resolve::ImageResolver;

use super::{SETTINGS, VALUES, Word};

/// The reviews the edits start from.
const BASES: &[&str] = &[
    include_str!("../../fuzz/bases/review-defaulted-no-command.json"),
    include_str!("../../../webhook/benches/load/review-annotated.json"),
    include_str!("../../../webhook/tests/fixtures/review-annotated.json"),
    include_str!("../../../webhook/tests/fixtures/review-no-command.json"),
    include_str!("../../../webhook/tests/fixtures/review-bad-annotation.json"),
    include_str!("../../../webhook/tests/fixtures/review-plain.json"),
];

const NAMES: &[&str] = &[
    "web",
    "api",
    "proxy",
    "migrate",
    "landlock-shim",
    "landlock-shim-install",
    "config",
    "tls",
    "data",
    "a.b",
    "",
];
const IMAGES: &[&str] = &[
    "registry.example/shop/api:3.1.0",
    "registry.example/missing:1",
    "registry.example/empty:1",
    "registry.example/cmd-only:1",
    "ghcr.io/landlock-injector/landlock-shim:0.1.0",
    "busybox",
    "",
];
const PATHS: &[&str] = &[
    "/etc/app",
    "/var/lib/app",
    "/tmp",
    "/",
    "/landlock-injector",
    "/landlock-injector/landlock-shim",
    "/etc/../x",
    "relative",
    "",
];
const WORDS: &[&str] = &[
    "/landlock-injector/landlock-shim",
    "/landlock-shim",
    "install",
    "--",
    "--ro",
    "/srv",
    "serve",
    "sh",
    "-c",
];
const NAMESPACES: &[&str] = &[
    "shop",
    "opted",
    "opted-bad",
    "unreadable",
    "kube-system",
    "landlock-injector",
    "",
];
const OPERATIONS: &[&str] = &["CREATE", "UPDATE", "DELETE", "CONNECT", "create"];
const KINDS: &[&str] = &["Pod", "Deployment", "Binding", "pod"];

/// An arbitrary JSON value, for replacing whatever sits at a path.
#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(Word),
    Array(Vec<Json>),
    Object(Vec<(Word, Json)>),
}

impl Json {
    fn value(&self, depth: usize) -> Value {
        if depth > 16 {
            return Value::Null;
        }
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => json!(b),
            Json::Int(i) => json!(i),
            Json::Float(f) => json!(f),
            Json::Text(w) => json!(w.pick(VALUES)),
            Json::Array(items) => Value::Array(items.iter().map(|j| j.value(depth + 1)).collect()),
            Json::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, j)| (k.pick(NAMES), j.value(depth + 1)))
                    .collect(),
            ),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum VolumeKind {
    ConfigMap,
    Secret,
    EmptyDir,
    HostPath(Word),
    Claim(bool),
    Csi(Word),
    Projected,
    DownwardApi,
    Other(Word),
}

#[derive(Arbitrary, Debug)]
enum ContainerEdit {
    Command(Option<Vec<Word>>),
    Args(Option<Vec<Word>>),
    Image(Word),
    Name(Word),
    Mount {
        volume: Word,
        path: Word,
        sub_path: Option<Word>,
        read_only: Option<bool>,
    },
    ExecProbe(Vec<Word>),
    Sidecar,
}

#[derive(Arbitrary, Debug)]
enum Edit {
    Annotation(Option<Word>, Word, Word),
    Label(Word, Word),
    RawAnnotation(String, String),
    ClearAnnotations,
    Container(u8, ContainerEdit),
    AddContainer { init: bool, name: Word, image: Word },
    Volume(Word, VolumeKind),
    Namespace(Word),
    Operation(Word),
    Kind(Word),
    SubResource(Word),
    Replace(u16, Json),
    Remove(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    base: u8,
    edits: Vec<Edit>,
}

/// Image configurations and namespaces without a network, decided by the name.
struct Offline;

impl ImageResolver for Offline {
    async fn resolve(
        &self,
        images: &[String],
        _pod: &Pod,
        _namespace: Option<&str>,
    ) -> Vec<Result<ImageConfig, String>> {
        images.iter().map(|image| configuration_of(image)).collect()
    }
}

/// The configuration [`Offline`] answers for `image`, decided by its name.
fn configuration_of(image: &str) -> Result<ImageConfig, String> {
    let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect();
    if image.contains("missing") {
        Err("registry registry.example: manifest unknown".to_owned())
    } else if image.contains("empty") {
        Ok(ImageConfig::default())
    } else if image.contains("cmd-only") {
        Ok(ImageConfig {
            entrypoint: vec![],
            cmd: words(&["/bin/server", "--port", "80"]),
        })
    } else {
        Ok(ImageConfig {
            entrypoint: words(&["/docker-entrypoint.sh"]),
            cmd: words(&["nginx", "-g", "daemon off;"]),
        })
    }
}

impl NamespaceSource for Offline {
    async fn namespace(&self, name: &str) -> Result<Option<NamespaceMeta>, String> {
        let meta = |labels: &[(&str, &str)], annotations: &[(&str, &str)]| {
            let map = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
                kv.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect()
            };
            Some(NamespaceMeta {
                labels: map(labels),
                annotations: map(annotations),
            })
        };
        match name {
            "opted" => Ok(meta(
                &[("landlock-injector.io/inject", "true")],
                &[
                    ("landlock-injector.io/mode", "enforce"),
                    ("landlock-injector.io/profile", "minimal"),
                ],
            )),
            "opted-bad" => Ok(meta(
                &[("landlock-injector.io/inject", "yes")],
                &[("landlock-injector.io/mode", "strict")],
            )),
            "unreadable" => Err("namespaces \"unreadable\" is forbidden".to_owned()),
            _ => Ok(None),
        }
    }
}

/// Policies: in namespace "opted" one selecting every pod with `app: web` (closed to pod
/// additions) and one bound by name; "unreadable"'s cannot be read.
impl PolicySource for Offline {
    fn policies(
        &self,
        namespace: &str,
    ) -> Result<Vec<std::sync::Arc<kube::core::DynamicObject>>, String> {
        let policy = |name: &str, spec: Value| {
            serde_json::from_value(json!({
                "apiVersion": "landlock-injector.io/v1alpha1", "kind": "LandlockPolicy",
                "metadata": {"name": name, "namespace": namespace, "generation": 1},
                "spec": spec,
            }))
            .map(std::sync::Arc::new)
            .map_err(|e| e.to_string())
        };
        match namespace {
            "opted" => Ok(vec![
                policy(
                    "web",
                    json!({"podSelector": {"matchLabels": {"app": "web"}}, "allowPodAdditions": false,
                        "default": {"read": ["/srv"], "mode": "enforce"}}),
                )?,
                policy("named", json!({"default": {"write": ["/data"]}}))?,
            ]),
            "unreadable" => Err("the LandlockPolicy watch has not listed them yet".to_owned()),
            _ => Ok(Vec::new()),
        }
    }
}

fn bases() -> &'static [Value] {
    static BASES_PARSED: OnceLock<Vec<Value>> = OnceLock::new();
    BASES_PARSED.get_or_init(|| {
        BASES
            .iter()
            .map(|text| serde_json::from_str(text).expect("base reviews are JSON"))
            .collect()
    })
}

/// Every JSON pointer into `value`, parents before children.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{at}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// The object of `review`, created as an object where anything else sits.
fn object_map<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut serde_json::Map<String, Value> {
    let mut at = value;
    for key in path {
        if !at.is_object() {
            *at = json!({});
        }
        at = at
            .as_object_mut()
            .map(|m| m.entry((*key).to_owned()).or_insert(Value::Null))
            .expect("made an object");
    }
    if !at.is_object() {
        *at = json!({});
    }
    at.as_object_mut().expect("made an object")
}

/// The array at `path` (created, or replaced if something else is there).
fn array<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut Vec<Value> {
    let (last, parents) = path.split_last().expect("a path");
    let slot = object_map(value, parents)
        .entry((*last).to_owned())
        .or_insert(Value::Null);
    if !slot.is_array() {
        *slot = json!([]);
    }
    slot.as_array_mut().expect("made an array")
}

fn words(list: &[Word], vocabulary: &[&str]) -> Value {
    json!(list.iter().map(|w| w.pick(vocabulary)).collect::<Vec<_>>())
}

fn apply(review: &mut Value, edit: &Edit) {
    match edit {
        Edit::Annotation(container, setting, value) => {
            let key = match container {
                Some(c) => format!("{PREFIX}{}.{}", c.pick(NAMES), setting.pick(SETTINGS)),
                None => format!("{PREFIX}{}", setting.pick(SETTINGS)),
            };
            object_map(review, &["request", "object", "metadata", "annotations"])
                .insert(key, json!(value.pick(VALUES)));
        }
        Edit::Label(setting, value) => {
            object_map(review, &["request", "object", "metadata", "labels"]).insert(
                format!("{PREFIX}{}", setting.pick(SETTINGS)),
                json!(value.pick(VALUES)),
            );
        }
        Edit::RawAnnotation(key, value) => {
            object_map(review, &["request", "object", "metadata", "annotations"])
                .insert(key.clone(), json!(value));
        }
        Edit::ClearAnnotations => {
            object_map(review, &["request", "object", "metadata"]).remove("annotations");
        }
        Edit::Container(which, edit) => {
            let spec = object_map(review, &["request", "object", "spec"]);
            let mut all: Vec<&mut Value> = Vec::new();
            for (list, items) in spec.iter_mut() {
                if let ("initContainers" | "containers", Value::Array(items)) =
                    (list.as_str(), items)
                {
                    all.extend(items.iter_mut());
                }
            }
            let count = all.len();
            let Some(container) = all.into_iter().nth(usize::from(*which) % count.max(1)) else {
                return;
            };
            if !container.is_object() {
                *container = json!({});
            }
            let Some(container) = container.as_object_mut() else {
                return;
            };
            match edit {
                ContainerEdit::Command(None) => {
                    container.remove("command");
                }
                ContainerEdit::Command(Some(list)) => {
                    container.insert("command".to_owned(), words(list, WORDS));
                }
                ContainerEdit::Args(None) => {
                    container.remove("args");
                }
                ContainerEdit::Args(Some(list)) => {
                    container.insert("args".to_owned(), words(list, WORDS));
                }
                ContainerEdit::Image(image) => {
                    container.insert("image".to_owned(), json!(image.pick(IMAGES)));
                }
                ContainerEdit::Name(name) => {
                    container.insert("name".to_owned(), json!(name.pick(NAMES)));
                }
                ContainerEdit::Mount {
                    volume,
                    path,
                    sub_path,
                    read_only,
                } => {
                    let mut mount =
                        json!({"name": volume.pick(NAMES), "mountPath": path.pick(PATHS)});
                    if let Some(sub) = sub_path {
                        mount["subPath"] = json!(sub.pick(PATHS));
                    }
                    if let Some(ro) = read_only {
                        mount["readOnly"] = json!(ro);
                    }
                    let mounts = container
                        .entry("volumeMounts".to_owned())
                        .or_insert_with(|| json!([]));
                    if let Some(mounts) = mounts.as_array_mut() {
                        mounts.push(mount);
                    } else {
                        *mounts = json!([mount]);
                    }
                }
                ContainerEdit::ExecProbe(command) => {
                    container.insert(
                        "livenessProbe".to_owned(),
                        json!({"exec": {"command": words(command, WORDS)}}),
                    );
                }
                ContainerEdit::Sidecar => {
                    container.insert("restartPolicy".to_owned(), json!("Always"));
                }
            }
        }
        Edit::AddContainer { init, name, image } => {
            let list = if *init {
                "initContainers"
            } else {
                "containers"
            };
            array(review, &["request", "object", "spec", list])
                .push(json!({"name": name.pick(NAMES), "image": image.pick(IMAGES)}));
        }
        Edit::Volume(name, kind) => {
            let source = match kind {
                VolumeKind::ConfigMap => json!({"configMap": {"name": "cm"}}),
                VolumeKind::Secret => json!({"secret": {"secretName": "s"}}),
                VolumeKind::EmptyDir => json!({"emptyDir": {}}),
                VolumeKind::HostPath(path) => json!({"hostPath": {"path": path.pick(PATHS)}}),
                VolumeKind::Claim(ro) => {
                    json!({"persistentVolumeClaim": {"claimName": "c", "readOnly": ro}})
                }
                VolumeKind::Csi(driver) => json!({"csi": {"driver": driver.pick(&[
                    "csi.cert-manager.io",
                    "secrets-store.csi.k8s.io"
                ])}}),
                VolumeKind::Projected => json!({"projected": {"sources": []}}),
                VolumeKind::DownwardApi => json!({"downwardAPI": {"items": []}}),
                VolumeKind::Other(kind) => json!({kind.pick(&["nfs", "iscsi"]): {}}),
            };
            let mut volume = source;
            volume["name"] = json!(name.pick(NAMES));
            array(review, &["request", "object", "spec", "volumes"]).push(volume);
        }
        Edit::Namespace(name) => {
            let name = name.pick(NAMESPACES);
            object_map(review, &["request"]).insert("namespace".to_owned(), json!(name));
            object_map(review, &["request", "object", "metadata"])
                .insert("namespace".to_owned(), json!(name));
        }
        Edit::Operation(op) => {
            object_map(review, &["request"])
                .insert("operation".to_owned(), json!(op.pick(OPERATIONS)));
        }
        Edit::Kind(kind) => {
            object_map(review, &["request", "kind"])
                .insert("kind".to_owned(), json!(kind.pick(KINDS)));
        }
        Edit::SubResource(sub) => {
            object_map(review, &["request"]).insert(
                "subResource".to_owned(),
                json!(sub.pick(&["status", "ephemeralcontainers", "binding"])),
            );
        }
        Edit::Replace(at, json) => {
            let mut all = Vec::new();
            pointers(review, String::new(), &mut all);
            let at = all[usize::from(*at) % all.len()].clone();
            if let Some(slot) = review.pointer_mut(&at) {
                *slot = json.value(0);
            }
        }
        Edit::Remove(at) => {
            let mut all = Vec::new();
            pointers(review, String::new(), &mut all);
            let at = &all[usize::from(*at) % all.len()];
            let Some((parent, key)) = at.rsplit_once('/') else {
                return;
            };
            let key = key.replace("~1", "/").replace("~0", "~");
            match review.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&key);
                }
                Some(Value::Array(items)) => {
                    if let Ok(index) = key.parse::<usize>()
                        && index < items.len()
                    {
                        items.remove(index);
                    }
                }
                _ => {}
            }
        }
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

/// The response of reviewing `body`, as JSON; `None` when the body is not a usable review.
fn respond(body: &[u8], config: &Config) -> Option<Value> {
    let reviewed = runtime()
        .block_on(webhook::review::review(body, config, &Offline))
        .ok()?;
    let bytes = webhook::review::to_json(&reviewed.review).expect("a response serialises");
    let response: Value = serde_json::from_slice(&bytes).expect("the response is JSON");
    Some(response["response"].clone())
}

/// Every shim command line the patch wrote (one no container of the submitted pod had) must
/// parse with the shim's parser. Commands the user wrote are theirs, whatever they say.
fn assert_written_shim_commands_parse(before: &Value, pod: &Pod) {
    let original: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|list| before["spec"][list].as_array().into_iter().flatten())
        .map(|container| &container["command"])
        .collect();
    let spec = pod.spec.as_ref().expect("a patched pod has a spec");
    for container in spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
    {
        let Some(command) = &container.command else {
            continue;
        };
        let written = !original.contains(&&json!(command));
        if written
            && command
                .first()
                .is_some_and(|c| c.ends_with("/landlock-shim"))
        {
            // What the container runs: command, then args (Kubernetes appends them).
            let argv: Vec<&String> = command
                .iter()
                .chain(container.args.iter().flatten())
                .collect();
            let parsed = init_shim::flags::parse(argv.iter().skip(1).map(OsString::from));
            assert!(
                parsed.is_ok(),
                "container {:?}: the shim refuses what the webhook wrote, {argv:?}: {parsed:?}",
                container.name
            );
        }
    }
}

/// The target.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let bases = bases();
    let mut review = bases[usize::from(input.base) % bases.len()].clone();
    for edit in input.edits.iter().take(24) {
        apply(&mut review, edit);
    }
    let body = serde_json::to_vec(&review).expect("JSON");
    let config = Config {
        shim_image: webhook::admission::config::default_shim_image(),
        namespace: "landlock-injector".to_owned(),
    };
    let Some(response) = respond(&body, &config) else {
        return;
    };
    let Some(patch) = response["patch"].as_str() else {
        return;
    };
    assert_eq!(response["allowed"], true, "a patch comes only with allowed");
    let patch: json_patch::Patch = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(patch)
            .expect("the patch is base64"),
    )
    .expect("the patch is a JSONPatch");
    let mut object = review["request"]["object"].clone();
    json_patch::patch(&mut object, &patch)
        .unwrap_or_else(|e| panic!("the patch does not apply to the object: {e}\n{patch:?}"));
    // The webhook reads only the parts of a pod it decides on, so an object that was no valid
    // Pod (the API server never sends one) need not become one; a valid one must stay valid.
    let submitted_is_pod =
        serde_json::from_value::<Pod>(review["request"]["object"].clone()).is_ok();
    let pod = match serde_json::from_value::<Pod>(object.clone()) {
        Ok(pod) => pod,
        Err(e) if submitted_is_pod => panic!("the patch made a Pod invalid: {e}"),
        Err(_) => return,
    };
    assert_written_shim_commands_parse(&review["request"]["object"], &pod);

    // The API server reinvokes the webhook on its own output: nothing more to change.
    review["request"]["object"] = object;
    let body = serde_json::to_vec(&review).expect("JSON");
    let again = respond(&body, &config).expect("the patched review is still a review");
    assert_eq!(
        again["allowed"], true,
        "the patched pod is refused: {again}"
    );
    assert!(
        again.get("patch").is_none_or(Value::is_null),
        "reviewing the patched pod patches it again: {again}"
    );
}

//! The Kubernetes Event posted on a pod for its denials (reason `LandlockDenied`), and where it
//! goes: an [`EventSink`]. [`KubeEvents`] applies it through the API server (server-side apply:
//! the first report creates it, later ones raise its `count`); [`RecordedEvents`] keeps it, for
//! tests and `--no-kube`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use tokio::sync::mpsc;

use super::aggregate::Emit;
use super::blockers;
use super::metrics::Metrics;
use super::pods::PodRef;
use super::record::{Object, Stamp};

/// The Event reason.
pub const REASON: &str = "LandlockDenied";
/// The component named as the Event's source.
pub const COMPONENT: &str = "landlock-denials";

/// What one Event series counts: a container, the blocked rights, the object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKey {
    /// The pod and container.
    pub pod: PodRef,
    /// The blocked rights (`fs.read_file`, ...), joined by commas.
    pub blockers: String,
    /// The denied object.
    pub object: Object,
}

fn time(stamp: Stamp) -> Timestamp {
    Timestamp::new(stamp.seconds as i64, stamp.millis as i32 * 1_000_000).unwrap_or_default()
}

/// What to add to allow it: `landlock-injector.io/app.read: /etc/shadow`.
fn remedy(key: &EventKey) -> String {
    let container = key.pod.container.as_deref().unwrap_or("CONTAINER");
    let grant = blockers::grant_all(
        &key.blockers
            .split(',')
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    )
    .and_then(|g| g.annotation_key());
    let value = match &key.object {
        Object::Path { path, .. } => Some(path.clone()),
        Object::Port { port, .. } => Some(port.to_string()),
        _ => None,
    };
    match (grant, value) {
        (Some(grant), Some(value)) => format!(
            "to allow it, add the annotation landlock-injector.io/{container}.{grant}: \"{value}\""
        ),
        _ => "scoped by the sandbox: signals and abstract UNIX sockets outside it are denied (not grantable by annotation)".to_owned(),
    }
}

/// The Event for one report of `emit` (its name is stable for the series).
pub fn event(emit: &Emit<EventKey>, node: &str) -> Event {
    let key = &emit.key;
    let container = key.pod.container.as_deref().unwrap_or("");
    let mut hasher = DefaultHasher::new();
    (key, emit.first).hash(&mut hasher);
    let name = format!("{}.landlock-{:016x}", key.pod.pod, hasher.finish());
    let what = if container.is_empty() {
        format!("a container of pod {}", key.pod.pod)
    } else {
        format!("container {container:?}")
    };
    Event {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(key.pod.namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Pod".to_owned()),
            name: Some(key.pod.pod.clone()),
            namespace: Some(key.pod.namespace.clone()),
            uid: Some(key.pod.uid.clone()),
            field_path: (!container.is_empty()).then(|| format!("spec.containers{{{container}}}")),
            ..ObjectReference::default()
        },
        reason: Some(REASON.to_owned()),
        message: Some(format!(
            "Landlock denied {what} {} on {}; {}",
            key.blockers,
            key.object,
            remedy(key)
        )),
        type_: Some("Warning".to_owned()),
        count: Some(i32::try_from(emit.count).unwrap_or(i32::MAX)),
        first_timestamp: Some(Time(time(emit.first))),
        last_timestamp: Some(Time(time(emit.last))),
        action: Some("Denied".to_owned()),
        reporting_component: Some(format!("landlock-injector.io/{COMPONENT}")),
        reporting_instance: Some(node.to_owned()),
        source: Some(EventSource {
            component: Some(COMPONENT.to_owned()),
            host: Some(node.to_owned()),
        }),
        ..Event::default()
    }
}

/// Where Events go.
pub trait EventSink: Send + Sync {
    /// Hands one Event on; must not block.
    fn send(&self, event: Event);
}

/// Keeps every Event (tests; `--no-kube` has nowhere to post them).
#[derive(Clone, Default)]
pub struct RecordedEvents(Arc<Mutex<Vec<Event>>>);

impl RecordedEvents {
    /// Every Event sent so far.
    pub fn events(&self) -> Vec<Event> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl EventSink for RecordedEvents {
    fn send(&self, event: Event) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event);
    }
}

/// Applies Events through the API server from a background task; a full queue drops (and
/// counts) rather than slows the reader down.
pub struct KubeEvents {
    queue: mpsc::Sender<Event>,
    metrics: Arc<Metrics>,
}

impl KubeEvents {
    /// Starts the task on the current Tokio runtime.
    pub fn spawn(client: Client, metrics: Arc<Metrics>) -> Self {
        let (queue, mut incoming) = mpsc::channel::<Event>(1024);
        let task_metrics = metrics.clone();
        tokio::spawn(async move {
            let params = PatchParams::apply(COMPONENT).force();
            while let Some(event) = incoming.recv().await {
                let namespace = event.metadata.namespace.clone().unwrap_or_default();
                let name = event.metadata.name.clone().unwrap_or_default();
                let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
                match api.patch(&name, &params, &Patch::Apply(&event)).await {
                    Ok(_) => task_metrics.kube_event("applied"),
                    Err(e) => {
                        task_metrics.kube_event("failed");
                        tracing::warn!(error = %e, event = %name, %namespace, "cannot post the Event");
                    }
                }
            }
        });
        Self { queue, metrics }
    }
}

impl EventSink for KubeEvents {
    fn send(&self, event: Event) {
        if self.queue.try_send(event).is_err() {
            self.metrics.kube_event("dropped");
        }
    }
}

//! The loop of `serve --recordings`, against the cluster: a watch of the pods a recording
//! admitted (selected by the label `landlock-injector.io/recording` the webhook writes), one
//! followed log stream per container (`pods/log`: no node agent, no privilege beyond reading
//! logs), and every few seconds, for each LandlockRecording of the webhook's cache:
//!
//! - a finalizer on it, so that deleting it still writes its policy;
//! - `status.phase: Recording` while it records;
//! - when it is due ([`super::due`]), a claim (`status.phase` from `Recording` to `Writing`
//!   in one JSON patch that tests the old value, so that of several webhook replicas exactly
//!   one writes), the policy applied (server-side apply, field manager
//!   `landlock-injector-recording`), the final status, and the finalizer removed.
//!
//! What was collected lives in this process's memory: a webhook restarted during a recording
//! re-reads the logs of the pods still running, not of those already gone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::Api;
use kube::api::{LogParams, Patch, PatchParams};
use kube::core::DynamicObject;
use kube::runtime::reflector::Store;
use serde_json::{Value, json};

use crate::admission::annotations::{PREFIX, RECORDING};
use crate::admission::{policy, recording};
use crate::recording::{Action, Collected, MAX_LINE, View, WRITING, due, next, outcome};

/// How often recordings are looked at (and new containers' logs followed).
pub const PERIOD: Duration = Duration::from_secs(5);
/// The finalizer that keeps a deleted recording until its policy is written.
pub const FINALIZER: &str = "landlock-injector.io/recording";
/// The field manager of the written policies.
pub const MANAGER: &str = "landlock-injector-recording";

/// A recording's key: namespace, name.
type Key = (String, String);

/// Shared between the log streams and the loop.
#[derive(Default)]
struct State {
    collected: BTreeMap<Key, Collected>,
    /// Streams started: namespace, pod uid, container, restart count.
    followed: BTreeSet<(String, String, String, i32)>,
    /// Recordings this replica claimed the write of.
    claimed: BTreeSet<Key>,
}

/// Starts the pod watch and the loop on the current tokio runtime; both run for as long as the
/// process does, retrying what fails.
pub fn start(client: kube::Client, recordings: Store<DynamicObject>) {
    // Only what the loop reads is kept: names, labels, container statuses.
    let pods = crate::pod_watch::labelled(
        client.clone(),
        &format!("{PREFIX}{RECORDING}"),
        "LandlockRecordings",
        |pod| {
            pod.spec = None;
            pod.metadata.annotations = None;
            if let Some(status) = pod.status.as_mut() {
                *status = PodStatus {
                    container_statuses: status.container_statuses.take(),
                    ..PodStatus::default()
                };
            }
        },
    );
    let state = Arc::new(Mutex::new(State::default()));
    tokio::spawn(run(client, recordings, pods, state));
}

async fn run(
    client: kube::Client,
    recordings: Store<DynamicObject>,
    pods: Store<Pod>,
    state: Arc<Mutex<State>>,
) {
    let (Ok(()), Ok(())) = (
        recordings.wait_until_ready().await,
        pods.wait_until_ready().await,
    ) else {
        tracing::warn!("LandlockRecording controller: a watch ended before its first list");
        return;
    };
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        let current = recordings.state();
        // Only recordings still collecting get new streams (a finished one's pods keep their
        // label until they are replaced).
        let collecting: BTreeSet<Key> = current
            .iter()
            .filter(|r| {
                !matches!(
                    recording::phase(r),
                    Some(recording::WRITTEN | recording::FAILED | WRITING)
                )
            })
            .filter_map(|r| Some((r.metadata.namespace.clone()?, r.metadata.name.clone()?)))
            .collect();
        follow_new_containers(&client, &pods, &collecting, &state);
        for object in current {
            if let Err(e) = step(&client, &object, &state).await {
                let name = object.metadata.name.as_deref().unwrap_or_default();
                tracing::warn!(recording = name, error = %e, "LandlockRecording: retrying");
            }
        }
    }
}

/// Starts a log stream for every running container of a recorded pod not followed yet.
fn follow_new_containers(
    client: &kube::Client,
    pods: &Store<Pod>,
    collecting: &BTreeSet<Key>,
    state: &Arc<Mutex<State>>,
) {
    let label = format!("{PREFIX}{RECORDING}");
    for pod in pods.state() {
        let meta = &pod.metadata;
        let (Some(namespace), Some(name), Some(uid)) = (&meta.namespace, &meta.name, &meta.uid)
        else {
            continue;
        };
        let Some(recording) = meta.labels.as_ref().and_then(|l| l.get(&label)) else {
            continue;
        };
        if !collecting.contains(&(namespace.clone(), recording.clone())) {
            continue;
        }
        let statuses = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.clone())
            .unwrap_or_default();
        for container in statuses {
            let started = container
                .state
                .as_ref()
                .is_some_and(|s| s.running.is_some() || s.terminated.is_some());
            if !started {
                continue;
            }
            let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
            let key = (namespace.clone(), recording.clone());
            if !guard.collected.entry(key.clone()).or_default().admits(name) {
                continue;
            }
            let stream = (
                namespace.clone(),
                uid.clone(),
                container.name.clone(),
                container.restart_count,
            );
            if !guard.followed.insert(stream) {
                continue;
            }
            drop(guard);
            tokio::spawn(follow(
                Api::namespaced(client.clone(), namespace),
                name.clone(),
                container.name.clone(),
                key,
                state.clone(),
            ));
        }
    }
}

/// Follows one container's log until it ends, keeping its learn lines.
async fn follow(api: Api<Pod>, pod: String, container: String, key: Key, state: Arc<Mutex<State>>) {
    let params = LogParams {
        container: Some(container.clone()),
        follow: true,
        ..LogParams::default()
    };
    let mut reader = match api.log_stream(&pod, &params).await {
        Ok(reader) => Box::pin(reader),
        Err(e) => {
            tracing::warn!(pod, container, error = %e, "LandlockRecording: cannot follow the log");
            return;
        }
    };
    let result = super::log_lines(&mut reader, MAX_LINE, |line| {
        let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(collected) = guard.collected.get_mut(&key) {
            match line {
                Ok(line) => collected.observe(&pod, &container, line),
                Err(_) => collected.long_lines += 1,
            }
        }
    })
    .await;
    if let Err(e) = result {
        tracing::info!(pod, container, error = %e, "LandlockRecording: log stream ended");
    }
}

/// One recording's step: finalizer, phase, and when due the policy.
async fn step(
    client: &kube::Client,
    object: &DynamicObject,
    state: &Arc<Mutex<State>>,
) -> Result<(), kube::Error> {
    let (Some(namespace), Some(name)) = (&object.metadata.namespace, &object.metadata.name) else {
        return Ok(());
    };
    let key = (namespace.clone(), name.clone());
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &recording::api_resource());
    let finalizers = object.metadata.finalizers.clone().unwrap_or_default();
    let compiled = recording::compile(object);
    let (collected_pods, claimed_here) = {
        let guard = state.lock().unwrap_or_else(|e| e.into_inner());
        let pods = guard.collected.get(&key).map_or(0, |c| c.lines.len());
        (pods, guard.claimed.contains(&key))
    };
    let view = View {
        phase: recording::phase(object),
        has_finalizer: finalizers.iter().any(|f| f == FINALIZER),
        deleting: object.metadata.deletion_timestamp.is_some(),
        valid: compiled.is_ok(),
        due: compiled
            .as_ref()
            .is_ok_and(|c| due(object, c, SystemTime::now())),
        pods: (
            collected_pods,
            object.data.pointer("/status/pods").and_then(Value::as_u64),
        ),
        claimed_here,
    };
    match next(view) {
        Action::Nothing => Ok(()),
        Action::Release => {
            if view.has_finalizer {
                remove_finalizer(&api, name, &finalizers).await?;
            }
            let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
            guard.collected.remove(&key);
            guard.claimed.remove(&key);
            Ok(())
        }
        Action::AddFinalizer => {
            let mut with = finalizers.clone();
            with.push(FINALIZER.to_owned());
            let patch = json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": object.metadata.resource_version},
                {"op": "add", "path": "/metadata/finalizers", "value": with},
            ]);
            api.patch(name, &PatchParams::default(), &json_patch(patch)?)
                .await?;
            Ok(())
        }
        Action::FailInvalid => {
            let message = compiled.err().map(|e| e.to_string()).unwrap_or_default();
            set_status(
                &api,
                name,
                json!({"phase": recording::FAILED, "message": message}),
            )
            .await
        }
        Action::MarkRecording => set_status(&api, name, json!({"phase": "Recording"})).await,
        Action::CountPods => set_status(&api, name, json!({"pods": collected_pods})).await,
        Action::FailClaimedElsewhere => {
            let status = json!({"phase": recording::FAILED, "message":
                "deleted while another webhook replica was writing its policy; this one has not seen it finish"});
            set_status(&api, name, status).await
        }
        Action::Claim => {
            // Of several replicas, the one whose patch still finds the old phase wins.
            let claim = json!([
                {"op": "test", "path": "/status/phase", "value": view.phase},
                {"op": "replace", "path": "/status/phase", "value": WRITING},
            ]);
            if let Err(e) = api
                .patch_status(name, &PatchParams::default(), &json_patch(claim)?)
                .await
            {
                tracing::info!(recording = name.as_str(), error = %e, "LandlockRecording: another replica writes it");
                return Ok(());
            }
            state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .claimed
                .insert(key.clone());
            write(client, &api, namespace, name, compiled, state).await
        }
        Action::Write => write(client, &api, namespace, name, compiled, state).await,
    }
}

/// Writes the policy of a claimed recording and its final status.
async fn write(
    client: &kube::Client,
    api: &Api<DynamicObject>,
    namespace: &str,
    name: &str,
    compiled: Result<recording::Compiled, recording::RecordingError>,
    state: &Arc<Mutex<State>>,
) -> Result<(), kube::Error> {
    let Ok(compiled) = compiled else {
        return Ok(());
    };
    let result = {
        let guard = state.lock().unwrap_or_else(|e| e.into_inner());
        let empty = Collected::default();
        let collected = guard
            .collected
            .get(&(namespace.to_owned(), name.to_owned()))
            .unwrap_or(&empty);
        outcome(&compiled, namespace, collected)
    };
    let mut status = result.status;
    if let Some(policy_object) = result.policy {
        let policies: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &policy::api_resource());
        let params = PatchParams::apply(MANAGER).force();
        if let Err(e) = policies
            .patch(&compiled.policy, &params, &Patch::Apply(&policy_object))
            .await
        {
            status = json!({"phase": recording::FAILED,
                "message": format!("cannot write LandlockPolicy {:?}: {e}", compiled.policy)});
        }
    }
    tracing::info!(
        namespace,
        recording = name,
        phase = status["phase"].as_str().unwrap_or_default(),
        "LandlockRecording finished"
    );
    set_status(api, name, status).await
}

/// Merges `status` into the recording's status.
async fn set_status(
    api: &Api<DynamicObject>,
    name: &str,
    status: Value,
) -> Result<(), kube::Error> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await?;
    Ok(())
}

async fn remove_finalizer(
    api: &Api<DynamicObject>,
    name: &str,
    finalizers: &[String],
) -> Result<(), kube::Error> {
    let remaining: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
    let patch = json!([
        {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
        {"op": "replace", "path": "/metadata/finalizers", "value": remaining},
    ]);
    api.patch(name, &PatchParams::default(), &json_patch(patch)?)
        .await?;
    Ok(())
}

fn json_patch(value: Value) -> Result<Patch<Value>, kube::Error> {
    let patch: json_patch::Patch =
        serde_json::from_value(value).map_err(kube::Error::SerdeError)?;
    Ok(Patch::Json(patch))
}

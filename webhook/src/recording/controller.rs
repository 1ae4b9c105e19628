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
//! re-reads the logs of the pods still running, not of those already gone. A log stream that
//! fails, or ends while its container still runs, is opened again at the next round (from the
//! start: the last learn line of each run wins, so reading twice changes nothing); a run not
//! read to its end before its container restarted is read from its previous log
//! ([`super::runs`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodStatus};
use kube::Api;
use kube::api::{LogParams, Patch, PatchParams};
use kube::core::DynamicObject;
use kube::runtime::reflector::Store;
use serde_json::{Value, json};

use crate::admission::annotations::{PREFIX, RECORDING};
use crate::admission::{policy, recording};
use crate::recording::{
    Action, CLAIM_GRACE, Collected, MAX_LINE, View, WRITING, due, fit_status, next, outcome,
    refused_for_good, runs,
};

/// How often recordings are looked at (and new containers' logs followed).
pub const PERIOD: Duration = Duration::from_secs(5);
/// The finalizer that keeps a deleted recording until its policy is written.
pub const FINALIZER: &str = "landlock-injector.io/recording";
/// The field manager of the written policies.
pub const MANAGER: &str = "landlock-injector-recording";
/// The longest one recording's round may take (its API calls): a server that accepts a request
/// and never answers must not stop every other recording.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// A recording's key: namespace, name.
type Key = (String, String);

/// One container run's log: namespace, pod uid, container, restart count.
type StreamKey = (String, String, String, i32);

/// A log stream being read, for the recording it serves.
struct Stream {
    recording: Key,
    task: tokio::task::AbortHandle,
}

/// Shared between the log streams and the loop.
#[derive(Default)]
struct State {
    collected: BTreeMap<Key, Collected>,
    /// Streams being read.
    followed: BTreeMap<StreamKey, Stream>,
    /// Streams read to their end (their container had stopped, or stopped meanwhile).
    done: BTreeSet<StreamKey>,
    /// Recordings this replica claimed the write of.
    claimed: BTreeSet<Key>,
    /// Recordings under another replica's claim, since when this one sees them so.
    writing_since: BTreeMap<Key, Instant>,
}

impl State {
    /// Stops the streams of `key`, and forgets it.
    fn forget(&mut self, key: &Key) {
        self.collected.remove(key);
        self.claimed.remove(key);
        self.writing_since.remove(key);
        self.followed.retain(|_, stream| {
            let keep = &stream.recording != key;
            if !keep {
                stream.task.abort();
            }
            keep
        });
    }

    /// Forgets recordings no longer in the cache (deleted without this replica releasing
    /// them) and the streams of pods that are gone.
    fn prune(&mut self, recordings: &BTreeSet<Key>, pods: &BTreeSet<String>) {
        let gone: Vec<Key> = self
            .collected
            .keys()
            .chain(self.claimed.iter())
            .chain(self.writing_since.keys())
            .filter(|k| !recordings.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.forget(&key);
        }
        self.followed.retain(|(_, uid, _, _), stream| {
            let keep = pods.contains(uid);
            if !keep {
                stream.task.abort();
            }
            keep
        });
        self.done.retain(|(_, uid, _, _)| pods.contains(uid));
    }
}

/// Starts the pod watch and the loop on the current tokio runtime; both run for as long as the
/// process does, retrying what fails.
pub fn start(client: kube::Client, recordings: Store<DynamicObject>) {
    // Only what the loop reads is kept: names, labels, container statuses (init containers
    // and sidecars are wrapped, and so recorded, too).
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
                    init_container_statuses: status.init_container_statuses.take(),
                    ..PodStatus::default()
                };
            }
        },
    );
    let state = Arc::new(Mutex::new(State::default()));
    crate::background::spawn(
        "the LandlockRecording controller",
        run(client, recordings, pods.store, state),
    );
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
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let current = recordings.state();
        let known: BTreeSet<Key> = current
            .iter()
            .filter_map(|r| Some((r.metadata.namespace.clone()?, r.metadata.name.clone()?)))
            .collect();
        let uids: BTreeSet<String> = pods
            .state()
            .iter()
            .filter_map(|p| p.metadata.uid.clone())
            .collect();
        state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .prune(&known, &uids);
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
            let name = object.metadata.name.as_deref().unwrap_or_default();
            match tokio::time::timeout(STEP_TIMEOUT, step(&client, &object, &state)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(recording = name, error = %e, "LandlockRecording: retrying");
                }
                Err(_) => tracing::warn!(
                    recording = name,
                    "LandlockRecording: the API server did not answer in {STEP_TIMEOUT:?}; retrying"
                ),
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
        let statuses: Vec<&ContainerStatus> = pod
            .status
            .iter()
            .flat_map(|s| {
                let init = s.init_container_statuses.iter().flatten();
                init.chain(s.container_statuses.iter().flatten())
            })
            .collect();
        for container in statuses {
            for run in runs::readable(container) {
                let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
                let key = (namespace.clone(), recording.clone());
                if !guard.collected.entry(key.clone()).or_default().admits(name) {
                    continue;
                }
                let stream: StreamKey = (
                    namespace.clone(),
                    uid.clone(),
                    container.name.clone(),
                    run.number,
                );
                if guard.followed.contains_key(&stream) {
                    continue;
                }
                // A stream read to its end is done once its run has ended; one that ended
                // while the run goes on (the server closed it) is opened again.
                if guard.done.contains(&stream) && !run.running {
                    continue;
                }
                guard.done.remove(&stream);
                let task = tokio::spawn(follow(
                    Api::namespaced(client.clone(), namespace),
                    name.clone(),
                    stream.clone(),
                    run.previous,
                    key.clone(),
                    state.clone(),
                ));
                let task = task.abort_handle();
                guard.followed.insert(
                    stream,
                    Stream {
                        recording: key,
                        task,
                    },
                );
            }
        }
    }
}

/// Follows one container run's log until it ends (the run before the latest, `previous`, is
/// read as it is), keeping its learn lines; then marks the stream done (read to its end, or a
/// previous run the kubelet no longer has) or, when it failed, leaves it to be opened again.
async fn follow(
    api: Api<Pod>,
    pod: String,
    stream: StreamKey,
    previous: bool,
    key: Key,
    state: Arc<Mutex<State>>,
) {
    let (_, _, container, run) = &stream;
    let params = LogParams {
        container: Some(container.clone()),
        follow: !previous,
        previous,
        ..LogParams::default()
    };
    let result = match api.log_stream(&pod, &params).await {
        Ok(reader) => {
            let mut reader = Box::pin(reader);
            super::log_lines(&mut reader, MAX_LINE, |line| {
                let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(collected) = guard.collected.get_mut(&key) {
                    match line {
                        Ok(line) => collected.observe(&pod, container, *run, line),
                        Err(_) => collected.long_lines += 1,
                    }
                }
            })
            .await
            .map_err(|e| e.to_string())
        }
        // The kubelet answers 400 for a previous run it no longer keeps: nothing to read.
        Err(e) if previous && code(&e) == Some(400) => Ok(()),
        Err(e) => Err(e.to_string()),
    };
    let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
    guard.followed.remove(&stream);
    match result {
        Ok(()) => {
            guard.done.insert(stream.clone());
        }
        Err(error) => {
            tracing::warn!(
                pod,
                container,
                error,
                "LandlockRecording: the log stream failed; opening it again at the next round"
            );
        }
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
    let phase = recording::phase(object);
    let deleting = object.metadata.deletion_timestamp.is_some();
    let (collected_pods, claimed_here, claim_stale) = {
        let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
        let pods = guard.collected.get(&key).map_or(0, Collected::pods);
        let claimed_here = guard.claimed.contains(&key);
        let stale = if phase == Some(WRITING) && !claimed_here && deleting {
            let since = *guard
                .writing_since
                .entry(key.clone())
                .or_insert_with(Instant::now);
            since.elapsed() > CLAIM_GRACE
        } else {
            guard.writing_since.remove(&key);
            false
        };
        (pods, claimed_here, stale)
    };
    let view = View {
        phase,
        has_finalizer: finalizers.iter().any(|f| f == FINALIZER),
        deleting,
        valid: compiled.is_ok(),
        due: compiled
            .as_ref()
            .is_ok_and(|c| due(object, c, SystemTime::now())),
        pods: (
            collected_pods,
            object.data.pointer("/status/pods").and_then(Value::as_u64),
        ),
        claimed_here,
        claim_stale,
    };
    match next(view) {
        Action::Nothing => Ok(()),
        Action::Release => {
            if view.has_finalizer {
                remove_finalizer(&api, name, &finalizers).await?;
            }
            state.lock().unwrap_or_else(|e| e.into_inner()).forget(&key);
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
            // Tested: a claimer that finished meanwhile keeps its Written.
            let message = format!(
                "deleted while another webhook replica was writing its policy, which has not finished in {CLAIM_GRACE:?}"
            );
            let fail = json!([
                {"op": "test", "path": "/status/phase", "value": WRITING},
                {"op": "replace", "path": "/status/phase", "value": recording::FAILED},
                {"op": "add", "path": "/status/message", "value": message},
            ]);
            api.patch_status(name, &PatchParams::default(), &json_patch(fail)?)
                .await?;
            Ok(())
        }
        Action::Claim => {
            // Of several replicas, the one whose patch still finds the old phase wins.
            let claim = json!([
                {"op": "test", "path": "/status/phase", "value": view.phase},
                {"op": "replace", "path": "/status/phase", "value": WRITING},
            ]);
            match api
                .patch_status(name, &PatchParams::default(), &json_patch(claim)?)
                .await
            {
                Ok(_) => {}
                // The test failed: another replica moved the phase first.
                Err(e) if code(&e) == Some(422) => {
                    tracing::info!(
                        recording = name.as_str(),
                        "LandlockRecording: another replica writes it"
                    );
                    return Ok(());
                }
                Err(e) => return Err(e),
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
    // The merge is `suggest`'s, over up to MAX_PODS pods' lines: off the async workers, and
    // not under the lock the log streams take for every line.
    let collected = state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .collected
        .get(&(namespace.to_owned(), name.to_owned()))
        .cloned()
        .unwrap_or_default();
    let merged = {
        let compiled = compiled.clone();
        let namespace = namespace.to_owned();
        tokio::task::spawn_blocking(move || outcome(&compiled, &namespace, &collected)).await
    };
    let result = match merged {
        Ok(result) => result,
        Err(e) => crate::recording::Outcome {
            policy: None,
            status: json!({"phase": recording::FAILED,
                "message": format!("merging the learn lines failed: {e}")}),
        },
    };
    let mut status = result.status;
    if let Some(policy_object) = result.policy {
        let policies: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &policy::api_resource());
        let params = PatchParams::apply(MANAGER).force();
        match policies
            .patch(&compiled.policy, &params, &Patch::Apply(&policy_object))
            .await
        {
            Ok(_) => {}
            Err(e) if refused_for_good(code(&e)) => {
                status = json!({"phase": recording::FAILED,
                    "message": format!("cannot write LandlockPolicy {:?}: {e}", compiled.policy)});
            }
            // Still claimed here and Writing: written again at the next round.
            Err(e) => return Err(e),
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

/// Merges `status`, cut to the CRD's schema, into the recording's status; should the API
/// server still refuse it as invalid, its phase and the refusal are written instead, so that
/// the recording does not stay in its phase for ever.
async fn set_status(
    api: &Api<DynamicObject>,
    name: &str,
    status: Value,
) -> Result<(), kube::Error> {
    let status = fit_status(status);
    let merge = |status: &Value| Patch::Merge(json!({ "status": status }));
    match api
        .patch_status(name, &PatchParams::default(), &merge(&status))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some(422) && status["phase"].is_string() => {
            let refused = fit_status(json!({"phase": status["phase"],
                "message": format!("the API server refused the status this recording ended with: {e}")}));
            api.patch_status(name, &PatchParams::default(), &merge(&refused))
                .await?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The HTTP status of an API server's refusal.
fn code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        ("shop".to_owned(), name.to_owned())
    }

    /// A stream of `recording` for pod `uid`, whose task waits for ever.
    fn stream(state: &mut State, recording: &str, uid: &str) -> tokio::task::JoinHandle<()> {
        let task = tokio::spawn(std::future::pending::<()>());
        state.followed.insert(
            ("shop".to_owned(), uid.to_owned(), "app".to_owned(), 0),
            Stream {
                recording: key(recording),
                task: task.abort_handle(),
            },
        );
        task
    }

    /// Releasing a recording stops its log streams; a recording gone from the cache without
    /// a release is forgotten with them; a stream of a pod that is gone is stopped; nothing of
    /// the others is touched.
    #[tokio::test]
    async fn forgotten_recordings_and_gone_pods_stop_their_streams() {
        let mut state = State::default();
        let released = stream(&mut state, "released", "pod-1");
        let vanished = stream(&mut state, "vanished", "pod-2");
        let pod_gone = stream(&mut state, "kept", "pod-3");
        let kept = stream(&mut state, "kept", "pod-4");
        for name in ["released", "vanished", "kept"] {
            state.collected.insert(key(name), Collected::default());
        }
        state.claimed.insert(key("vanished"));
        state.writing_since.insert(key("vanished"), Instant::now());
        state
            .done
            .insert(("shop".into(), "pod-3".into(), "app".into(), 0));

        state.forget(&key("released"));
        let recordings = BTreeSet::from([key("kept")]);
        let pods = BTreeSet::from(["pod-1".to_owned(), "pod-2".to_owned(), "pod-4".to_owned()]);
        state.prune(&recordings, &pods);

        for (task, what) in [
            (released, "released"),
            (vanished, "vanished"),
            (pod_gone, "pod gone"),
        ] {
            let ended = task.await.expect_err("stopped");
            assert!(ended.is_cancelled(), "{what}");
        }
        assert!(!kept.is_finished());
        assert_eq!(state.collected.keys().collect::<Vec<_>>(), [&key("kept")]);
        assert!(state.claimed.is_empty() && state.writing_since.is_empty());
        assert_eq!(state.followed.len(), 1);
        assert!(state.done.is_empty(), "pod-3 is gone");
        kept.abort();
    }
}

//! The recording controller (`serve --recordings`): collects the learn lines of the pods a
//! LandlockRecording admitted in learn mode ([`crate::admission::recording`]) from their logs
//! through the API server, and when the recording's duration ends or it is deleted, merges the
//! replicas (as `landlock-webhook suggest` does, coverage included) into a LandlockPolicy in
//! `mode: enforce` that it creates or updates, and reports in the recording's status what it
//! saw.
//!
//! This module is the pure part: what is kept of the logs ([`Collected`], [`log_lines`]), when
//! a recording is due ([`due`]), what the controller does next with it ([`next`]), and the
//! policy and status it produces ([`outcome`]); [`controller`] runs it against the cluster.

pub mod controller;
pub mod runs;

use std::collections::BTreeMap;
use std::time::SystemTime;

use kube::core::DynamicObject;
use serde_json::{Value, json};

use crate::admission::annotations::PREFIX;
use crate::admission::recording::{self, Compiled};
use crate::suggest::{self, Format, Options};

/// The longest log line kept: a learn line of a large program is some hundred KB; a longer
/// line is dropped unread (a recorded program writes its own log, so this bounds what it can
/// make the webhook hold).
pub const MAX_LINE: usize = 1024 * 1024;
/// Pods collected per recording: a replica set's worth; more are named in the status, not
/// collected (each one is a log stream and up to [`MAX_LINE`] bytes per container).
pub const MAX_PODS: usize = 32;
/// The annotation of a written policy naming the recording that wrote it.
pub fn recorded_by() -> String {
    format!("{PREFIX}recorded-by")
}

/// The most containers a recording's status lists (the CRD's `maxItems`).
pub const MAX_STATUS_CONTAINERS: usize = 64;
/// The longest `status.message` (the CRD's `maxLength` is 4096 characters).
pub const MAX_MESSAGE: usize = 4000;

/// The learn lines of one recording: the last one of each run of each pod's container (each
/// learn line holds everything its run learned so far, so the last is the whole run; a
/// restarted container is a new run, and `suggest` takes the union of a container's runs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// By pod name, then container name, then run (the container's restart count).
    pub lines: BTreeMap<String, BTreeMap<String, BTreeMap<i32, String>>>,
    /// Pods not collected: over [`MAX_PODS`].
    pub skipped_pods: Vec<String>,
    /// Lines dropped for their length.
    pub long_lines: usize,
}

impl Collected {
    /// Keeps `line` of run `run` of `container` in `pod` when it is a learn line.
    pub fn observe(&mut self, pod: &str, container: &str, run: i32, line: &str) {
        if !is_learn_line(line) {
            return;
        }
        self.lines
            .entry(pod.to_owned())
            .or_default()
            .entry(container.to_owned())
            .or_default()
            .insert(run, line.trim_end().to_owned());
    }

    /// Pods with at least one learn line (what `status.pods` counts).
    pub fn pods(&self) -> usize {
        self.lines.values().filter(|c| !c.is_empty()).count()
    }

    /// Whether `pod` may be collected: one already collected, or room for another.
    pub fn admits(&mut self, pod: &str) -> bool {
        if self.lines.contains_key(pod) || self.lines.len() < MAX_PODS {
            self.lines.entry(pod.to_owned()).or_default();
            return true;
        }
        if !self.skipped_pods.iter().any(|p| p == pod) {
            self.skipped_pods.push(pod.to_owned());
        }
        false
    }

    /// The lines as `kubectl logs --prefix` prints them, for `suggest`.
    fn as_log(&self) -> String {
        let mut text = String::new();
        for (pod, containers) in &self.lines {
            for (container, runs) in containers {
                for line in runs.values() {
                    text.push_str(&format!("[pod/{pod}/{container}] {line}\n"));
                }
            }
        }
        text
    }
}

/// Reads `reader` to its end, calling `each` with every line (without its newline, invalid
/// UTF-8 replaced) or, for a line longer than `max` bytes, with `Err(bytes seen)`; never holds
/// more than `max` bytes of a line, however the stream is chunked.
pub async fn log_lines<R: futures::AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
    mut each: impl FnMut(Result<&str, usize>),
) -> std::io::Result<()> {
    use futures::AsyncBufReadExt as _;
    let mut line = Vec::new();
    let mut seen = 0usize;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            // The last line, when the stream ends without a newline.
            if seen > 0 {
                emit(&line, seen, max, &mut each);
            }
            return Ok(());
        }
        let (part, used) = match chunk.iter().position(|b| *b == b'\n') {
            Some(at) => (&chunk[..at], Some(at + 1)),
            None => (chunk, None),
        };
        seen = seen.saturating_add(part.len());
        if seen <= max {
            line.extend_from_slice(part);
        }
        let consumed = used.unwrap_or(chunk.len());
        reader.consume_unpin(consumed);
        if used.is_some() {
            emit(&line, seen, max, &mut each);
            line.clear();
            seen = 0;
        }
    }
}

fn emit(line: &[u8], seen: usize, max: usize, each: &mut impl FnMut(Result<&str, usize>)) {
    if seen > max {
        each(Err(seen));
    } else {
        each(Ok(&String::from_utf8_lossy(line)));
    }
}

/// Whether `line` is a learn line `suggest` reads (a malformed one is not kept: it would fail
/// the whole merge).
fn is_learn_line(line: &str) -> bool {
    matches!(init_shim::learn::line::parse(line.trim()), Some(Ok(_)))
}

/// Whether `object` is due to write its policy at `now`: it is being deleted, or its duration
/// has ended; and it has not finished yet.
pub fn due(object: &DynamicObject, compiled: &Compiled, now: SystemTime) -> bool {
    if matches!(
        recording::phase(object),
        Some(recording::WRITTEN | recording::FAILED)
    ) {
        return false;
    }
    object.metadata.deletion_timestamp.is_some()
        || recording::ends(object, compiled.duration).is_some_and(|end| now >= end)
}

/// What the controller sees of one recording, for [`next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View<'a> {
    /// `status.phase`.
    pub phase: Option<&'a str>,
    /// Whether it carries the controller's finalizer.
    pub has_finalizer: bool,
    /// Whether its deletion was asked for.
    pub deleting: bool,
    /// Whether its spec reads (an invalid one fails).
    pub valid: bool,
    /// Whether it is due to write ([`due`]).
    pub due: bool,
    /// Pods collected so far, and `status.pods` as stored.
    pub pods: (usize, Option<u64>),
    /// Whether this replica claimed the write.
    pub claimed_here: bool,
    /// Whether another replica's claim has been `Writing` for longer than [`CLAIM_GRACE`]
    /// while the recording is deleted (a live writer finishes well within it).
    pub claim_stale: bool,
}

/// How long a deleted recording may stay `Writing` under another replica's claim before this
/// one fails it: the claimer may be writing right now.
pub const CLAIM_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// The controller's next action on one recording; one a round, the next round sees its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do now.
    Nothing,
    /// Finished (or deleted before it was marked): drop the finalizer, forget what was kept.
    Release,
    /// Add the finalizer, so that deleting it still writes its policy.
    AddFinalizer,
    /// Its spec does not read: fail it with the error.
    FailInvalid,
    /// New: mark it `Recording`.
    MarkRecording,
    /// Recording: write the count of pods collected.
    CountPods,
    /// Due: claim the write (`Recording` to `Writing`, tested), then [`Action::Write`].
    Claim,
    /// Claimed here: write the policy and the final status.
    Write,
    /// Deleted while another replica holds the claim: fail it, saying so.
    FailClaimedElsewhere,
}

/// [`Action`] for `view`.
pub fn next(view: View<'_>) -> Action {
    let finished = matches!(view.phase, Some(recording::WRITTEN | recording::FAILED));
    if finished || (view.deleting && !view.has_finalizer) {
        return if view.has_finalizer || finished {
            Action::Release
        } else {
            Action::Nothing
        };
    }
    if !view.has_finalizer {
        return Action::AddFinalizer;
    }
    if !view.valid {
        return Action::FailInvalid;
    }
    if view.phase.is_none() {
        return Action::MarkRecording;
    }
    if !view.due {
        // Only upwards: a replica that restarted knows fewer pods than the one that counted.
        return if view
            .pods
            .1
            .is_some_and(|stored| stored >= view.pods.0 as u64)
        {
            Action::Nothing
        } else {
            Action::CountPods
        };
    }
    match (
        view.phase == Some(WRITING),
        view.claimed_here,
        view.deleting,
    ) {
        (false, _, _) => Action::Claim,
        (true, true, _) => Action::Write,
        (true, false, true) if view.claim_stale => Action::FailClaimedElsewhere,
        (true, false, _) => Action::Nothing,
    }
}

/// The phase of a recording one replica is writing.
pub const WRITING: &str = "Writing";

/// What a due recording produces: the policy to apply (when anything was learned) and the
/// recording's final status.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The LandlockPolicy object to apply, `None` when nothing was learned.
    pub policy: Option<Value>,
    /// The recording's `status`.
    pub status: Value,
}

/// The policy and status of `compiled` (in `namespace`) from what was `collected`.
pub fn outcome(compiled: &Compiled, namespace: &str, collected: &Collected) -> Outcome {
    let pods = collected.pods();
    let mut replicas: BTreeMap<&str, usize> = BTreeMap::new();
    for containers in collected.lines.values() {
        for (container, runs) in containers {
            if !runs.is_empty() {
                *replicas.entry(container.as_str()).or_default() += 1;
            }
        }
    }
    let containers: Vec<Value> = replicas
        .iter()
        .map(|(name, n)| json!({"name": name, "replicas": n}))
        .collect();
    let mut notes = Vec::new();
    if !collected.skipped_pods.is_empty() {
        notes.push(format!(
            "{} pods over the first {MAX_PODS} were not collected: {}",
            collected.skipped_pods.len(),
            crate::admission::limits::listed(collected.skipped_pods.iter().cloned(), 8)
        ));
    }
    if collected.long_lines > 0 {
        notes.push(format!(
            "{} log lines longer than {MAX_LINE} bytes were dropped",
            collected.long_lines
        ));
    }
    let failed = |message: String| Outcome {
        policy: None,
        status: json!({"phase": recording::FAILED, "pods": pods, "containers": containers,
            "message": message}),
    };
    if pods == 0 {
        return failed(format!(
            "no learn lines were collected (no selected pod that opted in ran, or none logged a learn line before it ended){}",
            suffix(&notes)
        ));
    }
    let texts = [(
        format!("LandlockRecording {}", compiled.name),
        collected.as_log(),
    )];
    let options = Options {
        format: Format::Policy,
        min_coverage: None,
    };
    let suggestion = match suggest::suggest_with(&texts, options) {
        Ok(suggestion) => suggestion,
        Err(e) => return failed(format!("{e}{}", suffix(&notes))),
    };
    let mut policy: Value = match serde_yaml::from_str(&suggestion.output) {
        Ok(policy) => policy,
        Err(e) => return failed(format!("the suggested policy does not parse: {e}")),
    };
    policy["metadata"]["name"] = Value::from(compiled.policy.clone());
    policy["metadata"]["namespace"] = Value::from(namespace);
    let annotations = policy["metadata"]
        .as_object_mut()
        .map(|m| m.entry("annotations").or_insert_with(|| json!({})));
    if let Some(annotations) = annotations {
        annotations[recorded_by()] = Value::from(compiled.name.clone());
    }
    policy["spec"]["podSelector"] =
        serde_json::to_value(&compiled.pod_selector).unwrap_or_else(|_| json!({}));
    notes.extend(suggestion.notes);
    notes.extend(suggestion.warnings.iter().map(|w| format!("warning: {w}")));
    let mut message = format!(
        "wrote LandlockPolicy {:?} from {pods} pods",
        compiled.policy
    );
    message.push_str(&suffix(&notes));
    Outcome {
        policy: Some(policy),
        status: json!({"phase": recording::WRITTEN, "pods": pods, "containers": containers,
            "policy": compiled.policy, "message": truncate(message)}),
    }
}

fn suffix(notes: &[String]) -> String {
    if notes.is_empty() {
        String::new()
    } else {
        format!("; {}", notes.join("; "))
    }
}

/// A status as the CRD's schema takes it: `message` within its length, `containers` within
/// its count (the rest counted in the message). A status the API server refuses would leave
/// the recording in its phase, retried for ever.
pub fn fit_status(mut status: Value) -> Value {
    let mut note = None;
    if let Some(containers) = status.get_mut("containers").and_then(Value::as_array_mut)
        && containers.len() > MAX_STATUS_CONTAINERS
    {
        note = Some(format!(
            "; {} containers over the first {MAX_STATUS_CONTAINERS} are not listed",
            containers.len() - MAX_STATUS_CONTAINERS
        ));
        containers.truncate(MAX_STATUS_CONTAINERS);
    }
    if let Some(message) = status.get("message").and_then(Value::as_str) {
        let mut message = message.to_owned();
        message.push_str(note.as_deref().unwrap_or_default());
        status["message"] = Value::from(truncate(message));
    }
    status
}

/// Whether a write the API server refused with `code` will be refused again (the request is
/// wrong or not allowed): the recording fails. Any other failure (the server busy or
/// restarting, a conflict, a timeout) is retried at the next round.
pub fn refused_for_good(code: Option<u16>) -> bool {
    matches!(code, Some(400 | 403 | 404 | 422))
}

/// `message` within the CRD's 4096 characters.
fn truncate(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str(" ...");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn recording_object(spec: Value, status: Value) -> Arc<DynamicObject> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "landlock-injector.io/v1alpha1", "kind": "LandlockRecording",
                "metadata": {"name": "web-rec", "namespace": "shop",
                    "creationTimestamp": "2026-12-03T10:00:00Z"},
                "spec": spec, "status": status,
            }))
            .expect("a recording"),
        )
    }

    /// A learn line as the shim prints it (its key first).
    fn learn(read: &[&str], write: &[&str]) -> String {
        let suggest = json!({"read": read, "read-exec": [], "write": write, "write-exec": [],
            "bind-tcp": [8080], "connect-tcp": []});
        format!(
            r#"{{"landlock-learn":"landlock-shim 0.1.0","final":true,"program":"app","profile":"default","discover":true,"suggest":{suggest}}}"#
        )
    }

    fn at(rfc3339: &str) -> SystemTime {
        let t: k8s_openapi::jiff::Timestamp = rfc3339.parse().expect("a time");
        SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(t.as_second()).expect("after 1970"))
    }

    #[test]
    fn only_the_last_learn_line_of_each_container_is_kept() {
        let mut collected = Collected::default();
        assert!(collected.admits("web-a"));
        assert_eq!(collected.pods(), 0, "admitted, nothing learned yet");
        collected.observe("web-a", "app", 0, "listening on :8080");
        collected.observe("web-a", "app", 0, &learn(&["/srv"], &[]));
        collected.observe("web-a", "app", 0, &learn(&["/srv", "/etc/app"], &[]));
        collected.observe("web-a", "app", 0, "{\"not\": \"a learn line\"}");
        collected.observe("web-a", "app", 0, "{broken");
        assert_eq!(collected.lines["web-a"]["app"].len(), 1);
        assert!(collected.lines["web-a"]["app"][&0].contains("/etc/app"));
        assert_eq!(collected.pods(), 1);
    }

    /// A container that restarted is a new run: its first (small) learn line does not replace
    /// what the run before it learned; the policy needs both.
    #[test]
    fn each_run_of_a_restarted_container_is_kept_and_merged() {
        let object = recording_object(json!({"podSelector": {}}), json!({}));
        let compiled = recording::compile(&object).expect("valid");
        let mut collected = Collected::default();
        assert!(collected.admits("web-a"));
        collected.observe("web-a", "app", 0, &learn(&["/srv"], &["/data"]));
        collected.observe("web-a", "app", 1, &learn(&["/srv"], &[]));
        let outcome = outcome(&compiled, "shop", &collected);
        let policy = outcome.policy.expect("a policy");
        assert_eq!(
            policy["spec"]["default"]["write"],
            json!(["/data"]),
            "{policy}"
        );
        assert_eq!(outcome.status["pods"], 1);
        assert_eq!(
            outcome.status["containers"],
            json!([{"name": "app", "replicas": 1}])
        );
    }

    /// What the CRD's schema would refuse is cut to fit, saying so.
    #[test]
    fn a_status_is_cut_to_the_crd_schema() {
        let containers: Vec<Value> = (0..70)
            .map(|n| json!({"name": format!("c{n}"), "replicas": 1}))
            .collect();
        let status = fit_status(json!({"phase": "Failed", "containers": containers,
            "message": "x".repeat(10_000)}));
        assert_eq!(
            status["containers"].as_array().map(Vec::len),
            Some(MAX_STATUS_CONTAINERS)
        );
        let message = status["message"].as_str().expect("message");
        assert!(
            message.len() <= 4096 && message.ends_with(" ..."),
            "{message}"
        );
        let status =
            fit_status(json!({"phase": "Written", "containers": containers, "message": "wrote"}));
        assert_eq!(
            status["message"],
            "wrote; 6 containers over the first 64 are not listed"
        );
        assert_eq!(
            fit_status(json!({"phase": "Recording"})),
            json!({"phase": "Recording"})
        );
        // Refusals that will repeat fail the recording; the rest are retried.
        for code in [400, 403, 404, 422] {
            assert!(refused_for_good(Some(code)), "{code}");
        }
        for code in [Some(409), Some(429), Some(500), Some(503), None] {
            assert!(!refused_for_good(code), "{code:?}");
        }
    }

    /// The log is the recorded program's to write: a line without end is counted, not held;
    /// lines split across any chunking arrive whole; the last line needs no newline.
    #[tokio::test]
    async fn log_lines_are_bounded_whatever_the_program_writes() {
        let huge = "x".repeat(3 * 64);
        let text = format!("first\n{huge}\nsecond \u{e9}\n\nlast");
        for capacity in [1, 7, 4096] {
            let mut reader = futures::io::BufReader::with_capacity(
                capacity,
                futures::io::Cursor::new(text.clone().into_bytes()),
            );
            let mut got = Vec::new();
            log_lines(&mut reader, 64, |line| {
                got.push(line.map(str::to_owned));
            })
            .await
            .expect("read");
            assert_eq!(
                got,
                [
                    Ok("first".to_owned()),
                    Err(192),
                    Ok("second \u{e9}".to_owned()),
                    Ok(String::new()),
                    Ok("last".to_owned()),
                ],
                "capacity {capacity}"
            );
        }
        // Invalid UTF-8 is replaced, not refused.
        let mut reader = futures::io::Cursor::new(b"a\xffb\n".to_vec());
        let mut got = Vec::new();
        log_lines(&mut reader, 64, |line| got.push(line.map(str::to_owned)))
            .await
            .expect("read");
        assert_eq!(got, [Ok("a\u{fffd}b".to_owned())]);
    }

    /// Every state the controller can find a recording in, and what it does next: it ends
    /// every path in Release (never stuck with a finalizer it holds), writes at most once per
    /// claim, and never writes from a replica that did not claim.
    #[test]
    fn the_controller_moves_each_recording_one_step_at_a_time() {
        let base = View {
            phase: Some("Recording"),
            has_finalizer: true,
            deleting: false,
            valid: true,
            due: false,
            pods: (2, Some(2)),
            claimed_here: false,
            claim_stale: false,
        };
        let cases = [
            (
                View {
                    phase: None,
                    has_finalizer: false,
                    ..base
                },
                Action::AddFinalizer,
            ),
            (
                View {
                    phase: None,
                    ..base
                },
                Action::MarkRecording,
            ),
            (
                View {
                    phase: None,
                    valid: false,
                    ..base
                },
                Action::FailInvalid,
            ),
            (base, Action::Nothing),
            (
                View {
                    pods: (3, Some(2)),
                    ..base
                },
                Action::CountPods,
            ),
            (
                View {
                    pods: (0, None),
                    ..base
                },
                Action::CountPods,
            ),
            // Never downwards: another replica counted more.
            (
                View {
                    pods: (1, Some(2)),
                    ..base
                },
                Action::Nothing,
            ),
            (View { due: true, ..base }, Action::Claim),
            (
                View {
                    due: true,
                    deleting: true,
                    ..base
                },
                Action::Claim,
            ),
            (
                View {
                    phase: Some(WRITING),
                    due: true,
                    claimed_here: true,
                    ..base
                },
                Action::Write,
            ),
            (
                View {
                    phase: Some(WRITING),
                    due: true,
                    ..base
                },
                Action::Nothing,
            ),
            // Deleted under another replica's claim: it may be writing now; only a claim
            // older than the grace is failed.
            (
                View {
                    phase: Some(WRITING),
                    due: true,
                    deleting: true,
                    ..base
                },
                Action::Nothing,
            ),
            (
                View {
                    phase: Some(WRITING),
                    due: true,
                    deleting: true,
                    claim_stale: true,
                    ..base
                },
                Action::FailClaimedElsewhere,
            ),
            (
                View {
                    phase: Some("Written"),
                    ..base
                },
                Action::Release,
            ),
            (
                View {
                    phase: Some("Failed"),
                    deleting: true,
                    ..base
                },
                Action::Release,
            ),
            (
                View {
                    phase: Some("Written"),
                    has_finalizer: false,
                    ..base
                },
                Action::Release,
            ),
            // Deleted before the controller saw it: nothing holds it.
            (
                View {
                    phase: None,
                    has_finalizer: false,
                    deleting: true,
                    ..base
                },
                Action::Nothing,
            ),
        ];
        for (view, expected) in cases {
            assert_eq!(next(view), expected, "{view:?}");
        }
    }

    #[test]
    fn pods_beyond_the_cap_are_named_not_collected() {
        let mut collected = Collected::default();
        for n in 0..MAX_PODS {
            assert!(collected.admits(&format!("p{n}")));
        }
        assert!(collected.admits("p0"), "an admitted pod stays admitted");
        assert!(!collected.admits("late"));
        assert!(!collected.admits("late"));
        assert_eq!(collected.skipped_pods, ["late"]);
    }

    #[test]
    fn a_recording_is_due_when_its_duration_ends_or_it_is_deleted_and_only_once() {
        let timed = recording_object(json!({"podSelector": {}, "duration": "30m"}), json!({}));
        let compiled = recording::compile(&timed).expect("valid");
        assert!(!due(&timed, &compiled, at("2026-12-03T10:29:00Z")));
        assert!(due(&timed, &compiled, at("2026-12-03T10:30:00Z")));
        let open = recording_object(json!({"podSelector": {}}), json!({"phase": "Recording"}));
        let compiled = recording::compile(&open).expect("valid");
        assert!(!due(&open, &compiled, at("2027-01-01T00:00:00Z")));
        let mut deleting = (*open).clone();
        deleting.metadata.deletion_timestamp = deleting.metadata.creation_timestamp.clone();
        assert!(due(&deleting, &compiled, at("2026-12-03T10:01:00Z")));
        let written = recording_object(
            json!({"podSelector": {}, "duration": "1m"}),
            json!({"phase": "Written"}),
        );
        assert!(!due(&written, &compiled, at("2026-12-03T11:00:00Z")));
    }

    /// Three replicas become one enforce policy named as the recording says, selecting what
    /// the recording selected, with the coverage and the recording's name as annotations, and
    /// binding as it is; the status says what was merged.
    #[test]
    fn the_replicas_become_an_enforce_policy_with_their_coverage() {
        let object = recording_object(
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "policy": "web"}),
            json!({}),
        );
        let compiled = recording::compile(&object).expect("valid");
        let mut collected = Collected::default();
        for (pod, write) in [
            ("web-a", vec!["/var/cache/app"]),
            ("web-b", vec!["/var/cache/app", "/data"]),
            ("web-c", vec![]),
        ] {
            assert!(collected.admits(pod));
            collected.observe(pod, "app", 0, &learn(&["/srv"], &write));
        }
        let outcome = outcome(&compiled, "shop", &collected);
        let policy = outcome
            .policy
            .unwrap_or_else(|| panic!("a policy: {}", outcome.status));
        assert_eq!(policy["kind"], "LandlockPolicy");
        assert_eq!(policy["metadata"]["name"], "web");
        assert_eq!(policy["metadata"]["namespace"], "shop");
        assert_eq!(
            policy["metadata"]["annotations"]["landlock-injector.io/recorded-by"],
            "web-rec"
        );
        let coverage: Value = serde_json::from_str(
            policy["metadata"]["annotations"]["landlock-injector.io/coverage"]
                .as_str()
                .expect("coverage"),
        )
        .expect("json");
        assert_eq!(coverage["spec.default.write"]["/data"], "1 of 3");
        assert_eq!(
            policy["spec"]["podSelector"],
            json!({"matchLabels": {"app": "web"}})
        );
        assert_eq!(policy["spec"]["default"]["mode"], "enforce");
        let dynamic: DynamicObject = serde_json::from_value(policy).expect("an object");
        let bound = crate::admission::policy::compile(&dynamic).expect("the policy binds");
        assert_eq!(bound.name, "web");
        assert_eq!(outcome.status["phase"], "Written");
        assert_eq!(outcome.status["pods"], 3);
        assert_eq!(
            outcome.status["containers"],
            json!([{"name": "app", "replicas": 3}])
        );
        assert_eq!(outcome.status["policy"], "web");
    }

    #[test]
    fn nothing_collected_fails_the_recording_and_writes_no_policy() {
        let object = recording_object(json!({"podSelector": {}}), json!({}));
        let compiled = recording::compile(&object).expect("valid");
        let mut collected = Collected::default();
        assert!(collected.admits("web-a"));
        collected.observe("web-a", "app", 0, "only ordinary output");
        let outcome = outcome(&compiled, "shop", &collected);
        assert_eq!(outcome.policy, None);
        assert_eq!(outcome.status["phase"], "Failed");
        let message = outcome.status["message"].as_str().expect("message");
        assert!(
            message.starts_with("no learn lines were collected"),
            "{message}"
        );
    }
}

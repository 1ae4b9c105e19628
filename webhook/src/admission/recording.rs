//! The `LandlockRecording` custom resource (`landlock-injector.io/v1alpha1`, namespaced): while
//! it is active, the opted-in pods it selects are admitted in `mode: learn`, and the recording
//! controller ([`crate::recording`]) turns their learn lines into a LandlockPolicy.
//!
//! ```yaml
//! apiVersion: landlock-injector.io/v1alpha1
//! kind: LandlockRecording
//! metadata: {name: web, namespace: shop}
//! spec:
//!   podSelector: {matchLabels: {app: web}}   # the pods to record (they still opt in)
//!   duration: 30m                            # optional: without it, until deleted
//!   policy: web                              # optional: the LandlockPolicy to write (its own name)
//! ```
//!
//! This module is the admission's half, pure: what a recording says ([`compile`]), whether it
//! is still recording at a given time ([`active`]) and which one selects a pod ([`select`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{DynamicObject, Selector, SelectorExt as _};
use kube::discovery::ApiResource;
use serde::Deserialize;
use serde_json::Value;

use crate::admission::annotations::{PREFIX, RECORDING};
use crate::admission::limits;
use crate::admission::policy;

/// The kind.
pub const KIND: &str = "LandlockRecording";
/// The resource (plural) name.
pub const PLURAL: &str = "landlockrecordings";
/// The phase of a recording that has written its policy.
pub const WRITTEN: &str = "Written";
/// The phase of a recording that ended without a policy (nothing was recorded, or the write
/// failed for good).
pub const FAILED: &str = "Failed";
/// The longest `spec.duration` (a week: the controller keeps what it collected in memory).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The resource, for a dynamic client and watch.
pub fn api_resource() -> ApiResource {
    policy::resource(KIND, PLURAL)
}

/// A recording that cannot be used, naming the field and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("LandlockRecording {recording:?}: {field}: value {value:?}: {problem}")]
pub struct RecordingError {
    /// `metadata.name`.
    pub recording: String,
    /// The field (`spec.duration`).
    pub field: String,
    /// The value as JSON.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    pod_selector: Option<LabelSelector>,
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    policy: Option<String>,
}

/// A recording as the webhook and its controller use it.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// `metadata.name`.
    pub name: String,
    /// `spec.podSelector`, as given (the written policy gets it) and parsed.
    pub pod_selector: LabelSelector,
    /// The parsed selector.
    pub selector: Selector,
    /// `spec.duration`, when it has one.
    pub duration: Option<Duration>,
    /// The LandlockPolicy to write: `spec.policy`, else the recording's own name.
    pub policy: String,
}

/// Reads `object`'s spec; every error names the field and the value.
pub fn compile(object: &DynamicObject) -> Result<Compiled, RecordingError> {
    let name = object.metadata.name.clone().unwrap_or_default();
    let fail = |field: &str, value: &Value, problem: String| RecordingError {
        recording: name.clone(),
        field: field.to_owned(),
        value: value.to_string(),
        problem,
    };
    // Recorded pods carry the name as a label value (63 characters at most).
    if name.len() > policy::MAX_NAME {
        return Err(fail(
            "metadata.name",
            &Value::from(name.clone()),
            format!(
                "a LandlockRecording name is at most {} characters (recorded pods carry it in the label {PREFIX}{RECORDING})",
                policy::MAX_NAME
            ),
        ));
    }
    let spec_value = object.data.get("spec").cloned().unwrap_or(Value::Null);
    let spec: Spec = serde_json::from_value(spec_value.clone())
        .map_err(|e| fail("spec", &spec_value, e.to_string()))?;
    let pod_selector = spec.pod_selector.ok_or_else(|| {
        fail(
            "spec.podSelector",
            &Value::Null,
            "a recording selects the pods it records ({} selects every pod of the namespace)"
                .to_owned(),
        )
    })?;
    let selector = super::selector::compile(&pod_selector).map_err(|e| {
        fail(
            "spec.podSelector",
            &serde_json::to_value(&pod_selector).unwrap_or_default(),
            e.to_string(),
        )
    })?;
    let duration = spec
        .duration
        .map(|text| {
            parse_duration(&text)
                .map_err(|problem| fail("spec.duration", &Value::from(text), problem))
        })
        .transpose()?;
    let policy = spec.policy.unwrap_or_else(|| name.clone());
    policy::check_name(&policy)
        .map_err(|problem| fail("spec.policy", &Value::from(policy.clone()), problem))?;
    Ok(Compiled {
        name,
        pod_selector,
        selector,
        duration,
        policy,
    })
}

/// The problem with a `spec.duration` text: hours, minutes and seconds, as `30m`, `1h30m`,
/// `90s` (the CRD's pattern says the same), at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let expected = || {
        format!(
            "expected a duration of hours, minutes and seconds such as 30m, 1h30m or 90s, at most {}h",
            MAX_DURATION.as_secs() / 3600
        )
    };
    let mut total = 0u64;
    let mut number = String::new();
    let mut units = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(expected()),
        };
        let n: u64 = number.parse().map_err(|_| expected())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(expected)?;
        number.clear();
        units += 1;
    }
    if units == 0 || !number.is_empty() || total == 0 || total > MAX_DURATION.as_secs() {
        return Err(expected());
    }
    Ok(Duration::from_secs(total))
}

/// When `object` stops recording: its creation plus its duration (`None`: until deleted, or
/// no duration to count from).
pub fn ends(object: &DynamicObject, duration: Option<Duration>) -> Option<SystemTime> {
    let created = object.metadata.creation_timestamp.as_ref()?;
    let created = SystemTime::UNIX_EPOCH
        + Duration::from_secs(u64::try_from(created.0.as_second()).unwrap_or(0));
    Some(created + duration?)
}

/// The phase the controller wrote, if any.
pub fn phase(object: &DynamicObject) -> Option<&str> {
    object.data.pointer("/status/phase").and_then(Value::as_str)
}

/// Whether `object` records at `now`: not being deleted, not finished (written or failed),
/// and within its duration. A recording that cannot be read is active, so that the pods it
/// may select are refused with its error rather than admitted unrecorded.
pub fn active(object: &DynamicObject, now: SystemTime) -> bool {
    if object.metadata.deletion_timestamp.is_some()
        || matches!(phase(object), Some(WRITTEN | FAILED))
    {
        return false;
    }
    match compile(object) {
        Ok(compiled) => ends(object, compiled.duration).is_none_or(|end| now < end),
        Err(_) => true,
    }
}

/// Why a pod cannot be admitted for recording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// More than one active recording selects the pod.
    #[error(
        "LandlockRecordings {} select this pod (a pod is recorded by at most one); narrow their spec.podSelector", limits::listed(.0.iter().cloned(), 8)
    )]
    Conflict(Vec<String>),
    /// The namespace's recordings could not be read.
    #[error(
        "cannot read the LandlockRecordings of namespace {namespace:?} ({cause}), so the webhook cannot tell whether this pod is to be recorded; it is refused rather than admitted unrecorded: create it again in a moment"
    )]
    Unavailable {
        /// The namespace.
        namespace: String,
        /// Why.
        cause: String,
    },
    /// An active recording in the namespace cannot be read.
    #[error("{0}; pods of its namespace that opt in are refused until it is corrected or deleted")]
    Invalid(RecordingError),
}

/// The active recording of `recordings` (the namespace's) that selects a pod with `labels`.
pub fn select(
    labels: &BTreeMap<String, String>,
    recordings: &[Arc<DynamicObject>],
    now: SystemTime,
) -> Result<Option<String>, SelectError> {
    let mut selecting = Vec::new();
    for object in recordings.iter().filter(|r| active(r, now)) {
        let compiled = compile(object).map_err(SelectError::Invalid)?;
        if compiled.selector.matches(labels) {
            selecting.push(compiled.name);
        }
    }
    match selecting.len() {
        0 => Ok(None),
        1 => Ok(selecting.pop()),
        _ => Err(SelectError::Conflict(selecting)),
    }
}

/// Recordings given as documents (offline `inject` and `review`), by namespace.
pub fn from_docs(docs: &[Value]) -> BTreeMap<String, Vec<DynamicObject>> {
    policy::docs_of_kind(docs, KIND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recording(name: &str, spec: Value, status: Value) -> Arc<DynamicObject> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "landlock-injector.io/v1alpha1", "kind": KIND,
                "metadata": {"name": name, "namespace": "shop",
                    "creationTimestamp": "2026-12-03T10:00:00Z"},
                "spec": spec, "status": status,
            }))
            .expect("a recording"),
        )
    }

    fn at(rfc3339: &str) -> SystemTime {
        let t: k8s_openapi::jiff::Timestamp = rfc3339.parse().expect("a time");
        SystemTime::UNIX_EPOCH + Duration::from_secs(t.as_second() as u64)
    }

    fn labels(app: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("app".to_owned(), app.to_owned())])
    }

    #[test]
    fn durations_are_hours_minutes_and_seconds() {
        for (text, secs) in [
            ("30m", 1800),
            ("1h30m", 5400),
            ("90s", 90),
            ("168h", 604_800),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in [
            "",
            "30",
            "m",
            "1d",
            "0s",
            "169h",
            "1.5h",
            "-1h",
            "1h 30m",
            "99999999999999999999h",
        ] {
            let problem = parse_duration(bad).expect_err(bad);
            assert!(
                problem.contains("such as 30m, 1h30m or 90s"),
                "{bad}: {problem}"
            );
        }
    }

    #[test]
    fn every_bad_field_is_named_with_its_value() {
        let cases = [
            (
                json!({}),
                r#"LandlockRecording "web": spec.podSelector: value "null": a recording selects the pods it records"#,
            ),
            (
                json!({"podSelector": {}, "duration": "1d"}),
                r#"spec.duration: value "\"1d\"": expected a duration"#,
            ),
            (
                json!({"podSelector": {}, "policy": "Web"}),
                r#"spec.policy: value "\"Web\"": not a LandlockPolicy name"#,
            ),
            (
                json!({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Sometimes"}]}}),
                "spec.podSelector: value",
            ),
            (
                json!({"podSelector": {}, "durations": "1h"}),
                "unknown field `durations`",
            ),
        ];
        for (spec, expected) in cases {
            let message = compile(&recording("web", spec.clone(), json!({})))
                .expect_err("refused")
                .to_string();
            assert!(
                message.contains(expected),
                "{spec}:\n  got      {message}\n  expected {expected}"
            );
        }
        let compiled =
            compile(&recording("web", json!({"podSelector": {}}), json!({}))).expect("ok");
        assert_eq!((compiled.policy.as_str(), compiled.duration), ("web", None));
        // Its name becomes a label value of every recorded pod.
        let long = "r".repeat(64);
        let message = compile(&recording(&long, json!({"podSelector": {}}), json!({})))
            .expect_err("too long")
            .to_string();
        assert!(
            message.contains(&format!("LandlockRecording \"{long}\": metadata.name"))
                && message.contains("at most 63 characters"),
            "{message}"
        );
        assert!(
            compile(&recording(
                &"r".repeat(63),
                json!({"podSelector": {}}),
                json!({})
            ))
            .is_ok()
        );
    }

    #[test]
    fn a_recording_is_active_until_its_duration_ends_it_is_deleted_or_it_has_written() {
        let timed = recording(
            "web",
            json!({"podSelector": {}, "duration": "30m"}),
            json!({}),
        );
        assert!(active(&timed, at("2026-12-03T10:29:59Z")));
        assert!(!active(&timed, at("2026-12-03T10:30:00Z")));
        let open = recording(
            "web",
            json!({"podSelector": {}}),
            json!({"phase": "Recording"}),
        );
        assert!(active(&open, at("2027-01-01T00:00:00Z")));
        for phase in [WRITTEN, FAILED] {
            let done = recording("web", json!({"podSelector": {}}), json!({"phase": phase}));
            assert!(!active(&done, at("2026-12-03T10:01:00Z")), "{phase}");
        }
        let mut deleting = (*open).clone();
        deleting.metadata.deletion_timestamp = deleting.metadata.creation_timestamp.clone();
        assert!(!active(&deleting, at("2026-12-03T10:01:00Z")));
    }

    #[test]
    fn the_one_active_recording_that_selects_the_pod_is_chosen() {
        let now = at("2026-12-03T10:10:00Z");
        let web = recording(
            "web",
            json!({"podSelector": {"matchLabels": {"app": "web"}}}),
            json!({}),
        );
        let db = recording(
            "db",
            json!({"podSelector": {"matchLabels": {"app": "db"}}}),
            json!({}),
        );
        let ended = recording(
            "old",
            json!({"podSelector": {}, "duration": "5m"}),
            json!({}),
        );
        let all = [web.clone(), db.clone(), ended];
        assert_eq!(
            select(&labels("web"), &all, now),
            Ok(Some("web".to_owned()))
        );
        assert_eq!(select(&labels("cache"), &all, now), Ok(None));
        let every = recording("every", json!({"podSelector": {}}), json!({}));
        let message = select(&labels("web"), &[web, every], now)
            .expect_err("two")
            .to_string();
        assert!(
            message.contains(r#"LandlockRecordings "web", "every" select this pod"#),
            "{message}"
        );
        let broken = recording(
            "broken",
            json!({"podSelector": {}, "duration": "soon"}),
            json!({}),
        );
        let message = select(&labels("db"), &[db, broken], now)
            .expect_err("broken")
            .to_string();
        assert!(
            message.contains(r#"LandlockRecording "broken": spec.duration"#),
            "{message}"
        );
    }
}

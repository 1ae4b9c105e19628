//! `landlock-webhook inject`: the offline way to see what the webhook does to a manifest, like
//! `istioctl kube-inject`. Pods and the pod templates of Deployments, StatefulSets, DaemonSets,
//! ReplicaSets, Jobs and CronJobs are mutated with the same core as `/mutate`; every other
//! document passes through unchanged. YAML in, YAML out; JSON in, JSON out.
//!
//! Namespace documents in the manifest (and those given with `--namespaces`) stand in for the
//! cluster's Namespaces: their `landlock-injector.io/inject` label and default `mode`/`profile`
//! annotations apply to the pods of the manifest, as `serve` would apply them.
//!
//! All or nothing: if any pod cannot be wrapped (bad annotation, unknown entrypoint), nothing
//! is printed and every problem is reported, so a half-injected manifest is never applied.

use serde::Deserialize;
use serde_json::Value;

use crate::admission::config::Config;
use crate::admission::decision::Decision;
use crate::admission::namespaces::{Fallback, Known, Lookups, With};
use crate::review::admit;

/// The manifest format, kept from input to output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML, `---`-separated documents.
    Yaml,
    /// JSON, one or more concatenated values.
    Json,
}

/// A mutated manifest.
#[derive(Debug, Clone)]
pub struct Injected {
    /// The documents, in the input's format.
    pub output: String,
    /// Warnings, each prefixed with the document it concerns.
    pub warnings: Vec<String>,
}

/// Every reason the manifest could not be injected.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct InjectError(pub Vec<String>);

/// Where the pod template of a workload kind sits.
fn template_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => Some(&["spec", "template"]),
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template"]),
        _ => None,
    }
}

fn describe(index: usize, doc: &Value) -> String {
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("document");
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)");
    format!("document {} ({kind} {name})", index + 1)
}

/// Parses `input` into documents and its format.
pub fn parse(input: &str) -> Result<(Vec<Value>, Format), InjectError> {
    let trimmed = input.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let docs = serde_json::Deserializer::from_str(input)
            .into_iter::<Value>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| InjectError(vec![format!("the input is not valid JSON: {e}")]))?;
        return Ok((docs, Format::Json));
    }
    let mut docs = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(input).enumerate() {
        let value = Value::deserialize(document)
            .map_err(|e| InjectError(vec![format!("YAML document {}: {e}", index + 1)]))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok((docs, Format::Yaml))
}

/// Renders documents in `format`.
pub fn render(docs: &[Value], format: Format) -> String {
    let mut out = String::new();
    for doc in docs {
        match format {
            Format::Json => {
                out.push_str(&serde_json::to_string_pretty(doc).unwrap_or_default());
                out.push('\n');
            }
            Format::Yaml => {
                out.push_str("---\n");
                out.push_str(&serde_yaml::to_string(doc).unwrap_or_default());
            }
        }
    }
    out
}

/// Mutates one pod value in place; returns its warnings or the denial.
async fn mutate_pod(
    pod_value: &mut Value,
    namespace: Option<&str>,
    config: &Config,
    lookups: &impl Lookups,
) -> Result<Vec<String>, String> {
    let object = serde_json::to_string(pod_value).map_err(|e| format!("not a valid pod: {e}"))?;
    let admitted = admit(&object, namespace, config, lookups)
        .await
        .map_err(|denial| denial.to_string())?;
    json_patch::patch(pod_value, &admitted.patch)
        .map_err(|e| format!("cannot apply the patch: {e}"))?;
    Ok(match admitted.decision {
        Decision::Skip(skip) => skip.warnings,
        Decision::Wrap(edits) => edits.warnings,
    })
}

/// Mutates every pod and pod template in `docs`. Namespace documents among them count for the
/// namespace opt-in and defaults, besides those `lookups` knows.
pub async fn inject_docs(
    docs: &mut [Value],
    config: &Config,
    lookups: &impl Lookups,
) -> Result<Vec<String>, InjectError> {
    let mut known = Known::default();
    known.extend_from_docs(docs);
    let lookups = With {
        images: lookups,
        namespaces: Fallback {
            first: known,
            then: lookups,
        },
    };
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for (index, doc) in docs.iter_mut().enumerate() {
        let what = describe(index, doc);
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let namespace = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let target = if kind == "Pod" {
            Some(&mut *doc)
        } else if let Some(path) = template_path(&kind) {
            let pointer = format!("/{}", path.join("/"));
            doc.pointer_mut(&pointer)
        } else {
            None
        };
        let Some(target) = target else { continue };
        match mutate_pod(target, namespace.as_deref(), config, &lookups).await {
            Ok(found) => warnings.extend(found.into_iter().map(|w| format!("{what}: {w}"))),
            Err(problem) => problems.push(format!("{what}: {problem}")),
        }
    }
    if problems.is_empty() {
        Ok(warnings)
    } else {
        Err(InjectError(problems))
    }
}

/// Parses, mutates and renders a manifest.
pub async fn inject(
    input: &str,
    config: &Config,
    lookups: &impl Lookups,
) -> Result<Injected, InjectError> {
    let (mut docs, format) = parse(input)?;
    let warnings = inject_docs(&mut docs, config, lookups).await?;
    Ok(Injected {
        output: render(&docs, format),
        warnings,
    })
}

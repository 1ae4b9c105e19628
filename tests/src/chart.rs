//! Rendering the Helm chart with the real `helm` binary, for checks that need no cluster.

use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use crate::static_build::workspace_root;

/// The release namespace used in renders.
pub const NAMESPACE: &str = "landlock-injector";
/// The release name used in renders.
pub const RELEASE: &str = "landlock-injector";

/// The chart directory.
pub fn chart_dir() -> PathBuf {
    workspace_root().join("charts/landlock-injector")
}

/// The helm binary, or a message saying how to get it.
pub fn helm() -> Result<String, String> {
    let found = Command::new("helm").arg("version").arg("--short").output();
    match found {
        Ok(out) if out.status.success() => Ok("helm".to_owned()),
        _ => Err(
            "helm not found: install Helm v3 (.ci/install-helm does, with PREFIX=/usr/local)"
                .to_owned(),
        ),
    }
}

/// Runs helm with `args` in the workspace root; stdout, or stderr as the error.
pub fn run_helm(args: &[&str]) -> Result<String, String> {
    let out = Command::new(helm()?)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("cannot run helm: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Parses multi-document YAML into JSON values (empty documents dropped).
pub fn documents(yaml: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let value = Value::deserialize(document)
            .map_err(|e| format!("rendered YAML does not parse: {e}"))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// `helm template` of the chart with `--set` values (and `--skip-tests` unless `tests`).
pub fn render(sets: &[&str], tests: bool) -> Result<Vec<Value>, String> {
    render_with(&Value::Null, sets, tests)
}

/// `helm template` of the chart with a values file holding `values` (none when null), then
/// `--set` values (and `--skip-tests` unless `tests`).
pub fn render_with(values: &Value, sets: &[&str], tests: bool) -> Result<Vec<Value>, String> {
    let chart = chart_dir().display().to_string();
    let file = tempfile::NamedTempFile::new().map_err(|e| format!("values file: {e}"))?;
    let path = file.path().display().to_string();
    let mut args = vec![
        "template",
        RELEASE,
        chart.as_str(),
        "--namespace",
        NAMESPACE,
    ];
    if !values.is_null() {
        std::fs::write(file.path(), values.to_string()).map_err(|e| format!("{path}: {e}"))?;
        args.extend(["--values", path.as_str()]);
    }
    if !tests {
        args.push("--skip-tests");
    }
    for set in sets {
        args.push("--set");
        args.push(set);
    }
    documents(&run_helm(&args)?)
}

/// The `helm test` hooks among rendered `docs`, in the order Helm runs them (by weight, then name).
pub fn test_hooks(docs: &[Value]) -> Vec<&Value> {
    let mut hooks: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            d["metadata"]["annotations"]["helm.sh/hook"]
                .as_str()
                .is_some_and(|h| h.split(',').any(|e| e.trim() == "test"))
        })
        .collect();
    let weight = |d: &Value| {
        d["metadata"]["annotations"]["helm.sh/hook-weight"]
            .as_str()
            .and_then(|w| w.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let name = |d: &Value| {
        d["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    hooks.sort_by_key(|d| (weight(d), name(d)));
    hooks
}

/// The opted-in pod the `helm test` pod creates with `kubectl run NAME --namespace=NS
/// --overrides=JSON`, as the API server receives it (name and namespace from the arguments).
pub fn helm_test_sandbox_pod(docs: &[Value]) -> Result<Value, String> {
    let driver = test_hooks(docs)
        .into_iter()
        .find(|d| d["kind"] == "Pod")
        .ok_or("no helm test pod")?;
    let args: Vec<String> = serde_json::from_value(driver["spec"]["containers"][0]["args"].clone())
        .map_err(|e| format!("helm test pod args: {e}"))?;
    let flag = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("--{name}=")).map(str::to_owned))
            .ok_or(format!("the helm test pod runs kubectl without --{name}"))
    };
    let mut pod: Value = serde_json::from_str(&flag("overrides")?)
        .map_err(|e| format!("--overrides is not JSON: {e}"))?;
    if args.first().map(String::as_str) != Some("run") {
        return Err(format!(
            "the helm test pod does not run `kubectl run`: {args:?}"
        ));
    }
    let name = args.get(1).ok_or("kubectl run without a name")?;
    pod["kind"] = Value::from("Pod");
    pod["metadata"]["name"] = Value::from(name.replace("$(TEST_RUN)", "0123"));
    pod["metadata"]["namespace"] = Value::from(flag("namespace")?);
    Ok(pod)
}

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
    let chart = chart_dir().display().to_string();
    let mut args = vec![
        "template",
        RELEASE,
        chart.as_str(),
        "--namespace",
        NAMESPACE,
    ];
    if !tests {
        args.push("--skip-tests");
    }
    for set in sets {
        args.push("--set");
        args.push(set);
    }
    documents(&run_helm(&args)?)
}

//! The chart's README documents every value (issue 21): its *Values* table has one row per leaf
//! of `values.yaml` (a scalar, a list or an empty map) with the same default, and nothing else;
//! every row is a value `values.schema.json` knows, every value the schema declares is
//! documented, and a value the schema restricts to an enum names each choice. A value added
//! without documentation fails here.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("charts/landlock-injector")
}

/// Leaf keys of values.yaml (dotted) with their defaults.
fn leaves(value: &Yaml, prefix: &str, out: &mut BTreeMap<String, Yaml>) {
    match value {
        Yaml::Mapping(map) if !map.is_empty() => {
            for (key, child) in map {
                let key = key.as_str().expect("values.yaml keys are strings");
                let path = if prefix.is_empty() {
                    key.to_owned()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(child, &path, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned(), value.clone());
        }
    }
}

/// A row of the README's Values table.
struct Row {
    default: Yaml,
    meaning: String,
}

/// The table under the `## Values` heading: `| \`key\` | \`default\` | meaning |`.
fn values_table(readme: &str) -> BTreeMap<String, Row> {
    let section = readme
        .split("\n## Values\n")
        .nth(1)
        .expect("the chart README has a `## Values` section");
    let section = section.split("\n#").next().unwrap_or(section);
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert!(cells.len() >= 3, "values table row {line:?} needs 3 cells");
        let key = cells[0].trim_matches('`').to_owned();
        let default_text = cells[1].trim_matches('`');
        let default: Yaml = serde_yaml::from_str(default_text)
            .unwrap_or_else(|e| panic!("{key}: default {default_text:?} is not YAML: {e}"));
        let meaning = cells[2..].join(" | ");
        assert!(!meaning.is_empty(), "{key}: no meaning");
        let previous = rows.insert(key.clone(), Row { default, meaning });
        assert!(previous.is_none(), "{key} is documented twice");
    }
    rows
}

/// The schema node of a dotted key: `Some(node)`, or the free-form object it lies in (no
/// `properties`), or `None` when the schema does not declare it.
fn schema_node<'a>(schema: &'a Json, key: &str) -> Option<&'a Json> {
    let mut node = schema;
    for part in key.split('.') {
        match node.get("properties") {
            Some(properties) => node = properties.get(part)?,
            None => return Some(node),
        }
    }
    Some(node)
}

/// Every property path the schema declares (through `properties` only).
fn schema_paths(node: &Json, prefix: &str, out: &mut Vec<String>) {
    if let Some(Json::Object(properties)) = node.get("properties") {
        for (key, child) in properties {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            out.push(path.clone());
            schema_paths(child, &path, out);
        }
    }
}

#[test]
fn the_chart_readme_documents_every_value_with_its_default() {
    let dir = chart();
    let values: Yaml =
        serde_yaml::from_str(&fs::read_to_string(dir.join("values.yaml")).expect("values.yaml"))
            .expect("values.yaml is YAML");
    let schema: Json = serde_json::from_str(
        &fs::read_to_string(dir.join("values.schema.json")).expect("values.schema.json"),
    )
    .expect("values.schema.json is JSON");
    let readme =
        fs::read_to_string(dir.join("README.md")).expect("charts/landlock-injector/README.md");
    let table = values_table(&readme);
    let mut defaults = BTreeMap::new();
    leaves(&values, "", &mut defaults);
    assert!(
        defaults.len() > 50,
        "values.yaml: only {} leaves",
        defaults.len()
    );

    let mut problems = Vec::new();
    for (key, default) in &defaults {
        match table.get(key) {
            None => problems.push(format!(
                "values.yaml has `{key}` ({default:?}); the chart README's Values table does not"
            )),
            Some(row) if &row.default != default => problems.push(format!(
                "`{key}`: values.yaml default {default:?}, README says {:?}",
                row.default
            )),
            Some(_) => {}
        }
    }
    for (key, row) in &table {
        if !defaults.contains_key(key) {
            problems.push(format!(
                "the README documents `{key}`, which is not a value of values.yaml"
            ));
        }
        match schema_node(&schema, key) {
            None => problems.push(format!("`{key}` is not in values.schema.json")),
            Some(node) => {
                for choice in node
                    .get("enum")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                {
                    let choice = choice
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or(choice.to_string());
                    if !row.meaning.contains(&choice) {
                        problems.push(format!(
                            "`{key}`: the README does not name the choice {choice:?}"
                        ));
                    }
                }
            }
        }
    }
    let mut declared = Vec::new();
    schema_paths(&schema, "", &mut declared);
    for path in declared {
        let documented = table.keys().any(|key| {
            key == &path
                || key.starts_with(&format!("{path}."))
                || path.starts_with(&format!("{key}."))
        });
        if !documented {
            problems.push(format!(
                "values.schema.json declares `{path}`; the chart README does not document it"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_chart_readme_has_tls_outage_upgrade_and_uninstall_and_notes_point_to_it() {
    let dir = chart();
    let readme = fs::read_to_string(dir.join("README.md")).expect("chart README");
    for heading in [
        "## TLS modes (`tls.mode`)",
        "## Outage behaviour",
        "## Upgrade",
        "## Uninstall",
    ] {
        assert!(
            readme.contains(&format!("\n{heading}\n")),
            "the chart README has no {heading:?}"
        );
    }
    let notes = fs::read_to_string(dir.join("templates/NOTES.txt")).expect("NOTES.txt");
    assert!(
        notes.contains("charts/landlock-injector/README.md"),
        "templates/NOTES.txt does not point to the chart README"
    );
}

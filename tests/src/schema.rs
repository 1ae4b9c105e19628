//! A small JSON Schema validator for the subset the vendored Prometheus Operator schemas use
//! (`tests/data/crds/`): `type`, `properties`, `required`, `additionalProperties` (a schema or
//! `false`), `items`, `enum`, `const`, `anyOf`, `$ref` into `$defs`, `pattern`, `minLength`,
//! `minimum`, `maximum`. `format` is not checked. A keyword outside this subset is an error, so
//! a schema that needs more is not silently half-checked.
//!
//! An object whose schema lists `properties` and says nothing of `additionalProperties` is
//! closed: an unknown field is an error, as the API server's strict field validation
//! (`kubectl apply --validate=strict`, Helm's server-side apply) treats a misspelt field.

use serde_json::Value;

/// The keywords this validator understands (plus `$defs`, which holds the referenced schemas).
const KNOWN: [&str; 15] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
    "$ref",
    "$defs",
    "pattern",
    "minLength",
    "minimum",
    "maximum",
    "format",
];

/// Every way `instance` breaks `schema` (empty: it validates), each naming the path.
pub fn validate(schema: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, instance, "$", &mut errors);
    errors
}

fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => false,
    }
}

fn check(root: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{path}: not allowed"));
        }
        return;
    };
    for key in schema.keys() {
        if !KNOWN.contains(&key.as_str()) {
            errors.push(format!("{path}: schema keyword {key:?} is not supported"));
        }
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix("#/$defs/")
            .and_then(|name| root["$defs"].get(name));
        match target {
            Some(target) => check(root, target, value, path, errors),
            None => errors.push(format!("{path}: unresolvable $ref {reference:?}")),
        }
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
        let mut reasons = Vec::new();
        let fits = options.iter().any(|option| {
            let mut errs = Vec::new();
            check(root, option, value, path, &mut errs);
            reasons.extend(errs.iter().cloned());
            errs.is_empty()
        });
        if !fits {
            errors.push(format!(
                "{path}: {value} matches no alternative ({})",
                reasons.join("; ")
            ));
        }
    }
    if let Some(kind) = schema.get("type").and_then(Value::as_str)
        && !type_matches(kind, value)
    {
        errors.push(format!("{path}: {value} is not of type {kind}"));
        return;
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        errors.push(format!("{path}: {value} is not {expected}"));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    if let Some(text) = value.as_str() {
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && (text.chars().count() as u64) < min
        {
            errors.push(format!("{path}: {text:?} is shorter than {min}"));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            match regex::Regex::new(pattern) {
                Ok(re) if re.is_match(text) => {}
                Ok(_) => errors.push(format!("{path}: {text:?} does not match {pattern:?}")),
                Err(e) => errors.push(format!("{path}: bad pattern {pattern:?}: {e}")),
            }
        }
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && number < min
        {
            errors.push(format!("{path}: {number} is below {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && number > max
        {
            errors.push(format!("{path}: {number} is above {max}"));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                errors.push(format!("{path}: required field {name:?} missing"));
            }
        }
        for (name, field) in object {
            let at = format!("{path}.{name}");
            match (
                properties.and_then(|p| p.get(name)),
                schema.get("additionalProperties"),
            ) {
                (Some(sub), _) => check(root, sub, field, &at, errors),
                (None, Some(extra)) => check(root, extra, field, &at, errors),
                (None, None) if properties.is_some() => {
                    errors.push(format!("{at}: unknown field"));
                }
                (None, None) => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(root, items, item, &format!("{path}[{i}]"), errors);
        }
    }
}

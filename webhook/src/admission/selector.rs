//! Label selectors (`spec.podSelector` of LandlockPolicies and LandlockRecordings), checked as
//! the API server checks them (apimachinery's `LabelSelectorAsSelector`) before they are
//! evaluated.
//!
//! kube-core's `Selector::try_from` is more lenient than Kubernetes, and here leniency fails
//! open: it takes `In` with no values (which then selects nothing, so the pods a closed policy
//! was written for are admitted with their own annotations), `NotIn` with no values (every
//! pod), values on `Exists` (ignored: `app Exists [web]` selects every pod with an `app`
//! label), and keys no label can have. Each of these is refused here, naming the key.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::Selector;

/// The most `matchLabels` entries (the CRD's `maxProperties`): a selector is evaluated for
/// every opted-in pod of the namespace, so its size is bounded.
pub const MAX_MATCH_LABELS: usize = 64;
/// The most `matchExpressions` (the CRD's `maxItems`).
pub const MAX_EXPRESSIONS: usize = 32;
/// The most values of one expression (the CRD's `maxItems`).
pub const MAX_VALUES: usize = 128;

/// Why a label selector is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Too many entries in one list.
    #[error("{what} has {count} entries; at most {max}")]
    TooMany {
        /// `matchLabels`, `matchExpressions`, or an expression's values.
        what: String,
        /// How many it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A key no label can have.
    #[error("label key {key:?}: {problem}")]
    Key {
        /// The key.
        key: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A value no label can have.
    #[error("label value {value:?} (key {key:?}): {LABEL_VALUE}")]
    Value {
        /// The key it is compared with.
        key: String,
        /// The value.
        value: String,
    },
    /// An operator Kubernetes does not know.
    #[error("key {key:?}: operator {operator:?} is not In, NotIn, Exists or DoesNotExist")]
    Operator {
        /// The expression's key.
        key: String,
        /// The operator.
        operator: String,
    },
    /// What kube cannot evaluate (after the checks above, nothing should reach it).
    #[error("{0}")]
    Unsupported(String),
    /// Values that do not fit the operator.
    #[error("key {key:?}, operator {operator}: {VALUES_FIT}")]
    Values {
        /// The expression's key.
        key: String,
        /// The operator.
        operator: String,
    },
}

/// What a label value is (Kubernetes' `IsValidLabelValue`).
pub const LABEL_VALUE: &str = "at most 63 characters, empty or letters, digits, '-', '_' and '.' beginning and ending with a letter or digit";
/// The rule on an expression's values (the CRD's CEL message is the same text).
pub const VALUES_FIT: &str =
    "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist";

/// `selector` as kube evaluates it, once it is one Kubernetes accepts.
pub fn compile(selector: &LabelSelector) -> Result<Selector, SelectorError> {
    let labels = selector.match_labels.as_ref();
    let count = labels.map_or(0, |l| l.len());
    if count > MAX_MATCH_LABELS {
        return Err(too_many("matchLabels", count, MAX_MATCH_LABELS));
    }
    for (key, value) in labels.into_iter().flatten() {
        check_key(key)?;
        check_value(key, value)?;
    }
    let expressions = selector.match_expressions.as_deref().unwrap_or_default();
    if expressions.len() > MAX_EXPRESSIONS {
        return Err(too_many(
            "matchExpressions",
            expressions.len(),
            MAX_EXPRESSIONS,
        ));
    }
    for expression in expressions {
        let key = &expression.key;
        check_key(key)?;
        let values = expression.values.as_deref().unwrap_or_default();
        if values.len() > MAX_VALUES {
            return Err(too_many(
                &format!("the values of key {key:?}"),
                values.len(),
                MAX_VALUES,
            ));
        }
        let needs_values = match expression.operator.as_str() {
            "In" | "NotIn" => true,
            "Exists" | "DoesNotExist" => false,
            other => {
                return Err(SelectorError::Operator {
                    key: key.clone(),
                    operator: other.to_owned(),
                });
            }
        };
        if needs_values == values.is_empty() {
            return Err(SelectorError::Values {
                key: key.clone(),
                operator: expression.operator.clone(),
            });
        }
        for value in values {
            check_value(key, value)?;
        }
    }
    Selector::try_from(selector.clone()).map_err(|e| SelectorError::Unsupported(e.to_string()))
}

fn too_many(what: &str, count: usize, max: usize) -> SelectorError {
    SelectorError::TooMany {
        what: what.to_owned(),
        count,
        max,
    }
}

/// Kubernetes' `IsQualifiedName`: an optional DNS subdomain prefix and `/`, then a name.
fn check_key(key: &str) -> Result<(), SelectorError> {
    let fail = |problem| {
        Err(SelectorError::Key {
            key: key.to_owned(),
            problem,
        })
    };
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns_subdomain(prefix)
    {
        return fail(
            "its prefix (before '/') must be a DNS subdomain: at most 253 lower-case letters, digits, '-' and '.'",
        );
    }
    if name.is_empty() || !is_name(name) {
        return fail(
            "its name must be 1 to 63 letters, digits, '-', '_' and '.', beginning and ending with a letter or digit",
        );
    }
    Ok(())
}

fn check_value(key: &str, value: &str) -> Result<(), SelectorError> {
    if value.is_empty() || is_name(value) {
        return Ok(());
    }
    Err(SelectorError::Value {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

/// A label name or non-empty value: `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63.
fn is_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    let edge = |b: &u8| b.is_ascii_alphanumeric();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A DNS-1123 subdomain: dot-separated labels of lower-case letters, digits and '-', each
/// beginning and ending with a letter or digit; at most 253.
pub fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns_label)
}

/// One label of a DNS subdomain: lower-case letters, digits and '-', beginning and ending with
/// a letter or digit (object names are made of these too, see
/// [`crate::admission::policy::check_name`]).
pub fn is_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::SelectorExt as _;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn parse(selector: serde_json::Value) -> Result<Selector, SelectorError> {
        compile(&serde_json::from_value(selector).expect("a LabelSelector"))
    }

    /// What the API server refuses (apimachinery's `NewRequirement` and label validation) is
    /// refused, naming the key; kube-core alone took each of these and evaluated it to
    /// "nothing" or "everything".
    #[test]
    fn selectors_kubernetes_refuses_are_refused_naming_the_key() {
        let expression = |e: serde_json::Value| json!({"matchExpressions": [e]});
        let cases = [
            (
                expression(json!({"key": "app", "operator": "In", "values": []})),
                "key \"app\", operator In: values must be non-empty",
            ),
            (
                expression(json!({"key": "app", "operator": "NotIn"})),
                "key \"app\", operator NotIn: values must be non-empty",
            ),
            (
                expression(json!({"key": "app", "operator": "Exists", "values": ["web"]})),
                "key \"app\", operator Exists: values must be non-empty for In and NotIn, and empty for Exists",
            ),
            (
                expression(json!({"key": "app", "operator": "Equals", "values": ["web"]})),
                "operator \"Equals\" is not In, NotIn, Exists or DoesNotExist",
            ),
            (
                expression(json!({"key": "bad key!", "operator": "DoesNotExist"})),
                "label key \"bad key!\": its name must be",
            ),
            (
                json!({"matchLabels": {"Example.com/app": "web"}}),
                "label key \"Example.com/app\": its prefix",
            ),
            (
                json!({"matchLabels": {"/app": "web"}}),
                "label key \"/app\": its prefix",
            ),
            (
                json!({"matchLabels": {"app": "web site"}}),
                "label value \"web site\" (key \"app\")",
            ),
            (
                json!({"matchLabels": {"app": "x".repeat(64)}}),
                "(key \"app\"): at most 63 characters",
            ),
            (
                expression(json!({"key": "app", "operator": "In", "values": ["-web"]})),
                "label value \"-web\"",
            ),
        ];
        for (selector, expected) in cases {
            let error = parse(selector.clone()).expect_err(&selector.to_string());
            assert!(error.to_string().contains(expected), "{selector}: {error}");
        }
    }

    /// Sizes are bounded: a selector is evaluated for every opted-in pod of its namespace.
    #[test]
    fn oversized_selectors_are_refused() {
        let labels: BTreeMap<String, String> = (0..=MAX_MATCH_LABELS)
            .map(|i| (format!("k{i}"), "v".to_owned()))
            .collect();
        let error = parse(json!({"matchLabels": labels})).expect_err("65 labels");
        assert_eq!(error.to_string(), "matchLabels has 65 entries; at most 64");
        let values: Vec<String> = (0..=MAX_VALUES).map(|i| format!("v{i}")).collect();
        let error = parse(json!({"matchExpressions": [
            {"key": "app", "operator": "In", "values": values}
        ]}))
        .expect_err("129 values");
        assert_eq!(
            error.to_string(),
            "the values of key \"app\" has 129 entries; at most 128"
        );
    }

    /// What Kubernetes accepts is evaluated as it evaluates it.
    #[test]
    fn valid_selectors_select_as_kubernetes_does() {
        let selector = parse(json!({
            "matchLabels": {"app.kubernetes.io/name": "web", "tier": ""},
            "matchExpressions": [
                {"key": "track", "operator": "NotIn", "values": ["canary"]},
                {"key": "example.com/owner", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist", "values": []},
            ],
        }))
        .expect("valid");
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let base = [
            ("app.kubernetes.io/name", "web"),
            ("tier", ""),
            ("example.com/owner", "shop"),
        ];
        assert!(selector.matches(&labels(&base)));
        let canary = [base.as_slice(), &[("track", "canary")]].concat();
        assert!(!selector.matches(&labels(&canary)));
        let legacy = [base.as_slice(), &[("legacy", "yes")]].concat();
        assert!(!selector.matches(&labels(&legacy)));
        assert!(!selector.matches(&labels(&base[..2])));
        assert!(parse(json!({})).expect("empty").matches(&labels(&[])));
    }
}

//! What the API server decides about a pod creation (or update) from the chart's rendered objects, without
//! an API server: which webhook entries it calls (their label selectors, with kube-core's
//! implementation of the API server's selector semantics), and what the ValidatingAdmissionPolicies
//! say (their CEL, with the `cel` interpreter kube-cel ships: variables evaluated in order and
//! reachable as `variables.NAME`, `object`, `oldObject` and `namespaceObject`, each validation's `message` or
//! `messageExpression`, the binding's actions).

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};
use kube_cel::KubeCelExt as _;
use kube_cel::cel;
use serde_json::Value;

/// What the policies answered for one pod creation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Messages of failed validations bound with `Deny` (the pod is rejected when non-empty).
    pub denied: Vec<String>,
    /// Messages of failed validations bound with `Warn` (kubectl prints them).
    pub warnings: Vec<String>,
}

struct Validation {
    expression: cel::Program,
    message: Option<String>,
    message_expression: Option<cel::Program>,
}

struct Policy {
    name: String,
    actions: Vec<String>,
    /// The operations its rules match (`CREATE`, `UPDATE`).
    operations: Vec<String>,
    namespace_selector: Option<Selector>,
    variables: Vec<(String, cel::Program)>,
    validations: Vec<Validation>,
}

/// The rendered ValidatingAdmissionPolicies with their bindings, compiled once.
pub struct Policies(Vec<Policy>);

fn compile(expression: &str, context: &str) -> Result<cel::Program, String> {
    cel::Program::compile(expression).map_err(|e| format!("{context}: {e}: {expression}"))
}

fn selector(value: &Value, context: &str) -> Result<Option<Selector>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let parsed: LabelSelector =
        serde_json::from_value(value.clone()).map_err(|e| format!("{context}: {e}"))?;
    Selector::try_from(parsed)
        .map(Some)
        .map_err(|e| format!("{context}: {e}"))
}

fn labels(object: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(object["metadata"]["labels"].clone()).unwrap_or_default()
}

impl Policies {
    /// Compiles every ValidatingAdmissionPolicy in `docs` that a binding in `docs` binds.
    pub fn from_docs(docs: &[Value]) -> Result<Self, String> {
        let mut policies = Vec::new();
        for doc in docs
            .iter()
            .filter(|d| d["kind"] == "ValidatingAdmissionPolicy")
        {
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let Some(binding) = docs.iter().find(|d| {
                d["kind"] == "ValidatingAdmissionPolicyBinding" && d["spec"]["policyName"] == name
            }) else {
                continue;
            };
            let spec = &doc["spec"];
            let mut variables = Vec::new();
            for variable in spec["variables"].as_array().into_iter().flatten() {
                let variable_name = variable["name"].as_str().unwrap_or_default().to_owned();
                let context = format!("{name}: variable {variable_name}");
                let program = compile(
                    variable["expression"].as_str().unwrap_or_default(),
                    &context,
                )?;
                variables.push((variable_name, program));
            }
            let mut validations = Vec::new();
            for validation in spec["validations"].as_array().into_iter().flatten() {
                let context = format!("{name}: validation");
                validations.push(Validation {
                    expression: compile(
                        validation["expression"].as_str().unwrap_or_default(),
                        &context,
                    )?,
                    message: validation["message"].as_str().map(str::to_owned),
                    message_expression: validation["messageExpression"]
                        .as_str()
                        .map(|m| compile(m, &format!("{context} messageExpression")))
                        .transpose()?,
                });
            }
            let operations = spec["matchConstraints"]["resourceRules"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|rule| rule["operations"].as_array().into_iter().flatten())
                .filter_map(|op| op.as_str().map(str::to_owned))
                .collect();
            policies.push(Policy {
                operations,
                actions: serde_json::from_value(binding["spec"]["validationActions"].clone())
                    .map_err(|e| format!("{name}: binding validationActions: {e}"))?,
                namespace_selector: selector(
                    &spec["matchConstraints"]["namespaceSelector"],
                    &format!("{name}: namespaceSelector"),
                )?,
                name,
                variables,
                validations,
            });
        }
        Ok(Self(policies))
    }

    /// How many policies are bound.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no policy is bound.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Evaluates the creation of `pod` in `namespace` (a Namespace object). A CEL error is an
    /// error here, whatever the policy's failurePolicy: the chart's CEL must never fail.
    pub fn admit(&self, pod: &Value, namespace: &Value) -> Result<Verdict, String> {
        self.evaluate("CREATE", pod, None, namespace)
    }

    /// Evaluates the update of `old` to `pod` in `namespace`, as [`Policies::admit`] does a
    /// creation.
    pub fn update(&self, old: &Value, pod: &Value, namespace: &Value) -> Result<Verdict, String> {
        self.evaluate("UPDATE", pod, Some(old), namespace)
    }

    fn evaluate(
        &self,
        operation: &str,
        pod: &Value,
        old: Option<&Value>,
        namespace: &Value,
    ) -> Result<Verdict, String> {
        let mut verdict = Verdict::default();
        let object = cel::to_value(pod).map_err(|e| format!("pod as CEL: {e}"))?;
        let old_object = old
            .map(|old| cel::to_value(old).map_err(|e| format!("old pod as CEL: {e}")))
            .transpose()?;
        let namespace_object =
            cel::to_value(namespace).map_err(|e| format!("namespace as CEL: {e}"))?;
        for policy in &self.0 {
            if !policy.operations.iter().any(|op| op == operation) {
                continue;
            }
            if policy
                .namespace_selector
                .as_ref()
                .is_some_and(|s| !s.matches(&labels(namespace)))
            {
                continue;
            }
            // The API server's CEL environment has Kubernetes' libraries (lists' indexOf, ...).
            let mut ctx = cel::Context::default().with_all();
            ctx.add_variable_from_value("object", object.clone());
            if let Some(old_object) = &old_object {
                ctx.add_variable_from_value("oldObject", old_object.clone());
            }
            ctx.add_variable_from_value("namespaceObject", namespace_object.clone());
            let mut variables: HashMap<String, cel::Value> = HashMap::new();
            for (name, program) in &policy.variables {
                ctx.add_variable_from_value("variables", variables.clone());
                let value = program
                    .execute(&ctx)
                    .map_err(|e| format!("{}: variable {name}: {e}", policy.name))?;
                variables.insert(name.clone(), value);
            }
            ctx.add_variable_from_value("variables", variables);
            for validation in &policy.validations {
                match validation.expression.execute(&ctx) {
                    Ok(cel::Value::Bool(true)) => continue,
                    Ok(cel::Value::Bool(false)) => {}
                    other => return Err(format!("{}: validation gave {other:?}", policy.name)),
                }
                let message = match &validation.message_expression {
                    Some(program) => match program.execute(&ctx) {
                        Ok(cel::Value::String(s)) => s.to_string(),
                        other => {
                            return Err(format!(
                                "{}: messageExpression gave {other:?}",
                                policy.name
                            ));
                        }
                    },
                    None => validation.message.clone().unwrap_or_default(),
                };
                if policy.actions.iter().any(|a| a == "Deny") {
                    verdict.denied.push(message.clone());
                }
                if policy.actions.iter().any(|a| a == "Warn") {
                    verdict.warnings.push(message);
                }
            }
        }
        Ok(verdict)
    }
}

/// The names of the MutatingWebhookConfiguration entries in `docs` that the API server calls
/// for the creation of `pod` in `namespace`.
pub fn webhooks_called(
    docs: &[Value],
    pod: &Value,
    namespace: &Value,
) -> Result<Vec<String>, String> {
    let mut called = Vec::new();
    for config in docs
        .iter()
        .filter(|d| d["kind"] == "MutatingWebhookConfiguration")
    {
        for hook in config["webhooks"].as_array().into_iter().flatten() {
            let name = hook["name"].as_str().unwrap_or_default();
            let namespaces = selector(&hook["namespaceSelector"], name)?.unwrap_or_default();
            let objects = selector(&hook["objectSelector"], name)?.unwrap_or_default();
            if namespaces.matches(&labels(namespace)) && objects.matches(&labels(pod)) {
                called.push(name.to_owned());
            }
        }
    }
    Ok(called)
}

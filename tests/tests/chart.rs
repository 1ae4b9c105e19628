//! The Helm chart, checked as far as a machine without a cluster allows: `helm lint --strict`,
//! renders of every TLS mode and opt-in mode with and without the policies, every object parsed
//! as its Kubernetes type, the invariants the design depends on, the webhook's selectors and the
//! policies' CEL evaluated against pods and namespaces (with real webhook output), the
//! `helm test` pod's shape, the schema, and the plain manifests in deploy/ not stale.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::{Selector, SelectorExt};
use landlock_tests::admission_policy::{Policies, Verdict, webhooks_called};
use landlock_tests::admit::{Admitted, admit};
use landlock_tests::chart::{
    NAMESPACE, RELEASE, helm_test_sandbox_pod, render, render_with, run_helm, test_hooks,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use webhook::admission::resolve::Offline;

const NAME: &str = "landlock-injector";

/// Every TLS mode with the `--set` values it needs.
fn modes() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("selfSigned", vec!["tls.mode=selfSigned"]),
        ("certManager", vec!["tls.mode=certManager"]),
        (
            "secret",
            vec![
                "tls.mode=secret",
                "tls.secretName=my-tls",
                "tls.caBundle=-----BEGIN CERTIFICATE-----",
            ],
        ),
    ]
}

/// Drops what a serde round trip legitimately changes (empty maps and nulls).
fn normalise(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), normalise(v)))
                .filter(|(_, v)| !matches!(v, Value::Object(m) if m.is_empty()))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        other => other.clone(),
    }
}

/// Parses `doc` as `T` and requires the round trip to keep every field: a misspelt or
/// misplaced field would be dropped by the typed parse and show up here.
fn typed<T: DeserializeOwned + Serialize>(doc: &Value) -> T {
    let parsed: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}: {doc:#}"));
    let back = serde_json::to_value(&parsed).expect("serialise");
    assert_eq!(
        normalise(&back),
        normalise(doc),
        "fields lost in the typed round trip"
    );
    parsed
}

fn by_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = by_kind(docs, kind);
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found[0]
}

#[test]
fn lint_is_clean_in_every_mode() {
    for (mode, sets) in modes() {
        for opt_in in OPT_IN {
            let opt_in = format!("webhook.optIn={opt_in}");
            let mut args = vec!["lint", "--strict", "charts/landlock-injector"];
            for set in sets.iter().chain([&opt_in.as_str()]) {
                args.extend(["--set", set]);
            }
            let out = run_helm(&args).unwrap_or_else(|e| panic!("{mode} {opt_in}: {e}"));
            assert!(out.contains("0 chart(s) failed"), "{mode} {opt_in}: {out}");
        }
    }
}

#[test]
fn every_rendered_object_is_a_valid_kubernetes_object_with_the_invariants() {
    for (mode, sets) in modes() {
        for policy in [true, false] {
            for opt_in in OPT_IN {
                let mut sets = sets.clone();
                let policy_set = format!("policy.enabled={policy}");
                let opt_in_set = format!("webhook.optIn={opt_in}");
                sets.push(&policy_set);
                sets.push(&opt_in_set);
                let docs = render(&sets, true).unwrap_or_else(|e| panic!("{mode}: {e}"));
                check(mode, policy, opt_in, &docs);
            }
        }
    }
}

fn check(mode: &str, policy: bool, opt_in: &str, docs: &[Value]) {
    let context = format!("mode {mode}, policy {policy}, optIn {opt_in}");
    for doc in docs {
        match doc["kind"].as_str().unwrap_or_default() {
            "Deployment" => drop(typed::<Deployment>(doc)),
            "Service" => drop(typed::<Service>(doc)),
            "ServiceAccount" => drop(typed::<ServiceAccount>(doc)),
            "ClusterRole" => drop(typed::<ClusterRole>(doc)),
            "ClusterRoleBinding" => drop(typed::<ClusterRoleBinding>(doc)),
            "Role" => drop(typed::<Role>(doc)),
            "RoleBinding" => drop(typed::<RoleBinding>(doc)),
            "PodDisruptionBudget" => drop(typed::<PodDisruptionBudget>(doc)),
            "MutatingWebhookConfiguration" => drop(typed::<MutatingWebhookConfiguration>(doc)),
            "ValidatingAdmissionPolicy" => drop(typed::<ValidatingAdmissionPolicy>(doc)),
            "ValidatingAdmissionPolicyBinding" => {
                drop(typed::<ValidatingAdmissionPolicyBinding>(doc))
            }
            "Secret" => drop(typed::<Secret>(doc)),
            "Namespace" => drop(typed::<Namespace>(doc)),
            "Pod" => drop(typed::<Pod>(doc)),
            "CustomResourceDefinition" => drop(typed::<
                k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
            >(doc)),
            "Issuer" | "Certificate" => {
                assert_eq!(doc["apiVersion"], "cert-manager.io/v1", "{context}");
                assert!(doc["spec"].is_object(), "{context}: {doc}");
            }
            other => panic!("{context}: unexpected kind {other}"),
        }
    }

    // The webhook registration: one entry, or with optIn label one for labelled pods and one
    // for labelled namespaces.
    let mwc: MutatingWebhookConfiguration = typed(one(docs, "MutatingWebhookConfiguration"));
    let webhooks = mwc.webhooks.expect("webhooks");
    assert_eq!(
        webhooks.len(),
        if opt_in == "label" { 2 } else { 1 },
        "{context}"
    );
    let excluded =
        |selector: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>| {
            selector
                .and_then(|s| s.match_expressions.clone())
                .into_iter()
                .flatten()
                .any(|e| {
                    e.key == "kubernetes.io/metadata.name"
                        && e.operator == "NotIn"
                        && e.values
                            .clone()
                            .unwrap_or_default()
                            .iter()
                            .any(|v| v == "kube-system")
                        && e.values
                            .clone()
                            .unwrap_or_default()
                            .iter()
                            .any(|v| v == NAMESPACE)
                })
        };
    for hook in &webhooks {
        assert_eq!(hook.admission_review_versions, ["v1"]);
        assert_eq!(hook.side_effects, "None");
        assert_eq!(hook.failure_policy.as_deref(), Some("Ignore"), "{context}");
        assert_eq!(hook.reinvocation_policy.as_deref(), Some("IfNeeded"));
        assert!(hook.timeout_seconds.is_some_and(|t| t <= 30));
        let rules = hook.rules.clone().expect("rules");
        assert_eq!(rules[0].operations, Some(vec!["CREATE".to_owned()]));
        assert_eq!(rules[0].resources, Some(vec!["pods".to_owned()]));
        assert!(
            excluded(hook.namespace_selector.as_ref()),
            "{context}: kube-system and the release namespace are excluded"
        );
        let service = hook.client_config.service.clone().expect("service");
        assert_eq!(service.path.as_deref(), Some("/mutate"));
    }
    let hook = &webhooks[0];
    let inject_ca_from = mwc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("cert-manager.io/inject-ca-from"))
        .cloned();
    match mode {
        "certManager" => {
            assert!(hook.client_config.ca_bundle.is_none());
            let cert_name = inject_ca_from
                .expect("inject-ca-from")
                .replace(&format!("{NAMESPACE}/"), "");
            let cert = by_kind(docs, "Certificate")
                .into_iter()
                .find(|c| c["metadata"]["name"] == cert_name.as_str());
            let cert = cert.expect("the certificate inject-ca-from names");
            let dns: Vec<&str> = cert["spec"]["dnsNames"]
                .as_array()
                .expect("dnsNames")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                dns.contains(&format!("{NAME}.{NAMESPACE}.svc").as_str()),
                "{dns:?}"
            );
        }
        _ => assert!(
            hook.client_config
                .ca_bundle
                .as_ref()
                .is_some_and(|b| !b.0.is_empty()),
            "{context}: caBundle"
        ),
    }
    if mode == "selfSigned" {
        verify_generated_certificate(
            docs,
            &hook.client_config.ca_bundle.clone().expect("caBundle").0,
        );
    }

    // The webhook's own pod: restricted, probes, the TLS secret it mounts exists.
    let deployment: Deployment = typed(one(docs, "Deployment"));
    let spec = deployment.spec;
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.expect("pod spec");
    let psc = pod.security_context.clone().expect("pod securityContext");
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(
        psc.seccomp_profile.map(|s| s.type_),
        Some("RuntimeDefault".to_owned())
    );
    assert!(
        pod.topology_spread_constraints
            .as_ref()
            .is_some_and(|t| !t.is_empty())
    );
    let container = &pod.containers[0];
    let sc = container
        .security_context
        .clone()
        .expect("container securityContext");
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(
        sc.capabilities.and_then(|c| c.drop),
        Some(vec!["ALL".to_owned()])
    );
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .and_then(|p| p.http_get.clone())
            .map(|h| (h.path.unwrap_or_default(), h.scheme.unwrap_or_default()))
    };
    assert_eq!(
        probe_path(&container.liveness_probe),
        Some(("/healthz".to_owned(), "HTTPS".to_owned()))
    );
    assert_eq!(
        probe_path(&container.readiness_probe),
        Some(("/readyz".to_owned(), "HTTPS".to_owned()))
    );
    let args = container.args.clone().unwrap_or_default();
    assert!(
        args.contains(&"--shim-image=ghcr.io/landlock-injector/landlock-shim:0.1.0".to_owned()),
        "{args:?}"
    );
    assert!(
        args.iter()
            .any(|a| a == "--tls-cert=/etc/landlock-webhook/tls/tls.crt"),
        "{args:?}"
    );
    assert!(
        !args.iter().any(|a| a == "--no-self-sandbox"),
        "the self-sandbox is on by default"
    );
    let secret_name = pod
        .volumes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .find_map(|v| v.secret)
        .and_then(|s| s.secret_name)
        .expect("tls secret volume");
    let provided = match mode {
        "selfSigned" => by_kind(docs, "Secret")
            .iter()
            .any(|s| s["metadata"]["name"] == secret_name.as_str()),
        "certManager" => by_kind(docs, "Certificate")
            .iter()
            .any(|c| c["spec"]["secretName"] == secret_name.as_str()),
        _ => secret_name == "my-tls",
    };
    assert!(
        provided,
        "{context}: nothing provides the secret {secret_name}"
    );

    // RBAC: reads (pull secrets, namespaces, policies, recordings, recorded pods' logs) and
    // the writes of the status writer and the recording controller, nothing else.
    let role: ClusterRole = typed(one(docs, "ClusterRole"));
    let allowed: [(&[&str], &[&str]); 8] = [
        (&["secrets"], &["get"]),
        (&["namespaces"], &["get", "list", "watch"]),
        (
            &["landlockpolicies", "landlockrecordings"],
            &["list", "watch"],
        ),
        (&["pods"], &["list", "watch"]),
        (&["landlockpolicies/status"], &["patch"]),
        (&["pods/log"], &["get"]),
        (
            &["landlockrecordings", "landlockrecordings/status"],
            &["patch"],
        ),
        (&["landlockpolicies"], &["create", "patch"]),
    ];
    for rule in role.rules.unwrap_or_default() {
        let resources = rule.resources.clone().unwrap_or_default();
        assert!(
            allowed
                .iter()
                .any(|(r, v)| resources == *r && rule.verbs == *v),
            "{context}: the webhook's ClusterRole has {resources:?} {:?}",
            rule.verbs
        );
        let group = if resources.iter().any(|r| r.starts_with("landlock")) {
            "landlock-injector.io"
        } else {
            ""
        };
        assert_eq!(
            rule.api_groups.as_deref(),
            Some(&[group.to_owned()][..]),
            "{context}: {resources:?}"
        );
    }
    drop(typed::<PodDisruptionBudget>(one(
        docs,
        "PodDisruptionBudget",
    )));

    // The policies: two reject (an unwrapped opted-in pod; an update of its records), one warns.
    let policies = by_kind(docs, "ValidatingAdmissionPolicy");
    assert_eq!(policies.len(), 3 * usize::from(policy), "{context}");
    let bindings = by_kind(docs, "ValidatingAdmissionPolicyBinding");
    assert_eq!(bindings.len(), policies.len(), "{context}");
    for doc in policies {
        let vap: ValidatingAdmissionPolicy = typed(doc);
        let name = vap.metadata.name.clone().expect("name");
        let binding: ValidatingAdmissionPolicyBinding = typed(
            bindings
                .iter()
                .find(|b| b["spec"]["policyName"] == name.as_str())
                .expect("its binding"),
        );
        let vspec = vap.spec.expect("policy spec");
        let match_namespaces = vspec
            .match_constraints
            .as_ref()
            .and_then(|m| m.namespace_selector.as_ref());
        match binding.spec.validation_actions.as_slice() {
            [deny] if deny == "Deny" => {
                assert_eq!(vspec.failure_policy.as_deref(), Some("Fail"), "{context}");
                assert!(excluded(match_namespaces), "{context}");
            }
            [warn] if warn == "Warn" => {
                assert_eq!(vspec.failure_policy.as_deref(), Some("Ignore"), "{context}");
                assert!(match_namespaces.is_none(), "{context}: warns everywhere");
            }
            other => panic!("{context}: {name} bound with {other:?}"),
        }
    }
}

fn verify_generated_certificate(docs: &[Value], ca_bundle: &[u8]) {
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    let secret = by_kind(docs, "Secret")
        .into_iter()
        .find(|s| s["type"] == "kubernetes.io/tls")
        .expect("tls secret");
    let decode = |k: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(secret["data"][k].as_str().expect("data"))
            .expect("base64")
    };
    let leaf = CertificateDer::from_pem_slice(&decode("tls.crt")).expect("tls.crt PEM");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_bundle).expect("caBundle PEM"))
        .expect("CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("verifier");
    let name = ServerName::try_from(format!("{NAME}.{NAMESPACE}.svc")).expect("name");
    verifier
        .verify_server_cert(&leaf, &[], &name, &[], UnixTime::now())
        .expect(
            "the generated serving certificate is valid for the service and chains to caBundle",
        );
}

/// The label of the opt-in switch (pod label, pod annotation, namespace label).
const INJECT: &str = "landlock-injector.io/inject";

/// `webhook.optIn` values.
const OPT_IN: [&str; 3] = ["both", "annotation", "label"];

/// User selector configurations: none; matchLabels and In; NotIn, DoesNotExist, Exists and
/// matchLabels together.
fn selector_configs() -> Vec<Value> {
    vec![
        json!({}),
        json!({"objectSelector": {"matchLabels": {"team": "a"}},
               "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}}),
        json!({"objectSelector": {"matchExpressions": [
                   {"key": "tier", "operator": "NotIn", "values": ["batch"]},
                   {"key": "skip", "operator": "DoesNotExist"}]},
               "namespaceSelector": {"matchLabels": {"zone": "eu"},
                   "matchExpressions": [{"key": "sandbox", "operator": "Exists"}]}}),
    ]
}

fn values(opt_in: &str, selectors: &Value) -> Value {
    let mut webhook = selectors.clone();
    webhook["optIn"] = json!(opt_in);
    json!({ "webhook": webhook })
}

/// A Namespace object as the API server holds it (with its `kubernetes.io/metadata.name`).
fn namespace(name: &str, labels: Value) -> Value {
    let mut labels = labels;
    labels["kubernetes.io/metadata.name"] = json!(name);
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

fn selector_of(value: &Value) -> Selector {
    let parsed: LabelSelector = serde_json::from_value(value.clone()).unwrap_or_default();
    Selector::try_from(parsed).expect("selector")
}

fn labels_of(object: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(object["metadata"]["labels"].clone()).unwrap_or_default()
}

fn opted_in_pod() -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "apps", "annotations": {INJECT: "true"}},
        "spec": {"initContainers": [{"name": "init", "image": "x", "command": ["/init"]}],
                 "containers": [{"name": "app", "image": "x", "command": ["/app"]}]}}))
    .expect("pod")
}

/// What the webhook makes of `pod` (its real admission path, offline).
async fn webhook_output(pod: &Pod) -> Value {
    match admit(
        pod,
        &webhook::admission::config::Config::default(),
        &Offline,
    )
    .await
    {
        Admitted::Allowed(pod, _) => serde_json::to_value(*pod).expect("json"),
        Admitted::Denied(message) => panic!("the webhook denied the pod: {message}"),
    }
}

/// What the policies must say, written from the design rather than from the templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Expected {
    Admitted,
    /// Rejected: the webhook should have wrapped it (it was down).
    NotWrapped,
    /// Rejected: webhook.optIn is label and the pod does not carry the label.
    AddTheLabel,
    /// Admitted with a warning naming why the webhook never sees it.
    Exempt,
    NamespaceSelector,
    ObjectSelector,
}

#[tokio::test]
async fn the_policies_follow_the_webhook_selectors_for_every_switch_and_exclusion() {
    let wrapped = webhook_output(&opted_in_pod()).await;
    let namespaces = [
        namespace("apps", json!({})),
        namespace(
            "prod",
            json!({"env": "prod", "sandbox": "yes", "zone": "eu"}),
        ),
        namespace("labelled", json!({INJECT: "true"})),
        namespace(
            "labelled-prod",
            json!({INJECT: "true", "env": "prod", "sandbox": "", "zone": "eu"}),
        ),
        namespace(
            "labelled-dev",
            json!({INJECT: "true", "env": "dev", "zone": "us"}),
        ),
        namespace("kube-system", json!({INJECT: "true"})),
        namespace(NAMESPACE, json!({})),
    ];
    let switches = [
        (json!({}), json!({})),
        (json!({INJECT: "true"}), json!({})),
        (json!({}), json!({INJECT: "true"})),
        (json!({INJECT: "false"}), json!({})),
        (json!({}), json!({INJECT: "false"})),
        (json!({INJECT: "yes"}), json!({})),
        (
            json!({INJECT: "true", "team": "a", "tier": "web"}),
            json!({}),
        ),
        (json!({"team": "a"}), json!({INJECT: "true"})),
        (
            json!({INJECT: "true", "team": "b", "tier": "batch"}),
            json!({}),
        ),
        (json!({INJECT: "true", "team": "a", "skip": "x"}), json!({})),
        (json!({"team": "a", "tier": "web"}), json!({})),
    ];
    let mut seen_outcomes = std::collections::BTreeSet::new();
    for opt_in in OPT_IN {
        for selectors in selector_configs() {
            let docs = render_with(&values(opt_in, &selectors), &[], false).expect("render");
            let policies = Policies::from_docs(&docs).expect("policies compile");
            assert_eq!(policies.len(), 3, "{opt_in} {selectors}");
            let user_namespaces = selector_of(&selectors["namespaceSelector"]);
            let user_objects = selector_of(&selectors["objectSelector"]);
            for ns in &namespaces {
                let ns_name = ns["metadata"]["name"].as_str().expect("name");
                let ns_labels = labels_of(ns);
                for (labels, annotations) in &switches {
                    for is_wrapped in [false, true] {
                        let mut pod = if is_wrapped {
                            wrapped.clone()
                        } else {
                            serde_json::to_value(opted_in_pod()).expect("json")
                        };
                        let mut all_annotations = annotations.clone();
                        if is_wrapped {
                            all_annotations["landlock-injector.io/status"] = json!("injected");
                        }
                        pod["metadata"]["namespace"] = json!(ns_name);
                        pod["metadata"]["labels"] = labels.clone();
                        pod["metadata"]["annotations"] = all_annotations;
                        let context = format!(
                            "optIn {opt_in}, selectors {selectors}, namespace {ns_name}, labels {labels}, annotations {annotations}, wrapped {is_wrapped}"
                        );

                        // The design, independently of the templates.
                        let pod_labels = labels_of(&pod);
                        let switch_values: Vec<&str> = [labels, annotations]
                            .iter()
                            .filter_map(|m| m[INJECT].as_str())
                            .collect();
                        let namespace_says_true =
                            ns_labels.get(INJECT).map(String::as_str) == Some("true");
                        let opted_in = switch_values.iter().any(|v| *v != "false")
                            || (namespace_says_true && !switch_values.contains(&"false"));
                        let exempt = ns_name == "kube-system" || ns_name == NAMESPACE;
                        let in_scope = !exempt
                            && user_namespaces.matches(&ns_labels)
                            && user_objects.matches(&pod_labels);
                        let pod_says_true =
                            pod_labels.get(INJECT).map(String::as_str) == Some("true");

                        // The webhook registration, as the API server evaluates its selectors.
                        let called = webhooks_called(&docs, &pod, ns).expect("selectors");
                        let sees = !called.is_empty();
                        let should_see =
                            in_scope && (opt_in != "label" || pod_says_true || namespace_says_true);
                        assert_eq!(sees, should_see, "webhook called: {called:?}; {context}");
                        assert!(called.len() <= 1, "called twice: {called:?}; {context}");

                        let expected = if !opted_in || is_wrapped {
                            Expected::Admitted
                        } else if sees {
                            Expected::NotWrapped
                        } else if in_scope {
                            Expected::AddTheLabel
                        } else if exempt {
                            Expected::Exempt
                        } else if !user_namespaces.matches(&ns_labels) {
                            Expected::NamespaceSelector
                        } else {
                            Expected::ObjectSelector
                        };
                        seen_outcomes.insert(expected);

                        let verdict = policies
                            .admit(&pod, ns)
                            .unwrap_or_else(|e| panic!("{e}; {context}"));
                        let denied = |needle: &str| {
                            verdict.warnings.is_empty()
                                && verdict.denied.len() == 1
                                && verdict.denied[0].contains(needle)
                        };
                        let warned = |needle: &str| {
                            verdict.denied.is_empty()
                                && verdict.warnings.len() == 1
                                && verdict.warnings[0].contains("runs UNSANDBOXED")
                                && verdict.warnings[0].contains(needle)
                        };
                        let ok = match expected {
                            Expected::Admitted => verdict == Verdict::default(),
                            Expected::NotWrapped => {
                                denied("did not wrap it")
                                    && denied("Check that the webhook is running")
                            }
                            Expected::AddTheLabel => denied(&format!(
                                "Add the label {INJECT}: \"true\" to the pod's metadata.labels"
                            )),
                            Expected::Exempt => {
                                warned(&format!("pods in namespace {ns_name} are never mutated"))
                            }
                            Expected::NamespaceSelector => warned(&format!(
                                "webhook.namespaceSelector excludes namespace {ns_name}"
                            )),
                            Expected::ObjectSelector => {
                                warned("webhook.objectSelector excludes this pod")
                            }
                        };
                        assert!(ok, "expected {expected:?}, got {verdict:?}; {context}");
                    }
                }
            }
        }
    }
    assert_eq!(
        seen_outcomes.len(),
        6,
        "every outcome is exercised: {seen_outcomes:?}"
    );
}

/// Pods bound to a LandlockPolicy: the webhook's output passes (the policy's mode is not one
/// the pod's annotations say), the same pod unwrapped is rejected, and a pod that only names a
/// policy counts as opted in.
/// `pod` as the webhook writes it with `lookups` (its namespaces, policies, recordings).
async fn wrapped_with(
    pod: &Value,
    lookups: &impl webhook::admission::namespaces::Lookups,
) -> Value {
    let typed: Pod = serde_json::from_value(pod.clone()).expect("pod");
    match admit(
        &typed,
        &webhook::admission::config::Config::default(),
        lookups,
    )
    .await
    {
        Admitted::Allowed(pod, _) => serde_json::to_value(*pod).expect("json"),
        Admitted::Denied(message) => panic!("the webhook denied {pod}: {message}"),
    }
}

#[tokio::test]
async fn the_policy_covers_pods_bound_to_a_landlock_policy() {
    use webhook::admission::namespaces::{Known, With};
    let docs = render(&[], false).expect("render");
    let policies = Policies::from_docs(&docs).expect("policies compile");
    let apps = namespace("apps", json!({}));
    let mut known = Known::default();
    known.extend_from_docs(&[json!({
        "apiVersion": "landlock-injector.io/v1alpha1", "kind": "LandlockPolicy",
        "metadata": {"name": "app", "namespace": "apps", "generation": 7},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                 "default": {"mode": "enforce", "read": ["/srv"]}},
    })]);
    let lookups = With {
        images: Offline,
        namespaces: known,
    };
    let mut selected = serde_json::to_value(opted_in_pod()).expect("json");
    selected["metadata"]["labels"] = json!({"app": "web"});
    let mut named = serde_json::to_value(opted_in_pod()).expect("json");
    named["metadata"]["annotations"] = json!({"landlock-injector.io/policy": "app"});
    for pod in [selected, named] {
        let wrapped = wrapped_with(&pod, &lookups).await;
        assert_eq!(
            wrapped["metadata"]["annotations"]["landlock-injector.io/applied-policy"],
            "app@7"
        );
        let command = wrapped["spec"]["containers"][0]["command"].to_string();
        assert!(command.contains(r#""--mode","enforce""#), "{command}");
        assert_eq!(
            policies.admit(&wrapped, &apps),
            Ok(Verdict::default()),
            "the webhook's output for a policy-bound pod passes: {wrapped}"
        );
        let verdict = policies.admit(&pod, &apps).expect("evaluates");
        assert!(
            verdict.denied.iter().any(|m| m.contains("did not wrap it")),
            "a policy-bound pod the webhook never saw is rejected: {pod} {verdict:?}"
        );
    }
}

/// A pod an active LandlockRecording selects runs `--mode learn` whatever its annotations say,
/// and the policy accepts exactly that: the same pod with another mode is rejected.
#[tokio::test]
async fn the_policy_covers_pods_a_landlock_recording_admitted_in_learn_mode() {
    use webhook::admission::namespaces::{Known, With};
    let docs = render(&[], false).expect("render");
    let policies = Policies::from_docs(&docs).expect("policies compile");
    let apps = namespace("apps", json!({}));
    let mut known = Known::default();
    known.extend_from_docs(&[json!({
        "apiVersion": "landlock-injector.io/v1alpha1", "kind": "LandlockRecording",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}},
    })]);
    let lookups = With {
        images: Offline,
        namespaces: known,
    };
    let mut pod = serde_json::to_value(opted_in_pod()).expect("json");
    pod["metadata"]["labels"] = json!({"app": "web"});
    pod["metadata"]["annotations"] = json!({"landlock-injector.io/inject": "true",
        "landlock-injector.io/mode": "enforce"});
    let wrapped = wrapped_with(&pod, &lookups).await;
    assert_eq!(
        wrapped["metadata"]["annotations"]["landlock-injector.io/recording"],
        "web"
    );
    let command = wrapped["spec"]["containers"][0]["command"].to_string();
    assert!(command.contains(r#""--mode","learn""#), "{command}");
    assert_eq!(
        policies.admit(&wrapped, &apps),
        Ok(Verdict::default()),
        "the webhook's output for a recorded pod passes: {wrapped}"
    );
    let mut other_mode = wrapped.clone();
    let text = other_mode["spec"]["containers"][0]["command"].to_string();
    other_mode["spec"]["containers"][0]["command"] =
        serde_json::from_str(&text.replace(r#""--mode","learn""#, r#""--mode","enforce""#))
            .expect("json");
    let verdict = policies.admit(&other_mode, &apps).expect("evaluates");
    assert!(
        !verdict.denied.is_empty(),
        "a recorded pod must run learn mode: {verdict:?}"
    );
}

/// A pod created with a record but not wrapped (one that does not opt in, so that neither the
/// webhook nor the opt-in rule looks at it) is refused: it would be counted as a policy's pod
/// and listed by its label while it runs unsandboxed.
#[test]
fn the_policy_refuses_records_on_pods_the_webhook_did_not_wrap() {
    let docs = render(&[], false).expect("render");
    let policies = Policies::from_docs(&docs).expect("policies compile");
    let apps = namespace("apps", json!({}));
    for key in [
        "landlock-injector.io/applied-policy",
        "landlock-injector.io/recording",
    ] {
        for place in ["labels", "annotations"] {
            let mut pod = serde_json::to_value(opted_in_pod()).expect("json");
            pod["metadata"]["annotations"] = json!({});
            pod["metadata"]["labels"] = json!({});
            pod["metadata"][place][key] = json!("web");
            let verdict = policies.admit(&pod, &apps).expect("evaluates");
            assert!(
                verdict.denied.iter().any(|m| m.contains(
                    "are written by the webhook on the pods it wraps, and this pod was not wrapped"
                )),
                "{key} in {place}: {verdict:?}"
            );
        }
    }
}

/// The records a pod was admitted with cannot be edited afterwards: an update that adds,
/// changes or removes the applied-policy or recording label or annotation is refused; any
/// other update of the pod (another label, the status annotation left alone) passes.
#[test]
fn the_policy_keeps_the_records_a_pod_was_admitted_with() {
    let docs = render(&[], false).expect("render");
    let policies = Policies::from_docs(&docs).expect("policies compile");
    let apps = namespace("apps", json!({}));
    let key = "landlock-injector.io/applied-policy";
    let mut admitted = serde_json::to_value(opted_in_pod()).expect("json");
    admitted["metadata"]["labels"] = json!({key: "web", "app": "web"});
    admitted["metadata"]["annotations"] = json!({key: "web@2", INJECT: "true"});
    let edit = |path: &str, which: &str, value: Option<&str>| {
        let mut pod = admitted.clone();
        let map = pod["metadata"][path].as_object_mut().expect("a map");
        match value {
            Some(value) => map.insert(which.to_owned(), json!(value)),
            None => map.remove(which),
        };
        pod
    };
    let recording = "landlock-injector.io/recording";
    let mut unlabelled = admitted.clone();
    unlabelled["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("labels");
    for (what, updated) in [
        ("generation bumped", edit("annotations", key, Some("web@3"))),
        ("annotation removed", edit("annotations", key, None)),
        ("label changed", edit("labels", key, Some("other"))),
        ("label removed", edit("labels", key, None)),
        ("every label removed", unlabelled),
        ("recording added", edit("labels", recording, Some("rec"))),
        (
            "recording annotated",
            edit("annotations", recording, Some("rec")),
        ),
    ] {
        let verdict = policies
            .update(&admitted, &updated, &apps)
            .expect("evaluates");
        assert!(
            verdict
                .denied
                .iter()
                .any(|m| m.contains("cannot be added, changed or removed")),
            "{what}: {verdict:?}"
        );
    }
    for (what, updated) in [
        ("unchanged", admitted.clone()),
        ("another label", edit("labels", "tier", Some("web"))),
        ("another annotation", edit("annotations", "note", Some("x"))),
    ] {
        assert_eq!(
            policies.update(&admitted, &updated, &apps),
            Ok(Verdict::default()),
            "{what}"
        );
    }
    // A pod without any record, updated without adding one.
    let plain = serde_json::to_value(opted_in_pod()).expect("json");
    let mut relabelled = plain.clone();
    relabelled["metadata"]["labels"] = json!({"tier": "web"});
    assert_eq!(
        policies.update(&plain, &relabelled, &apps),
        Ok(Verdict::default())
    );
}

/// A pod update may change init containers' images, and kubelet runs init containers again when
/// it recreates a pod's sandbox: the shim installer's image stays what the pod was admitted with
/// (another would write another program where the containers run the shim). Changing an
/// application container's image, or another init container's, is the pod's own business.
#[tokio::test]
async fn the_policy_keeps_the_shim_installer_image_a_pod_was_admitted_with() {
    let docs = render(&[], false).expect("render");
    let policies = Policies::from_docs(&docs).expect("policies compile");
    let apps = namespace("apps", json!({}));
    let admitted = webhook_output(&opted_in_pod()).await;
    let installer = admitted["spec"]["initContainers"]
        .as_array()
        .expect("init containers")
        .iter()
        .position(|c| c["command"][0] == "/landlock-shim" && c["command"][1] == "install")
        .expect("the installer");
    let other = usize::from(installer == 0);
    let with = |pointer: String, image: &str| {
        let mut updated = admitted.clone();
        *updated.pointer_mut(&pointer).expect("image") = json!(image);
        updated
    };
    let verdict = policies
        .update(
            &admitted,
            &with(
                format!("/spec/initContainers/{installer}/image"),
                "evil/shim:1",
            ),
            &apps,
        )
        .expect("evaluates");
    assert!(
        verdict.denied.iter().any(|m| m.contains(
            "the image of the init container that installs landlock-shim cannot be changed"
        )),
        "{verdict:?}"
    );
    for (what, updated) in [
        ("unchanged", admitted.clone()),
        (
            "another init container's image",
            with(format!("/spec/initContainers/{other}/image"), "app:2"),
        ),
        (
            "an application container's image",
            with("/spec/containers/0/image".to_owned(), "app:2"),
        ),
    ] {
        assert_eq!(
            policies.update(&admitted, &updated, &apps),
            Ok(Verdict::default()),
            "{what}"
        );
    }
}

#[tokio::test]
async fn the_policy_admits_what_the_webhook_wrapped_and_rejects_opted_in_pods_it_did_not() {
    let docs = render(&[], false).expect("render");
    let policies = Policies::from_docs(&docs).expect("policies compile");
    let apps = namespace("apps", json!({}));
    let mutated = webhook_output(&opted_in_pod()).await;
    assert_eq!(
        policies.admit(&mutated, &apps),
        Ok(Verdict::default()),
        "the webhook's output passes"
    );

    let unwrapped = serde_json::to_value(opted_in_pod()).expect("json");
    let verdict = policies.admit(&unwrapped, &apps).expect("evaluates");
    assert!(
        verdict.denied.iter().any(|m| m.contains("did not wrap it")),
        "an opted-in pod the webhook never saw is rejected: {verdict:?}"
    );

    let mut plain = unwrapped.clone();
    plain["metadata"]["annotations"] = json!({});
    assert_eq!(policies.admit(&plain, &apps), Ok(Verdict::default()));
    plain["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("annotations");
    assert_eq!(
        policies.admit(&plain, &apps),
        Ok(Verdict::default()),
        "pods without annotations pass"
    );

    let mut forged = unwrapped.clone();
    forged["metadata"]["annotations"]["landlock-injector.io/status"] = json!("injected");
    assert!(
        !policies
            .admit(&forged, &apps)
            .expect("evaluates")
            .denied
            .is_empty(),
        "a status annotation alone does not pass"
    );

    let mut added = mutated.clone();
    added["spec"]["containers"]
        .as_array_mut()
        .expect("containers")
        .push(json!({"name": "late", "image": "x", "command": ["/late"]}));
    assert!(
        !policies
            .admit(&added, &apps)
            .expect("evaluates")
            .denied
            .is_empty(),
        "a container added after the webhook, unwrapped, is rejected"
    );

    // A pod that says it was injected but runs its own flags, or lets another container
    // write the shim volume, is not wrapped.
    let mut dry_run = mutated.clone();
    let command = dry_run["spec"]["containers"][0]["command"]
        .as_array_mut()
        .expect("command");
    let at = command.iter().position(|a| a == "--mode").expect("--mode");
    command[at + 1] = json!("dry-run");
    assert!(
        policies
            .admit(&dry_run, &apps)
            .expect("evaluates")
            .denied
            .iter()
            .any(|m| m.contains("did not wrap it")),
        "a mode other than the annotations' is rejected"
    );
    let mut writer = mutated.clone();
    let volume = writer["spec"]["initContainers"][0]["volumeMounts"][0]["name"].clone();
    let wrapped_command = writer["spec"]["containers"][0]["command"].clone();
    writer["spec"]["initContainers"]
        .as_array_mut()
        .expect("inits")
        .push(json!({"name": "swap", "image": "evil:1",
            "command": wrapped_command,
            "volumeMounts": [{"name": volume, "mountPath": "/landlock-injector"}]}));
    assert!(
        !policies
            .admit(&writer, &apps)
            .expect("evaluates")
            .denied
            .is_empty(),
        "a second writer of the shim volume is rejected"
    );
    let mut per_container = unwrapped.clone();
    per_container["metadata"]["annotations"]["landlock-injector.io/app.mode"] = json!("enforce");
    let pod: Pod = serde_json::from_value(per_container).expect("pod");
    let enforced = webhook_output(&pod).await;
    assert_eq!(
        policies.admit(&enforced, &apps),
        Ok(Verdict::default()),
        "a per-container mode the webhook wrote passes"
    );

    let mut other_installer = mutated.clone();
    other_installer["spec"]["initContainers"][0]["image"] = json!("registry.example/evil:1");
    assert!(
        !policies
            .admit(&other_installer, &apps)
            .expect("evaluates")
            .denied
            .is_empty(),
        "an installer from another image than the chart's shim image does not count"
    );
}

#[tokio::test]
async fn helm_test_logs_finds_its_pod_and_uninstall_removes_what_a_failed_test_leaves() {
    for opt_in in OPT_IN {
        for selectors in selector_configs() {
            let docs = render_with(&values(opt_in, &selectors), &[], true).expect("render");
            let context = format!("optIn {opt_in}, selectors {selectors}");
            // `helm test --logs` reads, for every test hook, the log of the pod of that name in
            // the release namespace, after all hooks ran; Helm 3 has already deleted the hooks
            // whose policy is hook-succeeded or hook-failed by then.
            let hooks = test_hooks(&docs);
            assert!(!hooks.is_empty(), "{context}");
            for hook in &hooks {
                assert_eq!(hook["kind"], "Pod", "{context}: {hook}");
                assert_eq!(hook["metadata"]["namespace"], NAMESPACE, "{context}");
                let policy = hook["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
                    .as_str()
                    .unwrap_or("before-hook-creation");
                assert!(
                    !policy.contains("hook-succeeded") && !policy.contains("hook-failed"),
                    "{context}: {policy}"
                );
            }
            let driver = hooks[0];
            // The kept test pod is none of the webhook's: neither its Deployment's selector
            // nor its disruption budget's matches it (kubectl logs -l, kubectl wait -l).
            let deployment = one(&docs, "Deployment");
            let mut selectors = vec![selector_of(&deployment["spec"]["selector"])];
            selectors.extend(
                by_kind(&docs, "PodDisruptionBudget")
                    .into_iter()
                    .map(|pdb| selector_of(&pdb["spec"]["selector"])),
            );
            for selector in &selectors {
                for pod in [
                    driver,
                    &helm_test_sandbox_pod(&docs).expect("the test's pod"),
                ] {
                    assert!(
                        !selector.matches(&labels_of(pod)),
                        "{context}: {selector:?} selects the test pod {}",
                        pod["metadata"]["name"]
                    );
                }
            }
            let args: Vec<String> =
                serde_json::from_value(driver["spec"]["containers"][0]["args"].clone())
                    .expect("args");
            for flag in [
                "--rm",
                "--stdin",
                "--restart=Never",
                "--override-type=merge",
            ] {
                assert!(
                    args.iter().any(|a| a == flag),
                    "{context}: {flag} in {args:?}"
                );
            }

            // The opted-in pod lives in a namespace that is a release object (uninstall deletes
            // it with anything a failed test left there), where the test may manage pods only.
            let sandbox = helm_test_sandbox_pod(&docs).expect("the test's pod");
            let ns_name = sandbox["metadata"]["namespace"]
                .as_str()
                .expect("namespace");
            assert_ne!(ns_name, NAMESPACE);
            let test_ns = by_kind(&docs, "Namespace")
                .into_iter()
                .find(|n| n["metadata"]["name"] == ns_name)
                .unwrap_or_else(|| panic!("{context}: namespace {ns_name} is not in the release"));
            assert!(
                test_ns["metadata"]["annotations"]["helm.sh/hook"].is_null(),
                "{context}: the test namespace is a release object, not a hook"
            );
            let role: Role = typed(
                by_kind(&docs, "Role")
                    .into_iter()
                    .find(|r| r["metadata"]["namespace"] == ns_name)
                    .expect("a Role in the test namespace"),
            );
            let allows = |resource: &str, verb: &str| {
                role.rules.iter().flatten().any(|r| {
                    r.resources.iter().flatten().any(|x| x == resource)
                        && r.verbs.iter().any(|v| v == verb)
                })
            };
            for (resource, verb) in [
                ("pods", "create"),
                ("pods", "watch"),
                ("pods", "delete"),
                ("pods/attach", "create"),
                ("pods/log", "get"),
            ] {
                assert!(allows(resource, verb), "{context}: {verb} {resource}");
            }
            let binding: RoleBinding = typed(
                by_kind(&docs, "RoleBinding")
                    .into_iter()
                    .find(|r| r["metadata"]["namespace"] == ns_name)
                    .expect("a RoleBinding in the test namespace"),
            );
            let subject = &binding.subjects.expect("subjects")[0];
            assert_eq!(
                Some(subject.name.as_str()),
                driver["spec"]["serviceAccountName"].as_str()
            );
            assert_eq!(subject.namespace.as_deref(), Some(NAMESPACE));

            // The webhook sees the test's pod in every configuration, and the policy rejects it
            // unwrapped and admits the webhook's output.
            let ns = namespace(ns_name, test_ns["metadata"]["labels"].clone());
            let called = webhooks_called(&docs, &sandbox, &ns).expect("selectors");
            assert_eq!(called.len(), 1, "{context}: {called:?}");
            let policies = Policies::from_docs(&docs).expect("policies");
            let verdict = policies.admit(&sandbox, &ns).expect("evaluates");
            assert!(
                verdict.denied.iter().any(|m| m.contains("did not wrap it")),
                "{context}: {verdict:?}"
            );
            let pod: Pod = serde_json::from_value(sandbox.clone()).expect("pod");
            let wrapped = webhook_output(&pod).await;
            assert_eq!(
                policies.admit(&wrapped, &ns),
                Ok(Verdict::default()),
                "{context}"
            );
        }
    }
}

#[test]
fn the_disruption_budget_never_blocks_a_drain() {
    for (replicas, budget) in [(0, false), (1, false), (2, true), (3, true)] {
        let set = format!("replicaCount={replicas}");
        let docs = render(&[&set], false).unwrap_or_else(|e| panic!("{set}: {e}"));
        let deployment: Deployment = typed(one(&docs, "Deployment"));
        assert_eq!(deployment.spec.replicas, Some(replicas));
        let pdbs = by_kind(&docs, "PodDisruptionBudget");
        assert_eq!(pdbs.len(), usize::from(budget), "{set}");
        if let Some(pdb) = pdbs.first() {
            let pdb: PodDisruptionBudget = typed(pdb);
            let spec = pdb.spec.expect("spec");
            assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)), "{set}");
            assert_eq!(spec.min_available, None, "{set}");
        }
    }
    let docs = render(&["podDisruptionBudget.enabled=false"], false).expect("render");
    assert!(by_kind(&docs, "PodDisruptionBudget").is_empty());
}

/// The webhook container's arguments and mounts as rendered with `sets`.
fn webhook_container(sets: &[&str]) -> (Vec<String>, Value, Value) {
    let docs = render(sets, false).unwrap_or_else(|e| panic!("{sets:?}: {e}"));
    let deployment = one(&docs, "Deployment");
    let spec = &deployment["spec"]["template"]["spec"];
    let container = &spec["containers"][0];
    let args = serde_json::from_value(container["args"].clone()).expect("args");
    (
        args,
        container["volumeMounts"].clone(),
        spec["volumes"].clone(),
    )
}

/// `registry.ca`: the CA of a private registry, from a Secret or a ConfigMap, mounted read-only
/// (only its key) and passed as `--registry-ca`; nothing of it without the value; both sources
/// at once, or a key with a slash, refused. `registry.concurrency` is `--registry-concurrency`.
#[test]
fn a_private_registry_ca_is_mounted_read_only_and_passed_as_registry_ca() {
    const CA_DIR: &str = "/etc/landlock-webhook/registry-ca";
    let (args, mounts, volumes) = webhook_container(&[]);
    assert!(
        !args.iter().any(|a| a.starts_with("--registry-ca")),
        "{args:?}"
    );
    assert!(
        args.contains(&"--registry-concurrency=8".to_owned()),
        "{args:?}"
    );
    assert!(!mounts.to_string().contains("registry-ca"), "{mounts}");
    assert!(!volumes.to_string().contains("registry-ca"), "{volumes}");

    for (source, sets) in [
        (
            json!({"secret": {"secretName": "corp-ca", "items": [{"key": "root.pem", "path": "root.pem"}]}}),
            [
                "registry.ca.secretName=corp-ca",
                "registry.ca.key=root.pem",
                "registry.concurrency=3",
            ],
        ),
        (
            json!({"configMap": {"name": "corp-ca", "items": [{"key": "root.pem", "path": "root.pem"}]}}),
            [
                "registry.ca.configMapName=corp-ca",
                "registry.ca.key=root.pem",
                "registry.concurrency=3",
            ],
        ),
    ] {
        let (args, mounts, volumes) = webhook_container(&sets);
        assert!(
            args.contains(&format!("--registry-ca={CA_DIR}/root.pem"))
                && args.contains(&"--registry-concurrency=3".to_owned()),
            "{sets:?}: {args:?}"
        );
        let mount = mounts
            .as_array()
            .and_then(|m| m.iter().find(|m| m["name"] == "registry-ca"))
            .unwrap_or_else(|| panic!("{sets:?}: no mount in {mounts}"));
        assert_eq!(
            mount,
            &json!({"name": "registry-ca", "mountPath": CA_DIR, "readOnly": true})
        );
        let volume = volumes
            .as_array()
            .and_then(|v| v.iter().find(|v| v["name"] == "registry-ca"))
            .unwrap_or_else(|| panic!("{sets:?}: no volume in {volumes}"));
        let mut expected = source.clone();
        expected["name"] = json!("registry-ca");
        assert_eq!(volume, &expected, "{sets:?}");
    }
    for (sets, named) in [
        (
            &["registry.ca.secretName=a", "registry.ca.configMapName=b"][..],
            "not both",
        ),
        (
            &["registry.ca.secretName=a", "registry.ca.key=../x"][..],
            "key",
        ),
        (&["registry.concurrency=0"][..], "concurrency"),
    ] {
        let error = render(sets, false).expect_err("refused");
        assert!(error.contains(named), "{sets:?}: {error}");
    }
}

#[test]
fn the_schema_allows_zero_replicas_and_rejects_typos() {
    render(&["replicaCount=0"], false).expect("replicaCount 0 is allowed");
    render(&["podDisruptionBudget.maxUnavailable=50%"], false).expect("a percentage");
    for opt_in in OPT_IN {
        render(&[&format!("webhook.optIn={opt_in}")], false).expect(opt_in);
    }
    for (set, named) in [
        ("replicaCount=-1", "replicaCount"),
        ("webhook.optIn=labels", "optIn"),
        ("webhook.objectSelector.matchLabel.team=a", "matchLabel"),
        (
            "webhook.namespaceSelector.matchExpressions[0].operator=Equals",
            "operator",
        ),
        (
            "webhook.namespaceSelector.matchExpressions[0].operator=In",
            "key",
        ),
        ("podDisruptionBudget.minAvailable=1", "minAvailable"),
        ("podDisruptionBudget.maxUnavailable=0", "maxUnavailable"),
        ("test.kubectlimage=x", "kubectlimage"),
        ("registry.platform=linux/arm/v7/x", "registry.platform"),
        ("registry.platform=linux", "registry.platform"),
    ] {
        let error = render(&[set], false).expect_err(set);
        assert!(error.contains(named), "{set}: {error}");
    }
    // The webhook's --platform takes a variant, so the chart does too.
    let docs = render(&["registry.platform=linux/arm/v7"], false).expect("a variant");
    assert!(
        serde_json::to_string(&docs)
            .expect("json")
            .contains("--platform=linux/arm/v7")
    );
}

#[test]
fn the_plain_manifests_in_deploy_are_rendered_from_the_chart() {
    let root = landlock_tests::static_build::workspace_root();
    let out = std::process::Command::new(root.join("deploy/render-manifests"))
        .output()
        .expect("run deploy/render-manifests");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read_to_string(root.join("deploy/landlock-injector.yaml"))
        .expect("deploy/landlock-injector.yaml");
    assert!(
        committed == String::from_utf8_lossy(&out.stdout),
        "deploy/landlock-injector.yaml is stale: run deploy/render-manifests > deploy/landlock-injector.yaml"
    );
    let docs = landlock_tests::chart::documents(&committed).expect("parses");
    assert!(
        by_kind(&docs, "Pod").is_empty() && by_kind(&docs, "Role").is_empty(),
        "no helm test objects in the plain manifests"
    );
    assert_eq!(one(&docs, "Namespace")["metadata"]["name"], NAMESPACE);
    let _ = RELEASE;
}

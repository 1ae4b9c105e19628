//! The Helm chart, checked as far as a machine without a cluster allows: `helm lint --strict`,
//! renders of every TLS mode with and without the policy, every object parsed as its Kubernetes
//! type, the invariants the design depends on, the policy's CEL evaluated against real webhook
//! output, and the plain manifests in deploy/ not stale.

use std::sync::Arc;

use base64::Engine as _;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube_cel::VapExpression;
use landlock_tests::chart::{NAMESPACE, RELEASE, render, run_helm};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

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
        let mut args = vec!["lint", "--strict", "charts/landlock-injector"];
        for set in &sets {
            args.extend(["--set", set]);
        }
        let out = run_helm(&args).unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert!(out.contains("0 chart(s) failed"), "{mode}: {out}");
    }
}

#[test]
fn every_rendered_object_is_a_valid_kubernetes_object_with_the_invariants() {
    for (mode, sets) in modes() {
        for policy in [true, false] {
            let mut sets = sets.clone();
            let policy_set = format!("policy.enabled={policy}");
            sets.push(&policy_set);
            let docs = render(&sets, true).unwrap_or_else(|e| panic!("{mode}: {e}"));
            check(mode, policy, &docs);
        }
    }
}

fn check(mode: &str, policy: bool, docs: &[Value]) {
    let context = format!("mode {mode}, policy {policy}");
    for doc in docs {
        match doc["kind"].as_str().unwrap_or_default() {
            "Deployment" => drop(typed::<Deployment>(doc)),
            "Service" => drop(typed::<Service>(doc)),
            "ServiceAccount" => drop(typed::<ServiceAccount>(doc)),
            "ClusterRole" => drop(typed::<ClusterRole>(doc)),
            "ClusterRoleBinding" => drop(typed::<ClusterRoleBinding>(doc)),
            "PodDisruptionBudget" => drop(typed::<PodDisruptionBudget>(doc)),
            "MutatingWebhookConfiguration" => drop(typed::<MutatingWebhookConfiguration>(doc)),
            "ValidatingAdmissionPolicy" => drop(typed::<ValidatingAdmissionPolicy>(doc)),
            "ValidatingAdmissionPolicyBinding" => {
                drop(typed::<ValidatingAdmissionPolicyBinding>(doc))
            }
            "Secret" => drop(typed::<Secret>(doc)),
            "Namespace" => drop(typed::<Namespace>(doc)),
            "Pod" => drop(typed::<Pod>(doc)),
            "Issuer" | "Certificate" => {
                assert_eq!(doc["apiVersion"], "cert-manager.io/v1", "{context}");
                assert!(doc["spec"].is_object(), "{context}: {doc}");
            }
            other => panic!("{context}: unexpected kind {other}"),
        }
    }

    // The webhook registration.
    let mwc: MutatingWebhookConfiguration = typed(one(docs, "MutatingWebhookConfiguration"));
    let webhooks = mwc.webhooks.expect("webhooks");
    let hook = &webhooks[0];
    assert_eq!(hook.admission_review_versions, ["v1"]);
    assert_eq!(hook.side_effects, "None");
    assert_eq!(hook.failure_policy.as_deref(), Some("Ignore"), "{context}");
    assert_eq!(hook.reinvocation_policy.as_deref(), Some("IfNeeded"));
    assert!(hook.timeout_seconds.is_some_and(|t| t <= 30));
    let rules = hook.rules.clone().expect("rules");
    assert_eq!(rules[0].operations, Some(vec!["CREATE".to_owned()]));
    assert_eq!(rules[0].resources, Some(vec!["pods".to_owned()]));
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
    assert!(
        excluded(hook.namespace_selector.as_ref()),
        "{context}: kube-system and the release namespace are excluded"
    );
    let service = hook.client_config.service.clone().expect("service");
    assert_eq!(service.path.as_deref(), Some("/mutate"));
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

    // RBAC: reads only.
    let role: ClusterRole = typed(one(docs, "ClusterRole"));
    for rule in role.rules.unwrap_or_default() {
        assert_eq!(rule.verbs, ["get"], "{context}");
    }
    drop(typed::<PodDisruptionBudget>(one(
        docs,
        "PodDisruptionBudget",
    )));

    // The outage policy.
    let policies = by_kind(docs, "ValidatingAdmissionPolicy");
    assert_eq!(policies.len(), usize::from(policy), "{context}");
    if policy {
        let vap: ValidatingAdmissionPolicy = typed(policies[0]);
        let binding: ValidatingAdmissionPolicyBinding =
            typed(one(docs, "ValidatingAdmissionPolicyBinding"));
        let binding = binding.spec;
        assert_eq!(Some(binding.policy_name), vap.metadata.name.clone());
        assert_eq!(binding.validation_actions, vec!["Deny".to_owned()]);
        let vspec = vap.spec.expect("policy spec");
        assert_eq!(vspec.failure_policy.as_deref(), Some("Fail"));
        assert!(
            excluded(
                vspec
                    .match_constraints
                    .as_ref()
                    .and_then(|m| m.namespace_selector.as_ref())
            ),
            "{context}"
        );
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

/// The policy's validation with its variables inlined (CEL variables are named expressions).
fn policy_expression() -> VapExpression {
    let docs = render(&[], false).expect("render");
    let vap = one(&docs, "ValidatingAdmissionPolicy");
    let mut expression = vap["spec"]["validations"][0]["expression"]
        .as_str()
        .expect("expression")
        .to_owned();
    let variables = vap["spec"]["variables"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Later variables may use earlier ones: inline from the last to the first, repeatedly.
    for _ in 0..variables.len() {
        for variable in variables.iter().rev() {
            let name = variable["name"].as_str().expect("name");
            let body = variable["expression"].as_str().expect("expression");
            expression = expression.replace(&format!("variables.{name}"), &format!("({body})"));
        }
    }
    assert!(!expression.contains("variables."), "{expression}");
    VapExpression {
        expression,
        message: vap["spec"]["validations"][0]["message"]
            .as_str()
            .map(str::to_owned),
        message_expression: None,
    }
}

/// Evaluates the policy for `pod` with the CEL interpreter kube-cel ships (`cel`). Not through
/// kube-cel's VapEvaluator: it escapes every map key like a CRD property name, so annotation
/// keys such as `landlock-injector.io/inject` would not be found, unlike in the API server.
fn evaluate(pod: &Value) -> (bool, Option<String>) {
    use kube_cel::cel;
    let policy = policy_expression();
    let mut ctx = cel::Context::default();
    ctx.add_variable("object", cel::to_value(pod).expect("object as CEL"));
    let program = cel::Program::compile(&policy.expression)
        .unwrap_or_else(|e| panic!("{e}: {}", policy.expression));
    match program.execute(&ctx) {
        Ok(cel::Value::Bool(true)) => (true, None),
        Ok(cel::Value::Bool(false)) => (false, policy.message),
        other => panic!("the policy must evaluate to a bool, got {other:?}"),
    }
}

fn opted_in_pod() -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "apps", "annotations": {"landlock-injector.io/inject": "true"}},
        "spec": {"initContainers": [{"name": "init", "image": "x", "command": ["/init"]}],
                 "containers": [{"name": "app", "image": "x", "command": ["/app"]}]}}))
    .expect("pod")
}

#[test]
fn the_policy_admits_what_the_webhook_wrapped_and_rejects_opted_in_pods_it_did_not() {
    let mut mutated = serde_json::to_value(opted_in_pod()).expect("json");
    let admitted = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(webhook::review::admit(
            &mutated.to_string(),
            Some("apps"),
            &webhook::config::Config::default(),
            &webhook::resolve::Offline,
        ))
        .expect("allowed");
    json_patch::patch(&mut mutated, &admitted.patch).expect("the patch applies");
    assert!(evaluate(&mutated).0, "the webhook's output passes");

    let (passed, message) = evaluate(&serde_json::to_value(opted_in_pod()).expect("json"));
    assert!(!passed, "an opted-in pod the webhook never saw is rejected");
    assert!(message.unwrap_or_default().contains("did not wrap it"));

    let mut plain = serde_json::to_value(opted_in_pod()).expect("json");
    plain["metadata"]["annotations"] = json!({});
    assert!(evaluate(&plain).0, "unannotated pods pass");
    plain["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("annotations");
    assert!(evaluate(&plain).0, "pods without annotations pass");

    let mut forged = serde_json::to_value(opted_in_pod()).expect("json");
    forged["metadata"]["annotations"]["landlock-injector.io/status"] = json!("injected");
    assert!(
        !evaluate(&forged).0,
        "a status annotation alone does not pass"
    );

    let mut added = mutated.clone();
    added["spec"]["containers"]
        .as_array_mut()
        .expect("containers")
        .push(json!({"name": "late", "image": "x", "command": ["/late"]}));
    assert!(
        !evaluate(&added).0,
        "a container added after the webhook, unwrapped, is rejected"
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
        by_kind(&docs, "Pod").is_empty(),
        "no helm test pod in the plain manifests"
    );
    assert_eq!(one(&docs, "Namespace")["metadata"]["name"], NAMESPACE);
    let _ = RELEASE;
}

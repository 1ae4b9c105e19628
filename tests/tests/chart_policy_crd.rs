//! The chart's LandlockPolicy CustomResourceDefinition: its CEL rules evaluated with kube-cel
//! (the API server's semantics, without one) refuse what the webhook refuses when it binds a
//! policy, with the webhook's messages; a policy using every field passes both; the CRD is
//! kept on uninstall, has its status subresource and printer columns; the webhook may list and
//! watch policies and nothing more.

use kube::core::DynamicObject;
use kube_cel::Validator;
use landlock_tests::chart::render;
use serde_json::{Value, json};
use webhook::admission::policy;

fn crd() -> Value {
    let docs = render(&[], false).expect("the chart renders");
    docs.into_iter()
        .find(|d| d["kind"] == "CustomResourceDefinition")
        .expect("the chart ships the LandlockPolicy CRD")
}

fn schema(crd: &Value) -> Value {
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn object(spec: Value) -> Value {
    json!({
        "apiVersion": "landlock-injector.io/v1alpha1",
        "kind": "LandlockPolicy",
        "metadata": {"name": "web", "namespace": "shop", "generation": 1},
        "spec": spec,
    })
}

/// The webhook's verdict on `spec`: the problem it reports, if any.
fn webhook_problem(spec: &Value) -> Option<String> {
    let object: DynamicObject = serde_json::from_value(object(spec.clone())).expect("an object");
    policy::compile(&object).err().map(|e| e.problem)
}

/// kube-cel's verdict: every failed rule's message.
fn cel_messages(schema: &Value, spec: &Value) -> Vec<String> {
    match Validator::new().validate(schema, &object(spec.clone()), None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_vec().into_iter().map(|e| e.message).collect(),
    }
}

#[test]
fn a_policy_with_every_field_passes_the_crd_rules_and_the_webhook() {
    let schema = schema(&crd());
    let spec = json!({
        "podSelector": {"matchLabels": {"app": "web"}},
        "allowPodAdditions": false,
        "default": {
            "read": ["/srv", "/", "/data/caf\\xc3\\xa9"], "readExec": ["/opt/tools"],
            "write": ["/data"], "writeExec": ["/scratch"], "list": ["/srv/www"],
            "bindTcp": [8080], "connectTcp": [5432, 65535], "bindUdp": [5353],
            "connectUdp": [53], "mode": "enforce", "profile": "minimal", "discover": "spec",
            "wrapExec": false, "scope": "required"
        },
        "containers": [
            {"name": "nginx", "write": ["/var/cache/nginx"], "mode": "dry-run"},
            {"name": "log", "profile": "none", "discover": "mounts", "scope": "off"}
        ]
    });
    assert_eq!(cel_messages(&schema, &spec), Vec::<String>::new());
    assert_eq!(webhook_problem(&spec), None);
}

#[test]
fn the_crd_rules_refuse_what_the_webhook_refuses_with_its_messages() {
    let schema = schema(&crd());
    let paths_513: Vec<String> = (0..513).map(|i| format!("/p{i}")).collect();
    let cases = [
        json!({"default": {"read": ["etc/app"]}}),
        json!({"default": {"read": [""]}}),
        json!({"default": {"write": ["/data/"]}}),
        json!({"default": {"write": ["/data//x"]}}),
        json!({"default": {"list": ["/srv/./www"]}}),
        json!({"default": {"list": ["/srv/."]}}),
        json!({"containers": [{"name": "web", "readExec": ["/a/../b"]}]}),
        json!({"containers": [{"name": "web", "readExec": ["/a/.."]}]}),
        json!({"default": {"read": ["/a\\qb"]}}),
        json!({"default": {"read": ["/a\\x0"]}}),
        json!({"default": {"read": ["/a\\x00b"]}}),
        json!({"default": {"connectTcp": [0]}}),
        json!({"default": {"bindTcp": [70000]}}),
        json!({"containers": [{"name": "web", "bindUdp": [65536]}]}),
        json!({"default": {"connectUdp": [-1]}}),
        json!({"default": {"mode": "strict"}}),
        json!({"default": {"profile": "fat"}}),
        json!({"containers": [{"name": "web", "discover": "no"}]}),
        json!({"default": {"scope": "always"}}),
        json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": []}]}}),
        json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn"}]}}),
        json!({"podSelector": {"matchExpressions": [
            {"key": "app", "operator": "Exists", "values": ["web"]}
        ]}}),
        json!({"default": {
            "read": paths_513[..128], "write": paths_513[128..256],
            "list": paths_513[256..384], "readExec": paths_513[384..512],
            "writeExec": paths_513[512..]
        }}),
    ];
    for spec in cases {
        let problem = webhook_problem(&spec).unwrap_or_else(|| {
            panic!("the webhook accepts {spec}, which the test expects refused")
        });
        let messages = cel_messages(&schema, &spec);
        assert!(
            !messages.is_empty(),
            "the CRD's rules accept {spec}, which the webhook refuses: {problem}"
        );
        assert!(
            messages.iter().any(|m| problem.ends_with(m.as_str())),
            "{spec}: the CRD says {messages:?}, the webhook {problem:?}"
        );
    }
}

#[test]
fn the_crd_is_kept_on_uninstall_with_status_and_printer_columns() {
    let crd = crd();
    assert_eq!(
        crd["metadata"]["name"],
        "landlockpolicies.landlock-injector.io"
    );
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], policy::VERSION);
    assert_eq!(crd["spec"]["group"], policy::GROUP);
    assert_eq!(crd["spec"]["names"]["kind"], policy::KIND);
    assert_eq!(crd["spec"]["names"]["plural"], policy::PLURAL);
    assert!(version["subresources"]["status"].is_object());
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        ["Mode", "Pod additions", "Pods", "Outdated", "Age"]
    );
    // The status columns and schema are what the webhook's status writer writes.
    let written = serde_json::to_value(webhook::policy_status::Status::default()).expect("json");
    let written: Vec<&String> = written.as_object().expect("an object").keys().collect();
    for column in &version["additionalPrinterColumns"]
        .as_array()
        .expect("columns")[2..4]
    {
        let path = column["jsonPath"].as_str().expect("a path");
        let field = path.strip_prefix(".status.").expect("a status column");
        assert!(
            written.iter().any(|w| *w == field),
            "{path}: written {written:?}"
        );
    }
    let status = &schema(&crd)["properties"]["status"];
    let mut declared: Vec<&String> = status["properties"]
        .as_object()
        .expect("status properties")
        .keys()
        .collect();
    declared.sort();
    let mut sorted = written.clone();
    sorted.sort();
    assert_eq!(declared, sorted, "the status schema is what is written");
    assert_eq!(
        status["properties"]["outdated"]["maxItems"],
        webhook::policy_status::MAX_OUTDATED_NAMES
    );
    // The webhook's own bound on containers is the CRD's.
    assert_eq!(
        schema(&crd)["properties"]["spec"]["properties"]["containers"]["maxItems"],
        policy::MAX_CONTAINERS
    );
    // Without the CRD (managed elsewhere), nothing else changes.
    let docs = render(&["landlockPolicies.installCRD=false"], false).expect("renders");
    assert!(docs.iter().all(|d| d["kind"] != "CustomResourceDefinition"));
}

/// The webhook's ClusterRole rules for policies, recordings and pods, whether it runs the
/// status writer and the recording controller, under `values`.
fn policy_rules(values: &[&str]) -> (Vec<Value>, bool, bool) {
    let docs = render(values, false).expect("the chart renders");
    let role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "landlock-injector")
        .expect("the webhook's ClusterRole");
    let about_pods = |r: &Value| {
        r["resources"].as_array().is_some_and(|v| {
            v.iter()
                .any(|r| r.as_str().is_some_and(|r| r.starts_with("pods")))
        })
    };
    let rules = role["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter(|r| r["apiGroups"] == json!(["landlock-injector.io"]) || about_pods(r))
        .cloned()
        .collect();
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("the webhook's Deployment");
    let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
    let args = args.as_array().expect("args");
    (
        rules,
        args.contains(&json!("--policy-status")),
        args.contains(&json!("--recordings")),
    )
}

#[test]
fn the_webhook_may_list_and_watch_policies_and_write_their_status_and_nothing_more() {
    let list = json!({"apiGroups": ["landlock-injector.io"], "resources": ["landlockpolicies", "landlockrecordings"], "verbs": ["list", "watch"]});
    let pods = json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]});
    let status = json!({"apiGroups": ["landlock-injector.io"], "resources": ["landlockpolicies/status"], "verbs": ["patch"]});
    let recorder = [
        json!({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}),
        json!({"apiGroups": ["landlock-injector.io"], "resources": ["landlockrecordings", "landlockrecordings/status"], "verbs": ["patch"]}),
        json!({"apiGroups": ["landlock-injector.io"], "resources": ["landlockpolicies"], "verbs": ["create", "patch"]}),
    ];
    let mut everything = vec![list.clone(), pods.clone(), status.clone()];
    everything.extend(recorder.iter().cloned());
    assert_eq!(policy_rules(&[]), (everything, true, true));
    // Without the status: no status write, and the writer is not started.
    let mut recording_only = vec![list.clone(), pods.clone()];
    recording_only.extend(recorder.iter().cloned());
    assert_eq!(
        policy_rules(&["landlockPolicies.status=false"]),
        (recording_only, false, true)
    );
    // Without the recorder either: the webhook only reads policies and recordings.
    assert_eq!(
        policy_rules(&[
            "landlockPolicies.status=false",
            "landlockPolicies.recordings=false"
        ]),
        (vec![list.clone()], false, false)
    );
    assert_eq!(
        policy_rules(&["landlockPolicies.recordings=false"]),
        (vec![list, pods, status], true, false)
    );
}

#[test]
fn the_crd_refuses_names_longer_than_a_label_value_as_the_webhook_does() {
    let schema = schema(&crd());
    let mut long = object(json!({}));
    long["metadata"]["name"] = json!("x".repeat(policy::MAX_NAME + 1));
    let messages = match Validator::new().validate(&schema, &long, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_vec().into_iter().map(|e| e.message).collect(),
    };
    let object: DynamicObject = serde_json::from_value(long).expect("an object");
    let problem = policy::compile(&object).expect_err("too long").problem;
    assert!(
        messages.contains(&problem),
        "the CRD says {messages:?}, the webhook {problem:?}"
    );
    let mut longest = self::object(json!({}));
    longest["metadata"]["name"] = json!("x".repeat(policy::MAX_NAME));
    assert!(Validator::new().validate(&schema, &longest, None).is_ok());
}

fn recording_crd() -> Value {
    let docs = render(&[], false).expect("the chart renders");
    docs.into_iter()
        .find(|d| {
            d["kind"] == "CustomResourceDefinition"
                && d["metadata"]["name"] == "landlockrecordings.landlock-injector.io"
        })
        .expect("the chart ships the LandlockRecording CRD")
}

fn recording(spec: Value) -> Value {
    json!({
        "apiVersion": "landlock-injector.io/v1alpha1",
        "kind": "LandlockRecording",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": spec,
    })
}

/// The LandlockRecording CRD refuses what the webhook's reading of a recording refuses, with
/// its messages, and accepts what it accepts.
#[test]
fn the_recording_crd_rules_refuse_what_the_webhook_refuses() {
    use webhook::admission::recording;
    let crd = recording_crd();
    assert_eq!(crd["spec"]["names"]["kind"], recording::KIND);
    assert_eq!(crd["spec"]["names"]["plural"], recording::PLURAL);
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    let schema = schema(&crd);
    let verdicts = |spec: &Value| {
        let object: DynamicObject =
            serde_json::from_value(recording(spec.clone())).expect("object");
        let webhook = recording::compile(&object).err().map(|e| e.problem);
        let cel: Vec<String> =
            match Validator::new().validate(&schema, &recording(spec.clone()), None) {
                Ok(()) => Vec::new(),
                Err(errors) => errors.into_vec().into_iter().map(|e| e.message).collect(),
            };
        (webhook, cel)
    };
    for good in [
        json!({"podSelector": {}}),
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "duration": "1h30m", "policy": "web.v2"}),
        json!({"podSelector": {}, "duration": "168h", "policy": "x".repeat(63)}),
    ] {
        assert_eq!(verdicts(&good), (None, Vec::new()), "{good}");
    }
    for bad in [
        json!({"podSelector": {}, "duration": "1d"}),
        json!({"podSelector": {}, "duration": "30"}),
        json!({"podSelector": {}, "duration": "0s"}),
        json!({"podSelector": {}, "duration": "169h"}),
        json!({"podSelector": {}, "duration": "1h 30m"}),
        json!({"podSelector": {}, "policy": "Web"}),
        json!({"podSelector": {}, "policy": "web..v2"}),
        json!({"podSelector": {}, "policy": "x".repeat(64)}),
        json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": []}]}}),
        json!({"podSelector": {"matchExpressions": [
            {"key": "app", "operator": "DoesNotExist", "values": ["web"]}
        ]}}),
    ] {
        let (webhook, cel) = verdicts(&bad);
        let problem = webhook.unwrap_or_else(|| panic!("the webhook accepts {bad}"));
        assert!(
            cel.iter()
                .any(|m| problem.starts_with(m.as_str()) || problem.ends_with(m.as_str())),
            "{bad}: the CRD says {cel:?}, the webhook {problem:?}"
        );
    }
    // The recording's name is a label value of every pod it records.
    for (length, refused) in [(63, false), (64, true)] {
        let mut named = recording(json!({"podSelector": {}, "policy": "web"}));
        named["metadata"]["name"] = json!("r".repeat(length));
        let object: DynamicObject = serde_json::from_value(named.clone()).expect("object");
        let webhook = recording::compile(&object).err().map(|e| e.problem);
        let cel: Vec<String> = match Validator::new().validate(&schema, &named, None) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.into_vec().into_iter().map(|e| e.message).collect(),
        };
        if refused {
            let problem = webhook.expect("the webhook refuses a 64-character name");
            assert!(
                cel.contains(&problem),
                "the CRD says {cel:?}, the webhook {problem:?}"
            );
        } else {
            assert_eq!((webhook, cel), (None, Vec::new()));
        }
    }
}

/// Both CRDs bound a `spec.podSelector` as the webhook does (it is evaluated for every opted-in
/// pod of the namespace), so a selector the webhook would refuse for its size is refused by
/// `kubectl apply`.
#[test]
fn both_crds_bound_selectors_as_the_webhook_does() {
    use webhook::admission::selector;
    for crd in [crd(), recording_crd()] {
        let kind = crd["spec"]["names"]["kind"].clone();
        let pod_selector = &schema(&crd)["properties"]["spec"]["properties"]["podSelector"];
        let labels = &pod_selector["properties"]["matchLabels"];
        assert_eq!(
            labels["maxProperties"],
            json!(selector::MAX_MATCH_LABELS),
            "{kind}"
        );
        assert_eq!(
            labels["additionalProperties"]["maxLength"],
            json!(63),
            "{kind}"
        );
        let expressions = &pod_selector["properties"]["matchExpressions"];
        assert_eq!(
            expressions["maxItems"],
            json!(selector::MAX_EXPRESSIONS),
            "{kind}"
        );
        assert_eq!(
            expressions["items"]["properties"]["values"]["maxItems"],
            json!(selector::MAX_VALUES),
            "{kind}"
        );
        assert_eq!(
            expressions["items"]["x-kubernetes-validations"][0]["message"],
            json!(selector::VALUES_FIT),
            "{kind}"
        );
    }
}

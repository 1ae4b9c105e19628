//! The startup line: one JSON line on stderr that says everything the sandbox allows and where
//! each grant came from, printed before the program runs. Troubleshooting a denial starts here
//! (`kubectl logs POD -c CONTAINER | grep '"landlock"'`), so it is part of the interface:
//!
//! ```json
//! {"landlock":"landlock-shim 0.1.0","outcome":"enforced","mode":"best-effort","abi":7,
//!  "profile":"default","list":{},"ro":{"/etc/app":"discovered:configmap","/etc/hosts":"profile:default"},
//!  "rx":{"/usr":"profile:default"},"rw":{"/tmp":"profile:default"},"rwx":{},
//!  "tcp_bind":"unrestricted","tcp_connect":"unrestricted",
//!  "udp_bind":"unrestricted","udp_connect":"unrestricted",
//!  "scoped":["signal","abstract-unix-socket"],"syscalls_denied":[],
//!  "dropped":["connecting to pathname UNIX sockets only under write grants (resolve_unix) (needs Landlock ABI 9)"],
//!  "absent":["/lib32"],"exec":"python3","exec_path":"/usr/bin/python3"}
//! ```
//!
//! (on one line). The line claims only what is in force on this kernel ([`crate::compat::assess`]):
//! port lists and `scoped` appear only when the kernel enforces them; whatever was requested
//! (or is hardening the kernel lacks) and is not enforced is in `dropped` and nowhere else, so
//! ports asked for on an ABI 3 kernel show as `"unrestricted"`, which is the truth.
//! `syscalls_denied` lists what the port guard's seccomp filter fails when port rules are in
//! force (MPTCP and UDP-Lite sockets, io_uring; see [`crate::tcp_guard`]); `absent` lists
//! profile paths this image does not have (normal); `refused_because` appears when `enforce`
//! refused to run the program.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::access::Access;
use crate::plan::Plan;
use crate::ruleset::Outcome;
use crate::tcp_guard;
use crate::values::Port;

/// The verdict the line reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The plan was applied (or deliberately not, in dry-run).
    Applied(Outcome),
    /// `enforce` refused to run the program, for these reasons.
    Refused(Vec<String>),
}

#[derive(Serialize)]
#[serde(untagged)]
enum Ports<'a> {
    Unrestricted(&'static str),
    Only(&'a BTreeSet<Port>),
}

impl<'a> Ports<'a> {
    /// The ports a direction is restricted to, when that restriction is in force.
    fn claim(ports: &'a Option<BTreeSet<Port>>, in_force: bool) -> Self {
        match ports {
            Some(ports) if in_force => Ports::Only(ports),
            _ => Ports::Unrestricted("unrestricted"),
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    landlock: String,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refused_because: Option<&'a [String]>,
    mode: &'static str,
    abi: i32,
    profile: &'static str,
    list: BTreeMap<&'a str, String>,
    ro: BTreeMap<&'a str, String>,
    rx: BTreeMap<&'a str, String>,
    rw: BTreeMap<&'a str, String>,
    rwx: BTreeMap<&'a str, String>,
    tcp_bind: Ports<'a>,
    tcp_connect: Ports<'a>,
    udp_bind: Ports<'a>,
    udp_connect: Ports<'a>,
    scoped: Vec<&'static str>,
    syscalls_denied: Vec<&'static str>,
    dropped: Vec<String>,
    absent: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exec: Option<&'a str>,
    /// The file `exec` resolved to through `PATH`, when it was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    exec_path: Option<&'a str>,
}

/// Renders the startup line of `component` (e.g. `landlock-shim 0.1.0`) for `plan`; `exec`
/// is the program as given, `exec_path` the file it resolves to through `PATH`.
pub fn render(
    component: &str,
    plan: &Plan,
    verdict: &Verdict,
    exec: Option<&str>,
    exec_path: Option<&str>,
) -> String {
    let mut sets: [BTreeMap<&str, String>; 5] = Default::default();
    for grant in &plan.grants {
        let index = Access::ALL
            .iter()
            .position(|a| *a == grant.access)
            .unwrap_or_default();
        let sources: Vec<String> = grant.sources.iter().map(ToString::to_string).collect();
        sets[index].insert(grant.path.as_str(), sources.join("+"));
    }
    let [list, ro, rx, rw, rwx] = sets;
    let (outcome, refused_because) = match verdict {
        Verdict::Applied(outcome) => (outcome.name(), None),
        Verdict::Refused(reasons) => ("refused", Some(reasons.as_slice())),
    };
    let line = Line {
        landlock: component.to_owned(),
        outcome,
        refused_because,
        mode: plan.mode.name(),
        abi: plan.kernel.version,
        profile: plan.profile.name(),
        list,
        ro,
        rx,
        rw,
        rwx,
        tcp_bind: Ports::claim(&plan.tcp.bind, plan.in_force.tcp),
        tcp_connect: Ports::claim(&plan.tcp.connect, plan.in_force.tcp),
        udp_bind: Ports::claim(&plan.udp.bind, plan.in_force.udp),
        udp_connect: Ports::claim(&plan.udp.connect, plan.in_force.udp),
        scoped: if plan.scope {
            vec!["signal", "abstract-unix-socket"]
        } else {
            Vec::new()
        },
        syscalls_denied: match (plan.tcp_guard, plan.in_force.udp) {
            (false, _) => Vec::new(),
            (true, false) => tcp_guard::DENIES.to_vec(),
            (true, true) => [tcp_guard::DENIES, tcp_guard::DENIES_WITH_UDP].concat(),
        },
        dropped: dropped(plan),
        absent: plan.absent.iter().map(|a| a.path.as_str()).collect(),
        exec,
        exec_path,
    };
    serde_json::to_string(&line).unwrap_or_else(|err| format!("{{\"landlock\":\"{err}\"}}"))
}

/// What was requested (or is hardening the kernel lacks) and is not enforced, one human
/// sentence each: the line's `dropped`.
pub fn dropped(plan: &Plan) -> Vec<String> {
    let mut out = promised_and_dropped(plan);
    out.extend(plan.hardening.iter().map(ToString::to_string));
    out
}

/// What the policy promises and is not enforced (what `enforce` refuses over): the part of
/// [`dropped`] that best-effort warns about on every start and that a quiet run announces.
pub fn promised_and_dropped(plan: &Plan) -> Vec<String> {
    plan.shortfalls
        .iter()
        .map(ToString::to_string)
        .chain(
            plan.missing
                .iter()
                .map(|m| format!("{} {} ({}): {}", m.access, m.path, m.source, m.reason)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::Kernel;
    use crate::discovery::{Discovered, Findings};
    use crate::plan::{RealFs, requests};
    use crate::policy::Policy;
    use crate::profiles::{ProcView, Profile};
    use crate::values::PolicyPath;

    #[test]
    fn one_json_line_with_every_grant_and_its_source() -> Result<(), Box<dyn std::error::Error>> {
        let mut policy = Policy {
            profile: Profile::Minimal,
            ..Policy::default()
        };
        policy.grant(PolicyPath::parse("/tmp")?, Access::Rwx);
        policy.grant(PolicyPath::parse("/no/such/path")?, Access::Ro);
        policy.connect_tcp.insert(Port::parse("443")?);
        let findings = Findings {
            volumes: vec![Discovered {
                path: PolicyPath::parse("/proc")?,
                what: "configmap".into(),
            }],
            passed: vec![],
        };
        let plan = Plan::new(
            &policy,
            requests(&policy, &findings, ProcView::Shared),
            Kernel::with_version(3),
            &RealFs,
        );
        let line = render(
            "landlock-shim 0.1.0",
            &plan,
            &Verdict::Applied(Outcome::PartiallyEnforced),
            Some("app"),
            Some("/usr/bin/app"),
        );
        assert!(!line.contains('\n'));
        let json: serde_json::Value = serde_json::from_str(&line)?;
        assert_eq!(json["landlock"], "landlock-shim 0.1.0");
        assert_eq!(json["outcome"], "partially-enforced");
        assert_eq!(json["abi"], 3);
        assert_eq!(json["rwx"]["/tmp"], "profile:minimal+flag");
        assert_eq!(json["ro"]["/proc"], "discovered:configmap");
        assert_eq!(json["rw"]["/dev/null"], "profile:minimal");
        // ABI 3 has no TCP rules: the ports are dropped, and the line does not claim them.
        assert_eq!(json["tcp_bind"], "unrestricted");
        assert_eq!(json["tcp_connect"], "unrestricted");
        assert_eq!(json["scoped"], serde_json::json!([]));
        // ABI 3 cannot enforce TCP rules, so there is nothing for the guard to protect.
        assert_eq!(json["syscalls_denied"], serde_json::json!([]));
        let dropped = json["dropped"].to_string();
        assert!(
            dropped.contains("TCP") && dropped.contains("ABI 4"),
            "{dropped}"
        );
        assert!(dropped.contains("ro /no/such/path (flag)"), "{dropped}");
        assert!(
            dropped.contains("(ioctl_dev) (needs Landlock ABI 5)"),
            "{dropped}"
        );
        assert!(
            dropped.contains("scoping (needs Landlock ABI 6)"),
            "{dropped}"
        );
        assert!(json.get("not_on_this_kernel").is_none());
        assert_eq!(json["exec"], "app");
        assert_eq!(json["exec_path"], "/usr/bin/app");
        assert_eq!(json["list"], serde_json::json!({}));
        assert!(json.get("refused_because").is_none());
        Ok(())
    }

    #[test]
    fn refusals_carry_their_reasons_and_unrestricted_tcp_says_so() {
        let plan = Plan::new(&Policy::default(), vec![], Kernel::with_version(7), &RealFs);
        let line = render(
            "x 1",
            &plan,
            &Verdict::Refused(vec!["cannot enforce y".into()]),
            None,
            None,
        );
        let json: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(json["outcome"], "refused");
        assert_eq!(json["refused_because"][0], "cannot enforce y");
        assert_eq!(json["tcp_bind"], "unrestricted");
        assert_eq!(json["scoped"][0], "signal");
    }

    /// The claims, ABI 0 to 10, for a policy asking for everything: each port list and the
    /// scopes appear only where the kernel enforces them, and are in `dropped` otherwise.
    #[test]
    fn the_line_claims_only_what_is_in_force_on_every_abi() -> Result<(), Box<dyn std::error::Error>>
    {
        let mut policy = Policy {
            profile: Profile::None,
            ..Policy::default()
        };
        policy.bind_tcp.insert(Port::parse("8080")?);
        policy.connect_tcp.insert(Port::parse("80")?);
        policy.bind_udp.insert(Port::parse("5353")?);
        policy.connect_udp.insert(Port::parse("53")?);
        for abi in 0..=10 {
            let plan = Plan::new(&policy, vec![], Kernel::with_version(abi), &RealFs);
            let line = render(
                "x 1",
                &plan,
                &Verdict::Applied(Outcome::Enforced),
                None,
                None,
            );
            let json: serde_json::Value = serde_json::from_str(&line)?;
            let dropped = json["dropped"].to_string();
            let tcp = abi >= 4;
            let udp = abi >= 10;
            let scoped = abi >= 6;
            let claims = |key: &str, port: u16, yes: bool| {
                let want = if yes {
                    serde_json::json!([port])
                } else {
                    serde_json::json!("unrestricted")
                };
                assert_eq!(json[key], want, "ABI {abi} {key}: {line}");
            };
            claims("tcp_bind", 8080, tcp);
            claims("tcp_connect", 80, tcp);
            claims("udp_bind", 5353, udp);
            claims("udp_connect", 53, udp);
            assert_eq!(dropped.contains("TCP"), !tcp, "ABI {abi}: {dropped}");
            assert_eq!(dropped.contains("UDP bind"), !udp, "ABI {abi}: {dropped}");
            assert_eq!(
                json["scoped"].as_array().map(Vec::len),
                Some(if scoped { 2 } else { 0 }),
                "ABI {abi}"
            );
            assert_eq!(dropped.contains("scoping"), !scoped, "ABI {abi}: {dropped}");
            let denied = json["syscalls_denied"].to_string();
            assert_eq!(denied.contains("MPTCP"), tcp, "ABI {abi}: {denied}");
            assert_eq!(denied.contains("UDPLITE"), udp, "ABI {abi}: {denied}");
            if abi == 2 {
                assert!(dropped.contains("truncate"), "{dropped}");
                assert!(!dropped.contains("(refer)"), "{dropped}");
            }
        }
        Ok(())
    }
}

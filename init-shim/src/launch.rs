//! What `landlock-shim [flags] -- PROGRAM [ARG]...` does, in order: ask the kernel what it
//! supports, discover the kubelet volumes, plan, refuse or warn as the mode says, apply, print
//! the startup line, execute the program.

use std::ffi::OsString;

use crate::compat::Kernel;
use crate::discovery::{self, Findings};
use crate::exec;
use crate::learn;
use crate::plan::{Plan, RealFs, requests};
use crate::policy::Policy;
use crate::profiles::ProcView;
use crate::ruleset::{self, Outcome};
use crate::startup_line::{self, Verdict};
use crate::values::Mode;

/// Exit status when `enforce` refuses to run the program or the sandbox cannot be applied.
pub const REFUSED: u8 = 1;

/// The component name and version written in the startup line.
pub fn component() -> String {
    format!("landlock-shim {}", env!("CARGO_PKG_VERSION"))
}

/// Sandboxes this process as `policy` says and executes `program`. Returns the exit status to
/// end with; on success it does not return, the program replaced the shim.
pub fn run(policy: &Policy, program: &OsString, args: &[OsString]) -> u8 {
    let program_name = program.to_string_lossy().into_owned();
    let program_path = exec::resolve(program).map(|p| p.to_string_lossy().into_owned());
    let kernel = Kernel::detect();
    let findings = if policy.discover {
        match discovery::discover_here() {
            Ok(findings) => findings,
            Err(err) if policy.mode == Mode::Enforce => {
                crate::eline!(
                    "landlock-shim: refusing to run {program_name:?} in enforce mode: volume discovery failed: {err}"
                );
                return REFUSED;
            }
            Err(err) => {
                crate::eline!(
                    "landlock-shim: warning: volume discovery failed, no volume is granted automatically: {err}"
                );
                Findings::default()
            }
        }
    } else {
        Findings::default()
    };
    for passed in &findings.passed {
        crate::eline!(
            "landlock-shim: warning: {}: {}",
            passed.mount_point,
            passed.reason
        );
    }

    let plan = Plan::new(
        policy,
        requests(policy, &findings, ProcView::detect()),
        kernel,
        &RealFs,
    );
    // Quiet runs (probes, hooks) skip what every start of the container says anyway.
    if !policy.quiet {
        for broad in policy.broad_grants().chain(plan.hidden_broad(policy)) {
            crate::eline!("landlock-shim: warning: {}", broad.warning());
        }
    }
    // Whether the startup line is printed: always, but in a quiet run only when something
    // requested is dropped (a refusal or a failure to apply is always said).
    let announce = !policy.quiet || !startup_line::promised_and_dropped(&plan).is_empty();
    if plan.mode == Mode::Learn {
        if announce {
            crate::stderr::line(&startup_line::render(
                &component(),
                &plan,
                &Verdict::Applied(Outcome::Learning),
                Some(&program_name),
                program_path.as_deref(),
            ));
            crate::eline!(
                "landlock-shim: warning: learn mode: {program_name:?} runs WITHOUT a sandbox; what it uses is recorded and printed as {{\"landlock-learn\":...}} lines"
            );
        }
        return learn::supervise::run(&plan, policy, program, args);
    }
    if plan.mode == Mode::Enforce && !plan.is_complete() {
        let reasons = plan.refusal_reasons();
        crate::stderr::line(&startup_line::render(
            &component(),
            &plan,
            &Verdict::Refused(reasons.clone()),
            Some(&program_name),
            program_path.as_deref(),
        ));
        crate::eline!(
            "landlock-shim: refusing to run {program_name:?} in enforce mode: {}",
            reasons.join("; ")
        );
        return REFUSED;
    }
    if plan.mode == Mode::BestEffort {
        if !kernel.has_landlock() {
            crate::eline!(
                "landlock-shim: warning: this kernel has no Landlock: {program_name:?} runs WITHOUT a sandbox"
            );
        }
        for dropped in startup_line::promised_and_dropped(&plan) {
            crate::eline!("landlock-shim: warning: not enforced: {dropped}");
        }
    }

    match ruleset::apply(&plan) {
        Ok(outcome) if announce => crate::stderr::line(&startup_line::render(
            &component(),
            &plan,
            &Verdict::Applied(outcome),
            Some(&program_name),
            program_path.as_deref(),
        )),
        Ok(_) => {}
        Err(err) => {
            crate::eline!(
                "landlock-shim: cannot apply the sandbox, not running {program_name:?}: {err}"
            );
            return REFUSED;
        }
    }

    let err = exec::exec(program, args);
    crate::eline!("landlock-shim: {err}");
    err.exit_status()
}

//! Which runs of a recorded container have a log to read, from its status.
//!
//! The kubelet serves two runs of a container: the latest (`pods/log`) and the one before it
//! (`pods/log?previous=true`). A container's status names the latest run by its
//! `restartCount`: running, terminated, or waiting to be restarted after it ended (the kubelet
//! keeps the count of the run that ended and moves its state to `lastState`); the run before
//! has the count one less. Reading the previous run is what keeps a run whose stream failed,
//! or that ended while the webhook was restarting, from being lost when its container
//! restarts; older runs are gone from the node, and so from the recording.

use k8s_openapi::api::core::v1::ContainerStatus;

/// One run of a container whose log can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Its restart count (the key of its learn line in [`super::Collected`]).
    pub number: i32,
    /// Read with `previous=true`: it is the run before the latest.
    pub previous: bool,
    /// It still runs: its stream is followed, and opened again when it ends early.
    pub running: bool,
}

/// The runs of `status` the kubelet still serves a log of: the latest one, when it started,
/// and the one before it.
pub fn readable(status: &ContainerStatus) -> Vec<Run> {
    let Some(state) = status.state.as_ref() else {
        return Vec::new();
    };
    let ended_waiting = state.waiting.is_some()
        && status
            .last_state
            .as_ref()
            .is_some_and(|last| last.terminated.is_some());
    let started = state.running.is_some() || state.terminated.is_some() || ended_waiting;
    if !started {
        return Vec::new();
    }
    let latest = status.restart_count.max(0);
    let mut runs = vec![Run {
        number: latest,
        previous: false,
        running: state.running.is_some(),
    }];
    if latest > 0 {
        runs.push(Run {
            number: latest - 1,
            previous: true,
            running: false,
        });
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    };

    fn running() -> ContainerState {
        ContainerState {
            running: Some(ContainerStateRunning::default()),
            ..ContainerState::default()
        }
    }

    fn terminated() -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated::default()),
            ..ContainerState::default()
        }
    }

    fn waiting() -> ContainerState {
        ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("CrashLoopBackOff".into()),
                ..ContainerStateWaiting::default()
            }),
            ..ContainerState::default()
        }
    }

    fn status(
        state: ContainerState,
        last: Option<ContainerState>,
        restarts: i32,
    ) -> ContainerStatus {
        ContainerStatus {
            name: "app".into(),
            state: Some(state),
            last_state: last,
            restart_count: restarts,
            ..ContainerStatus::default()
        }
    }

    fn run(number: i32, previous: bool, running: bool) -> Run {
        Run {
            number,
            previous,
            running,
        }
    }

    /// A first run is read alone; a restarted container's run before the latest is read with
    /// `previous`, whether the latest runs, ended, or waits in a back-off (when the latest is
    /// the run that ended, under the same count).
    #[test]
    fn the_latest_run_and_the_one_before_it_are_read() {
        let cases = [
            (
                "first run",
                status(running(), None, 0),
                vec![run(0, false, true)],
            ),
            (
                "first run ended",
                status(terminated(), None, 0),
                vec![run(0, false, false)],
            ),
            (
                "restarted, running",
                status(running(), Some(terminated()), 2),
                vec![run(2, false, true), run(1, true, false)],
            ),
            (
                "restarted, ended again",
                status(terminated(), Some(terminated()), 1),
                vec![run(1, false, false), run(0, true, false)],
            ),
            (
                "first run ended, back-off",
                status(waiting(), Some(terminated()), 0),
                vec![run(0, false, false)],
            ),
            (
                "third run ended, back-off",
                status(waiting(), Some(terminated()), 2),
                vec![run(2, false, false), run(1, true, false)],
            ),
        ];
        for (what, status, expected) in cases {
            assert_eq!(readable(&status), expected, "{what}");
        }
    }

    /// A container that never started (pulling its image, created) has no log to read.
    #[test]
    fn a_container_that_never_started_has_no_run() {
        let creating = ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ContainerCreating".into()),
                ..ContainerStateWaiting::default()
            }),
            ..ContainerState::default()
        };
        assert_eq!(readable(&status(creating, None, 0)), []);
        let unknown = ContainerStatus {
            state: None,
            ..status(running(), None, 0)
        };
        assert_eq!(readable(&unknown), []);
    }
}

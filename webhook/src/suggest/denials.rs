//! The denial lines of `landlock-webhook denials` ([`DenialLine`]): each names one path or
//! port the sandbox refused, and the pod and container it happened in (a line without a
//! container is a shim run outside a pod). Paths become uses that [`crate::suggest::fold`]
//! folds as learn mode does; ports become `bind-tcp`/`connect-tcp`; a blocker no annotation
//! can allow (scoping: signals, abstract UNIX sockets) becomes a note saying so.

use std::path::Path;

use init_shim::Access;
use init_shim::Port;
use init_shim::learn::record::Need;
use init_shim::path_text;
use landlock::AccessFs;

use crate::denials::blockers::{self, Grant};
use crate::denials::report::DenialLine;
use crate::suggest::input::{Observation, Recognised, Recogniser, Source};

/// `{"landlock-denial":...}` lines.
pub struct DenialLines;

impl Recogniser for DenialLines {
    fn recognise(&self, text: &str) -> Option<Result<Recognised, String>> {
        let parsed = DenialLine::parse(text)?;
        Some(
            parsed
                .map_err(|e| e.to_string())
                .and_then(|line| recognised(&line))
                .map_err(|problem| format!("malformed denial line: {problem}")),
        )
    }
}

fn recognised(line: &DenialLine) -> Result<Recognised, String> {
    let source = Source {
        pod: line.pod.clone(),
        container: line.container.clone(),
    };
    let mut found = Recognised {
        grants: Default::default(),
        profile: None,
        notes: Vec::new(),
        source: Some(source),
        uses: Vec::new(),
        ends_run: false,
    };
    let names: Vec<String> = line.blockers.split(',').map(str::to_owned).collect();
    let port = || {
        line.port
            .ok_or_else(|| format!("{} without a port", line.blockers))
    };
    match blockers::grant_all(&names) {
        Some(Grant::Path(access)) => {
            let text = line
                .path
                .as_deref()
                .ok_or_else(|| format!("{} without a path", line.blockers))?;
            // The line carries the path's exact bytes in the escape form of `path_text`.
            let path = path_text::decode_os(text).map_err(|e| format!("path {text:?}: {e}"))?;
            found.uses.push(need(&names, Path::new(&path), access));
        }
        Some(grant @ (Grant::BindTcp | Grant::ConnectTcp | Grant::BindUdp | Grant::ConnectUdp)) => {
            let number = port()?;
            match Port::parse(&number.to_string()) {
                Ok(port) => {
                    let ports = match grant {
                        Grant::BindTcp => &mut found.grants.bind_tcp,
                        Grant::ConnectTcp => &mut found.grants.connect_tcp,
                        Grant::BindUdp => &mut found.grants.bind_udp,
                        _ => &mut found.grants.connect_udp,
                    };
                    ports.insert(port);
                }
                Err(err) => found.notes.push(format!(
                    "{}: {} port {number} not suggested: {}",
                    who(line),
                    line.blockers,
                    err.problem
                )),
            }
        }
        Some(Grant::NotGrantable) | None => found.notes.push(format!(
            "{}: {} denied ({}): no annotation can allow this; the program must do without it",
            who(line),
            line.blockers,
            object(line)
        )),
    }
    Ok(found)
}

/// A note for each container whose grants come from denial lines alone: a denial names what was
/// missing, not what the pod was granted already, so its suggestion is to be added to the pod's
/// annotations, not to replace them (learn lines are complete).
pub fn additions_only(observations: &[Observation]) -> Vec<String> {
    let mut learned = std::collections::BTreeSet::new();
    let mut denied = std::collections::BTreeSet::new();
    for observation in observations {
        let container = observation.source.container.clone();
        if observation.profile.is_some() {
            learned.insert(container);
        } else if !observation.grants.is_empty() {
            denied.insert(container);
        }
    }
    denied
        .difference(&learned)
        .map(|container| {
            let label = container
                .as_ref()
                .map_or_else(|| "the program".to_owned(), |c| format!("container {c:?}"));
            format!(
                "{label}: from denial lines only: add these grants to its current annotations or flags, do not replace them (a denial names what was missing, not what was granted)"
            )
        })
        .collect()
}

/// What the denied use needs, as learn mode records it. The kernel names the directory for a
/// denied creation, and the entry itself for a denied removal or rename (`refer`), whose right
/// is the parent directory's.
fn need(names: &[String], path: &Path, access: Access) -> Need {
    let rights: Vec<AccessFs> = names.iter().filter_map(|b| blockers::fs_right(b)).collect();
    let any = |wanted: &[AccessFs]| rights.iter().any(|r| wanted.contains(r));
    if any(&[AccessFs::RemoveFile, AccessFs::RemoveDir, AccessFs::Refer]) {
        Need::Change(path.parent().unwrap_or(path).to_path_buf())
    } else if any(&[
        AccessFs::MakeChar,
        AccessFs::MakeDir,
        AccessFs::MakeReg,
        AccessFs::MakeSock,
        AccessFs::MakeFifo,
        AccessFs::MakeBlock,
        AccessFs::MakeSym,
    ]) {
        Need::Change(path.to_path_buf())
    } else if rights == [AccessFs::ReadDir] {
        Need::List(path.to_path_buf())
    } else {
        Need::Entry(path.to_path_buf(), access)
    }
}

/// The container the line names, for notes.
fn who(line: &DenialLine) -> String {
    match (&line.container, &line.pod) {
        (Some(container), Some(pod)) => match &line.namespace {
            Some(namespace) => format!("container {container:?} of pod {namespace}/{pod}"),
            None => format!("container {container:?} of pod {pod}"),
        },
        (Some(container), None) => format!("container {container:?}"),
        (None, _) => "the program".to_owned(),
    }
}

/// What was denied, for notes.
fn object(line: &DenialLine) -> String {
    if let Some(pid) = line.target_pid {
        let comm = line.target_comm.as_deref().unwrap_or_default();
        return format!("a signal to pid {pid} ({comm})");
    }
    if let Some(socket) = &line.socket {
        return format!("UNIX socket {socket}");
    }
    line.path
        .clone()
        .or_else(|| line.port.map(|p| format!("port {p}")))
        .unwrap_or_else(|| "no object named".to_owned())
}

#[cfg(test)]
mod tests {
    use crate::suggest::{Format, SuggestError, suggest};

    /// What `landlock-webhook denials` printed for the runc pod of the denials tests
    /// (`tests/tests/denials.rs`), as `kubectl logs --prefix` of the DaemonSet shows it.
    const POD: &str = include_str!("../../tests/fixtures/denial-lines.log");
    /// What it printed for a shim run on the host.
    const HOST: &str = r#"{"landlock-denial":"fs.read_file","path":"/etc/shadow","grant":"read","unattributed":"not-in-a-pod","pid":6849,"comm":"busybox","exe":"/usr/bin/busybox","domain":"1e41bc3a3","audit":"1795461110.241:90348"}"#;

    /// A line as the agent prints it for a captured record
    /// (`webhook/tests/fixtures/landlock-audit-records.log`), run outside a pod.
    fn host(blockers: &str, object: &str) -> String {
        format!(
            r#"{{"landlock-denial":"{blockers}",{object},"unattributed":"not-in-a-pod","domain":"1e41895a1","audit":"1795455244.121:16"}}"#
        )
    }

    fn run(text: &str, format: Format) -> Result<crate::suggest::Suggestion, SuggestError> {
        suggest(&[("denials.log".to_owned(), text.to_owned())], format)
    }

    #[test]
    fn a_pods_denials_suggest_each_containers_annotations() -> Result<(), SuggestError> {
        // The kubectl prefix names the agent's pod, the line names the workload's.
        let got = run(POD, Format::Yaml)?;
        assert_eq!(
            got.output,
            "metadata:\n  annotations:\n    landlock-injector.io/mode: enforce\n    landlock-injector.io/app.read: /etc/shadow\n    landlock-injector.io/app.read-exec: /scratch/bb\n    landlock-injector.io/app.write: /srv/index.html\n    landlock-injector.io/client.connect-tcp: '80'\n"
        );
        let added = |who: &str| {
            format!(
                "{who}: from denial lines only: add these grants to its current annotations or flags, do not replace them (a denial names what was missing, not what was granted)"
            )
        };
        assert_eq!(
            got.notes,
            [added("container \"app\""), added("container \"client\"")]
        );
        let host = run(HOST, Format::Flags)?;
        assert_eq!(
            host.output,
            "--ro /etc/shadow --mode enforce --profile default\n"
        );
        Ok(())
    }

    #[test]
    fn denied_paths_fold_as_learn_mode_folds_and_never_to_a_broad_directory()
    -> Result<(), SuggestError> {
        let path = |p: &str| format!(r#""path":"{p}""#);
        let text = [
            // A directory with three denied entries becomes the directory (hex-decoded names
            // with a space and a control byte, as the agent prints them).
            host("fs.read_file", &path("/opt/cap/dir with space/f")),
            host("fs.read_file", &path("/opt/cap/dir with space/g")),
            host("fs.read_file", &path("/opt/cap/dir with space/h")),
            // A denied creation names the directory; a denied removal or rename the entry.
            host("fs.make_reg", &path("/srv/cap")),
            host("fs.remove_file", &path("/data/out/d")),
            host("fs.make_reg,fs.refer", &path("/work/mv/b")),
            host("fs.read_dir", &path("/srv/list")),
            // Three same-rights siblings become their parent.
            host("fs.write_file", &path("/var/log/app/a.log")),
            host("fs.write_file", &path("/var/log/app/b.log")),
            host("fs.write_file", &path("/var/log/app/c.log")),
            // Never /etc whole, however many of its files were denied.
            host("fs.read_file", &path("/etc/shadow")),
            host("fs.read_file", &path("/etc/gshadow")),
            host("fs.read_file", &path("/etc/sudoers")),
            host("fs.read_dir", &path("/etc")),
            host("net.bind_tcp", r#""port":8080,"addr":"127.0.0.1""#),
            host("net.bind_udp", r#""port":5353,"addr":"127.0.0.1""#),
            host("net.connect_send_udp", r#""port":53,"addr":"10.0.0.2""#),
            host("fs.resolve_unix", &path("/run/app/app.sock")),
        ]
        .join("\n");
        let got = run(&text, Format::Flags)?;
        assert_eq!(
            got.output,
            "--list /srv/list --ro /etc/gshadow --ro /etc/shadow --ro /etc/sudoers --ro '/opt/cap/dir with space' --rw /data/out --rw /run/app/app.sock --rw /srv/cap --rw /var/log/app --rw /work/mv --bind-tcp 8080 --bind-udp 5353 --connect-udp 53 --mode enforce --profile default\n"
        );
        assert!(
            got.notes
                .iter()
                .any(|n| n.starts_with("/etc not suggested: ") && n.contains("never suggested")),
            "{:?}",
            got.notes
        );
        Ok(())
    }

    #[test]
    fn blockers_no_annotation_can_allow_are_reported() -> Result<(), SuggestError> {
        let text = [
            host(
                "scope.signal",
                r#""target_pid":1,"target_comm":"process_api""#,
            ),
            host("scope.abstract_unix_socket", r#""socket":"@landlock-cap""#),
            POD.lines().nth(3).unwrap_or_default().to_owned(),
        ]
        .join("\n");
        let got = run(&text, Format::Flags)?;
        assert!(
            got.notes[0].contains("from denial lines only"),
            "{:?}",
            got.notes
        );
        assert_eq!(
            got.notes[1..],
            [
                "the program: scope.abstract_unix_socket denied (UNIX socket @landlock-cap): no annotation can allow this; the program must do without it",
                "the program: scope.signal denied (a signal to pid 1 (process_api)): no annotation can allow this; the program must do without it",
            ]
        );
        Ok(())
    }

    #[test]
    fn denials_merge_with_learn_lines_of_the_same_container() -> Result<(), SuggestError> {
        let learn = r#"[pod/denied/app] {"landlock-learn":"landlock-shim 0.1.0","final":true,"program":"app","profile":"default","discover":true,"suggest":{"read":["/srv"],"read-exec":[],"write":[],"write-exec":[],"bind-tcp":[8080],"connect-tcp":[]}}"#;
        let app: String = POD.lines().take(6).collect::<Vec<_>>().join("\n");
        let got = suggest(
            &[
                ("learn.log".to_owned(), learn.to_owned()),
                ("denials.log".to_owned(), app),
            ],
            Format::Flags,
        )?;
        assert_eq!(
            got.output,
            "app: --ro /etc/shadow --ro /srv --rx /scratch/bb --rw /srv/index.html --bind-tcp 8080 --mode enforce --profile default\n"
        );
        Ok(())
    }

    /// A plain `kubectl logs POD` (no prefix: no container named) with the agent's denial
    /// lines for one container: the learn lines are that container's, so neither the learned
    /// nor the denied paths are lost (they had been: only what both shared reached the pod
    /// level); beside two named containers such lines are refused, naming them.
    #[test]
    fn lines_naming_no_container_join_the_only_named_one_or_are_refused() -> Result<(), SuggestError>
    {
        let learn = r#"{"landlock-learn":"landlock-shim 0.1.0","final":true,"program":"app","profile":"default","discover":true,"suggest":{"read":["/srv"],"read-exec":[],"write":[],"write-exec":[],"bind-tcp":[],"connect-tcp":[]}}"#;
        let app: String = POD.lines().take(6).collect::<Vec<_>>().join("\n");
        let got = suggest(
            &[
                ("learn.log".to_owned(), learn.to_owned()),
                ("denials.log".to_owned(), app),
            ],
            Format::Yaml,
        )?;
        assert!(
            got.output.contains("/srv") && got.output.contains("/etc/shadow"),
            "{}",
            got.output
        );
        assert!(
            got.notes.iter().any(|n| n
                .contains("learn lines that name no container are taken as container \"app\"'s")),
            "{:?}",
            got.notes
        );
        let error = suggest(
            &[
                ("learn.log".to_owned(), learn.to_owned()),
                ("denials.log".to_owned(), POD.to_owned()),
            ],
            Format::Yaml,
        )
        .expect_err("two named containers");
        assert!(
            error
                .to_string()
                .starts_with("the input has learn lines that name no container (learn.log) beside lines of containers app, client"),
            "{error}"
        );
        Ok(())
    }

    #[test]
    fn a_malformed_denial_line_is_an_error_naming_its_line() {
        for (bad, problem) in [
            (r#"{"landlock-denial":"fs.read_file","path":"/a""#, "EOF"),
            (
                r#"{"landlock-denial":"fs.read_file","domain":"1","audit":"1.2:3"}"#,
                "fs.read_file without a path",
            ),
            (
                r#"{"landlock-denial":"net.bind_tcp","domain":"1","audit":"1.2:3"}"#,
                "net.bind_tcp without a port",
            ),
            (
                r#"{"landlock-denial":"fs.read_file","path":"/a","audit":"1.2:3"}"#,
                "missing field `domain`",
            ),
        ] {
            let text = format!("{HOST}\nnoise\n{bad}\n");
            let Err(SuggestError::Input(err)) = run(&text, Format::Yaml) else {
                panic!("{bad} is accepted");
            };
            assert_eq!(err.line, 3, "{err}");
            assert!(
                err.to_string()
                    .starts_with("denials.log: line 3: malformed denial line: "),
                "{err}"
            );
            assert!(err.problem.contains(problem), "{bad}: {err}");
        }
    }
}

//! Reading shim output: `kubectl logs --all-containers --prefix` lines (`[pod/NAME/CONTAINER]
//! TEXT`), several replicas concatenated, or a plain run's stderr. Each recogniser decides
//! whether a line is one of its observations; lines nobody recognises are skipped.
//!
//! A *replica* is one run of one container: the lines of one pod (kubectl's prefix, or the pod
//! a denial line names) are one replica of each of its containers. Lines without a pod are told
//! apart by input order: each input (file, stdin) starts a new replica, and so does every learn
//! line after a `"final":true` one (a run prints its last line at exit), so `cat a.log b.log`
//! and `suggest a.log b.log` both count two runs.

use std::collections::BTreeMap;

use init_shim::Profile;
use init_shim::grants::Grants;
use init_shim::learn::line;
use init_shim::learn::record::Need;

use crate::suggest::denials::DenialLines;

/// Where an observation came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Source {
    /// The pod (from kubectl's prefix), if known.
    pub pod: Option<String>,
    /// The container (from kubectl's prefix), if known.
    pub container: Option<String>,
}

/// What one line says the workload needs, in the annotation vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Who.
    pub source: Source,
    /// What it needs.
    pub grants: Grants,
    /// The base profile the grants assume (learn lines say; `None` if the line does not).
    pub profile: Option<Profile>,
    /// Things worth telling the user (paths not suggested and why).
    pub notes: Vec<String>,
    /// Paths used, still to fold with the other uses of the same source
    /// ([`crate::suggest::fold`]) into `grants`.
    pub uses: Vec<Need>,
    /// Which replica (run) of the container the line came from (see the module doc).
    pub replica: String,
}

/// A line that is an observation but cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input}: line {line}: {problem}")]
pub struct InputError {
    /// The file (or stdin).
    pub input: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// What a recogniser read from one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognised {
    /// What the workload needs.
    pub grants: Grants,
    /// The base profile the grants assume, if the line says.
    pub profile: Option<Profile>,
    /// Things worth telling the user.
    pub notes: Vec<String>,
    /// Who, when the line itself says (denial lines name the pod they happened in; the
    /// kubectl prefix of the agent's log names the agent): replaces the prefix.
    pub source: Option<Source>,
    /// Paths used, still to fold with the other uses of the same source.
    pub uses: Vec<Need>,
    /// Whether the line is the last of its run (a final learn line): the next line without a
    /// pod is another replica.
    pub ends_run: bool,
}

/// Recognises one kind of line.
pub trait Recogniser {
    /// `None`: not this kind of line; `Some(Err)`: this kind, but malformed.
    fn recognise(&self, text: &str) -> Option<Result<Recognised, String>>;
}

/// How a note that is a learn line's warning starts (see [`crate::suggest::Suggestion`]).
pub const WARNING: &str = "warning: ";

/// The shim's learn lines (`{"landlock-learn":...}`).
pub struct LearnLines;

impl Recogniser for LearnLines {
    fn recognise(&self, text: &str) -> Option<Result<Recognised, String>> {
        let parsed = line::parse(text)?;
        Some(
            parsed
                .map_err(|e| format!("malformed learn line: {e}"))
                .and_then(|learned| {
                    let profile = Profile::parse(&learned.profile)
                        .map_err(|e| format!("malformed learn line: profile {e}"))?;
                    let notes = learned
                        .not_suggested
                        .iter()
                        .map(|n| format!("{} not suggested: {}", n.path, n.why))
                        .chain(learned.warnings.iter().map(|w| format!("{WARNING}{w}")))
                        .collect();
                    Ok(Recognised {
                        grants: learned.suggest,
                        profile: Some(profile),
                        notes,
                        source: None,
                        uses: Vec::new(),
                        ends_run: learned.is_final,
                    })
                }),
        )
    }
}

/// Every kind of line `suggest` understands.
pub fn recognisers() -> Vec<Box<dyn Recogniser>> {
    vec![Box::new(LearnLines), Box::new(DenialLines)]
}

/// Splits kubectl's `--prefix` (`[pod/NAME/CONTAINER] `) off a line.
pub fn split_prefix(text: &str) -> (Source, &str) {
    let none = Source {
        pod: None,
        container: None,
    };
    let Some(rest) = text.strip_prefix('[') else {
        return (none, text);
    };
    let Some((prefix, line)) = rest.split_once("] ") else {
        return (none, text);
    };
    let parts: Vec<&str> = prefix.split('/').collect();
    match parts.as_slice() {
        [_kind, pod, container] => (
            Source {
                pod: Some((*pod).to_owned()),
                container: Some((*container).to_owned()),
            },
            line,
        ),
        _ => (none, text),
    }
}

/// The container name of the denials agent (the chart's DaemonSet), whose log names the pods
/// it reports on.
pub const AGENT: &str = "denials";

/// `pod/NAME/CONTAINER` for a note.
fn describe(source: &Source) -> String {
    format!(
        "pod/{}/{}",
        source.pod.as_deref().unwrap_or("?"),
        source.container.as_deref().unwrap_or("?")
    )
}

/// The replica name of a pod's lines.
pub fn replica_of_pod(pod: &str) -> String {
    format!("pod {pod}")
}

/// Reads every observation in `text` (named `input` in errors).
pub fn read(
    input: &str,
    text: &str,
    recognisers: &[Box<dyn Recogniser>],
) -> Result<Vec<Observation>, InputError> {
    let mut out = Vec::new();
    // Runs without a pod, per container: how many ended so far in this input.
    let mut ended: BTreeMap<Option<String>, usize> = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let (source, line) = split_prefix(raw);
        for recogniser in recognisers {
            match recogniser.recognise(line) {
                None => continue,
                Some(Ok(mut found)) => {
                    // A line naming its own source (a denial line names the denied pod) is
                    // believed only where the denials agent printed it, or outside kubectl's
                    // prefix: in another container's log it is that container's own output (a
                    // program can print any line) and counts for it, never for another pod
                    // or container, nor as another replica.
                    let named = found.source.take();
                    let trusted =
                        source.pod.is_none() || source.container.as_deref() == Some(AGENT);
                    let source = match named {
                        Some(named) if trusted => named,
                        Some(named) if named != source => {
                            found.notes.push(format!(
                                "a denial line in the log of {} names {}: counted for the container whose log holds it (only the denials agent's log names other pods)",
                                describe(&source),
                                describe(&named)
                            ));
                            source.clone()
                        }
                        _ => source.clone(),
                    };
                    let replica = match &source.pod {
                        Some(pod) => replica_of_pod(pod),
                        None => {
                            let runs = ended.entry(source.container.clone()).or_default();
                            let replica = format!("{input} run {}", *runs + 1);
                            if found.ends_run {
                                *runs += 1;
                            }
                            replica
                        }
                    };
                    out.push(Observation {
                        source,
                        grants: found.grants,
                        profile: found.profile,
                        notes: found.notes,
                        uses: found.uses,
                        replica,
                    });
                    break;
                }
                Some(Err(problem)) => {
                    return Err(InputError {
                        input: input.to_owned(),
                        line: index + 1,
                        problem,
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEARN: &str = r#"{"landlock-learn":"landlock-shim 0.1.0","final":true,"program":"app","profile":"default","discover":true,"suggest":{"read":["/srv"],"read-exec":[],"write":[],"write-exec":[],"bind-tcp":[8080],"connect-tcp":[]}}"#;

    #[test]
    fn prefixed_plain_and_foreign_lines() -> Result<(), InputError> {
        let text = format!(
            "[pod/web-1/app] {LEARN}\n[pod/web-1/app] hello\n{{\"landlock\":\"landlock-shim 0.1.0\"}}\n{LEARN}\n"
        );
        let got = read("logs", &text, &recognisers())?;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].source.pod.as_deref(), Some("web-1"));
        assert_eq!(got[0].source.container.as_deref(), Some("app"));
        assert_eq!(got[1].source.container, None);
        assert_eq!(got[0].grants.to_string(), "read=/srv bind-tcp=8080");
        Ok(())
    }

    /// A denial line names the denied pod and container: believed in the denials agent's log
    /// and outside kubectl's prefix, but in a workload's own log (which its program writes)
    /// it counts for that container only, with a note, never for another pod or container.
    #[test]
    fn a_denial_line_in_a_workloads_log_cannot_speak_for_another_pod() -> Result<(), InputError> {
        let denial = r#"{"landlock-denial":"fs.read_file","path":"/etc/shadow","grant":"read","namespace":"shop","pod":"db-0","container":"db","domain":"1","audit":"1.2:3"}"#;
        let text = format!("[pod/agent-x/{AGENT}] {denial}\n[pod/web-1/app] {denial}\n{denial}\n");
        let got = read("logs", &text, &recognisers())?;
        let sources: Vec<(Option<&str>, Option<&str>)> = got
            .iter()
            .map(|o| (o.source.pod.as_deref(), o.source.container.as_deref()))
            .collect();
        assert_eq!(
            sources,
            [
                (Some("db-0"), Some("db")),
                (Some("web-1"), Some("app")),
                (Some("db-0"), Some("db")),
            ]
        );
        assert!(
            got[1]
                .notes
                .iter()
                .any(|n| n.contains("a denial line in the log of pod/web-1/app names pod/db-0/db")),
            "{:?}",
            got[1].notes
        );
        Ok(())
    }

    #[test]
    fn a_malformed_learn_line_is_an_error_naming_its_line() {
        let text = format!("ok\n{LEARN}\n[pod/a/b] {{\"landlock-learn\":\"x\",\"final\":tru\n");
        let err = read("logs.txt", &text, &recognisers()).expect_err("malformed");
        assert_eq!(err.line, 3);
        assert!(
            err.to_string()
                .starts_with("logs.txt: line 3: malformed learn line"),
            "{err}"
        );
        let bad_path = LEARN.replace("\"/srv\"", "\"srv\"");
        let err = read("x", &bad_path, &recognisers()).expect_err("relative path");
        assert!(err.problem.contains("must be absolute"), "{err}");
    }
}

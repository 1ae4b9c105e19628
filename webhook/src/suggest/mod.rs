//! `landlock-webhook suggest`: reads shim output (learn lines, from `kubectl logs` or a plain
//! run) and the denial lines of `landlock-webhook denials`, and prints the policy that lets the
//! workload run sandboxed, per container.
//!
//! | module | decides |
//! |---|---|
//! | [`input`] | which lines are observations, and of which pod and container |
//! | [`denials`] | what a denial line asks for (a path, a port, or nothing an annotation can allow) |
//! | [`fold`] | which directories the paths named one by one fold into (the learn-mode rules) |
//! | [`merge`] | one policy per container from every replica, and where replicas disagree |
//! | [`render`] | the output: annotations (YAML), a `kubectl annotate` command, shim flags, JSON |
//!
//! Observations are in the annotation vocabulary ([`init_shim::grants::Grants`]), whatever
//! line they came from: each kind of line is one [`input::Recogniser`].

pub mod denials;
pub mod fold;
pub mod input;
pub mod merge;
pub mod render;

use std::io::Read;
use std::path::PathBuf;

pub use merge::{CoverageError, Dropped};
pub use render::Format;

/// Why `suggest` could not produce a policy.
#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    /// An input could not be read.
    #[error("cannot read {name}: {source}")]
    Read {
        /// The file (or `stdin`).
        name: String,
        /// The error.
        source: std::io::Error,
    },
    /// A line that is an observation but cannot be understood.
    #[error(transparent)]
    Input(#[from] input::InputError),
    /// A `--min-coverage` that does not fit the input.
    #[error(transparent)]
    Coverage(#[from] merge::CoverageError),
    /// Lines of several named containers and lines naming none: which container the latter
    /// are cannot be told.
    #[error(
        "the input has learn lines that name no container ({inputs}) beside lines of containers {named}: which container those are cannot be told; pass kubectl's --prefix (kubectl logs --prefix), or suggest for each container apart"
    )]
    Unnamed {
        /// The named containers.
        named: String,
        /// The inputs holding lines without a container.
        inputs: String,
    },
    /// Nothing to suggest from.
    #[error(
        "no learn or denial lines in the input ({0}): run the workload with landlock-injector.io/mode: learn (or landlock-shim --mode learn) and pass its logs, or pass the output of landlock-webhook denials"
    )]
    Empty(String),
}

/// What `suggest` prints: the policy on stdout, notes (replica differences) on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// The rendered policy.
    pub output: String,
    /// Things the user should know (replicas that disagree, paths not suggested).
    pub notes: Vec<String>,
    /// Grants to look at twice before signing (a home directory, a working directory of `/`
    /// or a home, whatever the webhook warns about in annotations): the learn lines' and
    /// those of the merged policy, each once.
    pub warnings: Vec<String>,
}

/// How to suggest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// The output format.
    pub format: Format,
    /// Keep only what at least this many replicas of a container needed (`None`: everything).
    pub min_coverage: Option<usize>,
}

/// Reads `files` (stdin when empty) and renders the suggestion in `format`.
pub fn run(files: &[PathBuf], format: Format) -> Result<Suggestion, SuggestError> {
    run_with(
        files,
        Options {
            format,
            min_coverage: None,
        },
    )
}

/// Reads `files` (stdin when empty) and renders the suggestion as `options` say.
pub fn run_with(files: &[PathBuf], options: Options) -> Result<Suggestion, SuggestError> {
    let mut texts = Vec::new();
    if files.is_empty() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| SuggestError::Read {
                name: "stdin".to_owned(),
                source,
            })?;
        texts.push(("stdin".to_owned(), text));
    }
    for file in files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|source| SuggestError::Read {
            name: name.clone(),
            source,
        })?;
        texts.push((name, text));
    }
    suggest_with(&texts, options)
}

/// The suggestion for named texts (the pure core of [`run`]).
pub fn suggest(texts: &[(String, String)], format: Format) -> Result<Suggestion, SuggestError> {
    suggest_with(
        texts,
        Options {
            format,
            min_coverage: None,
        },
    )
}

/// Learn lines naming no container (a plain `kubectl logs POD`, a shim run's stderr) beside
/// lines of exactly one named container (the denials agent's lines name it) are that
/// container's; beside several, they are refused. Rendering them apart had put only what every
/// container shares at the pod level and dropped the rest. (Denial lines without a container
/// are of processes outside any pod: never a pod's container.)
fn name_unnamed(observations: &mut [input::Observation]) -> Result<(), SuggestError> {
    // Learn lines are the ones that say their profile.
    let unnamed_learning =
        |o: &input::Observation| o.source.container.is_none() && o.profile.is_some();
    let named: std::collections::BTreeSet<String> = observations
        .iter()
        .filter_map(|o| o.source.container.clone())
        .collect();
    let unnamed: std::collections::BTreeSet<String> = observations
        .iter()
        .filter(|o| unnamed_learning(o))
        .map(|o| {
            o.replica
                .split(" run ")
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    if named.is_empty() || unnamed.is_empty() {
        return Ok(());
    }
    let [only] = named.iter().collect::<Vec<_>>()[..] else {
        return Err(SuggestError::Unnamed {
            named: named.into_iter().collect::<Vec<_>>().join(", "),
            inputs: unnamed.into_iter().collect::<Vec<_>>().join(", "),
        });
    };
    let only = only.clone();
    for observation in observations.iter_mut() {
        if unnamed_learning(observation) {
            observation.source.container = Some(only.clone());
            observation.notes.push(format!(
                "learn lines that name no container are taken as container {only:?}'s, the only one the input names"
            ));
        }
    }
    Ok(())
}

/// The suggestion for named texts, as `options` say (the pure core of [`run_with`]).
pub fn suggest_with(
    texts: &[(String, String)],
    options: Options,
) -> Result<Suggestion, SuggestError> {
    let format = options.format;
    let mut observations = Vec::new();
    for (name, text) in texts {
        observations.extend(input::read(name, text, &input::recognisers())?);
    }
    name_unnamed(&mut observations)?;
    fold::fold_uses(&mut observations);
    if observations.is_empty() {
        let names: Vec<&str> = texts.iter().map(|(n, _)| n.as_str()).collect();
        return Err(SuggestError::Empty(names.join(", ")));
    }
    let merged = match options.min_coverage {
        Some(min) => merge::merge_with_min_coverage(&observations, min)?,
        None => merge::merge(&observations),
    };
    let mut notes = merged.notes.clone();
    notes.extend(merged.dropped.iter().map(|d| {
        format!(
            "dropped (--min-coverage {}): {d}",
            options.min_coverage.unwrap_or_default()
        )
    }));
    notes.extend(denials::additions_only(&observations));
    notes.extend(observations.iter().flat_map(|o| o.notes.iter().cloned()));
    notes.sort();
    notes.dedup();
    let (warned, notes): (Vec<String>, Vec<String>) = notes
        .into_iter()
        .partition(|n| n.starts_with(input::WARNING));
    let mut warnings: Vec<String> = warned
        .iter()
        .map(|w| w[input::WARNING.len()..].to_owned())
        .collect();
    // What the merged policy grants, said once per path (a learn line may have said it in
    // its own words already, e.g. that the path was the working directory).
    for container in &merged.containers {
        for warning in container.grants.warnings(None) {
            let subject = warning.split(" is ").next().unwrap_or(&warning).to_owned();
            if !warnings
                .iter()
                .any(|w| w.starts_with(&format!("{subject} is ")))
            {
                warnings.push(warning);
            }
        }
    }
    warnings.dedup();
    Ok(Suggestion {
        output: render::render(&merged, format),
        notes,
        warnings,
    })
}

//! What one pod may cost the webhook. The API server calls the webhook for every pod in scope
//! and waits for it, so a single crafted pod must not be able to take `/mutate` away from
//! everyone else: the cost of a review is linear in the size of the pod, and the parts that an
//! injection multiplies (pod-level paths are repeated in every container's command and in each
//! of its exec probes and hooks) are bounded. Past a limit the pod is denied at once, with a
//! message that names the limit and what to change.
//!
//! | limit | value | why |
//! |---|---|---|
//! | paths per container | [`MAX_PATHS_PER_CONTAINER`] | annotation paths plus discovered mounts; a program that needs more is better served by a directory grant |
//! | commands written by one injection | [`MAX_PATCH_BYTES`] | the wrapped pod must still fit the API server's object size limit (etcd's 1.5 MiB request limit) |
//! | warnings returned | [`MAX_WARNINGS`] | kubectl shows each one; the rest are counted in the last |
//! | a value quoted in a message | [`MAX_QUOTED_BYTES`] | denials and warnings name the offending value without echoing a 256 KiB annotation |

/// The most paths one container's policy may hold (annotation paths at pod and container level,
/// plus the volume mounts the webhook discovers).
pub const MAX_PATHS_PER_CONTAINER: usize = 512;

/// The most bytes of commands (the wrapped command of every container and of its exec probes
/// and hooks) one injection may write into the pod.
pub const MAX_PATCH_BYTES: usize = 1024 * 1024;

/// The most warnings one answer carries; past it, one more warning says how many were left out.
pub const MAX_WARNINGS: usize = 32;

/// The longest stretch of a pod-supplied value quoted in a denial or warning.
pub const MAX_QUOTED_BYTES: usize = 200;

/// A pod that exceeds a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// One container's policy holds more paths than allowed.
    #[error(
        "container {container:?}: {count} paths (the path annotations {keys} plus the volume mounts the webhook grants); at most {max} paths per container are accepted; grant a directory instead of its files"
    )]
    ContainerPaths {
        /// The container.
        container: String,
        /// How many paths its policy holds.
        count: usize,
        /// The path annotations that apply to it.
        keys: String,
        /// [`MAX_PATHS_PER_CONTAINER`].
        max: usize,
    },
    /// The wrapped commands of all containers together are too large.
    #[error(
        "the injection would write more than {max} bytes of wrapped commands (reached at container {container:?}, {wrapped} of {containers} wrapped so far); pod-level path annotations ({keys}) are repeated in every container and in each of its exec probes and hooks: move paths to per-container annotations (`<container>.read`, ...), grant directories instead of files, or set wrap-exec: \"false\""
    )]
    Patch {
        /// [`MAX_PATCH_BYTES`].
        max: usize,
        /// The container at which the limit was passed.
        container: String,
        /// Containers wrapped before it.
        wrapped: usize,
        /// Containers to wrap in all.
        containers: usize,
        /// The pod-level path annotations.
        keys: String,
    },
}

/// `value`, cut to [`MAX_QUOTED_BYTES`] (at a character boundary) with the full length said,
/// for messages that quote what a pod sent.
pub fn quoted(value: &str) -> String {
    if value.len() <= MAX_QUOTED_BYTES {
        return format!("{value:?}");
    }
    let mut end = MAX_QUOTED_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes in all)", &value[..end], value.len())
}

/// `items` joined with `", "`, the first `max` of them, and how many more there are.
pub fn listed<I, S>(items: I, max: usize) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::new();
    let mut more = 0usize;
    for (n, item) in items.into_iter().enumerate() {
        if n < max {
            if n > 0 {
                out.push_str(", ");
            }
            out.push_str(&quoted(item.as_ref()));
        } else {
            more += 1;
        }
    }
    if more > 0 {
        out.push_str(&format!(" and {more} more"));
    }
    out
}

/// `warnings` cut to [`MAX_WARNINGS`], the last one saying how many were left out.
pub fn cap_warnings(mut warnings: Vec<String>) -> Vec<String> {
    if warnings.len() > MAX_WARNINGS {
        let left_out = warnings.len() - (MAX_WARNINGS - 1);
        warnings.truncate(MAX_WARNINGS - 1);
        warnings.push(format!(
            "landlock-injector: {left_out} more warnings left out (at most {MAX_WARNINGS} are returned)"
        ));
    }
    warnings
}

/// The bytes a list of strings takes in the patch's JSON: each string, its quotes and a comma.
pub fn json_bytes(strings: &[String]) -> usize {
    strings.iter().map(|s| s.len() + 3).sum::<usize>() + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_quoted_cut_with_their_length() {
        assert_eq!(quoted("/etc"), "\"/etc\"");
        let long = "é".repeat(300);
        let q = quoted(&long);
        assert!(q.ends_with("... (600 bytes in all)"), "{q}");
        assert!(q.len() < MAX_QUOTED_BYTES + 40, "{q}");
    }

    #[test]
    fn lists_and_warnings_are_capped_with_a_count() {
        assert_eq!(listed(["a", "b", "c"], 2), "\"a\", \"b\" and 1 more");
        let capped = cap_warnings((0..100).map(|n| n.to_string()).collect());
        assert_eq!(capped.len(), MAX_WARNINGS);
        assert!(capped[MAX_WARNINGS - 1].contains("69 more warnings left out"));
        assert_eq!(cap_warnings(vec!["x".into()]), ["x"]);
    }

    #[test]
    fn json_bytes_counts_quotes_and_separators() {
        assert_eq!(json_bytes(&["ab".into(), "c".into()]), 2 + 3 + 1 + 3 + 2);
    }
}

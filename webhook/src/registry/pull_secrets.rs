//! Registry credentials from Kubernetes pull secrets (`kubernetes.io/dockerconfigjson` and the
//! legacy `kubernetes.io/dockercfg`), matched to an image the way kubelet does
//! (`pkg/credentialprovider`: `BasicDockerKeyring.Add` and `Lookup`, `URLsMatch`): so the webhook
//! reads an image with the credentials kubelet will pull it with, in kubelet's order.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why a pull secret could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullSecretError {
    /// The secret's JSON is unusable.
    #[error("pull secret {name}: {problem}")]
    Malformed {
        /// The secret (or file) name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// The pod names more secrets than one lookup reads.
    #[error(
        "spec.imagePullSecrets of a pod in namespace {namespace} names {count} distinct pull secrets; the webhook reads at most {max} for a pod (each is an API call)"
    )]
    TooMany {
        /// The pod's namespace.
        namespace: String,
        /// How many distinct names.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The secret could not be read.
    #[error("pull secret {name}: {problem}")]
    Unreadable {
        /// The secret (or file) name.
        name: String,
        /// Why.
        problem: String,
    },
}

#[derive(Deserialize)]
struct DockerConfigJson {
    auths: BTreeMap<String, Entry>,
}

#[derive(Deserialize, Default)]
struct Entry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The credentials of one pull secret, under kubelet's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullSecret {
    name: String,
    entries: Vec<(String, Credentials)>,
}

impl PullSecret {
    /// Parses a `.dockerconfigjson` (with `auths`) or a legacy `.dockercfg` (without) document
    /// of the secret (or file) `name`.
    pub fn parse(name: &str, json: &[u8]) -> Result<Self, PullSecretError> {
        let malformed = |problem: String| PullSecretError::Malformed {
            name: name.to_owned(),
            problem,
        };
        let auths = match serde_json::from_slice::<DockerConfigJson>(json) {
            Ok(config) => config.auths,
            Err(_) => serde_json::from_slice::<BTreeMap<String, Entry>>(json).map_err(|e| {
                malformed(format!("not a dockerconfigjson or dockercfg document: {e}"))
            })?,
        };
        let mut entries = Vec::new();
        for (location, entry) in auths {
            // As kubelet reads an entry: `auth` (base64 user:password) when present, else
            // `username` and `password`; an entry with neither (`{}`, as Docker Desktop writes
            // for a credential helper) holds no credentials and is passed over, not an error
            // that would fail every lookup of the pod.
            let auth = entry.auth.filter(|a| !a.trim().is_empty());
            let credentials = match (auth, entry.username, entry.password) {
                (None, Some(username), Some(password)) => Credentials { username, password },
                (Some(auth), _, _) => {
                    // As kubelet's decodeDockerConfigFieldAuth: padded base64 when it ends
                    // with '=', unpadded otherwise (tools write both).
                    let auth = auth.trim();
                    let engine = if auth.ends_with('=') {
                        base64::engine::general_purpose::STANDARD
                    } else {
                        base64::engine::general_purpose::STANDARD_NO_PAD
                    };
                    let decoded = engine
                        .decode(auth)
                        .map_err(|e| malformed(format!("{location}: auth is not base64: {e}")))?;
                    let text = String::from_utf8(decoded)
                        .map_err(|_| malformed(format!("{location}: auth is not UTF-8")))?;
                    let (username, password) = text.split_once(':').ok_or_else(|| {
                        malformed(format!("{location}: auth is not user:password"))
                    })?;
                    Credentials {
                        username: username.to_owned(),
                        password: password.to_owned(),
                    }
                }
                (None, _, _) => continue,
            };
            // kubelet logs an entry its URL parser refuses and ignores it.
            let Some(key) = key_of(&location) else {
                tracing::warn!(
                    secret = name,
                    entry = location.as_str(),
                    "a pull secret entry is not a registry URL; kubelet ignores it, and so does the webhook"
                );
                continue;
            };
            entries.push((key, credentials));
        }
        Ok(Self {
            name: name.to_owned(),
            entries,
        })
    }
}

/// One credential kubelet would try for an image, and the secret that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The secret (or file) the credential is from.
    pub secret: &'a str,
    /// The credential.
    pub credentials: &'a Credentials,
}

/// kubelet's key for a `.dockerconfigjson` entry: the host (with port) and the path, without
/// the scheme and with a leading `/v1` or `/v2` dropped (`https://index.docker.io/v1/` →
/// `index.docker.io`, `quay.io/team` → `quay.io/team`). None where Go's URL parser refuses the
/// entry, which kubelet then ignores.
fn key_of(entry: &str) -> Option<String> {
    let schemeless = entry
        .strip_prefix("https://")
        .or_else(|| entry.strip_prefix("http://"))
        .unwrap_or(entry);
    let (host, path) = split_url(schemeless)?;
    let path = match path.get(..4) {
        Some("/v1/" | "/v2/") => &path[3..],
        _ => path,
    };
    Some(if path.is_empty() || path == "/" {
        host.to_owned()
    } else {
        format!("{host}{path}")
    })
}

/// The host (with port) and path of a URL without scheme, as Go's `url.Parse` splits
/// `https://` + it; None where it refuses it (a port that is not digits).
fn split_url(schemeless: &str) -> Option<(&str, &str)> {
    let end = schemeless.find(['/', '?', '#']).unwrap_or(schemeless.len());
    let (authority, rest) = schemeless.split_at(end);
    let path = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let port = match host.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((_, "")) => "",
            Some((_, after)) => after.strip_prefix(':')?,
            None => return None,
        },
        None => host.rsplit_once(':').map_or("", |(_, port)| port),
    };
    port.bytes()
        .all(|b| b.is_ascii_digit())
        .then_some((host, path))
}

/// Go's `net.SplitHostPort`, where an address it refuses is all host and no port (as kubelet's
/// `splitURL` takes it): the host's dot-separated parts and the port.
fn host_parts_and_port(host: &str) -> (Vec<&str>, &str) {
    let (name, port) = match host.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once("]:") {
            Some((name, port)) if !port.contains(':') => (name, port),
            _ => (host, ""),
        },
        None => match host.split_once(':') {
            Some((name, port)) if !port.contains(':') => (name, port),
            _ => (host, ""),
        },
    };
    (name.split('.').collect(), port)
}

/// kubelet's `URLsMatch`: the same port, as many host parts, each part matching its glob, and
/// the key's path a prefix of the image's. Case matters, as in kubelet.
fn key_matches(key: &str, target: &str) -> bool {
    let (Some((key_host, key_path)), Some((target_host, target_path))) =
        (split_url(key), split_url(target))
    else {
        return false;
    };
    let (globs, key_port) = host_parts_and_port(key_host);
    let (parts, target_port) = host_parts_and_port(target_host);
    key_port == target_port
        && globs.len() == parts.len()
        && target_path.starts_with(key_path)
        && globs
            .iter()
            .zip(&parts)
            .all(|(glob, part)| glob::matches(glob, part))
}

/// kubelet's `isDefaultRegistryMatch`: whether `target` is pulled from Docker Hub, whose
/// credentials kubelet also finds under `index.docker.io` (what `docker login` writes).
fn is_docker_hub(target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') {
        return false;
    }
    match target.split_once('/') {
        // `library/ubuntu`'s first part is a namespace; only a host has `.` or `:`.
        Some((first, _)) => {
            matches!(first, "docker.io" | "index.docker.io") || !first.contains(['.', ':'])
        }
        None => true,
    }
}

/// The credentials kubelet tries for the repository `target` (`registry/repository`, as
/// `docker.io/library/nginx`), in its order: every secret's keys in one index, most specific
/// (reverse-sorted) first, a key's credentials in the order of the secrets; Docker Hub images
/// matching no key fall back to `index.docker.io`'s. Empty: kubelet pulls anonymously.
pub fn credentials_for<'a>(secrets: &'a [PullSecret], target: &str) -> Vec<Candidate<'a>> {
    let entries = || {
        secrets.iter().flat_map(|secret| {
            secret
                .entries
                .iter()
                .map(move |(key, credentials)| (key.as_str(), secret.name.as_str(), credentials))
        })
    };
    let under = |wanted: &str| -> Vec<Candidate<'a>> {
        entries()
            .filter(|(key, ..)| *key == wanted)
            .map(|(_, secret, credentials)| Candidate {
                secret,
                credentials,
            })
            .collect()
    };
    let keys: std::collections::BTreeSet<&str> = entries().map(|(key, ..)| key).collect();
    let found: Vec<Candidate<'a>> = keys
        .into_iter()
        .rev()
        .filter(|key| key_matches(key, target))
        .flat_map(under)
        .collect();
    if found.is_empty() && is_docker_hub(target) {
        return under("index.docker.io");
    }
    found
}

/// Go's `path/filepath.Match` for the parts of a host name (no separators in them), which
/// kubelet matches key parts with: `*`, `?`, `[...]` with `^` for negation and ranges, `\`
/// escapes. Not the `glob` crate: its syntax differs (`[!...]`, `**`). A bad pattern matches
/// nothing, as kubelet treats Match's error.
mod glob {
    enum Token {
        Any,
        One,
        Class {
            negated: bool,
            ranges: Vec<(char, char)>,
        },
        Char(char),
    }

    /// A character of a class (`getEsc`): not `-` or `]` unescaped, and not the pattern's end.
    fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
        let c = match chars.next()? {
            '-' | ']' => return None,
            '\\' => chars.next()?,
            c => c,
        };
        chars.peek().is_some().then_some(c)
    }

    fn parse(pattern: &str) -> Option<Vec<Token>> {
        let mut chars = pattern.chars().peekable();
        let mut tokens = Vec::new();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Any,
                '?' => Token::One,
                '\\' => Token::Char(chars.next()?),
                '[' => {
                    let negated = chars.next_if_eq(&'^').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                            break;
                        }
                        let lo = class_char(&mut chars)?;
                        let hi = match chars.next_if_eq(&'-') {
                            Some(_) => class_char(&mut chars)?,
                            None => lo,
                        };
                        ranges.push((lo, hi));
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Char(c),
            });
        }
        Some(tokens)
    }

    fn match_tokens(tokens: &[Token], name: &[char]) -> bool {
        match tokens.split_first() {
            None => name.is_empty(),
            Some((Token::Any, rest)) => (0..=name.len()).any(|i| match_tokens(rest, &name[i..])),
            Some((token, rest)) => name.split_first().is_some_and(|(c, name)| {
                let one = match token {
                    Token::One => true,
                    Token::Char(want) => want == c,
                    Token::Class { negated, ranges } => {
                        ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated
                    }
                    Token::Any => unreachable!("handled above"),
                };
                one && match_tokens(rest, name)
            }),
        }
    }

    /// Whether `name` matches `pattern`; false for a malformed pattern.
    pub fn matches(pattern: &str, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        parse(pattern).is_some_and(|tokens| match_tokens(&tokens, &name))
    }
}

/// Where the pull secrets of a pod come from.
pub trait PullSecrets: Send + Sync {
    /// The pull secrets `pod` may use in `namespace`: its own `imagePullSecrets`, as kubelet
    /// uses them.
    fn for_pod(
        &self,
        pod: &Pod,
        namespace: Option<&str>,
    ) -> impl Future<Output = Result<Vec<PullSecret>, PullSecretError>> + Send;
}

/// Fixed pull secrets for every pod (`inject --pull-secret FILE`, `review --pull-secret FILE`).
#[derive(Debug, Clone, Default)]
pub struct Fixed(pub Vec<PullSecret>);

impl Fixed {
    /// Reads dockerconfigjson files.
    pub fn from_files(paths: &[std::path::PathBuf]) -> Result<Self, PullSecretError> {
        let mut secrets = Vec::new();
        for path in paths {
            let name = path.display().to_string();
            let bytes = std::fs::read(path).map_err(|e| PullSecretError::Unreadable {
                name: name.clone(),
                problem: e.to_string(),
            })?;
            secrets.push(PullSecret::parse(&name, &bytes)?);
        }
        Ok(Self(secrets))
    }
}

impl PullSecrets for Fixed {
    async fn for_pod(
        &self,
        _pod: &Pod,
        _ns: Option<&str>,
    ) -> Result<Vec<PullSecret>, PullSecretError> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(user: &str, password: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    }

    /// A secret `name` holding `user:pw` under each location.
    fn secret(name: &str, entries: &[(&str, &str)]) -> PullSecret {
        let auths: serde_json::Map<String, serde_json::Value> = entries
            .iter()
            .map(|(location, user)| {
                (
                    (*location).to_owned(),
                    serde_json::json!({ "auth": auth(user, "pw") }),
                )
            })
            .collect();
        let json = serde_json::json!({ "auths": auths }).to_string();
        PullSecret::parse(name, json.as_bytes()).expect("parses")
    }

    /// The users kubelet would try for `target`, in order.
    fn users(secrets: &[PullSecret], target: &str) -> Vec<String> {
        credentials_for(secrets, target)
            .iter()
            .map(|c| c.credentials.username.clone())
            .collect()
    }

    #[test]
    fn dockerconfigjson_and_dockercfg_with_auth_or_user_password() {
        let auth = auth("alice", "s3cret");
        let json = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}},
                 "registry.local:5000": {{"username": "bob", "password": "pw"}}}}}}"#
        );
        let secrets = [PullSecret::parse("regcred", json.as_bytes()).expect("parses")];
        let found = credentials_for(&secrets, "docker.io/library/nginx");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].credentials.username, "alice");
        assert_eq!(found[0].secret, "regcred");
        let found = credentials_for(&secrets, "registry.local:5000/app");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].credentials.password, "pw");
        assert!(credentials_for(&secrets, "registry.local/app").is_empty());

        let legacy = format!(r#"{{"quay.io": {{"auth": "{auth}"}}}}"#);
        let secrets = [PullSecret::parse("old", legacy.as_bytes()).expect("parses")];
        assert_eq!(users(&secrets, "quay.io/team/app"), ["alice"]);
        assert!(
            !format!("{secrets:?}").contains("s3cret"),
            "passwords are never printed"
        );
    }

    #[test]
    fn malformed_secrets_name_the_secret_and_the_problem() {
        let err = PullSecret::parse("regcred", b"not json")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("pull secret regcred: "), "{err}");
        let err = PullSecret::parse("regcred", br#"{"auths": {"r": {"auth": "!!"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("r: auth is not base64"), "{err}");
    }

    /// As kubelet reads entries: `auth` wins over `username`/`password`, and an entry with
    /// neither (Docker Desktop's `{}` for a credential helper) is passed over, leaving the
    /// others usable (it had failed every lookup of the pod, public images included).
    #[test]
    fn auth_wins_and_an_empty_entry_is_passed_over() {
        let auth = auth("alice", "s3cret");
        let json = format!(
            r#"{{"auths": {{"registry.local": {{"auth": "{auth}", "username": "bob", "password": "pw"}},
                 "https://index.docker.io/v1/": {{}}}}}}"#
        );
        let secrets = [PullSecret::parse("regcred", json.as_bytes()).expect("parses")];
        assert_eq!(users(&secrets, "registry.local/app"), ["alice"]);
        assert!(credentials_for(&secrets, "docker.io/library/nginx").is_empty());
    }

    /// `auth` with or without base64 padding, as kubelet decodes it ("alice:s3cret" is 12
    /// bytes, so its base64 has no padding; "alice:pw" needs one '='). Unpadded, it had failed
    /// every lookup of the pod although kubelet pulls with it.
    #[test]
    fn auth_is_read_with_or_without_padding() {
        let padded = auth("alice", "pw");
        assert!(padded.ends_with('='), "{padded}");
        let unpadded = padded.trim_end_matches('=');
        for value in [padded.as_str(), unpadded] {
            let json = format!(r#"{{"auths": {{"registry.local": {{"auth": "{value}"}}}}}}"#);
            let secrets = [PullSecret::parse("regcred", json.as_bytes()).expect(value)];
            assert_eq!(users(&secrets, "registry.local/app"), ["alice"], "{value}");
            assert_eq!(
                credentials_for(&secrets, "registry.local/app")[0]
                    .credentials
                    .password,
                "pw"
            );
        }
    }

    /// kubelet's keys: scheme and a leading /v1 or /v2 dropped, the rest of the path kept;
    /// an entry Go's URL parser refuses is ignored.
    #[test]
    fn keys_are_normalised_as_kubelet_normalises_them() {
        assert_eq!(
            key_of("https://index.docker.io/v1/").as_deref(),
            Some("index.docker.io")
        );
        assert_eq!(
            key_of("http://registry.local:5000/v2/team").as_deref(),
            Some("registry.local:5000/team")
        );
        assert_eq!(key_of("quay.io/").as_deref(), Some("quay.io"));
        assert_eq!(key_of("quay.io/team").as_deref(), Some("quay.io/team"));
        assert_eq!(key_of("[::1]:5000").as_deref(), Some("[::1]:5000"));
        assert_eq!(key_of("registry.local:port"), None);
        let secrets = [secret(
            "regcred",
            &[("registry.local:port", "bad"), ("quay.io", "good")],
        )];
        assert_eq!(users(&secrets, "quay.io/app"), ["good"]);
    }

    /// kubelet's `URLsMatch`: each host part a glob, the same number of parts, the same port,
    /// the key's path a prefix of the image's, and case kept.
    #[test]
    fn keys_match_images_by_glob_parts_port_and_path_prefix() {
        let secrets = [secret(
            "regcred",
            &[
                ("*.azurecr.io", "glob"),
                ("registry.local:5000", "port"),
                ("gitlab.local/team", "team"),
                ("r[0-9].local", "range"),
                ("s[^0-9].local", "negated"),
                ("t?.local", "one"),
            ],
        )];
        assert_eq!(users(&secrets, "mine.azurecr.io/app"), ["glob"]);
        assert!(users(&secrets, "a.mine.azurecr.io/app").is_empty());
        assert!(users(&secrets, "azurecr.io/app").is_empty());
        assert_eq!(users(&secrets, "registry.local:5000/app"), ["port"]);
        assert!(users(&secrets, "registry.local/app").is_empty());
        assert!(users(&secrets, "registry.local:5001/app").is_empty());
        assert_eq!(users(&secrets, "gitlab.local/team/app"), ["team"]);
        // A string prefix, as in kubelet: `team` covers `teamwork`.
        assert_eq!(users(&secrets, "gitlab.local/teamwork/app"), ["team"]);
        assert!(users(&secrets, "gitlab.local/other/app").is_empty());
        assert_eq!(users(&secrets, "r7.local/app"), ["range"]);
        assert!(users(&secrets, "rx.local/app").is_empty());
        assert_eq!(users(&secrets, "sx.local/app"), ["negated"]);
        assert!(users(&secrets, "s7.local/app").is_empty());
        // Go's URL parser takes `?` for the start of a query: the key is `t`, matching nothing
        // here (kubelet's `?` glob is unusable in a key).
        assert_eq!(key_of("t?.local").as_deref(), Some("t"));
        assert!(users(&secrets, "tz.local/app").is_empty());
        assert!(users(&secrets, "Registry.local:5000/app").is_empty());
    }

    /// Go's filepath.Match, on which kubelet's part globs rest, including its bad patterns.
    #[test]
    fn part_globs_follow_go_filepath_match() {
        for (pattern, name, want) in [
            ("abc", "abc", true),
            ("*", "", true),
            ("*", "abc", true),
            ("a*c", "abbbc", true),
            ("a*c", "abcd", false),
            ("a*b*c", "axxbyyc", true),
            ("?", "", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[\\]]", "]", true),
            ("\\*", "*", true),
            ("\\*", "x", false),
            // Malformed: match nothing.
            ("[]a]", "]", false),
            ("[a-]", "a", false),
            ("[", "[", false),
            ("a\\", "a", false),
            ("[a", "a", false),
        ] {
            assert_eq!(
                glob::matches(pattern, name),
                want,
                "{pattern:?} against {name:?}"
            );
        }
    }

    /// Every secret's keys in one index, most specific first; a key's credentials in the
    /// secrets' order; Docker Hub falls back to `index.docker.io` only when nothing matched.
    #[test]
    fn candidates_come_in_kubelets_order_with_the_docker_hub_fallback() {
        let secrets = [
            secret("first", &[("quay.io", "host-1"), ("quay.io/team", "team")]),
            secret(
                "second",
                &[
                    ("https://quay.io", "host-2"),
                    ("https://index.docker.io/v1/", "hub"),
                ],
            ),
        ];
        assert_eq!(
            users(&secrets, "quay.io/team/app"),
            ["team", "host-1", "host-2"]
        );
        let found = credentials_for(&secrets, "quay.io/other/app");
        let from: Vec<_> = found.iter().map(|c| c.secret).collect();
        assert_eq!(from, ["first", "second"]);
        assert_eq!(users(&secrets, "docker.io/library/nginx"), ["hub"]);
        assert_eq!(users(&secrets, "docker.io/alice/app"), ["hub"]);
        assert!(users(&secrets, "registry-1.docker.io/alice/app").is_empty());
        assert!(users(&secrets, "ghcr.io/alice/app").is_empty());

        let with_docker_io = [
            secret("hub", &[("index.docker.io", "index")]),
            secret("exact", &[("docker.io/alice", "alice")]),
        ];
        assert_eq!(users(&with_docker_io, "docker.io/alice/app"), ["alice"]);
        assert_eq!(users(&with_docker_io, "docker.io/library/nginx"), ["index"]);
    }
}

//! The `landlock-injector.io/*` annotations, through `webhook::admission::annotations::parse`: maps whose
//! keys are the real settings (pod-level or `<container>.<setting>`, for containers the pod has
//! or not) or anything, and whose values are the words the settings take, lists of them, or
//! anything. What parses must merge as documented: every container's effective paths and ports
//! are the pod's plus its own.

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use init_shim::{Mode, Profile};
use webhook::admission::annotations::{Defaults, PREFIX, parse};

use super::{SETTINGS, VALUES, Word};

const CONTAINERS: &[&str] = &["web", "sidecar", "init", "a.b", "", "Web"];

#[derive(Arbitrary, Debug)]
enum Key {
    Pod(Word),
    Container(Word, Word),
    Any(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    containers: Vec<Word>,
    annotations: Vec<(Key, Word)>,
    default_mode: Option<u8>,
    default_profile: Option<Word>,
}

/// The target.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let containers: Vec<String> = input
        .containers
        .iter()
        .map(|w| w.pick(CONTAINERS))
        .collect();
    let annotations: BTreeMap<String, String> = input
        .annotations
        .iter()
        .map(|(key, value)| {
            let key = match key {
                Key::Pod(setting) => format!("{PREFIX}{}", setting.pick(SETTINGS)),
                Key::Container(container, setting) => format!(
                    "{PREFIX}{}.{}",
                    container.pick(CONTAINERS),
                    setting.pick(SETTINGS)
                ),
                Key::Any(key) => key.clone(),
            };
            (key, value.pick(VALUES))
        })
        .collect();
    let names: Vec<&str> = containers.iter().map(String::as_str).collect();
    let Ok(parsed) = parse(&annotations, &names) else {
        return;
    };
    let defaults = Defaults {
        mode: input
            .default_mode
            .map(|i| Mode::ALL[usize::from(i) % Mode::ALL.len()]),
        profile: input
            .default_profile
            .and_then(|w| Profile::parse(&w.pick(VALUES)).ok()),
    };
    for name in names.iter().chain(["not-a-container"].iter()) {
        let effective = parsed.effective(name, &defaults);
        let own = parsed.containers.get(*name);
        let pod = &parsed.pod;
        kept(name, "path", &pod.paths, own.map(|s| &s.paths), |p| {
            effective.paths.contains(p)
        });
        kept(name, "bind", &pod.bind_tcp, own.map(|s| &s.bind_tcp), |p| {
            effective.bind_tcp.contains(p)
        });
        kept(
            name,
            "connect",
            &pod.connect_tcp,
            own.map(|s| &s.connect_tcp),
            |p| effective.connect_tcp.contains(p),
        );
    }
}

/// Asserts that every `what` the pod and the container itself set is in the container's
/// effective settings.
fn kept<'a, T: std::fmt::Debug + 'a, C: IntoIterator<Item = &'a T> + Copy>(
    name: &str,
    what: &str,
    pod: C,
    own: Option<C>,
    effective_has: impl Fn(&T) -> bool,
) {
    for item in pod.into_iter().chain(own.into_iter().flatten()) {
        assert!(effective_has(item), "{name}: {what} {item:?} lost");
    }
}

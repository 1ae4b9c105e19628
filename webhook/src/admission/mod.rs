//! The admission core: everything that decides what happens to one pod, shared by the programs
//! at the crate's top level (`serve` through [`crate::review`], `inject`, `review`).
//!
//! | module | decides |
//! |---|---|
//! | [`opt_in`] | whether a pod is wrapped at all (pod label, pod annotation, namespace label) |
//! | [`namespaces`], [`namespace_watch`] | where a namespace's labels and annotations come from |
//! | [`decision`] | what happens to an opted-in pod: skip, or an injection and then its edits (pure) |
//! | [`pod_spec`] | the parts of a pod the decision reads, parsed without the rest |
//! | [`annotations`] | what the `landlock-injector.io/*` annotations ask for |
//! | [`policy`] | what a `LandlockPolicy` object asks for, in the annotations' vocabulary |
//! | [`binding`] | which `LandlockPolicy` applies to a pod (by name or `spec.podSelector`) |
//! | [`selector`] | a `spec.podSelector`, checked as the API server checks label selectors |
//! | [`recording`] | which active `LandlockRecording` admits a pod in `mode: learn` |
//! | [`policy_watch`] | the cluster's LandlockPolicies and LandlockRecordings, cached for `serve` |
//! | [`discovery`] | which grants a container's volume mounts imply |
//! | [`entrypoint`] | what a wrapped container runs (command, args, image ENTRYPOINT/CMD) |
//! | [`installer`] | the injected volume, installer and mount; their names; an earlier injection |
//! | [`injected`] | what a pod says about an earlier injection, checked against what the webhook writes |
//! | [`limits`] | what one pod may cost: paths per container, bytes of commands, warnings |
//! | [`edits`] | the typed edits of an injection, addressed to the submitted pod |
//! | [`patch`] | the JSONPatch operations of the edits |
//! | [`resolve`] | where image configurations come from (the registry client is [`crate::registry`]) |
//! | [`config`] | the admission configuration |

pub mod annotations;
pub mod binding;
pub mod config;
pub mod decision;
pub mod discovery;
pub mod edits;
pub mod entrypoint;
pub mod injected;
pub mod installer;
pub mod limits;
pub mod namespace_watch;
pub mod namespaces;
pub mod opt_in;
pub mod patch;
pub mod pod_spec;
pub mod policy;
pub mod policy_watch;
pub mod recording;
pub mod resolve;
pub mod selector;

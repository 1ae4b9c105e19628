//! What a pod says about an earlier injection, checked against what the webhook itself writes.
//!
//! The webhook never trusts a pod's account of itself: "injected" must mean that every
//! container runs the webhook's own shim with the policy its annotations ask for. So on every
//! review, for the names in use (an earlier injection's, see [`crate::admission::installer::existing_names`],
//! or fresh ones):
//!
//! - **the shim volume** is written by the installer only: every other container that mounts it
//!   mounts it read-only, at the shim directory, without `subPath`;
//! - **nothing else is mounted at or under the shim directory** (or over it: a volume at `/`),
//!   and no block device is placed there: a file mounted over `<dir>/landlock-shim` would
//!   replace what every wrapped container runs;
//! - **a command that starts with the shim** is parsed back with the shim's own parser and
//!   re-rendered from the annotations by the decision; what differs is replaced (the pod's own
//!   flags, say `--mode dry-run`, never survive), and what the shim cannot parse is denied.
//!
//! The installer itself is checked where an earlier injection is recognised: the configured
//! image running exactly `/landlock-shim install DIR`, with the shim volume as its only mount.

use init_shim::flags::{self, Command};

use crate::admission::installer::{Names, overlaps};
use crate::admission::limits;
use crate::admission::pod_spec::ContainerView;

/// A pod whose account of an earlier injection does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectedError {
    /// A container other than the installer may write the shim volume, or sees it elsewhere.
    #[error(
        "container {container}: mounts the shim volume {volume} at {mount_path}{how}; only the webhook's installer may write it, and wrapped containers mount it read-only at {dir}; remove this mount"
    )]
    ShimVolume {
        /// The container (quoted).
        container: String,
        /// The volume (quoted).
        volume: String,
        /// Where it is mounted (quoted).
        mount_path: String,
        /// What is wrong with the mount, said after the path.
        how: String,
        /// The shim directory.
        dir: String,
    },
    /// Something else is mounted at, under or over the shim directory.
    #[error(
        "container {container}: {what} {name} at {path} covers the shim directory {dir}, which would replace the landlock-shim that wrapped containers run; move it elsewhere"
    )]
    OverShim {
        /// The container (quoted).
        container: String,
        /// `volume` or `device`.
        what: &'static str,
        /// The volume's name (quoted).
        name: String,
        /// The mount or device path (quoted).
        path: String,
        /// The shim directory.
        dir: String,
    },
    /// A command starts with the shim, but the shim would not run it.
    #[error(
        "container {container}: {field} starts with {shim} but is not a command the shim runs ({error}); write the program's own command and let the webhook wrap it"
    )]
    Unparsable {
        /// The container (quoted).
        container: String,
        /// `command`, or the probe's or hook's field.
        field: String,
        /// The shim's path.
        shim: String,
        /// What the shim's parser said.
        error: String,
    },
}

/// Checks `container`'s mounts and devices against the shim volume and directory of `names`
/// (for every container but the installer).
pub fn check_mounts(container: &ContainerView, names: &Names) -> Result<(), InjectedError> {
    let name = || limits::quoted(&container.name);
    for mount in container.volume_mounts.iter().flatten() {
        if mount.name == names.volume {
            let sub_path = [&mount.sub_path, &mount.sub_path_expr]
                .into_iter()
                .find_map(|p| p.as_deref().filter(|p| !p.is_empty()))
                .unwrap_or_default();
            let how = if mount.mount_path != names.dir {
                Some(String::new())
            } else if !sub_path.is_empty() {
                Some(format!(" with subPath {}", limits::quoted(sub_path)))
            } else if mount.read_only != Some(true) {
                Some(" writable".to_owned())
            } else {
                None
            };
            if let Some(how) = how {
                return Err(InjectedError::ShimVolume {
                    container: name(),
                    volume: limits::quoted(&mount.name),
                    mount_path: limits::quoted(&mount.mount_path),
                    how,
                    dir: names.dir.clone(),
                });
            }
        } else if overlaps(&mount.mount_path, &names.dir) {
            return Err(InjectedError::OverShim {
                container: name(),
                what: "volume",
                name: limits::quoted(&mount.name),
                path: limits::quoted(&mount.mount_path),
                dir: names.dir.clone(),
            });
        }
    }
    for device in container.volume_devices.iter().flatten() {
        if overlaps(&device.device_path, &names.dir) {
            return Err(InjectedError::OverShim {
                container: name(),
                what: "device",
                name: limits::quoted(&device.name),
                path: limits::quoted(&device.device_path),
                dir: names.dir.clone(),
            });
        }
    }
    Ok(())
}

/// The part of `command` after the shim's `--` (the program, or nothing when the program comes
/// from `args`, as for an image whose ENTRYPOINT is empty), for a command that starts with the
/// shim of `names`; `None` for one that does not. The command and its `args` together must be a
/// command line the shim runs. `field` names the command in errors.
pub fn unwrap(
    command: Option<&Vec<String>>,
    args: Option<&Vec<String>>,
    names: &Names,
    container: &str,
    field: &str,
) -> Result<Option<Vec<String>>, InjectedError> {
    let shim = names.shim();
    let Some(rest) = command
        .and_then(|c| c.split_first())
        .and_then(|(first, rest)| (*first == shim).then_some(rest))
    else {
        return Ok(None);
    };
    let fail = |error: String| InjectedError::Unparsable {
        container: limits::quoted(container),
        field: field.to_owned(),
        shim: shim.clone(),
        error,
    };
    // Kubernetes runs command + args: the shim parses both.
    let argv = rest.iter().chain(args.into_iter().flatten()).cloned();
    match flags::parse(argv) {
        Ok(Command::Run { .. }) => {}
        Ok(Command::Install { .. }) => {
            return Err(fail("it is `install`, not a wrapped program".into()));
        }
        Ok(Command::Version | Command::Help) => {
            return Err(fail(
                "it asks for --version or --help, not a program".into(),
            ));
        }
        Err(e) => return Err(fail(e.to_string())),
    }
    // The flags take no value "--", so the first one is the separator the parser stopped at.
    let Some(separator) = rest.iter().position(|a| a == flags::names::SEPARATOR) else {
        return Err(fail(format!(
            "its \"{}\" is in args; the webhook writes it in command",
            flags::names::SEPARATOR
        )));
    };
    Ok(Some(rest[separator + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names() -> Names {
        Names {
            volume: "landlock-shim".into(),
            installer: "landlock-shim-install".into(),
            dir: "/landlock-injector".into(),
        }
    }

    fn container(value: serde_json::Value) -> ContainerView {
        serde_json::from_value(value).expect("container")
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn only_a_read_only_mount_at_the_shim_directory_is_accepted() {
        let ok = container(json!({"name": "app", "volumeMounts": [
            {"name": "landlock-shim", "mountPath": "/landlock-injector", "readOnly": true},
            {"name": "data", "mountPath": "/landlock-injector-data"}]}));
        assert_eq!(check_mounts(&ok, &names()), Ok(()));
        for (mount, expected) in [
            (
                json!({"name": "landlock-shim", "mountPath": "/landlock-injector"}),
                "writable",
            ),
            (
                json!({"name": "landlock-shim", "mountPath": "/opt/shim", "readOnly": true}),
                "at \"/opt/shim\";",
            ),
            (
                json!({"name": "landlock-shim", "mountPath": "/landlock-injector", "readOnly": true, "subPath": "x"}),
                "with subPath \"x\"",
            ),
            (
                json!({"name": "evil", "mountPath": "/landlock-injector/landlock-shim", "subPath": "bin"}),
                "volume \"evil\" at \"/landlock-injector/landlock-shim\" covers the shim directory",
            ),
            (
                json!({"name": "root", "mountPath": "/"}),
                "covers the shim directory",
            ),
        ] {
            let c = container(json!({"name": "app", "volumeMounts": [mount]}));
            let err = check_mounts(&c, &names()).expect_err("refused").to_string();
            assert!(
                err.contains(expected) && err.contains("container \"app\""),
                "{err}"
            );
        }
        let device = container(json!({"name": "app", "volumeDevices": [
            {"name": "disk", "devicePath": "/landlock-injector/landlock-shim"}]}));
        let err = check_mounts(&device, &names())
            .expect_err("refused")
            .to_string();
        assert!(err.contains("device \"disk\""), "{err}");
    }

    #[test]
    fn wrapped_commands_are_parsed_back_to_their_program() {
        let n = names();
        let wrapped = strings(&[
            "/landlock-injector/landlock-shim",
            "--mode",
            "dry-run",
            "--",
            "/usr/bin/web-server",
            "--port",
            "80",
        ]);
        assert_eq!(
            unwrap(Some(&wrapped), None, &n, "web", "command"),
            Ok(Some(strings(&["/usr/bin/web-server", "--port", "80"])))
        );
        // An image without ENTRYPOINT: the program comes from args (the image's CMD).
        let cmd_only = strings(&[
            "/landlock-injector/landlock-shim",
            "--mode",
            "enforce",
            "--",
        ]);
        assert_eq!(
            unwrap(
                Some(&cmd_only),
                Some(&strings(&["/bin/server"])),
                &n,
                "web",
                "command"
            ),
            Ok(Some(vec![]))
        );
        assert!(unwrap(Some(&cmd_only), None, &n, "web", "command").is_err());
        assert_eq!(
            unwrap(Some(&strings(&["/bin/sh"])), None, &n, "web", "command"),
            Ok(None)
        );
        assert_eq!(unwrap(None, None, &n, "web", "command"), Ok(None));
        for bad in [
            strings(&[
                "/landlock-injector/landlock-shim",
                "--frobnicate",
                "--",
                "/x",
            ]),
            strings(&["/landlock-injector/landlock-shim", "--mode", "dry-run"]),
            strings(&["/landlock-injector/landlock-shim", "install", "/tmp"]),
        ] {
            let err = unwrap(Some(&bad), None, &n, "web", "command")
                .expect_err("refused")
                .to_string();
            assert!(
                err.contains(
                    "container \"web\": command starts with /landlock-injector/landlock-shim"
                ),
                "{err}"
            );
        }
    }
}

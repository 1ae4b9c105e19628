//! What a wrapped container runs, following Kubernetes' rules exactly:
//!
//! | spec.command | spec.args | the container runs | wrapped command | wrapped args |
//! |---|---|---|---|---|
//! | set | set | command + args | shim.. -- command | args |
//! | set | empty | command (image CMD dropped) | shim.. -- command | none |
//! | empty | set | ENTRYPOINT + args | shim.. -- ENTRYPOINT | args |
//! | empty | empty | ENTRYPOINT + CMD | shim.. -- ENTRYPOINT | CMD |
//!
//! Setting `command` always drops the image CMD, which is why the last two rows must carry what
//! the image said into the spec, and why an image without `command` in the spec has to be read
//! from its registry. An empty list counts as unset, as in kubelet.

use init_shim::Policy;
use init_shim::flags::render_command;

/// The parts of an image configuration the entrypoint rules need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `ENTRYPOINT`.
    pub entrypoint: Vec<String>,
    /// `CMD`.
    pub cmd: Vec<String>,
}

/// The wrapped command and args of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    /// `[shim, flags..., "--", program...]`.
    pub command: Vec<String>,
    /// The args that follow it (empty: none).
    pub args: Vec<String>,
}

/// Why a container cannot be wrapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntrypointError {
    /// The spec has no command and the image configuration is not known.
    #[error("the spec has no command, so the image's ENTRYPOINT and CMD are needed")]
    NeedImage,
    /// Neither the spec nor the image says what to run.
    #[error(
        "neither the spec nor the image configuration has a command, args, ENTRYPOINT or CMD: nothing to run"
    )]
    NothingToRun,
}

/// Whether `command` leaves the program to the image.
pub fn needs_image(command: Option<&Vec<String>>) -> bool {
    command.is_none_or(Vec::is_empty)
}

/// Wraps a container whose spec says `command` and `args`, running `shim` with `policy`.
pub fn wrap(
    shim: &str,
    policy: &Policy,
    command: Option<&Vec<String>>,
    args: Option<&Vec<String>>,
    image: Option<&ImageConfig>,
) -> Result<Wrapped, EntrypointError> {
    let args: Vec<String> = args.cloned().unwrap_or_default();
    if let Some(command) = command.filter(|c| !c.is_empty()) {
        return Ok(Wrapped {
            command: render_command(shim, policy, command),
            args,
        });
    }
    let image = image.ok_or(EntrypointError::NeedImage)?;
    let args = if args.is_empty() {
        image.cmd.clone()
    } else {
        args
    };
    if image.entrypoint.is_empty() && args.is_empty() {
        return Err(EntrypointError::NothingToRun);
    }
    Ok(Wrapped {
        command: render_command(shim, policy, &image.entrypoint),
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIM: &str = "/landlock-injector/landlock-shim";

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn head() -> Vec<String> {
        render_command(SHIM, &Policy::default(), &[])
    }

    fn with(program: &[&str]) -> Vec<String> {
        let mut out = head();
        out.extend(v(program));
        out
    }

    #[test]
    fn the_four_combinations() {
        let image = ImageConfig {
            entrypoint: v(&["/docker-entrypoint.sh"]),
            cmd: v(&["nginx", "-g", "daemon off;"]),
        };
        let policy = Policy::default();
        let (cmd, args) = (v(&["/app/server"]), v(&["--port", "8080"]));
        let cases = [
            (
                Some(&cmd),
                Some(&args),
                with(&["/app/server"]),
                args.clone(),
            ),
            (Some(&cmd), None, with(&["/app/server"]), vec![]),
            (
                None,
                Some(&args),
                with(&["/docker-entrypoint.sh"]),
                args.clone(),
            ),
            (
                None,
                None,
                with(&["/docker-entrypoint.sh"]),
                image.cmd.clone(),
            ),
        ];
        for (command, spec_args, want_command, want_args) in cases {
            let wrapped = wrap(SHIM, &policy, command, spec_args, Some(&image)).expect("wraps");
            assert_eq!(wrapped.command, want_command, "{command:?} {spec_args:?}");
            assert_eq!(wrapped.args, want_args, "{command:?} {spec_args:?}");
        }
    }

    #[test]
    fn empty_lists_count_as_unset_and_the_image_is_not_needed_with_a_command() {
        let empty = Vec::new();
        assert!(needs_image(Some(&empty)));
        assert!(needs_image(None));
        let cmd = v(&["/bin/app"]);
        assert!(!needs_image(Some(&cmd)));
        let wrapped =
            wrap(SHIM, &Policy::default(), Some(&cmd), Some(&empty), None).expect("wraps");
        assert_eq!(wrapped.args, Vec::<String>::new());
        assert_eq!(
            wrap(SHIM, &Policy::default(), Some(&empty), None, None),
            Err(EntrypointError::NeedImage)
        );
    }

    #[test]
    fn cmd_only_images_and_images_with_nothing() {
        let cmd_only = ImageConfig {
            entrypoint: vec![],
            cmd: v(&["python3", "app.py"]),
        };
        let wrapped = wrap(SHIM, &Policy::default(), None, None, Some(&cmd_only)).expect("wraps");
        assert_eq!(wrapped.command, head());
        assert_eq!(wrapped.args, v(&["python3", "app.py"]));
        assert_eq!(
            wrap(
                SHIM,
                &Policy::default(),
                None,
                None,
                Some(&ImageConfig::default())
            ),
            Err(EntrypointError::NothingToRun)
        );
    }
}

//! The shim's command line: parsing it into a [`Policy`] and rendering a [`Policy`] back into it.
//!
//! The webhook renders with [`render`]; the shim parses with [`parse`]; the two are inverse,
//! so the vocabulary exists once. Grammar (the design brief's contract):
//!
//! ```text
//! landlock-shim [--ro PATH]... [--rx PATH]... [--rw PATH]... [--rwx PATH]... [--list PATH]...
//!               [--bind-tcp PORT]... [--connect-tcp PORT]...
//!               [--bind-udp PORT]... [--connect-udp PORT]...
//!               [--mode enforce|best-effort|dry-run|learn] [--learn-interval D] [--profile NAME]
//!               [--no-discover] [--scope available|required|off] [--no-scope] [--quiet]
//!               -- PROGRAM [ARG]...
//! landlock-shim install DIR
//! landlock-shim --version | --help
//! ```
//!
//! Every flag also accepts `--flag=value`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::access::Access;
use crate::policy::Policy;
use crate::profiles::Profile;
use crate::values::{Interval, Mode, PolicyPath, Port, Scoping, ValueError};

/// The usage text printed by `--help` and referred to by errors.
pub const USAGE: &str = "\
usage: landlock-shim [--ro PATH]... [--rx PATH]... [--rw PATH]... [--rwx PATH]...
                     [--list PATH]...
                     [--bind-tcp PORT]... [--connect-tcp PORT]...
                     [--bind-udp PORT]... [--connect-udp PORT]...
                     [--mode enforce|best-effort|dry-run|learn] [--learn-interval D]
                     [--profile default|minimal|none] [--no-discover]
                     [--scope available|required|off] [--quiet] -- PROGRAM [ARG]...
       landlock-shim install DIR
       landlock-shim --version | --help

  --list PATH        list directories under PATH, without reading any file
  --ro PATH          read files and list directories under PATH
  --rx PATH          --ro plus execute
  --rw PATH          --ro plus every write right (create, remove, rename, truncate, ...)
  --rwx PATH         --rw plus execute
  --bind-tcp PORT    allow binding this TCP port (any port flag restricts TCP to the listed ports)
  --connect-tcp PORT allow connecting to this TCP port
  --bind-udp PORT    allow binding this UDP port (any --bind-udp restricts UDP binds to the
                     listed ports; Landlock ABI 10)
  --connect-udp PORT allow connecting and sending datagrams to this UDP port (any
                     --connect-udp restricts UDP sends to the listed ports; Landlock ABI 10)
  --mode MODE        best-effort (default): apply what the kernel supports, report the rest;
                     enforce: refuse to run unless everything is enforced;
                     dry-run: log the policy and run unrestricted;
                     learn: run unrestricted, record what the program uses, print the
                     policy that lets it run ({\"landlock-learn\":...} lines on stderr)
  --learn-interval D with learn: print what was learned every D when it changed (30s)
  --profile NAME     base paths: default (distribution image), minimal (static binary), none
  --no-discover      do not grant the kubelet-written volumes found in /proc/self/mountinfo
  --scope WHEN       scope signals and abstract UNIX sockets to the sandbox (ABI 6):
                     available (default): where the kernel can, else listed as dropped;
                     required: enforce refuses a kernel without it; off: never
  --no-scope         the same as --scope off
  --quiet            print no startup line unless the sandbox fails or something requested
                     is dropped (for exec probes and lifecycle hooks)
";

/// The flag names, as written on the command line.
pub mod names {
    /// `--bind-tcp PORT`
    pub const BIND_TCP: &str = "--bind-tcp";
    /// `--connect-tcp PORT`
    pub const CONNECT_TCP: &str = "--connect-tcp";
    /// `--mode MODE`
    pub const MODE: &str = "--mode";
    /// `--profile NAME`
    pub const PROFILE: &str = "--profile";
    /// `--no-discover`
    pub const NO_DISCOVER: &str = "--no-discover";
    /// `--no-scope` (the same as `--scope off`)
    pub const NO_SCOPE: &str = "--no-scope";
    /// `--scope available|required|off`
    pub const SCOPE: &str = "--scope";
    /// `--bind-udp PORT`
    pub const BIND_UDP: &str = "--bind-udp";
    /// `--connect-udp PORT`
    pub const CONNECT_UDP: &str = "--connect-udp";
    /// `--quiet`
    pub const QUIET: &str = "--quiet";
    /// `--learn-interval D` (only with `--mode learn`)
    pub const LEARN_INTERVAL: &str = "--learn-interval";
    /// The separator before the program.
    pub const SEPARATOR: &str = "--";
    /// The subcommand the init container runs.
    pub const INSTALL: &str = "install";
}

/// What a shim command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Sandbox and run a program.
    Run {
        /// The requested policy.
        policy: Policy,
        /// The program, looked up in `PATH` like `execvp`.
        program: OsString,
        /// Its arguments (without the program itself).
        args: Vec<OsString>,
    },
    /// Copy the shim into a directory.
    Install {
        /// The directory to copy into.
        dir: PathBuf,
    },
    /// Print the version.
    Version,
    /// Print the usage.
    Help,
}

/// A command line the shim cannot accept. Each message names the flag and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// A flag the shim does not know.
    #[error("unknown flag {0:?} (see landlock-shim --help)")]
    UnknownFlag(String),
    /// A flag that needs a value came last.
    #[error("{flag} needs a value")]
    MissingValue {
        /// The flag.
        flag: String,
    },
    /// A flag's value failed validation.
    #[error("{flag} {source}")]
    InvalidValue {
        /// The flag.
        flag: String,
        /// What is wrong with the value.
        source: ValueError,
    },
    /// A flag that takes one value was given twice.
    #[error("{flag} given twice ({first:?}, then {second:?}); give it once")]
    Repeated {
        /// The flag.
        flag: String,
        /// The first value.
        first: String,
        /// The second value.
        second: String,
    },
    /// A flag or its value is not UTF-8.
    #[error("{0:?} is not valid UTF-8")]
    NotUtf8(OsString),
    /// A flag that takes no value was given one.
    #[error("{flag} takes no value (got {value:?})")]
    UnexpectedValue {
        /// The flag.
        flag: String,
        /// The value given.
        value: String,
    },
    /// A positional argument before `--`.
    #[error("unexpected argument {0:?}: put \"--\" before the program and its arguments")]
    UnexpectedArgument(String),
    /// Nothing after `--`, or no `--` at all.
    #[error("no program given: end the flags with \"-- PROGRAM [ARG]...\"")]
    MissingProgram,
    /// `--learn-interval` without `--mode learn`.
    #[error("--learn-interval {0} only applies to --mode learn")]
    IntervalWithoutLearn(String),
    /// `install` without exactly one directory.
    #[error("install takes exactly one argument, the directory to copy the shim into")]
    InstallUsage,
}

/// Parses the arguments after the program name.
pub fn parse<I>(args: I) -> Result<Command, FlagError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut args = args.into_iter().map(Into::into);
    let mut policy = Policy::default();
    let mut mode_seen: Option<String> = None;
    let mut profile_seen: Option<String> = None;
    let mut interval_seen: Option<String> = None;
    let mut scope_seen: Option<String> = None;
    let mut first = true;

    while let Some(arg) = args.next() {
        if arg == names::SEPARATOR {
            let program = args.next().ok_or(FlagError::MissingProgram)?;
            if let Some(interval) = policy.learn_interval
                && policy.mode != Mode::Learn
            {
                return Err(FlagError::IntervalWithoutLearn(interval.to_string()));
            }
            return Ok(Command::Run {
                policy,
                program,
                args: args.collect(),
            });
        }
        let arg = utf8(arg)?;
        if first && arg == names::INSTALL {
            return parse_install(args);
        }
        first = false;
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = |flag: &str| -> Result<String, FlagError> {
            match inline.clone() {
                Some(value) => Ok(value),
                None => args
                    .next()
                    .ok_or_else(|| FlagError::MissingValue {
                        flag: flag.to_owned(),
                    })
                    .and_then(utf8),
            }
        };
        let invalid = |flag: &str| {
            let flag = flag.to_owned();
            move |source| FlagError::InvalidValue { flag, source }
        };

        if let Some(access) = Access::ALL.into_iter().find(|a| a.flag() == flag) {
            let path = PolicyPath::parse(&value(&flag)?).map_err(invalid(&flag))?;
            policy.grant(path, access);
            continue;
        }
        match flag.as_str() {
            names::BIND_TCP => {
                let port = Port::parse(&value(&flag)?).map_err(invalid(&flag))?;
                policy.bind_tcp.insert(port);
            }
            names::CONNECT_TCP => {
                let port = Port::parse(&value(&flag)?).map_err(invalid(&flag))?;
                policy.connect_tcp.insert(port);
            }
            names::BIND_UDP => {
                let port = Port::parse(&value(&flag)?).map_err(invalid(&flag))?;
                policy.bind_udp.insert(port);
            }
            names::CONNECT_UDP => {
                let port = Port::parse(&value(&flag)?).map_err(invalid(&flag))?;
                policy.connect_udp.insert(port);
            }
            names::SCOPE => {
                let given = value(&flag)?;
                once(names::SCOPE, &mut scope_seen, &given)?;
                policy.scope = Scoping::parse(&given).map_err(invalid(&flag))?;
            }
            names::MODE => {
                let given = value(&flag)?;
                once(&flag, &mut mode_seen, &given)?;
                policy.mode = Mode::parse(&given).map_err(invalid(&flag))?;
            }
            names::PROFILE => {
                let given = value(&flag)?;
                once(&flag, &mut profile_seen, &given)?;
                policy.profile = Profile::parse(&given).map_err(invalid(&flag))?;
            }
            names::LEARN_INTERVAL => {
                let given = value(&flag)?;
                once(&flag, &mut interval_seen, &given)?;
                policy.learn_interval = Some(Interval::parse(&given).map_err(invalid(&flag))?);
            }
            names::NO_DISCOVER | names::NO_SCOPE | names::QUIET => {
                if let Some(value) = inline {
                    return Err(FlagError::UnexpectedValue { flag, value });
                }
                match flag.as_str() {
                    names::NO_DISCOVER => policy.discover = false,
                    names::NO_SCOPE => {
                        once(names::SCOPE, &mut scope_seen, Scoping::Off.name())?;
                        policy.scope = Scoping::Off;
                    }
                    _ => policy.quiet = true,
                }
            }
            "--version" | "-V" => return Ok(Command::Version),
            "--help" | "-h" => return Ok(Command::Help),
            _ if flag.starts_with('-') => return Err(FlagError::UnknownFlag(flag)),
            _ => return Err(FlagError::UnexpectedArgument(flag)),
        }
    }
    Err(FlagError::MissingProgram)
}

/// Renders `policy` as shim flags, without the `--` separator. Defaults are written out so that
/// a pod spec says what the shim will do without the reader knowing the defaults.
pub fn render(policy: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    for grant in &policy.paths {
        out.push(grant.access.flag().to_owned());
        out.push(grant.path.to_string());
    }
    for port in &policy.bind_tcp {
        out.push(names::BIND_TCP.to_owned());
        out.push(port.to_string());
    }
    for port in &policy.connect_tcp {
        out.push(names::CONNECT_TCP.to_owned());
        out.push(port.to_string());
    }
    for port in &policy.bind_udp {
        out.push(names::BIND_UDP.to_owned());
        out.push(port.to_string());
    }
    for port in &policy.connect_udp {
        out.push(names::CONNECT_UDP.to_owned());
        out.push(port.to_string());
    }
    out.push(names::MODE.to_owned());
    out.push(policy.mode.name().to_owned());
    if let Some(interval) = policy.learn_interval {
        out.push(names::LEARN_INTERVAL.to_owned());
        out.push(interval.to_string());
    }
    out.push(names::PROFILE.to_owned());
    out.push(policy.profile.name().to_owned());
    if !policy.discover {
        out.push(names::NO_DISCOVER.to_owned());
    }
    // The default (`available`) is not written out, so that pod specs wrapped before `--scope`
    // existed read the same; `off` is written as `--scope off` (`--no-scope` still parses).
    if policy.scope != Scoping::Available {
        out.push(names::SCOPE.to_owned());
        out.push(policy.scope.name().to_owned());
    }
    if policy.quiet {
        out.push(names::QUIET.to_owned());
    }
    out
}

/// Renders a whole command: `[shim, flags..., "--", program_and_args...]`.
pub fn render_command(shim: &str, policy: &Policy, program_and_args: &[String]) -> Vec<String> {
    let mut out = vec![shim.to_owned()];
    out.extend(render(policy));
    out.push(names::SEPARATOR.to_owned());
    out.extend(program_and_args.iter().cloned());
    out
}

fn parse_install(mut args: impl Iterator<Item = OsString>) -> Result<Command, FlagError> {
    match (args.next(), args.next()) {
        (Some(dir), None) if !dir.is_empty() && !dir.to_string_lossy().starts_with('-') => {
            Ok(Command::Install { dir: dir.into() })
        }
        _ => Err(FlagError::InstallUsage),
    }
}

fn once(flag: &str, seen: &mut Option<String>, given: &str) -> Result<(), FlagError> {
    match seen.replace(given.to_owned()) {
        Some(first) => Err(FlagError::Repeated {
            flag: flag.to_owned(),
            first,
            second: given.to_owned(),
        }),
        None => Ok(()),
    }
}

fn utf8(arg: OsString) -> Result<String, FlagError> {
    arg.into_string().map_err(FlagError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<(Policy, Vec<String>), FlagError> {
        match parse(args.iter().copied())? {
            Command::Run {
                policy,
                program,
                args,
            } => {
                let mut argv = vec![program.to_string_lossy().into_owned()];
                argv.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
                Ok((policy, argv))
            }
            other => panic!("expected Run, got {other:?}"),
        }
    }

    #[test]
    fn parses_every_flag() -> Result<(), FlagError> {
        let (policy, argv) = run(&[
            "--ro",
            "/etc/app",
            "--rx=/opt/bin",
            "--rw",
            "/data",
            "--rwx",
            "/scratch",
            "--bind-tcp",
            "8080",
            "--connect-tcp=443",
            "--connect-tcp",
            "5432",
            "--bind-udp",
            "5353",
            "--connect-udp=53",
            "--mode",
            "enforce",
            "--profile=minimal",
            "--no-discover",
            "--no-scope",
            "--quiet",
            "--",
            "python3",
            "-m",
            "http.server",
            "--ro",
        ])?;
        assert_eq!(argv, ["python3", "-m", "http.server", "--ro"]);
        let paths: Vec<_> = policy
            .paths
            .iter()
            .map(|g| (g.access, g.path.as_str()))
            .collect();
        assert_eq!(
            paths,
            [
                (Access::Ro, "/etc/app"),
                (Access::Rx, "/opt/bin"),
                (Access::Rw, "/data"),
                (Access::Rwx, "/scratch")
            ]
        );
        assert_eq!(
            policy.bind_tcp.iter().map(|p| p.get()).collect::<Vec<_>>(),
            [8080]
        );
        assert_eq!(
            policy
                .connect_tcp
                .iter()
                .map(|p| p.get())
                .collect::<Vec<_>>(),
            [443, 5432]
        );
        assert_eq!(
            policy.bind_udp.iter().map(|p| p.get()).collect::<Vec<_>>(),
            [5353]
        );
        assert_eq!(
            policy
                .connect_udp
                .iter()
                .map(|p| p.get())
                .collect::<Vec<_>>(),
            [53]
        );
        assert_eq!(policy.mode, Mode::Enforce);
        assert_eq!(policy.profile, Profile::Minimal);
        assert!(!policy.discover && policy.scope == Scoping::Off && policy.quiet);
        Ok(())
    }

    #[test]
    fn render_then_parse_is_the_identity() -> Result<(), Box<dyn std::error::Error>> {
        let mut policy = Policy::default();
        for (path, access) in [("/b", Access::Rw), ("/a", Access::Ro), ("/", Access::Rx)] {
            policy.grant(PolicyPath::parse(path)?, access);
        }
        policy.bind_tcp.insert(Port::parse("8443")?);
        policy.connect_tcp.insert(Port::parse("53")?);
        policy.connect_udp.insert(Port::parse("53")?);
        policy.bind_udp.insert(Port::parse("5353")?);
        let variants = [
            Policy::default(),
            policy.clone(),
            Policy {
                mode: Mode::DryRun,
                profile: Profile::None,
                discover: false,
                ..policy.clone()
            },
            Policy {
                mode: Mode::Enforce,
                scope: Scoping::Off,
                quiet: true,
                ..policy.clone()
            },
            Policy {
                mode: Mode::Enforce,
                scope: Scoping::Required,
                ..policy.clone()
            },
            Policy {
                mode: Mode::Learn,
                learn_interval: Some(Interval::parse("5m")?),
                ..policy
            },
        ];
        for policy in variants {
            let argv = render_command(
                "/shim/landlock-shim",
                &policy,
                &["app".into(), "--x".into()],
            );
            let (parsed, program) = run(&argv[1..].iter().map(String::as_str).collect::<Vec<_>>())?;
            assert_eq!(parsed, policy, "{argv:?}");
            assert_eq!(program, ["app", "--x"]);
        }
        Ok(())
    }

    #[test]
    fn render_spells_out_defaults() {
        assert_eq!(
            render(&Policy::default()),
            ["--mode", "best-effort", "--profile", "default"]
        );
    }

    #[test]
    fn bad_values_name_the_flag_and_the_value() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--ro", "etc", "--", "x"],
                "--ro \"etc\": path must be absolute",
            ),
            (
                &["--rw=/a/../b", "--", "x"],
                "--rw \"/a/../b\": path has a '..' element",
            ),
            (
                &["--bind-tcp", "0", "--", "x"],
                "--bind-tcp \"0\": port out of range",
            ),
            (
                &["--connect-tcp", "70000", "--", "x"],
                "--connect-tcp \"70000\": port out of range",
            ),
            (
                &["--mode", "strict", "--", "x"],
                "--mode \"strict\": unknown mode",
            ),
            (
                &["--profile", "alpine", "--", "x"],
                "--profile \"alpine\": unknown profile",
            ),
            (
                &["--mode", "enforce", "--mode", "dry-run", "--", "x"],
                "--mode given twice",
            ),
            (
                &["--frobnicate", "--", "x"],
                "unknown flag \"--frobnicate\"",
            ),
            (&["--ro"], "--ro needs a value"),
            (&["--ro", "/a"], "no program given"),
            (&["--ro", "/a", "--"], "no program given"),
            (
                &["--ro", "/a", "python3"],
                "unexpected argument \"python3\"",
            ),
            (&["--no-scope=yes", "--", "x"], "--no-scope takes no value"),
            (
                &["--bind-udp", "0", "--", "x"],
                "--bind-udp \"0\": port out of range",
            ),
            (&["--connect-udp=dns", "--", "x"], "--connect-udp \"dns\": "),
            (
                &["--scope", "always", "--", "x"],
                "--scope \"always\": unknown scope (expected available, required or off)",
            ),
            (
                &["--scope", "required", "--no-scope", "--", "x"],
                "--scope given twice (\"required\", then \"off\")",
            ),
            (&["--quiet=1", "--", "x"], "--quiet takes no value"),
            (
                &["--learn-interval", "10s", "--", "x"],
                "--learn-interval 10s only applies to --mode learn",
            ),
            (
                &["--mode", "learn", "--learn-interval", "10", "--", "x"],
                "--learn-interval \"10\": unknown unit",
            ),
            (&["install"], "install takes exactly one argument"),
            (
                &["install", "/a", "/b"],
                "install takes exactly one argument",
            ),
        ];
        for (args, expected) in cases {
            let err = parse(args.iter().copied()).expect_err(expected);
            assert!(err.to_string().starts_with(expected), "{args:?}: got {err}");
        }
    }

    #[test]
    fn install_version_and_help() {
        assert_eq!(
            parse(["install", "/shim"]),
            Ok(Command::Install {
                dir: "/shim".into()
            })
        );
        assert_eq!(parse(["--version"]), Ok(Command::Version));
        assert_eq!(parse(["-h"]), Ok(Command::Help));
        // "install" is only a subcommand in first position; after "--" it is a program.
        assert!(matches!(parse(["--", "install"]), Ok(Command::Run { .. })));
    }

    #[test]
    fn non_utf8_program_arguments_pass_through() -> Result<(), FlagError> {
        use std::os::unix::ffi::OsStringExt;
        let odd = OsString::from_vec(vec![b'a', 0xff]);
        let parsed = parse([OsString::from("--"), OsString::from("prog"), odd.clone()])?;
        assert_eq!(
            parsed,
            Command::Run {
                policy: Policy::default(),
                program: "prog".into(),
                args: vec![odd]
            }
        );
        Ok(())
    }
}

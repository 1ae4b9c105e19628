//! The shim's command line, through `init_shim::flags::parse`: sequences of its own flags and
//! values (inline `--flag=value` too), arbitrary strings and non-UTF-8 bytes. A command line it
//! accepts must survive the webhook's way of writing one: `flags::render` of the parsed
//! policy, then the program and its arguments, parses back to the very same command.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use arbitrary::{Arbitrary, Unstructured};
use init_shim::flags::{Command, parse, render};

use super::Word;

const WORDS: &[&str] = &[
    "--ro",
    "--rx",
    "--rw",
    "--rwx",
    "--bind-tcp",
    "--connect-tcp",
    "--mode",
    "--profile",
    "--no-discover",
    "--no-scope",
    "--",
    "install",
    "--version",
    "--help",
    "-h",
    "-V",
    "--ro=/srv",
    "--mode=enforce",
    "--no-scope=yes",
    "/srv",
    "/etc",
    "/",
    "/tmp/../etc",
    "//x",
    "/x/",
    "relative",
    "",
    "0",
    "1",
    "8080",
    "65535",
    "65536",
    "-1",
    "enforce",
    "best-effort",
    "dry-run",
    "learn",
    "default",
    "minimal",
    "none",
    "python3",
];

#[derive(Arbitrary, Debug)]
enum Arg {
    Word(Word),
    Bytes(Vec<u8>),
}

/// The target.
pub fn run(data: &[u8]) {
    let Ok(args) = Vec::<Arg>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let args: Vec<OsString> = args
        .into_iter()
        .map(|arg| match arg {
            Arg::Word(word) => OsString::from(word.pick(WORDS)),
            Arg::Bytes(bytes) => OsString::from_vec(bytes),
        })
        .collect();
    let Ok(Command::Run {
        policy,
        program,
        args: program_args,
    }) = parse(args.clone())
    else {
        return;
    };
    let mut written: Vec<OsString> = render(&policy).into_iter().map(OsString::from).collect();
    written.push(OsString::from("--"));
    written.push(program.clone());
    written.extend(program_args.iter().cloned());
    let again = parse(written.clone());
    assert_eq!(
        again,
        Ok(Command::Run {
            policy,
            program,
            args: program_args
        }),
        "{args:?} parsed, was written as {written:?}, which parses differently"
    );
}

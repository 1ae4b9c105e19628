//! Audit records as the denial reporter reads them, through `webhook::denials::record::parse_line`
//! (and so `record::parse`) and `webhook::denials::joiner::Joiner`. The input is text, one record
//! a line as auditd writes them (the seeds are the records captured on this project's CI kernel:
//! fs, net and scope blockers, hex-encoded paths with a space or a control byte), so the fuzzer
//! mutates real records rather than structures of its own.
//!
//! Checks besides "no panic, no hang": every string a parsed record holds is bounded by the
//! line it came from; a parsed record written back in the kernel's format (untrusted strings
//! hex-encoded, as `audit_log_untrustedstring` does) parses to the same record; the joiner holds
//! at most its bound of incomplete events and hands on every denied access exactly once.

use std::time::{Duration, Instant};

use webhook::denials::joiner::{Joined, Joiner};
use webhook::denials::record::{self, Access, Body, Object, Record};

/// The joiner's bound on incomplete events: small, so inputs reach the eviction path.
const MAX_IN_FLIGHT: usize = 3;
/// The joiner's linger, against a clock that advances one millisecond a line.
const LINGER: Duration = Duration::from_millis(4);

/// Runs the lines of `data` through the parser and the parsed records through a joiner.
pub fn run(data: &[u8]) {
    let start = Instant::now();
    let mut joiner = Joiner::new(MAX_IN_FLIGHT, LINGER);
    let mut accesses = 0usize;
    let mut allocated = 0usize;
    let mut out = Vec::new();
    for (i, line) in data.split(|b| *b == b'\n').enumerate() {
        let Ok(parsed) = record::parse_line(line) else {
            continue;
        };
        check_bounded(&parsed, line.len());
        check_round_trip(&parsed);
        match &parsed.body {
            Body::Access(_) => accesses += 1,
            Body::DomainAllocated(_) => allocated += 1,
            _ => {}
        }
        let now = start + Duration::from_millis(i as u64);
        out.extend(joiner.push(parsed, now));
        out.extend(joiner.expire(now));
        assert!(
            joiner.in_flight() <= MAX_IN_FLIGHT,
            "{} events in flight, bound {MAX_IN_FLIGHT}",
            joiner.in_flight()
        );
    }
    out.extend(joiner.expire(start + Duration::from_secs(3600)));
    assert_eq!(joiner.in_flight(), 0, "events left after the linger");
    let denials = out
        .iter()
        .filter(|j| matches!(j, Joined::Denial(_)))
        .count();
    assert_eq!(denials, accesses, "denials handed on vs access records");
    let domains = out
        .iter()
        .filter(|j| matches!(j, Joined::Allocated(..)))
        .count();
    assert_eq!(
        domains, allocated,
        "domains handed on vs allocation records"
    );
}

/// Every string of a record comes from its line: at most three bytes (U+FFFD) per input byte.
fn check_bounded(parsed: &Record, line_len: usize) {
    let strings: usize = match &parsed.body {
        Body::Access(access) => {
            access.blockers.iter().map(String::len).sum::<usize>()
                + match &access.object {
                    Object::Path { path, dev, .. } => {
                        path.len() + dev.as_ref().map_or(0, String::len)
                    }
                    Object::Port { addr, .. } => addr.as_ref().map_or(0, String::len),
                    Object::Process { comm, .. } => comm.len(),
                    Object::Socket { name } => name.len(),
                    Object::None => 0,
                }
        }
        Body::DomainAllocated(a) => a.exe.len() + a.comm.len(),
        Body::Syscall(s) => s.exe.len() + s.comm.len(),
        _ => 0,
    };
    assert!(
        strings <= 3 * line_len,
        "{strings} bytes of strings from a {line_len}-byte line: {parsed:?}"
    );
}

/// Writes `parsed` back as the kernel would and parses it again.
fn check_round_trip(parsed: &Record) {
    let (record_type, fields) = render(&parsed.body);
    let stamp = parsed.stamp;
    let payload = format!(
        "audit({}.{:03}:{}): {fields}",
        stamp.seconds, stamp.millis, stamp.serial
    );
    let again = record::parse(record_type, payload.as_bytes())
        .unwrap_or_else(|e| panic!("{parsed:?} written as {payload:?} does not parse: {e}"));
    assert_eq!(&again, parsed, "written as {payload:?}");
}

/// The record type and fields the kernel would write for `body`.
fn render(body: &Body) -> (u16, String) {
    match body {
        Body::Access(access) => (record::AUDIT_LANDLOCK_ACCESS, render_access(access)),
        Body::DomainAllocated(a) => (
            record::AUDIT_LANDLOCK_DOMAIN,
            format!(
                "domain={} status=allocated mode=enforcing pid={} uid={} exe={} comm={}",
                a.domain,
                a.pid,
                a.uid,
                untrusted_text(&a.exe),
                untrusted_text(&a.comm)
            ),
        ),
        Body::DomainReleased { domain, denials } => (
            record::AUDIT_LANDLOCK_DOMAIN,
            format!("domain={domain} status=deallocated denials={denials}"),
        ),
        Body::Syscall(s) => (
            record::AUDIT_SYSCALL,
            format!(
                "arch=c000003e syscall={} success=no{} ppid={} pid={} comm={} exe={}",
                s.syscall,
                s.exit.map(|e| format!(" exit={e}")).unwrap_or_default(),
                s.ppid,
                s.pid,
                untrusted_text(&s.comm),
                untrusted_text(&s.exe)
            ),
        ),
        Body::EndOfEvent => (record::AUDIT_EOE, String::new()),
        Body::ConfigChange { audit_enabled } => (
            record::AUDIT_CONFIG_CHANGE,
            audit_enabled
                .map(|n| format!("op=set audit_enabled={n} old=1"))
                .unwrap_or_default(),
        ),
        Body::Other(record_type) => (*record_type, String::new()),
    }
}

fn render_access(access: &Access) -> String {
    let mut fields = format!(
        "domain={} blockers={}",
        access.domain,
        access.blockers.join(",")
    );
    let object = match &access.object {
        // The path last: a bare `dev=` value written last could end in bytes the parser trims.
        Object::Path { path, dev, ino } => format!(
            "{}{} path={}",
            dev.as_deref()
                .map(|d| format!(" dev={}", plain(d)))
                .unwrap_or_default(),
            ino.map(|i| format!(" ino={i}")).unwrap_or_default(),
            untrusted_text(path),
        ),
        Object::Port { port, addr, .. } => format!(
            "{} dest={port}",
            addr.as_deref()
                .map(|a| format!(" daddr={}", plain(a)))
                .unwrap_or_default()
        ),
        Object::Process { pid, comm } => {
            format!(" opid={pid} ocomm={}", untrusted_text(comm))
        }
        // An abstract socket's name is a NUL byte and the name; shown with `@`.
        Object::Socket { name } => match name.strip_prefix('@') {
            Some(rest) => format!(" path=00{}", untrusted_text(rest)),
            None => format!(" path={}", untrusted_text(name)),
        },
        Object::None => String::new(),
    };
    fields.push_str(&object);
    fields
}

/// An untrusted string as `audit_log_untrustedstring` writes one it does not print: upper-case
/// hex.
fn untrusted(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A parsed record's string (escaped text, `init_shim::path_text`) written as the kernel wrote
/// its bytes.
fn untrusted_text(text: &str) -> String {
    let bytes = init_shim::path_text::decode(text)
        .unwrap_or_else(|e| panic!("a parsed record's string {text:?} is not escaped text: {e}"));
    untrusted(&bytes)
}

/// A trusted value (`dev=`, `daddr=`): quoted unless it holds a quote (then it was written bare,
/// so it holds no space and does not start with a quote).
fn plain(value: &str) -> String {
    if value.contains('"') {
        value.to_owned()
    } else {
        format!("\"{value}\"")
    }
}

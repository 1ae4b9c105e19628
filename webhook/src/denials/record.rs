//! One audit record, parsed: a pure function from the bytes the kernel sends (or auditd writes)
//! to the fields the reporter uses. Nothing here touches the system, so the fuzz harness and the
//! parser tests call it directly.
//!
//! The kernel's format (`kernel/audit.c`, `security/landlock/audit.c`): a payload
//! `audit(SECONDS.MILLIS:SERIAL): key=value key=value ...`. Values are bare (`pid=42`), quoted
//! (`path="/etc/shadow"`), or, for strings the kernel does not trust (paths, `exe`, `comm`,
//! `ocomm`, `proctitle`), hex when they hold a space, a quote, a control byte or a byte above
//! 0x7e (`path=2F7372762F612062` is `/srv/a b`). Records of one event share the serial.

use std::fmt;

use init_shim::path_text;

/// `AUDIT_SYSCALL`: the system call an event happened in (pid, comm, exe).
pub const AUDIT_SYSCALL: u16 = 1300;
/// `AUDIT_CONFIG_CHANGE`: audit's own configuration changed (`audit_enabled=`).
pub const AUDIT_CONFIG_CHANGE: u16 = 1305;
/// `AUDIT_EOE`: the end of a multi-record event.
pub const AUDIT_EOE: u16 = 1320;
/// `AUDIT_LANDLOCK_ACCESS`: a denied access.
pub const AUDIT_LANDLOCK_ACCESS: u16 = 1423;
/// `AUDIT_LANDLOCK_DOMAIN`: a Landlock domain's allocation or release.
pub const AUDIT_LANDLOCK_DOMAIN: u16 = 1424;

/// Why a record could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit record type {record_type}: {problem}")]
pub struct ParseError {
    /// The record type (0 when the line did not say).
    pub record_type: u16,
    /// What was wrong.
    pub problem: String,
}

fn error(record_type: u16, problem: impl Into<String>) -> ParseError {
    ParseError {
        record_type,
        problem: problem.into(),
    }
}

/// When a record was emitted and which event it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    /// Seconds since the epoch.
    pub seconds: u64,
    /// Milliseconds within the second.
    pub millis: u32,
    /// The event's serial number, shared by the records of one event.
    pub serial: u64,
}

/// A Landlock domain ID (hexadecimal in records; never reused while the system runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainId(pub u64);

impl fmt::Display for DomainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// A parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Time and serial.
    pub stamp: Stamp,
    /// What it says.
    pub body: Body,
}

/// What a record says, for the types the reporter reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `AUDIT_LANDLOCK_ACCESS`.
    Access(Access),
    /// `AUDIT_LANDLOCK_DOMAIN` with `status=allocated`.
    DomainAllocated(Allocated),
    /// `AUDIT_LANDLOCK_DOMAIN` with `status=deallocated`.
    DomainReleased {
        /// The domain.
        domain: DomainId,
        /// Every denial of its lifetime, logged or not.
        denials: u64,
    },
    /// `AUDIT_SYSCALL`.
    Syscall(Syscall),
    /// `AUDIT_EOE`.
    EndOfEvent,
    /// `AUDIT_CONFIG_CHANGE`; `Some` when it switched auditing (`audit_enabled=N`).
    ConfigChange {
        /// The new `audit_enabled` value.
        audit_enabled: Option<u32>,
    },
    /// Any other record type (its fields are not read).
    Other(u16),
}

/// A denied access (`AUDIT_LANDLOCK_ACCESS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The domain that denied it.
    pub domain: DomainId,
    /// The missing rights, as the kernel names them (`fs.read_file`, `net.connect_tcp`, ...).
    pub blockers: Vec<String>,
    /// What was accessed.
    pub object: Object,
}

/// The object of a denied access.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Object {
    /// A file or directory (`path=`, `dev=`, `ino=`).
    Path {
        /// The path's exact bytes (decoded from hex when the kernel wrote hex), in the escape
        /// form of `init_shim::path_text` (`\\xHH` for bytes that are not printable UTF-8).
        path: String,
        /// The device name.
        dev: Option<String>,
        /// The inode number.
        ino: Option<u64>,
    },
    /// A TCP or UDP port (`dest=` on connect or send, `src=` on bind), with the address when
    /// given.
    Port {
        /// UDP (`net.bind_udp`, `net.connect_send_udp`, Landlock ABI 10), else TCP.
        udp: bool,
        /// The port.
        port: u16,
        /// `daddr=` or `saddr=`.
        addr: Option<String>,
    },
    /// A process that was to receive a signal (`opid=`, `ocomm=`).
    Process {
        /// Its pid.
        pid: u32,
        /// Its command name.
        comm: String,
    },
    /// A UNIX socket (`path=`; an abstract name starts with `@`).
    Socket {
        /// The socket's name.
        name: String,
    },
    /// No object fields.
    None,
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Path { path, .. } => f.write_str(path),
            Object::Port { udp, port, addr } => {
                let protocol = if *udp { "udp" } else { "tcp" };
                match addr {
                    Some(addr) => write!(f, "{protocol} {addr}:{port}"),
                    None => write!(f, "{protocol} port {port}"),
                }
            }
            Object::Process { pid, comm } => write!(f, "pid {pid} ({comm})"),
            Object::Socket { name } => write!(f, "unix socket {name}"),
            Object::None => f.write_str("-"),
        }
    }
}

/// A domain's creation, as logged with its first denial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocated {
    /// The domain.
    pub domain: DomainId,
    /// The process that created it (landlock_restrict_self), in the initial pid namespace.
    pub pid: u32,
    /// Its uid.
    pub uid: u32,
    /// Its executable at that time.
    pub exe: String,
    /// Its command name at that time.
    pub comm: String,
}

/// The system call an event happened in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    /// The calling process, in the initial pid namespace.
    pub pid: u32,
    /// Its parent.
    pub ppid: u32,
    /// The system call number.
    pub syscall: u32,
    /// The return value (`-13` is EACCES).
    pub exit: Option<i64>,
    /// The command name.
    pub comm: String,
    /// The executable.
    pub exe: String,
}

/// Parses one record given its netlink message type and payload (`audit(...): fields`).
pub fn parse(record_type: u16, payload: &[u8]) -> Result<Record, ParseError> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| error(record_type, "payload is not UTF-8"))?
        .trim_end_matches(['\0', '\n', ' ']);
    let (stamp, fields) = split_stamp(record_type, text)?;
    let body = match record_type {
        AUDIT_LANDLOCK_ACCESS => Body::Access(access(&Fields::parse(record_type, fields)?)?),
        AUDIT_LANDLOCK_DOMAIN => domain(&Fields::parse(record_type, fields)?)?,
        AUDIT_SYSCALL => Body::Syscall(syscall(&Fields::parse(record_type, fields)?)?),
        AUDIT_EOE => Body::EndOfEvent,
        AUDIT_CONFIG_CHANGE => Body::ConfigChange {
            // Other config changes (rules, features) have fields we do not read.
            audit_enabled: Fields::parse(record_type, fields)
                .ok()
                .and_then(|f| f.get("audit_enabled").and_then(|v| v.parse().ok())),
        },
        other => Body::Other(other),
    };
    Ok(Record { stamp, body })
}

/// Parses one line as auditd writes it (`type=1423 msg=audit(...): ...`, also
/// `type=LANDLOCK_ACCESS msg=...`) or as the kernel prints it to its log
/// (`audit: type=1423 audit(...): ...`).
pub fn parse_line(line: &[u8]) -> Result<Record, ParseError> {
    let text = std::str::from_utf8(line).map_err(|_| error(0, "line is not UTF-8"))?;
    let text = text.trim();
    let rest = text
        .find("type=")
        .map(|at| &text[at + "type=".len()..])
        .ok_or_else(|| error(0, "no type= field"))?;
    let (name, rest) = rest
        .split_once(' ')
        .ok_or_else(|| error(0, "nothing after type="))?;
    let record_type =
        type_number(name).ok_or_else(|| error(0, format!("unknown type {name:?}")))?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("msg=").unwrap_or(rest);
    parse(record_type, rest.as_bytes())
}

fn type_number(name: &str) -> Option<u16> {
    match name {
        "SYSCALL" => Some(AUDIT_SYSCALL),
        "CONFIG_CHANGE" => Some(AUDIT_CONFIG_CHANGE),
        "EOE" => Some(AUDIT_EOE),
        "LANDLOCK_ACCESS" => Some(AUDIT_LANDLOCK_ACCESS),
        "LANDLOCK_DOMAIN" => Some(AUDIT_LANDLOCK_DOMAIN),
        number => number.parse().ok(),
    }
}

fn split_stamp(record_type: u16, text: &str) -> Result<(Stamp, &str), ParseError> {
    let bad = |what: &str| error(record_type, format!("{what} in {:?}", truncate(text)));
    let inner = text
        .strip_prefix("audit(")
        .ok_or_else(|| bad("no audit( prefix"))?;
    let (stamp, rest) = inner.split_once(')').ok_or_else(|| bad("no closing )"))?;
    let fields = rest
        .strip_prefix(':')
        .ok_or_else(|| bad("no : after the stamp"))?;
    let (time, serial) = stamp.split_once(':').ok_or_else(|| bad("no serial"))?;
    let (seconds, millis) = time.split_once('.').ok_or_else(|| bad("no milliseconds"))?;
    let stamp = Stamp {
        seconds: seconds.parse().map_err(|_| bad("bad seconds"))?,
        millis: millis.parse().map_err(|_| bad("bad milliseconds"))?,
        serial: serial.parse().map_err(|_| bad("bad serial"))?,
    };
    Ok((stamp, fields.trim_start()))
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(120) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// A bare value and what follows it: up to the next space, and on through the words after it
/// that are not `key=value` (the kernel writes some values with a space unescaped: AppArmor's
/// `subj=cri-containerd.apparmor.d (enforce)` in every SYSCALL record of a confined process).
fn bare_value(text: &str) -> (&str, &str) {
    let mut end = text.find(' ').unwrap_or(text.len());
    loop {
        let rest = text[end..].trim_start();
        let word = rest.split(' ').next().unwrap_or_default();
        if word.is_empty() || word.contains('=') {
            return (&text[..end], &text[end..]);
        }
        end = text.len() - rest.len() + word.len();
    }
}

/// A record's `key=value` fields, in order, values unquoted but not hex-decoded.
struct Fields<'a> {
    record_type: u16,
    pairs: Vec<(&'a str, &'a str, bool)>,
}

impl<'a> Fields<'a> {
    fn parse(record_type: u16, text: &'a str) -> Result<Self, ParseError> {
        let mut pairs = Vec::new();
        let mut rest = text.trim_start();
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=').ok_or_else(|| {
                error(
                    record_type,
                    format!("field without '=': {:?}", truncate(rest)),
                )
            })?;
            if key.is_empty() || key.contains(' ') {
                return Err(error(
                    record_type,
                    format!("bad field name {:?}", truncate(key)),
                ));
            }
            let (value, quoted, after) = if let Some(quoted) = after.strip_prefix('"') {
                let (value, after) = quoted.split_once('"').ok_or_else(|| {
                    error(record_type, format!("unterminated quote in field {key}"))
                })?;
                (value, true, after)
            } else {
                let (value, after) = bare_value(after);
                (value, false, after)
            };
            pairs.push((key, value, quoted));
            rest = after.trim_start();
        }
        Ok(Self { record_type, pairs })
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, v, _)| *v)
    }

    fn require(&self, key: &str) -> Result<&'a str, ParseError> {
        self.get(key)
            .ok_or_else(|| error(self.record_type, format!("no {key}= field")))
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Result<T, ParseError> {
        let value = self.require(key)?;
        value
            .parse()
            .map_err(|_| error(self.record_type, format!("{key}={value:?} is not a number")))
    }

    /// An untrusted string (quoted as is, else hex-encoded, as `audit_log_untrustedstring`
    /// writes it; `(null)` and other non-hex bare values are kept as written), as the exact
    /// bytes in the escape form of `init_shim::path_text`: a lossy decoding would report a
    /// file name that is not UTF-8 as another path, and a quoted value may hold a backslash.
    fn text(&self, key: &str) -> Result<String, ParseError> {
        self.raw_text(key)
            .map(|bytes| path_text::encode(&bytes))
            .ok_or_else(|| error(self.record_type, format!("no {key}= field")))
    }

    fn raw_text(&self, key: &str) -> Option<Vec<u8>> {
        let (_, value, quoted) = self.pairs.iter().find(|(k, _, _)| *k == key)?;
        if *quoted {
            Some(value.as_bytes().to_vec())
        } else {
            decode_hex(value).or_else(|| Some(value.as_bytes().to_vec()))
        }
    }
}

/// Decodes audit's hex encoding of an untrusted string (upper-case hex pairs).
pub fn decode_hex(value: &str) -> Option<Vec<u8>> {
    if value.is_empty() || !value.len().is_multiple_of(2) {
        return None;
    }
    value
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| (b as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

fn domain_id(fields: &Fields<'_>) -> Result<DomainId, ParseError> {
    let value = fields.require("domain")?;
    u64::from_str_radix(value, 16).map(DomainId).map_err(|_| {
        error(
            fields.record_type,
            format!("domain={value:?} is not hexadecimal"),
        )
    })
}

fn access(fields: &Fields<'_>) -> Result<Access, ParseError> {
    let domain = domain_id(fields)?;
    let blockers: Vec<String> = fields
        .require("blockers")?
        .split(',')
        .map(str::to_owned)
        .collect();
    if let Some(bad) = blockers.iter().find(|b| {
        b.is_empty()
            || !b
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c == b'_' || c == b'.')
    }) {
        return Err(error(
            fields.record_type,
            format!("blocker {bad:?} is not a Landlock right name"),
        ));
    }
    let object = if blockers.iter().any(|b| b == "scope.abstract_unix_socket") {
        match fields.raw_text("path") {
            // An abstract name starts with a NUL byte; `ss` and `netstat` show it as `@`.
            Some(bytes) => Object::Socket {
                name: match bytes.split_first() {
                    Some((0, name)) => format!("@{}", path_text::encode(name)),
                    _ => path_text::encode(&bytes),
                },
            },
            None => Object::None,
        }
    } else if fields.get("path").is_some() {
        Object::Path {
            path: fields.text("path")?,
            dev: fields.get("dev").map(str::to_owned),
            ino: fields.get("ino").and_then(|v| v.parse().ok()),
        }
    } else if let Some(key) = ["dest", "src"]
        .into_iter()
        .find(|k| fields.get(k).is_some())
    {
        Object::Port {
            udp: blockers.iter().any(|b| b.ends_with("_udp")),
            port: fields.number(key)?,
            addr: fields
                .get(if key == "dest" { "daddr" } else { "saddr" })
                .map(str::to_owned),
        }
    } else if fields.get("opid").is_some() {
        Object::Process {
            pid: fields.number("opid")?,
            comm: fields.text("ocomm").unwrap_or_default(),
        }
    } else {
        Object::None
    };
    Ok(Access {
        domain,
        blockers,
        object,
    })
}

fn domain(fields: &Fields<'_>) -> Result<Body, ParseError> {
    let domain = domain_id(fields)?;
    match fields.require("status")? {
        "allocated" => Ok(Body::DomainAllocated(Allocated {
            domain,
            pid: fields.number("pid")?,
            uid: fields.number("uid")?,
            exe: fields.text("exe")?,
            comm: fields.text("comm")?,
        })),
        "deallocated" => Ok(Body::DomainReleased {
            domain,
            denials: fields.number("denials")?,
        }),
        other => Err(error(
            fields.record_type,
            format!("unknown domain status {other:?}"),
        )),
    }
}

fn syscall(fields: &Fields<'_>) -> Result<Syscall, ParseError> {
    Ok(Syscall {
        pid: fields.number("pid")?,
        ppid: fields.number("ppid")?,
        syscall: fields.number("syscall")?,
        exit: fields.get("exit").and_then(|v| v.parse().ok()),
        comm: fields.text("comm").unwrap_or_default(),
        exe: fields.text("exe").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decoding_follows_audit_untrusted_strings() {
        assert_eq!(decode_hex("2F6120620A").as_deref(), Some(&b"/a b\n"[..]));
        assert_eq!(decode_hex("(null)"), None);
        assert_eq!(decode_hex("ABC"), None);
        assert_eq!(decode_hex(""), None);
    }

    #[test]
    fn paths_that_are_not_utf8_are_reported_exactly() {
        // `/srv/caf\xe9 \xff` (Latin-1 é, a space, an invalid byte): the kernel writes hex.
        let fixture = "audit(1700000000.123:77): domain=1a2b blockers=fs.read_file path=2F7372762F636166E920FF dev=\"sda1\" ino=42";
        let record = parse(AUDIT_LANDLOCK_ACCESS, fixture.as_bytes()).expect("parses");
        let Body::Access(access) = record.body else {
            panic!("not an access: {record:?}")
        };
        let Object::Path { path, .. } = &access.object else {
            panic!("not a path: {access:?}")
        };
        assert_eq!(path, "/srv/caf\\xe9 \\xff");
        assert_eq!(
            path_text::decode(path).as_deref(),
            Ok(&b"/srv/caf\xe9 \xff"[..]),
            "the reported text decodes to the bytes the kernel logged"
        );
        // A quoted path may hold a backslash, which the escape form must escape too.
        let quoted = "audit(1.2:3): domain=1 blockers=fs.read_file path=\"/a\\b\"";
        let Body::Access(access) = parse(AUDIT_LANDLOCK_ACCESS, quoted.as_bytes())
            .expect("parses")
            .body
        else {
            panic!("not an access")
        };
        assert_eq!(access.object.to_string(), "/a\\x5cb");
        // `/tmp/a,/ ` (hex: it holds a space): reported with the comma and the trailing space
        // escaped, so the Event's suggested annotation is one path, not `/tmp/a` and `/`.
        let listed = "audit(1.2:3): domain=1 blockers=fs.read_file path=2F746D702F612C2F20";
        let Body::Access(access) = parse(AUDIT_LANDLOCK_ACCESS, listed.as_bytes())
            .expect("parses")
            .body
        else {
            panic!("not an access")
        };
        assert_eq!(access.object.to_string(), "/tmp/a\\x2c/\\x20");
        // An abstract socket name with a byte that is not UTF-8.
        let socket = "audit(1.2:3): domain=1 blockers=scope.abstract_unix_socket path=00616AFF";
        let Body::Access(access) = parse(AUDIT_LANDLOCK_ACCESS, socket.as_bytes())
            .expect("parses")
            .body
        else {
            panic!("not an access")
        };
        assert_eq!(access.object.to_string(), "unix socket @aj\\xff");
    }

    /// On an AppArmor node every SYSCALL record of a confined container carries its label and
    /// mode, with a space the kernel does not escape (a real record's tail, from AKS): the
    /// record parses, the value keeps both words, the fields after it are read.
    #[test]
    fn an_apparmor_subject_with_its_mode_does_not_break_the_syscall_record() {
        for mode in ["(enforce)", "(complain)"] {
            let text = format!(
                "audit(1.2:3): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c items=1 ppid=1 pid=4242 auid=4294967295 uid=0 comm=\"cat\" exe=\"/usr/bin/cat\" subj=cri-containerd.apparmor.d {mode} key=(null)"
            );
            let record = parse(AUDIT_SYSCALL, text.as_bytes()).expect("parses");
            let Body::Syscall(syscall) = record.body else {
                panic!("not a syscall: {text}");
            };
            assert_eq!((syscall.pid, syscall.ppid, syscall.syscall), (4242, 1, 257));
            assert_eq!(syscall.comm, "cat");
            let fields = Fields::parse(AUDIT_SYSCALL, text.split_once(": ").expect("a header").1)
                .expect("fields");
            assert_eq!(
                fields.get("subj"),
                Some(format!("cri-containerd.apparmor.d {mode}").as_str())
            );
            assert_eq!(fields.get("key"), Some("(null)"));
        }
    }

    /// UDP denials (Landlock ABI 10; the blocker names are kernel 7.2's, the fields shaped as
    /// its TCP records) are UDP ports.
    #[test]
    fn udp_denials_are_udp_ports() {
        for (text, shown) in [
            (
                "audit(1.2:3): domain=1 blockers=net.bind_udp saddr=127.0.0.1 src=5353",
                "udp 127.0.0.1:5353",
            ),
            (
                "audit(1.2:3): domain=1 blockers=net.connect_send_udp daddr=10.0.0.2 dest=53",
                "udp 10.0.0.2:53",
            ),
            (
                "audit(1.2:3): domain=1 blockers=net.connect_tcp daddr=10.0.0.2 dest=443",
                "tcp 10.0.0.2:443",
            ),
        ] {
            let Body::Access(access) = parse(AUDIT_LANDLOCK_ACCESS, text.as_bytes())
                .expect("parses")
                .body
            else {
                panic!("not an access: {text}")
            };
            assert_eq!(access.object.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn broken_records_are_errors_not_panics() {
        for (t, text) in [
            (
                AUDIT_LANDLOCK_ACCESS,
                "audit(1.2:3): domain=zz blockers=fs.read_file",
            ),
            (
                AUDIT_LANDLOCK_ACCESS,
                "audit(1.2:3): domain=1 blockers=fs.read_file path=\"/a",
            ),
            (AUDIT_LANDLOCK_ACCESS, "audit(1.2:3): domain=1"),
            (
                AUDIT_LANDLOCK_ACCESS,
                "audit(1.2:3): domain=1 blockers=FS path=\"/\"",
            ),
            (AUDIT_LANDLOCK_DOMAIN, "audit(1.2:3): domain=1 status=weird"),
            (AUDIT_LANDLOCK_DOMAIN, "audit(1.2:3 domain=1"),
            (AUDIT_SYSCALL, "audit(x.2:3): pid=1"),
            (AUDIT_LANDLOCK_ACCESS, "audit(1.2:3): =1"),
        ] {
            assert!(parse(t, text.as_bytes()).is_err(), "{text}");
        }
        assert!(parse(AUDIT_LANDLOCK_ACCESS, &[0xff, 0xfe]).is_err());
    }
}

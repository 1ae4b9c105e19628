//! The audit record parser on records captured from this project's CI kernel (Linux 6.18,
//! Landlock ABI 7): filesystem, network and scope blockers, a path with a space and one with a
//! control byte (both hex-encoded by the kernel), domain records, and the SYSCALL record.

use webhook::denials::record::{self, Access, Allocated, Body, DomainId, Object, Record, Stamp};

const CAPTURED: &str = include_str!("fixtures/landlock-audit-records.log");

fn records() -> Vec<Record> {
    CAPTURED
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| record::parse_line(l.as_bytes()).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn access(serial: u64) -> Access {
    records()
        .into_iter()
        .find_map(|r| match r.body {
            Body::Access(a) if r.stamp.serial == serial => Some(a),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no access record {serial}"))
}

fn path(p: &str, ino: u64) -> Object {
    Object::Path {
        path: p.to_owned(),
        dev: Some("vda".to_owned()),
        ino: Some(ino),
    }
}

#[test]
fn every_captured_record_parses() {
    assert_eq!(records().len(), 20);
}

#[test]
fn filesystem_denials() {
    let read = access(4);
    assert_eq!(read.domain, DomainId(0x1e418958b));
    assert_eq!(read.blockers, ["fs.read_file"]);
    assert_eq!(read.object, path("/etc/shadow", 737));
    assert_eq!(access(7).blockers, ["fs.execute", "fs.read_file"]);
    assert_eq!(access(17).blockers, ["fs.read_dir"]);
    assert_eq!(access(18).blockers, ["fs.make_reg"]);
    assert_eq!(access(31).blockers, ["fs.remove_file"]);
    assert_eq!(access(32).blockers, ["fs.make_reg", "fs.refer"]);
    assert_eq!(access(32).object, path("/srv/cap/b", 1589256));
}

#[test]
fn hex_encoded_paths_with_a_space_or_a_control_byte() {
    assert_eq!(
        access(16).object,
        path("/srv/cap/dir with space/f", 1589253)
    );
    assert_eq!(access(20).blockers, ["fs.write_file"]);
    // A control byte is reported escaped (`init_shim::path_text`): the line stays one line.
    assert_eq!(access(38).object, path("/srv/cap/ctl\\x01x/f", 1589254));
}

#[test]
fn network_and_scope_denials() {
    assert_eq!(access(10).blockers, ["net.connect_tcp"]);
    assert_eq!(
        access(10).object,
        Object::Port {
            udp: false,
            port: 80,
            addr: Some("127.0.0.1".to_owned())
        }
    );
    assert_eq!(access(11).blockers, ["net.bind_tcp"]);
    assert_eq!(
        access(11).object,
        Object::Port {
            udp: false,
            port: 8080,
            addr: Some("127.0.0.1".to_owned())
        }
    );
    assert_eq!(access(12).blockers, ["scope.signal"]);
    assert_eq!(
        access(12).object,
        Object::Process {
            pid: 1,
            comm: "process_api".to_owned()
        }
    );
    assert_eq!(access(23).blockers, ["scope.abstract_unix_socket"]);
    assert_eq!(
        access(23).object,
        Object::Socket {
            name: "@landlock-cap".to_owned()
        }
    );
}

#[test]
fn domain_syscall_and_config_records() {
    let all = records();
    let find = |serial: u64, pick: fn(&Body) -> bool| {
        all.iter()
            .find(|r| r.stamp.serial == serial && pick(&r.body))
            .map(|r| r.body.clone())
    };
    assert_eq!(
        find(3, |b| matches!(b, Body::DomainAllocated(_))),
        Some(Body::DomainAllocated(Allocated {
            domain: DomainId(0x1e418958b),
            pid: 25786,
            uid: 0,
            exe: "/work/wt/denials/target/debug/landlock-shim".to_owned(),
            comm: "landlock-shim".to_owned(),
        }))
    );
    assert_eq!(
        find(9, |b| matches!(b, Body::DomainReleased { .. })),
        Some(Body::DomainReleased {
            domain: DomainId(0x1e418958b),
            denials: 4
        })
    );
    match find(4, |b| matches!(b, Body::Syscall(_))) {
        Some(Body::Syscall(s)) => {
            assert_eq!(
                (s.pid, s.ppid, s.syscall, s.exit),
                (25788, 25786, 257, Some(-13))
            );
            assert_eq!((s.comm.as_str(), s.exe.as_str()), ("cat", "/usr/bin/cat"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        find(4, |b| matches!(b, Body::EndOfEvent)),
        Some(Body::EndOfEvent)
    );
    assert_eq!(
        find(14, |b| matches!(b, Body::ConfigChange { .. })),
        Some(Body::ConfigChange {
            audit_enabled: Some(0)
        })
    );
    assert_eq!(find(15, |_| true), Some(Body::Other(1335)));
}

#[test]
fn the_netlink_payload_and_the_kernel_log_forms_parse_alike() {
    let payload = b"audit(1795455230.889:4): domain=1e418958b blockers=fs.read_file path=\"/etc/shadow\" dev=\"vda\" ino=737\0";
    let from_payload = record::parse(record::AUDIT_LANDLOCK_ACCESS, payload).expect("payload");
    let kmsg = "audit: type=1423 audit(1795455230.889:4): domain=1e418958b blockers=fs.read_file path=\"/etc/shadow\" dev=\"vda\" ino=737";
    let named = "type=LANDLOCK_ACCESS msg=audit(1795455230.889:4): domain=1e418958b blockers=fs.read_file path=\"/etc/shadow\" dev=\"vda\" ino=737";
    for line in [kmsg, named] {
        assert_eq!(
            record::parse_line(line.as_bytes()).expect(line),
            from_payload
        );
    }
    assert_eq!(
        from_payload.stamp,
        Stamp {
            seconds: 1795455230,
            millis: 889,
            serial: 4
        }
    );
}

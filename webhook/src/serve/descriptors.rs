//! The descriptor limit the server runs with. Every connection holds a descriptor, and
//! containers often start with a soft limit far below the hard one (1,024 of 1,048,576 is
//! common): the soft limit is raised to the hard one at start, which needs no privilege, and
//! the connection cap is kept below it so that accepting never fails for lack of descriptors.

/// Descriptors kept for everything but client connections: the listener, certificate and
/// configuration files, registry and API server connections, the runtime's own.
pub const RESERVED: u64 = 256;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the limit now in force.
pub fn raise_to_hard_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own; no crate in our tree wraps it.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own; raising the soft limit up to the hard one
        // needs no capability.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit.rlim_cur = limit.rlim_max;
    }
    Ok(limit.rlim_cur)
}

/// How many client connections fit under a descriptor limit of `limit`.
pub fn connections_that_fit(limit: u64) -> usize {
    usize::try_from(limit.saturating_sub(RESERVED).max(1)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let mut before = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut before) },
            0
        );
        let lowered = libc::rlimit {
            rlim_cur: 512.min(before.rlim_max),
            rlim_max: before.rlim_max,
        };
        // SAFETY: as above; lowering the soft limit needs no capability.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
        let now = raise_to_hard_limit().expect("raised");
        assert_eq!(now, before.rlim_max);
        assert_eq!(connections_that_fit(20_000), 19_744);
        assert_eq!(connections_that_fit(100), 1);
    }
}

//! Whether the kernel dropped audit records: it queues records in a backlog (`auditctl -b`,
//! 64 by default) until they are sent; when a burst fills it, further records are dropped and
//! its `lost` counter (in `AUDIT_GET`'s status, also `auditctl -s`) goes up. Those denials are
//! gone for every reader, auditd included, so the agent says so: a metric with the kernel's
//! counter and a warning naming the remedy.

/// The backlog limit `--enable-audit` raises a lower one to: room for a burst of about two
/// thousand denials (four records each) while readers catch up, a few MiB of kernel memory at
/// most while it lasts. A higher limit is left alone.
pub const ENABLE_AUDIT_BACKLOG: u32 = 8192;

/// The limit to set for a kernel whose limit is `current`, if any (only ever raised; 0 is
/// the kernel's "no limit").
pub fn raised_limit(current: u32) -> Option<u32> {
    (current != 0 && current < ENABLE_AUDIT_BACKLOG).then_some(ENABLE_AUDIT_BACKLOG)
}

/// Follows the kernel's `lost` counter between two `AUDIT_GET`s.
#[derive(Debug, Default)]
pub struct LostWatch {
    last: Option<u32>,
}

impl LostWatch {
    /// Takes the counter just read; the records lost since the previous reading (none on the
    /// first: what was lost before the agent started is not its to report).
    pub fn observe(&mut self, lost: u32) -> u32 {
        // The kernel's counter is a 32-bit atomic that wraps.
        let since = self.last.map_or(0, |last| lost.wrapping_sub(last));
        self.last = Some(lost);
        since
    }
}

/// What one failed `AUDIT_GET` means for the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// The agent lacks the right to ask (EPERM, EACCES): asking again cannot work; stop.
    Stop,
    /// The first failure after answers (a late answer, a busy socket): say so, ask again.
    First,
    /// Failing still: asked again later, said once already.
    Again,
}

/// Whether the kernel's status is still asked for: a refusal for want of a right stops the
/// asking, anything else is retried at the next interval (once, one late answer stopped it for
/// good, and records the kernel dropped were never reported again).
#[derive(Debug, Default)]
pub struct StatusAsking {
    failing: bool,
    stopped: bool,
}

impl StatusAsking {
    /// Whether to ask at the next interval.
    pub fn asking(&self) -> bool {
        !self.stopped
    }

    /// Takes an answer; whether it ends a run of failures.
    pub fn answered(&mut self) -> bool {
        std::mem::replace(&mut self.failing, false)
    }

    /// Takes a failure.
    pub fn failed(&mut self, error: &super::netlink::NetlinkError) -> Failed {
        if error.is_permission() {
            self.stopped = true;
            return Failed::Stop;
        }
        if std::mem::replace(&mut self.failing, true) {
            Failed::Again
        } else {
            Failed::First
        }
    }
}

/// The warning for `since` records lost with `backlog_limit`.
pub fn lost_message(since: u32, backlog_limit: u32) -> String {
    format!(
        "the kernel dropped {since} audit records (its backlog of {backlog_limit} filled in a burst): the denials among them are reported nowhere; raise the backlog on the node, e.g. `auditctl -b 8192` (landlock_denials_kernel_lost_records)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_is_only_ever_raised() {
        assert_eq!(raised_limit(64), Some(ENABLE_AUDIT_BACKLOG));
        assert_eq!(raised_limit(ENABLE_AUDIT_BACKLOG), None);
        assert_eq!(raised_limit(65536), None);
        assert_eq!(raised_limit(0), None, "0 is no limit at all");
    }

    /// A refusal for want of a right stops the asking; other failures are retried, said once
    /// per run, and an answer ends the run.
    #[test]
    fn only_a_refusal_for_want_of_a_right_stops_asking() {
        use super::super::netlink::NetlinkError;
        let late = NetlinkError::Protocol("AUDIT_GET: no answer from the kernel".to_owned());
        let mut asking = StatusAsking::default();
        assert_eq!(asking.failed(&late), Failed::First);
        assert_eq!(asking.failed(&late), Failed::Again);
        assert!(asking.asking());
        assert!(asking.answered(), "the run of failures ends");
        assert!(!asking.answered());
        assert_eq!(
            asking.failed(&late),
            Failed::First,
            "a new run is said again"
        );
        let refused = NetlinkError::Refused {
            what: "AUDIT_GET",
            source: std::io::Error::from_raw_os_error(libc::EPERM),
        };
        assert_eq!(asking.failed(&refused), Failed::Stop);
        assert!(!asking.asking());
        let busy = NetlinkError::Io {
            what: "AUDIT_GET",
            source: std::io::Error::from_raw_os_error(libc::ENOBUFS),
        };
        assert!(!busy.is_permission());
    }

    #[test]
    fn counts_what_was_lost_since_the_last_reading() {
        let mut watch = LostWatch::default();
        assert_eq!(watch.observe(40), 0, "lost before the agent started");
        assert_eq!(watch.observe(40), 0);
        assert_eq!(watch.observe(47), 7);
        assert_eq!(watch.observe(u32::MAX), u32::MAX - 47);
        assert_eq!(watch.observe(2), 3, "the counter wrapped");
    }
}

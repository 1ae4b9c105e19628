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

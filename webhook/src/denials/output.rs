//! Where the agent writes: its JSON lines on stdout and its log on stderr, each through a
//! thread of its own with a bounded queue (tracing-appender's lossy non-blocking writer). A log
//! pipeline that stops reading (the container runtime's pipe full, a stuck log shipper) then
//! never stops the agent, which must keep reading the audit socket and answering its probes:
//! written in the agent's one thread, a full stdout stopped all of it, and the kernel dropped
//! the denials that followed. Lines past the queue are dropped and counted
//! (`landlock_denials_dropped_log_lines_total{stream}`); metrics and Events go on.

use std::io::Write as _;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

/// Lines queued per stream while its reader is slow: a burst of denials (a line is ~0.5 KiB)
/// with room to spare, 2 MiB or so at most.
pub const QUEUED_LINES: usize = 4096;

/// A writer of whole lines to `target` from a thread of its own, dropping (and counting) lines
/// past [`QUEUED_LINES`]; the guard flushes what is queued when dropped (for at most a second).
pub fn unblocked<W: std::io::Write + Send + 'static>(
    target: W,
    name: &str,
) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name(name)
        .finish(target)
}

/// The JSON lines of denials on stdout.
pub struct Lines {
    writer: NonBlocking,
    _guard: WorkerGuard,
}

impl Lines {
    /// Lines to the process's stdout.
    pub fn stdout() -> Self {
        let (writer, guard) = unblocked(std::io::stdout(), "denial-lines");
        Self {
            writer,
            _guard: guard,
        }
    }

    /// Queues `line` and its newline as one message (a dropped line is dropped whole).
    pub fn write(&mut self, line: &str) {
        let mut whole = String::with_capacity(line.len() + 1);
        whole.push_str(line);
        whole.push('\n');
        // Lossy: never fails, never blocks; a full queue counts the line as dropped.
        let _ = self.writer.write_all(whole.as_bytes());
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> ErrorCounter {
        self.writer.error_counter()
    }
}

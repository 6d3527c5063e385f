//! Where access lines go: a per-worker buffer written to stderr after the response.
//!
//! Going through `log` + `env_logger` cost about a tenth of a request's CPU (a `String` per
//! field, env_logger's formatter and ANSI stripping, a UTF-8 re-check) and put a `write(2)` on
//! the latency path: the line was written while the body ended, before actix flushed the
//! response to the client. Here the line is formatted straight into a thread-local buffer and
//! a task spawned on the worker writes the buffer out once the current task has yielded, so
//! the client's bytes leave first and lines of requests finishing together go out in one
//! write. The line keeps env_logger's default layout (`[<UTC time> INFO  pollux::access] ...`),
//! and `RUST_LOG` still decides whether it is written.
//!
//! A line is never lost to the buffering: it is written when the worker's runtime gets to the
//! spawned task, when the buffer passes [`FLUSH_AT`], or when the worker thread exits.

use std::cell::RefCell;
use std::io::Write;
use std::time::SystemTime;

/// The `log` target whose level decides whether access lines are written.
pub const TARGET: &str = "pollux::access";

/// A buffer this large is written at once instead of waiting for the spawned task.
const FLUSH_AT: usize = 64 * 1024;

/// Whether `RUST_LOG` (or whatever logger is installed) wants access lines.
pub fn enabled() -> bool {
    log::log_enabled!(target: TARGET, log::Level::Info)
}

/// Appends one line: the prefix, what `body` writes, a newline. Writes nothing unless
/// [`enabled`].
pub fn write_line(body: impl FnOnce(&mut Vec<u8>)) {
    if enabled() {
        append(body);
    }
}

/// Like [`write_line`], but on an actix worker `body` itself runs later, in the task that
/// writes the buffer out (after the current task has yielded, so after the response has
/// been handed to the socket): formatting the line, and dropping whatever `body` owns, is
/// then off the request's path. Elsewhere the line is written at once.
pub fn write_line_later(body: impl FnOnce(&mut Vec<u8>) + 'static) {
    if enabled() {
        defer(body);
    }
}

/// Keeps `body` for the flush task on an actix worker; elsewhere appends the line at once.
fn defer(body: impl FnOnce(&mut Vec<u8>) + 'static) {
    if actix_rt::Arbiter::try_current().is_none() {
        return append(body);
    }
    let spawn = PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        pending.later.push(Box::new(body));
        !std::mem::replace(&mut pending.flush_spawned, true)
    });
    if spawn {
        spawn_flush();
    }
}

/// Buffers the line; on an actix worker the write waits for a spawned task, elsewhere (or
/// with a full buffer) it happens at once.
fn append(body: impl FnOnce(&mut Vec<u8>)) {
    let spawn = PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        pending.line(body);
        if pending.buf.len() >= FLUSH_AT || actix_rt::Arbiter::try_current().is_none() {
            pending.flush();
            false
        } else {
            !std::mem::replace(&mut pending.flush_spawned, true)
        }
    });
    if spawn {
        spawn_flush();
    }
}

/// The task that formats the deferred lines and writes the buffer, once per batch.
fn spawn_flush() {
    actix_rt::spawn(async {
        // Taken out first: `append` borrows `PENDING` again for each line.
        let later = PENDING.with(|pending| std::mem::take(&mut pending.borrow_mut().later));
        for body in later {
            append(body);
        }
        PENDING.with(|pending| pending.borrow_mut().flush());
    });
}

/// What writes the part of a line after its prefix.
type LineBody = Box<dyn FnOnce(&mut Vec<u8>)>;

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
}

/// The lines of one worker not yet written, and the cached timestamp text.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    /// Lines whose formatting waits for the flush task ([`write_line_later`]).
    later: Vec<LineBody>,
    flush_spawned: bool,
    /// The Unix second `stamp` was formatted for.
    second: u64,
    stamp: String,
}

impl Pending {
    fn line(&mut self, body: impl FnOnce(&mut Vec<u8>)) {
        self.push_prefix(SystemTime::now());
        body(&mut self.buf);
        self.buf.push(b'\n');
    }

    fn push_prefix(&mut self, now: SystemTime) {
        let second = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second || self.stamp.is_empty() {
            self.second = second;
            self.stamp = stamp(second);
        }
        self.buf.push(b'[');
        self.buf.extend_from_slice(self.stamp.as_bytes());
        self.buf.extend_from_slice(b" INFO  ");
        self.buf.extend_from_slice(TARGET.as_bytes());
        self.buf.extend_from_slice(b"] ");
    }

    fn flush(&mut self) {
        self.flush_spawned = false;
        if self.buf.is_empty() {
            return;
        }
        // Nothing useful can be done when stderr is gone; the lines are dropped like
        // env_logger drops them.
        let _ = std::io::stderr().lock().write_all(&self.buf);
        self.buf.clear();
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        for body in std::mem::take(&mut self.later) {
            self.line(body);
        }
        self.flush();
    }
}

/// `2026-11-26T23:10:38Z`, as env_logger's default format prints it.
fn stamp(unix_second: u64) -> String {
    i64::try_from(unix_second)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| "-".to_owned(), |ts| format!("{ts:.0}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pending() -> usize {
        PENDING.with(|p| p.borrow().buf.len())
    }

    #[test]
    fn on_a_worker_a_line_is_written_once_the_task_yields() {
        actix_rt::System::new().block_on(async {
            append(|out| out.extend_from_slice(b"(access_log unit test line)"));
            assert!(
                pending() > 0,
                "the line was written before the task yielded"
            );
            for _ in 0..10 {
                if pending() == 0 {
                    break;
                }
                actix_rt::task::yield_now().await;
            }
            assert_eq!(pending(), 0, "the spawned flush never ran");
        });
    }

    /// A deferred line's closure (and what it owns) runs in the flush task, not before the
    /// current task yields.
    #[test]
    fn on_a_worker_a_deferred_line_is_formatted_once_the_task_yields() {
        actix_rt::System::new().block_on(async {
            let owned = std::rc::Rc::new(());
            let held = owned.clone();
            defer(move |out| {
                drop(held);
                out.extend_from_slice(b"(access_log unit test line)");
            });
            assert_eq!(std::rc::Rc::strong_count(&owned), 2, "formatted too early");
            assert_eq!(pending(), 0);
            for _ in 0..10 {
                if std::rc::Rc::strong_count(&owned) == 1 && pending() == 0 {
                    break;
                }
                actix_rt::task::yield_now().await;
            }
            assert_eq!(std::rc::Rc::strong_count(&owned), 1, "never formatted");
            assert_eq!(pending(), 0, "formatted but never written");
        });
    }

    #[test]
    fn outside_a_worker_a_deferred_line_is_formatted_at_once() {
        let owned = std::rc::Rc::new(());
        let held = owned.clone();
        defer(move |out| {
            drop(held);
            out.extend_from_slice(b"(access_log unit test line)");
        });
        assert_eq!(std::rc::Rc::strong_count(&owned), 1);
        assert_eq!(pending(), 0);
    }

    #[test]
    fn outside_a_worker_a_line_is_written_at_once() {
        append(|out| out.extend_from_slice(b"(access_log unit test line)"));
        assert_eq!(pending(), 0);
    }

    #[test]
    fn timestamps_look_like_env_loggers() {
        assert_eq!(stamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(stamp(1_795_734_638), "2026-11-26T23:10:38Z");
    }

    #[test]
    fn the_prefix_names_time_level_and_target() {
        let mut pending = Pending::default();
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400);
        pending.push_prefix(at);
        pending.buf.extend_from_slice(b"x");
        pending.push_prefix(at + std::time::Duration::from_millis(1500));
        assert_eq!(
            String::from_utf8(std::mem::take(&mut pending.buf)).unwrap(),
            "[1970-01-02T00:00:00Z INFO  pollux::access] x\
             [1970-01-02T00:00:01Z INFO  pollux::access] "
        );
    }
}

//! Where access lines go: a per-worker buffer written to stderr after the response.
//!
//! Going through `log` + `env_logger` cost about a tenth of a request's CPU (a `String` per
//! field, env_logger's formatter and ANSI stripping, a UTF-8 re-check) and put a `write(2)` on
//! the latency path: the line was written while the body ended, before actix flushed the
//! response to the client. Here a request hands over a closure that writes its line; a task
//! spawned on the worker formats the lines of every request that ended meanwhile into one
//! buffer and writes it once the current task has yielded, so the client's bytes leave first,
//! no formatting happens on a request's path and lines of requests finishing together go out
//! in one write. The line keeps env_logger's default layout (`[<UTC time> INFO
//! pollux::access] ...`) and `RUST_LOG` still decides whether it is written; it always goes
//! to stderr, whatever logger is installed.
//!
//! Lines are written when the worker's runtime gets to the spawned task (within the event-loop
//! turn), or when the worker thread exits; a process that exits without letting its workers
//! finish loses what they had not written yet, as with any buffered log.

use std::cell::RefCell;
use std::io::Write;
use std::time::SystemTime;

/// The `log` target whose level decides whether access lines are written.
const TARGET: &str = "pollux::access";

/// Whether `RUST_LOG` (or whatever logger is installed) wants access lines.
fn enabled() -> bool {
    log::log_enabled!(target: TARGET, log::Level::Info)
}

/// Writes one line: the prefix, what `body` writes, a newline, unless `RUST_LOG` turns access
/// lines off. On an actix worker `body` runs later, in the task that writes the buffer out
/// (after the current task has yielded, so after the response has been handed to the
/// socket): formatting the line, and dropping whatever `body` owns, is then off the request's
/// path. Elsewhere the line is written at once.
pub fn write_line(body: impl FnOnce(&mut Vec<u8>) + 'static) {
    if enabled() {
        defer(body);
    }
}

/// [`write_line`] without the `RUST_LOG` check.
fn defer(body: impl FnOnce(&mut Vec<u8>) + 'static) {
    if actix_rt::Arbiter::try_current().is_none() {
        let mut now = Pending::default();
        now.line(body);
        return now.flush();
    }
    let spawn = PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        pending.later.push(Box::new(body));
        !std::mem::replace(&mut pending.flush_spawned, true)
    });
    if spawn {
        actix_rt::spawn(async { flush_later() });
    }
}

/// The spawned task's work: formats the waiting lines and writes them.
///
/// The worker's state is taken out of the thread-local first, so the lines' closures run
/// without it borrowed (one that logs again just queues its line for the next flush), and a
/// closure that panics leaves a fresh state behind instead of one that believes a flush is
/// still on its way.
fn flush_later() {
    let mut mine = PENDING.with(|pending| std::mem::take(&mut *pending.borrow_mut()));
    for body in std::mem::take(&mut mine.later) {
        mine.line(body);
    }
    mine.flush();
    PENDING.with(|pending| {
        let mut current = pending.borrow_mut();
        // Keep the buffer's capacity and the cached timestamp unless lines arrived meanwhile.
        if current.later.is_empty() && !current.flush_spawned {
            *current = mine;
        }
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
    /// Lines whose formatting waits for the flush task.
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
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::rc::Rc;

    use super::*;

    /// Lines queued on this thread and not yet formatted.
    fn queued() -> usize {
        PENDING.with(|p| p.borrow().later.len())
    }

    /// Yields until `done` holds (at most ten times), then says whether it does.
    async fn yield_until(done: impl Fn() -> bool) -> bool {
        for _ in 0..10 {
            if done() {
                return true;
            }
            actix_rt::task::yield_now().await;
        }
        done()
    }

    /// A line whose closure drops `held` when it runs.
    fn line_holding(held: Rc<()>) -> impl FnOnce(&mut Vec<u8>) + 'static {
        move |out| {
            drop(held);
            out.extend_from_slice(b"(access_log unit test line)");
        }
    }

    /// A line's closure (and what it owns) runs in the flush task, not before the current
    /// task yields.
    #[test]
    fn on_a_worker_a_line_is_formatted_once_the_task_yields() {
        actix_rt::System::new().block_on(async {
            let owned = Rc::new(());
            defer(line_holding(owned.clone()));
            assert_eq!(Rc::strong_count(&owned), 2, "formatted too early");
            assert_eq!(queued(), 1);
            assert!(
                yield_until(|| Rc::strong_count(&owned) == 1).await,
                "never formatted"
            );
            assert_eq!(queued(), 0);
            assert!(PENDING.with(|p| p.borrow().buf.is_empty()), "never written");
        });
    }

    #[test]
    fn outside_a_worker_a_line_is_written_at_once() {
        let owned = Rc::new(());
        defer(line_holding(owned.clone()));
        assert_eq!(Rc::strong_count(&owned), 1);
        assert_eq!(queued(), 0);
    }

    /// A closure that panics (in its task) must not leave the worker believing a flush is on
    /// its way: the next line is still written.
    #[test]
    fn lines_after_a_panicking_line_are_still_written() {
        actix_rt::System::new().block_on(async {
            defer(|_| panic!("(access_log unit test: a line that panics)"));
            assert!(yield_until(|| queued() == 0).await);
            let owned = Rc::new(());
            defer(line_holding(owned.clone()));
            assert!(
                yield_until(|| Rc::strong_count(&owned) == 1).await,
                "the line after the panic was never formatted"
            );
        });
    }

    /// A closure that logs again (say, from the drop of something it owns) queues its line
    /// for the next flush instead of finding the worker's buffer borrowed.
    #[test]
    fn a_line_may_log_another_while_it_is_formatted() {
        actix_rt::System::new().block_on(async {
            let ran = Rc::new(std::cell::Cell::new(false));
            let inner = ran.clone();
            defer(move |out| {
                defer(move |out| {
                    inner.set(true);
                    out.extend_from_slice(b"(access_log unit test line)");
                });
                out.extend_from_slice(b"(access_log unit test line)");
            });
            assert!(
                yield_until(|| ran.get()).await,
                "the nested line was never formatted"
            );
        });
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

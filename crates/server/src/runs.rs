//! Background responses in flight (`background: true`): each run's framed stream events, kept
//! so a client can follow it (at once, or reconnecting with `starting_after`), and the handle
//! that cancels it.
//!
//! Runs are per process: the task runs on the worker that accepted the request. The record of
//! a run (queued, in progress, final) is in the response store, which every replica can share
//! (`--state`), so any replica answers a poll; a cancel sent to another replica reaches the
//! run through the replicas' channel (`AppState::on_shared_event`). A stream reconnect must
//! still reach the replica that runs it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use futures_util::future::AbortHandle;
use futures_util::Stream;
use tokio::sync::watch;

/// Finished runs kept for reconnecting clients, beyond those still running.
const KEEP_FINISHED: usize = 256;

/// One background response.
pub struct Run {
    pub owner: Option<String>,
    abort: Mutex<Option<AbortHandle>>,
    frames: Mutex<Frames>,
    /// Bumped on every change of `frames`, for followers to wait on.
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct Frames {
    /// `(sequence_number, the framed SSE event)`, in order.
    list: Vec<(u64, Bytes)>,
    done: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Run {
    pub fn new(owner: Option<String>) -> Arc<Run> {
        Arc::new(Run {
            owner,
            abort: Mutex::new(None),
            frames: Mutex::new(Frames::default()),
            changed: watch::channel(0).0,
        })
    }

    pub fn set_abort(&self, handle: AbortHandle) {
        *lock(&self.abort) = Some(handle);
    }

    /// Appends one framed event.
    pub fn push(&self, sequence: u64, frame: Bytes) {
        let mut frames = lock(&self.frames);
        frames.list.push((sequence, frame));
        let n = frames.list.len() as u64;
        drop(frames);
        self.changed.send_replace(n);
    }

    /// Marks the run finished; followers end after its last event.
    pub fn finish(&self) {
        lock(&self.frames).done = true;
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn is_done(&self) -> bool {
        lock(&self.frames).done
    }

    /// Stops the task (dropping its upstream request) and finishes the run. `false` when it
    /// had already finished.
    pub fn cancel(&self) -> bool {
        if self.is_done() {
            return false;
        }
        if let Some(handle) = lock(&self.abort).take() {
            handle.abort();
        }
        self.finish();
        true
    }

    /// The run's events after sequence number `after` (all with `None`), then those still to
    /// come, until it finishes.
    pub fn follow(self: Arc<Self>, after: Option<u64>) -> impl Stream<Item = Bytes> {
        async_stream::stream! {
            let mut changes = self.changed.subscribe();
            let mut next = 0;
            loop {
                changes.borrow_and_update();
                let (batch, done) = {
                    let frames = lock(&self.frames);
                    (frames.list[next..].to_vec(), frames.done)
                };
                next += batch.len();
                for (sequence, frame) in batch {
                    if after.is_none_or(|a| sequence > a) {
                        yield frame;
                    }
                }
                if done || changes.changed().await.is_err() {
                    break;
                }
            }
        }
    }
}

/// The runs of this process, by response id.
#[derive(Default)]
pub struct Runs {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Arc<Run>>,
    order: VecDeque<String>,
}

impl Runs {
    pub fn insert(&self, id: &str, run: Arc<Run>) {
        let mut inner = lock(&self.inner);
        inner.map.insert(id.to_owned(), run);
        inner.order.push_back(id.to_owned());
        // Forget the oldest finished runs beyond the few kept for reconnects.
        let finished = inner.map.values().filter(|r| r.is_done()).count();
        let mut excess = finished.saturating_sub(KEEP_FINISHED);
        let mut kept = VecDeque::with_capacity(inner.order.len());
        while let Some(old) = inner.order.pop_front() {
            let drop_it = excess > 0 && inner.map.get(&old).is_some_and(|r| r.is_done());
            if drop_it {
                inner.map.remove(&old);
                excess -= 1;
            } else {
                kept.push_back(old);
            }
        }
        inner.order = kept;
    }

    /// The run `id`, whoever owns it: for a cancel another replica checked the owner of.
    pub fn get_any(&self, id: &str) -> Option<Arc<Run>> {
        lock(&self.inner).map.get(id).cloned()
    }

    /// The run `id`, when `owner` may see it.
    pub fn get(&self, id: &str, owner: Option<&str>) -> Option<Arc<Run>> {
        lock(&self.inner)
            .map
            .get(id)
            .filter(|r| r.owner.as_deref() == owner)
            .cloned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[actix_rt::test]
    async fn followers_get_what_came_and_what_comes() {
        let run = Run::new(None);
        run.push(0, Bytes::from_static(b"a"));
        run.push(1, Bytes::from_static(b"b"));
        let late = run.clone().follow(Some(0));
        let all = run.clone().follow(None);
        let writer = run.clone();
        actix_rt::spawn(async move {
            writer.push(2, Bytes::from_static(b"c"));
            writer.finish();
        });
        let late: Vec<Bytes> = late.collect().await;
        assert_eq!(
            late,
            vec![Bytes::from_static(b"b"), Bytes::from_static(b"c")]
        );
        let all: Vec<Bytes> = all.collect().await;
        assert_eq!(all.len(), 3);
        assert!(!run.cancel(), "a finished run cannot be cancelled");
    }

    #[test]
    fn runs_are_per_owner_and_finished_ones_are_bounded() {
        let runs = Runs::default();
        runs.insert("a", Run::new(Some("k1".to_owned())));
        assert!(runs.get("a", Some("k1")).is_some());
        assert!(runs.get("a", Some("k2")).is_none());
        for i in 0..(KEEP_FINISHED + 10) {
            let run = Run::new(None);
            run.finish();
            runs.insert(&format!("r{i}"), run);
        }
        assert!(runs.get("r0", None).is_none());
        assert!(runs.get(&format!("r{}", KEEP_FINISHED + 9), None).is_some());
        assert!(runs.get("a", Some("k1")).is_some(), "running runs stay");
    }
}

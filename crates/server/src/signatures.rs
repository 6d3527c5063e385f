//! A bounded, expiring, process-local memory of Gemini thought signatures by tool call id,
//! for clients that drop `extra_content` (LangChain and many agents do). It is shared by all
//! workers of one process. With `--state`, signatures are also written to Redis and what a
//! request's history needs is fetched before translation ([`Fetched`], built by
//! `AppState::signatures_for`), so a tool loop may move between replicas.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pollux_translate::SignatureSource;

pub struct SignatureCache {
    inner: Mutex<Inner>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, (String, Instant)>,
    /// Insertion order, for evicting the oldest entry when full.
    order: VecDeque<String>,
}

impl SignatureCache {
    pub fn new(capacity: usize, ttl: Duration) -> SignatureCache {
        SignatureCache {
            inner: Mutex::new(Inner::default()),
            capacity,
            ttl,
        }
    }

    pub fn insert(&self, tool_call_id: &str, signature: &str) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let now = Instant::now();
        if inner
            .map
            .insert(tool_call_id.to_owned(), (signature.to_owned(), now))
            .is_none()
        {
            inner.order.push_back(tool_call_id.to_owned());
        }
        while inner.map.len() > self.capacity {
            match inner.order.pop_front() {
                Some(oldest) => {
                    inner.map.remove(&oldest);
                }
                None => break,
            }
        }
    }

    pub fn get(&self, tool_call_id: &str) -> Option<String> {
        let inner = self.inner.lock().ok()?;
        let (signature, at) = inner.map.get(tool_call_id)?;
        (at.elapsed() <= self.ttl).then(|| signature.clone())
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SignatureSource for SignatureCache {
    fn signature_for(&self, tool_call_id: &str) -> Option<String> {
        self.get(tool_call_id)
    }
}

/// This process's signatures, then those fetched from the shared state for one request.
pub struct Fetched<'a> {
    local: &'a SignatureCache,
    fetched: HashMap<String, String>,
}

impl<'a> Fetched<'a> {
    pub fn new(local: &'a SignatureCache) -> Fetched<'a> {
        Fetched {
            local,
            fetched: HashMap::new(),
        }
    }

    pub fn add(&mut self, tool_call_id: &str, signature: String) {
        self.fetched.insert(tool_call_id.to_owned(), signature);
    }
}

impl SignatureSource for Fetched<'_> {
    fn signature_for(&self, tool_call_id: &str) -> Option<String> {
        self.local
            .get(tool_call_id)
            .or_else(|| self.fetched.get(tool_call_id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_beyond_capacity() {
        let cache = SignatureCache::new(2, Duration::from_secs(60));
        cache.insert("a", "1");
        cache.insert("b", "2");
        cache.insert("c", "3");
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.get("b").as_deref(), Some("2"));
        assert_eq!(cache.get("c").as_deref(), Some("3"));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn expires_after_ttl() {
        let cache = SignatureCache::new(10, Duration::ZERO);
        cache.insert("a", "1");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.get("a"), None);
    }
}

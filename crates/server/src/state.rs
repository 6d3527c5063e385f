//! The application state every handler reads: the configuration, the caches and the shared
//! services, built once at start-up and shared by every worker ([`AppState`]). It sits
//! between the handlers (`routes/*`) and the services they use, so handlers and the
//! composition root name one type and no service needs to know the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pollux_translate::gemini::Model;

use crate::config::Config;
use crate::keys::Keys;
use crate::metrics::Metrics;
use crate::resilience::Limiter;
use crate::runs::Runs;
use crate::settings::Settings;
use crate::signatures::SignatureCache;
use crate::store::{self, memory::MemoryStore, ResponseStore};

/// Distinct credentials remembered at once (client keys in pass-through mode).
const MAX_ENTRIES: usize = 1024;

/// State shared by every worker.
pub struct AppState {
    pub config: Config,
    /// The settings parsed once at start-up.
    pub settings: Settings,
    pub signatures: SignatureCache,
    pub metrics: Arc<Metrics>,
    /// The cap on upstream requests in flight, across all workers.
    pub limiter: Limiter,
    /// Client keys and the upstream key pool (cooldowns are shared by all workers).
    pub keys: Arc<Keys>,
    /// Fetched Gemini model lists.
    pub models: ModelCache,
    /// Stored responses (the Responses API's `store`).
    pub store: Arc<dyn ResponseStore>,
    /// Background responses running in this process.
    pub runs: Runs,
}

impl AppState {
    pub fn new(config: Config, settings: Settings) -> Arc<AppState> {
        let signatures = SignatureCache::new(
            config.signature_cache_size,
            Duration::from_secs(config.signature_ttl_secs),
        );
        let metrics = Arc::new(Metrics::default());
        let limiter = Limiter::new(config.max_concurrent_upstream, metrics.clone());
        let keys = Arc::new(Keys::from_config(&config));
        let models = ModelCache::new(Duration::from_secs(config.models_cache_secs));
        let store = Arc::new(MemoryStore::new(store::memory::Limits {
            entries: config.response_store_entries,
            bytes: config.response_store_bytes,
            ttl: Duration::from_secs(config.response_store_ttl_secs),
        }));
        Arc::new(AppState {
            config,
            settings,
            signatures,
            metrics,
            limiter,
            keys,
            models,
            store,
            runs: Runs::default(),
        })
    }
}

/// A fetched list and when it was fetched.
type Entry = (Instant, Arc<Vec<Model>>);

/// Fetched model lists by credential.
#[derive(Debug)]
pub struct ModelCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl ModelCache {
    pub fn new(ttl: Duration) -> ModelCache {
        ModelCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Vec<Model>>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, models)| models.clone())
    }

    pub fn put(&self, id: String, models: Arc<Vec<Model>>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(id, (Instant::now(), models));
    }
}
